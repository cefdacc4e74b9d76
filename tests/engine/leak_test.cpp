// After many tasks nothing is left behind: no process, mount, cgroup or fd.
#include <dirent.h>

#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "support/procs.hpp"
#include "support/sandbox_env.hpp"

namespace brood::testing {
namespace {

int CountEntries(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

// This process's threads, less io_uring's workers (iou-wrk-*, iou-sqp-*): the kernel starts
// them for blocking ops and ends them when idle, so they come and go (on 6.1, which hands pipe
// reads to them, several at a time: seen under tools/v2vm).
int CountThreads() {
  DIR* d = opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string name;
    std::getline(comm, name);
    n += name.rfind("iou-", 0) != 0;
  }
  closedir(d);
  return n;
}

// The leak check below must be able to fail: while a task runs, it sees its processes.
TEST(Leaks, DescendantCheckSeesARunningTask) {
  BROOD_ENGINE_OR_SKIP(engine);
  std::promise<Result> done;
  std::thread submitter([&] {
    engine->Submit(CmdJob({"sh", "-c", "sleep 2"}), [&](Result r) { done.set_value(r); });
  });
  size_t seen = 0;
  for (int i = 0; i < 200 && seen < 2; ++i) {  // until the task is up (bounded: 2 s)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    seen = SandboxDescendants().size();
  }
  submitter.join();
  EXPECT_GE(seen, 2u) << "init, sh (and sleep)";
  EXPECT_EQ(done.get_future().get().status, TaskStatus::kOk);
  EXPECT_TRUE(SandboxDescendants().empty());
}

TEST(Leaks, TwoHundredTasksLeaveNothing) {
  BROOD_ENGINE_OR_SKIP(engine);
  // Warm up once so lazily created things (the reactor's buffers, the tree) exist before.
  ASSERT_EQ(RunChecked(engine, CmdJob({"true"})).status, TaskStatus::kOk);
  const int fds_before = CountEntries("/proc/self/fd");
  const int mounts_before = CountLines("/proc/self/mountinfo");
  const int tasks_before = CountThreads();
  std::vector<int> groups_before;
  for (const auto& dir : BroodTreeDirs(getpid())) groups_before.push_back(CgroupChildren(dir));

  for (int i = 0; i < 200; ++i) {
    Job job = i % 4 == 0 ? CmdJob({"sh", "-c", "sleep 100 & (setsid sleep 100 &); echo $$"})
                         : CmdJob({"sh", "-c", "echo $$"});
    job.limits.wall_ms = 2000;
    Result r = engine->Run(job);
    if (i % 4 == 0) {
      // The main process exits at once; its background children die with the namespace.
      ASSERT_EQ(r.status, TaskStatus::kOk) << i << ": " << r.error.value_or("") << r.stderr_data;
    } else {
      ASSERT_EQ(r.status, TaskStatus::kOk) << i << ": " << r.error.value_or("");
    }
  }
  EXPECT_TRUE(SandboxDescendants().empty()) << "a sandbox process survived";
  EXPECT_EQ(CountEntries("/proc/self/fd"), fds_before) << "fds leaked";
  EXPECT_EQ(CountLines("/proc/self/mountinfo"), mounts_before) << "mounts leaked";
  EXPECT_EQ(CountThreads(), tasks_before) << "threads leaked";
  auto trees = BroodTreeDirs(getpid());
  if (engine->Info().enforcement != Enforcement::kRlimit) {
    EXPECT_FALSE(trees.empty());
  }
  // One cgroup per slot, made with the pool and reused: no more after 200 tasks than before.
  for (size_t i = 0; i < trees.size() && i < groups_before.size(); ++i)
    EXPECT_EQ(CgroupChildren(trees[i]), groups_before[i]) << trees[i] << ": cgroups leaked";
}

}  // namespace
}  // namespace brood::testing
