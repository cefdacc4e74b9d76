#include "server/connection.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <limits>

namespace brood::server {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The host of a Host header, without its port: "[::1]:8080" -> "[::1]", "a.b:80" -> "a.b".
std::string HostName(std::string_view host) {
  if (!host.empty() && host[0] == '[') {
    const size_t close = host.find(']');
    return Lower(host.substr(0, close == host.npos ? host.size() : close + 1));
  }
  return Lower(host.substr(0, host.find(':')));
}

// Compares in time that depends on the lengths only, never on where they differ.
bool SameSecret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

}  // namespace

std::optional<std::string> QueryValue(const std::string& query, const std::string& key) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t end = query.find('&', pos);
    if (end == std::string::npos) end = query.size();
    std::string_view part(query.data() + pos, end - pos);
    const size_t eq = part.find('=');
    if (part.substr(0, eq) == key) return std::string(eq == part.npos ? "" : part.substr(eq + 1));
    pos = end + 1;
  }
  return std::nullopt;
}

Connection::Connection(ServerContext& ctx, Socket socket, bool tcp)
    : ctx_(ctx), socket_(std::move(socket)), tcp_(tcp), timer_(ctx.io) {
  NoDeadline();
  ctx_.connections.insert(this);
  ctx_.metrics.ConnectionOpened();
}

Connection::~Connection() {
  ctx_.connections.erase(this);
  ctx_.metrics.ConnectionClosed();
}

void Connection::Close() {
  beast::error_code ec;
  socket_.shutdown(net::socket_base::shutdown_both, ec);
  socket_.close(ec);
  timer_.cancel();
  if (waiting_) waiting_->cancel();
}

net::awaitable<void> Connection::Watchdog(std::shared_ptr<Connection> self) {
  while (self->socket_.is_open()) {
    beast::error_code ec;
    co_await self->timer_.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (!self->socket_.is_open()) break;
    if (self->timer_.expiry() <= net::steady_timer::clock_type::now()) {
      self->timed_out_ = true;
      self->socket_.cancel(ec);
      self->NoDeadline();  // until the next operation sets one
    }
  }
}

