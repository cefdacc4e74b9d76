// The job record's rules (docs/job.md, schema/) over a strictly parsed document. Field
// values are moved out of the document, never copied: a line may carry 64 MiB of files.
#include "jobs/job_parser.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include "jobs/eval_fields.hpp"
#include "jobs/job_fields.hpp"
#include "jobs/strict_json.hpp"

namespace brood::jobs {
namespace {

constexpr size_t kMaxIdChars = 1024;  // the schema's maxLength: characters, not bytes

using Reader = std::string (*)(Json&, Job&);

struct Field {
  std::string_view name;
  Reader read;
};

// "cmd[1]": built only for an error, as the loops that name items run for every line.
std::string Item(const char* array, size_t i) {
  return std::string(array) + "[" + std::to_string(i) + "]";
}

std::string ReadCmd(Json& v, Job& job) { return ReadArgv(v, "cmd", job.argv); }

std::string ReadShell(Json& v, Job& job) { return ReadShellInto(v, "shell", job.argv); }

std::string ReadStdin(Json& v, Job& job) {
  std::string problem = ReadBlob(v, job.stdin_data);
  return problem.empty() ? problem : "stdin: " + problem;
}

std::string ReadCwd(Json& v, Job& job) {
  std::string* cwd = AsString(v);
  if (cwd == nullptr || !cwd->starts_with('/'))
    return "cwd: expected an absolute path, got " + Describe(v);
  if (HasNul(*cwd)) return "cwd: contains a NUL byte";
  job.cwd = std::move(*cwd);
  return {};
}

std::string ReadNetwork(Json& v, Job& job) {
  const std::string* name = AsString(v);
  if (name != nullptr && *name == "none") {
    job.network = Network::kNone;
  } else if (name != nullptr && *name == "host") {
    job.network = Network::kHost;
  } else {
    return "network: expected \"none\" or \"host\", got " + Describe(v);
  }
  return {};
}

// A root's name: what the engine's owner called one of its roots (`--root NAME=DIR`); the
// engine says whether it has it. Never a path.
std::string ReadRoot(Json& v, Job& job) {
  std::string* name = AsString(v);
  const bool ok = name != nullptr && !name->empty() && name->size() <= 64 &&
                  std::all_of(name->begin(), name->end(),
                              [](char c) {
                                return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
                                       c == '_' || c == '.';
                              }) &&
                  (*name)[0] != '.';
  if (!ok)
    return "root: expected the name of a root brood was given (letters, digits, - _ ., 1 to 64), "
           "got " +
           Describe(v);
  job.root = std::move(*name);
  return {};
}

std::string ReadCollect(Json& v, Job& job) {
  if (!v.is_array()) return "collect: expected an array of path patterns, got " + Describe(v);
  auto& items = v.get_ref<Json::array_t&>();
  job.collect.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    std::string* pattern = AsString(items[i]);
    if (pattern == nullptr)
      return Item("collect", i) + ": expected a string, got " + Describe(items[i]);
    if (auto problem = PathProblem(*pattern); !problem.empty())
      return Item("collect", i) + ": " + Quote(*pattern) + ": " + problem;
    job.collect.push_back(std::move(*pattern));
  }
  return {};
}

std::string ReadExpect(Json& v, Job& job) {
  Expect expect;
  std::string problem = ReadExpectOver(v, "expect", expect);
  if (problem.empty()) job.expect = std::move(expect);
  return problem;
}

std::string ReadBuildField(Json& v, Job& job) {
  Build build;
  std::string problem = ReadBuild(v, build);
  if (problem.empty()) job.build = std::move(build);
  return problem;
}

// Read last (ParseJobLine): a test's limits and expect are given over the job's.
std::string ReadTestsField(Json& v, Job& job) { return ReadTests(v, job, job.tests); }

// Every field but id, which is read first; a scan over a dozen names beats hashing them.
constexpr Field kFields[] = {
    {"cmd", ReadCmd},          {"shell", ReadShell},     {"stdin", ReadStdin},
    {"env", ReadEnv},          {"files", ReadFiles},     {"cwd", ReadCwd},
    {"limits", ReadLimits},    {"network", ReadNetwork}, {"collect", ReadCollect},
    {"expect", ReadExpect},    {"root", ReadRoot},       {"language", ReadLanguage},
    {"build", ReadBuildField}, {"stop", ReadStop},       {"group", ReadGroup},
    {"tests", ReadTestsField},
};

std::string CheckId(const Json* v) {
  if (v == nullptr) return "id: required field is missing";
  const std::string* id = AsString(*v);
  if (id == nullptr || id->empty()) return "id: expected a non-empty string, got " + Describe(*v);
  // The parser has checked UTF-8, so the characters are the bytes that do not continue one.
  size_t chars = std::count_if(id->begin(), id->end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  });
  if (chars > kMaxIdChars) return "id: longer than 1024 characters";
  return {};
}

}  // namespace

