#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run):
#   1. builds everything into build/ (gcc) and runs every test with ctest,
#      among them the Debian package's (package_*: cpack of build/ itself,
#      so no second compile; lintian; a deploy with the unpacked files);
#   2. builds bgctl, backend-sample and the tests again with clang under
#      ASan+UBSan into build-san/ (-DBGCTL_SANITIZE=ON) and runs the suite
#      there; every sanitizer report (also from a bgctl or backend process a
#      test started) is written to build-san/sanitizer-reports/ and fails
#      the run;
#   3. runs each libFuzzer target of tests/fuzz (-DBGCTL_FUZZ=ON) for
#      BGCTL_FUZZ_SECONDS (default 30) on its committed seed corpus, with a
#      512 MB RSS limit; a crash, a sanitizer report or the limit fails it.
# BGCTL_SANITIZE=0 stops after step 1 (a quick local run). Arguments are
# passed to both ctest runs (e.g. -R lock). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc)

scripts/build.sh
(cd build && ctest --output-on-failure -j"$jobs" --timeout 300 "$@")
[ "${BGCTL_SANITIZE:-1}" = 0 ] && exit 0

echo "== ASan+UBSan build (build-san/, clang), ${SECONDS}s into test.sh"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# -O1 and line tables only: the sanitizers' usual flags, and the build of
# the suite takes about half the time of -O2 -g.
cmake -S . -B build-san -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only" -DCMAKE_CXX_COMPILER=clang++ \
  -DBGCTL_SANITIZE=ON -DBGCTL_FUZZ=ON "${launcher[@]}" >/dev/null
cmake --build build-san -j"$jobs" --target bgctl bgctl_tests backend-sample fuzz

reports="$root/build-san/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
check_reports() {
  if compgen -G "$reports/*" >/dev/null; then
    echo "test.sh: sanitizer reports ($1):" >&2
    for f in "$reports"/*; do echo "--- $f" >&2; head -50 "$f" >&2; done
    exit 1
  fi
}
echo "== the suite under ASan+UBSan, ${SECONDS}s into test.sh"
status=0
(cd build-san && ctest --output-on-failure -j"$jobs" --timeout 600 "$@") || status=$?
check_reports "the suite"
[ "$status" -eq 0 ] || exit "$status"

echo "== fuzzing, ${BGCTL_FUZZ_SECONDS:-30} s per target, $jobs at a time, ${SECONDS}s into test.sh"
# libFuzzer reports on stderr itself; keep ASan's report there too.
export ASAN_OPTIONS="detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# One target: its log in build-san/fuzz-work/TARGET.log, exit status kept.
fuzz_one() {
  local target=$1 corpus=$2 work="build-san/fuzz-work/$1"
  mkdir -p "$work"
  build-san/fuzz/"$target" -max_total_time="${BGCTL_FUZZ_SECONDS:-30}" \
    -rss_limit_mb=512 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="build-san/fuzz-work/$target-" "$work" "$corpus" \
    >"$work.log" 2>&1
}
fuzz_failed=()
targets=()
pids=()
for corpus in tests/fuzz/corpus/*/; do
  target=$(basename "$corpus")
  # At most $jobs at once: wait for the oldest before starting another.
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || fuzz_failed+=("${targets[0]}")
    pids=("${pids[@]:1}")
    targets=("${targets[@]:1}")
  fi
  fuzz_one "$target" "$corpus" &
  pids+=($!)
  targets+=("$target")
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || fuzz_failed+=("${targets[$i]}")
done
for corpus in tests/fuzz/corpus/*/; do
  target=$(basename "$corpus")
  echo "-- $target $(grep -E 'stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
    "build-san/fuzz-work/$target.log" | tr -s ' ' | paste -sd' ')"
done
for target in "${fuzz_failed[@]}"; do
  tail -60 "build-san/fuzz-work/$target.log" >&2
  echo "test.sh: fuzz target $target failed; the input is build-san/fuzz-work/$target-*" >&2
done
[ ${#fuzz_failed[@]} -eq 0 ] || exit 1
echo "== test.sh: all passed in ${SECONDS}s"
