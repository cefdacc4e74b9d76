#include "zygote/wire.hpp"

#include <sys/socket.h>

#include <cstring>

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
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    ssize_t n = sendmsg(sock.get(), &msg, MSG_NOSIGNAL);
    if (n >= 0) return sys::OkStatus();
    if (errno != EINTR) return sys::PosixError("sendmsg");
  }
}

sys::StatusOr<Message> ReceiveMessage(sys::BorrowedFd sock) {
  Message out;
  out.bytes.resize(kMaxMessage);
  iovec iov{out.bytes.data(), out.bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(sock.get(), &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return sys::PosixError("recvmsg");
  out.bytes.resize(static_cast<size_t>(n));
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      out.fds.emplace_back(fd);
    }
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return sys::Status::Error("recvmsg: truncated");
  return out;
}

}  // namespace brood::zygote
