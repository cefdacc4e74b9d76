// Workspace disks (workspace/disk.hpp): whether a task's files stay out of its memory limit.
#include <unistd.h>

#include "doctor/check.hpp"
#include "workspace/disk.hpp"

namespace brood::doctor {

Checks ProbeWorkspace(const Host& host, const std::string& disk_dir) {
  const workspace::DiskOptions options{disk_dir};
  std::string why = workspace::Unavailable(options);
  if (why.empty()) {
    // Really make one (mkfs, loop device, mount), as a task's first run would.
    auto disk = workspace::Disk::Create(options, 16, 4096, host.uid, host.gid);
    if (!disk.ok()) why = disk.status().message();
  }
  if (why.empty()) {
    return {{Level::kOk, "workspace disk",
             "ext4 on a loop device, image in " + disk_dir +
                 ": a task's files count against disk_mb, never against memory_mb",
             ""}};
  }
  std::string fix =
      "as root, with loop devices and ext4: modprobe loop ext4; apt-get install e2fsprogs";
  if (why.find(disk_dir) != std::string::npos)
    fix = "pass --disk-dir DIR, a directory on a disk-backed filesystem root can write";
  return {{Level::kWarn, "workspace disk",
           why + "; the workspace is a tmpfs whose pages count against memory_mb (results say "
                 "\"limits_enforced\": \"cgroup-shared-disk\"): memory_mb still holds exactly, "
                 "but a task's files and its memory share it",
           fix}};
}

}  // namespace brood::doctor
