// EngineImpl: owns the cgroup tree, the hatchery, the pool, the job queue, the starter threads
// and the reactor thread, and turns a Job into a TaskRun.
//
//   Submit (any thread, never blocks) -> queue (bounded, FIFO) -> a starter thread takes the
//   oldest job once a slot is free, readies a zygote of its profile, sends the RUN request
//   (the blocking part) -> the reactor thread owns the task until its result.
//
// Results reach on_result on the reactor thread (a task's end, a cancelled queued job, a job
// refused at Submit as invalid) or on a starter thread (a setup failure): always an engine
// thread.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine_impl.hpp"
#include "eval/tasks.hpp"
#include "jobs/judge.hpp"
#include "sandbox/landlock.hpp"

namespace brood::engine_impl {
namespace {

constexpr uint32_t kUidsPerInstance = 1024;
constexpr size_t kSpareDisks = 2;  // per slot, beside its current workspace disk
constexpr char kDoctorHint[] = "; run `brood doctor` to see what this host lacks and how to fix it";

// Each running brood takes its own block of host uids, so two instances never share a sandbox
// user: block k is held by an flock on /run/brood/uid-block-k.lock for the instance's life.
sys::StatusOr<std::pair<uint32_t, sys::UniqueFd>> ClaimUidBlock(uint32_t base) {
  mkdir("/run/brood", 0700);
  for (uint32_t k = 0; k < 4096; ++k) {
    std::string path = "/run/brood/uid-block-" + std::to_string(k) + ".lock";
    sys::UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return sys::PosixError("open(" + path + ")");
    if (flock(fd.get(), LOCK_EX | LOCK_NB) == 0)
      return std::pair{base + k * kUidsPerInstance, std::move(fd)};
  }
  return sys::Status::Error("no free uid block under /run/brood");
}

// One cgroup tree per process and --cgroup-root, shared by every Engine in it (the tree is
// brood-<pid>; on v2 it also holds the process's own leaf). Group names are unique across them.
std::atomic<uint64_t> g_engine_seq{0};
sys::StatusOr<std::shared_ptr<cgroup::Tree>> SharedTree(const std::string& root) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<cgroup::Tree>> trees;
  std::lock_guard lock(mu);
  if (auto t = trees[root].lock()) return t;
  auto created = cgroup::Tree::Create({root});
  if (!created.ok()) return created.status();
  std::shared_ptr<cgroup::Tree> t = std::move(created.value());
  trees[root] = t;
  return t;
}

}  // namespace

