#include "doctor/child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sys/fd.hpp"

namespace brood::doctor {
namespace {

struct StepRecord {
  int32_t step;
  int32_t err;
};

// Every probe finishes in milliseconds; a child stuck longer (a hung mount, say) is killed and
// reported rather than hanging `brood doctor`.
constexpr int kChildTimeoutMs = 10'000;

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

}  // namespace

std::string ChildReport::Ending() const {
  if (timed_out) return "probe child timed out and was killed";
  if (WIFEXITED(wait_status)) {
    int code = WEXITSTATUS(wait_status);
    return code == 0 ? "" : "probe child exited with " + std::to_string(code);
  }
  if (WIFSIGNALED(wait_status)) {
    const char* name = sigabbrev_np(WTERMSIG(wait_status));
    return std::string("probe child killed by SIG") + (name ? name : "?");
  }
  return "probe child ended oddly";
}

void Report(int report_fd, int step, int err) noexcept {
  StepRecord rec{step, err};
  // A record is far below PIPE_BUF, so the write is atomic and never interleaves with the
  // grandchild's records.
  ssize_t n;
  do n = write(report_fd, &rec, sizeof rec);
  while (n < 0 && errno == EINTR);
}

int WriteFileRaw(const char* path, const char* data, size_t len) noexcept {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n = write(fd, data, len);
  int err = n < 0 ? errno : (static_cast<size_t>(n) == len ? 0 : EIO);
  close(fd);
  return err;
}

sys::StatusOr<ChildReport> RunInChildImpl(int steps, ChildBody body, const void* ctx) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return sys::PosixError("pipe2(O_CLOEXEC)");
  sys::UniqueFd read_end(fds[0]), write_end(fds[1]);

  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return sys::PosixError("fork");
  if (pid == 0) {
    // Nothing a probe leaves behind may outlive `brood doctor`.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    body(write_end.get(), ctx);
    _exit(0);
  }
  write_end.reset();

  ChildReport report;
  report.err.assign(steps, kNotRun);
  int64_t deadline = NowMs() + kChildTimeoutMs;
  for (;;) {
    int64_t left = deadline - NowMs();
    if (left <= 0) {
      report.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd pfd{read_end.get(), POLLIN, 0};
    int r = poll(&pfd, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;  // timeout: caught at the top of the loop
    StepRecord rec;
    ssize_t n = read(read_end.get(), &rec, sizeof rec);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof rec)) break;  // EOF: every writer has exited
    if (rec.step >= 0 && rec.step < steps) report.err[rec.step] = rec.err;
  }
  while (waitpid(pid, &report.wait_status, 0) < 0) {
    if (errno != EINTR) return sys::PosixError("waitpid(" + std::to_string(pid) + ")");
  }
  return report;
}

}  // namespace brood::doctor
