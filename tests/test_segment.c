/* Segment files: what the writer seals is what the reader returns, every kind of damage is reported
 * with the segment, block and offset named, and no damaged or truncated file makes the reader crash
 * or read out of bounds (run this suite under ASan). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crc32c.h"
#include "error.h"
#include "file_fault.h"
#include "lru.h"
#include "segment.h"
#include "testutil.h"
#include "tools.h"

static char *tmpdir;

static void setup(void)
{
    tmpdir = tu_tmpdir("segment");
}

static void teardown(void)
{
    tu_rmrf(tmpdir);
    free(tmpdir);
}

static char *path_in_tmp(const char *name)
{
    char *p = NULL;
    ck_assert_int_ge(asprintf(&p, "%s/%s", tmpdir, name), 0);
    return p;
}

/* ---- a deterministic data set with every kind of entry ---- */

#define BIG_VALUE_BYTES (300 * 1024)

/* Storage for one generated entry. */
typedef struct gen_entry {
    char key[FLOE_MAX_KEY_BYTES];
    uint8_t *value;
    char ct[FLOE_MAX_CONTENT_TYPE_BYTES];
    entry e;
} gen_entry;

/* Entry i of the "mixed" set: keys "key-000000", ...; every 7th a tombstone, every 3rd with a content
 * type, every 11th an empty value, every 50th a 1024-byte key (still in order: it extends key i),
 * entry 123 a value larger than any block. */
static void gen_mixed(int i, gen_entry *g)
{
    memset(&g->e, 0, sizeof g->e);
    g->value = NULL;
    int klen = snprintf(g->key, sizeof g->key, "key-%06d", i);
    if (i % 50 == 49) {
        memset(g->key + klen, 'L', FLOE_MAX_KEY_BYTES - (size_t)klen);
        klen = FLOE_MAX_KEY_BYTES;
    }
    g->e.key = (const uint8_t *)g->key;
    g->e.key_len = (uint32_t)klen;
    g->e.seq = 1000 + (uint64_t)i * 3;
    g->e.type = ENTRY_PUT;
    if (i % 7 == 6) {
        g->e.type = ENTRY_DELETE;
        return;
    }
    if (i % 3 == 0) {
        int n = snprintf(g->ct, sizeof g->ct, "text/plain; n=%d", i);
        g->e.content_type = g->ct;
        g->e.content_type_len = (uint32_t)n;
    }
    if (i % 11 == 10)
        return;
    size_t len = i == 123 ? BIG_VALUE_BYTES : (size_t)(i * 37 % 700) + 1;
    g->value = malloc(len);
    ck_assert_ptr_nonnull(g->value);
    for (size_t j = 0; j < len; j++)
        g->value[j] = (uint8_t)("value text for entry "[j % 21] + (j / 21 == 3 ? i % 5 : 0));
    g->e.value = g->value;
    g->e.value_len = (uint32_t)len;
}

static void gen_free(gen_entry *g)
{
    free(g->value);
    g->value = NULL;
}

static segment_write_options opts_with(floe_compression compression, uint32_t block_bytes)
{
    segment_write_options o = {.id = 42, .epoch = 7, .block_bytes = block_bytes, .compression = compression};
    return o;
}

static void write_mixed(const char *path, const segment_write_options *o, int n, segment_info *info)
{
    segment_writer *w;
    ck_assert_int_eq(segment_writer_open(path, o, &w), 0);
    for (int i = 0; i < n; i++) {
        gen_entry g;
        gen_mixed(i, &g);
        ck_assert_msg(segment_writer_add(w, &g.e) == 0, "add %d: %s", i, floe_last_error());
        gen_free(&g);
    }
    ck_assert_msg(segment_writer_finish(w, info) == 0, "finish: %s", floe_last_error());
}

static void assert_entry_eq(const entry *got, const entry *want)
{
    ck_assert_uint_eq(got->key_len, want->key_len);
    ck_assert(memcmp(got->key, want->key, want->key_len) == 0);
    ck_assert_uint_eq(got->type, want->type);
    ck_assert_uint_eq(got->seq, want->seq);
    ck_assert_uint_eq(got->value_len, want->value_len);
    ck_assert(want->value_len == 0 || memcmp(got->value, want->value, want->value_len) == 0);
    ck_assert_uint_eq(got->content_type_len, want->content_type_len);
    ck_assert(want->content_type_len == 0 ||
              memcmp(got->content_type, want->content_type, want->content_type_len) == 0);
    ck_assert(want->content_type_len > 0 || got->content_type == NULL);
}

static void assert_hit_eq(const segment_hit *h, const entry *want)
{
    ck_assert_uint_eq(h->type, want->type);
    ck_assert_uint_eq(h->seq, want->seq);
    ck_assert_uint_eq(h->value_len, want->value_len);
    ck_assert_ptr_nonnull(h->value);
    ck_assert(want->value_len == 0 || memcmp(h->value, want->value, want->value_len) == 0);
    if (want->content_type_len) {
        ck_assert_ptr_nonnull(h->content_type);
        ck_assert_uint_eq(strlen(h->content_type), want->content_type_len);
        ck_assert(memcmp(h->content_type, want->content_type, want->content_type_len) == 0);
    } else {
        ck_assert_ptr_null(h->content_type);
    }
}

/* Every generated entry reads back by point lookup and, in order, by a full scan. */
static void assert_reads_mixed(segment_t *s, int n)
{
    for (int i = 0; i < n; i++) {
        gen_entry g;
        segment_hit h;
        gen_mixed(i, &g);
        int rc = segment_get(s, g.e.key, g.e.key_len, &h);
        ck_assert_msg(rc == 1, "get %d returned %d: %s", i, rc, floe_last_error());
        assert_hit_eq(&h, &g.e);
        segment_hit_clear(&h);
        gen_free(&g);
    }
    segment_iter *it;
    ck_assert_int_eq(segment_iter_create(s, &it), 0);
    ck_assert_int_eq(segment_iter_seek(it, NULL, 0), 0);
    int seen = 0;
    for (; segment_iter_valid(it); seen++) {
        ck_assert_int_lt(seen, n);
        gen_entry g;
        entry e;
        gen_mixed(seen, &g);
        segment_iter_entry(it, &e);
        assert_entry_eq(&e, &g.e);
        gen_free(&g);
        ck_assert_int_eq(segment_iter_next(it), 0);
    }
    ck_assert_int_eq(seen, n);
    segment_iter_destroy(it);
}

/* ---- sources for readers that do not map a file ---- */

typedef struct mem_source {
    const uint8_t *data;
    size_t len;
    atomic_int reads;
    atomic_int out_of_bounds;
} mem_source;

static int mem_read_at(void *ctx, uint64_t offset, void *buf, size_t len)
{
    mem_source *m = ctx;
    atomic_fetch_add(&m->reads, 1);
    if (offset > m->len || len > m->len - offset) {
        atomic_fetch_add(&m->out_of_bounds, 1);
        return err_set(FLOE_EIO, "read past the end of the test source");
    }
    memcpy(buf, m->data + offset, len);
    return 0;
}

static segment_source mem_source_for(mem_source *m, const uint8_t *data, size_t len, lru_t *cache)
{
    m->data = data;
    m->len = len;
    atomic_init(&m->reads, 0);
    atomic_init(&m->out_of_bounds, 0);
    segment_source src = {
        .read_at = mem_read_at, .ctx = m, .size = len, .name = "mem.seg", .block_cache = cache};
    return src;
}

