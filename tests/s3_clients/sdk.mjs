// The AWS SDK for JavaScript v3 session of tests/s3_clients/run.sh (run with /usr/bin/node).
//
// The client has the SDK's default checksum behaviour (requestChecksumCalculation WHEN_SUPPORTED):
// PutObject and UploadPart send x-amz-checksum-crc32, in a header for a body in memory and in an
// aws-chunked trailer (x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER) for a stream.
//
// Environment: S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION, S3_BUCKET (does not exist yet),
// S3_LOG_DIR (one log per step), S3_WORK (scratch files), S3_GAPS (known gaps, "client:step"),
// S3_NODE_MODULES (the node_modules directory holding @aws-sdk/client-s3 and @aws-sdk/lib-storage).
// Prints "@step NAME RC START_NS" after each step and "@skip NAME" for steps not run.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { Readable } from "node:stream";

const require = createRequire(path.join(process.env.S3_NODE_MODULES, "noop.js"));
const S3 = require("@aws-sdk/client-s3");
const { Upload } = require("@aws-sdk/lib-storage");
const versionOf = (p) => JSON.parse(fs.readFileSync(require.resolve(`${p}/package.json`), "utf8")).version;

const BUCKET = process.env.S3_BUCKET;
const LOG_DIR = process.env.S3_LOG_DIR;
const WORK = process.env.S3_WORK;
const GAPS = new Set((process.env.S3_GAPS || "").split(/\s+/).filter(Boolean));
const MiB = 1024 * 1024;

let log = null; // the current step's log
const say = (...a) => fs.writeSync(log, a.map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(" ") + "\n");

// Every request's method, path and the headers that tell how its body was sent and checked.
const sent = [];
const client = new S3.S3Client({
  endpoint: process.env.S3_ENDPOINT,
  region: process.env.S3_REGION || "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: process.env.S3_ACCESS_KEY, secretAccessKey: process.env.S3_SECRET_KEY },
  maxAttempts: 1, // no retries: an error a retry would hide fails the step
});
client.middlewareStack.add(
  (next, context) => async (args) => {
    const h = args.request.headers || {};
    const pick = {};
    for (const k of Object.keys(h)) {
      if (/^(x-amz-content-sha256|x-amz-trailer|x-amz-checksum-|x-amz-sdk-checksum|content-encoding|content-length|transfer-encoding|content-md5|x-amz-decoded-content-length)/i.test(k)) pick[k.toLowerCase()] = h[k];
    }
    const rec = { op: context.commandName, method: args.request.method, path: args.request.path, headers: pick };
    sent.push(rec);
    if (log !== null) say("request:", rec);
    return next(args);
  },
  { step: "finalizeRequest", name: "floeRecordRequest", priority: "low" },
);
const send = (cmd) => client.send(cmd);

function want(what, expected, got) {
  const e = JSON.stringify(expected), g = JSON.stringify(got);
  if (e !== g) throw new Error(`${what}: expected ${e}, got ${g}`);
  say(`ok: ${what} = ${g}`.slice(0, 300));
}
const md5 = (b) => createHash("md5").update(b).digest("hex");
const sha = (b) => createHash("sha256").update(b).digest("hex");
function bytes(n, seed) {
  const out = Buffer.alloc(n);
  let block = createHash("sha256").update(seed).digest();
  for (let off = 0; off < n; off += block.length) {
    block = createHash("sha256").update(block).digest();
    block.copy(out, off);
  }
  return out;
}
async function getBytes(key, extra = {}) {
  const r = await send(new S3.GetObjectCommand({ Bucket: BUCKET, Key: key, ...extra }));
  return { r, body: Buffer.from(await r.Body.transformToByteArray()) };
}
function lastRequest(op) {
  for (let i = sent.length - 1; i >= 0; i--) if (sent[i].op === op) return sent[i];
  throw new Error(`no ${op} request was sent`);
}

const state = {};

async function createBucket() {
  await send(new S3.CreateBucketCommand({ Bucket: BUCKET }));
  await send(new S3.HeadBucketCommand({ Bucket: BUCKET }));
}

