// The hostile suite, for sessions (brood/session.hpp): attacks run as commands inside a session,
// several commands in a row, so that what one command leaves (files, links, background
// processes) is part of the next one's attack; and the engine's side of a session under fire
// (the file calls during swaps, Close during a command, concurrent starts, the supervisor
// SIGKILLed). Every test ends with the host checks of the case runner (hostile_test.cpp): the
// loopback sentinels never reached, the canary never read (its secret in no output) nor changed,
// no `brood-escaped` marker written, and once the sessions are destroyed no process, cgroup or
// mount of theirs left.
//
// Outcomes only: each assertion holds under any interleaving (bounded polling where a process
// has to be seen first, never a duration). What the sandbox does that the contract leaves open
// (which errno, what Landlock's scoping refuses between commands) is printed as "[ OBSERVED ]".
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "brood/engine.hpp"
#include "hostile/sentinels.hpp"
#include "support/host_probe.hpp"
#include "support/procs.hpp"
#include "support/sandbox_env.hpp"

namespace brood::testing {
namespace {

using std::chrono::seconds;

constexpr int64_t kWallMs = 30'000;  // an ordinary command's: generous, the host may be busy
constexpr int64_t kForeverMs = 600'000;

const std::string& ProbeBinary() {
  static const std::string probe = Slurp(BROOD_PROBE);
  return probe;
}

std::string Why(const Result& r) {
  return std::string(StatusName(r.status)) + ": " + r.error.value_or("") +
         " / stdout: " + r.stdout_data + " / stderr: " + r.stderr_data;
}

// Waits until `done` holds, polling; false when it did not within `limit`.
bool WaitFor(const std::function<bool()>& done, seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

bool Zombie(int pid) { return StatFieldOf(pid, 3) == "Z"; }

// This process's live descendants (a zombie holds nothing but its pid: left out).
std::vector<int> LiveDescendants() {
  std::vector<int> out;
  for (int pid : DescendantsOf(getpid()))
    if (!Zombie(pid) && !Comm(pid).empty()) out.push_back(pid);
  return out;
}

// Live descendants named `comm`, seen from the host (a process that left its session's pid
// namespace would still be below this process, which is a subreaper).
std::vector<int> HostProcs(const std::string& comm) {
  std::vector<int> out;
  for (int pid : LiveDescendants())
    if (Comm(pid) == comm) out.push_back(pid);
  return out;
}

std::string Describe(const std::vector<int>& pids) {
  std::string out;
  for (int pid : pids) out += " " + std::to_string(pid) + "(" + Comm(pid) + ")";
  return out;
}

// Lines of `text` that start with `prefix`.
std::vector<std::string> LinesWith(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  return out;
}

// "NAME RC" lines, as the `t` shell function below prints them: name -> exit code.
std::map<std::string, int> Outcomes(const std::string& text) {
  std::map<std::string, int> out;
  std::istringstream in(text);
  for (std::string name, rc; in >> name >> rc;) out[name] = atoi(rc.c_str());
  return out;
}

// Runs each attempt and prints "NAME RC": `t NAME CMD ARGS...`.
constexpr const char* kTry = "t() { n=$1; shift; \"$@\" > /dev/null 2>&1; echo \"$n $?\"; }\n";

// Every test: an engine of its own (sessions need root for their sandbox users and cgroups to
// end their commands; skipped, saying so, elsewhere), the host's sentinels, and afterwards the
// host checks. A test destroys its sessions before it returns (TearDown checks that).
class SessionHostile : public ::testing::Test {
 public:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "sessions need root (a sandbox user each) and cgroups";
    // Orphans come to this process: one that left its sandbox would show below it.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    EngineOptions o;
    o.slots = 1;
    o.warm = false;  // no slot zygotes: every sandbox process here is a session's
    o.max_sessions = 4;
    o.allow_no_cgroups = true;  // to skip, saying why, where there are none
    std::string error;
    engine_ = Engine::Create(o, &error);  // before the sentinels' thread: one thread here
    ASSERT_TRUE(engine_) << error;
    if (engine_->Info().enforcement == Enforcement::kRlimit) {
      engine_.reset();
      GTEST_SKIP() << "no cgroups: sessions need them";
    }
    sentinels_ = std::make_unique<HostSentinels>();
    ASSERT_TRUE(sentinels_->Ready()) << "could not set up the host's sentinels";
    passwd_ = Slurp("/etc/passwd");
    mounts_before_ = MountCount();
    procs_before_ = LiveDescendants();  // the engine's nest and hatchery
    cgroups_before_ = BroodCgroups(getpid());
  }

  void TearDown() override {
    if (!engine_) return;
    EXPECT_EQ(engine_->Sessions(), 0) << "the test left a session";
    if (sentinels_) {
      const Placeholders& ph = sentinels_->placeholders();
      EXPECT_EQ(seen_.find(ph.secret), std::string::npos)
          << "a session's output or file holds the host's canary";
      EXPECT_EQ(sentinels_->connections(), 0) << "a session reached a service on the host";
      EXPECT_EQ(Slurp(ph.canary_path), ph.secret + "\n") << "the canary changed";
      for (const auto& path : EscapeTargets(sentinels_->canary_dir())) {
        EXPECT_NE(access(path.c_str(), F_OK), 0) << "a session wrote " << path << " on the host";
        unlink(path.c_str());
      }
    }
    EXPECT_EQ(Slurp("/etc/passwd"), passwd_) << "the host's /etc/passwd changed";
    std::vector<int> left;
    WaitFor(
        [&] {
          left = LiveDescendants();
          return left == procs_before_;
        },
        seconds(10));
    EXPECT_EQ(left, procs_before_) << "processes outlived their sessions:" << Describe(left);
    EXPECT_EQ(BroodCgroups(getpid()), cgroups_before_) << "a session's cgroup is left";
    EXPECT_EQ(MountCount(), mounts_before_) << "the host's mount table changed";
    sentinels_.reset();
    engine_.reset();
    EXPECT_TRUE(BroodTreeDirs(getpid()).empty()) << "the engine left its cgroup tree";
    left = LiveDescendants();
    EXPECT_TRUE(left.empty()) << "processes outlived the engine:" << Describe(left);
  }

  // A session with the probe in its workspace and the sentinels' addresses in its environment
  // (never the canary's secret).
  std::unique_ptr<Session> Open(SessionOptions o = {}) {
    const Placeholders& ph = sentinels_->placeholders();
    o.files.emplace("probe", ProbeBinary());
    o.env["CANARY"] = ph.canary_path;
    o.env["PORT"] = std::to_string(ph.host_port);
    o.env["ABSTRACT"] = ph.abstract_name;
    o.env["UNIXSOCK"] = ph.unix_path;
    std::string targets;
    for (const auto& t : EscapeTargets(sentinels_->canary_dir())) targets += t + "\n";
    o.env["TARGETS"] = targets;
    SessionError err;
    auto s = engine_->CreateSession(o, &err);
    EXPECT_TRUE(s) << err.message;
    return s;
  }

  // `sh -c script` in the session; its output is kept for the canary check.
  Result Sh(Session& s, const std::string& script, int64_t wall_ms = kWallMs,
            std::string stdin_data = "", int64_t cpu_ms = 0) {
    ExecOptions x;
    x.argv = {"sh", "-c", script};
    x.wall_ms = wall_ms;
    x.cpu_ms = cpu_ms;
    x.stdin_data = std::move(stdin_data);
    Result r = s.Exec(std::move(x));
    Saw(r);
    return r;
  }
  void Saw(const Result& r) { seen_ += r.stdout_data + r.stderr_data + r.error.value_or(""); }
  // ReadFile, its bytes kept for the canary check.
  bool Read(Session& s, const std::string& path, std::string* bytes, SessionError* err,
            uint64_t max_bytes = 16 << 20) {
    const bool ok = s.ReadFile(path, max_bytes, bytes, err);
    if (ok) seen_ += *bytes;
    return ok;
  }

  // Processes of the session named `comm`, as a command sees them in its /proc.
  int Count(Session& s, const std::string& comm) {
    Result r = Sh(s, "cat /proc/[0-9]*/comm 2>/dev/null; true");
    EXPECT_EQ(r.status, TaskStatus::kOk) << Why(r);
    int n = 0;
    std::istringstream lines(r.stdout_data);
    for (std::string line; std::getline(lines, line);) n += line == comm;
    return n;
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<HostSentinels> sentinels_;
  std::string seen_;  // everything sessions handed out
  std::string passwd_;
  size_t mounts_before_ = 0;
  std::vector<int> procs_before_;
  int cgroups_before_ = 0;
};

// ---- escapes, across commands -------------------------------------------------------------------

TEST_F(SessionHostile, EscapeAttemptsAcrossCommandsReachNothingOnTheHost) {
  auto s = Open();
  ASSERT_TRUE(s);
  // 1: links toward the canary and the init's root, planted for the next commands and the file
  // calls; and a process left behind that keeps trying while they run.
  Result r = Sh(*s, R"(
ln -s "$CANARY" canary_link
ln -s "/proc/1/root$CANARY" init_root_link
ln -s /proc/1/root init_root
ln -s /proc/1/cwd init_cwd
ln -s /proc/self/root self_root
ln -s ../../../../../../../../.. up
ln -s "../../../../../../../..$CANARY" up_canary
mkdir -p deep/a/b && ln -s ../../../../../../../../../.. deep/a/b/up
(while :; do
   cat "$CANARY" "/proc/1/root$CANARY" /proc/[0-9]*/root"$CANARY" /proc/[0-9]*/cwd/../../.."$CANARY"
   ./probe connect 127.0.0.1 "$PORT"
   ./probe write /proc/1/root/tmp/brood-escaped
   ./probe write /proc/1/cwd/../../brood-escaped
   sleep 0.05
 done >> bg.log 2>&1 &)
echo planted
)");
  ASSERT_EQ(r.status, TaskStatus::kOk) << Why(r);
  EXPECT_EQ(r.stdout_data, "planted\n");

  // 2: follow them, and every /proc/<pid>/root of the session, by commands.
  r = Sh(*s, R"(
for p in canary_link init_root_link "init_root$CANARY" "init_cwd/../../..$CANARY" \
         "self_root$CANARY" "up$CANARY" up_canary "deep/a/b/up$CANARY" "/proc/1/root$CANARY" \
         "/proc/1/cwd/../../..$CANARY" "../../../../../..$CANARY" "/workspace/../..$CANARY"; do
  n=$((n+1)); cat "$p"; cp "$p" copy.$n; done
ls -la /proc/1/root/ /proc/1/cwd/ /proc/1/fd/
for d in /proc/[0-9]*; do cat "$d/root$CANARY"; ls "$d/root/" "$d/fd/" > /dev/null; done
cat copy.* 2>/dev/null
echo followed
)");
  EXPECT_EQ(r.status, TaskStatus::kOk) << Why(r);
  EXPECT_NE(r.stdout_data.find("followed\n"), std::string::npos) << Why(r);

  // 3: the file calls through the same links: each one refused, none followed.
  const std::string canary_rel = sentinels_->placeholders().canary_path.substr(1);
  SessionError err;
  std::string got;
  for (const std::string& path : std::vector<std::string>{
           "canary_link", "init_root_link", "init_root/" + canary_rel, "self_root/" + canary_rel,
           "up/" + canary_rel, "up_canary", "deep/a/b/up/" + canary_rel, "init_cwd/probe",
           "init_root/etc/passwd", "up/etc/passwd"}) {
    EXPECT_FALSE(Read(*s, path, &got, &err)) << path << " was read: " << got;
    EXPECT_EQ(err.kind, ErrorKind::kInvalidArgument) << path << ": " << err.message;
  }
  std::vector<std::string> writes = {"canary_link", "init_root_link", "up_canary",
                                     "init_cwd/brood-escaped"};
  for (const auto& target : EscapeTargets(sentinels_->canary_dir())) {
    for (const char* via : {"up", "init_root", "self_root", "deep/a/b/up"})
      writes.push_back(via + target);
  }
  for (const auto& path : writes) {
    EXPECT_FALSE(s->WriteFile(path, "escaped\n", &err)) << path << " was written";
    EXPECT_EQ(err.kind, ErrorKind::kInvalidArgument) << path << ": " << err.message;
  }
  r = Sh(*s, "test -L canary_link && test -L up && test -L deep/a/b/up && echo links-unchanged");
  EXPECT_EQ(r.stdout_data, "links-unchanged\n") << Why(r);

  // 4: the host's services, from inside.
  r = Sh(*s, R"(
./probe connect 127.0.0.1 "$PORT"
python3 -c '
import os, socket
for name, addr in (("abstract", "\0" + os.environ["ABSTRACT"]), ("file", os.environ["UNIXSOCK"]),
                   ("via-init", "/proc/1/root" + os.environ["UNIXSOCK"])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(addr)
        print(name, "CONNECTED")
    except OSError as e:
        print(name, "refused", e.errno)
'
)");
  EXPECT_EQ(r.status, TaskStatus::kOk) << Why(r);
  EXPECT_EQ(r.stdout_data.find("onnected"), std::string::npos) << Why(r);  // probe's, python's
  EXPECT_EQ(LinesWith(r.stdout_data, "abstract refused").size(), 1u) << Why(r);

  // 5: the marker, everywhere an escaped process would write it.
  r = Sh(*s, R"(
printf '%s' "$TARGETS" | while read -r t; do
  echo escaped > "$t"; ./probe write "/proc/1/root$t"; ./probe write "/proc/1/cwd/../..$t"
  ln -s /workspace/probe "$t"
done
echo tried
)");
  EXPECT_NE(r.stdout_data.find("tried\n"), std::string::npos) << Why(r);

  // The background process tried all along: what it got is in its log.
  std::string log;
  ASSERT_TRUE(Read(*s, "bg.log", &log, &err)) << err.message;
  EXPECT_EQ(log.find("connected"), std::string::npos) << log.substr(0, 2000);
  EXPECT_EQ(s->EndedReason(), "");
  s.reset();
}

TEST_F(SessionHostile, KillingOrTracingTheSessionInitFromACommandFailsAndTheSessionLives) {
  auto s = Open();
  ASSERT_TRUE(s);
  ASSERT_EQ(Sh(*s, "./probe sleep 600000 > /dev/null 2>&1 &").status, TaskStatus::kOk);
  const std::string init_start = Sh(*s, "cut -d' ' -f22 /proc/1/stat").stdout_data;
  ASSERT_FALSE(init_start.empty());
  Result r = Sh(*s, std::string(kTry) + R"(
t kill-KILL kill -KILL 1
t kill-TERM kill -TERM 1
t kill-STOP kill -STOP 1
t kill-SEGV kill -SEGV 1
t probe-kill-KILL ./probe kill 1 9
t ptrace-attach python3 -c '
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(0 if libc.ptrace(16, 1, 0, 0) == 0 else 1)'
t ptrace-seize python3 -c '
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(0 if libc.ptrace(0x4206, 1, 0, 0) == 0 else 1)'
t proc-mem dd if=/proc/1/mem of=/dev/null bs=1 count=1 skip=4194304
t proc-fd ls /proc/1/fd
t proc-environ cat /proc/1/environ
t proc-root ls /proc/1/root/
t init-sock sh -c 'exec 3<>/proc/1/fd/3'
)");
  ASSERT_EQ(r.status, TaskStatus::kOk) << Why(r);
  const auto rc = Outcomes(r.stdout_data);
  std::cout << "[ OBSERVED ] from a command, against the session's init:" << r.stdout_data;
  for (const char* name : {"ptrace-attach", "ptrace-seize", "proc-mem", "proc-fd", "proc-environ",
                           "proc-root", "init-sock"}) {
    ASSERT_TRUE(rc.count(name)) << name << " did not run: " << Why(r);
    EXPECT_NE(rc.at(name), 0) << name << " succeeded against the session's init";
  }
  // Signals to a pid namespace's init from inside are dropped, or refused: either way it lives.
  EXPECT_EQ(Sh(*s, "cut -d' ' -f22 /proc/1/stat").stdout_data, init_start)
      << "the session's init is not the one it was";
  EXPECT_EQ(s->EndedReason(), "");
  EXPECT_EQ(Count(*s, "probe"), 1) << "the earlier background process";
  EXPECT_EQ(Sh(*s, "echo alive").stdout_data, "alive\n");

  // The earlier command's process by its pid, then every process the command may signal (kill -1
  // spares the init and the caller).
  r = Sh(*s, R"(kill -TERM $(grep -lx probe /proc/[0-9]*/comm | cut -d/ -f3); echo "by pid $?"
kill -KILL -1; echo "all $?")");
  std::cout << "[ OBSERVED ] a later command kills the earlier one's background process: "
            << r.stdout_data << r.stderr_data
            << "[ OBSERVED ] the earlier command's background process afterwards: "
            << Count(*s, "probe") << " left" << std::endl;
  EXPECT_EQ(Sh(*s, "echo alive").stdout_data, "alive\n");
  EXPECT_EQ(s->EndedReason(), "");
  s.reset();
}

TEST_F(SessionHostile, MountUnshareSetnsAndCgroupMovesAreDenied) {
  auto s = Open();
  ASSERT_TRUE(s);
  Result r = Sh(*s, std::string(kTry) + R"(
mkdir -p m
t unshare-user unshare -U true
t unshare-mount unshare -m true
t unshare-net unshare -n true
t unshare-pid unshare -p -f true
t unshare-cgroup unshare -C true
t mount-tmpfs mount -t tmpfs none m
t mount-bind mount --bind / m
t mount-proc mount -t proc proc m
t mount-sysfs mount -t sysfs none m
t mount-cgroup2 mount -t cgroup2 none m
t mount-cgroup1 mount -t cgroup -o memory none m
t remount-rw mount -o remount,rw /
t nsenter-init nsenter -t 1 -m -u -n -p -i true
t nsenter-user nsenter --user=/proc/1/ns/user true
t cgroupfs-visible sh -c 'ls -A /sys/fs/cgroup | grep -q .'
t cgroup2-join sh -c 'echo $$ > /sys/fs/cgroup/cgroup.procs'
t cgroup1-join sh -c 'echo $$ > /sys/fs/cgroup/memory/cgroup.procs'
t cgroup-via-init sh -c 'echo $$ > /proc/1/root/sys/fs/cgroup/cgroup.procs'
t proc-self-cgroup sh -c 'echo 0::/ > /proc/self/cgroup'
for c in mount umount2 pivot_root move_mount open_tree fsopen fsmount fspick mount_setattr \
         unshare unshare_newns unshare_newnet setns clone_newuser clone_newns clone_newnet \
         clone_newpid clone_newcgroup; do ./probe syscall $c; done
./probe syscall clone_plain
cp probe p_cgroup
(echo $$ > /sys/fs/cgroup/cgroup.procs; echo $$ > /sys/fs/cgroup/memory/cgroup.procs
 exec ./p_cgroup sleep 600000) > /dev/null 2>&1 &
)");
  ASSERT_EQ(r.status, TaskStatus::kOk) << Why(r);
  const auto rc = Outcomes(r.stdout_data);
  for (const char* name :
       {"unshare-user", "unshare-mount", "unshare-net", "unshare-pid", "unshare-cgroup",
        "mount-tmpfs", "mount-bind", "mount-proc", "mount-sysfs", "mount-cgroup2", "mount-cgroup1",
        "remount-rw", "nsenter-init", "nsenter-user", "cgroupfs-visible", "cgroup2-join",
        "cgroup1-join", "cgroup-via-init", "proc-self-cgroup"}) {
    ASSERT_TRUE(rc.count(name)) << name << " did not run: " << Why(r);
    EXPECT_NE(rc.at(name), 0) << name << " succeeded in a session's command";
  }
  for (const auto& line : LinesWith(r.stdout_data, "")) {
    if (line.find(" errno=") == std::string::npos && line.find(" ok") == std::string::npos)
      continue;  // the `t` lines
    if (line.rfind("clone_plain", 0) == 0)
      EXPECT_EQ(line, "clone_plain ok") << "the control: a plain fork works";
    else
      EXPECT_EQ(line.substr(line.find(' ')), " errno=EPERM") << line;
  }
  // The process that tried to move itself is still in the session's cgroup, seen from the host.
  std::vector<int> mover;
  ASSERT_TRUE(WaitFor([&] { return !(mover = HostProcs("p_cgroup")).empty(); }, seconds(20)));
  const std::string cgroups = Slurp("/proc/" + std::to_string(mover[0]) + "/cgroup");
  const std::string tree = "/brood-" + std::to_string(getpid()) + "/";
  for (const auto& line : LinesWith(cgroups, "")) {
    const auto a = line.find(':'), b = line.find(':', a + 1);
    const std::string ctrl = line.substr(a + 1, b - a - 1);
    if (ctrl.find("memory") != std::string::npos || ctrl.find("pids") != std::string::npos ||
        (ctrl.empty() && engine_->Info().cgroup_version == "v2")) {
      EXPECT_NE(line.find(tree), std::string::npos) << "left the session's cgroup: " << line;
    }
  }
  EXPECT_EQ(Sh(*s, "echo alive").stdout_data, "alive\n");
  s.reset();
}

// A process an earlier command left behind is the same sandbox user as a later command, so only
// the sandbox's scoping (Landlock's, between commands) stands between it and the later command's
// stdio through /proc/<pid>/fd. The contract: a command's result is its own output.
TEST_F(SessionHostile, ABackgroundProcessCannotTamperWithALaterCommandsOutput) {
  auto s = Open();
  ASSERT_TRUE(s);
  SessionError err;
  ASSERT_TRUE(s->WriteFile("inject.py", R"(
import errno, os, time
me = os.getpid()
seen = set()
log = open("/workspace/inject.log", "a", buffering=1)
log.write("started\n")
while not os.path.exists("/workspace/go"):  # the command that started it is over then
    time.sleep(0.005)
end = time.time() + 300
while time.time() < end:
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        for fd in (0, 1, 2):
            path = "/proc/%s/fd/%d" % (name, fd)
            for mode, flags in (("w", os.O_WRONLY), ("r", os.O_RDONLY)):
                try:
                    f = os.open(path, flags | os.O_NONBLOCK)
                except OSError as e:
                    key = (fd, mode, e.errno)
                    if key not in seen:
                        seen.add(key)
                        log.write("fd%d %s open %s\n" % (fd, mode, errno.errorcode.get(e.errno)))
                    continue
                try:
                    if mode == "w":
                        os.write(f, b"INJECTED\n")
                        log.write("pid %s fd%d WROTE\n" % (name, fd))
                    else:
                        log.write("pid %s fd%d READ %r\n" % (name, fd, os.read(f, 4096)))
                except OSError as e:
                    err = errno.errorcode.get(e.errno)
                    log.write("pid %s fd%d %s %s\n" % (name, fd, mode, err))
                finally:
                    os.close(f)
    time.sleep(0.002)
)",
                           &err))
      << err.message;
  Result r = Sh(*s, R"(python3 inject.py < /dev/null > /dev/null 2>&1 &
for i in $(seq 1000); do test -s inject.log && break; sleep 0.01; done; cat inject.log)");
  ASSERT_EQ(r.stdout_data, "started\n") << Why(r);
  ASSERT_TRUE(s->WriteFile("go", "", &err)) << err.message;
  for (int i = 0; i < 5; ++i) {
    const std::string line = "stdin-" + std::to_string(i);
    r = Sh(*s, "read line; sleep 0.3; echo \"mine $line\"", kWallMs, line + "\n");
    EXPECT_EQ(r.status, TaskStatus::kOk) << Why(r);
    EXPECT_EQ(r.stdout_data, "mine " + line + "\n") << "command " << i << "'s output was changed";
    EXPECT_EQ(r.stderr_data, "") << "command " << i;
  }
  std::string log;
  ASSERT_TRUE(Read(*s, "inject.log", &log, &err)) << err.message;
  std::cout << "[ OBSERVED ] the injector's attempts on later commands' stdio:\n" << log;
  // The commands of one session are one principal's, in one Landlock domain (so that a later
  // command can signal or connect to what an earlier one left running, as in any shell): a
  // background process may read what a later command reads. What it must not do is change a
  // later command's result: no write into its stdio goes through (the outputs above are each
  // command's own).
  EXPECT_EQ(log.find(" WROTE"), std::string::npos)
      << "a background process wrote into a later command's stdio:\n"
      << log;
  s.reset();
}

// ---- timeouts -----------------------------------------------------------------------------------

TEST_F(SessionHostile, ATimedOutCommandLeavesNoneOfItsProcessesAndEarlierOnesLiveOn) {
  SessionOptions o;
  o.limits.pids = 1024;  // the spawner below must hit its wall, not the session's pids limit
  auto s = Open(o);
  ASSERT_TRUE(s);
  SessionError err;
  // Hops from pid to pid: forks itself and exits, every 20 ms.
  ASSERT_TRUE(s->WriteFile("hop.sh", "#!/bin/sh\nsleep 0.02\n\"$0\" &\n", &err)) << err.message;
  Result r = Sh(*s, R"(chmod +x hop.sh
for n in p_setsid p_dfork p_daemon p_nohup p_noterm p_loop p_main p_spawn; do cp probe $n; done
./probe sleep 600000 > /dev/null 2>&1 &
echo ok)");
  ASSERT_EQ(r.stdout_data, "ok\n") << Why(r);
  const std::vector<std::string> evaders = {"p_setsid", "p_dfork", "p_daemon", "p_nohup",
                                            "p_noterm", "p_loop",  "hop.sh",   "p_main"};
  // Every way out at once, each seen running before the command waits out its wall.
  r = Sh(*s,
         R"(setsid ./p_setsid sleep 600000 > /dev/null 2>&1 &
(./p_dfork sleep 600000 > /dev/null 2>&1 &)
./p_daemon daemon > /dev/null
nohup ./p_nohup sleep 600000 > /dev/null 2>&1 &
sh -c 'trap "" TERM HUP INT; exec ./p_noterm sleep 600000' > /dev/null 2>&1 &
./hop.sh
for i in $(seq 20); do ./p_loop sleep 600000 > /dev/null 2>&1 & done
for i in $(seq 1000); do
  cat /proc/[0-9]*/comm 2>/dev/null | sort -u > seen
  [ $(grep -cxE 'p_setsid|p_dfork|p_daemon|p_nohup|p_noterm|hop.sh' seen) = 6 ] &&
    [ $(grep -lx p_loop /proc/[0-9]*/comm 2>/dev/null | wc -l) = 20 ] && break
  sleep 0.01
done
echo spawned
trap "" TERM
exec ./p_main sleep 600000)",
         5000, "", kForeverMs);
  EXPECT_EQ(r.status, TaskStatus::kTimeout) << Why(r);
  EXPECT_EQ(r.stdout_data, "spawned\n") << "the evaders did not all start within the wall";
  for (const auto& comm : evaders) {
    EXPECT_EQ(Count(*s, comm), 0) << comm << " outlived its command";
    EXPECT_TRUE(HostProcs(comm).empty()) << comm << " outlived its command (host)";
  }
  EXPECT_EQ(Count(*s, "probe"), 1) << "the earlier command's background process";

  // A spawner that forks as fast as it can, under a low wall.
  r = Sh(*s, "while :; do ./p_spawn sleep 20 > /dev/null 2>&1 & done", 300, "", kForeverMs);
  EXPECT_EQ(r.status, TaskStatus::kTimeout) << Why(r);
  EXPECT_EQ(Count(*s, "p_spawn"), 0);
  EXPECT_TRUE(HostProcs("p_spawn").empty());
  EXPECT_EQ(Count(*s, "probe"), 1) << "the earlier command's background process";
  EXPECT_EQ(s->EndedReason(), "");
  EXPECT_EQ(Sh(*s, "echo alive").stdout_data, "alive\n");
  s.reset();
}

// ---- the file calls under fire ------------------------------------------------------------------

// Swaps `target` and the directory `d` (holding `passwd`) between every kind of file, as fast as
// it can, until the session ends; says what mknod and a hard link out of the workspace did.
constexpr const char* kSwapper = R"(
import errno, os, shutil, socket, stat, time
os.chdir("/workspace")
def ename(e):
    return errno.errorcode.get(e.errno, str(e.errno))
log = open("swap.log", "w", buffering=1)
for what, call in (("mknod-chr", lambda: os.mknod("c.try", stat.S_IFCHR | 0o666, os.makedev(1, 3))),
                   ("mknod-blk", lambda: os.mknod("b.try", stat.S_IFBLK | 0o666, os.makedev(7, 0))),
                   ("hardlink-out", lambda: os.link("/etc/passwd", "hard.try"))):
    try:
        call()
        log.write(what + " ok\n")
    except OSError as e:
        log.write(what + " " + ename(e) + "\n")

def remove(path):
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass

def legit(path):
    with open(path, "w") as f:
        f.write("LEGIT\n")

def make(kind, path):
    if kind == "file":
        legit(path)
    elif kind == "dir":
        os.mkdir(path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        socket.socket(socket.AF_UNIX).bind(path)
    elif kind == "device":
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 5))
    elif kind == "legit-dir":
        os.mkdir(path)
        legit(path + "/passwd")
    else:
        os.symlink(kind, path)

def swap(kind, name):
    remove(name + ".new")
    try:
        make(kind, name + ".new")
    except OSError:
        return False
    try:
        os.rename(name + ".new", name)
    except OSError:
        remove(name)
        try:
            os.rename(name + ".new", name)
        except OSError:
            return False
    return True

leaf = ["file", "/etc/passwd", "/proc/1/root/etc/passwd", "fifo", "/proc/1/environ", "dir",
        "/etc/shadow", "socket", "/dev/zero", "device", "../../../etc/passwd", "/proc/self/mem"]
parent = ["legit-dir", "/etc", "/proc/1/root/etc", "/proc/self/cwd/../etc", "file", "fifo"]
swaps = rounds = 0
log.write("swapping\n")
end = time.time() + 600
while time.time() < end:
    for i in range(len(leaf)):
        swaps += swap(leaf[i], "target")
        swaps += swap(parent[i % len(parent)], "d")
    rounds += 1
    if rounds % 20 == 0:
        with open("swaps.new", "w") as f:
            f.write("%d\n" % swaps)
        os.rename("swaps.new", "swaps")
)";

