#!/usr/bin/env python3
"""stdin/stdout problems with test lists (CodeContests, APPS style) <-> brood evaluated jobs.

  stdio.py to-jobs --problems P --samples S [-o jobs.jsonl] [--match tokens] [--time-scale 1]
                   [--stop first_failure|all] [--tests public,private,generated] [--max-tests N]
  stdio.py from-results --problems P --samples S --results R [-o out.jsonl] [--k 1,10,100]

Problems: one JSON object a line, named by "name" (or "problem_id"), with tests given as one of
  "tests": [{"input": ..., "output": ...}, ...]
  "public_tests" / "private_tests" / "generated_tests": {"input": [...], "output": [...]}
                                                           (CodeContests; --tests picks the sets)
  "input_output": '{"inputs": [...], "outputs": [...]}'  (APPS: a JSON string, or an object)
and optionally "time_limit" (seconds, or {"seconds": s, "nanos": n}) and "memory_limit_bytes"
or "memory_limit_mb". Samples: {"name" (or "problem_id"), "language", "code", ...}; language is
a preset (python c cpp java javascript go rust sh) or an alias (python3, c++, cpp17, js, ...).

to-jobs makes one job per sample: id "{name}/{n}" (n: the sample's index among its problem's
samples, in file order), group name, the code as the preset's source file, one test per case
(ids "0", "1", ...) expecting its output (--match, default tokens), wall and CPU time the
problem's time limit x --time-scale (--default-time-s when it has none), memory_mb the
problem's (--default-memory-mb when it has none).

from-results writes each sample line with "verdict", "passed", "tests_passed", "tests_total",
in the samples' order, and prints pass@k over the problems as JSON.
"""

import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import samples  # noqa: E402
from common import DatasetError, field  # noqa: E402

KEYS = ["name", "problem_id"]
SETS = ["public", "private", "generated"]


def _text(value, where):
    """A test's input or output: a string, or a list of lines (APPS has some)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(v if v.endswith("\n") else v + "\n" for v in value)
    raise DatasetError(f"{where}: a test's input and output must be strings, "
                       f"not {type(value).__name__}")


def _pairs(inputs, outputs, where):
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise DatasetError(f"{where}: inputs and outputs must be lists")
    if len(inputs) != len(outputs):
        raise DatasetError(f"{where}: {len(inputs)} inputs but {len(outputs)} outputs")
    return [(_text(i, where), _text(o, where)) for i, o in zip(inputs, outputs)]


def tests_of(problem, where, sets):
    """[(input, output)] of a problem, from whichever of the three forms it has."""
    if problem.get("tests") is not None:
        tests = field(problem, "tests", list, where)
        if not all(isinstance(t, dict) and "input" in t and "output" in t for t in tests):
            raise DatasetError(f"{where}: \"tests\" must be a list of {{\"input\", \"output\"}}")
        return [(_text(t["input"], where), _text(t["output"], where)) for t in tests]
    if any(problem.get(f"{s}_tests") is not None for s in SETS):
        out = []
        for s in sets:
            group = field(problem, f"{s}_tests", dict, where, required=False) or {}
            out += _pairs(group.get("input", []), group.get("output", []),
                          f"{where}: \"{s}_tests\"")
        return out
    if problem.get("input_output") not in (None, ""):
        io = problem["input_output"]
        if isinstance(io, str):
            try:
                io = json.loads(io)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{where}: \"input_output\" is not JSON: {e.msg}") from None
        if not isinstance(io, dict):
            raise DatasetError(f"{where}: \"input_output\" must hold a JSON object")
        if io.get("fn_name"):
            raise DatasetError(f"{where}: a call-based problem (fn_name {io['fn_name']!r}), "
                               f"not stdin/stdout: leave it out of the problems file")
        return _pairs(io.get("inputs", []), io.get("outputs", []), f"{where}: \"input_output\"")
    return []


def time_limit_s(problem, where):
    """The problem's time limit in seconds, or None."""
    value = problem.get("time_limit")
    if isinstance(value, dict):
        seconds = value.get("seconds") or 0
        nanos = value.get("nanos") or 0
        if not isinstance(seconds, (int, float, str)) or not isinstance(nanos, (int, float)):
            raise DatasetError(f"{where}: \"time_limit\" must be {{\"seconds\", \"nanos\"}}")
        value = float(seconds) + nanos / 1e9  # protobuf's JSON writes int64 seconds as text
    elif value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise DatasetError(f"{where}: \"time_limit\" must be seconds or {{\"seconds\", \"nanos\"}}")
    return value if value and value > 0 else None


def memory_mb(problem, where):
    """The problem's memory limit in MiB (bytes rounded up), or None."""
    mb = field(problem, "memory_limit_mb", (int, float), where, required=False)
    if mb is None:
        b = field(problem, "memory_limit_bytes", (int, float, str), where, required=False)
        try:
            mb = float(b) / (1 << 20) if b is not None else None
        except ValueError:
            raise DatasetError(f"{where}: \"memory_limit_bytes\" is not a number") from None
    return math.ceil(mb) if mb and mb > 0 else None


def load_problems(path, args):
    """{id: problem} with "_tests", "_time_s" and "_memory_mb" filled in."""
    problems = common.read_jsonl(path, "problem")
    for number, p in problems:
        where = f"{path}:{number}"
        p["_tests"] = tests_of(p, where, args.tests)[:args.max_tests]
        if not p["_tests"]:
            raise DatasetError(f"{where}: no tests (looked for \"tests\", "
                               f"{', '.join(s + '_tests' for s in args.tests)}, \"input_output\")")
        p["_time_s"] = time_limit_s(p, where)
        p["_memory_mb"] = memory_mb(p, where)
    return samples.index_problems(problems, KEYS, path)


