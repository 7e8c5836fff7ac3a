/* Objects of any size over HTTP (issue 11), against a real `floe serve` process: PUT streams into
 * chunks and GET streams them back, both in bounded memory; ETags are the MD5 of the bytes; user
 * metadata round-trips; a bad digest or a cut PUT stores nothing and leaves no chunks; Range reads
 * across chunk boundaries; conditional requests on chunked objects; concurrent slow readers stay
 * inside the response budget; a multi-GiB object goes through with the server's RSS measured. */
#include <curl/curl.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
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
#include <unistd.h>

#include "clock.h"
#include "http_client.h"
#include "testutil.h"


#define MIB ((uint64_t)1024 * 1024)
#define GIB ((uint64_t)1024 * MIB)
/* object.chunk_bytes of the small-chunk server: every size class is a few KiB of test data */
#define CHUNK (64u * 1024)

static tu_server srv; /* the running tcase's server */

/* ---- servers ---- */

/* A server without a cold tier (every byte stays in data_dir, so its disk use can be measured),
 * object.chunk_bytes chunk, max_object_bytes max_object, and extra fields in "http". */
static void objects_server_up_with(uint64_t chunk, uint64_t max_object, const char *http_extra)
{
    curl_global_init(CURL_GLOBAL_ALL);
    srv.dir = tu_tmpdir("http-objects");
    snprintf(srv.cfg, sizeof srv.cfg, "%s/floe.json", srv.dir);
    char text[2048];
    /* max_body_bytes_in_flight: a config of this floe still asks for at least max_object_bytes */
    snprintf(text, sizeof text,
             "{\"data_dir\": \"%s/data\", \"http\": {\"listen\": \"127.0.0.1:0\", \"threads\": 2,"
             " \"max_object_bytes\": %" PRIu64 ", \"max_body_bytes_in_flight\": %" PRIu64 "%s%s},"
             " \"cold\": {\"backend\": \"none\"}, \"object\": {\"chunk_bytes\": %" PRIu64 "}}",
             srv.dir, max_object, max_object, http_extra[0] ? ", " : "", http_extra, chunk);
    tu_write_file(srv.cfg, text, strlen(text));
    tu_server_start(&srv);
}

static void small_chunk_server_up(void)
{
    objects_server_up_with(CHUNK, 64 * MIB, "");
}

static void server_down(void)
{
    tu_server_destroy(&srv);
}

static resp *req(const char *method, const char *path, const char *const *headers, const void *body, long len)
{
    return tu_http(srv.base, method, path, headers, body, len, 0);
}

static resp *req1(const char *method, const char *path, const char *h, const void *body, long len)
{
    const char *hs[] = {h, NULL};
    return req(method, path, h ? hs : NULL, body, len);
}

static long status_of(const char *method, const char *path, const char *h)
{
    resp *r = req1(method, path, h, NULL, -1);
    long st = r->status;
    tu_resp_free(r);
    return st;
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
    tu_resp_free(r);
    return n;
}

static void compact(void)
{
    resp *r = req("POST", "/v1/compact?wait=1", NULL, NULL, -1);
    ck_assert_msg(r->status == 200, "compact: %ld %s", r->status, r->body);
    tu_resp_free(r);
}

/* ---- bytes, digests, disk ---- */

/* The test data: byte i of the object with this seed, 8 bytes at a time from splitmix64, so any
 * range of a multi-GiB body can be made on the fly. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void fill_at(unsigned char *buf, uint64_t pos, size_t len, uint64_t seed)
{
    size_t i = 0;
    while (i < len) {
        uint64_t word = mix64(seed * 0x100000001b3ull ^ ((pos + i) / 8));
        size_t off = (size_t)((pos + i) % 8);
        for (; off < 8 && i < len; off++, i++)
            buf[i] = (unsigned char)(word >> (8 * off));
    }
}

static unsigned char *make_bytes(size_t len, uint64_t seed)
{
    unsigned char *p = malloc(len ? len : 1);
    fill_at(p, 0, len, seed);
    return p;
}

static void md5_etag(const void *data, size_t len, char etag[40])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    ck_assert_int_eq(EVP_Digest(data, len, md, &n, EVP_md5(), NULL), 1);
    etag[0] = '"';
    for (unsigned i = 0; i < 16; i++)
        snprintf(etag + 1 + 2 * i, 3, "%02x", md[i]);
    etag[33] = '"';
    etag[34] = '\0';
}

static void etag_of_digest(const unsigned char md[16], char etag[40])
{
    etag[0] = '"';
    for (unsigned i = 0; i < 16; i++)
        snprintf(etag + 1 + 2 * i, 3, "%02x", md[i]);
    etag[33] = '"';
    etag[34] = '\0';
}

static uint64_t du_bytes;
static int du_visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (flag == FTW_F)
        du_bytes += (uint64_t)st->st_blocks * 512;
    return 0;
}

/* The disk space the files under dir take (st_blocks, like du). */
static uint64_t disk_usage(const char *dir)
{
    du_bytes = 0;
    nftw(dir, du_visit, 32, FTW_PHYS);
    return du_bytes;
}

