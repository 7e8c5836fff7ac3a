/* Compaction: what a user relies on. Overwritten versions and deletes give their space back, reads
 * stay correct (checked against a model of every key) while segments are merged in the background
 * and after reopen, a point read consults a bounded number of segments, append-only data moves
 * down the levels without being rewritten, and with a cold tier the bucket alone restores the
 * compacted store. */
#include <check.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cold.h"
#include "remote.h"
#include "floe.h"
#include "store.h"
#include "clock.h"
#include "testutil.h"
#include "tools/tools.h"

static char *data_dir, *cold_dir;

static void setup(void)
{
    data_dir = tu_tmpdir("compact");
    cold_dir = tu_tmpdir("compact-cold");
}

static void teardown(void)
{
    tu_rmrf(data_dir);
    tu_rmrf(cold_dir);
    free(data_dir);
    free(cold_dir);
}

#define MAX_KEYS 4000

/* The model: for each key index, the version written last (0: never written or deleted). */
typedef struct model {
    uint32_t version[MAX_KEYS];
} model;

static floe_options small_opts(void)
{
    floe_options o;
    floe_options_init(&o);
    o.wal.sync = FLOE_SYNC_NEVER;
    o.segment.max_bytes = 64 * 1024;
    o.segment.block_bytes = 4096;
    o.cache.object_bytes = 0; /* reads go to the segments */
    o.compaction.l0_trigger = 0; /* tests that want the thread turn it on */
    o.compaction.level_base_bytes = 256 * 1024;
    o.compaction.level_ratio = 4;
    o.compaction.segment_bytes = 64 * 1024;
    o.compaction.max_bytes_per_s = 0;
    return o;
}

static floe_options cold_opts(void)
{
    floe_options o = small_opts();
    o.cold.backend = FLOE_COLD_FS;
    o.cold.fs_path = cold_dir;
    o.upload.concurrency = 2;
    o.gc.interval_s = 0;
    return o;
}

static floe_t *open_store(const floe_options *o)
{
    floe_t *db = NULL;
    int rc = floe_open(data_dir, o, &db);
    ck_assert_msg(rc == 0, "open: %s", floe_last_error());
    return db;
}

static void key_of(int i, char *k, size_t cap)
{
    snprintf(k, cap, "key/%06d", i);
}

/* value_len bytes that depend on key and version. */
static size_t value_of(int i, uint32_t version, size_t value_len, char *v)
{
    for (size_t b = 0; b < value_len; b++)
        v[b] = (char)('a' + (i * 7 + version * 13 + b) % 26);
    return value_len;
}

static void put(floe_t *db, model *m, int i, uint32_t version, size_t value_len)
{
    char k[32], v[2048];
    key_of(i, k, sizeof k);
    value_of(i, version, value_len, v);
    int rc = floe_put(db, k, strlen(k), v, value_len, NULL, NULL);
    ck_assert_msg(rc == 0, "put %s: %s", k, floe_last_error());
    m->version[i] = version;
}

static void del(floe_t *db, model *m, int i)
{
    char k[32];
    key_of(i, k, sizeof k);
    ck_assert_int_eq(floe_delete(db, k, strlen(k), NULL), 0);
    m->version[i] = 0;
}

/* Every key of the model reads back as the model says, and a list shows exactly the live keys. */
static void check_model(floe_t *db, const model *m, int n_keys, size_t value_len)
{
    char k[32], v[2048];
    size_t live = 0;
    for (int i = 0; i < n_keys; i++) {
        key_of(i, k, sizeof k);
        floe_value got = {0};
        int rc = floe_get(db, k, strlen(k), &got);
        if (!m->version[i]) {
            ck_assert_msg(rc == FLOE_ENOTFOUND, "get %s: deleted key came back (rc %d)", k, rc);
            continue;
        }
        live++;
        ck_assert_msg(rc == 0, "get %s: %s", k, floe_last_error());
        value_of(i, m->version[i], value_len, v);
        ck_assert_uint_eq(got.len, value_len);
        ck_assert_msg(memcmp(got.data, v, value_len) == 0, "get %s: not version %u", k, m->version[i]);
        floe_value_free(&got);
    }
    floe_list *l = NULL;
    ck_assert_int_eq(floe_list_keys(db, "key/", 4, NULL, 0, 100000, &l), 0);
    ck_assert_uint_eq(l->count, live);
    floe_list_free(l);
}

