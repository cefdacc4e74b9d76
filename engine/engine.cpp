// EngineImpl: owns the cgroup tree, the hatchery and the reactor thread, and turns a Job into a
// TaskRun. The blocking part of starting a task (a zygote, pipes, the RUN request) happens on
// the submitting thread; from then on the reactor owns the task.
#include "brood/engine.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "cgroup/cgroup.hpp"
#include "reactor/reactor.hpp"
#include "sandbox/landlock.hpp"
#include "sandbox/seccomp.hpp"
#include "sandbox/task_spec.hpp"
#include "task_run.hpp"
#include "workspace/disk.hpp"
#include "zygote/hatchery.hpp"
#include "zygote/pool.hpp"

namespace brood {
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

sys::StatusOr<sys::UniqueFd> MemfdWith(const std::string& bytes, const char* name,
                                       bool seal = true) {
  sys::UniqueFd fd(memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return sys::PosixError("memfd_create");
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = write(fd.get(), bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys::PosixError("write(memfd)");
    off += static_cast<size_t>(n);
  }
  if (seal) fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  lseek(fd.get(), 0, SEEK_SET);
  return fd;
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

struct Pipe {
  sys::UniqueFd r, w;
};
sys::StatusOr<Pipe> MakePipe(int flags = 0) {
  int p[2];
  if (pipe2(p, O_CLOEXEC | flags) != 0) return sys::PosixError("pipe2");
  return Pipe{sys::UniqueFd(p[0]), sys::UniqueFd(p[1])};
}

class EngineImpl final : public Engine {
 public:
  explicit EngineImpl(const EngineOptions& o) : opts_(o) {}
  ~EngineImpl() override;
  sys::Status Init();
  Result Run(const Job& job) override;
  JobHandle Submit(Job job, std::function<void(Result)> on_result, SubmitOptions options) override;
  uint64_t NewGroup() override { return next_group_++; }
  void Cancel(JobHandle job) override;
  void CancelGroup(uint64_t group) override;
  void CancelAll() override;
  EngineInfo Info() const override { return info_; }

 private:
  // *zygote_failed: the slot's zygote failed the request (it was recycled; a retry may work).
  sys::StatusOr<TaskRunParams> Prepare(const Job& job, const Limits& limits, int64_t admitted,
                                       bool* zygote_failed);
  sys::StatusOr<sys::UniqueFd> EnsureDisk(zygote::Slot& slot, zygote::ZygoteHandle& z,
                                          int64_t disk_mb);

  EngineOptions opts_;
  EngineInfo info_;
  sandbox::SeccompProgram seccomp_;
  workspace::DiskOptions disk_opts_;
  std::shared_ptr<cgroup::Tree> tree_;
  std::string cgroup_error_;  // why tasks cannot have cgroup limits (when not allowed to go on)
  std::unique_ptr<zygote::Hatchery> hatchery_;
  std::unique_ptr<zygote::Pool> pool_;
  std::unique_ptr<reactor::Reactor> reactor_;
  std::thread reactor_thread_;
  sys::UniqueFd uid_lock_;
  uint32_t host_uid_ = 0, host_gid_ = 0;
  std::mutex mu_;
  std::condition_variable idle_;
  int in_flight_ = 0;
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
};

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
  pc.system_root = opts_.root_dir.empty() ? "/" : opts_.root_dir;
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
  return sys::OkStatus();
}

EngineImpl::~EngineImpl() {
  {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [&] { return in_flight_ == 0; });
  }
  if (reactor_) reactor_->Stop();
  if (reactor_thread_.joinable()) reactor_thread_.join();
  pool_.reset();
  hatchery_.reset();
  tree_.reset();
}

void EngineImpl::CancelAll() {
  cancelled_ = true;
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
    std::lock_guard lock(cancel_mu_);
    if (!live_jobs_.contains(job)) return;  // done already (or never submitted): nothing to end
    cancelled_jobs_.insert(job);
  }
  reactor_->Post([this, job] { CancelRunning(job, 0); });
}

