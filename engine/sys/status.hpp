// Engine failures (what went wrong in brood), as opposed to task outcomes (brood::TaskStatus in
// include/brood/result.hpp). Each has a kind (brood::ErrorKind) that callers decide on, and a
// message for people. Kernel errors become a Status in exactly two converters: PosixError (errno)
// and NegErrno (liburing / libseccomp style -errno returns), which derive the kind from the errno.
#pragma once

#include <cerrno>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "brood/error.hpp"

namespace brood::sys {

class [[nodiscard]] Status {
 public:
  Status() = default;
  // An error of kind kInternal: something brood did not expect.
  static Status Error(std::string message) {
    return Status(ErrorKind::kInternal, std::move(message));
  }
  static Status Error(ErrorKind kind, std::string message) {
    return Status(kind, std::move(message));
  }

  bool ok() const { return !message_.has_value(); }
  // The error's kind; kInternal for an ok status (never asked of one in practice).
  ErrorKind kind() const { return kind_; }
  const std::string& message() const {
    static const std::string kOk = "ok";
    return message_ ? *message_ : kOk;
  }
  // Prefixes the message with more context: "zygote: mkdir(...): EACCES". Keeps the kind.
  Status Wrap(const std::string& context) const {
    return ok() ? *this : Status(kind_, context + ": " + *message_);
  }

 private:
  Status(ErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) {}
  ErrorKind kind_ = ErrorKind::kInternal;
  std::optional<std::string> message_;
};

// "host_unsupported: mount(...): EPERM (...)": the kind, then the message.
std::string ToString(const Status& s);

inline Status OkStatus() { return Status(); }

// "call(args): ENAME (description)" from an errno value. The kind follows the errno: ENOMEM,
// ENOSPC, EMFILE, ENFILE, EAGAIN, EDQUOT, EUSERS are kResourceExhausted; EPERM, EACCES, EROFS,
// ENOSYS, EOPNOTSUPP, ENODEV, ENOENT, EAFNOSUPPORT, EPROTONOSUPPORT are kHostUnsupported (the host
// refused or lacks something); ECANCELED is kCancelled; anything else kInternal.
ErrorKind KindOfErrno(int err);
Status PosixError(const std::string& call, int err = errno);
// Same for APIs returning -errno (liburing, libseccomp).
inline Status NegErrno(const std::string& call, int neg) { return PosixError(call, -neg); }
// "EACCES" for 13; the symbolic name is what users search for.
const char* ErrnoName(int err);

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  StatusOr(Status status) : v_(std::move(status)) {}  // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &std::get<T>(v_); }
  T& operator*() { return std::get<T>(v_); }

 private:
  std::variant<T, Status> v_;
};

#define BROOD_RETURN_IF_ERROR(expr)    \
  do {                                 \
    ::brood::sys::Status _st = (expr); \
    if (!_st.ok()) return _st;         \
  } while (0)

// BROOD_ASSIGN_OR_RETURN(auto x, F()): declares x from F()'s value, or returns its error.
#define BROOD_STATUS_CONCAT_INNER(a, b) a##b
#define BROOD_STATUS_CONCAT(a, b) BROOD_STATUS_CONCAT_INNER(a, b)
#define BROOD_ASSIGN_OR_RETURN(lhs, expr) \
  BROOD_ASSIGN_OR_RETURN_IMPL(BROOD_STATUS_CONCAT(_brood_or_, __LINE__), lhs, expr)
#define BROOD_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

}  // namespace brood::sys
