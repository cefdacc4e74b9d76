"""Shared code of the dataset converters (humaneval.py, mbpp.py, stdio.py).

- JSONL reading with errors that name the file and line, and writing ("-" is stdout/stdin;
  a name ending in .gz is read and written gzipped, as the reference harnesses ship them);
- the language presets of evaluated jobs and the common aliases of their names;
- brood's result records read tolerantly (any order, missing ones, base64 streams) and
  boiled down to an Outcome (passed, verdict, the line of stderr that explains a failure);
- pass@k, computed as OpenAI's human-eval harness does (the unbiased estimator in its
  numerically stable product form, averaged over problems, only for the k every problem has
  at least k samples for).

Every input error is a DatasetError; main() prints it as "error: ..." and exits 2.
"""

import argparse
import base64
import gzip
import json
import math
import sys

EXIT_INPUT = 2  # bad input: malformed lines, unknown ids, missing results

# Preset name -> the source file the preset builds and runs.
SOURCES = {
    "python": "main.py", "c": "main.c", "cpp": "main.cpp", "java": "Main.java",
    "javascript": "main.js", "go": "main.go", "rust": "main.rs", "sh": "main.sh",
}
ALIASES = {
    "py": "python", "py3": "python", "python3": "python", "pypy3": "python", "cpython": "python",
    "gcc": "c", "c99": "c", "c11": "c", "c17": "c", "gnu c": "c", "gnu c11": "c",
    "c++": "cpp", "g++": "cpp", "cxx": "cpp", "cc": "cpp", "cpp11": "cpp", "cpp14": "cpp",
    "cpp17": "cpp", "cpp20": "cpp", "c++11": "cpp", "c++14": "cpp", "c++17": "cpp",
    "c++20": "cpp", "gnu c++": "cpp", "gnu c++17": "cpp", "gnu c++20": "cpp",
    "java8": "java", "java11": "java", "java17": "java", "java21": "java",
    "js": "javascript", "node": "javascript", "nodejs": "javascript", "node.js": "javascript",
    "golang": "go", "rs": "rust", "bash": "sh", "shell": "sh",
    # CodeContests' Language enum, by number (1 is Python 2, which no preset runs).
    "2": "cpp", "3": "python", "4": "java",
}


class DatasetError(Exception):
    """An input the converters cannot use; the message says where and why."""


def language(name, where):
    """The preset for a language name or alias ("Python3", "c++", "js", ...)."""
    key = " ".join(str(name).strip().lower().split())
    key = ALIASES.get(key, key)
    if key not in SOURCES:
        raise DatasetError(f"{where}: unknown language {name!r} (known: "
                           f"{', '.join(SOURCES)}, and aliases such as python3, c++, cpp17, js)")
    return key


def _open(path, mode):
    if path == "-":
        return sys.stdin if "r" in mode else sys.stdout
    encoding = "utf-8-sig" if "r" in mode else "utf-8"  # a byte order mark is no JSON error
    if path.endswith(".gz"):
        return gzip.open(path, mode + "t", encoding=encoding)
    return open(path, mode, encoding=encoding)


def read_jsonl(path, what="line"):
    """[(line number, object)] of a JSONL file; blank lines are skipped.

    A line that is not a JSON object is a DatasetError naming the file and line."""
    out = []
    try:
        f = _open(path, "r")
        try:
            for number, text in enumerate(f, 1):
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as e:
                    raise DatasetError(f"{path}:{number}: malformed JSON: {e.msg} "
                                       f"(column {e.colno})") from None
                if not isinstance(obj, dict):
                    raise DatasetError(f"{path}:{number}: a {what} must be a JSON object, "
                                       f"not {type(obj).__name__}")
                out.append((number, obj))
        finally:
            if f is not sys.stdin:
                f.close()
    except OSError as e:
        raise DatasetError(f"{path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    return out


def write_jsonl(path, records):
    """Writes one compact JSON object a line; "-" is stdout."""
    try:
        f = _open(path, "w")
        try:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        finally:
            if f is not sys.stdout:
                f.close()
            else:
                f.flush()
    except OSError as e:
        raise DatasetError(f"{path}: {e.strerror or e}") from None


def field(obj, name, types, where, required=True):
    """obj[name] checked against types; a DatasetError naming `where` otherwise."""
    if name not in obj or obj[name] is None:
        if required:
            raise DatasetError(f"{where}: missing \"{name}\"")
        return None
    value = obj[name]
    if not isinstance(value, types) or isinstance(value, bool):
        names = types.__name__ if isinstance(types, type) else "/".join(t.__name__ for t in types)
        raise DatasetError(f"{where}: \"{name}\" must be {names}, not {type(value).__name__}")
    return value


def limits(wall_s, memory_mb):
    """A job's limits: wall and CPU time alike, in whole milliseconds (at least 1)."""
    ms = max(1, math.ceil(round(wall_s * 1000, 6)))
    return {"wall_ms": ms, "cpu_ms": ms, "memory_mb": max(1, int(math.ceil(memory_mb)))}


def number_list(text):
    """"1,10,100" -> [1, 10, 100] (argparse type)."""
    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}")
    if not ks or any(k < 1 for k in ks):
        raise argparse.ArgumentTypeError(f"k must be positive integers: {text!r}")
    return ks


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}")
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
        return value
    return parse


