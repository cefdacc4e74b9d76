#include "jobs/judge.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace brood::jobs
