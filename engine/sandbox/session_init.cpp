#include "sandbox/session_init.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "sandbox/init_wait.hpp"
#include "sandbox/landlock.hpp"
#include "sandbox/task_steps.hpp"
#include "sandbox/workspace_files.hpp"
#include "sys/clock.hpp"
#include "sys/fd_passing.hpp"
#include "sys/file.hpp"
#include "sys/proctitle.hpp"

namespace brood::sandbox {
namespace {

uint64_t UsedBytes() {
  struct statvfs vfs;
  if (statvfs("/workspace", &vfs) != 0) return 0;
  return static_cast<uint64_t>(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
}

// Whether the workspace is full as a command saw it (as RunInit's report says for a task).
bool DiskFull(bool workspace_disk) {
  struct statvfs vfs;
  if (statvfs("/workspace", &vfs) != 0) return false;
  const uint64_t slack = workspace_disk ? 2u << 20 : 1;
  return vfs.f_bavail * vfs.f_frsize < slack || vfs.f_favail == 0;
}

void Reply(int sock, int err, uint64_t value = 0) {
  SessionReply r;
  r.err = err;
  r.value = value;
  (void)sys::SendWithFds(sock, std::span<const char>(reinterpret_cast<const char*>(&r), sizeof r));
}

// Runs `fn` in a child with the sandbox user's ids and no capabilities; its errno result.
template <typename Fn>
int AsSandboxUser(Fn fn) {
  const pid_t pid = fork();
  if (pid < 0) return errno;
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 && errno != EPERM) _exit(EPERM);
    if (setresgid(kSandboxGid, kSandboxGid, kSandboxGid) != 0 ||
        setresuid(kSandboxUid, kSandboxUid, kSandboxUid) != 0 || DropCapabilities() != 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
      _exit(EPERM);
    _exit(fn());
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
}

class SessionInit {
 public:
  SessionInit(const TaskSpec& spec, const TaskFds& fds, const SeccompProgram& seccomp)
      : spec_(spec), base_(fds), seccomp_(seccomp), sock_(fds.session_sock.get()) {}

  [[noreturn]] void Run(int handed);

 private:
  void Serve(const SessionRequest& req, int* got, size_t n);
  void Exec(const SessionRequest& req, int* got, size_t n);
  void Reap();
  void Discard(int fd);  // reads what a drained pipe has; closes it at its end
  void Watch();          // a notification on the running command's seccomp listener
  [[noreturn]] void End();

  const TaskSpec& spec_;
  TaskFds base_;  // the Landlock ruleset the commands restrict themselves with
  const SeccompProgram& seccomp_;
  int sock_;
  int sfd_ = -1;
  uint64_t used_at_start_ = 0;
  pid_t main_ = -1;          // the running command's main process
  int main_rep_ = -1;        // its report pipe
  std::vector<int> drains_;  // ended commands' output pipes, oldest first
  // --on-violation kill|log: the running command's seccomp listener and the calls it saw. Under
  // kill, the first ends the command (its main process here; the rest of its leaf by the
  // supervisor, which reads SIGSYS in the report), and the session lives on.
  int listener_ = -1;
  bool watching_ = false;  // until it hangs up
  DeniedCalls denied_;
  bool violation_ = false;
};

[[noreturn]] void SessionInit::Run(int handed) {
  const int rep = base_.report_fd.get();
  const int disk_root = MountWorkspace(spec_, rep);
  if (disk_root >= 0) close(disk_root);
  ExtendLandlock(spec_, &base_, rep);
  used_at_start_ = UsedBytes();
  if (!spec_.files.empty()) {
    if (int err = AsSandboxUser([this] { return WriteFiles(spec_); }))
      Fail(rep, Stage::kFiles, err);
  }
  // One Landlock domain for the whole session, entered by the init itself: its commands inherit
  // it and restrict themselves no further (Exec), so that they can signal each other and reach
  // each other's abstract sockets, as processes of one sandbox do (ABI 6 scopes both to a
  // domain). The init's own work is within it: the workspace, fds it holds, its children.
  if (spec_.landlock_abi > 0) {
    const int err = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ? errno
                    : base_.landlock_ruleset.valid()
                        ? RestrictLandlock(base_.landlock_ruleset.get(), spec_.landlock_abi)
                        : ApplyLandlock(spec_.landlock_abi);
    base_.landlock_ruleset = -1;
    if (err != 0) Fail(rep, Stage::kLandlock, err);
  }
  // Commands join leaves of their own: the slot's task leaf fds and the creation's pipes go.
  for (sys::BorrowedFd fd :
       {base_.task_cgroup, base_.task_procs_extra[0], base_.task_procs_extra[1],
        base_.task_procs_extra[2], base_.memory_stat, base_.stdin_fd, base_.stdout_fd,
        base_.stderr_fd, base_.collect_fd})
    if (fd.valid()) close(fd.get());
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &chld, nullptr) != 0 ||
      (sfd_ = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
    Fail(rep, Stage::kFork, errno);
  sys::SetProcessTitle("brood-session");
  Report ready{};
  ready.kind = ReportKind::kSessionReady;
  ready.time_ns = sys::MonotonicNs();
  SendReport(rep, ready);
  close(rep);
  close(handed);  // the zygote's: it has nothing more to do for this session

  std::vector<pollfd> p;
  for (;;) {
    p.assign({{sock_, POLLIN, 0}, {sfd_, POLLIN, 0}, {watching_ ? listener_ : -1, POLLIN, 0}});
    for (int fd : drains_) p.push_back({fd, POLLIN, 0});
    if (poll(p.data(), p.size(), -1) < 0) {
      if (errno == EINTR) continue;
      End();
    }
    if (p[2].revents) Watch();
    if (p[1].revents) Reap();
    for (size_t i = 3; i < p.size(); ++i)
      if (p[i].revents) Discard(p[i].fd);
    if (!p[0].revents) continue;
    SessionRequest req;
    int got[sys::kMaxFdsPerMessage];
    const sys::Received r =
        sys::ReceiveWithFds(sock_, std::span<char>(reinterpret_cast<char*>(&req), sizeof req), got);
    if (r.error != 0 || (r.bytes == 0 && r.fds == 0)) End();
    if (r.bytes != sizeof req || req.magic != kSessionMagic) {
      for (size_t i = 0; i < r.fds; ++i) close(got[i]);
      Reply(sock_, EINVAL);
      continue;
    }
    req.path[kSessionPathMax] = 0;
    Serve(req, got, r.fds);
  }
}

void SessionInit::Serve(const SessionRequest& req, int* got, size_t n) {
  switch (req.op) {
    case SessionOp::kExec:
      return Exec(req, got, n);
    case SessionOp::kRead:
    case SessionOp::kWrite: {
      if (n != 1) break;
      const int fd = got[0];
      const std::string_view path(req.path);
      const bool read = req.op == SessionOp::kRead;
      const int err = AsSandboxUser([&] {
        const int ws = open("/workspace", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (ws < 0) return errno;
        return read ? ReadBeneath(ws, path, fd, req.max_bytes)
                    : WriteBeneath(ws, path, fd, req.max_bytes);
      });
      close(fd);
      return Reply(sock_, err);
    }
    case SessionOp::kDrain: {
      if (n < 1 || n > 2) break;
      for (size_t i = 0; i < n; ++i) {
        fcntl(got[i], F_SETFL, O_NONBLOCK);
        drains_.push_back(got[i]);
      }
      while (drains_.size() > kMaxDrains) {
        close(drains_.front());
        drains_.erase(drains_.begin());
      }
      return Reply(sock_, 0);
    }
    case SessionOp::kStat: {
      if (n != 0) break;
      const uint64_t used = UsedBytes();
      return Reply(sock_, 0, used > used_at_start_ ? used - used_at_start_ : 0);
    }
  }
  for (size_t i = 0; i < n; ++i) close(got[i]);
  Reply(sock_, EINVAL);
}

void SessionInit::Exec(const SessionRequest& req, int* got, size_t n) {
  auto refuse = [&](int err) {
    for (size_t i = 0; i < n; ++i) close(got[i]);
    Reply(sock_, err);
  };
  const size_t stdio = 4 + (req.has_stdin != 0);
  if (req.leaf_fds > 4 || n != stdio + req.leaf_fds) return refuse(EINVAL);
  if (main_ > 0) return refuse(EBUSY);
  if (lseek(got[0], 0, SEEK_SET) != 0) return refuse(errno);
  auto bytes = sys::ReadWholeFd(got[0]);
  if (!bytes.ok()) return refuse(EIO);
  auto spec = DecodeTaskSpec(bytes.value());
  if (!spec || spec->session) return refuse(EINVAL);
  spec->landlock_abi = 0;  // the session's domain, the init's, is the command's (Run)
  TaskFds t = base_;
  t.stdout_fd = got[1];
  t.stderr_fd = got[2];
  t.report_fd = got[3];
  t.stdin_fd = req.has_stdin ? got[4] : -1;
  t.collect_fd = -1;
  t.memory_stat = -1;
  t.task_cgroup = req.leaf_fds > 0 ? got[stdio] : -1;
  for (size_t i = 0; i < 3; ++i)
    t.task_procs_extra[i] = i + 1 < req.leaf_fds ? got[stdio + 1 + i] : -1;
  t.clone_into_cgroup = req.clone_into != 0 && req.leaf_fds > 0;
  t.session_sock = -1;
  // kKill, kLog: the command's main process sends its seccomp listener back (as to a task's init).
  int ls[2] = {-1, -1};
  if (seccomp_.listener && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ls) != 0)
    return refuse(errno);
  const pid_t pid = ForkMain(*spec, t, seccomp_, ls[1]);
  if (pid == 0) RunMain(*spec, t, seccomp_, ls[1]);
  const int err = pid < 0 ? errno : 0;
  if (ls[1] >= 0) close(ls[1]);
  if (ls[0] >= 0) {
    // Blocks until the main process has loaded its filter (or ended without).
    if (pid > 0) {
      listener_ = ReceiveFd(ls[0]);
      watching_ = listener_ >= 0;
    } else {
      close(ls[0]);
    }
    denied_ = DeniedCalls{};
    violation_ = false;
  }
  for (size_t i = 0; i < n; ++i)
    if (i != 3 || pid < 0) close(got[i]);  // the report pipe stays until the command's end
  if (pid > 0) {
    main_ = pid;
    main_rep_ = got[3];
  }
  Reply(sock_, err);
}

void SessionInit::Watch() {
  pollfd p{listener_, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return;
  if (!(p.revents & POLLIN)) {  // nothing left behind the filter: kept for Reap, not watched
    watching_ = false;
    return;
  }
  const bool log = seccomp_.action == ViolationAction::kLog;
  TakeViolation(listener_, log, &denied_);
  if (!log && !violation_) {
    violation_ = true;
    if (main_ > 0) kill(main_, SIGKILL);
  }
}

void SessionInit::Discard(int fd) {
  char buf[16384];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  close(fd);
  std::erase(drains_, fd);
}

// Reaps every child that exited: the command's main process (then its end is reported), and
// whatever a command left running that has exited since.
void SessionInit::Reap() {
  signalfd_siginfo si;
  while (read(sfd_, &si, sizeof si) > 0) {
  }
  for (;;) {
    int status = 0;
    rusage ru{};
    const pid_t pid = wait4(-1, &status, WNOHANG, &ru);
    if (pid <= 0) {
      if (pid < 0 && errno == EINTR) continue;
      return;
    }
    if (pid != main_) continue;
    Report out{};
    out.kind = ReportKind::kExited;
    out.time_ns = sys::MonotonicNs();
    out.wait_status = status;
    if (listener_ >= 0) {
      // A call denied by a process the main process left behind, before its end is told.
      const bool log = seccomp_.action == ViolationAction::kLog;
      if (!log && !violation_ && ViolationPending(listener_)) {
        violation_ = true;
        TakeViolation(listener_, false, &denied_);
      }
      if (violation_) out.wait_status = SIGSYS;  // as a wait status: killed by SIGSYS
      static_assert(sizeof out.denied == sizeof denied_.bits);
      memcpy(out.denied, denied_.bits, sizeof out.denied);
      out.denied_foreign = denied_.foreign;
      // Later denied calls (of what the command left running) fail with ENOSYS: no listener.
      close(listener_);
      listener_ = -1;
      watching_ = false;
    }
    out.cpu_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec +
                 ru.ru_stime.tv_usec;
    out.maxrss_kb = ru.ru_maxrss;
    out.disk_full = DiskFull(spec_.workspace_disk);
    out.file_bytes = -1;
    SendReport(main_rep_, out);
    close(main_rep_);
    main_rep_ = -1;
    main_ = -1;
  }
}

// The session's end: every process of its namespace dies with init.
[[noreturn]] void SessionInit::End() {
  kill(-1, SIGKILL);
  while (wait4(-1, nullptr, 0, nullptr) > 0 || errno == EINTR) {
  }
  g_init_exit_status = 0;
  _exit(0);
}

}  // namespace

[[noreturn]] void RunSessionInit(const TaskSpec& spec, const TaskFds& fds,
                                 const SeccompProgram& seccomp, int handed) {
  SessionInit init(spec, fds, seccomp);
  init.Run(handed);
}

}  // namespace brood::sandbox
