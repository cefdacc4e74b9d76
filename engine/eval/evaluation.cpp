// Evaluation: the state of one evaluated job, driven by its tasks' results. Every change happens
// under mu_; tasks are submitted and cancelled outside it (the engine calls back on its threads).
#include "eval/evaluation.hpp"

#include <algorithm>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "eval/build_cache.hpp"
#include "eval/build_flights.hpp"
#include "eval/languages.hpp"
#include "eval/tasks.hpp"
#include "jobs/judge.hpp"

namespace brood::eval {

bool IsEvaluation(const Job& job) {
  return !job.language.empty() || job.build.has_value() || !job.tests.empty() ||
         (job.expect && job.expect->checker);
}

namespace {

// `l` lowered to `max` where it is above (a preset's build limits under a server's --max-limits).
Limits Within(Limits l, const LimitMaxima& max) {
  auto cap = [](int64_t& v, int64_t m) {
    if (m > 0 && v > m) v = m;
  };
  cap(l.wall_ms, max.wall_ms);
  cap(l.cpu_ms, max.cpu_ms);
  cap(l.memory_mb, max.memory_mb);
  cap(l.disk_mb, max.disk_mb);
  cap(l.pids, max.pids);
  cap(l.output_bytes, max.output_bytes);
  if (max.cpus > 0 && l.cpus > max.cpus) l.cpus = max.cpus;
  return l;
}

// A program to build once: the job's own, or a checker.
struct Built {
  std::string name;            // "build", "checker-build:N"
  std::optional<Build> build;  // nullopt: nothing to build
  Limits build_limits;         // resolved
  Program program;             // files: the sources until built, the snapshot after
  Limits run_limits;           // a checker's runs
  bool done = false;
  std::optional<BuildResult> record;
  std::optional<Result> failed;  // the build's run when it did not succeed
};

struct TestState {
  enum Phase { kWaiting, kRunning, kChecking, kDone } phase = kWaiting;
  std::optional<TestResult> record;
  std::optional<Result> run;  // kept while checking, and for the deciding test
  int checker = -1;           // index into checkers_
};

class EvaluationImpl final : public Evaluation,
                             public std::enable_shared_from_this<EvaluationImpl> {
 public:
  EvaluationImpl(Job job, TaskPort& port, EvalOptions opts, std::function<void(Result)> done)
      : job_(std::move(job)), port_(port), opts_(std::move(opts)), on_result_(std::move(done)) {}

  void Begin();
  void Cancel() override;

 private:
  struct Launch {
    uint64_t key;
    Job job;
    std::function<void(Result)> done;
  };
  struct Actions {
    std::vector<Launch> launch;
    std::vector<uint64_t> cancel;
    std::optional<Result> finish;
  };
  // Runs what was decided under mu_: launches (recording their handles), cancels, the result.
  void Run(Actions a);
  std::string Prepare();  // presets, implicit test, checkers; "" or why the job is invalid
  void Invalid(std::string error);
  // Under mu_:
  // which: -1 the job's, else a checker. may_wait: join the same build in flight for another job.
  void LaunchBuild(int which, Actions& a, bool may_wait = true);
  void OnBuilt(int which, Result r, Actions& a);
  void Pump(Actions& a);
  void OnRun(size_t i, Result r, Actions& a);
  void OnChecked(size_t i, Result r, Actions& a);
  void Record(size_t i, Verdict v, std::optional<std::string> message, Actions& a);
  void MaybeFinish(Actions& a);
  Result Assemble();
  Built& BuiltOf(int which) { return which < 0 ? main_ : checkers_[which]; }
  // A task's completion, routed back under the lock.
  std::function<void(Result)> Then(void (EvaluationImpl::*step)(size_t, Result, Actions&), size_t i,
                                   uint64_t key);
  uint64_t NewKey() { return ++keys_; }

  Job job_;
  TaskPort& port_;
  EvalOptions opts_;
  std::function<void(Result)> on_result_;
  bool implicit_ = false;  // no `tests`: the job's own stdin and expect are its one test

  std::mutex mu_;
  bool cancelled_ = false, finished_ = false;
  Built main_;
  std::vector<Built> checkers_;
  std::vector<TestState> tests_;
  size_t next_ = 0;               // the next test to start
  size_t first_fail_ = SIZE_MAX;  // the earliest failing test so far
  int tests_running_ = 0;
  uint64_t keys_ = 0;
  std::map<uint64_t, uint64_t> running_;  // key -> the engine's handle (0 until known)
  std::map<uint64_t, size_t> test_of_;    // key -> the test a task is of
};

std::string EvaluationImpl::Prepare() {
  main_.name = "build";
  main_.program.env = job_.env;
  main_.program.files = std::move(job_.files);
  main_.program.argv = job_.argv;
  std::optional<Limits> preset_build;
  if (!job_.language.empty()) {
    Applied applied;
    if (auto e = ApplyPreset(job_.language, main_.program.files, job_.limits, &applied); !e.empty())
      return e;
    if (main_.program.argv.empty()) main_.program.argv = std::move(applied.argv);
    for (auto& [k, v] : applied.env) main_.program.env.emplace(k, v);  // the job's own win
    if (!job_.build && applied.build) job_.build = std::move(applied.build);
    preset_build = Within(FindPreset(job_.language)->build_limits, opts_.maxima);
  }
  if (main_.program.argv.empty()) return "cmd, shell: a job needs one of them, or a language";
  if (job_.build) {
    main_.build = job_.build;
    main_.build_limits = job_.build->limits.Over(preset_build.value_or(job_.limits)).Resolved();
  }
  if (job_.tests.empty()) {
    implicit_ = true;
    TestCase t;
    t.id = "1";
    t.stdin_data = std::move(job_.stdin_data);
    t.expect = job_.expect;
    job_.tests.push_back(std::move(t));
  }
  // A test without an expect of its own is held to the job's (job.hpp), as the job record's
  // parser merges them: an embedder's Job comes here unmerged.
  for (TestCase& t : job_.tests)
    if (!t.expect) t.expect = job_.expect;
  tests_.resize(job_.tests.size());
  // A checker is built once per distinct checker (tests usually share the job's).
  std::vector<const Checker*> distinct;
  for (size_t i = 0; i < job_.tests.size(); ++i) {
    const auto& e = job_.tests[i].expect;
    if (!e || !e->checker) continue;
    const Checker& c = *e->checker;
    auto same = std::find_if(distinct.begin(), distinct.end(), [&](const Checker* d) {
      return d->language == c.language && d->argv == c.argv && d->files == c.files &&
             d->limits.Resolved() == c.limits.Resolved();  // every field holds their runs
    });
    if (same != distinct.end()) {
      tests_[i].checker = static_cast<int>(same - distinct.begin());
      continue;
    }
    Built b;
    b.name = "checker-build:" + std::to_string(distinct.size());
    b.program.argv = c.argv;
    b.program.files = c.files;
    b.run_limits = c.limits.Resolved();
    if (!c.language.empty()) {
      Applied applied;
      if (auto err = ApplyPreset(c.language, c.files, c.limits, &applied); !err.empty())
        return "expect.checker: " + err;
      if (b.program.argv.empty()) b.program.argv = std::move(applied.argv);
      b.program.env = std::move(applied.env);
      if (applied.build) {
        b.build = std::move(applied.build);
        b.build_limits =
            b.build->limits.Over(Within(FindPreset(c.language)->build_limits, opts_.maxima))
                .Resolved();
      }
    }
    tests_[i].checker = static_cast<int>(distinct.size());
    distinct.push_back(&c);
    checkers_.push_back(std::move(b));
  }
  return {};
}

void EvaluationImpl::Invalid(std::string error) {
  Result r;
  r.id = job_.id;
  r.status = TaskStatus::kInvalidJob;
  r.error = std::move(error);
  r.verdict = Verdict::kInvalidJob;
  r.group = job_.group;
  r.passed = false;
  r.limits = job_.limits.Resolved();
  Actions a;
  {
    std::lock_guard lock(mu_);
    finished_ = true;
    a.finish = std::move(r);
  }
  Run(std::move(a));
}

void EvaluationImpl::Begin() {
  if (std::string error = Prepare(); !error.empty()) return Invalid(std::move(error));
  Actions a;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < checkers_.size(); ++i) LaunchBuild(static_cast<int>(i), a);
    LaunchBuild(-1, a);
    Pump(a);
    MaybeFinish(a);
  }
  Run(std::move(a));
}

