/* The pieces of the HTTP server that read client bytes, as functions of plain strings so that they
 * can be tested and fuzzed without a connection (tests/fuzz/fuzz_http.c): key decoding, Range, the
 * conditional-request headers, the bearer token, Content-Length with Expect, Content-Type and query
 * parameters. They are defined where they are used, in http.c and routes.c, and the conditional
 * requests in precondition.c; http_internal.h includes this.
 *
 * Threads: every function here is pure, or reads only an http_server's read-only fields. */
#ifndef FLOE_HTTP_PARSE_H
#define FLOE_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

struct http_server;

/* Percent-decodes n bytes of src into dst (capacity cap). Returns the decoded length, -1 for a
 * malformed escape, -2 for a decoded NUL byte, -3 when the result does not fit. */
long http_pct_decode(const char *src, size_t n, char *dst, size_t cap);
/* Parses a decimal u64 (digits only, no sign or spaces): 0, or -1 (*out untouched). */
int http_parse_u64(const char *s, uint64_t *out);

/* What http_key_decode found wrong with the {key} of /v1/objects/{key}. */
enum http_key_result {
    HTTP_KEY_OK = 0,
    HTTP_KEY_EMPTY,      /* 400 */
    HTTP_KEY_BAD_ESCAPE, /* 400: '%' not followed by two hex digits */
    HTTP_KEY_NUL,        /* 400: %00 */
    HTTP_KEY_TOO_LONG,   /* 414: longer than FLOE_MAX_KEY_BYTES decoded */
    HTTP_KEY_DOT_SEGMENT, /* 400: a '.' or '..' path segment */
    HTTP_KEY_RESERVED     /* 400: begins with FLOE_RESERVED_PREFIX_BYTES bytes 0xff (floe's own keys) */
};
/* 1 if the n bytes at p begin with floe's reserved bytes: such keys and prefixes are not the HTTP
 * API's (the system namespace belongs to floe serve's S3 API). */
int http_key_reserved(const void *p, size_t n);
/* Decodes the NUL-terminated raw key (as sent, percent-escapes intact) into key, which holds
 * FLOE_MAX_KEY_BYTES + 1 bytes: on HTTP_KEY_OK it is NUL-terminated and *len_out is its length. */
enum http_key_result http_key_decode(const char *raw, char *key, size_t *len_out);

/* The token in an Authorization header value of the form "Bearer <token>" (scheme matched without
 * case, spaces after it skipped): returns 1 and points *token into header, with its length; 0 if
 * header is NULL or another scheme. */
int http_bearer_token(const char *header, const char **token, size_t *len);
/* Access the token grants on server s: 0 (unknown token) or a config_access. Compares against
 * every configured token in constant time (http.c invariant 3). */
int http_token_access(const struct http_server *s, const char *token, size_t len);

enum range_result { RANGE_NONE, RANGE_OK, RANGE_UNSATISFIABLE };
/* Interprets a Range header (h may be NULL) for an object of len bytes: RANGE_OK with the first
 * and last byte (inclusive, last < len), RANGE_UNSATISFIABLE, or RANGE_NONE for anything that is not
 * one well-formed bytes range (serve the whole object, as RFC 9110 allows). */
enum range_result http_parse_range(const char *h, uint64_t len, uint64_t *first, uint64_t *last);
/* 1 if the If-Match or If-None-Match value h (a list of entity-tags, or "*") names the current
 * representation: "*" does when there is one; a listed entity-tag does when it equals etag, by weak
 * comparison (weak 1: a W/ prefix is ignored, for If-None-Match) or strong comparison (weak 0: a
 * W/ tag never matches, for If-Match), RFC 9110 section 8.8.3.2. etag is the current ETag as sent,
 * quotes included, or NULL when the key has no current representation. A member that is not an
 * entity-tag matches nothing. */
int http_etag_list_match(const char *h, const char *etag, int weak);

/* Parses an HTTP-date (RFC 9110 section 5.6.7): the IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT"
 * and the obsolete forms a recipient must accept, RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT", whose
 * two-digit year is taken in the century that puts it at most 50 years after now_s) and asctime
 * ("Sun Nov  6 08:49:37 1994"). Names match without case; surrounding spaces are skipped; the day of
 * the week is not checked against the date. Returns 0 with *out the seconds since 1970-01-01 UTC, or
 * -1 (*out untouched) for anything else, including a valid date followed by more text (a list of
 * dates is not a date). */
int http_parse_date(const char *s, int64_t now_s, int64_t *out);

/* The conditional-request headers of one request, each NULL when absent; a header sent on several
 * lines is given as its lines joined with ", " (RFC 9110 section 5.3). */
struct http_conditions {
    const char *if_match, *if_none_match, *if_modified_since, *if_unmodified_since, *if_range;
};

