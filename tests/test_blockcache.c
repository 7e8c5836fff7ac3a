/* The disk block cache for cold reads: a miss costs exactly one ranged GET and a hit none, the
 * byte and count budgets are never exceeded, the least recently used range goes first, a reopened
 * cache finds what is on disk, a damaged cache file is a miss and never an error, and many threads
 * can read at once (run under TSan too). */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blockcache.h"
#include "clock.h"
#include "cold.h"
#include "error.h"
#include "segment.h"
#include "testutil.h"

#define OBJECT_BYTES (4u << 20)
#define KIB 1024u
#define MIB (1024u * 1024u)
#define CACHE_HEADER_BYTES 40

static char *tmpdir, *cache_dir;
static cold_t *cold;

/* Byte i of the test object "obj/data". */
static uint8_t pattern(uint64_t i)
{
    return (uint8_t)((i * 2654435761u) >> 13 ^ i);
}

static void setup(void)
{
    char *cold_dir = NULL;
    tmpdir = tu_tmpdir("blockcache");
    ck_assert_int_ge(asprintf(&cold_dir, "%s/cold", tmpdir), 0);
    ck_assert_int_ge(asprintf(&cache_dir, "%s/data/cache", tmpdir), 0);
    ck_assert_int_eq(cold_open_fs(cold_dir, &cold), 0);
    uint8_t *data = malloc(OBJECT_BYTES);
    ck_assert_ptr_nonnull(data);
    for (uint64_t i = 0; i < OBJECT_BYTES; i++)
        data[i] = pattern(i);
    ck_assert_int_eq(cold_put(cold, "obj/data", data, OBJECT_BYTES, 0), 0);
    ck_assert_int_eq(cold_put(cold, "obj/other", data, OBJECT_BYTES / 4, 0), 0);
    free(data);
    free(cold_dir);
}

static void teardown(void)
{
    cold_close(cold);
    tu_rmrf(tmpdir);
    free(tmpdir);
    free(cache_dir);
}

static uint64_t gets(void)
{
    uint64_t req[FLOE_COLD_OP_COUNT];
    cold_get_counters(cold, req, NULL, NULL);
    return req[FLOE_COLD_GET];
}

/* Reads [off, off+len) of obj/data through bc, checks the bytes, and returns how many GETs it cost. */
static uint64_t read_checked(blockcache *bc, uint64_t off, size_t len)
{
    uint8_t *buf = malloc(len);
    ck_assert_ptr_nonnull(buf);
    uint64_t before = gets();
    ck_assert_msg(blockcache_read(bc, cold, "obj/data", off, buf, len) == 0, "read %" PRIu64 "+%zu: %s", off,
                  len, floe_last_error());
    uint64_t cost = gets() - before;
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pattern(off + i))
            ck_abort_msg("byte %" PRIu64 " of obj/data is wrong", off + i);
    free(buf);
    blockcache_settle(bc); /* the cache file is written in the background: let it land */
    return cost;
}

static blockcache_stats stats(blockcache *bc)
{
    blockcache_stats s;
    blockcache_get_stats(bc, &s);
    return s;
}

/* Sums the sizes of the cache's files (*.blk) and counts them. */
static uint64_t dir_bytes(uint64_t *files)
{
    DIR *d = opendir(cache_dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    uint64_t sum = 0, n = 0;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 4 || strcmp(de->d_name + l - 4, ".blk") != 0)
            continue;
        char *p = NULL;
        struct stat st;
        ck_assert_int_ge(asprintf(&p, "%s/%s", cache_dir, de->d_name), 0);
        if (stat(p, &st) == 0) {
            sum += (uint64_t)st.st_size;
            n++;
        }
        free(p);
    }
    closedir(d);
    if (files)
        *files = n;
    return sum;
}

/* The path of the one cache file, which must be the only one. */
static char *only_file(void)
{
    DIR *d = opendir(cache_dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    char *found = NULL;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 4 || strcmp(de->d_name + l - 4, ".blk") != 0)
            continue;
        ck_assert_msg(found == NULL, "more than one cache file");
        ck_assert_int_ge(asprintf(&found, "%s/%s", cache_dir, de->d_name), 0);
    }
    closedir(d);
    ck_assert_ptr_nonnull(found);
    return found;
}

