// Evaluated jobs end to end through the public Engine API (docs/eval.md): a build once, each test
// in a sandbox of its own, a verdict per test, the job's verdict the earliest failing test's in
// input order, stop "first_failure" or "all", compile errors, invalid presets, and jobs without
// tests (HumanEval style). Judging (expect, checkers, isolation) is in
// evaluation_judging_test.cpp; cancel and the build cache in evaluation_lifecycle_test.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "evaluation_support.hpp"

namespace brood::testing {
namespace {

using Names = std::vector<std::string>;

// One C program for every way a test can end, chosen by the first word of its stdin.
constexpr char kModes[] = R"C(#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  char mode[32] = "";
  if (scanf("%31s", mode) != 1) return 9;
  if (!strcmp(mode, "add")) {
    long a = 0, b = 0;
    if (scanf("%ld %ld", &a, &b) != 2) return 9;
    printf("%ld\n", a + b);
    return 0;
  }
  if (!strcmp(mode, "wrong")) {
    printf("41\n");
    return 0;
  }
  if (!strcmp(mode, "loop")) {
    volatile unsigned long x = 0;
    for (;;) x++;
  }
  if (!strcmp(mode, "hog")) {
    for (;;) {
      char* p = malloc(1 << 20);
      if (!p) return 7;
      memset(p, 1, 1 << 20);
    }
  }
  if (!strcmp(mode, "segv")) {
    uintptr_t address = 0;  /* read at run time: the compiler cannot turn it into a trap */
    if (scanf("%lu", (unsigned long*)&address) != 1) return 9;
    *(volatile int*)address = 1;
    return 0;
  }
  if (!strcmp(mode, "abort")) abort();
  if (!strcmp(mode, "exit")) {
    printf("leaving\n");
    return 4;
  }
  return 9;
}
)C";

TEST(EvaluationVerdicts, EachTestEndsAsItsRunAndTheEarliestFailureDecides) {
  BROOD_ENGINE_OR_SKIP(engine);
  Job job = LanguageJob("modes", "c", kModes);
  job.stop = StopMode::kAll;
  const Expect tokens = Stdout("", MatchMode::kTokens);
  auto with = [&](std::string out) {
    Expect e = tokens;
    e.stdout_text = std::move(out);
    return e;
  };
  job.tests = {Case("pass", "add 1 2", with("3")),    Case("wrong", "wrong", with("42")),
               Case("timeout", "loop", with("0")),    Case("memory", "hog", with("0")),
               Case("segv", "segv 0", with("0")),     Case("abort", "abort", with("0")),
               Case("exit", "exit", with("leaving")), Case("pass2", "add 40 2", with("42"))};
  job.tests[2].limits.wall_ms = 1000;
  job.tests[3].limits.memory_mb = 64;
  Result r = RunEval(engine, job);

  ASSERT_TRUE(r.build) << Show(r);
  EXPECT_EQ(r.build->status, TaskStatus::kOk) << Show(r);
  EXPECT_EQ(r.build->exit_code, 0);
  EXPECT_FALSE(r.build->cached) << "this engine has no build cache";
  ASSERT_TRUE(r.has_tests);
  ASSERT_EQ(r.tests.size(), 8u) << Show(r);
  const bool rlimits = engine->Info().enforcement == Enforcement::kRlimit;
  EXPECT_EQ(Verdicts(r), (Names{"accepted", "wrong_answer", "time_limit",
                                // Under rlimits malloc fails instead: the program exits 7.
                                rlimits ? "runtime_error" : "memory_limit", "runtime_error",
                                "runtime_error", "runtime_error", "accepted"}))
      << Show(r);
  EXPECT_TRUE(TestOf(r, "timeout").status == TaskStatus::kTimeout ||
              TestOf(r, "timeout").status == TaskStatus::kCpuLimit)
      << Show(r);
  if (!rlimits) {
    EXPECT_EQ(TestOf(r, "memory").status, TaskStatus::kMemoryLimit) << Show(r);
  }
  EXPECT_EQ(TestOf(r, "segv").status, TaskStatus::kSignaled);
  EXPECT_EQ(TestOf(r, "segv").signal, 11);
  EXPECT_EQ(TestOf(r, "abort").signal, 6);
  EXPECT_EQ(TestOf(r, "exit").status, TaskStatus::kFailed);
  EXPECT_EQ(TestOf(r, "exit").exit_code, 4);
  EXPECT_EQ(TestOf(r, "exit").stdout_head, "leaving\n");
  EXPECT_EQ(TestOf(r, "pass").stdout_head, "3\n");
  EXPECT_EQ(TestOf(r, "pass2").stdout_head, "42\n");

  // The job's verdict and its top-level fields are those of the earliest failing test.
  EXPECT_EQ(VerdictOf(r), "wrong_answer") << Show(r);
  EXPECT_EQ(r.passed, false);
  EXPECT_EQ(r.status, TaskStatus::kOk);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stdout_data, "41\n");
  EXPECT_EQ(r.id, "modes");
  EXPECT_EQ(r.tests_passed, 2);
  EXPECT_EQ(r.tests_total, 8);
}

