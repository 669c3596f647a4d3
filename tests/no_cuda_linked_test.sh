#!/usr/bin/env bash
# The CUDA backend is a module loaded at run time (kernels/cuda_module.hpp):
# no program links cuBLAS or the CUDA runtime. Usage: no_cuda_linked_test.sh BINARY...
set -euo pipefail
for bin in "$@"; do
  if ldd "$bin" | grep -E 'libcublas|libcudart'; then
    echo "FAIL: $bin links a CUDA library"
    exit 1
  fi
done
echo "$# programs link no CUDA library"
