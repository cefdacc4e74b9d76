// Real outcomes on this host's cgroups, whichever version it has: OOM kills, the pids limit,
// CPU accounting, KillAll, the OOM event fd. Skipped (with the reason) where cgroups are unusable.
#include <gtest/gtest.h>
#include <poll.h>
#include <time.h>

#include <chrono>
#include <thread>

#include "cgroup_test_util.hpp"

namespace brood::cgroup {
namespace {

using cgtest::Child;
using cgtest::Hog;
using cgtest::Spin;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMiB = 1 << 20;

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
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

// Forks up to `n` children that stay alive together, then kills and reaps them: how many forks
// succeeded (n when none was refused) in the low byte, a refused fork's errno above it.
int ForkUpTo(int n) {
  std::vector<pid_t> kids;
  int err = 0;
  while (static_cast<int>(kids.size()) < n) {
    pid_t pid = ::fork();
    if (pid == 0) {
      for (;;) ::pause();
    }
    if (pid < 0) {
      err = errno;
      break;
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) ::kill(pid, SIGKILL);
  for (pid_t pid : kids) ::waitpid(pid, nullptr, 0);
  return static_cast<int>(kids.size()) | err << 8;
}

// The task leaf counts the task alone: a helper process in the group (outside the leaf, as the
// slot's zygotes and each task's init are) neither moves the leaf's CPU time nor its refused
// forks, and is not held to the task's pids limit (only to the group's cap); a process in the
// leaf is counted and held to it exactly.
TEST_F(HostGroup, TaskLeafCountsOnlyTheTask) {
  auto g = Make("leaf", {.memory_bytes = 64 * kMiB, .pids = 3, .group_pids = 12, .cpus = 0});
  ASSERT_TRUE(g);
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  auto body = [&] {
    Spin(200);
    int r = ForkUpTo(6);
    (void)!::write(report[1], &r, sizeof r);
    return 0;
  };
  auto run = [&](bool in_leaf) {
    Child child(body);
    if (in_leaf) {
      EXPECT_TRUE(g->Attach(child.pid()).ok());
    } else {
      for (const std::string& f : g->HelperProcsFiles()) {
        EXPECT_TRUE(cgtest::WriteProcs(f, child.pid())) << f;
      }
    }
    child.Release();
    int r = -1;
    EXPECT_EQ(::read(report[0], &r, sizeof r), static_cast<ssize_t>(sizeof r));
    child.Wait();
    return r;
  };
  auto before = g->ReadUsage();
  ASSERT_TRUE(before.ok()) << before.status().message();
  // A helper: 200 ms of CPU and 6 children (7 processes, over the task's 3, under the cap).
  EXPECT_EQ(run(false), 6) << "a helper's forks are the group cap's business only";
  auto helper = g->ReadUsage();
  ASSERT_TRUE(helper.ok()) << helper.status().message();
  EXPECT_EQ(helper->cpu_ns, before->cpu_ns) << "a helper's CPU time was charged to the task";
  EXPECT_EQ(helper->pids_max_events, before->pids_max_events);
  // The task: the same, in the leaf. It and 2 children make 3 processes; the third fork fails.
  EXPECT_EQ(run(true), 2 | EAGAIN << 8);
  auto task = g->ReadUsage();
  ASSERT_TRUE(task.ok()) << task.status().message();
  std::cout << "task leaf cpu_ns: +" << task->cpu_ns - helper->cpu_ns << " for 200 ms spun\n";
  EXPECT_GE(task->cpu_ns - helper->cpu_ns, 190'000'000u);
  EXPECT_GE(task->pids_max_events, helper->pids_max_events + 1);
  ::close(report[0]);
  ::close(report[1]);
  EXPECT_TRUE(g->KillAll().ok());
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
