/* Tests for the pending segment (src/memtable.c): ordering, versioned reads, tombstones, iteration
 * and lock-free readers running beside the writer. */
#include "floe.h"
#include "memtable.h"
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static memtable_t *new_memtable(void)
{
    memtable_t *m = NULL;
    ck_assert_int_eq(memtable_create(&m), 0);
    ck_assert_ptr_nonnull(m);
    return m;
}

static void add(memtable_t *m, const void *key, size_t key_len, uint64_t seq, uint8_t type, const void *value,
                size_t value_len, const char *content_type)
{
    entry e = {
        .key = key,
        .key_len = (uint32_t)key_len,
        .value = value,
        .value_len = (uint32_t)value_len,
        .content_type = content_type,
        .content_type_len = content_type ? (uint32_t)strlen(content_type) : 0,
        .seq = seq,
        .type = type,
    };
    ck_assert_int_eq(memtable_add(m, &e), 0);
}

static void put_str(memtable_t *m, const char *key, uint64_t seq, const char *value)
{
    add(m, key, strlen(key), seq, ENTRY_PUT, value, strlen(value), NULL);
}

/* Bytewise key order, then seq descending; returns <0 if a sorts before b. */
static int entry_order(const entry *a, const entry *b)
{
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, n);
    if (c)
        return c;
    if (a->key_len != b->key_len)
        return a->key_len < b->key_len ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq > b->seq ? -1 : 1;
    return 0;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

START_TEST(memtable_refuses_keys_and_sequence_numbers_it_cannot_hold)
{
    memtable_t *m = new_memtable();
    static uint8_t big[FLOE_MAX_KEY_BYTES + 1];
    memset(big, 'k', sizeof big);
    entry e = {.key = big,
                        .key_len = FLOE_MAX_KEY_BYTES + 1,
                        .value = (const uint8_t *)"v",
                        .value_len = 1,
                        .seq = 1,
                        .type = ENTRY_PUT};
    ck_assert_int_eq(memtable_add(m, &e), FLOE_EINVAL);
    e.key_len = FLOE_MAX_KEY_BYTES;
    e.seq = (UINT64_C(1) << 56); /* the node keeps seq and type in one word */
    ck_assert_int_eq(memtable_add(m, &e), FLOE_EINVAL);
    e.seq = (UINT64_C(1) << 56) - 1;
    ck_assert_int_eq(memtable_add(m, &e), 0);
    entry got;
    ck_assert_int_eq(memtable_get(m, big, FLOE_MAX_KEY_BYTES, UINT64_MAX, &got), 1);
    ck_assert_uint_eq(got.seq, (UINT64_C(1) << 56) - 1);
    ck_assert_uint_eq(got.type, ENTRY_PUT);
    ck_assert_uint_eq(got.key_len, FLOE_MAX_KEY_BYTES);
    ck_assert_uint_eq(memtable_count(m), 1);
    memtable_unref(m);
}
END_TEST

