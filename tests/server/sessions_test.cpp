// Sessions over HTTP (docs/sessions.md): one sandbox a client works in, exec after exec, its
// files and background processes kept between them; their usage, listing, deletion, metrics.
#include <unistd.h>

#include <chrono>
#include <string>

#include "server/server_fixture.hpp"
#include "support/schema.hpp"

namespace brood::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

int Sleepers() { return SleepProcesses(getpid()); }

TEST(Sessions, FilesAndStatePersistBetweenExecs) {
  BROOD_SESSION_OR_SKIP(s, R"({"env": {"WHO": "session"}, "files": {"src/given.txt": "given\n"}})");
  EXPECT_TRUE(s.id.starts_with("s-")) << s.id;
  HttpClient c(s.address());
  // A file round trip: any bytes, a percent-encoded path whose directories are made.
  const std::string bytes("bin\0ary\xff\n", 9);
  EXPECT_EQ(PutFile(c, s.id, "dir%20x/a%2Fb.bin", bytes).status, 204);
  HttpResponse got = GetFile(c, s.id, "dir%20x/a/b.bin");
  EXPECT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, bytes);
  EXPECT_EQ(got.header("content-type"), "application/octet-stream");
  EXPECT_EQ(GetFile(c, s.id, "src/given.txt").body, "given\n");
  EXPECT_EQ(PutFile(c, s.id, "empty", "").status, 204);
  EXPECT_EQ(GetFile(c, s.id, "empty").body, "");
  ExpectError(GetFile(c, s.id, "missing.txt"), 404, "path");

  // Exec 1 leaves a file and an exported variable's value; exec 2 finds the file.
  json r = Exec(s.address(), s.id,
                {{"shell", "echo $WHO $MINE > made.txt; wc -c < 'dir x/a/b.bin'"},
                 {"env", {{"MINE", "exec"}}}});
  EXPECT_EQ(r["id"], "1");
  EXPECT_EQ(r["status"], "ok") << r.dump();
  EXPECT_EQ(r["stdout"], "9\n");
  r = Exec(s.address(), s.id, {{"cmd", {"cat", "made.txt"}}});
  EXPECT_EQ(r["id"], "2");
  EXPECT_EQ(r["stdout"], "session exec\n") << r.dump();
  EXPECT_EQ(GetFile(c, s.id, "made.txt").body, "session exec\n");
  // stdin, cwd, an exit code.
  r = Exec(s.address(), s.id,
           {{"shell", "pwd; cat; exit 3"}, {"stdin", "in\n"}, {"cwd", "/workspace/src"}});
  EXPECT_EQ(r["status"], "failed");
  EXPECT_EQ(r["exit_code"], 3);
  EXPECT_EQ(r["stdout"], "/workspace/src\nin\n");
  EXPECT_EQ(GetSession(s.address(), s.id).json()["execs"], 3);

  EXPECT_EQ(c.Delete("/v1/sessions/" + s.id).status, 204);
  ExpectError(GetSession(s.address(), s.id), 404, "id");
  ExpectError(c.Delete("/v1/sessions/" + s.id), 404, "id");
  ExpectError(ExecIn(c, s.id, {{"cmd", {"true"}}}), 404, "id");
}

TEST(Sessions, ABackgroundProcessLivesUntilTheSessionIsDeleted) {
  BROOD_SESSION_OR_SKIP(s, "{}");
  json r = Exec(s.address(), s.id, {{"shell", "sleep 1000 > /dev/null 2>&1 &"}});
  EXPECT_EQ(r["status"], "ok") << r.dump();
  r = Exec(s.address(), s.id, {{"shell", "cat /proc/[0-9]*/comm"}});
  EXPECT_NE(r.value("stdout", "").find("sleep\n"), std::string::npos) << r.dump();
  EXPECT_EQ(Sleepers(), 1);
  const json usage = GetSession(s.address(), s.id).json()["usage"];
  EXPECT_GT(usage["memory_bytes"], 0) << usage.dump();
  EXPECT_GE(usage["pids"], 1) << usage.dump();
  HttpClient c(s.address());
  EXPECT_EQ(c.Delete("/v1/sessions/" + s.id).status, 204);
  EXPECT_TRUE(WaitFor([] { return Sleepers() == 0; }, seconds(10))) << "the daemon outlived it";
}

