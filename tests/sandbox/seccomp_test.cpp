// Tests of the task seccomp policy. Installing a filter cannot be undone, so every test that loads
// one does it in a forked child (Chromium's SANDBOX_TEST): no_new_privs, LoadSeccomp, the probe,
// then the outcome (return value and errno, or the signal that ended the child) goes back to the
// parent, which asserts. The policy is data, and so are its tests: one per denied syscall, each
// run under both violation actions. Under kErrno a kernel that answers EPERM by itself would hide
// a filter that does not match, so the kKill run (a notification on the listener, turned into
// SIGSYS as the task's init does; the kernel never sends either for these calls on its own) is
// what proves that each probe really hits its rule.
#include "sandbox/seccomp.hpp"

#include <asm/unistd.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "sandbox/seccomp_policy.hpp"
#include "sys/fd.hpp"
#include "sys/status.hpp"

namespace brood::sandbox {

// Names the parameter in gtest's messages instead of dumping its bytes.
void PrintTo(const DeniedSyscall& call, std::ostream* os) { *os << call.name; }

namespace {

using Args = std::array<long, 6>;

// What the forked child sends back after its probe.
struct Report {
  long ret = 0;
  int err = 0;
};

struct Outcome {
  bool loaded = true;     // no_new_privs and LoadSeccomp succeeded (or no filter was asked for)
  int load_error = 0;     // their -errno otherwise
  bool reported = false;  // the probe returned and its Report arrived
  Report report;
  int exit_code = -1;  // when the child exited
  int signal = 0;      // when a signal ended it

  bool Denied(int err) const { return reported && report.ret == -1 && report.err == err; }
  std::string Describe() const {
    std::string s;
    if (!loaded) return "failed to load the filter: " + std::string(sys::ErrnoName(-load_error));
    if (reported) {
      s = "returned " + std::to_string(report.ret);
      if (report.ret == -1) s += std::string(" errno ") + sys::ErrnoName(report.err);
      s += ", then ";
    }
    if (signal != 0) return s + "killed by SIG" + sigabbrev_np(signal);
    return s + "exited " + std::to_string(exit_code);
  }
};

enum class Filter { kNone, kErrno, kKill };

sys::StatusOr<SeccompProgram>& Compiled(ViolationAction action) {
  // Compiled once in the parent, as the engine does before forking the hatchery.
  static auto* errno_prog =
      new sys::StatusOr<SeccompProgram>(CompileTaskPolicy(ViolationAction::kErrno));
  static auto* kill_prog =
      new sys::StatusOr<SeccompProgram>(CompileTaskPolicy(ViolationAction::kKill));
  return action == ViolationAction::kKill ? *kill_prog : *errno_prog;
}

// Runs `probe` in a forked child behind `filter`. The child gets its own session (so vhangup has
// no terminal to hang up even if the filter were wrong), no core dumps (a SIGSYS would dump), and
// an alarm, so a probe that blocks ends as SIGALRM instead of hanging the suite.
[[noreturn]] void DieOf(int sig) {
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
  _exit(123);
}

// kKill, the way the task's init handles it: the probe runs in a child of this process, and a
// denied call there (a notification on the listener) gets it killed, after which this process
// dies of SIGSYS, which is what the parent sees of a task. Otherwise this process ends as the
// probe's process did. Returns only in the probe's process.
void ActAsInit(int listener) {
  pid_t pid = fork();
  if (pid == 0) {
    close(listener);
    return;
  }
  if (pid < 0) _exit(122);
  for (;;) {
    if (ViolationPending(listener)) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      DieOf(SIGSYS);
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      if (WIFSIGNALED(status)) DieOf(WTERMSIG(status));
      _exit(WEXITSTATUS(status));
    }
    pollfd p = {listener, POLLIN, 0};
    poll(&p, 1, 1);
  }
}

template <typename Probe>
Outcome RunInChild(Filter filter, Probe probe) {
  const SeccompProgram* prog = nullptr;
  if (filter != Filter::kNone) {
    auto& compiled =
        Compiled(filter == Filter::kKill ? ViolationAction::kKill : ViolationAction::kErrno);
    if (!compiled.ok()) {
      ADD_FAILURE() << "CompileTaskPolicy: " << compiled.status().message();
      return {};
    }
    prog = &compiled.value();
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << sys::ErrnoName(errno);
    return {};
  }
  sys::UniqueFd rd(fds[0]), wr(fds[1]);
  // What the child writes: whether the filter loaded, then the probe's report.
  struct Message {
    int load_error;
    Report report;
  };
  pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << sys::ErrnoName(errno);
    return {};
  }
  if (pid == 0) {
    rd.reset();
    setsid();
    rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    alarm(10);
    Message m = {};
    int listener = -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) m.load_error = -errno;
    if (m.load_error == 0 && prog != nullptr) m.load_error = LoadSeccomp(*prog, &listener);
    if (m.load_error == 0 && listener >= 0) ActAsInit(listener);
    if (m.load_error == 0) m.report = probe();
    _exit(write(wr.get(), &m, sizeof m) == sizeof m ? 0 : 121);
  }
  wr.reset();
  Outcome out;
  Message m;
  ssize_t n;
  do n = read(rd.get(), &m, sizeof m);
  while (n < 0 && errno == EINTR);
  if (n == sizeof m) {
    out.loaded = m.load_error == 0;
    out.load_error = m.load_error;
    out.reported = out.loaded;
    out.report = m.report;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  return out;
}

