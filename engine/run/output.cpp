#include "run/output.hpp"

#include "reactor/reactor.hpp"

namespace brood::run {

Output::Output(JobSource& source, ResultSink& sink, bool progress, int64_t start_ns,
               std::ostream& log, std::function<void(const Result&)> on_record)
    : source_(source),
      sink_(sink),
      progress_(progress),
      start_ns_(start_ns),
      log_(log),
      on_record_(std::move(on_record)) {}

bool Output::Add(const Work& w) {
  if (w.not_started) ++not_run_;
  if (w.kind == Work::kStopped) return true;
  if (w.kind == Work::kSkip) {  // nothing is due: no need to wait for the sink
    source_.Ack(w.seq);
    return true;
  }
  const Result& r = w.result;
  if (r.status == TaskStatus::kSandboxError && r.error_kind == ErrorKind::kCancelled) {
    ++not_run_;  // stopped: not written, so --resume runs it again
    return true;
  }
  summary_.Add(r);
  bool failed_now = false;
  if (write_error_.ok()) {
    write_error_ = sink_.Write(w.json);
    if (write_error_.ok()) {
      unacked_.emplace_back(++taken_, w.seq);
      AckDurable();
      if (on_record_) on_record_(r);
    } else {
      if (progress_) log_ << "\r\033[K";
      log_ << "brood run: " << write_error_.message() << "; stopping" << std::endl;
      failed_now = true;
    }
  }
  DrawProgress();
  return !failed_now;
}

void Output::Finish() {
  if (write_error_.ok()) write_error_ = sink_.Flush();
  AckDurable();
}

void Output::AckDurable() {
  const uint64_t durable = sink_.durable();
  while (!unacked_.empty() && unacked_.front().first <= durable) {
    source_.Ack(unacked_.front().second);
    unacked_.pop_front();
  }
}

void Output::DrawProgress() {
  const int64_t now = reactor::NowNs();
  if (!progress_ || now - last_progress_ns_ <= 100'000'000) return;
  last_progress_ns_ = now;
  std::optional<int64_t> t = source_.total();
  log_ << "\r"
       << summary_.ProgressLine(t ? std::optional<uint64_t>(*t) : std::nullopt,
                                (now - start_ns_) / 1e9)
       << "\033[K" << std::flush;
}

}  // namespace brood::run
