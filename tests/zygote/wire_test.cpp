#include "zygote/wire.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox/task_spec.hpp"
#include "zygote/zygote.hpp"

namespace brood::zygote {
namespace {

TEST(TaskSpec, RoundTrips) {
  sandbox::TaskSpec s;
  s.argv = {"python3", "-c", "print(1)"};
  s.envp = {"PATH=/bin", "X="};
  s.files = {{"a/b.txt", std::string("\0\x01", 2)}, {"main.py", "print(1)\n"}};
  s.has_stdin = true;
  s.disk_mb = 7;
  auto d = sandbox::DecodeTaskSpec(sandbox::EncodeTaskSpec(s));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->argv, s.argv);
  EXPECT_EQ(d->envp, s.envp);
  EXPECT_EQ(d->files, s.files);
  EXPECT_TRUE(d->has_stdin);
  EXPECT_EQ(d->disk_mb, 7);
}

TEST(TaskSpec, EveryTruncationIsRejected) {
  sandbox::TaskSpec s;
  s.argv = {"true"};
  s.files = {{"f", "content"}};
  std::string bytes = sandbox::EncodeTaskSpec(s);
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(sandbox::DecodeTaskSpec(bytes.substr(0, n))) << "prefix of " << n;
  EXPECT_FALSE(sandbox::DecodeTaskSpec(bytes + "x"));
}

TEST(Wire, HugeCountsDoNotAllocate) {
  WireWriter w;
  w.U32(0xffffffff);  // a vector "of four billion strings" in a 4-byte message
  WireReader r(w.bytes());
  EXPECT_TRUE(r.Strs().empty());
  EXPECT_FALSE(r.ok());
}

TEST(ZygoteConfig, RoundTripsAndRejectsRelativeRoot) {
  ZygoteConfig c;
  c.system_root = "/srv/root";
  c.host_uid = 100007;
  c.cgroup_procs = {"/sys/fs/cgroup/pids/x/cgroup.procs"};
  auto d = DecodeZygoteConfig(EncodeZygoteConfig(c));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->system_root, c.system_root);
  EXPECT_EQ(d->host_uid, 100007u);
  EXPECT_EQ(d->cgroup_procs, c.cgroup_procs);
  c.system_root = "relative";
  EXPECT_FALSE(DecodeZygoteConfig(EncodeZygoteConfig(c)));
}

TEST(ZygoteConfig, ExtraTaskLeavesOnlyBesideAV1MemoryLeaf) {
  ZygoteConfig c;
  c.task_cgroup = "/sys/fs/cgroup/memory/b/g/task/cgroup.procs";
  c.task_memory_stat = "/sys/fs/cgroup/memory/b/g/task/memory.stat";
  c.task_procs_extra = {"/sys/fs/cgroup/pids/b/g/task/cgroup.procs",
                        "/sys/fs/cgroup/cpuacct/b/g/task/cgroup.procs"};
  auto d = DecodeZygoteConfig(EncodeZygoteConfig(c));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->task_cgroup, c.task_cgroup);
  EXPECT_EQ(d->task_procs_extra, c.task_procs_extra);
  EXPECT_FALSE(d->task_clone_into);
  EXPECT_EQ(d->task_memory_stat, c.task_memory_stat);
  // ZygoteFds holds two; v2 (clone_into) and no cgroup at all have none; paths are absolute.
  ZygoteConfig bad = c;
  bad.task_procs_extra.push_back("/sys/fs/cgroup/cpu/b/g/cgroup.procs");
  EXPECT_FALSE(DecodeZygoteConfig(EncodeZygoteConfig(bad)));
  bad = c;
  bad.task_clone_into = true;
  EXPECT_FALSE(DecodeZygoteConfig(EncodeZygoteConfig(bad)));
  bad = c;
  bad.task_cgroup.clear();
  EXPECT_FALSE(DecodeZygoteConfig(EncodeZygoteConfig(bad)));
  bad = c;
  bad.task_procs_extra[1] = "relative/cgroup.procs";
  EXPECT_FALSE(DecodeZygoteConfig(EncodeZygoteConfig(bad)));
}

TEST(Wire, MessagesCarryFds) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  sys::UniqueFd a(sv[0]), b(sv[1]);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  sys::UniqueFd pr(p[0]), pw(p[1]);
  int fds[1] = {pw.get()};
  ASSERT_TRUE(SendMessage(a, "hello", fds).ok());
  auto m = ReceiveMessage(b);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->bytes, "hello");
  ASSERT_EQ(m->fds.size(), 1u);
  ASSERT_EQ(write(m->fds[0].get(), "z", 1), 1);
  char c = 0;
  ASSERT_EQ(read(pr.get(), &c, 1), 1);
  EXPECT_EQ(c, 'z');
  a.reset();
  auto eof = ReceiveMessage(b);
  ASSERT_TRUE(eof.ok());
  EXPECT_TRUE(eof->bytes.empty());
}

}  // namespace
}  // namespace brood::zygote
