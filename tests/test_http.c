/* The HTTP endpoint, driven over real sockets against a real `floe serve` process (FLOE_BINARY, or
 * FLOE_TEST_BINARY from the environment) listening on a free 127.0.0.1 port. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "http_client.h"
#include "testutil.h"

#define MAX_OBJECT TU_SERVER_MAX_OBJECT_BYTES

static tu_server srv; /* the server of the running tcase (started by its unchecked fixture) */

/* ---- the libcurl client (http_client.h) against the running tcase's server ---- */

static resp *req_to(const char *base, const char *method, const char *path, const char *const *headers,
                    const void *body, long body_len)
{
    return tu_http(base, method, path, headers, body, body_len, 0);
}

static resp *req(const char *method, const char *path, const char *const *headers, const void *body,
                 long body_len)
{
    return tu_http(srv.base, method, path, headers, body, body_len, 0);
}

/* req, but keeping the caller's Expect header instead of removing it. */
static resp *req_with_expect(const char *method, const char *path, const char *const *headers,
                             const void *body, long body_len)
{
    return tu_http(srv.base, method, path, headers, body, body_len, 1);
}

#define resp_free tu_resp_free
#define resp_header tu_resp_header
#define assert_error tu_assert_error

static long status_of(const char *method, const char *path, const void *body, long body_len)
{
    resp *r = req(method, path, NULL, body, body_len);
    long st = r->status;
    resp_free(r);
    return st;
}

/* ---- raw sockets, for what libcurl will not send ---- */

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void raw_send(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return; /* the server may close early; the caller checks the answer */
        p += n;
        len -= (size_t)n;
    }
}

/* Reads until the peer closes, cap bytes arrive, or timeout_ms passes; returns bytes read. Sets
 * *closed to 1 if the peer closed (EOF or reset). */
static size_t raw_read(int fd, char *out, size_t cap, int timeout_ms, int *closed)
{
    size_t got = 0;
    int64_t deadline_ms = clock_now_ms() + timeout_ms;
    *closed = 0;
    while (got + 1 < cap) {
        int left = (int)(deadline_ms - clock_now_ms());
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            break;
        ssize_t n = recv(fd, out + got, cap - 1 - got, 0);
        if (n <= 0) {
            *closed = 1;
            break;
        }
        got += (size_t)n;
    }
    out[got] = '\0';
    return got;
}

/* One raw request; returns the status code of the answer (0 if none). */
static int raw_request(const char *request, size_t len, char *answer, size_t cap)
{
    int fd = raw_connect(srv.port);
    raw_send(fd, request, len);
    int closed = 0;
    raw_read(fd, answer, cap, 5000, &closed);
    close(fd);
    return strncmp(answer, "HTTP/1.", 7) == 0 ? atoi(answer + 9) : 0;
}

/* ---- fixtures ---- */

/* The main server's retention rules: objects under ttl/ expire a second after their write, except
 * under ttl/keep/. No other test writes under ttl/. */
#define TTL_RULES                                                                                            \
    "\"retention\": [{\"prefix\": \"ttl/\", \"max_age_s\": 1}, {\"prefix\": \"ttl/keep/\", \"max_age_s\": "  \
    "0}]"

static void main_server_up(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    tu_server_config(&srv, "", TTL_RULES);
    tu_server_start(&srv);
}

static void server_down(void)
{
    tu_server_destroy(&srv);
}

/* ---- objects ---- */

START_TEST(http_put_get_roundtrips_every_byte_value)
{
    unsigned char value[1024];
    for (int i = 0; i < 1024; i++)
        value[i] = (unsigned char)(i * 7 + i / 256);
    resp *p = req("PUT", "/v1/objects/bytes/all", NULL, value, sizeof value);
    ck_assert_int_eq(p->status, 201);
    const char *etag = resp_header(p, "ETag");
    ck_assert_ptr_nonnull(etag);
    ck_assert_msg(etag[0] == '"' && etag[strlen(etag) - 1] == '"', "ETag %s is not quoted", etag);
    char put_etag[64];
    snprintf(put_etag, sizeof put_etag, "%s", etag);
    resp_free(p);

    resp *g = req("GET", "/v1/objects/bytes/all", NULL, NULL, -1);
    ck_assert_int_eq(g->status, 200);
    ck_assert_uint_eq(g->len, sizeof value);
    ck_assert_int_eq(memcmp(g->body, value, sizeof value), 0);
    ck_assert_str_eq(resp_header(g, "Content-Type"), "application/octet-stream");
    ck_assert_str_eq(resp_header(g, "Content-Length"), "1024");
    ck_assert_str_eq(resp_header(g, "ETag"), put_etag);
    const char *tier = resp_header(g, "X-Floe-Tier");
    ck_assert_msg(
        tier && (strcmp(tier, "memory") == 0 || strcmp(tier, "local") == 0 || strcmp(tier, "cold") == 0),
        "X-Floe-Tier %s", tier ? tier : "(none)");
    resp_free(g);
    /* every byte value occurs */
    int seen[256] = {0};
    for (int i = 0; i < 1024; i++)
        seen[value[i]] = 1;
    for (int i = 0; i < 256; i++)
        ck_assert_int_eq(seen[i], 1);
}
END_TEST

START_TEST(http_put_stores_the_content_type)
{
    const char *h[] = {"Content-Type: text/plain; charset=utf-8", NULL};
    resp *p = req("PUT", "/v1/objects/typed", h, "hello", 5);
    ck_assert_int_eq(p->status, 201);
    resp_free(p);
    resp *g = req("GET", "/v1/objects/typed", NULL, NULL, -1);
    ck_assert_int_eq(g->status, 200);
    ck_assert_str_eq(resp_header(g, "Content-Type"), "text/plain; charset=utf-8");
    ck_assert_str_eq(g->body, "hello");
    resp_free(g);
}
END_TEST

START_TEST(http_overwrite_changes_etag_and_value)
{
    resp *a = req("PUT", "/v1/objects/over", NULL, "one", 3);
    resp *b = req("PUT", "/v1/objects/over", NULL, "two!", 4);
    ck_assert_int_eq(a->status, 201);
    ck_assert_int_eq(b->status, 201);
    char ea[64];
    snprintf(ea, sizeof ea, "%s", resp_header(a, "ETag"));
    ck_assert_str_ne(ea, resp_header(b, "ETag"));
    resp *g = req("GET", "/v1/objects/over", NULL, NULL, -1);
    ck_assert_str_eq(g->body, "two!");
    ck_assert_str_eq(resp_header(g, "ETag"), resp_header(b, "ETag"));
    resp_free(a);
    resp_free(b);
    resp_free(g);
}
END_TEST

START_TEST(http_empty_object_roundtrips)
{
    ck_assert_int_eq(status_of("PUT", "/v1/objects/empty", "", 0), 201);
    resp *g = req("GET", "/v1/objects/empty", NULL, NULL, -1);
    ck_assert_int_eq(g->status, 200);
    ck_assert_uint_eq(g->len, 0);
    ck_assert_str_eq(resp_header(g, "Content-Length"), "0");
    resp_free(g);
}
END_TEST

START_TEST(http_max_object_is_accepted_and_one_byte_more_is_413)
{
    char *big = malloc(MAX_OBJECT + 1);
    for (int i = 0; i <= MAX_OBJECT; i++)
        big[i] = (char)(i * 31 + 7);
    ck_assert_int_eq(status_of("PUT", "/v1/objects/max", big, MAX_OBJECT), 201);
    resp *g = req("GET", "/v1/objects/max", NULL, NULL, -1);
    ck_assert_int_eq(g->status, 200);
    ck_assert_uint_eq(g->len, MAX_OBJECT);
    ck_assert_int_eq(memcmp(g->body, big, MAX_OBJECT), 0);
    resp_free(g);
    /* A client that asks first (Expect: 100-continue, what curl does for large bodies) gets the
     * 413 before it sends a byte of the body. */
    const char *const expect[] = {"Expect: 100-continue", NULL};
    resp *p = req_with_expect("PUT", "/v1/objects/max-plus-one", expect, big, MAX_OBJECT + 1);
    assert_error(p, 413, "too_large");
    resp_free(p);
    /* One that just sends (no Expect) has its body read and dropped, then gets the same 413. */
    p = req("PUT", "/v1/objects/max-plus-one", NULL, big, MAX_OBJECT + 1);
    assert_error(p, 413, "too_large");
    resp_free(p);
    ck_assert_int_eq(status_of("GET", "/v1/objects/max-plus-one", NULL, -1), 404);
    /* nothing of either was stored, and the server still serves */
    ck_assert_int_eq(status_of("GET", "/healthz", NULL, -1), 200);
    free(big);
}
END_TEST

START_TEST(http_keys_with_slashes_spaces_and_utf8)
{
    ck_assert_int_eq(status_of("PUT", "/v1/objects/dir/sub/file.txt", "a", 1), 201);
    /* %2F decodes to '/', so it names the same key */
    resp *g = req("GET", "/v1/objects/dir%2Fsub%2Ffile.txt", NULL, NULL, -1);
    ck_assert_int_eq(g->status, 200);
    ck_assert_str_eq(g->body, "a");
    resp_free(g);
    ck_assert_int_eq(status_of("PUT", "/v1/objects/with%20space", "b", 1), 201);
    ck_assert_int_eq(status_of("PUT", "/v1/objects/%C3%A9t%C3%A9/%E2%82%AC", "c", 1), 201);
    resp *l = req("GET", "/v1/objects?prefix=%C3%A9t%C3%A9", NULL, NULL, -1);
    ck_assert_int_eq(l->status, 200);
    ck_assert_ptr_nonnull(strstr(l->body, "\"key\":\"\xc3\xa9t\xc3\xa9/\xe2\x82\xac\""));
    resp_free(l);
    l = req("GET", "/v1/objects?prefix=with", NULL, NULL, -1);
    ck_assert_ptr_nonnull(strstr(l->body, "\"key\":\"with space\""));
    resp_free(l);
    /* a key that is not UTF-8 round-trips and is listed in base64 */
    ck_assert_int_eq(status_of("PUT", "/v1/objects/bin%FF%FE", "d", 1), 201);
    g = req("GET", "/v1/objects/bin%FF%FE", NULL, NULL, -1);
    ck_assert_str_eq(g->body, "d");
    resp_free(g);
    l = req("GET", "/v1/objects?prefix=bin", NULL, NULL, -1);
    ck_assert_ptr_nonnull(strstr(l->body, "\"key_base64\":\"Ymlu//4=\""));
    resp_free(l);
}
END_TEST

START_TEST(http_malformed_keys_are_400)
{
    const char *bad[] = {"/v1/objects/a%zz", "/v1/objects/a%2",    "/v1/objects/a%",    "/v1/objects/a%00b",
                         "/v1/objects/..",   "/v1/objects/a/../b", "/v1/objects/.",     "/v1/objects/a/./b",
                         "/v1/objects/a/..", "/v1/objects/%2E%2E", "/v1/objects/x/%2e", "/v1/objects/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        resp *r = req("PUT", bad[i], NULL, "x", 1);
        ck_assert_msg(r->status == 400, "PUT %s answered %ld", bad[i], r->status);
        assert_error(r, 400, "invalid_key");
        resp_free(r);
        r = req("GET", bad[i], NULL, NULL, -1);
        ck_assert_msg(r->status == 400, "GET %s answered %ld", bad[i], r->status);
        resp_free(r);
    }
    /* dots inside a segment are fine */
    ck_assert_int_eq(status_of("PUT", "/v1/objects/a/..b/c.", "x", 1), 201);
    /* floe's reserved keys, the system namespace (floe serve's S3 buckets) among them, are not the
     * HTTP API's: not as keys, list prefixes, cursors or prefixes to delete */
    const char *reserved[] = {"/v1/objects/%FF%FF%FF%FF%FF%FF%FF%FFsb/x", "/v1/objects?prefix=%FF%FF%FF%FF%FF%FF%FF%FFs",
                              "/v1/objects?start_after=%FF%FF%FF%FF%FF%FF%FF%FF"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        resp *r = req("GET", reserved[i], NULL, NULL, -1);
        assert_error(r, 400, "invalid_key");
        resp_free(r);
    }
    resp *r = req("PUT", reserved[0], NULL, "x", 1);
    assert_error(r, 400, "invalid_key");
    resp_free(r);
    r = req("DELETE", "/v1/objects?prefix=%FF%FF%FF%FF%FF%FF%FF%FFs", NULL, NULL, -1);
    assert_error(r, 400, "invalid_key");
    resp_free(r);
}
END_TEST

/* A key (or list prefix, start_after, prefix to delete) of 1024 decoded bytes is fine; one byte
 * more is 414 URI Too Long, not 413, which would blame the body. */
