#include "sys/process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace brood::sys {

StatusOr<Process> Process::Open(pid_t pid) {
  UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!fd) return PosixError("pidfd_open(" + std::to_string(pid) + ")");
  return Process(std::move(fd), pid);
}

Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    Kill();
    pidfd_ = std::move(o.pidfd_);
    pid_ = std::exchange(o.pid_, -1);
  }
  return *this;
}

bool Process::Kill(int sig) const {
  return pidfd_ && syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0) == 0;
}

bool Process::WaitExited(int timeout_ms) const {
  if (!pidfd_) return true;
  pollfd p{pidfd_.get(), POLLIN, 0};
  for (;;) {
    const int n = poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;  // a signal: the deadline is approximate then
    return n > 0;
  }
}

UniqueFd Process::Release() {
  pid_ = -1;
  return std::move(pidfd_);
}

}  // namespace brood::sys
