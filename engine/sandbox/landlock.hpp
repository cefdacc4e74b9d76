// Landlock, the second layer under seccomp: each task's main process restricts itself, after its
// mounts and no_new_privs and before seccomp, to what the sandbox's mounts mean it to have:
// read and execute on the root (system directories, the /etc view, /dev, /proc), everything but
// device creation on its workspace, /tmp and /dev/shm, read and write on the contract's device
// nodes and /dev/pts (with terminal ioctls). With ABI 6, abstract unix sockets and signals are
// scoped to the task: it reaches no abstract socket and signals no process outside it.
//
// The rules are built per task because the workspace, /tmp, /dev/shm, /proc and /dev/pts are new
// mounts per task (Landlock binds rules to the inodes, and would miss what a later mount hides).
#pragma once

namespace brood::sandbox {

// The Landlock ABI brood uses on this host: the kernel's, or 0 without Landlock or below ABI 2
// (ABI 1 refuses every rename or link across directories, which breaks git and pip).
int LandlockAbi();

// Restricts the calling process (and what it starts) for ABI `abi` (>= 2). Post-fork code: no
// allocation. Returns 0 or an errno; the caller must not run the task when it fails.
int ApplyLandlock(int abi) noexcept;

}  // namespace brood::sandbox
