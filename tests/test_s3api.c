/* The S3 API of floe serve (issue 12), driven over real sockets with SigV4-signed requests (libcurl's
 * signer): buckets, objects and their metadata, authentication and its refusals, digests and
 * checksums, lists and their pages, multipart uploads, copies, batch deletes, and S3's XML errors.
 * The real clients' sessions (AWS CLI, boto3, rclone, s3cmd, restic, the JavaScript SDK) are in
 * tests/s3_clients/. */
#include <check.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdint.h>
#include <time.h>

#include "clock.h"
#include "sigv4.h"
#include "http_client.h"
#include "testutil.h"

#define AK "floetestkey"
#define SK "floetestsecret1"
#define RO_AK "floereader"
#define RO_SK "floereadersecret"
#define MIB (1024u * 1024)

static tu_server srv;
static char s3base[64];

static void wait_s3_port(void)
{
    for (int i = 0; i < 3000; i++) {
        char *log = tu_server_log(&srv, srv.starts);
        const char *at = strstr(log, "S3 API on http");
        int tls = at && at[strlen("S3 API on http")] == 's';
        at = at ? strstr(at, "://127.0.0.1:") : NULL;
        int port = at ? atoi(at + strlen("://127.0.0.1:")) : 0;
        free(log);
        if (port > 0) {
            snprintf(s3base, sizeof s3base, "%s://127.0.0.1:%d", tls ? "https" : "http", port);
            return;
        }
        clock_sleep_ms(10);
    }
    ck_abort_msg("floe serve did not log its S3 port");
}

/* Starts floe serve with the S3 API, s3_extra spliced into its "s3" object and top_extra into the
 * top level; its cold tier is a directory unless top_extra has a "cold" section of its own. */
static void server_up_with(const char *http_extra, const char *s3_extra, const char *top_extra)
{
    curl_global_init(CURL_GLOBAL_ALL);
    srv.dir = tu_tmpdir("s3api");
    snprintf(srv.cfg, sizeof srv.cfg, "%s/floe.json", srv.dir);
    char cold[700] = "";
    if (!strstr(top_extra, "\"cold\""))
        snprintf(cold, sizeof cold, "\"cold\": {\"backend\": \"fs\", \"fs\": {\"path\": \"%s/cold\"}}, ", srv.dir);
    char text[8192];
    snprintf(text, sizeof text,
             "{\"data_dir\": \"%s/data\", \"http\": {\"listen\": \"127.0.0.1:0\", \"threads\": 2,"
             " \"max_object_bytes\": 67108864, \"max_body_bytes_in_flight\": 67108864%s%s},"
             " %s\"object\": {\"chunk_bytes\": 1048576}%s%s,"
             " \"s3\": {\"listen\": \"127.0.0.1:0\", \"credentials\": ["
             "{\"access_key\": \"" AK "\", \"secret_key\": \"" SK "\", \"access\": \"write\"},"
             "{\"access_key\": \"" RO_AK "\", \"secret_key\": \"" RO_SK "\", \"access\": \"read\"}]%s%s}}",
             srv.dir, http_extra[0] ? ", " : "", http_extra, cold, top_extra[0] ? ", " : "", top_extra,
             s3_extra[0] ? ", " : "", s3_extra);
    tu_write_file(srv.cfg, text, strlen(text));
    tu_server_start(&srv);
    wait_s3_port();
}

static void server_up(void)
{
    server_up_with("", "", "");
}

static void server_down(void)
{
    tu_server_destroy(&srv);
}

static void restart(void)
{
    ck_assert_int_eq(tu_server_stop(&srv), 0);
    tu_server_start(&srv);
    wait_s3_port();
}

static resp *s3(const char *method, const char *path, const char *const *headers, const void *body, long len)
{
    return tu_s3(s3base, AK, SK, method, path, headers, body, len, NULL);
}

static long status_of(const char *method, const char *path, const char *const *headers, const void *body, long len)
{
    resp *r = s3(method, path, headers, body, len);
    long st = r->status;
    if (st >= 300)
        fprintf(stderr, "%s %s: %ld %s\n", method, path, st, r->body);
    tu_resp_free(r);
    return st;
}

