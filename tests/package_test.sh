#!/usr/bin/env bash
# The Debian package, as a user gets it (ctest package_contents_and_deploy;
# the fixture package_build made OUT/bgctl_VERSION_ARCH.deb from the build
# under test with scripts/package.sh --from):
#   1. `dpkg-deb -I`: name, version, architecture, section, maintainer,
#      description, Recommends, and a Depends that names the package of every
#      shared library the binary needs (computed by dpkg-shlibdeps);
#   2. `dpkg-deb -c`: exactly the expected files (nginx/'s *.conf, *.template,
#      *.lua and README.md taken from the source tree), owned by root, modes
#      755/644;
#   3. `dpkg-deb -x` into OUT/root, then a real deploy with the unpacked
#      /usr/bin/bgctl and the unpacked nginx template and log format (rendered
#      by the unpacked nginx-prefix.sh) against a real nginx on free loopback
#      ports: validate, deploy v1, deploy v2 in steps; v2 answers through nginx.
# Stops nginx and every backend it started on exit, also on failure.
#
#   tests/package_test.sh OUT VERSION BACKEND_SAMPLE
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 OUT VERSION BACKEND_SAMPLE" >&2; exit 2; }
out=$1 version=$2 backend=$3
src=$(cd "$(dirname "$0")/.." && pwd)
deb=$(ls "$out"/bgctl_"$version"_*.deb)
fail() { echo "FAIL: $*" >&2; exit 1; }
echo "package: $deb ($(stat -c %s "$deb") bytes)"

# --- 1. control fields
info=$(dpkg-deb -I "$deb")
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = bgctl ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version: $(field Version), expected $version"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] || fail "Architecture: $(field Architecture)"
[ "$(field Section)" = admin ] || fail "Section: $(field Section)"
[ "$(field Recommends)" = "nginx, libnginx-mod-http-lua" ] || fail "Recommends: $(field Recommends)"
[ -n "$(field Maintainer)" ] || fail "no Maintainer"
# Captured before matching: under pipefail, `dpkg-deb | head -1` or
# `zcat | grep -q` fail whenever the reader exits before the writer is done
# (SIGPIPE), which made this test fail at random on CI.
description=$(field Description)
[[ "${description%%$'\n'*}" == *'blue/green and canary'* ]] ||
  fail "Description: ${description%%$'\n'*}"
[ "$(wc -l <<<"$description")" -gt 3 ] || fail "no extended description"
depends=$(field Depends)
[ -n "$depends" ] || fail "no Depends (dpkg-shlibdeps did not run): $info"

# --- 2. the file list
list=$(dpkg-deb -c "$deb")
expected_files() {
  printf '%s\n' ./usr/bin/bgctl \
    ./usr/share/bash-completion/completions/bgctl \
    ./usr/share/bgctl/scripts/nginx-prefix.sh \
    ./usr/share/doc/bgctl/changelog.gz \
    ./usr/share/doc/bgctl/copyright \
    ./usr/share/doc/bgctl/README.md \
    ./usr/share/doc/bgctl/examples/bgctl.yaml \
    ./usr/share/doc/bgctl/examples/github-actions-deploy.yml \
    ./usr/share/man/man1/bgctl.1.gz
  (cd "$src/nginx" && find . -type f \( -name '*.conf' -o -name '*.template' \
    -o -name '*.lua' -o -name README.md \)) | sed 's|^\./|./usr/share/bgctl/nginx/|'
  (cd "$src/docs" && find . -type f -name '*.md') | sed 's|^\./|./usr/share/doc/bgctl/docs/|'
}
expected=$( {
  expected_files
  # Every parent folder of every file, as dpkg-deb lists them ("./usr/";
  # CPack's data.tar has no "./" entry).
  expected_files | while read -r f; do
    d=$(dirname "$f")
    while [ "$d" != . ]; do echo "$d/"; d=$(dirname "$d"); done
  done
} | sort -u)
actual=$(awk '{print $6}' <<<"$list" | sort)
if [ "$actual" != "$expected" ]; then
  diff <(echo "$expected") <(echo "$actual") >&2 || true
  fail "dpkg-deb -c lists other files than expected (< expected, > in the package)"
fi
while read -r mode owner _ _ _ path; do
  [ "$owner" = root/root ] || fail "$path is owned by $owner"
  case $path in
    */) want=drwxr-xr-x ;;
    ./usr/bin/bgctl | ./usr/share/bgctl/scripts/nginx-prefix.sh) want=-rwxr-xr-x ;;
    *) want=-rw-r--r-- ;;
  esac
  [ "$mode" = "$want" ] || fail "$path has mode $mode, expected $want"
done <<<"$list"
echo "dpkg-deb -c: the $(grep -vc '/$' <<<"$actual") expected files, root/root, 755/644"

# --- 3. unpack and use it
root="$out/root"
rm -rf "$root"
dpkg-deb -x "$deb" "$root"
bgctl="$root/usr/bin/bgctl"
file_says=$(file "$bgctl")
[[ "$file_says" == *stripped* && "$file_says" != *'not stripped'* ]] ||
  fail "the binary is not stripped: $file_says"
[ "$("$bgctl" --version)" = "bgctl $version" ] || fail "--version: $("$bgctl" --version)"
man_page=$(zcat "$root/usr/share/man/man1/bgctl.1.gz")
[[ "$man_page" == *'lock\-wait'* ]] ||
  fail "the man page does not document --lock-wait"