TEST(Sessions, UsageGrowsWithItsDiskAndTheListHoldsIt) {
  BROOD_SESSION_OR_SKIP(s, R"({"limits": {"disk_mb": 64}})");
  const json before = GetSession(s.address(), s.id).json();
  EXPECT_EQ(before["state"], "running");
  EXPECT_TRUE(before["ended_reason"].is_null());
  EXPECT_EQ(before["limits"]["disk_mb"], 64);
  HttpClient c(s.address());
  ASSERT_EQ(PutFile(c, s.id, "big.bin", std::string(1 << 20, 'x')).status, 204);
  const uint64_t was = before["usage"]["disk_bytes"];
  json now;
  EXPECT_TRUE(WaitFor([&] {  // the filesystem's count may lag its writes a little
    now = GetSession(s.address(), s.id).json();
    return now["usage"]["disk_bytes"].get<uint64_t>() >= was + (1 << 20) - (64 << 10);
  })) << before.dump()
      << " then " << now.dump();

  const std::string other = CreateSession(s.address());
  HttpResponse list = c.Get("/v1/sessions");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_TRUE(ValidAgainst("serve/sessions_list.schema.json", list.body));
  std::vector<std::string> ids;
  const json sessions = list.json()["sessions"];
  for (const auto& s : sessions) ids.push_back(s["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{s.id, other}));  // oldest first
}

TEST(Sessions, AFullDiskIs507AndTheSessionGoesOn) {
  BROOD_SESSION_OR_SKIP(s, R"({"limits": {"disk_mb": 4}})");
  HttpClient c(s.address());
  ExpectError(PutFile(c, s.id, "big.bin", std::string(8 << 20, 'x')), 507, std::nullopt);
  const json r = Exec(s.address(), s.id, {{"shell", "echo fine > small.txt && cat small.txt"}});
  EXPECT_EQ(r["stdout"], "fine\n") << r.dump();
  EXPECT_EQ(GetSession(s.address(), s.id).json()["state"], "running");
}

TEST(Sessions, AnExecsLimitsEndItAndTheSessionLivesOn) {
  BROOD_SESSION_OR_SKIP(s, R"({"limits": {"wall_ms": 60000}})");
  // Its own wall limit ends it with what it started, setsid'd or not.
  json r = Exec(s.address(), s.id,
                {{"shell", "setsid sleep 1000 & sleep 1000"}, {"limits", {{"wall_ms", 300}}}});
  EXPECT_EQ(r["status"], "timeout") << r.dump();
  EXPECT_TRUE(WaitFor([] { return Sleepers() == 0; }, seconds(10))) << "its processes live on";
  r = Exec(s.address(), s.id, {{"cmd", {"echo", "still here"}}});
  EXPECT_EQ(r["stdout"], "still here\n") << r.dump();
  r = Exec(s.address(), s.id,
           {{"shell", "head -c 100 /dev/zero"}, {"limits", {{"output_bytes", 10}}}});
  EXPECT_EQ(r["status"], "output_limit") << r.dump();
  EXPECT_EQ(GetSession(s.address(), s.id).json()["state"], "running");
}

TEST(Sessions, OneExecAtATimeAndALeavingClientsExecIsCancelled) {
  BROOD_SESSION_OR_SKIP(s, R"({"limits": {"wall_ms": 60000}})");
  HttpClient first(s.address());
  ExecNoWait(first, s.id, {{"cmd", {"sleep", "30"}}});
  ASSERT_TRUE(WaitFor([] { return Sleepers() == 1; })) << "the first exec never started";
  HttpClient second(s.address());
  ExpectError(ExecIn(second, s.id, {{"cmd", {"true"}}}), 409, std::nullopt);
  // Files may still be read and written meanwhile, or the engine says it is busy (409).
  const int put = PutFile(second, s.id, "meanwhile", "x").status;
  EXPECT_TRUE(put == 204 || put == 409) << put;
  first.Close();  // the client goes away: its exec ends, with what it started
  EXPECT_TRUE(WaitFor([] { return Sleepers() == 0; }, seconds(20))) << "the exec lives on";
  json r;
  EXPECT_TRUE(WaitFor([&] {  // until the server has taken the cancelled exec's result
    HttpClient c(s.address());
    HttpResponse h = ExecIn(c, s.id, {{"cmd", {"echo", "next"}}});
    r = h.json();
    return h.status == 200;
  }));
  EXPECT_EQ(r["stdout"], "next\n") << r.dump();
  HttpClient m(s.address());
  const std::string metrics = m.Get("/metrics").body;
  EXPECT_EQ(MetricValue(metrics, R"(brood_session_execs_total{status="sandbox_error"})"), 1)
      << metrics;
}

TEST(Sessions, MetricsCountThem) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  const std::string a = CreateSession(server.address());
  const std::string b = CreateSession(server.address());
  ASSERT_FALSE(a.empty() || b.empty());
  Exec(server.address(), a, {{"cmd", {"true"}}});
  Exec(server.address(), a, {{"cmd", {"false"}}});
  HttpClient c(server.address());
  EXPECT_EQ(PutFile(c, b, "f", "x").status, 204);
  EXPECT_EQ(c.Delete("/v1/sessions/" + b).status, 204);
  const std::string metrics = c.Get("/metrics").body;
  EXPECT_EQ(MetricValue(metrics, "brood_sessions"), 1) << metrics;
  EXPECT_EQ(MetricValue(metrics, "brood_sessions_created_total"), 2);
  EXPECT_EQ(MetricValue(metrics, R"(brood_sessions_ended_total{reason="deleted"})"), 1);
  EXPECT_EQ(MetricValue(metrics, R"(brood_session_execs_total{status="ok"})"), 1);
  EXPECT_EQ(MetricValue(metrics, R"(brood_session_execs_total{status="failed"})"), 1);
  EXPECT_EQ(MetricValue(metrics,
                        "brood_http_requests_total{method=\"PUT\",route=\"/v1/sessions/"
                        "{id}/files/{path}\",code=\"204\"}"),
            1);
  EXPECT_EQ(MetricValue(metrics,
                        "brood_http_requests_total{method=\"POST\",route=\"/v1/sessions/"
                        "{id}/exec\",code=\"200\"}"),
            2);
}

}  // namespace
}  // namespace brood::testing
