#!/usr/bin/env bash
# The S3 API as the clients people use see it: one realistic session per client (AWS CLI, boto3,
# rclone, s3cmd, restic, AWS SDK for JavaScript v3), each in a fresh bucket of its own that is
# deleted at the end, checking what comes back byte for byte. The target is any S3 endpoint:
# the same script runs against Ceph RGW (ctest s3_clients_rgw) and against floe's S3 API.
#
# usage: run.sh [--env-prefix PFX] [--known-gaps FILE] [--start CMD] [WORK_DIR]
#
# Target, from the environment:
#   S3_ENDPOINT     http://HOST:PORT (required)
#   S3_ACCESS_KEY   S3_SECRET_KEY (required)
#   S3_REGION       default us-east-1
#   S3_CLIENTS      the clients to run, space- or comma-separated, in this order by default:
#                   awscli boto3 rclone s3cmd restic js
# --env-prefix PFX  reads PFX ENDPOINT, PFX ACCESS_KEY, PFX SECRET_KEY and PFX REGION instead (any S3_
#                   ones set are ignored), e.g. FLOE_TEST_S3_, what scripts/test.sh exports for its RGW.
# --known-gaps FILE lists steps ("client:step  # why") this target is known to get wrong: such a
#                   step that fails prints XFAIL and does not fail the run; one that passes prints
#                   XPASS and does (take it out of FILE). S3_KNOWN_GAPS adds more, space-separated.
# --start CMD       starts the server under test first: bash runs CMD in a session of its own, in the
#                   background (output in the run directory's server.log; $S3_RUN_DIR names that
#                   directory, for the server's data). The run starts once S3_ENDPOINT's port accepts
#                   connections (within S3_START_TIMEOUT_S, default 60 s) and fails if CMD exits
#                   first; at the end the process group of CMD gets SIGTERM, then SIGKILL after 5 s.
#                   The port must be free before: otherwise another server would answer.
# WORK_DIR (or S3_WORK_DIR; default a new directory under /tmp) holds a run.* directory per run with
# the data and one log per step; it is removed when every step passed (S3_KEEP_WORK=1 keeps it).
# The JS SDK is installed with npm into S3_NODE_DIR (default WORK_DIR/node), kept for the next run;
# if npm cannot install it the js session fails, unless S3_SKIP_JS_IF_NO_NPM=1 makes it a SKIP.
#
# Output: one line per client and step, "PASS|FAIL|SKIP|XFAIL|XPASS CLIENT STEP (seconds)"; a FAIL
# is followed by the step's log (every command it ran, with its output). The last line counts them;
# the exit status is 1 if any step failed or passed unexpectedly.
#
# Retries are off wherever the client allows it, so an error that a retry would hide fails the step.
# Clients used: Debian's /usr/bin/aws, /usr/bin/python3 with python3-boto3, rclone, s3cmd, restic,
# and /usr/bin/node with the npm packages in tests/s3_clients/package.json (scripts/install-deps.sh
# installs the Debian ones).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
ALL_CLIENTS="awscli boto3 rclone s3cmd restic js"

die() { echo "s3_clients: error: $*" >&2; exit 2; }

env_prefix="" gaps_file="" work_arg="" start_cmd=""
while [ $# -gt 0 ]; do
  case "$1" in
  --env-prefix) [ $# -ge 2 ] || die "--env-prefix needs a value"; env_prefix=$2; shift 2 ;;
  --known-gaps) [ $# -ge 2 ] || die "--known-gaps needs a file"; gaps_file=$2; shift 2 ;;
  --start) [ $# -ge 2 ] || die "--start needs a command"; start_cmd=$2; shift 2 ;;
  -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  -*) die "unknown option $1 (see --help)" ;;
  *) [ -z "$work_arg" ] || die "one WORK_DIR only"; work_arg=$1; shift ;;
  esac
done

if [ -n "$env_prefix" ]; then
  for v in ENDPOINT ACCESS_KEY SECRET_KEY REGION; do
    src="${env_prefix}$v"
    if [ -n "${!src:-}" ]; then export "S3_$v=${!src}"; else unset "S3_$v"; fi
  done
  names="${env_prefix}ENDPOINT, ${env_prefix}ACCESS_KEY and ${env_prefix}SECRET_KEY"
