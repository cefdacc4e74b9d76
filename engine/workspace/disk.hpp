// A slot's workspace disk: an ext4 filesystem on a loop device over an unnamed file. The task's
// files are then page cache, which the kernel writes back and reclaims, so the task's memory
// limit holds what its processes hold and nothing else; a tmpfs's pages would be charged as
// memory (and a full disk would become an OOM kill).
//
// Made by the supervisor, root in the host's namespaces (loop devices and ext4 need it): once per
// slot and size, again when a job asks for another disk_mb or a task left it in a state brood
// did not see (its init did not report the workspace emptied). A zygote holds a detached mount of
// it (NewMount) on its root's /tmp; each task's init binds its w, t and s onto /workspace, /tmp
// and /dev/shm, and empties them when the task is over.
//
// What a task sees is what a tmpfs of disk_mb would give it: exactly disk_mb MiB of free space
// (a preallocated filler file takes up the rest of the filesystem) and WorkspaceInodes(disk_mb)
// inodes counting the root, w, t and s (filler inodes take up ext4's rounding). The fillers sit
// in the filesystem's root, which no task ever sees. No journal: nothing outlives the slot.
// The loop device writes to its file with direct I/O (no second copy in the host's page cache)
// and its dirty pages are capped (a strict per-device limit where the kernel has one, 6.2+), so
// a task holding almost all its memory can still write its whole disk: the kernel writes the
// pages back and reclaims them instead of OOM-killing (cgroup v1 has no dirty throttling of its
// own).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "sys/fd.hpp"
#include "sys/status.hpp"

namespace brood::workspace {

struct DiskOptions {
  std::string dir = "/var/tmp";  // where the unnamed image files live (a disk, not a tmpfs)
};

// Why this host cannot make workspace disks, or "" when it can: not root, no
// /dev/loop-control, no ext4, no mkfs.ext4, `dir` refusing an unnamed file or being a tmpfs.
std::string Unavailable(const DiskOptions& options);

class Disk {
 public:
  // A fresh, empty filesystem for tasks of `disk_mb`, its w, t and s owned by uid:gid (the
  // slot's sandbox user). Takes tens of milliseconds (mkfs.ext4).
  static sys::StatusOr<std::unique_ptr<Disk>> Create(const DiskOptions& options, int64_t disk_mb,
                                                     uint64_t inodes, uid_t uid, gid_t gid);
  ~Disk();  // the loop device detaches itself once no mount of it is left (autoclear)

  // A new detached mount of the filesystem (nosuid, nodev), for a zygote to move into its root.
  sys::StatusOr<sys::UniqueFd> NewMount() const;
  int64_t disk_mb() const { return disk_mb_; }
  uint64_t id() const { return id_; }  // unique in this process: which disk a zygote holds
  const std::string& device() const { return device_; }

 private:
  Disk() = default;
  int64_t disk_mb_ = 0;
  uint64_t id_ = 0;
  std::string device_;   // /dev/loopN
  sys::UniqueFd loop_;   // keeps the device until the first mount holds it
  sys::UniqueFd mount_;  // keeps the filesystem (superblock) between zygotes' mounts
};

}  // namespace brood::workspace