static floe_stats stats(floe_t *db)
{
    floe_stats st;
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    return st;
}

/* Overwriting the same keys many times leaves many times the live bytes in segments; floe_compact
 * brings the disk back to about the live data and every key still reads its newest value. */
START_TEST(compact_overwrites_shrink_to_the_live_data)
{
    static model m;
    memset(&m, 0, sizeof m);
    floe_options o = small_opts();
    floe_t *db = open_store(&o);
    const int n = 1000;
    const size_t vlen = 200;
    for (uint32_t round = 1; round <= 10; round++)
        for (int i = 0; i < n; i++)
            put(db, &m, i, round, vlen);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    floe_stats before = stats(db);
    uint64_t live = (uint64_t)n * (vlen + 10);
    ck_assert_uint_gt(before.local_segment_bytes, 8 * live);
    ck_assert_uint_gt(before.segments_per_read_max, 20);

    int rc = floe_compact(db);
    ck_assert_msg(rc == 0, "compact: %s", floe_last_error());
    floe_stats after = stats(db);
    ck_assert_msg(after.local_segment_bytes <= live * 3 / 2, "%" PRIu64 " bytes on disk for %" PRIu64 " live",
                  after.local_segment_bytes, live);
    ck_assert_uint_eq(after.segments_level0, 0);
    ck_assert_uint_le(after.segments_per_read_max, 2);
    ck_assert_uint_ge(after.compactions, 1);
    ck_assert_uint_gt(after.compaction_bytes_written, 0);
    ck_assert_uint_ge(after.compaction_bytes_read, before.local_segment_bytes);
    ck_assert_uint_eq(after.compaction_queue_depth, 0);
    check_model(db, &m, n, vlen);
    ck_assert_int_eq(floe_close(db), 0);

    /* The segment directory holds only the compacted files, and a reopen reads them. */
    db = open_store(&o);
    check_model(db, &m, n, vlen);
    ck_assert_uint_le(stats(db).segments_per_read_max, 2);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* Deleting half the keys and compacting frees their space: the tombstones hide nothing older any
 * more, so they go too, and the deleted keys stay deleted across a reopen. */
START_TEST(compact_deletes_free_their_space)
{
    static model m;
    memset(&m, 0, sizeof m);
    floe_options o = small_opts();
    floe_t *db = open_store(&o);
    const int n = 2000;
    const size_t vlen = 300;
    for (int i = 0; i < n; i++)
        put(db, &m, i, 1, vlen);
    ck_assert_int_eq(floe_compact(db), 0);
    uint64_t full = stats(db).local_segment_bytes;
    for (int i = 0; i < n; i += 2)
        del(db, &m, i);
    ck_assert_int_eq(floe_compact(db), 0);
    uint64_t half = stats(db).local_segment_bytes;
    ck_assert_msg(half <= full * 6 / 10, "%" PRIu64 " bytes after deleting half of %" PRIu64, half, full);
    check_model(db, &m, n, vlen);
    ck_assert_int_eq(floe_close(db), 0);
    db = open_store(&o);
    check_model(db, &m, n, vlen);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* Writes in key order never overlap what is below them: each segment moves down a level as it is,
 * and nothing is rewritten. */
START_TEST(compact_moves_append_only_data_without_rewriting_it)
{
    static model m;
    memset(&m, 0, sizeof m);
    floe_options o = small_opts();
    floe_t *db = open_store(&o);
    const size_t vlen = 500;
    for (int i = 0; i < 3000; i++) {
        put(db, &m, i, 1, vlen);
        if (i % 500 == 499)
            ck_assert_int_eq(floe_compact(db), 0);
    }
    ck_assert_int_eq(floe_compact(db), 0);
    floe_stats st = stats(db);
    ck_assert_uint_ge(st.compaction_moves, 6);
    ck_assert_uint_eq(st.compaction_bytes_written, 0);
    ck_assert_uint_eq(st.segments_level0, 0);
    check_model(db, &m, 3000, vlen);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* Random puts, overwrites and deletes with the background thread compacting as it goes: reads match
 * the model throughout and after reopen, and a point read's segments stay bounded (level 0 under its
 * trigger plus one per level) while the number of segments written grows far past that. */
static void background_workload(const floe_options *o, int reopen_checks)
{
    static model m;
    memset(&m, 0, sizeof m);
    floe_t *db = open_store(o);
    uint64_t rnd = 42;
    const int n = MAX_KEYS;
    const size_t vlen = 120;
    uint32_t version = 0;
    for (int step = 0; step < 30000; step++) {
        int i = (int)(tu_rand64(&rnd) % n);
        if (tu_rand64(&rnd) % 10 == 0)
            del(db, &m, i);
        else
            put(db, &m, i, ++version, vlen);
        if (step % 10000 == 9999)
            check_model(db, &m, n, vlen);
    }
    ck_assert_int_eq(floe_flush(db, o->cold.backend ? FLOE_DURABLE_REMOTE : FLOE_DURABLE_LOCAL), 0);
    floe_stats st = stats(db);
    ck_assert_uint_ge(st.compactions, 3);
    ck_assert_uint_ge(st.seals, 50);
    check_model(db, &m, n, vlen);
    ck_assert_int_eq(floe_compact(db), 0);
    st = stats(db);
    ck_assert_uint_eq(st.segments_level0, 0);
    ck_assert_uint_le(st.segments_per_read_max, 4);
    ck_assert_uint_eq(st.compaction_errors, 0);
    check_model(db, &m, n, vlen);
    ck_assert_int_eq(floe_close(db), 0);
    for (int r = 0; r < reopen_checks; r++) {
        db = open_store(o);
        check_model(db, &m, n, vlen);
        ck_assert_int_eq(floe_close(db), 0);
    }
    if (o->cold.backend != FLOE_COLD_FS)
        return;
    /* The bucket alone rebuilds the compacted store. */
    tu_rmrf(data_dir);
    cold_t *c = NULL;
    ck_assert_int_eq(cold_open_fs(cold_dir, &c), 0);
    int rc = tools_restore(c, data_dir, NULL);
    ck_assert_msg(rc == 0, "restore: %s", floe_last_error());
    cold_close(c);
    db = open_store(o);
    check_model(db, &m, n, vlen);
    ck_assert_uint_le(stats(db).segments_per_read_max, 4);
    ck_assert_int_eq(floe_close(db), 0);
}

START_TEST(compact_in_the_background_keeps_reads_right_and_bounded)
{
    floe_options o = small_opts();
    o.compaction.l0_trigger = 4;
    background_workload(&o, 1);
}
END_TEST

START_TEST(compact_with_a_cold_tier_publishes_and_restores)
{
    floe_options o = cold_opts();
    o.compaction.l0_trigger = 4;
    o.local.max_bytes = 256 * 1024; /* inputs are evicted: compaction downloads them */
    background_workload(&o, 1);
}
END_TEST

/* With a cold tier the bucket's newest manifest names the compacted segments, not the ones they
 * replaced, and those are deleted only by gc: first the manifest, then the objects. */
START_TEST(compact_with_a_cold_tier_replaces_segments_in_the_bucket)
{
    static model m;
    memset(&m, 0, sizeof m);
    floe_options o = cold_opts();
    floe_t *db = open_store(&o);
    for (uint32_t round = 1; round <= 5; round++)
        for (int i = 0; i < 800; i++)
            put(db, &m, i, round, 200);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    floe_stats before = stats(db);
    ck_assert_int_eq(floe_compact(db), 0);
    floe_stats after = stats(db);
    ck_assert_uint_gt(after.manifest_version, before.manifest_version);
    ck_assert_uint_eq(after.segments_uploading + after.segments_local, 0);
    ck_assert_uint_lt(after.segments_local_remote + after.segments_remote,
                      before.segments_local_remote + before.segments_remote);
    ck_assert_int_eq(floe_close(db), 0);

    cold_t *c = NULL;
    ck_assert_int_eq(cold_open_fs(cold_dir, &c), 0);
    uint64_t version = 0;
    manifest *newest = NULL;
    ck_assert_int_eq(remote_latest(c, &version, &newest), 0);
    for (size_t i = 0; i < newest->count; i++) {
        ck_assert_uint_ge(newest->segments[i].level, 1);
        ck_assert_msg(tu_cold_exists(c, newest->segments[i].object_key), "%s", newest->segments[i].object_key);
    }
    manifest_free(newest);
    cold_close(c);
    db = open_store(&o);
    check_model(db, &m, 800, 200);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

static _Atomic uint64_t fake_now_ms; /* read by the store's threads */

static uint64_t fake_clock(void)
{
    return fake_now_ms;
}

/* Expired objects are unreadable at once, and compaction gives their bytes back. */
START_TEST(compact_removes_what_retention_expired)
{
    static model m;
    memset(&m, 0, sizeof m);
    fake_now_ms = 1800000000000ull;
    clock_set_unix_ms_source(fake_clock);
    floe_retention_rule rules[] = {{.prefix = "key/", .max_age_s = 60}};
    floe_options o = small_opts();
    o.retention = rules;
    o.retention_count = 1;
    floe_t *db = open_store(&o);
    for (int i = 0; i < 1500; i++)
        put(db, &m, i, 1, 300);
    ck_assert_int_eq(floe_compact(db), 0);
    uint64_t full = stats(db).local_segment_bytes;
    check_model(db, &m, 1500, 300);
    fake_now_ms += 61 * 1000;
    memset(&m, 0, sizeof m); /* all expired: the model says absent */
    check_model(db, &m, 1500, 300);
    ck_assert_int_eq(floe_compact(db), 0);
    floe_stats st = stats(db);
    ck_assert_uint_ge(st.compaction_expired, 1500);
    ck_assert_msg(st.local_segment_bytes < full / 10, "%" PRIu64 " bytes left of %" PRIu64, st.local_segment_bytes,
                  full);
    check_model(db, &m, 1500, 300);
    ck_assert_int_eq(floe_close(db), 0);
    clock_set_unix_ms_source(NULL);
}
END_TEST

/* Without floe_compact: once the first version of a segment expires, the background thread
 * rewrites it and the expired bytes leave. */
START_TEST(compact_in_the_background_removes_what_expired)
{
    static model m;
    memset(&m, 0, sizeof m);
    fake_now_ms = 1800000000000ull;
    clock_set_unix_ms_source(fake_clock);
    floe_retention_rule rules[] = {{.prefix = "key/", .max_age_s = 60}};
    floe_options o = small_opts();
    o.retention = rules;
    o.retention_count = 1;
    o.compaction.l0_trigger = 4;
    floe_t *db = open_store(&o);
    for (int i = 0; i < 1500; i++)
        put(db, &m, i, 1, 300);
    ck_assert_int_eq(floe_compact(db), 0);
    uint64_t full = stats(db).local_segment_bytes;
    fake_now_ms += 61 * 1000;
    ck_assert_int_eq(floe_put(db, "other", 5, "x", 1, NULL, NULL), 0);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0); /* a segment written: the thread looks */
    floe_stats st = stats(db);
    for (int i = 0; i < 200 && st.local_segment_bytes >= full / 10; i++) {
        clock_sleep_ms(50);
        st = stats(db);
    }
    ck_assert_msg(st.local_segment_bytes < full / 10, "%" PRIu64 " bytes left of %" PRIu64, st.local_segment_bytes,
                  full);
    ck_assert_uint_ge(st.compaction_expired, 1500);
    memset(&m, 0, sizeof m);
    check_model(db, &m, 1500, 300);
    ck_assert_int_eq(floe_close(db), 0);
    clock_set_unix_ms_source(NULL);
}
END_TEST

/* Writers faster than compaction wait at compaction.l0_stop level-0 segments instead of letting
 * them pile up: a point read's segments stay bounded. */
START_TEST(compact_writers_wait_for_a_compaction_that_is_behind)
{
    static model m;
    memset(&m, 0, sizeof m);
    floe_options o = small_opts();
    o.compaction.l0_trigger = 2;
    o.compaction.l0_stop = 4;
    o.compaction.max_bytes_per_s = 2 * 1024 * 1024; /* slow, so writes outrun it */
    o.upload.wait_ms = 60000;
    floe_t *db = open_store(&o);
    uint64_t rnd = 7, most = 0;
    for (int step = 0; step < 12000; step++) {
        int i = (int)(tu_rand64(&rnd) % MAX_KEYS);
        put(db, &m, i, (uint32_t)step + 1, 120);
        if (step % 50 == 0) {
            floe_stats st = stats(db);
            if (st.segments_level0 > most)
                most = st.segments_level0;
        }
    }
    ck_assert_msg(most <= 4 + 2, "level 0 reached %" PRIu64 " segments with l0_stop 4", most);
    ck_assert_uint_ge(stats(db).compactions, 3);
    check_model(db, &m, MAX_KEYS, 120);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

static int get_rc(floe_t *db, const char *key);
static size_t list_count(floe_t *db, const char *prefix);

/* A backlog of level-0 segments merges into a level 1 of many small segments: a job takes as many
 * overlapping level-1 inputs as there are (once limited to 128 inputs in all, which made
 * floe_compact fail). */
START_TEST(compact_merges_a_level0_backlog_into_a_wide_level1)
{
    floe_options o = small_opts();
    o.segment.max_bytes = 16 * 1024;
    o.compaction.segment_bytes = 64 * 1024;
    o.compaction.level_base_bytes = 64ull << 20; /* level 1 may grow wide */
    floe_t *db = open_store(&o);
    char k[32], v[100];
    const uint32_t n = 60000;
    for (int round = 0; round < 2; round++) {
        memset(v, 'a' + round, sizeof v);
        for (uint32_t i = 0; i < n; i++) { /* distinct keys in a scattered order */
            snprintf(k, sizeof k, "wide/%08x", (uint32_t)((uint64_t)i * 2654435761u % n));
            ck_assert_int_eq(floe_put(db, k, strlen(k), v, sizeof v, NULL, NULL), 0);
        }
        ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
        ck_assert_uint_gt(stats(db).segments_level0, 128);
        /* The second round's backlog meets the wide level 1 the first one made. */
        int rc = floe_compact(db);
        ck_assert_msg(rc == 0, "compact: %s", floe_last_error());
        ck_assert_uint_eq(stats(db).segments_level0, 0);
    }
    for (uint32_t i = 0; i < n; i += 7) {
        snprintf(k, sizeof k, "wide/%08x", i);
        floe_value got = {0};
        ck_assert_msg(floe_get(db, k, strlen(k), &got) == 0, "%s", k);
        ck_assert_int_eq(((char *)got.data)[0], 'b');
        floe_value_free(&got);
    }
    ck_assert_uint_eq(list_count(db, "wide/"), n);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

static int get_rc(floe_t *db, const char *key)
{
    floe_value v = {0};
    int rc = floe_get(db, key, strlen(key), &v);
    floe_value_free(&v);
    return rc;
}

static size_t list_count(floe_t *db, const char *prefix)
{
    floe_list *l = NULL;
    ck_assert_int_eq(floe_list_keys(db, prefix, strlen(prefix), NULL, 0, 100000, &l), 0);
    size_t n = l->count;
    floe_list_free(l);
    return n;
}

static void put_str(floe_t *db, const char *key, const char *value)
{
    ck_assert_int_eq(floe_put(db, key, strlen(key), value, strlen(value), NULL, NULL), 0);
}

/* floe_delete_prefix hides every key under the prefix at once (object cache included), keeps
 * later writes, survives a restart from the WAL and from segments, and compaction gives the bytes
 * back, dropping the segments that lie wholly under the prefix without reading them; with a cold
 * tier, a restore from the bucket keeps them deleted. */
static void prefix_delete_round_trip(floe_options *o)
{
    o->cache.object_bytes = 1 << 20; /* cached values must be hidden too */
    floe_t *db = open_store(o);
    char k[64], v[400];
    memset(v, 'x', sizeof v - 1);
    v[sizeof v - 1] = '\0';
    for (int i = 0; i < 600; i++) {
        snprintf(k, sizeof k, "logs/%05d", i);
        put_str(db, k, v);
    }
    ck_assert_int_eq(floe_flush(db, o->cold.backend ? FLOE_DURABLE_REMOTE : FLOE_DURABLE_LOCAL), 0);
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "keep/%05d", i);
        put_str(db, k, v);
    }
    ck_assert_int_eq(get_rc(db, "logs/00007"), 0); /* now in the object cache */
    uint64_t seq = 0;
    ck_assert_int_eq(floe_delete_prefix(db, "logs/", 5, &seq), 0);
    ck_assert_uint_gt(seq, 0);
    ck_assert_int_eq(get_rc(db, "logs/00007"), FLOE_ENOTFOUND);
    ck_assert_int_eq(get_rc(db, "logs/00500"), FLOE_ENOTFOUND);
    ck_assert_uint_eq(list_count(db, "logs/"), 0);
    ck_assert_uint_eq(list_count(db, ""), 300);
    put_str(db, "logs/after", "new");
    ck_assert_int_eq(get_rc(db, "logs/after"), 0);
    ck_assert_int_eq(floe_close(db), 0);

    db = open_store(o); /* the delete comes back from the WAL */
    ck_assert_int_eq(get_rc(db, "logs/00007"), FLOE_ENOTFOUND);
    ck_assert_int_eq(get_rc(db, "logs/after"), 0);
    ck_assert_uint_eq(list_count(db, "logs/"), 1);
    ck_assert_int_eq(floe_flush(db, o->cold.backend ? FLOE_DURABLE_REMOTE : FLOE_DURABLE_LOCAL), 0);
    ck_assert_int_eq(floe_close(db), 0);

    db = open_store(o); /* ... and from the manifest once its WAL file is gone */
    ck_assert_int_eq(get_rc(db, "logs/00007"), FLOE_ENOTFOUND);
    uint64_t before = stats(db).local_segment_bytes + stats(db).segments_remote;
    ck_assert_int_eq(floe_compact(db), 0);
    floe_stats st = stats(db);
    ck_assert_uint_ge(st.compaction_drops, 1);
    if (!o->cold.backend)
        ck_assert_msg(st.local_segment_bytes < before / 2, "%" PRIu64 " of %" PRIu64, st.local_segment_bytes, before);
    ck_assert_int_eq(get_rc(db, "logs/00007"), FLOE_ENOTFOUND);
    ck_assert_int_eq(get_rc(db, "keep/00007"), 0);
    ck_assert_int_eq(get_rc(db, "logs/after"), 0);
    ck_assert_uint_eq(list_count(db, ""), 301);
    ck_assert_int_eq(floe_close(db), 0);
    db = open_store(o);
    ck_assert_int_eq(get_rc(db, "logs/00599"), FLOE_ENOTFOUND);
    ck_assert_uint_eq(list_count(db, ""), 301);
    ck_assert_int_eq(floe_close(db), 0);
    if (!o->cold.backend)
        return;
    tu_rmrf(data_dir);
    cold_t *c = NULL;
    ck_assert_int_eq(cold_open_fs(cold_dir, &c), 0);
    ck_assert_int_eq(tools_restore(c, data_dir, NULL), 0);
    cold_close(c);
    db = open_store(o);
    ck_assert_int_eq(get_rc(db, "logs/00007"), FLOE_ENOTFOUND);
    ck_assert_uint_eq(list_count(db, ""), 301);
    ck_assert_int_eq(floe_close(db), 0);
}

START_TEST(compact_prefix_delete_hides_at_once_and_frees_the_space)
{
    floe_options o = small_opts();
    prefix_delete_round_trip(&o);
}
END_TEST

START_TEST(compact_prefix_delete_with_a_cold_tier_survives_a_restore)
{
    floe_options o = cold_opts();
    prefix_delete_round_trip(&o);
}
END_TEST

START_TEST(compact_prefix_delete_refuses_an_empty_prefix)
{
    floe_options o = small_opts();
    floe_t *db = open_store(&o);
    ck_assert_int_eq(floe_delete_prefix(db, "", 0, NULL), FLOE_EKEY);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "empty"));
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* Every manifest version the bucket keeps restores to exactly the state the store had when it
 * published it: compaction never makes a restore to an older manifest bring back a key that was
 * deleted (by key or by prefix) or overwritten before it. */
START_TEST(compact_restore_to_any_retained_manifest_gives_its_state)
{
    static model m, at[3];
    uint64_t version[3];
    memset(&m, 0, sizeof m);
    floe_options o = cold_opts();
    floe_t *db = open_store(&o);
    for (int phase = 0; phase < 3; phase++) {
        if (phase == 0)
            for (int i = 0; i < 800; i++)
                put(db, &m, i, 1, 150);
        if (phase == 1) {
            for (int i = 0; i < 400; i++)
                put(db, &m, i, 2, 150);
            for (int i = 400; i < 600; i++)
                del(db, &m, i);
        }
        if (phase == 2) {
            ck_assert_int_eq(floe_delete_prefix(db, "key/0001", 8, NULL), 0);
            for (int i = 100; i < 200; i++)
                m.version[i] = 0;
            for (int i = 700; i < 800; i++)
                put(db, &m, i, 3, 150);
        }
        ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
        ck_assert_int_eq(floe_compact(db), 0);
        version[phase] = stats(db).manifest_version;
        at[phase] = m;
    }
    ck_assert_int_eq(floe_close(db), 0);
    for (int phase = 0; phase < 3; phase++) {
        char *copy = tu_tmpdir("compact-restore"), cmd[2048];
        snprintf(cmd, sizeof cmd, "cp -a %s/. %s/", cold_dir, copy);
        ck_assert_int_eq(system(cmd), 0);
        cold_t *c = NULL;
        ck_assert_int_eq(cold_open_fs(copy, &c), 0);
        for (uint64_t v = version[phase] + 1; v <= version[2] + 4; v++) {
            char key[COLD_LAYOUT_KEY_MAX];
            cold_manifest_key(v, key);
            ck_assert_int_eq(cold_delete(c, key), 0); /* as if the store had stopped at version[phase] */
        }
        tu_rmrf(data_dir);
        int rc = tools_restore(c, data_dir, NULL);
        ck_assert_msg(rc == 0, "restore of version %" PRIu64 ": %s", version[phase], floe_last_error());
        cold_close(c);
        floe_options ro = o;
        ro.cold.fs_path = copy;
        db = open_store(&ro);
        check_model(db, &at[phase], 800, 150);
        ck_assert_int_eq(floe_close(db), 0);
        tu_rmrf(copy);
        free(copy);
    }
}
END_TEST

/* floe_compact's errors are clear. */
START_TEST(compact_refuses_a_null_store)
{
    ck_assert_int_eq(floe_compact(NULL), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "floe_compact"));
}
END_TEST

