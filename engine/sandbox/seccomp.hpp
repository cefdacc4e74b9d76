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
  kKill,   // denied calls kill the whole task process (status `violation`)
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
};

// Builds the BPF program. Non-native architectures (i386 int 0x80, x32) kill the process.
sys::StatusOr<SeccompProgram> CompileTaskPolicy(ViolationAction action);

// Installs `prog` on the calling thread. Async-signal-safe: no allocation, usable after fork.
// The caller must have set PR_SET_NO_NEW_PRIVS. Returns 0 or -errno.
int LoadSeccomp(const SeccompProgram& prog) noexcept;

}  // namespace brood::sandbox
