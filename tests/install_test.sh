#!/usr/bin/env bash
# `cmake --install` puts libraries, headers and TroupeConfig.cmake under a
# prefix; a separate project finds them with find_package(Troupe), builds and
# runs. Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
for f in lib/cmake/Troupe/TroupeConfig.cmake include/troupe/engine/wire/wire_codec.hpp \
         include/troupe/schemas/troupe.capnp.h include/troupe/engine.hpp \
         include/troupe/client.hpp include/troupe/table.hpp include/troupe/result.hpp \
         include/troupe/workload.hpp bin/troupe; do
  [ -e "$tmp/prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# No CUDA toolkit for the consumer: hide nvcc and the toolkit from CMake.
# The consumer links the installed static libraries: it needs the flags they
# were built with (scripts/sanitize.sh builds them with ASan + UBSan).
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
cxx_flags=$(cache_value CMAKE_CXX_FLAGS)
ld_flags=$(cache_value CMAKE_EXE_LINKER_FLAGS)
cmake -S "$src/tests/install_consumer" -B "$tmp/consumer" "${generator[@]}" \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="$cxx_flags" -DCMAKE_EXE_LINKER_FLAGS="$ld_flags" \
  -DCMAKE_DISABLE_FIND_PACKAGE_CUDAToolkit=ON > "$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log"; echo "FAIL: find_package(Troupe)"; exit 1; }
cmake --build "$tmp/consumer" > "$tmp/build.log" 2>&1 || { tail -30 "$tmp/build.log"; echo "FAIL: build"; exit 1; }
"$tmp/consumer/consumer" || { echo "FAIL: the public API consumer's push was not applied"; exit 1; }
"$tmp/consumer/shard_consumer" || { echo "FAIL: the consumer's shard did not apply the push"; exit 1; }
"$tmp/consumer/custom_consumer" "$tmp/custom_runs" ||
  { echo "FAIL: the consumer's custom workload did not beat the mean predictor"; exit 1; }
# Nothing links the CUDA libraries (the backend is a module loaded at run
# time), and a table client links no BLAS either.
for bin in "$tmp/consumer/consumer" "$tmp/consumer/custom_consumer" "$tmp/prefix/bin/troupe"; do
  if ldd "$bin" | grep -E 'libcublas|libcudart|libcuda\.so'; then
    echo "FAIL: $bin links a CUDA library"; exit 1
  fi
done
if ldd "$tmp/consumer/consumer" | grep -E 'libopenblas|libblas'; then
  echo "FAIL: the table client links a BLAS library"; exit 1
fi
echo "3 passed, 0 failed"
