#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the
# main job (the reference Fashion-MNIST MLP, 2 workers + 2 shards in one
# process, staleness 2). Extra arguments go to `troupe train`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec ./"${TROUPE_BUILD_DIR:-build}"/tools/troupe train "$@"
