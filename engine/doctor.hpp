// `brood doctor`: what this host supports for sandboxing, and how to fix what it lacks.
#pragma once

#include <ostream>
#include <string>

namespace brood {

struct DoctorOptions {
  std::string cgroup_root;            // as --cgroup-root
  std::string disk_dir = "/var/tmp";  // as --disk-dir
};

// Prints one line per check ("ok"/"missing"/"warn", what, and the fix) to `out`.
// Returns 0 when everything brood needs is there, 1 otherwise.
int RunDoctor(const DoctorOptions& options, std::ostream& out);

}  // namespace brood
