// SIGINT, SIGTERM and SIGHUP for the CLI's long runs (`brood run`, `brood serve`): blocked before
// any thread exists (every engine thread inherits the mask), then read on a signalfd by a watcher
// thread, never in a signal handler.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <functional>
#include <thread>

// Blocks the stop signals in the calling thread (call it while the process has one thread).
inline sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Calls on_signal(signo), on a thread of its own, for each stop signal until destroyed.
class StopSignalWatcher {
 public:
  StopSignalWatcher(const sigset_t& signals, std::function<void(int)> on_signal)
      : sfd_(signalfd(-1, &signals, SFD_CLOEXEC)), wake_(eventfd(0, EFD_CLOEXEC)) {
    thread_ = std::thread([this, on_signal = std::move(on_signal)] {
      pollfd fds[2] = {{sfd_, POLLIN, 0}, {wake_, POLLIN, 0}};
      while (poll(fds, 2, -1) >= 0 && !fds[1].revents) {
        signalfd_siginfo si;
        if (fds[0].revents && read(sfd_, &si, sizeof si) == sizeof si)
          on_signal(static_cast<int>(si.ssi_signo));
      }
    });
  }
  ~StopSignalWatcher() {
    (void)!eventfd_write(wake_, 1);
    thread_.join();
    close(sfd_);
    close(wake_);
  }
  StopSignalWatcher(const StopSignalWatcher&) = delete;
  StopSignalWatcher& operator=(const StopSignalWatcher&) = delete;

 private:
  int sfd_, wake_;
  std::thread thread_;
};
