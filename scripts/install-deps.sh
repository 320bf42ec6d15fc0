#!/usr/bin/env bash
# Installs bgctl's build, test and benchmark dependencies from Debian's
# packages. Idempotent: installs only the packages that are missing.
# Works as root, or as a user with sudo.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libcpp-httplib-dev nlohmann-json3-dev libyaml-cpp-dev
  libboost-dev libboost-filesystem-dev libcli11-dev catch2
  nginx-light curl wrk goaccess util-linux bsdutils procps python3
  # scripts/test.sh: the ASan+UBSan build and the libFuzzer targets (clang's
  # sanitizer and -fsanitize=fuzzer runtimes are in libclang-rt-14-dev)
  clang libclang-rt-14-dev
  # the systemd end-to-end tests (systemd as PID 1 of a namespace)
  systemd
  # nginx.switch: lua (ngx_http_lua_module and lua-resty-core)
  libnginx-mod-http-lua
  # the package (scripts/package.sh): man page, shared-library dependencies,
  # lintian; promtool checks the metrics textfile
  help2man dpkg-dev file lintian prometheus
  # tests/workflow_test.py parses docs/github-actions-deploy.yml
  python3-yaml
)

missing=()
for p in "${packages[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != 'install ok installed' ]; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's nginx package starts a system nginx on port 80; bgctl never uses it.
if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
  "${sudo[@]}" systemctl stop nginx || true
fi
