// What `brood run` tells about a run while it goes and at the end (docs/cli.md): counts per
// status, tasks/s, ETA, and p50/p99 of start_latency_us and wall_ms. Memory is bounded: the
// quantiles come from log-linear histograms (1% relative precision), not from stored samples.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "brood/result.hpp"

namespace brood::run {

// A log-linear histogram of non-negative values; Quantile() is within 1% of the exact value.
class Histogram {
 public:
  void Add(double v);
  double Quantile(double q) const;  // q in [0,1]; 0 when empty
  uint64_t count() const { return count_; }

 private:
  // Bucket 0 holds 0 and everything below 2^-24; then each power of two from 2^-24 up to 2^39
  // (~5.5e11) is split into 64 equal sub-buckets, so a bucket's midpoint is within 1/128 (0.78%)
  // of any value in it; a last bucket holds what is larger (its representative is max_).
  static constexpr int kSubBuckets = 64;
  static constexpr int kOctaves = 63;
  static constexpr int kOverflow = 1 + kOctaves * kSubBuckets;
  static int Index(double v);
  double Representative(int index) const;

  std::array<uint64_t, kOverflow + 1> buckets_{};
  uint64_t count_ = 0;
  double min_ = 0, max_ = 0;  // quantiles are clamped to them: exact at q=0 and q=1
};

class Summary {
 public:
  // Counts a result (thread-compatible: the caller serializes).
  void Add(const Result& r);
  uint64_t done() const;
  uint64_t count(TaskStatus s) const;

  // One line for a terminal, no newline, e.g.
  // "1200/10000 12%  2350 tasks/s  ok 1150 failed 40 timeout 10  ETA 4s"
  // total: the number of jobs when known. elapsed_s: since the run started.
  std::string ProgressLine(std::optional<uint64_t> total, double elapsed_s) const;
  // The end-of-run summary, several lines, for stderr.
  std::string Text(double elapsed_s) const;
  // The same as one JSON object: {"total":N,"elapsed_s":..,"tasks_per_s":..,
  //  "statuses":{"ok":N,...every
  //  status...},"expect":{"passed":N,"judged":N},"start_latency_us":{"p50":..,"p99":..},
  //  "wall_ms":{"p50":..,"p99":..}}
  std::string Json(double elapsed_s) const;

 private:
  std::array<uint64_t, 11> counts_{};
  uint64_t passed_ = 0, judged_ = 0;  // results of jobs with `expect`
  // Evaluated jobs (docs/eval.md): counts per verdict, and per group the samples and how many
  // passed, for pass@k. Samples that did not run as themselves (sandbox_error, invalid_job)
  // are left out of pass@k and counted apart.
  std::array<uint64_t, 12> verdicts_{};
  uint64_t evaluated_ = 0, pass_at_k_left_out_ = 0;
  std::map<std::string, std::pair<int64_t, int64_t>> groups_;  // group -> {n, c}
  // pass@k for k = 1, 10, 100: the mean over the groups with n >= k (absent when none has).
  std::vector<std::pair<int, double>> PassAtK() const;
  Histogram start_latency_us_, wall_ms_;
};

}  // namespace brood::run
