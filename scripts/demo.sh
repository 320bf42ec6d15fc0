#!/usr/bin/env bash
# The bgctl demo, on a fresh machine: installs what is missing, builds, starts
# a real nginx (unprivileged, in demo-run/) on a free loopback port, then
#   1. deploys v1 (the first deploy goes straight to 100% once healthy),
#   2. deploys v2 with steps 10% -> 50% -> 100% while a load generator sends
#      requests through nginx, and counts failed requests (expect 0),
#   3. deploys a bad v3 (30% of its answers are 500) and watches bgctl roll
#      it back by itself,
#   4. shows status and history, and stops everything it started.
#
#   scripts/demo.sh [--switch lua|reload]
#
# The default, nginx.switch: lua, moves traffic through nginx's Lua module
# without a reload (client keep-alive on, every load client on keep-alive);
# --switch reload tells the same story on the reload switch (any nginx:
# bgctl rewrites the upstream file and reloads nginx at every step; client
# keep-alive off, half of the load clients on keep-alive).
set -euo pipefail
switch=lua
if [ $# -ge 1 ]; then
  if [ $# -ne 2 ] || [ "$1" != --switch ] || { [ "$2" != reload ] && [ "$2" != lua ]; }; then
    echo "usage: $0 [--switch lua|reload]" >&2
    exit 2
  fi
  switch=$2
fi
keep_alive_share=0.5
[ "$switch" = lua ] && keep_alive_share=1
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/build.sh bgctl backend-sample load_client

run="$root/demo-run"
rm -rf "$run"
mkdir -p "$run"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nginx_port=$(free_port) blue=$(free_port) green=$(free_port)
while [ "$green" = "$blue" ]; do green=$(free_port); done

scripts/nginx-prefix.sh --switch "$switch" "$run/nginx" "$nginx_port" demo_backend "$blue"
nginx_pids=()
cleanup() {
  set +e
  [ -n "${load_pid:-}" ] && kill "$load_pid" 2>/dev/null
  if [ -f "$run/nginx/logs/nginx.pid" ]; then
    /usr/sbin/nginx -p "$run/nginx" -c nginx.conf -e stderr -s stop 2>/dev/null
  fi
  # Backends run in their own sessions (they outlive bgctl by design).
  for f in "$run"/state/state.json; do
    [ -f "$f" ] || continue
    for pid in $(grep -o '"pid": *[0-9]*' "$f" | grep -o '[0-9]*$'); do
      [ "$pid" -gt 0 ] && kill -TERM "$pid" 2>/dev/null
    done
  done
  wait 2>/dev/null
}
trap cleanup EXIT
/usr/sbin/nginx -p "$run/nginx" -c nginx.conf -e stderr

write_config() {  # $1: file, $2: extra backend flags (a YAML list tail)
  cat >"$1" <<YAML
service: demo
state_dir: state
nginx:
  upstream_file: nginx/upstream.conf
  upstream_name: demo_backend
  test_command:   [/usr/sbin/nginx, -t, -q, -p, nginx, -c, nginx.conf, -e, stderr]
  reload_command: [/usr/sbin/nginx, -s, reload, -p, nginx, -c, nginx.conf, -e, stderr]
  access_log: nginx/logs/access.log
  probe_url: http://127.0.0.1:$nginx_port/__bgctl/generation
  switch: $switch
  upstream_keepalive: 32        # the shipped nginx.conf speaks HTTP/1.1 upstream
slots:
  blue:  {port: $blue}
  green: {port: $green}
backend:
  command: [$root/build/backend-sample/backend-sample, --port, "{port}", --version, "{version}"$2]
  health: {path: /healthz, interval: 100ms, timeout: 1s, healthy_threshold: 3, deadline: 10s}
  drain: {signal: SIGTERM, timeout: 10s}
rollout:
  steps:
    - {weight: 10, pause: 3s}
    - {weight: 50, pause: 3s}
    - {weight: 100}
  analysis:
    interval: 1s
    min_requests: 20
    failure_limit: 2
    max_error_rate: 0.01
    max_p99_latency: 500ms
    max_latency_ratio: 3
YAML
}
write_config "$run/bgctl.yaml" ""
write_config "$run/bgctl-bad.yaml" ", --error-rate, \"0.3\""
bgctl="$root/build/bgctl"

echo "== nginx ($switch switch) on 127.0.0.1:$nginx_port; slots blue=$blue green=$green"
nginx_master=$(cat "$run/nginx/logs/nginx.pid")
echo "== 1. first deploy: v1"
"$bgctl" -c "$run/bgctl.yaml" deploy --version v1

echo "== 2. deploy v2 under load (build/bench/load_client: 4 clients, keep-alive share $keep_alive_share, 200 req/s through nginx)"
workers_before=$(pgrep -P "$nginx_master" | sort | tr '\n' ' ')
"$root/build/bench/load_client" --port "$nginx_port" --seconds 12 --connections 4 --rate 200 --post-share 0.2 \
  --keep-alive-share "$keep_alive_share" \
  >"$run/load.txt" &
load_pid=$!
sleep 0.5
"$bgctl" -c "$run/bgctl.yaml" deploy --version v2
wait "$load_pid"; load_pid=
cat "$run/load.txt"
echo "nginx workers before: $workers_before; after: $(pgrep -P "$nginx_master" | sort | tr '\n' ' ')"

echo "== 3. deploy a bad v3 (30% errors): bgctl rolls it back by itself"
"$root/build/bench/load_client" --port "$nginx_port" --seconds 8 --connections 4 --rate 200 --post-share 0.2 \
  --keep-alive-share "$keep_alive_share" \
  >"$run/load-bad.txt" &
load_pid=$!
set +e
"$bgctl" -c "$run/bgctl-bad.yaml" deploy --version v3
echo "(bgctl exit code $? = rolled back)"
set -e
wait "$load_pid"; load_pid=
cat "$run/load-bad.txt"

echo "== 4. status and history"
"$bgctl" -c "$run/bgctl.yaml" status
"$bgctl" -c "$run/bgctl.yaml" history
