#!/usr/bin/env bash
# deploy/troupe-node.service must pass `systemd-analyze verify` without a
# single warning (unknown keys, bad values, a missing binary). The unit's
# ExecStart path is pointed at the built binary for the check. Skipped (77)
# where systemd-analyze is not installed.
# Usage: systemd_unit_test.sh SOURCE_DIR TROUPE_BINARY
set -euo pipefail
src=$1
binary=$2
command -v systemd-analyze > /dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s#/usr/local/bin/troupe#$binary#" "$src/deploy/troupe-node.service" > "$tmp/troupe-node.service"
out=$(systemd-analyze verify --man=no "$tmp/troupe-node.service" 2>&1 || true)
if echo "$out" | grep -q "troupe-node.service"; then
  echo "$out"
  echo "FAIL: systemd-analyze verify reports problems in deploy/troupe-node.service"
  exit 1
fi
# The hardening the README promises is really in the unit.
for key in "User=troupe" "Restart=on-failure" "KillSignal=SIGTERM" "TimeoutStopSec=" \
           "ProtectSystem=strict" "NoNewPrivileges=yes" "CapabilityBoundingSet=" \
           "ExecStart=$binary node --config /etc/troupe/node.toml"; do
  grep -q "^$key" "$tmp/troupe-node.service" || { echo "FAIL: $key missing"; exit 1; }
done
echo "deploy/troupe-node.service verifies cleanly"
