/* What the S3 client's files share (s3.c: the client, one request, the operations; s3_list.c:
 * listing; s3_multipart.c: file uploads). Nothing outside them includes this; others use s3.h.
 *
 * Threads: as s3.h says for the client; an s3_req and an s3_resp belong to the one call using them. */
#ifndef FLOE_S3_INTERNAL_H
#define FLOE_S3_INTERNAL_H

#include "buf.h"
#include "s3.h"
#include "sigv4.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define S3_POOL_MAX 32
#define S3_URL_MAX (3 * FLOE_MAX_KEY_BYTES + 3 * 1024 + 1024)
#define S3_HEADER_VALUE_MAX 256

struct s3_client {
    char *scheme_host; /* "http://127.0.0.1:7480" or "https://bucket.s3.amazonaws.com" */
    char *host_header; /* what goes in Host: and is signed */
    char *path_base;   /* "/bucket" (path style) or "" (virtual-hosted), unencoded */
    char *bucket;
    char *prefix; /* "" or "dir/" (always ends in '/') */
    char *region;
    char *access_key;
    char *secret_key;
    char *ca_file; /* NULL: system CAs */
    uint32_t timeout_ms;
    uint32_t connect_timeout_ms;
    uint32_t max_retries;

    pthread_mutex_t pool_mu; /* guards pool and pool_count */
    CURL *pool[S3_POOL_MAX];
    size_t pool_count;

    pthread_mutex_t health_mu; /* guards health_msg */
    char health_msg[512];      /* "" while healthy */

    _Atomic uint64_t requests[FLOE_COLD_OP_COUNT];
    _Atomic uint64_t errors[FLOE_COLD_OP_COUNT];
    _Atomic uint64_t retries[FLOE_COLD_OP_COUNT];
    atomic_int cancelled; /* s3_client_cancel: fail everything at once */
};

typedef enum sink_kind {
    SINK_DISCARD = 0, /* success body ignored */
    SINK_BUFFER,      /* success body kept in a malloc'd buffer up to max_body bytes */
    SINK_FIXED,       /* success body must fit the caller's buffer exactly */
} sink_kind;

/* One request: what an operation asks s3_perform to send, and where the success body goes. */
typedef struct s3_req {
    floe_cold_op op;
    const char *key; /* relative to the prefix; NULL for bucket-level requests */
    sigv4_pair query[8];
    size_t query_count;
    sigv4_pair headers[8]; /* extra signed headers: Content-MD5, Range, If-None-Match, x-amz-meta-... */
    size_t header_count;
    const void *body;
    size_t body_len;
    const char *body_sha256; /* hex; NULL for an empty body */
    sink_kind sink;
    size_t max_body; /* SINK_BUFFER: larger bodies fail with too_big */
    void *fixed_buf; /* SINK_FIXED */
    size_t fixed_len;
} s3_req;

/* What one request got back: the outcome of its last attempt, owned by the caller, who frees it with
 * s3_resp_free. */
typedef struct s3_resp {
    long status; /* 0 if no HTTP response arrived */
    CURLcode curl_rc;
    char curl_err[CURL_ERROR_SIZE];
    unsigned attempts;
    int too_big; /* the success body exceeded its cap */
    buf_t body;  /* SINK_BUFFER success body, capped at the request's max_body, owned by the resp */
    size_t fixed_got;
    char *err_body; /* non-2xx body, first S3_MAX_ERROR_BODY_BYTES */
    size_t err_len;
    char err_code[128];    /* S3 <Code>, "" if none */
    char err_message[384]; /* S3 <Message> */
    /* response headers of the last attempt */
    char etag[S3_ETAG_MAX];
    char content_range[S3_HEADER_VALUE_MAX];
    char last_modified[S3_HEADER_VALUE_MAX];
    char upload_id[64];
    char request_id[S3_HEADER_VALUE_MAX];
    uint64_t content_length;
    int have_content_length;
    const char *bad_header; /* a header above whose value was malformed or cut (static), or NULL */
    char url[S3_URL_MAX];   /* what is requested */
    char where[320];        /* url, shortened for messages */
} s3_resp;

/* Runs req with retries (a new signature per attempt). Returns 0 when a final HTTP response arrived
 * (r->status says which; the caller interprets it and calls s3_status_error or s3_note_success) or
 * FLOE_ECOLD, FLOE_ECLOSED (cancelled), FLOE_ENOMEM or FLOE_EINVAL with the message set when none
 * did. r is filled either way and freed with s3_resp_free. */
int s3_perform(s3_client *c, const s3_req *req, s3_resp *r);
void s3_resp_free(s3_resp *r);
/* 1 for a 2xx status. */
int s3_status_ok(long status);
/* Turns a final non-success response into an error with a full message (method, URL, status, S3
 * code and message, what to check), records permanent errors for health and counts the failure.
 * 404 on GET/HEAD of a key is FLOE_ENOTFOUND, everything else FLOE_ECOLD. */
int s3_status_error(s3_client *c, floe_cold_op op, const s3_resp *r);
/* Counts a failure of op that did not come from an HTTP status; returns rc. */
int s3_count_error(s3_client *c, floe_cold_op op, int rc);
/* Records that an answer proves the credentials and bucket good (clears health). */
void s3_note_success(s3_client *c, const s3_resp *r);

/* 0 if key is non-empty and fits S3's 1024 bytes with the prefix; FLOE_EINVAL naming what (the
 * operation) otherwise. */
int s3_valid_key(const s3_client *c, const char *key, const char *what);
/* Content-MD5 (base64) and the x-amz-content-sha256 value of an object or part body. */
int s3_body_digests(const void *data, size_t len, char md5_b64[25], char sha256_hex[65]);
/* bytes random bytes as 2 * bytes lowercase hex digits and a NUL in out. */
void s3_random_hex(char *out, size_t bytes);
/* An HTTP date or an ISO 8601 UTC time as Unix seconds; 0 if it is neither. */
int64_t s3_parse_time(const char *s);
/* A decimal u64, digits only: 0, or -1 (*out untouched). */
int s3_parse_u64(const char *s, uint64_t *out);

#endif
