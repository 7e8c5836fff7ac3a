/* Several writer and reader threads on one store while segments seal underneath them. Runs under
 * ThreadSanitizer in scripts/test.sh. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floe.h"
#include "testutil.h"

#define WRITERS 4
#define READERS 4
#define KEYS_PER_WRITER 200

static floe_t *db;
static atomic_int writers_done;
static atomic_int failures;
static int versions_per_key;

/* Values are "w<writer>:k<key>:v<version>:" padded to a size that depends on the version. */
static size_t make_value(int w, int k, int version, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "w%d:k%d:v%d:", w, k, version);
    size_t len = (size_t)n + (size_t)(version * 37 % 700);
    if (len > cap)
        len = cap;
    memset(buf + n, 'p', len - (size_t)n);
    return len;
}

static void *writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    char key[32], val[1024];
    for (int v = 0; v < versions_per_key; v++) {
        for (int k = 0; k < KEYS_PER_WRITER; k++) {
            snprintf(key, sizeof key, "w%d/k%04d", w, k);
            size_t len = make_value(w, k, v, val, sizeof val);
            if (floe_put(db, key, strlen(key), val, len, "application/x-test", NULL) != 0) {
                fprintf(stderr, "put %s: %s\n", key, floe_last_error());
                atomic_fetch_add(&failures, 1);
                return NULL;
            }
        }
        if (v % 3 == 2 && floe_flush(db, FLOE_DURABLE_LOCAL) != 0) {
            fprintf(stderr, "flush: %s\n", floe_last_error());
            atomic_fetch_add(&failures, 1);
        }
    }
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

/* Reads random keys and checks each value is whole and never goes back to an older version. */
static void *reader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
    int last[WRITERS][KEYS_PER_WRITER];
    memset(last, -1, sizeof last);
    char key[32], want[1024];
    while (atomic_load(&writers_done) < WRITERS) {
        int w = rand_r(&seed) % WRITERS, k = rand_r(&seed) % KEYS_PER_WRITER;
        snprintf(key, sizeof key, "w%d/k%04d", w, k);
        floe_value v = {0};
        int rc = floe_get(db, key, strlen(key), &v);
        if (rc == FLOE_ENOTFOUND) {
            if (last[w][k] >= 0) {
                fprintf(stderr, "%s vanished after version %d\n", key, last[w][k]);
                atomic_fetch_add(&failures, 1);
            }
            continue;
        }
        if (rc != 0) {
            fprintf(stderr, "get %s: %s\n", key, floe_last_error());
            atomic_fetch_add(&failures, 1);
            continue;
        }
        int rw = -1, rk = -1, rv = -1;
        if (sscanf(v.data, "w%d:k%d:v%d:", &rw, &rk, &rv) != 3 || rw != w || rk != k) {
            fprintf(stderr, "%s: garbled value\n", key);
            atomic_fetch_add(&failures, 1);
        } else {
            size_t len = make_value(w, k, rv, want, sizeof want);
            if (len != v.len || memcmp(want, v.data, len) != 0 || rv < last[w][k] || !v.content_type ||
                strcmp(v.content_type, "application/x-test") != 0) {
                fprintf(stderr, "%s: version %d after %d or torn value\n", key, rv, last[w][k]);
                atomic_fetch_add(&failures, 1);
            }
            last[w][k] = rv;
        }
        floe_value_free(&v);
        if (rand_r(&seed) % 64 == 0) {
            floe_list *l = NULL;
            char prefix[8];
            snprintf(prefix, sizeof prefix, "w%d/", w);
            if (floe_list_keys(db, prefix, strlen(prefix), NULL, 0, 0, &l) != 0) {
                atomic_fetch_add(&failures, 1);
                continue;
            }
            for (size_t i = 1; i < l->count; i++)
                if (strcmp(l->entries[i - 1].key, l->entries[i].key) >= 0)
                    atomic_fetch_add(&failures, 1);
            floe_list_free(l);
        }
    }
    return NULL;
}

