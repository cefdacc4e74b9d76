#include "jobs/judge.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <system_error>

namespace brood::jobs {
namespace {

// ASCII whitespace, as in C's isspace in the "C" locale: the judge must not depend on a locale.
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

char FoldCase(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Byte for byte, or with ASCII letters folded: no copies, however long the texts.
bool Same(std::string_view a, std::string_view b, bool fold) {
  if (!fold) return a == b;
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (FoldCase(a[i]) != FoldCase(b[i])) return false;
  return true;
}

std::string_view StripEnd(std::string_view text) {
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return text;
}

// The next line of `text` without its trailing whitespace, consumed. "\r" is trailing whitespace,
// so CRLF output matches LF expectations.
std::string_view NextLine(std::string_view& text) {
  size_t end = text.find('\n');
  std::string_view line = text.substr(0, end);
  text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  return StripEnd(line);
}

// Line by line, each without its trailing whitespace, and no empty lines at the end: dropping the
// text's trailing whitespace first drops those lines (and leaves a text that does not end in
// "\n", so an empty rest means no more lines).
bool SameTrimmed(std::string_view a, std::string_view b, bool fold) {
  a = StripEnd(a);
  b = StripEnd(b);
  while (!a.empty() && !b.empty())
    if (!Same(NextLine(a), NextLine(b), fold)) return false;
  return a.empty() && b.empty();
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

bool SameTokens(std::string_view a, std::string_view b, bool fold) {
  while (true) {
    std::string_view ta = NextToken(a), tb = NextToken(b);
    if (!Same(ta, tb, fold)) return false;
    if (ta.empty()) return true;
  }
}

// A token as a number (judge.hpp): [+-] then inf, infinity or nan in any case, or decimal digits
// with an optional fraction ("5.", ".5") and an optional exponent ("1e5", "1E+05"). nullopt when
// it is not one, or when its magnitude overflows a double; a magnitude that underflows is a zero
// of its sign. std::from_chars reads the value: locale-free, but it takes no "+" and more forms
// ("nan(...)", a prefix such as the "0" of "0x10"), hence the check of the whole syntax first.
std::optional<double> ParseNumber(std::string_view token) {
  std::string_view body = token;
  bool negative = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (Same(body, "inf", true) || Same(body, "infinity", true))
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  if (Same(body, "nan", true)) return std::numeric_limits<double>::quiet_NaN();

  // The significand's digits, and the place of its first non-zero one (for out-of-range values).
  size_t i = 0, int_digits = 0, digits = 0;
  std::optional<size_t> lead;
  auto read_digits = [&] {
    for (; i < body.size() && IsDigit(body[i]); ++i, ++digits)
      if (!lead && body[i] != '0') lead = digits;
  };
  read_digits();
  int_digits = digits;
  if (i < body.size() && body[i] == '.') {
    ++i;
    read_digits();
  }
  if (digits == 0) return std::nullopt;
  int64_t exponent = 0;  // saturated: far beyond any double's range either way
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    bool exponent_negative = false;
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) exponent_negative = body[i++] == '-';
    const size_t start = i;
    for (; i < body.size() && IsDigit(body[i]); ++i)
      exponent = std::min<int64_t>(exponent * 10 + (body[i] - '0'), int64_t{1} << 40);
    if (i == start) return std::nullopt;
    if (exponent_negative) exponent = -exponent;
  }
  if (i != body.size()) return std::nullopt;

  // from_chars takes the "-" but not a "+".
  const char* first = token[0] == '+' ? token.data() + 1 : token.data();
  const char* last = token.data() + token.size();
  double value = 0;
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec == std::errc::result_out_of_range && lead) {
    // `value` is left as it was: the decimal exponent of the first non-zero digit tells which
    // way the value left the range (a significand of many digits cannot overflow int64 here).
    const int64_t magnitude =
        static_cast<int64_t>(int_digits) - 1 - static_cast<int64_t>(*lead) + exponent;
    if (magnitude < 0) return negative ? -0.0 : 0.0;
    return std::nullopt;
  }
  if (ec != std::errc() || ptr != last) return std::nullopt;
  return value;
}

// Numbers a (actual) and e (expected) within the tolerances. Equal numbers always pass; NaN
// passes only against NaN and an infinity only against the same one (never inf - inf).
bool Close(double a, double e, double abs_tol, double rel_tol) {
  if (std::isnan(a) || std::isnan(e)) return std::isnan(a) && std::isnan(e);
  if (a == e) return true;
  if (std::isinf(a) || std::isinf(e)) return false;
  return std::fabs(a - e) <= std::max(abs_tol, rel_tol * std::fabs(e));
}

bool SameFloats(const Expect& expect, std::string_view expected, std::string_view actual) {
  while (true) {
    std::string_view te = NextToken(expected), ta = NextToken(actual);
    if (te.empty() || ta.empty()) return te.empty() && ta.empty();
    std::optional<double> e = ParseNumber(te), a = ParseNumber(ta);
    if (e && a) {
      if (!Close(*a, *e, expect.abs_tol, expect.rel_tol)) return false;
    } else if (!Same(te, ta, expect.case_insensitive)) {
      return false;
    }
  }
}

}  // namespace

