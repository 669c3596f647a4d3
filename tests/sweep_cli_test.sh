#!/usr/bin/env bash
# End to end: `troupe sweep` on a tiny real job (2 staleness bounds, 1 repeat)
# writes well-formed CSVs, a summary and the plots; a sweep over update rules
# with 2 repeats and the default target (a reference run) gives intervals and
# comparisons; bad settings are refused with a clear message.
# Usage: sweep_cli_test.sh TROUPE_BINARY
set -euo pipefail
troupe=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat > "$dir/job.toml" <<'TOML'
[job]
name = "tiny"
epochs = 1
output_dir = "unused"
[data]
train_limit = 3000
test_limit = 500
[train]
workers = 2
shards = 2
backend = "cpu"
TOML

"$troupe" --log-level warn sweep "$dir/job.toml" --staleness 0,inf --repeats 1 --target job \
  --out "$dir/out" \
  > "$dir/log" 2>&1 || { cat "$dir/log"; fail "sweep exited with $?"; }

runs="$dir/out/runs.csv"
head -1 "$runs" | grep -q '^staleness,seed,stragglers,wall_s,time_to_target_s' || fail "runs.csv header"
[ "$(tail -n +2 "$runs" | wc -l)" -eq 2 ] || fail "runs.csv should have 2 rows"
cut -d, -f1 "$runs" | tail -n +2 | tr '\n' ' ' | grep -q '^0 inf ' || fail "staleness column: $(cut -d, -f1 "$runs")"
# every row has the same number of fields as the header and an empty error column
awk -F, -v n="$(head -1 "$runs" | awk -F, '{print NF}')" 'NF != n { exit 1 } NR > 1 && $NF != "" { exit 1 }' \
  "$runs" || fail "runs.csv rows malformed or with errors"
[ "$(tail -n +2 "$dir/out/curves.csv" | wc -l)" -ge 2 ] || fail "curves.csv has no points"
grep -q "^# Sweep: tiny" "$dir/out/summary.md" || fail "summary.md"
grep -q "| inf |" "$dir/out/summary.md" || fail "summary.md lacks the inf row"
[ -f "$dir/out/runs/s0_r0/metrics.csv" ] || fail "per-run metrics missing"
if command -v gnuplot >/dev/null; then
  for plot in to_target waiting metric_vs_epochs metric_vs_time; do
    [ -s "$dir/out/$plot.png" ] && [ -s "$dir/out/$plot.svg" ] || fail "plot $plot missing"
    head -c 8 "$dir/out/$plot.png" | grep -q PNG || fail "$plot.png is not a PNG"
  done
fi

# The same directory again, one bound: the earlier sweep's files and runs
# move to previous/ (left there, its runs looked like part of the new one;
# removed, they took a user's own runs under runs/ with them).
mkdir -p "$dir/out/runs/mine" && echo keep > "$dir/out/runs/mine/notes"
"$troupe" --log-level warn sweep "$dir/job.toml" --staleness 0 --repeats 1 --target job \
  --out "$dir/out" > "$dir/again.log" 2>&1 || { cat "$dir/again.log"; fail "sweep again"; }
grep -q "moved to $dir/out/previous/" "$dir/again.log" || { cat "$dir/again.log"; fail "no warning"; }
[ "$(tail -n +2 "$runs" | wc -l)" -eq 1 ] || fail "runs.csv of the second sweep should have 1 row"
[ -f "$dir/out/runs/s0_r0/metrics.csv" ] || fail "the second sweep's run is missing"
[ ! -e "$dir/out/runs/sinf_r0" ] || fail "the earlier sweep's staleness=inf run was left behind"
[ -f "$dir/out/previous/runs/sinf_r0/metrics.csv" ] || fail "the earlier sweep's run is not in previous/"
[ "$(tail -n +2 "$dir/out/previous/runs.csv" | wc -l)" -eq 2 ] || fail "previous/runs.csv"
grep -q "| inf |" "$dir/out/previous/summary.md" || fail "previous/summary.md"
[ "$(cat "$dir/out/runs/mine/notes")" = keep ] || fail "a directory the sweep did not make went"

# Update rules on the grid, 2 repeats, the target set by a reference run.
"$troupe" --log-level warn sweep "$dir/job.toml" --staleness inf --grid update.rule=plain,dcasgd --repeats 2 \
  --x update.rule --out "$dir/rules" > "$dir/rules.log" 2>&1 || { cat "$dir/rules.log"; fail "rules sweep"; }
