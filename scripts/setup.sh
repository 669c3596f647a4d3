#!/usr/bin/env bash
# Installs what Troupe needs on Debian 12 (as root) and fetches the real data
# sets. Idempotent: CI and the main-job command both call it.
set -euo pipefail

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libcaf-dev capnproto libcapnp-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev
  libcli11-dev libtomlplusplus-dev zlib1g-dev libssl-dev prometheus-cpp-dev gnuplot-nox
  dataset-fashion-mnist
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all apt packages present"
fi
bash "$(dirname "$0")/fetch-data.sh"