net::awaitable<void> Connection::WatchPeer(std::shared_ptr<Connection> self,
                                           std::shared_ptr<net::steady_timer> wake,
                                           std::shared_ptr<bool> gone) {
  beast::error_code ec;
  co_await self->socket_.async_wait(net::socket_base::wait_read,
                                    net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return;  // cancelled: the wait is over
  char byte;
  const ssize_t n = recv(self->socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    *gone = true;  // closed or reset; a byte is the next request's (pipelined): left in place
    wake->cancel();
  }
}

net::awaitable<void> Connection::Serve() {
  net::co_spawn(ctx_.io, Watchdog(shared_from_this()), net::detached);
  bool first = true;
  while (socket_.is_open() && !ctx_.stopping) {
    HeaderParser parser;
    parser.header_limit(ctx_.opts.max_header_bytes);
    // None here: Beast checks a Content-Length against the limit while it reads the header
    // only, so a handler checks its own (BodyTooLarge) once the request may go on. (Not
    // boost::none: Boost 1.74 compares a length with it as with an optional, always greater.)
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    timed_out_ = false;
    beast::error_code ec;
    if (!first && buffer_.size() == 0) {  // kept alive: idle until the next request begins
      Deadline(std::chrono::milliseconds(ctx_.opts.idle_timeout_ms));
      co_await socket_.async_wait(net::socket_base::wait_read,
                                  net::redirect_error(net::use_awaitable, ec));
      if (ec || timed_out_) break;  // idle too long, or closed by the server's shutdown
    }
    first = false;
    Deadline(std::chrono::milliseconds(ctx_.opts.header_timeout_ms));
    co_await http::async_read_header(socket_, buffer_, parser,
                                     net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      Request bad{&parser, "", "", "", "(malformed)"};
      body_read_ = false;
      if (ec == http::error::header_limit) {
        co_await Error(bad, 431,
                       "the request's headers are larger than " +
                           std::to_string(ctx_.opts.max_header_bytes) + " bytes");
      } else if (timed_out_ && buffer_.size() > 0) {
        co_await Error(bad, 408, "the request's headers did not come in time");
      } else if (!timed_out_ && ec != http::error::end_of_stream && ec != net::error::eof &&
                 ec != net::error::connection_reset && ec != net::error::operation_aborted) {
        co_await Error(bad, 400, "malformed request: " + ec.message());
      }
      break;
    }
    if (!co_await Handle(parser)) break;
  }
  Close();
}

// Why the request may not go on (and its code), or nothing.
std::optional<std::string> Connection::Refusal(const HeaderParser& parser, int* code,
                                               std::string* field) {
  const auto& h = parser.get();
  if (ctx_.stopping) {
    *code = 503;
    return "the server is stopping";
  }
  if (tcp_) {  // a unix socket is reached only by local processes that can open it
    const auto host = h.find(http::field::host);
    if (host == h.end()) {
      *code = 400;
      *field = "Host";
      return "the request has no Host header";
    }
    if (!ctx_.hosts.count(HostName(SV(host->value())))) {
      *code = 403;
      *field = "Host";
      return "Host " + std::string(SV(host->value())) +
             " is not this server's (a page in a browser must not drive the API; a proxy's name "
             "is allowed with --allow-host)";
    }
  }
  const std::string target(h.target());
  if (!ctx_.opts.token.empty() && target.substr(0, target.find('?')) != "/healthz") {
    const auto auth = h.find(http::field::authorization);
    const std::string_view given = auth == h.end() ? std::string_view() : SV(auth->value());
    constexpr std::string_view kBearer = "Bearer ";
    if (given.substr(0, kBearer.size()) != kBearer ||
        !SameSecret(given.substr(kBearer.size()), ctx_.opts.token)) {
      *code = 401;
      *field = "Authorization";
      return auth == h.end() ? "the request needs Authorization: Bearer <token>"
                             : "the token is not the server's";
    }
  }
  return std::nullopt;
}

net::awaitable<void> Connection::Continue(const HeaderParser& parser) {
  const auto expect = parser.get().find(http::field::expect);
  if (expect == parser.get().end() || Lower(SV(expect->value())) != "100-continue") co_return;
  http::response<http::empty_body> res{http::status::continue_, parser.get().version()};
  Deadline(std::chrono::milliseconds(ctx_.opts.io_timeout_ms));
  beast::error_code ec;
  co_await http::async_write(socket_, res, net::redirect_error(net::use_awaitable, ec));
}

net::awaitable<bool> Connection::Handle(HeaderParser& parser) {
  const auto& h = parser.get();
  const std::string target(h.target());
  const size_t q = target.find('?');
  Request req{&parser,
              std::string(h.method_string()),
              target.substr(0, q),
              q == std::string::npos ? "" : target.substr(q + 1),
              "(other)",
              h.version(),
              parser.keep_alive(),
              parser.content_length().value_or(0) > 0 || parser.chunked()};
  const bool has_body = req.has_body;
  body_read_ = !has_body;
  int code = 0;
  std::string field;
  if (auto refused = Refusal(parser, &code, &field)) {
    std::optional<std::string_view> f;
    if (!field.empty()) f = field;
    co_return co_await Error(req, code, *refused, f);
  }

  // The routes: {method -> handler} for each path pattern.
  std::vector<std::string> parts;
  for (size_t pos = 1; pos <= req.path.size();) {
    size_t end = req.path.find('/', pos);
    if (end == std::string::npos) end = req.path.size();
    parts.push_back(req.path.substr(pos, end - pos));
    pos = end + 1;
  }
  auto no_body = [&]() -> std::optional<std::string> {
    if (has_body) return "a " + req.method + " request has no body";
    return std::nullopt;
  };
  const auto n = parts.size();
  if (n == 1 && (parts[0] == "healthz" || parts[0] == "readyz" || parts[0] == "metrics")) {
    req.route = "/" + parts[0];
    if (req.method != "GET") co_return co_await NotAllowed(req, "GET");
    if (auto e = no_body()) co_return co_await Error(req, 400, *e);
    if (parts[0] == "healthz") co_return co_await Reply(req, 200, R"({"status":"ok"})");
    if (parts[0] == "readyz")
      co_return co_await Reply(
          req, ctx_.stopping ? 503 : 200,
          ctx_.stopping ? R"({"status":"stopping"})" : R"({"status":"ready"})");
    co_return co_await Reply(req, 200,
                             ctx_.metrics.Text(ctx_.engine.Stats(), ctx_.batches.CountByState()),
                             "text/plain; version=0.0.4; charset=utf-8");
  }
  if (n == 2 && parts[0] == "v1" && parts[1] == "run") {
    req.route = "/v1/run";
    if (req.method != "POST") co_return co_await NotAllowed(req, "POST");
    co_return co_await Run(req);
  }
  if (n >= 2 && parts[0] == "v1" && parts[1] == "sessions")
    co_return co_await SessionRoute(req, parts);
  if (n >= 2 && parts[0] == "v1" && parts[1] == "batches") {
    if (n == 2) {
      req.route = "/v1/batches";
      if (req.method == "POST") co_return co_await PostBatch(req);
      if (req.method != "GET") co_return co_await NotAllowed(req, "GET, POST");
      if (auto e = no_body()) co_return co_await Error(req, 400, *e);
      co_return co_await ListBatches(req);
    }
    if (n == 3) {
      req.route = "/v1/batches/{id}";
      if (req.method != "GET" && req.method != "DELETE")
        co_return co_await NotAllowed(req, "GET, DELETE");
      if (auto e = no_body()) co_return co_await Error(req, 400, *e);
      if (req.method == "GET") co_return co_await GetBatch(req, parts[2]);
      co_return co_await DeleteBatch(req, parts[2]);
    }
    if (n == 4 && parts[3] == "results") {
      req.route = "/v1/batches/{id}/results";
      if (req.method != "GET") co_return co_await NotAllowed(req, "GET");
      if (auto e = no_body()) co_return co_await Error(req, 400, *e);
      co_return co_await Results(req, parts[2]);
    }
  }
  co_return co_await Error(req, 404, "no such route: " + req.path);
}

net::awaitable<bool> Connection::NotAllowed(Request& req, const char* methods) {
  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("Allow", methods);
  co_return co_await Reply(req, 405, ErrorBody("method " + req.method + " is not allowed here"),
                           "application/json", std::move(headers));
}

net::awaitable<bool> Connection::Reply(Request& req, int code, std::string body,
                                       std::string content_type,
                                       std::vector<std::pair<std::string, std::string>> headers) {
  ctx_.metrics.ObserveRequest(req.method.empty() ? "(none)" : req.method, req.route, code);
  http::response<http::string_body> res{static_cast<http::status>(code),
                                        req.version ? req.version : 11};
  res.set(http::field::server, "brood");
  if (!body.empty() || (code == 200 && content_type != "application/json"))
    res.set(http::field::content_type, content_type);  // an empty file's too
  for (auto& [name, value] : headers) res.set(name, value);
  res.keep_alive(body_read_ && req.keep_alive && !ctx_.stopping && code != 408 && code != 413 &&
                 code != 431);
  res.body() = std::move(body);
  if (!res.body().empty() && content_type.starts_with("application/json")) res.body() += "\n";
  res.prepare_payload();
  Deadline(std::chrono::milliseconds(ctx_.opts.io_timeout_ms));
  beast::error_code ec;
  co_await http::async_write(socket_, res, net::redirect_error(net::use_awaitable, ec));
  co_return !ec && res.keep_alive();
}

net::awaitable<bool> Connection::Error(Request& req, int code, std::string_view error,
                                       std::optional<std::string_view> field) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (code == 401) headers.emplace_back("WWW-Authenticate", "Bearer");
  if (code == 429 || code == 503) headers.emplace_back("Retry-After", "1");
  co_return co_await Reply(req, code, ErrorBody(error, field), "application/json",
                           std::move(headers));
}

}  // namespace brood::server
