#!/usr/bin/env bash
# `troupe sweep` over a plugin's workload (include/troupe/workload.hpp),
# which brings its own data: the sweep has no training rows to count, so it
# neither refuses the job ("more workers than the 0 training rows", as it
# did) nor evaluates every clock for its "evaluations per epoch"; each run
# evaluates at its epochs' ends, as `troupe train` does. Its regression is
# judged by its loss.
# Usage: sweep_plugin_test.sh TROUPE_BINARY PLUGIN
set -euo pipefail
troupe=$1
plugin=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat > "$dir/job.toml" <<'TOML'
[job]
name = "plugin"
epochs = 3
output_dir = "unused"
[model]
kind = "plugin_linear"
[train]
workers = 2
shards = 2
batch = 16
learning_rate = 0.05
TOML

rc=0
"$troupe" --log-level warn --plugin "$plugin" sweep "$dir/job.toml" --staleness 0,inf \
  --repeats 1 --out "$dir/out" > "$dir/log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { cat "$dir/log"; fail "sweep exited with $rc"; }
runs="$dir/out/runs.csv"
[ "$(tail -n +2 "$runs" | wc -l)" -eq 2 ] || { cat "$runs"; fail "runs.csv should have 2 rows"; }
awk -F, 'NR > 1 && $NF != "" { exit 1 }' "$runs" || { cat "$runs"; fail "a run failed"; }
# Test evaluations: the epochs' ends of each run (one per epoch; the last
# may be written twice, as the final result).
for run in "$dir"/out/runs/s*; do
  tests=$(grep -c ',test,' "$run/metrics.csv" || true)
  [ "$tests" -ge 3 ] && [ "$tests" -le 4 ] || { cat "$run/metrics.csv"; fail "$run: $tests evaluations"; }
done
grep -q "| inf |" "$dir/out/summary.md" || { cat "$dir/out/summary.md"; fail "summary.md lacks inf"; }
# The plugin's model is a regression: judged by its test loss. It was judged
# by accuracy ("test accuracy >= 0"), and every run reached that at once.
grep -q "target: test loss <=" "$dir/out/summary.md" ||
  { cat "$dir/out/summary.md"; fail "a regression's target is not its loss"; }
echo "1 passed, 0 failed"
