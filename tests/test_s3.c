/* The S3 client against a real S3 implementation (the Ceph RGW that scripts/test.sh starts, found
 * through FLOE_TEST_S3_ENDPOINT, FLOE_TEST_S3_ACCESS_KEY and FLOE_TEST_S3_SECRET_KEY), and against a
 * scripted fake server in this file for what a real one will not do on demand: 503 storms, lost
 * answers, silence, oversized and malformed bodies. Each RGW test makes its own bucket. */
#include "clock.h"
#include "cold.h"
#include "error.h"
#include "s3.h"
#include "s3_internal.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------- */
/* The RGW under test */

/* A client on a fresh bucket of its own, which the client itself creates: its request counters
 * start with that one PUT. */
static s3_client *rgw_client(char bucket[TU_BUCKET_MAX], const char *prefix)
{
    tu_s3_unique_bucket(bucket);
    s3_config cfg = tu_s3_config(bucket);
    cfg.prefix = prefix;
    s3_client *c = NULL;
    ck_assert_msg(s3_client_create(&cfg, &c) == 0, "%s", floe_last_error());
    ck_assert_msg(s3_create_bucket(c) == 0, "create bucket %s: %s", bucket, floe_last_error());
    return c;
}

static void md5_hex(const void *data, size_t len, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
    for (unsigned i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

START_TEST(s3_put_get_range_head_delete_round_trip)
{
    char bucket[TU_BUCKET_MAX];
    s3_client *c = rgw_client(bucket, "node-a");
    size_t len = 100000;
    unsigned char *data = malloc(len);
    tu_fill_random(data, len, 1);

    ck_assert_msg(s3_put(c, "segments/ab/1-1.seg", data, len, 0) == 0, "%s", floe_last_error());
    void *got = NULL;
    size_t got_len = 0;
    ck_assert_msg(s3_get(c, "segments/ab/1-1.seg", &got, &got_len, len) == 0, "%s", floe_last_error());
    ck_assert_uint_eq(got_len, len);
    ck_assert(memcmp(got, data, len) == 0);
    free(got);

    unsigned char part[1000];
    ck_assert_msg(s3_get_range(c, "segments/ab/1-1.seg", 54321, part, sizeof part) == 0, "%s",
                  floe_last_error());
    ck_assert(memcmp(part, data + 54321, sizeof part) == 0);
    ck_assert_int_eq(s3_get_range(c, "segments/ab/1-1.seg", len - 10, part, 10), 0); /* the last bytes */
    ck_assert(memcmp(part, data + len - 10, 10) == 0);

    s3_object_info info;
    ck_assert_int_eq(s3_head(c, "segments/ab/1-1.seg", &info), 0);
    ck_assert_uint_eq(info.size, len);
    char md5[33];
    md5_hex(data, len, md5);
    ck_assert_str_eq(info.etag, md5);
    ck_assert_int_eq(strlen(info.upload_id), 32);
    ck_assert(info.mtime_unix_s > time(NULL) - 3600 && info.mtime_unix_s < time(NULL) + 3600);

    /* The prefix is part of the object's real name. */
    s3_config cfg = tu_s3_config(bucket);
    s3_client *raw = NULL;
    ck_assert_int_eq(s3_client_create(&cfg, &raw), 0);
    ck_assert_int_eq(s3_head(raw, "node-a/segments/ab/1-1.seg", &info), 0);
    s3_client_destroy(raw);

    ck_assert_int_eq(s3_delete(c, "segments/ab/1-1.seg"), 0);
    ck_assert_int_eq(s3_get(c, "segments/ab/1-1.seg", &got, &got_len, len), FLOE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "NoSuchKey"));
    ck_assert_int_eq(s3_head(c, "segments/ab/1-1.seg", &info), FLOE_ENOTFOUND);
    ck_assert_int_eq(s3_get_range(c, "segments/ab/1-1.seg", 0, part, 10), FLOE_ENOTFOUND);
    ck_assert_int_eq(s3_delete(c, "segments/ab/1-1.seg"), 0); /* deleting twice is fine */

    uint64_t req[FLOE_COLD_OP_COUNT], err[FLOE_COLD_OP_COUNT], ret[FLOE_COLD_OP_COUNT];
    s3_get_counters(c, req, err, ret);
    ck_assert_uint_eq(req[FLOE_COLD_PUT], 2); /* the bucket and the object */
    ck_assert_uint_eq(req[FLOE_COLD_GET], 5);
    ck_assert_uint_eq(err[FLOE_COLD_GET], 0); /* a 404 is an answer, not an error */
    ck_assert_uint_eq(req[FLOE_COLD_DELETE], 2);
    ck_assert_uint_eq(ret[FLOE_COLD_PUT] + ret[FLOE_COLD_GET], 0);
    ck_assert_int_eq(s3_health(c, NULL, 0), 0);
    s3_client_destroy(c);
    free(data);
}
END_TEST

START_TEST(s3_range_outside_object_is_erange_with_size)
{
    char bucket[TU_BUCKET_MAX];
    s3_client *c = rgw_client(bucket, NULL);
    ck_assert_int_eq(s3_put(c, "small", "0123456789", 10, 0), 0);
    char buf[32];
    ck_assert_int_eq(s3_get_range(c, "small", 5, buf, 10), FLOE_ERANGE); /* runs past the end */
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "has 10 bytes"));
    ck_assert_int_eq(s3_get_range(c, "small", 10, buf, 1), FLOE_ERANGE); /* starts at the end */
    ck_assert_int_eq(s3_get_range(c, "small", 5, buf, 5), 0);
    ck_assert(memcmp(buf, "56789", 5) == 0);
    ck_assert_int_eq(s3_get_range(c, "small", 10, buf, 0), 0); /* empty range at the end */
    ck_assert_int_eq(s3_get_range(c, "small", 11, buf, 0), FLOE_ERANGE);

    void *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(s3_get(c, "small", &data, &len, 9), FLOE_ETOOBIG);
    ck_assert_ptr_null(data);
    ck_assert_int_eq(s3_get(c, "small", &data, &len, 10), 0);
    ck_assert_uint_eq(len, 10);
    ck_assert_int_eq(((char *)data)[10], '\0');
    free(data);
    s3_client_destroy(c);
}
END_TEST

typedef struct put_job {
    s3_client *c;
    int from, to;
    int failures;
} put_job;

static void *put_keys(void *arg)
{
    put_job *j = arg;
    for (int i = j->from; i < j->to; i++) {
        char key[64], val[32];
        snprintf(key, sizeof key, "list/k%05d", i);
        int n = snprintf(val, sizeof val, "v%d", i);
        if (s3_put(j->c, key, val, (size_t)n, 0) != 0)
            j->failures++;
    }
    return NULL;
}

typedef struct collected {
    char **keys;
    uint64_t *sizes;
    size_t count;
    size_t cap;
    size_t stop_after; /* 0: never stop */
} collected;

static int collect(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    collected *col = ctx;
    ck_assert(mtime > 0);
    if (col->count == col->cap) {
        col->cap = col->cap ? col->cap * 2 : 64;
        col->keys = realloc(col->keys, col->cap * sizeof *col->keys);
        col->sizes = realloc(col->sizes, col->cap * sizeof *col->sizes);
    }
    col->keys[col->count] = strdup(key);
    col->sizes[col->count++] = size;
    if (col->stop_after && col->count == col->stop_after)
        return 7;
    return 0;
}

static void collected_free(collected *col)
{
    for (size_t i = 0; i < col->count; i++)
        free(col->keys[i]);
    free(col->keys);
    free(col->sizes);
    memset(col, 0, sizeof *col);
}

