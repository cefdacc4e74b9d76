// GET /metrics: Prometheus text that counts what the server did; /healthz and /readyz.
#include <sstream>
#include <string>

#include "server/server_fixture.hpp"

namespace brood::testing {
namespace {

TEST(Metrics, CountTasksAndRequests) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  HttpClient c(server.address());
  constexpr int kOk = 3;
  for (int i = 0; i < kOk; ++i)
    ASSERT_EQ(c.Post("/v1/run", "application/json", CmdJobJson("m", {"/bin/true"})).status, 200);
  ASSERT_EQ(c.Post("/v1/run", "application/json", CmdJobJson("f", {"/bin/false"})).status, 200);
  ASSERT_EQ(c.Post("/v1/run", "application/json", "{").status, 400);
  ASSERT_EQ(c.Get("/nowhere").status, 404);
  // A batch's tasks count too.
  const std::string id = PostBatch(server.address(), CmdJobJson("b", {"/bin/true"}) + "\n");
  ASSERT_EQ(ReadAllResults(server.address(), id).size(), 1u);

  HttpResponse r = c.Get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string& m = r.body;
  EXPECT_EQ(MetricValue(m, R"(brood_tasks_total{status="ok"})"), kOk + 1) << m;
  EXPECT_EQ(MetricValue(m, R"(brood_tasks_total{status="failed"})"), 1) << m;
  EXPECT_EQ(MetricValue(m, R"(brood_tasks_total{status="timeout"})"), 0) << m;
  EXPECT_EQ(
      MetricValue(m, R"(brood_http_requests_total{method="POST",route="/v1/run",code="200"})"),
      kOk + 1)
      << m;
  EXPECT_EQ(
      MetricValue(m, R"(brood_http_requests_total{method="POST",route="/v1/run",code="400"})"), 1)
      << m;
  EXPECT_EQ(
      MetricValue(m, R"m(brood_http_requests_total{method="GET",route="(other)",code="404"})m"), 1)
      << m;
  EXPECT_EQ(
      MetricValue(m, R"(brood_http_requests_total{method="POST",route="/v1/batches",code="201"})"),
      1)
      << m;
  EXPECT_EQ(
      MetricValue(
          m,
          R"(brood_http_requests_total{method="GET",route="/v1/batches/{id}/results",code="200"})"),
      1)
      << m;
  EXPECT_EQ(MetricValue(m, R"(brood_batches{state="done"})"), 1) << m;
  EXPECT_EQ(MetricValue(m, "brood_tasks_running"), 0) << m;
  EXPECT_EQ(MetricValue(m, "brood_task_wall_seconds_count"), kOk + 2) << m;
  EXPECT_EQ(MetricValue(m, R"(brood_task_wall_seconds_bucket{le="+Inf"})"), kOk + 2) << m;
  EXPECT_GE(MetricValue(m, "brood_http_connections").value_or(0), 1) << m;
  // Every sample line is NAME[{LABELS}] VALUE, under a # TYPE of its family.
  std::istringstream lines(m);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# ", 0) == 0) continue;
    EXPECT_NE(line.rfind(' '), std::string::npos) << line;
    EXPECT_EQ(line.rfind("brood_", 0), 0u) << line;
  }
}

TEST(Metrics, HealthAndReadiness) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  HttpClient c(server.address());
  HttpResponse r = c.Get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json(), nlohmann::json({{"status", "ok"}}));
  r = c.Get("/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json(), nlohmann::json({{"status", "ready"}}));
  EXPECT_TRUE(r.keep_alive);
}

}  // namespace
}  // namespace brood::testing
