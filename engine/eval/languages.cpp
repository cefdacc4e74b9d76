// The presets and their sizing. Figures below were measured in brood's sandbox on Debian 12
// (docs/languages.md has the table).
#include "eval/languages.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>

namespace brood::eval {
namespace {

std::string Mb(int64_t mb) { return std::to_string(mb) + "m"; }

// Cores the runtime may use: the CPU bandwidth, rounded up. Runtimes that see no cgroup size
// their thread pools from the host's cores, which on a large host means threads the task's
// `pids` cannot hold and a bandwidth they cannot use.
int64_t Processors(const Limits& l) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(l.cpus)));
}

// Compilers get real programs' limits, not hello worlds': the largest hello-world build
// measured (g++ with <bits/stdc++.h>, rustc -O) peaks below 200 MiB and 6 s on a loaded 2-core
// host. disk_mb holds rustc's 12 MB binaries and Go's cache in /tmp.
Limits CompileLimits() {
  Limits l;
  l.wall_ms = 60000;  // cpu_ms follows it (0), also when a job gives the build a longer wall_ms
  l.memory_mb = 2048;
  l.disk_mb = 512;
  l.pids = 256;
  return l;
}

// The JVM sees no cgroup in the sandbox (there is no /sys): left alone it would size its heap
// from the host's RAM (a quarter of it) and its threads from the host's cores. Each of its parts
// is sized from memory_mb instead, so that together they fit and a program that allocates too
// much ends as an OutOfMemoryError, not as a task the kernel kills. Beside the heap a hello
// world's JVM takes ~16 MiB (class data sharing archive, symbols, 13 threads); `reserve` covers
// that, metaspace and the JIT's code. A StackOverflowError costs ~4 times -Xss (measured), so
// the stack is a 16th.
struct JvmSizes {
  int64_t heap, initial_heap, metaspace, code_cache, stack, processors;
};
JvmSizes SizeJvm(const Limits& l) {
  const int64_t m = std::max<int64_t>(l.memory_mb, 1);
  const int64_t reserve = std::max<int64_t>(64, 48 + m / 16);
  JvmSizes s;
  s.heap = std::max(m / 2, m - reserve);
  s.initial_heap = std::min<int64_t>(s.heap, 32);  // not the host's RAM / 64
  s.metaspace = std::max<int64_t>(16, reserve / 2);
  s.code_cache = std::max<int64_t>(8, reserve / 4);
  s.stack = std::clamp<int64_t>(m / 16, 1, 64);
  s.processors = Processors(l);
  return s;
}
// The flags for those sizes; `prefix` is "-J" for javac, which passes them to its JVM. The
// serial collector: no GC threads, no G1 remembered sets in the budget.
std::vector<std::string> JvmFlags(const Limits& l, const std::string& prefix) {
  const JvmSizes s = SizeJvm(l);
  std::vector<std::string> flags = {
      "-Xmx" + Mb(s.heap),
      "-Xms" + Mb(s.initial_heap),
      "-Xss" + Mb(s.stack),
      "-XX:MaxMetaspaceSize=" + Mb(s.metaspace),
      "-XX:ReservedCodeCacheSize=" + Mb(s.code_cache),
      "-XX:+UseSerialGC",
      "-XX:ActiveProcessorCount=" + std::to_string(s.processors),
      "-XX:-UsePerfData",  // no /tmp/hsperfdata_* file to map at each start
  };
  for (auto& f : flags) f = prefix + f;
  return flags;
}

// V8's old space (node's --max-old-space-size); the young generation (48 MiB with node's
// default 16 MiB semi-spaces), code and node's own memory take `reserve`.
int64_t NodeOldSpaceMb(const Limits& l) {
  const int64_t m = std::max<int64_t>(l.memory_mb, 1);
  return std::max(m / 2, m - (64 + m / 16));
}

Preset C(const Limits&) {
  return {"c",
          "main.c",
          {"gcc", "-O2", "-std=gnu17", "-o", "main", "main.c", "-lm"},
          {"./main"},
          {},
          CompileLimits(),
          {"gcc", "--version"}};
}

Preset Cpp(const Limits&) {
  return {"cpp",
          "main.cpp",
          {"g++", "-O2", "-std=gnu++17", "-o", "main", "main.cpp"},
          {"./main"},
          {},
          CompileLimits(),
          {"g++", "--version"}};
}

// No build: a syntax error is then the run's (status failed, a runtime error), as HumanEval's
// harnesses report it, and a run is not slowed by a sandbox of its own for py_compile.
Preset Python(const Limits&) {
  return {"python", "main.py", {}, {"python3", "main.py"}, {}, Limits{}, {"python3", "--version"}};
}

