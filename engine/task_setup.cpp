#include "task_setup.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <thread>

#include "sandbox/task_spec.hpp"
#include "sys/file.hpp"
#include "zygote/parker.hpp"

namespace brood {
namespace {

constexpr size_t kSpareDisks = 2;  // per slot, beside its current workspace disk

// Whether EnsureDisk would make a new disk for a task of `disk_mb`.
bool NeedsNewDisk(const zygote::Slot& slot, int64_t disk_mb) {
  if (slot.disk && slot.disk_clean && slot.disk->disk_mb() == disk_mb) return false;
  return std::none_of(slot.spare_disks.begin(), slot.spare_disks.end(),
                      [&](const auto& d) { return d->disk_mb() == disk_mb; });
}

// The slot's workspace disk for a task of `disk_mb`: the one it has if that is of this size (a
// disk whose last task did not empty it is dropped), else a spare of that size, else a new one.
// Returns a mount of it when `z` does not hold it yet.
sys::StatusOr<sys::UniqueFd> EnsureDisk(const workspace::DiskOptions& disk_opts, zygote::Slot& slot,
                                        zygote::ZygoteHandle& z, int64_t disk_mb) {
  if (slot.disk && !slot.disk_clean) slot.disk.reset();  // never trusted again
  if (!slot.disk || slot.disk->disk_mb() != disk_mb) {
    auto& spares = slot.spare_disks;
    auto same = std::find_if(spares.begin(), spares.end(),
                             [&](const auto& d) { return d->disk_mb() == disk_mb; });
    std::unique_ptr<workspace::Disk> next;
    if (same != spares.end()) {
      next = std::move(*same);
      spares.erase(same);
    } else {
      auto disk = workspace::Disk::Create(disk_opts, disk_mb, WorkspaceInodes(disk_mb),
                                          slot.host_uid, slot.host_gid);
      if (!disk.ok()) return disk.status().Wrap("workspace disk");
      next = std::move(disk.value());
    }
    if (slot.disk) spares.push_back(std::move(slot.disk));
    if (spares.size() > kSpareDisks) spares.erase(spares.begin());
    slot.disk = std::move(next);
    slot.disk_clean = true;
  }
  if (z.disk_id == slot.disk->id()) return sys::UniqueFd();
  return slot.disk->NewMount();
}

}  // namespace

sys::StatusOr<TaskRunParams> PrepareTask(const TaskSetup& setup, const Job& job,
                                         const Limits& limits, const SandboxProfile& profile,
                                         zygote::Slot& slot_ref, bool* zygote_failed) {
  zygote::Slot* slot = &slot_ref;
  TaskRunParams p;
  p.id = job.id;
  p.limits = limits;
  p.enforcement = setup.info.enforcement;
  p.landlock = setup.info.landlock;
  p.watch_denied = setup.watch_denied;

  // A cold slot makes its workspace disk (mkfs.ext4) while its zygote starts: a cold task (a
  // one-shot `brood exec`) waits for the longer of the two, not for both.
  std::optional<sys::StatusOr<std::unique_ptr<workspace::Disk>>> made;
  std::thread maker;
  if (setup.info.shared_disk_reason.empty() && NeedsNewDisk(*slot, limits.disk_mb) &&
      !slot->Find(profile)) {
    maker = std::thread([&] {
      made =
          workspace::Disk::Create(setup.disk_opts, limits.disk_mb, WorkspaceInodes(limits.disk_mb),
                                  slot->host_uid, slot->host_gid);
    });
  }
  auto ready = setup.pool->Ready(*slot, profile);
  if (maker.joinable()) maker.join();
  if (made && made->ok()) slot->spare_disks.push_back(std::move(made->value()));  // taken below
  if (!ready.ok()) return ready.status();
  zygote::ZygoteHandle* zygote = ready.value();
  if (slot->group) {
    // memory_mb and pids exactly, in the task's own leaf (zygotes and inits are not in it). The
    // slot's cap adds the task's init and, per zygote, the zygote, its parkers, an init per
    // parker (running, parked or ending) and one it may have forked ready instead.
    cgroup::GroupLimits gl;
    gl.memory_bytes = static_cast<uint64_t>(limits.memory_mb) << 20;
    gl.pids = static_cast<uint64_t>(limits.pids);
    gl.group_pids = static_cast<uint64_t>(limits.pids) + 1 +
                    (2 + 2 * zygote::kMaxParkers) * slot->zygotes.size();
    gl.cpus = limits.cpus;
    if (!slot->limits || slot->limits->memory_bytes != gl.memory_bytes ||
        slot->limits->pids != gl.pids || slot->limits->group_pids != gl.group_pids ||
        slot->limits->cpus != gl.cpus) {
      slot->limits.reset();
      if (auto st = slot->group->SetLimits(gl); !st.ok()) return st;
      slot->limits = gl;
    }
    p.group = slot->group.get();
    if (slot->oom_event) {
      // Events of earlier tasks (eventfd counts, inotify records) are theirs: drain them.
      char drain[4096];
      while (read(slot->oom_event.get(), drain, sizeof drain) > 0) {
      }
      p.oom_event = slot->oom_event.get();
      p.oom_event_is_oom = setup.cgroup_v1;
    }
  }
  sys::UniqueFd workspace_mount;
  const bool use_disk = setup.info.shared_disk_reason.empty();
  if (use_disk) {
    auto m = EnsureDisk(setup.disk_opts, *slot, *zygote, limits.disk_mb);
    if (!m.ok()) return m.status();
    workspace_mount = std::move(m.value());
  }

  sandbox::TaskSpec spec;
  spec.argv = job.argv;
  std::map<std::string, std::string> env = {
      {"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", "/workspace"}, {"LANG", "C.UTF-8"}};
  for (const auto& [k, v] : job.env) env[k] = v;
  for (const auto& [k, v] : env) spec.envp.push_back(k + "=" + v);
  spec.cwd = job.cwd;
  spec.files = job.files;
  spec.collect = job.collect;
  spec.snapshot = job.snapshot;
  spec.disk_mb = limits.disk_mb;
  spec.disk_inodes = WorkspaceInodes(limits.disk_mb);
  spec.memory_mb = limits.memory_mb;
  spec.cpu_ms = limits.cpu_ms;
  spec.pids = limits.pids;
  spec.rlimit_mode = setup.rlimit_mode;
  spec.workspace_disk = use_disk;
  spec.landlock_abi = setup.info.landlock;

  auto spec_fd = sys::MemfdWith(sandbox::EncodeTaskSpec(spec), "brood-spec");
  if (!spec_fd.ok()) return spec_fd.status();
  auto out = sys::MakePipe(), err = sys::MakePipe(), report = sys::MakePipe();
  for (const auto* pipe : {&out, &err, &report}) {
    if (!pipe->ok()) return pipe->status();  // its own errno, not a later one
  }
  sys::UniqueFd stdin_task;
  if (job.stdin_fd >= 0) {
    auto in = sys::MakePipe();
    if (!in.ok()) return in.status();
    stdin_task = std::move(in->r);
    p.stdin_w = std::move(in->w);
    p.stdin_source = job.stdin_fd;
  } else if (!job.stdin_data.empty()) {
    auto mem = sys::MemfdWith(job.stdin_data, "brood-stdin");
    if (!mem.ok()) return mem.status();
    stdin_task = std::move(mem.value());
  }
  if (p.group) {
    (void)p.group->ResetPeak();  // peak memory is per task; the other counters are deltas
    if (auto u = p.group->ReadUsage(); u.ok()) p.baseline = *u;
  }
  if (!job.collect.empty() || job.snapshot) {
    auto mem = sys::MemfdWith("", "brood-collect", /*seal=*/false);
    if (!mem.ok()) return mem.status();
    p.collect = std::move(mem.value());
  }
  zygote::RunFds fds{spec_fd->get(),
                     stdin_task ? stdin_task.get() : -1,
                     out->w.get(),
                     err->w.get(),
                     report->w.get(),
                     p.collect ? p.collect.get() : -1,
                     workspace_mount ? workspace_mount.get() : -1};
  // From here the disk is the task's until its init says it emptied it.
  if (use_disk) slot->disk_clean = false;
  auto pidfd = zygote::RunInZygote(*zygote, fds);
  if (!pidfd.ok()) {
    // A zygote that died or misbehaved: brood replaces it, so this is not the host's doing.
    *zygote_failed = true;
    return sys::Status::Error(ErrorKind::kUnavailable, pidfd.status().message());
  }
  if (use_disk) zygote->disk_id = slot->disk->id();
  p.init = sys::Process(std::move(pidfd.value()));
  p.stdout_r = std::move(out->r);
  p.stderr_r = std::move(err->r);
  p.report_r = std::move(report->r);
  return p;  // the write ends close here: only the task holds them now
}

}  // namespace brood
