#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_<name>.c) with clang into build/fuzz and runs each
# for SECONDS (default 20) on a temporary copy of its seed corpus, tests/fuzz/corpus/<name>/, so a
# run never grows the repository. First it replays every input in tests/fuzz/regressions/<name>/
# (crashes found before, fixed since), which must all pass. Fails if a replay or a run crashes, and
# prints per target libFuzzer's executions, final coverage and exec/s.
#   scripts/fuzz.sh [SECONDS]        build, replay the regressions, fuzz every target
#   scripts/fuzz.sh --seeds          rewrite the seeds made from real files (WAL, segment, manifest)
# Environment: FLOE_FUZZ_TARGETS="wal segment" runs only those; FLOE_FUZZ_KEEP=DIR keeps each
# target's grown corpus under DIR/<name>/ instead of a temp directory. Crash inputs are kept in
# build/fuzz/crashes/<name>/.
# tests/fuzz/pending/ holds crash inputs whose fix is not in yet: they are not replayed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=$ROOT/build/fuzz
TARGETS=${FLOE_FUZZ_TARGETS:-"config http manifest s3_chunked segment wal xml s3_xml"}

install_clang() {
  local missing="" p
  for p in clang libclang-rt-dev; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "fuzz.sh: installing:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update >&2
  # shellcheck disable=SC2086
  $sudo apt-get install -y --no-install-recommends $missing >&2
}

build() {
  install_clang
  CC=clang cmake -S "$ROOT" -B "$BUILD" -DFLOE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j "$(nproc)" --target fuzz_all fuzz_make_seeds >/dev/null
}

if [ "${1:-}" = "--seeds" ]; then
  build
  "$BUILD/fuzz/fuzz_make_seeds" "$ROOT/tests/fuzz/corpus"
  echo "fuzz.sh: seeds written under tests/fuzz/corpus/" >&2
  exit 0
fi
SECONDS_PER_TARGET=${1:-20}
case $SECONDS_PER_TARGET in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] | --seeds" >&2; exit 2 ;; esac

build
# The WAL, manifest, config and segment-dump targets write a file per input: in memory it is faster.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
WORK=$(mktemp -d /tmp/floe-fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
failed=""
summary=""
for t in $TARGETS; do
  bin=$BUILD/fuzz/fuzz_$t
  reg=$ROOT/tests/fuzz/regressions/$t
  if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
    echo "== fuzz_$t: replaying $(ls "$reg" | wc -l) regression inputs" >&2
    if ! "$bin" -runs=1 "$reg"/* >"$WORK/$t.replay.log" 2>&1; then
      cat "$WORK/$t.replay.log" >&2
      failed="$failed $t(regression)"
      continue
    fi
  fi
  out=${FLOE_FUZZ_KEEP:+$FLOE_FUZZ_KEEP/$t}
  out=${out:-$WORK/$t}
  crashes=$BUILD/crashes/$t
  mkdir -p "$out/corpus" "$crashes"
  cp "$ROOT/tests/fuzz/corpus/$t/"* "$out/corpus/"
  echo "== fuzz_$t: ${SECONDS_PER_TARGET}s" >&2
  rc=0
  "$bin" -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -artifact_prefix="$crashes/" \
    "$out/corpus" >"$out/log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$out/log" | tail -n 1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$out/log" | tail -n 1 | cut -d' ' -f2)
  line=$(printf 'fuzz_%-9s executions %-10s exec/s %-7s cov %-6s ft %s' "$t" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}")
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$out/log" >&2
    line="$line  CRASH (rc $rc): $(ls -t "$crashes" | head -n 1)"
    failed="$failed $t"
  fi
  summary="$summary$line"$'\n'
done
printf '%s' "$summary"
if [ -n "$failed" ]; then
  echo "fuzz.sh: crashes in:$failed (inputs in build/fuzz/crashes/<target>/; minimise one with" \
    "build/fuzz/fuzz/fuzz_<target> -minimize_crash=1 -runs=100000 INPUT)" >&2
  exit 1
fi
echo "fuzz.sh: every target ran ${SECONDS_PER_TARGET}s without a crash" >&2
