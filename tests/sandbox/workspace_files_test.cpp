// CheckWorkspacePath, ReadBeneath and WriteBeneath. The plain tests call them in this process;
// the hostile ones (root only, to set up) call them in a forked child that holds uid/gid 65534
// and no capabilities, as the session's file child holds the sandbox user's, over a directory
// that uid owns, with secrets outside it that the uid could read and write itself: only the
// functions stand between them. A child that blocks is killed by its alarm and fails the test.
// The race tests hold under any interleaving, so their verdict does not depend on timing.
#include "sandbox/workspace_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace brood::sandbox {
namespace {

constexpr uid_t kNobody = 65534;
constexpr int kSkipped = -77;

int MemfdWith(std::string_view bytes) {
  int fd = memfd_create("wsf-test", MFD_CLOEXEC);
  if (fd >= 0 && !bytes.empty() && write(fd, bytes.data(), bytes.size()) != (ssize_t)bytes.size())
    return -1;
  return fd;
}

// The whole content of `fd`, from offset 0.
std::string Slurp(int fd) {
  std::string s;
  char buf[65536];
  for (ssize_t n; (n = pread(fd, buf, sizeof buf, static_cast<off_t>(s.size()))) > 0;)
    s.append(buf, static_cast<size_t>(n));
  return s;
}

std::string FileContent(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return "<" + std::string(strerror(errno)) + ">";
  std::string s = Slurp(fd);
  close(fd);
  return s;
}

void MakeFile(const std::string& path, std::string_view content, mode_t mode = 0644,
              uid_t owner = 0) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  ASSERT_GE(fd, 0) << path << ": " << strerror(errno);
  ASSERT_EQ(write(fd, content.data(), content.size()), (ssize_t)content.size());
  ASSERT_EQ(fchmod(fd, mode), 0);
  if (owner) {
    ASSERT_EQ(fchown(fd, owner, owner), 0);
  }
  close(fd);
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

using Names = std::vector<std::string>;

TEST(CheckWorkspacePath, AcceptsRelativePathsOfPlainComponents) {
  for (const std::string& ok :
       {std::string("a"), std::string("src/main.py"), std::string("a/b/c.txt"),
        std::string("with space/and tab\t.txt"), std::string("ünïcödé/日本語.txt"),
        std::string(".hidden"), std::string("..."), std::string("a..b/c."), std::string(255, 'x'),
        std::string(255, 'x') + "/" + std::string(255, 'y')}) {
    EXPECT_EQ(CheckWorkspacePath(ok), "") << ok;
  }
  // Exactly 4096 bytes: twenty 200-byte components and one of 76, and the 20 slashes between.
  std::string longest;
  for (int i = 0; i < 20; ++i) longest += std::string(200, 'a' + i) + "/";
  longest += std::string(76, 'z');
  ASSERT_EQ(longest.size(), 4096u);
  EXPECT_EQ(CheckWorkspacePath(longest), "");
  EXPECT_NE(CheckWorkspacePath(longest + "z"), "");
}

TEST(CheckWorkspacePath, RefusesEverythingElseAndSaysWhy) {
  struct Case {
    std::string path;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"", "empty"},
      {"/etc/passwd", "absolute"},
      {"/", "absolute"},
      {"..", "'..'"},
      {"a/../b", "'..'"},
      {"a/..", "'..'"},
      {".", "'.'"},
      {"./a", "'.'"},
      {"a/./b", "'.'"},
      {"a//b", "empty component"},
      {"a/", "ends with '/'"},
      {std::string("a\0b", 3), "NUL"},
      {std::string("a\0", 2), "NUL"},
      {std::string(4097, 'a'), "longer than 4096"},
      {std::string(256, 'a'), "longer than 255"},
      {"ok/" + std::string(256, 'a') + "/ok", "longer than 255"},
  };
  for (const Case& c : cases) {
    const std::string why = CheckWorkspacePath(c.path);
    EXPECT_NE(why.find(c.says), std::string::npos) << "\"" << c.path << "\": " << why;
  }
}

