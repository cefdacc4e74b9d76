// The v2 backend: one directory per group in the unified hierarchy. brood itself lives in
// brood-<pid>/supervisor, because a cgroup with processes in it cannot enable controllers for
// its children ("no internal processes"). A session's command leaves sit below a group's task
// leaf (v2_leaf.cpp).
#include <fcntl.h>
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>

#include "cgroup/cgroup_fs.hpp"
#include "cgroup/internal.hpp"

namespace brood::cgroup::internal {
namespace {

constexpr int kKillTimeoutMs = 5000;
constexpr uint64_t kCpuPeriodUs = 100000;
constexpr char kTaskLeaf[] = "task";
constexpr char kHelperLeaf[] = "helpers";

// "+memory +pids" from {"memory", "pids"}.
std::string Toggle(const std::vector<std::string>& names, char sign) {
  std::string out;
  for (const std::string& n : names) {
    if (!out.empty()) out += ' ';
    out += sign;
    out += n;
  }
  return out;
}

// The controllers of `wanted` that base/cgroup.subtree_control does not enable yet.
std::vector<std::string> MissingInSubtree(const std::string& base,
                                          const std::vector<std::string>& wanted) {
  auto enabled = fs::ReadFile(base + "/cgroup.subtree_control");
  std::string text = " ";
  if (enabled.ok()) text += *enabled;
  text += ' ';
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::vector<std::string> missing;
  for (const std::string& c : wanted) {
    if (text.find(" " + c + " ") == std::string::npos) missing.push_back(c);
  }
  return missing;
}

class V2Group final : public Group {
 public:
  // `split`: the group holds two leaves, kTaskLeaf and kHelperLeaf ("" for none: the group
  // itself stands for both, as in tests over plain directories).
  V2Group(std::string dir, std::string name, bool owned, bool split)
      : dir_(std::move(dir)),
        name_(std::move(name)),
        owned_(owned),
        task_(split ? dir_ + "/" + kTaskLeaf : dir_),
        helpers_(split ? dir_ + "/" + kHelperLeaf : dir_),
        // usage_usec is in every cgroup's cpu.stat, the cpu controller enabled or not.
        cpu_stat_(task_ + "/cpu.stat"),
        memory_events_(task_ + "/memory.events"),
        pids_events_(task_ + "/pids.events") {
    // Since 6.12 a write to memory.peak resets the peak seen through *that open file* only, so
    // the group keeps one fd for its lifetime. Older kernels refuse the write (or the O_RDWR).
    const std::string peak = task_ + "/memory.peak";
    peak_fd_.reset(::open(peak.c_str(), O_RDWR | O_CLOEXEC));
    if (!peak_fd_) peak_fd_.reset(::open(peak.c_str(), O_RDONLY | O_CLOEXEC));
  }

  ~V2Group() override {
    peak_fd_.reset();
    if (!owned_) return;
    // A session's command leaves first, then the task leaf, the helpers' and the group.
    if (task_ != dir_) (void)fs::RemoveTree(task_);
    if (helpers_ != dir_) ::rmdir(helpers_.c_str());
    ::rmdir(dir_.c_str());  // EBUSY: the Tree retries
  }

  sys::Status SetLimits(const GroupLimits& limits) override {
    BROOD_RETURN_IF_ERROR(fs::WriteFile(
        task_ + "/memory.max", limits.memory_bytes ? std::to_string(limits.memory_bytes) : "max"));
    // No swap: the memory limit is the whole budget (absent without swap accounting).
    if (fs::Exists(task_ + "/memory.swap.max")) {
      BROOD_RETURN_IF_ERROR(fs::WriteFile(task_ + "/memory.swap.max", "0"));
    }
    // The leaf's limit is the task's; the group's caps task and helpers together.
    if (task_ != dir_)
      BROOD_RETURN_IF_ERROR(fs::WriteFile(dir_ + "/pids.max", PidsMaxValue(limits.group_pids)));
    BROOD_RETURN_IF_ERROR(fs::WriteFile(task_ + "/pids.max", PidsMaxValue(limits.pids)));
    std::string quota = "max";
    if (limits.cpus > 0) {
      // The kernel refuses quotas under 1 ms.
      quota = std::to_string(std::max<uint64_t>(1000, std::llround(limits.cpus * kCpuPeriodUs)));
    }
    return fs::WriteFile(dir_ + "/cpu.max", quota + " " + std::to_string(kCpuPeriodUs));
  }