TEST_F(SessionHostile, TheFileCallsDuringSwapsReachOnlyTheWorkspaceAndNeverBlock) {
  auto s = Open();
  ASSERT_TRUE(s);
  SessionError err;
  ASSERT_TRUE(s->WriteFile("swap.py", kSwapper, &err)) << err.message;
  const std::string sandbox_passwd = Sh(*s, "md5sum /etc/passwd").stdout_data;
  Result r = Sh(*s, R"(python3 swap.py < /dev/null > /dev/null 2>&1 &
for i in $(seq 2000); do grep -q swapping swap.log 2>/dev/null && break; sleep 0.01; done
cat swap.log)");
  ASSERT_NE(r.stdout_data.find("swapping"), std::string::npos) << Why(r);
  std::cout << "[ OBSERVED ] the sandbox user's attempts:\n" << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("mknod-chr "), std::string::npos);
  EXPECT_EQ(r.stdout_data.find("mknod-chr ok"), std::string::npos) << "a device node was made";
  EXPECT_EQ(r.stdout_data.find("mknod-blk ok"), std::string::npos) << "a device node was made";
  EXPECT_EQ(r.stdout_data.find("hardlink-out ok"), std::string::npos);

  // The calls run on a thread of their own: one that blocks fails the test instead of hanging.
  struct Tally {
    int reads_ok = 0, writes_ok = 0;
    std::map<std::string, int> errors;  // errno name or kind -> calls
    std::vector<std::string> wrong;     // what must never happen
  };
  constexpr int kCalls = 1500;  // of each: reads and writes, of `target` and `d/passwd`
  auto calls = std::async(std::launch::async, [&s] {
    Tally t;
    for (int i = 0; i < kCalls; ++i) {
      const std::string path = i % 2 ? "d/passwd" : "target";
      SessionError e;
      std::string got;
      auto failed = [&](const char* op) {
        if (e.kind != ErrorKind::kInvalidArgument && e.kind != ErrorKind::kResourceExhausted)
          t.wrong.push_back(std::string(op) + " " + path + ": " + ErrorKindName(e.kind) + " " +
                            e.message);
        ++t.errors[std::string(op) + " " +
                   (e.errno_value ? strerrorname_np(e.errno_value) : ErrorKindName(e.kind))];
      };
      if (s->ReadFile(path, 1 << 20, &got, &e)) {
        ++t.reads_ok;
        if (got != "LEGIT\n" && got != "MINE\n")
          t.wrong.push_back("read " + path + " gave " + got.substr(0, 200));
      } else {
        failed("read");
      }
      e = {};
      if (s->WriteFile(path, "MINE\n", &e))
        ++t.writes_ok;
      else
        failed("write");
    }
    return t;
  });
  if (calls.wait_for(seconds(180)) != std::future_status::ready) {
    ADD_FAILURE() << "the file calls blocked: killing the session's init to end them";
    for (int pid : HostProcs("brood-session")) kill(pid, SIGKILL);
  }
  Tally t = calls.get();
  for (const auto& w : t.wrong) ADD_FAILURE() << w;
  std::cout << "[ OBSERVED ] " << kCalls
            << " reads and writes each during the swaps: " << t.reads_ok << " reads and "
            << t.writes_ok << " writes went through;";
  for (const auto& [what, n] : t.errors) std::cout << " " << what << " x" << n;
  std::cout << std::endl;
  EXPECT_EQ(s->EndedReason(), "");
  r = Sh(*s, "cat swaps; md5sum /etc/passwd");
  std::cout << "[ OBSERVED ] swaps made by then: "
            << r.stdout_data.substr(0, r.stdout_data.find('\n')) << std::endl;
  EXPECT_NE(r.stdout_data.find(sandbox_passwd), std::string::npos)
      << "the sandbox's /etc/passwd changed: " << Why(r);
  s.reset();
}

