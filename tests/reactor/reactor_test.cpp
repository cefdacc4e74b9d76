// The reactor's contract, one behaviour per test: streams, polls, timers, cancellation, Post and
// Stop across threads. Pumps and load are in reactor_pump_test.cpp.
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "reactor/reactor_fixture.hpp"

namespace brood::reactor {
namespace {

std::string Piece(int i) {
  return std::string(static_cast<size_t>(i * 37 % 1000 + 1), 'a' + i % 26);
}

TEST_F(ReactorTest, ReadStreamGetsEveryPieceThenEof) {
  Pipe p = MakePipe();
  std::string expected;
  for (int i = 0; i < 2000; ++i) expected += Piece(i);
  std::jthread writer([&] {
    for (int i = 0; i < 2000; ++i) {
      std::string piece = Piece(i);
      ASSERT_EQ(write(p.w.get(), piece.data(), piece.size()), static_cast<ssize_t>(piece.size()));
    }
    p.w.reset();
  });
  std::string got;
  int ends = 0, end_err = 1;
  RunLoop([&] {
    r().ReadStream(
        p.r.get(),
        [&](std::span<const char> chunk) {
          EXPECT_EQ(ends, 0) << "data after the end";
          got.append(chunk.data(), chunk.size());
        },
        [&](int err) {
          ++ends;
          end_err = err;
          r().Stop();
        });
  });
  EXPECT_EQ(ends, 1);
  EXPECT_EQ(end_err, 0);
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected);
}

TEST_F(ReactorTest, ReadStreamEndsWithErrno) {
  Pipe p = MakePipe();
  sys::UniqueFd dir(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dir.valid());
  std::vector<int> errs;
  int data_calls = 0;
  RunLoop([&] {
    for (int fd : {-1, dir.get(), p.w.get()}) {  // not an fd, a directory, a write-only end
      r().ReadStream(
          fd, [&](std::span<const char>) { ++data_calls; },
          [&](int err) {
            errs.push_back(err);
            if (errs.size() == 3) r().Stop();
          });
    }
  });
  EXPECT_EQ(data_calls, 0);
  std::sort(errs.begin(), errs.end());
  EXPECT_EQ(errs, (std::vector<int>{-EISDIR, -EBADF, -EBADF}));
}

// An O_NONBLOCK pipe makes the kernel answer -EAGAIN: the stream must wait in a POLL_ADD, not
// retry. A busy retry would burn the whole 200 ms of waiting on this thread's CPU clock.
TEST_F(ReactorTest, ReadStreamWaitsOnNonBlockingPipe) {
  Pipe p = MakePipe(O_NONBLOCK);
  std::string got;
  int end_err = 1;
  rusage before{}, after{};
  getrusage(RUSAGE_THREAD, &before);
  RunLoop([&] {
    r().ReadStream(
        p.r.get(), [&](std::span<const char> c) { got.append(c.data(), c.size()); },
        [&](int err) {
          end_err = err;
          r().Stop();
        });
    r().TimerAt(NowNs() + Ms(100), [&] { ASSERT_EQ(write(p.w.get(), "hello", 5), 5); });
    r().TimerAt(NowNs() + Ms(200), [&] { p.w.reset(); });
  });
  getrusage(RUSAGE_THREAD, &after);
  auto us = [](const rusage& u) {
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1'000'000L + u.ru_utime.tv_usec +
           u.ru_stime.tv_usec;
  };
  EXPECT_EQ(got, "hello");
  EXPECT_EQ(end_err, 0);
  EXPECT_LT(us(after) - us(before), 100'000) << "CPU time while waiting: a busy loop?";
}

TEST_F(ReactorTest, PollReadableFiresForEventfd) {
  sys::UniqueFd efd(eventfd(0, EFD_CLOEXEC));
  ASSERT_TRUE(efd.valid());
  bool written = false;
  int res = 0;
  RunLoop([&] {
    r().PollReadable(efd.get(), [&](int rv) {
      EXPECT_TRUE(written) << "readable before the write";
      res = rv;
      r().Stop();
    });
    r().TimerAt(NowNs() + Ms(30), [&] {
      written = true;
      ASSERT_EQ(eventfd_write(efd.get(), 1), 0);
    });
  });
  EXPECT_TRUE(res & POLLIN) << res;
}

TEST_F(ReactorTest, PollReadableFiresWhenPidfdChildExits) {
  Pipe gate = MakePipe();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // waits for the gate to close, then exits: async-signal-safe calls only
    gate.w.reset();
    char c;
    while (read(gate.r.get(), &c, 1) > 0) {
    }
    _exit(7);
  }
  gate.r.reset();
  sys::UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  ASSERT_TRUE(pidfd.valid()) << "pidfd_open: " << errno;
  bool released = false;
  int res = 0;
  RunLoop([&] {
    r().PollReadable(pidfd.get(), [&](int rv) {
      EXPECT_TRUE(released) << "child reported exited before it could exit";
      res = rv;
      r().Stop();
    });
    r().TimerAt(NowNs() + Ms(30), [&] {
      released = true;
      gate.w.reset();
    });
  });
  EXPECT_TRUE(res & POLLIN) << res;
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PIDFD, static_cast<id_t>(pidfd.get()), &info, WEXITED), 0);
  EXPECT_EQ(info.si_code, CLD_EXITED);
  EXPECT_EQ(info.si_status, 7);
}

