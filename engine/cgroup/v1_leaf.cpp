// v1 command leaves of a session: <memory|pids|cpuacct>/<group>/task/<name> (one directory where
// cpu and cpuacct are co-mounted) and freezer/<group>/<name> (the freezer has no task leaf), and
// the freeze-kill-thaw that groups and leaves share.
#include <signal.h>
#include <unistd.h>

#include <algorithm>

#include "cgroup/cgroup_fs.hpp"
#include "cgroup/internal.hpp"

namespace brood::cgroup::internal {
namespace {

constexpr int kKillTimeoutMs = 5000;

class V1Leaf final : public Leaf {
 public:
  V1Leaf(const V1Dirs& dirs, std::string name, std::shared_ptr<LeafTally> tally, bool owned)
      : d_(dirs),
        name_(std::move(name)),
        tally_(std::move(tally)),
        owned_(owned),
        cpu_(d_.cpuacct + "/cpuacct.usage"),
        peak_(d_.memory + "/memory.max_usage_in_bytes"),
        limit_(d_.memory.substr(0, d_.memory.rfind('/')) + "/memory.limit_in_bytes") {
    // memory, pids, cpuacct (or the co-mounted cpu,cpuacct), freezer: each hierarchy once.
    for (const std::string* p : {&d_.memory, &d_.pids, &d_.cpuacct, &d_.freezer}) {
      if (!p->empty() && std::find(dirs_.begin(), dirs_.end(), *p) == dirs_.end())
        dirs_.push_back(*p);
    }
  }

  ~V1Leaf() override {
    if (!owned_) return;
    std::unique_lock<std::mutex> lock;
    if (tally_) lock = std::unique_lock(tally_->mu);
    // Read before the counters go. rmdir fails with EBUSY while a process is left (a command's
    // background processes): the group still counts the leaf then, and removes it at its end.
    const uint64_t oom = OomKills();
    const uint64_t pids = fs::ReadKeyed(d_.pids + "/pids.events", "max");
    bool memory_gone = false, pids_gone = false;
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      const bool gone = ::rmdir(it->c_str()) == 0;
      memory_gone |= gone && *it == d_.memory;
      pids_gone |= gone && *it == d_.pids;
    }
    if (tally_ && memory_gone) tally_->oom_kills += oom;
    if (tally_ && pids_gone) tally_->pids_max_events += pids;
  }

  LeafJoin Join() const override {
    LeafJoin j{d_.memory, {}, d_.memory + "/memory.stat", /*clone_into=*/false};
    for (const std::string& dir : dirs_) j.procs.push_back(dir + "/cgroup.procs");
    return j;
  }

  // Read through fds held from the first read: a command's CPU is checked while it runs.
  sys::StatusOr<uint64_t> CpuNs() override { return cpu_.ReadU64(); }
  // Never above the session's limit: the kernel charges a leaf before its ancestors and takes a
  // charge the task leaf refuses back, but not the leaf's watermark.
  sys::StatusOr<uint64_t> PeakMemory() override {
    auto v = peak_.ReadU64();
    if (!v.ok()) return v;
    auto limit = limit_.ReadU64();
    return limit.ok() && *limit < *v ? *limit : *v;
  }
  uint64_t OomKills() override {
    return fs::ReadKeyed(d_.memory + "/memory.oom_control", "oom_kill");
  }

  sys::Status KillAll() override { return V1KillAll(d_.freezer, dirs_); }

  bool Empty() override {
    for (const std::string& dir : dirs_) {
      auto pids = fs::ReadProcs(dir + "/cgroup.procs");
      if (pids.ok() && !pids->empty()) return false;
    }
    return true;
  }

  const std::string& name() const override { return name_; }

 private:
  V1Dirs d_;
  std::vector<std::string> dirs_;  // the distinct directories, in Join's order
  std::string name_;
  std::shared_ptr<LeafTally> tally_;
  bool owned_;
  fs::HeldFile cpu_, peak_, limit_;  // cpuacct.usage, the peak, the task leaf's memory limit
};

}  // namespace

std::unique_ptr<Leaf> NewV1Leaf(const V1Dirs& dirs, std::string name,
                                std::shared_ptr<LeafTally> tally, bool owned) {
  return std::make_unique<V1Leaf>(dirs, std::move(name), std::move(tally), owned);
}

sys::Status V1KillAll(const std::string& freezer, const std::vector<std::string>& dirs) {
  if (!freezer.empty()) {
    // Frozen, nothing can fork between our reading cgroup.procs and the kill.
    const std::string state = freezer + "/freezer.state";
    BROOD_RETURN_IF_ERROR(fs::WriteFile(state, "FROZEN"));
    // FREEZING can last while a task sleeps uninterruptibly: bounded wait, then kill anyway.
    for (int i = 0; i < 20; ++i) {
      auto s = fs::ReadFile(state);
      if (!s.ok() || s->rfind("FROZEN", 0) == 0) break;
      fs::Backoff(i);
    }
    // Every hierarchy and every cgroup below: a session's command leaves too.
    for (const std::string& dir : dirs) {
      for (pid_t pid : fs::ProcsBelow(dir)) {
        if (pid != ::getpid()) ::kill(pid, SIGKILL);
      }
    }
    // SIGKILL acts once thawed.
    BROOD_RETURN_IF_ERROR(fs::WriteFile(state, "THAWED"));
  }
  // Wait for the exits (and, without a freezer, keep killing what a fork race let through).
  for (const std::string& dir : dirs) {
    BROOD_RETURN_IF_ERROR(fs::KillTree(dir, kKillTimeoutMs));
  }
  return sys::OkStatus();
}

}  // namespace brood::cgroup::internal