# The man page as man shows it: the configuration list keeps one key and
# its text per entry (help2man once ran them together), and the README it
# points to is in the package.
rendered=$(MANWIDTH=80 man -l "$root/usr/share/man/man1/bgctl.1.gz" 2>/dev/null | col -bx)
config_list=$(sed -n '/^ *Configuration:/,/^ *Exit status:/p' <<<"$rendered")
for key in nginx.switch nginx.lua nginx.upstream_keepalive backend.runner \
  rollout.analysis.method metrics.textfile; do
  grep -Eq "^ +$key\$" <<<"$config_list" ||
    fail "man bgctl: \"$key\" is not a line of its own in the configuration list:
$config_list"
done
text=$(grep -A1 -E '^ +nginx\.switch$' <<<"$config_list")
[[ "${text#*$'\n'}" =~ ^\ +reload\ \(any\ nginx\)\ or\ lua\ \(no\ reload\)$ ]] ||
  fail "man bgctl: nginx.switch is not followed by its text: $text"
cmp -s "$root/usr/share/doc/bgctl/README.md" "$src/README.md" ||
  fail "/usr/share/doc/bgctl/README.md is not the README"

# Depends names the package of every library the binary links directly
# (its NEEDED entries, where ldd finds them; ldd also lists their own
# libraries, which are their packages' dependencies, not ours).
libs=$(ldd "$bgctl")
for soname in $(objdump -p "$bgctl" | awk '$1 == "NEEDED" {print $2}'); do
  lib=$(awk -v s="$soname" '$1 == s && $3 ~ /^\// {print $3}' <<<"$libs")
  [ -n "$lib" ] || fail "ldd does not find $soname"
  owner=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null ||
    dpkg -S "${lib#/usr}" 2>/dev/null) || fail "no package owns $lib"
  pkg=${owner%%:*}
  sed 's/, /\n/g' <<<"$depends" | awk '{print $1}' | grep -Fx "$pkg" >/dev/null ||
    fail "Depends ($depends) lacks $pkg (for $lib)"
done
echo "Depends: $depends"

run="$out/run"
rm -rf "$run"
mkdir -p "$run"
chmod 755 "$out" "$run"  # nginx's workers (nobody, when root) reach tmp/
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port) blue=$(free_port) green=$(free_port)
[ "$port" != "$blue" ] && [ "$port" != "$green" ] && [ "$blue" != "$green" ] ||
  fail "free_port gave the same port twice"

nginx_pid=""
cleanup() {
  set +e
  # Backends run in their own sessions: find ours by binary and port.
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")
    case $cmd in
      "$backend --port $blue "* | "$backend --port $green "*) kill -KILL "${p#/proc/}" ;;
    esac
  done
  if [ -n "$nginx_pid" ]; then
    kill -TERM "$nginx_pid"
    for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nginx_pid" 2>/dev/null
  fi
}
trap cleanup EXIT

"$root/usr/share/bgctl/scripts/nginx-prefix.sh" "$run/nginx" "$port" pkg_backend "$blue"
cmp -s "$run/nginx/bgctl_log_format.conf" "$root/usr/share/bgctl/nginx/bgctl_log_format.conf" ||
  fail "nginx-prefix.sh did not take the unpacked log format"
# In the foreground, as our child; SIGTERM to it if this script dies.
setpriv --pdeathsig TERM /usr/sbin/nginx -p "$run/nginx" -c nginx.conf -e stderr \
  -g 'daemon off;' >"$run/nginx.out" 2>&1 &
nginx_pid=$!
for _ in $(seq 100); do
  [ -s "$run/nginx/logs/nginx.pid" ] && break
  kill -0 "$nginx_pid" 2>/dev/null || fail "nginx did not start: $(cat "$run/nginx.out")"
  sleep 0.05
done
[ -s "$run/nginx/logs/nginx.pid" ] || fail "nginx wrote no pid file in 5 s"

cat >"$run/bgctl.yaml" <<YAML
service: pkgtest
state_dir: state
nginx:
  upstream_file: nginx/upstream.conf
  upstream_name: pkg_backend
  test_command:   [/usr/sbin/nginx, -t, -q, -p, nginx, -c, nginx.conf, -e, stderr]
  reload_command: [/usr/sbin/nginx, -s, reload, -p, nginx, -c, nginx.conf, -e, stderr]
  access_log: nginx/logs/access.log
  probe_url: http://127.0.0.1:$port/__bgctl/generation
slots:
  blue:  {port: $blue}
  green: {port: $green}
backend:
  command: [$backend, --port, "{port}", --version, "{version}"]
  health: {path: /healthz, interval: 50ms, timeout: 500ms, healthy_threshold: 2, deadline: 10s}
  drain: {signal: SIGTERM, timeout: 5s}
rollout:
  steps: [{weight: 50, pause: 500ms}, {weight: 100}]
  analysis: {interval: 250ms, min_requests: 20, failure_limit: 1, max_error_rate: 0.05, max_p99_latency: 250ms, max_latency_ratio: 10}
YAML
bg() { timeout 60 "$bgctl" -c "$run/bgctl.yaml" "$@"; }
answer() {  # the version nginx answers with now, over a new connection
  curl -s --max-time 5 "http://127.0.0.1:$port/" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])' 2>/dev/null || echo none
}
bg validate || fail "bgctl validate with the unpacked snippets exited $?"
bg deploy --version v1 || fail "deploy v1 exited $?"
[ "$(answer)" = v1 ] || fail "after deploy v1 nginx answers $(answer)"
bg deploy --version v2 || fail "deploy v2 exited $?"
for _ in 1 2 3 4 5; do
  [ "$(answer)" = v2 ] || fail "after deploy v2 nginx answers $(answer)"
done
phase=$(bg --output json status | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["phase"], d["stable"]["version"])')
[ "$phase" = "promoted v2" ] || fail "status: $phase"
echo "deploy with the unpacked bgctl and nginx files: v1 then v2, v2 answers, status promoted v2"