void EvaluationImpl::LaunchBuild(int which, Actions& a, bool may_wait) {
  Built& b = BuiltOf(which);
  if (!b.build) {
    b.done = true;
    return;
  }
  std::optional<std::string> digest;
  if (opts_.cache) {
    BuildKey key{opts_.cache_partition, opts_.profile,  b.build->argv, b.program.env,
                 b.program.files,       b.build_limits, job_.cwd};
    digest = BuildCache::Digest(key);
    if (digest->empty()) digest.reset();  // libcrypto failed: no cache for this build
  }
  if (digest) {
    if (auto entry = opts_.cache->Lookup(*digest)) {
      Result r;  // as the build ran, from the cache
      r.status = entry->build.status;
      r.exit_code = entry->build.exit_code;
      r.signal = entry->build.signal;
      r.stdout_data = std::move(entry->build.stdout_data);
      r.stderr_data = std::move(entry->build.stderr_data);
      r.wall_ms = entry->build.wall_ms;
      r.cpu_ms = entry->build.cpu_ms;
      r.peak_memory_bytes = entry->build.peak_memory_bytes;
      r.error = entry->build.error;
      r.limits = b.build_limits;  // a failed build's run is the job's top level
      r.stdout_truncated = entry->build.stdout_truncated;
      r.stderr_truncated = entry->build.stderr_truncated;
      r.stdout_bytes = r.stdout_data.size();  // what was kept (all of it unless truncated)
      r.stderr_bytes = r.stderr_data.size();
      r.landlock = opts_.landlock;
      r.limits_enforced = opts_.enforcement;
      r.files = std::move(entry->files);
      OnBuilt(which, std::move(r), a);
      BuiltOf(which).record->cached = true;
      return;
    }
    // The same build running for another job: wait for it rather than build it twice.
    if (may_wait && opts_.flights) {
      const uint64_t wait_key = NewKey();
      running_[wait_key] = 0;  // keeps the evaluation open; nothing to cancel
      auto self = shared_from_this();
      auto waiter = [self, which, wait_key](const Result* landed) {
        Actions next;
        {
          std::lock_guard lock(self->mu_);
          self->running_.erase(wait_key);
          if (landed) {
            self->OnBuilt(which, *landed, next);
            self->BuiltOf(which).record->cached = true;
          } else if (!self->cancelled_) {
            self->LaunchBuild(which, next, /*may_wait=*/false);  // it did not end as itself
          }
          self->Pump(next);
          self->MaybeFinish(next);
        }
        self->Run(std::move(next));
      };
      if (opts_.flights->Join(*digest, std::move(waiter))) return;
      running_.erase(wait_key);  // this build is the flight: it lands it
    } else {
      digest.reset();  // not a flight of its own (it waited for one that did not land)
    }
  }
  const uint64_t key = NewKey();
  running_[key] = 0;
  auto self = shared_from_this();
  auto done = [self, which, key, digest](Result r) {
    if (digest) {
      const bool itself =
          r.status != TaskStatus::kSandboxError && r.status != TaskStatus::kInvalidJob;
      // A build that ran out of time may not on a quieter host: shared, never kept.
      const bool timed = r.status == TaskStatus::kTimeout || r.status == TaskStatus::kCpuLimit;
      if (itself && !timed) self->opts_.cache->Store(*digest, CacheEntry{BuildRecord(r), r.files});
      self->opts_.flights->Land(*digest, itself ? &r : nullptr);
    }
    Actions next;
    {
      std::lock_guard lock(self->mu_);
      self->running_.erase(key);
      self->OnBuilt(which, std::move(r), next);
      self->Pump(next);
      self->MaybeFinish(next);
    }
    self->Run(std::move(next));
  };
  a.launch.push_back(
      Launch{key, BuildJob(job_, b.name, b.program, b.build->argv, b.build_limits), done});
}

