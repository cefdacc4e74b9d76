#!/usr/bin/python3
"""Turns what cpython-suite.sh collected into outcomes.tsv, summary.txt, failing-cases.txt,
regrtest.log / logs/, junit.xml / junit/ and brood-result.json (see cpython-suite.sh).

    cpython-suite-report.py exec|per-test OUTDIR ELAPSED_S ENGINE_OPTS
"""
import base64
import collections
import gzip
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

# "0:01:02 load avg: 1.23 [ 51/405/1] test_tcl passed -- running: ..." (the time and load are
# printed only by some versions; "/1" counts failures so far)
PROGRESS = re.compile(r"^(?:\d+:\d+:\d+ )?(?:load avg: [\d.]+ )?\[\s*\d+/\d+(?:/\d+)?\] (test_\S+) (.*?)(?: -- .*)?$")
RESULT_WORDS = [
    ("passed", "passed"), ("failed (env changed)", "env_changed"), ("failed", "failed"),
    ("skipped (resource denied)", "resource_denied"), ("skipped", "skipped"),
    ("ran no tests", "ran_no_tests"), ("crashed", "crashed"), ("timed out", "timed_out"),
    ("interrupted", "interrupted"),
]
SECTION = re.compile(r"^(?:All )?(\d+) (?:tests?|re-run tests?) ?(.*?)$")
ORDER = ["passed", "passed_on_rerun", "failed", "env_changed", "crashed", "timed_out", "interrupted",
         "not_run", "skipped", "resource_denied", "ran_no_tests"]


def outcome_of(text):
    for prefix, outcome in RESULT_WORDS:
        if text.startswith(prefix):
            return outcome
    return None


def split_output(stdout):
    """regrtest's log, its exit code and the JUnit XML (bytes) out of the task's stdout."""
    if isinstance(stdout, dict):
        stdout = base64.b64decode(stdout["base64"]).decode("utf-8", "replace")
    log, _, rest = stdout.partition("@@REGRTEST-EXIT ")
    rc, _, rest = rest.partition("\n")
    junit = None
    if "@@JUNIT-BEGIN\n" in rest:
        b64 = rest.split("@@JUNIT-BEGIN\n", 1)[1].split("@@JUNIT-END", 1)[0]
        try:
            junit = gzip.decompress(base64.b64decode(b64))
        except Exception as e:  # a cut-short stream
            junit = None
            log += "\n[cpython-suite: JUnit XML unreadable: %s]\n" % e
    return log, (int(rc) if rc.strip().isdigit() else None), junit


def parse_log(log):
    """First-run outcome per test (progress lines), and the final summary's sections."""
    first, sections = {}, {}
    in_rerun = False
    current = None
    for line in log.splitlines():
        if line.startswith("Re-running failed tests"):
            in_rerun = True
        m = PROGRESS.match(line)
        if m and not in_rerun:
            o = outcome_of(m.group(2))
            if o:
                first.setdefault(m.group(1), o)
            continue
        s = SECTION.match(line)
        if s and not line.startswith(" "):
            current = s.group(2).rstrip(".:") or "OK"
            if "re-run" in line:
                current = "re-run"
            sections[current] = []
            continue
        if current and line.startswith("    "):
            sections[current].extend(line.split())
        elif not line.strip():
            pass
        else:
            current = None
    return first, sections


def junit_cases(junit_bytes):
    """(case name, outcome, message) for every test case in a JUnit XML, the last run winning (a
    re-run comes after the first run); outcome: passed, skipped, failure, error."""
    cases = {}
    if not junit_bytes:
        return cases
    try:
        root = ET.fromstring(junit_bytes)
    except ET.ParseError as e:
        cases["[JUnit XML does not parse]"] = ("error", str(e))
        return cases
    for case in root.iter("testcase"):
        name = case.get("name", "?")
        if case.get("classname"):
            name = "%s.%s" % (case.get("classname"), name)
        outcome, msg = "passed", ""
        for kind in ("error", "failure", "skipped"):
            el = case.find(kind)
            if el is not None:
                outcome = kind
                lines = (el.get("message") or el.text or "").strip().splitlines()
                msg = lines[-1][:300] if kind != "skipped" and lines else (lines[0][:300] if lines else "")
                break
        prev = cases.get(name)
        if prev and prev[0] != outcome:
            msg = "%s (first run: %s)" % (msg, prev[0])
        cases[name] = (outcome, msg)
    return cases


BLOCK = re.compile(r"^(ERROR|FAIL): (test\w*) \(([\w.]+)\)(.*)$")


