#include "server/request_job.hpp"

#include <nlohmann/json.hpp>

#include "brood/result.hpp"
#include "jobs/job_parser.hpp"

namespace brood::server {
namespace {

constexpr std::string_view kNoId = "id: required field is missing";

// `body` with "id": `id` added as the first field of its object. Only called once the parser has
// read the object and found no "id", so the body is one object and its first '{' opens it.
std::string WithId(std::string_view body, const std::string& id) {
  const size_t open = body.find('{');
  const size_t next = body.find_first_not_of(" \t\r\n", open + 1);
  const bool empty = next != std::string_view::npos && body[next] == '}';
  std::string out(body.substr(0, open + 1));
  out += "\"id\":" + nlohmann::json(id).dump() + (empty ? "" : ",");
  out += body.substr(open + 1);
  return out;
}

}  // namespace

std::string CheckPolicy(const Job& job, const JobPolicy& policy) {
  if (job.network == Network::kHost && !policy.allow_host_network)
    return "network: \"host\" is not allowed over HTTP (the server was started without "
           "--allow-host-network)";
  return {};
}

JobRequest JobFromRequest(std::string_view body, const JobPolicy& policy,
                          const std::function<std::string()>& make_id) {
  JobRequest out;
  jobs::ParsedJob parsed;
  if (body.size() > jobs::kMaxJobLine) {
    parsed.error = "the job is longer than 64 MiB";
  } else {
    parsed = jobs::ParseJobLine(body, policy.maxima);
    if (!parsed.job && parsed.error == kNoId)
      parsed = jobs::ParseJobLine(WithId(body, make_id()), policy.maxima);
    if (parsed.job) {
      std::string refused = CheckPolicy(*parsed.job, policy);
      if (refused.empty()) {
        out.job = std::move(parsed.job);
        return out;
      }
      parsed.id = parsed.job->id;
      parsed.error = std::move(refused);
    }
  }
  Result r;
  r.status = TaskStatus::kInvalidJob;
  r.line = 1;
  r.id_known = parsed.id.has_value();
  if (parsed.id) r.id = *parsed.id;
  r.error = parsed.error;
  out.code = 400;
  out.body = ResultToJson(r);
  return out;
}

std::string ErrorBody(std::string_view error, std::optional<std::string_view> field) {
  nlohmann::json j = {{"error", std::string(error)}, {"field", nullptr}};
  if (field) j["field"] = std::string(*field);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace brood::server