START_TEST(s3_list_follows_continuation_tokens_past_1000_keys)
{
    char bucket[TU_BUCKET_MAX];
    s3_client *c = rgw_client(bucket, "pfx/");
    enum { N = 1100, THREADS = 4 };
    pthread_t th[THREADS];
    put_job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (put_job){c, t * N / THREADS, (t + 1) * N / THREADS, 0};
        pthread_create(&th[t], NULL, put_keys, &jobs[t]);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        ck_assert_int_eq(jobs[t].failures, 0);
    }
    ck_assert_int_eq(s3_put(c, "other", "x", 1, 0), 0);

    uint64_t before[FLOE_COLD_OP_COUNT], after[FLOE_COLD_OP_COUNT];
    s3_get_counters(c, before, NULL, NULL);
    collected col = {0};
    ck_assert_msg(s3_list(c, "list/", 100, collect, &col) == 0, "%s", floe_last_error());
    s3_get_counters(c, after, NULL, NULL);
    ck_assert_uint_eq(col.count, N);
    for (size_t i = 0; i < col.count; i++) {
        char want[64];
        snprintf(want, sizeof want, "list/k%05zu", i);
        ck_assert_str_eq(col.keys[i], want); /* in order, prefix stripped, none twice */
        ck_assert_uint_eq(col.sizes[i], (uint64_t)snprintf(want, sizeof want, "v%zu", i));
    }
    ck_assert_uint_ge(after[FLOE_COLD_LIST] - before[FLOE_COLD_LIST], N / 100);
    collected_free(&col);

    /* The default page size, and everything under the prefix. */
    ck_assert_int_eq(s3_list(c, "", 0, collect, &col), 0);
    ck_assert_uint_eq(col.count, N + 1);
    ck_assert_str_eq(col.keys[N], "other");
    collected_free(&col);

    /* A callback's non-zero value stops the listing and is returned. */
    col.stop_after = 150;
    ck_assert_int_eq(s3_list(c, "list/", 100, collect, &col), 7);
    ck_assert_uint_eq(col.count, 150);
    collected_free(&col);
    s3_client_destroy(c);
}
END_TEST

START_TEST(s3_multipart_upload_of_three_parts_round_trips)
{
    char bucket[TU_BUCKET_MAX];
    s3_client *c = rgw_client(bucket, NULL);
    char *dir = tu_tmpdir("s3-mpu");
    char path[512];
    snprintf(path, sizeof path, "%s/seg", dir);
    size_t len = 2 * S3_MIN_PART_BYTES + 1234567; /* parts of 5 MiB, 5 MiB and the rest */
    unsigned char *data = malloc(len);
    tu_fill_random(data, len, 3);
    tu_write_file(path, data, len);

    ck_assert_msg(s3_put_file(c, "segments/00/9-1.seg", path, S3_MIN_PART_BYTES) == 0, "%s",
                  floe_last_error());
    uint64_t req[FLOE_COLD_OP_COUNT], err[FLOE_COLD_OP_COUNT];
    s3_get_counters(c, req, err, NULL);
    ck_assert_uint_eq(req[FLOE_COLD_MPU_CREATE], 1);
    ck_assert_uint_eq(req[FLOE_COLD_MPU_PART], 3);
    ck_assert_uint_eq(req[FLOE_COLD_MPU_COMPLETE], 1);
    ck_assert_uint_eq(req[FLOE_COLD_MPU_ABORT], 0);

    s3_object_info info;
    ck_assert_int_eq(s3_head(c, "segments/00/9-1.seg", &info), 0);
    ck_assert_uint_eq(info.size, len);
    ck_assert_msg(strlen(info.etag) > 2 && strcmp(info.etag + strlen(info.etag) - 2, "-3") == 0, "etag %s",
                  info.etag);
    void *got = NULL;
    size_t got_len = 0;
    ck_assert_int_eq(s3_get(c, "segments/00/9-1.seg", &got, &got_len, len), 0);
    ck_assert_uint_eq(got_len, len);
    ck_assert(memcmp(got, data, len) == 0);
    free(got);
    /* A ranged read across the boundary of parts 1 and 2. */
    unsigned char buf[4096];
    ck_assert_int_eq(s3_get_range(c, "segments/00/9-1.seg", S3_MIN_PART_BYTES - 2048, buf, sizeof buf), 0);
    ck_assert(memcmp(buf, data + S3_MIN_PART_BYTES - 2048, sizeof buf) == 0);

    /* A file no larger than part_bytes goes up in one PUT. */
    s3_get_counters(c, req, NULL, NULL);
    uint64_t puts = req[FLOE_COLD_PUT];
    ck_assert_int_eq(s3_put_file(c, "whole", path, len), 0);
    s3_get_counters(c, req, NULL, NULL);
    ck_assert_uint_eq(req[FLOE_COLD_PUT], puts + 1);
    ck_assert_uint_eq(req[FLOE_COLD_MPU_CREATE], 1);

    /* Bad part sizes and missing files are refused before any request. */
    ck_assert_int_eq(s3_put_file(c, "x", path, 1024), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "minimum"));
    ck_assert_int_eq(s3_put_file(c, "x", "/nonexistent/file", S3_MIN_PART_BYTES), FLOE_ENOTFOUND);
    free(data);
    tu_rmrf(dir);
    free(dir);
    s3_client_destroy(c);
}
END_TEST