START_TEST(blockcache_miss_costs_one_get_and_a_hit_costs_none)
{
    blockcache *bc = NULL;
    ck_assert_int_eq(blockcache_open(cache_dir, 64 * MIB, &bc), 0);
    ck_assert_uint_eq(read_checked(bc, 4096, 65536), 1);
    ck_assert_uint_eq(read_checked(bc, 4096, 65536), 0);
    ck_assert_uint_eq(read_checked(bc, 4096, 65536), 0);
    /* Another range, even an overlapping one, is its own entry. */
    ck_assert_uint_eq(read_checked(bc, 8192, 100), 1);
    ck_assert_uint_eq(read_checked(bc, 8192, 100), 0);
    /* The last bytes of the object (a segment's footer). */
    ck_assert_uint_eq(read_checked(bc, OBJECT_BYTES - 64, 64), 1);
    ck_assert_uint_eq(read_checked(bc, OBJECT_BYTES - 64, 64), 0);
    blockcache_stats s = stats(bc);
    ck_assert_uint_eq(s.hits, 4);
    ck_assert_uint_eq(s.misses, 3);
    ck_assert_uint_eq(s.entries, 3);
    ck_assert_uint_eq(s.bytes, 3 * (CACHE_HEADER_BYTES + strlen("obj/data")) + 65536 + 100 + 64);
    uint64_t files = 0;
    ck_assert_uint_eq(dir_bytes(&files), s.bytes);
    ck_assert_uint_eq(files, 3);
    blockcache_close(bc);
}
END_TEST

START_TEST(blockcache_a_range_waiting_to_be_written_is_served_from_memory)
{
    blockcache *bc = NULL;
    ck_assert_int_eq(blockcache_open(cache_dir, 64 * MIB, &bc), 0);
    /* Back-to-back reads of fresh ranges: the second of each never fetches again, whether the
     * background thread has written the first one's file yet or not. */
    uint8_t buf[4096];
    for (uint64_t off = 0; off < 64 * 4096; off += 4096) {
        uint64_t before = gets();
        ck_assert_int_eq(blockcache_read(bc, cold, "obj/data", off, buf, sizeof buf), 0);
        ck_assert_int_eq(blockcache_read(bc, cold, "obj/data", off, buf, sizeof buf), 0);
        ck_assert_uint_eq(gets() - before, 1);
        for (size_t i = 0; i < sizeof buf; i++)
            ck_assert_uint_eq(buf[i], pattern(off + i));
    }
    blockcache_settle(bc);
    blockcache_stats s = stats(bc);
    ck_assert_uint_eq(s.entries, 64);
    ck_assert_uint_eq(s.hits, 64);
    /* A key forgotten while its ranges wait to be written leaves nothing behind. */
    for (uint64_t off = 0; off < 8 * 4096; off += 4096)
        ck_assert_int_eq(blockcache_read(bc, cold, "obj/other", off, buf, sizeof buf), 0);
    blockcache_forget(bc, "obj/other");
    uint64_t before = gets();
    ck_assert_int_eq(blockcache_read(bc, cold, "obj/other", 0, buf, sizeof buf), 0);
    ck_assert_uint_eq(gets() - before, 1);
    blockcache_forget(bc, "obj/other");
    blockcache_settle(bc);
    s = stats(bc);
    ck_assert_uint_eq(s.entries, 64);
    uint64_t files = 0;
    ck_assert_uint_eq(dir_bytes(&files), s.bytes);
    ck_assert_uint_eq(files, 64);
    blockcache_close(bc);
}
END_TEST

START_TEST(blockcache_errors_of_the_cold_store_are_returned_and_nothing_is_cached)
{
    blockcache *bc = NULL;
    uint8_t buf[128];
    ck_assert_int_eq(blockcache_open(cache_dir, 64 * MIB, &bc), 0);
    ck_assert_int_eq(blockcache_read(bc, cold, "obj/missing", 0, buf, sizeof buf), FLOE_ENOTFOUND);
    ck_assert_msg(strstr(floe_last_error(), "obj/missing") != NULL, "%s", floe_last_error());
    ck_assert_int_eq(blockcache_read(bc, cold, "obj/data", OBJECT_BYTES - 10, buf, sizeof buf), FLOE_ERANGE);
    ck_assert_int_eq(blockcache_read(bc, cold, "../escape", 0, buf, sizeof buf), FLOE_EINVAL);
    ck_assert_uint_eq(stats(bc).entries, 0);
    ck_assert_uint_eq(dir_bytes(NULL), 0);
    blockcache_close(bc);
}
END_TEST

