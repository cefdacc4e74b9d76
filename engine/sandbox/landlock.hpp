// Landlock, the second layer under seccomp: each task's main process restricts itself, after its
// mounts and no_new_privs and before seccomp, to what the sandbox's mounts mean it to have:
// read and execute on the system directories, read on the /etc view and /proc, everything but
// device creation on its workspace, /tmp and /dev/shm, read and write on the contract's device
// nodes and /dev/pts (with terminal ioctls), and directory listing everywhere. With ABI 6, abstract
// unix sockets and signals are scoped to the task: it reaches no abstract socket and signals no
// process outside it.
//
// The rules are built per task because the workspace, /tmp, /dev/shm, /proc and /dev/pts are new
// mounts per task (Landlock binds rules to the inodes, and would miss what a later mount hides).
#pragma once

#include <cstdint>
#include <span>

namespace brood::sandbox {

// One row of the per-path table: the rights (LANDLOCK_ACCESS_FS_*, before masking by the ABI's
// handled set) granted beneath `dir` + `name`. Built from layout.hpp, the lists the mounts come
// from. A path the root lacks (lib32, say) is left out when the rules are applied.
struct LandlockRule {
  const char* dir;
  const char* name;
  uint64_t access;
};
std::span<const LandlockRule> LandlockRules();

// The Landlock ABI brood uses on this host: the kernel's, or 0 without Landlock or below ABI 2
// (ABI 1 refuses every rename or link across directories, which breaks git and pip).
int LandlockAbi();

// Restricts the calling process (and what it starts) for ABI `abi` (>= 2). Post-fork code: no
// allocation. Returns 0 or an errno; the caller must not run the task when it fails.
int ApplyLandlock(int abi) noexcept;

// The same in steps, so that a parked init builds most of the ruleset before its task exists:
// the ruleset (an fd, or -errno), the rules of paths that exist before the task's workspace is
// mounted (`task_dirs` false: the system directories, /etc, devices, /dev/pts, /proc) or of the
// task's own directories (`task_dirs` true), and the restriction itself, which closes the
// ruleset. Building enforces nothing: only RestrictLandlock does.
// `paths`: LandlockPaths() where the caller holds them open, or empty: each path is opened then.
int NewLandlockRuleset(int abi) noexcept;
int AddLandlockRules(int ruleset, int abi, bool task_dirs,
                     std::span<const int> paths = {}) noexcept;
int RestrictLandlock(int ruleset, int abi) noexcept;

// The paths of the rules that are the same for every task of a root (all but the task's own
// directories, /proc and /dev/pts, mounted per task), opened once (O_PATH) by the zygote when its
// root is built: the inodes the rules bind to are the same in every task's mount namespace, a
// copy of the zygote's. Its parkers and inits inherit the fds (sandbox/task.hpp KeepSlotFds
// keeps them), and each parked init builds its rules from them: no open and close of each path
// per task. A slot per row of LandlockRules(): an fd, -2 for a path the root lacks, -1 for a
// per-task path or one to open when used (all -1 before OpenLandlockPaths). The fds are the
// zygote's; an init closes its copies once its ruleset is built (CloseLandlockPaths), without
// changing the table, which it may share.
void OpenLandlockPaths() noexcept;
std::span<const int> LandlockPaths() noexcept;
void CloseLandlockPaths() noexcept;

}  // namespace brood::sandbox