void EngineImpl::CancelGroup(uint64_t group) {
  if (group == 0) return;
  {
    std::lock_guard lock(cancel_mu_);
    cancelled_groups_.insert(group);
  }
  reactor_->Post([this, group] { CancelRunning(0, group); });
}

Result EngineImpl::Run(const Job& job) {
  std::promise<Result> p;
  auto f = p.get_future();
  Submit(job, [&p](Result r) { p.set_value(std::move(r)); }, {});
  return f.get();
}

// The slot's workspace disk for a task of `disk_mb`: the one it has if that is of this size (a
// disk whose last task did not empty it is dropped), else a spare of that size, else a new one.
// Returns a mount of it when `z` does not hold it yet.
sys::StatusOr<sys::UniqueFd> EngineImpl::EnsureDisk(zygote::Slot& slot, zygote::ZygoteHandle& z,
                                                    int64_t disk_mb) {
  if (slot.disk && !slot.disk_clean) slot.disk.reset();  // never trusted again
  if (!slot.disk || slot.disk->disk_mb() != disk_mb) {
    auto& spares = slot.spare_disks;
    auto same = std::find_if(spares.begin(), spares.end(),
                             [&](const auto& d) { return d->disk_mb() == disk_mb; });
    std::unique_ptr<workspace::Disk> next;
    if (same != spares.end()) {
      next = std::move(*same);
      spares.erase(same);
    } else {
      auto disk = workspace::Disk::Create(disk_opts_, disk_mb, WorkspaceInodes(disk_mb),
                                          slot.host_uid, slot.host_gid);
      if (!disk.ok()) return disk.status().Wrap("workspace disk");
      next = std::move(disk.value());
    }
    if (slot.disk) spares.push_back(std::move(slot.disk));
    if (spares.size() > kSpareDisks) spares.erase(spares.begin());
    slot.disk = std::move(next);
    slot.disk_clean = true;
  }
  if (z.disk_id == slot.disk->id()) return sys::UniqueFd();
  return slot.disk->NewMount();
}

