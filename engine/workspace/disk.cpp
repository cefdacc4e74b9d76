#include "workspace/disk.hpp"

#include <fcntl.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "sys/file.hpp"

extern char** environ;

namespace brood::workspace {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kBlock = 4096;
constexpr uint64_t kInodeSize = 256;
// Dirty pages a workspace may have before its writers wait for writeback. Measured (cgroup v1,
// 256 MiB written while holding 56 of a 64 MiB limit): no OOM kill at 8, 32 or 64 MiB, where
// the reclaim of a v1 cgroup waits for pages under writeback; writing 200 MiB took 1.3 s at
// 4 MiB, 0.45 s at 8, 0.25 s at 32, 0.21 s at 64 (the disk's own speed).
constexpr uint64_t kDirtyBytes = 32 * kMiB;
constexpr const char* kFill = ".brood-fill";  // the fillers' directory, in the hidden root
// EXT4_IOC_SHUTDOWN and EXT4_GOING_FLAGS_NOLOGFLUSH (fs/ext4/ext4.h; not in the uapi headers).
constexpr unsigned long kExt4Shutdown = _IOR('X', 125, uint32_t);
constexpr uint32_t kGoingNoLogFlush = 0x2;

std::atomic<uint64_t> g_disk_ids{0};

std::string MkfsPath() {
  for (const char* p : {"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4", "/usr/bin/mkfs.ext4"})
    if (access(p, X_OK) == 0) return p;
  return "";
}

int FsOpenExt4() { return static_cast<int>(syscall(SYS_fsopen, "ext4", FSOPEN_CLOEXEC)); }

// Runs mkfs.ext4 on the image (as fd 3 of the child); its messages come back in the error.
sys::Status Mkfs(int image, uint64_t bytes, uint64_t inodes, const std::string& mkfs) {
  sys::UniqueFd errors(memfd_create("brood-mkfs", MFD_CLOEXEC));
  if (!errors) return sys::PosixError("memfd_create");
  const std::string n = std::to_string(inodes), blocks = std::to_string(bytes / kBlock);
  std::vector<std::string> args = {mkfs,
                                   "-q",
                                   "-F",
                                   "-b",
                                   std::to_string(kBlock),
                                   "-I",
                                   std::to_string(kInodeSize),
                                   "-N",
                                   n,
                                   "-m",
                                   "0",
                                   "-O",
                                   "^has_journal,^resize_inode",
                                   "-E",
                                   "lazy_itable_init=1,nodiscard",
                                   "-L",
                                   "brood-ws",
                                   "/proc/self/fd/3",
                                   blocks};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, image, 3);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, errors.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, errors.get(), 2);
  pid_t pid = -1;
  // posix_spawn: vfork and exec, safe from a process with threads.
  int err = posix_spawn(&pid, mkfs.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (err != 0) return sys::PosixError("posix_spawn(" + mkfs + ")", err);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return sys::OkStatus();
  lseek(errors.get(), 0, SEEK_SET);
  auto read = sys::ReadWholeFd(errors.get());
  std::string text = read.ok()
                         ? read.value()
                         : "(its messages could not be read: " + read.status().message() + ")";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return sys::Status::Error(mkfs + " failed (status " + std::to_string(status) + "): " + text);
}

// A free loop device over `image`: direct I/O where the file's filesystem allows it, detached
// by the kernel once nothing holds it.
sys::StatusOr<std::pair<sys::UniqueFd, std::string>> AttachLoop(int image) {
  sys::UniqueFd ctl(open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (!ctl) return sys::PosixError("open(/dev/loop-control)");
  for (int attempt = 0; attempt < 64; ++attempt) {
    int n = ioctl(ctl.get(), LOOP_CTL_GET_FREE);
    if (n < 0) return sys::PosixError("ioctl(/dev/loop-control, LOOP_CTL_GET_FREE)");
    std::string dev = "/dev/loop" + std::to_string(n);
    sys::UniqueFd loop(open(dev.c_str(), O_RDWR | O_CLOEXEC));
    if (!loop) return sys::PosixError("open(" + dev + ")");
    loop_config cfg{};
    cfg.fd = static_cast<uint32_t>(image);
    cfg.block_size = kBlock;
    cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
    if (ioctl(loop.get(), LOOP_CONFIGURE, &cfg) == 0) return std::pair{std::move(loop), dev};
    if (errno == EINVAL) {
      // A file system without direct I/O: buffered, which costs a second copy of the pages.
      cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
      if (ioctl(loop.get(), LOOP_CONFIGURE, &cfg) == 0) return std::pair{std::move(loop), dev};
    }
    if (errno != EBUSY) return sys::PosixError("ioctl(" + dev + ", LOOP_CONFIGURE)");
    // Someone else took it between GET_FREE and CONFIGURE: ask again.
  }
  return sys::Status::Error("no free loop device after 64 attempts");
}

void WriteSysfs(const std::string& path, const std::string& value) {
  sys::UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd) (void)!write(fd.get(), value.data(), value.size());
}

