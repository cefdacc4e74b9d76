// The backends' file logic on plain files: what each limit writes where, and how usage is parsed.
// This is how the v2 backend is tested on a v1 host (and the v1 backend on a v2 host).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>

#include <filesystem>

#include "cgroup/internal.hpp"
#include "cgroup_test_util.hpp"

namespace brood::cgroup {
namespace {

using cgtest::Slurp;
using cgtest::Spit;
using cgtest::TempDir;

constexpr uint64_t kMiB = 1 << 20;

// A v2 group directory as the kernel shows it, with plain files.
void FakeV2(const std::string& d) {
  for (const char* f :
       {"memory.max", "memory.swap.max", "pids.max", "cpu.max", "cgroup.procs", "cgroup.kill"}) {
    Spit(d + "/" + f, "");
  }
  Spit(d + "/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
  Spit(d + "/memory.peak", "33554432\n");
  Spit(d + "/memory.current", "4096\n");
  Spit(d + "/memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n");
  Spit(d + "/pids.events", "max 3\n");
}

TEST(V2Files, SetLimitsWritesEachFile) {
  TempDir t;
  FakeV2(t.path());
  auto g = internal::V2GroupAt(t.path(), "g");
  ASSERT_TRUE(g->SetLimits({.memory_bytes = 512 * kMiB, .pids = 130, .cpus = 1.5}).ok());
  EXPECT_EQ(Slurp(t.path() + "/memory.max"), "536870912");
  EXPECT_EQ(Slurp(t.path() + "/memory.swap.max"), "0");
  EXPECT_EQ(Slurp(t.path() + "/pids.max"), "130");
  EXPECT_EQ(Slurp(t.path() + "/cpu.max"), "150000 100000");
  // Zero means no limit; tiny CPU shares are raised to the kernel's 1 ms minimum quota.
  ASSERT_TRUE(g->SetLimits({.memory_bytes = 0, .pids = 0, .cpus = 0.001}).ok());
  EXPECT_EQ(Slurp(t.path() + "/memory.max"), "max");
  EXPECT_EQ(Slurp(t.path() + "/pids.max"), "max");
  EXPECT_EQ(Slurp(t.path() + "/cpu.max"), "1000 100000");
  ASSERT_TRUE(g->SetLimits({.memory_bytes = kMiB, .pids = 1, .cpus = 0}).ok());
  EXPECT_EQ(Slurp(t.path() + "/cpu.max"), "max 100000");
  // Without leaves the group stands for the task leaf: its pids.max is the task's, not the cap.
  ASSERT_TRUE(g->SetLimits({.memory_bytes = kMiB, .pids = 7, .group_pids = 12, .cpus = 1}).ok());
  EXPECT_EQ(Slurp(t.path() + "/pids.max"), "7");
}

TEST(V2Files, SwapFileAbsentIsSkipped) {
  TempDir t;
  FakeV2(t.path());
  std::filesystem::remove(t.path() + "/memory.swap.max");
  auto g = internal::V2GroupAt(t.path(), "g");
  EXPECT_TRUE(g->SetLimits({.memory_bytes = kMiB, .pids = 5, .cpus = 1}).ok());
}

TEST(V2Files, ErrorNamesCallPathAndValue) {
  TempDir t;  // no files at all: like a group removed under our feet
  auto g = internal::V2GroupAt(t.path(), "g");
  sys::Status st = g->SetLimits({.memory_bytes = 512 * kMiB, .pids = 5, .cpus = 1});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "write(" + t.path() +
                              "/memory.max, 536870912): open: ENOENT (No such file or directory)");
  std::filesystem::create_directory(t.path() + "/cgroup.procs");
  sys::Status w = internal::V2GroupAt(t.path(), "g")->Attach(42);
  EXPECT_EQ(w.message(), "write(" + t.path() + "/cgroup.procs, 42): open: EISDIR (Is a directory)");
}

TEST(V2Files, ReadUsageParsesCounters) {
  TempDir t;
  FakeV2(t.path());
  auto g = internal::V2GroupAt(t.path(), "g");
  auto u = g->ReadUsage();
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->cpu_ns, 1500000u);
  EXPECT_EQ(u->peak_memory_bytes, 32 * kMiB);
  EXPECT_EQ(u->oom_kills, 1u);
  EXPECT_EQ(u->memory_max_events, 12u);
  EXPECT_EQ(u->pids_max_events, 3u);
}

TEST(V2Files, PeakFallsBackToCurrentBefore519) {
  TempDir t;
  FakeV2(t.path());
  std::filesystem::remove(t.path() + "/memory.peak");
  auto u = internal::V2GroupAt(t.path(), "g")->ReadUsage();
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->peak_memory_bytes, 4096u);
  EXPECT_FALSE(u->peak_exact);  // memory.current at read time is no peak
}

