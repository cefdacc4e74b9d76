#!/usr/bin/env bash
# Runs a test binary as an ordinary user (nobody, no groups, no capabilities): brood must sandbox
# without root. Exit 77 (ctest: skipped), saying why, when not root (only root can switch users)
# or when nobody cannot reach the build (a checkout under a directory others cannot enter, such
# as a home directory of mode 0700): both are the host's, not brood's.
set -u
if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: only root can switch to an unprivileged user"
  exit 77
fi
as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all)
if ! "${as_nobody[@]}" test -x "$1"; then
  dir=$1
  while [ "$dir" != / ] && ! "${as_nobody[@]}" test -x "$dir"; do blocked=$dir dir=$(dirname "$dir"); done
  echo "skipped: nobody (uid 65534) cannot execute $1: $blocked is not searchable by others" \
    "($(stat -c '%A %U' "$blocked")); check out and build where others can enter to run this"
  exit 77
fi
exec "${as_nobody[@]}" "$@"
