// Real outcomes on this host's cgroups, whichever version it has: OOM kills, the pids limit,
// CPU accounting, KillAll, the OOM event fd. Skipped (with the reason) where cgroups are unusable.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <time.h>

#include <chrono>
#include <thread>

#include "cgroup_test_util.hpp"

namespace brood::cgroup {
namespace {

using cgtest::Child;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMiB = 1 << 20;

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Touches `bytes` of fresh anonymous memory, page by page.
int Hog(size_t bytes) {
  auto* p = static_cast<volatile char*>(
      ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (p == MAP_FAILED) return 2;
  for (size_t i = 0; i < bytes; i += 4096) p[i] = 1;
  return 0;
}

bool AllProcsEmpty(const Group& g) {
  for (const std::string& f : g.ProcsFiles()) {
    if (!cgtest::Slurp(f).empty()) return false;
  }
  return true;
}

class HostGroup : public ::testing::Test {
 protected:
  void SetUp() override {
    const Probe& p = cgtest::HostProbe();
    if (!p.usable()) {
      GTEST_SKIP() << "no usable cgroups here (" << VersionName(p.version)
                   << "): " << cgtest::Problems(p);
    }
    auto tree = Tree::Create({});
    ASSERT_TRUE(tree.ok()) << tree.status().message();
    tree_ = std::move(tree.value());
  }

  std::unique_ptr<Group> Make(const std::string& name, GroupLimits limits) {
    auto g = tree_->MakeGroup(name);
    EXPECT_TRUE(g.ok()) << g.status().message();
    if (!g.ok()) return nullptr;
    sys::Status st = (*g)->SetLimits(limits);
    EXPECT_TRUE(st.ok()) << st.message();
    return std::move(g.value());
  }

  std::unique_ptr<Tree> tree_;
};

TEST_F(HostGroup, MemoryHogIsOomKilledAndCounted) {
  auto g = Make("oom", {.memory_bytes = 32 * kMiB, .pids = 16, .cpus = 1});
  ASSERT_TRUE(g);
  auto efd = g->OomEventFd();
  ASSERT_TRUE(efd.ok()) << efd.status().message();
  Child child([] { return Hog(64 * kMiB); });
  auto t0 = Clock::now();
  ASSERT_TRUE(g->Attach(child.pid()).ok());
  std::cout << "attach: " << MsSince(t0) << " ms\n";
  t0 = Clock::now();
  child.Release();
  pollfd p{efd->get(), POLLIN, 0};
  int ready = ::poll(&p, 1, 10000);
  double event_ms = MsSince(t0);
  int status = child.Wait();
  double exit_ms = MsSince(t0);
  std::cout << "OOM event fd readable " << event_ms << " ms after release, child reaped at "
            << exit_ms << " ms\n";
  EXPECT_EQ(ready, 1) << "OomEventFd not readable within 10 s";
  ASSERT_TRUE(WIFSIGNALED(status)) << "child was not killed, status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  auto u = g->ReadUsage();
  ASSERT_TRUE(u.ok()) << u.status().message();
  std::cout << "usage: oom_kills " << u->oom_kills << ", peak " << u->peak_memory_bytes
            << ", memory_max_events " << u->memory_max_events << "\n";
  EXPECT_GE(u->oom_kills, 1u);
  EXPECT_LE(u->peak_memory_bytes, 32 * kMiB);
  EXPECT_GE(u->peak_memory_bytes, 28 * kMiB);
  EXPECT_GE(u->memory_max_events, 1u);

  // The peak goes back to the (now tiny) current usage; a kernel that cannot reset it (v2
  // before 6.12) keeps the old one and says so.
  ASSERT_TRUE(g->ResetPeak().ok());
  auto after = g->ReadUsage();
  ASSERT_TRUE(after.ok());
  if (after->peak_exact) {
    EXPECT_LT(after->peak_memory_bytes, 8 * kMiB);
  } else {
    std::cout << "memory.peak not resettable here: peak_exact false after ResetPeak\n";
    EXPECT_EQ(after->peak_memory_bytes, u->peak_memory_bytes);
  }
  EXPECT_EQ(after->oom_kills, u->oom_kills);  // counters stay cumulative
}

TEST_F(HostGroup, PidsLimitMakesTheSixthProcessFailWithEagain) {
  auto g = Make("pids", {.memory_bytes = 64 * kMiB, .pids = 5, .cpus = 1});
  ASSERT_TRUE(g);
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  Child child([&] {
    int forks = 0, err = 0;
    for (int i = 0; i < 20; ++i) {
      pid_t pid = ::fork();
      if (pid == 0) {
        ::pause();
        _exit(0);
      }
      if (pid < 0) {
        err = errno;
        break;
      }
      ++forks;
    }
    int out[2] = {forks, err};
    if (::write(report[1], out, sizeof out) != sizeof out) return 3;
    ::pause();
    return 0;
  });
  ::close(report[1]);
  ASSERT_TRUE(g->Attach(child.pid()).ok());
  child.Release();
  int got[2] = {-1, -1};
  ASSERT_EQ(::read(report[0], got, sizeof got), static_cast<ssize_t>(sizeof got));
  ::close(report[0]);
  EXPECT_EQ(got[0], 4) << "the child and 4 forks make 5 processes";
  EXPECT_EQ(got[1], EAGAIN) << "fork failed with " << got[1];
  auto u = g->ReadUsage();
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_GE(u->pids_max_events, 1u);

  auto t0 = Clock::now();
  ASSERT_TRUE(g->KillAll().ok());
  std::cout << "KillAll of 5 processes: " << MsSince(t0) << " ms\n";
  EXPECT_TRUE(AllProcsEmpty(*g));
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

TEST_F(HostGroup, CpuTimeGrowsMonotonically) {
  auto g = Make("cpu", {.memory_bytes = 64 * kMiB, .pids = 4, .cpus = 1});
  ASSERT_TRUE(g);
  Child child([] {
    timespec ts{};
    do {
      ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    } while (ts.tv_sec == 0 && ts.tv_nsec < 300'000'000);
    return 0;
  });
  ASSERT_TRUE(g->Attach(child.pid()).ok());
  auto start = g->ReadUsage();
  ASSERT_TRUE(start.ok()) << start.status().message();
  child.Release();
  uint64_t last = start->cpu_ns;
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto u = g->ReadUsage();
    ASSERT_TRUE(u.ok()) << u.status().message();
    EXPECT_GE(u->cpu_ns, last);
    last = u->cpu_ns;
  }
  int status = child.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  auto end = g->ReadUsage();
  ASSERT_TRUE(end.ok());
  EXPECT_GE(end->cpu_ns, last);  // the exited child's time stays counted
  EXPECT_GT(end->cpu_ns, start->cpu_ns);
}

TEST_F(HostGroup, KillAllEmptiesTheGroup) {
  auto g = Make("kill", {.memory_bytes = 64 * kMiB, .pids = 32, .cpus = 1});
  ASSERT_TRUE(g);
  Child child([] {
    for (int i = 0; i < 3; ++i) {
      if (::fork() == 0) {
        for (;;) ::pause();
      }
    }
    for (;;) ::pause();
    return 0;
  });
  ASSERT_TRUE(g->Attach(child.pid()).ok());
  child.Release();
  // Wait until all four are in (forks are quick, but not instant).
  for (int i = 0; i < 200; ++i) {
    auto procs = cgtest::Slurp(g->ProcsFiles()[0]);
    if (std::count(procs.begin(), procs.end(), '\n') == 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(g->KillAll().ok());
  EXPECT_TRUE(AllProcsEmpty(*g));
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_TRUE(g->KillAll().ok());  // on an empty group: nothing to do
}

TEST_F(HostGroup, AttachTiming) {
  auto g = Make("attach", {.memory_bytes = 64 * kMiB, .pids = 32, .cpus = 1});
  ASSERT_TRUE(g);
  std::vector<std::unique_ptr<Child>> kids;
  std::string spaced, back_to_back;
  for (int i = 0; i < 6; ++i) {
    kids.push_back(std::make_unique<Child>([] { return 0; }));
    if (i < 3) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto t0 = Clock::now();
    ASSERT_TRUE(g->Attach(kids.back()->pid()).ok());
    (i < 3 ? spaced : back_to_back) += std::to_string(MsSince(t0)) + " ";
  }
  std::cout << "attach ms, spaced 100 ms apart: " << spaced << "; back to back: " << back_to_back
            << "(" << g->ProcsFiles().size() << " cgroup.procs files)\n";
  EXPECT_TRUE(g->KillAll().ok());
}

}  // namespace
}  // namespace brood::cgroup