static uint64_t data_dir_usage(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/data", srv.dir);
    return disk_usage(path);
}

/* ---- objects at every size around the chunk size ---- */

/* Round trips at 0 B, 1 B, chunk size - 1, chunk size, chunk size + 1 and several chunks: the bytes
 * come back, and the ETag of the PUT, GET, HEAD and list is the MD5 of the bytes. */
START_TEST(objects_round_trip_at_every_size_around_the_chunk_size)
{
    const size_t sizes[] = {0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17, 7 * CHUNK - 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *v = make_bytes(n, 100 + i);
        char path[64], want[40];
        snprintf(path, sizeof path, "/v1/objects/size/%zu", n);
        md5_etag(v, n, want);
        resp *r = req1("PUT", path, "Content-Type: application/x-test", v, (long)n);
        ck_assert_msg(r->status == 201, "PUT of %zu bytes: %ld %s", n, r->status, r->body);
        ck_assert_msg(strcmp(tu_resp_header(r, "ETag"), want) == 0, "PUT of %zu bytes: ETag %s, MD5 %s", n,
                      tu_resp_header(r, "ETag"), want);
        tu_resp_free(r);
        r = req("GET", path, NULL, NULL, -1);
        ck_assert_msg(r->status == 200 && r->len == n && memcmp(r->body, v, n) == 0,
                      "GET of %zu bytes: %ld, %zu bytes back", n, r->status, r->len);
        ck_assert_str_eq(tu_resp_header(r, "ETag"), want);
        ck_assert_str_eq(tu_resp_header(r, "Content-Type"), "application/x-test");
        ck_assert_ptr_nonnull(tu_resp_header(r, "Last-Modified"));
        tu_resp_free(r);
        r = req("HEAD", path, NULL, NULL, -1);
        ck_assert_int_eq(r->status, 200);
        ck_assert_uint_eq(strtoull(tu_resp_header(r, "Content-Length"), NULL, 10), n);
        ck_assert_str_eq(tu_resp_header(r, "ETag"), want);
        tu_resp_free(r);
        free(v);
    }
    /* the list gives each key the same ETag */
    resp *l = req("GET", "/v1/objects?prefix=size%2F", NULL, NULL, -1);
    json_t *root = json_loads(l->body, 0, NULL);
    json_t *keys = json_object_get(root, "keys");
    ck_assert_uint_eq(json_array_size(keys), sizeof sizes / sizeof sizes[0]);
    for (size_t k = 0; k < json_array_size(keys); k++) {
        json_t *e = json_array_get(keys, k);
        size_t n = (size_t)json_integer_value(json_object_get(e, "size"));
        size_t i = 0;
        while (sizes[i] != n)
            i++;
        unsigned char *v = make_bytes(n, 100 + i);
        char want[40];
        md5_etag(v, n, want);
        ck_assert_str_eq(json_string_value(json_object_get(e, "etag")), want);
        free(v);
    }
    json_decref(root);
    tu_resp_free(l);
}
END_TEST

/* x-floe-meta-* headers come back on GET and HEAD (names lower-cased), an overwrite without them
 * has none, and more than 2048 bytes of them is 400 metadata_too_large, naming the limit, with
 * nothing stored. */
