/* The store through its public API: reads fall through every tier, overwrites and deletes, list,
 * sealing, reopen and recovery, bad input and damaged files. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "floe.h"
#include "segment.h"
#include "testutil.h"

static char *dir;

/* A wall clock the tests move by hand (clock_set_unix_ms_source): write times and retention's "now". */
static _Atomic uint64_t fake_now_ms;

static uint64_t fake_clock(void)
{
    return fake_now_ms;
}

static void setup(void)
{
    dir = tu_tmpdir("db");
}

static void teardown(void)
{
    clock_set_unix_ms_source(NULL);
    tu_rmrf(dir);
    free(dir);
}

static floe_options small_opts(void)
{
    floe_options o;
    floe_options_init(&o);
    o.wal.sync = FLOE_SYNC_NEVER;
    o.segment.max_bytes = 1 << 20;
    o.segment.block_bytes = 4096;
    return o;
}

static floe_t *open_or_die(const floe_options *o)
{
    floe_t *db = NULL;
    int rc = floe_open(dir, o, &db);
    ck_assert_msg(rc == 0, "floe_open: %s: %s", floe_strerror(rc), floe_last_error());
    return db;
}

static void put_str(floe_t *db, const char *k, const char *v)
{
    int rc = floe_put(db, k, strlen(k), v, strlen(v), NULL, NULL);
    ck_assert_msg(rc == 0, "put %s: %s", k, floe_last_error());
}

/* Asserts key reads back as want (NULL: not found) and returns the tier that served it. */
static floe_tier expect_value(floe_t *db, const char *k, const char *want)
{
    floe_value v = {0};
    int rc = floe_get(db, k, strlen(k), &v);
    if (!want) {
        ck_assert_msg(rc == FLOE_ENOTFOUND, "get %s: expected not found, got %d (%s)", k, rc,
                      rc == 0 ? (char *)v.data : floe_last_error());
        floe_value_free(&v);
        return FLOE_TIER_MEMORY;
    }
    ck_assert_msg(rc == 0, "get %s: %s: %s", k, floe_strerror(rc), floe_last_error());
    ck_assert_uint_eq(v.len, strlen(want));
    ck_assert_mem_eq(v.data, want, v.len);
    floe_tier t = v.tier;
    floe_value_free(&v);
    return t;
}

static char *first_segment_path(void)
{
    char sd[512];
    snprintf(sd, sizeof sd, "%s/segments", dir);
    DIR *d = opendir(sd);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    char *found = NULL;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n > 4 && strcmp(de->d_name + n - 4, ".seg") == 0) {
            size_t len = strlen(sd) + n + 2;
            found = malloc(len);
            snprintf(found, len, "%s/%s", sd, de->d_name);
            break;
        }
    }
    closedir(d);
    ck_assert_ptr_nonnull(found);
    return found;
}

static int count_wal_files(void)
{
    char wd[512];
    snprintf(wd, sizeof wd, "%s/wal", dir);
    DIR *d = opendir(wd);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".log"))
            n++;
    closedir(d);
    return n;
}

/* A store written by floe before WAL sync marks (WAL format version 1, kept in tests/data/store-v1:
 * 30 objects in a version 1 segment, then ten more puts, two deletes and an overwrite only in the
 * WAL) opens with everything in it, every old object with write time 0 (unknown), takes new writes
 * into a version 3 WAL file with their write times, and opens again. */
START_TEST(db_store_written_with_the_version_1_wal_opens)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp -r '%s/tests/data/store-v1/.' '%s/'", FLOE_SOURCE_DIR, dir);
    ck_assert_int_eq(system(cmd), 0);
    floe_options o = small_opts();
    for (int round = 0; round < 2; round++) {
        floe_t *db = open_or_die(&o);
        for (int i = 0; i < 40; i++) {
            char k[16], v[64];
            snprintf(k, sizeof k, "old-%02d", i);
            snprintf(v, sizeof v, "value %d written by the version 1 WAL", i);
            expect_value(db, k, i == 3 || i == 33 ? NULL : i == 5 ? "old-05 overwritten in the WAL" : v);
        }
        floe_value v = {0};
        ck_assert_int_eq(floe_get(db, "old-07", 6, &v), 0);
        ck_assert_str_eq(v.content_type, "text/plain");
        ck_assert_uint_eq(v.write_ms, 0); /* from the version 1 segment (or the cache) */
        floe_value_free(&v);
        ck_assert_int_eq(floe_get(db, "old-35", 6, &v), 0); /* from the version 1 WAL */
        ck_assert_uint_eq(v.write_ms, 0);
        floe_value_free(&v);
        if (round == 0)
            put_str(db, "new", "written after the upgrade");
        expect_value(db, "new", "written after the upgrade");
        ck_assert_int_eq(floe_get(db, "new", 3, &v), 0);
        ck_assert_uint_gt(v.write_ms, 0);
        floe_value_free(&v);
        ck_assert_int_eq(floe_close(db), 0);
    }
}
END_TEST

/* A store written by the floe before per-interval block CRCs (tests/data/store-v2: 600 puts of
 * 200-byte values, every 50th key deleted, in one version 2 segment of 4 KiB blocks; WAL format 3,
 * manifest format 2) opens and reads back every key with its write time; compaction then rewrites
 * it as version 3, and everything reads the same. */
START_TEST(db_store_written_with_version_2_segments_opens)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp -r '%s/tests/data/store-v2/.' '%s/'", FLOE_SOURCE_DIR, dir);
    ck_assert_int_eq(system(cmd), 0);
    floe_options o = small_opts();
    o.cache.object_bytes = 0; /* every read from the segment */
    for (int round = 0; round < 2; round++) {
        floe_t *db = open_or_die(&o);
        for (int i = 0; i < 600; i++) {
            char k[16], v[256];
            snprintf(k, sizeof k, "key-%05d", i);
            int n = snprintf(v, sizeof v, "value-%05d-", i);
            memset(v + n, 'a' + i % 26, (size_t)(200 - n));
            v[200] = '\0';
            if (i == 0 && round == 1) {
                expect_value(db, k, "written after the upgrade");
                continue;
            }
            expect_value(db, k, i % 50 == 0 ? NULL : v);
            if (i % 50 == 0)
                continue;
            floe_value fv = {0};
            ck_assert_int_eq(floe_get(db, k, strlen(k), &fv), 0);
            ck_assert_uint_gt(fv.write_ms, 0);
            if (i % 7 == 0)
                ck_assert_str_eq(fv.content_type, "text/plain");
            else
                ck_assert_ptr_null(fv.content_type);
            floe_value_free(&fv);
        }
        if (round == 0) {
            put_str(db, "key-00000", "written after the upgrade");
            ck_assert_int_eq(floe_compact(db), 0);
        }
        ck_assert_int_eq(floe_close(db), 0);
        if (round == 0) {
            /* floe_compact merged the version 2 segment with the new write into new segments. */
            snprintf(cmd, sizeof cmd, "! test -e '%s/segments/00000000000000000001.seg'", dir);
            ck_assert_int_eq(system(cmd), 0);
        }
    }
}
END_TEST

