// Batches: job lines in, a status, and a results stream that a client can leave and pick up
// again with after=N; a cancelled batch ends and no other batch notices.
#include <unistd.h>

#include <map>
#include <set>
#include <string>

#include "server/server_fixture.hpp"

namespace brood::testing {
namespace {

using std::chrono::seconds;

std::string EchoLines(const std::string& prefix, int n, const std::string& sleep = "") {
  std::string lines;
  for (int i = 0; i < n; ++i) {
    const std::string id = prefix + std::to_string(i);
    lines += ShellJobJson(id, (sleep.empty() ? "" : "sleep " + sleep + "; ") + "echo " + id) + "\n";
  }
  return lines;
}

std::string SleepLines(const std::string& prefix, int n) {
  std::string lines;
  for (int i = 0; i < n; ++i) lines += SleeperJson(prefix + std::to_string(i)) + "\n";
  return lines;
}

// Polls the batch's status until its state is not "running"; returns the last status.
nlohmann::json WaitEnded(const std::string& address, const std::string& id) {
  nlohmann::json status;
  EXPECT_TRUE(WaitFor(
      [&] {
        status = GetJson(address, "/v1/batches/" + id);
        return status.value("state", "") != "running";
      },
      seconds(120)))
      << status.dump();
  return status;
}

TEST(Batches, RunToTheEndWithStatusListAndForget) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  const std::string a = server.address();
  // Blank lines are no jobs; a last line without a newline is one.
  const std::string id = PostBatch(a, EchoLines("b", 5) + "\n   \n" + CmdJobJson("last", {"true"}));
  ASSERT_EQ(id.size(), 32u) << id;
  const auto status = WaitEnded(a, id);
  EXPECT_EQ(status["id"], id);
  EXPECT_EQ(status["state"], "done");
  EXPECT_EQ(status["jobs_submitted"], 6);
  EXPECT_EQ(status["jobs_done"], 6);
  EXPECT_EQ(status["counts"], nlohmann::json({{"ok", 6}}));
  std::map<std::string, std::string> out;
  for (const auto& r : ReadAllResults(a, id)) out[r["id"]] = r.value("stdout", "");
  EXPECT_EQ(out.size(), 6u);
  EXPECT_EQ(out["b3"], "b3\n");
  const auto list = GetJson(a, "/v1/batches");
  ASSERT_EQ(list["batches"].size(), 1u) << list.dump();
  EXPECT_EQ(list["batches"][0]["id"], id);
  // A stream ends with its last chunk, and the connection goes on.
  HttpClient c(a);
  HttpResponse head;
  ASSERT_TRUE(c.StartStream({.target = "/v1/batches/" + id + "/results?after=4"}, &head));
  std::string text;
  while (auto piece = c.ReadBodySome()) text += *piece;
  EXPECT_TRUE(c.body_done()) << c.body_error();
  EXPECT_EQ(TakeLines(&text).size(), 2u);
  // Deleting a done batch changes nothing.
  HttpResponse r = c.Delete("/v1/batches/" + id);
  EXPECT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(r.json().value("state", ""), "done") << r.body;
  // Forgotten: gone.
  ExpectError(c.Delete("/v1/batches/" + id + "?forget=maybe"), 400, "forget");
  r = c.Delete("/v1/batches/" + id + "?forget=1");
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(r.body, "");
  ExpectError(c.Get("/v1/batches/" + id), 404, "id");
  ExpectError(c.Get("/v1/batches/" + id + "/results"), 404, "id");
  EXPECT_EQ(GetJson(a, "/v1/batches")["batches"].size(), 0u);
}

TEST(Batches, UnknownIdsAndBadAfterAreRefused) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  HttpClient c(server.address());
  const std::string unknown = "0123456789abcdef0123456789abcdef";
  ExpectError(c.Get("/v1/batches/" + unknown), 404, "id");
  ExpectError(c.Get("/v1/batches/" + unknown + "/results"), 404, "id");
  ExpectError(c.Delete("/v1/batches/" + unknown), 404, "id");
  ExpectError(c.Get("/v1/batches/not-an-id"), 404, "id");
  ExpectError(c.Get("/v1/batches/../../etc/passwd"), 404, std::nullopt);
  for (const char* after : {"abc", "-1", "", "1x", "99999999999999999999999"})
    ExpectError(c.Get("/v1/batches/" + unknown + "/results?after=" + std::string(after)), 400,
                "after");
  ExpectStillServes(server.address());
}

