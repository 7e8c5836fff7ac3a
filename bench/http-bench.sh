#!/usr/bin/env bash
# Compares floe's HTTP GET throughput with nginx serving the same bytes as static files, and measures
# floe's HTTP PUT throughput. Everything runs on 127.0.0.1; both servers are stopped by pid.
#
#   bench/http-bench.sh            (needs nginx and wrk: scripts/install-deps.sh --bench)
#
# Environment: BENCH_SECONDS (per wrk run, default 5), BENCH_ROUNDS (alternating rounds, default 3),
# BENCH_CONNECTIONS (default 32), BENCH_THREADS (wrk threads, default 2), BENCH_WAL_SYNC (floe's
# wal.sync for the PUT run, default always), FLOE_BENCH_BUILD (build dir, default build/bench-release).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-32}
WRK_THREADS=${BENCH_THREADS:-2}
WAL_SYNC=${BENCH_WAL_SYNC:-always}
BUILD=${FLOE_BENCH_BUILD:-$ROOT/build/bench-release}

NAME=http-bench
# shellcheck source=bench/serve-common.sh
. "$ROOT/bench/serve-common.sh"
require_tools nginx wrk curl
build_floe
make_work

# start_floe SYNC: starts floe serve on a free port, sets FLOE_PID and FLOE_URL.
start_floe() {
  local sync=$1
  rm -rf "$WORK/data" "$WORK/cold"
  cat >"$WORK/floe.json" <<EOF
{ "data_dir": "$WORK/data",
  "http": { "listen": "127.0.0.1:0", "threads": 0, "max_connections_per_ip": 1024 },
  "wal": { "sync": "$sync" },
  "cold": { "backend": "fs", "fs": { "path": "$WORK/cold" } } }
EOF
  start_floe_serve "$WORK/floe.json" "$WORK/floe-$sync.log"
}

stop_floe() {
  kill "$FLOE_PID"
  wait "$FLOE_PID" || { echo "http-bench: floe serve exited non-zero" >&2; exit 1; }
  FLOE_PID=""
}

# wrk_rps URL [wrk args...]: prints requests/s of one run.
wrk_rps() {
  local url=$1
  shift
  wrk -t "$WRK_THREADS" -c "$CONNS" -d "${SECONDS_PER_RUN}s" "$@" "$url" | awk '/^Requests\/sec:/ {print $2}'
}

echo "== preparing objects" >&2
mkdir -p "$WORK/www/v1/objects"
head -c 1024 /dev/urandom >"$WORK/www/v1/objects/obj-1k"
head -c 65536 /dev/urandom >"$WORK/www/v1/objects/obj-64k"

start_floe never
for name in obj-1k obj-64k; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary "@$WORK/www/v1/objects/$name" \
    -H 'Content-Type: application/octet-stream' "$FLOE_URL/v1/objects/$name")
  [ "$code" = 201 ] || { echo "http-bench: PUT $name answered $code" >&2; exit 1; }
  curl -s "$FLOE_URL/v1/objects/$name" | cmp - "$WORK/www/v1/objects/$name" ||
    { echo "http-bench: floe returned different bytes for $name" >&2; exit 1; }
done

NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WORK/www;
  }
}
EOF
start_nginx /v1/objects/obj-1k
curl -s "http://127.0.0.1:$NGINX_PORT/v1/objects/obj-1k" | cmp - "$WORK/www/v1/objects/obj-1k" ||
  { echo "http-bench: nginx did not serve the file" >&2; exit 1; }

echo "== GET: floe vs nginx, ${ROUNDS} alternating rounds of ${SECONDS_PER_RUN}s, ${CONNS} connections" >&2
declare -A SUM
for name in obj-1k obj-64k; do
  SUM[floe-$name]=0
  SUM[nginx-$name]=0
  for round in $(seq 1 "$ROUNDS"); do
    f=$(wrk_rps "$FLOE_URL/v1/objects/$name")
    n=$(wrk_rps "http://127.0.0.1:$NGINX_PORT/v1/objects/$name")
    printf '  %-8s round %d: floe %10.0f req/s   nginx %10.0f req/s\n' "$name" "$round" "$f" "$n" >&2
    SUM[floe-$name]=$(awk -v a="${SUM[floe-$name]}" -v b="$f" 'BEGIN {print a + b}')
    SUM[nginx-$name]=$(awk -v a="${SUM[nginx-$name]}" -v b="$n" 'BEGIN {print a + b}')
  done
done
kill "$NGINX_PID"
wait "$NGINX_PID" 2>/dev/null || true
NGINX_PID=""
stop_floe

echo "== PUT: floe, 1 KiB bodies to distinct keys, wal.sync=$WAL_SYNC" >&2
start_floe "$WAL_SYNC"
cat >"$WORK/put.lua" <<'EOF'
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  n = 0
  body = string.rep("x", 1024)
end
function request()
  n = n + 1
  return wrk.format("PUT", "/v1/objects/bench/" .. id .. "/" .. n, {["Content-Type"] = "application/octet-stream"}, body)
end
local non201 = 0
function response(status, headers, body)
  if status ~= 201 then non201 = non201 + 1 end
end
function done(summary, latency, requests)
  io.stderr:write(string.format("  PUT errors (socket): connect %d read %d write %d timeout %d, status %d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    summary.errors.status))
end
EOF
PUT_RPS=$(wrk_rps "$FLOE_URL" -s "$WORK/put.lua")
stored=$(curl -s "$FLOE_URL/v1/stats" | sed -n 's/.*"puts":\([0-9]*\).*/\1/p')
stop_floe

echo
printf '%-22s %14s %14s %8s\n' "GET (mean req/s)" "floe" "nginx" "ratio"
for name in obj-1k obj-64k; do
  f=$(awk -v s="${SUM[floe-$name]}" -v r="$ROUNDS" 'BEGIN {printf "%.0f", s / r}')
  n=$(awk -v s="${SUM[nginx-$name]}" -v r="$ROUNDS" 'BEGIN {printf "%.0f", s / r}')
  ratio=$(awk -v a="$f" -v b="$n" 'BEGIN {printf "%.2f", a / b}')
  printf '%-22s %14s %14s %8s\n' "$name" "$f" "$n" "$ratio"
done
printf '%-22s %14.0f req/s  (%s objects stored, wal.sync=%s)\n' "PUT 1 KiB" "$PUT_RPS" "${stored:-?}" "$WAL_SYNC"
