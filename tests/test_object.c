/* Objects of any size through the embedded API (issue 11): floe_writer_* and floe_reader_*, the
 * object record's metadata, chunked storage, its reclamation (object.c note 2) and floe's
 * reserved keys. */
#include <check.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "floe.h"
#include "object.h"
#include "store.h"
#include "testutil.h"

#define CHUNK (64u * 1024)


static char *dir;

static void setup(void)
{
    dir = tu_tmpdir("object");
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

static floe_options opts(void)
{
    floe_options o;
    floe_options_init(&o);
    o.object.chunk_bytes = CHUNK;
    o.max_object_bytes = 64ull << 20;
    o.segment.max_bytes = 1u << 20;
    return o;
}

static floe_t *open_db(const floe_options *o)
{
    floe_t *db = NULL;
    ck_assert_msg(floe_open(dir, o, &db) == 0, "open: %s", floe_last_error());
    return db;
}

/* Byte i of the test object with seed s. */
static uint8_t byte_at(uint64_t i, unsigned s)
{
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ s;
    return (uint8_t)(x >> 29);
}

static void md5_of(uint64_t size, unsigned seed, unsigned char out[16])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_md5(), NULL);
    uint8_t buf[4096];
    for (uint64_t at = 0; at < size;) {
        size_t n = size - at < sizeof buf ? (size_t)(size - at) : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = byte_at(at + i, seed);
        EVP_DigestUpdate(c, buf, n);
        at += n;
    }
    unsigned int len;
    EVP_DigestFinal_ex(c, out, &len);
    EVP_MD_CTX_free(c);
}

/* Writes size bytes of seed to key in pieces of piece bytes (varying with the step). */
static int write_object(floe_t *db, const char *key, uint64_t size, unsigned seed, size_t piece,
                        const floe_object_meta *meta)
{
    floe_writer *w = NULL;
    int rc = floe_writer_begin(db, key, strlen(key), meta, &w);
    if (rc < 0)
        return rc;
    uint8_t *buf = malloc(piece + 7);
    for (uint64_t at = 0, step = 0; at < size; step++) {
        size_t n = piece + step % 7;
        if (n > size - at)
            n = (size_t)(size - at);
        for (size_t i = 0; i < n; i++)
            buf[i] = byte_at(at + i, seed);
        if ((rc = floe_writer_write(w, buf, n)) < 0) {
            free(buf);
            floe_writer_abort(w);
            return rc;
        }
        at += n;
    }
    free(buf);
    ck_assert_uint_eq(floe_writer_bytes(w), size);
    return floe_writer_commit(w, NULL);
}

static void check_bytes(const uint8_t *p, uint64_t from, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != byte_at(from + i, seed))
            ck_abort_msg("byte %llu is %02x, wrote %02x", (unsigned long long)(from + i), p[i],
                         byte_at(from + i, seed));
}

/* Every way to read key gives the object of size and seed. */
static void check_object(floe_t *db, const char *key, uint64_t size, unsigned seed)
{
    unsigned char md5[16];
    md5_of(size, seed, md5);
    floe_value v = {0};
    ck_assert_msg(floe_get(db, key, strlen(key), &v) == 0, "get %s: %s", key, floe_last_error());
    ck_assert_uint_eq(v.len, size);
    check_bytes(v.data, 0, v.len, seed);
    ck_assert_uint_eq(((char *)v.data)[v.len], '\0');
    ck_assert_int_eq(v.md5_known, 1);
    ck_assert_mem_eq(v.md5, md5, 16);
    ck_assert_int_eq(v.chunked, size > CHUNK);
    floe_value_free(&v);

    ck_assert_int_eq(floe_head(db, key, strlen(key), &v), 0);
    ck_assert_uint_eq(v.len, size);
    ck_assert_ptr_null(v.data);
    ck_assert_mem_eq(v.md5, md5, 16);
    floe_value_free(&v);

    floe_reader *r = NULL;
    floe_value info = {0};
    ck_assert_int_eq(floe_reader_open(db, key, strlen(key), &info, &r), 0);
    ck_assert_uint_eq(floe_reader_size(r), size);
    ck_assert_uint_eq(info.len, size);
    ck_assert_mem_eq(info.md5, md5, 16);
    floe_value_free(&info);
    uint8_t buf[10007];
    for (uint64_t at = 0; at < size;) {
        size_t n = 0;
        ck_assert_int_eq(floe_reader_read(r, at, buf, sizeof buf, &n), 0);
        ck_assert_uint_gt(n, 0);
        check_bytes(buf, at, n, seed);
        at += n;
    }
    size_t n = 1;
    ck_assert_int_eq(floe_reader_read(r, size, buf, sizeof buf, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(floe_reader_read(r, size + 1, buf, sizeof buf, &n), FLOE_ERANGE);
    floe_reader_close(r);
}

/* Issue 11 part 4: round trips at 0 B, 1 B, chunk size - 1, chunk size, chunk size + 1 and a few
 * chunks, in pieces smaller and larger than a chunk; from the memtable, after a reopen (WAL
 * replay), from segment files and after compaction. */
START_TEST(object_round_trips_at_every_size_around_a_chunk)
{
    static const uint64_t sizes[] = {0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5, 2 * CHUNK};
    static const size_t pieces[] = {1000, 3 * CHUNK + 11};
    floe_options o = opts();
    floe_t *db = open_db(&o);
    char key[32];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        snprintf(key, sizeof key, "obj/%zu", i);
        ck_assert_int_eq(write_object(db, key, sizes[i], (unsigned)i, pieces[i % 2], NULL), 0);
        check_object(db, key, sizes[i], (unsigned)i);
    }
    ck_assert_int_eq(floe_close(db), 0);
    for (int round = 0; round < 3; round++) {
        db = open_db(&o);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            snprintf(key, sizeof key, "obj/%zu", i);
            check_object(db, key, sizes[i], (unsigned)i);
        }
        if (round == 0)
            ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
        if (round == 1)
            ck_assert_int_eq(floe_compact(db), 0);
        ck_assert_int_eq(floe_close(db), 0);
    }
}
END_TEST