START_TEST(objects_user_metadata_round_trips_and_is_capped)
{
    const char *path = "/v1/objects/meta/a";
    unsigned char *v = make_bytes(3 * CHUNK + 5, 7);
    const char *h[] = {"X-Floe-Meta-Owner: Ann B", "x-floe-meta-build.id: 42 \xc3\xa9", NULL};
    resp *r = req("PUT", path, h, v, 3 * CHUNK + 5);
    ck_assert_msg(r->status == 201, "%ld %s", r->status, r->body);
    tu_resp_free(r);
    const char *methods[] = {"GET", "HEAD"};
    for (int m = 0; m < 2; m++) {
        r = req(methods[m], path, NULL, NULL, -1);
        ck_assert_int_eq(r->status, 200);
        ck_assert_msg(strstr(r->headers, "\r\nx-floe-meta-owner: Ann B\r\n") != NULL, "%s: %s", methods[m],
                      r->headers);
        ck_assert_msg(strstr(r->headers, "\r\nx-floe-meta-build.id: 42 \xc3\xa9\r\n") != NULL, "%s: %s",
                      methods[m], r->headers);
        tu_resp_free(r);
    }
    r = req("PUT", path, NULL, "plain", 5);
    ck_assert_int_eq(r->status, 201);
    tu_resp_free(r);
    r = req("GET", path, NULL, NULL, -1);
    ck_assert_msg(strcasestr(r->headers, "x-floe-meta-") == NULL, "an overwrite kept metadata: %s",
                  r->headers);
    tu_resp_free(r);

    /* 2048 bytes exactly: "x-floe-meta-a: <2045 bytes>" is 1 + 1 + 2045 + 1 */
    char *big = malloc(4200);
    int n = snprintf(big, 4200, "x-floe-meta-a: ");
    memset(big + n, 'v', 2045);
    big[n + 2045] = '\0';
    r = req1("PUT", "/v1/objects/meta/full", big, "x", 1);
    ck_assert_msg(r->status == 201, "2048 bytes of metadata: %ld %s", r->status, r->body);
    tu_resp_free(r);
    r = req("HEAD", "/v1/objects/meta/full", NULL, NULL, -1);
    ck_assert_ptr_nonnull(tu_resp_header(r, "x-floe-meta-a"));
    ck_assert_uint_eq(strlen(tu_resp_header(r, "x-floe-meta-a")), 2045);
    tu_resp_free(r);
    big[n + 2045] = 'v';
    big[n + 2046] = '\0';
    r = req1("PUT", "/v1/objects/meta/over", big, "x", 1);
    tu_assert_error(r, 400, "metadata_too_large");
    ck_assert_msg(strstr(r->body, "2048") != NULL, "the 400 does not name the limit: %s", r->body);
    tu_resp_free(r);
    ck_assert_int_eq(status_of("GET", "/v1/objects/meta/over", NULL), 404);
    /* bad names and values */
    r = req1("PUT", "/v1/objects/meta/over", "x-floe-meta-a;", "x", 1);
    tu_assert_error(r, 400, "invalid_metadata");
    tu_resp_free(r);
    const char *twice[] = {"x-floe-meta-k: 1", "X-Floe-Meta-K: 2", NULL};
    r = req("PUT", "/v1/objects/meta/over", twice, "x", 1);
    tu_assert_error(r, 400, "invalid_metadata");
    tu_resp_free(r);
    ck_assert_int_eq(status_of("GET", "/v1/objects/meta/over", NULL), 404);
    free(big);
    free(v);
}
END_TEST

/* A chunked PUT whose Content-MD5 or x-floe-checksum-sha256 does not match is 400 bad_digest,
 * leaves the version before it, and leaves no chunks behind: after compaction the data directory
 * takes no more room than before the PUTs. */
START_TEST(objects_digest_mismatch_stores_nothing_and_leaves_no_chunks)
{
    const char *path = "/v1/objects/digest/big";
    resp *p = req("PUT", path, NULL, "before", 6);
    ck_assert_int_eq(p->status, 201);
    tu_resp_free(p);
    compact();
    uint64_t before = data_dir_usage();
    size_t n = 40 * CHUNK + 3; /* 2.5 MiB */
    unsigned char *v = make_bytes(n, 9);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdn = 0;
    EVP_Digest("other bytes", 11, md, &mdn, EVP_md5(), NULL);
    char md5_b64[32], h[128];
    EVP_EncodeBlock((unsigned char *)md5_b64, md, (int)mdn);
    snprintf(h, sizeof h, "Content-MD5: %s", md5_b64);
    for (int round = 0; round < 4; round++) {
        resp *r = req1("PUT", path, h, v, (long)n);
        tu_assert_error(r, 400, "bad_digest");
        tu_resp_free(r);
        r = req1("PUT", path,
                 "x-floe-checksum-sha256: "
                 "0000000000000000000000000000000000000000000000000000000000000000",
                 v, (long)n);
        tu_assert_error(r, 400, "bad_digest");
        ck_assert_msg(strstr(r->body, "SHA-256") != NULL, "%s", r->body);
        tu_resp_free(r);
    }
    resp *g = req("GET", path, NULL, NULL, -1);
    ck_assert_msg(g->status == 200 && strcmp(g->body, "before") == 0, "%ld %s", g->status, g->body);
    tu_resp_free(g);
    compact();
    uint64_t after = data_dir_usage();
    /* 8 refused PUTs sent 20 MiB: the directory may differ by a WAL file's slack, not by them */
    ck_assert_msg(after <= before + 4 * MIB,
                  "the data directory grew from %" PRIu64 " to %" PRIu64
                  " bytes after refused PUTs and compaction",
                  before, after);
    free(v);
}
END_TEST

static void check_range(const char *path, const unsigned char *v, size_t n, const char *range, uint64_t first,
                        uint64_t last)
{
    char h[96], cr[96];
    snprintf(h, sizeof h, "Range: %s", range);
    resp *r = req1("GET", path, h, NULL, -1);
    ck_assert_msg(r->status == 206, "Range %s: %ld", range, r->status);
    snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%zu", first, last, n);
    ck_assert_msg(strcmp(tu_resp_header(r, "Content-Range"), cr) == 0,
                  "Range %s: Content-Range %s, expected %s", range, tu_resp_header(r, "Content-Range"), cr);
    ck_assert_msg(r->len == last - first + 1 && memcmp(r->body, v + first, r->len) == 0,
                  "Range %s: %zu bytes, not bytes %" PRIu64 "-%" PRIu64, range, r->len, first, last);
    tu_resp_free(r);
}