START_TEST(blockcache_byte_and_count_budgets_are_never_exceeded)
{
    blockcache *bc = NULL;
    const uint64_t capacity = 64 * KIB; /* 16 entries at most */
    ck_assert_int_eq(blockcache_open(cache_dir, capacity, &bc), 0);
    for (int i = 0; i < 300; i++) {
        size_t len = 500 + (size_t)(i * 977) % 7000; /* up to capacity / 8 */
        read_checked(bc, (uint64_t)i * 9973, len);
        blockcache_stats s = stats(bc);
        ck_assert_uint_le(s.bytes, capacity);
        ck_assert_uint_le(s.entries, 16);
        ck_assert_uint_le(dir_bytes(NULL), capacity);
    }
    /* Many tiny ranges: the count budget binds before the byte budget. */
    for (int i = 0; i < 100; i++) {
        read_checked(bc, 1 * MIB + (uint64_t)i * 64, 16);
        ck_assert_uint_le(stats(bc).entries, 16);
    }
    uint64_t files = 0;
    ck_assert_uint_le(dir_bytes(&files), capacity);
    ck_assert_uint_le(files, 16);
    ck_assert_uint_gt(stats(bc).evictions, 0);
    /* A range larger than an eighth of the budget is read but not kept. */
    ck_assert_uint_eq(read_checked(bc, 0, 9000), 1);
    ck_assert_uint_eq(read_checked(bc, 0, 9000), 1);
    blockcache_close(bc);
}
END_TEST

START_TEST(blockcache_evicts_the_least_recently_used_range_first)
{
    blockcache *bc = NULL;
    const size_t len = 100 * KIB;
    ck_assert_int_eq(blockcache_open(cache_dir, 1 * MIB, &bc), 0);
    for (uint64_t i = 0; i < 9; i++) /* 9 of these fill 88% */
        ck_assert_uint_eq(read_checked(bc, i * len, len), 1);
    ck_assert_uint_eq(read_checked(bc, 0 * len, len), 0); /* touch range 0, then 5 */
    ck_assert_uint_eq(read_checked(bc, 5 * len, len), 0);
    /* A larger range does not fit: the least recently used one (1) makes room. */
    ck_assert_uint_eq(read_checked(bc, 20 * len, 127 * KIB), 1);
    ck_assert_uint_eq(stats(bc).evictions, 1);
    ck_assert_uint_le(stats(bc).bytes, 1 * MIB);
    uint64_t still[] = {0, 2, 3, 4, 5, 6, 7, 8};
    for (size_t i = 0; i < sizeof still / sizeof still[0]; i++)
        ck_assert_msg(read_checked(bc, still[i] * len, len) == 0, "range %" PRIu64 " was evicted", still[i]);
    ck_assert_uint_eq(read_checked(bc, 20 * len, 127 * KIB), 0);
    ck_assert_uint_eq(read_checked(bc, 1 * len, len), 1); /* evicted */
    blockcache_close(bc);
}
END_TEST

START_TEST(blockcache_trims_in_the_background_before_it_is_full)
{
    blockcache *bc = NULL;
    const size_t len = 100 * KIB;
    ck_assert_int_eq(blockcache_open(cache_dir, 1 * MIB, &bc), 0);
    for (uint64_t i = 0; i < 10; i++) /* the tenth takes it past 95% (but not past 100%) */
        read_checked(bc, i * len, len);
    int waited_ms = 0;
    while (stats(bc).bytes > 1 * MIB * 9 / 10 && waited_ms < 5000) {
        clock_sleep_ms(20);
        waited_ms += 20;
    }
    blockcache_stats s = stats(bc);
    ck_assert_msg(s.bytes <= 1 * MIB * 9 / 10, "still %" PRIu64 " bytes after %d ms", s.bytes, waited_ms);
    ck_assert_uint_ge(s.evictions, 1);
    ck_assert_uint_eq(read_checked(bc, 0, len), 1); /* the oldest went first */
    blockcache_close(bc);
}
END_TEST

