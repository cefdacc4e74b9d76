// The one mountinfo parser (cgroup detection and `brood doctor` both read mounts through it):
// fields by position around the optional ones, escapes decoded, odd lines skipped.
#include "sys/mountinfo.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace brood::sys {
namespace {

TEST(ParseMountInfo, ReadsEveryField) {
  auto mounts = ParseMountInfo(
      "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n");
  ASSERT_EQ(mounts.size(), 1u);
  const MountInfo& m = mounts[0];
  EXPECT_EQ(m.id, 36);
  EXPECT_EQ(m.parent_id, 35);
  EXPECT_EQ(m.root, "/mnt1");
  EXPECT_EQ(m.mount_point, "/mnt2");
  EXPECT_EQ(m.options, "rw,noatime");
  EXPECT_EQ(m.optional_fields, std::vector<std::string>{"master:1"});
  EXPECT_EQ(m.fs_type, "ext3");
  EXPECT_EQ(m.source, "/dev/root");
  EXPECT_EQ(m.super_options, "rw,errors=continue");
}

TEST(ParseMountInfo, NoneOrSeveralOptionalFieldsBeforeTheSeparator) {
  auto mounts = ParseMountInfo(
      "22 1 0:21 / /proc rw,nosuid - proc proc rw,hidepid=2\n"
      "30 22 0:26 / /sys/fs/cgroup rw shared:4 master:2 propagate_from:1 unbindable - cgroup2 "
      "cgroup2 rw,nsdelegate\n");
  ASSERT_EQ(mounts.size(), 2u);
  EXPECT_TRUE(mounts[0].optional_fields.empty());
  EXPECT_EQ(mounts[0].fs_type, "proc");
  EXPECT_EQ(mounts[1].optional_fields,
            (std::vector<std::string>{"shared:4", "master:2", "propagate_from:1", "unbindable"}));
  EXPECT_EQ(mounts[1].fs_type, "cgroup2");
  EXPECT_EQ(mounts[1].source, "cgroup2");
  EXPECT_EQ(mounts[1].super_options, "rw,nsdelegate");
}

TEST(ParseMountInfo, DecodesOctalEscapesInPathsAndNames) {
  // Space, tab, newline and backslash, as the kernel writes them.
  auto mounts = ParseMountInfo(
      "41 31 0:38 /a\\040b /mnt/my\\011dir\\012x\\134y rw - fuse.my\\040fs src\\040x "
      "rw,opt=a\\054b\n");
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0].root, "/a b");
  EXPECT_EQ(mounts[0].mount_point, "/mnt/my\tdir\nx\\y");
  EXPECT_EQ(mounts[0].fs_type, "fuse.my fs");
  EXPECT_EQ(mounts[0].source, "src x");
  // Option lists stay escaped: a decoded comma would split one option in two.
  EXPECT_EQ(mounts[0].super_options, "rw,opt=a\\054b");
}

TEST(ParseMountInfo, KeepsABackslashThatStartsNoEscape) {
  auto mounts = ParseMountInfo(
      "1 0 0:1 / /a\\9b\\04 rw - tmpfs none rw\n"
      "2 0 0:1 / /c\\ rw - tmpfs none rw\n");
  ASSERT_EQ(mounts.size(), 2u);
  EXPECT_EQ(mounts[0].mount_point, "/a\\9b\\04");
  EXPECT_EQ(mounts[1].mount_point, "/c\\");
}

TEST(ParseMountInfo, SkipsMalformedLinesAndKeepsTheRest) {
  auto mounts = ParseMountInfo(
      "\n"
      "garbage\n"
      "1 0 0:1 / /no-separator rw tmpfs none rw\n"
      "2 0 0:1 / /too-few-after rw - tmpfs none\n"
      "3 0 0:1 / /five-before - tmpfs none rw\n"
      "x 0 0:1 / /bad-id rw - tmpfs none rw\n"
      "4 y 0:1 / /bad-parent rw - tmpfs none rw\n"
      "5 0 0:1 / /good rw - tmpfs none rw\n"
      "6 5 0:2 / /last-without-newline rw - tmpfs none rw");
  ASSERT_EQ(mounts.size(), 2u);
  EXPECT_EQ(mounts[0].mount_point, "/good");
  EXPECT_EQ(mounts[1].mount_point, "/last-without-newline");
  EXPECT_EQ(mounts[1].parent_id, 5);
  EXPECT_TRUE(ParseMountInfo("").empty());
}

TEST(MountInfo, HasSuperOptionMatchesWholeOptionsOnly) {
  MountInfo m;
  m.super_options = "rw,memory,hidepid=2";
  EXPECT_TRUE(m.HasSuperOption("rw"));
  EXPECT_TRUE(m.HasSuperOption("memory"));
  EXPECT_TRUE(m.HasSuperOption("hidepid=2"));
  EXPECT_FALSE(m.HasSuperOption("mem"));
  EXPECT_FALSE(m.HasSuperOption("hidepid"));
  EXPECT_FALSE(m.HasSuperOption(""));
}

TEST(ParseMountInfo, ReadsThisProcessMounts) {
  std::string text;
  if (FILE* f = fopen("/proc/self/mountinfo", "re")) {
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
    fclose(f);
  }
  ASSERT_FALSE(text.empty());
  size_t lines = 0;
  for (char c : text) lines += c == '\n';
  auto mounts = ParseMountInfo(text);
  EXPECT_EQ(mounts.size(), lines) << "the kernel's every line parses";
  bool root = false;
  for (const MountInfo& m : mounts) root = root || m.mount_point == "/";
  EXPECT_TRUE(root);
}

}  // namespace
}  // namespace brood::sys
