// EngineImpl, the Engine behind brood/engine.hpp: its state, shared by engine.cpp (the queue,
// the starters, cancels, sessions) and engine_eval.cpp (evaluated jobs, eval/).
#pragma once

#include <atomic>
#include <condition_variable>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "brood/engine.hpp"
#include "brood/profile.hpp"
#include "cgroup/cgroup.hpp"
#include "eval/build_cache.hpp"
#include "eval/build_flights.hpp"
#include "eval/evaluation.hpp"
#include "reactor/reactor.hpp"
#include "sandbox/seccomp.hpp"
#include "session/registry.hpp"
#include "task_run.hpp"
#include "task_setup.hpp"
#include "workspace/disk.hpp"
#include "zygote/hatchery.hpp"
#include "zygote/pool.hpp"

namespace brood::engine_impl {

// A job between Submit and its start.
struct Pending {
  JobHandle handle = 0;
  uint64_t group = 0;
  Job job;
  Limits limits;  // resolved
  SandboxProfile profile;
  std::function<void(Result)> on_result;
  int64_t admitted_ns = 0;  // when a slot was free for it
};

class EngineImpl final : public Engine {
 public:
  explicit EngineImpl(const EngineOptions& o) : opts_(o) {}
  ~EngineImpl() override;
  sys::Status Init();
  Result Run(const Job& job) override;
  Submission Submit(Job job, std::function<void(Result)> on_result,
                    SubmitOptions options) override {
    return SubmitJob(std::move(job), std::move(on_result), options.group, /*task=*/false,
                     std::move(options.cache_partition));
  }
  uint64_t NewGroup() override { return next_group_++; }
  void Cancel(JobHandle job) override;
  void CancelGroup(uint64_t group) override;
  void CancelAll() override;
  EngineInfo Info() const override { return info_; }
  EngineStats Stats() override;
  std::unique_ptr<Session> CreateSession(const SessionOptions& options,
                                         SessionError* error) override;
  int Sessions() override { return sessions_ ? sessions_->Live() : 0; }

 private:
  // A starter thread: takes queued jobs as slots free up and starts them.
  void StartLoop();
  // Submit, and an evaluation's tasks (`task`: never refused for a full queue, since the job
  // they belong to was admitted, and never judged: the evaluation judges them).
  Submission SubmitJob(Job job, std::function<void(Result)> on_result, uint64_t group, bool task,
                       std::string cache_partition = {});
  // An evaluated job (eval/evaluation.hpp): its tasks are the engine's, in its group.
  void StartEvaluation(Pending p, std::string cache_partition);
  std::string CacheProfile(const Job& job) const;
  class EvalPort;
  // The evaluations `job` or `group` names (every one when both are 0), marked cancelled.
  std::vector<std::shared_ptr<eval::Evaluation>> EvalsToCancel(JobHandle job, uint64_t group);
  void Start(Pending job, zygote::Lease lease);
  // PrepareTask (task_setup.hpp) for a queued job, stamped with when its slot was free.
  sys::StatusOr<TaskRunParams> Prepare(const Pending& job, zygote::Slot& slot,
                                       bool* zygote_failed) {
    auto p = PrepareTask(setup_, job.job, job.limits, job.profile, slot, zygote_failed);
    if (p.ok()) p->admitted_ns = job.admitted_ns;
    return p;
  }
  Result NotRun(const std::string& id, const Limits& limits, TaskStatus status, std::string error,
                std::optional<ErrorKind> kind) const;
  // A result for a job that never ran, given to its on_result on this (engine) thread.
  void Finish(Pending& job, TaskStatus status, std::string error,
              std::optional<ErrorKind> kind = std::nullopt);
  // The same, later, on the reactor thread: for jobs ended on a caller's thread.
  void FinishOnReactor(Pending job, TaskStatus status, std::string error,
                       std::optional<ErrorKind> kind = std::nullopt);
  void Done(JobHandle handle);  // the job's on_result has returned
  std::string CancelReason(uint64_t group);
  // Takes queued jobs matching `pred` off the queue (under mu_) and ends them as cancelled.
  template <typename Pred>
  void CancelQueued(Pred pred);

  EngineOptions opts_;
  EngineInfo info_;
  sandbox::SeccompProgram seccomp_;
  workspace::DiskOptions disk_opts_;
  TaskSetup setup_;  // filled once Init has found everything
  std::shared_ptr<cgroup::Tree> tree_;
  std::string cgroup_error_;  // why tasks cannot have cgroup limits (when not allowed to go on)
  std::unique_ptr<zygote::Hatchery> hatchery_;
  std::unique_ptr<zygote::Pool> pool_;
  std::shared_ptr<session::Registry> sessions_;
  std::unique_ptr<reactor::Reactor> reactor_;
  std::thread reactor_thread_;
  sys::UniqueFd uid_lock_;
  uint32_t host_uid_ = 0, host_gid_ = 0;

  // The queue and the jobs in flight (queued, starting, running, or being reported).
  std::mutex mu_;
  std::condition_variable work_;  // a job was queued, a slot freed, or the engine stops
  std::condition_variable idle_;  // in_flight_ reached 0
  std::list<Pending> queue_;
  std::unordered_map<JobHandle, std::list<Pending>::iterator> queued_;
  int in_flight_ = 0;
  bool stopping_ = false;  // the starters end
  std::vector<std::thread> starters_;
  std::atomic<bool> cancelled_{false};
  std::unordered_set<TaskRun*> running_;  // reactor thread only

  // Per-job and per-group cancels. A cancelled job's handle is forgotten once it is done; a
  // cancelled group stays cancelled (its later submissions fail at once).
  bool IsCancelled(JobHandle job, uint64_t group);
  // Cancels the running tasks of `job` or `group`; every one when both are 0. Reactor thread.
  void CancelRunning(JobHandle job, uint64_t group);
  std::atomic<JobHandle> next_handle_{1};
  std::atomic<uint64_t> next_group_{1};
  std::mutex cancel_mu_;
  std::unordered_set<JobHandle> live_jobs_;  // submitted, not yet done
  std::unordered_set<JobHandle> cancelled_jobs_;
  std::unordered_set<uint64_t> cancelled_groups_;

  // Evaluations not yet done, by their job's handle (for Cancel). Taken before mu_.
  std::mutex evals_mu_;
  struct EvalEntry {
    uint64_t group = 0;
    std::shared_ptr<eval::Evaluation> eval;  // null while it starts
    bool cancel = false;                     // cancelled while it started
  };
  std::unordered_map<JobHandle, EvalEntry> evals_;
  std::unique_ptr<eval::BuildCache> build_cache_;
  eval::BuildFlights build_flights_;
};

}  // namespace brood::engine_impl
