// The workspace disk as the supervisor makes it: exactly disk_mb free and the inodes a tmpfs of
// that size would give, w/t/s for the sandbox user, a second mount of the same filesystem, and
// nothing left (no loop device) once the disk and its mounts are gone.
#include "workspace/disk.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "brood/limits.hpp"

namespace brood::workspace {
namespace {

class DiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = Unavailable({});
    if (!why.empty()) GTEST_SKIP() << "no workspace disks on this host: " << why;
  }
};

// The loop device's backing file, or "" once it is detached.
std::string Backing(const std::string& device) {
  std::ifstream f("/sys/block/" + device.substr(5) + "/loop/backing_file");
  std::string s;
  std::getline(f, s);
  return s;
}

TEST_F(DiskTest, ExactSpaceInodesAndLayout) {
  for (int64_t mb : {16, 100, 300}) {
    const uint64_t inodes = WorkspaceInodes(mb);
    auto disk = Disk::Create({}, mb, inodes, 100123, 100456);
    ASSERT_TRUE(disk.ok()) << disk.status().message();
    auto mnt = (*disk)->NewMount();
    ASSERT_TRUE(mnt.ok()) << mnt.status().message();
    struct statfs s;
    ASSERT_EQ(fstatfs(mnt->get(), &s), 0);
    EXPECT_EQ(s.f_bavail * s.f_bsize, static_cast<uint64_t>(mb) << 20) << mb << " MiB";
    EXPECT_EQ(s.f_ffree, inodes - 4) << mb << " MiB";
    for (auto [name, mode] : {std::pair{"w", 0755u}, {"t", 01777u}, {"s", 01777u}}) {
      struct stat st;
      ASSERT_EQ(fstatat(mnt->get(), name, &st, AT_SYMLINK_NOFOLLOW), 0) << name;
      EXPECT_TRUE(S_ISDIR(st.st_mode)) << name;
      EXPECT_EQ(st.st_mode & 07777, mode) << name;
      EXPECT_EQ(st.st_uid, 100123u) << name;
      EXPECT_EQ(st.st_gid, 100456u) << name;
      // Empty: the task starts with nothing in its workspace.
      int fd = openat(mnt->get(), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      ASSERT_GE(fd, 0);
      DIR* d = fdopendir(fd);
      int entries = 0;
      while (readdir(d)) ++entries;
      closedir(d);
      EXPECT_EQ(entries, 2) << name;
    }
    struct stat st;
    EXPECT_NE(fstatat(mnt->get(), "lost+found", &st, 0), 0);
  }
}

TEST_F(DiskTest, DetachesOnceNothingHoldsIt) {
  std::string device;
  {
    auto disk = Disk::Create({}, 16, 4096, 100123, 100123);
    ASSERT_TRUE(disk.ok()) << disk.status().message();
    device = (*disk)->device();
    auto mnt = (*disk)->NewMount();
    ASSERT_TRUE(mnt.ok());
    disk->reset();
    EXPECT_NE(Backing(device), "") << "a mount still holds " << device;
  }
  // The last mount is gone: the kernel detaches the device (autoclear), asynchronously.
  for (int i = 0; i < 200 && !Backing(device).empty(); ++i) usleep(10000);
  EXPECT_EQ(Backing(device), "") << device << " still attached";
}

TEST_F(DiskTest, IdsAreUnique) {
  auto a = Disk::Create({}, 16, 4096, 100123, 100123);
  auto b = Disk::Create({}, 16, 4096, 100123, 100123);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->id(), (*b)->id());
  EXPECT_NE((*a)->device(), (*b)->device());
}

// A disk's image is reserved in --disk-dir when it is made: a directory without the room fails
// then, naming it, instead of a task meeting I/O errors (or the host's disk filling) later.
TEST_F(DiskTest, ADiskDirWithoutTheRoomFailsAtOnceNamingIt) {
  auto small = Disk::Create({}, 16, 4096, 0, 0);  // a 16 MiB filesystem to put images in
  ASSERT_TRUE(small.ok()) << small.status().message();
  auto mnt = (*small)->NewMount();
  ASSERT_TRUE(mnt.ok());
  char dir[] = "/tmp/brood-small-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  pid_t pid = fork();
  if (pid == 0) {  // in a mount namespace of its own: nothing is left mounted on the host
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr))
      _exit(10);
    if (syscall(SYS_move_mount, mnt->get(), "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH) != 0)
      _exit(11);
    auto big = Disk::Create({dir}, 64, 4096, 100123, 100123);
    if (big.ok()) _exit(12);
    const std::string& m = big.status().message();
    _exit(m.find("ENOSPC") != std::string::npos && m.find(dir) != std::string::npos ? 0 : 13);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  rmdir(dir);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST(DiskOptions, NamesWhatIsMissing) {
  EXPECT_NE(Unavailable({"/nonexistent/dir"}), "");
  if (geteuid() == 0 && access("/dev/loop-control", W_OK) == 0) {
    EXPECT_NE(Unavailable({"/nonexistent/dir"}).find("/nonexistent/dir"), std::string::npos);
    // /dev/shm is a tmpfs on every Linux host of this kind: no disk under a workspace there.
    struct statfs s;
    if (statfs("/dev/shm", &s) == 0 && s.f_type == 0x01021994)
      EXPECT_NE(Unavailable({"/dev/shm"}).find("tmpfs"), std::string::npos);
  }
}

}  // namespace
}  // namespace brood::workspace
