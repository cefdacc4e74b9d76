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
//   limits_hit_only   limits_hit has none but these (for races: which of two limits a task
//                     meets first can differ between hosts; assert the certain one with
//                     limits_hit and bound the rest with this)
//   files, files_lacks   collected file names present / absent
//   stdout_bytes_min     at least this many bytes written to stdout
//
// A case whose outcome depends on a property of the host (tests/support/host_probe.hpp, probed
// once outside any sandbox) names it; `want` holds where the host has it, and elsewhere
// `want_otherwise` holds instead, asserting what is certain there (the runner prints which it
// used and why):
//   "requires": "int80-enters-kernel", "want_otherwise": {"status": "signaled", ...}
// `requires` may be a list (all must hold). Without `want_otherwise` the case is left out where
// the host lacks the property, and the runner prints that and why. An unknown property, a
// `want_otherwise` without `requires`, or an unknown key in either want fails the file at load,
// on every host, so a typo can neither pass nor skip silently.
//
// Placeholders, replaced in the line's text before it is parsed:
//   @HOSTPORT@   a TCP port listening on the host's 127.0.0.1 (a task must never reach it)
//   @ABSTRACT@   an abstract unix socket name (without the leading NUL) the host listens on
//   @UNIXSOCK@   the path of a unix socket file the host listens on (mode 0777, beside the canary)
//   @CANARY@     a host file holding a secret line (must never be read or changed)
//   @SECRET@     that secret line
//   @INT80SIG@   the signal int 0x80 raises on this host outside any sandbox (0 where it enters
//                the kernel), for `want_otherwise` of cases that require int80-enters-kernel
//   @REPEAT:N:UNIT@   UNIT (any text without '@') N times, "%d" in it becoming 0..N-1: big
//                     stdin, argv, env, files and deep nesting without committing them
//                     (nested ones expand innermost first)
// A `files` value of "@PROBE@" becomes the static probe (tests/helpers/probe.c), base64.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace brood::testing {

struct HostileCase {
  std::string file;  // cases file it came from
  int line = 0;
  std::string why;
  nlohmann::json job, want;
  std::vector<std::string> needs;  // "requires": host properties `want` depends on
  nlohmann::json want_otherwise;   // null: none (the case is left out without them)
};

struct Placeholders {
  int host_port = 0;
  int int80_signal = 0;
  std::string abstract_name, unix_path, canary_path, secret, probe_base64;
};

// Reads one cases file; malformed lines are reported through `errors`.
std::vector<HostileCase> LoadCases(const std::string& path, const Placeholders& ph,
                                   std::vector<std::string>* errors);

// Every cases file, sorted.
std::vector<std::string> CaseFiles();

// What is wrong with `result` against `want` ("" when it is as wanted).
std::string CheckResult(const nlohmann::json& want, const nlohmann::json& result);

// Which want applies on this host: &c.want when the host has every property in c.needs, else
// &c.want_otherwise, or nullptr when the case is left out here. `note` says why, when it is not
// the plain `want`. `has` answers for one property (tests/support/host_probe.hpp's HostHas).
using HostHasFn = std::function<std::optional<bool>(const std::string& property, std::string* why)>;
const nlohmann::json* WantHere(const HostileCase& c, const HostHasFn& has, std::string* note);

}  // namespace brood::testing
