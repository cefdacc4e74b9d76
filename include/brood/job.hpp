// A task to run: the in-memory form of a job record (docs/job.md).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "brood/limits.hpp"

namespace brood {

enum class Network { kNone, kHost };
enum class MatchMode { kExact, kTrim, kTokens };

struct Expect {
  std::string stdout_text;
  MatchMode match = MatchMode::kExact;
};

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
};

}  // namespace brood
