/* The aws-chunked body decoder (see s3_chunked.h for the grammar and the signatures).
 *
 * Invariants:
 * 1. Nothing input can grow is unbounded: a size line is held in line[] (S3_CHUNKED_MAX_LINE_BYTES),
 *    the trailing headers in trailer[] (S3_CHUNKED_MAX_TRAILER_BYTES); chunk data is only hashed
 *    and handed on. Past a cap the body is refused at once.
 * 2. The decoding is a function of the bytes alone, not of how they were split: every state change
 *    happens at a byte, every check and message depends on the bytes up to it (offsets and chunk
 *    numbers, never the size of a feed). tests/fuzz/fuzz_s3_chunked.c checks this.
 * 3. A refusal is sticky and says where: the S3 code, the status and a message naming the chunk and
 *    the byte offset of what was wrong.
 * 4. A chunk's signature is checked when its last data byte arrives, before its CRLF; the final
 *    0-size chunk's at its size line; the trailer's at the blank line that ends the body. Signatures
 *    compare with CRYPTO_memcmp.
 *
 * The states, per byte:
 *
 *   SIZE_LINE --CRLF, size > 0--> DATA --size bytes--> DATA_CR --'\r'--> DATA_LF --'\n'--> SIZE_LINE
 *       |
 *       +--CRLF, size 0--> TRAILER --blank line--> DONE --any byte--> refused
 */
#include "s3_chunked.h"

#include "coding.h"
#include "error.h"
#include "sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGNATURE_PREFIX ";chunk-signature="
#define TRAILER_SIGNATURE "x-amz-trailer-signature"
#define TRAILER_NAME_MAX_BYTES 64

enum chunked_state { SIZE_LINE, DATA, DATA_CR, DATA_LF, TRAILER, DONE, FAILED };

struct s3_chunked {
    int signed_chunks; /* chunk signatures are sent and checked */
    int trailer_mode;  /* trailing headers may follow the last chunk */
    unsigned char signing_key[32];
    char amz_date[17];
    char scope[128];
    char previous_signature[65];
    char expected[S3_CHUNKED_MAX_TRAILERS][TRAILER_NAME_MAX_BYTES + 1]; /* x-amz-trailer's names */
    size_t expected_count;

    enum chunked_state state;
    uint64_t offset;      /* body bytes consumed so far */
    uint64_t line_offset; /* where the line in line[] or the current trailer line starts */
    char line[S3_CHUNKED_MAX_LINE_BYTES];
    size_t line_len;
    uint64_t chunk_number; /* 1 for the first chunk */
    uint64_t chunk_left;
    uint64_t previous_size_if_short; /* the previous chunk's size if under the minimum, else 0 */
    char chunk_signature[65];
    EVP_MD_CTX *sha256; /* the current chunk's data, in the signed modes */
    uint64_t decoded;

    char trailer[S3_CHUNKED_MAX_TRAILER_BYTES]; /* the trailing lines as received */
    size_t trailer_len;
    size_t trailer_line_start;                         /* where the line being received starts in trailer[] */
    const char *trailer_name[S3_CHUNKED_MAX_TRAILERS]; /* into trailer[], NUL-terminated in place */
    const char *trailer_value[S3_CHUNKED_MAX_TRAILERS];
    size_t trailer_count;
    char trailer_signature[65];
    int has_trailer_signature;

    int stop_rc; /* what feed returns once FAILED: -1, or emit's value */
    int http_status;
    const char *error_code;
    char message[320];
};

static int fail(s3_chunked *d, int status, const char *code, const char *fmt, ...) FLOE_PRINTF(4, 5);

/* Refuses the body (invariant 3) and returns -1. */
static int fail(s3_chunked *d, int status, const char *code, const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    snprintf(d->message, sizeof d->message, "aws-chunked body: %s", detail);
    d->http_status = status;
    d->error_code = code;
    d->state = FAILED;
    d->stop_rc = -1;
    return -1;
}

/* Copies 64 hex digits at s, lowercased, into out: 0, or -1 if they are not 64 hex digits. */
static int take_hex_signature(const char *s, size_t len, char out[65])
{
    if (len != 64)
        return -1;
    for (size_t i = 0; i < 64; i++) {
        if (hex_digit_value((unsigned char)s[i]) < 0)
            return -1;
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] + 32 : s[i]);
    }
    out[64] = '\0';
    return 0;
}

