// Building the zygote's root: an ordered checklist, each step's failure naming the call.
#include "sandbox/root.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "sandbox/layout.hpp"
#include "sys/fd.hpp"

namespace brood::sandbox {
namespace {

// The new root is assembled on a tmpfs mounted here, inside the zygote's private mount
// namespace (the host never sees it). Sources are reached through an fd opened before, so a
// --root below this path still works.
constexpr char kNewRoot[] = "/tmp";

sys::Status Mount(const char* src, const std::string& dst, const char* type, unsigned long flags,
                  const char* data = nullptr) {
  if (mount(src, dst.c_str(), type, flags, data) != 0)
    return sys::PosixError(std::string("mount(") + (src ? src : "none") + ", " + dst + ", " +
                           (type ? type : "") + (data ? std::string(", ") + data : "") + ")");
  return sys::OkStatus();
}

sys::Status Mkdir(const std::string& path, mode_t mode = 0755) {
  if (mkdir(path.c_str(), mode) != 0) return sys::PosixError("mkdir(" + path + ")");
  return sys::OkStatus();
}

sys::Status Symlink(const std::string& target, const std::string& path) {
  if (symlink(target.c_str(), path.c_str()) != 0)
    return sys::PosixError("symlink(" + target + ", " + path + ")");
  return sys::OkStatus();
}

}  // namespace

// A recursive bind, then every mount of it made read-only, nosuid and nodev in one call
// (mount_setattr: remounting only the top would leave submounts writable).
sys::Status BindTreeReadOnly(const std::string& from, const std::string& to) {
  BROOD_RETURN_IF_ERROR(Mount(from.c_str(), to, nullptr, MS_BIND | MS_REC));
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (syscall(SYS_mount_setattr, AT_FDCWD, to.c_str(), AT_RECURSIVE, &attr, sizeof attr) != 0)
    return sys::PosixError("mount_setattr(" + to + ", RDONLY|NOSUID|NODEV, AT_RECURSIVE)");
  return sys::OkStatus();
}

namespace {

// `src` reaches the system root through an fd; `shown` is its path, for errors.
sys::Status AddSystemDirs(const std::string& src, const std::string& shown,
                          const std::string& root) {
  for (const char* name : kSystemDirs) {
    std::string from = src + "/" + name;
    std::string to = root + "/" + name;
    struct stat st;
    if (lstat(from.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // a root without lib32, say
      // Never a root silently missing its /usr: a directory the sandbox user cannot search.
      return sys::PosixError("lstat(" + shown + "/" + name + ")");
    }
    if (S_ISLNK(st.st_mode)) {  // merged /usr: bin -> usr/bin
      char target[4096];
      ssize_t n = readlink(from.c_str(), target, sizeof target - 1);
      if (n <= 0) return sys::PosixError("readlink(" + from + ")");
      target[n] = 0;
      BROOD_RETURN_IF_ERROR(Symlink(target, to));
    } else if (S_ISDIR(st.st_mode)) {
      BROOD_RETURN_IF_ERROR(Mkdir(to));
      BROOD_RETURN_IF_ERROR(BindTreeReadOnly(from, to));
    }
  }
  return sys::OkStatus();
}

sys::Status AddDev(const std::string& root) {
  std::string dev = root + "/dev";
  BROOD_RETURN_IF_ERROR(Mkdir(dev));
  for (const char* node : kDevNodes) {
    std::string to = dev + "/" + node;
    sys::UniqueFd f(open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!f) return sys::PosixError("open(" + to + ", O_CREAT)");
    // Device nodes cannot be created in a user namespace; binding the host's works. No
    // MS_NODEV here, or they would stop being devices.
    BROOD_RETURN_IF_ERROR(Mount((std::string("/dev/") + node).c_str(), to, nullptr, MS_BIND));
    BROOD_RETURN_IF_ERROR(
        Mount(nullptr, to, nullptr, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC));
  }
  BROOD_RETURN_IF_ERROR(Symlink("/proc/self/fd", dev + "/fd"));
  BROOD_RETURN_IF_ERROR(Symlink("/proc/self/fd/0", dev + "/stdin"));
  BROOD_RETURN_IF_ERROR(Symlink("/proc/self/fd/1", dev + "/stdout"));
  BROOD_RETURN_IF_ERROR(Symlink("/proc/self/fd/2", dev + "/stderr"));
  BROOD_RETURN_IF_ERROR(Symlink("pts/ptmx", dev + "/ptmx"));
  BROOD_RETURN_IF_ERROR(Mkdir(dev + "/pts"));
  BROOD_RETURN_IF_ERROR(Mkdir(dev + "/shm"));
  return sys::OkStatus();
}

}  // namespace

sys::Status BuildAndPivotRoot(const RootConfig& config) {
  // Nothing we mount may propagate back to the host.
  BROOD_RETURN_IF_ERROR(Mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE));
  sys::UniqueFd src_fd(open(config.system_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!src_fd) return sys::PosixError("open(" + config.system_root + ")");
  const std::string src = "/proc/self/fd/" + std::to_string(src_fd.get());
  const std::string root = kNewRoot;

  BROOD_RETURN_IF_ERROR(Mount("brood-root", root, "tmpfs", MS_NOSUID | MS_NODEV,
                              "size=4m,nr_inodes=4096,mode=0755,uid=1000,gid=1000"));
  BROOD_RETURN_IF_ERROR(AddSystemDirs(src, config.system_root, root));
  const std::string etc = std::string("/") + kEtcDir;
  BROOD_RETURN_IF_ERROR(Mkdir(root + etc));
  BROOD_RETURN_IF_ERROR(BuildEtcView(src + etc, root + etc));
  BROOD_RETURN_IF_ERROR(AddDev(root));
  BROOD_RETURN_IF_ERROR(Mkdir(root + "/workspace"));
  BROOD_RETURN_IF_ERROR(Mkdir(root + "/tmp", 01777));
  BROOD_RETURN_IF_ERROR(Mkdir(root + "/proc", 0555));
  // The kernel lets a user namespace mount a fresh procfs only where a fully visible one is
  // already mounted in the mount namespace. Keep the host's here until each task has mounted
  // its own; the task's init then detaches it (see task.cpp).
  BROOD_RETURN_IF_ERROR(Mount("/proc", root + "/proc", nullptr, MS_BIND | MS_REC));
  BROOD_RETURN_IF_ERROR(
      Mount(nullptr, root, nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV));
  src_fd.reset();

  // pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves the
  // new root alone (no put_old directory needed in a read-only root).
  if (chdir(root.c_str()) != 0) return sys::PosixError("chdir(" + root + ")");
  if (syscall(SYS_pivot_root, ".", ".") != 0) return sys::PosixError("pivot_root(" + root + ")");
  if (umount2(".", MNT_DETACH) != 0) return sys::PosixError("umount2(old root, MNT_DETACH)");
  if (chdir("/") != 0) return sys::PosixError("chdir(/)");
  return sys::OkStatus();
}

sys::Status BringLoopbackUp() {
  sys::UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return sys::PosixError("socket(AF_INET)");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) return sys::PosixError("ioctl(lo, SIOCGIFFLAGS)");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) return sys::PosixError("ioctl(lo, SIOCSIFFLAGS)");
  return sys::OkStatus();
}

}  // namespace brood::sandbox
