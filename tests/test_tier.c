/* The store with a cold tier: uploads and remote durability, restore from the bucket alone, the
 * local budget, cold reads and their request cost, backpressure, faults (503 storms, delays, lost
 * answers) with zero loss, fencing, and bad credentials. The fs backend runs everywhere; the same
 * flows run against the real S3 server (Ceph RGW) that scripts/test.sh starts. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cold.h"
#include "cold_fault.h"
#include "store.h"
#include "floe.h"
#include "manifest.h"
#include "remote.h"
#include "s3.h"
#include "testutil.h"
#include "tools.h"

static char *root; /* holds data dirs and the fs cold tier */
static char data_dir[512], data_dir2[512], cold_dir[512];
static char bucket[TU_BUCKET_MAX];

static void setup(void)
{
    root = tu_tmpdir("tier");
    snprintf(data_dir, sizeof data_dir, "%s/data", root);
    snprintf(data_dir2, sizeof data_dir2, "%s/data2", root);
    snprintf(cold_dir, sizeof cold_dir, "%s/cold", root);
}

static void teardown(void)
{
    tu_rmrf(root);
    free(root);
}

static floe_options tier_opts(void)
{
    floe_options o;
    floe_options_init(&o);
    o.wal.sync = FLOE_SYNC_NEVER;
    o.segment.max_bytes = 64 * 1024;
    o.segment.block_bytes = 4096;
    o.upload.concurrency = 2;
    o.upload.part_bytes = 5 * 1024 * 1024;
    o.cache.object_bytes = 0; /* so reads show the tier that holds the data */
    return o;
}

static cold_t *open_fs_cold(void)
{
    cold_t *c = NULL;
    ck_assert_int_eq(cold_open_fs(cold_dir, &c), 0);
    return c;
}

static cold_t *open_s3_cold(const s3_config *cfg)
{
    cold_t *c = NULL;
    ck_assert_int_eq(cold_open_s3(cfg, &c), 0);
    return c;
}

static floe_t *open_with(const char *dir, const floe_options *o, cold_t *c)
{
    floe_t *db = NULL;
    int rc = store_open_with_cold(dir, o, c, &db);
    ck_assert_msg(rc == 0, "open %s: %s: %s", dir, floe_strerror(rc), floe_last_error());
    return db;
}

/* Waits (up to 4 s: eviction runs on the uploader after publishing) until the local segment files
 * fit max_bytes; *st gets the last stats. */
static void wait_evicted(floe_t *db, uint64_t max_bytes, floe_stats *st)
{
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(floe_stats_get(db, st), 0);
        if (st->local_segment_bytes <= max_bytes)
            return;
        usleep(20000);
    }
}

static size_t value_for(int i, char *buf, size_t cap)
{
    size_t len = 100 + (size_t)(i * 131) % 900;
    if (len > cap)
        len = cap;
    for (size_t j = 0; j < len; j++)
        buf[j] = (char)('A' + (i + (int)j) % 26);
    return len;
}

static void write_keys(floe_t *db, int from, int to)
{
    char k[32], v[1024];
    for (int i = from; i < to; i++) {
        snprintf(k, sizeof k, "obj/%06d", i);
        size_t len = value_for(i, v, sizeof v);
        int rc = floe_put(db, k, strlen(k), v, len, "application/x-tier", NULL);
        ck_assert_msg(rc == 0, "put %s: %s", k, floe_last_error());
    }
}

/* Reads keys [from, to) back; returns how many came from the cold tier. */
static int check_keys(floe_t *db, int from, int to)
{
    char k[32], v[1024];
    int cold = 0;
    for (int i = from; i < to; i++) {
        snprintf(k, sizeof k, "obj/%06d", i);
        size_t len = value_for(i, v, sizeof v);
        floe_value got = {0};
        int rc = floe_get(db, k, strlen(k), &got);
        ck_assert_msg(rc == 0, "get %s: %s: %s", k, floe_strerror(rc), floe_last_error());
        ck_assert_uint_eq(got.len, len);
        ck_assert_mem_eq(got.data, v, len);
        ck_assert_str_eq(got.content_type, "application/x-tier");
        cold += got.tier == FLOE_TIER_COLD;
        floe_value_free(&got);
    }
    return cold;
}

/* Write, flush remote, wipe the data directory, restore from the bucket alone, read everything. */
/* A chunked object of 5 chunks and a bit (issue 11), for the restore round trip. */
#define RT_CHUNK (64 * 1024)
#define RT_OBJECT_BYTES (5 * RT_CHUNK + 77)

static uint8_t rt_byte(size_t i)
{
    return (uint8_t)(i * 13 + i / 4099);
}

static void check_rt_object(floe_t *db)
{
    floe_value v = {0};
    int rc = floe_get(db, "big/object", 10, &v);
    ck_assert_msg(rc == 0, "get big/object: %s", floe_last_error());
    ck_assert_uint_eq(v.len, RT_OBJECT_BYTES);
    ck_assert_int_eq(v.chunked, 1);
    ck_assert_str_eq(v.content_type, "application/x-tar");
    for (size_t i = 0; i < RT_OBJECT_BYTES; i++)
        if (((uint8_t *)v.data)[i] != rt_byte(i))
            ck_abort_msg("big/object byte %zu differs", i);
    floe_value_free(&v);
}

