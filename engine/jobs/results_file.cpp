#include "jobs/results_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "brood/result.hpp"

namespace brood::jobs {
namespace {

using sys::PosixError;
using sys::Status;

// Reads are this large; a longer line (a task's collected files can make one tens of MiB) grows
// the buffer to hold just that line.
constexpr size_t kChunk = 1 << 20;

bool IsStatusName(std::string_view s) {
  for (int i = 0; i <= static_cast<int>(brood::TaskStatus::kOk); ++i) {
    if (s == StatusName(static_cast<brood::TaskStatus>(i))) return true;
  }
  return false;
}

// Picks status, id and line out of one record through nlohmann's SAX interface, and stops as
// soon as it has what the key needs (ResultToJson writes id, line and status first): parsing
// stdout, stderr and files too made resume 4x slower. The rest of the line is not checked; every
// line of a results file was written whole, so a line that starts as a record is one.
class KeyFields {
 public:
  using Json = nlohmann::json;

  std::optional<std::string> status, id;
  std::optional<int64_t> line;
  bool complete = false;  // stopped early: the key's fields are all in

  bool null() { return Scalar(); }
  bool boolean(bool) { return Scalar(); }
  bool number_integer(Json::number_integer_t v) {
    if (depth_ == 1 && field_ == kLine) line = v;
    return Scalar();
  }
  bool number_unsigned(Json::number_unsigned_t v) {
    if (depth_ == 1 && field_ == kLine && v <= INT64_MAX) line = static_cast<int64_t>(v);
    return Scalar();
  }
  bool number_float(Json::number_float_t, const Json::string_t&) { return Scalar(); }
  bool string(Json::string_t& v) {
    if (depth_ == 1 && field_ == kStatus) status = v;
    if (depth_ == 1 && field_ == kId) id = v;
    return Scalar();
  }
  bool binary(Json::binary_t&) { return Scalar(); }
  bool start_object(std::size_t) { return Open(); }
  bool end_object() { return Close(); }
  bool start_array(std::size_t) { return depth_ > 0 && Open(); }  // a record is an object
  bool end_array() { return Close(); }
  bool key(Json::string_t& k) {
    if (depth_ == 1)
      field_ = k == "status" ? kStatus : k == "id" ? kId : k == "line" ? kLine : kNone;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }

 private:
  enum Field { kNone, kStatus, kId, kLine };
  bool Scalar() {
    field_ = kNone;
    if (depth_ == 0) return false;  // a bare scalar is not a record
    // Returning false stops the parse; `complete` tells that apart from an error.
    complete = status && (*status == "invalid_job" ? line.has_value() : id.has_value());
    return !complete;
  }
  bool Open() {
    field_ = kNone;
    ++depth_;
    return true;
  }
  bool Close() {
    --depth_;
    return true;
  }
  int depth_ = 0;
  Field field_ = kNone;
};

// The key of one complete line, or nullopt when the line is not a result record.
std::optional<std::string> KeyOf(std::string_view line) {
  KeyFields f;
  if (!nlohmann::json::sax_parse(line.begin(), line.end(), &f) && !f.complete) return std::nullopt;
  if (!f.status || !IsStatusName(*f.status)) return std::nullopt;
  if (*f.status == "invalid_job") {
    if (!f.line) return std::nullopt;
  } else if (!f.id) {
    return std::nullopt;  // only an invalid_job record may lack its id
  }
  return ResultKey(*f.status, f.id.value_or(""), f.line.value_or(0));
}

Status NotARecord(uint64_t line) {
  return Status::Error("RESULTS: line " + std::to_string(line) + " is not a result record");
}

}  // namespace

std::string ResultKey(std::string_view status, std::string_view id, int64_t line) {
  if (status == "invalid_job") return "line:" + std::to_string(line);
  return std::string(id);
}

sys::StatusOr<ResumeState> LoadResume(const std::string& path) {
  ResumeState state;
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return state;
    return PosixError("open(" + path + ")");
  }
  std::vector<char> buf(kChunk);
  size_t have = 0;        // bytes in buf not yet consumed: the start of a line
  uint64_t good_end = 0;  // file offset just after the last complete line
  for (;;) {
    if (have == buf.size()) buf.resize(buf.size() * 2);  // one line longer than the buffer
    ssize_t n = ::read(fd.get(), buf.data() + have, buf.size() - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("read(" + path + ")");
    }
    if (n == 0) break;
    const size_t end = have + static_cast<size_t>(n);
    // Search only the new bytes: the carried-over ones hold no newline.
    size_t start = 0, scan = have;
    while (const void* nl = std::memchr(buf.data() + scan, '\n', end - scan)) {
      const size_t stop = static_cast<const char*>(nl) - buf.data();
      std::optional<std::string> key = KeyOf(std::string_view(buf.data() + start, stop - start));
      if (!key) return NotARecord(state.records + 1);
      state.done.Mark(*key, KeySet::kDone);
      ++state.records;
      good_end += stop + 1 - start;
      start = scan = stop + 1;
    }
    have = end - start;
    std::memmove(buf.data(), buf.data() + start, have);
    if (buf.size() > kChunk && have < kChunk / 2) {  // give back what one huge line took
      buf.resize(kChunk);
      buf.shrink_to_fit();
    }
  }
  if (have == 0) return state;
  // A torn last line (brood killed mid-write) is dropped so the job runs again. Ours always
  // starts with '{'; anything else means the file is someone else's, which we leave alone.
  if (buf[0] != '{') return NotARecord(state.records + 1);
  sys::UniqueFd wfd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!wfd) return PosixError("open(" + path + ")");
  if (::ftruncate(wfd.get(), static_cast<off_t>(good_end)) != 0) {
    return PosixError("ftruncate(" + path + ", " + std::to_string(good_end) + ")");
  }
  state.torn_line_removed = true;
  return state;
}

