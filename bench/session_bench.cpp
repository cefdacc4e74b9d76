// Sessions through the engine API (brood/session.hpp), against the spawn floor in the same run:
//  - BM_SessionExec: one command (/bin/true) in a live session, request to result: the part of
//    `POST /v1/sessions/{id}/exec` that is not HTTP (bench/serve measures the round trip).
//  - BM_SpawnTrue: posix_spawn + wait of /bin/true, no sandbox: the floor.
//  - BM_SessionLifecycle: create a session, run one command in it, close it: what an agent pays
//    per sandbox; after the last iteration nothing of them may be left (counter left_procs).
//  - BM_IdleSession: the memory an idle session costs: the PSS of brood's processes (zygote and
//    init) per session, and MemAvailable's drop per session (kernel objects included: the
//    namespaces, the workspace disk's loop device and ext4, the cgroups).
// Each reports p50/p99 in µs (or the figures above) as counters.
#include <benchmark/benchmark.h>
#include <dirent.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "brood/engine.hpp"

extern char** environ;

namespace brood {
namespace {

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

void Report(benchmark::State& state, const std::vector<double>& us) {
  state.counters["p50_us"] = Pct(us, 0.50);
  state.counters["p99_us"] = Pct(us, 0.99);
}

double NowUs() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<Engine> MakeEngine(int max_sessions) {
  EngineOptions o;
  o.slots = 1;
  o.max_sessions = max_sessions;
  std::string error;
  auto e = Engine::Create(o, &error);
  if (!e) fprintf(stderr, "engine: %s\n", error.c_str());
  return e;
}

void BM_SessionExec(benchmark::State& state) {
  auto engine = MakeEngine(1);
  SessionError err;
  auto s = engine ? engine->CreateSession({}, &err) : nullptr;
  if (!s) return state.SkipWithError(("session: " + err.message).c_str());
  ExecOptions x;
  x.argv = {"/bin/true"};
  for (int i = 0; i < 20; ++i) s->Exec(x);  // warm: leaves, page cache
  std::vector<double> us;
  for (auto _ : state) {
    const double t0 = NowUs();
    Result r = s->Exec(x);
    us.push_back(NowUs() - t0);
    if (r.status != TaskStatus::kOk) return state.SkipWithError("exec failed");
  }
  Report(state, us);
}
BENCHMARK(BM_SessionExec)->UseRealTime()->Unit(benchmark::kMicrosecond)->Iterations(2000);

void BM_SpawnTrue(benchmark::State& state) {
  std::vector<double> us;
  char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
  for (auto _ : state) {
    const double t0 = NowUs();
    pid_t pid;
    if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv, environ) != 0)
      return state.SkipWithError("posix_spawn");
    waitpid(pid, nullptr, 0);
    us.push_back(NowUs() - t0);
  }
  Report(state, us);
}
BENCHMARK(BM_SpawnTrue)->UseRealTime()->Unit(benchmark::kMicrosecond)->Iterations(2000);

// Processes below this one (the nest, the hatchery, zygotes, inits, commands).
std::vector<int> Descendants() {
  std::vector<int> out, frontier = {getpid()};
  while (!frontier.empty()) {
    const int p = frontier.back();
    frontier.pop_back();
    std::ifstream in("/proc/" + std::to_string(p) + "/task/" + std::to_string(p) + "/children");
    for (int c; in >> c;) {
      out.push_back(c);
      frontier.push_back(c);
    }
  }
  return out;
}

void BM_SessionLifecycle(benchmark::State& state) {
  auto engine = MakeEngine(1);
  if (!engine) return state.SkipWithError("engine");
  const size_t base = Descendants().size();
  std::vector<double> us;
  ExecOptions x;
  x.argv = {"/bin/true"};
  for (auto _ : state) {
    const double t0 = NowUs();
    SessionError err;
    auto s = engine->CreateSession({}, &err);
    if (!s) return state.SkipWithError(("session: " + err.message).c_str());
    if (s->Exec(x).status != TaskStatus::kOk) return state.SkipWithError("exec failed");
    s.reset();
    us.push_back(NowUs() - t0);
  }
  Report(state, us);
  state.counters["left_procs"] = static_cast<double>(Descendants().size() - base);
  state.counters["left_sessions"] = engine->Sessions();
}
BENCHMARK(BM_SessionLifecycle)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1000);

uint64_t PssKb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string key;
  uint64_t kb = 0;
  while (in >> key) {
    if (key == "Pss:") {
      in >> kb;
      return kb;
    }
  }
  return 0;
}

uint64_t MemAvailableKb() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  while (in >> key >> kb) {
    if (key == "MemAvailable:") return kb;
    in.ignore(64, '\n');
  }
  return 0;
}

void BM_IdleSession(benchmark::State& state) {
  constexpr int kSessions = 50;
  auto engine = MakeEngine(kSessions);
  if (!engine) return state.SkipWithError("engine");
  for (auto _ : state) {
    uint64_t pss0 = 0;
    for (int p : Descendants()) pss0 += PssKb(p);
    const uint64_t avail0 = MemAvailableKb();
    std::vector<std::unique_ptr<Session>> open;
    for (int i = 0; i < kSessions; ++i) {
      SessionError err;
      open.push_back(engine->CreateSession({}, &err));
      if (!open.back()) return state.SkipWithError(("session: " + err.message).c_str());
    }
    uint64_t pss1 = 0;
    for (int p : Descendants()) pss1 += PssKb(p);
    const uint64_t avail1 = MemAvailableKb();
    state.counters["pss_kb_per_session"] = static_cast<double>(pss1 - pss0) / kSessions;
    state.counters["memavail_kb_per_session"] =
        static_cast<double>(static_cast<int64_t>(avail0) - static_cast<int64_t>(avail1)) /
        kSessions;
  }
}
BENCHMARK(BM_IdleSession)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
}  // namespace brood