static void restore_round_trip(cold_t *(*open_cold)(void *), void *arg)
{
    floe_options o = tier_opts();
    o.object.chunk_bytes = RT_CHUNK;
    /* No background compaction: its outputs are local files until uploaded, and this test checks
     * that the restored store reads from the cold tier. */
    o.compaction.l0_trigger = 0;
    floe_t *db = open_with(data_dir, &o, open_cold(arg));
    write_keys(db, 0, 1500);
    floe_object_meta meta = {.content_type = "application/x-tar"};
    floe_writer *w = NULL;
    ck_assert_int_eq(floe_writer_begin(db, "big/object", 10, &meta, &w), 0);
    for (size_t i = 0; i < RT_OBJECT_BYTES; i++) {
        uint8_t b = rt_byte(i);
        ck_assert_int_eq(floe_writer_write(w, &b, 1), 0);
    }
    ck_assert_int_eq(floe_writer_commit(w, NULL), 0);
    int rc = floe_flush(db, FLOE_DURABLE_REMOTE);
    ck_assert_msg(rc == 0, "flush remote: %s", floe_last_error());
    floe_stats st;
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    ck_assert_uint_ge(st.segments_local_remote, 10); /* many segments sealed and uploaded */
    ck_assert_uint_eq(st.segments_local + st.segments_uploading, 0);
    ck_assert_uint_ge(st.uploads, st.segments_local_remote);
    ck_assert_uint_ge(st.manifest_version, 2);
    ck_assert_int_eq(floe_close(db), 0);

    tu_rmrf(data_dir);
    cold_t *c = open_cold(arg);
    rc = tools_restore(c, data_dir, NULL);
    ck_assert_msg(rc == 0, "restore: %s", floe_last_error());
    cold_close(c);
    db = open_with(data_dir, &o, open_cold(arg));
    int cold = check_keys(db, 0, 1500);
    ck_assert_int_eq(cold, 1500); /* every key came from the cold tier */
    check_rt_object(db);
    floe_list *l = NULL;
    ck_assert_int_eq(floe_list_keys(db, "obj/", 4, NULL, 0, 2000, &l), 0);
    ck_assert_uint_eq(l->count, 1500);
    floe_list_free(l);
    /* The restored store keeps writing. */
    write_keys(db, 1500, 1600);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    check_keys(db, 0, 1600);
    ck_assert_int_eq(floe_close(db), 0);
}

static cold_t *fs_opener(void *arg)
{
    (void)arg;
    return open_fs_cold();
}

static cold_t *s3_opener(void *arg)
{
    return open_s3_cold(arg);
}

START_TEST(tier_restore_from_fs_cold_tier_serves_every_key)
{
    restore_round_trip(fs_opener, NULL);
}
END_TEST

START_TEST(tier_restore_from_s3_bucket_serves_every_key)
{
    s3_config cfg = tu_s3_fresh_bucket(bucket, "t");
    restore_round_trip(s3_opener, &cfg);
}
END_TEST