void EvaluationImpl::OnBuilt(int which, Result r, Actions& a) {
  Built& b = BuiltOf(which);
  b.done = true;
  b.record = BuildRecord(r);
  if (r.status == TaskStatus::kOk && !r.error) {
    b.program.files = std::move(r.files);
  } else {
    b.failed = std::move(r);
  }
  (void)a;
}

void EvaluationImpl::Pump(Actions& a) {
  if (cancelled_ || finished_) return;
  if (!main_.done || main_.failed) return;
  for (const Built& c : checkers_)
    if (!c.done || c.failed) return;
  const bool stop_first = job_.stop == StopMode::kFirstFailure;
  while (tests_running_ < std::max(1, opts_.parallel) && next_ < tests_.size() &&
         !(stop_first && next_ > first_fail_)) {
    const size_t i = next_++;
    tests_[i].phase = TestState::kRunning;
    ++tests_running_;
    const uint64_t key = NewKey();
    running_[key] = 0;
    test_of_[key] = i;
    a.launch.push_back(Launch{key, TestJob(job_, main_.program, job_.tests[i]),
                              Then(&EvaluationImpl::OnRun, i, key)});
  }
}

std::function<void(Result)> EvaluationImpl::Then(void (EvaluationImpl::*step)(size_t, Result,
                                                                              Actions&),
                                                 size_t i, uint64_t key) {
  auto self = shared_from_this();
  return [self, step, i, key](Result r) {
    Actions next;
    {
      std::lock_guard lock(self->mu_);
      self->running_.erase(key);
      self->test_of_.erase(key);
      ((*self).*step)(i, std::move(r), next);
      self->Pump(next);
      self->MaybeFinish(next);
    }
    self->Run(std::move(next));
  };
}

