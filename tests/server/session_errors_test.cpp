// Malformed session requests: each gets its code and names its field, and the server goes on.
#include <string>
#include <utility>
#include <vector>

#include "server/server_fixture.hpp"

namespace brood::testing {
namespace {

using nlohmann::json;

ServeOptions Strict() {
  ServeOptions o = TestServeOptions();
  o.max_limits.wall_ms = 60000;
  o.max_ttl_s = 100;
  o.max_file_bytes = 1024;
  return o;
}

TEST(SessionErrors, BadSessionRequestsNameTheirField) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, Strict());
  ASSERT_SERVER_OK(server);
  const std::vector<std::pair<std::string, std::optional<std::string>>> cases = {
      {R"({"cmd": ["true"]})", "cmd"},  // a job's field, not a session's
      {R"({"limits": {"memory_mb": -1}})", "limits.memory_mb"},
      {R"({"limits": {"memory_mb": "lots"}})", "limits.memory_mb"},
      {R"({"limits": {"wall_ms": 120000}})", "limits.wall_ms"},  // over --max-limits
      {R"({"limits": {"bogus": 1}})", "limits"},
      {R"({"network": "host"})", "network"},  // no --allow-host-network
      {R"({"network": "wifi"})", "network"},
      {R"({"env": {"A=B": "x"}})", "env"},
      {R"({"files": {"../x": "y"}})", "files"},
      {R"({"files": {"/etc/x": "y"}})", "files"},
      {R"({"ttl_s": 200})", "ttl_s"},  // over --max-ttl-s
      {R"({"ttl_s": 0})", "ttl_s"},
      {R"({"ttl_s": 1.5})", "ttl_s"},
      {R"({"idle_timeout_s": 50, "ttl_s": 10})", "idle_timeout_s"},
      {R"({"idle_timeout_s": 200})", "idle_timeout_s"},  // its ttl_s would pass the maximum
      {R"({"idle_timeout_s": "1"})", "idle_timeout_s"},
      {R"({"ttl_s": 10, "ttl_s": 20})", "ttl_s"},
      {R"([])", std::nullopt},
      {R"({"limits": )", std::nullopt},
  };
  HttpClient c(server.address());
  for (const auto& [body, field] : cases) {
    SCOPED_TRACE(body);
    ExpectError(c.Post("/v1/sessions", "application/json", body), 400, field);
  }
  ExpectError(c.Post("/v1/sessions", "text/plain", "{}"), 415, "Content-Type");
  EXPECT_EQ(server.log(), "");
  EXPECT_FALSE(CreateSession(server.address(), R"({"idle_timeout_s": 100})").empty());
  ExpectStillServes(server.address());
}

TEST(SessionErrors, BadExecsNameTheirField) {
  BROOD_SESSION_OR_SKIP(s, "{}", Strict());
  const std::vector<std::pair<std::string, std::optional<std::string>>> cases = {
      {R"({"cmd": ["true"], "shell": "true"})", "cmd"},
      {R"({"stdin": "x"})", "cmd"},
      {R"({"cmd": []})", "cmd"},
      {R"({"cmd": ["true"], "files": {}})", "files"},
      {R"({"cmd": ["true"], "limits": {"memory_mb": 64}})", "limits.memory_mb"},
      {R"({"cmd": ["true"], "limits": {"wall_ms": 120000}})", "limits.wall_ms"},
      {R"({"cmd": ["true"], "limits": {"cpu_ms": 0}})", "limits.cpu_ms"},
      {R"({"cmd": ["true"], "cwd": "relative"})", "cwd"},
      {R"({"cmd": ["true"], "env": {"": "x"}})", "env"},
      {R"("cmd")", std::nullopt},
  };
  HttpClient c(s.address());
  for (const auto& [body, field] : cases) {
    SCOPED_TRACE(body);
    ExpectError(c.Post("/v1/sessions/" + s.id + "/exec", "application/json", body), 400, field);
  }
  ExpectError(c.Post("/v1/sessions/" + s.id + "/exec", "text/plain", R"({"cmd": ["true"]})"), 415,
              "Content-Type");
  const json r = Exec(s.address(), s.id, {{"cmd", {"echo", "fine"}}});
  EXPECT_EQ(r["stdout"], "fine\n") << r.dump();
}

