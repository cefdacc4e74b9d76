// ReadWholeFd tells an empty file from a read that failed (it used to return "" for both, and a
// zygote then called an unreadable task spec "malformed").
#include "sys/file.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "support/status_matchers.hpp"
#include "sys/fd.hpp"

namespace brood::sys {
namespace {

TEST(ReadWholeFd, ReadsAMemfdWhole) {
  UniqueFd fd(memfd_create("t", MFD_CLOEXEC));
  ASSERT_TRUE(fd);
  ASSERT_EQ(write(fd.get(), "spec bytes", 10), 10);
  auto got = ReadWholeFd(fd.get());
  ASSERT_OK(got);
  EXPECT_EQ(got.value(), "spec bytes") << "read from offset 0, whatever the fd's position";
}

TEST(ReadWholeFd, AnEmptyFileIsEmptyAndABadFdIsAnError) {
  UniqueFd fd(memfd_create("t", MFD_CLOEXEC));
  ASSERT_TRUE(fd);
  auto empty = ReadWholeFd(fd.get());
  ASSERT_OK(empty);
  EXPECT_EQ(empty.value(), "");
  auto bad = ReadWholeFd(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("EBADF"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace brood::sys

namespace brood::sys {
namespace {

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

// CloseRuns closes every listed fd, in runs of consecutive numbers, and never one it was not
// given, even one lying between two listed runs.
TEST(CloseRunsTest, ClosesTheListedFdsAndNoOther) {
  // Eight consecutive numbers, free before the test (below the usual 1024 fd limit).
  const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(null, 0);
  int fds[8];
  for (int i = 0; i < 8; ++i) {
    fds[i] = 900 + i;
    ASSERT_FALSE(IsOpen(fds[i])) << "fd " << fds[i] << " is in use";
    ASSERT_EQ(dup3(null, fds[i], O_CLOEXEC), fds[i]);
  }
  close(null);
  const int kept = fds[3];
  int listed[] = {fds[6], -1, fds[0], fds[1], fds[2], fds[4], fds[4], fds[7], fds[5]};
  CloseRuns(listed);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(IsOpen(fds[i]), fds[i] == kept) << "fd " << fds[i];
  close(kept);
}

}  // namespace
}  // namespace brood::sys
