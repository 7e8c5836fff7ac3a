/* PUT /v1/objects/{key} (docs/http-api.md, "PUT"): the body is streamed into a floe_writer as it
 * arrives, so a PUT of any size up to max_object_bytes holds about one chunk (object.chunk_bytes)
 * in memory; its digests and preconditions are checked before the writer's commit makes it
 * visible, and anything else aborts the writer, which stores nothing.
 *
 * The life of a PUT: the first call (headers) checks them, evaluates the preconditions once (412
 * before the body), reserves min(Content-Length, chunk_bytes) under http.max_body_bytes_in_flight
 * and begins the writer. Each piece of body is hashed (SHA-256, when asked) and handed to
 * floe_writer_write: here on the MHD thread when it only fills the writer's buffer, or by a pool
 * thread (the connection suspended) when it may complete a chunk, which the writer then stores and
 * waits for per wal.sync. The last call hands the commit to the pool (http.c, write_object), which
 * checks the digests, then the preconditions again under the key's lock, and commits.
 *
 * Invariants:
 * 1. r->writer is used by one thread at a time: the MHD thread of the connection, or the pool thread
 *    while the connection is suspended (the queue's mutex and the resume order the two).
 * 2. Every writer begun is committed or aborted exactly once: the commit or an abort on the pool, an
 *    abort when a write fails, or http_put_release when the request ends any other way (the client
 *    went away, the server stops). So a PUT cut off stores nothing.
 * 3. No answer is queued while a body is still arriving: a refusal decided mid-body (a store error)
 *    is remembered in r->refusal and sent on the last call, after the rest of the body is read and
 *    dropped (at most HTTP_MAX_DISCARDED_BODY_BYTES; past that the connection is closed).
 * 4. The piece a pool thread writes is a copy (r->stage, capped at HTTP_MAX_STAGE_BYTES): MHD's
 *    buffer is not touched off its thread.
 */
#include "http_internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "s3api.h"

/* libmicrohttpd hands a body over in pieces no larger than its connection buffer (a few KiB past
 * http.max_header_bytes); a piece that must go to a pool thread is copied, up to this size. A
 * larger one would be written on the MHD thread. */
#define HTTP_MAX_STAGE_BYTES (1u << 20)

int http_content_type_valid(const char *ct)
{
    size_t n = strlen(ct);
    if (n == 0 || n > FLOE_MAX_CONTENT_TYPE_BYTES)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)ct[i] < 0x20 || (unsigned char)ct[i] >= 0x7f)
            return 0;
    }
    return 1;
}

enum http_put_length http_put_length_check(const char *content_length, const char *transfer_encoding,
                                           const char *expect, uint64_t max, uint64_t *len)
{
    if (!content_length || transfer_encoding)
        return HTTP_PUT_LENGTH_REQUIRED;
    if (http_parse_u64(content_length, len) != 0)
        return HTTP_PUT_LENGTH_BAD;
    if (*len > max) {
        /* A client that asked first (Expect: 100-continue) gets the answer instead of a 100 and
         * sends no body; one that just sends gets its body read and dropped first, if it is not
         * huge, so it can read the 413 rather than a reset. */
        if (!expect && *len <= HTTP_MAX_DISCARDED_BODY_BYTES)
            return HTTP_PUT_LENGTH_DISCARD;
        return HTTP_PUT_LENGTH_TOO_LARGE;
    }
    return HTTP_PUT_LENGTH_OK;
}

int http_decode_digest(const char *h, unsigned char *out, size_t n, int hex_too)
{
    size_t len = strlen(h);
    if (hex_too && len == 2 * n) {
        for (size_t i = 0; i < n; i++) {
            unsigned v;
            if (!isxdigit((unsigned char)h[2 * i]) || !isxdigit((unsigned char)h[2 * i + 1]) ||
                sscanf(h + 2 * i, "%2x", &v) != 1)
                return -1;
            out[i] = (unsigned char)v;
        }
        return 0;
    }
    size_t b64 = (n + 2) / 3 * 4, pad = b64 / 4 * 3 - n;
    if (len != b64)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)h[i];
        int ok = i >= len - pad ? ch == '=' : (isalnum(ch) || ch == '+' || ch == '/');
        if (!ok)
            return -1;
    }
    unsigned char buf[48];
    if (EVP_DecodeBlock(buf, (const unsigned char *)h, (int)len) != (int)(b64 / 4 * 3))
        return -1;
    memcpy(out, buf, n);
    return 0;
}

