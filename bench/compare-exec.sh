#!/bin/sh
# Cold `brood exec -- /bin/true` against bubblewrap and a bare posix_spawn: runs the exec
# benchmarks of bench/exec_bench.cpp and prints p50/p99 per iteration and the ratio brood/bwrap.
# Builds nothing.
#   usage: bench/compare-exec.sh [BUILD_DIR] [extra brood_bench flags...]   (BUILD_DIR: build)
# The benchmark's own console output goes to stderr, the table to stdout.
set -eu

build=${1:-build}
[ $# -gt 0 ] && shift
bench=$build/brood_bench
if [ ! -x "$bench" ]; then
  echo "compare-exec: $bench not found; build it first: ninja -C $build brood brood_bench" >&2
  exit 2
fi

json=$(mktemp "${TMPDIR:-/tmp}/compare-exec.XXXXXX.json")
trap 'rm -f "$json"' EXIT INT TERM

"$bench" --benchmark_filter='Exec|Bwrap|Spawn' --benchmark_color=false \
  --benchmark_out="$json" --benchmark_out_format=json "$@" >&2

# Google Benchmark's JSON has one "key": value per line; pick name, p50_ms, p99_ms, error.
awk '
  function val(line) { sub(/^[^:]*:[ \t]*/, "", line); sub(/,[ \t]*$/, "", line);
                       gsub(/"/, "", line); return line }
  /"name":/          { name = val($0); order[++n] = name }
  /"p50_ms":/        { p50[name] = val($0) }
  /"p99_ms":/        { p99[name] = val($0) }
  /"error_message":/ { err[name] = val($0) }
  function label(nm) {
    if (nm ~ /BroodExec/) return "brood exec (cold)"
    if (nm ~ /Bwrap\/seccomp:1/) return "bwrap + seccomp"
    if (nm ~ /Bwrap/) return "bwrap, no seccomp"
    if (nm ~ /Spawn/) return "posix_spawn (floor)"
    return nm
  }
  END {
    printf "%-22s %10s %10s\n", "/bin/true", "p50 ms", "p99 ms"
    for (i = 1; i <= n; i++) {
      nm = order[i]
      if (nm in err) { printf "%-22s %s\n", label(nm), "error: " err[nm]; continue }
      printf "%-22s %10.2f %10.2f\n", label(nm), p50[nm], p99[nm]
      if (nm ~ /BroodExec/) brood = nm
      if (nm ~ /Bwrap\/seccomp:1/) bwrap = nm
      if (nm ~ /Spawn/) spawn = nm
    }
    if (brood != "" && bwrap != "" && p50[bwrap] > 0 && p99[bwrap] > 0)
      printf "%-22s %10.2fx %9.2fx\n", "brood / bwrap+seccomp", p50[brood] / p50[bwrap],
             p99[brood] / p99[bwrap]
    if (brood != "" && spawn != "" && p50[spawn] > 0 && p99[spawn] > 0)
      printf "%-22s %10.2fx %9.2fx\n", "brood / posix_spawn", p50[brood] / p50[spawn],
             p99[brood] / p99[spawn]
  }
' "$json"
