#include "sys/status.hpp"

#include <cstring>

namespace brood::sys {

const char* ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : "E?";
}

Status PosixError(const std::string& call, int err) {
  return Status::Error(call + ": " + ErrnoName(err) + " (" + std::strerror(err) + ")");
}

}  // namespace brood::sys
