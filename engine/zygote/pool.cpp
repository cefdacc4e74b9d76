#include "zygote/pool.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace brood::zygote {

void EndZygote(ZygoteHandle& z) {
  z.sock.reset();  // the zygote exits when its socket closes
  if (z.pidfd) {
    pollfd p{z.pidfd.get(), POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0) {
      syscall(SYS_pidfd_send_signal, z.pidfd.get(), SIGKILL, nullptr, 0);
      poll(&p, 1, 2000);
    }
  }
  z.pidfd.reset();
}

bool Pool::Alive(const ZygoteHandle& z) {
  pollfd p{z.pidfd.get(), POLLIN, 0};
  return z.pidfd && poll(&p, 1, 0) == 0;
}

sys::StatusOr<std::unique_ptr<Pool>> Pool::Create(const PoolConfig& config, Hatchery* hatchery,
                                                  cgroup::Tree* tree) {
  auto pool = std::unique_ptr<Pool>(new Pool(config, hatchery));
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
  if (config.warm) pool->maintainer_ = std::thread([p = pool.get()] { p->Maintain(); });
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
    for (auto& z : slot->zygote)
      if (z) EndZygote(*z);
    if (slot->group) (void)slot->group->KillAll();
    slot->group.reset();
  }
}

sys::Status Pool::Spawn(Slot& slot, Shape shape) {
  ZygoteConfig zc;
  zc.network_none = shape == kNetNone;
  zc.system_root = config_.system_root;
  zc.host_uid = slot.host_uid;
  zc.host_gid = slot.host_gid;
  if (slot.group) {
    zc.cgroup_procs = slot.group->HelperProcsFiles();
    const cgroup::Group::TaskLeaf leaf = slot.group->Task();
    zc.task_cgroup = leaf.clone_into ? leaf.dir : leaf.procs;
    zc.task_clone_into = leaf.clone_into;
    zc.task_memory_stat = leaf.memory_stat;
  }
  auto z = hatchery_->SpawnZygote(zc);
  if (!z.ok()) return z.status();
  slot.zygote[shape] = std::move(z.value());
  return sys::OkStatus();
}

void Pool::Maintain() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // A free slot without a live zygote for the default shape gets one, off the critical path.
    Slot* cold = nullptr;
    for (auto& s : slots_) {
      if (s->busy) continue;
      if (s->zygote[kNetNone] && !Alive(*s->zygote[kNetNone])) {
        EndZygote(*s->zygote[kNetNone]);
        s->zygote[kNetNone].reset();
      }
      if (!s->zygote[kNetNone]) {
        cold = s.get();
        break;
      }
    }
    if (!cold) {
      // Woken by every release; the timeout also notices a zygote killed from outside while
      // its slot sits idle.
      changed_.wait_for(lock, std::chrono::milliseconds(500));
      continue;
    }
    cold->busy = true;
    lock.unlock();
    sys::Status st = Spawn(*cold, kNetNone);
    if (st.ok() && config_.warm_up) config_.warm_up(*cold);
    lock.lock();
    cold->busy = false;
    changed_.notify_all();
    // A host that cannot make zygotes fails each task with the reason; do not spin on it.
    if (!st.ok()) changed_.wait_for(lock, std::chrono::seconds(1));
  }
}

sys::StatusOr<Slot*> Pool::Acquire(Shape shape) {
  std::unique_lock lock(mu_);
  Slot* slot = nullptr;
  changed_.wait(lock, [&] {
    Slot* any = nullptr;
    for (auto& s : slots_) {
      if (s->busy) continue;
      if (s->zygote[shape] && Alive(*s->zygote[shape])) {
        slot = s.get();  // warm and ready: the common case
        return true;
      }
      if (!any) any = s.get();
    }
    slot = any;
    return slot != nullptr;
  });
  slot->busy = true;
  bool ready = slot->zygote[shape] && Alive(*slot->zygote[shape]);
  lock.unlock();
  if (!ready) {
    if (slot->zygote[shape]) EndZygote(*slot->zygote[shape]);
    slot->zygote[shape].reset();
    sys::Status st = Spawn(*slot, shape);
    if (!st.ok()) {
      Release(slot, shape, false);
      return st;
    }
  }
  return slot;
}

void Pool::Release(Slot* slot, Shape shape, bool recycle) {
  if (recycle && slot->zygote[shape]) {
    syscall(SYS_pidfd_send_signal, slot->zygote[shape]->pidfd.get(), SIGKILL, nullptr, 0);
    EndZygote(*slot->zygote[shape]);
    slot->zygote[shape].reset();
  }
  {
    std::lock_guard lock(mu_);
    slot->busy = false;
  }
  changed_.notify_all();
}

}  // namespace brood::zygote
