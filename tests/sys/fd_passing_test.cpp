// The one SCM_RIGHTS helper (zygote messages, the seccomp listener's way to init): fds arrive
// O_CLOEXEC, a peer cannot leave the receiver holding fds it did not expect, and a message cut
// short is an error with nothing left open.
#include "sys/fd_passing.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "sys/fd.hpp"

namespace brood::sys {
namespace {

struct Pair {
  UniqueFd a, b;
};
Pair SeqPacketPair() {
  int sv[2] = {-1, -1};
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0) << strerror(errno);
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

int OpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n - 1;  // the directory's own fd
}

std::span<const char> Bytes(std::string_view s) { return {s.data(), s.size()}; }

TEST(FdPassing, BytesAndFdsArriveAndTheFdsAreCloexec) {
  Pair s = SeqPacketPair();
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  UniqueFd pr(p[0]), pw(p[1]);
  const int send[2] = {pw.get(), pr.get()};
  ASSERT_EQ(SendWithFds(s.a.get(), Bytes("hello"), send), 0);

  char buf[16];
  int fds[kMaxFdsPerMessage];
  Received got = ReceiveWithFds(s.b.get(), buf, fds);
  ASSERT_EQ(got.error, 0) << strerror(got.error);
  EXPECT_EQ(std::string_view(buf, got.bytes), "hello");
  ASSERT_EQ(got.fds, 2u);
  UniqueFd w(fds[0]), r(fds[1]);
  EXPECT_EQ(fcntl(w.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(fcntl(r.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  ASSERT_EQ(write(w.get(), "z", 1), 1);
  char c = 0;
  ASSERT_EQ(read(r.get(), &c, 1), 1);
  EXPECT_EQ(c, 'z') << "the fds name the sender's pipe";
}

TEST(FdPassing, FdsBeyondTheCallersSlotsAreClosed) {
  Pair s = SeqPacketPair();
  UniqueFd f1(open("/dev/null", O_RDONLY | O_CLOEXEC)), f2(open("/dev/null", O_RDONLY | O_CLOEXEC)),
      f3(open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int send[3] = {f1.get(), f2.get(), f3.get()};
  ASSERT_EQ(SendWithFds(s.a.get(), Bytes("x"), send), 0);
  const int before = OpenFds();
  char byte;
  int fd = -1;
  Received got = ReceiveWithFds(s.b.get(), {&byte, 1}, {&fd, 1});
  ASSERT_EQ(got.error, 0) << strerror(got.error);
  EXPECT_EQ(got.bytes, 1u);
  ASSERT_EQ(got.fds, 1u);
  UniqueFd kept(fd);
  EXPECT_EQ(OpenFds(), before + 1) << "only the one fd asked for is open";
}

TEST(FdPassing, NoSlotsAtAllClosesEveryFd) {
  Pair s = SeqPacketPair();
  UniqueFd f(open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int send[1] = {f.get()};
  ASSERT_EQ(SendWithFds(s.a.get(), Bytes("x"), send), 0);
  const int before = OpenFds();
  char byte;
  Received got = ReceiveWithFds(s.b.get(), {&byte, 1}, {});
  EXPECT_EQ(got.error, 0);
  EXPECT_EQ(got.fds, 0u);
  EXPECT_EQ(OpenFds(), before);
}

TEST(FdPassing, TooManyFdsToSendIsEinval) {
  Pair s = SeqPacketPair();
  int fds[kMaxFdsPerMessage + 1];
  for (int& fd : fds) fd = s.a.get();
  EXPECT_EQ(SendWithFds(s.a.get(), Bytes("x"), fds), EINVAL);
}

TEST(FdPassing, AMessageLargerThanTheBufferIsEmsgsizeWithNoFdLeft) {
  Pair s = SeqPacketPair();
  UniqueFd f(open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int send[1] = {f.get()};
  ASSERT_EQ(SendWithFds(s.a.get(), Bytes("0123456789"), send), 0);
  const int before = OpenFds();
  char buf[4];
  int fd = -1;
  Received got = ReceiveWithFds(s.b.get(), buf, {&fd, 1});
  EXPECT_EQ(got.error, EMSGSIZE);
  EXPECT_EQ(got.bytes, 0u);
  EXPECT_EQ(got.fds, 0u);
  EXPECT_EQ(OpenFds(), before);
}

TEST(FdPassing, MoreFdsThanAMessageCarriesIsEmsgsizeWithNoFdLeft) {
  // Our sender refuses this many; another peer need not, so build the message by hand.
  Pair s = SeqPacketPair();
  constexpr size_t kCount = kMaxFdsPerMessage + 4;
  int fds[kCount];
  for (int& fd : fds) fd = s.a.get();
  char byte = 'x';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  ASSERT_EQ(sendmsg(s.a.get(), &msg, 0), 1) << strerror(errno);

  const int before = OpenFds();
  int got_fds[kMaxFdsPerMessage];
  Received got = ReceiveWithFds(s.b.get(), {&byte, 1}, got_fds);
  EXPECT_EQ(got.error, EMSGSIZE);
  EXPECT_EQ(got.fds, 0u);
  EXPECT_EQ(OpenFds(), before) << "the fds that fit were closed too";
}

TEST(FdPassing, APeerThatClosedGivesNothing) {
  Pair s = SeqPacketPair();
  s.a.reset();
  char buf[8];
  int fd = -1;
  Received got = ReceiveWithFds(s.b.get(), buf, {&fd, 1});
  EXPECT_EQ(got.error, 0);
  EXPECT_EQ(got.bytes, 0u);
  EXPECT_EQ(got.fds, 0u);
}

TEST(FdPassing, ErrorsAreErrnoValues) {
  char buf[1];
  EXPECT_EQ(SendWithFds(-1, Bytes("x")), EBADF);
  EXPECT_EQ(ReceiveWithFds(-1, buf, {}).error, EBADF);
  Pair s = SeqPacketPair();
  s.b.reset();
  EXPECT_EQ(SendWithFds(s.a.get(), Bytes("x")), EPIPE) << "MSG_NOSIGNAL: no SIGPIPE";
}

TEST(FdPassing, AForkedChildSendsAsInitsMainProcessDoes) {
  Pair s = SeqPacketPair();
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  UniqueFd pr(p[0]), pw(p[1]);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = pw.get();
    const char byte = 0;
    _exit(SendWithFds(s.a.get(), {&byte, 1}, {&fd, 1}));
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  char byte;
  int fd = -1;
  Received got = ReceiveWithFds(s.b.get(), {&byte, 1}, {&fd, 1});
  ASSERT_EQ(got.fds, 1u);
  UniqueFd w(fd);
  ASSERT_EQ(write(w.get(), "k", 1), 1);
  char c = 0;
  ASSERT_EQ(read(pr.get(), &c, 1), 1);
  EXPECT_EQ(c, 'k');
}

}  // namespace
}  // namespace brood::sys