// Tests selected by their args: `ok X` prints "ok X", `wrong` prints "nope", `slow S` sleeps S
// seconds then prints "ok slow", `fail S` sleeps S seconds then exits 5.
constexpr char kStages[] = R"SH(case $1 in
  ok) echo "ok $2" ;;
  wrong) echo nope ;;
  slow) sleep "$2"; echo "ok slow" ;;
  fail) sleep "$2"; echo failing; exit 5 ;;
esac
)SH";

TestCase Stage(std::string id, std::vector<std::string> args, std::string expect) {
  return Case(std::move(id), "", Stdout(std::move(expect)), std::move(args));
}

class EvaluationStop : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    EngineOptions o;
    o.slots = 2;  // tests run two at a time
    engine_ = OwnEngine(o, &error);
    if (!engine_) GTEST_SKIP() << "host cannot sandbox: " << error;
  }
  std::unique_ptr<Engine> engine_;
};

TEST_F(EvaluationStop, FirstFailureEarlySkipsTheSlowTestsAfterIt) {
  Job job = ShellJob("early", kStages);
  job.tests = {Stage("a", {"ok", "a"}, "ok a\n"), Stage("b", {"wrong"}, "ok b\n")};
  for (const char* id : {"c", "d", "e", "f"})
    job.tests.push_back(Stage(id, {"slow", "8"}, "ok slow\n"));
  Result r = RunEval(engine_.get(), job);
  EXPECT_EQ(Verdicts(r),
            (Names{"accepted", "wrong_answer", "skipped", "skipped", "skipped", "skipped"}))
      << Show(r);
  EXPECT_EQ(VerdictOf(r), "wrong_answer");
  EXPECT_EQ(r.status, TaskStatus::kOk);
  EXPECT_EQ(r.stdout_data, "nope\n");
  EXPECT_EQ(r.tests_passed, 1);
  EXPECT_EQ(r.tests_total, 6);
  EXPECT_FALSE(r.build) << "no build, no build record";
  EXPECT_TRUE(SandboxDescendants().empty()) << "the skipped tests' processes live on";
}

TEST_F(EvaluationStop, FirstFailureLateFollowsTestsThatAllPassed) {
  Job job = ShellJob("late", kStages);
  for (const char* id : {"a", "b", "c", "d"})
    job.tests.push_back(Stage(id, {"ok", id}, "ok " + std::string(id) + "\n"));
  job.tests.push_back(Stage("e", {"wrong"}, "ok e\n"));
  Result r = RunEval(engine_.get(), job);
  EXPECT_EQ(Verdicts(r), (Names{"accepted", "accepted", "accepted", "accepted", "wrong_answer"}))
      << Show(r);
  EXPECT_EQ(VerdictOf(r), "wrong_answer");
  EXPECT_EQ(r.stdout_data, "nope\n");
  EXPECT_EQ(r.tests_passed, 4);
  EXPECT_EQ(r.tests_total, 5);
}

TEST_F(EvaluationStop, AllPassedIsAcceptedAndTheLastTestIsTheTopLevel) {
  Job job = ShellJob("all-pass", kStages);
  for (const char* id : {"a", "b", "c"})
    job.tests.push_back(Stage(id, {"ok", id}, "ok " + std::string(id) + "\n"));
  Result r = RunEval(engine_.get(), job);
  EXPECT_EQ(Verdicts(r), (Names{"accepted", "accepted", "accepted"})) << Show(r);
  EXPECT_EQ(VerdictOf(r), "accepted");
  EXPECT_EQ(r.passed, true);
  EXPECT_EQ(r.status, TaskStatus::kOk);
  EXPECT_EQ(r.stdout_data, "ok c\n");
  EXPECT_EQ(r.tests_passed, 3);
}

