/* Helpers shared by the check suites. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"

char *tu_tmpdir(const char *tag)
{
    char tmpl[256];
    snprintf(tmpl, sizeof tmpl, "/tmp/floe-test-%s-XXXXXX", tag);
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        abort();
    }
    return strdup(tmpl);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void tu_rmrf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

void *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

long long tu_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

void tu_flip_byte(const char *path, long long offset)
{
    int fd = open(path, O_RDWR);
    unsigned char b;
    if (fd < 0 || pread(fd, &b, 1, offset) != 1) {
        perror(path);
        abort();
    }
    b ^= 0xff;
    if (pwrite(fd, &b, 1, offset) != 1) {
        perror(path);
        abort();
    }
    close(fd);
}

void tu_truncate(const char *path, long long len)
{
    if (truncate(path, len) != 0) {
        perror(path);
        abort();
    }
}

uint64_t tu_rand64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

void tu_fill_random(void *buf, size_t len, uint64_t seed)
{
    unsigned char *p = buf;
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)tu_rand64(&x);
}

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int tu_long_tests(void)
{
    const char *v = getenv("FLOE_LONG_TESTS");
    return v && strcmp(v, "1") == 0;
}

const char *tu_s3_endpoint(void)
{
    const char *e = getenv("FLOE_TEST_S3_ENDPOINT");
    ck_assert_msg(e && e[0],
                  "FLOE_TEST_S3_ENDPOINT is not set: run scripts/test.sh, which starts an S3 test server, or "
                  "start one with scripts/s3-test-server.sh start DIR PORT and export FLOE_TEST_S3_ENDPOINT, "
                  "FLOE_TEST_S3_ACCESS_KEY and FLOE_TEST_S3_SECRET_KEY");
    return e;
}

void tu_s3_unique_bucket(char bucket[TU_BUCKET_MAX])
{
    static atomic_uint counter;
    snprintf(bucket, TU_BUCKET_MAX, "floe-t-%d-%u-%" PRIx64, (int)getpid(), atomic_fetch_add(&counter, 1),
             (uint64_t)clock_now_ns() & 0xffffffffu);
}

s3_config tu_s3_config(const char *bucket)
{
    s3_config cfg = {
        .endpoint = tu_s3_endpoint(),
        .bucket = bucket,
        .region = "us-east-1",
        .path_style = 1,
        .access_key = getenv("FLOE_TEST_S3_ACCESS_KEY"),
        .secret_key = getenv("FLOE_TEST_S3_SECRET_KEY"),
        .timeout_ms = 30000,
        .max_retries = 3,
    };
    ck_assert_msg(
        cfg.access_key && cfg.secret_key,
        "FLOE_TEST_S3_ACCESS_KEY / FLOE_TEST_S3_SECRET_KEY are not set: export the keys the S3 test "
        "server was started with (scripts/s3-test-server.sh uses floeacc and floesecret123)");
    return cfg;
}

s3_config tu_s3_fresh_bucket(char bucket[TU_BUCKET_MAX], const char *prefix)
{
    tu_s3_unique_bucket(bucket);
    s3_config cfg = tu_s3_config(bucket);
    cfg.prefix = prefix;
    s3_client *admin = NULL;
    ck_assert_msg(s3_client_create(&cfg, &admin) == 0, "s3 client for %s: %s", cfg.endpoint,
                  floe_last_error());
    ck_assert_msg(s3_create_bucket(admin) == 0, "create bucket %s: %s", bucket, floe_last_error());
    s3_client_destroy(admin);
    return cfg;
}
