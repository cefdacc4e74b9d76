// EmptyDir, which empties a workspace directory between tasks: its fast path for a directory
// that is already empty, and the sweep for every other (many entries, deep nesting, symlinks
// that must not be followed, directories without permissions).
#include "sandbox/empty_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace brood::sandbox {
namespace {

class EmptyDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/brood-empty-dir-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    ASSERT_EQ(mkdir((root_ + "/d").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/outside").c_str(), 0755), 0);
    Touch(root_ + "/outside/keep");
  }
  void TearDown() override {
    if (!root_.empty()) {
      // Directories the test made unreadable are readable again for the removal.
      (void)system(("chmod -R u+rwx " + root_ + " 2>/dev/null; rm -rf " + root_).c_str());
    }
  }
  static void Touch(const std::string& path) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << path;
    ASSERT_EQ(write(fd, "x", 1), 1);
    close(fd);
  }
  // The names in `dir`, "." and ".." left out.
  static std::vector<std::string> List(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = opendir(dir.c_str());
    if (!d) return {"<cannot open>"};
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(d);
    return names;
  }
  // EmptyDir over a fresh fd of `dir`, as the workspace's cleaning opens it.
  static int Empty(const std::string& dir) {
    int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno;
    const int err = EmptyDir(fd);
    close(fd);
    return err;
  }
  std::string root_;
};

TEST_F(EmptyDirTest, AnEmptyDirectoryStaysAndStaysEmpty) {
  EXPECT_EQ(Empty(root_ + "/d"), 0);
  EXPECT_TRUE(List(root_ + "/d").empty());
  struct stat st;
  EXPECT_EQ(stat((root_ + "/d").c_str(), &st), 0);
}

TEST_F(EmptyDirTest, OneFileIsRemoved) {
  // The smallest case the fast path must not take for empty.
  Touch(root_ + "/d/only");
  EXPECT_EQ(Empty(root_ + "/d"), 0);
  EXPECT_TRUE(List(root_ + "/d").empty());
}

TEST_F(EmptyDirTest, MoreEntriesThanOneReadHoldsAreAllRemoved) {
  // Names long enough that the first getdents64 cannot hold them all.
  for (int i = 0; i < 300; ++i) Touch(root_ + "/d/" + std::string(60, 'f') + std::to_string(i));
  EXPECT_EQ(Empty(root_ + "/d"), 0);
  EXPECT_TRUE(List(root_ + "/d").empty());
}

TEST_F(EmptyDirTest, NestedDirectoriesSymlinksAndUnreadableDirectoriesAreRemoved) {
  std::string deep = root_ + "/d";
  for (int i = 0; i < 40; ++i) {
    deep += "/n";
    ASSERT_EQ(mkdir(deep.c_str(), 0755), 0);
  }
  Touch(deep + "/leaf");
  // A symlink to a directory outside: removed itself, never followed.
  ASSERT_EQ(symlink((root_ + "/outside").c_str(), (root_ + "/d/link").c_str()), 0);
  ASSERT_EQ(mkdir((root_ + "/d/locked").c_str(), 0755), 0);
  Touch(root_ + "/d/locked/inside");
  ASSERT_EQ(chmod((root_ + "/d/locked").c_str(), 0), 0);
  const int err = Empty(root_ + "/d");
  if (geteuid() == 0) {  // as init, with CAP_DAC_OVERRIDE over the sandbox user's files
    EXPECT_EQ(err, 0);
    EXPECT_TRUE(List(root_ + "/d").empty());
  } else {
    EXPECT_EQ(err, EACCES) << "the locked directory cannot be read without CAP_DAC_OVERRIDE";
  }
  EXPECT_EQ(List(root_ + "/outside"), std::vector<std::string>{"keep"});
}

}  // namespace
}  // namespace brood::sandbox