/* Reads the digest headers: Content-MD5 into want_md5 (checked against the writer's MD5), and
 * x-floe-checksum-sha256 into want_sha256 with a hash of the body begun. Answers 400 itself for a
 * malformed one (*ret) and returns -1 then, or on out of memory (503). */
static int read_digest_headers(http_req *r, struct MHD_Connection *c, enum MHD_Result *ret)
{
    const char *md5 = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-MD5");
    const char *sha = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-floe-checksum-sha256");
    if (md5 && http_decode_digest(md5, r->want_md5, sizeof r->want_md5, 0) < 0) {
        *ret = http_respond_error(r, c, 400, "invalid_digest",
                                  "Content-MD5 must be the base64 of a 16-byte digest");
        return -1;
    }
    r->has_want_md5 = md5 != NULL;
    if (!sha)
        return 0;
    if (http_decode_digest(sha, r->want_sha256, sizeof r->want_sha256, 1) < 0) {
        *ret = http_respond_error(r, c, 400, "invalid_digest",
                                  "x-floe-checksum-sha256 must be the base64 (or hex) of a 32-byte digest");
        return -1;
    }
    if (!(r->sha256_ctx = EVP_MD_CTX_new()) || EVP_DigestInit_ex(r->sha256_ctx, EVP_sha256(), NULL) != 1) {
        *ret = http_respond_error(r, c, 503, "out_of_memory", "cannot start the x-floe-checksum-sha256 hash");
        return -1;
    }
    return 0;
}

/* Collects the x-floe-meta-* headers into r->user_meta; stops at the first that cannot be stored. */
struct meta_ctx {
    http_req *r;
    enum http_meta_result bad;
    char bad_name[80];
};

static enum MHD_Result collect_meta(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct meta_ctx *m = cls;
    enum http_meta_result res =
        http_meta_add(m->r->user_meta, HTTP_MAX_USER_META_BYTES, &m->r->user_meta_len, key, value);
    if (res == HTTP_META_NOT_META || res == HTTP_META_ADDED)
        return MHD_YES;
    m->bad = res;
    snprintf(m->bad_name, sizeof m->bad_name, "%s", key);
    return MHD_NO;
}

/* Reads the user metadata headers; answers 400 itself (*ret) and returns -1 for one that cannot be
 * stored. */
static int read_user_meta(http_req *r, struct MHD_Connection *c, enum MHD_Result *ret)
{
    struct meta_ctx m = {.r = r};
    r->user_meta_len = 0;
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_meta, &m);
    switch (m.bad) {
    case HTTP_META_NOT_META:
    case HTTP_META_ADDED:
        return 0;
    case HTTP_META_BAD_NAME:
        *ret = http_respond_error(r, c, 400, "invalid_metadata",
                                  "%s: a metadata header needs a name of token characters after x-floe-meta-",
                                  m.bad_name);
        break;
    case HTTP_META_BAD_VALUE:
        *ret = http_respond_error(r, c, 400, "invalid_metadata",
                                  "%s: a metadata value must be non-empty and have no control characters",
                                  m.bad_name);
        break;
    case HTTP_META_REPEATED:
        *ret = http_respond_error(r, c, 400, "invalid_metadata", "%s is sent twice: send each name once",
                                  m.bad_name);
        break;
    case HTTP_META_TOO_LARGE:
    default:
        *ret = http_respond_error(r, c, 400, "metadata_too_large",
                                  "the x-floe-meta-* headers take more than %d bytes (each name and value "
                                  "counts its length plus one), at %s",
                                  HTTP_MAX_USER_META_BYTES, m.bad_name);
        break;
    }
    return -1;
}

/* Checks Content-Type, the digest and metadata headers and Content-Length. Answers the request
 * itself and returns 0 when they refuse it; 1 when the PUT may go on, with *len its length. */
