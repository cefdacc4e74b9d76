// The hostile suite: every case file in tests/hostile/cases is one `brood run`, as a user would
// run it. Each case's result must be exactly as wanted (hostile_case.hpp), and afterwards the
// host must be as it was: no process, cgroup or mount left, the loopback services never reached,
// the canary file unread and unchanged, and no file written where a task tried to escape to.
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "hostile/hostile_case.hpp"
#include "hostile/sentinels.hpp"
#include "support/cli.hpp"
#include "support/host_probe.hpp"
#include "support/procs.hpp"
#include "support/schema.hpp"

namespace brood::testing {
namespace {

using nlohmann::json;

// Extra `brood run` options from a cases file's "#args: ..." line.
std::vector<std::string> FileArgs(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("#args:", 0) == 0) {
      std::istringstream words(line.substr(6));
      for (std::string w; words >> w;) out.push_back(w);
    }
  return out;
}

// The test's name: the file's stem, '-' and other non-alphanumerics as '_' (gtest's rule).
std::string Stem(const std::string& path) {
  std::string name = path.substr(path.rfind('/') + 1);
  name = name.substr(0, name.size() - 6);
  for (char& c : name)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

class Hostile : public ::testing::TestWithParam<std::string> {};

TEST_P(Hostile, EveryAttemptGetsItsExactStatusAndTheHostStaysHealthy) {
  HostSentinels sentinels;
  ASSERT_TRUE(sentinels.Ready()) << "could not set up the host's sentinels";
  std::vector<std::string> errors;
  auto cases = LoadCases(GetParam(), sentinels.placeholders(), &errors);
  for (const auto& e : errors) ADD_FAILURE() << e;
  ASSERT_FALSE(cases.empty());
  std::string jobs;
  for (const auto& c : cases) jobs += c.job.dump() + "\n";
  std::string jobs_path = TempFile("jobs.jsonl", jobs);
  std::string out_path = jobs_path + ".results";
  size_t mounts_before = MountCount();
  // Orphans of brood come to this process, so a task that escaped its tree would show below.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  EXPECT_TRUE(ValidJob(cases.front().job.dump()));  // starts the schema validator now
  auto before = DescendantsOf(getpid());

  std::vector<std::string> args{"run", jobs_path, "-o", out_path, "-j", "2"};
  for (auto& a : FileArgs(GetParam())) args.push_back(a);
  CliRun run = RunBrood(args);
  ASSERT_EQ(run.exit_code, 0) << run.err;

  std::map<std::string, json> results;
  std::ifstream in(out_path);
  for (std::string line; std::getline(in, line);) {
    EXPECT_TRUE(ValidResult(line));
    json r = json::parse(line);
    results[r["id"].is_string() ? r["id"].get<std::string>() : ""] = r;  // null for a bad id
  }
  for (const auto& c : cases) {
    std::string id = c.job.value("id", "");
    auto it = results.find(id);
    if (it == results.end()) {
      ADD_FAILURE() << id << " (line " << c.line << "): no result";
      continue;
    }
    EXPECT_EQ(it->second.dump().find(sentinels.placeholders().secret), std::string::npos)
        << id << " read the host's canary file";
    // The canary, escape and leftover checks hold for every case; only `want` may depend on the
    // host (hostile_case.hpp, "requires"), and the runner says when it did.
    std::string note;
    const json* want = WantHere(c, HostHas, &note);
    if (!note.empty()) std::cout << "[ HOST     ] " << id << ": " << note << std::endl;
    if (!want) continue;
    std::string wrong = CheckResult(*want, it->second);
    std::string shown = it->second.dump();
    if (shown.size() > 1500) shown = shown.substr(0, 1500) + "...";
    EXPECT_EQ(wrong, "") << id << " (line " << c.line << ", " << c.why << ")\n  result: " << shown;
  }

  // The host afterwards.
  EXPECT_EQ(sentinels.connections(), 0) << "a task reached a service on the host's loopback";
  EXPECT_EQ(Slurp(sentinels.placeholders().canary_path), sentinels.placeholders().secret + "\n");
  for (const auto& path : EscapeTargets(sentinels.canary_dir())) {
    EXPECT_NE(access(path.c_str(), F_OK), 0) << "a task wrote " << path << " on the host";
    unlink(path.c_str());
  }
  EXPECT_EQ(DescendantsOf(getpid()), before) << "processes outlived brood";
  EXPECT_TRUE(BroodTreeDirs(run.pid).empty()) << "brood left its cgroup tree";
  EXPECT_EQ(MountCount(), mounts_before) << "the host's mount table changed";
  unlink(out_path.c_str());
  unlink(jobs_path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Cases, Hostile, ::testing::ValuesIn(CaseFiles()),
                         [](const auto& info) { return Stem(info.param); });

TEST(HostileSuite, HasAtLeast150DistinctDocumentedAttempts) {
  Placeholders ph;
  std::vector<std::string> errors;
  std::set<std::string> ids;
  size_t total = 0;
  for (const auto& file : CaseFiles()) {
    for (const auto& c : LoadCases(file, ph, &errors)) {
      ++total;
      std::string id = c.job.value("id", "");
      EXPECT_TRUE(ids.insert(id).second) << "duplicate id " << id << " in " << file;
      EXPECT_GE(c.why.size(), 10u) << id << ": say what it attempts";
    }
  }
  for (const auto& e : errors) ADD_FAILURE() << e;
  EXPECT_GE(total, 150u);
}

}  // namespace
}  // namespace brood::testing
