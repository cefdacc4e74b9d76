// The byte format spoken between the supervisor, the hatchery and zygotes: little-endian
// integers and length-prefixed strings, plus fds passed with SCM_RIGHTS on SOCK_SEQPACKET
// sockets. The Reader never trusts its input: every read is bounds-checked and a malformed
// message leaves it in a failed state (this is the decoder issue 4 fuzzes).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sys/fd.hpp"
#include "sys/fd_passing.hpp"
#include "sys/status.hpp"

namespace brood::zygote {

class WireWriter {
 public:
  void U32(uint32_t v) { Raw(&v, sizeof v); }
  void I64(int64_t v) { Raw(&v, sizeof v); }
  void F64(double v) { Raw(&v, sizeof v); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    buf_.append(s);
  }
  void Strs(const std::vector<std::string>& v) {
    U32(static_cast<uint32_t>(v.size()));
    for (const auto& s : v) Str(s);
  }
  void Map(const std::map<std::string, std::string>& m) {
    U32(static_cast<uint32_t>(m.size()));
    for (const auto& [k, v] : m) {
      Str(k);
      Str(v);
    }
  }
  // A status with its kind, so that a failure in a zygote keeps its kind in the supervisor.
  void Err(const sys::Status& s) {
    U32(s.ok() ? 0 : 1 + static_cast<uint32_t>(s.kind()));
    Str(s.ok() ? std::string_view() : std::string_view(s.message()));
  }
  const std::string& bytes() const { return buf_; }
  std::string& bytes() { return buf_; }

 private:
  void Raw(const void* p, size_t n) { buf_.append(static_cast<const char*>(p), n); }
  std::string buf_;
};

class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}
  uint32_t U32() { return Fixed<uint32_t>(); }
  int64_t I64() { return Fixed<int64_t>(); }
  double F64() { return Fixed<double>(); }
  std::string Str();
  sys::Status Err() {
    const uint32_t kind = U32();
    std::string message = Str();
    if (kind == 0) return sys::OkStatus();
    if (kind > 1 + static_cast<uint32_t>(ErrorKind::kInternal)) ok_ = false;
    return sys::Status::Error(ok_ ? static_cast<ErrorKind>(kind - 1) : ErrorKind::kInternal,
                              std::move(message));
  }
  std::vector<std::string> Strs();
  std::map<std::string, std::string> Map();
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == data_.size(); }

 private:
  template <typename T>
  T Fixed() {
    T v{};
    if (!ok_ || data_.size() - pos_ < sizeof v) {
      ok_ = false;
      return v;
    }
    __builtin_memcpy(&v, data_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  // A count that cannot possibly fit in what is left is malformed (guards huge allocations).
  bool Plausible(uint32_t count, size_t min_each) {
    if (!ok_ || count > (data_.size() - pos_) / min_each) ok_ = false;
    return ok_;
  }
  std::string_view data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// One message and up to kMaxFds fds on a SOCK_SEQPACKET socket.
constexpr size_t kMaxFds = sys::kMaxFdsPerMessage;
constexpr size_t kMaxMessage = 64 * 1024;
sys::Status SendMessage(sys::BorrowedFd sock, std::string_view bytes,
                        std::span<const int> fds = {});
struct Message {
  std::string bytes;  // empty with no fds: the peer closed the socket
  std::vector<sys::UniqueFd> fds;
};
sys::StatusOr<Message> ReceiveMessage(sys::BorrowedFd sock);

}  // namespace brood::zygote
