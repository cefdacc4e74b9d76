#include "zygote/pool.hpp"

#include <algorithm>

#include "sys/clock.hpp"

namespace brood::zygote {
void EndZygote(ZygoteHandle& z, bool kill) {
  // The zygote exits when its socket closes, once its parked init is gone: a SIGKILL first
  // would orphan that init (it dies of its parent-death signal, but reparented, not reaped here).
  z.sock.reset();
  if (!z.process.WaitExited(kill ? 200 : 2000)) {
    z.process.Kill();
    z.process.WaitExited(2000);
  }
  z.process = {};
}

ZygoteConfig ZygoteConfigFor(const cgroup::Group* group, uint32_t host_uid, uint32_t host_gid,
                             const std::string& system_root, Network network) {
  ZygoteConfig zc;
  zc.network_none = network == Network::kNone;
  zc.system_root = system_root;
  zc.host_uid = host_uid;
  zc.host_gid = host_gid;
  if (group) {
    zc.cgroup_procs = group->HelperProcsFiles();
    const cgroup::Group::TaskLeaf leaf = group->Task();
    zc.task_cgroup = leaf.clone_into ? leaf.dir : leaf.procs.at(0);
    if (!leaf.clone_into) zc.task_procs_extra.assign(leaf.procs.begin() + 1, leaf.procs.end());
    zc.task_clone_into = leaf.clone_into;
    zc.task_memory_stat = leaf.memory_stat;
  }
  return zc;
}

bool Pool::Alive(const ZygoteHandle& z) { return z.process && !z.process.WaitExited(0); }

WarmZygote* Slot::Find(const SandboxProfile& profile) {
  for (auto& w : zygotes)
    if (w.profile == profile) return &w;
  return nullptr;
}

sys::StatusOr<std::unique_ptr<Pool>> Pool::Create(const PoolConfig& config, Hatchery* hatchery,
                                                  cgroup::Tree* tree) {
  auto pool = std::unique_ptr<Pool>(new Pool(config, hatchery));
  pool->config_.zygotes_per_slot = std::max(1, config.zygotes_per_slot);
  for (int i = 0; i < config.slots; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->index = i;
    slot->host_uid = config.same_uid_for_all ? config.host_uid_base : config.host_uid_base + i;
    slot->host_gid = config.same_uid_for_all ? config.host_gid_base : config.host_gid_base + i;
    if (tree) {
      auto group = tree->MakeGroup(config.group_prefix + std::to_string(i));
      if (!group.ok()) return group.status();
      slot->group = std::move(group.value());
      if (auto st = slot->group->Delegate(slot->host_uid, slot->host_gid); !st.ok()) return st;
      // Registered once with the slot (an fd count that stays constant over its tasks).
      if (auto oom = slot->group->OomEventFd(); oom.ok()) slot->oom_event = std::move(oom.value());
    }
    pool->slots_.push_back(std::move(slot));
  }
  // The thread also reaps recycled zygotes, so it runs even when the pool is not kept warm.
  pool->maintainer_ = std::thread([p = pool.get()] { p->Maintain(); });
  return pool;
}

Pool::~Pool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (maintainer_.joinable()) maintainer_.join();
  for (auto& slot : slots_) {
    for (auto& z : slot->dying) EndZygote(z, /*kill=*/true);
    for (auto& w : slot->zygotes) EndZygote(w.z);
    if (slot->group) (void)slot->group->KillAll();
    slot->group.reset();
  }
}

sys::StatusOr<ZygoteHandle> Pool::Spawn(Slot& slot, const SandboxProfile& profile) {
  auto root = config_.roots.find(profile.root);
  if (root == config_.roots.end())
    return sys::Status::Error(ErrorKind::kInvalidArgument,
                              "no root named \"" + profile.root + "\"");
  const ZygoteConfig zc = ZygoteConfigFor(slot.group.get(), slot.host_uid, slot.host_gid,
                                          root->second, profile.network);
  return hatchery_->SpawnZygote(zc);
}

void Pool::Freed() {
  changed_.notify_all();
  if (config_.on_free) config_.on_free();
}

