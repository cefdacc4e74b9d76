// How the task's init waits for its main process, and, under --on-violation kill or log, watches
// the seccomp listener on the way (SeccompProgram::listener).
#include "sandbox/init_wait.hpp"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sandbox/seccomp.hpp"
#include "sys/clock.hpp"
#include "sys/fd_passing.hpp"

namespace brood::sandbox {

int SendFd(int sock, int fd) {
  const char byte = 0;
  int err = sys::SendWithFds(sock, {&byte, 1}, {&fd, 1});
  close(fd);
  close(sock);
  return err;
}

int ReceiveFd(int sock) {
  char byte;
  int fd = -1;
  sys::Received got = sys::ReceiveWithFds(sock, {&byte, 1}, {&fd, 1});
  close(sock);
  return got.fds == 1 ? fd : -1;
}

MainEnd Wait(pid_t main_pid) {
  MainEnd end;
  for (;;) {
    int st;
    rusage r{};
    pid_t p = wait4(-1, &st, 0, &r);
    if (p == main_pid) {
      end = {st, sys::MonotonicNs(), r};
      return end;
    }
    if (p < 0 && errno != EINTR) return end;
  }
}

void TakeViolation(int listener, bool log, DeniedCalls* denied) {
  seccomp_notif n;
  memset(&n, 0, sizeof n);
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n) != 0) return;
  if (n.data.arch != AUDIT_ARCH_X86_64) {
    denied->foreign = 1;
  } else if (n.data.nr >= 0 && n.data.nr < DeniedCalls::kBits) {
    denied->bits[n.data.nr / 64] |= uint64_t{1} << (n.data.nr % 64);
  } else {
    denied->foreign = 1;  // an x32 number
  }
  if (log) {
    seccomp_notif_resp r;
    memset(&r, 0, sizeof r);
    r.id = n.id;
    r.error = -EPERM;
    (void)ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &r);  // ENOENT: the caller is gone
  }
}

MainEnd WaitWatching(pid_t main_pid, int listener, int sfd, bool log) {
  MainEnd end;
  bool violation = false, main_done = false, watching = true;
  while (!main_done) {
    pollfd p[2] = {{sfd, POLLIN, 0}, {watching ? listener : -1, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      end = Wait(main_pid);  // cannot happen with two valid fds; wait4 works with SIGCHLD blocked
      break;
    }
    if (p[1].revents & POLLIN) {
      // Under kill a notification is a violation even when its caller died before it was
      // received (as before: the task tried a denied call).
      TakeViolation(listener, log, &end.denied);
      if (!log) {
        if (!violation) kill(-1, SIGKILL);
        violation = true;
      }
    } else if (p[1].revents != 0) {
      watching = false;  // no process left behind the filter (POLLHUP): nothing more to watch
    }
    signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) > 0) {
    }
    for (;;) {
      int st;
      rusage r{};
      pid_t pid = wait4(-1, &st, WNOHANG, &r);
      if (pid < 0 && errno == EINTR) continue;
      if (pid <= 0) break;
      if (pid == main_pid) {
        end = {st, sys::MonotonicNs(), r, end.denied};
        main_done = true;
      }
    }
  }
  // A call denied by a process the main process left behind, before init kills what is left.
  if (!log && !violation && ViolationPending(listener)) {
    violation = true;
    TakeViolation(listener, false, &end.denied);
  }
  if (violation) end.status = SIGSYS;  // as a wait status: killed by SIGSYS
  close(sfd);
  close(listener);
  return end;
}

}  // namespace brood::sandbox
