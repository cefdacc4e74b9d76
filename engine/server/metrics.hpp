// The server's metrics, written in Prometheus's text format (version 0.0.4) by hand: a few
// counters, gauges and two histograms need no library (prometheus-cpp would bring its own HTTP
// server and registry for what is ~150 lines here). Thread-safe: tasks are observed on engine
// threads, requests on the server's.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "brood/engine.hpp"
#include "brood/result.hpp"

namespace brood::server {

// A cumulative histogram with fixed upper bounds (seconds).
class Histogram {
 public:
  static constexpr std::array<double, 12> kStartBounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1};
  static constexpr std::array<double, 12> kWallBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                         0.1,   0.25,   1,     5,    30,    120};
  explicit Histogram(const std::array<double, 12>& bounds) : bounds_(bounds) {}
  void Observe(double seconds);
  // `name`_bucket{le=...}, _sum and _count lines.
  void Write(std::string& out, const std::string& name) const;

 private:
  const std::array<double, 12>& bounds_;
  std::array<std::atomic<uint64_t>, 13> counts_{};  // the last: above every bound (+Inf only)
  std::atomic<uint64_t> sum_us_{0};
};

class Metrics {
 public:
  // A task's result, whichever path it came by (POST /v1/run, a batch).
  void ObserveTask(const Result& r);
  // One answered request: `route` is the route's pattern ("/v1/batches/{id}"), not the path.
  void ObserveRequest(const std::string& method, const std::string& route, int code);
  void QueueRejected() { queue_rejections_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionOpened() { connections_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionClosed() { connections_.fetch_sub(1, std::memory_order_relaxed); }
  void ConnectionRefused() { connections_refused_.fetch_add(1, std::memory_order_relaxed); }
  // Sessions (io thread): one created, one ended (why: "idle", "ttl", "deleted", "memory", ...),
  // one exec's result.
  void SessionCreated();
  void SessionEnded(const std::string& reason);
  void SessionExec(const Result& r);

  // The whole exposition: these metrics, the engine's `stats`, and batches by state.
  std::string Text(const EngineStats& stats, const std::map<std::string, int>& batches) const;

 private:
  std::array<std::atomic<uint64_t>, 11> tasks_{};  // by TaskStatus
  Histogram start_{Histogram::kStartBounds};
  Histogram wall_{Histogram::kWallBounds};
  std::atomic<uint64_t> queue_rejections_{0}, connections_refused_{0};
  std::atomic<int64_t> connections_{0};
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::map<int, uint64_t>> requests_;
  int64_t sessions_ = 0;  // live; under mu_ as the session counters below
  uint64_t sessions_created_ = 0;
  std::map<std::string, uint64_t> sessions_ended_;  // by reason
  std::map<std::string, uint64_t> session_execs_;   // by status
};

}  // namespace brood::server