Report Syscall(long nr, const Args& a) {
  long ret = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
  // A namespace clone that got through would return 0 in a second copy of this child.
  if (ret == 0 && nr == SYS_clone) _exit(0);
  return {ret, ret == -1 ? errno : 0};
}

// Arguments for each denied syscall that the kernel would reject harmlessly (EFAULT, EINVAL,
// EBADF...) if the filter ever let the call through: the probes run as root. Several rows per
// syscall where the rule looks at arguments. A policy row without an entry here fails its test,
// so each new denial gets its arguments chosen on purpose.
const std::map<std::string, std::vector<Args>>& ProbeArgs() {
  constexpr long kBad = -1;  // an invalid fd, flag set or command
  constexpr long kHigh = 1L << 32;
  static const auto* probes = new std::map<std::string, std::vector<Args>>{
      {"ptrace", {{kBad, kBad}}},
      {"process_vm_readv", {{0, 0, 0, 0, 0, kBad}}},
      {"process_vm_writev", {{0, 0, 0, 0, 0, kBad}}},
      {"pidfd_getfd", {{kBad, 0, 0}}},
      {"mount", {{0, 0, 0, 0, 0}}},
      {"umount2", {{0, 0}}},
      {"pivot_root", {{0, 0}}},
      {"chroot", {{0}}},
      {"move_mount", {{kBad, 0, kBad, 0, kBad}}},
      {"open_tree", {{kBad, 0, kBad}}},
      {"open_tree_attr", {{kBad, 0, kBad, 0, 0}}},
      {"fsopen", {{0, kBad}}},
      {"fsconfig", {{kBad, kBad, 0, 0, 0}}},
      {"fsmount", {{kBad, kBad, 0}}},
      {"fspick", {{kBad, 0, kBad}}},
      {"mount_setattr", {{kBad, 0, kBad, 0, 0}}},
      {"open_by_handle_at", {{kBad, 0, 0}}},
      {"name_to_handle_at", {{kBad, 0, 0, 0, kBad}}},
      {"unshare", {{kBad}}},
      {"setns", {{kBad, 0}}},
      // CLONE_THREAD without CLONE_SIGHAND is EINVAL, so no process is ever made; one row per
      // namespace flag, and one with garbage in the upper half the kernel ignores.
      {"clone",
       {{CLONE_NEWNS | CLONE_THREAD},
        {CLONE_NEWUSER | CLONE_THREAD},
        {CLONE_NEWPID | CLONE_THREAD},
        {CLONE_NEWNET | CLONE_THREAD},
        {CLONE_NEWIPC | CLONE_THREAD},
        {CLONE_NEWUTS | CLONE_THREAD},
        {CLONE_NEWCGROUP | CLONE_THREAD},
        {kHigh | CLONE_NEWUSER | CLONE_THREAD}}},
      {"clone3", {{0, 0}}},
      {"bpf", {{kBad, 0, 0}}},
      {"perf_event_open", {{0, 0, kBad, kBad, 0}}},
      {"userfaultfd", {{kBad}}},
      {"io_uring_setup", {{0, 0}}},
      {"io_uring_enter", {{kBad, 0, 0, 0, 0, 0}}},
      {"io_uring_register", {{kBad, 0, 0, 0}}},
      {"keyctl", {{kBad}}},
      {"add_key", {{0, 0, 0, 0, 0}}},
      {"request_key", {{0, 0, 0, 0}}},
      {"fanotify_init", {{kBad, 0}}},
      {"lookup_dcookie", {{0, 0, 0}}},
      {"uselib", {{0}}},
      {"nfsservctl", {{0, 0, 0}}},
      {"kexec_load", {{0, 0, 0, kBad}}},
      {"kexec_file_load", {{kBad, kBad, 0, 0, kBad}}},
      {"init_module", {{0, 0, 0}}},
      {"finit_module", {{kBad, 0, kBad}}},
      {"delete_module", {{0, 0}}},
      {"reboot", {{0, 0, 0, 0}}},  // wrong magic numbers
      {"swapon", {{0, 0}}},
      {"swapoff", {{0}}},
      {"acct", {{1}}},  // acct(NULL) would switch accounting off
      {"quotactl", {{0, 0, 0, 0}}},
      {"quotactl_fd", {{kBad, 0, 0, 0}}},
      {"settimeofday", {{1, 0}}},  // (NULL, NULL) would succeed as a no-op
      {"clock_settime", {{kBad, 0}}},
      {"clock_adjtime", {{kBad, 0}}},
      {"adjtimex", {{0}}},
      {"syslog", {{kBad, 0, 0}}},
      {"iopl", {{4}}},  // levels go to 3
      {"ioperm", {{kBad, 1, 1}}},
      {"vhangup", {{}}},  // the child has no controlling terminal
      {"ioctl", {{kBad, TIOCSTI, 0}, {kBad, TIOCLINUX, 0}, {kBad, kHigh | TIOCSTI, 0}}},
      {"modify_ldt", {{kBad, 0, 0}}},             // no such function: EINVAL
      {"kcmp", {{kBad, kBad, kBad, 0, 0}}},       // no such process
      {"memfd_secret", {{kBad}}},                 // bad flags
      {"vmsplice", {{kBad, 0, 0, 0}}},            // bad fd
      {"migrate_pages", {{kBad, 0, 0, 0}}},       // no such process
      {"process_madvise", {{kBad, 0, 0, 0, 0}}},  // bad pidfd
      {"personality",
       {{PER_LINUX32},
        {ADDR_NO_RANDOMIZE},
        {READ_IMPLIES_EXEC},
        {0xfffffffe},
        {kHigh | PER_LINUX32}}},
  };
  return *probes;
}

