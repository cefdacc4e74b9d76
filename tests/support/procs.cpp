#include "support/procs.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

namespace brood::testing {

std::string Comm(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

std::string StatField(const std::string& stat_line, int n) {
  const auto close = stat_line.rfind(')');  // comm may hold spaces and parentheses
  if (close == std::string::npos || n < 3) return "";
  std::istringstream rest(stat_line.substr(close + 1));
  std::string field;
  for (int i = 3; i <= n; ++i)
    if (!(rest >> field)) return "";
  return field;
}

std::string StatFieldOf(int pid, int n) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  return StatField(line, n);
}

std::vector<int> DescendantsOf(int root, int min_depth) {
  std::map<int, int> parent;
  DIR* d = opendir("/proc");
  if (!d) return {};
  while (dirent* e = readdir(d)) {
    int pid = atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::string(e->d_name) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    auto close = line.rfind(')');  // comm may hold spaces and parentheses
    int ppid = 0;
    if (close == std::string::npos || sscanf(line.c_str() + close + 2, "%*c %d", &ppid) != 1)
      continue;
    parent[pid] = ppid;
  }
  closedir(d);
  std::vector<int> out;
  for (auto [pid, ppid] : parent) {
    int depth = 1;
    for (int p = ppid; p > 1 && depth < 64; p = parent.count(p) ? parent[p] : 0, ++depth) {
      if (p == root) {
        if (depth >= min_depth) out.push_back(pid);
        break;
      }
    }
  }
  return out;
}

std::vector<std::string> BroodTreeDirs(int pid) {
  std::vector<std::string> out;
  std::ifstream cg("/proc/self/cgroup");
  for (std::string line; std::getline(cg, line);) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    std::string ctrl = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (ctrl.rfind("name=", 0) == 0) continue;
    // v2: a live tree of this process holds it in <base>/brood-<our pid>/supervisor.
    const std::string supervisor = "/brood-" + std::to_string(getpid()) + "/supervisor";
    if (path.ends_with(supervisor)) path = path.substr(0, path.size() - supervisor.size());
    if (path.empty()) path = "/";
    std::string mount = ctrl.empty() ? "/sys/fs/cgroup" : "/sys/fs/cgroup/" + ctrl;
    std::string dir = mount + (path == "/" ? "" : path) + "/brood-" + std::to_string(pid);
    if (access(dir.c_str(), F_OK) == 0) out.push_back(dir);
  }
  return out;
}

int CountLines(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) ++n;
  return n;
}

int CgroupChildren(const std::string& dir) {
  int n = 0;
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  while (dirent* e = readdir(d))
    n += e->d_type == DT_DIR && e->d_name[0] != '.' && std::string(e->d_name) != "supervisor";
  closedir(d);
  return n;
}

int BroodCgroups(int pid) {
  int n = 0;
  for (const auto& dir : BroodTreeDirs(pid)) n += CgroupChildren(dir);
  return n;
}

}  // namespace brood::testing
