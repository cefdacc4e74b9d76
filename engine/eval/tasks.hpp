// The tasks an evaluation runs, made from its job: the build, each test, each checker run; and
// their results into the records of the evaluation's result (docs/eval.md).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "brood/job.hpp"
#include "brood/result.hpp"

namespace brood::eval {

// What a test (or a checker's run) starts from: the command, its environment, the workspace.
struct Program {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> files;  // the build's snapshot, or the sources
};

// Where a checker finds the test's input, the task's output and the expected answer.
constexpr char kCheckerInput[] = "judge/input";
constexpr char kCheckerOutput[] = "judge/output";
constexpr char kCheckerAnswer[] = "judge/answer";

// A `collect` pattern naming exactly `path` (fnmatch's special characters escaped).
std::string LiteralPattern(const std::string& path);

// The build task: `argv` over `files`, its whole workspace returned (Job::snapshot).
Job BuildJob(const Job& job, const std::string& suffix, const Program& sources,
             const std::vector<std::string>& argv, const Limits& limits);
// Test `test`'s task: program.argv + test.args over program.files + test.files.
Job TestJob(const Job& job, const Program& program, const TestCase& test);
// A checker's run for one test: checker.argv + the three files' absolute paths.
Job CheckerJob(const Job& job, const TestCase& test, const Program& checker, const Limits& limits,
               const Result& run);

BuildResult BuildRecord(const Result& build);
TestResult TestRecord(const std::string& id, const Result& run, Verdict verdict);

}  // namespace brood::eval
