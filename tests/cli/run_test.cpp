// `brood run` as users run it: job files in, one valid result per job out, whatever happens.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "support/cli.hpp"
#include "support/procs.hpp"
#include "support/schema.hpp"

namespace brood::testing {
namespace {

using Json = nlohmann::json;

std::vector<Json> Records(const std::string& text) {
  std::vector<Json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    EXPECT_TRUE(ValidResult(line)) << line;
    out.push_back(Json::parse(line, nullptr, false));
  }
  return out;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::string EchoJob(const std::string& id, int sleep_ms = 0) {
  std::string cmd = sleep_ms ? "sleep " + std::to_string(sleep_ms / 1000.0) + "; " : "";
  return Json{{"id", id}, {"shell", cmd + "echo " + id}}.dump();
}

TEST(Run, ExampleSuiteMatchesItsAnswerKey) {
  CliRun r = RunBrood({"run", BROOD_SOURCE_DIR "/examples/suite.jsonl", "-j", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, Json> by_id;
  for (Json& rec : Records(r.out)) by_id[rec["id"]] = rec;
  std::ifstream key(BROOD_SOURCE_DIR "/examples/suite.expected.txt");
  int checked = 0;
  for (std::string line; std::getline(key, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream f(line);
    std::string id, status, passed;
    f >> id >> status >> passed;
    ASSERT_TRUE(by_id.count(id)) << id << " has no result";
    EXPECT_EQ(by_id[id]["status"], status) << id << ": " << by_id[id].dump().substr(0, 400);
    EXPECT_EQ(by_id[id]["passed"], passed == "true") << id;
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(by_id.size()));
  EXPECT_GE(checked, 50);
  EXPECT_NE(r.err.find("ok "), std::string::npos) << "the summary on stderr: " << r.err;
}

TEST(Run, EveryMalformedLineIsAnInvalidJobAndTheRunGoesOn) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"{not json", "JSON"},
      {"[1, 2]", "object"},
      {R"({"id": "u", "cmd": ["true"], "timeout": 5})", "timeout"},
      {R"({"id": "t", "cmd": "true"})", "cmd"},
      {R"({"cmd": ["true"]})", "id"},
      {R"({"id": "dup", "cmd": ["true"]})", ""},  // the first "dup" is fine
      {R"({"id": "dup", "cmd": ["true"]})", "duplicate"},
      {R"({"id": "m", "cmd": ["true"], "limits": {"memory_mb": 0}})", "memory_mb"},
      {R"({"id": "abs", "cmd": ["true"], "files": {"/etc/x": "y"}})", "files"},
      {R"({"id": "up", "cmd": ["true"], "files": {"a/../../x": "y"}})", "files"},
      {R"({"id": "b64", "cmd": ["true"], "stdin": {"base64": "!!"}})", "stdin"},
      {R"({"id": "both", "cmd": ["true"], "shell": "true"})", "shell"},
      {"{\"id\": \"huge\", \"cmd\": [\"" + std::string((64u << 20) + 10, 'a') + "\"]}", "64 MiB"},
      {R"({"id": "after", "cmd": ["echo", "still running"]})", ""},
  };
  std::string file;
  for (const auto& [line, _] : bad) file += line + "\n";
  CliRun r = RunBrood({"run", "-", "-j", "2", "--ordered"}, {file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<Json> recs = Records(r.out);
  ASSERT_EQ(recs.size(), bad.size());
  for (size_t i = 0; i < bad.size(); ++i) {
    const std::string& want = bad[i].second;
    if (want.empty()) {
      EXPECT_EQ(recs[i]["status"], "ok") << i;
      continue;
    }
    EXPECT_EQ(recs[i]["status"], "invalid_job") << i << ": " << recs[i].dump();
    EXPECT_EQ(recs[i]["line"], i + 1);
    std::string error = recs[i]["error"];
    EXPECT_NE(error.find(want), std::string::npos) << "line " << i + 1 << ": " << error;
  }
  EXPECT_EQ(recs.back()["stdout"], "still running\n");
}

TEST(Run, OrderedWritesInInputOrder) {
  std::string file;
  for (int i = 0; i < 12; ++i) file += EchoJob("o" + std::to_string(i), (12 - i) * 20) + "\n";
  CliRun r = RunBrood({"run", "-", "-j", "4", "--ordered"}, {file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<Json> recs = Records(r.out);
  ASSERT_EQ(recs.size(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(recs[i]["id"], "o" + std::to_string(i));
}

TEST(Run, ResultsGoToTheOutputFileAndSummaryJson) {
  std::string jobs = TempFile("jobs.jsonl", EchoJob("a") + "\n" + EchoJob("b") + "\n");
  std::string out = jobs + ".results", summary = jobs + ".summary.json";
  CliRun r = RunBrood({"run", jobs, "-o", out, "--summary-json", summary});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << "nothing but results on stdout, and they went to -o";
  EXPECT_EQ(Records(ReadAll(out)).size(), 2u);
  Json s = Json::parse(ReadAll(summary), nullptr, false);
  ASSERT_TRUE(s.is_object()) << ReadAll(summary);
  EXPECT_EQ(s["statuses"]["ok"], 2);
}

// Many slots need many fds (zygotes, event fds, counter files): a soft open-files limit of 256,
// common in shells, must not stop -j 64.
TEST(Run, ManySlotsUnderALowOpenFilesLimit) {
  std::string jobs;
  for (int i = 0; i < 200; ++i) jobs += EchoJob("f" + std::to_string(i)) + "\n";
  CliOptions o;
  o.input = jobs;
  o.nofile_soft = 256;
  CliRun r = RunBrood({"run", "-", "-j", "64"}, o);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Records(r.out).size(), 200u);
}

TEST(Run, UsageErrorsExitTwo) {
  EXPECT_EQ(RunBrood({"run"}).exit_code, 2);
  EXPECT_EQ(RunBrood({"run", "-", "--resume"}).exit_code, 2) << "--resume needs -o";
  EXPECT_EQ(RunBrood({"run", "-", "-j", "0"}).exit_code, 2);
  EXPECT_EQ(RunBrood({"run", "/nonexistent/jobs.jsonl"}).exit_code, 1);
}

TEST(Run, CollectReturnsRegularFilesWithinBounds) {
  std::string script =
      "mkdir -p out && echo '{\"a\": 1}' > out/a.json && head -c 2000000 /dev/zero > out/big.json"
      " && ln -s /etc/passwd out/link.json && mkfifo out/fifo.json && printf '\\377' > out/b.json";
  Json job = {{"id", "c"}, {"shell", script}, {"collect", {"out/*.json", "missing/*"}}};
  CliRun r = RunBrood({"run", "-"}, {job.dump() + "\n"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<Json> recs = Records(r.out);
  ASSERT_EQ(recs.size(), 1u);
  const Json& files = recs[0]["files"];
  EXPECT_EQ(files["out/a.json"], "{\"a\": 1}\n");
  EXPECT_EQ(files["out/b.json"]["base64"], "/w==") << "non-UTF-8 content comes back as base64";
  EXPECT_FALSE(files.contains("out/big.json"));
  EXPECT_FALSE(files.contains("out/link.json")) << "never through a symlink";
  EXPECT_FALSE(files.contains("out/fifo.json"));
  std::string error = recs[0]["error"];
  for (const char* name : {"out/big.json", "out/link.json", "out/fifo.json"})
    EXPECT_NE(error.find(name), std::string::npos) << name << " not named in: " << error;
}

// Evaluated jobs (docs/eval.md) through the real binary: every record, with its verdict, tests,
// build and skipped tests, is valid against the schema. No compiler: builds and checkers are
// shell scripts, so this stays quick.
// The build's workspace is the test's start: regular files, 0755; the link is dropped.
Json Built() {
  return {{"id", "build"},
          {"build", {{"shell", "printf 'echo built\\n' > run.sh; ln -s run.sh link"}}},
          {"shell", "test ! -e link && test -x run.sh && sh run.sh"},
          {"tests", {{{"expect", {{"stdout", "built\n"}}}}}}};
}

Json FailedBuild() {
  return {{"id", "ce"},
          {"build", {{"shell", "echo oops >&2; exit 1"}}},
          {"cmd", {"./x"}},
          {"tests", {Json::object(), Json::object()}}};
}

TEST(Run, EvaluatedJobsGiveValidRecords) {
  const Json add = {{"main.sh", "read a b; echo $((a + b))\n"}};
  const Json three = {{{"id", "a"}, {"stdin", "2 2\n"}, {"expect", {{"stdout", "4\n"}}}},
                      {{"stdin", "1 2\n"}, {"expect", {{"stdout", "3\n"}}}},
                      {{"stdin", "5 5\n"}, {"expect", {{"stdout", "10\n"}}}}};
  const Json mul = {{"main.sh", "read a b; echo $((a * b))\n"}};
  std::string jobs;
  for (const Json& job : std::vector<Json>{
           {{"id", "ok"}, {"group", "add"}, {"language", "sh"}, {"files", add}, {"tests", three}},
           {{"id", "wa"}, {"group", "add"}, {"language", "sh"}, {"files", mul}, {"tests", three}},
           {{"id", "wa-all"},
            {"stop", "all"},
            {"language", "sh"},
            {"files", mul},
            {"tests", three}},
           {{"id", "implicit"},
            {"language", "sh"},
            {"files", add},
            {"stdin", "1 1\n"},
            {"expect", {{"stdout", "2\n"}}}},
           Built(),
           FailedBuild(),
           {{"id", "checker"},
            {"shell", "echo 0.33"},
            {"expect",
             {{"stdout", "1/3"}, {"checker", {{"shell", "echo \"$1 vs $2\" >&2; exit 2"}}}}},
            {"tests", {Json::object()}}},
           {{"id", "tle"},
            {"shell", "sleep 5"},
            {"limits", {{"wall_ms", 200}}},
            {"tests", {Json::object()}}},
           {{"id", "unknown"}, {"language", "cobol"}},
       })
    jobs += job.dump() + "\n";
  const std::string cache = TempFile("keep", "") + ".cache";
  CliRun r = RunBrood({"run", "-", "-j", "2", "--ordered", "--build-cache-dir", cache}, {jobs});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, Json> by_id;
  for (Json& rec : Records(r.out)) by_id[rec["id"]] = rec;
  ASSERT_EQ(by_id.size(), 9u) << r.out;
  auto verdicts = [](const Json& rec) {
    std::vector<std::string> out;
    for (const Json& t : rec["tests"]) out.push_back(t["verdict"]);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(by_id["ok"]["verdict"], "accepted");
  EXPECT_EQ(by_id["ok"]["passed"], true);
  EXPECT_EQ(by_id["ok"]["group"], "add");
  EXPECT_EQ(by_id["ok"]["tests_passed"], 3);
  EXPECT_EQ(by_id["ok"]["stdout"], "10\n") << "all accepted: the last test decides";
  EXPECT_EQ(by_id["wa"]["verdict"], "wrong_answer");
  EXPECT_EQ(verdicts(by_id["wa"]), (V{"accepted", "wrong_answer", "skipped"}));
  EXPECT_EQ(by_id["wa"]["tests"][2], (Json{{"id", "2"}, {"verdict", "skipped"}}));
  EXPECT_EQ(by_id["wa"]["stdout"], "2\n") << "the earliest failing test decides";
  EXPECT_EQ(verdicts(by_id["wa-all"]), (V{"accepted", "wrong_answer", "wrong_answer"}));
  EXPECT_EQ(by_id["implicit"]["verdict"], "accepted");
  EXPECT_FALSE(by_id["implicit"].contains("tests")) << "no `tests`: no tests in the result";
  EXPECT_EQ(by_id["build"]["verdict"], "accepted") << by_id["build"].dump();
  EXPECT_EQ(by_id["build"]["build"]["cached"], false);
  EXPECT_EQ(by_id["ce"]["verdict"], "compile_error");
  EXPECT_EQ(by_id["ce"]["build"]["stderr"], "oops\n");
  EXPECT_EQ(verdicts(by_id["ce"]), (V{"skipped", "skipped"}));
  EXPECT_EQ(by_id["checker"]["verdict"], "presentation_error");
  EXPECT_EQ(by_id["checker"]["tests"][0]["checker_message"],
            "/workspace/judge/output vs /workspace/judge/answer\n");
  EXPECT_EQ(by_id["tle"]["verdict"], "time_limit");
  EXPECT_EQ(by_id["unknown"]["status"], "invalid_job");
  EXPECT_EQ(by_id["unknown"]["verdict"], "invalid_job");

  // The same build again: the cache's, and nothing ran.
  CliRun again = RunBrood({"run", "-", "--build-cache-dir", cache}, {Built().dump() + "\n"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  std::vector<Json> recs = Records(again.out);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["build"]["cached"], true) << recs[0].dump();
  EXPECT_EQ(recs[0]["verdict"], "accepted");
}

// A failed build from the cache: its top-level fields are the build's, and must be a valid record.
TEST(Run, ACachedFailedBuildGivesAValidRecord) {
  const std::string cache = TempFile("keep", "") + ".cache";
  const std::string job = FailedBuild().dump() + "\n";
  CliRun first = RunBrood({"run", "-", "--build-cache-dir", cache}, {job});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  CliRun again = RunBrood({"run", "-", "--build-cache-dir", cache}, {job});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  std::vector<Json> before = Records(first.out), after = Records(again.out);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0]["build"]["cached"], true);
  EXPECT_EQ(after[0]["verdict"], "compile_error");
  for (const char* field : {"limits", "stderr_bytes", "landlock", "limits_enforced"})
    EXPECT_EQ(after[0][field], before[0][field]) << field;
}

// --root NAME=DIR gives jobs a root to choose by name; a job never names a directory. The root
// here holds only the static probe, so which root a task saw shows in what it can run.
TEST(Run, JobsChooseAmongTheRootsBroodWasGiven) {
  char tmpl[] = "/tmp/brood-root-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string root = tmpl;
  ASSERT_EQ(chmod(tmpl, 0755), 0);  // the sandbox users search it
  ASSERT_EQ(system(("mkdir -p " + root + "/usr/bin " + root + "/etc && cp " BROOD_PROBE " " + root +
                    "/usr/bin/probe && ln -s usr/bin " + root + "/bin")
                       .c_str()),
            0);
  const std::string jobs = R"({"id":"tiny","cmd":["/usr/bin/probe","threads","1"],"root":"tiny"})"
                           "\n"
                           R"({"id":"default","cmd":["/usr/bin/probe","threads","1"]})"
                           "\n"
                           R"({"id":"tiny-sh","cmd":["sh","-c","true"],"root":"tiny"})"
                           "\n"
                           R"({"id":"unknown","cmd":["true"],"root":"nope"})"
                           "\n";
  const std::string out = root + "/results.jsonl";
  CliRun r = RunBrood({"run", "-", "-o", out, "--ordered", "--root", "tiny=" + root}, {jobs});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<Json> recs = Records(ReadAll(out));
  ASSERT_EQ(recs.size(), 4u) << r.err;
  EXPECT_EQ(recs[0]["status"], "ok") << recs[0].dump();
  EXPECT_EQ(recs[0]["stdout"], "threads ok\n");
  EXPECT_EQ(recs[1]["exit_code"], 127) << "the default root has no probe: " << recs[1].dump();
  EXPECT_EQ(recs[2]["exit_code"], 127) << "the tiny root has no shell: " << recs[2].dump();
  EXPECT_EQ(recs[3]["status"], "invalid_job");
  EXPECT_EQ(recs[3]["line"], 4) << recs[3].dump();
  EXPECT_NE(recs[3]["error"].get<std::string>().find("no root named \"nope\""), std::string::npos);
  // Done means done: --resume runs none of them again, the engine's invalid_job included.
  CliRun again = RunBrood({"run", "-", "-o", out, "--resume", "--root", "tiny=" + root}, {jobs});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Records(ReadAll(out)).size(), 4u);
  // A directory that is not there is a usage error (no input: brood exits before reading any).
  EXPECT_EQ(RunBrood({"run", "-", "--root", "tiny=" + root + "/missing"}).exit_code, 2);
  ASSERT_EQ(system(("rm -rf " + root).c_str()), 0);
}

// Kill brood with SIGKILL at random moments, resume until done: every key exactly once.
TEST(Run, ResumeAfterSigkillGivesEveryResultExactlyOnce) {
  std::string jobs_text;
  const int n = 300;
  for (int i = 0; i < n; ++i)
    jobs_text += EchoJob("k" + std::to_string(i), i % 7 == 0 ? 30 : 0) + "\n";
  jobs_text += "{broken line\n";  // keyed "line:301"
  std::string jobs = TempFile("jobs.jsonl", jobs_text);
  std::string out = jobs + ".results";
  std::mt19937 rng(12345);
  int kills = 0;
  for (int round = 0; round < 20; ++round) {
    pid_t pid = fork();
    if (pid == 0) {
      int devnull = open("/dev/null", O_RDWR);
      dup2(devnull, 1);
      dup2(devnull, 2);
      execl(BROOD_BIN, BROOD_BIN, "run", jobs.c_str(), "-o", out.c_str(), "--resume", "-j", "2",
            nullptr);
      _exit(98);
    }
    bool kill_it = round < 4;
    if (kill_it) {
      usleep(std::uniform_int_distribution<int>(100, 700)(rng) * 1000);
      if (kill(pid, SIGKILL) == 0) ++kills;
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (!kill_it || (WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
      ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "round " << round;
      break;
    }
  }
  EXPECT_GE(kills, 1);
  std::string text = ReadAll(out);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "no torn last line";
  std::multiset<std::string> keys;
  for (const Json& rec : Records(text))
    keys.insert(rec["status"] == "invalid_job" ? "line:" + std::to_string(rec["line"].get<int>())
                                               : rec["id"].get<std::string>());
  EXPECT_EQ(keys.size(), static_cast<size_t>(n + 1)) << "a result lost or duplicated";
  for (int i = 0; i < n; ++i) EXPECT_EQ(keys.count("k" + std::to_string(i)), 1u) << i;
  EXPECT_EQ(keys.count("line:" + std::to_string(n + 1)), 1u);
}

// SIGTERM: no new tasks, running ones finish (or are killed after 5 s); exit 1; resumable.
TEST(Run, SigtermStopsAndTheRunResumes) {
  std::string jobs_text;
  for (int i = 0; i < 40; ++i) jobs_text += EchoJob("s" + std::to_string(i), 100) + "\n";
  std::string jobs = TempFile("jobs.jsonl", jobs_text);
  std::string out = jobs + ".results";
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 2);
    execl(BROOD_BIN, BROOD_BIN, "run", jobs.c_str(), "-o", out.c_str(), "-j", "2", nullptr);
    _exit(98);
  }
  // Stopped mid-run, once a task runs (polled, not a fixed sleep: a slow or busy host may take
  // longer to start; results are written in batches, so the file would tell too late): a
  // `sleep` below brood. 40 tasks of 100 ms each on 2 slots take 2 s, so most are still ahead.
  auto task_running = [pid] {
    for (int p : DescendantsOf(pid))
      if (Comm(p) == "sleep") return true;
    return false;
  };
  bool running = false;
  for (int i = 0; i < 3000 && !(running = task_running()); ++i) usleep(10 * 1000);
  ASSERT_TRUE(running) << "no task running within 30 s";
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 1) << "stopped before every job had a result";
  size_t first = Records(ReadAll(out)).size();
  EXPECT_LT(first, 40u);
  CliRun again = RunBrood({"run", jobs, "-o", out, "--resume"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  std::set<std::string> ids;
  for (const Json& rec : Records(ReadAll(out))) EXPECT_TRUE(ids.insert(rec["id"]).second);
  EXPECT_EQ(ids.size(), 40u);
}

}  // namespace
}  // namespace brood::testing
