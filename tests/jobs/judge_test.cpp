#include "jobs/judge.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace brood::jobs {
namespace {

bool M(MatchMode mode, const std::string& expected, const std::string& actual) {
  return Matches(Expect{expected, mode}, expected, actual);
}

TEST(Matches, ExactIsByteForByte) {
  EXPECT_TRUE(M(MatchMode::kExact, "1\n", "1\n"));
  EXPECT_TRUE(M(MatchMode::kExact, "", ""));
  EXPECT_TRUE(M(MatchMode::kExact, std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(M(MatchMode::kExact, "1\n", "1"));
  EXPECT_FALSE(M(MatchMode::kExact, "1", "1 "));
  EXPECT_FALSE(M(MatchMode::kExact, std::string("a\0b", 3), "a"));
}

TEST(Matches, TrimDropsTrailingWhitespaceOfEachLineAndTrailingEmptyLines) {
  EXPECT_TRUE(M(MatchMode::kTrim, "1\n", "1"));
  EXPECT_TRUE(M(MatchMode::kTrim, "1", "1  \t\n\n \n"));
  EXPECT_TRUE(M(MatchMode::kTrim, "a\nb\n", "a \r\nb\t\r\n"));  // CRLF output, LF expectation
  EXPECT_TRUE(M(MatchMode::kTrim, "a  \nb", "a\nb   "));        // both sides are trimmed
  EXPECT_TRUE(M(MatchMode::kTrim, "", "\n \n\t\n"));
  EXPECT_TRUE(M(MatchMode::kTrim, "a\n\nb", "a \n  \nb\n"));
}

TEST(Matches, TrimKeepsLeadingAndInnerWhitespace) {
  EXPECT_FALSE(M(MatchMode::kTrim, "1", " 1"));
  EXPECT_FALSE(M(MatchMode::kTrim, "a b", "a  b"));
  EXPECT_FALSE(M(MatchMode::kTrim, "a\nb", "a\n\nb"));  // an inner empty line counts
  EXPECT_FALSE(M(MatchMode::kTrim, "a", "\na"));        // so does a leading one
  EXPECT_FALSE(M(MatchMode::kTrim, "a\nb", "ab"));
  EXPECT_FALSE(M(MatchMode::kTrim, "1", ""));
}

TEST(Matches, TokensCompareWhitespaceSeparatedWords) {
  EXPECT_TRUE(M(MatchMode::kTokens, "1 2\n3", " 1\t2  3 \n"));
  EXPECT_TRUE(M(MatchMode::kTokens, "a\r\nb", "a b"));
  EXPECT_TRUE(M(MatchMode::kTokens, "", " \n\t\v\f\r"));
  EXPECT_FALSE(M(MatchMode::kTokens, "12", "1 2"));
  EXPECT_FALSE(M(MatchMode::kTokens, "1 2", "1 2 3"));
  EXPECT_FALSE(M(MatchMode::kTokens, "1 2 3", "1 2"));
  EXPECT_FALSE(M(MatchMode::kTokens, "1 2", "2 1"));
  EXPECT_FALSE(M(MatchMode::kTokens, "x", ""));
}

// Case-insensitive: `expected` and `actual` under `mode` with ASCII letters folded.
bool Fold(MatchMode mode, const std::string& expected, const std::string& actual) {
  Expect e{expected, mode};
  e.case_insensitive = true;
  return Matches(e, expected, actual);
}

// kFloat with tolerances, optionally case-insensitive.
bool F(const std::string& expected, const std::string& actual, double abs_tol = 0,
       double rel_tol = 0, bool fold = false) {
  Expect e{expected, MatchMode::kFloat};
  e.abs_tol = abs_tol;
  e.rel_tol = rel_tol;
  e.case_insensitive = fold;
  return Matches(e, expected, actual);
}

// The shortest text that reads back as `v`.
std::string Str(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  EXPECT_EQ(ec, std::errc());
  return std::string(buf, end);
}

double Up(double v) { return std::nextafter(v, std::numeric_limits<double>::infinity()); }
double Down(double v) { return std::nextafter(v, -std::numeric_limits<double>::infinity()); }

TEST(Matches, CaseInsensitiveExactFoldsAsciiLettersOnly) {
  EXPECT_TRUE(Fold(MatchMode::kExact, "Hello, World\n", "hELLO, wORLD\n"));
  EXPECT_FALSE(M(MatchMode::kExact, "Hello, World\n", "hELLO, wORLD\n"));
  EXPECT_TRUE(Fold(MatchMode::kExact, "", ""));
  EXPECT_FALSE(Fold(MatchMode::kExact, "abc", "ABCD"));
  EXPECT_FALSE(Fold(MatchMode::kExact, "abc\n", "ABC"));
  // Pairs 0x20 apart that are not letters: a fold by `| 0x20` would take them as equal.
  EXPECT_FALSE(Fold(MatchMode::kExact, "[", "{"));
  EXPECT_FALSE(Fold(MatchMode::kExact, "@", "`"));
  EXPECT_FALSE(Fold(MatchMode::kExact, "^", "~"));
  EXPECT_FALSE(Fold(MatchMode::kExact, "\x10", "0"));
  EXPECT_FALSE(Fold(MatchMode::kExact, "\xC1", "\xE1"));           // bytes, not a locale
  EXPECT_FALSE(Fold(MatchMode::kExact, "\xC3\x89", "\xC3\xA9"));   // UTF-8 É, é
  EXPECT_TRUE(Fold(MatchMode::kExact, "\xC3\x89Z", "\xC3\x89z"));  // the ASCII part folds
  EXPECT_TRUE(Fold(MatchMode::kExact, std::string("A\0B", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(Fold(MatchMode::kExact, std::string("A\0B", 3), std::string("a b", 3)));
}

TEST(Matches, CaseInsensitiveExactOnLargeOutputs) {
  const std::string upper(4u << 20, 'Q');
  std::string lower(4u << 20, 'q');
  EXPECT_TRUE(Fold(MatchMode::kExact, upper, lower));
  EXPECT_FALSE(M(MatchMode::kExact, upper, lower));
  lower.back() = 'r';
  EXPECT_FALSE(Fold(MatchMode::kExact, upper, lower));
}

TEST(Matches, CaseInsensitiveTrim) {
  EXPECT_TRUE(Fold(MatchMode::kTrim, "Yes\nNO\n", "yES \r\nno\t\n\n"));
  EXPECT_FALSE(M(MatchMode::kTrim, "Yes\nNO\n", "yES \r\nno\t\n\n"));
  EXPECT_TRUE(M(MatchMode::kTrim, "Yes\nNO\n", "Yes \r\nNO\t\n\n"));
  EXPECT_FALSE(Fold(MatchMode::kTrim, "A\nB", "a\n\nb"));  // still line by line
  EXPECT_FALSE(Fold(MatchMode::kTrim, "A B", "a  b"));
  EXPECT_FALSE(Fold(MatchMode::kTrim, "A", " a"));
  EXPECT_FALSE(Fold(MatchMode::kTrim, "[x]", "{X}"));
  EXPECT_TRUE(Fold(MatchMode::kTrim, "", " \n\r\n"));
  EXPECT_FALSE(Fold(MatchMode::kTrim, "", "x"));
}

TEST(Matches, CaseInsensitiveTokens) {
  EXPECT_TRUE(Fold(MatchMode::kTokens, "YES no\n", "  yes\tNO"));
  EXPECT_FALSE(M(MatchMode::kTokens, "YES no\n", "  yes\tNO"));
  EXPECT_FALSE(Fold(MatchMode::kTokens, "YES no", "yes"));
  EXPECT_FALSE(Fold(MatchMode::kTokens, "yesno", "YES NO"));
  EXPECT_FALSE(Fold(MatchMode::kTokens, "a[", "A{"));
}

// The trim and tokens rules as first written (copies, std::string compares), against which the
// allocation-free comparison is checked on many small random texts.
std::string RefTrim(const std::string& text) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    while (!line.empty() && std::string(" \t\n\v\f\r").find(line.back()) != std::string::npos)
      line.pop_back();
    out += line + "\n";
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::vector<std::string> RefTokens(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (std::string(" \t\n\v\f\r").find(c) != std::string::npos) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::string Lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

TEST(Matches, TrimAndTokensAgreeWithTheReferenceRules) {
  std::mt19937 rng(20240607);
  const std::string alphabet = "aAb \t\r\n\v";
  auto random_text = [&] {
    std::string s(rng() % 8, ' ');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    return s;
  };
  int trim_matches = 0, trim_folded = 0, token_matches = 0, token_folded = 0;
  for (int i = 0; i < 50000; ++i) {
    const std::string a = random_text(), b = random_text();
    const bool trim = RefTrim(a) == RefTrim(b), trim_fold = Lower(RefTrim(a)) == Lower(RefTrim(b));
    const bool tokens = RefTokens(a) == RefTokens(b);
    const bool tokens_fold = RefTokens(Lower(a)) == RefTokens(Lower(b));
    ASSERT_EQ(M(MatchMode::kTrim, a, b), trim) << "[" << a << "] [" << b << "]";
    ASSERT_EQ(Fold(MatchMode::kTrim, a, b), trim_fold) << "[" << a << "] [" << b << "]";
    ASSERT_EQ(M(MatchMode::kTokens, a, b), tokens) << "[" << a << "] [" << b << "]";
    ASSERT_EQ(Fold(MatchMode::kTokens, a, b), tokens_fold) << "[" << a << "] [" << b << "]";
    trim_matches += trim;
    trim_folded += trim_fold && !trim;
    token_matches += tokens;
    token_folded += tokens_fold && !tokens;
  }
  // Both outcomes, and matches that only the fold makes, were exercised.
  EXPECT_GT(trim_matches, 500);
  EXPECT_GT(trim_folded, 100);
  EXPECT_GT(token_matches, 500);
  EXPECT_GT(token_folded, 100);
}

TEST(MatchesFloat, EqualNumbersMatchWithoutTolerance) {
  EXPECT_TRUE(F("1", "1.0"));
  EXPECT_TRUE(F("1", "1e0"));
  EXPECT_TRUE(F("1.0", "1"));
  EXPECT_TRUE(F("100", "1e2"));
  EXPECT_TRUE(F("100000", "1E+05"));
  EXPECT_TRUE(F("0.01", "1e-2"));
  EXPECT_TRUE(F("0.5", ".5"));
  EXPECT_TRUE(F("5", "5."));
  EXPECT_TRUE(F("-0.5", "-.5"));
  EXPECT_TRUE(F("1.5", "+1.5"));
  EXPECT_TRUE(F("12", "00012"));
  EXPECT_TRUE(F("0.1", "0.10000000000000001"));  // the same double
  EXPECT_TRUE(F("1 2.5 -3", "1.0\n2.50\t-3e0\n"));
  EXPECT_FALSE(F("1", "1.0000001"));
  EXPECT_FALSE(F("1", Str(Up(1.0))));
  EXPECT_FALSE(F("1.5", "-1.5"));
  EXPECT_FALSE(F("1 2", "2 1"));
}

TEST(MatchesFloat, SignedZerosAreEqual) {
  EXPECT_TRUE(F("0", "-0.0"));
  EXPECT_TRUE(F("-0.0", "0"));
  EXPECT_TRUE(F("+0", "-0"));
  EXPECT_TRUE(F("0.0", "-0e5"));
  EXPECT_FALSE(F("0", "-0.1"));
}

TEST(MatchesFloat, NanMatchesOnlyNan) {
  EXPECT_TRUE(F("nan", "nan"));
  EXPECT_TRUE(F("nan", "NaN"));
  EXPECT_TRUE(F("NAN", "-nan"));
  EXPECT_TRUE(F("+nan", "nAn"));
  EXPECT_TRUE(F("x nan", "x NaN"));
  const double huge = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(F("nan", "0"));
  EXPECT_FALSE(F("0", "nan"));
  EXPECT_FALSE(F("nan", "1", huge, huge));  // no tolerance makes a number NaN
  EXPECT_FALSE(F("1", "nan", huge, huge));
  EXPECT_FALSE(F("nan", "inf"));
  EXPECT_FALSE(F("inf", "nan"));
  EXPECT_FALSE(F("nan", "nan(1)"));  // not a number: text
  EXPECT_FALSE(F("nan", "nana"));
}

TEST(MatchesFloat, InfinityMatchesOnlyTheSameInfinity) {
  EXPECT_TRUE(F("inf", "inf"));
  EXPECT_TRUE(F("inf", "Infinity"));
  EXPECT_TRUE(F("INF", "+inf"));
  EXPECT_TRUE(F("+Infinity", "iNf"));
  EXPECT_TRUE(F("-inf", "-INFINITY"));
  EXPECT_TRUE(F("-inf", "-inf", 1, 1));
  EXPECT_FALSE(F("inf", "-inf"));
  EXPECT_FALSE(F("-inf", "inf"));
  EXPECT_FALSE(F("-infinity", "infinity"));
  const double huge = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(F("1", "2", huge));           // an infinite tolerance takes any finite number...
  EXPECT_FALSE(F("inf", "1", huge, huge));  // ...but never an infinity against a number
  EXPECT_FALSE(F("1", "inf", huge, huge));
  EXPECT_FALSE(F("inf", "-inf", huge, huge));
  EXPECT_FALSE(F("inf", "1.7976931348623157e308", 1e308));
  EXPECT_FALSE(F("inf", "infinit"));  // not a number: text
  EXPECT_TRUE(F("infinit", "infinit"));
  EXPECT_FALSE(F("infinit", "INFINIT"));
  EXPECT_TRUE(F("infinit", "INFINIT", 0, 0, /*fold=*/true));
}

TEST(MatchesFloat, OverflowingNumbersAreText) {
  EXPECT_TRUE(F("1e400", "1e400"));
  EXPECT_FALSE(F("1e400", "inf"));
  EXPECT_FALSE(F("inf", "1e400"));
  EXPECT_FALSE(F("-1e400", "-inf"));
  EXPECT_FALSE(F("1e400", "1e401", 1e308, 1e308));
  EXPECT_FALSE(F("1e400", "1.0e400"));
  EXPECT_FALSE(F("1e400", "1E400"));
  EXPECT_TRUE(F("1e400", "1E400", 0, 0, /*fold=*/true));
  EXPECT_FALSE(F("1.7976931348623159e308", "1.7976931348623157e308", 1e300));  // rounds to inf
  EXPECT_TRUE(F("1.7976931348623157e308", "1.7976931348623157e308"));          // DBL_MAX: a number
  EXPECT_TRUE(F("1.7976931348623157e308", "17976931348623157e292"));
  // Many digits and no exponent overflow too.
  EXPECT_TRUE(F("1" + std::string(400, '0'), "1" + std::string(400, '0')));
  EXPECT_FALSE(F("1" + std::string(400, '0'), "1e400"));
}

TEST(MatchesFloat, UnderflowingNumbersAreZero) {
  EXPECT_TRUE(F("0", "1e-400"));
  EXPECT_TRUE(F("1e-400", "0"));
  EXPECT_TRUE(F("0", "-1e-400"));
  EXPECT_TRUE(F("0", "0." + std::string(400, '0') + "1"));
  EXPECT_TRUE(F("1e-300", "1e-400", 1e-200));
  EXPECT_FALSE(F("1e-300", "1e-400"));
  EXPECT_FALSE(F("1e-400", "x"));
  // Subnormals are numbers of their own.
  EXPECT_FALSE(F("0", "4.9406564584124654e-324"));
  EXPECT_TRUE(F("0", "4.9406564584124654e-324", 1e-300));
  EXPECT_TRUE(F("5e-324", "4.9406564584124654e-324"));
}

TEST(MatchesFloat, NonNumbersAreComparedAsText) {
  EXPECT_FALSE(F("16", "0x10"));
  EXPECT_TRUE(F("0x10", "0x10"));
  EXPECT_FALSE(F("0x10", "0X10"));
  EXPECT_TRUE(F("0x10", "0X10", 0, 0, /*fold=*/true));
  EXPECT_FALSE(F("8", "0x1p3"));
  EXPECT_FALSE(F("1.2.3", "1.2.30"));
  EXPECT_TRUE(F("1.2.3", "1.2.3"));
  EXPECT_FALSE(F("1000", "1_000"));
  EXPECT_FALSE(F("1.5", "1,5"));
  EXPECT_FALSE(F("1,5", "1,50"));
  EXPECT_TRUE(F("1,5", "1,5"));
  for (const char* junk : {"1e", "1e+", "1e-", "e5", ".", "+", "-", "++1", "--1", "+-1", ".e1",
                           "1e5.5", "1.5e", "1ee5", "1..5", "1f", "5d"}) {
    EXPECT_TRUE(F(junk, junk)) << junk;
    EXPECT_FALSE(F("1", junk, 1e9, 1e9)) << junk;
    EXPECT_FALSE(F(junk, "1", 1e9, 1e9)) << junk;
  }
  EXPECT_FALSE(F("1e", "1e0"));
  EXPECT_FALSE(F("1.", "1.0.", 1));
}

TEST(MatchesFloat, MixedNumericAndTextTokens) {
  EXPECT_TRUE(F("x 1.0 y", "x 1 y"));
  EXPECT_TRUE(F("Case #1: 0.5", "Case #1: 0.50000001", 1e-6));
  EXPECT_FALSE(F("Case #1: 0.5", "case #1: 0.50000001", 1e-6));
  EXPECT_TRUE(F("Case #1: 0.5", "case #1: 0.50000001", 1e-6, 0, /*fold=*/true));
  EXPECT_FALSE(F("Case #1: 0.5", "case #1: 0.6", 1e-6, 0, /*fold=*/true));
  EXPECT_FALSE(F("1.0 x", "1 y"));
  EXPECT_FALSE(F("abc", "1"));
  EXPECT_FALSE(F("1", "abc"));
  EXPECT_FALSE(F("1", "1a"));
  EXPECT_FALSE(F("1.0a", "1a"));
  EXPECT_TRUE(F("1.0a", "1.0a"));
  EXPECT_TRUE(F("YES", "yes", 0, 0, /*fold=*/true));
  EXPECT_FALSE(F("YES", "yes"));
}

TEST(MatchesFloat, TokenCountsMustBeEqual) {
  EXPECT_FALSE(F("1 2", "1 2 3"));
  EXPECT_FALSE(F("1 2 3", "1 2"));
  EXPECT_FALSE(F("1", ""));
  EXPECT_FALSE(F("", "1"));
  EXPECT_FALSE(F("", "nan"));
  EXPECT_FALSE(F("1 2", "1 2 0", 1e9));
  EXPECT_FALSE(F("1.0", "1 0"));
  EXPECT_TRUE(F("", ""));
  EXPECT_TRUE(F("", " \n\t\r\v\f"));
  EXPECT_TRUE(F("1\n2\n", " 1 2"));
  EXPECT_TRUE(F("1 2\r\n", "1\t2"));
}

TEST(MatchesFloat, AbsoluteToleranceBoundaryIsInclusive) {
  // 2 +- 0.5 is exact in binary, and so is the difference to the next double beyond: the
  // boundary itself passes, the next double does not. (Below 1 +- 0.5 the difference to the next
  // double, 0.5 + 2^-54, rounds back to 0.5: the rule reads the difference in doubles.)
  EXPECT_TRUE(F("2", "2.5", 0.5));
  EXPECT_TRUE(F("2", "1.5", 0.5));
  EXPECT_FALSE(F("2", Str(Up(2.5)), 0.5));
  EXPECT_FALSE(F("2", Str(Down(1.5)), 0.5));
  EXPECT_TRUE(F("1", "1.5", 0.5));
  EXPECT_FALSE(F("1", Str(Up(1.5)), 0.5));
  EXPECT_TRUE(F("1", Str(Down(0.5)), 0.5));
  EXPECT_FALSE(F("1", Str(Down(Down(0.5))), 0.5));
  EXPECT_TRUE(F("-2", "-2.5", 0.5));
  EXPECT_TRUE(F("-2", "-1.5", 0.5));
  EXPECT_FALSE(F("-2", Str(Down(-2.5)), 0.5));
  EXPECT_FALSE(F("-2", Str(Up(-1.5)), 0.5));
  EXPECT_TRUE(F("0.25", "-0.25", 0.5));
  EXPECT_FALSE(F("0.25", "-0.25", 0.25));
  EXPECT_TRUE(F("1 2 3", "1.5 1.5 3.5", 0.5));
  EXPECT_FALSE(F("1 2 3", "1.5 1.5 3.75", 0.5));  // every pair must pass
}

TEST(MatchesFloat, RelativeToleranceIsOfTheExpectedValue) {
  // rel_tol 0.125 of 4 is 0.5, exact in binary.
  EXPECT_TRUE(F("4", "4.5", 0, 0.125));
  EXPECT_TRUE(F("4", "3.5", 0, 0.125));
  EXPECT_FALSE(F("4", Str(Up(4.5)), 0, 0.125));
  EXPECT_FALSE(F("4", Str(Down(3.5)), 0, 0.125));
  EXPECT_TRUE(F("-4", "-4.5", 0, 0.125));  // of |e|
  EXPECT_TRUE(F("-4", "-3.5", 0, 0.125));
  EXPECT_FALSE(F("-4", Str(Down(-4.5)), 0, 0.125));
  // Of the expected value, not the actual one: 0.25 * 4 = 1 but 0.25 * 3 < 1.
  EXPECT_TRUE(F("4", "3", 0, 0.25));
  EXPECT_FALSE(F("3", "4", 0, 0.25));
  // A relative tolerance takes nothing around an expected 0.
  EXPECT_FALSE(F("0", "1e-300", 0, 0.5));
  EXPECT_TRUE(F("0", "-0", 0, 0.5));
}

TEST(MatchesFloat, TheLargerOfAbsoluteAndRelativeToleranceApplies) {
  // e = 4: rel 0.25 gives 1, more than abs 0.5.
  EXPECT_TRUE(F("4", "5", 0.5, 0.25));
  EXPECT_FALSE(F("4", "5", 0.5, 0));
  EXPECT_FALSE(F("4", Str(Up(5.0)), 0.5, 0.25));
  // e = 1: abs 0.5 is more than rel 0.25.
  EXPECT_TRUE(F("1", "1.5", 0.5, 0.25));
  EXPECT_FALSE(F("1", "1.5", 0, 0.25));
  EXPECT_FALSE(F("1", Str(Up(1.5)), 0.5, 0.25));
  // Large values: rel matters, abs alone would not.
  EXPECT_TRUE(F("1e20", "1.0000001e20", 1e-6, 1e-6));
  EXPECT_FALSE(F("1e20", "1.0000001e20", 1e-6, 0));
  EXPECT_FALSE(F("1e20", "1.00001e20", 1e-6, 1e-6));
}

TEST(MatchesFloat, DecimalBoundariesFollowDoubleArithmetic) {
  // The expected outcome is the same double arithmetic the rule names, whatever the rounding.
  struct Case {
    const char* e;
    const char* a;
    double abs_tol, rel_tol;
    double ev, av;
  };
  const Case cases[] = {
      {"1.1", "1.2", 0.1, 0, 1.1, 1.2},
      {"0.3", "0.4", 0.1, 0, 0.3, 0.4},
      {"0.3", "0.30000000000000004", 0, 0, 0.3, 0.30000000000000004},
      {"10", "10.1", 0, 0.01, 10, 10.1},
      {"2.2", "2.178", 0, 0.01, 2.2, 2.178},
      {"1e-9", "2e-9", 1e-9, 0, 1e-9, 2e-9},
      {"123.456", "123.457", 0.001, 0, 123.456, 123.457},
  };
  int passed = 0;
  for (const Case& c : cases) {
    const bool want = std::fabs(c.av - c.ev) <= std::max(c.abs_tol, c.rel_tol * std::fabs(c.ev));
    EXPECT_EQ(F(c.e, c.a, c.abs_tol, c.rel_tol), want) << c.e << " " << c.a;
    passed += want;
  }
  EXPECT_GT(passed, 0);  // both outcomes are among the cases
  EXPECT_LT(passed, static_cast<int>(std::size(cases)));
  EXPECT_TRUE(F("0.3", "0.30000000000000004", 1e-9));
  EXPECT_FALSE(F("0.3", "0.30000000000000004"));
}

TEST(MatchesFloat, EqualNumbersPassWhateverTheTolerances) {
  EXPECT_TRUE(F("2.5", "2.50", -1, -1));
  EXPECT_FALSE(F("2.5", "2.6", -1, -1));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(F("2.5", "2.50", nan, nan));
  EXPECT_FALSE(F("2.5", "2.6", nan, nan));
  // The difference of opposite huge numbers overflows to inf: beyond any finite tolerance.
  EXPECT_FALSE(F("1.7976931348623157e308", "-1.7976931348623157e308", 1e308));
}

TEST(MatchesFloat, OtherModesDoNotReadNumbers) {
  EXPECT_FALSE(M(MatchMode::kTokens, "1", "1.0"));
  EXPECT_FALSE(M(MatchMode::kTrim, "1", "1.0"));
  EXPECT_FALSE(M(MatchMode::kExact, "nan", "NaN"));
  Expect tolerant{"1", MatchMode::kTokens};
  tolerant.abs_tol = 1;
  EXPECT_FALSE(Matches(tolerant, "1", "1.5"));
}

Result Finished(TaskStatus status, const std::string& out, bool truncated = false) {
  Result r;
  r.status = status;
  r.stdout_data = out;
  r.stdout_truncated = truncated;
  return r;
}

Job Expecting(const std::string& stdout_text, MatchMode mode = MatchMode::kExact) {
  Job job;
  job.expect = Expect{stdout_text, mode};
  return job;
}

TEST(Judge, LeavesPassedUnsetWithoutExpect) {
  Result r = Finished(TaskStatus::kOk, "1\n");
  Judge(Job{}, r);
  EXPECT_FALSE(r.passed.has_value());
}

TEST(Judge, PassesWhenOkAndMatching) {
  Result r = Finished(TaskStatus::kOk, "1 \n");
  Judge(Expecting("1", MatchMode::kTrim), r);
  EXPECT_EQ(r.passed, true);
}

TEST(Judge, FailsOnMismatch) {
  Result r = Finished(TaskStatus::kOk, "2\n");
  Judge(Expecting("1\n"), r);
  EXPECT_EQ(r.passed, false);
}

TEST(Judge, FailsWhenStatusIsNotOkEvenIfOutputMatches) {
  for (TaskStatus s :
       {TaskStatus::kFailed, TaskStatus::kTimeout, TaskStatus::kOutputLimit, TaskStatus::kSignaled,
        TaskStatus::kMemoryLimit, TaskStatus::kSandboxError}) {
    Result r = Finished(s, "1\n");
    Judge(Expecting("1\n"), r);
    EXPECT_EQ(r.passed, false) << StatusName(s);
  }
}

TEST(Judge, FailsWhenStdoutWasTruncated) {
  Result r = Finished(TaskStatus::kOk, "1 2", /*truncated=*/true);
  Judge(Expecting("1 2", MatchMode::kTokens), r);
  EXPECT_EQ(r.passed, false);
}

TEST(JudgeMeets, ExpectedNonZeroExitWithStatusFailed) {
  Expect e;
  e.exit_code = 3;
  Result r = Finished(TaskStatus::kFailed, "");
  r.exit_code = 3;
  std::string why;
  EXPECT_TRUE(Meets(e, r, &why)) << why;
  r.exit_code = 4;
  EXPECT_FALSE(Meets(e, r, &why));
  EXPECT_EQ(why, "exit code 4, expected 3");
}

TEST(JudgeMeets, StatusOkFailsAnExpectedNonZeroExit) {
  Expect e;
  e.exit_code = 3;
  Result r = Finished(TaskStatus::kOk, "");
  r.exit_code = 0;
  std::string why;
  EXPECT_FALSE(Meets(e, r, &why));
  EXPECT_EQ(why, "exit code 0, expected 3");
  e.exit_code = 0;
  EXPECT_TRUE(Meets(e, r, &why)) << why;
}

TEST(JudgeMeets, FailedWithoutAnExpectedExitCode) {
  Expect e{"1\n"};
  Result r = Finished(TaskStatus::kFailed, "1\n");
  r.exit_code = 1;
  std::string why;
  EXPECT_FALSE(Meets(e, r, &why));
  EXPECT_EQ(why, "exit code 1, expected 0");
  EXPECT_FALSE(Meets(e, r));  // no `why`: the answer alone
}

TEST(JudgeMeets, OtherStatusesFailWhateverTheExitCode) {
  for (TaskStatus s : {TaskStatus::kInvalidJob, TaskStatus::kSandboxError, TaskStatus::kTimeout,
                       TaskStatus::kCpuLimit, TaskStatus::kOutputLimit, TaskStatus::kMemoryLimit,
                       TaskStatus::kViolation, TaskStatus::kSignaled, TaskStatus::kDiskLimit}) {
    Expect e{"1\n"};
    e.exit_code = 0;
    Result r = Finished(s, "1\n");
    r.exit_code = 0;
    std::string why;
    EXPECT_FALSE(Meets(e, r, &why)) << StatusName(s);
    EXPECT_EQ(why, std::string("status ") + StatusName(s));
  }
}

TEST(JudgeMeets, TruncatedStdoutFailsEvenWhenNotCompared) {
  std::string why;
  EXPECT_FALSE(Meets(Expect{"1 2", MatchMode::kTokens},
                     Finished(TaskStatus::kOk, "1 2", /*truncated=*/true), &why));
  EXPECT_EQ(why, "stdout was truncated");
  why.clear();
  EXPECT_FALSE(Meets(Expect{}, Finished(TaskStatus::kOk, "x", /*truncated=*/true), &why));
  EXPECT_EQ(why, "stdout was truncated");
  Result stderr_cut = Finished(TaskStatus::kOk, "1 2");
  stderr_cut.stderr_truncated = true;  // stderr is not judged
  EXPECT_TRUE(Meets(Expect{"1 2", MatchMode::kTokens}, stderr_cut, &why)) << why;
}

TEST(JudgeMeets, StdoutIsNotComparedWithoutStdoutText) {
  Expect e;
  e.match = MatchMode::kTokens;
  std::string why;
  EXPECT_TRUE(Meets(e, Finished(TaskStatus::kOk, "anything at all\n"), &why)) << why;
  EXPECT_TRUE(Meets(e, Finished(TaskStatus::kOk, ""), &why)) << why;
  EXPECT_FALSE(Meets(Expect{""}, Finished(TaskStatus::kOk, "anything at all\n"), &why));
  EXPECT_EQ(why, "stdout differs");
}

TEST(JudgeMeets, StdoutIsComparedWithTheExpectsMode) {
  Expect e{"YES\n", MatchMode::kTrim};
  std::string why;
  EXPECT_FALSE(Meets(e, Finished(TaskStatus::kOk, "yes  \n"), &why));
  EXPECT_EQ(why, "stdout differs");
  e.case_insensitive = true;
  EXPECT_TRUE(Meets(e, Finished(TaskStatus::kOk, "yes  \n"), &why)) << why;
  Expect f{"0.5\n", MatchMode::kFloat};
  f.abs_tol = 1e-3;
  EXPECT_TRUE(Meets(f, Finished(TaskStatus::kOk, "0.5004"), &why)) << why;
  EXPECT_FALSE(Meets(f, Finished(TaskStatus::kOk, "0.502"), &why));
}

TEST(JudgeMeets, ExpectedFiles) {
  Expect e;
  e.match = MatchMode::kTrim;
  e.files = {{"out.txt", "42\n"}, {"dir/b.txt", "B"}};
  Result r = Finished(TaskStatus::kOk, "");
  r.files = {{"out.txt", "42"}, {"dir/b.txt", "B\n\n"}, {"extra.txt", "ignored"}};
  std::string why;
  EXPECT_TRUE(Meets(e, r, &why)) << why;

  Result missing = r;
  missing.files.erase("out.txt");
  EXPECT_FALSE(Meets(e, missing, &why));
  EXPECT_EQ(why, "out.txt: missing");

  Result different = r;
  different.files["dir/b.txt"] = "b";
  EXPECT_FALSE(Meets(e, different, &why));
  EXPECT_EQ(why, "dir/b.txt: differs");
  e.case_insensitive = true;  // files follow the case rule too
  EXPECT_TRUE(Meets(e, different, &why)) << why;

  // Files are checked after stdout.
  e.stdout_text = "x";
  EXPECT_FALSE(Meets(e, missing, &why));
  EXPECT_EQ(why, "stdout differs");
}

TEST(Judge, PassesANonZeroExitWhenExpected) {
  Job job = Expecting("bad input\n");
  job.expect->exit_code = 2;
  Result r = Finished(TaskStatus::kFailed, "bad input\n");
  r.exit_code = 2;
  Judge(job, r);
  EXPECT_EQ(r.passed, true);
  r.exit_code = 1;
  Judge(job, r);
  EXPECT_EQ(r.passed, false);
}

TEST(VerdictOf, EveryStatus) {
  struct Case {
    TaskStatus status;
    Verdict met, not_met;  // with `met` true, and false
  };
  const Case cases[] = {
      {TaskStatus::kInvalidJob, Verdict::kInvalidJob, Verdict::kInvalidJob},
      {TaskStatus::kSandboxError, Verdict::kSandboxError, Verdict::kSandboxError},
      {TaskStatus::kTimeout, Verdict::kTimeLimit, Verdict::kTimeLimit},
      {TaskStatus::kCpuLimit, Verdict::kTimeLimit, Verdict::kTimeLimit},
      {TaskStatus::kOutputLimit, Verdict::kOutputLimit, Verdict::kOutputLimit},
      {TaskStatus::kMemoryLimit, Verdict::kMemoryLimit, Verdict::kMemoryLimit},
      {TaskStatus::kViolation, Verdict::kRuntimeError, Verdict::kRuntimeError},
      {TaskStatus::kSignaled, Verdict::kRuntimeError, Verdict::kRuntimeError},
      {TaskStatus::kDiskLimit, Verdict::kRuntimeError, Verdict::kRuntimeError},
      {TaskStatus::kFailed, Verdict::kRuntimeError, Verdict::kRuntimeError},
      {TaskStatus::kOk, Verdict::kAccepted, Verdict::kWrongAnswer},
  };
  static_assert(sizeof(cases) / sizeof(cases[0]) == static_cast<size_t>(TaskStatus::kOk) + 1);
  const Expect plain{"1\n"};
  for (const Case& c : cases) {
    Result run = Finished(c.status, "1\n");
    run.exit_code = c.status == TaskStatus::kOk ? 0 : 1;
    for (const Expect* expect : {static_cast<const Expect*>(nullptr), &plain}) {
      EXPECT_EQ(VerdictOf(run, expect, true), c.met) << StatusName(c.status);
      EXPECT_EQ(VerdictOf(run, expect, false), c.not_met) << StatusName(c.status);
    }
  }
}

TEST(VerdictOf, FailedWithTheExpectedExitCodeIsJudgedByItsOutput) {
  Expect e{"usage\n"};
  e.exit_code = 2;
  Result run = Finished(TaskStatus::kFailed, "usage\n");
  run.exit_code = 2;
  EXPECT_EQ(VerdictOf(run, &e, true), Verdict::kAccepted);
  EXPECT_EQ(VerdictOf(run, &e, false), Verdict::kWrongAnswer);
  run.exit_code = 1;
  EXPECT_EQ(VerdictOf(run, &e, true), Verdict::kRuntimeError);
  run.exit_code = std::nullopt;
  EXPECT_EQ(VerdictOf(run, &e, true), Verdict::kRuntimeError);
  // An expected exit code does not excuse a signal or a limit.
  Result killed = Finished(TaskStatus::kSignaled, "usage\n");
  killed.signal = 9;
  EXPECT_EQ(VerdictOf(killed, &e, true), Verdict::kRuntimeError);
  EXPECT_EQ(VerdictOf(Finished(TaskStatus::kTimeout, ""), &e, true), Verdict::kTimeLimit);
}

TEST(VerdictOf, OkIsJudgedByMetAlone) {
  Expect e{"x"};
  e.exit_code = 3;
  Result run = Finished(TaskStatus::kOk, "x");
  run.exit_code = 0;
  // Meets says no for this pair (exit 0, expected 3); VerdictOf takes that answer.
  EXPECT_FALSE(Meets(e, run));
  EXPECT_EQ(VerdictOf(run, &e, Meets(e, run)), Verdict::kWrongAnswer);
  EXPECT_EQ(VerdictOf(run, nullptr, true), Verdict::kAccepted);
}

Result CheckerRun(TaskStatus status, std::optional<int> exit_code, const std::string& err) {
  Result r;
  r.status = status;
  r.exit_code = exit_code;
  r.stderr_data = err;
  return r;
}

TEST(CheckerVerdict, TestlibExitCodes) {
  std::string msg;
  EXPECT_EQ(CheckerVerdict(CheckerRun(TaskStatus::kOk, 0, "ok 3 numbers"), &msg),
            Verdict::kAccepted);
  EXPECT_EQ(msg, "ok 3 numbers");
  EXPECT_EQ(CheckerVerdict(CheckerRun(TaskStatus::kFailed, 1, "wrong answer 2nd"), &msg),
            Verdict::kWrongAnswer);
  EXPECT_EQ(msg, "wrong answer 2nd");
  EXPECT_EQ(CheckerVerdict(CheckerRun(TaskStatus::kFailed, 2, "wrong output format"), &msg),
            Verdict::kPresentationError);
  EXPECT_EQ(msg, "wrong output format");
  EXPECT_EQ(CheckerVerdict(CheckerRun(TaskStatus::kFailed, 3, "FAIL no answer file"), &msg),
            Verdict::kCheckerError);
  EXPECT_EQ(msg, "checker exited 3: FAIL no answer file");
  EXPECT_EQ(CheckerVerdict(CheckerRun(TaskStatus::kFailed, 4, ""), &msg), Verdict::kCheckerError);
  EXPECT_EQ(msg, "checker exited 4");
  EXPECT_EQ(CheckerVerdict(CheckerRun(TaskStatus::kFailed, 7, "points 0.5"), &msg),
            Verdict::kCheckerError);
  EXPECT_EQ(msg, "checker exited 7: points 0.5");
  EXPECT_EQ(CheckerVerdict(CheckerRun(TaskStatus::kOk, 0, ""), &msg), Verdict::kAccepted);
  EXPECT_EQ(msg, "");
  EXPECT_EQ(CheckerVerdict(CheckerRun(TaskStatus::kFailed, 1, "x"), nullptr),
            Verdict::kWrongAnswer);
}

TEST(CheckerVerdict, SignalsLimitsAndSandboxErrorsAreCheckerErrors) {
  std::string msg;
  Result killed = CheckerRun(TaskStatus::kSignaled, std::nullopt, "partial");
  killed.signal = 11;
  EXPECT_EQ(CheckerVerdict(killed, &msg), Verdict::kCheckerError);
  EXPECT_EQ(msg, "checker ended as signaled (signal 11): partial");
  EXPECT_EQ(CheckerVerdict(CheckerRun(TaskStatus::kTimeout, std::nullopt, ""), &msg),
            Verdict::kCheckerError);
  EXPECT_EQ(msg, "checker ended as timeout");
  for (TaskStatus s : {TaskStatus::kCpuLimit, TaskStatus::kMemoryLimit, TaskStatus::kOutputLimit,
                       TaskStatus::kViolation, TaskStatus::kDiskLimit, TaskStatus::kInvalidJob}) {
    EXPECT_EQ(CheckerVerdict(CheckerRun(s, std::nullopt, ""), &msg), Verdict::kCheckerError)
        << StatusName(s);
    EXPECT_EQ(msg, std::string("checker ended as ") + StatusName(s));
  }
  Result broken = CheckerRun(TaskStatus::kSandboxError, std::nullopt, "");
  broken.error = "clone: out of memory";
  EXPECT_EQ(CheckerVerdict(broken, &msg), Verdict::kCheckerError);
  EXPECT_EQ(msg, "checker ended as sandbox_error: clone: out of memory");
}

TEST(CheckerVerdict, MessageIsTheStderrHead) {
  std::string err(3 * kTestStreamHead, 'e');
  err[kTestStreamHead - 1] = 'L';
  err[kTestStreamHead] = 'X';
  std::string msg;
  for (int code : {0, 1, 2}) {
    const TaskStatus s = code == 0 ? TaskStatus::kOk : TaskStatus::kFailed;
    CheckerVerdict(CheckerRun(s, code, err), &msg);
    EXPECT_EQ(msg, err.substr(0, kTestStreamHead)) << code;
  }
  EXPECT_EQ(CheckerVerdict(CheckerRun(TaskStatus::kFailed, 3, err), &msg), Verdict::kCheckerError);
  EXPECT_EQ(msg, "checker exited 3: " + err.substr(0, kTestStreamHead));
  CheckerVerdict(CheckerRun(TaskStatus::kFailed, 1, "short"), &msg);
  EXPECT_EQ(msg, "short");
}

TEST(PassAtK, HandComputedValues) {
  EXPECT_NEAR(PassAtK(10, 3, 1), 0.3, 1e-12);
  EXPECT_NEAR(PassAtK(5, 2, 2), 0.7, 1e-12);  // 1 - C(3,2)/C(5,2) = 1 - 3/10
  EXPECT_NEAR(PassAtK(100, 1, 10), 0.1, 1e-12);
  EXPECT_NEAR(PassAtK(10, 5, 5), 1 - 1.0 / 252, 1e-12);  // 1 - C(5,5)/C(10,5)
  EXPECT_NEAR(PassAtK(4, 1, 2), 0.5, 1e-12);             // 1 - C(3,2)/C(4,2) = 1 - 3/6
  EXPECT_EQ(PassAtK(200, 0, 1), 0.0);
  EXPECT_EQ(PassAtK(200, 0, 100), 0.0);
  EXPECT_EQ(PassAtK(200, 200, 1), 1.0);
  EXPECT_EQ(PassAtK(200, 200, 200), 1.0);
  EXPECT_EQ(PassAtK(10, 5, 6), 1.0);  // n - c < k: every 6 of 10 holds a pass
  EXPECT_EQ(PassAtK(5, 1, 5), 1.0);
  EXPECT_EQ(PassAtK(5, 0, 5), 0.0);
  EXPECT_EQ(PassAtK(1, 1, 1), 1.0);
  EXPECT_EQ(PassAtK(1, 0, 1), 0.0);
}

// C(a, b) exactly, 0 when b > a (small arguments only).
uint64_t Choose(int a, int b) {
  if (b < 0 || b > a) return 0;
  uint64_t r = 1;
  for (int i = 1; i <= b; ++i) r = r * static_cast<uint64_t>(a - b + i) / static_cast<uint64_t>(i);
  return r;
}

TEST(PassAtK, AgreesWithExactBinomialsForSmallN) {
  for (int n = 1; n <= 30; ++n)
    for (int c = 0; c <= n; ++c)
      for (int k = 1; k <= n; ++k) {
        const double want =
            1.0 - static_cast<double>(Choose(n - c, k)) / static_cast<double>(Choose(n, k));
        EXPECT_NEAR(PassAtK(n, c, k), want, 1e-12) << n << " " << c << " " << k;
      }
  EXPECT_EQ(Choose(30, 15), 155117520u);  // the reference itself
}

TEST(PassAtK, LargeNWithoutOverflow) {
  // 1 - C(990, 50) / C(1000, 50), by logarithms of factorials.
  auto log_choose = [](double a, double b) {
    return std::lgamma(a + 1) - std::lgamma(b + 1) - std::lgamma(a - b + 1);
  };
  const double want = 1 - std::exp(log_choose(990, 50) - log_choose(1000, 50));
  EXPECT_GT(want, 0.4);
  EXPECT_LT(want, 0.41);
  EXPECT_NEAR(PassAtK(1000, 10, 50), want, 1e-9);
  EXPECT_NEAR(PassAtK(1000, 500, 1), 0.5, 1e-12);
  EXPECT_NEAR(PassAtK(1000, 1, 100), 0.1, 1e-12);
  // 1 - C(900, 100) / C(1000, 100): about 1 - 2e-5, so the product's value shows.
  const double miss = std::exp(log_choose(900, 100) - log_choose(1000, 100));
  EXPECT_GT(miss, 1e-5);
  EXPECT_LT(miss, 1e-4);
  EXPECT_NEAR(1 - PassAtK(1000, 100, 100), miss, 1e-13);
  EXPECT_EQ(PassAtK(1000, 500, 100), 1.0);  // 1 - C(500,100)/C(1000,100), below double's epsilon
  EXPECT_NEAR(PassAtK(1'000'000, 1000, 1), 0.001, 1e-12);
  EXPECT_EQ(PassAtK(INT_MAX, 0, 1), 0.0);
  EXPECT_NEAR(PassAtK(INT_MAX, 1, 1), 1.0 / INT_MAX, 1e-15);
  EXPECT_GT(PassAtK(INT_MAX, 1, 1), 0.0);
  EXPECT_EQ(PassAtK(INT_MAX, 0, INT_MAX), 0.0);
  EXPECT_EQ(PassAtK(INT_MAX, INT_MAX, INT_MAX), 1.0);
  EXPECT_EQ(PassAtK(INT_MAX, INT_MAX - 1, 2), 1.0);
}

TEST(PassAtK, OutsideItsDomainIsNan) {
  EXPECT_TRUE(std::isnan(PassAtK(10, 3, 0)));
  EXPECT_TRUE(std::isnan(PassAtK(10, 3, -1)));
  EXPECT_TRUE(std::isnan(PassAtK(5, 0, 6)));  // n < k
  EXPECT_TRUE(std::isnan(PassAtK(5, 5, 6)));
  EXPECT_TRUE(std::isnan(PassAtK(5, -1, 1)));
  EXPECT_TRUE(std::isnan(PassAtK(5, 6, 1)));
  EXPECT_TRUE(std::isnan(PassAtK(0, 0, 1)));
  EXPECT_TRUE(std::isnan(PassAtK(-3, -3, 1)));
  EXPECT_TRUE(std::isnan(PassAtK(INT_MIN, 0, 1)));
  EXPECT_TRUE(std::isnan(PassAtK(1, INT_MIN, 1)));
}

}  // namespace
}  // namespace brood::jobs
