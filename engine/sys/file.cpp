#include "sys/file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace brood::sys {

StatusOr<std::string> ReadWholeFd(int fd) {
  std::string out;
  struct stat st;
  if (fstat(fd, &st) != 0) return PosixError("fstat");
  if (st.st_size <= 0) return out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return PosixError("pread");
    if (n == 0) break;  // the file shrank under us: what is there is what there is
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

}  // namespace brood::sys
