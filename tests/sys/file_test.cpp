// ReadWholeFd tells an empty file from a read that failed (it used to return "" for both, and a
// zygote then called an unreadable task spec "malformed").
#include "sys/file.hpp"

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
