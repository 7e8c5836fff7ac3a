/* Fuzzes the aws-chunked body decoder (src/server/s3_chunked.c). Outside bytes: the body of an S3
 * PUT sent with Content-Encoding: aws-chunked, in any of its three payload modes. The input is
 *   byte 0: bits 0-1 the mode (0 signed, 1 signed with trailer, 2 unsigned with trailer, 3 the
 *           same as 2), bits 2-3 the x-amz-trailer header (none, crc32, crc32 and sha256, crc32c;
 *           none in mode 0), bit 4 "build", bit 5 "corrupt";
 *   byte 1: the seed of the random split;
 *   bytes 2-3 (build only): where to corrupt;
 *   the rest: the body as sent or, with "build", the payload of a body the harness makes itself in
 *   that mode, signed with the request's key (so that mutations get past the signatures) and, with
 *   "corrupt", then has one byte flipped.
 * Each body is decoded whole, in random pieces and (up to 64 KiB) one byte at a time.
 *
 * Asserts: no memory error or undefined behaviour; every split gives the same result, error code,
 * status and message, the same payload bytes, the same decoded count and the same trailers (the
 * decoding depends on the bytes only, s3_chunked.c invariant 2); the payload handed on is exactly
 * s3_chunked_decoded_bytes long; a refusal has a code, a 400/403/500 status and a message; after 1
 * finish succeeds and after 0 it fails as IncompleteBody; a body the harness built is decoded to its
 * payload with its trailers, and one with a flipped byte is never decoded to other bytes than it
 * had with nothing said. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floe.h"
#include "fuzz_common.h"
#include "s3_chunked.h"
#include "sigv4.h"

#define AMZ_DATE "20250314T150926Z"
#define SCOPE "20250314/us-east-1/s3/aws4_request"
#define SEED_SIGNATURE "0b8f7478b718d23024ff5330e1375f64a1b8c485f9c6f24c6ec7f793cb29adf2"
#define BYTE_AT_A_TIME_MAX 65536

static const char *const trailer_headers[] = {
    NULL, "x-amz-checksum-crc32", "x-amz-checksum-crc32,x-amz-checksum-sha256", "x-amz-checksum-crc32c"};
static const char *const trailer_lines[][2] = {
    {NULL, NULL},
    {"x-amz-checksum-crc32:AAAAAA==", NULL},
    {"x-amz-checksum-crc32:AAAAAA==", "x-amz-checksum-sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
    {"x-amz-checksum-crc32c:AAAAAA==", NULL},
};

static const s3_auth_result *auth_for(enum s3_payload mode)
{
    static s3_auth_result auth;
    static int ready;
    if (!ready) {
        FUZZ_CHECK(sigv4_signing_key("fuzz secret", "20250314", "us-east-1", "s3", auth.signing_key) == 0);
        memcpy(auth.seed_signature, SEED_SIGNATURE, 65);
        memcpy(auth.amz_date, AMZ_DATE, 17);
        snprintf(auth.scope, sizeof auth.scope, "%s", SCOPE);
        ready = 1;
    }
    auth.payload = mode;
    return &auth;
}

typedef struct bytes {
    unsigned char *p;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
        FUZZ_CHECK(b->p != NULL);
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static int collect(void *ctx, const void *p, size_t n)
{
    put(ctx, p, n);
    return 0;
}

/* What one decoding came to. */
typedef struct outcome {
    int rc, finish_rc, status;
    const char *code;
    char message[400];
    uint64_t decoded;
    bytes payload;
    char trailers[2][128];
} outcome;

static void decode(const s3_auth_result *auth, const char *trailer, const unsigned char *body, size_t len,
                   int split, uint8_t seed, outcome *o)
{
    s3_chunked *d = NULL;
    memset(o, 0, sizeof *o);
    FUZZ_CHECK(s3_chunked_create(auth, trailer, &d) == 0);
    uint64_t rng = 0x9e3779b97f4a7c15ULL ^ seed;
    size_t at = 0;
    int rc = 0;
    do {
        size_t n = len - at;
        if (split == 1 && n > 0) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            n = 1 + (size_t)(rng % (n < 300 ? n : 300));
        } else if (split == 2 && n > 0) {
            n = 1;
        }
        rc = s3_chunked_feed(d, body + at, n, collect, &o->payload);
        FUZZ_CHECK(rc == 0 || rc == 1 || rc == -1);
        at += n;
    } while (rc >= 0 && at < len);
    o->rc = rc;
    o->decoded = s3_chunked_decoded_bytes(d);
    FUZZ_CHECK(o->decoded == o->payload.len);
    for (int i = 0; i < 2; i++) {
        const char *name = i == 0 ? "x-amz-checksum-crc32" : "x-amz-checksum-sha256";
        const char *v = s3_chunked_trailer(d, name);
        FUZZ_CHECK(v == NULL || rc == 1);
        snprintf(o->trailers[i], sizeof o->trailers[i], "%s", v ? v : "(none)");
    }
    const char *msg = NULL;
    o->code = s3_chunked_error(d, &o->status, &msg);
    FUZZ_CHECK((o->code != NULL) == (rc == -1));
    if (o->code) {
        FUZZ_CHECK(o->status == 400 || o->status == 403 || o->status == 500);
        FUZZ_CHECK(msg != NULL && msg[0] != '\0');
        snprintf(o->message, sizeof o->message, "%s", msg);
    }
    o->finish_rc = s3_chunked_finish(d);
    FUZZ_CHECK(o->finish_rc == (rc == 1 ? 0 : -1));
    if (rc == 0)
        FUZZ_CHECK(strcmp(s3_chunked_error(d, NULL, NULL), "IncompleteBody") == 0);
    s3_chunked_destroy(d);
}

