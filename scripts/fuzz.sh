#!/usr/bin/env bash
# Long, coverage-guided fuzzing of every decoder of untrusted bytes with
# clang's libFuzzer + ASan + UBSan (the CTest "Fuzz.*" runs the same targets
# for seconds with a g++ driver; see tests/fuzz/fuzz_target.hpp).
#
#   bash scripts/fuzz.sh                      # 60 s per target, all targets
#   bash scripts/fuzz.sh 600 wire_codec checkpoint
#
# Builds into build-fuzz/ (clang) and uses build/ (g++, scripts/build.sh)
# only to write each target's generated seeds. The growing corpora stay in
# build-fuzz/corpus/<target>/; a crash is saved as
# build-fuzz/crashes/<target>-crash-<sha1>: fix it, then commit the input
# under tests/fuzz/corpus/<target>/ so CI replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(wire_codec pipeline_codec checkpoint job_config frame_screen
                                     table_file node_config preauth_payload)
if ! command -v clang++ >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends clang
  else
    echo "fuzz.sh needs clang (libFuzzer): sudo apt-get install clang" >&2
    exit 2
  fi
fi
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g"
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  mkdir -p build-fuzz
  cmake -S . -B build-fuzz "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DTROUPE_CUDA=OFF \
    -DTROUPE_LIBFUZZER=ON -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" > build-fuzz/configure.log
fi
[ -f build/CMakeCache.txt ] || bash scripts/build.sh
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}"
cmake --build build -j "$(nproc)" --target "${targets[@]/#/fuzz_}"
mkdir -p build-fuzz/crashes
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
for t in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$t
  build/tests/fuzz/fuzz_$t --write-seeds "$corpus" > /dev/null
  log=build-fuzz/fuzz_$t.log
  # Committed crash inputs, where a target has any (libFuzzer refuses a
  # corpus folder that does not exist).
  replay=()
  [ -d "tests/fuzz/corpus/$t" ] && replay=("tests/fuzz/corpus/$t")
  if build-fuzz/tests/fuzz/fuzz_$t -max_total_time="$seconds" -print_final_stats=1 \
      -rss_limit_mb=4096 -timeout=20 -artifact_prefix="build-fuzz/crashes/$t-" \
      "$corpus" "${replay[@]}" > "$log" 2>&1; then
    verdict="no crash"
  else
    verdict="CRASH (see $log and build-fuzz/crashes/)"
    status=1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  echo "fuzz $t: ${runs:-?} executions in ${seconds} s, $cov, corpus $(ls "$corpus" | wc -l) inputs: $verdict"
done
exit $status
