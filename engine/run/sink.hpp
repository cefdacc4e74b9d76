// Where `brood run`'s flow graph writes result records: a results file or stdout (FileSink), later
// a spool file of an HTTP batch or a queue's results store. Exactly once rests on two things a
// sink gives: the keys it already holds (their lines are skipped, not run again), and which of
// the records it took are durable (only then is the line acked to its source).
#pragma once

#include <cstdint>
#include <string_view>

#include "jobs/key_set.hpp"
#include "sys/status.hpp"

namespace brood::run {

// None of these may throw: they run inside the graph's nodes.
class ResultSink {
 public:
  virtual ~ResultSink() = default;

  // The keys (jobs::ResultKey: the id, or "line:N" of an invalid_job record) of the records the
  // sink already holds, marked KeySet::kDone. Called once, before the first line is read.
  virtual sys::StatusOr<jobs::KeySet> DoneKeys() = 0;

  // Takes one record: a JSON object on one line, without the newline. It may only buffer it. An
  // error (a full disk) names what failed; the graph then stops and takes no more records.
  // Called by one thread at a time (the graph's writer).
  virtual sys::Status Write(std::string_view record) = 0;
  // Makes every record taken so far durable: the graph calls it once, after the last Write
  // (unless a Write failed).
  virtual sys::Status Flush() = 0;
  // How many of the records taken so far (counted from the first Write) are durable: written
  // where a later run's DoneKeys finds them. Write may flush on its own and raise it.
  virtual uint64_t durable() const = 0;
};

}  // namespace brood::run
