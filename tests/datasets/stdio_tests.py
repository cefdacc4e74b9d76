"""Tests of tools/datasets/stdio.py: to-jobs on the example files (every test form, limits,
language aliases, options), from-results on hand-made results, bad inputs. Run by
test_datasets.py."""

import json

from helpers import Temp, convert, example, read_jsonl, result, to_jobs, write_jsonl

STDIO = ["--problems", example("stdio_problems.jsonl"),
         "--samples", example("stdio_samples.jsonl")]


class Stdio(Temp):
    def test_to_jobs(self):
        jobs = to_jobs(self, "stdio", *STDIO)
        self.assertEqual([j["id"] for j in jobs], [f"sum-pairs/{n}" for n in range(5)]
                         + [f"max-subarray/{n}" for n in range(5)] + [f"4001/{n}" for n in range(4)])
        self.assertEqual([j["group"] for j in jobs],
                         ["sum-pairs"] * 5 + ["max-subarray"] * 5 + ["4001"] * 4)
        # python3, c, c++17, python, c; cpp, python3, py, c++, c; python, C, cpp, python
        self.assertEqual([j["language"] for j in jobs],
                         ["python", "c", "cpp", "python", "c", "cpp", "python", "python", "cpp",
                          "c", "python", "c", "cpp", "python"])
        samples = read_jsonl(example("stdio_samples.jsonl"))
        for job, sample in zip(jobs, samples):
            source = {"python": "main.py", "c": "main.c", "cpp": "main.cpp"}[job["language"]]
            self.assertEqual(job["files"], {source: sample["code"]})
            self.assertEqual(job["stop"], "first_failure")
        self.assertEqual([len(j["tests"]) for j in jobs], [4] * 5 + [5] * 5 + [3] * 4)
        self.assertEqual(jobs[0]["limits"], {"wall_ms": 1000, "cpu_ms": 1000, "memory_mb": 128})
        self.assertEqual(jobs[5]["limits"], {"wall_ms": 1500, "cpu_ms": 1500, "memory_mb": 256})
        self.assertEqual(jobs[10]["limits"], {"wall_ms": 2000, "cpu_ms": 2000, "memory_mb": 256})
        self.assertEqual(jobs[0]["tests"][1], {"id": "1", "stdin": "3\n1 1\n-5 5\n100 200\n",
                                               "expect": {"stdout": "2\n0\n300\n",
                                                          "match": "tokens"}})
        # CodeContests sets in order public, private, generated; APPS from its JSON string
        self.assertEqual([t["stdin"] for t in jobs[5]["tests"]][:3],
                         ["5\n1 -2 3 4 -1\n", "3\n-5 -1 -3\n", "1\n42\n"])
        self.assertEqual(jobs[10]["tests"][2]["expect"]["stdout"], "7\n")

    def test_options(self):
        jobs = to_jobs(self, "stdio", *STDIO, "--match", "float", "--abs-tol", "0.01",
                       "--time-scale", "2.5", "--stop", "all", "--tests", "public,generated",
                       "--max-tests", "2", "--default-time-s", "4", "--default-memory-mb", "64")
        self.assertEqual(jobs[0]["limits"], {"wall_ms": 2500, "cpu_ms": 2500, "memory_mb": 128})
        self.assertEqual(jobs[5]["limits"], {"wall_ms": 3750, "cpu_ms": 3750, "memory_mb": 256})
        self.assertEqual(jobs[10]["limits"], {"wall_ms": 10000, "cpu_ms": 10000, "memory_mb": 64})
        self.assertEqual([len(j["tests"]) for j in jobs[::5]], [2, 2, 2])
        self.assertEqual([t["stdin"] for t in jobs[5]["tests"]],
                         ["5\n1 -2 3 4 -1\n", "6\n2 -1 2 -1 2 -1\n"])
        self.assertEqual(jobs[0]["tests"][0]["expect"],
                         {"stdout": "3\n", "match": "float", "abs_tol": 0.01, "rel_tol": 1e-6})
        self.assertEqual({j["stop"] for j in jobs}, {"all"})

    def test_from_results(self):
        ids = [j["id"] for j in to_jobs(self, "stdio", *STDIO)]
        rs = {i: result(i, "accepted", tests_passed=4, tests_total=4) for i in ids}
        rs["sum-pairs/3"] = result("sum-pairs/3", "wrong_answer", tests_passed=0, tests_total=4,
                                   tests=[{"id": "0", "verdict": "wrong_answer"}])
        rs["max-subarray/3"] = result("max-subarray/3", "compile_error",
                                      build={"status": "failed", "stderr": "error: x"})
        rs["max-subarray/4"] = result("max-subarray/4", "wrong_answer", tests=[
            {"id": "0", "verdict": "accepted"}, {"id": "1", "verdict": "wrong_answer"}])
        rs["4001/2"] = result("4001/2", "runtime_error", {"base64": "/w=="},
                              tests_passed=0, tests_total=3)
        del rs["4001/3"]
        write_jsonl(self.path("r.jsonl"), list(rs.values()))
        args = ["from-results", *STDIO, "--results", self.path("r.jsonl"),
                "-o", self.path("o.jsonl"), "--k", "1,4,5"]
        self.fails("stdio", args, "no result for 1 of 14 samples (4001/3)")
        code, stdout, err = convert("stdio", *args, "--missing-as-failed")
        self.assertEqual(code, 0, err)
        got = [(x["verdict"], x["passed"], x["tests_passed"], x["tests_total"])
               for x in read_jsonl(self.path("o.jsonl"))]
        self.assertEqual(got[3], ("wrong_answer", False, 0, 4))
        self.assertEqual(got[8], ("compile_error", False, 0, 5))  # no test fields: the problem's
        self.assertEqual(got[9], ("wrong_answer", False, 1, 5))  # passed counted from tests
        self.assertEqual(got[12:], [("runtime_error", False, 0, 3), ("missing", False, 0, 3)])
        self.assertIn("14 samples: accepted 9, compile_error 1, missing 1, runtime_error 1", err)
        # c = 4 of 5, 3 of 5, 2 of 4; pass@5 is left out (4001 has 4 samples)
        self.assertEqual(set(json.loads(stdout)), {"pass@1", "pass@4"})
        self.assertAlmostEqual(json.loads(stdout)["pass@1"], (0.8 + 0.6 + 0.5) / 3)
        self.assertAlmostEqual(json.loads(stdout)["pass@4"], (1 + 1 + 1) / 3)

    def test_bad_inputs(self):
        problems = example("stdio_problems.jsonl")
        lang = write_jsonl(self.path("l.jsonl"), [{"name": "sum-pairs", "language": "cobol",
                                                   "code": ""}])
        self.fails("stdio", ["to-jobs", "--problems", problems, "--samples", lang],
                   "l.jsonl:1:", "unknown language 'cobol'")
        unknown = write_jsonl(self.path("u.jsonl"), [{"name": "nope", "language": "c",
                                                      "code": ""}])
        self.fails("stdio", ["to-jobs", "--problems", problems, "--samples", unknown],
                   "u.jsonl:1:", "unknown name 'nope'")
        bad = [{"name": "a", "tests": []},
               {"name": "a", "public_tests": {"input": ["1"], "output": []}},
               {"problem_id": 1, "input_output": json.dumps({"fn_name": "f", "inputs": [[1]],
                                                            "outputs": [1]})},
               {"name": "a", "tests": [{"input": "1"}], "time_limit": "2s"}]
        for problem, needle in zip(bad, ["no tests", "1 inputs but 0 outputs", "call-based",
                                         "\"tests\" must be"]):
            path = write_jsonl(self.path("p.jsonl"), [{"name": "b", "tests": [
                {"input": "", "output": ""}]}, problem])
            self.fails("stdio", ["to-jobs", "--problems", path, "--samples", lang],
                       "p.jsonl:2:", needle)
