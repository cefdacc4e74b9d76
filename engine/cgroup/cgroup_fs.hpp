// File helpers for cgroupfs (internal to engine/cgroup). Every control file is written with one
// open/write/close so the kernel sees exactly one write(2) per value, and every error names the
// call, the path and the value: write(/sys/fs/cgroup/memory/x/memory.limit_in_bytes, 512): EBUSY.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sys/status.hpp"

namespace brood::cgroup::fs {

// open(path, O_WRONLY|O_TRUNC|O_CLOEXEC), one write of `value`, close. Errors read
// "write(PATH, VALUE): EBUSY (...)", or "write(PATH, VALUE): open: EACCES (...)".
sys::Status WriteFile(const std::string& path, std::string_view value);
sys::StatusOr<std::string> ReadFile(const std::string& path);
// "123\n" -> 123, "max" -> UINT64_MAX; nullopt for anything else.
std::optional<uint64_t> ParseU64(std::string_view s);
// A single-number file; "max" reads as UINT64_MAX.
sys::StatusOr<uint64_t> ReadU64(const std::string& path);
bool Exists(const std::string& path);

// The value of `key` in "key value\n" text (memory.events, cpu.stat, memory.oom_control).
std::optional<uint64_t> KeyedValue(std::string_view text, std::string_view key);
// Reads a keyed file; a missing file or key reads as 0 (older kernels lack some counters).
uint64_t ReadKeyed(const std::string& path, std::string_view key);
// The sum of ReadKeyed(dir/SUB/file, key) over the subdirectories SUB of `dir` (not deeper).
uint64_t SumKeyedBelow(const std::string& dir, const std::string& file, std::string_view key);

// A counter file kept open and re-read with pread at offset 0 (cgroupfs regenerates the text on
// every read from 0): one syscall per read instead of open/read/close, for the per-task reads.
class HeldFile {
 public:
  explicit HeldFile(std::string path) : path_(std::move(path)) {}
  sys::StatusOr<std::string> Read();  // opens on first use
  sys::StatusOr<uint64_t> ReadU64();
  uint64_t ReadKeyed(std::string_view key);   // a missing file or key reads as 0
  sys::Status Write(std::string_view value);  // through a write fd of its own, opened on first use
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1, wfd_ = -1;

 public:
  HeldFile(HeldFile&& o) noexcept
      : path_(std::move(o.path_)), fd_(std::exchange(o.fd_, -1)), wfd_(std::exchange(o.wfd_, -1)) {}
  HeldFile(const HeldFile&) = delete;
  ~HeldFile();
};

// mkdir(path, 0755); EEXIST is an error unless `exist_ok`.
sys::Status MakeDir(const std::string& path, bool exist_ok = false);
// The pids in a cgroup.procs file (only those visible in our pid namespace).
sys::StatusOr<std::vector<pid_t>> ReadProcs(const std::string& procs_file);
// Subdirectories of `dir` (names only), for depth-first removal.
std::vector<std::string> SubDirs(const std::string& dir);

// SIGKILLs every process in `dir` and below, except ourselves, until every cgroup.procs is empty
// or `timeout_ms` passed (killed processes take a moment to leave; zombies leave on exit, not on
// reaping). Returns an error naming what stayed.
sys::Status KillTree(const std::string& dir, int timeout_ms);
// Removes `dir` and its subdirectories, leaves first. ENOENT counts as removed (a neighbour
// brood may be cleaning the same stale tree).
sys::Status RemoveTree(const std::string& dir);

// Tasks in a tree as the pids controller counts them (threads and unreaped zombies included, in
// every pid namespace), or nullopt when the file is absent (root cgroup, pids not enabled).
std::optional<uint64_t> PidsCurrent(const std::string& dir);
// Processes visible to us (our pid namespace and its children) in `dir` and below.
size_t VisibleProcs(const std::string& dir);
// Their pids (every cgroup.procs of `dir` and its subdirectories, depth first).
std::vector<pid_t> ProcsBelow(const std::string& dir);

// Sleeps with a backoff that starts at 100 µs, for the short polling loops of KillAll.
void Backoff(int attempt);

}  // namespace brood::cgroup::fs
