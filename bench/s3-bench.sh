#!/usr/bin/env bash
# S3 PUT and GET of small and large objects through floe serve's S3 API and through a Ceph RGW (the
# throwaway one of scripts/s3-test-server.sh), driven by the same load generator (bench/s3-bench, on
# floe's own S3 client), alternating floe and RGW run by run. Everything runs on 127.0.0.1; every
# server is stopped by pid (the RGW by the script's own stop command).
#
#   bench/s3-bench.sh         (needs the Ceph packages: scripts/install-deps.sh --bench)
#
# Rows, each run once per round per server: put-small (PUTs of SMALL_BYTES to new keys for
# BENCH_SECONDS), get-small (GETs of a hot set of BENCH_SMALL_KEYS such objects for BENCH_SECONDS),
# put-big (BENCH_BIG_PUTS PUTs of BENCH_BIG_MIB MiB; 8 of them read back) and get-big (BENCH_BIG_GETS GETs of a hot set of
# BENCH_BIG_KEYS such objects), all over BENCH_THREADS connections. floe serve starts afresh (empty
# data directory) for every run, with wal.sync BENCH_WAL_SYNC and a BENCH_COLD cold tier; the RGW
# is started once, every run uses a bucket of its own, and the big rows delete their objects and
# run RGW's gc afterwards (its memstore OSD holds every byte in RAM).
#
# stdout: one JSON object per run, s3-bench's line with "row" and "round" added (server_cpu_s is
# the CPU time of floe serve, or of the RGW's radosgw, ceph-osd and ceph-mon together, over the
# timed part). stderr: progress, and a summary of medians at the end.
#
# Environment: BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_THREADS (32), BENCH_SMALL_BYTES (4096),
# BENCH_SMALL_KEYS (1000), BENCH_BIG_MIB (64), BENCH_BIG_PUTS (32), BENCH_BIG_GETS (64),
# BENCH_BIG_KEYS (8), BENCH_ROWS ("put-small get-small put-big get-big"), BENCH_WAL_SYNC (always),
# BENCH_COLD (fs or none; fs), BENCH_RGW_PORT (7680; it and the next port must be free, else
# another pair is picked), BENCH_PERF_DIR (if set, each floe run is recorded there with perf record
# -g), FLOE_BENCH_BUILD (build dir, default build/bench-release).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${BENCH_ROUNDS:-3}
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
THREADS=${BENCH_THREADS:-32}
SMALL_BYTES=${BENCH_SMALL_BYTES:-4096}
SMALL_KEYS=${BENCH_SMALL_KEYS:-1000}
BIG_MIB=${BENCH_BIG_MIB:-64}
BIG_PUTS=${BENCH_BIG_PUTS:-32}
BIG_GETS=${BENCH_BIG_GETS:-64}
BIG_KEYS=${BENCH_BIG_KEYS:-8}
ROWS=${BENCH_ROWS:-put-small get-small put-big get-big}
WAL_SYNC=${BENCH_WAL_SYNC:-always}
COLD=${BENCH_COLD:-fs}
RGW_PORT=${BENCH_RGW_PORT:-7680}
PERF_DIR=${BENCH_PERF_DIR:-}
BUILD=${FLOE_BENCH_BUILD:-$ROOT/build/bench-release}
BIG_BYTES=$((BIG_MIB << 20))
case "$COLD" in fs | none) ;; *) echo "s3-bench: BENCH_COLD must be fs or none" >&2; exit 2 ;; esac

NAME=s3-bench
# shellcheck source=bench/serve-common.sh
. "$ROOT/bench/serve-common.sh"
require_tools curl radosgw ceph-mon ceph-osd
[ -z "$PERF_DIR" ] || require_tools perf

echo "== building floe and s3-bench (Release) in $BUILD" >&2
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" --target floe_cli s3-bench -j "$(nproc)" >/dev/null
FLOE="$BUILD/floe"
GEN="$BUILD/bench/s3-bench"

make_work
RGW_DIR=""
PERF_PID=""
cleanup() {
  if [ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null; then wait "$PERF_PID" 2>/dev/null || true; fi
  if [ -n "$RGW_DIR" ]; then "$ROOT/scripts/s3-test-server.sh" stop "$RGW_DIR" >/dev/null 2>&1 || true; fi
  serve_common_cleanup
}
trap cleanup EXIT

# port_pair_free P: neither P nor P+1 answers on 127.0.0.1.
port_pair_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && ! (exec 3<>"/dev/tcp/127.0.0.1/$(($1 + 1))") 2>/dev/null
}