sys::StatusOr<TaskRunParams> EngineImpl::Prepare(const Job& job, const Limits& limits,
                                                 int64_t admitted, bool* zygote_failed) {
  TaskRunParams p;
  p.id = job.id;
  p.limits = limits;
  p.admitted_ns = admitted;
  p.enforcement = info_.enforcement;
  p.landlock = info_.landlock;
  p.watch_denied = seccomp_.listener;

  const auto shape = job.network == Network::kHost ? zygote::kNetHost : zygote::kNetNone;
  auto acquired = pool_->Acquire(shape);
  if (!acquired.ok()) return acquired.status();
  zygote::Slot* slot = *acquired;
  zygote::Pool* pool = pool_.get();
  // From here on the slot goes back to the pool on every path.
  p.release = [pool, slot, shape](bool anomaly, bool disk_clean) {
    slot->disk_clean = disk_clean;
    pool->Release(slot, shape, anomaly);
  };
  auto give_back = [&](sys::Status st, bool anomaly) {
    p.release(anomaly, slot->disk_clean);
    return st;
  };
  if (slot->group) {
    // memory_mb exactly, in the task's own leaf (zygotes and init are not in it). pids: + the
    // task's init and the zygotes, which share the slot's pids cgroup.
    cgroup::GroupLimits gl;
    gl.memory_bytes = static_cast<uint64_t>(limits.memory_mb) << 20;
    gl.pids = static_cast<uint64_t>(limits.pids) + 1 + slot->zygotes();
    gl.cpus = limits.cpus;
    if (!slot->limits || slot->limits->memory_bytes != gl.memory_bytes ||
        slot->limits->pids != gl.pids || slot->limits->cpus != gl.cpus) {
      slot->limits.reset();
      if (auto st = slot->group->SetLimits(gl); !st.ok()) return give_back(st, false);
      slot->limits = gl;
    }
    p.group = slot->group.get();
    if (slot->oom_event) {
      // Events of earlier tasks (eventfd counts, inotify records) are theirs: drain them.
      char drain[4096];
      while (read(slot->oom_event.get(), drain, sizeof drain) > 0) {
      }
      p.oom_event = slot->oom_event.get();
      p.oom_event_is_oom = tree_->version() == cgroup::Version::kV1;
    }
  }
  sys::UniqueFd workspace_mount;
  const bool use_disk = info_.shared_disk_reason.empty();
  if (use_disk) {
    auto m = EnsureDisk(*slot, *slot->zygote[shape], limits.disk_mb);
    if (!m.ok()) return give_back(m.status(), false);
    workspace_mount = std::move(m.value());
  }

  sandbox::TaskSpec spec;
  spec.argv = job.argv;
  std::map<std::string, std::string> env = {
      {"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", "/workspace"}, {"LANG", "C.UTF-8"}};
  for (const auto& [k, v] : job.env) env[k] = v;
  for (const auto& [k, v] : env) spec.envp.push_back(k + "=" + v);
  spec.cwd = job.cwd;
  spec.files = job.files;
  spec.collect = job.collect;
  spec.disk_mb = limits.disk_mb;
  spec.disk_inodes = WorkspaceInodes(limits.disk_mb);
  spec.memory_mb = limits.memory_mb;
  spec.cpu_ms = limits.cpu_ms;
  spec.pids = limits.pids;
  spec.rlimit_mode = !tree_;
  spec.workspace_disk = use_disk;
  spec.landlock_abi = info_.landlock;

  auto spec_fd = MemfdWith(sandbox::EncodeTaskSpec(spec), "brood-spec");
  if (!spec_fd.ok()) return give_back(spec_fd.status(), false);
  auto out = MakePipe(), err = MakePipe(), report = MakePipe(O_DIRECT);
  for (const auto* pipe : {&out, &err, &report}) {
    if (!pipe->ok()) return give_back(pipe->status(), false);  // its own errno, not a later one
  }
  sys::UniqueFd stdin_task;
  if (job.stdin_fd >= 0) {
    auto in = MakePipe();
    if (!in.ok()) return give_back(in.status(), false);
    stdin_task = std::move(in->r);
    p.stdin_w = std::move(in->w);
    p.stdin_source = job.stdin_fd;
  } else if (!job.stdin_data.empty()) {
    auto mem = MemfdWith(job.stdin_data, "brood-stdin");
    if (!mem.ok()) return give_back(mem.status(), false);
    stdin_task = std::move(mem.value());
  }
  if (p.group) {
    (void)p.group->ResetPeak();  // peak memory is per task; the other counters are deltas
    if (auto u = p.group->ReadUsage(); u.ok()) p.baseline = *u;
  }
  if (!job.collect.empty()) {
    auto mem = MemfdWith("", "brood-collect", /*seal=*/false);
    if (!mem.ok()) return give_back(mem.status(), false);
    p.collect = std::move(mem.value());
  }
  zygote::RunFds fds{spec_fd->get(),
                     stdin_task ? stdin_task.get() : -1,
                     out->w.get(),
                     err->w.get(),
                     report->w.get(),
                     p.collect ? p.collect.get() : -1,
                     workspace_mount ? workspace_mount.get() : -1};
  // From here the disk is the task's until its init says it emptied it.
  if (use_disk) slot->disk_clean = false;
  auto pidfd = zygote::RunInZygote(*slot->zygote[shape], fds);
  if (!pidfd.ok()) {
    // A zygote that died or misbehaved: brood replaces it, so this is not the host's doing.
    *zygote_failed = true;
    return give_back(sys::Status::Error(ErrorKind::kUnavailable, pidfd.status().message()),
                     /*anomaly=*/true);
  }
  if (use_disk) slot->zygote[shape]->disk_id = slot->disk->id();
  p.init_pidfd = std::move(pidfd.value());
  p.stdout_r = std::move(out->r);
  p.stderr_r = std::move(err->r);
  p.report_r = std::move(report->r);
  return p;  // the write ends close here: only the task holds them now
}

