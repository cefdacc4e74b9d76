// Session::Exec, the blocking form of Start (brood/session.hpp).
#include <future>

#include "brood/session.hpp"

namespace brood {

Result Session::Exec(ExecOptions exec) {
  std::promise<Result> done;
  SessionError error;
  if (!Start(
          std::move(exec), [&done](Result r) { done.set_value(std::move(r)); }, &error)) {
    Result r;
    r.status = TaskStatus::kSandboxError;
    r.error = error.message;
    r.error_kind = error.kind;
    return r;
  }
  return done.get_future().get();
}

}  // namespace brood
