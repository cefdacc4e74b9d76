// A client that goes away while its job waits or runs gets its job cancelled: the task is killed
// long before it would have ended, and its slot is free again.
#include <unistd.h>

#include <chrono>
#include <string>

#include "server/server_fixture.hpp"

namespace brood::testing {
namespace {

using std::chrono::seconds;

int Sleepers() { return SleepProcesses(getpid()); }

double RunningTasks(const std::string& address) {
  HttpClient c(address);
  return MetricValue(c.Get("/metrics").body, "brood_tasks_running").value_or(-1);
}

TEST(Disconnect, ALeavingClientsRunningJobIsKilled) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  const auto start = std::chrono::steady_clock::now();
  HttpClient c(server.address());
  PostRunNoWait(c, SleeperJson("s"));
  ASSERT_TRUE(WaitFor([] { return Sleepers() == 1; })) << "the task never started";
  EXPECT_EQ(RunningTasks(server.address()), 1);
  c.Close();
  ASSERT_TRUE(WaitFor([&] { return engine->Stats().in_flight == 0; }, seconds(20)))
      << "the job of a client that left still runs";
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(25)) << "it ran to its end";
  EXPECT_TRUE(WaitFor([] { return Sleepers() == 0; }, seconds(10))) << "its process lives on";
  EXPECT_TRUE(WaitFor([&] { return engine->Stats().busy_slots == 0; }, seconds(10)));
  EXPECT_EQ(RunningTasks(server.address()), 0);
  // The task ended (cancelled) and is counted so, though nobody was there for its record.
  HttpClient m(server.address());
  std::string metrics;
  EXPECT_TRUE(WaitFor([&] {
    metrics = m.Get("/metrics").body;
    return MetricValue(metrics, R"(brood_tasks_total{status="sandbox_error"})") == 1;
  })) << metrics;
  ExpectStillServes(server.address());
}

TEST(Disconnect, ALeavingClientsQueuedJobNeverRunsAndOthersAreUntouched) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  ASSERT_EQ(engine->Info().slots, 2);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  // Two sleepers take both slots; a third job waits for one.
  HttpClient a(server.address()), b(server.address()), queued(server.address());
  PostRunNoWait(a, SleeperJson("a"));
  PostRunNoWait(b, SleeperJson("b"));
  ASSERT_TRUE(WaitFor([] { return Sleepers() == 2; })) << "the sleepers never started";
  PostRunNoWait(queued, SleeperJson("q"));
  ASSERT_TRUE(WaitFor([&] { return engine->Stats().queued == 1; }));
  queued.Close();
  // Off the queue, and its result handed back; the two running jobs are not the leaver's.
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto s = engine->Stats();
        return s.queued == 0 && s.in_flight == 2;
      },
      seconds(20)));
  EXPECT_EQ(Sleepers(), 2);
  a.Close();
  b.Close();
  ASSERT_TRUE(WaitFor([&] { return engine->Stats().in_flight == 0; }, seconds(20)));
  EXPECT_TRUE(WaitFor([] { return Sleepers() == 0; }, seconds(10)));
  ExpectStillServes(server.address());
}

}  // namespace
}  // namespace brood::testing
