// Valid job lines, what they become, and the parser's behaviour at the edges (ids of invalid
// lines, size and nesting limits). The invalid lines are in job_parser_invalid_test.cpp.
#include "jobs/job_parser.hpp"

#include <gtest/gtest.h>

#include <string>

#include "support/schema.hpp"

namespace brood::jobs {
namespace {

// A job record with every field present (docs/job.md).
constexpr char kDesignExample[] =
    R"({"id": "he/0/3", "cmd": ["python3", "main.py"], "stdin": "", "env": {"SEED": "1"},)"
    R"( "files": {"main.py": "print(1)\n", "data/in.bin": {"base64": "AAEC"}},)"
    R"( "cwd": "/workspace",)"
    R"( "limits": {"wall_ms": 10000, "cpu_ms": 10000, "memory_mb": 512, "disk_mb": 256,)"
    R"(            "pids": 128, "output_bytes": 1048576, "cpus": 1},)"
    R"( "network": "none", "collect": ["out/*.json"],)"
    R"( "expect": {"stdout": "1\n", "match": "exact"}})";

// Parses a line that must be valid, and checks the schema agrees.
Job Valid(const std::string& line) {
  ParsedJob parsed = ParseJobLine(line, LimitMaxima{});
  EXPECT_TRUE(parsed.job.has_value()) << parsed.error << "\n" << line;
  EXPECT_TRUE(testing::ValidJob(line));
  EXPECT_TRUE(parsed.error.empty());
  return parsed.job.value_or(Job{});
}

TEST(Parser, DesignExample) {
  Job job = Valid(kDesignExample);
  EXPECT_EQ(job.id, "he/0/3");
  EXPECT_EQ(job.argv, (std::vector<std::string>{"python3", "main.py"}));
  EXPECT_EQ(job.stdin_data, "");
  EXPECT_EQ(job.env, (std::map<std::string, std::string>{{"SEED", "1"}}));
  EXPECT_EQ(job.files, (std::map<std::string, std::string>{
                           {"main.py", "print(1)\n"}, {"data/in.bin", std::string("\0\1\2", 3)}}));
  EXPECT_EQ(job.cwd, "/workspace");
  EXPECT_EQ(job.limits.wall_ms, 10000);
  EXPECT_EQ(job.limits.cpu_ms, 10000);
  EXPECT_EQ(job.limits.memory_mb, 512);
  EXPECT_EQ(job.limits.disk_mb, 256);
  EXPECT_EQ(job.limits.pids, 128);
  EXPECT_EQ(job.limits.output_bytes, 1048576);
  EXPECT_EQ(job.limits.cpus, 1.0);
  EXPECT_EQ(job.network, Network::kNone);
  EXPECT_EQ(job.collect, std::vector<std::string>{"out/*.json"});
  ASSERT_TRUE(job.expect.has_value());
  EXPECT_EQ(job.expect->stdout_text, "1\n");
  EXPECT_EQ(job.expect->match, MatchMode::kExact);
}

TEST(Parser, MinimalJobTakesEveryDefaultFromTheStructs) {
  Job job = Valid(R"({"id":"m","cmd":["true"]})");
  const Job defaults;
  EXPECT_EQ(job.argv, std::vector<std::string>{"true"});
  EXPECT_EQ(job.stdin_data, defaults.stdin_data);
  EXPECT_EQ(job.stdin_fd, defaults.stdin_fd);
  EXPECT_TRUE(job.env.empty());
  EXPECT_TRUE(job.files.empty());
  EXPECT_EQ(job.cwd, defaults.cwd);
  EXPECT_EQ(job.limits.wall_ms, defaults.limits.wall_ms);
  EXPECT_EQ(job.limits.cpu_ms, defaults.limits.cpu_ms);
  EXPECT_EQ(job.limits.memory_mb, defaults.limits.memory_mb);
  EXPECT_EQ(job.limits.disk_mb, defaults.limits.disk_mb);
  EXPECT_EQ(job.limits.pids, defaults.limits.pids);
  EXPECT_EQ(job.limits.output_bytes, defaults.limits.output_bytes);
  EXPECT_EQ(job.limits.cpus, defaults.limits.cpus);
  EXPECT_EQ(job.network, defaults.network);
  EXPECT_TRUE(job.collect.empty());
  EXPECT_FALSE(job.expect.has_value());
}

TEST(Parser, ShellRunsUnderBinSh) {
  Job job = Valid(R"({"id":"s","shell":"echo a | tr a b","network":"host"})");
  EXPECT_EQ(job.argv, (std::vector<std::string>{"/bin/sh", "-c", "echo a | tr a b"}));
  EXPECT_EQ(job.network, Network::kHost);
}

TEST(Parser, RootIsAName) {
  EXPECT_EQ(Valid(R"({"id":"r","cmd":["x"],"root":"python-3.11_b"})").root, "python-3.11_b");
  EXPECT_EQ(Valid(R"({"id":"r","cmd":["x"]})").root, "");
}

TEST(Parser, PartialLimitsKeepTheOtherDefaults) {
  Job job = Valid(R"({"id":"l","cmd":["x"],"limits":{"memory_mb":64,"cpus":0.5}})");
  EXPECT_EQ(job.limits.memory_mb, 64);
  EXPECT_EQ(job.limits.cpus, 0.5);
  EXPECT_EQ(job.limits.wall_ms, Limits{}.wall_ms);
  EXPECT_EQ(job.limits.Resolved().cpu_ms, Limits{}.wall_ms);
}

// JSON Schema counts 512.0 as an integer; so does the parser.
TEST(Parser, IntegralFloatIsAnInteger) {
  Job job = Valid(R"({"id":"f","cmd":["x"],"limits":{"memory_mb":512.0,"wall_ms":2e3}})");
  EXPECT_EQ(job.limits.memory_mb, 512);
  EXPECT_EQ(job.limits.wall_ms, 2000);
}

TEST(Parser, ExpectModes) {
  Job trim = Valid(R"({"id":"t","cmd":["x"],"expect":{"stdout":"1","match":"trim"}})");
  ASSERT_TRUE(trim.expect);
  EXPECT_EQ(trim.expect->match, MatchMode::kTrim);
  Job tokens = Valid(R"({"id":"t","cmd":["x"],"expect":{"match":"tokens","stdout":"1 2"}})");
  ASSERT_TRUE(tokens.expect);
  EXPECT_EQ(tokens.expect->match, MatchMode::kTokens);
  Job exact = Valid(R"({"id":"t","cmd":["x"],"expect":{"stdout":""}})");
  ASSERT_TRUE(exact.expect);
  EXPECT_EQ(exact.expect->match, MatchMode::kExact);
  EXPECT_EQ(exact.expect->stdout_text, "");
}

// Bytes that execve never sees may hold anything JSON can say, NUL included.
TEST(Parser, DataMayHoldAnyCharacter) {
  Job job = Valid(R"({"id":"n\u0000é","cmd":["printf","%s","é😀"],"stdin":"a\u0000b",)"
                  R"("files":{"d/é.txt":"x\u0000y","blob":{"base64":"/w=="}},"env":{"K":"a=b c"},)"
                  R"("expect":{"stdout":"\u0000"}})");
  EXPECT_EQ(job.id, std::string("n\0\xc3\xa9", 4));
  EXPECT_EQ(job.argv[2], "\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(job.stdin_data, std::string("a\0b", 3));
  EXPECT_EQ(job.files.at("d/\xc3\xa9.txt"), std::string("x\0y", 3));
  EXPECT_EQ(job.files.at("blob"), "\xff");
  EXPECT_EQ(job.env.at("K"), "a=b c");
  EXPECT_EQ(job.expect->stdout_text, std::string(1, '\0'));
}

TEST(Parser, EmptyContainersAndGlobsAreFine) {
  Job job = Valid(R"({"id":"e","cmd":[""],"env":{},"files":{},"collect":["**/*.json","a?/[bc]"],)"
                  R"("limits":{},"stdin":{"base64":""}})");
  EXPECT_EQ(job.argv, std::vector<std::string>{""});
  EXPECT_EQ(job.collect.size(), 2u);
}

