// `brood doctor` on this host: as root, as an unprivileged user (no cgroup delegated), and with
// features taken away by a seccomp filter, each in a forked child because dropping privileges and
// installing a filter cannot be undone.
#include "brood/doctor.hpp"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Outcome {
  int rc = -1;  // RunDoctor's return value, or -1 when the child failed before it
  std::string out;
};

// Runs RunDoctor in a forked child after `setup` (which returns false on failure, printing why)
// and collects its return value and report.
Outcome RunDoctorInChild(const std::function<bool()>& setup, const std::string& cgroup_root = "") {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::ostringstream out;
    int rc = setup() ? brood::RunDoctor({cgroup_root}, out) : 100;
    std::string text = out.str();
    for (size_t off = 0; off < text.size();) {
      ssize_t n = write(fds[1], text.data() + off, text.size() - off);
      if (n <= 0) _exit(101);
      off += n;
    }
    _exit(rc);
  }
  close(fds[1]);
  Outcome outcome;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) outcome.out.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) <= 1) outcome.rc = WEXITSTATUS(status);
  return outcome;
}

// The report line for `what` (the text after the status column), or "" when there is none.
std::string LineFor(const std::string& out, const std::string& what) {
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > 9 && line.compare(9, what.size(), what) == 0) return line;
  }
  return "";
}

bool IsOk(const std::string& out, const std::string& what) {
  return LineFor(out, what).rfind("ok       ", 0) == 0;
}

const char* const kNamespaces[] = {
    "user namespace",
    "mount namespace",
    "pid namespace",
    "network namespace (loopback up)",
    "ipc namespace",
    "uts namespace",
    "tmpfs mount in the sandbox",
    "proc mount in the sandbox",
};

bool DropToNobody() {
  if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 ||
      setresuid(65534, 65534, 65534) != 0) {
    perror("dropping to uid 65534");
    return false;
  }
  // Changing uids without execve leaves the process non-dumpable, and then its /proc files
  // (uid_map among them) belong to root. A user who starts brood got it by execve: be that user.
  return prctl(PR_SET_DUMPABLE, 1) == 0;
}

TEST(Doctor, RootHostHasEverythingNeeded) {
  if (geteuid() != 0) GTEST_SKIP() << "runs as root (the unprivileged case is its own test)";
  std::ostringstream report;
  int rc = brood::RunDoctor({}, report);
  const std::string out = report.str();
  SCOPED_TRACE(out);
  EXPECT_EQ(rc, 0);
  for (const char* what : kNamespaces) EXPECT_TRUE(IsOk(out, what)) << what;
  // The development machines run hybrid v1; a v2 host is first-class too.
  EXPECT_TRUE(IsOk(out, "cgroup v1") || IsOk(out, "cgroup v2"));
  for (const char* what :
       {"cgroup memory controller", "cgroup pids controller", "cgroup cpu controller", "seccomp",
        "io_uring", "pidfd_open", "clone(CLONE_PIDFD)", "close_range", "/proc"}) {
    EXPECT_TRUE(IsOk(out, what)) << what;
  }
  EXPECT_NE(LineFor(out, "landlock"), "");
  EXPECT_NE(LineFor(out, "overlayfs"), "");

  // Every line but the verdict is aligned: a status padded to 9 columns, then the check.
  std::istringstream in(out);
  std::regex aligned("(ok       |warn     |missing  )[^ ].*");
  for (std::string line; std::getline(in, line) && !line.empty();) {
    EXPECT_TRUE(std::regex_match(line, aligned)) << line;
  }
  // Optional features (Landlock, workspace disks) may be missing on a root host: a warning.
  EXPECT_NE(out.find("\nbrood can sandbox here as root (uid 0)"), std::string::npos);
  EXPECT_NE(LineFor(out, "workspace disk"), "");
}

TEST(Doctor, UnprivilegedUserWithoutDelegationLacksCgroups) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to become uid 65534";
  Outcome o = RunDoctorInChild(DropToNobody);
  SCOPED_TRACE(o.out);
  EXPECT_EQ(o.rc, 1);
  // This host allows unprivileged user namespaces (user.max_user_namespaces > 0).
  for (const char* what : kNamespaces) EXPECT_TRUE(IsOk(o.out, what)) << what;
  std::string cgroup = LineFor(o.out, "cgroup v1");
  if (cgroup.empty()) cgroup = LineFor(o.out, "cgroup v2");
  EXPECT_EQ(cgroup.rfind("missing  cgroup v", 0), 0u) << cgroup;
  EXPECT_NE(cgroup.find("uid 65534"), std::string::npos);
  // The fix spans lines: take the rest of the report from the verdict on.
  std::string fix = o.out.substr(o.out.find(cgroup));
  EXPECT_NE(fix.find("--cgroup-root /brood-nobody"), std::string::npos);
  EXPECT_NE(fix.find("chown -R 65534:65534"), std::string::npos);
  EXPECT_NE(fix.find("--allow-no-cgroups"), std::string::npos);
  EXPECT_EQ(LineFor(o.out, "cgroup memory controller").rfind("missing", 0), 0u);
  if (cgroup.find("cgroup v1") != std::string::npos) {
    // Each v1 controller line names its own hierarchy's directory, cpuacct's beside cpu's.
    std::string cpu = LineFor(o.out, "cgroup cpu controller");
    EXPECT_EQ(cpu.rfind("missing  cgroup cpu controller: /", 0), 0u) << cpu;
    EXPECT_NE(cpu.find("; /"), std::string::npos) << cpu;
  }
  EXPECT_TRUE(IsOk(o.out, "seccomp"));
  EXPECT_TRUE(IsOk(o.out, "io_uring"));
  EXPECT_NE(o.out.find("brood cannot sandbox here as nobody (uid 65534)"), std::string::npos);
}

