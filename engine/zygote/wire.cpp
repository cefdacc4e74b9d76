#include "zygote/wire.hpp"

#include <memory>

#include "sys/fd_passing.hpp"

namespace brood::zygote {

std::string WireReader::Str() {
  uint32_t n = U32();
  if (!ok_ || data_.size() - pos_ < n) {
    ok_ = false;
    return {};
  }
  std::string s(data_.substr(pos_, n));
  pos_ += n;
  return s;
}

std::vector<std::string> WireReader::Strs() {
  uint32_t n = U32();
  std::vector<std::string> v;
  if (!Plausible(n, sizeof(uint32_t))) return v;
  v.reserve(n);
  for (uint32_t i = 0; i < n && ok_; ++i) v.push_back(Str());
  return v;
}

std::map<std::string, std::string> WireReader::Map() {
  uint32_t n = U32();
  std::map<std::string, std::string> m;
  if (!Plausible(n, 2 * sizeof(uint32_t))) return m;
  for (uint32_t i = 0; i < n && ok_; ++i) {
    std::string k = Str();
    m[std::move(k)] = Str();
  }
  return m;
}

sys::Status SendMessage(sys::BorrowedFd sock, std::string_view bytes, std::span<const int> fds) {
  if (fds.size() > kMaxFds) return sys::Status::Error("SendMessage: too many fds");
  if (int err = sys::SendWithFds(sock.get(), bytes, fds)) return sys::PosixError("sendmsg", err);
  return sys::OkStatus();
}

sys::StatusOr<Message> ReceiveMessage(sys::BorrowedFd sock) {
  // Received into a buffer that is never cleared, so that only the pages a message fills are
  // written: a zygote shares its pages with the init it parked, and each page it writes is a
  // copy-on-write fault (and a TLB flush) per task. Zero-filling 64 KiB per message cost 16.
  thread_local std::unique_ptr<char[]> buffer(new char[kMaxMessage]);
  Message out;
  int fds[kMaxFds];
  sys::Received got =
      sys::ReceiveWithFds(sock.get(), std::span<char>(buffer.get(), kMaxMessage), fds);
  if (got.error != 0) return sys::PosixError("recvmsg", got.error);
  out.bytes.assign(buffer.get(), got.bytes);
  for (size_t i = 0; i < got.fds; ++i) out.fds.emplace_back(fds[i]);
  return out;
}

}  // namespace brood::zygote
