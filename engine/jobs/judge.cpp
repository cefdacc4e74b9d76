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

bool Matches(const Expect& expect, std::string_view stdout_text) {
  switch (expect.match) {
    case MatchMode::kExact:
      return stdout_text == expect.stdout_text;
    case MatchMode::kTrim:
      return TrimLines(stdout_text) == TrimLines(expect.stdout_text);
    case MatchMode::kTokens:
      return SameTokens(stdout_text, expect.stdout_text);
  }
  return false;
}

void Judge(const Job& job, Result& result) {
  if (!job.expect) return;
  result.passed = result.status == TaskStatus::kOk && !result.stdout_truncated &&
                  Matches(*job.expect, result.stdout_data);
}

}  // namespace brood::jobs
