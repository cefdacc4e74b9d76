// A task to run: the in-memory form of a job record (docs/job.md).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "brood/limits.hpp"

namespace brood {

enum class Network { kNone, kHost };
enum class MatchMode { kExact, kTrim, kTokens, kFloat };

// A program that judges a test's output (docs/eval.md), by the testlib convention: run as
// `argv... input output answer` (absolute paths of files in its own workspace) in a sandbox of its
// own; exit 0 accepted, 1 wrong answer, 2 presentation error, 3 the checker's own failure; its
// stderr is the message. Untrusted, like the task.
struct Checker {
  std::string language;                      // a preset (eval/languages): fills build and argv
  std::vector<std::string> argv;             // cmd; {"/bin/sh", "-c", shell} for "shell"
  std::map<std::string, std::string> files;  // its workspace: sources, data
  Limits limits;
};

// What a task's run must have produced (docs/job.md). Every field given must hold.
struct Expect {
  std::optional<std::string> stdout_text;  // nullopt: stdout is not compared
  MatchMode match = MatchMode::kExact;
  bool case_insensitive = false;             // "case": "insensitive" (ASCII letters)
  double abs_tol = 0, rel_tol = 0;           // kFloat: |a - e| <= max(abs_tol, rel_tol * |e|)
  std::optional<int> exit_code;              // nullopt: 0 (status ok) is expected
  std::map<std::string, std::string> files;  // workspace path -> content, compared with `match`
  std::optional<Checker> checker;            // judges stdout instead of stdout_text's comparison
};

// `build`: run once in the job's workspace after `files` are written (docs/eval.md).
struct Build {
  std::vector<std::string> argv;  // cmd, or {"/bin/sh", "-c", shell}
  LimitOverrides limits;          // over the preset's build limits, else over the job's limits
};

// One test of a job with `tests`: runs `cmd + args` in a fresh sandbox whose workspace is the
// one the build left (or the job's files), with the test's own files added.
struct TestCase {
  std::string id;
  std::string stdin_data;
  std::map<std::string, std::string> files;
  std::vector<std::string> args;
  // nullopt: the job's expect. (The job record's parser merges: a test's fields over the job's.)
  std::optional<Expect> expect;
  LimitOverrides limits;  // over the job's limits
};

enum class StopMode { kFirstFailure, kAll };

struct Job {
  std::string id;
  std::vector<std::string> argv;  // cmd; for "shell" jobs: {"/bin/sh", "-c", shell}
  std::string stdin_data;         // bytes given to the task's stdin (ignored if stdin_fd set)
  // Stream this fd into the task's stdin instead (exec). Borrowed: the caller keeps it open
  // until the job's result is handed over; brood never closes it.
  int stdin_fd = -1;
  std::map<std::string, std::string> env;    // added to the default environment
  std::map<std::string, std::string> files;  // relative path in /workspace -> content bytes
  std::string cwd = "/workspace";
  Limits limits;
  Network network = Network::kNone;
  // The root the task sees: a name the engine's owner gave in EngineOptions::roots ("": the
  // engine's default root). Never a host path.
  std::string root;
  std::vector<std::string> collect;
  std::optional<Expect> expect;

  // Evaluation (docs/eval.md). A job with any of language, build, tests or a checker is one
  // evaluation: build once, then each test in a sandbox of its own; its result has a verdict.
  std::string language;  // a preset: fills build and argv from its source file in `files`
  std::optional<Build> build;
  std::vector<TestCase> tests;
  StopMode stop = StopMode::kFirstFailure;
  std::string group;  // the problem this sample belongs to, for pass@k ("": none)
  // Internal (eval): collect the whole workspace after the run, regular files only, into
  // Result::files (up to kSnapshotMax bytes; more is an error naming what was left out).
  bool snapshot = false;
};

constexpr size_t kSnapshotMax = 256u << 20;

}  // namespace brood
