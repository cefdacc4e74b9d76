#include "sandbox/workspace_files.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

// Plain syscalls only, no allocation and no exceptions below CheckWorkspacePath: this runs in a
// forked child of a single-threaded init.
namespace brood::sandbox {
namespace {

constexpr size_t kPathMax = 4096;
constexpr size_t kNameMax = 255;
constexpr size_t kBufBytes = 64 * 1024;

// nullptr when `path` is valid, else why not (a string literal).
const char* PathProblem(std::string_view path) {
  if (path.empty()) return "the path is empty";
  if (path.size() > kPathMax) return "the path is longer than 4096 bytes";
  if (path.find('\0') != std::string_view::npos) return "the path contains a NUL byte";
  if (path.front() == '/') return "the path is absolute (it must be relative to the workspace)";
  if (path.back() == '/') return "the path ends with '/'";
  for (size_t start = 0;;) {
    const size_t slash = path.find('/', start);
    const std::string_view name = path.substr(start, slash - start);
    if (name.empty()) return "the path has an empty component ('//')";
    if (name == ".") return "the path has a '.' component";
    if (name == "..") return "the path has a '..' component";
    if (name.size() > kNameMax) return "a path component is longer than 255 bytes";
    if (slash == std::string_view::npos) return nullptr;
    start = slash + 1;
  }
}

using Name = char[kNameMax + 1];
void CopyName(std::string_view from, Name& to) {
  memcpy(to, from.data(), from.size());  // at most kNameMax bytes: PathProblem checked
  to[from.size()] = '\0';
}

int Fail(int fd, int err) {
  close(fd);
  return err;
}

// One name below `dir` and never anywhere else: no symlink (even as the name itself: ELOOP), no
// magic link, no mount crossing (EXDEV). O_PATH opens take neither O_NONBLOCK (openat2 refuses it
// with EINVAL), nor need it (O_PATH never opens the object, so a FIFO cannot block it), nor
// O_NOFOLLOW (with O_PATH it would return an fd of the symlink itself, openat2(2)): a trailing
// symlink is refused by RESOLVE_NO_SYMLINKS alone then.
int OpenAt2(int dir, const char* name, uint64_t flags, uint64_t mode = 0) {
  open_how how{};
  how.flags = flags | O_CLOEXEC | (flags & O_PATH ? 0 : O_NOFOLLOW);
  how.mode = mode;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  long fd;
  do {
    fd = syscall(SYS_openat2, dir, name, &how, sizeof how);
  } while (fd < 0 && errno == EINTR);
  return static_cast<int>(fd);
}

// The directory holding the last component of `path` (an O_PATH fd), reached one component at a
// time from `dir`, each one made (0755) when missing if `make`; *leaf is the last component.
// -1 and errno when a component is missing, not a directory, a symlink (ELOOP), a mount (EXDEV).
int OpenParent(int dir, std::string_view path, bool make, Name& leaf) {
  int cur = fcntl(dir, F_DUPFD_CLOEXEC, 0);
  size_t start = 0;
  for (size_t slash; cur >= 0 && (slash = path.find('/', start)) != path.npos; start = slash + 1) {
    Name name;
    CopyName(path.substr(start, slash - start), name);
    int next = OpenAt2(cur, name, O_PATH | O_DIRECTORY);
    // mkdirat never follows a symlink at the name (EEXIST); the next openat2 refuses it (ELOOP).
    if (next < 0 && errno == ENOENT && make && (mkdirat(cur, name, 0755) == 0 || errno == EEXIST))
      next = OpenAt2(cur, name, O_PATH | O_DIRECTORY);
    const int err = errno;
    close(cur);
    cur = next;
    errno = err;
  }
  CopyName(path.substr(start), leaf);
  return cur;
}

// The leaf opened O_PATH, which never opens the object itself (no FIFO open, no device driver's
// open), when fstat says it is a regular file; else -1 and errno (EISDIR for a directory, ENXIO
// for a FIFO, socket or device, or openat2's ENOENT, ELOOP, EXDEV, EACCES).
int OpenRegularPath(int parent, const char* leaf, struct stat* st) {
  const int fd = OpenAt2(parent, leaf, O_PATH);
  if (fd < 0) return -1;
  const int err = fstat(fd, st) != 0     ? errno
                  : S_ISREG(st->st_mode) ? 0
                  : S_ISDIR(st->st_mode) ? EISDIR
                                         : ENXIO;
  if (err == 0) return fd;
  close(fd);
  errno = err;
  return -1;
}

int WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w < 0 ? errno : EIO;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

// Copies `from` (pread from offset 0) to `to` through a 64 KiB buffer, reading at most one byte
// past max_bytes: EFBIG then. The size fstat gave is not trusted, the file may grow meanwhile.
int Copy(int from, int to, uint64_t max_bytes) {
  char buf[kBufBytes];
  for (uint64_t total = 0;;) {
    const uint64_t room = max_bytes - total;
    const ssize_t n = pread(from, buf, room < sizeof buf ? room + 1 : sizeof buf, total);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : 0;
    total += static_cast<uint64_t>(n);
    if (total > max_bytes) return EFBIG;
    if (const int err = WriteAll(to, buf, static_cast<size_t>(n))) return err;
  }
}

// A new file in `parent` named ".brood-" and 16 random hex digits, created O_EXCL (so never an
// existing file, nor through a link); a name the session took already is retried with another.
int CreateTemp(int parent, char (&tmp)[24]) {
  static uint64_t fallback = 0;
  for (int tries = 0; tries < 16; ++tries) {
    uint64_t r;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
      r = (static_cast<uint64_t>(getpid()) << 32) ^ ++fallback;
    memcpy(tmp, ".brood-", 7);
    for (int i = 0; i < 16; ++i) tmp[7 + i] = "0123456789abcdef"[(r >> (4 * i)) & 15];
    tmp[23] = '\0';
    const int fd = OpenAt2(parent, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK, 0644);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  return -1;  // errno EEXIST
}

// A file replaced at the same size within the same whole second as its old version's mtime
// would look unchanged to a cache keyed on both, as Python's `__pycache__` is: its mtime moves
// to the next whole second after the old one's (less than a second ahead of the clock).
int NotSameSecond(int fd, const timespec& old_mtime) {
  struct stat now;
  if (fstat(fd, &now) != 0) return errno;
  if (now.st_mtim.tv_sec != old_mtime.tv_sec) return 0;
  const timespec times[2] = {{0, UTIME_OMIT}, {old_mtime.tv_sec + 1, 0}};
  return futimens(fd, times) == 0 ? 0 : errno;
}

}  // namespace

std::string CheckWorkspacePath(std::string_view path) {
  const char* problem = PathProblem(path);
  return problem ? problem : "";
}

int ReadBeneath(int dir, std::string_view path, int out, uint64_t max_bytes) {
  if (PathProblem(path)) return EINVAL;
  Name leaf;
  const int parent = OpenParent(dir, path, false, leaf);
  if (parent < 0) return errno;
  struct stat st;
  const int probe = OpenRegularPath(parent, leaf, &st);
  if (probe < 0) return Fail(parent, errno);
  close(probe);
  // The name may have been swapped since the probe: the fstat of what was opened decides (any
  // regular file the same walk reaches is as good as the probed one). O_NONBLOCK: a FIFO swapped
  // in opens at once and is refused below, a session process's file lease gives EAGAIN at once.
  // No st_nlink check: a hard link to a file outside gives nothing the sandbox user, whose ids
  // this runs with, could not read anyway.
  const int fd = OpenAt2(parent, leaf, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  const int err = fd < 0 ? errno : 0;
  close(parent);
  if (err) return err;
  if (fstat(fd, &st) != 0) return Fail(fd, errno);
  if (!S_ISREG(st.st_mode)) return Fail(fd, S_ISDIR(st.st_mode) ? EISDIR : ENXIO);
  if (static_cast<uint64_t>(st.st_size) > max_bytes) return Fail(fd, EFBIG);
  return Fail(fd, Copy(fd, out, max_bytes));
}

int WriteBeneath(int dir, std::string_view path, int in, uint64_t max_bytes) {
  if (PathProblem(path)) return EINVAL;
  struct stat st;
  if (fstat(in, &st) != 0) return errno;
  if (static_cast<uint64_t>(st.st_size) > max_bytes) return EFBIG;  // before anything is made
  const off_t new_size = st.st_size;
  Name leaf;
  const int parent = OpenParent(dir, path, true, leaf);
  if (parent < 0) return errno;
  // What is at the name: nothing, or a regular file the user may write (a file the session made
  // read-only stays as it is); never a symlink, directory, FIFO, socket or device.
  const int old = OpenRegularPath(parent, leaf, &st);
  const bool replacing = old >= 0;
  if (!replacing && errno != ENOENT) return Fail(parent, errno);
  if (replacing) {
    const bool writable = syscall(SYS_faccessat2, old, "", W_OK, AT_EMPTY_PATH | AT_EACCESS) == 0;
    const int err = errno;
    close(old);
    if (!writable) return Fail(parent, err);
  }
  char tmp[24];
  const int fd = CreateTemp(parent, tmp);
  if (fd < 0) return Fail(parent, errno);
  int err = Copy(in, fd, max_bytes);
  if (!err && replacing && fchmod(fd, st.st_mode & 0777) != 0) err = errno;
  if (!err && replacing && st.st_size == new_size) err = NotSameSecond(fd, st.st_mtim);
  if (close(fd) != 0 && !err) err = errno;
  // The residual race: the leaf may be swapped between the check above and the rename. rename
  // never follows a link at either name, so a symlink (or FIFO, socket, hard link) swapped in is
  // itself replaced by the new file, and nothing outside is touched; a directory swapped in makes
  // it fail (EISDIR), a mount point too (EBUSY). A swap of the temporary file's own name only
  // moves the session's own thing into place. A write never reaches into an existing inode, so a
  // hard link to a file outside cannot carry it there either.
  if (!err && renameat2(parent, tmp, parent, leaf, 0) != 0) err = errno;
  if (err) unlinkat(parent, tmp, 0);
  return Fail(parent, err);
}

}  // namespace brood::sandbox