/* Ranges inside one chunk, across one or several chunk boundaries, suffixes longer and shorter than
 * a chunk, and open ends, of a chunked object. */
START_TEST(objects_ranges_across_chunk_boundaries_and_suffixes)
{
    const char *path = "/v1/objects/range/chunked";
    size_t n = 4 * CHUNK + 123;
    unsigned char *v = make_bytes(n, 11);
    resp *r = req("PUT", path, NULL, v, (long)n);
    ck_assert_int_eq(r->status, 201);
    tu_resp_free(r);
    char range[64];
    struct {
        uint64_t a, b;
    } spans[] = {{0, 0},
                 {5, 100},
                 {CHUNK - 10, CHUNK + 9},
                 {CHUNK - 1, CHUNK},
                 {CHUNK, 2 * CHUNK - 1},
                 {CHUNK - 1, 3 * CHUNK + 1},
                 {0, n - 1},
                 {4 * CHUNK, n - 1},
                 {n - 1, n - 1}};
    for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++) {
        snprintf(range, sizeof range, "bytes=%" PRIu64 "-%" PRIu64, spans[i].a, spans[i].b);
        check_range(path, v, n, range, spans[i].a, spans[i].b);
    }
    snprintf(range, sizeof range, "bytes=%u-", 2 * CHUNK + 7);
    check_range(path, v, n, range, 2 * CHUNK + 7, n - 1);
    check_range(path, v, n, "bytes=-5", n - 5, n - 1);
    snprintf(range, sizeof range, "bytes=-%u", CHUNK + 200);
    check_range(path, v, n, range, n - CHUNK - 200, n - 1);
    snprintf(range, sizeof range, "bytes=-%zu", n + 1000);
    check_range(path, v, n, range, 0, n - 1);
    snprintf(range, sizeof range, "bytes=%zu-%zu", n - 3, n + 1000);
    check_range(path, v, n, range, n - 3, n - 1);
    snprintf(range, sizeof range, "Range: bytes=%zu-", n);
    r = req1("GET", path, range, NULL, -1);
    tu_assert_error(r, 416, "range_not_satisfiable");
    tu_resp_free(r);
    free(v);
}
END_TEST

/* The conditional matrix on chunked objects: create-only, If-Match of the current and of a stale
 * ETag, If-Unmodified-Since, 304 on GET and HEAD, If-Range. A PUT sent with Expect: 100-continue
 * whose precondition fails is refused before its body is sent. */
