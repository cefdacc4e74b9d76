#include "sys/file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
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

StatusOr<UniqueFd> MemfdWith(const std::string& bytes, const char* name, bool seal) {
  UniqueFd fd(memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return PosixError("memfd_create");
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = write(fd.get(), bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return PosixError("write(memfd)");
    off += static_cast<size_t>(n);
  }
  if (seal) fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  lseek(fd.get(), 0, SEEK_SET);
  return fd;
}

void CloseRuns(std::span<int> fds) {
  std::sort(fds.begin(), fds.end());
  for (size_t i = 0; i < fds.size();) {
    if (fds[i] < 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j + 1 < fds.size() && fds[j + 1] <= fds[j] + 1) ++j;  // a repeated fd is one run too
    syscall(SYS_close_range, static_cast<unsigned>(fds[i]), static_cast<unsigned>(fds[j]), 0);
    i = j + 1;
  }
}

StatusOr<Pipe> MakePipe(int flags) {
  int p[2];
  if (pipe2(p, O_CLOEXEC | flags) != 0) return PosixError("pipe2");
  return Pipe{UniqueFd(p[0]), UniqueFd(p[1])};
}

}  // namespace brood::sys
