// What the tests of `brood serve` share: one engine per test binary, a server on a free loopback
// port run on a thread of its own, temporary state dirs, job records, and polling with deadlines.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "brood/engine.hpp"
#include "brood/serve.hpp"
#include "support/http_client.hpp"

namespace brood::testing {

// The binary's engine (2 slots), made by a test environment before any test starts a thread
// (Engine::Create needs a process of one thread). Null when the host cannot sandbox.
Engine* ServerEngine();
const std::string& ServerEngineError();

#define BROOD_SERVER_ENGINE_OR_SKIP(var)                   \
  ::brood::Engine* var = ::brood::testing::ServerEngine(); \
  if (!var) GTEST_SKIP() << "host cannot sandbox: " << ::brood::testing::ServerEngineError()

// A fresh directory below /tmp, removed with everything in it when this goes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ServeOptions for a test: listen on 127.0.0.1, any free port.
ServeOptions TestServeOptions();

// A brood::Server running on a thread of its own. The state dir is `options.state_dir`, or a
// temporary one of the server's own when that is empty.
class TestServer {
 public:
  TestServer(Engine& engine, ServeOptions options);
  ~TestServer();  // Stop(0) unless stopped already
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  bool ok() const { return server_ != nullptr; }
  const std::string& error() const { return error_; }  // why Create failed
  std::string address() const { return server_ ? server_->address() : ""; }
  // Stops it (Server::Stop) and waits until Run returned; returns what Run returned.
  int Stop(int grace_ms);
  std::string log() const;  // what the server logged so far (complete once stopped)

 private:
  std::unique_ptr<TempDir> own_dir_;
  std::unique_ptr<Server> server_;
  std::string error_;
  std::ostringstream log_;
  std::thread runner_;
  int run_code_ = -1;
};

#define ASSERT_SERVER_OK(server) ASSERT_TRUE((server).ok()) << (server).error()

// Polls `condition` every 10 ms until it holds or `within` passed; true when it held.
bool WaitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds within = std::chrono::seconds(30));

// The value of one series in Prometheus text ("brood_tasks_total{status=\"ok\"}"), if present.
std::optional<double> MetricValue(const std::string& text, const std::string& series);

// Job records (one line each).
std::string CmdJobJson(const std::string& id, const std::vector<std::string>& argv);
std::string ShellJobJson(const std::string& id, const std::string& shell);
// A job that sleeps for 30 s (its wall limit 60 s): only a cancel ends it in a test's time.
std::string SleeperJson(const std::string& id);
// Processes running `sleep` below `root` (this process: the tasks of ServerEngine()).
int SleepProcesses(int root);

// Sends POST /v1/run of `job` on `c` without waiting for the answer (ReadResponse reads it).
void PostRunNoWait(HttpClient& c, const std::string& job);

// GET `target` on a new connection and parse its JSON body (discarded on failure).
nlohmann::json GetJson(const std::string& address, const std::string& target);

// Reads a batch's results stream to its end on a new connection: its records, one a line.
// Fails the calling test (and returns what came) when the stream does not end properly.
std::vector<nlohmann::json> ReadAllResults(const std::string& address, const std::string& id,
                                           uint64_t after = 0);

// `r` has status `code` and a JSON error body {"error": "...", "field": field or null}.
void ExpectError(const HttpResponse& r, int code, const std::optional<std::string>& field);
// The server still serves: a job POSTed on a new connection runs and comes back ok.
void ExpectStillServes(const std::string& address, const std::string& token = "");

// POSTs job lines as a batch; returns its id ("" and a test failure when refused).
std::string PostBatch(const std::string& address, const std::string& lines);

// Sessions (docs/sessions.md).
// POST /v1/sessions; the session's id ("" and a test failure when refused). Checks the answer
// against schema/serve/session.schema.json.
std::string CreateSession(const std::string& address, const std::string& body = "{}");
// POST /v1/sessions/ID/exec of `exec` on `c`.
HttpResponse ExecIn(HttpClient& c, const std::string& id, const nlohmann::json& exec);
// The same, on a new connection; the result record (a test failure unless 200).
nlohmann::json Exec(const std::string& address, const std::string& id, const nlohmann::json& exec);
// PUT and GET /v1/sessions/ID/files/PATH (`path` as it goes in the target: encoded).
HttpResponse PutFile(HttpClient& c, const std::string& id, const std::string& path,
                     const std::string& bytes);
HttpResponse GetFile(HttpClient& c, const std::string& id, const std::string& path);
// GET /v1/sessions/ID on a new connection (checked against session.schema.json when 200).
HttpResponse GetSession(const std::string& address, const std::string& id);
// Sends POST /v1/sessions/ID/exec of `exec` on `c` without waiting for the answer.
void ExecNoWait(HttpClient& c, const std::string& id, const nlohmann::json& exec);
// Polls GET /v1/sessions/ID until its state is "ended" (at most `within`); the object.
nlohmann::json WaitUntilEnded(const std::string& address, const std::string& id,
                              std::chrono::milliseconds within = std::chrono::seconds(60));

// A server of its own, and one session on it made by `request` (POST /v1/sessions's body).
struct SessionServer {
  SessionServer(Engine& engine, const std::string& request,
                ServeOptions options = TestServeOptions());
  std::string address() const { return server.address(); }
  Engine& engine;
  TestServer server;
  std::string id;  // "" (and a test failure) when the session could not be made
};

// Declares `var`, a SessionServer on the binary's engine with `request`, or skips the test when
// the host cannot sandbox (and fails it when the server or the session could not be made).
#define BROOD_SESSION_OR_SKIP(var, ...)                            \
  BROOD_SERVER_ENGINE_OR_SKIP(var##_engine);                       \
  ::brood::testing::SessionServer var(*var##_engine, __VA_ARGS__); \
  ASSERT_TRUE(var.server.ok()) << var.server.error();              \
  ASSERT_FALSE(var.id.empty())

}  // namespace brood::testing
