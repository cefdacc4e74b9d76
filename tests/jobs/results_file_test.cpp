#include "jobs/results_file.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace brood::jobs {
namespace {

// The set holds exactly these keys (KeySet keeps fingerprints: check members and the count).
::testing::AssertionResult HasExactly(const KeySet& set, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (!(set.Get(k) & KeySet::kDone)) return ::testing::AssertionFailure() << k << " missing";
  if (set.size() != keys.size())
    return ::testing::AssertionFailure() << set.size() << " keys, expected " << keys.size();
  return ::testing::AssertionSuccess();
}

class ResultsFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/brood-results-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/results.jsonl";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  std::string dir_, path_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

// About 300 bytes, shaped like a real record of a task that printed a little.
std::string Record(int i, std::string_view status = "ok") {
  return R"({"id":"task/)" + std::to_string(i) + R"(","status":")" + std::string(status) +
         R"(","exit_code":0,"signal":null,"stdout":"hello from a task\n","stderr":"",)"
         R"("stdout_truncated":false,"stderr_truncated":false,"stdout_bytes":18,)"
         R"("stderr_bytes":0,"wall_ms":1.25,"cpu_ms":0.9,"peak_memory_bytes":2097152,)"
         R"("start_latency_us":180,"limits_hit":[],"limits_enforced":"cgroup","files":{},)"
         R"("error":null})";
}

TEST(ResultKeyTest, InvalidJobIsKeyedByLine) {
  EXPECT_EQ(ResultKey("invalid_job", "dup", 7), "line:7");
  EXPECT_EQ(ResultKey("ok", "he/0/3", 7), "he/0/3");
  EXPECT_EQ(ResultKey("sandbox_error", "x", 0), "x");
}

TEST_F(ResultsFile, MissingFileIsAnEmptyState) {
  auto st = LoadResume(path_);
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_EQ(st->done.size(), 0u);
  EXPECT_EQ(st->records, 0u);
  EXPECT_FALSE(st->torn_line_removed);
}

TEST_F(ResultsFile, ResumeCollectsKeysAndCutsTheTornLine) {
  const std::string complete =
      Record(1) + "\n" + R"({"id":null,"line":2,"status":"invalid_job","error":"cmd: missing"})" +
      "\n" + R"({"id":"task/1","line":3,"status":"invalid_job","error":"id: duplicate"})" + "\n" +
      R"({"id":"nested","status":"timeout","files":{"status":"x","id":"y"},"line":[1]})" + "\n" +
      R"({"id":"q\"\u00e9","status":"ok"})" + "\n";
  WriteAll(path_, complete + Record(4).substr(0, 100));
  auto st = LoadResume(path_);
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_EQ(st->records, 5u);
  EXPECT_TRUE(st->torn_line_removed);
  EXPECT_TRUE(HasExactly(st->done, {"task/1", "line:2", "line:3", "nested", "q\"\u00e9"}));
  EXPECT_EQ(ReadAll(path_), complete);  // cut exactly after the last newline

  // Loading again changes nothing.
  st = LoadResume(path_);
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_FALSE(st->torn_line_removed);
  EXPECT_EQ(ReadAll(path_), complete);
}

TEST_F(ResultsFile, OnlyATornLineIsCutToEmpty) {
  WriteAll(path_, R"({"id":"a","sta)");
  auto st = LoadResume(path_);
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_TRUE(st->torn_line_removed);
  EXPECT_EQ(ReadAll(path_), "");
}

TEST_F(ResultsFile, AFileThatIsNotOursIsAnErrorAndStaysUntouched) {
  const std::pair<std::string, int> cases[] = {
      {Record(1) + "\n" + R"({"id":"a","cmd":["true"]})" + "\n" + Record(3).substr(0, 50), 2},
      {"just some text\nmore", 1},
      {Record(1) + "\n\n" + Record(3) + "\n", 2},                        // an empty line
      {std::string(R"(["ok"])") + "\n", 1},                              // not an object
      {std::string(R"({"id":"a","status":"great"})") + "\n", 1},         // unknown status
      {std::string(R"({"id":"a" "status":"ok"})") + "\n", 1},            // not JSON
      {std::string(R"({"id":null,"status":"ok"})") + "\n", 1},           // no id to key on
      {std::string(R"({"id":null,"status":"invalid_job"})") + "\n", 1},  // nor a line
      {Record(1) + "\n" + "a torn tail that is not a record", 2},
  };
  for (const auto& [content, bad_line] : cases) {
    WriteAll(path_, content);
    auto st = LoadResume(path_);
    ASSERT_FALSE(st.ok()) << content;
    EXPECT_EQ(st.status().message(),
              "RESULTS: line " + std::to_string(bad_line) + " is not a result record");
    EXPECT_EQ(ReadAll(path_), content);
  }
}

