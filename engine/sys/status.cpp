#include "sys/status.hpp"

#include <cerrno>
#include <cstring>

namespace brood {

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument:
      return "invalid_argument";
    case ErrorKind::kHostUnsupported:
      return "host_unsupported";
    case ErrorKind::kUnavailable:
      return "unavailable";
    case ErrorKind::kResourceExhausted:
      return "resource_exhausted";
    case ErrorKind::kCancelled:
      return "cancelled";
    case ErrorKind::kInternal:
      return "internal";
  }
  return "internal";
}

namespace sys {

const char* ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : "E?";
}

ErrorKind KindOfErrno(int err) {
  switch (err) {
    case ENOMEM:
    case ENOSPC:
    case EMFILE:
    case ENFILE:
    case EAGAIN:
    case EDQUOT:
    case EUSERS:
      return ErrorKind::kResourceExhausted;
    case EPERM:
    case EACCES:
    case EROFS:
    case ENOSYS:
    case EOPNOTSUPP:
    case ENODEV:
    case ENOENT:
    case EAFNOSUPPORT:
    case EPROTONOSUPPORT:
      return ErrorKind::kHostUnsupported;
    case ECANCELED:
      return ErrorKind::kCancelled;
    default:
      return ErrorKind::kInternal;
  }
}

Status PosixError(const std::string& call, int err) {
  return Status::Error(KindOfErrno(err),
                       call + ": " + ErrnoName(err) + " (" + std::strerror(err) + ")");
}

std::string ToString(const Status& s) {
  if (s.ok()) return "ok";
  return std::string(ErrorKindName(s.kind())) + ": " + s.message();
}

}  // namespace sys
}  // namespace brood
