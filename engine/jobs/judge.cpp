#include "jobs/judge.hpp"

#include <string>

namespace brood::jobs {
namespace {

// ASCII whitespace, as in C's isspace in the "C" locale: the judge must not depend on a locale.
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Each line without its trailing whitespace, and no empty lines at the end. "\r" is trailing
// whitespace, so CRLF output matches LF expectations.
std::string TrimLines(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    while (!line.empty() && IsSpace(line.back())) line.remove_suffix(1);
    out.append(line);
    out += '\n';
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// The next whitespace-separated token of `text` (empty at the end), consumed.
std::string_view NextToken(std::string_view& text) {
  size_t i = 0;
  while (i < text.size() && IsSpace(text[i])) ++i;
  size_t j = i;
  while (j < text.size() && !IsSpace(text[j])) ++j;
  std::string_view token = text.substr(i, j - i);
  text.remove_prefix(j);
  return token;
}

bool SameTokens(std::string_view a, std::string_view b) {
  while (true) {
    std::string_view ta = NextToken(a), tb = NextToken(b);
    if (ta != tb) return false;
    if (ta.empty()) return true;
  }
}

}  // namespace

bool Matches(const Expect& expect, std::string_view expected, std::string_view actual) {
  switch (expect.match) {
    case MatchMode::kExact:
      return actual == expected;
    case MatchMode::kTrim:
      return TrimLines(actual) == TrimLines(expected);
    case MatchMode::kTokens:
    case MatchMode::kFloat:  // TODO(eval): tolerances
      return SameTokens(actual, expected);
  }
  return false;
}

bool Meets(const Expect& expect, const Result& result, std::string* why) {
  auto fail = [why](std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  };
  const int want_exit = expect.exit_code.value_or(0);
  const bool ended = result.status == TaskStatus::kOk ||
                     (result.status == TaskStatus::kFailed && expect.exit_code.has_value());
  if (!ended) return fail(std::string("status ") + StatusName(result.status));
  const int got_exit = result.exit_code.value_or(result.status == TaskStatus::kOk ? 0 : -1);
  if (got_exit != want_exit)
    return fail("exit code " + std::to_string(got_exit) + ", expected " +
                std::to_string(want_exit));
  if (expect.stdout_text) {
    if (result.stdout_truncated) return fail("stdout was truncated");
    if (!Matches(expect, *expect.stdout_text, result.stdout_data)) return fail("stdout differs");
  }
  for (const auto& [path, content] : expect.files) {
    auto it = result.files.find(path);
    if (it == result.files.end()) return fail(path + ": missing");
    if (!Matches(expect, content, it->second)) return fail(path + ": differs");
  }
  return true;
}

void Judge(const Job& job, Result& result) {
  if (!job.expect) return;
  result.passed = Meets(*job.expect, result);
}

Verdict VerdictOf(const Result& run, const Expect* expect, bool met) {
  switch (run.status) {
    case TaskStatus::kInvalidJob:
      return Verdict::kInvalidJob;
    case TaskStatus::kSandboxError:
      return Verdict::kSandboxError;
    case TaskStatus::kTimeout:
    case TaskStatus::kCpuLimit:
      return Verdict::kTimeLimit;
    case TaskStatus::kMemoryLimit:
      return Verdict::kMemoryLimit;
    case TaskStatus::kOutputLimit:
      return Verdict::kOutputLimit;
    case TaskStatus::kFailed:
      if (expect && expect->exit_code && run.exit_code == expect->exit_code)
        return met ? Verdict::kAccepted : Verdict::kWrongAnswer;
      return Verdict::kRuntimeError;
    case TaskStatus::kSignaled:
    case TaskStatus::kViolation:
    case TaskStatus::kDiskLimit:
      return Verdict::kRuntimeError;
    case TaskStatus::kOk:
      return met ? Verdict::kAccepted : Verdict::kWrongAnswer;
  }
  return Verdict::kSandboxError;
}

Verdict CheckerVerdict(const Result& checker_run, std::string* message) {
  std::string msg = checker_run.stderr_data.substr(0, kTestStreamHead);
  Verdict v = Verdict::kCheckerError;
  if (checker_run.status == TaskStatus::kOk) {
    v = Verdict::kAccepted;
  } else if (checker_run.status == TaskStatus::kFailed && checker_run.exit_code == 1) {
    v = Verdict::kWrongAnswer;
  } else if (checker_run.status == TaskStatus::kFailed && checker_run.exit_code == 2) {
    v = Verdict::kPresentationError;
  } else if (checker_run.status == TaskStatus::kFailed) {
    msg = "checker exited " + std::to_string(checker_run.exit_code.value_or(-1)) +
          (msg.empty() ? "" : ": " + msg);
  } else {
    msg = std::string("checker ended as ") + StatusName(checker_run.status) +
          (checker_run.error ? ": " + *checker_run.error : std::string());
  }
  if (message) *message = std::move(msg);
  return v;
}

double PassAtK(int n, int c, int k) {
  if (n - c < k) return 1.0;
  double miss = 1.0;  // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i)
  for (int i = n - c + 1; i <= n; ++i) miss *= 1.0 - static_cast<double>(k) / i;
  return 1.0 - miss;
}

}  // namespace brood::jobs