TEST(Batches, ResultsResumeAfterTheLinesAClientHas) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  const std::string a = server.address();
  constexpr int kJobs = 30;
  const std::string id = PostBatch(a, EchoLines("r", kJobs, "0.1"));
  ASSERT_FALSE(id.empty());
  // Read a few records as they come, then drop the connection mid-stream.
  std::vector<std::string> have;
  {
    HttpClient c(a);
    HttpResponse head;
    ASSERT_TRUE(c.StartStream({.target = "/v1/batches/" + id + "/results"}, &head)) << head.error;
    ASSERT_EQ(head.status, 200);
    EXPECT_EQ(head.header("transfer-encoding"), "chunked");
    std::string text;
    while (have.size() < 5) {
      auto piece = c.ReadBodySome();
      ASSERT_TRUE(piece) << "the stream ended early: " << c.body_error();
      text += *piece;
      for (auto& line : TakeLines(&text)) have.push_back(line);
    }
    c.Close();
  }
  // The rest, from where the client was.
  const size_t n = have.size();
  std::vector<nlohmann::json> rest = ReadAllResults(a, id, n);
  std::multiset<std::string> ids;
  for (const auto& line : have) ids.insert(nlohmann::json::parse(line).value("id", "?"));
  for (const auto& r : rest) ids.insert(r.value("id", "?"));
  EXPECT_EQ(ids.size(), static_cast<size_t>(kJobs));
  for (int i = 0; i < kJobs; ++i)
    EXPECT_EQ(ids.count("r" + std::to_string(i)), 1u) << "r" << i << " not exactly once";
  // The two parts are the whole stream, in its order.
  std::vector<nlohmann::json> all = ReadAllResults(a, id);
  ASSERT_EQ(all.size(), n + rest.size());
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(all[i], nlohmann::json::parse(have[i]));
  for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(all[n + i], rest[i]);
  // Past the end: an empty, finished stream.
  EXPECT_TRUE(ReadAllResults(a, id, kJobs + 5).empty());
}

TEST(Batches, CancellingOneLeavesTheOtherAlone) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  const std::string a = server.address();
  const std::string doomed = PostBatch(a, SleepLines("s", 10));
  const std::string other = PostBatch(a, EchoLines("o", 10, "0.05"));
  ASSERT_FALSE(doomed.empty());
  ASSERT_FALSE(other.empty());
  ASSERT_TRUE(WaitFor([&] { return engine->Stats().busy_slots > 0; })) << "nothing started";
  HttpClient c(a);
  HttpResponse r = c.Delete("/v1/batches/" + doomed);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json().value("state", ""), "cancelled") << r.body;
  const auto cancelled = WaitEnded(a, doomed);
  EXPECT_EQ(cancelled["state"], "cancelled");
  EXPECT_LT(cancelled["jobs_done"].get<int>(), 10) << cancelled.dump();
  // Its results stream ends (what it has, no more), and it is never resumed.
  EXPECT_EQ(ReadAllResults(a, doomed).size(), cancelled["jobs_done"].get<size_t>());

  const auto done = WaitEnded(a, other);
  EXPECT_EQ(done["state"], "done") << done.dump();
  EXPECT_EQ(done["jobs_done"], 10);
  EXPECT_EQ(done["counts"], nlohmann::json({{"ok", 10}})) << done.dump();
  std::set<std::string> ids;
  for (const auto& rec : ReadAllResults(a, other)) {
    EXPECT_EQ(rec.value("status", ""), "ok") << rec.dump();
    EXPECT_EQ(rec.value("stdout", ""), rec.value("id", "") + "\n") << rec.dump();
    ids.insert(rec.value("id", ""));
  }
  EXPECT_EQ(ids.size(), 10u);
  EXPECT_TRUE(WaitFor([&] { return engine->Stats().in_flight == 0; }, seconds(20)))
      << "the cancelled batch's tasks live on";
}