// What the parametrized tests below probe: every call of the deny and absent sets, and the
// argument-checked calls with arguments the check refuses (socket's families answer
// EAFNOSUPPORT instead, tested on their own).
const std::vector<DeniedSyscall>& Probed() {
  static const auto* probed = [] {
    auto* v = new std::vector<DeniedSyscall>(DeniedSyscalls().begin(), DeniedSyscalls().end());
    for (const SyscallSet& set : TaskPolicy()) {
      if (set.answer != Answer::kChecked) continue;
      for (const PolicyCall& call : set.calls) {
        if (std::string(call.name) != "socket") v->push_back({call.name, EPERM, call.reason});
      }
    }
    return v;
  }();
  return *probed;
}

bool IsChecked(const std::string& name) {
  for (const SyscallSet& set : TaskPolicy()) {
    for (const PolicyCall& call : set.calls) {
      if (name == call.name) return set.answer == Answer::kChecked;
    }
  }
  return false;
}

// --- The table ---

TEST(SeccompPolicy, DeniesEverySyscallTheIssueLists) {
  // Kept apart from the table, so that dropping a row fails here.
  static const char kRequired[] =
      "ptrace process_vm_readv process_vm_writev mount umount2 pivot_root move_mount open_tree "
      "fsopen fsconfig fsmount fspick mount_setattr unshare setns clone clone3 bpf "
      "perf_event_open keyctl add_key request_key io_uring_setup io_uring_enter "
      "io_uring_register userfaultfd kexec_load kexec_file_load init_module finit_module "
      "delete_module reboot swapon swapoff acct quotactl quotactl_fd settimeofday clock_settime "
      "clock_adjtime adjtimex open_by_handle_at name_to_handle_at syslog personality ioctl "
      "lookup_dcookie vhangup nfsservctl uselib iopl ioperm pidfd_getfd fanotify_init chroot";
  std::set<std::string> names;
  for (const DeniedSyscall& call : Probed()) names.insert(call.name);
  std::istringstream required(kRequired);
  int count = 0;
  for (std::string name; required >> name; ++count) {
    EXPECT_TRUE(names.count(name)) << name << " is not denied";
  }
  EXPECT_EQ(count, 55);
}

