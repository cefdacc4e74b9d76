#include "brood/limits.hpp"

#include <sys/sysinfo.h>

#include <string>

namespace brood {
namespace {

// The default maximum for memory and disk. Read once: every job line is checked against it.
int64_t HostRamMb() {
  static const int64_t ram = [] {
    struct sysinfo si {};
    if (sysinfo(&si) != 0) return int64_t{1} << 20;
    return static_cast<int64_t>(si.totalram) * si.mem_unit / (1 << 20);
  }();
  return ram;
}

std::string CheckInt(const char* name, int64_t v, int64_t max) {
  if (v <= 0) return std::string("limits.") + name + ": " + std::to_string(v) + " is not positive";
  if (v > max)
    return std::string("limits.") + name + ": " + std::to_string(v) + " is above the maximum " +
           std::to_string(max);
  return {};
}

}  // namespace

std::string CheckLimits(const Limits& l, const LimitMaxima& max) {
  const int64_t ram = HostRamMb();
  const Limits r = l.Resolved();
  for (auto msg :
       {CheckInt("wall_ms", r.wall_ms, max.wall_ms), CheckInt("cpu_ms", r.cpu_ms, max.cpu_ms),
        CheckInt("memory_mb", r.memory_mb, max.memory_mb ? max.memory_mb : ram),
        CheckInt("disk_mb", r.disk_mb, max.disk_mb ? max.disk_mb : ram),
        CheckInt("pids", r.pids, max.pids),
        CheckInt("output_bytes", r.output_bytes, max.output_bytes)}) {
    if (!msg.empty()) return msg;
  }
  if (!(r.cpus > 0)) return "limits.cpus: " + std::to_string(r.cpus) + " is not positive";
  if (r.cpus > max.cpus)
    return "limits.cpus: " + std::to_string(r.cpus) + " is above the maximum " +
           std::to_string(max.cpus);
  return {};
}

LimitMaxima ResolvedMaxima(const LimitMaxima& max) {
  LimitMaxima m = max;
  if (m.memory_mb == 0) m.memory_mb = HostRamMb();
  if (m.disk_mb == 0) m.disk_mb = HostRamMb();
  return m;
}

}  // namespace brood
