// The v1 backend: one directory per controller hierarchy (memory, pids, cpu, cpuacct, freezer;
// cpu and cpuacct may share one when co-mounted). Processes join through every cgroup.procs.
// The task leaf exists where the task is counted apart from brood's helpers: in the memory, pids
// and cpuacct hierarchies. A session's command leaves sit below it (v1_leaf.cpp).
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "cgroup/cgroup_fs.hpp"
#include "cgroup/internal.hpp"

namespace brood::cgroup::internal {
namespace {

constexpr int kKillTimeoutMs = 5000;
constexpr uint64_t kCfsPeriodUs = 100000;
constexpr uint64_t kPageSlack = 4096;  // memsw above memory: see SetMemory
constexpr char kTaskLeaf[] = "task";

std::vector<std::string> Distinct(const V1Dirs& d) {
  std::vector<std::string> out;
  for (const std::string* p : {&d.memory, &d.pids, &d.cpu, &d.cpuacct, &d.freezer}) {
    if (!p->empty() && std::find(out.begin(), out.end(), *p) == out.end()) out.push_back(*p);
  }
  return out;
}

V1Dirs Below(const V1Dirs& d, const std::string& name) {
  auto sub = [&](const std::string& p) { return p.empty() ? p : p + "/" + name; };
  return {sub(d.memory), sub(d.pids), sub(d.cpu), sub(d.cpuacct), sub(d.freezer)};
}

// The distinct directories of `d` in the hierarchies where the task is counted apart (memory,
// pids, cpuacct; memory first). cpu co-mounted with cpuacct is the same directory.
std::vector<std::string> Counting(const V1Dirs& d) {
  std::vector<std::string> out;
  for (const std::string* p : {&d.memory, &d.pids, &d.cpuacct}) {
    if (!p->empty() && std::find(out.begin(), out.end(), *p) == out.end()) out.push_back(*p);
  }
  return out;
}

// The task leaf's directories below group `d`: named `leaf` in memory, pids and cpuacct (and cpu
// when co-mounted with cpuacct); cpu and freezer otherwise stay the group's.
V1Dirs LeafDirs(const V1Dirs& d, const std::string& leaf) {
  auto sub = [&](const std::string& p) { return p.empty() ? p : p + "/" + leaf; };
  return {sub(d.memory), sub(d.pids), d.cpu == d.cpuacct ? sub(d.cpu) : d.cpu, sub(d.cpuacct),
          d.freezer};
}

// mkdir in each hierarchy; on failure removes what it made, so nothing is half-created.
sys::Status MakeAll(const std::vector<std::string>& dirs) {
  for (size_t i = 0; i < dirs.size(); ++i) {
    sys::Status st = fs::MakeDir(dirs[i]);
    if (!st.ok()) {
      while (i-- > 0) ::rmdir(dirs[i].c_str());
      return st;
    }
  }
  return sys::OkStatus();
}

class V1Group final : public Group {
 public:
  // `task_leaf`: the name of the task's leaf below the group in the memory, pids and cpuacct
  // hierarchies ("" for none: the group's own directories stand for it, as in tests over plain
  // directories).
  V1Group(const V1Dirs& dirs, std::string name, bool owned, const std::string& task_leaf)
      : d_(dirs),
        distinct_(Distinct(dirs)),
        name_(std::move(name)),
        owned_(owned),
        leaf_(task_leaf.empty() ? dirs : LeafDirs(dirs, task_leaf)),
        mem_(leaf_.memory),
        memsw_(fs::Exists(mem_ + "/memory.memsw.limit_in_bytes")),
        cpu_usage_(leaf_.cpuacct + "/cpuacct.usage"),
        max_usage_(mem_ + "/memory.max_usage_in_bytes"),
        oom_control_(mem_ + "/memory.oom_control"),
        failcnt_(mem_ + "/memory.failcnt"),
        memsw_failcnt_(mem_ + "/memory.memsw.failcnt"),
        pids_events_(leaf_.pids + "/pids.events") {
    // Open the counter files now (and the peak's reset): a group's fds stay constant over its
    // tasks.
    if (owned_) {
      (void)ReadUsage();
      (void)ResetPeak();
    }
  }

