// Every way a job line can be invalid, one test each: the error names the field, and where the
// schema also rejects the line, brood::testing::ValidJob agrees. Where brood is stricter than
// the schema (maxima, base64, a file that is also a directory, a test id given twice), ValidJob
// accepts.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "jobs/job_parser.hpp"
#include "support/schema.hpp"

namespace brood::jobs {
namespace {

enum class Schema { kRejects, kAccepts, kUnchecked };

struct Case {
  std::string name;
  std::string line;
  std::string error;
  Schema schema;
  bool error_is_prefix = false;  // for messages that quote nlohmann's own wording
};

// Test names list the case by name, not as a dump of its (possibly 200 KB) line.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// A valid minimal job plus `fields`.
std::string With(const std::string& fields) { return R"({"id":"a","cmd":["x"],)" + fields + "}"; }

std::vector<Case> Cases() {
  const std::string long_id(1025, 'i');
  const std::string long_path(4097, 'p');
  const std::string long_name(256, 'n');
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += '[';
  deep = R"({"id":"a","cmd":)" + deep + std::string(100000, ']') + "}";
  std::string too_many_tests = "{}";
  for (int i = 0; i < 10000; ++i) too_many_tests += ",{}";
  const auto R = Schema::kRejects, A = Schema::kAccepts;
  return {
      // The line as a whole.
      {"NotJson", R"({"id":"a","cmd":["x"])", "line is not valid JSON: at column ", R, true},
      {"TrailingGarbage", R"({"id":"a","cmd":["x"]} x)", "line is not valid JSON: at ", R, true},
      {"InvalidUtf8", "{\"id\":\"\xff\",\"cmd\":[\"x\"]}", "line is not valid JSON: at ", R, true},
      // Python's json accepts a lone surrogate escape; it is not UTF-8, so nlohmann does not.
      {"LoneSurrogate", R"({"id":"\ud800","cmd":["x"]})", "line is not valid JSON: at ", A, true},
      {"NotAnObject", R"(["id","a"])", "line is not a JSON object, got an array", R},
      {"DuplicateField", With(R"("cmd":["y"])"), "duplicate field \"cmd\"", R},
      {"DuplicateEnvKey", With(R"("env":{"A":"1","A":"2"})"), "env: duplicate key \"A\"", R},
      {"DuplicateBlobKey", With(R"("files":{"a/b":{"base64":"AA","base64":"AA"}})"),
       "files[\"a/b\"]: duplicate key \"base64\"", R},
      {"DuplicateLimit", With(R"("limits":{"pids":1,"pids":2})"), "limits: duplicate key \"pids\"",
       R},
      {"UnknownField", With(R"("timeout":5)"), "unknown field \"timeout\"", R},
      // id
      {"MissingId", R"({"cmd":["x"]})", "id: required field is missing", R},
      {"IdNotString", R"({"id":5,"cmd":["x"]})", "id: expected a non-empty string, got 5", R},
      {"IdEmpty", R"({"id":"","cmd":["x"]})", "id: expected a non-empty string, got \"\"", R},
      {"IdTooLong", R"({"id":")" + long_id + R"(","cmd":["x"]})", "id: longer than 1024 characters",
       R},
      // cmd, shell
      {"CmdAndShell", With(R"("shell":"ls")"),
       "cmd, shell: a job needs exactly one of them, got both", R},
      {"NeitherCmdNorShell", R"({"id":"a"})",
       "cmd, shell: a job needs exactly one of them (or a language), got neither", R},
      {"CmdEmpty", R"({"id":"a","cmd":[]})", "cmd: expected a non-empty array of strings, got []",
       R},
      {"CmdString", R"({"id":"a","cmd":"ls"})",
       "cmd: expected a non-empty array of strings, got \"ls\"", R},
      {"CmdItemNotString", R"({"id":"a","cmd":["ls",5]})", "cmd[1]: expected a string, got 5", R},
      {"CmdNul", R"({"id":"a","cmd":["ls","a\u0000b"]})", "cmd[1]: contains a NUL byte", R},
      {"CmdDeeplyNested", deep, "cmd[0]: expected a string, got an array", Schema::kUnchecked},
      {"ShellEmpty", R"({"id":"a","shell":""})", "shell: expected a non-empty string, got \"\"", R},
      {"ShellNotString", R"({"id":"a","shell":["ls"]})",
       "shell: expected a non-empty string, got an array", R},
      {"ShellNul", R"({"id":"a","shell":"ls\u0000"})", "shell: contains a NUL byte", R},
      // stdin (and blobs)
      {"StdinNumber", With(R"("stdin":5)"),
       R"(stdin: expected a string or {"base64": "..."}, got 5)", R},
      {"StdinEmptyObject", With(R"("stdin":{})"),
       R"(stdin: expected a string or {"base64": "..."}, got {})", R},
      {"StdinBlobExtraField", With(R"("stdin":{"base64":"AA","gzip":true})"),
       "stdin: unknown field \"gzip\"", R},
      {"StdinBase64NotString", With(R"("stdin":{"base64":5})"),
       "stdin: \"base64\" must be a string, got 5", R},
      {"StdinBadBase64", With(R"("stdin":{"base64":"A"})"), "stdin: invalid base64", A},
      // env
      {"EnvNotObject", With(R"("env":["A=1"])"), "env: expected an object of strings, got an array",
       R},
      {"EnvValueNotString", With(R"("env":{"A":1})"), "env: \"A\": expected a string, got 1", R},
      {"EnvEmptyName", With(R"("env":{"":"1"})"), "env: a variable name is empty", R},
      {"EnvNameWithEquals", With(R"("env":{"A=B":"1"})"), "env: \"A=B\": name contains '='", R},
      {"EnvNameNul", With(R"("env":{"A\u0000":"1"})"),
       "env: \"A\\u0000\": name contains a NUL byte", R},
      {"EnvValueNul", With(R"("env":{"A":"x\u0000"})"), "env: \"A\": value contains a NUL byte", R},
      // files
      {"FilesNotObject", With(R"("files":"x")"),
       "files: expected an object of path -> content, got \"x\"", R},
      {"FilesAbsolute", With(R"("files":{"/etc/x":"1"})"), "files: \"/etc/x\": path is absolute",
       R},
      {"FilesDotDot", With(R"("files":{"../x":"1"})"),
       "files: \"../x\": path climbs out of the workspace", R},
      {"FilesDotDotInside", With(R"("files":{"a/../../x":"1"})"),
       "files: \"a/../../x\": path climbs out of the workspace", R},
      {"FilesEmptyPath", With(R"("files":{"":"1"})"), "files: \"\": path is empty", R},
      {"FilesDoubleSlash", With(R"("files":{"a//b":"1"})"),
       "files: \"a//b\": path has an empty component", R},
      {"FilesTrailingSlash", With(R"("files":{"a/":"1"})"),
       "files: \"a/\": path has an empty component", R},
      {"FilesDotComponent", With(R"("files":{"./a":"1"})"),
       "files: \"./a\": path has a \".\" component", R},
      {"FilesNul", With(R"("files":{"a\u0000b":"1"})"),
       "files: \"a\\u0000b\": path contains a NUL byte", R},
      {"FilesPathTooLong", With(R"("files":{")" + long_path + R"(":"1"})"),
       "files: \"" + std::string(64, 'p') + "...\": path is longer than 4096 bytes", R},
      {"FilesNameTooLong", With(R"("files":{"d/)" + long_name + R"(":"1"})"),
       "files: \"d/" + std::string(62, 'n') + "...\": path has a component longer than 255 bytes",
       R},
      {"FilesValueNumber", With(R"("files":{"a":1})"),
       R"(files: "a": expected a string or {"base64": "..."}, got 1)", R},
      {"FilesBadBase64", With(R"("files":{"a.bin":{"base64":"*"}})"),
       "files: \"a.bin\": invalid base64", A},
      {"FilesFileAndDirectory", With(R"("files":{"a":"1","a-b":"2","a/b":"3"})"),
       "files: \"a\" is both a file and a directory of \"a/b\"", A},
      // cwd
      {"CwdRelative", With(R"("cwd":"work")"), "cwd: expected an absolute path, got \"work\"", R},
      {"CwdNotString", With(R"("cwd":1)"), "cwd: expected an absolute path, got 1", R},
      {"CwdNul", With(R"("cwd":"/a\u0000")"), "cwd: contains a NUL byte", R},
      // limits
      {"LimitsNotObject", With(R"("limits":5)"), "limits: expected an object, got 5", R},
      {"LimitsUnknown", With(R"("limits":{"timeout_ms":1})"),
       "limits: unknown field \"timeout_ms\"", R},
      {"LimitZero", With(R"("limits":{"memory_mb":0})"),
       "limits.memory_mb: expected a positive integer, got 0", R},
      {"LimitNegative", With(R"("limits":{"pids":-1})"),
       "limits.pids: expected a positive integer, got -1", R},
      {"LimitFraction", With(R"("limits":{"wall_ms":1.5})"),
       "limits.wall_ms: expected a positive integer, got 1.5", R},
      {"LimitString", With(R"("limits":{"disk_mb":"256"})"),
       "limits.disk_mb: expected a positive integer, got \"256\"", R},
      {"LimitBoolean", With(R"("limits":{"output_bytes":true})"),
       "limits.output_bytes: expected a positive integer, got true", R},
      {"LimitNull", With(R"("limits":{"cpu_ms":null})"),
       "limits.cpu_ms: expected a positive integer, got null", R},
      {"LimitAboveInt64", With(R"("limits":{"wall_ms":9223372036854775808})"),
       "limits.wall_ms: expected a positive integer, got 9223372036854775808", R},
      {"LimitHugeFloat", With(R"("limits":{"wall_ms":1e300})"),
       "limits.wall_ms: expected a positive integer, got 1e+300", R},
      {"LimitAboveMaximum", With(R"("limits":{"wall_ms":86400001})"),
       "limits.wall_ms: 86400001 is above the maximum 86400000", A},
      {"CpusZero", With(R"("limits":{"cpus":0})"), "limits.cpus: expected a positive number, got 0",
       R},
      {"CpusNegative", With(R"("limits":{"cpus":-0.5})"),
       "limits.cpus: expected a positive number, got -0.5", R},
      {"CpusString", With(R"("limits":{"cpus":"1"})"),
       "limits.cpus: expected a positive number, got \"1\"", R},
      {"CpusBoolean", With(R"("limits":{"cpus":true})"),
       "limits.cpus: expected a positive number, got true", R},
      {"CpusAboveMaximum", With(R"("limits":{"cpus":2000})"), "limits.cpus: 2000", A, true},
      // network, collect, expect
      {"NetworkUnknown", With(R"("network":"bridge")"),
       "network: expected \"none\" or \"host\", got \"bridge\"", R},
      {"NetworkNotString", With(R"("network":false)"),
       "network: expected \"none\" or \"host\", got false", R},
      {"RootPath", With(R"("root":"/usr")"),
       "root: expected the name of a root brood was given (letters, digits, - _ ., 1 to 64), got "
       "\"/usr\"",
       R},
      {"RootDotDot", With(R"("root":"..")"),
       "root: expected the name of a root brood was given (letters, digits, - _ ., 1 to 64), got "
       "\"..\"",
       R},
      {"RootEmpty", With(R"("root":"")"),
       "root: expected the name of a root brood was given (letters, digits, - _ ., 1 to 64), got "
       "\"\"",
       R},
      {"RootNotString", With(R"("root":1)"),
       "root: expected the name of a root brood was given (letters, digits, - _ ., 1 to 64), got 1",
       R},
      {"CollectNotArray", With(R"("collect":"out/*")"),
       "collect: expected an array of path patterns, got \"out/*\"", R},
      {"CollectItemNotString", With(R"("collect":[1])"), "collect[0]: expected a string, got 1", R},
      {"CollectAbsolute", With(R"("collect":["*.txt","/etc/passwd"])"),
       "collect[1]: \"/etc/passwd\": path is absolute", R},
      {"CollectDotDot", With(R"("collect":["out/../../x"])"),
       "collect[0]: \"out/../../x\": path climbs out of the workspace", R},
      {"CollectEmpty", With(R"("collect":[""])"), "collect[0]: \"\": path is empty", R},
      {"ExpectNotObject", With(R"("expect":"1\n")"),
       R"(expect: expected an object {"stdout": ..., "match": ...}, got "1\n")", R},
      {"ExpectStdoutNotString", With(R"("expect":{"stdout":1})"),
       "expect.stdout: expected a string, got 1", R},
      {"ExpectBadMatch", With(R"("expect":{"stdout":"","match":"regex"})"),
       "expect.match: expected \"exact\", \"trim\", \"tokens\" or \"float\", got \"regex\"", R},
      {"ExpectUnknownField", With(R"("expect":{"stdout":"","stderr":""})"),
       "expect: unknown field \"stderr\"", R},
      {"ExpectCaseUnknown", With(R"("expect":{"stdout":"A","case":"upper"})"),
       "expect.case: expected \"sensitive\" or \"insensitive\", got \"upper\"", R},
      {"ExpectAbsTolNegative", With(R"("expect":{"match":"float","abs_tol":-1e-9})"),
       "expect.abs_tol: expected a finite number >= 0, got -1e-09", R},
      {"ExpectRelTolString", With(R"("expect":{"match":"float","rel_tol":"1e-6"})"),
       "expect.rel_tol: expected a finite number >= 0, got \"1e-6\"", R},
      {"ExpectExitCodeAbove255", With(R"("expect":{"exit_code":256})"),
       "expect.exit_code: expected an integer from 0 to 255, got 256", R},
      {"ExpectExitCodeNegative", With(R"("expect":{"exit_code":-1})"),
       "expect.exit_code: expected an integer from 0 to 255, got -1", R},
      {"ExpectExitCodeFraction", With(R"("expect":{"exit_code":1.5})"),
       "expect.exit_code: expected an integer from 0 to 255, got 1.5", R},
      {"ExpectFilesClimbOut", With(R"("expect":{"files":{"../x":""}})"),
       "expect.files: \"../x\": path climbs out of the workspace", R},
      {"ExpectFilesValueNumber", With(R"("expect":{"files":{"out.txt":1}})"),
       R"(expect.files: "out.txt": expected a string or {"base64": "..."}, got 1)", R},
      // expect.checker
      {"CheckerNotObject", With(R"("expect":{"checker":"cmp"})"),
       R"(expect.checker: expected an object {"cmd" | "shell" | "language", ...}, got "cmp")", R},
      {"CheckerWithoutCommand", With(R"("expect":{"checker":{"files":{"c.py":""}}})"),
       "expect.checker: needs cmd, shell or language", R},
      {"CheckerCmdAndShell", With(R"("expect":{"checker":{"cmd":["c"],"shell":"c"}})"),
       "expect.checker: cmd, shell: at most one of them", R},
      {"CheckerUnknownField", With(R"("expect":{"checker":{"shell":"c","build":{}}})"),
       "expect.checker: unknown field \"build\"", R},
      {"CheckerLanguageEmpty", With(R"("expect":{"checker":{"language":""}})"),
       "expect.checker.language: expected the name of a language preset, got \"\"", R},
      {"CheckerCmdEmpty", With(R"("expect":{"checker":{"cmd":[]}})"),
       "expect.checker.cmd: expected a non-empty array of strings, got []", R},
      {"CheckerLimitZero", With(R"("expect":{"checker":{"shell":"c","limits":{"memory_mb":0}}})"),
       "expect.checker.limits.memory_mb: expected a positive integer, got 0", R},
      {"CheckerFilesAbsolute", With(R"("expect":{"checker":{"shell":"c","files":{"/c":""}}})"),
       "expect.checker.files: \"/c\": path is absolute", R},
      // language (a name the engine knows is the engine's to check: see job_parser_test.cpp)
      {"LanguageEmpty", With(R"("language":"")"),
       "language: expected the name of a language preset, got \"\"", R},
      {"LanguageNotString", With(R"("language":["cpp"])"),
       "language: expected the name of a language preset, got an array", R},
      {"LanguageTooLong", With(R"("language":")" + std::string(65, 'l') + R"(")"),
       "language: expected the name of a language preset, got \"" + std::string(64, 'l') + "...\"",
       R},
      {"LanguageWithCmdAndShell", With(R"("language":"sh","shell":"x")"),
       "cmd, shell: a job needs exactly one of them, got both", R},
      {"NeitherCmdNorShellWithBuild", R"({"id":"a","build":{"shell":"make"}})",
       "cmd, shell: a job needs exactly one of them (or a language), got neither", R},
      // build
      {"BuildNotObject", With(R"("build":"make")"),
       R"(build: expected an object {"cmd" | "shell", "limits"}, got "make")", R},
      {"BuildWithoutCommand", With(R"("build":{"limits":{"wall_ms":1000}})"),
       "build: cmd, shell: a build needs exactly one of them, got neither", R},
      {"BuildCmdAndShell", With(R"("build":{"cmd":["make"],"shell":"make"})"),
       "build: cmd, shell: a build needs exactly one of them, got both", R},
      {"BuildUnknownField", With(R"("build":{"shell":"make","env":{}})"),
       "build: unknown field \"env\"", R},
      {"BuildCmdEmpty", With(R"("build":{"cmd":[]})"),
       "build.cmd: expected a non-empty array of strings, got []", R},
      {"BuildShellNul", With(R"("build":{"shell":"make\u0000"})"),
       "build.shell: contains a NUL byte", R},
      {"BuildLimitZero", With(R"("build":{"shell":"make","limits":{"wall_ms":0}})"),
       "build.limits.wall_ms: expected a positive integer, got 0", R},
      {"BuildLimitUnknown", With(R"("build":{"shell":"make","limits":{"time":1}})"),
       "build.limits: unknown field \"time\"", R},
      // stop, group
      {"StopUnknown", With(R"("stop":"never")"),
       "stop: expected \"first_failure\" or \"all\", got \"never\"", R},
      {"GroupEmpty", With(R"("group":"")"),
       "group: expected a non-empty string (at most 1024 bytes), got \"\"", R},
      {"GroupNotString", With(R"("group":7)"),
       "group: expected a non-empty string (at most 1024 bytes), got 7", R},
      {"GroupTooLong", With(R"("group":")" + long_id + R"(")"),
       "group: expected a non-empty string (at most 1024 bytes), got \"" + std::string(64, 'i') +
           "...\"",
       R},
      // tests
      {"TestsNotArray", With(R"("tests":{"id":"0"})"),
       "tests: expected a non-empty array, got an object", R},
      {"TestsEmpty", With(R"("tests":[])"), "tests: expected a non-empty array, got []", R},
      {"TestsTooMany", With(R"("tests":[)" + too_many_tests + "]"),
       "tests: more than 10000 tests in one job", R},
      {"TestNotObject", With(R"("tests":["1 2\n"])"),
       R"(tests[0]: expected an object {"id", "stdin", ...}, got "1 2\n")", R},
      {"TestUnknownField", With(R"("tests":[{"stdin":""},{"input":"1"}])"),
       "tests[1]: unknown field \"input\"", R},
      {"TestIdEmpty", With(R"("tests":[{"id":""}])"),
       "tests[0].id: expected a non-empty string (at most 1024 bytes), got \"\"", R},
      {"TestIdNotString", With(R"("tests":[{"id":1}])"),
       "tests[0].id: expected a non-empty string (at most 1024 bytes), got 1", R},
      {"TestIdTooLong", With(R"("tests":[{"id":")" + long_id + R"("}])"),
       "tests[0].id: expected a non-empty string (at most 1024 bytes), got \"" +
           std::string(64, 'i') + "...\"",
       R},
      // Unique ids are beyond a schema (uniqueItems compares whole tests).
      {"TestIdTwice", With(R"("tests":[{"id":"a"},{"id":"a","stdin":"2"}])"),
       "tests[1].id: \"a\" is given twice", A},
      {"TestDefaultIdTwice", With(R"("tests":[{"id":"1"},{}])"),
       "tests[1].id: \"1\" is given twice", A},
      {"TestStdinNumber", With(R"("tests":[{"stdin":5}])"),
       R"(tests[0].stdin: expected a string or {"base64": "..."}, got 5)", R},
      {"TestStdinBadBase64", With(R"("tests":[{"stdin":{"base64":"A"}}])"),
       "tests[0].stdin: invalid base64", A},
      {"TestFilesAbsolute", With(R"("tests":[{"files":{"/etc/x":""}}])"),
       "tests[0].files: \"/etc/x\": path is absolute", R},
      {"TestFileAndDirectory", With(R"("tests":[{"files":{"a":"","a/b":""}}])"),
       "tests[0].files: \"a\" is both a file and a directory of \"a/b\"", A},
      {"TestArgsNotArray", With(R"("tests":[{"args":"-v"}])"),
       "tests[0].args: expected an array of strings, got \"-v\"", R},
      {"TestArgNotString", With(R"("tests":[{"args":["-n",3]}])"),
       "tests[0].args[1]: expected a string, got 3", R},
      {"TestArgNul", With(R"("tests":[{"args":["a\u0000"]}])"),
       "tests[0].args[0]: contains a NUL byte", R},
      {"TestExpectBadMatch", With(R"("tests":[{"expect":{"match":"regex"}}])"),
       "tests[0].expect.match: expected \"exact\", \"trim\", \"tokens\" or \"float\", got "
       "\"regex\"",
       R},
      {"TestExpectUnknownField", With(R"("tests":[{"expect":{"stdin":""}}])"),
       "tests[0].expect: unknown field \"stdin\"", R},
      {"TestLimitNegative", With(R"("tests":[{"limits":{"wall_ms":-5}}])"),
       "tests[0].limits.wall_ms: expected a positive integer, got -5", R},
      {"TestLimitUnknown", With(R"("tests":[{"limits":{"stack_mb":8}}])"),
       "tests[0].limits: unknown field \"stack_mb\"", R},
  };
}

class InvalidJob : public ::testing::TestWithParam<Case> {};

TEST_P(InvalidJob, IsRejectedNamingTheField) {
  const Case& c = GetParam();
  ParsedJob parsed = ParseJobLine(c.line, LimitMaxima{});
  EXPECT_FALSE(parsed.job.has_value());
  if (c.error_is_prefix) {
    EXPECT_TRUE(parsed.error.starts_with(c.error)) << parsed.error;
  } else {
    EXPECT_EQ(parsed.error, c.error);
  }
  if (c.schema == Schema::kRejects) {
    EXPECT_FALSE(testing::ValidJob(c.line));
  } else if (c.schema == Schema::kAccepts) {
    EXPECT_TRUE(testing::ValidJob(c.line));
  }
}

INSTANTIATE_TEST_SUITE_P(Parser, InvalidJob, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace brood::jobs
