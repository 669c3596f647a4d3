#!/usr/bin/env bash
# The GPU check of the CUDA backend, in one prepared run for a machine with
# an NVIDIA device (minutes of device time are scarce: everything is built
# and checked on a CPU machine first).
#
#   bash scripts/gpu-check.sh             # build, kernel tests, train, compare
#   TROUPE_DEBS=/path/to/debs bash scripts/gpu-check.sh   # offline machine
#
# 1. builds with -DTROUPE_CUDA=ON into build-gpu (the CUDA module must build);
# 2. runs the kernel tests and the MLP workload's gradient hand-over test
#    (pinned staging, downloads overlapped with the backward pass), whose
#    CUDA half skips without a device and must run (not skip) here;
# 3. trains the reference job (3 epochs) and a wider MLP (784-2048-2048-10)
#    with --backend cuda and --backend cpu, and prints samples/s and the test
#    accuracy of each, side by side.
# Exits non-zero when a step fails or the CUDA tests were skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${TROUPE_DEBS:-}" ]; then
  # A machine without network: the Debian packages travel with the tree.
  dpkg -i "$TROUPE_DEBS"/*.deb > /dev/null 2>&1 || apt-get install -f -y --no-download > /dev/null
fi
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
command -v nvcc > /dev/null || export PATH=/usr/local/cuda/bin:$PATH

BUILD=${TROUPE_BUILD_DIR:-build-gpu}
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
cmake -S . -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DTROUPE_CUDA=ON > "$BUILD.configure.log" 2>&1 ||
  { cat "$BUILD.configure.log"; exit 1; }
cmake --build "$BUILD" -j "$(nproc)" --target troupe troupe_cuda kernels_test engine_test \
  > "$BUILD.build.log" 2>&1 ||
  { tail -50 "$BUILD.build.log"; exit 1; }

echo "== kernel tests"
"$BUILD/tests/kernels_test" --gtest_brief=1 | tee "$BUILD.kernels.log" | tail -5
"$BUILD/tests/engine_test" --gtest_brief=1 --gtest_filter='*MlpWorkloadGradients*' |
  tee -a "$BUILD.kernels.log" | tail -3
# Only the CUDA cases' own skip counts: three CPU-only checks skip because
# a GPU is present.
if grep -q "no CUDA device" "$BUILD.kernels.log"; then
  echo "FAIL: CUDA kernel tests were skipped: no usable device" >&2
  exit 1
fi

data=/usr/share/datasets/fashion-mnist
[ -d "$data" ] || data=${TROUPE_FASHION_DIR:-data/fashion-mnist}
run() {  # name backend extra-args...
  local name=$1 backend=$2
  shift 2
  local out="$BUILD/runs/$name-$backend"
  "$BUILD/tools/troupe" --log-level warn train --backend "$backend" --epochs 3 \
    --data-dir "$data" -o "$out" "$@" > /dev/null
  local line
  line=$(cat "$out/summary.txt")
  field() { sed -n "s/.*[ ^]$1=\([0-9.]*\).*/\1/p" <<< " $line"; }
  # Where a worker's step went: with the pinned, overlapped copies the
  # CUDA run's compute share should not trail the CPU run's.
  printf '%-10s %-5s %10s samples/s  test accuracy %s  compute %s pull %s push %s\n' \
    "$name" "$backend" "$(field samples_per_s)" "$(field test_accuracy)" \
    "$(field compute_fraction)" "$(field pull_fraction)" "$(field push_fraction)"
}
echo "== training (3 epochs each; samples/s over the whole run)"
for backend in cuda cpu; do
  run reference "$backend"
  run wide "$backend" --set 'model.layers=[784, 2048, 2048, 10]' --set train.batch=256
done
