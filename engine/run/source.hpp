// Where `brood run`'s flow graph takes its job lines from: a job file or stdin (FileSource),
// later an HTTP request body or a queue. The graph owns the rest (back-pressure, duplicate ids,
// what a results sink already holds), so a source only reads lines and hears when each is settled.
#pragma once

#include <cstdint>
#include <optional>

#include "jobs/line_reader.hpp"
#include "sys/status.hpp"

namespace brood::run {

// None of these may throw: they run inside the graph's nodes.
class JobSource {
 public:
  virtual ~JobSource() = default;

  // The next job line: its text without the newline, `too_long` (then no text) when it was longer
  // than jobs::kMaxJobLine, and `number`, 1-based, which an invalid_job record carries as `line`
  // and is keyed by ("line:N"): a source that delivers a line again must give it the same number.
  // False at the end of the input, or when reading failed (error() says why). Called by one
  // thread at a time (the graph's reader), never again after false. It may block until input
  // comes: the graph reads only as far ahead as its window allows.
  virtual bool Next(jobs::Line* line) = 0;
  // Why Next returned false: ok at the end of the input.
  virtual sys::Status error() const = 0;

  // The line that Next returned as `seq` (0-based: the seq-th line read) needs nothing more:
  // its result record is durable in the sink (ResultSink::durable), or it needs none (a blank
  // line, or one whose key the sink already holds). A queue consumer acknowledges the message
  // here. Lines never acked are the ones a later run must do (stopped before they ran, or their
  // record was not written): redeliver them. Once per line at most, in no particular order; from
  // one thread at a time (the graph's writer), so it must not block for long.
  virtual void Ack(uint64_t seq) { (void)seq; }

  // How many lines the input has, once known (for the progress line).
  virtual std::optional<int64_t> total() const { return std::nullopt; }
};

}  // namespace brood::run
