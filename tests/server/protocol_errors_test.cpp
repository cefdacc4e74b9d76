// Requests HTTP itself gets wrong (method, content type, sizes, slowness, a body where none
// belongs, garbage): each gets its own code and a JSON error naming the field where there is
// one, and the server goes on serving the next client.
#include <string>

#include "server/server_fixture.hpp"

namespace brood::testing {
namespace {

class ProtocolErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = ServerEngine();
    if (!engine_) GTEST_SKIP() << "host cannot sandbox: " << ServerEngineError();
    ServeOptions o = TestServeOptions();
    o.max_header_bytes = 4096;
    o.max_body_bytes = 4096;
    o.max_batch_bytes = 8192;
    o.header_timeout_ms = 300;
    o.io_timeout_ms = 1000;
    o.idle_timeout_ms = 60000;
    server_ = std::make_unique<TestServer>(*engine_, o);
    ASSERT_SERVER_OK(*server_);
    address_ = server_->address();
  }
  void TearDown() override {
    if (server_ && server_->ok()) ExpectStillServes(address_);
  }

  Engine* engine_ = nullptr;
  std::unique_ptr<TestServer> server_;
  std::string address_;
};

TEST_F(ProtocolErrors, WrongMethodIs405WithAllow) {
  HttpClient c(address_);
  HttpResponse r = c.Send({.method = "PUT", .target = "/v1/run"});
  ExpectError(r, 405, std::nullopt);
  EXPECT_EQ(r.header("allow"), "POST");
  EXPECT_TRUE(r.keep_alive) << "a refused request without a body keeps its connection";
  r = c.Send({.method = "DELETE", .target = "/healthz"});
  ExpectError(r, 405, std::nullopt);
  EXPECT_EQ(r.header("allow"), "GET");
  r = c.Send({.method = "POST", .target = "/v1/batches/" + std::string(32, 'a')});
  ExpectError(r, 405, std::nullopt);
  EXPECT_EQ(r.header("allow"), "GET, DELETE");
  r = c.Send({.method = "PATCH", .target = "/v1/batches"});
  ExpectError(r, 405, std::nullopt);
  EXPECT_EQ(r.header("allow"), "GET, POST");
}

TEST_F(ProtocolErrors, WrongOrMissingContentTypeIs415) {
  const std::string job = CmdJobJson("ct", {"/bin/true"});
  HttpClient c(address_);
  ExpectError(c.Post("/v1/run", "text/plain", job), 415, "Content-Type");
  HttpClient c2(address_);
  ExpectError(c2.Send({.method = "POST", .target = "/v1/run", .body = job}), 415, "Content-Type");
  HttpClient c3(address_);
  ExpectError(c3.Post("/v1/batches", "application/json", job + "\n"), 415, "Content-Type");
  // Parameters and case do not matter.
  HttpClient c4(address_);
  HttpResponse ok = c4.Post("/v1/run", "Application/JSON; charset=utf-8", job);
  EXPECT_EQ(ok.status, 200) << ok.error << ok.body;
}

TEST_F(ProtocolErrors, OversizedHeaderIs431AndClosed) {
  HttpClient c(address_);
  HttpResponse r =
      c.Send({.target = "/healthz", .headers = {{"X-Padding", std::string(8000, 'p')}}});
  ExpectError(r, 431, std::nullopt);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(c.WaitForClose(std::chrono::seconds(20)));
}

TEST_F(ProtocolErrors, OversizedRunBodyIs413) {
  // Under the batch limit (8192) but over the run limit (4096), with a Content-Length.
  const std::string big =
      nlohmann::json{{"id", "big"}, {"cmd", {"/bin/echo", std::string(5000, 'x')}}}.dump();
  HttpClient c(address_);
  HttpResponse r = c.Post("/v1/run", "application/json", big);
  ExpectError(r, 413, std::nullopt);
  EXPECT_NE(r.body.find("limit of 4096 bytes"), std::string::npos) << "names the limit: " << r.body;
  EXPECT_FALSE(r.keep_alive);
}