static int check_put_headers(http_req *r, struct MHD_Connection *c, uint64_t *len, enum MHD_Result *ret)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct) {
        size_t n = strlen(ct);
        if (n == 0 || n > FLOE_MAX_CONTENT_TYPE_BYTES) {
            *ret = http_respond_error(r, c, 400, "invalid_content_type", "Content-Type must be 1..%d bytes",
                                      FLOE_MAX_CONTENT_TYPE_BYTES);
            return 0;
        }
        if (!http_content_type_valid(ct)) {
            *ret =
                http_respond_error(r, c, 400, "invalid_content_type", "Content-Type must be printable ASCII");
            return 0;
        }
        memcpy(r->content_type, ct, n + 1);
        r->has_content_type = 1;
    }
    if (read_digest_headers(r, c, ret) < 0 || read_user_meta(r, c, ret) < 0)
        return 0;
    uint64_t max = r->srv->cfg->options.max_object_bytes;
    switch (http_put_length_check(
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH),
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING),
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT), max, len)) {
    case HTTP_PUT_LENGTH_OK:
        return 1;
    case HTTP_PUT_LENGTH_REQUIRED:
        *ret = http_respond_error(r, c, 411, "length_required",
                                  "PUT needs a Content-Length header (chunked uploads are not accepted)");
        return 0;
    case HTTP_PUT_LENGTH_BAD:
        *ret = http_respond_error(r, c, 400, "bad_request", "Content-Length is not a decimal number");
        return 0;
    case HTTP_PUT_LENGTH_DISCARD:
        r->refusal = PUT_REFUSE_TOO_LARGE;
        r->body_expected = *len;
        *ret = MHD_YES; /* read and drop the body, then 413 */
        return 0;
    case HTTP_PUT_LENGTH_TOO_LARGE:
    default:
        *ret =
            http_respond_error(r, c, 413, "too_large",
                               "the body of %" PRIu64 " bytes exceeds max_object_bytes %" PRIu64, *len, max);
        return 0;
    }
}

/* The preconditions, before the body: a PUT that would be refused is refused without reading it
 * (412 now when the client asked first with Expect: 100-continue or the body is too large to drop,
 * else once the body is read and dropped). They are checked again with the commit. Returns 1 when
 * the PUT may go on; 0 when it was answered or will be (*ret). */
static int check_preconditions_early(http_req *r, struct MHD_Connection *c, enum MHD_Result *ret)
{
    int rc = http_write_preconditions(r);
    if (rc == 0)
        return 1;
    if (rc < 0) {
        *ret = http_respond_floe_error(r, c, rc);
        return 0;
    }
    const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    if (expect || r->body_expected > HTTP_MAX_DISCARDED_BODY_BYTES) {
        *ret = http_respond_precondition_failed(r, c);
        return 0;
    }
    r->refusal = PUT_REFUSE_PRECONDITION;
    *ret = MHD_YES;
    return 0;
}

/* Reserves what this PUT will hold (the writer's buffer: the body, or one chunk of it) under
 * http.max_body_bytes_in_flight. One PUT alone always fits, so no setting of the cap can make every
 * PUT fail. 1 when reserved; 0 when answered 503 (*ret). */
static int reserve_body(http_req *r, struct MHD_Connection *c, enum MHD_Result *ret)
{
    http_server *s = r->srv;
    uint64_t chunk = s->cfg->options.object.chunk_bytes;
    uint64_t hold = r->body_expected < chunk ? r->body_expected : chunk;
    uint64_t cap = s->cfg->http.max_body_bytes_in_flight;
    uint64_t prev = atomic_fetch_add(&s->body_bytes_reserved, hold);
    if (prev > 0 && hold > 0 && prev + hold > cap) {
        atomic_fetch_sub(&s->body_bytes_reserved, hold);
        size_t elen = 0;
        struct MHD_Response *resp =
            http_error_response(r, "busy", &elen,
                                "too many uploads in flight (%" PRIu64
                                " bytes buffered, http.max_body_bytes_in_flight %" PRIu64 "): retry soon",
                                prev, cap);
        if (resp)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
        *ret = http_queue(r, c, 503, resp, elen);
        return 0;
    }
    r->body_reserved = hold;
    return 1;
}

