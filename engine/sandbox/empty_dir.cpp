#include "sandbox/empty_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <vector>

namespace brood::sandbox {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

bool IsDir(int dir, const dirent* e) {
  if (e->d_type != DT_UNKNOWN) return e->d_type == DT_DIR;
  struct stat st;
  return fstatat(dir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

// One pass over `dir`: removes its files and empty subdirectories; returns the name of a
// subdirectory that is not empty ("" when none is left), or sets *err.
std::string Sweep(int dir, int* err) {
  int fd = dup(dir);
  if (fd < 0) {
    *err = errno;
    return "";
  }
  DIR* d = fdopendir(fd);
  if (!d) {
    *err = errno;
    close(fd);
    return "";
  }
  std::string deeper;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (!IsDir(dir, e)) {
      if (unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT && !*err) *err = errno;
    } else if (unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0 && deeper.empty()) {
      if (errno == ENOTEMPTY || errno == EEXIST) {
        deeper = name;
      } else if (errno != ENOENT && !*err) {
        *err = errno;
      }
    }
  }
  closedir(d);
  return deeper;
}

// True when `dir` (read from its start) holds nothing but "." and "..": two getdents64 calls,
// where the sweep below costs ten system calls for an empty directory (most are: a task that
// wrote nothing). Leaves the fd's offset at its start again when the answer is no.
bool AlreadyEmpty(int dir) {
  alignas(dirent64) char buf[1024];
  const long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
  bool dots_only = n >= 0;
  for (long off = 0; dots_only && off < n;) {
    const auto* e = reinterpret_cast<const dirent64*>(buf + off);
    const std::string_view name = e->d_name;
    dots_only = name == "." || name == "..";
    off += e->d_reclen;
  }
  // The first read may stop short of the end: only a second one that reads nothing proves it.
  if (dots_only && (n == 0 || syscall(SYS_getdents64, dir, buf, sizeof buf) == 0)) return true;
  lseek(dir, 0, SEEK_SET);
  return false;
}

}  // namespace

int EmptyDir(int top) {
  if (AlreadyEmpty(top)) return 0;
  int err = 0;
  int cur = dup(top);
  if (cur < 0) return errno;
  // The names from `top` down to `cur`: going back up is openat(cur, ".."), safe while nothing
  // moves the tree, and the name says which directory to remove once it is empty.
  std::vector<std::string> path;
  for (;;) {
    std::string deeper = Sweep(cur, &err);
    if (err) break;
    if (!deeper.empty()) {
      int next = openat(cur, deeper.c_str(), kDirFlags);
      if (next < 0) {
        err = errno;
        break;
      }
      close(cur);
      cur = next;
      path.push_back(std::move(deeper));
      continue;
    }
    if (path.empty()) break;  // `top` is empty
    int up = openat(cur, "..", kDirFlags);
    if (up < 0) {
      err = errno;
      break;
    }
    close(cur);
    cur = up;
    if (unlinkat(cur, path.back().c_str(), AT_REMOVEDIR) != 0) {
      err = errno;
      break;
    }
    path.pop_back();
  }
  close(cur);
  return err;
}

}  // namespace brood::sandbox
