// brood/languages.hpp: each preset's version command, run in a sandbox of the engine's.
#include <condition_variable>
#include <mutex>

#include "brood/languages.hpp"
#include "eval/languages.hpp"

namespace brood {
namespace {

std::string FirstLine(const std::string& text) {
  size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return "";
  size_t end = text.find('\n', start);
  std::string line = text.substr(start, end == std::string::npos ? end : end - start);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

// The version command's job: enough for a JVM sizing itself from the host (its heap reserved,
// not touched) and for a loaded host.
Job VersionJob(const eval::Preset& p, const std::string& root) {
  Job job;
  job.id = "version-" + p.name;
  job.argv = p.version;
  job.env = p.env;
  job.root = root;
  job.limits.wall_ms = 20000;
  job.limits.memory_mb = 1024;
  job.limits.pids = 256;
  return job;
}

// What a version command's result says about its toolchain.
void Judge(const eval::Preset& p, const Result& r, LanguageInfo* info) {
  if (r.status == TaskStatus::kOk) {
    // `java -version` and some others print on stderr.
    info->version = FirstLine(r.stdout_data);
    if (info->version.empty()) info->version = FirstLine(r.stderr_data);
    info->available = true;
    return;
  }
  const std::string cmd = eval::ShellJoin(p.version);
  if (r.status == TaskStatus::kFailed && r.exit_code == 127) {
    // The sandbox's exec (or a shell) found no such program.
    info->reason = p.version[0] + ": not found in the sandbox's root";
    return;
  }
  info->reason = "`" + cmd + "` ended " + StatusName(r.status);
  if (r.exit_code) info->reason += " (exit " + std::to_string(*r.exit_code) + ")";
  if (r.signal) info->reason += " (signal " + std::to_string(*r.signal) + ")";
  std::string why = r.error ? *r.error : FirstLine(r.stderr_data);
  if (why.empty()) why = FirstLine(r.stdout_data);
  if (!why.empty()) info->reason += ": " + why;
  if (r.limits_enforced == Enforcement::kRlimit)
    info->reason +=
        " (no cgroups here: memory_mb caps each process's address space, and "
        "runtimes such as the JVM reserve far more than they use)";
}

}  // namespace

std::vector<LanguageInfo> ProbeLanguages(Engine& engine, const std::string& root) {
  const std::vector<eval::Preset>& presets = eval::Presets();
  std::vector<LanguageInfo> out(presets.size());
  std::vector<Result> results(presets.size());
  std::mutex mu;
  std::condition_variable cv;
  size_t pending = presets.size();
  for (size_t i = 0; i < presets.size(); ++i) {
    const eval::Preset& p = presets[i];
    out[i].name = p.name;
    out[i].source = p.source;
    out[i].build = p.build;
    out[i].run = p.run;
    Submission s = engine.Submit(VersionJob(p, root), [&, i](Result r) {
      std::lock_guard lock(mu);
      results[i] = std::move(r);
      if (--pending == 0) cv.notify_all();
    });
    if (!s.ok()) {
      std::lock_guard lock(mu);
      results[i].status = TaskStatus::kSandboxError;
      results[i].error = s.error;
      --pending;
    }
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return pending == 0; });
  }
  for (size_t i = 0; i < presets.size(); ++i) Judge(presets[i], results[i], &out[i]);
  return out;
}

}  // namespace brood
