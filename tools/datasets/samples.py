"""Problems and samples bookkeeping shared by the converters.

- index_problems: problems by id (duplicates are errors);
- number_samples: each sample's job id "{problem}/{n}" and group, n its index among its
  problem's samples in file order (a sample of an unknown problem is an error naming its line);
- write_scores: the annotated samples, then pass@k as one JSON line;
- Harness: the to-jobs / from-results command lines of the function-level datasets
  (humaneval.py, mbpp.py), whose program checks itself with asserts: a job has no `tests`,
  and a sample passes when its program exits 0.
"""

import argparse
import json
import sys

import common
from common import DatasetError, field


def index_problems(problems, keys, path):
    """{str(id): problem} by the first of keys each problem has; duplicates are errors."""
    out = {}
    for number, problem in problems:
        value = next((problem[k] for k in keys if problem.get(k) is not None), None)
        if value is None or isinstance(value, (bool, dict, list)):
            raise DatasetError(f"{path}:{number}: missing \"{keys[0]}\"")
        if str(value) in out:
            raise DatasetError(f"{path}:{number}: {keys[0]} {value!r} appears twice")
        out[str(value)] = problem
    return out


def number_samples(samples, problems, keys, path):
    """[(job id, group, sample, problem)] for samples [(line, obj)]: the job id is
    "{problem}/{n}", n the sample's index among its problem's samples, in file order.

    problems maps str(id) -> problem; a sample of another problem is a DatasetError."""
    out, seen = [], {}
    for number, sample in samples:
        where = f"{path}:{number}" if number else path
        value = next((sample[k] for k in keys if sample.get(k) is not None), None)
        if value is None or isinstance(value, (bool, dict, list)):
            raise DatasetError(f"{where}: missing \"{keys[0]}\"")
        group = str(value)
        if group not in problems:
            raise DatasetError(f"{where}: unknown {keys[0]} {value!r} (not in the problems file)")
        n = seen.get(group, 0)
        seen[group] = n + 1
        out.append((f"{group}/{n}", group, sample, problems[group]))
    return out


def report_unattempted(problems, groups):
    left = len(set(problems) - set(groups))
    if left:
        print(f"note: {left} of {len(problems)} problems have no samples; pass@k is over the "
              f"{len(problems) - left} that do", file=sys.stderr)


def write_scores(out_path, lines, scores):
    """Writes the annotated sample lines, then pass@k as one JSON line on stdout (on stderr
    when the lines themselves went to stdout)."""
    common.write_jsonl(out_path, lines)
    print(json.dumps(scores), file=sys.stderr if out_path == "-" else sys.stdout)


class Harness:
    """A function-level dataset: load(path) -> {id: problem}; reference(problem) -> its
    solution or None; program(problem, completion, args) -> main.py."""

    def __init__(self, prog, doc, load, reference, program, reference_name):
        self.prog, self.doc = prog, doc
        self.load, self.reference, self.program = load, reference, program
        self.reference_name = reference_name
        self.extra_options = []  # (flags, kwargs) added to to-jobs

    def samples(self, args, problems):
        """[(job id, group, sample, problem)] from --samples, or from --canonical."""
        if args.canonical:
            made = []
            for key, p in problems.items():
                solution = self.reference(p)
                if not isinstance(solution, str):
                    raise DatasetError(f"{args.problems}: {key} has no {self.reference_name}")
                made.append((0, {"task_id": p["task_id"], "completion": solution}))
            return number_samples(made, problems, ["task_id"], args.problems)
        samples = common.read_jsonl(args.samples, "sample")
        for number, s in samples:
            field(s, "completion", str, f"{args.samples}:{number}")
        return number_samples(samples, problems, ["task_id"], args.samples)

    def to_jobs(self, args):
        problems = self.load(args.problems)
        lim = common.limits(args.timeout_s, args.memory_mb)
        numbered = self.samples(args, problems)
        jobs = ({"id": job_id, "group": group, "language": "python",
                 "files": {"main.py": self.program(problem, sample["completion"], args)},
                 "limits": dict(lim)}
                for job_id, group, sample, problem in numbered)  # written as made
        common.write_jsonl(args.output, jobs)
        print(f"{len(numbered)} jobs for {len({s[1] for s in numbered})} problems",
              file=sys.stderr)

    def from_results(self, args):
        problems = self.load(args.problems)
        samples = self.samples(args, problems)
        results = common.read_results(args.results)
        outs = common.outcomes([s[0] for s in samples], results, args.results,
                               args.missing_as_failed)
        lines = []
        for (_, _, sample, _), out in zip(samples, outs):
            line = dict(sample)
            line["result"] = out.harness_result() if out else "failed: no result"
            line["passed"] = bool(out and out.passed)
            lines.append(line)
        groups = [s[1] for s in samples]
        report_unattempted(problems, groups)
        counts = common.group_counts(groups, [line["passed"] for line in lines])
        output = args.output or (
            (args.problems if args.canonical else args.samples) + "_results.jsonl")
        write_scores(output, lines, common.pass_at_k(counts, args.k))

    def parser(self):
        p = argparse.ArgumentParser(
            prog=self.prog, description=self.doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog="Exit codes: 0 done, 2 bad input (the message names the file and line).")
        sub = p.add_subparsers(dest="command", required=True)
        for name, helptext in (("to-jobs", "samples -> brood jobs"),
                               ("from-results", "brood results -> annotated samples and pass@k")):
            s = sub.add_parser(name, help=helptext, description=helptext)
            s.add_argument("--problems", required=True, help="problems JSONL (or .jsonl.gz)")
            src = s.add_mutually_exclusive_group(required=True)
            src.add_argument("--samples", help="samples JSONL: task_id, completion")
            src.add_argument("--canonical", action="store_true",
                             help=f"one sample per problem: its {self.reference_name}")
            if name == "to-jobs":
                s.add_argument("-o", "--output", default="-",
                               help="jobs JSONL (default: stdout)")
                s.add_argument("--timeout-s", type=common.positive(float), default=3.0,
                               help="wall and CPU time of each sample, seconds (default 3.0)")
                s.add_argument("--memory-mb", type=common.positive(int), default=512,
                               help="memory of each sample (default 512)")
                for flags, kwargs in self.extra_options:
                    s.add_argument(*flags, **kwargs)
            else:
                s.add_argument("--results", required=True, help="brood's results JSONL")
                s.add_argument("-o", "--output", help="annotated samples (default: "
                               "<samples>_results.jsonl; - for stdout)")
                s.add_argument("--k", type=common.number_list, default=[1, 10, 100],
                               help="pass@k to report (default 1,10,100)")
                s.add_argument("--missing-as-failed", action="store_true",
                               help="count samples with no result as failed, not an error")
        return p

    def main(self, argv=None):
        def run():
            args = self.parser().parse_args(argv)
            (self.to_jobs if args.command == "to-jobs" else self.from_results)(args)
        return common.main(run)