static void check_same(const outcome *a, const outcome *b)
{
    FUZZ_CHECK(a->rc == b->rc && a->finish_rc == b->finish_rc && a->status == b->status);
    FUZZ_CHECK((a->code == NULL) == (b->code == NULL));
    FUZZ_CHECK(a->code == NULL || strcmp(a->code, b->code) == 0);
    FUZZ_CHECK(strcmp(a->message, b->message) == 0);
    FUZZ_CHECK(a->decoded == b->decoded && a->payload.len == b->payload.len);
    FUZZ_CHECK(a->payload.len == 0 || memcmp(a->payload.p, b->payload.p, a->payload.len) == 0);
    FUZZ_CHECK(strcmp(a->trailers[0], b->trailers[0]) == 0 && strcmp(a->trailers[1], b->trailers[1]) == 0);
}

/* Builds a correct body of payload in the given mode: chunks of 8192 bytes and a shorter last
 * one, the trailers x-amz-trailer lists, the signatures under auth's key. */
static void build(const s3_auth_result *auth, int trailer_index, const unsigned char *payload, size_t len,
                  bytes *b)
{
    int signed_chunks = auth->payload != S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
    int trailer_mode = auth->payload != S3_PAYLOAD_STREAMING_SIGNED;
    char prev[65], sig[65], hash[65], sts[512], line[128];
    memcpy(prev, auth->seed_signature, 65);
    size_t at = 0;
    for (;;) {
        size_t n = len - at > 8192 ? 8192 : len - at;
        if (signed_chunks) {
            sigv4_sha256_hex(payload + at, n, hash);
            int sl = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n%s\n%s", auth->amz_date,
                              auth->scope, prev,
                              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hash);
            FUZZ_CHECK(sigv4_hmac_hex(auth->signing_key, sts, (size_t)sl, sig) == 0);
            memcpy(prev, sig, 65);
            snprintf(line, sizeof line, "%zx;chunk-signature=%s\r\n", n, sig);
        } else {
            snprintf(line, sizeof line, "%zx\r\n", n);
        }
        put(b, line, strlen(line));
        if (n == 0)
            break;
        put(b, payload + at, n);
        put(b, "\r\n", 2);
        at += n;
    }
    char canonical[256] = "";
    for (int i = 0; i < 2 && trailer_lines[trailer_index][i]; i++) {
        const char *t = trailer_lines[trailer_index][i];
        put(b, t, strlen(t));
        put(b, "\r\n", 2);
        strcat(canonical, t);
        strcat(canonical, "\n");
    }
    if (signed_chunks && trailer_mode) {
        sigv4_sha256_hex(canonical, strlen(canonical), hash);
        int sl = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n%s", auth->amz_date,
                          auth->scope, prev, hash);
        FUZZ_CHECK(sigv4_hmac_hex(auth->signing_key, sts, (size_t)sl, sig) == 0);
        snprintf(line, sizeof line, "x-amz-trailer-signature:%s\r\n", sig);
        put(b, line, strlen(line));
    }
    put(b, "\r\n", 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const enum s3_payload modes[] = {S3_PAYLOAD_STREAMING_SIGNED, S3_PAYLOAD_STREAMING_SIGNED_TRAILER,
                                            S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER,
                                            S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER};
    uint8_t flags = data[0], seed = data[1];
    const s3_auth_result *auth = auth_for(modes[flags & 3]);
    int trailer_index = auth->payload == S3_PAYLOAD_STREAMING_SIGNED ? 0 : (flags >> 2) & 3;
    int building = (flags >> 4) & 1, corrupt = (flags >> 5) & 1;
    size_t corrupt_at = 0;
    bytes built = {0};
    const unsigned char *body = data + 2;
    size_t len = size - 2;
    if (building) {
        if (len < 2)
            return 0;
        corrupt_at = (size_t)data[2] << 8 | data[3];
        build(auth, trailer_index, data + 4, len - 2, &built);
        if (corrupt)
            built.p[corrupt_at % built.len] ^= (uint8_t)(1u << (seed & 7));
        body = built.p;
        len = built.len;
    }
    const char *trailer = trailer_headers[trailer_index];

    outcome whole, pieces, bytewise;
    decode(auth, trailer, body, len, 0, seed, &whole);
    decode(auth, trailer, body, len, 1, seed, &pieces);
    check_same(&whole, &pieces);
    if (len <= BYTE_AT_A_TIME_MAX) {
        decode(auth, trailer, body, len, 2, seed, &bytewise);
        check_same(&whole, &bytewise);
        free(bytewise.payload.p);
    }
    if (building) {
        const unsigned char *payload = data + 4;
        size_t payload_len = size - 4;
        if (!corrupt) {
            FUZZ_CHECK(whole.rc == 1);
            FUZZ_CHECK(whole.payload.len == payload_len &&
                       (payload_len == 0 || memcmp(whole.payload.p, payload, payload_len) == 0));
            if (trailer_index == 1 || trailer_index == 2)
                FUZZ_CHECK(strcmp(whole.trailers[0], "AAAAAA==") == 0);
        } else if (whole.rc == 1 && auth->payload != S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER) {
            /* A signed body with a byte flipped may still decode (a flipped case in a hex size or a
             * signature digit, a space trimmed), but never to other payload bytes. */
            FUZZ_CHECK(whole.payload.len == payload_len &&
                       (payload_len == 0 || memcmp(whole.payload.p, payload, payload_len) == 0));
        }
    }
    free(whole.payload.p);
    free(pieces.payload.p);
    free(built.p);
    return 0;
}
