#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs into one file, for a GPU machine that
# has CUDA 13 but neither Troupe's Debian libraries nor a network (such as
# the device machines this project may be lent): the troupe binary, the
# CUDA module, the kernel and engine test binaries, every shared library
# they need from Debian (not glibc, libstdc++ or CUDA's own, which the GPU
# machine has), and the Fashion-MNIST files.
#
#   bash scripts/gpu-pack.sh [OUT]     # default OUT: gpu-pack.tar.xz (git-ignored)
#
# then, on the GPU machine, from a copy of this tree that carries OUT:
#   bash scripts/gpu-check.sh --pack gpu-pack.tar.xz
# The file must stay under the device tool's 64 MiB carry limit; the script
# fails when it does not.
set -euo pipefail
out=$(realpath -m "${1:-$(dirname "$0")/../gpu-pack.tar.xz}")  # before the cd below
cd "$(dirname "$0")/.."
limit_mib=60
command -v nvcc > /dev/null || [ -x /usr/local/cuda/bin/nvcc ] ||
  { echo "gpu-pack: needs nvcc (CUDA at /usr/local/cuda)" >&2; exit 2; }
data=${TROUPE_FASHION_DIR:-/usr/share/datasets/fashion-mnist}
[ -f "$data/train-images-idx3-ubyte.gz" ] ||
  { echo "gpu-pack: no Fashion-MNIST in $data (apt-get install dataset-fashion-mnist)" >&2; exit 2; }

BUILD=${TROUPE_BUILD_DIR:-build-gpu}
bash scripts/gpu-build.sh "$BUILD"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pack=$stage/gpu-pack
mkdir -p "$pack/bin" "$pack/lib" "$pack/data/fashion-mnist"
cp "$BUILD/tools/troupe" "$BUILD/tests/kernels_test" "$BUILD/tests/engine_test" "$pack/bin/"
cp "$BUILD/lib/libtroupe_cuda.so" "$pack/lib/"
strip --strip-unneeded "$pack"/bin/* "$pack/lib/libtroupe_cuda.so"
# Debian's libraries by the name the binaries ask for (soname), resolved
# through symlinks; the C runtime and CUDA's libraries stay the GPU
# machine's own. One this machine cannot find would be missing there too.
if ldd "$pack"/bin/* "$pack/lib/libtroupe_cuda.so" | grep "not found"; then
  echo "gpu-pack: libraries missing on this machine (above)" >&2
  exit 1
fi
ldd "$pack"/bin/* "$pack/lib/libtroupe_cuda.so" |
  awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
  while read -r name path; do
    case $name in
      libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | librt.so.* | ld-linux* | \
        libstdc++.so.* | libgcc_s.so.* | libcuda.so.* | libcudart.so.* | libcublas*.so.*)
        ;;
      *) cp -L "$path" "$pack/lib/$name" ;;
    esac
  done
cp "$data"/*.gz "$pack/data/fashion-mnist/"
tar -C "$stage" -cJf "$out" gpu-pack
size=$(stat -c %s "$out")
echo "gpu-pack: $out, $((size / 1024 / 1024)) MiB: $(ls "$pack/lib" | wc -l) libraries," \
  "$(ls "$pack/bin" | tr '\n' ' ')"
if [ "$size" -gt $((limit_mib * 1024 * 1024)) ]; then
  echo "gpu-pack: over $limit_mib MiB; the device tool carries at most 64 MiB" >&2
  exit 1
fi