START_TEST(s3_if_none_match_refuses_the_second_create)
{
    char bucket[TU_BUCKET_MAX];
    s3_client *c = rgw_client(bucket, NULL);
    ck_assert_int_eq(s3_put(c, "manifest/00000000000000000001.json", "first", 5, 1), 0);
    ck_assert_int_eq(s3_put(c, "manifest/00000000000000000001.json", "second", 6, 1), S3_EXISTS);
    void *got = NULL;
    size_t len = 0;
    ck_assert_int_eq(s3_get(c, "manifest/00000000000000000001.json", &got, &len, 100), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert(memcmp(got, "first", 5) == 0);
    free(got);
    uint64_t err[FLOE_COLD_OP_COUNT];
    s3_get_counters(c, NULL, err, NULL);
    ck_assert_uint_eq(err[FLOE_COLD_PUT], 0); /* "exists" is an answer */
    /* A plain PUT still replaces. */
    ck_assert_int_eq(s3_put(c, "manifest/00000000000000000001.json", "third", 5, 0), 0);
    s3_client_destroy(c);
}
END_TEST

START_TEST(s3_keys_with_spaces_plus_equals_percent_and_utf8_round_trip)
{
    static const char *const keys[] = {
        "a b c",
        "plus+sign",
        "equals=sign&amp",
        "100%25 and % alone",
        "\xc3\xbc/\xc3\xb1/\xe6\x97\xa5\xe6\x9c\xac.seg",
        "double//slash",
        "semi;colon,comma:colon",
        "tilde~star*(paren)'quote'!",
        "brackets[]{}^|`\"<>#?",
        "dot./..x/.hidden",
    };
    enum { NKEYS = sizeof keys / sizeof keys[0] };
    char bucket[TU_BUCKET_MAX];
    s3_client *c = rgw_client(bucket, "we ird+pre=fix%");
    for (int i = 0; i < NKEYS; i++) {
        ck_assert_msg(s3_put(c, keys[i], keys[i], strlen(keys[i]), 0) == 0, "put '%s': %s", keys[i],
                      floe_last_error());
        void *got = NULL;
        size_t len = 0;
        ck_assert_msg(s3_get(c, keys[i], &got, &len, 4096) == 0, "get '%s': %s", keys[i], floe_last_error());
        ck_assert_uint_eq(len, strlen(keys[i]));
        ck_assert(memcmp(got, keys[i], len) == 0);
        free(got);
        s3_object_info info;
        ck_assert_int_eq(s3_head(c, keys[i], &info), 0);
        ck_assert_uint_eq(info.size, strlen(keys[i]));
    }
    collected col = {0};
    ck_assert_msg(s3_list(c, "", 3, collect, &col) == 0, "%s", floe_last_error());
    ck_assert_uint_eq(col.count, NKEYS);
    for (int i = 0; i < NKEYS; i++) {
        int found = 0;
        for (size_t j = 0; j < col.count; j++)
            found += strcmp(col.keys[j], keys[i]) == 0;
        ck_assert_msg(found == 1, "key '%s' listed %d times", keys[i], found);
    }
    for (size_t j = 1; j < col.count; j++)
        ck_assert_msg(strcmp(col.keys[j - 1], col.keys[j]) < 0, "list out of order at %zu", j);
    collected_free(&col);
    for (int i = 0; i < NKEYS; i++)
        ck_assert_int_eq(s3_delete(c, keys[i]), 0);
    ck_assert_int_eq(s3_list(c, "", 0, collect, &col), 0);
    ck_assert_uint_eq(col.count, 0);
    s3_client_destroy(c);
}
END_TEST

START_TEST(s3_virtual_hosted_style_works)
{
    char bucket[TU_BUCKET_MAX];
    s3_client *c = rgw_client(bucket, NULL);
    s3_client_destroy(c);
    /* curl resolves <bucket>.localhost to the loopback address; RGW knows "localhost" as its name. */
    const char *e = tu_s3_endpoint();
    const char *port = strrchr(e, ':');
    ck_assert_ptr_nonnull(port);
    char endpoint[128];
    snprintf(endpoint, sizeof endpoint, "http://localhost%s", port);
    s3_config cfg = tu_s3_config(bucket);
    cfg.endpoint = endpoint;
    cfg.path_style = 0;
    cfg.region = "eu-west-3"; /* any region is signed and accepted */
    ck_assert_int_eq(s3_client_create(&cfg, &c), 0);
    ck_assert_msg(s3_put(c, "vh/key one", "hello", 5, 0) == 0, "%s", floe_last_error());
    char buf[5];
    ck_assert_int_eq(s3_get_range(c, "vh/key one", 1, buf, 4), 0);
    ck_assert(memcmp(buf, "ello", 4) == 0);
    collected col = {0};
    ck_assert_msg(s3_list(c, "vh/", 0, collect, &col) == 0, "%s", floe_last_error());
    ck_assert_uint_eq(col.count, 1);
    ck_assert_str_eq(col.keys[0], "vh/key one");
    collected_free(&col);
    s3_client_destroy(c);
}
END_TEST

START_TEST(s3_wrong_secret_is_signature_does_not_match_and_unhealthy)
{
    char bucket[TU_BUCKET_MAX];
    s3_client *good = rgw_client(bucket, NULL);
    s3_config cfg = tu_s3_config(bucket);
    cfg.secret_key = "not-the-secret";
    s3_client *c = NULL;
    ck_assert_int_eq(s3_client_create(&cfg, &c), 0);
    ck_assert_int_eq(s3_health(c, NULL, 0), 0); /* nothing known yet */

    ck_assert_int_eq(s3_put(c, "k", "v", 1, 0), FLOE_ECOLD);
    const char *msg = floe_last_error();
    ck_assert_msg(strstr(msg, "SignatureDoesNotMatch") && strstr(msg, "403") &&
                      strstr(msg, "check the secret key") && strstr(msg, "PUT") && strstr(msg, bucket),
                  "message: %s", msg);
    char health[512];
    ck_assert_int_eq(s3_health(c, health, sizeof health), FLOE_ECOLD);
    ck_assert_ptr_nonnull(strstr(health, "SignatureDoesNotMatch"));
    uint64_t req[FLOE_COLD_OP_COUNT], err[FLOE_COLD_OP_COUNT], ret[FLOE_COLD_OP_COUNT];
    s3_get_counters(c, req, err, ret);
    ck_assert_uint_eq(req[FLOE_COLD_PUT], 1); /* 403 is not retried */
    ck_assert_uint_eq(ret[FLOE_COLD_PUT], 0);
    ck_assert_uint_eq(err[FLOE_COLD_PUT], 1);
    /* A GET is refused too, and is not taken for a missing key. */
    char buf[1];
    ck_assert_int_eq(s3_get_range(c, "k", 0, buf, 1), FLOE_ECOLD);
    s3_client_destroy(c);

    cfg.secret_key = getenv("FLOE_TEST_S3_SECRET_KEY");
    cfg.access_key = "NOSUCHACCESSKEY";
    ck_assert_int_eq(s3_client_create(&cfg, &c), 0);
    ck_assert_int_eq(s3_put(c, "k", "v", 1, 0), FLOE_ECOLD);
    ck_assert_msg(strstr(floe_last_error(), "InvalidAccessKeyId") &&
                      strstr(floe_last_error(), "check the access key"),
                  "%s", floe_last_error());
    ck_assert_int_eq(s3_health(c, NULL, 0), FLOE_ECOLD);
    s3_client_destroy(c);
    s3_client_destroy(good);
}
END_TEST

START_TEST(s3_missing_bucket_is_a_clear_no_such_bucket_error)
{
    char bucket[TU_BUCKET_MAX];
    tu_s3_unique_bucket(bucket);
    s3_config cfg = tu_s3_config(bucket);
    s3_client *c = NULL;
    ck_assert_int_eq(s3_client_create(&cfg, &c), 0);
    ck_assert_int_eq(s3_put(c, "k", "v", 1, 0), FLOE_ECOLD);
    ck_assert_msg(strstr(floe_last_error(), "NoSuchBucket") && strstr(floe_last_error(), "create the bucket"),
                  "%s", floe_last_error());
    void *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(s3_get(c, "k", &data, &len, 10), FLOE_ECOLD); /* not "no such key" */
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "NoSuchBucket"));
    ck_assert_int_eq(s3_list(c, "", 0, collect, NULL), FLOE_ECOLD);
    char health[512];
    ck_assert_int_eq(s3_health(c, health, sizeof health), FLOE_ECOLD);
    ck_assert_ptr_nonnull(strstr(health, "NoSuchBucket"));
    /* Once the bucket exists, a success clears the health error. */
    ck_assert_int_eq(s3_create_bucket(c), 0);
    ck_assert_int_eq(s3_put(c, "k", "v", 1, 0), 0);
    ck_assert_int_eq(s3_health(c, NULL, 0), 0);
    s3_client_destroy(c);
}
END_TEST

START_TEST(s3_connection_refused_is_retried_then_fails_within_the_timeout)
{
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", tu_closed_port());
    s3_config cfg = {.endpoint = endpoint,
                     .bucket = "floe",
                     .path_style = 1,
                     .access_key = "a",
                     .secret_key = "b",
                     .timeout_ms = 2000,
                     .max_retries = 3};
    s3_client *c = NULL;
    ck_assert_int_eq(s3_client_create(&cfg, &c), 0);
    uint64_t t0 = clock_now_ns();
    char buf[4];
    ck_assert_int_eq(s3_get_range(c, "segments/ab/1-1.seg", 0, buf, 4), FLOE_ECOLD);
    double took = (double)(clock_now_ns() - t0) / 1e9;
    const char *msg = floe_last_error();
    ck_assert_msg(strstr(msg, "after 4 attempts") && strstr(msg, endpoint) && strstr(msg, "server is up"),
                  "%s", msg);
    /* Backoff windows 50 + 100 + 200 ms at most; nothing waits for the 2 s timeout. */
    ck_assert_msg(took < 1.5, "took %.2f s", took);
    uint64_t req[FLOE_COLD_OP_COUNT], err[FLOE_COLD_OP_COUNT], ret[FLOE_COLD_OP_COUNT];
    s3_get_counters(c, req, err, ret);
    ck_assert_uint_eq(req[FLOE_COLD_GET], 4);
    ck_assert_uint_eq(ret[FLOE_COLD_GET], 3);
    ck_assert_uint_eq(err[FLOE_COLD_GET], 1);
    ck_assert_int_eq(s3_health(c, NULL, 0), 0); /* unreachable is not a permanent error */
    s3_client_destroy(c);
}
END_TEST

