// v2 on a real kernel. On a hybrid host the unified hierarchy has none of the controllers brood
// needs, but its core files (cgroup.procs, cgroup.kill, cgroup.subtree_control) are real: the v2
// tree logic (supervisor move, groups, cgroup.kill, teardown, stale trees) runs there with an
// empty controller list. The tests needing real v2 controllers skip on v1 hosts.
#include <gtest/gtest.h>

#include <algorithm>

#include "cgroup/cgroup_fs.hpp"
#include "cgroup/internal.hpp"
#include "cgroup_test_util.hpp"

namespace brood::cgroup {
namespace {

using cgtest::Child;
using cgtest::IsDir;
using cgtest::Slurp;

std::string OwnUnifiedPath() { return internal::ParseProcCgroup(Slurp("/proc/self/cgroup"))[""]; }

// Our own cgroup in a unified hierarchy that lacks brood's controllers, or "" (with the reason
// in `why`) when there is none such here.
std::string ControllerlessUnifiedCgroup(std::string* why) {
  auto mounts = internal::ParseCgroupMounts(Slurp("/proc/self/mountinfo"));
  auto m = std::find_if(mounts.begin(), mounts.end(), [](auto& c) { return c.v2; });
  if (m == mounts.end() || OwnUnifiedPath().empty()) {
    *why = "no cgroup2 mount";
    return "";
  }
  std::string dir = m->mount_point + (OwnUnifiedPath() == "/" ? "" : OwnUnifiedPath());
  if (Slurp(dir + "/cgroup.controllers").find("memory") != std::string::npos) {
    *why = "this is a v2 host: the real v2 backend runs in the HostGroup/HostTree/V2Host tests";
    return "";
  }
  if (::geteuid() != 0) {
    *why = "needs root to create cgroups in the unified hierarchy";
    return "";
  }
  return dir;
}

class UnifiedNoControllers : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    own_ = ControllerlessUnifiedCgroup(&why);
    if (own_.empty()) GTEST_SKIP() << why;
    // brood's own cgroup, as if started in a delegated one: we move in, as brood would be.
    base_ = own_ + "/brood-v2test-" + std::to_string(::getpid());
    ASSERT_TRUE(fs::MakeDir(base_).ok());
    ASSERT_TRUE(fs::WriteFile(base_ + "/cgroup.procs", std::to_string(::getpid())).ok());
  }
  void TearDown() override {
    if (base_.empty()) return;
    EXPECT_TRUE(fs::WriteFile(own_ + "/cgroup.procs", std::to_string(::getpid())).ok());
    EXPECT_TRUE(fs::RemoveTree(base_).ok());
  }

  std::string own_, base_;
};

TEST_F(UnifiedNoControllers, SupervisorMoveGroupsKillAndTeardown) {
  internal::Layout layout;
  layout.version = Version::kV2;
  layout.v2_base = base_;
  auto tree = internal::CreateV2Tree(layout, {});
  ASSERT_TRUE(tree.ok()) << tree.status().message();
  const std::string top = base_ + "/brood-" + std::to_string(::getpid());
  EXPECT_TRUE(OwnUnifiedPath().ends_with("/brood-" + std::to_string(::getpid()) + "/supervisor"))
      << OwnUnifiedPath();

  auto g = (*tree)->MakeGroup("t0");
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_FALSE((*tree)->MakeGroup("supervisor").ok());
  EXPECT_EQ((*g)->ProcsFiles(), std::vector<std::string>{top + "/t0/task/cgroup.procs"});
  EXPECT_EQ((*g)->HelperProcsFiles(), std::vector<std::string>{top + "/t0/helpers/cgroup.procs"});
  Child child([] {
    if (::fork() == 0) ::pause();
    ::pause();
    return 0;
  });
  ASSERT_TRUE((*g)->Attach(child.pid()).ok());
  child.Release();
  ::usleep(20000);
  ASSERT_TRUE((*g)->KillAll().ok());  // cgroup.kill on 5.14+
  EXPECT_EQ(Slurp(top + "/t0/cgroup.procs"), "");
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;

  tree.value().reset();
  EXPECT_EQ(OwnUnifiedPath(), base_.substr(base_.find("/brood-v2test-")));
  EXPECT_FALSE(IsDir(top));
  g.value().reset();
}

