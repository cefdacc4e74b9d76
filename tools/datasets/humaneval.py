#!/usr/bin/env python3
"""HumanEval-style problems and samples <-> brood evaluated jobs and results.

  humaneval.py to-jobs --problems P --samples S [-o jobs.jsonl] [--timeout-s 3] [--memory-mb 512]
  humaneval.py to-jobs --problems P --canonical [-o jobs.jsonl]
  humaneval.py from-results --problems P --samples S --results R [-o out.jsonl] [--k 1,10,100]

Problems: one JSON object a line, {"task_id", "prompt", "test" (defines check(candidate)),
"entry_point", "canonical_solution" (optional)}; samples: {"task_id", "completion", ...}, the
files OpenAI's human-eval harness reads (either may be .gz).

to-jobs makes one job per sample: id "{task_id}/{n}" (n: the sample's index among its task's
samples, in file order), group task_id, language python, main.py = prompt + completion + the
test + check(entry_point), wall and CPU time --timeout-s. --canonical makes one sample per
problem of its canonical_solution instead (to check a problem file).

from-results writes, like the harness's <samples>_results.jsonl, each sample line with
"result" ("passed", "timed out" or "failed: <last line of stderr>") and "passed", in the
samples' order, and prints pass@k as JSON.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import samples  # noqa: E402
from common import field  # noqa: E402


def load_problems(path):
    problems = common.read_jsonl(path, "problem")
    for number, p in problems:
        where = f"{path}:{number}"
        field(p, "task_id", str, where)
        for name in ("prompt", "test", "entry_point"):
            field(p, name, str, where)
        field(p, "canonical_solution", str, where, required=False)
    return samples.index_problems(problems, ["task_id"], path)


def program(problem, completion, args=None):
    return (problem["prompt"] + completion + "\n\n" + problem["test"] + "\n\n"
            + f"check({problem['entry_point']})\n")


HARNESS = samples.Harness("humaneval.py", __doc__, load_problems,
                          lambda p: p.get("canonical_solution"), program, "canonical_solution")

if __name__ == "__main__":
    sys.exit(HARNESS.main())
