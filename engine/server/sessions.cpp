#include "server/sessions.hpp"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "server/batches.hpp"

namespace brood::server {
namespace {

using std::chrono::steady_clock;

nlohmann::ordered_json LimitsJson(const Limits& l) {
  return {{"wall_ms", l.wall_ms}, {"cpu_ms", l.cpu_ms}, {"memory_mb", l.memory_mb},
          {"disk_mb", l.disk_mb}, {"pids", l.pids},     {"output_bytes", l.output_bytes},
          {"cpus", l.cpus}};
}

nlohmann::ordered_json UsageJson(const SessionUsage& u) {
  return {{"memory_bytes", u.memory_bytes},
          {"peak_memory_bytes", u.peak_memory_bytes},
          {"cpu_ms", u.cpu_ms},
          {"pids", u.pids},
          {"disk_bytes", u.disk_bytes}};
}

}  // namespace

std::string Rfc3339(int64_t ms) {
  const time_t secs = static_cast<time_t>(ms / 1000);
  struct tm t {};
  gmtime_r(&secs, &t);
  char out[64];  // room for any year gcc imagines
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                static_cast<int>(ms % 1000));
  return out;
}

SessionEntry::SessionEntry(std::string id, std::shared_ptr<Session> s, const SessionRequest& r,
                           net::thread_pool& pool)
    : id(std::move(id)),
      session(std::move(s)),
      limits(r.options.limits.Resolved()),
      network(r.options.network),
      root(r.options.root),
      idle_timeout_s(r.idle_timeout_s),
      ttl_s(r.ttl_s),
      created_ms(NowMs()),
      last_used_ms(created_ms),
      created(steady_clock::now()),
      last_used(created),
      files(net::make_strand(pool)) {}

std::string SessionEntry::ToJson() const {
  nlohmann::ordered_json j = {{"id", id},
                              {"state", live() ? "running" : "ended"},
                              {"ended_reason", nullptr},
                              {"created", Rfc3339(created_ms)},
                              {"last_used", Rfc3339(last_used_ms)},
                              {"idle_timeout_s", idle_timeout_s},
                              {"ttl_s", ttl_s},
                              {"network", network == Network::kHost ? "host" : "none"},
                              {"root", root},
                              {"execs", execs},
                              {"limits", LimitsJson(limits)},
                              {"usage", UsageJson(usage)}};
  if (!live()) j["ended_reason"] = ended_reason;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

SessionStore::Use::Use(SessionStore& store, std::shared_ptr<SessionEntry> entry)
    : busy_(store), entry_(std::move(entry)) {
  ++entry_->active;
  entry_->last_used = steady_clock::now();
  entry_->last_used_ms = NowMs();
}

SessionStore::Use::~Use() {
  --entry_->active;
  entry_->last_used = steady_clock::now();
  entry_->last_used_ms = NowMs();
}

SessionStore::SessionStore(net::io_context& io, Engine& engine, SessionStoreOptions options,
                           Metrics& metrics)
    : io_(io),
      engine_(engine),
      opts_(options),
      metrics_(metrics),
      pool_(static_cast<size_t>(options.pool_threads)) {}

SessionStore::~SessionStore() { CloseAll(); }

bool SessionStore::Reserve() {
  if (live_ + creating_ >= opts_.max_sessions) return false;
  ++creating_;
  return true;
}

std::shared_ptr<SessionEntry> SessionStore::Add(std::unique_ptr<Session> session,
                                                const SessionRequest& request,
                                                const SessionUsage& usage) {
  std::string id;
  do {
    id = "s-" + RandomId();
  } while (entries_.count(id));
  auto entry = std::make_shared<SessionEntry>(id, std::move(session), request, pool_);
  entry->usage = usage;
  entries_[id] = entry;
  ++live_;
  metrics_.SessionCreated();
  return entry;
}

std::shared_ptr<SessionEntry> SessionStore::Find(const std::string& id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : it->second;
}

SessionLook SessionLook::Of(Session& s) {
  SessionLook look;
  look.ended = s.EndedReason();
  if (look.ended.empty()) look.usage = s.Usage();
  return look;
}

void SessionStore::Apply(SessionEntry& e, const std::shared_ptr<Session>& s,
                         const SessionLook& look) {
  if (e.session != s) return;  // it ended meanwhile
  if (!look.ended.empty()) return End(e, look.ended);
  e.usage = look.usage;
}

std::vector<std::shared_ptr<SessionEntry>> SessionStore::All() const {
  std::vector<std::shared_ptr<SessionEntry>> all;
  for (const auto& [id, e] : entries_) all.push_back(e);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a->created_ms != b->created_ms ? a->created_ms < b->created_ms : a->id < b->id;
  });
  return all;
}