START_TEST(blockcache_reopen_indexes_the_directory)
{
    blockcache *bc = NULL;
    ck_assert_int_eq(blockcache_open(cache_dir, 64 * MIB, &bc), 0);
    for (uint64_t i = 0; i < 5; i++)
        read_checked(bc, i * 100000, 30000);
    blockcache_stats before = stats(bc);
    blockcache_close(bc);

    ck_assert_int_eq(blockcache_open(cache_dir, 64 * MIB, &bc), 0);
    blockcache_stats after = stats(bc);
    ck_assert_uint_eq(after.entries, 5);
    ck_assert_uint_eq(after.bytes, before.bytes);
    for (uint64_t i = 0; i < 5; i++)
        ck_assert_uint_eq(read_checked(bc, i * 100000, 30000), 0);
    blockcache_close(bc);

    /* Reopened with a smaller budget, it trims to it at once, oldest first. */
    ck_assert_int_eq(blockcache_open(cache_dir, 100 * KIB, &bc), 0);
    ck_assert_uint_le(stats(bc).bytes, 100 * KIB);
    ck_assert_uint_le(dir_bytes(NULL), 100 * KIB);
    blockcache_close(bc);

    /* With no budget nothing stays. */
    ck_assert_int_eq(blockcache_open(cache_dir, 0, &bc), 0);
    ck_assert_uint_eq(stats(bc).entries, 0);
    ck_assert_uint_eq(dir_bytes(NULL), 0);
    ck_assert_uint_eq(read_checked(bc, 0, 4096), 1);
    ck_assert_uint_eq(read_checked(bc, 0, 4096), 1);
    ck_assert_uint_eq(dir_bytes(NULL), 0);
    blockcache_close(bc);
}
END_TEST

START_TEST(blockcache_damaged_file_is_a_miss_not_an_error)
{
    blockcache *bc = NULL;
    ck_assert_int_eq(blockcache_open(cache_dir, 64 * MIB, &bc), 0);
    ck_assert_uint_eq(read_checked(bc, 12345, 20000), 1);
    char *path = only_file();

    /* A flipped payload byte: read again from the cold tier, and cached again. */
    tu_flip_byte(path, CACHE_HEADER_BYTES + 8 + 5000);
    ck_assert_uint_eq(read_checked(bc, 12345, 20000), 1);
    ck_assert_uint_eq(read_checked(bc, 12345, 20000), 0);
    /* A flipped header byte. */
    tu_flip_byte(path, 10);
    ck_assert_uint_eq(read_checked(bc, 12345, 20000), 1);
    /* Cut short. */
    tu_truncate(path, 5000);
    ck_assert_uint_eq(read_checked(bc, 12345, 20000), 1);
    /* Removed behind the cache's back. */
    unlink(path);
    ck_assert_uint_eq(read_checked(bc, 12345, 20000), 1);
    ck_assert_uint_eq(read_checked(bc, 12345, 20000), 0);
    ck_assert_uint_eq(stats(bc).entries, 1);
    blockcache_close(bc);

    /* At open: a truncated file, garbage under a cache name, a file whose header does not match its
     * name, and a leftover temp file are deleted; files that are not the cache's are left alone. */
    tu_truncate(path, 30);
    char *garbage = NULL, *renamed = NULL, *tmp = NULL, *foreign = NULL;
    ck_assert_int_ge(asprintf(&garbage, "%s/0123456789abcdef.blk", cache_dir), 0);
    ck_assert_int_ge(asprintf(&tmp, "%s/.tmp.0123456789abcdef.1.1", cache_dir), 0);
    ck_assert_int_ge(asprintf(&foreign, "%s/README", cache_dir), 0);
    tu_write_file(garbage, "not a cache file at all, but long enough to hold a header....", 62);
    tu_write_file(tmp, "partial", 7);
    tu_write_file(foreign, "hello", 5);
    ck_assert_int_eq(blockcache_open(cache_dir, 64 * MIB, &bc), 0);
    ck_assert_uint_eq(read_checked(bc, 777, 3000), 1);
    char *good = only_file();
    blockcache_close(bc);
    ck_assert_int_ge(asprintf(&renamed, "%s/fedcba9876543210.blk", cache_dir), 0);
    ck_assert_int_eq(rename(good, renamed), 0);

    ck_assert_int_eq(blockcache_open(cache_dir, 64 * MIB, &bc), 0);
    ck_assert_uint_eq(stats(bc).entries, 0);
    ck_assert_uint_eq(dir_bytes(NULL), 0);
    ck_assert_int_ne(access(tmp, F_OK), 0);
    ck_assert_int_eq(access(foreign, F_OK), 0);
    ck_assert_uint_eq(read_checked(bc, 777, 3000), 1);
    blockcache_close(bc);
    free(path);
    free(good);
    free(garbage);
    free(renamed);
    free(tmp);
    free(foreign);
}
END_TEST

