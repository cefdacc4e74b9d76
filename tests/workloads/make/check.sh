set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
make --version | sed -n 1p
make -j2
make -j2 check | tee check.out
grep -qx 'triangle(100) = 5050' check.out
test "$(make -q all; echo $?)" -eq 0        # up to date now
touch src/util.c
test "$(make -q all; echo $?)" -eq 1        # out of date after a touch
make -j2 -s && make clean && test ! -e build
make -j2 -C . CFLAGS=-O0 all >/dev/null && test -x build/app
echo "WORKLOAD-OK make"
