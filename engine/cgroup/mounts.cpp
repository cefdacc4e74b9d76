// Parsers for /proc/self/mountinfo and /proc/self/cgroup: where each hierarchy is mounted, which
// controllers it holds, and where brood sits in it.
#include <algorithm>
#include <sstream>

#include "cgroup/internal.hpp"

namespace brood::cgroup::internal {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

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

std::vector<CgroupMount> ParseMountInfo(std::string_view text) {
  std::vector<CgroupMount> out;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f = Split(line, ' ');
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || f.end() - dash < 4) continue;
    const std::string& type = dash[1];
    if (type != "cgroup" && type != "cgroup2") continue;
    CgroupMount m;
    m.v2 = type == "cgroup2";
    m.root = Unescape(f[3]);
    m.mount_point = Unescape(f[4]);
    if (!m.v2) {
      for (std::string& opt : Split(dash[3], ',')) {
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
