// The body of `POST /v1/run` into a job, or into the answer that refuses it. Pure: the libFuzzer
// target fuzz/serve_request_fuzz.cpp drives it with arbitrary bodies.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "brood/job.hpp"
#include "brood/limits.hpp"

namespace brood::server {

// What a job sent over HTTP may ask for.
struct JobPolicy {
  LimitMaxima maxima;               // limits above these make the job invalid
  bool allow_host_network = false;  // "network": "host" (a task on the host's network could
                                    // reach the server itself)
};

// Empty when `job` is within the policy, else the error naming the field.
std::string CheckPolicy(const Job& job, const JobPolicy& policy);

struct JobRequest {
  std::optional<Job> job;  // set when the body is a job the policy allows
  int code = 200;          // else the HTTP status (400) ...
  std::string body;        // ... and the answer: its invalid_job record, with "line": 1
};

// `body` is one job record (docs/job.md); pretty-printed JSON is fine. Without an "id", the job
// gets `make_id()`. Never throws.
JobRequest JobFromRequest(std::string_view body, const JobPolicy& policy,
                          const std::function<std::string()>& make_id);

// {"error": error, "field": field or null}: the body of every error but an invalid job.
std::string ErrorBody(std::string_view error, std::optional<std::string_view> field = {});

}  // namespace brood::server
