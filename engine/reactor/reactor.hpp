// The reactor: one thread, one io_uring. Every change in a running task's state arrives here as
// a completion (pipe data, report messages, pidfd/eventfd readiness, timers). Completions carry
// their handler: user_data points at an operation object whose callback runs on this thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "sys/fd.hpp"
#include "sys/status.hpp"

namespace brood::reactor {

// Monotonic time in nanoseconds (CLOCK_MONOTONIC, the clock of every deadline here).
int64_t NowNs();

class Reactor {
 public:
  using OpId = uint64_t;

  // A ring of `entries` SQEs, created with io_uring_ring_dontfork.
  static sys::StatusOr<std::unique_ptr<Reactor>> Create(unsigned entries = 256);
  virtual ~Reactor() = default;

  // Runs the loop on the calling thread until Stop(). Callbacks run only inside Run() and must
  // not throw. Call it on one thread for the reactor's life (the ring is bound to it), and destroy
  // the reactor on that thread too: destruction cancels the ops in flight and waits for the kernel
  // to let go of their buffers. SIGPIPE is blocked in this thread while Run() runs, so a Pump into
  // a pipe without a reader reports -EPIPE instead of killing the process. The thread runs as
  // SCHED_FIFO 1 where allowed (else with a short EEVDF slice) until Run() returns, so that
  // timers fire on time on a busy host (reactor.cpp, AskForPromptWakeups).
  virtual void Run() = 0;
  // Thread-safe: Run() returns soon after.
  virtual void Stop() = 0;
  // Thread-safe: runs fn on the reactor thread (wakes the ring through an eventfd).
  virtual void Post(std::function<void()> fn) = 0;

  // The calls below are for the reactor thread only (inside a callback or a Posted fn).
  // The caller keeps each fd open until the op ended or was cancelled.

  // Reads fd until EOF or error: on_data for each chunk, then on_end(0) at EOF or on_end(-errno).
  virtual OpId ReadStream(sys::BorrowedFd fd, std::function<void(std::span<const char>)> on_data,
                          std::function<void(int err)> on_end) = 0;
  // cb(revents or -errno) once, when fd is readable (pidfd exit, eventfd, inotify).
  virtual OpId PollReadable(sys::BorrowedFd fd, std::function<void(int res)> cb) = 0;
  // cb() once at the absolute CLOCK_MONOTONIC deadline (ns).
  virtual OpId TimerAt(int64_t deadline_ns, std::function<void()> cb) = 0;
  // Copies `from` into `to` until EOF on `from` or an error on either side (EPIPE when the
  // reader of `to` is gone), with back-pressure: at most one chunk in flight. cb(0 or -errno).
  // Does not close either fd.
  virtual OpId Pump(sys::BorrowedFd from, sys::BorrowedFd to, std::function<void(int err)> cb) = 0;
  // Cancels a pending op: its callbacks are never called afterwards. Unknown ids are ignored.
  virtual void Cancel(OpId id) = 0;
};

}  // namespace brood::reactor