echo "== starting a throwaway Ceph RGW" >&2
RGW_DIR=$WORK/rgw
for attempt in 1 2 3; do
  if ! port_pair_free "$RGW_PORT"; then
    # Below the ephemeral range, where outgoing connections could take the port before the bind.
    RGW_PORT=$((20000 + RANDOM % 10000))
    continue
  fi
  if FLOE_S3_STORE_BYTES=$((6 << 30)) "$ROOT/scripts/s3-test-server.sh" start "$RGW_DIR" "$RGW_PORT" \
    >"$WORK/rgw.out" 2>"$WORK/rgw.err"; then
    break
  fi
  [ "$attempt" = 3 ] && { echo "s3-bench: the S3 test server did not start:" >&2; tail -n 20 "$WORK/rgw.err" >&2; exit 1; }
  RGW_PORT=$((20000 + RANDOM % 10000))
done
RGW_URL=$(sed -n 's/^RGW_READY //p' "$WORK/rgw.out")
[ -n "$RGW_URL" ] || { echo "s3-bench: the S3 test server printed no endpoint" >&2; exit 1; }
RGW_PIDS=$(grep -E '^[0-9]+$' "$RGW_DIR/pids" | paste -sd, -)
echo "   RGW on $RGW_URL (pids $RGW_PIDS)" >&2

# start_floe: floe serve with an empty data directory and the S3 API on a free port; sets FLOE_PID
# and FLOE_S3_URL.
start_floe() {
  rm -rf "$WORK/data" "$WORK/cold"
  local cold='{ "backend": "none" }'
  [ "$COLD" = fs ] && cold="{ \"backend\": \"fs\", \"fs\": { \"path\": \"$WORK/cold\" } }"
  # max_response_bytes_in_flight: each GET answer holds its 256 KiB send buffer and one 8 MiB chunk,
  # so 32 GETs of a large object hold 264 MiB, over the default 256 MiB: the last would wait
  # response_wait_ms and get 503 SlowDown.
  cat >"$WORK/floe.json" <<EOF
{ "data_dir": "$WORK/data",
  "http": { "listen": "127.0.0.1:0", "max_response_bytes_in_flight": 1073741824 },
  "s3": { "listen": "127.0.0.1:0",
          "credentials": [ { "access_key": "floeacc", "secret_key": "floesecret123", "access": "write" } ] },
  "wal": { "sync": "$WAL_SYNC" },
  "cold": $cold }
EOF
  start_floe_serve "$WORK/floe.json" "$WORK/floe.log"
  for _ in $(seq 1 250); do
    FLOE_S3_URL=$(sed -n 's/.*S3 API on \(http:\/\/127.0.0.1:[0-9]*\).*/\1/p' "$WORK/floe.log" | head -1)
    [ -n "$FLOE_S3_URL" ] && return
    sleep 0.02
  done
  echo "s3-bench: floe serve did not start its S3 API:" >&2
  cat "$WORK/floe.log" >&2
  exit 1
}

stop_floe() {
  kill "$FLOE_PID"
  wait "$FLOE_PID" || { echo "s3-bench: floe serve exited non-zero:" >&2; tail -n 20 "$WORK/floe.log" >&2; exit 1; }
  FLOE_PID=""
}

# row_args ROW: s3-bench's arguments for the row.
row_args() {
  case "$1" in
  put-small) echo "--workload put --size $SMALL_BYTES --seconds $SECONDS_PER_RUN" ;;
  get-small) echo "--workload get --size $SMALL_BYTES --keys $SMALL_KEYS --seconds $SECONDS_PER_RUN" ;;
  put-big) echo "--workload put --size $BIG_BYTES --requests $BIG_PUTS --verify 16" ;;
  get-big) echo "--workload get --size $BIG_BYTES --keys $BIG_KEYS --requests $BIG_GETS" ;;
  *)
    echo "s3-bench: unknown row '$1' in BENCH_ROWS" >&2
    exit 2
    ;;
  esac
}

# run_gen ROW ROUND SERVER ENDPOINT PIDS [ARGS...]: one run; prints its JSON line with row and round.
run_gen() {
  local row=$1 round=$2 server=$3 endpoint=$4 pids=$5 line rc=0
  shift 5
  # shellcheck disable=SC2046
  line=$("$GEN" --endpoint "$endpoint" --threads "$THREADS" --bucket "s3b-$round-$row" --prefix "$row" \
    --label "$server" --server-pids "$pids" $(row_args "$row") "$@" 2>>"$WORK/gen.err") || rc=$?
  # Exit 2 is a run with errors: its line says so ("ok":false) and is kept; anything else is fatal.
  if [ -z "$line" ] || { [ "$rc" != 0 ] && [ "$rc" != 2 ]; }; then
    echo "s3-bench: s3-bench $row against $server failed (exit $rc):" >&2
    tail -n 5 "$WORK/gen.err" >&2
    exit 1
  fi
  echo "${line%\}},\"row\":\"$row\",\"round\":$round}"
}

