/* Helpers shared by the check suites: temporary directories, file surgery for corruption tests, and
 * buckets on the S3 test server. Each helper fails the running test (ck_assert) on an error it
 * cannot report otherwise. */
#ifndef FLOE_TESTUTIL_H
#define FLOE_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "s3.h"

/* Creates a fresh directory /tmp/floe-test-<tag>-XXXXXX; returns a malloc'd path. Aborts on failure. */
char *tu_tmpdir(const char *tag);
/* rm -rf path (no-op if missing). */
void tu_rmrf(const char *path);
/* Writes len bytes to path (replacing it); aborts on failure. */
void tu_write_file(const char *path, const void *data, size_t len);
/* Reads a whole file into a malloc'd buffer (NUL-terminated past *len); NULL if it cannot. */
void *tu_read_file(const char *path, size_t *len);
/* Size of path, or -1. */
long long tu_file_size(const char *path);
/* XORs the byte at offset with 0xff. */
void tu_flip_byte(const char *path, long long offset);
/* Truncates path to len bytes. */
void tu_truncate(const char *path, long long len);
/* The next value of the xorshift64 generator whose state (never 0) is *state. */
uint64_t tu_rand64(uint64_t *state);
/* Fills len bytes with a pseudo-random sequence that depends only on seed. */
void tu_fill_random(void *buf, size_t len, uint64_t seed);
/* Runs one suite built by make_suite and returns a process exit code; honours CK_RUN_CASE etc. */
int tu_run_suite(Suite *s);
/* 1 if FLOE_LONG_TESTS=1. */
int tu_long_tests(void);

/* The S3 test server that scripts/test.sh starts (scripts/s3-test-server.sh), named by
 * FLOE_TEST_S3_ENDPOINT, FLOE_TEST_S3_ACCESS_KEY and FLOE_TEST_S3_SECRET_KEY. */
#define TU_BUCKET_MAX 64
/* The server's endpoint; fails the test, saying how to start the server, when it is not set. */
const char *tu_s3_endpoint(void);
/* Writes a bucket name no other test of any process uses into bucket; does not create it. */
void tu_s3_unique_bucket(char bucket[TU_BUCKET_MAX]);
/* A config for bucket on the test server: path style, region us-east-1, no prefix, 30 s timeout,
 * 3 retries. The strings point at bucket and the environment: bucket must outlive the config. */
s3_config tu_s3_config(const char *bucket);
/* Names a fresh bucket into bucket, creates it on the test server and returns its config with the
 * given key prefix (NULL for none; it must outlive the config too). */
s3_config tu_s3_fresh_bucket(char bucket[TU_BUCKET_MAX], const char *prefix);

#endif
