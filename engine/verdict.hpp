// Deciding a task's status from what was observed, in the order of docs/result.md. A pure function:
// everything it needs is in Observation, so it is tested without running anything.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "brood/result.hpp"
#include "sandbox/task_spec.hpp"

namespace brood {

enum class KillReason { kNone, kWall, kCpu, kOutput, kCancelled };

struct Observation {
  std::optional<std::string> setup_error;       // the sandbox could not be set up
  ErrorKind setup_kind = ErrorKind::kInternal;  // and what kind of failure that was
  bool exited_report = false;                   // init reported the main process's end
  int wait_status = 0;                          // of the main process
  KillReason killed = KillReason::kNone;        // brood killed the task, and why
  bool rlimit_mode = false;
  uint64_t oom_kills = 0;
  // Allocations the memory limit refused even after reclaim (or OOM events): `memory` in
  // limits_hit. Reaching the limit while the kernel reclaims file cache is not one.
  uint64_t memory_oom_events = 0;
  uint64_t pids_max_events = 0;
  bool disk_full = false;
  bool output_truncated = false;
  double cpu_ms = 0;
  int64_t cpu_budget_ms = 0;
};

struct Outcome {
  TaskStatus status = TaskStatus::kSandboxError;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::vector<std::string> limits_hit;
  std::optional<std::string> error;
  std::optional<ErrorKind> error_kind;  // sandbox_error only
};

Outcome Decide(const Observation& o);
// Decide(o) into the result's status, exit code, signal, limits hit and error.
void DecideInto(const Observation& o, Result* res);

// A setup that failed at `stage` with errno `err`: the job's own mistake (its cwd or files,
// unless they did not fit) or the host's, and the message saying which.
ErrorKind SetupErrorKind(sandbox::Stage stage, int err);
// The calls a seccomp listener saw (a report's `denied` bits, x86_64 numbers), by name, sorted;
// "(foreign)" for another architecture's.
std::vector<std::string> DeniedCallNames(const uint64_t (&bits)[8], bool foreign);
std::string SetupErrorMessage(sandbox::Stage stage, int err);

// The CPU limit has no kernel event: its checks re-read the CPU used. This is the longest wait
// after which `left_ns` of CPU could not yet be used up at full speed, under a bandwidth limit of
// `cpus` (a 100 ms period, both backends') on this host's cores (counted once): in a window w a
// task can use up to min(cores x w, cpus x (w + period)). At least 1 ms.
int64_t CpuCheckWait(int64_t left_ns, double cpus);

}  // namespace brood
