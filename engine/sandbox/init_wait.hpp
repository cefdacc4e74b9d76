// How the task's init waits for its main process. Post-fork code: no allocation, no exceptions.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>

namespace brood::sandbox {

// The seccomp listener travels from the main process, which loads the filter, to init over a
// socketpair. SendFd sends `fd` (SCM_RIGHTS) and closes it and `sock`; returns 0 or errno.
int SendFd(int sock, int fd);
// Receives one fd (O_CLOEXEC) and closes `sock`; -1 when the sender ended without sending one.
int ReceiveFd(int sock);

// The calls the seccomp listener saw (kKill, kLog): x86_64 numbers below kBits, and whether
// a call of another architecture (or an x32 number) was among them.
struct DeniedCalls {
  static constexpr int kBits = 512;
  uint64_t bits[kBits / 64] = {};
  uint32_t foreign = 0;
};

struct MainEnd {
  int status = 0;      // wait status of the main process
  int64_t end_ns = 0;  // CLOCK_MONOTONIC when it was reaped; 0 if it never was
  rusage ru{};         // its rusage
  DeniedCalls denied;  // WaitWatching only
};

// Takes one notification off `listener` and records its call; under `log` answers it EPERM (the
// caller goes on, as under kErrno), otherwise leaves the caller waiting for the kill. Records
// nothing when the notification is gone (its caller died meanwhile).
void TakeViolation(int listener, bool log, DeniedCalls* denied);

// Reaps until the main process has exited (orphans reparented to init are reaped on the way).
MainEnd Wait(pid_t main_pid);

// Wait, also watching the seccomp `listener`, with SIGCHLD blocked and read through `sfd`, and
// recording each denied call. Unless `log`, a denied call anywhere in the task kills the whole
// task (kill(-1, SIGKILL) from init), which then ends as if its main process had been killed by
// SIGSYS: status `violation`, whichever process made the call. With `log` the call fails with
// EPERM and the task goes on. Closes `listener` and `sfd`.
MainEnd WaitWatching(pid_t main_pid, int listener, int sfd, bool log);

}  // namespace brood::sandbox
