// Cgroups: what cgroup::Detect() finds, confirmed by creating and removing a cgroup in each base
// directory, and when nothing is usable, the exact commands that delegate a subtree to the user.
//
// Decision: no usable cgroup is "missing" (exit 1), not "warn". Without one, brood refuses to run
// tasks (docs/sandbox.md) unless --allow-no-cgroups is given, and rlimits are a weaker
// stand-in (no limit covering tmpfs pages, process counts per uid, CPU per process only), so a
// host without cgroups is not one where "everything needed is there". The fix says how to
// accept that trade-off explicitly.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "cgroup/cgroup.hpp"
#include "doctor/check.hpp"

namespace brood::doctor {
namespace {

const char* const kNeeded[] = {"memory", "pids", "cpu"};
// v1 hierarchies brood writes to: cpuacct for CPU usage, freezer for killing a whole group.
const char* const kV1Hierarchies[] = {"memory", "pids", "cpu", "cpuacct", "freezer"};

struct HostLayout {
  cgroup::Version version = cgroup::Version::kNone;
  std::string v2_mount;
  std::vector<std::string> v1_mounts;  // one per hierarchy brood uses (cpu,cpuacct once)
};

// Which version the host would give brood, independent of who asks: Detect() reports kNone when
// nothing is writable, but the fix depends on what is mounted.
HostLayout ReadLayout() {
  HostLayout layout;
  const std::vector<sys::MountInfo> mounts = ReadMounts();
  for (const sys::MountInfo& m : mounts) {
    if (m.fs_type == "cgroup2" && layout.v2_mount.empty()) {
      layout.v2_mount = m.mount_point;
      std::string have =
          " " + ReadSmallFile(m.mount_point + "/cgroup.controllers").value_or("") + " ";
      bool all = std::all_of(std::begin(kNeeded), std::end(kNeeded), [&](const char* c) {
        return have.find(std::string(" ") + c + " ") != std::string::npos;
      });
      if (all) layout.version = cgroup::Version::kV2;
    } else if (m.fs_type == "cgroup") {
      bool used = std::any_of(std::begin(kV1Hierarchies), std::end(kV1Hierarchies),
                              [&](const char* c) { return m.HasSuperOption(c); });
      // A hierarchy mounted twice (a bind mount of a sub-path) is delegated once, at the top.
      if (used && m.root == "/" &&
          std::find(layout.v1_mounts.begin(), layout.v1_mounts.end(), m.mount_point) ==
              layout.v1_mounts.end()) {
        layout.v1_mounts.push_back(m.mount_point);
      }
    }
  }
  // In the order of kV1Hierarchies, so that the fix reads memory, pids, cpu...
  auto rank = [&](const std::string& mp) {
    for (const sys::MountInfo& m : mounts) {
      if (m.fs_type != "cgroup" || m.mount_point != mp) continue;
      for (size_t i = 0; i < std::size(kV1Hierarchies); ++i) {
        if (m.HasSuperOption(kV1Hierarchies[i])) return i;
      }
    }
    return std::size(kV1Hierarchies);
  };
  std::stable_sort(layout.v1_mounts.begin(), layout.v1_mounts.end(),
                   [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
  if (layout.version == cgroup::Version::kNone && !layout.v1_mounts.empty()) {
    layout.version = cgroup::Version::kV1;
  }
  return layout;
}

constexpr const char* kNoCgroups =
    "or pass --allow-no-cgroups to run tasks under rlimits instead (weaker: address space, not "
    "memory; processes per uid; CPU per process; the workspace tmpfs is not charged)";

std::string DelegationFix(const Host& host, const HostLayout& layout, const std::string& root) {
  const bool v1 = layout.version == cgroup::Version::kV1;
  const bool v2 = layout.version == cgroup::Version::kV2;
  std::string fix;
  if (host.root()) {
    if (!root.empty() && (v1 || v2)) {
      // A --cgroup-root that is missing or lacks controllers; root can make it right.
      fix = "create --cgroup-root " + root + (v1 ? " in each v1 hierarchy:" : ":");
      for (const std::string& mp : v1 ? layout.v1_mounts : std::vector{layout.v2_mount}) {
        fix += "\n  mkdir -p " + mp + root;
      }
      fix += "\nor pass an existing cgroup path (as in /proc/self/cgroup)";
    } else {
      fix =
          "mount the cgroup hierarchies with memory, pids and cpu (a systemd host does at boot), "
          "or pass --cgroup-root with a cgroup path where they are available";
    }
    if (v2) {
      fix += "; on v2 enable the controllers down to it: echo '+memory +pids +cpu' > " +
             layout.v2_mount + "/cgroup.subtree_control (and in each cgroup below)";
    }
    return fix + "\n" + kNoCgroups;
  }
  const std::string dir = "brood-" + host.user;
  const std::string owner = std::to_string(host.uid) + ":" + std::to_string(host.gid);
  if (v2) {
    // On v2, moving a process needs write access to the cgroup.procs of the common ancestor of
    // its old and new cgroup: brood has to start inside the delegated subtree.
    const std::string path = layout.v2_mount + "/" + dir;
    fix =
        "start brood in a cgroup delegated to you: systemd-run --user -p Delegate=yes --scope "
        "brood ...\nor, as root: mkdir " +
        path + " && chown -R " + owner + " " + path + " && echo '+memory +pids +cpu' > " +
        layout.v2_mount +
        "/cgroup.subtree_control; start brood inside it (root writes its pid to " + path +
        "/cgroup.procs) with --cgroup-root /" + dir;
  } else if (v1) {
    fix = "as root, give " + host.user + " (uid " + std::to_string(host.uid) +
          ") a subtree in each v1 hierarchy:";
    for (const std::string& mp : layout.v1_mounts) {
      fix += "\n  mkdir -p " + mp + "/" + dir + " && chown -R " + owner + " " + mp + "/" + dir;
    }
    fix += "\nthen run brood with --cgroup-root /" + dir;
  } else {
    fix = "mount the cgroup hierarchies (a systemd host does at boot)";
  }
  return fix + "\n" + kNoCgroups;
}

// Detect() checks permissions; this really creates a cgroup in each base, as brood will.
std::string TryMkdir(const std::vector<std::string>& bases) {
  for (const std::string& base : bases) {
    std::string dir = base + "/doctor-probe-" + std::to_string(getpid());
    if (mkdir(dir.c_str(), 0755) != 0) return sys::PosixError("mkdir(" + dir + ")").message();
    if (rmdir(dir.c_str()) != 0) return sys::PosixError("rmdir(" + dir + ")").message();
  }
  return "";
}

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

}  // namespace

Checks ProbeCgroups(const Host& host, const std::string& root) {
  cgroup::Probe probe = cgroup::Detect(cgroup::Options{root});
  HostLayout layout = ReadLayout();
  cgroup::Version version =
      probe.version != cgroup::Version::kNone ? probe.version : layout.version;
  const bool usable[3] = {probe.memory, probe.pids, probe.cpu};

  // Problems are "<controller>: ..."; each goes to its controller's line, the rest stand alone.
  std::vector<std::string> rest;
  std::string per_controller[3];
  for (const std::string& problem : probe.problems) {
    const size_t colon = std::min(problem.find(':'), problem.size());
    std::string ctrl = problem.substr(0, colon);
    if (ctrl == "cpuacct") ctrl = "cpu";  // brood reads CPU usage from cpuacct on v1
    // Why v2 was passed over is noise once a v1 host is named as such.
    if (ctrl == "v2" && version == cgroup::Version::kV1) continue;
    auto it = std::find(std::begin(kNeeded), std::end(kNeeded), ctrl);
    if (it != std::end(kNeeded) && !usable[it - std::begin(kNeeded)]) {
      std::string& line = per_controller[it - std::begin(kNeeded)];
      line += (line.empty() ? "" : "; ") + problem.substr(std::min(problem.size(), colon + 2));
    } else {
      rest.push_back(problem);
    }
  }

  Checks checks;
  for (int i = 0; i < 3; ++i) {
    Check c{Level::kOk, std::string("cgroup ") + kNeeded[i] + " controller", "", ""};
    if (!usable[i]) {
      c.level = Level::kMissing;
      c.detail = per_controller[i].empty() ? "not usable" : per_controller[i];
    } else if (i == 0 && probe.memory_swap) {
      c.detail = "memory+swap limited";
    }
    checks.push_back(std::move(c));
  }

  // The verdict comes last, so that its fix ends the cgroup part of the report.
  Check summary{Level::kOk, std::string("cgroup ") + cgroup::VersionName(version), "", ""};
  std::string mkdir_error = probe.usable() ? TryMkdir(probe.bases) : "";
  if (probe.usable() && mkdir_error.empty()) {
    summary.detail = Join(probe.bases, ", ");
    // Usable, with less than brood would like (no swap accounting, no freezer).
    for (const std::string& problem : rest) checks.push_back({Level::kWarn, "cgroup", problem, ""});
  } else {
    summary.level = Level::kMissing;
    summary.detail = !mkdir_error.empty()
                         ? mkdir_error
                         : "no writable cgroup with memory, pids and cpu for " + host.user +
                               " (uid " + std::to_string(host.uid) + ")";
    if (!rest.empty()) summary.detail += "; " + Join(rest, "; ");
    summary.fix = DelegationFix(host, layout, root);
  }
  checks.push_back(std::move(summary));
  return checks;
}

}  // namespace brood::doctor
