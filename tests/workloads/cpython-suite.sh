#!/usr/bin/env bash
# CPython's regression suite inside brood's sandbox: a broad check that a sandbox policy does not
# break what Python programs do (the test suite drives os, posix, socket, signal, subprocess,
# multiprocessing, asyncio, mmap, ssl, sqlite3 ... through every corner).
#
#   tests/workloads/cpython-suite.sh BROOD OUTDIR [ENGINE OPTIONS...]
#   e.g. tests/workloads/cpython-suite.sh build/brood /tmp/cpython-new
#        CPYTHON_MODE=per-test tests/workloads/cpython-suite.sh build/brood /tmp/cpython-kill --on-violation kill
#
# Runs Debian's `/usr/bin/python3 -m test` (package libpython3.11-testsuite) as the sandbox user
# with network none, and writes to OUTDIR:
#   outcomes.tsv    one line per test file: name, outcome, first-run outcome, brood's status (per
#                   file in per-test mode) and the calls the policy denied it (brood's
#                   denied_calls, under --on-violation kill or log); outcomes: passed, failed, env_changed, skipped,
#                   resource_denied, ran_no_tests, crashed, timed_out, interrupted,
#                   passed_on_rerun (failed, then passed when re-run verbosely: flaky),
#                   not_run (selected but never reported, e.g. the task was killed)
#   summary.txt     counts per outcome, the names of everything that did not pass, the failing
#                   cases, the denied calls per test file, and skips whose reason is a permission
#   cases.tsv       every test case (from the JUnit XML; subtests are not in it) with its outcome
#                   (passed, skipped, failure, error) and message: what cpython-suite-compare.py
#                   compares between two runs
#   failing-cases.txt  the test cases that failed or errored, subtests included (unittest's own
#                   report in the verbose re-run, then the JUnit XML), with the exception's line
#   regrtest.log    regrtest's own output (per-test mode: logs/TEST.log, one per test file)
#   junit.xml       regrtest's JUnit XML (per-test mode: junit/TEST.xml)
#   brood-result.json  brood's result record(s), without the streams
#
# Modes (CPYTHON_MODE):
#   exec (default)  one `brood exec` running `python3 -m test -jN -w`: the closest to how a user
#                   would run it. Under --on-violation kill the first refused call ends the whole
#                   run, so use per-test mode there.
#   per-test        one job per test file in one `brood run -j N`, each `python3 -m test -v -w
#                   TEST`: a violation (or a hang, a crash) costs only that test file, brood's
#                   status per file says which file met it, and the summary names the test case
#                   it was in. As fast (~11 min), and the way to run with --on-violation kill or
#                   log (denied calls per test file).
#
# Knobs (environment):
#   CPYTHON_TESTS     test names to run instead of the whole suite (space-separated)
#   CPYTHON_JOBS      parallel workers (regrtest -j in exec mode, brood run -j in per-test): 2
#   CPYTHON_TIMEOUT   regrtest's per-test-file timeout, seconds: 1200
#   CPYTHON_WALL_MS   brood's wall limit (exec: the whole run; per-test: each file): 14400000 / 2400000
#   CPYTHON_MEMORY_MB 4096, CPYTHON_DISK_MB 4096, CPYTHON_PIDS 1024 (per task)
#
# Excluded (-x), with why:
#   none by default: the whole suite (431 files) completes in the sandbox in ~11 min on 2 cores,
#   nothing hangs. Tests that need the network, audio, curses or lots of disk are skipped by
#   regrtest itself ("resource_denied": no -u is given). CPYTHON_EXCLUDE adds names to exclude.
#
# Compare two runs (the old policy and the new): tests/workloads/cpython-suite-compare.py OLD NEW
#
# Exit code: 0 when the run completed and its outcomes were written (whatever they are), 1 when
# it could not be run or read, 2 for a usage error, 77 when the test suite is not installed.
set -euo pipefail

if [ $# -lt 2 ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
BROOD=$(realpath "$1")
OUTDIR=$2
shift 2
ENGINE_OPTS=("$@")
MODE=${CPYTHON_MODE:-exec}
JOBS=${CPYTHON_JOBS:-2}
TIMEOUT=${CPYTHON_TIMEOUT:-1200}
MEMORY_MB=${CPYTHON_MEMORY_MB:-4096}
DISK_MB=${CPYTHON_DISK_MB:-4096}
PIDS=${CPYTHON_PIDS:-1024}
TESTS=${CPYTHON_TESTS:-}
EXCLUDE=${CPYTHON_EXCLUDE:-}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)

