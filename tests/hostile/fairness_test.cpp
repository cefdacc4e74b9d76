// Fairness (the hostile suite's issue): "an ordinary probe task running beside the bomb keeps its
// start latency within 3x of idle". Fairness comes from each task's own cpu cgroup (bandwidth
// `cpus`, a weight equal to its neighbours') and its pids limit.
//
// Each round is one `brood run -j 2` of
//   hold (sleep 1) | idle probes x N | bomb (wall 2.5 s) | busy probes x N
// Slots are taken in file order: `hold` takes one slot and the idle probes run one after the
// other in the second, beside a sleeping neighbour; the bomb then takes the second slot, and the
// busy probes wait for `hold`'s slot and run beside the bomb. Results are written as tasks end,
// so their order proves it: every idle probe before `hold`, every busy probe after `hold` and
// before the bomb. A round whose order shows otherwise (a machine too slow to keep the
// schedule) is left out. The medians of all kept rounds' start_latency_us are compared.
//
// The development machines are shared: other work often keeps 20-30 processes runnable on 2
// cores. brood's whole cgroup tree is then one scheduling entity among 30, and a busy slot
// halves its neighbour's part of it (measured: median ratios 2.1-6x, varying run to run). That
// measures the host, not brood; so, where it can (cgroup v1, as root), the test runs brood in a
// cpu cgroup of its own with the weight of a dedicated host (cpu.shares 8192), and the bomb's
// `cpus` bandwidth is what leaves the neighbour its share. The bomb gets half a core, which
// keeps that true even when something else holds a whole core (a SCHED_FIFO spinner did, for
// minutes, during one measurement: cpus 1 then gave 3.1-4.4x, cpus 0.5 2.2-2.7x). Measured on
// the loaded machine otherwise: cpus 0.5, 1.1-1.9x; cpus 1, 1.1-1.4x; the same bomb allowed
// both cores (bandwidth broken), 3.0-3.8x, which fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "jobs/codec.hpp"
#include "support/cli.hpp"

namespace brood::testing {
namespace {

using nlohmann::json;

constexpr int kRounds = 5;
constexpr int kProbes = 24;  // per phase and round
constexpr double kMaxRatio = 3.0;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool WriteFile(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

// The v1 cpu hierarchy's directory this process is in ("" when there is none, e.g. pure v2).
std::string OwnV1CpuDir() {
  std::string mount;
  std::ifstream mi("/proc/self/mountinfo");
  for (std::string line; std::getline(mi, line);) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream head(line.substr(0, dash)), tail(line.substr(dash + 3));
    std::string f[5], type, source, opts;
    for (auto& x : f) head >> x;
    tail >> type >> source >> opts;
    if (type == "cgroup" && ("," + opts + ",").find(",cpu,") != std::string::npos) mount = f[4];
  }
  if (mount.empty()) return "";
  std::ifstream cg("/proc/self/cgroup");
  for (std::string line; std::getline(cg, line);) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (b == std::string::npos) continue;
    if (("," + line.substr(a + 1, b - a - 1) + ",").find(",cpu,") != std::string::npos)
      return mount + (line.substr(b + 1) == "/" ? "" : line.substr(b + 1));
  }
  return "";
}

// This process, and so the brood it starts, in a fresh v1 cpu cgroup below its own with the
// weight of a dedicated host, for the object's life; nothing happens where that is not possible.
class WeightedCpuGroup {
 public:
  WeightedCpuGroup() : own_(OwnV1CpuDir()) {
    if (own_.empty() || geteuid() != 0) {
      note_ = "no v1 cpu hierarchy writable here: measured under the host's own load";
      return;
    }
    dir_ = own_ + "/hostile-fairness-" + std::to_string(getpid());
    if (mkdir(dir_.c_str(), 0755) != 0 || !WriteFile(dir_ + "/cpu.shares", "8192") ||
        !WriteFile(dir_ + "/cgroup.procs", std::to_string(getpid()))) {
      note_ = "could not make " + dir_ + ": measured under the host's own load";
      rmdir(dir_.c_str());
      dir_.clear();
      return;
    }
    note_ = "brood ran in " + dir_ + " (cpu.shares 8192)";
  }
  ~WeightedCpuGroup() {
    if (dir_.empty()) return;
    WriteFile(own_ + "/cgroup.procs", std::to_string(getpid()));
    rmdir(dir_.c_str());
  }
  const std::string& note() const { return note_; }