enum MHD_Result http_begin_put(http_req *r, struct MHD_Connection *c)
{
    enum MHD_Result ret = MHD_NO;
    uint64_t len = 0;
    if (!check_put_headers(r, c, &len, &ret))
        return ret;
    r->body_expected = len;
    return http_put_start(r, c);
}

enum MHD_Result http_put_start(http_req *r, struct MHD_Connection *c)
{
    http_server *s = r->srv;
    enum MHD_Result ret = MHD_NO;
    if (!check_preconditions_early(r, c, &ret) || !reserve_body(r, c, &ret))
        return ret;
    floe_object_meta meta = {.content_type = r->has_content_type ? r->content_type : NULL,
                             .user_meta = r->user_meta_len ? r->user_meta : NULL,
                             .user_meta_len = r->user_meta_len};
    int rc = floe_writer_begin(s->db, r->key, r->key_len, &meta, &r->writer);
    if (rc != 0) {
        r->writer = NULL;
        return http_respond_floe_error(r, c, rc);
    }
    r->body_len = 0;
    r->body_start_ns = clock_now_ns();
    return MHD_YES; /* no response yet: MHD reads the body (sending 100 Continue if asked) */
}

/* A write of the body failed (rc, with this thread's floe_last_error): the writer is aborted and the
 * PUT will be answered with the error once its body has been read and dropped. */
static void put_failed(http_req *r, int rc)
{
    r->work_rc = rc;
    snprintf(r->work_error, sizeof r->work_error, "%s", floe_last_error());
    floe_writer_abort(r->writer);
    r->writer = NULL;
    r->refusal = PUT_REFUSE_STORE;
}

/* 1 if writing n more bytes makes the writer store a chunk (and wait for the WAL): it stores a full
 * buffer of chunk_bytes when more bytes come, so a write stores one when a multiple m of chunk_bytes
 * (m > 0) lies in [bytes so far, bytes after). Were the writer to store chunks at other moments,
 * such a write would only wait on the MHD thread: slower, never wrong. */
static int may_fill_chunk(const http_req *r, size_t n)
{
    uint64_t chunk = r->srv->cfg->options.object.chunk_bytes;
    uint64_t before = r->body_len, after = r->body_len + n;
    if (chunk == 0 || n == 0)
        return n > 0;
    uint64_t next_full = before == 0 ? chunk : (before + chunk - 1) / chunk * chunk;
    return next_full < after;
}

int http_put_write_piece(http_req *r)
{
    int rc = floe_writer_write(r->writer, r->stage, r->stage_len);
    if (rc != 0)
        put_failed(r, rc);
    r->stage_len = 0;
    return rc;
}

/* Hands the piece to a pool thread. 0, or -1 when no stage buffer could be had (then the caller
 * writes it here). */
static int write_piece_in_pool(http_req *r, struct MHD_Connection *c, const char *data, size_t n)
{
    if (n > HTTP_MAX_STAGE_BYTES)
        return -1;
    if (r->stage_cap < n) {
        char *p = realloc(r->stage, n);
        if (!p)
            return -1;
        r->stage = p;
        r->stage_cap = n;
    }
    memcpy(r->stage, data, n);
    r->stage_len = n;
    http_start_work(r, c, WORK_PUT_PIECE);
    return 0;
}

/* 1 if the upload's average rate has fallen below http.min_body_bytes_per_s after the grace period. */
static int too_slow(http_req *r)
{
    http_server *s = r->srv;
    uint32_t floor = s->cfg->http.min_body_bytes_per_s;
    if (floor == 0 || r->body_len >= r->body_expected)
        return 0;
    uint64_t elapsed = clock_now_ns() - r->body_start_ns;
    uint64_t grace = (uint64_t)s->cfg->http.body_grace_s * 1000000000ull;
    if (elapsed <= grace || (double)r->body_len * 1e9 / (double)elapsed >= (double)floor)
        return 0;
    atomic_fetch_add(&s->uploads_too_slow, 1);
    http_log(s, 1, "http: closing an upload that sends %.0f bytes/s, below http.min_body_bytes_per_s %u",
             (double)r->body_len * 1e9 / (double)elapsed, floor);
    return 1;
}

