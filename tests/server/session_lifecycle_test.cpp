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
  BROOD_SESSION_OR_SKIP(s, R"({"idle_timeout_s": 1})");
  const json ended = WaitUntilEnded(s.address(), s.id);  // GET does not count as a use
  EXPECT_EQ(ended["ended_reason"], "idle") << ended.dump();
  EXPECT_EQ(ended["usage"]["memory_bytes"], 0);
  HttpClient c(s.address());
  ExpectGone(ExecIn(c, s.id, {{"cmd", {"true"}}}), "idle");
  ExpectGone(PutFile(c, s.id, "a", "x"), "idle");
  ExpectGone(GetFile(c, s.id, "a"), "idle");
  HttpResponse list = c.Get("/v1/sessions");
  EXPECT_NE(list.body.find(s.id), std::string::npos) << "its record is listed: " << list.body;
  EXPECT_EQ(c.Delete("/v1/sessions/" + s.id).status, 204);
  ExpectError(c.Delete("/v1/sessions/" + s.id), 404, "id");
  const std::string metrics = c.Get("/metrics").body;
  EXPECT_EQ(MetricValue(metrics, R"(brood_sessions_ended_total{reason="idle"})"), 1) << metrics;
  EXPECT_EQ(MetricValue(metrics, "brood_sessions"), 0);
}

TEST(SessionLifecycle, EverySessionEndsAtItsTtl) {
  // idle_timeout_s == ttl_s: both fall due together, and the ttl is the reason.
  BROOD_SESSION_OR_SKIP(s, R"({"idle_timeout_s": 2, "ttl_s": 2})");
  const json ended = WaitUntilEnded(s.address(), s.id);
  EXPECT_EQ(ended["ended_reason"], "ttl") << ended.dump();
  EXPECT_EQ(ended["ttl_s"], 2);
  HttpClient c(s.address());
  ExpectGone(ExecIn(c, s.id, {{"cmd", {"true"}}}), "ttl");
}

TEST(SessionLifecycle, ARunningExecIsNotIdleness) {
  // The exec runs twice the idle timeout (its request comes well within one).
  BROOD_SESSION_OR_SKIP(s, R"({"idle_timeout_s": 3})");
  const json r = Exec(s.address(), s.id, {{"cmd", {"sleep", "6"}}});
  EXPECT_EQ(r["status"], "ok") << r.dump();
  EXPECT_EQ(GetSession(s.address(), s.id).json()["state"], "running");
}

TEST(SessionLifecycle, ASessionOverItsPidsEndsAndTheNextCallIs410) {
  BROOD_SESSION_OR_SKIP(s, R"({"limits": {"pids": 16}})");
  // Its processes together pass the session's pids: a fork is refused, and the session ends.
  const json r =
      Exec(s.address(), s.id, {{"shell", "for i in $(seq 40); do sleep 100 & done; wait"}});
  EXPECT_NE(r.value("status", ""), "ok") << r.dump();
  HttpClient c(s.address());
  ExpectGone(ExecIn(c, s.id, {{"cmd", {"true"}}}), "pids");
  EXPECT_EQ(GetSession(s.address(), s.id).json()["ended_reason"], "pids");
  EXPECT_TRUE(WaitFor([] { return SleepProcesses(getpid()) == 0; })) << "its processes live on";
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
  BROOD_SESSION_OR_SKIP(s, R"({"limits": {"wall_ms": 60000}})");
  Exec(s.address(), s.id, {{"shell", "sleep 1000 > /dev/null 2>&1 &"}});
  HttpClient c(s.address());
  ExecNoWait(c, s.id, {{"cmd", {"sleep", "30"}}});
  ASSERT_TRUE(WaitFor([] { return SleepProcesses(getpid()) == 2; }));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(s.server.Stop(200), 0) << s.server.log();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(20));
  // The exec's client got its cancelled result; nothing of the session is left.
  HttpResponse r = c.ReadResponse();
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.json().value("status", ""), "sandbox_error") << r.body;
  EXPECT_EQ(SleepProcesses(getpid()), 0);
  EXPECT_EQ(s.engine.Sessions(), 0);
}

}  // namespace
}  // namespace brood::testing
