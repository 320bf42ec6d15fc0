#!/usr/bin/env bash
# Configures and builds into build/: everything, or only the targets named
# (e.g. `scripts/build.sh bgctl backend-sample`). Installs missing packages.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if [ $# -gt 0 ]; then
  for target in "$@"; do
    cmake --build build -j"$(nproc)" --target "$target"
  done
else
  cmake --build build -j"$(nproc)"
fi
