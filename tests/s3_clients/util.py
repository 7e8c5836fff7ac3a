#!/usr/bin/python3
"""Helpers for tests/s3_clients/run.sh (run with Debian's /usr/bin/python3 and python3-boto3).

  util.py mktree KIND DIR        writes a deterministic test tree (KIND: sync, rclone, restic)
  util.py mpetag FILE PART_SIZE  prints the ETag S3 gives FILE uploaded in PART_SIZE parts:
                                 md5(md5(part 1) || ... || md5(part N)) + "-N"
  util.py etag BUCKET KEY        prints the object's ETag (HEAD), for clients that do not show it
  util.py cleanup BUCKET         deletes BUCKET with its objects and open multipart uploads
                                 (target from S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION);
                                 a bucket that does not exist is fine
"""
import hashlib
import os
import random
import sys


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def mktree(kind, root):
    rnd = random.Random("floe-s3-clients-" + kind)  # same bytes every run

    def blob(n):
        return rnd.randbytes(n)

    # What every tree has: nesting, a name with spaces and non-ASCII letters, an empty file, and
    # characters that URL and signature encoding get wrong (+, &, =, %).
    write(f"{root}/top.txt", b"top level file\n")
    write(f"{root}/empty", b"")
    write(f"{root}/a/one.bin", blob(100 * 1024))
    write(f"{root}/a/b/more.dat", blob(1024 * 1024 + 17))
    write(f"{root}/a/b/c/deep.txt", b"deep\n" * 1000)
    write(f"{root}/with space/\u00fcn\u00efc\u00f8d\u00e9 \u2013 file.txt", "gr\u00fc\u00dfe, \u65e5\u672c\n".encode())
    write(f"{root}/odd/plus+sign & amp=equals.txt", b"odd name\n")
    write(f"{root}/odd/100%.txt", b"percent\n")
    if kind == "rclone":
        write(f"{root}/big/twelve.bin", blob(12 * 1024 * 1024 + 5))  # multipart with 5M chunks
    if kind == "restic":
        # A backup: many small files, a few larger ones, a duplicate (dedup), a symlink, an empty dir.
        for d in range(40):
            for i in range(40):
                write(f"{root}/many/d{d:02}/f{i:03}.txt", blob(rnd.randint(50, 3000)))
        big = blob(2 * 1024 * 1024)
        write(f"{root}/big/two-mib.bin", big)
        write(f"{root}/big/two-mib-copy.bin", big)
        write(f"{root}/big/zeros.bin", bytes(1024 * 1024))
        os.makedirs(f"{root}/empty-dir", exist_ok=True)
        os.symlink("a/b/c/deep.txt", f"{root}/link-to-deep")


def mpetag(path, part_size):
    digests = []
    with open(path, "rb") as f:
        while True:
            part = f.read(part_size)
            if not part:
                break
            digests.append(hashlib.md5(part).digest())
    return "%s-%d" % (hashlib.md5(b"".join(digests)).hexdigest(), len(digests))


def client():
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=os.environ["S3_ENDPOINT"],
        aws_access_key_id=os.environ["S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["S3_SECRET_KEY"],
        region_name=os.environ.get("S3_REGION") or "us-east-1",
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      retries={"max_attempts": 3, "mode": "standard"}),
    )


def cleanup(bucket):
    from botocore.exceptions import ClientError

    s3 = client()
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as e:
        if e.response["Error"]["Code"] in ("404", "NoSuchBucket"):
            print(f"bucket {bucket} is already gone")
            return
        raise
    objects = uploads = 0
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for u in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
            uploads += 1
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            r = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            if r.get("Errors"):
                raise SystemExit(f"delete_objects errors: {r['Errors'][:5]}")
            objects += len(keys)
    s3.delete_bucket(Bucket=bucket)
    print(f"deleted bucket {bucket} ({objects} objects, {uploads} open multipart uploads)")


def main(argv):
    if len(argv) == 3 and argv[0] == "mktree":
        mktree(argv[1], argv[2])
    elif len(argv) == 3 and argv[0] == "mpetag":
        print(mpetag(argv[1], int(argv[2])))
    elif len(argv) == 3 and argv[0] == "etag":
        print(client().head_object(Bucket=argv[1], Key=argv[2])["ETag"])
    elif len(argv) == 2 and argv[0] == "cleanup":
        cleanup(argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