// The v1 fix is a list of shell commands: run them as root, and the same user passes.
TEST(Doctor, PrintedV1DelegationFixWorks) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to become uid 65534 and to delegate";
  Outcome before = RunDoctorInChild(DropToNobody);
  if (LineFor(before.out, "cgroup v1").empty()) GTEST_SKIP() << "not a cgroup v1 host";
  SCOPED_TRACE(before.out);
  ASSERT_EQ(before.rc, 1);

  // Directories this test creates, removed however it ends; one that was there already is the
  // host's and stays.
  std::vector<std::string> dirs;
  struct Cleanup {
    std::vector<std::string>& dirs;
    ~Cleanup() {
      for (const std::string& d : dirs) rmdir(d.c_str());
    }
  } cleanup{dirs};
  std::istringstream in(before.out);
  std::regex command(R"( *(mkdir -p (\S+) && chown -R 65534:65534 \2))");
  int commands = 0;
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (!std::regex_match(line, m, command)) continue;
    ++commands;
    struct stat st;
    if (stat(m[2].str().c_str(), &st) != 0) dirs.push_back(m[2]);
    ASSERT_EQ(std::system(m[1].str().c_str()), 0) << m[1];
  }
  EXPECT_GE(commands, 3);  // at least memory, pids and cpu hierarchies

  Outcome after = RunDoctorInChild(DropToNobody, "/brood-nobody");
  SCOPED_TRACE(after.out);
  EXPECT_EQ(after.rc, 0);
  EXPECT_TRUE(IsOk(after.out, "cgroup v1"));
}

TEST(Doctor, CgroupRootThatDoesNotExistIsMissing) {
  if (geteuid() != 0) GTEST_SKIP() << "as root, only a bad --cgroup-root leaves no cgroup";
  std::ostringstream report;
  int rc = brood::RunDoctor({"/brood-doctor-test-no-such-cgroup"}, report);
  const std::string out = report.str();
  SCOPED_TRACE(out);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(out.find("ok       cgroup v"), std::string::npos);
  EXPECT_NE(out.find("missing  cgroup v"), std::string::npos);
  EXPECT_NE(out.find("mkdir -p "), std::string::npos);
  EXPECT_NE(out.find("/brood-doctor-test-no-such-cgroup"), std::string::npos);
  EXPECT_TRUE(IsOk(out, "user namespace"));
}

// Installs a filter that fails unshare(2) with EPERM and io_uring_setup(2) with ENOSYS, as a
// hardened host or a container runtime's profile would.
bool DenyUnshareAndIoUring() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return false;
  bool ok = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 0) == 0 &&
            seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(io_uring_setup), 0) == 0 &&
            seccomp_load(ctx) == 0;
  seccomp_release(ctx);
  return ok;
}

TEST(Doctor, DeniedUserNamespaceAndIoUringAreMissingWithFixes) {
  Outcome o = RunDoctorInChild(DenyUnshareAndIoUring);
  SCOPED_TRACE(o.out);
  EXPECT_EQ(o.rc, 1);
  std::string user = LineFor(o.out, "user namespace");
  EXPECT_EQ(user.rfind("missing  user namespace: unshare(CLONE_NEWUSER): EPERM", 0), 0u) << user;
  EXPECT_NE(user.find("fix: "), std::string::npos);
  EXPECT_NE(user.find("kernel.apparmor_restrict_unprivileged_userns=0"), std::string::npos);
  EXPECT_NE(user.find("user.max_user_namespaces"), std::string::npos);
  EXPECT_NE(user.find("kernel.unprivileged_userns_clone=1"), std::string::npos);
  // What needs the user namespace is reported as not tried, not as a failure of its own.
  EXPECT_EQ(LineFor(o.out, "mount namespace"),
            "missing  mount namespace: not tried: needs user namespace");
  EXPECT_EQ(LineFor(o.out, "cgroup namespace"),
            "warn     cgroup namespace: not tried: needs user namespace");
  std::string io_uring = LineFor(o.out, "io_uring");
  EXPECT_EQ(io_uring.rfind("missing  io_uring: io_uring_queue_init(8): ENOSYS", 0), 0u) << io_uring;
  EXPECT_NE(io_uring.find("io_uring_setup"), std::string::npos);
  // Filters stack: brood's own seccomp still loads under this one.
  EXPECT_TRUE(IsOk(o.out, "seccomp"));
}

}  // namespace