void Pool::Maintain() {
  const SandboxProfile fallback;  // the default profile: what most tasks use
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // Recycled zygotes: a slot is free again once its dying zygotes are gone.
    bool freed = false, waiting = false;
    for (auto& s : slots_) {
      if (s->dying.empty()) continue;
      const int64_t now = sys::MonotonicNs();
      std::erase_if(s->dying, [now](ZygoteHandle& z) {
        if (z.process.WaitExited(0)) return true;
        if (now >= z.kill_at_ns) z.process.Kill();  // stuck: it did not exit on its own
        return false;
      });
      if (s->dying.empty()) {
        s->busy = false;
        freed = true;
      } else {
        waiting = true;
      }
    }
    if (freed) {
      lock.unlock();
      Freed();
      lock.lock();
    }
    // A free slot without a live default-profile zygote gets one, off the critical path.
    Slot* cold = nullptr;
    for (auto& s : slots_) {
      if (!config_.warm || s->busy) continue;
      WarmZygote* w = s->Find(fallback);
      if (w && !Alive(w->z)) {
        EndZygote(w->z);
        std::erase_if(s->zygotes, [&](const WarmZygote& x) { return &x == w; });
        w = nullptr;
      }
      if (!w && static_cast<int>(s->zygotes.size()) < config_.zygotes_per_slot) {
        cold = s.get();
        break;
      }
    }
    if (!cold) {
      // Woken by every release; the timeout also notices a zygote killed from outside while
      // its slot sits idle. Dying zygotes are polled more often: their slot waits for them.
      changed_.wait_for(lock, std::chrono::milliseconds(waiting ? 1 : 500));
      continue;
    }
    cold->busy = true;
    lock.unlock();
    // The rest of the slot's warm-up (its workspace disk: mkfs.ext4, ~15 ms) alongside the
    // zygote's start, which it does not touch: a cold start waits for the longer of the two.
    std::thread rest;
    if (config_.warm_up) rest = std::thread([this, cold] { config_.warm_up(*cold); });
    auto z = Spawn(*cold, fallback);
    if (rest.joinable()) rest.join();
    if (z.ok()) cold->zygotes.push_back({fallback, std::move(z.value()), 0});
    lock.lock();
    cold->busy = false;
    lock.unlock();
    Freed();
    lock.lock();
    // A host that cannot make zygotes fails each task with the reason; do not spin on it.
    if (!z.ok()) changed_.wait_for(lock, std::chrono::seconds(1));
  }
}

bool Pool::HasFree() {
  std::lock_guard lock(mu_);
  for (auto& s : slots_)
    if (!s->busy) return true;
  return false;
}

int Pool::BusySlots() {
  std::lock_guard lock(mu_);
  int n = 0;
  for (auto& s : slots_) n += s->busy;
  return n;
}

std::unordered_map<SandboxProfile, int> Pool::WarmZygotes() {
  std::lock_guard lock(mu_);
  std::unordered_map<SandboxProfile, int> warm;
  for (auto& s : slots_)
    for (auto& z : s->zygotes) ++warm[z.profile];
  return warm;
}

Lease& Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    Return(false);
    pool_ = std::exchange(o.pool_, nullptr);
    slot_ = std::exchange(o.slot_, nullptr);
    profile_ = std::move(o.profile_);
  }
  return *this;
}

void Lease::Return(bool recycle) {
  if (!slot_) return;
  pool_->Release(std::exchange(slot_, nullptr), profile_, recycle);
}

Lease Pool::TryAcquire(const SandboxProfile& profile) {
  std::lock_guard lock(mu_);
  Slot* any = nullptr;
  for (auto& s : slots_) {
    if (s->busy) continue;
    if (WarmZygote* w = s->Find(profile); w && Alive(w->z)) {
      any = s.get();  // warm and ready: the common case
      break;
    }
    // Else the free slot with the fewest zygotes: the least to end for a new one.
    if (!any || s->zygotes.size() < any->zygotes.size()) any = s.get();
  }
  if (!any) return {};
  any->busy = true;
  if (WarmZygote* w = any->Find(profile)) w->last_used = ++uses_;
  return Lease(this, any, profile);
}

sys::StatusOr<ZygoteHandle*> Pool::Ready(Slot& slot, const SandboxProfile& profile) {
  if (WarmZygote* w = slot.Find(profile)) {
    if (Alive(w->z)) return &w->z;
    Discard(slot, profile);
  }
  // Room for one more: the least recently used zygote of another profile goes.
  while (static_cast<int>(slot.zygotes.size()) >= config_.zygotes_per_slot) {
    auto lru = std::min_element(
        slot.zygotes.begin(), slot.zygotes.end(),
        [](const WarmZygote& a, const WarmZygote& b) { return a.last_used < b.last_used; });
    Discard(slot, lru->profile);
  }
  auto z = Spawn(slot, profile);
  if (!z.ok()) return z.status();
  uint64_t used;
  {
    std::lock_guard lock(mu_);
    used = ++uses_;
  }
  slot.zygotes.push_back({profile, std::move(z.value()), used});
  return &slot.zygotes.back().z;
}

void Pool::Discard(Slot& slot, const SandboxProfile& profile) {
  WarmZygote* w = slot.Find(profile);
  if (!w) return;
  EndZygote(w->z, /*kill=*/true);
  std::erase_if(slot.zygotes, [&](const WarmZygote& x) { return &x == w; });
}

void Pool::Release(Slot* slot, const SandboxProfile& profile, bool recycle) {
  bool free_now = true;
  {
    std::lock_guard lock(mu_);  // the pool's thread reads `dying`
    if (WarmZygote* w = recycle ? slot->Find(profile) : nullptr) {
      w->z.sock.reset();  // it exits (see EndZygote); SIGKILLed if not gone in 2 s
      w->z.kill_at_ns = sys::MonotonicNs() + 2'000'000'000;
      slot->dying.push_back(std::move(w->z));
      std::erase_if(slot->zygotes, [&](const WarmZygote& x) { return &x == w; });
      free_now = false;  // the pool's thread frees the slot once the zygote is gone
    }
    if (free_now) slot->busy = false;
  }
  if (free_now)
    Freed();
  else
    changed_.notify_all();
}

}  // namespace brood::zygote
