// `brood run` streams: memory does not grow with the number of jobs beyond the set of ids
// (docs/cli.md: ~64 bytes per job). Measured as peak RSS of brood for 10,000 and 100,000 jobs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iostream>

#include "support/cli.hpp"

namespace brood::testing {
namespace {

// Peak RSS (bytes) of `brood run JOBS -o RESULTS --resume -j 2`.
long PeakRss(const std::string& jobs, const std::string& results) {
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 2);
    execl(BROOD_BIN, BROOD_BIN, "run", jobs.c_str(), "-o", results.c_str(), "--resume", "-j", "2",
          nullptr);
    _exit(98);
  }
  int st = 0;
  rusage ru{};
  wait4(pid, &st, 0, &ru);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  return ru.ru_maxrss * 1024;
}

// n jobs; every 50th really runs, the others are already in the results file (--resume skips
// them after parsing, as after an interrupted run), so the whole stream path is exercised.
std::pair<std::string, std::string> Files(int n) {
  std::string dir = TempFile("x", "");
  dir = dir.substr(0, dir.rfind('/'));
  std::ofstream jobs(dir + "/jobs.jsonl"), results(dir + "/results.jsonl");
  for (int i = 0; i < n; ++i) {
    std::string id = "job/" + std::to_string(i);
    jobs << R"({"id": ")" << id << R"(", "cmd": ["true"], "limits": {"wall_ms": 5000}})"
         << "\n";
    if (i % 50 != 0)
      results << R"({"id": ")" << id << R"(", "status": "ok", "error": null})"
              << "\n";
  }
  return {dir + "/jobs.jsonl", dir + "/results.jsonl"};
}

TEST(Stream, MemoryStaysFlatOverAHundredThousandJobs) {
  auto [jobs10k, results10k] = Files(10000);
  auto [jobs100k, results100k] = Files(100000);
  long small = PeakRss(jobs10k, results10k);
  long large = PeakRss(jobs100k, results100k);
  const double per_job = static_cast<double>(large - small) / 90000;
  RecordProperty("peak_rss_10k", std::to_string(small));
  RecordProperty("peak_rss_100k", std::to_string(large));
  std::cout << "peak RSS: 10k jobs " << small / 1024 << " KiB, 100k jobs " << large / 1024
            << " KiB, " << per_job << " bytes per extra job\n";
  // Only the key set (ids for duplicates, --resume keys) may grow.
  EXPECT_LT(per_job, 64.0) << "docs/cli.md: at most ~64 bytes per job";
  EXPECT_LT(large, 150L << 20);
}

}  // namespace
}  // namespace brood::testing
