#include "server/fake_sessions.hpp"

namespace brood::testing {
namespace {

Result Cancelled() {
  Result r;
  r.limits = r.limits.Resolved();
  r.status = TaskStatus::kSandboxError;
  r.error = "cancelled";
  r.error_kind = ErrorKind::kCancelled;
  return r;
}

class FakeSession : public Session {
 public:
  explicit FakeSession(std::shared_ptr<FakeSessionState> s) : s_(std::move(s)) {}
  ~FakeSession() override { Close("closed"); }

  bool Start(ExecOptions exec, std::function<void(Result)> on_result,
             SessionError* error) override {
    std::unique_lock lock(s_->mu);
    if (!s_->ended.empty()) return Fail(error, ErrorKind::kCancelled, "the session ended");
    if (s_->running) return Fail(error, ErrorKind::kUnavailable, "a command is running");
    if (exec.argv.empty()) return Fail(error, ErrorKind::kInvalidArgument, "no command");
    if (exec.argv[0] == "hang") {
      s_->running = std::move(on_result);
      return true;
    }
    Result r;
    r.status = TaskStatus::kOk;
    r.exit_code = 0;
    r.limits = s_->options.limits.Resolved();
    for (const std::string& arg : exec.argv)
      r.stdout_data += (r.stdout_data.empty() ? "" : " ") + arg;
    if (exec.argv[0] == "oom") {
      r.status = TaskStatus::kMemoryLimit;
      r.exit_code.reset();
      s_->ended = "memory";
    }
    lock.unlock();
    on_result(std::move(r));
    return true;
  }

  void CancelExec() override {
    std::function<void(Result)> running;
    {
      std::lock_guard lock(s_->mu);
      running = std::move(s_->running);
      s_->running = nullptr;
    }
    if (running) running(Cancelled());
  }

  bool WriteFile(const std::string& path, const std::string& bytes, SessionError* error) override {
    std::lock_guard lock(s_->mu);
    if (FileFails(error)) return false;
    s_->files[path] = bytes;
    return true;
  }

  bool ReadFile(const std::string& path, uint64_t max_bytes, std::string* bytes,
                SessionError* error) override {
    std::lock_guard lock(s_->mu);
    if (FileFails(error)) return false;
    auto it = s_->files.find(path);
    if (it == s_->files.end()) {
      *error = {ErrorKind::kInvalidArgument, path + ": no such file", true};
      return false;
    }
    if (it->second.size() > max_bytes)
      return Fail(error, ErrorKind::kResourceExhausted, path + " is larger than the cap");
    *bytes = it->second;
    return true;
  }

  SessionUsage Usage() override {
    std::lock_guard lock(s_->mu);
    SessionUsage u{.memory_bytes = 1 << 20, .peak_memory_bytes = 2 << 20, .cpu_ms = 1.5, .pids = 1};
    for (const auto& [path, bytes] : s_->files) u.disk_bytes += bytes.size();
    return u;
  }

  std::string EndedReason() override {
    std::lock_guard lock(s_->mu);
    return s_->ended;
  }
  std::string EndedReasonSeen() override { return EndedReason(); }

  void Close(const std::string& reason) override {
    {
      std::lock_guard lock(s_->mu);
      if (s_->ended.empty()) s_->ended = reason;
      ++s_->closes;
    }
    CancelExec();
  }

 private:
  static bool Fail(SessionError* error, ErrorKind kind, std::string message) {
    *error = {kind, std::move(message)};
    return false;
  }
  // Under s_->mu.
  bool FileFails(SessionError* error) {
    if (!s_->ended.empty()) return Fail(error, ErrorKind::kCancelled, "the session ended");
    if (!s_->next_file_error) return false;
    *error = *s_->next_file_error;
    s_->next_file_error.reset();
    return true;
  }

  std::shared_ptr<FakeSessionState> s_;
};

}  // namespace

std::unique_ptr<Session> FakeSessionEngine::CreateSession(const SessionOptions& options,
                                                          SessionError* error) {
  std::lock_guard lock(mu_);
  if (create_error_) {
    *error = *create_error_;
    create_error_.reset();
    return nullptr;
  }
  auto state = std::make_shared<FakeSessionState>();
  state->options = options;
  state->files = options.files;
  made_.push_back(state);
  return std::make_unique<FakeSession>(std::move(state));
}

int FakeSessionEngine::Sessions() {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& s : made_) {
    std::lock_guard session_lock(s->mu);
    n += s->closes == 0;
  }
  return n;
}

}  // namespace brood::testing
