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

class JobRun {
 public:
  JobRun(Engine& engine, RunOptions options, std::ostream& log);
  ~JobRun();
  // Reads, runs and writes everything; prints the summary on `log`. Returns the exit code.
  int Run();
  // Thread-safe, from a signal watcher: stop admitting jobs; tasks still running after
  // `grace_ms` are killed. Results of killed tasks are not written (--resume runs them again).
  void Stop(int grace_ms = 5000);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace brood
