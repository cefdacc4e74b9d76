#include "languages_cmd.hpp"

#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "brood/languages.hpp"

namespace {

// For reading, not for a shell: the presets' words have no spaces but sh's `-c` script.
std::string Words(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& w : argv)
    out += (out.empty() ? "" : " ") + (w.find(' ') == std::string::npos ? w : "'" + w + "'");
  return out;
}

void PrintText(const std::vector<brood::LanguageInfo>& langs, std::ostream& out) {
  for (const brood::LanguageInfo& l : langs) {
    out << l.name << " (" << l.source << "): " << (l.available ? l.version : "missing: " + l.reason)
        << "\n"
        << "  build: " << (l.build.empty() ? "none" : Words(l.build)) << "\n"
        << "  run:   " << Words(l.run) << "\n";
  }
  brood::Limits defaults;
  out << "(runs sized for the default limits: memory_mb " << defaults.memory_mb << ", cpus "
      << defaults.cpus << "; a job's own limits size its run)\n";
}

void PrintJson(const std::vector<brood::LanguageInfo>& langs, std::ostream& out) {
  for (const brood::LanguageInfo& l : langs) {
    nlohmann::ordered_json j = {
        {"name", l.name},
        {"source", l.source},
        {"build", l.build.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(l.build)},
        {"run", l.run},
        {"available", l.available},
        {"version", l.available ? nlohmann::ordered_json(l.version) : nlohmann::ordered_json()},
        {"reason", l.available ? nlohmann::ordered_json() : nlohmann::ordered_json(l.reason)}};
    out << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  }
}

}  // namespace

int RunLanguages(brood::EngineOptions opts, bool json, std::ostream& out) {
  opts.warm = false;  // zygotes on first use: one probe per preset, nothing to keep warm
  if (opts.slots == 0) opts.slots = 2;
  std::string error;
  auto engine = brood::Engine::Create(opts, &error);
  if (!engine) {
    std::cerr << "brood: cannot sandbox on this host: " << error << "\n";
    return 1;
  }
  const std::vector<brood::LanguageInfo> langs = brood::ProbeLanguages(*engine);
  json ? PrintJson(langs, out) : PrintText(langs, out);
  out << std::flush;
  return 0;
}
