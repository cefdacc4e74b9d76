#include "zygote/hatchery.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "sandbox/task.hpp"
#include "sys/proctitle.hpp"
#include "zygote/wire.hpp"

namespace brood::zygote {
namespace {

constexpr uint32_t kSpawn = 1;
constexpr const char* kNoNest =
    "brood's hatchery was killed from outside, and so was the nest that replaces it: restart "
    "brood";

sys::Status WriteProcFile(const std::string& path, const std::string& value) {
  sys::UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return sys::PosixError("open(" + path + ")");
  if (write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
    return sys::PosixError("write(" + path + ", \"" + value + "\")");
  return sys::OkStatus();
}

// Writes the zygote's id maps: the sandbox user (1000 inside) is config.host_uid outside.
// Unprivileged callers may only map their own ids, and must deny setgroups first.
sys::Status WriteIdMaps(pid_t pid, const ZygoteConfig& config) {
  const std::string proc = "/proc/" + std::to_string(pid);
  if (geteuid() != 0) BROOD_RETURN_IF_ERROR(WriteProcFile(proc + "/setgroups", "deny"));
  BROOD_RETURN_IF_ERROR(
      WriteProcFile(proc + "/uid_map", "1000 " + std::to_string(config.host_uid) + " 1\n"));
  BROOD_RETURN_IF_ERROR(
      WriteProcFile(proc + "/gid_map", "1000 " + std::to_string(config.host_gid) + " 1\n"));
  return sys::OkStatus();
}

[[noreturn]] void ZygoteChild(const ZygoteConfig& config, const ZygoteFds& fds, int sock, int up,
                              int down, pid_t hatchery, const sandbox::SeccompProgram& seccomp) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != hatchery) _exit(1);
  sys::SetProcessTitle("brood-zygote");
  if (unshare(CLONE_NEWUSER) != 0) {
    WireWriter w;
    w.U32(static_cast<uint32_t>(ZygoteMsg::kReady));
    w.Err(sys::PosixError("unshare(CLONE_NEWUSER)"));
    (void)SendMessage(sock, w.bytes());
    _exit(1);
  }
  char c = 'u';
  if (write(up, &c, 1) != 1) _exit(1);
  if (read(down, &c, 1) != 1 || c != 'm') _exit(1);
  close(up);
  ZygoteMain(config, fds, sock, down, seccomp);
}

// In the hatchery: one zygote, its maps and cgroup. Replies on `client`.
void Spawn(int client, const ZygoteConfig& config, const sandbox::SeccompProgram& seccomp) {
  auto reply = [&](const sys::Status& error, std::span<const int> fds = {}, pid_t pid = -1) {
    WireWriter w;
    w.Err(error);
    w.I64(pid);
    (void)SendMessage(client, w.bytes(), fds);
  };
  int sv[2], up[2], down[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return reply(sys::PosixError("socketpair"));
  if (pipe2(up, O_CLOEXEC) != 0 || pipe2(down, O_CLOEXEC) != 0)
    return reply(sys::PosixError("pipe2"));
  sys::UniqueFd zsock(sv[0]), csock(sv[1]), up_r(up[0]), up_w(up[1]), down_r(down[0]),
      down_w(down[1]);
  // The task leaf, opened here as root: v1 checks a cgroup.procs writer's credentials as they
  // were at open, and the zygote (in its own user namespace) could not open it itself.
  sys::UniqueFd task_cgroup, memory_stat, task_procs_extra[2];
  ZygoteFds zfds;
  if (!config.task_cgroup.empty()) {
    task_cgroup.reset(open(config.task_cgroup.c_str(),
                           (config.task_clone_into ? O_PATH | O_DIRECTORY : O_WRONLY) | O_CLOEXEC));
    if (!task_cgroup) return reply(sys::PosixError("open(" + config.task_cgroup + ")"));
    // v1: the leaf in the pids and cpuacct hierarchies (DecodeZygoteConfig allows at most 2).
    for (size_t i = 0; i < config.task_procs_extra.size(); ++i) {
      const std::string& procs = config.task_procs_extra[i];
      task_procs_extra[i].reset(open(procs.c_str(), O_WRONLY | O_CLOEXEC));
      if (!task_procs_extra[i]) return reply(sys::PosixError("open(" + procs + ")"));
      zfds.task_procs_extra[i] = task_procs_extra[i].get();
    }
    memory_stat.reset(open(config.task_memory_stat.c_str(), O_RDONLY | O_CLOEXEC));
    if (!memory_stat) return reply(sys::PosixError("open(" + config.task_memory_stat + ")"));
    zfds.task_cgroup = task_cgroup.get();
    zfds.clone_into = config.task_clone_into;
    zfds.task_memory_stat = memory_stat.get();
  }
  pid_t self = getpid();
  int pidfd = -1;
  long pid = syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, nullptr, &pidfd, nullptr, nullptr);
  if (pid < 0) return reply(sys::PosixError("clone(zygote)"));
  if (pid == 0) {
    // The zygote keeps only its end of the socket and the sync pipes.
    close(client);
    close(zsock.get());
    close(up_r.get());
    close(down_w.get());
    ZygoteChild(config, zfds, csock.get(), up_w.get(), down_r.get(), self, seccomp);
  }
  sys::Process zygote{sys::UniqueFd(pidfd), static_cast<pid_t>(pid)};
  csock.reset();
  up_w.reset();
  down_r.reset();
  auto fail = [&](const sys::Status& st) {
    zygote.Kill();
    reply(st);
  };
  char c = 0;
  if (read(up_r.get(), &c, 1) != 1) {
    // The child failed before unsharing; its reason is waiting on the zygote socket.
    int fds[1] = {zsock.get()};
    return reply(sys::OkStatus(), fds, static_cast<pid_t>(pid));
  }
  sys::Status st = WriteIdMaps(static_cast<pid_t>(pid), config);
  if (!st.ok()) return fail(st.Wrap("user namespace id maps"));
  c = 'm';
  if (write(down_w.get(), &c, 1) != 1) return fail(sys::PosixError("write(zygote sync)"));
  // The zygote builds its root while we put it in its cgroup: on v1 the first attach after a
  // quiet spell waits ~10 ms for an RCU grace period, which this overlaps. The zygote waits
  // for 'c' before it says ready, so no task starts outside the cgroup.
  for (const auto& procs : config.cgroup_procs) {
    st = WriteProcFile(procs, std::to_string(pid));
    if (!st.ok()) return fail(st.Wrap("joining the task cgroup"));
  }
  c = 'c';
  if (write(down_w.get(), &c, 1) != 1) return fail(sys::PosixError("write(zygote sync)"));
  const sys::UniqueFd pidfd_copy = zygote.Release();  // the zygote lives: the caller owns it
  int fds[2] = {zsock.get(), pidfd_copy.get()};
  reply(sys::OkStatus(), fds, static_cast<pid_t>(pid));
}

[[noreturn]] void HatcheryMain(int sock, const sandbox::SeccompProgram& seccomp) {
  for (;;) {
    auto m = ReceiveMessage(sock);
    if (!m.ok() || m->bytes.empty()) _exit(0);  // the supervisor is gone (or let us go)
    WireReader r(m->bytes);
    uint32_t kind = r.U32();
    auto config = DecodeZygoteConfig(m->bytes.substr(sizeof(uint32_t)));
    if (kind != kSpawn || !config) {
      WireWriter w;
      w.Err(sys::Status::Error("hatchery: malformed request"));
      w.I64(-1);
      (void)SendMessage(sock, w.bytes());
      continue;
    }
    Spawn(sock, *config, seccomp);
  }
}

// The nest: forks hatcheries, one per request, and hands the supervisor each one's socket and
// pidfd. It exists so that a hatchery killed from outside can be replaced by a fork of a
// single-threaded process (the supervisor has threads by then). A hatchery lives as long as its
// socket to the supervisor: it does not die with the nest, only with the supervisor.
[[noreturn]] void NestMain(int sock, const sandbox::SeccompProgram& seccomp) {
  // Away from the terminal: Ctrl-C goes to brood's foreground process group, and the kernel
  // delivers it even to a task's init. Only the supervisor decides what a stop kills (docs/cli.md).
  setsid();
  sandbox::ResetAllSignals();
  signal(SIGPIPE, SIG_IGN);
  // Hatcheries, zygotes (and, inherited, the zygotes' task inits) are reaped by the kernel the
  // moment they exit: their ends are watched through pidfds, and no zombie may hold a pid or a
  // cgroup. Each task's init resets this before forking the task.
  signal(SIGCHLD, SIG_IGN);
  for (;;) {
    auto m = ReceiveMessage(sock);
    if (!m.ok() || m->bytes.empty()) _exit(0);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
      (void)SendMessage(sock, "socketpair");
      continue;
    }
    int pidfd = -1;
    long pid = syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, nullptr, &pidfd, nullptr, nullptr);
    if (pid == 0) {
      sys::SetProcessTitle("brood-hatchery");
      dup2(sv[1], 3);
      syscall(SYS_close_range, 4, ~0U, 0);
      HatcheryMain(3, seccomp);
    }
    if (pid < 0) {
      (void)SendMessage(sock, "clone(hatchery): " + std::string(strerror(errno)));
    } else {
      int fds[2] = {sv[0], pidfd};
      (void)SendMessage(sock, "", fds);
      close(pidfd);
    }
    close(sv[0]);
    close(sv[1]);
  }
}

}  // namespace

