// `brood languages`: the language presets (docs/languages.md) and whether each one's toolchain
// is in the root the sandbox shows.
//
//   auto engine = brood::Engine::Create(opts, &error);
//   for (const brood::LanguageInfo& l : brood::ProbeLanguages(*engine)) ...
#pragma once

#include <string>
#include <vector>

#include "brood/engine.hpp"

namespace brood {

struct LanguageInfo {
  std::string name;                // "java": what a job's "language" says
  std::string source;              // "Main.java": the file the job's files must have
  std::vector<std::string> build;  // empty: nothing to build
  std::vector<std::string> run;    // sized for the default limits (memory_mb, cpus)
  bool available = false;          // its version command ran in the sandbox and exited 0
  std::string version;             // that command's first line of output ("" when missing)
  std::string reason;              // why it is missing ("" when available)
};

// Runs every preset's version command as a job of `engine` in the root named `root` ("": the
// engine's default root), all submitted at once, and returns one entry per preset, in the
// presets' order, once all have ended. A toolchain the root lacks is `available` false with the
// reason ("javac: not found in the sandbox's root"); so is one that fails or hangs (20 s). Blocks;
// never throws but for allocation. Not from an engine thread (an on_result callback).
std::vector<LanguageInfo> ProbeLanguages(Engine& engine, const std::string& root = "");

}  // namespace brood