static void md5_hex(const void *p, size_t n, char out[33])
{
    unsigned char d[16];
    unsigned int dl = 0;
    EVP_Digest(p, n, d, &dl, EVP_md5(), NULL);
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* ---- buckets ------------------------------------------------------------------------------------ */

START_TEST(s3_bucket_lifecycle_and_its_errors)
{
    resp *r = s3("GET", "/", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_ptr_nonnull(strstr(r->body, "<ListAllMyBucketsResult"));
    ck_assert_ptr_null(strstr(r->body, "<Bucket>"));
    tu_resp_free(r);

    ck_assert_int_eq(status_of("PUT", "/alpha", NULL, NULL, -1), 200);
    r = s3("PUT", "/alpha", NULL, NULL, -1);
    tu_assert_s3_error(r, 409, "BucketAlreadyOwnedByYou");
    tu_resp_free(r);
    r = s3("PUT", "/Not_Valid", NULL, NULL, -1);
    tu_assert_s3_error(r, 400, "InvalidBucketName");
    tu_resp_free(r);
    ck_assert_int_eq(status_of("HEAD", "/alpha", NULL, NULL, -1), 200);
    r = s3("HEAD", "/nosuch", NULL, NULL, -1);
    tu_assert_s3_error(r, 404, "NoSuchBucket");
    tu_resp_free(r);
    r = s3("GET", "/nosuch/key", NULL, NULL, -1);
    tu_assert_s3_error(r, 404, "NoSuchBucket");
    ck_assert_str_eq(tu_xml_get(r->body, "Resource"), "/nosuch/key");
    tu_resp_free(r);
    r = s3("GET", "/alpha?location=", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_ptr_nonnull(strstr(r->body, "<LocationConstraint"));
    tu_resp_free(r);

    ck_assert_int_eq(status_of("PUT", "/alpha/k", NULL, "v", 1), 200);
    r = s3("DELETE", "/alpha", NULL, NULL, -1);
    tu_assert_s3_error(r, 409, "BucketNotEmpty");
    tu_resp_free(r);
    ck_assert_int_eq(status_of("DELETE", "/alpha/k", NULL, NULL, -1), 204);
    ck_assert_int_eq(status_of("PUT", "/beta", NULL, NULL, -1), 200);
    ck_assert_int_eq(status_of("DELETE", "/alpha", NULL, NULL, -1), 204);
    r = s3("HEAD", "/alpha", NULL, NULL, -1);
    tu_assert_s3_error(r, 404, "NoSuchBucket");
    tu_resp_free(r);

    restart(); /* buckets are records of the store */
    r = s3("GET", "/", NULL, NULL, -1);
    ck_assert_ptr_nonnull(strstr(r->body, "<Name>beta</Name>"));
    ck_assert_ptr_null(strstr(r->body, "<Name>alpha</Name>"));
    tu_resp_free(r);
    /* The /v1 API never sees the bucket records. */
    r = tu_http(srv.base, "GET", "/v1/objects", NULL, NULL, -1, 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_ptr_null(strstr(r->body, "beta"));
    tu_resp_free(r);
}
END_TEST

/* ---- objects ------------------------------------------------------------------------------------ */

START_TEST(s3_object_round_trip_with_metadata_ranges_and_conditions)
{
    ck_assert_int_eq(status_of("PUT", "/photos", NULL, NULL, -1), 200);
    const char body[] = "the quick brown fox jumps over the lazy dog";
    char md5[33], etag[40];
    md5_hex(body, sizeof body - 1, md5);
    snprintf(etag, sizeof etag, "\"%s\"", md5);
    const char *h[] = {"Content-Type: text/plain", "x-amz-meta-Color: blue", "x-amz-meta-owner: ann",
                       "Content-Disposition: attachment; filename=\"fox.txt\"", "Cache-Control: max-age=60", NULL};
    resp *r = s3("PUT", "/photos/a%20dir/fox.txt", h, body, (long)sizeof body - 1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(tu_resp_header(r, "ETag"), etag);
    tu_resp_free(r);

    r = s3("GET", "/photos/a%20dir/fox.txt", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, body);
    ck_assert_str_eq(tu_resp_header(r, "ETag"), etag);
    ck_assert_str_eq(tu_resp_header(r, "Content-Type"), "text/plain");
    ck_assert_str_eq(tu_resp_header(r, "x-amz-meta-color"), "blue");
    ck_assert_str_eq(tu_resp_header(r, "x-amz-meta-owner"), "ann");
    ck_assert_str_eq(tu_resp_header(r, "Content-Disposition"), "attachment; filename=\"fox.txt\"");
    ck_assert_str_eq(tu_resp_header(r, "Cache-Control"), "max-age=60");
    ck_assert_ptr_nonnull(tu_resp_header(r, "Last-Modified"));
    tu_resp_free(r);

    r = s3("HEAD", "/photos/a%20dir/fox.txt", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(tu_resp_header(r, "Content-Length"), "43");
    ck_assert_str_eq(tu_resp_header(r, "x-amz-meta-color"), "blue");
    tu_resp_free(r);

    const char *range[] = {"Range: bytes=4-8", NULL};
    r = s3("GET", "/photos/a%20dir/fox.txt", range, NULL, -1);
    ck_assert_int_eq(r->status, 206);
    ck_assert_str_eq(r->body, "quick");
    tu_resp_free(r);
    const char *bad_range[] = {"Range: bytes=100-200", NULL};
    r = s3("GET", "/photos/a%20dir/fox.txt", bad_range, NULL, -1);
    tu_assert_s3_error(r, 416, "InvalidRange");
    tu_resp_free(r);

    char inm[80], im[80];
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    snprintf(im, sizeof im, "If-Match: \"0123\"");
    const char *c1[] = {inm, NULL}, *c2[] = {im, NULL};
    ck_assert_int_eq(status_of("GET", "/photos/a%20dir/fox.txt", c1, NULL, -1), 304);
    r = s3("GET", "/photos/a%20dir/fox.txt", c2, NULL, -1);
    tu_assert_s3_error(r, 412, "PreconditionFailed");
    tu_resp_free(r);
    const char *create_only[] = {"If-None-Match: *", NULL};
    r = s3("PUT", "/photos/a%20dir/fox.txt", create_only, "x", 1);
    tu_assert_s3_error(r, 412, "PreconditionFailed");
    tu_resp_free(r);

    r = s3("GET", "/photos/a%20dir/fox.txt?response-content-type=application/x-fox&response-cache-control=no-cache",
           NULL, NULL, -1);
    ck_assert_str_eq(tu_resp_header(r, "Content-Type"), "application/x-fox");
    ck_assert_str_eq(tu_resp_header(r, "Cache-Control"), "no-cache");
    tu_resp_free(r);

    /* The bucket is a prefix of the store: /v1 reads the same object under "photos/". */
    r = tu_http(srv.base, "GET", "/v1/objects/photos/a%20dir/fox.txt", NULL, NULL, -1, 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, body);
    tu_resp_free(r);

    size_t big_len = 64 * MIB + 1; /* one byte over the server's max_object_bytes */
    char *big = calloc(1, big_len);
    r = s3("PUT", "/photos/too-big", NULL, big, (long)big_len);
    tu_assert_s3_error(r, 400, "EntityTooLarge");
    tu_resp_free(r);
    free(big);
    r = s3("GET", "/photos/missing", NULL, NULL, -1);
    tu_assert_s3_error(r, 404, "NoSuchKey");
    ck_assert_str_eq(tu_xml_get(r->body, "Resource"), "/photos/missing");
    tu_resp_free(r);
    ck_assert_int_eq(status_of("DELETE", "/photos/a%20dir/fox.txt", NULL, NULL, -1), 204);
    ck_assert_int_eq(status_of("DELETE", "/photos/a%20dir/fox.txt", NULL, NULL, -1), 204); /* S3: still 204 */
    r = s3("HEAD", "/photos/a%20dir/fox.txt", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 404);
    tu_resp_free(r);
}
END_TEST

/* ---- authentication ----------------------------------------------------------------------------- */

START_TEST(s3_requests_without_a_valid_signature_are_refused)
{
    ck_assert_int_eq(status_of("PUT", "/auth", NULL, NULL, -1), 200);
    ck_assert_int_eq(status_of("PUT", "/auth/k", NULL, "v", 1), 200);
    resp *r = tu_s3(s3base, AK, NULL, "GET", "/auth/k", NULL, NULL, -1, NULL); /* anonymous */
    tu_assert_s3_error(r, 403, "AccessDenied");
    tu_resp_free(r);
    r = tu_s3(s3base, AK, "wrongsecret", "GET", "/auth/k", NULL, NULL, -1, NULL);
    tu_assert_s3_error(r, 403, "SignatureDoesNotMatch");
    tu_resp_free(r);
    r = tu_s3(s3base, "nobodykey", SK, "GET", "/auth/k", NULL, NULL, -1, NULL);
    tu_assert_s3_error(r, 403, "InvalidAccessKeyId");
    tu_resp_free(r);
    /* Anonymous writes store nothing. */
    r = tu_s3(s3base, AK, NULL, "PUT", "/auth/anon", NULL, "x", 1, NULL);
    ck_assert_int_eq(r->status, 403);
    tu_resp_free(r);
    r = s3("GET", "/auth/anon", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 404);
    tu_resp_free(r);
    /* A read-only key reads, and may not write. */
    r = tu_s3(s3base, RO_AK, RO_SK, "GET", "/auth/k", NULL, NULL, -1, NULL);
    ck_assert_int_eq(r->status, 200);
    tu_resp_free(r);
    r = tu_s3(s3base, RO_AK, RO_SK, "PUT", "/auth/k", NULL, "w", 1, NULL);
    tu_assert_s3_error(r, 403, "AccessDenied");
    tu_resp_free(r);
    r = tu_s3(s3base, RO_AK, RO_SK, "DELETE", "/auth/k", NULL, NULL, -1, NULL);
    tu_assert_s3_error(r, 403, "AccessDenied");
    tu_resp_free(r);
    /* What floe does not implement says so; it never answers a wrong 200. */
    r = s3("GET", "/auth?acl=", NULL, NULL, -1);
    tu_assert_s3_error(r, 501, "NotImplemented");
    tu_resp_free(r);
    r = s3("PUT", "/auth/k?tagging=", NULL, "<Tagging/>", 10);
    tu_assert_s3_error(r, 501, "NotImplemented");
    tu_resp_free(r);
    r = s3("GET", "/auth/k?versionId=3HL4kqtJlcpXroDTDmJ", NULL, NULL, -1); /* no versions are kept */
    tu_assert_s3_error(r, 501, "NotImplemented");
    tu_resp_free(r);
    r = s3("GET", "/auth/k?versionId=null", NULL, NULL, -1); /* the one an unversioned object has */
    ck_assert_int_eq(r->status, 200);
    tu_resp_free(r);
    r = s3("GET", "/auth/k?tagging=", NULL, NULL, -1); /* GetObjectTagging: no tags */
    ck_assert_int_eq(r->status, 200);
    ck_assert_ptr_nonnull(strstr(r->body, "<TagSet></TagSet>"));
    tu_resp_free(r);
}
END_TEST

/* ---- digests and checksums ---------------------------------------------------------------------- */

START_TEST(s3_a_body_that_does_not_match_its_digest_stores_nothing)
{
    ck_assert_int_eq(status_of("PUT", "/dig", NULL, NULL, -1), 200);
    const char *bad_md5[] = {"Content-MD5: AAAAAAAAAAAAAAAAAAAAAA==", NULL};
    resp *r = s3("PUT", "/dig/a", bad_md5, "hello", 5);
    tu_assert_s3_error(r, 400, "BadDigest");
    tu_resp_free(r);
    const char *bad_b64[] = {"Content-MD5: not-base64", NULL};
    r = s3("PUT", "/dig/a", bad_b64, "hello", 5);
    tu_assert_s3_error(r, 400, "InvalidDigest");
    tu_resp_free(r);
    r = tu_s3(s3base, AK, SK, "PUT", "/dig/a", NULL, "hello", 5,
              "0000000000000000000000000000000000000000000000000000000000000000");
    tu_assert_s3_error(r, 400, "XAmzContentSHA256Mismatch");
    tu_resp_free(r);
    /* CRC32 of "hello" is 0x3610a686: NhCmhg== */
    const char *bad_crc[] = {"x-amz-checksum-crc32: AAAAAA==", NULL};
    r = s3("PUT", "/dig/a", bad_crc, "hello", 5);
    tu_assert_s3_error(r, 400, "BadDigest");
    tu_resp_free(r);
    r = s3("GET", "/dig/a", NULL, NULL, -1);
    tu_assert_s3_error(r, 404, "NoSuchKey"); /* none of them stored anything */
    tu_resp_free(r);

    const char *good[] = {"x-amz-checksum-crc32: NhCmhg==", "Content-MD5: XUFAKrxLKna5cZ2REBfFkg==", NULL};
    r = s3("PUT", "/dig/a", good, "hello", 5);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(tu_resp_header(r, "x-amz-checksum-crc32"), "NhCmhg==");
    tu_resp_free(r);
    const char *mode[] = {"x-amz-checksum-mode: ENABLED", NULL};
    r = s3("GET", "/dig/a", mode, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "hello");
    ck_assert_str_eq(tu_resp_header(r, "x-amz-checksum-crc32"), "NhCmhg==");
    tu_resp_free(r);
    r = s3("GET", "/dig/a", NULL, NULL, -1); /* only when asked */
    ck_assert_ptr_null(tu_resp_header(r, "x-amz-checksum-crc32"));
    tu_resp_free(r);
    /* Every algorithm S3 has: the right value is stored and returned, a wrong one refused. Values of
     * "hello" from botocore's checksums. */
    const char *algos[][3] = {{"crc32c", "mnG7TA==", "mnG7TB=="},
                              {"sha1", "qvTGHdzF6KLavt4PO0gs2a6pQ00=", "qvTGHdzF6KLavt4PO0gs2a6pQ01="},
                              {"sha256", "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=",
                               "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCA="}};
    for (int a = 0; a < 3; a++) {
        char good_h[128], bad_h[128], name[64], path[64];
        snprintf(name, sizeof name, "x-amz-checksum-%s", algos[a][0]);
        snprintf(good_h, sizeof good_h, "%s: %s", name, algos[a][1]);
        snprintf(bad_h, sizeof bad_h, "%s: %s", name, algos[a][2]);
        snprintf(path, sizeof path, "/dig/%s", algos[a][0]);
        const char *bad[] = {bad_h, NULL}, *ok[] = {good_h, NULL};
        r = s3("PUT", path, bad, "hello", 5);
        tu_assert_s3_error(r, 400, "BadDigest");
        tu_resp_free(r);
        r = s3("PUT", path, ok, "hello", 5);
        ck_assert_msg(r->status == 200, "%s: %ld %s", name, r->status, r->body);
        tu_resp_free(r);
        r = s3("HEAD", path, mode, NULL, -1);
        ck_assert_int_eq(r->status, 200);
        ck_assert_str_eq(tu_resp_header(r, name), algos[a][1]);
        tu_resp_free(r);
    }
}
END_TEST

/* ---- lists -------------------------------------------------------------------------------------- */

/* Follows ListObjectsV2 pages of max_keys with delimiter (may be NULL); returns every Key and
 * Prefix seen, joined by '|'. */
static char *list_all(const char *bucket, int max_keys, const char *delimiter, int v2)
{
    char *seen = calloc(1, 65536);
    char token[2048] = "";
    for (int page = 0; page < 1000; page++) {
        char path[4096];
        int n = snprintf(path, sizeof path, "/%s?%smax-keys=%d", bucket, v2 ? "list-type=2&" : "", max_keys);
        if (delimiter)
            n += snprintf(path + n, sizeof path - (size_t)n, "&delimiter=%s", delimiter);
        if (token[0]) {
            char *enc = curl_easy_escape(NULL, token, 0);
            n += snprintf(path + n, sizeof path - (size_t)n, "&%s=%s", v2 ? "continuation-token" : "marker", enc);
            curl_free(enc);
        }
        resp *r = s3("GET", path, NULL, NULL, -1);
        ck_assert_msg(r->status == 200, "%s: %ld %s", path, r->status, r->body);
        for (const char *p = r->body; (p = strstr(p, "<Key>")) != NULL; p++) {
            const char *e = strstr(p, "</Key>");
            strncat(seen, p + 5, (size_t)(e - p - 5));
            strcat(seen, "|");
        }
        for (const char *p = r->body; (p = strstr(p, "<CommonPrefixes><Prefix>")) != NULL; p++) {
            const char *s = p + strlen("<CommonPrefixes><Prefix>");
            const char *e = strstr(s, "</Prefix>");
            strncat(seen, s, (size_t)(e - s));
            strcat(seen, "|");
        }
        const char *trunc = tu_xml_get(r->body, "IsTruncated");
        int more = trunc && strcmp(trunc, "true") == 0;
        if (more) {
            const char *next = tu_xml_get(r->body, v2 ? "NextContinuationToken" : "NextMarker");
            ck_assert_msg(next != NULL, "truncated without a next marker: %s", r->body);
            snprintf(token, sizeof token, "%s", next);
        }
        tu_resp_free(r);
        if (!more)
            return seen;
    }
    ck_abort_msg("the list did not end");
    return seen;
}

START_TEST(s3_lists_page_and_roll_up_common_prefixes)
{
    ck_assert_int_eq(status_of("PUT", "/lst", NULL, NULL, -1), 200);
    ck_assert_int_eq(status_of("PUT", "/lst2", NULL, NULL, -1), 200);
    const char *keys[] = {"a/1", "a/2", "a/x/3", "b/1", "c", "d e", NULL};
    for (int i = 0; keys[i]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/lst/%s", strcmp(keys[i], "d e") == 0 ? "d%20e" : keys[i]);
        ck_assert_int_eq(status_of("PUT", path, NULL, "x", 1), 200);
    }
    ck_assert_int_eq(status_of("PUT", "/lst2/other", NULL, "x", 1), 200); /* another bucket's */
    for (int v2 = 0; v2 <= 1; v2++) {
        static const int page_sizes[] = {1, 2, 1000};
        for (size_t pi = 0; pi < 3; pi++) {
            int mk = page_sizes[pi];
            char *all = list_all("lst", mk, NULL, v2);
            ck_assert_msg(strcmp(all, "a/1|a/2|a/x/3|b/1|c|d e|") == 0, "v2=%d max-keys %d: %s", v2, mk, all);
            free(all);
            all = list_all("lst", mk, "/", v2);
            /* keys first in each page, then prefixes: compare as sets of a page each at 1000 */
            if (mk == 1000)
                ck_assert_msg(strcmp(all, "c|d e|a/|b/|") == 0, "v2=%d delimiter: %s", v2, all);
            else
                ck_assert_msg(strlen(all) == strlen("a/|b/|c|d e|"), "v2=%d max-keys %d delimiter: %s", v2, mk, all);
            free(all);
        }
    }
    resp *r = s3("GET", "/lst?list-type=2&prefix=a/&delimiter=/", NULL, NULL, -1);
    ck_assert_ptr_nonnull(strstr(r->body, "<Key>a/1</Key>"));
    ck_assert_ptr_nonnull(strstr(r->body, "<CommonPrefixes><Prefix>a/x/</Prefix></CommonPrefixes>"));
    ck_assert_str_eq(tu_xml_get(r->body, "KeyCount"), "3");
    tu_resp_free(r);
    r = s3("GET", "/lst?list-type=2&encoding-type=url&prefix=d", NULL, NULL, -1);
    ck_assert_ptr_nonnull(strstr(r->body, "<Key>d%20e</Key>"));
    tu_resp_free(r);
    r = s3("GET", "/lst?list-type=2&start-after=b/1", NULL, NULL, -1);
    ck_assert_ptr_null(strstr(r->body, "<Key>b/1</Key>"));
    ck_assert_ptr_nonnull(strstr(r->body, "<Key>c</Key>"));
    tu_resp_free(r);
    r = s3("GET", "/lst?list-type=2&continuation-token=garbage!", NULL, NULL, -1);
    tu_assert_s3_error(r, 400, "InvalidArgument");
    tu_resp_free(r);
}
END_TEST

/* ---- multipart ---------------------------------------------------------------------------------- */

static char *upload_id_of(const char *path)
{
    resp *r = s3("POST", path, NULL, NULL, -1);
    ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
    char *id = strdup(tu_xml_get(r->body, "UploadId"));
    tu_resp_free(r);
    return id;
}

static char *put_part(const char *key, const char *id, int n, const void *p, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "/mpu/%s?partNumber=%d&uploadId=%s", key, n, id);
    resp *r = s3("PUT", path, NULL, p, (long)len);
    ck_assert_msg(r->status == 200, "part %d: %ld %s", n, r->status, r->body);
    char *etag = strdup(tu_resp_header(r, "ETag"));
    tu_resp_free(r);
    return etag;
}

START_TEST(s3_multipart_upload_complete_abort_and_its_errors)
{
    ck_assert_int_eq(status_of("PUT", "/mpu", NULL, NULL, -1), 200);
    size_t a_len = 5 * MIB + 3, b_len = 1000;
    char *a = malloc(a_len), *b = malloc(b_len);
    tu_fill_random(a, a_len, 1);
    tu_fill_random(b, b_len, 2);
    const char *ct[] = {"Content-Type: application/x-big", "x-amz-meta-kind: parts", NULL};
    resp *r = s3("POST", "/mpu/big?uploads=", ct, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    char *id = strdup(tu_xml_get(r->body, "UploadId"));
    tu_resp_free(r);
    char *e1 = put_part("big", id, 1, a, a_len);
    char *e2 = put_part("big", id, 2, b, b_len);
    char *e2again = put_part("big", id, 2, b, b_len); /* a part sent again replaces itself */
    ck_assert_str_eq(e2, e2again);

    char path[256];
    snprintf(path, sizeof path, "/mpu/big?uploadId=%s", id);
    r = s3("GET", path, NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_ptr_nonnull(strstr(r->body, "<PartNumber>1</PartNumber>"));
    ck_assert_ptr_nonnull(strstr(r->body, "<PartNumber>2</PartNumber>"));
    tu_resp_free(r);
    r = s3("GET", "/mpu?uploads=", NULL, NULL, -1);
    ck_assert_ptr_nonnull(strstr(r->body, id));
    tu_resp_free(r);

    char doc[1024];
    snprintf(doc, sizeof doc,
             "<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>%s</ETag></Part>"
             "<Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part></CompleteMultipartUpload>",
             e2, e1);
    r = s3("POST", path, NULL, doc, (long)strlen(doc));
    tu_assert_s3_error(r, 400, "InvalidPartOrder");
    tu_resp_free(r);
    snprintf(doc, sizeof doc,
             "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part>"
             "<Part><PartNumber>2</PartNumber><ETag>\"00000000000000000000000000000000\"</ETag></Part>"
             "</CompleteMultipartUpload>",
             e1);
    r = s3("POST", path, NULL, doc, (long)strlen(doc));
    tu_assert_s3_error(r, 400, "InvalidPart");
    tu_resp_free(r);
    r = s3("POST", path, NULL, "<Complete", 9);
    tu_assert_s3_error(r, 400, "MalformedXML");
    tu_resp_free(r);
    snprintf(doc, sizeof doc,
             "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part>"
             "<Part><PartNumber>2</PartNumber><ETag>%s</ETag></Part></CompleteMultipartUpload>",
             e1, e2);
    r = s3("POST", path, NULL, doc, (long)strlen(doc));
    ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
    /* S3's multipart ETag: the MD5 of the parts' binary MD5s, then -N */
    unsigned char md5s[32];
    for (int i = 0; i < 16; i++) {
        unsigned v1, v2;
        sscanf(e1 + 1 + 2 * i, "%2x", &v1);
        sscanf(e2 + 1 + 2 * i, "%2x", &v2);
        md5s[i] = (unsigned char)v1;
        md5s[16 + i] = (unsigned char)v2;
    }
    char comp[33], want[96];
    md5_hex(md5s, 32, comp);
    snprintf(want, sizeof want, "&quot;%s-2&quot;", comp);
    ck_assert_str_eq(tu_xml_get(r->body, "ETag"), want);
    tu_resp_free(r);

    r = s3("GET", "/mpu/big", NULL, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_uint_eq(r->len, a_len + b_len);
    ck_assert_int_eq(memcmp(r->body, a, a_len), 0);
    ck_assert_int_eq(memcmp(r->body + a_len, b, b_len), 0);
    snprintf(want, sizeof want, "\"%s-2\"", comp);
    ck_assert_str_eq(tu_resp_header(r, "ETag"), want);
    ck_assert_str_eq(tu_resp_header(r, "Content-Type"), "application/x-big");
    ck_assert_str_eq(tu_resp_header(r, "x-amz-meta-kind"), "parts");
    ck_assert_str_eq(tu_resp_header(r, "x-amz-mp-parts-count"), "2");
    tu_resp_free(r);
    /* Lists give the ETag HEAD gives. */
    r = s3("GET", "/mpu?list-type=2", NULL, NULL, -1);
    snprintf(want, sizeof want, "<ETag>&quot;%s-2&quot;</ETag>", comp);
    ck_assert_msg(strstr(r->body, want) != NULL, "%s", r->body);
    tu_resp_free(r);
    /* GET ?partNumber=2 is part 2 alone. */
    snprintf(path, sizeof path, "/mpu/big?partNumber=2");
    r = s3("GET", path, NULL, NULL, -1);
    ck_assert_int_eq(r->status, 206);
    ck_assert_uint_eq(r->len, b_len);
    ck_assert_int_eq(memcmp(r->body, b, b_len), 0);
    tu_resp_free(r);
    snprintf(path, sizeof path, "/mpu/big?partNumber=3");
    r = s3("GET", path, NULL, NULL, -1);
    tu_assert_s3_error(r, 416, "InvalidPartNumber");
    tu_resp_free(r);
    snprintf(path, sizeof path, "/mpu/big?uploadId=%s", id);
    /* Completed: the upload and its parts are gone. */
    r = s3("GET", path, NULL, NULL, -1);
    tu_assert_s3_error(r, 404, "NoSuchUpload");
    tu_resp_free(r);
    r = s3("POST", path, NULL, doc, (long)strlen(doc));
    tu_assert_s3_error(r, 404, "NoSuchUpload");
    tu_resp_free(r);

    /* A small part that is not the last: EntityTooSmall. */
    char *id2 = upload_id_of("/mpu/small?uploads=");
    char *s1 = put_part("small", id2, 1, b, 100), *s2 = put_part("small", id2, 2, b, 100);
    snprintf(path, sizeof path, "/mpu/small?uploadId=%s", id2);
    snprintf(doc, sizeof doc,
             "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part>"
             "<Part><PartNumber>2</PartNumber><ETag>%s</ETag></Part></CompleteMultipartUpload>",
             s1, s2);
    r = s3("POST", path, NULL, doc, (long)strlen(doc));
    tu_assert_s3_error(r, 400, "EntityTooSmall");
    tu_resp_free(r);
    ck_assert_int_eq(status_of("DELETE", path, NULL, NULL, -1), 204);
    r = s3("DELETE", path, NULL, NULL, -1);
    tu_assert_s3_error(r, 404, "NoSuchUpload");
    tu_resp_free(r);
    snprintf(path, sizeof path, "/mpu/small?partNumber=3&uploadId=%s", id2);
    r = s3("PUT", path, NULL, "x", 1);
    tu_assert_s3_error(r, 404, "NoSuchUpload");
    tu_resp_free(r);
    r = s3("GET", "/mpu/small", NULL, NULL, -1);
    tu_assert_s3_error(r, 404, "NoSuchKey");
    tu_resp_free(r);
    /* No part outlives its upload: the store holds only the object's bytes and the bucket. */
    r = s3("GET", "/mpu?uploads=", NULL, NULL, -1);
    ck_assert_ptr_null(strstr(r->body, "<Upload>"));
    tu_resp_free(r);
    free(a), free(b), free(id), free(id2), free(e1), free(e2), free(e2again), free(s1), free(s2);
}
END_TEST

/* ---- copies, batch deletes ---------------------------------------------------------------------- */

START_TEST(s3_copy_object_and_delete_objects)
{
    ck_assert_int_eq(status_of("PUT", "/cpy", NULL, NULL, -1), 200);
    const char *h[] = {"Content-Type: text/x-src", "x-amz-meta-a: 1", NULL};
    ck_assert_int_eq(status_of("PUT", "/cpy/src", h, "copy me", 7), 200);
    const char *copy[] = {"x-amz-copy-source: /cpy/src", NULL};
    resp *r = s3("PUT", "/cpy/dst", copy, NULL, -1);
    ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
    ck_assert_ptr_nonnull(strstr(r->body, "<CopyObjectResult"));
    tu_resp_free(r);
    r = s3("GET", "/cpy/dst", NULL, NULL, -1);
    ck_assert_str_eq(r->body, "copy me");
    ck_assert_str_eq(tu_resp_header(r, "Content-Type"), "text/x-src");
    ck_assert_str_eq(tu_resp_header(r, "x-amz-meta-a"), "1");
    tu_resp_free(r);
    const char *replace[] = {"x-amz-copy-source: cpy/src", "x-amz-metadata-directive: REPLACE",
                             "Content-Type: text/x-new", "x-amz-meta-b: 2", NULL};
    ck_assert_int_eq(status_of("PUT", "/cpy/dst2", replace, NULL, -1), 200);
    r = s3("GET", "/cpy/dst2", NULL, NULL, -1);
    ck_assert_str_eq(tu_resp_header(r, "Content-Type"), "text/x-new");
    ck_assert_ptr_null(tu_resp_header(r, "x-amz-meta-a"));
    ck_assert_str_eq(tu_resp_header(r, "x-amz-meta-b"), "2");
    tu_resp_free(r);
    const char *self[] = {"x-amz-copy-source: /cpy/src", NULL};
    r = s3("PUT", "/cpy/src", self, NULL, -1);
    tu_assert_s3_error(r, 400, "InvalidRequest");
    tu_resp_free(r);
    const char *missing[] = {"x-amz-copy-source: /cpy/nothing", NULL};
    r = s3("PUT", "/cpy/dst3", missing, NULL, -1);
    tu_assert_s3_error(r, 404, "NoSuchKey");
    tu_resp_free(r);

    const char doc[] = "<Delete><Object><Key>src</Key></Object><Object><Key>dst</Key></Object>"
                       "<Object><Key>never-was</Key></Object></Delete>";
    r = s3("POST", "/cpy?delete=", NULL, doc, (long)sizeof doc - 1);
    ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
    ck_assert_ptr_nonnull(strstr(r->body, "<Deleted><Key>src</Key></Deleted>"));
    ck_assert_ptr_nonnull(strstr(r->body, "<Deleted><Key>never-was</Key></Deleted>"));
    tu_resp_free(r);
    char *all = list_all("cpy", 1000, NULL, 1);
    ck_assert_str_eq(all, "dst2|");
    free(all);
    r = s3("POST", "/cpy?delete=", NULL, "<Delete>", 8);
    tu_assert_s3_error(r, 400, "MalformedXML");
    tu_resp_free(r);
}
END_TEST

/* ---- addressing, reclaiming, TLS ---------------------------------------------------------------- */

static void vhost_server_up(void)
{
    server_up_with("", "\"domain\": \"s3.test\"", "");
}

/* With s3.domain, a Host of bucket.domain names the bucket and the path is the key. */
START_TEST(s3_virtual_hosted_style_names_the_bucket_in_the_host)
{
    ck_assert_int_eq(status_of("PUT", "/vhost", NULL, NULL, -1), 200);
    char host[80];
    snprintf(host, sizeof host, "Host: vhost.s3.test:%s", strrchr(s3base, ':') + 1);
    const char *h[] = {host, NULL};
    resp *r = s3("PUT", "/in/the/host.txt", h, "virtual", 7);
    ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
    tu_resp_free(r);
    r = s3("GET", "/vhost/in/the/host.txt", NULL, NULL, -1); /* path style still works */
    ck_assert_str_eq(r->body, "virtual");
    tu_resp_free(r);
    r = s3("GET", "/?list-type=2", h, NULL, -1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(tu_xml_get(r->body, "Name"), "vhost");
    ck_assert_ptr_nonnull(strstr(r->body, "<Key>in/the/host.txt</Key>"));
    tu_resp_free(r);
    snprintf(host, sizeof host, "Host: nosuch.s3.test:%s", strrchr(s3base, ':') + 1);
    r = s3("GET", "/k", h, NULL, -1);
    tu_assert_s3_error(r, 404, "NoSuchBucket");
    tu_resp_free(r);
}
END_TEST

static void reclaim_server_up(void)
{
    server_up_with("", "\"multipart_max_age_s\": 2", "");
}

/* An upload older than s3.multipart_max_age_s is aborted and its parts deleted, by the server alone. */
START_TEST(s3_abandoned_multipart_uploads_are_reclaimed)
{
    ck_assert_int_eq(status_of("PUT", "/old", NULL, NULL, -1), 200);
    resp *r = s3("POST", "/old/k?uploads=", NULL, NULL, -1);
    char *id = strdup(tu_xml_get(r->body, "UploadId"));
    tu_resp_free(r);
    char path[160];
    snprintf(path, sizeof path, "/old/k?partNumber=1&uploadId=%s", id);
    ck_assert_int_eq(status_of("PUT", path, NULL, "part", 4), 200);
    snprintf(path, sizeof path, "/old/k?uploadId=%s", id);
    int gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        clock_sleep_ms(100);
        r = s3("GET", path, NULL, NULL, -1); /* ListParts */
        gone = r->status == 404;
        if (gone)
            tu_assert_s3_error(r, 404, "NoSuchUpload");
        tu_resp_free(r);
    }
    ck_assert_msg(gone, "upload %s is still there 10 s after it was 2 s old", id);
    r = s3("GET", "/old?uploads=", NULL, NULL, -1);
    ck_assert_ptr_null(strstr(r->body, "<Upload>"));
    tu_resp_free(r);
    char *log = tu_server_log(&srv, srv.starts);
    ck_assert_ptr_nonnull(strstr(log, "aborted 1 multipart uploads older than s3.multipart_max_age_s"));
    free(log);
    free(id);
}
END_TEST

static char tls_dir[600];

static void tls_server_up(void)
{
    char *d = tu_tmpdir("s3tls");
    snprintf(tls_dir, sizeof tls_dir, "%s", d);
    free(d);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s/key.pem -out %s/cert.pem -days 2 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             tls_dir, tls_dir);
    ck_assert_int_eq(system(cmd), 0);
    char tls[1400];
    snprintf(tls, sizeof tls, "\"tls\": {\"cert_file\": \"%s/cert.pem\", \"key_file\": \"%s/key.pem\"}", tls_dir,
             tls_dir);
    server_up_with(tls, tls, "");
}

static void tls_server_down(void)
{
    server_down();
    tu_rmrf(tls_dir);
}

/* Run cmd; its stdout (malloc'd) in *out. Returns the exit status. */
static int run_out(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 65536, len = 0;
    *out = malloc(cap);
    size_t n;
    while ((n = fread(*out + len, 1, cap - len - 1, p)) > 0)
        len += n;
    (*out)[len] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Both listeners serve HTTPS from the configured certificate and key: curl with --cacert, and boto3
 * verifying against the same certificate. */
START_TEST(s3_and_v1_listeners_serve_tls)
{
    ck_assert_str_eq(strncmp(s3base, "https://", 8) == 0 ? "https" : s3base, "https");
    ck_assert_str_eq(strncmp(srv.base, "https://", 8) == 0 ? "https" : srv.base, "https");
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "curl -sS --cacert %s/cert.pem %s/healthz", tls_dir, srv.base);
    ck_assert_int_eq(run_out(cmd, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "ok"));
    free(out);
    snprintf(cmd, sizeof cmd,
             "curl -sS --cacert %s/cert.pem --aws-sigv4 aws:amz:us-east-1:s3 -u " AK ":" SK
             " -H x-amz-content-sha256:UNSIGNED-PAYLOAD %s/",
             tls_dir, s3base);
    ck_assert_int_eq(run_out(cmd, &out), 0);
    ck_assert_msg(strstr(out, "<ListAllMyBucketsResult") != NULL, "%s", out);
    free(out);
    /* No certificate to trust: refused. Plain HTTP to the TLS port: no answer. */
    snprintf(cmd, sizeof cmd, "curl -sS -o /dev/null %s/ 2>/dev/null", s3base);
    ck_assert_int_ne(run_out(cmd, &out), 0);
    free(out);
    snprintf(cmd, sizeof cmd, "curl -sS -m 5 -o /dev/null http://%s/ 2>/dev/null", s3base + strlen("https://"));
    ck_assert_int_ne(run_out(cmd, &out), 0);
    free(out);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import boto3, botocore; "
             "s = boto3.client('s3', endpoint_url='%s', aws_access_key_id='" AK "', "
             "aws_secret_access_key='" SK "', region_name='us-east-1', verify='%s/cert.pem', "
             "config=botocore.config.Config(s3={'addressing_style': 'path'})); "
             "s.create_bucket(Bucket='tls-bucket'); s.put_object(Bucket='tls-bucket', Key='k', Body=b'over tls'); "
             "print(s.get_object(Bucket='tls-bucket', Key='k')['Body'].read().decode())\" 2>&1",
             s3base, tls_dir);
    ck_assert_int_eq(run_out(cmd, &out), 0);
    ck_assert_msg(strstr(out, "over tls") != NULL, "boto3 over TLS: %s", out);
    free(out);
}
END_TEST

static void behind_server_up(void)
{
    char top[512];
    /* A cold tier that never answers: sealed segments pile up until upload.max_pending_bytes. */
    snprintf(top, sizeof top,
             "\"segment\": {\"max_bytes\": 65536}, \"upload\": {\"max_pending_bytes\": 262144, \"wait_ms\": 100},"
             " \"cold\": {\"backend\": \"s3\", \"s3\": {\"endpoint\": \"http://127.0.0.1:%d\", \"bucket\": \"nowhere\"}}",
             tu_closed_port());
    setenv("AWS_ACCESS_KEY_ID", "nobody", 1); /* the cold tier's credentials, from the environment */
    setenv("AWS_SECRET_ACCESS_KEY", "nobodysecret", 1);
    server_up_with("", "", top);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
}

/* With the cold tier behind, a write is 503 SlowDown with Retry-After, as S3 asks clients to slow down;
 * nothing acknowledged is lost. The cold tier here is a directory that cannot be written. */
START_TEST(s3_writes_get_slow_down_while_the_cold_tier_is_behind)
{
    ck_assert_int_eq(status_of("PUT", "/slow", NULL, NULL, -1), 200);
    static char body[32768];
    memset(body, 'x', sizeof body);
    int acked = 0, slowed = 0;
    for (int i = 0; i < 400 && !slowed; i++) {
        char path[64];
        snprintf(path, sizeof path, "/slow/k%04d", i);
        resp *r = s3("PUT", path, NULL, body, sizeof body);
        if (r->status == 503) {
            tu_assert_s3_error(r, 503, "SlowDown");
            ck_assert_ptr_nonnull(tu_resp_header(r, "Retry-After"));
            slowed = 1;
        } else {
            ck_assert_msg(r->status == 200, "PUT %d: %ld %s", i, r->status, r->body);
            acked++;
        }
        tu_resp_free(r);
    }
    ck_assert_msg(slowed, "400 PUTs of 32 KiB never met the 256 KiB upload cap");
    for (int i = 0; i < acked; i++) {
        char path[64];
        snprintf(path, sizeof path, "/slow/k%04d", i);
        resp *r = s3("HEAD", path, NULL, NULL, -1);
        ck_assert_msg(r->status == 200, "acknowledged %s: %ld", path, r->status);
        tu_resp_free(r);
    }
}
END_TEST

/* ---- aws-chunked bodies ------------------------------------------------------------------------- */

/* A PUT of data as an aws-chunked body signed chunk by chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD,
 * what restic and the Java SDK send), in chunks of chunk bytes; the byte at tamper (if < len) is
 * flipped after signing. */
static resp *put_signed_chunked(const char *path, const unsigned char *data, size_t len, size_t chunk, size_t tamper)
{
    char amz_date[17], day[9], dlen[32], host[64];
    sigv4_amz_date(time(NULL), amz_date);
    memcpy(day, amz_date, 8);
    day[8] = '\0';
    snprintf(dlen, sizeof dlen, "%zu", len);
    snprintf(host, sizeof host, "%s", s3base + strlen("http://"));
    const char *mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
    sigv4_pair h[] = {{"host", host},
                      {"x-amz-date", amz_date},
                      {"x-amz-content-sha256", mode},
                      {"content-encoding", "aws-chunked"},
                      {"x-amz-decoded-content-length", dlen}};
    char raw_path[256];
    snprintf(raw_path, sizeof raw_path, "%s", path);
    sigv4_request req = {.method = "PUT", .path = raw_path, .headers = h, .header_count = 5, .payload_hash = mode};
    sigv4_credentials cred = {.access_key = AK, .secret_key = SK, .region = "us-east-1", .service = "s3"};
    sigv4_signature sig = {0};
    ck_assert_int_eq(sigv4_sign(&req, &cred, amz_date, &sig), 0);
    char prev[65];
    snprintf(prev, sizeof prev, "%s", strstr(sig.authorization, "Signature=") + strlen("Signature="));
    unsigned char key[32];
    ck_assert_int_eq(sigv4_signing_key(SK, day, "us-east-1", "s3", key), 0);
    char scope[64], empty[65];
    snprintf(scope, sizeof scope, "%s/us-east-1/s3/aws4_request", day);
    sigv4_sha256_hex("", 0, empty);
    size_t cap = len + (len / chunk + 2) * 128, blen = 0;
    unsigned char *body = malloc(cap);
    for (size_t at = 0;; at += chunk) {
        size_t n = at >= len ? 0 : len - at < chunk ? len - at : chunk; /* the last chunk is empty */
        char dh[65], sts[512], csig[65];
        sigv4_sha256_hex(data + at, n, dh);
        int sl = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n%s\n%s", amz_date, scope, prev,
                          empty, dh);
        ck_assert_int_eq(sigv4_hmac_hex(key, sts, (size_t)sl, csig), 0);
        blen += (size_t)sprintf((char *)body + blen, "%zx;chunk-signature=%s\r\n", n, csig);
        memcpy(body + blen, data + at, n);
        if (tamper >= at && tamper < at + n)
            body[blen + tamper - at] ^= 1;
        blen += n;
        memcpy(body + blen, "\r\n", 2);
        blen += 2;
        memcpy(prev, csig, sizeof prev);
        if (n == 0)
            break;
    }
    char a_h[512], d_h[64], l_h[64];
    snprintf(a_h, sizeof a_h, "Authorization: %s", sig.authorization);
    snprintf(d_h, sizeof d_h, "x-amz-date: %s", amz_date);
    snprintf(l_h, sizeof l_h, "x-amz-decoded-content-length: %zu", len);
    const char *hdrs[] = {a_h, d_h, l_h, "x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                          "Content-Encoding: aws-chunked", NULL};
    resp *r = tu_http(s3base, "PUT", path, hdrs, body, (long)blen, 0);
    sigv4_signature_clear(&sig);
    free(body);
    return r;
}

/* An unsigned aws-chunked body with its CRC32 in a trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER, the
 * AWS SDKs' default). */
static resp *put_trailer_chunked(const char *path, const char *data, size_t len, const char *crc32_b64)
{
    char body[4096];
    int bl = snprintf(body, sizeof body, "%zx\r\n%.*s\r\n0\r\nx-amz-checksum-crc32:%s\r\n\r\n", len, (int)len, data,
                      crc32_b64);
    char l_h[64];
    snprintf(l_h, sizeof l_h, "x-amz-decoded-content-length: %zu", len);
    const char *hdrs[] = {l_h, "Content-Encoding: aws-chunked", "x-amz-trailer: x-amz-checksum-crc32",
                          "x-amz-sdk-checksum-algorithm: CRC32", NULL};
    return tu_s3(s3base, AK, SK, "PUT", path, hdrs, body, bl, "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
}

START_TEST(s3_aws_chunked_bodies_whose_signature_or_trailer_is_wrong_store_nothing)
{
    ck_assert_int_eq(status_of("PUT", "/chk", NULL, NULL, -1), 200);
    size_t len = 3 * 65536 + 123;
    unsigned char *data = malloc(len);
    tu_fill_random(data, len, 9);
    resp *r = put_signed_chunked("/chk/signed", data, len, 65536, SIZE_MAX);
    ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
    tu_resp_free(r);
    r = s3("GET", "/chk/signed", NULL, NULL, -1);
    ck_assert_uint_eq(r->len, len);
    ck_assert_int_eq(memcmp(r->body, data, len), 0);
    tu_resp_free(r);
    /* One flipped byte in the third chunk: its signature fails, the upload is refused whole. */
    r = put_signed_chunked("/chk/tampered", data, len, 65536, 2 * 65536 + 7);
    tu_assert_s3_error(r, 403, "SignatureDoesNotMatch");
    tu_resp_free(r);
    r = s3("GET", "/chk/tampered", NULL, NULL, -1);
    tu_assert_s3_error(r, 404, "NoSuchKey");
    tu_resp_free(r);

    /* CRC32 of "hello" is NhCmhg== */
    r = put_trailer_chunked("/chk/trailer", "hello", 5, "NhCmhg==");
    ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
    ck_assert_str_eq(tu_resp_header(r, "x-amz-checksum-crc32"), "NhCmhg==");
    tu_resp_free(r);
    const char *mode[] = {"x-amz-checksum-mode: ENABLED", NULL};
    r = s3("GET", "/chk/trailer", mode, NULL, -1);
    ck_assert_str_eq(r->body, "hello");
    ck_assert_str_eq(tu_resp_header(r, "x-amz-checksum-crc32"), "NhCmhg==");
    tu_resp_free(r);
    r = put_trailer_chunked("/chk/bad-trailer", "hello", 5, "AAAAAA==");
    tu_assert_s3_error(r, 400, "BadDigest");
    tu_resp_free(r);
    r = s3("GET", "/chk/bad-trailer", NULL, NULL, -1);
    tu_assert_s3_error(r, 404, "NoSuchKey");
    tu_resp_free(r);
    free(data);
}
END_TEST

/* ---- parts racing their upload's end ---------------------------------------------------------- */

struct part_racer {
    const char *id;
    int first;
};

static void *race_parts(void *p)
{
    struct part_racer *pr = p;
    static const char body[] = "a part that races its upload's abort";
    for (int n = pr->first; n < pr->first + 20; n++) {
        char path[160];
        snprintf(path, sizeof path, "/race/k?partNumber=%d&uploadId=%s", n, pr->id);
        resp *r = s3("PUT", path, NULL, body, sizeof body - 1);
        ck_assert_msg(r->status == 200 || r->status == 404, "part %d: %ld %s", n, r->status, r->body);
        tu_resp_free(r);
    }
    return NULL;
}

/* UploadParts racing AbortMultipartUpload: whatever the interleaving, no part outlives its upload
 * (a part committed after the abort's deletion would stay in the store for good, unlisted). The
 * store is opened afterwards and its parts namespace must be empty. */
START_TEST(s3_no_part_outlives_an_aborted_upload)
{
    ck_assert_int_eq(status_of("PUT", "/race", NULL, NULL, -1), 200);
    for (int round = 0; round < 8; round++) {
        char *id = upload_id_of("/race/k?uploads=");
        struct part_racer pr[3] = {{id, 1}, {id, 21}, {id, 41}};
        pthread_t t[3];
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(pthread_create(&t[i], NULL, race_parts, &pr[i]), 0);
        clock_sleep_ms(5 * (round % 4));
        char path[160];
        snprintf(path, sizeof path, "/race/k?uploadId=%s", id);
        ck_assert_int_eq(status_of("DELETE", path, NULL, NULL, -1), 204);
        for (int i = 0; i < 3; i++)
            pthread_join(t[i], NULL);
        free(id);
    }
    ck_assert_int_eq(tu_server_stop(&srv), 0);
    char data[700];
    snprintf(data, sizeof data, "%s/data", srv.dir);
    floe_options o;
    floe_options_init(&o);
    floe_t *db = NULL;
    ck_assert_int_eq(floe_open(data, &o, &db), 0);
    char prefix[FLOE_SYSTEM_PREFIX_BYTES + 2];
    memcpy(prefix, FLOE_SYSTEM_PREFIX, FLOE_SYSTEM_PREFIX_BYTES);
    memcpy(prefix + FLOE_SYSTEM_PREFIX_BYTES, "p/", 2);
    floe_list *l = NULL;
    ck_assert_int_eq(floe_list_keys(db, prefix, sizeof prefix, NULL, 0, 100, &l), 0);
    ck_assert_msg(l->count == 0, "%zu parts outlived their aborted uploads", l->count);
    floe_list_free(l);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("s3api");
    TCase *tc = tcase_create("s3api");
    tcase_add_checked_fixture(tc, server_up, server_down);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, s3_bucket_lifecycle_and_its_errors);
    tcase_add_test(tc, s3_object_round_trip_with_metadata_ranges_and_conditions);
    tcase_add_test(tc, s3_requests_without_a_valid_signature_are_refused);
    tcase_add_test(tc, s3_a_body_that_does_not_match_its_digest_stores_nothing);
    tcase_add_test(tc, s3_lists_page_and_roll_up_common_prefixes);
    tcase_add_test(tc, s3_multipart_upload_complete_abort_and_its_errors);
    tcase_add_test(tc, s3_copy_object_and_delete_objects);
    tcase_add_test(tc, s3_aws_chunked_bodies_whose_signature_or_trailer_is_wrong_store_nothing);
    tcase_add_test(tc, s3_no_part_outlives_an_aborted_upload);
    suite_add_tcase(s, tc);
    TCase *vh = tcase_create("vhost");
    tcase_add_checked_fixture(vh, vhost_server_up, server_down);
    tcase_add_test(vh, s3_virtual_hosted_style_names_the_bucket_in_the_host);
    tcase_set_timeout(vh, 300);
    suite_add_tcase(s, vh);
    TCase *rc = tcase_create("reclaim");
    tcase_add_checked_fixture(rc, reclaim_server_up, server_down);
    tcase_add_test(rc, s3_abandoned_multipart_uploads_are_reclaimed);
    tcase_set_timeout(rc, 300);
    suite_add_tcase(s, rc);
    TCase *slow = tcase_create("behind");
    tcase_add_checked_fixture(slow, behind_server_up, server_down);
    tcase_add_test(slow, s3_writes_get_slow_down_while_the_cold_tier_is_behind);
    tcase_set_timeout(slow, 300);
    suite_add_tcase(s, slow);
    TCase *tls = tcase_create("tls");
    tcase_add_checked_fixture(tls, tls_server_up, tls_server_down);
    tcase_add_test(tls, s3_and_v1_listeners_serve_tls);
    tcase_set_timeout(tls, 300);
    suite_add_tcase(s, tls);
    return tu_run_suite(s);
}