START_TEST(objects_conditional_requests_on_chunked_objects)
{
    const char *path = "/v1/objects/cond/chunked";
    size_t n = 5 * CHUNK + 9;
    unsigned char *v1 = make_bytes(n, 21), *v2 = make_bytes(n, 22);
    char e1[40], e2[40], h[128];
    md5_etag(v1, n, e1);
    md5_etag(v2, n, e2);
    resp *r = req1("PUT", path, "If-None-Match: *", v1, (long)n);
    ck_assert_msg(r->status == 201, "%ld %s", r->status, r->body);
    ck_assert_str_eq(tu_resp_header(r, "ETag"), e1);
    tu_resp_free(r);
    r = req1("PUT", path, "If-None-Match: *", v2, (long)n);
    tu_assert_error(r, 412, "precondition_failed");
    tu_resp_free(r);
    /* with Expect: 100-continue the 412 comes before the body: the server reads none of it */
    uint64_t in_before = http_stat("bytes_in");
    const char *expect[] = {"If-None-Match: *", "Expect: 100-continue", NULL};
    r = tu_http(srv.base, "PUT", path, expect, v2, (long)n, 1);
    tu_assert_error(r, 412, "precondition_failed");
    tu_resp_free(r);
    ck_assert_msg(http_stat("bytes_in") - in_before < CHUNK,
                  "the refused PUT's body was read (%" PRIu64 " bytes)", http_stat("bytes_in") - in_before);
    snprintf(h, sizeof h, "If-Match: %s", e2);
    r = req1("PUT", path, h, v2, (long)n);
    tu_assert_error(r, 412, "precondition_failed");
    char e1_hex[33];
    snprintf(e1_hex, sizeof e1_hex, "%.32s", e1 + 1);
    ck_assert_msg(strstr(r->body, e1_hex) != NULL, "the 412 does not name the current ETag %s: %s", e1,
                  r->body);
    tu_resp_free(r);
    snprintf(h, sizeof h, "If-Match: %s", e1);
    r = req1("PUT", path, h, v2, (long)n);
    ck_assert_int_eq(r->status, 201);
    tu_resp_free(r);
    r = req1("PUT", path, h, v1, (long)n); /* e1 is stale now */
    tu_assert_error(r, 412, "precondition_failed");
    tu_resp_free(r);
    r = req1("PUT", path, "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT", v1, (long)n);
    tu_assert_error(r, 412, "precondition_failed");
    tu_resp_free(r);
    r = req("GET", path, NULL, NULL, -1);
    ck_assert(r->status == 200 && r->len == n && memcmp(r->body, v2, n) == 0);
    ck_assert_str_eq(tu_resp_header(r, "ETag"), e2);
    tu_resp_free(r);
    snprintf(h, sizeof h, "If-None-Match: %s", e2);
    ck_assert_int_eq(status_of("GET", path, h), 304);
    ck_assert_int_eq(status_of("HEAD", path, h), 304);
    snprintf(h, sizeof h, "If-None-Match: %s", e1);
    ck_assert_int_eq(status_of("GET", path, h), 200);
    snprintf(h, sizeof h, "If-Match: %s", e1);
    ck_assert_int_eq(status_of("GET", path, h), 412);
    char ir[128];
    snprintf(ir, sizeof ir, "If-Range: %s", e2);
    const char *ranged[] = {"Range: bytes=65530-65545", ir, NULL};
    r = req("GET", path, ranged, NULL, -1);
    ck_assert_int_eq(r->status, 206);
    ck_assert(r->len == 16 && memcmp(r->body, v2 + 65530, 16) == 0);
    tu_resp_free(r);
    snprintf(ir, sizeof ir, "If-Range: %s", e1);
    r = req("GET", path, ranged, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_uint_eq(r->len, n);
    tu_resp_free(r);
    /* DELETE If-Match of the current ETag */
    snprintf(h, sizeof h, "If-Match: %s", e2);
    ck_assert_int_eq(status_of("DELETE", path, h), 204);
    ck_assert_int_eq(status_of("GET", path, NULL), 404);
    free(v1);
    free(v2);
}
END_TEST

/* ---- streaming clients for the large tests ---- */

typedef struct stream {
    uint64_t size, pos, seed;
    EVP_MD_CTX *md5;
    int hash_received; /* GET: hash what comes back (a PUT hashes what it sends) */
    char etag[64];
    char headers[4096];
    size_t hlen;
} stream;

static size_t stream_read(char *buf, size_t size, size_t nitems, void *ud)
{
    stream *s = ud;
    size_t n = size * nitems;
    if (n > s->size - s->pos)
        n = (size_t)(s->size - s->pos);
    fill_at((unsigned char *)buf, s->pos, n, s->seed);
    EVP_DigestUpdate(s->md5, buf, n);
    s->pos += n;
    return n;
}

static size_t stream_write(char *data, size_t size, size_t n, void *ud)
{
    stream *s = ud;
    if (s->hash_received) {
        EVP_DigestUpdate(s->md5, data, size * n);
        s->pos += size * n;
    }
    return size * n;
}

static size_t stream_header(char *data, size_t size, size_t n, void *ud)
{
    stream *s = ud;
    size_t add = size * n;
    if (strncasecmp(data, "ETag:", 5) == 0) {
        size_t l = add - 5;
        while (l > 0 && (data[5 + l - 1] == '\r' || data[5 + l - 1] == '\n'))
            l--;
        const char *v = data + 5;
        while (l > 0 && *v == ' ')
            v++, l--;
        snprintf(s->etag, sizeof s->etag, "%.*s", (int)l, v);
    }
    return add;
}

/* PUT (size bytes of seed made on the fly) or GET of path, streaming; returns the status (minus the
 * CURLcode for a failed transfer), with the MD5 of the bytes sent or received in md5 and the MB/s. */
static long stream_transfer(const char *method, const char *path, uint64_t size, uint64_t seed,
                            unsigned char md5[16], char etag[64], double *mbps, uint64_t *bytes)
{
    stream s = {
        .size = size, .seed = seed, .md5 = EVP_MD_CTX_new(), .hash_received = strcmp(method, "GET") == 0};
    EVP_DigestInit_ex(s.md5, EVP_md5(), NULL);
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "%s%s", srv.base, path);
    struct curl_slist *hl = curl_slist_append(NULL, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, stream_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stream_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, stream_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &s);
    }
    int64_t start = clock_now_ms();
    CURLcode cc = curl_easy_perform(c);
    double secs = (double)(clock_now_ms() - start) / 1000.0;
    long status = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
        status = -(long)cc;
    unsigned int n = 0;
    EVP_DigestFinal_ex(s.md5, md5, &n); /* of the bytes sent (PUT) or received (GET) */
    if (etag)
        snprintf(etag, 64, "%s", s.etag);
    if (mbps)
        *mbps = secs > 0 ? (double)s.pos / 1e6 / secs : 0;
    if (bytes)
        *bytes = s.pos;
    EVP_MD_CTX_free(s.md5);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return status;
}

/* ---- peak RSS of the server ---- */

