// Reads a job file line by line from an fd, in bounded memory: a line longer than `max_line`
// is reported as too long (its bytes are skipped, not kept).
#pragma once

#include <cstdint>
#include <string>

#include "sys/fd.hpp"
#include "sys/status.hpp"

namespace brood::jobs {

struct Line {
  int64_t number = 0;  // 1-based
  std::string text;    // without the newline
  bool too_long = false;
};

class LineReader {
 public:
  LineReader(int fd, size_t max_line) : fd_(fd), max_(max_line) {}
  // False at the end of the input (a last line without a newline is still a line).
  // An I/O error ends the input and is kept in error().
  bool Next(Line* line);
  const sys::Status& error() const { return error_; }

 private:
  bool Fill();
  int fd_;
  size_t max_;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
  int64_t number_ = 0;
  sys::Status error_;
};

}  // namespace brood::jobs