TEST_F(ProtocolErrors, OversizedChunkedRunBodyIs413) {
  const std::string big =
      nlohmann::json{{"id", "big"}, {"cmd", {"/bin/echo", std::string(5000, 'x')}}}.dump();
  char size[32];
  std::snprintf(size, sizeof size, "%zx", big.size());
  HttpClient c(address_);
  ASSERT_TRUE(c.SendRaw("POST /v1/run HTTP/1.1\r\nHost: " + c.host_header() +
                        "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                        size + "\r\n" + big + "\r\n0\r\n\r\n"));
  ExpectError(c.ReadResponse(), 413, std::nullopt);
}

TEST_F(ProtocolErrors, OversizedBodyAboveTheBatchLimitIs413) {
  const std::string lines(10000, '\n');  // over max_batch_bytes: refused by its Content-Length
  HttpClient c(address_);
  HttpResponse r = c.Post("/v1/batches", "application/x-ndjson", lines);
  ExpectError(r, 413, std::nullopt);
  EXPECT_NE(r.body.find("limit of 8192 bytes"), std::string::npos) << "names the limit: " << r.body;
  HttpClient c2(address_);
  ExpectError(c2.Post("/v1/run", "application/json", std::string(10000, ' ')), 413, std::nullopt);
  EXPECT_EQ(GetJson(address_, "/v1/batches")["batches"].size(), 0u) << "no batch was kept";
}

TEST_F(ProtocolErrors, SlowHeadersAre408AndClosed) {
  HttpClient c(address_);
  ASSERT_TRUE(c.SendRaw("POST /v1/ru"));  // and nothing more
  std::string got;
  ASSERT_TRUE(c.WaitForClose(std::chrono::seconds(20), &got))
      << "the server kept a connection whose headers never came";
  EXPECT_EQ(got.rfind("HTTP/1.1 408 ", 0), 0u) << got;
  EXPECT_NE(got.find("\"error\""), std::string::npos) << got;
}

TEST_F(ProtocolErrors, SlowHeadersOnAKeptAliveConnectionAre408Too) {
  HttpClient c(address_);
  ASSERT_EQ(c.Get("/healthz").status, 200);  // kept alive: idle may last a minute
  ASSERT_TRUE(c.SendRaw("GET /heal"));       // but a request begun must come in time
  std::string got;
  ASSERT_TRUE(c.WaitForClose(std::chrono::seconds(20), &got))
      << "the server waited past its header timeout for a kept-alive connection's request";
  EXPECT_EQ(got.rfind("HTTP/1.1 408 ", 0), 0u) << got;
}

TEST_F(ProtocolErrors, AConnectionThatSaysNothingIsClosed) {
  HttpClient c(address_);
  std::string got;
  ASSERT_TRUE(c.WaitForClose(std::chrono::seconds(20), &got));
  EXPECT_EQ(got, "") << "nothing to answer: closed without a response";
}

TEST_F(ProtocolErrors, SlowBodyIs408) {
  HttpClient c(address_);
  ASSERT_TRUE(
      c.SendRaw("POST /v1/run HTTP/1.1\r\nHost: " + c.host_header() +
                "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\""));
  std::string got;
  ASSERT_TRUE(c.WaitForClose(std::chrono::seconds(20), &got));
  EXPECT_EQ(got.rfind("HTTP/1.1 408 ", 0), 0u) << got;
}

TEST_F(ProtocolErrors, GetWithABodyIs400) {
  HttpClient c(address_);
  HttpResponse r = c.Send({.target = "/healthz", .body = "surprise"});
  ExpectError(r, 400, std::nullopt);
  EXPECT_NE(r.json().value("error", "").find("body"), std::string::npos) << r.body;
  HttpClient c2(address_);
  ExpectError(c2.Send({.target = "/v1/batches", .body = "x"}), 400, std::nullopt);
}

TEST_F(ProtocolErrors, GarbageIs400) {
  HttpClient c(address_);
  ASSERT_TRUE(c.SendRaw("HELLO THERE\r\n\r\n"));
  ExpectError(c.ReadResponse(), 400, std::nullopt);
  EXPECT_TRUE(c.WaitForClose(std::chrono::seconds(20)));
}

TEST_F(ProtocolErrors, UnknownRouteIs404) {
  HttpClient c(address_);
  ExpectError(c.Get("/v2/run"), 404, std::nullopt);
  ExpectError(c.Get("/"), 404, std::nullopt);
  ExpectError(c.Get("/v1/batches/" + std::string(32, 'a') + "/nope"), 404, std::nullopt);
}

TEST(Idle, AKeptAliveConnectionWithNoRequestIsClosedQuietly) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  ServeOptions o = TestServeOptions();
  o.idle_timeout_ms = 300;
  TestServer server(*engine, o);
  ASSERT_SERVER_OK(server);
  HttpClient c(server.address());
  HttpResponse r = c.Get("/healthz");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.keep_alive);
  std::string got;
  ASSERT_TRUE(c.WaitForClose(std::chrono::seconds(20), &got));
  EXPECT_EQ(got, "") << "no request: nothing to answer";
  ExpectStillServes(server.address());
}

}  // namespace
}  // namespace brood::testing
