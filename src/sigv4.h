/* AWS Signature Version 4 for S3: the canonical request, the string to sign and the Authorization
 * header, computed from a request described field by field. Unlike the generic SigV4 rules, paths
 * are not normalised (S3 keys may contain "//" and "/./") and the payload hash is always given by the
 * caller (S3 requires it in x-amz-content-sha256).
 *
 * Threads: every function is pure; call from any thread. */
#ifndef FLOE_SIGV4_H
#define FLOE_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Caps on what sigv4_sign accepts; larger inputs are FLOE_EINVAL. */
#define SIGV4_MAX_HEADERS 64
#define SIGV4_MAX_QUERY 64
#define SIGV4_MAX_CANONICAL_BYTES (64 * 1024)

/* A header or a query parameter. */
typedef struct sigv4_pair {
    const char *name;
    const char *value; /* NULL is the same as "" */
} sigv4_pair;

typedef struct sigv4_request {
    const char *method; /* "GET", "PUT", ... */
    /* The path as raw bytes, starting with '/': "/bucket/my key". Every byte except the unreserved
     * characters (A-Z a-z 0-9 - . _ ~) and '/' is percent-encoded; nothing is normalised. */
    const char *path;
    /* Query parameters, raw (not encoded): sigv4 encodes and sorts them. "?uploads" is
     * {"uploads", ""}. */
    const sigv4_pair *query;
    size_t query_count;
    /* Every header to sign, names in any case. Values are trimmed and inner runs of spaces collapse
     * to one; several headers with one name are joined with ',' in the order given. Must include
     * "host" and "x-amz-date". */
    const sigv4_pair *headers;
    size_t header_count;
    /* Lowercase hex SHA-256 of the body, or "UNSIGNED-PAYLOAD". */
    const char *payload_hash;
} sigv4_request;

typedef struct sigv4_credentials {
    const char *access_key;
    const char *secret_key;
    const char *region;  /* "us-east-1" */
    const char *service; /* "s3" */
} sigv4_credentials;

/* The products of signing, each malloc'd, NUL-terminated and owned by the caller, who frees them
 * with sigv4_signature_clear. */
typedef struct sigv4_signature {
    char *canonical_request;
    char *string_to_sign;
    char *authorization; /* the value of the Authorization header */
} sigv4_signature;

/* Signs req. amz_date is the request time as "YYYYMMDDTHHMMSSZ" and must equal the x-amz-date
 * header. On success fills *out. Errors: FLOE_EINVAL (a missing field, a bad date, too many headers
 * or parameters, a header name with characters HTTP does not allow, a canonical request over
 * SIGV4_MAX_CANONICAL_BYTES), FLOE_ENOMEM, FLOE_EIO (OpenSSL failed). *out is untouched on failure. */
int sigv4_sign(const sigv4_request *req, const sigv4_credentials *cred, const char *amz_date,
               sigv4_signature *out);

/* Frees the strings in *sig and zeroes it. Safe on a zeroed value. */
void sigv4_signature_clear(sigv4_signature *sig);

/* Writes the lowercase hex SHA-256 of len bytes at data, NUL-terminated, into out. */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);

/* Percent-encodes len bytes of in the way SigV4 and S3 expect: unreserved characters stay, '/'
 * stays if keep_slash, every other byte becomes %XX (uppercase hex). Writes a NUL-terminated string
 * into out and returns its length, or -1 (out untouched past what was written) if it needs more than
 * cap bytes including the NUL. Three bytes out per byte in is always enough. */
long sigv4_uri_encode(const void *in, size_t len, int keep_slash, char *out, size_t cap);

/* Formats t (UTC) as "YYYYMMDDTHHMMSSZ". */
void sigv4_amz_date(time_t t, char out[17]);

/* The signing key of SigV4: HMAC-SHA256 chained from "AWS4" + secret_key over day ("YYYYMMDD"),
 * region, service and "aws4_request", written into key. The server side verifies with it, and the
 * signatures of aws-chunked bodies chain from it. Returns 0, FLOE_ENOMEM or FLOE_EIO (OpenSSL
 * failed); the copies of the secret made on the way are wiped. */
int sigv4_signing_key(const char *secret_key, const char *day, const char *region, const char *service,
                      unsigned char key[32]);

/* Writes the lowercase hex HMAC-SHA256 of len bytes at msg under the 32-byte key (a signing key),
 * NUL-terminated, into out: the signature of a string to sign. Returns 0 or FLOE_EIO. */
int sigv4_hmac_hex(const unsigned char key[32], const void *msg, size_t len, char out[65]);

#endif
