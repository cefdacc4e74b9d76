#include "sandbox/task.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sandbox/collect.hpp"
#include "sandbox/empty_dir.hpp"
#include "sandbox/init_wait.hpp"
#include "sandbox/landlock.hpp"
#include "sandbox/session_init.hpp"
#include "sandbox/task_steps.hpp"
#include "sys/clock.hpp"
#include "sys/clone_vm.hpp"
#include "sys/fd_passing.hpp"
#include "sys/file.hpp"
#include "sys/proctitle.hpp"

namespace brood::sandbox {

void SendReport(int fd, const Report& r) {
  ssize_t n;
  do {
    n = write(fd, &r, sizeof r);
  } while (n < 0 && errno == EINTR);
}

[[noreturn]] void Fail(int report_fd, Stage stage, int err) {
  Report r{};
  r.kind = ReportKind::kSetupError;
  r.stage = stage;
  r.err = err;
  SendReport(report_fd, r);
  _exit(126);
}

namespace {

// The hatchery reset everything else (ResetAllSignals); it ignores these two.
void ResetSignals() {
  signal(SIGPIPE, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

// openat2 confined below `dir`: no symlinks, no magic links, no "..", no crossing mounts.
int OpenBeneath(int dir, const char* path, uint64_t flags, uint64_t mode) {
  open_how how{};
  how.flags = flags | O_CLOEXEC | O_NOFOLLOW;
  how.mode = mode;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  return static_cast<int>(syscall(SYS_openat2, dir, path, &how, sizeof how));
}

}  // namespace

// Writes the job's files below /workspace as the sandbox user. Paths were validated by the job
// parser; openat2 makes escaping impossible even if they were not.
int WriteFiles(const TaskSpec& spec) {
  int ws = open("/workspace", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (ws < 0) return errno;
  for (const auto& [path, content] : spec.files) {
    for (size_t i = path.find('/'); i != std::string::npos; i = path.find('/', i + 1)) {
      std::string dir = path.substr(0, i);
      int d = OpenBeneath(ws, dir.c_str(), O_PATH | O_DIRECTORY, 0);
      if (d >= 0) {
        close(d);
        continue;
      }
      if (errno != ENOENT || mkdirat(ws, dir.c_str(), 0755) != 0) return errno;
    }
    int fd = OpenBeneath(ws, path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0755);
    if (fd < 0) return errno;
    const char* p = content.data();
    size_t left = content.size();
    while (left > 0) {
      ssize_t n = write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        close(fd);
        return err;
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    close(fd);
  }
  close(ws);
  return 0;
}

namespace {

// mkdir -p for a directory below /workspace or /tmp (the task's tmpfs), as the sandbox user.
bool MakeTaskDir(const std::string& dir) {
  if (dir.rfind("/workspace/", 0) != 0 && dir.rfind("/tmp/", 0) != 0) return false;
  for (size_t i = dir.find('/', 1); i != std::string::npos; i = dir.find('/', i + 1))
    if (mkdir(dir.substr(0, i).c_str(), 0755) != 0 && errno != EEXIST) return false;
  return mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST;
}

int SetRlimits(const TaskSpec& spec) {
  auto set = [](int res, rlim_t soft, rlim_t hard) {
    rlimit rl{soft, hard};
    return setrlimit(res, &rl);
  };
  const rlim_t mib = 1024 * 1024;
  if (set(RLIMIT_CORE, 0, 0) != 0) return errno;
  if (set(RLIMIT_NOFILE, 1024, 1024) != 0) return errno;
  rlim_t stack_hard = static_cast<rlim_t>(spec.memory_mb) * mib;
  if (set(RLIMIT_STACK, 8 * mib < stack_hard ? 8 * mib : stack_hard, stack_hard) != 0) return errno;
  if (spec.rlimit_mode) {
    // Weaker stand-ins for the cgroup limits (docs/sandbox.md): per process, not per task.
    rlim_t cpu_s = static_cast<rlim_t>((spec.cpu_ms + 999) / 1000);
    if (set(RLIMIT_CPU, cpu_s, cpu_s + 1) != 0) return errno;
    rlim_t as = static_cast<rlim_t>(spec.memory_mb) * mib;
    if (set(RLIMIT_AS, as, as) != 0) return errno;
    if (set(RLIMIT_NPROC, static_cast<rlim_t>(spec.pids), static_cast<rlim_t>(spec.pids)) != 0)
      return errno;
  }
  return 0;
}

}  // namespace

int DropCapabilities() {
  // The zygote emptied the bounding set (DropBoundingSet); only check that it did.
  if (prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0) {
    if (int err = DropBoundingSet()) return err;
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return errno;
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capset, &hdr, data) != 0) return errno;
  return 0;
}

[[noreturn]] void RunMain(const TaskSpec& spec, const TaskFds& fds, const SeccompProgram& seccomp,
                          int listener_sock) {
  const int rep = fds.report_fd.get();
  // v1: into the task's leaves (memory, then pids and cpuacct) before anything is charged (v2
  // was cloned into it).
  if (fds.task_cgroup.valid() && !fds.clone_into_cgroup &&
      pwrite(fds.task_cgroup.get(), "0", 1, 0) != 1)
    Fail(rep, Stage::kCgroup, errno);
  for (sys::BorrowedFd procs : fds.task_procs_extra)
    if (procs.valid() && pwrite(procs.get(), "0", 1, 0) != 1) Fail(rep, Stage::kCgroup, errno);
  ResetSignals();
  if (setsid() < 0) Fail(rep, Stage::kSession, errno);
  // stdio: the pipes from the supervisor, or /dev/null for stdin.
  int in = fds.stdin_fd.valid() ? fds.stdin_fd.get() : open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (in < 0 || dup2(in, 0) < 0 || dup2(fds.stdout_fd.get(), 1) < 0 ||
      dup2(fds.stderr_fd.get(), 2) < 0)
    Fail(rep, Stage::kStdio, errno);
  if (int err = SetRlimits(spec)) Fail(rep, Stage::kRlimits, err);
  // Supplementary groups: dropped where the user namespace allows it (root-made namespaces).
  // In an unprivileged namespace setgroups is denied and the caller's groups stay, unmapped.
  if (setgroups(0, nullptr) != 0 && errno != EPERM) Fail(rep, Stage::kSetIds, errno);
  if (setresgid(kSandboxGid, kSandboxGid, kSandboxGid) != 0) Fail(rep, Stage::kSetIds, errno);
  if (setresuid(kSandboxUid, kSandboxUid, kSandboxUid) != 0) Fail(rep, Stage::kSetIds, errno);
  if (int err = WriteFiles(spec)) Fail(rep, Stage::kFiles, err);
  if (chdir(spec.cwd.c_str()) != 0) {
    // Like `docker run -w`: a working directory in the task's own tmpfs is made on demand.
    if (errno != ENOENT || !MakeTaskDir(spec.cwd)) Fail(rep, Stage::kChdir, errno);
    if (chdir(spec.cwd.c_str()) != 0) Fail(rep, Stage::kChdir, errno);
  }
  if (int err = DropCapabilities()) Fail(rep, Stage::kCaps, err);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail(rep, Stage::kNoNewPrivs, errno);
  // The second layer, after the mounts and no_new_privs, before seccomp (which then need not
  // allow landlock_*): never a task without it on a host that has it.
  if (spec.landlock_abi > 0) {
    const int err = fds.landlock_ruleset.valid()
                        ? RestrictLandlock(fds.landlock_ruleset.get(), spec.landlock_abi)
                        : ApplyLandlock(spec.landlock_abi);
    if (err != 0) Fail(rep, Stage::kLandlock, err);
  }
  // Every fd but 0, 1, 2 closes at execve (the report fd stays usable until then).
  if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) Fail(rep, Stage::kStdio, errno);

  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : spec.envp) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  // execvpe searches PATH of the *task's* environment, like a shell would.
  for (const auto& e : spec.envp)
    if (e.rfind("PATH=", 0) == 0) setenv("PATH", e.c_str() + 5, 1);

  int listener = -1;
  if (int err = LoadSeccomp(seccomp, &listener)) Fail(rep, Stage::kSeccomp, -err);
  if (listener >= 0) {
    if (int err = SendFd(listener_sock, listener)) Fail(rep, Stage::kSeccomp, err);
  }
  Report r{};
  r.kind = ReportKind::kExeced;
  r.time_ns = sys::MonotonicNs();
  SendReport(rep, r);
  execvpe(argv[0], argv.data(), envp.data());
  // Like a shell: 127 when the command does not exist, 126 when it cannot be run.
  int err = errno;
  dprintf(2, "brood: %s: %s\n", argv[0], strerror(err));
  _exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
}

namespace {

// `collect`, by a child with the sandbox user's ids and no capabilities: it reads only what the
// task could have read.
void Collect(const TaskSpec& spec, int out_fd) {
  pid_t pid = fork();
  if (pid == 0) {
    if (setresgid(kSandboxGid, kSandboxGid, kSandboxGid) != 0 ||
        setresuid(kSandboxUid, kSandboxUid, kSandboxUid) != 0 || DropCapabilities() != 0)
      _exit(1);
    const int err = spec.snapshot ? SnapshotInto(out_fd) : CollectInto(out_fd, spec.collect);
    _exit(err == 0 ? 0 : 1);
  }
  if (pid > 0) waitpid(pid, nullptr, 0);
}

}  // namespace

// The main process: on v2 cloned straight into the task's cgroup leaf (no migration, so no RCU
// grace period); otherwise it joins the leaf itself (RunMain).
//
// With a workspace disk it shares init's memory until its execve (CloneVfork): init's address
// space, a copy of the zygote's, is not copied only to be thrown away. Without a disk it is an
// ordinary fork: the job's files go to a tmpfs that counts against memory_mb, and pages a
// CLONE_VM child writes before its execve are charged to the memory cgroup of init (the owner of
// the memory it shares), not to the task's leaf. A workspace disk's file pages are never part of
// memory_mb, so there it does not matter who is charged for them.
struct MainArgs {
  const TaskSpec* spec;
  const TaskFds* fds;
  const SeccompProgram* seccomp;
  int listener_sock;
};

static void MainEntry(void* p) {
  const auto* m = static_cast<const MainArgs*>(p);
  RunMain(*m->spec, *m->fds, *m->seccomp, m->listener_sock);
}

// The main process's stack until its execve, mapped by the parked init (init lives as long as
// its one task: it is never unmapped).
constexpr size_t kMainStack = 1 << 20;
int g_init_exit_status = -1;
static void* g_main_stack = MAP_FAILED;

pid_t ForkMain(const TaskSpec& spec, const TaskFds& fds, const SeccompProgram& seccomp,
               int listener_sock) {
  const bool into_leaf = fds.task_cgroup.valid() && fds.clone_into_cgroup;
  if (spec.workspace_disk) {
    if (g_main_stack == MAP_FAILED) {
      g_main_stack = mmap(nullptr, kMainStack, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
      if (g_main_stack == MAP_FAILED) return -1;
    }
    MainArgs args{&spec, &fds, &seccomp, listener_sock};
    const pid_t pid = sys::CloneVfork(MainEntry, &args, g_main_stack, kMainStack,
                                      into_leaf ? fds.task_cgroup.get() : -1);
    if (pid < 0) errno = -pid;
    return pid < 0 ? -1 : pid;
  }
  if (!into_leaf) return fork();
  clone_args args{};
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(fds.task_cgroup.get());
  return static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof args));
}

namespace {

// The file pages (active + inactive) in the task leaf's memory.stat, or -1.
int64_t FileBytes(int memory_stat) {
  if (memory_stat < 0) return -1;
  char buf[8192];
  ssize_t n = pread(memory_stat, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = 0;
  int64_t total = 0;
  int found = 0;
  for (const char* key : {"\nactive_file ", "\ninactive_file "}) {
    const char* at = strstr(buf, key);
    if (!at) continue;
    total += strtoll(at + strlen(key), nullptr, 10);
    ++found;
  }
  return found == 2 ? total : -1;
}

// Removes every extended attribute of the directory `fd` (the task could set user.* ones).
bool DropXattrs(int fd) {
  char names[4096];
  for (;;) {
    const ssize_t n = flistxattr(fd, names, sizeof names);
    if (n == 0) return true;
    if (n < 0) return false;  // more than 4 KiB of names, or an error: a new disk is made
    for (ssize_t i = 0; i < n; i += static_cast<ssize_t>(strlen(names + i)) + 1) {
      if (fremovexattr(fd, names + i) != 0 && errno != ENODATA) return false;
    }
  }
}

// The workspace disk's w, t and s after a task, through `root` (the filesystem's root, which
// the binds hide): emptied, and their extended attributes, modes and times reset, so that
// nothing of them reaches the next task. (Not removed and made again: the task's binds pin the
// old directories until its namespace is gone, which the next task could see as missing space.)
bool CleanWorkspace(int root) {
  for (auto [name, mode] : {std::pair{"w", 0755}, {"t", 01777}, {"s", 01777}}) {
    int fd = openat(root, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return false;
    const bool ok = EmptyDir(fd) == 0 && DropXattrs(fd) &&
                    fchmod(fd, static_cast<mode_t>(mode)) == 0 && futimens(fd, nullptr) == 0;
    close(fd);
    if (!ok) return false;
  }
  return true;
}

}  // namespace

int MountWorkspace(const TaskSpec& spec, int rep) {
  // One filesystem for /workspace, /tmp and /dev/shm, bounded in bytes and inodes: the slot's
  // workspace disk, which the zygote holds on /tmp, or a tmpfs mounted there now. Its own root
  // stays hidden under /tmp.
  if (!spec.workspace_disk) {
    char opts[160];
    snprintf(opts, sizeof opts, "size=%lldm,nr_inodes=%llu,mode=0755,uid=%u,gid=%u",
             static_cast<long long>(spec.disk_mb),
             static_cast<unsigned long long>(spec.disk_inodes), kSandboxUid, kSandboxGid);
    if (mount("brood-workspace", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
      Fail(rep, Stage::kMountWorkspace, errno);
    if (mkdir("/tmp/w", 0755) != 0 || mkdir("/tmp/t", 01777) != 0 || mkdir("/tmp/s", 01777) != 0 ||
        chmod("/tmp/t", 01777) != 0 || chmod("/tmp/s", 01777) != 0)
      Fail(rep, Stage::kMountWorkspace, errno);
  }
  // The workspace disk's root, to clean up through when the task is over.
  const int disk_root =
      spec.workspace_disk ? open("/tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
  if (spec.workspace_disk && disk_root < 0) Fail(rep, Stage::kMountWorkspace, errno);
  if (mount("/tmp/w", "/workspace", nullptr, MS_BIND, nullptr) != 0 ||
      mount("/tmp/s", "/dev/shm", nullptr, MS_BIND, nullptr) != 0 ||
      mount("/tmp/t", "/tmp", nullptr, MS_BIND, nullptr) != 0)
    Fail(rep, Stage::kMountWorkspace, errno);
  return disk_root;
}

void ExtendLandlock(const TaskSpec& spec, TaskFds* fds, int rep) {
  // The Landlock rules of the task's own directories, now that they are mounted, into the
  // ruleset the parked init built (for another ABI than the spec's it is not used).
  if (fds->landlock_ruleset.valid() && fds->landlock_abi != spec.landlock_abi) {
    close(fds->landlock_ruleset.get());
    fds->landlock_ruleset = -1;
  }
  if (fds->landlock_ruleset.valid()) {
    if (int err = AddLandlockRules(fds->landlock_ruleset.get(), spec.landlock_abi, true))
      Fail(rep, Stage::kLandlock, err);
  }
}

namespace {

// pid 1 of the task's namespaces, once its parked part (RunParked) has its task. `handed`: the
// socket it got the task on, closed once the main process is started (then its execve is done,
// or on with a fork), which tells the zygote to park the next init: not during this task's
// setup, whose CPU and cgroup migration it would slow down. Returns init's exit status: 0, or
// kInitExitRetire when the main process, sharing init's memory, was killed before its execve
// (it may have held malloc's lock or been midway through changing the heap).
int RunInit(const TaskSpec& spec, const TaskFds& fds, const SeccompProgram& seccomp, int handed) {
  const int rep = fds.report_fd.get();
  const int disk_root = MountWorkspace(spec, rep);
  TaskFds main_fds = fds;
  ExtendLandlock(spec, &main_fds, rep);

  // kKill, kLog: denied calls wait on a seccomp listener that init watches
  // (SeccompProgram::listener); init then reaps on SIGCHLD through a signalfd instead of blocking
  // in wait4.
  int listener_sock[2] = {-1, -1}, sfd = -1;
  if (seccomp.listener) {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, listener_sock) != 0 ||
        sigprocmask(SIG_BLOCK, &chld, nullptr) != 0 ||
        (sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
      Fail(rep, Stage::kSeccomp, errno);
  }
  pid_t main_pid = ForkMain(spec, main_fds, seccomp, listener_sock[1]);
  if (main_pid < 0) Fail(rep, fds.clone_into_cgroup ? Stage::kCgroup : Stage::kFork, errno);
  if (main_pid == 0) RunMain(spec, main_fds, seccomp, listener_sock[1]);
  close(handed);
  // A main process sharing init's memory returns from its clone at its execve or its end; already
  // ended by a signal then, it died in brood's code, not the task's.
  bool retire = false;
  if (spec.workspace_disk) {
    siginfo_t si{};
    retire = waitid(P_PID, static_cast<id_t>(main_pid), &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
             si.si_pid == main_pid && (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED);
  }

  // init keeps only the report and collect fds: the task's pipes must see EOF when it is gone.
  int task_only[] = {fds.stdin_fd.get(),
                     fds.stdout_fd.get(),
                     fds.stderr_fd.get(),
                     listener_sock[1],
                     fds.task_cgroup.get(),
                     fds.task_procs_extra[0].get(),
                     fds.task_procs_extra[1].get(),
                     main_fds.landlock_ruleset.get()};
  sys::CloseRuns(task_only);
  int listener = listener_sock[0] >= 0 ? ReceiveFd(listener_sock[0]) : -1;
  const MainEnd end =
      listener >= 0 ? WaitWatching(main_pid, listener, sfd, seccomp.action == ViolationAction::kLog)
                    : Wait(main_pid);
  // The task ends with its main process: what it left running dies now, before anything of
  // the workspace is read (nothing can change it under the collector). Every process of the
  // namespace descends from init (orphans are reparented to it), so without a child left, there
  // is nothing to kill (kill(-1) walks every process of the host).
  siginfo_t left{};
  const bool none_left =
      waitid(P_ALL, 0, &left, WEXITED | WNOHANG | WNOWAIT) != 0 && errno == ECHILD;
  if (!none_left) {
    kill(-1, SIGKILL);
    while (wait4(-1, nullptr, 0, nullptr) > 0 || errno == EINTR) {
    }
  }
  if (fds.collect_fd.valid() && (spec.snapshot || !spec.collect.empty()))
    Collect(spec, fds.collect_fd.get());
  Report out{};
  out.kind = ReportKind::kExited;
  out.time_ns = end.end_ns ? end.end_ns : sys::MonotonicNs();
  out.wait_status = end.status;
  const rusage& ru = end.ru;
  out.cpu_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec +
               ru.ru_stime.tv_usec;
  out.maxrss_kb = ru.ru_maxrss;
  static_assert(sizeof out.denied == sizeof end.denied.bits);
  memcpy(out.denied, end.denied.bits, sizeof out.denied);
  out.denied_foreign = end.denied.foreign;
  // Full as the task saw it: f_bavail leaves out what ext4 keeps back for its metadata. A tmpfs
  // is full at 0; a workspace disk refuses a write that needs a whole large folio (up to 2 MiB
  // since 6.16) when less than that is left, so less than 2 MiB free counts as full there.
  struct statvfs vfs;
  const uint64_t slack = spec.workspace_disk ? 2u << 20 : 1;
  if (statvfs("/workspace", &vfs) == 0)
    out.disk_full = vfs.f_bavail * vfs.f_frsize < slack || vfs.f_favail == 0;
  out.file_bytes = FileBytes(fds.memory_stat.get());
  SendReport(rep, out);
  if (spec.workspace_disk) {
    // The next task of this slot gets the disk as empty as a new one; only the report below
    // tells the supervisor so (without it the slot gets a new disk).
    if (CleanWorkspace(disk_root)) {
      Report cleaned{};
      cleaned.kind = ReportKind::kCleaned;
      SendReport(rep, cleaned);
    }
  }
  return retire ? kInitExitRetire : 0;
}

}  // namespace

void CloseAllBut(std::span<const int> keep) {
  int sorted[48];
  size_t n = 0;
  for (int fd : keep)
    if (fd >= 0 && n < std::size(sorted)) sorted[n++] = fd;
  std::sort(sorted, sorted + n);
  unsigned next = 0;
  for (size_t i = 0; i < n; ++i) {
    const unsigned fd = static_cast<unsigned>(sorted[i]);
    if (fd > next) syscall(SYS_close_range, next, fd - 1, 0);
    next = fd + 1;
  }
  syscall(SYS_close_range, next, ~0U, 0);
}

void KeepSlotFds(int sock, const TaskFds& slot) {
  // Nothing else of the zygote's: a zygote parking during a RUN holds that task's fds, and a copy
  // kept here would hold the task's pipes open (no EOF until this init is gone) or its
  // workspace mount.
  // The zygote's Landlock paths stay too (landlock.hpp OpenLandlockPaths).
  int keep[48] = {0,
                  1,
                  2,
                  sock,
                  slot.task_cgroup.get(),
                  slot.task_procs_extra[0].get(),
                  slot.task_procs_extra[1].get(),
                  slot.memory_stat.get()};
  size_t n = 8;
  for (int fd : LandlockPaths())
    if (fd >= 0 && n < std::size(keep)) keep[n++] = fd;
  CloseAllBut(std::span<const int>(keep, n));
}

long CloneNamed(const char* name, unsigned long ns_flags, int* pidfd) {
  char own_name[16] = {};
  prctl(PR_GET_NAME, own_name);
  prctl(PR_SET_NAME, name);
  const long pid =
      syscall(SYS_clone, ns_flags | CLONE_PIDFD | SIGCHLD, nullptr, pidfd, nullptr, nullptr);
  const int clone_errno = errno;
  if (pid != 0) prctl(PR_SET_NAME, own_name);
  if (pid > 0) fcntl(*pidfd, F_SETFD, FD_CLOEXEC);
  errno = clone_errno;
  return pid;
}

namespace {

// The handover: flags, then the spec's memfd, stdout, stderr, report, [stdin], [collect],
// [session].
struct HandOverMsg {
  uint32_t magic;
  uint32_t has_stdin;
  uint32_t has_collect;
  uint32_t has_session;  // a session's init: the socket its commands come on
};
constexpr uint32_t kHandOverMagic = 0x68616e64;  // "hand"

}  // namespace

// What every task's init does first, done before its task exists. A step that fails is
// remembered and reported once the task (and its report pipe) comes: the task then never starts.
void RunParked(int sock, const TaskFds& slot, const SeccompProgram& seccomp) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  ResetSignals();
  prctl(PR_SET_DUMPABLE, 0);
  sys::SetProcessTitle("brood-parked");
  Stage failed = Stage::kNone;
  int err = 0;
  auto step = [&](Stage stage, bool ok) {
    if (!ok && failed == Stage::kNone) {
      failed = stage;
      err = errno;
    }
  };
  step(Stage::kHostname, sethostname("brood", 5) == 0);
  // Fresh /proc: mounted aside while the zygote's is still visible (the kernel requires a fully
  // visible procfs in the namespace), then moved over it. The zygote's stays below, covered:
  // no path reaches it, and a task without capabilities cannot unmount what covers it. Not
  // unmounting it saves an expedited RCU grace period per task (docs/performance.md).
  if (failed == Stage::kNone) {
    step(Stage::kMountProc,
         mount("proc", "/workspace", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0);
  }
  if (failed == Stage::kNone)
    step(Stage::kMountProc, mount("/workspace", "/proc", nullptr, MS_MOVE, nullptr) == 0);
  if (failed == Stage::kNone) {
    step(Stage::kMountDevpts, mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                                    "newinstance,ptmxmode=0666,mode=0620") == 0);
  }

  // The task's stack until execve, and its Landlock ruleset but for the task's own directories
  // (not mounted yet). Neither restricts anything yet; a failure leaves it to the main process.
  // (An init sharing its parker's memory finds the stack an earlier one mapped.)
  if (g_main_stack == MAP_FAILED) {
    g_main_stack = mmap(nullptr, kMainStack, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  }
  TaskFds ready = slot;
  if (const int abi = LandlockAbi(); abi > 0 && failed == Stage::kNone) {
    const int rs = NewLandlockRuleset(abi);
    if (rs >= 0 && AddLandlockRules(rs, abi, false, LandlockPaths()) == 0) {
      ready.landlock_ruleset = rs;
      ready.landlock_abi = abi;
    } else if (rs >= 0) {
      close(rs);
    }
  }
  CloseLandlockPaths();  // its copies; the zygote's and the parker's stay

  // Parked: until the zygote hands over a task, or closes the socket (then nothing is owed).
  HandOverMsg msg{};
  int got[7] = {-1, -1, -1, -1, -1, -1, -1};
  const sys::Received r =
      sys::ReceiveWithFds(sock, std::span<char>(reinterpret_cast<char*>(&msg), sizeof msg), got);
  if (r.error != 0 || r.bytes == 0) {
    g_init_exit_status = 0;
    _exit(0);
  }
  sys::SetProcessTitle("brood-init");
  const size_t want = 4 + (msg.has_stdin != 0) + (msg.has_collect != 0) + (msg.has_session != 0);
  if (r.bytes != sizeof msg || msg.magic != kHandOverMagic || r.fds != want) _exit(1);
  TaskFds fds = ready;
  fds.stdout_fd = got[1];
  fds.stderr_fd = got[2];
  fds.report_fd = got[3];
  fds.stdin_fd = msg.has_stdin ? got[4] : -1;
  fds.collect_fd = msg.has_collect ? got[4 + (msg.has_stdin != 0)] : -1;
  fds.session_sock = msg.has_session ? got[want - 1] : -1;
  const int rep = fds.report_fd.get();
  if (failed != Stage::kNone) Fail(rep, failed, err);
  // The spec: a sealed memfd, read from its start. Both are freed before init exits: an init
  // sharing its parker's memory would otherwise leave them in the parker's heap.
  int status = 0;
  {
    std::optional<TaskSpec> spec;
    {
      if (lseek(got[0], 0, SEEK_SET) != 0) Fail(rep, Stage::kSpec, errno);
      auto bytes = sys::ReadWholeFd(got[0]);
      if (!bytes.ok()) Fail(rep, Stage::kSpec, EIO);
      close(got[0]);
      spec = DecodeTaskSpec(bytes.value());
    }
    if (!spec || spec->session != fds.session_sock.valid()) Fail(rep, Stage::kSpec, EINVAL);
    if (spec->session) RunSessionInit(*spec, fds, seccomp, sock);
    status = RunInit(*spec, fds, seccomp, sock);
  }
  g_init_exit_status = status;
  _exit(status);
}

void ResetAllSignals() {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

int DropBoundingSet() {
  for (int cap = 0; cap <= 63; ++cap) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return errno;
  }
  return 0;
}

sys::StatusOr<ParkedInit> ParkInit(const TaskFds& slot, const SeccompProgram& seccomp) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return sys::PosixError("socketpair(parked init)");
  sys::UniqueFd mine(sv[0]), its(sv[1]);
  int pidfd = -1;
  const long pid =
      CloneNamed("brood-parked", CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS, &pidfd);
  if (pid < 0) return sys::PosixError("clone(NEWPID|NEWNS|NEWIPC|NEWUTS)");
  if (pid == 0) {
    (void)mine.release();  // closed with the rest
    KeepSlotFds(its.get(), slot);
    RunParked(its.get(), slot, seccomp);
  }
  ParkedInit p;
  p.pidfd = sys::UniqueFd(pidfd);
  p.pid = static_cast<pid_t>(pid);
  p.sock = std::move(mine);
  return p;
}

int HandOver(const ParkedInit& init, int spec_fd, const TaskFds& task) {
  const HandOverMsg msg{kHandOverMagic, task.stdin_fd.valid(), task.collect_fd.valid(),
                        task.session_sock.valid()};
  int fds[7] = {spec_fd, task.stdout_fd.get(), task.stderr_fd.get(), task.report_fd.get()};
  size_t n = 4;
  for (sys::BorrowedFd extra : {task.stdin_fd, task.collect_fd, task.session_sock})
    if (extra.valid()) fds[n++] = extra.get();
  return sys::SendWithFds(init.sock.get(),
                          std::span<const char>(reinterpret_cast<const char*>(&msg), sizeof msg),
                          std::span<const int>(fds, n));
}

}  // namespace brood::sandbox