/* A store written by the floe before object records (tests/data/store-v3, made by commit b3124e2:
 * 300 puts of 150-byte values, every 30th key deleted, in one version 3 segment of 4 KiB blocks;
 * then, only in a version 3 WAL file, 20 puts, a delete and an overwrite) opens with everything in
 * it, takes chunked and inline objects (WAL and segment version 4), compacts everything into
 * version 4 segments, and reads the same after every step. */
START_TEST(db_store_written_with_version_3_segments_and_wal_opens)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp -r '%s/tests/data/store-v3/.' '%s/'", FLOE_SOURCE_DIR, dir);
    ck_assert_int_eq(system(cmd), 0);
    floe_options o = small_opts();
    o.cache.object_bytes = 0;
    o.object.chunk_bytes = 64 * 1024;
    static uint8_t big[200 * 1000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7 + i / 1000);
    for (int round = 0; round < 3; round++) {
        floe_t *db = open_or_die(&o);
        for (int i = 0; i < 300; i++) {
            char k[16], v[256];
            snprintf(k, sizeof k, "key-%05d", i);
            int n = snprintf(v, sizeof v, "value-%05d-", i);
            memset(v + n, 'a' + i % 26, (size_t)(150 - n));
            v[150] = '\0';
            expect_value(db, k, i % 30 == 0 || i == 1 ? NULL : i == 2 ? "overwritten in the WAL" : v);
        }
        for (int i = 0; i < 20; i++) {
            char k[16], v[32];
            snprintf(k, sizeof k, "wal-%02d", i);
            snprintf(v, sizeof v, "wal value %d", i);
            expect_value(db, k, v);
        }
        floe_value fv = {0};
        ck_assert_int_eq(floe_get(db, "wal-07", 6, &fv), 0);
        ck_assert_str_eq(fv.content_type, "text/x-wal");
        ck_assert_uint_gt(fv.write_ms, 0);
        ck_assert_int_eq(fv.md5_known, 0);
        floe_value_free(&fv);
        if (round == 0) {
            floe_writer *w = NULL;
            ck_assert_int_eq(floe_writer_begin(db, "obj/big", 7, NULL, &w), 0);
            ck_assert_int_eq(floe_writer_write(w, big, sizeof big), 0);
            ck_assert_int_eq(floe_writer_commit(w, NULL), 0);
            ck_assert_int_eq(floe_writer_begin(db, "obj/small", 9, NULL, &w), 0);
            ck_assert_int_eq(floe_writer_write(w, "tiny", 4), 0);
            ck_assert_int_eq(floe_writer_commit(w, NULL), 0);
        }
        ck_assert_int_eq(floe_get(db, "obj/big", 7, &fv), 0);
        ck_assert_uint_eq(fv.len, sizeof big);
        ck_assert_mem_eq(fv.data, big, sizeof big);
        ck_assert_int_eq(fv.chunked, 1);
        floe_value_free(&fv);
        expect_value(db, "obj/small", "tiny");
        if (round == 1)
            ck_assert_int_eq(floe_compact(db), 0);
        ck_assert_int_eq(floe_close(db), 0);
        if (round == 1) {
            snprintf(cmd, sizeof cmd, "! test -e '%s/segments/00000000000000000001.seg'", dir);
            ck_assert_int_eq(system(cmd), 0);
        }
    }
}
END_TEST

/* floe_get's (and floe_list_keys') write time is the one the write took, from the pending segment, after a WAL replay,
 * from a segment file and from the object cache alike. */