START_TEST(memtable_iterates_keys_ascending_and_versions_newest_first)
{
    memtable_t *m = new_memtable();
    /* Keys chosen so bytewise order differs from length order and from insertion order, with
     * embedded 0x00 and 0xff bytes; several versions each, inserted with seqs out of order. */
    static const struct {
        const char *key;
        size_t len;
    } keys[] = {
        {"b", 1}, {"a\xff", 2}, {"a", 1}, {"a\0", 2}, {"\xff", 1}, {"ab", 2}, {"\0", 1}, {"aa", 2},
    };
    const size_t nkeys = sizeof keys / sizeof keys[0];
    const uint64_t seqs[] = {7, 3, 11, 5, 9};
    uint64_t next_seq = 100;
    for (size_t v = 0; v < 5; v++)
        for (size_t k = 0; k < nkeys; k++)
            add(m, keys[k].key, keys[k].len, seqs[v] * 1000 + next_seq++, ENTRY_PUT, "x", 1, NULL);
    ck_assert_uint_eq(memtable_count(m), 5 * nkeys);

    memtable_iter *it = NULL;
    ck_assert_int_eq(memtable_iter_create(m, &it), 0);
    memtable_iter_seek(it, NULL, 0);
    entry prev = {0}, cur;
    size_t seen = 0;
    for (; memtable_iter_valid(it); memtable_iter_next(it)) {
        memtable_iter_entry(it, &cur);
        if (seen)
            ck_assert_msg(entry_order(&prev, &cur) < 0, "entry %zu out of order", seen);
        prev = cur;
        seen++;
    }
    ck_assert_uint_eq(seen, 5 * nkeys);
    /* The very first entry is the newest version of the smallest key "\0". */
    memtable_iter_seek(it, NULL, 0);
    memtable_iter_entry(it, &cur);
    ck_assert_uint_eq(cur.key_len, 1);
    ck_assert_int_eq(cur.key[0], 0);
    ck_assert_uint_eq(cur.seq, 11 * 1000 + 100 + 2 * nkeys + 6);
    memtable_iter_destroy(it);
    memtable_unref(m);
}
END_TEST

START_TEST(memtable_get_returns_newest_version_at_or_below_max_seq)
{
    memtable_t *m = new_memtable();
    put_str(m, "key", 30, "v30");
    put_str(m, "key", 10, "v10");
    put_str(m, "key", 20, "v20");
    put_str(m, "kex", 25, "other-before");
    put_str(m, "key0", 15, "other-after");
    entry e;

    ck_assert_int_eq(memtable_get(m, "key", 3, 9, &e), 0);
    const struct {
        uint64_t max_seq, want_seq;
    } cases[] = {{10, 10}, {15, 10}, {19, 10}, {20, 20}, {29, 20}, {30, 30}, {31, 30}, {UINT64_MAX, 30}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(memtable_get(m, "key", 3, cases[i].max_seq, &e), 1);
        ck_assert_uint_eq(e.seq, cases[i].want_seq);
        char want[8];
        snprintf(want, sizeof want, "v%llu", (unsigned long long)cases[i].want_seq);
        ck_assert_uint_eq(e.value_len, strlen(want));
        ck_assert_mem_eq(e.value, want, e.value_len);
        ck_assert_uint_eq(e.key_len, 3);
        ck_assert_mem_eq(e.key, "key", 3);
        ck_assert_int_eq(e.type, ENTRY_PUT);
    }
    /* A prefix or an extension of a stored key is a different key. */
    ck_assert_int_eq(memtable_get(m, "ke", 2, UINT64_MAX, &e), 0);
    ck_assert_int_eq(memtable_get(m, "key00", 5, UINT64_MAX, &e), 0);
    ck_assert_int_eq(memtable_get(m, "key0", 4, 14, &e), 0);
    ck_assert_int_eq(memtable_get(m, "key0", 4, 15, &e), 1);
    ck_assert_mem_eq(e.value, "other-after", 11);
    ck_assert_int_eq(memtable_get(m, "kez", 3, UINT64_MAX, &e), 0);
    memtable_unref(m);
}
END_TEST

START_TEST(memtable_delete_hides_older_put_only_at_later_seqs)
{
    memtable_t *m = new_memtable();
    put_str(m, "doc", 1, "first");
    add(m, "doc", 3, 2, ENTRY_DELETE, NULL, 0, NULL);
    put_str(m, "doc", 3, "again");
    entry e;
    ck_assert_int_eq(memtable_get(m, "doc", 3, 1, &e), 1);
    ck_assert_int_eq(e.type, ENTRY_PUT);
    ck_assert_mem_eq(e.value, "first", 5);
    ck_assert_int_eq(memtable_get(m, "doc", 3, 2, &e), 1);
    ck_assert_int_eq(e.type, ENTRY_DELETE);
    ck_assert_uint_eq(e.seq, 2);
    ck_assert_uint_eq(e.value_len, 0);
    ck_assert_int_eq(memtable_get(m, "doc", 3, 3, &e), 1);
    ck_assert_int_eq(e.type, ENTRY_PUT);
    ck_assert_mem_eq(e.value, "again", 5);
    memtable_unref(m);
}
END_TEST