std::shared_ptr<Session> SessionStore::MarkEnded(SessionEntry& e, const std::string& reason) {
  if (!e.live()) return nullptr;
  e.ended_reason = reason;
  e.ended = steady_clock::now();
  e.usage.memory_bytes = e.usage.pids = e.usage.disk_bytes = 0;  // nothing of it is left
  --live_;
  metrics_.SessionEnded(reason);
  return std::move(e.session);
}

void SessionStore::End(SessionEntry& e, const std::string& reason) {
  std::shared_ptr<Session> s = MarkEnded(e, reason);
  if (!s) return;
  // Its final figures, then Close (which waits until every process of it is gone).
  net::post(pool_, [this, s, reason, entry = entries_.at(e.id)] {
    const SessionUsage last = s->Usage();
    s->Close(reason);
    net::post(io_, [entry, last] {
      entry->usage.peak_memory_bytes =
          std::max(entry->usage.peak_memory_bytes, last.peak_memory_bytes);
      entry->usage.cpu_ms = std::max(entry->usage.cpu_ms, last.cpu_ms);
    });
  });
}

void SessionStore::Forget(const std::string& id) { entries_.erase(id); }

void SessionStore::StartSweeping() {
  if (!sweep_) sweep_.emplace(io_);
  sweep_->expires_after(std::chrono::seconds(1));
  sweep_->async_wait([this](boost::system::error_code ec) {
    if (ec || !sweep_) return;
    Sweep();
  });
}

void SessionStore::StopSweeping() {
  if (sweep_) sweep_->cancel();
}

void SessionStore::Sweep() {
  // Whether a session ended by itself is the engine's to say, and saying it may take a while
  // (it tears down a session it finds over its limits): asked on the pool, the sweep goes on
  // when the answers are back, and the next one a second after.
  std::vector<std::shared_ptr<SessionEntry>> live;
  std::vector<std::shared_ptr<Session>> sessions;
  for (const auto& [id, e] : entries_) {
    if (!e->live()) continue;
    live.push_back(e);
    sessions.push_back(e->session);
  }
  net::post(pool_, [this, live = std::move(live), sessions = std::move(sessions)]() mutable {
    std::vector<std::string> ended;
    for (const auto& s : sessions) ended.push_back(s->EndedReason());
    net::post(io_, [this, live = std::move(live), sessions = std::move(sessions),
                    ended = std::move(ended)] {
      if (!sweep_) return;  // CloseAll came first
      const SteadyTime now = steady_clock::now();
      for (size_t i = 0; i < live.size(); ++i) {
        SessionEntry& e = *live[i];
        if (e.session != sessions[i]) continue;  // it ended meanwhile
        std::string reason = ended[i];
        // The ttl first: with idle_timeout_s == ttl_s both fall due together: it is the ttl.
        if (reason.empty() && now >= e.created + std::chrono::seconds(e.ttl_s)) reason = "ttl";
        if (reason.empty() && e.active == 0 &&
            now >= e.last_used + std::chrono::seconds(e.idle_timeout_s))
          reason = "idle";
        if (!reason.empty()) End(e, reason);
      }
      Prune();
      StartSweeping();
    });
  });
}

void SessionStore::Prune() {
  const SteadyTime now = steady_clock::now();
  std::vector<std::pair<SteadyTime, std::string>> ended;
  for (auto it = entries_.begin(); it != entries_.end();) {
    const SessionEntry& e = *it->second;
    if (!e.live() && now - e.ended > opts_.ended_record_ttl) {
      it = entries_.erase(it);
      continue;
    }
    if (!e.live()) ended.emplace_back(e.ended, e.id);
    ++it;
  }
  if (ended.size() <= opts_.max_ended_records) return;
  std::sort(ended.begin(), ended.end());
  for (size_t i = 0; i < ended.size() - opts_.max_ended_records; ++i)
    entries_.erase(ended[i].second);
}

void SessionStore::CancelExecs() {
  for (auto& [id, e] : entries_)
    if (e->live() && e->exec_running) e->session->CancelExec();
}

void SessionStore::CloseAll() {
  if (sweep_) {
    sweep_->cancel();
    sweep_.reset();
  }
  for (auto& [id, e] : entries_) {
    if (std::shared_ptr<Session> s = MarkEnded(*e, "shutdown"))
      net::post(pool_, [s] { s->Close("shutdown"); });
  }
  pool_.join();
}

}  // namespace brood::server
