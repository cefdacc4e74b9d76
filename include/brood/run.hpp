// A whole job file through an engine: what `brood run` does, for embedders too.
//
//   brood::JobRun run(*engine, options);
//   int code = run.Run();  // 0: every job got a result; 1: brood failed or was stopped
#pragma once

#include <atomic>
#include <memory>
#include <ostream>
#include <string>

#include "brood/engine.hpp"
#include "brood/limits.hpp"

namespace brood {

struct RunOptions {
  std::string jobs = "-";     // job file path, "-" for stdin
  std::string results = "-";  // results path, "-" for stdout
  bool resume = false;        // skip jobs whose key is in `results` (needs a file)
  bool ordered = false;       // write results in input order
  std::string summary_json;   // also write the summary here (JSON)
  bool progress = false;      // a progress line on `log` (for a terminal)
  LimitMaxima maxima;
};

// The most jobs one run (a JobRun, or a server's batch) keeps in an engine at once, running or
// queued, for an engine of `slots` slots: the room to leave per run in EngineOptions::queue when
// runs share an engine.
int RunInFlight(int slots);

// One run of one job file. Its jobs are a group of their own on `engine` (see Engine::NewGroup):
// stopping the run never touches another client's jobs on a shared engine.
class JobRun {
 public:
  // `engine` and `log` must outlive the JobRun. Opens nothing yet.
  JobRun(Engine& engine, RunOptions options, std::ostream& log);
  // Waits for Stop's grace timer, if one is running.
  ~JobRun();
  // Reads, runs and writes everything; prints the summary (and, with `progress`, a progress
  // line) on `log`. Blocks until every job has its result or the run was stopped; call it once.
  // Returns the exit code of `brood run` (docs/cli.md): 0 when every job got a result; 1 when
  // brood failed (a file it cannot read or write) or was stopped before the end.
  int Run();
  // Thread-safe and non-blocking, from a signal watcher (not from a signal handler): stop
  // admitting jobs; tasks still running after `grace_ms` are killed. Results of killed or never
  // started tasks are not written (--resume runs them again). Later calls do nothing.
  void Stop(int grace_ms = 5000);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace brood
