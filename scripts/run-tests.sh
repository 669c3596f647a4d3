#!/usr/bin/env bash
# The README's second command (and CI's): install what is missing, build,
# and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd "${TROUPE_BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" --timeout 900