class WorkspaceFiles : public testing::Test {
 protected:
  void SetUp() override {
    // On a tmpfs where there is one, as a session's workspace is (and where renames are fast,
    // so the race tests' flipper keeps up with the calls), else on /tmp.
    struct stat st;
    std::string tmpl = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    tmpl += "/brood-wsf-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << strerror(errno);
    root_ = tmpl;
    ASSERT_EQ(chmod(root_.c_str(), 0755), 0);
    ws_ = root_ + "/ws";
    ASSERT_EQ(mkdir(ws_.c_str(), 0755), 0);
    dir_ = open(ws_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(dir_, 0);
  }
  void TearDown() override {
    if (dir_ >= 0) close(dir_);
    if (!root_.empty()) (void)!system(("rm -rf " + root_).c_str());
  }

  static int Read(int dir, std::string_view path, std::string* got, uint64_t max = 1 << 20) {
    int out = MemfdWith("");
    const int err = ReadBeneath(dir, path, out, max);
    if (got) *got = Slurp(out);
    close(out);
    return err;
  }
  static int Write(int dir, std::string_view path, std::string_view bytes, uint64_t max = 1 << 20) {
    int in = MemfdWith(bytes);
    const int err = WriteBeneath(dir, path, in, max);
    close(in);
    return err;
  }
  int Read(std::string_view path, std::string* got, uint64_t max = 1 << 20) {
    return Read(dir_, path, got, max);
  }
  int Write(std::string_view path, std::string_view bytes, uint64_t max = 1 << 20) {
    return Write(dir_, path, bytes, max);
  }

  std::string root_, ws_;
  int dir_ = -1;
};

mode_t Umask() {
  const mode_t m = umask(022);
  umask(m);
  return m;
}

TEST_F(WorkspaceFiles, RoundTripMakesMissingParents) {
  ASSERT_EQ(Write("a/b/c.txt", "hello\n"), 0);
  std::string got;
  ASSERT_EQ(Read("a/b/c.txt", &got), 0);
  EXPECT_EQ(got, "hello\n");
  struct stat st;
  ASSERT_EQ(lstat((ws_ + "/a/b").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0755 & ~Umask());
  ASSERT_EQ(lstat((ws_ + "/a/b/c.txt").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0644 & ~Umask());
  EXPECT_EQ(Entries(ws_ + "/a/b"), Names{"c.txt"}) << "no temporary file is left";
  // An empty file, and a name in an existing directory.
  ASSERT_EQ(Write("a/empty", ""), 0);
  ASSERT_EQ(Read("a/empty", &got), 0);
  EXPECT_EQ(got, "");
}

TEST_F(WorkspaceFiles, ReplacesAnExistingFileByRenameKeepingItsMode) {
  MakeFile(ws_ + "/run.sh", "old", 0750);
  struct stat before, after;
  ASSERT_EQ(stat((ws_ + "/run.sh").c_str(), &before), 0);
  ASSERT_EQ(Write("run.sh", "#!/bin/sh\necho new\n"), 0);
  EXPECT_EQ(FileContent(ws_ + "/run.sh"), "#!/bin/sh\necho new\n");
  ASSERT_EQ(stat((ws_ + "/run.sh").c_str(), &after), 0);
  EXPECT_NE(after.st_ino, before.st_ino) << "a new inode, renamed over the old one";
  EXPECT_EQ(after.st_mode & 07777, 0750u);
  EXPECT_EQ(Entries(ws_), Names{"run.sh"});
}

// Python's __pycache__ trusts a .pyc whose source has the same size and whole-second mtime: an
// edit that keeps the size, written within the second of the old version, must not look the same.
TEST_F(WorkspaceFiles, ASameSizeReplacementNeverKeepsTheOldWholeSecond) {
  MakeFile(ws_ + "/calc.py", "return a - b\n", 0644);
  timespec now;
  ASSERT_EQ(clock_gettime(CLOCK_REALTIME, &now), 0);
  const timespec old_times[2] = {{0, UTIME_OMIT}, {now.tv_sec, 0}};  // the current second
  ASSERT_EQ(utimensat(AT_FDCWD, (ws_ + "/calc.py").c_str(), old_times, 0), 0);
  ASSERT_EQ(Write("calc.py", "return a + b\n"), 0);
  struct stat st;
  ASSERT_EQ(stat((ws_ + "/calc.py").c_str(), &st), 0);
  EXPECT_NE(st.st_mtim.tv_sec, now.tv_sec);
  EXPECT_LE(st.st_mtim.tv_sec, now.tv_sec + 1) << "at most the next second";
  // Another size: the write's own time, never ahead of the clock.
  ASSERT_EQ(Write("calc.py", "return a + b  # fixed\n"), 0);
  ASSERT_EQ(stat((ws_ + "/calc.py").c_str(), &st), 0);
  EXPECT_LE(st.st_mtim.tv_sec, time(nullptr));
}

TEST_F(WorkspaceFiles, ContentsLargerThanTheBufferRoundTrip) {
  std::string big(300000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 251);
  ASSERT_EQ(Write("big.bin", big, big.size()), 0) << "exactly max_bytes is allowed";
  std::string got;
  ASSERT_EQ(Read("big.bin", &got, big.size()), 0);
  EXPECT_TRUE(got == big);
}

TEST_F(WorkspaceFiles, AWriteOverMaxBytesReplacesAndMakesNothing) {
  MakeFile(ws_ + "/f", "old");
  EXPECT_EQ(Write("f", "0123456789a", 10), EFBIG);
  EXPECT_EQ(FileContent(ws_ + "/f"), "old");
  EXPECT_EQ(Write("new/dir/f", "0123456789a", 10), EFBIG);
  EXPECT_EQ(Entries(ws_), Names{"f"}) << "no parent made, no temporary file left";
  EXPECT_EQ(Write("f", std::string(200000, 'x'), 100000), EFBIG);
  EXPECT_EQ(FileContent(ws_ + "/f"), "old");
  EXPECT_EQ(Write("f", "0123456789", 10), 0);
  EXPECT_EQ(FileContent(ws_ + "/f"), "0123456789");
}

TEST_F(WorkspaceFiles, AReadOverMaxBytesIsEfbig) {
  MakeFile(ws_ + "/f", std::string(100, 'x'));
  std::string got;
  EXPECT_EQ(Read("f", &got, 99), EFBIG);
  EXPECT_EQ(Read("f", &got, 100), 0);
  EXPECT_EQ(got.size(), 100u);
  EXPECT_EQ(Read("f", &got, 0), EFBIG);
  MakeFile(ws_ + "/big", std::string(300000, 'y'));
  EXPECT_EQ(Read("big", &got, 100000), EFBIG);
  MakeFile(ws_ + "/empty", "");
  EXPECT_EQ(Read("empty", &got, 0), 0);
}

TEST_F(WorkspaceFiles, ReadAppendsAtOutsOffsetAndWriteTakesInFromOffsetZero) {
  MakeFile(ws_ + "/f", "body");
  int out = MemfdWith("head:");
  ASSERT_EQ(ReadBeneath(dir_, "f", out, 100), 0);
  EXPECT_EQ(Slurp(out), "head:body");
  close(out);
  int in = MemfdWith("whole");
  ASSERT_EQ(lseek(in, 0, SEEK_END), 5);
  ASSERT_EQ(WriteBeneath(dir_, "g", in, 100), 0);
  EXPECT_EQ(FileContent(ws_ + "/g"), "whole");
  close(in);
}

TEST_F(WorkspaceFiles, MissingAndNotADirectory) {
  MakeFile(ws_ + "/file", "x");
  std::string got;
  EXPECT_EQ(Read("absent", &got), ENOENT);
  EXPECT_EQ(Read("no/such/file", &got), ENOENT);
  EXPECT_EQ(Read("file/x", &got), ENOTDIR);
  EXPECT_EQ(Write("file/x", "y"), ENOTDIR);
  EXPECT_EQ(FileContent(ws_ + "/file"), "x");
}

TEST_F(WorkspaceFiles, InvalidPathsAreEinvalAndTouchNothing) {
  MakeFile(root_ + "/secret", "s", 0666);
  for (const std::string& bad : {std::string("../secret"), std::string("/tmp/x"), std::string(""),
                                 std::string("a//b"), std::string("a/"), std::string("x\0y", 3)}) {
    std::string got;
    EXPECT_EQ(Read(bad, &got), EINVAL) << bad;
    EXPECT_EQ(got, "");
    EXPECT_EQ(Write(bad, "evil"), EINVAL) << bad;
  }
  EXPECT_EQ(FileContent(root_ + "/secret"), "s");
  EXPECT_EQ(Entries(ws_), Names{});
  EXPECT_EQ(Entries(root_), (Names{"secret", "ws"}));
}

TEST_F(WorkspaceFiles, ADirectoryIsEisdir) {
  ASSERT_EQ(mkdir((ws_ + "/d").c_str(), 0755), 0);
  MakeFile(ws_ + "/d/keep", "k");
  std::string got;
  EXPECT_EQ(Read("d", &got), EISDIR);
  EXPECT_EQ(Write("d", "x"), EISDIR);
  EXPECT_EQ(Entries(ws_ + "/d"), Names{"keep"});
  EXPECT_EQ(Entries(ws_), Names{"d"});
}

// The hostile tests: root sets up, a child as 65534 calls the functions.
class HostileWorkspace : public WorkspaceFiles {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to set up (chown, mknod, mount)";
    WorkspaceFiles::SetUp();
    ASSERT_EQ(chown(ws_.c_str(), kNobody, kNobody), 0);
    // The secrets: the child's uid could read and write both itself; only the functions keep
    // it off them. `private` it may not even read.
    secret_ = root_ + "/secret";
    MakeFile(secret_, "SECRET", 0666);
    MakeFile(root_ + "/private", "PRIVATE", 0600);
    outside_ = root_ + "/outside";
    ASSERT_EQ(mkdir(outside_.c_str(), 0777), 0);
    ASSERT_EQ(chmod(outside_.c_str(), 0777), 0);
    MakeFile(outside_ + "/f", "SECRET-F", 0666);
  }

  static bool DropIds() {
    return setgroups(0, nullptr) == 0 && setresgid(kNobody, kNobody, kNobody) == 0 &&
           setresuid(kNobody, kNobody, kNobody) == 0;  // which clears every capability
  }

  // Runs `probe` in a forked child as 65534 (after `as_root`, still root there, e.g. mounts in
  // a private mount namespace), with an O_PATH fd of the workspace opened after both; returns
  // what it returned ({kSkipped} when as_root failed). Its alarm: a call that blocks fails.
  std::vector<int> AsNobody(const std::function<std::vector<int>(int dir)>& probe,
                            const std::function<bool()>& as_root = nullptr, unsigned alarm_s = 10) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return {};
    const pid_t pid = fork();
    if (pid == 0) {
      close(p[0]);
      alarm(alarm_s);
      std::vector<int> result = {-1};
      if (as_root && !as_root()) {
        result = {kSkipped};
      } else if (DropIds()) {
        const int dir = open(ws_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir >= 0) result = probe(dir);
      }
      (void)!write(p[1], result.data(), result.size() * sizeof(int));
      _exit(0);
    }
    close(p[1]);
    std::vector<int> result;
    int v;
    while (pid > 0 && read(p[0], &v, sizeof v) == sizeof v) result.push_back(v);
    close(p[0]);
    int status = 0;
    if (pid > 0) waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
      ADD_FAILURE() << "the child died of signal " << WTERMSIG(status)
                    << (WTERMSIG(status) == SIGALRM ? " (its alarm: a call blocked)" : "");
    }
    return result;
  }

