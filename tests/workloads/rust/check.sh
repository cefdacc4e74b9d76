set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
rustc --version
rustc -O -o main main.rs
./main
rustc -C debuginfo=2 -C panic=abort --edition 2021 -o main-debug main.rs
rm -rf out && ./main-debug | tail -1
echo "WORKLOAD-OK rust"
