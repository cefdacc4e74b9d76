// The run graph (run/runner.hpp) over an in-memory job source and result sink, through a real
// engine: what an HTTP batch or a queue consumer will rely on.
#include "run/runner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "jobs/results_file.hpp"
#include "support/sandbox_env.hpp"

namespace brood::run {
namespace {

using Json = nlohmann::json;
using testing::EngineError;
using testing::MakeEngine;
using testing::SharedEngine;

// Takes records into memory; they become durable every `flush_every` records (as a buffering
// sink's do) and at Flush. With `fail_at` set, the Write of that record (0-based) fails.
class VectorSink : public ResultSink {
 public:
  sys::StatusOr<jobs::KeySet> DoneKeys() override { return std::move(done); }
  sys::Status Write(std::string_view record) override {
    if (fail_at && records.size() == *fail_at)
      return sys::Status::Error(ErrorKind::kResourceExhausted, "write(memory): full");
    records.emplace_back(record);
    if (records.size() - durable_count >= flush_every) durable_count = records.size();
    return sys::OkStatus();
  }
  sys::Status Flush() override {
    durable_count = records.size();
    ++flushes;
    return sys::OkStatus();
  }
  uint64_t durable() const override { return durable_count; }

  jobs::KeySet done;
  size_t flush_every = 3;
  std::optional<size_t> fail_at;
  std::vector<std::string> records;
  size_t durable_count = 0;
  int flushes = 0;
};

// Job lines from memory. At each ack it checks that the line's record, if one is due, is durable
// in `sink`: "acks only after the sink wrote".
class VectorSource : public JobSource {
 public:
  VectorSource(std::vector<std::string> lines, const VectorSink& sink)
      : lines(std::move(lines)), sink_(sink) {}
  bool Next(jobs::Line* line) override {
    if (next_ == lines.size()) return false;
    line->number = static_cast<int64_t>(next_ + 1);
    line->text = lines[next_++];
    line->too_long = false;
    return true;
  }
  sys::Status error() const override { return sys::OkStatus(); }
  void Ack(uint64_t seq) override {
    acks.push_back(seq);
    const std::string key = KeyOfLine(seq);
    if (key.empty() || held.count(key)) return;  // nothing due: a blank line, or a held key
    bool durable = false;
    for (size_t i = 0; i < sink_.durable_count; ++i) durable |= RecordKey(sink_.records[i]) == key;
    EXPECT_TRUE(durable) << "line " << seq + 1 << " (" << key << ") acked before its record";
  }

  // The key the record of line `seq` has: the id of a job line, "line:N" of any other (the
  // tests' lines are valid jobs with distinct ids, blank, or invalid); "" for a blank line.
  std::string KeyOfLine(uint64_t seq) const {
    const std::string& text = lines[seq];
    if (text.empty()) return "";
    Json j = Json::parse(text, nullptr, false);
    if (j.is_object() && j.contains("id") && j.contains("shell") && !Duplicate(seq)) return j["id"];
    return "line:" + std::to_string(seq + 1);
  }
  static std::string RecordKey(const std::string& record) {
    Json r = Json::parse(record);
    const std::string id = r["id"].is_string() ? r["id"].get<std::string>() : "";
    return jobs::ResultKey(r["status"].get<std::string>(), id, r.value("line", int64_t{0}));
  }

  std::vector<std::string> lines;
  std::set<std::string> held;  // the keys the sink held before the run
  std::vector<uint64_t> acks;

