#include "server/server_fixture.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "support/procs.hpp"
#include "support/schema.hpp"

namespace brood::testing {
namespace {

std::unique_ptr<Engine> engine;
std::string engine_error;

class EngineEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    EngineOptions o;
    o.slots = 2;
    o.allow_no_cgroups = geteuid() != 0;  // an ordinary user: rlimits stand in for cgroups
    engine = Engine::Create(o, &engine_error);
  }
  void TearDown() override { engine.reset(); }
};

[[maybe_unused]] const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new EngineEnvironment);

}  // namespace

Engine* ServerEngine() { return engine.get(); }
const std::string& ServerEngineError() { return engine_error; }

TempDir::TempDir() {
  char dir[] = "/tmp/brood-serve-test-XXXXXX";
  if (mkdtemp(dir)) path_ = dir;
  EXPECT_FALSE(path_.empty()) << "mkdtemp failed";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

ServeOptions TestServeOptions() {
  ServeOptions o;
  o.listen = "127.0.0.1:0";
  return o;
}

TestServer::TestServer(Engine& engine, ServeOptions options) {
  if (options.state_dir.empty()) {
    own_dir_ = std::make_unique<TempDir>();
    options.state_dir = own_dir_->path();
  }
  server_ = Server::Create(engine, std::move(options), log_, &error_);
  if (server_) runner_ = std::thread([this] { run_code_ = server_->Run(); });
}

TestServer::~TestServer() {
  if (runner_.joinable()) Stop(0);
}

int TestServer::Stop(int grace_ms) {
  if (!runner_.joinable()) return run_code_;
  server_->Stop(grace_ms);
  runner_.join();
  server_.reset();  // releases the state dir for the next server
  return run_code_;
}

std::string TestServer::log() const { return log_.str(); }

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::optional<double> MetricValue(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ')
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
  }
  return std::nullopt;
}

std::string CmdJobJson(const std::string& id, const std::vector<std::string>& argv) {
  return nlohmann::json{{"id", id}, {"cmd", argv}}.dump();
}

std::string ShellJobJson(const std::string& id, const std::string& shell) {
  return nlohmann::json{{"id", id}, {"shell", shell}}.dump();
}

std::string SleeperJson(const std::string& id) {
  return nlohmann::json{{"id", id}, {"cmd", {"/bin/sleep", "30"}}, {"limits", {{"wall_ms", 60000}}}}
      .dump();
}

int SleepProcesses(int root) {
  int n = 0;
  for (int pid : DescendantsOf(root)) n += Comm(pid) == "sleep";
  return n;
}