START_TEST(blockcache_forget_drops_every_range_of_a_key)
{
    blockcache *bc = NULL;
    uint8_t buf[1000];
    ck_assert_int_eq(blockcache_open(cache_dir, 64 * MIB, &bc), 0);
    read_checked(bc, 0, 1000);
    read_checked(bc, 5000, 1000);
    ck_assert_int_eq(blockcache_read(bc, cold, "obj/other", 0, buf, sizeof buf), 0);
    blockcache_settle(bc);
    ck_assert_uint_eq(stats(bc).entries, 3);
    blockcache_forget(bc, "obj/data");
    ck_assert_uint_eq(stats(bc).entries, 1);
    uint64_t files = 0;
    dir_bytes(&files);
    ck_assert_uint_eq(files, 1);
    ck_assert_uint_eq(read_checked(bc, 0, 1000), 1);
    uint64_t before = gets();
    ck_assert_int_eq(blockcache_read(bc, cold, "obj/other", 0, buf, sizeof buf), 0);
    blockcache_settle(bc);
    ck_assert_uint_eq(gets(), before);
    blockcache_close(bc);
}
END_TEST

START_TEST(blockcache_source_reads_a_segment_through_the_cache)
{
    char *path = NULL;
    segment_info info = {0};
    ck_assert_int_ge(asprintf(&path, "%s/seg", tmpdir), 0);
    segment_write_options o = {
        .id = 7, .epoch = 1, .block_bytes = 4096, .compression = FLOE_COMPRESSION_ZSTD};
    segment_writer *w = NULL;
    ck_assert_int_eq(segment_writer_open(path, &o, &w), 0);
    for (int i = 0; i < 2000; i++) {
        char key[32], value[128];
        int kl = snprintf(key, sizeof key, "key-%05d", i);
        int vl = snprintf(value, sizeof value, "value-%d-%060d", i, i);
        entry e = {.key = (const uint8_t *)key,
                           .key_len = (uint32_t)kl,
                           .value = (const uint8_t *)value,
                           .value_len = (uint32_t)vl,
                           .seq = (uint64_t)i + 1,
                           .type = ENTRY_PUT};
        ck_assert_int_eq(segment_writer_add(w, &e), 0);
    }
    ck_assert_int_eq(segment_writer_finish(w, &info), 0);
    ck_assert_int_eq(cold_put_file(cold, "segments/aa/7-1.seg", path, 5 * MIB), 0);

    blockcache *bc = NULL;
    ck_assert_int_eq(blockcache_open(cache_dir, 64 * MIB, &bc), 0);
    uint64_t first_cost = 0;
    for (int round = 0; round < 2; round++) {
        segment_source src;
        void *ctx = NULL;
        segment_t *s = NULL;
        uint64_t before = gets();
        ck_assert_int_eq(blockcache_source(bc, cold, "segments/aa/7-1.seg", info.file_bytes, &src, &ctx), 0);
        ck_assert_ptr_null(src.base);
        ck_assert_msg(segment_open(&src, &s) == 0, "%s", floe_last_error());
        for (int i = 0; i < 2000; i += 97) {
            char key[32], want[128];
            segment_hit hit = {0};
            int kl = snprintf(key, sizeof key, "key-%05d", i);
            int vl = snprintf(want, sizeof want, "value-%d-%060d", i, i);
            ck_assert_int_eq(segment_get(s, key, (size_t)kl, &hit), 1);
            ck_assert_uint_eq(hit.value_len, (uint32_t)vl);
            ck_assert_int_eq(memcmp(hit.value, want, (size_t)vl), 0);
            segment_hit_clear(&hit);
        }
        segment_hit miss = {0};
        ck_assert_int_eq(segment_get(s, "nope", 4, &miss), 0);
        uint32_t crc = 0;
        ck_assert_int_eq(segment_verify(s, &crc), 0);
        ck_assert_uint_eq(crc, info.file_crc32c);
        segment_close(s);
        blockcache_source_free(ctx);
        if (round == 0)
            first_cost = gets() - before;
        else
            ck_assert_uint_eq(gets() - before, 0); /* everything came from the cache */
    }
    ck_assert_uint_gt(first_cost, 0);
    /* Reads past the object's end are refused before reaching the store. */
    segment_source src;
    void *ctx = NULL;
    uint8_t buf[16];
    ck_assert_int_eq(blockcache_source(bc, cold, "segments/aa/7-1.seg", info.file_bytes, &src, &ctx), 0);
    ck_assert_int_eq(src.read_at(src.ctx, info.file_bytes - 8, buf, sizeof buf), FLOE_ERANGE);
    blockcache_source_free(ctx);
    blockcache_close(bc);
    segment_info_clear(&info);
    free(path);
}
END_TEST

