// Bytes with fds (SCM_RIGHTS) on a Unix socket, one message a call: the zygote protocol's
// messages (zygote/wire) and the seccomp listener's way from a task's main process to its init.
// Async-signal-safe, for code between fork and exec: no allocation, no locks, no exceptions, the
// control buffer a fixed array on the stack; errors are errno values, not Status.
#pragma once

#include <cstddef>
#include <span>

namespace brood::sys {

// The most fds one message carries.
inline constexpr size_t kMaxFdsPerMessage = 12;

// Sends `bytes` with `fds` (at most kMaxFdsPerMessage; they stay open here) as one message, with
// MSG_NOSIGNAL, again on EINTR. Returns 0 or an errno value: EINVAL for too many fds, EMSGSIZE
// when only part of `bytes` went (a stream socket; a SOCK_SEQPACKET message goes whole or not).
int SendWithFds(int sock, std::span<const char> bytes, std::span<const int> fds = {});

struct Received {
  size_t bytes = 0;  // of the message, in the caller's buffer
  size_t fds = 0;    // how many of the caller's fd slots were filled
  int error = 0;     // an errno value; then bytes and fds are 0 and no fd is left open
};

// Receives one message into `buf` and its fds, born O_CLOEXEC, into `fds`, again on EINTR. Fds
// beyond fds.size() are closed: a peer cannot make the caller hold fds it does not expect. A
// message cut short (larger than `buf` on a SOCK_SEQPACKET socket: MSG_TRUNC, or with more than
// kMaxFdsPerMessage fds: MSG_CTRUNC) is the error EMSGSIZE, every fd it carried closed. 0 bytes
// and no fds: the peer closed the socket.
Received ReceiveWithFds(int sock, std::span<char> buf, std::span<int> fds);

}  // namespace brood::sys
