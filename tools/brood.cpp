// The brood command line: a thin client of include/brood/.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "brood/doctor.hpp"
#include "brood/engine.hpp"
#include "brood/run.hpp"
#include "languages_cmd.hpp"
#include "serve_cmd.hpp"
#include "stop_signals.hpp"

namespace {

struct ExecArgs {
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string cwd = "/workspace";
  std::string network = "none";
  brood::Limits limits;
};

// "NAME=DIR" -> {NAME, DIR}; "DIR" -> {"", DIR}. A name is what a job's "root" may say.
std::pair<std::string, std::string> SplitRoot(const std::string& value) {
  const size_t eq = value.find('=');
  if (eq == std::string::npos || eq == 0 || value[0] == '/' || value[0] == '.') return {"", value};
  const std::string name = value.substr(0, eq);
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return {"", value};
  return {name, value.substr(eq + 1)};
}

std::string CheckRoot(const std::string& value) {
  auto [name, dir] = SplitRoot(value);
  if (name.size() > 64) return "a root's name has at most 64 characters: " + name;
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return "not a directory: " + dir;
  return {};
}

void AddEngineOptions(CLI::App* app, brood::EngineOptions& o, std::vector<std::string>& roots,
                      std::string& on_violation) {
  app->add_option("--root", roots,
                  "DIR: take the system dirs and /etc from DIR instead of the host's; NAME=DIR "
                  "(repeatable): a root jobs may choose with \"root\": NAME")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->check(CLI::Validator(CheckRoot, "DIR|NAME=DIR"));
  app->add_option("--on-violation", on_violation,
                  "what a denied system call does: fail with EPERM (errno), end the task (kill), "
                  "or fail and be listed in the result's denied_calls (log)")
      ->check(CLI::IsMember({"errno", "kill", "log"}))
      ->capture_default_str();
  app->add_option("--cgroup-root", o.cgroup_root, "cgroup path to create brood's cgroups under");
  app->add_option("--uid-base", o.uid_base, "first host uid of sandbox users")
      ->capture_default_str();
  app->add_flag("--allow-no-cgroups", o.allow_no_cgroups,
                "without a writable cgroup, enforce limits with rlimits (weaker)");
  app->add_option("--disk-dir", o.disk_dir, "where the workspace disks' (unnamed) image files live")
      ->check(CLI::ExistingDirectory)
      ->capture_default_str();
  app->add_option("--build-cache-dir", o.build_cache_dir,
                  "keep evaluated jobs' builds here and do identical builds once (made 0700)");
  app->add_option("--build-cache-mb", o.build_cache_mb,
                  "the build cache's size at most (least recently used entries go)")
      ->capture_default_str();
}

void AddLimitOptions(CLI::App* app, brood::Limits& l) {
  app->add_option("--wall-ms", l.wall_ms, "wall-clock limit from execve")->capture_default_str();
  app->add_option("--cpu-ms", l.cpu_ms, "CPU time of all processes (default: = wall-ms)");
  app->add_option("--memory-mb", l.memory_mb, "memory of all processes")->capture_default_str();
  app->add_option("--disk-mb", l.disk_mb, "tmpfs for /workspace, /tmp, /dev/shm")
      ->capture_default_str();
  app->add_option("--pids", l.pids, "processes and threads")->capture_default_str();
  app->add_option("--output-bytes", l.output_bytes, "per stream")->capture_default_str();
  app->add_option("--cpus", l.cpus, "CPU bandwidth in cores")->capture_default_str();
}

// Runs the job; a stop signal meanwhile cancels it (the engine kills the task and cleans up).
brood::Result RunUntilSignal(brood::Engine& engine, brood::Job job, const sigset_t& signals,
                             std::optional<int>* stopped_by) {
  int sfd = signalfd(-1, &signals, SFD_CLOEXEC);
  int done[2];
  if (sfd < 0 || pipe2(done, O_CLOEXEC) != 0) return engine.Run(job);
  brood::Result result;
  result.id = job.id;
  brood::Submission taken = engine.Submit(std::move(job), [&result, w = done[1]](brood::Result r) {
    result = std::move(r);
    (void)!write(w, "x", 1);
  });
  if (!taken.ok()) {  // a queue of its own, never full: but say so rather than wait forever
    result.status = brood::TaskStatus::kSandboxError;
    result.error_kind = taken.error_kind;
    result.error = taken.error;
    (void)!write(done[1], "x", 1);
  }
  for (;;) {
    pollfd fds[2] = {{done[0], POLLIN, 0}, {sfd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[0].revents) break;
    signalfd_siginfo si;
    if (fds[1].revents && read(sfd, &si, sizeof si) == sizeof si && !*stopped_by) {
      *stopped_by = static_cast<int>(si.ssi_signo);
      engine.CancelAll();
    }
  }
  close(sfd);
  close(done[0]);
  close(done[1]);
  return result;
}

// Job-record limit defaults, from the one place they live (brood::Limits).
std::string LimitDefaultsText() {
  brood::Limits l;
  std::ostringstream out;
  out << "Job limits and their defaults (a job's \"limits\" object overrides them):\n"
      << "  wall_ms " << l.wall_ms << "   cpu_ms = wall_ms   memory_mb " << l.memory_mb
      << "   disk_mb " << l.disk_mb << "   pids " << l.pids << "   output_bytes " << l.output_bytes
      << "   cpus " << l.cpus << "\n";
  return out.str();
}

int RunJobs(brood::EngineOptions opts, brood::RunOptions run_opts) {
  const sigset_t stop_signals = BlockStopSignals();
  std::string error;
  auto engine = brood::Engine::Create(opts, &error);
  if (!engine) {
    std::cerr << "brood: cannot sandbox on this host: " << error << "\n";
    return 1;
  }
  run_opts.maxima = opts.maxima;
  run_opts.progress = isatty(2);
  brood::JobRun job_run(*engine, run_opts, std::cerr);
  // SIGINT/SIGTERM: stop admitting; running tasks get 5 s, then are killed (docs/cli.md).
  StopSignalWatcher watcher(stop_signals, [&](int sig) {
    std::cerr << "\nbrood run: " << strsignal(sig) << ": no new tasks; running ones get 5 s\n";
    job_run.Stop(5000);
  });
  return job_run.Run();
}

int RunExec(brood::EngineOptions opts, const ExecArgs& a) {
  brood::Job job;
  job.id = "exec";
  job.argv = a.cmd;
  job.cwd = a.cwd;
  job.limits = a.limits;
  job.network = a.network == "host" ? brood::Network::kHost : brood::Network::kNone;
  for (const auto& kv : a.env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "brood exec: --env " << kv << ": expected KEY=VALUE\n";
      return 2;
    }
    job.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  // Forward our stdin when it is not a terminal; else the task reads /dev/null.
  if (!isatty(0)) job.stdin_fd = 0;

  // SIGINT/SIGTERM/SIGHUP arrive on a signalfd: blocked before any thread exists, so every
  // engine thread inherits the mask and only the wait below sees them.
  const sigset_t stop_signals = BlockStopSignals();

  std::string error;
  opts.slots = 1;     // one task
  opts.warm = false;  // its zygote is made when it is needed, on this thread
  auto engine = brood::Engine::Create(opts, &error);
  if (!engine) {
    std::cerr << "brood: cannot sandbox on this host: " << error << "\n";
    brood::Result r;
    r.id = job.id;
    r.status = brood::TaskStatus::kSandboxError;
    r.error = error;
    r.error_kind = brood::ErrorKind::kHostUnsupported;
    std::cout << brood::ResultToJson(r) << "\n";
    return 125;
  }
  std::optional<int> stopped_by;
  brood::Result r = RunUntilSignal(*engine, std::move(job), stop_signals, &stopped_by);
  if (stopped_by) {
    // Like a shell: the task was killed and cleaned up; no record for an interrupted task.
    std::cerr << "brood exec: stopped by " << strsignal(*stopped_by) << "; the task was killed\n";
    return 128 + *stopped_by;
  }
  if (r.status == brood::TaskStatus::kInvalidJob) r.line = 1;  // exec's one job is "line 1"
  std::cout << brood::ResultToJson(r) << "\n" << std::flush;
  if (r.status == brood::TaskStatus::kSandboxError || r.status == brood::TaskStatus::kInvalidJob)
    std::cerr << "brood exec: " << r.error.value_or("") << "\n";
  return brood::ExecExitCode(r.status, r.exit_code, r.signal);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"brood: run untrusted work in bulk, each task in its own Linux sandbox"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", "brood " BROOD_VERSION);

  brood::EngineOptions opts;
  std::vector<std::string> roots;
  std::string on_violation = "errno";
  ExecArgs exec_args;
  CLI::App* exec = app.add_subcommand("exec", "run one task; print its result record");
  AddEngineOptions(exec, opts, roots, on_violation);
  AddLimitOptions(exec, exec_args.limits);
  exec->add_option("--env", exec_args.env, "KEY=VALUE added to the task's environment (repeatable)")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  exec->add_option("--cwd", exec_args.cwd, "working directory inside the sandbox")
      ->capture_default_str();
  exec->add_option("--network", exec_args.network, "none: own namespace, loopback only")
      ->check(CLI::IsMember({"none", "host"}))
      ->capture_default_str();
  exec->add_option("cmd", exec_args.cmd, "-- CMD [ARG...]")->required();

  brood::RunOptions run_opts;
  CLI::App* run = app.add_subcommand("run", "run a job file; write one result record per job");
  AddEngineOptions(run, opts, roots, on_violation);
  run->add_option("jobs", run_opts.jobs, "JOBS.jsonl, or - for stdin")->required();
  run->add_option("-o,--output", run_opts.results, "RESULTS.jsonl, or - for stdout")
      ->capture_default_str();
  run->add_flag("--resume", run_opts.resume, "skip jobs whose results are already in -o");
  run->add_option("-j,--jobs", opts.slots, "tasks at once (default: the number of cores)")
      ->check(CLI::Range(1, 1024));
  run->add_flag("--ordered", run_opts.ordered, "write results in input order");
  run->add_option("--summary-json", run_opts.summary_json, "also write the summary as JSON");
  run->footer(LimitDefaultsText());

  ServeArgs serve_args;
  CLI::App* serve = app.add_subcommand("serve", "run jobs sent over HTTP (docs/serve.md)");
  AddEngineOptions(serve, opts, roots, on_violation);
  AddServeOptions(serve, serve_args, opts);
  serve->footer(LimitDefaultsText());

  brood::DoctorOptions doctor_opts;
  CLI::App* doctor = app.add_subcommand("doctor", "what this host supports, and how to fix it");
  doctor->add_option("--cgroup-root", doctor_opts.cgroup_root, "as for exec/run");
  doctor->add_option("--disk-dir", doctor_opts.disk_dir, "as for exec/run")->capture_default_str();

  bool languages_json = false;
  CLI::App* languages = app.add_subcommand(
      "languages", "the language presets, and whether each toolchain is in the sandbox's root");
  AddEngineOptions(languages, opts, roots, on_violation);
  languages->add_flag("--json", languages_json, "one JSON object per preset");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  for (const auto& value : roots) {
    auto [name, dir] = SplitRoot(value);
    (name.empty() ? opts.root_dir : opts.roots[name]) = dir;
  }
  opts.on_violation = on_violation == "kill"  ? brood::OnViolation::kKill
                      : on_violation == "log" ? brood::OnViolation::kLog
                                              : brood::OnViolation::kErrno;
  if (*exec) return RunExec(opts, exec_args);
  if (*run) {
    if (run_opts.resume && run_opts.results == "-") {
      std::cerr << "brood run: --resume needs -o RESULTS.jsonl (a file to resume)\n";
      return 2;
    }
    return RunJobs(opts, run_opts);
  }
  if (*serve) return RunServe(opts, serve_args);
  if (*doctor) return brood::RunDoctor(doctor_opts, std::cout);
  if (*languages) return RunLanguages(opts, languages_json, std::cout);
  std::cout << app.help();
  return 2;
}
