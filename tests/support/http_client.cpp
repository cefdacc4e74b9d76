#include "support/http_client.hpp"

// clang-format off
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange unincluded
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
// clang-format on

#include <poll.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

namespace brood::testing {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

// A TCP socket whose synchronous reads and writes give up (net::error::timed_out) when the
// socket is not ready by `deadline`: a SyncReadStream and SyncWriteStream for Beast.
class TimedSocket {
 public:
  explicit TimedSocket(net::io_context& io) : socket(io) {}

  template <class Buffers>
  size_t read_some(const Buffers& buffers, beast::error_code& ec) {
    if (!Ready(POLLIN, ec)) return 0;
    return socket.read_some(buffers, ec);
  }
  template <class Buffers>
  size_t read_some(const Buffers& buffers) {
    beast::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }
  template <class Buffers>
  size_t write_some(const Buffers& buffers, beast::error_code& ec) {
    if (!Ready(POLLOUT, ec)) return 0;
    return socket.write_some(buffers, ec);
  }
  template <class Buffers>
  size_t write_some(const Buffers& buffers) {
    beast::error_code ec;
    const size_t n = write_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

  net::ip::tcp::socket socket;
  Clock::time_point deadline = Clock::time_point::max();

 private:
  bool Ready(short events, beast::error_code& ec) {
    for (;;) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd p{socket.native_handle(), events, 0};
      const int r = poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
      if (r > 0) return true;  // readable, writable, or an error the call itself reports
      if (r == 0) {
        ec = net::error::timed_out;
        return false;
      }
      if (errno != EINTR) {
        ec = beast::error_code(errno, beast::system_category());
        return false;
      }
    }
  }
};

template <class Fields>
void CopyHeaders(const Fields& fields, HttpResponse* out) {
  for (const auto& f : fields) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out->headers[name] = std::string(f.value());
  }
}

}  // namespace

struct HttpClient::Impl {
  explicit Impl(std::chrono::milliseconds t) : stream(io), timeout(t) {}
  void Arm() { stream.deadline = Clock::now() + timeout; }

  net::io_context io;
  TimedSocket stream;
  std::chrono::milliseconds timeout;
  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::buffer_body>> body_parser;  // a streamed response
  bool stream_failed = false;
};

std::string HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

nlohmann::json HttpResponse::json() const { return nlohmann::json::parse(body, nullptr, false); }

HttpClient::HttpClient(const std::string& address, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(timeout)) {
  constexpr std::string_view kScheme = "http://";
  host_port_ = address.starts_with(kScheme) ? address.substr(kScheme.size()) : address;
  const size_t colon = host_port_.rfind(':');
  if (colon == std::string::npos) {
    error_ = "no port in " + address;
    return;
  }
  std::string host = host_port_.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  beast::error_code ec;
  const auto ip = net::ip::make_address(host, ec);
  if (!ec) {
    const auto port = static_cast<uint16_t>(std::stoi(host_port_.substr(colon + 1)));
    impl_->stream.socket.connect({ip, port}, ec);
  }
  if (ec) error_ = "connect to " + address + ": " + ec.message();
}

HttpClient::~HttpClient() { Close(); }

bool HttpClient::connected() const { return error_.empty() && impl_->stream.socket.is_open(); }

bool HttpClient::SendRaw(std::string_view bytes) {
  impl_->Arm();
  beast::error_code ec;
  net::write(impl_->stream, net::buffer(bytes.data(), bytes.size()), ec);
  return !ec;
}

HttpResponse HttpClient::ReadResponse() {
  HttpResponse out;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  impl_->Arm();
  beast::error_code ec;
  http::read(impl_->stream, impl_->buffer, parser, ec);
  if (ec) {
    out.error = "reading the response: " + ec.message();
    return out;
  }
  const auto& res = parser.get();
  out.status = static_cast<int>(res.result_int());
  CopyHeaders(res, &out);
  out.body = res.body();
  out.keep_alive = res.keep_alive();
  return out;
}

