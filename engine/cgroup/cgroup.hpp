// Cgroups behind one interface: a v1 backend (memory+memsw, pids, cpu, cpuacct, freezer; each
// controller its own hierarchy, as in hybrid mode) and a v2 backend (unified hierarchy), chosen
// at run time by Detect().
//
// Layout: <base>/brood-<pid>/<group>, where <base> is brood's own cgroup (/proc/self/cgroup,
// per v1 controller) or --cgroup-root. On v2, brood first moves itself into
// brood-<pid>/supervisor (a cgroup with processes cannot enable controllers for its children).
//
// A group has a leaf of its own for the task's processes, <group>/task, which holds the memory
// and pids limits and counts the task's memory, CPU time and refused forks: brood's helpers in
// the group (a slot's zygotes and each task's init, and an init a zygote prepares for the next
// task) are never charged to the task. The group itself holds the CPU bandwidth limit and a
// pids cap over task and helpers together. v1: the leaf exists in the memory, pids and cpuacct
// hierarchies (memory/<group>/task, pids/<group>/task, cpuacct/<group>/task; one leaf where
// cpuacct is co-mounted with cpu), the helpers staying in <group> itself; v2: <group>/task
// beside <group>/helpers, the group itself holding no process (v2's "no internal processes").
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sys/fd.hpp"
#include "sys/status.hpp"

namespace brood::cgroup {

enum class Version { kNone, kV1, kV2 };
const char* VersionName(Version v);

struct Options {
  // A cgroup path as in /proc/self/cgroup ("/user/alice/brood"), resolved inside each hierarchy
  // (v1: /sys/fs/cgroup/<ctrl>/PATH; v2: <cgroup2 mount>/PATH). A path that already starts with
  // the v2 mount point is accepted as is. Empty: brood's own cgroup.
  std::string root;
};

// What the host offers. Never fails: a missing feature is described in `problems`.
struct Probe {
  Version version = Version::kNone;
  bool memory = false, pids = false, cpu = false;  // usable (present and writable) controllers
  bool memory_swap = false;                        // v1 memsw / v2 memory.swap.max present
  std::vector<std::string> bases;                  // resolved base directories
  std::vector<std::string> problems;               // "memory: /sys/fs/cgroup/memory/x not writable"
  bool usable() const { return version != Version::kNone && memory && pids && cpu; }
};
// v2 when the unified hierarchy's cgroup.controllers (of our cgroup) has memory, pids and cpu;
// else v1 when their hierarchies are mounted. `version` names the host's kind even when the
// controllers are not writable (then usable() is false and `problems` says why); `problems` also
// lists degradations on a usable host (no swap accounting, no v1 freezer).
Probe Detect(const Options& options);

// A zero (cpus <= 0) means "no limit" for that resource.
struct GroupLimits {
  // Memory and memory+swap both set to this: no swap (v1 sets memsw one page above, so that
  // the kernel counts limit hits; see v1.cpp).
  uint64_t memory_bytes = 0;
  uint64_t pids = 0;        // the task leaf's pids.max: the task's processes and threads only
  uint64_t group_pids = 0;  // the group's pids.max: a cap over task and helpers (0: none)
  double cpus = 1.0;        // CPU bandwidth in cores (cfs quota / cpu.max), the group's
};

struct Usage {
  uint64_t cpu_ns = 0;  // cumulative CPU time of every process ever in the task leaf
  // Since creation or the last ResetPeak(). v2 before 5.19 (no memory.peak): memory.current at
  // read time. v2 before 6.12: ResetPeak cannot reset, the peak stays "since creation".
  uint64_t peak_memory_bytes = 0;
  // peak_memory_bytes is the peak since the last ResetPeak(). False on v2 before 6.12 when usage
  // stayed below the peak from before the reset (then that older peak is all the kernel keeps,
  // an upper bound), and always before 5.19.
  bool peak_exact = true;
  uint64_t oom_kills = 0;  // cumulative OOM kills in the group
  // Cumulative times usage hit the limit (v2 memory.events max; v1 failcnt, never less than
  // oom_kills). Counts charges that failed, so one spike can count many. Hitting the limit is
  // normal for a task whose files fill its memory with page cache (the kernel reclaims it).
  uint64_t memory_max_events = 0;
  // Cumulative times an allocation could not be met even after reclaim (v2 memory.events oom;
  // v1 has no such counter: oom_kills): what `memory` in limits_hit means.
  uint64_t memory_oom_events = 0;
  uint64_t pids_max_events = 0;  // cumulative fork/clone failures at the task leaf's pids.max
};

// How a process started by a helper joins a leaf (a group's task leaf, or a session command's).
// v1 (`clone_into` false): it writes "0" to each of `procs` through fds that root opened (v1
// checks the opener's credentials; only the memory, pids and cpuacct hierarchies, and for a
// command's leaf the freezer, differ between helper and task). v2 (`clone_into` true): its parent
// clones it into `dir` with clone3(CLONE_INTO_CGROUP), which migrates nothing (no RCU grace
// period) but needs write access (Delegate).
struct LeafJoin {
  std::string dir;  // the leaf (v1: in the memory hierarchy)
  // v1: the distinct leaves' cgroup.procs, the memory leaf's first, then pids and cpuacct
  // (and freezer for a command's leaf; at most 4); v2: dir + "/cgroup.procs".
  std::vector<std::string> procs;
  std::string memory_stat;  // dir + "/memory.stat"
  bool clone_into = false;
};

// One command of a session: a cgroup below the session group's task leaf (which holds the
// session's limits, hierarchically), so that the command and everything it starts, setsid'd
// daemons included, can be counted and killed apart from the session's other processes.
// v1: <memory|pids|cpuacct>/<group>/task/<name> and freezer/<group>/<name>; v2:
// <group>/task/<name> (the task leaf then becomes an inner node and holds no process itself).
// The destructor removes the directories if no process is left in them (a command's background
// processes keep it until they exit; Group's KillAll and destructor take care of the rest).
class Leaf {
 public:
  virtual ~Leaf() = default;
  virtual LeafJoin Join() const = 0;
  virtual sys::StatusOr<uint64_t> CpuNs() = 0;       // CPU time of every process ever in it
  virtual sys::StatusOr<uint64_t> PeakMemory() = 0;  // its memory high-water mark
  virtual uint64_t OomKills() = 0;                   // OOM kills of its processes (0: unknown)
  // Kills every process in it (v2 cgroup.kill; v1 freezer freeze, SIGKILL, thaw; without a
  // freezer SIGKILL in a loop) and waits (up to 5 s) until none is left.
  virtual sys::Status KillAll() = 0;
  virtual bool Empty() = 0;  // no process left in it
  virtual const std::string& name() const = 0;
};

// One slot's cgroup (on v1: one directory per controller) with its task leaf. The memory and
// pids limits and every figure of Usage are the task leaf's (on v1, oom_kills and the memory
// figures its memory leaf's), command leaves included: where the kernel counts an OOM kill or a
// refused fork only in the leaf it happened in (v1; pids on v2 before 6.11), oom_kills and
// pids_max_events add the leaves' (also of leaves already removed). The CPU bandwidth limit, the
// pids cap and KillAll are the whole group's. The destructor removes it with the leaves left
// below; the caller makes sure no process is left in it first (KillAll).
class Group {
 public:
  virtual ~Group() = default;
  virtual sys::Status SetLimits(const GroupLimits& limits) = 0;
  virtual sys::Status ResetPeak() = 0;  // best effort where the kernel cannot (old v2)
  virtual sys::StatusOr<Usage> ReadUsage() = 0;
  virtual sys::StatusOr<uint64_t> ReadCpuNs() = 0;  // ReadUsage's cpu_ns alone, in one read
  // The cgroup.procs files a pid is written into to join the task leaf (Attach), and those of
  // brood's helpers (the hatchery puts zygotes there): v1 <hierarchy>/<group>/task in memory,
  // pids and cpuacct (or <hierarchy>/<group>), and the group's own in the other hierarchies
  // (cpu when not co-mounted with cpuacct, freezer); v2 <group>/task or <group>/helpers.
  virtual std::vector<std::string> ProcsFiles() const = 0;
  virtual std::vector<std::string> HelperProcsFiles() const = 0;
  // How a task's process joins the task leaf from a helper.
  using TaskLeaf = LeafJoin;
  virtual TaskLeaf Task() const = 0;
  // Gives host uid/gid what a process with those file ids needs to start processes in the task
  // leaf (v2: write access to the group's and the leaf's cgroup.procs). v1: nothing.
  virtual sys::Status Delegate(uid_t uid, gid_t gid) = 0;
  virtual sys::Status Attach(pid_t pid) = 0;  // into the task leaf
  // An fd that becomes readable when the group hits an OOM (v1: eventfd registered on
  // memory.oom_control through cgroup.event_control; v2: inotify on memory.events). Non-blocking:
  // a reader drains it with read() until EAGAIN. It also
  // fires for other things (v2: any memory.events change; v1: the group's removal), so on
  // readiness drain it and check ReadUsage().oom_kills, the reliable signal.
  virtual sys::StatusOr<sys::UniqueFd> OomEventFd() = 0;
  // Kills every process in the group (v2 cgroup.kill; v1 freezer freeze, SIGKILL, thaw) and
  // waits (up to 5 s) until cgroup.procs is empty. Zombies leave cgroup.procs at exit.
  virtual sys::Status KillAll() = 0;
  virtual const std::string& name() const = 0;