  ~V1Group() override {
    if (!owned_) return;
    // Leaves first: a session's command leaves, the task leaf, then the group (EBUSY: the Tree
    // retries).
    for (const std::string& dir : distinct_) (void)fs::RemoveTree(dir);
  }

  sys::Status SetLimits(const GroupLimits& limits) override {
    BROOD_RETURN_IF_ERROR(SetMemory(limits.memory_bytes));
    // Without swap accounting a 0 keeps the kernel from swapping the group out instead of
    // OOM-killing it; not every kernel lets a non-root cgroup set it, hence best effort.
    (void)fs::WriteFile(mem_ + "/memory.swappiness", "0");
    // The leaf's limit is the task's; the group's caps task and helpers together.
    if (leaf_.pids != d_.pids) {
      BROOD_RETURN_IF_ERROR(fs::WriteFile(d_.pids + "/pids.max", PidsMaxValue(limits.group_pids)));
    }
    BROOD_RETURN_IF_ERROR(fs::WriteFile(leaf_.pids + "/pids.max", PidsMaxValue(limits.pids)));
    BROOD_RETURN_IF_ERROR(
        fs::WriteFile(d_.cpu + "/cpu.cfs_period_us", std::to_string(kCfsPeriodUs)));
    std::string quota = "-1";
    if (limits.cpus > 0) {
      // The kernel refuses quotas under 1 ms.
      quota = std::to_string(std::max<uint64_t>(1000, std::llround(limits.cpus * kCfsPeriodUs)));
    }
    return fs::WriteFile(d_.cpu + "/cpu.cfs_quota_us", quota);
  }

  sys::Status ResetPeak() override {
    // Writing 0 sets the watermark to the current usage.
    return max_usage_.Write("0");
  }

  sys::StatusOr<uint64_t> ReadCpuNs() override { return cpu_usage_.ReadU64(); }

  sys::StatusOr<Usage> ReadUsage() override {
    Usage u;
    auto cpu = cpu_usage_.ReadU64();
    if (!cpu.ok()) return cpu.status();
    u.cpu_ns = *cpu;
    auto peak = max_usage_.ReadU64();
    if (!peak.ok()) return peak.status();
    // Not memsw.max_usage: a charge that memsw accepts and memory then refuses is undone, but
    // leaves memsw's watermark a page over the limit. Swap is at most a page (SetMemory).
    u.peak_memory_bytes = *peak;
    // oom_kill exists since 4.13; it is the reliable OOM signal (the eventfd can lag ~30 ms).
    u.oom_kills = oom_control_.ReadKeyed("oom_kill");
    u.pids_max_events = pids_events_.ReadKeyed("max");
    if (has_leaves_.load(std::memory_order_acquire)) {
      // v1 counts an OOM kill in the victim's cgroup, a refused fork in the forker's: a session's
      // command leaves count their own (internal::LeafTally).
      std::lock_guard lock(tally_->mu);
      u.oom_kills =
          WithLeaves(u.oom_kills,
                     tally_->oom_kills + fs::SumKeyedBelow(mem_, "memory.oom_control", "oom_kill"));
      u.pids_max_events =
          WithLeaves(u.pids_max_events,
                     tally_->pids_max_events + fs::SumKeyedBelow(leaf_.pids, "pids.events", "max"));
    }
    // Failed charges (see SetMemory for why memsw sits a page above). An OOM kill implies the
    // limit was hit, so it is a floor where the kernel counted nothing.
    auto fail = failcnt_.ReadU64();
    u.memory_max_events = fail.ok() ? *fail : 0;
    if (memsw_) {
      auto swfail = memsw_failcnt_.ReadU64();
      if (swfail.ok()) u.memory_max_events += *swfail;
    }
    u.memory_max_events = std::max(u.memory_max_events, u.oom_kills);
    u.memory_oom_events = u.oom_kills;  // v1 counts no failed charge apart from its kills
    return u;
  }

  std::vector<std::string> ProcsFiles() const override {
    std::vector<std::string> out;
    for (const std::string& dir : distinct_) out.push_back(LeafOf(dir) + "/cgroup.procs");
    return out;
  }

  std::vector<std::string> HelperProcsFiles() const override {
    std::vector<std::string> out;
    for (const std::string& dir : distinct_) out.push_back(dir + "/cgroup.procs");
    return out;
  }

