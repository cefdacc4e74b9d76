// `brood run`'s flow graph over any job source and result sink: JobRun runs it over a job file
// and a results file; an HTTP batch or a queue consumer can run it over theirs, with the same
// back-pressure, duplicate-id detection and exactly-once bookkeeping:
// - a line whose key the sink already holds (ResultSink::DoneKeys) is skipped, not run again;
// - every other line gets exactly one record (its result, or invalid_job), written to the sink;
// - a line is acked to its source (JobSource::Ack) only once nothing more is due for it.
// A line stopped before its record was written is neither written nor acked: a later run does it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "brood/engine.hpp"
#include "brood/limits.hpp"
#include "run/sink.hpp"
#include "run/source.hpp"

namespace brood::run {

struct RunnerOptions {
  bool ordered = false;      // write records in input order
  bool progress = false;     // a progress line on the log (for a terminal)
  std::string summary_json;  // also write the summary here (JSON)
  LimitMaxima maxima;
  std::string cache_partition;  // SubmitOptions::cache_partition of every job
  // More checks a valid job must pass (the server's: no "network": "host" over HTTP): a
  // non-empty answer makes the line invalid_job with it as the error. Called on TBB threads.
  std::function<std::string(const Job&)> check_job;
  // Called for each record right after the sink took it, on the graph's writer thread.
  std::function<void(const Result&)> on_record;
};

// Results reach the graph in batches of this many (or sooner: runner.cpp), and a run keeps
// MaxInFlight(slots) jobs in the engine at most, running or queued: twice the slots plus a batch.
// A server sharing one engine between runs leaves that much room per run in EngineOptions::queue.
inline constexpr int kCompletionBatch = 16;
inline constexpr int kMaxHoldMs = 20;  // the longest a result waits for its batch
int MaxInFlight(int slots);

class Runner {
 public:
  // The jobs run in a group of their own on `engine` (Stop cancels them and no other client's).
  Runner(Engine& engine, RunnerOptions options, std::ostream& log);
  ~Runner();  // waits for the canceller of a Stop
  // Reads every line of `source`, runs its jobs, writes a record a line to `sink`; prints errors
  // and the summary on the log. Returns 0 when every line got what it was due, 1 when brood
  // failed (reading, writing) or was stopped. Once per Runner; blocks until done. `start_ns`
  // (reactor::NowNs()): when the run began, for the elapsed time; 0: now.
  int Run(JobSource& source, ResultSink& sink, int64_t start_ns = 0);
  // Thread-safe, also before Run: stop reading and admitting; tasks still running after
  // `grace_ms` are cancelled (their records are not written).
  void Stop(int grace_ms);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace brood::run
