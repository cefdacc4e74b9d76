// What the backends share (internal to engine/cgroup): the resolved layout of the host's
// hierarchies, the parsers behind Detect(), and test seams that run the backends' file logic on
// plain directories (a v2 group cannot run on a v1 host, but its files can be faked).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cgroup/cgroup.hpp"

namespace brood::cgroup::internal {

// One cgroup or cgroup2 mount (sys::MountInfo), as detection sees it.
struct CgroupMount {
  bool v2 = false;
  std::string root;                      // the hierarchy path mounted there
  std::string mount_point;               // octal escapes decoded
  std::vector<std::string> controllers;  // v1 only, from the super options ("cpu", "cpuacct")
};
// The cgroup and cgroup2 mounts of /proc/self/mountinfo text, in its order.
std::vector<CgroupMount> ParseCgroupMounts(std::string_view mountinfo);
// /proc/self/cgroup as controller -> hierarchy path; the unified hierarchy ("0::/x") is key "".
std::map<std::string, std::string> ParseProcCgroup(std::string_view text);
// The non-empty fields of `s` split at `sep`.
std::vector<std::string> SplitWords(std::string_view s, char sep);

// Where brood's cgroups go, per backend. Filled by DetectFrom.
struct Layout {
  Version version = Version::kNone;
  std::string v2_base;                              // v2: the one base directory
  std::string memory, pids, cpu, cpuacct, freezer;  // v1: base per controller; freezer optional
  bool memory_swap = false;
  // v1: the distinct base directories (co-mounted cpu,cpuacct appear once), memory first.
  std::vector<std::string> V1Bases() const;
};

// Detect() on given mountinfo and /proc/self/cgroup text; file checks run on the real paths
// those name, so a test can point them into a temporary directory.
Probe DetectFrom(const Options& options, std::string_view mountinfo, std::string_view proc_cgroup,
                 Layout* layout);

// The backends' trees. `layout` must be usable for that version.
sys::StatusOr<std::unique_ptr<Tree>> CreateV1Tree(const Layout& layout);
// `controllers` are enabled for the groups; tests pass fewer to run the tree logic on a hybrid
// host's unified hierarchy, which has none of the real ones.
sys::StatusOr<std::unique_ptr<Tree>> CreateV2Tree(const Layout& layout,
                                                  const std::vector<std::string>& controllers = {
                                                      "memory", "pids", "cpu"});

// Removes brood-<N> below each base whose owner N is dead, killing what is left inside first.
// A tree whose processes we cannot see (another pid namespace owns it) is left alone.
void RemoveStaleTrees(const std::vector<std::string>& bases);

// The v1 group's directories; empty freezer means none (KillAll then kills in a loop).
struct V1Dirs {
  std::string memory, pids, cpu, cpuacct, freezer;
};
// Groups over existing directories, which they neither create nor remove (test seams; MakeGroup
// uses the same classes with ownership).
std::unique_ptr<Group> V1GroupAt(const V1Dirs& dirs, std::string name);
std::unique_ptr<Group> V2GroupAt(const std::string& dir, std::string name);

// Registers the brood-<pid> directories of a new Tree (one live Tree per directory in this
// process) after removing whatever a dead process with our pid left there; Release on destruction.
sys::Status ClaimTreeDirs(const std::vector<std::string>& dirs);
void ReleaseTreeDirs(const std::vector<std::string>& dirs);

// A group name is one path component of [A-Za-z0-9_.-], not "." or "..".
sys::Status CheckGroupName(const std::string& name);

// What pids.max takes for a count: the number, or "max" for 0 (no limit). v1 and v2 alike.
inline std::string PidsMaxValue(uint64_t pids) { return pids ? std::to_string(pids) : "max"; }

}  // namespace brood::cgroup::internal
