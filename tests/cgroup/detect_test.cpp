// Detection on made-up hosts: mountinfo and /proc/self/cgroup text pointing into a temporary
// directory, so pure v2, hybrid and co-mounted v1 layouts are all checked on any machine.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "cgroup/cgroup_fs.hpp"
#include "cgroup/internal.hpp"
#include "cgroup_test_util.hpp"

namespace brood::cgroup {
namespace {

using cgtest::Spit;
using cgtest::TempDir;
using internal::DetectFrom;
using internal::Layout;

bool Contains(const std::vector<std::string>& v, const std::string& needle) {
  return std::any_of(v.begin(), v.end(),
                     [&](const std::string& s) { return s.find(needle) != std::string::npos; });
}

void MakeDirs(const std::string& path) { std::filesystem::create_directories(path); }

TEST(ParseCgroupMounts, HybridCoMountedAndEscaped) {
  auto mounts = internal::ParseCgroupMounts(
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup "
      "rw,cpu,cpuacct\n"
      "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
      "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
      "41 31 0:38 /sub /sys/fs/cgroup/my\\040unified rw - cgroup2 cgroup2 rw,nsdelegate\n");
  ASSERT_EQ(mounts.size(), 4u);
  EXPECT_EQ(mounts[0].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(mounts[0].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_FALSE(mounts[0].v2);
  EXPECT_EQ(mounts[1].controllers, std::vector<std::string>{"memory"});
  EXPECT_TRUE(mounts[2].controllers.empty());  // name=systemd holds no controller
  EXPECT_TRUE(mounts[3].v2);
  EXPECT_EQ(mounts[3].root, "/sub");
  EXPECT_EQ(mounts[3].mount_point, "/sys/fs/cgroup/my unified");
}

TEST(ParseProcCgroup, V1AndUnifiedLines) {
  auto own = internal::ParseProcCgroup(
      "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/d72f\n2:cpu,cpuacct:/a\n0::/u\n");
  EXPECT_EQ(own["memory"], "/process_api/d72f");
  EXPECT_EQ(own["cpu"], "/a");
  EXPECT_EQ(own["cpuacct"], "/a");
  EXPECT_EQ(own["pids"], "/");
  EXPECT_EQ(own[""], "/u");
}

TEST(CgroupFs, KeyedValueAndNumbers) {
  const std::string events = "low 0\nhigh 0\nmax 17\noom 2\noom_kill 1\noom_group_kill 0\n";
  EXPECT_EQ(fs::KeyedValue(events, "max"), 17u);
  EXPECT_EQ(fs::KeyedValue(events, "oom_kill"), 1u);  // not confused with oom_group_kill
  EXPECT_EQ(fs::KeyedValue(events, "oom"), 2u);
  EXPECT_EQ(fs::KeyedValue(events, "none"), std::nullopt);
  EXPECT_EQ(fs::ParseU64("max\n"), UINT64_MAX);
  EXPECT_EQ(fs::ParseU64("9223372036854771712\n"), 9223372036854771712u);
  EXPECT_EQ(fs::ParseU64("-1"), std::nullopt);
  EXPECT_EQ(fs::ParseU64(""), std::nullopt);
}

TEST(DetectFrom, PureV2) {
  TempDir t;
  const std::string base = t.path() + "/user/brood";
  MakeDirs(base + "/child");
  Spit(base + "/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
  Spit(base + "/cgroup.procs", "");
  Spit(base + "/cgroup.subtree_control", "");
  Spit(base + "/child/memory.swap.max", "max\n");
  Layout layout;
  Probe p = DetectFrom({}, "41 31 0:38 / " + t.path() + " rw - cgroup2 cgroup2 rw\n",
                       "0::/user/brood\n", &layout);
  EXPECT_EQ(p.version, Version::kV2);
  EXPECT_TRUE(p.usable()) << cgtest::Problems(p);
  EXPECT_TRUE(p.memory_swap);
  EXPECT_EQ(p.bases, std::vector<std::string>{base});
  EXPECT_EQ(layout.v2_base, base);
}

TEST(DetectFrom, V2OwnSupervisorLeafIsSeenThrough) {
  // A live Tree of this process put us in <base>/brood-<pid>/supervisor: the base is unchanged
  // (so a second Tree finds the first's directory). Another process's supervisor is not ours.
  TempDir t;
  const std::string base = t.path() + "/user/brood";
  const std::string mine = "brood-" + std::to_string(::getpid()), other = "brood-1";
  MakeDirs(base + "/" + mine + "/supervisor");
  MakeDirs(base + "/" + other + "/supervisor");
  for (const std::string& d :
       {base, base + "/" + mine + "/supervisor", base + "/" + other + "/supervisor"}) {
    Spit(d + "/cgroup.controllers", "cpu memory pids\n");
    Spit(d + "/cgroup.procs", "");
    Spit(d + "/cgroup.subtree_control", "");
  }
  const std::string mi = "41 31 0:38 / " + t.path() + " rw - cgroup2 cgroup2 rw\n";
  Layout layout;
  Probe p = DetectFrom({}, mi, "0::/user/brood/" + mine + "/supervisor\n", &layout);
  EXPECT_TRUE(p.usable()) << cgtest::Problems(p);
  EXPECT_EQ(layout.v2_base, base);
  p = DetectFrom({}, mi, "0::/user/brood/" + other + "/supervisor\n", &layout);
  EXPECT_EQ(layout.v2_base, base + "/" + other + "/supervisor");
}

TEST(DetectFrom, V2NotDelegatedOrMissingBaseIsNamed) {
  TempDir t;
  MakeDirs(t.path() + "/user");
  Spit(t.path() + "/cgroup.controllers", "cpu memory pids\n");
  Spit(t.path() + "/user/cgroup.controllers", "cpu\n");
  const std::string mi = "41 31 0:38 / " + t.path() + " rw - cgroup2 cgroup2 rw\n";
  Layout layout;
  Probe p = DetectFrom({}, mi, "0::/user\n", &layout);
  EXPECT_EQ(p.version, Version::kV2);
  EXPECT_FALSE(p.usable());
  EXPECT_TRUE(Contains(p.problems, "cgroup: " + t.path() + "/user/cgroup.controllers lacks"))
      << cgtest::Problems(p);
  p = DetectFrom(Options{"/typo"}, mi, "0::/user\n", &layout);
  EXPECT_EQ(p.version, Version::kV2);
  EXPECT_TRUE(Contains(p.problems, "cgroup: " + t.path() + "/typo: does not exist"))
      << cgtest::Problems(p);
}

TEST(DetectFrom, HybridWithHugetlbOnlyUnifiedPicksV1CoMounted) {
  TempDir t;
  const std::string u = t.path() + "/unified", m = t.path() + "/memory", p = t.path() + "/pids",
                    c = t.path() + "/cpu,cpuacct";
  for (const auto& d : {u, m + "/x", p, c}) MakeDirs(d);
  Spit(u + "/cgroup.controllers", "hugetlb\n");
  Spit(m + "/x/memory.memsw.limit_in_bytes", "9223372036854771712\n");
  const std::string mi = "41 31 0:38 / " + u + " rw - cgroup2 cgroup2 rw\n" + "35 31 0:32 / " + m +
                         " rw - cgroup cgroup rw,memory\n" + "39 31 0:36 / " + p +
                         " rw - cgroup cgroup rw,pids\n" + "32 31 0:29 / " + c +
                         " rw - cgroup cgroup rw,cpu,cpuacct\n";
  Layout layout;
  Probe probe = DetectFrom({}, mi, "4:memory:/x\n3:pids:/\n2:cpu,cpuacct:/\n0::/\n", &layout);
  EXPECT_EQ(probe.version, Version::kV1);
  EXPECT_TRUE(probe.usable()) << cgtest::Problems(probe);
  EXPECT_TRUE(probe.memory_swap);
  EXPECT_EQ(layout.memory, m + "/x");
  EXPECT_EQ(layout.cpu, c);
  EXPECT_EQ(layout.cpuacct, c);
  EXPECT_EQ(probe.bases, (std::vector<std::string>{m + "/x", p, c}));  // co-mounted once
  EXPECT_TRUE(Contains(probe.problems, "freezer:")) << cgtest::Problems(probe);
}

TEST(DetectFrom, MissingV1HierarchyIsNamed) {
  TempDir t;
  MakeDirs(t.path() + "/memory");
  Layout layout;
  Probe p = DetectFrom({}, "35 31 0:32 / " + t.path() + "/memory rw - cgroup cgroup rw,memory\n",
                       "4:memory:/\n", &layout);
  EXPECT_EQ(p.version, Version::kV1);
  EXPECT_FALSE(p.usable());
  EXPECT_TRUE(Contains(p.problems, "pids: no cgroup v1 hierarchy mounted")) << cgtest::Problems(p);
  EXPECT_TRUE(Contains(p.problems, "cpuacct: no cgroup v1 hierarchy mounted"));
  EXPECT_TRUE(Contains(p.problems, "v2: no cgroup2 mount"));
}

TEST(DetectFrom, RootAsHierarchyPathOrMountPath) {
  TempDir t;
  const std::string m = t.path() + "/memory", p = t.path() + "/pids";
  for (const auto& d : {m + "/jail", p + "/jail"}) MakeDirs(d);
  const std::string mi = "35 31 0:32 / " + m + " rw - cgroup cgroup rw,memory\n" + "39 31 0:36 / " +
                         p + " rw - cgroup cgroup rw,pids\n";
  Layout layout;
  DetectFrom(Options{"/jail"}, mi, "4:memory:/elsewhere\n", &layout);
  EXPECT_EQ(layout.memory, m + "/jail");
  EXPECT_EQ(layout.pids, p + "/jail");
  // A filesystem path below one hierarchy names the same place in every hierarchy.
  DetectFrom(Options{m + "/jail"}, mi, "4:memory:/elsewhere\n", &layout);
  EXPECT_EQ(layout.memory, m + "/jail");
  EXPECT_EQ(layout.pids, p + "/jail");
}

TEST(DetectFrom, MountOfASubtree) {
  // Inside a container the hierarchy's /docker/abc is mounted at the usual place.
  TempDir t;
  MakeDirs(t.path() + "/memory/task");
  Layout layout;
  DetectFrom({}, "35 31 0:32 /docker/abc " + t.path() + "/memory rw - cgroup cgroup rw,memory\n",
             "4:memory:/docker/abc/task\n", &layout);
  EXPECT_EQ(layout.memory, t.path() + "/memory/task");
}

TEST(DetectFrom, NotWritableNamesPathAndUid) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  TempDir t;
  const std::string m = t.path() + "/memory";
  MakeDirs(m);
  ::chmod(t.path().c_str(), 0755);
  cgtest::Child child([&] {
    if (::setresuid(65534, 65534, 65534) != 0) return 3;
    Layout layout;
    Probe p = DetectFrom({}, "35 31 0:32 / " + m + " rw - cgroup cgroup rw,memory\n",
                         "4:memory:/\n", &layout);
    // Still a v1 host: the hierarchy is there, we just may not use it.
    bool named = Contains(p.problems, "memory: " + m + ": not writable by uid 65534");
    return named && !p.memory && p.version == Version::kV1 ? 0 : 1;
  });
  child.Release();
  int status = child.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Detect, ThisHost) {
  const Probe& p = cgtest::HostProbe();
  std::string mountinfo = cgtest::Slurp("/proc/self/mountinfo");
  auto mounts = internal::ParseCgroupMounts(mountinfo);
  auto v2 = std::find_if(mounts.begin(), mounts.end(), [](auto& m) { return m.v2; });
  std::string controllers =
      v2 == mounts.end() ? "" : cgtest::Slurp(v2->mount_point + "/cgroup.controllers");
  if (controllers.find("memory") == std::string::npos) {
    // A cgroup2 mount without the memory controller (hybrid mode) must not be picked.
    EXPECT_NE(p.version, Version::kV2) << cgtest::Problems(p);
  }
  std::cout << "host: " << VersionName(p.version) << ", usable " << p.usable() << ", memsw "
            << p.memory_swap << ", problems: " << cgtest::Problems(p) << "\n";
  for (const std::string& b : p.bases) EXPECT_TRUE(cgtest::IsDir(b)) << b;
}

}  // namespace
}  // namespace brood::cgroup