[ -x "$BROOD" ] || { echo "cpython-suite: $BROOD is not an executable" >&2; exit 2; }
if [ ! -d /usr/lib/python3.11/test/libregrtest ]; then
  echo "cpython-suite: SKIP: CPython's test suite is not installed (apt-get install libpython3.11-testsuite)" >&2
  exit 77
fi
mkdir -p "$OUTDIR"
OUTDIR=$(realpath "$OUTDIR")
rm -rf "$OUTDIR"/{outcomes.tsv,summary.txt,failing-cases.txt,regrtest.log,junit.xml,brood-result.json,logs,junit,jobs.jsonl,results.jsonl}

regrtest_args=(-m test -w --timeout "$TIMEOUT" --slowest --junit-xml /workspace/junit.xml)
# shellcheck disable=SC2206
[ -n "$EXCLUDE" ] && exclude=(-x $EXCLUDE) || exclude=()

start=$(date +%s)
case "$MODE" in
exec)
  WALL_MS=${CPYTHON_WALL_MS:-14400000}
  # The task prints regrtest's output, then its JUnit XML, gzip'd and base64'd, between markers.
  # shellcheck disable=SC2016
  script='cd /workspace; "$@"; rc=$?; echo "@@REGRTEST-EXIT $rc"
if [ -s /workspace/junit.xml ]; then echo "@@JUNIT-BEGIN"; gzip -c /workspace/junit.xml | base64; echo "@@JUNIT-END"; fi'
  # shellcheck disable=SC2206
  cmd=("$PY" "${regrtest_args[@]}" -j "$JOBS" "${exclude[@]}" $TESTS)
  echo "cpython-suite: exec mode, $PY ${cmd[*]:1}" >&2
  set +e
  "$BROOD" exec "${ENGINE_OPTS[@]}" --wall-ms "$WALL_MS" --memory-mb "$MEMORY_MB" --disk-mb "$DISK_MB" \
    --pids "$PIDS" --cpus "$JOBS" --output-bytes 536870912 -- /bin/sh -c "$script" sh "${cmd[@]}" \
    < /dev/null > "$OUTDIR/result.raw.json" 2> "$OUTDIR/brood.stderr"
  brood_rc=$?
  set -e
  echo "cpython-suite: brood exec exited $brood_rc" >&2
  ;;
per-test)
  WALL_MS=${CPYTHON_WALL_MS:-2400000}
  if [ -z "$TESTS" ]; then
    # shellcheck disable=SC2207
    TESTS=$("$PY" -m test --list-tests "${exclude[@]}" | tr '\n' ' ')
  fi
  # -v: a test file brood ends (a violation under kill, a timeout) names the case it was in
  "$PY" - "$OUTDIR/jobs.jsonl" "$WALL_MS" "$MEMORY_MB" "$DISK_MB" "$PIDS" "$EXCLUDE" "${regrtest_args[@]}" -v -- $TESTS <<'EOF'
import json, sys
out, wall, mem, disk, pids, exclude = sys.argv[1:7]
rest = sys.argv[7:]
sep = rest.index("--")
args, tests = rest[:sep], [t for t in rest[sep + 1:] if t not in exclude.split()]
with open(out, "w") as f:
    for t in tests:
        script = ('cd /workspace; "$@"; rc=$?; echo "@@REGRTEST-EXIT $rc"; '
                  'if [ -s /workspace/junit.xml ]; then echo "@@JUNIT-BEGIN"; '
                  'gzip -c /workspace/junit.xml | base64; echo "@@JUNIT-END"; fi')
        f.write(json.dumps({
            "id": t, "cmd": ["/bin/sh", "-c", script, "sh", "/usr/bin/python3"] + args + [t],
            "limits": {"wall_ms": int(wall), "memory_mb": int(mem), "disk_mb": int(disk),
                       "pids": int(pids), "output_bytes": 268435456, "cpus": 1}}) + "\n")
EOF
  echo "cpython-suite: per-test mode, $(wc -l < "$OUTDIR/jobs.jsonl") test files, brood run -j $JOBS" >&2
  set +e
  "$BROOD" run "$OUTDIR/jobs.jsonl" -o "$OUTDIR/results.jsonl" -j "$JOBS" --ordered "${ENGINE_OPTS[@]}" \
    2> "$OUTDIR/brood.stderr"
  brood_rc=$?
  set -e
  echo "cpython-suite: brood run exited $brood_rc" >&2
  ;;
*)
  echo "cpython-suite: CPYTHON_MODE is exec or per-test, not $MODE" >&2
  exit 2
  ;;
esac
elapsed=$(( $(date +%s) - start ))

"$PY" "$HERE/cpython-suite-report.py" "$MODE" "$OUTDIR" "$elapsed" "${ENGINE_OPTS[*]:-}"