/* Checks signature, sent for what string_to_sign describes, and makes it the previous one. */
static int check_signature(s3_chunked *d, const char *string_to_sign, size_t len, const char *signature,
                           const char *what)
{
    char expected[65];
    if (sigv4_hmac_hex(d->signing_key, string_to_sign, len, expected) != 0)
        return fail(d, 500, "InternalError", "HMAC-SHA256 failed in OpenSSL checking %s", what);
    if (CRYPTO_memcmp(expected, signature, 64) != 0)
        return fail(d, 403, "SignatureDoesNotMatch",
                    "the signature of %s does not match: it is not signed with the request's key, or "
                    "the data or an earlier chunk changed",
                    what);
    memcpy(d->previous_signature, expected, sizeof expected);
    return 0;
}

/* Checks the signature of the chunk that just ended, whose data hashed to data_sha256. */
static int check_chunk_signature(s3_chunked *d, const char *data_sha256)
{
    char sts[512], what[64];
    int n = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n%s\n%s", d->amz_date, d->scope,
                     d->previous_signature, EMPTY_SHA256, data_sha256);
    snprintf(what, sizeof what, "chunk %llu", (unsigned long long)d->chunk_number);
    return check_signature(d, sts, (size_t)n, d->chunk_signature, what);
}

/* The signed modes: ends the current chunk's hash, checks its signature, starts the next hash. */
static int end_signed_chunk(s3_chunked *d)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    static const char hex[] = "0123456789abcdef";
    char data_sha256[65];
    if (EVP_DigestFinal_ex(d->sha256, md, &md_len) != 1 || md_len != 32 ||
        EVP_DigestInit_ex(d->sha256, EVP_sha256(), NULL) != 1)
        return fail(d, 500, "InternalError", "SHA-256 failed in OpenSSL in chunk %llu",
                    (unsigned long long)d->chunk_number);
    for (int i = 0; i < 32; i++) {
        data_sha256[2 * i] = hex[md[i] >> 4];
        data_sha256[2 * i + 1] = hex[md[i] & 15];
    }
    data_sha256[64] = '\0';
    return check_chunk_signature(d, data_sha256);
}

/* Reads the chunk size at the start of text (len bytes): 1..16 hex digits, at most
 * S3_CHUNKED_MAX_CHUNK_BYTES. Returns the digits read, or 0 (none, too many, too large). */
static size_t parse_size(const char *text, size_t len, uint64_t *size)
{
    uint64_t v = 0;
    size_t i = 0;
    while (i < len && hex_digit_value((unsigned char)text[i]) >= 0) {
        if (i == 16)
            return 0;
        v = v * 16 + (uint64_t)hex_digit_value((unsigned char)text[i]);
        i++;
    }
    if (i == 0 || v > S3_CHUNKED_MAX_CHUNK_BYTES)
        return 0;
    *size = v;
    return i;
}

/* Interprets the complete size line in d->line (CRLF included): the size, and its signature in the
 * signed modes; then moves to DATA, or to TRAILER for the last chunk. */
static int end_size_line(s3_chunked *d)
{
    unsigned long long at = (unsigned long long)d->line_offset, n = (unsigned long long)d->chunk_number;
    size_t len = d->line_len;
    if (len < 2 || d->line[len - 2] != '\r' || memchr(d->line, '\r', len - 2))
        return fail(d, 400, "IncompleteBody",
                    "the size line of chunk %llu (at byte %llu) does not end with CRLF", n, at);
    len -= 2;
    uint64_t size = 0;
    size_t digits = parse_size(d->line, len, &size);
    if (digits == 0)
        return fail(d, 400, "IncompleteBody",
                    "the size line of chunk %llu (at byte %llu) does not start with "
                    "a size in hex of at most 2^40 bytes",
                    n, at);
    const char *rest = d->line + digits;
    size_t rest_len = len - digits, prefix_len = strlen(SIGNATURE_PREFIX);
    if (d->signed_chunks) {
        if (rest_len < prefix_len || memcmp(rest, SIGNATURE_PREFIX, prefix_len) != 0 ||
            take_hex_signature(rest + prefix_len, rest_len - prefix_len, d->chunk_signature) != 0)
            return fail(d, 400, "IncompleteBody",
                        "the size line of chunk %llu (at byte %llu) is not "
                        "\"<hex size>;chunk-signature=<64 hex digits>\"",
                        n, at);
    } else if (rest_len != 0) {
        return fail(d, 400, "IncompleteBody",
                    "the size line of chunk %llu (at byte %llu) has more than a size in "
                    "hex (this payload mode has no chunk signatures)",
                    n, at);
    }
    if (size > 0 && d->previous_size_if_short)
        return fail(d, 400, "InvalidChunkSizeError",
                    "Only the last chunk is allowed to have a size less than %d "
                    "bytes: chunk %llu has %llu",
                    S3_CHUNKED_MIN_CHUNK_BYTES, n - 1, (unsigned long long)d->previous_size_if_short);
    d->previous_size_if_short = size < S3_CHUNKED_MIN_CHUNK_BYTES ? size : 0;
    d->chunk_left = size;
    d->line_offset = d->offset;
    if (size > 0) {
        d->state = DATA;
        return 0;
    }
    if (d->signed_chunks && check_chunk_signature(d, EMPTY_SHA256) != 0)
        return -1;
    d->state = TRAILER;
    return 0;
}

