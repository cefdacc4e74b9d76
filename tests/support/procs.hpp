// What the tests look at on the host: process trees and brood's cgroup trees.
#pragma once

#include <string>
#include <vector>

namespace brood::testing {

// /proc/PID/comm without its newline ("" when the process is gone).
std::string Comm(int pid);
// Field `n` (1-based, as in proc(5): 4 ppid, 6 session, 22 starttime) of a /proc/PID/stat line,
// read past the ")" that closes comm; "" when the line has no such field.
std::string StatField(const std::string& stat_line, int n);
// The same of /proc/PID/stat now.
std::string StatFieldOf(int pid, int n);

// Live descendants of `root` at least `min_depth` levels below it (1: its children).
std::vector<int> DescendantsOf(int root, int min_depth = 1);

// The brood-<pid> cgroup directories below this process's own cgroups that exist now (v1: one
// per hierarchy; v2: the unified one, below the base when our own tree moved us into it).
std::vector<std::string> BroodTreeDirs(int pid);

// Lines in a file (0 when it cannot be read): /proc/self/mountinfo's mounts, say.
int CountLines(const std::string& path);

// The cgroups directly below `dir` (the tree's own "supervisor" leaf left out).
int CgroupChildren(const std::string& dir);
// CgroupChildren over every BroodTreeDirs(pid).
int BroodCgroups(int pid);

}  // namespace brood::testing