 private:
  bool Duplicate(uint64_t seq) const {
    const Json id = Json::parse(lines[seq])["id"];
    for (uint64_t i = 0; i < seq; ++i) {
      Json j = Json::parse(lines[i], nullptr, false);
      if (j.is_object() && j.value("id", Json()) == id) return true;
    }
    return false;
  }
  size_t next_ = 0;
  const VectorSink& sink_;
};

std::string EchoJob(const std::string& id) {
  return Json{{"id", id}, {"shell", "echo " + id}}.dump();
}

std::vector<std::string> Keys(const std::vector<std::string>& records) {
  std::vector<std::string> keys;
  for (const std::string& r : records) keys.push_back(VectorSource::RecordKey(r));
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<uint64_t> Sorted(std::vector<uint64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<uint64_t> Iota(uint64_t n) {
  std::vector<uint64_t> v(n);
  for (uint64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

TEST(RunnerTest, EveryLineGetsOneRecordAndOneAckOnceItIsDurable) {
  BROOD_ENGINE_OR_SKIP(engine);
  for (bool ordered : {false, true}) {
    SCOPED_TRACE(ordered ? "ordered" : "as they finish");
    VectorSink sink;
    std::vector<std::string> lines;
    for (int i = 0; i < 10; ++i) lines.push_back(EchoJob("j" + std::to_string(i)));
    lines.insert(lines.begin() + 4, "");           // line 5: blank, no record
    lines.insert(lines.begin() + 7, "{not json");  // line 8: invalid_job
    VectorSource source(lines, sink);
    std::ostringstream log;
    Runner runner(*engine, {.ordered = ordered}, log);
    ASSERT_EQ(runner.Run(source, sink), 0) << log.str();

    std::vector<std::string> want;
    for (uint64_t seq = 0; seq < lines.size(); ++seq)
      if (!source.KeyOfLine(seq).empty()) want.push_back(source.KeyOfLine(seq));
    std::sort(want.begin(), want.end());
    EXPECT_EQ(Keys(sink.records), want);
    EXPECT_EQ(Sorted(source.acks), Iota(lines.size()));  // each line once
    EXPECT_EQ(sink.flushes, 1);
    for (const std::string& r : sink.records) {
      const Json j = Json::parse(r);
      if (j["status"] == "invalid_job") {
        EXPECT_EQ(j["line"], 8) << r;
      } else {
        EXPECT_EQ(j["status"], "ok") << r;
        EXPECT_EQ(j["stdout"], j["id"].get<std::string>() + "\n") << r;
      }
    }
    if (ordered) {  // in input order
      std::vector<std::string> got;
      for (const std::string& r : sink.records) got.push_back(VectorSource::RecordKey(r));
      std::vector<std::string> in_order;
      for (uint64_t seq = 0; seq < lines.size(); ++seq)
        if (!source.KeyOfLine(seq).empty()) in_order.push_back(source.KeyOfLine(seq));
      EXPECT_EQ(got, in_order);
    }
  }
}

// One slot runs one task at a time, so the order of the records (as the tasks finish) is the
// order in which the jobs reached the engine: the job file's, also when results come back in
// batches that free several places at once (which once submitted them last first).
TEST(RunnerTest, OneSlotRunsTheJobsInFileOrder) {
  if (!SharedEngine()) GTEST_SKIP() << "host cannot sandbox: " << EngineError();
  auto engine = MakeEngine(1);
  ASSERT_TRUE(engine);
  VectorSink sink;
  std::vector<std::string> lines, want;
  for (int i = 0; i < 3 * kCompletionBatch; ++i) {
    lines.push_back(EchoJob("j" + std::to_string(i)));
    want.push_back("j" + std::to_string(i));
  }
  VectorSource source(lines, sink);
  std::ostringstream log;
  Runner runner(*engine, {}, log);
  ASSERT_EQ(runner.Run(source, sink), 0) << log.str();
  std::vector<std::string> got;
  for (const std::string& r : sink.records) got.push_back(Json::parse(r)["id"]);
  EXPECT_EQ(got, want);
}

TEST(RunnerTest, LinesWhoseKeysTheSinkHoldsAreSkippedAndAcked) {
  BROOD_ENGINE_OR_SKIP(engine);
  VectorSink sink;
  VectorSource source({EchoJob("j0"), EchoJob("j1"), "[1, 2]", EchoJob("j3"), EchoJob("j4")}, sink);
  source.held = {"j1", "j3", "line:3"};  // line:3: an invalid_job record already written
  for (const std::string& key : source.held) sink.done.Mark(key, jobs::KeySet::kDone);
  std::ostringstream log;
  Runner runner(*engine, {}, log);
  ASSERT_EQ(runner.Run(source, sink), 0) << log.str();
  EXPECT_EQ(Keys(sink.records), (std::vector<std::string>{"j0", "j4"}));
  EXPECT_EQ(Sorted(source.acks), Iota(5));
}

TEST(RunnerTest, ADuplicateIdIsAnInvalidJobWithItsLine) {
  BROOD_ENGINE_OR_SKIP(engine);
  VectorSink sink;
  VectorSource source({EchoJob("a"), EchoJob("b"), EchoJob("a"), EchoJob("c")}, sink);
  std::ostringstream log;
  Runner runner(*engine, {.ordered = true}, log);
  ASSERT_EQ(runner.Run(source, sink), 0) << log.str();
  ASSERT_EQ(sink.records.size(), 4u);
  const Json dup = Json::parse(sink.records[2]);
  EXPECT_EQ(dup["status"], "invalid_job");
  EXPECT_EQ(dup["line"], 3);
  EXPECT_EQ(dup["id"], "a");
  EXPECT_NE(dup["error"].get<std::string>().find("duplicate"), std::string::npos) << dup;
  EXPECT_EQ(Json::parse(sink.records[0])["status"], "ok");
  EXPECT_EQ(Sorted(source.acks), Iota(4));
}

TEST(RunnerTest, AFailingSinkStopsTheRunAndWhatItDidNotWriteIsNotAcked) {
  BROOD_ENGINE_OR_SKIP(engine);
  VectorSink sink;
  sink.flush_every = 1;
  sink.fail_at = 2;
  std::vector<std::string> lines;
  for (int i = 0; i < 8; ++i) lines.push_back(EchoJob("j" + std::to_string(i)));
  VectorSource source(lines, sink);
  std::ostringstream log;
  Runner runner(*engine, {.ordered = true}, log);
  EXPECT_EQ(runner.Run(source, sink), 1);
  EXPECT_NE(log.str().find("write(memory): full; stopping"), std::string::npos) << log.str();
  EXPECT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(Sorted(source.acks), Iota(2));  // the lines of the two records written, no other
}

TEST(RunnerTest, StoppedBeforeItRanNothingIsWrittenOrAcked) {
  BROOD_ENGINE_OR_SKIP(engine);
  VectorSink sink;
  VectorSource source({EchoJob("a"), EchoJob("b")}, sink);
  std::ostringstream log;
  Runner runner(*engine, {}, log);
  runner.Stop(0);
  EXPECT_EQ(runner.Run(source, sink), 1);
  EXPECT_TRUE(sink.records.empty());
  EXPECT_TRUE(source.acks.empty());
  EXPECT_NE(log.str().find("rerun with --resume"), std::string::npos) << log.str();
}

}  // namespace
}  // namespace brood::run