// Caps the device's dirty pages where the kernel allows it (6.2+); best effort: cgroup v2
// throttles a cgroup's dirty pages by itself.
void CapDirty(int loop) {
  struct stat st;
  if (fstat(loop, &st) != 0) return;
  const std::string bdi = "/sys/class/bdi/" + std::to_string(major(st.st_rdev)) + ":" +
                          std::to_string(minor(st.st_rdev));
  WriteSysfs(bdi + "/strict_limit", "1");
  WriteSysfs(bdi + "/max_bytes", std::to_string(kDirtyBytes));
}

sys::StatusOr<sys::UniqueFd> MountDevice(const std::string& device) {
  sys::UniqueFd fs(FsOpenExt4());
  if (!fs) return sys::PosixError("fsopen(ext4)");
  if (syscall(SYS_fsconfig, fs.get(), FSCONFIG_SET_STRING, "source", device.c_str(), 0) != 0)
    return sys::PosixError("fsconfig(source=" + device + ")");
  if (syscall(SYS_fsconfig, fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
    return sys::PosixError("fsconfig(" + device + ", CMD_CREATE)");
  sys::UniqueFd mnt(static_cast<int>(
      syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)));
  if (!mnt) return sys::PosixError("fsmount(" + device + ")");
  return mnt;
}

sys::StatusOr<struct statfs> StatFs(int fd) {
  struct statfs s;
  if (fstatfs(fd, &s) != 0) return sys::PosixError("fstatfs(workspace)");
  return s;
}

// w, t and s for the sandbox user; lost+found goes (its inode is the task's).
sys::Status MakeLayout(int root, uid_t uid, gid_t gid) {
  if (unlinkat(root, "lost+found", AT_REMOVEDIR) != 0 && errno != ENOENT)
    return sys::PosixError("rmdir(workspace/lost+found)");
  for (auto [name, mode] : {std::pair{"w", 0755}, {"t", 01777}, {"s", 01777}}) {
    const std::string what = std::string("workspace/") + name;
    if (mkdirat(root, name, 0700) != 0) return sys::PosixError("mkdir(" + what + ")");
    if (fchownat(root, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
      return sys::PosixError("chown(" + what + ")");
    if (fchmodat(root, name, mode, 0) != 0) return sys::PosixError("chmod(" + what + ")");
  }
  if (mkdirat(root, kFill, 0700) != 0) return sys::PosixError("mkdir(workspace/.brood-fill)");
  return sys::OkStatus();
}

// Filler inodes and blocks, so that what is free is exactly what the task may use.
sys::Status Fill(int root, uint64_t bytes, uint64_t inodes) {
  sys::UniqueFd fill(openat(root, kFill, O_DIRECTORY | O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fill) return sys::PosixError("open(workspace/.brood-fill)");
  auto s = StatFs(root);
  if (!s.ok()) return s.status();
  // A tmpfs of nr_inodes counts its root; here the root, w, t and s are ext4's own: the task
  // gets inodes - 4, as on a tmpfs holding the same three directories.
  const uint64_t want_inodes = inodes - 4;
  if (s->f_ffree < want_inodes + 1)
    return sys::Status::Error("workspace: " + std::to_string(s->f_ffree) + " free inodes, " +
                              std::to_string(want_inodes) + " wanted");
  // One is the block filler's, made below.
  for (uint64_t i = 0, extra = s->f_ffree - want_inodes - 1; i < extra; ++i) {
    const std::string name = "i" + std::to_string(i);
    sys::UniqueFd f(openat(fill.get(), name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0));
    if (!f) return sys::PosixError("create(workspace/.brood-fill/" + name + ")");
  }
  // Blocks: a preallocated file (unwritten extents: nothing reaches the image file). Its own
  // extent blocks come out of the free space too, so converge in a few steps.
  sys::UniqueFd blocks(openat(fill.get(), "blocks", O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0));
  if (!blocks) return sys::PosixError("create(workspace/.brood-fill/blocks)");
  uint64_t size = 0;
  for (int step = 0; step < 8; ++step) {
    s = StatFs(root);
    if (!s.ok()) return s.status();
    const uint64_t avail = s->f_bavail * s->f_bsize;
    if (avail == bytes) return sys::OkStatus();
    if (avail > bytes) {
      const uint64_t more = avail - bytes;
      if (fallocate(blocks.get(), 0, static_cast<off_t>(size), static_cast<off_t>(more)) != 0)
        return sys::PosixError("fallocate(workspace filler)");
      size += more;
    } else {
      const uint64_t less = std::min(size, bytes - avail);
      if (less == 0) break;
      size -= less;
      if (ftruncate(blocks.get(), static_cast<off_t>(size)) != 0)
        return sys::PosixError("ftruncate(workspace filler)");
    }
  }
  s = StatFs(root);
  if (!s.ok()) return s.status();
  if (s->f_bavail * s->f_bsize != bytes)
    return sys::Status::Error("workspace: " + std::to_string(s->f_bavail * s->f_bsize) +
                              " bytes free after filling, " + std::to_string(bytes) + " wanted");
  return sys::OkStatus();
}

}  // namespace

std::string Unavailable(const DiskOptions& options) {
  if (geteuid() != 0) return "loop devices and ext4 mounts need root";
  if (access("/dev/loop-control", R_OK | W_OK) != 0) return "no /dev/loop-control (modprobe loop)";
  sys::UniqueFd fs(FsOpenExt4());
  if (!fs) return "the kernel has no ext4 (" + sys::PosixError("fsopen(ext4)").message() + ")";
  if (MkfsPath().empty()) return "no mkfs.ext4 (apt-get install e2fsprogs)";
  sys::UniqueFd f(open(options.dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!f) return sys::PosixError("open(" + options.dir + ", O_TMPFILE)").message();
  // Under a loop device, a tmpfs's pages are memory again (on v2 charged to the task itself).
  struct statfs s;
  if (fstatfs(f.get(), &s) == 0 && (s.f_type == TMPFS_MAGIC || s.f_type == RAMFS_MAGIC))
    return options.dir + " is a tmpfs: workspace images need a disk-backed filesystem";
  return "";
}

sys::StatusOr<std::unique_ptr<Disk>> Disk::Create(const DiskOptions& options, int64_t disk_mb,
                                                  uint64_t inodes, uid_t uid, gid_t gid) {
  const std::string mkfs = MkfsPath();
  if (mkfs.empty()) return sys::Status::Error("no mkfs.ext4 (apt-get install e2fsprogs)");
  const uint64_t bytes = static_cast<uint64_t>(disk_mb) * kMiB;
  // ext4's own: inode tables, bitmaps and group descriptors, and the clusters it keeps back for
  // metadata (2%, at most 4096 blocks); the filler takes up what is left over above `bytes`.
  uint64_t image = bytes + (inodes + 64) * kInodeSize + 4 * kMiB + bytes / 64;
  image += std::min<uint64_t>(image / 49, 4096 * kBlock) + kMiB;
  image = (image + kBlock - 1) / kBlock * kBlock;

  // An unnamed file: it disappears with its last reference, even if brood is killed.
  sys::UniqueFd file(open(options.dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!file) return sys::PosixError("open(" + options.dir + ", O_TMPFILE)");
  // The host's disk space is reserved now (unwritten extents: no data is written), so a task can
  // never fill the host's filesystem, nor meet an I/O error where its own disk_mb had room: a
  // --disk-dir without the space fails here, naming it.
  if (fallocate(file.get(), 0, 0, static_cast<off_t>(image)) != 0) {
    const int err = errno;
    if (err != EOPNOTSUPP && err != EINVAL)
      return sys::PosixError("fallocate(" + options.dir + ", workspace image of " +
                                 std::to_string(image >> 20) + " MiB)",
                             err);
    if (ftruncate(file.get(), static_cast<off_t>(image)) != 0)
      return sys::PosixError("ftruncate(workspace image, " + std::to_string(image) + ")");
  }
  // ext4 rounds the inode count up to fill its inode table blocks; Fill takes up the rest.
  BROOD_RETURN_IF_ERROR(Mkfs(file.get(), image, inodes + 8, mkfs));
  auto loop = AttachLoop(file.get());
  if (!loop.ok()) return loop.status();
  file.reset();  // the loop device holds the file now
  CapDirty(loop->first.get());

  auto disk = std::unique_ptr<Disk>(new Disk());
  disk->disk_mb_ = disk_mb;
  disk->id_ = ++g_disk_ids;
  disk->device_ = loop->second;
  disk->loop_ = std::move(loop->first);
  auto mnt = MountDevice(disk->device_);
  if (!mnt.ok()) return mnt.status();
  disk->mount_ = std::move(mnt.value());
  BROOD_RETURN_IF_ERROR(MakeLayout(disk->mount_.get(), uid, gid));
  BROOD_RETURN_IF_ERROR(Fill(disk->mount_.get(), bytes, inodes));
  disk->loop_.reset();  // the mount holds the device
  return disk;
}

// Nothing on a workspace disk outlives it: shut the filesystem down first, so that the last
// unmount (here or in a zygote) writes nothing back. Measured: destroying a used disk took 20-60 ms
// of metadata writeback through the loop device without this.
Disk::~Disk() {
  if (!mount_) return;
  sys::UniqueFd root(openat(mount_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  uint32_t flags = kGoingNoLogFlush;
  if (root) (void)ioctl(root.get(), kExt4Shutdown, &flags);
}

sys::StatusOr<sys::UniqueFd> Disk::NewMount() const { return MountDevice(device_); }

}  // namespace brood::workspace