START_TEST(concurrency_readers_see_whole_monotonic_values_while_writers_seal)
{
    char *dir = tu_tmpdir("conc");
    floe_options o;
    floe_options_init(&o);
    o.wal.sync = FLOE_SYNC_ALWAYS;
    o.segment.max_bytes = 128 * 1024;
    o.segment.block_bytes = 4096;
    o.cache.object_bytes = 512 * 1024;
    versions_per_key = tu_long_tests() ? 30 : 8;
    ck_assert_int_eq(floe_open(dir, &o, &db), 0);
    pthread_t wt[WRITERS], rt[READERS];
    for (int i = 0; i < READERS; i++)
        pthread_create(&rt[i], NULL, reader, (void *)(intptr_t)i);
    for (int i = 0; i < WRITERS; i++)
        pthread_create(&wt[i], NULL, writer, (void *)(intptr_t)i);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(wt[i], NULL);
    for (int i = 0; i < READERS; i++)
        pthread_join(rt[i], NULL);
    ck_assert_int_eq(atomic_load(&failures), 0);

    floe_stats st;
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    ck_assert_uint_ge(st.seals, 2);
    /* Group commit: concurrent writers share fdatasyncs. */
    ck_assert_uint_lt(st.wal_syncs, st.puts);
    ck_assert_int_eq(floe_close(db), 0);

    /* Every key holds its final version after reopen. */
    ck_assert_int_eq(floe_open(dir, &o, &db), 0);
    char key[32], want[1024];
    for (int w = 0; w < WRITERS; w++)
        for (int k = 0; k < KEYS_PER_WRITER; k++) {
            snprintf(key, sizeof key, "w%d/k%04d", w, k);
            floe_value v = {0};
            ck_assert_int_eq(floe_get(db, key, strlen(key), &v), 0);
            size_t len = make_value(w, k, versions_per_key - 1, want, sizeof want);
            ck_assert_uint_eq(v.len, len);
            ck_assert_mem_eq(v.data, want, len);
            floe_value_free(&v);
        }
    ck_assert_int_eq(floe_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

#define GC_WRITERS 8
#define GC_OPS_PER_WRITER 150

/* Writer w's share of the group-commit test: puts, with every 5th op a delete and every 25th a
 * prefix delete of the 25 keys before it. Counts each write that fails in failures. */
static void *group_commit_writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    char key[32];
    for (int i = 0; i < GC_OPS_PER_WRITER; i++) {
        int rc;
        int prefix_len = snprintf(key, sizeof key, "g%d/%d/", w, i / 25);
        snprintf(key + prefix_len, sizeof key - (size_t)prefix_len, "k%d", i);
        if (i % 25 == 24)
            rc = floe_delete_prefix(db, key, (size_t)prefix_len, NULL);
        else if (i % 5 == 4)
            rc = floe_delete(db, key, strlen(key), NULL);
        else
            rc = floe_put(db, key, strlen(key), "value", 5, NULL, NULL);
        if (rc != 0) {
            fprintf(stderr, "write %s: %s\n", key, floe_last_error());
            atomic_fetch_add(&failures, 1);
        }
    }
    return NULL;
}

START_TEST(concurrency_group_commit_counts_every_acknowledged_write_once)
{
    char *dir = tu_tmpdir("conc");
    floe_options o;
    floe_options_init(&o);
    o.wal.sync = FLOE_SYNC_ALWAYS; /* no seal or flush below: every WAL sync after open is a group commit */
    atomic_store(&failures, 0);
    ck_assert_int_eq(floe_open(dir, &o, &db), 0);
    floe_stats st0, st;
    ck_assert_int_eq(floe_stats_get(db, &st0), 0);
    pthread_t wt[GC_WRITERS];
    for (int i = 0; i < GC_WRITERS; i++)
        pthread_create(&wt[i], NULL, group_commit_writer, (void *)(intptr_t)i);
    for (int i = 0; i < GC_WRITERS; i++)
        pthread_join(wt[i], NULL);
    ck_assert_int_eq(atomic_load(&failures), 0);
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    uint64_t writes = (uint64_t)GC_WRITERS * GC_OPS_PER_WRITER;
    uint64_t syncs = st.wal_syncs - st0.wal_syncs;
    uint64_t batches = tu_wal_batches(st.wal_batch_hist);
    fprintf(stderr, "group commit: %" PRIu64 " writes in %" PRIu64 " fdatasyncs, %.2f per fdatasync\n",
            writes, syncs, batches ? (double)st.wal_synced_writes / (double)batches : 0.0);
    ck_assert_uint_eq(st.puts + st.deletes, writes);
    ck_assert_uint_eq(st.wal_synced_writes, writes);
    ck_assert_uint_eq(batches, syncs);
    tu_assert_wal_hist_fits(st.wal_batch_hist, st.wal_synced_writes);
    ck_assert_int_eq(floe_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static Suite *concurrency_suite(void)
{
    Suite *s = suite_create("concurrency");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, concurrency_readers_see_whole_monotonic_values_while_writers_seal);
    tcase_add_test(tc, concurrency_group_commit_counts_every_acknowledged_write_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(concurrency_suite());
}
