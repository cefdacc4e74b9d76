// Pumps with back-pressure and early readers' exits, many ops at once (more than the SQ holds),
// and tearing the reactor down with ops still in the kernel.
#include <fcntl.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "reactor/reactor_fixture.hpp"

namespace brood::reactor {
namespace {

constexpr size_t kTotal = 10 << 20;

char PatternAt(size_t i) { return static_cast<char>(i * 131 + i / 4093); }

// Writes kTotal pattern bytes into fd in 100 KiB writes; stops at the first error (EPIPE once
// the test closes the other end).
void WritePattern(int fd) {
  BlockSigpipeInThisThread();
  std::vector<char> block(100 << 10);
  for (size_t pos = 0; pos < kTotal;) {
    size_t n = std::min(block.size(), kTotal - pos);
    for (size_t k = 0; k < n; ++k) block[k] = PatternAt(pos + k);
    for (size_t k = 0; k < n;) {
      ssize_t w = write(fd, block.data() + k, n - k);
      if (w <= 0) return;
      k += static_cast<size_t>(w);
    }
    pos += n;
  }
}

void SetNonBlocking(int fd) { ASSERT_EQ(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0); }

class PumpTest : public ReactorTest, public ::testing::WithParamInterface<bool> {};

// A reader that takes 4 KiB at a time and naps every 256 KiB keeps the pump waiting on a full
// pipe many times over; every byte must still arrive, in order, then EOF.
TEST_P(PumpTest, CopiesTenMiBToSlowReader) {
  Pipe in = MakePipe(), out = MakePipe();
  if (GetParam()) {  // the pump's ends only: the helper threads keep blocking I/O
    SetNonBlocking(in.r.get());
    SetNonBlocking(out.w.get());
  }
  std::jthread writer([&] {
    WritePattern(in.w.get());
    in.w.reset();
  });
  size_t received = 0, mismatches = 0;
  std::jthread reader([&] {
    char buf[4096];
    for (int reads = 1;; ++reads) {
      ssize_t n = read(out.r.get(), buf, sizeof buf);
      if (n <= 0) break;
      for (ssize_t k = 0; k < n; ++k) mismatches += buf[k] != PatternAt(received + k);
      received += static_cast<size_t>(n);
      if (reads % 64 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  int result = 1;
  RunLoop([&] {
    r().Pump(in.r.get(), out.w.get(), [&](int err) {
      result = err;
      out.w.reset();  // the reader's EOF: Pump leaves both fds open
      r().Stop();
    });
  });
  out.w.reset();
  in.r.reset();
  writer.join();
  reader.join();
  EXPECT_EQ(result, 0);
  EXPECT_EQ(received, kTotal);
  EXPECT_EQ(mismatches, 0u);
}

TEST_P(PumpTest, ReportsEpipeWhenReaderLeavesEarly) {
  Pipe in = MakePipe(), out = MakePipe();
  if (GetParam()) {
    SetNonBlocking(in.r.get());
    SetNonBlocking(out.w.get());
  }
  std::jthread writer([&] { WritePattern(in.w.get()); });
  std::jthread reader([&] {  // takes 1 MiB, then closes its end
    char buf[4096];
    for (size_t got = 0; got < (1 << 20);) {
      ssize_t n = read(out.r.get(), buf, sizeof buf);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    out.r.reset();
  });
  int result = 1;
  RunLoop([&] {
    r().Pump(in.r.get(), out.w.get(), [&](int err) {
      result = err;
      in.r.reset();  // the writer gets EPIPE in turn and ends
      r().Stop();
    });
  });
  in.r.reset();
  writer.join();
  reader.join();
  EXPECT_EQ(result, -EPIPE);
}

INSTANTIATE_TEST_SUITE_P(BlockingAndNonBlocking, PumpTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "NonBlocking" : "Blocking"; });

TEST_F(ReactorTest, PumpReportsBadFd) {
  Pipe out = MakePipe();
  int result = 1;
  RunLoop([&] {
    r().Pump(-1, out.w.get(), [&](int err) {
      result = err;
      r().Stop();
    });
  });
  EXPECT_EQ(result, -EBADF);
}

// Cancelled while its WRITE waits for a reader that never comes: the callback never runs.
TEST_F(ReactorTest, CancelledPumpNeverCallsBack) {
  Pipe in = MakePipe(), out = MakePipe();
  std::jthread writer([&] { WritePattern(in.w.get()); });
  bool called = false;
  RunLoop([&] {
    auto pump = r().Pump(in.r.get(), out.w.get(), [&](int) { called = true; });
    r().TimerAt(NowNs() + Ms(50), [&, pump] {
      r().Cancel(pump);
      out.r.reset();  // what would have failed its WRITE with EPIPE
    });
    r().TimerAt(NowNs() + Ms(100), [&] { r().Stop(); });
  });
  in.r.reset();
  writer.join();
  EXPECT_FALSE(called);
}

// 1000 streams and 1000 timers at once: eight times what the SQ holds.
TEST_F(ReactorTest, ThousandsOfConcurrentOps) {
  constexpr int kN = 1000;
  std::vector<Pipe> pipes;
  for (int i = 0; i < kN; ++i) pipes.push_back(MakePipe());
  std::vector<std::string> got(kN);
  int ends = 0, bad_ends = 0, timers = 0;
  auto maybe_stop = [&] {
    if (ends == kN && timers == kN) r().Stop();
  };
  RunLoop([&] {
    const int64_t base = NowNs();
    for (int i = 0; i < kN; ++i) {
      r().ReadStream(
          pipes[i].r.get(), [&, i](std::span<const char> c) { got[i].append(c.data(), c.size()); },
          [&](int err) {
            bad_ends += err != 0;
            ++ends;
            maybe_stop();
          });
    }
    for (int i = 0; i < kN; ++i) {  // deadlines spread over 50 ms, in scrambled order
      const int64_t deadline = base + Ms(1) + (i * 7919 % kN) * 50'000;
      r().TimerAt(deadline, [&, i, deadline] {
        EXPECT_GE(NowNs(), deadline);
        std::string msg = std::to_string(i);
        ASSERT_EQ(write(pipes[i].w.get(), msg.data(), msg.size()),
                  static_cast<ssize_t>(msg.size()));
        pipes[i].w.reset();
        ++timers;
        maybe_stop();
      });
    }
  });
  EXPECT_EQ(timers, kN);
  EXPECT_EQ(ends, kN);
  EXPECT_EQ(bad_ends, 0);
  for (int i = 0; i < kN; ++i) EXPECT_EQ(got[i], std::to_string(i));
}

// Destroying the reactor cancels what is in the kernel and waits for it: data arriving afterwards
// lands in no freed buffer (run under ASan to see it), and no callback runs.
TEST_F(ReactorTest, DestroyWithOpsInFlight) {
  Pipe a = MakePipe(), b = MakePipe(), c = MakePipe();
  bool called = false;
  RunLoop([&] {
    r().ReadStream(
        a.r.get(), [&](std::span<const char>) { called = true; }, [&](int) { called = true; });
    r().PollReadable(a.r.get(), [&](int) { called = true; });
    r().Pump(b.r.get(), c.w.get(), [&](int) { called = true; });
    r().TimerAt(NowNs() + Ms(60'000), [&] { called = true; });
    r().TimerAt(NowNs() + Ms(10), [&] {
      // Started, never submitted: Stop() ends the loop first.
      r().ReadStream(
          b.r.get(), [&](std::span<const char>) { called = true; }, [&](int) { called = true; });
      r().Stop();
    });
  });
  reactor_.reset();
  ASSERT_EQ(write(a.w.get(), "late", 4), 4);
  ASSERT_EQ(write(b.w.get(), "late", 4), 4);
  char buf[8];
  EXPECT_EQ(read(a.r.get(), buf, sizeof buf), 4) << "a cancelled READ still consumed data";
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace brood::reactor
