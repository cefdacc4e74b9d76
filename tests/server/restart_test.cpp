// Batches outlive their server: the next server on the same state dir serves a finished batch's
// results, and resumes an unfinished one so that every job gets exactly one record.
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "server/server_fixture.hpp"

namespace brood::testing {
namespace {

using std::chrono::seconds;

TEST(Restart, AFinishedBatchIsStillServed) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TempDir state;
  ServeOptions o = TestServeOptions();
  o.state_dir = state.path();
  std::string id;
  std::vector<nlohmann::json> before;
  {
    TestServer first(*engine, o);
    ASSERT_SERVER_OK(first);
    std::string lines;
    for (int i = 0; i < 5; ++i)
      lines += CmdJobJson("f" + std::to_string(i), {"/bin/echo", std::to_string(i)}) + "\n";
    id = PostBatch(first.address(), lines);
    ASSERT_FALSE(id.empty());
    before = ReadAllResults(first.address(), id);  // ends once the batch is done
    ASSERT_EQ(before.size(), 5u);
    // A second server on the same state dir is refused while this one holds it.
    std::string error;
    EXPECT_FALSE(Server::Create(*engine, o, std::cerr, &error));
    EXPECT_NE(error.find("in use"), std::string::npos) << error;
    EXPECT_EQ(first.Stop(5000), 0) << first.log();
  }
  TestServer second(*engine, o);
  ASSERT_SERVER_OK(second);
  const auto status = GetJson(second.address(), "/v1/batches/" + id);
  EXPECT_EQ(status["state"], "done") << status.dump();
  EXPECT_EQ(status["jobs_done"], 5);
  EXPECT_EQ(status["counts"], nlohmann::json({{"ok", 5}}));
  EXPECT_EQ(ReadAllResults(second.address(), id), before);
}

TEST(Restart, AnUnfinishedBatchIsResumedAndEveryJobRunsOnce) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TempDir state;
  ServeOptions o = TestServeOptions();
  o.state_dir = state.path();
  constexpr int kJobs = 40;  // 40 x 0.3 s on 2 slots: 6 s at least, stopped well before
  std::string lines;
  for (int i = 0; i < kJobs; ++i)
    lines += ShellJobJson("u" + std::to_string(i), "sleep 0.3") + "\n";
  std::string id;
  int done_at_stop = 0;
  {
    TestServer first(*engine, o);
    ASSERT_SERVER_OK(first);
    id = PostBatch(first.address(), lines);
    ASSERT_FALSE(id.empty());
    ASSERT_TRUE(WaitFor(
        [&] { return GetJson(first.address(), "/v1/batches/" + id).value("jobs_done", 0) >= 4; }));
    EXPECT_EQ(first.Stop(0), 0) << first.log();  // running tasks are killed, not recorded
    // On disk: the records written so far, each whole.
    std::ifstream in(state.path() + "/batches/" + id + "/results.jsonl");
    for (std::string line; std::getline(in, line);) ++done_at_stop;
  }
  ASSERT_GE(done_at_stop, 4);
  ASSERT_LT(done_at_stop, kJobs) << "the batch ended before the stop: nothing to resume";
  EXPECT_TRUE(WaitFor([&] { return engine->Stats().in_flight == 0; }, seconds(20)));

  TestServer second(*engine, o);
  ASSERT_SERVER_OK(second);
  const std::vector<nlohmann::json> records = ReadAllResults(second.address(), id);
  std::map<std::string, int> seen;
  for (const auto& r : records) {
    ++seen[r.value("id", "?")];
    EXPECT_EQ(r.value("status", ""), "ok") << r.dump();
  }
  EXPECT_EQ(records.size(), static_cast<size_t>(kJobs));
  for (int i = 0; i < kJobs; ++i)
    EXPECT_EQ(seen["u" + std::to_string(i)], 1) << "u" << i << " not exactly once";
  const auto status = GetJson(second.address(), "/v1/batches/" + id);
  EXPECT_EQ(status["state"], "done") << status.dump();
  EXPECT_EQ(status["jobs_submitted"], kJobs);
  EXPECT_EQ(status["jobs_done"], kJobs);
  EXPECT_EQ(status["counts"], nlohmann::json({{"ok", kJobs}})) << status.dump();
}

TEST(Restart, AStreamCutByTheStopResumesOnTheNextServer) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TempDir state;
  ServeOptions o = TestServeOptions();
  o.state_dir = state.path();
  std::string lines;
  for (int i = 0; i < 20; ++i) lines += ShellJobJson("c" + std::to_string(i), "sleep 0.3") + "\n";
  std::string id;
  std::vector<std::string> have;
  {
    TestServer first(*engine, o);
    ASSERT_SERVER_OK(first);
    id = PostBatch(first.address(), lines);
    ASSERT_FALSE(id.empty());
    HttpClient c(first.address());
    HttpResponse head;
    ASSERT_TRUE(c.StartStream({.target = "/v1/batches/" + id + "/results"}, &head));
    std::string text;
    while (have.size() < 2) {
      auto piece = c.ReadBodySome();
      ASSERT_TRUE(piece) << c.body_error();
      text += *piece;
      for (auto& line : TakeLines(&text)) have.push_back(line);
    }
    first.Stop(0);
    // The stream breaks without its last chunk: the client knows it is not the end.
    while (auto piece = c.ReadBodySome()) {
      text += *piece;
      for (auto& line : TakeLines(&text)) have.push_back(line);
    }
    EXPECT_FALSE(c.body_done()) << "a stopped server's stream must not look finished";
  }
  TestServer second(*engine, o);
  ASSERT_SERVER_OK(second);
  std::map<std::string, int> seen;
  for (const auto& line : have) ++seen[nlohmann::json::parse(line).value("id", "?")];
  for (const auto& r : ReadAllResults(second.address(), id, have.size()))
    ++seen[r.value("id", "?")];
  EXPECT_EQ(seen.size(), 20u);
  for (const auto& [job, n] : seen) EXPECT_EQ(n, 1) << job;
}

}  // namespace
}  // namespace brood::testing
