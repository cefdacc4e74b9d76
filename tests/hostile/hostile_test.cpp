// The hostile suite: every case file in tests/hostile/cases is one `brood run`, as a user would
// run it. Each case's result must be exactly as wanted (hostile_case.hpp), and afterwards the
// host must be as it was: no process, cgroup or mount left, the loopback services never reached,
// the canary file unread and unchanged, and no file written where a task tried to escape to.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "hostile/hostile_case.hpp"
#include "jobs/codec.hpp"
#include "support/cli.hpp"
#include "support/host_probe.hpp"
#include "support/procs.hpp"
#include "support/schema.hpp"

namespace brood::testing {
namespace {

using nlohmann::json;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t MountCount() {
  std::ifstream in("/proc/self/mountinfo");
  size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// Where a task that escaped would have written its marker file `brood-escaped`.
std::vector<std::string> EscapeTargets(const std::string& canary_dir) {
  std::vector<std::string> out;
  for (const char* dir : {"/", "/tmp", "/var/tmp", "/root", "/etc", "/dev/shm", "/run", "/usr"})
    out.push_back(std::string(dir) + (dir[1] ? "/" : "") + "brood-escaped");
  out.push_back(canary_dir + "/brood-escaped");
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd)) out.push_back(std::string(cwd) + "/brood-escaped");
  return out;
}

// What tasks must never reach on the host: a TCP port and an abstract unix socket, both
// listening on the host's loopback, counting every connection; a unix socket file beside the
// canary, counted too; and a canary file.
class HostSentinels {
 public:
  HostSentinels() {
    tcp_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof in;
    if (bind(tcp_, reinterpret_cast<sockaddr*>(&in), sizeof in) == 0 && listen(tcp_, 64) == 0 &&
        getsockname(tcp_, reinterpret_cast<sockaddr*>(&in), &len) == 0)
      ph_.host_port = ntohs(in.sin_port);
    ph_.abstract_name = "brood-hostile-" + std::to_string(getpid());
    unix_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    memcpy(un.sun_path + 1, ph_.abstract_name.data(), ph_.abstract_name.size());
    socklen_t ulen = offsetof(sockaddr_un, sun_path) + 1 + ph_.abstract_name.size();
    unix_ok_ = bind(unix_, reinterpret_cast<sockaddr*>(&un), ulen) == 0 && listen(unix_, 64) == 0;
    char dir[] = "/tmp/brood-hostile-XXXXXX";
    canary_dir_ = mkdtemp(dir) ? dir : "";
    ph_.canary_path = canary_dir_ + "/canary";
    ph_.secret = "brood-canary-" + std::to_string(std::random_device{}());
    std::ofstream(ph_.canary_path) << ph_.secret << "\n";
    chmod(canary_dir_.c_str(), 0755);
    chmod(ph_.canary_path.c_str(),
          0644);  // readable by anyone on the host: only the sandbox stops it
    ph_.unix_path = canary_dir_ + "/sock";
    path_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un pn{};
    pn.sun_family = AF_UNIX;
    path_ok_ = ph_.unix_path.size() < sizeof pn.sun_path;
    memcpy(pn.sun_path, ph_.unix_path.c_str(), path_ok_ ? ph_.unix_path.size() : 0);
    path_ok_ = path_ok_ && bind(path_, reinterpret_cast<sockaddr*>(&pn), sizeof pn) == 0 &&
               listen(path_, 64) == 0 && chmod(ph_.unix_path.c_str(), 0777) == 0;
    ph_.probe_base64 = jobs::Base64Encode(Slurp(BROOD_PROBE));
    ph_.int80_signal = Int80OnThisHost().signal;
    watcher_ = std::thread([this] { Watch(); });
  }
  ~HostSentinels() {
    stop_ = true;
    watcher_.join();
    close(tcp_);
    close(unix_);
    close(path_);
    unlink(ph_.unix_path.c_str());
    unlink(ph_.canary_path.c_str());
    rmdir(canary_dir_.c_str());
  }
  bool Ready() const { return ph_.host_port > 0 && unix_ok_ && path_ok_ && !canary_dir_.empty(); }
  const Placeholders& placeholders() const { return ph_; }
  int connections() const { return connections_; }
  const std::string& canary_dir() const { return canary_dir_; }

 private:
  void Watch() {
    while (!stop_) {
      pollfd fds[3] = {{tcp_, POLLIN, 0}, {unix_, POLLIN, 0}, {path_, POLLIN, 0}};
      if (poll(fds, 3, 50) <= 0) continue;
      for (auto& p : fds)
        if (p.revents & POLLIN) {
          int c = accept4(p.fd, nullptr, nullptr, SOCK_CLOEXEC);
          if (c >= 0) {
            ++connections_;
            close(c);
          }
        }
    }
  }
  Placeholders ph_;
  int tcp_ = -1, unix_ = -1, path_ = -1;
  bool unix_ok_ = false, path_ok_ = false;
  std::string canary_dir_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread watcher_;
};

// Extra `brood run` options from a cases file's "#args: ..." line.
std::vector<std::string> FileArgs(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("#args:", 0) == 0) {
      std::istringstream words(line.substr(6));
      for (std::string w; words >> w;) out.push_back(w);
    }
  return out;
}

