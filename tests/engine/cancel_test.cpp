// Cancel per job and per group: a `brood run` that stops, or a client that goes away, ends its own
// jobs and no one else's. Each cancelled job's result says so by its kind, not its text.
#include <unistd.h>

#include <future>
#include <memory>

#include "support/sandbox_env.hpp"

namespace brood::testing {
namespace {

// A job that would run for half a minute: long enough that only a cancel ends it early.
Job Sleeper() {
  Job j = CmdJob({"sleep", "30"});
  j.limits.wall_ms = 60000;
  j.limits.cpu_ms = 60000;
  return j;
}

void ExpectCancelled(const Result& r) {
  EXPECT_EQ(r.status, TaskStatus::kSandboxError) << (r.error ? *r.error : "");
  EXPECT_EQ(r.error_kind, ErrorKind::kCancelled) << (r.error ? *r.error : "");
}

TEST(Cancel, AGroupEndsItsOwnJobsAndNoOthers) {
  auto engine = MakeEngine(2);
  ASSERT_TRUE(engine);
  const uint64_t mine = engine->NewGroup(), theirs = engine->NewGroup();
  ASSERT_NE(mine, theirs);
  std::promise<Result> a, b;
  engine->Submit(Sleeper(), [&](Result r) { a.set_value(std::move(r)); }, {.group = mine});
  engine->Submit(CmdJob({"sh", "-c", "sleep 0.3; echo theirs"}),
                 [&](Result r) { b.set_value(std::move(r)); }, {.group = theirs});
  engine->CancelGroup(mine);
  ExpectCancelled(a.get_future().get());
  Result other = b.get_future().get();
  EXPECT_EQ(other.status, TaskStatus::kOk) << (other.error ? *other.error : "");
  EXPECT_EQ(other.stdout_data, "theirs\n");

  // The group stays cancelled: a later job of it fails at once; others still run.
  std::promise<Result> late, fresh;
  engine->Submit(CmdJob({"true"}), [&](Result r) { late.set_value(std::move(r)); },
                 {.group = mine});
  ExpectCancelled(late.get_future().get());
  engine->Submit(CmdJob({"true"}), [&](Result r) { fresh.set_value(std::move(r)); },
                 {.group = theirs});
  EXPECT_EQ(fresh.get_future().get().status, TaskStatus::kOk);
}

TEST(Cancel, OneJobEndsAndTheNextRuns) {
  auto engine = MakeEngine(1);
  ASSERT_TRUE(engine);
  std::promise<Result> a;
  const JobHandle h =
      engine->Submit(Sleeper(), [&](Result r) { a.set_value(std::move(r)); }).handle;
  ASSERT_NE(h, 0u);
  // Running (init and sleep exist), so the cancel has processes to end.
  for (int i = 0; i < 6000 && SandboxDescendants().size() < 2; ++i) usleep(10000);
  ASSERT_GE(SandboxDescendants().size(), 2u) << "the sleeper never started";
  engine->Cancel(h);
  ExpectCancelled(a.get_future().get());
  EXPECT_TRUE(SandboxDescendants().empty()) << "the cancelled task's processes live on";
  // The slot is free again, and a handle cancelled once touches no later job.
  std::promise<Result> b;
  const JobHandle h2 =
      engine->Submit(CmdJob({"echo", "next"}), [&](Result r) { b.set_value(std::move(r)); }).handle;
  EXPECT_NE(h2, h);
  Result next = b.get_future().get();
  EXPECT_EQ(next.status, TaskStatus::kOk) << (next.error ? *next.error : "");
  EXPECT_EQ(next.stdout_data, "next\n");
  engine->Cancel(h2);  // already done: nothing happens
  EXPECT_EQ(engine->Run(CmdJob({"true"})).status, TaskStatus::kOk);
}

}  // namespace
}  // namespace brood::testing
