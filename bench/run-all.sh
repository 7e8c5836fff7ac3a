#!/usr/bin/env bash
# Runs every floe benchmark against its peer in one go and writes the report.
#
#   bench/run-all.sh [--quick] [--json]
#
# Embedded store: bench/floe-bench vs RocksDB's db_bench; restart time and pending-segment memory:
# bench/restart-bench vs db_bench; scale and compaction (10M keys, space, fill with compaction on
# and off, cold-tier requests): bench/scale-bench vs db_bench; cold tier: bench/cold-bench vs the curl CLI against a throwaway
# Ceph RGW; HTTP: bench/http-bench.sh (floe serve vs nginx with wrk); S3 API: bench/s3-bench.sh
# (floe serve's S3 API vs a Ceph RGW, both driven by bench/s3-bench). Every row alternates floe and
# its peer run by run, so drift of the machine hits both; each figure is the median of RUNS runs
# (3), with min and max.
#
# The full run writes docs/benchmarks.md and docs/bench/*.png. --quick runs smaller sizes and writes
# its report to build/bench-rel/report/ instead, so the committed numbers stay those of a full run.
# --json prints every row as one JSON object per line on stdout: name, floe, peer, unit, ratio
# (floe / peer), better ("higher" or "lower"), floe_min/max, peer_min/max and details.
# Progress goes to stderr; the tools' own output to build/bench-rel/run-all.log.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

QUICK=0
JSON=0
for arg in "$@"; do
  case "$arg" in
  --quick) QUICK=1 ;;
  --json) JSON=1 ;;
  -h | --help)
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "run-all: unknown argument '$arg' (use --quick, --json)" >&2
    exit 2
    ;;
  esac
done

RUNS=3
THREADS="1 4 16"
if [ "$QUICK" = 1 ]; then
  NUM=100000         # keys for the sync=never fills and the reads
  SYNC_NUM=4800      # keys for the sync=always fills (divisible by every thread count)
  RESTART_MIB=128    # WAL replayed by the restart rows
  MEM_KEYS=200000    # keys for the memory row (scaled to per million)
  COLD_MIB=32
  COLD_READS=100
  COLD_RANGE_MIB=16         # the cold Range row: MiB read, of an object of COLD_RANGE_OBJECT_MIB
  COLD_RANGE_OBJECT_MIB=64
  HTTP_SECONDS=1
  FIO_SECONDS=2
  SCALE_KEYS=1000000        # the scale rows' big store (its tenth is the small one)
  SCALE_READS=200000        # reads per scale read run
  SCALE_READS_BEFORE=20000  # reads of the big store before floe_compact (hundreds of segments)
  SCALE_FILL_KEYS=1000000   # keys per fill with compaction on / off
  OVERWRITE_KEYS=100000
  OVERWRITE_ROUNDS=20
  SCALE_COLD_KEYS=200000    # keys written with a cold tier
  SCALE_IDLE_S=60           # idle period whose cold-tier requests are counted
  SCALE_GC_INTERVAL_S=20
  BIG_MIB=256               # the large object of the big-object rows
  S3_SECONDS=1              # per run of the S3 rows with small objects
  S3_BIG_MIB=16             # the large objects of the S3 rows
else
  NUM=1000000
  SYNC_NUM=48000
  RESTART_MIB=1024
  MEM_KEYS=1000000
  COLD_MIB=128
  COLD_READS=500
  COLD_RANGE_MIB=64
  COLD_RANGE_OBJECT_MIB=256
  HTTP_SECONDS=5
  FIO_SECONDS=5
  SCALE_KEYS=10000000
  SCALE_READS=1000000
  SCALE_READS_BEFORE=100000
  SCALE_FILL_KEYS=10000000
  OVERWRITE_KEYS=100000
  OVERWRITE_ROUNDS=20
  SCALE_COLD_KEYS=1000000
  SCALE_IDLE_S=600
  BIG_MIB=1024
  SCALE_GC_INTERVAL_S=60
  S3_SECONDS=5
  S3_BIG_MIB=64
fi
KEY_BYTES=20
VALUE_BYTES=400
HOT=$((NUM / 100 < 100 ? 100 : NUM / 100))
# RocksDB's caches get floe's default RAM cache budget: object cache 256 MiB + decoded blocks 64 MiB.
ROCKS_CACHE=$((320 << 20))
UPLOAD_CONCURRENCY=4

BUILD=$ROOT/build/bench-rel
if [ "$QUICK" = 1 ]; then OUT=$BUILD/report; else OUT=$ROOT/docs; fi
LOG=$BUILD/run-all.log
START_S=$(date +%s)

say() { echo "run-all [$(($(date +%s) - START_S))s] $*" >&2; }
die() {
  echo "run-all: error: $*" >&2
  [ -f "$LOG" ] && { echo "---- last lines of $LOG" >&2; tail -n 20 "$LOG" >&2; }
  exit 1
}

WORK=$(mktemp -d /tmp/floe-run-all.XXXXXX)
RGW_DIR=""
cleanup() {
  if [ -n "$RGW_DIR" ]; then scripts/s3-test-server.sh stop "$RGW_DIR" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---- install and build ----
say "installing packages (scripts/install-deps.sh --bench)"
scripts/install-deps.sh --bench >&2
mkdir -p "$BUILD"
: >"$LOG"
say "building floe (Release) in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >>"$LOG" 2>&1 || die "cmake configure failed"
cmake --build "$BUILD" --target floe-bench cold-bench restart-bench scale-bench floe_cli -j "$(nproc)" >>"$LOG" 2>&1 ||
  die "build failed"
FB=$BUILD/bench/floe-bench
CB=$BUILD/bench/cold-bench
RB=$BUILD/bench/restart-bench

ROWS=$WORK/rows.jsonl
: >"$ROWS"
mkdir -p "$WORK/plot"

# ---- helpers ----

# jnum JSON FIELD: the number FIELD has in a one-line JSON object.
jnum() { sed -n "s/.*\"$2\":\(-\{0,1\}[0-9][0-9.eE+-]*\).*/\1/p" <<<"$1" | head -n 1; }

# mmm "V V V...": "median min max" of the whitespace-separated numbers.
mmm() {
  tr -s '[:space:]' '\n' <<<"$*" | grep -v '^$' | sort -g | awk '{ a[NR] = $1 }
    END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; print m, a[1], a[NR] }'
}
med() { mmm "$@" | awk '{ print $1 }'; }

# add_row NAME UNIT BETTER PEER_NAME "FLOE VALUES" "PEER VALUES" [EXTRA_JSON]
# Appends one row (medians, mins, maxes, ratio floe/peer) to $ROWS; prints it with --json.
add_row() {
  local name=$1 unit=$2 better=$3 peer_name=$4 fv=$5 pv=$6 extra=${7:-}
  local fm fmin fmax pm=null pmin=null pmax=null ratio=null
  read -r fm fmin fmax <<<"$(mmm "$fv")"
  if [ -n "$pv" ]; then
    read -r pm pmin pmax <<<"$(mmm "$pv")"
    ratio=$(awk -v a="$fm" -v b="$pm" 'BEGIN { if (b == 0) print "null"; else printf "%.3f", a / b }')
  fi
  local runs
  runs=$(wc -w <<<"$fv")
  printf '{"name":"%s","unit":"%s","better":"%s","floe":%s,"floe_min":%s,"floe_max":%s,"peer_name":"%s","peer":%s,"peer_min":%s,"peer_max":%s,"ratio":%s,"runs":%d%s}\n' \
    "$name" "$unit" "$better" "$fm" "$fmin" "$fmax" "$peer_name" "$pm" "$pmin" "$pmax" "$ratio" "$runs" "$extra" >>"$ROWS"
  if [ "$JSON" = 1 ]; then tail -n 1 "$ROWS"; fi
  if [ "$pm" = null ]; then
    say "  $name: floe $fm $unit (no peer; $better is better)"
  else
    say "  $name: floe $fm, $peer_name $pm $unit (floe/peer $ratio, $better is better)"
  fi
}

floe_bench() { "$FB" --json --dir "$WORK/floe" "$@" 2>>"$LOG"; }

ROCKS_COMMON="--key_size=$KEY_BYTES --value_size=$VALUE_BYTES --compression_type=none --cache_size=$ROCKS_CACHE --progress_reports=false --histogram=1"
# rocks ARGS...: db_bench on $WORK/rocksdb; its whole output on stdout (and in the log).
rocks() {
  local out
  # shellcheck disable=SC2086
  out=$(db_bench $ROCKS_COMMON --db="$WORK/rocksdb" "$@" 2>&1) || {
    echo "$out" >>"$LOG"
    die "db_bench $* failed"
  }
  echo "$out" >>"$LOG"
  echo "$out"
}
# rocks_ops OUTPUT BENCHMARK: ops/sec of that benchmark.
rocks_ops() {
  awk -v b="$2" '$1 == b && $2 == ":" { for (i = 3; i < NF; i++) if ($(i + 1) == "ops/sec") { print $i; exit } }' <<<"$1"
}
# rocks_pct OUTPUT: "p50 p99 p99.9" in microseconds.
rocks_pct() { awk '/^Percentiles:/ { print $3, $7, $9; exit }' <<<"$1"; }
# rocks_found OUTPUT: "found total" of a read benchmark.
rocks_found() { sed -n 's/.*(\([0-9]*\) of \([0-9]*\) found).*/\1 \2/p' <<<"$1" | head -n 1; }

# The RocksDB this machine has, and whether its build left assertions on.
probe=$(db_bench --benchmarks=fillseq --num=1 --db="$WORK/rocks-probe" 2>&1) || die "db_bench does not run: $probe"
rm -rf "$WORK/rocks-probe"
ROCKS_VERSION=$(awk '/^RocksDB: *version/ { print $3; exit }' <<<"$probe")
ROCKS_ASSERTS=0
if grep -q "Assertions are enabled" <<<"$probe"; then ROCKS_ASSERTS=1; fi

# lat_extra F50 F99 F999 P50 P99 P999 (space-separated value lists): medians as JSON fields.
lat_extra() {
  printf ',"floe_p50_us":%s,"floe_p99_us":%s,"floe_p999_us":%s,"peer_p50_us":%s,"peer_p99_us":%s,"peer_p999_us":%s' \
    "$(med "$1")" "$(med "$2")" "$(med "$3")" "$(med "$4")" "$(med "$5")" "$(med "$6")"
}

