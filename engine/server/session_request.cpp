#include "server/session_request.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "jobs/job_fields.hpp"
#include "jobs/job_parser.hpp"
#include "sandbox/workspace_files.hpp"

namespace brood::server {
namespace {

using jobs::Json;

// The field an error of the job record's readers is about: its text before the first ": "
// ("limits.wall_ms: ...", "cmd[1]: ...", "files: \"a/../b\": ...").
RequestError FieldError(std::string error) {
  const size_t colon = error.find(": ");
  std::string field = colon == std::string::npos ? "" : error.substr(0, colon);
  return {std::move(error), std::move(field)};
}

// `body` as one JSON object, strictly (a duplicate key is an error); blank is {} if `blank_ok`.
RequestError ReadObject(std::string_view body, bool blank_ok, jobs::JsonDoc* doc) {
  if (blank_ok && body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    doc->value = Json::object();
    return {};
  }
  *doc = jobs::ParseStrictJson(body);
  if (!doc->syntax_error.empty()) return {"the body is not valid JSON: " + doc->syntax_error, ""};
  if (!doc->value.is_object())
    return {"the body is not a JSON object, got " + jobs::Describe(doc->value), ""};
  if (!doc->duplicate_fields.empty()) return {doc->duplicate, doc->duplicate_fields.front()};
  if (!doc->duplicate.empty()) return FieldError(doc->duplicate);
  return {};
}

// The job fields of a request, read into `job`; others are unknown.
RequestError ReadJobFields(Json::object_t& fields, std::initializer_list<std::string_view> allowed,
                           Job& job) {
  for (auto& [name, value] : fields) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
      return {"unknown field " + jobs::Quote(name), name};
    if (std::string problem = jobs::ReadJobField(name, value, job); !problem.empty())
      return FieldError(std::move(problem));
  }
  return {};
}

// A positive whole number of seconds, taken out of `fields` (so the job readers never see it).
RequestError TakeSeconds(Json::object_t& fields, const std::string& name, int64_t* out) {
  auto it = fields.find(name);
  if (it == fields.end()) return {};
  if (!jobs::PositiveInteger(it->second, *out))
    return {name + ": expected a positive integer (seconds), got " + jobs::Describe(it->second),
            name};
  fields.erase(it);
  return {};
}

}  // namespace

RequestError ParseSessionRequest(std::string_view body, const SessionPolicy& policy,
                                 SessionRequest* out) {
  jobs::JsonDoc doc;
  if (RequestError e = ReadObject(body, true, &doc); !e.ok()) return e;
  auto& fields = doc.value.get_ref<Json::object_t&>();
  int64_t idle = 0, ttl = 0;
  if (RequestError e = TakeSeconds(fields, "idle_timeout_s", &idle); !e.ok()) return e;
  if (RequestError e = TakeSeconds(fields, "ttl_s", &ttl); !e.ok()) return e;
  Job job;
  RequestError e = ReadJobFields(fields, {"limits", "network", "root", "env", "files"}, job);
  if (!e.ok()) return e;
  if (std::string problem = CheckLimits(job.limits, policy.job.maxima); !problem.empty())
    return FieldError(std::move(problem));
  if (std::string refused = CheckPolicy(job, policy.job); !refused.empty())
    return {std::move(refused), "network"};
  // Defaults give way to what was asked (ttl_s at least idle_timeout_s) and to the maximum.
  const bool ttl_given = ttl != 0;
  if (!ttl_given) ttl = std::max(std::min(policy.default_ttl_s, policy.max_ttl_s), idle);
  if (ttl > policy.max_ttl_s) {
    const std::string field = ttl_given ? "ttl_s" : "idle_timeout_s";
    return {field + ": " + std::to_string(ttl) + " is above the server's maximum ttl_s of " +
                std::to_string(policy.max_ttl_s) + " (brood serve --max-ttl-s)",
            field};
  }
  if (idle == 0) idle = std::min(policy.default_idle_s, ttl);
  if (idle > ttl)
    return {"idle_timeout_s: " + std::to_string(idle) + " is above ttl_s " + std::to_string(ttl),
            "idle_timeout_s"};
  out->options.limits = job.limits;
  out->options.network = job.network;
  out->options.root = std::move(job.root);
  out->options.env = std::move(job.env);
  out->options.files = std::move(job.files);
  out->idle_timeout_s = idle;
  out->ttl_s = ttl;
  return {};
}

RequestError ParseExecRequest(std::string_view body, const LimitMaxima& maxima,
                              const Limits& session, ExecOptions* out) {
  jobs::JsonDoc doc;
  if (RequestError e = ReadObject(body, false, &doc); !e.ok()) return e;
  auto& fields = doc.value.get_ref<Json::object_t&>();
  // An exec's limits are its time and output; memory, disk, pids and cpus are the session's.
  constexpr std::string_view kExecLimits[] = {"wall_ms", "cpu_ms", "output_bytes"};
  std::vector<std::string> given;
  if (auto it = fields.find("limits"); it != fields.end() && it->second.is_object()) {
    for (const auto& [name, value] : it->second.get_ref<const Json::object_t&>()) {
      if (std::find(std::begin(kExecLimits), std::end(kExecLimits), name) == std::end(kExecLimits))
        return {"limits." + name + ": not an exec's limit (an exec takes wall_ms, cpu_ms and " +
                    "output_bytes; memory, disk, pids and cpus are the session's)",
                "limits." + name};
      given.push_back(name);
    }
  }
  Job job;
  job.limits = session;
  RequestError e = ReadJobFields(fields, {"cmd", "shell", "stdin", "env", "cwd", "limits"}, job);
  if (!e.ok()) return e;
  const bool has_cmd = fields.contains("cmd"), has_shell = fields.contains("shell");
  if (has_cmd == has_shell)
    return {std::string("cmd, shell: an exec needs exactly one of them, got ") +
                (has_cmd ? "both" : "neither"),
            "cmd"};
  if (std::string problem = CheckLimits(job.limits, maxima); !problem.empty())
    return FieldError(std::move(problem));
  auto was_given = [&given](std::string_view name) {
    return std::find(given.begin(), given.end(), name) != given.end();
  };
  out->argv = std::move(job.argv);
  out->stdin_data = std::move(job.stdin_data);
  out->env = std::move(job.env);
  out->cwd = std::move(job.cwd);
  out->wall_ms = was_given("wall_ms") ? job.limits.wall_ms : 0;
  out->cpu_ms = was_given("cpu_ms") ? job.limits.cpu_ms : 0;
  out->output_bytes = was_given("output_bytes") ? job.limits.output_bytes : 0;
  return {};
}

RequestError ParseFilePath(std::string_view encoded, std::string* path) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  path->clear();
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] != '%') {
      *path += encoded[i];
      continue;
    }
    const int hi = i + 2 < encoded.size() ? hex(encoded[i + 1]) : -1;
    const int lo = hi >= 0 ? hex(encoded[i + 2]) : -1;
    if (lo < 0) return {"path: a '%' not followed by two hex digits", "path"};
    *path += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  // The engine's own rule for a session's file paths (it checks again, and walks the path
  // without following a link).
  if (std::string problem = sandbox::CheckWorkspacePath(*path); !problem.empty())
    return {"path " + jobs::Quote(*path) + ": " + problem, "path"};
  return {};
}

std::string EndedBody(const std::string& reason) {
  nlohmann::ordered_json j = {
      {"error", "session ended: " + reason}, {"field", nullptr}, {"ended_reason", reason}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace brood::server
