# The sync workload: a script that flushes everything after writing, as install and imaging
# scripts do: coreutils `sync` (sync(2)), `sync -f` (syncfs(2)), `sync FILE` (fsync(2)), and
# Python's os.sync(). sync(2) returns nothing, so the program cannot see a refusal under
# --on-violation errno; under kill a refusal ends the task.
set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
dd if=/dev/urandom of=data.bin bs=64k count=4 status=none
sync
sync -f data.bin
sync data.bin
python3 -c 'import os; os.sync(); fd = os.open("data.bin", os.O_RDONLY); os.fsync(fd); os.fdatasync(fd)'
test "$(stat -c %s data.bin)" -eq 262144
echo "WORKLOAD-OK sync"