# ---- the machine ----
say "measuring the machine (fio: 4 KiB writes, fdatasync after each, ${FIO_SECONDS}s)"
CPU_MODEL=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
CORES=$(nproc)
MEM_GIB=$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
KERNEL=$(uname -r)
FS=$(df -T "$WORK" | awk 'NR == 2 { print $2 " on " $1 }')
fio --name=fdatasync --directory="$WORK" --size=16m --rw=write --bs=4k --fdatasync=1 --ioengine=sync \
  --runtime="$FIO_SECONDS" --time_based --output-format=json >"$WORK/fio.json" 2>>"$LOG" || die "fio failed"
read -r FSYNC_MEAN_US FSYNC_P50_US FSYNC_P99_US <<<"$(awk '
  /"sync" *: *\{/ { s = 1 }
  s && /"mean"/ && mean == "" { v = $3; gsub(/[^0-9.]/, "", v); mean = v }
  s && /"50.000000"/ { v = $3; gsub(/[^0-9.]/, "", v); p50 = v }
  s && /"99.000000"/ { v = $3; gsub(/[^0-9.]/, "", v); p99 = v; exit }
  END { printf "%.1f %.1f %.1f\n", mean / 1000, p50 / 1000, p99 / 1000 }' "$WORK/fio.json")"
rm -f "$WORK"/fdatasync.*
say "  $CORES cores ($CPU_MODEL), $MEM_GIB GiB, fdatasync p50 ${FSYNC_P50_US} us, p99 ${FSYNC_P99_US} us"

# ---- embedded: writes ----
# fill_row WORKLOAD SYNC THREADS NUM: floe-bench --num is the total; db_bench --num is per thread.
fill_row() {
  local wl=$1 sync=$2 t=$3 num=$4 s01=0
  [ "$sync" = always ] && s01=1
  local per=$((num / t)) fo="" f5="" f9="" f99="" ro="" r5="" r9="" r99="" line out a b c
  local wps="" wsy="" wsw="" wgc="" # floe's writes per WAL group commit, fdatasyncs, writes, commits
  for _ in $(seq "$RUNS"); do
    rm -rf "$WORK/floe"
    line=$(floe_bench --benchmarks "$wl" --num "$num" --threads "$t" --sync "$sync") || die "floe-bench $wl failed"
    [ "$(jnum "$line" errors)" = 0 ] || die "floe-bench $wl reported errors: $line"
    fo="$fo $(jnum "$line" ops_per_s)" f5="$f5 $(jnum "$line" p50_us)"
    f9="$f9 $(jnum "$line" p99_us)" f99="$f99 $(jnum "$line" p999_us)"
    wps="$wps $(jnum "$line" writes_per_sync)" wsy="$wsy $(jnum "$line" wal_syncs)"
    wsw="$wsw $(jnum "$line" wal_synced_writes)" wgc="$wgc $(jnum "$line" wal_group_commits)"
    rm -rf "$WORK/rocksdb"
    out=$(rocks --benchmarks="$wl" --num="$per" --threads="$t" --sync="$s01")
    ro="$ro $(rocks_ops "$out" "$wl")"
    read -r a b c <<<"$(rocks_pct "$out")"
    r5="$r5 $a" r9="$r9 $b" r99="$r99 $c"
  done
  rm -rf "$WORK/floe" "$WORK/rocksdb"
  local threads_word="threads"
  [ "$t" = 1 ] && threads_word="thread"
  add_row "$wl sync=$sync, $t $threads_word, $num keys" "ops/s" higher "RocksDB" "$fo" "$ro" \
    "$(lat_extra "$f5" "$f9" "$f99" "$r5" "$r9" "$r99"),\"workload\":\"$wl\",\"sync\":\"$sync\",\"threads\":$t,\"keys\":$num,\"floe_writes_per_sync\":$(med "$wps"),\"floe_wal_syncs\":$(med "$wsy"),\"floe_wal_synced_writes\":$(med "$wsw"),\"floe_wal_group_commits\":$(med "$wgc")"
  if [ "$sync" = always ]; then
    echo "$wl $t $(med "$fo") $(med "$ro")" >>"$WORK/plot/sync-raw"
  fi
}

say "embedded writes: floe-bench vs db_bench, $NUM keys (sync=never), $SYNC_NUM keys (sync=always)"
fill_row fillseq never 1 "$NUM"
fill_row fillrandom never 1 "$NUM"
for t in $THREADS; do
  fill_row fillseq always "$t" "$SYNC_NUM"
  fill_row fillrandom always "$t" "$SYNC_NUM"
done

# ---- embedded: reads ----
say "embedded reads: $NUM keys written by fillseq, then readrandom and readhot (hot set $HOT keys)"
# V[<workload>_<series>]: space-separated values per run; series fo/ro ops/s, f5/f9/f99 and r5/r9/r99
# floe's and RocksDB's p50/p99/p99.9.
declare -A V
for wl in readrandom readhot; do
  for series in fo f5 f9 f99 ro r5 r9 r99; do V[${wl}_$series]=""; done
done
for _ in $(seq "$RUNS"); do
  rm -rf "$WORK/floe"
  out=$(floe_bench --benchmarks fillseq,readrandom,readhot --num "$NUM") || die "floe-bench reads failed"
  for wl in readrandom readhot; do
    line=$(grep "\"workload\":\"$wl\"" <<<"$out")
    [ "$(jnum "$line" found)" = "$NUM" ] || die "floe-bench $wl did not find every key: $line"
    V[${wl}_fo]+=" $(jnum "$line" ops_per_s)"
    V[${wl}_f5]+=" $(jnum "$line" p50_us)"
    V[${wl}_f9]+=" $(jnum "$line" p99_us)"
    V[${wl}_f99]+=" $(jnum "$line" p999_us)"
  done
  rm -rf "$WORK/rocksdb"
  rocks --benchmarks=fillseq --num="$NUM" --sync=0 >/dev/null
  for wl in readrandom readhot; do
    if [ "$wl" = readrandom ]; then range=$NUM; else range=$HOT; fi
    out=$(rocks --benchmarks=readrandom --use_existing_db=1 --num="$range" --reads="$NUM")
    read -r found total <<<"$(rocks_found "$out")"
    if [ "$found" != "$total" ] || [ "$total" != "$NUM" ]; then die "db_bench $wl found $found of $total keys"; fi
    read -r a b c <<<"$(rocks_pct "$out")"
    V[${wl}_ro]+=" $(rocks_ops "$out" readrandom)"
    V[${wl}_r5]+=" $a"
    V[${wl}_r9]+=" $b"
    V[${wl}_r99]+=" $c"
  done
done
rm -rf "$WORK/floe" "$WORK/rocksdb"
for wl in readrandom readhot; do
  if [ "$wl" = readrandom ]; then
    name="readrandom, 1 thread, $NUM keys"
    more=""
  else
    name="readhot, 1 thread, hot set $HOT of $NUM keys"
    more=",\"hot_keys\":$HOT"
  fi
  add_row "$name" "ops/s" higher "RocksDB" "${V[${wl}_fo]}" "${V[${wl}_ro]}" \
    "$(lat_extra "${V[${wl}_f5]}" "${V[${wl}_f9]}" "${V[${wl}_f99]}" "${V[${wl}_r5]}" "${V[${wl}_r9]}" "${V[${wl}_r99]}"),\"workload\":\"$wl\",\"threads\":1,\"keys\":$NUM$more"
  printf '"%s" %s %s %s %s %s %s\n' "$wl" "$(med "${V[${wl}_f5]}")" "$(med "${V[${wl}_f9]}")" "$(med "${V[${wl}_f99]}")" \
    "$(med "${V[${wl}_r5]}")" "$(med "${V[${wl}_r9]}")" "$(med "${V[${wl}_r99]}")" >>"$WORK/plot/latency.dat"
done

# ---- restart and memory of the pending segment / memtable ----
ROCKS_NOFLUSH="--write_buffer_size=4294967296 --max_write_buffer_number=2 --disable_auto_compactions=1 --avoid_flush_during_recovery=1 --sync=0"
# rocks_open_seconds DIR: DB::Open's duration from RocksDB's LOG (first line to "DB pointer").
rocks_open_seconds() {
  awk 'NR == 1 || /DB pointer/ {
         split($1, dt, "-"); split(dt[2], hms, ":"); s = hms[1] * 3600 + hms[2] * 60 + hms[3]
         if (NR == 1) a = s; else { b = s; found = 1; exit } }
       END { if (!found) exit 1; x = b - a; if (x < 0) x += 86400; printf "%.3f\n", x }' "$1/LOG"
}
RESTART_KEYS=$((RESTART_MIB * 1048576 / (KEY_BYTES + VALUE_BYTES)))
say "restart: open with a ${RESTART_MIB} MiB WAL to replay ($RESTART_KEYS keys, nothing sealed or flushed)"
line=$("$RB" fill --dir "$WORK/restart-floe" --keys "$RESTART_KEYS" --json 2>>"$LOG") || die "restart-bench fill failed"
FLOE_WAL_BYTES=$(jnum "$line" wal_bytes)
# shellcheck disable=SC2086
db_bench $ROCKS_COMMON $ROCKS_NOFLUSH --benchmarks=fillseq --num="$RESTART_KEYS" --db="$WORK/restart-rocks" \
  >>"$LOG" 2>&1 || die "db_bench fill for restart failed"
