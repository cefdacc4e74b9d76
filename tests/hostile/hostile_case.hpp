// One hostile case: a job that attacks the sandbox, and what its result must say.
//
// Cases live in tests/hostile/cases/<topic>.jsonl, one per line (blank lines and lines starting
// with '#' are skipped):
//
//   {"why": "fork bomb in sh", "job": {"id": "dos/fork-sh", "shell": ":(){ :|:& };:", ...},
//    "want": {"status": ["pids...", ...], "limits_hit": ["pids"]}}
//
// `want` keys (an unknown key fails the test, so a typo cannot pass silently):
//   status        a status, or a list of acceptable ones (required)
//   exit_code, signal, passed, stdout_truncated, stderr_truncated   equal to this
//   stdout, stderr                  the stream, exactly (text results only)
//   stdout_has, stdout_lacks, stderr_has, stderr_lacks, error_has   substrings (string or list)
//   limits_hit    each of these is in limits_hit
//   files, files_lacks   collected file names present / absent
//   stdout_bytes_min     at least this many bytes written to stdout
//
// Placeholders, replaced in the line's text before it is parsed:
//   @HOSTPORT@   a TCP port listening on the host's 127.0.0.1 (a task must never reach it)
//   @ABSTRACT@   an abstract unix socket name (without the leading NUL) the host listens on
//   @UNIXSOCK@   the path of a unix socket file the host listens on (mode 0777, beside the canary)
//   @CANARY@     a host file holding a secret line (must never be read or changed)
//   @SECRET@     that secret line
//   @REPEAT:N:UNIT@   UNIT (any text without '@') N times, "%d" in it becoming 0..N-1: big
//                     stdin, argv, env, files and deep nesting without committing them
//                     (nested ones expand innermost first)
// A `files` value of "@PROBE@" becomes the static probe (tests/helpers/probe.c), base64.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace brood::testing {

struct HostileCase {
  std::string file;  // cases file it came from
  int line = 0;
  std::string why;
  nlohmann::json job, want;
};

struct Placeholders {
  int host_port = 0;
  std::string abstract_name, unix_path, canary_path, secret, probe_base64;
};

// Reads one cases file; malformed lines are reported through `errors`.
std::vector<HostileCase> LoadCases(const std::string& path, const Placeholders& ph,
                                   std::vector<std::string>* errors);

// Every cases file, sorted.
std::vector<std::string> CaseFiles();

// What is wrong with `result` for this case ("" when it is as wanted).
std::string CheckResult(const HostileCase& c, const nlohmann::json& result);

}  // namespace brood::testing
