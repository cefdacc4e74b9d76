// The hatchery: a single-threaded process forked from the supervisor before any thread exists
// (forking a multi-threaded process leaves locks held by threads that do not exist in the
// child). It forks zygotes on request, writes their uid/gid maps from outside their user
// namespace, and puts them in their cgroup before they build anything.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>

#include "sandbox/seccomp.hpp"
#include "sys/fd.hpp"
#include "sys/status.hpp"
#include "zygote/zygote.hpp"

namespace brood::zygote {

class Hatchery {
 public:
  // Forks the hatchery; call while the process has one thread. `seccomp` is inherited by every
  // zygote (compiled once, loaded per task).
  static sys::StatusOr<std::unique_ptr<Hatchery>> Start(const sandbox::SeccompProgram& seccomp);
  ~Hatchery();  // closes the socket: the hatchery and its zygotes exit

  // Forks a zygote and waits until it is ready (root built) or failed. Thread-safe.
  sys::StatusOr<ZygoteHandle> SpawnZygote(const ZygoteConfig& config);

  pid_t pid() const { return pid_; }

 private:
  Hatchery() = default;
  std::mutex mu_;
  sys::UniqueFd sock_;
  sys::UniqueFd pidfd_;
  pid_t pid_ = -1;
};

}  // namespace brood::zygote
