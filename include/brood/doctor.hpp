// `brood doctor`: what this host supports for sandboxing, and how to fix what it lacks.
//
//   brood::DoctorOptions opts;
//   int code = brood::RunDoctor(opts, std::cout);  // 0: brood can sandbox here
#pragma once

#include <ostream>
#include <string>

namespace brood {

struct DoctorOptions {
  std::string cgroup_root;            // as --cgroup-root (EngineOptions::cgroup_root)
  std::string disk_dir = "/var/tmp";  // as --disk-dir (EngineOptions::disk_dir)
};

// Tries each feature brood needs or uses (namespaces, cgroups, seccomp, io_uring, Landlock,
// process calls, workspace disks) as the calling user, and prints one line per check ("ok",
// "warn" or "missing", what, and the fix) to `out`, then a summary line. Returns 0 when
// everything brood needs is there (warnings allowed), 1 otherwise.
//
// Blocks while it probes: most probes run in forked children (up to 10 s each before they are
// killed), and it creates and removes a cgroup in each base and a workspace disk, as an Engine
// would. Nothing it changes outlives the call. Safe to call from a process with threads, but not
// from two threads at once (the probe cgroups are named by pid). Never throws.
int RunDoctor(const DoctorOptions& options, std::ostream& out);

}  // namespace brood
