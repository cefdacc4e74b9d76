#!/usr/bin/python3
"""Compares two cpython-suite.sh result folders (say, the old seccomp policy and the new):

    tests/workloads/cpython-suite-compare.py BEFORE_DIR AFTER_DIR

Prints the test files whose outcome changed (outcomes.tsv), the test cases whose outcome changed
(cases.tsv, from the JUnit XML: a case that passed before and is skipped, failing or missing now
is what a tighter policy can cost), and the failing cases only one side has (failing-cases.txt,
subtests included). Exit code: 0 when nothing got worse, 1 when something did.
"""
import csv
import re
import sys

WORSE = {"passed": 0, "passed_on_rerun": 1, "skipped": 2, "resource_denied": 2, "ran_no_tests": 2,
         "env_changed": 3, "failed": 4, "crashed": 5, "timed_out": 5, "interrupted": 5, "not_run": 5}
CASE_WORSE = {"passed": 0, "skipped": 1, "failure": 2, "error": 2, "missing": 3}


def read_tsv(path, key, value):
    with open(path, newline="") as f:
        return {row[key]: row for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)}


def main(before, after):
    worse = False
    ob = read_tsv(before + "/outcomes.tsv", "test", "outcome")
    oa = read_tsv(after + "/outcomes.tsv", "test", "outcome")
    print("== test files whose outcome changed (before -> after)")
    only_b, only_a = sorted(set(ob) - set(oa)), sorted(set(oa) - set(ob))
    if only_b or only_a:  # a run of a subset: compare what both ran
        print("(test files only before: %d, only after: %d; compared: the %d both ran)" % (
            len(only_b), len(only_a), len(set(ob) & set(oa))))
    for t in sorted(set(ob) & set(oa)):
        b = ob[t]["outcome"]
        a = oa[t]["outcome"]
        if b != a:
            got_worse = WORSE.get(a, 5) > WORSE.get(b, 5)
            worse |= got_worse
            extra = ""
            if oa.get(t, {}).get("brood_status") not in (None, "ok", "failed", "-"):
                extra = " (brood: %s)" % oa[t]["brood_status"]
            print("%s %-32s %s -> %s%s" % ("WORSE" if got_worse else "     ", t, b, a, extra))
    db = {t: r.get("denied_calls") or "" for t, r in ob.items()}
    da = {t: r.get("denied_calls") or "" for t, r in oa.items()}
    if any(da.values()) or any(db.values()):
        print("== denied system calls per test file (brood's denied_calls; kill or log runs)")
        for t in sorted(set(ob) & set(oa)):
            if da[t] or db[t]:
                print("%s %-32s before: %s  after: %s" % ("     " if da[t] == db[t] else "DIFF ", t,
                                                          db[t] or "-", da[t] or "-"))
    cb = read_tsv(before + "/cases.tsv", "case", "outcome")
    ca = read_tsv(after + "/cases.tsv", "case", "outcome")
    print("== test cases whose outcome changed (before -> after: after's message)")
    both_files = set(ob) & set(oa)
    # a case belongs to the test file named by its second dotted part (test.test_os.X.y)
    def ran_by_both(c):
        parts = c.split(".")
        return not (only_b or only_a) or (len(parts) > 1 and parts[1] in both_files)
    for c in sorted(x for x in set(cb) | set(ca) if ran_by_both(x)):
        b = cb.get(c, {}).get("outcome", "missing")
        a = ca.get(c, {}).get("outcome", "missing")
        if b != a:
            got_worse = CASE_WORSE.get(a, 3) > CASE_WORSE.get(b, 3)
            worse |= got_worse
            print("%s %s: %s -> %s: %s" % ("WORSE" if got_worse else "     ", c, b, a,
                                           ca.get(c, {}).get("message", "")))
    def failing(d):  # temporary names carry a pid: @test_123_tmp
        return {re.sub(r"@test_\d+_tmp", "@test_N_tmp", x) for x in open(d + "/failing-cases.txt").read().splitlines()}
    fb = {x for x in failing(before) if ran_by_both(x.split(" ")[1])}
    fa = {x for x in failing(after) if ran_by_both(x.split(" ")[1])}
    print("== failing cases only after (subtests included)")
    for x in sorted(fa - fb):
        print("  " + x)
    print("== failing cases only before")
    for x in sorted(fb - fa):
        print("  " + x)
    print("verdict: %s" % ("something got worse" if worse else "nothing got worse"))
    return 1 if worse else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
