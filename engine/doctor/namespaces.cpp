// Namespaces as brood uses them: a user namespace mapping the caller to root, and inside it new
// mount, pid, network, ipc, uts and cgroup namespaces, a tmpfs, a fresh /proc and (optionally)
// an overlay. All of it is tried in one forked child, step by step.
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>

#include "doctor/check.hpp"
#include "doctor/child.hpp"

namespace brood::doctor {
namespace {

enum Step {
  kUserNs,
  kSetgroups,
  kUidMap,
  kGidMap,
  kMountNs,
  kMountPrivate,
  kTmpfs,
  kNetNs,
  kLoopback,
  kIpcNs,
  kUtsNs,
  kHostname,
  kCgroupNs,
  kOverlay,
  kPidNs,
  kProc,
  kStepCount
};

// The call each step makes, as it appears in a failure message.
constexpr const char* kCall[kStepCount] = {
    "unshare(CLONE_NEWUSER)",
    "write(/proc/self/setgroups, \"deny\")",
    "write(/proc/self/uid_map)",
    "write(/proc/self/gid_map)",
    "unshare(CLONE_NEWNS)",
    "mount(/, MS_REC|MS_PRIVATE)",
    "mount(tmpfs, /tmp, \"size=1m,nr_inodes=64\")",
    "unshare(CLONE_NEWNET)",
    "ioctl(SIOCSIFFLAGS, lo, IFF_UP)",
    "unshare(CLONE_NEWIPC)",
    "unshare(CLONE_NEWUTS)",
    "sethostname(\"brood\")",
    "unshare(CLONE_NEWCGROUP)",
    "mount(overlay, lowerdir,upperdir,workdir on tmpfs)",
    "unshare(CLONE_NEWPID)",
    "mount(proc) as pid 1 of the new pid namespace",
};

// Formatted in the parent: the child must not call snprintf.
struct ChildContext {
  char uid_map[48];
  char gid_map[48];
};

int Errno(int rc) { return rc == 0 ? 0 : errno; }

bool Try(int fd, Step step, int rc) {
  int err = Errno(rc);
  Report(fd, step, err);
  return err == 0;
}

int BringLoopbackUp() {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return errno;
  ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  std::memcpy(ifr.ifr_name, "lo", 3);
  int err = Errno(ioctl(sock, SIOCGIFFLAGS, &ifr));
  if (err == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    err = Errno(ioctl(sock, SIOCSIFFLAGS, &ifr));
  }
  close(sock);
  return err;
}

int MountOverlay() {
  for (const char* dir : {"/tmp/lower", "/tmp/upper", "/tmp/work", "/tmp/merged"}) {
    if (mkdir(dir, 0755) != 0) return errno;
  }
  return Errno(mount("overlay", "/tmp/merged", "overlay", 0,
                     "lowerdir=/tmp/lower,upperdir=/tmp/upper,workdir=/tmp/work"));
}

// Pid 1 of the new pid namespace: only a process inside a pid namespace may mount its /proc.
[[noreturn]] void MountProcAsInit(int fd, bool have_tmpfs) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Over /proc itself only when there is no tmpfs to use: it is our own mount namespace either
  // way, but /tmp/proc keeps /proc/self working for the rest of the child.
  const char* target = have_tmpfs ? "/tmp/proc" : "/proc";
  int err = have_tmpfs ? Errno(mkdir(target, 0555)) : 0;
  if (err == 0) {
    err = Errno(mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr));
  }
  Report(fd, kProc, err);
  _exit(0);
}