START_TEST(http_key_longer_than_1024_bytes_is_414)
{
    char path[8000];
    int n = snprintf(path, sizeof path, "/v1/objects/");
    memset(path + n, 'k', 1024);
    path[n + 1024] = '\0';
    ck_assert_int_eq(status_of("PUT", path, "x", 1), 201);
    ck_assert_int_eq(status_of("GET", path, NULL, -1), 200);
    path[n + 1024] = 'k';
    path[n + 1025] = '\0';
    const char *methods[] = {"PUT", "GET", "DELETE"};
    for (int i = 0; i < 3; i++) {
        resp *r = req(methods[i], path, NULL, "x", strcmp(methods[i], "PUT") == 0 ? 1 : -1);
        assert_error(r, 414, "key_too_long");
        resp_free(r);
    }
    ck_assert_int_eq(status_of("HEAD", path, NULL, -1), 414);
    /* the length is of the decoded key: 1023 bytes and an escape are 1024, 1024 and one are 1025 */
    memset(path + n, 'e', 1023);
    snprintf(path + n + 1023, sizeof path - (size_t)n - 1023, "%%6B");
    ck_assert_int_eq(status_of("PUT", path, "x", 1), 201);
    memset(path + n, 'e', 1024);
    snprintf(path + n + 1024, sizeof path - (size_t)n - 1024, "%%6B");
    ck_assert_int_eq(status_of("PUT", path, "x", 1), 414);

    char q[8000];
    const char *params[] = {"/v1/objects?prefix=", "/v1/objects?start_after="};
    for (int i = 0; i < 2; i++) {
        int m = snprintf(q, sizeof q, "%s", params[i]);
        memset(q + m, 'k', 1024);
        q[m + 1024] = '\0';
        ck_assert_int_eq(status_of("GET", q, NULL, -1), 200);
        q[m + 1024] = 'k';
        q[m + 1025] = '\0';
        resp *r = req("GET", q, NULL, NULL, -1);
        assert_error(r, 414, "key_too_long");
        ck_assert_ptr_nonnull(strstr(r->body, i == 0 ? "prefix" : "start_after"));
        resp_free(r);
    }
    int m = snprintf(q, sizeof q, "/v1/objects?prefix=");
    memset(q + m, 'q', 1025);
    q[m + 1025] = '\0';
    resp *r = req("DELETE", q, NULL, NULL, -1);
    assert_error(r, 414, "key_too_long");
    resp_free(r);
}
END_TEST

START_TEST(http_delete_is_204_then_get_is_404)
{
    ck_assert_int_eq(status_of("PUT", "/v1/objects/gone", "x", 1), 201);
    resp *d = req("DELETE", "/v1/objects/gone", NULL, NULL, -1);
    ck_assert_int_eq(d->status, 204);
    ck_assert_uint_eq(d->len, 0);
    resp_free(d);
    resp *g = req("GET", "/v1/objects/gone", NULL, NULL, -1);
    assert_error(g, 404, "not_found");
    resp_free(g);
    g = req("HEAD", "/v1/objects/gone", NULL, NULL, -1);
    ck_assert_int_eq(g->status, 404);
    resp_free(g);
    /* deleting a missing key succeeds too */
    ck_assert_int_eq(status_of("DELETE", "/v1/objects/never-there", NULL, -1), 204);
}
END_TEST

START_TEST(http_head_has_the_headers_and_no_body)
{
    ck_assert_int_eq(status_of("PUT", "/v1/objects/head", "0123456789", 10), 201);
    resp *h = req("HEAD", "/v1/objects/head", NULL, NULL, -1);
    ck_assert_int_eq(h->status, 200);
    ck_assert_uint_eq(h->len, 0);
    ck_assert_str_eq(resp_header(h, "Content-Length"), "10");
    ck_assert_ptr_nonnull(resp_header(h, "ETag"));
    ck_assert_ptr_nonnull(resp_header(h, "X-Floe-Tier"));
    resp_free(h);
}
END_TEST

static const char day_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* The IMF-fixdate of t (RFC 9110 section 5.6.7), "Sun, 06 Nov 1994 08:49:37 GMT". */
static void format_http_date(time_t t, char out[40])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", day_names[tm.tm_wday], tm.tm_mday,
             month_names[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* 1 if header is the IMF-fixdate of a second in [from, to]. */
static int is_http_date_between(const char *header, time_t from, time_t to)
{
    for (time_t t = from; header && t <= to; t++) {
        char want[40];
        format_http_date(t, want);
        if (strcmp(header, want) == 0)
            return 1;
    }
    return 0;
}

START_TEST(http_get_and_head_send_last_modified_from_the_write_time)
{
    time_t before = time(NULL);
    ck_assert_int_eq(status_of("PUT", "/v1/objects/modified", "when", 4), 201);
    time_t after = time(NULL);
    const char *methods[] = {"GET", "HEAD"};
    for (int i = 0; i < 2; i++) {
        resp *r = req(methods[i], "/v1/objects/modified", NULL, NULL, -1);
        ck_assert_int_eq(r->status, 200);
        const char *lm = resp_header(r, "Last-Modified");
        ck_assert_msg(is_http_date_between(lm, before, after),
                      "%s: Last-Modified \"%s\" is not the PUT's time", methods[i], lm ? lm : "(none)");
        resp_free(r);
    }
    /* A revalidation that matches says when the object was last modified too. */
    resp *r = req("GET", "/v1/objects/modified", NULL, NULL, -1);
    char inm[64];
    snprintf(inm, sizeof inm, "If-None-Match: %s", resp_header(r, "ETag"));
    resp_free(r);
    const char *headers[] = {inm, NULL};
    r = req("GET", "/v1/objects/modified", headers, NULL, -1);
    ck_assert_int_eq(r->status, 304);
    ck_assert(is_http_date_between(resp_header(r, "Last-Modified"), before, after));
    resp_free(r);
}
END_TEST

/* A retention rule makes an expired object 404 and drops it from lists as soon as its age passes
 * max_age_s (1 s for ttl/ here), while ttl/keep/ (max_age_s 0) keeps its objects. */
START_TEST(http_expired_object_is_404_and_absent_from_lists)
{
    ck_assert_int_eq(status_of("PUT", "/v1/objects/ttl/a", "short-lived", 11), 201);
    ck_assert_int_eq(status_of("PUT", "/v1/objects/ttl/keep/b", "kept", 4), 201);
    int64_t written = clock_now_ms();
    ck_assert_int_eq(status_of("GET", "/v1/objects/ttl/a", NULL, -1), 200);
    int64_t wait_ms = written + 1300 - clock_now_ms();
    if (wait_ms > 0)
        clock_sleep_ms((uint32_t)wait_ms);
    ck_assert_int_eq(status_of("GET", "/v1/objects/ttl/a", NULL, -1), 404);
    ck_assert_int_eq(status_of("HEAD", "/v1/objects/ttl/a", NULL, -1), 404);
    ck_assert_int_eq(status_of("GET", "/v1/objects/ttl/keep/b", NULL, -1), 200);
    resp *r = req("GET", "/v1/objects?prefix=ttl%2F", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    json_t *root = json_loads(r->body, 0, NULL);
    ck_assert_ptr_nonnull(root);
    json_t *keys = json_object_get(root, "keys");
    ck_assert_uint_eq(json_array_size(keys), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(keys, 0), "key")), "ttl/keep/b");
    json_decref(root);
    resp_free(r);
}
END_TEST

static void check_range(const char *range, long status, const char *content_range, const char *body)
{
    char hdr[128];
    snprintf(hdr, sizeof hdr, "Range: %s", range);
    const char *h[] = {hdr, NULL};
    resp *r = req("GET", "/v1/objects/range", h, NULL, -1);
    ck_assert_msg(r->status == status, "Range %s: status %ld, expected %ld", range, r->status, status);
    const char *cr = resp_header(r, "Content-Range");
    if (content_range)
        ck_assert_msg(cr && strcmp(cr, content_range) == 0, "Range %s: Content-Range %s, expected %s", range,
                      cr ? cr : "(none)", content_range);
    else
        ck_assert_msg(cr == NULL, "Range %s: unexpected Content-Range %s", range, cr);
    if (body)
        ck_assert_msg(r->len == strlen(body) && memcmp(r->body, body, r->len) == 0, "Range %s: body '%s'",
                      range, r->body);
    resp_free(r);
}

START_TEST(http_range_requests)
{
    const char *v = "abcdefghijklmnopqrstuvwxyz0123456789"; /* 36 bytes */
    ck_assert_int_eq(status_of("PUT", "/v1/objects/range", v, 36), 201);
    check_range("bytes=0-3", 206, "bytes 0-3/36", "abcd");
    check_range("bytes=30-", 206, "bytes 30-35/36", "456789");
    check_range("bytes=-4", 206, "bytes 32-35/36", "6789");
    check_range("bytes=-100", 206, "bytes 0-35/36", v);
    check_range("bytes=34-1000", 206, "bytes 34-35/36", "89");
    check_range("bytes=35-35", 206, "bytes 35-35/36", "9");
    check_range("bytes=36-", 416, "bytes */36", NULL);
    check_range("bytes=100-200", 416, "bytes */36", NULL);
    check_range("bytes=-0", 416, "bytes */36", NULL);
    /* multiple ranges and malformed ones are ignored: the whole object */
    check_range("bytes=0-1,4-5", 200, NULL, v);
    check_range("bytes=5-2", 200, NULL, v);
    check_range("bytes=abc", 200, NULL, v);
    check_range("items=0-3", 200, NULL, v);
    /* an empty object has no satisfiable range */
    ck_assert_int_eq(status_of("PUT", "/v1/objects/range-empty", "", 0), 201);
    const char *h[] = {"Range: bytes=0-", NULL};
    resp *r = req("GET", "/v1/objects/range-empty", h, NULL, -1);
    ck_assert_int_eq(r->status, 416);
    ck_assert_str_eq(resp_header(r, "Content-Range"), "bytes */0");
    resp_free(r);
}
END_TEST