sys::StatusOr<std::unique_ptr<Hatchery>> Hatchery::Start(const sandbox::SeccompProgram& seccomp) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return sys::PosixError("socketpair(nest)");
  sys::UniqueFd parent(sv[0]), child(sv[1]);
  pid_t self = getpid();
  // glibc's fork (not a raw clone): its atfork handling keeps malloc usable in the child even
  // if an embedder already started threads.
  pid_t pid = fork();
  if (pid < 0) return sys::PosixError("fork(nest)");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != self) _exit(1);
    sys::ScrubProcessArea("brood-nest");
    // Keep stderr for diagnostics; the supervisor's stdin/stdout are not ours to hold open.
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(child.get(), 3);
    syscall(SYS_close_range, 4, ~0U, 0);
    NestMain(3, seccomp);
  }
  auto h = std::unique_ptr<Hatchery>(new Hatchery());
  h->nest_sock_ = std::move(parent);
  h->nest_pid_ = pid;
  if (sys::Status st = h->Replace(); !st.ok())
    return st.Wrap("the nest could not start a hatchery");
  return h;
}

Hatchery::~Hatchery() {
  sock_.reset();  // the hatchery exits; it is the nest's child (reaped there): wait by pidfd
  if (pidfd_) {
    pollfd p{pidfd_.get(), POLLIN, 0};
    poll(&p, 1, 2000);
  }
  nest_sock_.reset();  // then the nest, so that no hatchery is left an orphan
  if (nest_pid_ > 0) waitpid(nest_pid_, nullptr, 0);
}

