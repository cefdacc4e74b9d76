// The results file of `brood run`: appended to as tasks finish, one JSON record per line, and
// read back by --resume. Crash-safe: a record is written with one write(2) of the whole line,
// so a brood killed at any moment (even SIGKILL) leaves at most one torn last line, which
// --resume discards (truncates) and redoes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>

#include "jobs/key_set.hpp"
#include "sys/fd.hpp"
#include "sys/status.hpp"

namespace brood::jobs {

// The key a result record stands for: "line:N" for an invalid_job record, else its id. (The
// same rule keys the input lines on resume, so a duplicate id's invalid_job record never
// collides with the original's.)
std::string ResultKey(std::string_view status, std::string_view id, int64_t line);

struct ResumeState {
  KeySet done;           // keys already in the file (marked KeySet::kDone)
  uint64_t records = 0;  // complete records found
  bool torn_line_removed = false;
};

// Reads `path` (which may not exist: empty state), collects each complete record's key, and
// truncates an incomplete last line. Streams: memory is the set of keys only. A complete line
// that is not a valid record is an error naming the line number (the file is not ours).
sys::StatusOr<ResumeState> LoadResume(const std::string& path);

// Appends records. "-" means stdout. Buffers up to `flush_bytes` (and at most one record when 0)
// and always writes whole lines per write(2).
class ResultWriter {
 public:
  static sys::StatusOr<ResultWriter> Open(const std::string& path, bool append,
                                          size_t flush_bytes = 0);
  ResultWriter() = default;  // writes nowhere: every Flush of a record fails
  ResultWriter(ResultWriter&&) noexcept = default;
  ResultWriter& operator=(ResultWriter&& o) noexcept;  // flushes what this one still holds
  // Best-effort Flush, so a writer going out of scope loses nothing; call Flush() first to see
  // its error.
  ~ResultWriter();

  // `json` without a newline. Errors (a full disk) name the file and the errno.
  sys::Status Write(std::string_view json);
  // On an error the file still ends with a whole line (a partly written line is cut off again,
  // where the file can be truncated) and what was not written stays buffered for a retry.
  sys::Status Flush();
  // Bytes taken but not written yet (0: every record so far is in the file).
  size_t buffered() const { return buf_.size(); }

 private:
  sys::UniqueFd fd_;
  std::string path_;
  std::string buf_;
  size_t flush_bytes_ = 0;
};

}  // namespace brood::jobs