static uint64_t le64_at(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t le32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Region offsets read straight from a file's footer (docs/formats.md). */
typedef struct regions {
    uint64_t bloom_off, index_off, meta_off, footer_off;
    uint32_t bloom_len, index_len, meta_len;
} regions;

static regions regions_of(const uint8_t *file, size_t size)
{
    const uint8_t *f = file + size - SEGMENT_FOOTER_BYTES;
    regions r = {
        .bloom_off = le64_at(f + 16),
        .bloom_len = le32_at(f + 24),
        .index_off = le64_at(f + 32),
        .index_len = le32_at(f + 40),
        .meta_off = le64_at(f + 48),
        .meta_len = le32_at(f + 56),
        .footer_off = size - SEGMENT_FOOTER_BYTES,
    };
    return r;
}

/* ---- tests ---- */

/* Found by fuzz_segment (tests/fuzz/regressions/segment/): every CRC is valid, but one block's
 * first key sorts before the previous block's last, or a tombstone carries a value. Both break what
 * a reader relies on (a scan in key order, get finding what the scan lists); verify refuses them. */
START_TEST(segment_verify_refuses_cross_block_disorder_and_a_tombstone_with_a_value)
{
    static const char *const inputs[] = {"verify-misses-cross-block-order.bin",
                                         "verify-accepts-delete-with-value.bin"};
    static const char *const why[] = {"does not sort after the previous block", "does not parse"};
    for (int i = 0; i < 2; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/fuzz/regressions/segment/%s", FLOE_SOURCE_DIR, inputs[i]);
        segment_t *s = NULL;
        ck_assert_msg(segment_open_file(path, &s) == 0, "%s: %s", path, floe_last_error());
        uint32_t crc = 0;
        ck_assert_int_eq(segment_verify(s, &crc), FLOE_ECORRUPT);
        ck_assert_msg(strstr(floe_last_error(), why[i]) != NULL, "%s: %s", inputs[i], floe_last_error());
        segment_close(s);
    }
}
END_TEST

START_TEST(segment_round_trip_keeps_every_entry_with_both_compressions)
{
    /* Each compression, written through the page cache and around it (direct). */
    floe_compression modes[] = {FLOE_COMPRESSION_NONE, FLOE_COMPRESSION_ZSTD};
    for (int m = 0; m < 4; m++) {
        char name[32];
        snprintf(name, sizeof name, "mixed-%d.seg", m);
        char *path = path_in_tmp(name);
        segment_write_options o = opts_with(modes[m % 2], 4096);
        o.direct = m >= 2;
        segment_info wi;
        const int n = 2000;
        write_mixed(path, &o, n, &wi);

        ck_assert_uint_eq(wi.id, 42);
        ck_assert_uint_eq(wi.epoch, 7);
        ck_assert_uint_eq(wi.count, n);
        ck_assert_uint_eq(wi.min_seq, 1000);
        ck_assert_uint_eq(wi.max_seq, 1000 + (n - 1) * 3);
        ck_assert_uint_eq(wi.file_bytes, (uint64_t)tu_file_size(path));
        ck_assert_uint_gt(wi.block_count, 10);
        size_t flen;
        uint8_t *file = tu_read_file(path, &flen);
        ck_assert_uint_eq(wi.file_crc32c, crc32c(file, flen));
        free(file);

        segment_t *s;
        ck_assert_msg(segment_open_file(path, &s) == 0, "open: %s", floe_last_error());
        const segment_info *ri = segment_get_info(s);
        ck_assert_uint_eq(ri->id, wi.id);
        ck_assert_uint_eq(ri->epoch, wi.epoch);
        ck_assert_uint_eq(ri->count, wi.count);
        ck_assert_uint_eq(ri->block_count, wi.block_count);
        ck_assert_uint_eq(ri->min_seq, wi.min_seq);
        ck_assert_uint_eq(ri->max_seq, wi.max_seq);
        ck_assert_int_eq(ri->created_unix_s, wi.created_unix_s);
        ck_assert_uint_eq(ri->file_bytes, wi.file_bytes);
        ck_assert_uint_eq(ri->min_key_len, 10);
        ck_assert(memcmp(ri->min_key, "key-000000", 10) == 0);
        ck_assert_uint_eq(ri->max_key_len, wi.max_key_len);
        ck_assert(memcmp(ri->max_key, wi.max_key, wi.max_key_len) == 0);
        assert_reads_mixed(s, n);

        uint32_t crc = 0;
        ck_assert_msg(segment_verify(s, &crc) == 0, "verify: %s", floe_last_error());
        ck_assert_uint_eq(crc, wi.file_crc32c);
        segment_close(s);
        segment_info_clear(&wi);
        free(path);
    }
}
END_TEST

START_TEST(segment_read_at_source_reads_the_same_as_a_mapped_file)
{
    char *path = path_in_tmp("cold.seg");
    segment_write_options o = opts_with(FLOE_COMPRESSION_ZSTD, 2048);
    segment_info wi;
    write_mixed(path, &o, 600, &wi);
    size_t len;
    uint8_t *file = tu_read_file(path, &len);
    mem_source m;
    segment_source src = mem_source_for(&m, file, len, NULL);
    segment_t *s;
    ck_assert_msg(segment_open(&src, &s) == 0, "open: %s", floe_last_error());
    /* Open costs two reads: the footer, then bloom, index and metadata together. */
    ck_assert_int_eq(atomic_load(&m.reads), 2);
    assert_reads_mixed(s, 600);
    uint32_t crc;
    ck_assert_int_eq(segment_verify(s, &crc), 0);
    ck_assert_uint_eq(crc, wi.file_crc32c);
    ck_assert_int_eq(atomic_load(&m.out_of_bounds), 0);
    segment_close(s);
    segment_info_clear(&wi);
    free(file);
    free(path);
}
END_TEST

START_TEST(segment_value_larger_than_a_block_gets_a_block_of_its_own)
{
    char *path = path_in_tmp("big.seg");
    segment_write_options o = opts_with(FLOE_COMPRESSION_NONE, 4096);
    segment_info wi;
    write_mixed(path, &o, 200, &wi);
    segment_t *s;
    ck_assert_int_eq(segment_open_file(path, &s), 0);
    int big_blocks = 0;
    for (uint64_t b = 0; b < wi.block_count; b++) {
        uint64_t off, len;
        ck_assert_int_eq(segment_block_range(s, b, &off, &len), 0);
        if (len > 4096) {
            big_blocks++;
            /* One entry: its value, its key and a few header bytes, one restart, the trailer. */
            ck_assert_uint_lt(len, BIG_VALUE_BYTES + 64 + 4 + 4 + 5);
        }
    }
    ck_assert_int_eq(big_blocks, 1);
    uint64_t off, len;
    ck_assert_int_eq(segment_block_range(s, wi.block_count, &off, &len), FLOE_EINVAL);
    assert_reads_mixed(s, 200);
    segment_close(s);
    segment_info_clear(&wi);
    free(path);
}
END_TEST

START_TEST(segment_blocks_tile_the_file_up_to_the_bloom_filter)
{
    char *path = path_in_tmp("tile.seg");
    segment_write_options o = opts_with(FLOE_COMPRESSION_ZSTD, 1024);
    segment_info wi;
    write_mixed(path, &o, 300, &wi);
    size_t size;
    uint8_t *file = tu_read_file(path, &size);
    regions r = regions_of(file, size);
    segment_t *s;
    ck_assert_int_eq(segment_open_file(path, &s), 0);
    uint64_t expect = 0;
    for (uint64_t b = 0; b < wi.block_count; b++) {
        uint64_t off, len;
        ck_assert_int_eq(segment_block_range(s, b, &off, &len), 0);
        ck_assert_uint_eq(off, expect);
        /* The trailer's CRC covers the block's body and flag byte. */
        ck_assert_uint_eq(le32_at(file + off + len - 4), crc32c(file + off, len - 4));
        expect += len;
    }
    ck_assert_uint_eq(expect, r.bloom_off);
    ck_assert_uint_eq(r.bloom_off + r.bloom_len, r.index_off);
    ck_assert_uint_eq(r.index_off + r.index_len, r.meta_off);
    ck_assert_uint_eq(r.meta_off + r.meta_len, r.footer_off);
    ck_assert(memcmp(file + r.footer_off, "FLOE-SEG", 8) == 0);
    segment_close(s);
    segment_info_clear(&wi);
    free(file);
    free(path);
}
END_TEST

static void write_values(const char *path, floe_compression c, int random_values, segment_info *info)
{
    segment_write_options o = opts_with(c, 4096);
    segment_writer *w;
    uint64_t x = 88172645463325252ull;
    ck_assert_int_eq(segment_writer_open(path, &o, &w), 0);
    for (int i = 0; i < 400; i++) {
        char key[32];
        uint8_t value[200];
        for (size_t j = 0; j < sizeof value; j++) {
            tu_rand64(&x);
            /* 1: random bytes; 2: random bytes from 200 symbols (zstd saves about 4%). */
            value[j] = random_values == 1   ? (uint8_t)x
                       : random_values == 2 ? (uint8_t)(x % 200)
                                            : (uint8_t)('a' + j % 13);
        }
        entry e = {.key = (const uint8_t *)key,
                           .key_len = (uint32_t)snprintf(key, sizeof key, "v%05d", i),
                           .value = value,
                           .value_len = sizeof value,
                           .seq = (uint64_t)i + 1,
                           .type = ENTRY_PUT};
        ck_assert_int_eq(segment_writer_add(w, &e), 0);
    }
    ck_assert_int_eq(segment_writer_finish(w, info), 0);
}

/* The flag byte of every block: bit 0 set if any block is zstd, bit 1 if any is stored raw. */
static int block_flags(const char *path, const segment_info *info)
{
    size_t size;
    uint8_t *file = tu_read_file(path, &size);
    segment_t *s;
    int flags = 0;
    ck_assert_int_eq(segment_open_file(path, &s), 0);
    for (uint64_t b = 0; b < info->block_count; b++) {
        uint64_t off, len;
        ck_assert_int_eq(segment_block_range(s, b, &off, &len), 0);
        uint8_t flag = file[off + len - 5];
        ck_assert_uint_le(flag, 1);
        flags |= flag == 1 ? 1 : 2;
    }
    segment_close(s);
    free(file);
    return flags;
}

START_TEST(segment_zstd_compresses_only_blocks_where_it_pays)
{
    char *plain = path_in_tmp("plain.seg"), *packed = path_in_tmp("packed.seg"),
         *noise = path_in_tmp("noise.seg");
    char *dense = path_in_tmp("dense.seg");
    segment_info ip, ik, in, id;
    write_values(plain, FLOE_COMPRESSION_NONE, 0, &ip);
    write_values(packed, FLOE_COMPRESSION_ZSTD, 0, &ik);
    write_values(noise, FLOE_COMPRESSION_ZSTD, 1, &in);
    write_values(dense, FLOE_COMPRESSION_ZSTD, 2, &id);
    ck_assert_uint_lt(ik.file_bytes * 4, ip.file_bytes);
    ck_assert_int_eq(block_flags(plain, &ip), 2);
    ck_assert_int_eq(block_flags(packed, &ik), 1);
    /* Random bytes do not shrink by an eighth: those blocks are stored raw. */
    ck_assert_int_eq(block_flags(noise, &in), 2);
    /* Nor do bytes that shrink a little: saving under an eighth is not worth a decompression. */
    ck_assert_int_eq(block_flags(dense, &id), 2);
    segment_info_clear(&id);
    free(dense);
    segment_info_clear(&ip);
    segment_info_clear(&ik);
    segment_info_clear(&in);
    free(plain);
    free(packed);
    free(noise);
}
END_TEST

/* Keys "b0000", "b0002", ... "b0998": only even numbers. */
static void write_even_keys(const char *path, floe_compression c, uint32_t block_bytes)
{
    segment_write_options o = opts_with(c, block_bytes);
    segment_writer *w;
    ck_assert_int_eq(segment_writer_open(path, &o, &w), 0);
    for (int i = 0; i < 1000; i += 2) {
        char key[16], value[16];
        int klen = snprintf(key, sizeof key, "b%04d", i);
        int vlen = snprintf(value, sizeof value, "v%d", i);
        entry e = {.key = (const uint8_t *)key,
                           .key_len = (uint32_t)klen,
                           .value = (const uint8_t *)value,
                           .value_len = (uint32_t)vlen,
                           .seq = (uint64_t)i + 1,
                           .type = ENTRY_PUT};
        ck_assert_int_eq(segment_writer_add(w, &e), 0);
    }
    ck_assert_int_eq(segment_writer_finish(w, NULL), 0);
}

START_TEST(segment_get_of_absent_keys_returns_not_found)
{
    char *path = path_in_tmp("even.seg");
    write_even_keys(path, FLOE_COMPRESSION_NONE, 512);
    size_t len;
    uint8_t *file = tu_read_file(path, &len);
    mem_source m;
    segment_source src = mem_source_for(&m, file, len, NULL);
    segment_t *s;
    segment_hit h;
    ck_assert_int_eq(segment_open(&src, &s), 0);
    int opened_reads = atomic_load(&m.reads);

    /* Below, above and outside the key range: no block is read. */
    ck_assert_int_eq(segment_get(s, "a", 1, &h), 0);
    ck_assert_int_eq(segment_get(s, "b", 1, &h), 0);
    ck_assert_int_eq(segment_get(s, "b0998x", 6, &h), 0);
    ck_assert_int_eq(segment_get(s, "c", 1, &h), 0);
    ck_assert_int_eq(segment_get(s, "", 0, &h), 0);
    ck_assert_int_eq(atomic_load(&m.reads), opened_reads);

    /* Between keys: odd numbers are absent whatever the bloom filter says. */
    int bloom_negative = 0, bloom_false_positive = 0;
    for (int i = 1; i < 1000; i += 2) {
        char key[16];
        int klen = snprintf(key, sizeof key, "b%04d", i);
        int before = atomic_load(&m.reads);
        int maybe = segment_may_contain(s, key, (size_t)klen);
        ck_assert_int_eq(segment_get(s, key, (size_t)klen, &h), 0);
        if (maybe) {
            bloom_false_positive++;
        } else {
            bloom_negative++;
            /* A bloom-negative lookup never touches a data block. */
            ck_assert_int_eq(atomic_load(&m.reads), before);
        }
    }
    ck_assert_int_gt(bloom_negative, 400);
    ck_assert_int_lt(bloom_false_positive, 50);
    /* Present keys still read after all those misses. */
    ck_assert_int_eq(segment_get(s, "b0500", 5, &h), 1);
    ck_assert_uint_eq(h.value_len, 4);
    ck_assert(memcmp(h.value, "v500", 4) == 0);
    segment_hit_clear(&h);
    ck_assert_int_eq(atomic_load(&m.out_of_bounds), 0);
    segment_close(s);
    free(file);
    free(path);
}
END_TEST

START_TEST(segment_writer_refuses_keys_out_of_order)
{
    char *path = path_in_tmp("order.seg");
    segment_write_options o = opts_with(FLOE_COMPRESSION_NONE, 0);
    segment_writer *w;
    ck_assert_int_eq(segment_writer_open(path, &o, &w), 0);
    entry e = {.key = (const uint8_t *)"m", .key_len = 1, .seq = 1, .type = ENTRY_PUT};
    ck_assert_int_eq(segment_writer_add(w, &e), 0);
    e.key = (const uint8_t *)"a";
    ck_assert_int_eq(segment_writer_add(w, &e), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "key \"a\" added after \"m\""));
    e.key = (const uint8_t *)"m";
    ck_assert_int_eq(segment_writer_add(w, &e), FLOE_EINVAL);
    /* A refused entry leaves the writer usable. */
    e.key = (const uint8_t *)"z";
    e.seq = 2;
    ck_assert_int_eq(segment_writer_add(w, &e), 0);
    segment_info info;
    ck_assert_int_eq(segment_writer_finish(w, &info), 0);
    ck_assert_uint_eq(info.count, 2);
    segment_info_clear(&info);

    segment_t *s;
    segment_hit h;
    ck_assert_int_eq(segment_open_file(path, &s), 0);
    ck_assert_int_eq(segment_get(s, "a", 1, &h), 0);
    ck_assert_int_eq(segment_get(s, "m", 1, &h), 1);
    segment_hit_clear(&h);
    ck_assert_int_eq(segment_get(s, "z", 1, &h), 1);
    segment_hit_clear(&h);
    segment_close(s);
    free(path);
}
END_TEST

