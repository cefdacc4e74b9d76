#include "session/registry.hpp"

#include <algorithm>

namespace brood::session {

std::unique_ptr<Session> Registry::Create(const SessionOptions& options, SessionError* error) {
  Seat seat;
  uint64_t serial = 0;
  {
    std::lock_guard lock(mu_);
    if (closed_) {
      *error = {ErrorKind::kCancelled, "the engine is stopping", false, 0};
      return nullptr;
    }
    auto free = std::find(used_.begin(), used_.end(), false);
    if (free == used_.end()) {
      *error = {ErrorKind::kResourceExhausted,
                std::to_string(used_.size()) + " sessions are open already (max_sessions)", false,
                0};
      return nullptr;
    }
    *free = true;
    seat.index = static_cast<int>(free - used_.begin());
    serial = ++serial_;
  }
  const auto i = static_cast<uint32_t>(seat.index);
  seat.host_uid = config_.same_uid_for_all ? config_.uid_base : config_.uid_base + i;
  seat.host_gid = config_.same_uid_for_all ? config_.gid_base : config_.gid_base + i;
  // A name of its own per session, not per seat: a group a failed teardown could not remove
  // (out of fds, say) must not make the seat unusable.
  seat.group_name =
      config_.group_prefix + std::to_string(seat.index) + "." + std::to_string(serial);
  // The session's end gives the seat back, whenever it comes (the registry lives until then).
  auto self = shared_from_this();
  std::shared_ptr<SessionImpl*> slot = std::make_shared<SessionImpl*>(nullptr);
  auto s = SessionImpl::Create(
      config_.host, seat, options, [self, slot, index = seat.index] { self->Gone(*slot, index); },
      error);
  if (!s) return nullptr;  // its on_gone gave the seat back
  *slot = s.get();
  std::lock_guard lock(mu_);
  if (closed_) {
    // CloseAll ran meanwhile: this one closes too.
    s->Close("engine stopped");
  }
  live_.insert(s.get());
  return s;
}

void Registry::Gone(SessionImpl* s, int seat) {
  std::lock_guard lock(mu_);
  if (s) live_.erase(s);
  used_[static_cast<size_t>(seat)] = false;
}

int Registry::Live() {
  std::lock_guard lock(mu_);
  return static_cast<int>(live_.size());
}

void Registry::CloseAll() {
  // Under the lock: a session being destroyed meanwhile waits in Gone, so it is still whole.
  std::lock_guard lock(mu_);
  closed_ = true;
  for (SessionImpl* s : live_) s->Close("engine stopped");
}

}  // namespace brood::session