static long proc_status_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    size_t fl = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':')
            kib = strtol(line + fl + 1, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

/* Resets the process's VmHWM (peak RSS) to its RSS now; 0, or -1 when the kernel does not let us. */
static int reset_peak_rss(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Samples VmRSS every 20 ms while running, keeping the largest (for kernels without clear_refs). */
typedef struct rss_sampler {
    pid_t pid;
    atomic_int stop;
    long max_kib;
    long max_anon_kib, max_file_kib; /* what the peak is made of: allocated memory, mapped files */
    pthread_t th;
} rss_sampler;

static void *rss_main(void *arg)
{
    rss_sampler *s = arg;
    while (!atomic_load(&s->stop)) {
        long kib = proc_status_kib(s->pid, "VmRSS");
        long anon = proc_status_kib(s->pid, "RssAnon"), file = proc_status_kib(s->pid, "RssFile");
        if (kib > s->max_kib)
            s->max_kib = kib;
        if (anon > s->max_anon_kib)
            s->max_anon_kib = anon;
        if (file > s->max_file_kib)
            s->max_file_kib = file;
        clock_sleep_ms(20);
    }
    return NULL;
}

static void rss_start(rss_sampler *s, pid_t pid)
{
    s->pid = pid;
    s->max_kib = s->max_anon_kib = s->max_file_kib = 0;
    atomic_init(&s->stop, 0);
    reset_peak_rss(pid);
    pthread_create(&s->th, NULL, rss_main, s);
}

/* The peak RSS since rss_start, in MiB: VmHWM after the reset, and never less than the samples. */
static double rss_stop(rss_sampler *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    long hwm = proc_status_kib(s->pid, "VmHWM");
    long kib = hwm > s->max_kib ? hwm : s->max_kib;
    return (double)kib / 1024.0;
}

/* ---- a multi-GiB object through HTTP ---- */

#define RSS_LIMIT_MIB 256.0

static void big_server_up(void)
{
    objects_server_up_with(8 * MIB, 32 * GIB, "");
}

/* A 4 GiB object (20 GiB with FLOE_LONG_TESTS=1) goes in with PUT and out with GET while floe
 * serve's peak RSS stays under 256 MiB during each, and the bytes that come back have the MD5 of
 * those sent, which is also the ETag. Skipped in sanitizer builds, whose shadow memory makes RSS
 * meaningless. */
START_TEST(objects_4gib_put_and_get_stay_under_256_mib_of_rss)
{
    if (TU_SANITIZED) {
        fprintf(stderr, "objects_4gib_put_and_get_stay_under_256_mib_of_rss: skipped in a sanitizer build\n");
        return;
    }
    uint64_t size = (tu_long_tests() ? 20 : 4) * GIB;
    const char *path = "/v1/objects/big/one";
    unsigned char sent[16], got[16];
    char put_etag[64], get_etag[64], want[40];
    double put_mbps = 0, get_mbps = 0;
    uint64_t n = 0;
    rss_sampler rs;
    rss_start(&rs, srv.pid);
    long st = stream_transfer("PUT", path, size, 77, sent, put_etag, &put_mbps, NULL);
    double put_rss = rss_stop(&rs);
    long put_anon = rs.max_anon_kib / 1024, put_file = rs.max_file_kib / 1024;
    ck_assert_msg(st == 201, "PUT of %" PRIu64 " bytes: %ld", size, st);
    etag_of_digest(sent, want);
    ck_assert_msg(strcmp(put_etag, want) == 0, "PUT ETag %s, MD5 of the bytes %s", put_etag, want);
    rss_start(&rs, srv.pid);
    st = stream_transfer("GET", path, 0, 0, got, get_etag, &get_mbps, &n);
    double get_rss = rss_stop(&rs);
    long get_anon = rs.max_anon_kib / 1024, get_file = rs.max_file_kib / 1024;
    ck_assert_msg(st == 200, "GET: %ld", st);
    ck_assert_msg(n == size, "GET gave %" PRIu64 " of %" PRIu64 " bytes", n, size);
    ck_assert_msg(memcmp(sent, got, 16) == 0, "the bytes that came back are not those sent");
    ck_assert_str_eq(get_etag, want);
    fprintf(stderr,
            "objects_4gib: %" PRIu64
            " MiB: PUT %.0f MB/s, peak RSS %.1f MiB (sampled: anon %ld, files %ld MiB); "
            "GET %.0f MB/s, peak RSS %.1f MiB (anon %ld, files %ld MiB)\n",
            size / MIB, put_mbps, put_rss, put_anon, put_file, get_mbps, get_rss, get_anon, get_file);
    ck_assert_msg(put_rss < RSS_LIMIT_MIB, "floe serve's RSS reached %.1f MiB during the PUT", put_rss);
    ck_assert_msg(get_rss < RSS_LIMIT_MIB, "floe serve's RSS reached %.1f MiB during the GET", get_rss);
}
END_TEST

/* ---- kill -9 in the middle of a large PUT ---- */

typedef struct put_job {
    const char *path;
    uint64_t size;
    long status;
} put_job;

static void *put_main(void *arg)
{
    put_job *j = arg;
    unsigned char md5[16];
    j->status = stream_transfer("PUT", j->path, j->size, 5, md5, NULL, NULL, NULL);
    return NULL;
}

/* kill -9 of floe serve while a multi-GiB PUT is half sent: after the restart the key is 404 (and
 * not listed), and after compaction the data directory is back near its size before the PUT. */
START_TEST(objects_kill9_during_a_large_put_leaves_nothing_and_gives_the_space_back)
{
    uint64_t size = (TU_SANITIZED ? 1 : 3) * GIB, cut_at = size / 2;
    const char *path = "/v1/objects/kill/big";
    resp *r = req("PUT", "/v1/objects/kill/small", NULL, "stays", 5);
    ck_assert_int_eq(r->status, 201);
    tu_resp_free(r);
    compact();
    uint64_t before = data_dir_usage();
    uint64_t in_before = http_stat("bytes_in");
    put_job j = {.path = path, .size = size};
    pthread_t th;
    pthread_create(&th, NULL, put_main, &j);
    int64_t deadline = clock_now_ms() + 600000;
    while (http_stat("bytes_in") - in_before < cut_at && clock_now_ms() < deadline)
        clock_sleep_ms(20);
    uint64_t grown = data_dir_usage();
    ck_assert_msg(grown > before + cut_at / 2, "the half-sent PUT wrote only %" PRIu64 " bytes to disk",
                  grown > before ? grown - before : 0);
    tu_server_kill9(&srv);
    pthread_join(th, NULL);
    ck_assert_msg(j.status < 0, "the cut PUT got an answer: %ld", j.status);
    tu_server_start(&srv);
    ck_assert_int_eq(status_of("GET", path, NULL), 404);
    ck_assert_int_eq(status_of("HEAD", path, NULL), 404);
    r = req("GET", "/v1/objects?prefix=kill%2F", NULL, NULL, -1);
    ck_assert_msg(strstr(r->body, "kill/big") == NULL && strstr(r->body, "kill/small") != NULL, "%s",
                  r->body);
    tu_resp_free(r);
    compact();
    uint64_t after = data_dir_usage();
    fprintf(stderr,
            "objects_kill9: data_dir %" PRIu64 " MiB before, %" PRIu64 " MiB at the kill, %" PRIu64
            " MiB after restart and compaction\n",
            before / MIB, grown / MIB, after / MIB);
    ck_assert_msg(after <= before + 80 * MIB, "the data directory kept %" PRIu64 " of the cut PUT's bytes",
                  after > before ? after - before : 0);
}
END_TEST

/* ---- concurrent slow readers and the response budget ---- */

#define SLOW_READERS 8
#define SLOW_WAIT_MS 300

static size_t slow_object_bytes;
static uint64_t slow_budget_bytes;

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

/* Chunks of 1 MiB; a budget for about four answers (each holds its reader's chunk and MHD's 256 KiB
 * buffer); objects many times larger than the budget and than what the sockets buffer. */
static void slow_server_up(void)
{
    slow_object_bytes = 4 * tcp_wmem_max();
    if (slow_object_bytes < 24 * MIB)
        slow_object_bytes = 24 * MIB;
    slow_budget_bytes = 4 * (MIB + 256 * 1024) + 512 * 1024;
    char extra[256];
    snprintf(extra, sizeof extra, "\"max_response_bytes_in_flight\": %" PRIu64 ", \"response_wait_ms\": %d",
             slow_budget_bytes, SLOW_WAIT_MS);
    objects_server_up_with(MIB, 64 * MIB, extra);
}

typedef struct slow_reader {
    int status;
    int retry_after_1;
    uint64_t got, want;
    int bytes_ok;
} slow_reader;

static const unsigned char *slow_object;
static atomic_int slow_stop_sampling;
static uint64_t slow_max_held;

/* GET of the object on a socket with a small receive buffer, reading 64 KiB every 10 ms: each answer
 * lasts seconds. Checks every byte against the object. */
static void *slow_reader_main(void *arg)
{
    slow_reader *w = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 16384;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return NULL;
    }
    const char request[] = "GET /v1/objects/slow/big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    send(fd, request, sizeof request - 1, MSG_NOSIGNAL);
    char head[8192];
    size_t hl = 0;
    char *body_start = NULL;
    static _Thread_local unsigned char buf[65536];
    while (!body_start && hl < sizeof head - 1) {
        ssize_t n = recv(fd, head + hl, sizeof head - 1 - hl, 0);
        if (n <= 0)
            break;
        hl += (size_t)n;
        head[hl] = '\0';
        body_start = strstr(head, "\r\n\r\n");
    }
    if (!body_start) {
        close(fd);
        return NULL;
    }
    w->status = atoi(head + 9);
    w->retry_after_1 = strcasestr(head, "\r\nRetry-After: 1\r\n") != NULL;
    const char *cl = strcasestr(head, "\r\nContent-Length: ");
    w->want = cl ? strtoull(cl + 18, NULL, 10) : 0;
    size_t pre = hl - (size_t)(body_start + 4 - head);
    w->bytes_ok = 1;
    if (w->status == 200) {
        if (pre > 0) {
            w->bytes_ok &= memcmp(body_start + 4, slow_object, pre) == 0;
            w->got = pre;
        }
        while (w->got < w->want) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n <= 0)
                break;
            if (w->got + (size_t)n > slow_object_bytes || memcmp(buf, slow_object + w->got, (size_t)n) != 0)
                w->bytes_ok = 0;
            w->got += (size_t)n;
            clock_sleep_ms(10);
        }
    }
    close(fd);
    return NULL;
}