std::string ReadJobField(std::string_view name, Json& value, Job& job) {
  auto field = std::find_if(std::begin(kFields), std::end(kFields),
                            [name](const Field& f) { return f.name == name; });
  if (field == std::end(kFields)) return "unknown field " + Quote(name);
  return field->read(value, job);
}

ParsedJob ParseJobLine(std::string_view line, const LimitMaxima& maxima) {
  ParsedJob out;
  if (line.ends_with('\r')) line.remove_suffix(1);
  if (line.size() > kMaxJobLine) {
    out.error = "line is longer than " + std::to_string(kMaxJobLine >> 20) + " MiB";
    return out;
  }
  JsonDoc doc = ParseStrictJson(line);
  if (!doc.syntax_error.empty()) {
    out.error = "line is not valid JSON: " + doc.syntax_error;
    return out;
  }
  if (!doc.value.is_object()) {
    out.error = "line is not a JSON object, got " + Describe(doc.value);
    return out;
  }
  auto& fields = doc.value.get_ref<Json::object_t&>();

  // The id first, so that even an invalid job's result carries it; an id given twice is not
  // known (which one would --resume look for?).
  auto id_it = fields.find("id");
  std::string error = CheckId(id_it == fields.end() ? nullptr : &id_it->second);
  bool id_twice = std::find(doc.duplicate_fields.begin(), doc.duplicate_fields.end(), "id") !=
                  doc.duplicate_fields.end();
  if (error.empty() && !id_twice) out.id = id_it->second.get_ref<const std::string&>();
  if (!doc.duplicate.empty()) error = std::move(doc.duplicate);
  if (!error.empty()) {
    out.error = std::move(error);
    return out;
  }

  Job job;
  job.id = *out.id;
  // "tests" last: its limits and expect are read over the job's.
  for (int pass = 0; pass < 2; ++pass) {
    for (auto& [name, value] : fields) {
      if (name == "id" || (name == "tests") != (pass == 1)) continue;
      if (auto problem = ReadJobField(name, value, job); !problem.empty()) {
        out.error = std::move(problem);
        return out;
      }
    }
  }
  bool has_cmd = fields.contains("cmd"), has_shell = fields.contains("shell");
  if (has_cmd && has_shell) {
    out.error = "cmd, shell: a job needs exactly one of them, got both";
    return out;
  }
  if (!has_cmd && !has_shell && job.language.empty()) {
    out.error = "cmd, shell: a job needs exactly one of them (or a language), got neither";
    return out;
  }
  if (auto problem = CheckLimits(job.limits, maxima); !problem.empty()) {
    out.error = std::move(problem);
    return out;
  }
  // The limits of the job's other tasks, as given (a preset's build limits are the engine's).
  auto check = [&](const std::string& where, const Limits& l) {
    std::string problem = CheckLimits(l.Resolved(), maxima);
    if (!problem.empty()) out.error = where + "." + problem;
    return problem.empty();
  };
  if (job.build && !check("build", job.build->limits.Over(job.limits))) return out;
  for (size_t i = 0; i < job.tests.size(); ++i) {
    const TestCase& t = job.tests[i];
    const std::string place = "tests[" + std::to_string(i) + "]";
    if (!check(place, t.limits.Over(job.limits))) return out;
    if (t.expect && t.expect->checker &&
        !check(place + ".expect.checker", t.expect->checker->limits))
      return out;
  }
  if (job.expect && job.expect->checker && !check("expect.checker", job.expect->checker->limits))
    return out;
  out.job = std::move(job);
  return out;
}

}  // namespace brood::jobs