sys::StatusOr<ResultWriter> ResultWriter::Open(const std::string& path, bool append,
                                               size_t flush_bytes) {
  ResultWriter w;
  if (path == "-") {
    // Our own descriptor for stdout, so closing the writer never closes fd 1.
    w.fd_.reset(::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0));
    if (!w.fd_) return PosixError("dup(stdout)");
    w.path_ = "stdout";
  } else {
    const int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (append ? 0 : O_TRUNC);
    w.fd_.reset(::open(path.c_str(), flags, 0644));
    if (!w.fd_) return PosixError("open(" + path + ")");
    w.path_ = path;
  }
  w.flush_bytes_ = flush_bytes;
  return w;
}

ResultWriter& ResultWriter::operator=(ResultWriter&& o) noexcept {
  if (this != &o) {
    (void)Flush();
    fd_ = std::move(o.fd_);
    path_ = std::move(o.path_);
    buf_ = std::exchange(o.buf_, {});
    flush_bytes_ = o.flush_bytes_;
  }
  return *this;
}

ResultWriter::~ResultWriter() { (void)Flush(); }

Status ResultWriter::Write(std::string_view json) {
  // A newline inside would split the record in two lines and break --resume on this file.
  if (json.find('\n') != std::string_view::npos) {
    return Status::Error("write(" + path_ + "): a record must not contain a newline");
  }
  buf_.append(json);
  buf_.push_back('\n');
  if (buf_.size() >= flush_bytes_) return Flush();
  return sys::OkStatus();
}

Status ResultWriter::Flush() {
  size_t written = 0;
  int err = 0;
  // The buffer holds whole lines only, so one write(2) keeps the file line-complete even if
  // brood is killed right after; a short write (full disk, signal) continues where it stopped.
  while (written < buf_.size()) {
    ssize_t n = ::write(fd_.get(), buf_.data() + written, buf_.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : ENOSPC;  // write(2) returning 0 for a non-empty buffer: no room
      break;
    }
    written += static_cast<size_t>(n);
  }
  if (err == 0) {
    buf_.clear();
    return sys::OkStatus();
  }
  // Cut a partly written line back out of the file, so it ends with a whole record and a retry
  // (or --resume) starts clean. O_APPEND leaves the offset at the end of our last write. A pipe
  // cannot be cut: there the partial line's tail stays buffered.
  const size_t nl = written == 0 ? std::string::npos : buf_.rfind('\n', written - 1);
  const size_t line_start = nl == std::string::npos ? 0 : nl + 1;
  if (written > line_start) {
    const off_t end = ::lseek(fd_.get(), 0, SEEK_CUR);
    const off_t cut = end - static_cast<off_t>(written - line_start);
    if (end >= 0 && cut >= 0 && ::ftruncate(fd_.get(), cut) == 0) written = line_start;
  }
  buf_.erase(0, written);
  return PosixError("write(" + path_ + ")", err);
}

}  // namespace brood::jobs
