#include "jobs/line_reader.hpp"

#include <unistd.h>

#include <cstring>

namespace brood::jobs {
namespace {
constexpr size_t kChunk = 1 << 20;
}

bool LineReader::Fill() {
  if (eof_) return false;
  if (pos_ > 0) {  // keep only what is not consumed yet
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  size_t old = buf_.size();
  buf_.resize(old + kChunk);
  ssize_t n;
  do {
    n = read(fd_, buf_.data() + old, kChunk);
  } while (n < 0 && errno == EINTR);
  if (n < 0) error_ = sys::PosixError("read(job file)");
  buf_.resize(old + (n > 0 ? static_cast<size_t>(n) : 0));
  if (n <= 0) eof_ = true;
  return n > 0;
}

bool LineReader::Next(Line* line) {
  line->too_long = false;
  line->text.clear();
  size_t skipped = 0;  // bytes of a too-long line already dropped
  for (;;) {
    const char* start = buf_.data() + pos_;
    const size_t avail = buf_.size() - pos_;
    const void* nl = std::memchr(start, '\n', avail);
    if (nl) {
      size_t len = static_cast<const char*>(nl) - start;
      if (skipped + len > max_)
        line->too_long = true;
      else
        line->text.assign(start, len);
      pos_ += len + 1;
      line->number = ++number_;
      return true;
    }
    if (avail > max_) {  // drop what cannot be kept; remember that the line is too long
      skipped += avail;
      pos_ = buf_.size();
    }
    if (!Fill()) {
      const size_t rest = buf_.size() - pos_;
      if (rest == 0 && skipped == 0) return false;
      if (skipped + rest > max_)
        line->too_long = true;
      else
        line->text.assign(buf_.data() + pos_, rest);
      pos_ = buf_.size();
      line->number = ++number_;
      return true;
    }
  }
}

}  // namespace brood::jobs