START_TEST(db_write_time_is_kept_through_wal_segment_and_cache)
{
    const uint64_t t = 1795320208123ull;
    fake_now_ms = t;
    clock_set_unix_ms_source(fake_clock);
    floe_options o = small_opts();
    floe_t *db = open_or_die(&o);
    put_str(db, "a", "first");
    fake_now_ms = t + 5000;
    put_str(db, "b", "second");
    fake_now_ms = t + 9999999;
    for (int round = 0; round < 4; round++) {
        floe_value v = {0};
        ck_assert_int_eq(floe_get(db, "a", 1, &v), 0);
        ck_assert_uint_eq(v.write_ms, t);
        ck_assert_int_eq(v.tier, round < 2    ? FLOE_TIER_MEMORY
                                 : round == 2 ? FLOE_TIER_LOCAL
                                              : FLOE_TIER_MEMORY);
        floe_value_free(&v);
        ck_assert_int_eq(floe_get(db, "b", 1, &v), 0);
        ck_assert_uint_eq(v.write_ms, t + 5000);
        floe_value_free(&v);
        /* a list gives each key the write time of the version it lists */
        floe_list *l = NULL;
        ck_assert_int_eq(floe_list_keys(db, NULL, 0, NULL, 0, 0, &l), 0);
        ck_assert_uint_eq(l->count, 2);
        ck_assert_uint_eq(l->entries[0].write_ms, t);
        ck_assert_uint_eq(l->entries[1].write_ms, t + 5000);
        floe_list_free(l);
        if (round == 0) { /* replayed from the WAL */
            ck_assert_int_eq(floe_close(db), 0);
            db = open_or_die(&o);
        } else if (round == 1) { /* then read from a segment file, then from the object cache */
            ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
        }
    }
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* floe.h: floe_value.data is NUL-terminated one byte past len, whichever tier served it: the
 * pending segment, a segment file (object cache off, so the file's reader hands its buffer over),
 * and the object cache. */
START_TEST(db_value_is_nul_terminated_from_every_tier)
{
    floe_options o = small_opts();
    o.cache.object_bytes = 0;
    for (int cached = 0; cached < 2; cached++) {
        if (cached)
            o.cache.object_bytes = 1 << 20;
        floe_t *db = open_or_die(&o);
        put_str(db, "nul", "abc");
        for (int round = 0; round < 3; round++) {
            floe_value v = {0};
            ck_assert_int_eq(floe_get(db, "nul", 3, &v), 0);
            ck_assert_uint_eq(v.len, 3);
            ck_assert_int_eq(((const char *)v.data)[3], '\0');
            ck_assert_str_eq((const char *)v.data, "abc");
            floe_value_free(&v);
            if (round == 0)
                ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
        }
        ck_assert_int_eq(floe_close(db), 0);
    }
}
END_TEST

/* floe_head gives floe_get's metadata and the length without the bytes; floe_read_range gives
 * exactly the bytes asked for, cut at the end, and FLOE_ERANGE past it; both alike from the pending
 * segment, a segment file and the object cache, and both say "not found" for a missing or deleted
 * key. */
START_TEST(db_head_and_read_range_from_every_tier)
{
    floe_options o = small_opts();
    char value[1000];
    for (int i = 0; i < 1000; i++)
        value[i] = (char)('a' + i % 26);
    for (int cached = 0; cached < 2; cached++) {
        o.cache.object_bytes = cached ? 1 << 20 : 0;
        floe_t *db = open_or_die(&o);
        uint64_t seq;
        ck_assert_int_eq(floe_put(db, "obj", 3, value, sizeof value, "text/plain", &seq), 0);
        for (int round = 0; round < 3; round++) {
            floe_value h = {0};
            ck_assert_int_eq(floe_head(db, "obj", 3, &h), 0);
            ck_assert_ptr_null(h.data);
            ck_assert_uint_eq(h.len, 1000);
            ck_assert_uint_eq(h.seq, seq);
            ck_assert_uint_gt(h.write_ms, 0);
            ck_assert_str_eq(h.content_type, "text/plain");
            floe_value_free(&h);
            const struct {
                uint64_t off, len, want;
            } cases[] = {{0, 1, 1}, {0, 1000, 1000}, {0, UINT64_MAX, 1000}, {137, 300, 300},
                         {990, 100, 10}, {999, 1, 1}, {1000, 5, 0}, {500, 0, 0}};
            for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                floe_value r = {0};
                uint64_t total = 0;
                ck_assert_int_eq(floe_read_range(db, "obj", 3, cases[i].off, cases[i].len, &r, &total), 0);
                ck_assert_uint_eq(total, 1000);
                ck_assert_uint_eq(r.len, cases[i].want);
                ck_assert_int_eq(memcmp(r.data, value + cases[i].off, r.len), 0);
                ck_assert_int_eq(((const char *)r.data)[r.len], '\0');
                ck_assert_uint_eq(r.seq, seq);
                floe_value_free(&r);
            }
            floe_value r = {0};
            ck_assert_int_eq(floe_read_range(db, "obj", 3, 1001, 1, &r, NULL), FLOE_ERANGE);
            ck_assert_ptr_null(r.data);
            ck_assert_int_eq(floe_read_range(db, "none", 4, 0, 1, &r, NULL), FLOE_ENOTFOUND);
            ck_assert_int_eq(floe_head(db, "none", 4, &r), FLOE_ENOTFOUND);
            /* and a full get still reads the whole value after the partial reads */
            ck_assert_int_eq(floe_get(db, "obj", 3, &r), 0);
            ck_assert_uint_eq(r.len, 1000);
            ck_assert_int_eq(memcmp(r.data, value, 1000), 0);
            floe_value_free(&r);
            if (round == 0)
                ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
        }
        ck_assert_int_eq(floe_delete(db, "obj", 3, NULL), 0);
        floe_value r = {0};
        ck_assert_int_eq(floe_head(db, "obj", 3, &r), FLOE_ENOTFOUND);
        ck_assert_int_eq(floe_read_range(db, "obj", 3, 0, 1, &r, NULL), FLOE_ENOTFOUND);
        ck_assert_int_eq(floe_close(db), 0);
        tu_rmrf(dir);
        ck_assert_int_eq(mkdir(dir, 0755), 0);
    }
}
END_TEST

/* Lists every key under prefix into out (comma-separated). */
static void list_all(floe_t *db, const char *prefix, char *out, size_t cap)
{
    floe_list *l = NULL;
    ck_assert_int_eq(floe_list_keys(db, prefix, strlen(prefix), NULL, 0, 0, &l), 0);
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < l->count; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "," : "", l->entries[i].key);
    floe_list_free(l);
}

/* A retention rule hides an object from get and list the moment its age reaches max_age_s, in
 * every tier (the pending segment, a segment file, the object cache), while a more specific rule
 * with max_age_s 0 keeps a sub-prefix and keys under no rule stay. floe_open copied the rules: the
 * caller's array is gone by the time they are used. */
