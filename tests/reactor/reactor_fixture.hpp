// Shared by the reactor tests: a fresh reactor per test, pipes, and a loop runner with a watchdog.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <utility>

#include "reactor/reactor.hpp"
#include "sys/fd.hpp"

namespace brood::reactor {

struct Pipe {
  sys::UniqueFd r, w;
};

inline Pipe MakePipe(int flags = 0) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | flags) != 0) ADD_FAILURE() << "pipe2 failed";
  return Pipe{sys::UniqueFd(fds[0]), sys::UniqueFd(fds[1])};
}

// Helper threads that write into pipes the test may close early get EPIPE, not a fatal SIGPIPE.
inline void BlockSigpipeInThisThread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

inline int64_t Ms(int64_t ms) { return ms * 1'000'000; }

class ReactorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = Reactor::Create();
    ASSERT_TRUE(created.ok()) << created.status().message();
    reactor_ = std::move(created).value();
  }

  Reactor& r() { return *reactor_; }

  // Runs `setup` on the reactor thread, then the loop until a callback calls Stop(). A watchdog
  // timer stops a loop that would otherwise hang, and fails the test.
  void RunLoop(std::function<void()> setup, int64_t limit_ms = 30'000) {
    bool timed_out = false;
    Reactor::OpId watchdog = 0;
    r().Post([&] {
      watchdog = r().TimerAt(NowNs() + Ms(limit_ms), [&] {
        timed_out = true;
        r().Stop();
      });
      setup();
    });
    r().Run();
    r().Cancel(watchdog);  // this thread is the reactor thread; the loop is idle
    EXPECT_FALSE(timed_out) << "the loop was not stopped within " << limit_ms << " ms";
  }

  std::unique_ptr<Reactor> reactor_;
};

}  // namespace brood::reactor
