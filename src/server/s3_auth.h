/* Verifies AWS Signature Version 4 on a request to floe's S3-compatible API, the way S3 does: the
 * Authorization header form and the presigned (query string) form, the credential scope, the
 * request time, the payload hash header, and the signature itself. A request that passes says which
 * key signed it and how its body is to be checked (a SHA-256 digest, unsigned, or one of the
 * aws-chunked streaming modes that s3_chunked.h decodes).
 *
 * Rules (as S3 applies them; AWS's "Authenticating Requests (AWS Signature Version 4)"):
 *   - the canonical URI is the raw path percent-decoded and re-encoded (every byte but the
 *     unreserved characters and '/'), never normalised: "//", "/./" and "/../" stay;
 *   - the canonical query is every parameter decoded and re-encoded, sorted by name then value,
 *     a parameter without '=' having an empty value; X-Amz-Signature is left out of it;
 *   - signed header values are trimmed and their inner runs of spaces and tabs collapse to one;
 *   - "host" must be signed, and the date header that dates the request; with header signing,
 *     x-amz-content-sha256 must be sent and signed;
 *   - the request time is within 15 minutes of now (header signing), or a presigned URL is used
 *     within X-Amz-Expires (1..604800 s) of its X-Amz-Date;
 *   - signatures are compared in constant time.
 * Anonymous requests, SigV2 and SigV4a are refused.
 *
 * Threads: every function here is pure (it reads its arguments only); call from any thread. */
#ifndef FLOE_S3_AUTH_H
#define FLOE_S3_AUTH_H

#include <stddef.h>
#include <time.h>

/* Caps on what a request may bring; past one the request is refused with a 400 that names it. */
#define S3_AUTH_MAX_QUERY_BYTES 16384        /* the raw query string */
#define S3_AUTH_MAX_QUERY_PARAMS 64          /* parameters in it */
#define S3_AUTH_MAX_PATH_BYTES 8192          /* the raw path */
#define S3_AUTH_MAX_SIGNED_HEADERS 64        /* names in SignedHeaders */
#define S3_AUTH_MAX_HEADER_NAME_BYTES 128    /* one signed header's name */
#define S3_AUTH_MAX_AUTHORIZATION_BYTES 4096 /* the Authorization header */
#define S3_AUTH_MAX_HEADERS 256              /* headers header_name_at may list */
#define S3_AUTH_MAX_CANONICAL_BYTES 65536    /* the canonical request */
/* How far the request time may be from now, for header signing; and the future a presigned URL's
 * X-Amz-Date may be in. */
#define S3_AUTH_MAX_SKEW_S 900
#define S3_AUTH_MAX_EXPIRES_S 604800

/* A credential floe accepts. The strings belong to the caller. */
typedef struct s3_auth_key {
    const char *access_key;
    const char *secret_key;
    int can_write;
} s3_auth_key;

/* Returns the value of the request header (name given in lowercase), or NULL if absent. A header
 * sent several times is given as its values joined with ",". The string must stay valid until
 * s3_auth_verify returns. */
typedef const char *(*s3_header_fn)(void *ctx, const char *lower_name);
/* Returns the lowercase name of the request's index-th header (0, 1, ...), or NULL past the last;
 * each name once. Valid until s3_auth_verify returns. */
typedef const char *(*s3_header_name_fn)(void *ctx, size_t index);

typedef struct s3_auth_input {
    const char *method;    /* "GET", "PUT", ... */
    const char *raw_path;  /* the request target's path exactly as received, still percent-encoded:
                              "/bucket/a%20b" */
    const char *raw_query; /* what followed '?', as received (percent-encoded), or NULL */
    s3_header_fn header;
    void *header_ctx;
    /* Optional (NULL: not checked): lists the request's headers, so that an x-amz-* header the
     * signature does not cover is refused as S3 does (AccessDenied, "There were headers present
     * in the request which were not signed"). Without it a proxy or an attacker could add, say,
     * x-amz-copy-source to a signed PUT. Uses header_ctx. */
    s3_header_name_fn header_name_at;
    const char *region; /* the configured region, "us-east-1" */
    time_t now;
} s3_auth_input;

enum s3_payload {
    S3_PAYLOAD_SHA256,                    /* x-amz-content-sha256 is a hex digest the body must match */
    S3_PAYLOAD_UNSIGNED,                  /* UNSIGNED-PAYLOAD, and every presigned URL without the header */
    S3_PAYLOAD_STREAMING_SIGNED,          /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
    S3_PAYLOAD_STREAMING_SIGNED_TRAILER,  /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER */
    S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
};

typedef struct s3_auth_result {
    size_t key_index; /* which s3_auth_key signed */
    int presigned;    /* 1: signed in the query string; 0: in the Authorization header */
    enum s3_payload payload;
    char payload_sha256[65]; /* lowercase hex, for S3_PAYLOAD_SHA256 */
    /* What chunk signatures chain from (s3_chunked.h), set on every acceptance: the signing key
     * (secret material: wipe it with OPENSSL_cleanse when done), the request's signature, its
     * time "YYYYMMDDTHHMMSSZ" and its scope "YYYYMMDD/region/s3/aws4_request". */
    unsigned char signing_key[32];
    char seed_signature[65];
    char amz_date[17];
    char scope[128];
    /* On refusal: */
    int http_status;        /* 400 or 403 (500 if OpenSSL or memory failed) */
    const char *error_code; /* S3's code (a static string): AccessDenied, InvalidAccessKeyId,
                               SignatureDoesNotMatch, RequestTimeTooSkewed, AuthorizationHeaderMalformed,
                               AuthorizationQueryParametersError, InvalidRequest, InvalidArgument,
                               InvalidURI, RequestHeaderSectionTooLarge, InternalError */
    char message[256];      /* what was wrong, naming the header, parameter or value */
} s3_auth_result;

/* Verifies the request in *in against n_keys keys. Returns 0 (accepted: *out says by which key and
 * how the body is checked) or -1 (refused: out->http_status, error_code and message say why, and
 * the other fields are unspecified). Never allocates more than its caps allow. */
int s3_auth_verify(const s3_auth_input *in, const s3_auth_key *keys, size_t n_keys, s3_auth_result *out);

/* The signing step of s3_auth_verify on its own, for checking it against published vectors (AWS's
 * SigV4 test suite signs for another service than s3): builds the canonical request of in with
 * the given SignedHeaders list ("host;x-amz-date"), payload hash line and, if presigned, the query
 * without X-Amz-Signature; then the string to sign for amz_date and scope; then its signature
 * under signing_key. Writes the canonical request and string to sign NUL-terminated into
 * canonical (canonical_cap bytes) and string_to_sign (sts_cap bytes), either may be NULL, and the
 * signature into signature. Returns 0, or -1 with *err filled as by s3_auth_verify (a signed header
 * missing, a cap passed, a buffer too small: InvalidArgument). */
int s3_auth_sign(const s3_auth_input *in, const char *signed_headers, const char *payload_hash, int presigned,
                 const char *amz_date, const char *scope, const unsigned char signing_key[32],
                 char *canonical, size_t canonical_cap, char *string_to_sign, size_t sts_cap,
                 char signature[65], s3_auth_result *err);

#endif