START_TEST(db_expired_objects_disappear_from_get_and_list)
{
    const uint64_t t = 1795320208000ull;
    fake_now_ms = t;
    clock_set_unix_ms_source(fake_clock);
    floe_options o = small_opts();
    floe_retention_rule *rules = calloc(2, sizeof *rules);
    char *logs = strdup("logs/"), *keep = strdup("logs/keep/");
    rules[0] = (floe_retention_rule){.prefix = logs, .max_age_s = 60};
    rules[1] = (floe_retention_rule){.prefix = keep, .max_age_s = 0};
    o.retention = rules;
    o.retention_count = 2;
    floe_t *db = open_or_die(&o);
    memset(logs, 'x', strlen(logs));
    memset(keep, 'x', strlen(keep));
    free(logs);
    free(keep);
    free(rules);

    char got[256];
    for (int tier = 0; tier < 2; tier++) {
        fake_now_ms = t + (uint64_t)tier * 1000000;
        put_str(db, "logs/a", "expires");
        put_str(db, "logs/keep/b", "kept forever");
        put_str(db, "other/c", "under no rule");
        put_str(db, "logsx", "not under logs/");
        if (tier == 1)
            ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
        fake_now_ms += 59999;
        /* Read once (from the segment file in round 1, which puts it in the object cache), once more. */
        for (int again = 0; again < 2; again++) {
            floe_tier served = expect_value(db, "logs/a", "expires");
            ck_assert_int_eq(served, tier == 1 && again == 0 ? FLOE_TIER_LOCAL : FLOE_TIER_MEMORY);
        }
        list_all(db, "", got, sizeof got);
        ck_assert_str_eq(got, "logs/a,logs/keep/b,logsx,other/c");
        fake_now_ms += 1; /* exactly 60 s after the write */
        expect_value(db, "logs/a", NULL);
        expect_value(db, "logs/keep/b", "kept forever");
        expect_value(db, "other/c", "under no rule");
        expect_value(db, "logsx", "not under logs/");
        list_all(db, "", got, sizeof got);
        ck_assert_str_eq(got, "logs/keep/b,logsx,other/c");
        list_all(db, "logs/", got, sizeof got);
        ck_assert_str_eq(got, "logs/keep/b");
        /* A new write of the key is visible again, and expires on its own schedule. */
        put_str(db, "logs/a", "rewritten");
        expect_value(db, "logs/a", "rewritten");
        fake_now_ms += 60000;
        expect_value(db, "logs/a", NULL);
        expect_value(db, "logs/keep/b", "kept forever");
    }
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* An expired newest version hides the key: the older version below it is never served instead,
 * even when it could not expire itself (written by an older floe, write time 0). Objects with
 * write time 0 never expire under any rule, and a rule for "" covers every key. */
START_TEST(db_expired_newest_version_does_not_bring_back_an_older_one)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp -r '%s/tests/data/store-v1/.' '%s/'", FLOE_SOURCE_DIR, dir);
    ck_assert_int_eq(system(cmd), 0);
    const uint64_t t = 1795320208000ull;
    fake_now_ms = t;
    clock_set_unix_ms_source(fake_clock);
    floe_options o = small_opts();
    floe_retention_rule rules[] = {{.prefix = "", .max_age_s = 3600}};
    o.retention = rules;
    o.retention_count = 1;
    floe_t *db = open_or_die(&o);
    put_str(db, "old-07", "newer, and it expires");
    put_str(db, "old-36", "newer in the WAL, and it expires");
    fake_now_ms = t + 3600 * 1000;
    expect_value(db, "old-07", NULL); /* the old value is in the version 1 segment */
    expect_value(db, "old-36", NULL); /* the old value is in the version 1 WAL */
    fake_now_ms = t + 100ull * 365 * 86400 * 1000;
    expect_value(db, "old-08", "value 8 written by the version 1 WAL");
    char got[1024];
    list_all(db, "old-0", got, sizeof got);
    ck_assert_str_eq(got, "old-00,old-01,old-02,old-04,old-05,old-06,old-08,old-09");
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    expect_value(db, "old-07", NULL);
    list_all(db, "old-3", got, sizeof got);
    ck_assert_str_eq(got, "old-30,old-31,old-32,old-34,old-35,old-37,old-38,old-39");
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

START_TEST(db_put_get_returns_value_content_type_seq_and_tier)
{
    floe_options o = small_opts();
    floe_t *db = open_or_die(&o);
    uint64_t seq1 = 0, seq2 = 0;
    ck_assert_int_eq(floe_put(db, "a", 1, "hello", 5, "text/plain", &seq1), 0);
    ck_assert_int_eq(floe_put(db, "b", 1, "", 0, NULL, &seq2), 0);
    ck_assert_uint_gt(seq2, seq1);
    floe_value v = {0};
    ck_assert_int_eq(floe_get(db, "a", 1, &v), 0);
    ck_assert_str_eq(v.data, "hello");
    ck_assert_str_eq(v.content_type, "text/plain");
    ck_assert_uint_eq(v.seq, seq1);
    ck_assert_int_eq(v.tier, FLOE_TIER_MEMORY);
    floe_value_free(&v);
    ck_assert_int_eq(floe_get(db, "b", 1, &v), 0);
    ck_assert_uint_eq(v.len, 0);
    ck_assert_ptr_null(v.content_type);
    floe_value_free(&v);
    ck_assert_int_eq(floe_get(db, "c", 1, &v), FLOE_ENOTFOUND);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

START_TEST(db_binary_values_round_trip_every_byte)
{
    floe_options o = small_opts();
    floe_t *db = open_or_die(&o);
    unsigned char val[256 * 4], key[3] = {0x00, 0xff, 0x10};
    for (size_t i = 0; i < sizeof val; i++)
        val[i] = (unsigned char)i;
    ck_assert_int_eq(floe_put(db, key, sizeof key, val, sizeof val, NULL, NULL), 0);
    for (int round = 0; round < 2; round++) {
        floe_value v = {0};
        ck_assert_int_eq(floe_get(db, key, sizeof key, &v), 0);
        ck_assert_uint_eq(v.len, sizeof val);
        ck_assert_mem_eq(v.data, val, sizeof val);
        floe_value_free(&v);
        ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    }
    floe_close(db);
}
END_TEST

START_TEST(db_overwrite_returns_newest_across_tiers)
{
    floe_options o = small_opts();
    o.cache.object_bytes = 0;
    floe_t *db = open_or_die(&o);
    put_str(db, "k", "v1");
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    ck_assert_int_eq(expect_value(db, "k", "v1"), FLOE_TIER_LOCAL);
    put_str(db, "k", "v2");
    ck_assert_int_eq(expect_value(db, "k", "v2"), FLOE_TIER_MEMORY);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    put_str(db, "k", "v3");
    put_str(db, "k", "v4");
    expect_value(db, "k", "v4");
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    ck_assert_int_eq(expect_value(db, "k", "v4"), FLOE_TIER_LOCAL);
    floe_close(db);
    db = open_or_die(&o);
    expect_value(db, "k", "v4");
    floe_close(db);
}
END_TEST

START_TEST(db_object_cache_serves_repeat_reads_and_is_never_stale)
{
    floe_options o = small_opts();
    floe_t *db = open_or_die(&o);
    put_str(db, "k", "old");
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    ck_assert_int_eq(expect_value(db, "k", "old"), FLOE_TIER_LOCAL);
    ck_assert_int_eq(expect_value(db, "k", "old"), FLOE_TIER_MEMORY); /* object cache */
    put_str(db, "k", "new");
    expect_value(db, "k", "new");
    ck_assert_int_eq(floe_delete(db, "k", 1, NULL), 0);
    expect_value(db, "k", NULL);
    floe_stats st;
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    ck_assert_uint_ge(st.object_cache_hits, 1);
    floe_close(db);
}
END_TEST

START_TEST(db_delete_hides_older_versions_everywhere)
{
    floe_options o = small_opts();
    floe_t *db = open_or_die(&o);
    put_str(db, "gone-after-seal", "1");
    put_str(db, "gone-in-memory", "1");
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    ck_assert_int_eq(floe_delete(db, "gone-in-memory", 14, NULL), 0);
    ck_assert_int_eq(floe_delete(db, "gone-after-seal", 15, NULL), 0);
    ck_assert_int_eq(floe_delete(db, "never-existed", 13, NULL), 0);
    expect_value(db, "gone-in-memory", NULL);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    expect_value(db, "gone-after-seal", NULL);
    expect_value(db, "gone-in-memory", NULL);
    floe_list *l = NULL;
    ck_assert_int_eq(floe_list_keys(db, "gone", 4, NULL, 0, 0, &l), 0);
    ck_assert_uint_eq(l->count, 0);
    floe_list_free(l);
    floe_close(db);
    db = open_or_die(&o);
    expect_value(db, "gone-after-seal", NULL);
    put_str(db, "gone-after-seal", "back");
    expect_value(db, "gone-after-seal", "back");
    floe_close(db);
}
END_TEST

START_TEST(db_list_merges_all_sources_in_key_order)
{
    floe_options o = small_opts();
    floe_t *db = open_or_die(&o);
    char k[32];
    /* Keys spread over two segment files and the pending segment, with overwrites and deletes. */
    for (int i = 0; i < 300; i += 3) {
        snprintf(k, sizeof k, "item/%04d", i);
        put_str(db, k, "seg1");
    }
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    for (int i = 1; i < 300; i += 3) {
        snprintf(k, sizeof k, "item/%04d", i);
        put_str(db, k, "seg2");
    }
    snprintf(k, sizeof k, "item/%04d", 3);
    ck_assert_int_eq(floe_delete(db, k, strlen(k), NULL), 0);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    for (int i = 2; i < 300; i += 3) {
        snprintf(k, sizeof k, "item/%04d", i);
        put_str(db, k, "mem-long-value");
    }
    put_str(db, "other", "x");
    snprintf(k, sizeof k, "item/%04d", 0);
    put_str(db, k, "overwritten!");

    floe_list *l = NULL;
    ck_assert_int_eq(floe_list_keys(db, "item/", 5, NULL, 0, 1000, &l), 0);
    ck_assert_uint_eq(l->count, 299);
    ck_assert_int_eq(l->truncated, 0);
    for (size_t i = 1; i < l->count; i++)
        ck_assert_int_lt(strcmp(l->entries[i - 1].key, l->entries[i].key), 0);
    ck_assert_str_eq(l->entries[0].key, "item/0000");
    ck_assert_uint_eq(l->entries[0].value_len, strlen("overwritten!"));
    ck_assert_str_eq(l->entries[3].key, "item/0004"); /* item/0003 was deleted */
    floe_list_free(l);

    /* Paging with start_after visits every key exactly once. */
    size_t seen = 0;
    char cursor[64] = "";
    for (;;) {
        ck_assert_int_eq(floe_list_keys(db, "item/", 5, cursor, strlen(cursor), 50, &l), 0);
        seen += l->count;
        int more = l->truncated;
        if (l->count)
            snprintf(cursor, sizeof cursor, "%s", l->entries[l->count - 1].key);
        floe_list_free(l);
        if (!more)
            break;
    }
    ck_assert_uint_eq(seen, 299);
    ck_assert_int_eq(floe_list_keys(db, NULL, 0, "item/9", 6, 10, &l), 0);
    ck_assert_uint_eq(l->count, 1);
    ck_assert_str_eq(l->entries[0].key, "other");
    floe_list_free(l);
    floe_close(db);
}
END_TEST

START_TEST(db_reopen_replays_the_wal)
{
    floe_options o = small_opts();
    o.wal.sync = FLOE_SYNC_ALWAYS;
    floe_t *db = open_or_die(&o);
    put_str(db, "a", "1");
    put_str(db, "b", "2");
    ck_assert_int_eq(floe_delete(db, "a", 1, NULL), 0);
    floe_close(db);
    db = open_or_die(&o);
    expect_value(db, "a", NULL);
    expect_value(db, "b", "2");
    uint64_t seq = 0;
    ck_assert_int_eq(floe_put(db, "c", 1, "3", 1, NULL, &seq), 0);
    ck_assert_uint_eq(seq, 4); /* sequence numbers continue after replay */
    floe_close(db);
}
END_TEST

START_TEST(db_seals_at_max_bytes_and_deletes_covered_wal_files)
{
    floe_options o = small_opts();
    o.segment.max_bytes = 64 * 1024;
    o.wal.file_bytes = 64 * 1024;
    floe_t *db = open_or_die(&o);
    char k[32], v[512];
    memset(v, 'v', sizeof v);
    v[sizeof v - 1] = '\0';
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "key%06d", i);
        put_str(db, k, v);
    }
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    floe_stats st;
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    ck_assert_uint_ge(st.seals, 10);
    ck_assert_uint_eq(st.sealed_unwritten_bytes, 0);
    ck_assert_uint_ge(st.segments_local, 10);
    ck_assert_uint_eq(st.pending_entries, 0);
    /* Every WAL file before the last seal is gone: at most the fresh one is left. */
    ck_assert_int_le(count_wal_files(), 1);
    for (int i = 0; i < 2000; i += 97) {
        snprintf(k, sizeof k, "key%06d", i);
        expect_value(db, k, v);
    }
    floe_close(db);
}
END_TEST

