// The schema checks the other tests lean on: they must accept the records docs/result.md and
// docs/job.md show and reject the mistakes a serializer makes, or every other test's
// EXPECT_TRUE(ValidResult(...)) proves nothing. Built without the engine: tests/standalone runs
// it in a bare copy of the tree, where it must find schema/ inside the copy.
#include "support/schema.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace brood::testing {
namespace {

// The result record of docs/result.md.
constexpr char kOk[] =
    R"({"id": "he/0/3", "status": "ok", "exit_code": 0, "signal": null,
 "stdout": "1\n", "stderr": "", "stdout_truncated": false, "stderr_truncated": false,
 "stdout_bytes": 2, "stderr_bytes": 0,
 "wall_ms": 3.1, "cpu_ms": 2.4, "peak_memory_bytes": 9437184,
 "start_latency_us": 180, "limits_hit": [], "limits_enforced": "cgroup", "landlock": 7,
 "limits": {"wall_ms": 10000, "cpu_ms": 10000, "memory_mb": 512, "disk_mb": 256,
            "pids": 128, "output_bytes": 1048576, "cpus": 1},
 "files": {}, "passed": true, "error": null})";

// A timeout record: like kOk, with fields replaced.
std::string Timeout(const std::string& exit_code_field) {
  return R"({"id": "t", "status": "timeout", )" + exit_code_field +
         R"("signal": 9, "stdout": {"base64": "/w=="}, "stderr": "",
 "stdout_truncated": false, "stderr_truncated": false, "stdout_bytes": 1, "stderr_bytes": 0,
 "wall_ms": 100, "cpu_ms": 0, "peak_memory_bytes": 0, "start_latency_us": 0,
 "limits_hit": ["wall"], "limits_enforced": "rlimit", "landlock": 0, "limits": {"wall_ms": 100,
 "cpu_ms": 100, "memory_mb": 64, "disk_mb": 16, "pids": 8, "output_bytes": 1024, "cpus": 0.5},
 "files": {}, "error": null})";
}

// `record` with `from` (which must occur in it) replaced by `to`.
std::string With(std::string record, const std::string& from, const std::string& to) {
  const size_t at = record.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) record.replace(at, from.size(), to);
  return record;
}

std::string OkWith(const std::string& from, const std::string& to) { return With(kOk, from, to); }

TEST(ResultSchema, AcceptsTheRecordsOfTheDocs) {
  EXPECT_TRUE(ValidResult(kOk));
  EXPECT_TRUE(ValidResult(Timeout(R"("exit_code": null, )")));
  EXPECT_TRUE(ValidResult(R"({"id": null, "status": "invalid_job", "line": 3, "error": "id"})"));
  EXPECT_TRUE(ValidResult(
      R"({"id": "x", "status": "sandbox_error", "error": "no userns", "error_kind": "host_unsupported"})"));
}

// docs/result.md: `landlock`, the ABI the task ran under, 0 without; only where the task ran.
TEST(ResultSchema, Landlock) {
  EXPECT_TRUE(ValidResult(OkWith(R"("landlock": 7)", R"("landlock": 2)")));
  EXPECT_FALSE(ValidResult(OkWith(R"("landlock": 7)", R"("landlock": -1)")));
  EXPECT_FALSE(ValidResult(OkWith(R"("landlock": 7)", R"("landlock": "7")")));
  EXPECT_FALSE(ValidResult(OkWith(R"("landlock": 7,)", "")));  // required where the task ran
  EXPECT_FALSE(ValidResult(
      R"({"id": "x", "status": "sandbox_error", "error": "e", "error_kind": "internal", "landlock": 7})"));
}

