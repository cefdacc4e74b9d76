// `brood exec` as a user runs it: the record on stdout, the exit code table of docs/cli.md, stdin
// forwarding, and the same isolation as root and as an unprivileged user.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/cli.hpp"
#include "support/schema.hpp"
#include "workspace/disk.hpp"

namespace brood::testing {
namespace {

using Json = nlohmann::json;

struct BroodRun {
  int exit_code = -1;
  std::string out, err;
  Json record;
};

constexpr uid_t kNobody = 65534;

// Runs brood (support/cli.hpp) and parses the record it prints, checking it against the schema.
BroodRun Brood(const std::vector<std::string>& args, const std::string& input = "",
               uid_t as_uid = 0, bool deny_userns = false) {
  CliRun c = RunBrood(args, {input, as_uid, deny_userns});
  BroodRun r{c.exit_code, c.out, c.err, {}};
  if (!r.out.empty() && r.out[0] == '{') {
    r.record = Json::parse(r.out, nullptr, false);
    EXPECT_TRUE(ValidResult(r.out.substr(0, r.out.find('\n')))) << r.out;
  }
  return r;
}

std::vector<std::string> Exec(std::vector<std::string> opts, std::vector<std::string> cmd) {
  std::vector<std::string> a{"exec"};
  a.insert(a.end(), opts.begin(), opts.end());
  a.push_back("--");
  a.insert(a.end(), cmd.begin(), cmd.end());
  return a;
}

TEST(Exec, PrintsOneRecordAndExitsWithTheTaskCode) {
  BroodRun ok = Brood(Exec({}, {"echo", "hello"}));
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.record["status"], "ok");
  EXPECT_EQ(ok.record["stdout"], "hello\n");
  EXPECT_EQ(ok.out.find('\n'), ok.out.size() - 1) << "exactly one line on stdout";
  BroodRun failed = Brood(Exec({}, {"sh", "-c", "exit 7"}));
  EXPECT_EQ(failed.exit_code, 7);
  EXPECT_EQ(failed.record["status"], "failed");
}

TEST(Exec, ExitCodesForLimits) {
  EXPECT_EQ(Brood(Exec({"--wall-ms", "200"}, {"sleep", "10"})).exit_code, 124);
  EXPECT_EQ(Brood(Exec({"--memory-mb", "32", "--disk-mb", "8"},
                       {"python3", "-c", "x = bytearray(200 << 20)"}))
                .exit_code,
            137);
  EXPECT_EQ(Brood(Exec({"--cpu-ms", "200"}, {"sh", "-c", "while :; do :; done"})).exit_code, 152);
  EXPECT_EQ(Brood(Exec({"--output-bytes", "10"}, {"yes"})).exit_code, 153);
  EXPECT_EQ(Brood(Exec({}, {"sh", "-c", "kill -SEGV $$"})).exit_code, 128 + 11);
  EXPECT_EQ(Brood(Exec({"--on-violation", "kill"}, {"unshare", "-U", "true"})).exit_code, 159);
}

TEST(Exec, ForwardsStdinWhenNotATerminal) {
  BroodRun r = Brood(Exec({}, {"sh", "-c", "wc -c; tr a-z A-Z"}), std::string(5000, 'a'));
  // wc consumes everything; nothing is left for tr.
  EXPECT_EQ(r.record["stdout"], "5000\n");
  BroodRun cat = Brood(Exec({}, {"cat"}), "line one\nline two\n");
  EXPECT_EQ(cat.record["stdout"], "line one\nline two\n");
}

TEST(Exec, EnvAndCwdOptions) {
  BroodRun r = Brood(Exec({"--env", "SEED=42", "--cwd", "/tmp"}, {"sh", "-c", "echo $SEED; pwd"}));
  EXPECT_EQ(r.record["stdout"], "42\n/tmp\n");
}

TEST(Exec, EnvJustBeforeTheCommandTakesOneValue) {
  // --env used to swallow the "--", so the command's own options were taken for brood's.
  BroodRun r = Brood(Exec({"--env", "A=1", "--env", "B=2"}, {"sh", "-c", "echo $A$B"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.record["stdout"], "12\n");
}

TEST(Exec, UsageErrorsExitTwo) {
  EXPECT_EQ(Brood({"exec"}).exit_code, 2);
  EXPECT_EQ(Brood({"exec", "--wall-ms", "abc", "--", "true"}).exit_code, 2);
  EXPECT_EQ(Brood({"exec", "--network", "bogus", "--", "true"}).exit_code, 2);
  EXPECT_EQ(Brood({"exec", "--env", "NOEQUALS", "--", "true"}).exit_code, 2);
  EXPECT_EQ(Brood({"frobnicate"}).exit_code, 2);
  BroodRun v = Brood({"--version"});
  EXPECT_EQ(v.exit_code, 0);
}

TEST(Exec, ImpossibleLimitIsInvalidJobNamingTheField) {
  BroodRun r = Brood(Exec({"--memory-mb", "0"}, {"true"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.record["status"], "invalid_job");
  EXPECT_NE(r.record["error"].get<std::string>().find("memory_mb"), std::string::npos);
}

TEST(Exec, RelativeCwdIsInvalidJobNamingTheField) {
  BroodRun r = Brood(Exec({"--cwd", "workspace"}, {"pwd"}));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(r.record["status"], "invalid_job");
  EXPECT_NE(r.record["error"].get<std::string>().find("cwd"), std::string::npos);
}

TEST(Exec, NeverRunsUnsandboxedWithoutUserNamespaces) {
  BroodRun r = Brood(Exec({}, {"sh", "-c", "echo ran"}), "", 0, /*deny_userns=*/true);
  EXPECT_EQ(r.exit_code, 125) << r.out << r.err;
  EXPECT_EQ(r.record["status"], "sandbox_error");
  EXPECT_EQ(r.record["error_kind"], "host_unsupported");
  std::string error = r.record["error"];
  EXPECT_NE(error.find("CLONE_NEWUSER"), std::string::npos) << error;
  EXPECT_NE(error.find("brood doctor"), std::string::npos) << error;
  EXPECT_EQ(r.out.find("ran"), std::string::npos);
}

// SIGTERM to brood exec: the task is killed, brood removes its cgroups and exits 128+15.
TEST(Exec, SigtermKillsTheTaskAndCleansUp) {
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(BROOD_BIN, BROOD_BIN, "exec", "--", "sleep", "60", nullptr);
    _exit(98);
  }
  usleep(500 * 1000);  // usually running by then; a signal during start-up is handled too
  kill(pid, SIGTERM);
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st)) << "brood must exit, not die by the signal";
  EXPECT_EQ(WEXITSTATUS(st), 128 + SIGTERM);
  for (const char* h : {"/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory", "/sys/fs/cgroup"}) {
    std::string tree = std::string(h) + "/brood-" + std::to_string(pid);
    EXPECT_NE(access(tree.c_str(), F_OK), 0) << tree << " was left behind";
  }
}

bool Root() { return geteuid() == 0; }
#define REQUIRE_ROOT()                                                           \
  if (!Root())                                                                   \
  GTEST_SKIP() << "needs root to switch to an unprivileged user or hand over a " \
                  "cgroup"

// Unprivileged: without a writable cgroup, limits cannot be held: sandbox_error naming the fix.
TEST(ExecUnprivileged, WithoutCgroupsRefusesAndNamesTheFix) {
  REQUIRE_ROOT();
  BroodRun r = Brood(Exec({}, {"true"}), "", kNobody);
  EXPECT_EQ(r.exit_code, 125) << r.err;
  EXPECT_EQ(r.record["status"], "sandbox_error");
  EXPECT_EQ(r.record["error_kind"], "host_unsupported");
  std::string error = r.record["error"];
  EXPECT_NE(error.find("--allow-no-cgroups"), std::string::npos) << error;
  EXPECT_NE(error.find("brood doctor"), std::string::npos) << error;
}

// The isolation checks that need no helper binary, as a command and its expected stdout.
struct Check {
  const char* name;
  const char* shell;
  const char* expect;
};
const Check kIsolation[] = {
    {"uid", "id -u; id -g", "1000\n1000\n"},
    {"hostname", "hostname", "brood\n"},
    // init, sh and the pipeline's own processes (how many exist at the moment ls reads /proc
    // depends on scheduling): a handful, never the host's hundreds.
    {"pids", "n=$(ls /proc | grep -c '^[0-9]'); [ $n -le 6 ] && echo few || echo $n", "few\n"},
    // pid 1 is brood's init, and shows nothing of brood's own command line or environment.
    {"pid1", "tr -d '\\0' < /proc/1/cmdline; echo; cat /proc/1/environ 2>/dev/null | wc -c",
     "brood-init\n0\n"},
    {"fds", "ls /proc/self/fd | sort -n | tr '\\n' ' '", "0 1 2 3 "},  // 3: ls's own dir
    {"host_home", "ls /root /home 2>&1 | grep -c 'No such file'", "2\n"},
    {"build_dir", "test -e " BROOD_SOURCE_DIR " && echo visible || echo gone", "gone\n"},
    {"usr_ro", "touch /usr/x 2>/dev/null && echo writable || echo ro", "ro\n"},
    {"workspace_rw", "touch /workspace/x && echo rw", "rw\n"},
    {"shadow", "cat /etc/shadow 2>/dev/null || echo none", "none\n"},
    {"env", "env | sort | tr '\\n' ' '",
     "HOME=/workspace LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin PWD=/workspace "},
    {"nnp", "grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status | tr -s '\\t' ' '",
     "CapEff: 0000000000000000\nNoNewPrivs: 1\nSeccomp: 2\n"},
    {"uid_map_not_root", "awk '{print ($2 != 0)}' /proc/self/uid_map", "1\n"},
};

void CheckIsolation(std::vector<std::string> opts, uid_t uid, const char* expect_enforced) {
  for (const Check& c : kIsolation) {
    BroodRun r = Brood(Exec(opts, {"sh", "-c", c.shell}), "", uid);
    ASSERT_EQ(r.exit_code, 0) << c.name << ": " << r.err << r.out;
    EXPECT_EQ(r.record["stdout"], std::string(c.expect)) << c.name;
    EXPECT_EQ(r.record["limits_enforced"], expect_enforced) << c.name;
  }
}

TEST(ExecIsolation, AsRoot) {
  REQUIRE_ROOT();
  CheckIsolation({}, 0,
                 brood::workspace::Unavailable({}).empty() ? "cgroup" : "cgroup-shared-disk");
}

TEST(ExecIsolation, AsUnprivilegedUserWithRlimits) {
  REQUIRE_ROOT();
  setenv("BROOD_HOST_SECRET", "x", 1);
  CheckIsolation({"--allow-no-cgroups"}, kNobody, "rlimit");
}

// Root hands an ordinary user a v1 subtree in each hierarchy (what `brood doctor` prints). One
// --cgroup-root names the same path in every hierarchy; this host has memory below another path
// than the rest, so the subtree goes below the deepest own path, in each hierarchy.
class DelegatedV1 : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_ROOT();
    if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) != 0)
      GTEST_SKIP() << "this host has no cgroup v1 memory hierarchy (pure v2?): v1 delegation "
                      "is tested only where v1 runs";
    root_ = Own("memory").size() > Own("pids").size() ? Own("memory") : Own("pids");
    root_ += "/brood-test-deleg";
    for (const char* c : {"memory", "pids", "cpu", "cpuacct", "freezer"}) {
      std::string mount = std::string("/sys/fs/cgroup/") + c;
      if (access(mount.c_str(), F_OK) != 0) continue;
      if (root_.rfind(Own(c), 0) != 0) GTEST_SKIP() << c << " is not below " << root_;
      for (size_t i = 1; i <= root_.size(); ++i) {
        if (i < root_.size() && root_[i] != '/') continue;
        std::string dir = mount + root_.substr(0, i);
        if (mkdir(dir.c_str(), 0755) == 0) created_.push_back(dir);
      }
      std::string leaf = mount + root_;
      for (const char* f : {"", "/cgroup.procs", "/tasks"})
        if (chown((leaf + f).c_str(), kNobody, kNobody) != 0 && *f == 0)
          GTEST_SKIP() << "cannot chown " << leaf;
    }
  }
  void TearDown() override {
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) rmdir(it->c_str());
  }
  // This process's cgroup path for controller c ("" for the root).
  static std::string Own(const char* c) {
    FILE* f = fopen("/proc/self/cgroup", "r");
    char line[512];
    std::string path = "/";
    while (f && fgets(line, sizeof line, f)) {
      std::string l(line);
      auto a = l.find(':'), b = l.find(':', a + 1);
      std::string ctrls = "," + l.substr(a + 1, b - a - 1) + ",";
      if (ctrls.find("," + std::string(c) + ",") != std::string::npos) {
        path = l.substr(b + 1);
        path.pop_back();
      }
    }
    if (f) fclose(f);
    return path == "/" ? "" : path;
  }
  std::string root_;
  std::vector<std::string> created_;
};

TEST_F(DelegatedV1, UnprivilegedUserGetsCgroupLimits) {
  // An ordinary user has no workspace disks (loop devices need root): files count against memory.
  CheckIsolation({"--cgroup-root", root_}, kNobody, "cgroup-shared-disk");
  BroodRun r = Brood(Exec({"--cgroup-root", root_, "--memory-mb", "32", "--disk-mb", "8"},
                          {"python3", "-c", "x = bytearray(200 << 20)"}),
                     "", kNobody);
  EXPECT_EQ(r.record["status"], "memory_limit") << r.out << r.err;
}

}  // namespace
}  // namespace brood::testing
