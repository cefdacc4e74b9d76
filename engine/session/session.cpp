#include "session/session.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "sandbox/task_spec.hpp"
#include "sandbox/workspace_files.hpp"
#include "sys/fd_passing.hpp"
#include "sys/file.hpp"
#include "verdict.hpp"
#include "zygote/pool.hpp"

namespace brood::session {
namespace {

constexpr int kReadyTimeoutMs = 30'000;  // for the init to mount the workspace and write files
constexpr uint64_t kHelperPids = 4;      // zygote, init, a file call's child, one to spare

SessionError Err(ErrorKind kind, std::string message) {
  SessionError e;
  e.kind = kind;
  e.message = std::move(message);
  return e;
}

// Waits for the init's first report: ready, or why its setup failed.
sys::Status AwaitReady(int report_r) {
  pollfd p = {report_r, POLLIN, 0};
  int n;
  while ((n = poll(&p, 1, kReadyTimeoutMs)) < 0 && errno == EINTR) {
  }
  if (n == 0) return sys::Status::Error(ErrorKind::kUnavailable, "session init: not ready in 30 s");
  sandbox::Report r{};
  const ssize_t got = read(report_r, &r, sizeof r);
  if (got != sizeof r) return sys::Status::Error(ErrorKind::kUnavailable, "session init died");
  if (r.kind == sandbox::ReportKind::kSessionReady) return sys::OkStatus();
  if (r.kind == sandbox::ReportKind::kSetupError)
    return sys::Status::Error(SetupErrorKind(r.stage, r.err), SetupErrorMessage(r.stage, r.err));
  return sys::Status::Error("session init: unexpected report");
}

}  // namespace

std::unique_ptr<SessionImpl> SessionImpl::Create(const Host& host, const Seat& seat,
                                                 const SessionOptions& options,
                                                 std::function<void()> on_gone,
                                                 SessionError* error) {
  std::unique_ptr<SessionImpl> s(new SessionImpl(host, seat, options));
  s->options_.limits = options.limits.Resolved();
  s->on_gone_ = std::move(on_gone);
  if (sys::Status st = s->Begin(); !st.ok()) {
    *error = Err(st.kind(), "session: " + st.message());
    s->Close("sandbox_error");
    return nullptr;
  }
  return s;
}

sys::Status SessionImpl::Begin() {
  std::lock_guard lock(mu_);
  const Limits& l = options_.limits;
  auto root = host_.roots.find(options_.root);
  if (root == host_.roots.end())
    return sys::Status::Error(ErrorKind::kInvalidArgument,
                              "no root named \"" + options_.root + "\"");
  cancel_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!cancel_) return sys::PosixError("eventfd");
  if (host_.tree) {
    auto group = host_.tree->MakeGroup(seat_.group_name);
    if (!group.ok()) return group.status();
    group_ = std::move(group.value());
    BROOD_RETURN_IF_ERROR(group_->Delegate(seat_.host_uid, seat_.host_gid));
    cgroup::GroupLimits gl;
    gl.memory_bytes = static_cast<uint64_t>(l.memory_mb) << 20;
    gl.pids = static_cast<uint64_t>(l.pids);
    gl.group_pids = gl.pids + kHelperPids;
    gl.cpus = l.cpus;
    BROOD_RETURN_IF_ERROR(group_->SetLimits(gl));
  }
  sys::UniqueFd workspace_mount;
  if (host_.use_disk) {
    auto disk = workspace::Disk::Create(host_.disk_opts, l.disk_mb, WorkspaceInodes(l.disk_mb),
                                        seat_.host_uid, seat_.host_gid);
    if (!disk.ok()) return disk.status().Wrap("workspace disk");
    disk_ = std::move(disk.value());
    auto m = disk_->NewMount();
    if (!m.ok()) return m.status();
    workspace_mount = std::move(m.value());
  }
  auto z = host_.hatchery->SpawnZygote(zygote::ZygoteConfigFor(
      group_.get(), seat_.host_uid, seat_.host_gid, root->second, options_.network));
  if (!z.ok()) return z.status();
  zygote_ = std::move(z.value());

