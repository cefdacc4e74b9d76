// A process known by its pidfd: signalled and waited for through it, so a pid the kernel has
// reused for another process is never touched. The handle owns the process: destroying it (or
// assigning over it) kills the process with SIGKILL, unless Release() gave up ownership first.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include "sys/fd.hpp"
#include "sys/status.hpp"

namespace brood::sys {

class Process {
 public:
  Process() = default;
  // `pidfd` from clone(CLONE_PIDFD), pidfd_open or another process; `pid` as this process's
  // pid namespace sees it (-1: unknown).
  explicit Process(UniqueFd pidfd, pid_t pid = -1) : pidfd_(std::move(pidfd)), pid_(pid) {}
  // pidfd_open(pid): ESRCH when it is gone.
  static StatusOr<Process> Open(pid_t pid);
  Process(Process&& o) noexcept = default;
  Process& operator=(Process&& o) noexcept;
  ~Process() { Kill(); }

  bool valid() const { return pidfd_.valid(); }
  explicit operator bool() const { return valid(); }
  int pidfd() const { return pidfd_.get(); }
  pid_t pid() const { return pid_; }

  // Sends `sig` (SIGKILL by default). False when there is no process or it has exited.
  bool Kill(int sig = SIGKILL) const;
  // Waits until the process has exited, at most timeout_ms (0: just look; -1: no limit). True
  // when it has. Never blocks longer than asked; does not reap (the parent does).
  bool WaitExited(int timeout_ms) const;
  // Gives up ownership: the process lives on, and the pidfd goes to the caller.
  [[nodiscard]] UniqueFd Release();

 private:
  UniqueFd pidfd_;
  pid_t pid_ = -1;
};

}  // namespace brood::sys