head -1 "$dir/rules/runs.csv" | grep -q '^update.rule,staleness,seed,' || fail "runs.csv lacks the rule column"
[ "$(tail -n +2 "$dir/rules/runs.csv" | wc -l)" -eq 4 ] || fail "rules sweep should have 4 runs"
[ -f "$dir/rules/runs/reference/metrics.csv" ] || fail "no reference run"
grep -q "reference run (1 worker, staleness 0" "$dir/rules/summary.md" || fail "summary lacks the target's origin"
grep -q "| dcasgd | inf | 2/2 |" "$dir/rules/summary.md" || fail "summary lacks the dcasgd row"
grep -q "±" "$dir/rules/summary.md" || fail "summary has no confidence intervals"
[ -f "$dir/rules/runs/rule-dcasgd_sinf_r1/metrics.csv" ] || fail "per-run directory of the grid point"

# A user's own CSV with an MLP whose input width and classes come from the
# data (only `hidden` given): the sweep fits each point to the data, as a
# run does (it refused them with "layer sizes must be positive" before).
awk 'BEGIN { srand(7); print "a,b,c,d,y";
             for (i = 0; i < 400; ++i) { a = rand(); b = rand(); c = rand(); d = rand();
               printf "%.4f,%.4f,%.4f,%.4f,%d\n", a, b, c, d, (a + b > c + d) } }' > "$dir/own.csv"
cat > "$dir/own.toml" <<TOML
[job]
name = "own"
epochs = 1
output_dir = "unused"
[data]
format = "csv"
train = "$dir/own.csv"
test_fraction = 0.25
label_column = "y"
[model]
kind = "mlp"
hidden = [8]
[train]
workers = 2
shards = 1
backend = "cpu"
TOML
"$troupe" --log-level warn sweep "$dir/own.toml" --staleness 0,1 --repeats 1 --target job \
  --out "$dir/own" > "$dir/own.log" 2>&1 || { cat "$dir/own.log"; fail "sweep of a CSV job"; }
[ "$(tail -n +2 "$dir/own/runs.csv" | wc -l)" -eq 2 ] || fail "the CSV sweep should have 2 runs"
# The same data as a regression, judged by the job file's target: it sets
# no target_loss, and a test loss <= 0 is never reached: refused, naming it.
sed 's/hidden = \[8\]/hidden = [8]\nloss = "mse"/' "$dir/own.toml" > "$dir/reg.toml"
if "$troupe" sweep "$dir/reg.toml" --staleness 0 --repeats 1 --target job --out "$dir/reg" \
  > "$dir/reg.log" 2>&1; then
  fail "a regression sweep with a target of loss 0 was accepted"
fi
grep -q "set job.target_loss" "$dir/reg.log" || { cat "$dir/reg.log"; fail "no clear error"; }
# Classification and regression on one grid: one metric cannot compare them
# (an RMSE was reported as an accuracy above 1).
if "$troupe" sweep "$dir/own.toml" --staleness 0 --repeats 1 --target job \
  --grid model.loss=softmax,mse --out "$dir/mixed" > "$dir/mixed.log" 2>&1; then
  fail "a grid mixing classification and regression was accepted"
fi
grep -q "model.loss=mse is a regression and the job file's a classification" "$dir/mixed.log" ||
  { cat "$dir/mixed.log"; fail "no clear error for a mixed grid"; }

for bad in "--grid update.rule=plain,fast" "--x train.workers" "--target 1.5" \
  "--grid train.workers=0" "--grid train.nonsense=1"; do
  # shellcheck disable=SC2086
  if "$troupe" sweep "$dir/job.toml" --staleness 0 $bad --out "$dir/bad" > "$dir/bad.log" 2>&1; then
    fail "sweep accepted $bad"
  fi
  grep -q "bad_config" "$dir/bad.log" || { cat "$dir/bad.log"; fail "no clear error for $bad"; }
done

# An empty bound in the list: refused, not dropped (nor the next flag taken
# for one).
for bad in "0,,2" "," "0,"; do
  if "$troupe" sweep "$dir/job.toml" --staleness "$bad" --repeats 1 --out "$dir/bad" \
    > "$dir/bad.log" 2>&1; then
    fail "sweep accepted --staleness $bad"
  fi
  grep -q "an empty value" "$dir/bad.log" || { cat "$dir/bad.log"; fail "no clear error for $bad"; }
done

if "$troupe" sweep "$dir/job.toml" --staleness 0 --repeats 1 --stragglers "fixed:factor=3" \
  --out "$dir/bad" > "$dir/bad.log" 2>&1; then
  fail "a bad straggler spec was accepted"
fi
grep -q "worker" "$dir/bad.log" || { cat "$dir/bad.log"; fail "the error does not name the missing key"; }
echo "1 passed, 0 failed"
