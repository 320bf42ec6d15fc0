#!/usr/bin/env bash
# Runs the access-log analysis benchmark: bgctl's reader + windowing against
# awk and GoAccess on the same generated log, in the same run. Builds
# nothing: run scripts/build.sh first. Needs awk and goaccess in PATH.
#
#   bench/log_analysis.sh [--lines N] [--runs N]
#
# BGCTL_BUILD_DIR picks another build folder (default: build/).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${BGCTL_BUILD_DIR:-build}/bench/log_analysis"
if [[ ! -x "$bin" ]]; then
  echo "log_analysis.sh: $bin not found; build first (scripts/build.sh)" >&2
  exit 1
fi
for tool in awk goaccess; do
  if ! command -v "$tool" >/dev/null; then
    echo "log_analysis.sh: $tool is not installed (scripts/install-deps.sh)" >&2
    exit 1
  fi
done
exec "$bin" "$@"
