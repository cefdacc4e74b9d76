// One command of a session, watched by the session's watch thread from its request to its result.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <thread>

#include "reactor/reactor.hpp"  // NowNs
#include "sandbox/task_spec.hpp"
#include "session/session.hpp"
#include "sys/file.hpp"
#include "verdict.hpp"

namespace brood::session {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSetupGrace = 10'000 * kMs;  // for a command's setup to reach execve
// How often a running command looks at the session's OOM kills and refused forks: a fork bomb
// (or an OOM kill a process survives) ends the session within this, not at the command's wall.
constexpr int64_t kSessionCheckEvery = 250 * kMs;

// A pipe's read end, for one stream of the command.
struct Stream {
  sys::UniqueFd fd;
  std::string data;
  uint64_t bytes = 0;
  bool truncated = false;
  bool eof = false;
};

// Reads what `s` has now (non-blocking); false once the cap is passed.
bool ReadAvailable(Stream& s, uint64_t cap) {
  char buf[65536];
  for (;;) {
    const ssize_t n = read(s.fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return !s.truncated;  // EAGAIN: all for now
    if (n == 0) {
      s.eof = true;
      return !s.truncated;
    }
    s.bytes += static_cast<uint64_t>(n);
    if (s.data.size() < cap)
      s.data.append(buf, std::min<uint64_t>(static_cast<uint64_t>(n), cap - s.data.size()));
    if (s.bytes > cap) s.truncated = true;
  }
}

}  // namespace

bool SessionImpl::Start(ExecOptions exec, std::function<void(Result)> on_result,
                        SessionError* error) {
  auto refuse = [&](ErrorKind kind, std::string message) {
    error->kind = kind;
    error->message = std::move(message);
    return false;
  };
  if (exec.argv.empty() || exec.argv[0].empty())
    return refuse(ErrorKind::kInvalidArgument, "the command is empty");
  if (exec.cwd.empty() || exec.cwd[0] != '/')
    return refuse(ErrorKind::kInvalidArgument, "cwd: \"" + exec.cwd + "\" is not absolute");
  if (exec.wall_ms < 0 || exec.cpu_ms < 0 || exec.output_bytes < 0)
    return refuse(ErrorKind::kInvalidArgument, "limits: a negative value");
  {
    std::lock_guard lock(mu_);
    CheckLimitsLocked();
    if (closing_ || !ended_.empty())
      return refuse(ErrorKind::kCancelled,
                    "the session has ended: " + (ended_.empty() ? "closed" : ended_));
    if (running_)
      return refuse(ErrorKind::kUnavailable, "a command is running in this session already");
    running_ = true;
    eventfd_t drained;
    (void)eventfd_read(cancel_.get(), &drained);
    ++watchers_;
    queued_.emplace(Queued{std::move(exec), std::move(on_result)});
    if (!watch_thread_.joinable()) watch_thread_ = std::thread([this] { WatchLoop(); });
    queued_ready_.notify_one();
  }
  return true;
}

void SessionImpl::WatchLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    queued_ready_.wait(lock, [this] { return queued_.has_value() || watch_stop_; });
    if (!queued_) return;
    Queued q = std::move(*queued_);
    queued_.reset();
    lock.unlock();
    // on_result may Start the next command: it is queued, and taken once this one is done.
    RunExec(std::move(q.exec), std::move(q.on_result));
    lock.lock();
    --watchers_;
    watchers_gone_.notify_all();
  }
}