else
  names="S3_ENDPOINT, S3_ACCESS_KEY and S3_SECRET_KEY"
fi
if [ -z "${S3_ENDPOINT:-}" ] || [ -z "${S3_ACCESS_KEY:-}" ] || [ -z "${S3_SECRET_KEY:-}" ]; then
  die "$names must be set. For Ceph RGW: run scripts/test.sh, which starts an S3 test server, or start one with
  scripts/s3-test-server.sh start DIR PORT
and export $names (access key floeacc, secret floesecret123, the endpoint it prints)."
fi
export S3_REGION=${S3_REGION:-us-east-1}
case "$S3_ENDPOINT" in
http://*:[0-9]*) ;;
*) die "S3_ENDPOINT must look like http://HOST:PORT, got '$S3_ENDPOINT'" ;;
esac
S3_HOSTPORT=${S3_ENDPOINT#http://}
S3_HOSTPORT=${S3_HOSTPORT%/}

CLIENTS=$(tr ',' ' ' <<<"${S3_CLIENTS:-$ALL_CLIENTS}")
for c in $CLIENTS; do
  [[ " $ALL_CLIENTS " == *" $c "* ]] || die "unknown client '$c' in S3_CLIENTS (known: $ALL_CLIENTS)"
done

declare -A GAP=()
if [ -n "$gaps_file" ]; then
  [ -f "$gaps_file" ] || die "known-gaps file $gaps_file does not exist"
  while IFS= read -r line; do
    reason=""
    [[ "$line" == *"#"* ]] && reason=${line#*#} && reason=${reason# }
    entry=$(sed 's/#.*//; s/[[:space:]]//g' <<<"$line")
    [ -n "$entry" ] || continue
    [[ "$entry" == *:* ]] || die "$gaps_file: '$entry' is not client:step"
    GAP[$entry]=${reason:-listed in $gaps_file}
  done <"$gaps_file"
fi
for entry in ${S3_KNOWN_GAPS:-}; do GAP[$entry]=${GAP[$entry]:-listed in S3_KNOWN_GAPS}; done
export S3_GAPS="${!GAP[*]}" # for the python and node sessions

base=${work_arg:-${S3_WORK_DIR:-}}
if [ -z "$base" ]; then base=$(mktemp -d /tmp/floe-s3-clients.XXXXXX) || die "mktemp failed"; fi
mkdir -p "$base" || die "cannot make $base"
base=$(cd "$base" && pwd)
RUN_ID=$(date +%Y%m%d%H%M%S)-$$
WORK=$base/run.$RUN_ID
mkdir -p "$WORK" || die "cannot make $WORK"
NODE_DIR=${S3_NODE_DIR:-$base/node}

S3_HOST=${S3_HOSTPORT%:*} S3_PORT=${S3_HOSTPORT##*:}
port_open() { (exec 3<>"/dev/tcp/$S3_HOST/$S3_PORT") 2>/dev/null; }
SERVER_PID=""
# alive PID: PID runs (a zombie, exited but not yet waited for, does not count).
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [[ "$st" != Z* ]]; }
stop_server() { # stops the process group --start made, and only that
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM -- "-$SERVER_PID" 2>/dev/null
  for _ in $(seq 50); do
    alive "$SERVER_PID" || wait "$SERVER_PID" 2>/dev/null
    if ! alive "$SERVER_PID" && ! kill -0 -- "-$SERVER_PID" 2>/dev/null; then SERVER_PID=""; return 0; fi
    sleep 0.1
  done
  echo "s3_clients: the server (process group $SERVER_PID) outlived SIGTERM by 5 s: SIGKILL" >&2
  kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
if [ -n "$start_cmd" ]; then
  port_open && die "$S3_HOSTPORT already accepts connections: --start would test whatever listens there"
  export S3_RUN_DIR=$WORK
  setsid bash -c "$start_cmd" </dev/null >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  trap stop_server EXIT
  deadline=$(($(date +%s) + ${S3_START_TIMEOUT_S:-60}))
  until port_open; do
    if ! alive "$SERVER_PID"; then
      wait "$SERVER_PID"
      echo "s3_clients: the server exited (status $?) before $S3_HOSTPORT accepted connections; its output:" >&2
      sed 's/^/    /' "$WORK/server.log" >&2
      exit 2
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "s3_clients: $S3_HOSTPORT did not accept connections within ${S3_START_TIMEOUT_S:-60} s; server output:" >&2
      sed 's/^/    /' "$WORK/server.log" >&2
      exit 2
    fi
    sleep 0.1
  done
  echo "s3_clients: started the server (pid $SERVER_PID): $start_cmd"
fi

declare -A COUNT=([PASS]=0 [FAIL]=0 [SKIP]=0 [XFAIL]=0 [XPASS]=0)
CLIENT="" CLIENT_FAILED=0 BUCKET="" CW="" SESSION_ENV=""

indent() { sed 's/^/    /'; }
secs() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f s", (b - a) / 1e9 }'; }
report() { # report STATUS STEP [NOTE]
  COUNT[$1]=$((COUNT[$1] + 1))
  echo "$1 $CLIENT $2${3:+ ($3)}"
}

# step NAME FUNC ARGS...: runs FUNC in a subshell with errexit, its output in a log of its own.
# After a FAIL the client's later steps are skipped (they build on each other).
step() {
  local name=$1 log t0 rc
  shift
  if [ "$CLIENT_FAILED" = 1 ]; then report SKIP "$name" "an earlier step failed"; return 0; fi
  log=$CW/log/$name.log
  t0=$(date +%s%N)
  (
    set -eEuo pipefail
    trap 'echo "!! exit status $? from: $BASH_COMMAND (line $LINENO)"' ERR
    cd "$CW"
    [ -z "$SESSION_ENV" ] || "$SESSION_ENV"
    "$@"
  ) >"$log" 2>&1 </dev/null
  rc=$?
  finish_step "$name" "$rc" "$log" "$t0"
}

# finish_step NAME RC LOG T0: reports a step that has run, with the known-gaps rules.
finish_step() {
  local name=$1 rc=$2 log=$3 t0=$4 gap=${GAP[$CLIENT:$1]:-}
  if [ "$rc" = 0 ] && [ -z "$gap" ]; then
    report PASS "$name" "$(secs "$t0")"
  elif [ "$rc" = 0 ]; then
    report XPASS "$name" "$(secs "$t0"); listed as a known gap ($gap) but passed: take it off the list"
  elif [ -n "$gap" ]; then
    report XFAIL "$name" "$(secs "$t0"); known gap: $gap"
    tail -n 8 "$log" | indent
  else
    report FAIL "$name" "$(secs "$t0"); exit $rc; log $log"
    indent <"$log"
    CLIENT_FAILED=1
  fi
}

# ---- helpers for the steps (they run inside step's subshell) ----

# run CMD...: shows the command, then runs it (its output goes to the step's log).
run() {
  echo "+ $(printf '%q ' "$@")" >&2
  "$@"
}
# want WHAT EXPECTED ACTUAL
want() {
  if [ "$2" != "$3" ]; then
    printf '%s: expected\n%s\n---- but got\n%s\n----\n' "$1" "$2" "$3"
    return 1
  fi
  echo "ok: $1"
}
# same_file EXPECTED ACTUAL: byte for byte.
same_file() {
  cmp -- "$1" "$2" || { echo "$2 differs from $1"; return 1; }
  echo "ok: $2 = $1 ($(stat -c %s -- "$1") bytes, sha256 $(sha256sum <"$1" | cut -c1-16)...)"
}
# same_tree EXPECTED ACTUAL: same names, types, bytes and symlink targets.
same_tree() {
  diff -r --no-dereference -- "$1" "$2" || { echo "tree $2 differs from $1"; return 1; }
  want "file list of $2" "$(cd "$1" && find . | LC_ALL=C sort)" "$(cd "$2" && find . | LC_ALL=C sort)"
  echo "ok: tree $2 = $1 ($(find "$1" -type f | wc -l) files, $(du -sb "$1" | cut -f1) bytes)"
}
# listing DIR: "size path" of every file under DIR, sorted by bytes like an S3 listing.
listing() { (cd "$1" && find . -type f -printf '%s %P\n' | LC_ALL=C sort -k2); }
utilpy() { "$PY" "$HERE/util.py" "$@"; }

# external CMD...: runs a session program (boto3_session.py, sdk.mjs) that runs its own steps. It
# writes each step's log to $CW/log/STEP.log and prints "@step STEP RC START_NS" after each step and
# "@skip STEP" for steps it did not run; other lines of its stdout are shown as they are.
external() {
  local line tag name rc t0 exit_seen=""
  while IFS= read -r line; do
    read -r tag name rc t0 <<<"$line"
    case "$tag" in
    @step) finish_step "$name" "$rc" "$CW/log/$name.log" "$t0" ;;
    @skip) report SKIP "$name" "an earlier step failed" ;;
    @exit) exit_seen=$name ;;
    *) echo "$line" ;;
    esac
  done < <(cd "$CW" && "$@" 2>"$CW/log/stderr.log"; echo "@exit $?")
  if [ "$exit_seen" != 0 ] && [ "$CLIENT_FAILED" = 0 ]; then
    report FAIL session "exited with status $exit_seen; its stderr:"
    indent <"$CW/log/stderr.log"
    CLIENT_FAILED=1
  fi
}