START_TEST(segment_writer_refuses_invalid_entries)
{
    char *path = path_in_tmp("invalid.seg");
    segment_write_options o = opts_with(FLOE_COMPRESSION_NONE, 0);
    segment_writer *w;
    static uint8_t long_key[FLOE_MAX_KEY_BYTES + 1];
    memset(long_key, 'k', sizeof long_key);
    static char long_ct[FLOE_MAX_CONTENT_TYPE_BYTES + 1];
    memset(long_ct, 't', sizeof long_ct);
    ck_assert_int_eq(segment_writer_open(path, &o, &w), 0);
    entry e = {.key = long_key, .key_len = 0, .seq = 1, .type = ENTRY_PUT};
    ck_assert_int_eq(segment_writer_add(w, &e), FLOE_EKEY);
    e.key_len = FLOE_MAX_KEY_BYTES + 1;
    ck_assert_int_eq(segment_writer_add(w, &e), FLOE_EKEY);
    e.key_len = 1;
    e.type = 4;
    ck_assert_int_eq(segment_writer_add(w, &e), FLOE_EINVAL);
    e.type = ENTRY_DELETE;
    e.value = (const uint8_t *)"x";
    e.value_len = 1;
    ck_assert_int_eq(segment_writer_add(w, &e), FLOE_EINVAL);
    e.type = ENTRY_PUT;
    e.content_type = long_ct;
    e.content_type_len = sizeof long_ct;
    ck_assert_int_eq(segment_writer_add(w, &e), FLOE_EINVAL);
    e.content_type_len = FLOE_MAX_CONTENT_TYPE_BYTES;
    ck_assert_int_eq(segment_writer_add(w, &e), 0);
    segment_writer_abort(w);

    segment_write_options bad = opts_with(FLOE_COMPRESSION_NONE, 16);
    ck_assert_int_eq(segment_writer_open(path, &bad, &w), FLOE_EINVAL);
    bad = opts_with((floe_compression)9, 0);
    ck_assert_int_eq(segment_writer_open(path, &bad, &w), FLOE_EINVAL);
    ck_assert_int_eq(tu_file_size(path), -1);
    free(path);
}
END_TEST

START_TEST(segment_writer_never_leaves_a_partial_file)
{
    char *path = path_in_tmp("partial.seg");
    segment_write_options o = opts_with(FLOE_COMPRESSION_NONE, 256);
    segment_writer *w;

    /* O_EXCL: an existing file is never overwritten. */
    tu_write_file(path, "precious", 8);
    ck_assert_int_eq(segment_writer_open(path, &o, &w), FLOE_EIO);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), path));
    ck_assert_int_eq(tu_file_size(path), 8);
    remove(path);

    /* Abort after blocks reached the disk removes them (the writer gathers FILE_DIRECT_BYTES
     * before it writes: enough entries to pass that). */
    ck_assert_int_eq(segment_writer_open(path, &o, &w), 0);
    for (int i = 0; i < 6000; i++) {
        gen_entry g;
        gen_mixed(i, &g);
        ck_assert_int_eq(segment_writer_add(w, &g.e), 0);
        gen_free(&g);
    }
    ck_assert_int_gt(tu_file_size(path), 0);
    segment_writer_abort(w);
    ck_assert_int_eq(tu_file_size(path), -1);
    segment_writer_abort(NULL);

    /* A segment needs entries; finishing an empty one fails and removes the file. */
    ck_assert_int_eq(segment_writer_open(path, &o, &w), 0);
    ck_assert_int_eq(segment_writer_finish(w, NULL), FLOE_EINVAL);
    ck_assert_int_eq(tu_file_size(path), -1);
    free(path);
}
END_TEST

START_TEST(segment_write_failure_fails_the_writer_and_removes_the_file)
{
    char *path = path_in_tmp("full.seg");
    segment_write_options o = opts_with(FLOE_COMPRESSION_NONE, 1024);
    segment_writer *w;
    /* A full disk: every write to the segment fails with ENOSPC. The writer gathers a whole
     * FILE_DIRECT_BYTES before it writes, so the failure surfaces a few thousand entries in. */
    file_fault_install();
    file_fault_fail(FILE_OP_WRITE, 1, ENOSPC, "full.seg", 1);
    ck_assert_int_eq(segment_writer_open(path, &o, &w), 0);
    int rc = 0, i;
    for (i = 0; i < 20000 && rc == 0; i++) {
        gen_entry g;
        gen_mixed(i, &g);
        rc = segment_writer_add(w, &g.e);
        gen_free(&g);
    }
    ck_assert_int_eq(rc, FLOE_EIO);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), path));
    ck_assert_ptr_nonnull(strstr(floe_last_error(), strerror(ENOSPC)));
    /* The writer stays failed: later entries and finish are refused, and the file is gone. */
    gen_entry g;
    gen_mixed(i + 1, &g);
    ck_assert_int_eq(segment_writer_add(w, &g.e), FLOE_EIO);
    gen_free(&g);
    ck_assert_int_eq(segment_writer_finish(w, NULL), FLOE_EIO);
    ck_assert_int_eq(tu_file_size(path), -1);
    file_fault_uninstall();
    free(path);
}
END_TEST

static void assert_iter_at(segment_iter *it, int want)
{
    char key[16];
    int klen = snprintf(key, sizeof key, "b%04d", want);
    ck_assert_msg(segment_iter_valid(it), "iterator invalid, expected %s", key);
    entry e;
    segment_iter_entry(it, &e);
    ck_assert_uint_eq(e.key_len, (uint32_t)klen);
    ck_assert_msg(memcmp(e.key, key, (size_t)klen) == 0, "at %.*s, expected %s", (int)e.key_len, e.key, key);
    ck_assert_uint_eq(e.seq, (uint64_t)want + 1);
}

static void check_iterator_seeks(segment_t *s)
{
    segment_iter *it;
    ck_assert_int_eq(segment_iter_create(s, &it), 0);
    for (int i = 0; i < 1000; i++) {
        char key[16];
        int klen = snprintf(key, sizeof key, "b%04d", i);
        ck_assert_int_eq(segment_iter_seek(it, key, (size_t)klen), 0);
        int want = (i + 1) / 2 * 2;
        if (want >= 1000) {
            ck_assert(!segment_iter_valid(it));
            continue;
        }
        assert_iter_at(it, want);
        /* Step a few entries on, across block boundaries. */
        for (int j = want + 2; j < want + 12 && j < 1000; j += 2) {
            ck_assert_int_eq(segment_iter_next(it), 0);
            assert_iter_at(it, j);
        }
    }
    ck_assert_int_eq(segment_iter_seek(it, "a", 1), 0);
    assert_iter_at(it, 0);
    ck_assert_int_eq(segment_iter_seek(it, "b0998\x01", 6), 0);
    ck_assert(!segment_iter_valid(it));
    ck_assert_int_eq(segment_iter_next(it), 0);
    ck_assert(!segment_iter_valid(it));
    ck_assert_int_eq(segment_iter_seek(it, NULL, 0), 0);
    int n = 0;
    for (; segment_iter_valid(it); n++) {
        assert_iter_at(it, 2 * n);
        ck_assert_int_eq(segment_iter_next(it), 0);
    }
    ck_assert_int_eq(n, 500);
    segment_iter_destroy(it);
}

START_TEST(segment_iterator_seeks_and_steps_across_blocks)
{
    floe_compression modes[] = {FLOE_COMPRESSION_NONE, FLOE_COMPRESSION_ZSTD};
    for (int m = 0; m < 2; m++) {
        char name[32];
        snprintf(name, sizeof name, "iter-%d.seg", m);
        char *path = path_in_tmp(name);
        write_even_keys(path, modes[m], 200);
        segment_t *s;
        ck_assert_int_eq(segment_open_file(path, &s), 0);
        ck_assert_uint_gt(segment_get_info(s)->block_count, 20);
        check_iterator_seeks(s);
        segment_close(s);
        free(path);
    }
}
END_TEST