TEST(Parser, SiblingsThatOnlyShareAPrefixAreNotDirectories) {
  Job job = Valid(R"({"id":"p","cmd":["x"],"files":{"a":"1","ab/c":"2","a.d/e":"3"}})");
  EXPECT_EQ(job.files.size(), 3u);
}

TEST(Parser, IdUpTo1024CharactersOfAnyWidth) {
  std::string id;
  for (int i = 0; i < 1024; ++i) id += "\xe2\x82\xac";  // 3 bytes, one character
  Job job = Valid(R"({"id":")" + id + R"(","cmd":["x"]})");
  EXPECT_EQ(job.id, id);
}

TEST(Parser, TrailingCarriageReturnIsTolerated) {
  ParsedJob parsed = ParseJobLine("{\"id\":\"r\",\"cmd\":[\"x\"]}\r", LimitMaxima{});
  ASSERT_TRUE(parsed.job) << parsed.error;
  EXPECT_EQ(parsed.job->id, "r");
}

TEST(Parser, InvalidLineKeepsItsIdWhenReadable) {
  ParsedJob unknown = ParseJobLine(R"({"id":"x","cmd":["a"],"bogus":1})", LimitMaxima{});
  EXPECT_FALSE(unknown.job);
  EXPECT_EQ(unknown.id, "x");
  ParsedJob duplicate = ParseJobLine(R"({"env":{"A":"1","A":"1"},"id":"y","shell":"a"})", {});
  EXPECT_EQ(duplicate.error, "env: duplicate key \"A\"");
  EXPECT_EQ(duplicate.id, "y");
  ParsedJob valid = ParseJobLine(R"({"id":"z","cmd":["a"]})", LimitMaxima{});
  EXPECT_EQ(valid.id, "z");
}