// The ordered checklist, run in the child. Each namespace is tried on its own so that one
// failure does not hide the others; only true prerequisites stop later steps.
void NamespaceChild(int fd, const ChildContext& ctx) {
  if (!Try(fd, kUserNs, unshare(CLONE_NEWUSER))) return;
  // An unprivileged process may map only its own ids, and its gid only after giving up
  // setgroups(). Kernels before 3.19 have no setgroups file and nothing to give up.
  int err = WriteFileRaw("/proc/self/setgroups", "deny", 4);
  Report(fd, kSetgroups, err == ENOENT ? 0 : err);
  if (err != 0 && err != ENOENT) return;
  if (!Try(fd, kUidMap, WriteFileRaw("/proc/self/uid_map", ctx.uid_map, strlen(ctx.uid_map))))
    return;
  if (!Try(fd, kGidMap, WriteFileRaw("/proc/self/gid_map", ctx.gid_map, strlen(ctx.gid_map))))
    return;

  bool mount_ns =
      Try(fd, kMountNs, unshare(CLONE_NEWNS)) &&
      // Nothing mounted below may propagate back to the host's mounts.
      Try(fd, kMountPrivate, mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr));
  bool tmpfs = mount_ns && Try(fd, kTmpfs,
                               mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
                                     "size=1m,nr_inodes=64,mode=0755"));
  if (Try(fd, kNetNs, unshare(CLONE_NEWNET))) Report(fd, kLoopback, BringLoopbackUp());
  Try(fd, kIpcNs, unshare(CLONE_NEWIPC));
  if (Try(fd, kUtsNs, unshare(CLONE_NEWUTS))) Try(fd, kHostname, sethostname("brood", 5));
  Try(fd, kCgroupNs, unshare(CLONE_NEWCGROUP));
  if (tmpfs) Report(fd, kOverlay, MountOverlay());

  // Last: the next child becomes pid 1 of the new namespace, and once it has exited this process
  // can fork no more.
  if (!Try(fd, kPidNs, unshare(CLONE_NEWPID)) || !mount_ns) return;
  // _Fork, not fork: atfork handlers take locks (malloc's) another thread of the caller may have
  // held when this child was forked.
  pid_t pid = _Fork();
  if (pid < 0) return Report(fd, kProc, errno);
  if (pid == 0) MountProcAsInit(fd, tmpfs);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// One line of the report: ok when all its steps succeeded.
struct Line {
  const char* what;
  std::initializer_list<Step> steps;
  bool required;
  std::initializer_list<int> needs;  // indexes of lines that must be ok for this one to run
  const char* config;                // the kernel option, for EINVAL
  const char* max_sysctl;            // the per-user-namespace limit, for ENOSPC
};

const Line kLines[] = {
    {"user namespace",
     {kUserNs, kSetgroups, kUidMap, kGidMap},
     true,
     {},
     "CONFIG_USER_NS",
     "user.max_user_namespaces"},
    {"mount namespace",
     {kMountNs, kMountPrivate},
     true,
     {0},
     "CONFIG_NAMESPACES",
     "user.max_mnt_namespaces"},
    {"pid namespace", {kPidNs}, true, {0}, "CONFIG_PID_NS", "user.max_pid_namespaces"},
    {"network namespace (loopback up)",
     {kNetNs, kLoopback},
     true,
     {0},
     "CONFIG_NET_NS",
     "user.max_net_namespaces"},
    {"ipc namespace", {kIpcNs}, true, {0}, "CONFIG_IPC_NS", "user.max_ipc_namespaces"},
    {"uts namespace", {kUtsNs, kHostname}, true, {0}, "CONFIG_UTS_NS", "user.max_uts_namespaces"},
    {"cgroup namespace", {kCgroupNs}, false, {0}, "CONFIG_CGROUPS", "user.max_cgroup_namespaces"},
    {"tmpfs mount in the sandbox", {kTmpfs}, true, {1}, "CONFIG_TMPFS", nullptr},
    {"proc mount in the sandbox", {kProc}, true, {1, 2}, "CONFIG_PROC_FS", nullptr},
    {"overlayfs mount in a user namespace", {kOverlay}, false, {7}, "CONFIG_OVERLAY_FS", nullptr},
};

std::string UserNsFix(const Host& host) {
  if (host.max_user_namespaces && *host.max_user_namespaces == 0) {
    return "sysctl -w user.max_user_namespaces=15000";
  }
  if (!host.root()) {
    if (host.unprivileged_userns_clone && *host.unprivileged_userns_clone == 0) {
      return "sysctl -w kernel.unprivileged_userns_clone=1 (older Debian)";
    }
    if (host.apparmor_restrict_userns && *host.apparmor_restrict_userns != 0) {
      return "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu 24.04+), or an "
             "AppArmor profile for brood with the userns permission";
    }
  }
  return "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu 24.04+), or "
         "user.max_user_namespaces > 0, or kernel.unprivileged_userns_clone=1 (older Debian); "
         "inside a container, a seccomp profile that allows unshare (docker: --security-opt "
         "seccomp=unconfined)";
}

