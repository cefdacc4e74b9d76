// brood::Server: the listeners, the io thread and the shutdown of `brood serve`.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>

#include "server/connection.hpp"

namespace brood {
namespace {

using namespace server;

struct ListenAddress {
  std::string host;  // as given ("[::1]" keeps its brackets)
  net::ip::address address;
  uint16_t port = 0;
};

sys::StatusOr<ListenAddress> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return sys::Status::Error("--listen " + listen + ": expected HOST:PORT");
  ListenAddress a;
  a.host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535)
    return sys::Status::Error("--listen " + listen + ": the port is not a number from 0 to 65535");
  a.port = static_cast<uint16_t>(p);
  std::string ip = a.host;
  if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  if (ip == "localhost") ip = "127.0.0.1";
  beast::error_code ec;
  a.address = net::ip::make_address(ip, ec);
  if (ec)
    return sys::Status::Error("--listen " + listen + ": " + a.host +
                              " is not an IP address (nor localhost)");
  return a;
}

class ServerImpl final : public Server {
 public:
  ServerImpl(Engine& engine, ServeOptions opts, std::ostream& log)
      : engine_(engine),
        opts_(std::move(opts)),
        log_(log),
        io_(std::make_unique<net::io_context>()) {}
  ~ServerImpl() override {
    if (batches_) {  // normally drained by Stop already
      batches_->Stop(0);
      batches_->Join();
    }
    if (sessions_) sessions_->CloseAll();  // normally done by Run; before io_ goes
    grace_.reset();
    drain_.reset();
    expire_.reset();
    tcp_.reset();
    unix_.reset();
    io_.reset();  // destroys what still waits on it (connections) while ctx_ lives
  }

  sys::Status Init();
  std::string address() const override { return address_; }
  int Run() override;
  void Stop(int grace_ms) override {
    net::post(*io_, [this, grace_ms] { BeginStop(grace_ms); });
  }

 private:
  net::awaitable<void> AcceptTcp();
  net::awaitable<void> AcceptUnix();
  void Launch(Socket socket, bool tcp);
  void BeginStop(int grace_ms);
  void CheckDrained();
  void ExpireLater();

  Engine& engine_;
  ServeOptions opts_;
  std::ostream& log_;
  std::unique_ptr<net::io_context> io_;
  Metrics metrics_;
  std::unique_ptr<BatchStore> batches_;
  std::unique_ptr<SessionStore> sessions_;
  std::unique_ptr<ServerContext> ctx_;
  std::optional<net::ip::tcp::acceptor> tcp_;
  std::optional<net::local::stream_protocol::acceptor> unix_;
  std::string address_;
  std::unique_ptr<net::steady_timer> grace_, drain_, expire_;
  int failed_ = 0;
};

sys::Status ServerImpl::Init() {
  if (opts_.listen.empty() && opts_.unix_path.empty())
    return sys::Status::Error("nothing to listen on: give --listen or --unix");
  std::set<std::string> hosts = {"localhost", "127.0.0.1", "[::1]"};
  for (std::string h : opts_.allowed_hosts) {
    for (char& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    hosts.insert(h);
  }
  if (!opts_.listen.empty()) {
    auto a = ParseListen(opts_.listen);
    if (!a.ok()) return a.status();
    if (!a->address.is_loopback() && opts_.token.empty())
      return sys::Status::Error("--listen " + opts_.listen +
                                " is not a loopback address: give --token-file too (and put TLS "
                                "in front: brood serves plain HTTP)");
    std::string host = a->host;
    for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (a->address.is_v6() && host.front() != '[') host = "[" + host + "]";
    hosts.insert(host);
    net::ip::tcp::endpoint ep(a->address, a->port);
    beast::error_code ec;
    tcp_.emplace(*io_);
    tcp_->open(ep.protocol(), ec);
    if (!ec) tcp_->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) tcp_->bind(ep, ec);
    if (!ec) tcp_->listen(net::socket_base::max_listen_connections, ec);
    if (ec) return sys::Status::Error("--listen " + opts_.listen + ": " + ec.message());
    const auto bound = tcp_->local_endpoint();
    address_ = "http://" +
               (bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                        : bound.address().to_string()) +
               ":" + std::to_string(bound.port());
  }
  if (!opts_.unix_path.empty()) {
    struct stat st {};
    if (lstat(opts_.unix_path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode))
        return sys::Status::Error("--unix " + opts_.unix_path + ": exists and is not a socket");
      net::local::stream_protocol::socket probe(*io_);
      beast::error_code ec;
      probe.connect(net::local::stream_protocol::endpoint(opts_.unix_path), ec);
      if (!ec) return sys::Status::Error("--unix " + opts_.unix_path + ": a server listens there");
      unlink(opts_.unix_path.c_str());  // stale: its server is gone
    }
    beast::error_code ec;
    unix_.emplace(*io_);
    const mode_t old = umask(0177);  // the socket is its owner's alone
    unix_->open(net::local::stream_protocol(), ec);
    if (!ec) unix_->bind(net::local::stream_protocol::endpoint(opts_.unix_path), ec);
    umask(old);
    if (!ec) unix_->listen(net::socket_base::max_listen_connections, ec);
    if (ec) return sys::Status::Error("--unix " + opts_.unix_path + ": " + ec.message());
  }
  BatchOptions bo;
  bo.state_dir = opts_.state_dir.empty() ? DefaultStateDir() : opts_.state_dir;
  bo.policy = {opts_.max_limits, opts_.allow_host_network};
  bo.ttl_s = opts_.batch_ttl_s;
  bo.max_running = opts_.max_running_batches;
  bo.max_bytes = opts_.max_batch_bytes;
  // Over HTTP the build cache is the token's: a hit would tell what another client built.
  bo.cache_partition = "serve:" + opts_.token;
  batches_ = std::make_unique<BatchStore>(
      engine_, bo, metrics_, [io = io_.get()](std::function<void()> f) { net::post(*io, f); },
      log_);
  if (sys::Status s = batches_->Open(); !s.ok()) return s;
  SessionStoreOptions so;
  so.max_sessions = opts_.max_sessions;
  sessions_ = std::make_unique<SessionStore>(*io_, engine_, so, metrics_);
  SessionPolicy sp;
  sp.job = bo.policy;
  sp.max_ttl_s = opts_.max_ttl_s;
  ctx_ = std::unique_ptr<ServerContext>(new ServerContext{*io_, engine_, opts_, metrics_, *batches_,
                                                          *sessions_, bo.policy, sp, hosts,
                                                          engine_.NewGroup()});
  return sys::OkStatus();
}