// docs/result.md: `error_kind`, required for sandbox_error and only there, one of six kinds.
TEST(ResultSchema, ErrorKind) {
  const std::string sandbox_error = R"({"id": "x", "status": "sandbox_error", "error": "e")";
  EXPECT_TRUE(ValidResult(sandbox_error + R"(, "error_kind": "cancelled"})"));
  EXPECT_FALSE(ValidResult(sandbox_error + "}")) << "required for sandbox_error";
  EXPECT_FALSE(ValidResult(sandbox_error + R"(, "error_kind": "oops"})"));
  EXPECT_FALSE(
      ValidResult(OkWith(R"("landlock": 7)", R"("landlock": 7, "error_kind": "internal")")))
      << "only for sandbox_error";
  EXPECT_FALSE(ValidResult(
      R"({"id": null, "status": "invalid_job", "line": 3, "error": "id", "error_kind": "internal"})"));
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
  EXPECT_FALSE(ValidResult(
      R"({"id": "x", "status": "sandbox_error", "error": 3, "error_kind": "internal"})"));
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

// docs/result.md: "cgroup" (exact memory, separate disk), "cgroup-shared-disk" (exact memory, the
// workspace's files count against it) and "rlimit"; nothing else.
TEST(ResultSchema, LimitsEnforced) {
  EXPECT_TRUE(ValidResult(kOk));
  const std::string shared = OkWith(R"("cgroup")", R"("cgroup-shared-disk")");
  EXPECT_TRUE(ValidResult(shared));
  // A task that held its memory and filled its disk under a shared-disk limit.
  std::string oom = With(shared, R"("status": "ok")", R"("status": "memory_limit")");
  oom = With(oom, R"("exit_code": 0, "signal": null)", R"("exit_code": null, "signal": 9)");
  oom = With(oom, R"("limits_hit": [])", R"("limits_hit": ["memory", "disk"])");
  EXPECT_TRUE(ValidResult(oom));
  EXPECT_TRUE(ValidResult(Timeout(R"("exit_code": null, )")));  // "rlimit"
  for (const char* bogus : {R"("memsw")", R"("cgroup_shared_disk")", R"("")", "null"}) {
    ::testing::AssertionResult verdict = ValidResult(OkWith(R"("cgroup")", bogus));
    EXPECT_FALSE(verdict) << bogus;
    EXPECT_NE(std::string(verdict.message()).find("/limits_enforced"), std::string::npos)
        << verdict.message();
  }
}

// What brood never writes: the schema is closed, and each field appears where docs/result.md
// says it does.
TEST(ResultSchema, RejectsFieldsOutOfPlace) {
  EXPECT_FALSE(ValidResult(OkWith(R"("files": {})", R"("files": {}, "colour": 1)")));
  EXPECT_FALSE(ValidResult(OkWith(R"("id": "he/0/3")", R"("id": null)")));  // only invalid_job
  EXPECT_FALSE(ValidResult(OkWith(R"("id": "he/0/3")", R"("id": "he/0/3", "line": 4)")));
  EXPECT_FALSE(ValidResult(OkWith(R"("pids": 128, )", "")));  // a limit left out
  EXPECT_FALSE(ValidResult(OkWith(R"("exit_code": 0)", R"("exit_code": 256)")));
  EXPECT_FALSE(
      ValidResult(OkWith(R"("stdout": "1\n")", R"("stdout": {"base64": "MQo=", "x": 1})")));
  EXPECT_FALSE(ValidResult(R"({"id": "x", "status": "sandbox_error", "error": null})"));
  EXPECT_FALSE(
      ValidResult(R"({"id": "x", "status": "sandbox_error", "error": "no userns", "wall_ms": 1})"));
  EXPECT_TRUE(ValidResult(
      R"({"id": "x", "status": "sandbox_error", "passed": false, "error": "cancelled", "error_kind": "cancelled"})"));
}

// The example suite is written in the contract it illustrates.
TEST(JobSchema, TheExampleSuite) {
  std::ifstream suite(BROOD_SOURCE_DIR "/examples/suite.jsonl");
  ASSERT_TRUE(suite) << BROOD_SOURCE_DIR "/examples/suite.jsonl";
  int lines = 0;
  for (std::string line; std::getline(suite, line);) {
    ++lines;
    EXPECT_TRUE(ValidJob(line)) << "examples/suite.jsonl line " << lines;
  }
  EXPECT_GT(lines, 0);
}

TEST(JobSchema, PathsAndNames) {
  EXPECT_TRUE(ValidJob(R"({"id": "a", "shell": "x", "files": {"d/.e": "", "..f": ""}})"));
  for (const char* path : {"/x", "a//b", "a/", "./a", "a/./b", "a/..", ""}) {
    std::string job = R"({"id": "a", "shell": "x", "collect": [")" + std::string(path) + R"("]})";
    EXPECT_FALSE(ValidJob(job)) << path;
  }
  EXPECT_FALSE(
      ValidJob(R"({"id": "a", "shell": "x", "files": {")" + std::string(256, 'n') + R"(": ""}})"));
  EXPECT_FALSE(ValidJob(R"({"id": "a", "cmd": ["a\u0000b"]})"));
  EXPECT_FALSE(ValidJob(R"({"id": "a", "shell": "x", "env": {"A=B": "1"}})"));
  EXPECT_FALSE(ValidJob(R"({"id": "a", "shell": "x", "cwd": "workspace"})"));
  EXPECT_FALSE(ValidJob(R"({"id": ")" + std::string(1025, 'i') + R"(", "shell": "x"})"));
  EXPECT_TRUE(ValidJob(R"({"id": "a", "shell": "x", "limits": {"memory_mb": 512.0}})"));
  EXPECT_FALSE(ValidJob(R"({"id": "a", "shell": "x", "limits": {"memory_mb": 1.5}})"));
  EXPECT_FALSE(ValidJob(R"({"id": "a", "shell": "x", "limits": {"cpus": 0}})"));
}

// docs/eval.md: an evaluated job's record (brood run's output for a wrong answer at the second of
// three tests, stop first_failure): verdict, group, the tests, the third skipped.
constexpr char kWrongAnswer[] =
    R"({"id": "sh-wa", "status": "ok", "exit_code": 0, "signal": null, "stdout": "2\n",
 "stderr": "", "stdout_truncated": false, "stderr_truncated": false, "stdout_bytes": 2,
 "stderr_bytes": 0, "wall_ms": 8.383828, "cpu_ms": 2.064168, "peak_memory_bytes": 442368,
 "start_latency_us": 1499, "limits_hit": [], "limits_enforced": "cgroup", "landlock": 7,
 "limits": {"wall_ms": 10000, "cpu_ms": 10000, "memory_mb": 512, "disk_mb": 256, "pids": 128,
            "output_bytes": 1048576, "cpus": 1.0},
 "files": {}, "passed": false, "verdict": "wrong_answer", "group": "add",
 "tests_passed": 1, "tests_total": 3, "tests": [
  {"id": "a", "verdict": "accepted", "status": "ok", "exit_code": 0, "signal": null,
   "wall_ms": 12.138719, "cpu_ms": 1.39552, "peak_memory_bytes": 294912, "stdout_bytes": 2,
   "stderr_bytes": 0, "stdout": "4\n", "stderr": "", "checker_message": null, "error": null},
  {"id": "1", "verdict": "wrong_answer", "status": "ok", "exit_code": 0, "signal": null,
   "wall_ms": 8.383828, "cpu_ms": 2.064168, "peak_memory_bytes": 442368, "stdout_bytes": 2,
   "stderr_bytes": 0, "stdout": "2\n", "stderr": "", "checker_message": null, "error": null},
  {"id": "2", "verdict": "skipped"}], "error": null})";

