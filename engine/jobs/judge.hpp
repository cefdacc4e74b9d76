// `expect` judging and verdicts (docs/job.md, docs/eval.md).
//
// Match modes, each optionally case-insensitive (ASCII letters only, never a locale):
//   exact   byte for byte;
//   trim    after removing trailing whitespace of each line and trailing empty lines;
//   tokens  the same whitespace-separated tokens;
//   float   the same number of tokens, where a pair of tokens that both parse as numbers passes
//           when |a - e| <= max(abs_tol, rel_tol * |e|), in doubles (e the expected one; equal
//           numbers pass whatever the tolerances, so "1.0" matches "1" and "1e0", and "-0.0"
//           matches "0"); NaN matches only NaN, inf only the same inf; any other pair (neither or
//           only one a number) is compared as text, with the case rule.
// Whitespace is ASCII: space, \t, \n, \v, \f, \r. A number is a whole token: an optional sign
// (+ or -), then "inf", "infinity" or "nan" in any case, or decimal digits with an optional
// fraction and an optional exponent ("5", "-5.", ".5", "1e5", "1E+05"). Not numbers: hex
// ("0x10", "0x1p3"), "nan(1)", "1_000", "1,5", "1.2.3", "1e". A number whose magnitude overflows
// a double ("1e400") is not one either: it is text, so never "inf" or "1e401". One that
// underflows to zero ("1e-400") is a zero of its sign.
#pragma once

#include <string>
#include <string_view>

#include "brood/job.hpp"
#include "brood/result.hpp"

namespace brood::jobs {

// Whether `actual` matches `expected` under expect's match mode, case rule and tolerances.
bool Matches(const Expect& expect, std::string_view expected, std::string_view actual);

// Whether a finished run meets `expect`, its checker aside: the run ended as expected (status ok,
// or with expect.exit_code given, ok or failed with that exit code), stdout was not truncated
// (even when stdout is not compared), and stdout (when expect.stdout_text is given) and every
// expected file in result.files match.
// `why`, when not null and the answer is false, gets a short reason ("stdout differs",
// "exit code 1, expected 0", "out.txt: missing").
bool Meets(const Expect& expect, const Result& result, std::string* why = nullptr);

// Sets result.passed when job.expect is given (Meets; a checker is the evaluation's business).
void Judge(const Job& job, Result& result);

// A test's verdict from its run: invalid_job, sandbox_error as themselves; timeout and cpu_limit
// time_limit; memory_limit, output_limit as themselves; failed (unless expect.exit_code names
// its exit code), signaled, violation, disk_limit runtime_error; otherwise accepted when `met`
// (the run meets its expect, or there is none), else wrong_answer.
Verdict VerdictOf(const Result& run, const Expect* expect, bool met);

// A checker's run into the test's verdict (testlib): exit 0 accepted, 1 wrong_answer, 2
// presentation_error; 3, any other exit, a signal, a limit or a sandbox error checker_error.
// `message` gets the checker's stderr (at most kTestStreamHead bytes) for exits 0, 1 and 2; for
// a checker_error what went wrong ("checker exited 3", "checker ended as signaled (signal 9)"),
// followed by ": " and the result's error, else that stderr, when there is one.
Verdict CheckerVerdict(const Result& checker_run, std::string* message);

// The unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k) for n samples of
// which c passed, computed as a product (no overflow for any n): 0 when c is 0, 1 when n - c < k.
// Defined for 0 <= c <= n and 1 <= k <= n; NaN otherwise.
double PassAtK(int n, int c, int k);

}  // namespace brood::jobs
