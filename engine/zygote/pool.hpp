// The warm pool: one slot per unit of concurrency. A slot owns a host uid (the sandbox user of
// its tasks), a cgroup reused by its tasks, and a few long-lived zygotes, each made for one
// sandbox profile (network, root), that serve the slot's tasks one at a time.
//
// Why reuse rather than a zygote per task: a zygote costs a user and network namespace and a
// root (~3.5 ms) plus, on cgroup v1, a cgroup attach that waits for an RCU grace period
// (~10 ms). Reuse pays that once per slot and profile, in the background. What a task can
// change dies with its pid, mount, ipc and uts namespaces and its workspace; the zygote's own
// namespaces hold nothing a task without capabilities can alter.
//
// Threads: TryAcquire and Release never block (the engine calls them on any thread, Release on
// the reactor thread); Ready may spawn a zygote and wait for one to die, so only the engine's
// starter threads call it. The pool's own thread warms free slots and reaps recycled zygotes.
//
// Invariants:
//  - A slot runs at most one task; it is released only after the task's init has exited, i.e.
//    after every process of the task is gone.
//  - A zygote that died, failed a request, or whose task ended abnormally (an anomaly) is
//    killed; its slot stays busy until it is gone, so its pid never counts against the next
//    task. A slot keeps at most `zygotes_per_slot` zygotes and ends the least recently used.
//  - pids.max of a slot counts its zygotes and the task's init on top of the task's limit; the
//    memory limit is the task leaf's alone (zygotes and inits are never charged to it).
//  - A slot's workspace disk (when the host has them) is empty whenever the slot is free: the
//    task's init empties it, and a slot whose last task did not say so gets a new one.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "brood/profile.hpp"
#include "cgroup/cgroup.hpp"
#include "sys/status.hpp"
#include "workspace/disk.hpp"
#include "zygote/hatchery.hpp"
#include "zygote/zygote.hpp"

namespace brood::zygote {

struct Slot;

struct PoolConfig {
  int slots = 1;
  // The host directory each root name stands for ("" is the default root, always present).
  std::map<std::string, std::string> roots = {{"", "/"}};
  int zygotes_per_slot = 2;    // warm zygotes a slot keeps at most, of different profiles
  uint32_t host_uid_base = 0;  // slot i's sandbox user is host_uid_base + i (root) ...
  uint32_t host_gid_base = 0;
  bool same_uid_for_all = false;   // ... or the caller's own uid for every slot (unprivileged)
  bool warm = true;                // start a default-profile zygote in every slot ahead of demand
  std::string group_prefix = "s";  // slot i's cgroup is <prefix><i> (unique per engine)
  // Run for a slot the pool's thread is warming (the slot is busy meanwhile), on a thread of its
  // own while the slot's zygote starts: what else a slot should have before its first task (the
  // engine makes its workspace disk). It must not touch the slot's zygotes.
  std::function<void(Slot&)> warm_up;
  // Called (without the pool's lock) whenever a slot becomes free: the engine's starters wait
  // for that.
  std::function<void()> on_free;
};

// A slot's zygote for one profile.
struct WarmZygote {
  SandboxProfile profile;
  ZygoteHandle z;
  uint64_t last_used = 0;  // the pool's use counter when a task last ran in it
};

struct Slot {
  int index = 0;
  uint32_t host_uid = 0, host_gid = 0;
  std::unique_ptr<cgroup::Group> group;       // null without cgroups
  std::vector<WarmZygote> zygotes;            // distinct profiles
  std::vector<ZygoteHandle> dying;            // killed, not yet gone: the slot stays busy meanwhile
  std::optional<cgroup::GroupLimits> limits;  // what the group is set to now
  sys::UniqueFd oom_event;  // the group's OOM event fd, registered once, drained per task
  std::unique_ptr<workspace::Disk> disk;  // null until a task needs one, or without disks
  bool disk_clean = false;  // its last task's init emptied it (set by the slot's holder)
  // Clean disks of other sizes, most recently used last: jobs that alternate between a few
  // disk_mb swap mounts instead of making a filesystem each time.
  std::vector<std::unique_ptr<workspace::Disk>> spare_disks;
  bool busy = false;
  // Its zygote of `profile`, or null.
  WarmZygote* Find(const SandboxProfile& profile);
};

class Pool;

// A slot taken from the pool, given back exactly once: by Return, or when the lease ends.
class Lease {
 public:
  Lease() = default;
  Lease(Pool* pool, Slot* slot, SandboxProfile profile)
      : pool_(pool), slot_(slot), profile_(std::move(profile)) {}
  Lease(Lease&& o) noexcept { *this = std::move(o); }
  Lease& operator=(Lease&& o) noexcept;
  ~Lease() { Return(false); }

