// The task's seccomp policy: compiled once with libseccomp (in the supervisor, before the
// hatchery is forked), exported as BPF, and loaded in each task with one syscall.
#pragma once

#include <linux/filter.h>

#include <span>
#include <vector>

#include "sys/status.hpp"

namespace brood::sandbox {

enum class ViolationAction {
  kErrno,  // denied calls fail (EPERM; clone3 ENOSYS)
  kKill,   // a denied call, in any process of the task, ends the whole task (status `violation`)
};

// One rule of the policy: a syscall denied outright (or, for clone, only with namespace flags;
// for personality, only when it changes the persona; for ioctl, only TIOCSTI/TIOCLINUX).
struct DeniedSyscall {
  const char* name;    // as libseccomp names it
  int err;             // errno returned under kErrno (EPERM, or ENOSYS for clone3)
  const char* reason;  // why it is denied
};

// The policy as data: every syscall the default policy restricts.
std::span<const DeniedSyscall> DeniedSyscalls();

struct SeccompProgram {
  std::vector<sock_filter> insns;
  // kKill: denied calls are sent to a user-notification listener (SECCOMP_RET_USER_NOTIF) that
  // the task's init watches, and init kills the whole task. SECCOMP_RET_KILL_PROCESS would end
  // only the calling process, and its parent in the task could carry on as if nothing happened.
  // The call blocks until then; with no listener at all it would fail with ENOSYS.
  bool listener = false;
};

// Builds the BPF program. A non-native architecture's call (i386 int 0x80, x32) kills the calling
// process under kErrno, and ends the whole task like any denied call under kKill.
sys::StatusOr<SeccompProgram> CompileTaskPolicy(ViolationAction action);

// Installs `prog` on the calling thread. Async-signal-safe: no allocation, usable after fork.
// The caller must have set PR_SET_NO_NEW_PRIVS. When `prog.listener`, `*listener` receives the
// notification fd (O_CLOEXEC), which must never reach the task: whoever holds it could let a
// denied call through. Returns 0 or -errno (-EINVAL for a listener program without `listener`).
int LoadSeccomp(const SeccompProgram& prog, int* listener = nullptr) noexcept;

// True when a process behind `listener` is waiting in a denied call (never blocks).
bool ViolationPending(int listener) noexcept;

}  // namespace brood::sandbox
