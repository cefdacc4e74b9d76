// A `brood serve` SIGKILLed while a job runs takes its helpers and tasks with it, and the next
// one leaves nothing of it: no process, no cgroup, no workspace disk (loop device) or mount.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "server/server_fixture.hpp"
#include "support/procs.hpp"

namespace brood::testing {
namespace {

using std::chrono::seconds;

bool Alive(int pid) { return kill(pid, 0) == 0 || errno != ESRCH; }  // a zombie counts

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// `brood serve` as a user starts it, its stderr going to `log`.
struct ServeProcess {
  int pid = 0;
  std::string address;  // from its "listening on" line
};

ServeProcess StartServe(const std::string& state_dir, const std::string& log) {
  std::vector<const char*> argv = {BROOD_BIN,     "serve",           "--listen", "127.0.0.1:0",
                                   "--state-dir", state_dir.c_str(), "-j",       "2"};
  if (geteuid() != 0) argv.push_back("--allow-no-cgroups");  // as the engine tests do
  argv.push_back(nullptr);
  ServeProcess p;
  p.pid = fork();
  if (p.pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    int err = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(err, 2);
    execv(BROOD_BIN, const_cast<char* const*>(argv.data()));
    _exit(98);
  }
  constexpr std::string_view kListening = "brood serve: listening on ";
  WaitFor(
      [&] {
        const std::string text = ReadAll(log);
        const size_t at = text.find(kListening);
        if (at == std::string::npos) return !Alive(p.pid);
        const size_t from = at + kListening.size();
        const size_t end = text.find_first_of(" \n", from);
        if (end == std::string::npos) return false;
        p.address = text.substr(from, end - from);
        return true;
      },
      seconds(60));
  return p;
}

// The loop devices (loopN -> backing file) that `pids` hold open or have mounts on.
std::map<std::string, std::string> LoopsOf(const std::vector<int>& pids) {
  std::set<std::string> devices;
  for (int pid : pids) {
    const std::string proc = "/proc/" + std::to_string(pid);
    std::ifstream in(proc + "/mountinfo");
    for (std::string line; std::getline(in, line);) {
      const size_t at = line.find(" - ");
      if (at == std::string::npos) continue;
      std::istringstream rest(line.substr(at + 3));
      std::string fstype, source;
      rest >> fstype >> source;
      if (source.rfind("/dev/loop", 0) == 0) devices.insert(source.substr(5));
    }
    if (DIR* d = opendir((proc + "/fd").c_str())) {
      while (dirent* e = readdir(d)) {
        char target[256];
        const ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
        if (n <= 0) continue;
        const std::string link(target, static_cast<size_t>(n));
        if (link.rfind("/dev/loop", 0) == 0 && link != "/dev/loop-control")
          devices.insert(link.substr(5));
      }
      closedir(d);
    }
  }
  std::map<std::string, std::string> loops;
  for (const auto& dev : devices) {
    std::ifstream backing("/sys/block/" + dev + "/loop/backing_file");
    std::getline(backing, loops[dev]);
  }
  return loops;
}

TEST(Sigkill, NothingOfAKilledServerOutlivesItOrTheNextOne) {
  // The test binary's own engine is not needed: brood serve brings its own.
  TempDir state;
  const std::string log1 = state.path() + "/serve1.log", log2 = state.path() + "/serve2.log";
  const std::string state_dir = state.path() + "/state";
  ServeProcess first = StartServe(state_dir, log1);
  if (first.address.empty() && ReadAll(log1).find("cannot sandbox") != std::string::npos)
    GTEST_SKIP() << ReadAll(log1);
  ASSERT_FALSE(first.address.empty()) << "brood serve did not start: " << ReadAll(log1);

  HttpClient c(first.address);
  PostRunNoWait(c, SleeperJson("k"));
  std::vector<int> tree;
  ASSERT_TRUE(WaitFor([&] {
    tree = DescendantsOf(first.pid);
    for (int pid : tree)
      if (Comm(pid) == "sleep") return true;
    return false;
  })) << "the job never ran";
  const auto cgroups = BroodTreeDirs(first.pid);
  std::vector<int> holders = tree;
  holders.push_back(first.pid);
  const auto loops = LoopsOf(holders);
  if (geteuid() == 0) {
    EXPECT_FALSE(cgroups.empty()) << "brood serve made its cgroup tree";
  }

  kill(first.pid, SIGKILL);
  int st = 0;
  waitpid(first.pid, &st, 0);
  ASSERT_TRUE(WIFSIGNALED(st));
  std::vector<int> alive;
  EXPECT_TRUE(WaitFor(
      [&] {
        alive.clear();
        for (int pid : tree)
          if (Alive(pid)) alive.push_back(pid);
        return alive.empty();
      },
      seconds(10)));
  for (int pid : alive) ADD_FAILURE() << "pid " << pid << " (" << Comm(pid) << ") outlived it";
  EXPECT_EQ(c.ReadResponse().status, 0) << "its client's connection ends with it";
  // The workspace disks of its slots (none where the host has none): their mounts were in its
  // sandboxes' namespaces, gone with them, so the kernel detaches the loop devices (another
  // disk may reuse a device later: then its backing file differs).
  for (const auto& [dev, backing] : loops) {
    EXPECT_TRUE(WaitFor([&] {
      std::ifstream f("/sys/block/" + dev + "/loop/backing_file");
      std::string now;
      std::getline(f, now);
      return now != backing;
    })) << dev
        << " is still attached to " << backing;
  }

  // The next server on the same state dir starts (the dead one's lock is gone with it) and
  // removes the dead one's cgroups.
  ServeProcess second = StartServe(state_dir, log2);
  ASSERT_FALSE(second.address.empty()) << ReadAll(log2);
  for (const auto& dir : cgroups)
    EXPECT_TRUE(WaitFor([&] { return access(dir.c_str(), F_OK) != 0; }, seconds(10)))
        << dir << " is still there";
  ExpectStillServes(second.address);
  kill(second.pid, SIGTERM);
  waitpid(second.pid, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st << ": " << ReadAll(log2);
  EXPECT_NE(ReadAll(log2).find("brood serve: stopped"), std::string::npos) << ReadAll(log2);
}

}  // namespace
}  // namespace brood::testing
