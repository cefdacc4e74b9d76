// A small real HTTP/1.1 client for the tests of `brood serve`, on Boost.Beast's synchronous API:
// one keep-alive connection per object, raw bytes for requests no well-behaved client would
// send, and chunked responses read piece by piece as they come. Every wait is bounded (the
// connection's timeout), so a server that never answers fails a test instead of hanging it.
//
//   HttpClient c(server_address);
//   HttpResponse r = c.Post("/v1/run", "application/json", R"({"cmd": ["true"]})");
//   EXPECT_EQ(r.status, 200) << r.error;
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace brood::testing {

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";
  std::string body;
  std::string content_type;  // empty: no Content-Type header
  std::string token;         // non-empty: "Authorization: Bearer <token>"
  // Host header: nullopt gives the server's "HOST:PORT"; an empty string sends none.
  std::optional<std::string> host;
  std::vector<std::pair<std::string, std::string>> headers;  // more headers, sent as given
};

struct HttpResponse {
  int status = 0;                              // 0: no (whole) response; `error` says why
  std::string error;                           // what went wrong reading or writing
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  bool keep_alive = false;  // what the server said about the connection

  std::string header(const std::string& lower_name) const;
  // The body as JSON (a discarded value when it is not JSON).
  nlohmann::json json() const;
};

class HttpClient {
 public:
  // Connects to `address` ("http://HOST:PORT", as Server::address() gives it). Every read or
  // write waits at most `timeout` for progress.
  explicit HttpClient(const std::string& address,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  bool connected() const;
  const std::string& error() const { return error_; }  // why the connection failed
  std::string host_header() const { return host_port_; }

  // Sends a request and reads its whole response on this connection.
  HttpResponse Send(const HttpRequest& request);
  HttpResponse Get(const std::string& target, const std::string& token = "");
  HttpResponse Post(const std::string& target, const std::string& content_type,
                    const std::string& body, const std::string& token = "");
  HttpResponse Delete(const std::string& target, const std::string& token = "");

  // Writes bytes as they are (a request line cut short, a malformed header). False when the
  // write failed.
  bool SendRaw(std::string_view bytes);
  // Reads the next whole response on the connection.
  HttpResponse ReadResponse();

  // A streamed response: sends `request` and reads the status line and headers into *head
  // (head->status is 0 on failure); then ReadBodySome returns the body piece by piece as the
  // server sends it (a chunked body's pieces are what its chunks hold), and nullopt once the
  // body ended (body_done()) or the connection failed (head error in body_error()).
  bool StartStream(const HttpRequest& request, HttpResponse* head);
  std::optional<std::string> ReadBodySome();
  bool body_done() const { return body_done_; }
  const std::string& body_error() const { return body_error_; }

  // Waits up to `within` for the server to close the connection, discarding what it sends
  // meanwhile (appended to *received when given). True when it closed (or reset) it.
  bool WaitForClose(std::chrono::milliseconds within, std::string* received = nullptr);
  // Closes the connection from this side (the client going away).
  void Close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string host_port_;
  std::string error_;
  bool body_done_ = false;
  std::string body_error_;
};

// Splits ndjson text into its whole lines (a last line without '\n' is left in *rest).
std::vector<std::string> TakeLines(std::string* text);

}  // namespace brood::testing