START_TEST(s3_bad_configuration_is_refused_naming_the_field)
{
    s3_client *c = NULL;
    s3_config cfg = {.endpoint = "127.0.0.1:7480", .bucket = "floe", .access_key = "a", .secret_key = "b"};
    ck_assert_int_eq(s3_client_create(&cfg, &c), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "endpoint"));
    cfg.endpoint = "http://127.0.0.1:7480/some/path";
    ck_assert_int_eq(s3_client_create(&cfg, &c), FLOE_EINVAL);
    cfg.endpoint = "http://127.0.0.1:7480";
    cfg.bucket = "UPPER case";
    ck_assert_int_eq(s3_client_create(&cfg, &c), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "bucket"));
    cfg.bucket = "floe";
    cfg.secret_key = NULL;
    unsetenv("AWS_SECRET_ACCESS_KEY");
    ck_assert_int_eq(s3_client_create(&cfg, &c), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "AWS_SECRET_ACCESS_KEY"));
    setenv("AWS_SECRET_ACCESS_KEY", "from-env", 1);
    c = NULL;
    ck_assert_int_eq(s3_client_create(&cfg, &c), 0);
    ck_assert_ptr_nonnull(c);
    s3_client_destroy(c);
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */
/* A scripted fake S3 server on 127.0.0.1 */

typedef struct fake_request {
    char method[16];
    char target[2048];
    char headers[8192];
    char *body;
    size_t body_len;
} fake_request;

typedef enum fake_action { FAKE_RESPOND, FAKE_CLOSE, FAKE_HANG } fake_action;

typedef struct fake_response {
    fake_action action;
    int status;
    char headers[1024]; /* extra header lines, each ending in \r\n */
    const char *body;
    size_t body_len;
} fake_response;

typedef void (*fake_handler)(void *ctx, int n, const fake_request *req, fake_response *resp);

typedef struct fake_server {
    int listen_fd;
    int port;
    pthread_t thread;
    atomic_int stop;
    fake_handler handler;
    void *ctx;
    atomic_int requests;
    atomic_int connections;
    int hung[16]; /* connections left open without an answer */
    int hung_count;
    SSL_CTX *tls; /* NULL: plain HTTP */
} fake_server;

/* One accepted connection, plain or TLS. */
typedef struct fake_conn {
    int fd;
    SSL *ssl;
} fake_conn;

static ssize_t conn_read(fake_conn *c, void *buf, size_t len)
{
    if (!c->ssl)
        return read(c->fd, buf, len);
    int n = SSL_read(c->ssl, buf, (int)len);
    return n > 0 ? n : -1;
}

/* Finds header name's value in req (case-insensitive); copies it to out. */
static int fake_header(const fake_request *req, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    for (const char *line = req->headers; *line;) {
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - line) > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)(eol - v), v);
            return 1;
        }
        line = eol + 2;
    }
    return 0;
}

static int read_request(fake_conn *conn, fake_request *req)
{
    char buf[16384];
    size_t len = 0;
    char *end = NULL;
    buf[0] = '\0';
    while (!(end = strstr(buf, "\r\n\r\n"))) {
        if (len + 1 >= sizeof buf)
            return -1;
        ssize_t n = conn_read(conn, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
    }
    memset(req, 0, sizeof *req);
    if (sscanf(buf, "%15s %2047s", req->method, req->target) != 2)
        return -1;
    char *hdr = strstr(buf, "\r\n") + 2;
    snprintf(req->headers, sizeof req->headers, "%.*s", (int)(end + 2 - hdr), hdr);
    char cl[32];
    size_t body_len = fake_header(req, "Content-Length", cl, sizeof cl) ? strtoull(cl, NULL, 10) : 0;
    req->body = malloc(body_len + 1);
    size_t have = len - (size_t)(end + 4 - buf);
    memcpy(req->body, end + 4, have);
    while (have < body_len) {
        ssize_t n = conn_read(conn, req->body + have, body_len - have);
        if (n <= 0) {
            free(req->body);
            return -1;
        }
        have += (size_t)n;
    }
    req->body[body_len] = '\0';
    req->body_len = body_len;
    return 0;
}

static void write_all_fd(fake_conn *conn, const void *p, size_t len)
{
    while (len) {
        ssize_t n = conn->ssl ? SSL_write(conn->ssl, p, (int)len) : send(conn->fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        p = (const char *)p + n;
        len -= (size_t)n;
    }
}

static void *fake_main(void *arg)
{
    fake_server *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&s->connections, 1);
        fake_conn conn = {fd, NULL};
        if (s->tls) {
            conn.ssl = SSL_new(s->tls);
            SSL_set_fd(conn.ssl, fd);
            if (SSL_accept(conn.ssl) != 1) { /* e.g. the client refused our certificate */
                SSL_free(conn.ssl);
                close(fd);
                continue;
            }
        }
        fake_request req;
        while (read_request(&conn, &req) == 0) {
            fake_response resp = {.action = FAKE_RESPOND, .status = 200};
            int n = atomic_fetch_add(&s->requests, 1);
            s->handler(s->ctx, n, &req, &resp);
            free(req.body);
            if (resp.action == FAKE_CLOSE)
                break;
            if (resp.action == FAKE_HANG) {
                /* Keep the connection open and silent; serve the next one. */
                if (s->hung_count < 16) {
                    s->hung[s->hung_count++] = fd;
                    fd = -1;
                }
                break;
            }
            char head[2048];
            int hl =
                snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", resp.status,
                         strcmp(req.method, "HEAD") == 0 && resp.body == NULL ? (size_t)0 : resp.body_len,
                         resp.headers);
            write_all_fd(&conn, head, (size_t)hl);
            if (strcmp(req.method, "HEAD") != 0 && resp.body_len)
                write_all_fd(&conn, resp.body, resp.body_len);
        }
        if (conn.ssl)
            SSL_free(conn.ssl);
        if (fd >= 0)
            close(fd);
    }
    for (int i = 0; i < s->hung_count; i++)
        close(s->hung[i]);
    return NULL;
}

/* Starts a server on an ephemeral port; tls NULL for plain HTTP (the server does not own tls). */
static void fake_start(fake_server *s, fake_handler h, void *ctx, SSL_CTX *tls)
{
    memset(s, 0, sizeof *s);
    s->handler = h;
    s->ctx = ctx;
    s->tls = tls;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    ck_assert_int_eq(bind(s->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(s->listen_fd, 16), 0);
    ck_assert_int_eq(getsockname(s->listen_fd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, fake_main, s);
}

static void fake_stop(fake_server *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
}

static s3_client *fake_client(fake_server *s, uint32_t timeout_ms, uint32_t max_retries)
{
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", s->port);
    s3_config cfg = {.endpoint = endpoint,
                     .bucket = "fake",
                     .path_style = 1,
                     .access_key = "a",
                     .secret_key = "b",
                     .timeout_ms = timeout_ms,
                     .max_retries = max_retries};
    s3_client *c = NULL;
    ck_assert_int_eq(s3_client_create(&cfg, &c), 0);
    return c;
}

static void set_error(fake_response *r, int status, const char *code)
{
    static _Thread_local char body[512];
    r->status = status;
    r->body_len = (size_t)snprintf(body, sizeof body,
                                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
                                   "<Message>injected %s</Message><RequestId>r1</RequestId></Error>",
                                   code, code);
    r->body = body;
}

static void slowdown_twice(void *ctx, int n, const fake_request *req, fake_response *resp)
{
    (void)ctx;
    (void)req;
    if (n < 2)
        set_error(resp, 503, "SlowDown");
}

START_TEST(s3_503_slowdown_is_retried_and_counted)
{
    fake_server s;
    fake_start(&s, slowdown_twice, NULL, NULL);
    s3_client *c = fake_client(&s, 2000, 5);
    ck_assert_msg(s3_put(c, "k", "v", 1, 0) == 0, "%s", floe_last_error());
    uint64_t req[FLOE_COLD_OP_COUNT], err[FLOE_COLD_OP_COUNT], ret[FLOE_COLD_OP_COUNT];
    s3_get_counters(c, req, err, ret);
    ck_assert_uint_eq(req[FLOE_COLD_PUT], 3);
    ck_assert_uint_eq(ret[FLOE_COLD_PUT], 2);
    ck_assert_uint_eq(err[FLOE_COLD_PUT], 0);
    ck_assert_int_eq(s3_health(c, NULL, 0), 0);
    /* Every attempt and the next call went over one kept-alive connection. */
    ck_assert_int_eq(s3_delete(c, "k"), 0);
    ck_assert_int_eq(atomic_load(&s.requests), 4);
    ck_assert_int_eq(atomic_load(&s.connections), 1);
    s3_client_destroy(c);
    fake_stop(&s);
}
END_TEST

static void always(void *ctx, int n, const fake_request *req, fake_response *resp)
{
    (void)n;
    (void)req;
    const int *status = ctx;
    set_error(resp, *status,
              *status == 500   ? "InternalError"
              : *status == 403 ? "AccessDenied"
                               : "RequestTimeout");
}

START_TEST(s3_retries_stop_at_max_and_name_status_and_attempts)
{
    int status = 500;
    fake_server s;
    fake_start(&s, always, &status, NULL);
    s3_client *c = fake_client(&s, 2000, 2);
    void *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(s3_get(c, "seg", &data, &len, 100), FLOE_ECOLD);
    ck_assert_msg(strstr(floe_last_error(), "500 InternalError: injected InternalError (after 3 attempts)"),
                  "%s", floe_last_error());
    ck_assert_int_eq(atomic_load(&s.requests), 3);

    status = 400; /* RequestTimeout arrives as a 400 and is retried too */
    ck_assert_int_eq(s3_get(c, "seg", &data, &len, 100), FLOE_ECOLD);
    ck_assert_int_eq(atomic_load(&s.requests), 6);

    status = 403;
    ck_assert_int_eq(s3_get(c, "seg", &data, &len, 100), FLOE_ECOLD);
    ck_assert_int_eq(atomic_load(&s.requests), 7); /* not retried */
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "AccessDenied"));
    ck_assert_int_eq(s3_health(c, NULL, 0), FLOE_ECOLD);
    s3_client_destroy(c);
    fake_stop(&s);
}
END_TEST

