// Nothing outlives brood: after SIGTERM nothing is left; after SIGKILL every helper and task dies
// with it (parent-death signals), and the next brood removes the cgroup tree left behind.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "support/cli.hpp"
#include "support/procs.hpp"

namespace brood::testing {
namespace {

bool Alive(int pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

// Starts `brood run` on jobs that sleep, and waits until tasks are running.
int StartBusyRun(std::vector<int>* helpers) {
  std::string jobs;
  for (int i = 0; i < 20; ++i)
    jobs += nlohmann::json{{"id", "f" + std::to_string(i)}, {"shell", "sleep 30"}}.dump() + "\n";
  std::string path = TempFile("jobs.jsonl", jobs);
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(BROOD_BIN, BROOD_BIN, "run", path.c_str(), "-o", (path + ".out").c_str(), "-j", "2",
          nullptr);
    _exit(98);
  }
  for (int i = 0; i < 500 && helpers->size() < 6; ++i) {  // hatchery, zygotes, inits, tasks
    usleep(10 * 1000);
    *helpers = DescendantsOf(pid);
  }
  return pid;
}

TEST(Faults, SigkillOfBroodTakesEveryHelperAndTaskWithIt) {
  std::vector<int> helpers;
  int pid = StartBusyRun(&helpers);
  ASSERT_GE(helpers.size(), 6u) << "hatchery, 2 zygotes, 2 inits, 2 tasks expected";
  ASSERT_FALSE(BroodTreeDirs(pid).empty()) << "brood made its cgroup tree";
  kill(pid, SIGKILL);
  int st;
  waitpid(pid, &st, 0);
  std::vector<int> alive;
  for (int i = 0; i < 300; ++i) {  // parent-death signals are immediate; allow 3 s for exits
    alive.clear();
    for (int h : helpers)
      if (Alive(h)) alive.push_back(h);
    if (alive.empty()) break;
    usleep(10 * 1000);
  }
  EXPECT_TRUE(alive.empty()) << alive.size() << " helper or task processes outlived brood";
  auto stale = BroodTreeDirs(pid);
  EXPECT_FALSE(stale.empty()) << "a SIGKILLed brood cannot clean up: its tree stays";
  // The next brood removes the tree of the dead one.
  CliRun next = RunBrood({"exec", "--", "true"});
  EXPECT_EQ(next.exit_code, 0) << next.err;
  for (const auto& dir : stale) EXPECT_NE(access(dir.c_str(), F_OK), 0) << dir << " is still there";
}

TEST(Faults, SigtermLeavesNothingBehind) {
  std::vector<int> helpers;
  int pid = StartBusyRun(&helpers);
  ASSERT_GE(helpers.size(), 6u);
  kill(pid, SIGTERM);  // running tasks get 5 s, then are killed
  int st;
  waitpid(pid, &st, 0);
  EXPECT_TRUE(WIFEXITED(st));
  for (int h : helpers) EXPECT_FALSE(Alive(h)) << "pid " << h << " outlived brood";
  EXPECT_TRUE(BroodTreeDirs(pid).empty()) << "brood removes its cgroup tree when it stops";
}

}  // namespace
}  // namespace brood::testing