static void *held_sampler_main(void *arg)
{
    while (!atomic_load(&slow_stop_sampling)) {
        uint64_t held = http_stat("response_bytes_in_flight");
        if (held > slow_max_held)
            slow_max_held = held;
        clock_sleep_ms(10);
    }
    return NULL;
}

/* Eight slow readers of an object many times the response budget at once: what their answers hold
 * never passes http.max_response_bytes_in_flight; those that do not fit get 503 busy with
 * Retry-After: 1 after http.response_wait_ms; every one answered 200 gets every byte, right. */
START_TEST(objects_concurrent_slow_readers_stay_inside_the_response_budget)
{
    unsigned char *v = make_bytes(slow_object_bytes, 31);
    slow_object = v;
    resp *r = req("PUT", "/v1/objects/slow/big", NULL, v, (long)slow_object_bytes);
    ck_assert_int_eq(r->status, 201);
    tu_resp_free(r);
    ck_assert_uint_gt(slow_object_bytes, 4 * slow_budget_bytes);
    atomic_store(&slow_stop_sampling, 0);
    slow_max_held = 0;
    pthread_t sampler, th[SLOW_READERS];
    slow_reader w[SLOW_READERS];
    memset(w, 0, sizeof w);
    pthread_create(&sampler, NULL, held_sampler_main, NULL);
    for (int i = 0; i < SLOW_READERS; i++)
        pthread_create(&th[i], NULL, slow_reader_main, &w[i]);
    for (int i = 0; i < SLOW_READERS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&slow_stop_sampling, 1);
    pthread_join(sampler, NULL);
    int ok = 0, busy = 0;
    for (int i = 0; i < SLOW_READERS; i++) {
        ck_assert_msg(w[i].status == 200 || w[i].status == 503, "reader %d got %d", i, w[i].status);
        if (w[i].status == 200) {
            ok++;
            ck_assert_msg(w[i].bytes_ok, "reader %d got wrong bytes", i);
            ck_assert_msg(w[i].got == slow_object_bytes && w[i].want == slow_object_bytes,
                          "reader %d got %" PRIu64 " of %zu bytes", i, w[i].got, slow_object_bytes);
        } else {
            busy++;
            ck_assert_msg(w[i].retry_after_1, "reader %d: a 503 without Retry-After: 1", i);
        }
    }
    fprintf(stderr,
            "objects_slow_readers: %d answered, %d busy, at most %" PRIu64 " bytes held (budget %" PRIu64
            ")\n",
            ok, busy, slow_max_held, slow_budget_bytes);
    ck_assert_int_ge(ok, 4);
    ck_assert_int_ge(busy, 1);
    ck_assert_msg(slow_max_held <= slow_budget_bytes,
                  "answers held %" PRIu64 " bytes, over the budget of %" PRIu64, slow_max_held,
                  slow_budget_bytes);
    ck_assert_msg(slow_max_held > 0, "the sampler never saw an answer hold anything");
    for (int i = 0; i < 200 && http_stat("response_bytes_in_flight") != 0; i++)
        clock_sleep_ms(10);
    ck_assert_uint_eq(http_stat("response_bytes_in_flight"), 0);
    free(v);
}
END_TEST

static Suite *objects_suite(void)
{
    Suite *s = suite_create("http_objects");
    TCase *tc = tcase_create("chunks");
    tcase_add_unchecked_fixture(tc, small_chunk_server_up, server_down);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, objects_round_trip_at_every_size_around_the_chunk_size);
    tcase_add_test(tc, objects_user_metadata_round_trips_and_is_capped);
    tcase_add_test(tc, objects_digest_mismatch_stores_nothing_and_leaves_no_chunks);
    tcase_add_test(tc, objects_ranges_across_chunk_boundaries_and_suffixes);
    tcase_add_test(tc, objects_conditional_requests_on_chunked_objects);
    suite_add_tcase(s, tc);

    tc = tcase_create("budget");
    tcase_add_unchecked_fixture(tc, slow_server_up, server_down);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, objects_concurrent_slow_readers_stay_inside_the_response_budget);
    suite_add_tcase(s, tc);

    tc = tcase_create("large");
    tcase_add_unchecked_fixture(tc, big_server_up, server_down);
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, objects_4gib_put_and_get_stay_under_256_mib_of_rss);
    tcase_add_test(tc, objects_kill9_during_a_large_put_leaves_nothing_and_gives_the_space_back);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(objects_suite());
}