typedef struct lost_put_state {
    char stored_upload_id[128];
    int head_returns_other; /* the object exists but is someone else's */
} lost_put_state;

/* The first PUT is stored but its answer never comes; the retry finds the key taken. */
static void lose_first_put(void *ctx, int n, const fake_request *req, fake_response *resp)
{
    lost_put_state *st = ctx;
    if (strcmp(req->method, "PUT") == 0 && n == 0) {
        char inm[8];
        ck_assert(fake_header(req, "If-None-Match", inm, sizeof inm) && strcmp(inm, "*") == 0);
        ck_assert(
            fake_header(req, "x-amz-meta-floe-upload-id", st->stored_upload_id, sizeof st->stored_upload_id));
        resp->action = FAKE_CLOSE;
    } else if (strcmp(req->method, "PUT") == 0) {
        set_error(resp, 412, "PreconditionFailed");
    } else if (strcmp(req->method, "HEAD") == 0) {
        snprintf(resp->headers, sizeof resp->headers, "ETag: \"abc\"\r\nx-amz-meta-floe-upload-id: %s\r\n",
                 st->head_returns_other ? "someone-else" : st->stored_upload_id);
        resp->status = 200;
    }
}

START_TEST(s3_retry_after_lost_answer_recognises_its_own_create)
{
    lost_put_state st = {.head_returns_other = 0};
    fake_server s;
    fake_start(&s, lose_first_put, &st, NULL);
    s3_client *c = fake_client(&s, 2000, 3);
    ck_assert_msg(s3_put(c, "manifest/00000000000000000007.json", "{}", 2, 1) == 0, "%s", floe_last_error());
    uint64_t req[FLOE_COLD_OP_COUNT], ret[FLOE_COLD_OP_COUNT];
    s3_get_counters(c, req, NULL, ret);
    ck_assert_uint_eq(req[FLOE_COLD_PUT], 2);
    ck_assert_uint_eq(ret[FLOE_COLD_PUT], 1);
    ck_assert_uint_eq(req[FLOE_COLD_HEAD], 1);
    s3_client_destroy(c);
    fake_stop(&s);

    /* Same story, but the object that won belongs to another writer. */
    lost_put_state other = {.head_returns_other = 1};
    fake_start(&s, lose_first_put, &other, NULL);
    c = fake_client(&s, 2000, 3);
    ck_assert_int_eq(s3_put(c, "manifest/00000000000000000007.json", "{}", 2, 1), S3_EXISTS);
    s3_client_destroy(c);
    fake_stop(&s);
}
END_TEST

static void hang(void *ctx, int n, const fake_request *req, fake_response *resp)
{
    (void)ctx;
    (void)n;
    (void)req;
    resp->action = FAKE_HANG;
}

START_TEST(s3_silent_server_times_out_and_is_retried)
{
    fake_server s;
    fake_start(&s, hang, NULL, NULL);
    s3_client *c = fake_client(&s, 400, 1);
    uint64_t t0 = clock_now_ns();
    char buf[8];
    ck_assert_int_eq(s3_get_range(c, "k", 0, buf, 8), FLOE_ECOLD);
    double took = (double)(clock_now_ns() - t0) / 1e9;
    ck_assert_msg(strstr(floe_last_error(), "after 2 attempts") && strstr(floe_last_error(), "imeout"), "%s",
                  floe_last_error());
    ck_assert_msg(took >= 0.7 && took < 3.0, "took %.2f s", took);
    ck_assert_int_eq(atomic_load(&s.requests), 2);
    s3_client_destroy(c);
    fake_stop(&s);
}
END_TEST

static char *big_body;

static void huge_error_body(void *ctx, int n, const fake_request *req, fake_response *resp)
{
    (void)ctx;
    (void)n;
    (void)req;
    resp->status = 500;
    resp->body = big_body;
    resp->body_len = 4 * 1024 * 1024;
}

START_TEST(s3_oversized_error_body_is_capped_not_buffered)
{
    big_body = malloc(4 * 1024 * 1024);
    memset(big_body, '<', 4 * 1024 * 1024);
    fake_server s;
    fake_start(&s, huge_error_body, NULL, NULL);
    s3_client *c = fake_client(&s, 5000, 0);
    ck_assert_int_eq(s3_delete(c, "k"), FLOE_ECOLD);
    ck_assert_msg(strstr(floe_last_error(), ": 500"), "%s", floe_last_error());
    s3_client_destroy(c);
    fake_stop(&s);
    free(big_body);
}
END_TEST

static void bad_list(void *ctx, int n, const fake_request *req, fake_response *resp)
{
    (void)n;
    (void)req;
    resp->body = ctx;
    resp->body_len = strlen(ctx);
}

START_TEST(s3_malformed_list_answers_are_errors)
{
    static const char *const bodies[] = {
        "<ListBucketResult><Contents><Key>a</Key><Size>1</Size>", /* truncated */
        "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><ListBucketResult/>", /* entity tricks refused */
        "<ListBucketResult><Contents><Key>a</Key><Size>-5</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Size>5</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", /* no token: would loop */
    };
    static const char *const expect[] = {"bad XML", "DOCTYPE", "bad <Size>", "without <Key>", "continuation"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        fake_server s;
        fake_start(&s, bad_list, (void *)bodies[i], NULL);
        s3_client *c = fake_client(&s, 2000, 0);
        collected col = {0};
        ck_assert_int_eq(s3_list(c, "", 0, collect, &col), FLOE_ECOLD);
        ck_assert_msg(strstr(floe_last_error(), expect[i]), "body %zu: %s", i, floe_last_error());
        ck_assert_uint_eq(col.count, 0); /* nothing from a bad page reaches the callback */
        collected_free(&col);
        s3_client_destroy(c);
        fake_stop(&s);
    }
}
END_TEST

/* A ListObjectsV2 page (encoding-type=url unless raw) whose first key is a good one and whose second
 * is key, as the server wrote it. */
static char *list_page_with(const char *key, int raw)
{
    char *body = NULL;
    ck_assert_int_ge(asprintf(&body,
                              "<ListBucketResult>%s<IsTruncated>false</IsTruncated>"
                              "<Contents><Key>segments/ab/0-1.seg</Key><Size>1</Size>"
                              "<LastModified>2026-01-02T03:04:05.000Z</LastModified></Contents>"
                              "<Contents><Key>%s</Key><Size>1</Size>"
                              "<LastModified>2026-01-02T03:04:05.000Z</LastModified></Contents>"
                              "</ListBucketResult>",
                              raw ? "" : "<EncodingType>url</EncodingType>", key),
                     0);
    return body;
}

