// What the sandbox's two layers under the namespaces cost each task: loading the seccomp program
// (one seccomp(2) call, the allow-list's ~430 instructions) and building and applying the Landlock
// ruleset (its per-path table, one landlock_add_rule per path). Both are made in each task's main
// process after fork, so each iteration forks a child that sets no_new_privs, times the step
// with CLOCK_MONOTONIC, and reports it through a pipe; the time is the child's (UseManualTime),
// not the fork's. Landlock needs a host with ABI >= 2; the benchmark says when it is missing.
#include <benchmark/benchmark.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>

#include "sandbox/landlock.hpp"
#include "sandbox/seccomp.hpp"

namespace {

int64_t NowNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

// Runs `step` in a forked child with no_new_privs; the nanoseconds it took, or -1 on failure.
template <typename Step>
int64_t TimeInChild(Step step) {
  int p[2];
  if (pipe(p) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    int64_t ns = -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0) {
      const int64_t t0 = NowNs();
      if (step() == 0) ns = NowNs() - t0;
    }
    (void)!write(p[1], &ns, sizeof ns);
    _exit(0);
  }
  close(p[1]);
  int64_t ns = -1;
  if (pid < 0 || read(p[0], &ns, sizeof ns) != sizeof ns) ns = -1;
  close(p[0]);
  if (pid > 0) waitpid(pid, nullptr, 0);
  return ns;
}

template <typename Step>
void Run(benchmark::State& state, Step step) {
  for (auto _ : state) {
    const int64_t ns = TimeInChild(step);
    if (ns < 0) {
      state.SkipWithError("the step failed in the child");
      return;
    }
    state.SetIterationTime(static_cast<double>(ns) / 1e9);
  }
}

void BM_LoadSeccompAllowList(benchmark::State& state) {
  auto prog = brood::sandbox::CompileTaskPolicy(brood::sandbox::ViolationAction::kErrno);
  if (!prog.ok()) {
    state.SkipWithError(prog.status().message().c_str());
    return;
  }
  const auto& p = prog.value();
  state.counters["instructions"] = static_cast<double>(p.insns.size());
  Run(state, [&] { return brood::sandbox::LoadSeccomp(p); });
}
BENCHMARK(BM_LoadSeccompAllowList)->UseManualTime()->Unit(benchmark::kMicrosecond);

void BM_ApplyLandlock(benchmark::State& state) {
  const int abi = brood::sandbox::LandlockAbi();
  if (abi == 0) {
    state.SkipWithError("the host has no Landlock at ABI >= 2");
    return;
  }
  state.counters["abi"] = abi;
  state.counters["rules"] = static_cast<double>(brood::sandbox::LandlockRules().size());
  Run(state, [&] { return brood::sandbox::ApplyLandlock(abi); });
}
BENCHMARK(BM_ApplyLandlock)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
