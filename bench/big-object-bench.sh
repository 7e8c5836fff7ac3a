#!/usr/bin/env bash
# Issue 11's benchmark: PUT and GET of one large object (default 1 GiB) through floe serve vs nginx
# accepting it (dav_methods PUT, the body buffered to a temp file past client_body_buffer_size) and
# serving it (a static file), in alternating rounds: MB/s of each transfer and the server's peak RSS
# during it. Everything runs on 127.0.0.1; both servers are stopped by pid.
#
#   bench/big-object-bench.sh          (needs nginx and curl: scripts/install-deps.sh --bench)
#
# Environment: BENCH_MIB (object size, default 1024; floe streams it in chunks, so it is limited by
# the disk of the work directory, which holds it three times: the file sent, floe's and nginx's copy),
# BENCH_ROUNDS (default 3), FLOE_BENCH_BUILD (build dir, default build/bench-release).
#
# Peak RSS: the server process's VmHWM from /proc, reset before each transfer by writing 5 to its
# clear_refs, so each figure is the peak of that one transfer (nginx: its one worker process).
# Output: one line per round and transfer,
#   "  put round N: floe MBPS MB/s rss RSS_MIB MiB   nginx MBPS MB/s rss RSS_MIB MiB"
# and the same for get.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
MIB=${BENCH_MIB:-1024}
ROUNDS=${BENCH_ROUNDS:-3}
BUILD=${FLOE_BENCH_BUILD:-$ROOT/build/bench-release}

NAME=big-object-bench
# shellcheck source=bench/serve-common.sh
. "$ROOT/bench/serve-common.sh"
require_tools nginx curl
if [ "$MIB" -lt 1 ]; then
  echo "big-object-bench: BENCH_MIB must be at least 1" >&2
  exit 2
fi

build_floe
make_work

# reset_peak PID / peak_mib PID: the process's peak RSS since the reset, in MiB.
reset_peak() { echo 5 >"/proc/$1/clear_refs"; }
peak_mib() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# transfer METHOD URL: runs curl and prints MB/s (10^6 bytes per second) of the body.
transfer() {
  local method=$1 url=$2 out
  if [ "$method" = PUT ]; then
    out=$(curl -sS -o /dev/null -w '%{http_code} %{speed_upload}' -H 'Expect:' -T "$WORK/object" "$url")
  else
    out=$(curl -sS -o "$WORK/got" -w '%{http_code} %{speed_download}' "$url")
  fi
  case "${out%% *}" in
  200 | 201 | 204) ;;
  *)
    echo "big-object-bench: $method $url answered ${out%% *}" >&2
    exit 1
    ;;
  esac
  awk -v s="${out#* }" 'BEGIN { printf "%.1f", s / 1e6 }'
}

echo "== preparing a $MIB MiB object" >&2
head -c "$((MIB * 1024 * 1024))" /dev/urandom >"$WORK/object"

mkdir -p "$WORK/data" "$WORK/cold"
cat >"$WORK/floe.json" <<EOF
{ "data_dir": "$WORK/data",
  "http": { "listen": "127.0.0.1:0", "threads": 0, "max_object_bytes": $((MIB * 1024 * 1024)) },
  "cold": { "backend": "fs", "fs": { "path": "$WORK/cold" } } }
EOF
start_floe_serve "$WORK/floe.json" "$WORK/floe.log"

NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/body" "$WORK/www"
chmod 777 "$WORK/nginx/body" "$WORK/www" # nginx's worker runs as an unprivileged user
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_max_body_size 0;
  client_body_buffer_size 1m;
  client_body_temp_path $WORK/nginx/body;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WORK/www;
    dav_methods PUT;
    create_full_put_path on;
    dav_access user:rw group:r all:r;
  }
}
EOF
start_nginx /
NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1)
[ -n "$NGINX_WORKER" ] || { echo "big-object-bench: no nginx worker" >&2; exit 1; }

echo "== $MIB MiB PUT and GET: floe serve vs nginx, $ROUNDS alternating rounds" >&2
for round in $(seq 1 "$ROUNDS"); do
  reset_peak "$FLOE_PID"
  fp=$(transfer PUT "$FLOE_URL/v1/objects/big-$round")
  fr=$(peak_mib "$FLOE_PID")
  reset_peak "$NGINX_WORKER"
  np=$(transfer PUT "http://127.0.0.1:$NGINX_PORT/big-$round")
  nr=$(peak_mib "$NGINX_WORKER")
  printf '  put round %d: floe %s MB/s rss %s MiB   nginx %s MB/s rss %s MiB\n' "$round" "$fp" "$fr" "$np" "$nr" >&2
  reset_peak "$FLOE_PID"
  fg=$(transfer GET "$FLOE_URL/v1/objects/big-$round")
  fgr=$(peak_mib "$FLOE_PID")
  cmp -s "$WORK/got" "$WORK/object" || { echo "big-object-bench: floe returned other bytes" >&2; exit 1; }
  reset_peak "$NGINX_WORKER"
  ng=$(transfer GET "http://127.0.0.1:$NGINX_PORT/big-$round")
  ngr=$(peak_mib "$NGINX_WORKER")
  cmp -s "$WORK/got" "$WORK/object" || { echo "big-object-bench: nginx returned other bytes" >&2; exit 1; }
  printf '  get round %d: floe %s MB/s rss %s MiB   nginx %s MB/s rss %s MiB\n' "$round" "$fg" "$fgr" "$ng" "$ngr" >&2
  rm -f "$WORK/www/big-$round" "$WORK/got"
done
kill "$NGINX_PID"
wait "$NGINX_PID" 2>/dev/null || true
NGINX_PID=""
kill "$FLOE_PID"
wait "$FLOE_PID" || { echo "big-object-bench: floe serve exited non-zero" >&2; exit 1; }
FLOE_PID=""