START_TEST(tier_local_budget_evicts_and_cold_point_read_costs_one_get)
{
    floe_options o = tier_opts();
    o.local.max_bytes = 256 * 1024;
    o.cache.decoded_block_bytes = 0; /* every read goes to the disk block cache or the cold tier */
    floe_t *db = open_with(data_dir, &o, open_fs_cold());
    write_keys(db, 0, 2000);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    floe_stats st;
    wait_evicted(db, o.local.max_bytes, &st);
    ck_assert_uint_le(st.local_segment_bytes, o.local.max_bytes);
    ck_assert_uint_ge(st.segments_remote, 1);

    /* obj/000000 was in the first segment: evicted, so it is read from the cold tier. */
    floe_value v = {0};
    ck_assert_int_eq(floe_get(db, "obj/000000", 10, &v), 0);
    ck_assert_int_eq(v.tier, FLOE_TIER_COLD);
    floe_value_free(&v);
    /* A key in another block of the same segment: metadata is cached now, so exactly one GET. */
    floe_stats before, after;
    floe_stats_get(db, &before);
    ck_assert_int_eq(floe_get(db, "obj/000040", 10, &v), 0);
    ck_assert_int_eq(v.tier, FLOE_TIER_COLD);
    floe_value_free(&v);
    floe_stats_get(db, &after);
    ck_assert_uint_eq(after.cold_requests[FLOE_COLD_GET] - before.cold_requests[FLOE_COLD_GET], 1);
    /* The same key again: from the disk block cache, no GET. */
    ck_assert_int_eq(floe_get(db, "obj/000040", 10, &v), 0);
    floe_value_free(&v);
    floe_stats_get(db, &before);
    ck_assert_uint_eq(before.cold_requests[FLOE_COLD_GET], after.cold_requests[FLOE_COLD_GET]);
    ck_assert_uint_ge(before.block_cache_hits, 1);
    check_keys(db, 0, 2000);
    ck_assert_int_eq(floe_close(db), 0);

    /* After reopen the evicted segments are still read from the cold tier. */
    db = open_with(data_dir, &o, open_fs_cold());
    ck_assert_int_gt(check_keys(db, 0, 2000), 0);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

static void *read_all_cold(void *arg)
{
    check_keys(arg, 0, 2000);
    return NULL;
}

START_TEST(tier_metadata_cache_stays_in_budget_under_concurrent_cold_reads)
{
    floe_options o = tier_opts();
    o.local.max_bytes = 64 * 1024; /* nearly every segment is evicted to the cold tier */
    o.cache.meta_bytes = 1;        /* at most one cold segment's index and bloom stay open */
    o.cache.decoded_block_bytes = 0;
    floe_t *db = open_with(data_dir, &o, open_fs_cold());
    write_keys(db, 0, 2000);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    floe_stats st;
    wait_evicted(db, o.local.max_bytes, &st);
    ck_assert_uint_ge(st.segments_remote, 10);
    /* Readers on four threads keep opening and closing cold segment readers under each other. */
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, read_all_cold, db);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    floe_list *l = NULL;
    ck_assert_int_eq(floe_list_keys(db, "obj/", 4, NULL, 0, 5000, &l), 0);
    ck_assert_uint_eq(l->count, 2000);
    floe_list_free(l);
    /* A listing holds every segment open at once; the next cold read trims back to the budget:
     * only the segment it used stays open. */
    floe_value v = {0};
    ck_assert_int_eq(floe_get(db, "obj/000000", 10, &v), 0);
    ck_assert_int_eq(v.tier, FLOE_TIER_COLD);
    floe_value_free(&v);
    floe_stats_get(db, &st);
    ck_assert_uint_eq(st.meta_cache_segments, 1);
    ck_assert_uint_gt(st.meta_cache_bytes, 0);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

START_TEST(tier_writes_fail_with_cold_tier_behind_then_recover_without_loss)
{
    floe_options o = tier_opts();
    o.upload.max_pending_bytes = 200 * 1024;
    o.upload.wait_ms = 200;
    cold_t *fault = NULL;
    ck_assert_int_eq(cold_open_fault(open_fs_cold(), 1, &fault), 0);
    ck_assert_int_eq(cold_fault_fail_next(fault, FLOE_COLD_PUT, 1000000, FLOE_ECOLD), 0);
    floe_t *db = open_with(data_dir, &o, fault);
    char k[32], v[1024];
    int acked = 0, behind = 0;
    for (int i = 0; i < 3000 && !behind; i++) {
        snprintf(k, sizeof k, "obj/%06d", i);
        size_t len = value_for(i, v, sizeof v);
        int rc = floe_put(db, k, strlen(k), v, len, "application/x-tier", NULL);
        if (rc == FLOE_EBEHIND) {
            behind = 1;
            ck_assert_msg(strstr(floe_last_error(), "cold tier behind") != NULL, "%s", floe_last_error());
        } else {
            ck_assert_msg(rc == 0, "put: %s", floe_last_error());
            acked++;
        }
    }
    ck_assert_msg(behind, "writes never hit the upload cap");
    floe_stats st;
    floe_stats_get(db, &st);
    ck_assert_int_eq(st.cold_healthy, 0);
    ck_assert_uint_gt(st.bytes_pending_upload, 0);
    /* The cold tier comes back: uploads drain, writes flow again, nothing was lost. */
    ck_assert_int_eq(cold_fault_fail_next(fault, FLOE_COLD_PUT, 0, FLOE_ECOLD), 0);
    int rc = floe_flush(db, FLOE_DURABLE_REMOTE);
    ck_assert_msg(rc == 0, "flush remote after recovery: %s", floe_last_error());
    write_keys(db, acked, acked + 10);
    check_keys(db, 0, acked + 10);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* Counts segment ids in the newest remote manifest and checks they are unique and uploaded. */
static void check_remote_manifest(cold_t *c, uint64_t *n_segments)
{
    uint64_t version = 0;
    manifest *m = NULL;
    ck_assert_int_eq(remote_latest(c, &version, &m), 0);
    for (size_t i = 0; i < m->count; i++) {
        if (i)
            ck_assert_uint_gt(m->segments[i].id, m->segments[i - 1].id);
        uint64_t size = 0;
        ck_assert_msg(cold_head(c, m->segments[i].object_key, &size, NULL) == 0, "named object %s missing",
                      m->segments[i].object_key);
        ck_assert_uint_eq(size, m->segments[i].size);
    }
    *n_segments = m->count;
    manifest_free(m);
}

/* The uploader through 503 storms, connection resets, delays and lost answers over the cold store
 * opened by open_cold(arg); then the bucket alone must restore every key, with no segment named
 * twice and every named object whole. */
static void storm_round_trip(cold_t *(*open_cold)(void *), void *arg)
{
    floe_options o = tier_opts();
    o.upload.concurrency = 3;
    cold_t *fault = NULL;
    ck_assert_int_eq(cold_open_fault(open_cold(arg), 7, &fault), 0);
    ck_assert_int_eq(cold_fault_set_storm(fault, 300, 6, 2), 0); /* 30% of attempts get 503 */
    ck_assert_int_eq(cold_fault_set_delay(fault, FLOE_COLD_PUT, 3), 0);
    ck_assert_int_eq(cold_fault_lose_next_puts(fault, 5), 0);
    floe_t *db = open_with(data_dir, &o, fault);
    for (int round = 0; round < 4; round++) {
        write_keys(db, round * 400, (round + 1) * 400);
        if (round == 2)
            ck_assert_int_eq(cold_fault_fail_next(fault, FLOE_COLD_PUT, 4, FLOE_ECOLD), 0); /* resets */
        int rc = floe_flush(db, FLOE_DURABLE_REMOTE);
        ck_assert_msg(rc == 0, "flush remote in a storm: %s", floe_last_error());
    }
    ck_assert_uint_gt(cold_fault_injected(fault), 0);
    floe_stats st;
    floe_stats_get(db, &st);
    ck_assert_uint_gt(st.cold_retries[FLOE_COLD_PUT] + st.cold_errors[FLOE_COLD_PUT], 0);
    ck_assert_int_eq(floe_close(db), 0);

    cold_t *c = open_cold(arg);
    uint64_t n = 0;
    check_remote_manifest(c, &n);
    ck_assert_uint_eq(n, st.segments_local_remote + st.segments_remote);
    tu_rmrf(data_dir);
    ck_assert_int_eq(tools_restore(c, data_dir, NULL), 0);
    cold_close(c);
    db = open_with(data_dir, &o, open_cold(arg));
    ck_assert_int_eq(check_keys(db, 0, 1600), 1600);
    ck_assert_int_eq(floe_close(db), 0);
}

START_TEST(tier_uploader_survives_storms_delays_and_lost_answers_with_zero_loss)
{
    storm_round_trip(fs_opener, NULL);
}
END_TEST

START_TEST(tier_uploader_survives_storms_against_s3_with_zero_loss)
{
    s3_config cfg = tu_s3_fresh_bucket(bucket, "t");
    storm_round_trip(s3_opener, &cfg);
}
END_TEST

/* Issue 9, bug 5: with two uploaders, a later segment may finish uploading first; the manifest
 * published then must not name it without the earlier one, or a restore from that manifest brings
 * back what the earlier segment deleted or overwrote. */
START_TEST(tier_a_published_manifest_names_only_a_gap_free_prefix_of_segments)
{
    floe_options o = tier_opts();
    o.upload.concurrency = 2;
    cold_t *fault = NULL;
    ck_assert_int_eq(cold_open_fault(open_fs_cold(), 7, &fault), 0);
    floe_t *db = open_with(data_dir, &o, fault);
    ck_assert_int_eq(floe_put(db, "a", 1, "old", 3, NULL, NULL), 0);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0); /* segment 1 */
    ck_assert_int_eq(cold_fault_set_key_delay(fault, "/2-", 1500), 0);
    ck_assert_int_eq(floe_delete(db, "a", 1, NULL), 0);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0); /* segment 2: slow to upload */
    ck_assert_int_eq(floe_put(db, "b", 1, "new", 3, NULL, NULL), 0);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0); /* segment 3: fast */

    cold_t *reader = open_fs_cold();
    int saw_3 = 0;
    for (int i = 0; i < 200; i++) {
        manifest *m = NULL;
        uint64_t version = 0;
        if (remote_latest(reader, &version, &m) == 0) {
            int has2 = manifest_find(m, 2) != NULL, has3 = manifest_find(m, 3) != NULL;
            manifest_free(m);
            ck_assert_msg(!has3 || has2, "manifest version %llu names segment 3 but not segment 2",
                          (unsigned long long)version);
            saw_3 |= has3;
            if (has3)
                break;
        }
        usleep(20000);
    }
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    ck_assert_int_eq(floe_close(db), 0);
    ck_assert_int_eq(saw_3, 1);

    /* The bucket alone: "a" stays deleted, "b" is there. */
    ck_assert_int_eq(tools_restore(reader, data_dir2, NULL), 0);
    cold_close(reader);
    floe_t *r = open_with(data_dir2, &o, open_fs_cold());
    floe_value v = {0};
    ck_assert_int_eq(floe_get(r, "a", 1, &v), FLOE_ENOTFOUND);
    ck_assert_int_eq(floe_get(r, "b", 1, &v), 0);
    floe_value_free(&v);
    ck_assert_int_eq(floe_close(r), 0);
}
END_TEST

