// How an evaluated job's tests are judged, end to end through the public Engine API: each test
// starts from the build's workspace and sees nothing of another's; expect's float, case,
// exit_code and files; checkers in C and Python by the testlib convention, including ones that
// crash, loop, fail or misbehave.
#include <gtest/gtest.h>

#include <iostream>
#include <string>
#include <vector>

#include "evaluation_support.hpp"

namespace brood::testing {
namespace {

using Names = std::vector<std::string>;

constexpr char kIsolation[] = R"SH(mode=$1; shift
case $mode in
  write)
    cat t1.txt built.txt
    echo leak > /workspace/leak.txt
    echo leak > /tmp/leak.txt
    mkdir -p /workspace/dir && echo x > /workspace/dir/y
    echo changed > built.txt ;;
  check)
    for f in /workspace/leak.txt /tmp/leak.txt /workspace/dir /workspace/t1.txt \
             /tmp/build-scratch; do
      if [ -e "$f" ]; then echo "present $f"; fi
    done
    cat built.txt t2.txt ;;
  args) printf '[%s]' "$@"; echo; cat built.txt ;;
  show) cat built.txt ;;
esac
)SH";

// One slot: the tests run one after another, in input order, so the second sees whatever the
// first could have left.
TEST(EvaluationIsolation, EachTestStartsFromTheBuildAndSeesNoOtherTest) {
  EngineOptions o;
  o.slots = 1;
  EVAL_OWN_ENGINE_OR_SKIP(engine, o);
  Job job;
  job.id = "isolation";
  job.files["run.sh"] = kIsolation;
  job.argv = {"/bin/sh", "run.sh"};
  job.build =
      Build{{"/bin/sh", "-c", "echo built > built.txt; echo scratch > /tmp/build-scratch"}, {}};
  job.stop = StopMode::kAll;
  job.limits.wall_ms = 30000;
  job.tests = {Case("write", "", Stdout("t1\nbuilt\n"), {"write"}),
               Case("check", "", Stdout("built\nt2\n"), {"check"}),
               Case("args", "", Stdout("[a b][c][$HOME]\nbuilt\n"), {"args", "a b", "c", "$HOME"}),
               Case("override", "", Stdout("mine\n"), {"show"}),
               Case("check-again", "", Stdout("built\nagain\n"), {"check"})};
  job.tests[0].files["t1.txt"] = "t1\n";
  job.tests[1].files["t2.txt"] = "t2\n";
  job.tests[3].files["built.txt"] = "mine\n";  // a test's file over the build's
  job.tests[4].files["t2.txt"] = "again\n";
  Result r = RunEval(engine.get(), job);
  EXPECT_EQ(Verdicts(r), (Names{"accepted", "accepted", "accepted", "accepted", "accepted"}))
      << Show(r);
  for (const TestResult& t : r.tests)
    EXPECT_EQ(t.verdict, Verdict::kAccepted) << t.id << ": " << t.stdout_head << t.stderr_head;
  EXPECT_EQ(VerdictOf(r), "accepted");
  ASSERT_TRUE(r.build);
  EXPECT_EQ(r.build->status, TaskStatus::kOk);
}

constexpr char kOutputs[] = R"SH(case $1 in
  float) echo "3.14159 2.0000001 hello 1000.5" ;;
  upper) echo "YES Answer" ;;
  exit3) echo three; exit 3 ;;
  exit0) echo zero ;;
  exit4) echo four; exit 4 ;;
  file) printf '42\n' > out.txt; echo wrote ;;
  nofile) echo none ;;
esac
)SH";