TEST(Batches, AWaitingBatchCancelledNeverRuns) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  ServeOptions o = TestServeOptions();
  o.max_running_batches = 1;
  TestServer server(*engine, o);
  ASSERT_SERVER_OK(server);
  const std::string a = server.address();
  const std::string running = PostBatch(a, SleepLines("s", 2));
  const std::string waiting = PostBatch(a, EchoLines("w", 3));
  ASSERT_TRUE(WaitFor([&] { return engine->Stats().busy_slots == 2; })) << "nothing started";
  EXPECT_EQ(GetJson(a, "/v1/batches/" + waiting)["state"], "running") << "waiting, as running";
  HttpClient c(a);
  HttpResponse r = c.Delete("/v1/batches/" + waiting);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json().value("state", ""), "cancelled") << r.body;
  EXPECT_TRUE(ReadAllResults(a, waiting).empty()) << "its stream ends at once, empty";
  ASSERT_EQ(c.Delete("/v1/batches/" + running).status, 200);
  const auto status = WaitEnded(a, running);
  EXPECT_EQ(status["state"], "cancelled");
  ASSERT_TRUE(WaitFor([&] { return engine->Stats().in_flight == 0; }, seconds(20)));
  const auto never = GetJson(a, "/v1/batches/" + waiting);
  EXPECT_EQ(never["jobs_done"], 0) << never.dump();
  EXPECT_EQ(never["state"], "cancelled") << never.dump();
  const auto metrics = c.Get("/metrics").body;
  EXPECT_EQ(MetricValue(metrics, R"(brood_batches{state="cancelled"})"), 2) << metrics;
}

TEST(Batches, ARunningBatchForgottenEndsAndLeavesNoFiles) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TempDir state;
  ServeOptions o = TestServeOptions();
  o.state_dir = state.path();
  TestServer server(*engine, o);
  ASSERT_SERVER_OK(server);
  const std::string a = server.address();
  const std::string id = PostBatch(a, SleepLines("s", 4));
  ASSERT_FALSE(id.empty());
  const std::string dir = state.path() + "/batches/" + id;
  ASSERT_EQ(access(dir.c_str(), F_OK), 0) << "no spool at " << dir;
  ASSERT_TRUE(WaitFor([&] { return engine->Stats().busy_slots > 0; })) << "nothing started";
  HttpClient reader(a);  // a results stream open while the batch is forgotten
  HttpRequest get;
  get.target = "/v1/batches/" + id + "/results";
  HttpResponse head;
  ASSERT_TRUE(reader.StartStream(get, &head)) << head.error;
  ASSERT_EQ(head.status, 200);
  HttpClient c(a);
  HttpResponse r = c.Delete("/v1/batches/" + id + "?forget=true");
  EXPECT_EQ(r.status, 204) << r.body;
  while (reader.ReadBodySome()) {
  }
  EXPECT_FALSE(reader.body_done())
      << "the stream of a forgotten batch ended with its last chunk, as if it were complete";
  ExpectError(c.Get("/v1/batches/" + id), 404, "id");
  EXPECT_TRUE(WaitFor([&] { return engine->Stats().in_flight == 0; }, seconds(20)))
      << "its tasks live on";
  EXPECT_TRUE(WaitFor([&] { return access(dir.c_str(), F_OK) != 0; }, seconds(20)))
      << dir << " is left";
}

}  // namespace
}  // namespace brood::testing
