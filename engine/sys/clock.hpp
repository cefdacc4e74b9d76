// The one clock of brood's timestamps: CLOCK_MONOTONIC in nanoseconds. Async-signal-safe (the
// task's init and main process use it after fork), and the same clock the reactor's timers use,
// so times taken in the sandbox and in the supervisor compare directly.
#pragma once

#include <time.h>

#include <cstdint>

namespace brood::sys {

inline int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace brood::sys
