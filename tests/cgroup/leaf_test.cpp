// Sessions' command leaves on this host's cgroups, whichever version it has (the v2 VM runs them
// on v2): a command's process joins its leaf below the session's task leaf, is held to the
// session's limits there, is counted in its leaf and in the session, and is killed with
// everything it started while the session's other commands live on. Skipped (with the reason)
// where cgroups are unusable.
#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "cgroup_test_util.hpp"

namespace brood::cgroup {
namespace {

using cgtest::Child;
using cgtest::Exited;
using cgtest::Hog;
using cgtest::Spin;

constexpr uint64_t kMiB = 1 << 20;

std::string Parent(const std::string& path) {
  return std::filesystem::path(path).parent_path().string();
}

// The directories of a leaf: those its processes join.
std::vector<std::string> Dirs(const LeafJoin& j) {
  std::vector<std::string> out;
  for (const std::string& f : j.procs) out.push_back(Parent(f));
  return out;
}

bool InProcs(const std::string& file, pid_t pid) {
  std::string text = "\n" + cgtest::Slurp(file);
  return text.find("\n" + std::to_string(pid) + "\n") != std::string::npos;
}

// A child that joins `leaf` as a session's command does on v1 (on v2 root moves it the same way;
// the session's clone3 into a leaf is V2Host's and UnifiedNoControllers' business), tells the
// test it is in, then runs `body`. Null (and a test failure) if it could not join.
std::unique_ptr<Child> StartIn(const Leaf& leaf, std::function<int()> body) {
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return nullptr;
  const std::vector<std::string> procs = leaf.Join().procs;
  auto child = std::make_unique<Child>([=] {
    ::close(ready[0]);
    if (!cgtest::JoinSelf(procs)) return 90;
    const bool told = ::write(ready[1], "j", 1) == 1;
    ::close(ready[1]);
    return told ? body() : 91;
  });
  ::close(ready[1]);
  child->Release();
  char c;
  const ssize_t n = ::read(ready[0], &c, 1);
  ::close(ready[0]);
  EXPECT_EQ(n, 1) << "the child could not join " << procs.at(0) << " (status "
                  << (n == 1 ? 0 : child->Wait()) << ")";
  return n == 1 ? std::move(child) : nullptr;
}

int PauseForever() {
  for (;;) ::pause();
}

bool Killed(Child& child) {
  int status = child.Wait();
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

class HostLeaf : public ::testing::Test {
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

  // A session: a group with its limits.
  std::unique_ptr<Group> Session(const std::string& name, GroupLimits limits) {
    auto g = tree_->MakeGroup(name);
    EXPECT_TRUE(g.ok()) << g.status().message();
    if (!g.ok()) return nullptr;
    sys::Status st = (*g)->SetLimits(limits);
    EXPECT_TRUE(st.ok()) << st.message();
    return std::move(g.value());
  }

  std::unique_ptr<Leaf> Command(Group& g, const std::string& name) {
    auto leaf = g.MakeLeaf(name, 0, 0);
    EXPECT_TRUE(leaf.ok()) << leaf.status().message();
    return leaf.ok() ? std::move(leaf.value()) : nullptr;
  }

  std::unique_ptr<Tree> tree_;
};

TEST_F(HostLeaf, AJoinedProcessIsInTheLeafAndCountedThereAndInTheSession) {
  auto g = Session("s", {.memory_bytes = 64 * kMiB, .pids = 16, .cpus = 0});
  ASSERT_TRUE(g);
  auto leaf = Command(*g, "c1");
  ASSERT_TRUE(leaf);
  EXPECT_EQ(leaf->name(), "c1");
  for (const std::string& dir : Dirs(leaf->Join())) EXPECT_TRUE(cgtest::IsDir(dir)) << dir;
  EXPECT_TRUE(leaf->Empty());
  EXPECT_FALSE(g->MakeLeaf("c1", 0, 0).ok()) << "a leaf of that name exists";
  for (const char* bad : {"", "..", "a/b", "x y"}) {
    EXPECT_FALSE(g->MakeLeaf(bad, 0, 0).ok()) << '"' << bad << '"';
  }
  auto before = g->ReadUsage();
  ASSERT_TRUE(before.ok()) << before.status().message();

  int spun[2];
  ASSERT_EQ(::pipe2(spun, O_CLOEXEC), 0);
  auto child = StartIn(*leaf, [&] {
    Spin(200);
    if (Hog(8 * kMiB) != 0) return 2;
    (void)!::write(spun[1], "s", 1);
    return PauseForever();
  });
  ::close(spun[1]);
  ASSERT_TRUE(child);
  char c;
  ASSERT_EQ(::read(spun[0], &c, 1), 1);
  ::close(spun[0]);
  for (const std::string& f : leaf->Join().procs) EXPECT_TRUE(InProcs(f, child->pid())) << f;
  EXPECT_FALSE(leaf->Empty());

  auto cpu = leaf->CpuNs();
  ASSERT_TRUE(cpu.ok()) << cpu.status().message();
  EXPECT_GE(*cpu, 190'000'000u);
  auto session = g->ReadUsage();
  ASSERT_TRUE(session.ok()) << session.status().message();
  EXPECT_GE(session->cpu_ns - before->cpu_ns, 190'000'000u) << "the task leaf counts its leaves";
  auto peak = leaf->PeakMemory();
  ASSERT_TRUE(peak.ok()) << peak.status().message();
  EXPECT_GE(*peak, 6 * kMiB);
  EXPECT_GE(session->peak_memory_bytes, *peak);
  auto now = g->ReadCurrent();
  ASSERT_TRUE(now.ok()) << now.status().message();
  std::cout << "leaf cpu " << *cpu / 1'000'000 << " ms, peak " << *peak / 1024
            << " KiB; session now: memory " << now->memory_bytes / 1024 << " KiB, pids "
            << now->pids << "\n";
  EXPECT_GE(now->memory_bytes, 6 * kMiB);
  EXPECT_EQ(now->pids, 1u);

  ASSERT_TRUE(leaf->KillAll().ok());
  EXPECT_TRUE(leaf->Empty());
  EXPECT_TRUE(Killed(*child));
  auto after = leaf->CpuNs();
  ASSERT_TRUE(after.ok());
  EXPECT_GE(*after, *cpu) << "the dead keep their CPU time counted";
  EXPECT_TRUE(leaf->KillAll().ok()) << "on an empty leaf: nothing to do";
  EXPECT_EQ(g->ReadCurrent()->pids, 0u);

  const std::vector<std::string> dirs = Dirs(leaf->Join());
  leaf.reset();
  for (const std::string& dir : dirs) EXPECT_FALSE(cgtest::IsDir(dir)) << dir;
}

// The session's memory limit (the task leaf's) holds over a command in its leaf; the OOM kill
// shows in the leaf, in the session's figures (also once the leaf is gone) and on its event fd.
TEST_F(HostLeaf, SessionMemoryLimitHoldsInALeaf) {
  auto g = Session("s", {.memory_bytes = 32 * kMiB, .pids = 16, .cpus = 1});
  ASSERT_TRUE(g);
  auto efd = g->OomEventFd();
  ASSERT_TRUE(efd.ok()) << efd.status().message();
  auto leaf = Command(*g, "c1");
  ASSERT_TRUE(leaf);
  auto child = StartIn(*leaf, [] { return Hog(64 * kMiB); });
  ASSERT_TRUE(child);
  EXPECT_TRUE(Killed(*child)) << "not OOM-killed";
  pollfd p{efd->get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 10000), 1) << "OomEventFd not readable within 10 s";
  EXPECT_GE(leaf->OomKills(), 1u);
  auto peak = leaf->PeakMemory();
  ASSERT_TRUE(peak.ok()) << peak.status().message();
  EXPECT_LE(*peak, 32 * kMiB);
  EXPECT_GE(*peak, 28 * kMiB);
  auto u = g->ReadUsage();
  ASSERT_TRUE(u.ok()) << u.status().message();
  std::cout << "leaf oom_kills " << leaf->OomKills() << ", peak " << *peak / 1024
            << " KiB; session oom_kills " << u->oom_kills << ", memory_max_events "
            << u->memory_max_events << ", memory_oom_events " << u->memory_oom_events << "\n";
  EXPECT_GE(u->oom_kills, 1u);
  EXPECT_GE(u->memory_oom_events, 1u);
  EXPECT_GE(u->memory_max_events, 1u);
  leaf.reset();  // empty: removed, its count kept by the session
  auto later = g->ReadUsage();
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->oom_kills, u->oom_kills);
}

// The session's pids limit counts the processes of every leaf together; the refused fork counts
// in the session's figures, also once its leaf is gone.
TEST_F(HostLeaf, SessionPidsLimitCountsEveryLeaf) {
  auto g = Session("s", {.memory_bytes = 64 * kMiB, .pids = 5, .cpus = 1});
  ASSERT_TRUE(g);
  auto bg = Command(*g, "bg");
  auto cmd = Command(*g, "cmd");
  ASSERT_TRUE(bg && cmd);
  int forked[2];
  ASSERT_EQ(::pipe2(forked, O_CLOEXEC), 0);
  auto daemon = StartIn(*bg, [&] {
    if (::fork() == 0) PauseForever();
    (void)!::write(forked[1], "f", 1);
    return PauseForever();
  });
  ASSERT_TRUE(daemon);
  char c;
  ASSERT_EQ(::read(forked[0], &c, 1), 1);
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  auto forker = StartIn(*cmd, [&] {
    std::vector<pid_t> kids;
    int err = 0;
    while (kids.size() < 6) {
      pid_t pid = ::fork();
      if (pid == 0) PauseForever();
      if (pid < 0) {
        err = errno;
        break;
      }
      kids.push_back(pid);
    }
    // Reaped here: a zombie would count in pids.current until its new parent reaps it.
    for (pid_t pid : kids) ::kill(pid, SIGKILL);
    for (pid_t pid : kids) ::waitpid(pid, nullptr, 0);
    int out[2] = {static_cast<int>(kids.size()), err};
    (void)!::write(report[1], out, sizeof out);
    return PauseForever();
  });
  ASSERT_TRUE(forker);
  int got[2] = {-1, -1};
  ASSERT_EQ(::read(report[0], got, sizeof got), static_cast<ssize_t>(sizeof got));
  EXPECT_EQ(got[0], 2) << "2 in bg, the forker and 2 children make the session's 5";
  EXPECT_EQ(got[1], EAGAIN);
  auto now = g->ReadCurrent();
  ASSERT_TRUE(now.ok()) << now.status().message();
  EXPECT_EQ(now->pids, 3u) << "bg's 2 and the forker";
  auto u = g->ReadUsage();
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_GE(u->pids_max_events, 1u);
  ASSERT_TRUE(cmd->KillAll().ok());
  EXPECT_TRUE(Killed(*forker));
  cmd.reset();
  auto later = g->ReadUsage();
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->pids_max_events, u->pids_max_events) << "lost with the leaf";
  EXPECT_EQ(g->ReadCurrent()->pids, 2u);
  ASSERT_TRUE(g->KillAll().ok());
  EXPECT_TRUE(Killed(*daemon));
  for (int fd : {forked[0], forked[1], report[0], report[1]}) ::close(fd);
}