TEST(V2Files, ResetPeakWritesThroughTheHeldFd) {
  TempDir t;
  FakeV2(t.path());
  auto g = internal::V2GroupAt(t.path(), "g");
  ASSERT_TRUE(g->ResetPeak().ok());
  EXPECT_EQ(Slurp(t.path() + "/memory.peak").substr(0, 6), "reset\n");
  // A read-only memory.peak (kernels before 6.12) is not an error: best effort.
  TempDir t2;
  FakeV2(t2.path());
  ::chmod((t2.path() + "/memory.peak").c_str(), 0444);
  if (::geteuid() == 0) return;  // root writes anyway; the kernel's EINVAL is tested on v2 hosts
  EXPECT_TRUE(internal::V2GroupAt(t2.path(), "g")->ResetPeak().ok());
}

TEST(V2Files, OomEventFdWatchesMemoryEvents) {
  TempDir t;
  FakeV2(t.path());
  auto g = internal::V2GroupAt(t.path(), "g");
  auto fd = g->OomEventFd();
  ASSERT_TRUE(fd.ok()) << fd.status().message();
  pollfd p{fd->get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  Spit(t.path() + "/memory.events", "max 13\noom 2\noom_kill 2\n");
  EXPECT_EQ(::poll(&p, 1, 1000), 1);
}

TEST(V2Files, KillAllWritesCgroupKill) {
  TempDir t;
  FakeV2(t.path());
  ASSERT_TRUE(internal::V2GroupAt(t.path(), "g")->KillAll().ok());
  EXPECT_EQ(Slurp(t.path() + "/cgroup.kill"), "1");
}

TEST(V2Files, ProcsFilesAndAttach) {
  TempDir t;
  FakeV2(t.path());
  auto g = internal::V2GroupAt(t.path(), "g");
  EXPECT_EQ(g->ProcsFiles(), std::vector<std::string>{t.path() + "/cgroup.procs"});
  const Group::TaskLeaf leaf = g->Task();
  EXPECT_TRUE(leaf.clone_into);
  EXPECT_EQ(leaf.dir, t.path());
  EXPECT_EQ(leaf.procs, std::vector<std::string>{t.path() + "/cgroup.procs"});
  ASSERT_TRUE(g->Attach(1234).ok());
  EXPECT_EQ(Slurp(t.path() + "/cgroup.procs"), "1234");
}

// The v2 leaf's files: the counters it reads, its kill, how a process joins it.
TEST(V2Files, LeafReadsItsFiles) {
  TempDir t;
  FakeV2(t.path());
  Spit(t.path() + "/cgroup.events", "populated 1\nfrozen 0\n");
  auto leaf = internal::V2LeafAt(t.path(), "c1");
  EXPECT_EQ(leaf->name(), "c1");
  const LeafJoin j = leaf->Join();
  EXPECT_TRUE(j.clone_into);
  EXPECT_EQ(j.dir, t.path());
  EXPECT_EQ(j.procs, std::vector<std::string>{t.path() + "/cgroup.procs"});
  EXPECT_EQ(j.memory_stat, t.path() + "/memory.stat");
  EXPECT_EQ(leaf->CpuNs().value(), 1'500'000u);
  EXPECT_EQ(leaf->PeakMemory().value(), 33554432u);
  EXPECT_EQ(leaf->OomKills(), 1u);
  EXPECT_FALSE(leaf->Empty());
  Spit(t.path() + "/cgroup.events", "populated 0\nfrozen 0\n");
  EXPECT_TRUE(leaf->Empty());
  ASSERT_TRUE(leaf->KillAll().ok());
  EXPECT_EQ(Slurp(t.path() + "/cgroup.kill"), "1");
  // Before 5.19 (no memory.peak) the best there is: memory.current.
  std::filesystem::remove(t.path() + "/memory.peak");
  EXPECT_EQ(leaf->PeakMemory().value(), 4096u);
}

// A leaf's watermark counts charges its parent (the session's task leaf) refused; the peak
// reported is never above the parent's limit. The same on v1.
TEST(V2Files, LeafPeakNeverAboveTheSessionLimit) {
  TempDir t;
  Spit(t.path() + "/memory.max", "33554432\n");
  std::filesystem::create_directory(t.path() + "/c1");
  FakeV2(t.path() + "/c1");
  Spit(t.path() + "/c1/memory.peak", "34521088\n");
  EXPECT_EQ(internal::V2LeafAt(t.path() + "/c1", "c1")->PeakMemory().value(), 33554432u);
  Spit(t.path() + "/memory.max", "max\n");
  EXPECT_EQ(internal::V2LeafAt(t.path() + "/c1", "c1")->PeakMemory().value(), 34521088u);
  internal::V1Dirs d{t.path() + "/c1", t.path() + "/c1", "", t.path() + "/c1", ""};
  Spit(t.path() + "/memory.limit_in_bytes", "33554432\n");
  Spit(t.path() + "/c1/memory.max_usage_in_bytes", "34521088\n");
  EXPECT_EQ(internal::V1LeafAt(d, "c1")->PeakMemory().value(), 33554432u);
}

TEST(V2Files, ReadCurrent) {
  TempDir t;
  FakeV2(t.path());
  Spit(t.path() + "/pids.current", "3\n");
  auto now = internal::V2GroupAt(t.path(), "g")->ReadCurrent();
  ASSERT_TRUE(now.ok()) << now.status().message();
  EXPECT_EQ(now->memory_bytes, 4096u);
  EXPECT_EQ(now->pids, 3u);
}

// The task leaf hands memory and pids (those it has) down before the first leaf. A plain mkdir
// makes no cgroup.procs to chown, so here MakeLeaf fails at the chown, and removes the leaf again
// (nothing half-made); its success is UnifiedNoControllers' and V2Host's (real cgroupfs).
TEST(V2Files, MakeLeafEnablesMemoryAndPidsBelowTheTaskLeaf) {
  TempDir t;
  FakeV2(t.path());
  Spit(t.path() + "/cgroup.controllers", "cpu memory pids\n");
  Spit(t.path() + "/cgroup.subtree_control", "");
  auto g = internal::V2GroupAt(t.path(), "g");
  EXPECT_FALSE(g->MakeLeaf("a/b", 0, 0).ok());
  EXPECT_EQ(Slurp(t.path() + "/cgroup.subtree_control"), "") << "a bad name changes nothing";
  auto leaf = g->MakeLeaf("c1", 0, 0);
  ASSERT_FALSE(leaf.ok());
  EXPECT_NE(leaf.status().message().find("chown(" + t.path() + "/c1/cgroup.procs)"),
            std::string::npos)
      << leaf.status().message();
  EXPECT_EQ(Slurp(t.path() + "/cgroup.subtree_control"), "+memory +pids");
  EXPECT_FALSE(cgtest::IsDir(t.path() + "/c1"));
  // Enabled already (as the kernel shows it): not written again.
  Spit(t.path() + "/cgroup.subtree_control", "memory pids\n");
  EXPECT_FALSE(g->MakeLeaf("c1", 0, 0).ok());
  EXPECT_EQ(Slurp(t.path() + "/cgroup.subtree_control"), "memory pids\n");
  // Without the controllers (a unified hierarchy without them): nothing to enable.
  Spit(t.path() + "/cgroup.controllers", "\n");
  Spit(t.path() + "/cgroup.subtree_control", "");
  EXPECT_FALSE(g->MakeLeaf("c1", 0, 0).ok());
  EXPECT_EQ(Slurp(t.path() + "/cgroup.subtree_control"), "");
}

// v1 on plain files: memory and memsw limits must keep memsw >= memory at each step, so the
// order depends on the direction. A directory in place of a file makes that write fail, which
// shows which write came first.
struct FakeV1 {
  TempDir t;
  internal::V1Dirs dirs;
  FakeV1() {
    dirs = {t.path() + "/memory", t.path() + "/pids", t.path() + "/cpu,cpuacct",
            t.path() + "/cpu,cpuacct", ""};
    for (const auto& d : {dirs.memory, dirs.pids, dirs.cpu}) std::filesystem::create_directory(d);
    Spit(dirs.memory + "/memory.limit_in_bytes", "67108864\n");
    Spit(dirs.memory + "/memory.memsw.limit_in_bytes", "67112960\n");
    for (const char* f : {"memory.swappiness", "cgroup.procs"}) Spit(dirs.memory + "/" + f, "");
    for (const char* f : {"pids.max", "cgroup.procs"}) Spit(dirs.pids + "/" + f, "");
    for (const char* f : {"cpu.cfs_period_us", "cpu.cfs_quota_us", "cgroup.procs"}) {
      Spit(dirs.cpu + "/" + f, "");
    }
  }
};

TEST(V1Files, LoweringWritesMemoryFirst) {
  FakeV1 f;
  std::filesystem::remove(f.dirs.memory + "/memory.memsw.limit_in_bytes");
  std::filesystem::create_directory(f.dirs.memory + "/memory.memsw.limit_in_bytes");
  auto g = internal::V1GroupAt(f.dirs, "g");
  EXPECT_FALSE(g->SetLimits({.memory_bytes = 32 * kMiB, .pids = 5, .cpus = 1}).ok());
  EXPECT_EQ(Slurp(f.dirs.memory + "/memory.limit_in_bytes"), "33554432");
}

TEST(V1Files, RaisingWritesMemswFirst) {
  FakeV1 f;
  std::filesystem::remove(f.dirs.memory + "/memory.memsw.limit_in_bytes");
  std::filesystem::create_directory(f.dirs.memory + "/memory.memsw.limit_in_bytes");
  auto g = internal::V1GroupAt(f.dirs, "g");
  sys::Status st = g->SetLimits({.memory_bytes = 128 * kMiB, .pids = 5, .cpus = 1});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("memory.memsw.limit_in_bytes, 134221824"), std::string::npos)
      << st.message();
  EXPECT_EQ(Slurp(f.dirs.memory + "/memory.limit_in_bytes"), "67108864\n");  // untouched
}

