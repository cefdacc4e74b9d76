// Language presets (docs/languages.md): a job's or a checker's `language` fills in `build` and
// `cmd` from a fixed source file name in its `files`. Each preset is sized for how its runtime
// behaves within the task's limits (the JVM's heap and threads within memory_mb and pids;
// compilers' memory in the build's limits).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "brood/job.hpp"

namespace brood::eval {

struct Preset {
  std::string name;                        // "cpp"
  std::string source;                      // "main.cpp": must be in the job's files
  std::vector<std::string> build;          // empty: nothing to build
  std::vector<std::string> run;            // the task's cmd (before a test's args)
  std::map<std::string, std::string> env;  // added to the job's env (the job's own win)
  Limits build_limits;                     // the build's limits where the job gives none
  std::vector<std::string> version;        // prints the toolchain's version (first line kept)
};

// Every preset brood knows, in a fixed order.
const std::vector<Preset>& Presets();
// The preset called `name`, or null.
const Preset* FindPreset(std::string_view name);

// What a preset makes of a job: its build (nullopt: none), cmd and env, sized for `limits` (the
// job's: the JVM's -Xmx is derived from memory_mb, for example).
struct Applied {
  std::optional<Build> build;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
};
// "" and *out filled, or the error naming the field: "language: unknown preset \"cobol\" (known:
// c, cpp, ...)", "files: language \"cpp\" needs \"main.cpp\"".
std::string ApplyPreset(std::string_view language, const std::map<std::string, std::string>& files,
                        const Limits& limits, Applied* out);

}  // namespace brood::eval
