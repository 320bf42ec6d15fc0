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
  # the test hosts (tests/support/test_hosts) run their own sshd on
  # 127.0.0.N; controller/ssh runs ssh and ssh-keygen
  openssh-server openssh-client
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
# Where systemd is not PID 1, openssh-server's maintainer script starts a
# system sshd on 0.0.0.0:22 through its init script. A policy-rc.d that exits
# 101 forbids every service start during the install; one we put there is
# removed after (one that was there already, as in Docker images, stays).
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# bgctl install-deps: no service starts during the install\nexit 101\n' |
    "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  own_policy=1
fi
remove_policy() { if [ "$own_policy" = 1 ]; then "${sudo[@]}" rm -f "$policy"; fi; }
trap remove_policy EXIT
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
remove_policy
own_policy=0
# If an sshd started all the same (a policy-rc.d of another kind), stop it by
# its pid file: nothing of bgctl's tests listens on 0.0.0.0.
if [ -s /run/sshd.pid ] && [ "$(ps -o comm= -p "$(cat /run/sshd.pid)" 2>/dev/null)" = sshd ]; then
  "${sudo[@]}" kill "$(cat /run/sshd.pid)" || true
fi
# Debian's nginx package starts a system nginx on port 80; bgctl never uses it.
if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
  "${sudo[@]}" systemctl stop nginx || true
fi
