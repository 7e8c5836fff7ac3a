#!/usr/bin/python3
"""The boto3 session of tests/s3_clients/run.sh (Debian's /usr/bin/python3 with python3-boto3).

Environment: S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION, S3_BUCKET (does not exist yet),
S3_LOG_DIR (one log per step), S3_GAPS (known gaps, "client:step" separated by spaces).
Prints "@step NAME RC START_NS" after each step and "@skip NAME" for steps not run (run.sh reads
them); after a step fails that is not a known gap, the later steps are skipped.
"""
import concurrent.futures
import datetime
import hashlib
import io
import os
import sys
import time
import traceback
import urllib.error
import urllib.request

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3_ENDPOINT"]
REGION = os.environ.get("S3_REGION") or "us-east-1"
BUCKET = os.environ["S3_BUCKET"]
LOG_DIR = os.environ["S3_LOG_DIR"]
GAPS = set(os.environ.get("S3_GAPS", "").split())
MiB = 1024 * 1024

log_file = None


def say(*args):
    print(*args, file=log_file, flush=True)


def make_client(secret=None, access=None, **cfg):
    # No retries: an error a retry would hide fails the step.
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id=access or os.environ["S3_ACCESS_KEY"],
        aws_secret_access_key=secret or os.environ["S3_SECRET_KEY"],
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      retries={"max_attempts": 1, "mode": "standard"}, **cfg),
    )


s3 = make_client()


def want(what, expected, got):
    if expected != got:
        raise AssertionError(f"{what}: expected {expected!r}, got {got!r}")
    say(f"ok: {what} = {got!r}"[:300])


def want_error(what, code, status, fn, **kw):
    """fn(**kw) must fail with S3 error CODE and HTTP STATUS."""
    try:
        r = fn(**kw)
    except ClientError as e:
        err = e.response.get("Error", {})
        got = (err.get("Code"), e.response["ResponseMetadata"]["HTTPStatusCode"])
        say(f"{what}: {e}")
        want(what, (code, status), got)
        return e
    raise AssertionError(f"{what}: expected {code} ({status}), but the call succeeded: {r}")


def md5(b):
    return hashlib.md5(b).hexdigest()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def body(n, seed):
    """n deterministic, incompressible-looking bytes."""
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:n])


state = {}


def create_bucket():
    kw = {}
    if REGION != "us-east-1":
        kw["CreateBucketConfiguration"] = {"LocationConstraint": REGION}
    r = s3.create_bucket(Bucket=BUCKET, **kw)
    want("CreateBucket status", 200, r["ResponseMetadata"]["HTTPStatusCode"])
    s3.head_bucket(Bucket=BUCKET)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    want("bucket in ListBuckets", True, BUCKET in names)


def put_get_head():
    data = body(300_000, "obj")
    r = s3.put_object(Bucket=BUCKET, Key="docs/report 2026.bin", Body=data, ContentType="application/x-floe-test",
                      Metadata={"owner": "floe", "purpose": "client-test"}, CacheControl="max-age=60",
                      ContentDisposition='attachment; filename="report.bin"')
    want("PutObject ETag", f'"{md5(data)}"', r["ETag"])
    h = s3.head_object(Bucket=BUCKET, Key="docs/report 2026.bin")
    want("HEAD ContentLength", len(data), h["ContentLength"])
    want("HEAD ETag", f'"{md5(data)}"', h["ETag"])
    want("HEAD ContentType", "application/x-floe-test", h["ContentType"])
    want("HEAD Metadata", {"owner": "floe", "purpose": "client-test"}, h["Metadata"])
    want("HEAD CacheControl", "max-age=60", h.get("CacheControl"))
    want("HEAD ContentDisposition", 'attachment; filename="report.bin"', h.get("ContentDisposition"))
    g = s3.get_object(Bucket=BUCKET, Key="docs/report 2026.bin")
    got = g["Body"].read()
    want("GET bytes (sha256)", sha(data), sha(got))
    want("GET Metadata", {"owner": "floe", "purpose": "client-test"}, g["Metadata"])
    want("GET ContentType", "application/x-floe-test", g["ContentType"])
    now = datetime.datetime.now(datetime.timezone.utc)
    lm = h["LastModified"]
    want("LastModified within 5 min of now", True, abs((now - lm).total_seconds()) < 300)
    # Overwrite: the new bytes win.
    s3.put_object(Bucket=BUCKET, Key="docs/small.txt", Body=b"first")
    s3.put_object(Bucket=BUCKET, Key="docs/small.txt", Body=b"second version")
    want("GET after overwrite", b"second version", s3.get_object(Bucket=BUCKET, Key="docs/small.txt")["Body"].read())
    # upload_fileobj / download_fileobj (s3transfer, single part at this size).
    s3.upload_fileobj(io.BytesIO(data[:1000]), BUCKET, "docs/fileobj")
    buf = io.BytesIO()
    s3.download_fileobj(BUCKET, "docs/fileobj", buf)
    want("download_fileobj bytes", data[:1000], buf.getvalue())
    state["etag"] = h["ETag"]
    state["lm"] = lm
    state["data"] = data