  // Sessions. A new leaf below the task leaf for one command; on v2 given to uid/gid as
  // Delegate does (clone3 into it from the session's init). Names as MakeGroup's.
  virtual sys::StatusOr<std::unique_ptr<Leaf>> MakeLeaf(const std::string& name, uid_t uid,
                                                        gid_t gid) = 0;
  // The task leaf's figures now: memory in use (v1 memory.usage_in_bytes, v2 memory.current)
  // and tasks (pids.current).
  struct Current {
    uint64_t memory_bytes = 0;
    uint64_t pids = 0;
  };
  virtual sys::StatusOr<Current> ReadCurrent() = 0;
};

class Tree {
 public:
  // Creates brood-<pid> (removing stale brood-* siblings whose owner pid is dead). Fails with a
  // message naming the missing controller or permission and pointing to `brood doctor`.
  // One Tree per base per process. v2: create it before forking helpers (the hatchery), since
  // the base must hold no process but brood when brood enables controllers there.
  static sys::StatusOr<std::unique_ptr<Tree>> Create(const Options& options);
  // Removes brood-<pid> and what is left below it, SIGKILLing processes left in its groups.
  // v2: brood moves itself back to the base first; if the base refuses (a neighbour brood in
  // the same base keeps controllers enabled), brood-<pid>/supervisor stays until we exit and the
  // next brood removes it as stale.
  virtual ~Tree() = default;
  virtual Version version() const = 0;
  // A new, empty leaf <tree>/<name>: name is [A-Za-z0-9_.-]+ (v2: not "supervisor"); an
  // existing group of that name is an error.
  virtual sys::StatusOr<std::unique_ptr<Group>> MakeGroup(const std::string& name) = 0;
};

}  // namespace brood::cgroup
