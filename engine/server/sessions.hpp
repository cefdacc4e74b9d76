// The server's sessions (docs/sessions.md): each an engine Session known by an unguessable id,
// with its idle and ttl deadlines swept every second, and the records of ended ones kept a
// while (the last 1,000, for an hour) so that a client learns why its session ended. Sessions
// are not persisted: a restarted server has none.
//
// Threads: everything here runs on the server's io thread; the engine's blocking calls (create,
// files, usage, close) run on the store's thread pool, through Offload (offload.hpp).
#pragma once

// clang-format off
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange unincluded
#include <boost/asio.hpp>
// clang-format on

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "brood/engine.hpp"
#include "server/metrics.hpp"
#include "server/session_request.hpp"

namespace brood::server {

namespace net = boost::asio;
using SteadyTime = std::chrono::steady_clock::time_point;

// One session, live or ended. Its fields change on the io thread only.
struct SessionEntry {
  SessionEntry(std::string id, std::shared_ptr<Session> session, const SessionRequest& request,
               net::thread_pool& pool);
  // The session object of GET /v1/sessions/ID (schema/serve/session.schema.json).
  std::string ToJson() const;
  bool live() const { return ended_reason.empty(); }

  const std::string id;
  std::shared_ptr<Session> session;  // null once ended (closed then, on the pool)
  const Limits limits;               // resolved: cpu_ms is never 0
  const Network network;
  const std::string root;
  const int64_t idle_timeout_s, ttl_s;
  const int64_t created_ms;
  int64_t last_used_ms;
  const SteadyTime created;
  SteadyTime last_used;
  uint64_t execs = 0;         // execs started: the next one's result has id execs + 1
  bool exec_running = false;  // one at a time
  int active = 0;             // requests using it now (an exec, a file call): never idle then
  SessionUsage usage;         // as last read; for an ended one, its final figures
  std::string ended_reason;   // "" while live
  SteadyTime ended;
  // Its file calls, one at a time (the engine serves one request of a session at a time).
  net::strand<net::thread_pool::executor_type> files;
};

struct SessionStoreOptions {
  int max_sessions = 16;
  size_t max_ended_records = 1000;
  std::chrono::seconds ended_record_ttl{3600};
  int pool_threads = 4;
};

// What the engine says of a live session: whether it ended by itself, else its usage. Of()
// blocks (it may tear down a session it finds over its limits): on the pool.
struct SessionLook {
  std::string ended;
  SessionUsage usage;
  static SessionLook Of(Session& s);
};

class SessionStore {
 public:
  SessionStore(net::io_context& io, Engine& engine, SessionStoreOptions options, Metrics& metrics);
  ~SessionStore();  // CloseAll()

  Engine& engine() { return engine_; }
  net::io_context& io() { return io_; }
  net::thread_pool::executor_type pool() { return pool_.get_executor(); }

  // A place for one more session (live ones and those being created), or false past
  // max_sessions. Each true is followed by one Unreserve, once the creation is over.
  bool Reserve();
  void Unreserve() { --creating_; }
  int live() const { return live_; }
  std::shared_ptr<SessionEntry> Add(std::unique_ptr<Session> session, const SessionRequest& request,
                                    const SessionUsage& usage);

  // Live or ended; null when unknown.
  std::shared_ptr<SessionEntry> Find(const std::string& id) const;
  // What the engine said of `s` (the entry's session when asked): it ended (End), or its usage.
  void Apply(SessionEntry& entry, const std::shared_ptr<Session>& s, const SessionLook& look);
  std::vector<std::shared_ptr<SessionEntry>> All() const;  // oldest first
  // Records `reason` (if it is still live) and returns the session to Close with it; the
  // caller closes it on the pool (or lets End do it). Null when it had ended already.
  std::shared_ptr<Session> MarkEnded(SessionEntry& entry, const std::string& reason);
  void End(SessionEntry& entry, const std::string& reason);  // MarkEnded, then Close on the pool
  void Forget(const std::string& id);

  // Every second: sessions that ended by themselves (memory, pids, sandbox_error), idle or past
  // their ttl end; old records of ended ones go.
  void StartSweeping();
  void StopSweeping();
  // Engine calls in flight on the pool and execs running: what shutdown waits for.
  int busy() const { return busy_; }
  // Counts one of them while it lives.
  class Busy {
   public:
    explicit Busy(SessionStore& store) : store_(store) { ++store_.busy_; }
    ~Busy() { --store_.busy_; }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

   private:
    SessionStore& store_;
  };
  // Holds a session busy and active (never idle) for a request's life (an exec, a file call);
  // its start and its end count as uses.
  class Use {
   public:
    Use(SessionStore& store, std::shared_ptr<SessionEntry> entry);
    ~Use();
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;

   private:
    Busy busy_;
    std::shared_ptr<SessionEntry> entry_;
  };
  // Shutdown, past the grace: ends every running exec (their results come back cancelled).
  void CancelExecs();
  // Closes every live session and joins the pool. Blocks; after the io loop has ended.
  void CloseAll();

 private:
  void Sweep();  // StartSweeping again once done
  void Prune();  // ended records past the bounds

  net::io_context& io_;
  Engine& engine_;
  const SessionStoreOptions opts_;
  Metrics& metrics_;
  net::thread_pool pool_;
  std::optional<net::steady_timer> sweep_;  // gone once CloseAll ran (before the io_context)
  std::unordered_map<std::string, std::shared_ptr<SessionEntry>> entries_;
  int live_ = 0, creating_ = 0, busy_ = 0;
};

// Milliseconds since the epoch as RFC 3339 UTC: "2026-01-02T03:04:05.678Z".
std::string Rfc3339(int64_t ms);

}  // namespace brood::server
