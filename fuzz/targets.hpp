// The fuzzed entry points, shared by the libFuzzer binaries (fuzz/*.cpp, a clang build with
// -DBROOD_FUZZ=ON) and by the regression test that replays the kept corpus (tests/fuzz/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "brood/limits.hpp"
#include "jobs/job_parser.hpp"
#include "sandbox/collect.hpp"
#include "sandbox/task_spec.hpp"
#include "server/connection.hpp"  // Asio and Beast (after <utility>), QueryValue
#include "server/request_job.hpp"
#include "server/session_request.hpp"
#include "zygote/wire.hpp"
#include "zygote/zygote.hpp"

namespace brood::fuzz {

// A job file line: never crashes, and either a job or an error comes out.
inline void JobParser(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  jobs::ParsedJob p = jobs::ParseJobLine(line, LimitMaxima{});
  if (p.job.has_value() == !p.error.empty()) __builtin_trap();  // exactly one of the two
}

// What a zygote and the supervisor decode from each other: the task spec, the zygote config,
// the collect blob, and the generic reader.
inline void ZygoteWire(const uint8_t* data, size_t size) {
  if (size == 0) return;
  std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto spec = sandbox::DecodeTaskSpec(bytes);
      // What decodes encodes to something that decodes again.
      if (spec && !sandbox::DecodeTaskSpec(sandbox::EncodeTaskSpec(*spec))) __builtin_trap();
      break;
    }
    case 1: {
      auto config = zygote::DecodeZygoteConfig(bytes);
      if (config && !zygote::DecodeZygoteConfig(zygote::EncodeZygoteConfig(*config)))
        __builtin_trap();
      break;
    }
    case 2:
      (void)sandbox::DecodeCollected(bytes);
      break;
    case 3: {
      zygote::WireReader r(bytes);
      while (r.ok() && !r.done()) {
        (void)r.Strs();
        (void)r.Map();
        (void)r.I64();
      }
      break;
    }
  }
}

// A body as a session's and as an exec's request, a target's path as a session file's: each
// is within the policy, or refused with a message (and never throws).
inline void SessionRequests(const std::string& body, const std::string& path,
                            const server::JobPolicy& policy) {
  const server::SessionPolicy sp{.job = policy, .max_ttl_s = 7200};
  server::SessionRequest sr;
  ExecOptions exec;
  std::string file;
  server::RequestError session_error, exec_error, path_error;
  try {
    session_error = server::ParseSessionRequest(body, sp, &sr);
    exec_error = server::ParseExecRequest(body, policy.maxima, Limits{}, &exec);
    path_error = server::ParseFilePath(path, &file);
  } catch (...) {
    __builtin_trap();
  }
  if (session_error.ok() && (!CheckLimits(sr.options.limits, policy.maxima).empty() ||
                             sr.options.network == Network::kHost || sr.idle_timeout_s < 1 ||
                             sr.idle_timeout_s > sr.ttl_s || sr.ttl_s > sp.max_ttl_s))
    __builtin_trap();
  if (exec_error.ok() && (exec.argv.empty() || exec.wall_ms < 0 || !exec.cwd.starts_with('/')))
    __builtin_trap();
  if (path_error.ok() && (file.empty() || file[0] == '/' || file.find('\0') != std::string::npos ||
                          ("/" + file + "/").find("/../") != std::string::npos))
    __builtin_trap();
}

// Bytes that came in on a `brood serve` connection, read as the server reads them
// (server/connection.cpp, server/api.cpp): the header by an empty_body parser, then the body by a
// string_body parser moved from it, both fed from memory. A complete request's body goes through
// JobFromRequest as POST /v1/run's would, and through the session parsers as a session's and an
// exec's would; its query through QueryValue, its path as a session file's.
inline void ServeRequest(const uint8_t* data, size_t size) {
  namespace net = boost::asio;
  namespace http = boost::beast::http;
  constexpr uint32_t kHeaderLimit = 16384;  // ServeOptions::max_header_bytes
  constexpr uint64_t kBodyLimit = 1 << 20;  // max_body_bytes is 64 MiB; inputs are far smaller
  std::string_view in(reinterpret_cast<const char*>(data), size);
  boost::beast::error_code ec;
  // Feeds `in` to `p` until it is done with what it reads; false when the request is malformed,
  // too large, or cut short (the server answers 400, 413 or 431, or sees the client go).
  auto feed = [&](auto& p, auto done) {
    while (!done(p)) {
      const size_t n = p.put(net::buffer(in.data(), in.size()), ec);
      in.remove_prefix(n);
      if (ec == http::error::need_more) {
        ec = {};
        if (n > 0) continue;
        p.put_eof(ec);  // all there is: the connection's end
        return !ec && done(p);
      }
      if (ec || n == 0) return false;
    }
    return true;
  };

  http::request_parser<http::empty_body> header;
  header.header_limit(kHeaderLimit);
  header.body_limit(std::numeric_limits<uint64_t>::max());  // as the server: limits per route
  header.eager(false);                                      // as http::async_read_header
  if (!feed(header, [](auto& p) { return p.is_header_done(); })) return;
  http::request_parser<http::string_body> parser(std::move(header));
  parser.body_limit(kBodyLimit);
  parser.eager(true);  // as http::async_read
  if (!feed(parser, [](auto& p) { return p.is_done(); })) return;
  const auto& req = parser.get();

  // The query: the first parameter's key finds that parameter's value; a key found is in the
  // query, and its value spans no '&'.
  const std::string target(req.target());
  const size_t q = target.find('?');
  const std::string query = q == std::string::npos ? "" : target.substr(q + 1);
  const std::string first = query.substr(0, query.find('&'));
  const std::string key = first.substr(0, first.find('='));
  const auto value = server::QueryValue(query, key);
  if (!value || *value != (key.size() < first.size() ? first.substr(key.size() + 1) : ""))
    __builtin_trap();
  for (const char* k : {"after", "forget", "id"}) {
    const auto v = server::QueryValue(query, k);
    if (v && (v->find('&') != std::string::npos || query.find(k) == std::string::npos))
      __builtin_trap();
  }

  // The body as a job: either a job within the policy, or a 400 with an invalid_job record.
  const server::JobPolicy policy{.maxima = LimitMaxima{}, .allow_host_network = false};
  server::JobRequest jr;
  try {
    jr = server::JobFromRequest(req.body(), policy, [] { return std::string("fuzz-id"); });
  } catch (...) {
    __builtin_trap();  // never throws
  }
  if (jr.job) {
    if (jr.code != 200 || !jr.body.empty()) __builtin_trap();
    if (jr.job->id.empty() || jr.job->network == Network::kHost) __builtin_trap();
    if (!CheckLimits(jr.job->limits, policy.maxima).empty()) __builtin_trap();
  } else {
    if (jr.code != 400) __builtin_trap();
    const auto j = nlohmann::json::parse(jr.body, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) __builtin_trap();
    const auto status = j.find("status");
    const auto line = j.find("line");
    if (status == j.end() || *status != "invalid_job" || line == j.end() || *line != 1)
      __builtin_trap();
  }
  SessionRequests(req.body(), target.substr(0, q), policy);
}

}  // namespace brood::fuzz