sys::Status EngineImpl::Init() {
  // Each slot holds ~9 fds (zygote socket and pidfd, OOM event fd, counter files) and each
  // running task ~6 more: raise the soft open-files limit to the hard one, as servers do.
  // Tasks get their own limit (task.cpp).
  if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  const auto action = opts_.on_violation == OnViolation::kKill  ? sandbox::ViolationAction::kKill
                      : opts_.on_violation == OnViolation::kLog ? sandbox::ViolationAction::kLog
                                                                : sandbox::ViolationAction::kErrno;
  auto prog = sandbox::CompileTaskPolicy(action);
  if (!prog.ok()) return prog.status().Wrap("seccomp");
  seccomp_ = std::move(prog.value());

  cgroup::Probe probe = cgroup::Detect({opts_.cgroup_root});
  info_.cgroup_version = cgroup::VersionName(probe.version);
  if (probe.usable()) {
    auto tree = SharedTree(opts_.cgroup_root);
    if (tree.ok())
      tree_ = std::move(tree.value());
    else
      cgroup_error_ = tree.status().message();
  } else {
    cgroup_error_ = "no writable cgroup with the memory, pids and cpu controllers";
    for (const auto& p : probe.problems) cgroup_error_ += "; " + p;
  }
  if (!tree_) {
    cgroup_error_ +=
        " (pass --allow-no-cgroups to run with rlimits instead" + std::string(kDoctorHint) + ")";
    info_.enforcement = Enforcement::kRlimit;
  }
  // Workspace disks keep files out of memory_mb; without them the limit stays memory_mb, and
  // files count against it too (never a looser limit).
  disk_opts_.dir = opts_.disk_dir;
  info_.landlock = sandbox::LandlockAbi();
  info_.shared_disk_reason = workspace::Unavailable(disk_opts_);
  if (tree_ && !info_.shared_disk_reason.empty())
    info_.enforcement = Enforcement::kCgroupSharedDisk;

  if (!opts_.build_cache_dir.empty()) {
    auto cache = eval::BuildCache::Open(opts_.build_cache_dir, opts_.build_cache_mb << 20);
    if (!cache.ok()) return cache.status().Wrap("--build-cache-dir " + opts_.build_cache_dir);
    build_cache_ = std::move(cache.value());
  }
  if (geteuid() == 0) {
    auto block = ClaimUidBlock(opts_.uid_base);
    if (!block.ok()) return block.status();
    host_uid_ = host_gid_ = block->first;
    uid_lock_ = std::move(block->second);
  } else {
    // An unprivileged user may map only its own ids into a user namespace.
    host_uid_ = getuid();
    host_gid_ = getgid();
  }
  info_.host_uid = host_uid_;

  auto hatchery = zygote::Hatchery::Start(seccomp_);
  if (!hatchery.ok()) return hatchery.status();
  hatchery_ = std::move(hatchery.value());

  zygote::PoolConfig pc;
  pc.slots = opts_.slots > 0 ? opts_.slots : std::max(1u, std::thread::hardware_concurrency());
  info_.slots = pc.slots;
  if (pc.slots > static_cast<int>(kUidsPerInstance))
    return sys::Status::Error("at most " + std::to_string(kUidsPerInstance) + " slots");
  pc.roots = opts_.roots;
  pc.roots[""] = opts_.root_dir.empty() ? "/" : opts_.root_dir;
  pc.zygotes_per_slot = opts_.zygotes_per_slot;
  pc.on_free = [this] {
    std::lock_guard lock(mu_);  // a starter checks for a free slot under mu_: none misses this
    work_.notify_all();
  };
  pc.host_uid_base = host_uid_;
  pc.host_gid_base = host_gid_;
  pc.same_uid_for_all = geteuid() != 0;
  pc.warm = opts_.warm;
  pc.group_prefix = "e" + std::to_string(g_engine_seq++) + "s";
  if (info_.shared_disk_reason.empty()) {
    // The first task of a slot finds its disk made (mkfs takes tens of ms), for the default size.
    pc.warm_up = [this](zygote::Slot& slot) {
      if (slot.disk) return;
      const int64_t mb = Limits{}.disk_mb;
      auto disk = workspace::Disk::Create(disk_opts_, mb, WorkspaceInodes(mb), slot.host_uid,
                                          slot.host_gid);
      if (!disk.ok()) return;  // the first task tries again and says why
      slot.disk = std::move(disk.value());
      slot.disk_clean = true;
    };
  }
  auto pool = zygote::Pool::Create(pc, hatchery_.get(), tree_.get());
  if (!pool.ok()) return pool.status();
  pool_ = std::move(pool.value());

  auto reactor = reactor::Reactor::Create();
  if (!reactor.ok()) return reactor.status().Wrap("io_uring");
  reactor_ = std::move(reactor.value());
  reactor_thread_ = std::thread([r = reactor_.get()] { r->Run(); });
  // Sessions take the sandbox users after the slots' in the instance's block.
  if (opts_.max_sessions < 0 || opts_.max_sessions + pc.slots > static_cast<int>(kUidsPerInstance))
    return sys::Status::Error(ErrorKind::kInvalidArgument,
                              "max_sessions: at most " +
                                  std::to_string(kUidsPerInstance - pc.slots) + " beside " +
                                  std::to_string(pc.slots) + " slots");
  session::RegistryConfig rc;
  rc.host.hatchery = hatchery_.get();
  rc.host.tree = tree_.get();
  rc.host.roots = pc.roots;
  rc.host.disk_opts = disk_opts_;
  rc.host.use_disk = info_.shared_disk_reason.empty();
  rc.host.landlock = info_.landlock;
  rc.host.enforcement = info_.enforcement;
  rc.host.watch_denied = seccomp_.listener;
  rc.uid_base = host_uid_ + static_cast<uint32_t>(pc.slots);
  rc.gid_base = host_gid_ + static_cast<uint32_t>(pc.slots);
  rc.same_uid_for_all = geteuid() != 0;
  if (rc.same_uid_for_all) rc.uid_base = host_uid_, rc.gid_base = host_gid_;
  rc.max_sessions = opts_.max_sessions;
  rc.group_prefix = pc.group_prefix.substr(0, pc.group_prefix.size() - 1) + "x";
  sessions_ = std::make_shared<session::Registry>(std::move(rc));
  setup_.info = info_;
  setup_.watch_denied = seccomp_.listener;
  setup_.rlimit_mode = !tree_;
  setup_.cgroup_v1 = tree_ && tree_->version() == cgroup::Version::kV1;
  setup_.disk_opts = disk_opts_;
  setup_.pool = pool_.get();
  // Starting a task blocks for its RUN request (and now and then a new zygote or disk): a few
  // starters keep every slot busy without a thread per slot.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int starters = std::min(pc.slots, std::max(4, 2 * cores));
  for (int i = 0; i < starters; ++i) starters_.emplace_back([this] { StartLoop(); });
  return sys::OkStatus();
}