static int is_token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The name x-amz-trailer listed, or -1. */
static int expected_index(const s3_chunked *d, const char *name)
{
    for (size_t i = 0; i < d->expected_count; i++)
        if (strcmp(d->expected[i], name) == 0)
            return (int)i;
    return -1;
}

/* Takes the trailing header line at line (len bytes, CRLF excluded, inside d->trailer). Each
 * header kept is one x-amz-trailer lists, once: so at most S3_CHUNKED_MAX_TRAILERS are kept. */
static int take_trailer_line(s3_chunked *d, char *line, size_t len)
{
    unsigned long long at = (unsigned long long)d->line_offset;
    char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : 0;
    if (!colon || name_len == 0 || name_len > TRAILER_NAME_MAX_BYTES)
        return fail(d, 400, "MalformedTrailerError", "the trailing line at byte %llu is not \"name:value\"",
                    at);
    for (size_t i = 0; i < name_len; i++) {
        if (!is_token_char((unsigned char)line[i]))
            return fail(d, 400, "MalformedTrailerError",
                        "the trailing header name at byte %llu has a byte a "
                        "header name cannot hold",
                        at);
        if (line[i] >= 'A' && line[i] <= 'Z')
            line[i] = (char)(line[i] + 32);
    }
    *colon = '\0';
    char *value = colon + 1, *end = line + len;
    while (value < end && (*value == ' ' || *value == '\t'))
        value++;
    while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *end = '\0';
    if (d->has_trailer_signature)
        return fail(d, 400, "MalformedTrailerError",
                    "trailing header %s (at byte %llu) comes after "
                    "x-amz-trailer-signature, which must be last",
                    line, at);
    if (d->signed_chunks && strcmp(line, TRAILER_SIGNATURE) == 0) {
        if (take_hex_signature(value, (size_t)(end - value), d->trailer_signature) != 0)
            return fail(d, 400, "MalformedTrailerError",
                        "x-amz-trailer-signature (at byte %llu) is not 64 hex "
                        "digits",
                        at);
        d->has_trailer_signature = 1;
        return 0;
    }
    if (expected_index(d, line) < 0)
        return fail(d, 400, "MalformedTrailerError",
                    "the body has the trailing header %s (at byte %llu), which "
                    "x-amz-trailer does not list",
                    line, at);
    for (size_t i = 0; i < d->trailer_count; i++)
        if (strcmp(d->trailer_name[i], line) == 0)
            return fail(d, 400, "MalformedTrailerError",
                        "the trailing header %s is sent twice (again at byte "
                        "%llu)",
                        line, at);
    d->trailer_name[d->trailer_count] = line;
    d->trailer_value[d->trailer_count] = value;
    d->trailer_count++;
    return 0;
}

