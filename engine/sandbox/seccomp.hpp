// The task's seccomp policy: compiled once with libseccomp (in the supervisor, before the
// hatchery is forked), exported as BPF, and loaded in each task with one syscall.
#pragma once

#include <linux/filter.h>

#include <span>
#include <vector>

#include "sys/status.hpp"

namespace brood::sandbox {

enum class ViolationAction {
  kErrno,  // denied calls fail (EPERM)
  kKill,   // a denied call, in any process of the task, ends the whole task (status `violation`)
  kLog,    // denied calls fail with EPERM as under kErrno, and the result lists them
};

// A call the policy denies (EPERM) or pretends is absent (ENOSYS), from seccomp_policy.hpp.
struct DeniedSyscall {
  const char* name;    // as the kernel's x86_64 table names it
  int err;             // EPERM, or ENOSYS for the absent set
  const char* reason;  // why
};

// Every call of the policy's deny and absent sets.
std::span<const DeniedSyscall> DeniedSyscalls();

struct SeccompProgram {
  std::vector<sock_filter> insns;
  // kKill and kLog: denied calls are sent to a user-notification listener
  // (SECCOMP_RET_USER_NOTIF) that the task's init watches. Under kKill init kills the whole task:
  // SECCOMP_RET_KILL_PROCESS would end only the calling process, and its parent in the task
  // could carry on as if nothing happened. Under kLog init records the call and answers EPERM.
  // The call blocks until then; with no listener at all it would fail with ENOSYS. The program
  // is the same for both.
  bool listener = false;
  ViolationAction action = ViolationAction::kErrno;
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