def load_samples(args, problems):
    """[(job id, group, sample, problem, language)]."""
    lines = common.read_jsonl(args.samples, "sample")
    out = []
    for (number, s), numbered in zip(lines, samples.number_samples(lines, problems, KEYS,
                                                                    args.samples)):
        where = f"{args.samples}:{number}"
        field(s, "code", str, where)
        lang = common.language(field(s, "language", (str, int), where), where)
        out.append(numbered + (lang,))
    return out


def to_jobs(args):
    problems = load_problems(args.problems, args)
    expect = {"match": args.match}
    if args.match == "float":
        expect.update(abs_tol=args.abs_tol, rel_tol=args.rel_tol)
    numbered = load_samples(args, problems)

    def jobs():  # written as made: each job holds its problem's tests, which may be large
        for job_id, group, sample, problem, lang in numbered:
            seconds = (problem["_time_s"] or args.default_time_s) * args.time_scale
            lim = common.limits(seconds, problem["_memory_mb"] or args.default_memory_mb)
            tests = [{"id": str(i), "stdin": given, "expect": dict(stdout=wanted, **expect)}
                     for i, (given, wanted) in enumerate(problem["_tests"])]
            yield {"id": job_id, "group": group, "language": lang,
                   "files": {common.SOURCES[lang]: sample["code"]}, "limits": lim,
                   "tests": tests, "stop": args.stop}
    common.write_jsonl(args.output, jobs())
    print(f"{len(numbered)} jobs for {len({s[1] for s in numbered})} problems", file=sys.stderr)


def from_results(args):
    problems = load_problems(args.problems, args)
    sampled = load_samples(args, problems)
    results = common.read_results(args.results)
    outs = common.outcomes([s[0] for s in sampled], results, args.results,
                           args.missing_as_failed)
    lines, verdicts = [], {}
    for (_, _, sample, problem, _), out in zip(sampled, outs):
        line = dict(sample)
        total = len(problem["_tests"])
        if out is None:
            line.update(verdict="missing", passed=False, tests_passed=0, tests_total=total)
        else:
            if isinstance(out.tests_total, int):
                total = out.tests_total
            got = out.tests_passed if isinstance(out.tests_passed, int) else (
                total if out.passed else 0)
            line.update(verdict=out.verdict, passed=out.passed, tests_passed=got,
                        tests_total=total)
        verdicts[line["verdict"]] = verdicts.get(line["verdict"], 0) + 1
        lines.append(line)
    groups = [s[1] for s in sampled]
    samples.report_unattempted(problems, groups)
    print(f"{len(lines)} samples: " + ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items())),
          file=sys.stderr)
    counts = common.group_counts(groups, [line["passed"] for line in lines])
    output = args.output or args.samples + "_results.jsonl"
    samples.write_scores(output, lines, common.pass_at_k(counts, args.k))


def parser():
    p = argparse.ArgumentParser(
        prog="stdio.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 done, 2 bad input (the message names the file and line).")
    sub = p.add_subparsers(dest="command", required=True)
    for name, helptext in (("to-jobs", "samples -> brood jobs with tests"),
                           ("from-results", "brood results -> annotated samples and pass@k")):
        s = sub.add_parser(name, help=helptext, description=helptext)
        s.add_argument("--problems", required=True, help="problems JSONL (or .jsonl.gz)")
        s.add_argument("--samples", required=True, help="samples JSONL: name, language, code")
        s.add_argument("--tests", type=test_sets, default=SETS, metavar="SETS",
                       help="CodeContests test sets to use (default public,private,generated)")
        s.add_argument("--max-tests", type=common.positive(int), metavar="N",
                       help="only the first N tests of each problem")
        if name == "to-jobs":
            s.add_argument("-o", "--output", default="-", help="jobs JSONL (default: stdout)")
            s.add_argument("--match", choices=["exact", "trim", "tokens", "float"],
                           default="tokens", help="how stdout is compared (default tokens)")
            s.add_argument("--abs-tol", type=float, default=1e-6, help="--match float (1e-6)")
            s.add_argument("--rel-tol", type=float, default=1e-6, help="--match float (1e-6)")
            s.add_argument("--time-scale", type=common.positive(float), default=1.0,
                           help="multiplies every time limit (default 1)")
            s.add_argument("--default-time-s", type=common.positive(float), default=2.0,
                           help="time limit of a problem without one (default 2)")
            s.add_argument("--default-memory-mb", type=common.positive(int), default=256,
                           help="memory limit of a problem without one (default 256)")
            s.add_argument("--stop", choices=["first_failure", "all"], default="first_failure",
                           help="stop at the first failing test, or run all (default first)")
        else:
            s.add_argument("--results", required=True, help="brood's results JSONL")
            s.add_argument("-o", "--output", help="annotated samples (default: "
                           "<samples>_results.jsonl; - for stdout)")
            s.add_argument("--k", type=common.number_list, default=[1, 10, 100],
                           help="pass@k to report (default 1,10,100)")
            s.add_argument("--missing-as-failed", action="store_true",
                           help="count samples with no result as failed, not an error")
    return p


def test_sets(text):
    sets = [s.strip() for s in text.split(",") if s.strip()]
    if not sets or any(s not in SETS for s in sets):
        raise argparse.ArgumentTypeError(f"a comma-separated list of {', '.join(SETS)}")
    return sets


def run(argv=None):
    args = parser().parse_args(argv)
    (to_jobs if args.command == "to-jobs" else from_results)(args)


if __name__ == "__main__":
    sys.exit(common.main(run))
