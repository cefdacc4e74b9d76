// An evaluated job's life in the engine: Cancel ends it in whichever phase it is (build, test,
// checker) and leaves no process; the build cache (EngineOptions::build_cache_dir) gives a second
// identical job its build, and what a hostile build leaves is as harmless from the cache as from
// the build itself.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "evaluation_support.hpp"
#include "support/procs.hpp"

namespace brood::testing {
namespace {

using Names = std::vector<std::string>;

// Whether a process called `comm` runs in a sandbox of this test process.
bool SandboxRuns(const std::string& comm) {
  for (int pid : SandboxDescendants())
    if (Comm(pid) == comm) return true;
  return false;
}

Job Sleepy(const std::string& id) {
  Job job = ShellJob(id, "cat");
  job.limits.wall_ms = 120000;
  job.tests = {Case("1", "in", Stdout("in")), Case("2", "in", Stdout("in"))};
  return job;
}

struct Phase {
  std::string name;
  Job job;
};

std::vector<Phase> Phases() {
  std::vector<Phase> out;
  Job build = Sleepy("cancel-build");
  build.build = Build{{"/bin/sh", "-c", "sleep 60"}, {}};
  build.build->limits.wall_ms = 120000;
  out.push_back({"build", build});
  Job test = Sleepy("cancel-test");
  test.argv = {"/bin/sh", "-c", "sleep 60"};
  out.push_back({"test", test});
  Job checker = Sleepy("cancel-checker");
  for (TestCase& t : checker.tests) {
    Limits l;
    l.wall_ms = 120000;
    t.expect->checker = Checker{"", {"/bin/sh", "-c", "sleep 60", "sh"}, {}, l};
  }
  out.push_back({"checker", checker});
  return out;
}

TEST(EvaluationCancel, CancelInEachPhaseIsASandboxErrorAndLeavesNoProcess) {
  BROOD_ENGINE_OR_SKIP(engine);
  for (Phase& phase : Phases()) {
    SCOPED_TRACE(phase.name);
    auto done = std::make_shared<std::promise<Result>>();
    std::future<Result> result = done->get_future();
    const JobHandle h =
        engine->Submit(phase.job, [done](Result r) { done->set_value(std::move(r)); }).handle;
    ASSERT_NE(h, 0u);
    for (int i = 0; i < 6000 && !SandboxRuns("sleep"); ++i) usleep(10000);
    ASSERT_TRUE(SandboxRuns("sleep")) << "the " << phase.name << " never started";
    engine->Cancel(h);
    ASSERT_EQ(result.wait_for(std::chrono::seconds(120)), std::future_status::ready)
        << "no result after the cancel";
    Result r = result.get();
    CheckRecord(r);
    EXPECT_EQ(r.status, TaskStatus::kSandboxError) << Show(r);
    EXPECT_EQ(r.error_kind, ErrorKind::kCancelled) << Show(r);
    EXPECT_EQ(VerdictOf(r), "sandbox_error");
    EXPECT_EQ(r.passed, false);
    EXPECT_EQ(r.id, phase.job.id);
    for (const TestResult& t : r.tests)
      EXPECT_NE(t.verdict, Verdict::kAccepted) << t.id << " ran to the end";
    EXPECT_TRUE(SandboxDescendants().empty()) << "the cancelled job's processes live on";
    engine->Cancel(h);  // done: nothing happens
  }
  Result after = engine->Run(CmdJob({"echo", "next"}));
  EXPECT_EQ(after.stdout_data, "next\n") << Show(after);
}

constexpr char kAdd[] =
    "#include <stdio.h>\n"
    "int main(void) { long a, b; if (scanf(\"%ld %ld\", &a, &b) != 2) return 1;\n"
    "  printf(\"%ld\\n\", a + b); return 0; }\n";

Job AddJob(const std::string& id, const std::string& source) {
  Job job = LanguageJob(id, "c", source);
  job.tests = {Case("1", "1 2", Stdout("3\n")), Case("2", "40 2", Stdout("42\n"))};
  return job;
}

class EvaluationBuildCache : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions o;
    o.slots = 2;
    o.build_cache_dir = dir_.path() + "/cache";
    std::string error;
    engine_ = OwnEngine(o, &error);
    if (!engine_) GTEST_SKIP() << "host cannot sandbox: " << error;
  }
  void TearDown() override { engine_.reset(); }  // before the directory goes

  Result Run(const Job& job, const std::string& partition = "") {
    auto done = std::make_shared<std::promise<Result>>();
    auto f = done->get_future();
    SubmitOptions o;
    o.cache_partition = partition;
    engine_->Submit(
        job, [done](Result r) { done->set_value(std::move(r)); }, o);
    Result r = f.get();
    CheckRecord(r);
    return r;
  }