 private:
  std::string own_, dir_, note_;
};

json Probe(const std::string& id) { return {{"id", id}, {"cmd", {"true"}}}; }

// One round's job file; the bomb alternates between perl and the C probe.
std::string RoundJobs(int round, const std::string& probe_base64) {
  std::string out = json{{"id", "hold"}, {"cmd", {"sleep", "1"}}}.dump() + "\n";
  for (int i = 0; i < kProbes; ++i) out += Probe("idle/" + std::to_string(i)).dump() + "\n";
  json bomb = {{"id", "bomb"},
               {"limits", {{"wall_ms", 2500}, {"cpu_ms", 60000}, {"pids", 64}, {"cpus", 0.5}}}};
  if (round % 2 == 0) {
    bomb["cmd"] = {"perl", "-e", "fork while 1"};
  } else {
    bomb["cmd"] = {"./probe", "forkbomb"};
    bomb["files"] = {{"probe", {{"base64", probe_base64}}}};
  }
  out += bomb.dump() + "\n";
  for (int i = 0; i < kProbes; ++i) out += Probe("busy/" + std::to_string(i)).dump() + "\n";
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

TEST(Fairness, ProbeBesideForkBombStartsWithin3xOfIdle) {
  WeightedCpuGroup group;
  const std::string probe = jobs::Base64Encode(Slurp(BROOD_PROBE));
  std::vector<double> idle, busy;
  std::string log = group.note() + "\n";
  int kept = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::string jobs_path = TempFile("fairness.jsonl", RoundJobs(round, probe));
    std::string out_path = jobs_path + ".results";
    CliRun run = RunBrood({"run", jobs_path, "-o", out_path, "-j", "2"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    std::map<std::string, size_t> pos;
    std::map<std::string, json> res;
    std::ifstream in(out_path);
    for (std::string line; std::getline(in, line);) {
      json r = json::parse(line);
      const size_t n = pos.size();
      pos[r["id"]] = n;
      res[r["id"]] = r;
    }
    unlink(out_path.c_str());
    unlink(jobs_path.c_str());
    ASSERT_EQ(res.size(), 2u + 2 * kProbes);
    // The bomb must have been one: it ran to the wall, held back by its pids limit.
    const json& bomb = res["bomb"];
    ASSERT_EQ(bomb["status"], "timeout") << bomb.dump();
    auto hit = bomb["limits_hit"].get<std::vector<std::string>>();
    ASSERT_NE(std::find(hit.begin(), hit.end(), "pids"), hit.end()) << bomb.dump();
    bool in_order = true;
    std::vector<double> round_idle, round_busy;
    for (int i = 0; i < kProbes; ++i) {
      const std::string a = "idle/" + std::to_string(i), b = "busy/" + std::to_string(i);
      ASSERT_EQ(res[a]["status"], "ok") << res[a].dump();
      ASSERT_EQ(res[b]["status"], "ok") << res[b].dump();
      in_order = in_order && pos[a] < pos["hold"] && pos["hold"] < pos[b] && pos[b] < pos["bomb"];
      round_idle.push_back(res[a]["start_latency_us"].get<double>());
      round_busy.push_back(res[b]["start_latency_us"].get<double>());
    }
    char line[160];
    snprintf(line, sizeof line,
             "round %d (%s bomb): idle median %.0f us, beside the bomb %.0f us%s\n", round,
             round % 2 ? "C" : "perl", Median(round_idle), Median(round_busy),
             in_order ? "" : " -- left out: the probes did not run where the schedule put them");
    log += line;
    if (!in_order) continue;
    ++kept;
    idle.insert(idle.end(), round_idle.begin(), round_idle.end());
    busy.insert(busy.end(), round_busy.begin(), round_busy.end());
  }
  ASSERT_GE(kept, 3) << "too few rounds kept their schedule to measure anything\n" << log;
  const double mi = Median(idle), mb = Median(busy);
  char line[120];
  snprintf(line, sizeof line,
           "all kept rounds: idle median %.0f us, beside the bomb %.0f us (%.2fx)", mi, mb,
           mb / mi);
  log += line;
  std::fprintf(stderr, "%s\n", log.c_str());
  EXPECT_LE(mb, kMaxRatio * mi) << log;
}

}  // namespace
}  // namespace brood::testing
