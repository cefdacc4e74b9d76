// Who may talk to the server: a Bearer token when one is set (but for /healthz), a Host header
// naming this server (not a page in a browser that resolved some name to 127.0.0.1), and no
// more connections than the cap.
#include <string>
#include <vector>

#include "server/server_fixture.hpp"

namespace brood::testing {
namespace {

TEST(Access, TokenIsRequiredButForHealthz) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  ServeOptions o = TestServeOptions();
  o.token = "s3cret-token";
  TestServer server(*engine, o);
  ASSERT_SERVER_OK(server);
  const std::string a = server.address();
  const std::string job = CmdJobJson("t", {"/bin/true"});
  {
    HttpClient c(a);
    HttpResponse r = c.Post("/v1/run", "application/json", job);
    ExpectError(r, 401, "Authorization");
    EXPECT_EQ(r.header("www-authenticate"), "Bearer");
  }
  for (const std::string& wrong :
       {std::string("s3cret-tokeN"), std::string("s3cret"), std::string("s3cret-token-and-more")}) {
    HttpClient c(a);
    ExpectError(c.Post("/v1/run", "application/json", job, wrong), 401, "Authorization");
  }
  {
    HttpClient c(a);  // not Bearer
    ExpectError(
        c.Send({.target = "/metrics", .headers = {{"Authorization", "Basic s3cret-token"}}}), 401,
        "Authorization");
  }
  HttpClient c(a);
  ExpectError(c.Get("/metrics"), 401, "Authorization");
  ExpectError(c.Get("/readyz"), 401, "Authorization");
  ExpectError(c.Get("/v1/batches"), 401, "Authorization");
  EXPECT_EQ(c.Get("/healthz").status, 200) << "health checks need no token";
  EXPECT_EQ(c.Get("/metrics", "s3cret-token").status, 200);
  ExpectStillServes(a, "s3cret-token");
}

TEST(Access, ForeignHostIs403) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  ServeOptions o = TestServeOptions();
  o.allowed_hosts = {"Proxy.Internal"};
  TestServer server(*engine, o);
  ASSERT_SERVER_OK(server);
  const std::string a = server.address();
  const std::string port = a.substr(a.rfind(':'));
  HttpClient c(a);
  ExpectError(c.Send({.target = "/healthz", .host = "evil.example" + port}), 403, "Host");
  ExpectError(c.Send({.target = "/healthz", .host = "127.0.0.1.evil.example"}), 403, "Host");
  ExpectError(c.Send({.target = "/healthz", .host = ""}), 400, "Host");  // no Host at all
  for (const std::string& host : std::vector<std::string>{
           "localhost" + port, "LOCALHOST", "127.0.0.1" + port, "proxy.internal", "[::1]" + port}) {
    HttpResponse r = c.Send({.target = "/healthz", .host = host});
    EXPECT_EQ(r.status, 200) << host << ": " << r.body;
  }
  ExpectStillServes(a);
}

TEST(Access, PastMaxConnectionsIs503) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  ServeOptions o = TestServeOptions();
  o.max_connections = 2;
  TestServer server(*engine, o);
  ASSERT_SERVER_OK(server);
  const std::string a = server.address();
  HttpClient one(a), two(a);
  // Both are the server's once each has been answered.
  ASSERT_EQ(one.Get("/healthz").status, 200);
  ASSERT_EQ(two.Get("/healthz").status, 200);
  HttpClient three(a);
  HttpResponse r = three.ReadResponse();  // answered without asking
  ExpectError(r, 503, std::nullopt);
  EXPECT_EQ(r.header("retry-after"), "1");
  EXPECT_TRUE(three.WaitForClose(std::chrono::seconds(20)));
  // The two keep working; once one goes, a new connection is served.
  EXPECT_EQ(one.Get("/readyz").status, 200);
  two.Close();
  ASSERT_TRUE(WaitFor([&] {
    const auto m = one.Get("/metrics").body;
    return MetricValue(m, "brood_http_connections") == 1.0;
  }));
  EXPECT_EQ(MetricValue(one.Get("/metrics").body, "brood_http_connections_refused_total"), 1.0);
  one.Close();
  ASSERT_TRUE(WaitFor([&] {
    HttpClient probe(a);
    return probe.Get("/healthz").status == 200;
  }));
  ExpectStillServes(a);
}

}  // namespace
}  // namespace brood::testing