// A command past its time is killed with everything it started (a setsid'd daemon, a
// grandchild whose parent exited), while an earlier command's background process in a sibling
// leaf lives on until the session ends.
TEST_F(HostLeaf, KillAllEndsTheCommandsDaemonsButNotItsSibling) {
  auto g = Session("s", {.memory_bytes = 64 * kMiB, .pids = 32, .cpus = 1});
  ASSERT_TRUE(g);
  auto bg = Command(*g, "c1");
  auto cmd = Command(*g, "c2");
  ASSERT_TRUE(bg && cmd);
  auto background = StartIn(*bg, PauseForever);
  ASSERT_TRUE(background);
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  auto main = StartIn(*cmd, [&] {
    pid_t pids[2] = {0, 0};
    int to_us[2];
    if (::pipe(to_us) != 0) return 3;
    if ((pids[0] = ::fork()) == 0) {
      ::setsid();
      return PauseForever();
    }
    if (::fork() == 0) {  // double fork: the grandchild is reparented, in a session of its own
      ::setsid();
      pid_t grandchild = ::fork();
      if (grandchild == 0) return PauseForever();
      (void)!::write(to_us[1], &grandchild, sizeof grandchild);
      _exit(0);
    }
    if (::read(to_us[0], &pids[1], sizeof pids[1]) != sizeof pids[1]) return 4;
    (void)!::write(report[1], pids, sizeof pids);
    return PauseForever();
  });
  ASSERT_TRUE(main);
  pid_t pids[2] = {0, 0};
  ASSERT_EQ(::read(report[0], pids, sizeof pids), static_cast<ssize_t>(sizeof pids));
  ::close(report[0]);
  ::close(report[1]);
  ASSERT_GT(pids[0], 0);
  ASSERT_GT(pids[1], 0);
  for (pid_t pid : pids) {
    for (const std::string& f : cmd->Join().procs) EXPECT_TRUE(InProcs(f, pid)) << f << " " << pid;
  }

  ASSERT_TRUE(cmd->KillAll().ok());
  EXPECT_TRUE(cmd->Empty());
  EXPECT_TRUE(Killed(*main));
  EXPECT_TRUE(Exited(pids[0])) << "the setsid'd child lives";
  EXPECT_TRUE(Exited(pids[1])) << "the double-forked grandchild lives";
  EXPECT_FALSE(bg->Empty());
  EXPECT_FALSE(Exited(background->pid())) << "the sibling leaf's process was killed";

  ASSERT_TRUE(g->KillAll().ok()) << "the session ends";
  EXPECT_TRUE(bg->Empty());
  EXPECT_TRUE(Killed(*background));
}

