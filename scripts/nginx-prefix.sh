#!/usr/bin/env bash
# Prepares an nginx prefix for one bgctl service so nginx runs unprivileged:
#
#   scripts/nginx-prefix.sh [--switch reload|lua] PREFIX LISTEN_PORT UPSTREAM_NAME INITIAL_PORT
#   nginx -p PREFIX -c nginx.conf -e stderr
#
# --switch lua (nginx.switch: lua) renders nginx/nginx-lua.conf.template
# instead (the Lua module, client keep-alive on), copies nginx/lua/ to
# PREFIX/lua, and its placeholder upstream also carries the balancer and an
# empty $bgctl_split (no control key: bgctl's first switch migrates it with
# one confirmed reload).
#
# Creates PREFIX/logs and PREFIX/tmp, renders PREFIX/nginx.conf from
# nginx/nginx.conf.template, copies nginx/bgctl_log_format.conf, and, only if
# PREFIX/upstream.conf does not exist yet, writes the placeholder upstream
# (generation 0, its one server 127.0.0.1:INITIAL_PORT marked `down`) so that
# nginx can start before the first deploy; until then the service answers 502.
# After that bgctl owns upstream.conf and this script never touches it.
# The placeholder is for a new nginx that nothing served before: on a live
# site keep the upstream file that serves today (nginx/README.md).
# The placeholder's text is exactly what RenderPlaceholderUpstream() in
# controller/upstream_file.cc renders (tests/nginx_e2e_test.cc checks it).
set -euo pipefail

usage() {
  echo "usage: $0 [--switch reload|lua] PREFIX LISTEN_PORT UPSTREAM_NAME INITIAL_PORT" >&2
  exit 2
}
switch=reload
if [ $# -ge 1 ] && [ "$1" = --switch ]; then
  [ $# -ge 2 ] || usage
  switch=$2
  shift 2
fi
case $switch in reload | lua) ;; *) usage ;; esac
[ $# -eq 4 ] || usage
prefix=$1 listen_port=$2 upstream_name=$3 initial_port=$4

check_port() {
  if ! [[ $2 =~ ^[0-9]{1,5}$ ]] || [ "$2" -lt 1 ] || [ "$2" -gt 65535 ]; then
    echo "$0: $1 must be a port number (1-65535), got \"$2\"" >&2
    exit 2
  fi
}
check_port LISTEN_PORT "$listen_port"
check_port INITIAL_PORT "$initial_port"
if ! [[ $upstream_name =~ ^[A-Za-z0-9_.-]+$ ]]; then
  echo "$0: UPSTREAM_NAME must be letters, digits, '_', '.' or '-', got \"$upstream_name\"" >&2
  exit 2
fi

src=$(cd "$(dirname "$0")/../nginx" && pwd)
mkdir -p "$prefix/logs" "$prefix/tmp"
# When the master runs as root its workers run as `nobody`: they must be
# able to reach tmp/ (proxy buffers spill there).
chmod 755 "$prefix" "$prefix/logs" "$prefix/tmp"

template=$src/nginx.conf.template
[ "$switch" = lua ] && template=$src/nginx-lua.conf.template
sed -e "s/@LISTEN_PORT@/$listen_port/g" -e "s/@UPSTREAM_NAME@/$upstream_name/g" \
  "$template" >"$prefix/nginx.conf.tmp"
mv -f "$prefix/nginx.conf.tmp" "$prefix/nginx.conf"
cp -f "$src/bgctl_log_format.conf" "$prefix/bgctl_log_format.conf"
if [ "$switch" = lua ]; then
  mkdir -p "$prefix/lua"
  chmod 755 "$prefix/lua"
  cp -f "$src/lua/bgctl.lua" "$prefix/lua/bgctl.lua"
fi

if [ ! -e "$prefix/upstream.conf" ] && [ "$switch" = lua ]; then
  # RenderLuaPlaceholderUpstream() in controller/upstream_file.cc.
  cat >"$prefix/upstream.conf.tmp" <<EOF
# written by bgctl, generation 0; do not edit
upstream $upstream_name {
    balancer_by_lua_block { require("bgctl").balance() }
    zone $upstream_name 64k;
    server 127.0.0.1:$initial_port down;
}
map \$host \$bgctl_generation {
    default "0";
}
map \$host \$bgctl_split {
    default "";
}
EOF
  mv -f "$prefix/upstream.conf.tmp" "$prefix/upstream.conf"
elif [ ! -e "$prefix/upstream.conf" ]; then
  cat >"$prefix/upstream.conf.tmp" <<EOF
# written by bgctl, generation 0; do not edit
upstream $upstream_name {
    zone $upstream_name 64k;
    server 127.0.0.1:$initial_port down;
}
map \$host \$bgctl_generation {
    default "0";
}
EOF
  mv -f "$prefix/upstream.conf.tmp" "$prefix/upstream.conf"
fi