  TempDir dir_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EvaluationBuildCache, AnIdenticalJobGetsTheBuildAndADifferentOneMisses) {
  Result first = Run(AddJob("first", kAdd));
  ASSERT_TRUE(first.build) << Show(first);
  EXPECT_FALSE(first.build->cached);
  EXPECT_EQ(VerdictOf(first), "accepted") << Show(first);

  Result second = Run(AddJob("second", kAdd));
  ASSERT_TRUE(second.build) << Show(second);
  EXPECT_TRUE(second.build->cached) << Show(second);
  EXPECT_EQ(second.build->status, TaskStatus::kOk);
  EXPECT_EQ(second.build->stderr_data, first.build->stderr_data);
  EXPECT_EQ(VerdictOf(second), "accepted") << "the cached binary runs: " << Show(second);
  EXPECT_EQ(Verdicts(second), (Names{"accepted", "accepted"}));
  EXPECT_EQ(second.id, "second");

  Result other = Run(AddJob("other", std::string(kAdd) + "/* another program */\n"));
  ASSERT_TRUE(other.build);
  EXPECT_FALSE(other.build->cached) << "another source is another build";
  EXPECT_EQ(VerdictOf(other), "accepted") << Show(other);

  Result elsewhere = Run(AddJob("elsewhere", kAdd), "another-client");
  ASSERT_TRUE(elsewhere.build);
  EXPECT_FALSE(elsewhere.build->cached) << "another partition's entries are not this one's";

  // A compile error is the build's outcome too: cached, and still a compile error.
  const std::string broken = "int main(void) { return not_declared_anywhere; }\n";
  Result bad = Run(AddJob("bad", broken));
  Result bad_again = Run(AddJob("bad-again", broken));
  ASSERT_TRUE(bad.build && bad_again.build);
  EXPECT_FALSE(bad.build->cached);
  EXPECT_TRUE(bad_again.build->cached);
  EXPECT_EQ(VerdictOf(bad_again), "compile_error") << Show(bad_again);
  EXPECT_EQ(bad_again.build->stderr_data, bad.build->stderr_data);
  EXPECT_EQ(bad_again.stderr_data, bad.stderr_data);
  EXPECT_EQ(bad_again.status, TaskStatus::kFailed);
  // The top level is the build's run, from the cache as from the build: its limits too.
  EXPECT_EQ(bad_again.limits.wall_ms, bad.limits.wall_ms);
  EXPECT_EQ(bad_again.limits.memory_mb, bad.limits.memory_mb);
  EXPECT_EQ(bad_again.limits.pids, bad.limits.pids);
  EXPECT_EQ(Verdicts(bad_again), (Names{"skipped", "skipped"}));
}

// What the build leaves: a symlink to /etc/shadow and one to /, a FIFO, a hard link, a set-uid
// copy of a binary, a file of 3 MB (over what `collect` returns a file, within the snapshot's).
constexpr char kHostileBuild[] = R"SH(set -e
echo data > orig
ln orig hard
ln -s /etc/shadow shadow-link
ln -s / root-link
mkdir sub
ln -s ../orig sub/up
mkfifo fifo
cp /bin/true suid
chmod 4755 suid || true
head -c 3000000 /dev/zero > big
[ -L shadow-link ] && [ -p fifo ] && [ "$(stat -c %h hard)" = 2 ]
stat -c 'built suid %a' suid
)SH";

constexpr char kInspect[] = R"SH(for f in shadow-link root-link sub/up fifo; do
  if [ -e "$f" ] || [ -L "$f" ]; then echo "present $f"; fi
done
stat -c '%n %a %h %F' orig hard suid
stat -c '%n %s' big
cat hard
)SH";

TEST_F(EvaluationBuildCache, AHostileBuildLeavesOnlyPlainFilesAlsoFromTheCache) {
  Job job = ShellJob("hostile-build", kInspect);
  job.build = Build{{"/bin/sh", "-c", kHostileBuild}, {}};
  const std::string want =
      "orig 755 1 regular file\nhard 755 1 regular file\nsuid 755 1 regular file\n"
      "big 3000000\ndata\n";
  job.tests = {Case("inspect", "", Stdout(want))};
  for (bool cached : {false, true}) {
    SCOPED_TRACE(cached ? "from the cache" : "from the build");
    Result r = Run(job);
    ASSERT_TRUE(r.build) << Show(r);
    EXPECT_EQ(r.build->status, TaskStatus::kOk) << Show(r);
    EXPECT_EQ(r.build->cached, cached) << Show(r);
    EXPECT_EQ(r.build->stdout_data, "built suid 4755\n") << "the build made a set-uid file";
    EXPECT_EQ(VerdictOf(r), "accepted") << Show(r);
    EXPECT_EQ(r.stdout_data, want) << r.stderr_data;
  }
}

}  // namespace
}  // namespace brood::testing
