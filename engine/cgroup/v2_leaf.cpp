// v2 command leaves of a session: <group>/task/<name>, which the session's init (in
// <group>/helpers) clones a command into; and the kill that groups and leaves share.
#include <signal.h>
#include <unistd.h>

#include "cgroup/cgroup_fs.hpp"
#include "cgroup/internal.hpp"

namespace brood::cgroup::internal {
namespace {

constexpr int kKillTimeoutMs = 5000;

class V2Leaf final : public Leaf {
 public:
  V2Leaf(std::string dir, std::string name, std::shared_ptr<LeafTally> tally, bool owned)
      : dir_(std::move(dir)), name_(std::move(name)), tally_(std::move(tally)), owned_(owned) {}

  ~V2Leaf() override {
    if (!owned_) return;
    std::unique_lock<std::mutex> lock;
    if (tally_) lock = std::unique_lock(tally_->mu);
    // Read before the counters go. rmdir fails with EBUSY while a process is left (a command's
    // background processes): the group still counts the leaf then, and removes it at its end.
    const uint64_t oom = OomKills();
    const uint64_t pids = fs::ReadKeyed(dir_ + "/pids.events", "max");
    if (::rmdir(dir_.c_str()) == 0 && tally_) {
      tally_->oom_kills += oom;
      tally_->pids_max_events += pids;
    }
  }

  LeafJoin Join() const override {
    return {dir_, {dir_ + "/cgroup.procs"}, dir_ + "/memory.stat", /*clone_into=*/true};
  }

  sys::StatusOr<uint64_t> CpuNs() override {
    // usage_usec is in every cgroup's cpu.stat, the cpu controller enabled or not.
    auto text = fs::ReadFile(dir_ + "/cpu.stat");
    if (!text.ok()) return text.status();
    auto usec = fs::KeyedValue(*text, "usage_usec");
    if (!usec) return sys::Status::Error("parse(" + dir_ + "/cpu.stat): no usage_usec");
    return *usec * 1000;
  }

  // A new leaf's memory.peak is the command's peak (before 5.19: memory.current, at read time),
  // never above the session's limit: the kernel charges a leaf before its ancestors and takes a
  // charge the task leaf refuses back, but not the leaf's watermark (measured on 6.1: 33712 KiB
  // under a 32 MiB limit).
  sys::StatusOr<uint64_t> PeakMemory() override {
    const std::string peak = dir_ + "/memory.peak";
    auto v = fs::ReadU64(fs::Exists(peak) ? peak : dir_ + "/memory.current");
    if (!v.ok()) return v;
    auto limit = fs::ReadU64(dir_.substr(0, dir_.rfind('/')) + "/memory.max");
    return limit.ok() && *limit < *v ? *limit : *v;
  }

  uint64_t OomKills() override { return fs::ReadKeyed(dir_ + "/memory.events", "oom_kill"); }

  sys::Status KillAll() override { return V2KillAll(dir_); }

  // populated counts live processes in every pid namespace; zombies have left.
  bool Empty() override {
    auto text = fs::ReadFile(dir_ + "/cgroup.events");
    return !text.ok() || fs::KeyedValue(*text, "populated").value_or(0) == 0;
  }

  const std::string& name() const override { return name_; }

 private:
  std::string dir_;
  std::string name_;
  std::shared_ptr<LeafTally> tally_;
  bool owned_;
};

}  // namespace

std::unique_ptr<Leaf> NewV2Leaf(std::string dir, std::string name, std::shared_ptr<LeafTally> tally,
                                bool owned) {
  return std::make_unique<V2Leaf>(std::move(dir), std::move(name), std::move(tally), owned);
}

sys::Status V2KillAll(const std::string& dir) {
  if (fs::Exists(dir + "/cgroup.kill")) {
    BROOD_RETURN_IF_ERROR(fs::WriteFile(dir + "/cgroup.kill", "1"));  // 5.14+: atomic, recursive
  } else if (fs::Exists(dir + "/cgroup.freeze")) {
    // 5.2+: frozen (with everything below), nothing forks between reading the procs and the kill.
    BROOD_RETURN_IF_ERROR(fs::WriteFile(dir + "/cgroup.freeze", "1"));
    for (int i = 0; i < 20 && fs::ReadKeyed(dir + "/cgroup.events", "frozen") != 1; ++i) {
      fs::Backoff(i);
    }
    for (pid_t pid : fs::ProcsBelow(dir)) {
      if (pid != ::getpid()) ::kill(pid, SIGKILL);
    }
    BROOD_RETURN_IF_ERROR(fs::WriteFile(dir + "/cgroup.freeze", "0"));
  }
  return fs::KillTree(dir, kKillTimeoutMs);  // waits for the exits, kills stragglers
}

}  // namespace brood::cgroup::internal