START_TEST(memtable_rejects_bad_type_and_oversized_content_type)
{
    memtable_t *m = new_memtable();
    entry e = {.key = (const uint8_t *)"k", .key_len = 1, .seq = 1, .type = 9};
    ck_assert_int_eq(memtable_add(m, &e), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "type"));
    char ct[300];
    memset(ct, 'a', sizeof ct);
    e.type = ENTRY_PUT;
    e.content_type = ct;
    e.content_type_len = sizeof ct;
    ck_assert_int_eq(memtable_add(m, &e), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "content type"));
    ck_assert_uint_eq(memtable_count(m), 0);
    ck_assert_uint_eq(memtable_bytes(m), 0);
    entry got;
    ck_assert_int_eq(memtable_get(m, "k", 1, UINT64_MAX, &got), 0);
    memtable_unref(m);
}
END_TEST

START_TEST(memtable_iter_seek_lands_on_newest_version_of_first_key_at_or_after)
{
    memtable_t *m = new_memtable();
    put_str(m, "b", 1, "b1");
    put_str(m, "b", 2, "b2");
    put_str(m, "d", 3, "d3");
    put_str(m, "d", 5, "d5");
    put_str(m, "f", 4, "f4");
    memtable_iter *it = NULL;
    ck_assert_int_eq(memtable_iter_create(m, &it), 0);
    entry e;

    /* A fresh iterator starts at the first entry. */
    ck_assert(memtable_iter_valid(it));
    memtable_iter_entry(it, &e);
    ck_assert_mem_eq(e.key, "b", 1);
    ck_assert_uint_eq(e.seq, 2);

    memtable_iter_seek(it, "d", 1);
    ck_assert(memtable_iter_valid(it));
    memtable_iter_entry(it, &e);
    ck_assert_mem_eq(e.key, "d", 1);
    ck_assert_uint_eq(e.seq, 5);
    memtable_iter_next(it);
    memtable_iter_entry(it, &e);
    ck_assert_uint_eq(e.seq, 3);
    memtable_iter_next(it);
    memtable_iter_entry(it, &e);
    ck_assert_mem_eq(e.key, "f", 1);
    memtable_iter_next(it);
    ck_assert(!memtable_iter_valid(it));
    memtable_iter_next(it); /* next past the end stays at the end */
    ck_assert(!memtable_iter_valid(it));

    memtable_iter_seek(it, "c", 1);
    memtable_iter_entry(it, &e);
    ck_assert_mem_eq(e.key, "d", 1);
    ck_assert_uint_eq(e.seq, 5);
    memtable_iter_seek(it, "a", 1);
    memtable_iter_entry(it, &e);
    ck_assert_mem_eq(e.key, "b", 1);
    ck_assert_uint_eq(e.seq, 2);
    memtable_iter_seek(it, "dd", 2);
    memtable_iter_entry(it, &e);
    ck_assert_mem_eq(e.key, "f", 1);
    memtable_iter_seek(it, "g", 1);
    ck_assert(!memtable_iter_valid(it));
    memtable_iter_seek(it, NULL, 0);
    memtable_iter_entry(it, &e);
    ck_assert_mem_eq(e.key, "b", 1);
    memtable_iter_destroy(it);
    memtable_unref(m);
}
END_TEST

