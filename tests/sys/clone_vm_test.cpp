// CloneVfork: the child shares the parent's memory until it execs or exits, and the parent
// resumes only then.
#include "sys/clone_vm.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace brood::sys {
namespace {

struct Shared {
  int written = 0;
  char* const* argv = nullptr;
};

void WriteAndExit(void* p) {
  static_cast<Shared*>(p)->written = 42;  // seen by the parent: the memory is shared
  _exit(7);
}

void Exec(void* p) {
  execv("/bin/sh", static_cast<Shared*>(p)->argv);
  _exit(127);
}

class CloneVforkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(stack_, MAP_FAILED);
  }
  void TearDown() override { munmap(stack_, kStack); }
  static constexpr size_t kStack = 256 << 10;
  void* stack_ = nullptr;
};

TEST_F(CloneVforkTest, TheChildWritesTheParentsMemoryAndThenExits) {
  Shared s;
  const pid_t pid = CloneVfork(WriteAndExit, &s, stack_, kStack, -1);
  ASSERT_GT(pid, 0) << "errno " << -pid;
  EXPECT_EQ(s.written, 42) << "the child's write is not in the parent's memory";
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

TEST_F(CloneVforkTest, TheParentResumesOnceTheChildHasExeced) {
  char arg0[] = "sh", arg1[] = "-c", arg2[] = "exit 3";
  char* argv[] = {arg0, arg1, arg2, nullptr};
  Shared s;
  s.argv = argv;
  const pid_t pid = CloneVfork(Exec, &s, stack_, kStack, -1);
  ASSERT_GT(pid, 0) << "errno " << -pid;
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
}

TEST_F(CloneVforkTest, ABadCgroupFdIsAnErrorNotAChild) {
  Shared s;
  const pid_t pid = CloneVfork(WriteAndExit, &s, stack_, kStack, 1 << 20);  // no such fd
  EXPECT_LT(pid, 0);
  EXPECT_EQ(s.written, 0);
}

}  // namespace
}  // namespace brood::sys
