// The result record (docs/result.md) as one JSON line.
#include <signal.h>

#include <nlohmann/json.hpp>

#include "brood/result.hpp"
#include "jobs/codec.hpp"

namespace brood {
namespace {

using Json = nlohmann::ordered_json;

Json Blob(const std::string& bytes) {
  if (jobs::IsValidUtf8(bytes)) return bytes;
  return Json{{"base64", jobs::Base64Encode(bytes)}};
}

template <typename T>
Json OrNull(const std::optional<T>& v) {
  return v ? Json(*v) : Json(nullptr);
}

Json BuildJson(const BuildResult& b) {
  Json j;
  j["status"] = StatusName(b.status);
  j["exit_code"] = OrNull(b.exit_code);
  j["signal"] = OrNull(b.signal);
  j["stdout"] = Blob(b.stdout_data);
  j["stderr"] = Blob(b.stderr_data);
  j["stdout_truncated"] = b.stdout_truncated;
  j["stderr_truncated"] = b.stderr_truncated;
  j["wall_ms"] = b.wall_ms;
  j["cpu_ms"] = b.cpu_ms;
  j["peak_memory_bytes"] = b.peak_memory_bytes;
  j["cached"] = b.cached;
  j["error"] = b.error ? Json(*b.error) : Json(nullptr);
  return j;
}

Json TestJson(const TestResult& t) {
  Json j;
  j["id"] = t.id;
  j["verdict"] = VerdictName(t.verdict);
  if (t.verdict == Verdict::kSkipped) return j;  // not reported as run
  j["status"] = StatusName(t.status);
  j["exit_code"] = OrNull(t.exit_code);
  j["signal"] = OrNull(t.signal);
  j["wall_ms"] = t.wall_ms;
  j["cpu_ms"] = t.cpu_ms;
  j["peak_memory_bytes"] = t.peak_memory_bytes;
  j["stdout_bytes"] = t.stdout_bytes;
  j["stderr_bytes"] = t.stderr_bytes;
  j["stdout"] = Blob(t.stdout_head);
  j["stderr"] = Blob(t.stderr_head);
  j["checker_message"] = t.checker_message ? Json(*t.checker_message) : Json(nullptr);
  j["error"] = t.error ? Json(*t.error) : Json(nullptr);
  return j;
}

}  // namespace

const char* StatusName(TaskStatus s) {
  switch (s) {
    case TaskStatus::kInvalidJob:
      return "invalid_job";
    case TaskStatus::kSandboxError:
      return "sandbox_error";
    case TaskStatus::kTimeout:
      return "timeout";
    case TaskStatus::kCpuLimit:
      return "cpu_limit";
    case TaskStatus::kOutputLimit:
      return "output_limit";
    case TaskStatus::kMemoryLimit:
      return "memory_limit";
    case TaskStatus::kViolation:
      return "violation";
    case TaskStatus::kSignaled:
      return "signaled";
    case TaskStatus::kDiskLimit:
      return "disk_limit";
    case TaskStatus::kFailed:
      return "failed";
    case TaskStatus::kOk:
      return "ok";
  }
  return "sandbox_error";
}

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kAccepted:
      return "accepted";
    case Verdict::kWrongAnswer:
      return "wrong_answer";
    case Verdict::kPresentationError:
      return "presentation_error";
    case Verdict::kTimeLimit:
      return "time_limit";
    case Verdict::kMemoryLimit:
      return "memory_limit";
    case Verdict::kOutputLimit:
      return "output_limit";
    case Verdict::kRuntimeError:
      return "runtime_error";
    case Verdict::kCompileError:
      return "compile_error";
    case Verdict::kCheckerError:
      return "checker_error";
    case Verdict::kSandboxError:
      return "sandbox_error";
    case Verdict::kInvalidJob:
      return "invalid_job";
    case Verdict::kSkipped:
      return "skipped";
  }
  return "sandbox_error";
}

