// Tree lifecycle on this host: brood-<pid> is created in every base and removed afterwards,
// stale trees of dead owners go (their leftover processes killed), live owners' trees stay.
#include <gtest/gtest.h>

#include <filesystem>

#include "cgroup/cgroup_fs.hpp"
#include "cgroup_test_util.hpp"

namespace brood::cgroup {
namespace {

using cgtest::Child;
using cgtest::IsDir;

class HostTree : public ::testing::Test {
 protected:
  void SetUp() override {
    const Probe& p = cgtest::HostProbe();
    if (!p.usable()) {
      GTEST_SKIP() << "no usable cgroups here (" << VersionName(p.version)
                   << "): " << cgtest::Problems(p);
    }
    bases_ = p.bases;
  }

  std::vector<std::string> In(const std::string& rel) const {
    std::vector<std::string> out;
    for (const std::string& b : bases_) out.push_back(b + "/" + rel);
    return out;
  }

  // mkdir -p of `rel` in every base.
  void MakeAll(const std::string& rel) {
    for (const std::string& b : bases_) {
      std::string path = b;
      for (const std::string& part :
           {rel.substr(0, rel.find('/')), rel.substr(rel.find('/') + 1)}) {
        path += "/" + part;
        ASSERT_TRUE(fs::MakeDir(path, true).ok()) << path;
      }
    }
  }

  // A pid nobody has: a child that already exited and was reaped.
  static pid_t DeadPid() {
    Child c([] { return 0; });
    c.Release();
    c.Wait();
    return c.pid();
  }

  std::vector<std::string> bases_;
};

const std::string kSelf = "brood-" + std::to_string(::getpid());

TEST_F(HostTree, CreateThenDestroyLeavesNothing) {
  auto tree = Tree::Create({});
  ASSERT_TRUE(tree.ok()) << tree.status().message();
  EXPECT_EQ((*tree)->version(), cgtest::HostProbe().version);
  for (const std::string& d : In(kSelf)) EXPECT_TRUE(IsDir(d)) << d;
  auto g = (*tree)->MakeGroup("t0");
  ASSERT_TRUE(g.ok()) << g.status().message();
  for (const std::string& f : (*g)->ProcsFiles()) EXPECT_TRUE(cgtest::Slurp(f).empty()) << f;
  g.value().reset();
  for (const std::string& d : In(kSelf + "/t0")) EXPECT_FALSE(IsDir(d)) << d;
  tree.value().reset();
  for (const std::string& d : In(kSelf)) EXPECT_FALSE(IsDir(d)) << d;
}

TEST_F(HostTree, DestructorKillsLeftoversAndRemovesGroups) {
  auto tree = Tree::Create({});
  ASSERT_TRUE(tree.ok()) << tree.status().message();
  auto g = (*tree)->MakeGroup("left");
  ASSERT_TRUE(g.ok());
  Child sleeper([] {
    for (;;) ::pause();
    return 0;
  });
  ASSERT_TRUE((*g)->Attach(sleeper.pid()).ok());
  tree.value().reset();  // before the group, and with a process inside: the Tree copes
  int status = sleeper.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  for (const std::string& d : In(kSelf)) EXPECT_FALSE(IsDir(d)) << d;
  g.value().reset();  // its rmdir finds nothing: fine
}

TEST_F(HostTree, StaleTreeOfDeadOwnerIsRemovedWithItsProcesses) {
  const std::string stale = "brood-" + std::to_string(DeadPid());
  MakeAll(stale + "/t3");
  Child orphan([] {
    for (;;) ::pause();
    return 0;
  });
  for (const std::string& d : In(stale + "/t3")) {
    ASSERT_TRUE(fs::WriteFile(d + "/cgroup.procs", std::to_string(orphan.pid())).ok());
  }
  auto tree = Tree::Create({});
  ASSERT_TRUE(tree.ok()) << tree.status().message();
  int status = orphan.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  for (const std::string& d : In(stale)) EXPECT_FALSE(IsDir(d)) << d;
}

TEST_F(HostTree, TreeOfLiveOwnerIsKept) {
  Child owner([] {
    for (;;) ::pause();
    return 0;
  });
  const std::string live = "brood-" + std::to_string(owner.pid());
  MakeAll(live + "/t0");
  // The owner lives in its tree, as a brood does: on v2 a process left in our base would make
  // enabling controllers there fail (EBUSY, "no internal processes").
  for (const std::string& d : In(live + "/t0")) {
    ASSERT_TRUE(fs::WriteFile(d + "/cgroup.procs", std::to_string(owner.pid())).ok()) << d;
  }
  auto tree = Tree::Create({});
  ASSERT_TRUE(tree.ok()) << tree.status().message();
  for (const std::string& d : In(live + "/t0")) EXPECT_TRUE(IsDir(d)) << d;
  ::kill(owner.pid(), SIGKILL);
  owner.Wait();
  for (const std::string& d : In(live)) EXPECT_TRUE(fs::RemoveTree(d).ok()) << d;
}

TEST_F(HostTree, LeftoverWithOurOwnPidIsReplaced) {
  // A dead process that had our pid left brood-<our pid>/x behind.
  MakeAll(kSelf + "/x");
  auto tree = Tree::Create({});
  ASSERT_TRUE(tree.ok()) << tree.status().message();
  for (const std::string& d : In(kSelf + "/x")) EXPECT_FALSE(IsDir(d)) << d;
  for (const std::string& d : In(kSelf)) EXPECT_TRUE(IsDir(d)) << d;
}

TEST_F(HostTree, SecondTreeInOneProcessIsRefused) {
  auto first = Tree::Create({});
  ASSERT_TRUE(first.ok()) << first.status().message();
  auto second = Tree::Create({});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use by another Tree"), std::string::npos)
      << second.status().message();
  for (const std::string& d : In(kSelf)) EXPECT_TRUE(IsDir(d)) << d;  // the first is intact
}

TEST_F(HostTree, BadGroupNamesAreRefused) {
  auto tree = Tree::Create({});
  ASSERT_TRUE(tree.ok()) << tree.status().message();
  for (const char* bad : {"", ".", "..", "a/b", "../x", "a b"}) {
    EXPECT_FALSE((*tree)->MakeGroup(bad).ok()) << bad;
  }
  auto g = (*tree)->MakeGroup("dup");
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE((*tree)->MakeGroup("dup").ok());  // EEXIST is an error, not a shared group
}

}  // namespace
}  // namespace brood::cgroup