enum MHD_Result http_receive_body(http_req *r, struct MHD_Connection *c, const char *data, size_t *size)
{
    size_t n = *size;
    *size = 0;
    if (!r->writer || n > r->body_expected - r->body_len)
        return MHD_NO; /* MHD enforces Content-Length, so this is a request we did not set up */
    if (r->sha256_ctx && EVP_DigestUpdate(r->sha256_ctx, data, n) != 1)
        return MHD_NO;
    atomic_fetch_add_explicit(&r->srv->bytes_in, n, memory_order_relaxed);
    int fills = may_fill_chunk(r, n);
    r->body_len += n;
    if (too_slow(r))
        return MHD_NO; /* before any hand-over: the pool must never hold a request MHD closes */
    if (fills && write_piece_in_pool(r, c, data, n) == 0)
        return MHD_YES;
    int rc = floe_writer_write(r->writer, data, n);
    if (rc != 0)
        put_failed(r, rc);
    return MHD_YES;
}

/* The answer to a PUT refused while its body arrived (r->refusal), now that it has. */
static enum MHD_Result respond_refusal(http_req *r, struct MHD_Connection *c)
{
    switch (r->refusal) {
    case PUT_REFUSE_TOO_LARGE:
        return http_respond_error(r, c, 413, "too_large",
                                  "the body of %" PRIu64 " bytes exceeds max_object_bytes %" PRIu64,
                                  r->body_expected, r->srv->cfg->options.max_object_bytes);
    case PUT_REFUSE_PRECONDITION:
        return http_respond_precondition_failed(r, c);
    case PUT_REFUSE_STORE:
    default:
        return http_respond_floe_error_msg(r, c, r->work_rc, r->work_error);
    }
}

enum MHD_Result http_finish_put(http_req *r, struct MHD_Connection *c)
{
    if (r->refusal != PUT_REFUSE_NONE)
        return respond_refusal(r, c);
    if (!r->writer || r->body_len != r->body_expected)
        return http_respond_error(r, c, 400, "bad_request",
                                  "the body has %" PRIu64 " bytes, Content-Length said %" PRIu64, r->body_len,
                                  r->body_expected);
    return http_start_work(r, c, WORK_PUT);
}

int http_put_check_digests(http_req *r)
{
    unsigned char md5[16];
    floe_writer_md5(r->writer, md5);
    if (r->has_want_md5 && CRYPTO_memcmp(md5, r->want_md5, sizeof md5) != 0)
        r->digest_failed = 1;
    if (!r->digest_failed && r->sha256_ctx) {
        unsigned char got[EVP_MAX_MD_SIZE];
        unsigned int got_len = 0;
        if (EVP_DigestFinal_ex(r->sha256_ctx, got, &got_len) != 1 || got_len != sizeof r->want_sha256 ||
            CRYPTO_memcmp(got, r->want_sha256, got_len) != 0)
            r->digest_failed = 2;
    }
    if (!r->digest_failed && r->s3)
        r->digest_failed = s3_check_digests(r); /* x-amz-content-sha256 and x-amz-checksum-* */
    if (r->digest_failed) {
        floe_writer_abort(r->writer);
        r->writer = NULL;
        return 1;
    }
    memcpy(r->work_md5, md5, sizeof md5);
    return 0;
}

int http_put_release(http_req *r)
{
    http_server *s = r->srv;
    int aborted = r->writer != NULL;
    floe_writer_abort(r->writer);
    r->writer = NULL;
    free(r->stage);
    r->stage = NULL;
    r->stage_cap = r->stage_len = 0;
    EVP_MD_CTX_free(r->sha256_ctx);
    r->sha256_ctx = NULL;
    if (r->body_reserved)
        atomic_fetch_sub(&s->body_bytes_reserved, r->body_reserved);
    r->body_reserved = 0;
    return aborted;
}