START_TEST(db_seals_when_the_pending_segment_is_old)
{
    floe_options o = small_opts();
    o.segment.max_age_s = 1;
    floe_t *db = open_or_die(&o);
    put_str(db, "k", "v");
    floe_stats st;
    for (int i = 0; i < 60; i++) {
        usleep(100 * 1000);
        floe_stats_get(db, &st);
        if (st.segments_local == 1)
            break;
    }
    ck_assert_uint_eq(st.segments_local, 1);
    ck_assert_uint_eq(st.pending_entries, 0);
    floe_close(db);
}
END_TEST

START_TEST(db_bad_keys_values_and_content_types_are_refused)
{
    floe_options o = small_opts();
    o.max_object_bytes = 1000;
    floe_t *db = open_or_die(&o);
    char big[1025];
    memset(big, 'k', sizeof big);
    ck_assert_int_eq(floe_put(db, "", 0, "v", 1, NULL, NULL), FLOE_EKEY);
    ck_assert_int_eq(floe_put(db, big, 1025, "v", 1, NULL, NULL), FLOE_EKEY);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "1024"));
    ck_assert_int_eq(floe_put(db, big, 1024, "v", 1, NULL, NULL), 0);
    ck_assert_int_eq(floe_put(db, "k", 1, big, 1001, NULL, NULL), FLOE_ETOOBIG);
    ck_assert_int_eq(floe_put(db, "k", 1, big, 1000, NULL, NULL), 0);
    ck_assert_int_eq(floe_put(db, "k", 1, "v", 1, "text/plain\r\nX: y", NULL), FLOE_EINVAL);
    ck_assert_int_eq(floe_delete(db, "", 0, NULL), FLOE_EKEY);
    floe_value v = {0};
    ck_assert_int_eq(floe_get(db, big, 1025, &v), FLOE_EKEY);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), FLOE_EINVAL);
    floe_close(db);

    floe_options bad = small_opts();
    bad.segment.block_bytes = 10;
    floe_t *h = NULL;
    ck_assert_int_eq(floe_open(dir, &bad, &h), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "segment.block_bytes"));
}
END_TEST

