# The git workload: init, config, add, commit, branch, merge, log, clone (local and through
# upload-pack), gc, fsck, each checked.
set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
has() { grep "$@" > /dev/null; }  # grep -q, but reading all its input (no SIGPIPE under pipefail)
git --version
git config --global user.name "Work Load"
git config --global user.email wl@example.com
git config --global init.defaultBranch main
git init -q repo
cd repo
for i in 1 2 3 4 5; do echo "line $i" > "f$i.txt"; done
mkdir -p src && seq 1 2000 > src/numbers.txt
git add .
git commit -q -m "first"
git checkout -q -b feature
echo feature >> f1.txt
git rm -q f5.txt
git commit -q -am "feature change"
git checkout -q main
echo mainline >> f2.txt
git commit -q -am "main change"
git merge -q --no-edit feature
test "$(git log --oneline | wc -l)" -eq 4
test "$(git rev-list --merges HEAD | wc -l)" -eq 1
test ! -e f5.txt && grep -q feature f1.txt && grep -q mainline f2.txt
git branch --list | has feature
git tag -a v1 -m "tag one"
git log --graph --stat --format='%h %an %s' > ../log.txt
grep -q "Merge branch 'feature'" ../log.txt
git status --porcelain > ../status.txt && test ! -s ../status.txt
git diff HEAD~1 --stat > /dev/null
git stash list > /dev/null
cd ..
git clone -q repo clone-local                         # hard links, same filesystem
git clone -q --no-local "file://$PWD/repo" clone-pack # upload-pack over pipes
for c in clone-local clone-pack; do
  test "$(git -C $c rev-parse HEAD)" = "$(git -C repo rev-parse HEAD)"
  test "$(git -C $c describe --tags)" = v1
  test "$(cat $c/f1.txt | wc -l)" -eq 2
done
echo more > clone-pack/new.txt
git -C clone-pack add new.txt
git -C clone-pack commit -q -m "from clone"
git -C clone-pack push -q origin main:from-clone
git -C repo rev-parse --verify -q from-clone > /dev/null
git -C repo gc -q --aggressive
git -C repo count-objects -v | has "^packs: 1"
git -C repo fsck --strict --no-progress
git -C repo archive --format=tar.gz -o ../repo.tgz HEAD
tar -tzf repo.tgz | has src/numbers.txt
git -C repo worktree add -q ../wt feature
test ! -e wt/f5.txt && grep -q feature wt/f1.txt
echo "WORKLOAD-OK git"
