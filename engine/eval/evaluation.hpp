// An evaluated job (docs/eval.md): its build once, then its tests, each a task of its own in a
// fresh sandbox started from the workspace the build left; a checker per test where the job
// names one; the verdict from the earliest failing test in input order.
//
//   Start -> [checker builds] + build (or the cache's entry) -> tests, at most `parallel` at once,
//   in input order -> (checker of each test) -> the job's result, on an engine thread.
//
// Every task is the engine's (TaskPort): an evaluation holds no process of its own.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "brood/job.hpp"
#include "brood/result.hpp"

namespace brood::eval {

class BuildCache;
class BuildFlights;

// What an evaluation needs of the engine.
class TaskPort {
 public:
  virtual ~TaskPort() = default;
  // Runs one task. `done` is called exactly once, on an engine thread, never on the caller's
  // within SubmitTask. Returns a handle for CancelTask.
  virtual uint64_t SubmitTask(Job job, std::function<void(Result)> done) = 0;
  virtual void CancelTask(uint64_t handle) = 0;
  // Runs `fn` on an engine thread, soon.
  virtual void Post(std::function<void()> fn) = 0;
};

struct EvalOptions {
  int parallel = 1;                 // tests of this job running at once, at most
  BuildCache* cache = nullptr;      // null: every build runs
  BuildFlights* flights = nullptr;  // with a cache: identical builds in flight are run once
  std::string cache_partition;      // whose cache entries (BuildKey::partition)
  std::string profile;              // the sandbox profile's identity (BuildKey::profile)
  // The engine's maxima: a preset's build limits are lowered to them (a job's own limits were
  // checked against them already).
  LimitMaxima maxima;
  // How the engine runs tasks (EngineInfo), for a build's record taken from the cache.
  int landlock = 0;
  Enforcement enforcement = Enforcement::kCgroup;
};

// Whether `job` is evaluated: it has a language, a build, tests or a checker.
bool IsEvaluation(const Job& job);

class Evaluation {
 public:
  // Starts `job`; on_result is called exactly once, on an engine thread (never on the caller's).
  // `port` must outlive the evaluation's end (its on_result).
  static std::shared_ptr<Evaluation> Start(Job job, TaskPort& port, EvalOptions options,
                                           std::function<void(Result)> on_result);
  virtual ~Evaluation() = default;
  // Ends it: no task is started any more, running ones are cancelled; its result comes as
  // a sandbox_error ("cancelled") once they are gone.
  virtual void Cancel() = 0;
};

}  // namespace brood::eval
