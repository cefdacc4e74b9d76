// EngineImpl's evaluated jobs (eval/evaluation.hpp): their tasks are the engine's jobs, in the
// evaluated job's group; Cancel and CancelGroup reach them through EvalsToCancel.
#include <sys/stat.h>

#include "engine_impl.hpp"

namespace brood::engine_impl {

// What an evaluation's tasks are: jobs of the engine, in the evaluated job's group.
class EngineImpl::EvalPort final : public eval::TaskPort {
 public:
  EvalPort(EngineImpl* e, uint64_t group) : e_(e), group_(group) {}
  uint64_t SubmitTask(Job job, std::function<void(Result)> done) override {
    return e_->SubmitJob(std::move(job), std::move(done), group_, /*task=*/true).handle;
  }
  void CancelTask(uint64_t handle) override { e_->Cancel(handle); }
  void Post(std::function<void()> fn) override { e_->reactor_->Post(std::move(fn)); }

 private:
  EngineImpl* e_;
  uint64_t group_;
};

// What of the sandbox decides a build, for the build cache's key: the root (its name, its
// directory, and when its /usr/bin and /usr/lib last changed: a toolchain upgrade) and the
// network.
std::string EngineImpl::CacheProfile(const Job& job) const {
  const std::string dir = job.root.empty() ? opts_.root_dir : opts_.roots.at(job.root);
  std::string out = "root=" + job.root + ";dir=" + dir;
  for (const char* sub : {"/usr/bin", "/usr/lib"}) {
    struct stat st {};
    const std::string path = (dir.empty() ? std::string() : dir) + sub;
    if (stat(path.c_str(), &st) == 0)
      out += ";" + std::string(sub) + "=" + std::to_string(st.st_mtim.tv_sec) + "." +
             std::to_string(st.st_mtim.tv_nsec);
  }
  return out + ";network=" + std::to_string(static_cast<int>(job.network));
}

void EngineImpl::StartEvaluation(Pending p, std::string cache_partition) {
  const JobHandle handle = p.handle;
  auto port = std::make_shared<EvalPort>(this, p.group);
  auto done = [this, port, cb = std::move(p.on_result), handle](Result r) {
    cb(std::move(r));
    {
      std::lock_guard lock(evals_mu_);
      evals_.erase(handle);
    }
    Done(handle);
  };
  eval::EvalOptions o;
  // Twice the slots, as brood run keeps in flight: a slot never waits for the next test to be
  // submitted after one ends.
  o.parallel = 2 * info_.slots;
  o.cache = build_cache_.get();
  o.flights = &build_flights_;
  o.maxima = ResolvedMaxima(opts_.maxima);
  o.landlock = info_.landlock;
  o.enforcement = info_.enforcement;
  o.cache_partition = std::move(cache_partition);
  o.profile = CacheProfile(p.job);
  {
    std::lock_guard lock(evals_mu_);
    evals_[handle] = {p.group, nullptr, false};
  }
  auto e = eval::Evaluation::Start(std::move(p.job), *port, std::move(o), std::move(done));
  bool cancel = false;
  {
    std::lock_guard lock(evals_mu_);
    auto it = evals_.find(handle);  // gone: it has ended already
    if (it == evals_.end()) return;
    it->second.eval = e;
    cancel = it->second.cancel;
  }
  if (cancel) e->Cancel();
}

std::vector<std::shared_ptr<eval::Evaluation>> EngineImpl::EvalsToCancel(JobHandle job,
                                                                         uint64_t group) {
  std::vector<std::shared_ptr<eval::Evaluation>> out;
  std::lock_guard lock(evals_mu_);
  for (auto& [handle, entry] : evals_) {
    const bool match = (job != 0 && handle == job) || (group != 0 && entry.group == group) ||
                       (job == 0 && group == 0);
    if (!match) continue;
    entry.cancel = true;
    if (entry.eval) out.push_back(entry.eval);
  }
  return out;
}

}  // namespace brood::engine_impl
