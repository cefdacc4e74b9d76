// Helpers for the cgroup tests: a forked child that waits until the test has attached it to a
// group, temporary directories, and the host's cgroup version probed once.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

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