static Suite *compact_suite(void)
{
    Suite *s = suite_create("compact");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, compact_overwrites_shrink_to_the_live_data);
    tcase_add_test(tc, compact_deletes_free_their_space);
    tcase_add_test(tc, compact_moves_append_only_data_without_rewriting_it);
    tcase_add_test(tc, compact_in_the_background_keeps_reads_right_and_bounded);
    tcase_add_test(tc, compact_with_a_cold_tier_publishes_and_restores);
    tcase_add_test(tc, compact_with_a_cold_tier_replaces_segments_in_the_bucket);
    tcase_add_test(tc, compact_refuses_a_null_store);
    tcase_add_test(tc, compact_merges_a_level0_backlog_into_a_wide_level1);
    tcase_add_test(tc, compact_writers_wait_for_a_compaction_that_is_behind);
    tcase_add_test(tc, compact_restore_to_any_retained_manifest_gives_its_state);
    tcase_add_test(tc, compact_removes_what_retention_expired);
    tcase_add_test(tc, compact_in_the_background_removes_what_expired);
    tcase_add_test(tc, compact_prefix_delete_hides_at_once_and_frees_the_space);
    tcase_add_test(tc, compact_prefix_delete_with_a_cold_tier_survives_a_restore);
    tcase_add_test(tc, compact_prefix_delete_refuses_an_empty_prefix);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(compact_suite());
}
