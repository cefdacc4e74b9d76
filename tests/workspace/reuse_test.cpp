// A slot's workspace is used by task after task: each must find it as a new one would be, whatever
// the last one left (files, deep or unreadable trees, extended attributes and modes of the
// workspace directories themselves), with all of disk_mb and its inodes free again.
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "brood/engine.hpp"
#include "support/sandbox_env.hpp"

namespace brood::testing {
namespace {

TEST(WorkspaceReuse, TheNextTaskFindsItAsNew) {
  EngineOptions opts;
  opts.slots = 1;  // every task on the same slot, one after another
  std::string error;
  auto engine = Engine::Create(opts, &error);
  if (!engine) GTEST_SKIP() << "host cannot sandbox: " << error;
  const std::string xattrs =
      "python3 -c \"import os; [os.setxattr(d, 'user.left', b'x') for d in "
      "('/workspace', '/tmp', '/dev/shm')]\" 2>/dev/null; ";
  Job dirty = CmdJob({"sh", "-c",
                      "mkdir -p /workspace/a/b/c /tmp/x && touch /workspace/a/b/c/f /tmp/x/y "
                      "/dev/shm/z && chmod 000 /workspace/a/b && ln -s /etc/passwd /workspace/l && "
                      "i=0; while [ $i -lt 300 ]; do mkdir d$i && cd d$i; i=$((i+1)); done; "
                      "head -c 1048576 /dev/zero > f; chmod 700 /workspace /tmp /dev/shm"});
  dirty.limits.disk_mb = 32;
  Job look = CmdJob({"sh", "-c",
                     "ls -A /workspace /tmp /dev/shm; stat -c '%a %U' /workspace /tmp /dev/shm; "
                     "find /workspace /tmp /dev/shm -maxdepth 0 ! -newermt 2020-01-01; "
                     "python3 -c \"import os; print([os.listxattr(d) for d in "
                     "('/workspace', '/tmp', '/dev/shm')])\"; "
                     "df -B1 --output=avail /workspace | tail -1 | tr -d ' '; "
                     "df --output=iavail /workspace | tail -1 | tr -d ' '"});
  look.limits.disk_mb = 32;
  for (int round = 0; round < 4; ++round) {
    // Round 0: files, attributes; 1: only old times and modes on the workspace directories
    // (nothing to empty); 2: files; 3: only attributes.
    Job d_job = dirty;
    if (round == 1) d_job.argv[2] = "chmod 700 /workspace /tmp /dev/shm";
    if (round == 3) d_job.argv[2] = "true";
    if (round == 0 || round == 3) d_job.argv[2] = xattrs + d_job.argv[2];
    d_job.argv[2] += "; touch -d 2001-01-01 /workspace /tmp /dev/shm";
    Result d = RunChecked(engine.get(), d_job);
    ASSERT_EQ(d.status, TaskStatus::kOk) << d.stderr_data;
    Result r = RunChecked(engine.get(), look);
    ASSERT_EQ(r.status, TaskStatus::kOk) << r.stderr_data;
    const bool disk = engine->Info().enforcement == Enforcement::kCgroup;
    // A tmpfs (cgroup-shared-disk, rlimit) is new for every task: xattrs there are not allowed
    // before 6.6 and the lines differ only in that; the files and modes must hold either way.
    const std::string expect =
        "/dev/shm:\n\n/tmp:\n\n/workspace:\n755 sandbox\n1777 sandbox\n1777 sandbox\n";
    EXPECT_EQ(r.stdout_data.substr(0, expect.size()), expect) << r.stdout_data;
    if (disk) {  // nothing else: no directory with the old times, no attribute left
      EXPECT_EQ(r.stdout_data, expect + "[[], [], []]\n" + std::to_string(32 << 20) + "\n4092\n");
    } else {
      EXPECT_EQ(r.stdout_data.find("/", expect.size()), std::string::npos) << r.stdout_data;
    }
  }
}

// Jobs that alternate between sizes get each size's disk back (a spare, kept clean), never one
// with the other job's files, and always exactly their own disk_mb free.
TEST(WorkspaceReuse, AlternatingSizesEachFindTheirOwnEmptyDisk) {
  EngineOptions opts;
  opts.slots = 1;
  std::string error;
  auto engine = Engine::Create(opts, &error);
  if (!engine) GTEST_SKIP() << "host cannot sandbox: " << error;
  if (engine->Info().enforcement != Enforcement::kCgroup)
    GTEST_SKIP() << "no workspace disks here: " << engine->Info().shared_disk_reason;
  for (int round = 0; round < 6; ++round) {
    const int64_t mb = round % 3 == 0 ? 16 : round % 3 == 1 ? 40 : 24;
    Job job = CmdJob({"sh", "-c",
                      "ls -A /workspace /tmp /dev/shm | tr -d '\\n'; echo; "
                      "df -B1M --output=avail /workspace | tail -1 | tr -d ' '; "
                      "touch /workspace/left /tmp/left /dev/shm/left"});
    job.limits.disk_mb = mb;
    Result r = RunChecked(engine.get(), job);
    ASSERT_EQ(r.status, TaskStatus::kOk) << r.stderr_data;
    EXPECT_EQ(r.stdout_data, "/dev/shm:/tmp:/workspace:\n" + std::to_string(mb) + "\n")
        << "round " << round;
  }
}

}  // namespace
}  // namespace brood::testing
