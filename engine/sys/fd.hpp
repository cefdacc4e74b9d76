// Every fd has an owner. UniqueFd closes on destruction (never retried on EINTR); BorrowedFd is
// the non-owning parameter type. Every fd brood creates is born O_CLOEXEC.
#pragma once

#include <unistd.h>

#include <utility>

namespace brood::sys {

class BorrowedFd {
 public:
  constexpr BorrowedFd(int fd) : fd_(fd) {}  // NOLINT: a borrowed int is the point
  constexpr int get() const { return fd_; }
  constexpr bool valid() const { return fd_ >= 0; }

 private:
  int fd_;
};

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  operator BorrowedFd() const { return BorrowedFd(fd_); }  // NOLINT
  [[nodiscard]] int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace brood::sys