// A leaf destroyed while a process is still in it stays; the session's KillAll kills that
// process and its destructor removes every leaf, the task leaf and the group: no cgroup is left.
TEST_F(HostLeaf, SessionCleanupRemovesLeavesLeftBehind) {
  auto g = Session("s", {.memory_bytes = 64 * kMiB, .pids = 32, .cpus = 1});
  ASSERT_TRUE(g);
  auto busy = Command(*g, "c1");
  auto done = Command(*g, "c2");
  auto idle = Command(*g, "c3");
  ASSERT_TRUE(busy && done && idle);
  auto left = StartIn(*busy, PauseForever);
  ASSERT_TRUE(left);
  auto quick = StartIn(*done, [] { return 0; });
  ASSERT_TRUE(quick);
  EXPECT_EQ(quick->Wait(), 0);
  // Everything of the session's, as paths below brood-<pid>/s.
  const std::string mark = "/brood-" + std::to_string(::getpid()) + "/s";
  std::set<std::string> dirs;
  auto add = [&](const std::string& file) {
    for (std::string d = Parent(file); d.find(mark) != std::string::npos; d = Parent(d)) {
      dirs.insert(d);
    }
  };
  for (const Leaf* leaf : {busy.get(), done.get(), idle.get()}) {
    for (const std::string& f : leaf->Join().procs) add(f);
  }
  for (const std::string& f : g->ProcsFiles()) add(f);
  for (const std::string& f : g->HelperProcsFiles()) add(f);
  const std::vector<std::string> busy_dirs = Dirs(busy->Join());

  busy.reset();  // a background process is left in it: it stays
  for (const std::string& dir : busy_dirs) EXPECT_TRUE(cgtest::IsDir(dir)) << dir;
  done.reset();
  EXPECT_TRUE(g->ReadUsage().ok());
  ASSERT_TRUE(g->KillAll().ok());
  EXPECT_TRUE(Killed(*left));
  g.reset();  // idle's Leaf outlives its group: its destructor finds nothing left to remove
  idle.reset();
  std::cout << dirs.size() << " directories of the session checked\n";
  for (const std::string& dir : dirs) EXPECT_FALSE(cgtest::IsDir(dir)) << dir << " left behind";
}

}  // namespace
}  // namespace brood::cgroup
