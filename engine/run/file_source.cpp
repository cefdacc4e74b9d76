#include "run/file_source.hpp"

#include <fcntl.h>

#include <fstream>

#include "jobs/job_parser.hpp"

namespace brood::run {

FileSource::FileSource(sys::UniqueFd fd, int read_fd)
    : fd_(std::move(fd)), reader_(read_fd, jobs::kMaxJobLine) {}

FileSource::~FileSource() {
  if (counter_.joinable()) counter_.join();
}

sys::StatusOr<std::unique_ptr<FileSource>> FileSource::Open(const std::string& path,
                                                            bool count_lines) {
  if (path == "-") return std::unique_ptr<FileSource>(new FileSource(sys::UniqueFd(), 0));
  sys::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return sys::PosixError("open(" + path + ")");
  const int read_fd = fd.get();
  std::unique_ptr<FileSource> source(new FileSource(std::move(fd), read_fd));
  if (count_lines) source->CountLines(path);
  return source;
}

std::optional<int64_t> FileSource::total() const {
  const int64_t t = total_.load();
  return t >= 0 ? std::optional<int64_t>(t) : std::nullopt;
}

// Counted on the side, since a job file can be large.
void FileSource::CountLines(const std::string& path) {
  counter_ = std::thread([this, path] {
    std::ifstream in(path, std::ios::binary);
    char buf[1 << 16];
    int64_t n = 0;
    char last = '\n';
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      for (std::streamsize i = 0; i < in.gcount(); ++i) n += buf[i] == '\n';
      last = buf[in.gcount() - 1];
    }
    total_ = n + (last != '\n');
  });
}

}  // namespace brood::run
