// Engine failures (what went wrong in brood), as opposed to task outcomes (brood::Status in
// include/brood/result.hpp). Kernel errors become a Status in exactly two converters:
// PosixError (errno) and NegErrno (liburing / libseccomp style -errno returns).
#pragma once

#include <cerrno>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace brood::sys {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !message_.has_value(); }
  const std::string& message() const {
    static const std::string kOk = "ok";
    return message_ ? *message_ : kOk;
  }
  // Prefixes the message with more context: "zygote: mkdir(...): EACCES".
  Status Wrap(const std::string& context) const {
    return ok() ? *this : Status(context + ": " + *message_);
  }

 private:
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

inline Status OkStatus() { return Status(); }

// "call(args): ENAME (description)" from an errno value.
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

}  // namespace brood::sys