TEST(Parser, InvalidLineHasNoIdWhenUnreadable) {
  for (const char* line : {R"({"id":"x","cmd":["a"])", R"({"id":5,"cmd":["a"]})",
                           R"({"id":"","cmd":["a"]})", R"({"cmd":["a"]})", R"(["x"])",
                           // Given twice: which would --resume look for?
                           R"({"id":"x","cmd":["a"],"id":"y"})"}) {
    ParsedJob parsed = ParseJobLine(line, LimitMaxima{});
    EXPECT_FALSE(parsed.job) << line;
    EXPECT_FALSE(parsed.id) << line;
    EXPECT_FALSE(parsed.error.empty()) << line;
  }
}

TEST(Parser, DefaultsAreCheckedAgainstTheMaxima) {
  LimitMaxima small;
  small.memory_mb = 100;
  ParsedJob parsed = ParseJobLine(R"({"id":"x","cmd":["a"]})", small);
  EXPECT_FALSE(parsed.job);
  EXPECT_EQ(parsed.error, "limits.memory_mb: 512 is above the maximum 100");
  parsed = ParseJobLine(R"({"id":"x","cmd":["a"],"limits":{"memory_mb":100}})", small);
  EXPECT_TRUE(parsed.job) << parsed.error;
}

TEST(Parser, LineOverTheLimitIsNotParsed) {
  std::string line(kMaxJobLine + 1, ' ');
  ParsedJob parsed = ParseJobLine(line, LimitMaxima{});
  EXPECT_FALSE(parsed.job);
  EXPECT_EQ(parsed.error, "line is longer than 64 MiB");
}

TEST(Parser, LineOfExactlyTheLimitIsParsed) {
  const std::string head = R"({"id":"big","cmd":["x"],"stdin":")", tail = R"("})";
  std::string line = head + std::string(kMaxJobLine - head.size() - tail.size(), 'z') + tail;
  ASSERT_EQ(line.size(), kMaxJobLine);
  ParsedJob parsed = ParseJobLine(line, LimitMaxima{});
  ASSERT_TRUE(parsed.job) << parsed.error;
  EXPECT_EQ(parsed.job->stdin_data.size(), kMaxJobLine - head.size() - tail.size());
}

