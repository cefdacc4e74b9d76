"""Helpers of the dataset converter tests: paths, running a converter, JSONL files, and the
check that a job is a well-formed evaluated job (the fields of the brief's job format)."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, "tools", "datasets")
EXAMPLES = os.path.join(ROOT, "examples", "datasets")
sys.path.insert(0, TOOLS)

SOURCES = {"python": "main.py", "c": "main.c", "cpp": "main.cpp", "java": "Main.java",
           "javascript": "main.js", "go": "main.go", "rust": "main.rs", "sh": "main.sh"}
JOB_KEYS = {"id", "group", "language", "files", "limits", "tests", "stop"}


def example(name):
    return os.path.join(EXAMPLES, name)


def convert(script, *args, cwd=None, stdin=None):
    """Runs tools/datasets/<script>.py with args from another directory (a temporary one by
    default): (exit code, stdout, stderr)."""
    with tempfile.TemporaryDirectory() as elsewhere:
        p = subprocess.run([sys.executable, os.path.join(TOOLS, script + ".py"), *args],
                           cwd=cwd or elsewhere, input=stdin, capture_output=True, text=True,
                           timeout=120)
    return p.returncode, p.stdout, p.stderr


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path, records):
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path


def to_jobs(test, script, *args):
    """The jobs of `script to-jobs args` (which must succeed) as a list."""
    code, out, err = convert(script, "to-jobs", *args)
    test.assertEqual(code, 0, err)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def check_job(test, job):
    """A job has the fields and types of an evaluated job, and nothing else."""
    test.assertLessEqual(set(job), JOB_KEYS, job.get("id"))
    test.assertIsInstance(job["id"], str)
    test.assertTrue(job["id"])
    test.assertIsInstance(job["group"], str)
    test.assertIn(job["language"], SOURCES)
    test.assertIsInstance(job["files"], dict)
    test.assertIn(SOURCES[job["language"]], job["files"])
    for path, content in job["files"].items():
        test.assertIsInstance(path, str)
        test.assertIsInstance(content, str)
    test.assertEqual(set(job["limits"]), {"wall_ms", "cpu_ms", "memory_mb"})
    for value in job["limits"].values():
        test.assertIs(type(value), int)
        test.assertGreater(value, 0)
    if "stop" in job:
        test.assertIn(job["stop"], ("first_failure", "all"))
    if "tests" in job:
        test.assertTrue(job["tests"])
        ids = [t["id"] for t in job["tests"]]
        test.assertEqual(ids, [str(i) for i in range(len(ids))])
        for t in job["tests"]:
            test.assertLessEqual(set(t), {"id", "stdin", "args", "expect", "limits"})
            test.assertIsInstance(t["stdin"], str)
            test.assertIsInstance(t["expect"]["stdout"], str)
            test.assertIn(t["expect"]["match"], ("exact", "trim", "tokens", "float"))


def result(job_id, verdict, stderr="", **extra):
    """A result record as brood writes it for an evaluated job (the fields readers use)."""
    status = {"accepted": "ok", "wrong_answer": "ok", "time_limit": "timeout",
              "compile_error": "failed", "memory_limit": "memory_limit"}.get(verdict, "failed")
    r = {"id": job_id, "status": status, "exit_code": 0 if status == "ok" else 1,
         "stdout": "", "stderr": stderr, "wall_ms": 12.5, "verdict": verdict,
         "passed": verdict == "accepted"}
    r.update(extra)
    return r


class Temp(unittest.TestCase):
    def setUp(self):
        self._dir = tempfile.TemporaryDirectory()
        self.dir = self._dir.name

    def tearDown(self):
        self._dir.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def fails(self, script, args, *needles):
        """The converter exits 2 with an error that names each needle."""
        code, out, err = convert(script, *args)
        self.assertEqual(code, 2, err)
        self.assertTrue(err.startswith("error: "), err)
        for needle in needles:
            self.assertIn(needle, err)
        return err
