set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
g++ --version | sed -n 1p
g++ -std=c++20 -O2 -Wall -pthread -o main main.cpp
./main
echo "WORKLOAD-OK gxx"