static uint64_t cold_gets(floe_t *db)
{
    floe_stats st;
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    return st.cold_requests[FLOE_COLD_GET];
}

/* Issue 11 part 4: a range of a chunked object that only the cold tier holds costs one ranged GET
 * for the block of its head record and one per chunk it covers (each chunk is one block), never
 * the whole object (no block or object cache here, so every block read is a GET). */
START_TEST(tier_cold_range_of_a_chunked_object_gets_only_the_chunks_it_covers)
{
    enum { CHUNK = 256 * 1024, N = 8 };
    floe_options o = tier_opts();
    o.object.chunk_bytes = CHUNK;
    o.segment.max_bytes = 1 << 20;
    o.local.max_bytes = 1; /* every uploaded segment is evicted to the cold tier */
    o.cache.decoded_block_bytes = 0;
    o.cache.block_bytes = 0;
    o.compaction.l0_trigger = 0; /* the segments stay as the writer sealed them */
    floe_t *db = open_with(data_dir, &o, open_fs_cold());
    floe_writer *w = NULL;
    ck_assert_int_eq(floe_writer_begin(db, "video", 5, NULL, &w), 0);
    uint8_t *buf = malloc(CHUNK);
    for (int c = 0; c < N; c++) {
        for (int i = 0; i < CHUNK; i++)
            buf[i] = (uint8_t)(c * 31 + i);
        ck_assert_int_eq(floe_writer_write(w, buf, CHUNK), 0);
    }
    ck_assert_int_eq(floe_writer_commit(w, NULL), 0);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    floe_stats st;
    wait_evicted(db, o.local.max_bytes, &st);
    ck_assert_uint_le(st.local_segment_bytes, o.local.max_bytes);
    /* First reads also load each segment's index and bloom (metadata cache): one of every chunk. */
    floe_value v = {0};
    for (int c = 0; c < N; c++) {
        ck_assert_int_eq(floe_read_range(db, "video", 5, (uint64_t)c * CHUNK, 1, &v, NULL), 0);
        floe_value_free(&v);
    }
    ck_assert_int_eq(floe_head(db, "video", 5, &v), 0);
    ck_assert_int_eq(v.tier, FLOE_TIER_COLD);
    floe_value_free(&v);
    uint64_t before = cold_gets(db);
    ck_assert_int_eq(floe_read_range(db, "video", 5, 5 * CHUNK + 100, 1000, &v, NULL), 0);
    ck_assert_uint_eq(v.len, 1000);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(((uint8_t *)v.data)[i], (uint8_t)(5 * 31 + 100 + i));
    floe_value_free(&v);
    ck_assert_uint_eq(cold_gets(db) - before, 1 + 1);
    before = cold_gets(db);
    ck_assert_int_eq(floe_read_range(db, "video", 5, 2 * CHUNK - 1, 2, &v, NULL), 0);
    ck_assert_uint_eq(((uint8_t *)v.data)[0], (uint8_t)(1 * 31 + CHUNK - 1));
    ck_assert_uint_eq(((uint8_t *)v.data)[1], (uint8_t)(2 * 31));
    floe_value_free(&v);
    ck_assert_uint_eq(cold_gets(db) - before, 1 + 2);
    free(buf);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* A segment object that the manifest names but the cold tier lacks (lost by a bug or an operator)
 * is damage: reads of its keys fail with FLOE_ECORRUPT naming the object, never "not found", which
 * would make lost data look deleted (the power-loss test met it as a missing range of keys). */
START_TEST(tier_a_missing_segment_object_is_damage_not_a_missing_key)
{
    floe_options o = tier_opts();
    o.local.max_bytes = 1;
    o.cache.decoded_block_bytes = 0;
    o.cache.block_bytes = 0;
    floe_t *db = open_with(data_dir, &o, open_fs_cold());
    write_keys(db, 0, 50);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    floe_stats st;
    wait_evicted(db, o.local.max_bytes, &st);
    ck_assert_int_eq(floe_close(db), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "find '%s/segments' -name '*.seg' -delete", cold_dir);
    ck_assert_int_eq(system(cmd), 0);
    db = open_with(data_dir, &o, open_fs_cold());
    floe_value v = {0};
    int rc = floe_get(db, "obj/000007", 10, &v);
    ck_assert_int_eq(rc, FLOE_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "missing from the cold tier"));
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* Compaction's outputs are evicted like uploads once published: with local.max_bytes exceeded the
 * local files go without waiting for another write (they stayed local+remote until the next upload). */
START_TEST(tier_compaction_outputs_are_evicted_once_published)
{
    floe_options o = tier_opts();
    o.local.max_bytes = 1;
    o.compaction.l0_trigger = 2;
    floe_t *db = open_with(data_dir, &o, open_fs_cold());
    for (int round = 0; round < 2; round++) { /* the same keys twice: the segments overlap, so they merge */
        write_keys(db, 0, 100);
        ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    }
    floe_stats st;
    for (int i = 0; i < 200; i++) { /* the background merge of level 0, and its publication */
        ck_assert_int_eq(floe_stats_get(db, &st), 0);
        if (st.compactions >= 1 && st.segments_level0 == 0 && st.segments_local == 0 && st.segments_uploading == 0)
            break;
        usleep(20000);
    }
    ck_assert_uint_ge(st.compactions, 1);
    wait_evicted(db, o.local.max_bytes, &st);
    ck_assert_msg(st.local_segment_bytes <= o.local.max_bytes, "%llu bytes of local segments stay",
                  (unsigned long long)st.local_segment_bytes);
    ck_assert_int_eq(check_keys(db, 0, 100), 100); /* every key from the cold tier */
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* Issue 9, bug 8: a listing opens only the segments whose key range meets its prefix and cursor. */
START_TEST(tier_a_list_opens_only_segments_whose_key_range_meets_it)
{
    floe_options o = tier_opts();
    o.local.max_bytes = 1; /* every uploaded segment is evicted to the cold tier */
    o.cache.decoded_block_bytes = 0;
    floe_t *db = open_with(data_dir, &o, open_fs_cold());
    for (int s = 0; s < 8; s++) {
        for (int i = 0; i < 20; i++) {
            char k[32];
            snprintf(k, sizeof k, "p%02d/%04d", s, i);
            ck_assert_int_eq(floe_put(db, k, strlen(k), "v", 1, NULL, NULL), 0);
        }
        ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    }
    floe_stats st;
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(floe_stats_get(db, &st), 0);
        if (st.segments_remote == 8)
            break;
        usleep(20000);
    }
    ck_assert_uint_eq(st.segments_remote, 8);
    uint64_t gets_before = st.cold_requests[FLOE_COLD_GET];

    floe_list *l = NULL;
    ck_assert_int_eq(floe_list_keys(db, "zzz", 3, NULL, 0, 100, &l), 0);
    ck_assert_uint_eq(l->count, 0);
    floe_list_free(l);
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    ck_assert_uint_eq(st.cold_requests[FLOE_COLD_GET], gets_before); /* nothing was opened */
    ck_assert_uint_eq(st.meta_cache_segments, 0);

    ck_assert_int_eq(floe_list_keys(db, "p03/", 4, NULL, 0, 100, &l), 0);
    ck_assert_uint_eq(l->count, 20);
    floe_list_free(l);
    /* A cursor past a segment's keys skips it too. */
    ck_assert_int_eq(floe_list_keys(db, "p0", 2, "p06/9999", 8, 100, &l), 0);
    ck_assert_uint_eq(l->count, 20);
    ck_assert_str_eq(l->entries[0].key, "p07/0000");
    floe_list_free(l);
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    ck_assert_uint_le(st.meta_cache_segments, 2); /* p03's and p07's segments, nothing else */
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* Restores data_dir2 from the fs cold tier alone and checks that keys [0, n) read back from it. */
static void expect_bucket_alone_holds(const floe_options *o, int n)
{
    cold_t *c = open_fs_cold();
    ck_assert_int_eq(tools_restore(c, data_dir2, NULL), 0);
    cold_close(c);
    floe_t *db = open_with(data_dir2, o, open_fs_cold());
    ck_assert_int_eq(check_keys(db, 0, n), n);
    ck_assert_int_eq(floe_close(db), 0);
}

/* Issue 9, bug 4: the answer to a manifest PUT is lost after the store committed it, and the retry
 * (with one more segment uploaded meanwhile) finds that version taken. It is this writer's own:
 * uploads go on, nothing wedges. */
START_TEST(tier_a_lost_answer_to_a_manifest_put_does_not_wedge_uploads)
{
    floe_options o = tier_opts();
    o.upload.concurrency = 2;
    o.upload.flush_timeout_ms = 20000;
    cold_t *fault = NULL;
    ck_assert_int_eq(cold_open_fault(open_fs_cold(), 11, &fault), 0);
    floe_t *db = open_with(data_dir, &o, fault);
    /* Slow manifest PUTs so segment 2 is uploaded while segment 1's publication is in flight. */
    ck_assert_int_eq(cold_fault_set_key_delay(fault, "manifest/", 300), 0);
    ck_assert_int_eq(cold_fault_lose_next_puts_of(fault, "manifest/", 1), 0);
    write_keys(db, 0, 100);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    write_keys(db, 100, 200);
    int rc = floe_flush(db, FLOE_DURABLE_REMOTE);
    ck_assert_msg(rc == 0, "flush remote: %s: %s", floe_strerror(rc), floe_last_error());
    ck_assert_uint_ge(cold_fault_injected(fault), 1);
    floe_stats st;
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    ck_assert_int_eq(st.cold_healthy, 1);
    ck_assert_int_eq(st.read_only, 0);
    ck_assert_int_eq(floe_close(db), 0);

    expect_bucket_alone_holds(&o, 200);
}
END_TEST

/* Issue 9, bug 3: a segment sealed in epoch E is uploaded after a restart under epoch E+1 and
 * published, and the process stops before its local manifest records the object key. The next open
 * must recognise the object as its own, not refuse the prefix as another writer's. */
START_TEST(tier_a_stop_between_publish_and_the_local_manifest_save_reopens_with_everything)
{
    floe_options o = tier_opts();
    o.upload.flush_timeout_ms = 20000;
    /* Session 1: the segment is sealed, but every PUT fails (the epoch claim's too), so it is not
     * uploaded. */
    cold_t *fault = NULL;
    ck_assert_int_eq(cold_open_fault(open_fs_cold(), 5, &fault), 0);
    ck_assert_int_eq(cold_fault_fail_next(fault, FLOE_COLD_PUT, 1000000, FLOE_ECOLD), 0);
    floe_t *db = open_with(data_dir, &o, fault);
    write_keys(db, 0, 100);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    ck_assert_int_eq(floe_close(db), 0);
    /* Session 2 claims an epoch newer than the segment's, then uploads it under that epoch's key and
     * publishes it. */
    db = open_with(data_dir, &o, open_fs_cold());
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    ck_assert_int_eq(floe_close(db), 0);
    /* ... but, as after a kill -9 at that moment, the local manifest never learned it. */
    manifest *m = NULL;
    ck_assert_int_eq(manifest_load(data_dir, &m), 0);
    ck_assert_uint_ge(m->count, 1);
    for (size_t i = 0; i < m->count; i++) {
        free(m->segments[i].object_key);
        m->segments[i].object_key = strdup("");
        m->segments[i].state = SEG_LOCAL;
    }
    m->remote_version = 0;
    ck_assert_int_eq(manifest_save(data_dir, m), 0);
    manifest_free(m);
    write_keys(db = open_with(data_dir, &o, open_fs_cold()), 100, 150);
    ck_assert_int_eq(check_keys(db, 0, 150), 0);
    int rc = floe_flush(db, FLOE_DURABLE_REMOTE);
    ck_assert_msg(rc == 0, "flush remote: %s: %s", floe_strerror(rc), floe_last_error());
    ck_assert_int_eq(floe_close(db), 0);
    expect_bucket_alone_holds(&o, 150);
}
END_TEST

/* Waits (at most 15 s) until db's background gc has finished at least runs runs. */
static void wait_gc_runs(floe_t *db, uint64_t runs)
{
    floe_stats st;
    for (int i = 0; i < 300; i++) {
        ck_assert_int_eq(floe_stats_get(db, &st), 0);
        if (st.gc_runs >= runs)
            return;
        usleep(50000);
    }
    ck_abort_msg("background gc finished %" PRIu64 " runs in 15 s, expected %" PRIu64 " (errors: %" PRIu64
                 ")",
                 st.gc_runs, runs, st.gc_errors);
}

/* How many manifest objects the fs cold tier holds, and whether key is there. */
typedef struct bucket_count {
    const char *key;
    size_t manifests;
    int has_key;
} bucket_count;

static int count_object(void *ctx, const char *key, uint64_t size, int64_t mtime_unix_s)
{
    bucket_count *b = ctx;
    uint64_t v;
    (void)size, (void)mtime_unix_s;
    b->manifests += cold_parse_manifest_key(key, &v) == 0;
    b->has_key |= b->key && strcmp(key, b->key) == 0;
    return 0;
}

static bucket_count count_bucket(const char *key)
{
    bucket_count b = {key, 0, 0};
    cold_t *c = open_fs_cold();
    ck_assert_int_eq(cold_list(c, "", count_object, &b), 0);
    cold_close(c);
    return b;
}

/* Copies the object of db's oldest remote segment to the same id under another epoch, as a fenced
 * writer or a redone upload leaves one; out gets its key. */
static void plant_orphan(floe_t *db, char out[COLD_LAYOUT_KEY_MAX])
{
    char key[COLD_LAYOUT_KEY_MAX];
    uint64_t id, epoch;
    pthread_mutex_lock(&db->manifest_mu);
    ck_assert_uint_gt(db->man->count, 0);
    snprintf(key, sizeof key, "%s", db->man->segments[0].object_key);
    pthread_mutex_unlock(&db->manifest_mu);
    ck_assert_int_eq(cold_parse_segment_key(key, &id, &epoch), 0);
    cold_segment_key(id, epoch + 1000, out);
    cold_t *c = open_fs_cold();
    void *data = NULL;
    size_t len = 0;
    ck_assert_msg(cold_get(c, key, &data, &len, 64u << 20) == 0, "get %s: %s", key, floe_last_error());
    ck_assert_int_eq(cold_put(c, out, data, len, 1), 0);
    free(data);
    cold_close(c);
}

/* Issue 10: with gc.interval_s set, the store deletes old manifests and orphans itself, and what
 * stays restores every key. */
START_TEST(tier_background_gc_keeps_the_bucket_bounded_and_restorable)
{
    floe_options o = tier_opts();
    o.gc.interval_s = 1;
    o.gc.grace_s = 0;
    floe_t *db = open_with(data_dir, &o, open_fs_cold());
    char orphan[COLD_LAYOUT_KEY_MAX];
    for (int round = 0; round < 15; round++) {
        write_keys(db, round * 20, (round + 1) * 20);
        ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
        if (round == 12)
            plant_orphan(db, orphan);
    }
    ck_assert(count_bucket(orphan).has_key);
    floe_stats st;
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    ck_assert_uint_ge(st.manifest_version, 16);
    /* The runs after the last publication bring the bucket down to 10 manifests. A run counts
     * itself in the stats once it has finished, just after its deletions: wait for both. */
    bucket_count b = {0};
    for (int i = 0; i < 300; i++) {
        b = count_bucket(orphan);
        ck_assert_int_eq(floe_stats_get(db, &st), 0);
        if (b.manifests <= 10 && !b.has_key && st.gc_runs >= 1 && st.gc_objects_deleted >= 7)
            break;
        usleep(50000);
    }
    ck_assert_msg(b.manifests <= 10, "%zu manifests in the bucket", b.manifests);
    ck_assert_msg(!b.has_key, "orphan %s is still there", orphan);
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    ck_assert_uint_ge(st.gc_runs, 1);
    ck_assert_uint_ge(st.gc_objects_deleted, 7); /* 6+ manifests and the orphan */
    ck_assert_uint_eq(st.gc_errors, 0);
    check_keys(db, 0, 300);
    ck_assert_int_eq(floe_close(db), 0);

    cold_t *c = open_fs_cold();
    ck_assert_msg(tools_restore(c, data_dir2, NULL) == 0, "restore: %s", floe_last_error());
    cold_close(c);
    o.gc.interval_s = 0;
    db = open_with(data_dir2, &o, open_fs_cold());
    ck_assert_int_eq(check_keys(db, 0, 300), 300);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* Issue 10: background gc sends nothing to the cold tier while the store publishes nothing. */
START_TEST(tier_background_gc_of_an_idle_store_sends_no_cold_requests)
{
    floe_options o = tier_opts();
    o.gc.interval_s = 1;
    o.gc.grace_s = 0;
    floe_t *db = open_with(data_dir, &o, open_fs_cold());
    write_keys(db, 0, 200);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    floe_stats before, after;
    ck_assert_int_eq(floe_stats_get(db, &before), 0);
    wait_gc_runs(db, before.gc_runs + 1);
    sleep(2); /* a run that began before the last publication is followed by one more */
    ck_assert_int_eq(floe_stats_get(db, &before), 0);
    sleep(3);
    ck_assert_int_eq(floe_stats_get(db, &after), 0);
    uint64_t sent_before = 0, sent_after = 0;
    for (int op = 0; op < FLOE_COLD_OP_COUNT; op++) {
        sent_before += before.cold_requests[op];
        sent_after += after.cold_requests[op];
    }
    fprintf(stderr, "idle store with gc every 1 s: %" PRIu64 " cold requests in 3 s (%" PRIu64 " gc runs)\n",
            sent_after - sent_before, after.gc_runs - before.gc_runs);
    ck_assert_int_eq(memcmp(before.cold_requests, after.cold_requests, sizeof before.cold_requests), 0);
    ck_assert_uint_eq(after.gc_runs, before.gc_runs);
    ck_assert_uint_ge(after.gc_runs, 1);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* Run 0 without background gc, run 1 with it every second in both writers. */
START_TEST(tier_newer_writer_fences_the_older_and_a_stranger_is_refused)
{
    floe_options o = tier_opts();
    if (_i) {
        o.gc.interval_s = 1;
        o.gc.grace_s = 0;
    }
    floe_t *a = open_with(data_dir, &o, open_fs_cold());
    write_keys(a, 0, 300);
    ck_assert_int_eq(floe_flush(a, FLOE_DURABLE_REMOTE), 0);
    if (_i)
        wait_gc_runs(a, 1);

    /* B takes over the prefix from the bucket (restore), claiming a newer epoch. */
    cold_t *c = open_fs_cold();
    ck_assert_int_eq(tools_restore(c, data_dir2, NULL), 0);
    cold_close(c);
    floe_t *b = open_with(data_dir2, &o, open_fs_cold());
    check_keys(b, 0, 300);
    write_keys(b, 300, 400);
    ck_assert_int_eq(floe_flush(b, FLOE_DURABLE_REMOTE), 0);
    if (_i)
        wait_gc_runs(b, 1);

    /* A is fenced at its next publication and stops taking writes. */
    write_keys(a, 1000, 1100);
    int rc = floe_flush(a, FLOE_DURABLE_REMOTE);
    ck_assert_int_eq(rc, FLOE_EFENCED);
    ck_assert_msg(strstr(floe_last_error(), "fenced") != NULL, "%s", floe_last_error());
    rc = floe_put(a, "late", 4, "x", 1, NULL, NULL);
    ck_assert_int_eq(rc, FLOE_EREADONLY);
    if (_i) {
        /* The fenced writer's gc stops; the newer one's goes on and loses nothing. */
        floe_stats st;
        ck_assert_int_eq(floe_stats_get(a, &st), 0);
        uint64_t runs = st.gc_runs;
        sleep(2);
        ck_assert_int_eq(floe_stats_get(a, &st), 0);
        ck_assert_uint_eq(st.gc_runs, runs);
        ck_assert_int_eq(floe_stats_get(b, &st), 0);
        write_keys(b, 400, 450);
        ck_assert_int_eq(floe_flush(b, FLOE_DURABLE_REMOTE), 0);
        wait_gc_runs(b, st.gc_runs + 1);
    }
    floe_close(a);

    /* A data directory that does not hold the bucket's segments is refused outright. */
    char stranger[600];
    snprintf(stranger, sizeof stranger, "%s/stranger", root);
    floe_t *s = NULL;
    rc = store_open_with_cold(stranger, &o, open_fs_cold(), &s);
    ck_assert_int_eq(rc, FLOE_EFENCED);
    ck_assert_msg(strstr(floe_last_error(), "restore") != NULL, "%s", floe_last_error());

    /* B's data is whole. */
    check_keys(b, 0, _i ? 450 : 400);
    ck_assert_int_eq(floe_close(b), 0);
}
END_TEST

/* A long-lived writer's open lists only the manifest versions from the one it published last: one
 * LIST page however many keys the bucket holds before it (here 1100 more, past a page of 1000). */
START_TEST(tier_reopen_finds_the_newest_manifest_with_one_list_page)
{
    s3_config cfg = tu_s3_fresh_bucket(bucket, "t");
    floe_options o = tier_opts();
    floe_t *db = open_with(data_dir, &o, open_s3_cold(&cfg));
    write_keys(db, 0, 50);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    ck_assert_int_eq(floe_close(db), 0);
    cold_t *c = open_s3_cold(&cfg);
    for (int i = 0; i < 1100; i++) {
        char key[64];
        snprintf(key, sizeof key, "manifest/00000000000000000000-history-%04d", i);
        ck_assert_int_eq(cold_put(c, key, "x", 1, 0), 0);
    }
    cold_close(c);

    db = open_with(data_dir, &o, open_s3_cold(&cfg));
    write_keys(db, 50, 60);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    floe_stats st;
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    /* One LIST page for the claim at open, from the version it published last, and one for the
     * flush's check for newer writers before it publishes. Listing all of manifest/ takes a page
     * more (3 in all, as on the commit before this test). */
    ck_assert_msg(st.cold_requests[FLOE_COLD_LIST] <= 2, "%llu LIST requests",
                  (unsigned long long)st.cold_requests[FLOE_COLD_LIST]);
    check_keys(db, 0, 60);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

START_TEST(tier_wrong_secret_is_a_clear_error_and_writes_land_locally)
{
    s3_config good = tu_s3_fresh_bucket(bucket, "t");
    s3_config bad = good;
    bad.secret_key = "not-the-secret";
    bad.max_retries = 1;
    floe_options o = tier_opts();
    floe_t *db = open_with(data_dir, &o, open_s3_cold(&bad));
    write_keys(db, 0, 300);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    floe_stats st;
    for (int i = 0; i < 100; i++) {
        floe_stats_get(db, &st);
        if (!st.cold_healthy)
            break;
        usleep(50000);
    }
    ck_assert_int_eq(st.cold_healthy, 0);
    ck_assert_msg(strstr(st.last_error, "SignatureDoesNotMatch") != NULL ||
                      strstr(st.last_error, "403") != NULL,
                  "last_error: %s", st.last_error);
    ck_assert_int_eq(st.read_only, 0);
    check_keys(db, 0, 300);
    ck_assert_int_eq(floe_close(db), 0);

    /* With the right secret the same data directory uploads everything. */
    db = open_with(data_dir, &o, open_s3_cold(&good));
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    check_keys(db, 0, 300);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

START_TEST(tier_remote_flush_without_cold_tier_is_refused)
{
    floe_options o = tier_opts();
    floe_t *db = NULL;
    ck_assert_int_eq(floe_open(data_dir, &o, &db), 0);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), FLOE_EINVAL);
    ck_assert_msg(strstr(floe_last_error(), "cold tier") != NULL, "%s", floe_last_error());
    floe_close(db);
}
END_TEST

/* A loopback port that accepts connections (the kernel completes them into the backlog) and never
 * answers: an S3 endpoint that hangs. Returns the listening socket; *port gets its port. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 64), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* Without a bound, opening would wait for the claim and closing for the upload, each through 4
 * attempts of 20 s; the test case's 40 s timeout fails it if either does. */
START_TEST(tier_a_cold_tier_that_never_answers_holds_up_neither_open_nor_close)
{
    int port = 0;
    int lfd = silent_listener(&port);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    s3_config cfg = {
        .endpoint = endpoint,
        .bucket = "silent",
        .region = "us-east-1",
        .path_style = 1,
        .access_key = "floeacc",
        .secret_key = "floesecret123",
        .timeout_ms = 20000,
        .max_retries = 3,
    };
    floe_options o = tier_opts();
    floe_t *db = open_with(data_dir, &o, open_s3_cold(&cfg));
    write_keys(db, 0, 300);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    check_keys(db, 0, 300);
    floe_stats st;
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    ck_assert_uint_gt(st.bytes_pending_upload, 0);
    ck_assert_int_eq(floe_close(db), 0);
    close(lfd);

    /* Nothing was lost: the data is local and reopens (now against the fs tier) intact. */
    db = open_with(data_dir, &o, open_fs_cold());
    check_keys(db, 0, 300);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* floe_head and floe_read_range of objects that only the cold tier holds (a restore): the right
 * length, the right bytes of ranges at and across the 4 KiB block size and at the end, tier "cold",
 * and FLOE_ERANGE past the end. */
START_TEST(tier_head_and_read_range_of_cold_objects)
{
    floe_options o = tier_opts();
    floe_t *db = open_with(data_dir, &o, open_fs_cold());
    static char v[3][20000];
    for (int i = 0; i < 3; i++) {
        for (size_t b = 0; b < sizeof v[i]; b++)
            v[i][b] = (char)('a' + (i * 5 + b * 7) % 26);
        char k[16];
        snprintf(k, sizeof k, "big/%d", i);
        ck_assert_int_eq(floe_put(db, k, strlen(k), v[i], sizeof v[i], NULL, NULL), 0);
    }
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    ck_assert_int_eq(floe_close(db), 0);
    tu_rmrf(data_dir);
    cold_t *c = open_fs_cold();
    ck_assert_int_eq(tools_restore(c, data_dir, NULL), 0);
    cold_close(c);
    db = open_with(data_dir, &o, open_fs_cold());
    for (int i = 0; i < 3; i++) {
        char k[16];
        snprintf(k, sizeof k, "big/%d", i);
        floe_value h = {0};
        ck_assert_int_eq(floe_head(db, k, strlen(k), &h), 0);
        ck_assert_ptr_null(h.data);
        ck_assert_uint_eq(h.len, sizeof v[i]);
        ck_assert_int_eq(h.tier, FLOE_TIER_COLD);
        floe_value_free(&h);
        const uint64_t offs[] = {0, 4095, 4096, 12345, 19999, 20000};
        for (size_t j = 0; j < sizeof offs / sizeof offs[0]; j++) {
            floe_value r = {0};
            uint64_t total = 0;
            ck_assert_int_eq(floe_read_range(db, k, strlen(k), offs[j], 5000, &r, &total), 0);
            uint64_t want = sizeof v[i] - offs[j] < 5000 ? sizeof v[i] - offs[j] : 5000;
            ck_assert_uint_eq(total, sizeof v[i]);
            ck_assert_uint_eq(r.len, want);
            ck_assert_int_eq(memcmp(r.data, v[i] + offs[j], r.len), 0);
            ck_assert_int_eq(r.tier, FLOE_TIER_COLD);
            floe_value_free(&r);
        }
        floe_value r = {0};
        ck_assert_int_eq(floe_read_range(db, k, strlen(k), 20001, 1, &r, NULL), FLOE_ERANGE);
    }
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

static Suite *tier_suite(void)
{
    Suite *s = suite_create("tier");
    TCase *fs = tcase_create("fs");
    tcase_add_checked_fixture(fs, setup, teardown);
    tcase_set_timeout(fs, 300);
    tcase_add_test(fs, tier_restore_from_fs_cold_tier_serves_every_key);
    tcase_add_test(fs, tier_local_budget_evicts_and_cold_point_read_costs_one_get);
    tcase_add_test(fs, tier_cold_range_of_a_chunked_object_gets_only_the_chunks_it_covers);
    tcase_add_test(fs, tier_a_missing_segment_object_is_damage_not_a_missing_key);
    tcase_add_test(fs, tier_compaction_outputs_are_evicted_once_published);
    tcase_add_test(fs, tier_writes_fail_with_cold_tier_behind_then_recover_without_loss);
    tcase_add_test(fs, tier_metadata_cache_stays_in_budget_under_concurrent_cold_reads);
    tcase_add_test(fs, tier_uploader_survives_storms_delays_and_lost_answers_with_zero_loss);
    tcase_add_loop_test(fs, tier_newer_writer_fences_the_older_and_a_stranger_is_refused, 0, 2);
    tcase_add_test(fs, tier_background_gc_keeps_the_bucket_bounded_and_restorable);
    tcase_add_test(fs, tier_background_gc_of_an_idle_store_sends_no_cold_requests);
    tcase_add_test(fs, tier_a_published_manifest_names_only_a_gap_free_prefix_of_segments);
    tcase_add_test(fs, tier_a_list_opens_only_segments_whose_key_range_meets_it);
    tcase_add_test(fs, tier_a_lost_answer_to_a_manifest_put_does_not_wedge_uploads);
    tcase_add_test(fs, tier_a_stop_between_publish_and_the_local_manifest_save_reopens_with_everything);
    tcase_add_test(fs, tier_remote_flush_without_cold_tier_is_refused);
    tcase_add_test(fs, tier_head_and_read_range_of_cold_objects);
    suite_add_tcase(s, fs);
    TCase *hang = tcase_create("hang");
    tcase_add_checked_fixture(hang, setup, teardown);
    tcase_set_timeout(hang, 40);
    tcase_add_test(hang, tier_a_cold_tier_that_never_answers_holds_up_neither_open_nor_close);
    suite_add_tcase(s, hang);
    TCase *s3 = tcase_create("s3");
    tcase_add_checked_fixture(s3, setup, teardown);
    tcase_set_timeout(s3, 300);
    tcase_add_test(s3, tier_restore_from_s3_bucket_serves_every_key);
    tcase_add_test(s3, tier_reopen_finds_the_newest_manifest_with_one_list_page);
    tcase_add_test(s3, tier_wrong_secret_is_a_clear_error_and_writes_land_locally);
    tcase_add_test(s3, tier_uploader_survives_storms_against_s3_with_zero_loss);
    suite_add_tcase(s, s3);
    return s;
}

int main(void)
{
    return tu_run_suite(tier_suite());
}
