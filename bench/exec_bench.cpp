// One cold sandboxed /bin/true, process start to result, against the same command under
// bubblewrap with equivalent isolation and against a bare posix_spawn (no sandbox, the floor).
// One iteration = spawn the program, read its stdout to EOF, reap it. For `brood exec` that is a
// whole cold start: the supervisor, hatchery, zygote, cgroups and seccomp compile all happen
// inside the iteration, and the iteration ends when the JSON result record has been read.
//
// All three use posix_spawn (vfork+exec), so the spawn cost is the same for each. Besides the
// mean wall time per iteration (UseRealTime) each benchmark reports counters p50_ms, p99_ms,
// min_ms and max_ms over its iterations. bench/compare-exec.sh prints them as a table.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "sandbox/seccomp.hpp"
#include "sys/fd.hpp"

extern char** environ;

namespace brood {
namespace {

constexpr const char* kBwrap = "/usr/bin/bwrap";
// The fd number bwrap is told to read its seccomp program from (--seccomp FD).
constexpr int kSeccompChildFd = 63;

struct ChildResult {
  int wait_status = 0;
  std::string out, err;
  std::string error;  // set when the child could not be run at all
};

// Spawns argv[0] with stdin from /dev/null and stdout/stderr on pipes, reads both to EOF and
// reaps the child. `pass_fd` >= 0 is dup2'd to `pass_as` in the child (inherited across exec).
ChildResult Run(const std::vector<const char*>& argv, int pass_fd = -1, int pass_as = -1) {
  ChildResult r;
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return {.error = std::string("pipe2: ") + strerror(errno)};
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return {.error = std::string("pipe2: ") + strerror(errno)};
  }
  sys::UniqueFd out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  if (pass_fd >= 0) posix_spawn_file_actions_adddup2(&fa, pass_fd, pass_as);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, const_cast<char* const*>(argv.data()), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return {.error = std::string("posix_spawn ") + argv[0] + ": " + strerror(rc)};
  out_w.reset();
  err_w.reset();

