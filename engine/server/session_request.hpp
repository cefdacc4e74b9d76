// The bodies and paths of brood serve's session requests (docs/sessions.md) into the engine's
// options, or into the error that refuses them, naming the field. Pure: no I/O, never throws.
// The fields a session and an exec share with the job record (limits, env, files, cmd, ...)
// are read by the job record's own readers (jobs::ReadJobField), so they follow its rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "brood/session.hpp"
#include "server/request_job.hpp"

namespace brood::server {

// What a session asked for over HTTP may be.
struct SessionPolicy {
  JobPolicy job;              // its limits and an exec's within job.maxima; host network
  int64_t max_ttl_s = 86400;  // ttl_s at most
  int64_t default_ttl_s = 3600, default_idle_s = 600;  // when not given (cut to max_ttl_s)
};

// POST /v1/sessions's body.
struct SessionRequest {
  SessionOptions options;
  int64_t idle_timeout_s = 0, ttl_s = 0;
};

// Why a body or path was refused: the message and the field at fault ("": none).
struct RequestError {
  std::string error;
  std::string field;
  bool ok() const { return error.empty(); }
};

// {"limits", "network", "root", "env", "files", "idle_timeout_s", "ttl_s"}, each optional; an
// empty body is {}. Limits within the policy's maxima, idle_timeout_s <= ttl_s <= max_ttl_s.
RequestError ParseSessionRequest(std::string_view body, const SessionPolicy& policy,
                                 SessionRequest* out);

// {"cmd" | "shell" (exactly one), "stdin", "env", "cwd", "limits": {"wall_ms", "cpu_ms",
// "output_bytes"}}. `session` (the session's limits, within `maxima`) with the exec's own
// limits must stay within `maxima`; limits not given are 0 in *out (the session's).
RequestError ParseExecRequest(std::string_view body, const LimitMaxima& maxima,
                              const Limits& session, ExecOptions* out);

// A file's path as it comes in the request target (after ".../files/"): percent-decoded once,
// then checked by sandbox::CheckWorkspacePath (relative to /workspace; no "..", ".", empty
// components, NUL). Field "path".
RequestError ParseFilePath(std::string_view encoded, std::string* path);

// {"error": "session ended: REASON", "field": null, "ended_reason": REASON}: a 410's body.
std::string EndedBody(const std::string& reason);

}  // namespace brood::server