/* Several chunk sizes, and an object of many chunks read at ranges across their boundaries. */
START_TEST(object_ranges_across_chunk_boundaries_read_the_right_bytes)
{
    static const uint64_t chunks[] = {64 * 1024, 100 * 1000, 1u << 20};
    for (size_t c = 0; c < 3; c++) {
        floe_options o = opts();
        o.object.chunk_bytes = chunks[c];
        floe_t *db = open_db(&o);
        uint64_t size = 5 * chunks[c] + 12345;
        ck_assert_int_eq(write_object(db, "big", size, 7, 40000, NULL), 0);
        if (c == 1)
            ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
        uint64_t cb = chunks[c];
        const uint64_t ranges[][2] = {
            {0, 1},    {cb - 1, 2},      {cb - 3, cb + 6}, {2 * cb, cb},    {size - 1, 10},
            {size, 5}, {cb / 2, 3 * cb}, {0, UINT64_MAX},  {4 * cb + 1, 0}, {size - cb - 7, UINT64_MAX}};
        for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
            floe_value v = {0};
            uint64_t total = 0;
            ck_assert_int_eq(floe_read_range(db, "big", 3, ranges[i][0], ranges[i][1], &v, &total), 0);
            uint64_t want = size - ranges[i][0] < ranges[i][1] ? size - ranges[i][0] : ranges[i][1];
            ck_assert_uint_eq(total, size);
            ck_assert_uint_eq(v.len, want);
            check_bytes(v.data, ranges[i][0], v.len, 7);
            floe_value_free(&v);
        }
        floe_value v = {0};
        ck_assert_int_eq(floe_read_range(db, "big", 3, size + 1, 1, &v, NULL), FLOE_ERANGE);
        ck_assert_int_eq(floe_close(db), 0);
        tu_rmrf(dir);
        free(dir);
        dir = tu_tmpdir("object");
    }
}
END_TEST