TEST_F(UnifiedNoControllers, StaleTreeWithSupervisorIsRemoved) {
  Child gone([] { return 0; });
  gone.Release();
  gone.Wait();
  const std::string stale = base_ + "/brood-" + std::to_string(gone.pid());
  ASSERT_TRUE(fs::MakeDir(stale).ok());
  ASSERT_TRUE(fs::MakeDir(stale + "/supervisor").ok());
  ASSERT_TRUE(fs::MakeDir(stale + "/t1").ok());
  Child orphan([] {
    for (;;) ::pause();
    return 0;
  });
  ASSERT_TRUE(fs::WriteFile(stale + "/t1/cgroup.procs", std::to_string(orphan.pid())).ok());
  internal::RemoveStaleTrees({base_});
  int status = orphan.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_FALSE(IsDir(stale));
}

class V2Host : public ::testing::Test {
 protected:
  void SetUp() override {
    const Probe& p = cgtest::HostProbe();
    if (p.version != Version::kV2 || !p.usable()) {
      GTEST_SKIP() << "needs a usable cgroup v2 host (memory, pids, cpu delegated); this one is "
                   << VersionName(p.version)
                   << (p.problems.empty() ? "" : " (" + cgtest::Problems(p) + ")");
    }
  }
};

TEST_F(V2Host, SupervisorAndControllers) {
  auto tree = Tree::Create({});
  ASSERT_TRUE(tree.ok()) << tree.status().message();
  const std::string top = cgtest::HostProbe().bases[0] + "/brood-" + std::to_string(::getpid());
  EXPECT_TRUE(OwnUnifiedPath().ends_with("/supervisor")) << OwnUnifiedPath();
  const std::string enabled = Slurp(top + "/cgroup.subtree_control");
  for (const char* c : {"memory", "pids", "cpu"}) {
    EXPECT_NE(enabled.find(c), std::string::npos) << enabled;
  }
  auto g = (*tree)->MakeGroup("t0");
  ASSERT_TRUE(g.ok()) << g.status().message();
  ASSERT_TRUE(
      (*g)->SetLimits({.memory_bytes = 32 << 20, .pids = 5, .group_pids = 9, .cpus = 0.5}).ok());
  // The memory and pids limits are the task leaf's; the group caps the pids of task and
  // helpers together and holds the CPU bandwidth of the whole slot (zygotes included).
  const std::string leaves = Slurp(top + "/t0/cgroup.subtree_control");
  EXPECT_NE(leaves.find("memory"), std::string::npos) << leaves;
  EXPECT_NE(leaves.find("pids"), std::string::npos) << leaves;
  EXPECT_EQ(leaves.find("cpu"), std::string::npos) << leaves;
  EXPECT_EQ(Slurp(top + "/t0/task/memory.max"), "33554432\n");
  EXPECT_EQ(Slurp(top + "/t0/helpers/memory.max"), "max\n");
  EXPECT_EQ(Slurp(top + "/t0/task/pids.max"), "5\n");
  EXPECT_EQ(Slurp(top + "/t0/helpers/pids.max"), "max\n");
  EXPECT_EQ(Slurp(top + "/t0/pids.max"), "9\n");
  // CPU time is counted in the leaf without the cpu controller there.
  EXPECT_NE(Slurp(top + "/t0/task/cpu.stat").find("usage_usec"), std::string::npos);
  EXPECT_EQ(Slurp(top + "/t0/cpu.max"), "50000 100000\n");
  if (fs::Exists(top + "/t0/task/memory.swap.max")) {
    EXPECT_EQ(Slurp(top + "/t0/task/memory.swap.max"), "0\n");
  }
  g.value().reset();
  tree.value().reset();
  EXPECT_FALSE(IsDir(top));
  EXPECT_FALSE(OwnUnifiedPath().ends_with("/supervisor")) << OwnUnifiedPath();
}

}  // namespace
}  // namespace brood::cgroup
