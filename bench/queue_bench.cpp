// The engine's queue: what Submit costs when the queue takes the job and when it is full, and how
// long cancelling 1,000 queued jobs takes until every one has its result. The only slot is held
// by a task that waits on its stdin, so nothing starts while these run.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "brood/engine.hpp"

namespace {

constexpr int kQueue = 1000;

struct HeldEngine {
  std::atomic<int> results{0};
  std::mutex mu;
  std::condition_variable cv;
  int hold_w = -1;                        // closing it lets the holding task end
  std::unique_ptr<brood::Engine> engine;  // last: destroyed first, its callbacks use the above

  bool Start(std::string* error) {
    brood::EngineOptions o;
    o.slots = 1;
    o.queue = kQueue;
    engine = brood::Engine::Create(o, error);
    if (!engine) return false;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return false;
    hold_w = p[1];
    brood::Job hold;
    hold.id = "hold";
    hold.argv = {"cat"};
    hold.stdin_fd = p[0];
    hold.limits.wall_ms = hold.limits.cpu_ms = 600000;
    auto s = engine->Submit(hold, [this, r = p[0]](brood::Result) {
      close(r);
      Done();
    });
    if (!s.ok()) return false;
    // Running once the engine has pumped a byte of its stdin: the slot is taken from then on.
    if (write(hold_w, "x", 1) != 1) return false;
    for (int queued = 1; queued > 0;) {
      if (ioctl(p[0], FIONREAD, &queued) != 0) return false;
      if (queued > 0) usleep(1000);
    }
    return true;
  }
  void Done() {
    std::lock_guard lock(mu);
    ++results;
    cv.notify_all();
  }
  void WaitResults(int n) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return results.load() >= n; });
  }
  ~HeldEngine() {
    if (hold_w >= 0) close(hold_w);
  }
};

brood::Job TrueJob() {
  brood::Job job;
  job.id = "true";
  job.argv = {"/bin/true"};
  return job;
}

// Submit of a job the queue takes (then cancelled, by group, outside the timing).
void BM_SubmitQueued(benchmark::State& state) {
  HeldEngine h;
  std::string error;
  if (!h.Start(&error)) return state.SkipWithError(error.c_str());
  int taken = 0;
  uint64_t group = h.engine->NewGroup();
  for (auto _ : state) {
    auto s = h.engine->Submit(TrueJob(), [&h](brood::Result) { h.Done(); }, {.group = group});
    if (!s.ok()) return state.SkipWithError(s.error.c_str());
    if (++taken % (kQueue - 1) == 0) {  // empty the queue, outside the timing
      state.PauseTiming();
      h.engine->CancelGroup(group);
      h.WaitResults(taken);
      group = h.engine->NewGroup();
      state.ResumeTiming();
    }
  }
  h.engine->CancelGroup(group);
  h.WaitResults(taken);
}
BENCHMARK(BM_SubmitQueued)->Iterations(20000)->Unit(benchmark::kMicrosecond);

// Submit when the queue is full: refused at once.
void BM_SubmitIntoAFullQueue(benchmark::State& state) {
  HeldEngine h;
  std::string error;
  if (!h.Start(&error)) return state.SkipWithError(error.c_str());
  const uint64_t group = h.engine->NewGroup();
  int taken = 0;
  while (h.engine->Submit(TrueJob(), [&h](brood::Result) { h.Done(); }, {.group = group}).ok())
    ++taken;
  int refused = 0;
  for (auto _ : state) {
    auto s = h.engine->Submit(TrueJob(), [](brood::Result) {}, {.group = group});
    refused += !s.ok();
  }
  if (refused != state.iterations()) state.SkipWithError("a Submit into a full queue was taken");
  state.counters["queued"] = taken;
  h.engine->CancelGroup(group);
  h.WaitResults(taken);
}
BENCHMARK(BM_SubmitIntoAFullQueue)->Iterations(100000)->Unit(benchmark::kMicrosecond);

// 1,000 queued jobs cancelled, until the last result is in: by one CancelGroup, or by 1,000
// Cancel calls.
void BM_Cancel1000Queued(benchmark::State& state) {
  HeldEngine h;
  std::string error;
  if (!h.Start(&error)) return state.SkipWithError(error.c_str());
  const bool by_group = state.range(0) == 1;
  int done = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const uint64_t group = h.engine->NewGroup();
    std::vector<brood::JobHandle> handles;
    for (int i = 0; i < kQueue - 1; ++i) {
      auto s = h.engine->Submit(TrueJob(), [&h](brood::Result) { h.Done(); }, {.group = group});
      if (!s.ok()) return state.SkipWithError(s.error.c_str());
      handles.push_back(s.handle);
    }
    done += kQueue - 1;
    state.ResumeTiming();
    if (by_group) {
      h.engine->CancelGroup(group);
    } else {
      for (auto handle : handles) h.engine->Cancel(handle);
    }
    h.WaitResults(done);
  }
}
BENCHMARK(BM_Cancel1000Queued)
    ->Arg(1)
    ->Arg(0)
    ->ArgName("by_group")
    ->Iterations(20)
    ->Unit(benchmark::kMillisecond);

}  // namespace