EngineImpl::~EngineImpl() {
  if (sessions_) sessions_->CloseAll();
  if (reactor_) {
    CancelAll();
    std::unique_lock lock(mu_);
    idle_.wait(lock, [&] { return in_flight_ == 0; });
    stopping_ = true;
  }
  work_.notify_all();
  for (auto& t : starters_) t.join();
  if (reactor_) reactor_->Stop();
  if (reactor_thread_.joinable()) reactor_thread_.join();
  pool_.reset();
  hatchery_.reset();
  tree_.reset();
}

std::unique_ptr<Session> EngineImpl::CreateSession(const SessionOptions& options,
                                                   SessionError* error) {
  if (!tree_) {
    *error = {ErrorKind::kHostUnsupported,
              "sessions need cgroups (their commands are ended through them): " + cgroup_error_,
              false, 0};
    return nullptr;
  }
  if (std::string why = CheckLimits(options.limits.Resolved(), opts_.maxima); !why.empty()) {
    *error = {ErrorKind::kInvalidArgument, why, false, 0};
    return nullptr;
  }
  return sessions_->Create(options, error);
}

void EngineImpl::Done(JobHandle handle) {
  {
    std::lock_guard lock(cancel_mu_);
    live_jobs_.erase(handle);
    cancelled_jobs_.erase(handle);
  }
  std::lock_guard lock(mu_);
  if (--in_flight_ == 0) idle_.notify_all();
}

Result EngineImpl::NotRun(const std::string& id, const Limits& limits, TaskStatus status,
                          std::string error, std::optional<ErrorKind> kind) const {
  Result r;
  r.id = id;
  r.status = status;
  r.error_kind = kind;
  r.limits = limits;
  r.limits_enforced = info_.enforcement;
  r.landlock = info_.landlock;
  r.error = std::move(error);
  return r;
}

void EngineImpl::Finish(Pending& job, TaskStatus status, std::string error,
                        std::optional<ErrorKind> kind) {
  job.on_result(NotRun(job.job.id, job.limits, status, std::move(error), kind));
  Done(job.handle);
}

void EngineImpl::FinishOnReactor(Pending job, TaskStatus status, std::string error,
                                 std::optional<ErrorKind> kind) {
  reactor_->Post([this, p = std::make_shared<Pending>(std::move(job)), status, e = std::move(error),
                  kind]() mutable { Finish(*p, status, std::move(e), kind); });
}

std::string EngineImpl::CancelReason(uint64_t group) {
  if (cancelled_) return "cancelled: brood is stopping";
  std::lock_guard lock(cancel_mu_);
  if (group != 0 && cancelled_groups_.contains(group)) return "cancelled: its group was cancelled";
  return "cancelled";
}

template <typename Pred>
void EngineImpl::CancelQueued(Pred pred) {
  std::vector<Pending> taken;
  {
    std::lock_guard lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (!pred(*it)) {
        ++it;
        continue;
      }
      queued_.erase(it->handle);
      taken.push_back(std::move(*it));
      it = queue_.erase(it);
    }
  }
  for (auto& job : taken) {
    std::string why = CancelReason(job.group);
    FinishOnReactor(std::move(job), TaskStatus::kSandboxError, std::move(why),
                    ErrorKind::kCancelled);
  }
}

void EngineImpl::CancelAll() {
  cancelled_ = true;
  for (auto& e : EvalsToCancel(0, 0)) e->Cancel();
  CancelQueued([](const Pending&) { return true; });
  reactor_->Post([this] { CancelRunning(0, 0); });
}

bool EngineImpl::IsCancelled(JobHandle job, uint64_t group) {
  if (cancelled_) return true;
  std::lock_guard lock(cancel_mu_);
  return cancelled_jobs_.contains(job) || (group != 0 && cancelled_groups_.contains(group));
}

void EngineImpl::CancelRunning(JobHandle job, uint64_t group) {
  const bool every = job == 0 && group == 0;
  for (TaskRun* t : std::vector<TaskRun*>(running_.begin(), running_.end())) {
    if (every || (job != 0 && t->handle() == job) || (group != 0 && t->job_group() == group))
      t->Cancel();
  }
}

