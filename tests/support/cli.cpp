#include "support/cli.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

namespace brood::testing {

CliRun RunBrood(const std::vector<std::string>& args, const CliOptions& o) {
  int in[2], out[2], err[2];
  CliRun r;
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
    return r;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (o.as_uid != 0) {
      // An ordinary user: no groups, no capabilities, dumpable (as after a login).
      if (setgroups(0, nullptr) != 0 || setresgid(o.as_uid, o.as_uid, o.as_uid) != 0 ||
          setresuid(o.as_uid, o.as_uid, o.as_uid) != 0)
        _exit(99);
    }
    if (o.nofile_soft > 0) {
      rlimit rl{};
      getrlimit(RLIMIT_NOFILE, &rl);
      rl.rlim_cur = static_cast<rlim_t>(o.nofile_soft);
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (o.deny_userns) {
      scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
      seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
      seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
      if (seccomp_load(ctx) != 0) _exit(97);
    }
    std::vector<char*> argv{const_cast<char*>(BROOD_BIN)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(BROOD_BIN, argv.data());
    _exit(98);
  }
  r.pid = pid;
  close(in[0]);
  close(out[1]);
  close(err[1]);
  // Feed stdin from a thread: brood may write a lot before it reads everything.
  std::thread feeder([fd = in[1], input = o.input] {
    // brood may exit without reading (a usage error): EPIPE for this thread, not a SIGPIPE that
    // ends the test. A blocked thread-directed signal dies with the thread.
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
    size_t off = 0;
    while (off < input.size()) {
      ssize_t n = write(fd, input.data() + off, input.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    close(fd);
  });
  std::thread err_reader([&r, fd = err[0]] {
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) r.err.append(buf, static_cast<size_t>(n));
    close(fd);
  });
  char buf[65536];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<size_t>(n));
  close(out[0]);
  feeder.join();
  err_reader.join();
  int st;
  waitpid(pid, &st, 0);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

namespace {
// The folders TempFile made, removed by the process that made them, with what is in them, when it
// exits.
struct TempDirs {
  std::mutex mu;
  std::vector<std::string> dirs;
  pid_t owner = getpid();  // a forked child that exits removes nothing
  ~TempDirs() {
    if (getpid() != owner) return;
    std::error_code ec;
    for (const auto& d : dirs) std::filesystem::remove_all(d, ec);
  }
};
TempDirs& Made() {
  static TempDirs made;
  return made;
}
}  // namespace

std::string TempFile(const std::string& name, const std::string& text) {
  char dir[] = "/tmp/brood-test-XXXXXX";
  if (!mkdtemp(dir)) return {};
  {
    TempDirs& made = Made();
    std::lock_guard lock(made.mu);
    made.dirs.emplace_back(dir);
  }
  std::string path = std::string(dir) + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

}  // namespace brood::testing
