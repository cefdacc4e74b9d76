// The cgroup view of /proc/self/mountinfo (parsed by sys/mountinfo) and /proc/self/cgroup: where
// each hierarchy is mounted, which controllers it holds, and where brood sits in it.
#include <sstream>

#include "cgroup/internal.hpp"
#include "sys/mountinfo.hpp"

namespace brood::cgroup::internal {
namespace {

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

}  // namespace

std::vector<CgroupMount> ParseCgroupMounts(std::string_view mountinfo) {
  std::vector<CgroupMount> out;
  for (const sys::MountInfo& info : sys::ParseMountInfo(mountinfo)) {
    if (info.fs_type != "cgroup" && info.fs_type != "cgroup2") continue;
    CgroupMount m;
    m.v2 = info.fs_type == "cgroup2";
    m.root = info.root;
    m.mount_point = info.mount_point;
    if (!m.v2) {
      for (std::string& opt : Split(info.super_options, ',')) {
        static const char* kKnown[] = {"cpu",        "cpuacct", "memory", "pids",    "freezer",
                                       "cpuset",     "devices", "blkio",  "net_cls", "net_prio",
                                       "perf_event", "hugetlb", "rdma",   "misc"};
        for (const char* k : kKnown) {
          if (opt == k) m.controllers.push_back(opt);
        }
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::map<std::string, std::string> ParseProcCgroup(std::string_view text) {
  std::map<std::string, std::string> out;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string path = line.substr(b + 1);
    std::string ctrls = line.substr(a + 1, b - a - 1);
    if (ctrls.empty()) {
      out[""] = path;
    } else {
      for (std::string& c : Split(ctrls, ',')) out[c] = path;
    }
  }
  return out;
}

std::vector<std::string> SplitWords(std::string_view s, char sep) {
  std::vector<std::string> out;
  for (std::string& w : Split(s, sep)) {
    if (!w.empty()) out.push_back(std::move(w));
  }
  return out;
}

}  // namespace brood::cgroup::internal
