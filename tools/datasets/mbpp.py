#!/usr/bin/env python3
"""MBPP-style problems and samples <-> brood evaluated jobs and results.

  mbpp.py to-jobs --problems P --samples S [-o jobs.jsonl] [--timeout-s 3] [--memory-mb 512]
  mbpp.py to-jobs --problems P --canonical [-o jobs.jsonl]
  mbpp.py from-results --problems P --samples S --results R [-o out.jsonl] [--k 1,10,100]

Problems: one JSON object a line, {"task_id" (int), "text", "code", "test_list" (assert
statements), "test_setup_code", "challenge_test_list"}; samples: {"task_id", "completion", ...}
(a task_id matches whether given as 11 or "11").

to-jobs makes one job per sample: id "{task_id}/{n}" (n: the sample's index among its task's
samples, in file order), group str(task_id), language python, main.py = completion + the
setup code + the asserts of test_list (and of challenge_test_list with --challenge), wall and
CPU time --timeout-s. --canonical makes one sample per problem of its reference `code`.

from-results writes each sample line with "result" ("passed", "timed out" or "failed: <last
line of stderr>") and "passed", in the samples' order, and prints pass@k as JSON.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import samples  # noqa: E402
from common import DatasetError, field  # noqa: E402


def load_problems(path):
    problems = common.read_jsonl(path, "problem")
    for number, p in problems:
        where = f"{path}:{number}"
        field(p, "task_id", (int, str), where)
        field(p, "code", str, where, required=False)
        field(p, "test_setup_code", str, where, required=False)
        for name in ("test_list", "challenge_test_list"):
            tests = field(p, name, list, where, required=(name == "test_list"))
            if tests is not None and not all(isinstance(t, str) for t in tests):
                raise DatasetError(f"{where}: \"{name}\" must be a list of strings")
    return samples.index_problems(problems, ["task_id"], path)


def program(problem, completion, args=None):
    tests = list(problem["test_list"])
    if args is not None and args.challenge:
        tests += problem.get("challenge_test_list") or []
    return (completion + "\n" + (problem.get("test_setup_code") or "") + "\n"
            + "\n".join(tests) + "\n")


HARNESS = samples.Harness("mbpp.py", __doc__, load_problems, lambda p: p.get("code"), program,
                          "reference code")
HARNESS.extra_options.append((["--challenge"], {
    "action": "store_true", "help": "also run the asserts of challenge_test_list"}))

if __name__ == "__main__":
    sys.exit(HARNESS.main())
