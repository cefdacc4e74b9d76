// v2 on a real kernel. On a hybrid host the unified hierarchy has none of the controllers brood
// needs, but its core files (cgroup.procs, cgroup.kill, cgroup.subtree_control) are real: the v2
// tree logic (supervisor move, groups, cgroup.kill, teardown, stale trees) runs there with an
// empty controller list. The tests needing real v2 controllers skip on v1 hosts.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>

#include "cgroup/cgroup_fs.hpp"
#include "cgroup/internal.hpp"
#include "cgroup_test_util.hpp"

namespace brood::cgroup {
namespace {

using cgtest::Child;
using cgtest::IsDir;
using cgtest::Slurp;

constexpr uid_t kUser = 65534;  // the sandbox user of a session's init, here nobody

std::string OwnUnifiedPath() { return internal::ParseProcCgroup(Slurp("/proc/self/cgroup"))[""]; }

bool InProcs(const std::string& file, pid_t pid) {
  std::string text = "\n" + Slurp(file);
  return text.find("\n" + std::to_string(pid) + "\n") != std::string::npos;
}

// A session's command as the session starts it: its init, in the group's helpers leaf and
// running as the sandbox user, clones it straight into a command leaf (clone3
// CLONE_INTO_CGROUP). Delegate and MakeLeaf give that user what the kernel checks; a leaf made
// for root is refused. The command spins 50 ms of CPU and pauses; Leaf::KillAll ends it.
void CloneIntoLeafAsTheSandboxUser(Group& g) {
  ASSERT_TRUE(g.Delegate(kUser, kUser).ok());
  auto leaf = g.MakeLeaf("c1", kUser, kUser);
  ASSERT_TRUE(leaf.ok()) << leaf.status().message();
  auto locked = g.MakeLeaf("c2", 0, 0);
  ASSERT_TRUE(locked.ok()) << locked.status().message();
  const LeafJoin j = (*leaf)->Join();
  EXPECT_TRUE(j.clone_into);
  ASSERT_EQ(j.procs.size(), 1u);
  EXPECT_EQ(j.procs[0], j.dir + "/cgroup.procs");
  struct stat st {};
  ASSERT_EQ(::stat(j.procs[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kUser);
  EXPECT_TRUE((*leaf)->Empty());
  const std::vector<std::string> helpers = g.HelperProcsFiles();
  const std::string dirs[2] = {j.dir, (*locked)->Join().dir};
  int report[2], spun[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(spun, O_CLOEXEC), 0);
  Child init([&] {
    if (!cgtest::JoinSelf(helpers)) return 90;
    int fds[2];
    for (int i = 0; i < 2; ++i) {
      fds[i] = ::open(dirs[i].c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (fds[i] < 0) return 91;
    }
    if (::setgroups(0, nullptr) != 0 || ::setresgid(kUser, kUser, kUser) != 0 ||
        ::setresuid(kUser, kUser, kUser) != 0) {
      return 92;
    }
    int out[2];
    out[1] = cgtest::CloneInto(fds[1], [] { return 0; });  // -EACCES expected
    out[0] = cgtest::CloneInto(fds[0], [&] {
      cgtest::Spin(50);
      (void)!::write(spun[1], "s", 1);
      for (;;) ::pause();
      return 0;
    });
    (void)!::write(report[1], out, sizeof out);
    for (;;) ::pause();
    return 0;
  });
  ::close(report[1]);
  ::close(spun[1]);
  init.Release();
  int got[2] = {0, 0};
  ASSERT_EQ(::read(report[0], got, sizeof got), static_cast<ssize_t>(sizeof got))
      << "the init failed: status " << init.Wait();
  ::close(report[0]);
  EXPECT_EQ(got[1], -EACCES) << "clone3 into a leaf not given to the user";
  ASSERT_GT(got[0], 0) << "clone3 into the leaf: " << strerror(-got[0]);
  char c;
  EXPECT_EQ(::read(spun[0], &c, 1), 1);
  ::close(spun[0]);
  EXPECT_TRUE(InProcs(j.procs[0], got[0]));
  EXPECT_TRUE(InProcs(helpers[0], init.pid()));
  EXPECT_FALSE((*leaf)->Empty());
  auto cpu = (*leaf)->CpuNs();
  ASSERT_TRUE(cpu.ok()) << cpu.status().message();
  EXPECT_GE(*cpu, 40'000'000u);
  ASSERT_TRUE((*leaf)->KillAll().ok());
  EXPECT_TRUE((*leaf)->Empty());
  EXPECT_TRUE(cgtest::Exited(got[0]));
  EXPECT_FALSE(cgtest::Exited(init.pid())) << "the session's init was killed with the command";
  leaf.value().reset();
  locked.value().reset();
  EXPECT_FALSE(IsDir(dirs[0]));
  EXPECT_FALSE(IsDir(dirs[1]));
  ASSERT_TRUE(g.KillAll().ok());
  int status = init.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

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

// Sessions' command leaves on real v2 files (no controllers here): clone3 into a leaf as the
// sandbox user; the group's KillAll and destructor take the leaves left behind with them.
TEST_F(UnifiedNoControllers, CommandLeavesCloneIntoKillAndCleanup) {
  internal::Layout layout;
  layout.version = Version::kV2;
  layout.v2_base = base_;
  auto tree = internal::CreateV2Tree(layout, {});
  ASSERT_TRUE(tree.ok()) << tree.status().message();
  const std::string top = base_ + "/brood-" + std::to_string(::getpid());
  auto g = (*tree)->MakeGroup("s");
  ASSERT_TRUE(g.ok()) << g.status().message();
  CloneIntoLeafAsTheSandboxUser(**g);
  const std::string handed = Slurp(top + "/s/task/cgroup.subtree_control");
  EXPECT_EQ(handed.find_first_not_of(" \n"), std::string::npos) << "none to hand down: " << handed;

  // A leaf given up while its process lives (a command's background process) stays; the
  // session's KillAll kills the process, its destructor removes the leaf.
  auto bg = (*g)->MakeLeaf("c3", 0, 0);
  ASSERT_TRUE(bg.ok()) << bg.status().message();
  EXPECT_EQ((*bg)->Join().dir, top + "/s/task/c3");
  sys::UniqueFd dir(::open((*bg)->Join().dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  pid_t daemon = cgtest::CloneInto(dir.get(), [] {
    for (;;) ::pause();
    return 0;
  });
  ASSERT_GT(daemon, 0) << strerror(-daemon);
  bg.value().reset();
  EXPECT_TRUE(IsDir(top + "/s/task/c3"));
  ASSERT_TRUE((*g)->KillAll().ok());
  int status = 0;
  EXPECT_EQ(::waitpid(daemon, &status, 0), daemon);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  g.value().reset();
  EXPECT_FALSE(IsDir(top + "/s"));
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

// The task leaf of a session becomes an inner node handing memory and pids to its command
// leaves, and keeps the session's limits; the sandbox user's init clones a command into a leaf.
TEST_F(V2Host, CommandLeavesBelowTheTaskLeaf) {
  auto tree = Tree::Create({});
  ASSERT_TRUE(tree.ok()) << tree.status().message();
  const std::string top = cgtest::HostProbe().bases[0] + "/brood-" + std::to_string(::getpid());
  auto g = (*tree)->MakeGroup("s");
  ASSERT_TRUE(g.ok()) << g.status().message();
  ASSERT_TRUE((*g)->SetLimits({.memory_bytes = 32 << 20, .pids = 5, .group_pids = 9}).ok());
  auto leaf = (*g)->MakeLeaf("c0", 0, 0);
  ASSERT_TRUE(leaf.ok()) << leaf.status().message();
  const std::string handed = Slurp(top + "/s/task/cgroup.subtree_control");
  EXPECT_NE(handed.find("memory"), std::string::npos) << handed;
  EXPECT_NE(handed.find("pids"), std::string::npos) << handed;
  EXPECT_EQ(handed.find("cpu"), std::string::npos) << handed;
  EXPECT_EQ(Slurp(top + "/s/task/c0/memory.max"), "max\n");
  EXPECT_EQ(Slurp(top + "/s/task/c0/pids.max"), "max\n");
  EXPECT_EQ(Slurp(top + "/s/task/memory.max"), "33554432\n");
  EXPECT_EQ(Slurp(top + "/s/task/pids.max"), "5\n");
  auto now = (*g)->ReadCurrent();
  ASSERT_TRUE(now.ok()) << now.status().message();
  EXPECT_EQ(now->pids, 0u);
  CloneIntoLeafAsTheSandboxUser(**g);
  leaf.value().reset();
  g.value().reset();
  EXPECT_FALSE(IsDir(top + "/s"));
}

}  // namespace
}  // namespace brood::cgroup
