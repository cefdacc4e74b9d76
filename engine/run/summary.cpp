#include "run/summary.hpp"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "jobs/judge.hpp"

namespace brood::run {
namespace {

// frexp's exponent of the lowest bucketed octave: values in [2^-24, 2^-23).
constexpr int kMinExp = -23;
// A terminal line; wider ones wrap and the \r redraw then scrolls instead of overwriting.
constexpr size_t kWidth = 120;

constexpr TaskStatus kAllStatuses[] = {TaskStatus::kInvalidJob,  TaskStatus::kSandboxError,
                                       TaskStatus::kTimeout,     TaskStatus::kCpuLimit,
                                       TaskStatus::kOutputLimit, TaskStatus::kMemoryLimit,
                                       TaskStatus::kViolation,   TaskStatus::kSignaled,
                                       TaskStatus::kDiskLimit,   TaskStatus::kFailed,
                                       TaskStatus::kOk};
static_assert(std::size(kAllStatuses) == static_cast<size_t>(TaskStatus::kOk) + 1);

// For people: the common outcomes first (as a reader scans for them), then the rest in
// the order of docs/result.md.
constexpr TaskStatus kDisplayOrder[] = {
    TaskStatus::kOk,           TaskStatus::kFailed,      TaskStatus::kInvalidJob,
    TaskStatus::kSandboxError, TaskStatus::kTimeout,     TaskStatus::kCpuLimit,
    TaskStatus::kOutputLimit,  TaskStatus::kMemoryLimit, TaskStatus::kViolation,
    TaskStatus::kSignaled,     TaskStatus::kDiskLimit};

std::string Format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Format(const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return std::string(buf, n < 0 ? 0 : std::min<size_t>(n, sizeof buf - 1));
}

// Three significant digits, never an exponent: 181, 1.21, 0.0523. The histogram is only 1%
// precise, so more digits would be noise.
std::string Num(double v) {
  if (!(v > 0)) return "0";
  if (v >= 100) return Format("%.0f", v);
  const int decimals = std::clamp(2 - static_cast<int>(std::floor(std::log10(v))), 0, 9);
  std::string s = Format("%.*f", decimals, v);
  if (s.find('.') != std::string::npos) {
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
  }
  return s;
}

std::string Rate(double per_s) { return per_s >= 10 ? Format("%.0f", per_s) : Num(per_s); }

std::string Duration(double s) {
  const auto t = static_cast<uint64_t>(std::llround(s));
  if (t < 60) return Format("%llus", static_cast<unsigned long long>(t));
  if (t < 3600) return Format("%llum%02llus", t / 60ULL, t % 60ULL);
  return Format("%lluh%02llum", t / 3600ULL, t / 60ULL % 60ULL);
}

double PerSecond(uint64_t n, double elapsed_s) {
  return elapsed_s > 0 && std::isfinite(elapsed_s) ? static_cast<double>(n) / elapsed_s : 0;
}

}  // namespace

int Histogram::Index(double v) {
  // Negative and NaN land in bucket 0 with the zeros: durations are never below 0.
  if (!(v >= std::ldexp(1.0, kMinExp - 1))) return 0;
  int exp;
  const double mantissa = std::frexp(v, &exp);  // v = mantissa * 2^exp, mantissa in [0.5, 1)
  const int octave = exp - kMinExp;
  if (octave >= kOctaves) return kOverflow;
  const int sub = static_cast<int>((mantissa - 0.5) * 2 * kSubBuckets);
  return 1 + octave * kSubBuckets + sub;
}

double Histogram::Representative(int index) const {
  if (index == kOverflow) return max_;
  if (index == 0) return 0;
  const int octave = (index - 1) / kSubBuckets, sub = (index - 1) % kSubBuckets;
  const double mid = std::ldexp(1.0 + (sub + 0.5) / kSubBuckets, octave + kMinExp - 1);
  return std::clamp(mid, min_, max_);
}

void Histogram::Add(double v) {
  if (!(v >= 0)) v = 0;
  ++buckets_[Index(v)];
  min_ = count_ == 0 ? v : std::min(min_, v);
  max_ = count_ == 0 ? v : std::max(max_, v);
  ++count_;
}

double Histogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  // Nearest rank: the smallest value with at least q of all values at or below it.
  const double want = std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_));
  const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(want));
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return Representative(static_cast<int>(i));
  }
  return max_;
}

void Summary::Add(const Result& r) {
  ++counts_[static_cast<size_t>(r.status)];
  if (r.passed) {
    ++judged_;
    passed_ += *r.passed;
  }
  if (r.verdict) {
    ++evaluated_;
    ++verdicts_[static_cast<size_t>(*r.verdict)];
    if (!r.group.empty()) {
      if (*r.verdict == Verdict::kSandboxError || *r.verdict == Verdict::kInvalidJob) {
        ++pass_at_k_left_out_;
      } else {
        auto& [n, c] = groups_[r.group];
        ++n;
        c += *r.verdict == Verdict::kAccepted;
      }
    }
  }
  // Only a task that ran has a start latency and a wall time; the others would pull p50 to 0.
  if (r.status == TaskStatus::kInvalidJob || r.status == TaskStatus::kSandboxError) return;
  start_latency_us_.Add(static_cast<double>(r.start_latency_us));
  wall_ms_.Add(r.wall_ms);
}

std::vector<std::pair<int, double>> Summary::PassAtK() const {
  std::vector<std::pair<int, double>> out;
  for (int k : {1, 10, 100}) {
    double sum = 0;
    int64_t groups = 0;
    for (const auto& [name, nc] : groups_) {
      if (nc.first < k) continue;
      sum += jobs::PassAtK(static_cast<int>(nc.first), static_cast<int>(nc.second), k);
      ++groups;
    }
    if (groups > 0) out.emplace_back(k, sum / static_cast<double>(groups));
  }
  return out;
}