TEST(SessionErrors, BadFilePathsAndSizes) {
  BROOD_SESSION_OR_SKIP(s, "{}", Strict());
  HttpClient c(s.address());
  for (const char* path : {"", "/etc/passwd", "..", "a/../../b", "%2e%2e/x", "%2E%2E", "a%00b",
                           "a//b", "./a", "a/.", "a/", "%zz", "a%2"}) {
    SCOPED_TRACE(path);
    ExpectError(GetFile(c, s.id, path), 400, "path");
    HttpClient p(s.address());  // a refused PUT's body is not read: its connection closes
    ExpectError(PutFile(p, s.id, path, "x"), 400, "path");
  }
  // A directory, a symlink, a FIFO: not regular files to read. A PUT never writes through the
  // link: it replaces it, or is refused.
  Exec(s.address(), s.id,
       {{"shell", "mkdir d; echo kept > target; ln -s target link; mkfifo fifo"}});
  for (const char* path : {"d", "link", "fifo"}) {
    SCOPED_TRACE(path);
    ExpectError(GetFile(c, s.id, path), 400, "path");
  }
  HttpResponse put = PutFile(c, s.id, "link", "x");
  EXPECT_TRUE(put.status == 204 || put.status == 400) << put.status << put.body;
  EXPECT_EQ(GetFile(c, s.id, "target").body, "kept\n");
  // Over --max-file-bytes (1024): by Content-Length before the body is read, and as a chunked
  // body comes; a file made larger in the session cannot be read either.
  HttpClient big(s.address());
  HttpResponse too_big = PutFile(big, s.id, "big", std::string(2048, 'x'));
  ExpectError(too_big, 413, std::nullopt);
  EXPECT_NE(too_big.body.find("limit of 1024 bytes"), std::string::npos) << too_big.body;
  HttpClient chunked(s.address());
  ASSERT_TRUE(chunked.SendRaw(
      "PUT /v1/sessions/" + s.id + "/files/big HTTP/1.1\r\nHost: " + chunked.host_header() +
      "\r\nTransfer-Encoding: chunked\r\n\r\n" + "400\r\n" + std::string(1024, 'x') + "\r\n10\r\n" +
      std::string(16, 'y') + "\r\n0\r\n\r\n"));
  ExpectError(chunked.ReadResponse(), 413, std::nullopt);
  HttpClient fits(s.address());
  EXPECT_EQ(PutFile(fits, s.id, "fits", std::string(1024, 'x')).status, 204);
  Exec(s.address(), s.id, {{"shell", "head -c 2048 /dev/zero > large"}});
  ExpectError(GetFile(fits, s.id, "large"), 413, std::nullopt);
  ExpectStillServes(s.address());
}

TEST(SessionErrors, UnknownSessionsAndMethods) {
  BROOD_SERVER_ENGINE_OR_SKIP(engine);
  TestServer server(*engine, Strict());
  ASSERT_SERVER_OK(server);
  HttpClient c(server.address());
  const std::string unknown = "s-0123456789abcdef0123456789abcdef";
  for (const std::string& id : {unknown, std::string("nonsense")}) {
    ExpectError(c.Get("/v1/sessions/" + id), 404, "id");
    ExpectError(c.Delete("/v1/sessions/" + id), 404, "id");
    ExpectError(GetFile(c, id, "a"), 404, "id");
    HttpClient e(server.address());  // an exec's body is not read then: its connection closes
    ExpectError(ExecIn(e, id, {{"cmd", {"true"}}}), 404, "id");
  }
  HttpResponse r = c.Send({.method = "PATCH", .target = "/v1/sessions/" + unknown});
  ExpectError(r, 405, std::nullopt);
  EXPECT_EQ(r.header("allow"), "GET, DELETE");
  ExpectError(c.Get("/v1/sessions/" + unknown + "/exec"), 405, std::nullopt);
  ExpectError(c.Send({.method = "DELETE", .target = "/v1/sessions/" + unknown + "/files/a"}), 405,
              std::nullopt);
  ExpectError(c.Get("/v1/sessions/" + unknown + "/other"), 404, std::nullopt);
  ExpectError(c.Send({.method = "PUT", .target = "/v1/sessions"}), 405, std::nullopt);
  ExpectStillServes(server.address());
}

}  // namespace
}  // namespace brood::testing