  pollfd pfds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  std::string* bufs[2] = {&r.out, &r.err};
  int open_streams = 2;
  char chunk[4096];
  while (open_streams > 0) {
    if (poll(pfds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      r.error = std::string("poll: ") + strerror(errno);
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (pfds[i].fd < 0 || pfds[i].revents == 0) continue;
      ssize_t n = read(pfds[i].fd, chunk, sizeof chunk);
      if (n > 0) {
        bufs[i]->append(chunk, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        pfds[i].fd = -1;
        --open_streams;
      }
    }
  }
  while (waitpid(pid, &r.wait_status, 0) < 0 && errno == EINTR) {
  }
  return r;
}

// Nearest-rank percentile of sorted samples.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

void SetLatencyCounters(benchmark::State& state, std::vector<double>& ms) {
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  state.counters["p50_ms"] = Percentile(ms, 0.50);
  state.counters["p99_ms"] = Percentile(ms, 0.99);
  state.counters["min_ms"] = ms.front();
  state.counters["max_ms"] = ms.back();
}

std::string Describe(const ChildResult& r) {
  if (!r.error.empty()) return r.error;
  std::string what = WIFEXITED(r.wait_status) ? "exit " + std::to_string(WEXITSTATUS(r.wait_status))
                                              : "signal " + std::to_string(WTERMSIG(r.wait_status));
  std::string detail = r.err.empty() ? r.out : r.err;
  return what + ": " + detail.substr(0, 300);
}

// The timed loop shared by all three: runs argv once per iteration, fails the benchmark on the
// first run that does not exit 0 or whose stdout lacks `must_contain`.
void TimeRuns(benchmark::State& state, const std::vector<const char*>& argv,
              const char* must_contain = nullptr, int pass_fd = -1, int pass_as = -1) {
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(state.max_iterations));
  for (auto _ : state) {
    // bwrap reads its seccomp program to EOF through the shared file offset: rewind it.
    if (pass_fd >= 0) lseek(pass_fd, 0, SEEK_SET);
    auto t0 = std::chrono::steady_clock::now();
    ChildResult r = Run(argv, pass_fd, pass_as);
    auto t1 = std::chrono::steady_clock::now();
    bool good = r.error.empty() && WIFEXITED(r.wait_status) && WEXITSTATUS(r.wait_status) == 0 &&
                (must_contain == nullptr || r.out.find(must_contain) != std::string::npos);
    if (!good) {
      state.SkipWithError((std::string(argv[0]) + " failed: " + Describe(r)).c_str());
      break;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  SetLatencyCounters(state, ms);
}

// `brood exec -- /bin/true`, cold: a new brood process per iteration, ended when its JSON result
// record has been read and it has been reaped.
void BM_BroodExecCold(benchmark::State& state) {
  TimeRuns(state, {BROOD_BIN, "exec", "--", "/bin/true", nullptr}, "\"status\":\"ok\"");
}
BENCHMARK(BM_BroodExecCold)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(200);

// bubblewrap 0.8 with the docs/sandbox.md isolation it can express: user (uid/gid 1000), pid, net,
// ipc and uts namespaces, read-only /usr with merged-/usr symlinks, a minimal /etc, fresh /dev
// and /proc, tmpfs /workspace and /tmp, clean env, no capabilities. Arg 1 also loads brood's own
// compiled task policy (sandbox::CompileTaskPolicy, errno mode) through --seccomp FD, so both
// run the same filter. bwrap has no cgroup limits; brood exec sets those up too.
void BM_Bwrap(benchmark::State& state) {
  if (access(kBwrap, X_OK) != 0) {
    state.SkipWithError("bwrap not installed: apt-get install bubblewrap");
    return;
  }
  const bool with_seccomp = state.range(0) != 0;
  sys::UniqueFd filter;
  if (with_seccomp) {
    auto prog = sandbox::CompileTaskPolicy(sandbox::ViolationAction::kErrno);
    if (!prog.ok()) {
      state.SkipWithError(("seccomp policy: " + prog.status().message()).c_str());
      return;
    }
    filter.reset(memfd_create("brood-bench-seccomp", MFD_CLOEXEC));
    const size_t bytes = prog->insns.size() * sizeof(sock_filter);
    if (!filter || filter.get() == kSeccompChildFd ||
        write(filter.get(), prog->insns.data(), bytes) != static_cast<ssize_t>(bytes)) {
      state.SkipWithError("cannot write the seccomp program to a memfd");
      return;
    }
  }
  const std::string seccomp_fd = std::to_string(kSeccompChildFd);
  // clang-format off
  std::vector<const char*> argv = {
      kBwrap,
      "--unshare-user", "--uid", "1000", "--gid", "1000",
      "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--hostname", "brood",
      "--die-with-parent", "--new-session",
      "--ro-bind", "/usr", "/usr",
      "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
      "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/sbin", "/sbin",
      "--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache",
      "--ro-bind", "/etc/passwd", "/etc/passwd",
      "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/workspace", "--tmpfs", "/tmp",
      "--chdir", "/workspace", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin",
      "--cap-drop", "ALL"};
  // clang-format on
  if (with_seccomp) {
    argv.push_back("--seccomp");
    argv.push_back(seccomp_fd.c_str());
  }
  for (const char* tail : {"--", "/bin/true"}) argv.push_back(tail);
  argv.push_back(nullptr);
  TimeRuns(state, argv, nullptr, with_seccomp ? filter.get() : -1, kSeccompChildFd);
}
BENCHMARK(BM_Bwrap)
    ->ArgName("seccomp")
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(200);

// The floor: posix_spawn of /bin/true, no sandbox, same pipes and reaping.
void BM_PosixSpawnTrue(benchmark::State& state) { TimeRuns(state, {"/bin/true", nullptr}); }
BENCHMARK(BM_PosixSpawnTrue)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(2000);

}  // namespace
}  // namespace brood
