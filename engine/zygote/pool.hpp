// The warm pool: one slot per unit of concurrency. A slot owns a host uid (the sandbox user of
// its tasks), a cgroup reused by its tasks, and a long-lived zygote per network shape that
// serves the slot's tasks one at a time.
//
// Why reuse rather than a zygote per task: a zygote costs a user and network namespace and a
// root (~3.5 ms) plus, on cgroup v1, a cgroup attach that waits for an RCU grace period
// (~10 ms). Reuse pays that once per slot, in the background. What a task can change dies with
// its pid, mount, ipc and uts namespaces and its tmpfs; the zygote's own namespaces hold
// nothing a task without capabilities can alter.
//
// Invariants:
//  - A slot runs at most one task; it is released only after the task's init has exited, i.e.
//    after every process of the task is gone.
//  - A zygote that died, failed a request, or whose task ended abnormally (an anomaly) is
//    killed and replaced; the replacement is made by the pool's thread when it can be.
//  - pids.max of a slot counts its zygotes and the task's init on top of the task's limit; the
//    memory limit is the task leaf's alone (zygotes and inits are never charged to it).
//  - A slot's workspace disk (when the host has them) is empty whenever the slot is free: the
//    task's init empties it, and a slot whose last task did not say so gets a new one.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cgroup/cgroup.hpp"
#include "sys/status.hpp"
#include "workspace/disk.hpp"
#include "zygote/hatchery.hpp"
#include "zygote/zygote.hpp"

namespace brood::zygote {

enum Shape : int { kNetNone = 0, kNetHost = 1, kShapes = 2 };

struct Slot;

struct PoolConfig {
  int slots = 1;
  std::string system_root = "/";
  uint32_t host_uid_base = 0;  // slot i's sandbox user is host_uid_base + i (root) ...
  uint32_t host_gid_base = 0;
  bool same_uid_for_all = false;   // ... or the caller's own uid for every slot (unprivileged)
  bool warm = true;                // start a zygote in every slot ahead of demand
  std::string group_prefix = "s";  // slot i's cgroup is <prefix><i> (unique per engine)
  // Run by the pool's thread for a slot it has just warmed (the slot is busy meanwhile): what
  // else a slot should have before its first task (the engine makes its workspace disk).
  std::function<void(Slot&)> warm_up;
};

struct Slot {
  int index = 0;
  uint32_t host_uid = 0, host_gid = 0;
  std::unique_ptr<cgroup::Group> group;  // null without cgroups
  std::optional<ZygoteHandle> zygote[kShapes];
  std::optional<cgroup::GroupLimits> limits;  // what the group is set to now
  sys::UniqueFd oom_event;  // the group's OOM event fd, registered once, drained per task
  std::unique_ptr<workspace::Disk> disk;  // null until a task needs one, or without disks
  bool disk_clean = false;  // its last task's init emptied it (set by the slot's holder)
  // Clean disks of other sizes, most recently used last: jobs that alternate between a few
  // disk_mb swap mounts instead of making a filesystem each time.
  std::vector<std::unique_ptr<workspace::Disk>> spare_disks;
  bool busy = false;
  int zygotes() const { return zygote[0].has_value() + zygote[1].has_value(); }
};

class Pool {
 public:
  // `tree` may be null (no cgroups). Starts the pool's thread when config.warm.
  static sys::StatusOr<std::unique_ptr<Pool>> Create(const PoolConfig& config, Hatchery* hatchery,
                                                     cgroup::Tree* tree);
  ~Pool();  // ends zygotes, waits for them, removes the slots' cgroups

  // Waits for a free slot and makes sure it has a live zygote of `shape` (starting one on this
  // thread if the pool has none ready). Thread-safe.
  sys::StatusOr<Slot*> Acquire(Shape shape);
  // Gives the slot back. `recycle`: the zygote of `shape` misbehaved; kill and replace it.
  void Release(Slot* slot, Shape shape, bool recycle);

  int slots() const { return static_cast<int>(slots_.size()); }

 private:
  Pool(const PoolConfig& c, Hatchery* h) : config_(c), hatchery_(h) {}
  sys::Status Spawn(Slot& slot, Shape shape);  // without mu_ held; the slot is busy
  void Maintain();                             // the pool's thread: warms and replaces
  static bool Alive(const ZygoteHandle& z);

  PoolConfig config_;
  Hatchery* hatchery_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::mutex mu_;
  std::condition_variable changed_;
  bool stopping_ = false;
  std::thread maintainer_;
};

// Ends a zygote: closes its socket and waits (bounded) until it is gone, SIGKILLing it if it
// does not exit on its own.
void EndZygote(ZygoteHandle& z);

}  // namespace brood::zygote
