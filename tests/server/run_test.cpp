// POST /v1/run: one job in, its result record out, on keep-alive connections, from many clients
// at once.
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/server_fixture.hpp"
#include "support/schema.hpp"

namespace brood::testing {
namespace {

TEST(Run, AJobsResultComesBackAsItsRecord) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  HttpClient c(server.address());
  HttpResponse r = c.Post("/v1/run", "application/json",
                          R"({"id": "e1", "shell": "echo out; echo err >&2; exit 3"})");
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_TRUE(ValidResult(r.body.substr(0, r.body.find('\n')))) << r.body;
  const auto j = r.json();
  EXPECT_EQ(j["id"], "e1");
  EXPECT_EQ(j["status"], "failed");
  EXPECT_EQ(j["exit_code"], 3);
  EXPECT_EQ(j["stdout"], "out\n");
  EXPECT_EQ(j["stderr"], "err\n");
}

TEST(Run, AJobWithoutIdGetsOneAndExpectIsJudged) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  HttpClient c(server.address());
  // Pretty-printed, no id, with an expect.
  HttpResponse r = c.Post("/v1/run", "application/json",
                          "{\n  \"cmd\": [\"/bin/echo\", \"hi\"],\n"
                          "  \"expect\": {\"stdout\": \"hi\\n\"}\n}\n");
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  auto j = r.json();
  EXPECT_EQ(j["status"], "ok") << r.body;
  EXPECT_EQ(j["passed"], true) << r.body;
  ASSERT_TRUE(j["id"].is_string()) << r.body;
  const std::string first_id = j["id"];
  EXPECT_FALSE(first_id.empty());
  r = c.Post("/v1/run", "application/json",
             R"({"cmd": ["/bin/echo", "hi"], "expect": {"stdout": "bye\n"}})");
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  j = r.json();
  EXPECT_EQ(j["passed"], false) << r.body;
  EXPECT_NE(j["id"], first_id) << "each job gets an id of its own";
}

TEST(Run, ExpectContinueAndPipelinedRequests) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  HttpClient c(server.address());
  const std::string job = CmdJobJson("p", {"/bin/echo", "piped"});
  const std::string head =
      "POST /v1/run HTTP/1.1\r\nHost: " + c.host_header() +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(job.size()) +
      "\r\n";
  // Expect: 100-continue: the body is sent once the server asks for it.
  ASSERT_TRUE(c.SendRaw(head + "Expect: 100-continue\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse().status, 100);
  ASSERT_TRUE(c.SendRaw(job));
  HttpResponse r = c.ReadResponse();
  EXPECT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(r.json().value("stdout", ""), "piped\n") << r.body;
  // Two requests in one write (the second waits while the job runs): two answers, in order.
  ASSERT_TRUE(c.SendRaw(head + "\r\n" + job + "GET /healthz HTTP/1.1\r\nHost: " + c.host_header() +
                        "\r\n\r\n"));
  r = c.ReadResponse();
  EXPECT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(r.json().value("id", ""), "p") << r.body;
  r = c.ReadResponse();
  EXPECT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(r.json(), nlohmann::json({{"status", "ok"}})) << r.body;
}

TEST(Run, ManyClientsAtOnceEachGetTheirOwnResults) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, TestServeOptions());
  ASSERT_SERVER_OK(server);
  constexpr int kClients = 32, kEach = 4;
  std::vector<std::string> problems(kClients);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      HttpClient c(server.address());  // one keep-alive connection for all its jobs
      if (!c.connected()) {
        problems[t] = c.error();
        return;
      }
      for (int i = 0; i < kEach; ++i) {
        const std::string id = "c" + std::to_string(t) + "-" + std::to_string(i);
        HttpResponse r =
            c.Post("/v1/run", "application/json", CmdJobJson(id, {"/bin/echo", "from " + id}));
        const auto j = r.json();
        if (r.status != 200 || !r.keep_alive || !j.is_object() || j.value("id", "") != id ||
            j.value("status", "") != "ok" || j.value("stdout", "") != "from " + id + "\n") {
          problems[t] += id + ": " + std::to_string(r.status) + " " + r.error + r.body + "; ";
          return;
        }
        ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  for (int t = 0; t < kClients; ++t) EXPECT_EQ(problems[t], "") << "client " << t;
  EXPECT_EQ(ok.load(), kClients * kEach);
  // The server counted each task once.
  HttpClient c(server.address());
  const std::string metrics = c.Get("/metrics").body;
  EXPECT_EQ(MetricValue(metrics, R"(brood_tasks_total{status="ok"})"), kClients * kEach);
}

}  // namespace
}  // namespace brood::testing
