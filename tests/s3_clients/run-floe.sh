#!/usr/bin/env bash
# The client sessions of run.sh against floe's own S3 API: starts `floe serve` (FLOE_BIN, the first
# argument) with the S3 listener on a free loopback port, a directory cold tier and small segments
# (so the sessions' objects are sealed, uploaded and read back through the tiers), and runs every
# session against it without known gaps: floe is held to what S3 does.
#
# usage: run-floe.sh FLOE_BIN [WORK_DIR]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FLOE_BIN=${1:?usage: run-floe.sh FLOE_BIN [WORK_DIR]}
WORK=${2:-$(mktemp -d /tmp/floe-s3-clients.XXXXXX)}
mkdir -p "$WORK"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
key=floeclients secret=floeclientsecret
cfg="$WORK/floe.json"
cat >"$cfg" <<JSON
{
  "data_dir": "$WORK/data",
  "http": { "listen": "127.0.0.1:0", "max_object_bytes": 1073741824,
            "max_body_bytes_in_flight": 1073741824 },
  "wal": { "sync": "always" },
  "segment": { "max_bytes": 8388608 },
  "object": { "chunk_bytes": 4194304 },
  "cold": { "backend": "fs", "fs": { "path": "$WORK/cold" } },
  "s3": { "listen": "127.0.0.1:$port",
          "credentials": [ { "access_key": "$key", "secret_key": "$secret", "access": "write" } ] }
}
JSON
export S3_ENDPOINT=http://127.0.0.1:$port S3_ACCESS_KEY=$key S3_SECRET_KEY=$secret
exec "$HERE/run.sh" --start "exec '$FLOE_BIN' serve -c '$cfg'" "$WORK/runs"
