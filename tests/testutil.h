/* Helpers shared by the check suites: temporary directories, file surgery for corruption tests,
 * buckets on the S3 test server, segments and manifests in a cold store, and the floe tool run as a
 * child process (one command, or `floe serve`). Each helper fails the running test (ck_assert) on
 * an error it cannot report otherwise. */
#ifndef FLOE_TESTUTIL_H
#define FLOE_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cold.h"
#include "error.h"
#include "manifest.h"
#include "s3.h"
#include "segment.h"

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

/* 1 in a sanitizer build (ASan, TSan): such builds check memory errors and races, not scale, so
 * tests run smaller workloads or skip the largest there. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TU_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TU_SANITIZED 1
#endif
#endif
#ifndef TU_SANITIZED
#define TU_SANITIZED 0
#endif

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

/* Segments and manifests in a cold store, for the remote tools and their command line. */
/* Writes a real segment file (n entries, keys "s<id>-<i>", block size 4096, no compression) to path
 * and describes it in *info (the caller clears it). */
void tu_segment_write(const char *path, uint64_t id, uint64_t epoch, int n, segment_info *info);
/* Writes segment id (epoch, 200 entries) to dir/seg-<id>-<epoch>, uploads it to c under its layout
 * key if upload, and lists it in m with the given state (its object key only when the state is
 * remote or local+remote); raises m's next_segment_id and last_seq past it. */
void tu_segment_add(cold_t *c, const char *dir, manifest *m, uint64_t id, uint64_t epoch,
                    manifest_seg_state state, int upload);
/* A new, empty manifest of writer epoch epoch; the caller frees it with manifest_free. */
manifest *tu_manifest_new(uint64_t epoch);
/* Publishes m's uploaded segments to c as remote manifest version v. */
void tu_remote_publish(cold_t *c, const manifest *m, uint64_t v);
/* 1 if key is in c, 0 if it is not (any other answer fails the test). */
int tu_cold_exists(cold_t *c, const char *key);

/* The floe tool under test: $FLOE_TEST_BINARY if set, else the one this build made. */
const char *tu_floe_binary(void);
/* Runs the floe tool with the printf-formatted args (a /bin/sh word list, which may redirect) and
 * stdin from /dev/null; returns its exit status and fails the test if it did not exit normally.
 * *out gets what it wrote to stdout and *err what it wrote to stderr; with err NULL both go to *out,
 * interleaved as written. Both are malloc'd and NUL-terminated; what they held before is freed. */
int tu_floe_run(char **out, char **err, const char *fmt, ...) FLOE_PRINTF(3, 4);
/* Counts the lines of s. */
int tu_lines(const char *s);

/* The group commits a histogram of writes per WAL group commit counts (floe_stats.wal_batch_hist,
 * wal_stats.batch_hist; FLOE_WAL_BATCH_BUCKETS buckets): the sum of its buckets. */
uint64_t tu_wal_batches(const uint64_t *hist);
/* Asserts that writes writes fit the histogram: at least the sum of its buckets' lower bounds
 * (2^i per group commit in bucket i) and at most the sum of their upper bounds (2^(i+1) - 1; the
 * last bucket has none). */
void tu_assert_wal_hist_fits(const uint64_t *hist, uint64_t writes);
/* A loopback TCP port nothing listens on: one the kernel just handed out, closed again. */
int tu_closed_port(void);

/* `floe serve` as a child process, for the HTTP and command-line suites. */
#define TU_SERVER_MAX_OBJECT_BYTES (1024 * 1024)
typedef struct tu_server {
    char *dir;     /* the server's directory: floe.json, data/, cold/, serve-<start>.log */
    char cfg[600]; /* dir/floe.json */
    int starts;    /* how many times it was started */
    pid_t pid;     /* the running child, or 0 */
    int port;      /* the port it logged */
    char base[64]; /* "http://127.0.0.1:<port>" */
} tu_server;
/* Writes s's config (making s->dir first if it has none): data in dir/data, an fs cold tier in
 * dir/cold, listen 127.0.0.1:0, two threads, max object TU_SERVER_MAX_OBJECT_BYTES. http_extra is
 * spliced into the "http" object and top_extra into the top level (either may be ""). */
void tu_server_config(tu_server *s, const char *http_extra, const char *top_extra);
/* Starts floe serve -c s->cfg (without FLOE_TOKEN), logging to dir/serve-<n>.log, and waits up to
 * 60 s until it logs its port; fails the test, with the log, if it exits first. */
void tu_server_start(tu_server *s);
/* SIGTERM, then waits up to 30 s (SIGKILL after); returns the exit status, or -1 when it did not
 * exit by itself or was not running. */
int tu_server_stop(tu_server *s);
/* SIGKILL, and waits for it. */
void tu_server_kill9(tu_server *s);
/* The log of start number start (malloc'd; "" if there is none). */
char *tu_server_log(const tu_server *s, int start);
/* Stops s if it runs (printing its log to stderr if it does not exit 0), removes its directory and
 * zeroes it. */
void tu_server_destroy(tu_server *s);

#endif
