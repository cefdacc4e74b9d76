// What the hostile tests watch on the host while sandboxes attack it: services on the host's
// loopback that a task must never reach, a canary file it must never read or change, and the
// places a task that escaped would write its marker file. Shared by the case runner
// (hostile_test.cpp) and the session attacks (session_hostile_test.cpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "hostile/hostile_case.hpp"

namespace brood::testing {

// The whole file ("" when it cannot be read).
std::string Slurp(const std::string& path);

// Mounts in this process's mount table (/proc/self/mountinfo).
size_t MountCount();

// Where a task that escaped would have written its marker file `brood-escaped`.
std::vector<std::string> EscapeTargets(const std::string& canary_dir);

// What tasks must never reach on the host: a TCP port and an abstract unix socket, both
// listening on the host's loopback, counting every connection; a unix socket file beside the
// canary, counted too; and a canary file.
class HostSentinels {
 public:
  HostSentinels();
  ~HostSentinels();
  bool Ready() const { return ph_.host_port > 0 && unix_ok_ && path_ok_ && !canary_dir_.empty(); }
  const Placeholders& placeholders() const { return ph_; }
  int connections() const { return connections_; }
  const std::string& canary_dir() const { return canary_dir_; }

 private:
  void Watch();
  Placeholders ph_;
  int tcp_ = -1, unix_ = -1, path_ = -1;
  bool unix_ok_ = false, path_ok_ = false;
  std::string canary_dir_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread watcher_;
};

}  // namespace brood::testing
