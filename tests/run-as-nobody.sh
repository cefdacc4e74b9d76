#!/usr/bin/env bash
# Runs a test binary as an ordinary user (nobody, no groups, no capabilities): brood must sandbox
# without root. Exit 77 (ctest: skipped) when not root, since only root can switch users.
set -u
if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: only root can switch to an unprivileged user"
  exit 77
fi
exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all "$@"
