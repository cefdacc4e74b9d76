// The handlers of brood serve's routes (docs/serve.md), members of Connection.
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <charconv>

#include "server/connection.hpp"
#include "sys/fd.hpp"

namespace brood::server {
namespace {

// The media type of a Content-Type value, lower case, without parameters.
std::string MediaType(std::string_view value) {
  std::string t(value.substr(0, value.find(';')));
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

bool IsBatchId(std::string_view id) {
  return id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

bool HasMediaType(const HeaderParser& parser, std::string_view type) {
  const auto ct = parser.get().find(http::field::content_type);
  return ct != parser.get().end() && MediaType(SV(ct->value())) == type;
}

net::awaitable<bool> Connection::ReadBodyError(Request& req, beast::error_code ec, uint64_t limit) {
  if (ec == http::error::body_limit)
    co_return co_await Error(req, 413,
                             "the request body is larger than the server's limit of " +
                                 std::to_string(limit) + " bytes for this route");
  if (timed_out_) co_return co_await Error(req, 408, "the request body did not come in time");
  if (ec == http::error::end_of_stream || ec == net::error::eof ||
      ec == net::error::connection_reset || ec == net::error::operation_aborted)
    co_return false;  // the client went away
  co_return co_await Error(req, 400, "malformed request body: " + ec.message());
}

net::awaitable<std::optional<std::string>> Connection::ReadBody(Request& req, uint64_t limit,
                                                                bool* keep) {
  if (BodyTooLarge(*req.parser, limit)) {
    *keep = co_await ReadBodyError(req, http::error::body_limit, limit);
    co_return std::nullopt;
  }
  co_await Continue(*req.parser);
  http::request_parser<http::string_body> parser(std::move(*req.parser));
  parser.body_limit(limit);
  Deadline(std::chrono::milliseconds(ctx_.opts.io_timeout_ms));
  beast::error_code ec;
  co_await http::async_read(socket_, buffer_, parser, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    *keep = co_await ReadBodyError(req, ec, limit);
    co_return std::nullopt;
  }
  body_read_ = true;
  co_return std::move(parser.get().body());
}

net::awaitable<std::optional<std::string>> Connection::ReadJsonBody(Request& req,
                                                                    std::string_view what,
                                                                    bool* keep) {
  if (!HasMediaType(*req.parser, "application/json")) {
    *keep = co_await Error(req, 415, std::string(what) + " takes Content-Type: application/json",
                           "Content-Type");
    co_return std::nullopt;
  }
  co_return co_await ReadBody(req, ctx_.opts.max_body_bytes, keep);
}

net::awaitable<void> Connection::AwaitResult(std::shared_ptr<RunWait> wait,
                                             std::function<void()> cancel) {
  waiting_ = wait->wake;
  NoDeadline();  // a job takes as long as its limits allow
  auto gone = std::make_shared<bool>(false);
  net::co_spawn(ctx_.io, WatchPeer(shared_from_this(), wait->wake, gone), net::detached);
  beast::error_code ec;
  while (!wait->result) {
    co_await wait->wake->async_wait(net::redirect_error(net::use_awaitable, ec));
    if (*gone && !wait->result) {
      cancel();  // its result still comes: wait for it, then close
      *gone = false;
      wait->wake->expires_at(net::steady_timer::time_point::max());
      body_read_ = false;
    }
  }
  waiting_.reset();
  socket_.cancel(ec);  // ends WatchPeer's wait
}

net::awaitable<bool> Connection::Run(Request& req) {
  bool keep = false;
  std::optional<std::string> body = co_await ReadJsonBody(req, "POST /v1/run", &keep);
  if (!body) co_return keep;

  JobRequest jr = JobFromRequest(*body, ctx_.policy, RandomId);
  if (!jr.job) {
    Result invalid;
    invalid.status = TaskStatus::kInvalidJob;
    ctx_.metrics.ObserveTask(invalid);
    co_return co_await Reply(req, jr.code, std::move(jr.body));
  }
  if (ctx_.runs_in_flight >= ctx_.opts.queue) {
    ctx_.metrics.QueueRejected();
    co_return co_await Error(req, 429,
                             "the queue is full: " + std::to_string(ctx_.runs_in_flight) +
                                 " jobs are waiting or running (brood serve --queue)");
  }
  Job job = std::move(*jr.job);
  auto wait = std::make_shared<RunWait>(ctx_.io);
  Submission taken =
      ctx_.engine.Submit(std::move(job), RunWait::Deliver(ctx_.io, wait),
                         {.group = ctx_.run_group, .cache_partition = "serve:" + ctx_.opts.token});
  if (!taken.ok()) {
    if (taken.error_kind == ErrorKind::kResourceExhausted) {
      ctx_.metrics.QueueRejected();
      co_return co_await Error(req, 429, "the queue is full: " + taken.error);
    }
    co_return co_await Error(req, 503, taken.error);
  }
  ++ctx_.runs_in_flight;
  std::function<void()> cancel = [this, h = taken.handle] { ctx_.engine.Cancel(h); };
  co_await AwaitResult(wait, std::move(cancel));
  --ctx_.runs_in_flight;
  Result result = std::move(*wait->result);
  ctx_.metrics.ObserveTask(result);  // a task that ended, whether or not its client is there
  if (!body_read_) co_return false;  // the client left: nobody to answer
  // Refused as it started (an unknown preset, a missing source file): the request's fault, as
  // a job the parser refused is.
  if (result.status == TaskStatus::kInvalidJob) {
    result.line = 1;
    co_return co_await Reply(req, 400, ResultToJson(result));
  }
  co_return co_await Reply(req, 200, ResultToJson(result));
}

net::awaitable<bool> Connection::PostBatch(Request& req) {
  if (!HasMediaType(*req.parser, "application/x-ndjson"))
    co_return co_await Error(req, 415,
                             "POST /v1/batches takes job lines: Content-Type: application/x-ndjson",
                             "Content-Type");
  if (BodyTooLarge(*req.parser, ctx_.opts.max_batch_bytes))
    co_return co_await ReadBodyError(req, http::error::body_limit, ctx_.opts.max_batch_bytes);
  auto begun = ctx_.batches.Begin();
  if (!begun.ok()) co_return co_await Error(req, 503, begun.status().message());
  std::shared_ptr<Batch> batch = std::move(begun.value());
  co_await Continue(*req.parser);
  http::request_parser<http::buffer_body> parser(std::move(*req.parser));
  parser.body_limit(ctx_.opts.max_batch_bytes);
  std::vector<char> chunk(1 << 16);  // this request's own: other uploads run between its reads
  beast::error_code ec;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    Deadline(std::chrono::milliseconds(ctx_.opts.io_timeout_ms));
    co_await http::async_read(socket_, buffer_, parser,
                              net::redirect_error(net::use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      ctx_.batches.Abort(batch);
      co_return co_await ReadBodyError(req, ec, ctx_.opts.max_batch_bytes);
    }
    const size_t n = chunk.size() - parser.get().body().size;
    sys::Status s = ctx_.batches.Append(*batch, std::string_view(chunk.data(), n));
    if (!s.ok()) {
      ctx_.batches.Abort(batch);
      if (s.kind() == ErrorKind::kResourceExhausted)
        co_return co_await Error(req, 413, s.message());
      co_return co_await Error(req, 507, s.message());
    }
  }
  body_read_ = true;
  if (sys::Status s = ctx_.batches.Commit(batch); !s.ok()) {
    ctx_.batches.Abort(batch);
    co_return co_await Error(req, 507, s.message());
  }
  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("Location", "/v1/batches/" + batch->id());
  co_return co_await Reply(req, 201, "{\"id\":\"" + batch->id() + "\"}", "application/json",
                           std::move(headers));
}

net::awaitable<bool> Connection::GetBatch(Request& req, const std::string& id) {
  auto batch = IsBatchId(id) ? ctx_.batches.Find(id) : nullptr;
  if (!batch) co_return co_await Error(req, 404, "no such batch: " + id, "id");
  co_return co_await Reply(req, 200, batch->Status().ToJson());
}

net::awaitable<bool> Connection::ListBatches(Request& req) {
  std::string body = "{\"batches\":[";
  bool first = true;
  for (const std::string& id : ctx_.batches.Ids()) {
    if (auto b = ctx_.batches.Find(id)) {
      body += (first ? "" : ",") + b->Status().ToJson();
      first = false;
    }
  }
  co_return co_await Reply(req, 200, body + "]}");
}

net::awaitable<bool> Connection::DeleteBatch(Request& req, const std::string& id) {
  const auto forget = QueryValue(req.query, "forget");
  if (forget && *forget != "1" && *forget != "0" && *forget != "true" && *forget != "false")
    co_return co_await Error(req, 400, "forget: expected 1 or 0", "forget");
  const bool forgetting = forget && (*forget == "1" || *forget == "true");
  auto batch = IsBatchId(id) ? ctx_.batches.Find(id) : nullptr;
  if (!batch) co_return co_await Error(req, 404, "no such batch: " + id, "id");
  ctx_.batches.Cancel(id, forgetting);
  if (forgetting) co_return co_await Reply(req, 204, "");
  co_return co_await Reply(req, 200, batch->Status().ToJson());
}

net::awaitable<bool> Connection::Results(Request& req, const std::string& id) {
  uint64_t after = 0;
  if (auto a = QueryValue(req.query, "after")) {
    auto [end, err] = std::from_chars(a->data(), a->data() + a->size(), after);
    if (a->empty() || err != std::errc() || end != a->data() + a->size())
      co_return co_await Error(req, 400, "after: expected a non-negative integer", "after");
  }
  auto batch = IsBatchId(id) ? ctx_.batches.Find(id) : nullptr;
  if (!batch) co_return co_await Error(req, 404, "no such batch: " + id, "id");
  ctx_.metrics.ObserveRequest(req.method, req.route, 200);

  http::response<http::empty_body> res{http::status::ok, req.version};
  res.set(http::field::server, "brood");
  res.set(http::field::content_type, "application/x-ndjson");
  const bool chunked = req.version >= 11;  // HTTP/1.0: the body ends when the connection does
  res.chunked(chunked);
  res.keep_alive(chunked && req.keep_alive);
  http::response_serializer<http::empty_body> sr{res};
  Deadline(std::chrono::milliseconds(ctx_.opts.io_timeout_ms));
  beast::error_code ec;
  co_await http::async_write_header(socket_, sr, net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return false;

  sys::UniqueFd fd;
  std::string pending;  // read, not sent: a line not whole yet
  uint64_t skipped = 0;
  std::vector<char> buf(1 << 16);
  auto wake = std::make_shared<net::steady_timer>(ctx_.io);
  waiting_ = wake;
  auto gone = std::make_shared<bool>(false);
  // One watch for the whole stream (a wait for readability beside the writes), ended on return.
  net::co_spawn(ctx_.io, WatchPeer(shared_from_this(), wake, gone), net::detached);
  struct EndWatch {
    Socket& s;
    ~EndWatch() {
      beast::error_code ignored;
      s.cancel(ignored);
    }
  } end_watch{socket_};
  for (;;) {
    const bool finished = batch->finished();  // before reading: then the read sees everything
    if (!fd) fd = sys::UniqueFd(open(batch->results_path().c_str(), O_RDONLY | O_CLOEXEC));
    std::string out;
    for (ssize_t n; fd && (n = read(fd.get(), buf.data(), buf.size())) > 0;) {
      std::string_view data(buf.data(), static_cast<size_t>(n));
      while (skipped < after && !data.empty()) {  // the first `after` records are not sent
        const size_t nl = data.find('\n');
        if (nl == data.npos) {
          data = {};
          break;
        }
        data.remove_prefix(nl + 1);
        ++skipped;
      }
      pending.append(data);
      const size_t last = pending.rfind('\n');
      if (last != std::string::npos) {
        out.append(pending, 0, last + 1);
        pending.erase(0, last + 1);
      }
      if (out.size() >= buf.size()) break;
    }
    if (!out.empty()) {
      Deadline(std::chrono::milliseconds(ctx_.opts.io_timeout_ms));
      if (chunked)
        co_await net::async_write(socket_, http::make_chunk(net::buffer(out)),
                                  net::redirect_error(net::use_awaitable, ec));
      else
        co_await net::async_write(socket_, net::buffer(out),
                                  net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return false;
      continue;
    }
    if (batch->forgotten()) co_return false;  // no last chunk: its records are gone
    if (finished) break;
    if (ctx_.stopping) co_return false;  // no last chunk: the client resumes with the next server
    if (*gone) co_return false;          // the client left while records were being written
    NoDeadline();
    wake->expires_at(net::steady_timer::time_point::max());
    batch->AddWaiter([wake] { wake->cancel(); });
    co_await wake->async_wait(net::redirect_error(net::use_awaitable, ec));
    if (*gone || !socket_.is_open() || ctx_.stopping) co_return false;
  }
  if (!chunked) co_return false;
  Deadline(std::chrono::milliseconds(ctx_.opts.io_timeout_ms));
  co_await net::async_write(socket_, http::make_chunk_last(),
                            net::redirect_error(net::use_awaitable, ec));
  co_return !ec && req.keep_alive && !ctx_.stopping;
}

}  // namespace brood::server