/* Flips one byte in the middle of block `block` of path; returns the block's offset. */
static uint64_t damage_block(const char *path, uint64_t block)
{
    segment_t *s;
    uint64_t off, len;
    ck_assert_int_eq(segment_open_file(path, &s), 0);
    ck_assert_int_eq(segment_block_range(s, block, &off, &len), 0);
    segment_close(s);
    tu_flip_byte(path, (long long)(off + len / 2));
    return off;
}

START_TEST(segment_damaged_block_is_reported_by_get_and_other_blocks_still_read)
{
    floe_compression modes[] = {FLOE_COMPRESSION_NONE, FLOE_COMPRESSION_ZSTD};
    for (int m = 0; m < 2; m++) {
        char name[32];
        snprintf(name, sizeof name, "damaged-%d.seg", m);
        char *path = path_in_tmp(name);
        write_even_keys(path, modes[m], 256);
        uint64_t off = damage_block(path, 3);
        char want[256];
        snprintf(want, sizeof want, "segment %s: block 3 at offset %llu: crc mismatch", path,
                 (unsigned long long)off);

        segment_t *s;
        ck_assert_msg(segment_open_file(path, &s) == 0, "open: %s", floe_last_error());
        int damaged = 0, first_damaged = -1, last_damaged = -1;
        for (int round = 0; round < 2; round++) {
            for (int i = 0; i < 1000; i += 2) {
                char key[16], value[16];
                int klen = snprintf(key, sizeof key, "b%04d", i);
                int vlen = snprintf(value, sizeof value, "v%d", i);
                segment_hit h;
                int rc = segment_get(s, key, (size_t)klen, &h);
                if (rc == FLOE_ECORRUPT) {
                    ck_assert_msg(strstr(floe_last_error(), want), "message: %s", floe_last_error());
                    damaged += round == 0;
                    if (first_damaged < 0)
                        first_damaged = i;
                    last_damaged = i;
                    continue;
                }
                ck_assert_int_eq(rc, 1);
                ck_assert_uint_eq(h.value_len, (uint32_t)vlen);
                ck_assert(memcmp(h.value, value, (size_t)vlen) == 0);
                segment_hit_clear(&h);
            }
        }
        /* Exactly the keys of one block fail, every time they are read. */
        ck_assert_int_gt(damaged, 0);
        ck_assert_int_eq(damaged, (last_damaged - first_damaged) / 2 + 1);
        ck_assert_int_lt(damaged, 100);

        /* A scan stops at the damaged block with the same error. */
        segment_iter *it;
        ck_assert_int_eq(segment_iter_create(s, &it), 0);
        int rc = segment_iter_seek(it, NULL, 0);
        while (rc == 0 && segment_iter_valid(it))
            rc = segment_iter_next(it);
        ck_assert_int_eq(rc, FLOE_ECORRUPT);
        ck_assert_ptr_nonnull(strstr(floe_last_error(), want));
        ck_assert_int_eq(segment_iter_seek(it, "b0998", 5), 0);
        assert_iter_at(it, 998);
        segment_iter_destroy(it);

        uint32_t crc;
        ck_assert_int_eq(segment_verify(s, &crc), FLOE_ECORRUPT);
        ck_assert_ptr_nonnull(strstr(floe_last_error(), want));
        segment_close(s);
        free(path);
    }
}
END_TEST

/* Flips a byte at offset and expects open to fail naming `what` and `at`. */
static void assert_open_refuses_flip(const char *path, uint64_t offset, const char *what, uint64_t at)
{
    tu_flip_byte(path, (long long)offset);
    segment_t *s = NULL;
    ck_assert_int_eq(segment_open_file(path, &s), FLOE_ECORRUPT);
    ck_assert_ptr_null(s);
    char want[128];
    snprintf(want, sizeof want, "%s at offset %llu", what, (unsigned long long)at);
    ck_assert_msg(strstr(floe_last_error(), want), "message \"%s\" lacks \"%s\"", floe_last_error(), want);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), path));
    tu_flip_byte(path, (long long)offset);
    ck_assert_int_eq(segment_open_file(path, &s), 0);
    segment_close(s);
}

START_TEST(segment_open_refuses_damaged_footer_index_metadata_and_bloom)
{
    char *path = path_in_tmp("regions.seg");
    write_even_keys(path, FLOE_COMPRESSION_NONE, 512);
    size_t size;
    uint8_t *file = tu_read_file(path, &size);
    regions r = regions_of(file, size);
    free(file);
    assert_open_refuses_flip(path, r.footer_off + 0, "footer", r.footer_off);  /* magic */
    assert_open_refuses_flip(path, r.footer_off + 8, "footer", r.footer_off);  /* version */
    assert_open_refuses_flip(path, r.footer_off + 17, "footer", r.footer_off); /* bloom offset */
    assert_open_refuses_flip(path, r.footer_off + 62, "footer", r.footer_off); /* footer CRC */
    assert_open_refuses_flip(path, r.index_off + r.index_len / 2, "index", r.index_off);
    assert_open_refuses_flip(path, r.meta_off + 3, "metadata", r.meta_off);
    assert_open_refuses_flip(path, r.meta_off + r.meta_len - 1, "metadata", r.meta_off);
    assert_open_refuses_flip(path, r.bloom_off + 1, "bloom filter", r.bloom_off);
    assert_open_refuses_flip(path, r.bloom_off + r.bloom_len - 1, "bloom filter", r.bloom_off);
    free(path);
}
END_TEST

START_TEST(segment_open_refuses_a_file_truncated_at_any_length)
{
    char *path = path_in_tmp("whole.seg");
    char *cut = path_in_tmp("cut.seg");
    write_even_keys(path, FLOE_COMPRESSION_NONE, 4096);
    size_t size;
    uint8_t *file = tu_read_file(path, &size);
    for (size_t len = 0; len < size; len++) {
        tu_write_file(cut, file, len);
        segment_t *s = NULL;
        ck_assert_int_eq(segment_open_file(cut, &s), FLOE_ECORRUPT);
        ck_assert_ptr_nonnull(strstr(floe_last_error(), cut));
    }
    free(file);
    free(path);
    free(cut);
}
END_TEST

/* Opens a private, exactly sized copy of file (so ASan sees any read past its end), through base or
 * through read_at, and reads every key of a three-key segment. Returns the open result; on success
 * counts how many keys came back damaged. Every key that reads at all must read correctly. */
/* What segment_verify said in the last open_and_read_copy that opened its copy. */
static int last_verify_rc;

static int open_and_read_copy(const uint8_t *file, size_t len, int use_read_at, int *corrupt_reads)
{
    uint8_t *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, file, len);
    mem_source m;
    segment_source src = mem_source_for(&m, copy, len, NULL);
    if (!use_read_at) {
        src.read_at = NULL;
        src.base = copy;
    }
    segment_t *s = NULL;
    int rc = segment_open(&src, &s);
    if (rc == 0) {
        static const char *keys[] = {"apple", "banana", "cherry"};
        static const char *values[] = {"red", "", "dark red"};
        for (int i = 0; i < 3; i++) {
            segment_hit h;
            int g = segment_get(s, keys[i], strlen(keys[i]), &h);
            if (g == FLOE_ECORRUPT) {
                (*corrupt_reads)++;
                continue;
            }
            ck_assert_int_eq(g, 1);
            ck_assert_uint_eq(h.value_len, strlen(values[i]));
            ck_assert(memcmp(h.value, values[i], h.value_len) == 0);
            segment_hit_clear(&h);
        }
        segment_iter *it;
        ck_assert_int_eq(segment_iter_create(s, &it), 0);
        int irc = segment_iter_seek(it, NULL, 0);
        while (irc == 0 && segment_iter_valid(it))
            irc = segment_iter_next(it);
        ck_assert(irc == 0 || irc == FLOE_ECORRUPT);
        segment_iter_destroy(it);
        uint32_t crc;
        int vrc = segment_verify(s, &crc);
        ck_assert(vrc == 0 || vrc == FLOE_ECORRUPT);
        last_verify_rc = vrc;
        segment_close(s);
    } else {
        ck_assert_ptr_null(s);
        ck_assert_str_ne(floe_last_error(), "");
    }
    ck_assert_int_eq(atomic_load(&m.out_of_bounds), 0);
    free(copy);
    return rc;
}

/* A three-key segment with two blocks: "apple" and "banana" (empty value) in one, "cherry" in the
 * next (block_bytes is the smallest allowed). */
static void write_tiny(const char *path, floe_compression c)
{
    segment_write_options o = opts_with(c, 64);
    segment_writer *w;
    ck_assert_int_eq(segment_writer_open(path, &o, &w), 0);
    entry e1 = {.key = (const uint8_t *)"apple",
                        .key_len = 5,
                        .value = (const uint8_t *)"red",
                        .value_len = 3,
                        .content_type = "text/plain",
                        .content_type_len = 10,
                        .seq = 1,
                        .type = ENTRY_PUT};
    entry e2 = {.key = (const uint8_t *)"banana", .key_len = 6, .seq = 2, .type = ENTRY_PUT};
    entry e3 = {.key = (const uint8_t *)"cherry",
                        .key_len = 6,
                        .value = (const uint8_t *)"dark red",
                        .value_len = 8,
                        .seq = 3,
                        .type = ENTRY_PUT};
    ck_assert_int_eq(segment_writer_add(w, &e1), 0);
    ck_assert_int_eq(segment_writer_add(w, &e2), 0);
    ck_assert_int_eq(segment_writer_add(w, &e3), 0);
    ck_assert_int_eq(segment_writer_finish(w, NULL), 0);
}

START_TEST(segment_fuzzed_tail_and_truncations_are_refused_cleanly)
{
    floe_compression modes[] = {FLOE_COMPRESSION_NONE, FLOE_COMPRESSION_ZSTD};
    for (int mode = 0; mode < 2; mode++) {
        char name[32];
        snprintf(name, sizeof name, "tiny-%d.seg", mode);
        char *path = path_in_tmp(name);
        write_tiny(path, modes[mode]);
        size_t size;
        uint8_t *file = tu_read_file(path, &size);
        regions r = regions_of(file, size);
        int corrupt = 0;
        ck_assert_int_eq(open_and_read_copy(file, size, 0, &corrupt), 0);
        ck_assert_int_eq(corrupt, 0);

        /* Every bit pattern change in bloom, index, metadata or footer is caught at open. */
        for (size_t off = r.bloom_off; off < size; off++) {
            for (int use_read_at = 0; use_read_at < 2; use_read_at++) {
                file[off] ^= 0xff;
                int rc = open_and_read_copy(file, size, use_read_at, &corrupt);
                ck_assert_msg(rc == FLOE_ECORRUPT, "flip at %zu: open returned %d", off, rc);
                file[off] ^= 0x01;
                rc = open_and_read_copy(file, size, use_read_at, &corrupt);
                ck_assert_msg(rc == FLOE_ECORRUPT, "flip at %zu: open returned %d", off, rc);
                file[off] ^= 0xfe;
            }
        }
        for (size_t len = 0; len < size; len++) {
            ck_assert_int_eq(open_and_read_copy(file, len, 0, &corrupt), FLOE_ECORRUPT);
            ck_assert_int_eq(open_and_read_copy(file, len, 1, &corrupt), FLOE_ECORRUPT);
        }
        free(file);
        free(path);
    }
}
END_TEST