  TaskLeaf Task() const override {
    TaskLeaf t{mem_, {}, mem_ + "/memory.stat", /*clone_into=*/false};
    for (const std::string& leaf : Counting(leaf_)) t.procs.push_back(leaf + "/cgroup.procs");
    return t;
  }

  sys::Status Delegate(uid_t, gid_t) override { return sys::OkStatus(); }

  sys::Status Attach(pid_t pid) override {
    for (const std::string& file : ProcsFiles()) {
      BROOD_RETURN_IF_ERROR(fs::WriteFile(file, std::to_string(pid)));
    }
    return sys::OkStatus();
  }

  sys::StatusOr<sys::UniqueFd> OomEventFd() override {
    sys::UniqueFd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!efd) return sys::PosixError("eventfd(0, EFD_CLOEXEC|EFD_NONBLOCK)");
    const std::string oom_control = mem_ + "/memory.oom_control";
    sys::UniqueFd ofd(::open(oom_control.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ofd) return sys::PosixError("open(" + oom_control + ", O_RDONLY)");
    // The kernel keeps its own references: the oom_control fd can be closed afterwards.
    BROOD_RETURN_IF_ERROR(
        fs::WriteFile(mem_ + "/cgroup.event_control",
                      std::to_string(efd.get()) + " " + std::to_string(ofd.get())));
    return efd;
  }

  // The freezer is hierarchical and every directory is walked: command leaves die too.
  sys::Status KillAll() override { return V1KillAll(d_.freezer, distinct_); }

  // v1 needs no delegation: a process joins through fds root opened.
  sys::StatusOr<std::unique_ptr<Leaf>> MakeLeaf(const std::string& name, uid_t, gid_t) override {
    BROOD_RETURN_IF_ERROR(CheckGroupName(name));
    const V1Dirs c = CommandDirs(name);
    std::vector<std::string> dirs = Counting(c);
    if (!c.freezer.empty() && std::find(dirs.begin(), dirs.end(), c.freezer) == dirs.end())
      dirs.push_back(c.freezer);
    BROOD_RETURN_IF_ERROR(MakeAll(dirs));
    has_leaves_.store(true, std::memory_order_release);
    return NewV1Leaf(c, name, tally_, /*owned=*/true);
  }

  sys::StatusOr<Current> ReadCurrent() override {
    auto memory = fs::ReadU64(mem_ + "/memory.usage_in_bytes");
    if (!memory.ok()) return memory.status();
    auto pids = fs::ReadU64(leaf_.pids + "/pids.current");
    if (!pids.ok()) return pids.status();
    return Current{*memory, *pids};
  }

  const std::string& name() const override { return name_; }

 private:
  // memsw is set one page above memory. Since 6.16 the kernel counts failcnt only on the memory
  // counter, and memsw is charged first: with memsw == memory every hit lands on memsw and no
  // counter moves (measured: 0 and 0 after an OOM kill). One page of slack makes the memory
  // counter hit first, so failcnt counts hits the task survived; swap stays at most one page.
  // memsw must stay >= memory at every moment: raise memsw first, lower memory first.
  sys::Status SetMemory(uint64_t bytes) {
    const std::string value = bytes ? std::to_string(bytes) : "-1";
    const std::string limit = mem_ + "/memory.limit_in_bytes";
    const std::string memsw = mem_ + "/memory.memsw.limit_in_bytes";
    if (!memsw_) return fs::WriteFile(limit, value);
    const std::string sw_value = bytes ? std::to_string(bytes + kPageSlack) : "-1";
    auto current = fs::ReadU64(limit);
    if (!current.ok()) return current.status();
    const uint64_t wanted = bytes ? bytes : UINT64_MAX;
    if (wanted < *current) {
      BROOD_RETURN_IF_ERROR(fs::WriteFile(limit, value));
      return fs::WriteFile(memsw, sw_value);
    }
    BROOD_RETURN_IF_ERROR(fs::WriteFile(memsw, sw_value));
    return fs::WriteFile(limit, value);
  }

