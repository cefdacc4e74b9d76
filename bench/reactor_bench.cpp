// Reactor costs on the paths tasks use: a pipe chunk through the ring to its callback, a timer
// through the ring, and a pump's throughput. Each iteration runs inside one Run(): the next step
// is started from the previous callback, as the engine does.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <thread>
#include <vector>

#include "reactor/reactor.hpp"
#include "sys/fd.hpp"

namespace brood::reactor {
namespace {

std::unique_ptr<Reactor> MakeReactor(benchmark::State& state) {
  auto created = Reactor::Create();
  if (!created.ok()) state.SkipWithError(created.status().message().c_str());
  return created.ok() ? std::move(created).value() : nullptr;
}

struct Pipe {
  sys::UniqueFd r, w;
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    r.reset(fds[0]);
    w.reset(fds[1]);
  }
};

// write(2) of 64 bytes into a pipe -> READ completion -> on_data, which writes the next message.
void BM_PipeReadRoundTrip(benchmark::State& state) {
  auto reactor = MakeReactor(state);
  if (!reactor) return;
  Pipe p;
  char msg[64] = {};
  auto send = [&] { benchmark::DoNotOptimize(write(p.w.get(), msg, sizeof msg)); };
  reactor->Post([&] {
    reactor->ReadStream(
        p.r.get(),
        [&](std::span<const char>) {
          if (state.KeepRunning()) {
            send();
          } else {
            reactor->Stop();
          }
        },
        [&](int) { reactor->Stop(); });
    if (state.KeepRunning()) send();
  });
  reactor->Run();
}
BENCHMARK(BM_PipeReadRoundTrip);

// A timer whose deadline has passed when it is submitted: the ring's own cost per timer (the
// reactor sends it as a NOP; BM_TimerLatency measures a real TIMEOUT).
void BM_TimerAlreadyDue(benchmark::State& state) {
  auto reactor = MakeReactor(state);
  if (!reactor) return;
  std::function<void()> next = [&] {
    if (state.KeepRunning()) {
      reactor->TimerAt(NowNs(), next);
    } else {
      reactor->Stop();
    }
  };
  reactor->Post(next);
  reactor->Run();
}
BENCHMARK(BM_TimerAlreadyDue);

// A timer 20 us ahead: the wall time per iteration is 20 us plus the wake-up latency, which the
// late_ns counter reports (the callback's NowNs() minus the deadline).
void BM_TimerLatency(benchmark::State& state) {
  auto reactor = MakeReactor(state);
  if (!reactor) return;
  int64_t late_ns = 0, deadline = 0;
  std::function<void()> next = [&] {
    if (deadline != 0) late_ns += NowNs() - deadline;
    if (state.KeepRunning()) {
      deadline = NowNs() + 20'000;
      reactor->TimerAt(deadline, next);
    } else {
      reactor->Stop();
    }
  };
  reactor->Post(next);
  reactor->Run();
  state.counters["late_ns"] =
      benchmark::Counter(static_cast<double>(late_ns), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_TimerLatency);

// Pump throughput: a thread writes `bytes` into one pipe, another drains the other; 64 KiB chunks.
void BM_PumpPipeToPipe(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  auto reactor = MakeReactor(state);
  if (!reactor) return;
  for (auto _ : state) {
    Pipe in, out;
    std::thread writer([&] {
      std::vector<char> block(64 << 10);
      for (size_t sent = 0; sent < bytes;) {
        ssize_t n = write(in.w.get(), block.data(), std::min(block.size(), bytes - sent));
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
      in.w.reset();
    });
    std::thread reader([&] {
      char buf[64 << 10];
      while (read(out.r.get(), buf, sizeof buf) > 0) {
      }
    });
    reactor->Post([&] {
      reactor->Pump(in.r.get(), out.w.get(), [&](int) {
        out.w.reset();
        reactor->Stop();
      });
    });
    reactor->Run();
    writer.join();
    reader.join();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_PumpPipeToPipe)->Arg(16 << 20)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace brood::reactor
