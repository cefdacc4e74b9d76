# The shell-tools workload: sh, bash, coreutils, sort, awk, sed, find, tar+gzip, xargs -P, each checked.
set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
has() { grep "$@" > /dev/null; }  # grep -q, but reading all its input (no SIGPIPE under pipefail)

# sh (dash): a script with functions, traps, a here-document, a pipeline, a subshell, background jobs
cat > s.sh <<'SH'
set -eu
f() { echo "f:$1"; }
trap 'echo trapped' EXIT
x=$(f a | tr a-z A-Z)
[ "$x" = "F:A" ] || exit 1
( cd /tmp && pwd ) | grep -qx /tmp
sleep 0.1 & sleep 0.1 & wait
cat <<EOF2 | wc -l | grep -qx 2
one
two
EOF2
echo done
SH
test "$(sh s.sh)" = "$(printf 'done\ntrapped')"

# bash: arrays, associative arrays, process substitution (/dev/fd), coprocesses, [[ ]], $RANDOM, read
declare -A colour=([sky]=blue [grass]=green)
arr=(c b a)
test "${colour[sky]}" = blue && test ${#arr[@]} -eq 3
test "$(sort <(printf '%s\n' "${arr[@]}") | paste -sd,)" = "a,b,c"
diff <(seq 1 5) <(printf '1\n2\n3\n4\n5\n')
coproc UPPER { tr a-z A-Z; }
echo hello >&"${UPPER[1]}"; exec {UPPER[1]}>&-
read -r shouted <&"${UPPER[0]}"; wait
test "$shouted" = HELLO
[[ "abc123" =~ ^[a-z]+([0-9]+)$ ]] && test "${BASH_REMATCH[1]}" = 123
test "$RANDOM" -ge 0
mapfile -t lines < <(seq 3); test ${#lines[@]} -eq 3
bash -c 'exit 7' || test $? -eq 7
timeout 0.2 sleep 5 || test $? -eq 124

# coreutils
seq 1 10000 | shuf > nums.txt
test "$(sort -n nums.txt | head -1)" = 1 && test "$(sort -n nums.txt | tail -1)" = 10000
test "$(sort -n nums.txt | uniq | wc -l)" -eq 10000
test "$(sort --parallel=2 -S 1M -n nums.txt | md5sum)" = "$(seq 1 10000 | md5sum)"
printf 'b 2\na 1\nc 3\n' | sort -k2,2nr | cut -d' ' -f1 | paste -sd' ' | has -x 'c b a'
echo hello > a.txt; cp -a a.txt b.txt; mv b.txt c.txt; ln -s c.txt d.txt; ln c.txt e.txt
test "$(readlink d.txt)" = c.txt && test "$(stat -c %h c.txt)" -eq 2
chmod 600 a.txt && test "$(stat -c %a a.txt)" = 600
touch -d '2020-01-01' a.txt && test "$(date -r a.txt +%Y)" = 2020
test "$(echo hello | sha256sum | cut -c1-8)" = 5891b5b5
test "$(printf 'x\ny\n' | tac | head -1)" = y
dd if=/dev/urandom of=rand.bin bs=64k count=16 status=none && test "$(stat -c %s rand.bin)" -eq 1048576
split -b 100k rand.bin part. && cat part.* | cmp - rand.bin
sync -f rand.bin && sync rand.bin     # syncfs(2), fsync(2); a bare `sync` (sync(2)) is the sync workload
test "$(id -u)" = 1000 && test "$(id -un)" = sandbox && test "$(hostname)" = brood
test "$(nproc)" -ge 1 && df -h /workspace > /dev/null && du -sh . > /dev/null
test "$(basename /a/b/c.txt .txt)" = c && test "$(dirname /a/b/c.txt)" = /a/b
test "$(realpath d.txt)" = /workspace/c.txt
mktemp -d | has '^/tmp/'
env | has '^HOME=/workspace$'
date -u +%s > /dev/null && sleep 0.01
test "$(expr 6 \* 7)" = 42 && test "$(echo '6*7' | bc 2>/dev/null || echo 42)" = 42

# awk and sed
test "$(seq 1 100 | awk '{s += $1} END {print s}')" = 5050
test "$(printf 'k1=v1\nk2=v2\n' | awk -F= '{m[$1]=$2} END {print m["k2"]}')" = v2
test "$(echo 'hello world' | sed -e 's/world/there/' -e 's/^h/H/')" = "Hello there"
seq 1 5 > s.txt && sed -i '3d' s.txt && test "$(paste -sd, s.txt)" = "1,2,4,5"
test "$(printf 'a\nb\nc\n' | sed -n '2p')" = b
test "$(echo 'x=1;y=2' | sed -E 's/([a-z])=([0-9])/\2\1/g')" = "1x;2y"

# find, xargs -P, tar + gzip
mkdir -p tree/{a,b,c}/{d,e}
for d in tree/*/*; do for i in 1 2 3; do echo "$d $i" > "$d/f$i.txt"; done; done
test "$(find tree -type f -name '*.txt' | wc -l)" -eq 18
test "$(find tree -type d -empty | wc -l)" -eq 0
find tree -name 'f1.txt' -exec rm {} +
test "$(find tree -type f | wc -l)" -eq 12
find tree -type f -print0 | xargs -0 -P 4 -n 2 gzip
test "$(find tree -name '*.gz' | wc -l)" -eq 12
seq 1 40 | xargs -P 4 -I{} sh -c 'echo {} > tree/x{}.out'
test "$(cat tree/x*.out | sort -n | paste -sd+ | bc 2>/dev/null || cat tree/x*.out | awk '{s+=$1} END {print s}')" = 820
tar -czf tree.tgz tree && mkdir un && tar -xzf tree.tgz -C un
diff -r tree un/tree
test "$(tar -tzf tree.tgz | grep -c '\.gz$')" -eq 12
gzip -dc un/tree/a/d/f2.txt.gz | has -x 'tree/a/d 2'
tar -cf - tree | gzip -9 | gunzip | tar -tf - | has 'tree/c/e/'
gzip -t tree.tgz
echo "WORKLOAD-OK shell"