START_TEST(memtable_iter_on_empty_memtable_is_invalid)
{
    memtable_t *m = new_memtable();
    memtable_iter *it = NULL;
    ck_assert_int_eq(memtable_iter_create(m, &it), 0);
    ck_assert(!memtable_iter_valid(it));
    memtable_iter_seek(it, "a", 1);
    ck_assert(!memtable_iter_valid(it));
    memtable_iter_destroy(it);
    ck_assert_uint_eq(memtable_min_seq(m), 0);
    ck_assert_uint_eq(memtable_max_seq(m), 0);
    ck_assert_uint_eq(memtable_count(m), 0);
    memtable_unref(m);
    memtable_unref(NULL);
}
END_TEST

START_TEST(memtable_stores_values_content_types_and_large_values_intact)
{
    memtable_t *m = new_memtable();
    const size_t big_len = 3 * 1024 * 1024 + 17; /* above the out-of-line threshold */
    uint8_t *big = malloc(big_len);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (uint8_t)(i * 131 + 7);
    const size_t mid_len = 200 * 1024; /* inline, larger than a first chunk */
    uint8_t *mid = malloc(mid_len);
    ck_assert_ptr_nonnull(mid);
    for (size_t i = 0; i < mid_len; i++)
        mid[i] = (uint8_t)(i * 17 + 3);

    add(m, "big", 3, 1, ENTRY_PUT, big, big_len, "application/octet-stream");
    add(m, "empty", 5, 2, ENTRY_PUT, NULL, 0, "text/plain");
    add(m, "mid", 3, 3, ENTRY_PUT, mid, mid_len, NULL);
    add(m, "small", 5, 4, ENTRY_PUT, "hello", 5, "text/plain; charset=utf-8");
    memset(big, 0, big_len); /* the memtable must have its own copies */
    memset(mid, 0, mid_len);

    entry e;
    ck_assert_int_eq(memtable_get(m, "big", 3, UINT64_MAX, &e), 1);
    ck_assert_uint_eq(e.value_len, big_len);
    for (size_t i = 0; i < big_len; i++)
        if (e.value[i] != (uint8_t)(i * 131 + 7))
            ck_abort_msg("big value differs at byte %zu", i);
    ck_assert_uint_eq(e.content_type_len, strlen("application/octet-stream"));
    ck_assert_mem_eq(e.content_type, "application/octet-stream", e.content_type_len);

    ck_assert_int_eq(memtable_get(m, "mid", 3, UINT64_MAX, &e), 1);
    ck_assert_uint_eq(e.value_len, mid_len);
    for (size_t i = 0; i < mid_len; i++)
        if (e.value[i] != (uint8_t)(i * 17 + 3))
            ck_abort_msg("mid value differs at byte %zu", i);
    ck_assert_ptr_null(e.content_type);
    ck_assert_uint_eq(e.content_type_len, 0);

    ck_assert_int_eq(memtable_get(m, "empty", 5, UINT64_MAX, &e), 1);
    ck_assert_uint_eq(e.value_len, 0);
    ck_assert_mem_eq(e.content_type, "text/plain", 10);

    ck_assert_int_eq(memtable_get(m, "small", 5, UINT64_MAX, &e), 1);
    ck_assert_mem_eq(e.value, "hello", 5);
    ck_assert_uint_eq(e.content_type_len, 25);
    ck_assert_mem_eq(e.content_type, "text/plain; charset=utf-8", 25);

    /* Accounting covers at least every byte handed in, and not wildly more. */
    uint64_t payload = big_len + mid_len + 5 + 3 + 5 + 3 + 5 + 5 + 24 + 10 + 25;
    ck_assert_uint_ge(memtable_bytes(m), payload);
    ck_assert_uint_le(memtable_bytes(m), payload + 4 * 256);
    free(big);
    free(mid);
    memtable_unref(m);
}
END_TEST

