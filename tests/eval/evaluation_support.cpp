#include "evaluation_support.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/schema.hpp"

namespace brood::testing {
namespace {

using Json = nlohmann::json;

// The fields an evaluated job's record adds (docs/result.md).
constexpr const char* kEvalFields[] = {"verdict", "group",       "build",
                                       "tests",   "tests_total", "tests_passed"};

// Whether schema/result.schema.json knows the evaluation's fields: another branch adds them.
bool SchemaKnowsEvaluations() {
  static const bool knows = [] {
    std::ifstream in(std::string(BROOD_SCHEMA_DIR) + "/result.schema.json");
    Json schema = Json::parse(in, nullptr, /*allow_exceptions=*/false);
    const bool yes = schema.is_object() && schema.contains("properties") &&
                     schema["properties"].contains("verdict") &&
                     schema["properties"].contains("tests");
    if (!yes)
      std::cout << "[ note     ] schema/result.schema.json does not know verdict and tests yet: "
                   "records are checked against it without the evaluation's fields\n";
    return yes;
  }();
  return knows;
}

}  // namespace

Expect Stdout(std::string text, MatchMode match) {
  Expect e;
  e.stdout_text = std::move(text);
  e.match = match;
  return e;
}

TestCase Case(std::string id, std::string stdin_data, std::optional<Expect> expect,
              std::vector<std::string> args) {
  TestCase t;
  t.id = std::move(id);
  t.stdin_data = std::move(stdin_data);
  t.expect = std::move(expect);
  t.args = std::move(args);
  return t;
}

Job ShellJob(const std::string& id, const std::string& script) {
  Job job;
  job.id = id;
  job.argv = {"/bin/sh", "-c", script, "sh"};
  job.limits.wall_ms = 30000;
  return job;
}

Job LanguageJob(const std::string& id, const std::string& language, const std::string& source) {
  static const std::map<std::string, std::string> kSources = {
      {"c", "main.c"}, {"cpp", "main.cpp"}, {"python", "main.py"}, {"sh", "main.sh"}};
  Job job;
  job.id = id;
  job.language = language;
  job.files[kSources.at(language)] = source;
  job.limits.wall_ms = 30000;
  return job;
}

Result RunEval(Engine* engine, const Job& job) {
  Result r = engine->Run(job);
  CheckRecord(r);
  return r;
}

void CheckRecord(const Result& r) {
  const std::string line = ResultToJson(r);
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(j.is_object()) << line;
  ASSERT_TRUE(r.verdict) << "an evaluated job's result has a verdict: " << line;
  EXPECT_EQ(j.value("verdict", ""), VerdictName(*r.verdict)) << line;
  EXPECT_EQ(j.value("passed", false), *r.verdict == Verdict::kAccepted) << line;
  EXPECT_EQ(j.contains("build"), r.build.has_value()) << line;
  if (r.build && j.contains("build")) {
    EXPECT_EQ(j["build"].value("cached", !r.build->cached), r.build->cached);
  }
  if (r.has_tests) {
    ASSERT_TRUE(j.contains("tests") && j["tests"].is_array()) << line;
    EXPECT_EQ(j["tests"].size(), r.tests.size()) << line;
    EXPECT_EQ(j.value("tests_total", -1), static_cast<int>(r.tests.size())) << line;
    int accepted = 0;
    for (size_t i = 0; i < r.tests.size() && i < j["tests"].size(); ++i) {
      const Json& t = j["tests"][i];
      EXPECT_EQ(t.value("id", ""), r.tests[i].id) << line;
      EXPECT_EQ(t.value("verdict", ""), VerdictName(r.tests[i].verdict)) << line;
      if (r.tests[i].verdict == Verdict::kSkipped) {
        EXPECT_EQ(t.size(), 2u) << "a skipped test is only its id and verdict: " << t.dump();
      }
      accepted += r.tests[i].verdict == Verdict::kAccepted;
    }
    EXPECT_EQ(r.tests_passed, accepted) << line;
    EXPECT_EQ(j.value("tests_passed", -1), accepted) << line;
  } else {
    for (const char* key : {"tests", "tests_total", "tests_passed"})
      EXPECT_FALSE(j.contains(key)) << key << " in a job without tests: " << line;
  }
  // An invalid job's record has the job's line in a results file (brood exec: 1); the Engine
  // API knows no line.
  if (r.status == TaskStatus::kInvalidJob && !r.line) j["line"] = 1;
  if (SchemaKnowsEvaluations()) {
    EXPECT_TRUE(ValidResult(j.dump()));
  } else {
    for (const char* key : kEvalFields) j.erase(key);
    EXPECT_TRUE(ValidResult(j.dump())) << "the record without the evaluation's fields";
  }
}

std::string Show(const Result& r) {
  std::string s = ResultToJson(r);
  return s.size() > 6000 ? s.substr(0, 6000) + "..." : s;
}

const TestResult& TestOf(const Result& r, const std::string& id) {
  for (const TestResult& t : r.tests)
    if (t.id == id) return t;
  ADD_FAILURE() << "no test " << id << " in " << Show(r);
  static const TestResult none;
  return none;
}

std::vector<std::string> Verdicts(const Result& r) {
  std::vector<std::string> out;
  for (const TestResult& t : r.tests) out.push_back(VerdictName(t.verdict));
  return out;
}

std::string VerdictOf(const Result& r) { return r.verdict ? VerdictName(*r.verdict) : ""; }

std::unique_ptr<Engine> OwnEngine(EngineOptions options, std::string* error) {
  options.allow_no_cgroups = geteuid() != 0;
  return Engine::Create(options, error);
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/brood-eval-test.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) ADD_FAILURE() << "mkdtemp failed";
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace brood::testing
