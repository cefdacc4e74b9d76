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

}  // namespace

const char* StatusName(Status s) {
  switch (s) {
    case Status::kInvalidJob:
      return "invalid_job";
    case Status::kSandboxError:
      return "sandbox_error";
    case Status::kTimeout:
      return "timeout";
    case Status::kCpuLimit:
      return "cpu_limit";
    case Status::kOutputLimit:
      return "output_limit";
    case Status::kMemoryLimit:
      return "memory_limit";
    case Status::kViolation:
      return "violation";
    case Status::kSignaled:
      return "signaled";
    case Status::kDiskLimit:
      return "disk_limit";
    case Status::kFailed:
      return "failed";
    case Status::kOk:
      return "ok";
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

int ExecExitCode(Status s, std::optional<int> exit_code, std::optional<int> signal) {
  switch (s) {
    case Status::kOk:
    case Status::kFailed:
    case Status::kDiskLimit:
      if (exit_code) return *exit_code;
      return signal ? 128 + *signal : 1;
    case Status::kSignaled:
      return 128 + signal.value_or(SIGKILL);
    case Status::kTimeout:
      return 124;
    case Status::kMemoryLimit:
      return 137;
    case Status::kCpuLimit:
      return 152;
    case Status::kOutputLimit:
      return 153;
    case Status::kViolation:
      return 159;
    case Status::kSandboxError:
      return 125;
    case Status::kInvalidJob:
      return 2;
  }
  return 125;
}

std::string ResultToJson(const Result& r) {
  Json j;
  j["id"] = r.id_known ? Json(r.id) : Json(nullptr);
  if (r.line) j["line"] = *r.line;
  j["status"] = StatusName(r.status);
  const bool ran = r.status != Status::kInvalidJob && r.status != Status::kSandboxError;
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
  j["error"] = r.error ? Json(*r.error) : Json(nullptr);
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace brood
