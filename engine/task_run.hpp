// One running task as seen from the reactor thread: a state machine fed only by reactor events.
//   starting (pipes armed; wall and CPU timers armed from admission)
//   -> running (execve reported: read when the wall timer first fires, else at the end)
//   -> exited (stdout, stderr at EOF, init's pidfd readable; the reports read) -> collected
//   (cgroup read, verdict)
//   -> reported (slot released, on_done called).
// init's reports (execve, exit, workspace cleaned) are read when they are needed, not as they
// come: a task that ends before its wall limit wakes the reactor once fewer per report.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include "brood/job.hpp"
#include "brood/result.hpp"
#include "cgroup/cgroup.hpp"
#include "reactor/reactor.hpp"
#include "sys/fd.hpp"
#include "sys/process.hpp"
#include "verdict.hpp"
#include "zygote/pool.hpp"

namespace brood {

struct TaskRunParams {
  std::string id;
  Limits limits;  // resolved
  Enforcement enforcement = Enforcement::kCgroup;
  int landlock = 0;           // the Landlock ABI the task runs under
  bool watch_denied = false;  // a seccomp listener records denied calls (kill, log)
  int64_t admitted_ns = 0;
  sys::UniqueFd stdout_r, stderr_r, report_r;
  sys::Process init;      // the task's init (pid 1 of its namespace): killed with the TaskRun
  int stdin_source = -1;  // pumped into stdin_w (not owned)
  sys::UniqueFd stdin_w;  // our end of the task's stdin pipe
  sys::UniqueFd collect;  // memfd the task's init fills with `collect` files
  cgroup::Group* group = nullptr;  // the slot's; null in rlimit mode
  cgroup::Usage baseline;          // the group's counters before this task
  int oom_event = -1;              // the slot's OOM event fd (readable on an OOM); -1: none
  bool oom_event_is_oom = false;   // v1: it fires on OOMs only; v2: on any memory.events change
  // The task's slot, given back once every process of the task is gone (its zygote recycled
  // after an anomaly, its disk marked clean when the task's init emptied it).
  zygote::Lease lease;
  std::function<void(Result)> on_done;
  std::unordered_set<class TaskRun*>* running = nullptr;  // the engine's, reactor thread only
  uint64_t handle = 0;                                    // the engine's JobHandle for Cancel
  uint64_t job_group = 0;                                 // SubmitOptions::group; 0: none
};

class TaskRun {
 public:
  // Arms everything; the TaskRun deletes itself after on_done. Reactor thread only.
  static void Start(reactor::Reactor* reactor, TaskRunParams params);
  // Kills the task (its job's, its group's or brood's cancel): its result is a sandbox_error
  // with "error_kind": "cancelled".
  void Cancel() { Kill(KillReason::kCancelled); }
  uint64_t handle() const { return p_.handle; }
  uint64_t job_group() const { return p_.job_group; }

 private:
  TaskRun(reactor::Reactor* r, TaskRunParams p) : r_(r), p_(std::move(p)) {}
  void Arm();
  void OnOutput(bool is_stdout, std::span<const char> data);
  void OnReport(std::span<const char> data);
  void DrainReports();
  void OnWall();
  void OnStreamEnd();
  void ArmWall(int64_t deadline_ns);
  void CheckCpu();
  void ArmCpuCheck(int64_t from, int64_t left);
  void Kill(KillReason why);
  void KillTaskProcesses();
  int InitPid();
  void Finish();
  void Report(Result result);
  void CollectFiles(Result& res);
  static uint64_t PeakMemory(const cgroup::Usage& u, uint64_t max_rss, int64_t file_bytes);

  reactor::Reactor* r_;
  TaskRunParams p_;
  int open_streams_ = 3;  // stdout, stderr, init's exit (and the report pipe once streamed)
  bool reports_streamed_ = false;  // a setup past the wall limit: the reactor reads them
  Observation obs_;
  std::string out_, err_;
  std::string report_buf_;  // init's reports read so far, less the whole ones handled
  uint64_t out_bytes_ = 0, err_bytes_ = 0;
  bool out_trunc_ = false, err_trunc_ = false;
  int64_t exec_ns_ = 0, end_ns_ = 0;
  int64_t cpu_us_rusage_ = 0, maxrss_kb_ = 0;
  int64_t file_bytes_ = -1;  // file cache the task's memory leaf held at its end (-1 unknown)
  uint64_t denied_[8] = {};  // x86_64 numbers of the calls the seccomp listener saw
  bool denied_foreign_ = false;
  bool disk_cleaned_ = false;
  reactor::Reactor::OpId wall_timer_ = 0, cpu_timer_ = 0, pump_ = 0, oom_ = 0;
  bool finished_ = false;
  std::string collect_error_;
};

}  // namespace brood