  void ExpectSecretsUntouched() {
    EXPECT_EQ(FileContent(secret_), "SECRET");
    EXPECT_EQ(FileContent(root_ + "/private"), "PRIVATE");
    EXPECT_EQ(FileContent(outside_ + "/f"), "SECRET-F");
    EXPECT_EQ(Entries(outside_), Names{"f"});
    struct stat st;
    ASSERT_EQ(lstat(secret_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
  }

  void Symlink(const std::string& target, const std::string& name) {
    ASSERT_EQ(symlink(target.c_str(), (ws_ + "/" + name).c_str()), 0);
    ASSERT_EQ(lchown((ws_ + "/" + name).c_str(), kNobody, kNobody), 0);
  }
  std::string LinkTarget(const std::string& name) {
    char buf[4096];
    ssize_t n = readlink((ws_ + "/" + name).c_str(), buf, sizeof buf);
    return n < 0 ? "<not a symlink>" : std::string(buf, static_cast<size_t>(n));
  }

  std::string secret_, outside_;
};

TEST_F(HostileWorkspace, ASymlinkAsTheLastComponentIsNeverFollowedNorReplaced) {
  Symlink(secret_, "abs");
  Symlink("../secret", "rel");
  ASSERT_EQ(mkdir((ws_ + "/sub").c_str(), 0755), 0);
  ASSERT_EQ(chown((ws_ + "/sub").c_str(), kNobody, kNobody), 0);
  Symlink("../../secret", "sub/rel");
  int out = MemfdWith("");
  const std::vector<int> got = AsNobody([&](int dir) {
    std::vector<int> r;
    for (const char* name : {"abs", "rel", "sub/rel"}) {
      r.push_back(ReadBeneath(dir, name, out, 1 << 20));
      r.push_back(Write(dir, name, "EVIL"));
    }
    return r;
  });
  EXPECT_EQ(got, std::vector<int>(6, ELOOP));
  EXPECT_EQ(Slurp(out), "") << "nothing read";
  close(out);
  ExpectSecretsUntouched();
  EXPECT_EQ(LinkTarget("abs"), secret_);
  EXPECT_EQ(LinkTarget("rel"), "../secret");
  EXPECT_EQ(LinkTarget("sub/rel"), "../../secret");
  EXPECT_EQ(Entries(ws_), (Names{"abs", "rel", "sub"})) << "no temporary file is left";
}

TEST_F(HostileWorkspace, ASymlinkAsAParentComponentIsNeverFollowed) {
  Symlink(outside_, "abs");
  Symlink("..", "up");
  ASSERT_EQ(mkdir((ws_ + "/real").c_str(), 0755), 0);
  ASSERT_EQ(chown((ws_ + "/real").c_str(), kNobody, kNobody), 0);
  Symlink("../../outside", "real/rel");
  int out = MemfdWith("");
  const std::vector<int> got = AsNobody([&](int dir) {
    std::vector<int> r;
    for (const char* path : {"abs/f", "up/secret", "real/rel/f", "abs/new", "abs/new/deeper"}) {
      r.push_back(ReadBeneath(dir, path, out, 1 << 20));
      r.push_back(Write(dir, path, "EVIL"));
    }
    return r;
  });
  EXPECT_EQ(got, std::vector<int>(10, ELOOP));
  EXPECT_EQ(Slurp(out), "");
  close(out);
  ExpectSecretsUntouched();
  EXPECT_EQ(LinkTarget("abs"), outside_);
}

TEST_F(HostileWorkspace, AFifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(mkfifo((ws_ + "/fifo").c_str(), 0666), 0);
  ASSERT_EQ(chown((ws_ + "/fifo").c_str(), kNobody, kNobody), 0);
  const std::vector<int> got = AsNobody([&](int dir) {
    std::string content;
    return std::vector<int>{Read(dir, "fifo", &content), Write(dir, "fifo", "x"),
                            Read(dir, "fifo/x", &content), Write(dir, "fifo/x", "x")};
  });
  EXPECT_EQ(got, (std::vector<int>{ENXIO, ENXIO, ENOTDIR, ENOTDIR}));
  struct stat st;
  ASSERT_EQ(lstat((ws_ + "/fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "not replaced";
}

// A write lease, which a session process may take on its own file, would hold a blocking open
// for the lease-break time (45 s by default); O_NONBLOCK makes it EAGAIN at once.
TEST_F(HostileWorkspace, AFileLeaseDoesNotBlockARead) {
  MakeFile(ws_ + "/leased", "x", 0644, kNobody);
  const std::vector<int> got = AsNobody([&](int dir) {
    signal(SIGIO, SIG_IGN);  // the lease break's signal comes to the lease holder: this child
    const int fd = openat(dir, "leased", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || fcntl(fd, F_SETLEASE, F_WRLCK) != 0) return std::vector<int>{kSkipped};
    std::string content;
    return std::vector<int>{Read(dir, "leased", &content)};
  });
  if (got == std::vector<int>{kSkipped}) GTEST_SKIP() << "no file leases here";
  EXPECT_EQ(got, std::vector<int>{EAGAIN});
}

TEST_F(HostileWorkspace, DevicesAndSocketsAreRefused) {
  if (mknod((ws_ + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0)
    GTEST_SKIP() << "mknod: " << strerror(errno);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string sock = ws_ + "/sock";
  ASSERT_LT(sock.size(), sizeof addr.sun_path);
  memcpy(addr.sun_path, sock.c_str(), sock.size() + 1);
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << strerror(errno);
  const std::vector<int> got = AsNobody([&](int dir) {
    std::string content;
    return std::vector<int>{Read(dir, "null", &content), Write(dir, "null", "x"),
                            Read(dir, "sock", &content), Write(dir, "sock", "x")};
  });
  close(s);
  EXPECT_EQ(got, (std::vector<int>{ENXIO, ENXIO, ENXIO, ENXIO}));
  struct stat st;
  ASSERT_EQ(lstat((ws_ + "/null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  ASSERT_EQ(lstat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
}

TEST_F(HostileWorkspace, AWriteReplacesAHardLinkNeverWritingThroughIt) {
  ASSERT_EQ(link(secret_.c_str(), (ws_ + "/hl").c_str()), 0) << strerror(errno);
  const std::vector<int> got =
      AsNobody([&](int dir) { return std::vector<int>{Write(dir, "hl", "MINE")}; });
  EXPECT_EQ(got, std::vector<int>{0});
  ExpectSecretsUntouched();
  EXPECT_EQ(FileContent(ws_ + "/hl"), "MINE");
  struct stat st;
  ASSERT_EQ(stat(secret_.c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 1u) << "the link itself was replaced";
}

// A file the user may not write stays as it is, though rename could replace it (the directory
// is the user's): a file the session made read-only, or a hard link to one outside.
TEST_F(HostileWorkspace, AFileTheUserMayNotWriteIsNotReplaced) {
  MakeFile(ws_ + "/ro", "READ-ONLY", 0444, kNobody);
  ASSERT_EQ(link((root_ + "/private").c_str(), (ws_ + "/pl").c_str()), 0) << strerror(errno);
  const std::vector<int> got = AsNobody([&](int dir) {
    std::string content;
    return std::vector<int>{Write(dir, "ro", "x"), Write(dir, "pl", "x"), Read(dir, "ro", &content),
                            content == "READ-ONLY"};
  });
  EXPECT_EQ(got, (std::vector<int>{EACCES, EACCES, 0, true}));
  EXPECT_EQ(FileContent(ws_ + "/ro"), "READ-ONLY");
  ExpectSecretsUntouched();
  EXPECT_EQ(Entries(ws_), (Names{"pl", "ro"}));
}

// No st_nlink check on reads: a hard link gives the user what its ids may read anyway, no more.
TEST_F(HostileWorkspace, AReadThroughAHardLinkGetsOnlyWhatTheUserMayReadAnyway) {
  ASSERT_EQ(link((root_ + "/private").c_str(), (ws_ + "/pl").c_str()), 0);
  ASSERT_EQ(link(secret_.c_str(), (ws_ + "/hl").c_str()), 0);
  int out[2] = {MemfdWith(""), MemfdWith("")};
  const std::vector<int> got = AsNobody([&](int dir) {
    return std::vector<int>{ReadBeneath(dir, "pl", out[0], 100),
                            ReadBeneath(dir, "hl", out[1], 100)};
  });
  EXPECT_EQ(got, (std::vector<int>{EACCES, 0}));
  EXPECT_EQ(Slurp(out[0]), "");
  EXPECT_EQ(Slurp(out[1]), "SECRET") << "a file the uid may read (0666) through its own link";
  close(out[0]);
  close(out[1]);
}

TEST_F(HostileWorkspace, AMountInsideIsExdev) {
  ASSERT_EQ(mkdir((ws_ + "/mnt").c_str(), 0755), 0);
  MakeFile(ws_ + "/bf", "under the mount", 0644, kNobody);
  int out = MemfdWith("");
  const std::vector<int> got = AsNobody(
      [&](int dir) {
        std::string content;
        return std::vector<int>{ReadBeneath(dir, "mnt/f", out, 100), Write(dir, "mnt/f", "EVIL"),
                                Write(dir, "mnt/new", "EVIL"),       Read(dir, "mnt", &content),
                                ReadBeneath(dir, "bf", out, 100),    Write(dir, "bf", "EVIL")};
      },
      [&] {
        // In the child's own mount namespace: nothing outlives it.
        return unshare(CLONE_NEWNS) == 0 &&
               mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
               mount(outside_.c_str(), (ws_ + "/mnt").c_str(), nullptr, MS_BIND, nullptr) == 0 &&
               mount(secret_.c_str(), (ws_ + "/bf").c_str(), nullptr, MS_BIND, nullptr) == 0;
      });
  if (got == std::vector<int>{kSkipped}) GTEST_SKIP() << "cannot bind mount here";
  EXPECT_EQ(got, std::vector<int>(6, EXDEV));
  EXPECT_EQ(Slurp(out), "");
  close(out);
  ExpectSecretsUntouched();
  EXPECT_EQ(FileContent(ws_ + "/bf"), "under the mount");
}

TEST_F(HostileWorkspace, NoSpaceLeavesTheOldFileAndNoTemporaryFile) {
  const std::string small = ws_ + "/small";
  ASSERT_EQ(mkdir(small.c_str(), 0755), 0);
  const std::vector<int> got = AsNobody(
      [&](int ws) {
        // The tmpfs is a mount below the workspace (EXDEV from there): start at its root.
        const int dir = openat(ws, "small", O_PATH | O_DIRECTORY | O_CLOEXEC);
        std::string content;
        std::vector<int> r = {Write(dir, "f", "old"), Write(dir, "f", std::string(1 << 20, 'x')),
                              Write(dir, "g", std::string(1 << 20, 'x')), Read(dir, "f", &content),
                              content == "old"};
        // What is left on the tmpfs: f alone.
        r.push_back(static_cast<int>(Entries(small).size()));
        r.push_back(Read(ws, "small/f", &content));
        return r;
      },
      [&] {
        return unshare(CLONE_NEWNS) == 0 &&
               mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
               mount("wsf-small", small.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                     "size=64k,uid=65534,gid=65534,mode=0755") == 0;
      });
  if (got == std::vector<int>{kSkipped}) GTEST_SKIP() << "cannot mount a tmpfs here";
  EXPECT_EQ(got, (std::vector<int>{0, ENOSPC, ENOSPC, 0, true, 1, EXDEV}));
}

// A second process of the same uid swaps names while the child reads or writes: the leaf `f`
// flips between a regular file and a symlink to the secret (each renamed over it, atomically),
// the parent `d` between a directory and a symlink to `outside` (RENAME_EXCHANGE). The child
// makes at least 2,000 calls, and goes on until the flipper has flipped at least 10,000 times
// since its first call (a count in shared memory: on a busy host the two still overlap). Whatever
// the interleaving, a call gets the legit content or ELOOP/ENOENT, and the secrets stay as they
// are: the verdict does not depend on timing, only how many calls land in a window does.
class SwapRace : public HostileWorkspace {
 protected:
  void SetUp() override {
    HostileWorkspace::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    MakeFile(ws_ + "/f", "legit", 0644, kNobody);
    ASSERT_EQ(mkdir((ws_ + "/d").c_str(), 0755), 0);
    ASSERT_EQ(chown((ws_ + "/d").c_str(), kNobody, kNobody), 0);
    MakeFile(ws_ + "/d/f", "legit", 0644, kNobody);
    Symlink(outside_, "d.alt");
    void* shared = mmap(nullptr, sizeof(std::atomic<long>), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(shared, MAP_FAILED);
    flips_ = new (shared) std::atomic<long>(0);
    ASSERT_EQ(pipe2(stop_, O_CLOEXEC | O_NONBLOCK), 0);
    flipper_ = fork();
    ASSERT_GE(flipper_, 0);
    if (flipper_ == 0) _exit(Flip());
    close(stop_[0]);
  }

  // Flips until EOF on stop_ (the test's end); returns 0 when every flip worked.
  int Flip() {
    close(stop_[1]);
    alarm(120);
    const int ws = DropIds() ? open(ws_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
    if (ws < 0) return 2;
    char c;
    while (read(stop_[0], &c, 1) < 0) {
      if (symlinkat(secret_.c_str(), ws, "f.l") != 0 || renameat(ws, "f.l", ws, "f") != 0) return 3;
      const int fd = openat(ws, "f.r", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0 || write(fd, "legit", 5) != 5 || close(fd) != 0) return 4;
      if (renameat(ws, "f.r", ws, "f") != 0) return 5;
      if (renameat2(ws, "d", ws, "d.alt", RENAME_EXCHANGE) != 0) return 6;
      flips_->fetch_add(1, std::memory_order_relaxed);
    }
    return 0;
  }

  // Runs `call` (which returns 0, 1 or 2: as expected, refused, anything else) in a child as
  // 65534, at least 2,000 times and until 10,000 flips happened meanwhile (at most 1,000,000
  // calls). Returns {calls, expected, refused, other, last errno of another outcome}.
  std::vector<int> Race(const std::function<int(int dir, int* err)>& call) {
    const std::vector<int> got = AsNobody(
        [&](int dir) {
          close(stop_[1]);  // the flipper stops at EOF: the test's copy alone holds it open
          int counts[3] = {0, 0, 0}, other = 0, calls = 0;
          const long first = flips_->load();
          while (calls < 1000000 && (calls < 2000 || flips_->load() - first < 10000)) {
            int err = 0;
            const int outcome = call(dir, &err);
            ++counts[outcome];
            if (outcome == 2) other = err;
            ++calls;
          }
          return std::vector<int>{calls, counts[0], counts[1], counts[2], other};
        },
        nullptr, 120);
    close(stop_[1]);
    stop_[1] = -1;
    int status = 0;
    EXPECT_EQ(waitpid(flipper_, &status, 0), flipper_);
    flipper_ = -1;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "flipper status " << status;
    EXPECT_GE(flips_->load(), 10000);
    return got;
  }

  void TearDown() override {
    if (stop_[1] >= 0) close(stop_[1]);
    if (flipper_ > 0) waitpid(flipper_, nullptr, 0);  // it stops at EOF (or at its alarm)
    if (flips_) munmap(flips_, sizeof *flips_);
    HostileWorkspace::TearDown();
  }

  int stop_[2] = {-1, -1};
  pid_t flipper_ = -1;
  std::atomic<long>* flips_ = nullptr;
};

TEST_F(SwapRace, ReadsGetTheLegitContentOrAnErrorNeverTheSecret) {
  const int out = MemfdWith("");
  const std::vector<int> got = Race([&](int dir, int* err) {
    static int i = 0;
    if (ftruncate(out, 0) != 0 || lseek(out, 0, SEEK_SET) != 0) return 2;
    *err = ReadBeneath(dir, ++i % 2 ? "d/f" : "f", out, 1 << 20);
    const std::string content = Slurp(out);
    if (*err == 0 && content == "legit") return 0;
    if ((*err == ELOOP || *err == ENOENT) && content.empty()) return 1;
    if (content.find("SECRET") != std::string::npos) *err = -1;  // reported as errno -1
    return 2;
  });
  close(out);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[1] + got[2], got[0]);
  EXPECT_EQ(got[3], 0) << "unexpected outcomes, the last one errno " << got[4]
                       << (got[4] == -1 ? " (the secret was read)" : "");
  printf("%d reads: %d legit, %d refused\n", got[0], got[1], got[2]);
  ExpectSecretsUntouched();
}

TEST_F(SwapRace, WritesNeverReachTheSecret) {
  const int in = MemfdWith("MINE");
  const std::vector<int> got = Race([&](int dir, int* err) {
    static int i = 0;
    *err = WriteBeneath(dir, ++i % 2 ? "d/f" : "f", in, 1 << 20);
    return *err == 0 ? 0 : *err == ELOOP || *err == ENOENT ? 1 : 2;
  });
  close(in);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[1] + got[2], got[0]);
  EXPECT_EQ(got[3], 0) << "unexpected outcomes, the last one errno " << got[4];
  printf("%d writes: %d written, %d refused\n", got[0], got[1], got[2]);
  ExpectSecretsUntouched();
  EXPECT_EQ(Entries(root_), (Names{"outside", "private", "secret", "ws"}));
  // Every temporary file was renamed into place or removed: none is left.
  for (const std::string& dir : {ws_, ws_ + "/d", ws_ + "/d.alt"})
    for (const std::string& name : Entries(dir)) EXPECT_NE(name.rfind(".brood-", 0), 0u) << name;
}

}  // namespace
}  // namespace brood::sandbox
