// v1 specifics on a real v1 host: the values in the kernel's files, memsw ordering in both
// directions, and KillAll without a freezer. Skipped on v2 hosts.
#include <gtest/gtest.h>

#include <algorithm>

#include "cgroup/cgroup_fs.hpp"
#include "cgroup/internal.hpp"
#include "cgroup_test_util.hpp"

namespace brood::cgroup {
namespace {

using cgtest::Child;
using cgtest::Slurp;

constexpr uint64_t kMiB = 1 << 20;

class V1Host : public ::testing::Test {
 protected:
  void SetUp() override {
    const Probe& p = cgtest::HostProbe();
    if (p.version != Version::kV1 || !p.usable()) {
      GTEST_SKIP() << "needs a usable cgroup v1 host; this one is " << VersionName(p.version)
                   << (p.usable() ? "" : " (unusable: " + cgtest::Problems(p) + ")");
    }
    internal::DetectFrom({}, Slurp("/proc/self/mountinfo"), Slurp("/proc/self/cgroup"), &layout_);
    auto tree = Tree::Create({});
    ASSERT_TRUE(tree.ok()) << tree.status().message();
    tree_ = std::move(tree.value());
    auto g = tree_->MakeGroup("g");
    ASSERT_TRUE(g.ok()) << g.status().message();
    group_ = std::move(g.value());
    const std::string sub = "/brood-" + std::to_string(::getpid()) + "/g";
    auto below = [&](const std::string& b) { return b.empty() ? b : b + sub; };
    dirs_ = {below(layout_.memory), below(layout_.pids), below(layout_.cpu), below(layout_.cpuacct),
             below(layout_.freezer)};
  }

  uint64_t Read(const std::string& path) {
    auto v = fs::ReadU64(path);
    EXPECT_TRUE(v.ok()) << v.status().message();
    return v.ok() ? *v : 0;
  }

