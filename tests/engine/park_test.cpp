// A zygote parks the next task's init ahead of demand (sandbox/task.hpp ParkInit): the task then
// runs under an init that existed before the job was submitted, and the zygote parks another.
#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "support/procs.hpp"
#include "support/sandbox_env.hpp"

namespace brood {
namespace {

using testing::CmdJob;
using testing::DescendantsOf;
using testing::MakeEngine;

using testing::Comm;
using testing::StatField;
using testing::StatFieldOf;

// Field 22 of /proc/PID/stat: the start time in clock ticks since boot, what tells a process
// apart from a later one with the same pid; the same figure inside a pid namespace.
constexpr int kStartTime = 22;
constexpr int kParent = 4;

// A parked init below `root` other than `not_pid`, once there is one (bounded: 10 s).
int WaitParked(int root, int not_pid = 0) {
  for (int i = 0; i < 1000; ++i) {
    for (int pid : DescendantsOf(root))
      if (pid != not_pid && Comm(pid) == "brood-parked") return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

// A one-slot engine and its nest: its processes are below it (other tests' engines keep inits
// parked too).
std::unique_ptr<Engine> OneSlotEngine(int* nest) {
  EngineOptions o;
  o.slots = 1;
  const std::vector<int> before = DescendantsOf(getpid());
  auto engine = MakeEngine(o);
  *nest = 0;
  for (int pid : DescendantsOf(getpid()))
    if (std::find(before.begin(), before.end(), pid) == before.end() && Comm(pid) == "brood-nest")
      *nest = pid;
  return engine;
}

// How many pipes `pid` holds open beyond its stdio (init's is brood's own, a pipe under ctest).
int PipesOf(int pid) {
  int n = 0;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  for (int fd = 3; fd < 64; ++fd) {
    char target[256];
    const ssize_t len =
        readlink((dir + "/" + std::to_string(fd)).c_str(), target, sizeof target - 1);
    if (len > 0 && std::string(target, len).rfind("pipe:", 0) == 0) ++n;
  }
  return n;
}

TEST(Park, TheTaskRunsInTheInitParkedBeforeItAndAnotherIsParkedAfter) {
  int nest = 0;
  auto engine = OneSlotEngine(&nest);
  ASSERT_TRUE(engine);
  ASSERT_NE(nest, 0) << "no brood-nest of the new engine";
  // The slot's zygote parks from its second task on (engine.md).
  for (int i = 0; i < 2; ++i) ASSERT_EQ(engine->Run(CmdJob({"true"})).status, TaskStatus::kOk);

  const int parked = WaitParked(nest);
  ASSERT_NE(parked, 0) << "no parked init below the engine";
  const std::string parked_start = StatFieldOf(parked, kStartTime);
  ASSERT_FALSE(parked_start.empty());

  // pid 1 of the task's namespace is that process: same start time.
  Result r = engine->Run(CmdJob({"cat", "/proc/1/stat"}));
  ASSERT_EQ(r.status, TaskStatus::kOk) << r.stderr_data;
  EXPECT_EQ(StatField(r.stdout_data, kStartTime), parked_start) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("(brood-init)"), std::string::npos) << r.stdout_data;

  // It is gone with its task, and the zygote has parked the next one.
  const int next = WaitParked(nest, parked);
  EXPECT_NE(next, 0) << "no new parked init after the task";
  EXPECT_TRUE(StatFieldOf(parked, kStartTime) != parked_start) << "the used init outlived its task";
}

// An init holds none of its task's pipes, only its report pipe: the task's stdout and stderr see
// EOF when the task's processes are gone, not when init has also emptied the workspace. The
// zygote's first tasks get an init parked while the zygote holds their RUN request's fds.
TEST(Park, AnInitKeepsOnlyItsReportPipe) {
  int nest = 0;
  auto engine = OneSlotEngine(&nest);
  ASSERT_TRUE(engine);
  ASSERT_NE(nest, 0) << "no brood-nest of the new engine";
  for (int task = 0; task < 3; ++task) {
    int in[2];
    ASSERT_EQ(pipe(in), 0);
    Job job = CmdJob({"cat"});
    job.stdin_fd = in[0];
    std::promise<Result> done;
    ASSERT_TRUE(engine->Submit(job, [&](Result r) { done.set_value(std::move(r)); }).ok());
    int init = 0;
    for (int i = 0; i < 1000 && !init; ++i) {  // until the task is up (bounded: 10 s)
      for (int pid : DescendantsOf(nest))
        if (Comm(pid) == "cat") init = atoi(StatFieldOf(pid, kParent).c_str());  // its parent
      if (!init) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_NE(init, 0) << "task " << task << " never ran";
    // Init holds the task's pipes until its main process has started (then it closes its
    // copies): wait for that, bounded (10 s), while cat waits for its stdin to end.
    int pipes = init ? PipesOf(init) : 0;
    for (int i = 0; i < 1000 && init && pipes != 1; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      pipes = PipesOf(init);
    }
    if (init) {
      EXPECT_EQ(pipes, 1) << "task " << task << ": init holds its task's pipes";
    }
    close(in[1]);  // cat ends
    Result r = done.get_future().get();
    EXPECT_EQ(r.status, TaskStatus::kOk) << r.stderr_data;
    close(in[0]);
  }
}

// The parkers below `root` (engine/zygote/parker.hpp), each with its start time.
std::set<std::pair<int, std::string>> Parkers(int root) {
  std::set<std::pair<int, std::string>> out;
  for (int pid : DescendantsOf(root))
    if (Comm(pid) == "brood-parker") out.insert({pid, StatFieldOf(pid, kStartTime)});
  return out;
}

// RssAnon of `pid` in KiB (its heap, stacks and other private memory; not the binary's pages,
// which differ with the build), or -1.
long AnonKib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("RssAnon:", 0) == 0) return atol(line.c_str() + 8);
  return -1;
}

// A parked init is the child of a parker and shares its memory (no page tables of its own), and
// the parkers outlive the tasks: a few serve every task of the slot.
TEST(Park, InitsShareTheirParkersMemoryAndParkersServeTaskAfterTask) {
  int nest = 0;
  auto engine = OneSlotEngine(&nest);
  ASSERT_TRUE(engine);
  ASSERT_NE(nest, 0) << "no brood-nest of the new engine";
  for (int i = 0; i < 3; ++i) ASSERT_EQ(engine->Run(CmdJob({"true"})).status, TaskStatus::kOk);
  const int parked = WaitParked(nest);
  ASSERT_NE(parked, 0) << "no parked init below the engine";
  const int parker = atoi(StatFieldOf(parked, kParent).c_str());
  EXPECT_EQ(Comm(parker), "brood-parker");
  const long same = syscall(SYS_kcmp, parked, parker, KCMP_VM, 0, 0);
  if (same < 0 && (errno == ENOSYS || errno == EPERM)) {
    std::cerr << "kcmp(KCMP_VM) unavailable here (" << strerror(errno)
              << "): the shared memory is not checked\n";
  } else {
    EXPECT_EQ(same, 0) << "the parked init has memory of its own";
  }

  const auto first = Parkers(nest);
  ASSERT_FALSE(first.empty());
  EXPECT_LE(first.size(), 3u);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(engine->Run(CmdJob({"true"})).status, TaskStatus::kOk);
  const auto after = Parkers(nest);
  EXPECT_LE(after.size(), 3u);
  for (const auto& p : first)
    EXPECT_TRUE(after.count(p)) << "parker " << p.first << " did not last through the tasks";
}

// Inits free their task's spec before they exit: a parker's memory does not grow with the
// tasks it served, nor does it retire for that (each spec here carries a 256 KiB file).
TEST(Park, ParkersKeepNothingOfTheirInitsTasks) {
  int nest = 0;
  auto engine = OneSlotEngine(&nest);
  ASSERT_TRUE(engine);
  ASSERT_NE(nest, 0) << "no brood-nest of the new engine";
  Job job = CmdJob({"true"});
  job.files["f"] = std::string(256 << 10, 'x');
  for (int i = 0; i < 6; ++i) ASSERT_EQ(engine->Run(job).status, TaskStatus::kOk);
  const auto first = Parkers(nest);
  ASSERT_FALSE(first.empty());
  // What a parker holds to begin with depends on the process it was forked from (the test
  // binary's heap, shared copy-on-write): only its growth tells.
  std::map<int, long> anon;
  for (const auto& p : first) anon[p.first] = AnonKib(p.first);
  for (int i = 0; i < 150; ++i) ASSERT_EQ(engine->Run(job).status, TaskStatus::kOk);
  const auto after = Parkers(nest);
  for (const auto& p : first) {
    EXPECT_TRUE(after.count(p)) << "parker " << p.first << " retired";
    // 150 specs of 256 KiB kept twice (read and decoded) would be ~19-38 MiB per parker.
    EXPECT_LT(AnonKib(p.first) - anon[p.first], 8 << 10)
        << "parker " << p.first << " from " << anon[p.first] << " KiB";
  }
}

// An init that was killed may have left its parker's heap midway through a change: that parker
// retires, and the slot goes on with another.
TEST(Park, AParkerWhoseInitWasKilledRetires) {
  int nest = 0;
  auto engine = OneSlotEngine(&nest);
  ASSERT_TRUE(engine);
  ASSERT_NE(nest, 0) << "no brood-nest of the new engine";
  for (int i = 0; i < 3; ++i) ASSERT_EQ(engine->Run(CmdJob({"true"})).status, TaskStatus::kOk);
  Job slow = CmdJob({"sleep", "30"});
  slow.limits.wall_ms = 1000;
  std::promise<Result> done;
  ASSERT_TRUE(engine->Submit(slow, [&](Result r) { done.set_value(std::move(r)); }).ok());
  int parker = 0;
  for (int i = 0; i < 1000 && !parker; ++i) {  // until the task is up (bounded: 10 s)
    for (int pid : DescendantsOf(nest))
      if (Comm(pid) == "sleep") {
        const int init = atoi(StatFieldOf(pid, kParent).c_str());
        parker = atoi(StatFieldOf(init, kParent).c_str());
      }
    if (!parker) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_NE(parker, 0) << "the task never ran";
  ASSERT_EQ(Comm(parker), "brood-parker");
  const std::string started = StatFieldOf(parker, kStartTime);
  EXPECT_EQ(done.get_future().get().status, TaskStatus::kTimeout);
  bool gone = false;
  for (int i = 0; i < 1000 && !gone; ++i) {  // bounded: 10 s
    gone = StatFieldOf(parker, kStartTime) != started;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone) << "the parker of a killed init lives on";
  for (int i = 0; i < 5; ++i) EXPECT_EQ(engine->Run(CmdJob({"true"})).status, TaskStatus::kOk);
}

}  // namespace
}  // namespace brood