// ---- two sessions -------------------------------------------------------------------------------

// Listens on TCP 127.0.0.1:7001, the abstract socket "brood-session-a" and the unix socket files
// /tmp/a.sock and /workspace/a.sock; writes each connection's kind to conn.log.
constexpr const char* kListener = R"(
import ctypes, os, select, socket
ctypes.CDLL(None).prctl(15, b"a_listener", 0, 0, 0)  # PR_SET_NAME
socks = {}
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.1", 7001))
socks["tcp"] = t
for kind, addr in (("abstract", "\0brood-session-a"), ("tmp", "/tmp/a.sock"),
                   ("workspace", "/workspace/a.sock")):
    u = socket.socket(socket.AF_UNIX)
    u.bind(addr)
    socks[kind] = u
for s in socks.values():
    s.listen(16)
log = open("/workspace/conn.log", "a", buffering=1)
open("/workspace/listening", "w").close()
while True:
    ready, _, _ = select.select(list(socks.values()), [], [])
    for s in ready:
        c, _ = s.accept()
        log.write([k for k, v in socks.items() if v is s][0] + "\n")
        c.close()
)";

constexpr const char* kConnectAll = R"(
python3 -c '
import socket
for kind, family, addr in (("tcp", socket.AF_INET, ("127.0.0.1", 7001)),
                           ("abstract", socket.AF_UNIX, "\0brood-session-a"),
                           ("tmp", socket.AF_UNIX, "/tmp/a.sock"),
                           ("workspace", socket.AF_UNIX, "/workspace/a.sock")):
    s = socket.socket(family)
    try:
        s.connect(addr)
        print(kind, "CONNECTED")
    except OSError as e:
        print(kind, "refused", e.errno)