TEST_F(ReactorTest, TimersFireAfterDeadlineInDeadlineOrder) {
  const int64_t offsets_ms[] = {50, 10, 40, -5, 20, 30, 60};
  std::vector<int64_t> fired;
  RunLoop([&] {
    const int64_t base = NowNs();
    for (int64_t off : offsets_ms) {
      const int64_t deadline = base + Ms(off);
      r().TimerAt(deadline, [&, deadline, off] {
        EXPECT_GE(NowNs(), deadline) << "timer " << off << " ms fired early";
        fired.push_back(off);
        if (fired.size() == std::size(offsets_ms)) r().Stop();
      });
    }
  });
  EXPECT_EQ(fired, (std::vector<int64_t>{-5, 10, 20, 30, 40, 50, 60}));
}

TEST_F(ReactorTest, TimersThatExpireWhileTheLoopIsBusyFireInDeadlineOrder) {
  // The loop thread spins past every deadline, so all four complete in one batch; 6.1 posts
  // such CQEs last in, first out (see Reap).
  std::vector<int64_t> fired;
  RunLoop([&] {
    const int64_t base = NowNs();
    for (int64_t off : {2, 4, 6, 8}) {
      r().TimerAt(base + Ms(off), [&, off] {
        fired.push_back(off);
        if (fired.size() == 4) r().Stop();
      });
    }
    // After the submit (a Post runs after the loop flushed what the setup armed).
    r().Post([base] {
      while (NowNs() < base + Ms(50)) {
      }
    });
  });
  EXPECT_EQ(fired, (std::vector<int64_t>{2, 4, 6, 8}));
}

TEST_F(ReactorTest, CancelledOpsNeverCallBack) {
  Pipe p = MakePipe();
  sys::UniqueFd efd(eventfd(0, EFD_CLOEXEC));
  int calls = 0;
  RunLoop([&] {
    auto timer = r().TimerAt(NowNs() + Ms(20), [&] { ++calls; });
    auto read = r().ReadStream(
        p.r.get(), [&](std::span<const char>) { ++calls; }, [&](int) { ++calls; });
    auto poll = r().PollReadable(efd.get(), [&](int) { ++calls; });
    r().Cancel(timer);
    r().Cancel(read);
    r().Cancel(12345678);  // unknown: ignored
    // Cancelled after its READ and POLL_ADD went to the kernel, then made ready.
    r().TimerAt(NowNs() + Ms(10), [&, poll] {
      r().Cancel(poll);
      r().Cancel(poll);  // twice: ignored
      ASSERT_EQ(eventfd_write(efd.get(), 1), 0);
      ASSERT_EQ(write(p.w.get(), "x", 1), 1);
      p.w.reset();
    });
    r().TimerAt(NowNs() + Ms(100), [&] { r().Stop(); });
  });
  EXPECT_EQ(calls, 0);
}

// Two timers with one deadline complete in one batch; whichever runs first cancels the other,
// whose CQE is already reaped but not yet dispatched.
TEST_F(ReactorTest, CallbackCancelsOpCompletingInSameBatch) {
  int fired = 0;
  Reactor::OpId a = 0, b = 0;
  RunLoop([&] {
    const int64_t deadline = NowNs() + Ms(10);
    a = r().TimerAt(deadline, [&] {
      ++fired;
      r().Cancel(b);
    });
    b = r().TimerAt(deadline, [&] {
      ++fired;
      r().Cancel(a);
    });
    r().TimerAt(deadline + Ms(50), [&] { r().Stop(); });
  });
  EXPECT_EQ(fired, 1);
}

TEST_F(ReactorTest, StreamCancelledInsideItsOwnCallback) {
  Pipe p = MakePipe();
  int data_calls = 0, end_calls = 0;
  Reactor::OpId self = 0;
  RunLoop([&] {
    self = r().ReadStream(
        p.r.get(),
        [&](std::span<const char>) {
          ++data_calls;
          r().Cancel(self);
        },
        [&](int) { ++end_calls; });
    ASSERT_EQ(write(p.w.get(), "a", 1), 1);
    r().TimerAt(NowNs() + Ms(20), [&] {
      ASSERT_EQ(write(p.w.get(), "b", 1), 1);
      p.w.reset();
    });
    r().TimerAt(NowNs() + Ms(60), [&] { r().Stop(); });
  });
  EXPECT_EQ(data_calls, 1);
  EXPECT_EQ(end_calls, 0);
}

TEST_F(ReactorTest, PostFromOtherThreadsRunsInOrderOnReactorThread) {
  const auto reactor_thread = std::this_thread::get_id();
  constexpr int kPerThread = 1000;
  std::vector<int> seen[2];
  int done = 0;
  {
    std::vector<std::jthread> posters;
    for (int t = 0; t < 2; ++t) {
      posters.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          r().Post([&, t, i] {
            EXPECT_EQ(std::this_thread::get_id(), reactor_thread);
            seen[t].push_back(i);
            if (++done == 2 * kPerThread) r().Stop();
          });
        }
      });
    }
    RunLoop([] {});
  }
  for (auto& s : seen) {
    ASSERT_EQ(s.size(), static_cast<size_t>(kPerThread));
    EXPECT_TRUE(std::is_sorted(s.begin(), s.end())) << "posts from one thread ran out of order";
  }
}

TEST_F(ReactorTest, StopFromOtherThreadEndsRun) {
  Pipe p = MakePipe();  // an op that never completes keeps the ring waiting
  std::jthread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    r().Stop();
  });
  RunLoop([&] {
    r().ReadStream(
        p.r.get(), [](std::span<const char>) {}, [](int) {});
  });
  stopper.join();
  r().Stop();  // before Run(): Run() returns at once
  r().Run();
  bool fired = false;  // and the reactor still works afterwards
  RunLoop([&] {
    r().TimerAt(NowNs(), [&] {
      fired = true;
      r().Stop();
    });
  });
  EXPECT_TRUE(fired);
}

}  // namespace
}  // namespace brood::reactor
