set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
gcc --version | sed -n 1p
gcc -O2 -Wall -Wextra -pthread -o main main.c
./main
gcc -O0 -g -static -pthread -o main-static main.c   # the static C library takes other paths
./main-static | tail -1
test -s out/renamed.bin
echo "WORKLOAD-OK gcc"
