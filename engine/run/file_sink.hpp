// The result sink of `brood run -o RESULTS`: a results file (jobs/results_file.hpp), or stdout.
// Records are durable once written to the file (one write(2) of whole lines: a killed brood
// leaves them for --resume), not fsync'd.
#pragma once

#include <memory>
#include <string>

#include "jobs/results_file.hpp"
#include "run/sink.hpp"

namespace brood::run {

class FileSink final : public ResultSink {
 public:
  // Opens `path` ("-": stdout) for appending, buffering up to `flush_bytes` of records. With
  // `resume`, first reads the keys already in it (jobs::LoadResume, which cuts a torn last line;
  // its errors start with "--resume: "); without, replaces the file.
  static sys::StatusOr<std::unique_ptr<FileSink>> Open(const std::string& path, bool resume,
                                                       size_t flush_bytes);
  // --resume found a torn last line and removed it.
  bool torn_line_removed() const { return torn_line_removed_; }

  sys::StatusOr<jobs::KeySet> DoneKeys() override { return std::move(done_); }
  sys::Status Write(std::string_view record) override;
  sys::Status Flush() override;
  uint64_t durable() const override { return durable_; }

 private:
  explicit FileSink(jobs::ResultWriter writer) : writer_(std::move(writer)) {}
  jobs::ResultWriter writer_;
  jobs::KeySet done_;
  bool torn_line_removed_ = false;
  uint64_t taken_ = 0, durable_ = 0;
};

}  // namespace brood::run