def log_failures(log):
    """'ERROR test.mod.Class.test_x (subtest): the exception's last line' for every failure block
    unittest printed (the verbose re-run prints them all, subtests included)."""
    out, lines = [], log.splitlines()
    for i, line in enumerate(lines):
        m = BLOCK.match(line)
        if not m:
            continue
        exc = ""
        for follow in lines[i + 2:]:
            if follow.startswith("=" * 20) or follow.startswith("-" * 20) or follow in ("Stdout:", "Stderr:"):
                break
            if follow and not follow[0].isspace() and not follow.startswith("Traceback"):
                exc = follow
        out.append("%s %s%s: %s" % (m.group(1), m.group(3), m.group(4), exc[:300]))
    return out


def final_outcomes(first, sections):
    final = dict(first)
    failed_final = set(sections.get("failed", []))
    for t in sections.get("re-run", []):
        if t in failed_final:
            final[t] = "failed"
        elif first.get(t) in ("failed", "crashed", "timed_out"):
            final[t] = "passed_on_rerun"
    for t in failed_final:
        final.setdefault(t, "failed")
    for t in sections.get("altered the execution environment", []):
        final[t] = "env_changed"
    for t in sections.get("omitted", []):
        final.setdefault(t, "not_run")
    return final


def main():
    mode, outdir, elapsed, engine_opts = sys.argv[1:5]
    os.chdir(outdir)
    rows = []  # (test, final, first, brood status)
    junits, logs, notes, records = [], [], [], []
    ended_in = {}  # per-test: test file brood ended -> the case it was in
    denied = {}  # test file -> the system calls the policy denied it (brood's denied_calls)
    if mode == "exec":
        with open("result.raw.json") as f:
            text = f.read().strip()
        if not text:
            print("cpython-suite: brood printed no result record; its stderr:\n" + open("brood.stderr").read())
            return 1
        r = json.loads(text)
        log, rc, junit = split_output(r.get("stdout", ""))
        logs.append(log)
        with open("regrtest.log", "w") as f:
            f.write(log)
            stderr = r.get("stderr")
            if stderr:
                f.write("\n==== stderr ====\n%s" % (stderr if isinstance(stderr, str) else "<binary>"))
        if junit:
            with open("junit.xml", "wb") as f:
                f.write(junit)
            junits.append(("", junit))
        first, sections = parse_log(log)
        final = final_outcomes(first, sections)
        for t in sorted(final):
            rows.append((t, final[t], first.get(t, "-"), r["status"]))
        if r.get("denied_calls"):
            denied["(the whole run)"] = r["denied_calls"]
        records.append({k: v for k, v in r.items() if k not in ("stdout", "stderr")})
        notes.append("brood status %s, exit %s, signal %s, wall %.0f s, limits_hit %s, regrtest exit %s" % (
            r["status"], r.get("exit_code"), r.get("signal"), r.get("wall_ms", 0) / 1000,
            r.get("limits_hit"), rc))
        if r["status"] != "ok" or rc is None:
            notes.append("the run did not complete: outcomes below are only the test files reported before it ended")
    else:
        os.makedirs("logs", exist_ok=True)
        os.makedirs("junit", exist_ok=True)
        with open("jobs.jsonl") as f:
            wanted = [json.loads(l)["id"] for l in f]
        results = {}
        if os.path.exists("results.jsonl"):
            with open("results.jsonl") as f:
                for line in f:
                    r = json.loads(line)
                    results[r["id"]] = r
        for t in wanted:
            r = results.get(t)
            if r is None:
                rows.append((t, "not_run", "-", "no result"))
                continue
            log, rc, junit = split_output(r.get("stdout", "") or "")
            logs.append(log)
            with open("logs/%s.log" % t, "w") as f:
                f.write(log)
                stderr = r.get("stderr")
                if stderr:
                    f.write("\n==== stderr ====\n%s" % (stderr if isinstance(stderr, str) else "<binary>"))
                if r.get("error"):
                    f.write("\n==== brood error ====\n%s\n" % r["error"])
            if junit:
                with open("junit/%s.xml" % t, "wb") as f:
                    f.write(junit)
                junits.append((t, junit))
            first, sections = parse_log(log)
            final = final_outcomes(first, sections)
            o = final.get(t)
            if o is None:  # run sequentially, regrtest's progress line names no result: its summary
                if t in sections.get("skipped", []):
                    o = "resource_denied" if re.search(r"^%s skipped -- Use of the .* resource not enabled" % t,
                                                       log, re.M) else "skipped"
                elif t in sections.get("run no tests", []):
                    o = "ran_no_tests"
                elif "OK" in sections:
                    o = "passed"
            if r["status"] not in ("ok", "failed"):  # brood ended it: violation, timeout, memory...
                o = "timed_out" if r["status"] == "timeout" else "crashed"
                # the case it was in: the last "test_x (test.mod.Class.test_x) ..." line unfinished
                running = [l for l in log.splitlines() if re.match(r"^\s*test\w* \([\w.]+\)", l)]
                if running:
                    ended_in[t] = running[-1].strip()[:200]
            elif o is None:  # regrtest died before it reported the file
                o = "crashed"
            rows.append((t, o, first.get(t, "-"), r["status"]))
            if r.get("denied_calls"):
                denied[t] = r["denied_calls"]
            records.append({k: v for k, v in r.items() if k not in ("stdout", "stderr")})
        statuses = collections.Counter(r["status"] for r in results.values())
        notes.append("brood statuses: %s" % ", ".join("%s %d" % kv for kv in sorted(statuses.items())))

    with open("brood-result.json", "w") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    with open("outcomes.tsv", "w") as f:
        f.write("test\toutcome\tfirst_run\tbrood_status\tdenied_calls\n")
        for row in rows:
            f.write("\t".join(row) + "\t%s\n" % ",".join(denied.get(row[0], [])))
    # every test case with its outcome (the JUnit XML: no subtests), for comparing two runs
    cases = {}
    for t, j in junits:
        cases.update(junit_cases(j))
    with open("cases.tsv", "w") as f:
        f.write("case\toutcome\tmessage\n")
        for name in sorted(cases):
            o, msg = cases[name]
            f.write("%s\t%s\t%s\n" % (name, o, msg.replace("\t", " ")))
    # the failures unittest printed (subtests included), then those only the XML has
    failing = []
    for log in logs:
        failing.extend(x for x in log_failures(log) if x not in failing)
    printed = {x.split(" ")[1].split("(")[0].rstrip(":") for x in failing}
    failing += ["%s %s: %s" % (o.upper(), n, m) for n, (o, m) in sorted(cases.items())
                if o in ("error", "failure") and n not in printed]
    with open("failing-cases.txt", "w") as f:
        f.write("\n".join(failing) + ("\n" if failing else ""))
    case_counts = collections.Counter(o for o, _ in cases.values())
    # skips whose reason is a permission or a missing call: where a refused system call hides
    # under --on-violation errno (EPERM, ENOSYS) when the test skips instead of failing
    telling = re.compile(r"not permitted|Errno 1\b|EPERM|ENOSYS|Errno 38\b|Function not implemented|"
                         r"privilege|Permission denied|seccomp|namespace|CAP_", re.I)
    perm_skips = ["%s: %s" % (n, m) for n, (o, m) in sorted(cases.items()) if o == "skipped" and telling.search(m)]

    by = collections.defaultdict(list)
    for t, o, _, _ in rows:
        by[o].append(t)
    lines = ["cpython-suite: %s mode, %s, %d test files in %s s (%s)" % (
        mode, engine_opts or "default engine options", len(rows), elapsed,
        "%d min" % (int(elapsed) // 60))]
    lines += ["  " + n for n in notes]
    lines.append("  " + "  ".join("%s %d" % (o, len(by[o])) for o in ORDER if by.get(o)))
    for o in ORDER:
        if o in ("passed", "skipped", "resource_denied") or not by.get(o):
            continue
        lines.append("%s (%d): %s" % (o, len(by[o]), " ".join(sorted(by[o]))))
    if mode == "per-test":
        odd = [(t, s) for t, _, _, s in rows if s not in ("ok", "failed")]
        if odd:
            lines.append("brood ended (not ok/failed): %d" % len(odd))
            lines += ["  %s: %s, in: %s" % (t, s, ended_in.get(t, "?")) for t, s in odd]
    if denied:
        calls = collections.Counter(c for cs in denied.values() for c in cs)
        lines.append("denied system calls (brood's denied_calls, --on-violation kill or log): %s" % "  ".join(
            "%s %d" % kv for kv in sorted(calls.items())))
        lines += ["  %s: %s" % (t, " ".join(cs)) for t, cs in sorted(denied.items())]
    for o in ("skipped", "resource_denied"):
        if by.get(o):
            lines.append("%s (%d): %s" % (o, len(by[o]), " ".join(sorted(by[o]))))
    lines.append("test cases (JUnit, no subtests): %s (cases.tsv)" % "  ".join(
        "%s %d" % (o, case_counts[o]) for o in ("passed", "skipped", "failure", "error") if case_counts[o]))
    lines.append("failing test cases, subtests included: %d (failing-cases.txt)" % len(failing))
    lines += ["  " + x for x in failing[:200]]
    if perm_skips:
        lines.append("skipped test cases whose reason names a permission or a missing call: %d" % len(perm_skips))
        lines += ["  " + x for x in perm_skips]
    text = "\n".join(lines) + "\n"
    with open("summary.txt", "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
