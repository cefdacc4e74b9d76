#include "run/summary.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

namespace brood::run {
namespace {

// The exact nearest-rank quantile, the definition Histogram::Quantile approximates.
double Exact(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const auto rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(q * v.size())));
  return v[rank - 1];
}

void ExpectWithinOnePercent(const std::vector<double>& values, const char* what) {
  Histogram h;
  for (double v : values) h.Add(v);
  EXPECT_EQ(h.count(), values.size());
  for (double q : {0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0}) {
    const double exact = Exact(values, q), got = h.Quantile(q);
    EXPECT_LE(std::abs(got - exact), 0.01 * exact) << what << " q=" << q << " exact " << exact;
  }
}

TEST(HistogramTest, QuantilesWithinOnePercentOfExact) {
  std::mt19937_64 rng(42);
  std::vector<double> uniform, wide, small, latency_us;
  std::uniform_real_distribution<double> u(0, 1e9);
  std::uniform_real_distribution<double> exp10(-6, 9.5);  // 1e-6 .. 3e9, every octave
  std::uniform_real_distribution<double> below_one(0, 1);
  std::lognormal_distribution<double> lat(std::log(180.0), 0.6);
  for (int i = 0; i < 100'000; ++i) {
    uniform.push_back(u(rng));
    wide.push_back(std::pow(10.0, exp10(rng)));
    small.push_back(below_one(rng));
    latency_us.push_back(std::round(lat(rng)));  // integers, many repeats
  }
  ExpectWithinOnePercent(uniform, "uniform 0..1e9");
  ExpectWithinOnePercent(wide, "log-uniform 1e-6..3e9");
  ExpectWithinOnePercent(small, "uniform 0..1");
  ExpectWithinOnePercent(latency_us, "lognormal latencies");
}

TEST(HistogramTest, EdgeValues) {
  Histogram h;
  EXPECT_EQ(h.Quantile(0.5), 0);  // empty
  h.Add(0);
  EXPECT_EQ(h.Quantile(0.5), 0);
  h.Add(1e9);
  EXPECT_EQ(h.Quantile(0.5), 0);
  EXPECT_EQ(h.Quantile(1), 1e9);
  Histogram one;
  one.Add(1.2);
  EXPECT_EQ(one.Quantile(0.5), 1.2);  // clamped to the only value seen: exact
  Histogram odd;
  odd.Add(-5);  // nonsense becomes 0 rather than corrupting a bucket
  odd.Add(NAN);
  odd.Add(1e300);
  EXPECT_EQ(odd.Quantile(0), 0);
  EXPECT_EQ(odd.Quantile(1), 1e300);
}

Result R(TaskStatus s, int64_t latency_us = 180, double wall_ms = 1.2) {
  Result r;
  r.id = "x";
  r.status = s;
  r.start_latency_us = latency_us;
  r.wall_ms = wall_ms;
  return r;
}

TEST(SummaryTest, CountsEveryStatusAndTimesOnlyTasksThatRan) {
  Summary s;
  for (int i = 0; i < 3; ++i) s.Add(R(TaskStatus::kOk));
  s.Add(R(TaskStatus::kTimeout, 200, 10000));
  s.Add(R(TaskStatus::kInvalidJob, 0, 0));
  s.Add(R(TaskStatus::kSandboxError, 0, 0));
  EXPECT_EQ(s.done(), 6u);
  EXPECT_EQ(s.count(TaskStatus::kOk), 3u);
  EXPECT_EQ(s.count(TaskStatus::kTimeout), 1u);
  EXPECT_EQ(s.count(TaskStatus::kFailed), 0u);
  // The zeros of the two that never ran are not in the quantiles.
  EXPECT_EQ(s.Text(1.0),
            "brood: 6 tasks in 1.0s (6 tasks/s)\n"
            "  ok 3  invalid_job 1  sandbox_error 1  timeout 1\n"
            "  start_latency_us p50 181 p99 200\n"  // 180's bucket midpoint: 1% precision
            "  wall_ms p50 1.2 p99 10000\n");
}

