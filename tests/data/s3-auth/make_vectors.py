#!/usr/bin/python3
"""Writes the S3 SigV4 verification vectors that tests/test_s3_auth.c reads (see README.md).

Run with Debian's python3 (python3-boto3, botocore 1.29): /usr/bin/python3 make_vectors.py [DIR].
Nothing here runs at test time; the files it writes are committed.

Every request is made by botocore itself: an S3 client call (or generate_presigned_url) with a
fixed clock, stopped in the 'before-send' event after signing, so what is written is exactly what
botocore would have put on the wire (the body after HTTP transfer decoding, as a server reads it).
botocore has two signers: its Python one, and awscrt's (aws-c-auth, in C), which it uses whenever
awscrt is installed (Debian's python3-awscrt). The plain vectors come from the Python signer, whose
canonical request and string to sign are logged into them; the crt-* vectors from awscrt's, in a
second run of this script (--crt), since botocore picks its signer when it is imported.
botocore 1.29 has no signer for aws-chunked chunk signatures, so for the signed streaming modes
the seed request is signed by botocore's S3SigV4Auth (told the payload is STREAMING-...) and the
chunk and trailer signatures by chunk_signature() and trailer_signature() below, written from
AWS's "Signature Calculations for the Authorization Header: Transferring Payload in Multiple
Chunks" and "...Including Trailing Headers". Both are first checked against the signatures AWS
publishes in those pages (the doc-* vectors), and botocore's header and query signing against the
GET Object and presigned URL examples of the S3 API reference: the script stops if any differs.
"""
import base64
import datetime
import email.utils
import hashlib
import hmac
import io
import json
import logging
import os
import sys
import types
import zlib
from urllib.parse import urlsplit

CRT = "--crt" in sys.argv
os.environ["BOTO_DISABLE_CRT"] = "false" if CRT else "true"

import boto3  # noqa: E402 (the environment decides the signer at import)
import botocore  # noqa: E402
import botocore.auth  # noqa: E402
import botocore.endpoint  # noqa: E402
import botocore.httpchecksum  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

ARGS = [a for a in sys.argv[1:] if a != "--crt"]
OUT = ARGS[0] if ARGS else os.path.dirname(os.path.abspath(__file__))

# The credentials and clock of floe's own vectors.
ACCESS_KEY = "AKIAFLOETESTKEY00001"
SECRET_KEY = "floe/secret+key/0123456789abcdefEXAMPLE"
REGION = "us-east-1"
ENDPOINT = "127.0.0.1:9000"
CLOCK = datetime.datetime(2025, 3, 14, 15, 9, 26)

# AWS's documentation examples (S3 API reference, SigV4 pages).
DOC_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
DOC_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_CLOCK = datetime.datetime(2013, 5, 24, 0, 0, 0)

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class Clock:
    now = CLOCK


class FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return Clock.now


# The signers read the time through their module's own `datetime` name only.
botocore.auth.datetime = types.SimpleNamespace(datetime=FixedDatetime)
if CRT:
    import botocore.crt.auth  # noqa: E402

    botocore.crt.auth.datetime = types.SimpleNamespace(datetime=FixedDatetime, timezone=datetime.timezone)
    SIGNER = "botocore " + botocore.__version__ + " with awscrt's signer (aws-c-auth)"
else:
    SIGNER = "botocore " + botocore.__version__ + " (Python signer)"


class CountingUuid:
    """Deterministic amz-sdk-invocation-id values, so that the files do not change run to run."""
    n = 0

    @classmethod
    def uuid4(cls):
        cls.n += 1
        return f"00000000-0000-4000-8000-{cls.n:012d}"


botocore.endpoint.uuid = CountingUuid