START_TEST(db_second_open_is_refused_while_locked)
{
    floe_options o = small_opts();
    floe_t *db = open_or_die(&o);
    pid_t pid = fork();
    if (pid == 0) {
        floe_t *other = NULL;
        int rc = floe_open(dir, &o, &other);
        _exit(rc == FLOE_ELOCKED && strstr(floe_last_error(), "another process") ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the second process was not refused");
    floe_close(db);
    db = open_or_die(&o); /* the lock goes with the handle */
    floe_close(db);
}
END_TEST

/* Issue 9, bug 1: a data directory whose manifest.json went missing still holds the segments. */
START_TEST(db_missing_manifest_with_segments_is_refused_and_nothing_is_deleted)
{
    floe_options o = small_opts();
    floe_t *db = open_or_die(&o);
    put_str(db, "sealed", "in a segment");
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    put_str(db, "pending", "in the WAL");
    floe_close(db);
    char *seg = first_segment_path();
    long long seg_bytes = tu_file_size(seg);
    char mp[512], moved[512];
    snprintf(mp, sizeof mp, "%s/manifest.json", dir);
    snprintf(moved, sizeof moved, "%s/manifest.json.away", dir);
    ck_assert_int_eq(rename(mp, moved), 0);

    floe_t *h = NULL;
    ck_assert_int_eq(floe_open(dir, &o, &h), FLOE_ECORRUPT);
    ck_assert_ptr_null(h);
    const char *msg = floe_last_error();
    ck_assert_msg(strstr(msg, dir) && strstr(msg, "manifest.json") && strstr(msg, "restore"), "message: %s", msg);
    /* Nothing was deleted: the segment file is whole and the WAL is still there. */
    ck_assert_int_eq(tu_file_size(seg), seg_bytes);
    ck_assert_int_gt(count_wal_files(), 0);

    ck_assert_int_eq(rename(moved, mp), 0);
    db = open_or_die(&o);
    expect_value(db, "sealed", "in a segment");
    expect_value(db, "pending", "in the WAL");
    floe_close(db);
    free(seg);
}
END_TEST

START_TEST(db_a_new_store_has_a_manifest_before_its_first_write)
{
    floe_options o = small_opts();
    floe_t *db = open_or_die(&o);
    char mp[512];
    snprintf(mp, sizeof mp, "%s/manifest.json", dir);
    ck_assert_int_gt(tu_file_size(mp), 0);
    floe_close(db);
}
END_TEST

/* A store made before manifests were saved at creation that crashed before its first seal: WAL
 * files from number 1 on and nothing else. It opens and replays. */
START_TEST(db_wal_only_store_without_a_manifest_still_opens)
{
    floe_options o = small_opts();
    floe_t *db = open_or_die(&o);
    put_str(db, "k1", "v1");
    floe_close(db);
    db = open_or_die(&o); /* a second WAL file */
    put_str(db, "k2", "v2");
    floe_close(db);
    char mp[512];
    snprintf(mp, sizeof mp, "%s/manifest.json", dir);
    ck_assert_int_eq(unlink(mp), 0);
    db = open_or_die(&o);
    expect_value(db, "k1", "v1");
    expect_value(db, "k2", "v2");
    floe_close(db);
}
END_TEST

/* WAL files that do not start at number 1 were released by a seal, which a manifest recorded. */
START_TEST(db_missing_manifest_after_wal_release_is_refused)
{
    floe_options o = small_opts();
    floe_t *db = open_or_die(&o);
    put_str(db, "k1", "v1");
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    put_str(db, "k2", "v2");
    floe_close(db);
    char sd[512];
    snprintf(sd, sizeof sd, "%s/segments", dir);
    tu_rmrf(sd); /* even with the segment files gone too */
    char mp[512];
    snprintf(mp, sizeof mp, "%s/manifest.json", dir);
    ck_assert_int_eq(unlink(mp), 0);
    int wal_files = count_wal_files();
    floe_t *h = NULL;
    ck_assert_int_eq(floe_open(dir, &o, &h), FLOE_ECORRUPT);
    ck_assert_msg(strstr(floe_last_error(), "manifest.json") != NULL, "message: %s", floe_last_error());
    ck_assert_int_eq(count_wal_files(), wal_files);
}
END_TEST

/* Only segment files the manifest could not yet know about (ids from next_segment_id on) are
 * crash leftovers; anything else in segments/ is kept. */
START_TEST(db_open_keeps_segment_files_it_cannot_prove_are_garbage)
{
    floe_options o = small_opts();
    floe_t *db = open_or_die(&o);
    put_str(db, "k", "v");
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    put_str(db, "k2", "v2");
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    floe_close(db);
    char sd[512], stray[600], old_id[600], future[600], tmp[600];
    snprintf(sd, sizeof sd, "%s/segments", dir);
    snprintf(stray, sizeof stray, "%s/notes.txt", sd);
    snprintf(old_id, sizeof old_id, "%s/%020d.seg", sd, 0); /* below next_segment_id, not named */
    snprintf(future, sizeof future, "%s/%020d.seg", sd, 99); /* a seal the manifest never saw */
    snprintf(tmp, sizeof tmp, "%s/%020d.seg.tmp", sd, 3);
    tu_write_file(stray, "mine", 4);
    tu_write_file(old_id, "x", 1);
    tu_write_file(future, "x", 1);
    tu_write_file(tmp, "x", 1);
    db = open_or_die(&o);
    expect_value(db, "k", "v");
    floe_close(db);
    ck_assert_int_eq(tu_file_size(stray), 4);
    ck_assert_int_eq(tu_file_size(old_id), 1);
    ck_assert_int_eq(tu_file_size(future), -1);
    ck_assert_int_eq(tu_file_size(tmp), -1);
}
END_TEST

START_TEST(db_truncated_manifest_is_refused_clearly)
{
    floe_options o = small_opts();
    floe_t *db = open_or_die(&o);
    put_str(db, "k", "v");
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    floe_close(db);
    char mp[512];
    snprintf(mp, sizeof mp, "%s/manifest.json", dir);
    tu_truncate(mp, tu_file_size(mp) / 2);
    floe_t *h = NULL;
    ck_assert_int_eq(floe_open(dir, &o, &h), FLOE_ECORRUPT);
    ck_assert_msg(strstr(floe_last_error(), "manifest.json") != NULL, "message: %s", floe_last_error());
}
END_TEST

START_TEST(db_damaged_block_hides_only_its_keys)
{
    floe_options o = small_opts();
    o.segment.compression = FLOE_COMPRESSION_NONE;
    o.cache.object_bytes = 0;
    floe_t *db = open_or_die(&o);
    char k[32], v[256];
    memset(v, 'x', sizeof v);
    v[sizeof v - 1] = '\0';
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "key%04d", i);
        put_str(db, k, v);
    }
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    floe_close(db);

    char *sp = first_segment_path();
    segment_t *seg = NULL;
    ck_assert_int_eq(segment_open_file(sp, &seg), 0);
    uint64_t off = 0, len = 0;
    ck_assert_int_eq(segment_block_range(seg, 0, &off, &len), 0);
    ck_assert_uint_gt(segment_get_info(seg)->block_count, 2);
    segment_close(seg);
    tu_flip_byte(sp, (long long)(off + len / 2));
    free(sp);

    db = open_or_die(&o);
    floe_value val = {0};
    ck_assert_int_eq(floe_get(db, "key0000", 7, &val), FLOE_ECORRUPT);
    ck_assert_msg(strstr(floe_last_error(), "block") != NULL, "message: %s", floe_last_error());
    expect_value(db, "key0199", v);
    floe_close(db);
}
END_TEST

