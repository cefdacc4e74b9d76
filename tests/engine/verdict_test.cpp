#include "verdict.hpp"

#include <gtest/gtest.h>
#include <signal.h>

namespace brood {
namespace {

int Exited(int code) { return code << 8; }
int Signaled(int sig) { return sig; }

Observation Base() {
  Observation o;
  o.exited_report = true;
  o.cpu_budget_ms = 1000;
  return o;
}

TEST(Verdict, OkAndFailed) {
  Observation o = Base();
  EXPECT_EQ(Decide(o).status, TaskStatus::kOk);
  o.wait_status = Exited(3);
  Outcome v = Decide(o);
  EXPECT_EQ(v.status, TaskStatus::kFailed);
  EXPECT_EQ(v.exit_code, 3);
  EXPECT_FALSE(v.signal);
}

TEST(Verdict, KillReasonsComeFirstInTheirOrder) {
  Observation o = Base();
  o.exited_report = false;
  o.oom_kills = 1;
  o.killed = KillReason::kWall;
  EXPECT_EQ(Decide(o).status, TaskStatus::kTimeout);
  EXPECT_EQ(Decide(o).signal, SIGKILL);
  EXPECT_FALSE(Decide(o).exit_code);
  o.killed = KillReason::kCpu;
  EXPECT_EQ(Decide(o).status, TaskStatus::kCpuLimit);
  o.killed = KillReason::kOutput;
  EXPECT_EQ(Decide(o).status, TaskStatus::kOutputLimit);
}

TEST(Verdict, OomKillIsMemoryLimitUnlessTheTaskExitedZero) {
  Observation o = Base();
  o.oom_kills = 1;
  o.wait_status = Signaled(SIGKILL);
  Outcome v = Decide(o);
  EXPECT_EQ(v.status, TaskStatus::kMemoryLimit);
  EXPECT_EQ(v.limits_hit, std::vector<std::string>{"memory"});
  o.wait_status = Exited(0);  // a child was OOM-killed, the task coped
  EXPECT_EQ(Decide(o).status, TaskStatus::kOk);
}

// An OOM kill of the task's init (or its zygote) leaves no report: still the task's memory.
TEST(Verdict, OomKillWithoutReportIsMemoryLimit) {
  Observation o = Base();
  o.exited_report = false;
  o.oom_kills = 1;
  Outcome v = Decide(o);
  EXPECT_EQ(v.status, TaskStatus::kMemoryLimit);
  EXPECT_EQ(v.signal, SIGKILL);
  EXPECT_FALSE(v.exit_code);
  EXPECT_FALSE(v.error);
  EXPECT_EQ(v.limits_hit, std::vector<std::string>{"memory"});
}

TEST(Verdict, SignalsMapToViolationDiskOrSignaled) {
  Observation o = Base();
  o.wait_status = Signaled(SIGSYS);
  EXPECT_EQ(Decide(o).status, TaskStatus::kViolation);
  o.wait_status = Signaled(SIGXFSZ);
  EXPECT_EQ(Decide(o).status, TaskStatus::kDiskLimit);
  o.wait_status = Signaled(SIGSEGV);
  EXPECT_EQ(Decide(o).status, TaskStatus::kSignaled);
  EXPECT_EQ(Decide(o).signal, SIGSEGV);
  o.wait_status = Signaled(SIGXCPU);
  EXPECT_EQ(Decide(o).status, TaskStatus::kSignaled);
  o.rlimit_mode = true;
  EXPECT_EQ(Decide(o).status, TaskStatus::kCpuLimit);
}

TEST(Verdict, FullDiskThenFailureIsDiskLimit) {
  Observation o = Base();
  o.disk_full = true;
  o.wait_status = Exited(1);
  EXPECT_EQ(Decide(o).status, TaskStatus::kDiskLimit);
  o.wait_status = Exited(0);
  Outcome v = Decide(o);
  EXPECT_EQ(v.status, TaskStatus::kOk);
  EXPECT_EQ(v.limits_hit, std::vector<std::string>{"disk"});
}

TEST(Verdict, SetupErrorAndMissingReportAreSandboxErrors) {
  Observation o = Base();
  o.setup_error = "seccomp: EINVAL";
  o.setup_kind = ErrorKind::kHostUnsupported;
  EXPECT_EQ(Decide(o).status, TaskStatus::kSandboxError);
  EXPECT_EQ(Decide(o).error_kind, ErrorKind::kHostUnsupported);
  o = Base();
  o.exited_report = false;
  Outcome v = Decide(o);
  EXPECT_EQ(v.status, TaskStatus::kSandboxError);
  EXPECT_TRUE(v.error);
  EXPECT_EQ(v.error_kind, ErrorKind::kUnavailable) << "killed from outside: run it again";
  o = Base();
  o.killed = KillReason::kCancelled;
  EXPECT_EQ(Decide(o).status, TaskStatus::kSandboxError);
  EXPECT_EQ(Decide(o).error_kind, ErrorKind::kCancelled);
  EXPECT_EQ(Decide(Base()).error_kind, std::nullopt) << "only a sandbox_error has a kind";
}

TEST(ExecExitCodes, FollowTheContract) {
  EXPECT_EQ(ExecExitCode(TaskStatus::kOk, 0, {}), 0);
  EXPECT_EQ(ExecExitCode(TaskStatus::kFailed, 7, {}), 7);
  EXPECT_EQ(ExecExitCode(TaskStatus::kSignaled, {}, SIGSEGV), 128 + SIGSEGV);
  EXPECT_EQ(ExecExitCode(TaskStatus::kTimeout, {}, SIGKILL), 124);
  EXPECT_EQ(ExecExitCode(TaskStatus::kMemoryLimit, {}, SIGKILL), 137);
  EXPECT_EQ(ExecExitCode(TaskStatus::kCpuLimit, {}, SIGKILL), 152);
  EXPECT_EQ(ExecExitCode(TaskStatus::kOutputLimit, {}, SIGKILL), 153);
  EXPECT_EQ(ExecExitCode(TaskStatus::kViolation, {}, SIGSYS), 159);
  EXPECT_EQ(ExecExitCode(TaskStatus::kSandboxError, {}, {}), 125);
}

}  // namespace
}  // namespace brood