TEST(SeccompPolicy, RowsAreWellFormed) {
  std::set<std::string> seen;
  for (const SyscallSet& set : TaskPolicy()) {
    SCOPED_TRACE(set.name);
    ASSERT_NE(set.reason, nullptr);
    EXPECT_GT(std::strlen(set.reason), 10u) << "say why";
    for (const PolicyCall& call : set.calls) {
      SCOPED_TRACE(call.name);
      EXPECT_TRUE(seen.insert(call.name).second) << "in two sets, or twice in one";
      EXPECT_GE(SyscallNumber(call.name), 0) << "no number";
      EXPECT_LE(SyscallNumber(call.name), static_cast<int>(kHighestKnown));
      if (set.answer != Answer::kAllow) {
        ASSERT_NE(call.reason, nullptr) << "a denied or checked call says why";
        EXPECT_GT(std::strlen(call.reason), 10u) << "say why";
      }
    }
  }
  // Every number the kernel assigned up to the highest the policy knows is in a set.
  for (uint32_t nr = 0; nr <= kHighestKnown; ++nr) {
    if (nr >= kUnassignedFirst && nr <= kUnassignedLast) {
      EXPECT_EQ(LookUp(nr).set, nullptr) << nr << " was never assigned";
      continue;
    }
    EXPECT_NE(LookUp(nr).set, nullptr) << "no set names " << SyscallName(nr) << " (" << nr << ")";
  }
}

TEST(SeccompPolicy, CompilesToASmallFilterThatLoads) {
  auto& errno_prog = Compiled(ViolationAction::kErrno);
  auto& kill_prog = Compiled(ViolationAction::kKill);
  ASSERT_TRUE(errno_prog.ok()) << errno_prog.status().message();
  ASSERT_TRUE(kill_prog.ok()) << kill_prog.status().message();
  size_t errno_len = errno_prog.value().insns.size();
  size_t kill_len = kill_prog.value().insns.size();

  // The load cost the design budgets for, measured in children (filters cannot be unloaded).
  std::vector<long> load_ns;
  for (int i = 0; i < 21; ++i) {
    Outcome o = RunInChild(Filter::kNone, [] {
      const SeccompProgram& prog = Compiled(ViolationAction::kErrno).value();
      auto t0 = std::chrono::steady_clock::now();
      int rc = LoadSeccomp(prog);
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now() - t0)
                    .count();
      return Report{static_cast<long>(ns), -rc};
    });
    ASSERT_TRUE(o.reported) << o.Describe();
    ASSERT_EQ(o.report.err, 0) << "LoadSeccomp: " << sys::ErrnoName(o.report.err);
    load_ns.push_back(o.report.ret);
  }
  std::sort(load_ns.begin(), load_ns.end());
  std::printf("[ seccomp  ] filter: %zu instructions (errno), %zu (kill); load p50 %.1f us\n",
              errno_len, kill_len, load_ns[load_ns.size() / 2] / 1000.0);
  RecordProperty("instructions", static_cast<int>(errno_len));
  // Measured here: the deny-list's 143 instructions loaded in ~90 us, the allow-list's ~430 in
  // ~200 us (libseccomp's binary tree; a leaf per allowed call). Grow the policy with care.
  EXPECT_LE(errno_len, 480u);
  EXPECT_LE(kill_len, 480u);
}

