#include "verdict.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <thread>

#include "sandbox/seccomp_policy.hpp"
#include "sys/status.hpp"

namespace brood {

// The job's own cwd and files are the job's mistake (unless they did not fit); any other step
// that fails is the host's or brood's, as its errno says.
ErrorKind SetupErrorKind(sandbox::Stage stage, int err) {
  if (stage == sandbox::Stage::kChdir || stage == sandbox::Stage::kFiles)
    return err == ENOSPC || err == EDQUOT ? ErrorKind::kResourceExhausted
                                          : ErrorKind::kInvalidArgument;
  return sys::KindOfErrno(err);
}

std::string SetupErrorMessage(sandbox::Stage stage, int err) {
  std::string what = std::string(sys::ErrnoName(err)) + " (" + std::strerror(err) + ")";
  if (stage == sandbox::Stage::kChdir)
    return "the working directory (cwd) cannot be entered in the sandbox: " + what;
  if (stage == sandbox::Stage::kFiles)
    return "the job's files cannot be written into /workspace: " + what;
  return std::string("sandbox setup failed at ") + sandbox::StageName(stage) + ": " + what +
         "; run `brood doctor` to check this host";
}

Outcome Decide(const Observation& o) {
  Outcome v;
  if (o.setup_error) {
    v.status = TaskStatus::kSandboxError;
    v.error = *o.setup_error;
    v.error_kind = o.setup_kind;
    return v;
  }
  if (o.killed == KillReason::kWall) v.limits_hit.push_back("wall");
  if (o.killed == KillReason::kCpu || o.cpu_ms >= static_cast<double>(o.cpu_budget_ms))
    v.limits_hit.push_back("cpu");
  if (o.oom_kills > 0 || o.memory_oom_events > 0) v.limits_hit.push_back("memory");
  if (o.pids_max_events > 0) v.limits_hit.push_back("pids");
  if (o.disk_full) v.limits_hit.push_back("disk");
  if (o.output_truncated || o.killed == KillReason::kOutput) v.limits_hit.push_back("output");

  if (o.exited_report && o.killed == KillReason::kNone) {
    if (WIFEXITED(o.wait_status)) v.exit_code = WEXITSTATUS(o.wait_status);
    if (WIFSIGNALED(o.wait_status)) v.signal = WTERMSIG(o.wait_status);
  } else if (o.killed != KillReason::kNone) {
    v.signal = SIGKILL;  // brood's SIGKILL to the task's init
  }

  if (o.killed == KillReason::kCancelled) {
    v.status = TaskStatus::kSandboxError;
    v.error =
        "cancelled: the job, its group or brood itself was stopped, and brood killed the task";
    v.error_kind = ErrorKind::kCancelled;
    return v;
  }
  switch (o.killed) {
    case KillReason::kWall:
      v.status = TaskStatus::kTimeout;
      return v;
    case KillReason::kCpu:
      v.status = TaskStatus::kCpuLimit;
      return v;
    case KillReason::kOutput:
      v.status = TaskStatus::kOutputLimit;
      return v;
    case KillReason::kNone:
    case KillReason::kCancelled:  // decided above
      break;
  }
  if (!o.exited_report) {
    // The OOM killer picks by resident memory, and memory a task holds outside its processes
    // (a memfd, tmpfs files) counts for none of them: the victim can then be the task's init or
    // the zygote above it (same cgroup), whose death takes the task down before init reports.
    // The task's memory ended it, not brood or anyone outside.
    if (o.oom_kills > 0) {
      v.status = TaskStatus::kMemoryLimit;
      v.signal = SIGKILL;
      return v;
    }
    v.status = TaskStatus::kSandboxError;
    v.error = "the task's init ended without a report (killed from outside brood?)";
    v.error_kind = ErrorKind::kUnavailable;
    return v;
  }
  const bool exited_zero = v.exit_code && *v.exit_code == 0;
  if (o.oom_kills > 0 && !exited_zero) {
    v.status = TaskStatus::kMemoryLimit;
    return v;
  }
  if (v.signal) {
    const int sig = *v.signal;
    if (sig == SIGSYS)
      v.status = TaskStatus::kViolation;
    else if (sig == SIGXFSZ)
      v.status = TaskStatus::kDiskLimit;
    // rlimit mode: RLIMIT_CPU sends SIGXCPU at the soft limit, SIGKILL at the hard one.
    else if (o.rlimit_mode && (sig == SIGXCPU || (sig == SIGKILL && o.cpu_ms >= o.cpu_budget_ms)))
      v.status = TaskStatus::kCpuLimit;
    else
      v.status = TaskStatus::kSignaled;
    return v;
  }
  if (o.disk_full && !exited_zero)
    v.status = TaskStatus::kDiskLimit;
  else
    v.status = exited_zero ? TaskStatus::kOk : TaskStatus::kFailed;
  return v;
}

void DecideInto(const Observation& o, Result* res) {
  Outcome v = Decide(o);
  res->status = v.status;
  res->exit_code = v.exit_code;
  res->signal = v.signal;
  res->limits_hit = std::move(v.limits_hit);
  res->error = std::move(v.error);
  res->error_kind = v.error_kind;
}

std::vector<std::string> DeniedCallNames(const uint64_t (&bits)[8], bool foreign) {
  std::vector<std::string> names;
  for (uint32_t nr = 0; nr < 64 * std::size(bits); ++nr) {
    if (bits[nr / 64] >> (nr % 64) & 1) names.push_back(sandbox::SyscallName(nr));
  }
  if (foreign) names.push_back("(foreign)");
  std::sort(names.begin(), names.end());
  return names;
}

int64_t CpuCheckWait(int64_t left_ns, double cpus) {
  constexpr int64_t kMs = 1'000'000, kPeriod = 100 * kMs;
  static const double cores = std::max(1u, std::thread::hardware_concurrency());
  cpus = std::max(0.01, cpus);
  return std::max({static_cast<int64_t>(static_cast<double>(left_ns) / cores),
                   static_cast<int64_t>(static_cast<double>(left_ns) / cpus) - kPeriod, kMs});
}

}  // namespace brood