  sandbox::TaskSpec spec = BaseSpec(l);
  spec.session = true;
  spec.files = options_.files;
  auto spec_fd = sys::MemfdWith(sandbox::EncodeTaskSpec(spec), "brood-session");
  if (!spec_fd.ok()) return spec_fd.status();
  int sv[2], rep[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return sys::PosixError("socketpair(session)");
  sock_.reset(sv[0]);
  sys::UniqueFd its_sock(sv[1]);
  if (pipe2(rep, O_CLOEXEC | O_DIRECT) != 0) return sys::PosixError("pipe2");
  sys::UniqueFd rep_r(rep[0]), rep_w(rep[1]);
  sys::UniqueFd null(open("/dev/null", O_WRONLY | O_CLOEXEC));
  if (!null) return sys::PosixError("open(/dev/null)");
  zygote::RunFds fds{spec_fd->get(),
                     -1,
                     null.get(),
                     null.get(),
                     rep_w.get(),
                     -1,
                     workspace_mount ? workspace_mount.get() : -1};
  fds.session_sock = its_sock.get();
  auto pidfd = zygote::RunInZygote(zygote_, fds);
  if (!pidfd.ok()) return sys::Status::Error(ErrorKind::kUnavailable, pidfd.status().message());
  init_ = sys::Process(std::move(pidfd.value()));
  rep_w.reset();
  its_sock.reset();
  BROOD_RETURN_IF_ERROR(AwaitReady(rep_r.get()));
  auto leaf = NewLeaf();
  if (!leaf.ok()) return leaf.status();
  next_leaf_ = std::move(leaf.value());
  return sys::OkStatus();
}

sandbox::TaskSpec SessionImpl::BaseSpec(const Limits& l) const {
  sandbox::TaskSpec spec;
  spec.disk_mb = l.disk_mb;
  spec.disk_inodes = WorkspaceInodes(l.disk_mb);
  spec.memory_mb = l.memory_mb;
  spec.cpu_ms = l.cpu_ms;
  spec.pids = l.pids;
  spec.rlimit_mode = host_.enforcement == Enforcement::kRlimit;
  spec.workspace_disk = host_.use_disk;
  spec.landlock_abi = host_.landlock;
  return spec;
}

SessionImpl::~SessionImpl() {
  Close("closed");
  if (on_gone_) on_gone_();
}

sys::StatusOr<SessionImpl::ReadyLeaf> SessionImpl::NewLeaf() {
  ReadyLeaf r;
  if (!group_) return r;
  auto leaf = group_->MakeLeaf("c" + std::to_string(++execs_), seat_.host_uid, seat_.host_gid);
  if (!leaf.ok()) return leaf.status();
  r.leaf = std::move(leaf.value());
  const cgroup::LeafJoin j = r.leaf->Join();
  r.clone_into = j.clone_into;
  for (const std::string& p : j.clone_into ? std::vector{j.dir} : j.procs) {
    sys::UniqueFd fd(open(p.c_str(), (j.clone_into ? O_PATH | O_DIRECTORY : O_WRONLY) | O_CLOEXEC));
    if (!fd) return sys::PosixError("open(" + p + ")");
    r.joins.push_back(std::move(fd));
  }
  return r;
}

sys::StatusOr<sandbox::SessionReply> SessionImpl::Ask(const sandbox::SessionRequest& req,
                                                      std::span<const int> fds) {
  std::lock_guard lock(ask_mu_);
  if (!sock_) return sys::Status::Error(ErrorKind::kCancelled, "the session has ended");
  if (int err = sys::SendWithFds(
          sock_.get(), std::span<const char>(reinterpret_cast<const char*>(&req), sizeof req), fds))
    return sys::PosixError("session init: send", err);
  sandbox::SessionReply reply;
  int none[1];
  const sys::Received r = sys::ReceiveWithFds(
      sock_.get(), std::span<char>(reinterpret_cast<char*>(&reply), sizeof reply), {none, 0});
  if (r.error != 0 || r.bytes != sizeof reply || reply.magic != sandbox::kSessionMagic)
    return sys::Status::Error(ErrorKind::kUnavailable, "session init: no reply (it died)");
  return reply;
}

bool SessionImpl::FileCall(sandbox::SessionOp op, const std::string& path, int memfd,
                           uint64_t max_bytes, SessionError* error) {
  if (std::string why = sandbox::CheckWorkspacePath(path); !why.empty()) {
    *error = Err(ErrorKind::kInvalidArgument, "path \"" + path + "\": " + why);
    return false;
  }
  {
    std::lock_guard lock(mu_);
    CheckLimitsLocked();
    if (!ended_.empty()) {
      *error = Err(ErrorKind::kCancelled, "the session has ended: " + ended_);
      return false;
    }
  }
  sandbox::SessionRequest req;
  req.op = op;
  req.max_bytes = max_bytes;
  std::memcpy(req.path, path.data(), path.size());
  auto reply = Ask(req, std::span<const int>(&memfd, 1));
  if (!reply.ok()) {
    *error = Err(reply.status().kind(), reply.status().message());
    return false;
  }
  const int err = reply->err;
  if (err == 0) return true;
  error->errno_value = err;
  error->message =
      "\"" + path + "\": " + std::string(sys::ErrnoName(err)) + " (" + std::strerror(err) + ")";
  switch (err) {
    case ENOENT:
      error->kind = ErrorKind::kInvalidArgument;
      error->not_found = true;
      error->message = "\"" + path + "\": no such file in /workspace";
      break;
    case EFBIG:
      error->kind = ErrorKind::kResourceExhausted;
      error->message = "\"" + path + "\": larger than " + std::to_string(max_bytes) + " bytes";
      break;
    case ENOSPC:
    case EDQUOT:
      error->kind = ErrorKind::kResourceExhausted;
      error->message = "\"" + path + "\": the session's disk is full";
      break;
    case ELOOP:
    case ENXIO:
    case EINVAL:
    case EISDIR:
    case ENOTDIR:
    case EXDEV:
      error->kind = ErrorKind::kInvalidArgument;
      error->message =
          "\"" + path + "\": not a regular file below /workspace (" + sys::ErrnoName(err) + ")";
      break;
    case EACCES:
    case EPERM:
      error->kind = ErrorKind::kInvalidArgument;
      error->message = "\"" + path + "\": permission denied to the sandbox user";
      break;
    default:
      error->kind = sys::KindOfErrno(err);
  }
  return false;
}

bool SessionImpl::WriteFile(const std::string& path, const std::string& bytes,
                            SessionError* error) {
  auto mem = sys::MemfdWith(bytes, "brood-put");
  if (!mem.ok()) {
    *error = Err(mem.status().kind(), mem.status().message());
    return false;
  }
  return FileCall(sandbox::SessionOp::kWrite, path, mem->get(), bytes.size(), error);
}

bool SessionImpl::ReadFile(const std::string& path, uint64_t max_bytes, std::string* bytes,
                           SessionError* error) {
  auto mem = sys::MemfdWith("", "brood-get", /*seal=*/false);
  if (!mem.ok()) {
    *error = Err(mem.status().kind(), mem.status().message());
    return false;
  }
  if (!FileCall(sandbox::SessionOp::kRead, path, mem->get(), max_bytes, error)) return false;
  auto got = sys::ReadWholeFd(mem->get());
  if (!got.ok()) {
    *error = Err(ErrorKind::kInternal, got.status().message());
    return false;
  }
  *bytes = std::move(got.value());
  return true;
}

SessionUsage SessionImpl::Usage() {
  SessionUsage u;
  {
    std::lock_guard lock(mu_);
    CheckLimitsLocked();
    if (!ended_.empty() || !group_) return u;
    if (auto cur = group_->ReadCurrent(); cur.ok()) {
      u.memory_bytes = cur->memory_bytes;
      u.pids = cur->pids;
    }
    if (auto all = group_->ReadUsage(); all.ok()) {
      u.peak_memory_bytes = all->peak_memory_bytes;
      u.cpu_ms = static_cast<double>(all->cpu_ns) / 1e6;
    }
  }
  sandbox::SessionRequest req;
  req.op = sandbox::SessionOp::kStat;
  if (auto reply = Ask(req, {}); reply.ok() && reply->err == 0) u.disk_bytes = reply->value;
  return u;
}

std::string SessionImpl::EndedReason() {
  std::lock_guard lock(mu_);
  CheckLimitsLocked();
  return ended_;
}

std::string SessionImpl::EndedReasonSeen() {
  std::lock_guard lock(seen_mu_);
  return seen_;
}

void SessionImpl::CheckLimitsLocked(const cgroup::Usage* read) {
  // While a command runs its watch thread decides, once it is over (its result says why).
  if (!ended_.empty() || !group_ || running_) return;
  if (std::string hit = LimitHitLocked(read); !hit.empty()) return TearDownLocked(hit);
  if (!init_.valid() || init_.WaitExited(0)) TearDownLocked("sandbox_error");
}

std::string SessionImpl::LimitHitLocked(const cgroup::Usage* read) {
  if (!group_) return "";
  sys::StatusOr<cgroup::Usage> u = read ? sys::StatusOr<cgroup::Usage>(*read) : group_->ReadUsage();
  if (!u.ok()) return "";
  if (u->oom_kills > 0) return "memory";
  if (u->pids_max_events > 0) return "pids";
  return "";
}

void SessionImpl::CancelExec() {
  std::lock_guard lock(mu_);
  if (running_ && cancel_) (void)eventfd_write(cancel_.get(), 1);
}

void SessionImpl::Close(const std::string& reason) {
  std::unique_lock lock(mu_);
  closing_ = true;
  if (running_ && cancel_) (void)eventfd_write(cancel_.get(), 1);
  // The command's result is given first, and its watch thread is done with the session.
  watchers_gone_.wait(lock, [this] { return watchers_ == 0; });
  TearDownLocked(reason);
  // The watch thread ends too (one Close joins it: another may run alongside).
  watch_stop_ = true;
  queued_ready_.notify_all();
  std::thread watch = std::move(watch_thread_);
  lock.unlock();
  if (watch.joinable()) watch.join();
}

void SessionImpl::TearDownLocked(const std::string& reason) {
  if (ended_.empty()) ended_ = reason;
  {
    std::lock_guard lock(seen_mu_);
    seen_ = ended_;
  }
  {
    std::lock_guard lock(ask_mu_);
    sock_.reset();  // the init kills everything of its namespace and exits
  }
  if (init_.valid() && !init_.WaitExited(2000)) init_.Kill();
  if (init_.valid()) init_.WaitExited(2000);
  init_ = {};
  if (group_) (void)group_->KillAll();  // whatever left the namespace's reach (none should)
  next_leaf_ = {};
  left_.clear();
  if (zygote_.process) zygote::EndZygote(zygote_, /*kill=*/true);
  group_.reset();
  disk_.reset();
}

}  // namespace brood::session
