#!/usr/bin/env bash
# Checks config/floe.service with `systemd-analyze verify`: the unit must load without an error or a
# warning about it (systemd only warns, and exits 0, on a setting it cannot parse). verify also needs
# ExecStart's binary to exist, so a copy of the unit runs the floe binary of this build instead.
#
# usage: systemd_unit_test.sh SOURCE_DIR FLOE_BINARY
# Exits 77 (ctest: skipped) when systemd-analyze is not installed.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SOURCE_DIR FLOE_BINARY" >&2; exit 2; }
src=$1 floe=$2

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd_unit_test: SKIPPED: systemd-analyze is not installed (apt-get install systemd)"
  exit 77
fi
[ -x "$floe" ] || { echo "systemd_unit_test: FAILED: $floe is not an executable" >&2; exit 1; }

tmp=$(mktemp -d /tmp/floe-unit-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
unit=$tmp/floe.service
grep -q '^ExecStart=/usr/local/bin/floe serve -c /etc/floe/floe.json$' "$src/config/floe.service" || {
  echo "systemd_unit_test: FAILED: config/floe.service does not run /usr/local/bin/floe serve -c /etc/floe/floe.json" >&2
  exit 1
}
sed "s|^ExecStart=/usr/local/bin/floe |ExecStart=$floe |" "$src/config/floe.service" >"$unit"

rc=0
out=$(systemd-analyze verify "$unit" 2>&1) || rc=$?
if [ "$rc" -ne 0 ] || grep -q 'floe\.service' <<<"$out"; then
  echo "systemd_unit_test: FAILED: systemd-analyze verify (exit $rc):" >&2
  echo "$out" >&2
  exit 1
fi
[ -z "$out" ] || echo "$out"
echo "systemd_unit_test: ok"