START_TEST(db_flipped_wal_byte_before_the_tail_is_refused_with_file_and_offset)
{
    floe_options o = small_opts();
    o.wal.file_bytes = 64 * 1024;
    floe_t *db = open_or_die(&o);
    char k[32], v[400];
    memset(v, 'w', sizeof v);
    v[sizeof v - 1] = '\0';
    for (int i = 0; i < 400; i++) {
        snprintf(k, sizeof k, "key%04d", i);
        put_str(db, k, v);
    }
    floe_close(db);
    ck_assert_int_ge(count_wal_files(), 2);
    /* The lowest-numbered WAL file is not the last one. */
    char wd[512], *first = NULL;
    snprintf(wd, sizeof wd, "%s/wal", dir);
    struct dirent **names;
    int n = scandir(wd, &names, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        if (!first && strstr(names[i]->d_name, ".log")) {
            size_t len = strlen(wd) + strlen(names[i]->d_name) + 2;
            first = malloc(len);
            snprintf(first, len, "%s/%s", wd, names[i]->d_name);
        }
        free(names[i]);
    }
    free(names);
    ck_assert_ptr_nonnull(first);
    tu_flip_byte(first, tu_file_size(first) / 2);
    floe_t *h = NULL;
    ck_assert_int_eq(floe_open(dir, &o, &h), FLOE_ECORRUPT);
    const char *msg = floe_last_error();
    ck_assert_msg(strstr(msg, strrchr(first, '/') + 1) != NULL, "message lacks the file: %s", msg);
    ck_assert_msg(strstr(msg, "byte") != NULL || strstr(msg, "offset") != NULL, "no offset: %s", msg);
    free(first);
}
END_TEST

START_TEST(db_torn_wal_tail_is_recovered)
{
    floe_options o = small_opts();
    o.wal.sync = FLOE_SYNC_ALWAYS;
    floe_t *db = open_or_die(&o);
    put_str(db, "first", "1");
    put_str(db, "second", "2");
    floe_close(db);
    char wd[512], path[1024] = "";
    snprintf(wd, sizeof wd, "%s/wal", dir);
    struct dirent **names;
    int n = scandir(wd, &names, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        if (strstr(names[i]->d_name, ".log") && tu_file_size(wd) >= 0) {
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", wd, names[i]->d_name);
            if (tu_file_size(p) > 64)
                snprintf(path, sizeof path, "%s", p);
        }
        free(names[i]);
    }
    free(names);
    ck_assert(path[0] != '\0');
    /* "second" was being written when we crashed: its last 3 bytes, and the sync mark that follows a
     * completed fdatasync, never landed. */
    tu_truncate(path, tu_file_size(path) - 32 - 3);
    db = open_or_die(&o);
    expect_value(db, "first", "1");
    expect_value(db, "second", NULL);
    put_str(db, "third", "3");
    floe_close(db);
    db = open_or_die(&o);
    expect_value(db, "third", "3");
    floe_close(db);
}
END_TEST