const char* EnforcementName(Enforcement e) {
  switch (e) {
    case Enforcement::kCgroup:
      return "cgroup";
    case Enforcement::kCgroupSharedDisk:
      return "cgroup-shared-disk";
    case Enforcement::kRlimit:
      return "rlimit";
  }
  return "rlimit";
}

int ExecExitCode(TaskStatus s, std::optional<int> exit_code, std::optional<int> signal) {
  switch (s) {
    case TaskStatus::kOk:
    case TaskStatus::kFailed:
    case TaskStatus::kDiskLimit:
      if (exit_code) return *exit_code;
      return signal ? 128 + *signal : 1;
    case TaskStatus::kSignaled:
      return 128 + signal.value_or(SIGKILL);
    case TaskStatus::kTimeout:
      return 124;
    case TaskStatus::kMemoryLimit:
      return 137;
    case TaskStatus::kCpuLimit:
      return 152;
    case TaskStatus::kOutputLimit:
      return 153;
    case TaskStatus::kViolation:
      return 159;
    case TaskStatus::kSandboxError:
      return 125;
    case TaskStatus::kInvalidJob:
      return 2;
  }
  return 125;
}

std::string ResultToJson(const Result& r) {
  Json j;
  j["id"] = r.id_known ? Json(r.id) : Json(nullptr);
  if (r.line) j["line"] = *r.line;
  j["status"] = StatusName(r.status);
  const bool ran = r.status != TaskStatus::kInvalidJob && r.status != TaskStatus::kSandboxError;
  if (ran) {
    j["exit_code"] = OrNull(r.exit_code);
    j["signal"] = OrNull(r.signal);
    j["stdout"] = Blob(r.stdout_data);
    j["stderr"] = Blob(r.stderr_data);
    j["stdout_truncated"] = r.stdout_truncated;
    j["stderr_truncated"] = r.stderr_truncated;
    j["stdout_bytes"] = r.stdout_bytes;
    j["stderr_bytes"] = r.stderr_bytes;
    j["wall_ms"] = r.wall_ms;
    j["cpu_ms"] = r.cpu_ms;
    j["peak_memory_bytes"] = r.peak_memory_bytes;
    j["start_latency_us"] = r.start_latency_us;
    j["limits_hit"] = r.limits_hit;
    j["limits_enforced"] = EnforcementName(r.limits_enforced);
    j["landlock"] = r.landlock;
    if (r.denied_calls) j["denied_calls"] = *r.denied_calls;
    const Limits& l = r.limits;
    j["limits"] =
        Json{{"wall_ms", l.wall_ms}, {"cpu_ms", l.cpu_ms}, {"memory_mb", l.memory_mb},
             {"disk_mb", l.disk_mb}, {"pids", l.pids},     {"output_bytes", l.output_bytes},
             {"cpus", l.cpus}};
    // Appended, not inserted: ordered_json's operator[] searches its keys linearly, which made
    // a task collecting 60,000 empty files cost the supervisor 12 s. The names are unique and
    // sorted already (a std::map).
    Json::object_t files;
    files.reserve(r.files.size());
    for (const auto& [name, content] : r.files) files.emplace_back(name, Blob(content));
    j["files"] = Json(std::move(files));
  }
  if (r.passed) j["passed"] = *r.passed;
  if (r.verdict) {
    j["verdict"] = VerdictName(*r.verdict);
    if (!r.group.empty()) j["group"] = r.group;
    if (r.build) j["build"] = BuildJson(*r.build);
    if (r.has_tests) {
      j["tests_passed"] = r.tests_passed;
      j["tests_total"] = r.tests_total;
      Json::array_t tests;
      tests.reserve(r.tests.size());
      for (const TestResult& t : r.tests) tests.push_back(TestJson(t));
      j["tests"] = Json(std::move(tests));
    }
  }
  j["error"] = r.error ? Json(*r.error) : Json(nullptr);
  // Every sandbox_error says what kind of failure it was; one nobody classified is brood's own.
  if (r.status == TaskStatus::kSandboxError)
    j["error_kind"] = ErrorKindName(r.error_kind.value_or(ErrorKind::kInternal));
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace brood
