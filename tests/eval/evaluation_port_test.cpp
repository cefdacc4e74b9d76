// The evaluation's orchestration (eval/evaluation.hpp) on a port of the test's own, for the
// orders of events a real engine makes only now and then: here each task ends when the test
// says, with the result the test gives.
#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "eval/evaluation.hpp"
#include "evaluation_support.hpp"

namespace brood::testing {
namespace {

class FakePort final : public eval::TaskPort {
 public:
  struct Task {
    Job job;
    std::function<void(Result)> done;
    bool cancelled = false;
  };
  uint64_t SubmitTask(Job job, std::function<void(Result)> done) override {
    std::lock_guard lock(mu_);
    tasks_.push_back({std::move(job), std::move(done)});
    return tasks_.size();
  }
  void CancelTask(uint64_t handle) override {
    std::lock_guard lock(mu_);
    tasks_.at(handle - 1).cancelled = true;
  }
  void Post(std::function<void()> fn) override {
    std::lock_guard lock(mu_);
    posted_.push_back(std::move(fn));
  }

  size_t Submitted() {
    std::lock_guard lock(mu_);
    return tasks_.size();
  }
  Task& At(uint64_t handle) {
    std::lock_guard lock(mu_);
    return tasks_.at(handle - 1);
  }
  // Ends task `handle` with `r` (as the engine's thread would).
  void End(uint64_t handle, Result r) {
    std::function<void(Result)> done;
    {
      std::lock_guard lock(mu_);
      done = std::move(tasks_.at(handle - 1).done);
    }
    ASSERT_TRUE(done) << "task " << handle << " ended twice";
    done(std::move(r));
  }
  void RunPosted() {
    std::deque<std::function<void()>> fns;
    {
      std::lock_guard lock(mu_);
      fns.swap(posted_);
    }
    for (auto& fn : fns) fn();
  }

 private:
  std::mutex mu_;
  std::deque<Task> tasks_;
  std::deque<std::function<void()>> posted_;
};

Result Ok(const std::string& out) {
  Result r;
  r.status = TaskStatus::kOk;
  r.exit_code = 0;
  r.stdout_data = out;
  r.stdout_bytes = out.size();
  r.limits = Limits{}.Resolved();  // as a task's result has them
  return r;
}

// A test's run that ends after its evaluation was cancelled, before its checker ran: nothing has
// judged it, so it is not accepted (its expected stdout is the checker's answer, not an output to
// match), and the job is cancelled.
TEST(EvaluationPort, ARunEndingAfterTheCancelIsNotJudgedWithoutItsChecker) {
  Job job = ShellJob("late-run", "cat");
  Expect e = Stdout("answer");
  e.checker = Checker{"", {"/bin/checker"}, {}, {}};
  job.tests = {Case("1", "in", e)};
  FakePort port;
  std::optional<Result> result;
  auto eval = eval::Evaluation::Start(job, port, {}, [&](Result r) { result = std::move(r); });
  ASSERT_EQ(port.Submitted(), 1u);
  EXPECT_EQ(port.At(1).job.argv, job.argv);
  eval->Cancel();
  EXPECT_TRUE(port.At(1).cancelled);
  port.End(1, Ok("answer"));  // it had ended before the cancel reached it
  port.RunPosted();
  ASSERT_TRUE(result);
  CheckRecord(*result);
  EXPECT_EQ(port.Submitted(), 1u) << "no checker starts after the cancel";
  EXPECT_EQ(VerdictOf(*result), "sandbox_error") << Show(*result);
  EXPECT_EQ(result->status, TaskStatus::kSandboxError);
  EXPECT_EQ(result->error_kind, ErrorKind::kCancelled);
  ASSERT_EQ(result->tests.size(), 1u);
  EXPECT_NE(result->tests[0].verdict, Verdict::kAccepted);
}

// stop "first_failure", two tests at once: a failure cancels the tests after it that run and
// starts no more, but lets the ones before it end and be judged.
TEST(EvaluationPort, AFailureCancelsOnlyTheTestsAfterIt) {
  Job job = ShellJob("order", "cat");
  job.tests = {Case("a", "", Stdout("a")), Case("b", "", Stdout("b")), Case("c", "", Stdout("c"))};
  eval::EvalOptions o;
  o.parallel = 2;

  // The second fails while the first runs: the first is not cancelled, the third never starts.
  FakePort port;
  std::optional<Result> result;
  auto eval = eval::Evaluation::Start(job, port, o, [&](Result r) { result = std::move(r); });
  ASSERT_EQ(port.Submitted(), 2u);
  port.End(2, Ok("wrong"));
  EXPECT_FALSE(port.At(1).cancelled);
  EXPECT_EQ(port.Submitted(), 2u);
  port.RunPosted();
  EXPECT_FALSE(result) << "the first test still runs";
  port.End(1, Ok("a"));
  port.RunPosted();
  ASSERT_TRUE(result);
  CheckRecord(*result);
  EXPECT_EQ(port.Submitted(), 2u);
  EXPECT_EQ(Verdicts(*result), (std::vector<std::string>{"accepted", "wrong_answer", "skipped"}));
  EXPECT_EQ(result->stdout_data, "wrong");

  // The first fails while the second runs: the second is cancelled, and skipped however it ends.
  FakePort port2;
  result.reset();
  eval = eval::Evaluation::Start(job, port2, o, [&](Result r) { result = std::move(r); });
  ASSERT_EQ(port2.Submitted(), 2u);
  port2.End(1, Ok("wrong"));
  EXPECT_TRUE(port2.At(2).cancelled);
  EXPECT_EQ(port2.Submitted(), 2u);
  port2.End(2, Ok("b"));
  port2.RunPosted();
  ASSERT_TRUE(result);
  CheckRecord(*result);
  EXPECT_EQ(Verdicts(*result), (std::vector<std::string>{"wrong_answer", "skipped", "skipped"}));
  EXPECT_EQ(VerdictOf(*result), "wrong_answer");
  EXPECT_EQ(result->tests_passed, 0);
}

}  // namespace
}  // namespace brood::testing
