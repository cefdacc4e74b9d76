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
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "brood/error.hpp"
#include "brood/job.hpp"
#include "brood/limits.hpp"
#include "brood/result.hpp"
#include "brood/session.hpp"

namespace brood {

enum class OnViolation { kErrno, kKill, kLog };

struct EngineOptions {
  std::string root_dir;  // empty: the host's /usr /bin /lib* /sbin and /etc view
  // More roots jobs may name (Job::root, the job record's "root"): name -> host directory, laid
  // out like root_dir. Only the engine's owner sets these; a job never names a directory.
  std::map<std::string, std::string> roots;
  OnViolation on_violation = OnViolation::kErrno;
  std::string cgroup_root;  // empty: below brood's own cgroup (/proc/self/cgroup)
  uint32_t uid_base = 100000;
  bool allow_no_cgroups = false;  // rlimits stand in when no writable cgroup exists
  int slots = 0;                  // tasks at once (each with its own uid and cgroup); 0: cores
  bool warm = true;               // start zygotes ahead of demand (false: on first use)
  int queue = 4096;               // jobs waiting for a slot at most; Submit refuses beyond
  int zygotes_per_slot = 2;       // warm zygotes a slot keeps, each of its own profile
  // Where the workspace disks' unnamed image files live (a disk-backed filesystem). Workspace
  // disks keep a task's files out of its memory limit; without them (an ordinary user, no loop
  // devices or ext4) the workspace is a tmpfs whose pages count against memory_mb.
  std::string disk_dir = "/var/tmp";
  LimitMaxima maxima;
  // Sessions (brood/session.hpp) at once at most (created and not yet destroyed), beside the
  // slots: each has a sandbox user, a cgroup and a workspace of its own. At most 1,024 together
  // with `slots`.
  int max_sessions = 16;
  // The build cache of evaluated jobs (docs/build-cache.md): identical builds are done once.
  // "": none (every build runs). The directory is made (0700) if absent; Create fails on one
  // that is a symlink, another user's, or writable by others.
  std::string build_cache_dir;
  uint64_t build_cache_mb = 2048;  // the entries' total size at most (least recently used go)
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

// What the engine is doing now (for metrics): a snapshot, each figure read under its own lock.
struct EngineStats {
  int64_t queued = 0;     // jobs waiting for a slot
  int64_t in_flight = 0;  // jobs taken and not yet reported, the queued ones included
  int busy_slots = 0;     // slots running, starting or cleaning up after a task
  struct Warm {
    Network network = Network::kNone;
    std::string root;  // "": the default root
    int zygotes = 0;   // live zygotes of this profile across slots
  };
  std::vector<Warm> warm;
};

// Names one submitted job, for Cancel; 0 names none.
using JobHandle = uint64_t;

struct SubmitOptions {
  // The group the job belongs to (a `brood run`, later a batch or a session), from NewGroup();
  // 0: none. CancelGroup ends every job of a group, and no other.
  uint64_t group = 0;
  // Whose build cache entries an evaluated job may use (a hit would tell what another built):
  // "" for the engine's owner; brood serve passes its client's.
  std::string cache_partition;
};

// What Submit did: took the job (a handle), or refused it (why; on_result is never called).
struct Submission {
  JobHandle handle = 0;  // 0: refused
  ErrorKind error_kind = ErrorKind::kInternal;
  std::string error;
  bool ok() const { return handle != 0; }
};

// Threads. Every method is thread-safe and none blocks for a task, a slot or a zygote, except
// Run (which waits for its one job) and the destructor. Results are handed to `on_result` on an
// engine thread, never on the caller's: it must return quickly and must not call Run or destroy
// the engine (it may Submit and Cancel).
class Engine {
 public:
  // Forks brood's helper process (the hatchery): call it while the process has one thread.
  // Returns null and sets *error when the host cannot sandbox at all (the message names the
  // missing feature and points to `brood doctor`).
  static std::unique_ptr<Engine> Create(const EngineOptions& options, std::string* error);
  // Ends every job still queued or running (their on_result gets a cancelled result) and
  // waits until they are gone: no process, cgroup or mount of the engine is left. Blocks.
  virtual ~Engine() = default;

  // Runs one job to completion and returns its result: blocks the caller. Never throws;
  // failures are in the Result (a full queue: a sandbox_error, "resource_exhausted").
  virtual Result Run(const Job& job) = 0;
  // Queues a job and returns at once. Taken: on_result is called exactly once, on an engine
  // thread, with the job's result; a malformed job gets an invalid_job result the same way.
  // Refused (the queue holds EngineOptions::queue jobs already: kResourceExhausted):
  // on_result is never called. A job counts as in flight from here until on_result returns.
  // `job.stdin_fd`, when set, must stay open until on_result is called.
  virtual Submission Submit(Job job, std::function<void(Result)> on_result,
                            SubmitOptions options = {}) = 0;

  // A new group id (never 0) for SubmitOptions::group.
  virtual uint64_t NewGroup() = 0;
  // Ends one job: a queued one is taken off the queue, a running task is killed (its
  // processes die), one being started never runs. Its result is a sandbox_error with
  // "error_kind": "cancelled". A job already done, or an unknown handle, is left alone.
  virtual void Cancel(JobHandle job) = 0;
  // Ends every job of `group` as Cancel does, and makes its later submissions end the same
  // way at once. Other groups' jobs are untouched.
  virtual void CancelGroup(uint64_t group) = 0;
  // Every job of every group, now and later: for brood's own shutdown. Not async-signal-safe.
  virtual void CancelAll() = 0;

  // A new session (brood/session.hpp): its sandbox user, cgroup, workspace disk and zygote, and
  // its init, started with the session's files written. Blocks (~10-30 ms). Null and *error
  // when it cannot: max_sessions live already (kResourceExhausted), bad options
  // (kInvalidArgument), a host that cannot sandbox. Every Session must be destroyed before the
  // Engine; the engine's destructor closes the ones still open.
  virtual std::unique_ptr<Session> CreateSession(const SessionOptions& options,
                                                 SessionError* error) = 0;
  // Sessions not yet destroyed (an ended one keeps its seat until then: a caller that keeps
  // ended sessions around for their reason should keep that reason, not the Session).
  virtual int Sessions() = 0;

  // What the engine found on this host at Create(); fixed for its life.
  virtual EngineInfo Info() const = 0;
  // What it is doing now. Never blocks for long (takes the queue's and the pool's locks).
  virtual EngineStats Stats() = 0;
};

}  // namespace brood