async function putGet() {
  // A string and a 1 MiB Buffer: bodies in memory, so the CRC32 goes in a header.
  const small = Buffer.from("hello from the AWS SDK for JavaScript v3\n");
  const big = bytes(MiB + 3, "js-buffer");
  let r = await send(new S3.PutObjectCommand({ Bucket: BUCKET, Key: "js/small.txt", Body: small.toString(), ContentType: "text/plain", Metadata: { client: "js-v3" } }));
  want("ETag of the string PUT", `"${md5(small)}"`, r.ETag);
  state.smallCrc = lastRequest("PutObjectCommand").headers["x-amz-checksum-crc32"];
  say("the SDK sent x-amz-checksum-crc32:", state.smallCrc || "(none)");
  r = await send(new S3.PutObjectCommand({ Bucket: BUCKET, Key: "js/buffer.bin", Body: big }));
  want("ETag of the Buffer PUT", `"${md5(big)}"`, r.ETag);
  let g = await getBytes("js/small.txt");
  want("GET bytes of the string", sha(small), sha(g.body));
  want("GET ContentType and Metadata", ["text/plain", { client: "js-v3" }], [g.r.ContentType, g.r.Metadata]);
  g = await getBytes("js/buffer.bin");
  want("GET bytes of the Buffer", sha(big), sha(g.body));
  const h = await send(new S3.HeadObjectCommand({ Bucket: BUCKET, Key: "js/buffer.bin" }));
  want("HEAD ContentLength and ETag", [big.length, `"${md5(big)}"`], [h.ContentLength, h.ETag]);
  g = await getBytes("js/buffer.bin", { Range: "bytes=1000-1999" });
  want("ranged GET", [sha(big.subarray(1000, 2000)), "bytes 1000-1999/" + big.length], [sha(g.body), g.r.ContentRange]);
}

async function putStreamTrailer() {
  // A file stream of known length: the SDK sends it aws-chunked, with the CRC32 in a trailer.
  const data = bytes(3 * MiB + 11, "js-stream");
  const file = path.join(WORK, "stream.bin");
  fs.writeFileSync(file, data);
  const r = await send(new S3.PutObjectCommand({ Bucket: BUCKET, Key: "js/stream.bin", Body: fs.createReadStream(file), ContentLength: data.length }));
  const req = lastRequest("PutObjectCommand");
  want("the SDK sent a trailer-checksummed aws-chunked body", ["STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-checksum-crc32"],
    [req.headers["x-amz-content-sha256"], req.headers["x-amz-trailer"]]);
  want("ETag of the streamed PUT", `"${md5(data)}"`, r.ETag);
  state.streamPut = true;
  const g = await getBytes("js/stream.bin");
  want("GET bytes of the streamed PUT", sha(data), sha(g.body));
}

async function checksumEcho() {
  // S3 keeps the checksum a PUT sent and returns it when asked (x-amz-checksum-mode: ENABLED).
  const h = await send(new S3.HeadObjectCommand({ Bucket: BUCKET, Key: "js/small.txt", ChecksumMode: "ENABLED" }));
  want("HEAD ChecksumCRC32 = the one the SDK sent", state.smallCrc, h.ChecksumCRC32);
  const g = await getBytes("js/small.txt", { ChecksumMode: "ENABLED" }); // the SDK checks the bytes against it
  want("GET ChecksumCRC32", state.smallCrc, g.r.ChecksumCRC32);
}

async function list() {
  const keys = [];
  for await (const page of S3.paginateListObjectsV2({ client, pageSize: 1 }, { Bucket: BUCKET, Prefix: "js/" })) {
    for (const o of page.Contents || []) keys.push([o.Key, o.Size]);
  }
  const expected = [["js/buffer.bin", MiB + 3], ["js/small.txt", 41]];
  if (state.streamPut) expected.push(["js/stream.bin", 3 * MiB + 11]); // unless put-stream-trailer failed
  expected.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  want("keys and sizes, one per page", expected, keys);
  const r = await send(new S3.ListObjectsV2Command({ Bucket: BUCKET, Delimiter: "/" }));
  want("CommonPrefixes", ["js/"], (r.CommonPrefixes || []).map((p) => p.Prefix));
}

async function multipartManual() {
  const parts = [bytes(5 * MiB, "p1"), bytes(5 * MiB, "p2"), bytes(MiB + 5, "p3")];
  const key = "mp/manual.bin";
  const { UploadId } = await send(new S3.CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, ContentType: "application/x-js-mp" }));
  const done = [];
  for (let i = 0; i < parts.length; i++) {
    const r = await send(new S3.UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: i + 1, Body: parts[i] }));
    want(`part ${i + 1} ETag`, `"${md5(parts[i])}"`, r.ETag);
    done.push({ PartNumber: i + 1, ETag: r.ETag, ChecksumCRC32: r.ChecksumCRC32 });
  }
  await send(new S3.CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: done } }));
  const data = Buffer.concat(parts);
  const etag = `"${md5(Buffer.concat(parts.map((p) => createHash("md5").update(p).digest())))}-3"`;
  const h = await send(new S3.HeadObjectCommand({ Bucket: BUCKET, Key: key }));
  want("HEAD of the completed upload", [data.length, etag, "application/x-js-mp"], [h.ContentLength, h.ETag, h.ContentType]);
  const g = await getBytes(key);
  want("GET bytes of the completed upload", sha(data), sha(g.body));
}

