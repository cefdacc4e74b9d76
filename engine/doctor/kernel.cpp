// Kernel features beside namespaces: seccomp (brood's second wall), io_uring (the reactor), and
// Landlock (an optional third layer).
#include <liburing.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <sstream>

#include "doctor/check.hpp"
#include "doctor/child.hpp"

namespace brood::doctor {
namespace {

enum SeccompStep { kNoNewPrivs, kAllowAll, kTestFilter, kErrnoAction, kSeccompSteps };
constexpr const char* kSeccompCall[kSeccompSteps] = {
    "prctl(PR_SET_NO_NEW_PRIVS)",
    "seccomp(SECCOMP_SET_MODE_FILTER, allow-all)",
    "seccomp(SECCOMP_SET_MODE_FILTER, errno + kill_process)",
    "getppid() under SECCOMP_RET_ERRNO",
};

// Allow everything: the smallest program, proves the kernel accepts a filter from us.
sock_filter kAllowAllInsns[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
// getppid fails with EPERM, getpgid kills the process, the rest is allowed: the two actions
// brood's policy uses. Neither call is made by the child for any other reason.
sock_filter kTestInsns[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getppid, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getpgid, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

int LoadFilter(sock_filter* insns, size_t n) {
  sock_fprog prog{static_cast<unsigned short>(n), insns};
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0 ? 0 : errno;
}

void SeccompChild(int fd) {
  // The kill below must not leave a core file behind.
  rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  int err = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : errno;
  Report(fd, kNoNewPrivs, err);
  if (err) return;
  err = LoadFilter(kAllowAllInsns, std::size(kAllowAllInsns));
  Report(fd, kAllowAll, err);
  if (err) return;
  err = LoadFilter(kTestInsns, std::size(kTestInsns));
  Report(fd, kTestFilter, err);
  if (err) return;
  long r = syscall(SYS_getppid);
  Report(fd, kErrnoAction, r == -1 && errno == EPERM ? 0 : EPROTO);
  syscall(SYS_getpgid, 0);  // must not return: the parent expects SIGSYS
}

bool HasWord(const std::string& text, const std::string& word) {
  std::istringstream in(text);
  for (std::string w; in >> w;) {
    if (w == word) return true;
  }
  return false;
}

std::string IoUringFix(const Host& host, std::optional<long> disabled, int err) {
  std::optional<long> group = ReadSysctl("kernel.io_uring_group");
  if (disabled && *disabled == 2) return "sysctl -w kernel.io_uring_disabled=0";
  if (disabled && *disabled == 1) {
    return "sysctl -w kernel.io_uring_disabled=0, or add " + host.user +
           " to the group kernel.io_uring_group names (now " +
           (group ? std::to_string(*group) : std::string("unset")) + ")";
  }
  if (err == ENOSYS || err == EPERM) {
    return "a kernel with CONFIG_IO_URING, and no seccomp profile denying io_uring_setup "
           "(container runtimes' defaults may: allow io_uring_setup, io_uring_enter, "
           "io_uring_register)";
  }
  if (err == ENOMEM) return "raise RLIMIT_MEMLOCK (ulimit -l): older kernels charge rings to it";
  return "";
}

}  // namespace

Checks ProbeSeccomp() {
  Check check{Level::kOk, "seccomp", "", ""};
  int mode = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
  std::optional<std::string> actions = ReadSmallFile("/proc/sys/kernel/seccomp/actions_avail");
  if (mode < 0) {
    check = {Level::kMissing, "seccomp", sys::PosixError("prctl(PR_GET_SECCOMP)").message(),
             "a kernel built with CONFIG_SECCOMP and CONFIG_SECCOMP_FILTER"};
    return {check};
  }
  if (!actions || !HasWord(*actions, "kill_process") || !HasWord(*actions, "errno")) {
    check = {Level::kMissing, "seccomp",
             "/proc/sys/kernel/seccomp/actions_avail lacks kill_process or errno: \"" +
                 actions.value_or("(unreadable)") + "\"",
             "a kernel >= 4.14 built with CONFIG_SECCOMP_FILTER"};
    return {check};
  }
  auto report = RunInChild(kSeccompSteps, [](int fd) { SeccompChild(fd); });
  if (!report.ok()) return {{Level::kMissing, "seccomp", report.status().message(), ""}};
  for (int step = 0; step < kSeccompSteps; ++step) {
    int err = report->err[step];
    if (err == 0) continue;
    check.level = Level::kMissing;
    check.detail = err > 0 ? sys::PosixError(kSeccompCall[step], err).message()
                           : std::string(kSeccompCall[step]) + ": " + report->Ending();
    check.fix = "a kernel built with CONFIG_SECCOMP_FILTER";
    return {check};
  }
  int st = report->wait_status;
  if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS) {
    check.level = Level::kMissing;
    check.detail = "SECCOMP_RET_KILL_PROCESS did not kill with SIGSYS (" +
                   (report->Ending().empty() ? "exited 0" : report->Ending()) + ")";
    check.fix = "a kernel >= 4.14";
    return {check};
  }
  check.detail = "filters load; errno and kill_process act";
  // Mode 2 means a filter is already on us (a container's, a service manager's): ours stacks on
  // it, and it may deny calls brood needs, which the checks above and below would show.
  if (mode == 2) check.detail += " (this process already runs under a seccomp filter)";
  return {check};
}

Checks ProbeIoUring(const Host& host) {
  Check check{Level::kOk, "io_uring", "", ""};
  std::optional<long> disabled = ReadSysctl("kernel.io_uring_disabled");
  std::string sysctl = disabled ? "kernel.io_uring_disabled=" + std::to_string(*disabled)
                                : "no kernel.io_uring_disabled (kernel < 6.6)";
  io_uring ring;
  int ret = io_uring_queue_init(8, &ring, 0);
  if (ret < 0) {
    check.level = Level::kMissing;
    check.detail = sys::NegErrno("io_uring_queue_init(8)", ret).message() + "; " + sysctl;
    check.fix = IoUringFix(host, disabled, -ret);
    return {check};
  }
  // The reactor's ring must not be shared with the children brood forks.
  ret = io_uring_ring_dontfork(&ring);
  if (ret < 0) check.detail = sys::NegErrno("io_uring_ring_dontfork", ret).message();

  // A round trip, then the operations the reactor submits.
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  io_uring_prep_nop(sqe);
  io_uring_cqe* cqe = nullptr;
  if (ret >= 0 && (ret = io_uring_submit_and_wait(&ring, 1)) >= 0 &&
      (ret = io_uring_peek_cqe(&ring, &cqe)) == 0) {
    ret = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
    if (ret < 0) check.detail = sys::NegErrno("IORING_OP_NOP", ret).message();
  } else if (check.detail.empty()) {
    check.detail = sys::NegErrno("io_uring_submit_and_wait(NOP)", ret).message();
  }
  std::string lacking;
  if (io_uring_probe* probe = io_uring_get_probe_ring(&ring)) {
    const std::pair<int, const char*> kOps[] = {
        {IORING_OP_POLL_ADD, "POLL_ADD"},
        {IORING_OP_READ, "READ"},
        {IORING_OP_WRITE, "WRITE"},
        {IORING_OP_TIMEOUT, "TIMEOUT"},
        {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
    };
    for (auto [op, name] : kOps) {
      if (!io_uring_opcode_supported(probe, op)) lacking += std::string(" ") + name;
    }
    io_uring_free_probe(probe);
  } else {
    lacking = " (IORING_REGISTER_PROBE failed: kernel < 5.6)";
  }
  io_uring_queue_exit(&ring);
  if (!lacking.empty() && check.detail.empty()) {
    check.detail = "operations not supported:" + lacking;
  }
  if (!check.detail.empty()) {
    check.level = Level::kMissing;
    check.fix = "a kernel >= 5.6 with io_uring";
    return {check};
  }
  check.detail = sysctl + "; ring created, POLL_ADD READ WRITE TIMEOUT ASYNC_CANCEL supported";
  return {check};
}

Checks ProbeLandlock() {
  Check check{Level::kOk, "landlock", "", ""};
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 0) {
    int err = errno;
    check.level = Level::kWarn;
    check.detail = sys::PosixError("landlock_create_ruleset(VERSION)", err).message();
    check.fix = err == EOPNOTSUPP ? "enable it at boot: add landlock to the lsm= kernel parameter"
                                  : "a kernel >= 5.13 with CONFIG_SECURITY_LANDLOCK";
    return {check};
  }
  // The version answer alone does not prove a process may restrict itself; try it.
  auto report = RunInChild(1, [](int fd) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Report(fd, 0, errno);
    landlock_ruleset_attr attr{};
    attr.handled_access_fs = LANDLOCK_ACCESS_FS_WRITE_FILE;
    int ruleset = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (ruleset < 0) return Report(fd, 0, errno);
    Report(fd, 0, syscall(SYS_landlock_restrict_self, ruleset, 0) == 0 ? 0 : errno);
  });
  int err = report.ok() ? report->err[0] : EIO;
  if (err != 0) {
    check.level = Level::kWarn;
    check.detail = "ABI " + std::to_string(abi) + ", but " +
                   (err > 0       ? sys::PosixError("landlock_restrict_self", err).message()
                    : report.ok() ? report->Ending()
                                  : report.status().message());
    return {check};
  }
  check.detail = "ABI " + std::to_string(abi);
  return {check};
}

}  // namespace brood::doctor