// A million unclosed brackets must neither overflow a stack nor allocate a node per bracket.
TEST(Parser, DeepNestingIsCheap) {
  std::string open(1 << 20, '[');
  EXPECT_TRUE(ParseJobLine(open, LimitMaxima{}).error.starts_with("line is not valid JSON"));
  std::string closed = open + std::string(open.size(), ']');
  EXPECT_EQ(ParseJobLine(closed, LimitMaxima{}).error, "line is not a JSON object, got an array");
}

// An evaluated job with every field of docs/eval.md (a C++ program, three tests, a checker).
constexpr char kEvaluatedExample[] =
    R"({"id": "sum/0", "group": "sum", "language": "cpp",)"
    R"( "files": {"main.cpp": "int main() {}\n", "data.txt": "1"},)"
    R"( "build": {"shell": "g++ -O2 -o main main.cpp", "limits": {"wall_ms": 30000}},)"
    R"( "limits": {"wall_ms": 2000, "memory_mb": 256},)"
    R"( "expect": {"match": "float", "abs_tol": 1e-6, "rel_tol": 0, "case": "insensitive",)"
    R"(            "checker": {"language": "python", "files": {"main.py": "import sys\n"},)"
    R"(                        "limits": {"wall_ms": 5000}}},)"
    R"( "stop": "all",)"
    R"( "tests": [{"id": "small", "stdin": "1 2\n", "expect": {"stdout": "3\n"}},)"
    R"(           {"stdin": {"base64": "MiAzCg=="}, "args": ["-v", ""], "files": {"in/x": "5"},)"
    R"(            "expect": {"stdout": "5\n", "match": "tokens", "exit_code": 3,)"
    R"(                       "files": {"out.txt": "ok"}},)"
    R"(            "limits": {"wall_ms": 4000, "cpus": 0.5}},)"
    R"(           {"id": "big"}]})";

TEST(Parser, EvaluatedJob) {
  Job job = Valid(kEvaluatedExample);
  EXPECT_EQ(job.language, "cpp");
  EXPECT_TRUE(job.argv.empty()) << "the preset's, filled in when the job starts";
  EXPECT_EQ(job.group, "sum");
  EXPECT_EQ(job.stop, StopMode::kAll);
  ASSERT_TRUE(job.build);
  EXPECT_EQ(job.build->argv,
            (std::vector<std::string>{"/bin/sh", "-c", "g++ -O2 -o main main.cpp"}));
  EXPECT_EQ(job.build->limits.wall_ms, 30000);
  EXPECT_FALSE(job.build->limits.memory_mb) << "a build's limits are only what it gives";
  ASSERT_TRUE(job.expect);
  EXPECT_FALSE(job.expect->stdout_text);
  EXPECT_EQ(job.expect->match, MatchMode::kFloat);
  EXPECT_EQ(job.expect->abs_tol, 1e-6);
  EXPECT_TRUE(job.expect->case_insensitive);
  ASSERT_TRUE(job.expect->checker);
  EXPECT_EQ(job.expect->checker->language, "python");
  EXPECT_EQ(job.expect->checker->files.at("main.py"), "import sys\n");
  EXPECT_EQ(job.expect->checker->limits.wall_ms, 5000);
  EXPECT_EQ(job.expect->checker->limits.memory_mb, Limits{}.memory_mb)
      << "a checker's limits are over brood's defaults, not the job's";

  ASSERT_EQ(job.tests.size(), 3u);
  const TestCase &small = job.tests[0], &second = job.tests[1], &big = job.tests[2];
  EXPECT_EQ(small.id, "small");
  EXPECT_EQ(small.stdin_data, "1 2\n");
  ASSERT_TRUE(small.expect);
  EXPECT_EQ(small.expect->stdout_text, "3\n");
  EXPECT_EQ(small.expect->match, MatchMode::kFloat) << "the job's expect, field by field";
  EXPECT_TRUE(small.expect->checker);

  EXPECT_EQ(second.id, "1") << "a test without an id is its index";
  EXPECT_EQ(second.stdin_data, "2 3\n");
  EXPECT_EQ(second.args, (std::vector<std::string>{"-v", ""}));
  EXPECT_EQ(second.files.at("in/x"), "5");
  ASSERT_TRUE(second.expect);
  EXPECT_EQ(second.expect->match, MatchMode::kTokens);
  EXPECT_EQ(second.expect->exit_code, 3);
  EXPECT_EQ(second.expect->abs_tol, 1e-6);
  EXPECT_EQ(second.expect->files.at("out.txt"), "ok");
  EXPECT_EQ(second.limits.wall_ms, 4000);
  EXPECT_EQ(second.limits.cpus, 0.5);
  EXPECT_EQ(second.limits.Over(job.limits).memory_mb, 256) << "over the job's limits";

  EXPECT_EQ(big.id, "big");
  EXPECT_EQ(big.stdin_data, "");
  ASSERT_TRUE(big.expect);
  EXPECT_FALSE(big.expect->stdout_text) << "no test expect: the job's";
}

