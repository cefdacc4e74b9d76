// The language presets (eval/languages.hpp, docs/languages.md): what each makes of a job, and,
// for every toolchain this host's sandbox root has, a hello world and a memory hog built and run
// in the sandbox as an evaluation runs them (build, then run, in the job's workspace).
#include "brood/languages.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "eval/languages.hpp"
#include "support/sandbox_env.hpp"

namespace brood::testing {
namespace {

using eval::Applied;
using eval::ApplyPreset;
using eval::FindPreset;
using eval::Preset;
using eval::Presets;
using Argv = std::vector<std::string>;

// The value of the argument "PREFIXvalue" in argv, as an integer of MiB ("-Xmx192m" -> 192).
int64_t FlagMb(const Argv& argv, const std::string& prefix) {
  for (const std::string& a : argv)
    if (a.rfind(prefix, 0) == 0) return std::stoll(a.substr(prefix.size()));
  ADD_FAILURE() << "no " << prefix << " in " << eval::ShellJoin(argv);
  return -1;
}

Applied Apply(const std::string& language, const Limits& limits = {}) {
  const Preset* p = FindPreset(language);
  Applied out;
  EXPECT_TRUE(p) << language;
  if (p) {
    EXPECT_EQ(ApplyPreset(language, {{p->source, "x"}}, limits, &out), "");
  }
  return out;
}

Limits Memory(int64_t mb, double cpus = 1) {
  Limits l;
  l.memory_mb = mb;
  l.cpus = cpus;
  return l;
}

TEST(Presets, InTheirFixedOrderWithTheirSourceFiles) {
  std::vector<std::pair<std::string, std::string>> got;
  for (const Preset& p : Presets()) got.emplace_back(p.name, p.source);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"c", "main.c"},           {"cpp", "main.cpp"}, {"python", "main.py"}, {"java", "Main.java"},
      {"javascript", "main.js"}, {"go", "main.go"},   {"rust", "main.rs"},   {"sh", "main.sh"}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(FindPreset("java"), &Presets()[3]);
  EXPECT_EQ(FindPreset("Java"), nullptr);
  EXPECT_EQ(FindPreset(""), nullptr);
}

TEST(Presets, BuildLimitsAreValidJobLimitsWithinTheDefaultMaxima) {
  for (const Preset& p : Presets()) {
    EXPECT_EQ(CheckLimits(p.build_limits, LimitMaxima{}), "") << p.name;
    EXPECT_FALSE(p.version.empty()) << p.name;
    if (p.build.empty()) continue;
    EXPECT_GE(p.build_limits.wall_ms, 60000) << p.name;
    EXPECT_GE(p.build_limits.memory_mb, 1024) << p.name;
    EXPECT_GE(p.build_limits.pids, 256) << p.name;
  }
}

TEST(Presets, ShellJoinQuotesWhatAShellWouldSplitOrExpand) {
  EXPECT_EQ(eval::ShellJoin({"gcc", "-O2", "-o", "main", "main.c"}), "gcc -O2 -o main main.c");
  EXPECT_EQ(eval::ShellJoin({"java", "-Xmx192m", "-XX:+UseSerialGC", "-XX:Max=1"}),
            "java -Xmx192m -XX:+UseSerialGC -XX:Max=1");
  EXPECT_EQ(eval::ShellJoin({"a b", "it's", "", "$HOME", "*"}), "'a b' 'it'\\''s' '' '$HOME' '*'");
  EXPECT_EQ(eval::ShellJoin({"X=1", "env"}), "'X=1' env");  // not an assignment
}

TEST(ApplyPreset, CompiledPresetsBuildThenRunTheirOutput) {
  struct Want {
    std::string name;
    Argv build, run;
  };
  const std::vector<Want> want = {
      {"c", {"gcc", "-O2", "-std=gnu17", "-o", "main", "main.c", "-lm"}, {"./main"}},
      {"cpp", {"g++", "-O2", "-std=gnu++17", "-o", "main", "main.cpp"}, {"./main"}},
      {"go", {"go", "build", "-o", "main", "main.go"}, {"./main"}},
      {"rust", {"rustc", "-O", "--edition", "2021", "-o", "main", "main.rs"}, {"./main"}},
  };
  for (const Want& w : want) {
    Applied a = Apply(w.name);
    ASSERT_TRUE(a.build) << w.name;
    EXPECT_EQ(a.build->argv, w.build) << w.name;
    EXPECT_EQ(a.argv, w.run) << w.name;
    // No overrides: the evaluation runs the build under the preset's build_limits.
    EXPECT_FALSE(a.build->limits.memory_mb) << w.name;
    EXPECT_FALSE(a.build->limits.wall_ms) << w.name;
    EXPECT_GE(FindPreset(w.name)->build_limits.memory_mb, 1024) << w.name;
  }
}

TEST(ApplyPreset, InterpretedPresetsHaveNoBuild) {
  EXPECT_EQ(Apply("python").argv, (Argv{"python3", "main.py"}));
  EXPECT_EQ(Apply("sh").argv, (Argv{"/bin/sh", "main.sh"}));
  EXPECT_EQ(Apply("javascript").argv, (Argv{"node", "--max-old-space-size=416", "main.js"}));
  for (const char* name : {"python", "javascript", "sh"}) {
    Applied a = Apply(name);
    EXPECT_FALSE(a.build) << name;
    EXPECT_TRUE(a.env.empty()) << name;
  }
}

TEST(ApplyPreset, JavaCompilesMainJavaAndRunsClassMain) {
  Applied a = Apply("java");
  ASSERT_TRUE(a.build);
  EXPECT_EQ(a.build->argv.front(), "javac");
  EXPECT_EQ(a.build->argv.back(), "Main.java");
  for (size_t i = 1; i + 3 < a.build->argv.size(); ++i)  // the JVM's flags go to javac's JVM
    if (a.build->argv[i].rfind("-X", 0) == 0) ADD_FAILURE() << a.build->argv[i] << " without -J";
  EXPECT_EQ(a.argv.front(), "java");
  EXPECT_EQ(Argv(a.argv.end() - 3, a.argv.end()), (Argv{"-cp", ".", "Main"}));
  EXPECT_NE(std::find(a.argv.begin(), a.argv.end(), "-XX:+UseSerialGC"), a.argv.end());
}

// The JVM sees no cgroup in the sandbox: its parts are sized from memory_mb to fit within it.
TEST(ApplyPreset, JvmHeapAndItsNeighboursAreDerivedFromMemoryMb) {
  EXPECT_EQ(FlagMb(Apply("java", Memory(256)).argv, "-Xmx"), 192);
  EXPECT_EQ(FlagMb(Apply("java", Memory(1024)).argv, "-Xmx"), 912);
  int64_t last_heap = 0;
  for (int64_t mb : {128, 256, 512, 1024, 2048, 8192}) {
    const Argv run = Apply("java", Memory(mb)).argv;
    const int64_t heap = FlagMb(run, "-Xmx"), meta = FlagMb(run, "-XX:MaxMetaspaceSize="),
                  code = FlagMb(run, "-XX:ReservedCodeCacheSize="), stack = FlagMb(run, "-Xss");
    EXPECT_GE(heap, mb / 2) << mb;
    EXPECT_GT(heap, last_heap) << mb;
    // ~16 MiB of the VM's own beside them (measured: a hello world's JVM beside its heap).
    EXPECT_LE(heap + meta + code + 16, mb) << mb;
    EXPECT_LE(FlagMb(run, "-Xms"), heap) << mb;
    EXPECT_GE(stack, 1) << mb;
    EXPECT_LE(stack, std::min<int64_t>(64, mb / 16)) << mb;
    last_heap = heap;
  }
  // javac's JVM is sized from the build's limits, whatever the job's.
  EXPECT_EQ(Apply("java", Memory(256)).build->argv, Apply("java", Memory(4096)).build->argv);
}

TEST(ApplyPreset, ProcessorsFollowTheCpuBandwidthRoundedUp) {
  const Argv run = Apply("java", Memory(512, 2.5)).argv;
  EXPECT_NE(std::find(run.begin(), run.end(), "-XX:ActiveProcessorCount=3"), run.end());
  EXPECT_EQ(Apply("go", Memory(512, 0.5)).env.at("GOMAXPROCS"), "1");
  EXPECT_EQ(Apply("go", Memory(512, 4)).env.at("GOMAXPROCS"), "4");
}

TEST(ApplyPreset, NodeOldSpaceIsDerivedFromMemoryMb) {
  EXPECT_EQ(FlagMb(Apply("javascript", Memory(256)).argv, "--max-old-space-size="), 176);
  for (int64_t mb : {128, 256, 1024, 8192}) {
    const int64_t old = FlagMb(Apply("javascript", Memory(mb)).argv, "--max-old-space-size=");
    EXPECT_GE(old, mb / 2) << mb;
    EXPECT_LE(old + 48, mb) << mb;  // V8's young generation, 3 x 16 MiB semi-spaces, beside it
  }
}

TEST(ApplyPreset, GoBuildsOfflineWithItsCachesInTmp) {
  const auto env = Apply("go").env;
  EXPECT_EQ(env.at("GOCACHE"), "/tmp/go-cache");
  EXPECT_EQ(env.at("GOPATH"), "/tmp/go");
  EXPECT_EQ(env.at("GO111MODULE"), "off");
  EXPECT_EQ(env.at("GOPROXY"), "off");
}

TEST(ApplyPreset, UnknownLanguageListsTheKnownOnes) {
  Applied out;
  out.argv = {"untouched"};
  EXPECT_EQ(ApplyPreset("cobol", {{"main.cob", ""}}, {}, &out),
            "language: unknown preset \"cobol\" (known: c, cpp, python, java, javascript, go, "
            "rust, sh)");
  EXPECT_EQ(out.argv, Argv{"untouched"});
  EXPECT_EQ(ApplyPreset(std::string(100, 'x'), {}, {}, &out),  // a long name is cut
            "language: unknown preset \"" + std::string(64, 'x') +
                "...\" (known: c, cpp, python, java, javascript, go, rust, sh)");
}

TEST(ApplyPreset, MissingSourceFileIsNamed) {
  Applied out;
  EXPECT_EQ(ApplyPreset("cpp", {{"main.c", "int main(){}"}}, {}, &out),
            "files: language \"cpp\" needs \"main.cpp\"");
  EXPECT_EQ(ApplyPreset("java", {{"main.java", ""}}, {}, &out),
            "files: language \"java\" needs \"Main.java\"");
  EXPECT_EQ(ApplyPreset("python", {}, {}, &out), "files: language \"python\" needs \"main.py\"");
}

// ---- In the sandbox ------------------------------------------------------------------------

// The run's limits of these tests: a hello world must run within them, JVM included.
Limits RunLimits() {
  Limits l;
  l.memory_mb = 256;
  l.pids = 128;
  return l;
}

// An evaluated job of the preset (docs/eval.md): built once under the preset's build limits,
// then run once (its implicit test) within RunLimits().
Job EvalJob(const std::string& language, const std::string& program) {
  Job job;
  job.id = language;
  job.language = language;
  job.files[FindPreset(language)->source] = program;
  job.limits = RunLimits();
  job.limits.wall_ms = 30000;
  return job;
}

std::string Why(const Result& r) {
  return std::string(StatusName(r.status)) + " exit " + std::to_string(r.exit_code.value_or(-1)) +
         " signal " + std::to_string(r.signal.value_or(0)) + " " + r.error.value_or("") +
         "\nstdout: " + r.stdout_data.substr(0, 2000) +
         "\nstderr: " + r.stderr_data.substr(0, 4000);
}

// Whether the preset's toolchain is in the sandbox's root: its version command, run in the
// sandbox as `brood languages` runs it. "" when it is; else why not.
std::string Missing(Engine* engine, const Preset& p) {
  Job job = CmdJob(p.version);
  job.env = p.env;
  job.limits.memory_mb = 1024;
  job.limits.pids = 256;
  Result r = engine->Run(job);
  if (r.status == TaskStatus::kOk) return "";
  return "the sandbox's root has no " + p.name + " toolchain (`" + eval::ShellJoin(p.version) +
         "`: " + Why(r) + ")";
}

// Without cgroups brood holds memory_mb with RLIMIT_AS, per process: the JVM, V8, Go and rustc
// (LLVM) reserve far more address space than they use, and do not start within these tests' 256
// MiB (measured: node and go build do within 2048, javac not even within 1024).
bool NeedsCgroups(const std::string& language) {
  return language == "java" || language == "javascript" || language == "go" || language == "rust";
}

#define TOOLCHAIN_OR_SKIP(engine, preset)                                                   \
  BROOD_ENGINE_OR_SKIP(engine);                                                             \
  if (engine->Info().enforcement == Enforcement::kRlimit && NeedsCgroups(preset.name))      \
    GTEST_SKIP() << preset.name << " needs cgroups here: RLIMIT_AS counts reserved memory"; \
  if (std::string why = Missing(engine, preset); !why.empty()) GTEST_SKIP() << why

struct Programs {
  std::string hello, hog;
};

const std::map<std::string, Programs>& ProgramsByLanguage() {
  static const auto* programs = new std::map<std::string, Programs>{
      {"c",
       {"#include <stdio.h>\n#include <math.h>\n"
        "int main(void) { printf(\"hello, brood %.0f\\n\", sqrt(49.0)); return 0; }\n",
        "#include <stdlib.h>\n#include <string.h>\n"
        "int main(void) {\n  for (;;) {\n    char* p = malloc(1 << 20);\n    if (!p) return 3;\n"
        "    memset(p, 1, 1 << 20);\n  }\n}\n"}},
      {"cpp",
       {"#include <iostream>\n#include <vector>\n"
        "int main() { std::vector<int> v{7}; std::cout << \"hello, brood \" << v[0] << '\\n'; }\n",
        "#include <vector>\n"
        "int main() {\n  std::vector<std::vector<char>> v;\n"
        "  for (;;) v.emplace_back(1 << 20, 1);\n}\n"}},
      {"python",
       {"import math\nprint('hello, brood', math.isqrt(49))\n",
        "a = []\nwhile True:\n    a.append(b'\\x01' * (1 << 20))\n"}},
      {"java",
       {"public class Main {\n  public static void main(String[] args) {\n"
        "    System.out.println(\"hello, brood \" + (int) Math.sqrt(49));\n  }\n}\n",
        "import java.util.*;\npublic class Main {\n  public static void main(String[] args) {\n"
        "    List<long[]> l = new ArrayList<>();\n"
        "    for (;;) { long[] b = new long[1 << 17]; Arrays.fill(b, 1); l.add(b); }\n  }\n}\n"}},
      {"javascript",
       {"console.log('hello, brood', Math.sqrt(49));\n",
        "const l = [];\nfor (;;) l.push(new Array(1 << 16).fill(1.5));\n"}},
      {"go",
       {"package main\n\nimport (\n\t\"fmt\"\n\t\"math\"\n)\n\n"
        "func main() { fmt.Println(\"hello, brood\", math.Sqrt(49)) }\n",
        "package main\n\nfunc main() {\n\tvar s [][]byte\n\tfor {\n\t\tb := make([]byte, 1<<20)\n"
        "\t\tfor i := range b {\n\t\t\tb[i] = 1\n\t\t}\n\t\ts = append(s, b)\n\t}\n}\n"}},
      {"rust",
       {"fn main() {\n    println!(\"hello, brood {}\", (49f64).sqrt());\n}\n",
        "fn main() {\n    let mut v: Vec<Vec<u8>> = Vec::new();\n"
        "    loop {\n        v.push(vec![1u8; 1 << 20]);\n    }\n}\n"}},
      {"sh", {"echo \"hello, brood $((49 / 7))\"\n", "s=x\nwhile :; do s=\"$s$s\"; done\n"}},
  };
  return *programs;
}

class Languages : public ::testing::TestWithParam<std::string> {
 protected:
  const Preset& preset() { return *FindPreset(GetParam()); }
  const Programs& programs() { return ProgramsByLanguage().at(GetParam()); }
};

TEST_P(Languages, HelloWorldBuildsAndRunsWithin256MbAnd128Pids) {
  TOOLCHAIN_OR_SKIP(engine, preset());
  Result r = RunChecked(engine, EvalJob(GetParam(), programs().hello));
  ASSERT_EQ(r.status, TaskStatus::kOk) << Why(r);
  EXPECT_EQ(r.verdict, Verdict::kAccepted) << Why(r);
  EXPECT_EQ(r.stdout_data, "hello, brood 7\n") << Why(r);
  // A compiled preset was built once, and its build's record is in the result.
  EXPECT_EQ(r.build.has_value(), !preset().build.empty()) << Why(r);
  if (r.build) {
    EXPECT_EQ(r.build->status, TaskStatus::kOk) << r.build->stderr_data;
  }
  // The build and run together: a figure for docs/languages.md, and for a slow host's log.
  std::cout << "[ timing   ] " << GetParam() << ": build and run " << r.wall_ms << " ms wall, "
            << r.cpu_ms << " ms cpu, peak " << (r.peak_memory_bytes >> 20) << " MiB\n";
}

// A program that allocates far more than memory_mb ends as a memory_limit or as its runtime's
// out-of-memory error (failed, or signaled by its own abort), never ok and never a hang; the
// engine goes on running tasks and nothing of the task is left.
TEST_P(Languages, MemoryHogEndsWithoutHarmingTheEngine) {
  TOOLCHAIN_OR_SKIP(engine, preset());
  Result r = RunChecked(engine, EvalJob(GetParam(), programs().hog));
  EXPECT_TRUE(r.status == TaskStatus::kMemoryLimit || r.status == TaskStatus::kFailed ||
              r.status == TaskStatus::kSignaled)
      << Why(r);
  EXPECT_TRUE(r.verdict == Verdict::kMemoryLimit || r.verdict == Verdict::kRuntimeError) << Why(r);
  EXPECT_LE(r.peak_memory_bytes, static_cast<uint64_t>(RunLimits().memory_mb) << 20) << Why(r);
  std::cout << "[ outcome  ] " << GetParam() << ": " << StatusName(r.status) << " after "
            << r.wall_ms << " ms, peak " << (r.peak_memory_bytes >> 20) << " MiB\n";
  if (GetParam() == "java" && r.status != TaskStatus::kMemoryLimit) {
    // The heap fits beside the rest of the JVM: the program hears of it, as Java programs do.
    EXPECT_NE(r.stderr_data.find("java.lang.OutOfMemoryError"), std::string::npos) << Why(r);
  }
  Result after = RunChecked(engine, CmdJob({"echo", "still here"}));
  EXPECT_EQ(after.status, TaskStatus::kOk) << Why(after);
  EXPECT_TRUE(SandboxDescendants().empty());
}

std::vector<std::string> PresetNames() {
  std::vector<std::string> names;
  for (const Preset& p : Presets()) names.push_back(p.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Presets, Languages, ::testing::ValuesIn(PresetNames()),
                         [](const auto& info) { return info.param; });

// `brood languages`' probe: one entry per preset, in order; a tool the host's /usr has is
// available in the default root (the host's), with its version's first line.
TEST(LanguagesProbe, ListsEveryPresetWithTheVersionsTheRootHas) {
  BROOD_ENGINE_OR_SKIP(engine);
  const std::vector<LanguageInfo> got = ProbeLanguages(*engine);
  ASSERT_EQ(got.size(), Presets().size());
  for (size_t i = 0; i < got.size(); ++i) {
    const Preset& p = Presets()[i];
    EXPECT_EQ(got[i].name, p.name);
    EXPECT_EQ(got[i].source, p.source);
    EXPECT_EQ(got[i].build, p.build);
    EXPECT_EQ(got[i].run, p.run);
    EXPECT_EQ(got[i].version.empty(), !got[i].available) << p.name << ": " << got[i].reason;
    EXPECT_EQ(got[i].reason.empty(), got[i].available) << p.name;
    const std::string tool = p.version[0][0] == '/' ? p.version[0] : "/usr/bin/" + p.version[0];
    const bool rlimits = engine->Info().enforcement == Enforcement::kRlimit;
    if (access(tool.c_str(), X_OK) == 0 && !(rlimits && NeedsCgroups(p.name))) {
      EXPECT_TRUE(got[i].available) << p.name << ": " << got[i].reason;
      EXPECT_EQ(got[i].version.find('\n'), std::string::npos) << got[i].version;
    }
  }
  const auto& gcc = got[0];
  if (gcc.available) {
    EXPECT_EQ(gcc.version.rfind("gcc", 0), 0u) << gcc.version;
  }
}

// A root without the toolchains: each preset is missing, and says which program it lacks.
TEST(LanguagesProbe, ARootWithoutToolchainsNamesWhatIsMissing) {
  BROOD_ENGINE_OR_SKIP(shared);  // skips where the host cannot sandbox at all
  char tmpl[] = "/tmp/brood-empty-root-XXXXXX";
  ASSERT_TRUE(mkdtemp(tmpl));
  const std::filesystem::path root = tmpl;
  for (const char* dir : {"usr/bin", "bin", "lib", "etc"})
    std::filesystem::create_directories(root / dir);
  std::filesystem::permissions(root, std::filesystem::perms(0755));
  EngineOptions o;
  o.slots = 1;
  o.warm = false;
  o.root_dir = root.string();
  std::vector<LanguageInfo> got;
  {
    auto engine = MakeEngine(o);
    ASSERT_TRUE(engine);
    got = ProbeLanguages(*engine);
  }
  std::filesystem::remove_all(root);
  ASSERT_EQ(got.size(), Presets().size());
  for (const LanguageInfo& l : got) {
    EXPECT_FALSE(l.available) << l.name << ": " << l.version;
    const std::string tool = FindPreset(l.name)->version[0];
    EXPECT_EQ(l.reason, tool + ": not found in the sandbox's root") << l.name;
  }
}

}  // namespace
}  // namespace brood::testing
