// `brood serve`: the engine behind an HTTP API (docs/serve.md), for embedders too.
//
//   brood::ServeOptions opts;                       // loopback, port 8080
//   std::string error;
//   auto server = brood::Server::Create(*engine, opts, std::cerr, &error);  // binds, or null
//   std::thread stop([&] { wait_for_sigterm(); server->Stop(10000); });
//   server->Run();                                  // until Stop has finished
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "brood/engine.hpp"
#include "brood/limits.hpp"

namespace brood {

struct ServeOptions {
  // "HOST:PORT" (an IPv6 host in brackets: "[::1]:8080"); port 0 picks a free one (address()
  // tells which). Empty: no TCP listener (then `unix_path` is needed).
  std::string listen = "127.0.0.1:8080";
  std::string unix_path;  // also (or only) listen on this unix socket; replaced if stale
  // Every request but GET /healthz must carry "Authorization: Bearer <token>"; empty: no token,
  // which is refused unless `listen` is a loopback address.
  std::string token;
  // Host names (without port) a request's Host header may give besides localhost, 127.0.0.1,
  // [::1] and the listen address: the names a reverse proxy in front forwards.
  std::vector<std::string> allowed_hosts;
  std::string state_dir;                  // batches' spool; empty: DefaultStateDir()
  LimitMaxima max_limits;                 // a job's limits above these are invalid (400)
  bool allow_host_network = false;        // jobs may ask for "network": "host"
  int64_t batch_ttl_s = 24 * 3600;        // finished or cancelled batches are removed after this
  int queue = 1024;                       // POST /v1/run jobs waiting or running; more are 429
  int max_connections = 256;              // more are answered 503 and closed
  int max_running_batches = 4;            // more wait (state "running", no job started yet)
  uint64_t max_body_bytes = 64u << 20;    // POST /v1/run
  uint64_t max_batch_bytes = 4ull << 30;  // POST /v1/batches
  uint32_t max_header_bytes = 16384;
  // Sessions (docs/sessions.md): live at once at most (more are 429; the engine's own
  // EngineOptions::max_sessions must be at least this), the longest ttl_s one may ask for, and
  // the largest file PUT or GET in one.
  int max_sessions = 16;
  int64_t max_ttl_s = 24 * 3600;
  uint64_t max_file_bytes = 64u << 20;
  int header_timeout_ms = 10000;  // a request's headers must come within this
  int idle_timeout_ms = 60000;    // a keep-alive connection with no request is closed
  int io_timeout_ms = 30000;      // a body read or a response write that makes no progress
};

// $XDG_STATE_HOME/brood, else /var/lib/brood for root, else ~/.local/state/brood.
std::string DefaultStateDir();

// Threads: Run on one thread (it runs every connection); Stop from any other, once or more.
class Server {
 public:
  // Binds the listeners and opens the state dir (a second server on it is refused), resumes
  // the batches a previous server left unfinished. Null and *error on failure (a port in use, a
  // non-loopback listen address without a token, a state dir that cannot be written).
  // `engine` and `log` must outlive the server.
  static std::unique_ptr<Server> Create(Engine& engine, ServeOptions options, std::ostream& log,
                                        std::string* error);
  virtual ~Server() = default;
  // "http://HOST:PORT" of the TCP listener ("" without one).
  virtual std::string address() const = 0;
  // Serves until Stop has drained everything. Returns 0, or 1 when something failed.
  virtual int Run() = 0;
  // Stops accepting; requests, batches and session commands still running after `grace_ms` are
  // cancelled (a batch's unfinished jobs are run by the next server on the same state dir); then
  // Run closes every session and returns.
  // Thread-safe, non-blocking; not from a signal handler.
  virtual void Stop(int grace_ms) = 0;
};

}  // namespace brood