def conditional_get():
    key, etag, data = "docs/report 2026.bin", state["etag"], state["data"]
    want_error("If-None-Match: the current ETag", "304", 304, s3.get_object, Bucket=BUCKET, Key=key, IfNoneMatch=etag)
    want_error("If-Match: a wrong ETag", "PreconditionFailed", 412, s3.get_object, Bucket=BUCKET, Key=key,
               IfMatch='"0123456789abcdef0123456789abcdef"')
    g = s3.get_object(Bucket=BUCKET, Key=key, IfMatch=etag)
    want("If-Match: the current ETag gives the bytes", sha(data), sha(g["Body"].read()))
    g = s3.get_object(Bucket=BUCKET, Key=key, IfNoneMatch='"0123456789abcdef0123456789abcdef"')
    want("If-None-Match: another ETag gives the bytes", sha(data), sha(g["Body"].read()))
    # A date after LastModified but not in the future (a future one may be ignored as invalid).
    later = state["lm"] + datetime.timedelta(seconds=1)
    while datetime.datetime.now(datetime.timezone.utc) < later + datetime.timedelta(milliseconds=100):
        time.sleep(0.1)
    earlier = state["lm"] - datetime.timedelta(hours=1)
    want_error("If-Modified-Since: a second after LastModified", "304", 304, s3.get_object, Bucket=BUCKET, Key=key,
               IfModifiedSince=later)
    g = s3.get_object(Bucket=BUCKET, Key=key, IfModifiedSince=earlier)
    want("If-Modified-Since: an hour before gives the bytes", sha(data), sha(g["Body"].read()))
    want_error("If-Unmodified-Since: an hour earlier", "PreconditionFailed", 412, s3.get_object, Bucket=BUCKET,
               Key=key, IfUnmodifiedSince=earlier)
    want_error("HEAD If-Match: a wrong ETag", "412", 412, s3.head_object, Bucket=BUCKET, Key=key,
               IfMatch='"0123456789abcdef0123456789abcdef"')


def ranged_get():
    key, data = "docs/report 2026.bin", state["data"]
    for rng, lo, hi in (("bytes=0-0", 0, 0), ("bytes=100-199", 100, 199), ("bytes=299990-", 299990, 299999),
                        ("bytes=-10", 299990, 299999), ("bytes=299000-999999", 299000, 299999)):
        g = s3.get_object(Bucket=BUCKET, Key=key, Range=rng)
        want(f"{rng} status", 206, g["ResponseMetadata"]["HTTPStatusCode"])
        want(f"{rng} ContentRange", f"bytes {lo}-{hi}/{len(data)}", g["ContentRange"])
        want(f"{rng} bytes", data[lo:hi + 1], g["Body"].read())
    want_error("a range past the end", "InvalidRange", 416, s3.get_object, Bucket=BUCKET, Key=key,
               Range="bytes=300000-300010")


N_KEYS = 1100


