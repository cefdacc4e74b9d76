// Internals of `brood doctor` (include/brood/doctor.hpp): each probe really tries a feature, mostly
// in a forked child so that nothing it changes (namespaces, seccomp, Landlock) touches the caller,
// and returns one Check per line of the report.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "sys/mountinfo.hpp"

namespace brood::doctor {

enum class Level {
  kOk,
  kWarn,     // an optional feature is absent: brood runs, with less defence in depth
  kMissing,  // brood cannot sandbox without it: `brood doctor` exits 1
};

struct Check {
  Level level = Level::kOk;
  std::string what;    // "user namespace"
  std::string detail;  // why it failed, or what was found ("ABI 7")
  std::string fix;     // how to get it; may span lines ('\n')
};
using Checks = std::vector<Check>;

// What the probes need to know about the host and the calling user, read once.
struct Host {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string user;                         // login name of `uid`, or the number when it has none
  std::optional<long> max_user_namespaces;  // user.max_user_namespaces
  std::optional<long> unprivileged_userns_clone;  // kernel.unprivileged_userns_clone (Debian)
  std::optional<long> apparmor_restrict_userns;   // kernel.apparmor_restrict_unprivileged_userns
  bool root() const { return uid == 0; }
};
Host ReadHost();

// The mounts of /proc/self/mountinfo; none when it cannot be read.
std::vector<sys::MountInfo> ReadMounts();

// The sysctl under /proc/sys (`name` with dots) as a number, or nullopt when absent.
std::optional<long> ReadSysctl(const std::string& name);
// The whole file, without its trailing newline; nullopt when it cannot be read.
std::optional<std::string> ReadSmallFile(const std::string& path);

Checks ProbeNamespaces(const Host& host);                              // namespaces.cpp
Checks ProbeCgroups(const Host& host, const std::string& root);        // cgroups.cpp
Checks ProbeSeccomp();                                                 // kernel.cpp
Checks ProbeIoUring(const Host& host);                                 // kernel.cpp
Checks ProbeLandlock();                                                // kernel.cpp
Checks ProbeWorkspace(const Host& host, const std::string& disk_dir);  // workspace.cpp
Checks ProbeProcesses();  // pidfd_open, CLONE_PIDFD, close_range, /proc (process.cpp)

}  // namespace brood::doctor