  sys::Status ResetPeak() override {
    if (peak_fd_ && peak_resettable_) {
      peak_resettable_ = ::pwrite(peak_fd_.get(), "reset\n", 6, 0) == 6;
    }
    if (peak_fd_ && !peak_resettable_) {
      // Before 6.12 the peak stays "since creation": remember it, so that ReadUsage can tell
      // whether what follows went above it (then memory.peak is that new high, exact).
      auto peak = ReadPeak();
      peak_floor_ = peak.ok() ? *peak : UINT64_MAX;
    }
    return sys::OkStatus();
  }

  sys::StatusOr<uint64_t> ReadCpuNs() override {
    auto cpu_stat = cpu_stat_.Read();
    if (!cpu_stat.ok()) return cpu_stat.status();
    return fs::KeyedValue(*cpu_stat, "usage_usec").value_or(0) * 1000;
  }

  sys::StatusOr<Usage> ReadUsage() override {
    Usage u;
    auto cpu = ReadCpuNs();
    if (!cpu.ok()) return cpu.status();
    u.cpu_ns = *cpu;
    auto peak = ReadPeak();
    if (!peak.ok()) return peak.status();
    u.peak_memory_bytes = *peak;
    // Without memory.peak, memory.current is no peak at all.
    u.peak_exact = peak_fd_ && (peak_resettable_ || *peak > peak_floor_);
    auto events = memory_events_.Read();
    if (events.ok()) {
      u.oom_kills = fs::KeyedValue(*events, "oom_kill").value_or(0);
      u.memory_max_events = fs::KeyedValue(*events, "max").value_or(0);
      u.memory_oom_events = fs::KeyedValue(*events, "oom").value_or(0);
    }
    u.pids_max_events = pids_events_.ReadKeyed("max");
    if (has_leaves_.load(std::memory_order_acquire)) {
      // memory.events counts hierarchically; pids.events before 6.11 only in the cgroup of the
      // process whose fork failed: a session's command leaves count their own (LeafTally).
      std::lock_guard lock(tally_->mu);
      u.oom_kills = WithLeaves(
          u.oom_kills, tally_->oom_kills + fs::SumKeyedBelow(task_, "memory.events", "oom_kill"));
      u.pids_max_events =
          WithLeaves(u.pids_max_events,
                     tally_->pids_max_events + fs::SumKeyedBelow(task_, "pids.events", "max"));
    }
    return u;
  }

  std::vector<std::string> ProcsFiles() const override { return {task_ + "/cgroup.procs"}; }
  std::vector<std::string> HelperProcsFiles() const override {
    return {helpers_ + "/cgroup.procs"};
  }

  TaskLeaf Task() const override {
    return {task_, {task_ + "/cgroup.procs"}, task_ + "/memory.stat", /*clone_into=*/true};
  }

  // CLONE_INTO_CGROUP checks the caller's write access to the destination's cgroup.procs and to
  // that of the common ancestor of source (helpers) and destination: the group's. Only this
  // group's files: a process of that uid reaches nothing else, and tasks never see a cgroupfs.
  sys::Status Delegate(uid_t uid, gid_t gid) override {
    for (const std::string& f : {dir_ + "/cgroup.procs", task_ + "/cgroup.procs"}) {
      if (::chown(f.c_str(), uid, gid) != 0) return sys::PosixError("chown(" + f + ")");
    }
    return sys::OkStatus();
  }

  sys::Status Attach(pid_t pid) override {
    return fs::WriteFile(task_ + "/cgroup.procs", std::to_string(pid));
  }

  sys::StatusOr<sys::UniqueFd> OomEventFd() override {
    // The kernel notifies a modification of memory.events on every counter change (max too),
    // so readable means "look at oom_kills", not "an OOM happened".
    sys::UniqueFd fd(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!fd) return sys::PosixError("inotify_init1(IN_CLOEXEC|IN_NONBLOCK)");
    const std::string events = task_ + "/memory.events";
    if (::inotify_add_watch(fd.get(), events.c_str(), IN_MODIFY) < 0) {
      return sys::PosixError("inotify_add_watch(" + events + ", IN_MODIFY)");
    }
    return fd;
  }

  // The whole group, command leaves included (cgroup.kill and the freezer are recursive).
  sys::Status KillAll() override { return V2KillAll(dir_); }

