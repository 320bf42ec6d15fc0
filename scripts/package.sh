#!/usr/bin/env bash
# The Debian package: bgctl_VERSION_ARCH.deb (cmake/Packaging.cmake says what
# is in it).
#
#   scripts/package.sh                  configure and build build-pkg/ (only bgctl
#                                       and its man page and completion, with
#                                       Debian's build flags), run cpack, run
#                                       lintian; the .deb is in build-pkg/
#   scripts/package.sh --from DIR [--out OUT] [--no-lint]
#                                       package an already built tree DIR (the
#                                       tests package the build they test) into
#                                       OUT (default DIR), building nothing
#   scripts/package.sh --lint DEB       only lintian on DEB
#
# Prints the .deb's path as the last line of stdout. lintian must report no
# error (warnings are printed and allowed); when lintian is not installed it
# says "SKIPPED: lintian is not installed" and exits 0.
set -euo pipefail
here=$PWD
abs() { case $1 in /*) echo "$1" ;; *) echo "$here/$1" ;; esac; }
cd "$(dirname "$0")/.."

lint() {
  if ! command -v lintian >/dev/null; then
    echo "SKIPPED: lintian is not installed (scripts/install-deps.sh installs it)"
    return 0
  fi
  # --fail-on error: warnings are shown, errors fail. Overrides are shipped
  # in the package (packaging/lintian-overrides, each with its reason).
  lintian --fail-on error --info --display-info --tag-display-limit 0 "$1"
  echo "lintian: no errors in $1"
}

from="" out="" do_lint=1
while [ $# -gt 0 ]; do
  case $1 in
    --from) from=$(abs "$2"); shift 2 ;;
    --out) out=$(abs "$2"); shift 2 ;;
    --no-lint) do_lint=0; shift ;;
    --lint) lint "$(abs "$2")"; exit ;;
    *) echo "usage: $0 [--from BUILD_DIR] [--out DIR] [--no-lint] | --lint DEB" >&2; exit 2 ;;
  esac
done

if [ -z "$from" ]; then
  scripts/install-deps.sh
  from=build-pkg
  # Debian's flags (hardening: PIE, relro, now, fortify, stack protector),
  # as debhelper passes them, with CMAKE_BUILD_TYPE None so they are the
  # only ones; -g is dropped (the package strips the binary anyway).
  export DEB_BUILD_MAINT_OPTIONS=hardening=+all
  cxxflags="$(dpkg-buildflags --get CXXFLAGS | sed -e 's/\(^\| \)-g\( \|$\)/ /') $(dpkg-buildflags --get CPPFLAGS)"
  ldflags=$(dpkg-buildflags --get LDFLAGS)
  cmake -S . -B "$from" -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="$cxxflags" \
    -DCMAKE_EXE_LINKER_FLAGS="$ldflags" >/dev/null
  cmake --build "$from" -j"$(nproc)" --target bgctl bgctl-docs
fi
from=$(cd "$from" && pwd)
out=$(mkdir -p "${out:-$from}" && cd "${out:-$from}" && pwd)

rm -f "$out"/bgctl_*.deb
(cd "$from" && cpack --config CPackConfig.cmake -B "$out" >"$out/cpack.log" 2>&1) || {
  cat "$out/cpack.log" >&2
  echo "$0: cpack failed (log above, in $out/cpack.log)" >&2
  exit 1
}
deb=$(ls "$out"/bgctl_*.deb)
[ "$do_lint" = 1 ] && lint "$deb"
echo "$deb"