# ---- results -----------------------------------------------------------------------------

def text(blob):
    """A result's stream: a string, {"base64": ...} (decoded, bad UTF-8 replaced), or ""."""
    if isinstance(blob, str):
        return blob
    if isinstance(blob, dict) and isinstance(blob.get("base64"), str):
        try:
            return base64.b64decode(blob["base64"]).decode("utf-8", "replace")
        except ValueError:
            return ""
    return ""


def read_results(path):
    """{id: record} of a results JSONL written by `brood run`, in any order.

    Tolerant: lines that are not JSON objects (a run stopped mid-line) and records without
    a string id (invalid job lines) are skipped with a warning; a repeated id keeps its last
    record. A job whose record is missing is the caller's to report."""
    out = {}
    try:
        f = _open(path, "r")
        try:
            lines = list(enumerate(f, 1))
        finally:
            if f is not sys.stdin:
                f.close()
    except OSError as e:
        raise DatasetError(f"{path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    for number, line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            print(f"warning: {path}:{number}: not a result record with an id: skipped",
                  file=sys.stderr)
            continue
        out[record["id"]] = record
    return out


STATUS_VERDICT = {
    "timeout": "time_limit", "cpu_limit": "time_limit", "memory_limit": "memory_limit",
    "output_limit": "output_limit", "failed": "runtime_error", "signaled": "runtime_error",
    "violation": "runtime_error", "disk_limit": "runtime_error",
    "sandbox_error": "sandbox_error", "invalid_job": "invalid_job",
}


def last_line(s):
    lines = [line.strip() for line in s.splitlines() if line.strip()]
    return lines[-1] if lines else ""


class Outcome:
    """What a sample's result came to: passed, verdict, and a one-line reason if it failed."""

    def __init__(self, record):
        self.record = record
        verdict = record.get("verdict")
        status = record.get("status")
        if not isinstance(verdict, str):  # a plain (not evaluated) record: judge by status
            if status == "ok":
                verdict = "accepted" if record.get("passed", True) is not False else "wrong_answer"
            else:
                verdict = STATUS_VERDICT.get(status, "sandbox_error")
        passed = record.get("passed")
        self.passed = passed if isinstance(passed, bool) else verdict == "accepted"
        self.verdict = verdict
        tests = record.get("tests") if isinstance(record.get("tests"), list) else []
        self.tests_passed = record.get("tests_passed")
        self.tests_total = record.get("tests_total")
        if tests and not isinstance(self.tests_passed, int):
            self.tests_passed = sum(1 for t in tests
                                    if isinstance(t, dict) and t.get("verdict") == "accepted")
        self.tests = tests

    def reason(self):
        """The last non-empty line of the stderr that explains the failure, or the verdict."""
        streams = [self.record.get("stderr")]
        build = self.record.get("build")
        if isinstance(build, dict) and self.verdict == "compile_error":
            streams.insert(0, build.get("stderr"))
        for t in self.tests:  # the deciding test: the first that was not accepted
            if isinstance(t, dict) and t.get("verdict") not in ("accepted", "skipped"):
                streams.append(t.get("stderr"))
                break
        for s in streams:
            line = last_line(text(s))
            if line:
                return line
        error = self.record.get("error")
        if isinstance(error, str) and error:
            return f"{self.verdict}: {error}"
        return self.verdict

    def harness_result(self):
        """The reference harness's "result": "passed", "timed out" or "failed: ..."."""
        if self.passed:
            return "passed"
        if self.verdict == "time_limit":
            return "timed out"
        return f"failed: {self.reason()}"


def outcomes(ids, results, path, missing_as_failed):
    """[Outcome or None] for job ids; missing ones are an error unless missing_as_failed."""
    missing = [i for i in ids if i not in results]
    if missing and not missing_as_failed:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise DatasetError(f"{path}: no result for {len(missing)} of {len(ids)} samples "
                           f"({shown}); --missing-as-failed counts them as failed")
    if missing:
        print(f"warning: {path}: no result for {len(missing)} of {len(ids)} samples: "
              f"counted as failed", file=sys.stderr)
    extra = len(set(results) - set(ids))
    if extra:
        print(f"warning: {path}: {extra} results for ids that are not samples: ignored",
              file=sys.stderr)
    return [Outcome(results[i]) if i in results else None for i in ids]


# ---- pass@k ------------------------------------------------------------------------------

def estimate(n, c, k):
    """1 - C(n-c, k) / C(n, k), as human-eval computes it: 1 - prod(1 - k / i), i in n-c+1..n."""
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def pass_at_k(counts, ks):
    """{"pass@k": mean over problems} for counts [(n, c)]; only k <= every n."""
    if not counts:
        return {}
    return {f"pass@{k}": sum(estimate(n, c, k) for n, c in counts) / len(counts)
            for k in ks if all(n >= k for n, _ in counts)}


def group_counts(groups, passed):
    """[(n, c)] per group, in the order groups first appear."""
    table = {}
    for g, p in zip(groups, passed):
        n, c = table.get(g, (0, 0))
        table[g] = (n + 1, c + bool(p))
    return list(table.values())


def main(run):
    """Runs run() and turns a DatasetError into "error: ..." and exit code 2."""
    try:
        code = run()
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:
        return 1
    return code or 0