uint64_t Summary::done() const {
  uint64_t n = 0;
  for (uint64_t c : counts_) n += c;
  return n;
}

uint64_t Summary::count(TaskStatus s) const { return counts_[static_cast<size_t>(s)]; }

std::string Summary::ProgressLine(std::optional<uint64_t> total, double elapsed_s) const {
  const uint64_t n = done();
  const double rate = PerSecond(n, elapsed_s);
  std::string head = std::to_string(n);
  std::string eta;
  if (total) {
    const uint64_t pct = *total == 0 ? 100 : n * 100 / *total;
    head += "/" + std::to_string(*total) + " " + std::to_string(pct) + "%";
    eta = n >= *total ? "ETA 0s"
          : rate > 0  ? "ETA " + Duration(static_cast<double>(*total - n) / rate)
                      : "ETA ?";
  }
  head += "  " + Rate(rate) + " tasks/s";

  std::vector<std::pair<const char*, uint64_t>> shown;
  for (TaskStatus s : kDisplayOrder) {
    if (count(s) > 0) shown.emplace_back(StatusName(s), count(s));
  }
  uint64_t other = 0;
  for (;;) {
    std::string line = head;
    for (size_t i = 0; i < shown.size(); ++i) {
      line += (i == 0 ? "  " : " ") + std::string(shown[i].first) + " " +
              std::to_string(shown[i].second);
    }
    if (other > 0) line += (shown.empty() ? "  other " : " other ") + std::to_string(other);
    if (!eta.empty()) line += "  " + eta;
    if (line.size() <= kWidth || shown.empty()) return line.substr(0, kWidth);
    // Too many kinds of outcome for one line: the rarest are folded into "other" (the summary
    // at the end names them all).
    auto rarest = std::min_element(shown.rbegin(), shown.rend(), [](const auto& a, const auto& b) {
      return a.second < b.second;
    });
    other += rarest->second;
    shown.erase(std::next(rarest).base());
  }
}

std::string Summary::Text(double elapsed_s) const {
  const uint64_t n = done();
  std::string out = "brood: " + std::to_string(n) + (n == 1 ? " task" : " tasks") + " in " +
                    Format("%.1f", elapsed_s) + "s (" + Rate(PerSecond(n, elapsed_s)) +
                    " tasks/s)\n";
  std::string counts;
  for (TaskStatus s : kDisplayOrder) {
    if (count(s) == 0) continue;
    counts += "  " + std::string(StatusName(s)) + " " + std::to_string(count(s));
  }
  if (!counts.empty()) out += counts + "\n";
  if (judged_ > 0)  // what a code-evaluation run is for: how many answers were right
    out += "  expect: " + std::to_string(passed_) + " of " + std::to_string(judged_) + " passed\n";
  if (evaluated_ > 0) {
    out += "  verdicts:";
    for (size_t v = 0; v < verdicts_.size(); ++v)
      if (verdicts_[v] > 0)
        out += " " + std::string(VerdictName(static_cast<Verdict>(v))) + " " +
               std::to_string(verdicts_[v]);
    out += "\n";
  }
  if (auto pass = PassAtK(); !pass.empty() || pass_at_k_left_out_ > 0) {
    out += "  pass@k:";
    for (const auto& [k, p] : pass) out += " pass@" + std::to_string(k) + " " + Format("%.4f", p);
    out += " (" + std::to_string(groups_.size()) + " groups";
    if (pass_at_k_left_out_ > 0)
      out += "; " + std::to_string(pass_at_k_left_out_) +
             " samples left out: sandbox_error or invalid_job";
    out += ")\n";
  }
  const std::pair<const char*, const Histogram*> hists[] = {
      {"start_latency_us", &start_latency_us_}, {"wall_ms", &wall_ms_}};
  for (const auto& [name, h] : hists) {
    if (h->count() == 0) continue;
    out += "  " + std::string(name) + " p50 " + Num(h->Quantile(0.5)) + " p99 " +
           Num(h->Quantile(0.99)) + "\n";
  }
  return out;
}

std::string Summary::Json(double elapsed_s) const {
  using Json = nlohmann::ordered_json;
  Json statuses = Json::object();
  for (TaskStatus s : kAllStatuses) statuses[StatusName(s)] = count(s);
  auto quantiles = [](const Histogram& h) {
    return Json{{"p50", h.Quantile(0.5)}, {"p99", h.Quantile(0.99)}};
  };
  const double elapsed = std::isfinite(elapsed_s) ? elapsed_s : 0;  // JSON has no NaN
  Json verdicts = Json::object();
  for (size_t v = 0; v + 1 < verdicts_.size(); ++v)  // every verdict but "skipped" (a test's)
    verdicts[VerdictName(static_cast<Verdict>(v))] = verdicts_[v];
  Json pass_at_k = Json::object();
  for (const auto& [k, p] : PassAtK()) pass_at_k[std::to_string(k)] = p;
  Json j{{"total", done()},
         {"elapsed_s", elapsed},
         {"tasks_per_s", PerSecond(done(), elapsed)},
         {"statuses", std::move(statuses)},
         {"expect", Json{{"passed", passed_}, {"judged", judged_}}},
         {"verdicts", std::move(verdicts)},
         {"pass_at_k", std::move(pass_at_k)},
         {"pass_at_k_groups", groups_.size()},
         {"pass_at_k_left_out", pass_at_k_left_out_},
         {"start_latency_us", quantiles(start_latency_us_)},
         {"wall_ms", quantiles(wall_ms_)}};
  return j.dump();
}

}  // namespace brood::run
