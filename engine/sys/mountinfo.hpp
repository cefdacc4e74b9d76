// /proc/<pid>/mountinfo (proc(5)) as values: one parser for everything in brood that asks what is
// mounted where (cgroup detection, `brood doctor`).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace brood::sys {

// One line: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue".
// The kernel escapes space, tab, newline and backslash in paths and names as \ooo ("\040");
// root, mount_point, fs_type and source hold them decoded. The two option lists stay as the
// kernel wrote them: decoding an escaped comma ("\054") would split an option in two.
struct MountInfo {
  int id = 0;
  int parent_id = 0;
  std::string root;                          // what of the filesystem is mounted: "/", "/sub"
  std::string mount_point;                   // "/sys/fs/cgroup/memory"
  std::string options;                       // per mount: "rw,nosuid,relatime"
  std::vector<std::string> optional_fields;  // "shared:9", "master:1"; often none
  std::string fs_type;                       // "cgroup2", "proc", "fuse.sshfs"
  std::string source;                        // "/dev/sda1", "none"
  std::string super_options;                 // per superblock: "rw,memory", "rw,hidepid=2"

  // Whether `option` is one of the comma-separated super options, exactly ("memory" is not
  // "memory_recursiveprot").
  bool HasSuperOption(std::string_view option) const;
};

// The mounts of mountinfo text, in its order (a later mount on the same point is on top). A line
// without the fields above (fewer than six before the " - " separator, fewer than three after it,
// or ids that are not numbers) is skipped: the kernel writes none, and a caller could do nothing
// with it but ignore it.
std::vector<MountInfo> ParseMountInfo(std::string_view text);

}  // namespace brood::sys