# ---- the sessions ----
# shellcheck source=tests/s3_clients/sessions.sh
. "$HERE/sessions.sh"

# need CMD...: fails the client's first step when a program is missing.
need() {
  local missing="" p
  for p in "$@"; do
    case "$p" in
    boto3) "$PY" -c 'import boto3' 2>/dev/null || missing="$missing python3-boto3($PY)" ;;
    *) command -v "$p" >/dev/null 2>&1 || missing="$missing $p" ;;
    esac
  done
  [ -z "$missing" ] && return 0
  report FAIL tools "missing:$missing; scripts/install-deps.sh installs the clients"
  CLIENT_FAILED=1
  return 1
}

echo "s3_clients: target $S3_ENDPOINT (region $S3_REGION), clients: $CLIENTS; work dir $WORK"
[ ${#GAP[@]} -eq 0 ] || echo "s3_clients: known gaps of this target: ${!GAP[*]}"
t_all=$(date +%s%N)
for CLIENT in $CLIENTS; do
  CLIENT_FAILED=0 SESSION_ENV=""
  # Bucket names: 3-63 lower-case letters, digits and '-'; unique per run and client.
  BUCKET=$(printf 's3c-%s-%s-%04x' "$CLIENT" "$RUN_ID" $((RANDOM)) | tr -c 'a-z0-9-' '-')
  CW=$WORK/$CLIENT
  mkdir -p "$CW/log"
  t_client=$(date +%s%N)
  echo "== $CLIENT (bucket $BUCKET)"
  if need "${PY}" boto3 jq; then
    "session_$CLIENT"
  fi
  # Whatever the session left (all of it, when a step failed) goes, with the bucket.
  CLIENT_FAILED=0 SESSION_ENV=""
  step cleanup utilpy cleanup "$BUCKET"
  echo "== $CLIENT took $(secs "$t_client")"
done

total=$((COUNT[PASS] + COUNT[FAIL] + COUNT[SKIP] + COUNT[XFAIL] + COUNT[XPASS]))
echo "s3_clients: $total steps in $(secs "$t_all") against $S3_ENDPOINT"
if [ -n "$SERVER_PID" ]; then
  if ! alive "$SERVER_PID"; then
    CLIENT=server
    report FAIL exited "the server that --start started is gone; the end of its output:"
    tail -n 30 "$WORK/server.log" | indent
  fi
  stop_server
fi
bad=$((COUNT[FAIL] + COUNT[XPASS]))
if [ "$bad" -eq 0 ] && [ "${S3_KEEP_WORK:-0}" != 1 ]; then
  rm -rf "$WORK"
else
  echo "s3_clients: logs and data kept in $WORK"
fi
[ "${COUNT[XFAIL]}" -eq 0 ] || echo "s3_clients: ${COUNT[XFAIL]} steps failed as known gaps of this target (XFAIL)"
echo "s3_clients: ${COUNT[PASS]} passed, $bad failed, ${COUNT[SKIP]} skipped"
[ "$bad" -eq 0 ]
