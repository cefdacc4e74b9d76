#include "server/metrics.hpp"

#include <cstdio>

namespace brood::server {
namespace {

void Line(std::string& out, const std::string& name, const std::string& labels, double value) {
  char num[64];
  std::snprintf(num, sizeof num, "%.17g", value);
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += " ";
  out += num;
  out += "\n";
}

void Head(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

// A label value: backslash, quote and newline escaped.
std::string Quote(const std::string& v) {
  std::string q = "\"";
  for (char c : v) {
    if (c == '\\')
      q += "\\\\";
    else if (c == '"')
      q += "\\\"";
    else if (c == '\n')
      q += "\\n";
    else
      q += c;
  }
  return q + "\"";
}

}  // namespace

void Histogram::Observe(double seconds) {
  size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void Histogram::Write(std::string& out, const std::string& name) const {
  uint64_t cumulative = 0;
  char le[32];
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    std::snprintf(le, sizeof le, "%g", bounds_[i]);
    Line(out, name + "_bucket", "le=" + Quote(le), static_cast<double>(cumulative));
  }
  cumulative += counts_.back().load(std::memory_order_relaxed);
  Line(out, name + "_bucket", "le=\"+Inf\"", static_cast<double>(cumulative));
  Line(out, name + "_sum", "", static_cast<double>(sum_us_.load()) / 1e6);
  Line(out, name + "_count", "", static_cast<double>(cumulative));
}

void Metrics::ObserveTask(const Result& r) {
  tasks_[static_cast<size_t>(r.status)].fetch_add(1, std::memory_order_relaxed);
  if (r.status == TaskStatus::kInvalidJob || r.status == TaskStatus::kSandboxError) return;
  start_.Observe(static_cast<double>(r.start_latency_us) / 1e6);
  wall_.Observe(r.wall_ms / 1e3);
}

void Metrics::ObserveRequest(const std::string& method, const std::string& route, int code) {
  std::lock_guard lock(mu_);
  ++requests_[{method, route}][code];
}

void Metrics::SessionCreated() {
  std::lock_guard lock(mu_);
  ++sessions_;
  ++sessions_created_;
}

void Metrics::SessionEnded(const std::string& reason) {
  std::lock_guard lock(mu_);
  --sessions_;
  ++sessions_ended_[reason];
}

void Metrics::SessionExec(const Result& r) {
  std::lock_guard lock(mu_);
  ++session_execs_[StatusName(r.status)];
}

std::string Metrics::Text(const EngineStats& stats,
                          const std::map<std::string, int>& batches) const {
  std::string out;
  Head(out, "brood_tasks_total", "counter", "Tasks that ended, by result status.");
  for (size_t i = 0; i < tasks_.size(); ++i)
    Line(out, "brood_tasks_total", "status=" + Quote(StatusName(static_cast<TaskStatus>(i))),
         static_cast<double>(tasks_[i].load(std::memory_order_relaxed)));
  Head(out, "brood_tasks_running", "gauge", "Jobs taken by the engine and not queued.");
  Line(out, "brood_tasks_running", "", static_cast<double>(stats.in_flight - stats.queued));
  Head(out, "brood_tasks_queued", "gauge", "Jobs waiting for a slot.");
  Line(out, "brood_tasks_queued", "", static_cast<double>(stats.queued));
  Head(out, "brood_slots_busy", "gauge", "Slots running or cleaning up after a task.");
  Line(out, "brood_slots_busy", "", stats.busy_slots);
  Head(out, "brood_task_start_latency_seconds", "histogram",
       "From a free slot to the task's execve.");
  start_.Write(out, "brood_task_start_latency_seconds");
  Head(out, "brood_task_wall_seconds", "histogram", "Tasks' wall time from execve.");
  wall_.Write(out, "brood_task_wall_seconds");
  Head(out, "brood_zygotes_warm", "gauge", "Live zygotes, by sandbox profile.");
  for (const auto& w : stats.warm)
    Line(out, "brood_zygotes_warm",
         "network=" + Quote(w.network == Network::kHost ? "host" : "none") +
             ",root=" + Quote(w.root),
         w.zygotes);
  Head(out, "brood_queue_rejections_total", "counter",
       "Requests answered 429 because the engine's queue was full.");
  Line(out, "brood_queue_rejections_total", "", static_cast<double>(queue_rejections_.load()));
  Head(out, "brood_http_connections", "gauge", "Open HTTP connections.");
  Line(out, "brood_http_connections", "", static_cast<double>(connections_.load()));
  Head(out, "brood_http_connections_refused_total", "counter",
       "Connections answered 503 past the connection cap.");
  Line(out, "brood_http_connections_refused_total", "",
       static_cast<double>(connections_refused_.load()));
  Head(out, "brood_batches", "gauge", "Batches the server holds, by state.");
  for (const auto& [state, n] : batches) Line(out, "brood_batches", "state=" + Quote(state), n);
  std::lock_guard lock(mu_);
  Head(out, "brood_sessions", "gauge", "Live sessions.");
  Line(out, "brood_sessions", "", static_cast<double>(sessions_));
  Head(out, "brood_sessions_created_total", "counter", "Sessions created.");
  Line(out, "brood_sessions_created_total", "", static_cast<double>(sessions_created_));
  Head(out, "brood_sessions_ended_total", "counter", "Sessions that ended, by reason.");
  for (const auto& [reason, n] : sessions_ended_)
    Line(out, "brood_sessions_ended_total", "reason=" + Quote(reason), static_cast<double>(n));
  Head(out, "brood_session_execs_total", "counter", "Commands run in sessions, by result status.");
  for (const auto& [status, n] : session_execs_)
    Line(out, "brood_session_execs_total", "status=" + Quote(status), static_cast<double>(n));
  Head(out, "brood_http_requests_total", "counter", "HTTP requests, by method, route and code.");
  for (const auto& [key, codes] : requests_)
    for (const auto& [code, n] : codes)
      Line(out, "brood_http_requests_total",
           "method=" + Quote(key.first) + ",route=" + Quote(key.second) +
               ",code=" + Quote(std::to_string(code)),
           static_cast<double>(n));
  return out;
}

}  // namespace brood::server
