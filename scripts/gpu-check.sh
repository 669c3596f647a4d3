#!/usr/bin/env bash
# The GPU check of the CUDA backend, in one prepared run for a machine with
# an NVIDIA device (minutes of device time are scarce: everything is built
# and checked on a CPU machine first).
#
#   bash scripts/gpu-check.sh             # build, kernel tests, train, compare
#   TROUPE_DEBS=/path/to/debs bash scripts/gpu-check.sh   # offline machine
#   bash scripts/gpu-check.sh --pack gpu-pack.tar.xz      # prebuilt (scripts/gpu-pack.sh)
#
# 1. builds with -DTROUPE_CUDA=ON into build-gpu (the CUDA module must
#    build); with --pack, takes the binaries, their libraries and the data
#    set from a file made by scripts/gpu-pack.sh on a Debian machine instead,
#    for a GPU machine that has CUDA but not Troupe's Debian libraries;
# 2. runs the kernel tests and the MLP workload's gradient hand-over test
#    (pinned staging, downloads overlapped with the backward pass), whose
#    CUDA half skips without a device and must run (not skip) here;
# 3. trains the reference job (3 epochs) and a wider MLP (784-2048-2048-10)
#    with --backend cuda and --backend cpu, and prints samples/s and the test
#    accuracy of each, side by side.
# Exits non-zero when a step fails or the CUDA tests were skipped. Where OUT
# names a folder (the device tool's), the logs and run summaries are copied
# there at the end, whatever the outcome.
set -euo pipefail
pack_file=""
if [ "${1:-}" = "--pack" ]; then
  [ -f "${2:-}" ] || { echo "usage: gpu-check.sh --pack FILE (made by scripts/gpu-pack.sh)" >&2; exit 2; }
  pack_file=$(realpath "$2")  # before the cd below
fi
cd "$(dirname "$0")/.."

command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

# The folder holding `name` (a CUDA 13 library) on this machine: the CUDA
# toolkit's, the linker cache's, or a Python wheel's (nvidia-*).
cuda_lib_dir() {
  local name=$1 hit
  for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda-13*/lib64 \
    /usr/local/cuda-13*/targets/x86_64-linux/lib; do
    [ -e "$d/$name" ] && { echo "$d"; return 0; }
  done
  hit=$(ldconfig -p 2> /dev/null | awk -v n="$name" '$1 == n {print $NF; exit}')
  [ -n "$hit" ] && { dirname "$hit"; return 0; }
  hit=$(find / -xdev -name "$name" -not -path '/proc/*' 2> /dev/null | head -1 || true)
  [ -n "$hit" ] && { dirname "$hit"; return 0; }
  return 1
}

# Runs a Troupe program: with a pack, against the pack's libraries and the
# machine's CUDA ones (only these programs see the pack's libraries).
with_libs() {
  if [ -n "$pack_file" ]; then
    LD_LIBRARY_PATH=$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} TROUPE_CUDA_MODULE=$module "$@"
  else
    "$@"
  fi
}

if [ -n "$pack_file" ]; then
  root=$(mktemp -d)
  tar -xJf "$pack_file" -C "$root"
  pack=$root/gpu-pack
  module=$pack/lib/libtroupe_cuda.so
  libs=$pack/lib
  for name in libcublas.so.13 libcublasLt.so.13 libcudart.so.13; do
    dir=$(cuda_lib_dir "$name") || { echo "FAIL: no $name on this machine" >&2; exit 1; }
    case ":$libs:" in *":$dir:"*) ;; *) libs=$libs:$dir ;; esac
  done
  if with_libs ldd "$module" "$pack"/bin/* | grep "not found"; then
    echo "FAIL: libraries missing (above); library path $libs" >&2
    exit 1
  fi
  troupe=$pack/bin/troupe
  tests=$pack/bin
  data=$pack/data/fashion-mnist
  logs=$root
else
  if [ -n "${TROUPE_DEBS:-}" ]; then
    # A machine without network: the Debian packages travel with the tree.
    dpkg -i "$TROUPE_DEBS"/*.deb > /dev/null 2>&1 || apt-get install -f -y --no-download > /dev/null
  fi
  BUILD=${TROUPE_BUILD_DIR:-build-gpu}
  bash scripts/gpu-build.sh "$BUILD"
  troupe=$BUILD/tools/troupe
  tests=$BUILD/tests
  data=/usr/share/datasets/fashion-mnist
  [ -d "$data" ] || data=${TROUPE_FASHION_DIR:-data/fashion-mnist}
  logs=$BUILD
fi

if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
  trap 'cp -r "$logs"/gpu-check.* "$logs/runs" "$OUT/" 2> /dev/null || true' EXIT
fi

echo "== kernel tests"
with_libs "$tests/kernels_test" --gtest_brief=1 | tee "$logs/gpu-check.kernels.log" | tail -5
with_libs "$tests/engine_test" --gtest_brief=1 --gtest_filter='*MlpWorkloadGradients*' |
  tee -a "$logs/gpu-check.kernels.log" | tail -3
# Only the CUDA cases' own skip counts: three CPU-only checks skip because
# a GPU is present.
if grep -q "no CUDA device" "$logs/gpu-check.kernels.log"; then
  echo "FAIL: CUDA kernel tests were skipped: no usable device" >&2
  grep -m1 "no CUDA device" "$logs/gpu-check.kernels.log" >&2
  exit 1
fi

run() {  # name backend extra-args...
  local name=$1 backend=$2
  shift 2
  local out="$logs/runs/$name-$backend"
  with_libs "$troupe" --log-level warn train --backend "$backend" --epochs 3 \
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
