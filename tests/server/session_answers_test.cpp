// How the server answers what its sessions' engine calls say (fake sessions, fake_sessions.hpp):
// a full disk, a busy engine, a path that is no regular file, a refused creation, a session that
// ends by itself or at its ttl while a command runs, a server that stops meanwhile.
#include <chrono>
#include <string>

#include "server/fake_sessions.hpp"
#include "server/server_fixture.hpp"

namespace brood::testing {
namespace {

using nlohmann::json;

bool Running(FakeSessionState& s) {
  std::lock_guard lock(s.mu);
  return s.running != nullptr;
}

void FailNextFileCall(FakeSessionState& s, SessionError e) {
  std::lock_guard lock(s.mu);
  s.next_file_error = std::move(e);
}

// Sends an exec of `cmd` on `c` without waiting for its answer.
void ExecNoWait(HttpClient& c, const std::string& id, const std::vector<std::string>& cmd) {
  const std::string body = json{{"cmd", cmd}}.dump();
  ASSERT_TRUE(c.SendRaw("POST /v1/sessions/" + id + "/exec HTTP/1.1\r\nHost: " + c.host_header() +
                        "\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body));
}

TEST(SessionAnswers, EngineFailuresOfFileCalls) {
  BROOD_SERVER_ENGINE_OR_SKIP(real);
  FakeSessionEngine engine(*real);
  ServeOptions o = TestServeOptions();
  o.max_file_bytes = 100;
  TestServer server(engine, o);
  ASSERT_SERVER_OK(server);
  const std::string id = CreateSession(server.address(), R"({"files": {"a": "given"}})");
  ASSERT_FALSE(id.empty());
  FakeSessionState& s = *engine.sessions().back();
  HttpClient c(server.address());
  EXPECT_EQ(GetFile(c, id, "a").body, "given");
  FailNextFileCall(s, {ErrorKind::kResourceExhausted, "write(a): No space left on device"});
  ExpectError(PutFile(c, id, "a", "x"), 507, std::nullopt);
  FailNextFileCall(s, {ErrorKind::kUnavailable, "the session is busy"});
  ExpectError(PutFile(c, id, "a", "x"), 409, std::nullopt);
  FailNextFileCall(s, {ErrorKind::kInvalidArgument, "d: not a regular file"});
  ExpectError(GetFile(c, id, "d"), 400, "path");
  FailNextFileCall(s, {ErrorKind::kInternal, "a bug"});
  ExpectError(GetFile(c, id, "a"), 500, std::nullopt);
  {
    std::lock_guard lock(s.mu);
    s.files["big"] = std::string(101, 'x');  // made by a command, over --max-file-bytes
  }
  ExpectError(GetFile(c, id, "big"), 413, std::nullopt);
  HttpClient d(server.address());
  EXPECT_EQ(PutFile(d, id, "b", "fine").status, 204);
  std::lock_guard lock(s.mu);
  EXPECT_EQ(s.files["b"], "fine");
}

TEST(SessionAnswers, ACreationTheEngineRefuses) {
  BROOD_SERVER_ENGINE_OR_SKIP(real);
  FakeSessionEngine engine(*real);
  TestServer server(engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  HttpClient c(server.address());
  const std::pair<ErrorKind, int> cases[] = {{ErrorKind::kResourceExhausted, 429},
                                             {ErrorKind::kHostUnsupported, 501},
                                             {ErrorKind::kInvalidArgument, 400},
                                             {ErrorKind::kInternal, 500}};
  for (const auto& [kind, code] : cases) {
    engine.FailNextCreate({kind, "no"});
    ExpectError(c.Post("/v1/sessions", "application/json", "{}"), code, std::nullopt);
  }
  EXPECT_FALSE(CreateSession(server.address()).empty());
  const std::string metrics = c.Get("/metrics").body;
  EXPECT_EQ(MetricValue(metrics, "brood_sessions_created_total"), 1) << metrics;
}

TEST(SessionAnswers, ASessionThatEndsByItselfIsGone) {
  BROOD_SERVER_ENGINE_OR_SKIP(real);
  FakeSessionEngine engine(*real);
  TestServer server(engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  const std::string id = CreateSession(server.address());
  ASSERT_FALSE(id.empty());
  const json r = Exec(server.address(), id, {{"cmd", {"oom"}}});
  EXPECT_EQ(r["status"], "memory_limit") << r.dump();
  HttpClient c(server.address());
  HttpResponse gone = ExecIn(c, id, {{"cmd", {"true"}}});
  EXPECT_EQ(gone.status, 410) << gone.body;
  EXPECT_EQ(gone.json()["ended_reason"], "memory") << gone.body;
  EXPECT_EQ(GetSession(server.address(), id).json()["ended_reason"], "memory");
  EXPECT_TRUE(WaitFor([&] { return engine.Sessions() == 0; })) << "never closed";
  const std::string metrics = c.Get("/metrics").body;
  EXPECT_EQ(MetricValue(metrics, R"(brood_sessions_ended_total{reason="memory"})"), 1) << metrics;
  EXPECT_EQ(MetricValue(metrics, R"(brood_session_execs_total{status="memory_limit"})"), 1);
}

TEST(SessionAnswers, TheTtlEndsARunningExec) {
  BROOD_SERVER_ENGINE_OR_SKIP(real);
  FakeSessionEngine engine(*real);
  TestServer server(engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  // idle_timeout_s == ttl_s: the session cannot go idle before its ttl.
  const std::string id = CreateSession(server.address(), R"({"idle_timeout_s": 2, "ttl_s": 2})");
  ASSERT_FALSE(id.empty());
  HttpClient c(server.address());
  ExecNoWait(c, id, {"hang"});
  HttpResponse r = c.ReadResponse();  // at the ttl: the exec's cancelled result
  if (r.status == 410) {
    GTEST_SKIP() << "the exec came after the ttl (a machine slower than 2 s a request)";
  }
  EXPECT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(r.json()["error_kind"], "cancelled") << r.body;
  EXPECT_EQ(GetSession(server.address(), id).json()["ended_reason"], "ttl");
}

TEST(SessionAnswers, OneExecAtATimeAndALeavingClientCancelsIt) {
  BROOD_SERVER_ENGINE_OR_SKIP(real);
  FakeSessionEngine engine(*real);
  TestServer server(engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  const std::string id = CreateSession(server.address());
  ASSERT_FALSE(id.empty());
  FakeSessionState& s = *engine.sessions().back();
  HttpClient first(server.address());
  ExecNoWait(first, id, {"hang"});
  ASSERT_TRUE(WaitFor([&] { return Running(s); }));
  HttpClient second(server.address());
  ExpectError(ExecIn(second, id, {{"cmd", {"true"}}}), 409, std::nullopt);
  first.Close();
  EXPECT_TRUE(WaitFor([&] { return !Running(s); })) << "the exec was not cancelled";
  json r;
  EXPECT_TRUE(WaitFor([&] {
    HttpClient c(server.address());
    HttpResponse h = ExecIn(c, id, {{"cmd", {"echo", "next"}}});
    r = h.json();
    return h.status == 200;
  }));
  EXPECT_EQ(r["stdout"], "echo next") << r.dump();
  EXPECT_EQ(r["id"], "2");
}

TEST(SessionAnswers, AStoppingServerEndsExecsThenClosesSessions) {
  BROOD_SERVER_ENGINE_OR_SKIP(real);
  FakeSessionEngine engine(*real);
  TestServer server(engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  const std::string a = CreateSession(server.address());
  const std::string b = CreateSession(server.address());
  ASSERT_FALSE(a.empty() || b.empty());
  HttpClient c(server.address());
  ExecNoWait(c, a, {"hang"});
  ASSERT_TRUE(WaitFor([&] { return Running(*engine.sessions().front()); }));
  EXPECT_EQ(server.Stop(100), 0) << server.log();
  HttpResponse r = c.ReadResponse();
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.json().value("error_kind", ""), "cancelled") << r.body;
  EXPECT_EQ(engine.Sessions(), 0);
  for (const auto& s : engine.sessions()) {
    std::lock_guard lock(s->mu);
    EXPECT_EQ(s->ended, "shutdown");
    EXPECT_GE(s->closes, 1);
  }
}

}  // namespace
}  // namespace brood::testing