TEST(EvaluationExpect, FloatCaseExitCodeAndFilesEndToEnd) {
  BROOD_ENGINE_OR_SKIP(engine);
  Job job = ShellJob("expect", kOutputs);
  job.stop = StopMode::kAll;
  auto floats = [](std::string text, double abs_tol, double rel_tol, bool fold = false) {
    Expect e = Stdout(std::move(text), MatchMode::kFloat);
    e.abs_tol = abs_tol;
    e.rel_tol = rel_tol;
    e.case_insensitive = fold;
    return e;
  };
  auto folded = [](std::string text, bool fold) {
    Expect e = Stdout(std::move(text));
    e.case_insensitive = fold;
    return e;
  };
  auto exits = [](std::string text, int code) {
    Expect e = Stdout(std::move(text));
    e.exit_code = code;
    return e;
  };
  auto file = [](std::string content, MatchMode match = MatchMode::kExact) {
    Expect e;  // stdout not compared
    e.files["out.txt"] = std::move(content);
    e.match = match;
    return e;
  };
  job.tests = {
      Case("float-tol", "", floats("3.1416 2 hello 1000", 1e-3, 1e-3), {"float"}),
      Case("float-abs-only", "", floats("3.1416 2 hello 1000", 1e-3, 0), {"float"}),
      Case("float-text-case", "", floats("3.1416 2 HELLO 1000.5", 1e-3, 0), {"float"}),
      Case("float-text-fold", "", floats("3.1416 2 HELLO 1000.5", 1e-3, 0, true), {"float"}),
      Case("case-insensitive", "", folded("yes answer\n", true), {"upper"}),
      Case("case-sensitive", "", folded("yes answer\n", false), {"upper"}),
      Case("exit3-wanted", "", exits("three\n", 3), {"exit3"}),
      Case("exit0-wanted3", "", exits("zero\n", 3), {"exit0"}),
      Case("exit4-wanted3", "", exits("four\n", 3), {"exit4"}),
      Case("file-same", "", file("42\n"), {"file"}),
      Case("file-differs", "", file("43\n"), {"file"}),
      Case("file-tokens", "", file(" 42 ", MatchMode::kTokens), {"file"}),
      Case("file-missing", "", file("42\n"), {"nofile"})};
  Result r = RunEval(engine, job);
  EXPECT_EQ(Verdicts(r), (Names{"accepted", "wrong_answer", "wrong_answer", "accepted", "accepted",
                                "wrong_answer", "accepted", "wrong_answer", "runtime_error",
                                "accepted", "wrong_answer", "accepted", "wrong_answer"}))
      << Show(r);
  EXPECT_EQ(TestOf(r, "exit3-wanted").status, TaskStatus::kFailed);
  EXPECT_EQ(TestOf(r, "exit3-wanted").exit_code, 3);
  EXPECT_EQ(TestOf(r, "exit0-wanted3").status, TaskStatus::kOk);
  EXPECT_EQ(VerdictOf(r), "wrong_answer");
  EXPECT_EQ(r.stdout_data, "3.14159 2.0000001 hello 1000.5\n") << "the first failing test's";
  EXPECT_EQ(r.tests_passed, 6);
}

// The task echoes its stdin (after sleeping $2 seconds for `sleep`; exiting 1 for `fail`).
constexpr char kEcho[] = "case $1 in sleep) sleep \"$2\" ;; fail) exit 1 ;; esac; cat";

// A checker by the testlib convention: argv[1..3] are the input, the task's output and the
// answer; its own file words.txt beside it. The output says what to do.
constexpr char kChecker[] = R"C(#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void Slurp(const char* path, char* buf, size_t size) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s", path);
    exit(3);
  }
  size_t n = fread(buf, 1, size - 1, f);
  buf[n] = 0;
  buf[strcspn(buf, "\n")] = 0;
  fclose(f);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "argc %d", argc);
    return 3;
  }
  char in[256], out[256], ans[256], own[256];
  Slurp(argv[1], in, sizeof in);
  Slurp(argv[2], out, sizeof out);
  Slurp(argv[3], ans, sizeof ans);
  Slurp("words.txt", own, sizeof own);
  if (!strcmp(out, "ok")) {
    fprintf(stderr, "fine: input=%s answer=%s own=%s", in, ans, own);
    return 0;
  }
  if (!strcmp(out, "wa")) {
    fprintf(stderr, "expected %s, got %s", ans, out);
    return 1;
  }
  if (!strcmp(out, "pe")) {
    fprintf(stderr, "bad spacing");
    return 2;
  }
  if (!strcmp(out, "segv")) {
    fprintf(stderr, "about to crash");
    fflush(stderr);
    raise(SIGSEGV);
  }
  fprintf(stderr, "cannot judge %s", out);
  return 3;
}
)C";

// Tries what a checker must not be able to do, says on stderr what came of it, exits 1.
constexpr char kHostileChecker[] = R"PY(import os, signal, sys, time
report = []
try:
    open("/etc/shadow").read()
    report.append("shadow:READ")
except OSError:
    report.append("shadow:denied")
for path in ["/etc/brood-escape", "/usr/brood-escape", "/brood-escape", "/dev/brood-escape",
             "/proc/sys/kernel/hostname", "/workspace/../brood-escape"]:
    try:
        with open(path, "w") as f:
            f.write("x")
        report.append("wrote:" + path)
    except OSError:
        pass
with open("/workspace/mine", "w") as f:
    f.write("x")
report.append("workspace:ok")
children = []
try:
    while len(children) < 1000:
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
except OSError:
    pass
report.append("forked:%d" % len(children))
seen = 0
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                seen += b"MARKER-1f2e" in f.read()
        except OSError:
            pass
report.append("marker:%d" % seen)
os.kill(-1, signal.SIGKILL)  # every process it may signal (not itself)
for pid in children:
    os.waitpid(pid, 0)
sys.stderr.write(" ".join(report))
sys.exit(1)
)PY";

// Forks until it cannot (at most 100), says how many it could.
constexpr char kForker[] = R"PY(import os, sys, time
children = []
try:
    while len(children) < 100:
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
except OSError:
    pass
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
sys.stderr.write("forked %d" % len(children))
)PY";

Limits CheckerLimits(int64_t wall_ms, int64_t pids = 128) {
  Limits l;
  l.wall_ms = wall_ms;
  l.pids = pids;
  return l;
}