async function multipartLibStorage() {
  // lib-storage's Upload, as applications upload a stream: 12 MiB in 5 MiB parts, 2 at a time.
  const data = bytes(12 * MiB + 7, "lib-storage");
  const file = path.join(WORK, "upload.bin");
  fs.writeFileSync(file, data);
  const up = new Upload({ client, params: { Bucket: BUCKET, Key: "mp/lib-storage.bin", Body: fs.createReadStream(file) }, partSize: 5 * MiB, queueSize: 2 });
  const r = await up.done();
  say("Upload.done():", { ETag: r.ETag, Key: r.Key, Location: r.Location });
  want("UploadPart requests", 3, sent.filter((s) => s.op === "UploadPartCommand" && s.path.endsWith("/mp/lib-storage.bin")).length);
  const h = await send(new S3.HeadObjectCommand({ Bucket: BUCKET, Key: "mp/lib-storage.bin" }));
  want("HEAD ContentLength and a 3-part ETag", [data.length, true], [h.ContentLength, /^"[0-9a-f]{32}-3"$/.test(h.ETag)]);
  const g = await getBytes("mp/lib-storage.bin");
  want("GET bytes of the Upload", sha(data), sha(g.body));
  // A small stream: Upload sends one PutObject.
  const small = new Upload({ client, params: { Bucket: BUCKET, Key: "mp/lib-storage-small", Body: Readable.from([Buffer.from("tiny ")]) } });
  await small.done();
  want("GET of the small Upload", "tiny ", (await getBytes("mp/lib-storage-small")).body.toString());
}

async function deleteObjects() {
  await send(new S3.DeleteObjectCommand({ Bucket: BUCKET, Key: "js/small.txt" }));
  let r = await send(new S3.ListObjectsV2Command({ Bucket: BUCKET }));
  const keys = (r.Contents || []).map((o) => o.Key);
  want("js/small.txt is gone", false, keys.includes("js/small.txt"));
  r = await send(new S3.DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: keys.map((Key) => ({ Key })) } }));
  say("DeleteObjects request:", lastRequest("DeleteObjectsCommand"));
  want("Deleted", [...keys].sort(), (r.Deleted || []).map((d) => d.Key).sort());
  want("Errors", [], r.Errors || []);
  r = await send(new S3.ListObjectsV2Command({ Bucket: BUCKET }));
  want("KeyCount", 0, r.KeyCount);
  try {
    await send(new S3.GetObjectCommand({ Bucket: BUCKET, Key: "js/buffer.bin" }));
    throw new Error("GET of a deleted key succeeded");
  } catch (e) {
    want("error of a deleted key", ["NoSuchKey", 404], [e.name, e.$metadata?.httpStatusCode]);
  }
}

async function deleteBucket() {
  // Whatever a failed known-gap step left, then the bucket.
  const r = await send(new S3.ListObjectsV2Command({ Bucket: BUCKET }));
  for (const o of r.Contents || []) await send(new S3.DeleteObjectCommand({ Bucket: BUCKET, Key: o.Key }));
  await send(new S3.DeleteBucketCommand({ Bucket: BUCKET }));
  try {
    await send(new S3.HeadBucketCommand({ Bucket: BUCKET }));
    throw new Error("the bucket is still there");
  } catch (e) {
    want("HEAD of the deleted bucket", 404, e.$metadata?.httpStatusCode);
  }
}

const STEPS = [
  ["create-bucket", createBucket],
  ["put-get", putGet],
  ["put-stream-trailer", putStreamTrailer],
  ["checksum-echo", checksumEcho],
  ["list", list],
  ["multipart-manual", multipartManual],
  ["multipart-lib-storage", multipartLibStorage],
  ["delete-objects", deleteObjects],
  ["delete-bucket", deleteBucket],
];

console.log(`   @aws-sdk/client-s3 ${versionOf("@aws-sdk/client-s3")}, @aws-sdk/lib-storage ${versionOf("@aws-sdk/lib-storage")}, node ${process.version}`);
let failed = false;
for (const [name, fn] of STEPS) {
  if (failed) {
    console.log(`@skip ${name}`);
    continue;
  }
  const t0 = BigInt(Date.now()) * 1000000n;
  log = fs.openSync(path.join(LOG_DIR, `${name}.log`), "w");
  let rc = 0;
  try {
    await fn();
  } catch (e) {
    rc = 1;
    say(`FAILED: ${e.name}: ${e.message}`);
    if (e.$metadata) say("$metadata:", e.$metadata, "$response status:", e.$response?.statusCode ?? "");
    say(e.stack || "");
  }
  fs.closeSync(log);
  log = null;
  console.log(`@step ${name} ${rc} ${t0}`);
  if (rc && !GAPS.has(`js:${name}`)) failed = true;
}
process.exitCode = failed ? 1 : 0;
