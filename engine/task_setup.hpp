// Turning a job and the slot a starter acquired for it into a started task: the slot's cgroup
// limits and workspace disk, the task spec, the pipes and the RUN request to a zygote of the
// job's profile. Blocks (a RUN request; now and then a new zygote or disk): starter threads only.
#pragma once

#include <cstdint>

#include "brood/engine.hpp"
#include "brood/profile.hpp"
#include "task_run.hpp"
#include "workspace/disk.hpp"
#include "zygote/pool.hpp"

namespace brood {

// What every task of an engine is set up with.
struct TaskSetup {
  EngineInfo info;
  bool watch_denied = false;  // the seccomp program has a listener (kill, log)
  bool rlimit_mode = false;   // no cgroups: rlimits stand in
  bool cgroup_v1 = false;     // the OOM event fd fires on OOMs only (v1)
  workspace::DiskOptions disk_opts;
  zygote::Pool* pool = nullptr;
};

// The task's sandbox in `slot` (acquired by the caller, who releases it on failure). Fills
// everything of TaskRunParams but what the engine adds (admitted_ns, lease, callbacks).
// *zygote_failed: the slot's zygote failed the request (a retry with a new one may work).
sys::StatusOr<TaskRunParams> PrepareTask(const TaskSetup& setup, const Job& job,
                                         const Limits& limits, const SandboxProfile& profile,
                                         zygote::Slot& slot, bool* zygote_failed);

}  // namespace brood
