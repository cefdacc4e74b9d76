// Runs the brood binary as a user would, and captures what it prints.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace brood::testing {

struct CliRun {
  int exit_code = -1;
  int pid = 0;  // brood's pid (gone by the time RunBrood returns)
  std::string out, err;
};

struct CliOptions {
  std::string input;         // written to its stdin (then closed)
  uid_t as_uid = 0;          // run as this ordinary user (0: as we are)
  bool deny_userns = false;  // under a seccomp filter refusing CLONE_NEWUSER
  long nofile_soft = 0;      // >0: this soft RLIMIT_NOFILE (as many shells set it)
};

CliRun RunBrood(const std::vector<std::string>& args, const CliOptions& options = {});

// Writes `text` to a new file in a fresh temporary directory; returns its path. The directory
// is removed when the test binary exits.
std::string TempFile(const std::string& name, const std::string& text);

}  // namespace brood::testing
