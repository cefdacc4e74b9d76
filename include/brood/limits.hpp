// Per-task limits (docs/job.md). Defaults live here and only here; `brood --help` prints them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace brood {

struct Limits {
  int64_t wall_ms = 10000;
  int64_t cpu_ms = 0;  // 0 here means "= wall_ms"; Resolved() fills it in
  int64_t memory_mb = 512;
  int64_t disk_mb = 256;
  int64_t pids = 128;
  int64_t output_bytes = 1048576;
  double cpus = 1.0;

  // cpu_ms defaulted to wall_ms.
  Limits Resolved() const {
    Limits l = *this;
    if (l.cpu_ms == 0) l.cpu_ms = l.wall_ms;
    return l;
  }
  bool operator==(const Limits&) const = default;
};

// Limits given in part (a build's, a test's): each field set overrides a base's.
struct LimitOverrides {
  std::optional<int64_t> wall_ms, cpu_ms, memory_mb, disk_mb, pids, output_bytes;
  std::optional<double> cpus;

  Limits Over(const Limits& base) const {
    Limits l = base;
    if (wall_ms) l.wall_ms = *wall_ms;  // a base's unset cpu_ms (0) follows the new wall_ms
    if (cpu_ms) l.cpu_ms = *cpu_ms;
    if (memory_mb) l.memory_mb = *memory_mb;
    if (disk_mb) l.disk_mb = *disk_mb;
    if (pids) l.pids = *pids;
    if (output_bytes) l.output_bytes = *output_bytes;
    if (cpus) l.cpus = *cpus;
    return l;
  }
};

// The largest values brood accepts; a limit above them is an invalid job.
struct LimitMaxima {
  int64_t wall_ms = 24LL * 3600 * 1000;
  int64_t cpu_ms = 24LL * 3600 * 1000;
  int64_t memory_mb = 0;  // 0: the host's RAM
  int64_t disk_mb = 0;    // 0: the host's RAM
  int64_t pids = 32768;
  int64_t output_bytes = 1LL << 30;
  double cpus = 1024;
};

// Empty when `l` is within `max` and every value is positive; otherwise names the field:
// "limits.memory_mb: 0 is not a positive integer".
std::string CheckLimits(const Limits& l, const LimitMaxima& max);
// `max` with its 0s (memory_mb, disk_mb: "the host's RAM") filled in.
LimitMaxima ResolvedMaxima(const LimitMaxima& max);

// Inodes of the task's tmpfs: 64 per MiB, at least 4096.
inline uint64_t WorkspaceInodes(int64_t disk_mb) {
  uint64_t n = static_cast<uint64_t>(disk_mb) * 64;
  return n < 4096 ? 4096 : n;
}

}  // namespace brood
