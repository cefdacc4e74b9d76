// Parkers: where a zygote's task inits come from. A parker is a fork of its zygote, made once,
// that clones the slot's inits one at a time sharing its own memory
// (sandbox::CloneSharedInit), and waits, blocked, while each lives. A forked init copies the
// zygote's page tables at its clone, faults in the pages it writes, and tears it all down at its
// exit: where page tables are dear (a paravirtualized host), that costs more than all the task's
// namespaces together (docs/performance.md). An init sharing a parker's memory pays none of it.
//
// A zygote keeps up to kMaxParkers, made as needed: one whose init runs a task, one whose init
// is parked for the next, one whose init is still ending. A parker retires (exits) when an init
// of its was killed or failed, or its main process died before execve (any of which may have
// left the shared heap mid-change), or the heap grew by kRetireHeapGrowth (what inits leak: a
// session's spec); the zygote then makes another.
#pragma once

#include <cstddef>

#include "sandbox/task.hpp"
#include "sys/fd.hpp"
#include "sys/status.hpp"

namespace brood::zygote {

constexpr size_t kMaxParkers = 3;
constexpr size_t kRetireHeapGrowth = 32 << 20;

class Parker {
 public:
  // Forks a parker from the (single-threaded) zygote. It keeps its stdio, its socket and the
  // slot's fds of `slot` (as a forked init does); it exits when the zygote closes its socket, or
  // dies with the zygote.
  static sys::StatusOr<Parker> Start(const sandbox::TaskFds& slot,
                                     const sandbox::SeccompProgram& seccomp);

  // Whether it can park an init now: the init it parked last has exited (or there was none).
  bool Free() const;

  // Lets it go and waits until it is gone, bounded (2 s, then SIGKILL): a zygote ends its
  // parkers before it exits, so that none is left an orphan. An init of its still alive is
  // killed first, as a forked init dies with its zygote.
  void End();

  // Has it clone an init and park it; returns the init as sandbox::ParkInit does. An error means
  // the parker is gone (retired) or could not clone: drop it.
  sys::StatusOr<sandbox::ParkedInit> Park();

 private:
  Parker() = default;
  sys::UniqueFd sock_;
  sys::UniqueFd pidfd_;
  sys::UniqueFd last_init_;  // a pidfd of the init it parked last
};

}  // namespace brood::zygote