TEST(SeccompLoad, RejectsAnEmptyProgram) {
  EXPECT_EQ(LoadSeccomp(SeccompProgram{}), -EINVAL);  // checked before any syscall is made
}

TEST(SeccompLoad, KillProgramNeedsSomewhereToPutItsListener) {
  // Loaded without its listener, a kKill program would answer ENOSYS instead of ending the task.
  ASSERT_TRUE(Compiled(ViolationAction::kKill).ok());
  EXPECT_TRUE(Compiled(ViolationAction::kKill).value().listener);
  EXPECT_FALSE(Compiled(ViolationAction::kErrno).value().listener);
  EXPECT_EQ(LoadSeccomp(Compiled(ViolationAction::kKill).value()), -EINVAL);
}

// --- One test per denied syscall, from the table ---

class SeccompDeniedTest : public testing::TestWithParam<DeniedSyscall> {
 protected:
  void SetUp() override {
    nr_ = SyscallNumber(GetParam().name);
    ASSERT_GE(nr_, 0) << GetParam().name << " has no number";
    auto it = ProbeArgs().find(GetParam().name);
    // A call denied whole is probed with invalid arguments (-1: a bad fd, pointer, flag set,
    // command) unless ProbeArgs() chose some; an argument-checked call needs chosen ones.
    static const std::vector<Args> kAllBad = {{-1, -1, -1, -1, -1, -1}};
    if (it == ProbeArgs().end()) {
      ASSERT_FALSE(IsChecked(GetParam().name))
          << "no probe arguments for " << GetParam().name << ": add them to ProbeArgs()";
      probes_ = &kAllBad;
    } else {
      probes_ = &it->second;
    }
  }
  long nr_ = -1;
  const std::vector<Args>* probes_ = nullptr;
};

TEST_P(SeccompDeniedTest, FailsWithItsErrno) {
  const DeniedSyscall& call = GetParam();
  for (const Args& args : *probes_) {
    SCOPED_TRACE("arg0=" + std::to_string(args[0]) + " arg1=" + std::to_string(args[1]));
    Outcome o = RunInChild(Filter::kErrno, [&] { return Syscall(nr_, args); });
    EXPECT_TRUE(o.Denied(call.err) && o.exit_code == 0)
        << call.name << " should fail with " << sys::ErrnoName(call.err) << "; it " << o.Describe();
  }
}