START_TEST(s3_list_refuses_keys_that_do_not_decode_to_a_clean_name)
{
    /* A decoded NUL would shorten the name (1-1.seg%00.evil would read as 1-1.seg, and gc would act
     * on the wrong object); control bytes and broken escapes are no name floe can use either. */
    static const struct {
        const char *key;
        int raw;
    } cases[] = {
        {"segments/ab/1-1.seg%00.evil", 0}, {"segments/ab/1-1.seg%0A", 0},   {"segments/ab/%7F", 0},
        {"segments/ab/%1b[2J", 0},          {"segments/ab/1-1.seg%", 0},     {"segments/ab/1-1.seg%g0", 0},
        {"segments/ab/1-1.seg&#10;x", 1},   {"segments/ab/1-1.seg&#9;x", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = list_page_with(cases[i].key, cases[i].raw);
        fake_server s;
        fake_start(&s, bad_list, body, NULL);
        s3_client *c = fake_client(&s, 2000, 0);
        collected col = {0};
        ck_assert_int_eq(s3_list(c, "", 0, collect, &col), FLOE_ECOLD);
        ck_assert_msg(strstr(floe_last_error(), cases[i].raw ? "segments/ab/1-1.seg" : cases[i].key),
                      "key %s: %s", cases[i].key, floe_last_error());
        ck_assert_msg(col.count == 0, "key %s: %zu keys of the bad page reached the callback", cases[i].key,
                      col.count);
        collected_free(&col);
        s3_client_destroy(c);
        fake_stop(&s);
        free(body);
    }
}
END_TEST

static int count_keys(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    (void)key;
    (void)size;
    (void)mtime;
    (*(int *)ctx)++;
    return 0;
}

START_TEST(s3_cold_list_refuses_keys_the_cold_interface_cannot_name)
{
    /* Names that decode cleanly but break cold.h's key rules: a listing must not hand gc or fsck a name
     * that every other cold call refuses, or that walks out of its directory. */
    static const char *const keys[] = {"segments/../manifest/1.json", "/segments/ab/1-1.seg",
                                       "segments//1-1.seg", "segments/./1-1.seg", "segments/ab/"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char *body = list_page_with(keys[i], 0);
        fake_server s;
        fake_start(&s, bad_list, body, NULL);
        char endpoint[64];
        snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", s.port);
        s3_config cfg = {.endpoint = endpoint,
                         .bucket = "fake",
                         .path_style = 1,
                         .access_key = "a",
                         .secret_key = "b",
                         .timeout_ms = 2000};
        cold_t *cold = NULL;
        ck_assert_int_eq(cold_open_s3(&cfg, &cold), 0);
        int n = 0;
        ck_assert_int_eq(cold_list(cold, "", count_keys, &n), FLOE_ECOLD);
        ck_assert_msg(strstr(floe_last_error(), keys[i]), "key %s: %s", keys[i], floe_last_error());
        ck_assert_int_le(n, 1); /* the good key before it may have been handed on; never the bad one */
        cold_close(cold);
        fake_stop(&s);
        free(body);
    }
}
END_TEST

static void wrong_range(void *ctx, int n, const fake_request *req, fake_response *resp)
{
    (void)ctx;
    (void)n;
    (void)req;
    resp->status = 206;
    snprintf(resp->headers, sizeof resp->headers, "Content-Range: bytes 0-3/100\r\n");
    resp->body = "abcd";
    resp->body_len = 4;
}

START_TEST(s3_ranged_answer_for_another_range_is_refused)
{
    fake_server s;
    fake_start(&s, wrong_range, NULL, NULL);
    s3_client *c = fake_client(&s, 2000, 0);
    char buf[4];
    ck_assert_int_eq(s3_get_range(c, "k", 10, buf, 4), FLOE_ECOLD);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "Content-Range"));
    char small[2];
    ck_assert_int_eq(s3_get_range(c, "k", 0, small, 2), FLOE_ECOLD); /* 4 bytes for a 2-byte buffer */
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "more than"));
    s3_client_destroy(c);
    fake_stop(&s);
}
END_TEST

START_TEST(s3_list_entries_need_a_strict_size_and_last_modified)
{
    /* gc keeps an unnamed object only while its LastModified is within the grace period: a time that
     * does not parse must not read as 1970 (and so as old enough to delete). */
    static const char *const sizes[] = {"-5", " 5", "+5", "5 ", "0x10", "18446744073709551616", ""};
    static const char *const times[] = {
        "",
        "yesterday",
        "2026-01-02T03:04:05.000Zjunk",
        " 2026-01-02T03:04:05.000Z",
        "2026-13-02T03:04:05.000Z",
        "2026-02-30T03:04:05.000Z",
        "2026-01-02T03:04:05",
        "2026-01-02T03:04:05.Z",
        "2026-1-02T03:04:05.000Z",
        "Fri, 02 Jan 2026 03:04:05 GMT trailing",
        "Fri, 2 Jan 2026 03:04:05 GMT",
        "1969-12-31T23:59:59.000Z",
        NULL, /* no <LastModified> at all */
    };
    size_t nsizes = sizeof sizes / sizeof sizes[0], ntimes = sizeof times / sizeof times[0];
    for (size_t i = 0; i < nsizes + ntimes; i++) {
        const char *size = i < nsizes ? sizes[i] : "5";
        const char *time = i < nsizes ? "2026-01-02T03:04:05.000Z" : times[i - nsizes];
        char *body = NULL;
        ck_assert_int_ge(asprintf(&body,
                                  "<ListBucketResult><Contents><Key>k</Key><Size>%s</Size>%s%s%s</Contents>"
                                  "</ListBucketResult>",
                                  size, time ? "<LastModified>" : "", time ? time : "",
                                  time ? "</LastModified>" : ""),
                         0);
        fake_server s;
        fake_start(&s, bad_list, body, NULL);
        s3_client *c = fake_client(&s, 2000, 0);
        int n = 0;
        ck_assert_msg(s3_list(c, "", 0, count_keys, &n) == FLOE_ECOLD, "size '%s', time '%s' was taken", size,
                      time ? time : "(none)");
        ck_assert_msg(strstr(floe_last_error(), i < nsizes ? "<Size>" : "<LastModified>"), "%s",
                      floe_last_error());
        ck_assert_int_eq(n, 0);
        s3_client_destroy(c);
        fake_stop(&s);
        free(body);
    }

    /* Both forms S3 uses are read to the second. */
    static const char *const good[] = {"2026-01-02T03:04:05.000Z", "2026-01-02T03:04:05Z",
                                       "Fri, 02 Jan 2026 03:04:05 GMT"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_int_eq(s3_parse_time(good[i]), 1767323045);
}
END_TEST

static void head_with_header(void *ctx, int n, const fake_request *req, fake_response *resp)
{
    (void)n;
    (void)req;
    snprintf(resp->headers, sizeof resp->headers, "%s\r\n", (const char *)ctx);
}

START_TEST(s3_answer_headers_with_control_bytes_or_cut_short_are_refused)
{
    /* An ETag or upload id is compared as given: one holding a control byte, or longer than the
     * client keeps (so it would be compared cut short), is no version tag to trust. */
    char long_etag[S3_ETAG_MAX + 40];
    memset(long_etag, 'e', sizeof long_etag);
    snprintf(long_etag, sizeof long_etag, "ETag: \"%0*d\"", S3_ETAG_MAX + 10, 7);
    const char *const headers[] = {"ETag: \"ab\x01"
                                   "cd\"",
                                   long_etag,
                                   "x-amz-meta-floe-upload-id: ab\x7f"
                                   "cd",
                                   "Last-Modified: Fri, 02 Jan 2026 03:04:05 GMT\x1b"};
    const char *const names[] = {"ETag", "ETag", "x-amz-meta-floe-upload-id", "Last-Modified"};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        fake_server s;
        fake_start(&s, head_with_header, (void *)headers[i], NULL);
        s3_client *c = fake_client(&s, 2000, 0);
        s3_object_info info;
        ck_assert_msg(s3_head(c, "k", &info) == FLOE_ECOLD, "header %zu was taken", i);
        ck_assert_msg(strstr(floe_last_error(), names[i]), "header %zu: %s", i, floe_last_error());
        s3_client_destroy(c);
        fake_stop(&s);
    }
    fake_server s;
    fake_start(&s, head_with_header, "ETag: \"abc\"", NULL);
    s3_client *c = fake_client(&s, 2000, 0);
    s3_object_info info;
    ck_assert_msg(s3_head(c, "k", &info) == 0, "%s", floe_last_error());
    ck_assert_str_eq(info.etag, "abc");
    s3_client_destroy(c);
    fake_stop(&s);
}
END_TEST