void EngineImpl::Cancel(JobHandle job) {
  if (job == 0) return;
  {
    bool is_eval = false;
    {
      std::lock_guard lock(evals_mu_);
      is_eval = evals_.contains(job);
    }
    if (is_eval) {
      for (auto& e : EvalsToCancel(job, 0)) e->Cancel();
      return;
    }
  }
  {
    std::lock_guard lock(cancel_mu_);
    if (!live_jobs_.contains(job)) return;  // done already (or never submitted): nothing to end
    cancelled_jobs_.insert(job);
  }
  std::optional<Pending> taken;
  {
    std::lock_guard lock(mu_);
    if (auto it = queued_.find(job); it != queued_.end()) {
      taken = std::move(*it->second);
      queue_.erase(it->second);
      queued_.erase(it);
    }
  }
  if (taken) {
    FinishOnReactor(std::move(*taken), TaskStatus::kSandboxError, "cancelled",
                    ErrorKind::kCancelled);
    return;
  }
  // Starting (its starter checks the set before the RUN request and after handing the task to
  // the reactor) or running.
  reactor_->Post([this, job] { CancelRunning(job, 0); });
}

void EngineImpl::CancelGroup(uint64_t group) {
  if (group == 0) return;
  {
    std::lock_guard lock(cancel_mu_);
    cancelled_groups_.insert(group);
  }
  for (auto& e : EvalsToCancel(0, group)) e->Cancel();
  CancelQueued([group](const Pending& p) { return p.group == group; });
  reactor_->Post([this, group] { CancelRunning(0, group); });
}

Result EngineImpl::Run(const Job& job) {
  std::promise<Result> p;
  auto f = p.get_future();
  Submission s = Submit(job, [&p](Result r) { p.set_value(std::move(r)); }, {});
  if (!s.ok())
    return NotRun(job.id, job.limits.Resolved(), TaskStatus::kSandboxError, s.error, s.error_kind);
  return f.get();
}

EngineStats EngineImpl::Stats() {
  EngineStats st;
  {
    std::lock_guard lock(mu_);
    st.queued = static_cast<int64_t>(queue_.size());
    st.in_flight = in_flight_;
  }
  if (pool_) {
    st.busy_slots = pool_->BusySlots();
    for (const auto& [profile, n] : pool_->WarmZygotes())
      st.warm.push_back({profile.network, profile.root, n});
  }
  return st;
}

Submission EngineImpl::SubmitJob(Job job, std::function<void(Result)> on_result, uint64_t group,
                                 bool task, std::string cache_partition) {
  Pending p;
  p.handle = next_handle_++;
  p.group = group;
  p.limits = job.limits.Resolved();
  p.profile = ProfileOf(job);
  p.on_result = std::move(on_result);
  p.job = std::move(job);
  const JobHandle handle = p.handle;

  // What cannot run ends at once, but its result still goes out on an engine thread.
  std::string invalid = CheckLimits(p.limits, opts_.maxima);
  const bool evaluated = !task && eval::IsEvaluation(p.job);
  if (invalid.empty() && p.job.argv.empty() && !evaluated) invalid = "cmd: empty";
  // The job parser checks these for job files; an embedder's or `brood exec`'s Job comes here
  // unchecked, and the zygote would refuse the spec (and be recycled for it).
  if (invalid.empty() && (!p.job.cwd.starts_with('/') || p.job.cwd.find('\0') != std::string::npos))
    invalid = "cwd: expected an absolute path, got \"" + p.job.cwd + "\"";
  if (invalid.empty() && p.job.root != "" && !opts_.roots.contains(p.job.root))
    invalid =
        "root: no root named \"" + p.job.root + "\" (the engine's roots are set by its owner)";
  std::optional<std::pair<std::string, ErrorKind>> not_run;
  if (!invalid.empty()) {
  } else if (IsCancelled(handle, p.group)) {
    not_run.emplace(CancelReason(p.group), ErrorKind::kCancelled);
  } else if (!tree_ && !opts_.allow_no_cgroups) {
    not_run.emplace("cgroup limits unavailable: " + cgroup_error_, ErrorKind::kHostUnsupported);
  }
  // A job's own expect is judged here (an evaluation judges its tests itself).
  if (!task && !evaluated && p.job.expect && invalid.empty() && !not_run) {
    for (const auto& [path, content] : p.job.expect->files)
      p.job.collect.push_back(eval::LiteralPattern(path));
    p.on_result = [cb = std::move(p.on_result),
                   expect = std::make_shared<Expect>(std::move(*p.job.expect))](Result r) {
      if (r.status != TaskStatus::kInvalidJob) r.passed = jobs::Meets(*expect, r);
      cb(std::move(r));
    };
    p.job.expect.reset();
  }
  {
    std::lock_guard lock(mu_);
    const bool queued = invalid.empty() && !not_run;
    if (queued && !task && queue_.size() >= static_cast<size_t>(std::max(1, opts_.queue))) {
      return {0, ErrorKind::kResourceExhausted,
              "queue full: " + std::to_string(queue_.size()) + " jobs are waiting for a slot"};
    }
    ++in_flight_;  // in flight from here: the destructor waits for it
    {
      std::lock_guard cancel(cancel_mu_);
      live_jobs_.insert(handle);
    }
    if (queued && evaluated) {
      // In flight from here like any job; its tasks queue as they are due.
    } else if (queued) {
      queue_.push_back(std::move(p));
      queued_[handle] = std::prev(queue_.end());
      work_.notify_one();
      return {handle};
    }
  }
  if (invalid.empty() && !not_run && evaluated) {
    StartEvaluation(std::move(p), std::move(cache_partition));
  } else if (!invalid.empty()) {
    FinishOnReactor(std::move(p), TaskStatus::kInvalidJob, std::move(invalid));
  } else {
    FinishOnReactor(std::move(p), TaskStatus::kSandboxError, std::move(not_run->first),
                    not_run->second);
  }
  return {handle};
}