'
)";

TEST_F(SessionHostile, TwoSessionsCannotReachEachOthersFilesProcessesOrSockets) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  SessionError err;
  ASSERT_TRUE(a->WriteFile("listen.py", kListener, &err)) << err.message;
  Result r = Sh(*a, R"(echo a-secret-file > secret; chmod 644 secret; echo a-tmp > /tmp/a-file
echo a-shm > /dev/shm/a-shm; chmod 755 /workspace /tmp/a-file
python3 listen.py < /dev/null > /dev/null 2> listen.err &
for i in $(seq 2000); do test -e listening && break; kill -0 $! || break; sleep 0.01; done
ls listening; cat listen.err >&2)" +
                        std::string(kConnectAll));
  // The control: a reaches its own sockets, from the command that started the listener (the
  // same Landlock domain) ...
  ASSERT_EQ(LinesWith(r.stdout_data, "listening").size(), 1u) << Why(r);
  EXPECT_EQ(LinesWith(r.stdout_data, "").size(), 5u) << Why(r);
  for (const char* kind : {"tcp", "abstract", "tmp", "workspace"})
    EXPECT_EQ(LinesWith(r.stdout_data, std::string(kind) + " CONNECTED").size(), 1u) << Why(r);
  // ... and from a later command, but for the abstract socket (scoped to the listener's
  // command where Landlock scopes abstract sockets, ABI 6).
  r = Sh(*a, kConnectAll);
  std::cout << "[ OBSERVED ] a later command of the listener's session:\n" << r.stdout_data;
  for (const char* kind : {"tcp", "tmp", "workspace"})
    EXPECT_EQ(LinesWith(r.stdout_data, std::string(kind) + " CONNECTED").size(), 1u) << Why(r);
  const size_t own =
      4 + LinesWith(r.stdout_data, "").size() - LinesWith(r.stdout_data, "abstract refused").size();
  std::string log;
  ASSERT_TRUE(
      WaitFor([&] { return Read(*a, "conn.log", &log, &err) && LinesWith(log, "").size() == own; },
              seconds(20)))
      << log;

  // b: a's files by name, by the file calls and by its commands.
  std::string got;
  for (const char* path : {"secret", "listen.py", "conn.log", "a.sock"}) {
    EXPECT_FALSE(Read(*b, path, &got, &err)) << path;
    EXPECT_TRUE(err.not_found) << path << ": " << err.message;
  }
  r = Sh(*b,
         "cat /workspace/secret /tmp/a-file /dev/shm/a-shm; ls -A /workspace /tmp /dev/shm; "
         "grep -rl a-secret-file /workspace /tmp /dev/shm /run /var 2>/dev/null; echo done");
  EXPECT_EQ(r.stdout_data.find("a-"), std::string::npos) << Why(r);
  EXPECT_NE(r.stdout_data.find("done\n"), std::string::npos) << Why(r);
  // a's processes.
  EXPECT_EQ(Count(*a, "a_listener"), 1);
  EXPECT_EQ(Count(*b, "a_listener"), 0) << "b sees a's listener";
  // a's sockets.
  r = Sh(*b, kConnectAll);
  EXPECT_EQ(LinesWith(r.stdout_data, "").size(), 4u) << Why(r);
  EXPECT_EQ(r.stdout_data.find("CONNECTED"), std::string::npos) << Why(r);
  // Every pid b can name is b's own: a signal to each reaches nothing of a's.
  r = Sh(*b, "for p in $(seq 2 400); do [ $p = $$ ] || kill -KILL $p 2>/dev/null; done; echo sent");
  EXPECT_EQ(r.stdout_data, "sent\n");
  EXPECT_EQ(Count(*a, "a_listener"), 1) << "b killed a's listener";
  ASSERT_TRUE(Read(*a, "conn.log", &log, &err)) << err.message;
  EXPECT_EQ(LinesWith(log, "").size(), own) << "a connection came from b:\n" << log;
  EXPECT_EQ(a->EndedReason(), "");
  EXPECT_EQ(b->EndedReason(), "");
  a.reset();
  b.reset();
}