typedef struct range_answer {
    const char *content_range;
    size_t body_len;
} range_answer;

static void range_reply(void *ctx, int n, const fake_request *req, fake_response *resp)
{
    const range_answer *a = ctx;
    (void)n;
    (void)req;
    static const char body[64] = "0123456789abcdefghijklmnopqrstuvwxyz";
    resp->status = 206;
    snprintf(resp->headers, sizeof resp->headers, "Content-Range: %s\r\n", a->content_range);
    resp->body = body;
    resp->body_len = a->body_len;
}

START_TEST(s3_content_range_is_parsed_strictly_and_must_match_the_request)
{
    /* Every answer is to a request for bytes 100..109 (10 bytes) with a 10-byte body. */
    static const char *const refused[] = {
        "bytes 100--5/1000",
        "bytes -5-10/100",
        "bytes 5-3/100",
        "bytes 0-9/5",
        "bytes 100-109/109",
        "bytes 100-109/18446744073709551616",
        "bytes 100-18446744073709551717/1000",
        "bytes 100-109/1000x",
        "bytes 100-109/1000/1",
        "bytes  100-109/1000",
        "bytes 100 -109/1000",
        "bytes 100- 109/1000",
        "bytes 100-109 /1000",
        "bytes 100-109/ 1000",
        "bytes +100-109/1000",
        "bytes 100-+109/1000",
        "bytes 100-109/+1000",
        "bytes 100-109/-1000",
        "bytes 100-109/*",
        "bytes */1000",
        "bytes 100-109",
        "bytes 100/1000",
        "items 100-109/1000",
        "bytes=100-109/1000",
        "bytes 0x64-109/1000",
        "bytes 99-108/1000",
        "bytes 100-110/1000",
        "bytes 101-110/1000",
        "bytes -109/1000",
        "bytes 100-/1000",
        "bytes",
    };
    char buf[10];
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        range_answer a = {refused[i], 10};
        fake_server s;
        fake_start(&s, range_reply, &a, NULL);
        s3_client *c = fake_client(&s, 2000, 0);
        ck_assert_msg(s3_get_range(c, "k", 100, buf, 10) == FLOE_ECOLD, "'%s' was taken", refused[i]);
        ck_assert_msg(strstr(floe_last_error(), "Content-Range"), "'%s': %s", refused[i], floe_last_error());
        s3_client_destroy(c);
        fake_stop(&s);
    }

    /* The exact range is taken; a range cut short by the object's end is FLOE_ERANGE with its size; a
     * body that disagrees with the header is refused. */
    static const struct {
        range_answer a;
        int rc;
    } answers[] = {
        {{"bytes 100-109/1000", 10}, 0},
        {{"bytes 100-109/110", 10}, 0},
        {{"bytes 100-104/105", 5}, FLOE_ERANGE},
        {{"bytes 100-104/1000", 5}, FLOE_ECOLD}, /* short of the range, yet the object goes on */
        {{"bytes 100-109/1000", 6}, FLOE_ECOLD}, /* body shorter than the header says */
    };
    for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
        fake_server s;
        fake_start(&s, range_reply, (void *)&answers[i].a, NULL);
        s3_client *c = fake_client(&s, 2000, 0);
        int rc = s3_get_range(c, "k", 100, buf, 10);
        ck_assert_msg(rc == answers[i].rc, "'%s' with %zu bytes: %d (%s)", answers[i].a.content_range,
                      answers[i].a.body_len, rc, floe_last_error());
        if (rc == 0)
            ck_assert(memcmp(buf, "0123456789", 10) == 0);
        if (rc == FLOE_ERANGE)
            ck_assert_msg(strstr(floe_last_error(), "105 bytes"), "%s", floe_last_error());
        s3_client_destroy(c);
        fake_stop(&s);
    }
}
END_TEST

typedef enum mpu_mode { MPU_FAIL_PART_2, MPU_LOSE_COMPLETE, MPU_COMPLETE_200_ERROR } mpu_mode;

typedef struct mpu_state {
    mpu_mode mode;
    char tag[128];
    int parts, completes, aborts;
    int complete_listed_three_parts;
} mpu_state;

static void multipart_server(void *ctx, int n, const fake_request *req, fake_response *resp)
{
    mpu_state *st = ctx;
    (void)n;
    static const char created[] = "<InitiateMultipartUploadResult><Bucket>fake</Bucket><Key>k</Key>"
                                  "<UploadId>up-1</UploadId></InitiateMultipartUploadResult>";
    static const char completed[] = "<CompleteMultipartUploadResult><ETag>\"x-3\"</ETag>"
                                    "</CompleteMultipartUploadResult>";
    static const char complete_error[] =
        "<Error><Code>InternalError</Code><Message>try again</Message></Error>";
    if (strcmp(req->method, "POST") == 0 && strstr(req->target, "?uploads=")) {
        fake_header(req, "x-amz-meta-floe-upload-id", st->tag, sizeof st->tag);
        resp->body = created;
        resp->body_len = strlen(created);
    } else if (strcmp(req->method, "PUT") == 0 && strstr(req->target, "partNumber=")) {
        st->parts++;
        if (st->mode == MPU_FAIL_PART_2 && strstr(req->target, "partNumber=2&")) {
            set_error(resp, 403, "AccessDenied");
            return;
        }
        snprintf(resp->headers, sizeof resp->headers, "ETag: \"etag%d\"\r\n", st->parts);
    } else if (strcmp(req->method, "POST") == 0 && strstr(req->target, "uploadId=up-1")) {
        st->completes++;
        st->complete_listed_three_parts = strstr(req->body, "<PartNumber>3</PartNumber>") != NULL &&
                                          strstr(req->body, "<ETag>\"etag1\"</ETag>") != NULL;
        if (st->mode == MPU_LOSE_COMPLETE && st->completes == 1) {
            resp->action = FAKE_CLOSE;
        } else if (st->mode == MPU_LOSE_COMPLETE) {
            set_error(resp, 404, "NoSuchUpload");
        } else if (st->mode == MPU_COMPLETE_200_ERROR && st->completes == 1) {
            resp->body = complete_error;
            resp->body_len = strlen(complete_error);
        } else {
            resp->body = completed;
            resp->body_len = strlen(completed);
        }
    } else if (strcmp(req->method, "DELETE") == 0 && strstr(req->target, "uploadId=up-1")) {
        st->aborts++;
        resp->status = 204;
    } else if (strcmp(req->method, "HEAD") == 0) {
        snprintf(resp->headers, sizeof resp->headers, "ETag: \"x-3\"\r\nx-amz-meta-floe-upload-id: %s\r\n",
                 st->tag);
    } else {
        set_error(resp, 400, "Unexpected");
    }
}