bool Hatchery::Alive() const {
  pollfd p{pidfd_.get(), POLLIN, 0};
  return pidfd_ && poll(&p, 1, 0) == 0;
}

sys::Status Hatchery::Replace() {
  sock_.reset();
  pidfd_.reset();
  auto m = SendMessage(nest_sock_, "h").ok() ? ReceiveMessage(nest_sock_)
                                             : sys::StatusOr<Message>(sys::Status::Error(""));
  if (!m.ok() || (m->bytes.empty() && m->fds.empty()))
    return sys::Status::Error(ErrorKind::kUnavailable, kNoNest);
  if (m->fds.size() != 2)
    return sys::Status::Error(ErrorKind::kUnavailable,
                              "brood's hatchery was killed from outside, and the nest could not "
                              "start another: " +
                                  m->bytes);
  sock_ = std::move(m->fds[0]);
  pidfd_ = std::move(m->fds[1]);
  return sys::OkStatus();
}

sys::StatusOr<ZygoteHandle> Hatchery::SpawnZygote(const ZygoteConfig& config) {
  std::lock_guard lock(mu_);
  // A hatchery killed from outside is replaced, once per request (zygotes it made live on:
  // they serve until their socket closes).
  if (!Alive()) BROOD_RETURN_IF_ERROR(Replace());
  auto z = Spawn(config);
  if (!z.ok() && !Alive()) {
    BROOD_RETURN_IF_ERROR(Replace());
    z = Spawn(config);
  }
  return z;
}

sys::StatusOr<ZygoteHandle> Hatchery::Spawn(const ZygoteConfig& config) {
  WireWriter w;
  w.U32(kSpawn);
  w.bytes() += EncodeZygoteConfig(config);
  BROOD_RETURN_IF_ERROR(SendMessage(sock_, w.bytes()).Wrap("hatchery"));
  auto m = ReceiveMessage(sock_);
  if (!m.ok()) return m.status().Wrap("hatchery");
  if (m->bytes.empty()) return sys::Status::Error("hatchery: exited");
  WireReader r(m->bytes);
  sys::Status error = r.Err();
  pid_t pid = static_cast<pid_t>(r.I64());
  if (!r.done()) return sys::Status::Error("hatchery: malformed reply");
  if (!error.ok()) return error;
  if (m->fds.empty()) return sys::Status::Error("hatchery: reply without zygote");
  ZygoteHandle z;
  z.sock = std::move(m->fds[0]);
  if (m->fds.size() > 1) z.process = sys::Process(std::move(m->fds[1]), pid);
  // The zygote says whether its root is built.
  auto ready = ReceiveMessage(z.sock);
  if (!ready.ok()) return ready.status().Wrap("zygote");
  WireReader rr(ready->bytes);
  uint32_t kind = rr.U32();
  sys::Status zerr = rr.Err();
  if (ready->bytes.empty()) return sys::Status::Error("zygote exited during setup");
  if (kind != static_cast<uint32_t>(ZygoteMsg::kReady))
    return sys::Status::Error("zygote: bad ready");
  if (!zerr.ok()) return zerr.Wrap("zygote setup");
  return z;
}

}  // namespace brood::zygote
