#include "hostile/hostile_case.hpp"

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "support/host_probe.hpp"

namespace brood::testing {
namespace {

using nlohmann::json;

void ReplaceAll(std::string* s, const std::string& from, const std::string& to) {
  for (size_t at = s->find(from); at != std::string::npos; at = s->find(from, at + to.size()))
    s->replace(at, from.size(), to);
}

// Expands every @REPEAT:N:UNIT@ (see hostile_case.hpp), innermost first: a UNIT ends at the next
// '@', and one that ends where another @REPEAT begins waits until that one is expanded.
void ExpandRepeats(std::string* s) {
  const std::string tag = "@REPEAT:";
  for (bool again = true; again;) {
    again = false;
    for (size_t at = s->find(tag); at != std::string::npos; at = s->find(tag, at + 1)) {
      size_t colon = s->find(':', at + tag.size()), end = s->find('@', at + 1);
      if (colon == std::string::npos || end == std::string::npos || colon > end ||
          s->compare(end, tag.size(), tag) == 0)
        continue;
      long n = std::strtol(s->c_str() + at + tag.size(), nullptr, 10);
      std::string unit = s->substr(colon + 1, end - colon - 1), out;
      size_t mark = unit.find("%d");
      for (long i = 0; i < n; ++i)
        out += mark == std::string::npos
                   ? unit
                   : unit.substr(0, mark) + std::to_string(i) + unit.substr(mark + 2);
      s->replace(at, end + 1 - at, out);
      again = true;
      break;
    }
  }
}

std::vector<std::string> Strings(const json& v) {
  if (v.is_string()) return {v.get<std::string>()};
  return v.get<std::vector<std::string>>();
}

std::string Text(const json& result, const char* key) {
  const json& v = result.value(key, json());
  if (v.is_string()) return v.get<std::string>();
  return v.dump();  // {"base64": ...} or null: never equal to plain text
}

// Checks one `want` key; appends what is wrong to `out`.
void CheckKey(const std::string& key, const json& want, const json& r, std::ostringstream& out) {
  auto has = [&](const char* field, bool present) {
    std::string text = Text(r, field);
    for (const auto& s : Strings(want))
      if ((text.find(s) != std::string::npos) != present)
        out << field << (present ? " lacks " : " has ") << json(s).dump() << "; ";
  };
  if (key == "status") {
    auto ok = Strings(want);
    if (std::find(ok.begin(), ok.end(), r.value("status", "")) == ok.end())
      out << "status " << r.value("status", "") << ", want " << want.dump() << "; ";
  } else if (key == "exit_code" || key == "signal" || key == "passed" ||
             key == "stdout_truncated" || key == "stderr_truncated") {
    if (r.value(key, json()) != want)
      out << key << " " << r.value(key, json()).dump() << ", want " << want.dump() << "; ";
  } else if (key == "stdout" || key == "stderr") {
    if (Text(r, key.c_str()) != want.get<std::string>())
      out << key << " " << r.value(key, json()).dump() << ", want " << want.dump() << "; ";
  } else if (key == "stdout_has" || key == "stderr_has" || key == "error_has") {
    has(key == "error_has" ? "error" : key.substr(0, 6).c_str(), true);
  } else if (key == "stdout_lacks" || key == "stderr_lacks") {
    has(key.substr(0, 6).c_str(), false);
  } else if (key == "limits_hit") {
    auto hit = r.value("limits_hit", json::array());
    for (const auto& l : Strings(want))
      if (std::find(hit.begin(), hit.end(), l) == hit.end())
        out << "limits_hit " << hit.dump() << " lacks " << l << "; ";
  } else if (key == "limits_hit_only") {
    auto only = Strings(want);
    for (const auto& l : r.value("limits_hit", json::array()))
      if (std::find(only.begin(), only.end(), l) == only.end())
        out << "limits_hit has " << l.dump() << ", want only " << want.dump() << "; ";
  } else if (key == "files" || key == "files_lacks") {
    auto files = r.value("files", json::object());
    for (const auto& f : Strings(want))
      if (files.contains(f) != (key == "files"))
        out << "files " << (key == "files" ? "lacks " : "has ") << f << "; ";
  } else if (key == "denied_calls") {  // exactly these, in the result's (sorted) order
    const json got = r.value("denied_calls", json());
    if (got != json(Strings(want)))
      out << "denied_calls " << got.dump() << ", want " << want.dump() << "; ";
  } else if (key == "stdout_bytes_min") {
    if (r.value("stdout_bytes", 0LL) < want.get<long long>())
      out << "stdout_bytes " << r.value("stdout_bytes", 0LL) << " < " << want << "; ";
  } else {
    out << "unknown want key " << key << "; ";
  }
}

// Throws when `want` (a case's want or want_otherwise) has no status, an unknown key, or a value
// of the wrong type: checked at load, so a want that this host never uses is still checked.
void ValidateWant(const json& want, const char* name) {
  if (!want.is_object()) throw std::runtime_error(std::string(name) + " is not an object");
  if (!want.contains("status")) throw std::runtime_error(std::string(name) + " has no status");
  std::ostringstream problems;
  const json empty = json::object();
  for (const auto& [key, value] : want.items()) {
    std::ostringstream ignored;  // what an empty result lacks: not a problem of the case
    try {
      CheckKey(key, value, empty, ignored);
    } catch (const std::exception& e) {
      problems << name << "." << key << " is malformed: " << e.what() << "; ";
    }
    if (ignored.str().find("unknown want key") != std::string::npos)
      problems << name << " has an unknown key " << key << "; ";
  }
  if (!problems.str().empty()) throw std::runtime_error(problems.str());
}

}  // namespace

std::vector<std::string> CaseFiles() {
  std::string dir = std::string(BROOD_SOURCE_DIR) + "/tests/hostile/cases";
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.size() > 6 && name.substr(name.size() - 6) == ".jsonl")
        out.push_back(dir + "/" + name);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<HostileCase> LoadCases(const std::string& path, const Placeholders& ph,
                                   std::vector<std::string>* errors) {
  std::vector<HostileCase> out;
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    ReplaceAll(&line, "@HOSTPORT@", std::to_string(ph.host_port));
    ReplaceAll(&line, "@ABSTRACT@", ph.abstract_name);
    ReplaceAll(&line, "@UNIXSOCK@", ph.unix_path);
    ReplaceAll(&line, "@CANARY@", ph.canary_path);
    ReplaceAll(&line, "@SECRET@", ph.secret);
    ReplaceAll(&line, "@INT80SIG@", std::to_string(ph.int80_signal));
    ExpandRepeats(&line);
    HostileCase c{path, n, "", json(), json(), {}, json()};
    try {
      json v = json::parse(line);
      c.why = v.at("why").get<std::string>();
      c.job = v.at("job");
      c.want = v.at("want");
      ValidateWant(c.want, "want");
      if (v.contains("requires")) {
        c.needs = Strings(v["requires"]);
        if (c.needs.empty()) throw std::runtime_error("requires names no property");
        for (const auto& p : c.needs)
          if (!IsHostProperty(p)) throw std::runtime_error("requires an unknown property " + p);
      }
      if (v.contains("want_otherwise")) {
        if (c.needs.empty()) throw std::runtime_error("want_otherwise without requires");
        c.want_otherwise = v["want_otherwise"];
        ValidateWant(c.want_otherwise, "want_otherwise");
      }
      for (const auto& key : v.items())
        if (key.key() != "why" && key.key() != "job" && key.key() != "want" &&
            key.key() != "requires" && key.key() != "want_otherwise")
          throw std::runtime_error("unknown key " + key.key());
    } catch (const std::exception& e) {
      errors->push_back(path + ":" + std::to_string(n) + ": " + e.what());
      continue;
    }
    if (c.job.contains("files"))
      for (auto& [name, value] : c.job["files"].items())
        if (value == "@PROBE@") value = json{{"base64", ph.probe_base64}};
    out.push_back(std::move(c));
  }
  return out;
}

const json* WantHere(const HostileCase& c, const HostHasFn& has, std::string* note) {
  note->clear();
  for (const auto& property : c.needs) {
    std::string why;
    std::optional<bool> yes = has(property, &why);
    if (yes.value_or(false)) continue;
    if (!yes) why = "unknown host property " + property;  // LoadCases refuses these first
    if (c.want_otherwise.is_null()) {
      *note = "left out on this host: " + why;
      return nullptr;
    }
    *note = "checked want_otherwise (what is certain here): " + why;
    return &c.want_otherwise;
  }
  return &c.want;
}

std::string CheckResult(const json& wanted, const json& result) {
  std::ostringstream out;
  for (const auto& [key, want] : wanted.items()) {
    try {
      CheckKey(key, want, result, out);
    } catch (const std::exception& e) {
      out << "want." << key << " is malformed: " << e.what() << "; ";
    }
  }
  return out.str();
}

}  // namespace brood::testing