ROCKS_WAL_BYTES=$(find "$WORK/restart-rocks" -name '*.log' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
ro="" fo=""
for _ in $(seq "$RUNS"); do
  line=$("$RB" open --dir "$WORK/restart-floe" --json 2>>"$LOG") || die "restart-bench open failed"
  [ "$(jnum "$line" keys)" = "$RESTART_KEYS" ] || die "floe replayed the wrong number of keys: $line"
  fo="$fo $(jnum "$line" open_seconds)"
  # shellcheck disable=SC2086
  out=$(db_bench $ROCKS_COMMON $ROCKS_NOFLUSH --benchmarks=readrandom --use_existing_db=1 --num="$RESTART_KEYS" \
    --reads=1 --db="$WORK/restart-rocks" 2>&1) || die "db_bench reopen failed: $out"
  echo "$out" >>"$LOG"
  ro="$ro $(rocks_open_seconds "$WORK/restart-rocks")" || die "no DB::Open time in RocksDB's LOG"
done
add_row "restart: open replaying a ${RESTART_MIB} MiB WAL" "s" lower "RocksDB" "$fo" "$ro" \
  ",\"floe_wal_bytes\":$FLOE_WAL_BYTES,\"peer_wal_bytes\":$ROCKS_WAL_BYTES,\"keys\":$RESTART_KEYS"
rm -rf "$WORK/restart-floe" "$WORK/restart-rocks"

say "memory: max RSS of writing $MEM_KEYS keys into the pending segment / memtable, minus writing 1 key"
# max_rss_kb CMD...: the command's maximum resident set size in KiB (GNU time); the command's
# stdout goes to $WORK/cmd.out.
max_rss_kb() {
  /usr/bin/time -f '%M' -o "$WORK/time.out" "$@" >"$WORK/cmd.out" 2>>"$LOG" || return 1
  cat "$WORK/cmd.out" >>"$LOG"
  tail -n 1 "$WORK/time.out"
}
fo="" ro="" fpend=""
for _ in $(seq "$RUNS"); do
  base=$(max_rss_kb "$RB" fill --dir "$WORK/mem-floe" --keys 1) || die "restart-bench fill (1 key) failed"
  full=$(max_rss_kb "$RB" fill --dir "$WORK/mem-floe" --keys "$MEM_KEYS" --json) || die "restart-bench fill failed"
  line=$(grep '"workload":"pending_memory"' "$WORK/cmd.out")
  fpend="$fpend $(jnum "$line" pending_bytes_per_million_keys)"
  fo="$fo $(awk -v f="$full" -v b="$base" -v k="$MEM_KEYS" 'BEGIN { printf "%.1f", (f - b) / 1024 / (k / 1e6) }')"
  rm -rf "$WORK/mem-rocks"
  # shellcheck disable=SC2086
  base=$(max_rss_kb db_bench $ROCKS_COMMON $ROCKS_NOFLUSH --benchmarks=fillseq --num=1 --db="$WORK/mem-rocks") ||
    die "db_bench fill (1 key) failed"
  rm -rf "$WORK/mem-rocks"
  # shellcheck disable=SC2086
  full=$(max_rss_kb db_bench $ROCKS_COMMON $ROCKS_NOFLUSH --benchmarks=fillseq --num="$MEM_KEYS" --db="$WORK/mem-rocks") ||
    die "db_bench fill failed"
  ro="$ro $(awk -v f="$full" -v b="$base" -v k="$MEM_KEYS" 'BEGIN { printf "%.1f", (f - b) / 1024 / (k / 1e6) }')"
  rm -rf "$WORK/mem-rocks" "$WORK/mem-floe"
done
add_row "memory per million keys held in the pending segment (memtable)" "MiB" lower "RocksDB" "$fo" "$ro" \
  ",\"floe_pending_bytes_per_million_keys\":$(med "$fpend"),\"raw_mib_per_million_keys\":$(awk -v k=$KEY_BYTES -v v=$VALUE_BYTES 'BEGIN { printf "%.1f", (k + v) * 1e6 / 1048576 }'),\"keys\":$MEM_KEYS"

# scale_target WHAT VALUE OP LIMIT: one line of the scale targets table ("met" when VALUE OP LIMIT).
scale_target() {
  local met
  met=$(awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN {
    ok = (op == ">=") ? v >= l : (op == "<=") ? v <= l : (op == "<") ? v < l : (op == ">") ? v > l : v == l
    print ok ? "met" : "**missed**" }')
  printf '| %s | %s | %s %s | %s |\n' "$1" "$2" "$3" "$4" "$met" >>"$WORK/scale-targets.md"
}
: >"$WORK/scale-targets.md"

# ---- scale: a store that outgrows its seals, and compaction (bench/scale-bench) ----
# db_bench gets settings comparable to scale-bench's store: 8 MiB memtables (floe's 8 MiB seals),
# no compression, a 64 MiB block cache (floe's decoded-block cache; floe's object cache is off),
# 10-bit bloom filters (floe's), its defaults otherwise (256 MiB level base, ratio 10, 64 MiB
# files: floe's compaction defaults). filluniquerandom writes every key once in a random order, as
# scale-bench does (db_bench's fillrandom draws keys with repeats and leaves about 63% of them).
SCALE_ROCKS="--key_size=$KEY_BYTES --value_size=$VALUE_BYTES --compression_type=none --write_buffer_size=8388608 --cache_size=67108864 --bloom_bits=10 --sync=0 --progress_reports=false --histogram=1"
# srocks DIR ARGS...: db_bench with those settings on DIR; its whole output on stdout (and in the log).
srocks() {
  local dir=$1 out
  shift
  # shellcheck disable=SC2086
  out=$(db_bench $SCALE_ROCKS --db="$dir" "$@" 2>&1) || {
    echo "$out" >>"$LOG"
    die "db_bench $* failed"
  }
  echo "$out" >>"$LOG"
  echo "$out"
}
SB=$BUILD/bench/scale-bench
scale() { "$SB" "$@" 2>>"$LOG"; }
SD=$WORK/scale
SMALL_KEYS=$((SCALE_KEYS / 10))

say "scale: $SCALE_KEYS keys (and $SMALL_KEYS) in 8 MiB seals, object cache off, floe_compact; RocksDB $SCALE_KEYS keys in 8 MiB memtables"
big=$(scale load --dir "$SD/big" --keys "$SCALE_KEYS" --reads-before "$SCALE_READS_BEFORE" --compact) ||
  die "scale-bench load of $SCALE_KEYS keys failed"
echo "$big" >>"$LOG"
small=$(scale load --dir "$SD/small" --keys "$SMALL_KEYS" --reads-before "$SCALE_READS_BEFORE" --compact) ||
  die "scale-bench load of $SMALL_KEYS keys failed"
echo "$small" >>"$LOG"
rm -rf "$SD/rocks"
rfill=$(srocks "$SD/rocks" --benchmarks=filluniquerandom,waitforcompaction --num="$SCALE_KEYS")
rocks_fill_ops=$(rocks_ops "$rfill" filluniquerandom)
rocks_levels=$(db_bench $SCALE_ROCKS --db="$SD/rocks" --use_existing_db=1 --benchmarks=levelstats 2>&1 |
  awk '$1 ~ /^[0-9]+$/ && $2 + 0 > 0 { n++ } END { print n + 0 }')
declare -A S
for series in rr_f rr_f5 rr_f9 rr_f99 rr_r rr_r5 rr_r9 rr_r99 rm_f rm_f5 rm_f9 rm_f99 rm_r rm_r5 rm_r9 rm_r99 rr_ratio rm_ratio; do
  S[$series]=""
done
for _ in $(seq "$RUNS"); do
  for wl in readrandom readmissing; do
    if [ "$wl" = readrandom ]; then p=rr miss=""; else p=rm miss="--missing"; fi
    # shellcheck disable=SC2086
    line=$(scale read --dir "$SD/big" --keys "$SCALE_KEYS" --reads "$SCALE_READS" $miss) || die "scale-bench $wl failed"
    echo "$line" >>"$LOG"
    # shellcheck disable=SC2086
    sline=$(scale read --dir "$SD/small" --keys "$SMALL_KEYS" --reads "$SCALE_READS" $miss) || die "scale-bench $wl (small) failed"
    echo "$sline" >>"$LOG"
    S[${p}_f]+=" $(jnum "$line" ops_per_s)"
    S[${p}_f5]+=" $(jnum "$line" p50_us)" S[${p}_f9]+=" $(jnum "$line" p99_us)" S[${p}_f99]+=" $(jnum "$line" p999_us)"
    S[${p}_ratio]+=" $(awk -v a="$(jnum "$line" ops_per_s)" -v b="$(jnum "$sline" ops_per_s)" 'BEGIN { printf "%.3f", a / b }')"
    out=$(srocks "$SD/rocks" --benchmarks="$wl" --use_existing_db=1 --num="$SCALE_KEYS" --reads="$SCALE_READS")
    read -r found total <<<"$(rocks_found "$out")"
    if [ "$wl" = readrandom ] && [ "$found" != "$total" ]; then die "db_bench readrandom found $found of $total keys"; fi
    if [ "$wl" = readmissing ] && [ "$found" != 0 ]; then die "db_bench readmissing found $found keys"; fi
    read -r a b c <<<"$(rocks_pct "$out")"
    S[${p}_r]+=" $(rocks_ops "$out" "$wl")" S[${p}_r5]+=" $a" S[${p}_r9]+=" $b" S[${p}_r99]+=" $c"
  done
done
# open: floe_open of the compacted store vs RocksDB's DB::Open of its own (from its LOG).
so_f="" so_r=""
for _ in $(seq "$RUNS"); do
  line=$(scale open --dir "$SD/big") || die "scale-bench open failed"
  echo "$line" >>"$LOG"
  so_f="$so_f $(jnum "$line" open_seconds)"
  srocks "$SD/rocks" --benchmarks=readrandom --use_existing_db=1 --num="$SCALE_KEYS" --reads=1 >/dev/null
  so_r="$so_r $(rocks_open_seconds "$SD/rocks")" || die "no DB::Open time in RocksDB's LOG"
done
SCALE_SETTINGS=",\"keys\":$SCALE_KEYS,\"seal_bytes\":8388608,\"object_cache_bytes\":0,\"wal_sync\":\"never\""
for wl in readrandom readmissing; do
  if [ "$wl" = readrandom ]; then p=rr what="existing keys"; else p=rm what="missing keys"; fi
  add_row "scale: $wl ($what), $SCALE_KEYS keys, 8 MiB seals, after floe_compact" "ops/s" higher "RocksDB" \
    "${S[${p}_f]}" "${S[${p}_r]}" \
    "$(lat_extra "${S[${p}_f5]}" "${S[${p}_f9]}" "${S[${p}_f99]}" "${S[${p}_r5]}" "${S[${p}_r9]}" "${S[${p}_r99]}")$SCALE_SETTINGS,\"reads\":$SCALE_READS,\"floe_segments_per_read_max\":$(jnum "$big" after_segments_per_read_max),\"peer_levels\":$rocks_levels"
  add_row "scale: $wl at $SCALE_KEYS keys / at $SMALL_KEYS keys (floe)" "ratio" higher "" "${S[${p}_ratio]}" "" \
    ",\"keys\":$SCALE_KEYS,\"small_keys\":$SMALL_KEYS,\"target\":0.7"
done
add_row "scale: readrandom before floe_compact, $SCALE_KEYS keys in $(jnum "$big" before_segments_level0) level-0 segments (floe)" \
  "ops/s" higher "" "$(jnum "$big" read_before_ops_per_s)" "" \
  ",\"reads\":$SCALE_READS_BEFORE,\"floe_p50_us\":$(jnum "$big" read_before_p50_us),\"floe_p99_us\":$(jnum "$big" read_before_p99_us)"
add_row "scale: segments a read may consult (segments_per_read_max) before floe_compact, $SCALE_KEYS keys" \
  "segments" lower "" "$(jnum "$big" before_segments_per_read_max)" ""
add_row "scale: segments a read may consult (segments_per_read_max) after floe_compact, $SCALE_KEYS keys" \
  "segments" lower "" "$(jnum "$big" after_segments_per_read_max)" "" \
  ",\"levels\":$(jnum "$big" after_levels),\"segments\":$(jnum "$big" after_segments_local),\"peer_levels\":$rocks_levels"
add_row "scale: floe_compact of $SCALE_KEYS keys in $(jnum "$big" before_segments_level0) level-0 segments" "s" lower "" \
  "$(jnum "$big" compact_seconds)" "" \
  ",\"compaction_bytes_read\":$(jnum "$big" compaction_bytes_read),\"compaction_bytes_written\":$(jnum "$big" compaction_bytes_written),\"compactions\":$(jnum "$big" compactions),\"segment_dir_bytes\":$(jnum "$big" segment_dir_bytes)"
add_row "scale: open of the $SCALE_KEYS-key store after compaction" "s" lower "RocksDB" "$so_f" "$so_r" \
  ",\"keys\":$SCALE_KEYS,\"target_s\":0.5"
rm -rf "$SD/big" "$SD/small"

# fill throughput with background compaction on (the default l0_trigger 4) and off (0).
say "scale: fillrandom of $SCALE_FILL_KEYS keys with background compaction on and off, and RocksDB's"
declare -A F
for series in on on5 on9 on99 off off5 off9 off99 r r5 r9 r99; do F[$series]=""; done
for _ in $(seq "$RUNS"); do
  for mode in on off; do
    if [ "$mode" = on ]; then t=4; else t=0; fi
    line=$(scale load --dir "$SD/fill" --keys "$SCALE_FILL_KEYS" --l0-trigger "$t") || die "scale-bench fill ($mode) failed"
    echo "$line" >>"$LOG"
    F[$mode]+=" $(jnum "$line" ops_per_s)"
    F[${mode}5]+=" $(jnum "$line" p50_us)" F[${mode}9]+=" $(jnum "$line" p99_us)" F[${mode}99]+=" $(jnum "$line" p999_us)"
    rm -rf "$SD/fill"
  done
  rm -rf "$SD/rocks-fill"
  out=$(srocks "$SD/rocks-fill" --benchmarks=filluniquerandom --num="$SCALE_FILL_KEYS")
  read -r a b c <<<"$(rocks_pct "$out")"
  F[r]+=" $(rocks_ops "$out" filluniquerandom)" F[r5]+=" $a" F[r9]+=" $b" F[r99]+=" $c"
  rm -rf "$SD/rocks-fill"
done
add_row "scale: fillrandom, $SCALE_FILL_KEYS keys, 8 MiB seals, background compaction on (l0_trigger 4)" "ops/s" higher \
  "RocksDB" "${F[on]}" "${F[r]}" \
  "$(lat_extra "${F[on5]}" "${F[on9]}" "${F[on99]}" "${F[r5]}" "${F[r9]}" "${F[r99]}"),\"keys\":$SCALE_FILL_KEYS"
add_row "scale: fillrandom, $SCALE_FILL_KEYS keys, 8 MiB seals, background compaction off (l0_trigger 0)" "ops/s" higher \
  "" "${F[off]}" "" \
  ",\"floe_p50_us\":$(med "${F[off5]}"),\"floe_p99_us\":$(med "${F[off9]}"),\"floe_p999_us\":$(med "${F[off99]}"),\"keys\":$SCALE_FILL_KEYS"
add_row "scale: fillrandom with compaction on / off (floe)" "ratio" higher "" \
  "$(awk -v a="$(med "${F[on]}")" -v b="$(med "${F[off]}")" 'BEGIN { printf "%.3f", a / b }')" "" \
  ",\"target\":0.7,\"on_p99_us\":$(med "${F[on9]}"),\"off_p99_us\":$(med "${F[off9]}")"

# space after overwrites and after deletes.
say "scale: $OVERWRITE_KEYS keys overwritten $OVERWRITE_ROUNDS times, floe_compact; then half deleted, floe_compact"
ow_amp="" ow_freed="" ow_live="" ow_disk=""
for _ in $(seq "$RUNS"); do
  line=$(scale overwrite --dir "$SD/ow" --keys "$OVERWRITE_KEYS" --rounds "$OVERWRITE_ROUNDS") || die "scale-bench overwrite failed"
  echo "$line" >>"$LOG"
  ow_amp="$ow_amp $(jnum "$line" space_amp)" ow_freed="$ow_freed $(awk -v f="$(jnum "$line" freed_fraction)" 'BEGIN { printf "%.1f", f * 100 }')"
  ow_live=$(jnum "$line" live_bytes) ow_disk="$ow_disk $(jnum "$line" disk_bytes)"
  rm -rf "$SD/ow"
done
add_row "scale: disk / live bytes, $OVERWRITE_KEYS keys overwritten $OVERWRITE_ROUNDS times, after floe_compact" "x" lower "" \
  "$ow_amp" "" ",\"live_bytes\":$ow_live,\"disk_bytes\":$(med "$ow_disk"),\"target\":1.5"
add_row "scale: disk freed by deleting half of those keys and floe_compact" "%" higher "" "$ow_freed" "" ",\"target\":40"
ratio_of() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN { printf "%.2f", a / b }'; }
scale_target "readrandom at $SCALE_KEYS keys, floe / RocksDB" "$(ratio_of "${S[rr_f]}" "${S[rr_r]}")" ">" 1
scale_target "readmissing at $SCALE_KEYS keys, floe / RocksDB" "$(ratio_of "${S[rm_f]}" "${S[rm_r]}")" ">" 1
scale_target "floe readrandom at $SCALE_KEYS / at $SMALL_KEYS keys" "$(med "${S[rr_ratio]}")" ">=" 0.7
scale_target "floe readmissing at $SCALE_KEYS / at $SMALL_KEYS keys" "$(med "${S[rm_ratio]}")" ">=" 0.7
scale_target "disk / live bytes after $OVERWRITE_ROUNDS overwrites and floe_compact" "$(med "$ow_amp")" "<=" 1.5
scale_target "disk freed by deleting half the keys and floe_compact (%)" "$(med "$ow_freed")" ">=" 40
scale_target "floe_open of the compacted $SCALE_KEYS-key store (s)" "$(med "$so_f")" "<" 0.5
scale_target "fillrandom with compaction on / off" "$(ratio_of "${F[on]}" "${F[off]}")" ">=" 0.7
rm -rf "$SD"

# ---- cold tier ----
# free_port_pair: a port P with P and P+1 free, below the kernel's ephemeral range (where outgoing
# connections, the RGW's own included, would take it between this check and the bind).
free_port_pair() {
  local p low
  low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "$low" -gt 21000 ] || low=32768
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % (low - 20002)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && ! (exec 3<>"/dev/tcp/127.0.0.1/$((p + 1))") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "no free port pair"
}
say "cold tier: starting a throwaway Ceph RGW"
RGW_DIR=$WORK/rgw
for attempt in 1 2 3; do
  RGW_PORT=$(free_port_pair)
  if FLOE_S3_STORE_BYTES=$((6 << 30)) scripts/s3-test-server.sh start "$RGW_DIR" "$RGW_PORT" >"$WORK/rgw.out" 2>>"$LOG"; then
    break
  fi
  [ "$attempt" = 3 ] && die "the S3 test server did not start (3 attempts; see $LOG)"
  say "  the S3 test server did not start on port $RGW_PORT; trying another port"
done
ENDPOINT=$(sed -n 's/^RGW_READY //p' "$WORK/rgw.out")
[ -n "$ENDPOINT" ] || die "the S3 test server printed no endpoint"
RGW_VERSION=$(radosgw --version 2>/dev/null | awk '{ print $3; exit }')
say "cold tier: cold-bench vs curl on $ENDPOINT, ${COLD_MIB} MiB in 8 MiB segments, $COLD_READS cold reads"
up_f="" up_par="" up_seq="" g_f5="" g_f9="" g_f99="" g_c5="" g_c9="" g_c99="" g_per="" g_inner="" g_bytes=""
n_f5="" n_c5="" n_inner="" r_f="" r_c="" r_gets="" r_bytes=""
for _ in $(seq "$RUNS"); do
  out=$("$CB" --endpoint "$ENDPOINT" --mib "$COLD_MIB" --segment-mib 8 --concurrency "$UPLOAD_CONCURRENCY" \
    --reads "$COLD_READS" --range-mib "$COLD_RANGE_MIB" --range-object-mib "$COLD_RANGE_OBJECT_MIB" \
    --dir "$WORK/cold" --json 2>>"$LOG") || die "cold-bench failed"
  echo "$out" >>"$LOG"
  u=$(grep '"workload":"cold_upload"' <<<"$out")
  g=$(grep '"workload":"cold_get"' <<<"$out")
  up_f="$up_f $(jnum "$u" floe_mib_s)" up_par="$up_par $(jnum "$u" curl_par_mib_s)" up_seq="$up_seq $(jnum "$u" curl_seq_mib_s)"
  g_f5="$g_f5 $(jnum "$g" floe_p50_us)" g_f9="$g_f9 $(jnum "$g" floe_p99_us)" g_f99="$g_f99 $(jnum "$g" floe_p999_us)"
  g_c5="$g_c5 $(jnum "$g" curl_p50_us)" g_c9="$g_c9 $(jnum "$g" curl_p99_us)" g_c99="$g_c99 $(jnum "$g" curl_p999_us)"
  g_per="$g_per $(jnum "$g" gets_per_read)" g_inner="$g_inner $(jnum "$g" floe_s3_get_p50_us)"
  g_bytes="$g_bytes $(jnum "$g" range_bytes_mean)"
  gn=$(grep '"workload":"cold_get_no_block_cache"' <<<"$out")
  n_f5="$n_f5 $(jnum "$gn" floe_p50_us)" n_c5="$n_c5 $(jnum "$gn" curl_p50_us)" n_inner="$n_inner $(jnum "$gn" floe_s3_get_p50_us)"
  gr=$(grep '"workload":"cold_range"' <<<"$out")
  r_f="$r_f $(jnum "$gr" floe_seconds)" r_c="$r_c $(jnum "$gr" curl_seconds)"
  r_gets="$r_gets $(jnum "$gr" floe_gets)" r_bytes="$r_bytes $(jnum "$gr" floe_get_bytes)"
done
# scale: cold-tier requests and uploaded bytes per GB ingested (compaction included), and while idle;
# once per backend, the fs and the RGW run side by side (they count requests; neither is timed).
say "scale: $SCALE_COLD_KEYS keys with the fs and the S3 (RGW) cold tier, floe_compact, then ${SCALE_IDLE_S}s idle (gc every ${SCALE_GC_INTERVAL_S}s)"
"$SB" cold --dir "$WORK/scale-cold-fs" --cold-fs "$WORK/scale-cold-bucket" --keys "$SCALE_COLD_KEYS" \
  --idle-s "$SCALE_IDLE_S" --gc-interval-s "$SCALE_GC_INTERVAL_S" >"$WORK/scale-cold-fs.json" 2>>"$LOG" &
cold_fs_pid=$!
cold_s3=$("$SB" cold --dir "$WORK/scale-cold-s3" --endpoint "$ENDPOINT" --keys "$SCALE_COLD_KEYS" \
  --idle-s "$SCALE_IDLE_S" --gc-interval-s "$SCALE_GC_INTERVAL_S" 2>>"$LOG") || die "scale-bench cold (S3) failed"
wait "$cold_fs_pid" || die "scale-bench cold (fs) failed"
cold_fs=$(cat "$WORK/scale-cold-fs.json")
echo "$cold_fs" >>"$LOG"
echo "$cold_s3" >>"$LOG"
rm -rf "$WORK/scale-cold-fs" "$WORK/scale-cold-bucket" "$WORK/scale-cold-s3" "$WORK/scale-cold-fs.json"
rm -rf "$WORK/cold"
scripts/s3-test-server.sh stop "$RGW_DIR" >>"$LOG" 2>&1 || true
RGW_DIR=""
add_row "cold upload, ${COLD_MIB} MiB in 8 MiB segments, $UPLOAD_CONCURRENCY at a time" "MiB/s" higher \
  "curl, $UPLOAD_CONCURRENCY parallel" "$up_f" "$up_par" ",\"mib\":$COLD_MIB,\"concurrency\":$UPLOAD_CONCURRENCY"
add_row "cold upload, ${COLD_MIB} MiB in 8 MiB segments" "MiB/s" higher "curl, sequential" "$up_f" "$up_seq" \
  ",\"mib\":$COLD_MIB"
add_row "cold GET p50 (block cache miss, metadata cached)" "us" lower "curl ranged GET" "$g_f5" "$g_c5" \
  ",\"reads\":$COLD_READS,\"range_bytes\":$(med "$g_bytes"),\"floe_s3_get_p50_us\":$(med "$g_inner")"
add_row "cold GET p99 (block cache miss, metadata cached)" "us" lower "curl ranged GET" "$g_f9" "$g_c9" \
  ",\"reads\":$COLD_READS"
add_row "cold GET p50 without a disk block cache (cache.block_bytes=0)" "us" lower "curl ranged GET" "$n_f5" "$n_c5" \
  ",\"reads\":$COLD_READS,\"floe_s3_get_p50_us\":$(med "$n_inner")"
add_row "S3 GET requests per cold read" "requests" lower "" "$g_per" "" ",\"reads\":$COLD_READS"
add_row "cold Range read of $COLD_RANGE_MIB MiB of a $COLD_RANGE_OBJECT_MIB MiB object (floe_read_range)" "s" lower \
  "curl ranged GET of those bytes" "$r_f" "$r_c" \
  ",\"floe_gets\":$(med "$r_gets"),\"floe_get_bytes\":$(med "$r_bytes"),\"range_bytes\":$((COLD_RANGE_MIB << 20))"
for b in fs s3; do
  if [ "$b" = fs ]; then line=$cold_fs tier="fs cold tier"; else line=$cold_s3 tier="S3 cold tier (RGW)"; fi
  more=",\"backend\":\"$b\",\"keys\":$SCALE_COLD_KEYS,\"ingested_bytes\":$(jnum "$line" ingested_bytes),\"put\":$(jnum "$line" req_put),\"get\":$(jnum "$line" req_get),\"list\":$(jnum "$line" req_list),\"delete\":$(jnum "$line" req_delete),\"head\":$(jnum "$line" req_head),\"mpu_part\":$(jnum "$line" req_mpu_part),\"compaction_bytes_written\":$(jnum "$line" compaction_bytes_written)"
  add_row "scale: $tier requests per GB ingested, compaction included ($SCALE_COLD_KEYS keys)" "requests/GB" lower "" \
    "$(jnum "$line" requests_per_gb)" "" "$more"
  add_row "scale: $tier bytes uploaded per byte ingested, compaction included" "x" lower "" "$(jnum "$line" upload_amp)" "" \
    ",\"upload_bytes\":$(jnum "$line" upload_bytes),\"upload_bytes_before_compact\":$(jnum "$line" upload_bytes_before_compact)"
  add_row "scale: $tier requests during ${SCALE_IDLE_S} s idle (gc every ${SCALE_GC_INTERVAL_S} s)" "requests" lower "" \
    "$(jnum "$line" idle_requests)" "" \
    ",\"idle_s\":$SCALE_IDLE_S,\"idle_gc_runs\":$(jnum "$line" idle_gc_runs),\"first_gc_at_s\":$(jnum "$line" first_gc_at_s),\"idle_get\":$(jnum "$line" idle_get),\"idle_list\":$(jnum "$line" idle_list),\"idle_delete\":$(jnum "$line" idle_delete),\"idle_put\":$(jnum "$line" idle_put)"
  add_row "scale: $tier requests during ${SCALE_IDLE_S} s idle, after gc's first run" "requests" lower "" \
    "$(jnum "$line" idle_requests_after_first_gc)" "" ",\"idle_s\":$SCALE_IDLE_S"
  scale_target "$tier: requests during ${SCALE_IDLE_S} s idle, after gc's first run" "$(jnum "$line" idle_requests_after_first_gc)" "=" 0
done
printf '"cold GET" %s %s %s %s %s %s\n' "$(med "$g_f5")" "$(med "$g_f9")" "$(med "$g_f99")" \
  "$(med "$g_c5")" "$(med "$g_c9")" "$(med "$g_c99")" >>"$WORK/plot/latency.dat"

# ---- HTTP ----
[ -x bench/http-bench.sh ] || die "bench/http-bench.sh is missing"
say "HTTP: bench/http-bench.sh (floe serve vs nginx, wrk, ${HTTP_SECONDS}s per run, $RUNS alternating rounds)"
http_out=$(FLOE_BENCH_BUILD="$BUILD" BENCH_SECONDS="$HTTP_SECONDS" BENCH_ROUNDS="$RUNS" bench/http-bench.sh 2>&1) ||
  {
    echo "$http_out" >>"$LOG"
    die "bench/http-bench.sh failed"
  }
echo "$http_out" >>"$LOG"
# round_values OBJECT SERVER: that server's req/s in each round line of the object.
round_values() {
  awk -v o="$1" -v s="$2" '$1 == o && / round [0-9]+:/ { for (i = 1; i < NF; i++) if ($i == s) printf "%s ", $(i + 1) }' <<<"$http_out"
}
for obj in obj-1k obj-64k; do
  f=$(round_values "$obj" floe)
  n=$(round_values "$obj" nginx)
  if [ -z "$f" ] || [ -z "$n" ]; then die "no rounds for $obj in http-bench.sh's output"; fi
  size=${obj#obj-}
  add_row "HTTP GET of one hot ${size%k} KiB object" "req/s" higher "nginx" "$f" "$n"
done
put_rounds=$(awk '/^ *PUT/ && / round [0-9]+:/ { for (i = 1; i < NF; i++) if ($i == "floe") printf "%s ", $(i + 1) }' <<<"$http_out")
if [ -z "$put_rounds" ]; then
  put_rounds=$(awk '/^PUT 1 KiB/ { print $4; exit }' <<<"$http_out")
fi
[ -n "$put_rounds" ] || die "no PUT figure in http-bench.sh's output"
put_sync=$(sed -n 's/.*wal.sync=\([a-z]*\).*/\1/p' <<<"$http_out" | tail -n 1)
add_row "HTTP PUT of 1 KiB objects (wal.sync=${put_sync:-always})" "req/s" higher "" "$put_rounds" ""

# ---- one large object through HTTP (issue 11) ----
[ -x bench/big-object-bench.sh ] || die "bench/big-object-bench.sh is missing"
say "HTTP: bench/big-object-bench.sh ($BIG_MIB MiB PUT and GET, floe serve vs nginx, $RUNS alternating rounds)"
big_out=$(FLOE_BENCH_BUILD="$BUILD" BENCH_MIB="$BIG_MIB" BENCH_ROUNDS="$RUNS" bench/big-object-bench.sh 2>&1) ||
  {
    echo "$big_out" >>"$LOG"
    die "bench/big-object-bench.sh failed"
  }
echo "$big_out" >>"$LOG"
# big_values OP FIELD: floe's and nginx's figures of every round line of OP (put/get), FIELD 1 for
# MB/s, 2 for peak RSS; prints "floe values|nginx values".
big_values() {
  awk -v op="$1" -v f="$2" '$1 == op && $2 == "round" {
      for (i = 1; i <= NF; i++) {
        if ($i == "floe") fl = fl " " (f == 1 ? $(i + 1) : $(i + 4))
        if ($i == "nginx") ng = ng " " (f == 1 ? $(i + 1) : $(i + 4))
      }
    } END { print fl "|" ng }' <<<"$big_out"
}
for op in put get; do
  OP=${op^^}
  v=$(big_values "$op" 1)
  [ -n "${v%%|*}" ] || die "no $op rounds in big-object-bench.sh's output"
  add_row "HTTP $OP of one $BIG_MIB MiB object" "MB/s" higher "nginx" "${v%%|*}" "${v#*|}"
  v=$(big_values "$op" 2)
  add_row "peak RSS of the server during a $BIG_MIB MiB HTTP $OP" "MiB" lower "nginx" "${v%%|*}" "${v#*|}"
done

# ---- the S3 API: floe serve vs the Ceph RGW, same load generator (bench/s3-bench.sh) ----
[ -x bench/s3-bench.sh ] || die "bench/s3-bench.sh is missing"
S3_THREADS=32
S3_SMALL_KEYS=1000
S3_BIG_KEYS=8
S3_BIG_PUTS=32
S3_BIG_GETS=64
say "S3: bench/s3-bench.sh (floe serve's S3 API vs Ceph RGW, $S3_THREADS connections, 4 KiB and $S3_BIG_MIB MiB objects, $RUNS alternating rounds)"
s3_out=$(FLOE_BENCH_BUILD="$BUILD" BENCH_ROUNDS="$RUNS" BENCH_SECONDS="$S3_SECONDS" BENCH_THREADS="$S3_THREADS" \
  BENCH_SMALL_KEYS="$S3_SMALL_KEYS" BENCH_BIG_MIB="$S3_BIG_MIB" BENCH_BIG_PUTS="$S3_BIG_PUTS" \
  BENCH_BIG_GETS="$S3_BIG_GETS" BENCH_BIG_KEYS="$S3_BIG_KEYS" BENCH_WAL_SYNC=always BENCH_COLD=fs \
  bench/s3-bench.sh 2>>"$LOG") || die "bench/s3-bench.sh failed"
echo "$s3_out" >>"$LOG"
# s3_values ROW SERVER FIELD: the field of each of that server's runs of the row.
s3_values() {
  grep "\"row\":\"$1\"" <<<"$s3_out" | grep "\"server\":\"$2\"" | while read -r l; do printf '%s ' "$(jnum "$l" "$3")"; done
}
# s3_errors ROW SERVER: errors of every kind over that server's runs of the row.
s3_errors() {
  local e=0 l
  while read -r l; do
    e=$((e + $(jnum "$l" errors) + $(jnum "$l" verify_errors) + $(jnum "$l" setup_errors)))
  done < <(grep "\"row\":\"$1\"" <<<"$s3_out" | grep "\"server\":\"$2\"")
  echo "$e"
}
# s3_cpu_us ROW SERVER WHO: median CPU microseconds per request of the server ("server") or of s3-bench ("client").
s3_cpu_us() {
  local v="" l
  while read -r l; do
    v="$v $(awk -v c="$(jnum "$l" "${3}_cpu_s")" -v n="$(jnum "$l" requests)" 'BEGIN { printf "%.1f", (n > 0 ? c * 1e6 / n : 0) }')"
  done < <(grep "\"row\":\"$1\"" <<<"$s3_out" | grep "\"server\":\"$2\"")
  med "$v"
}
: >"$WORK/s3-targets.md"
# s3_row ROW NAME UNIT FIELD OTHER_UNIT OTHER_FIELD
s3_row() {
  local row=$1 name=$2 unit=$3 field=$4 ounit=$5 ofield=$6 fe pe
  local fv pv
  fv=$(s3_values "$row" floe "$field") pv=$(s3_values "$row" rgw "$field")
  if [ -z "$fv" ] || [ -z "$pv" ]; then die "no $row runs in bench/s3-bench.sh's output"; fi
  fe=$(s3_errors "$row" floe) pe=$(s3_errors "$row" rgw)
  # A row whose runs had errors says so in its name, so the table shows it.
  if [ "$fe" != 0 ] || [ "$pe" != 0 ]; then name="$name [ERRORS: floe $fe, RGW $pe]"; fi
  add_row "$name" "$unit" higher "Ceph RGW" "$fv" "$pv" \
    "$(lat_extra "$(s3_values "$row" floe p50_us)" "$(s3_values "$row" floe p99_us)" "$(s3_values "$row" floe p999_us)" \
      "$(s3_values "$row" rgw p50_us)" "$(s3_values "$row" rgw p99_us)" "$(s3_values "$row" rgw p999_us)"),\"floe_$ounit\":$(med "$(s3_values "$row" floe "$ofield")"),\"peer_$ounit\":$(med "$(s3_values "$row" rgw "$ofield")"),\"floe_errors\":$fe,\"peer_errors\":$pe,\"floe_server_cpu_us_per_request\":$(s3_cpu_us "$row" floe server),\"peer_server_cpu_us_per_request\":$(s3_cpu_us "$row" rgw server),\"floe_client_cpu_us_per_request\":$(s3_cpu_us "$row" floe client),\"peer_client_cpu_us_per_request\":$(s3_cpu_us "$row" rgw client),\"connections\":$S3_THREADS,\"wal_sync\":\"always\""
}
# s3_target WHAT ROW FIELD LIMIT: one line of the S3 targets table (floe / RGW of the medians >= LIMIT).
s3_target() {
  local r
  r=$(awk -v a="$(med "$(s3_values "$2" floe "$3")")" -v b="$(med "$(s3_values "$2" rgw "$3")")" \
    'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  printf '| %s | %s | >= %s | %s |\n' "$1" "$r" "$4" \
    "$(awk -v r="$r" -v l="$4" 'BEGIN { print (r >= l ? "met" : "**missed**") }')" >>"$WORK/s3-targets.md"
}
s3_row put-small "S3 PUT of 4 KiB objects, $S3_THREADS connections (floe wal.sync=always)" "req/s" req_per_s mb_per_s mb_per_s
s3_row get-small "S3 GET of hot 4 KiB objects ($S3_SMALL_KEYS keys), $S3_THREADS connections" "req/s" req_per_s mb_per_s mb_per_s
s3_row put-big "S3 PUT of $S3_BIG_MIB MiB objects, $S3_THREADS connections (floe wal.sync=always)" "MB/s" mb_per_s req_per_s req_per_s
s3_row get-big "S3 GET of hot $S3_BIG_MIB MiB objects ($S3_BIG_KEYS keys), $S3_THREADS connections" "MB/s" mb_per_s req_per_s req_per_s
s3_target "hot 4 KiB GET, floe / RGW (req/s)" get-small req_per_s 3
s3_target "4 KiB PUT with wal.sync=always, floe / RGW (req/s)" put-small req_per_s 1
s3_target "$S3_BIG_MIB MiB PUT with wal.sync=always, floe / RGW (MB/s)" put-big mb_per_s 1

ELAPSED_S=$(($(date +%s) - START_S))
say "all rows done in ${ELAPSED_S}s; writing the report to $OUT"

# ---- plots ----
mkdir -p "$OUT/bench"
awk '{ v[$1 " " $2] = $3 " " $4; t[$2] = 1 }
     END { n = 0; for (k in t) th[++n] = k
           for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (th[j] + 0 < th[i] + 0) { x = th[i]; th[i] = th[j]; th[j] = x }
           for (i = 1; i <= n; i++) print th[i], v["fillseq " th[i]], v["fillrandom " th[i]] }' \
  "$WORK/plot/sync-raw" >"$WORK/plot/sync.dat"
gnuplot -e "datadir='$WORK/plot'; outdir='$OUT/bench'" bench/plot.gnuplot >>"$LOG" 2>&1 || die "gnuplot failed"

# ---- the report ----
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=""
if ! git diff --quiet HEAD -- src include 2>/dev/null; then DIRTY=" (with uncommitted changes in src/ or include/)"; fi
NGINX_VERSION=$(nginx -v 2>&1 | sed 's/.*nginx\///')
WRK_VERSION=$( (wrk --version 2>&1 || true) | awk 'NR == 1 { print $2 }')  # wrk --version exits 1
CURL_VERSION=$(curl --version | awk 'NR == 1 { print $2 }')
MODE="a full run"
[ "$QUICK" = 1 ] && MODE="a quick run, --quick: smaller sizes"

# table_md: the results table from $ROWS.
table_md() {
  awk '
  function jf(line, key,   m, v) {
    if (match(line, "\"" key "\":(\"[^\"]*\"|[^,}]*)")) {
      v = substr(line, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
      gsub(/^"|"$/, "", v); return v
    }
    return ""
  }
  function num(x,   a, s, i, neg, r) {
    if (x == "" || x == "null") return "—"
    x += 0
    if (x >= 1000 || x <= -1000) {
      s = sprintf("%.0f", x); neg = substr(s, 1, 1) == "-"; if (neg) s = substr(s, 2)
      r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
      return (neg ? "-" : "") s r
    }
    if (x >= 100) return sprintf("%.0f", x)
    if (x >= 10) return sprintf("%.1f", x)
    return sprintf("%.2f", x)
  }
  BEGIN {
    print "| # | row | unit | floe: median (min – max) | peer: median (min – max) | peer | floe / peer | better |"
    print "|---|---|---|---|---|---|---|---|"
  }
  {
    n++
    peer = jf($0, "peer_name"); if (peer == "") peer = "—"
    pv = jf($0, "peer") == "null" ? "—" : num(jf($0, "peer")) " (" num(jf($0, "peer_min")) " – " num(jf($0, "peer_max")) ")"
    fv = num(jf($0, "floe")) " (" num(jf($0, "floe_min")) " – " num(jf($0, "floe_max")) ")"
    if (jf($0, "runs") == 1) fv = num(jf($0, "floe")) " (one run)"
    ratio = jf($0, "ratio"); ratio = ratio == "null" ? "—" : sprintf("%.2f", ratio)
    printf "| %d | %s | %s | %s | %s | %s | %s | %s |\n", n, jf($0, "name"), jf($0, "unit"), fv, pv, peer, ratio,
      jf($0, "better")
  }' "$ROWS"
}

# latency_md: p50/p99/p99.9 of every row that has them.
latency_md() {
  awk '
  function jf(line, key) {
    if (match(line, "\"" key "\":[^,}]*")) return substr(line, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
    return ""
  }
  function nm(line,   v) { match(line, "\"name\":\"[^\"]*\""); return substr(line, RSTART + 8, RLENGTH - 9) }
  function num(x) {
    if (x == "") return "—"
    x += 0
    if (x >= 100) return sprintf("%.0f", x)
    if (x >= 10) return sprintf("%.1f", x)
    return sprintf("%.2f", x)
  }
  BEGIN {
    print "| row | floe p50 | floe p99 | floe p99.9 | peer p50 | peer p99 | peer p99.9 |"
    print "|---|---|---|---|---|---|---|"
  }
  /"floe_p50_us"/ {
    printf "| %s | %s | %s | %s | %s | %s | %s |\n", nm($0), num(jf($0, "floe_p50_us")), num(jf($0, "floe_p99_us")),
      num(jf($0, "floe_p999_us")), num(jf($0, "peer_p50_us")), num(jf($0, "peer_p99_us")), num(jf($0, "peer_p999_us"))
  }' "$ROWS"
  awk -v f5="$(med "$g_f5")" -v f9="$(med "$g_f9")" -v f99="$(med "$g_f99")" -v c5="$(med "$g_c5")" -v c9="$(med "$g_c9")" \
    -v c99="$(med "$g_c99")" 'BEGIN { printf "| cold GET (peer: curl ranged GET of the same bytes) | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |\n", f5, f9, f99, c5, c9, c99 }'
}

# behind_md: one line per row where floe is behind its peer.
behind_md() {
  awk '
  function jf(line, key) {
    if (match(line, "\"" key "\":(\"[^\"]*\"|[^,}]*)")) { v = substr(line, RSTART + length(key) + 3, RLENGTH - length(key) - 3); gsub(/^"|"$/, "", v); return v }
    return ""
  }
  {
    n++
    r = jf($0, "ratio"); if (r == "null" || r == "") next
    better = jf($0, "better")
    behind = (better == "higher" && r + 0 < 1) || (better == "lower" && r + 0 > 1)
    if (!behind) next
    found = 1
    fmin = jf($0, "floe_min") + 0; fmax = jf($0, "floe_max") + 0; pmin = jf($0, "peer_min") + 0; pmax = jf($0, "peer_max") + 0
    overlap = fmin <= pmax && pmin <= fmax
    if (better == "higher") what = sprintf("floe reaches %.0f%% of %s", r * 100, jf($0, "peer_name"))
    else what = sprintf("floe takes %.2fx what %s takes", r, jf($0, "peer_name"))
    printf "- Row %d, %s: %s (%s %s vs %s %s)%s.\n", n, jf($0, "name"), what, jf($0, "floe"), jf($0, "unit"),
      jf($0, "peer"), jf($0, "unit"), overlap ? "; the min–max ranges overlap, so this is within run-to-run noise" : ""
    w = why(jf($0, "name"))
    if (w != "") printf "  %s\n", w
  }
  # What the profiles (perf record -g) of these rows showed, and what was done about it.
  function why(name) {
    if (name ~ /^memory per million/)
      return "Why: a pending entry costs a 24-byte node header (32 until commit 46b508e: 448 -> 442 MiB), 8 bytes per skip-list level (1.33 on average) and its key rounded up to 8 bytes; RocksDB packs lengths as varints. Values live in a separate arena, which keeps the nodes a search walks dense: that is what makes readrandom 1.7x RocksDB, so it stays."
    if (name ~ /^cold upload/)
      return "Why (perf): floe sends Content-MD5 with every segment so the store verifies each byte it stores; MD5 runs at ~440 MB/s on this CPU and competes with RGW for the two cores, while curl sends the bytes unchecked. Sending the body as UNSIGNED-PAYLOAD instead of hashing it again with SHA-256 (commit 9d0ae2d) took floe from 137 to 181 MiB/s. The S3 header x-amz-checksum-crc32c would replace MD5 with the CRC32C the segment writer already computes at 11 GB/s, but the Ceph RGW 16 used here does not verify it."
    if (name ~ /^cold GET .*block cache miss/)
      return "Why (perf): the miss also hands the block to the disk block cache. Creating the cache file (an ext4 inode allocation, ~0.4 ms) now happens on a background thread (commit 7518381: p50 2.1 -> 1.7 ms), but on two cores that thread and RGW still compete with the reader. The row without a block cache separates the two costs."
    if (name ~ /without a disk block cache/)
      return "Why: floe sends the same single ranged GET as curl; it adds its own client work per request (SigV4 signing, header parsing) and the segment reader checks the block CRC and searches it. Across the full runs made so far this row has measured between 1.03x and 1.18x, with RGW on the same two cores."
    if (name ~ /^S3 PUT of [0-9]+ MiB/)
      return "Why (perf and stack samples of floe serve during this row): floe serve spends about twice the CPU per large PUT that the RGW does (the row JSON has both), because it writes every byte to files four times: the WAL, the segment file when the pending segment seals, again in compaction (32 concurrent PUTs interleave their 8 MiB chunks in the same segments, whose key ranges then overlap, so level 0 is merged), and the fs cold-tier copy: 9.4 GB of write() for 2.15 GB of objects, where the RGW (memstore OSD) writes nothing to disk. write() is 60% of the CPU of floe serve (WAL appends 18%, compaction 15%, flusher 13%, cold-tier copy 10%), MD5 (the ETag, which RGW computes too) 14%, CRC32C 5%. The ingest also runs through one lock and one thread: append_locked holds write_mu across the whole 8 MiB wal_append of a chunk, and the one flusher must take write_mu (wal_release_before) before it returns the bytes of a written segment to segment.max_unwritten_bytes; wall-clock stack samples found most of the 16 write-pool threads in wait_for_room while the flusher waited for write_mu. Without a cold tier floe reaches 44%; with wal.sync=never it is no faster, so it is not the fdatasyncs."
    if (name ~ /^HTTP GET/)
      return "Why (perf): floe_get copies the cached value into a new buffer per request and microhttpd copies it into the socket, where nginx uses sendfile."
    return ""
  }
  END { if (!found) print "- None: floe is level with or ahead of its peer on every row." }' "$ROWS"
}

REPORT=$OUT/benchmarks.md
ROCKS_NOTE=""
if [ "$ROCKS_ASSERTS" = 1 ]; then
  ROCKS_NOTE=" Debian's db_bench prints \"WARNING: Assertions are enabled; benchmarks unnecessarily slow\": the packaged RocksDB is built without NDEBUG, so its figures are somewhat below what a release build of RocksDB reaches on this machine. It is the RocksDB this machine can install."
fi
{
  cat <<EOF
# floe benchmarks

Generated by \`bench/run-all.sh\` ($MODE) on $(date -u '+%Y-%m-%d %H:%M UTC') at git $REV$DIRTY; the
whole run took $((ELAPSED_S / 60)) min $((ELAPSED_S % 60)) s. Do not edit this file by hand: rerun the script
(\`bench/README.md\` says what each benchmark does).

## Machine

| | |
|---|---|
| CPU | $CPU_MODEL, $CORES cores |
| memory | $MEM_GIB GiB |
| kernel | Linux $KERNEL |
| benchmark files | $FS |
| disk fdatasync latency (fio, 4 KiB writes, fdatasync after each, ${FIO_SECONDS} s) | p50 ${FSYNC_P50_US} µs, p99 ${FSYNC_P99_US} µs, mean ${FSYNC_MEAN_US} µs |

The machine is a shared 2-core virtual machine: other work ran on it during the run. Every row
alternates floe and its peer run by run so that drift hits both, and reports the median of $RUNS
runs with the min and max.

## Peers and versions

floe $REV (Release build, \`-O2\`); RocksDB ${ROCKS_VERSION:-?} (\`db_bench\` from Debian's rocksdb-tools);
nginx $NGINX_VERSION with wrk $WRK_VERSION; curl $CURL_VERSION; Ceph RGW $RGW_VERSION (memstore OSD,
beast frontend, on 127.0.0.1).$ROCKS_NOTE

## Settings

- **Embedded** (\`bench/floe-bench\` vs \`db_bench\`): $KEY_BYTES-byte keys, $VALUE_BYTES-byte values, no
  compression on either side (floe's default; \`--compression_type=none\` for RocksDB). floe runs with
  its defaults (64 MiB segments, 256 MiB object cache, 64 MiB decoded-block cache); RocksDB gets the
  same RAM for caches (\`--cache_size=$ROCKS_CACHE\`) and its defaults otherwise (64 MiB write
  buffers, 4 KiB blocks, WAL on). \`sync=never\` is floe's \`wal.sync=never\` and db_bench's
  \`--sync=0\` (both write the log to the OS without fdatasync); \`sync=always\` is
  \`wal.sync=always\` and \`--sync=1\`. floe-bench's \`--num\` is the total over all threads and
  db_bench's is per thread, so db_bench gets \`--num=N/threads\` (its threads write the same key
  sequence each; floe's threads write disjoint slices).
  - fillseq and fillrandom with \`sync=never\`: $NUM keys, 1 thread. With \`sync=always\`: $SYNC_NUM
    keys (not $NUM: one fdatasync per write would take minutes per run), 1, 4 and 16 threads.
  - readrandom: $NUM keys written by fillseq (db_bench: \`fillseq\`, then \`readrandom
    --use_existing_db=1 --num=$NUM --reads=$NUM\`, so every read finds its key; both check that all
    were found), then $NUM random reads, 1 thread.
  - readhot: $NUM reads from a hot set of $HOT keys. floe-bench's hot set is 1% of the keys spread
    evenly over the key space; db_bench has no hot-set workload, so it runs \`readrandom
    --use_existing_db=1 --num=$HOT --reads=$NUM\` on the same $NUM-key database: its hot set is the
    first $HOT keys, which sit together in few blocks (easier for RocksDB's block cache than floe's
    spread-out set).
- **Restart**: a store holding ${RESTART_MIB} MiB of key/value bytes ($RESTART_KEYS keys) only in its
  log, reopened. floe: \`restart-bench fill\` with a segment size and age nothing reaches, then
  \`restart-bench open\` times \`floe_open\` (it replays the WAL into the pending segment). RocksDB:
  \`db_bench fillseq\` with a 4 GiB write buffer and \`--avoid_flush_during_recovery=1\` (so neither
  side writes a table file at open), then \`DB::Open\`'s duration from RocksDB's LOG. The logs are
  in the page cache (just written) for both.
- **Memory**: maximum RSS (GNU time) of writing $MEM_KEYS keys into the pending segment (floe) or
  memtable (RocksDB, 4 GiB write buffer), minus the same with one key, per million keys. Keys and
  values alone are $(awk -v k=$KEY_BYTES -v v=$VALUE_BYTES 'BEGIN { printf "%.1f", (k + v) * 1e6 / 1048576 }') MiB per million.
- **Cold Range** (\`cold-bench\`'s cold_range): one object of $COLD_RANGE_OBJECT_MIB MiB of random bytes written with
  \`floe_writer_*\` (8 MiB chunks, as an HTTP PUT stores it), uploaded and restored into an empty data directory (so
  only the bucket has it), then $COLD_RANGE_MIB MiB from a quarter of the way in read with \`floe_read_range\` (block
  caches empty), against curl ranged GETs of the same bytes, one per chunk covered, from the segment objects that
  hold them; the row's JSON has the GETs each sent and the bytes floe fetched (the chunks covered, whole).
- **Cold tier** (\`bench/cold-bench\` vs the curl CLI, against the RGW): ${COLD_MIB} MiB written into
  8 MiB segments, then uploaded by reopening the store with the S3 cold tier and
  \`floe_flush(FLOE_DURABLE_REMOTE)\` (upload.concurrency $UPLOAD_CONCURRENCY; timed from \`floe_open\`
  to the flush's return, manifest publishing included); curl PUTs the same segment files with one
  process, sequentially and with \`--parallel-max $UPLOAD_CONCURRENCY\`. Cold GETs: the bucket is
  restored into an empty data directory, every segment's index and bloom are loaded by warm-up reads,
  then $COLD_READS keys in data blocks nobody has read are read (each a disk block cache miss: one
  ranged GET of about $(med "$g_bytes") bytes, whose block then goes into the 1 GiB disk block
  cache); curl then fetches exactly the byte ranges floe fetched, over one kept-alive connection.
  The same pass is repeated on a second restore with \`cache.block_bytes=0\`, to show what filling
  the disk block cache adds to a cold read.
- **HTTP** (\`bench/http-bench.sh\`): wrk, 2 threads, 32 connections, ${HTTP_SECONDS} s per run, GET of one
  hot 1 KiB and one hot 64 KiB object from floe serve and from nginx serving the same bytes as a
  static file; PUT throughput of 1 KiB objects to floe (nginx has no store to compare with).
- **One large object** (\`bench/big-object-bench.sh\`): curl PUTs (\`-T\`, streamed from a file) and
  GETs one $BIG_MIB MiB object of random bytes to and from floe serve (defaults: \`wal.sync=always\`, fs cold
  tier; its request and response caps raised to twice the object) and nginx (\`dav_methods PUT\`, the
  body spooled to a temp file past \`client_body_buffer_size 1m\`, then served as a static file with
  sendfile), alternating, $RUNS rounds; MB/s is 10^6 bytes per second of body as curl reports it, and
  peak RSS the server's (nginx: its one worker's) VmHWM over that one transfer (reset before it through
  \`/proc/PID/clear_refs\`). The bytes read back are compared with the bytes sent.
- **S3 API** (\`bench/s3-bench.sh\`): floe serve's S3 API against the Ceph RGW (its own throwaway
  one, on other ports), both driven by \`bench/s3-bench\`, a load generator on floe's own S3 client:
  $S3_THREADS threads, each with its own kept-alive connection, SigV4-signed requests, PUTs with
  Content-MD5 and \`UNSIGNED-PAYLOAD\`, no retries. Rows: PUTs of 4 KiB objects to new keys for
  ${S3_SECONDS} s; GETs of a hot set of $S3_SMALL_KEYS such objects (written and read back once before the
  timed part) for ${S3_SECONDS} s; $S3_BIG_PUTS PUTs of $S3_BIG_MIB MiB objects (one per connection); $S3_BIG_GETS GETs of a hot
  set of $S3_BIG_KEYS such objects. Every GET body is compared byte for byte with what was PUT, a
  sample of the PUT keys is read back after the timed part, and any non-2xx answer or wrong body is
  an error (a row with errors says so in its name). floe serve starts with an empty data directory
  for every run, with \`wal.sync=always\` (every PUT is acknowledged after its WAL fdatasync), an fs
  cold tier, and \`http.max_response_bytes_in_flight\` raised to 1 GiB (at the default 256 MiB, the
  32nd concurrent GET of a large object waits and gets 503 SlowDown); the RGW keeps every object in
  RAM (memstore OSD) and fsyncs nothing. Each RGW run uses a bucket of its own; after the large rows
  its objects are deleted and RGW's gc is run. MB/s is 10^6 bytes of bodies per second; latencies are
  per request. The row's JSON has both servers' CPU time per request (floe serve; radosgw, ceph-osd
  and ceph-mon) and that of the load generator.

## Results

floe / peer is the ratio of the medians. For rows where higher is better a ratio below 1 means
floe is behind; where lower is better, a ratio above 1 does.

EOF
  table_md
  cat <<EOF

### Latency percentiles (µs, medians of the runs)

EOF
  latency_md
  cat <<EOF

![Throughput of sync=always writes by thread count, floe vs RocksDB](bench/sync-always-throughput.png)

![Read latency percentiles, floe vs RocksDB and curl](bench/read-latency.png)

Every row, with the details behind it (percentiles, sizes, settings), is in
[\`bench/results.jsonl\`](bench/results.jsonl), one JSON object per line.

## Scale and compaction (issue 10)

The rows named \`scale:\` above, made by \`bench/scale-bench\` (see \`bench/README.md\`). Every floe
store here has 8 MiB seals (\`segment.max_bytes\`), the object cache off (\`cache.object_bytes=0\`,
so every read takes the segment path), \`wal.sync=never\`, $KEY_BYTES-byte keys and $VALUE_BYTES-byte
values, and the library's compaction defaults (level 1 target 256 MiB, ratio 10, 64 MiB outputs,
256 MiB/s cap) unless a row says otherwise.

- **Reads at scale**: $SCALE_KEYS keys written once each in a random order with background
  compaction off (\`scale-bench load --l0-trigger 0\`), flushed (segments_per_read_max before
  compaction: $(jnum "$big" before_segments_per_read_max)), $SCALE_READS_BEFORE reads of existing keys
  on that shape, then \`floe_compact\` ($(jnum "$big" compact_seconds) s; it read
  $(jnum "$big" compaction_bytes_read) bytes and wrote $(jnum "$big" compaction_bytes_written);
  segments_per_read_max after: $(jnum "$big" after_segments_per_read_max), in
  $(jnum "$big" after_levels) level(s)). Then, alternating run by run with RocksDB, $SCALE_READS random
  gets of existing keys and $SCALE_READS of missing keys (the stored keys with one more byte, as
  db_bench's readmissing makes them), each run a new process opening the store. The same load,
  compaction and reads at $SMALL_KEYS keys give floe's own ratio. Each store is loaded once; the
  read runs alternate.
- **RocksDB** (\`db_bench\` $ROCKS_VERSION): \`db_bench $SCALE_ROCKS --benchmarks=filluniquerandom,waitforcompaction
  --num=$SCALE_KEYS\`, then \`--benchmarks=readrandom\` and \`--benchmarks=readmissing\` with
  \`--use_existing_db=1 --num=$SCALE_KEYS --reads=$SCALE_READS\` (same flags). \`filluniquerandom\`
  rather than \`fillrandom\`: db_bench's fillrandom draws keys with repeats and leaves about 63% of
  them, so its readrandom would read missing keys a third of the time. The 8 MiB write buffer matches
  floe's seals, the 64 MiB block cache floe's decoded-block cache, 10 bloom bits per key floe's
  filters; RocksDB's level defaults are the ones floe copies. Levels holding files after the fill:
  $rocks_levels.
- **Open**: \`scale-bench open\` times \`floe_open\` of the compacted $SCALE_KEYS-key store (its
  files in the page cache); RocksDB's \`DB::Open\` of its own store is read from its LOG.
- **Fill with compaction**: $SCALE_FILL_KEYS keys written once each in a random order into an empty
  store with \`compaction.l0_trigger\` 4 (the default: background compaction runs during the fill)
  and 0 (off); the figure is the put loop's throughput (not the flush after it) and the put
  latency percentiles are in the latency table. RocksDB: \`filluniquerandom\` with the flags above
  (its compaction on).
- **Space**: \`scale-bench overwrite\`: $OVERWRITE_KEYS keys written $OVERWRITE_ROUNDS times over
  (background compaction on), \`floe_compact\`, then the bytes of the files under the data
  directory's \`segments/\` against the live bytes ($OVERWRITE_KEYS x ($KEY_BYTES + $VALUE_BYTES));
  then every other key deleted, \`floe_compact\` again, and the fraction of those bytes freed.
  Spot checks read back the newest values and that deleted keys stay deleted.
- **Cold tier**: \`scale-bench cold\`, once per backend (the fs one a directory under /tmp, the S3
  one the throwaway RGW), both at once: $SCALE_COLD_KEYS keys into a store with background compaction
  on, \`floe_flush(FLOE_DURABLE_REMOTE)\`, \`floe_compact\`; requests are \`floe_stats.cold_requests\`
  summed over every operation (a PUT, GET, LIST... each counts one) and bytes uploaded are
  \`upload_bytes\`, both per GB (10^9 bytes) of keys and values ingested. Then $SCALE_IDLE_S s idle
  with background compaction and gc on, \`gc.interval_s\` $SCALE_GC_INTERVAL_S (so gc wakes during the
  idle period; its default is 3600) and \`gc.grace_s\` at its default. gc's first run after the
  compaction's publication has work to do (listing, reading manifests); the row "after gc's first
  run" counts what the store sends once that is done.

| target (issue 10) | measured | target | |
|---|---|---|---|
$(cat "$WORK/scale-targets.md")

## S3 API

The rows named \`S3\` above (settings above; \`bench/README.md\` describes \`s3-bench\`). The targets
compare the medians of floe's and the RGW's runs.

| target | floe / RGW | target | |
|---|---|---|---|
$(cat "$WORK/s3-targets.md")

## Where floe is behind

EOF
  behind_md
} >"$REPORT"

cp "$ROWS" "$OUT/bench/results.jsonl"
say "wrote $REPORT, $OUT/bench/*.png and the rows as JSON lines in $OUT/bench/results.jsonl"
if [ "$JSON" = 0 ]; then
  echo
  table_md
  echo
  echo "Where floe is behind:"
  behind_md
  echo
  echo "report: $REPORT (run took ${ELAPSED_S}s)"
fi
