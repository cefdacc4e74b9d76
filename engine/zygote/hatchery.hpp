// The hatchery: a single-threaded process that forks zygotes on request, writes their uid/gid
// maps from outside their user namespace, and puts them in their cgroup before they build
// anything. It is forked by the nest, a single-threaded process forked from the supervisor
// before any thread exists (forking a multi-threaded process leaves locks held by threads that
// do not exist in the child), so that a hatchery killed from outside can be replaced:
//
//   supervisor -> brood-nest -> brood-hatchery -> brood-zygote (per slot) -> task init -> task
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
  // Forks the nest and its first hatchery; call while the process has one thread. `seccomp` is
  // inherited by every zygote (compiled once, loaded per task).
  static sys::StatusOr<std::unique_ptr<Hatchery>> Start(const sandbox::SeccompProgram& seccomp);
  ~Hatchery();  // closes the sockets: the hatchery and the nest exit

  // Forks a zygote and waits until it is ready (root built) or failed. A dead hatchery is
  // replaced first, or when it dies during the request (then the request is retried once).
  // Thread-safe.
  sys::StatusOr<ZygoteHandle> SpawnZygote(const ZygoteConfig& config);

 private:
  Hatchery() = default;
  bool Alive() const;
  sys::Status Replace();  // asks the nest for a new hatchery
  sys::StatusOr<ZygoteHandle> Spawn(const ZygoteConfig& config);
  std::mutex mu_;
  sys::UniqueFd nest_sock_;
  pid_t nest_pid_ = -1;
  sys::UniqueFd sock_;   // the current hatchery's
  sys::UniqueFd pidfd_;  // the current hatchery's
};

}  // namespace brood::zygote
