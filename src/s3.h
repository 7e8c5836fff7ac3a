/* The S3 client: SigV4-signed requests over libcurl (OpenSSL) to AWS S3 or any S3-compatible store
 * (Ceph RGW, MinIO, R2), path-style or virtual-hosted, any region. It retries what S3 says may
 * succeed on retry (500, 502, 503/SlowDown, 504, RequestTimeout, connection errors and timeouts)
 * with exponential backoff and full jitter, counts every outcome per operation, and remembers
 * permanent errors (bad credentials, missing bucket) for health.
 *
 * Keys given to these functions are relative to the configured prefix and are opaque bytes (UTF-8,
 * spaces, '+', '=', '%' all work); they are percent-encoded per segment on the wire.
 *
 * Threads: an s3_client may be used by any number of threads at once (each request in flight takes
 * its own curl handle from a pool), except s3_client_destroy, which must be the last call. */
#ifndef FLOE_S3_H
#define FLOE_S3_H

#include "floe.h"

#include <stddef.h>
#include <stdint.h>

/* s3_put with if_none_match: the key already exists (and was not written by an earlier attempt of
 * this same call). A positive value, distinct from every FLOE_E* code. */
#define S3_EXISTS 1

/* Size of an ETag buffer, NUL included. */
#define S3_ETAG_MAX 128
/* S3's smallest part (except the last) and most parts in one multipart upload. */
#define S3_MIN_PART_BYTES (5ull * 1024 * 1024)
#define S3_MAX_PARTS 10000
/* Caps on what a response may make the client hold. */
#define S3_MAX_ERROR_BODY_BYTES (64 * 1024)
#define S3_MAX_LIST_PAGE_BYTES (16 * 1024 * 1024)
#define S3_MAX_SMALL_BODY_BYTES (1024 * 1024) /* create/complete multipart answers */
/* Backoff between attempts: a uniformly random delay in [0, min(cap, base * 2^retry)). */
#define S3_BACKOFF_BASE_MS 50
#define S3_BACKOFF_CAP_MS 5000

/* Connection settings. Strings are borrowed: s3_client_create copies what it keeps. */
typedef struct s3_config {
    /* "http://127.0.0.1:7480" or "https://s3.eu-west-1.amazonaws.com": scheme and host[:port]
     * only, no path. */
    const char *endpoint;
    const char *bucket;
    /* Key prefix inside the bucket, "" or NULL for none. Keys become "<prefix>/<key>" (a trailing
     * '/' on prefix is not doubled). */
    const char *prefix;
    const char *region;     /* NULL: $AWS_REGION, else "us-east-1" */
    int path_style;         /* 1: endpoint/bucket/key; 0: bucket.endpoint-host/key */
    const char *ca_file;    /* PEM bundle for HTTPS; NULL: the system's CAs */
    const char *access_key; /* NULL: $AWS_ACCESS_KEY_ID */
    const char *secret_key; /* NULL: $AWS_SECRET_ACCESS_KEY */
    uint32_t timeout_ms;    /* whole-request limit for one attempt; 0: 30000 */
    uint32_t max_retries;   /* attempts after the first; 0: none (floe's config default is 8) */
} s3_config;

typedef struct s3_client s3_client;

/* Checks cfg (endpoint syntax, bucket name, credentials present) and creates a client; no request
 * is sent. *out is freed with s3_client_destroy. Errors: FLOE_EINVAL naming the bad field (a
 * missing key says which environment variable would supply it), FLOE_ENOMEM, FLOE_ECOLD (libcurl
 * failed to initialise). */
int s3_client_create(const s3_config *cfg, s3_client **out);
void s3_client_destroy(s3_client *c);

/* Makes every request in flight, and every later one, fail at once with FLOE_ECLOSED ("cancelled"):
 * for closing a store whose uploads would otherwise wait out their timeouts and retries. Safe from
 * any thread; cannot be undone. */
void s3_client_cancel(s3_client *c);

/* Creates the configured bucket (for tests and tools), in the configured region (a
 * LocationConstraint unless it is us-east-1). Succeeds if it already exists and is ours. Errors:
 * FLOE_ECOLD (e.g. BucketAlreadyExists: another account owns the name). */
int s3_create_bucket(s3_client *c);

