// A zygote parks the next task's init ahead of demand (sandbox/task.hpp ParkInit): the task then
// runs under an init that existed before the job was submitted, and the zygote parks another.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/procs.hpp"
#include "support/sandbox_env.hpp"

namespace brood {
namespace {

using testing::CmdJob;
using testing::DescendantsOf;
using testing::MakeEngine;

std::string Comm(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

// Field 22 of /proc/PID/stat (the start time in clock ticks since boot): what tells a process
// apart from a later one with the same pid. The same figure inside a pid namespace.
std::string StartTime(const std::string& stat) {
  auto close = stat.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
  }
  return field;
}

std::string StartTimeOf(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  return StartTime(stat);
}

// A parked init below `root` other than `not_pid`, once there is one (bounded: 10 s).
int WaitParked(int root, int not_pid = 0) {
  for (int i = 0; i < 1000; ++i) {
    for (int pid : DescendantsOf(root))
      if (pid != not_pid && Comm(pid) == "brood-parked") return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

TEST(Park, TheTaskRunsInTheInitParkedBeforeItAndAnotherIsParkedAfter) {
  EngineOptions o;
  o.slots = 1;
  // This engine's processes are below its nest (other tests' engines keep inits parked too).
  const std::vector<int> before = DescendantsOf(getpid());
  auto engine = MakeEngine(o);
  ASSERT_TRUE(engine);
  int nest = 0;
  for (int pid : DescendantsOf(getpid()))
    if (std::find(before.begin(), before.end(), pid) == before.end() && Comm(pid) == "brood-nest")
      nest = pid;
  ASSERT_NE(nest, 0) << "no brood-nest of the new engine";
  // The slot's zygote parks from its second task on (engine.md).
  for (int i = 0; i < 2; ++i) ASSERT_EQ(engine->Run(CmdJob({"true"})).status, TaskStatus::kOk);

  const int parked = WaitParked(nest);
  ASSERT_NE(parked, 0) << "no parked init below the engine";
  const std::string parked_start = StartTimeOf(parked);
  ASSERT_FALSE(parked_start.empty());

  // pid 1 of the task's namespace is that process: same start time.
  Result r = engine->Run(CmdJob({"cat", "/proc/1/stat"}));
  ASSERT_EQ(r.status, TaskStatus::kOk) << r.stderr_data;
  EXPECT_EQ(StartTime(r.stdout_data), parked_start) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("(brood-init)"), std::string::npos) << r.stdout_data;

  // It is gone with its task, and the zygote has parked the next one.
  const int next = WaitParked(nest, parked);
  EXPECT_NE(next, 0) << "no new parked init after the task";
  EXPECT_TRUE(StartTimeOf(parked) != parked_start) << "the used init outlived its task";
}

}  // namespace
}  // namespace brood
