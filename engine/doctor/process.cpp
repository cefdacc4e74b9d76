// Process handles brood's supervisor relies on: pidfds (the reactor polls them for exits),
// clone(CLONE_PIDFD) (a child's pidfd without a race against pid reuse), close_range (closing
// inherited fds before execve), and a /proc it can read.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "doctor/check.hpp"
#include "sys/fd.hpp"
#include "sys/status.hpp"

namespace brood::doctor {
namespace {

// Forks a child that exits at once, then opens, polls and waits on its pidfd as the reactor does.
std::string TryPidfdOpen() {
  pid_t pid = fork();
  if (pid < 0) return sys::PosixError("fork").message();
  if (pid == 0) _exit(0);
  // The child is a zombie until reaped, so its pid cannot be reused under us.
  sys::UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) {
    std::string error = sys::PosixError("pidfd_open(" + std::to_string(pid) + ")").message();
    waitpid(pid, nullptr, 0);
    return error;
  }
  pollfd pfd{pidfd.get(), POLLIN, 0};
  int r;
  do r = poll(&pfd, 1, 5000);
  while (r < 0 && errno == EINTR);
  siginfo_t info{};
  if (waitid(P_PIDFD, pidfd.get(), &info, WEXITED) != 0) {
    std::string error = sys::PosixError("waitid(P_PIDFD)").message();
    waitpid(pid, nullptr, 0);
    return error;
  }
  if (r != 1) return "poll(pidfd) did not report the child's exit";
  return "";
}

int ExitAtOnce(void*) { return 0; }

std::string TryClonePidfd() {
  // The child runs on its own small stack and only returns.
  constexpr size_t kStack = 64 * 1024;
  void* stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (stack == MAP_FAILED) return sys::PosixError("mmap(stack)").message();
  int fd = -1;
  pid_t pid =
      clone(ExitAtOnce, static_cast<char*>(stack) + kStack, CLONE_PIDFD | SIGCHLD, nullptr, &fd);
  int err = errno;
  std::string error;
  if (pid < 0) {
    error = sys::PosixError("clone(CLONE_PIDFD)", err).message();
  } else {
    sys::UniqueFd pidfd(fd);
    siginfo_t info{};
    if (!pidfd || waitid(P_PIDFD, pidfd.get(), &info, WEXITED) != 0) {
      error = "clone(CLONE_PIDFD) returned no usable pidfd";
      waitpid(pid, nullptr, 0);
    }
  }
  munmap(stack, kStack);
  return error;
}

// Closes an fd of our own with close_range, and marks one CLOEXEC with CLOSE_RANGE_CLOEXEC.
std::string TryCloseRange() {
  int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys::PosixError("open(/dev/null)").message();
  if (syscall(SYS_close_range, fd, fd, 0) != 0) {
    std::string error = sys::PosixError("close_range(" + std::to_string(fd) + ")").message();
    close(fd);
    return error;
  }
  if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) return "close_range left the fd open";
  sys::UniqueFd other(open("/dev/null", O_RDONLY));  // without CLOEXEC on purpose: set below
  if (!other) return sys::PosixError("open(/dev/null)").message();
  if (syscall(SYS_close_range, other.get(), other.get(), CLOSE_RANGE_CLOEXEC) != 0) {
    return sys::PosixError("close_range(CLOSE_RANGE_CLOEXEC)").message();
  }
  return "";
}

Check ProcCheck() {
  Check check{Level::kOk, "/proc", "", ""};
  const sys::MountInfo* proc = nullptr;
  std::vector<sys::MountInfo> mounts = ReadMounts();
  for (const sys::MountInfo& m : mounts) {
    if (m.mount_point == "/proc" && m.fs_type == "proc") proc = &m;  // the last one is on top
  }
  if (!proc) {
    return {Level::kMissing, "/proc", "no proc filesystem mounted on /proc",
            "mount -t proc proc /proc"};
  }
  // subset=pid hides /proc/sys, which brood and this doctor read. hidepid= hides only other
  // users' processes: brood looks at its own children, which run as its user (or it is root).
  if (proc->HasSuperOption("subset=pid")) {
    return {Level::kMissing, "/proc", "mounted with subset=pid: /proc/sys is hidden",
            "mount -o remount,subset= /proc, or a proc mount without subset=pid"};
  }
  check.detail = "mounted";
  for (const char* opt :
       {"hidepid=1", "hidepid=2", "hidepid=invisible", "hidepid=noaccess", "hidepid=ptraceable"}) {
    if (proc->HasSuperOption(opt)) {
      check.detail += std::string(", ") + opt + " (harmless: brood inspects only its own tasks)";
    }
  }
  if (!ReadSmallFile("/proc/self/status")) {
    return {Level::kMissing, "/proc", "/proc/self/status is not readable", ""};
  }
  return check;
}

Check Need(const char* what, std::string error, const char* fix) {
  if (error.empty()) return {Level::kOk, what, "", ""};
  return {Level::kMissing, what, std::move(error), fix};
}

}  // namespace

Checks ProbeProcesses() {
  return {
      Need("pidfd_open", TryPidfdOpen(), "a kernel >= 5.4 (pidfd_open, waitid P_PIDFD)"),
      Need("clone(CLONE_PIDFD)", TryClonePidfd(), "a kernel >= 5.2"),
      Need("close_range", TryCloseRange(),
           "a kernel >= 5.11 (close_range with CLOSE_RANGE_CLOEXEC)"),
      ProcCheck(),
  };
}

}  // namespace brood::doctor