void EvaluationImpl::OnRun(size_t i, Result r, Actions& a) {
  TestState& t = tests_[i];
  const TestCase& test = job_.tests[i];
  const Expect* expect = test.expect ? &*test.expect : nullptr;
  if (t.checker >= 0 && cancelled_) {
    // Cancelled before its checker judged it. Not judged here either (stdout_text is the
    // checker's answer, not an output to match): it ends cancelled, as if its checker was.
    Result c;
    c.id = r.id;
    c.status = TaskStatus::kSandboxError;
    c.error_kind = ErrorKind::kCancelled;
    c.error = "cancelled";
    c.limits = r.limits;
    t.run = std::move(c);
    return Record(i, Verdict::kSandboxError, std::nullopt, a);
  }
  if (t.checker >= 0 && !cancelled_ && !(job_.stop == StopMode::kFirstFailure && i > first_fail_)) {
    Expect rest = *expect;  // the run's exit code and files; the checker judges stdout
    rest.stdout_text.reset();
    if (jobs::Meets(rest, r) && !r.stdout_truncated) {
      t.phase = TestState::kChecking;
      const uint64_t key = NewKey();
      running_[key] = 0;
      test_of_[key] = i;
      const Built& c = checkers_[t.checker];
      a.launch.push_back(Launch{key, CheckerJob(job_, test, c.program, c.run_limits, r),
                                Then(&EvaluationImpl::OnChecked, i, key)});
      t.run = std::move(r);
      return;
    }
    const Verdict v = jobs::VerdictOf(r, expect, false);
    t.run = std::move(r);
    return Record(i, v, std::nullopt, a);
  }
  const bool met = expect == nullptr || jobs::Meets(*expect, r);
  const Verdict v = jobs::VerdictOf(r, expect, met);
  t.run = std::move(r);
  Record(i, v, std::nullopt, a);
}

void EvaluationImpl::OnChecked(size_t i, Result r, Actions& a) {
  std::string message;
  Verdict v = jobs::CheckerVerdict(r, &message);
  if (r.status == TaskStatus::kSandboxError && r.error_kind == ErrorKind::kCancelled) {
    // Cancelled, not judged: the test ends as its checker did.
    tests_[i].run = std::move(r);
    v = Verdict::kSandboxError;
  }
  Record(i, v, std::move(message), a);
}

void EvaluationImpl::Record(size_t i, Verdict v, std::optional<std::string> message, Actions& a) {
  TestState& t = tests_[i];
  t.phase = TestState::kDone;
  --tests_running_;
  t.record = TestRecord(job_.tests[i].id, *t.run, v);
  if (message && !message->empty()) t.record->checker_message = std::move(message);
  if (v != Verdict::kAccepted && i < first_fail_) {
    if (first_fail_ < tests_.size() && first_fail_ != tests_.size() - 1)
      tests_[first_fail_].run.reset();  // no longer the deciding test
    first_fail_ = i;
    if (job_.stop == StopMode::kFirstFailure)
      for (const auto& [key, test] : test_of_)
        if (test > i && running_[key] != 0) a.cancel.push_back(running_[key]);
  }
  // Only the deciding test's full result is kept: the earliest failing one, or the last.
  if (i != first_fail_ && i != tests_.size() - 1) t.run.reset();
}

void EvaluationImpl::MaybeFinish(Actions& a) {
  if (finished_ || !running_.empty()) return;
  const bool build_failed =
      main_.failed || std::any_of(checkers_.begin(), checkers_.end(),
                                  [](const Built& c) { return c.failed.has_value(); });
  const bool stop_first = job_.stop == StopMode::kFirstFailure;
  const bool tests_done =
      next_ >= tests_.size() || (stop_first && first_fail_ < tests_.size()) || cancelled_;
  if (!build_failed && !tests_done) return;
  finished_ = true;
  a.finish = Assemble();
}