namespace {

http::request<http::string_body> Build(const HttpRequest& r, const std::string& host_port) {
  http::request<http::string_body> req;
  req.method_string(r.method);
  req.target(r.target);
  req.version(11);
  const std::string host = r.host.value_or(host_port);
  if (!host.empty()) req.set(http::field::host, host);
  if (!r.content_type.empty()) req.set(http::field::content_type, r.content_type);
  if (!r.token.empty()) req.set(http::field::authorization, "Bearer " + r.token);
  for (const auto& [name, value] : r.headers) req.set(name, value);
  req.body() = r.body;
  if (!r.body.empty() || r.method == "POST" || r.method == "PUT") req.prepare_payload();
  return req;
}

}  // namespace

HttpResponse HttpClient::Send(const HttpRequest& request) {
  auto req = Build(request, host_port_);
  impl_->Arm();
  beast::error_code ec;
  http::write(impl_->stream, req, ec);
  // A server may answer (and close) before it read the whole request: read what it said.
  HttpResponse out = ReadResponse();
  if (ec && out.status == 0) out.error = "writing the request: " + ec.message() + "; " + out.error;
  return out;
}

HttpResponse HttpClient::Get(const std::string& target, const std::string& token) {
  return Send({.method = "GET", .target = target, .token = token});
}

HttpResponse HttpClient::Post(const std::string& target, const std::string& content_type,
                              const std::string& body, const std::string& token) {
  return Send({.method = "POST",
               .target = target,
               .body = body,
               .content_type = content_type,
               .token = token});
}

HttpResponse HttpClient::Delete(const std::string& target, const std::string& token) {
  return Send({.method = "DELETE", .target = target, .token = token});
}

bool HttpClient::StartStream(const HttpRequest& request, HttpResponse* head) {
  *head = {};
  body_done_ = false;
  body_error_.clear();
  impl_->stream_failed = false;
  auto req = Build(request, host_port_);
  impl_->Arm();
  beast::error_code ec;
  http::write(impl_->stream, req, ec);
  if (ec) {
    head->error = "writing the request: " + ec.message();
    return false;
  }
  impl_->body_parser.emplace();
  impl_->body_parser->body_limit(boost::none);
  http::read_header(impl_->stream, impl_->buffer, *impl_->body_parser, ec);
  if (ec) {
    head->error = "reading the response's header: " + ec.message();
    impl_->body_parser.reset();
    return false;
  }
  const auto& res = impl_->body_parser->get();
  head->status = static_cast<int>(res.result_int());
  CopyHeaders(res, head);
  head->keep_alive = res.keep_alive();
  return true;
}

std::optional<std::string> HttpClient::ReadBodySome() {
  auto& parser = impl_->body_parser;
  if (!parser || impl_->stream_failed) return std::nullopt;
  char buf[16384];
  for (;;) {
    if (parser->is_done()) {
      body_done_ = true;
      parser.reset();
      return std::nullopt;
    }
    parser->get().body().data = buf;
    parser->get().body().size = sizeof buf;
    impl_->Arm();
    beast::error_code ec;
    http::read_some(impl_->stream, impl_->buffer, *parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    const size_t n = sizeof buf - parser->get().body().size;
    if (ec) {
      body_error_ = ec.message();
      impl_->stream_failed = true;
    }
    if (n > 0) return std::string(buf, n);
    if (ec) return std::nullopt;
  }
}

bool HttpClient::WaitForClose(std::chrono::milliseconds within, std::string* received) {
  auto& s = impl_->stream;
  if (!s.socket.is_open()) return true;
  if (received) received->append(beast::buffers_to_string(impl_->buffer.data()));
  impl_->buffer.consume(impl_->buffer.size());
  s.deadline = Clock::now() + within;
  char buf[4096];
  for (;;) {
    beast::error_code ec;
    const size_t n = s.read_some(net::buffer(buf), ec);
    if (received) received->append(buf, n);
    if (ec == net::error::timed_out) return false;
    if (ec) return true;  // eof, or reset
  }
}

void HttpClient::Close() {
  beast::error_code ec;
  auto& s = impl_->stream.socket;
  if (!s.is_open()) return;
  s.shutdown(net::socket_base::shutdown_both, ec);
  s.close(ec);
}

std::vector<std::string> TakeLines(std::string* text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = text->find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(text->substr(start, nl - start));
  text->erase(0, start);
  return lines;
}

}  // namespace brood::testing