  explicit operator bool() const { return slot_ != nullptr; }
  Slot& slot() const { return *slot_; }
  const SandboxProfile& profile() const { return profile_; }
  // Gives the slot back now (see Pool::Release); later calls do nothing.
  void Return(bool recycle);

 private:
  Pool* pool_ = nullptr;
  Slot* slot_ = nullptr;
  SandboxProfile profile_;
};

class Pool {
 public:
  // `tree` may be null (no cgroups). Starts the pool's thread when config.warm.
  static sys::StatusOr<std::unique_ptr<Pool>> Create(const PoolConfig& config, Hatchery* hatchery,
                                                     cgroup::Tree* tree);
  ~Pool();  // ends zygotes, waits for them, removes the slots' cgroups

  // A free slot for a task of `profile`, marked busy: one that has a live zygote of it if any,
  // else any free slot; null when every slot is busy. Never blocks. Thread-safe.
  Lease TryAcquire(const SandboxProfile& profile);
  // Whether some slot is free now. Thread-safe.
  bool HasFree();
  // Busy slots, and live zygotes per profile across slots. Thread-safe.
  int BusySlots();
  std::unordered_map<SandboxProfile, int> WarmZygotes();
  // Makes sure the acquired `slot` has a live zygote of `profile` and returns it: spawns one,
  // ending a dead one or the least recently used beyond zygotes_per_slot. Blocks (a zygote
  // takes milliseconds): the engine's starter threads only.
  sys::StatusOr<ZygoteHandle*> Ready(Slot& slot, const SandboxProfile& profile);
  // Gives the slot back (a Lease does this); never blocks. `recycle`: its zygote of `profile`
  // misbehaved: it is ended (EndZygote, SIGKILL after 2 s), and the slot becomes free once the
  // pool's thread has seen it gone.
  void Release(Slot* slot, const SandboxProfile& profile, bool recycle);
  // Kills the slot's zygote of `profile` and waits until it is gone (the slot stays acquired).
  // Blocks: the engine's starter threads only.
  void Discard(Slot& slot, const SandboxProfile& profile);

  int slots() const { return static_cast<int>(slots_.size()); }

 private:
  Pool(const PoolConfig& c, Hatchery* h) : config_(c), hatchery_(h) {}
  sys::StatusOr<ZygoteHandle> Spawn(Slot& slot, const SandboxProfile& profile);  // slot busy
  void Maintain();  // the pool's thread: warms free slots, reaps recycled zygotes
  void Freed();     // a slot became free: wake the maintainer and tell the engine
  static bool Alive(const ZygoteHandle& z);

  PoolConfig config_;
  Hatchery* hatchery_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::mutex mu_;
  std::condition_variable changed_;
  bool stopping_ = false;
  uint64_t uses_ = 0;  // under mu_: orders WarmZygote::last_used
  std::thread maintainer_;
};

// The config of a zygote for sandbox user host_uid/host_gid, root `system_root` and `network`,
// whose tasks go to `group`'s task leaf (null: no cgroups).
ZygoteConfig ZygoteConfigFor(const cgroup::Group* group, uint32_t host_uid, uint32_t host_gid,
                             const std::string& system_root, Network network);

// Ends a zygote: closes its socket and waits (bounded) until it is gone (with its parked init),
// SIGKILLing it if it does not exit on its own: after 2 s, or 200 ms with `kill`.
void EndZygote(ZygoteHandle& z, bool kill = false);

}  // namespace brood::zygote
