// How the server answers what its sessions' engine calls say (fake sessions, fake_sessions.hpp):
// a full disk, a busy engine, a path that is no regular file, a refused creation, a session that
// ends by itself or at its ttl while a command runs, a server that stops meanwhile.
#include <cerrno>
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

TEST(SessionAnswers, EngineFailuresOfFileCalls) {
  BROOD_SERVER_ENGINE_OR_SKIP(real);
  FakeSessionEngine engine(*real);
  ServeOptions o = TestServeOptions();
  o.max_file_bytes = 100;
  SessionServer s(engine, R"({"files": {"a": "given"}})", o);
  ASSERT_FALSE(s.id.empty()) << s.server.error();
  FakeSessionState& fake = *engine.sessions().back();
  HttpClient c(s.address());
  EXPECT_EQ(GetFile(c, s.id, "a").body, "given");
  FailNextFileCall(
      fake, {ErrorKind::kResourceExhausted, "\"a\": the session's disk is full", false, ENOSPC});
  ExpectError(PutFile(c, s.id, "a", "x"), 507, std::nullopt);
  FailNextFileCall(fake, {ErrorKind::kUnavailable, "the session is busy"});
  ExpectError(PutFile(c, s.id, "a", "x"), 409, std::nullopt);
  FailNextFileCall(fake, {ErrorKind::kInvalidArgument, "d: not a regular file"});
  ExpectError(GetFile(c, s.id, "d"), 400, "path");
  FailNextFileCall(fake, {ErrorKind::kInternal, "a bug"});
  ExpectError(GetFile(c, s.id, "a"), 500, std::nullopt);
  {
    std::lock_guard lock(fake.mu);
    fake.files["big"] = std::string(101, 'x');  // made by a command, over --max-file-bytes
  }
  ExpectError(GetFile(c, s.id, "big"), 413, std::nullopt);  // and the connection closes
  HttpClient d(s.address());
  EXPECT_EQ(PutFile(d, s.id, "b", "fine").status, 204);
  std::lock_guard lock(fake.mu);
  EXPECT_EQ(fake.files["b"], "fine");
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
  SessionServer s(engine, "{}");
  ASSERT_FALSE(s.id.empty()) << s.server.error();
  const json r = Exec(s.address(), s.id, {{"cmd", {"oom"}}});
  EXPECT_EQ(r["status"], "memory_limit") << r.dump();
  HttpClient c(s.address());
  HttpResponse gone = ExecIn(c, s.id, {{"cmd", {"true"}}});
  EXPECT_EQ(gone.status, 410) << gone.body;
  EXPECT_EQ(gone.json()["ended_reason"], "memory") << gone.body;
  EXPECT_EQ(GetSession(s.address(), s.id).json()["ended_reason"], "memory");
  EXPECT_TRUE(WaitFor([&] { return engine.Sessions() == 0; })) << "never closed";
  const std::string metrics = c.Get("/metrics").body;
  EXPECT_EQ(MetricValue(metrics, R"(brood_sessions_ended_total{reason="memory"})"), 1) << metrics;
  EXPECT_EQ(MetricValue(metrics, R"(brood_session_execs_total{status="memory_limit"})"), 1);
}

TEST(SessionAnswers, TheTtlEndsARunningExec) {
  BROOD_SERVER_ENGINE_OR_SKIP(real);
  FakeSessionEngine engine(*real);
  // idle_timeout_s == ttl_s: the session cannot go idle before its ttl.
  SessionServer s(engine, R"({"idle_timeout_s": 2, "ttl_s": 2})");
  ASSERT_FALSE(s.id.empty()) << s.server.error();
  HttpClient c(s.address());
  ExecNoWait(c, s.id, {{"cmd", {"hang"}}});
  HttpResponse r = c.ReadResponse();  // at the ttl: the exec's cancelled result
  if (r.status == 410) {
    GTEST_SKIP() << "the exec came after the ttl (a machine slower than 2 s a request)";
  }
  EXPECT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(r.json()["error_kind"], "cancelled") << r.body;
  EXPECT_EQ(GetSession(s.address(), s.id).json()["ended_reason"], "ttl");
}

TEST(SessionAnswers, OneExecAtATimeAndALeavingClientCancelsIt) {
  BROOD_SERVER_ENGINE_OR_SKIP(real);
  FakeSessionEngine engine(*real);
  SessionServer s(engine, "{}");
  ASSERT_FALSE(s.id.empty()) << s.server.error();
  FakeSessionState& fake = *engine.sessions().back();
  HttpClient first(s.address());
  ExecNoWait(first, s.id, {{"cmd", {"hang"}}});
  ASSERT_TRUE(WaitFor([&] { return Running(fake); }));
  HttpClient second(s.address());
  ExpectError(ExecIn(second, s.id, {{"cmd", {"true"}}}), 409, std::nullopt);
  first.Close();
  EXPECT_TRUE(WaitFor([&] { return !Running(fake); })) << "the exec was not cancelled";
  json r;
  EXPECT_TRUE(WaitFor([&] {
    HttpClient c(s.address());
    HttpResponse h = ExecIn(c, s.id, {{"cmd", {"echo", "next"}}});
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
  ExecNoWait(c, a, {{"cmd", {"hang"}}});
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