// The test's name: the file's stem, '-' and other non-alphanumerics as '_' (gtest's rule).
std::string Stem(const std::string& path) {
  std::string name = path.substr(path.rfind('/') + 1);
  name = name.substr(0, name.size() - 6);
  for (char& c : name)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

class Hostile : public ::testing::TestWithParam<std::string> {};

TEST_P(Hostile, EveryAttemptGetsItsExactStatusAndTheHostStaysHealthy) {
  HostSentinels sentinels;
  ASSERT_TRUE(sentinels.Ready()) << "could not set up the host's sentinels";
  std::vector<std::string> errors;
  auto cases = LoadCases(GetParam(), sentinels.placeholders(), &errors);
  for (const auto& e : errors) ADD_FAILURE() << e;
  ASSERT_FALSE(cases.empty());
  std::string jobs;
  for (const auto& c : cases) jobs += c.job.dump() + "\n";
  std::string jobs_path = TempFile("jobs.jsonl", jobs);
  std::string out_path = jobs_path + ".results";
  size_t mounts_before = MountCount();
  // Orphans of brood come to this process, so a task that escaped its tree would show below.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  EXPECT_TRUE(ValidJob(cases.front().job.dump()));  // starts the schema validator now
  auto before = DescendantsOf(getpid());

  std::vector<std::string> args{"run", jobs_path, "-o", out_path, "-j", "2"};
  for (auto& a : FileArgs(GetParam())) args.push_back(a);
  CliRun run = RunBrood(args);
  ASSERT_EQ(run.exit_code, 0) << run.err;

  std::map<std::string, json> results;
  std::ifstream in(out_path);
  for (std::string line; std::getline(in, line);) {
    EXPECT_TRUE(ValidResult(line));
    json r = json::parse(line);
    results[r["id"].is_string() ? r["id"].get<std::string>() : ""] = r;  // null for a bad id
  }
  for (const auto& c : cases) {
    std::string id = c.job.value("id", "");
    auto it = results.find(id);
    if (it == results.end()) {
      ADD_FAILURE() << id << " (line " << c.line << "): no result";
      continue;
    }
    EXPECT_EQ(it->second.dump().find(sentinels.placeholders().secret), std::string::npos)
        << id << " read the host's canary file";
    // The canary, escape and leftover checks hold for every case; only `want` may depend on the
    // host (hostile_case.hpp, "requires"), and the runner says when it did.
    std::string note;
    const json* want = WantHere(c, HostHas, &note);
    if (!note.empty()) std::cout << "[ HOST     ] " << id << ": " << note << std::endl;
    if (!want) continue;
    std::string wrong = CheckResult(*want, it->second);
    std::string shown = it->second.dump();
    if (shown.size() > 1500) shown = shown.substr(0, 1500) + "...";
    EXPECT_EQ(wrong, "") << id << " (line " << c.line << ", " << c.why << ")\n  result: " << shown;
  }

  // The host afterwards.
  EXPECT_EQ(sentinels.connections(), 0) << "a task reached a service on the host's loopback";
  EXPECT_EQ(Slurp(sentinels.placeholders().canary_path), sentinels.placeholders().secret + "\n");
  for (const auto& path : EscapeTargets(sentinels.canary_dir())) {
    EXPECT_NE(access(path.c_str(), F_OK), 0) << "a task wrote " << path << " on the host";
    unlink(path.c_str());
  }
  EXPECT_EQ(DescendantsOf(getpid()), before) << "processes outlived brood";
  EXPECT_TRUE(BroodTreeDirs(run.pid).empty()) << "brood left its cgroup tree";
  EXPECT_EQ(MountCount(), mounts_before) << "the host's mount table changed";
  unlink(out_path.c_str());
  unlink(jobs_path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Cases, Hostile, ::testing::ValuesIn(CaseFiles()),
                         [](const auto& info) { return Stem(info.param); });

TEST(HostileSuite, HasAtLeast150DistinctDocumentedAttempts) {
  Placeholders ph;
  std::vector<std::string> errors;
  std::set<std::string> ids;
  size_t total = 0;
  for (const auto& file : CaseFiles()) {
    for (const auto& c : LoadCases(file, ph, &errors)) {
      ++total;
      std::string id = c.job.value("id", "");
      EXPECT_TRUE(ids.insert(id).second) << "duplicate id " << id << " in " << file;
      EXPECT_GE(c.why.size(), 10u) << id << ": say what it attempts";
    }
  }
  for (const auto& e : errors) ADD_FAILURE() << e;
  EXPECT_GE(total, 150u);
}

}  // namespace
}  // namespace brood::testing
