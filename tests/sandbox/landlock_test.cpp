// Landlock on its own, in forked children on the host: each check passes only because the ruleset
// is applied (without it the same call succeeds, which the first half of each test shows), so a
// broken table or a skipped ApplyLandlock fails here. Skipped, with the reason, on hosts whose
// Landlock ABI is too low.
#include "sandbox/landlock.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/landlock.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

namespace brood::sandbox {
namespace {

// Runs `probe` in a forked child, after no_new_privs and (if `landlock`) ApplyLandlock; returns
// the probe's errno (0: the call worked), or -1 when the child could not get that far.
int InChild(bool landlock, const std::function<int()>& probe) {
  int p[2];
  if (pipe(p) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    int result = -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
        (!landlock || ApplyLandlock(LandlockAbi()) == 0)) {
      result = probe();
    }
    (void)!write(p[1], &result, sizeof result);
    _exit(0);
  }
  close(p[1]);
  int result = -1;
  if (pid < 0 || read(p[0], &result, sizeof result) != sizeof result) result = -1;
  close(p[0]);
  if (pid > 0) waitpid(pid, nullptr, 0);
  return result;
}

int ErrnoOf(bool ok) { return ok ? 0 : errno; }

class Landlock : public testing::Test {
 protected:
  void SetUp() override {
    if (LandlockAbi() == 0) GTEST_SKIP() << "the host has no Landlock at ABI >= 2";
    char tmpl[] = "/var/tmp/brood-landlock-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << strerror(errno);
    outside_ = tmpl;
    // It must lie below no rule of the table (a host whose /var/tmp links into /tmp, say).
    char real[PATH_MAX];
    ASSERT_NE(realpath(tmpl, real), nullptr);
    for (const LandlockRule& r : LandlockRules()) {
      const std::string path = std::string(r.dir) + r.name;
      if (path != "/" && std::string(real).rfind(path + "/", 0) == 0)
        GTEST_SKIP() << real << " is below " << path << ", which the table grants rights on";
    }
  }
  void TearDown() override {
    if (!outside_.empty()) (void)!system(("rm -rf " + outside_).c_str());
  }
  std::string outside_;
};

TEST_F(Landlock, WritesOutsideTheTaskFilesystemAreRefused) {
  const std::string file = outside_ + "/f";
  auto create = [&] {
    int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
    return ErrnoOf(fd >= 0);
  };
  EXPECT_EQ(InChild(true, create), EACCES);
  EXPECT_EQ(InChild(false, create), 0) << "the probe itself must work without Landlock";
}

TEST_F(Landlock, ReadsOnlyWhereTheTableSays) {
  const std::string file = outside_ + "/secret";
  ASSERT_EQ(system(("echo s > " + file).c_str()), 0);
  auto read_outside = [&] {
    int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) close(fd);
    return ErrnoOf(fd >= 0);
  };
  EXPECT_EQ(InChild(true, read_outside), EACCES);
  EXPECT_EQ(InChild(false, read_outside), 0);
  // The system directories, the /etc view and /proc stay readable.
  for (const char* path : {"/usr/bin/env", "/etc/passwd", "/proc/self/status"}) {
    EXPECT_EQ(InChild(true,
                      [&] {
                        int fd = open(path, O_RDONLY | O_CLOEXEC);
                        if (fd >= 0) close(fd);
                        return ErrnoOf(fd >= 0);
                      }),
              0)
        << path;
  }
}

TEST_F(Landlock, ProcIsReadOnlyEvenForTheTaskItself) {
  auto open_mem = [] {
    int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
    if (fd >= 0) close(fd);
    return ErrnoOf(fd >= 0);
  };
  EXPECT_EQ(InChild(true, open_mem), EACCES);
  EXPECT_EQ(InChild(false, open_mem), 0);
}

TEST_F(Landlock, ExecutesOnlyFromSystemDirectoriesAndTheTasksOwn) {
  const std::string copy = outside_ + "/true";
  ASSERT_EQ(system(("cp /bin/true " + copy).c_str()), 0);
  auto exec_copy = [&] {
    pid_t pid = fork();
    if (pid == 0) {
      execl(copy.c_str(), copy.c_str(), nullptr);
      _exit(errno == EACCES ? 126 : 127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0     ? 0
           : WIFEXITED(st) && WEXITSTATUS(st) == 126 ? EACCES
                                                     : -2;
  };
  EXPECT_EQ(InChild(true, exec_copy), EACCES);
  EXPECT_EQ(InChild(false, exec_copy), 0);
}

TEST_F(Landlock, SignalsStayInsideTheDomain) {
  if (LandlockAbi() < 6)
    GTEST_SKIP() << "signal scoping needs Landlock ABI 6; the host has " << LandlockAbi();
  const pid_t parent = getpid();  // same uid, outside the child's domain
  auto signal_parent = [&] { return ErrnoOf(kill(parent, 0) == 0); };
  EXPECT_EQ(InChild(true, signal_parent), EPERM);
  EXPECT_EQ(InChild(false, signal_parent), 0);
}

TEST_F(Landlock, AbstractSocketsOutsideTheDomainAreUnreachable) {
  if (LandlockAbi() < 6)
    GTEST_SKIP() << "abstract socket scoping needs Landlock ABI 6; the host "
                 << "has " << LandlockAbi();
  int server = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(server, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string name = "brood-landlock-test-" + std::to_string(getpid());
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  const socklen_t len = offsetof(sockaddr_un, sun_path) + 1 + name.size();
  ASSERT_EQ(bind(server, reinterpret_cast<sockaddr*>(&addr), len), 0) << strerror(errno);
  ASSERT_EQ(listen(server, 4), 0);
  auto connect_host = [&] {
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool ok = connect(c, reinterpret_cast<sockaddr*>(&addr), len) == 0;
    const int err = ErrnoOf(ok);
    close(c);
    return err;
  };
  EXPECT_EQ(InChild(true, connect_host), EPERM);
  EXPECT_EQ(InChild(false, connect_host), 0);
  close(server);
}

TEST(LandlockTable, EverySystemDirectoryIsReadAndExecuteOnly) {
  bool saw_usr = false, saw_proc = false;
  for (const LandlockRule& r : LandlockRules()) {
    const std::string path = std::string(r.dir) + r.name;
    if (path == "/usr") saw_usr = true;
    if (path == "/proc") {
      saw_proc = true;
      EXPECT_EQ(r.access, LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR);
    }
    if (path == "/") {
      EXPECT_EQ(r.access, LANDLOCK_ACCESS_FS_READ_DIR) << "only listing at /";
    }
  }
  EXPECT_TRUE(saw_usr);
  EXPECT_TRUE(saw_proc);
}

}  // namespace
}  // namespace brood::sandbox
