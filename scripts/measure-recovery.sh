#!/usr/bin/env bash
# Measures failure detection and recovery over repeated kills: runs the
# cluster failure tests N times (default 10) and reads, from the scheduler's
# log lines, the time from the test's SIGKILL to the scheduler noticing the
# loss and to the replacement being in place.
#   scripts/measure-recovery.sh [N]        (after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
bin=${TROUPE_BUILD_DIR:-build}/tests/cluster_test
ms() { date -d "$1" +%s%3N; }
stamp() { sed -E 's/^\[([0-9-]+ [0-9:.]+)\].*/\1/'; }
for kind in PrimaryShard WorkerLoss.JobFinishesAllEpochs/0; do
  detect=(); recover=()
  for ((i = 0; i < n; i++)); do
    log=$("$bin" --gtest_filter="*${kind}*" 2>&1) || { echo "run $i failed"; echo "$log" | tail -20; exit 1; }
    kill=$(echo "$log" | grep "test: SIGKILL" | head -1 | stamp)
    lost=$(echo "$log" | grep -E "primary lost|worker [0-9]+ \(partition" | head -1 | stamp)
    done_=$(echo "$log" | grep -E "backup on .* promoted|took over partition" | head -1 | stamp)
    detect+=($(( $(ms "$lost") - $(ms "$kill") )))
    recover+=($(( $(ms "$done_") - $(ms "$lost") )))
    # the replacement backup (shards) or worker start is logged by the same lines
  done
  printf '%s: %d kills; detection ms: %s; recovery ms after detection: %s\n' "$kind" "$n" \
    "$(printf '%s\n' "${detect[@]}" | sort -n | awk '{a[NR]=$1} END {printf "median %s worst %s", a[int((NR+1)/2)], a[NR]}')" \
    "$(printf '%s\n' "${recover[@]}" | sort -n | awk '{a[NR]=$1} END {printf "median %s worst %s", a[int((NR+1)/2)], a[NR]}')"
done