  // A command leaf `name`: below the task leaf in memory, pids and cpuacct (and cpu co-mounted
  // with cpuacct), below the group in the freezer (which has no task leaf; a freezer co-mounted
  // with a counting hierarchy shares its leaf). The cpu of its own stays the group's.
  V1Dirs CommandDirs(const std::string& name) const {
    auto sub = [&](const std::string& p) { return p.empty() ? p : p + "/" + name; };
    V1Dirs c{sub(leaf_.memory), sub(leaf_.pids), d_.cpu, sub(leaf_.cpuacct), sub(d_.freezer)};
    if (d_.cpu == d_.cpuacct) c.cpu = c.cpuacct;
    if (d_.freezer.empty()) return c;
    if (d_.freezer == d_.memory) c.freezer = c.memory;
    if (d_.freezer == d_.pids) c.freezer = c.pids;
    if (d_.freezer == d_.cpuacct) c.freezer = c.cpuacct;
    return c;
  }

  // The task leaf's directory in the hierarchy of the group's directory `dir`.
  const std::string& LeafOf(const std::string& dir) const {
    if (dir == d_.memory) return leaf_.memory;
    if (dir == d_.pids) return leaf_.pids;
    if (dir == d_.cpuacct) return leaf_.cpuacct;
    return dir;  // cpu (not co-mounted with cpuacct), freezer: the group's own
  }

  V1Dirs d_;
  std::vector<std::string> distinct_;
  std::string name_;
  bool owned_;
  V1Dirs leaf_;      // the task leaf per hierarchy (the group's own dir where it has none)
  std::string mem_;  // the task leaf in the memory hierarchy
  bool memsw_;
  // Read for every task: kept open (pread), see fs::HeldFile.
  fs::HeldFile cpu_usage_, max_usage_, oom_control_, failcnt_, memsw_failcnt_, pids_events_;
  // Command leaves' counters (sessions only: has_leaves_ from the first MakeLeaf on).
  std::shared_ptr<LeafTally> tally_ = std::make_shared<LeafTally>();
  std::atomic<bool> has_leaves_{false};
};

class V1Tree final : public Tree {
 public:
  explicit V1Tree(const V1Dirs& top) : top_(top), distinct_(Distinct(top)) {}

  ~V1Tree() override {
    // Leftovers are brood's own tasks (a group whose owner forgot KillAll): kill, then remove.
    for (const std::string& dir : distinct_) (void)fs::KillTree(dir, kKillTimeoutMs);
    for (const std::string& dir : distinct_) (void)fs::RemoveTree(dir);
    ReleaseTreeDirs(distinct_);
  }

  Version version() const override { return Version::kV1; }

  sys::StatusOr<std::unique_ptr<Group>> MakeGroup(const std::string& name) override {
    BROOD_RETURN_IF_ERROR(CheckGroupName(name));
    V1Dirs dirs = Below(top_, name);
    BROOD_RETURN_IF_ERROR(MakeAll(Distinct(dirs)));
    std::vector<std::string> leaves = Counting(LeafDirs(dirs, kTaskLeaf));
    if (sys::Status st = MakeAll(leaves); !st.ok()) {
      for (const std::string& dir : Distinct(dirs)) ::rmdir(dir.c_str());
      return st;
    }
    return std::unique_ptr<Group>(new V1Group(dirs, name, /*owned=*/true, kTaskLeaf));
  }

 private:
  V1Dirs top_;
  std::vector<std::string> distinct_;
};

}  // namespace

std::unique_ptr<Group> V1GroupAt(const V1Dirs& dirs, std::string name) {
  return std::make_unique<V1Group>(dirs, std::move(name), /*owned=*/false, "");
}

sys::StatusOr<std::unique_ptr<Tree>> CreateV1Tree(const Layout& layout) {
  V1Dirs base{layout.memory, layout.pids, layout.cpu, layout.cpuacct, layout.freezer};
  V1Dirs top = Below(base, "brood-" + std::to_string(::getpid()));
  std::vector<std::string> dirs = Distinct(top);
  BROOD_RETURN_IF_ERROR(ClaimTreeDirs(dirs));
  sys::Status st = MakeAll(dirs);
  if (!st.ok()) {
    ReleaseTreeDirs(dirs);
    return sys::Status::Error("cgroup v1: " + st.message() + " (run `brood doctor`)");
  }
  return std::unique_ptr<Tree>(new V1Tree(top));
}

}  // namespace brood::cgroup::internal
