#!/usr/bin/env bash
# A node daemon whose stdout reader went away (`| head`, a broken journald
# stream) died at its next log line from SIGPIPE, without a word, and
# systemd counted that a clean exit. It must go on serving.
# Usage: node_sigpipe_test.sh TROUPE_BINARY
set -uo pipefail
bin=$1
tmp=$(mktemp -d)
node=""
trap '[ -n "$node" ] && kill "$node" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
openssl rand -hex 32 > "$tmp/key" && chmod 600 "$tmp/key"
mkfifo "$tmp/out"
"$bin" node --listen 127.0.0.1:0 --secret "$tmp/key" --slots 1 > "$tmp/out" 2> "$tmp/err" &
node=$!
# Read the first line (the address), then close the pipe for good.
read -r first < "$tmp/out"
addr=${first#listening on }
[ "$addr" != "$first" ] || fail "no address in '$first'"
sleep 0.3
# Each status makes the node log; the first one used to kill it.
for i in 1 2 3; do
  "$bin" status "$addr" --secret "$tmp/key" > "$tmp/status$i" 2>&1 ||
    { cat "$tmp/status$i" "$tmp/err"; fail "status $i failed"; }
done
kill -0 "$node" 2>/dev/null || { cat "$tmp/err"; fail "the node died once its stdout was closed"; }
kill -TERM "$node"
wait "$node"
rc=$?
node=""
[ "$rc" -eq 0 ] || fail "the node exited with $rc on SIGTERM"
echo "1 passed, 0 failed"
