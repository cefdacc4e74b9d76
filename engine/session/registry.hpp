// The engine's sessions: which sandbox users (seats) are taken, and every live session, so that
// the engine can close them all before it goes. Shared with the sessions themselves, whose end
// gives their seat back even after the engine is gone.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "session/session.hpp"

namespace brood::session {

struct RegistryConfig {
  Host host;
  uint32_t uid_base = 0, gid_base = 0;  // seat i's sandbox user: uid_base + i (root) ...
  bool same_uid_for_all = false;        // ... or this one for every seat (unprivileged)
  int max_sessions = 16;
  std::string group_prefix;  // a session's cgroup: <prefix><seat>.<serial>
};

class Registry : public std::enable_shared_from_this<Registry> {
 public:
  explicit Registry(RegistryConfig config)
      : config_(std::move(config)), used_(static_cast<size_t>(config_.max_sessions)) {}
  // A new session in a free seat: blocks while it starts. Null and *error past max_sessions
  // (kResourceExhausted), after CloseAll (kCancelled), or when it cannot start.
  std::unique_ptr<Session> Create(const SessionOptions& options, SessionError* error);
  int Live();
  // Closes every live session ("engine stopped"); later Creates fail. Blocks.
  void CloseAll();

 private:
  void Gone(SessionImpl* s, int seat);
  RegistryConfig config_;
  std::mutex mu_;
  std::vector<bool> used_;
  std::set<SessionImpl*> live_;
  bool closed_ = false;
  uint64_t serial_ = 0;  // under mu_
};

}  // namespace brood::session