def many_keys():
    # 1100 tiny objects, 16 at a time: more than one 1000-key page.
    keys = [f"many/{i % 7}/k{i:05}" for i in range(N_KEYS)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=BUCKET, Key=k, Body=k.encode()), keys))
    state["keys"] = sorted(keys)
    want("a sample of the bytes", b"many/3/k00010", s3.get_object(Bucket=BUCKET, Key="many/3/k00010")["Body"].read())


def list_v2_paginate():
    keys = state["keys"]
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="many/"))
    got = [o["Key"] for p in pages for o in p.get("Contents", [])]
    want("pages of the default 1000 keys", [1000, 100], [p["KeyCount"] for p in pages])
    want("keys in order", keys, got)
    want("IsTruncated of each page", [True, False], [p["IsTruncated"] for p in pages])
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="many/",
                                                              PaginationConfig={"PageSize": 250}))
    want("pages of 250", [250, 250, 250, 250, 100], [p["KeyCount"] for p in pages])
    want("keys in order, 250 a page", keys, [o["Key"] for p in pages for o in p["Contents"]])
    want("a continuation token on every page but the last", [True] * 4 + [False],
         ["NextContinuationToken" in p for p in pages])
    # Delimiter over the paginator: CommonPrefixes once each.
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="many/", Delimiter="/",
                                                              PaginationConfig={"PageSize": 3}))
    want("CommonPrefixes over pages of 3", [f"many/{i}/" for i in range(7)],
         [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])])
    # StartAfter, and sizes/ETags in the entries.
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="many/", StartAfter=keys[1096])
    want("StartAfter", keys[1097:], [o["Key"] for o in r["Contents"]])
    want("Size and ETag of an entry", (len(keys[1097]), f'"{md5(keys[1097].encode())}"'),
         (r["Contents"][0]["Size"], r["Contents"][0]["ETag"]))
    # A key with characters that need URL encoding, listed back exactly (EncodingType=url is boto3's default).
    odd = "odd/\u00e9t\u00e9 + tab\t& 100% <x>"
    s3.put_object(Bucket=BUCKET, Key=odd, Body=b"odd")
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="odd/")
    want("the odd key listed back", [odd], [o["Key"] for o in r["Contents"]])
    want("the odd key's bytes", b"odd", s3.get_object(Bucket=BUCKET, Key=odd)["Body"].read())


def list_v1_marker():
    keys = state["keys"]
    got, marker, pages = [], "", 0
    while True:
        r = s3.list_objects(Bucket=BUCKET, Prefix="many/", Marker=marker, MaxKeys=400)
        pages += 1
        got += [o["Key"] for o in r.get("Contents", [])]
        if not r["IsTruncated"]:
            break
        # Without a delimiter S3 sends no NextMarker: the last key is the marker.
        marker = r.get("NextMarker") or r["Contents"][-1]["Key"]
        if pages > 10:
            raise AssertionError("more than 10 pages")
    want("v1 pages of 400", 3, pages)
    want("v1 keys", keys, got)
    r = s3.list_objects(Bucket=BUCKET, Prefix="many/", Delimiter="/", MaxKeys=4)
    want("v1 with a delimiter: 4 prefixes and a NextMarker", (["many/0/", "many/1/", "many/2/", "many/3/"], True,
                                                              "many/3/"),
         ([c["Prefix"] for c in r["CommonPrefixes"]], r["IsTruncated"], r.get("NextMarker")))
    r = s3.list_objects(Bucket=BUCKET, Prefix="many/", Delimiter="/", Marker=r["NextMarker"])
    want("v1 after NextMarker", ["many/4/", "many/5/", "many/6/"], [c["Prefix"] for c in r["CommonPrefixes"]])