/* Stores len bytes at key, with Content-MD5 so the store verifies what it received and a unique
 * x-amz-meta-floe-upload-id. With if_none_match the PUT carries If-None-Match: * and returns
 * S3_EXISTS if key exists; on that 412 a HEAD checks whether the object carries this call's upload
 * id (an earlier sending whose answer was lost to a timeout or a dropped connection), and if so the
 * call succeeds. Returns 0 or S3_EXISTS; errors: FLOE_ECOLD (message: method, URL, status, S3 code
 * and message, what to check). */
int s3_put(s3_client *c, const char *key, const void *data, size_t len, int if_none_match);

/* Uploads the file at path to key: one PUT if it has at most part_bytes, else a multipart upload in
 * parts of part_bytes (grown if the file would need more than S3_MAX_PARTS), each with Content-MD5;
 * any failure aborts the multipart upload. part_bytes must be at least S3_MIN_PART_BYTES. The file
 * must not change during the call. Errors: FLOE_EINVAL, FLOE_EIO (reading path), FLOE_ENOMEM (one
 * part's buffer), FLOE_ECOLD. */
int s3_put_file(s3_client *c, const char *key, const char *path, uint64_t part_bytes);

/* Reads exactly len bytes of key starting at offset into buf (a ranged GET). Errors:
 * FLOE_ENOTFOUND (no such key), FLOE_ERANGE (the object ends before offset + len; the message gives
 * its size), FLOE_ECOLD. buf's contents are unspecified on failure. */
int s3_get_range(s3_client *c, const char *key, uint64_t offset, void *buf, size_t len);

/* Reads the whole object. On success *data is malloc'd (NUL-terminated one byte past *len) and
 * owned by the caller. Errors: FLOE_ENOTFOUND, FLOE_ETOOBIG (larger than max_len bytes),
 * FLOE_ENOMEM, FLOE_ECOLD. */
int s3_get(s3_client *c, const char *key, void **data, size_t *len, size_t max_len);

typedef struct s3_object_info {
    uint64_t size;
    int64_t mtime_unix_s;
    char etag[S3_ETAG_MAX]; /* without the quotes; "<md5 hex>" or "<hex>-<parts>" */
    char upload_id[64];     /* x-amz-meta-floe-upload-id, "" if absent */
} s3_object_info;

/* Reads key's metadata. Errors: FLOE_ENOTFOUND, FLOE_ECOLD. */
int s3_head(s3_client *c, const char *key, s3_object_info *out);

/* Deletes key. Deleting a missing key succeeds (S3 semantics). Errors: FLOE_ECOLD. */
int s3_delete(s3_client *c, const char *key);

/* Called by s3_list for each key in key order. key is relative to the configured prefix and valid
 * only during the call. Return 0 to go on; anything else stops the listing and s3_list returns it. */
typedef int (*s3_list_fn)(void *ctx, const char *key, uint64_t size, int64_t mtime_unix_s);

/* Lists every key starting with prefix (relative to the configured prefix; "" lists all), following
 * continuation tokens through every page. page_keys is max-keys per request (0: 1000, at most
 * 1000). Errors: FLOE_ECOLD (including a page over S3_MAX_LIST_PAGE_BYTES or that does not parse),
 * or fn's non-zero value. */
int s3_list(s3_client *c, const char *prefix, uint32_t page_keys, s3_list_fn fn, void *ctx);
/* s3_list of only the keys after start_after (relative to the configured prefix, like the keys;
 * NULL for all), sent as ListObjectsV2's start-after on the first request. */
int s3_list_after(s3_client *c, const char *prefix, const char *start_after, uint32_t page_keys, s3_list_fn fn,
                  void *ctx);

/* Copies the counters: for each floe_cold_op, HTTP requests sent (every attempt), calls that failed
 * (404 on GET/HEAD and S3_EXISTS are answers, not errors), and attempts that were retries. Any
 * array may be NULL. */
void s3_get_counters(s3_client *c, uint64_t requests[FLOE_COLD_OP_COUNT], uint64_t errors[FLOE_COLD_OP_COUNT],
                     uint64_t retries[FLOE_COLD_OP_COUNT]);

/* 0 if no permanent error is outstanding; else FLOE_ECOLD with the message of the last permanent
 * error (bad access key or signature, access denied, missing bucket, wrong region, skewed clock)
 * copied into msg (cap bytes, NUL-terminated). A later successful request clears it. */
int s3_health(s3_client *c, char *msg, size_t cap);

/* The delay before retry number `retry` (0 for the first retry): uniform in
 * [0, min(cap_ms, base_ms << retry)). Thread-safe; uses a per-thread generator. */
uint32_t s3_backoff_ms(unsigned retry, uint32_t base_ms, uint32_t cap_ms);

#endif