// A build that failed: the top-level fields and `build` are the build's, every test skipped.
constexpr char kCompileError[] =
    R"rec({"id": "ce", "status": "failed", "exit_code": 1, "signal": null, "stdout": "",
 "stderr": "oops\n", "stdout_truncated": false, "stderr_truncated": false, "stdout_bytes": 0,
 "stderr_bytes": 5, "wall_ms": 2.347487, "cpu_ms": 1.831111, "peak_memory_bytes": 446464,
 "start_latency_us": 521, "limits_hit": [], "limits_enforced": "cgroup", "landlock": 7,
 "limits": {"wall_ms": 10000, "cpu_ms": 10000, "memory_mb": 512, "disk_mb": 256, "pids": 128,
            "output_bytes": 1048576, "cpus": 1.0},
 "files": {}, "passed": false, "verdict": "compile_error",
 "build": {"status": "failed", "exit_code": 1, "signal": null, "stdout": "", "stderr": "oops\n",
           "stdout_truncated": false, "stderr_truncated": false, "wall_ms": 2.347487,
           "cpu_ms": 1.831111, "peak_memory_bytes": 446464, "cached": false, "error": null},
 "tests_passed": 0, "tests_total": 2,
 "tests": [{"id": "0", "verdict": "skipped"}, {"id": "1", "verdict": "skipped"}],
 "error": "the build exited 1"})rec";

