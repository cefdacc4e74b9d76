// An embedder of brood's public API (include/brood/ only): creates an Engine, submits three jobs
// built in C++ (a Python solution with a data file, checked against its expected output here;
// a shell pipeline; an infinite loop that must time out), waits for the three results, prints
// each as one JSON line, and exits 0 only when the statuses are ok, ok, timeout and the Python
// answer is right.
//
//   brood-embed-example            # prints 3 result records on stdout; a verdict on stderr
#include <cstdio>
#include <latch>
#include <string>
#include <vector>

#include "brood/engine.hpp"
#include "brood/job.hpp"
#include "brood/limits.hpp"
#include "brood/result.hpp"

namespace {

brood::Job PythonJob() {
  brood::Job job;
  job.id = "embed/python";
  job.argv = {"python3", "main.py"};
  job.files["main.py"] =
      "import sys\n"
      "nums = [int(x) for x in open('data/nums.txt').read().split()]\n"
      "k = int(sys.stdin.read())\n"
      "print(' '.join(str(n) for n in sorted(nums)[:k]))\n"
      "print(sum(nums))\n";
  job.files["data/nums.txt"] = "42 7 19 3 88 1\n";
  job.stdin_data = "3\n";
  job.limits.wall_ms = 5000;
  return job;
}

brood::Job ShellJob() {
  brood::Job job;
  job.id = "embed/shell";
  job.argv = {"/bin/sh", "-c", "echo \"$GREETING\" | tr a-z A-Z; seq 1 10 | paste -sd+ | bc"};
  job.env["GREETING"] = "hello from the sandbox";
  job.limits.wall_ms = 5000;
  return job;
}

brood::Job TimeoutJob() {
  brood::Job job;
  job.id = "embed/timeout";
  job.argv = {"python3", "-c", "while True: pass"};
  job.limits.wall_ms = 500;
  job.limits.cpu_ms = 10000;  // above wall_ms: the wall clock is the limit that ends it
  return job;
}

}  // namespace

int main() {
  // Create() forks brood's helper process: do it first, while this process has one thread.
  brood::EngineOptions options;
  std::string error;
  std::unique_ptr<brood::Engine> engine = brood::Engine::Create(options, &error);
  if (!engine) {
    std::fprintf(stderr, "brood-embed-example: %s\n", error.c_str());
    return 1;
  }

  const std::string python_expected = "1 3 7\n160\n";
  std::vector<brood::Job> jobs = {PythonJob(), ShellJob(), TimeoutJob()};
  const brood::TaskStatus wanted[] = {brood::TaskStatus::kOk, brood::TaskStatus::kOk,
                                      brood::TaskStatus::kTimeout};

  // Submit never blocks: jobs wait in the engine's queue for a slot. Each callback runs on an
  // engine thread and writes only its own slot; the latch orders those writes before the reads
  // below. A job the queue refuses (it is full) gets no callback: say so and count it down here.
  std::vector<brood::Result> results(jobs.size());
  std::latch done(static_cast<std::ptrdiff_t>(jobs.size()));
  for (size_t i = 0; i < jobs.size(); ++i) {
    brood::Submission s = engine->Submit(jobs[i], [&results, &done, i](brood::Result r) {
      results[i] = std::move(r);
      done.count_down();
    });
    if (!s.ok()) {
      std::fprintf(stderr, "brood-embed-example: %s: %s\n", jobs[i].id.c_str(), s.error.c_str());
      results[i].id = jobs[i].id;
      results[i].status = brood::TaskStatus::kSandboxError;
      done.count_down();
    }
  }
  done.wait();

  bool ok = true;
  for (size_t i = 0; i < results.size(); ++i) {
    std::printf("%s\n", brood::ResultToJson(results[i]).c_str());
    if (results[i].status != wanted[i]) {
      std::fprintf(stderr, "brood-embed-example: %s: status %s, expected %s\n", jobs[i].id.c_str(),
                   brood::StatusName(results[i].status), brood::StatusName(wanted[i]));
      ok = false;
    }
  }
  std::fflush(stdout);

  // An expect-like check (exact match), done here on the Python job's stdout.
  const brood::Result& py = results[0];
  if (py.status == brood::TaskStatus::kOk &&
      (py.stdout_truncated || py.stdout_data != python_expected)) {
    std::fprintf(stderr, "brood-embed-example: %s: wrong answer\n", py.id.c_str());
    ok = false;
  }

  std::fprintf(stderr, "brood-embed-example: %s\n", ok ? "ok, ok, timeout as expected" : "FAILED");
  return ok ? 0 : 1;
}
