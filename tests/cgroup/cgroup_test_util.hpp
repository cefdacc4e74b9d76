// Helpers for the cgroup tests: a forked child that waits until the test has attached it to a
// group, temporary directories, and the host's cgroup version probed once.
#pragma once

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "cgroup/cgroup.hpp"

namespace brood::cgroup::cgtest {

// A child process that runs `body` only after Release(), so the parent can Attach it first (the
// pages it touches are then charged to the group). Killed and reaped on destruction.
class Child {
 public:
  explicit Child(std::function<int()> body) {
    int go[2];
    if (::pipe2(go, O_CLOEXEC) != 0) abort();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(go[1]);
      char c;
      if (::read(go[0], &c, 1) != 1) _exit(100);
      _exit(body());
    }
    ::close(go[0]);
    go_ = go[1];
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (go_ >= 0) ::close(go_);
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
  }

  pid_t pid() const { return pid_; }
  void Release() {
    if (::write(go_, "g", 1) != 1) abort();
    ::close(go_);
    go_ = -1;
  }
  // The waitpid status.
  int Wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int go_ = -1;
  bool reaped_ = false;
};

// A fresh directory under $TMPDIR, removed with its content at destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "brood-cg-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) abort();
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void Spit(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// Writes `pid` into a cgroup.procs file.
inline bool WriteProcs(const std::string& file, pid_t pid) {
  std::ofstream out(file);
  out << pid << std::flush;
  return static_cast<bool>(out);
}

inline bool IsDir(const std::string& path) { return std::filesystem::is_directory(path); }

// The calling process joins cgroups as a v1 command does: "0" into each cgroup.procs, one write
// each (async-signal-safe: for forked children).
inline bool JoinSelf(const std::vector<std::string>& procs) {
  for (const std::string& file : procs) {
    int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = ::write(fd, "0", 1) == 1;
    ::close(fd);
    if (!ok) return false;
  }
  return true;
}

// clone3(CLONE_INTO_CGROUP) into the cgroup open at `dir_fd`: the child runs `body` and exits;
// returns its pid, or -errno.
inline pid_t CloneInto(int dir_fd, const std::function<int()>& body) {
  clone_args args{};
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(dir_fd);
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) _exit(body());
  return pid < 0 ? -errno : static_cast<pid_t>(pid);
}

// Whether `pid` has exited: gone, or a zombie nobody has reaped yet (an orphan's reaper may be
// slow).
inline bool Exited(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z';
}

// Touches `bytes` of fresh anonymous memory, page by page.
inline int Hog(size_t bytes) {
  auto* p = static_cast<volatile char*>(
      ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (p == MAP_FAILED) return 2;
  for (size_t i = 0; i < bytes; i += 4096) p[i] = 1;
  return 0;
}

// Spins until this process has used `ms` of CPU time (its own clock: no wall time involved).
inline void Spin(int ms) {
  timespec ts{};
  do {
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  } while (ts.tv_sec * 1000 + ts.tv_nsec / 1'000'000 < ms);
}

// The host's cgroups, probed once for every test of the binary.
inline const Probe& HostProbe() {
  static const Probe probe = Detect(Options{});
  return probe;
}

inline std::string Problems(const Probe& p) {
  std::string out;
  for (const std::string& s : p.problems) out += (out.empty() ? "" : "; ") + s;
  return out;
}

}  // namespace brood::cgroup::cgtest