START_TEST(http_if_none_match_gives_304)
{
    resp *p = req("PUT", "/v1/objects/cond", NULL, "v", 1);
    char etag[64], hdr[128];
    snprintf(etag, sizeof etag, "%s", resp_header(p, "ETag"));
    resp_free(p);
    snprintf(hdr, sizeof hdr, "If-None-Match: %s", etag);
    const char *h1[] = {hdr, NULL};
    resp *r = req("GET", "/v1/objects/cond", h1, NULL, -1);
    ck_assert_int_eq(r->status, 304);
    ck_assert_uint_eq(r->len, 0);
    ck_assert_str_eq(resp_header(r, "ETag"), etag);
    resp_free(r);
    const char *h2[] = {"If-None-Match: *", NULL};
    ck_assert_int_eq((r = req("GET", "/v1/objects/cond", h2, NULL, -1))->status, 304);
    resp_free(r);
    snprintf(hdr, sizeof hdr, "If-None-Match: \"zzz\", W/%s", etag);
    const char *h3[] = {hdr, NULL};
    ck_assert_int_eq((r = req("GET", "/v1/objects/cond", h3, NULL, -1))->status, 304);
    resp_free(r);
    const char *h4[] = {"If-None-Match: \"not-it\"", NULL};
    r = req("GET", "/v1/objects/cond", h4, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "v");
    resp_free(r);
    /* after an overwrite the old ETag no longer matches */
    ck_assert_int_eq(status_of("PUT", "/v1/objects/cond", "w", 1), 201);
    r = req("GET", "/v1/objects/cond", h1, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    resp_free(r);
}
END_TEST

/* ---- conditional requests (RFC 9110 section 13) ---- */

/* 1 if the message of the JSON error r contains text. */
static int error_mentions(resp *r, const char *text)
{
    json_t *root = json_loads(r->body, 0, NULL);
    const char *msg = json_string_value(json_object_get(json_object_get(root, "error"), "message"));
    int found = msg && strstr(msg, text) != NULL;
    json_decref(root);
    return found;
}

/* A request with up to two extra header lines (NULL for none). */
static resp *req2(const char *method, const char *path, const char *h1, const char *h2, const void *body,
                  long body_len)
{
    const char *h[3] = {h1, h1 ? h2 : NULL, NULL};
    return req(method, path, h, body, body_len);
}

/* PUTs body to path (201 expected) and copies its ETag into etag. */
static void put_with_etag(const char *path, const char *body, char etag[64])
{
    resp *r = req("PUT", path, NULL, body, (long)strlen(body));
    ck_assert_msg(r->status == 201, "PUT %s: %ld %s", path, r->status, r->body);
    snprintf(etag, 64, "%s", resp_header(r, "ETag"));
    resp_free(r);
}

/* The Last-Modified of path, in seconds since 1970, read back from a GET. */
static time_t last_modified_of(const char *path)
{
    resp *r = req("GET", path, NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    const char *lm = resp_header(r, "Last-Modified");
    ck_assert_ptr_nonnull(lm);
    struct tm tm = {0};
    const char *end = strptime(lm, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    ck_assert_msg(end && *end == '\0', "Last-Modified '%s' is not an IMF-fixdate", lm);
    resp_free(r);
    return timegm(&tm);
}

/* The body of path as a string ("" and the status in the message when it is not 200). */
static void assert_body(const char *path, const char *want)
{
    resp *r = req("GET", path, NULL, NULL, -1);
    ck_assert_msg(r->status == 200 && strcmp(r->body, want) == 0, "GET %s: %ld '%s', expected '%s'", path,
                  r->status, r->body, want);
    resp_free(r);
}

/* The digest headers of body: Content-MD5 (base64) and x-floe-checksum-sha256 (hex and base64). */
static void digests_of(const char *body, char md5_b64[32], char sha_hex[80], char sha_b64[64])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    ck_assert_int_eq(EVP_Digest(body, strlen(body), md, &n, EVP_md5(), NULL), 1);
    EVP_EncodeBlock((unsigned char *)md5_b64, md, (int)n);
    ck_assert_int_eq(EVP_Digest(body, strlen(body), md, &n, EVP_sha256(), NULL), 1);
    for (unsigned i = 0; i < n; i++)
        snprintf(sha_hex + 2 * i, 3, "%02x", md[i]);
    EVP_EncodeBlock((unsigned char *)sha_b64, md, (int)n);
}

/* Content-MD5 and x-floe-checksum-sha256 (issue 11): a PUT whose body matches the digest it sent
 * is stored; one whose body does not is 400 bad_digest and stores nothing, leaving the version
 * before it; a header that is not a digest of the right size is 400 invalid_digest. */
START_TEST(http_put_checks_content_md5_and_sha256)
{
    const char *path = "/v1/objects/digest/a";
    char md5[32], hex[80], b64[64], h1[128], h2[128];
    digests_of("the right bytes", md5, hex, b64);

    snprintf(h1, sizeof h1, "Content-MD5: %s", md5);
    resp *r = req2("PUT", path, h1, NULL, "the right bytes", 15);
    ck_assert_msg(r->status == 201, "%ld %s", r->status, r->body);
    resp_free(r);
    assert_body(path, "the right bytes");
    const char *sha_forms[] = {hex, b64};
    for (int i = 0; i < 2; i++) {
        snprintf(h2, sizeof h2, "x-floe-checksum-sha256: %s", sha_forms[i]);
        r = req2("PUT", path, h1, h2, "the right bytes", 15);
        ck_assert_msg(r->status == 201, "%ld %s", r->status, r->body);
        resp_free(r);
    }

    /* The same digests over other bytes: refused, the object stays as it was. */
    const char *bad_sets[][2] = {{h1, NULL}, {h2, NULL}, {h1, "x-floe-checksum-sha256: 00"}, {NULL, NULL}};
    snprintf(h2, sizeof h2, "x-floe-checksum-sha256: %s", hex);
    for (int i = 0; i < 2; i++) {
        r = req2("PUT", path, bad_sets[i][0], bad_sets[i][1], "the wrong bytes", 15);
        assert_error(r, 400, "bad_digest");
        ck_assert_msg(error_mentions(r, i == 0 ? "MD5" : "SHA-256"), "%s", r->body);
        resp_free(r);
        assert_body(path, "the right bytes");
    }
    r = req2("PUT", "/v1/objects/digest/new", h1, NULL, "the wrong bytes", 15);
    assert_error(r, 400, "bad_digest");
    resp_free(r);
    ck_assert_int_eq(status_of("GET", "/v1/objects/digest/new", NULL, -1), 404);
    /* The right MD5 with a wrong SHA-256 is refused too. */
    snprintf(h2, sizeof h2, "x-floe-checksum-sha256: %064d", 0);
    r = req2("PUT", path, h1, h2, "the right bytes", 15);
    assert_error(r, 400, "bad_digest");
    resp_free(r);

    /* Not a digest: wrong length, not base64, hex for MD5, a digest of the wrong size. */
    const char *malformed[] = {
        "Content-MD5: abc",
        "Content-MD5: !!!!!!!!!!!!!!!!!!!!!!==",
        "Content-MD5: 00112233445566778899aabbccddeeff",
        "x-floe-checksum-sha256: 0011",
        "x-floe-checksum-sha256: zz00000000000000000000000000000000000000000000000000000000000000",
        NULL};
    for (int i = 0; malformed[i]; i++) {
        r = req2("PUT", "/v1/objects/digest/new", malformed[i], NULL, "the right bytes", 15);
        assert_error(r, 400, "invalid_digest");
        resp_free(r);
    }
    ck_assert_int_eq(status_of("GET", "/v1/objects/digest/new", NULL, -1), 404);
    /* An empty body has digests too. */
    digests_of("", md5, hex, b64);
    snprintf(h1, sizeof h1, "Content-MD5: %s", md5);
    r = req2("PUT", "/v1/objects/digest/empty", h1, NULL, "", 0);
    ck_assert_msg(r->status == 201, "%ld %s", r->status, r->body);
    resp_free(r);
}
END_TEST

struct cond_row {
    const char *h1, *h2;
    long status;
};

/* Every precondition a GET or HEAD evaluates, alone and in the combinations whose order RFC 9110
 * section 13.2.2 fixes: 304 (with ETag and Last-Modified, no body), 412 (JSON, naming the header)
 * or the object. */
START_TEST(http_get_and_head_evaluate_every_precondition)
{
    const char *path = "/v1/objects/pre/get";
    char etag[64];
    put_with_etag(path, "value", etag);
    time_t lm = last_modified_of(path);
    char same[40], before[40], after[40];
    format_http_date(lm, same);
    format_http_date(lm - 1, before);
    format_http_date(lm + 1, after);
    char h[20][160];
    int n = 0;
#define H(...) (snprintf(h[n], sizeof h[n], __VA_ARGS__), h[n++])
    struct cond_row rows[] = {
        {H("If-None-Match: %s", etag), NULL, 304},
        {H("If-None-Match: W/%s", etag), NULL, 304}, /* weak comparison */
        {H("If-None-Match: \"zz\", %s", etag), NULL, 304},
        {"If-None-Match: *", NULL, 304},
        {"If-None-Match: \"zz\"", NULL, 200},
        {"If-None-Match: \"zz\"", H("If-None-Match: %s", etag), 304}, /* one list on two lines */
        {H("If-Match: %s", etag), NULL, 200},
        {"If-Match: *", NULL, 200},
        {H("If-Match: \"zz\", %s", etag), NULL, 200},
        {H("If-Match: W/%s", etag), NULL, 412}, /* strong comparison */
        {"If-Match: \"zz\"", NULL, 412},
        {H("If-Modified-Since: %s", same), NULL, 304},
        {H("If-Modified-Since: %s", after), NULL, 304},
        {H("If-Modified-Since: %s", before), NULL, 200},
        {"If-Modified-Since: yesterday", NULL, 200},                       /* not a date: ignored */
        {"If-None-Match: \"zz\"", H("If-Modified-Since: %s", after), 200}, /* ignored beside If-None-Match */
        {H("If-Unmodified-Since: %s", same), NULL, 200},
        {H("If-Unmodified-Since: %s", after), NULL, 200},
        {H("If-Unmodified-Since: %s", before), NULL, 412},
        {H("If-Match: %s", etag), H("If-Unmodified-Since: %s", before), 200}, /* ignored beside If-Match */
        {"If-Match: \"zz\"", H("If-None-Match: %s", etag), 412},              /* If-Match first */
        {H("If-Unmodified-Since: %s", before), H("If-None-Match: %s", etag), 412},
    };
#undef H
    const char *methods[] = {"GET", "HEAD"};
    for (int m = 0; m < 2; m++) {
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            resp *r = req2(methods[m], path, rows[i].h1, rows[i].h2, NULL, -1);
            ck_assert_msg(r->status == rows[i].status, "%s with [%s] [%s]: %ld, expected %ld", methods[m],
                          rows[i].h1, rows[i].h2 ? rows[i].h2 : "", r->status, rows[i].status);
            if (r->status == 304) {
                ck_assert_uint_eq(r->len, 0);
                ck_assert_str_eq(resp_header(r, "ETag"), etag);
                ck_assert_str_eq(resp_header(r, "Last-Modified"), same);
            } else if (r->status == 200) {
                ck_assert_str_eq(resp_header(r, "Content-Length"), "5");
                ck_assert_str_eq(r->body, m == 0 ? "value" : "");
            } else if (m == 0) {
                assert_error(r, 412, "precondition_failed");
                ck_assert_msg(error_mentions(r, "If-Match") || error_mentions(r, "If-Unmodified-Since"),
                              "412 does not name the header: %s", r->body);
            }
            resp_free(r);
        }
    }
    /* HTTP-dates in the obsolete forms are dates too */
    struct tm tm;
    gmtime_r(&lm, &tm);
    char asctime_form[64], rfc850_form[80];
    static const char *const long_days[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                             "Thursday", "Friday", "Saturday"};
    snprintf(asctime_form, sizeof asctime_form, "If-Modified-Since: %s %s %2d %02d:%02d:%02d %04d",
             day_names[tm.tm_wday], month_names[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             tm.tm_year + 1900);
    snprintf(rfc850_form, sizeof rfc850_form, "If-Modified-Since: %s, %02d-%s-%02d %02d:%02d:%02d GMT",
             long_days[tm.tm_wday], tm.tm_mday, month_names[tm.tm_mon], tm.tm_year % 100, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    resp *r = req2("GET", path, asctime_form, NULL, NULL, -1);
    ck_assert_msg(r->status == 304, "%s: %ld", asctime_form, r->status);
    resp_free(r);
    r = req2("GET", path, rfc850_form, NULL, NULL, -1);
    ck_assert_msg(r->status == 304, "%s: %ld", rfc850_form, r->status);
    resp_free(r);
}
END_TEST

/* RFC 9110 section 13.2.1: preconditions are ignored when the answer without them would not be
 * 2xx, so reading a missing key is 404 whatever they say. */
START_TEST(http_read_of_a_missing_key_is_404_whatever_the_preconditions)
{
    const char *hs[] = {"If-Match: *", "If-Match: \"1\"", "If-None-Match: *",
                        "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT"};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        resp *r = req2("GET", "/v1/objects/pre/never", hs[i], NULL, NULL, -1);
        assert_error(r, 404, "not_found");
        resp_free(r);
        r = req2("HEAD", "/v1/objects/pre/never", hs[i], NULL, NULL, -1);
        ck_assert_int_eq(r->status, 404);
        resp_free(r);
    }
}
END_TEST

/* If-Range lets the Range apply only for the current ETag; anything else (another or a weak tag, a
 * date, which is a weak validator here) gets the whole object. */
START_TEST(http_if_range_sends_the_range_only_for_the_current_etag)
{
    const char *path = "/v1/objects/pre/range";
    const char *v = "abcdefghijklmnopqrstuvwxyz0123456789";
    char etag[64], ir[128], weak[128], date[80];
    put_with_etag(path, v, etag);
    snprintf(ir, sizeof ir, "If-Range: %s", etag);
    snprintf(weak, sizeof weak, "If-Range: W/%s", etag);
    char lm[40];
    format_http_date(last_modified_of(path), lm);
    snprintf(date, sizeof date, "If-Range: %s", lm);
    resp *r = req2("GET", path, "Range: bytes=0-3", ir, NULL, -1);
    ck_assert_int_eq(r->status, 206);
    ck_assert_str_eq(r->body, "abcd");
    resp_free(r);
    const char *whole[] = {"If-Range: \"zz\"", weak, date};
    for (int i = 0; i < 3; i++) {
        r = req2("GET", path, "Range: bytes=0-3", whole[i], NULL, -1);
        ck_assert_msg(r->status == 200, "[%s]: %ld", whole[i], r->status);
        ck_assert_str_eq(r->body, v);
        ck_assert_ptr_null(resp_header(r, "Content-Range"));
        resp_free(r);
    }
    /* without a Range, If-Range changes nothing */
    r = req2("GET", path, "If-Range: \"zz\"", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    resp_free(r);
}
END_TEST

/* PUT and DELETE with preconditions: a write happens only when they hold, a failed one is 412 and
 * changes nothing; If-None-Match: * creates only; a missing key fails If-Match. */
START_TEST(http_put_and_delete_write_only_when_the_preconditions_hold)
{
    const char *path = "/v1/objects/pre/put";
    char e1[64], e2[64], hdr[160], hdr2[160];
    resp *r = req2("PUT", path, "If-None-Match: *", NULL, "v1", 2);
    ck_assert_int_eq(r->status, 201);
    snprintf(e1, sizeof e1, "%s", resp_header(r, "ETag"));
    resp_free(r);
    r = req2("PUT", path, "If-None-Match: *", NULL, "v2", 2);
    assert_error(r, 412, "precondition_failed");
    ck_assert(error_mentions(r, "If-None-Match"));
    resp_free(r);
    assert_body(path, "v1");

    snprintf(hdr, sizeof hdr, "If-Match: %s", e1);
    r = req2("PUT", path, hdr, NULL, "v2", 2);
    ck_assert_int_eq(r->status, 201);
    snprintf(e2, sizeof e2, "%s", resp_header(r, "ETag"));
    resp_free(r);
    assert_body(path, "v2");
    r = req2("PUT", path, hdr, NULL, "v3", 2); /* e1 is stale now */
    assert_error(r, 412, "precondition_failed");
    ck_assert_msg(error_mentions(r, e2), "412 does not say the ETag is %s: %s", e2, r->body);
    resp_free(r);
    snprintf(hdr, sizeof hdr, "If-Match: W/%s", e2); /* strong comparison */
    ck_assert_int_eq((r = req2("PUT", path, hdr, NULL, "v3", 2))->status, 412);
    resp_free(r);
    ck_assert_int_eq((r = req2("PUT", path, "If-Match: \"zz\"", NULL, "v3", 2))->status, 412);
    resp_free(r);
    assert_body(path, "v2");
    snprintf(hdr, sizeof hdr, "If-Match: \"zz\", %s", e2);
    ck_assert_int_eq((r = req2("PUT", path, hdr, NULL, "v3", 2))->status, 201);
    resp_free(r);
    assert_body(path, "v3");

    /* If-None-Match with tags: weak comparison, 412 for a write */
    char e3[64];
    r = req("GET", path, NULL, NULL, -1);
    snprintf(e3, sizeof e3, "%s", resp_header(r, "ETag"));
    resp_free(r);
    snprintf(hdr, sizeof hdr, "If-None-Match: %s", e3);
    ck_assert_int_eq((r = req2("PUT", path, hdr, NULL, "v4", 2))->status, 412);
    resp_free(r);
    snprintf(hdr, sizeof hdr, "If-None-Match: W/%s", e3);
    ck_assert_int_eq((r = req2("PUT", path, hdr, NULL, "v4", 2))->status, 412);
    resp_free(r);
    assert_body(path, "v3");
    ck_assert_int_eq((r = req2("PUT", path, "If-None-Match: \"zz\"", NULL, "v4", 2))->status, 201);
    resp_free(r);

    /* If-Unmodified-Since, at one-second resolution; If-Modified-Since means nothing to a PUT */
    time_t lm = last_modified_of(path);
    char d[40];
    format_http_date(lm - 1, d);
    snprintf(hdr, sizeof hdr, "If-Unmodified-Since: %s", d);
    r = req2("PUT", path, hdr, NULL, "v5", 2);
    assert_error(r, 412, "precondition_failed");
    ck_assert(error_mentions(r, "If-Unmodified-Since"));
    resp_free(r);
    assert_body(path, "v4");
    format_http_date(lm, d);
    snprintf(hdr, sizeof hdr, "If-Unmodified-Since: %s", d);
    ck_assert_int_eq((r = req2("PUT", path, hdr, NULL, "v5", 2))->status, 201);
    resp_free(r);
    format_http_date(lm + 3600, d);
    snprintf(hdr, sizeof hdr, "If-Modified-Since: %s", d);
    ck_assert_int_eq((r = req2("PUT", path, hdr, NULL, "v6", 2))->status, 201);
    resp_free(r);
    assert_body(path, "v6");

    /* a missing key fails If-Match (even *) and creates nothing; it has no date to compare */
    const char *missing = "/v1/objects/pre/put-missing";
    ck_assert_int_eq((r = req2("PUT", missing, "If-Match: *", NULL, "m", 1))->status, 412);
    ck_assert(error_mentions(r, "no object"));
    resp_free(r);
    snprintf(hdr, sizeof hdr, "If-Match: %s", e1);
    ck_assert_int_eq((r = req2("PUT", missing, hdr, NULL, "m", 1))->status, 412);
    resp_free(r);
    ck_assert_int_eq(status_of("GET", missing, NULL, -1), 404);
    snprintf(hdr, sizeof hdr, "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT");
    ck_assert_int_eq((r = req2("PUT", missing, hdr, NULL, "m", 1))->status, 201);
    resp_free(r);
    assert_body(missing, "m");

    /* DELETE */
    const char *del = "/v1/objects/pre/del";
    char ed[64];
    put_with_etag(del, "d", ed);
    ck_assert_int_eq((r = req2("DELETE", del, "If-Match: \"zz\"", NULL, NULL, -1))->status, 412);
    resp_free(r);
    ck_assert_int_eq((r = req2("DELETE", del, "If-None-Match: *", NULL, NULL, -1))->status, 412);
    resp_free(r);
    format_http_date(last_modified_of(del) - 1, d);
    snprintf(hdr2, sizeof hdr2, "If-Unmodified-Since: %s", d);
    ck_assert_int_eq((r = req2("DELETE", del, hdr2, NULL, NULL, -1))->status, 412);
    resp_free(r);
    assert_body(del, "d");
    snprintf(hdr, sizeof hdr, "If-Match: %s", ed);
    ck_assert_int_eq((r = req2("DELETE", del, hdr, NULL, NULL, -1))->status, 204);
    resp_free(r);
    ck_assert_int_eq(status_of("GET", del, NULL, -1), 404);
    ck_assert_int_eq((r = req2("DELETE", del, "If-Match: *", NULL, NULL, -1))->status, 412);
    resp_free(r);
    ck_assert_int_eq((r = req2("DELETE", del, "If-None-Match: *", NULL, NULL, -1))->status, 204);
    resp_free(r);
}
END_TEST

#define RACERS 12

typedef struct racer {
    const char *path;
    const char *header;
    pthread_barrier_t *go;
    int id;
    int round; /* part of the body: no racer writes the bytes (and so the ETag) an earlier one did */
    long status;
} racer;

static void *racer_main(void *arg)
{
    racer *w = arg;
    char body[48];
    int n = snprintf(body, sizeof body, "writer %d of race %d", w->id, w->round);
    const char *h[] = {w->header, NULL};
    pthread_barrier_wait(w->go);
    resp *r = req("PUT", w->path, h, body, n);
    w->status = r->status;
    resp_free(r);
    return NULL;
}

/* Starts RACERS PUTs of path with header at once; returns the id of the one answered 201 after
 * checking that exactly one was and every other one got 412. */
static int race(const char *path, const char *header, int round)
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, RACERS);
    racer w[RACERS];
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) {
        w[i] = (racer){.path = path, .header = header, .go = &go, .id = i, .round = round};
        pthread_create(&th[i], NULL, racer_main, &w[i]);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    int winners = 0, winner = -1;
    for (int i = 0; i < RACERS; i++) {
        ck_assert_msg(w[i].status == 201 || w[i].status == 412, "%s [%s]: writer %d got %ld", path, header, i,
                      w[i].status);
        if (w[i].status == 201) {
            winners++;
            winner = i;
        }
    }
    ck_assert_msg(winners == 1, "%s [%s]: %d of %d conditional PUTs succeeded", path, header, winners,
                  RACERS);
    return winner;
}

/* The check and the write of a conditional PUT are one step: of concurrent create-only PUTs (or
 * PUTs that all name the same current ETag) of one key exactly one succeeds, and its body stays. */
START_TEST(http_concurrent_conditional_puts_of_one_key_have_one_winner)
{
    for (int round = 0; round < 8; round++) {
        char path[64], want[48];
        snprintf(path, sizeof path, "/v1/objects/pre/race/%d", round);
        int winner = race(path, "If-None-Match: *", 0);
        snprintf(want, sizeof want, "writer %d of race 0", winner);
        assert_body(path, want);
        resp *r = req("GET", path, NULL, NULL, -1);
        char hdr[128];
        snprintf(hdr, sizeof hdr, "If-Match: %s", resp_header(r, "ETag"));
        resp_free(r);
        winner = race(path, hdr, 1);
        snprintf(want, sizeof want, "writer %d of race 1", winner);
        assert_body(path, want);
    }
}
END_TEST

#define LOST_UPDATE_WRITERS 4 /* unconditional PUTs; then one prefix deleter, one conditional PUT */
#define LOST_UPDATE_MAX_WRITES 4096

enum write_mode { WRITE_PUT, WRITE_DELETE_PREFIX, WRITE_PUT_IF_MATCH };

/* Writes to one key by one thread, as the server acknowledged them. */
typedef struct write_log {
    const char *path;
    enum write_mode mode; /* WRITE_PUT_IF_MATCH: If-Match the ETag a GET just gave */
    atomic_int *stop;
    atomic_int count; /* written by its thread, polled by the test */
    uint64_t seq[LOST_UPDATE_MAX_WRITES];
    char etag[LOST_UPDATE_MAX_WRITES][40];
    char checked_etag[LOST_UPDATE_MAX_WRITES][40];
} write_log;

/* The seq in a write's JSON answer. */
static uint64_t answer_seq(resp *r)
{
    json_t *root = json_loads(r->body, 0, NULL);
    uint64_t seq = (uint64_t)json_integer_value(json_object_get(root, "seq"));
    json_decref(root);
    return seq;
}

static void *write_log_main(void *arg)
{
    write_log *w = arg;
    while (!atomic_load(w->stop) && w->count < LOST_UPDATE_MAX_WRITES) {
        int k = w->count;
        resp *r = NULL;
        /* every write's bytes differ, so every version has its own ETag (the MD5 of its bytes) */
        char body[64];
        int body_len = snprintf(body, sizeof body, "%p %d", (void *)w, k);
        if (w->mode == WRITE_DELETE_PREFIX) {
            r = req("DELETE", "/v1/objects?prefix=pre%2Flost-update", NULL, NULL, -1);
        } else if (w->mode == WRITE_PUT_IF_MATCH) {
            resp *g = req("GET", w->path, NULL, NULL, -1);
            snprintf(w->checked_etag[k], sizeof w->checked_etag[0], "%s",
                     g->status == 200 ? resp_header(g, "ETag") : "");
            resp_free(g);
            char hdr[80];
            snprintf(hdr, sizeof hdr, "If-Match: %s", w->checked_etag[k]);
            const char *h[] = {hdr, NULL};
            r = req("PUT", w->path, h, body, body_len);
        } else {
            r = req("PUT", w->path, NULL, body, body_len);
        }
        if (r->status == 201 || (w->mode == WRITE_DELETE_PREFIX && r->status == 200)) {
            w->seq[k] = answer_seq(r);
            snprintf(w->etag[k], sizeof w->etag[0], "%s",
                     resp_header(r, "ETag") ? resp_header(r, "ETag") : "");
            w->count++;
        }
        resp_free(r);
        /* room for the conditional writer to win sometimes */
        if (w->mode == WRITE_PUT)
            clock_sleep_ms(2);
        else if (w->mode == WRITE_DELETE_PREFIX)
            clock_sleep_ms(20);
    }
    return NULL;
}

/* No write and no prefix delete lands between a conditional PUT's check and its write: for every
 * If-Match PUT that succeeded, no other write of the key has a seq between the version it named
 * and its own (which would be a lost update). ETags are matched to seqs through what the writes'
 * answers said, so the test does not depend on the ETag's format. */
START_TEST(http_no_write_lands_between_a_conditional_check_and_its_write)
{
    const char *path = "/v1/objects/pre/lost-update";
    ck_assert_int_eq(status_of("PUT", path, "x", 1), 201);
    atomic_int stop = 0;
    enum { N = LOST_UPDATE_WRITERS + 2 };
    static write_log logs[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        memset(&logs[i], 0, sizeof logs[i]);
        atomic_init(&logs[i].count, 0);
        logs[i].path = path;
        logs[i].mode = i < LOST_UPDATE_WRITERS ? WRITE_PUT
                       : i == N - 2            ? WRITE_DELETE_PREFIX
                                               : WRITE_PUT_IF_MATCH;
        logs[i].stop = &stop;
        pthread_create(&th[i], NULL, write_log_main, &logs[i]);
    }
    write_log *cond = &logs[N - 1];
    int64_t start_ms = clock_now_ms();
    while (clock_now_ms() - start_ms < 3000 && cond->count < 300)
        clock_sleep_ms(10);
    atomic_store(&stop, 1);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_gt(cond->count, 10);
    ck_assert_int_gt(logs[N - 2].count, 10);
    int checked = 0;
    for (int k = 0; k < cond->count; k++) {
        /* the seq of the version the conditional PUT named */
        uint64_t named = 0;
        for (int i = 0; i < N && !named; i++)
            for (int j = 0; j < logs[i].count && !named; j++)
                if (logs[i].etag[j][0] && strcmp(logs[i].etag[j], cond->checked_etag[k]) == 0)
                    named = logs[i].seq[j];
        if (!named)
            continue; /* the first write, before the threads started */
        checked++;
        for (int i = 0; i < N - 1; i++)
            for (int j = 0; j < logs[i].count; j++)
                ck_assert_msg(
                    !(logs[i].seq[j] > named && logs[i].seq[j] < cond->seq[k]),
                    "PUT If-Match %s (seq %llu) succeeded as seq %llu, after another %s (seq %llu)",
                    cond->checked_etag[k], (unsigned long long)named, (unsigned long long)cond->seq[k],
                    logs[i].mode == WRITE_PUT ? "PUT" : "prefix delete", (unsigned long long)logs[i].seq[j]);
    }
    ck_assert_int_gt(checked, 10);
}
END_TEST

/* ---- the response budget ---- */

/* A GET answer streams its object, holding MHD's buffer (256 KiB) and its reader's one chunk
 * (BUDGET_CHUNK): BUDGET_ANSWER bytes, whatever the object's size. The budget has room for one such
 * answer and one of a small range, not for two whole ones. Objects are bigger than the most a
 * socket's send buffer takes in (tcp_wmem's maximum), so a reader that stops reading leaves its
 * answer unfinished, and many times bigger than the budget. */
static size_t budget_object_bytes;
#define BUDGET_WAIT_MS 1000
#define BUDGET_CHUNK (1u << 20)
#define BUDGET_ANSWER (BUDGET_CHUNK + 256u * 1024)
#define BUDGET_BYTES (BUDGET_ANSWER + BUDGET_CHUNK + 64u * 1024)

static size_t tcp_wmem_max(void)
{
    size_t lo = 0, def = 0, max = 0;
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
    if (!f || fscanf(f, "%zu %zu %zu", &lo, &def, &max) != 3)
        max = 4u << 20;
    if (f)
        fclose(f);
    return max;
}

static void budget_server_up(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    budget_object_bytes = 2 * tcp_wmem_max();
    if (budget_object_bytes < (8u << 20))
        budget_object_bytes = 8u << 20;
    srv.dir = tu_tmpdir("http");
    snprintf(srv.cfg, sizeof srv.cfg, "%s/floe.json", srv.dir);
    char text[1024];
    snprintf(text, sizeof text,
             "{\"data_dir\": \"%s/data\", \"http\": {\"listen\": \"127.0.0.1:0\", \"threads\": 2,"
             " \"max_object_bytes\": %zu, \"max_response_bytes_in_flight\": %u, \"response_wait_ms\": %d},"
             " \"cold\": {\"backend\": \"fs\", \"fs\": {\"path\": \"%s/cold\"}},"
             " \"object\": {\"chunk_bytes\": %u}}",
             srv.dir, 2 * budget_object_bytes, BUDGET_BYTES, BUDGET_WAIT_MS, srv.dir, BUDGET_CHUNK);
    tu_write_file(srv.cfg, text, strlen(text));
    tu_server_start(&srv);
}

/* A number in /v1/stats' "http" object. */
static uint64_t http_stat(const char *name)
{
    resp *r = req("GET", "/v1/stats", NULL, NULL, -1);
    json_t *root = json_loads(r->body, 0, NULL);
    json_t *v = json_object_get(json_object_get(root, "http"), name);
    ck_assert_msg(json_is_integer(v), "/v1/stats has no http.%s: %s", name, r->body);
    uint64_t n = (uint64_t)json_integer_value(v);
    json_decref(root);
    resp_free(r);
    return n;
}

/* The value of an unlabelled metric in /metrics. */
static uint64_t metric(const char *name)
{
    resp *r = req("GET", "/metrics", NULL, NULL, -1);
    char want[128];
    snprintf(want, sizeof want, "\n%s ", name);
    const char *at = strstr(r->body, want);
    ck_assert_msg(at != NULL, "/metrics has no %s", name);
    uint64_t n = strtoull(at + strlen(want), NULL, 10);
    resp_free(r);
    return n;
}

/* A GET of path on a socket that then reads nothing: its receive buffer is tiny, so the server
 * keeps most of the answer. Returns the socket. */
static int get_and_stop_reading(const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char request[256];
    int n = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    raw_send(fd, request, (size_t)n);
    return fd;
}

/* Waits up to 5 s for /v1/stats' response_bytes_in_flight to reach at least want. */
static uint64_t wait_for_held(uint64_t want)
{
    uint64_t held = 0;
    for (int i = 0; i < 250 && (held = http_stat("response_bytes_in_flight")) < want; i++)
        clock_sleep_ms(20);
    return held;
}

typedef struct timed_get {
    const char *path;
    resp *r;
    int64_t ms;
} timed_get;

static void *timed_get_main(void *arg)
{
    timed_get *t = arg;
    int64_t start = clock_now_ms();
    t->r = req("GET", t->path, NULL, NULL, -1);
    t->ms = clock_now_ms() - start;
    return NULL;
}

/* The bytes held for GET answers are capped, and an answer holds its buffers, not its object: a
 * reader that stopped reading holds BUDGET_ANSWER; a GET of another object that does not fit beside
 * it waits http.response_wait_ms and gets 503 with Retry-After; a small range fits; one that is
 * waiting when the reader goes away is served; HEAD and 304 hold nothing and do not wait; an
 * object many times larger than the whole budget is served; /v1/stats and /metrics show it all. */
START_TEST(http_get_bodies_held_at_once_stay_inside_the_response_budget)
{
    size_t n = budget_object_bytes, big_n = n * 17 / 10;
    char *a = malloc(n), *b = malloc(n), *big = malloc(big_n);
    tu_fill_random(a, n, 1);
    tu_fill_random(b, n, 2);
    tu_fill_random(big, big_n, 3);
    ck_assert_int_eq(status_of("PUT", "/v1/objects/budget/a", a, (long)n), 201);
    char etag_b[64];
    resp *r = req("PUT", "/v1/objects/budget/b", NULL, b, (long)n);
    ck_assert_int_eq(r->status, 201);
    snprintf(etag_b, sizeof etag_b, "%s", resp_header(r, "ETag"));
    resp_free(r);
    ck_assert_int_eq(status_of("PUT", "/v1/objects/budget/big", big, (long)big_n), 201);
    ck_assert_uint_eq(http_stat("response_bytes_in_flight"), 0);

    int holder = get_and_stop_reading("/v1/objects/budget/a");
    uint64_t held = wait_for_held(BUDGET_ANSWER);
    ck_assert_msg(held == BUDGET_ANSWER,
                  "a reader that stopped reading should hold its buffers (%u bytes) of the %zu-byte object, "
                  "/v1/stats says %llu",
                  BUDGET_ANSWER, n, (unsigned long long)held);
    ck_assert_uint_eq(metric("floe_http_response_bytes_in_flight"), BUDGET_ANSWER);

    /* answers without a body hold nothing and do not wait */
    int64_t start = clock_now_ms();
    ck_assert_int_eq(status_of("HEAD", "/v1/objects/budget/b", NULL, -1), 200);
    ck_assert_int_eq(status_of("HEAD", "/v1/objects/budget/big", NULL, -1), 200);
    char inm[128];
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag_b);
    r = req2("GET", "/v1/objects/budget/b", inm, NULL, NULL, -1);
    ck_assert_int_eq(r->status, 304);
    resp_free(r);
    ck_assert_int_lt(clock_now_ms() - start, BUDGET_WAIT_MS / 2);

    /* a GET that does not fit waits about response_wait_ms, then 503 busy with Retry-After: 1 */
    start = clock_now_ms();
    r = req("GET", "/v1/objects/budget/b", NULL, NULL, -1);
    int64_t waited_ms = clock_now_ms() - start;
    ck_assert_msg(r->status == 503, "a GET that does not fit the budget got %ld", r->status);
    assert_error(r, 503, "busy");
    ck_assert_str_eq(resp_header(r, "Retry-After"), "1");
    ck_assert_msg(error_mentions(r, "http.max_response_bytes_in_flight"), "503 does not name the budget: %s",
                  r->body);
    resp_free(r);
    ck_assert_msg(waited_ms >= BUDGET_WAIT_MS * 9 / 10 && waited_ms <= BUDGET_WAIT_MS + 2000,
                  "the 503 came after %lld ms, response_wait_ms is %d", (long long)waited_ms, BUDGET_WAIT_MS);
    ck_assert_uint_eq(metric("floe_http_responses_over_budget_total"), 1);
    ck_assert_uint_eq(http_stat("responses_over_budget"), 1);

    /* a ranged GET holds less: 1 KiB of b fits beside the held a, at once */
    start = clock_now_ms();
    r = req2("GET", "/v1/objects/budget/b", "Range: bytes=1000-2023", NULL, NULL, -1);
    ck_assert_msg(r->status == 206, "a 1 KiB range beside a held reader got %ld", r->status);
    ck_assert_uint_eq(r->len, 1024);
    ck_assert_int_eq(memcmp(r->body, b + 1000, 1024), 0);
    resp_free(r);
    ck_assert_int_lt(clock_now_ms() - start, BUDGET_WAIT_MS / 2);
    ck_assert_uint_eq(http_stat("responses_over_budget"), 1);

    /* a GET waiting when the reader goes away gets the room, well before its wait runs out */
    timed_get t = {.path = "/v1/objects/budget/b"};
    pthread_t th;
    pthread_create(&th, NULL, timed_get_main, &t);
    clock_sleep_ms(BUDGET_WAIT_MS / 4);
    close(holder);
    pthread_join(th, NULL);
    ck_assert_msg(t.r->status == 200, "the waiting GET got %ld after %lld ms", t.r->status, (long long)t.ms);
    ck_assert_uint_eq(t.r->len, n);
    ck_assert_int_eq(memcmp(t.r->body, b, n), 0);
    /* it was woken when the room was given back, not when its wait ran out */
    ck_assert_msg(t.r->first_byte_s * 1000 < BUDGET_WAIT_MS * 9 / 10,
                  "the waiting GET was answered after %.0f ms", t.r->first_byte_s * 1000);
    resp_free(t.r);
    ck_assert_uint_ge(http_stat("response_budget_waits"), 2);
    ck_assert_uint_eq(http_stat("responses_over_budget"), 1);

    /* everything is given back; an object many times the budget streams through it */
    for (int i = 0; i < 100 && http_stat("response_bytes_in_flight") != 0; i++)
        clock_sleep_ms(20);
    ck_assert_uint_eq(http_stat("response_bytes_in_flight"), 0);
    ck_assert_uint_gt(big_n, 4 * BUDGET_BYTES);
    r = req("GET", "/v1/objects/budget/big", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_uint_eq(r->len, big_n);
    ck_assert_int_eq(memcmp(r->body, big, big_n), 0);
    resp_free(r);
    r = req("GET", "/v1/objects/budget/a", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_int_eq(memcmp(r->body, a, n), 0);
    resp_free(r);
    ck_assert_uint_eq(http_stat("responses_over_budget"), 1);
    free(a);
    free(b);
    free(big);
}
END_TEST

/* ---- protocol errors ---- */

START_TEST(http_unknown_method_is_405_with_allow)
{
    resp *r = req("FROB", "/v1/objects/x", NULL, NULL, -1);
    assert_error(r, 405, "method_not_allowed");
    ck_assert_str_eq(resp_header(r, "Allow"), "GET, HEAD, PUT, DELETE");
    resp_free(r);
    r = req("POST", "/v1/objects/x", NULL, "a", 1);
    ck_assert_int_eq(r->status, 405);
    resp_free(r);
    r = req("GET", "/v1/flush", NULL, NULL, -1);
    assert_error(r, 405, "method_not_allowed");
    ck_assert_str_eq(resp_header(r, "Allow"), "POST");
    resp_free(r);
    r = req("PUT", "/v1/objects", NULL, "a", 1);
    ck_assert_int_eq(r->status, 405);
    ck_assert_str_eq(resp_header(r, "Allow"), "GET, HEAD, DELETE");
    resp_free(r);
}
END_TEST

START_TEST(http_unknown_path_is_404)
{
    resp *r = req("GET", "/v2/objects/x", NULL, NULL, -1);
    assert_error(r, 404, "not_found");
    resp_free(r);
    ck_assert_int_eq(status_of("GET", "/v1/objectsx", NULL, -1), 404);
    ck_assert_int_eq(status_of("GET", "/", NULL, -1), 404);
}
END_TEST

START_TEST(http_put_without_content_length_is_411)
{
    char answer[4096];
    const char *no_length = "PUT /v1/objects/nolen HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    ck_assert_int_eq(raw_request(no_length, strlen(no_length), answer, sizeof answer), 411);
    ck_assert_ptr_nonnull(strstr(answer, "length_required"));
    const char *chunked = "PUT /v1/objects/chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                          "Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    ck_assert_int_eq(raw_request(chunked, strlen(chunked), answer, sizeof answer), 411);
    ck_assert_int_eq(status_of("GET", "/v1/objects/chunked", NULL, -1), 404);
}
END_TEST

START_TEST(http_short_body_stores_nothing)
{
    const char *head = "PUT /v1/objects/short HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n";
    int fd = raw_connect(srv.port);
    raw_send(fd, head, strlen(head));
    char half[500];
    memset(half, 'h', sizeof half);
    raw_send(fd, half, sizeof half);
    clock_sleep_ms(100);
    close(fd); /* gone with 500 of the 1000 bytes unsent */
    clock_sleep_ms(200);
    resp *r = req("GET", "/v1/objects/short", NULL, NULL, -1);
    assert_error(r, 404, "not_found");
    resp_free(r);
    ck_assert_int_eq(status_of("PUT", "/v1/objects/short-after", "ok", 2), 201);
    ck_assert_int_eq(status_of("GET", "/v1/objects/short-after", NULL, -1), 200);
}
END_TEST

START_TEST(http_oversized_headers_are_refused)
{
    size_t n = 40000;
    char *big = malloc(n + 64);
    int off = sprintf(big, "X-Big: ");
    memset(big + off, 'x', n);
    big[off + n] = '\0';
    const char *h[] = {big, NULL};
    resp *r = req("GET", "/v1/objects/x", h, NULL, -1);
    ck_assert_msg(r->status == 431 || r->status == 413, "oversized header answered %ld", r->status);
    resp_free(r);
    /* a header just over http.max_header_bytes (16 KiB) but inside MHD's buffer: our JSON answer */
    big[off + 17000] = '\0';
    r = req("GET", "/v1/objects/x", h, NULL, -1);
    assert_error(r, 431, "headers_too_large");
    resp_free(r);
    free(big);
    ck_assert_int_eq(status_of("GET", "/healthz", NULL, -1), 200);
}
END_TEST

START_TEST(http_too_many_headers_are_refused)
{
    char *hdrs[101];
    const char *h[101];
    for (int i = 0; i < 100; i++) {
        hdrs[i] = malloc(32);
        snprintf(hdrs[i], 32, "X-H%d: %d", i, i);
        h[i] = hdrs[i];
    }
    h[100] = NULL;
    resp *r = req("GET", "/v1/objects/x", h, NULL, -1);
    assert_error(r, 431, "headers_too_large");
    resp_free(r);
    for (int i = 0; i < 100; i++)
        free(hdrs[i]);
}
END_TEST

/* ---- listing, flush, stats, metrics, health ---- */

START_TEST(http_list_paginates_in_key_order)
{
    for (int i = 0; i < 25; i++) {
        char path[64], v[16];
        snprintf(path, sizeof path, "/v1/objects/list/k%02d", i);
        int n = snprintf(v, sizeof v, "%d", i);
        ck_assert_int_eq(status_of("PUT", path, v, n), 201);
    }
    ck_assert_int_eq(status_of("PUT", "/v1/objects/listx", "no", 2), 201);
    char after[64] = "";
    int seen = 0, pages = 0;
    for (;;) {
        char path[256];
        snprintf(path, sizeof path, "/v1/objects?prefix=list%%2F&limit=10%s%s",
                 after[0] ? "&start_after=" : "", after);
        resp *r = req("GET", path, NULL, NULL, -1);
        ck_assert_int_eq(r->status, 200);
        json_t *root = json_loads(r->body, 0, NULL);
        ck_assert_ptr_nonnull(root);
        json_t *keys = json_object_get(root, "keys");
        pages++;
        for (size_t i = 0; i < json_array_size(keys); i++) {
            json_t *e = json_array_get(keys, i);
            char want[32];
            snprintf(want, sizeof want, "list/k%02d", seen);
            ck_assert_str_eq(json_string_value(json_object_get(e, "key")), want);
            ck_assert_int_eq(json_integer_value(json_object_get(e, "size")), seen >= 10 ? 2 : 1);
            ck_assert_int_gt(json_integer_value(json_object_get(e, "seq")), 0);
            /* each entry has the ETag and Last-Modified a GET of it sends (issue 11) */
            char kpath[64];
            snprintf(kpath, sizeof kpath, "/v1/objects/%s", want);
            resp *g = req("GET", kpath, NULL, NULL, -1);
            ck_assert_int_eq(g->status, 200);
            const char *etag = json_string_value(json_object_get(e, "etag"));
            ck_assert_msg(etag && strcmp(etag, resp_header(g, "ETag")) == 0, "list etag %s",
                          etag ? etag : "(none)");
            const char *lm = json_string_value(json_object_get(e, "last_modified"));
            ck_assert_msg(lm && strcmp(lm, resp_header(g, "Last-Modified")) == 0, "list last_modified %s",
                          lm ? lm : "(none)");
            json_int_t wms = json_integer_value(json_object_get(e, "write_ms"));
            ck_assert_int_eq(wms / 1000, last_modified_of(kpath));
            resp_free(g);
            seen++;
        }
        json_t *next = json_object_get(root, "next_start_after");
        if (!json_is_true(json_object_get(root, "truncated"))) {
            ck_assert_ptr_null(next);
            json_decref(root);
            resp_free(r);
            break;
        }
        ck_assert_uint_eq(json_array_size(keys), 10);
        ck_assert_msg(json_is_string(next), "truncated page without next_start_after: %s", r->body);
        /* list/kNN needs its '/' encoded in a query */
        const char *k = json_string_value(next);
        snprintf(after, sizeof after, "list%%2F%s", k + 5);
        json_decref(root);
        resp_free(r);
        ck_assert_int_lt(pages, 10);
    }
    ck_assert_int_eq(seen, 25);
    ck_assert_int_eq(pages, 3);
    ck_assert_int_eq(status_of("GET", "/v1/objects?limit=0", NULL, -1), 400);
    ck_assert_int_eq(status_of("GET", "/v1/objects?limit=ten", NULL, -1), 400);
    resp *r = req("GET", "/v1/objects?limti=5", NULL, NULL, -1);
    assert_error(r, 400, "bad_request");
    ck_assert_ptr_nonnull(strstr(r->body, "limti"));
    resp_free(r);
    ck_assert_int_eq(status_of("GET", "/v1/objects?prefix=%zz", NULL, -1), 400);
}
END_TEST

START_TEST(http_flush_waits_for_durability)
{
    ck_assert_int_eq(status_of("PUT", "/v1/objects/flushed", "f", 1), 201);
    resp *r = req("POST", "/v1/flush?wait=local", NULL, NULL, -1);
    ck_assert_msg(r->status == 200, "flush local: %ld %s", r->status, r->body);
    ck_assert_ptr_nonnull(strstr(r->body, "\"durable\":\"local\""));
    resp_free(r);
    r = req("POST", "/v1/flush", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    resp_free(r);
    r = req("POST", "/v1/flush?wait=soon", NULL, NULL, -1);
    assert_error(r, 400, "bad_request");
    resp_free(r);
    /* still readable after the seal */
    r = req("GET", "/v1/objects/flushed", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "f");
    resp_free(r);
}
END_TEST

/* POST /v1/compact?wait=1 compacts and answers when done; overwritten versions are gone, the
 * newest reads back, and /metrics shows the compaction counters. */
START_TEST(http_compact_waits_for_the_target_shape)
{
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(status_of("PUT", "/v1/objects/compacted", round == 2 ? "new" : "old", 3), 201);
        resp *f = req("POST", "/v1/flush?wait=local", NULL, NULL, -1);
        ck_assert_int_eq(f->status, 200);
        resp_free(f);
    }
    resp *r = req("POST", "/v1/compact?wait=1", NULL, NULL, -1);
    ck_assert_msg(r->status == 200, "compact: %ld %s", r->status, r->body);
    ck_assert_ptr_nonnull(strstr(r->body, "\"compacted\":true"));
    ck_assert_ptr_nonnull(strstr(r->body, "\"segments_per_read_max\":1"));
    resp_free(r);
    r = req("GET", "/v1/objects/compacted", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "new");
    resp_free(r);
    r = req("POST", "/v1/compact", NULL, NULL, -1);
    assert_error(r, 400, "bad_request");
    resp_free(r);
    r = req("GET", "/v1/compact", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 405);
    resp_free(r);
    r = req("GET", "/metrics", NULL, NULL, -1);
    ck_assert_ptr_nonnull(strstr(r->body, "floe_compaction_written_bytes_total "));
    ck_assert_ptr_nonnull(strstr(r->body, "floe_compaction_queue_depth 0"));
    ck_assert_ptr_nonnull(strstr(r->body, "floe_segments_per_read_max 1"));
    resp_free(r);
    r = req("GET", "/v1/stats", NULL, NULL, -1);
    ck_assert_ptr_nonnull(strstr(r->body, "\"compactions\":"));
    resp_free(r);
}
END_TEST

/* DELETE /v1/objects?prefix=P deletes every key under P with one request; an empty or missing
 * prefix is refused rather than taken for "everything". */
START_TEST(http_delete_prefix_removes_every_key_under_it)
{
    ck_assert_int_eq(status_of("PUT", "/v1/objects/tmp/a", "1", 1), 201);
    ck_assert_int_eq(status_of("PUT", "/v1/objects/tmp/b", "2", 1), 201);
    ck_assert_int_eq(status_of("PUT", "/v1/objects/tmpkeep", "3", 1), 201);
    resp *r = req("DELETE", "/v1/objects?prefix=tmp%2F", NULL, NULL, -1);
    ck_assert_msg(r->status == 200, "delete prefix: %ld %s", r->status, r->body);
    ck_assert_ptr_nonnull(strstr(r->body, "\"deleted_prefix\":\"tmp/\""));
    resp_free(r);
    ck_assert_int_eq(status_of("GET", "/v1/objects/tmp/a", NULL, 0), 404);
    ck_assert_int_eq(status_of("GET", "/v1/objects/tmp/b", NULL, 0), 404);
    ck_assert_int_eq(status_of("GET", "/v1/objects/tmpkeep", NULL, 0), 200);
    r = req("GET", "/v1/objects?prefix=tmp", NULL, NULL, -1);
    ck_assert_ptr_null(strstr(r->body, "tmp/a"));
    ck_assert_ptr_nonnull(strstr(r->body, "tmpkeep"));
    resp_free(r);
    r = req("DELETE", "/v1/objects", NULL, NULL, -1);
    assert_error(r, 400, "bad_request");
    resp_free(r);
    r = req("DELETE", "/v1/objects?prefix=", NULL, NULL, -1);
    assert_error(r, 400, "bad_request");
    resp_free(r);
}
END_TEST

/* The fs cold tier is configured, so remote durability is available. */
START_TEST(http_flush_remote_waits_for_the_cold_tier)
{
    ck_assert_int_eq(status_of("PUT", "/v1/objects/flushed-remote", "r", 1), 201);
    resp *r = req("POST", "/v1/flush?wait=remote", NULL, NULL, -1);
    ck_assert_msg(r->status == 200, "flush remote: %ld %s", r->status, r->body);
    ck_assert_ptr_nonnull(strstr(r->body, "\"durable\":\"remote\""));
    resp_free(r);
    r = req("GET", "/v1/objects/flushed-remote", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "r");
    resp_free(r);
}
END_TEST

START_TEST(http_stats_is_json_with_store_and_http_counters)
{
    ck_assert_int_eq(status_of("PUT", "/v1/objects/stat", "s", 1), 201);
    resp *r = req("GET", "/v1/stats", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(resp_header(r, "Content-Type"), "application/json");
    json_error_t je;
    json_t *root = json_loads(r->body, 0, &je);
    ck_assert_msg(root != NULL, "stats is not JSON (%s): %s", je.text, r->body);
    ck_assert_int_ge(json_integer_value(json_object_get(root, "puts")), 1);
    ck_assert(json_is_integer(json_object_get(root, "wal_syncs")));
    ck_assert(json_is_boolean(json_object_get(root, "read_only")));
    ck_assert(json_is_integer(json_object_get(json_object_get(root, "s3_requests"), "put")));
    json_t *http = json_object_get(root, "http");
    ck_assert(json_is_object(http));
    ck_assert_int_ge(json_integer_value(json_object_get(http, "requests")), 1);
    ck_assert_int_ge(json_integer_value(json_object_get(http, "bytes_in")), 1);
    json_decref(root);
    resp_free(r);
}
END_TEST

START_TEST(http_metrics_has_the_expected_names)
{
    ck_assert_int_eq(status_of("PUT", "/v1/objects/metric", "m", 1), 201);
    ck_assert_int_eq(status_of("GET", "/v1/objects/metric", NULL, -1), 200);
    resp *r = req("GET", "/metrics", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_ptr_nonnull(strstr(resp_header(r, "Content-Type"), "text/plain"));
    const char *names[] = {
        "floe_http_requests_total{route=\"/v1/objects/{key}\",method=\"PUT\",code=\"201\"} ",
        "floe_http_request_duration_seconds_bucket{route=\"/v1/objects/"
        "{key}\",method=\"GET\",code=\"200\",le=\"",
        "floe_http_request_duration_seconds_count{",
        "floe_http_request_body_bytes_total ",
        "floe_http_response_body_bytes_total ",
        "floe_http_connections_open ",
        "floe_get_hits_total{tier=\"memory\"} ",
        "floe_get_hits_total{tier=\"cold\"} ",
        "floe_cache_hit_ratio{cache=\"object\"} ",
        "floe_object_cache_bytes ",
        "floe_block_cache_bytes ",
        "floe_decoded_cache_bytes ",
        "floe_meta_cache_bytes ",
        "floe_meta_cache_segments ",
        "floe_wal_syncs_total ",
        "floe_seals_total ",
        "floe_segments{state=\"local\"} ",
        "floe_segments{state=\"remote\"} ",
        "floe_bytes_pending_upload ",
        "floe_s3_requests_total{op=\"put\"} ",
        "floe_s3_errors_total{op=\"get\"} ",
        "floe_s3_retries_total{op=\"put\"} ",
        "# TYPE floe_http_request_duration_seconds histogram",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ck_assert_msg(strstr(r->body, names[i]) != NULL, "/metrics lacks %s", names[i]);
    resp_free(r);
}
END_TEST

static atomic_int wal_batch_failures;

/* /v1/stats' WAL group-commit fields, asserted to be there and consistent: wal_batch_hist has every
 * bucket by its range of writes, and wal_writes_per_sync is wal_synced_writes over their sum. Returns
 * the parsed object, for the caller to json_decref. */
static json_t *stats_with_wal_batches(uint64_t *synced, uint64_t *batches, uint64_t *ones)
{
    resp *r = req("GET", "/v1/stats", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    json_error_t je;
    json_t *root = json_loads(r->body, 0, &je);
    ck_assert_msg(root != NULL, "stats is not JSON (%s): %s", je.text, r->body);
    resp_free(r);
    json_t *hist = json_object_get(root, "wal_batch_hist");
    ck_assert(json_is_object(hist));
    ck_assert_uint_eq(json_object_size(hist), FLOE_WAL_BATCH_BUCKETS);
    const char *names[] = {"1", "2-3", "4-7", "8-15", "16383+" /* not a bucket */, "16384-32767", "32768+"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ck_assert_msg(json_is_integer(json_object_get(hist, names[i])) == (i != 4), "bucket %s", names[i]);
    *batches = 0;
    const char *k;
    json_t *v;
    json_object_foreach(hist, k, v) *batches += (uint64_t)json_integer_value(v);
    *ones = (uint64_t)json_integer_value(json_object_get(hist, "1"));
    ck_assert(json_is_integer(json_object_get(root, "wal_synced_writes")));
    *synced = (uint64_t)json_integer_value(json_object_get(root, "wal_synced_writes"));
    json_t *mean = json_object_get(root, "wal_writes_per_sync");
    ck_assert(json_is_number(mean));
    double want = *batches ? (double)*synced / (double)*batches : 0.0;
    ck_assert_double_eq_tol(json_number_value(mean), want, 0.001);
    return root;
}

/* The value of the /metrics line that starts with prefix (a name and its labels, then a space). */
static uint64_t metric_value(const char *body, const char *prefix)
{
    const char *p = body;
    size_t n = strlen(prefix);
    while (p && strncmp(p, prefix, n) != 0) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    ck_assert_msg(p != NULL, "/metrics lacks a line starting %s", prefix);
    return strtoull(p + n, NULL, 10);
}

static void *wal_batch_writer(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < 10; i++) {
        char path[64];
        snprintf(path, sizeof path, "/v1/objects/walbatch-conc/%d/%d", t, i);
        if (status_of("PUT", path, "v", 1) != 201)
            atomic_fetch_add(&wal_batch_failures, 1);
    }
    return NULL;
}

START_TEST(http_stats_and_metrics_show_writes_per_wal_group_commit)
{
    uint64_t synced0, batches0, ones0, synced, batches, ones;
    json_decref(stats_with_wal_batches(&synced0, &batches0, &ones0));
    /* One client, one write at a time: each write is its own group commit, in every sync mode. */
    ck_assert_int_eq(status_of("PUT", "/v1/objects/walbatch/a", "1", 1), 201);
    ck_assert_int_eq(status_of("PUT", "/v1/objects/walbatch/b", "2", 1), 201);
    ck_assert_int_eq(status_of("PUT", "/v1/objects/walbatch/c", "3", 1), 201);
    ck_assert_int_eq(status_of("DELETE", "/v1/objects/walbatch/a", NULL, -1), 204);
    ck_assert_int_eq(status_of("DELETE", "/v1/objects?prefix=walbatch%2F", NULL, -1), 200);
    json_decref(stats_with_wal_batches(&synced, &batches, &ones));
    ck_assert_uint_eq(synced - synced0, 5);
    ck_assert_uint_eq(batches - batches0, 5);
    ck_assert_uint_eq(ones - ones0, 5);

    /* /metrics: the same histogram, cumulative, bucket by bucket, with _sum and _count. */
    resp *r = req("GET", "/metrics", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_ptr_nonnull(strstr(r->body, "# TYPE floe_wal_sync_batch_writes histogram\n"));
    uint64_t prev = 0;
    for (int i = 0; i < FLOE_WAL_BATCH_BUCKETS - 1; i++) {
        char line[96];
        snprintf(line, sizeof line, "floe_wal_sync_batch_writes_bucket{le=\"%llu\"} ",
                 (unsigned long long)((2ull << i) - 1));
        uint64_t v = metric_value(r->body, line);
        ck_assert_uint_ge(v, prev);
        if (i == 0)
            ck_assert_uint_eq(v, ones);
        prev = v;
    }
    uint64_t inf = metric_value(r->body, "floe_wal_sync_batch_writes_bucket{le=\"+Inf\"} ");
    ck_assert_uint_ge(inf, prev);
    ck_assert_uint_eq(inf, batches);
    ck_assert_uint_eq(metric_value(r->body, "floe_wal_sync_batch_writes_count "), batches);
    ck_assert_uint_eq(metric_value(r->body, "floe_wal_sync_batch_writes_sum "), synced);
    resp_free(r);

    /* Concurrent clients share group commits; once every write is answered, each was counted
     * once: the histogram's sum is the puts and deletes since the store opened, whatever the
     * batches were. */
    pthread_t th[8];
    atomic_store(&wal_batch_failures, 0);
    for (int t = 0; t < 8; t++)
        pthread_create(&th[t], NULL, wal_batch_writer, (void *)(intptr_t)t);
    for (int t = 0; t < 8; t++)
        pthread_join(th[t], NULL);
    ck_assert_int_eq(atomic_load(&wal_batch_failures), 0);
    r = req("GET", "/metrics", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    uint64_t sum = metric_value(r->body, "floe_wal_sync_batch_writes_sum ");
    uint64_t count = metric_value(r->body, "floe_wal_sync_batch_writes_count ");
    fprintf(stderr, "http group commit: %.2f writes per group commit over the suite\n",
            count ? (double)sum / (double)count : 0.0);
    ck_assert_uint_ge(sum, synced + 80);
    ck_assert_uint_eq(sum, metric_value(r->body, "floe_puts_total ") +
                               metric_value(r->body, "floe_deletes_total "));
    ck_assert_uint_eq(count, metric_value(r->body, "floe_wal_sync_batch_writes_bucket{le=\"+Inf\"} "));
    resp_free(r);
}
END_TEST

START_TEST(http_health_endpoints)
{
    resp *r = req("GET", "/healthz", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    resp_free(r);
    r = req("GET", "/readyz", NULL, NULL, -1);
    ck_assert_msg(r->status == 200, "readyz: %ld %s", r->status, r->body);
    resp_free(r);
}
END_TEST

/* ---- concurrency ---- */

static atomic_int concurrent_failures;

static void *client_thread(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < 100; i++) {
        char path[64], value[128];
        snprintf(path, sizeof path, "/v1/objects/conc/%d/%d", t, i);
        int n = snprintf(value, sizeof value, "thread %d op %d %0*d", t, i, (i % 50) + 1, 0);
        int ok = 0;
        if (i % 3 == 2) {
            resp *g = req("GET", path, NULL, NULL, -1);
            ok = g->status == 404;
            resp_free(g);
            resp *p = req("PUT", path, NULL, value, n);
            ok = ok && p->status == 201;
            resp_free(p);
        } else {
            resp *p = req("PUT", path, NULL, value, n);
            resp *g = p->status == 201 ? req("GET", path, NULL, NULL, -1) : NULL;
            ok = g && g->status == 200 && g->len == (size_t)n && memcmp(g->body, value, (size_t)n) == 0;
            resp_free(p);
            resp_free(g);
        }
        if (!ok)
            atomic_fetch_add(&concurrent_failures, 1);
    }
    return NULL;
}

START_TEST(http_concurrent_clients_see_their_writes)
{
    pthread_t th[8];
    atomic_store(&concurrent_failures, 0);
    for (int t = 0; t < 8; t++)
        pthread_create(&th[t], NULL, client_thread, (void *)(intptr_t)t);
    for (int t = 0; t < 8; t++)
        pthread_join(th[t], NULL);
    ck_assert_int_eq(atomic_load(&concurrent_failures), 0);
    resp *r = req("GET", "/v1/objects?prefix=conc%2F&limit=1000", NULL, NULL, -1);
    json_t *root = json_loads(r->body, 0, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(root, "keys")), 800);
    json_decref(root);
    resp_free(r);
}
END_TEST

/* ---- auth ---- */

static void auth_server_up(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    tu_server_config(&srv,
                     "\"tokens\": [ {\"token\": \"read-secret\", \"access\": \"read\"},"
                     " {\"token\": \"write-secret\", \"access\": \"write\"} ]",
                     "");
    tu_server_start(&srv);
}

START_TEST(http_auth_tokens_gate_reads_and_writes)
{
    const char *none[] = {NULL};
    const char *bad[] = {"Authorization: Bearer nope", NULL};
    const char *prefix[] = {"Authorization: Bearer read-secre", NULL};
    const char *rd[] = {"Authorization: Bearer read-secret", NULL};
    const char *wr[] = {"Authorization: Bearer write-secret", NULL};
    const char *basic[] = {"Authorization: Basic dXNlcjpwYXNz", NULL};

    resp *r = req("PUT", "/v1/objects/a", none, "x", 1);
    assert_error(r, 401, "unauthorized");
    ck_assert_ptr_nonnull(strstr(resp_header(r, "WWW-Authenticate"), "Bearer"));
    resp_free(r);
    r = req("GET", "/v1/objects/a", bad, NULL, -1);
    assert_error(r, 401, "unauthorized");
    ck_assert_ptr_nonnull(strstr(resp_header(r, "WWW-Authenticate"), "invalid_token"));
    resp_free(r);
    ck_assert_int_eq((r = req("GET", "/v1/objects/a", prefix, NULL, -1))->status, 401);
    resp_free(r);
    ck_assert_int_eq((r = req("GET", "/v1/objects/a", basic, NULL, -1))->status, 401);
    resp_free(r);
    r = req("PUT", "/v1/objects/a", rd, "x", 1);
    assert_error(r, 403, "forbidden");
    resp_free(r);
    ck_assert_int_eq((r = req("DELETE", "/v1/objects/a", rd, NULL, -1))->status, 403);
    resp_free(r);
    ck_assert_int_eq((r = req("POST", "/v1/flush", rd, NULL, -1))->status, 403);
    resp_free(r);
    ck_assert_int_eq((r = req("PUT", "/v1/objects/a", wr, "x", 1))->status, 201);
    resp_free(r);
    r = req("GET", "/v1/objects/a", rd, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "x");
    resp_free(r);
    ck_assert_int_eq((r = req("GET", "/v1/objects/a", wr, NULL, -1))->status, 200);
    resp_free(r);
    ck_assert_int_eq((r = req("GET", "/v1/objects", rd, NULL, -1))->status, 200);
    resp_free(r);
    ck_assert_int_eq((r = req("GET", "/v1/stats", none, NULL, -1))->status, 401);
    resp_free(r);
    ck_assert_int_eq((r = req("GET", "/metrics", none, NULL, -1))->status, 401);
    resp_free(r);
    ck_assert_int_eq((r = req("GET", "/metrics", rd, NULL, -1))->status, 200);
    resp_free(r);
    /* health checks need no token */
    ck_assert_int_eq((r = req("GET", "/healthz", none, NULL, -1))->status, 200);
    resp_free(r);
    ck_assert_int_eq((r = req("GET", "/readyz", none, NULL, -1))->status, 200);
    resp_free(r);
}
END_TEST

START_TEST(http_no_tokens_on_a_public_address_is_refused)
{
    tu_server s = {0};
    tu_server_config(&s, "", "");
    /* 0.0.0.0 without tokens must not start (it refuses before binding) */
    char text[1024];
    snprintf(text, sizeof text,
             "{\"data_dir\": \"%s/data\", \"http\": {\"listen\": \"0.0.0.0:0\"}, \"cold\": {\"backend\": "
             "\"none\"}}",
             s.dir);
    tu_write_file(s.cfg, text, strlen(text));
    char *buf = NULL;
    unsetenv("FLOE_TOKEN");
    ck_assert_int_ne(tu_floe_run(&buf, NULL, "serve -c %s", s.cfg), 0);
    ck_assert_msg(strstr(buf, "allow_unauthenticated_remote") != NULL, "printed: %s", buf);
    ck_assert_msg(strchr(buf, '\n') == buf + strlen(buf) - 1, "error is not one line: %s", buf);
    free(buf);
    tu_server_destroy(&s);
}
END_TEST

/* ---- limits ---- */

static void limits_server_up(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    tu_server_config(&srv,
                     "\"idle_timeout_s\": 2, \"min_body_bytes_per_s\": 2000, \"body_grace_s\": 1,"
                     " \"max_connections_per_ip\": 6",
                     "");
    tu_server_start(&srv);
}

START_TEST(http_slow_upload_is_closed_and_stores_nothing)
{
    const char *head = "PUT /v1/objects/slow HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n";
    int fd = raw_connect(srv.port);
    raw_send(fd, head, strlen(head));
    int64_t start_ms = clock_now_ms();
    int closed = 0;
    char buf[4096];
    /* 100 bytes every 250 ms is 400 bytes/s, under the 2000 bytes/s floor */
    while (!closed && clock_now_ms() - start_ms < 8000) {
        char chunk[100];
        memset(chunk, 's', sizeof chunk);
        raw_send(fd, chunk, sizeof chunk);
        raw_read(fd, buf, sizeof buf, 250, &closed);
    }
    close(fd);
    ck_assert_msg(closed, "the server kept a 400 bytes/s upload open for 8 s");
    ck_assert_int_eq(status_of("GET", "/v1/objects/slow", NULL, -1), 404);
}
END_TEST

START_TEST(http_idle_connection_is_closed)
{
    int fd = raw_connect(srv.port);
    char buf[256];
    int closed = 0;
    uint64_t start_ns = clock_now_ns();
    raw_read(fd, buf, sizeof buf, 8000, &closed);
    close(fd);
    double open_s = (double)(clock_now_ns() - start_ns) / 1e9;
    ck_assert_msg(closed, "an idle connection stayed open 8 s with idle_timeout_s 2");
    ck_assert_msg(open_s >= 1.0, "closed after %.2f s, before the timeout", open_s);
}
END_TEST

START_TEST(http_per_ip_connection_limit)
{
    int fds[6];
    for (int i = 0; i < 6; i++)
        fds[i] = raw_connect(srv.port);
    clock_sleep_ms(200);
    int extra = raw_connect(srv.port); /* the 7th from this address is closed at once */
    char buf[256];
    int closed = 0;
    raw_read(extra, buf, sizeof buf, 1500, &closed);
    close(extra);
    for (int i = 0; i < 6; i++)
        close(fds[i]);
    ck_assert_msg(closed, "a 7th connection from one address was kept with max_connections_per_ip 6");
    clock_sleep_ms(200);
    ck_assert_int_eq(status_of("GET", "/healthz", NULL, -1), 200);
}
END_TEST

/* ---- shutdown and crash ---- */

START_TEST(http_sigterm_finishes_the_request_in_flight)
{
    tu_server s = {0};
    tu_server_config(&s, "", "");
    tu_server_start(&s);
    const char *head = "PUT /v1/objects/inflight HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n";
    int fd = raw_connect(s.port);
    raw_send(fd, head, strlen(head));
    raw_send(fd, "01234", 5);
    clock_sleep_ms(200);
    kill(s.pid, SIGTERM);
    clock_sleep_ms(300);
    raw_send(fd, "56789", 5);
    char buf[2048];
    int closed = 0;
    raw_read(fd, buf, sizeof buf, 5000, &closed);
    close(fd);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 201", 12) == 0, "in-flight PUT got: %s", buf);
    int status = 0;
    for (int i = 0; i < 1000 && waitpid(s.pid, &status, WNOHANG) != s.pid; i++)
        clock_sleep_ms(10);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    s.pid = 0;
    tu_server_start(&s);
    resp *r = req_to(s.base, "GET", "/v1/objects/inflight", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "0123456789");
    resp_free(r);
    ck_assert_int_eq(tu_server_stop(&s), 0);
    tu_server_destroy(&s);
}
END_TEST

/* A cold tier nobody answers (port 1 on loopback): the server still serves, and says it is not ready. */
START_TEST(http_readyz_is_503_while_the_cold_tier_fails)
{
    tu_server s = {0};
    s.dir = tu_tmpdir("http");
    snprintf(s.cfg, sizeof s.cfg, "%s/floe.json", s.dir);
    char text[1024];
    snprintf(text, sizeof text,
             "{\"data_dir\": \"%s/data\", \"http\": {\"listen\": \"127.0.0.1:0\"},"
             " \"cold\": {\"backend\": \"s3\", \"s3\": {\"endpoint\": \"http://127.0.0.1:1\", \"bucket\": "
             "\"floe-test\","
             " \"timeout_ms\": 500, \"max_retries\": 0}}}",
             s.dir);
    tu_write_file(s.cfg, text, strlen(text));
    setenv("AWS_ACCESS_KEY_ID", "test-key", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "test-secret", 1);
    tu_server_start(&s);
    resp *r = NULL;
    for (int i = 0; i < 100; i++) { /* the first failed S3 call may take a moment */
        resp_free(r);
        r = req_to(s.base, "GET", "/readyz", NULL, NULL, -1);
        if (r->status == 503)
            break;
        clock_sleep_ms(100);
    }
    ck_assert_msg(r->status == 503, "readyz with a dead cold tier: %ld %s", r->status, r->body);
    ck_assert_ptr_nonnull(resp_header(r, "Retry-After"));
    ck_assert_ptr_nonnull(strstr(r->body, "\"status\":\"not_ready\""));
    ck_assert_ptr_nonnull(strstr(r->body, "127.0.0.1:1"));
    resp_free(r);
    ck_assert_int_eq((r = req_to(s.base, "GET", "/healthz", NULL, NULL, -1))->status, 200);
    resp_free(r);
    /* writes still land locally */
    ck_assert_int_eq((r = req_to(s.base, "PUT", "/v1/objects/local-only", NULL, "x", 1))->status, 201);
    resp_free(r);
    ck_assert_int_eq(tu_server_stop(&s), 0);
    tu_server_destroy(&s);
}
END_TEST

/* The shipped layout puts the cold directory inside the data directory; a fresh machine has neither. */
START_TEST(http_default_layout_starts_in_an_empty_directory)
{
    tu_server s = {0};
    s.dir = tu_tmpdir("http");
    snprintf(s.cfg, sizeof s.cfg, "%s/floe.json", s.dir);
    char text[1024];
    snprintf(text, sizeof text,
             "{\"data_dir\": \"%s/data\", \"http\": {\"listen\": \"127.0.0.1:0\"},"
             " \"cold\": {\"backend\": \"fs\", \"fs\": {\"path\": \"%s/data/cold\"}}}",
             s.dir, s.dir);
    tu_write_file(s.cfg, text, strlen(text));
    tu_server_start(&s);
    resp *r = req_to(s.base, "PUT", "/v1/objects/first", NULL, "1", 1);
    ck_assert_int_eq(r->status, 201);
    resp_free(r);
    r = req_to(s.base, "POST", "/v1/flush?wait=remote", NULL, NULL, -1);
    ck_assert_msg(r->status == 200, "flush remote: %ld %s", r->status, r->body);
    resp_free(r);
    ck_assert_int_eq(tu_server_stop(&s), 0);
    tu_server_destroy(&s);
}
END_TEST

typedef struct crash_writer {
    const char *base;
    int id;
    atomic_int *stop;
    atomic_int acked; /* PUTs answered 201: keys crash/<id>/<0..acked-1> */
} crash_writer;

static void crash_value(int id, int i, char *v, size_t cap, int *len)
{
    int n = snprintf(v, cap, "value of writer %d put %d ", id, i);
    while (n < 200 + (i % 300) && (size_t)n < cap - 1) {
        v[n] = (char)('a' + (i + n) % 26);
        n++;
    }
    *len = n;
}

static void *crash_writer_main(void *arg)
{
    crash_writer *w = arg;
    for (int i = 0; !atomic_load(w->stop); i++) {
        char path[64], v[600];
        int len = 0;
        snprintf(path, sizeof path, "/v1/objects/crash/%d/%d", w->id, i);
        crash_value(w->id, i, v, sizeof v, &len);
        resp *r = req_to(w->base, "PUT", path, NULL, v, len);
        long st = r->status;
        resp_free(r);
        if (st != 201)
            break;
        atomic_store(&w->acked, i + 1);
    }
    return NULL;
}

START_TEST(http_kill9_keeps_every_acknowledged_put)
{
    tu_server s = {0};
    tu_server_config(&s, "", "\"wal\": {\"sync\": \"always\"}");
    tu_server_start(&s);
    atomic_int stop = 0;
    crash_writer w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i].base = s.base;
        w[i].id = i;
        w[i].stop = &stop;
        atomic_init(&w[i].acked, 0);
        pthread_create(&th[i], NULL, crash_writer_main, &w[i]);
    }
    /* kill while writes are in flight, after a good number were acknowledged */
    int64_t start_ms = clock_now_ms();
    while (clock_now_ms() - start_ms < 20000) {
        int total = 0;
        for (int i = 0; i < 4; i++)
            total += atomic_load(&w[i].acked);
        if (total >= 300)
            break;
        clock_sleep_ms(5);
    }
    tu_server_kill9(&s);
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    int total = 0;
    for (int i = 0; i < 4; i++)
        total += atomic_load(&w[i].acked);
    ck_assert_int_gt(total, 0);
    tu_server_start(&s);
    for (int t = 0; t < 4; t++) {
        int acked = atomic_load(&w[t].acked);
        for (int i = 0; i < acked; i++) {
            char path[64], v[600];
            int len = 0;
            snprintf(path, sizeof path, "/v1/objects/crash/%d/%d", t, i);
            crash_value(t, i, v, sizeof v, &len);
            resp *r = req_to(s.base, "GET", path, NULL, NULL, -1);
            ck_assert_msg(r->status == 200, "acknowledged %s lost after kill -9 (status %ld)", path,
                          r->status);
            ck_assert_uint_eq(r->len, (size_t)len);
            ck_assert_int_eq(memcmp(r->body, v, (size_t)len), 0);
            resp_free(r);
        }
    }
    ck_assert_int_eq(tu_server_stop(&s), 0);
    tu_server_destroy(&s);
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("endpoint");
    tcase_add_unchecked_fixture(tc, main_server_up, server_down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, http_put_get_roundtrips_every_byte_value);
    tcase_add_test(tc, http_put_stores_the_content_type);
    tcase_add_test(tc, http_overwrite_changes_etag_and_value);
    tcase_add_test(tc, http_empty_object_roundtrips);
    tcase_add_test(tc, http_max_object_is_accepted_and_one_byte_more_is_413);
    tcase_add_test(tc, http_keys_with_slashes_spaces_and_utf8);
    tcase_add_test(tc, http_malformed_keys_are_400);
    tcase_add_test(tc, http_key_longer_than_1024_bytes_is_414);
    tcase_add_test(tc, http_put_checks_content_md5_and_sha256);
    tcase_add_test(tc, http_delete_is_204_then_get_is_404);
    tcase_add_test(tc, http_head_has_the_headers_and_no_body);
    tcase_add_test(tc, http_get_and_head_send_last_modified_from_the_write_time);
    tcase_add_test(tc, http_expired_object_is_404_and_absent_from_lists);
    tcase_add_test(tc, http_range_requests);
    tcase_add_test(tc, http_if_none_match_gives_304);
    tcase_add_test(tc, http_unknown_method_is_405_with_allow);
    tcase_add_test(tc, http_unknown_path_is_404);
    tcase_add_test(tc, http_put_without_content_length_is_411);
    tcase_add_test(tc, http_short_body_stores_nothing);
    tcase_add_test(tc, http_oversized_headers_are_refused);
    tcase_add_test(tc, http_too_many_headers_are_refused);
    tcase_add_test(tc, http_list_paginates_in_key_order);
    tcase_add_test(tc, http_flush_waits_for_durability);
    tcase_add_test(tc, http_flush_remote_waits_for_the_cold_tier);
    tcase_add_test(tc, http_compact_waits_for_the_target_shape);
    tcase_add_test(tc, http_delete_prefix_removes_every_key_under_it);
    tcase_add_test(tc, http_stats_is_json_with_store_and_http_counters);
    tcase_add_test(tc, http_metrics_has_the_expected_names);
    tcase_add_test(tc, http_stats_and_metrics_show_writes_per_wal_group_commit);
    tcase_add_test(tc, http_health_endpoints);
    tcase_add_test(tc, http_concurrent_clients_see_their_writes);
    suite_add_tcase(s, tc);

    tc = tcase_create("conditional");
    tcase_add_unchecked_fixture(tc, main_server_up, server_down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, http_get_and_head_evaluate_every_precondition);
    tcase_add_test(tc, http_read_of_a_missing_key_is_404_whatever_the_preconditions);
    tcase_add_test(tc, http_if_range_sends_the_range_only_for_the_current_etag);
    tcase_add_test(tc, http_put_and_delete_write_only_when_the_preconditions_hold);
    tcase_add_test(tc, http_concurrent_conditional_puts_of_one_key_have_one_winner);
    tcase_add_test(tc, http_no_write_lands_between_a_conditional_check_and_its_write);
    suite_add_tcase(s, tc);

    tc = tcase_create("budget");
    tcase_add_unchecked_fixture(tc, budget_server_up, server_down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, http_get_bodies_held_at_once_stay_inside_the_response_budget);
    suite_add_tcase(s, tc);

    tc = tcase_create("auth");
    tcase_add_unchecked_fixture(tc, auth_server_up, server_down);
    tcase_add_test(tc, http_auth_tokens_gate_reads_and_writes);
    tcase_add_test(tc, http_no_tokens_on_a_public_address_is_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_unchecked_fixture(tc, limits_server_up, server_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, http_slow_upload_is_closed_and_stores_nothing);
    tcase_add_test(tc, http_idle_connection_is_closed);
    tcase_add_test(tc, http_per_ip_connection_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, http_sigterm_finishes_the_request_in_flight);
    tcase_add_test(tc, http_kill9_keeps_every_acknowledged_put);
    tcase_add_test(tc, http_readyz_is_503_while_the_cold_tier_fails);
    tcase_add_test(tc, http_default_layout_starts_in_an_empty_directory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    return tu_run_suite(http_suite());
}