TEST(EvaluationCheckers, VerdictsMessagesAndMisbehavingCheckers) {
  BROOD_ENGINE_OR_SKIP(engine);
  Job job = ShellJob("checkers", kEcho);
  job.stop = StopMode::kAll;
  const Checker c{
      "c", {}, {{"main.c", kChecker}, {"words.txt", "apple pear\n"}}, CheckerLimits(20000)};
  const Checker loop{"python", {}, {{"main.py", "while True:\n    pass\n"}}, CheckerLimits(1000)};
  const Checker hostile{"python", {}, {{"main.py", kHostileChecker}}, CheckerLimits(20000, 32)};
  const Checker forker16{"python", {}, {{"main.py", kForker}}, CheckerLimits(20000, 16)};
  const Checker forker64{"python", {}, {{"main.py", kForker}}, CheckerLimits(20000, 64)};
  auto judged = [](const Checker& checker) {
    Expect e = Stdout("ANSWER");
    e.checker = checker;
    return e;
  };
  job.tests = {Case("ok", "ok", judged(c)),
               Case("wa", "wa", judged(c)),
               Case("pe", "pe", judged(c)),
               Case("segv", "segv", judged(c)),
               Case("three", "three", judged(c)),
               Case("task-fails", "ok", judged(c), {"fail"}),
               Case("loop", "ok", judged(loop)),
               Case("hostile", "x", judged(hostile)),
               Case("sleeper", "s", Stdout("s"), {"sleep", "6", "MARKER-1f2e"}),
               Case("forker16", "x", judged(forker16)),
               Case("forker64", "x", judged(forker64))};
  Result r = RunEval(engine, job);
  EXPECT_EQ(Verdicts(r), (Names{"accepted", "wrong_answer", "presentation_error", "checker_error",
                                "checker_error", "runtime_error", "checker_error", "wrong_answer",
                                "accepted", "accepted", "accepted"}))
      << Show(r);
  auto message = [&](const std::string& id) {
    return TestOf(r, id).checker_message.value_or("(none)");
  };
  EXPECT_EQ(message("ok"), "fine: input=ok answer=ANSWER own=apple pear");
  EXPECT_EQ(message("wa"), "expected ANSWER, got wa");
  EXPECT_EQ(message("pe"), "bad spacing");
  EXPECT_NE(message("segv").find("signal 11"), std::string::npos) << message("segv");
  EXPECT_EQ(message("three"), "checker exited 3: cannot judge three");
  EXPECT_FALSE(TestOf(r, "task-fails").checker_message) << "a failed run is not judged";
  EXPECT_TRUE(message("loop").find("timeout") != std::string::npos ||
              message("loop").find("cpu_limit") != std::string::npos)
      << message("loop");

  // Contained: no secret, no write outside its workspace, its pids limit, no other sandbox.
  const std::string h = message("hostile");
  std::cout << "[ note     ] the hostile checker said: " << h << "\n";
  EXPECT_NE(h.find("shadow:denied"), std::string::npos) << h;
  EXPECT_EQ(h.find("wrote:"), std::string::npos) << h;
  EXPECT_NE(h.find("workspace:ok"), std::string::npos) << h;
  EXPECT_NE(h.find("marker:0"), std::string::npos) << h;
  const size_t forked = h.find("forked:");
  ASSERT_NE(forked, std::string::npos) << h;
  EXPECT_LT(std::stoi(h.substr(forked + 7)), 32) << h;

  // Each checker runs under its own limits, also when only its pids differ from another's.
  auto forks = [&](const std::string& id) {
    const std::string m = message(id);
    return m.rfind("forked ", 0) == 0 ? std::stoi(m.substr(7)) : -1;
  };
  EXPECT_GE(forks("forker16"), 1) << message("forker16");
  EXPECT_LT(forks("forker16"), 16) << message("forker16");
  EXPECT_GE(forks("forker64"), 16) << message("forker64");

  EXPECT_EQ(VerdictOf(r), "wrong_answer");
  EXPECT_EQ(r.status, TaskStatus::kOk) << "the run's, not the checker's";
  EXPECT_EQ(r.stdout_data, "wa");
  // The engine goes on, and nothing of the checkers is left.
  Result after = engine->Run(CmdJob({"echo", "alive"}));
  EXPECT_EQ(after.stdout_data, "alive\n") << Show(after);
  EXPECT_TRUE(SandboxDescendants().empty());
}

TEST(EvaluationCheckers, ACheckerThatDoesNotBuildIsACheckerError) {
  BROOD_ENGINE_OR_SKIP(engine);
  Job job = ShellJob("checker-broken", kEcho);
  Expect e = Stdout("ok");
  e.checker = Checker{"c", {}, {{"main.c", "int main(void) { return nope; }\n"}}, {}};
  job.tests = {Case("1", "ok", e), Case("2", "ok", e)};
  Result r = RunEval(engine, job);
  EXPECT_EQ(VerdictOf(r), "checker_error") << Show(r);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->rfind("the checker did not build", 0), 0u) << *r.error;
  EXPECT_NE(r.error->find("nope"), std::string::npos) << *r.error;
  EXPECT_EQ(Verdicts(r), (Names{"skipped", "skipped"}));
}

}  // namespace
}  // namespace brood::testing