jfield() { sed -n "s/.*\"$2\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p" <<<"$1" | head -n 1; }

# say_run LINE: one progress line.
say_run() {
  local l=$1 ok=""
  [ "$(jfield "$l" ok)" = true ] || ok="  ERRORS: $(jfield "$l" errors) (+$(jfield "$l" verify_errors) verify, $(jfield "$l" setup_errors) setup) $(jfield "$l" first_error)"
  printf '   %-9s round %s %-5s %9.1f req/s %9.2f MB/s  p50 %9.0f us  p99 %9.0f us  cpu: client %6.2f s server %6.2f s%s\n' \
    "$(jfield "$l" row | tr -d '"')" "$(jfield "$l" round)" "$(jfield "$l" server | tr -d '"')" "$(jfield "$l" req_per_s)" \
    "$(jfield "$l" mb_per_s)" "$(jfield "$l" p50_us)" "$(jfield "$l" p99_us)" "$(jfield "$l" client_cpu_s)" \
    "$(jfield "$l" server_cpu_s)" "$ok" >&2
}

echo "== $ROUNDS rounds of: $ROWS; $THREADS connections; floe wal.sync=$WAL_SYNC, cold tier $COLD" >&2
[ -z "$PERF_DIR" ] || mkdir -p "$PERF_DIR"
: >"$WORK/all.jsonl"
for round in $(seq 1 "$ROUNDS"); do
  for row in $ROWS; do
    start_floe
    if [ -n "$PERF_DIR" ]; then
      perf record -g -o "$PERF_DIR/floe-$row-$round.perf" -p "$FLOE_PID" 2>>"$WORK/perf.err" >/dev/null &
      PERF_PID=$!
      sleep 0.5
    fi
    line=$(run_gen "$row" "$round" floe "$FLOE_S3_URL" "$FLOE_PID")
    if [ -n "$PERF_PID" ]; then
      kill -INT "$PERF_PID"
      wait "$PERF_PID" 2>/dev/null || true
      PERF_PID=""
    fi
    stop_floe
    echo "$line" | tee -a "$WORK/all.jsonl"
    say_run "$line"

    cleanup_arg=()
    case "$row" in *-big) cleanup_arg=(--cleanup) ;; esac
    line=$(run_gen "$row" "$round" rgw "$RGW_URL" "$RGW_PIDS" "${cleanup_arg[@]}")
    echo "$line" | tee -a "$WORK/all.jsonl"
    say_run "$line"
    if [ ${#cleanup_arg[@]} -gt 0 ]; then
      # RGW frees a deleted object's data only when its gc runs (hours later by default).
      radosgw-admin -c "$RGW_DIR/ceph.conf" gc process --include-all >>"$WORK/gc.log" 2>&1 ||
        echo "s3-bench: radosgw-admin gc process failed (see $WORK/gc.log); the deleted objects stay in the RGW's memory" >&2
    fi
  done
done

"$ROOT/scripts/s3-test-server.sh" stop "$RGW_DIR" >/dev/null 2>&1 || true
RGW_DIR=""

echo >&2
printf '%-10s %-6s %12s %12s %10s %10s %6s\n' row server "req/s" "MB/s" "p50 us" "p99 us" errors >&2
for row in $ROWS; do
  for server in floe rgw; do
    awk -v row="$row" -v srv="$server" '
      function f(k,   m) { if (match($0, "\"" k "\":[^,}]*")) return substr($0, RSTART + length(k) + 3, RLENGTH - length(k) - 3); return "" }
      function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                                      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
      index($0, "\"row\":\"" row "\"") && index($0, "\"server\":\"" srv "\"") {
        n++; r[n] = f("req_per_s") + 0; m[n] = f("mb_per_s") + 0; p5[n] = f("p50_us") + 0; p9[n] = f("p99_us") + 0
        e += f("errors") + f("verify_errors") + f("setup_errors") }
      END { if (n) printf "%-10s %-6s %12.1f %12.2f %10.0f %10.0f %6d\n", row, srv, med(r, n), med(m, n), med(p5, n), med(p9, n), e }
    ' "$WORK/all.jsonl" >&2
  done
done
