#include "serve_cmd.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "brood/run.hpp"
#include "stop_signals.hpp"

namespace {

// --max-limits '{"memory_mb": 2048, "wall_ms": 60000}' over the CLI's maxima.
std::string ParseMaxLimits(const std::string& text, brood::LimitMaxima* m) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return "--max-limits: expected a JSON object such as {\"memory_mb\": 2048}";
  for (auto& [key, value] : j.items()) {
    if (key == "cpus") {
      if (!value.is_number() || value.get<double>() <= 0 || value.get<double>() > m->cpus)
        return "--max-limits: cpus: expected a positive number up to " + std::to_string(m->cpus);
      m->cpus = value.get<double>();
      continue;
    }
    int64_t* field = key == "wall_ms"        ? &m->wall_ms
                     : key == "cpu_ms"       ? &m->cpu_ms
                     : key == "memory_mb"    ? &m->memory_mb
                     : key == "disk_mb"      ? &m->disk_mb
                     : key == "pids"         ? &m->pids
                     : key == "output_bytes" ? &m->output_bytes
                                             : nullptr;
    if (!field) return "--max-limits: " + key + ": not a limit (see docs/job.md)";
    if (!value.is_number_integer() || value.get<int64_t>() <= 0)
      return "--max-limits: " + key + ": expected a positive integer";
    const int64_t v = value.get<int64_t>();
    if (*field != 0 && v > *field)
      return "--max-limits: " + key + ": above brood's own maximum of " + std::to_string(*field);
    *field = v;
  }
  return {};
}

std::string ReadToken(const std::string& path, std::string* token) {
  std::ifstream in(path);
  if (!in) return "--token-file " + path + ": cannot be read";
  std::stringstream ss;
  ss << in.rdbuf();
  *token = ss.str();
  while (!token->empty() && std::isspace(static_cast<unsigned char>(token->back())))
    token->pop_back();
  if (token->empty()) return "--token-file " + path + ": is empty";
  for (char c : *token)
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c)))
      return "--token-file " + path + ": the token has spaces or control characters";
  return {};
}

}  // namespace

void AddServeOptions(CLI::App* serve, ServeArgs& a, brood::EngineOptions& engine) {
  brood::ServeOptions& o = a.opts;
  serve
      ->add_option("--listen", o.listen,
                   "HOST:PORT to listen on (port 0: any free one); \"\": none")
      ->capture_default_str();
  serve->add_option("--unix", o.unix_path, "also listen on this unix socket (mode 0600)");
  serve->add_option("--token-file", a.token_file,
                    "requests need \"Authorization: Bearer TOKEN\", TOKEN read from this file "
                    "(required to listen beyond loopback)");
  serve
      ->add_option("--allow-host", o.allowed_hosts,
                   "a Host name requests may give besides localhost and the listen address "
                   "(a reverse proxy's; repeatable)")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  serve->add_option("-j,--jobs", engine.slots, "tasks at once (default: the number of cores)")
      ->check(CLI::Range(1, 1024));
  serve
      ->add_option("--queue", o.queue,
                   "POST /v1/run jobs waiting or running at most; more are answered 429")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  serve->add_option("--state-dir", o.state_dir,
                    "where batches are spooled (default: $XDG_STATE_HOME/brood, /var/lib/brood "
                    "as root)");
  serve->add_option("--max-limits", a.max_limits,
                    "JSON: the largest limits a job may ask for, e.g. {\"memory_mb\": 2048}");
  serve->add_flag("--allow-host-network", o.allow_host_network,
                  "jobs may ask for \"network\": \"host\" (a task could then reach the server)");
  serve->add_option("--batch-ttl-s", o.batch_ttl_s, "finished batches are kept this long")
      ->check(CLI::Range(int64_t{1}, int64_t{10} * 365 * 24 * 3600))
      ->capture_default_str();
  serve->add_option("--max-connections", o.max_connections, "open connections at most")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  serve
      ->add_option("--max-sessions", o.max_sessions,
                   "sessions live at once at most (POST /v1/sessions); more are answered 429")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  serve->add_option("--max-ttl-s", o.max_ttl_s, "the longest ttl_s a session may ask for")
      ->check(CLI::Range(int64_t{1}, int64_t{365} * 24 * 3600))
      ->capture_default_str();
  serve
      ->add_option("--max-file-bytes", o.max_file_bytes,
                   "the largest file PUT into or read from a session (413 past it)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 32))
      ->capture_default_str();
  serve
      ->add_option("--grace-s", a.grace_s,
                   "on SIGTERM, how long running work may finish before it is cancelled")
      ->check(CLI::Range(0, 24 * 3600))
      ->capture_default_str();
}

int RunServe(brood::EngineOptions engine_opts, ServeArgs a) {
  if (!a.max_limits.empty()) {
    if (std::string e = ParseMaxLimits(a.max_limits, &engine_opts.maxima); !e.empty()) {
      std::cerr << "brood serve: " << e << "\n";
      return 2;
    }
  }
  a.opts.max_limits = engine_opts.maxima;
  if (!a.token_file.empty()) {
    if (std::string e = ReadToken(a.token_file, &a.opts.token); !e.empty()) {
      std::cerr << "brood serve: " << e << "\n";
      return 2;
    }
  }
  const sigset_t stop_signals = BlockStopSignals();
  signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error code, not a death

  // Room in the engine's queue for the requests' jobs and for each running batch's window.
  const int slots = engine_opts.slots > 0 ? engine_opts.slots
                                          : static_cast<int>(std::thread::hardware_concurrency());
  engine_opts.queue = a.opts.queue + brood::RunInFlight(slots) * (a.opts.max_running_batches + 1);
  engine_opts.max_sessions = a.opts.max_sessions;
  std::string error;
  auto engine = brood::Engine::Create(engine_opts, &error);
  if (!engine) {
    std::cerr << "brood: cannot sandbox on this host: " << error << "\n";
    return 1;
  }
  auto server = brood::Server::Create(*engine, a.opts, std::cerr, &error);
  if (!server) {
    std::cerr << "brood serve: " << error << "\n";
    return 1;
  }
  std::cerr << "brood serve: listening on " << (server->address().empty() ? "" : server->address())
            << (a.opts.unix_path.empty()
                    ? ""
                    : (server->address().empty() ? "unix:" : " and unix:") + a.opts.unix_path)
            << " with " << engine->Info().slots << " slots" << std::endl;
  int code;
  {
    StopSignalWatcher watcher(stop_signals, [&](int sig) {
      std::cerr << "brood serve: " << strsignal(sig) << ": no new requests; running work gets "
                << a.grace_s << " s" << std::endl;
      server->Stop(a.grace_s * 1000);
    });
    code = server->Run();
  }
  server.reset();
  engine.reset();
  std::cerr << "brood serve: stopped" << std::endl;
  return code;
}