START_TEST(memtable_tracks_bytes_count_and_seq_range)
{
    memtable_t *m = new_memtable();
    uint64_t last_bytes = 0;
    const uint64_t seqs[] = {50, 20, 90, 70, 10, 60};
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "k%zu", i);
        add(m, key, (size_t)n, seqs[i], ENTRY_PUT, "0123456789", 10, NULL);
        ck_assert_uint_eq(memtable_count(m), i + 1);
        ck_assert_uint_gt(memtable_bytes(m), last_bytes + (size_t)n + 10 - 1);
        last_bytes = memtable_bytes(m);
    }
    ck_assert_uint_eq(memtable_min_seq(m), 10);
    ck_assert_uint_eq(memtable_max_seq(m), 90);
    memtable_unref(m);

    m = new_memtable();
    put_str(m, "only", 42, "v");
    ck_assert_uint_eq(memtable_min_seq(m), 42);
    ck_assert_uint_eq(memtable_max_seq(m), 42);
    memtable_unref(m);
}
END_TEST

START_TEST(memtable_iterator_reference_outlives_creator)
{
    memtable_t *m = new_memtable();
    put_str(m, "a", 1, "alpha");
    put_str(m, "b", 2, "beta");
    memtable_iter *it = NULL;
    ck_assert_int_eq(memtable_iter_create(m, &it), 0);
    memtable_ref(m);
    memtable_unref(m);
    memtable_unref(m); /* the creator's reference is gone; the iterator's keeps it alive */
    memtable_iter_seek(it, "b", 1);
    entry e;
    memtable_iter_entry(it, &e);
    ck_assert_mem_eq(e.value, "beta", 4);
    memtable_iter_destroy(it);
}
END_TEST

/* A million random 16-byte keys as db_bench's fillrandom uses (about a third of them repeated with
 * newer seqs): the order holds and every version is found at its own seq. */
START_TEST(memtable_many_random_inserts_stay_sorted_and_findable)
{
    const size_t n = tu_long_tests() ? 4000000 : TU_SANITIZED ? 50000 : 1000000;
    memtable_t *m = new_memtable();
    uint64_t rng = 12345;
    char value[100];
    memset(value, 'v', sizeof value);
    for (size_t i = 0; i < n; i++) {
        char key[17];
        snprintf(key, sizeof key, "%016llu", (unsigned long long)(rng_next(&rng) % (n * 2)));
        add(m, key, 16, i + 1, ENTRY_PUT, value, sizeof value, NULL);
    }
    ck_assert_uint_eq(memtable_count(m), n);
    ck_assert_uint_eq(memtable_min_seq(m), 1);
    ck_assert_uint_eq(memtable_max_seq(m), n);

    memtable_iter *it = NULL;
    ck_assert_int_eq(memtable_iter_create(m, &it), 0);
    entry prev = {0}, cur;
    size_t seen = 0;
    for (memtable_iter_seek(it, NULL, 0); memtable_iter_valid(it); memtable_iter_next(it)) {
        memtable_iter_entry(it, &cur);
        if (seen && entry_order(&prev, &cur) >= 0)
            ck_abort_msg("entry %zu out of order", seen);
        prev = cur;
        seen++;
    }
    ck_assert_uint_eq(seen, n);
    memtable_iter_destroy(it);

    /* Replay the generator: every key is found, at its newest seq. */
    rng = 12345;
    for (size_t i = 0; i < n; i++) {
        char key[17];
        snprintf(key, sizeof key, "%016llu", (unsigned long long)(rng_next(&rng) % (n * 2)));
        entry e;
        if (memtable_get(m, key, 16, UINT64_MAX, &e) != 1 || e.seq < i + 1)
            ck_abort_msg("key %s written at seq %zu not found at its newest version", key, i + 1);
        if (memtable_get(m, key, 16, i + 1, &e) != 1 || e.seq != i + 1)
            ck_abort_msg("key %s not found at seq %zu", key, i + 1);
    }
    memtable_unref(m);
}
END_TEST

/* One writer, three readers. The writer adds versions of keys whose values are a function of key and
 * seq; readers check every entry they can reach is complete and in order, and that a version once seen
 * stays visible. */
#define CONC_KEYS 2000
#define CONC_WRITES (tu_long_tests() ? 400000 : TU_SANITIZED ? 30000 : 60000)

