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
  EXPECT_EQ(Decide(o).status, Status::kOk);
  o.wait_status = Exited(3);
  Verdict v = Decide(o);
  EXPECT_EQ(v.status, Status::kFailed);
  EXPECT_EQ(v.exit_code, 3);
  EXPECT_FALSE(v.signal);
}

TEST(Verdict, KillReasonsComeFirstInTheirOrder) {
  Observation o = Base();
  o.exited_report = false;
  o.oom_kills = 1;
  o.killed = KillReason::kWall;
  EXPECT_EQ(Decide(o).status, Status::kTimeout);
  EXPECT_EQ(Decide(o).signal, SIGKILL);
  EXPECT_FALSE(Decide(o).exit_code);
  o.killed = KillReason::kCpu;
  EXPECT_EQ(Decide(o).status, Status::kCpuLimit);
  o.killed = KillReason::kOutput;
  EXPECT_EQ(Decide(o).status, Status::kOutputLimit);
}

TEST(Verdict, OomKillIsMemoryLimitUnlessTheTaskExitedZero) {
  Observation o = Base();
  o.oom_kills = 1;
  o.wait_status = Signaled(SIGKILL);
  Verdict v = Decide(o);
  EXPECT_EQ(v.status, Status::kMemoryLimit);
  EXPECT_EQ(v.limits_hit, std::vector<std::string>{"memory"});
  o.wait_status = Exited(0);  // a child was OOM-killed, the task coped
  EXPECT_EQ(Decide(o).status, Status::kOk);
}

// An OOM kill of the task's init (or its zygote) leaves no report: still the task's memory.
TEST(Verdict, OomKillWithoutReportIsMemoryLimit) {
  Observation o = Base();
  o.exited_report = false;
  o.oom_kills = 1;
  Verdict v = Decide(o);
  EXPECT_EQ(v.status, Status::kMemoryLimit);
  EXPECT_EQ(v.signal, SIGKILL);
  EXPECT_FALSE(v.exit_code);
  EXPECT_FALSE(v.error);
  EXPECT_EQ(v.limits_hit, std::vector<std::string>{"memory"});
}

TEST(Verdict, SignalsMapToViolationDiskOrSignaled) {
  Observation o = Base();
  o.wait_status = Signaled(SIGSYS);
  EXPECT_EQ(Decide(o).status, Status::kViolation);
  o.wait_status = Signaled(SIGXFSZ);
  EXPECT_EQ(Decide(o).status, Status::kDiskLimit);
  o.wait_status = Signaled(SIGSEGV);
  EXPECT_EQ(Decide(o).status, Status::kSignaled);
  EXPECT_EQ(Decide(o).signal, SIGSEGV);
  o.wait_status = Signaled(SIGXCPU);
  EXPECT_EQ(Decide(o).status, Status::kSignaled);
  o.rlimit_mode = true;
  EXPECT_EQ(Decide(o).status, Status::kCpuLimit);
}

TEST(Verdict, FullDiskThenFailureIsDiskLimit) {
  Observation o = Base();
  o.disk_full = true;
  o.wait_status = Exited(1);
  EXPECT_EQ(Decide(o).status, Status::kDiskLimit);
  o.wait_status = Exited(0);
  Verdict v = Decide(o);
  EXPECT_EQ(v.status, Status::kOk);
  EXPECT_EQ(v.limits_hit, std::vector<std::string>{"disk"});
}

TEST(Verdict, SetupErrorAndMissingReportAreSandboxErrors) {
  Observation o = Base();
  o.setup_error = "seccomp: EINVAL";
  EXPECT_EQ(Decide(o).status, Status::kSandboxError);
  o = Base();
  o.exited_report = false;
  Verdict v = Decide(o);
  EXPECT_EQ(v.status, Status::kSandboxError);
  EXPECT_TRUE(v.error);
}

TEST(ExecExitCodes, FollowTheContract) {
  EXPECT_EQ(ExecExitCode(Status::kOk, 0, {}), 0);
  EXPECT_EQ(ExecExitCode(Status::kFailed, 7, {}), 7);
  EXPECT_EQ(ExecExitCode(Status::kSignaled, {}, SIGSEGV), 128 + SIGSEGV);
  EXPECT_EQ(ExecExitCode(Status::kTimeout, {}, SIGKILL), 124);
  EXPECT_EQ(ExecExitCode(Status::kMemoryLimit, {}, SIGKILL), 137);
  EXPECT_EQ(ExecExitCode(Status::kCpuLimit, {}, SIGKILL), 152);
  EXPECT_EQ(ExecExitCode(Status::kOutputLimit, {}, SIGKILL), 153);
  EXPECT_EQ(ExecExitCode(Status::kViolation, {}, SIGSYS), 159);
  EXPECT_EQ(ExecExitCode(Status::kSandboxError, {}, {}), 125);
}

}  // namespace
}  // namespace brood