// ---- limits -------------------------------------------------------------------------------------

// `bomb` as a command, and from a process an earlier command left (then no command runs when it
// hits): each time the session ends with `reason`, refuses the next command, and its processes
// are gone. The command's own result: `status` (any but ok when none is given), and `limit_hit`
// among its limits_hit when given.
void ExpectTheBombEndsTheSession(SessionHostile* t, const SessionOptions& o,
                                 const std::string& bomb, int64_t wall_ms,
                                 const std::string& reason,
                                 std::optional<TaskStatus> status = std::nullopt,
                                 const std::string& limit_hit = "") {
  for (bool background : {false, true}) {
    SCOPED_TRACE(background ? "from the background" : "as the command");
    auto s = t->Open(o);
    ASSERT_TRUE(s);
    ASSERT_EQ(t->Sh(*s, "./probe sleep 600000 > /dev/null 2>&1 &").status, TaskStatus::kOk);
    Result r = background ? t->Sh(*s, bomb + " > /dev/null 2>&1 &") : t->Sh(*s, bomb, wall_ms);
    if (!background) {
      EXPECT_NE(r.status, TaskStatus::kOk) << Why(r);
      EXPECT_EQ(r.status, status.value_or(r.status)) << Why(r);
      if (!limit_hit.empty()) {
        EXPECT_NE(std::find(r.limits_hit.begin(), r.limits_hit.end(), limit_hit),
                  r.limits_hit.end())
            << Why(r);
      }
    }
    EXPECT_TRUE(WaitFor([&] { return !s->EndedReason().empty(); }, seconds(30)));
    EXPECT_EQ(s->EndedReason(), reason);
    SessionError err;
    ExecOptions x;
    x.argv = {"true"};
    EXPECT_FALSE(s->Start(
        x, [](Result) {}, &err));
    EXPECT_EQ(err.kind, ErrorKind::kCancelled);
    EXPECT_TRUE(HostProcs("probe").empty()) << "the session's processes outlived it";
  }
}

