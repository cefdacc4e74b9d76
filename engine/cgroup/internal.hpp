// What the backends share (internal to engine/cgroup): the resolved layout of the host's
// hierarchies, the parsers behind Detect(), and test seams that run the backends' file logic on
// plain directories (a v2 group cannot run on a v1 host, but its files can be faked).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
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

// Sessions' command leaves (v1_leaf.cpp, v2_leaf.cpp), below a group's task leaf.
//
// What the command leaves of one group counted before their directories (and the kernel's
// counters with them) went away. A group adds its live leaves' counters and these to its task
// leaf's where the kernel counts an event only in the cgroup of the process it happened to (v1:
// an OOM kill in the victim's memory cgroup, a refused fork in the forking process's pids cgroup;
// v2 before 6.11 or with pids_localevents: a refused fork likewise; v2 with memory_localevents:
// an OOM kill likewise), not in the task leaf whose limit was hit.
struct LeafTally {
  std::mutex mu;  // held over a read of the leaves and the tally, and over a leaf's removal
  uint64_t oom_kills = 0;
  uint64_t pids_max_events = 0;
};
// A task leaf's counter with its command leaves': the task leaf's own where the kernel counts
// hierarchically (it is then at least the leaves' sum), else the leaves' sum (the task leaf holds
// no process of its own once it has command leaves, so its own count stays 0).
inline uint64_t WithLeaves(uint64_t task_leaf, uint64_t leaves_sum) {
  return task_leaf > leaves_sum ? task_leaf : leaves_sum;
}

// v1: a command leaf over `dirs` (memory, pids, cpuacct, the co-mounted cpu, and freezer; empty:
// none). `owned`: the destructor removes the directories (if no process is left) and adds their
// counters to `tally` (may be null).
std::unique_ptr<Leaf> NewV1Leaf(const V1Dirs& dirs, std::string name,
                                std::shared_ptr<LeafTally> tally, bool owned);
// v2: a command leaf over `dir`, likewise.
std::unique_ptr<Leaf> NewV2Leaf(std::string dir, std::string name, std::shared_ptr<LeafTally> tally,
                                bool owned);
// Test seams: leaves over existing directories, which they do not remove.
inline std::unique_ptr<Leaf> V1LeafAt(const V1Dirs& dirs, std::string name) {
  return NewV1Leaf(dirs, std::move(name), nullptr, /*owned=*/false);
}
inline std::unique_ptr<Leaf> V2LeafAt(const std::string& dir, std::string name) {
  return NewV2Leaf(dir, std::move(name), nullptr, /*owned=*/false);
}

// KillAll of a v1 group or leaf: freezes `freezer` ("" for none; v1's freezer is hierarchical),
// SIGKILLs every process in `dirs` and below, thaws; then waits until none is left (up to 5 s),
// killing what a fork let through (without a freezer, that loop is all).
sys::Status V1KillAll(const std::string& freezer, const std::vector<std::string>& dirs);
// KillAll of a v2 group or leaf: cgroup.kill (5.14+, recursive), else cgroup.freeze, SIGKILL of
// every process in `dir` and below, thaw; then waits until none is left (up to 5 s).
sys::Status V2KillAll(const std::string& dir);

// Registers the brood-<pid> directories of a new Tree (one live Tree per directory in this
// process) after removing whatever a dead process with our pid left there; Release on destruction.
sys::Status ClaimTreeDirs(const std::vector<std::string>& dirs);
void ReleaseTreeDirs(const std::vector<std::string>& dirs);

// A group name is one path component of [A-Za-z0-9_.-], not "." or "..".
sys::Status CheckGroupName(const std::string& name);

// What pids.max takes for a count: the number, or "max" for 0 (no limit). v1 and v2 alike.
inline std::string PidsMaxValue(uint64_t pids) { return pids ? std::to_string(pids) : "max"; }

}  // namespace brood::cgroup::internal
