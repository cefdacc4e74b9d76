// The paths the sandbox's root is made of, shared by root.cpp and task.cpp, which mount them, and
// landlock.cpp, which grants the task its rights on them: one list, so the two cannot drift.
#pragma once

namespace brood::sandbox {

// Bound read-only from the host's root (or --root), each where it exists.
inline constexpr const char* kSystemDirs[] = {"usr",   "bin",   "sbin",  "lib",
                                              "lib32", "lib64", "libx32"};
// The /etc view (etc_view.cpp): copies and read-only binds of what programs need.
inline constexpr char kEtcDir[] = "etc";
// Device nodes bound from the host's /dev, below the root's /dev.
inline constexpr const char* kDevNodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
// Mounted per task: its own filesystem (the workspace, /tmp and /dev/shm, one disk or tmpfs),
// its /proc and its devpts instance.
inline constexpr const char* kTaskDirs[] = {"/workspace", "/tmp", "/dev/shm"};
inline constexpr char kProcDir[] = "/proc";
inline constexpr char kPtsDir[] = "/dev/pts";

}  // namespace brood::sandbox