START_TEST(db_stats_count_operations)
{
    floe_options o = small_opts();
    o.wal.sync = FLOE_SYNC_ALWAYS;
    floe_t *db = open_or_die(&o);
    put_str(db, "a", "1");
    put_str(db, "b", "2");
    ck_assert_int_eq(floe_delete(db, "a", 1, NULL), 0);
    expect_value(db, "b", "2");
    expect_value(db, "a", NULL);
    floe_stats st;
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    ck_assert_uint_eq(st.puts, 2);
    ck_assert_uint_eq(st.deletes, 1);
    ck_assert_uint_eq(st.gets, 2);
    ck_assert_uint_eq(st.get_hits_memory, 1);
    ck_assert_uint_eq(st.get_misses, 1);
    ck_assert_uint_eq(st.last_seq, 3);
    ck_assert_uint_ge(st.wal_syncs, 1);
    ck_assert_uint_eq(st.pending_entries, 3);
    ck_assert_int_eq(st.read_only, 0);
    ck_assert_uint_eq(st.segments_per_read_max, 0);
    /* Each flush adds a segment that a point read may have to consult. */
    for (int i = 1; i <= 3; i++) {
        put_str(db, "c", "3");
        ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
        ck_assert_int_eq(floe_stats_get(db, &st), 0);
        ck_assert_uint_eq(st.segments_per_read_max, (uint64_t)i);
    }
    floe_close(db);
}
END_TEST

START_TEST(db_single_writer_with_sync_always_makes_one_write_durable_per_fdatasync)
{
    floe_options o = small_opts();
    o.wal.sync = FLOE_SYNC_ALWAYS;
    floe_t *db = open_or_die(&o);
    floe_stats st0, st, st2;
    ck_assert_int_eq(floe_stats_get(db, &st0), 0);
    ck_assert_uint_eq(st0.wal_synced_writes, 0);
    ck_assert_uint_eq(tu_wal_batches(st0.wal_batch_hist), 0);
    char key[32];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "dir%d/k%d", i % 4, i);
        put_str(db, key, "v");
    }
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "dir%d/k%d", i % 4, i);
        ck_assert_int_eq(floe_delete(db, key, strlen(key), NULL), 0);
    }
    ck_assert_int_eq(floe_delete_prefix(db, "dir1/", 5, NULL), 0);
    ck_assert_int_eq(floe_delete_prefix(db, "dir2/", 5, NULL), 0);
    /* A refused write reaches no WAL and counts nowhere. */
    ck_assert_int_eq(floe_put(db, "", 0, "v", 1, NULL, NULL), FLOE_EKEY);
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    uint64_t writes = 20 + 5 + 2;
    ck_assert_uint_eq(st.puts + st.deletes, writes);
    ck_assert_uint_eq(st.wal_synced_writes, writes);
    ck_assert_uint_eq(st.wal_batch_hist[0], writes);
    ck_assert_uint_eq(tu_wal_batches(st.wal_batch_hist), writes);
    ck_assert_uint_eq(st.wal_syncs - st0.wal_syncs, writes);
    /* A flush rotates the WAL: more fdatasyncs, none of which acknowledged a write. */
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    ck_assert_int_eq(floe_stats_get(db, &st2), 0);
    ck_assert_uint_gt(st2.wal_syncs, st.wal_syncs);
    ck_assert_uint_eq(st2.wal_synced_writes, writes);
    ck_assert_uint_eq(tu_wal_batches(st2.wal_batch_hist), writes);
    floe_close(db);
}
END_TEST

static Suite *db_suite(void)
{
    Suite *s = suite_create("db");
    TCase *tc = tcase_create("api");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, db_put_get_returns_value_content_type_seq_and_tier);
    tcase_add_test(tc, db_store_written_with_the_version_1_wal_opens);
    tcase_add_test(tc, db_store_written_with_version_2_segments_opens);
    tcase_add_test(tc, db_store_written_with_version_3_segments_and_wal_opens);
    tcase_add_test(tc, db_value_is_nul_terminated_from_every_tier);
    tcase_add_test(tc, db_head_and_read_range_from_every_tier);
    tcase_add_test(tc, db_write_time_is_kept_through_wal_segment_and_cache);
    tcase_add_test(tc, db_expired_objects_disappear_from_get_and_list);
    tcase_add_test(tc, db_expired_newest_version_does_not_bring_back_an_older_one);
    tcase_add_test(tc, db_binary_values_round_trip_every_byte);
    tcase_add_test(tc, db_overwrite_returns_newest_across_tiers);
    tcase_add_test(tc, db_object_cache_serves_repeat_reads_and_is_never_stale);
    tcase_add_test(tc, db_delete_hides_older_versions_everywhere);
    tcase_add_test(tc, db_list_merges_all_sources_in_key_order);
    tcase_add_test(tc, db_reopen_replays_the_wal);
    tcase_add_test(tc, db_seals_at_max_bytes_and_deletes_covered_wal_files);
    tcase_add_test(tc, db_seals_when_the_pending_segment_is_old);
    tcase_add_test(tc, db_bad_keys_values_and_content_types_are_refused);
    tcase_add_test(tc, db_second_open_is_refused_while_locked);
    tcase_add_test(tc, db_truncated_manifest_is_refused_clearly);
    tcase_add_test(tc, db_missing_manifest_with_segments_is_refused_and_nothing_is_deleted);
    tcase_add_test(tc, db_a_new_store_has_a_manifest_before_its_first_write);
    tcase_add_test(tc, db_wal_only_store_without_a_manifest_still_opens);
    tcase_add_test(tc, db_missing_manifest_after_wal_release_is_refused);
    tcase_add_test(tc, db_open_keeps_segment_files_it_cannot_prove_are_garbage);
    tcase_add_test(tc, db_damaged_block_hides_only_its_keys);
    tcase_add_test(tc, db_flipped_wal_byte_before_the_tail_is_refused_with_file_and_offset);
    tcase_add_test(tc, db_torn_wal_tail_is_recovered);
    tcase_add_test(tc, db_stats_count_operations);
    tcase_add_test(tc, db_single_writer_with_sync_always_makes_one_write_durable_per_fdatasync);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(db_suite());
}