void EngineImpl::StartLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_.wait(lock, [&] { return stopping_ || (!queue_.empty() && pool_->HasFree()); });
    if (stopping_) return;  // the destructor has seen every job done
    zygote::Lease lease = pool_->TryAcquire(queue_.front().profile);
    if (!lease) continue;  // another starter (or the pool's thread) took it
    Pending job = std::move(queue_.front());
    queued_.erase(job.handle);
    queue_.pop_front();
    // Start latency counts from here, where a slot was free for the job (docs/result.md).
    job.admitted_ns = reactor::NowNs();
    lock.unlock();
    Start(std::move(job), std::move(lease));
    lock.lock();
  }
}

void EngineImpl::Start(Pending job, zygote::Lease lease) {
  if (IsCancelled(job.handle, job.group)) {
    lease.Return(false);
    std::string why = CancelReason(job.group);
    return Finish(job, TaskStatus::kSandboxError, std::move(why), ErrorKind::kCancelled);
  }
  bool zygote_failed = false;
  auto params = Prepare(job, lease.slot(), &zygote_failed);
  if (!params.ok() && zygote_failed) {
    // A zygote that died or misbehaved (killed from outside, say): a new one, once.
    pool_->Discard(lease.slot(), job.profile);
    zygote_failed = false;
    params = Prepare(job, lease.slot(), &zygote_failed);
  }
  if (!params.ok()) {
    lease.Return(zygote_failed);
    std::string msg = params.status().message();
    // What was killed from outside, or a job's own mistake, is not something the host lacks.
    const ErrorKind kind = params.status().kind();
    if (kind != ErrorKind::kUnavailable && kind != ErrorKind::kInvalidArgument) msg += kDoctorHint;
    return Finish(job, TaskStatus::kSandboxError, "sandbox setup failed: " + msg, kind);
  }
  params->lease = std::move(lease);
  const JobHandle handle = job.handle;
  const uint64_t group = job.group;
  params->on_done = [this, cb = std::move(job.on_result), handle](Result r) {
    cb(std::move(r));
    Done(handle);
  };
  params->running = &running_;
  params->handle = handle;
  params->job_group = group;
  reactor_->Post([this, handle, group,
                  p = std::make_shared<TaskRunParams>(std::move(params.value()))]() mutable {
    TaskRun::Start(reactor_.get(), std::move(*p));
    // A cancel that ran while this task was starting has missed it: cancel it now.
    if (cancelled_) {
      CancelRunning(0, 0);
    } else if (IsCancelled(handle, group)) {
      CancelRunning(handle, 0);
    }
  });
}

}  // namespace brood::engine_impl

namespace brood {

std::unique_ptr<Engine> Engine::Create(const EngineOptions& options, std::string* error) {
  auto e = std::make_unique<engine_impl::EngineImpl>(options);
  sys::Status st = e->Init();
  if (!st.ok()) {
    if (error) *error = st.message() + engine_impl::kDoctorHint;
    return nullptr;
  }
  return e;
}

}  // namespace brood
