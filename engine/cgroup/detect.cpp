// Detect(): which cgroup version holds memory, pids and cpu here, and whether we may write there.
// A cgroup2 mount alone proves nothing: in hybrid mode it exists with only hugetlb (or nothing)
// in cgroup.controllers, because a controller belongs to exactly one hierarchy.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <sstream>

#include "cgroup/cgroup_fs.hpp"
#include "cgroup/internal.hpp"

namespace brood::cgroup {
namespace internal {
namespace {

bool HasPrefixDir(const std::string& path, const std::string& dir) {
  if (dir == "/") return true;
  return path.compare(0, dir.size(), dir) == 0 &&
         (path.size() == dir.size() || path[dir.size()] == '/');
}

// The directory of hierarchy path `path` under `m`; nullopt when `m` does not show that path.
std::optional<std::string> Resolve(const CgroupMount& m, const std::string& path) {
  if (!HasPrefixDir(path, m.root)) return std::nullopt;
  std::string rel = m.root == "/" ? path : path.substr(m.root.size());
  if (rel.empty() || rel == "/") return m.mount_point;
  return m.mount_point + rel;
}

// The words of a space-separated control file (cgroup.controllers); empty if unreadable.
std::vector<std::string> Tokens(const std::string& path) {
  auto text = fs::ReadFile(path);
  if (!text.ok()) return {};
  std::replace(text->begin(), text->end(), '\n', ' ');
  return SplitWords(*text, ' ');
}

// A directory we may create in (write and search), or a control file we may write.
bool Writable(const std::string& path, bool dir = true) {
  return ::faccessat(AT_FDCWD, path.c_str(), dir ? W_OK | X_OK : W_OK, AT_EACCESS) == 0;
}

std::string NotWritable(const std::string& what, const std::string& path) {
  return what + ": " + path + ": not writable by uid " + std::to_string(::geteuid());
}

// The directory for one hierarchy: --cgroup-root given as a filesystem path below any cgroup
// mount applies to every hierarchy relative to its mount point; otherwise it (or our own path
// from /proc/self/cgroup) is a hierarchy path.
std::optional<std::string> BaseDir(const std::vector<CgroupMount>& mounts, const CgroupMount& m,
                                   const std::string& own, const Options& options) {
  if (options.root.empty()) return Resolve(m, own);
  for (const CgroupMount& other : mounts) {
    if (HasPrefixDir(options.root, other.mount_point) && other.mount_point != "/") {
      return m.mount_point + options.root.substr(other.mount_point.size());
    }
  }
  return Resolve(m, options.root);
}

bool DetectV2(const Options& options, const std::vector<CgroupMount>& mounts,
              const std::map<std::string, std::string>& own, Probe* probe, Layout* layout) {
  auto m = std::find_if(mounts.begin(), mounts.end(), [](auto& c) { return c.v2; });
  auto self = own.find("");
  if (m == mounts.end() || self == own.end()) return false;
  // A live v2 Tree of this process moved us into <base>/brood-<pid>/supervisor; the base is
  // still <base>. Without this a second Tree::Create would nest inside the first instead of
  // being refused, and `brood doctor` in such a process would name the wrong base.
  std::string own_path = self->second;
  const std::string supervisor = "/brood-" + std::to_string(::getpid()) + "/supervisor";
  if (own_path.ends_with(supervisor)) {
    own_path.erase(own_path.size() - supervisor.size());
    if (own_path.empty()) own_path = "/";
  }
  auto base = BaseDir(mounts, *m, own_path, options);
  if (!base) return false;
  auto has_all = [](const std::vector<std::string>& have) {
    for (const char* c : {"memory", "pids", "cpu"}) {
      if (std::find(have.begin(), have.end(), c) == have.end()) return false;
    }
    return true;
  };
  // The hierarchy's top shows what the kernel bound to v2; our base shows what reached us.
  if (!has_all(Tokens(m->mount_point + "/cgroup.controllers")) &&
      !has_all(Tokens(*base + "/cgroup.controllers"))) {
    return false;
  }

  // This is a v2 host for what we need: v1 cannot hold these controllers as well.
  probe->version = layout->version = Version::kV2;
  probe->bases = {*base};
  layout->v2_base = *base;
  bool ok = true;
  if (!fs::Exists(*base)) {
    probe->problems.push_back("cgroup: " + *base + ": does not exist");
    ok = false;
  } else if (!has_all(Tokens(*base + "/cgroup.controllers"))) {
    probe->problems.push_back("cgroup: " + *base +
                              "/cgroup.controllers lacks memory, pids or cpu: the parent does "
                              "not delegate them (its cgroup.subtree_control)");
    ok = false;
  } else if (!Writable(*base)) {
    probe->problems.push_back(NotWritable("cgroup", *base));
    ok = false;
  } else if (!Writable(*base + "/cgroup.procs", false)) {
    // Moving ourselves into brood-<pid>/supervisor needs the common ancestor's cgroup.procs.
    probe->problems.push_back(NotWritable("cgroup", *base + "/cgroup.procs"));
    ok = false;
  } else if (!Writable(*base + "/cgroup.subtree_control", false)) {
    // Needed when the base does not yet enable memory, pids and cpu for its children.
    auto enabled = Tokens(*base + "/cgroup.subtree_control");
    for (const char* c : {"memory", "pids", "cpu"}) {
      if (ok && std::find(enabled.begin(), enabled.end(), c) == enabled.end()) {
        probe->problems.push_back(NotWritable("cgroup", *base + "/cgroup.subtree_control"));
        ok = false;
      }
    }
  }
  probe->memory = probe->pids = probe->cpu = ok;
  // Swap files exist on non-root cgroups only; the base may be the root.
  layout->memory_swap = fs::Exists(*base + "/memory.swap.max");
  for (const std::string& sub : fs::SubDirs(*base)) {
    if (layout->memory_swap) break;
    layout->memory_swap = fs::Exists(*base + "/" + sub + "/memory.swap.max");
  }
  probe->memory_swap = layout->memory_swap;
  if (!layout->memory_swap) {
    probe->problems.push_back("memory: memory.swap.max absent (kernel without swap accounting)");
  }
  return true;
}

void DetectV1(const Options& options, const std::vector<CgroupMount>& mounts,
              const std::map<std::string, std::string>& own, Probe* probe, Layout* layout) {
  std::vector<std::string> problems;
  bool mounted = false;  // any of memory, pids, cpu, cpuacct has a v1 hierarchy
  auto find = [&](const std::string& ctrl, bool required) -> std::string {
    for (const CgroupMount& m : mounts) {
      if (m.v2 ||
          std::find(m.controllers.begin(), m.controllers.end(), ctrl) == m.controllers.end()) {
        continue;
      }
      auto path = own.find(ctrl);
      auto base = BaseDir(mounts, m, path == own.end() ? "/" : path->second, options);
      if (!base) continue;  // a bind mount of another part of the hierarchy
      mounted = mounted || required;
      if (!fs::Exists(*base)) {
        if (required) problems.push_back(ctrl + ": " + *base + ": does not exist");
      } else if (!Writable(*base)) {
        if (required) problems.push_back(NotWritable(ctrl, *base));
      } else {
        return *base;
      }
      return "";
    }
    if (required) {
      problems.push_back(ctrl + ": no cgroup v1 hierarchy mounted (mount -t cgroup -o " + ctrl +
                         " cgroup /sys/fs/cgroup/" + ctrl + ")");
    }
    return "";
  };
  layout->memory = find("memory", true);
  layout->pids = find("pids", true);
  layout->cpu = find("cpu", true);
  layout->cpuacct = find("cpuacct", true);
  layout->freezer = find("freezer", false);
  probe->version = layout->version = mounted ? Version::kV1 : Version::kNone;
  probe->memory = !layout->memory.empty();
  probe->pids = !layout->pids.empty();
  probe->cpu = !layout->cpu.empty() && !layout->cpuacct.empty();
  probe->bases = layout->V1Bases();
  if (probe->memory) {
    layout->memory_swap = fs::Exists(layout->memory + "/memory.memsw.limit_in_bytes");
    probe->memory_swap = layout->memory_swap;
    if (!probe->memory_swap) {
      problems.push_back(
          "memory: memory.memsw.* absent (boot with swapaccount=1): swap is not "
          "limited");
    }
  }
  if (mounted && layout->freezer.empty()) {
    problems.push_back("freezer: absent or not writable: KillAll kills in a loop instead");
  }
  probe->problems.insert(probe->problems.end(), problems.begin(), problems.end());
}

}  // namespace

std::vector<std::string> Layout::V1Bases() const {
  std::vector<std::string> out;
  for (const std::string* d : {&memory, &pids, &cpu, &cpuacct, &freezer}) {
    if (!d->empty() && std::find(out.begin(), out.end(), *d) == out.end()) out.push_back(*d);
  }
  return out;
}

Probe DetectFrom(const Options& options, std::string_view mountinfo, std::string_view proc_cgroup,
                 Layout* layout) {
  Probe probe;
  *layout = Layout();
  std::vector<CgroupMount> mounts = ParseCgroupMounts(mountinfo);
  std::map<std::string, std::string> own = ParseProcCgroup(proc_cgroup);
  if (DetectV2(options, mounts, own, &probe, layout)) return probe;
  DetectV1(options, mounts, own, &probe, layout);
  if (!probe.usable()) {
    auto m = std::find_if(mounts.begin(), mounts.end(), [](auto& c) { return c.v2; });
    if (m == mounts.end()) {
      probe.problems.push_back("v2: no cgroup2 mount");
    } else {
      probe.problems.push_back(
          "v2: " + m->mount_point + "/cgroup.controllers lacks memory, pids or cpu" +
          (probe.version == Version::kV1 ? " (hybrid mode: v1 holds them)" : ""));
    }
  }
  return probe;
}

}  // namespace internal

const char* VersionName(Version v) {
  switch (v) {
    case Version::kV1:
      return "v1";
    case Version::kV2:
      return "v2";
    case Version::kNone:
      break;
  }
  return "none";
}

Probe Detect(const Options& options) {
  auto mountinfo = fs::ReadFile("/proc/self/mountinfo");
  auto own = fs::ReadFile("/proc/self/cgroup");
  internal::Layout layout;
  if (!mountinfo.ok() || !own.ok()) {
    Probe probe;
    probe.problems.push_back(!mountinfo.ok() ? mountinfo.status().message()
                                             : own.status().message());
    return probe;
  }
  return internal::DetectFrom(options, *mountinfo, *own, &layout);
}

}  // namespace brood::cgroup