std::string WaWith(const std::string& from, const std::string& to) {
  return With(kWrongAnswer, from, to);
}

TEST(ResultSchema, EvaluatedRecords) {
  EXPECT_TRUE(ValidResult(kWrongAnswer));
  EXPECT_TRUE(ValidResult(kCompileError));
  // A job without `tests` has no tests, tests_passed or tests_total; one without `group` no group.
  EXPECT_TRUE(ValidResult(OkWith(R"("passed": true)", R"("passed": true, "verdict": "accepted")")));
  EXPECT_TRUE(ValidResult(
      R"({"id": "x", "line": 6, "status": "invalid_job", "passed": false, "verdict": "invalid_job",)"
      R"( "error": "language: unknown preset \"cobol\""})"));
  EXPECT_TRUE(ValidResult(With(kCompileError, R"("cached": false)", R"("cached": true)")));
  EXPECT_TRUE(ValidResult(WaWith(R"("checker_message": null, "error": null},
  {"id": "2")",
                                 R"("checker_message": "1st words differ", "error": null},
  {"id": "2")")));
  EXPECT_TRUE(ValidResult(WaWith(R"("stdout": "2\n", "stderr": "", "checker)",
                                 R"("stdout": {"base64": "/w=="}, "stderr": "", "checker)")));
}

TEST(ResultSchema, RejectsMalformedEvaluatedRecords) {
  EXPECT_FALSE(ValidResult(WaWith(R"("verdict": "wrong_answer")", R"("verdict": "skipped")")));
  EXPECT_FALSE(ValidResult(WaWith(R"("verdict": "wrong_answer")", R"("verdict": "wrong")")));
  // passed is the verdict's: true exactly when accepted.
  EXPECT_FALSE(ValidResult(WaWith(R"("passed": false)", R"("passed": true)")));
  EXPECT_FALSE(ValidResult(WaWith(R"("passed": false, )", "")));
  EXPECT_FALSE(
      ValidResult(OkWith(R"("passed": true)", R"("passed": false, "verdict": "accepted")")));
  // The evaluation's fields only with a verdict, and tests with both counts.
  EXPECT_FALSE(ValidResult(OkWith(R"("passed": true)", R"("passed": true, "group": "g")")));
  EXPECT_FALSE(ValidResult(OkWith(R"("passed": true)", R"("passed": true, "tests_total": 1)")));
  EXPECT_FALSE(ValidResult(WaWith(R"("tests_total": 3, )", "")));
  EXPECT_FALSE(ValidResult(WaWith(R"("tests_passed": 1, "tests_total": 3, )", "")));
  EXPECT_FALSE(ValidResult(WaWith(R"("group": "add")", R"("group": "")")));
  // A skipped test is its id and verdict alone; a test that ran has every field.
  EXPECT_FALSE(ValidResult(WaWith(R"({"id": "2", "verdict": "skipped"})",
                                  R"({"id": "2", "verdict": "skipped", "status": "ok"})")));
  EXPECT_FALSE(ValidResult(WaWith(R"("checker_message": null, "error": null},
  {"id": "2")",
                                  R"("error": null},
  {"id": "2")")));
  EXPECT_FALSE(ValidResult(
      WaWith(R"({"id": "a", "verdict": "accepted")", R"({"id": "a", "verdict": "compile_error")")));
  EXPECT_FALSE(ValidResult(WaWith(R"("stdout": "4\n", "stderr": "", "checker_message": null)",
                                  R"("stdout": "4\n", "stderr": "", "checker_message": 1)")));
  EXPECT_FALSE(ValidResult(With(kCompileError, R"("cached": false, )", "")));
  EXPECT_FALSE(ValidResult(
      With(kCompileError,
           R"("status": "failed", "exit_code": 1, "signal": null, "stdout": "", "stderr": "oops\n",
           "stdout_truncated")",
           R"("status": "done", "exit_code": 1, "signal": null, "stdout": "", "stderr": "oops\n",
           "stdout_truncated")")));
  EXPECT_FALSE(ValidResult(
      With(kCompileError,
           R"("tests": [{"id": "0", "verdict": "skipped"}, {"id": "1", "verdict": "skipped"}])",
           R"("tests": [])")));
}

// docs/eval.md's job fields: what the schema takes and refuses (the parser agrees:
// tests/jobs/job_parser*_test.cpp).
TEST(JobSchema, EvaluatedJobs) {
  EXPECT_TRUE(ValidJob(R"({"id": "a", "language": "python", "files": {"main.py": "pass"
}
})"));
  EXPECT_TRUE(ValidJob(
      R"({"id": "a", "language": "cpp", "files": {"main.cpp": ""}, "group": "p", "stop": "all",
 "build": {"shell": "g++ -o main main.cpp", "limits": {"wall_ms": 30000}},
 "expect": {"match": "float", "abs_tol": 1e-6, "rel_tol": 1e-9, "case": "insensitive",
            "exit_code": 0, "files": {"out.txt": "1"},
            "checker": {"language": "python", "files": {"main.py": ""}, "limits": {"wall_ms": 5000}}},
 "tests": [{"id": "t1", "stdin": "1 2\n", "files": {"in.txt": {"base64": "AA=="}}, "args": ["-v"],
            "expect": {"stdout": "3\n"}, "limits": {"memory_mb": 64}}, {}]})"));
  EXPECT_TRUE(ValidJob(R"({"id": "a", "shell": "x", "expect": {}})"));
  EXPECT_TRUE(ValidJob(R"({"id": "a", "shell": "x", "expect": {"checker": {"cmd": ["c"]}}})"));
  EXPECT_FALSE(ValidJob(R"({"id": "a", "build": {"shell": "make"}})"));  // no command
  EXPECT_FALSE(ValidJob(R"({"id": "a", "language": "sh", "cmd": ["x"], "shell": "x"})"));
  EXPECT_FALSE(ValidJob(R"({"id": "a", "language": "sh", "tests": []})"));
  EXPECT_FALSE(ValidJob(R"({"id": "a", "language": "sh", "tests": [{"input": ""}]})"));
  EXPECT_FALSE(ValidJob(R"({"id": "a", "language": "sh", "stop": "first"})"));
  EXPECT_FALSE(ValidJob(R"({"id": "a", "language": "sh", "build": {"cmd": ["m"], "shell": "m"}})"));
  EXPECT_FALSE(ValidJob(R"({"id": "a", "shell": "x", "expect": {"match": "regex"}})"));
  EXPECT_FALSE(ValidJob(R"({"id": "a", "shell": "x", "expect": {"abs_tol": -1}})"));
  EXPECT_FALSE(ValidJob(R"({"id": "a", "shell": "x", "expect": {"exit_code": 256}})"));
  EXPECT_FALSE(ValidJob(R"({"id": "a", "shell": "x", "expect": {"checker": {"files": {}}}})"));
  EXPECT_FALSE(ValidJob(R"({"id": "a", "shell": "x", "tests": [{"limits": {"wall_ms": 0}}]})"));
}

// The validator is one long-lived process: hundreds of records must stay cheap.
TEST(ResultSchema, ManyRecords) {
  for (int i = 0; i < 500; i++) ASSERT_TRUE(ValidResult(kOk)) << i;
}

}  // namespace
}  // namespace brood::testing
