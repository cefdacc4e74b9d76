// Submission never blocks: jobs wait in a bounded queue, a full queue is refused at once with a
// code, results arrive on engine threads, queued jobs can be cancelled, jobs of different
// sandbox profiles share one engine, and destroying the engine ends everything it holds.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "support/procs.hpp"
#include "support/sandbox_env.hpp"

namespace brood::testing {
namespace {

using std::chrono::seconds;

// A job that runs until the test closes its stdin: the slot stays taken for as long as the
// test needs, with no timing involved.
class Blocker {
 public:
  explicit Blocker(Engine& engine) {
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    read_.reset(p[0]), write_ = p[1];
    Job job = CmdJob({"sh", "-c", "cat >/dev/null; echo released"});
    job.id = "blocker";
    job.stdin_fd = read_.get();
    job.limits.wall_ms = 120000;
    job.limits.cpu_ms = 120000;
    handle_ = engine.Submit(job, [this](Result r) { done_.set_value(std::move(r)); }).handle;
    EXPECT_NE(handle_, 0u);
  }
  ~Blocker() { Release(); }
  // Waits until the task runs (its processes exist): from then on the slot is taken.
  bool WaitRunning() {
    for (int i = 0; i < 6000; ++i) {  // up to a minute, for a slow host's first zygote
      if (SandboxDescendants().size() >= 2) return true;  // init and the task
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  void Release() {
    if (write_ >= 0) close(write_);
    write_ = -1;
  }
  std::future<Result> Done() { return done_.get_future(); }
  JobHandle handle() const { return handle_; }

 private:
  struct Fd {
    int fd = -1;
    void reset(int f) { fd = f; }
    int get() const { return fd; }
    ~Fd() {
      if (fd >= 0) close(fd);
    }
  } read_;
  int write_ = -1;
  JobHandle handle_ = 0;
  std::promise<Result> done_;
};

std::string ErrorOf(const Result& r) { return r.error ? *r.error : ""; }

TEST(Queue, SubmitNeverBlocksAndAFullQueueIsRefusedAtOnce) {
  EngineOptions o;
  o.slots = 1;
  o.queue = 4;
  auto engine = MakeEngine(o);
  ASSERT_TRUE(engine);
  Blocker blocker(*engine);
  ASSERT_TRUE(blocker.WaitRunning());

  // 8 threads submit 5 jobs each while the only slot is taken: each call returns (the test
  // would time out below otherwise), 4 are queued and 36 refused with a code.
  std::mutex mu;
  std::set<std::thread::id> submitters, callers;
  std::vector<std::promise<Result>> results(40);
  std::atomic<int> taken{0}, refused{0}, called{0};
  std::vector<char> accepted(40, 0);  // written by one thread each, read after the join
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      {
        std::lock_guard lock(mu);
        submitters.insert(std::this_thread::get_id());
      }
      for (int i = 0; i < 5; ++i) {
        auto* slot = &results[t * 5 + i];
        Submission s = engine->Submit(CmdJob({"echo", "queued"}), [&, slot](Result r) {
          {
            std::lock_guard lock(mu);
            callers.insert(std::this_thread::get_id());
          }
          ++called;
          slot->set_value(std::move(r));
        });
        if (s.ok()) {
          ++taken;
          accepted[t * 5 + i] = 1;
        } else {
          ++refused;
          EXPECT_EQ(s.error_kind, ErrorKind::kResourceExhausted) << s.error;
          EXPECT_NE(s.error.find("queue full"), std::string::npos) << s.error;
        }
      }
    });
  }
  auto joined = std::async(std::launch::async, [&] {
    for (auto& t : threads) t.join();
  });
  ASSERT_EQ(joined.wait_for(seconds(60)), std::future_status::ready) << "a Submit blocked";
  EXPECT_EQ(taken.load(), 4);
  EXPECT_EQ(refused.load(), 36);
  EXPECT_EQ(called.load(), 0);  // nothing ran: the slot is still the blocker's