void PostRunNoWait(HttpClient& c, const std::string& job) {
  ASSERT_TRUE(c.connected()) << c.error();
  ASSERT_TRUE(c.SendRaw("POST /v1/run HTTP/1.1\r\nHost: " + c.host_header() +
                        "\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(job.size()) + "\r\n\r\n" + job));
}

nlohmann::json GetJson(const std::string& address, const std::string& target) {
  HttpClient c(address);
  HttpResponse r = c.Get(target);
  EXPECT_EQ(r.status, 200) << target << ": " << r.error << r.body.substr(0, 400);
  return r.json();
}

std::vector<nlohmann::json> ReadAllResults(const std::string& address, const std::string& id,
                                           uint64_t after) {
  HttpClient c(address);
  HttpResponse head;
  const std::string target = "/v1/batches/" + id + "/results?after=" + std::to_string(after);
  std::vector<nlohmann::json> out;
  if (!c.StartStream({.target = target}, &head) || head.status != 200) {
    ADD_FAILURE() << target << ": " << head.status << " " << head.error;
    return out;
  }
  EXPECT_EQ(head.header("content-type"), "application/x-ndjson");
  std::string text;
  while (auto piece = c.ReadBodySome()) {
    text += *piece;
    for (const std::string& line : TakeLines(&text)) {
      out.push_back(nlohmann::json::parse(line, nullptr, false));
      EXPECT_TRUE(out.back().is_object()) << "not a record: " << line;
    }
  }
  EXPECT_TRUE(c.body_done()) << target << ": the stream broke: " << c.body_error();
  EXPECT_EQ(text, "") << "a torn last line";
  return out;
}

void ExpectError(const HttpResponse& r, int code, const std::optional<std::string>& field) {
  EXPECT_EQ(r.status, code) << r.error << r.body.substr(0, 400);
  EXPECT_EQ(r.header("content-type"), "application/json") << r.body;
  const auto j = r.json();
  ASSERT_TRUE(j.is_object()) << "not a JSON object: " << r.body.substr(0, 400);
  ASSERT_TRUE(j.contains("error") && j["error"].is_string()) << r.body;
  EXPECT_FALSE(j["error"].get<std::string>().empty()) << r.body;
  ASSERT_TRUE(j.contains("field")) << r.body;
  if (field)
    EXPECT_EQ(j["field"], *field) << r.body;
  else
    EXPECT_TRUE(j["field"].is_null()) << r.body;
}

void ExpectStillServes(const std::string& address, const std::string& token) {
  HttpClient c(address);
  ASSERT_TRUE(c.connected()) << c.error();
  HttpResponse r =
      c.Post("/v1/run", "application/json", CmdJobJson("alive", {"/bin/echo", "alive"}), token);
  ASSERT_EQ(r.status, 200) << r.error << r.body.substr(0, 400);
  const auto j = r.json();
  EXPECT_EQ(j.value("id", ""), "alive") << r.body;
  EXPECT_EQ(j.value("status", ""), "ok") << r.body;
  EXPECT_EQ(j.value("stdout", ""), "alive\n") << r.body;
}

std::string PostBatch(const std::string& address, const std::string& lines) {
  HttpClient c(address);
  HttpResponse r = c.Post("/v1/batches", "application/x-ndjson", lines);
  EXPECT_EQ(r.status, 201) << r.error << r.body.substr(0, 400);
  const auto j = r.json();
  if (r.status != 201 || !j.is_object() || !j.contains("id")) return "";
  EXPECT_EQ(r.header("location"), "/v1/batches/" + j["id"].get<std::string>());
  return j["id"];
}

std::string CreateSession(const std::string& address, const std::string& body) {
  HttpClient c(address);
  HttpResponse r = c.Post("/v1/sessions", "application/json", body);
  EXPECT_EQ(r.status, 201) << r.error << r.body.substr(0, 400);
  if (r.status != 201) return "";
  EXPECT_TRUE(ValidAgainst("serve/session.schema.json", r.body));
  const std::string id = r.json().value("id", "");
  EXPECT_EQ(r.header("location"), "/v1/sessions/" + id);
  return id;
}

HttpResponse ExecIn(HttpClient& c, const std::string& id, const nlohmann::json& exec) {
  return c.Post("/v1/sessions/" + id + "/exec", "application/json", exec.dump());
}

nlohmann::json Exec(const std::string& address, const std::string& id, const nlohmann::json& exec) {
  HttpClient c(address);
  HttpResponse r = ExecIn(c, id, exec);
  EXPECT_EQ(r.status, 200) << exec.dump() << ": " << r.error << r.body.substr(0, 400);
  if (r.status == 200) {
    EXPECT_TRUE(ValidResult(r.body.substr(0, r.body.find('\n'))));
  }
  return r.json();
}

HttpResponse PutFile(HttpClient& c, const std::string& id, const std::string& path,
                     const std::string& bytes) {
  return c.Send({.method = "PUT",
                 .target = "/v1/sessions/" + id + "/files/" + path,
                 .body = bytes,
                 .content_type = "application/octet-stream"});
}

HttpResponse GetFile(HttpClient& c, const std::string& id, const std::string& path) {
  return c.Get("/v1/sessions/" + id + "/files/" + path);
}

HttpResponse GetSession(const std::string& address, const std::string& id) {
  HttpClient c(address);
  HttpResponse r = c.Get("/v1/sessions/" + id);
  if (r.status == 200) {
    EXPECT_TRUE(ValidAgainst("serve/session.schema.json", r.body));
  }
  return r;
}

void ExecNoWait(HttpClient& c, const std::string& id, const nlohmann::json& exec) {
  const std::string body = exec.dump();
  ASSERT_TRUE(c.connected()) << c.error();
  ASSERT_TRUE(c.SendRaw("POST /v1/sessions/" + id + "/exec HTTP/1.1\r\nHost: " + c.host_header() +
                        "\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body));
}

SessionServer::SessionServer(Engine& engine, const std::string& request, ServeOptions options)
    : engine(engine), server(engine, std::move(options)) {
  if (server.ok()) id = CreateSession(server.address(), request);
}

nlohmann::json WaitUntilEnded(const std::string& address, const std::string& id,
                              std::chrono::milliseconds within) {
  nlohmann::json last;
  const bool ended = WaitFor(
      [&] {
        HttpResponse r = GetSession(address, id);
        last = r.json();
        return r.status == 200 && last.value("state", "") == "ended";
      },
      within);
  EXPECT_TRUE(ended) << "session " << id << " did not end: " << last.dump();
  return last;
}

}  // namespace brood::testing