class SigningLog(logging.Handler):
    """Keeps the canonical request and string to sign botocore logs while it signs."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = {}

    def emit(self, record):
        if record.msg in ("CanonicalRequest:\n%s", "StringToSign:\n%s"):
            self.records[record.msg.split(":")[0]] = record.args[0]


LOG = SigningLog()
logging.getLogger("botocore.auth").addHandler(LOG)
logging.getLogger("botocore.auth").setLevel(logging.DEBUG)


class Captured(Exception):
    def __init__(self, request):
        super().__init__("captured")
        self.request = request


def stop_before_send(request, **kwargs):
    raise Captured(request)


def client(endpoint_scheme="http", access_key=ACCESS_KEY, secret_key=SECRET_KEY):
    session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                    region_name=REGION)
    c = session.client("s3", endpoint_url=f"{endpoint_scheme}://{ENDPOINT}",
                       config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                     retries={"max_attempts": 1}))
    c.meta.events.register("before-send.s3", stop_before_send)
    return c


def call(c, operation, **params):
    LOG.records = {}
    try:
        getattr(c, operation)(**params)
    except Captured as e:
        return e.request
    raise RuntimeError(f"{operation} was not stopped before sending")


def body_bytes(body):
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    if hasattr(body, "seek"):
        body.seek(0)
    return body.read()


def header_text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def raw_http(method, url, headers, body):
    """The request as a server receives it: request line, headers (Host first, as urllib3 sends
    it), a blank line, the body."""
    parts = urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    for name, value in headers.items():
        if name.lower() != "host":
            lines.append(f"{name}: {header_text(value)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def authorization_parts(headers):
    authz = header_text(headers["Authorization"])
    fields = dict(p.strip().split("=", 1) for p in authz[len("AWS4-HMAC-SHA256 "):].split(","))
    return fields["SignedHeaders"], fields["Signature"]


def unix(dt):
    return int(dt.replace(tzinfo=datetime.timezone.utc).timestamp())


def write_vector(name, description, client_name, http, meta):
    with open(os.path.join(OUT, name + ".http"), "wb") as f:
        f.write(http)
    vector = {"description": description, "client": client_name, "request": name + ".http"}
    vector.update(meta)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(vector, f, indent=2, ensure_ascii=False, sort_keys=False)
        f.write("\n")
    print(f"wrote {name}: {description}")


def signed_meta(request, payload, body_for_hash=None, keys=None, now=CLOCK, presigned=False):
    meta = {
        "now": unix(now),
        "region": REGION,
        "keys": keys or [{"access_key": "AKIAOTHERKEY00000000", "secret_key": "another secret"},
                         {"access_key": ACCESS_KEY, "secret_key": SECRET_KEY}],
        "key_index": 1 if keys is None else 0,
        "presigned": presigned,
        "payload": payload,
    }
    if payload == "SHA256":
        meta["payload_sha256"] = hashlib.sha256(body_for_hash).hexdigest()
    if "CanonicalRequest" in LOG.records:
        meta["canonical_request"] = LOG.records["CanonicalRequest"]
        meta["string_to_sign"] = LOG.records["StringToSign"]
    if presigned:
        query = dict(p.split("=", 1) for p in urlsplit(request.url).query.split("&"))
        meta["signed_headers"] = query["X-Amz-SignedHeaders"]
        meta["signature"] = query["X-Amz-Signature"]
    else:
        meta["signed_headers"], meta["signature"] = authorization_parts(request.headers)
    return meta


def signing_key(secret, day, region="us-east-1", service="s3"):
    k = hmac.new(("AWS4" + secret).encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def chunk_signature(key, amz_date, scope, previous, data):
    sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY_SHA256,
                     hashlib.sha256(data).hexdigest()])
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def trailer_signature(key, amz_date, scope, previous, trailers):
    """trailers: [(name, value)], signed as "name:value\\n" lines."""
    canonical = "".join(f"{n}:{v}\n" for n, v in trailers)
    sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def signed_chunked_body(key, amz_date, scope, seed, data, chunk_size, trailers=None):
    """An aws-chunked body with chunk signatures; with trailers (a list, maybe empty) the
    signed-trailer form. Returns the body and the chunk signatures, final chunk's last."""
    body, sigs, prev = b"", [], seed
    pieces = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for piece in pieces:
        prev = chunk_signature(key, amz_date, scope, prev, piece)
        sigs.append(prev)
        body += b"%x;chunk-signature=%s\r\n" % (len(piece), prev.encode())
        if piece:
            body += piece + b"\r\n"
    if trailers is None:
        body += b"\r\n"
    else:
        for n, v in trailers:
            body += f"{n}:{v}\r\n".encode()
        tsig = trailer_signature(key, amz_date, scope, prev, trailers)
        sigs.append(tsig)
        body += f"x-amz-trailer-signature:{tsig}\r\n\r\n".encode()
    return body, sigs