// "language" stands in for cmd and shell; the name is the engine's to know (an unknown one is
// invalid_job when the job starts, docs/eval.md).
TEST(Parser, LanguageInsteadOfCmd) {
  Job job = Valid(R"({"id":"p","language":"python","files":{"main.py":"pass"},)"
                  R"("stdin":"x","expect":{"stdout":"1\n","match":"trim"}})");
  EXPECT_EQ(job.language, "python");
  EXPECT_TRUE(job.argv.empty());
  EXPECT_TRUE(job.tests.empty());
  EXPECT_EQ(job.stop, StopMode::kFirstFailure);
  EXPECT_EQ(Valid(R"({"id":"c","language":"cobol"})").language, "cobol");
  EXPECT_EQ(Valid(R"({"id":"c","language":"sh","cmd":["sh","other.sh"]})").argv,
            (std::vector<std::string>{"sh", "other.sh"}));
}

TEST(Parser, ExpectWithoutStdout) {
  Job job = Valid(R"({"id":"e","cmd":["x"],"expect":{"exit_code":3,"files":{"o":"1"}}})");
  ASSERT_TRUE(job.expect);
  EXPECT_FALSE(job.expect->stdout_text);
  EXPECT_EQ(job.expect->exit_code, 3);
  EXPECT_EQ(job.expect->files.at("o"), "1");
  Job empty = Valid(R"({"id":"e","cmd":["x"],"expect":{}})");
  ASSERT_TRUE(empty.expect);
  EXPECT_FALSE(empty.expect->stdout_text);
}

// A test's expect is read over the job's field by field; a map field (files) is replaced whole.
TEST(Parser, TestExpectOverTheJobs) {
  Job job = Valid(R"({"id":"t","shell":"x","expect":{"stdout":"a","files":{"f":"1","g":"2"}},)"
                  R"("tests":[{"expect":{"files":{"h":"3"},"case":"insensitive"}},{}]})");
  ASSERT_EQ(job.tests.size(), 2u);
  ASSERT_TRUE(job.tests[0].expect);
  EXPECT_EQ(job.tests[0].expect->stdout_text, "a");
  EXPECT_TRUE(job.tests[0].expect->case_insensitive);
  EXPECT_EQ(job.tests[0].expect->files, (std::map<std::string, std::string>{{"h", "3"}}));
  ASSERT_TRUE(job.tests[1].expect);
  EXPECT_EQ(job.tests[1].expect->files.size(), 2u);
  // Without an expect anywhere, a test has none (its run must end with status ok).
  Job bare = Valid(R"({"id":"t","shell":"x","tests":[{"stdin":"1"}]})");
  EXPECT_FALSE(bare.tests[0].expect);
}

TEST(Parser, TestsUpTo10000) {
  std::string tests = "{}";
  for (int i = 1; i < 10000; ++i) tests += ",{}";
  Job job = Valid(R"({"id":"t","shell":"x","tests":[)" + tests + "]}");
  ASSERT_EQ(job.tests.size(), 10000u);
  EXPECT_EQ(job.tests.back().id, "9999");
}

TEST(Parser, LongNamesAreCutInErrors) {
  std::string name(10000, 'k');
  ParsedJob parsed = ParseJobLine(R"({"id":"x","cmd":["a"],")" + name + R"(":1})", {});
  EXPECT_EQ(parsed.error, "unknown field \"" + std::string(64, 'k') + "...\"");
}

}  // namespace
}  // namespace brood::jobs