void SessionImpl::RunExec(ExecOptions exec, std::function<void(Result)> on_result) {
  const int64_t admitted_ns = reactor::NowNs();
  Limits limits = options_.limits;
  if (exec.wall_ms > 0) {
    limits.wall_ms = exec.wall_ms;
    limits.cpu_ms = exec.wall_ms;  // cpu_ms 0 means "= wall_ms", the command's
  }
  if (exec.cpu_ms > 0) limits.cpu_ms = exec.cpu_ms;
  if (exec.output_bytes > 0) limits.output_bytes = exec.output_bytes;
  const auto cap = static_cast<uint64_t>(limits.output_bytes);

  Result res;
  res.limits = limits;
  res.limits_enforced = host_.enforcement;
  res.landlock = host_.landlock;
  Observation obs;
  obs.cpu_budget_ms = limits.cpu_ms;
  Stream out, err;
  sys::UniqueFd rep_r;
  ReadyLeaf ready;
  // The session's OOM kills and refused forks before the command: none, or it would have ended
  // (CheckLimitsLocked before every command), so the counters after it are the command's.
  const cgroup::Usage before;
  cgroup::Group* group = nullptr;

  auto fail = [&](const sys::Status& st) {
    obs.setup_error = "session: " + st.message();
    obs.setup_kind = st.kind();
  };
  auto start = [&]() -> sys::Status {
    {
      std::lock_guard lock(mu_);
      if (!ended_.empty()) return sys::Status::Error(ErrorKind::kCancelled, "the session ended");
      group = group_.get();
      ready = std::move(next_leaf_);
      next_leaf_ = {};
      if (!ready.leaf && group) {
        auto made = NewLeaf();
        if (!made.ok()) return made.status();
        ready = std::move(made.value());
      }
    }
    sandbox::TaskSpec spec = BaseSpec(limits);
    spec.argv = exec.argv;
    std::map<std::string, std::string> env = {
        {"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", "/workspace"}, {"LANG", "C.UTF-8"}};
    for (const auto& [k, v] : options_.env) env[k] = v;
    for (const auto& [k, v] : exec.env) env[k] = v;
    for (const auto& [k, v] : env) spec.envp.push_back(k + "=" + v);
    spec.cwd = exec.cwd;
    auto spec_fd = sys::MemfdWith(sandbox::EncodeTaskSpec(spec), "brood-spec");
    if (!spec_fd.ok()) return spec_fd.status();
    auto o = sys::MakePipe(O_NONBLOCK), e = sys::MakePipe(O_NONBLOCK), r = sys::MakePipe(O_DIRECT);
    for (auto* p : {&o, &e, &r})
      if (!p->ok()) return p->status();
    // Only the read ends are ours to poll without blocking.
    fcntl(o->w.get(), F_SETFL, 0);
    fcntl(e->w.get(), F_SETFL, 0);
    sys::UniqueFd in;
    if (!exec.stdin_data.empty()) {
      auto mem = sys::MemfdWith(exec.stdin_data, "brood-stdin");
      if (!mem.ok()) return mem.status();
      in = std::move(mem.value());
    }
    sandbox::SessionRequest req;
    req.op = sandbox::SessionOp::kExec;
    req.has_stdin = in.valid();
    req.clone_into = ready.clone_into;
    req.leaf_fds = static_cast<uint32_t>(ready.joins.size());
    std::vector<int> fds = {spec_fd->get(), o->w.get(), e->w.get(), r->w.get()};
    if (in) fds.push_back(in.get());
    for (const auto& j : ready.joins) fds.push_back(j.get());
    auto reply = Ask(req, fds);
    if (!reply.ok()) return reply.status();
    if (reply->err != 0) return sys::PosixError("session init: starting the command", reply->err);
    out.fd = std::move(o->r);
    err.fd = std::move(e->r);
    rep_r = std::move(r->r);
    return sys::OkStatus();
  };
  if (sys::Status st = start(); !st.ok()) fail(st);
  ready.joins.clear();
  cgroup::Leaf* leaf = ready.leaf.get();
  // While the command runs, off every critical path: the leaves of earlier commands whose
  // processes are all gone are removed, and the next command's leaf is made ahead.
  {
    std::lock_guard lock(mu_);
    std::erase_if(left_, [](const auto& l) { return l->Empty(); });
    if (ended_.empty() && !next_leaf_.leaf && group_) {
      auto made = NewLeaf();
      if (made.ok()) next_leaf_ = std::move(made.value());
    }
  }

  uint64_t denied[8] = {};  // the calls the init's seccomp listener saw (kill, log)
  bool denied_foreign = false;
  int64_t exec_ns = 0, end_ns = 0, next_cpu_check = 0, next_session_check = 0;
  // The session's processes together hit its memory or pids limit: the session ends (after the
  // command, CheckLimitsLocked), so the command is ended now. Its main process's SIGKILL, with
  // the command's OOM kills or refused forks, then decides its status.
  bool session_ended_under = false;
  auto session_limit_hit = [&] {
    std::lock_guard lock(mu_);
    return !LimitHitLocked().empty();
  };
  auto kill = [&](KillReason why) {
    if (obs.killed != KillReason::kNone || obs.exited_report) return;
    obs.killed = why;
    end_ns = reactor::NowNs();
    if (leaf) (void)leaf->KillAll();  // the main process's end then comes as usual
  };
  while (rep_r) {
    const int64_t now = reactor::NowNs();
    const int64_t wall_end =
        exec_ns ? exec_ns + limits.wall_ms * kMs : admitted_ns + limits.wall_ms * kMs + kSetupGrace;
    if (now >= wall_end) kill(KillReason::kWall);
    if (exec_ns && leaf && obs.killed == KillReason::kNone && now >= next_cpu_check) {
      // As TaskRun::CheckCpu: the longest wait that cannot exhaust what is left.
      auto used = leaf->CpuNs();
      const int64_t left = limits.cpu_ms * kMs - (used.ok() ? static_cast<int64_t>(*used) : 0);
      if (left <= 0) {
        kill(KillReason::kCpu);
      } else {
        next_cpu_check = now + CpuCheckWait(left, limits.cpus);
      }
    }
    if (exec_ns && leaf && obs.killed == KillReason::kNone && !session_ended_under &&
        now >= next_session_check) {
      if (session_limit_hit()) {
        session_ended_under = true;
        (void)leaf->KillAll();
      }
      next_session_check = now + kSessionCheckEvery;
    }
    int64_t wake = wall_end;
    if (exec_ns && obs.killed == KillReason::kNone) wake = std::min(wake, next_cpu_check);
    if (exec_ns && obs.killed == KillReason::kNone && !session_ended_under)
      wake = std::min(wake, next_session_check);
    const int timeout_ms =
        obs.killed != KillReason::kNone
            ? 1000
            : static_cast<int>(std::clamp<int64_t>((wake - now + kMs - 1) / kMs, 0, 60'000));
    pollfd p[4] = {{rep_r.get(), POLLIN, 0},
                   {out.eof ? -1 : out.fd.get(), POLLIN, 0},
                   {err.eof ? -1 : err.fd.get(), POLLIN, 0},
                   {cancel_.get(), POLLIN, 0}};
    if (poll(p, 4, timeout_ms) < 0 && errno != EINTR) break;
    if (p[3].revents) {
      eventfd_t n;
      (void)eventfd_read(cancel_.get(), &n);
      kill(KillReason::kCancelled);
    }
    for (auto [i, s] : {std::pair{1, &out}, std::pair{2, &err}}) {
      if (p[i].revents && !ReadAvailable(*s, cap)) kill(KillReason::kOutput);
    }
    if (!p[0].revents) continue;
    sandbox::Report rep{};
    const ssize_t n = read(rep_r.get(), &rep, sizeof rep);
    if (n < 0 && errno == EINTR) continue;
    if (n != sizeof rep) break;  // the init is gone: the session ended under the command
    if (rep.kind == sandbox::ReportKind::kSetupError && !obs.setup_error) {
      obs.setup_error = SetupErrorMessage(rep.stage, rep.err);
      obs.setup_kind = SetupErrorKind(rep.stage, rep.err);
    } else if (rep.kind == sandbox::ReportKind::kExeced) {
      exec_ns = rep.time_ns;
      next_cpu_check = exec_ns;
      next_session_check = exec_ns + kSessionCheckEvery;
    } else if (rep.kind == sandbox::ReportKind::kExited) {
      obs.exited_report = true;
      obs.wait_status = rep.wait_status;
      obs.disk_full = rep.disk_full != 0;
      res.cpu_ms = static_cast<double>(rep.cpu_us) / 1000.0;
      res.peak_memory_bytes = static_cast<uint64_t>(rep.maxrss_kb) * 1024;
      std::memcpy(denied, rep.denied, sizeof denied);
      denied_foreign = rep.denied_foreign != 0;
      if (!end_ns) end_ns = rep.time_ns;
      break;
    }
  }
  if (!end_ns) end_ns = reactor::NowNs();
  // A violation under --on-violation kill ends the command with everything it started, as a
  // timeout does (the session's init killed only its main process).
  if (obs.exited_report && WIFSIGNALED(obs.wait_status) && WTERMSIG(obs.wait_status) == SIGSYS &&
      host_.watch_denied && leaf)
    (void)leaf->KillAll();
  if (host_.watch_denied) res.denied_calls = DeniedCallNames(denied, denied_foreign);
  // Everything the main process wrote is in the pipes now; what comes later is dropped.
  for (Stream* s : {&out, &err}) {
    if (s->fd && !s->eof && !ReadAvailable(*s, cap)) obs.output_truncated = true;
  }
  if (!obs.exited_report && !obs.setup_error && obs.killed == KillReason::kNone) {
    std::lock_guard lock(mu_);
    obs.killed = KillReason::kCancelled;
    obs.setup_error = "the session ended while the command ran" +
                      (ended_.empty() ? std::string() : ": " + ended_);
    obs.setup_kind = ErrorKind::kCancelled;
  }
  if (leaf) {
    if (auto cpu = leaf->CpuNs(); cpu.ok()) res.cpu_ms = static_cast<double>(*cpu) / 1e6;
    if (auto peak = leaf->PeakMemory(); peak.ok()) res.peak_memory_bytes = *peak;
  }
  std::optional<cgroup::Usage> after;  // also what the session's limits are checked against
  if (group) {
    std::lock_guard lock(mu_);
    if (group_) {
      if (auto u = group_->ReadUsage(); u.ok()) {
        obs.oom_kills = u->oom_kills - before.oom_kills;
        obs.memory_oom_events = u->memory_oom_events - before.memory_oom_events;
        obs.pids_max_events = u->pids_max_events - before.pids_max_events;
        after = *u;
      }
    }
  }
  res.stdout_data = std::move(out.data);
  res.stderr_data = std::move(err.data);
  res.stdout_bytes = out.bytes;
  res.stderr_bytes = err.bytes;
  res.stdout_truncated = out.truncated;
  res.stderr_truncated = err.truncated;
  obs.output_truncated = obs.output_truncated || out.truncated || err.truncated;
  obs.cpu_ms = res.cpu_ms;
  if (exec_ns) {
    // As for a task (task_run.cpp): an execve reported after a kill's end stamp ran for no time.
    res.wall_ms = static_cast<double>(std::max<int64_t>(0, end_ns - exec_ns)) / 1e6;
    res.start_latency_us = (exec_ns - admitted_ns) / 1000;
  }
  DecideInto(obs, &res);
  // What leftover processes write later is the session's init's to read and drop (its CPU is
  // the session's): not the supervisor's, whose fds and CPU a session must not be able to pin.
  std::vector<int> left_open;
  for (Stream* s : {&out, &err})
    if (s->fd && !s->eof) left_open.push_back(s->fd.get());
  if (!left_open.empty()) {
    sandbox::SessionRequest req;
    req.op = sandbox::SessionOp::kDrain;
    (void)Ask(req, left_open);  // the fds are the init's now (or closed here, the init gone)
  }
  {
    std::lock_guard lock(mu_);
    if (ready.leaf && group_)
      left_.push_back(std::move(ready.leaf));  // swept while the next command runs
    running_ = false;
    CheckLimitsLocked(after ? &*after : nullptr);
  }
  on_result(std::move(res));
}

}  // namespace brood::session
