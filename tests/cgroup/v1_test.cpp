// v1 specifics on a real v1 host: the values in the kernel's files, memsw ordering in both
// directions, and KillAll without a freezer. Skipped on v2 hosts.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace brood::cgroup
