// Inits that share their parker's memory (task.hpp CloneSharedInit; engine/zygote/parker.hpp).
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <span>

#include "sandbox/task.hpp"
#include "sys/clone_vm.hpp"
#include "sys/fd_passing.hpp"

namespace brood::sandbox {
namespace {

std::span<const char> AsBytes(const int& err) {
  return {reinterpret_cast<const char*>(&err), sizeof err};
}

// An init sharing its parker's memory: on the parker's stack for it, with the parker blocked
// until it exits (CloneSharedInit).
struct SharedInitArgs {
  int parker_sock;
  const TaskFds* slot;
  const SeccompProgram* seccomp;
  bool reported;  // set by the init once it sent its message (it shares the parker's memory)
};

[[noreturn]] void SharedInitEntry(void* p) {
  auto* shared = static_cast<SharedInitArgs*>(p);
  const SharedInitArgs a = *shared;
  prctl(PR_SET_NAME, "brood-parked");
  // Its own pidfd (it is pid 1 of its namespace) and socket, for the zygote, which holds them as
  // it holds a forked init's.
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, 1, 0));
  int sv[2] = {-1, -1};
  if (pidfd < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    const int err = errno;
    shared->reported = sys::SendWithFds(a.parker_sock, AsBytes(err), {}) == 0;
    _exit(1);
  }
  const int fds[2] = {sv[0], pidfd};
  const char ok = 'I';
  if (sys::SendWithFds(a.parker_sock, std::span<const char>(&ok, 1), fds) != 0) _exit(1);
  shared->reported = true;
  KeepSlotFds(sv[1], *a.slot);
  RunParked(sv[1], *a.slot, *a.seccomp);
}

}  // namespace

int CloneSharedInit(int parker_sock, const TaskFds& slot, const SeccompProgram& seccomp,
                    void* stack, size_t stack_size) {
  SharedInitArgs args{parker_sock, &slot, &seccomp, false};
  g_init_exit_status = -1;
  const pid_t pid = sys::CloneVfork(SharedInitEntry, &args, stack, stack_size, -1,
                                    CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS);
  // The init has exited (the clone returns then): if it never said so, the zygote waiting for
  // its message hears why now.
  const int err = pid < 0 ? -pid : ECHILD;
  if (pid < 0 || !args.reported) (void)sys::SendWithFds(parker_sock, AsBytes(err), {});
  if (pid < 0) return pid;
  // The clone returns as the init lets go of the memory, early in its exit: wait until it is
  // gone (the kernel reaps it; the wait then fails with ECHILD), so that a parker never leaves
  // an exiting init behind it, an orphan and a zombie of whoever adopts it.
  while (waitpid(pid, nullptr, 0) >= 0 || errno == EINTR) {
  }
  return g_init_exit_status;
}

}  // namespace brood::sandbox