void ServerImpl::Launch(Socket socket, bool tcp) {
  if (static_cast<int>(ctx_->connections.size()) >= opts_.max_connections) {
    metrics_.ConnectionRefused();
    static const std::string kBody = ErrorBody("too many connections") + "\n";
    static const std::string kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
        "Connection: close\r\nContent-Length: " +
        std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
    (void)!send(socket.native_handle(), kBusy.data(), kBusy.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    beast::error_code ec;
    socket.close(ec);
    return;
  }
  auto c = std::make_shared<Connection>(*ctx_, std::move(socket), tcp);
  net::co_spawn(*io_, Connection::Start(std::move(c)), [this](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      log_ << "brood serve: a connection failed: " << x.what() << "\n";
    }
  });
}

net::awaitable<void> ServerImpl::AcceptTcp() {
  while (tcp_ && tcp_->is_open()) {
    beast::error_code ec;
    Socket s(*io_);  // a generic socket: TCP and unix connections share one Connection type
    co_await tcp_->async_accept(s, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (ctx_->stopping || !tcp_->is_open()) co_return;
      net::steady_timer pause(*io_, std::chrono::milliseconds(50));  // EMFILE: let fds free up
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    int one = 1;
    setsockopt(s.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    Launch(std::move(s), true);
  }
}

net::awaitable<void> ServerImpl::AcceptUnix() {
  while (unix_ && unix_->is_open()) {
    beast::error_code ec;
    Socket s(*io_);
    co_await unix_->async_accept(s, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (ctx_->stopping || !unix_->is_open()) co_return;
      net::steady_timer pause(*io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    Launch(std::move(s), false);
  }
}

void ServerImpl::ExpireLater() {
  expire_ = std::make_unique<net::steady_timer>(*io_, std::chrono::seconds(60));
  expire_->async_wait([this](beast::error_code ec) {
    if (ec || ctx_->stopping) return;
    batches_->Expire();
    ExpireLater();
  });
}

int ServerImpl::Run() {
  batches_->Expire();
  ExpireLater();
  sessions_->StartSweeping();
  if (tcp_) net::co_spawn(*io_, AcceptTcp(), net::detached);
  if (unix_) net::co_spawn(*io_, AcceptUnix(), net::detached);
  for (;;) {
    try {
      io_->run();
      break;
    } catch (const std::exception& e) {
      log_ << "brood serve: " << e.what() << "\n";
      ++failed_;
    }
  }
  sessions_->CloseAll();  // sessions are not kept: a restarted server has none
  return failed_ ? 1 : 0;
}

void ServerImpl::BeginStop(int grace_ms) {
  if (ctx_->stopping) return;
  ctx_->stopping = true;
  beast::error_code ec;
  if (tcp_) tcp_->close(ec);
  if (unix_) {
    unix_->close(ec);
    unlink(opts_.unix_path.c_str());
  }
  if (expire_) expire_->cancel();
  batches_->Stop(grace_ms);
  grace_ = std::make_unique<net::steady_timer>(*io_, std::chrono::milliseconds(grace_ms));
  grace_->async_wait([this](beast::error_code e) {
    if (e) return;
    engine_.CancelGroup(ctx_->run_group);
    sessions_->CancelExecs();
  });
  CheckDrained();
}

// Shutdown: once no job of a request, no batch and no session's command or call runs, the
// connections close and Run returns (closing the sessions).
void ServerImpl::CheckDrained() {
  if (ctx_->runs_in_flight == 0 && !batches_->running_any() && sessions_->busy() == 0) {
    grace_->cancel();
    for (Connection* c :
         std::vector<Connection*>(ctx_->connections.begin(), ctx_->connections.end()))
      c->Close();
    io_->stop();
    return;
  }
  drain_ = std::make_unique<net::steady_timer>(*io_, std::chrono::milliseconds(20));
  drain_->async_wait([this](beast::error_code e) {
    if (!e) CheckDrained();
  });
}

}  // namespace

std::string DefaultStateDir() {
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg == '/')
    return std::string(xdg) + "/brood";
  if (geteuid() == 0) return "/var/lib/brood";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.local/state/brood";
}

std::unique_ptr<Server> Server::Create(Engine& engine, ServeOptions options, std::ostream& log,
                                       std::string* error) {
  auto s = std::make_unique<ServerImpl>(engine, std::move(options), log);
  if (sys::Status st = s->Init(); !st.ok()) {
    *error = st.message();
    return nullptr;
  }
  return s;
}

}  // namespace brood
