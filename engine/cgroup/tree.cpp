// Tree::Create: detection, stale-tree removal, then the backend. Shared by both versions.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <set>

#include "cgroup/cgroup_fs.hpp"
#include "cgroup/internal.hpp"

namespace brood::cgroup {
namespace internal {
namespace {

// The owner pid of "brood-<N>", or 0 for any other name.
pid_t OwnerOf(const std::string& name) {
  static constexpr std::string_view kPrefix = "brood-";
  if (name.size() <= kPrefix.size() || name.compare(0, kPrefix.size(), kPrefix) != 0) return 0;
  pid_t pid = 0;
  for (size_t i = kPrefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || pid > 100000000) return 0;
    pid = pid * 10 + (name[i] - '0');
  }
  return pid;
}

bool Dead(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// A tree with tasks the pids controller counts but cgroup.procs does not show belongs to a brood
// in another pid namespace whose pid only looks dead from here: not ours to remove.
bool Foreign(const std::vector<std::string>& dirs) {
  for (const std::string& dir : dirs) {
    auto tasks = fs::PidsCurrent(dir);
    if (tasks && *tasks > 0 && fs::VisibleProcs(dir) == 0) return true;
  }
  return false;
}

// Removes one tree that is known not to belong to a live brood: kill what is left (brood's own
// orphans), then rmdir leaves first, in every hierarchy.
void RemoveDeadTree(const std::vector<std::string>& dirs) {
  if (Foreign(dirs)) return;
  for (const std::string& dir : dirs) (void)fs::KillTree(dir, 2000);
  for (const std::string& dir : dirs) (void)fs::RemoveTree(dir);
}

std::mutex g_live_mu;
std::set<std::string> g_live;  // brood-<pid> directories of the Trees alive in this process

}  // namespace

void RemoveStaleTrees(const std::vector<std::string>& bases) {
  std::set<pid_t> owners;
  for (const std::string& base : bases) {
    for (const std::string& name : fs::SubDirs(base)) {
      pid_t owner = OwnerOf(name);
      if (owner > 0 && owner != ::getpid() && Dead(owner)) owners.insert(owner);
    }
  }
  for (pid_t owner : owners) {
    std::vector<std::string> dirs;
    for (const std::string& base : bases) dirs.push_back(base + "/brood-" + std::to_string(owner));
    RemoveDeadTree(dirs);
  }
}

sys::Status ClaimTreeDirs(const std::vector<std::string>& dirs) {
  std::lock_guard lock(g_live_mu);
  for (const std::string& dir : dirs) {
    if (g_live.count(dir)) {
      return sys::Status::Error("cgroup: " + dir + " is in use by another Tree of this process");
    }
  }
  // brood-<our pid> on disk without a live Tree: left by a dead process that had our pid.
  RemoveDeadTree(dirs);
  g_live.insert(dirs.begin(), dirs.end());
  return sys::OkStatus();
}

void ReleaseTreeDirs(const std::vector<std::string>& dirs) {
  std::lock_guard lock(g_live_mu);
  for (const std::string& dir : dirs) g_live.erase(dir);
}

sys::Status CheckGroupName(const std::string& name) {
  bool ok = !name.empty() && name != "." && name != ".." && name.size() <= 200;
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '.');
  }
  if (!ok) return sys::Status::Error("cgroup: bad group name \"" + name + "\"");
  return sys::OkStatus();
}

}  // namespace internal

sys::StatusOr<std::unique_ptr<Tree>> Tree::Create(const Options& options) {
  auto mountinfo = fs::ReadFile("/proc/self/mountinfo");
  if (!mountinfo.ok()) return mountinfo.status();
  auto own = fs::ReadFile("/proc/self/cgroup");
  if (!own.ok()) return own.status();
  internal::Layout layout;
  Probe probe = internal::DetectFrom(options, *mountinfo, *own, &layout);
  if (!probe.usable()) {
    std::string why;
    for (const std::string& p : probe.problems) why += (why.empty() ? "" : "; ") + p;
    return sys::Status::Error("cgroups unusable (" + std::string(VersionName(probe.version)) +
                              "): " + why + " (run `brood doctor`)");
  }
  if (layout.version == Version::kV2) {
    internal::RemoveStaleTrees({layout.v2_base});
    return internal::CreateV2Tree(layout);
  }
  internal::RemoveStaleTrees(layout.V1Bases());
  return internal::CreateV1Tree(layout);
}

}  // namespace brood::cgroup
