// What kind of failure something was: an engine error (sys::Status inside brood), or a task that
// brood could not run (a `sandbox_error` result's `error_kind`, docs/result.md). Callers decide on
// the kind, never on an error's text.
#pragma once

namespace brood {

enum class ErrorKind {
  kInvalidArgument,    // the caller asked for something malformed or out of range
  kHostUnsupported,    // the host lacks a feature or a permission brood needs (brood doctor says)
  kUnavailable,        // a part of brood is gone for now (a zygote killed from outside): retry
  kResourceExhausted,  // memory, fds, processes or disk ran out; or a queue is full
  kCancelled,          // stopped on purpose: the job's or the run's cancel, or brood stopping
  kInternal,           // a bug in brood, or something it did not expect
};

// "invalid_argument", "host_unsupported", "unavailable", "resource_exhausted", "cancelled",
// "internal": the `error_kind` of a result record.
const char* ErrorKindName(ErrorKind kind);

}  // namespace brood