TEST_F(ResultsFile, LinesLongerThanTheReadBufferAreRead) {
  const std::string big(5 << 20, 'x');  // a task's 5 MiB of output in one record
  const std::string content = Record(1) + "\n" + R"({"id":"big","status":"ok","stdout":")" + big +
                              "\"}\n" + Record(3) + "\n";
  WriteAll(path_, content);
  auto st = LoadResume(path_);
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_TRUE(HasExactly(st->done, {"task/1", "big", "task/3"}));
}

long PeakRssKb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

TEST_F(ResultsFile, ResumeStreamsAHugeFile) {
  constexpr int kRecords = 200'000;
  {
    auto w = ResultWriter::Open(path_, /*append=*/false, /*flush_bytes=*/1 << 20);
    ASSERT_TRUE(w.ok()) << w.status().message();
    for (int i = 0; i < kRecords; ++i) ASSERT_TRUE(w->Write(Record(i)).ok());
    ASSERT_TRUE(w->Flush().ok());
  }
  struct stat sb {};
  ASSERT_EQ(stat(path_.c_str(), &sb), 0);
  // Reset the peak RSS to now (Linux >= 4.0), so VmHWM after the load is the load's peak.
  std::ofstream("/proc/self/clear_refs") << "5";
  const long before_kb = PeakRssKb();

  const auto t0 = std::chrono::steady_clock::now();
  auto st = LoadResume(path_);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_EQ(st->records, static_cast<uint64_t>(kRecords));
  EXPECT_EQ(st->done.size(), static_cast<size_t>(kRecords));
  EXPECT_TRUE(st->done.Get("task/199999") & KeySet::kDone);

  const long growth_kb = PeakRssKb() - before_kb;
  std::printf(
      "LoadResume: %d records, %.1f MiB in %.3f s: %.0f records/s, %.0f MiB/s; peak RSS "
      "+%ld KiB (the key set)\n",
      kRecords, sb.st_size / 1048576.0, s, kRecords / s, sb.st_size / 1048576.0 / s, growth_kb);
  // Memory is the key set (~80 bytes per short id here), not the file's 60 MiB.
  EXPECT_LT(growth_kb * 1024, sb.st_size / 2);
#ifdef NDEBUG
  EXPECT_GT(kRecords / s, 50'000) << "far below the 200k records/s this is built for";
#endif
}

TEST_F(ResultsFile, WriterAppendsWholeLines) {
  {
    auto w = ResultWriter::Open(path_, /*append=*/false);
    ASSERT_TRUE(w.ok()) << w.status().message();
    ASSERT_TRUE(w->Write(Record(1)).ok());
    EXPECT_EQ(ReadAll(path_), Record(1) + "\n");  // flush_bytes 0: written at once
  }
  {
    auto w = ResultWriter::Open(path_, /*append=*/true, /*flush_bytes=*/4096);
    ASSERT_TRUE(w.ok()) << w.status().message();
    ASSERT_TRUE(w->Write(Record(2)).ok());
    EXPECT_EQ(ReadAll(path_), Record(1) + "\n");  // still buffered
    ASSERT_TRUE(w->Flush().ok());
    ASSERT_TRUE(w->Write(Record(3)).ok());
  }  // the destructor flushes the rest
  EXPECT_EQ(ReadAll(path_), Record(1) + "\n" + Record(2) + "\n" + Record(3) + "\n");

  auto w = ResultWriter::Open(path_, /*append=*/false);  // no append: starts over
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(ReadAll(path_), "");
  EXPECT_FALSE(w->Write("{\"id\":\"a\",\n\"status\":\"ok\"}").ok());  // would split the record
  ResultWriter moved = std::move(*w);
  ASSERT_TRUE(moved.Write(Record(4)).ok());
  EXPECT_EQ(ReadAll(path_), Record(4) + "\n");

  auto bad = ResultWriter::Open(dir_ + "/no/such/dir", true);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "open(" + dir_ + "/no/such/dir): ENOENT (No such file or directory)");
}