/* Issue 11 part 3: content type and user metadata round-trip; lists give size and MD5. */
START_TEST(object_metadata_round_trips_and_lists_show_size_and_md5)
{
    floe_options o = opts();
    floe_t *db = open_db(&o);
    const char meta[] = "color\0blue\0owner\0ann";
    floe_object_meta m = {.content_type = "video/mp4", .user_meta = meta, .user_meta_len = sizeof meta};
    ck_assert_int_eq(write_object(db, "m/big", 2 * CHUNK + 1, 3, 5000, &m), 0);
    ck_assert_int_eq(write_object(db, "m/small", 10, 4, 5000, &m), 0);
    ck_assert_int_eq(floe_put(db, "m/plain", 7, "abc", 3, NULL, NULL), 0);
    for (int round = 0; round < 2; round++) {
        const char *keys[] = {"m/big", "m/small"};
        for (int k = 0; k < 2; k++) {
            floe_value v = {0};
            ck_assert_int_eq(floe_head(db, keys[k], strlen(keys[k]), &v), 0);
            ck_assert_str_eq(v.content_type, "video/mp4");
            ck_assert_uint_eq(v.user_meta_len, sizeof meta);
            ck_assert_mem_eq(v.user_meta, meta, sizeof meta);
            ck_assert_uint_gt(v.write_ms, 0);
            floe_value_free(&v);
        }
        floe_value v = {0};
        ck_assert_int_eq(floe_get(db, "m/plain", 7, &v), 0);
        ck_assert_int_eq(v.md5_known, 0);
        ck_assert_ptr_null(v.user_meta);
        floe_value_free(&v);

        floe_list *l = NULL;
        ck_assert_int_eq(floe_list_keys(db, "m/", 2, NULL, 0, 10, &l), 0);
        ck_assert_uint_eq(l->count, 3);
        ck_assert_str_eq(l->entries[0].key, "m/big");
        ck_assert_uint_eq(l->entries[0].value_len, 2 * CHUNK + 1);
        ck_assert_int_eq(l->entries[0].md5_known, 1);
        unsigned char md5[16];
        md5_of(2 * CHUNK + 1, 3, md5);
        ck_assert_mem_eq(l->entries[0].md5, md5, 16);
        ck_assert_uint_eq(l->entries[0].user_meta_len, sizeof meta); /* lists carry the metadata too */
        ck_assert_mem_eq(l->entries[0].user_meta, meta, sizeof meta);
        ck_assert_str_eq(l->entries[1].key, "m/plain");
        ck_assert_ptr_null(l->entries[1].user_meta);
        ck_assert_int_eq(l->entries[1].md5_known, 0);
        ck_assert_uint_eq(l->entries[2].value_len, 10);
        floe_list_free(l);
        ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    }
    char big[FLOE_MAX_USER_META_BYTES + 1] = {0};
    floe_object_meta toobig = {.user_meta = big, .user_meta_len = sizeof big};
    floe_writer *w = NULL;
    ck_assert_int_eq(floe_writer_begin(db, "x", 1, &toobig, &w), FLOE_EINVAL);
    floe_object_meta badct = {.content_type = "a\nb"};
    ck_assert_int_eq(floe_writer_begin(db, "x", 1, &badct, &w), FLOE_EINVAL);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* Chunk keys of the store (a listing of floe's reserved keys that lists skip). */
static size_t reserved_keys(floe_t *db)
{
    uint8_t p[FLOE_RESERVED_PREFIX_BYTES];
    memset(p, 0xff, sizeof p);
    floe_list *l = NULL;
    ck_assert_int_eq(store_list_reserved(db, p, sizeof p, NULL, 0, 100000, &l), 0);
    size_t n = l->count;
    floe_list_free(l);
    return n;
}

/* Issue 11 part 1: nothing is visible before commit; an aborted or failed writer leaves nothing,
 * and its chunks are deleted at once. */
START_TEST(object_is_invisible_until_commit_and_abort_deletes_its_chunks)
{
    floe_options o = opts();
    o.max_object_bytes = 4 * CHUNK;
    floe_t *db = open_db(&o);
    ck_assert_int_eq(write_object(db, "k", 100, 1, 100, NULL), 0);
    floe_writer *w = NULL;
    ck_assert_int_eq(floe_writer_begin(db, "k", 1, NULL, &w), 0);
    uint8_t *buf = calloc(1, 3 * CHUNK);
    ck_assert_int_eq(floe_writer_write(w, buf, 3 * CHUNK), 0);
    ck_assert_uint_ge(reserved_keys(db), 3); /* the reference and two chunks so far */
    check_object(db, "k", 100, 1);           /* still the old version */
    floe_list *l = NULL;
    ck_assert_int_eq(floe_list_keys(db, "", 0, NULL, 0, 100, &l), 0);
    ck_assert_uint_eq(l->count, 1);
    floe_list_free(l);
    floe_writer_abort(w);
    ck_assert_uint_eq(reserved_keys(db), 0);
    check_object(db, "k", 100, 1);

    /* Past max_object_bytes: the write fails, commit fails, nothing changed, nothing left. */
    ck_assert_int_eq(floe_writer_begin(db, "k", 1, NULL, &w), 0);
    ck_assert_int_eq(floe_writer_write(w, buf, 3 * CHUNK), 0);
    ck_assert_int_eq(floe_writer_write(w, buf, CHUNK + 1), FLOE_ETOOBIG);
    ck_assert_int_eq(floe_writer_write(w, buf, 1), FLOE_EINVAL);
    ck_assert_int_ne(floe_writer_commit(w, NULL), 0);
    check_object(db, "k", 100, 1);
    ck_assert_uint_eq(reserved_keys(db), 0);
    free(buf);

    /* Compaction then removes the deleted chunks' bytes. */
    ck_assert_int_eq(floe_compact(db), 0);
    floe_stats st;
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    ck_assert_uint_lt(st.local_segment_bytes, CHUNK);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* Issue 11 part 1: a writer killed mid-object (here a child process that _exits) leaves no visible
 * object, and the next open deletes its chunks; compaction then frees their space. */
START_TEST(object_cut_off_by_a_crash_is_invisible_and_reclaimed_at_open)
{
    floe_options o = opts();
    floe_t *db = open_db(&o);
    ck_assert_int_eq(write_object(db, "keep", 3 * CHUNK + 1, 9, 7000, NULL), 0);
    ck_assert_int_eq(floe_close(db), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        floe_t *c = NULL;
        if (floe_open(dir, &o, &c) != 0)
            _exit(2);
        floe_writer *w = NULL;
        uint8_t *buf = calloc(1, CHUNK);
        if (floe_writer_begin(c, "cut", 3, NULL, &w) != 0)
            _exit(3);
        for (int i = 0; i < 40; i++)
            if (floe_writer_write(w, buf, CHUNK) != 0)
                _exit(4);
        _exit(0); /* as if killed: no commit, no close */
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    db = open_db(&o);
    floe_value v = {0};
    ck_assert_int_eq(floe_get(db, "cut", 3, &v), FLOE_ENOTFOUND);
    ck_assert_uint_eq(reserved_keys(db), 1 + 4); /* only "keep"'s reference and chunks */
    check_object(db, "keep", 3 * CHUNK + 1, 9);
    ck_assert_int_eq(floe_compact(db), 0);
    floe_stats st;
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    ck_assert_uint_lt(st.local_segment_bytes, 6 * CHUNK); /* 39 chunks written, about 4 kept */
    check_object(db, "keep", 3 * CHUNK + 1, 9);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* object.c note 2 and 3: a reader opened before an overwrite keeps reading the version it opened;
 * the replaced version's chunks live gc.grace_s after the sweep first finds them dead. */
START_TEST(object_reader_keeps_its_version_until_the_grace_period_ends)
{
    floe_options o = opts();
    o.gc.grace_s = 0;
    floe_t *db = open_db(&o);
    ck_assert_int_eq(write_object(db, "v", 4 * CHUNK, 1, 9000, NULL), 0);
    floe_reader *r = NULL;
    ck_assert_int_eq(floe_reader_open(db, "v", 1, NULL, &r), 0);
    ck_assert_int_eq(write_object(db, "v", 2 * CHUNK + 3, 2, 9000, NULL), 0);
    check_object(db, "v", 2 * CHUNK + 3, 2);
    uint8_t buf[1000];
    size_t n = 0;
    ck_assert_int_eq(floe_reader_read(r, 3 * CHUNK + 5, buf, sizeof buf, &n), 0);
    ck_assert_uint_eq(n, sizeof buf);
    check_bytes(buf, 3 * CHUNK + 5, n, 1);
    ck_assert_uint_eq(reserved_keys(db), 2 + 4 + 3);
    /* The first sweep finds the old version dead and stamps it; the chunks stay readable. */
    ck_assert_int_eq(object_sweep(db, SWEEP_NOW), 0);
    ck_assert_int_eq(floe_reader_read(r, CHUNK + 1, buf, sizeof buf, &n), 0);
    check_bytes(buf, CHUNK + 1, n, 1);
    /* The next one, grace (0 s) having passed, deletes them. */
    ck_assert_int_eq(object_sweep(db, SWEEP_NOW), 0);
    ck_assert_uint_eq(reserved_keys(db), 1 + 3);
    ck_assert_int_eq(floe_reader_read(r, 2 * CHUNK + 1, buf, sizeof buf, &n), FLOE_ENOTFOUND);
    floe_reader_close(r);
    /* A deleted object goes the same way; the live one is never touched. */
    ck_assert_int_eq(write_object(db, "d", CHUNK + 1, 5, 9000, NULL), 0);
    ck_assert_int_eq(floe_delete(db, "d", 1, NULL), 0);
    ck_assert_int_eq(object_sweep(db, SWEEP_NOW), 0);
    ck_assert_int_eq(object_sweep(db, SWEEP_NOW), 0);
    ck_assert_uint_eq(reserved_keys(db), 1 + 3);
    check_object(db, "v", 2 * CHUNK + 3, 2);
    ck_assert_int_eq(floe_close(db), 0);

    /* With a long grace, sweeps keep a replaced version's chunks. */
    o.gc.grace_s = 3600;
    db = open_db(&o);
    ck_assert_int_eq(write_object(db, "v", CHUNK + 1, 3, 9000, NULL), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(object_sweep(db, SWEEP_NOW), 0);
    ck_assert_uint_eq(reserved_keys(db), 2 + 3 + 2);
    ck_assert_int_eq(floe_close(db), 0);
    /* Readers die with the process: the next open deletes the replaced version at once. */
    db = open_db(&o);
    ck_assert_uint_eq(reserved_keys(db), 1 + 2);
    check_object(db, "v", CHUNK + 1, 3);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* Writes a chunked object, replaces it, and waits (writing nothing more) until the background sweep
 * (the compaction thread, every gc.interval_s) has reclaimed its chunks. */
static void expect_replaced_chunks_reclaimed(unsigned grace_s)
{
    floe_options o = opts();
    o.gc.grace_s = grace_s;
    o.gc.interval_s = 1;
    floe_t *db = open_db(&o);
    ck_assert_int_eq(write_object(db, "v", 3 * CHUNK, 1, 9000, NULL), 0);
    ck_assert_int_eq(write_object(db, "v", 10, 2, 9000, NULL), 0);
    ck_assert_uint_eq(reserved_keys(db), 1 + 3);
    size_t n = 0;
    for (int i = 0; i < 100 && (n = reserved_keys(db)) != 0; i++)
        usleep(100 * 1000); /* no write at all from here */
    ck_assert_msg(n == 0, "%zu reserved keys are left 10 s after the object was replaced", n);
    check_object(db, "v", 10, 2);
    ck_assert_int_eq(floe_close(db), 0);
}

/* The background sweep reclaims a replaced object's chunks on its own. */
START_TEST(object_background_sweep_reclaims_replaced_chunks)
{
    expect_replaced_chunks_reclaimed(0);
}
END_TEST

/* An idle store reclaims too when the grace period outlasts an interval: the sweep ran only after
 * writes, so a reference stamped dead waited for the next write or open. */
START_TEST(object_idle_store_reclaims_replaced_chunks_after_the_grace_period)
{
    expect_replaced_chunks_reclaimed(2);
}
END_TEST

typedef struct race_arg {
    floe_t *db;
    int id;
    int stop;
} race_arg;

static void *race_writer(void *p)
{
    race_arg *a = p;
    char key[16];
    snprintf(key, sizeof key, "race/%d", a->id % 2);
    for (int i = 0; i < 12; i++) {
        uint64_t size = (uint64_t)(i % 4) * CHUNK + (uint64_t)i * 100 + 1;
        ck_assert_int_eq(write_object(a->db, key, size, (unsigned)(a->id * 100 + i), 20000, NULL), 0);
    }
    return NULL;
}

static void *race_reader(void *p)
{
    race_arg *a = p;
    uint8_t buf[4096];
    while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
        floe_reader *r = NULL;
        if (floe_reader_open(a->db, "race/0", 6, NULL, &r) != 0)
            continue;
        for (uint64_t at = 0; at < floe_reader_size(r);) {
            size_t n = 0;
            /* The version read stays whole: the grace period outlives this loop. */
            ck_assert_int_eq(floe_reader_read(r, at, buf, sizeof buf, &n), 0);
            at += n;
        }
        floe_reader_close(r);
    }
    return NULL;
}

static void *race_sweeper(void *p)
{
    race_arg *a = p;
    while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE))
        ck_assert_int_eq(object_sweep(a->db, SWEEP_NOW), 0);
    return NULL;
}

/* Writers of chunked objects at the same keys, readers and sweeps at once (also under TSan): every
 * read is whole, and afterwards only the live objects' chunks remain once the sweep has run
 * twice past a zero grace period. */
START_TEST(object_concurrent_writers_readers_and_sweeps)
{
    floe_options o = opts();
    o.gc.grace_s = 3600;
    floe_t *db = open_db(&o);
    pthread_t t[6];
    race_arg args[6];
    for (int i = 0; i < 6; i++) {
        args[i] = (race_arg){.db = db, .id = i};
        void *(*fn)(void *) = i < 3 ? race_writer : i < 5 ? race_reader : race_sweeper;
        ck_assert_int_eq(pthread_create(&t[i], NULL, fn, &args[i]), 0);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    for (int i = 3; i < 6; i++) {
        __atomic_store_n(&args[i].stop, 1, __ATOMIC_RELEASE);
        pthread_join(t[i], NULL);
    }
    ck_assert_int_eq(floe_close(db), 0);
    o.gc.grace_s = 0;
    db = open_db(&o); /* the open sweep stamps the replaced versions */
    ck_assert_int_eq(object_sweep(db, SWEEP_NOW), 0);
    size_t live = 0;
    for (int k = 0; k < 2; k++) {
        char key[16];
        snprintf(key, sizeof key, "race/%d", k);
        floe_value v = {0};
        ck_assert_int_eq(floe_head(db, key, strlen(key), &v), 0);
        if (v.chunked)
            live += 1 + (v.len + CHUNK - 1) / CHUNK;
        floe_value_free(&v);
    }
    ck_assert_uint_eq(reserved_keys(db), live);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

static long rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib / 1024;
}

/* Issue 11 part 1 and 2: a 1 GiB object written and read with the default options (8 MiB chunks,
 * 64 MiB pending segment, compaction running) never has the process past 256 MiB resident. It
 * took 410 MiB before compaction's scans gave the pages of the chunks they read back. */
START_TEST(object_of_a_gib_streams_in_bounded_memory)
{
    if (TU_SANITIZED)
        return;
    floe_options o;
    floe_options_init(&o);
    o.max_object_bytes = 2ull << 30;
    floe_t *db = open_db(&o);
    const uint64_t size = 1ull << 30;
    const size_t piece = 1 << 20;
    uint8_t *buf = malloc(piece);
    floe_writer *w = NULL;
    ck_assert_int_eq(floe_writer_begin(db, "gib", 3, NULL, &w), 0);
    long base = rss_mib(), peak = base;
    for (uint64_t at = 0; at < size; at += piece) {
        for (size_t i = 0; i < piece; i += 4096)
            buf[i] = byte_at(at + i, 21);
        ck_assert_int_eq(floe_writer_write(w, buf, piece), 0);
        long r = rss_mib();
        peak = r > peak ? r : peak;
    }
    ck_assert_int_eq(floe_writer_commit(w, NULL), 0);
    ck_assert_msg(peak < 256, "writing: %ld MiB resident (%ld before)", peak, base);
    floe_reader *r = NULL;
    ck_assert_int_eq(floe_reader_open(db, "gib", 3, NULL, &r), 0);
    peak = rss_mib();
    for (uint64_t at = 0; at < size; at += piece) {
        size_t n = 0;
        ck_assert_int_eq(floe_reader_read(r, at, buf, piece, &n), 0);
        ck_assert_uint_eq(n, piece);
        ck_assert_uint_eq(buf[0], byte_at(at, 21));
        ck_assert_uint_eq(buf[piece - 4096], byte_at(at + piece - 4096, 21));
        long x = rss_mib();
        peak = x > peak ? x : peak;
    }
    floe_reader_close(r);
    ck_assert_msg(peak < 256, "reading: %ld MiB resident", peak);
    free(buf);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* Retention expires objects like values: compaction drops an expired head (it counted only plain
 * puts, so objects written over HTTP never left the disk), and the chunks of a chunked one go
 * once the sweep finds them unreferenced. */
START_TEST(object_expired_under_retention_leaves_the_disk)
{
    floe_options o = opts();
    floe_retention_rule rules[] = {{.prefix = "r/", .max_age_s = 1}};
    o.retention = rules;
    o.retention_count = 1;
    floe_t *db = open_db(&o);
    ck_assert_int_eq(write_object(db, "r/small", 1000, 1, 500, NULL), 0);
    ck_assert_int_eq(write_object(db, "r/big", 3 * CHUNK + 1, 2, 9000, NULL), 0);
    ck_assert_int_eq(write_object(db, "keep", 10, 3, 500, NULL), 0);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    usleep(1100 * 1000);
    floe_value v = {0};
    ck_assert_int_eq(floe_get(db, "r/big", 5, &v), FLOE_ENOTFOUND);
    ck_assert_int_eq(floe_compact(db), 0);
    floe_stats st;
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    ck_assert_uint_ge(st.compaction_expired, 2); /* both heads */
    ck_assert_int_eq(floe_close(db), 0);
    db = open_db(&o); /* the open sweep: "r/big"'s chunks name a key with no head */
    ck_assert_uint_eq(reserved_keys(db), 0);
    ck_assert_int_eq(floe_compact(db), 0);
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    ck_assert_uint_lt(st.local_segment_bytes, CHUNK);
    check_object(db, "keep", 10, 3);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* A reader of a plain value (floe_put) larger than a chunk reads it by windows, each checked
 * against the version it opened. */
START_TEST(object_reader_of_a_large_plain_value_notices_a_replacement)
{
    floe_options o = opts();
    floe_t *db = open_db(&o);
    size_t size = 3 * CHUNK + 17;
    uint8_t *val = malloc(size);
    for (size_t i = 0; i < size; i++)
        val[i] = byte_at(i, 11);
    ck_assert_int_eq(floe_put(db, "p", 1, val, size, NULL, NULL), 0);
    floe_reader *r = NULL;
    floe_value info = {0};
    ck_assert_int_eq(floe_reader_open(db, "p", 1, &info, &r), 0);
    ck_assert_int_eq(info.md5_known, 0);
    ck_assert_uint_eq(info.len, size);
    floe_value_free(&info);
    uint8_t buf[5000];
    for (uint64_t at = 0; at < size;) {
        size_t n = 0;
        ck_assert_int_eq(floe_reader_read(r, at, buf, sizeof buf, &n), 0);
        check_bytes(buf, at, n, 11);
        at += n;
    }
    ck_assert_int_eq(floe_put(db, "p", 1, val, size, NULL, NULL), 0);
    size_t n = 0;
    ck_assert_int_eq(floe_reader_read(r, 2 * CHUNK, buf, sizeof buf, &n), FLOE_ENOTFOUND);
    floe_reader_close(r);
    free(val);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* Reserved keys: refused to writers and readers, never listed, and a user's prefix delete or
 * retention rule cannot reach them. */
START_TEST(object_reserved_keys_are_out_of_users_reach)
{
    floe_options o = opts();
    floe_retention_rule rules[] = {{.prefix = "\xff", .max_age_s = 1}};
    floe_t *db = open_db(&o);
    uint8_t k[12];
    memset(k, 0xff, sizeof k);
    floe_value v = {0};
    ck_assert_int_eq(floe_put(db, k, sizeof k, "x", 1, NULL, NULL), FLOE_EKEY);
    ck_assert_int_eq(floe_delete(db, k, sizeof k, NULL), FLOE_EKEY);
    ck_assert_int_eq(floe_get(db, k, sizeof k, &v), FLOE_EKEY);
    ck_assert_int_eq(floe_delete_prefix(db, k, FLOE_RESERVED_PREFIX_BYTES, NULL), FLOE_EKEY);
    floe_writer *w = NULL;
    ck_assert_int_eq(floe_writer_begin(db, k, sizeof k, NULL, &w), FLOE_EKEY);
    /* Seven 0xff bytes are an ordinary key. */
    ck_assert_int_eq(floe_put(db, k, FLOE_RESERVED_PREFIX_BYTES - 1, "x", 1, NULL, NULL), 0);
    ck_assert_int_eq(write_object(db, "a", 2 * CHUNK + 9, 4, 10000, NULL), 0);
    ck_assert_int_eq(floe_delete_prefix(db, k, 1, NULL), 0); /* "\xff": the 7-byte key only */
    ck_assert_int_eq(floe_get(db, k, FLOE_RESERVED_PREFIX_BYTES - 1, &v), FLOE_ENOTFOUND);
    check_object(db, "a", 2 * CHUNK + 9, 4);
    floe_list *l = NULL;
    ck_assert_int_eq(floe_list_keys(db, k, 1, NULL, 0, 100, &l), 0);
    ck_assert_uint_eq(l->count, 0);
    floe_list_free(l);
    ck_assert_int_eq(floe_list_keys(db, "", 0, NULL, 0, 100, &l), 0);
    ck_assert_uint_eq(l->count, 1);
    floe_list_free(l);
    ck_assert_int_eq(floe_compact(db), 0);
    check_object(db, "a", 2 * CHUNK + 9, 4);
    ck_assert_int_eq(floe_close(db), 0);

    /* A rule for keys under "\xff" expires user keys there, never the chunks of "a". */
    o.retention = rules;
    o.retention_count = 1;
    db = open_db(&o);
    ck_assert_int_eq(floe_put(db, k, FLOE_RESERVED_PREFIX_BYTES - 1, "x", 1, NULL, NULL), 0);
    usleep(1100 * 1000);
    ck_assert_int_eq(floe_get(db, k, FLOE_RESERVED_PREFIX_BYTES - 1, &v), FLOE_ENOTFOUND);
    check_object(db, "a", 2 * CHUNK + 9, 4);
    ck_assert_int_eq(floe_compact(db), 0);
    check_object(db, "a", 2 * CHUNK + 9, 4);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* The system namespace (FLOE_SYSTEM_PREFIX): written, read, listed and deleted like other keys, as
 * large objects too, but outside every user list, prefix delete and retention rule. */
START_TEST(object_system_namespace_is_open_to_services_and_apart_from_user_keys)
{
    floe_options o = opts();
    floe_retention_rule rules[] = {{.prefix = "", .max_age_s = 1}};
    o.retention = rules;
    o.retention_count = 1;
    floe_t *db = open_db(&o);
    char sk[64], sbig[64];
    size_t sk_len = (size_t)snprintf(sk, sizeof sk, "%sb/photos", FLOE_SYSTEM_PREFIX);
    snprintf(sbig, sizeof sbig, "%sp/upload1/00001", FLOE_SYSTEM_PREFIX);
    ck_assert_int_eq(floe_put(db, sk, sk_len, "{}", 2, NULL, NULL), 0);
    ck_assert_int_eq(write_object(db, sbig, 2 * CHUNK + 5, 6, 7000, NULL), 0);
    ck_assert_int_eq(floe_put(db, "user", 4, "u", 1, NULL, NULL), 0);
    ck_assert_int_eq(floe_delete_prefix(db, "\xff", 1, NULL), 0); /* a user's prefix: not the system's */

    floe_list *l = NULL;
    ck_assert_int_eq(floe_list_keys(db, "", 0, NULL, 0, 100, &l), 0);
    ck_assert_uint_eq(l->count, 1);
    ck_assert_str_eq(l->entries[0].key, "user");
    floe_list_free(l);
    ck_assert_int_eq(floe_list_keys(db, FLOE_SYSTEM_PREFIX, FLOE_SYSTEM_PREFIX_BYTES, NULL, 0, 100, &l), 0);
    ck_assert_uint_eq(l->count, 2); /* the bucket and the part, never the part's chunks */
    ck_assert_mem_eq(l->entries[0].key, sk, sk_len);
    ck_assert_str_eq(l->entries[1].key, sbig);
    ck_assert_uint_eq(l->entries[1].value_len, 2 * CHUNK + 5);
    floe_list_free(l);

    usleep(1100 * 1000); /* the rule for "" expires "user", never the system's keys */
    floe_value v = {0};
    ck_assert_int_eq(floe_get(db, "user", 4, &v), FLOE_ENOTFOUND);
    ck_assert_int_eq(floe_compact(db), 0);
    ck_assert_int_eq(floe_close(db), 0);
    db = open_db(&o); /* the open sweep keeps the chunks a system key names */
    ck_assert_int_eq(floe_get(db, sk, sk_len, &v), 0);
    ck_assert_mem_eq(v.data, "{}", 2);
    floe_value_free(&v);
    check_object(db, sbig, 2 * CHUNK + 5, 6);

    char pfx[32];
    size_t pfx_len = (size_t)snprintf(pfx, sizeof pfx, "%sp/", FLOE_SYSTEM_PREFIX);
    ck_assert_int_eq(floe_delete_prefix(db, pfx, pfx_len, NULL), 0);
    ck_assert_int_eq(floe_get(db, sbig, strlen(sbig), &v), FLOE_ENOTFOUND);
    ck_assert_int_eq(floe_get(db, sk, sk_len, &v), 0);
    floe_value_free(&v);
    ck_assert_int_eq(floe_delete(db, sk, sk_len, NULL), 0);
    ck_assert_int_eq(floe_close(db), 0);
    db = open_db(&o);
    ck_assert_uint_eq(reserved_keys(db), 0); /* the deleted part's chunks went with the sweep */
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

/* Metadata over 2048 bytes (the S3 API's attributes beside x-amz-meta-*) makes a format 2 record;
 * anything smaller stays format 1, which floes before format 2 read (docs/formats.md). */
START_TEST(object_record_format_2_carries_large_metadata)
{
    floe_options o = opts();
    floe_t *db = open_db(&o);
    static char meta[FLOE_MAX_USER_META_BYTES];
    for (size_t i = 0; i < sizeof meta; i++)
        meta[i] = (char)('a' + i % 26);
    size_t sizes[] = {100, 2048, 2049, FLOE_MAX_USER_META_BYTES};
    for (int round = 0; round < 2; round++) { /* from the memtable, then from a segment after a reopen */
        for (int i = 0; i < 4; i++) {
            char key[16];
            snprintf(key, sizeof key, "meta%d", i);
            if (round == 0) {
                floe_object_meta m = {.user_meta = meta, .user_meta_len = sizes[i]};
                ck_assert_int_eq(write_object(db, key, i == 3 ? 3 * CHUNK : 10, 7, 5000, &m), 0);
            }
            floe_value v = {0};
            store_found f;
            ck_assert_int_eq(store_read_raw(db, key, strlen(key), 1, 0, 0, 1, &v, NULL, &f), 0);
            ck_assert_int_eq(f.is_object, 1);
            ck_assert_uint_eq(f.head[0], sizes[i] > 2048 ? 2 : 1);
            floe_value_free(&v);
            ck_assert_int_eq(floe_head(db, key, strlen(key), &v), 0);
            ck_assert_uint_eq(v.user_meta_len, sizes[i]);
            ck_assert_mem_eq(v.user_meta, meta, sizes[i]);
            floe_value_free(&v);
        }
        ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
        ck_assert_int_eq(floe_close(db), 0);
        db = open_db(&o);
    }
    check_object(db, "meta3", 3 * CHUNK, 7);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("object");
    TCase *tc = tcase_create("object");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, object_round_trips_at_every_size_around_a_chunk);
    tcase_add_test(tc, object_ranges_across_chunk_boundaries_read_the_right_bytes);
    tcase_add_test(tc, object_metadata_round_trips_and_lists_show_size_and_md5);
    tcase_add_test(tc, object_is_invisible_until_commit_and_abort_deletes_its_chunks);
    tcase_add_test(tc, object_cut_off_by_a_crash_is_invisible_and_reclaimed_at_open);
    tcase_add_test(tc, object_reader_keeps_its_version_until_the_grace_period_ends);
    tcase_add_test(tc, object_reader_of_a_large_plain_value_notices_a_replacement);
    tcase_add_test(tc, object_background_sweep_reclaims_replaced_chunks);
    tcase_add_test(tc, object_idle_store_reclaims_replaced_chunks_after_the_grace_period);
    tcase_add_test(tc, object_concurrent_writers_readers_and_sweeps);
    tcase_add_test(tc, object_of_a_gib_streams_in_bounded_memory);
    tcase_add_test(tc, object_expired_under_retention_leaves_the_disk);
    tcase_add_test(tc, object_reserved_keys_are_out_of_users_reach);
    tcase_add_test(tc, object_system_namespace_is_open_to_services_and_apart_from_user_keys);
    tcase_add_test(tc, object_record_format_2_carries_large_metadata);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