std::string FixFor(const Host& host, const Line& line, Step step, int err) {
  if (step == kUidMap || step == kGidMap || step == kSetgroups) {
    return "brood must be able to write its own id maps: run it as a plain (not setuid, "
           "dumpable) process";
  }
  if (line.steps.begin()[0] == kUserNs) return UserNsFix(host);
  if (err == EINVAL) return std::string("a kernel built with ") + line.config;
  if (err == ENOSPC && line.max_sysctl) {
    return std::string("sysctl -w ") + line.max_sysctl + "=15000";
  }
  if (err == EPERM || err == EACCES) {
    if (host.apparmor_restrict_userns && *host.apparmor_restrict_userns != 0) {
      return "kernel.apparmor_restrict_unprivileged_userns=1 leaves new user namespaces without "
             "capabilities: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0";
    }
    if (step == kProc) {
      return "the kernel refuses a new proc when the host's /proc has paths covered by other "
             "mounts (container runtimes mask /proc/kcore, /proc/sys...): run with an unmasked "
             "/proc (docker: --security-opt systempaths=unconfined)";
    }
    return "a security module or a container's seccomp profile denies it; allow it for brood";
  }
  if (step == kOverlay && (err == ENODEV || err == EINVAL)) {
    return "modprobe overlay; a kernel >= 5.11 mounts overlayfs in user namespaces";
  }
  return "";
}

bool OverlayListed() {
  std::optional<std::string> fs = ReadSmallFile("/proc/filesystems");
  // ReadSmallFile drops the last newline, and a module loaded after boot is listed last.
  return fs && (*fs + "\n").find("\toverlay\n") != std::string::npos;
}

}  // namespace

Checks ProbeNamespaces(const Host& host) {
  ChildContext ctx;
  // Root inside maps to the caller outside: the one mapping an unprivileged process may write.
  std::snprintf(ctx.uid_map, sizeof ctx.uid_map, "0 %u 1\n", host.uid);
  std::snprintf(ctx.gid_map, sizeof ctx.gid_map, "0 %u 1\n", host.gid);
  // Before the probe: its mount may load the module, and then it would be listed.
  bool overlay_listed = OverlayListed();
  auto report = RunInChild(kStepCount, [&ctx](int fd) { NamespaceChild(fd, ctx); });
  if (!report.ok()) {
    return {{Level::kMissing, "namespaces", report.status().message(), ""}};
  }
  const std::vector<int>& err = report->err;
  std::string ending = report->Ending();

  Checks checks;
  std::vector<bool> line_ok;
  for (const Line& line : kLines) {
    Check check{Level::kOk, line.what, "", ""};
    for (Step step : line.steps) {
      if (err[step] == 0) continue;
      check.level = line.required ? Level::kMissing : Level::kWarn;
      if (err[step] > 0) {
        check.detail = sys::PosixError(kCall[step], err[step]).message();
        check.fix = FixFor(host, line, step, err[step]);
        break;
      }
      for (int need : line.needs) {
        if (!line_ok[need]) check.detail = std::string("not tried: needs ") + kLines[need].what;
      }
      if (check.detail.empty()) check.detail = ending.empty() ? "not reported" : ending;
      break;
    }
    if (check.level == Level::kOk && line.steps.begin()[0] == kUserNs && host.max_user_namespaces) {
      check.detail = "user.max_user_namespaces=" + std::to_string(*host.max_user_namespaces);
    }
    if (line.steps.begin()[0] == kOverlay && !overlay_listed) {
      check.detail += check.detail.empty() ? "" : "; ";
      check.detail += "overlay not in /proc/filesystems";
    }
    line_ok.push_back(check.level == Level::kOk);
    checks.push_back(std::move(check));
  }
  return checks;
}

}  // namespace brood::doctor
