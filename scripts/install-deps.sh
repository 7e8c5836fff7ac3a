#!/usr/bin/env bash
# Installs every Debian package floe's build, tests and benchmarks need.
# Idempotent: packages already installed are skipped without touching apt.
# Usage: scripts/install-deps.sh [--bench]   (--bench adds the peers the benchmarks compare against)
set -euo pipefail

PKGS="build-essential cmake pkg-config libcurl4-openssl-dev libssl-dev libjansson-dev check
libmicrohttpd-dev libzstd-dev libexpat1-dev curl ca-certificates iproute2 procps
ceph-mon ceph-osd radosgw ceph-common"
# Test-only: the S3 clients tests/s3_clients/run.sh drives (the JS SDK itself comes from npm at test time).
PKGS="$PKGS awscli python3-boto3 rclone restic s3cmd jq nodejs"
# npm comes with some builds of nodejs (NodeSource's) and is a package of its own in Debian's.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
if [ "${1:-}" = "--bench" ]; then
  PKGS="$PKGS rocksdb-tools nginx wrk gnuplot-nox fio"
fi

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "install-deps: all packages present" >&2
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $missing >&2