// A failure that ends after a later test's still decides: input order, not the order of ending.
TEST_F(EvaluationStop, TheEarliestInInputOrderDecidesEvenWhenItEndsLast) {
  for (StopMode stop : {StopMode::kAll, StopMode::kFirstFailure}) {
    const bool all = stop == StopMode::kAll;
    Job job = ShellJob(all ? "order-all" : "order-first", kStages);
    job.stop = stop;
    job.tests = {Stage("a", {"ok", "a"}, "ok a\n"), Stage("b", {"fail", "2"}, "ok\n"),
                 Stage("c", {"wrong"}, "ok c\n")};
    Result r = RunEval(engine_.get(), job);
    EXPECT_EQ(Verdicts(r), (Names{"accepted", "runtime_error", all ? "wrong_answer" : "skipped"}))
        << Show(r);
    EXPECT_EQ(VerdictOf(r), "runtime_error") << Show(r);
    EXPECT_EQ(r.status, TaskStatus::kFailed);
    EXPECT_EQ(r.exit_code, 5);
    EXPECT_EQ(r.stdout_data, "failing\n");
    EXPECT_EQ(r.tests_passed, 1);
  }
}

// Through the API a test without an expect of its own is held to the job's (job.hpp: "nullopt:
// the job's expect"), as the job record's parser merges them.
TEST(EvaluationVerdicts, ATestWithoutItsOwnExpectIsHeldToTheJobs) {
  BROOD_ENGINE_OR_SKIP(engine);
  Job job = ShellJob("job-expect", "echo \"$1\"");
  job.stop = StopMode::kAll;
  job.expect = Stdout("right\n");
  job.tests = {Case("1", "", std::nullopt, {"right"}), Case("2", "", std::nullopt, {"wrong"}),
               Case("3", "", Stdout("wrong\n"), {"wrong"})};
  Result r = RunEval(engine, job);
  EXPECT_EQ(Verdicts(r), (Names{"accepted", "wrong_answer", "accepted"})) << Show(r);
  EXPECT_EQ(VerdictOf(r), "wrong_answer");
}

TEST(EvaluationBuild, CompileErrorRunsNoTestAndReportsTheBuild) {
  BROOD_ENGINE_OR_SKIP(engine);
  Job job = LanguageJob("broken", "c", "int main(void) { return not_declared_anywhere; }\n");
  job.tests = {Case("1", "", Stdout("")), Case("2", "", Stdout(""))};
  job.stop = StopMode::kAll;
  Result r = RunEval(engine, job);
  EXPECT_EQ(VerdictOf(r), "compile_error") << Show(r);
  EXPECT_EQ(r.passed, false);
  ASSERT_TRUE(r.build);
  EXPECT_EQ(r.build->status, TaskStatus::kFailed);
  EXPECT_EQ(r.build->exit_code, 1);
  EXPECT_NE(r.build->stderr_data.find("not_declared_anywhere"), std::string::npos) << Show(r);
  EXPECT_EQ(Verdicts(r), (Names{"skipped", "skipped"}));
  EXPECT_EQ(r.tests_passed, 0);
  EXPECT_EQ(r.tests_total, 2);
  // The top level is the build's run.
  EXPECT_EQ(r.status, TaskStatus::kFailed);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.stderr_data, r.build->stderr_data);
  EXPECT_EQ(r.id, "broken");
  EXPECT_TRUE(r.error && r.error->find("build") != std::string::npos) << Show(r);
}

TEST(EvaluationBuild, ABuildCommandThatFailsOrTimesOutIsACompileError) {
  BROOD_ENGINE_OR_SKIP(engine);
  Job failing = ShellJob("build-exit", "cat out");
  failing.build = Build{{"/bin/sh", "-c", "echo partial > out; echo oops >&2; exit 7"}, {}};
  failing.tests = {Case("1", "", Stdout("partial\n"))};
  Result r = RunEval(engine, failing);
  EXPECT_EQ(VerdictOf(r), "compile_error") << Show(r);
  ASSERT_TRUE(r.build);
  EXPECT_EQ(r.build->exit_code, 7);
  EXPECT_EQ(r.build->stderr_data, "oops\n");
  EXPECT_EQ(Verdicts(r), Names{"skipped"});

  Job slow = ShellJob("build-slow", "true");
  slow.build = Build{{"/bin/sh", "-c", "sleep 60"}, {}};
  slow.build->limits.wall_ms = 1000;
  slow.tests = {Case("1", "", Stdout(""))};
  r = RunEval(engine, slow);
  EXPECT_EQ(VerdictOf(r), "compile_error") << Show(r);
  ASSERT_TRUE(r.build);
  EXPECT_TRUE(r.build->status == TaskStatus::kTimeout || r.build->status == TaskStatus::kCpuLimit)
      << Show(r);
  EXPECT_EQ(r.status, r.build->status);
}