  internal::Layout layout_;
  std::unique_ptr<Tree> tree_;
  std::unique_ptr<Group> group_;
  internal::V1Dirs dirs_;
};

TEST_F(V1Host, LimitsLandInTheKernelFiles) {
  ASSERT_TRUE(
      group_->SetLimits({.memory_bytes = 32 * kMiB, .pids = 5, .group_pids = 9, .cpus = 0.5}).ok());
  // The memory limit is the task leaf's; the group itself (zygotes, inits) has none.
  EXPECT_EQ(Read(dirs_.memory + "/task/memory.limit_in_bytes"), 32 * kMiB);
  EXPECT_GT(Read(dirs_.memory + "/memory.limit_in_bytes"), 32 * kMiB);
  if (layout_.memory_swap) {
    EXPECT_EQ(Read(dirs_.memory + "/task/memory.memsw.limit_in_bytes"), 32 * kMiB + 4096);
  }
  // The task's pids limit is the leaf's; the group's caps task and helpers together.
  EXPECT_EQ(Read(dirs_.pids + "/task/pids.max"), 5u);
  EXPECT_EQ(Read(dirs_.pids + "/pids.max"), 9u);
  // CPU bandwidth stays the group's; the leaf exists where the task is counted apart.
  EXPECT_EQ(Read(dirs_.cpu + "/cpu.cfs_period_us"), 100000u);
  EXPECT_EQ(Read(dirs_.cpu + "/cpu.cfs_quota_us"), 50000u);
  std::vector<std::string> procs = {dirs_.memory + "/task/cgroup.procs",
                                    dirs_.pids + "/task/cgroup.procs"};
  if (dirs_.cpuacct != dirs_.memory && dirs_.cpuacct != dirs_.pids)
    procs.push_back(dirs_.cpuacct + "/task/cgroup.procs");
  EXPECT_EQ(group_->Task().procs, procs);
  EXPECT_TRUE(fs::Exists(dirs_.cpuacct + "/task/cpuacct.usage"));
  if (dirs_.cpu != dirs_.cpuacct) {
    EXPECT_FALSE(cgtest::IsDir(dirs_.cpu + "/task"));
  }
  if (!dirs_.freezer.empty()) {
    EXPECT_FALSE(cgtest::IsDir(dirs_.freezer + "/task"));
  }
  std::cout << "memsw: " << (layout_.memory_swap ? "present" : "absent")
            << ", freezer: " << (layout_.freezer.empty() ? "absent" : layout_.freezer) << "\n";
}

TEST_F(V1Host, MemswOrderHoldsRaisingAndLowering) {
  if (!layout_.memory_swap) GTEST_SKIP() << "memory.memsw.* absent (swapaccount=0)";
  // The kernel refuses memsw < memory with EINVAL: each step must pick the right order.
  for (uint64_t mib : {32, 256, 16, 1024, 8}) {
    sys::Status st = group_->SetLimits({.memory_bytes = mib * kMiB, .pids = 5, .cpus = 1});
    ASSERT_TRUE(st.ok()) << mib << " MiB: " << st.message();
    EXPECT_EQ(Read(dirs_.memory + "/task/memory.limit_in_bytes"), mib * kMiB);
    EXPECT_EQ(Read(dirs_.memory + "/task/memory.memsw.limit_in_bytes"), mib * kMiB + 4096);
  }
  // Unlimited again (0): both back to the kernel's "no limit".
  ASSERT_TRUE(group_->SetLimits({.memory_bytes = 0, .pids = 0, .cpus = 0}).ok());
  EXPECT_GT(Read(dirs_.memory + "/task/memory.limit_in_bytes"), uint64_t{1} << 60);
  EXPECT_EQ(Slurp(dirs_.pids + "/pids.max"), "max\n");
  EXPECT_EQ(Slurp(dirs_.pids + "/task/pids.max"), "max\n");
  EXPECT_EQ(Slurp(dirs_.cpu + "/cpu.cfs_quota_us"), "-1\n");
}

TEST_F(V1Host, RealErrorNamesPathAndValue) {
  // 100 µs is below the kernel's minimum CFS period: EINVAL, reported with the value.
  sys::Status st = fs::WriteFile(dirs_.cpu + "/cpu.cfs_period_us", "100");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(),
            "write(" + dirs_.cpu + "/cpu.cfs_period_us, 100): EINVAL (Invalid argument)");
}

TEST_F(V1Host, KillAllWithoutFreezerLoops) {
  internal::V1Dirs no_freezer = dirs_;
  no_freezer.freezer.clear();
  auto g = internal::V1GroupAt(no_freezer, "g");
  // The bomb runs in the group's own directories (V1GroupAt has no leaf): the cap bounds it.
  ASSERT_TRUE(
      group_->SetLimits({.memory_bytes = 64 * kMiB, .pids = 64, .group_pids = 64, .cpus = 1}).ok());
  Child bomb([] {
    // Keeps forking (bounded by the group's pids.max) while KillAll runs.
    for (;;) {
      if (::fork() < 0) ::usleep(1000);
    }
    return 0;
  });
  ASSERT_TRUE(g->Attach(bomb.pid()).ok());
  bomb.Release();
  ::usleep(50000);
  ASSERT_TRUE(g->KillAll().ok());
  for (const std::string& f : g->ProcsFiles()) EXPECT_EQ(Slurp(f), "") << f;
  int status = bomb.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

// A command leaf: below the task leaf in memory, pids and cpuacct, below the group in the
// freezer (which has no task leaf); the group's own cpu where cpu is not co-mounted.
TEST_F(V1Host, CommandLeafLayout) {
  auto leaf = group_->MakeLeaf("c", 0, 0);
  ASSERT_TRUE(leaf.ok()) << leaf.status().message();
  const LeafJoin j = (*leaf)->Join();
  EXPECT_FALSE(j.clone_into);
  EXPECT_EQ(j.dir, dirs_.memory + "/task/c");
  EXPECT_EQ(j.memory_stat, dirs_.memory + "/task/c/memory.stat");
  std::vector<std::string> dirs;
  for (const std::string& d :
       {dirs_.memory + "/task/c", dirs_.pids + "/task/c", dirs_.cpuacct + "/task/c",
        dirs_.freezer.empty() ? std::string() : dirs_.freezer + "/c"}) {
    if (!d.empty() && std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
  }
  std::vector<std::string> procs;
  for (const std::string& d : dirs) procs.push_back(d + "/cgroup.procs");
  EXPECT_EQ(j.procs, procs);
  for (const std::string& d : dirs) EXPECT_TRUE(cgtest::IsDir(d)) << d;
  if (dirs_.cpu != dirs_.cpuacct) {
    EXPECT_FALSE(cgtest::IsDir(dirs_.cpu + "/c"));
    EXPECT_FALSE(cgtest::IsDir(dirs_.cpu + "/task"));
  }
  if (!dirs_.freezer.empty()) {
    EXPECT_FALSE(cgtest::IsDir(dirs_.freezer + "/task"));
  }
  // Born unlimited below the session's limits, which hold hierarchically.
  EXPECT_GT(Read(dirs_.memory + "/task/c/memory.limit_in_bytes"), uint64_t{1} << 60);
  EXPECT_EQ(Slurp(dirs_.pids + "/task/c/pids.max"), "max\n");
  leaf.value().reset();
  for (const std::string& d : dirs) EXPECT_FALSE(cgtest::IsDir(d)) << d;
}

// Where v1 counts what happens in a command leaf under the session's limits (printed; the
// session code relies on Group::ReadUsage, which adds the leaves' counts where the kernel keeps
// them in the leaf only).
TEST_F(V1Host, LeafEventsAndWhereTheKernelCountsThem) {
  ASSERT_TRUE(group_->SetLimits({.memory_bytes = 32 * kMiB, .pids = 3, .cpus = 1}).ok());
  auto leaf = group_->MakeLeaf("c", 0, 0);
  ASSERT_TRUE(leaf.ok()) << leaf.status().message();
  const std::vector<std::string> procs = (*leaf)->Join().procs;
  Child hog([&] { return cgtest::JoinSelf(procs) ? cgtest::Hog(64 * kMiB) : 90; });
  hog.Release();
  int status = hog.Wait();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  Child forker([&] {
    if (!cgtest::JoinSelf(procs)) return 90;
    pid_t kids[3];
    int n = 0;
    for (; n < 3 && (kids[n] = ::fork()) > 0; ++n) {
    }
    if (n < 3 && kids[n] == 0) _exit(0);
    for (int i = 0; i < n; ++i) ::waitpid(kids[i], nullptr, 0);
    return n;
  });
  forker.Release();
  status = forker.Wait();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 2) << "it and 2 children make the session's 3";
  const std::string task_oom = Slurp(dirs_.memory + "/task/memory.oom_control");
  const std::string leaf_oom = Slurp(dirs_.memory + "/task/c/memory.oom_control");
  const std::string task_pids = Slurp(dirs_.pids + "/task/pids.events");
  const std::string leaf_pids = Slurp(dirs_.pids + "/task/c/pids.events");
  std::cout << "oom_kill: task leaf " << fs::KeyedValue(task_oom, "oom_kill").value_or(99)
            << ", command leaf " << fs::KeyedValue(leaf_oom, "oom_kill").value_or(99)
            << "; pids.events max: task leaf " << fs::KeyedValue(task_pids, "max").value_or(99)
            << ", command leaf " << fs::KeyedValue(leaf_pids, "max").value_or(99)
            << "; task leaf failcnt " << Slurp(dirs_.memory + "/task/memory.failcnt");
  EXPECT_GE((*leaf)->OomKills(), 1u);
  auto u = group_->ReadUsage();
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_GE(u->oom_kills, 1u);
  EXPECT_GE(u->pids_max_events, 1u);
  leaf.value().reset();
  auto later = group_->ReadUsage();
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->oom_kills, u->oom_kills);
  EXPECT_EQ(later->pids_max_events, u->pids_max_events);
}

TEST_F(V1Host, LeafKillAllWithoutFreezerLoops) {
  internal::V1Dirs no_freezer = dirs_;
  no_freezer.freezer.clear();
  auto g = internal::V1GroupAt(no_freezer, "g");
  // V1GroupAt has no task leaf: the leaf is <hierarchy>/g/c, under the group's cap.
  ASSERT_TRUE(
      group_->SetLimits({.memory_bytes = 64 * kMiB, .pids = 64, .group_pids = 64, .cpus = 1}).ok());
  auto leaf = g->MakeLeaf("c", 0, 0);
  ASSERT_TRUE(leaf.ok()) << leaf.status().message();
  EXPECT_EQ((*leaf)->Join().procs.size(), 3u);  // memory, pids, cpuacct; no freezer
  const std::vector<std::string> procs = (*leaf)->Join().procs;
  Child bomb([&] {
    if (!cgtest::JoinSelf(procs)) return 90;
    for (;;) {
      if (::fork() < 0) ::usleep(1000);
    }
    return 0;
  });
  bomb.Release();
  ::usleep(50000);
  ASSERT_TRUE((*leaf)->KillAll().ok());
  EXPECT_TRUE((*leaf)->Empty());
  int status = bomb.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

}  // namespace
}  // namespace brood::cgroup