Result EvaluationImpl::Assemble() {
  Result r;
  Verdict verdict = Verdict::kAccepted;
  auto build_verdict = [](const Result& b, Verdict failed) {
    if (b.status == TaskStatus::kSandboxError) return Verdict::kSandboxError;
    if (b.status == TaskStatus::kInvalidJob) return Verdict::kInvalidJob;
    return failed;
  };
  const Built* bad_checker = nullptr;
  for (const Built& c : checkers_)
    if (c.failed && !bad_checker) bad_checker = &c;
  if (main_.failed) {
    r = std::move(*main_.failed);
    r.files.clear();  // the build's workspace is no result
    verdict = build_verdict(r, Verdict::kCompileError);
    if (!r.error && verdict == Verdict::kCompileError)
      r.error = r.status == TaskStatus::kFailed
                    ? "the build exited " + std::to_string(r.exit_code.value_or(-1))
                    : "the build ended as " + std::string(StatusName(r.status));
  } else if (bad_checker) {
    r = *bad_checker->failed;
    r.files.clear();
    verdict = build_verdict(r, Verdict::kCheckerError);
    if (verdict == Verdict::kCheckerError)
      r.error = "the checker did not build: " + r.stderr_data.substr(0, kTestStreamHead);
  } else {
    size_t deciding = first_fail_ < tests_.size() ? first_fail_ : tests_.size() - 1;
    if (first_fail_ >= tests_.size() && !tests_[deciding].run) {
      // Cancelled before the last test ran: the earliest test that did not run decides.
      for (size_t i = 0; i < tests_.size(); ++i)
        if (!tests_[i].record) {
          deciding = i;
          break;
        }
    }
    TestState& d = tests_[deciding];
    if (d.run) {
      r = std::move(*d.run);
      verdict = d.record ? d.record->verdict : Verdict::kSandboxError;
    } else {
      r.status = TaskStatus::kSandboxError;
      r.error_kind = ErrorKind::kCancelled;
      r.error = "cancelled";
      r.limits = job_.limits.Resolved();
      verdict = Verdict::kSandboxError;
    }
  }
  r.id = job_.id;
  if (job_.collect.empty()) r.files.clear();  // only what the expect's files collected
  r.verdict = verdict;
  r.passed = verdict == Verdict::kAccepted;
  r.group = job_.group;
  if (main_.record) r.build = main_.record;
  if (!implicit_) {
    r.has_tests = true;
    r.tests_total = static_cast<int>(tests_.size());
    r.tests.reserve(tests_.size());
    for (size_t i = 0; i < tests_.size(); ++i) {
      TestState& t = tests_[i];
      const bool skipped = !t.record || (job_.stop == StopMode::kFirstFailure && i > first_fail_);
      if (skipped) {
        TestResult s;
        s.id = job_.tests[i].id;
        s.verdict = Verdict::kSkipped;
        r.tests.push_back(std::move(s));
        continue;
      }
      if (t.record->verdict == Verdict::kAccepted) ++r.tests_passed;
      r.tests.push_back(std::move(*t.record));
    }
  }
  return r;
}

void EvaluationImpl::Run(Actions a) {
  if (!a.cancel.empty())
    for (uint64_t h : a.cancel) port_.CancelTask(h);
  std::vector<uint64_t> late_cancel;
  for (Launch& l : a.launch) {
    const uint64_t handle = port_.SubmitTask(std::move(l.job), std::move(l.done));
    std::lock_guard lock(mu_);
    auto it = running_.find(l.key);  // gone: it has ended already
    if (it == running_.end()) continue;
    it->second = handle;
    // Cancelled (the whole job, or a test after the earliest failure) while being submitted.
    auto test = test_of_.find(l.key);
    if (cancelled_ || (test != test_of_.end() && job_.stop == StopMode::kFirstFailure &&
                       test->second > first_fail_))
      late_cancel.push_back(handle);
  }
  for (uint64_t h : late_cancel) port_.CancelTask(h);
  // Never on the thread that started the evaluation: on_result is the engine's to call.
  if (a.finish)
    port_.Post([done = on_result_, r = std::move(*a.finish)]() mutable { done(std::move(r)); });
}

void EvaluationImpl::Cancel() {
  std::vector<uint64_t> handles;
  {
    std::lock_guard lock(mu_);
    if (cancelled_ || finished_) return;
    cancelled_ = true;
    for (const auto& [key, h] : running_)
      if (h != 0) handles.push_back(h);
  }
  for (uint64_t h : handles) port_.CancelTask(h);
}

}  // namespace

std::shared_ptr<Evaluation> Evaluation::Start(Job job, TaskPort& port, EvalOptions options,
                                              std::function<void(Result)> on_result) {
  auto e = std::make_shared<EvaluationImpl>(std::move(job), port, std::move(options),
                                            std::move(on_result));
  e->Begin();
  return e;
}

}  // namespace brood::eval