def delete_objects():
    keys = state["keys"]
    first = keys[:1000]  # DeleteObjects takes at most 1000 keys
    r = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in first]})
    want("Deleted", sorted(first), sorted(d["Key"] for d in r.get("Deleted", [])))
    want("Errors", [], r.get("Errors", []))
    r = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys[1000:]] +
                                                 [{"Key": "many/never-existed"}], "Quiet": True})
    want("Quiet: no Deleted list, no Errors (a missing key is no error)", ([], []),
         (r.get("Deleted", []), r.get("Errors", [])))
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="many/")
    want("KeyCount after deleting", 0, r["KeyCount"])
    s3.delete_object(Bucket=BUCKET, Key="docs/small.txt")
    want_error("GET of a deleted key", "NoSuchKey", 404, s3.get_object, Bucket=BUCKET, Key="docs/small.txt")
    r = s3.delete_object(Bucket=BUCKET, Key="docs/never-existed")
    want("DELETE of a missing key", 204, r["ResponseMetadata"]["HTTPStatusCode"])


def multipart():
    key = "mp/three parts.bin"
    parts_data = [body(5 * MiB, "p1"), body(5 * MiB, "p2"), body(1 * MiB + 123, "p3")]
    data = b"".join(parts_data)
    u1 = s3.create_multipart_upload(Bucket=BUCKET, Key=key, ContentType="application/x-mp",
                                    Metadata={"kind": "multipart"})["UploadId"]
    u2 = s3.create_multipart_upload(Bucket=BUCKET, Key="mp/aborted.bin")["UploadId"]
    etags = []
    for i, p in enumerate(parts_data, 1):
        r = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=u1, PartNumber=i, Body=p)
        want(f"part {i} ETag", f'"{md5(p)}"', r["ETag"])
        etags.append(r["ETag"])
    s3.upload_part(Bucket=BUCKET, Key="mp/aborted.bin", UploadId=u2, PartNumber=1, Body=b"x" * 1000)
    # Re-uploading a part replaces it.
    s3.upload_part(Bucket=BUCKET, Key="mp/aborted.bin", UploadId=u2, PartNumber=1, Body=b"y" * 2000)
    r = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=u1)
    want("ListParts", [(1, 5 * MiB, etags[0]), (2, 5 * MiB, etags[1]), (3, MiB + 123, etags[2])],
         [(p["PartNumber"], p["Size"], p["ETag"]) for p in r["Parts"]])
    r = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=u1, MaxParts=2)
    want("ListParts MaxParts=2", ([1, 2], True), ([p["PartNumber"] for p in r["Parts"]], r["IsTruncated"]))
    r = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=u1, PartNumberMarker=int(r["NextPartNumberMarker"]))
    want("ListParts after NextPartNumberMarker", [3], [p["PartNumber"] for p in r["Parts"]])
    r = s3.list_parts(Bucket=BUCKET, Key="mp/aborted.bin", UploadId=u2)
    want("the replaced part", [(1, 2000, f'"{md5(b"y" * 2000)}"')],
         [(p["PartNumber"], p["Size"], p["ETag"]) for p in r["Parts"]])
    r = s3.list_multipart_uploads(Bucket=BUCKET, Prefix="mp/")
    want("ListMultipartUploads", sorted([("mp/aborted.bin", u2), (key, u1)]),
         sorted((u["Key"], u["UploadId"]) for u in r.get("Uploads", [])))
    want_error("GET before CompleteMultipartUpload", "NoSuchKey", 404, s3.get_object, Bucket=BUCKET, Key=key)
    want_error("Complete with a wrong part ETag", "InvalidPart", 400, s3.complete_multipart_upload, Bucket=BUCKET,
               Key=key, UploadId=u1, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etags[1]}]})
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=u1, MultipartUpload={
        "Parts": [{"PartNumber": i, "ETag": e} for i, e in enumerate(etags, 1)]})
    want_etag = '"%s-3"' % md5(b"".join(bytes.fromhex(md5(p)) for p in parts_data))
    h = s3.head_object(Bucket=BUCKET, Key=key)
    want("HEAD of the completed upload", (len(data), want_etag, "application/x-mp", {"kind": "multipart"}),
         (h["ContentLength"], h["ETag"], h["ContentType"], h["Metadata"]))
    g = s3.get_object(Bucket=BUCKET, Key=key)
    want("GET of the completed upload (sha256)", sha(data), sha(g["Body"].read()))
    g = s3.get_object(Bucket=BUCKET, Key=key, Range=f"bytes={5 * MiB - 3}-{5 * MiB + 2}")
    want("a range across parts 1 and 2", data[5 * MiB - 3:5 * MiB + 3], g["Body"].read())
    state["mp"] = (key, parts_data)
    s3.abort_multipart_upload(Bucket=BUCKET, Key="mp/aborted.bin", UploadId=u2)
    r = s3.list_multipart_uploads(Bucket=BUCKET)
    want("no upload left", [], r.get("Uploads", []))
    state["aborted"] = u2
    want_error("GET of the aborted upload's key", "NoSuchKey", 404, s3.get_object, Bucket=BUCKET, Key="mp/aborted.bin")