typedef struct reader_arg {
    blockcache *bc;
    unsigned seed;
    int failures;
} reader_arg;

static void *reader_main(void *p)
{
    reader_arg *a = p;
    uint8_t buf[6000];
    for (int i = 0; i < 1500; i++) {
        a->seed = a->seed * 1103515245u + 12345u;
        uint64_t slot = (a->seed >> 8) % 48;
        uint64_t off = slot * 50000;
        size_t len = 1000 + (size_t)(slot * 101) % 5000;
        if (blockcache_read(a->bc, cold, "obj/data", off, buf, len) != 0) {
            a->failures++;
            continue;
        }
        for (size_t j = 0; j < len; j++)
            if (buf[j] != pattern(off + j)) {
                a->failures++;
                break;
            }
        if (i % 300 == 0)
            blockcache_forget(a->bc, "obj/other");
    }
    return NULL;
}

START_TEST(blockcache_many_threads_read_at_once)
{
    blockcache *bc = NULL;
    const uint64_t capacity = 128 * KIB; /* far less than the 48 ranges: constant eviction */
    ck_assert_int_eq(blockcache_open(cache_dir, capacity, &bc), 0);
    enum { THREADS = 8 };
    pthread_t t[THREADS];
    reader_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (reader_arg){.bc = bc, .seed = (unsigned)i * 7919u + 1};
        ck_assert_int_eq(pthread_create(&t[i], NULL, reader_main, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(args[i].failures, 0);
    }
    blockcache_stats s = stats(bc);
    ck_assert_uint_le(s.bytes, capacity);
    ck_assert_uint_eq(s.hits + s.misses, THREADS * 1500);
    ck_assert_uint_gt(s.hits, 0);
    ck_assert_uint_le(dir_bytes(NULL), capacity);
    blockcache_close(bc);
}
END_TEST

static Suite *blockcache_suite(void)
{
    Suite *s = suite_create("blockcache");
    TCase *tc = tcase_create("blockcache");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, blockcache_miss_costs_one_get_and_a_hit_costs_none);
    tcase_add_test(tc, blockcache_a_range_waiting_to_be_written_is_served_from_memory);
    tcase_add_test(tc, blockcache_errors_of_the_cold_store_are_returned_and_nothing_is_cached);
    tcase_add_test(tc, blockcache_byte_and_count_budgets_are_never_exceeded);
    tcase_add_test(tc, blockcache_evicts_the_least_recently_used_range_first);
    tcase_add_test(tc, blockcache_trims_in_the_background_before_it_is_full);
    tcase_add_test(tc, blockcache_reopen_indexes_the_directory);
    tcase_add_test(tc, blockcache_damaged_file_is_a_miss_not_an_error);
    tcase_add_test(tc, blockcache_forget_drops_every_range_of_a_key);
    tcase_add_test(tc, blockcache_source_reads_a_segment_through_the_cache);
    tcase_add_test(tc, blockcache_many_threads_read_at_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(blockcache_suite());
}
