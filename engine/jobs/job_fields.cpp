#include "jobs/job_fields.hpp"

#include <cstdint>
#include <utility>

#include "jobs/codec.hpp"

namespace brood::jobs {
namespace {

constexpr size_t kMaxPath = 4096;  // PATH_MAX
constexpr size_t kMaxName = 255;   // NAME_MAX

constexpr char kBlobShape[] = "expected a string or {\"base64\": \"...\"}, got ";

struct IntLimit {
  std::string_view name;
  std::optional<int64_t> LimitOverrides::*member;
};
constexpr IntLimit kIntLimits[] = {
    {"wall_ms", &LimitOverrides::wall_ms},     {"cpu_ms", &LimitOverrides::cpu_ms},
    {"memory_mb", &LimitOverrides::memory_mb}, {"disk_mb", &LimitOverrides::disk_mb},
    {"pids", &LimitOverrides::pids},           {"output_bytes", &LimitOverrides::output_bytes},
};

}  // namespace

// JSON Schema's "integer" is any number with no fractional part, so 512.0 counts as 512 (the
// schema accepts it, and so does Python's json.dumps(float) output); 1.5 and values that do not
// fit in int64 do not.
bool PositiveInteger(const Json& v, int64_t& out) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u == 0 || u > static_cast<uint64_t>(INT64_MAX)) return false;
    out = static_cast<int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    out = v.get<int64_t>();
    return out > 0;
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!(d >= 1 && d < 0x1p63 && d == static_cast<double>(static_cast<int64_t>(d)))) return false;
    out = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

std::string PathProblem(std::string_view path) {
  if (path.empty()) return "path is empty";
  if (path.size() > kMaxPath) return "path is longer than 4096 bytes";
  if (HasNul(path)) return "path contains a NUL byte";
  if (path.front() == '/') return "path is absolute";
  size_t start = 0;
  while (true) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view name = path.substr(start, end - start);
    if (name.empty()) return "path has an empty component";
    if (name == "..") return "path climbs out of the workspace";
    if (name == ".") return "path has a \".\" component";
    if (name.size() > kMaxName) return "path has a component longer than 255 bytes";
    if (end == path.size()) return {};
    start = end + 1;
  }
}

std::string ReadBlob(Json& v, std::string& out) {
  if (std::string* text = AsString(v)) {
    out = std::move(*text);
    return {};
  }
  const std::string* encoded = nullptr;
  if (v.is_object()) {
    for (auto& [name, value] : v.get_ref<Json::object_t&>()) {
      if (name != "base64") return "unknown field " + Quote(name);
      encoded = AsString(value);
      if (encoded == nullptr) return "\"base64\" must be a string, got " + Describe(value);
    }
  }
  if (encoded == nullptr) return kBlobShape + Describe(v);
  auto bytes = Base64Decode(*encoded);
  if (!bytes) return "invalid base64";
  out = std::move(*bytes);
  return {};
}

std::string ReadArgv(Json& v, const std::string& field, std::vector<std::string>& argv) {
  if (!v.is_array() || v.empty())
    return field + ": expected a non-empty array of strings, got " + Describe(v);
  argv.clear();
  auto& items = v.get_ref<Json::array_t&>();
  for (size_t i = 0; i < items.size(); ++i) {
    std::string* arg = AsString(items[i]);
    const std::string item = field + "[" + std::to_string(i) + "]";
    if (arg == nullptr) return item + ": expected a string, got " + Describe(items[i]);
    if (HasNul(*arg)) return item + ": contains a NUL byte";
    argv.push_back(std::move(*arg));
  }
  return {};
}

std::string ReadShellInto(Json& v, const std::string& field, std::vector<std::string>& argv) {
  std::string* script = AsString(v);
  if (script == nullptr || script->empty())
    return field + ": expected a non-empty string, got " + Describe(v);
  if (HasNul(*script)) return field + ": contains a NUL byte";
  argv = {"/bin/sh", "-c", std::move(*script)};
  return {};
}

std::string ReadEnv(Json& v, Job& job) {
  if (!v.is_object()) return "env: expected an object of strings, got " + Describe(v);
  for (auto& [name, value] : v.get_ref<Json::object_t&>()) {
    if (name.empty()) return "env: a variable name is empty";
    if (name.find('=') != std::string::npos) return "env: " + Quote(name) + ": name contains '='";
    if (HasNul(name)) return "env: " + Quote(name) + ": name contains a NUL byte";
    std::string* text = AsString(value);
    if (text == nullptr)
      return "env: " + Quote(name) + ": expected a string, got " + Describe(value);
    if (HasNul(*text)) return "env: " + Quote(name) + ": value contains a NUL byte";
    job.env.insert_or_assign(name, std::move(*text));
  }
  return {};
}

std::string ReadFiles(Json& v, Job& job) {
  if (!v.is_object()) return "files: expected an object of path -> content, got " + Describe(v);
  for (auto& [path, content] : v.get_ref<Json::object_t&>()) {
    std::string problem = PathProblem(path);
    std::string bytes;
    if (problem.empty()) problem = ReadBlob(content, bytes);
    if (!problem.empty()) return "files: " + Quote(path) + ": " + problem;
    // Keys arrive sorted as std::map sorts them, so each lands at the end.
    job.files.emplace_hint(job.files.end(), path, std::move(bytes));
  }
  // "a" and "a/b" cannot both be written. A prefix need not sort next to its extension ("a",
  // "a-b", "a/b"), so look each directory up rather than compare neighbours.
  for (const auto& [path, bytes] : job.files) {
    for (size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      std::string dir = path.substr(0, slash);
      if (job.files.contains(dir))
        return "files: " + Quote(dir) + " is both a file and a directory of " + Quote(path);
    }
  }
  return {};
}

std::string ReadLimitOverrides(Json& v, std::string_view field, LimitOverrides& limits) {
  const std::string f(field);
  if (!v.is_object()) return f + ": expected an object, got " + Describe(v);
  for (const auto& [name, value] : v.get_ref<const Json::object_t&>()) {
    if (name == "cpus") {
      // is_number() is false for booleans, which JSON Schema does not count as numbers either.
      if (!value.is_number() || !(value.get<double>() > 0))
        return f + ".cpus: expected a positive number, got " + Describe(value);
      limits.cpus = value.get<double>();
      continue;
    }
    const IntLimit* limit = nullptr;
    for (const IntLimit& l : kIntLimits) {
      if (l.name == name) limit = &l;
    }
    if (limit == nullptr) return f + ": unknown field " + Quote(name);
    int64_t n = 0;
    if (!PositiveInteger(value, n))
      return f + "." + name + ": expected a positive integer, got " + Describe(value);
    limits.*(limit->member) = n;
  }
  return {};
}

std::string ReadLimits(Json& v, Job& job) {
  LimitOverrides given;
  std::string problem = ReadLimitOverrides(v, "limits", given);
  if (problem.empty()) job.limits = given.Over(job.limits);
  return problem;
}

}  // namespace brood::jobs