  blocker.Release();
  EXPECT_EQ(blocker.Done().get().stdout_data, "released\n");
  for (int i = 0; i < 40; ++i) {
    if (!accepted[i]) continue;
    Result r = results[i].get_future().get();
    EXPECT_EQ(r.status, TaskStatus::kOk) << ErrorOf(r);
    EXPECT_EQ(r.stdout_data, "queued\n");
  }
  EXPECT_EQ(called.load(), 4);  // refused jobs never call back
  for (auto id : callers) EXPECT_FALSE(submitters.contains(id)) << "on_result on a caller";
}

TEST(Queue, ResultsOfJobsThatCannotRunArriveOnAnEngineThread) {
  auto engine = MakeEngine(1);
  ASSERT_TRUE(engine);
  Job bad = CmdJob({});
  std::promise<std::pair<Result, std::thread::id>> got;
  ASSERT_TRUE(engine
                  ->Submit(bad,
                           [&](Result r) {
                             got.set_value({std::move(r), std::this_thread::get_id()});
                           })
                  .ok());
  auto [r, thread] = got.get_future().get();
  EXPECT_EQ(r.status, TaskStatus::kInvalidJob);
  EXPECT_EQ(ErrorOf(r), "cmd: empty");
  EXPECT_NE(thread, std::this_thread::get_id());
}

TEST(Queue, ACancelledQueuedJobEndsAtOnceAndNeverRuns) {
  auto engine = MakeEngine(1);
  ASSERT_TRUE(engine);
  Blocker blocker(*engine);
  ASSERT_TRUE(blocker.WaitRunning());
  std::promise<Result> queued, after;
  const JobHandle h =
      engine->Submit(CmdJob({"echo", "ran"}), [&](Result r) { queued.set_value(std::move(r)); })
          .handle;
  ASSERT_NE(h, 0u);
  engine->Submit(CmdJob({"echo", "after"}), [&](Result r) { after.set_value(std::move(r)); });
  engine->Cancel(h);
  auto f = queued.get_future();
  // It ends while the blocker still holds the only slot: it was taken off the queue.
  ASSERT_EQ(f.wait_for(seconds(60)), std::future_status::ready);
  Result r = f.get();
  EXPECT_EQ(r.status, TaskStatus::kSandboxError);
  EXPECT_EQ(r.error_kind, ErrorKind::kCancelled) << ErrorOf(r);
  EXPECT_EQ(r.stdout_data, "");
  blocker.Release();
  EXPECT_EQ(blocker.Done().get().status, TaskStatus::kOk);
  Result a = after.get_future().get();  // the job behind it was not touched
  EXPECT_EQ(a.status, TaskStatus::kOk) << ErrorOf(a);
  EXPECT_EQ(a.stdout_data, "after\n");
}

std::string NetNamespace(int pid) {
  char buf[64] = {};
  std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : "";
}

// Jobs of four profiles (network none/host x two roots), interleaved on an engine whose slots
// keep one zygote each: every switch ends the least used zygote and makes another, and each
// job still runs in a sandbox of its own profile.
TEST(Queue, JobsOfDifferentProfilesInterleaveOnOneEngine) {
  EngineOptions o;
  o.slots = 2;
  o.zygotes_per_slot = 1;
  o.roots["same"] = "/";  // laid out like the default root: a second profile, the same files
  auto engine = MakeEngine(o);
  ASSERT_TRUE(engine);
  const std::string host_net = NetNamespace(getpid());
  ASSERT_FALSE(host_net.empty());
  constexpr int kJobs = 16;
  std::vector<std::promise<Result>> results(kJobs);
  for (int i = 0; i < kJobs; ++i) {
    Job job = CmdJob({"readlink", "/proc/self/ns/net"});
    job.id = std::to_string(i);
    job.network = i % 2 ? Network::kHost : Network::kNone;
    job.root = (i / 2) % 2 ? "same" : "";
    ASSERT_TRUE(engine->Submit(job, [&, i](Result r) { results[i].set_value(std::move(r)); }).ok());
  }
  for (int i = 0; i < kJobs; ++i) {
    Result r = results[i].get_future().get();
    ASSERT_EQ(r.status, TaskStatus::kOk) << i << ": " << ErrorOf(r);
    if (i % 2)
      EXPECT_EQ(r.stdout_data, host_net + "\n") << i << ": network host";
    else
      EXPECT_NE(r.stdout_data, host_net + "\n") << i << ": network none";
  }
  Job unknown = CmdJob({"true"});
  unknown.root = "/";
  Result r = engine->Run(unknown);
  EXPECT_EQ(r.status, TaskStatus::kInvalidJob);
  EXPECT_NE(ErrorOf(r).find("root: no root named \"/\""), std::string::npos) << ErrorOf(r);
}

TEST(Queue, DestroyingTheEngineEndsQueuedAndRunningJobs) {
  const int mounts_before = CountLines("/proc/self/mountinfo");
  const size_t children_before = DescendantsOf(getpid(), 1).size();  // other tests' engines
  const int cgroups_before = BroodCgroups(getpid());
  auto engine = MakeEngine(1);
  ASSERT_TRUE(engine);
  std::vector<std::promise<Result>> results(6);
  Job sleeper = CmdJob({"sleep", "60"});
  sleeper.limits.wall_ms = sleeper.limits.cpu_ms = 120000;
  for (auto& p : results)
    ASSERT_TRUE(engine->Submit(sleeper, [&p](Result r) { p.set_value(std::move(r)); }).ok());
  for (int i = 0; i < 6000 && SandboxDescendants().size() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_GE(SandboxDescendants().size(), 2u) << "the first sleeper never started";
  engine.reset();  // returns once every job has its result
  for (auto& p : results) {
    auto f = p.get_future();
    ASSERT_EQ(f.wait_for(seconds(0)), std::future_status::ready);
    Result r = f.get();
    EXPECT_EQ(r.status, TaskStatus::kSandboxError);
    EXPECT_EQ(r.error_kind, ErrorKind::kCancelled) << ErrorOf(r);
  }
  EXPECT_TRUE(SandboxDescendants().empty()) << "a sandbox process survived";
  EXPECT_EQ(DescendantsOf(getpid(), 1).size(), children_before) << "the hatchery survived";
  EXPECT_EQ(CountLines("/proc/self/mountinfo"), mounts_before) << "mounts leaked";
  EXPECT_EQ(BroodCgroups(getpid()), cgroups_before) << "cgroups leaked";
}

}  // namespace
}  // namespace brood::testing
