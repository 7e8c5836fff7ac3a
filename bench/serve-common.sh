# shellcheck shell=bash
# Shared by the benchmarks that drive floe serve and nginx over HTTP (http-bench.sh,
# big-object-bench.sh); sourced, not run. The sourcing script sets NAME (its name in messages),
# ROOT and BUILD first. Provides: require_tools, build_floe (sets FLOE), make_work (sets WORK and a
# trap that stops FLOE_PID and NGINX_PID and removes WORK), start_floe_serve, start_nginx, free_port.

# require_tools TOOL...: exits with a message naming the first one missing.
require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$NAME: $tool is missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
  done
}

# build_floe: a Release build of the floe tool in BUILD; sets FLOE.
build_floe() {
  echo "== building floe (Release) in $BUILD" >&2
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" --target floe_cli -j "$(nproc)" >/dev/null
  FLOE="$BUILD/floe"
}

# make_work: a fresh work directory in WORK, removed on exit with the servers started in it.
make_work() {
  WORK=$(mktemp -d "/tmp/floe-$NAME.XXXXXX")
  chmod 755 "$WORK"
  FLOE_PID=""
  NGINX_PID=""
  trap serve_common_cleanup EXIT
}

serve_common_cleanup() {
  if [ -n "$FLOE_PID" ] && kill "$FLOE_PID" 2>/dev/null; then wait "$FLOE_PID" 2>/dev/null || true; fi
  if [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null; then wait "$NGINX_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}

# start_floe_serve CONFIG LOG: starts floe serve with CONFIG (which listens on 127.0.0.1:0) and
# waits until it serves; sets FLOE_PID and FLOE_URL.
start_floe_serve() {
  local cfg=$1 log=$2
  "$FLOE" serve -c "$cfg" 2>"$log" &
  FLOE_PID=$!
  for _ in $(seq 1 500); do
    if grep -q " on http://127.0.0.1:" "$log"; then break; fi
    kill -0 "$FLOE_PID" 2>/dev/null || { echo "$NAME: floe serve failed:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.02
  done
  FLOE_URL=$(sed -n 's/.* on \(http:\/\/127.0.0.1:[0-9]*\).*/\1/p' "$log" | head -1)
  [ -n "$FLOE_URL" ] || { echo "$NAME: floe serve did not start:" >&2; cat "$log" >&2; exit 1; }
}

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "$NAME: no free port" >&2
  exit 1
}

# start_nginx PROBE_PATH: starts nginx with $WORK/nginx/nginx.conf (prefix $WORK/nginx, listening on
# NGINX_PORT) and waits until a GET of PROBE_PATH is answered; sets NGINX_PID.
start_nginx() {
  nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
  NGINX_PID=$!
  for _ in $(seq 1 200); do
    [ -s "$WORK/nginx/nginx.pid" ] && curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT$1" && return
    kill -0 "$NGINX_PID" 2>/dev/null || { echo "$NAME: nginx failed:" >&2; cat "$WORK/nginx/logs/error.log" >&2; exit 1; }
    sleep 0.05
  done
  echo "$NAME: nginx did not answer on port $NGINX_PORT" >&2
  exit 1
}