Preset Java(const Limits& l) {
  // javac is short-lived: the JIT's first tier alone compiles it ~25% faster (measured).
  std::vector<std::string> build = {"javac"};
  for (auto& f : JvmFlags(CompileLimits(), "-J")) build.push_back(f);
  for (const char* f : {"-J-XX:TieredStopAtLevel=1", "-encoding", "UTF-8", "Main.java"})
    build.push_back(f);
  std::vector<std::string> run = {"java"};
  for (auto& f : JvmFlags(l, "")) run.push_back(f);
  for (const char* f : {"-cp", ".", "Main"}) run.push_back(f);
  // javac -version, not java's: a root with a JRE alone has java and cannot build.
  return {"java", "Main.java", build, run, {}, CompileLimits(), {"javac", "-version"}};
}

Preset JavaScript(const Limits& l) {
  return {"javascript",
          "main.js",
          {},
          {"node", "--max-old-space-size=" + std::to_string(NodeOldSpaceMb(l)), "main.js"},
          {},
          Limits{},
          {"node", "--version"}};
}

// GOPATH mode with the caches in /tmp (per task, never in the workspace a build leaves) and no
// module proxy: nothing is fetched. cgo stays on: Debian ships the standard library prebuilt
// with it, and CGO_ENABLED=0 makes `go build` rebuild net, os/user, crypto/tls and what imports
// them in every build (23 s for a program importing net/http, against 1.4 s). Pure Go programs
// link internally, without gcc.
Preset Go(const Limits& l) {
  return {"go",
          "main.go",
          {"go", "build", "-o", "main", "main.go"},
          {"./main"},
          {{"GOCACHE", "/tmp/go-cache"},
           {"GOPATH", "/tmp/go"},
           {"GO111MODULE", "off"},
           {"GOPROXY", "off"},
           {"CGO_ENABLED", "1"},
           {"GOMAXPROCS", std::to_string(Processors(l))}},
          CompileLimits(),
          {"go", "version"}};
}

Preset Rust(const Limits&) {
  return {"rust",
          "main.rs",
          {"rustc", "-O", "--edition", "2021", "-o", "main", "main.rs"},
          {"./main"},
          {},
          CompileLimits(),
          {"rustc", "--version"}};
}

// dash has no --version: the shell /bin/sh is.
Preset Sh(const Limits&) {
  return {"sh",
          "main.sh",
          {},
          {"/bin/sh", "main.sh"},
          {},
          Limits{},
          {"/bin/sh", "-c", "readlink -f /bin/sh || echo /bin/sh"}};
}

using Maker = Preset (*)(const Limits&);
constexpr Maker kMakers[] = {C, Cpp, Python, Java, JavaScript, Go, Rust, Sh};

std::string KnownNames() {
  std::string out;
  for (const Preset& p : Presets()) out += (out.empty() ? "" : ", ") + p.name;
  return out;
}

}  // namespace

const std::vector<Preset>& Presets() {
  static const std::vector<Preset>* presets = [] {
    auto* v = new std::vector<Preset>();
    for (Maker make : kMakers) v->push_back(make(Limits{}));
    return v;
  }();
  return *presets;
}

const Preset* FindPreset(std::string_view name) {
  for (const Preset& p : Presets())
    if (p.name == name) return &p;
  return nullptr;
}

std::string ApplyPreset(std::string_view language, const std::map<std::string, std::string>& files,
                        const Limits& limits, Applied* out) {
  const Preset* known = FindPreset(language);
  if (!known) {
    std::string shown(language.substr(0, 64));
    if (language.size() > 64) shown += "...";
    return "language: unknown preset \"" + shown + "\" (known: " + KnownNames() + ")";
  }
  if (!files.count(known->source))
    return "files: language \"" + known->name + "\" needs \"" + known->source + "\"";
  const Preset sized = kMakers[known - Presets().data()](limits);
  out->build.reset();
  // Its limits: the preset's build_limits, under what the job gives (the evaluation's to apply).
  if (!sized.build.empty()) out->build = Build{sized.build, {}};
  out->argv = sized.run;
  out->env = sized.env;
  return "";
}

std::string ShellJoin(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& word : argv) {
    if (!out.empty()) out += ' ';
    // '=' only after the first word: a first word with one would be an assignment.
    const std::string_view plain = out.empty() ? "-_./:+,@%" : "-_./:+,@%=";
    const bool safe = !word.empty() && std::all_of(word.begin(), word.end(), [&](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || plain.find(c) != plain.npos;
    });
    if (safe) {
      out += word;
      continue;
    }
    out += '\'';
    for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

}  // namespace brood::eval