TEST(EvaluationInvalid, UnknownPresetAndMissingSourceAreInvalidJobsNamingTheField) {
  BROOD_ENGINE_OR_SKIP(engine);
  Job cobol = LanguageJob("cobol", "c", "int main(void) { return 0; }\n");
  cobol.language = "cobol";
  cobol.tests = {Case("1", "", Stdout(""))};
  Result r = RunEval(engine, cobol);
  EXPECT_EQ(r.status, TaskStatus::kInvalidJob) << Show(r);
  EXPECT_EQ(VerdictOf(r), "invalid_job");
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->rfind("language: ", 0), 0u) << *r.error;
  EXPECT_NE(r.error->find("cobol"), std::string::npos) << *r.error;

  Job missing = LanguageJob("missing", "c", "int main(void) { return 0; }\n");
  missing.files = {{"prog.c", "int main(void) { return 0; }\n"}};
  r = RunEval(engine, missing);
  EXPECT_EQ(r.status, TaskStatus::kInvalidJob) << Show(r);
  EXPECT_EQ(VerdictOf(r), "invalid_job");
  EXPECT_EQ(r.error, "files: language \"c\" needs \"main.c\"");

  Job checker = ShellJob("bad-checker", "true");
  checker.tests = {Case("1", "", Stdout(""))};
  checker.tests[0].expect->checker = Checker{"cobol", {}, {{"main.cob", ""}}, {}};
  r = RunEval(engine, checker);
  EXPECT_EQ(VerdictOf(r), "invalid_job") << Show(r);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->rfind("expect.checker: language: ", 0), 0u) << *r.error;
}

// HumanEval style: a program and its asserts, no tests; its exit decides.
TEST(EvaluationNoTests, APythonProgramIsJudgedByHowItEnds) {
  BROOD_ENGINE_OR_SKIP(engine);
  const std::string solution = "def add(a, b):\n    return a + b\n\n";
  Result r =
      RunEval(engine, LanguageJob("he-pass", "python", solution + "assert add(1, 2) == 3\n"));
  EXPECT_EQ(VerdictOf(r), "accepted") << Show(r);
  EXPECT_EQ(r.passed, true);
  EXPECT_EQ(r.status, TaskStatus::kOk);
  EXPECT_FALSE(r.has_tests);
  EXPECT_TRUE(r.tests.empty());
  EXPECT_FALSE(r.build) << "python has no build";

  r = RunEval(engine, LanguageJob("he-assert", "python", solution + "assert add(1, 2) == 4\n"));
  EXPECT_EQ(VerdictOf(r), "runtime_error") << Show(r);
  EXPECT_EQ(r.passed, false);
  EXPECT_EQ(r.status, TaskStatus::kFailed);
  EXPECT_NE(r.stderr_data.find("AssertionError"), std::string::npos) << Show(r);
  EXPECT_FALSE(r.has_tests);

  r = RunEval(engine, LanguageJob("he-syntax", "python", "def add(a, b)\n    return a + b\n"));
  EXPECT_EQ(VerdictOf(r), "runtime_error") << Show(r);
  EXPECT_NE(r.stderr_data.find("SyntaxError"), std::string::npos) << Show(r);

  Job loop = LanguageJob("he-loop", "python", "while True:\n    pass\n");
  loop.limits.wall_ms = 1500;
  r = RunEval(engine, loop);
  EXPECT_EQ(VerdictOf(r), "time_limit") << Show(r);
  EXPECT_TRUE(r.status == TaskStatus::kTimeout || r.status == TaskStatus::kCpuLimit) << Show(r);
  EXPECT_FALSE(r.has_tests);
}

}  // namespace
}  // namespace brood::testing