TEST(V1Files, CoMountedCpuIsOneDirectory) {
  FakeV1 f;
  auto g = internal::V1GroupAt(f.dirs, "g");
  ASSERT_TRUE(g->SetLimits({.memory_bytes = 32 * kMiB, .pids = 5, .cpus = 0.5}).ok());
  EXPECT_EQ(Slurp(f.dirs.memory + "/memory.memsw.limit_in_bytes"), "33558528");  // + a page
  EXPECT_EQ(Slurp(f.dirs.cpu + "/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(Slurp(f.dirs.cpu + "/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(g->ProcsFiles(), (std::vector<std::string>{f.dirs.memory + "/cgroup.procs",
                                                       f.dirs.pids + "/cgroup.procs",
                                                       f.dirs.cpu + "/cgroup.procs"}));
  // Without leaves the group's own directories stand for them: the main process joins memory,
  // pids and the co-mounted cpu,cpuacct once each, memory first.
  const Group::TaskLeaf leaf = g->Task();
  EXPECT_FALSE(leaf.clone_into);
  EXPECT_EQ(leaf.dir, f.dirs.memory);
  EXPECT_EQ(leaf.procs, (std::vector<std::string>{f.dirs.memory + "/cgroup.procs",
                                                  f.dirs.pids + "/cgroup.procs",
                                                  f.dirs.cpuacct + "/cgroup.procs"}));
  EXPECT_EQ(leaf.memory_stat, f.dirs.memory + "/memory.stat");
  // ... and the task's pids limit is the group's pids.max, not the cap.
  ASSERT_TRUE(
      g->SetLimits({.memory_bytes = 32 * kMiB, .pids = 7, .group_pids = 12, .cpus = 1}).ok());
  EXPECT_EQ(Slurp(f.dirs.pids + "/pids.max"), "7");
}

TEST(V1Files, ReadUsageParsesCounters) {
  FakeV1 f;
  Spit(f.dirs.cpuacct + "/cpuacct.usage", "123456789\n");
  Spit(f.dirs.memory + "/memory.max_usage_in_bytes", "1000\n");
  Spit(f.dirs.memory + "/memory.memsw.max_usage_in_bytes", "2000\n");
  Spit(f.dirs.memory + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
  Spit(f.dirs.memory + "/memory.failcnt", "0\n");
  Spit(f.dirs.memory + "/memory.memsw.failcnt", "7\n");
  Spit(f.dirs.pids + "/pids.events", "max 4\n");
  auto u = internal::V1GroupAt(f.dirs, "g")->ReadUsage();
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->cpu_ns, 123456789u);
  EXPECT_EQ(u->peak_memory_bytes, 1000u);  // RAM: memsw's watermark can overshoot a page
  EXPECT_EQ(u->oom_kills, 3u);
  EXPECT_EQ(u->memory_max_events, 7u);
  // An OOM kill with no failed charge counted (6.16+, memsw == memory) still counts as a hit.
  Spit(f.dirs.memory + "/memory.memsw.failcnt", "0\n");
  EXPECT_EQ(internal::V1GroupAt(f.dirs, "g")->ReadUsage()->memory_max_events, 3u);
  EXPECT_EQ(u->pids_max_events, 4u);
}

// A command leaf of a group over plain directories (V1GroupAt has no task leaf: the leaf is
// right below the group's directories), with a freezer of its own.
TEST(V1Files, MakeLeafDirsAndJoinOrder) {
  FakeV1 f;
  f.dirs.freezer = f.t.path() + "/freezer";
  std::filesystem::create_directory(f.dirs.freezer);
  auto g = internal::V1GroupAt(f.dirs, "g");
  EXPECT_FALSE(g->MakeLeaf("..", 0, 0).ok());
  auto leaf = g->MakeLeaf("c1", 0, 0);
  ASSERT_TRUE(leaf.ok()) << leaf.status().message();
  const LeafJoin j = (*leaf)->Join();
  EXPECT_FALSE(j.clone_into);
  EXPECT_EQ(j.dir, f.dirs.memory + "/c1");
  EXPECT_EQ(j.memory_stat, f.dirs.memory + "/c1/memory.stat");
  EXPECT_EQ(j.procs,
            (std::vector<std::string>{
                f.dirs.memory + "/c1/cgroup.procs", f.dirs.pids + "/c1/cgroup.procs",
                f.dirs.cpuacct + "/c1/cgroup.procs", f.dirs.freezer + "/c1/cgroup.procs"}));
  for (const std::string& file : j.procs)
    EXPECT_TRUE(cgtest::IsDir(file.substr(0, file.rfind('/'))));
  EXPECT_FALSE(g->MakeLeaf("c1", 0, 0).ok()) << "exists";
  // Empty directories: the destructor removes them.
  leaf.value().reset();
  for (const std::string& file : j.procs)
    EXPECT_FALSE(cgtest::IsDir(file.substr(0, file.rfind('/'))));
}

TEST(V1Files, LeafReadsItsFilesAndKillsThroughItsFreezer) {
  FakeV1 f;
  internal::V1Dirs c = {f.dirs.memory, f.dirs.pids, f.dirs.cpu, f.dirs.cpuacct,
                        f.t.path() + "/freezer"};
  std::filesystem::create_directory(c.freezer);
  Spit(c.freezer + "/cgroup.procs", "");
  Spit(c.freezer + "/freezer.state", "THAWED\n");
  Spit(c.cpuacct + "/cpuacct.usage", "123456789\n");
  Spit(c.memory + "/memory.max_usage_in_bytes", "1000\n");
  Spit(c.memory + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
  auto leaf = internal::V1LeafAt(c, "c1");
  EXPECT_EQ(leaf->CpuNs().value(), 123456789u);
  EXPECT_EQ(leaf->PeakMemory().value(), 1000u);
  EXPECT_EQ(leaf->OomKills(), 3u);
  EXPECT_TRUE(leaf->Empty());
  Spit(c.pids + "/cgroup.procs", "4000000\n");  // no such pid: Empty looks, it does not kill
  EXPECT_FALSE(leaf->Empty());
  Spit(c.pids + "/cgroup.procs", "");
  ASSERT_TRUE(leaf->KillAll().ok());
  EXPECT_EQ(Slurp(c.freezer + "/freezer.state"), "THAWED");
}

// A group adds its command leaves' counts to its own where the kernel keeps them in the leaf
// (v1 OOM kills and refused forks), and keeps its own where it counts the whole subtree (then it
// is the larger).
TEST(V1Files, GroupCountsItsLeaves) {
  FakeV1 f;
  Spit(f.dirs.cpuacct + "/cpuacct.usage", "5\n");
  Spit(f.dirs.memory + "/memory.max_usage_in_bytes", "1000\n");
  Spit(f.dirs.memory + "/memory.oom_control", "oom_kill 0\n");
  Spit(f.dirs.memory + "/memory.failcnt", "0\n");
  Spit(f.dirs.pids + "/pids.events", "max 0\n");
  Spit(f.dirs.memory + "/memory.usage_in_bytes", "8192\n");
  Spit(f.dirs.pids + "/pids.current", "2\n");
  auto g = internal::V1GroupAt(f.dirs, "g");
  auto now = g->ReadCurrent();
  ASSERT_TRUE(now.ok()) << now.status().message();
  EXPECT_EQ(now->memory_bytes, 8192u);
  EXPECT_EQ(now->pids, 2u);
  auto a = g->MakeLeaf("a", 0, 0);
  auto b = g->MakeLeaf("b", 0, 0);
  ASSERT_TRUE(a.ok() && b.ok());
  Spit(f.dirs.memory + "/a/memory.oom_control", "oom_kill 2\n");
  Spit(f.dirs.memory + "/b/memory.oom_control", "oom_kill 1\n");
  Spit(f.dirs.pids + "/b/pids.events", "max 4\n");
  auto u = g->ReadUsage();
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->oom_kills, 3u);
  EXPECT_EQ(u->memory_oom_events, 3u);
  EXPECT_EQ(u->memory_max_events, 3u);
  EXPECT_EQ(u->pids_max_events, 4u);
  Spit(f.dirs.memory + "/memory.oom_control", "oom_kill 5\n");
  EXPECT_EQ(g->ReadUsage()->oom_kills, 5u);
}

}  // namespace
}  // namespace brood::cgroup
