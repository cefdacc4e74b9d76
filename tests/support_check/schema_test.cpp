// The schema checks the other tests lean on: they must accept the records DESIGN.md shows and
// reject the mistakes a serializer makes, or every other test's EXPECT_TRUE(ValidResult(...))
// proves nothing.
#include "support/schema.hpp"

#include <gtest/gtest.h>

#include <string>

namespace brood::testing {
namespace {

// The result record of DESIGN.md §3.
constexpr char kOk[] =
    R"({"id": "he/0/3", "status": "ok", "exit_code": 0, "signal": null,
 "stdout": "1\n", "stderr": "", "stdout_truncated": false, "stderr_truncated": false,
 "stdout_bytes": 2, "stderr_bytes": 0,
 "wall_ms": 3.1, "cpu_ms": 2.4, "peak_memory_bytes": 9437184,
 "start_latency_us": 180, "limits_hit": [], "limits_enforced": "cgroup",
 "limits": {"wall_ms": 10000, "cpu_ms": 10000, "memory_mb": 512, "disk_mb": 256,
            "pids": 128, "output_bytes": 1048576, "cpus": 1},
 "files": {}, "passed": true, "error": null})";

// A timeout record: like kOk, with fields replaced.
std::string Timeout(const std::string& exit_code_field) {
  return R"({"id": "t", "status": "timeout", )" + exit_code_field +
         R"("signal": 9, "stdout": {"base64": "/w=="}, "stderr": "",
 "stdout_truncated": false, "stderr_truncated": false, "stdout_bytes": 1, "stderr_bytes": 0,
 "wall_ms": 100, "cpu_ms": 0, "peak_memory_bytes": 0, "start_latency_us": 0,
 "limits_hit": ["wall"], "limits_enforced": "rlimit", "limits": {}, "error": null})";
}

TEST(ResultSchema, AcceptsTheRecordsOfTheDesign) {
  EXPECT_TRUE(ValidResult(kOk));
  EXPECT_TRUE(ValidResult(Timeout(R"("exit_code": null, )")));
  EXPECT_TRUE(ValidResult(R"({"id": null, "status": "invalid_job", "line": 3, "error": "id"})"));
  EXPECT_TRUE(ValidResult(R"({"id": "x", "status": "sandbox_error", "error": "no userns"})"));
}

TEST(ResultSchema, RejectsAnUnknownStatus) {
  std::string bogus = kOk;
  bogus.replace(bogus.find(R"("ok")"), 4, R"("bogus")");
  ::testing::AssertionResult verdict = ValidResult(bogus);
  EXPECT_FALSE(verdict);
  EXPECT_NE(std::string(verdict.message()).find("/status: 'bogus'"), std::string::npos)
      << verdict.message();
}

TEST(ResultSchema, RejectsATimeoutWithoutExitCode) {
  ::testing::AssertionResult verdict = ValidResult(Timeout(""));
  EXPECT_FALSE(verdict);
  EXPECT_NE(std::string(verdict.message()).find("'exit_code' is a required property"),
            std::string::npos)
      << verdict.message();
}

TEST(ResultSchema, RejectsWrongTypesAndBrokenJson) {
  EXPECT_FALSE(ValidResult(R"({"id": "x", "status": "sandbox_error", "error": 3})"));
  EXPECT_FALSE(ValidResult(R"({"id": "x", "status": "invalid_job", "error": "no line"})"));
  EXPECT_FALSE(ValidResult(Timeout(R"("exit_code": null, "limits_hit": ["wall", "wall"], )")));
  EXPECT_FALSE(ValidResult(R"({"id": "x", "status": "sandbox_error", "error": null)"));
  EXPECT_FALSE(ValidResult(R"({"id": "x", "id": "y", "status": "sandbox_error", "error": null})"));
  EXPECT_FALSE(ValidResult(R"({"id": "x", "status": "ok", "wall_ms": NaN, "error": null})"));
  EXPECT_FALSE(ValidResult(""));
  EXPECT_FALSE(ValidResult("[]"));
}

TEST(JobSchema, AcceptsAndRejects) {
  EXPECT_TRUE(ValidJob(R"({"id": "a", "cmd": ["true"]})"));
  EXPECT_TRUE(ValidJob(
      R"({"id": "he/0/3", "cmd": ["python3", "main.py"], "stdin": "", "env": {"SEED": "1"},
 "files": {"main.py": "print(1)\n", "data/in.bin": {"base64": "AAEC"}}, "cwd": "/workspace",
 "limits": {"wall_ms": 10000, "cpus": 0.5}, "network": "none", "collect": ["out/*.json"],
 "expect": {"stdout": "1\n", "match": "exact"}})"));
  EXPECT_FALSE(ValidJob(R"({"cmd": ["true"]})"));                              // no id
  EXPECT_FALSE(ValidJob(R"({"id": "a", "cmd": ["true"], "shell": "true"})"));  // both
  EXPECT_FALSE(ValidJob(R"({"id": "a", "cmd": ["true"], "colour": 1})"));      // unknown field
  EXPECT_FALSE(ValidJob(R"({"id": "a", "shell": "x", "files": {"../x": ""}})"));
  EXPECT_FALSE(ValidJob(R"({"id": "a", "shell": "x", "limits": {"wall_ms": 0}})"));
}

// The validator is one long-lived process: hundreds of records must stay cheap.
TEST(ResultSchema, ManyRecords) {
  for (int i = 0; i < 500; i++) ASSERT_TRUE(ValidResult(kOk)) << i;
}

}  // namespace
}  // namespace brood::testing
