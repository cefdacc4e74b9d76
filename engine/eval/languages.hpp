// Language presets (docs/languages.md): a job's or a checker's `language` fills in `build` and
// `cmd` from a fixed source file name in its `files`. Each preset is sized for how its runtime
// behaves within the task's limits (the JVM's heap and threads within memory_mb and pids;
// compilers' memory in the build's limits).
//
// Commands name their tools by name, found on the sandbox's PATH (/usr/local/bin:/usr/bin:/bin
// in the sandbox's root), never by a host path: a root of the owner's (--root) may keep them
// elsewhere, and the host's PATH (pyenv, ~/.cargo) is not the sandbox's.
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

// Every preset brood knows, in a fixed order: c, cpp, python, java, javascript, go, rust, sh.
// Their `run` and `env` are sized for the default limits (Limits{}); ApplyPreset sizes them for a
// job's.
const std::vector<Preset>& Presets();
// The preset called `name` (exactly), or null.
const Preset* FindPreset(std::string_view name);

// What a preset makes of a job: its build (nullopt: none), cmd and env, sized for `limits` (the
// job's: the JVM's -Xmx is derived from memory_mb, for example).
struct Applied {
  std::optional<Build> build;              // limits: the preset's build_limits
  std::vector<std::string> argv;           // the run's cmd
  std::map<std::string, std::string> env;  // for the build and the run; the job's own env wins
};
// "" and *out filled, or the error naming the field: "language: unknown preset \"cobol\" (known:
// c, cpp, ...)", "files: language \"cpp\" needs \"main.cpp\"". Thread-safe; never throws but for
// allocation.
std::string ApplyPreset(std::string_view language, const std::map<std::string, std::string>& files,
                        const Limits& limits, Applied* out);

// argv as one line a POSIX shell reads back as the same words: words of safe characters as they
// are, others in single quotes ("a b" -> 'a b'; "it's" -> 'it'\''s').
std::string ShellJoin(const std::vector<std::string>& argv);

}  // namespace brood::eval