/* Checks x-amz-trailer-signature over the trailing headers, sorted by name. */
static int check_trailer_signature(s3_chunked *d)
{
    size_t order[S3_CHUNKED_MAX_TRAILERS];
    char canonical[S3_CHUNKED_MAX_TRAILER_BYTES], hash[65], sts[512];
    size_t len = 0;
    for (size_t i = 0; i < d->trailer_count; i++) {
        size_t j = i;
        while (j > 0 && strcmp(d->trailer_name[order[j - 1]], d->trailer_name[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (size_t i = 0; i < d->trailer_count; i++) {
        /* "name:value\n" is shorter than the line it came from (CRLF, spaces trimmed): it fits. */
        len += (size_t)snprintf(canonical + len, sizeof canonical - len, "%s:%s\n", d->trailer_name[order[i]],
                                d->trailer_value[order[i]]);
    }
    sigv4_sha256_hex(canonical, len, hash);
    int n = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n%s", d->amz_date, d->scope,
                     d->previous_signature, hash);
    return check_signature(d, sts, (size_t)n, d->trailer_signature, "the trailing headers");
}

/* The blank line that ends the body: every listed trailer came, and its signature checks. */
static int end_trailers(s3_chunked *d)
{
    for (size_t i = 0; i < d->expected_count; i++) {
        size_t j = 0;
        while (j < d->trailer_count && strcmp(d->trailer_name[j], d->expected[i]) != 0)
            j++;
        if (j == d->trailer_count)
            return fail(d, 400, "MalformedTrailerError",
                        "x-amz-trailer lists %s, but the body ends (at byte "
                        "%llu) without it",
                        d->expected[i], (unsigned long long)d->offset);
    }
    if (d->signed_chunks && d->trailer_mode) {
        if (!d->has_trailer_signature)
            return fail(d, 400, "MalformedTrailerError",
                        "the body ends (at byte %llu) without "
                        "x-amz-trailer-signature",
                        (unsigned long long)d->offset);
        if (check_trailer_signature(d) != 0)
            return -1;
    }
    d->state = DONE;
    return 0;
}

/* The trailer line that ends at d->trailer[d->trailer_len - 1] ('\n') is complete. */
static int end_trailer_line(s3_chunked *d)
{
    char *line = d->trailer + d->trailer_line_start;
    size_t len = d->trailer_len - d->trailer_line_start;
    unsigned long long at = (unsigned long long)d->line_offset;
    d->line_offset = d->offset;
    d->trailer_line_start = d->trailer_len;
    if (len < 2 || line[len - 2] != '\r' || memchr(line, '\r', len - 2))
        return fail(d, 400, "MalformedTrailerError", "the trailing line at byte %llu does not end with CRLF",
                    at);
    if (len == 2)
        return end_trailers(d);
    if (!d->trailer_mode)
        return fail(d, 400, "MalformedTrailerError",
                    "the body has trailing headers (at byte %llu), but its payload "
                    "mode STREAMING-AWS4-HMAC-SHA256-PAYLOAD has none; the last chunk is followed by CRLF",
                    at);
    line[len - 2] = '\0';
    return take_trailer_line(d, line, len - 2);
}

/* Consumes bytes of a size line or a trailer line from p (at most n): up to and including its '\n',
 * into buf (holding *used of cap bytes). Returns the bytes consumed, with *complete set when the
 * line ended; 0 with d refused (code, naming what) when the line would pass cap. */
static size_t take_line(s3_chunked *d, const unsigned char *p, size_t n, char *buf, size_t *used, size_t cap,
                        int *complete, const char *code, const char *what)
{
    const unsigned char *nl = memchr(p, '\n', n);
    size_t take = nl ? (size_t)(nl - p) + 1 : n;
    /* A line that has filled buf without its '\n' cannot end within cap any more. */
    if (*used + take > cap || (!nl && *used + take == cap)) {
        fail(d, 400, code, "%s starting at byte %llu passes %zu bytes", what,
             (unsigned long long)d->line_offset, cap);
        return 0;
    }
    memcpy(buf + *used, p, take);
    *used += take;
    d->offset += take;
    *complete = nl != NULL;
    return take;
}

/* Hands on data bytes of the current chunk; checks its signature at its last byte. */
static int take_data(s3_chunked *d, const unsigned char *p, size_t n, s3_chunked_emit_fn emit, void *ctx)
{
    if (d->signed_chunks && EVP_DigestUpdate(d->sha256, p, n) != 1)
        return fail(d, 500, "InternalError", "SHA-256 failed in OpenSSL in chunk %llu",
                    (unsigned long long)d->chunk_number);
    d->chunk_left -= n;
    d->decoded += n;
    d->offset += n;
    int rc = emit ? emit(ctx, p, n) : 0;
    if (rc != 0) {
        fail(d, 500, "InternalError", "the receiver of the payload stopped the body in chunk %llu (%d)",
             (unsigned long long)d->chunk_number, rc);
        d->stop_rc = rc;
        return rc;
    }
    if (d->chunk_left == 0) {
        if (d->signed_chunks && end_signed_chunk(d) != 0)
            return -1;
        d->state = DATA_CR;
    }
    return 0;
}

/* One step of the state machine at p (n > 0 bytes left): returns the bytes consumed, or 0 with
 * *rc set when the body is refused or stopped. */
static size_t step(s3_chunked *d, const unsigned char *p, size_t n, s3_chunked_emit_fn emit, void *ctx,
                   int *rc)
{
    int complete = 0;
    size_t took = 0;
    switch (d->state) {
    case SIZE_LINE:
        if (d->line_len == 0) {
            d->chunk_number++;
            d->line_offset = d->offset;
        }
        took = take_line(d, p, n, d->line, &d->line_len, sizeof d->line, &complete, "IncompleteBody",
                         "a chunk's size line");
        if (took && complete && end_size_line(d) != 0)
            took = 0;
        break;
    case DATA:
        took = n < d->chunk_left ? n : (size_t)d->chunk_left;
        if ((*rc = take_data(d, p, took, emit, ctx)) != 0)
            return 0;
        break;
    case DATA_CR:
    case DATA_LF:
        if (*p != (d->state == DATA_CR ? '\r' : '\n')) {
            fail(d, 400, "IncompleteBody",
                 "the data of chunk %llu (starting at byte %llu) is not followed by "
                 "CRLF: is its size right?",
                 (unsigned long long)d->chunk_number, (unsigned long long)d->line_offset);
            break;
        }
        d->offset++;
        took = 1;
        if (d->state == DATA_LF) {
            d->state = SIZE_LINE;
            d->line_len = 0;
        } else {
            d->state = DATA_LF;
        }
        break;
    case TRAILER:
        took = take_line(d, p, n, d->trailer, &d->trailer_len, sizeof d->trailer, &complete,
                         "MalformedTrailerError", "the trailing headers");
        if (took && complete && end_trailer_line(d) != 0)
            took = 0;
        break;
    case DONE:
        fail(d, 400, "IncompleteBody", "there are bytes after the end of the body (at byte %llu)",
             (unsigned long long)d->offset);
        break;
    case FAILED:
        break;
    }
    if (took == 0)
        *rc = d->stop_rc;
    return took;
}

int s3_chunked_feed(s3_chunked *d, const void *in, size_t len, s3_chunked_emit_fn emit, void *ctx)
{
    const unsigned char *p = in;
    if (d->state == FAILED)
        return d->stop_rc;
    while (len > 0) {
        int rc = 0;
        size_t took = step(d, p, len, emit, ctx, &rc);
        if (took == 0)
            return rc;
        p += took;
        len -= took;
    }
    return d->state == DONE ? 1 : 0;
}

int s3_chunked_finish(s3_chunked *d)
{
    if (d->state == DONE)
        return 0;
    if (d->state != FAILED)
        fail(d, 400, "IncompleteBody",
             "The request body terminated unexpectedly: it ended at byte %llu, in %s "
             "%llu",
             (unsigned long long)d->offset,
             d->state == TRAILER ? "the trailing headers after chunk" : "chunk",
             (unsigned long long)d->chunk_number);
    return -1;
}

/* Reads x-amz-trailer's comma-separated names into d->expected. */
static int parse_trailer_names(s3_chunked *d, const char *list)
{
    const char *p = list;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, ",");
        size_t name_len = n;
        while (name_len > 0 && (p[name_len - 1] == ' ' || p[name_len - 1] == '\t'))
            name_len--;
        if (d->expected_count == S3_CHUNKED_MAX_TRAILERS)
            return err_set(FLOE_EINVAL,
                           "The value specified in the x-amz-trailer header is not supported: it "
                           "lists more than %d names",
                           S3_CHUNKED_MAX_TRAILERS);
        char *name = d->expected[d->expected_count];
        if (name_len <= 15 || name_len > TRAILER_NAME_MAX_BYTES)
            return err_set(FLOE_EINVAL,
                           "The value specified in the x-amz-trailer header is not supported: "
                           "\"%.64s\" is not x-amz-checksum-<algorithm>",
                           p);
        for (size_t i = 0; i < name_len; i++) {
            unsigned char c = (unsigned char)p[i];
            if (!is_token_char(c))
                return err_set(FLOE_EINVAL,
                               "The value specified in the x-amz-trailer header is not supported: "
                               "\"%.64s\" is not a header name",
                               p);
            name[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        name[name_len] = '\0';
        if (strncmp(name, "x-amz-checksum-", 15) != 0 || expected_index(d, name) >= 0)
            return err_set(FLOE_EINVAL,
                           "The value specified in the x-amz-trailer header is not supported: "
                           "\"%s\" is not x-amz-checksum-<algorithm>, or is listed twice",
                           name);
        d->expected_count++;
        if (p[n] != ',')
            return 0;
        p += n + 1;
    }
}

int s3_chunked_create(const s3_auth_result *auth, const char *x_amz_trailer, s3_chunked **out)
{
    int rc = 0;
    s3_chunked *d = NULL;
    enum s3_payload mode = auth->payload;
    if (mode != S3_PAYLOAD_STREAMING_SIGNED && mode != S3_PAYLOAD_STREAMING_SIGNED_TRAILER &&
        mode != S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER) {
        rc = err_set(FLOE_EINVAL, "s3_chunked: the request's x-amz-content-sha256 is not a STREAMING-* mode");
        goto out;
    }
    if (!(d = calloc(1, sizeof *d))) {
        rc = err_set(FLOE_ENOMEM, "s3_chunked: out of memory");
        goto out;
    }
    d->signed_chunks = mode != S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
    d->trailer_mode = mode != S3_PAYLOAD_STREAMING_SIGNED;
    if (x_amz_trailer && !d->trailer_mode) {
        rc = err_set(FLOE_EINVAL, "The value specified in the x-amz-trailer header is not supported: "
                                  "x-amz-content-sha256 STREAMING-AWS4-HMAC-SHA256-PAYLOAD sends no trailer");
        goto out;
    }
    if (x_amz_trailer && (rc = parse_trailer_names(d, x_amz_trailer)) != 0)
        goto out;
    if (d->signed_chunks) {
        memcpy(d->signing_key, auth->signing_key, sizeof d->signing_key);
        memcpy(d->amz_date, auth->amz_date, sizeof d->amz_date);
        memcpy(d->scope, auth->scope, sizeof d->scope);
        d->amz_date[sizeof d->amz_date - 1] = d->scope[sizeof d->scope - 1] = '\0';
        if (take_hex_signature(auth->seed_signature, strnlen(auth->seed_signature, 65),
                               d->previous_signature)) {
            rc = err_set(FLOE_EINVAL, "s3_chunked: the request's seed signature is not 64 hex digits");
            goto out;
        }
        if (!(d->sha256 = EVP_MD_CTX_new()) || EVP_DigestInit_ex(d->sha256, EVP_sha256(), NULL) != 1) {
            rc = err_set(FLOE_ENOMEM, "s3_chunked: cannot start SHA-256 in OpenSSL");
            goto out;
        }
    }
    d->state = SIZE_LINE;
    *out = d;
    d = NULL;
out:
    s3_chunked_destroy(d);
    return rc;
}

const char *s3_chunked_error(const s3_chunked *d, int *http_status, const char **message)
{
    if (d->state != FAILED)
        return NULL;
    if (http_status)
        *http_status = d->http_status;
    if (message)
        *message = d->message;
    return d->error_code;
}

const char *s3_chunked_trailer(const s3_chunked *d, const char *lower_name)
{
    if (d->state != DONE)
        return NULL;
    for (size_t i = 0; i < d->trailer_count; i++)
        if (strcmp(d->trailer_name[i], lower_name) == 0)
            return d->trailer_value[i];
    return NULL;
}

uint64_t s3_chunked_decoded_bytes(const s3_chunked *d)
{
    return d->decoded;
}

void s3_chunked_destroy(s3_chunked *d)
{
    if (!d)
        return;
    EVP_MD_CTX_free(d->sha256);
    OPENSSL_cleanse(d->signing_key, sizeof d->signing_key);
    free(d);
}
