// One HTTP/1.1 connection of `brood serve`, as a coroutine on the server's io thread (Boost.Beast
// on Boost.Asio): it reads a request within its deadlines, checks who sends it (Host, token),
// routes it to its handler (api.cpp) and answers, request after request while the client keeps
// the connection alive. Every wait is bounded but the two that wait for the engine (a job's
// result, a batch's next record), and those end when the client goes away.
#pragma once

// clang-format off
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange unincluded
#include <boost/asio.hpp>
#include <boost/beast.hpp>
// clang-format on

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>

#include "brood/engine.hpp"
#include "brood/serve.hpp"
#include "server/batches.hpp"
#include "server/metrics.hpp"
#include "server/request_job.hpp"
#include "server/sessions.hpp"

namespace brood::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Socket = net::generic::stream_protocol::socket;
using HeaderParser = http::request_parser<http::empty_body>;

inline std::string_view SV(beast::string_view s) { return {s.data(), s.size()}; }

// What every connection shares; lives on the io thread.
struct ServerContext {
  net::io_context& io;
  Engine& engine;
  const ServeOptions& opts;
  Metrics& metrics;
  BatchStore& batches;
  SessionStore& sessions;
  JobPolicy policy;
  SessionPolicy session_policy;
  std::set<std::string> hosts;  // what a TCP request's Host may name (lower case, no port)
  uint64_t run_group = 0;       // the engine group of POST /v1/run's jobs
  bool stopping = false;
  int runs_in_flight = 0;  // POST /v1/run jobs submitted and not answered
  std::unordered_set<class Connection*> connections;
};

// A result handed from an engine thread to the io thread: the waiting coroutine sleeps on
// `wake` (a timer that never expires by itself) until the result is there or the client left.
struct RunWait {
  explicit RunWait(net::io_context& io) : wake(std::make_shared<net::steady_timer>(io)) {
    wake->expires_at(net::steady_timer::time_point::max());
  }
  // The on_result of an engine call (Submit, Session::Start): posts the result to the io thread.
  static std::function<void(Result)> Deliver(net::io_context& io, std::shared_ptr<RunWait> w) {
    return [&io, w = std::move(w)](Result r) {
      net::post(io, [w, r = std::move(r)]() mutable {
        w->result = std::move(r);
        w->wake->cancel();
      });
    };
  }
  std::shared_ptr<net::steady_timer> wake;
  std::optional<Result> result;
};

// Whether the request's Content-Type is `type` (parameters such as charset aside).
bool HasMediaType(const HeaderParser& parser, std::string_view type);
// A Content-Length past `limit` (a chunked body is held to the parser's limit as it comes).
inline bool BodyTooLarge(const HeaderParser& parser, uint64_t limit) {
  return parser.content_length().value_or(0) > limit;
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerContext& ctx, Socket socket, bool tcp);
  ~Connection();
  // Serves the connection until it ends; `self` keeps it alive meanwhile.
  static net::awaitable<void> Start(std::shared_ptr<Connection> self) { co_await self->Serve(); }
  void Close();  // ends it at once (the server's shutdown)

 private:
  struct Request {
    HeaderParser* parser;                    // moved from once a handler reads the body
    std::string method, path, query, route;  // route: the pattern, for metrics
    unsigned version = 11;
    bool keep_alive = false;  // what the client asked for
    bool has_body = false;
  };
  // The deadline of the operation in progress; at it the socket's operations are cancelled.
  void Deadline(std::chrono::milliseconds d) { timer_.expires_after(d); }
  void NoDeadline() { timer_.expires_at(net::steady_timer::time_point::max()); }
  net::awaitable<void> Serve();
  static net::awaitable<void> Watchdog(std::shared_ptr<Connection> self);
  // Sets *gone and wakes `wake` when the peer closed or reset the connection; ends when its wait
  // is cancelled (socket_.cancel()).
  static net::awaitable<void> WatchPeer(std::shared_ptr<Connection> self,
                                        std::shared_ptr<net::steady_timer> wake,
                                        std::shared_ptr<bool> gone);

  net::awaitable<bool> Handle(HeaderParser& parser);  // false: close the connection
  std::optional<std::string> Refusal(const HeaderParser& parser, int* code, std::string* field);
  net::awaitable<bool> Reply(Request& req, int code, std::string body,
                             std::string content_type = "application/json",
                             std::vector<std::pair<std::string, std::string>> headers = {});
  net::awaitable<bool> Error(Request& req, int code, std::string_view error,
                             std::optional<std::string_view> field = {});
  net::awaitable<void> Continue(const HeaderParser& parser);           // 100 Continue if asked for
  net::awaitable<bool> NotAllowed(Request& req, const char* methods);  // 405 with Allow
  // The request's whole body, at most `limit` bytes; nullopt when it could not be read, once
  // the answer (413, 408, 400; none when the client left) went: then *keep is the handler's
  // return value.
  net::awaitable<std::optional<std::string>> ReadBody(Request& req, uint64_t limit, bool* keep);
  // The same for a JSON body of at most max_body_bytes: another Content-Type is 415 ("`what`
  // takes Content-Type: application/json").
  net::awaitable<std::optional<std::string>> ReadJsonBody(Request& req, std::string_view what,
                                                          bool* keep);
  // Waits for `wait`'s result with no deadline, watching the client meanwhile: when it goes
  // away, `cancel` runs (once) and the wait goes on for the result; body_read_ is then false
  // (nobody to answer).
  net::awaitable<void> AwaitResult(std::shared_ptr<RunWait> wait, std::function<void()> cancel);

  // The handlers (api.cpp).
  net::awaitable<bool> Run(Request& req);
  net::awaitable<bool> PostBatch(Request& req);
  net::awaitable<bool> GetBatch(Request& req, const std::string& id);
  net::awaitable<bool> ListBatches(Request& req);
  net::awaitable<bool> DeleteBatch(Request& req, const std::string& id);
  net::awaitable<bool> Results(Request& req, const std::string& id);
  net::awaitable<bool> ReadBodyError(Request& req, beast::error_code ec, uint64_t limit);
  // Sessions (session_api.cpp): /v1/sessions[/ID[/exec | /files/PATH]].
  net::awaitable<bool> SessionRoute(Request& req, const std::vector<std::string>& parts);
  net::awaitable<bool> CreateSession(Request& req);
  net::awaitable<bool> ListSessions(Request& req);
  net::awaitable<bool> GetSession(Request& req, std::shared_ptr<SessionEntry> entry);
  net::awaitable<bool> DeleteSession(Request& req, std::shared_ptr<SessionEntry> entry);
  net::awaitable<bool> Exec(Request& req, std::shared_ptr<SessionEntry> entry);
  net::awaitable<bool> PutFile(Request& req, std::shared_ptr<SessionEntry> entry, std::string path);
  net::awaitable<bool> GetFile(Request& req, std::shared_ptr<SessionEntry> entry, std::string path);
  // The answer to a failed session call.
  net::awaitable<bool> SessionFailed(Request& req, SessionEntry& entry, const SessionError& e);

  ServerContext& ctx_;
  Socket socket_;
  const bool tcp_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  bool timed_out_ = false;
  bool body_read_ = false;  // the request's body is consumed: the connection can go on
  // What a handler waiting for the engine sleeps on: Close wakes it.
  std::shared_ptr<net::steady_timer> waiting_;
};

// "a=1&b=2" -> the value of `key` (percent-decoding not needed for brood's parameters).
std::optional<std::string> QueryValue(const std::string& query, const std::string& key);

}  // namespace brood::server
