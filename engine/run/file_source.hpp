// The job source of `brood run JOBS`: the lines of a job file, or of stdin.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "run/source.hpp"
#include "sys/fd.hpp"

namespace brood::run {

class FileSource final : public JobSource {
 public:
  // Opens `path` ("-": stdin, which stays open). With `count_lines` (for a progress line), a
  // thread counts the file's lines on the side for total(); not for stdin.
  static sys::StatusOr<std::unique_ptr<FileSource>> Open(const std::string& path, bool count_lines);
  ~FileSource() override;  // waits for the counting thread

  bool Next(jobs::Line* line) override { return reader_.Next(line); }
  sys::Status error() const override { return reader_.error(); }
  std::optional<int64_t> total() const override;

 private:
  FileSource(sys::UniqueFd fd, int read_fd);
  void CountLines(const std::string& path);

  sys::UniqueFd fd_;  // empty for stdin
  jobs::LineReader reader_;
  std::atomic<int64_t> total_{-1};
  std::thread counter_;
};

}  // namespace brood::run
