/* Decodes a request body sent with Content-Encoding: aws-chunked, in the three streaming modes of
 * s3_auth.h, as its bytes arrive: the payload goes to a callback as soon as it is read, each chunk's
 * signature is checked when the chunk ends (hashing as the bytes pass, never holding a chunk), and
 * the trailing headers and their signature when the body ends.
 *
 * The body after HTTP's own transfer decoding (AWS, "Transferring Payload in Multiple Chunks" and
 * "Including Trailing Headers"; HEX is the chunk's size in hex, SIG 64 hex digits):
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD:
 *     (HEX ";chunk-signature=" SIG CRLF DATA CRLF)*  "0;chunk-signature=" SIG CRLF  CRLF
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER:
 *     (HEX ";chunk-signature=" SIG CRLF DATA CRLF)*  "0;chunk-signature=" SIG CRLF
 *     (NAME ":" VALUE CRLF)*  "x-amz-trailer-signature:" SIG CRLF  CRLF
 *   STREAMING-UNSIGNED-PAYLOAD-TRAILER:
 *     (HEX CRLF DATA CRLF)*  "0" CRLF  (NAME ":" VALUE CRLF)*  CRLF
 * Chunk n's signature is the HMAC-SHA256, under the request's signing key, of
 *   "AWS4-HMAC-SHA256-PAYLOAD\n" date "\n" scope "\n" signature n-1 "\n" sha256("") "\n" sha256(DATA)
 * where signature 0 is the request's own (the seed); the trailer's, of
 *   "AWS4-HMAC-SHA256-TRAILER\n" date "\n" scope "\n" last chunk's signature "\n" sha256(TRAILERS)
 * where TRAILERS is each trailing header but the signature as "name:value\n", sorted by name.
 * The trailing headers are those x-amz-trailer lists, each exactly once. As in S3, every chunk but
 * the last holds at least S3_CHUNKED_MIN_CHUNK_BYTES.
 *
 * What the caller does: compare s3_chunked_decoded_bytes with x-amz-decoded-content-length, and the
 * trailing checksums with the payload, once feed has returned 1; bytes emitted before then are not
 * yet proven (a later chunk may fail its signature), so nothing may be committed before 1.
 *
 * Threads: a decoder belongs to one request; use it from one thread at a time. */
#ifndef FLOE_S3_CHUNKED_H
#define FLOE_S3_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

#include "s3_auth.h"

#define S3_CHUNKED_MAX_LINE_BYTES 256           /* a chunk-size line, CRLF included */
#define S3_CHUNKED_MAX_TRAILER_BYTES 4096       /* the trailing headers, CRLFs included */
#define S3_CHUNKED_MAX_TRAILERS 8               /* names x-amz-trailer may list */
#define S3_CHUNKED_MAX_CHUNK_BYTES (1ULL << 40) /* one chunk's size */
#define S3_CHUNKED_MIN_CHUNK_BYTES 8192         /* every chunk but the last */

typedef struct s3_chunked s3_chunked;

/* Receives n decoded payload bytes at p (valid during the call only). Returns 0 to go on, or a
 * value below -1 (a negative FLOE_E* code other than FLOE_EINVAL) to stop the decoding. */
typedef int (*s3_chunked_emit_fn)(void *ctx, const void *p, size_t n);

/* Makes a decoder for a request auth accepted with a streaming payload mode. x_amz_trailer is the
 * request's x-amz-trailer header or NULL: a comma-separated list of trailing header names, each
 * x-amz-checksum-*, allowed with the two trailer modes only. The decoder copies what it needs of
 * auth (the signing key included). Returns 0 with *out (the caller frees it with
 * s3_chunked_destroy), FLOE_EINVAL (not a streaming mode, or an x-amz-trailer S3 would not take:
 * answer 400 InvalidRequest with floe_last_error()'s message) or FLOE_ENOMEM; *out is untouched on
 * failure. */
int s3_chunked_create(const s3_auth_result *auth, const char *x_amz_trailer, s3_chunked **out);

/* Decodes the next len wire bytes at in, split anywhere (one byte at a time works), calling emit
 * (which may be NULL) with the payload bytes they hold. Returns 0 (more is needed), 1 (the body
 * ended correctly: its trailing headers are in, and nothing more may follow), -1 (refused:
 * s3_chunked_error says why) or emit's nonzero value. After -1 or a stop every later call returns
 * the same; after 1, more bytes are refused. */
int s3_chunked_feed(s3_chunked *d, const void *in, size_t len, s3_chunked_emit_fn emit, void *ctx);

/* Says the request body has ended (the connection has no more of it): 0 if feed has returned 1,
 * else -1, the error being IncompleteBody unless feed had already refused. */
int s3_chunked_finish(s3_chunked *d);

/* After a refusal: S3's error code (a static string: IncompleteBody, InvalidChunkSizeError,
 * SignatureDoesNotMatch, MalformedTrailerError, InternalError), the HTTP status to answer with (400
 * or 403; 500 when OpenSSL failed) in *http_status, and in *message (owned by d, valid until it is
 * destroyed) what was wrong and where, by chunk number and byte offset in the body. NULL (and
 * nothing set) if d has not refused. */
const char *s3_chunked_error(const s3_chunked *d, int *http_status, const char **message);

/* After feed returned 1: the value of the trailing header lower_name (trimmed; owned by d, valid
 * until it is destroyed), or NULL if the body had none such. NULL before the body ended. */
const char *s3_chunked_trailer(const s3_chunked *d, const char *lower_name);

/* Payload bytes decoded so far (emitted or not yet proven). */
uint64_t s3_chunked_decoded_bytes(const s3_chunked *d);

/* Frees d and wipes its copy of the signing key. NULL is a no-op. */
void s3_chunked_destroy(s3_chunked *d);

#endif