enum http_precondition {
    HTTP_PRECONDITION_PASS,         /* perform the method */
    HTTP_PRECONDITION_NOT_MODIFIED, /* 304 (GET and HEAD only) */
    HTTP_PRECONDITION_FAILED,       /* 412 */
};
/* Evaluates h's If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since in the order of
 * RFC 9110 section 13.2.2 against the current representation: etag as in http_etag_list_match
 * (NULL: none), modified_s its Last-Modified in whole seconds since 1970 (-1: unknown), for a GET or
 * HEAD (read 1: a matching If-None-Match is 304, If-Modified-Since counts) or a PUT or DELETE (read
 * 0: a matching If-None-Match is 412, If-Modified-Since is ignored). A date header is ignored when
 * its ETag counterpart is present, when it is not a valid HTTP-date, and when there is no current
 * representation or its time is unknown; dates compare at one-second resolution. now_s is the
 * current time, for http_parse_date. On a result other than PASS, *decided_by names the header that
 * decided it (a static string). If-Range is not looked at (see http_if_range_allows). */
enum http_precondition http_preconditions_evaluate(const struct http_conditions *h, const char *etag,
                                                   int64_t modified_s, int read, int64_t now_s,
                                                   const char **decided_by);

/* 1 if an If-Range value h lets a Range header apply to the current representation: h is one
 * entity-tag strongly equal to etag (NULL: none). A date never does: floe's Last-Modified has
 * one-second resolution, so it is a weak validator, and RFC 9110 section 13.1.5 needs a strong one.
 * When this is 0 the Range is ignored and the whole object is sent. */
int http_if_range_allows(const char *h, const char *etag);

/* 1 if ct is a Content-Type floe stores: 1..FLOE_MAX_CONTENT_TYPE_BYTES printable ASCII bytes. */
int http_content_type_valid(const char *ct);

/* What a PUT's Content-Length, Transfer-Encoding and Expect headers decide. */
enum http_put_length {
    HTTP_PUT_LENGTH_OK,        /* read a body of *len bytes */
    HTTP_PUT_LENGTH_REQUIRED,  /* 411: no Content-Length, or chunked */
    HTTP_PUT_LENGTH_BAD,       /* 400: not a decimal number */
    HTTP_PUT_LENGTH_DISCARD,   /* too large: read *len bytes and drop them, then answer 413 */
    HTTP_PUT_LENGTH_TOO_LARGE, /* 413 at once (Expect: 100-continue, or too large to drop) */
};
/* content_length, transfer_encoding and expect are the header values, NULL when absent; max is
 * max_object_bytes. *len is set for OK, DISCARD and TOO_LARGE. */
enum http_put_length http_put_length_check(const char *content_length, const char *transfer_encoding,
                                           const char *expect, uint64_t max, uint64_t *len);

/* User metadata (docs/http-api.md, "User metadata"): the request headers x-floe-meta-<name>: <value>
 * of a PUT, stored with the object as one blob (floe_object_meta.user_meta) of pairs
 * <name> NUL <value> NUL, names lower-cased, in the order the headers came, and sent back as the same
 * headers by GET and HEAD. */
#define HTTP_META_PREFIX "x-floe-meta-"
/* The most bytes of user metadata a request may send (the blob http_meta_add builds), as S3 allows. */
#define HTTP_MAX_USER_META_BYTES 2048
enum http_meta_result {
    HTTP_META_NOT_META = 0, /* the header is not x-floe-meta-*: nothing added */
    HTTP_META_ADDED,
    HTTP_META_BAD_NAME,  /* 400: nothing after the prefix, or a byte that is not a token character */
    HTTP_META_BAD_VALUE, /* 400: empty, or a control byte (HTTP cannot send it back) */
    HTTP_META_REPEATED,  /* 400: the same name twice (in any case) */
    HTTP_META_TOO_LARGE, /* 400: the blob would pass cap bytes */
};
/* Appends header name: value to the blob of *len bytes in buf (capacity cap) when name starts with
 * HTTP_META_PREFIX (without case); on anything but HTTP_META_ADDED the blob is as it was. */
enum http_meta_result http_meta_add(unsigned char *buf, size_t cap, size_t *len, const char *name,
                                    const char *value);
/* Iterates the pairs of a blob: from offset *pos, sets *name and *value (NUL-terminated, pointing
 * into blob) and advances *pos; returns 0 at the end, or when the rest is not a well-formed pair of a
 * token name and a value HTTP can carry (a blob made by something else than http_meta_add), which
 * is then skipped. */
int http_meta_next(const unsigned char *blob, size_t len, size_t *pos, const char **name, const char **value);

/* The query parameters a route accepts, collected by http_query_arg. */
struct query_ctx {
    const char *const *known; /* NULL-terminated names this route accepts (at most 4) */
    const char *values[4];    /* raw values by index in known */
    int present[4];
    const char *bad; /* first unknown or repeated name */
    int repeated;
};
/* Records one parameter (value may be NULL) in q: 1 to go on, 0 when it is unknown or repeated
 * (q->bad names it). */
int http_query_arg(struct query_ctx *q, const char *key, const char *value);

#endif
