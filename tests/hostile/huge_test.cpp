// Hostile job lines that cannot live in a cases file: lines of 64 MiB and more (generated here,
// never committed), JSON nested a million deep (the runner's own JSON dump would recurse), and an
// id too long to be reported under (its result has no id to match a case by).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/cli.hpp"

namespace brood::testing {
namespace {

using nlohmann::json;

constexpr long kMiB = 1 << 20;

// Writes `pieces` to a new file, a piece at a time (some are generated, many MiB long).
class JobFile {
 public:
  JobFile() : path_(TempFile("huge.jsonl", "")) { out_.open(path_, std::ios::binary); }
  ~JobFile() {
    unlink(path_.c_str());
    unlink((path_ + ".results").c_str());
    rmdir(path_.substr(0, path_.rfind('/')).c_str());
  }
  JobFile& operator<<(const std::string& s) {
    out_ << s;
    return *this;
  }
  // `n` bytes of 'x', a MiB at a time.
  JobFile& Fill(long n) {
    const std::string mib(kMiB, 'x');
    for (; n >= kMiB; n -= kMiB) out_ << mib;
    out_ << std::string(n, 'x');
    return *this;
  }
  const std::string& path() {
    out_.flush();
    return path_;
  }

 private:
  std::string path_;
  std::ofstream out_;
};

struct BroodRun {
  int exit_code = -1;
  long max_rss_kib = 0;
  std::vector<json> results;  // in the order written
};

// `brood run FILE -o FILE.results -j 2`, with brood's own peak memory (wait4's rusage).
BroodRun RunWithRusage(const std::string& jobs) {
  BroodRun r;
  const std::string results = jobs + ".results";
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    dup2(null, 0);
    dup2(null, 2);
    execl(BROOD_BIN, BROOD_BIN, "run", jobs.c_str(), "-o", results.c_str(), "-j", "2", nullptr);
    _exit(98);
  }
  int status = 0;
  rusage ru{};
  if (pid < 0 || wait4(pid, &status, 0, &ru) != pid) return r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.max_rss_kib = ru.ru_maxrss;
  std::ifstream in(results);
  for (std::string line; std::getline(in, line);) r.results.push_back(json::parse(line));
  return r;
}

const json* Find(const BroodRun& r, const json& id) {
  for (const auto& x : r.results)
    if (x.value("id", json()) == id) return &x;
  return nullptr;
}

// A line of exactly `bytes` (newline not counted) holding one job whose file `big` fills it;
// returns the size of `big`.
long SizedLine(JobFile& f, const std::string& id, long bytes) {
  const std::string head =
      R"({"id": ")" + id + R"(", "cmd": ["wc", "-c", "big"], "files": {"big": ")";
  const std::string tail = R"("}})";
  const long big = bytes - static_cast<long>(head.size() + tail.size());
  f << head;
  f.Fill(big);
  f << tail << "\n";
  return big;
}

TEST(HugeJobLines, SixtyFourMebibytesIsTheLastLineThatRuns) {
  JobFile f;
  const long big = SizedLine(f, "huge/64mib", 64 * kMiB);
  SizedLine(f, "huge/64mib-plus-1", 64 * kMiB + 1);
  f << R"({"id": "huge/after", "cmd": ["echo", "after"]})"
    << "\n";
  BroodRun r = RunWithRusage(f.path());
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.results.size(), 3u);
  const json* at = Find(r, "huge/64mib");
  ASSERT_NE(at, nullptr);
  EXPECT_EQ((*at)["status"], "ok") << at->dump().substr(0, 500);
  EXPECT_EQ((*at)["stdout"], std::to_string(big) + " big\n");
  const json* over = Find(r, nullptr);  // too long to read an id from
  ASSERT_NE(over, nullptr);
  EXPECT_EQ((*over)["status"], "invalid_job");
  EXPECT_EQ((*over)["line"], 2);
  EXPECT_NE((*over)["error"].get<std::string>().find("64 MiB"), std::string::npos) << over->dump();
  const json* after = Find(r, "huge/after");
  ASSERT_NE(after, nullptr);
  EXPECT_EQ((*after)["stdout"], "after\n");
}

TEST(HugeJobLines, A300MebibyteLineIsRejectedWithoutBeingHeld) {
  JobFile f;
  f << R"({"id": "huge/before", "cmd": ["true"]})"
    << "\n";
  SizedLine(f, "huge/300mib", 300 * kMiB);
  f << R"({"id": "huge/after", "cmd": ["echo", "after"]})"
    << "\n";
  BroodRun r = RunWithRusage(f.path());
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.results.size(), 3u);
  const json* over = Find(r, nullptr);
  ASSERT_NE(over, nullptr);
  EXPECT_EQ((*over)["status"], "invalid_job");
  EXPECT_EQ((*over)["line"], 2);
  ASSERT_NE(Find(r, "huge/before"), nullptr);
  EXPECT_EQ((*Find(r, "huge/before"))["status"], "ok");
  ASSERT_NE(Find(r, "huge/after"), nullptr);
  EXPECT_EQ((*Find(r, "huge/after"))["stdout"], "after\n");
  // brood read past the line instead of holding it (measured: 137 MiB for any line over 64 MiB).
  EXPECT_LT(r.max_rss_kib, 256 * 1024) << "brood's peak memory, KiB";
}

TEST(HugeJobLines, NestingAMillionDeepIsInvalid) {
  JobFile f;
  const long depth = 1000000;
  f << R"({"id": "huge/deep-1m", "cmd": ["true"], "env": {"A": )";
  f << std::string(depth, '[') << std::string(depth, ']') << "}}\n";
  f << R"({"id": "huge/deep-1m-unknown", "cmd": ["true"], "nested": )";
  std::string open_objects;
  for (long i = 0; i < depth; ++i) open_objects += R"({"a": )";
  f << open_objects << "1" << std::string(depth, '}') << "}\n";
  f << R"({"id": "huge/after", "cmd": ["echo", "after"]})"
    << "\n";
  BroodRun r = RunWithRusage(f.path());
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.results.size(), 3u);
  for (const char* id : {"huge/deep-1m", "huge/deep-1m-unknown"}) {
    const json* x = Find(r, id);
    ASSERT_NE(x, nullptr) << id;
    EXPECT_EQ((*x)["status"], "invalid_job") << x->dump();
  }
  EXPECT_EQ((*Find(r, "huge/deep-1m"))["error"], R"(env: "A": expected a string, got an array)");
  ASSERT_NE(Find(r, "huge/after"), nullptr);
  EXPECT_EQ((*Find(r, "huge/after"))["status"], "ok");
}

TEST(HugeJobLines, AnIdOverTheMaximumIsInvalidAndNamesItsLine) {
  JobFile f;
  f << json{{"id", std::string(1024, 'i')}, {"cmd", {"true"}}}.dump() << "\n";
  f << json{{"id", std::string(1025, 'i')}, {"cmd", {"true"}}}.dump() << "\n";
  BroodRun r = RunWithRusage(f.path());
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.results.size(), 2u);
  const json* ok = Find(r, std::string(1024, 'i'));
  ASSERT_NE(ok, nullptr);
  EXPECT_EQ((*ok)["status"], "ok");
  const json* over = Find(r, nullptr);
  ASSERT_NE(over, nullptr);
  EXPECT_EQ((*over)["status"], "invalid_job");
  EXPECT_EQ((*over)["line"], 2);
  EXPECT_EQ((*over)["error"], "id: longer than 1024 characters");
}

}  // namespace
}  // namespace brood::testing
