// How sessions end (docs/sessions.md): idle, at their ttl, deleted, at the server's shutdown;
// what an ended one answers; how many may live at once.
#include <unistd.h>

#include <chrono>
#include <string>

#include "server/server_fixture.hpp"
#include "support/schema.hpp"

namespace brood::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// Every call on an ended session but GET and DELETE: 410 naming why.
void ExpectGone(const HttpResponse& r, const std::string& reason) {
  EXPECT_EQ(r.status, 410) << r.error << r.body;
  EXPECT_TRUE(ValidAgainst("serve/error.schema.json", r.body));
  EXPECT_EQ(r.json().value("ended_reason", ""), reason) << r.body;
  EXPECT_EQ(r.json().value("error", ""), "session ended: " + reason) << r.body;
}

TEST(SessionLifecycle, AnIdleSessionEndsAndSaysWhy) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  const std::string id = CreateSession(server.address(), R"({"idle_timeout_s": 1})");
  ASSERT_FALSE(id.empty());
  const json ended = WaitUntilEnded(server.address(), id);  // GET does not count as a use
  EXPECT_EQ(ended["ended_reason"], "idle") << ended.dump();
  EXPECT_EQ(ended["usage"]["memory_bytes"], 0);
  HttpClient c(server.address());
  ExpectGone(ExecIn(c, id, {{"cmd", {"true"}}}), "idle");
  ExpectGone(PutFile(c, id, "a", "x"), "idle");
  ExpectGone(GetFile(c, id, "a"), "idle");
  HttpResponse list = c.Get("/v1/sessions");
  EXPECT_NE(list.body.find(id), std::string::npos) << "its record is listed: " << list.body;
  EXPECT_EQ(c.Delete("/v1/sessions/" + id).status, 204);
  ExpectError(c.Delete("/v1/sessions/" + id), 404, "id");
  const std::string metrics = c.Get("/metrics").body;
  EXPECT_EQ(MetricValue(metrics, R"(brood_sessions_ended_total{reason="idle"})"), 1) << metrics;
  EXPECT_EQ(MetricValue(metrics, "brood_sessions"), 0);
}

TEST(SessionLifecycle, EverySessionEndsAtItsTtl) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  // idle_timeout_s == ttl_s: both fall due together, and the ttl is the reason.
  const std::string id = CreateSession(server.address(), R"({"idle_timeout_s": 2, "ttl_s": 2})");
  ASSERT_FALSE(id.empty());
  const json ended = WaitUntilEnded(server.address(), id);
  EXPECT_EQ(ended["ended_reason"], "ttl") << ended.dump();
  EXPECT_EQ(ended["ttl_s"], 2);
  HttpClient c(server.address());
  ExpectGone(ExecIn(c, id, {{"cmd", {"true"}}}), "ttl");
}

TEST(SessionLifecycle, ARunningExecIsNotIdleness) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  // The exec runs twice the idle timeout (its request comes well within one).
  const std::string id = CreateSession(server.address(), R"({"idle_timeout_s": 3})");
  ASSERT_FALSE(id.empty());
  const json r = Exec(server.address(), id, {{"cmd", {"sleep", "6"}}});
  EXPECT_EQ(r["status"], "ok") << r.dump();
  EXPECT_EQ(GetSession(server.address(), id).json()["state"], "running");
}

TEST(SessionLifecycle, PastMaxSessionsIs429) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  ServeOptions o = TestServeOptions();
  o.max_sessions = 2;
  TestServer server(*engine, o);
  ASSERT_SERVER_OK(server);
  const std::string a = CreateSession(server.address());
  const std::string b = CreateSession(server.address());
  ASSERT_FALSE(a.empty() || b.empty());
  HttpClient c(server.address());
  HttpResponse refused = c.Post("/v1/sessions", "application/json", "{}");
  ExpectError(refused, 429, std::nullopt);
  EXPECT_EQ(refused.header("retry-after"), "1");
  EXPECT_EQ(c.Delete("/v1/sessions/" + a).status, 204);
  EXPECT_FALSE(CreateSession(server.address()).empty()) << "a deleted session frees its place";
}

TEST(SessionLifecycle, AStoppingServerEndsRunningExecsAndClosesEverySession) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  const std::string id = CreateSession(server.address(), R"({"limits": {"wall_ms": 60000}})");
  ASSERT_FALSE(id.empty());
  Exec(server.address(), id, {{"shell", "sleep 1000 > /dev/null 2>&1 &"}});
  HttpClient c(server.address());
  const std::string sleeper = json{{"cmd", {"sleep", "30"}}}.dump();
  ASSERT_TRUE(c.SendRaw("POST /v1/sessions/" + id + "/exec HTTP/1.1\r\nHost: " + c.host_header() +
                        "\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(sleeper.size()) + "\r\n\r\n" + sleeper));
  ASSERT_TRUE(WaitFor([] { return SleepProcesses(getpid()) == 2; }));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server.Stop(200), 0) << server.log();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(20));
  // The exec's client got its cancelled result; nothing of the session is left.
  HttpResponse r = c.ReadResponse();
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.json().value("status", ""), "sandbox_error") << r.body;
  EXPECT_EQ(SleepProcesses(getpid()), 0);
  EXPECT_EQ(engine->Sessions(), 0);
}

}  // namespace
}  // namespace brood::testing