START_TEST(s3_multipart_failures_abort_and_lost_completes_are_recognised)
{
    char *dir = tu_tmpdir("s3-mpu-fake");
    char path[512];
    snprintf(path, sizeof path, "%s/seg", dir);
    size_t len = 2 * S3_MIN_PART_BYTES + 10;
    unsigned char *data = calloc(1, len);
    tu_write_file(path, data, len);
    free(data);

    /* A part the store refuses: the upload is aborted and the part's error is reported. */
    mpu_state st = {.mode = MPU_FAIL_PART_2};
    fake_server s;
    fake_start(&s, multipart_server, &st, NULL);
    s3_client *c = fake_client(&s, 5000, 2);
    ck_assert_int_eq(s3_put_file(c, "big", path, S3_MIN_PART_BYTES), FLOE_ECOLD);
    ck_assert_msg(strstr(floe_last_error(), "AccessDenied") && strstr(floe_last_error(), "partNumber=2"),
                  "%s", floe_last_error());
    ck_assert_int_eq(st.aborts, 1);
    ck_assert_int_eq(st.completes, 0);
    uint64_t req[FLOE_COLD_OP_COUNT], err[FLOE_COLD_OP_COUNT];
    s3_get_counters(c, req, err, NULL);
    ck_assert_uint_eq(req[FLOE_COLD_MPU_ABORT], 1);
    ck_assert_uint_eq(err[FLOE_COLD_MPU_PART], 1);
    s3_client_destroy(c);
    fake_stop(&s);

    /* The complete's answer is lost; the retry finds no upload, and HEAD shows it was ours. */
    st = (mpu_state){.mode = MPU_LOSE_COMPLETE};
    fake_start(&s, multipart_server, &st, NULL);
    c = fake_client(&s, 5000, 2);
    ck_assert_msg(s3_put_file(c, "big", path, S3_MIN_PART_BYTES) == 0, "%s", floe_last_error());
    ck_assert_int_eq(st.parts, 3);
    ck_assert_int_eq(st.completes, 2);
    ck_assert(st.complete_listed_three_parts);
    ck_assert_int_eq(st.aborts, 0);
    s3_client_destroy(c);
    fake_stop(&s);

    /* A complete that answers 200 with an <Error> body is retried, not taken for success. */
    st = (mpu_state){.mode = MPU_COMPLETE_200_ERROR};
    fake_start(&s, multipart_server, &st, NULL);
    c = fake_client(&s, 5000, 2);
    ck_assert_msg(s3_put_file(c, "big", path, S3_MIN_PART_BYTES) == 0, "%s", floe_last_error());
    ck_assert_int_eq(st.completes, 2);
    s3_client_destroy(c);
    fake_stop(&s);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* A self-signed certificate for 127.0.0.1, written as PEM to pem_path, and a TLS server context
 * that presents it. */
static SSL_CTX *self_signed_tls(const char *pem_path)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(key);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
    ck_assert_ptr_nonnull(san);
    X509_add_ext(x, san, -1);
    X509_EXTENSION_free(san);
    ck_assert(X509_sign(x, key, EVP_sha256()) > 0);
    FILE *f = fopen(pem_path, "w");
    ck_assert_ptr_nonnull(f);
    PEM_write_X509(f, x);
    fclose(f);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    ck_assert_int_eq(SSL_CTX_use_certificate(ctx, x), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey(ctx, key), 1);
    X509_free(x);
    EVP_PKEY_free(key);
    return ctx;
}

static void ok_with_etag(void *ctx, int n, const fake_request *req, fake_response *resp)
{
    (void)ctx;
    (void)n;
    (void)req;
    snprintf(resp->headers, sizeof resp->headers, "ETag: \"abc\"\r\n");
}

START_TEST(s3_https_verifies_the_server_against_ca_file)
{
    char *dir = tu_tmpdir("s3-tls");
    char pem[512];
    snprintf(pem, sizeof pem, "%s/ca.pem", dir);
    SSL_CTX *tls = self_signed_tls(pem);
    fake_server s;
    fake_start(&s, ok_with_etag, NULL, tls);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "https://127.0.0.1:%d", s.port);
    s3_config cfg = {.endpoint = endpoint,
                     .bucket = "tls",
                     .path_style = 1,
                     .access_key = "a",
                     .secret_key = "b",
                     .timeout_ms = 5000,
                     .max_retries = 2,
                     .ca_file = pem};
    s3_client *c = NULL;
    ck_assert_int_eq(s3_client_create(&cfg, &c), 0);
    ck_assert_msg(s3_put(c, "k", "v", 1, 0) == 0, "%s", floe_last_error());
    s3_client_destroy(c);

    /* The system's CAs do not know this certificate: refused at once, not retried. */
    cfg.ca_file = NULL;
    ck_assert_int_eq(s3_client_create(&cfg, &c), 0);
    ck_assert_int_eq(s3_put(c, "k", "v", 1, 0), FLOE_ECOLD);
    ck_assert_msg(strstr(floe_last_error(), "certificate") && strstr(floe_last_error(), "after 1 attempt;"),
                  "%s", floe_last_error());
    s3_client_destroy(c);
    fake_stop(&s);
    SSL_CTX_free(tls);
    ck_assert_int_eq(atomic_load(&s.requests), 1);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(s3_backoff_is_full_jitter_below_the_ceiling)
{
    uint32_t max_seen = 0;
    for (int i = 0; i < 2000; i++) {
        uint32_t d = s3_backoff_ms(3, 50, 5000);
        ck_assert_uint_lt(d, 400);
        if (d > max_seen)
            max_seen = d;
    }
    ck_assert_uint_gt(max_seen, 300); /* spread over the whole window, not fixed */
    for (int i = 0; i < 200; i++)
        ck_assert_uint_lt(s3_backoff_ms(40, 50, 5000), 5000);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("s3");
    TCase *rgw = tcase_create("rgw");
    tcase_set_timeout(rgw, 300);
    tcase_add_test(rgw, s3_put_get_range_head_delete_round_trip);
    tcase_add_test(rgw, s3_range_outside_object_is_erange_with_size);
    tcase_add_test(rgw, s3_list_follows_continuation_tokens_past_1000_keys);
    tcase_add_test(rgw, s3_multipart_upload_of_three_parts_round_trips);
    tcase_add_test(rgw, s3_if_none_match_refuses_the_second_create);
    tcase_add_test(rgw, s3_keys_with_spaces_plus_equals_percent_and_utf8_round_trip);
    tcase_add_test(rgw, s3_virtual_hosted_style_works);
    tcase_add_test(rgw, s3_wrong_secret_is_signature_does_not_match_and_unhealthy);
    tcase_add_test(rgw, s3_missing_bucket_is_a_clear_no_such_bucket_error);
    suite_add_tcase(s, rgw);

    TCase *local = tcase_create("local");
    tcase_set_timeout(local, 60);
    tcase_add_test(local, s3_connection_refused_is_retried_then_fails_within_the_timeout);
    tcase_add_test(local, s3_bad_configuration_is_refused_naming_the_field);
    tcase_add_test(local, s3_503_slowdown_is_retried_and_counted);
    tcase_add_test(local, s3_retries_stop_at_max_and_name_status_and_attempts);
    tcase_add_test(local, s3_retry_after_lost_answer_recognises_its_own_create);
    tcase_add_test(local, s3_silent_server_times_out_and_is_retried);
    tcase_add_test(local, s3_oversized_error_body_is_capped_not_buffered);
    tcase_add_test(local, s3_malformed_list_answers_are_errors);
    tcase_add_test(local, s3_list_refuses_keys_that_do_not_decode_to_a_clean_name);
    tcase_add_test(local, s3_cold_list_refuses_keys_the_cold_interface_cannot_name);
    tcase_add_test(local, s3_list_entries_need_a_strict_size_and_last_modified);
    tcase_add_test(local, s3_ranged_answer_for_another_range_is_refused);
    tcase_add_test(local, s3_content_range_is_parsed_strictly_and_must_match_the_request);
    tcase_add_test(local, s3_answer_headers_with_control_bytes_or_cut_short_are_refused);
    tcase_add_test(local, s3_backoff_is_full_jitter_below_the_ceiling);
    tcase_add_test(local, s3_https_verifies_the_server_against_ca_file);
    tcase_add_test(local, s3_multipart_failures_abort_and_lost_completes_are_recognised);
    suite_add_tcase(s, local);
    return s;
}

int main(void)
{
    return tu_run_suite(make_suite());
}
