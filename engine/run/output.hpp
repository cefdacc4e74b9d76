// The serial end of `brood run`'s flow graph: each line's record goes to the sink and into the
// summary, the progress line is redrawn, and the line is acked to its source once nothing more
// is due for it (its record durable, or no record due).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <ostream>
#include <utility>

#include "run/sink.hpp"
#include "run/source.hpp"
#include "run/summary.hpp"
#include "run/work.hpp"

namespace brood::run {

class Output {
 public:
  // `start_ns` (reactor::NowNs()) is when the run began, for the progress line's rate.
  // `on_record`, if set, sees each record's result once the sink took it.
  Output(JobSource& source, ResultSink& sink, bool progress, int64_t start_ns, std::ostream& log,
         std::function<void(const Result&)> on_record = {});

  // One line is through the graph. Called by one thread at a time. False when the sink failed
  // just now: the run should stop (running tasks are cancelled and run again by --resume) rather
  // than run every remaining job for nothing.
  bool Add(const Work& w);
  // After the last Add: flushes the sink (unless it failed) and acks what that made durable.
  void Finish();

  const sys::Status& write_error() const { return write_error_; }
  const Summary& summary() const { return summary_; }
  uint64_t not_run() const { return not_run_; }  // stopped: cancelled while running, or queued

 private:
  void AckDurable();
  void DrawProgress();

  JobSource& source_;
  ResultSink& sink_;
  const bool progress_;
  const int64_t start_ns_;
  std::ostream& log_;
  std::function<void(const Result&)> on_record_;
  sys::Status write_error_;
  Summary summary_;
  uint64_t not_run_ = 0;
  int64_t last_progress_ns_ = 0;
  uint64_t taken_ = 0;  // records the sink took
  // Lines whose record the sink took but has not made durable yet: (record count, seq). Bounded
  // by what the sink buffers.
  std::deque<std::pair<uint64_t, uint64_t>> unacked_;
};

}  // namespace brood::run
