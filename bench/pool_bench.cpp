// Warm-pool task latency and throughput through the engine: /bin/true in a full sandbox.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "brood/engine.hpp"

namespace {

brood::Engine* EngineWithSlots(int slots) {
  static std::mutex mu;
  static std::vector<std::unique_ptr<brood::Engine>>* engines =
      new std::vector<std::unique_ptr<brood::Engine>>(8);  // lives to exit
  std::lock_guard lock(mu);
  auto& e = (*engines)[slots];
  if (!e) {
    brood::EngineOptions o;
    o.slots = slots;
    std::string error;
    e = brood::Engine::Create(o, &error);
  }
  return e.get();
}

brood::Job TrueJob() {
  brood::Job job;
  job.id = "true";
  job.argv = {"/bin/true"};
  return job;
}

// One task at a time, slot 0 warm: the per-task cost and latency floor of the engine.
void BM_WarmTrueSequential(benchmark::State& state) {
  brood::Engine* engine = EngineWithSlots(1);
  if (!engine) return state.SkipWithError("cannot sandbox on this host");
  std::vector<double> latency_us;
  for (auto _ : state) {
    brood::Result r = engine->Run(TrueJob());
    if (r.status != brood::TaskStatus::kOk) return state.SkipWithError("task not ok");
    latency_us.push_back(static_cast<double>(r.start_latency_us));
  }
  std::sort(latency_us.begin(), latency_us.end());
  state.counters["start_latency_p50_us"] = latency_us[latency_us.size() / 2];
  state.counters["start_latency_p99_us"] = latency_us[latency_us.size() * 99 / 100];
}
BENCHMARK(BM_WarmTrueSequential)->UseRealTime()->Iterations(1000)->Unit(benchmark::kMillisecond);

// Two submitters, two slots: tasks/s on this 2-core machine.
void BM_WarmTrueTwoSlots(benchmark::State& state) {
  brood::Engine* engine = EngineWithSlots(2);
  if (!engine) return state.SkipWithError("cannot sandbox on this host");
  for (auto _ : state) {
    brood::Result r = engine->Run(TrueJob());
    if (r.status != brood::TaskStatus::kOk) return state.SkipWithError("task not ok");
  }
  state.counters["tasks_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_WarmTrueTwoSlots)
    ->Threads(2)
    ->UseRealTime()
    ->Iterations(1000)
    ->Unit(benchmark::kMillisecond);

}  // namespace