TEST(SummaryTest, TextMatchesTheDocumentedShape) {
  Summary s;
  for (int i = 0; i < 9990; ++i) s.Add(R(TaskStatus::kOk, 180, 1.2));
  for (int i = 0; i < 10; ++i) s.Add(R(TaskStatus::kFailed, 180, 1.2));
  EXPECT_EQ(s.Text(4.2),
            "brood: 10000 tasks in 4.2s (2381 tasks/s)\n"
            "  ok 9990  failed 10\n"
            "  start_latency_us p50 180 p99 180\n"
            "  wall_ms p50 1.2 p99 1.2\n");
  EXPECT_EQ(Summary().Text(0), "brood: 0 tasks in 0.0s (0 tasks/s)\n");
}

TEST(SummaryTest, ProgressLine) {
  Summary s;
  for (int i = 0; i < 1150; ++i) s.Add(R(TaskStatus::kOk));
  for (int i = 0; i < 40; ++i) s.Add(R(TaskStatus::kFailed));
  for (int i = 0; i < 10; ++i) s.Add(R(TaskStatus::kTimeout));
  EXPECT_EQ(s.ProgressLine(10000, 0.5),
            "1200/10000 12%  2400 tasks/s  ok 1150 failed 40 timeout 10  ETA 4s");
  EXPECT_EQ(s.ProgressLine(std::nullopt, 0.5), "1200  2400 tasks/s  ok 1150 failed 40 timeout 10");
  EXPECT_EQ(s.ProgressLine(1200, 0.5),
            "1200/1200 100%  2400 tasks/s  ok 1150 failed 40 timeout 10  ETA 0s");
  EXPECT_EQ(s.ProgressLine(1'000'000, 1),
            "1200/1000000 0%  1200 tasks/s  ok 1150 failed 40 timeout 10  ETA 13m52s");
  EXPECT_EQ(Summary().ProgressLine(100, 0), "0/100 0%  0 tasks/s  ETA ?");
}

TEST(SummaryTest, ProgressLineFitsATerminalWithEveryStatus) {
  Summary s;
  // Every status non-zero with wide counts: too long for 120 columns in full.
  for (int st = 0; st <= static_cast<int>(TaskStatus::kOk); ++st) {
    for (int i = 0; i <= st * 3; ++i) s.Add(R(static_cast<TaskStatus>(st)));
  }
  for (int i = 0; i < 1'000'000; ++i) s.Add(R(TaskStatus::kOk));
  const std::string line = s.ProgressLine(100'000'000'000ULL, 3.3);
  EXPECT_LE(line.size(), 120u) << line;
  EXPECT_NE(line.find("ok 1000031"), std::string::npos) << line;
  EXPECT_NE(line.find(" other "), std::string::npos) << line;
  EXPECT_NE(line.find("  ETA "), std::string::npos) << line;
}

TEST(SummaryTest, CountsExpectVerdicts) {
  Summary s;
  Result r = R(TaskStatus::kOk, 200, 1.0);
  s.Add(r);  // no expect: not judged
  r.passed = false;
  s.Add(r);
  r.passed = true;
  s.Add(r);
  const auto j = nlohmann::json::parse(s.Json(1.0));
  EXPECT_EQ(j.at("expect"), (nlohmann::json{{"passed", 1}, {"judged", 2}}));
  EXPECT_NE(s.Text(1.0).find("expect: 1 of 2 passed"), std::string::npos) << s.Text(1.0);
}

TEST(SummaryTest, JsonHasTheDocumentedShape) {
  Summary s;
  s.Add(R(TaskStatus::kOk, 180, 1.2));
  s.Add(R(TaskStatus::kOk, 420, 3.4));
  s.Add(R(TaskStatus::kInvalidJob));
  const auto j = nlohmann::json::parse(s.Json(2.0));
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.size(), 11u);
  EXPECT_EQ(j.at("expect"), (nlohmann::json{{"passed", 0}, {"judged", 0}}));
  EXPECT_EQ(j.at("total"), 3);
  EXPECT_EQ(j.at("elapsed_s"), 2.0);
  EXPECT_EQ(j.at("tasks_per_s"), 1.5);
  const auto& st = j.at("statuses");
  EXPECT_EQ(st.size(), 11u);
  for (int i = 0; i <= static_cast<int>(TaskStatus::kOk); ++i) {
    const char* name = StatusName(static_cast<TaskStatus>(i));
    ASSERT_TRUE(st.contains(name)) << name;
    EXPECT_TRUE(st.at(name).is_number_unsigned()) << name;
  }
  EXPECT_EQ(st.at("ok"), 2);
  EXPECT_EQ(st.at("invalid_job"), 1);
  EXPECT_EQ(st.at("timeout"), 0);
  for (const char* h : {"start_latency_us", "wall_ms"}) {
    EXPECT_EQ(j.at(h).size(), 2u);
    EXPECT_TRUE(j.at(h).at("p50").is_number()) << h;
    EXPECT_TRUE(j.at(h).at("p99").is_number()) << h;
  }
  EXPECT_NEAR(j.at("start_latency_us").at("p50").get<double>(), 180, 1.8);
  EXPECT_NEAR(j.at("wall_ms").at("p99").get<double>(), 3.4, 0.034);

  // Nothing ran, no time passed: still the whole shape, and valid JSON (no NaN).
  const auto empty = nlohmann::json::parse(Summary().Json(0));
  EXPECT_EQ(empty.at("tasks_per_s"), 0);
  EXPECT_EQ(empty.at("statuses").size(), 11u);
  EXPECT_EQ(empty.at("wall_ms").at("p50"), 0);
}

