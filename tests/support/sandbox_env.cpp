#include "support/sandbox_env.hpp"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include "support/procs.hpp"
#include "support/schema.hpp"

namespace brood::testing {
namespace {
std::mutex mu;
std::string engine_error;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

const std::string& EngineError() { return engine_error; }

Engine* SharedEngine(OnViolation on_violation) {
  static std::map<OnViolation, std::unique_ptr<Engine>>* engines =
      new std::map<OnViolation, std::unique_ptr<Engine>>();  // never destroyed: lives to exit
  std::lock_guard lock(mu);
  auto it = engines->find(on_violation);
  if (it != engines->end()) return it->second.get();
  EngineOptions opts;
  opts.on_violation = on_violation;
  // Run by an ordinary user without a delegated cgroup, the tests still check isolation; the
  // ones that need cgroup limits skip, saying so.
  opts.allow_no_cgroups = geteuid() != 0;
  auto e = Engine::Create(opts, &engine_error);
  Engine* raw = e.get();
  (*engines)[on_violation] = std::move(e);
  return raw;
}

std::unique_ptr<Engine> MakeEngine(int slots) {
  EngineOptions o;
  o.slots = slots;
  return MakeEngine(o);
}

std::unique_ptr<Engine> MakeEngine(EngineOptions o) {
  o.allow_no_cgroups = geteuid() != 0;
  std::string error;
  auto e = Engine::Create(o, &error);
  EXPECT_TRUE(e) << error;
  return e;
}

Job ProbeJob(std::vector<std::string> args) {
  static const std::string probe = ReadFile(BROOD_PROBE);
  Job job;
  job.id = "probe";
  job.files["probe"] = probe;
  job.argv = {"./probe"};
  job.argv.insert(job.argv.end(), args.begin(), args.end());
  job.limits.wall_ms = 20000;
  return job;
}

Job CmdJob(std::vector<std::string> argv) {
  Job job;
  job.id = "cmd";
  job.argv = std::move(argv);
  job.limits.wall_ms = 20000;
  return job;
}

Result RunChecked(Engine* engine, const Job& job) {
  Result r = engine->Run(job);
  EXPECT_TRUE(ValidResult(ResultToJson(r)));
  return r;
}

std::vector<int> SandboxDescendants() {
  std::vector<int> out;
  for (int pid : DescendantsOf(getpid(), 4)) {
    // a zygote's init, waiting for its task, and the zygote's parkers, which clone its inits
    if (Comm(pid) != "brood-parked" && Comm(pid) != "brood-parker") out.push_back(pid);
  }
  return out;
}

}  // namespace brood::testing
