// Jobs the server refuses: a body that is no job, a job asking for more than the server allows,
// and one job too many (429). A refused job is an invalid_job record (400) like `brood run`'s,
// with "line": 1; nothing runs; the server goes on.
#include <string>

#include "server/server_fixture.hpp"

namespace brood::testing {
namespace {

class JobErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = ServerEngine();
    if (!engine_) GTEST_SKIP() << "host cannot sandbox: " << ServerEngineError();
    ServeOptions o = TestServeOptions();
    o.max_limits.wall_ms = 60000;
    o.max_limits.memory_mb = 1024;
    server_ = std::make_unique<TestServer>(*engine_, o);
    ASSERT_SERVER_OK(*server_);
    address_ = server_->address();
  }
  void TearDown() override {
    if (server_ && server_->ok()) ExpectStillServes(address_);
  }

  // POSTs `body` to /v1/run; expects 400 and an invalid_job record; returns the record.
  nlohmann::json Refused(const std::string& body) {
    HttpClient c(address_);
    HttpResponse r = c.Post("/v1/run", "application/json", body);
    EXPECT_EQ(r.status, 400) << r.error << r.body;
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_TRUE(r.keep_alive) << "the body was read: the connection can go on";
    auto j = r.json();
    EXPECT_EQ(j.value("status", ""), "invalid_job") << r.body;
    EXPECT_EQ(j.value("line", 0), 1) << r.body;
    EXPECT_TRUE(j.contains("id")) << r.body;
    EXPECT_TRUE(j.contains("error") && j["error"].is_string()) << r.body;
    return j;
  }

  Engine* engine_ = nullptr;
  std::unique_ptr<TestServer> server_;
  std::string address_;
};

TEST_F(JobErrors, BadJsonIsAnInvalidJob) {
  auto j = Refused(R"({"id": "j1", "cmd": ["/bin/true"])");
  EXPECT_TRUE(j["id"].is_null()) << j.dump();
  EXPECT_NE(j.value("error", "").find("not valid JSON"), std::string::npos) << j.dump();
  j = Refused("[1, 2]");
  EXPECT_NE(j.value("error", "").find("not a JSON object"), std::string::npos) << j.dump();
}

TEST_F(JobErrors, UnknownFieldIsNamed) {
  auto j = Refused(R"({"id": "u1", "cmd": ["/bin/true"], "bogus": 1})");
  EXPECT_EQ(j["id"], "u1");
  EXPECT_NE(j.value("error", "").find("unknown field \"bogus\""), std::string::npos) << j.dump();
}

TEST_F(JobErrors, NeitherCmdNorShellIsNamed) {
  auto j = Refused(R"({"id": "n1"})");
  EXPECT_NE(j.value("error", "").find("cmd, shell"), std::string::npos) << j.dump();
}

// Refused only as it starts (the preset is the engine's to know): still a 400 naming the field.
TEST_F(JobErrors, AnUnknownLanguageOrAMissingSourceIsRefused) {
  auto j = Refused(R"({"id": "lang", "language": "cobol", "files": {"main.cob": ""}})");
  EXPECT_EQ(j["id"], "lang");
  EXPECT_EQ(j["line"], 1) << j.dump();
  EXPECT_NE(j.value("error", "").find("language: unknown preset \"cobol\""), std::string::npos)
      << j.dump();
  j = Refused(R"({"id": "src", "language": "python", "files": {"other.py": ""}})");
  EXPECT_NE(j.value("error", "").find("needs \"main.py\""), std::string::npos) << j.dump();
}

TEST_F(JobErrors, HostNetworkWithoutTheFlagIsRefused) {
  auto j = Refused(R"({"id": "net", "cmd": ["/bin/true"], "network": "host"})");
  EXPECT_EQ(j["id"], "net");
  EXPECT_NE(j.value("error", "").find("network"), std::string::npos) << j.dump();
  // A batch's line is refused the same way, in its record; the other lines run.
  const std::string id = PostBatch(address_, R"({"id": "net", "cmd": ["/bin/true"], "network":)"
                                             R"( "host"})"
                                             "\n" +
                                                 CmdJobJson("fine", {"/bin/true"}) + "\n");
  ASSERT_FALSE(id.empty());
  std::map<std::string, std::string> status;
  for (const auto& r : ReadAllResults(address_, id)) status[r.value("id", "?")] = r["status"];
  EXPECT_EQ(status["net"], "invalid_job");
  EXPECT_EQ(status["fine"], "ok");
}

TEST_F(JobErrors, LimitsAboveTheServersMaximaAreRefused) {
  auto j = Refused(R"({"id": "big", "cmd": ["/bin/true"], "limits": {"wall_ms": 120000}})");
  EXPECT_NE(j.value("error", "").find("limits.wall_ms"), std::string::npos) << j.dump();
  j = Refused(R"({"id": "fat", "cmd": ["/bin/true"], "limits": {"memory_mb": 4096}})");
  EXPECT_NE(j.value("error", "").find("limits.memory_mb"), std::string::npos) << j.dump();
  // At the maximum is fine.
  HttpClient c(address_);
  HttpResponse r = c.Post("/v1/run", "application/json",
                          R"({"id": "edge", "cmd": ["/bin/true"], "limits": {"wall_ms": 60000}})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json().value("status", ""), "ok") << r.body;
}

TEST(JobQueue, PastTheQueueIs429AndTheFirstJobIsUnaffected) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  ServeOptions o = TestServeOptions();
  o.queue = 1;
  TestServer server(*engine, o);
  ASSERT_SERVER_OK(server);
  const std::string address = server.address();
  // The one job the queue holds: it sleeps until its client goes away.
  HttpClient first(address);
  PostRunNoWait(first, SleeperJson("s"));
  ASSERT_TRUE(WaitFor([&] { return engine->Stats().in_flight == 1; }))
      << "the first job never reached the engine";
  HttpClient second(address);
  HttpResponse r = second.Post("/v1/run", "application/json", CmdJobJson("t", {"/bin/true"}));
  ExpectError(r, 429, std::nullopt);
  EXPECT_EQ(r.header("retry-after"), "1");
  // Its client gone, the first job ends and the queue has room again.
  first.Close();
  ASSERT_TRUE(WaitFor([&] { return engine->Stats().in_flight == 0; }));
  // The server has let go of it once its connection is gone (this one is left).
  ASSERT_TRUE(WaitFor(
      [&] { return MetricValue(second.Get("/metrics").body, "brood_http_connections") == 1.0; }));
  ExpectStillServes(address);
  const std::string metrics = second.Get("/metrics").body;
  EXPECT_EQ(MetricValue(metrics, "brood_queue_rejections_total"), 1.0) << metrics;
}

}  // namespace
}  // namespace brood::testing