  sys::StatusOr<std::unique_ptr<Leaf>> MakeLeaf(const std::string& name, uid_t uid,
                                                gid_t gid) override {
    BROOD_RETURN_IF_ERROR(CheckGroupName(name));
    // The task leaf becomes an inner node that hands memory and pids down to its leaves (the
    // session's limits stay on it, hierarchically). EBUSY if a process sits in it itself (v2's
    // no internal processes): a session puts none there.
    auto available = fs::ReadFile(task_ + "/cgroup.controllers");
    std::string text = available.ok() ? *available : "";
    std::replace(text.begin(), text.end(), '\n', ' ');
    std::vector<std::string> wanted;
    for (const std::string& c : SplitWords(text, ' ')) {
      if (c == "memory" || c == "pids") wanted.push_back(c);
    }
    std::vector<std::string> missing = MissingInSubtree(task_, wanted);
    if (!missing.empty()) {
      BROOD_RETURN_IF_ERROR(fs::WriteFile(task_ + "/cgroup.subtree_control", Toggle(missing, '+')));
    }
    const std::string dir = task_ + "/" + name;
    BROOD_RETURN_IF_ERROR(fs::MakeDir(dir));
    // CLONE_INTO_CGROUP from <group>/helpers: write access to the leaf's cgroup.procs, and to
    // the common ancestor's (the group's, given by Delegate).
    const std::string procs = dir + "/cgroup.procs";
    if (::chown(procs.c_str(), uid, gid) != 0) {
      sys::Status st = sys::PosixError("chown(" + procs + ")");
      ::rmdir(dir.c_str());
      return st;
    }
    has_leaves_.store(true, std::memory_order_release);
    return NewV2Leaf(dir, name, tally_, /*owned=*/true);
  }

  sys::StatusOr<Current> ReadCurrent() override {
    auto memory = fs::ReadU64(task_ + "/memory.current");
    if (!memory.ok()) return memory.status();
    auto pids = fs::ReadU64(task_ + "/pids.current");
    if (!pids.ok()) return pids.status();
    return Current{*memory, *pids};
  }

  const std::string& name() const override { return name_; }

 private:
  // memory.peak read through our fd (honours ResetPeak); before 5.19 there is no memory.peak and
  // the best we have is memory.current at read time, which under-reports a past spike.
  sys::StatusOr<uint64_t> ReadPeak() {
    if (!peak_fd_) return fs::ReadU64(task_ + "/memory.current");
    char buf[32];
    ssize_t n = ::pread(peak_fd_.get(), buf, sizeof buf - 1, 0);
    if (n < 0) return sys::PosixError("pread(" + task_ + "/memory.peak)");
    buf[n] = '\0';
    auto v = fs::ParseU64(buf);
    if (!v) return sys::Status::Error("parse(" + task_ + "/memory.peak): " + buf);
    return *v;
  }

  std::string dir_;
  std::string name_;
  bool owned_;
  std::string task_, helpers_;  // the leaves (dir_ itself without a split)
  sys::UniqueFd peak_fd_;
  // Read for every task: kept open (pread), see fs::HeldFile.
  fs::HeldFile cpu_stat_, memory_events_, pids_events_;
  bool peak_resettable_ = true;
  uint64_t peak_floor_ = 0;  // the unresettable peak at the last ResetPeak
  // Command leaves' counters (sessions only: has_leaves_ from the first MakeLeaf on).
  std::shared_ptr<LeafTally> tally_ = std::make_shared<LeafTally>();
  std::atomic<bool> has_leaves_{false};
};

class V2Tree final : public Tree {
 public:
  V2Tree(std::string base, std::string top, std::vector<std::string> controllers,
         std::vector<std::string> added)
      : base_(std::move(base)),
        top_(std::move(top)),
        controllers_(std::move(controllers)),
        added_(std::move(added)) {}

  ~V2Tree() override {
    for (const std::string& sub : fs::SubDirs(top_)) {
      if (sub == "supervisor") continue;
      (void)fs::KillTree(top_ + "/" + sub, kKillTimeoutMs);  // brood's own leftovers
      (void)fs::RemoveTree(top_ + "/" + sub);
    }
    // Back into the base, which accepts processes only while it enables no controller for its
    // children (the root cgroup is exempt): undo what Create enabled there, innermost first. If
    // that fails (a neighbour brood in the same base enabled them too), supervisor stays behind,
    // empty once we exit, and the next brood removes it as stale.
    if (!added_.empty()) {
      (void)fs::WriteFile(top_ + "/cgroup.subtree_control", Toggle(controllers_, '-'));
      (void)fs::WriteFile(base_ + "/cgroup.subtree_control", Toggle(added_, '-'));
    }
    if (fs::WriteFile(base_ + "/cgroup.procs", std::to_string(::getpid())).ok()) {
      (void)fs::RemoveTree(top_);
    }
    ReleaseTreeDirs({top_});
  }