bool Matches(const Expect& expect, std::string_view expected, std::string_view actual) {
  const bool fold = expect.case_insensitive;
  switch (expect.match) {
    case MatchMode::kExact:
      return Same(actual, expected, fold);
    case MatchMode::kTrim:
      return SameTrimmed(actual, expected, fold);
    case MatchMode::kTokens:
      return SameTokens(actual, expected, fold);
    case MatchMode::kFloat:
      return SameFloats(expect, expected, actual);
  }
  return false;
}

bool Meets(const Expect& expect, const Result& result, std::string* why) {
  auto fail = [why](std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  };
  // ok, or failed: both ended by an exit, whose code is then the question.
  if (result.status != TaskStatus::kOk && result.status != TaskStatus::kFailed)
    return fail(std::string("status ") + StatusName(result.status));
  const int want_exit = expect.exit_code.value_or(0);
  const int got_exit = result.exit_code.value_or(result.status == TaskStatus::kOk ? 0 : -1);
  // A failed run never meets an expect without exit_code, whatever code it reports.
  if (got_exit != want_exit || (result.status == TaskStatus::kFailed && !expect.exit_code))
    return fail("exit code " + std::to_string(got_exit) + ", expected " +
                std::to_string(want_exit));
  if (result.stdout_truncated) return fail("stdout was truncated");
  if (expect.stdout_text && !Matches(expect, *expect.stdout_text, result.stdout_data))
    return fail("stdout differs");
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
  const std::string stderr_head = checker_run.stderr_data.substr(0, kTestStreamHead);
  const std::string tail = stderr_head.empty() ? std::string() : ": " + stderr_head;
  std::string msg = stderr_head;
  Verdict v = Verdict::kCheckerError;
  if (checker_run.status == TaskStatus::kOk) {
    v = Verdict::kAccepted;
  } else if (checker_run.status == TaskStatus::kFailed && checker_run.exit_code == 1) {
    v = Verdict::kWrongAnswer;
  } else if (checker_run.status == TaskStatus::kFailed && checker_run.exit_code == 2) {
    v = Verdict::kPresentationError;
  } else if (checker_run.status == TaskStatus::kFailed) {
    msg = "checker exited " + std::to_string(checker_run.exit_code.value_or(-1)) + tail;
  } else {
    msg = std::string("checker ended as ") + StatusName(checker_run.status);
    if (checker_run.signal) msg += " (signal " + std::to_string(*checker_run.signal) + ")";
    msg += checker_run.error ? ": " + *checker_run.error : tail;
  }
  if (message) *message = std::move(msg);
  return v;
}

double PassAtK(int n, int c, int k) {
  if (k < 1 || n < k || c < 0 || c > n) return std::numeric_limits<double>::quiet_NaN();
  if (n - c < k) return 1.0;  // every draw of k holds a passing sample
  // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i): each factor in [0, 1), no overflow.
  double miss = 1.0;
  for (int64_t i = int64_t{n} - c + 1; i <= n && miss > 0; ++i)
    miss *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  return 1.0 - miss;
}

}  // namespace brood::jobs
