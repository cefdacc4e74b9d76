// The session routes of brood serve (docs/sessions.md), members of Connection. The engine's
// blocking calls run on the session store's pool (Offload); an exec's result comes back through
// Session::Start's callback, as a job's does through Submit's.
#include <algorithm>
#include <cerrno>

#include "server/connection.hpp"
#include "server/offload.hpp"

namespace brood::server {
namespace {

bool IsSessionId(std::string_view id) {
  return id.size() == 34 && id.starts_with("s-") &&
         std::all_of(id.begin() + 2, id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::optional<std::string_view> FieldOrNull(const std::string& field) {
  if (field.empty()) return std::nullopt;
  return field;
}

// A file call's outcome, carried from the pool to the io thread.
struct FileCall {
  bool ok = false;
  SessionError error;
  std::string bytes;  // what ReadFile read
};

}  // namespace

net::awaitable<bool> Connection::SessionRoute(Request& req, const std::vector<std::string>& parts) {
  const size_t n = parts.size();
  if (n == 2) {
    req.route = "/v1/sessions";
    if (req.method == "POST") co_return co_await CreateSession(req);
    if (req.method != "GET") co_return co_await NotAllowed(req, "GET, POST");
    if (req.has_body) co_return co_await Error(req, 400, "a GET request has no body");
    co_return co_await ListSessions(req);
  }
  const std::string& id = parts[2];
  std::string path;
  if (n == 3) {
    req.route = "/v1/sessions/{id}";
    if (req.method != "GET" && req.method != "DELETE")
      co_return co_await NotAllowed(req, "GET, DELETE");
  } else if (n == 4 && parts[3] == "exec") {
    req.route = "/v1/sessions/{id}/exec";
    if (req.method != "POST") co_return co_await NotAllowed(req, "POST");
  } else if (parts[3] == "files") {
    req.route = "/v1/sessions/{id}/files/{path}";
    if (req.method != "GET" && req.method != "PUT") co_return co_await NotAllowed(req, "GET, PUT");
    // What follows ".../files/" in the target, still percent-encoded: decoded once here.
    std::string_view tail(req.path);
    tail.remove_prefix(std::min(tail.size(), ("/v1/sessions/" + id + "/files/").size()));
    if (RequestError e = ParseFilePath(tail, &path); !e.ok())
      co_return co_await Error(req, 400, e.error, e.field);
  } else {
    co_return co_await Error(req, 404, "no such route: " + req.path);
  }
  if ((req.method == "GET" || req.method == "DELETE") && req.has_body)
    co_return co_await Error(req, 400, "a " + req.method + " request has no body");
  auto entry = IsSessionId(id) ? ctx_.sessions.Find(id) : nullptr;
  if (!entry) co_return co_await Error(req, 404, "no such session: " + id, "id");
  if (n == 3) {
    if (req.method == "GET") co_return co_await GetSession(req, std::move(entry));
    co_return co_await DeleteSession(req, std::move(entry));
  }
  // Exec and PUT read their body before they answer 410, so that the connection goes on.
  if (parts[3] == "exec") co_return co_await Exec(req, std::move(entry));
  if (req.method == "PUT") co_return co_await PutFile(req, std::move(entry), std::move(path));
  co_return co_await GetFile(req, std::move(entry), std::move(path));
}

net::awaitable<bool> Connection::CreateSession(Request& req) {
  std::string body;  // none: every default
  if (req.has_body) {
    bool keep = false;
    std::optional<std::string> read = co_await ReadJsonBody(req, "POST /v1/sessions", &keep);
    if (!read) co_return keep;
    body = std::move(*read);
  }
  SessionRequest sr;
  if (RequestError e = ParseSessionRequest(body, ctx_.session_policy, &sr); !e.ok())
    co_return co_await Error(req, 400, e.error, FieldOrNull(e.field));
  if (!ctx_.sessions.Reserve())
    co_return co_await Error(req, 429,
                             "the server holds its maximum of " +
                                 std::to_string(ctx_.opts.max_sessions) +
                                 " sessions (brood serve --max-sessions)");
  struct Created {
    std::unique_ptr<Session> session;
    SessionError error;
    SessionUsage usage;
  };
  Created made;
  {
    SessionStore::Busy busy(ctx_.sessions);
    // By reference: this frame waits, alive, until the call is back.
    auto create = [&engine = ctx_.engine, &sr] {
      Created c;
      c.session = engine.CreateSession(sr.options, &c.error);
      if (c.session) c.usage = c.session->Usage();
      return c;
    };
    made = co_await Offload(ctx_.io, ctx_.sessions.pool(), std::move(create));
  }
  ctx_.sessions.Unreserve();
  if (!made.session) {
    const ErrorKind kind = made.error.kind;
    const int code = kind == ErrorKind::kInvalidArgument     ? 400
                     : kind == ErrorKind::kResourceExhausted ? 429
                     : kind == ErrorKind::kHostUnsupported   ? 501
                     : kind == ErrorKind::kUnavailable       ? 503
                                                             : 500;
    co_return co_await Error(req, code, "the session could not be made: " + made.error.message);
  }
  if (ctx_.stopping) {
    SessionStore::Busy busy(ctx_.sessions);
    auto close = [s = std::move(made.session)] {
      s->Close("shutdown");
      return true;
    };
    co_await Offload(ctx_.io, ctx_.sessions.pool(), std::move(close));
    co_return co_await Error(req, 503, "the server is stopping");
  }
  auto entry = ctx_.sessions.Add(std::move(made.session), sr, made.usage);
  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("Location", "/v1/sessions/" + entry->id);
  co_return co_await Reply(req, 201, entry->ToJson(), "application/json", std::move(headers));
}

net::awaitable<bool> Connection::ListSessions(Request& req) {
  const auto all = ctx_.sessions.All();
  std::vector<std::shared_ptr<Session>> live;  // null for the ended
  for (const auto& e : all) live.push_back(e->session);
  std::vector<SessionLook> looks;
  {
    SessionStore::Busy busy(ctx_.sessions);
    auto look = [&live] {
      std::vector<SessionLook> out;
      for (const auto& s : live) out.push_back(s ? SessionLook::Of(*s) : SessionLook{});
      return out;
    };
    looks = co_await Offload(ctx_.io, ctx_.sessions.pool(), std::move(look));
  }
  std::string body = "{\"sessions\":[";
  for (size_t i = 0; i < all.size(); ++i) {
    if (live[i]) ctx_.sessions.Apply(*all[i], live[i], looks[i]);
    body += (i ? "," : "") + all[i]->ToJson();
  }
  co_return co_await Reply(req, 200, body + "]}");
}

net::awaitable<bool> Connection::GetSession(Request& req, std::shared_ptr<SessionEntry> entry) {
  // Not a use: watching a session does not keep it from going idle.
  if (std::shared_ptr<Session> s = entry->session) {
    SessionStore::Busy busy(ctx_.sessions);
    auto look = [s] { return SessionLook::Of(*s); };
    const SessionLook l = co_await Offload(ctx_.io, ctx_.sessions.pool(), std::move(look));
    ctx_.sessions.Apply(*entry, s, l);
  }
  co_return co_await Reply(req, 200, entry->ToJson());
}

net::awaitable<bool> Connection::DeleteSession(Request& req, std::shared_ptr<SessionEntry> entry) {
  if (std::shared_ptr<Session> s = ctx_.sessions.MarkEnded(*entry, "deleted")) {
    SessionStore::Busy busy(ctx_.sessions);
    auto close = [s] {
      s->Close("deleted");  // every process, mount and file of it is gone when it returns
      return true;
    };
    co_await Offload(ctx_.io, ctx_.sessions.pool(), std::move(close));
  }
  ctx_.sessions.Forget(entry->id);
  co_return co_await Reply(req, 204, "");
}

net::awaitable<bool> Connection::Exec(Request& req, std::shared_ptr<SessionEntry> entry) {
  bool keep = false;
  std::optional<std::string> body = co_await ReadJsonBody(req, "an exec", &keep);
  if (!body) co_return keep;
  if (!entry->live()) co_return co_await Reply(req, 410, EndedBody(entry->ended_reason));
  ExecOptions exec;
  if (RequestError e = ParseExecRequest(*body, ctx_.policy.maxima, entry->limits, &exec); !e.ok())
    co_return co_await Error(req, 400, e.error, FieldOrNull(e.field));
  if (entry->exec_running)
    co_return co_await Error(req, 409, "a command is running in this session: one at a time");
  SessionStore::Use use(ctx_.sessions, entry);
  entry->exec_running = true;  // from here: a second exec is 409 at once
  std::shared_ptr<Session> session = entry->session;
  auto wait = std::make_shared<RunWait>(ctx_.io);
  struct Started {
    bool ok = false;
    SessionError error;
  };
  // Start may block a little (a session found over its limits is torn down first): the pool.
  auto start = [session, &exec, deliver = RunWait::Deliver(ctx_.io, wait)]() mutable {
    Started st;
    st.ok = session->Start(std::move(exec), std::move(deliver), &st.error);
    return st;
  };
  const Started started = co_await Offload(ctx_.io, ctx_.sessions.pool(), std::move(start));
  if (!started.ok) {
    entry->exec_running = false;
    co_return co_await SessionFailed(req, *entry, started.error);
  }
  const uint64_t number = ++entry->execs;
  std::function<void()> cancel = [session] { session->CancelExec(); };  // named: see Offload
  co_await AwaitResult(wait, std::move(cancel));
  entry->exec_running = false;
  Result result = std::move(*wait->result);
  result.id = std::to_string(number);  // the exec's number in its session: "1", "2", ...
  ctx_.metrics.SessionExec(result);
  // It may have ended with this command (memory, pids): then its next call is 410. Its end was
  // looked at before the result came, so the reason seen then is the one.
  const std::string reason = session->EndedReasonSeen();
  if (!reason.empty() && entry->session == session) ctx_.sessions.End(*entry, reason);
  if (!body_read_) co_return false;  // the client left: nobody to answer
  co_return co_await Reply(req, 200, ResultToJson(result));
}

net::awaitable<bool> Connection::PutFile(Request& req, std::shared_ptr<SessionEntry> entry,
                                         std::string path) {
  bool keep = false;
  std::optional<std::string> body = co_await ReadBody(req, ctx_.opts.max_file_bytes, &keep);
  if (!body) co_return keep;
  if (!entry->live()) co_return co_await Reply(req, 410, EndedBody(entry->ended_reason));
  SessionStore::Use use(ctx_.sessions, entry);
  auto write = [s = entry->session, &path, &body] {
    FileCall c;
    c.ok = s->WriteFile(path, *body, &c.error);
    return c;
  };
  FileCall call = co_await Offload(ctx_.io, entry->files, std::move(write));
  if (!call.ok) co_return co_await SessionFailed(req, *entry, call.error);
  co_return co_await Reply(req, 204, "");
}

net::awaitable<bool> Connection::GetFile(Request& req, std::shared_ptr<SessionEntry> entry,
                                         std::string path) {
  if (!entry->live()) co_return co_await Reply(req, 410, EndedBody(entry->ended_reason));
  SessionStore::Use use(ctx_.sessions, entry);
  auto read = [s = entry->session, &path, max = ctx_.opts.max_file_bytes] {
    FileCall c;
    c.ok = s->ReadFile(path, max, &c.bytes, &c.error);
    return c;
  };
  FileCall call = co_await Offload(ctx_.io, entry->files, std::move(read));
  if (!call.ok) co_return co_await SessionFailed(req, *entry, call.error);
  co_return co_await Reply(req, 200, std::move(call.bytes), "application/octet-stream");
}

net::awaitable<bool> Connection::SessionFailed(Request& req, SessionEntry& entry,
                                               const SessionError& e) {
  const bool file = req.route.ends_with("{path}");
  if (e.not_found) co_return co_await Error(req, 404, e.message, "path");
  switch (e.kind) {
    case ErrorKind::kInvalidArgument:  // a symlink, a FIFO, a directory: not a regular file
      co_return co_await Error(req, 400, e.message,
                               file ? std::optional<std::string_view>("path") : std::nullopt);
    case ErrorKind::kUnavailable:  // a command runs, and the engine takes one call at a time
      co_return co_await Error(req, 409, e.message);
    case ErrorKind::kResourceExhausted:  // the session's disk is full; a file over the cap
      if (e.errno_value == ENOSPC || e.errno_value == EDQUOT)
        co_return co_await Error(req, 507, e.message);
      co_return co_await Error(req, 413,
                               e.message + " (brood serve --max-file-bytes " +
                                   std::to_string(ctx_.opts.max_file_bytes) + ")");
    case ErrorKind::kCancelled:  // it ended meanwhile
      if (std::shared_ptr<Session> s = entry.session) {
        auto ended = [s] { return s->EndedReason(); };
        const std::string reason =
            co_await Offload(ctx_.io, ctx_.sessions.pool(), std::move(ended));
        if (entry.session == s) ctx_.sessions.End(entry, reason.empty() ? "closed" : reason);
      }
      co_return co_await Reply(req, 410, EndedBody(entry.ended_reason));
    default:
      co_return co_await Error(req, 500, e.message);
  }
}

}  // namespace brood::server
