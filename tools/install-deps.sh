#!/usr/bin/env bash
# Installs what brood needs to build, test and benchmark, from Debian 12 packages.
# --languages: only the toolchains of the language presets (docs/languages.md), for a host that
# runs brood and evaluates code but does not build it.
set -euo pipefail
LANGUAGES=(
  gcc g++ python3 default-jdk-headless nodejs golang-go rustc  # c cpp python java javascript go rust
)
case "${1:-}" in
  --languages) ONLY_LANGUAGES=1 ;;
  "") ONLY_LANGUAGES=0 ;;
  *) echo "usage: $0 [--languages]" >&2; exit 2 ;;
esac
PACKAGES=(
  cmake ninja-build g++ pkg-config git          # toolchain
  liburing-dev libseccomp-dev libtbb-dev         # engine: io_uring, seccomp, scheduling
  libboost-dev nlohmann-json3-dev libcli11-dev   # Asio, JSON, command line
  libssl-dev                                     # libcrypto: SHA-256 (the build cache's keys)
  libgtest-dev libbenchmark-dev                  # tests and benchmarks
  python3 python3-jsonschema                     # example programs; schema checks in tests
  bubblewrap                                     # the comparison in bench/
  e2fsprogs                                      # mkfs.ext4: the workspace filesystems
  gdb strace iproute2 libcap2-bin                # host tools some hostile cases run (ptrace, ip, capsh)
  # toolchains for the language presets and the workload suite (tests/workloads): real programs
  # run inside the sandbox. Debian's own builds, under /usr (a task sees only /usr /bin /lib*,
  # never ~/.cargo or pyenv); a job whose toolchain is missing is skipped, not failed.
  "${LANGUAGES[@]}"                               # gcc, g++, python3, javac/java, node, go, rustc
  make python3-pip python3-setuptools python3-wheel  # make -j; pip wheel/install offline
  libpython3.11-testsuite                         # CPython's regression suite (cpython-suite.sh)
)
[ "$ONLY_LANGUAGES" -eq 1 ] && PACKAGES=("${LANGUAGES[@]}")
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
