#!/usr/bin/env bash
# The example embedding service end to end on a small generated corpus in
# the Brown format: it must train from the stream while serving lookups
# without a failed call, and the live vectors must have learnt which words
# share contexts (north/south, cat/dog) rather than which merely co-occur.
# Usage: embedding_service_test.sh path/to/embedding_service
set -euo pipefail
service=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

mkdir "$dir/corpus"
awk 'BEGIN {
  srand(7);
  for (i = 0; i < 4000; i++) {
    dir = rand() < 0.5 ? "north" : "south";
    pet = rand() < 0.5 ? "cat" : "dog";
    prey = rand() < 0.5 ? "mouse" : "bird";
    n = rand() < 0.5 ? "two" : "three";
    t = int(rand() * 4);
    if (t == 0) print "\tthe/at wind/nn came/vbd from/in the/at " dir "/nn ./.";
    if (t == 1) print "\twe/ppss drove/vbd " dir "/rb for/in " n "/cd days/nns ./.";
    if (t == 2) print "\tthe/at " pet "/nn sat/vbd on/in the/at mat/nn and/cc purred/vbd ./.";
    if (t == 3) print "\ta/at hungry/jj " pet "/nn chased/vbd the/at " prey "/nn ./.";
  }
}' > "$dir/corpus/ca01"

out="$dir/out.txt"
"$service" --corpus "$dir/corpus" --min-count 1 --dim 16 --shards 2 --trainers 2 \
  --batch 64 --idle-seconds 0.5 --seconds 4 --query-threads 2 --qps 200 --lookup-rows 4 \
  --neighbour-every 0.2 --words north --words cat >"$out" 2>&1 || {
  cat "$out"
  echo "FAIL: the service exited with an error"
  exit 1
}
cat "$out"

fail() { echo "FAIL: $1"; exit 1; }
grep -Eq '^phase idle' "$out" || fail "no idle phase"
grep -Eq 'training: [1-9][0-9]* pairs' "$out" || fail "nothing trained"
# Both phases served lookups, none failed.
[ "$(grep -Ec 'lookups of 4 rows: [1-9][0-9]* \([0-9]+/s\), 0 failed; latency ms p50' "$out")" = 2 ] ||
  fail "lookups missing or failed"
grep -Eq 'neighbour queries: [1-9][0-9]*, 0 failed' "$out" || fail "no neighbour queries"
grep -Eq '^ *north -> south ' "$out" || fail "north's nearest word is not south"
grep -Eq '^ *cat -> dog ' "$out" || fail "cat's nearest word is not dog"
echo "PASS"