/* A segment of 400 keys with 400-byte values in 64 KiB blocks (about 150 entries and 50 restart
 * intervals a block), written to path; *block0_keys gets how many keys block 0 holds. */
#define BIG_KEYS 400
static void big_key(int i, char *k)
{
    snprintf(k, 16, "k%05d", i);
}
static void big_value(int i, uint8_t *v)
{
    for (int j = 0; j < 400; j++)
        v[j] = (uint8_t)('a' + (i * 7 + j) % 26);
}
static void write_big(const char *path)
{
    segment_write_options o = opts_with(FLOE_COMPRESSION_NONE, 65536);
    segment_writer *w;
    ck_assert_int_eq(segment_writer_open(path, &o, &w), 0);
    for (int i = 0; i < BIG_KEYS; i++) {
        char k[16];
        uint8_t v[400];
        big_key(i, k);
        big_value(i, v);
        entry e = {.key = (const uint8_t *)k, .key_len = 6, .value = v, .value_len = 400, .seq = (uint64_t)i + 1,
                   .write_ms = 1, .type = ENTRY_PUT};
        ck_assert_int_eq(segment_writer_add(w, &e), 0);
    }
    ck_assert_int_eq(segment_writer_finish(w, NULL), 0);
}

/* Point reads of keys [from, to) in s: each is its value or FLOE_ECORRUPT, never another value
 * and never "not found". Returns how many were FLOE_ECORRUPT. */
static int read_big_keys(segment_t *s, int from, int to)
{
    int corrupt = 0;
    for (int i = from; i < to; i++) {
        char k[16];
        uint8_t v[400];
        big_key(i, k);
        big_value(i, v);
        segment_hit h;
        int g = segment_get(s, k, 6, &h);
        if (g == FLOE_ECORRUPT) {
            ck_assert_str_ne(floe_last_error(), "");
            corrupt++;
            continue;
        }
        ck_assert_msg(g == 1, "key %s: segment_get returned %d", k, g);
        ck_assert_uint_eq(h.value_len, 400);
        ck_assert_msg(memcmp(h.value, v, 400) == 0, "key %s: wrong value", k);
        segment_hit_clear(&h);
    }
    return corrupt;
}

/* Version 3 (formats.md, "What a reader checks"): a point read of a mapped uncompressed block
 * checks only the restart intervals it reads, so damage at the end of a block spoils the keys
 * there and not the first keys of the block; whatever byte of a block is damaged, every read
 * gives the right value or FLOE_ECORRUPT (never another value, never "not found", even when a
 * damaged restart key misleads the search), some read of the block reports it unless only the
 * block's own CRC field is hit, and segment_verify always does. */
START_TEST(segment_point_reads_check_the_intervals_they_read)
{
    char *path = path_in_tmp("big.seg");
    write_big(path);
    size_t size;
    uint8_t *file = tu_read_file(path, &size);
    segment_inspector *ins;
    const segment_summary *sum;
    segment_block_report rep;
    uint64_t file_bytes;
    ck_assert_int_eq(segment_inspect_open(path, &ins, &file_bytes), 0);
    ck_assert_int_eq(segment_inspect_read(ins, &sum), 0);
    ck_assert_uint_ge(sum->index_blocks, 2);
    ck_assert_int_eq(segment_inspect_block(ins, 0, NULL, NULL, &rep), 0);
    ck_assert_ptr_null(rep.problem);
    ck_assert_uint_eq(rep.last_key_len, 6);
    int in_block0 = atoi((const char *)rep.last_key + 1) + 1; /* keys k00000.. up to the block's last */
    uint64_t off0 = rep.offset, len0 = rep.length;
    segment_inspect_close(ins);
    ck_assert_int_gt(in_block0, 100);
    /* The block's tail: n restarts, the offsets and interval CRCs before them. */
    const uint8_t *blk = file + off0;
    size_t payload = len0 - 5;
    uint32_t n = le32_at(blk + payload - 8);
    ck_assert_uint_ge(n, 30); /* a restart every 3 entries of 400 bytes, not every 16 */
    size_t entries_end = payload - 8 - 8 * (size_t)n;

    /* The damage: pass 0, the last byte of the block's last value; pass 1, every 37th byte of the
     * block; pass 2, each of the first 16 bytes (header and key) of every restart entry, the keys
     * a search steers by, with three different bits. */
    size_t *spots = malloc((len0 + 16 * (size_t)n * 3) * sizeof *spots);
    uint8_t *masks = malloc(len0 + 16 * (size_t)n * 3);
    ck_assert(spots && masks);
    for (int pass = 0; pass < 3; pass++) {
        size_t nspots = 0;
        if (pass == 0) {
            spots[nspots] = entries_end - 1, masks[nspots++] = 0x10;
        } else if (pass == 1) {
            for (size_t at = 0; at < len0; at += 37)
                spots[nspots] = at, masks[nspots++] = 0x10;
        } else {
            for (uint32_t i = 0; i < n; i++)
                for (size_t j = 0; j < 16; j++)
                    for (int bit = 0; bit < 3; bit++)
                        spots[nspots] = le32_at(blk + entries_end + 4 * (size_t)i) + j,
                        masks[nspots++] = (uint8_t)(0x01 << (bit * 3));
        }
        for (size_t sp = 0; sp < nspots; sp++) {
            size_t at = spots[sp];
            uint8_t *copy = malloc(size);
            ck_assert_ptr_nonnull(copy);
            memcpy(copy, file, size);
            copy[off0 + at] ^= masks[sp];
            mem_source m;
            segment_source src = mem_source_for(&m, copy, size, NULL);
            src.read_at = NULL;
            src.base = copy;
            segment_t *s;
            ck_assert_int_eq(segment_open(&src, &s), 0);
            if (pass == 0) {
                /* The first keys of the block read, before and after the damaged last key fails. */
                ck_assert_int_eq(read_big_keys(s, 0, 3), 0);
                ck_assert_int_eq(read_big_keys(s, in_block0 - 1, in_block0), 1);
                ck_assert_int_eq(read_big_keys(s, 0, 3), 0);
                ck_assert_int_eq(read_big_keys(s, in_block0 - 1, in_block0), 1);
            }
            int corrupt = read_big_keys(s, 0, in_block0);
            int in_crc = at >= len0 - 4;
            ck_assert_msg(corrupt >= (in_crc ? 0 : 1) && corrupt <= in_block0, "flip at %zu: %d keys damaged", at,
                          corrupt);
            /* Keys outside block 0 are never affected. */
            ck_assert_int_eq(read_big_keys(s, in_block0, BIG_KEYS), 0);
            uint32_t crc;
            ck_assert_msg(segment_verify(s, &crc) == FLOE_ECORRUPT, "flip at %zu: verify passed", at);
            segment_close(s);
            ck_assert_int_eq(atomic_load(&m.out_of_bounds), 0);
            free(copy);
        }
    }
    free(spots);
    free(masks);
    free(file);
    free(path);
}
END_TEST

START_TEST(segment_fuzzed_data_blocks_never_return_a_wrong_value)
{
    floe_compression modes[] = {FLOE_COMPRESSION_NONE, FLOE_COMPRESSION_ZSTD};
    for (int mode = 0; mode < 2; mode++) {
        char name[32];
        snprintf(name, sizeof name, "tiny-%d.seg", mode);
        char *path = path_in_tmp(name);
        write_tiny(path, modes[mode]);
        size_t size;
        uint8_t *file = tu_read_file(path, &size);
        regions r = regions_of(file, size);
        /* Where each block's CRC lies (its last four bytes). */
        uint64_t crc_at[8];
        size_t nblocks = 0;
        segment_t *intact;
        ck_assert_int_eq(segment_open_file(path, &intact), 0);
        for (uint64_t off, len; segment_block_range(intact, nblocks, &off, &len) == 0; nblocks++) {
            ck_assert_uint_lt(nblocks, 8);
            crc_at[nblocks] = off + len - 4;
        }
        segment_close(intact);
        for (size_t off = 0; off < r.bloom_off; off++) {
            int in_raw_block_crc = 0; /* in the CRC of a block stored uncompressed (flag 0) */
            for (size_t b = 0; b < nblocks; b++)
                in_raw_block_crc |= off >= crc_at[b] && off < crc_at[b] + 4 && file[crc_at[b] - 1] == 0;
            for (int use_read_at = 0; use_read_at < 2; use_read_at++) {
                int corrupt = 0;
                file[off] ^= 0x20;
                /* The tail is intact, so open succeeds; the damaged block's keys say so, and a check
                 * of the whole file always does. A point read of a mapped uncompressed block checks
                 * the CRCs of the intervals it reads, not the whole block's: damage to that CRC
                 * alone (the entries intact) leaves every read right, and only the whole-file
                 * check reports it. */
                ck_assert_int_eq(open_and_read_copy(file, size, use_read_at, &corrupt), 0);
                int min = in_raw_block_crc && !use_read_at ? 0 : 1;
                ck_assert_msg(corrupt >= min && corrupt <= 2, "flip at %zu: %d keys damaged", off, corrupt);
                ck_assert_msg(last_verify_rc == FLOE_ECORRUPT, "flip at %zu: verify returned %d", off,
                              last_verify_rc);
                file[off] ^= 0x20;
            }
        }
        free(file);
        free(path);
    }
}
END_TEST

/* ---- hostile zstd frames: decoded sizes no writer could have produced ---- */

#define HOSTILE_RAW_BYTES (1u << 30)