TEST_P(SeccompDeniedTest, KillsUnderKillAction) {
  const DeniedSyscall& call = GetParam();
  for (const Args& args : *probes_) {
    SCOPED_TRACE("arg0=" + std::to_string(args[0]) + " arg1=" + std::to_string(args[1]));
    Outcome o = RunInChild(Filter::kKill, [&] { return Syscall(nr_, args); });
    if (call.err == ENOSYS) {
      // glibc probes clone3 on every pthread_create and fork: it must stay merely absent.
      EXPECT_TRUE(o.Denied(ENOSYS) && o.exit_code == 0) << call.name << ": it " << o.Describe();
    } else {
      EXPECT_TRUE(!o.reported && o.signal == SIGSYS)
          << call.name << " should kill with SIGSYS; it " << o.Describe();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Seccomp, SeccompDeniedTest,
                         testing::ValuesIn(Probed().begin(), Probed().end()),
                         [](const testing::TestParamInfo<DeniedSyscall>& info) {
                           return std::string(info.param.name);
                         });

// --- What must keep working ---

void* ReturnArg(void* arg) { return arg; }

bool ThreadWorks() {
  int value = 0;
  std::thread t([&] { value = 1; });
  t.join();
  return value == 1;
}

bool PthreadWorks() {
  static int marker;
  pthread_t pt;
  void* result = nullptr;
  return pthread_create(&pt, nullptr, ReturnArg, &marker) == 0 && pthread_join(pt, &result) == 0 &&
         result == &marker;
}

bool ExitedWith(pid_t pid, int code) {
  int status = 0;
  return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
         WEXITSTATUS(status) == code;
}

bool ForkWorks() {
  pid_t pid = fork();
  if (pid == 0) _exit(7);
  return ExitedWith(pid, 7);
}

bool VforkWorks() {
  pid_t pid = vfork();
  if (pid == 0) _exit(8);
  return ExitedWith(pid, 8);
}

bool PosixSpawnWorks() {
  char arg0[] = "true";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {nullptr};
  pid_t pid = -1;
  return posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, envp) == 0 && ExitedWith(pid, 0);
}

// Threads, fork, vfork and posix_spawn all go through clone3 first in glibc 2.34+, then fall back
// to clone on ENOSYS: this is the test that the fallback happens under both actions.
Report ThreadsAndForks() {
  long ok = 0;
  if (ThreadWorks()) ok |= 1;
  if (PthreadWorks()) ok |= 2;
  if (ForkWorks()) ok |= 4;
  if (VforkWorks()) ok |= 8;
  if (PosixSpawnWorks()) ok |= 16;
  return {ok, 0};
}

TEST(SeccompClone, ThreadsForkVforkAndSpawnWork) {
  for (Filter filter : {Filter::kErrno, Filter::kKill}) {
    SCOPED_TRACE(filter == Filter::kKill ? "kKill" : "kErrno");
    Outcome o = RunInChild(filter, ThreadsAndForks);
    ASSERT_TRUE(o.reported) << o.Describe();
    // Bits: 1 std::thread, 2 pthread_create, 4 fork, 8 vfork, 16 posix_spawn.
    EXPECT_EQ(o.report.ret, 31);
  }
}

TEST(SeccompClone, NewUserNamespaceFailsButPlainForkWorks) {
  Outcome o = RunInChild(Filter::kErrno, [] {
    long ret = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (ret == 0) _exit(0);  // a child in a new user namespace: the filter failed
    if (ret > 0) waitpid(ret, nullptr, 0);
    if (ret != -1 || errno != EPERM) return Report{ret, ret == -1 ? errno : 0};
    pid_t pid = fork();
    if (pid == 0) _exit(7);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return Report{-2, errno};
    return Report{WIFEXITED(status) ? WEXITSTATUS(status) : -3, EPERM};
  });
  ASSERT_TRUE(o.reported) << o.Describe();
  EXPECT_EQ(o.report.err, EPERM) << "clone(CLONE_NEWUSER) " << o.Describe();
  EXPECT_EQ(o.report.ret, 7) << "fork after the denied clone: " << o.Describe();
}

TEST(SeccompPersonality, QueryAndPerLinuxAreAllowed) {
  for (Filter filter : {Filter::kErrno, Filter::kKill}) {
    SCOPED_TRACE(filter == Filter::kKill ? "kKill" : "kErrno");
    // Raw calls (glibc truncates the argument to 32 bits; other runtimes need not), then glibc's.
    for (long arg : {0xffffffffL, static_cast<long>(PER_LINUX), 1L << 32}) {
      Outcome o = RunInChild(filter, [arg] {
        long ret = syscall(SYS_personality, arg);
        return Report{ret, ret == -1 ? errno : 0};
      });
      EXPECT_TRUE(o.reported && o.report.ret >= 0) << "personality(" << arg << ") " << o.Describe();
    }
    Outcome o = RunInChild(filter, [] {
      int ret = personality(0xffffffff);
      return Report{ret, ret == -1 ? errno : 0};
    });
    EXPECT_TRUE(o.reported && o.report.ret >= 0) << "glibc personality query: " << o.Describe();
  }
}

TEST(SeccompIoctl, OtherIoctlsWork) {
  Outcome o = RunInChild(Filter::kKill, [] {
    long ok = 0;
    int p[2];
    int avail = -1;
    if (pipe(p) == 0 && write(p[1], "abc", 3) == 3 && ioctl(p[0], FIONREAD, &avail) == 0 &&
        avail == 3) {
      ok |= 1;
    }
    int pty = posix_openpt(O_RDWR | O_NOCTTY);
    termios tio;
    if (pty >= 0 && ioctl(pty, TCGETS, &tio) == 0) ok |= 2;
    return Report{ok, 0};
  });
  ASSERT_TRUE(o.reported) << o.Describe();
  EXPECT_EQ(o.report.ret, 3) << "bits: 1 FIONREAD on a pipe, 2 TCGETS on a pty";
}

// --- socket families ---

// socket(family, type, protocol) behind `filter`: what the call returned (the fd is closed).
Outcome OpenSocket(Filter filter, int family, int type, int protocol) {
  return RunInChild(filter, [=] {
    long ret = syscall(SYS_socket, family, type, protocol);
    Report r{ret, ret == -1 ? errno : 0};
    if (ret >= 0) close(static_cast<int>(ret));
    return r;
  });
}

TEST(SeccompSocket, TheFourFamiliesOpenAndNetlinkOnlyForRoutes) {
  for (Filter filter : {Filter::kErrno, Filter::kKill}) {
    SCOPED_TRACE(filter == Filter::kKill ? "kKill" : "kErrno");
    for (auto [family, type, protocol] : {std::tuple{AF_UNIX, SOCK_STREAM, 0},
                                          {AF_UNIX, SOCK_DGRAM, 0},
                                          {AF_INET, SOCK_STREAM, 0},
                                          {AF_INET, SOCK_DGRAM, 0},
                                          {AF_INET6, SOCK_STREAM, 0},
                                          {AF_NETLINK, SOCK_RAW, NETLINK_ROUTE},
                                          {AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE}}) {
      Outcome o = OpenSocket(filter, family, type, protocol);
      EXPECT_TRUE(o.reported && o.report.ret >= 0)
          << "family " << family << " protocol " << protocol << ": " << o.Describe();
    }
  }
}

// Families outside the four answer as a kernel without them would, never as a violation: the
// call returns (also under kKill) and the program goes on. Without the filter (the control) the
// same calls reach the kernel's families and answer otherwise or open.
TEST(SeccompSocket, OtherFamiliesAnswerEafnosupportEvenUnderKill) {
  constexpr int kOthers[] = {AF_PACKET,    AF_ALG, AF_VSOCK,     AF_KEY, AF_XDP, AF_TIPC, AF_RDS,
                             AF_BLUETOOTH, AF_CAN, AF_APPLETALK, AF_X25, AF_SMC, AF_MCTP};
  for (Filter filter : {Filter::kErrno, Filter::kKill}) {
    SCOPED_TRACE(filter == Filter::kKill ? "kKill" : "kErrno");
    for (int family : kOthers) {
      Outcome o = OpenSocket(filter, family, SOCK_DGRAM, 0);
      EXPECT_TRUE(o.Denied(EAFNOSUPPORT)) << "family " << family << ": " << o.Describe();
      EXPECT_EQ(o.exit_code, 0) << "family " << family << ": " << o.Describe();
    }
    for (int protocol : {NETLINK_SOCK_DIAG, NETLINK_AUDIT, NETLINK_KOBJECT_UEVENT, NETLINK_GENERIC,
                         NETLINK_NETFILTER, NETLINK_XFRM}) {
      Outcome o = OpenSocket(filter, AF_NETLINK, SOCK_RAW, protocol);
      EXPECT_TRUE(o.Denied(EPROTONOSUPPORT)) << "netlink " << protocol << ": " << o.Describe();
    }
  }
  // Control: unfiltered, the families this kernel has answer otherwise (root opens AF_PACKET;
  // netlink's sock_diag opens for anyone), so the answers above are the filter's.
  int kernel_has = 0;
  for (int family : kOthers) {
    Outcome c = OpenSocket(Filter::kNone, family, SOCK_DGRAM, 0);
    kernel_has += !(c.reported && c.report.ret == -1 && c.report.err == EAFNOSUPPORT);
  }
  std::cout << kernel_has << " of " << std::size(kOthers) << " families exist in this kernel\n";
  Outcome diag = OpenSocket(Filter::kNone, AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG);
  EXPECT_TRUE(diag.reported && diag.report.ret >= 0) << "sock_diag unfiltered: " << diag.Describe();
  if (geteuid() == 0) {
    Outcome packet = OpenSocket(Filter::kNone, AF_PACKET, SOCK_DGRAM, 0);
    EXPECT_TRUE(packet.reported && packet.report.ret >= 0)
        << "AF_PACKET as root, unfiltered: " << packet.Describe();
  }
}

TEST(SeccompSocket, UpperHalfOfTheFamilyRegisterIsIgnoredAsTheKernelDoes) {
  // socket(2)'s family is an int: the kernel reads the low 32 bits, and so must the filter, or a
  // family with garbage above it would slip past as "not AF_PACKET" (which root could open).
  Outcome o = RunInChild(Filter::kErrno, [] {
    long ret = syscall(SYS_socket, (1L << 32) | AF_PACKET, SOCK_DGRAM, 0);
    Report r{ret, ret == -1 ? errno : 0};
    if (ret >= 0) close(static_cast<int>(ret));
    return r;
  });
  EXPECT_TRUE(o.Denied(EAFNOSUPPORT)) << o.Describe();
}

// --- Kill semantics and foreign architectures ---

TEST(SeccompKill, DeniedCallInAnyThreadKillsTheWholeProcess) {
  // The whole process, not the thread: a thread-only kill would leave the main thread waiting in
  // join until the alarm (SIGALRM).
  Outcome o = RunInChild(Filter::kKill, [] {
    std::thread t([] { syscall(SYS_ptrace, -1, -1, 0, 0); });
    t.join();
    return Report{0, 0};
  });
  EXPECT_TRUE(!o.reported && o.signal == SIGSYS) << o.Describe();
}

// getpid through the i386 entry point (its number there is 20), from 64-bit code.
long Int80Getpid() {
  long ret = 20;
  asm volatile("int $0x80" : "+a"(ret) : : "memory", "r8", "r9", "r10", "r11");
  return ret;
}

TEST(SeccompArch, I386SyscallKills) {
  Outcome control = RunInChild(Filter::kNone, [] { return Report{Int80Getpid(), getpid()}; });
  if (!control.reported || control.report.ret != control.report.err) {
    GTEST_SKIP() << "int $0x80 does not reach the i386 syscall table here (IA32 emulation "
                    "off?); unfiltered it "
                 << control.Describe();
  }
  for (Filter filter : {Filter::kErrno, Filter::kKill}) {
    SCOPED_TRACE(filter == Filter::kKill ? "kKill" : "kErrno");
    Outcome o = RunInChild(filter, [] { return Report{Int80Getpid(), 0}; });
    EXPECT_TRUE(!o.reported && o.signal == SIGSYS) << "int $0x80 getpid: " << o.Describe();
  }
}

TEST(SeccompArch, X32SyscallKills) {
  // Unfiltered this is ENOSYS on kernels without CONFIG_X86_X32_ABI and a pid with it; the filter
  // sees the number before the kernel's table does, so it must kill either way. personality is
  // the call the hand-written guard in front of libseccomp's program looks at.
  for (long nr : {__NR_getpid, __NR_personality}) {
    for (Filter filter : {Filter::kErrno, Filter::kKill}) {
      SCOPED_TRACE(std::string(filter == Filter::kKill ? "kKill" : "kErrno") + " nr " +
                   std::to_string(nr));
      Outcome o = RunInChild(filter, [nr] { return Syscall(__X32_SYSCALL_BIT | nr, Args{}); });
      EXPECT_TRUE(!o.reported && o.signal == SIGSYS) << "x32 syscall: " << o.Describe();
    }
  }
}

TEST(SeccompArch, NativeNumberMinusOneIsLetThrough) {
  // nr -1 is the number a tracer sets to skip a call; the kernel answers ENOSYS, and so does the
  // guard, before libseccomp's x32 check (which also spares it).
  Outcome o = RunInChild(Filter::kKill, [] { return Syscall(-1, Args{}); });
  EXPECT_TRUE(o.Denied(ENOSYS)) << o.Describe();
}

}  // namespace
}  // namespace brood::sandbox