class StreamingSeedAuth(botocore.auth.S3SigV4Auth):
    """botocore's S3 header signer, told the payload is one of the STREAMING-* values."""

    def __init__(self, credentials, region, payload):
        super().__init__(credentials, "s3", region)
        self._streaming = payload

    def payload(self, request):
        return self._streaming


def seed_request(url, headers, payload, access_key, secret_key, region=REGION):
    LOG.records = {}
    request = AWSRequest(method="PUT", url=url, headers=headers)
    StreamingSeedAuth(Credentials(access_key, secret_key), region, payload).add_auth(request)
    return request


def crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def check(what, got, want):
    if got != want:
        sys.exit(f"make_vectors: {what}: got {got}, AWS publishes {want}")
    print(f"ok: {what} matches AWS's published {want[:16]}...")


def doc_vectors():
    """AWS's published examples: botocore must reproduce their signatures, and so must the chunk
    signer here; then they are vectors too."""
    Clock.now = DOC_CLOCK
    amz_date, scope = "20130524T000000Z", "20130524/us-east-1/s3/aws4_request"
    doc_keys = [{"access_key": DOC_ACCESS_KEY, "secret_key": DOC_SECRET_KEY}]
    creds = Credentials(DOC_ACCESS_KEY, DOC_SECRET_KEY)

    # GET Object with a Range (sig-v4-header-based-auth.html).
    LOG.records = {}
    req = AWSRequest(method="GET", url="https://examplebucket.s3.amazonaws.com/test.txt",
                     headers={"Range": "bytes=0-9", "X-Amz-Content-SHA256": EMPTY_SHA256})
    botocore.auth.S3SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    meta = signed_meta(req, "SHA256", b"", keys=doc_keys, now=DOC_CLOCK)
    check("GET Object example signature", meta["signature"],
          "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    write_vector("doc-get-object", "AWS documentation: GET Object with a Range header", "AWS documentation "
                 "example, signed again by botocore " + botocore.__version__,
                 raw_http("GET", req.url, req.headers, b""), meta)

    # Presigned GET, one day (sigv4-query-string-auth.html).
    LOG.records = {}
    req = AWSRequest(method="GET", url="https://examplebucket.s3.amazonaws.com/test.txt")
    botocore.auth.S3SigV4QueryAuth(creds, "s3", "us-east-1", expires=86400).add_auth(req)
    meta = signed_meta(req, "UNSIGNED", keys=doc_keys, now=DOC_CLOCK, presigned=True)
    check("presigned URL example signature", meta["signature"],
          "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    write_vector("doc-presigned-get", "AWS documentation: presigned GET valid for 86400 s", "AWS documentation "
                 "example, signed again by botocore " + botocore.__version__,
                 raw_http("GET", req.url, {}, b""), meta)

    # Chunked upload, 64 KiB + 1 KiB of 'a' (sigv4-streaming.html).
    data = b"a" * 66560
    headers = {"x-amz-storage-class": "REDUCED_REDUNDANCY", "Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": "66560", "Content-Length": "66824"}
    req = seed_request("https://s3.amazonaws.com/examplebucket/chunkObject.txt", headers,
                       "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", DOC_ACCESS_KEY, DOC_SECRET_KEY)
    meta = signed_meta(req, "STREAMING_SIGNED", keys=doc_keys, now=DOC_CLOCK)
    check("chunked upload seed signature", meta["signature"],
          "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
    key = signing_key(DOC_SECRET_KEY, "20130524")
    body, sigs = signed_chunked_body(key, amz_date, scope, meta["signature"], data, 65536)
    for got, want in zip(sigs, ["ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                                "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
                                "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"]):
        check("chunked upload chunk signature", got, want)
    check("chunked upload Content-Length", str(len(body)), "66824")
    meta.update(decoded_length=len(data), decoded_sha256=hashlib.sha256(data).hexdigest(), chunk_signatures=sigs)
    write_vector("doc-streaming-signed", "AWS documentation: STREAMING-AWS4-HMAC-SHA256-PAYLOAD, 64 KiB + 1 KiB",
                 "AWS documentation example: seed signed by botocore, chunks by make_vectors.py, both equal to "
                 "the published signatures", raw_http("PUT", req.url, req.headers, body), meta)

    # The same with a trailing x-amz-checksum-crc32c (sigv4-streaming-trailers.html).
    headers = {"x-amz-storage-class": "REDUCED_REDUNDANCY", "Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": "66560", "x-amz-trailer": "x-amz-checksum-crc32c"}
    req = seed_request("https://s3.amazonaws.com/examplebucket/chunkObject.txt", headers,
                       "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", DOC_ACCESS_KEY, DOC_SECRET_KEY)
    meta = signed_meta(req, "STREAMING_SIGNED_TRAILER", keys=doc_keys, now=DOC_CLOCK)
    check("trailer upload seed signature", meta["signature"],
          "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e")
    trailers = [("x-amz-checksum-crc32c", "sOO8/Q==")]
    body, sigs = signed_chunked_body(key, amz_date, scope, meta["signature"], data, 65536, trailers)
    for got, want in zip(sigs, ["b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
                                "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
                                "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
                                "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"]):
        check("trailer upload chunk or trailer signature", got, want)
    req.headers["Content-Length"] = str(len(body))  # sent, not signed
    meta.update(decoded_length=len(data), decoded_sha256=hashlib.sha256(data).hexdigest(),
                trailers=dict(trailers), chunk_signatures=sigs)
    write_vector("doc-streaming-signed-trailer", "AWS documentation: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
                 "with x-amz-checksum-crc32c", "AWS documentation example: seed signed by botocore, chunks and "
                 "trailer by make_vectors.py, all equal to the published signatures",
                 raw_http("PUT", req.url, req.headers, body), meta)


def botocore_vectors(prefix=""):
    Clock.now = CLOCK
    name = SIGNER
    c = client()

    body = b"hello, floe\n"
    req = call(c, "put_object", Bucket="photos", Key="dir/file.txt", Body=body, ContentType="text/plain",
               Metadata={"owner": "test"})
    write_vector(prefix + "put-object-sha256", "PutObject over http: payload signed as its SHA-256, x-amz-meta-* signed",
                 name, raw_http(req.method, req.url, req.headers, body_bytes(req.body)),
                 signed_meta(req, "SHA256", body))

    req = call(c, "list_objects_v2", Bucket="photos", Prefix="a b/ü+x=y&z", Delimiter="/", MaxKeys=10,
               StartAfter="a b/ü+x=y&z/0")
    write_vector(prefix + "list-objects-query", "ListObjectsV2 with a prefix holding space, UTF-8, '+', '=' and '&'",
                 name, raw_http(req.method, req.url, req.headers, b""), signed_meta(req, "SHA256", b""))

    req = call(c, "get_object", Bucket="photos", Key="dir/a b+c=d%e&f~ü€😀.txt", Range="bytes=0-99")
    write_vector(prefix + "get-object-odd-key", "GetObject of a key with space, '+', '=', '%', '&', '~' and UTF-8, "
                 "with a Range", name, raw_http(req.method, req.url, req.headers, b""),
                 signed_meta(req, "SHA256", b""))

    req = call(c, "delete_objects", Bucket="photos",
               Delete={"Objects": [{"Key": "a"}, {"Key": "b c"}], "Quiet": True})
    write_vector(prefix + "delete-objects-bare-parameter", "DeleteObjects: POST /photos?delete, a parameter without '='",
                 name, raw_http(req.method, req.url, req.headers, body_bytes(req.body)),
                 signed_meta(req, "SHA256", body_bytes(req.body)))

    # A request dated by Date: botocore signs with it when it is set (and sends no X-Amz-Date).
    c_date = client()
    http_date = email.utils.formatdate(unix(CLOCK), usegmt=True)
    c_date.meta.events.register("before-sign.s3", lambda request, **kw: request.headers.__setitem__(
        "Date", http_date))
    req = call(c_date, "head_object", Bucket="photos", Key="dated")
    write_vector(prefix + "head-object-date-header", "HeadObject dated by the Date header instead of X-Amz-Date",
                 name, raw_http(req.method, req.url, req.headers, b""), signed_meta(req, "SHA256", b""))

    LOG.records = {}
    url = c.generate_presigned_url("get_object", Params={
        "Bucket": "photos", "Key": "report 2024/ü+1.pdf",
        "ResponseContentDisposition": 'attachment; filename="r.pdf"'}, ExpiresIn=3600)
    fake = types.SimpleNamespace(url=url, headers={})
    write_vector(prefix + "presigned-get", "generate_presigned_url GetObject, 1 hour, with a response-content-disposition "
                 "override", name, raw_http("GET", url, {}, b""), signed_meta(fake, "UNSIGNED", presigned=True))

    LOG.records = {}
    url = c.generate_presigned_url("put_object", Params={"Bucket": "photos", "Key": "upload/new file.bin"},
                                   ExpiresIn=604800)
    fake = types.SimpleNamespace(url=url, headers={})
    write_vector(prefix + "presigned-put-week", "generate_presigned_url PutObject valid for the longest time, 604800 s",
                 name, raw_http("PUT", url, {"Content-Length": "5"}, b"12345"),
                 signed_meta(fake, "UNSIGNED", presigned=True))

    # STREAMING-UNSIGNED-PAYLOAD-TRAILER: PutObject with a CRC32 over https. botocore's aws-chunked
    # encoder is cut to 8 KiB chunks (from 1 MiB) so that the vector has several.
    botocore.httpchecksum.AwsChunkedWrapper._DEFAULT_CHUNK_SIZE = 8192
    data = bytes((i * 7 + 3) & 0xFF for i in range(20000))
    algorithm = "CRC32C" if CRT else "CRC32"  # botocore computes CRC32C only with awscrt
    req = call(client("https"), "put_object", Bucket="photos", Key="stream/unsigned", Body=data,
               ChecksumAlgorithm=algorithm)
    meta = signed_meta(req, "STREAMING_UNSIGNED_TRAILER")
    if CRT:
        import awscrt.checksums

        trailer = {"x-amz-checksum-crc32c": base64.b64encode(
            awscrt.checksums.crc32c(data).to_bytes(4, "big")).decode()}
    else:
        trailer = {"x-amz-checksum-crc32": crc32_b64(data)}
    meta.update(decoded_length=len(data), decoded_sha256=hashlib.sha256(data).hexdigest(), trailers=trailer)
    write_vector(prefix + "put-unsigned-trailer", f"PutObject with ChecksumAlgorithm={algorithm} over https: "
                 f"STREAMING-UNSIGNED-PAYLOAD-TRAILER, three data chunks and an {list(trailer)[0]} trailer",
                 name, raw_http(req.method, req.url, req.headers, body_bytes(req.body)), meta)

    if CRT:
        return
    # The signed streaming modes: botocore signs the seed; the chunks are signed here.
    amz_date = CLOCK.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    key = signing_key(SECRET_KEY, amz_date[:8])
    data = bytes((i * 31 + 11) & 0xFF for i in range(8192 * 2 + 1000))
    for payload, mode, trailers in (("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING_SIGNED", None),
                                    ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", "STREAMING_SIGNED_TRAILER",
                                     [("x-amz-checksum-crc32", crc32_b64(data))])):
        probe, _ = signed_chunked_body(key, amz_date, scope, "0" * 64, data, 8192, trailers)
        headers = {"Content-Encoding": "aws-chunked", "Content-Type": "application/octet-stream",
                   "x-amz-decoded-content-length": str(len(data)), "Content-Length": str(len(probe))}
        if trailers:
            headers["x-amz-trailer"] = trailers[0][0]
        req = seed_request(f"http://{ENDPOINT}/photos/stream/signed%20%2B%20key", headers, payload, ACCESS_KEY,
                           SECRET_KEY)
        meta = signed_meta(req, mode)
        body, sigs = signed_chunked_body(key, amz_date, scope, meta["signature"], data, 8192, trailers)
        meta.update(decoded_length=len(data), decoded_sha256=hashlib.sha256(data).hexdigest(),
                    chunk_signatures=sigs)
        if trailers:
            meta["trailers"] = dict(trailers)
        name_ = "put-streaming-signed" + ("-trailer" if trailers else "")
        write_vector(name_, f"PutObject as {payload}: 8 KiB, 8 KiB and 1000 bytes"
                     + (", then an x-amz-checksum-crc32 trailer" if trailers else ""),
                     f"seed signed by {name} S3SigV4Auth; chunks by make_vectors.py's chunk signer, which "
                     "reproduces AWS's published chunk signatures", raw_http("PUT", req.url, req.headers, body),
                     meta)


if __name__ == "__main__":
    if CRT:
        botocore_vectors("crt-")
    else:
        doc_vectors()
        botocore_vectors()
        import subprocess

        subprocess.run([sys.executable, os.path.abspath(__file__), "--crt", OUT], check=True)