TEST_F(SessionHostile, AMemoryBombEndsTheSessionWithItsReasonAndLeavesNothing) {
  SessionOptions o;
  o.limits.memory_mb = 64;
  ExpectTheBombEndsTheSession(this, o, "./probe mem 1024", kWallMs, "memory",
                              TaskStatus::kMemoryLimit);
}

TEST_F(SessionHostile, AForkBombEndsTheSessionWithItsReasonAndLeavesNothing) {
  SessionOptions o;
  o.limits.pids = 32;
  // A refused fork ends nothing by itself, but the session's end does: the command is killed
  // then (SIGKILL), long before its 10-minute wall, and says its pids were refused.
  ExpectTheBombEndsTheSession(this, o, "./probe forkbomb", 600'000, "pids", TaskStatus::kSignaled,
                              "pids");
}

TEST_F(SessionHostile, FillingTheDiskDoesNotEndTheSession) {
  SessionOptions o;
  o.limits.disk_mb = 16;
  auto s = Open(o);
  ASSERT_TRUE(s);
  // A background filler and a command filling the other two places, then inodes.
  Result r = Sh(*s,
                "./probe diskfill /workspace/fill > /dev/null 2>&1 & ./probe diskfill /tmp/fill; "
                "./probe diskfill /dev/shm/fill; ./probe inodefill /tmp/i; wait; echo done");
  EXPECT_NE(r.stdout_data.find("done\n"), std::string::npos) << Why(r);
  EXPECT_TRUE(r.stdout_data.find("ENOSPC") != std::string::npos ||
              r.stdout_data.find("EDQUOT") != std::string::npos)
      << Why(r);
  EXPECT_EQ(s->EndedReason(), "");
  SessionError err;
  EXPECT_FALSE(s->WriteFile("more", std::string(1 << 20, 'x'), &err));
  EXPECT_TRUE(err.errno_value == ENOSPC || err.errno_value == EDQUOT) << err.message;
  EXPECT_EQ(Sh(*s, "echo alive").stdout_data, "alive\n");
  EXPECT_EQ(Sh(*s, "rm -rf /workspace/fill /tmp/fill /tmp/i /dev/shm/fill").status,
            TaskStatus::kOk);
  EXPECT_TRUE(s->WriteFile("more", std::string(1 << 20, 'x'), &err)) << err.message;
  EXPECT_EQ(s->EndedReason(), "");
  s.reset();
}

// ---- the engine's side --------------------------------------------------------------------------

