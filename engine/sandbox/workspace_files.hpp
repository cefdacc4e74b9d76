// A session's file requests (PUT/GET /v1/sessions/{id}/files/{path}): one regular file below
// the workspace, read or written by a child of the session's init that holds the sandbox user's
// ids and no capabilities.
//
// Threat model: the session's own processes are hostile and run beside the request. At any
// moment they may swap any component of the path for a symlink, a FIFO, a socket, a directory,
// a hard link or (one already on that filesystem) a device node, hoping to make the host read or
// write outside the workspace, block forever, or touch a special file. So nothing here resolves
// a path string in one go: the path is walked one component at a time by fd, each step an
// openat2 of a single name relative to the previous step's fd with RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV and O_NOFOLLOW, so no swap can
// redirect a step already taken and no step can follow a link or cross a mount. The leaf is
// opened O_PATH first (which never opens the object: no FIFO blocks, no device's open runs) and
// fstat'ed; only a regular file is then opened for reading (O_NONBLOCK, fstat'ed again). A write
// never writes into an existing inode: the bytes go to a new O_EXCL temporary file beside the
// leaf, which is renamed over it, so a hard link cannot carry the write elsewhere. Being the
// sandbox user, the child can reach only what the session could reach anyway; these rules keep
// it from being tricked into more (a symlink into the host, a bind mount) and from hanging.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace brood::sandbox {

// "" when `path` is a valid workspace path, else why not (a short sentence naming the problem):
// relative, non-empty, at most 4096 bytes, components separated by single '/', none empty, ".",
// or "..", no NUL byte, no component over 255 bytes, no trailing '/'. (The HTTP layer decodes
// percent-encoding before calling this, so "%2e%2e" arrives as "..".)
std::string CheckWorkspacePath(std::string_view path);

// Reads the regular file `path` below the directory `dir` (an O_PATH or O_DIRECTORY fd) into
// `out` (an fd, e.g. a memfd, written from its current offset), at most max_bytes. Returns 0 or
// an errno value: EINVAL (CheckWorkspacePath refuses `path`), ENOENT (absent), ENOTDIR (a parent
// is not a directory), EFBIG (larger than max_bytes; what was written to `out` is to be thrown
// away), ELOOP (a symlink anywhere on the path), EXDEV (a mount crossing), EISDIR (a directory),
// ENXIO (a FIFO, socket or device: never opened for reading), EACCES (the user may not read it),
// EAGAIN (a file lease held by a session process), EIO or another error of read/write.
int ReadBeneath(int dir, std::string_view path, int out, uint64_t max_bytes);

// Writes the bytes of `in` (a seekable fd, e.g. a memfd, read with pread from offset 0 to its
// end) to the regular file `path` below `dir`, at most max_bytes (EFBIG beyond: nothing
// replaced), making missing parent directories (mode 0755 less the umask). The content goes to a
// new temporary file in the same directory (O_CREAT|O_EXCL, mode 0644 less the umask; a file it
// replaces keeps its permission bits, less setuid/setgid/sticky), which is then renamed over
// `path`: readers see the old file or the new one, never a mix. A same-size replacement written
// within its old version's whole second of mtime gets the next whole second (a __pycache__ keyed
// on size and whole-second mtime must see the edit). Returns 0 or an errno: EINVAL,
// ENOTDIR, ELOOP, EXDEV as for ReadBeneath (a symlink even as the last component, which is never
// followed and never replaced); EISDIR (a directory at `path`); ENXIO (a FIFO, socket or device
// at `path`: refused, not replaced); EACCES (the user may not write the existing file, or create
// in its directory); EEXIST (16 random temporary names in a row were taken); ENOSPC/EDQUOT and
// other errors of write/rename (the temporary file is then removed).
int WriteBeneath(int dir, std::string_view path, int in, uint64_t max_bytes);

}  // namespace brood::sandbox
