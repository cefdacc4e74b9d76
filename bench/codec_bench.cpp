// The record codec: one job line into a Job (jobs::ParseJobLine) and one Result into its JSON
// line (ResultToJson). Every task of `brood run` goes through both once, on the supervisor's
// threads, so their cost per record bounds tasks/s from above. Each benchmark reports bytes/s
// (of the line parsed or produced) and items/s (records per second).
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "brood/limits.hpp"
#include "brood/result.hpp"
#include "jobs/job_parser.hpp"

namespace brood {
namespace {

// A job record with every field present (docs/job.md), as one line.
constexpr std::string_view kFullJobLine =
    R"({"id": "he/0/3", "cmd": ["python3", "main.py"], "stdin": "", "env": {"SEED": "1"}, )"
    R"("files": {"main.py": "print(1)\n", "data/in.bin": {"base64": "AAEC"}}, )"
    R"("cwd": "/workspace", )"
    R"("limits": {"wall_ms": 10000, "cpu_ms": 10000, "memory_mb": 512, "disk_mb": 256, )"
    R"("pids": 128, "output_bytes": 1048576, "cpus": 1}, )"
    R"("network": "none", "collect": ["out/*.json"], )"
    R"("expect": {"stdout": "1\n", "match": "exact"}})";

// The smallest useful job: only the required fields, as a generated job file has them.
constexpr std::string_view kMinimalJobLine = R"({"id":"t1","cmd":["/bin/true"]})";

void ParseLine(benchmark::State& state, std::string_view line) {
  const LimitMaxima maxima;
  // Fail loudly instead of timing the error path.
  if (auto probe = jobs::ParseJobLine(line, maxima); !probe.job) {
    state.SkipWithError(("the job line is invalid: " + probe.error).c_str());
    return;
  }
  for (auto _ : state) {
    jobs::ParsedJob parsed = jobs::ParseJobLine(line, maxima);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(line.size()));
  state.SetItemsProcessed(state.iterations());
}

void BM_ParseJobLine_DesignExample(benchmark::State& state) { ParseLine(state, kFullJobLine); }
BENCHMARK(BM_ParseJobLine_DesignExample);

void BM_ParseJobLine_Minimal(benchmark::State& state) { ParseLine(state, kMinimalJobLine); }
BENCHMARK(BM_ParseJobLine_Minimal);

// docs/result.md: a task that printed "1\n" and exited 0, with an expect that passed.
Result TypicalOkResult() {
  Result r;
  r.id = "he/0/3";
  r.status = TaskStatus::kOk;
  r.exit_code = 0;
  r.stdout_data = "1\n";
  r.stdout_bytes = 2;
  r.wall_ms = 3.1;
  r.cpu_ms = 2.4;
  r.peak_memory_bytes = 9437184;
  r.start_latency_us = 180;
  r.limits_enforced = Enforcement::kCgroup;
  r.limits = Limits{}.Resolved();
  r.passed = true;
  return r;
}

void BM_ResultToJson_Ok(benchmark::State& state) {
  const Result r = TypicalOkResult();
  int64_t bytes = 0;
  for (auto _ : state) {
    std::string line = ResultToJson(r);
    bytes += static_cast<int64_t>(line.size());
    benchmark::DoNotOptimize(line);
  }
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ResultToJson_Ok);

}  // namespace
}  // namespace brood