typedef struct conc_state {
    memtable_t *m;
    atomic_int writer_done;
    atomic_uint_fast64_t published_seq; /* every seq <= this is in the memtable */
    atomic_int failures;
    char failure[256];
    pthread_mutex_t failure_mu;
} conc_state;

static void conc_key(uint64_t k, char out[12])
{
    snprintf(out, 12, "key%08llu", (unsigned long long)k);
}

/* The value for (key, seq): its length and bytes both depend on both. */
static size_t conc_value(const char *key, uint64_t seq, uint8_t *out)
{
    size_t len = 8 + (seq * 7 + (uint8_t)key[10]) % 120;
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(seq * 31 + i * 7 + (uint8_t)key[9]);
    return len;
}

static void conc_fail(conc_state *st, const char *fmt, const char *key, uint64_t seq)
{
    pthread_mutex_lock(&st->failure_mu);
    if (atomic_fetch_add(&st->failures, 1) == 0)
        snprintf(st->failure, sizeof st->failure, fmt, key, (unsigned long long)seq);
    pthread_mutex_unlock(&st->failure_mu);
}

static int conc_entry_ok(const entry *e)
{
    uint8_t want[128];
    char key[12];
    if (e->key_len != 11)
        return 0;
    memcpy(key, e->key, 11);
    key[11] = '\0';
    if (e->type == ENTRY_DELETE)
        return e->value_len == 0 && e->seq % 5 == 0;
    size_t len = conc_value(key, e->seq, want);
    return e->value_len == len && memcmp(e->value, want, len) == 0 && e->content_type_len == 4 &&
           memcmp(e->content_type, "t/ct", 4) == 0;
}

static void *conc_writer(void *arg)
{
    conc_state *st = arg;
    uint64_t rng = 99; /* readers replay this sequence */
    uint8_t value[128];
    for (uint64_t seq = 1; seq <= (uint64_t)CONC_WRITES; seq++) {
        char key[12];
        conc_key(rng_next(&rng) % CONC_KEYS, key);
        entry e = {.key = (const uint8_t *)key, .key_len = 11, .seq = seq};
        if (seq % 5 == 0) {
            e.type = ENTRY_DELETE;
        } else {
            e.type = ENTRY_PUT;
            e.value = value;
            e.value_len = (uint32_t)conc_value(key, seq, value);
            e.content_type = "t/ct";
            e.content_type_len = 4;
        }
        if (memtable_add(st->m, &e) != 0) {
            conc_fail(st, "writer: add %s seq %llu failed", key, seq);
            break;
        }
        atomic_store_explicit(&st->published_seq, seq, memory_order_release);
    }
    atomic_store(&st->writer_done, 1);
    return NULL;
}

