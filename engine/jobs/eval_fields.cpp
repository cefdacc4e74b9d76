// The evaluation fields of a job record (docs/eval.md). Values are moved out of the document.
#include "jobs/eval_fields.hpp"

#include <cmath>
#include <set>
#include <utility>

#include "jobs/job_fields.hpp"

namespace brood::jobs {
namespace {

std::string Place(std::string_view field, std::string_view name) {
  return std::string(field) + "." + std::string(name);
}

// A files object into `files` (the job record's rules), errors named after `field`.
std::string ReadFilesInto(Json& v, const std::string& field,
                          std::map<std::string, std::string>& files) {
  Job scratch;
  std::string problem = ReadFiles(v, scratch);
  if (!problem.empty()) return field + problem.substr(5);  // "files: ..." -> "FIELD: ..."
  files = std::move(scratch.files);
  return {};
}

bool NonNegative(const Json& v, double& out) {
  if (!v.is_number()) return false;
  out = v.get<double>();
  return std::isfinite(out) && out >= 0;
}

std::string ReadChecker(Json& v, const std::string& field, Checker& checker) {
  if (!v.is_object())
    return field + ": expected an object {\"cmd\" | \"shell\" | \"language\", ...}, got " +
           Describe(v);
  int commands = 0;
  for (auto& [name, value] : v.get_ref<Json::object_t&>()) {
    std::string problem;
    const std::string place = Place(field, name);
    if (name == "cmd") {
      ++commands;
      problem = ReadArgv(value, place, checker.argv);
    } else if (name == "shell") {
      ++commands;
      problem = ReadShellInto(value, place, checker.argv);
    } else if (name == "language") {
      const std::string* lang = AsString(value);
      if (lang == nullptr || lang->empty())
        return place + ": expected the name of a language preset, got " + Describe(value);
      checker.language = *lang;
    } else if (name == "files") {
      problem = ReadFilesInto(value, place, checker.files);
    } else if (name == "limits") {
      LimitOverrides given;
      problem = ReadLimitOverrides(value, place, given);
      checker.limits = given.Over(Limits{});
    } else {
      return field + ": unknown field " + Quote(name);
    }
    if (!problem.empty()) return problem;
  }
  if (commands > 1) return field + ": cmd, shell: at most one of them";
  if (commands == 0 && checker.language.empty()) return field + ": needs cmd, shell or language";
  return {};
}

}  // namespace

std::string ReadExpectOver(Json& v, std::string_view field_name, Expect& expect) {
  const std::string field(field_name);
  if (!v.is_object())
    return field + ": expected an object {\"stdout\": ..., \"match\": ...}, got " + Describe(v);
  for (auto& [name, value] : v.get_ref<Json::object_t&>()) {
    const std::string place = Place(field, name);
    if (name == "stdout") {
      if (!value.is_string()) return place + ": expected a string, got " + Describe(value);
      expect.stdout_text = std::move(value.get_ref<std::string&>());
    } else if (name == "match") {
      const std::string* mode = AsString(value);
      if (mode != nullptr && *mode == "exact") {
        expect.match = MatchMode::kExact;
      } else if (mode != nullptr && *mode == "trim") {
        expect.match = MatchMode::kTrim;
      } else if (mode != nullptr && *mode == "tokens") {
        expect.match = MatchMode::kTokens;
      } else if (mode != nullptr && *mode == "float") {
        expect.match = MatchMode::kFloat;
      } else {
        return place + ": expected \"exact\", \"trim\", \"tokens\" or \"float\", got " +
               Describe(value);
      }
    } else if (name == "case") {
      const std::string* c = AsString(value);
      if (c != nullptr && *c == "insensitive") {
        expect.case_insensitive = true;
      } else if (c != nullptr && *c == "sensitive") {
        expect.case_insensitive = false;
      } else {
        return place + ": expected \"sensitive\" or \"insensitive\", got " + Describe(value);
      }
    } else if (name == "abs_tol" || name == "rel_tol") {
      double tol = 0;
      if (!NonNegative(value, tol))
        return place + ": expected a finite number >= 0, got " + Describe(value);
      (name == "abs_tol" ? expect.abs_tol : expect.rel_tol) = tol;
    } else if (name == "exit_code") {
      // An integer as JSON Schema has it: 3.0 is 3.
      const double code = value.is_number() ? value.get<double>() : -1;
      if (!(code >= 0 && code <= 255 && code == static_cast<double>(static_cast<int>(code))))
        return place + ": expected an integer from 0 to 255, got " + Describe(value);
      expect.exit_code = static_cast<int>(code);
    } else if (name == "files") {
      if (auto problem = ReadFilesInto(value, place, expect.files); !problem.empty())
        return problem;
    } else if (name == "checker") {
      Checker checker;
      if (auto problem = ReadChecker(value, place, checker); !problem.empty()) return problem;
      expect.checker = std::move(checker);
    } else {
      return field + ": unknown field " + Quote(name);
    }
  }
  return {};
}

std::string ReadLanguage(Json& v, Job& job) {
  const std::string* lang = AsString(v);
  if (lang == nullptr || lang->empty() || lang->size() > 64)
    return "language: expected the name of a language preset, got " + Describe(v);
  job.language = *lang;
  return {};
}

std::string ReadStop(Json& v, Job& job) {
  const std::string* stop = AsString(v);
  if (stop != nullptr && *stop == "first_failure") {
    job.stop = StopMode::kFirstFailure;
  } else if (stop != nullptr && *stop == "all") {
    job.stop = StopMode::kAll;
  } else {
    return "stop: expected \"first_failure\" or \"all\", got " + Describe(v);
  }
  return {};
}

std::string ReadGroup(Json& v, Job& job) {
  std::string* group = AsString(v);
  if (group == nullptr || group->empty() || group->size() > 1024)
    return "group: expected a non-empty string (at most 1024 bytes), got " + Describe(v);
  job.group = std::move(*group);
  return {};
}

std::string ReadBuild(Json& v, Build& build) {
  if (!v.is_object())
    return "build: expected an object {\"cmd\" | \"shell\", \"limits\"}, got " + Describe(v);
  int commands = 0;
  for (auto& [name, value] : v.get_ref<Json::object_t&>()) {
    std::string problem;
    if (name == "cmd") {
      ++commands;
      problem = ReadArgv(value, "build.cmd", build.argv);
    } else if (name == "shell") {
      ++commands;
      problem = ReadShellInto(value, "build.shell", build.argv);
    } else if (name == "limits") {
      problem = ReadLimitOverrides(value, "build.limits", build.limits);
    } else {
      return "build: unknown field " + Quote(name);
    }
    if (!problem.empty()) return problem;
  }
  if (commands != 1)
    return std::string("build: cmd, shell: a build needs exactly one of them, got ") +
           (commands ? "both" : "neither");
  return {};
}

std::string ReadTests(Json& v, const Job& job, std::vector<TestCase>& tests) {
  if (!v.is_array() || v.empty()) return "tests: expected a non-empty array, got " + Describe(v);
  auto& items = v.get_ref<Json::array_t&>();
  if (items.size() > kMaxTests)
    return "tests: more than " + std::to_string(kMaxTests) + " tests in one job";
  std::set<std::string> ids;
  tests.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string place = "tests[" + std::to_string(i) + "]";
    if (!items[i].is_object())
      return place + ": expected an object {\"id\", \"stdin\", ...}, got " + Describe(items[i]);
    TestCase t;
    t.id = std::to_string(i);
    for (auto& [name, value] : items[i].get_ref<Json::object_t&>()) {
      std::string problem;
      const std::string field = Place(place, name);
      if (name == "id") {
        std::string* id = AsString(value);
        if (id == nullptr || id->empty() || id->size() > 1024)
          return field + ": expected a non-empty string (at most 1024 bytes), got " +
                 Describe(value);
        t.id = std::move(*id);
      } else if (name == "stdin") {
        problem = ReadBlob(value, t.stdin_data);
        if (!problem.empty()) problem = field + ": " + problem;
      } else if (name == "files") {
        problem = ReadFilesInto(value, field, t.files);
      } else if (name == "args") {
        if (!value.is_array())
          return field + ": expected an array of strings, got " + Describe(value);
        if (!value.empty()) problem = ReadArgv(value, field, t.args);
      } else if (name == "expect") {
        Expect e = job.expect.value_or(Expect{});
        problem = ReadExpectOver(value, field, e);
        t.expect = std::move(e);
      } else if (name == "limits") {
        problem = ReadLimitOverrides(value, field, t.limits);
      } else {
        return place + ": unknown field " + Quote(name);
      }
      if (!problem.empty()) return problem;
    }
    if (!t.expect && job.expect) t.expect = job.expect;
    if (!ids.insert(t.id).second)
      return Place(place, "id") + ": " + Quote(t.id) + " is given twice";
    tests.push_back(std::move(t));
  }
  return {};
}

}  // namespace brood::jobs
