/* A small libcurl client for the suites that drive `floe serve` over real sockets (test_http.c,
 * test_http_objects.c): one request with its whole answer in memory, its headers, and the JSON
 * error check. Every function fails the running test (ck_assert) on what it cannot report. */
#ifndef FLOE_TEST_HTTP_CLIENT_H
#define FLOE_TEST_HTTP_CLIENT_H

#include <stddef.h>

typedef struct resp {
    long status; /* the HTTP status, or minus the CURLcode when the transfer failed */
    char *body;  /* malloc'd, NUL-terminated past len */
    size_t len, cap;
    char headers[16384]; /* of the last answer (after a 100 Continue, the final one) */
    size_t hlen;
    double first_byte_s; /* from the start of the request to the first byte of the answer */
} resp;

/* Sends method path (already percent-encoded) to base ("http://127.0.0.1:<port>") with the extra
 * header lines in headers (NULL-terminated; may be NULL) and body (body_len < 0: none). libcurl's
 * Expect header is removed unless keep_expect. Returns a malloc'd answer: free it with
 * tu_resp_free. */
resp *tu_http(const char *base, const char *method, const char *path, const char *const *headers,
              const void *body, long body_len, int keep_expect);
void tu_resp_free(resp *r);
/* The value of header name in r (copied into a thread-local buffer valid until the next call on
 * this thread), or NULL. */
const char *tu_resp_header(resp *r, const char *name);
/* Asserts r is a JSON error with this status and code and a message. */
void tu_assert_error(resp *r, long status, const char *code);

/* tu_http signed with AWS SigV4 for S3 (region us-east-1) by access:secret, with an
 * x-amz-content-sha256 of the body's SHA-256 (payload_hash NULL) or of payload_hash as given (such as
 * "UNSIGNED-PAYLOAD", or a wrong digest). secret NULL sends the request unsigned. */
resp *tu_s3(const char *base, const char *access, const char *secret, const char *method, const char *path,
            const char *const *headers, const void *body, long body_len, const char *payload_hash);
/* Asserts r is an S3 XML error with this status and Code, a Message and a RequestId (HEAD answers
 * carry no body: only the status is checked then). */
void tu_assert_s3_error(resp *r, long status, const char *code);
/* The text of the first <name> element of an XML body (thread-local copy, valid until the next call),
 * or NULL. */
const char *tu_xml_get(const char *body, const char *name);

#endif