static void *conc_reader(void *arg)
{
    conc_state *st = arg;
    uint64_t rng = (uint64_t)(uintptr_t)&rng | 1;
    memtable_iter *it = NULL;
    if (memtable_iter_create(st->m, &it) != 0) {
        conc_fail(st, "reader: iterator %s %llu", "create", 0);
        return NULL;
    }
    uint64_t seen_at[CONC_KEYS] = {0};
    uint64_t writer_rng = 99, checked_seq = 0;
    int rounds = 0;
    while (!atomic_load(&st->writer_done) || rounds < 2) {
        if (atomic_load(&st->writer_done))
            rounds++;
        /* Point reads: a version seen before never disappears, and what is found is complete. */
        for (int i = 0; i < 500; i++) {
            uint64_t k = rng_next(&rng) % CONC_KEYS;
            char key[12];
            conc_key(k, key);
            entry e;
            if (memtable_get(st->m, key, 11, UINT64_MAX, &e) == 1) {
                if (!conc_entry_ok(&e))
                    conc_fail(st, "reader: get %s returned a damaged entry at seq %llu", key, e.seq);
                if (e.seq < seen_at[k])
                    conc_fail(st, "reader: get %s went back in time to seq %llu", key, e.seq);
                seen_at[k] = e.seq;
            } else if (seen_at[k]) {
                conc_fail(st, "reader: %s vanished after seq %llu", key, seen_at[k]);
            }
        }
        /* Every write published so far is visible at exactly its own seq: replay the writer's key
         * sequence up to what it has published. */
        uint64_t published = atomic_load_explicit(&st->published_seq, memory_order_acquire);
        if (memtable_count(st->m) < published)
            conc_fail(st, "reader: count below published seq %s%llu", "", published);
        for (; checked_seq < published; checked_seq++) {
            char key[12];
            conc_key(rng_next(&writer_rng) % CONC_KEYS, key);
            entry e;
            if (memtable_get(st->m, key, 11, checked_seq + 1, &e) != 1 || e.seq != checked_seq + 1 ||
                !conc_entry_ok(&e))
                conc_fail(st, "reader: published write to %s at seq %llu not visible", key, checked_seq + 1);
        }
        /* A scan: strictly ordered, every entry complete. */
        entry prev = {0}, cur;
        int have_prev = 0;
        for (memtable_iter_seek(it, NULL, 0); memtable_iter_valid(it); memtable_iter_next(it)) {
            memtable_iter_entry(it, &cur);
            if (!conc_entry_ok(&cur))
                conc_fail(st, "reader: scan found a damaged entry %.11s at seq %llu", (const char *)cur.key,
                          cur.seq);
            if (have_prev && entry_order(&prev, &cur) >= 0)
                conc_fail(st, "reader: scan out of order at %.11s seq %llu", (const char *)cur.key, cur.seq);
            prev = cur;
            have_prev = 1;
        }
        if (atomic_load(&st->failures))
            break;
    }
    memtable_iter_destroy(it);
    return NULL;
}

START_TEST(memtable_concurrent_readers_only_see_complete_ordered_entries)
{
    conc_state st = {0};
    st.m = new_memtable();
    pthread_mutex_init(&st.failure_mu, NULL);
    pthread_t readers[3], writer;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&readers[i], NULL, conc_reader, &st), 0);
    ck_assert_int_eq(pthread_create(&writer, NULL, conc_writer, &st), 0);
    pthread_join(writer, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(readers[i], NULL);
    ck_assert_msg(atomic_load(&st.failures) == 0, "%d failures, first: %s", atomic_load(&st.failures),
                  st.failure);
    ck_assert_uint_eq(memtable_count(st.m), (uint64_t)CONC_WRITES);
    pthread_mutex_destroy(&st.failure_mu);
    memtable_unref(st.m);
}
END_TEST

static Suite *memtable_suite(void)
{
    Suite *s = suite_create("memtable");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, memtable_iterates_keys_ascending_and_versions_newest_first);
    tcase_add_test(tc, memtable_refuses_keys_and_sequence_numbers_it_cannot_hold);
    tcase_add_test(tc, memtable_get_returns_newest_version_at_or_below_max_seq);
    tcase_add_test(tc, memtable_delete_hides_older_put_only_at_later_seqs);
    tcase_add_test(tc, memtable_rejects_bad_type_and_oversized_content_type);
    tcase_add_test(tc, memtable_iter_seek_lands_on_newest_version_of_first_key_at_or_after);
    tcase_add_test(tc, memtable_iter_on_empty_memtable_is_invalid);
    tcase_add_test(tc, memtable_stores_values_content_types_and_large_values_intact);
    tcase_add_test(tc, memtable_tracks_bytes_count_and_seq_range);
    tcase_add_test(tc, memtable_iterator_reference_outlives_creator);
    tcase_add_test(tc, memtable_many_random_inserts_stay_sorted_and_findable);
    tcase_add_test(tc, memtable_concurrent_readers_only_see_complete_ordered_entries);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(memtable_suite());
}
