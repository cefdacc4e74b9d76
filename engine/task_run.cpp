#include "task_run.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "cgroup/cgroup_fs.hpp"
#include "sandbox/collect.hpp"
#include "sandbox/seccomp_policy.hpp"
#include "sandbox/task_spec.hpp"
#include "sys/file.hpp"

namespace brood {
namespace {
constexpr int64_t kMs = 1000000;
constexpr int64_t kSetupGrace = 10'000 * kMs;  // for a setup to reach execve, past wall_ms
}  // namespace

// What the task's processes held at most, not counting file cache the kernel could reclaim: the
// task leaf's peak less the file pages it still held at the end, never below the largest
// process's peak RSS, never above the leaf's peak. A kernel that cannot reset the slot's peak
// (v2 before 6.12) only bounds the task's from above: the largest RSS stands in, under it.
uint64_t TaskRun::PeakMemory(const cgroup::Usage& u, uint64_t max_rss, int64_t file_bytes) {
  if (!u.peak_exact) return std::min(max_rss, u.peak_memory_bytes);
  uint64_t peak = u.peak_memory_bytes;
  if (file_bytes > 0) peak -= std::min(peak, static_cast<uint64_t>(file_bytes));
  return std::min(u.peak_memory_bytes, std::max(peak, max_rss));
}

void TaskRun::CollectFiles(Result& res) {
  auto bytes = sys::ReadWholeFd(p_.collect.get());
  if (!bytes.ok()) {
    collect_error_ = "collect: the collected files could not be read: " + bytes.status().message();
    return;
  }
  auto collected = sandbox::DecodeCollected(bytes.value());
  if (!collected) {
    if (obs_.exited_report) collect_error_ = "collect: the collected files could not be read";
    return;
  }
  res.files = std::move(collected->files);
  if (!collected->left_out.empty()) {
    std::string msg = "collect left out:";
    for (const auto& what : collected->left_out) msg += " " + what + ";";
    msg.pop_back();
    collect_error_ = msg;
  }
}

void TaskRun::Start(reactor::Reactor* reactor, TaskRunParams params) {
  (new TaskRun(reactor, std::move(params)))->Arm();
}

void TaskRun::Arm() {
  if (p_.running) p_.running->insert(this);
  obs_.rlimit_mode = p_.enforcement == Enforcement::kRlimit;
  obs_.cpu_budget_ms = p_.limits.cpu_ms;
  r_->ReadStream(
      p_.stdout_r.get(), [this](std::span<const char> d) { OnOutput(true, d); },
      [this](int) { OnStreamEnd(); });
  r_->ReadStream(
      p_.stderr_r.get(), [this](std::span<const char> d) { OnOutput(false, d); },
      [this](int) { OnStreamEnd(); });
  // init's exit is the third "stream": its pidfd turns readable only after the kernel has
  // killed and reaped every process of the namespace (init's report fd closes earlier, while
  // they are still dying), so cgroup figures and removal see a group with nothing left in it.
  // Every report is in the pipe by then.
  r_->PollReadable(p_.init.pidfd(), [this](int) {
    DrainReports();
    OnStreamEnd();
  });
  if (p_.stdin_source >= 0) {
    pump_ = r_->Pump(p_.stdin_source, p_.stdin_w.get(), [this](int) {
      pump_ = 0;
      p_.stdin_w.reset();  // EOF for the task
    });
  }
  if (p_.oom_event >= 0) {
    // The kernel's OOM event: the verdict itself comes from the group's oom_kill counter, read
    // at the end; the event makes `memory` show in limits_hit even when the counter lags.
    oom_ = r_->PollReadable(p_.oom_event, [this](int res) {
      oom_ = 0;
      if (res > 0 && p_.oom_event_is_oom) obs_.memory_oom_events += 1;
    });
  }
  // The wall limit counts from execve, which is after admission: the timer first fires at the
  // earliest the limit could be due (OnWall). The CPU limit's first check likewise: the task uses
  // no CPU of its own before its execve.
  ArmWall(p_.admitted_ns + p_.limits.wall_ms * kMs);
  if (p_.group) ArmCpuCheck(p_.admitted_ns, p_.limits.cpu_ms * kMs);
}

// The wall timer: ends the task once wall_ms have passed since its execve. Until execve is
// reported, a setup that outlasts wall_ms by kSetupGrace is ended (a stuck setup ends too).
// Counting from admission alone killed tasks with a small wall_ms before they ran, when their
// slot was cold or the host busy.
void TaskRun::OnWall() {
  wall_timer_ = 0;
  DrainReports();
  const int64_t now = reactor::NowNs();
  const int64_t deadline = exec_ns_ ? exec_ns_ + p_.limits.wall_ms * kMs
                                    : p_.admitted_ns + p_.limits.wall_ms * kMs + kSetupGrace;
  if (now >= deadline) return Kill(KillReason::kWall);
  if (!exec_ns_ && !reports_streamed_) {
    // Still in its setup: from now on the reactor reads init's reports as they come, and the
    // execve report re-arms the timer.
    reports_streamed_ = true;
    ++open_streams_;
    r_->ReadStream(
        p_.report_r.get(), [this](std::span<const char> d) { OnReport(d); },
        [this](int) { OnStreamEnd(); });
  }
  ArmWall(deadline);
}

// Reads every report init has written so far, without blocking: FIONREAD says how much is
// there (at init's exit, all of them: one ioctl and one read for the whole task).
void TaskRun::DrainReports() {
  if (reports_streamed_) return;
  for (;;) {
    int avail = 0;
    if (ioctl(p_.report_r.get(), FIONREAD, &avail) != 0 || avail <= 0) return;
    char buf[4096];
    const ssize_t n =
        read(p_.report_r.get(), buf, std::min(sizeof buf, static_cast<size_t>(avail)));
    if (n <= 0) return;
    OnReport({buf, static_cast<size_t>(n)});
    if (static_cast<size_t>(n) == static_cast<size_t>(avail)) return;  // what FIONREAD saw
  }
}

void TaskRun::ArmWall(int64_t deadline_ns) {
  if (wall_timer_) r_->Cancel(wall_timer_);
  wall_timer_ = r_->TimerAt(deadline_ns, [this] { OnWall(); });
}

void TaskRun::OnOutput(bool is_stdout, std::span<const char> d) {
  std::string& buf = is_stdout ? out_ : err_;
  uint64_t& count = is_stdout ? out_bytes_ : err_bytes_;
  bool& trunc = is_stdout ? out_trunc_ : err_trunc_;
  count += d.size();
  const auto cap = static_cast<uint64_t>(p_.limits.output_bytes);
  if (buf.size() < cap) buf.append(d.data(), std::min<uint64_t>(d.size(), cap - buf.size()));
  if (count > cap && !trunc) {
    trunc = true;
    Kill(KillReason::kOutput);
  }
}

void TaskRun::OnReport(std::span<const char> d) {
  using sandbox::Report;
  report_buf_.append(d.data(), d.size());  // a read may end within a record
  size_t off = 0;
  for (; off + sizeof(Report) <= report_buf_.size(); off += sizeof(Report)) {
    Report rep;
    std::memcpy(&rep, report_buf_.data() + off, sizeof rep);
    switch (rep.kind) {
      case sandbox::ReportKind::kSetupError:
        if (!obs_.setup_error) {
          obs_.setup_error = SetupErrorMessage(rep.stage, rep.err);
          obs_.setup_kind = SetupErrorKind(rep.stage, rep.err);
        }
        break;
      case sandbox::ReportKind::kExeced:
        exec_ns_ = rep.time_ns;
        if (reports_streamed_) ArmWall(exec_ns_ + p_.limits.wall_ms * kMs);
        break;
      case sandbox::ReportKind::kExited:
        obs_.exited_report = true;
        obs_.wait_status = rep.wait_status;
        obs_.disk_full = rep.disk_full != 0;
        cpu_us_rusage_ = rep.cpu_us;
        maxrss_kb_ = rep.maxrss_kb;
        file_bytes_ = rep.file_bytes;
        std::memcpy(denied_, rep.denied, sizeof denied_);
        denied_foreign_ = rep.denied_foreign != 0;
        end_ns_ = rep.time_ns;  // when init reaped the main process
        break;
      case sandbox::ReportKind::kCleaned:
        disk_cleaned_ = true;
        break;
      case sandbox::ReportKind::kSessionReady:  // a session's init's, never a task's
        break;
    }
  }
  report_buf_.erase(0, off);
}

// The CPU limit has no kernel event: re-read the task leaf's usage (the task's processes only,
// not brood's helpers) when the budget could first run out at full speed (CpuCheckWait), which
// converges on the deadline.
void TaskRun::CheckCpu() {
  cpu_timer_ = 0;
  if (finished_ || obs_.killed != KillReason::kNone) return;
  auto cpu_ns = p_.group->ReadCpuNs();
  if (!cpu_ns.ok()) return;
  const int64_t used = static_cast<int64_t>(*cpu_ns - p_.baseline.cpu_ns);
  const int64_t left = p_.limits.cpu_ms * kMs - used;
  if (left <= 0) return Kill(KillReason::kCpu);
  ArmCpuCheck(reactor::NowNs(), left);
}

// The next check: at `from` plus the shortest time in which `left` ns of CPU could be used.
void TaskRun::ArmCpuCheck(int64_t from, int64_t left) {
  cpu_timer_ = r_->TimerAt(from + CpuCheckWait(left, p_.limits.cpus), [this] { CheckCpu(); });
}

void TaskRun::Kill(KillReason why) {
  DrainReports();  // a task that has already ended is not killed (nor blamed) for it
  if (obs_.killed != KillReason::kNone || obs_.exited_report) return;
  obs_.killed = why;
  end_ns_ = reactor::NowNs();
  // Killing pid 1 of the task's namespace kills every process in it.
  p_.init.Kill();
  KillTaskProcesses();
}

// init's death kills the rest of its namespace only once init has run its exit, and init shares
// the group's CPU with the task: until it gets a CPU (a slice or a tick later, more on a loaded
// host), the task's processes run on, which for a CPU limit is CPU time past the deadline. So
// each process of the task gets its SIGKILL now too. They are the group's processes in init's
// pid namespace (the slot's zygotes, in the group as well, are outside it). A pidfd pins each
// one before its namespace is checked, so a pid reused meanwhile is never signalled.
void TaskRun::KillTaskProcesses() {
  if (!p_.group) return;
  const auto files = p_.group->ProcsFiles();
  if (files.empty()) return;
  const int init_pid = InitPid();
  if (init_pid <= 0) return;
  struct stat init_ns;
  if (stat(("/proc/" + std::to_string(init_pid) + "/ns/pid").c_str(), &init_ns) != 0) return;
  auto pids = cgroup::fs::ReadProcs(files.front());
  if (!pids.ok()) return;
  for (pid_t pid : *pids) {
    if (pid == init_pid) continue;
    auto process = sys::Process::Open(pid);
    if (!process.ok()) continue;
    struct stat ns;
    if (stat(("/proc/" + std::to_string(pid) + "/ns/pid").c_str(), &ns) != 0 ||
        ns.st_ino != init_ns.st_ino || ns.st_dev != init_ns.st_dev) {
      (void)process->Release();  // not the task's: left alone
      continue;
    }
    process->Kill();
  }
}

// init's pid in our namespace, from its pidfd's fdinfo ("Pid:\t123").
int TaskRun::InitPid() {
  sys::UniqueFd fd(
      open(("/proc/self/fdinfo/" + std::to_string(p_.init.pidfd())).c_str(), O_RDONLY | O_CLOEXEC));
  char buf[512];
  const ssize_t n = fd ? read(fd.get(), buf, sizeof buf - 1) : -1;
  if (n <= 0) return -1;
  buf[n] = 0;
  const char* at = std::strstr(buf, "\nPid:");
  return at ? std::atoi(at + 5) : -1;
}

void TaskRun::OnStreamEnd() {
  if (--open_streams_ == 0) Finish();
}

void TaskRun::Finish() {
  finished_ = true;
  for (auto* op : {&wall_timer_, &cpu_timer_, &pump_, &oom_})
    if (*op) r_->Cancel(std::exchange(*op, 0));
  if (!end_ns_) end_ns_ = reactor::NowNs();

  Result res;
  res.id = p_.id;
  res.limits = p_.limits;
  res.limits_enforced = p_.enforcement;
  res.landlock = p_.landlock;
  if (p_.watch_denied) res.denied_calls = DeniedCallNames(denied_, denied_foreign_);
  res.stdout_data = std::move(out_);
  res.stderr_data = std::move(err_);
  res.stdout_bytes = out_bytes_;
  res.stderr_bytes = err_bytes_;
  res.stdout_truncated = out_trunc_;
  res.stderr_truncated = err_trunc_;
  obs_.output_truncated = out_trunc_ || err_trunc_;
  res.cpu_ms = static_cast<double>(cpu_us_rusage_) / 1000.0;
  res.peak_memory_bytes = static_cast<uint64_t>(maxrss_kb_) * 1024;
  if (p_.group) {
    if (auto u = p_.group->ReadUsage(); u.ok()) {
      const cgroup::Usage& b = p_.baseline;
      res.cpu_ms = static_cast<double>(u->cpu_ns - b.cpu_ns) / 1e6;
      res.peak_memory_bytes = PeakMemory(*u, res.peak_memory_bytes, file_bytes_);
      // What the cgroup holds the task to: a main process's ru_maxrss counts pages shared with
      // others, and v1's max_usage can show a charge in flight past the limit (seen: one page).
      res.peak_memory_bytes =
          std::min(res.peak_memory_bytes, static_cast<uint64_t>(res.limits.memory_mb) << 20);
      obs_.oom_kills = u->oom_kills - b.oom_kills;
      obs_.memory_oom_events += u->memory_oom_events - b.memory_oom_events;
      obs_.pids_max_events = u->pids_max_events - b.pids_max_events;
    }
  }
  if (p_.collect) CollectFiles(res);
  obs_.cpu_ms = res.cpu_ms;
  if (exec_ns_) {
    // A kill stamps its end before init's report of the execve is read: init stamps that report
    // once it sees the execve, which can be after the kill's stamp (a task cancelled as it
    // started). Such a task ran for no time, never for less.
    res.wall_ms = static_cast<double>(std::max<int64_t>(0, end_ns_ - exec_ns_)) / 1e6;
    res.start_latency_us = (exec_ns_ - p_.admitted_ns) / 1000;
  }
  DecideInto(obs_, &res);
  if (!res.error && !collect_error_.empty()) res.error = collect_error_;
  Report(std::move(res));
}

// Every process of the task is gone (init's pidfd fired): the slot can serve the next task.
// A task whose setup failed, or whose init died without reporting, is an anomaly: its zygote
// is replaced rather than trusted again.
void TaskRun::Report(Result result) {
  if (p_.running) p_.running->erase(this);
  const bool anomaly =
      obs_.setup_error.has_value() || (!obs_.exited_report && obs_.killed == KillReason::kNone);
  zygote::Lease lease = std::move(p_.lease);
  auto on_done = std::move(p_.on_done);
  (void)p_.init.Release();  // its pidfd fired: it is gone, nothing to kill
  const bool disk_cleaned = disk_cleaned_;
  delete this;
  if (lease) {
    lease.slot().disk_clean = disk_cleaned;
    lease.Return(anomaly);
  }
  on_done(std::move(result));
}

}  // namespace brood