static void le_put(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

/* A zstd frame header stating content_size, with a 2 MiB window (not single-segment), no checksum. */
static size_t zframe_header(uint8_t *p, uint64_t content_size)
{
    le_put(p, 0xFD2FB528u, 4);
    p[4] = 0xc0;           /* Frame_Content_Size_flag 3: an 8-byte size */
    p[5] = (21 - 10) << 3; /* window 2^21 */
    le_put(p + 6, content_size, 8);
    return 14;
}

/* A zstd block header: type 0 raw, 1 RLE; size is the bytes it decodes to. */
static size_t zblock_header(uint8_t *p, int last, int type, uint32_t size)
{
    le_put(p, (uint64_t)size << 3 | (uint64_t)type << 1 | (uint64_t)(last != 0), 3);
    return 3;
}

/* Appends RLE blocks of byte 0 decoding to n bytes; the last one ends the frame. */
static size_t zrle_zeros(uint8_t *p, uint64_t n)
{
    size_t len = 0;
    while (n > 0) {
        uint32_t b = n > 131072 ? 131072 : (uint32_t)n;
        n -= b;
        len += zblock_header(p + len, n == 0, 1, b);
        p[len++] = 0;
    }
    return len;
}

/* Rewrites the one-block segment at path so that its block is payload (flag zstd) and the metadata's
 * largest block is max_block_raw, with every CRC the reader checks recomputed: the file passes every
 * check a reader makes before it decodes the block. */
static void replace_only_block(const char *path, const uint8_t *payload, size_t payload_len,
                               uint32_t max_block_raw)
{
    size_t size;
    uint8_t *file = tu_read_file(path, &size);
    ck_assert_ptr_nonnull(file);
    regions r = regions_of(file, size);
    size_t tail_len = r.footer_off - r.bloom_off;
    size_t block_len = payload_len + 5;
    size_t out_len = block_len + tail_len + SEGMENT_FOOTER_BYTES;
    uint8_t *out = malloc(out_len);
    ck_assert_ptr_nonnull(out);
    memcpy(out, payload, payload_len);
    out[payload_len] = 1;
    le_put(out + payload_len + 1, crc32c(out, payload_len + 1), 4);
    uint8_t *tail = out + block_len;
    memcpy(tail, file + r.bloom_off, tail_len);
    uint8_t *index = tail + r.bloom_len, *meta = index + r.index_len;
    le_put(index + r.index_len - 4, block_len, 4); /* the only index entry's length */
    le_put(meta + 56, max_block_raw, 4);
    uint8_t *f = tail + tail_len;
    memcpy(f, file + r.footer_off, SEGMENT_FOOTER_BYTES);
    le_put(f + 12, crc32c(tail, r.bloom_len), 4);
    le_put(f + 16, block_len, 8);
    le_put(f + 28, crc32c(index, r.index_len), 4);
    le_put(f + 32, block_len + r.bloom_len, 8);
    le_put(f + 44, crc32c(meta, r.meta_len), 4);
    le_put(f + 48, block_len + r.bloom_len + r.index_len, 8);
    le_put(f + 60, crc32c(f, 60), 4);
    tu_write_file(path, out, out_len);
    free(out);
    free(file);
}

/* Bytes of address space this process has mapped (/proc/self/statm), or 0. */
static uint64_t address_space_bytes(void)
{
    unsigned long long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* In a child limited to 256 MiB more address space than it has mapped, reads the key "big" of the
 * segment at path by get, iterator and verify, through a mapped file and through read_at. Returns
 * 0 if each fails with FLOE_ECORRUPT naming the segment, block 0 and the declared size, else a code
 * saying which did not (an allocation of the declared size fails: FLOE_ENOMEM, or ASan aborts). */
static int hostile_reads_in_small_address_space(const char *path)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rlimit lim = {.rlim_cur = address_space_bytes() + (256u << 20)};
        lim.rlim_max = lim.rlim_cur;
        if (lim.rlim_cur == (256u << 20) || setrlimit(RLIMIT_AS, &lim) != 0)
            _exit(90);
        size_t size;
        uint8_t *file = tu_read_file(path, &size);
        char want[512];
        for (int use_read_at = 0; use_read_at < 2; use_read_at++) {
            mem_source m;
            segment_source src = mem_source_for(&m, file, size, NULL);
            src.name = path;
            if (!use_read_at) {
                src.read_at = NULL;
                src.base = file;
            }
            snprintf(want, sizeof want, "segment %s: block 0 at offset 0: ", path);
            segment_t *s;
            if (segment_open(&src, &s) != 0)
                _exit(91);
            segment_hit h;
            int rc = segment_get(s, "big", 3, &h);
            if (rc != FLOE_ECORRUPT || !strstr(floe_last_error(), want) ||
                !strstr(floe_last_error(), "1073741824")) {
                fprintf(stderr, "get returned %d: %s\n", rc, floe_last_error());
                _exit(92 + use_read_at);
            }
            segment_iter *it;
            if (segment_iter_create(s, &it) != 0 || segment_iter_seek(it, NULL, 0) != FLOE_ECORRUPT)
                _exit(94);
            segment_iter_destroy(it);
            uint32_t crc;
            if (segment_verify(s, &crc) != FLOE_ECORRUPT)
                _exit(95);
            segment_close(s);
        }
        free(file);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The one-block zstd segment the hostile payloads replace the block of: key "big", 100-byte value. */
static void write_one_small_block(const char *path)
{
    segment_write_options o = opts_with(FLOE_COMPRESSION_ZSTD, 0);
    segment_writer *w;
    uint8_t value[100];
    memset(value, 'v', sizeof value);
    ck_assert_int_eq(segment_writer_open(path, &o, &w), 0);
    entry e = {.key = (const uint8_t *)"big", .key_len = 3, .value = value, .value_len = sizeof value,
               .seq = 1, .type = ENTRY_PUT};
    ck_assert_int_eq(segment_writer_add(w, &e), 0);
    ck_assert_int_eq(segment_writer_finish(w, NULL), 0);
}

START_TEST(segment_zstd_block_declaring_more_than_the_writer_could_produce_is_refused_before_allocating)
{
    /* 32 KB of RLE blocks that really decode to 1 GiB of zeros; a frame whose header states 1 GiB over
     * a 64-byte body; and a block whose first bytes are a valid entry of key "big" with a 100-byte
     * value, padded with zeros to 1 GiB. The metadata says 1 GiB is the largest block every time. */
    size_t cap = 14 + 3 + 64 + (HOSTILE_RAW_BYTES / 131072 + 2) * 4;
    uint8_t *payload = malloc(cap);
    ck_assert_ptr_nonnull(payload);
    for (int kind = 0; kind < 3; kind++) {
        size_t len = zframe_header(payload, HOSTILE_RAW_BYTES);
        if (kind == 0) {
            len += zrle_zeros(payload + len, HOSTILE_RAW_BYTES);
        } else if (kind == 1) {
            len += zblock_header(payload + len, 1, 0, 64);
            memset(payload + len, 0, 64);
            len += 64;
        } else {
            static const uint8_t entry_bytes[] = {0, 3, 100, 1, 0, 1, 'b', 'i', 'g'};
            len += zblock_header(payload + len, 0, 0, sizeof entry_bytes);
            memcpy(payload + len, entry_bytes, sizeof entry_bytes);
            len += sizeof entry_bytes;
            len += zrle_zeros(payload + len, HOSTILE_RAW_BYTES - sizeof entry_bytes);
        }
        ck_assert_uint_le(len, cap);
        char name[32];
        snprintf(name, sizeof name, "hostile-%d.seg", kind);
        char *path = path_in_tmp(name);
        write_one_small_block(path);
        replace_only_block(path, payload, len, HOSTILE_RAW_BYTES);
        ck_assert_uint_lt((uint64_t)tu_file_size(path), 40000);
        int rc = hostile_reads_in_small_address_space(path);
        ck_assert_msg(rc == 0, "hostile block %d: the reader child exited with %d", kind, rc);
        free(path);
    }
    free(payload);
}
END_TEST

START_TEST(segment_value_larger_than_any_block_target_reads_back_compressed)
{
    /* A compressible value past the largest block_bytes a writer accepts (64 MiB) gets a zstd block of
     * its own that declares more than any block of several entries can hold: it must still read. */
    char *path = path_in_tmp("huge.seg");
    uint32_t value_len = (64u << 20) + 4096;
    uint8_t *value = malloc(value_len);
    ck_assert_ptr_nonnull(value);
    for (uint32_t i = 0; i < value_len; i++)
        value[i] = (uint8_t)("floe"[i % 4] + (i / 4096) % 7);
    segment_write_options o = opts_with(FLOE_COMPRESSION_ZSTD, 0);
    segment_writer *w;
    ck_assert_int_eq(segment_writer_open(path, &o, &w), 0);
    entry small = {.key = (const uint8_t *)"a", .key_len = 1, .value = value, .value_len = 10, .seq = 1,
                   .type = ENTRY_PUT};
    entry big = {.key = (const uint8_t *)"big", .key_len = 3, .value = value, .value_len = value_len,
                 .content_type = "application/octet-stream", .content_type_len = 24, .seq = 2,
                 .type = ENTRY_PUT};
    ck_assert_int_eq(segment_writer_add(w, &small), 0);
    ck_assert_int_eq(segment_writer_add(w, &big), 0);
    segment_info wi;
    ck_assert_int_eq(segment_writer_finish(w, &wi), 0);
    ck_assert_uint_lt(wi.file_bytes, value_len / 8); /* stored compressed */
    segment_t *s;
    ck_assert_int_eq(segment_open_file(path, &s), 0);
    segment_hit h;
    ck_assert_msg(segment_get(s, "big", 3, &h) == 1, "get: %s", floe_last_error());
    ck_assert_uint_eq(h.value_len, value_len);
    ck_assert(memcmp(h.value, value, value_len) == 0);
    ck_assert_str_eq(h.content_type, "application/octet-stream");
    segment_hit_clear(&h);
    ck_assert_int_eq(segment_get(s, "bi", 2, &h), 0);
    uint32_t crc;
    ck_assert_msg(segment_verify(s, &crc) == 0, "verify: %s", floe_last_error());
    segment_close(s);
    segment_info_clear(&wi);
    free(value);
    free(path);
}
END_TEST

static char *dump_to_string(const char *path, int *rc)
{
    /* The stream's buffer pointer lives on the heap: GCC -O3 otherwise warns that the result may
     * dangle into this frame. */
    struct memstream {
        char *buf;
        size_t len;
    } *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    FILE *out = open_memstream(&m->buf, &m->len);
    ck_assert_ptr_nonnull(out);
    *rc = tools_segment_dump(path, out);
    fclose(out);
    char *text = m->buf;
    free(m);
    return text;
}

START_TEST(segment_dump_lists_entries_and_reports_a_crc_mismatch_with_its_offset)
{
    char *path = path_in_tmp("dump.seg");
    segment_write_options o = opts_with(FLOE_COMPRESSION_NONE, 64);
    segment_writer *w;
    uint8_t long_value[200];
    memset(long_value, 'x', sizeof long_value);
    ck_assert_int_eq(segment_writer_open(path, &o, &w), 0);
    entry e1 = {.key = (const uint8_t *)"a\"b",
                        .key_len = 3,
                        .value = (const uint8_t *)"bin\0\x01\xff",
                        .value_len = 6,
                        .content_type = "application/octet-stream",
                        .content_type_len = 24,
                        .seq = 5,
                        .write_ms = 1795320208123,
                        .type = ENTRY_PUT};
    entry e2 = {.key = (const uint8_t *)"gone", .key_len = 4, .seq = 6, .type = ENTRY_DELETE};
    entry e3 = {.key = (const uint8_t *)"long",
                        .key_len = 4,
                        .value = long_value,
                        .value_len = sizeof long_value,
                        .seq = 7,
                        .type = ENTRY_PUT};
    entry e4 = {.key = (const uint8_t *)"zz",
                        .key_len = 2,
                        .value = (const uint8_t *)"end",
                        .value_len = 3,
                        .seq = 8,
                        .type = ENTRY_PUT};
    ck_assert_int_eq(segment_writer_add(w, &e1), 0);
    ck_assert_int_eq(segment_writer_add(w, &e2), 0);
    ck_assert_int_eq(segment_writer_add(w, &e3), 0);
    ck_assert_int_eq(segment_writer_add(w, &e4), 0);
    segment_info info;
    ck_assert_int_eq(segment_writer_finish(w, &info), 0);
    ck_assert_uint_ge(info.block_count, 3);

    int rc;
    char *text = dump_to_string(path, &rc);
    ck_assert_msg(rc == 0, "dump of an intact file returned %d:\n%s", rc, text);
    ck_assert_ptr_nonnull(strstr(text, "metadata: id 42, epoch 7, seq 5..8, 4 entries"));
    ck_assert_ptr_nonnull(strstr(text, "put key=\"a\\\"b\" seq=5 write_ms=1795320208123 "
                                       "content_type=\"application/octet-stream\" value[6]=\"bin\\x00\\x01\\xff\""));
    ck_assert_ptr_nonnull(strstr(text, "delete key=\"gone\" seq=6 write_ms=0\n"));
    /* Long values are shortened. */
    char shortened[128];
    snprintf(shortened, sizeof shortened, "value[200]=\"%.*s...\"", 64,
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    ck_assert_ptr_nonnull(strstr(text, shortened));
    ck_assert_ptr_nonnull(strstr(text, "put key=\"zz\" seq=8"));
    free(text);

    uint64_t off = damage_block(path, 1);
    text = dump_to_string(path, &rc);
    ck_assert_int_eq(rc, FLOE_ECORRUPT);
    char want[128];
    snprintf(want, sizeof want, "block 1 at offset %llu: crc mismatch (stored 0x", (unsigned long long)off);
    ck_assert_msg(strstr(text, want), "dump lacks \"%s\":\n%s", want, text);
    /* It carries on past the damage. */
    ck_assert_ptr_nonnull(strstr(text, "put key=\"a\\\"b\""));
    ck_assert_ptr_nonnull(strstr(text, "put key=\"zz\" seq=8"));
    free(text);

    /* A broken footer leaves nothing to walk, but is still reported rather than crashing. */
    tu_flip_byte(path, tu_file_size(path) - 1);
    text = dump_to_string(path, &rc);
    ck_assert_int_eq(rc, FLOE_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(text, "footer at offset"));
    free(text);

    char *missing = path_in_tmp("missing.seg");
    FILE *devnull = fopen("/dev/null", "w");
    ck_assert_int_eq(tools_segment_dump(missing, devnull), FLOE_ENOTFOUND);
    fclose(devnull);
    free(missing);
    segment_info_clear(&info);
    free(path);
}
END_TEST

/* The section of docs/formats.md between the segment markers, malloc'd. */
static char *formats_segment_section(void)
{
    size_t len;
    char *doc = tu_read_file(FLOE_SOURCE_DIR "/docs/formats.md", &len);
    ck_assert_ptr_nonnull(doc);
    char *start = strstr(doc, "<!-- section: segment");
    ck_assert_ptr_nonnull(start);
    char *end = strstr(start, "<!-- end section: segment -->");
    ck_assert_ptr_nonnull(end);
    char *section = strndup(start, (size_t)(end - start));
    free(doc);
    return section;
}

/* Byte ranges of the worked example that depend on the clock: created_unix_s, and the CRCs of the
 * metadata and of the footer, which cover it. */
static int example_byte_varies(size_t off)
{
    return (off >= 0xf1 && off <= 0xf8) || (off >= 0x144 && off <= 0x147) || (off >= 0x154 && off <= 0x157);
}

START_TEST(segment_writer_output_matches_the_worked_example)
{
    char *path = path_in_tmp("example.seg");
    segment_write_options o = {.id = 1, .epoch = 1, .compression = FLOE_COMPRESSION_NONE};
    segment_writer *w;
    ck_assert_int_eq(segment_writer_open(path, &o, &w), 0);
    entry e1 = {.key = (const uint8_t *)"fruit/apple",
                        .key_len = 11,
                        .value = (const uint8_t *)"red",
                        .value_len = 3,
                        .content_type = "text/plain",
                        .content_type_len = 10,
                        .seq = 5,
                        .write_ms = 1795320208123,
                        .type = ENTRY_PUT};
    entry e2 = {.key = (const uint8_t *)"fruit/banana",
                .key_len = 12,
                .seq = 6,
                .write_ms = 1795320208125,
                .type = ENTRY_DELETE};
    entry e3 = {.key = (const uint8_t *)"fruit/cherry",
                        .key_len = 12,
                        .value = (const uint8_t *)"dark red",
                        .value_len = 8,
                        .seq = 300,
                        .write_ms = 1795320209000,
                        .type = ENTRY_PUT};
    ck_assert_int_eq(segment_writer_add(w, &e1), 0);
    ck_assert_int_eq(segment_writer_add(w, &e2), 0);
    ck_assert_int_eq(segment_writer_add(w, &e3), 0);
    ck_assert_int_eq(segment_writer_finish(w, NULL), 0);
    size_t size;
    uint8_t *file = tu_read_file(path, &size);

    /* Parse the hex dump: lines "OFFSET: xx xx ...  ascii". */
    char *section = formats_segment_section();
    uint8_t doc_bytes[512];
    size_t doc_len = 0;
    for (char *line = strtok(section, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned long off;
        char *p;
        if (strlen(line) < 10 || line[8] != ':' || (off = strtoul(line, &p, 16), p != line + 8))
            continue;
        ck_assert_uint_eq(off, doc_len);
        p = line + 10;
        for (int i = 0; i < 16 && p[0] && p[0] != ' '; i++, p += 3) {
            unsigned v;
            ck_assert_int_eq(sscanf(p, "%2x", &v), 1);
            ck_assert_uint_lt(doc_len, sizeof doc_bytes);
            doc_bytes[doc_len++] = (uint8_t)v;
        }
    }
    free(section);
    ck_assert_uint_eq(doc_len, size);
    for (size_t i = 0; i < size; i++)
        if (!example_byte_varies(i))
            ck_assert_msg(file[i] == doc_bytes[i], "byte 0x%zx: file has %02x, docs/formats.md %02x", i,
                          file[i], doc_bytes[i]);

    /* The documented dump is what `floe segment dump` prints, up to the creation time. */
    int rc;
    char *text = dump_to_string(path, &rc);
    ck_assert_int_eq(rc, 0);
    section = formats_segment_section();
    char *doc_dump = strstr(section, "segment ex.seg: 344 bytes\n");
    ck_assert_ptr_nonnull(doc_dump);
    *strstr(doc_dump, "```") = '\0';
    char *created = strstr(text, ", created ");
    ck_assert_ptr_nonnull(created);
    char *after = strchr(created, '\n');
    char *expect = NULL;
    ck_assert_int_ge(asprintf(&expect, "segment %s: 344 bytes\n", path), 0);
    ck_assert(strncmp(text, expect, strlen(expect)) == 0);
    char *doc_created = strstr(doc_dump, ", created ");
    ck_assert_ptr_nonnull(doc_created);
    /* Same text between the first line and the creation time, and after it. */
    char *doc_first_nl = strchr(doc_dump, '\n') + 1, *first_nl = strchr(text, '\n') + 1;
    ck_assert_int_eq((int)(created - first_nl), (int)(doc_created - doc_first_nl));
    ck_assert(memcmp(first_nl, doc_first_nl, (size_t)(created - first_nl)) == 0);
    ck_assert_str_eq(after, strchr(doc_created, '\n'));
    free(expect);
    free(section);
    free(text);
    free(file);
    free(path);
}
END_TEST

/* Version 2: every entry keeps its write time, through segment_get and the iterator, raw and zstd,
 * whatever its size as a varint (0, one byte, the largest u64). */
START_TEST(segment_entries_keep_their_write_time)
{
    static const uint64_t times[] = {0, 1, 127, 128, 1795320208123ull, UINT64_MAX};
    const size_t n = 600;
    char *path = path_in_tmp(_i ? "wtime-zstd.seg" : "wtime.seg");
    segment_write_options o = {.id = 3,
                               .epoch = 1,
                               .block_bytes = 1024,
                               .compression = _i ? FLOE_COMPRESSION_ZSTD : FLOE_COMPRESSION_NONE};
    segment_writer *w;
    ck_assert_int_eq(segment_writer_open(path, &o, &w), 0);
    for (size_t i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%05zu", i);
        entry e = {.key = (const uint8_t *)key,
                   .key_len = (uint32_t)strlen(key),
                   .value = (const uint8_t *)"some value bytes",
                   .value_len = i % 3 ? 16 : 0,
                   .seq = i + 1,
                   .write_ms = times[i % 6] == UINT64_MAX ? UINT64_MAX : times[i % 6] + i,
                   .type = i % 7 == 6 ? ENTRY_DELETE : ENTRY_PUT};
        if (e.type == ENTRY_DELETE)
            e.value_len = 0;
        ck_assert_int_eq(segment_writer_add(w, &e), 0);
    }
    ck_assert_int_eq(segment_writer_finish(w, NULL), 0);
    segment_t *s;
    ck_assert_int_eq(segment_open_file(path, &s), 0);
    for (size_t i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%05zu", i);
        uint64_t want = times[i % 6] == UINT64_MAX ? UINT64_MAX : times[i % 6] + i;
        segment_hit h;
        ck_assert_int_eq(segment_get(s, key, strlen(key), &h), 1);
        ck_assert_uint_eq(h.seq, i + 1);
        ck_assert_uint_eq(h.write_ms, want);
        segment_hit_clear(&h);
    }
    segment_iter *it;
    ck_assert_int_eq(segment_iter_create(s, &it), 0);
    ck_assert_int_eq(segment_iter_seek(it, NULL, 0), 0);
    size_t i = 0;
    for (; segment_iter_valid(it); i++) {
        entry e;
        segment_iter_entry(it, &e);
        ck_assert_uint_eq(e.write_ms, times[i % 6] == UINT64_MAX ? UINT64_MAX : times[i % 6] + i);
        ck_assert_int_eq(segment_iter_next(it), 0);
    }
    ck_assert_uint_eq(i, n);
    segment_iter_destroy(it);
    uint32_t crc;
    ck_assert_int_eq(segment_verify(s, &crc), 0);
    segment_close(s);
    free(path);
}
END_TEST

/* A version 1 segment (written by floe before entries carried write times, kept in
 * tests/data/store-v1) still opens, verifies and reads, every entry with write time 0 (unknown). */
START_TEST(segment_version_1_file_reads_with_write_time_zero)
{
    const char *path = FLOE_SOURCE_DIR "/tests/data/store-v1/segments/00000000000000000001.seg";
    segment_t *s;
    ck_assert_msg(segment_open_file(path, &s) == 0, "%s", floe_last_error());
    uint32_t crc;
    ck_assert_int_eq(segment_verify(s, &crc), 0);
    segment_hit h;
    ck_assert_int_eq(segment_get(s, "old-07", 6, &h), 1);
    ck_assert_uint_eq(h.seq, 8);
    ck_assert_uint_eq(h.write_ms, 0);
    ck_assert_str_eq(h.content_type, "text/plain");
    ck_assert_mem_eq(h.value, "value 7 written by the version 1 WAL", h.value_len);
    segment_hit_clear(&h);
    segment_iter *it;
    ck_assert_int_eq(segment_iter_create(s, &it), 0);
    ck_assert_int_eq(segment_iter_seek(it, NULL, 0), 0);
    int count = 0;
    for (; segment_iter_valid(it); count++) {
        entry e;
        segment_iter_entry(it, &e);
        ck_assert_uint_eq(e.write_ms, 0);
        ck_assert_uint_eq(e.seq, (uint64_t)count + 1);
        ck_assert_int_eq(segment_iter_next(it), 0);
    }
    ck_assert_int_eq(count, 30);
    segment_iter_destroy(it);
    segment_close(s);
    int rc;
    char *text = dump_to_string(path, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(strstr(text, "footer at offset 1650: version 1,"));
    ck_assert_ptr_nonnull(strstr(text, "put key=\"old-00\" seq=1 write_ms=0 value[36]"));
    free(text);
}
END_TEST

START_TEST(segment_block_cache_serves_repeated_reads_without_the_source)
{
    char *path = path_in_tmp("cached.seg");
    write_even_keys(path, FLOE_COMPRESSION_ZSTD, 512);
    size_t len;
    uint8_t *file = tu_read_file(path, &len);
    lru_t *cache;
    ck_assert_int_eq(lru_create(1 << 20, 4, &cache), 0);
    mem_source m;
    segment_source src = mem_source_for(&m, file, len, cache);
    segment_t *s;
    segment_hit h;
    ck_assert_int_eq(segment_open(&src, &s), 0);
    ck_assert_int_eq(segment_get(s, "b0100", 5, &h), 1);
    segment_hit_clear(&h);
    int reads = atomic_load(&m.reads);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(segment_get(s, "b0100", 5, &h), 1);
        ck_assert(memcmp(h.value, "v100", 4) == 0);
        segment_hit_clear(&h);
    }
    ck_assert_int_eq(atomic_load(&m.reads), reads);
    lru_stats st;
    lru_get_stats(cache, &st);
    ck_assert_uint_ge(st.hits, 10);
    ck_assert_uint_eq(st.entries, 1);

    /* A mapped file's zstd blocks are cached decompressed too. */
    segment_t *s2;
    ck_assert_int_eq(segment_open_file_cached(path, cache, &s2), 0);
    ck_assert_int_eq(segment_get(s2, "b0200", 5, &h), 1);
    segment_hit_clear(&h);
    ck_assert_int_eq(segment_get(s2, "b0200", 5, &h), 1);
    segment_hit_clear(&h);
    lru_stats st2;
    lru_get_stats(cache, &st2);
    ck_assert_uint_eq(st2.entries, 2);
    ck_assert_uint_eq(st2.hits, st.hits + 1);

    /* Scans use cached blocks but do not add theirs. */
    segment_iter *it;
    ck_assert_int_eq(segment_iter_create(s, &it), 0);
    ck_assert_int_eq(segment_iter_seek(it, NULL, 0), 0);
    while (segment_iter_valid(it))
        ck_assert_int_eq(segment_iter_next(it), 0);
    segment_iter_destroy(it);
    lru_get_stats(cache, &st2);
    ck_assert_uint_eq(st2.entries, 2);

    /* Closing a reader drops its blocks: nobody can ask for them again. */
    segment_close(s);
    segment_close(s2);
    lru_get_stats(cache, &st2);
    ck_assert_uint_eq(st2.entries, 0);
    lru_destroy(cache);
    free(file);
    free(path);
}
END_TEST

typedef struct reader_arg {
    segment_t *s;
    unsigned seed;
    int failures;
} reader_arg;

static void *reader_thread(void *p)
{
    reader_arg *a = p;
    for (int n = 0; n < 3000; n++) {
        a->seed = a->seed * 1103515245u + 12345u;
        int i = (int)(a->seed >> 8) % 500 * 2;
        char key[16], value[16];
        int klen = snprintf(key, sizeof key, "b%04d", i);
        int vlen = snprintf(value, sizeof value, "v%d", i);
        segment_hit h;
        if (segment_get(a->s, key, (size_t)klen, &h) != 1) {
            a->failures++;
            continue;
        }
        if (h.value_len != (uint32_t)vlen || memcmp(h.value, value, (size_t)vlen) != 0)
            a->failures++;
        segment_hit_clear(&h);
    }
    return NULL;
}

START_TEST(segment_concurrent_reads_stay_correct_while_the_cache_evicts)
{
    char *path = path_in_tmp("shared.seg");
    write_even_keys(path, FLOE_COMPRESSION_ZSTD, 256);
    size_t len;
    uint8_t *file = tu_read_file(path, &len);
    lru_t *cache;
    /* Room for a handful of blocks: nearly every read evicts one another thread may be using. */
    ck_assert_int_eq(lru_create(2048, 1, &cache), 0);
    mem_source m;
    segment_source src = mem_source_for(&m, file, len, cache);
    segment_t *s;
    ck_assert_int_eq(segment_open(&src, &s), 0);
    pthread_t th[4];
    reader_arg args[4];
    for (int t = 0; t < 4; t++) {
        args[t] = (reader_arg){.s = s, .seed = (unsigned)t * 7919u + 1};
        ck_assert_int_eq(pthread_create(&th[t], NULL, reader_thread, &args[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        ck_assert_int_eq(args[t].failures, 0);
    }
    lru_stats st;
    lru_get_stats(cache, &st);
    ck_assert_uint_gt(st.evictions, 0);
    ck_assert_uint_gt(st.hits, 0);
    segment_close(s);
    lru_destroy(cache);
    free(file);
    free(path);
}
END_TEST

START_TEST(segment_memory_bytes_counts_index_and_bloom_not_data)
{
    char *path = path_in_tmp("memory.seg");
    segment_write_options o = opts_with(FLOE_COMPRESSION_NONE, 0);
    segment_info wi;
    write_mixed(path, &o, 3000, &wi);
    size_t size;
    uint8_t *file = tu_read_file(path, &size);
    regions r = regions_of(file, size);
    segment_t *s;
    ck_assert_int_eq(segment_open_file(path, &s), 0);
    uint64_t mem = segment_memory_bytes(s);
    ck_assert_uint_ge(mem, (uint64_t)r.bloom_len + r.index_len + r.meta_len);
    ck_assert_uint_lt(mem, r.bloom_off / 4);
    segment_close(s);
    segment_info_clear(&wi);
    free(file);
    free(path);
}
END_TEST

static Suite *segment_suite(void)
{
    Suite *s = suite_create("segment");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, segment_round_trip_keeps_every_entry_with_both_compressions);
    tcase_add_test(tc, segment_read_at_source_reads_the_same_as_a_mapped_file);
    tcase_add_test(tc, segment_value_larger_than_a_block_gets_a_block_of_its_own);
    tcase_add_test(tc, segment_blocks_tile_the_file_up_to_the_bloom_filter);
    tcase_add_test(tc, segment_zstd_compresses_only_blocks_where_it_pays);
    tcase_add_test(tc, segment_get_of_absent_keys_returns_not_found);
    tcase_add_test(tc, segment_writer_refuses_keys_out_of_order);
    tcase_add_test(tc, segment_writer_refuses_invalid_entries);
    tcase_add_test(tc, segment_writer_never_leaves_a_partial_file);
    tcase_add_test(tc, segment_write_failure_fails_the_writer_and_removes_the_file);
    tcase_add_test(tc, segment_iterator_seeks_and_steps_across_blocks);
    tcase_add_test(tc, segment_damaged_block_is_reported_by_get_and_other_blocks_still_read);
    tcase_add_test(tc, segment_open_refuses_damaged_footer_index_metadata_and_bloom);
    tcase_add_test(tc, segment_open_refuses_a_file_truncated_at_any_length);
    tcase_add_test(tc, segment_fuzzed_tail_and_truncations_are_refused_cleanly);
    tcase_add_test(tc, segment_fuzzed_data_blocks_never_return_a_wrong_value);
    tcase_add_test(tc, segment_point_reads_check_the_intervals_they_read);
    tcase_add_test(tc, segment_zstd_block_declaring_more_than_the_writer_could_produce_is_refused_before_allocating);
    tcase_add_test(tc, segment_value_larger_than_any_block_target_reads_back_compressed);
    tcase_add_test(tc, segment_dump_lists_entries_and_reports_a_crc_mismatch_with_its_offset);
    tcase_add_test(tc, segment_writer_output_matches_the_worked_example);
    tcase_add_loop_test(tc, segment_entries_keep_their_write_time, 0, 2);
    tcase_add_test(tc, segment_version_1_file_reads_with_write_time_zero);
    tcase_add_test(tc, segment_block_cache_serves_repeated_reads_without_the_source);
    tcase_add_test(tc, segment_concurrent_reads_stay_correct_while_the_cache_evicts);
    tcase_add_test(tc, segment_memory_bytes_counts_index_and_bloom_not_data);
    tcase_add_test(tc, segment_verify_refuses_cross_block_disorder_and_a_tombstone_with_a_value);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(segment_suite());
}