def no_such_upload():
    # Every check runs, so the log shows each way a server gets this wrong.
    u2 = state["aborted"]
    checks = [
        ("ListParts of the aborted upload", s3.list_parts, dict(Key="mp/aborted.bin", UploadId=u2)),
        ("UploadPart to the aborted upload", s3.upload_part,
         dict(Key="mp/aborted.bin", UploadId=u2, PartNumber=2, Body=b"x")),
        ("UploadPart to an upload id never made", s3.upload_part,
         dict(Key="mp/other", UploadId="nonexistent", PartNumber=1, Body=b"x")),
        ("Complete of the aborted upload", s3.complete_multipart_upload,
         dict(Key="mp/aborted.bin", UploadId=u2, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]})),
        ("Abort of the aborted upload", s3.abort_multipart_upload, dict(Key="mp/aborted.bin", UploadId=u2)),
    ]
    bad = []
    for what, fn, kw in checks:
        try:
            want_error(what, "NoSuchUpload", 404, fn, Bucket=BUCKET, **kw)
        except AssertionError as e:
            say(f"FAILED: {e}")
            bad.append(str(e))
    if bad:
        raise AssertionError("; ".join(bad))


def get_part_number():
    # GET ?partNumber=N answers with part N alone (206, its Content-Range, PartsCount); s3transfer
    # and the AWS CRT download multipart objects this way.
    key, parts_data = state["mp"]
    total = sum(len(p) for p in parts_data)
    g = s3.get_object(Bucket=BUCKET, Key=key, PartNumber=2)
    want("GET PartNumber=2", (206, f"bytes {5 * MiB}-{10 * MiB - 1}/{total}", 3, sha(parts_data[1])),
         (g["ResponseMetadata"]["HTTPStatusCode"], g.get("ContentRange"), g.get("PartsCount"), sha(g["Body"].read())))
    h = s3.head_object(Bucket=BUCKET, Key=key, PartNumber=3)
    want("HEAD PartNumber=3", (206, len(parts_data[2]), 3), (h["ResponseMetadata"]["HTTPStatusCode"],
                                                           h["ContentLength"], h.get("PartsCount")))


def transfer_multipart():
    # s3transfer (upload_file/download_file) as applications use it: 4 parts of 5 MiB, in threads.
    from boto3.s3.transfer import TransferConfig
    data = body(18 * MiB, "transfer")
    path = os.path.join(os.environ["S3_WORK"], "transfer.bin")
    with open(path, "wb") as f:
        f.write(data)
    cfg = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4)
    s3.upload_file(path, BUCKET, "mp/transfer.bin", Config=cfg)
    h = s3.head_object(Bucket=BUCKET, Key="mp/transfer.bin")
    want("ETag of a 4-part upload", True, h["ETag"].endswith('-4"'))
    out = path + ".down"
    s3.download_file(BUCKET, "mp/transfer.bin", out, Config=cfg)  # ranged GETs in threads
    with open(out, "rb") as f:
        want("download_file bytes (sha256)", sha(data), sha(f.read()))