  Version version() const override { return Version::kV2; }

  sys::StatusOr<std::unique_ptr<Group>> MakeGroup(const std::string& name) override {
    BROOD_RETURN_IF_ERROR(CheckGroupName(name));
    if (name == "supervisor") return sys::Status::Error("cgroup: \"supervisor\" is reserved");
    std::string dir = top_ + "/" + name;
    BROOD_RETURN_IF_ERROR(fs::MakeDir(dir));
    // The group enables memory and pids for its leaves (the task's limits and counters); cpu
    // bandwidth stays the group's (the leaves' cpu.stat counts CPU time all the same).
    std::vector<std::string> for_leaves;
    for (const char* c : {"memory", "pids"}) {
      if (std::find(controllers_.begin(), controllers_.end(), c) != controllers_.end())
        for_leaves.push_back(c);
    }
    sys::Status st = sys::OkStatus();
    if (!for_leaves.empty())
      st = fs::WriteFile(dir + "/cgroup.subtree_control", Toggle(for_leaves, '+'));
    if (st.ok()) st = fs::MakeDir(dir + "/" + kTaskLeaf);
    if (st.ok()) st = fs::MakeDir(dir + "/" + kHelperLeaf);
    if (!st.ok()) {
      (void)fs::RemoveTree(dir);
      return st;
    }
    return std::unique_ptr<Group>(new V2Group(dir, name, /*owned=*/true, /*split=*/true));
  }

 private:
  std::string base_, top_;
  std::vector<std::string> controllers_;
  std::vector<std::string> added_;  // what we enabled in the base's subtree_control
};

}  // namespace

std::unique_ptr<Group> V2GroupAt(const std::string& dir, std::string name) {
  return std::make_unique<V2Group>(dir, std::move(name), /*owned=*/false, /*split=*/false);
}

sys::StatusOr<std::unique_ptr<Tree>> CreateV2Tree(const Layout& layout,
                                                  const std::vector<std::string>& controllers) {
  const std::string& base = layout.v2_base;
  const std::string pid = std::to_string(::getpid());
  const std::string top = base + "/brood-" + pid;
  BROOD_RETURN_IF_ERROR(ClaimTreeDirs({top}));
  std::vector<std::string> added;
  auto fail = [&](sys::Status st) -> sys::Status {
    // Undo in reverse: the base takes us back only once it enables no controller again.
    if (!added.empty()) (void)fs::WriteFile(base + "/cgroup.subtree_control", Toggle(added, '-'));
    (void)fs::WriteFile(base + "/cgroup.procs", pid);
    (void)fs::RemoveTree(top);
    ReleaseTreeDirs({top});
    return sys::Status::Error("cgroup v2: " + st.message() + " (run `brood doctor`)");
  };
  sys::Status st = fs::MakeDir(top);
  if (st.ok()) st = fs::MakeDir(top + "/supervisor");
  if (st.ok()) st = fs::WriteFile(top + "/supervisor/cgroup.procs", pid);
  if (!st.ok()) return fail(st);
  // Children of the base see a controller only if the base enables it for its subtree, which
  // needs the base free of processes: hence after the move, and EBUSY if others share it.
  std::vector<std::string> missing = MissingInSubtree(base, controllers);
  if (!missing.empty()) {
    st = fs::WriteFile(base + "/cgroup.subtree_control", Toggle(missing, '+'));
    if (!st.ok() && st.message().find("EBUSY") != std::string::npos) {
      st = sys::Status::Error(st.message() +
                              ": other processes share brood's cgroup; start brood in a cgroup "
                              "of its own (systemd-run --scope -p Delegate=yes) or pass "
                              "--cgroup-root");
    }
    if (!st.ok()) return fail(st);
    added = missing;
  }
  if (!controllers.empty()) {
    st = fs::WriteFile(top + "/cgroup.subtree_control", Toggle(controllers, '+'));
    if (!st.ok()) return fail(st);
  }
  return std::unique_ptr<Tree>(new V2Tree(base, top, controllers, added));
}

}  // namespace brood::cgroup::internal
