// What a task did: the in-memory form of a result record (docs/result.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "brood/error.hpp"
#include "brood/limits.hpp"

namespace brood {

// Task outcome, in the order docs/result.md decides it.
enum class TaskStatus {
  kInvalidJob,
  kSandboxError,
  kTimeout,
  kCpuLimit,
  kOutputLimit,
  kMemoryLimit,
  kViolation,
  kSignaled,
  kDiskLimit,
  kFailed,
  kOk,
};

const char* StatusName(TaskStatus s);

// Exit code of `brood exec` for a result (docs/cli.md).
int ExecExitCode(TaskStatus s, std::optional<int> exit_code, std::optional<int> signal);

// How the limits were held (docs/result.md, `limits_enforced`): cgroups with the task's files on
// a workspace disk of their own ("cgroup"); cgroups with the files in a tmpfs charged to the
// task's memory ("cgroup-shared-disk": memory_mb still exact, files count against it); or, with
// no writable cgroup, per-process rlimits ("rlimit").
enum class Enforcement { kCgroup, kCgroupSharedDisk, kRlimit };
const char* EnforcementName(Enforcement e);

// An evaluated job's outcome (docs/eval.md), in the order a verdict is chosen for a test.
enum class Verdict {
  kAccepted,
  kWrongAnswer,
  kPresentationError,
  kTimeLimit,
  kMemoryLimit,
  kOutputLimit,
  kRuntimeError,
  kCompileError,
  kCheckerError,
  kSandboxError,
  kInvalidJob,
  kSkipped,  // a test after the earliest failing one (stop "first_failure"): not reported as run
};
const char* VerdictName(Verdict v);

constexpr size_t kTestStreamHead = 4096;  // bytes of a test's stdout and stderr in its record

// One test of an evaluated job.
struct TestResult {
  std::string id;
  TaskStatus status = TaskStatus::kSandboxError;
  Verdict verdict = Verdict::kSkipped;
  std::optional<int> exit_code, signal;
  double wall_ms = 0, cpu_ms = 0;
  uint64_t peak_memory_bytes = 0, stdout_bytes = 0, stderr_bytes = 0;
  std::string stdout_head, stderr_head;  // the first kTestStreamHead bytes
  std::optional<std::string> checker_message;
  std::optional<std::string> error;
};

// The build of an evaluated job (or of its checker).
struct BuildResult {
  TaskStatus status = TaskStatus::kSandboxError;
  std::optional<int> exit_code, signal;
  std::string stdout_data, stderr_data;
  bool stdout_truncated = false, stderr_truncated = false;
  double wall_ms = 0, cpu_ms = 0;
  uint64_t peak_memory_bytes = 0;
  bool cached = false;  // the build cache had its output: nothing ran
  std::optional<std::string> error;
};

struct Result {
  std::string id;
  bool id_known = true;  // false: "id": null (an invalid line whose id could not be read)
  std::optional<int64_t> line;
  TaskStatus status = TaskStatus::kSandboxError;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string stdout_data, stderr_data;
  bool stdout_truncated = false, stderr_truncated = false;
  uint64_t stdout_bytes = 0, stderr_bytes = 0;
  double wall_ms = 0, cpu_ms = 0;
  uint64_t peak_memory_bytes = 0;
  int64_t start_latency_us = 0;
  std::vector<std::string> limits_hit;  // from wall cpu memory pids disk output
  Enforcement limits_enforced = Enforcement::kCgroup;
  int landlock = 0;  // the Landlock ABI the task ran under; 0: none
  // --on-violation kill or log: the system calls the policy denied the task (sorted names; a
  // call of another architecture is "(foreign)"). nullopt under errno, which does not watch.
  std::optional<std::vector<std::string>> denied_calls;
  Limits limits;
  std::map<std::string, std::string> files;
  std::optional<bool> passed;
  std::optional<std::string> error;
  // sandbox_error only: what kind of failure kept the task from running or ending as itself.
  std::optional<ErrorKind> error_kind;

  // Evaluated jobs (docs/eval.md): the top-level fields above are the deciding test's.
  std::optional<Verdict> verdict;
  std::string group;
  std::optional<BuildResult> build;
  bool has_tests = false;  // the job had `tests`: the three below are in the record
  std::vector<TestResult> tests;
  int tests_passed = 0, tests_total = 0;
};

// One JSON object, no trailing newline, valid against schema/result.schema.json.
std::string ResultToJson(const Result& r);

}  // namespace brood
