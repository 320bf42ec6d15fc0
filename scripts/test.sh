#!/usr/bin/env bash
# Builds everything and runs the whole test suite (unit and end-to-end) with
# ctest. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 300 "$@"
