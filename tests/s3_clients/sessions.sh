# The client sessions of tests/s3_clients/run.sh, which sources this file. Each session_CLIENT runs
# its steps in $BUCKET (which does not exist yet) with its data under $CW. A step function runs in a
# subshell under errexit from $CW, after the function SESSION_ENV names (the client's environment):
# any failing command fails the step.
# shellcheck shell=bash disable=SC2317,SC2030,SC2031,SC2034

MiB=$((1024 * 1024))
# slice FILE OFFSET LENGTH: those bytes of FILE, on stdout.
slice() { dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" bs=1M status=none; }

# ---------------------------------------------------------------------------------------------------
# AWS CLI v2 (Debian's /usr/bin/aws): the high-level s3 commands and the s3api ones.
aws_env() {
  export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
  export AWS_DEFAULT_REGION=$S3_REGION AWS_REGION=$S3_REGION
  export AWS_CONFIG_FILE=$CW/aws-config AWS_SHARED_CREDENTIALS_FILE=$CW/aws-credentials-none
  export AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
}
aws() { run /usr/bin/aws --endpoint-url "$S3_ENDPOINT" "$@"; }
# awsj JQ_FILTER ARGS...: the JSON an s3api command prints, through jq.
awsj() {
  local f=$1
  shift
  aws --output json "$@" >"$CW/last.json"
  cat "$CW/last.json"
  jq -c "$f" "$CW/last.json" >"$CW/last.out"
}
jqout() { cat "$CW/last.out"; }

awscli_setup() {
  cat >"$CW/aws-config" <<EOF
[default]
region = $S3_REGION
s3 =
  addressing_style = path
  multipart_threshold = 8MB
  multipart_chunksize = 8MB
EOF
  head -c $((40 * MiB)) /dev/urandom >big.bin
  utilpy mktree sync tree
  printf '{"doc": "with metadata", "n": 1}\n' >doc.json
  ls -la . tree
}
awscli_mb() {
  aws s3 mb "s3://$BUCKET" | tee out
  want "mb output" "make_bucket: $BUCKET" "$(cat out)"
  aws s3api head-bucket --bucket "$BUCKET"
}
awscli_cp_multipart_up() {
  aws s3 cp --no-progress big.bin "s3://$BUCKET/big/big.bin" | tee out
  want "cp output" "upload: ./big.bin to s3://$BUCKET/big/big.bin" "$(cat out)"
}
awscli_head_multipart() {
  awsj '[.ContentLength, .ETag]' s3api head-object --bucket "$BUCKET" --key big/big.bin
  # 40 MiB in 8 MiB parts: 5 parts, and the ETag is the md5 of the parts' md5s with "-5".
  want "ContentLength and ETag" "[$((40 * MiB)),\"\\\"$(utilpy mpetag big.bin $((8 * MiB)))\\\"\"]" "$(jqout)"
}
awscli_cp_down() {
  aws s3 cp --no-progress "s3://$BUCKET/big/big.bin" big.down
  same_file big.bin big.down
}
awscli_cp_s3_to_s3() {
  # Server-side: above multipart_threshold the CLI copies with UploadPartCopy, 8 MiB at a time.
  aws s3 cp --no-progress "s3://$BUCKET/big/big.bin" "s3://$BUCKET/big/copy.bin"
  awsj '[.ContentLength, (.ETag | test("^\"[0-9a-f]{32}-5\"$"))]' s3api head-object --bucket "$BUCKET" --key big/copy.bin
  want "ContentLength and a 5-part ETag of the copy" "[$((40 * MiB)),true]" "$(jqout)"
  aws s3 cp --no-progress "s3://$BUCKET/big/copy.bin" copy.down
  same_file big.bin copy.down
}
awscli_sync_up() {
  aws s3 sync --no-progress tree "s3://$BUCKET/tree" | LC_ALL=C sort >out
  cat out
  want "sync uploads" "$(cd tree && find . -type f -printf "upload: tree/%P to s3://$BUCKET/tree/%P\n" | LC_ALL=C sort)" "$(cat out)"
}
awscli_sync_again() {
  # Nothing changed: sizes match and every object is newer than its file.
  aws s3 sync --no-progress tree "s3://$BUCKET/tree" >out
  want "second sync's output" "" "$(cat out)"
}
awscli_sync_down() {
  aws s3 sync --no-progress "s3://$BUCKET/tree" tree.down >/dev/null
  same_tree tree tree.down
}
awscli_ls() {
  aws s3 ls "s3://$BUCKET/" >out
  cat out
  want "ls of the bucket" "PRE big/
PRE tree/" "$(sed 's/^ *//' out)"
  aws s3 ls "s3://$BUCKET/tree/" >out
  cat out
  # Top-level "directories" first only because of their names: S3 lists in byte order.
  want "ls of tree/" "PRE a/
PRE odd/
PRE with space/
0 empty
15 top.txt" "$(sed -E 's/^ +//; s/^[0-9-]+ [0-9:]+ +//' out)"
}
awscli_ls_recursive() {
  aws s3 ls --recursive "s3://$BUCKET/tree/" >out
  cat out
  want "ls --recursive (size key)" "$(listing tree | sed 's| | tree/|')" \
    "$(sed -E 's/^[0-9-]+ [0-9:]+ +//' out)"
}
awscli_list_v2_delimiter() {
  awsj '{p: [.CommonPrefixes[].Prefix], k: [.Contents[] | [.Key, .Size]], n: .KeyCount}' \
    s3api list-objects-v2 --bucket "$BUCKET" --prefix tree/ --delimiter / --no-paginate
  want "CommonPrefixes and Contents" \
    '{"p":["tree/a/","tree/odd/","tree/with space/"],"k":[["tree/empty",0],["tree/top.txt",15]],"n":5}' "$(jqout)"
  awsj '[.CommonPrefixes[].Prefix]' s3api list-objects-v2 --bucket "$BUCKET" --prefix tree/a/ --delimiter /
  want "CommonPrefixes under tree/a/" '["tree/a/b/"]' "$(jqout)"
}
awscli_list_v2_pages() {
  local all token="" keys="" n=0
  all=$(listing tree | sed 's|^[0-9]* |tree/|')
  # --page-size 2 makes each ListObjectsV2 request return 2 keys and a continuation token;
  # --max-items 3 makes the CLI stop after 3 keys and print a NextToken to resume from.
  while :; do
    n=$((n + 1))
    [ $n -le 10 ] || { echo "more than 10 calls"; return 1; }
    awsj '{k: [.Contents[]?.Key], t: .NextToken}' s3api list-objects-v2 --bucket "$BUCKET" --prefix tree/ \
      --page-size 2 --max-items 3 ${token:+--starting-token "$token"}
    keys+=$(jq -r '.k[]' "$CW/last.out")$'\n'
    token=$(jq -r '.t // empty' "$CW/last.out")
    [ -n "$token" ] || break
  done
  want "keys over $n calls" "$all" "${keys%$'\n'}"
  want "number of CLI calls for $(wc -l <<<"$all") keys, 3 at a time" $((($(wc -l <<<"$all") + 2) / 3)) $n
  # The same by hand: one request of 3 keys, then its continuation token.
  awsj '[.IsTruncated, .KeyCount, [.Contents[].Key], .NextContinuationToken]' s3api list-objects-v2 \
    --bucket "$BUCKET" --prefix tree/ --max-keys 3 --no-paginate
  want "first page" "[true,3,$(head -n 3 <<<"$all" | jq -R . | jq -sc .)]" "$(jq -c '.[0:3]' "$CW/last.out")"
  token=$(jq -r '.[3]' "$CW/last.out")
  awsj '[.IsTruncated, [.Contents[].Key]]' s3api list-objects-v2 --bucket "$BUCKET" --prefix tree/ \
    --max-keys 100 --continuation-token "$token" --no-paginate
  want "second page" "[false,$(tail -n +4 <<<"$all" | jq -R . | jq -sc .)]" "$(jqout)"
  # StartAfter
  awsj '[.Contents[].Key]' s3api list-objects-v2 --bucket "$BUCKET" --prefix tree/ \
    --start-after "$(sed -n 5p <<<"$all")" --no-paginate
  want "keys after the 5th" "$(tail -n +6 <<<"$all" | jq -R . | jq -sc .)" "$(jqout)"
}
awscli_get_range() {
  awsj '[.ContentLength, .ContentRange]' s3api get-object --bucket "$BUCKET" --key big/big.bin \
    --range bytes=100-199 range.out
  want "ContentLength and ContentRange" "[100,\"bytes 100-199/$((40 * MiB))\"]" "$(jqout)"
  slice big.bin 100 100 >range.want
  same_file range.want range.out
  # A range across the boundary of two parts (8 MiB), and a suffix range.
  awsj '.ContentLength' s3api get-object --bucket "$BUCKET" --key big/big.bin \
    --range "bytes=$((8 * MiB - 10))-$((8 * MiB + 9))" range2.out
  want "ContentLength" 20 "$(jqout)"
  slice big.bin $((8 * MiB - 10)) 20 >range2.want
  same_file range2.want range2.out
  awsj '[.ContentLength, .ContentRange]' s3api get-object --bucket "$BUCKET" --key big/big.bin \
    --range bytes=-7 range3.out
  want "suffix range" "[7,\"bytes $((40 * MiB - 7))-$((40 * MiB - 1))/$((40 * MiB))\"]" "$(jqout)"
  tail -c 7 big.bin >range3.want
  same_file range3.want range3.out
}
awscli_put_metadata() {
  awsj '.ETag' s3api put-object --bucket "$BUCKET" --key meta/doc.json --body doc.json \
    --metadata color=blue,owner=floe-test --content-type application/json
  want "ETag" "\"\\\"$(md5sum <doc.json | cut -c1-32)\\\"\"" "$(jqout)"
  awsj '[.ContentLength, .ContentType, .Metadata]' s3api head-object --bucket "$BUCKET" --key meta/doc.json
  want "head-object" "[$(stat -c %s doc.json),\"application/json\",{\"color\":\"blue\",\"owner\":\"floe-test\"}]" "$(jqout)"
}
awscli_copy_object() {
  awsj '.CopyObjectResult.ETag | ltrimstr("\"") | rtrimstr("\"")' s3api copy-object --bucket "$BUCKET" \
    --key meta/copy.json --copy-source "$BUCKET/meta/doc.json"
  cp "$CW/last.json" copy-result.json
  want "ETag of the copy (quotes or not: see copy-etag-quoted)" "\"$(md5sum <doc.json | cut -c1-32)\"" "$(jqout)"
  awsj '[.ContentType, .Metadata]' s3api head-object --bucket "$BUCKET" --key meta/copy.json
  want "the copy keeps content type and metadata" '["application/json",{"color":"blue","owner":"floe-test"}]' "$(jqout)"
  aws s3api get-object --bucket "$BUCKET" --key meta/copy.json copy.json >/dev/null
  same_file doc.json copy.json
  # REPLACE: new metadata and content type, same bytes.
  aws s3api copy-object --bucket "$BUCKET" --key meta/replaced.json --copy-source "$BUCKET/meta/doc.json" \
    --metadata-directive REPLACE --metadata color=red --content-type text/plain >/dev/null
  awsj '[.ContentType, .Metadata, .ContentLength]' s3api head-object --bucket "$BUCKET" --key meta/replaced.json
  want "the REPLACE copy" "[\"text/plain\",{\"color\":\"red\"},$(stat -c %s doc.json)]" "$(jqout)"
}
awscli_copy_etag_quoted() {
  # S3 quotes the ETag in CopyObjectResult as everywhere else; clients pass it on as it is.
  cat copy-result.json
  want "ETag in CopyObjectResult" "\"\\\"$(md5sum <doc.json | cut -c1-32)\\\"\"" "$(jq -c .CopyObjectResult.ETag copy-result.json)"
}
awscli_rm_recursive() {
  local n
  n=$(aws s3 ls --recursive "s3://$BUCKET/" | grep -c .)
  aws s3 rm --recursive "s3://$BUCKET/" | tee out
  want "objects deleted" "$n" "$(grep -c '^delete: ' out)"
  awsj ".KeyCount" s3api list-objects-v2 --bucket "$BUCKET" --no-paginate
  want "KeyCount after rm --recursive" 0 "$(jqout)"
}
awscli_rb() {
  aws s3 rb "s3://$BUCKET" | tee out
  want "rb output" "remove_bucket: $BUCKET" "$(cat out)"
  if aws s3api head-bucket --bucket "$BUCKET" 2>err; then echo "the bucket is still there"; return 1; fi
  cat err
  grep -q '(404)' err
}
session_awscli() {
  need /usr/bin/aws || return 0
  SESSION_ENV=aws_env
  echo "   $(/usr/bin/aws --version 2>&1)"
  step setup awscli_setup
  step mb awscli_mb
  step cp-multipart-up awscli_cp_multipart_up
  step head-multipart-etag awscli_head_multipart
  step cp-down awscli_cp_down
  step cp-s3-to-s3 awscli_cp_s3_to_s3
  step sync-up awscli_sync_up
  step sync-again-noop awscli_sync_again
  step sync-down awscli_sync_down
  step ls awscli_ls
  step ls-recursive awscli_ls_recursive
  step list-v2-delimiter awscli_list_v2_delimiter
  step list-v2-pages awscli_list_v2_pages
  step get-range awscli_get_range
  step put-metadata awscli_put_metadata
  step copy-object awscli_copy_object
  step copy-etag-quoted awscli_copy_etag_quoted
  step rm-recursive awscli_rm_recursive
  step rb awscli_rb
}

# ---------------------------------------------------------------------------------------------------
# boto3 (Debian's python3-boto3): tests/s3_clients/boto3_session.py runs its own steps.
session_boto3() {
  external env S3_BUCKET="$BUCKET" S3_LOG_DIR="$CW/log" S3_WORK="$CW" "$PY" "$HERE/boto3_session.py"
}

# ---------------------------------------------------------------------------------------------------
# rclone: a remote "t" configured through the environment only.
rclone_env() {
  unset AWS_CA_BUNDLE # with it set, rclone refuses a plain-http endpoint
  export RCLONE_CONFIG=$CW/rclone.conf # empty: everything comes from these variables
  export RCLONE_CONFIG_T_TYPE=s3 RCLONE_CONFIG_T_PROVIDER=Other RCLONE_CONFIG_T_ENV_AUTH=false
  export RCLONE_CONFIG_T_ENDPOINT=$S3_ENDPOINT RCLONE_CONFIG_T_REGION=$S3_REGION
  export RCLONE_CONFIG_T_ACCESS_KEY_ID=$S3_ACCESS_KEY RCLONE_CONFIG_T_SECRET_ACCESS_KEY=$S3_SECRET_KEY
  export RCLONE_CONFIG_T_FORCE_PATH_STYLE=true
  # Files over 5 MiB go up in 5 MiB parts.
  export RCLONE_CONFIG_T_UPLOAD_CUTOFF=5M RCLONE_CONFIG_T_CHUNK_SIZE=5M
}
rc() { run rclone --retries 1 --low-level-retries 1 "$@"; }
# rlisting REMOTE_PATH: "size path" of every object, sorted like listing.
rlisting() { rclone --retries 1 lsf -R --files-only --format sp --separator ' ' "$1" | LC_ALL=C sort -k2; }

rclone_setup() {
  : >"$CW/rclone.conf"
  utilpy mktree rclone src
  listing src
}
rclone_mkdir() {
  rc mkdir "t:$BUCKET"
  rc lsd t: | tee out
  grep -q " $BUCKET\$" out
}
rclone_copy_up() {
  rc copy src "t:$BUCKET/tree"
  want "objects after copy" "$(listing src)" "$(rlisting "t:$BUCKET/tree")"
}
rclone_multipart_etag() {
  # The 12 MiB file went up in 5 MiB parts; rclone keeps its md5 in x-amz-meta-md5chksum.
  rc lsjson --hash --stat "t:$BUCKET/tree/big/twelve.bin" | tee out.json
  want "md5 rclone reports" "$(md5sum <src/big/twelve.bin | cut -c1-32)" "$(jq -r '.Hashes.md5' out.json)"
  want "ETag (through boto3)" "\"$(utilpy mpetag src/big/twelve.bin $((5 * MiB)))\"" \
    "$(utilpy etag "$BUCKET" tree/big/twelve.bin)"
}
rclone_sync_changes() {
  # A file modified (other size), one modified in place (same size, new mtime), one deleted, one new.
  printf 'modified top\n' >src/top.txt
  printf 'DEEP\n' | dd of=src/a/b/c/deep.txt conv=notrunc status=none
  touch -d '+1 minute' src/a/b/c/deep.txt
  rm src/a/one.bin
  printf 'new file\n' >'src/a/new file.txt'
  rc sync src "t:$BUCKET/tree" -v 2>&1 | tee out
  want "objects after sync" "$(listing src)" "$(rlisting "t:$BUCKET/tree")"
  grep -q 'one.bin: Deleted' out
  rc cat "t:$BUCKET/tree/a/b/c/deep.txt" >deep.got
  same_file src/a/b/c/deep.txt deep.got
}
rclone_check() {
  rc check src "t:$BUCKET/tree"
  rc check --download src "t:$BUCKET/tree"
}
rclone_copy_down() {
  rc copy "t:$BUCKET/tree" down
  same_tree src down
}
rclone_purge() {
  rc purge "t:$BUCKET"
  rc lsd t: | tee out
  if grep -q " $BUCKET\$" out; then echo "the bucket is still listed"; return 1; fi
}
session_rclone() {
  need rclone || return 0
  echo "   $(rclone version 2>&1 | head -n 1)"
  SESSION_ENV=rclone_env
  step setup rclone_setup
  step mkdir rclone_mkdir
  step copy-up rclone_copy_up
  step multipart-md5 rclone_multipart_etag
  step sync-changes rclone_sync_changes
  step check rclone_check
  step copy-down rclone_copy_down
  step purge rclone_purge
}

# ---------------------------------------------------------------------------------------------------
# s3cmd, with a config file of its own.
s3cmd_env() { unset AWS_CA_BUNDLE; }
s3c() { run s3cmd -c "$CW/s3cmd.cfg" "$@"; }
s3cmd_setup() {
  cat >"$CW/s3cmd.cfg" <<EOF
[default]
access_key = $S3_ACCESS_KEY
secret_key = $S3_SECRET_KEY
host_base = $S3_HOSTPORT
host_bucket = $S3_HOSTPORT
bucket_location = $S3_REGION
use_https = False
signature_v2 = False
progress_meter = False
max_retries = 1
EOF
  head -c $((12 * MiB)) /dev/urandom >twelve.bin
  printf 'small s3cmd object\n' >small.txt
  printf 'unicode name\n' >'ünï cødé.txt'
}
s3cmd_mb() {
  s3c mb "s3://$BUCKET" | tee out
  want "mb output" "Bucket 's3://$BUCKET/' created" "$(cat out)"
}
s3cmd_put() {
  s3c put small.txt 'ünï cødé.txt' "s3://$BUCKET/dir/"
  s3c put --multipart-chunk-size-mb=5 twelve.bin "s3://$BUCKET/dir/twelve.bin"
  s3c info "s3://$BUCKET/dir/twelve.bin" | tee out
  # s3cmd keeps the whole file's md5 in its attributes (and shows no ETag): it went up in 3 parts.
  grep -Eq "MD5 sum: +$(md5sum <twelve.bin | cut -c1-32)\$" out
  want "ETag (through boto3)" "\"$(utilpy mpetag twelve.bin $((5 * MiB)))\"" "$(utilpy etag "$BUCKET" dir/twelve.bin)"
}
s3cmd_ls() {
  s3c ls "s3://$BUCKET/dir/" >out
  cat out
  want "ls (size name)" "$(printf '%s s3://%s/dir/%s\n' "$(stat -c %s twelve.bin)" "$BUCKET" twelve.bin \
    "$(stat -c %s small.txt)" "$BUCKET" small.txt 13 "$BUCKET" 'ünï cødé.txt' | LC_ALL=C sort -k2)" \
    "$(awk '{ $1 = $2 = ""; sub(/^  /, ""); print }' out | LC_ALL=C sort -k2)"
  s3c ls "s3://$BUCKET/" | tee out
  want "ls of the bucket" "DIR s3://$BUCKET/dir/" "$(sed -E 's/^ *//; s/ +/ /g' out)"
}
s3cmd_get() {
  mkdir down
  s3c get "s3://$BUCKET/dir/twelve.bin" "s3://$BUCKET/dir/small.txt" "s3://$BUCKET/dir/ünï cødé.txt" down/
  same_file twelve.bin down/twelve.bin
  same_file small.txt down/small.txt
  same_file 'ünï cødé.txt' 'down/ünï cødé.txt'
}
s3cmd_del() {
  s3c del "s3://$BUCKET/dir/twelve.bin" "s3://$BUCKET/dir/small.txt" "s3://$BUCKET/dir/ünï cødé.txt"
  s3c ls -r "s3://$BUCKET/" >out
  want "ls after del" "" "$(cat out)"
}
s3cmd_rb() {
  s3c rb "s3://$BUCKET" | tee out
  want "rb output" "Bucket 's3://$BUCKET/' removed" "$(cat out)"
}
session_s3cmd() {
  need s3cmd || return 0
  echo "   s3cmd $(s3cmd --version 2>&1 | awk '{ print $NF }')"
  SESSION_ENV=s3cmd_env
  step setup s3cmd_setup
  step mb s3cmd_mb
  step put s3cmd_put
  step ls s3cmd_ls
  step get s3cmd_get
  step del s3cmd_del
  step rb s3cmd_rb
}

# ---------------------------------------------------------------------------------------------------
# restic: a repository in the bucket (restic init creates the bucket), a backup of a tree of many
# small files, a full check that reads every pack back, a restore compared byte for byte; then a
# second backup after changes, forget --prune (which deletes and rewrites packs) and a restore of it.
restic_env() {
  export RESTIC_REPOSITORY=s3:$S3_ENDPOINT/$BUCKET RESTIC_PASSWORD=floe-s3-clients-test
  export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_DEFAULT_REGION=$S3_REGION
  export RESTIC_CACHE_DIR=$CW/cache
  unset AWS_SESSION_TOKEN AWS_PROFILE
}
rs() { run restic -o s3.region="$S3_REGION" "$@"; }
restic_setup() {
  utilpy mktree restic src
  echo "$(find src -type f | wc -l) files, $(du -sb src | cut -f1) bytes"
}
restic_init() {
  rs init
  utilpy etag "$BUCKET" config # restic wrote its config object
}
restic_backup() {
  # From inside the tree, so the snapshot holds its contents at the top.
  (cd src && rs backup --host floe-test --tag first .)
  rs snapshots --json | tee snaps.json
  want "snapshots" 1 "$(jq length snaps.json)"
}
restic_check() {
  rs check --read-data
}
restic_restore() {
  rs restore latest --target restored
  same_tree src restored
}
restic_backup_again() {
  printf 'changed\n' >src/top.txt
  rm -r src/many/d00
  utilpy mktree sync src/added
  (cd src && rs backup --host floe-test --tag second .)
  rs snapshots --json | tee snaps.json
  want "snapshots" 2 "$(jq length snaps.json)"
}
restic_forget_prune() {
  rs forget --keep-last 1 --prune --max-unused 0
  rs snapshots --json | tee snaps.json
  want "snapshots left" '["second"]' "$(jq -c '[.[].tags[]]' snaps.json)"
  rs check --read-data
}
restic_restore_again() {
  rs restore latest --target restored2
  same_tree src restored2
}
session_restic() {
  need restic || return 0
  echo "   $(restic version 2>&1)"
  SESSION_ENV=restic_env
  step setup restic_setup
  step init restic_init
  step backup restic_backup
  step check-read-data restic_check
  step restore restic_restore
  step backup-again restic_backup_again
  step forget-prune restic_forget_prune
  step restore-again restic_restore_again
}

# ---------------------------------------------------------------------------------------------------
# AWS SDK for JavaScript v3: npm installs tests/s3_clients/package.json's packages into $NODE_DIR
# (outside the source tree, no lock file), then tests/s3_clients/sdk.mjs runs its own steps.
js_npm_install() {
  mkdir -p "$NODE_DIR"
  exec 9>"$NODE_DIR/.lock"
  flock 9 # runs sharing NODE_DIR install one at a time
  if cmp -s "$HERE/package.json" "$NODE_DIR/package.json" && [ -f "$NODE_DIR/.installed" ]; then
    echo "already installed in $NODE_DIR"
    return 0
  fi
  rm -f "$NODE_DIR/.installed"
  cp "$HERE/package.json" "$NODE_DIR/package.json"
  (cd "$NODE_DIR" && run npm install --no-audit --no-fund --no-package-lock --omit=dev --fetch-retries=1) || return 1
  touch "$NODE_DIR/.installed"
}
session_js() {
  need /usr/bin/node npm flock || return 0
  if [ "${S3_SKIP_JS_IF_NO_NPM:-0}" = 1 ] && ! (set -e; cd "$CW"; js_npm_install) >"$CW/log/npm-install.log" 2>&1; then
    report SKIP npm-install "npm could not install the SDK (S3_SKIP_JS_IF_NO_NPM=1); log $CW/log/npm-install.log"
    return 0
  fi
  step npm-install js_npm_install
  [ "$CLIENT_FAILED" = 0 ] || return 0
  external env S3_BUCKET="$BUCKET" S3_LOG_DIR="$CW/log" S3_WORK="$CW" S3_NODE_MODULES="$NODE_DIR/node_modules" \
    /usr/bin/node "$HERE/sdk.mjs"
}