def presigned():
    data = state["data"]
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "docs/report 2026.bin"},
                                    ExpiresIn=300)
    say("presigned GET", url)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=30) as r:
        want("presigned GET bytes", sha(data), sha(r.read()))
    # A presigned PUT, then GET of it through the client.
    url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "docs/presigned-put"},
                                    ExpiresIn=300)
    req = urllib.request.Request(url, data=b"put through a presigned URL", method="PUT")
    with opener.open(req, timeout=30) as r:
        want("presigned PUT status", 200, r.status)
    want("bytes of the presigned PUT", b"put through a presigned URL",
         s3.get_object(Bucket=BUCKET, Key="docs/presigned-put")["Body"].read())
    # A tampered signature is refused.
    bad = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    try:
        opener.open(urllib.request.Request(bad, data=b"x", method="PUT"), timeout=30)
        raise AssertionError("a PUT with a tampered presigned URL succeeded")
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        say("tampered:", e.code, text[:300])
        want("status of a tampered presigned URL", 403, e.code)
        want("its error code", True, "<Code>SignatureDoesNotMatch</Code>" in text)


def errors():
    want_error("GET of a missing key", "NoSuchKey", 404, s3.get_object, Bucket=BUCKET, Key="no/such/key")
    want_error("HEAD of a missing key", "404", 404, s3.head_object, Bucket=BUCKET, Key="no/such/key")
    missing = BUCKET + "-none"
    want_error("GET in a missing bucket", "NoSuchBucket", 404, s3.get_object, Bucket=missing, Key="k")
    want_error("ListObjectsV2 of a missing bucket", "NoSuchBucket", 404, s3.list_objects_v2, Bucket=missing)
    want_error("DeleteBucket of a missing bucket", "NoSuchBucket", 404, s3.delete_bucket, Bucket=missing)
    want_error("DeleteBucket of a non-empty bucket", "BucketNotEmpty", 409, s3.delete_bucket, Bucket=BUCKET)
    wrong = make_client(secret=os.environ["S3_SECRET_KEY"] + "x")
    want_error("a wrong secret", "SignatureDoesNotMatch", 403, wrong.list_objects_v2, Bucket=BUCKET)
    want_error("a wrong secret on PUT", "SignatureDoesNotMatch", 403, wrong.put_object, Bucket=BUCKET, Key="k",
               Body=b"x")
    unknown = make_client(access="AKIAFLOEUNKNOWNKEY00")
    want_error("an unknown access key", "InvalidAccessKeyId", 403, unknown.list_objects_v2, Bucket=BUCKET)


def delete_bucket():
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if objs:
            r = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": objs})
            want("Errors", [], r.get("Errors", []))
    r = s3.delete_bucket(Bucket=BUCKET)
    want("DeleteBucket status", 204, r["ResponseMetadata"]["HTTPStatusCode"])
    want_error("HEAD of the deleted bucket", "404", 404, s3.head_bucket, Bucket=BUCKET)


STEPS = [
    ("create-bucket", create_bucket),
    ("put-get-head", put_get_head),
    ("conditional-get", conditional_get),
    ("ranged-get", ranged_get),
    ("put-1100-keys", many_keys),
    ("list-v2-paginator", list_v2_paginate),
    ("list-v1-marker", list_v1_marker),
    ("delete-objects", delete_objects),
    ("multipart", multipart),
    ("no-such-upload", no_such_upload),
    ("get-part-number", get_part_number),
    ("transfer-multipart", transfer_multipart),
    ("presigned-url", presigned),
    ("errors", errors),
    ("delete-bucket", delete_bucket),
]


def main():
    global log_file
    print(f"   boto3 {boto3.__version__}, botocore {botocore.__version__}, python {sys.version.split()[0]}",
          flush=True)
    failed = False
    for name, fn in STEPS:
        if failed:
            print(f"@skip {name}", flush=True)
            continue
        t0 = time.time_ns()
        with open(os.path.join(LOG_DIR, name + ".log"), "w") as log_file:
            try:
                fn()
                rc = 0
            except Exception:
                traceback.print_exc(file=log_file)
                rc = 1
        print(f"@step {name} {rc} {t0}", flush=True)
        if rc and f"boto3:{name}" not in GAPS:
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