// Evaluated jobs (docs/eval.md): counts per verdict, and pass@k as the unbiased estimator averaged
// over the groups with at least k samples; samples that did not run as themselves are left out
// of pass@k and counted apart.
TEST(SummaryTest, VerdictsAndPassAtKOverGroups) {
  Summary s;
  auto sample = [&](const std::string& group, Verdict v) {
    Result r = R(TaskStatus::kOk, 100, 1.0);
    r.verdict = v;
    r.group = group;
    r.passed = v == Verdict::kAccepted;
    s.Add(r);
  };
  // Group a: 10 samples, 3 accepted. Group b: 10 samples, none accepted, plus a sandbox error
  // (left out). Group c: 2 samples, 1 accepted (only in pass@1).
  for (int i = 0; i < 10; ++i) sample("a", i < 3 ? Verdict::kAccepted : Verdict::kWrongAnswer);
  for (int i = 0; i < 10; ++i) sample("b", Verdict::kTimeLimit);
  sample("b", Verdict::kSandboxError);
  sample("c", Verdict::kAccepted);
  sample("c", Verdict::kCompileError);
  Result plain = R(TaskStatus::kOk, 100, 1.0);  // not evaluated: no verdict, in no group
  s.Add(plain);

  const auto j = nlohmann::json::parse(s.Json(1.0));
  const auto& v = j.at("verdicts");
  EXPECT_EQ(v.size(), 11u);  // every verdict but a test's "skipped"
  EXPECT_EQ(v.at("accepted"), 4);
  EXPECT_EQ(v.at("wrong_answer"), 7);
  EXPECT_EQ(v.at("time_limit"), 10);
  EXPECT_EQ(v.at("sandbox_error"), 1);
  EXPECT_EQ(v.at("compile_error"), 1);
  // pass@1 = mean(3/10, 0/10, 1/2); pass@10 over a and b only: a's is 1 - C(7,10)/C(10,10) = 1.
  const auto& p = j.at("pass_at_k");
  EXPECT_NEAR(p.at("1").get<double>(), (0.3 + 0.0 + 0.5) / 3, 1e-12);
  EXPECT_NEAR(p.at("10").get<double>(), (1.0 + 0.0) / 2, 1e-12);
  EXPECT_FALSE(p.contains("100"));  // no group has 100 samples
  EXPECT_EQ(j.at("pass_at_k_groups"), 3);
  EXPECT_EQ(j.at("pass_at_k_left_out"), 1);
  const std::string text = s.Text(1.0);
  EXPECT_NE(text.find("verdicts: accepted 4 wrong_answer 7 time_limit 10 compile_error 1 "
                      "sandbox_error 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("pass@1 0.2667 pass@10 0.5000 (3 groups; 1 samples left out"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace brood::run