TEST(ResultWriterStdout, DashWritesToFdOneWithoutOwningIt) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  const int saved = dup(STDOUT_FILENO);
  ASSERT_EQ(dup2(fds[1], STDOUT_FILENO), STDOUT_FILENO);
  {
    auto w = ResultWriter::Open("-", /*append=*/false);
    ASSERT_TRUE(w.ok()) << w.status().message();
    ASSERT_TRUE(w->Write(R"({"id":"a","status":"ok"})").ok());
  }
  EXPECT_GE(fcntl(STDOUT_FILENO, F_GETFD), 0);  // the writer closed its own copy only
  dup2(saved, STDOUT_FILENO);
  close(saved);
  close(fds[1]);
  char buf[64] = {};
  EXPECT_EQ(read(fds[0], buf, sizeof buf), 25);
  EXPECT_STREQ(buf, "{\"id\":\"a\",\"status\":\"ok\"}\n");
  close(fds[0]);
}

// In a forked child (the mount namespace change must not touch the test process): fills a
// 64 KiB tmpfs with records, `flush_bytes` at a time. Returns what went wrong, "" if nothing.
std::string FillTinyDisk(size_t flush_bytes) {
  if (unshare(CLONE_NEWNS) != 0) return "SKIP unshare(CLONE_NEWNS) failed: needs root";
  if (mount(nullptr, "/", nullptr, MS_PRIVATE | MS_REC, nullptr) != 0) return "mount private";
  char tmpl[] = "/tmp/brood-full-XXXXXX";
  if (!mkdtemp(tmpl)) return "mkdtemp";
  const std::string dir = tmpl, path = dir + "/results.jsonl";
  if (mount("tmpfs", tmpl, "tmpfs", 0, "size=64k") != 0) return "mount tmpfs";
  std::string problems;
  {
    auto w = ResultWriter::Open(path, /*append=*/false, flush_bytes);
    if (!w.ok()) return w.status().message();
    sys::Status st;
    int i = 0;
    for (; i < 1000 && st.ok(); ++i) st = w->Write(Record(i));
    if (st.ok()) problems += "64 KiB took 1000 records; ";
    const std::string want = "write(" + path + "): ENOSPC (No space left on device)";
    if (st.message() != want) problems += "error was: " + st.message() + "; ";
    if (w->Write(Record(i)).ok() && w->Flush().ok()) problems += "a flush on a full disk worked; ";
  }
  auto resume = LoadResume(path);
  if (!resume.ok()) {
    problems += "resume: " + resume.status().message();
  } else {
    const std::string data = ReadAll(path);
    if (resume->torn_line_removed) problems += "a torn line was left; ";
    if (resume->records == 0 || data.empty() || data.back() != '\n') problems += "no whole lines; ";
    if (!(resume->done.Get("task/" + std::to_string(resume->records - 1)) & KeySet::kDone)) {
      problems += "records out of order; ";
    }
  }
  umount2(tmpl, MNT_DETACH);
  rmdir(tmpl);
  return problems;
}

void ExpectFullDiskHandled(size_t flush_bytes) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string r = FillTinyDisk(flush_bytes);
    (void)!write(fds[1], r.data(), r.size());
    _exit(0);
  }
  close(fds[1]);
  std::string report;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) report.append(buf, n);
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  if (report.rfind("SKIP", 0) == 0) GTEST_SKIP() << report.substr(5);
  EXPECT_EQ(report, "");
}

TEST(ResultWriterFullDisk, OneRecordPerWrite) { ExpectFullDiskHandled(0); }
TEST(ResultWriterFullDisk, ManyRecordsPerWrite) { ExpectFullDiskHandled(10'000); }

}  // namespace
}  // namespace brood::jobs
