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

#endif
