"""LiveBrood: the example datasets through a real `brood run` and back.

Each example goes to-jobs -> `$BROOD_BIN run -j 2` -> from-results; every sample must come
back, with the outcome its example was written to have, and pass@k as worked out by hand.
Skipped without BROOD_BIN, and while that brood does not evaluate jobs (its result for a
`language` job has no verdict). About 15 s on 2 cores (the slow samples wait out their limit).
"""

import json
import os
import subprocess
import tempfile
import unittest

from helpers import convert, example, read_jsonl, write_jsonl

# humaneval and mbpp: the harness's result, by its kind ("failed: ..." is "failed").
HUMANEVAL = ["passed", "passed", "failed", "timed out",   # Demo/0: right, right, assert, loop
             "passed", "failed", "failed", "passed",      # Demo/1: syntax error, assert
             "passed", "passed", "passed", "failed",      # Demo/2
             "failed", "timed out", "failed", "passed"]   # Demo/3: assert, loop, syntax error
MBPP = ["passed", "failed", "passed", "failed", "passed", "failed", "passed"]
STDIO = ["accepted", "accepted", "accepted", "wrong_answer", "runtime_error",   # sum-pairs
         "accepted", "accepted", "time_limit", "compile_error", "wrong_answer",  # max-subarray
         "accepted", "accepted", "runtime_error", "runtime_error"]               # 4001


def brood_evaluates(brood, d):
    """Whether this brood judges a `language` job (the eval work may not have landed)."""
    jobs = write_jsonl(os.path.join(d, "probe.jsonl"), [{
        "id": "probe", "group": "probe", "language": "python",
        "files": {"main.py": "print(1)\n"}, "limits": {"wall_ms": 10000}}])
    out = os.path.join(d, "probe-results.jsonl")
    try:
        subprocess.run([brood, "run", jobs, "-o", out], capture_output=True, timeout=120)
        return any("verdict" in r for r in read_jsonl(out))
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return False


class LiveBrood(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.brood = os.environ.get("BROOD_BIN")
        if not cls.brood:
            raise unittest.SkipTest("BROOD_BIN not set")
        cls._dir = tempfile.TemporaryDirectory()
        cls.dir = cls._dir.name
        if not brood_evaluates(cls.brood, cls.dir):
            cls._dir.cleanup()
            raise unittest.SkipTest(f"{cls.brood}: not there, or does not evaluate jobs yet")

    @classmethod
    def tearDownClass(cls):
        cls._dir.cleanup()

    def round_trip(self, script, inputs, to_jobs_args, k):
        """(annotated sample lines, pass@k) of one example through brood."""
        jobs = os.path.join(self.dir, script + "-jobs.jsonl")
        results = os.path.join(self.dir, script + "-results.jsonl")
        code, _, err = convert(script, "to-jobs", *inputs, "-o", jobs, *to_jobs_args)
        self.assertEqual(code, 0, err)
        p = subprocess.run([self.brood, "run", jobs, "-o", results, "-j", "2"],
                           capture_output=True, text=True, timeout=600)
        self.assertTrue(os.path.exists(results), p.stderr)
        out = os.path.join(self.dir, script + "-out.jsonl")
        code, stdout, err = convert(script, "from-results", *inputs, "--results", results,
                                    "-o", out, "--k", k)
        self.assertEqual(code, 0, err)
        return read_jsonl(out), json.loads(stdout)

    def test_humaneval(self):
        lines, scores = self.round_trip("humaneval", [
            "--problems", example("humaneval_problems.jsonl"),
            "--samples", example("humaneval_samples.jsonl")], ["--timeout-s", "2"], "1,2")
        self.assertEqual([x["result"].split(":")[0] for x in lines], HUMANEVAL,
                         [x["result"] for x in lines])
        self.assertIn("AssertionError", lines[2]["result"])
        self.assertIn("SyntaxError", lines[5]["result"])
        self.assertAlmostEqual(scores["pass@1"], (2 + 2 + 3 + 1) / 16)
        self.assertAlmostEqual(scores["pass@2"], (5 / 6 + 5 / 6 + 1 + 0.5) / 4)

    def test_mbpp(self):
        lines, scores = self.round_trip("mbpp", [
            "--problems", example("mbpp_problems.jsonl"),
            "--samples", example("mbpp_samples.jsonl")], ["--timeout-s", "2"], "1")
        self.assertEqual([x["result"].split(":")[0] for x in lines], MBPP,
                         [x["result"] for x in lines])
        self.assertAlmostEqual(scores["pass@1"], (0.5 + 0.5 + 2 / 3) / 3)

    def test_stdio(self):
        lines, scores = self.round_trip("stdio", [
            "--problems", example("stdio_problems.jsonl"),
            "--samples", example("stdio_samples.jsonl")], [], "1,2")
        self.assertEqual([x["verdict"] for x in lines], STDIO)
        self.assertEqual([(x["tests_passed"], x["tests_total"]) for x in lines[:5]],
                         [(4, 4)] * 3 + [(0, 4)] * 2)
        self.assertAlmostEqual(scores["pass@1"], (0.6 + 0.4 + 0.5) / 3)
        self.assertAlmostEqual(scores["pass@2"], (0.9 + 0.7 + 5 / 6) / 3)
