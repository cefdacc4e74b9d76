// The warm pool: zygotes are reused, replaced when killed from outside, and no more than
// `slots` tasks run at once.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "support/procs.hpp"
#include "support/sandbox_env.hpp"

namespace brood::testing {
namespace {

std::vector<int> ChildrenOf(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<int> out;
  for (int c; in >> c;) out.push_back(c);
  return out;
}

// The zygotes of engines in this process: grandchildren of our brood-nest children.
std::vector<int> Zygotes() {
  std::vector<int> out;
  for (int n : ChildrenOf(getpid()))
    if (Comm(n) == "brood-nest")
      for (int h : ChildrenOf(n))
        if (Comm(h) == "brood-hatchery")
          for (int z : ChildrenOf(h))
            if (Comm(z) == "brood-zygote") out.push_back(z);
  return out;
}

TEST(Pool, ZygotesAreReusedAcrossTasks) {
  auto before = Zygotes();
  auto engine = MakeEngine(2);
  ASSERT_TRUE(engine);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(engine->Run(CmdJob({"true"})).status, TaskStatus::kOk);
  auto after = Zygotes();
  EXPECT_EQ(after.size(), before.size() + 2) << "one warm zygote per slot, reused";
}

TEST(Pool, AZygoteKilledFromOutsideIsReplaced) {
  auto engine = MakeEngine(1);
  ASSERT_TRUE(engine);
  ASSERT_EQ(engine->Run(CmdJob({"true"})).status, TaskStatus::kOk);
  auto before = Zygotes();
  ASSERT_FALSE(before.empty());
  for (int z : before) kill(z, SIGKILL);
  // The next tasks still run: the dead zygote is noticed and replaced (or retried once).
  for (int i = 0; i < 5; ++i) {
    Result r = engine->Run(CmdJob({"echo", "after"}));
    EXPECT_EQ(r.status, TaskStatus::kOk) << r.error.value_or("");
    EXPECT_EQ(r.stdout_data, "after\n");
  }
  auto after = Zygotes();
  for (int z : after)
    EXPECT_EQ(std::count(before.begin(), before.end(), z), 0) << "a killed zygote is not reused";
  EXPECT_FALSE(after.empty());
}

TEST(Pool, NoMoreThanSlotsTasksRunAtOnce) {
  auto engine = MakeEngine(2);
  ASSERT_TRUE(engine);
  // Each task prints when it started and ended (the host's clock, shared by the sandbox).
  std::vector<std::future<Result>> results;
  std::vector<std::thread> submitters;
  std::vector<std::promise<Result>> promises(6);
  for (auto& p : promises) results.push_back(p.get_future());
  for (int i = 0; i < 6; ++i)
    submitters.emplace_back([&, i] {
      engine->Submit(CmdJob({"sh", "-c", "date +%s%N; sleep 0.3; date +%s%N"}),
                     [&, i](Result r) { promises[i].set_value(std::move(r)); });
    });
  std::vector<std::pair<int64_t, int>> events;
  for (auto& f : results) {
    Result r = f.get();
    ASSERT_EQ(r.status, TaskStatus::kOk) << r.error.value_or("");
    std::istringstream in(r.stdout_data);
    int64_t start = 0, end = 0;
    in >> start >> end;
    events.push_back({start, +1});
    events.push_back({end, -1});
  }
  for (auto& t : submitters) t.join();
  std::sort(events.begin(), events.end());
  int running = 0, most = 0;
  for (auto [t, d] : events) most = std::max(most, running += d);
  EXPECT_LE(most, 2) << "slots bound the tasks running at once";
  EXPECT_EQ(most, 2) << "and both slots were used";
}

TEST(Pool, PeakMemoryIsEachTasksOwnInAReusedSlot) {
  // One slot: the small task runs in the cgroup the big one used. A kernel that cannot reset
  // memory.peak (v2 before 6.12) must not hand it the big one's peak.
  auto engine = MakeEngine(1);
  ASSERT_TRUE(engine);
  Job big = ProbeJob({"mem", "48"});
  big.limits.memory_mb = 128;
  Result r = RunChecked(engine.get(), big);
  ASSERT_EQ(r.status, TaskStatus::kOk) << r.stderr_data;
  EXPECT_GE(r.peak_memory_bytes, 48u << 20);
  r = RunChecked(engine.get(), ProbeJob({"mem", "4"}));
  ASSERT_EQ(r.status, TaskStatus::kOk) << r.stderr_data;
  EXPECT_GE(r.peak_memory_bytes, 4u << 20);
  EXPECT_LT(r.peak_memory_bytes, 40u << 20) << "the previous task's peak";
  // And a new high after that is seen in full.
  Job bigger = ProbeJob({"mem", "64"});
  bigger.limits.memory_mb = 128;
  r = RunChecked(engine.get(), bigger);
  ASSERT_EQ(r.status, TaskStatus::kOk) << r.stderr_data;
  EXPECT_GE(r.peak_memory_bytes, 64u << 20);
}

}  // namespace
}  // namespace brood::testing

namespace brood::testing {
namespace {

int SessionOf(int pid) {
  const std::string sid = StatFieldOf(pid, 6);
  return sid.empty() ? -1 : atoi(sid.c_str());
}

// A terminal's Ctrl-C goes to the caller's session and process group; the kernel delivers it
// even to a pid namespace's init. Only the engine decides what a stop kills: its helpers and
// every task process live in other sessions.
TEST(Pool, TaskProcessesLiveOutsideTheCallersSession) {
  auto engine = MakeEngine(1);
  ASSERT_TRUE(engine);
  std::promise<Result> done;
  std::thread submitter([&] {
    engine->Submit(CmdJob({"sleep", "1"}), [&](Result r) { done.set_value(std::move(r)); });
  });
  std::vector<int> inside;
  for (int i = 0; i < 200 && inside.size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    inside = SandboxDescendants();
  }
  submitter.join();
  ASSERT_GE(inside.size(), 2u) << "init and sleep";
  const int ours = getsid(0);
  for (int pid : inside) EXPECT_NE(SessionOf(pid), ours) << "pid " << pid;
  for (int z : Zygotes()) EXPECT_NE(SessionOf(z), ours) << "zygote " << z;
  EXPECT_EQ(done.get_future().get().status, TaskStatus::kOk);
}

}  // namespace
}  // namespace brood::testing