TEST_F(SessionHostile, ClosingASessionDuringACommandCancelsItAndLeavesNothing) {
  auto s = Open();
  ASSERT_TRUE(s);
  ASSERT_EQ(Sh(*s, "cp probe p_holder && cp probe p_main").status, TaskStatus::kOk);
  // A process the command started holds its stdout open too.
  ExecOptions x;
  x.argv = {"sh", "-c", "./p_holder sleep 600000 & echo started; exec ./p_main sleep 600000"};
  x.wall_ms = kForeverMs;
  std::promise<Result> done;
  SessionError err;
  ASSERT_TRUE(s->Start(
      x, [&](Result r) { done.set_value(std::move(r)); }, &err))
      << err.message;
  EXPECT_TRUE(
      WaitFor([] { return HostProcs("p_holder").size() == 1 && HostProcs("p_main").size() == 1; },
              seconds(30)));
  // File calls on another thread while it closes: each one returns.
  std::atomic<bool> stop{false};
  auto reader = std::async(std::launch::async, [&] {
    int after_close = 0;
    while (!stop) {
      SessionError e;
      std::string got;
      if (!s->ReadFile("probe", 16 << 20, &got, &e) && e.kind == ErrorKind::kCancelled)
        ++after_close;
    }
    return after_close;
  });
  s->Close();
  stop = true;
  auto result = done.get_future();
  ASSERT_EQ(result.wait_for(seconds(60)), std::future_status::ready) << "no result after Close";
  Result r = result.get();
  Saw(r);
  EXPECT_EQ(r.status, TaskStatus::kSandboxError) << Why(r);
  EXPECT_EQ(r.error_kind, ErrorKind::kCancelled) << Why(r);
  ASSERT_EQ(reader.wait_for(seconds(60)), std::future_status::ready) << "a file call blocked";
  reader.get();
  EXPECT_EQ(s->EndedReason(), "closed");
  EXPECT_TRUE(SandboxDescendants().empty()) << Describe(SandboxDescendants());
  EXPECT_TRUE(HostProcs("p_holder").empty());
  EXPECT_FALSE(s->Start(
      x, [](Result) {}, &err));
  EXPECT_EQ(err.kind, ErrorKind::kCancelled);
  s.reset();
}

TEST_F(SessionHostile, ConcurrentStartsAdmitExactlyOneCommand) {
  auto s = Open();
  ASSERT_TRUE(s);
  for (int round = 0; round < 5; ++round) {
    std::atomic<int> admitted{0}, busy{0};
    std::promise<Result> done;
    std::vector<std::thread> racers;
    for (int i = 0; i < 6; ++i) {
      racers.emplace_back([&] {
        ExecOptions x;
        x.argv = {"./probe", "sleep", "600000"};
        x.wall_ms = kForeverMs;
        SessionError err;
        if (s->Start(
                x, [&](Result r) { done.set_value(std::move(r)); }, &err))
          ++admitted;
        else if (err.kind == ErrorKind::kUnavailable)
          ++busy;
      });
    }
    for (auto& t : racers) t.join();
    EXPECT_EQ(admitted, 1) << "round " << round;
    EXPECT_EQ(busy, 5) << "round " << round;
    s->CancelExec();
    auto f = done.get_future();
    ASSERT_EQ(f.wait_for(seconds(60)), std::future_status::ready);
    EXPECT_EQ(f.get().error_kind, ErrorKind::kCancelled);
  }
  EXPECT_EQ(Count(*s, "probe"), 0);
  s.reset();
}

// Collects the stdout and stderr of every command that runs give.py (SCM_RIGHTS over a unix
// socket in the workspace) and holds them.
constexpr const char* kCollector = R"(
import array, socket
srv = socket.socket(socket.AF_UNIX)
srv.bind("/workspace/collect.sock")
srv.listen(64)
held = []
open("/workspace/collecting", "w").close()
while True:
    c, _ = srv.accept()
    _, anc, _, _ = c.recvmsg(1, socket.CMSG_SPACE(8))
    for _, _, data in anc:
        held.append(array.array("i", data[:8]))
    c.send(b"k")
    c.close()
)";

constexpr const char* kGive = R"(
import array, socket
s = socket.socket(socket.AF_UNIX)
s.connect("/workspace/collect.sock")
s.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [1, 2]))])
s.recv(1)
print("given")
)";

// This process's open fds.
int OpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n - 1;  // the directory's own
}

// What a session's processes hold must cost the supervisor nothing that grows with it: a
// command's output pipes are the supervisor's to read until the command's result, and what is
// written to them afterwards is the session's business. Here one background process keeps the
// stdout and stderr of every later command, and the supervisor's open fds are counted.
//
// Fails today: after a command's result, the read ends of pipes a session process still holds
// go to the reactor (DrainLater, session/exec.cpp) until that process lets go, at the latest
// when the session ends: two supervisor fds a command, without bound (fds passed on to one
// collector escape the pids limit). At the supervisor's RLIMIT_NOFILE every session and job of
// the engine fails with EMFILE; and a holder that writes keeps the reactor thread reading.
TEST_F(SessionHostile, PipesASessionHoldsOnToDoNotPinTheSupervisorsFds) {
  auto s = Open();
  ASSERT_TRUE(s);
  SessionError err;
  ASSERT_TRUE(s->WriteFile("collect.py", kCollector, &err)) << err.message;
  ASSERT_TRUE(s->WriteFile("give.py", kGive, &err)) << err.message;
  Result r = Sh(*s, R"(python3 collect.py < /dev/null > /dev/null 2>&1 &
for i in $(seq 2000); do test -e collecting && break; sleep 0.01; done; ls collecting)");
  ASSERT_EQ(r.stdout_data, "collecting\n") << Why(r);
  ASSERT_EQ(Sh(*s, "python3 give.py").stdout_data, "given\n");  // warms up what is made once
  const int before = OpenFds();
  constexpr int kCommands = 40;
  for (int i = 0; i < kCommands; ++i) {
    r = Sh(*s, "python3 give.py");
    ASSERT_EQ(r.stdout_data, "given\n") << Why(r);
  }
  const int after = OpenFds();
  EXPECT_LT(after - before, kCommands / 2)
      << "the supervisor holds " << after - before << " more fds after " << kCommands
      << " commands whose output pipes a session process keeps (" << after << " open)";
  s.reset();
}

// A session that could not start (here: the supervisor out of fds for a moment, as the test
// above shows a session can make it) must leave nothing behind, and its seat (sandbox user and
// cgroup name) must serve the next session once the moment has passed: at every step of the
// start that can fail so.
//
// Fails today: a start that fails after the session's cgroup group is made tears down out of fds
// too, its group's directories stay, and every later CreateSession that gets that seat (the
// lowest free one) fails with "mkdir(.../e<N>x<seat>): EEXIST": no session starts again for the
// engine's life.
TEST_F(SessionHostile, ASessionThatFailedToStartLeavesItsSeatUsable) {
  rlimit normal;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &normal), 0);
  for (int spare = 0; spare < 64; ++spare) {
    rlimit scarce = normal;
    scarce.rlim_cur = OpenFds() + spare;
    SessionError why, next;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &scarce), 0);
    auto s = engine_->CreateSession({}, &why);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &normal), 0);
    if (s) break;  // enough fds: every step that can fail so came before
    s = engine_->CreateSession({}, &next);
    ASSERT_TRUE(s) << "a start failed for want of fds (" << spare << " spare: " << why.message
                   << "), and then one with all it needs failed: " << next.message;
  }
  // A teardown that itself ran out of fds may leave its group's directories until the engine
  // stops (each session's group has a name of its own, so they cost no seat); the engine's end
  // removes them, which TearDown checks.
  engine_.reset();
}

// ---- the supervisor SIGKILLed -------------------------------------------------------------------

