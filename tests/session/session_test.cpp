// Sessions through the engine API (brood/session.hpp): one sandbox that lives between commands.
// Every test looks at outcomes: files and processes seen by a later command, results' statuses,
// what is left on the host after Close.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "support/sandbox_env.hpp"

namespace brood::testing {
namespace {

std::string Probe() {
  std::ifstream in(BROOD_PROBE, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// An engine of its own (sessions need cgroups: skipped where there are none).
std::unique_ptr<Engine> SessionEngine(int max_sessions = 4,
                                      OnViolation on_violation = OnViolation::kErrno) {
  if (geteuid() != 0) return nullptr;
  EngineOptions o;
  o.slots = 1;
  o.max_sessions = max_sessions;
  o.on_violation = on_violation;
  return MakeEngine(o);
}

#define SESSION_ENGINE_OR_SKIP(var, ...)                                   \
  auto var = SessionEngine(__VA_ARGS__);                                   \
  if (!var) GTEST_SKIP() << "sessions need root and cgroups on this host"; \
  if (var->Info().enforcement == Enforcement::kRlimit) GTEST_SKIP() << "no cgroups"

std::unique_ptr<Session> Open(Engine* e, SessionOptions o = {}) {
  o.files.emplace("probe", Probe());
  SessionError err;
  auto s = e->CreateSession(o, &err);
  EXPECT_TRUE(s) << err.message;
  return s;
}

Result Cmd(Session& s, std::vector<std::string> argv, int64_t wall_ms = 20000) {
  ExecOptions x;
  x.argv = std::move(argv);
  x.wall_ms = wall_ms;
  return s.Exec(std::move(x));
}

std::string Why(const Result& r) { return r.error.value_or("") + " / " + r.stderr_data; }

// Processes of the session whose name (comm) is `comm`, as a command sees them in /proc.
int Count(Session& s, const std::string& comm) {
  Result r = Cmd(s, {"sh", "-c", "cat /proc/[0-9]*/comm 2>/dev/null; true"});
  EXPECT_EQ(r.status, TaskStatus::kOk) << Why(r);
  std::istringstream lines(r.stdout_data);
  int n = 0;
  for (std::string line; std::getline(lines, line);) n += line == comm;
  return n;
}

TEST(Session, FilesPersistBetweenCommandsAndThroughTheFilesCalls) {
  SESSION_ENGINE_OR_SKIP(engine);
  auto s = Open(engine.get());
  ASSERT_TRUE(s);
  Result w = Cmd(*s, {"sh", "-c", "echo one > note.txt && mkdir -p d && echo two > d/x"});
  ASSERT_EQ(w.status, TaskStatus::kOk) << Why(w);
  Result r = Cmd(*s, {"cat", "note.txt", "d/x"});
  EXPECT_EQ(r.stdout_data, "one\ntwo\n") << Why(r);

  SessionError err;
  std::string got;
  ASSERT_TRUE(s->ReadFile("d/x", 1 << 20, &got, &err)) << err.message;
  EXPECT_EQ(got, "two\n");
  ASSERT_TRUE(s->WriteFile("src/new/file.py", "print(42)\n", &err)) << err.message;
  r = Cmd(*s, {"cat", "src/new/file.py"});
  EXPECT_EQ(r.stdout_data, "print(42)\n");
  r = Cmd(*s, {"stat", "-c", "%u", "src/new/file.py"});
  EXPECT_EQ(r.stdout_data, "1000\n") << "written as the sandbox user";
  EXPECT_FALSE(s->ReadFile("absent", 1 << 20, &got, &err));
  EXPECT_TRUE(err.not_found);
  EXPECT_FALSE(s->ReadFile("d/x", 2, &got, &err));
  EXPECT_EQ(err.errno_value, EFBIG);
  for (const char* bad : {"/etc/passwd", "../x", "a/../../b", "", "./a"}) {
    EXPECT_FALSE(s->ReadFile(bad, 100, &got, &err)) << bad;
    EXPECT_EQ(err.kind, ErrorKind::kInvalidArgument) << bad;
  }
}

// An agent's one-character fix keeps the file's size; Python's __pycache__ must not hide it.
TEST(Session, AnEditAtTheSameSizeIsSeenByTheNextPythonImport) {
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3 on this host";
  SESSION_ENGINE_OR_SKIP(engine);
  auto s = Open(engine.get());
  ASSERT_TRUE(s);
  SessionError err;
  const std::vector<std::string> run = {"python3", "-c", "import calc; print(calc.add(2, 3))"};
  ASSERT_TRUE(s->WriteFile("calc.py", "def add(a, b):\n    return a - b\n", &err)) << err.message;
  Result r = Cmd(*s, run);
  EXPECT_EQ(r.stdout_data, "-1\n") << Why(r);
  ASSERT_TRUE(s->WriteFile("calc.py", "def add(a, b):\n    return a + b\n", &err)) << err.message;
  r = Cmd(*s, run);
  EXPECT_EQ(r.stdout_data, "5\n") << "the stale __pycache__ ran: " << Why(r);
}

TEST(Session, TheFilesCallsReachRegularFilesOnly) {
  SESSION_ENGINE_OR_SKIP(engine);
  auto s = Open(engine.get());
  ASSERT_TRUE(s);
  Result r = Cmd(*s, {"sh", "-c",
                      "ln -s /etc/passwd link && mkfifo fifo && mkdir dir && "
                      "ln -s /etc sub && echo mine > own"});
  ASSERT_EQ(r.status, TaskStatus::kOk) << Why(r);
  SessionError err;
  std::string got;
  for (const char* path : {"link", "fifo", "dir", "sub/passwd"}) {
    EXPECT_FALSE(s->ReadFile(path, 1 << 20, &got, &err)) << path;
    EXPECT_EQ(err.kind, ErrorKind::kInvalidArgument) << path << ": " << err.message;
    EXPECT_FALSE(s->WriteFile(path, "x", &err)) << path;
  }
  // Nothing followed: the link is still a link, /etc/passwd outside untouched.
  r = Cmd(*s, {"sh", "-c", "test -L link && test -p fifo && head -c 5 /etc/passwd"});
  EXPECT_EQ(r.stdout_data, "root:") << Why(r);
}

TEST(Session, BackgroundProcessesLiveOnAndDieWithTheSession) {
  SESSION_ENGINE_OR_SKIP(engine);
  auto s = Open(engine.get());
  ASSERT_TRUE(s);
  // The command returns as soon as its main process exits; the sleeper runs on, and its output
  // after that is dropped (the command's result does not wait for it).
  Result r = Cmd(*s, {"sh", "-c", "./probe sleep 600000 & echo started"});
  ASSERT_EQ(r.status, TaskStatus::kOk) << Why(r);
  EXPECT_EQ(r.stdout_data, "started\n");
  EXPECT_EQ(Count(*s, "probe"), 1) << "the sleeper";
  s->Close();
  EXPECT_EQ(s->EndedReason(), "closed");
  EXPECT_EQ(s->EndedReasonSeen(), "closed");
  EXPECT_TRUE(SandboxDescendants().empty());
  EXPECT_EQ(engine->Sessions(), 1) << "its seat is taken until it is destroyed";
  s.reset();
  EXPECT_EQ(engine->Sessions(), 0);
}

TEST(Session, ALaterCommandCanStopWhatAnEarlierOneLeftRunning) {
  SESSION_ENGINE_OR_SKIP(engine);
  auto s = Open(engine.get());
  ASSERT_TRUE(s);
  Result r = Cmd(*s, {"sh", "-c", "./probe sleep 600000 & echo $!"});
  ASSERT_EQ(r.status, TaskStatus::kOk) << Why(r);
  ASSERT_EQ(Count(*s, "probe"), 1);
  // One Landlock domain for the session: a signal from a later command reaches it.
  Result k = Cmd(*s, {"kill", r.stdout_data.substr(0, r.stdout_data.size() - 1)});
  EXPECT_EQ(k.status, TaskStatus::kOk) << Why(k);
  for (int i = 0; i < 500 && Count(*s, "probe") > 0; ++i) usleep(10000);
  EXPECT_EQ(Count(*s, "probe"), 0);
}

TEST(Session, ATimedOutCommandEndsWithEverythingItStartedAndTheSessionLivesOn) {
  SESSION_ENGINE_OR_SKIP(engine);
  auto s = Open(engine.get());
  ASSERT_TRUE(s);
  // One background process from a command that ended normally: it must survive.
  ASSERT_EQ(Cmd(*s, {"sh", "-c", "./probe sleep 600000 &"}).status, TaskStatus::kOk);
  // A daemon (setsid, double fork) and a plain child, then a wait that outlasts the wall.
  Result r = Cmd(*s, {"sh", "-c", "./probe daemon; ./probe daemon; ./probe sleep 600000"}, 1500);
  EXPECT_EQ(r.status, TaskStatus::kTimeout) << Why(r);
  // Left: the first sleeper; both daemons and the second sleeper are gone.
  EXPECT_EQ(Count(*s, "probe"), 1);
  Result after = Cmd(*s, {"echo", "alive"});
  EXPECT_EQ(after.stdout_data, "alive\n");
}

// --on-violation kill: a denied call ends its command with everything the command started, as
// a timeout does; what earlier commands left running lives on, and so does the session.
TEST(Session, AViolationUnderKillEndsTheCommandAndTheSessionLivesOn) {
  SESSION_ENGINE_OR_SKIP(engine, 4, OnViolation::kKill);
  auto s = Open(engine.get());
  ASSERT_TRUE(s);
  ASSERT_EQ(Cmd(*s, {"sh", "-c", "./probe sleep 600000 &"}).status, TaskStatus::kOk);
  Result r = Cmd(*s, {"sh", "-c", "./probe daemon; ./probe syscall ptrace; echo after"});
  EXPECT_EQ(r.status, TaskStatus::kViolation) << Why(r);
  EXPECT_EQ(r.stdout_data.find("after"), std::string::npos) << "the command went on: " << Why(r);
  ASSERT_TRUE(r.denied_calls.has_value());
  EXPECT_EQ(*r.denied_calls, std::vector<std::string>{"ptrace"});
  EXPECT_EQ(Count(*s, "probe"), 1)
      << "the daemon outlived its command, or the earlier sleeper died";
  Result ok = Cmd(*s, {"echo", "alive"});
  EXPECT_EQ(ok.stdout_data, "alive\n") << Why(ok);
  ASSERT_TRUE(ok.denied_calls.has_value());
  EXPECT_TRUE(ok.denied_calls->empty()) << "a later command inherits an earlier one's calls";
}

// --on-violation log: the denied call fails with EPERM, the command goes on, and its result names
// the call.
TEST(Session, AViolationUnderLogIsNamedAndTheCommandGoesOn) {
  SESSION_ENGINE_OR_SKIP(engine, 4, OnViolation::kLog);
  auto s = Open(engine.get());
  ASSERT_TRUE(s);
  Result r = Cmd(*s, {"sh", "-c", "./probe syscall ptrace; ./probe syscall mount; echo after"});
  EXPECT_EQ(r.status, TaskStatus::kOk) << Why(r);
  EXPECT_NE(r.stdout_data.find("after"), std::string::npos) << Why(r);
  ASSERT_TRUE(r.denied_calls.has_value());
  EXPECT_EQ(*r.denied_calls, (std::vector<std::string>{"mount", "ptrace"}))
      << Why(r) << r.stdout_data;
}

TEST(Session, ACPULimitEndsTheCommandOnly) {
  SESSION_ENGINE_OR_SKIP(engine);
  auto s = Open(engine.get());
  ASSERT_TRUE(s);
  ExecOptions x;
  x.argv = {"./probe", "spin"};
  x.wall_ms = 20000;
  x.cpu_ms = 300;
  Result r = s->Exec(x);
  EXPECT_EQ(r.status, TaskStatus::kCpuLimit) << Why(r);
  EXPECT_EQ(Cmd(*s, {"true"}).status, TaskStatus::kOk);
}

TEST(Session, OneCommandAtATime) {
  SESSION_ENGINE_OR_SKIP(engine);
  auto s = Open(engine.get());
  ASSERT_TRUE(s);
  std::promise<Result> first;
  SessionError err;
  ExecOptions x;
  x.argv = {"./probe", "sleep", "600000"};
  x.wall_ms = 600000;
  ASSERT_TRUE(s->Start(
      x, [&](Result r) { first.set_value(std::move(r)); }, &err))
      << err.message;
  ExecOptions y;
  y.argv = {"true"};
  EXPECT_FALSE(s->Start(
      y, [](Result) { ADD_FAILURE() << "must not run"; }, &err));
  EXPECT_EQ(err.kind, ErrorKind::kUnavailable);
  s->CancelExec();
  Result r = first.get_future().get();
  EXPECT_EQ(r.status, TaskStatus::kSandboxError);
  EXPECT_EQ(r.error_kind, ErrorKind::kCancelled) << Why(r);
  EXPECT_EQ(Cmd(*s, {"echo", "next"}).stdout_data, "next\n");
}

// One watch thread runs a session's commands: a result's callback may start the next command,
// which begins once that callback has returned, and the session closes with its thread after.
TEST(Session, AResultsCallbackStartsTheNextCommand) {
  SESSION_ENGINE_OR_SKIP(engine);
  auto s = Open(engine.get());
  ASSERT_TRUE(s);
  std::promise<Result> second;
  std::atomic<bool> first_returned{false}, second_saw_return{false};
  SessionError err, chained_err;
  bool chained = false;
  ExecOptions x;
  x.argv = {"sh", "-c", "echo one > chain.txt"};
  ASSERT_TRUE(s->Start(
      x,
      [&](Result r) {
        EXPECT_EQ(r.status, TaskStatus::kOk) << Why(r);
        ExecOptions y;
        y.argv = {"cat", "chain.txt"};
        chained = s->Start(
            y,
            [&](Result r2) {
              second_saw_return = first_returned.load();
              second.set_value(std::move(r2));
            },
            &chained_err);
        first_returned = true;
      },
      &err))
      << err.message;
  auto f = second.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  EXPECT_TRUE(chained) << chained_err.message;
  Result r = f.get();
  EXPECT_EQ(r.stdout_data, "one\n") << Why(r);
  EXPECT_TRUE(second_saw_return) << "the second command's result came before the first's "
                                    "callback returned";
  s->Close();
  EXPECT_EQ(Cmd(*s, {"true"}).error_kind, ErrorKind::kCancelled);
}

TEST(Session, MemoryExhaustionEndsTheSession) {
  SESSION_ENGINE_OR_SKIP(engine);
  SessionOptions o;
  o.limits.memory_mb = 64;
  auto s = Open(engine.get(), o);
  ASSERT_TRUE(s);
  Result r = Cmd(*s, {"./probe", "mem", "256"});
  EXPECT_EQ(r.status, TaskStatus::kMemoryLimit) << Why(r);
  // Seen at the command's end, before its result: no look needed (the server answers from it).
  EXPECT_EQ(s->EndedReasonSeen(), "memory");
  EXPECT_EQ(s->EndedReason(), "memory");
  SessionError err;
  ExecOptions x;
  x.argv = {"true"};
  EXPECT_FALSE(s->Start(
      x, [](Result) {}, &err));
  EXPECT_EQ(err.kind, ErrorKind::kCancelled);
  EXPECT_TRUE(SandboxDescendants().empty());
}

TEST(Session, PidsExhaustionEndsTheSession) {
  SESSION_ENGINE_OR_SKIP(engine);
  SessionOptions o;
  o.limits.pids = 32;
  auto s = Open(engine.get(), o);
  ASSERT_TRUE(s);
  Result r = Cmd(*s, {"./probe", "forkbomb"}, 5000);
  EXPECT_NE(r.status, TaskStatus::kOk) << Why(r);
  EXPECT_EQ(s->EndedReasonSeen(), "pids");
  EXPECT_EQ(s->EndedReason(), "pids");
  EXPECT_TRUE(SandboxDescendants().empty());
}

TEST(Session, AFullDiskDoesNotEndTheSession) {
  SESSION_ENGINE_OR_SKIP(engine);
  SessionOptions o;
  o.limits.disk_mb = 16;
  auto s = Open(engine.get(), o);
  ASSERT_TRUE(s);
  Result r = Cmd(*s, {"./probe", "diskfill"});
  EXPECT_NE(std::find(r.limits_hit.begin(), r.limits_hit.end(), "disk"), r.limits_hit.end())
      << Why(r);
  EXPECT_EQ(s->EndedReasonSeen(), "");
  EXPECT_EQ(s->EndedReason(), "");
  SessionError err;
  EXPECT_FALSE(s->WriteFile("more", std::string(1 << 20, 'x'), &err));
  EXPECT_EQ(err.errno_value, ENOSPC) << err.message;
  EXPECT_EQ(Cmd(*s, {"rm", "fill"}).status, TaskStatus::kOk);
  EXPECT_TRUE(s->WriteFile("more", std::string(1 << 20, 'x'), &err)) << err.message;
  EXPECT_GE(s->Usage().disk_bytes, 1u << 20);
}

TEST(Session, TwoSessionsSeeNothingOfEachOther) {
  SESSION_ENGINE_OR_SKIP(engine);
  auto a = Open(engine.get());
  auto b = Open(engine.get());
  ASSERT_TRUE(a && b);
  ASSERT_EQ(Cmd(*a, {"sh", "-c", "echo secret > mine; ./probe sleep 600000 &"}).status,
            TaskStatus::kOk);
  SessionError err;
  std::string got;
  EXPECT_FALSE(b->ReadFile("mine", 100, &got, &err));
  EXPECT_TRUE(err.not_found);
  EXPECT_EQ(Count(*a, "probe"), 1);
  EXPECT_EQ(Count(*b, "probe"), 0) << "b does not see a's sleeper";
  Result ids_a = Cmd(*a, {"sh", "-c", "readlink /proc/self/ns/net; cat /proc/self/uid_map"});
  Result ids_b = Cmd(*b, {"sh", "-c", "readlink /proc/self/ns/net; cat /proc/self/uid_map"});
  EXPECT_NE(ids_a.stdout_data, ids_b.stdout_data) << "network namespace and host uid differ";
}

TEST(Session, UsageIsLive) {
  SESSION_ENGINE_OR_SKIP(engine);
  auto s = Open(engine.get());
  ASSERT_TRUE(s);
  ASSERT_EQ(Cmd(*s, {"sh", "-c", "./probe sleep 600000 &"}).status, TaskStatus::kOk);
  SessionUsage u = s->Usage();
  EXPECT_GT(u.memory_bytes, 0u);
  EXPECT_GE(u.pids, 1u);
  EXPECT_GT(u.cpu_ms, 0.0);
  EXPECT_GE(u.peak_memory_bytes, u.memory_bytes);
}

TEST(Session, MaxSessionsAndCloseLeaveNothing) {
  SESSION_ENGINE_OR_SKIP(engine, 1);
  SessionError err;
  auto s = engine->CreateSession({}, &err);
  ASSERT_TRUE(s) << err.message;
  EXPECT_FALSE(engine->CreateSession({}, &err));
  EXPECT_EQ(err.kind, ErrorKind::kResourceExhausted);
  s.reset();
  EXPECT_EQ(engine->Sessions(), 0);
  auto again = engine->CreateSession({}, &err);
  EXPECT_TRUE(again) << err.message;
}

TEST(Session, TheEngineClosesWhatIsLeftOpen) {
  SESSION_ENGINE_OR_SKIP(engine);
  auto s = Open(engine.get());
  ASSERT_TRUE(s);
  ASSERT_EQ(Cmd(*s, {"sh", "-c", "./probe sleep 600000 &"}).status, TaskStatus::kOk);
  engine.reset();
  EXPECT_TRUE(SandboxDescendants().empty());
  EXPECT_EQ(s->EndedReason(), "engine stopped");
}

}  // namespace
}  // namespace brood::testing
