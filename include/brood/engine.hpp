// The engine: runs jobs, each in its own sandbox, and hands back results. `tools/brood` is a thin
// client of this header; an embedder gets everything the CLI has.
//
//   brood::EngineOptions opts;
//   std::string error;
//   auto engine = brood::Engine::Create(opts, &error);  // before the process starts threads
//   brood::Result r = engine->Run(job);
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "brood/job.hpp"
#include "brood/limits.hpp"
#include "brood/result.hpp"

namespace brood {

enum class OnViolation { kErrno, kKill, kLog };

struct EngineOptions {
  std::string root_dir;  // empty: the host's /usr /bin /lib* /sbin and /etc view
  OnViolation on_violation = OnViolation::kErrno;
  std::string cgroup_root;  // empty: below brood's own cgroup (/proc/self/cgroup)
  uint32_t uid_base = 100000;
  bool allow_no_cgroups = false;  // rlimits stand in when no writable cgroup exists
  int slots = 0;                  // tasks at once (each with its own uid and cgroup); 0: cores
  bool warm = true;               // start zygotes ahead of demand (false: on first use)
  // Where the workspace disks' unnamed image files live (a disk-backed filesystem). Workspace
  // disks keep a task's files out of its memory limit; without them (an ordinary user, no loop
  // devices or ext4) the workspace is a tmpfs whose pages count against memory_mb.
  std::string disk_dir = "/var/tmp";
  LimitMaxima maxima;
};

// What the engine found on this host at Create().
struct EngineInfo {
  std::string cgroup_version;  // "v1", "v2" or "none"
  Enforcement enforcement = Enforcement::kCgroup;
  // Why files count against memory_mb (enforcement kCgroupSharedDisk): "" with workspace disks.
  std::string shared_disk_reason;
  int landlock = 0;       // the Landlock ABI tasks run under (0: none; see sandbox/landlock.hpp)
  uint32_t host_uid = 0;  // host uid of the sandbox user of slot 0
  int slots = 1;          // tasks that can run at once
};

// Names one submitted job, for Cancel; 0 names none.
using JobHandle = uint64_t;

struct SubmitOptions {
  // The group the job belongs to (a `brood run`, later a batch or a session), from NewGroup();
  // 0: none. CancelGroup ends every job of a group, and no other.
  uint64_t group = 0;
};

class Engine {
 public:
  // Forks brood's helper process (the hatchery): call it while the process has one thread.
  // Returns null and sets *error when the host cannot sandbox at all (the message names the
  // missing feature and points to `brood doctor`).
  static std::unique_ptr<Engine> Create(const EngineOptions& options, std::string* error);
  virtual ~Engine() = default;

  // Runs one job to completion. Thread-safe. Never throws; failures are in the Result.
  virtual Result Run(const Job& job) = 0;
  // Runs a job and calls on_result when it is done. Thread-safe. Returns the job's handle (never
  // 0). Today it may block until a slot is free (the caller's back-pressure), and on_result may
  // run on the caller's thread when the job fails before it starts.
  virtual JobHandle Submit(Job job, std::function<void(Result)> on_result,
                           SubmitOptions options = {}) = 0;

  // A new group id (never 0) for SubmitOptions::group. Thread-safe.
  virtual uint64_t NewGroup() = 0;
  // Ends one job: a running task is killed, one not started yet never starts. Its result is a
  // sandbox_error with "error_kind": "cancelled". A job already done is left alone. Thread-safe.
  virtual void Cancel(JobHandle job) = 0;
  // Ends every job of `group` as Cancel does, and makes its later submissions fail at once the
  // same way. Other groups' jobs are untouched. Thread-safe.
  virtual void CancelGroup(uint64_t group) = 0;
  // Every job of every group, now and later: for brood's own shutdown. Thread-safe,
  // async-signal-unsafe.
  virtual void CancelAll() = 0;

  virtual EngineInfo Info() const = 0;
};

}  // namespace brood
