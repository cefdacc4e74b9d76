// Helpers of the evaluation tests (evaluation*_test.cpp): evaluated jobs built through the public
// Job struct, run on a real engine, and their records checked as JSON.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "brood/engine.hpp"
#include "support/sandbox_env.hpp"

namespace brood::testing {

// An expect of stdout.
Expect Stdout(std::string text, MatchMode match = MatchMode::kExact);

// A test of an evaluated job (not "Test": in a TEST body that names gtest's base class).
TestCase Case(std::string id, std::string stdin_data, std::optional<Expect> expect = std::nullopt,
              std::vector<std::string> args = {});

// A job running `script` with /bin/sh -c (each test's args are its $1, $2, ...), with generous
// limits: wall_ms 30 s unless a test says otherwise.
Job ShellJob(const std::string& id, const std::string& script);

// A job of the language preset `language` with its one source file.
Job LanguageJob(const std::string& id, const std::string& language, const std::string& source);

// Runs an evaluated job and checks its record (CheckRecord).
Result RunEval(Engine* engine, const Job& job);

// Checks what every evaluated job's record must hold: ResultToJson is JSON whose verdict, tests,
// tests_passed and tests_total say what the Result says (a skipped test only its id and verdict),
// and it is valid against schema/result.schema.json. While that schema does not know the
// evaluation's fields yet, the record is checked without them (and the test says so once).
void CheckRecord(const Result& r);

// The record, for failure messages (cut at a few KiB).
std::string Show(const Result& r);

// The test called `id` of a result (fails the test when there is none).
const TestResult& TestOf(const Result& r, const std::string& id);

// The verdicts of the result's tests, in order, by name ("accepted", "skipped", ...).
std::vector<std::string> Verdicts(const Result& r);

// The verdict's name ("" when the result has none).
std::string VerdictOf(const Result& r);

// An engine of the test's own; null with *error when the host cannot sandbox at all.
std::unique_ptr<Engine> OwnEngine(EngineOptions options, std::string* error);

// A temporary directory, removed (with what is in it) at the end of the scope.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace brood::testing

#define EVAL_OWN_ENGINE_OR_SKIP(var, options)                                                  \
  std::string var##_error;                                                                     \
  std::unique_ptr<::brood::Engine> var = ::brood::testing::OwnEngine((options), &var##_error); \
  if (!var) GTEST_SKIP() << "host cannot sandbox: " << var##_error
