#!/usr/bin/env bash
# The reference job on three node daemons on this machine against the same
# job in one process (issue 10's target: >= 0.5x), interleaved so that a
# noisy host slows both alike. Each round starts three fresh daemons on
# 127.0.0.1 (a secret of its own), runs the job over them, then in one
# process; at the end it prints the medians and their ratio.
#   scripts/bench-daemons.sh [ROUNDS] [-- extra train arguments]   (after scripts/build.sh)
# DAEMON_THREADS: each daemon's actor threads (default: the cores split
# between the three, at least 1; 0 = one per core each).
# DAEMON_FLAGS: more daemon flags, e.g. --no-shared-memory.
# DAEMON_ARGS: train arguments for the daemons' run only, e.g.
#   DAEMON_ARGS="--set cluster.replication=1" (what the backups cost).
# EPOCHS: epochs per run (default 4).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
[[ $# -gt 0 ]] && shift
[[ ${1:-} == -- ]] && shift
bin=${TROUPE_BUILD_DIR:-build}/tools/troupe
epochs=${EPOCHS:-4}
cores=$(nproc)
threads=${DAEMON_THREADS:-$(((cores / 3) > 0 ? cores / 3 : 1))}
work=$(mktemp -d)
pids=()
stop_daemons() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_daemons; rm -rf "$work"' EXIT
openssl rand -hex 32 > "$work/key" && chmod 600 "$work/key"

# Sets `nodes`; not called in a $(...) subshell, which would keep the pids
# from stop_daemons and leave every round's daemons running.
start_daemons() {
  local addrs=()
  for i in 1 2 3; do
    "$bin" node --listen 127.0.0.1:0 --secret "$work/key" --slots 4 --threads "$threads" \
      ${DAEMON_FLAGS:-} > "$work/node$i.log" 2>&1 &
    pids+=($!)
  done
  for i in 1 2 3; do
    for _ in $(seq 100); do
      grep -q "^listening on" "$work/node$i.log" && break
      sleep 0.1
    done
    addrs+=("$(sed -n 's/^listening on //p' "$work/node$i.log" | head -1)")
  done
  nodes=$(IFS=,; echo "${addrs[*]}")
}

# samples/s and the fractions from a summary line
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }

daemons=(); local_=()
for ((r = 1; r <= rounds; r++)); do
  start_daemons
  line=$("$bin" train --nodes "$nodes" --secret "$work/key" --epochs "$epochs" -o "$work/run" ${DAEMON_ARGS:-} "$@" \
    2>/dev/null | tail -1)
  stop_daemons
  d=$(echo "$line" | field samples_per_s)
  echo "round $r: 3 daemons ($threads threads each) $d samples/s," \
    "compute $(echo "$line" | field compute_fraction) pull $(echo "$line" | field pull_fraction) wait $(echo "$line" | field wait_fraction)" \
    "acc $(echo "$line" | field test_accuracy)"
  line=$("$bin" train --epochs "$epochs" -o "$work/local" "$@" 2>/dev/null | tail -1)
  l=$(echo "$line" | field samples_per_s)
  echo "round $r: one process $l samples/s"
  daemons+=("$d"); local_+=("$l")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratios=()
for ((i = 0; i < rounds; i++)); do
  ratios+=("$(awk -v a="${daemons[i]}" -v b="${local_[i]}" 'BEGIN {printf "%.3f", a / b}')")
done
md=$(median "${daemons[@]}"); ml=$(median "${local_[@]}")
echo "median: 3 daemons $md, one process $ml samples/s: $(awk -v a="$md" -v b="$ml" \
  'BEGIN {printf "%.2f", a / b}')x; median of the rounds' ratios $(median "${ratios[@]}")x" \
  "(${ratios[*]})"
