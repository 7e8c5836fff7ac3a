#!/usr/bin/env bash
# s3-test-server.sh start DIR PORT | stop DIR
#
# A throwaway S3 endpoint for floe's integration tests: a one-node Ceph cluster (one ceph-mon, one
# memstore ceph-osd, one radosgw) bound to 127.0.0.1 only. radosgw checks SigV4 signatures and
# payload hashes like AWS does, so signing bugs fail here instead of in production.
#
# start DIR PORT
#   Makes DIR (it must not exist, be empty, or be left over from an earlier stopped run of this
#   script), starts the daemons and prints "RGW_READY http://127.0.0.1:PORT" on stdout once a signed
#   request succeeds. Progress and errors go to stderr; daemon logs to DIR/log. The mon uses PORT+1.
#   S3 user: access key floeacc, secret floesecret123; any region; path-style URLs, or
#   virtual-hosted ones through http://localhost:PORT (curl resolves <bucket>.localhost itself).
#   No bucket exists: tests create their own. The pid of every daemon started is appended to DIR/pids.
# stop DIR
#   Signals only the pids in DIR/pids, and each only while its command line still names
#   DIR/ceph.conf (a recycled pid is never hit): SIGTERM, then SIGKILL after 2 s. Then removes DIR.
#
# Environment: FLOE_S3_STORE_BYTES (OSD capacity, default 2 GiB; memstore holds objects in RAM at
# about 2.3x their size), FLOE_S3_READY_TIMEOUT_S (default 120), FLOE_S3_SKIP_APT=1 (never install).
set -euo pipefail

IP=127.0.0.1
ACCESS_KEY=floeacc
SECRET_KEY=floesecret123
PKGS="ceph-mon ceph-osd radosgw ceph-common curl iproute2"

say() { echo "s3-test-server: $*" >&2; }
fail() { say "error: $*"; exit 1; }
usage() { fail "usage: $0 start DIR PORT | stop DIR"; }

# is_ours PID CONF: PID is alive and was started with CONF on its command line.
is_ours() { [[ "$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" == *"$2 "* ]]; }
port_in_use() { (exec 3<>"/dev/tcp/$IP/$1") 2>/dev/null; }
# listening PID PORT: PID owns the listening socket on 127.0.0.1:PORT.
listening() { ss -Hltnp "sport = :$2" 2>/dev/null | grep -q "pid=$1,"; }

# stop_pids DIR: stops the daemons DIR/pids names, newest first.
stop_pids() {
  local dir=$1 conf=$1/ceph.conf pids=() pid i end
  [ -f "$dir/pids" ] || return 0
  while read -r pid; do
    case "$pid" in '' | *[!0-9]*) continue ;; esac
    pids+=("$pid")
  done <"$dir/pids"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid=${pids[$i]}
    is_ours "$pid" "$conf" || continue
    kill -TERM "$pid" 2>/dev/null || true
    end=$(($(date +%s%N) + 2000000000))
    while is_ours "$pid" "$conf"; do
      if [ "$(date +%s%N)" -ge "$end" ]; then
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 50); do is_ours "$pid" "$conf" || break; sleep 0.1; done
        break
      fi
      sleep 0.05
    done
  done
}

cmd_stop() {
  local dir
  dir=$(realpath -m "$1")
  [ -d "$dir" ] || { say "$dir does not exist; nothing to stop"; return 0; }
  [ -f "$dir/.floe-s3-test-server" ] || fail "$dir was not made by this script; refusing to touch it"
  stop_pids "$dir"
  rm -rf "$dir"
  say "stopped the daemons of $dir and removed it"
}

cmd_start() {
  local dir=$1 port=$2 mon_port conf store_bytes fsid osd_uuid osd_id rgw_pid code deadline
  case "$port" in '' | *[!0-9]*) fail "PORT must be a number, got '$port'" ;; esac
  mon_port=$((port + 1))
  [ "$port" -ge 1 ] && [ "$mon_port" -le 65535 ] || fail "PORT $port is out of range"
  store_bytes=${FLOE_S3_STORE_BYTES:-2147483648}
  case "$store_bytes" in '' | *[!0-9]*) fail "FLOE_S3_STORE_BYTES must be a number" ;; esac

  local missing="" p
  for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    [ "${FLOE_S3_SKIP_APT:-0}" = 1 ] && fail "missing packages:$missing (FLOE_S3_SKIP_APT=1)"
    say "installing:$missing"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update >&2
    # shellcheck disable=SC2086
    $sudo apt-get install -y --no-install-recommends $missing >&2
  fi

  # Another cluster on these ports would silently answer our requests.
  for p in "$port" "$mon_port"; do
    port_in_use "$p" && fail "127.0.0.1:$p is already in use; pick another PORT"
  done

  dir=$(realpath -m "$dir")
  conf=$dir/ceph.conf
  case "$dir" in / | /tmp | /root | /home | /usr | /etc | /var | /work) fail "refusing DIR=$dir" ;; esac
  if [ -e "$dir" ]; then
    if [ ! -f "$dir/.floe-s3-test-server" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
      fail "$dir exists, is not empty and was not made by this script"
    fi
    if [ -f "$dir/pids" ]; then
      while read -r p; do
        case "$p" in '' | *[!0-9]*) continue ;; esac
        is_ours "$p" "$conf" && fail "daemons from $dir still run (pid $p); run: $0 stop $dir"
      done <"$dir/pids"
    fi
    rm -rf "$dir"
  fi
  mkdir -p "$dir"/{mon,osd/ceph-0,run,log,tmp,rgw}
  touch "$dir/.floe-s3-test-server"
  : >"$dir/pids"
  export CEPH_CONF=$conf
  fsid=$(cat /proc/sys/kernel/random/uuid)

  cat >"$conf" <<EOF
