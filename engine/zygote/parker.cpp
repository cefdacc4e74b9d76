#include "zygote/parker.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "sys/fd_passing.hpp"
#include "zygote/wire.hpp"

namespace brood::zygote {
namespace {

constexpr size_t kInitStack = 8 << 20;  // reserved, not committed: what inits touch of it

size_t HeapInUse() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

[[noreturn]] void ParkerMain(int sock, const sandbox::TaskFds& slot,
                             const sandbox::SeccompProgram& seccomp) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Its inits are reaped by the kernel the moment they exit (as the zygote's children are): no
  // zombie holds a pid; how each ended it reads from their shared memory.
  signal(SIGCHLD, SIG_IGN);
  // The inits' stack, below a guard page: one at a time uses it.
  auto* stack =
      static_cast<char*>(mmap(nullptr, kInitStack, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0));
  if (stack == MAP_FAILED || mprotect(stack, 4096, PROT_NONE) != 0) _exit(1);
  const size_t heap_at_start = HeapInUse();
  for (;;) {
    char c = 0;
    ssize_t n;
    do {
      n = recv(sock, &c, 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) _exit(0);  // the zygote let it go, or is gone
    const int ended = sandbox::CloneSharedInit(sock, slot, seccomp, stack, kInitStack);
    if (ended < -1) continue;  // not cloned: the zygote has heard why
    if (ended != 0 || HeapInUse() > heap_at_start + kRetireHeapGrowth) _exit(0);
  }
}

}  // namespace

sys::StatusOr<Parker> Parker::Start(const sandbox::TaskFds& slot,
                                    const sandbox::SeccompProgram& seccomp) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return sys::PosixError("socketpair(parker)");
  sys::UniqueFd mine(sv[0]), its(sv[1]);
  int pidfd = -1;
  const long pid = sandbox::CloneNamed("brood-parker", 0, &pidfd);
  if (pid < 0) return sys::PosixError("clone(parker)");
  if (pid == 0) {
    (void)mine.release();  // closed with the rest
    sandbox::KeepSlotFds(its.get(), slot);
    ParkerMain(its.get(), slot, seccomp);
  }
  Parker p;
  p.sock_ = std::move(mine);
  p.pidfd_.reset(pidfd);
  return p;
}

void Parker::End() {
  sock_.reset();
  // An init of its still alive dies with the zygote, as a forked init dies with its parent;
  // then the parker, no longer blocked in the clone, sees its socket closed and exits.
  if (last_init_) syscall(SYS_pidfd_send_signal, last_init_.get(), SIGKILL, nullptr, 0);
  auto gone = [this] {
    pollfd p{pidfd_.get(), POLLIN, 0};
    int n;
    while ((n = poll(&p, 1, 2000)) < 0 && errno == EINTR) {
    }
    return n != 0;
  };
  if (!pidfd_ || gone()) return;
  syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  (void)gone();
}

bool Parker::Free() const {
  if (!last_init_) return true;
  pollfd p{last_init_.get(), POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

sys::StatusOr<sandbox::ParkedInit> Parker::Park() {
  const char c = 'P';
  if (send(sock_.get(), &c, 1, MSG_NOSIGNAL) != 1) return sys::PosixError("parker");
  auto m = ReceiveMessage(sock_);
  if (!m.ok()) return m.status().Wrap("parker");
  if (m->bytes == "I" && m->fds.size() == 2) {
    sandbox::ParkedInit init;
    init.sock = std::move(m->fds[0]);
    init.pidfd = std::move(m->fds[1]);
    last_init_.reset(fcntl(init.pidfd.get(), F_DUPFD_CLOEXEC, 0));
    if (!last_init_) return sys::PosixError("fcntl(F_DUPFD_CLOEXEC)");
    return init;
  }
  if (m->bytes.size() == sizeof(int) && m->fds.empty()) {
    int err = 0;
    std::memcpy(&err, m->bytes.data(), sizeof err);
    return sys::PosixError("parker: clone(CLONE_VM | CLONE_VFORK | CLONE_NEWPID | CLONE_NEWNS)",
                           err);
  }
  return sys::Status::Error("parker: gone");
}

}  // namespace brood::zygote
