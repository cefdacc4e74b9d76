// The engine's error type: a kind that callers decide on, derived from errno where the kernel
// said no, kept through Wrap, and returned early by the macros.
#include "sys/status.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "support/status_matchers.hpp"

namespace brood::sys {
namespace {

TEST(Status, OkHasNoErrorAndPrintsOk) {
  Status s = OkStatus();
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(ToString(s), "ok");
  EXPECT_OK(s);
}

TEST(Status, ErrorWithoutAKindIsInternal) {
  Status s = Status::Error("something odd");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.kind(), ErrorKind::kInternal);
  EXPECT_EQ(ToString(s), "internal: something odd");
}

TEST(Status, KindFollowsTheErrno) {
  EXPECT_EQ(PosixError("mount(x)", EPERM).kind(), ErrorKind::kHostUnsupported);
  EXPECT_EQ(PosixError("seccomp", ENOSYS).kind(), ErrorKind::kHostUnsupported);
  EXPECT_EQ(PosixError("open(/sys/fs/cgroup/x)", ENOENT).kind(), ErrorKind::kHostUnsupported);
  EXPECT_EQ(PosixError("clone", EAGAIN).kind(), ErrorKind::kResourceExhausted);
  EXPECT_EQ(PosixError("open", EMFILE).kind(), ErrorKind::kResourceExhausted);
  EXPECT_EQ(PosixError("write", ENOSPC).kind(), ErrorKind::kResourceExhausted);
  EXPECT_EQ(PosixError("io_uring", ECANCELED).kind(), ErrorKind::kCancelled);
  EXPECT_EQ(PosixError("ioctl", EINVAL).kind(), ErrorKind::kInternal);
  EXPECT_EQ(NegErrno("seccomp_rule_add", -ENOMEM).kind(), ErrorKind::kResourceExhausted);
  EXPECT_EQ(PosixError("mount(x)", EPERM).message(), "mount(x): EPERM (Operation not permitted)");
}

TEST(Status, WrapAddsContextAndKeepsTheKind) {
  Status s = Status::Error(ErrorKind::kUnavailable, "zygote gone").Wrap("slot 3");
  EXPECT_EQ(s.kind(), ErrorKind::kUnavailable);
  EXPECT_EQ(s.message(), "slot 3: zygote gone");
  EXPECT_TRUE(OkStatus().Wrap("ctx").ok());
}

TEST(Status, KindNamesAreTheContractsErrorKinds) {
  EXPECT_STREQ(ErrorKindName(ErrorKind::kInvalidArgument), "invalid_argument");
  EXPECT_STREQ(ErrorKindName(ErrorKind::kHostUnsupported), "host_unsupported");
  EXPECT_STREQ(ErrorKindName(ErrorKind::kUnavailable), "unavailable");
  EXPECT_STREQ(ErrorKindName(ErrorKind::kResourceExhausted), "resource_exhausted");
  EXPECT_STREQ(ErrorKindName(ErrorKind::kCancelled), "cancelled");
  EXPECT_STREQ(ErrorKindName(ErrorKind::kInternal), "internal");
}

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return Status::Error(ErrorKind::kInvalidArgument, std::to_string(x) + " is odd");
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  BROOD_ASSIGN_OR_RETURN(int h, Half(x));
  BROOD_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(Status, AssignOrReturnDeclaresTheValueOrReturnsTheError) {
  auto q = Quarter(12);
  ASSERT_OK(q);
  EXPECT_EQ(q.value(), 3);
  auto odd = Quarter(6);  // 6 -> 3, and 3 is odd
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.status().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(odd.status().message(), "3 is odd");
}

}  // namespace
}  // namespace brood::sys
