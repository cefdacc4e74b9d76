#include "cgroup/cgroup_fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "sys/fd.hpp"

namespace brood::cgroup::fs {
namespace {

int64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

void CollectProcs(const std::string& dir, std::vector<pid_t>* out) {
  auto pids = ReadProcs(dir + "/cgroup.procs");
  if (pids.ok()) out->insert(out->end(), pids->begin(), pids->end());
  for (const std::string& sub : SubDirs(dir)) CollectProcs(dir + "/" + sub, out);
}

}  // namespace

std::optional<uint64_t> ParseU64(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  if (s == "max") return UINT64_MAX;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

sys::Status WriteFile(const std::string& path, std::string_view value) {
  // O_TRUNC is what a shell's `>` does: harmless on cgroupfs, and plain files (tests) stay exact.
  sys::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  // The message names the intended write either way: which value, which file, which step.
  if (!fd) return sys::PosixError("write(" + path + ", " + std::string(value) + "): open");
  ssize_t n;
  do {
    n = ::write(fd.get(), value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  // cgroupfs takes a value in one write or not at all; a short write would be a kernel change.
  if (n < 0 || static_cast<size_t>(n) != value.size()) {
    return sys::PosixError("write(" + path + ", " + std::string(value) + ")", n < 0 ? errno : EIO);
  }
  return sys::OkStatus();
}

sys::StatusOr<std::string> ReadFile(const std::string& path) {
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return sys::PosixError("open(" + path + ", O_RDONLY)");
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys::PosixError("read(" + path + ")");
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

sys::StatusOr<uint64_t> ReadU64(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto v = ParseU64(*text);
  if (!v) return sys::Status::Error("parse(" + path + "): not a number: " + *text);
  return *v;
}

HeldFile::~HeldFile() {
  if (fd_ >= 0) ::close(fd_);
  if (wfd_ >= 0) ::close(wfd_);
}

sys::Status HeldFile::Write(std::string_view value) {
  if (wfd_ < 0) {
    wfd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (wfd_ < 0) return sys::PosixError("open(" + path_ + ")");
  }
  ssize_t n;
  do {
    n = ::pwrite(wfd_, value.data(), value.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return sys::PosixError("write(" + path_ + ")");
  return sys::OkStatus();
}

sys::StatusOr<std::string> HeldFile::Read() {
  if (fd_ < 0) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return sys::PosixError("open(" + path_ + ")");
  }
  char buf[1024];
  ssize_t n;
  do {
    n = ::pread(fd_, buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return sys::PosixError("pread(" + path_ + ")");
  return std::string(buf, static_cast<size_t>(n));
}

sys::StatusOr<uint64_t> HeldFile::ReadU64() {
  auto text = Read();
  if (!text.ok()) return text.status();
  auto v = ParseU64(*text);
  if (!v) return sys::Status::Error("parse(" + path_ + "): not a number: " + *text);
  return *v;
}

uint64_t HeldFile::ReadKeyed(std::string_view key) {
  auto text = Read();
  return text.ok() ? KeyedValue(*text, key).value_or(0) : 0;
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::optional<uint64_t> KeyedValue(std::string_view text, std::string_view key) {
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ' ') {
      return ParseU64(line.substr(key.size() + 1));
    }
  }
  return std::nullopt;
}

uint64_t ReadKeyed(const std::string& path, std::string_view key) {
  auto text = ReadFile(path);
  if (!text.ok()) return 0;
  return KeyedValue(*text, key).value_or(0);
}

uint64_t SumKeyedBelow(const std::string& dir, const std::string& file, std::string_view key) {
  uint64_t sum = 0;
  for (const std::string& sub : SubDirs(dir)) sum += ReadKeyed(dir + "/" + sub + "/" + file, key);
  return sum;
}

sys::Status MakeDir(const std::string& path, bool exist_ok) {
  if (::mkdir(path.c_str(), 0755) == 0 || (exist_ok && errno == EEXIST)) return sys::OkStatus();
  return sys::PosixError("mkdir(" + path + ")");
}

sys::StatusOr<std::vector<pid_t>> ReadProcs(const std::string& procs_file) {
  auto text = ReadFile(procs_file);
  if (!text.ok()) return text.status();
  std::vector<pid_t> pids;
  const char* p = text->data();
  const char* end = p + text->size();
  while (p < end) {
    pid_t pid = 0;
    auto [next, ec] = std::from_chars(p, end, pid);
    if (ec == std::errc() && pid > 0) pids.push_back(pid);
    p = (ec == std::errc() ? next : p) + 1;  // skip the newline (or a byte we cannot parse)
  }
  return pids;
}

std::vector<std::string> SubDirs(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());  // opendir sets O_CLOEXEC
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (e->d_type == DT_DIR && name != "." && name != "..") out.emplace_back(name);
  }
  ::closedir(d);
  return out;
}

sys::Status KillTree(const std::string& dir, int timeout_ms) {
  const int64_t deadline = MonotonicMs() + timeout_ms;
  const pid_t self = ::getpid();
  for (int attempt = 0;; ++attempt) {
    std::vector<pid_t> pids;
    CollectProcs(dir, &pids);
    std::erase(pids, self);
    if (pids.empty()) return sys::OkStatus();
    if (MonotonicMs() > deadline) {
      return sys::Status::Error("kill(" + dir + "): " + std::to_string(pids.size()) +
                                " process(es) still there after " + std::to_string(timeout_ms) +
                                " ms, first pid " + std::to_string(pids[0]));
    }
    for (pid_t pid : pids) ::kill(pid, SIGKILL);
    Backoff(attempt);
  }
}

sys::Status RemoveTree(const std::string& dir) {
  sys::Status first;
  for (const std::string& sub : SubDirs(dir)) {
    sys::Status st = RemoveTree(dir + "/" + sub);
    if (first.ok() && !st.ok()) first = st;
  }
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT && first.ok()) {
    first = sys::PosixError("rmdir(" + dir + ")");
  }
  return first;
}

std::optional<uint64_t> PidsCurrent(const std::string& dir) {
  auto v = ReadU64(dir + "/pids.current");
  if (!v.ok()) return std::nullopt;
  return *v;
}

size_t VisibleProcs(const std::string& dir) { return ProcsBelow(dir).size(); }

std::vector<pid_t> ProcsBelow(const std::string& dir) {
  std::vector<pid_t> pids;
  CollectProcs(dir, &pids);
  return pids;
}

void Backoff(int attempt) {
  long us = 100L << (attempt < 7 ? attempt : 7);  // 100 µs doubling up to 12.8 ms
  timespec ts{0, us * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

}  // namespace brood::cgroup::fs
