#!/usr/bin/env bash
# Configures and builds what the GPU check needs (troupe, the CUDA module,
# the kernel and engine tests) with -DTROUPE_CUDA=ON into BUILD (default
# build-gpu, or TROUPE_BUILD_DIR). Called by scripts/gpu-check.sh and
# scripts/gpu-pack.sh; prints the last lines of a failed step's log.
#
#   bash scripts/gpu-build.sh [BUILD]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-${TROUPE_BUILD_DIR:-build-gpu}}
command -v nvcc > /dev/null || export PATH=/usr/local/cuda/bin:$PATH
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
mkdir -p "$BUILD"
cmake -S . -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DTROUPE_CUDA=ON \
  > "$BUILD/gpu-build.configure.log" 2>&1 || { cat "$BUILD/gpu-build.configure.log"; exit 1; }
cmake --build "$BUILD" -j "$(nproc)" --target troupe troupe_cuda kernels_test engine_test \
  > "$BUILD/gpu-build.build.log" 2>&1 || { tail -50 "$BUILD/gpu-build.build.log"; exit 1; }