# Written by floe's scripts/s3-test-server.sh: a throwaway test cluster on loopback.
[global]
fsid = $fsid
mon host = v2:$IP:$mon_port
mon initial members = a
public addr = $IP
cluster addr = $IP
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
# radosgw asks for a "secure" mon connection by default, which auth none cannot give.
ms mon client mode = crc
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
crash dir = $dir/tmp
tmp dir = $dir/tmp
log to stderr = false
err to stderr = false
mon cluster log file = $dir/log/cluster.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0

[mon]
mon data = $dir/mon/\$cluster-\$id
# Commit each map change (rgw creates several pools) at once instead of once a second.
paxos propose interval = 0.05
paxos min wait = 0.01

[osd]
osd data = $dir/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = $store_bytes
osd op num shards = 2
osd op num threads per shard = 2

[client.rgw.floe]
# tcp_nodelay: without it Nagle's algorithm holds the tail of most answers on a kept-alive connection
# until the client's delayed ACK, ~40 ms per request (a ranged GET took 44 ms instead of 1 ms).
rgw frontends = beast endpoint=$IP:$port tcp_nodelay=1
rgw data = $dir/rgw
rgw thread pool size = 64
rgw enable usage log = false
# Virtual-hosted requests (Host: <bucket>.localhost:PORT) name their bucket in the host.
rgw dns name = localhost
# Fail a request with 408 rather than hang when the OSD is full or gone.
rados osd op timeout = 30
rados mon op timeout = 30
EOF

  local started=()
  # On a failed start, stop whatever this run started and show the logs.
  # shellcheck disable=SC2317
  cleanup_on_fail() {
    local rc=$?
    [ $rc -eq 0 ] && return
    say "start failed (exit $rc); stopping what it started"
    stop_pids "$dir"
    local f
    for f in "$dir"/log/*; do
      [ -s "$f" ] && { echo "---- last lines of $f" >&2; tail -n 15 "$f" >&2; }
    done
  }
  trap cleanup_on_fail EXIT

  # launch NAME CMD...: runs CMD detached in its own session, in the foreground mode of ceph daemons.
  launch() {
    local name=$1
    shift
    setsid "$@" </dev/null >"$dir/log/$name.out" 2>&1 &
    started+=("$!")
    echo "$!" >>"$dir/pids"
    say "started $name (pid $!)"
  }

  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:$IP:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" \
    >"$dir/log/mon-mkfs.out" 2>&1 || fail "ceph-mon --mkfs failed (see $dir/log/mon-mkfs.out)"
  launch mon ceph-mon -c "$conf" -i a -f
  for _ in $(seq 200); do
    listening "${started[0]}" "$mon_port" && break
    is_ours "${started[0]}" "$conf" || break
    sleep 0.05
  done
  listening "${started[0]}" "$mon_port" || fail "ceph-mon is not listening on $IP:$mon_port"

  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  osd_id=$(timeout 60 ceph -c "$conf" --connect-timeout 30 osd new "$osd_uuid" 2>"$dir/log/osd-new.err") ||
    fail "'ceph osd new' failed: $(cat "$dir/log/osd-new.err")"
  [ "$osd_id" = 0 ] || fail "expected osd id 0, got '$osd_id'"
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$dir/log/osd-mkfs.out" 2>&1 ||
    fail "ceph-osd --mkfs failed (see $dir/log/osd-mkfs.out)"
  launch osd ceph-osd -c "$conf" -i 0 -f

  # Creating the user also creates rgw's zone and pools; it waits for the OSD to come up.
  timeout 120 radosgw-admin -c "$conf" user create --uid=floe --display-name=floe \
    --access-key="$ACCESS_KEY" --secret="$SECRET_KEY" >"$dir/log/user-create.out" 2>&1 ||
    fail "radosgw-admin user create failed: $(tail -n 5 "$dir/log/user-create.out")"

  launch rgw radosgw -c "$conf" -n client.rgw.floe -f
  rgw_pid=${started[2]}

  deadline=$(($(date +%s) + ${FLOE_S3_READY_TIMEOUT_S:-120}))
  while :; do
    # A signed ListBuckets. curl signs the body hash but does not send the header; send it so
    # radosgw computes the same canonical request.
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
      --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
      -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "http://$IP:$port/" 2>/dev/null || true)
    if [ "$code" = 200 ]; then
      listening "$rgw_pid" "$port" && break
      fail "something other than our radosgw (pid $rgw_pid) answers on $IP:$port"
    fi
    for p in "${started[@]}"; do
      is_ours "$p" "$conf" || fail "daemon pid $p exited (see $dir/log)"
    done
    [ "$(date +%s)" -lt "$deadline" ] || fail "radosgw not ready in time (last HTTP status '$code')"
    sleep 0.1
  done
  trap - EXIT
  say "ready; pids $(tr '\n' ' ' <"$dir/pids")"
  echo "RGW_READY http://$IP:$port"
}

case "${1:-}" in
start)
  [ $# -eq 3 ] || usage
  cmd_start "$2" "$3"
  ;;
stop)
  [ $# -eq 2 ] || usage
  cmd_stop "$2"
  ;;
*) usage ;;
esac