JobHandle EngineImpl::Submit(Job job, std::function<void(Result)> on_result,
                             SubmitOptions options) {
  const int64_t admitted = reactor::NowNs();
  const JobHandle handle = next_handle_++;
  const uint64_t group = options.group;
  const Limits limits = job.limits.Resolved();
  // In flight from here, before the pool is asked for a slot: the destructor waits for every
  // submission, also one still waiting for a slot, before it takes the pool down.
  {
    std::lock_guard lock(mu_);
    ++in_flight_;
  }
  {
    std::lock_guard lock(cancel_mu_);
    live_jobs_.insert(handle);
  }
  auto finished = [this, handle] {
    {
      std::lock_guard lock(cancel_mu_);
      live_jobs_.erase(handle);
      cancelled_jobs_.erase(handle);
    }
    std::lock_guard lock(mu_);
    if (--in_flight_ == 0) idle_.notify_all();
  };
  auto fail = [&](TaskStatus status, std::string error,
                  std::optional<ErrorKind> kind = std::nullopt) {
    Result r;
    r.id = job.id;
    r.status = status;
    r.error_kind = kind;
    r.limits = limits;
    r.limits_enforced = info_.enforcement;
    r.landlock = info_.landlock;
    r.error = std::move(error);
    on_result(std::move(r));
    finished();
    return handle;
  };
  if (std::string e = CheckLimits(limits, opts_.maxima); !e.empty())
    return fail(TaskStatus::kInvalidJob, e);
  if (job.argv.empty()) return fail(TaskStatus::kInvalidJob, "cmd: empty");
  // The job parser checks these for job files; an embedder's or `brood exec`'s Job comes here
  // unchecked, and the zygote would refuse the spec (and be recycled for it).
  if (!job.cwd.starts_with('/') || job.cwd.find('\0') != std::string::npos)
    return fail(TaskStatus::kInvalidJob, "cwd: expected an absolute path, got \"" + job.cwd + "\"");
  if (IsCancelled(handle, group)) {
    return fail(TaskStatus::kSandboxError,
                cancelled_ ? "cancelled: brood is stopping" : "cancelled: its group was cancelled",
                ErrorKind::kCancelled);
  }
  if (!tree_ && !opts_.allow_no_cgroups)
    return fail(TaskStatus::kSandboxError, "cgroup limits unavailable: " + cgroup_error_,
                ErrorKind::kHostUnsupported);

  bool zygote_failed = false;
  auto params = Prepare(job, limits, admitted, &zygote_failed);
  if (!params.ok() && zygote_failed) {
    // A zygote that died or misbehaved (killed from outside, say) was replaced: retry once.
    zygote_failed = false;
    params = Prepare(job, limits, admitted, &zygote_failed);
  }
  if (!params.ok()) {
    std::string msg = params.status().message();
    // What was killed from outside is not something the host lacks.
    if (params.status().kind() != ErrorKind::kUnavailable) msg += kDoctorHint;
    return fail(TaskStatus::kSandboxError, "sandbox setup failed: " + msg, params.status().kind());
  }
  params->on_done = [cb = std::move(on_result), finished](Result r) {
    cb(std::move(r));
    finished();
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
  return handle;
}

}  // namespace

std::unique_ptr<Engine> Engine::Create(const EngineOptions& options, std::string* error) {
  auto e = std::make_unique<EngineImpl>(options);
  sys::Status st = e->Init();
  if (!st.ok()) {
    if (error) *error = st.message() + kDoctorHint;
    return nullptr;
  }
  return e;
}

}  // namespace brood