// A line from `fd`, waiting up to `limit`; "" on EOF or timeout.
std::string ReadLine(int fd, seconds limit) {
  std::string line;
  const auto end = std::chrono::steady_clock::now() + limit;
  while (line.empty() || line.back() != '\n') {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    pollfd p = {fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
    char c;
    if (read(fd, &c, 1) != 1) return "";
    line += c;
  }
  return line;
}

// The workspace loop device of a session's init: its /sys/dev/block/MAJ:MIN/loop/backing_file
// (unique while the image lives: its inode number), keyed by MAJ:MIN; empty without disks.
std::map<std::string, std::string> WorkspaceLoops(int init_pid) {
  std::map<std::string, std::string> out;
  std::istringstream in(Slurp("/proc/" + std::to_string(init_pid) + "/mountinfo"));
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::vector<std::string> fields;
    for (std::string w; f >> w;) fields.push_back(w);
    if (fields.size() < 10 || fields[4] != "/workspace") continue;
    const std::string backing = Slurp("/sys/dev/block/" + fields[2] + "/loop/backing_file");
    if (!backing.empty()) out[fields[2]] = backing;
  }
  return out;
}

// Reaps every child of this process that has exited (orphans of the killed supervisor come
// here: this process is their subreaper).
void ReapOrphans() {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

TEST(SessionSupervisorKilled, NothingOfItsSessionsIsLeftAndANewEngineRemovesItsCgroups) {
  if (geteuid() != 0) GTEST_SKIP() << "sessions need root (a sandbox user each) and cgroups";
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  const std::vector<int> baseline = LiveDescendants();
  const size_t mounts_before = MountCount();
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  // The supervisor: an engine with two sessions, each with background processes (a sleeper, a
  // daemon, a process hopping from pid to pid) and one with a command running.
  const pid_t supervisor = fork();
  ASSERT_GE(supervisor, 0);
  if (supervisor == 0) {
    close(pipe_fds[0]);
    auto say = [&](const std::string& line) {
      (void)!write(pipe_fds[1], line.data(), line.size());
    };
    auto die = [&](const std::string& why) {
      say("error " + why + "\n");
      _exit(1);
    };
    EngineOptions o;
    o.slots = 1;
    o.warm = false;
    o.max_sessions = 2;
    o.allow_no_cgroups = true;
    std::string error;
    auto engine = Engine::Create(o, &error);
    if (!engine) die(error);
    if (engine->Info().enforcement == Enforcement::kRlimit) {
      say("skip: no cgroups, sessions need them\n");
      _exit(0);
    }
    std::vector<std::unique_ptr<Session>> sessions;
    for (int i = 0; i < 2; ++i) {
      SessionOptions so;
      so.files["probe"] = ProbeBinary();
      so.files["hop.sh"] = "#!/bin/sh\n\"$0\" &\n";
      SessionError err;
      auto s = engine->CreateSession(so, &err);
      if (!s) die(err.message);
      ExecOptions x;
      x.argv = {"sh", "-c",
                "chmod +x hop.sh; ./hop.sh; ./probe sleep 600000 > /dev/null 2>&1 & "
                "./probe daemon > /dev/null"};
      x.wall_ms = kWallMs;
      Result r = s->Exec(x);
      if (r.status != TaskStatus::kOk) die(Why(r));
      sessions.push_back(std::move(s));
    }
    ExecOptions x;
    x.argv = {"./probe", "sleep", "600000"};
    x.wall_ms = kForeverMs;
    SessionError err;
    if (!sessions[0]->Start(
            x, [](Result) {}, &err))
      die(err.message);
    say("ready\n");
    for (;;) pause();
  }
  close(pipe_fds[1]);
  const std::string said = ReadLine(pipe_fds[0], seconds(120));
  close(pipe_fds[0]);
  if (said.rfind("skip", 0) == 0) {
    waitpid(supervisor, nullptr, 0);
    GTEST_SKIP() << said;
  }
  if (said != "ready\n") {
    kill(supervisor, SIGKILL);
    waitpid(supervisor, nullptr, 0);
    FAIL() << "the supervisor did not start its sessions: " << said;
  }
  // What it holds: processes (identified by pid and start time), loop devices, a cgroup tree.
  std::map<int, std::string> held;  // pid -> start time
  std::map<std::string, std::string> loops;
  int inits = 0;
  ASSERT_TRUE(WaitFor([&] { return HostProcs("probe").size() >= 5; }, seconds(30)))
      << "two sleepers, two daemons and a running command:" << Describe(HostProcs("probe"));
  for (int pid : DescendantsOf(supervisor)) {
    const std::string start = StatFieldOf(pid, 22);
    if (start.empty()) continue;  // gone already
    held[pid] = start;
    if (Comm(pid) == "brood-session") {
      ++inits;
      for (const auto& [dev, backing] : WorkspaceLoops(pid)) loops[dev] = backing;
    }
  }
  EXPECT_EQ(inits, 2);
  std::cout << "[ OBSERVED ] the supervisor holds " << held.size() << " processes and "
            << loops.size() << " loop devices when it is killed" << std::endl;
  std::string why;
  if (HostHas("workspace-disks", &why).value_or(false)) {
    EXPECT_EQ(loops.size(), 2u) << "each session's workspace disk";
  }
  EXPECT_FALSE(BroodTreeDirs(supervisor).empty());

  ASSERT_EQ(kill(supervisor, SIGKILL), 0);
  ASSERT_EQ(waitpid(supervisor, nullptr, 0), supervisor);
  // Every process of it ends (a zombie is reaped here), its loop devices are detached.
  std::vector<std::string> left;
  auto still_held = [&] {
    ReapOrphans();
    left.clear();
    for (const auto& [pid, start] : held)
      if (!Zombie(pid) && StatFieldOf(pid, 22) == start)
        left.push_back(std::to_string(pid) + "(" + Comm(pid) + ")");
    for (const auto& [dev, backing] : loops)
      if (Slurp("/sys/dev/block/" + dev + "/loop/backing_file") == backing)
        left.push_back("loop " + dev + " on " + backing);
    return left.empty();
  };
  EXPECT_TRUE(WaitFor(still_held, seconds(30))) << "left of the killed supervisor:" << [&] {
    std::string s;
    for (const auto& l : left) s += " " + l;
    return s;
  }();
  std::vector<int> now;
  WaitFor(
      [&] {
        ReapOrphans();
        return (now = LiveDescendants()) == baseline;
      },
      seconds(10));
  EXPECT_EQ(now, baseline) << "processes of the killed supervisor:" << Describe(now);
  EXPECT_EQ(MountCount(), mounts_before);
  std::cout << "[ OBSERVED ] the killed supervisor's cgroup tree before a new engine starts: "
            << (BroodTreeDirs(supervisor).empty() ? "gone" : "still there") << std::endl;

  // A new engine (in a fresh process: one with a tree of its own already would not look for
  // stale ones) removes the dead one's tree.
  const pid_t fresh = fork();
  ASSERT_GE(fresh, 0);
  if (fresh == 0) {
    EngineOptions o;
    o.slots = 1;
    o.warm = false;
    std::string error;
    auto engine = Engine::Create(o, &error);
    const bool ok = engine != nullptr;
    engine.reset();
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(fresh, &status, 0), fresh);
  ReapOrphans();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the new engine did not start";
  std::vector<std::string> stale = BroodTreeDirs(supervisor);
  EXPECT_TRUE(stale.empty()) << "the killed supervisor's cgroup tree survived a new engine: "
                             << stale.front();
  EXPECT_TRUE(BroodTreeDirs(fresh).empty());
  EXPECT_EQ(LiveDescendants(), baseline);
}

}  // namespace
}  // namespace brood::testing
