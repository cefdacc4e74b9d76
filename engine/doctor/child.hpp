// Runs one probe in a forked child. The child reports each step it tries as a fixed-size record
// {step, errno} on a pipe and _exits; the parent turns the records into Checks. Between fork and
// _exit the child only makes system calls (no allocation, no locks, no exceptions), because the
// caller may have threads whose locks the child would inherit held.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sys/status.hpp"

namespace brood::doctor {

inline constexpr int kNotRun = -1;  // the child never reported this step

struct ChildReport {
  std::vector<int> err;  // per step: 0 ok, an errno value, or kNotRun
  int wait_status = 0;   // as from waitpid
  bool timed_out = false;
  // Empty when the child exited 0 in time; else how it ended ("killed by SIGSYS").
  std::string Ending() const;
};

using ChildBody = void (*)(int report_fd, const void* ctx);
sys::StatusOr<ChildReport> RunInChildImpl(int steps, ChildBody body, const void* ctx);

// Runs `body(report_fd)` in a child process and collects what it reported for steps
// [0, steps). Fails only when the child cannot be started.
template <typename F>
sys::StatusOr<ChildReport> RunInChild(int steps, const F& body) {
  return RunInChildImpl(
      steps, [](int fd, const void* ctx) { (*static_cast<const F*>(ctx))(fd); }, &body);
}

// Child side, async-signal-safe. Reports `err` (0 = ok) for `step`.
void Report(int report_fd, int step, int err) noexcept;
// Writes `len` bytes to an existing file: 0, or the errno of the failing call.
int WriteFileRaw(const char* path, const char* data, size_t len) noexcept;

}  // namespace brood::doctor
