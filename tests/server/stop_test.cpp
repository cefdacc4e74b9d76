// Server::Stop(grace): no new requests; a job running for a request may finish within the grace,
// and is cancelled past it (its client still gets its record); then Run returns.
#include <unistd.h>

#include <future>
#include <string>

#include "server/server_fixture.hpp"

namespace brood::testing {
namespace {

using std::chrono::seconds;

int Sleepers() { return SleepProcesses(getpid()); }

TEST(Stop, ARunningJobFinishesWithinTheGrace) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  HttpClient job(server.address());
  PostRunNoWait(job, ShellJobJson("g", "sleep 0.5; echo done"));
  ASSERT_TRUE(WaitFor([] { return Sleepers() == 1; })) << "the job never started";
  auto stopped = std::async(std::launch::async, [&] { return server.Stop(60000); });
  HttpResponse result = job.ReadResponse();
  ASSERT_EQ(result.status, 200) << result.error << result.body;
  EXPECT_EQ(result.json().value("status", ""), "ok") << result.body;
  EXPECT_EQ(result.json().value("stdout", ""), "done\n") << result.body;
  EXPECT_FALSE(result.keep_alive) << "a stopping server closes the connection";
  ASSERT_EQ(stopped.wait_for(seconds(30)), std::future_status::ready) << "Stop never returned";
  EXPECT_EQ(stopped.get(), 0) << server.log();
}

TEST(Stop, AStoppingServerRefusesNewRequests) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  const std::string address = server.address();
  HttpClient idle(address), job(address);
  ASSERT_EQ(idle.Get("/healthz").status, 200);
  PostRunNoWait(job,
                nlohmann::json{
                    {"id", "long"}, {"cmd", {"/bin/sleep", "30"}}, {"limits", {{"wall_ms", 60000}}}}
                    .dump());
  ASSERT_TRUE(WaitFor([] { return Sleepers() == 1; })) << "the job never started";
  auto stopped = std::async(std::launch::async, [&] { return server.Stop(60000); });
  // While the job runs: the listener is closed, and a kept-alive connection's next request is
  // refused and the connection closed. The request goes once the listener is closed, which is
  // when the server is stopping: one sent before might be answered 200, and its connection then
  // closed between requests (as a server may close an idle connection), a race.
  ASSERT_TRUE(WaitFor([&] { return !HttpClient(address).connected(); }))
      << "the listener was never closed";
  HttpResponse r = idle.Get("/readyz");
  ExpectError(r, 503, std::nullopt);
  EXPECT_EQ(r.header("retry-after"), "1");
  EXPECT_FALSE(r.keep_alive);
  EXPECT_FALSE(HttpClient(address).connected()) << "the listener is still open";
  EXPECT_EQ(stopped.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout)
      << "Stop returned while a job ran";
  job.Close();  // its client gone, the job is cancelled and nothing is left to wait for
  ASSERT_EQ(stopped.wait_for(seconds(30)), std::future_status::ready) << "Stop never returned";
  EXPECT_EQ(stopped.get(), 0) << server.log();
  EXPECT_TRUE(WaitFor([&] { return engine->Stats().in_flight == 0 && Sleepers() == 0; }));
}

TEST(Stop, PastTheGraceARunningJobIsCancelledAndItsClientTold) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  HttpClient job(server.address());
  const auto start = std::chrono::steady_clock::now();
  PostRunNoWait(
      job,
      nlohmann::json{{"id", "x"}, {"cmd", {"/bin/sleep", "30"}}, {"limits", {{"wall_ms", 60000}}}}
          .dump());
  ASSERT_TRUE(WaitFor([] { return Sleepers() == 1; })) << "the job never started";
  auto stopped = std::async(std::launch::async, [&] { return server.Stop(200); });
  HttpResponse result = job.ReadResponse();
  ASSERT_EQ(result.status, 200) << result.error << result.body;
  const auto j = result.json();
  EXPECT_EQ(j.value("id", ""), "x") << result.body;
  EXPECT_EQ(j.value("status", ""), "sandbox_error") << result.body;
  EXPECT_EQ(j.value("error_kind", ""), "cancelled") << result.body;
  ASSERT_EQ(stopped.wait_for(seconds(30)), std::future_status::ready) << "Stop never returned";
  EXPECT_EQ(stopped.get(), 0) << server.log();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(25)) << "the job ran to its end";
  EXPECT_TRUE(WaitFor([&] { return engine->Stats().in_flight == 0 && Sleepers() == 0; }));
}

}  // namespace
}  // namespace brood::testing
