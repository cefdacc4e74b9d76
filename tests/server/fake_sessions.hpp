// An Engine whose sessions are fakes (jobs go to the real engine): for the tests of how the
// server answers what a real session rarely does on demand (a full disk, a busy engine, a
// session that ends meanwhile, a host without sessions). A fake session keeps its files in
// memory; its commands do not run: `cmd` ["hang"] waits for CancelExec or Close, ["oom"] ends
// the session ("memory"), anything else succeeds at once, its stdout the argv joined by spaces.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "brood/engine.hpp"

namespace brood::testing {

// What a test sees of one fake session, and what it makes it do.
struct FakeSessionState {
  std::mutex mu;
  SessionOptions options;
  std::map<std::string, std::string> files;
  std::string ended;                            // EndedReason()
  std::function<void(Result)> running;          // a "hang" exec's on_result
  std::optional<SessionError> next_file_error;  // the next file call fails so
  int closes = 0;
};

class FakeSessionEngine : public Engine {
 public:
  explicit FakeSessionEngine(Engine& real) : real_(real) {}

  // The next CreateSession fails so.
  void FailNextCreate(SessionError e) {
    std::lock_guard lock(mu_);
    create_error_ = std::move(e);
  }
  // Every session made so far, oldest first.
  std::vector<std::shared_ptr<FakeSessionState>> sessions() {
    std::lock_guard lock(mu_);
    return made_;
  }

  std::unique_ptr<Session> CreateSession(const SessionOptions& options,
                                         SessionError* error) override;
  int Sessions() override;

  Result Run(const Job& job) override { return real_.Run(job); }
  Submission Submit(Job job, std::function<void(Result)> on_result,
                    SubmitOptions options) override {
    return real_.Submit(std::move(job), std::move(on_result), options);
  }
  uint64_t NewGroup() override { return real_.NewGroup(); }
  void Cancel(JobHandle job) override { real_.Cancel(job); }
  void CancelGroup(uint64_t group) override { real_.CancelGroup(group); }
  void CancelAll() override { real_.CancelAll(); }
  EngineInfo Info() const override { return real_.Info(); }
  EngineStats Stats() override { return real_.Stats(); }

 private:
  Engine& real_;
  std::mutex mu_;
  std::optional<SessionError> create_error_;
  std::vector<std::shared_ptr<FakeSessionState>> made_;
};

}  // namespace brood::testing
