/* Tests for the sharded LRU cache (src/lru.c): recency order, the byte budget, pinning, the
 * generation guard against stale inserts, and many threads at once. */
#include "floe.h"
#include "lru.h"
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every value is a tracked record, so tests can tell exactly which values were freed. */
#define VALUE_MAGIC 0x5ca1ab1eu

typedef struct tval {
    unsigned magic;
    char key[32];
    uint64_t charge;
    uint64_t version;
    atomic_int freed;
} tval;

static atomic_long g_allocs, g_frees;

static tval *tval_new(const char *key, uint64_t charge)
{
    tval *v = calloc(1, sizeof *v);
    ck_assert_ptr_nonnull(v);
    v->magic = VALUE_MAGIC;
    snprintf(v->key, sizeof v->key, "%s", key);
    v->charge = charge;
    atomic_fetch_add(&g_allocs, 1);
    return v;
}

/* Marks a value freed but keeps the record, so a test can still ask whether it was freed. */
static void tval_mark_freed(void *p)
{
    tval *v = p;
    ck_assert_int_eq(v->magic, VALUE_MAGIC);
    ck_assert_int_eq(atomic_fetch_add(&v->freed, 1), 0); /* never freed twice */
    atomic_fetch_add(&g_frees, 1);
}

/* Really frees (for tests that do not inspect records after the fact). */
static void tval_free(void *p)
{
    tval *v = p;
    if (v->magic != VALUE_MAGIC)
        abort();
    v->magic = 0;
    atomic_fetch_add(&g_frees, 1);
    free(v);
}

static lru_t *new_cache(uint64_t capacity, unsigned shards)
{
    lru_t *c = NULL;
    ck_assert_int_eq(lru_create(capacity, shards, &c), 0);
    ck_assert_ptr_nonnull(c);
    return c;
}

static int insert(lru_t *c, tval *v, uint64_t generation)
{
    return lru_insert(c, v->key, strlen(v->key), v, v->charge, tval_mark_freed, generation);
}

/* 1 if key is cached (and its value names key), 0 on a miss. */
static int cached(lru_t *c, const char *key)
{
    lru_handle *h = lru_get(c, key, strlen(key));
    if (!h)
        return 0;
    tval *v = lru_value(h);
    ck_assert_str_eq(v->key, key);
    lru_release(c, h);
    return 1;
}

START_TEST(lru_get_hits_inserted_keys_and_misses_others)
{
    lru_t *c = new_cache(1000, 4);
    tval *a = tval_new("alpha", 10), *b = tval_new("beta", 20);
    ck_assert_int_eq(insert(c, a, UINT64_MAX), 1);
    ck_assert_int_eq(insert(c, b, UINT64_MAX), 1);
    lru_handle *h = lru_get(c, "alpha", 5);
    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_eq(lru_value(h), a);
    lru_release(c, h);
    ck_assert_ptr_null(lru_get(c, "alph", 4));
    ck_assert_ptr_null(lru_get(c, "alphaa", 6));
    ck_assert_ptr_null(lru_get(c, "gamma", 5));

    lru_stats st;
    lru_get_stats(c, &st);
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.misses, 3);
    ck_assert_uint_eq(st.entries, 2);
    ck_assert_uint_eq(st.bytes, 30);
    ck_assert_uint_eq(st.evictions, 0);
    lru_destroy(c);
    ck_assert_int_eq(a->freed, 1);
    ck_assert_int_eq(b->freed, 1);
    free(a);
    free(b);
}
END_TEST

START_TEST(lru_binary_and_empty_keys_are_distinct)
{
    lru_t *c = new_cache(1000, 2);
    static const char k1[] = {'a', 0, 'b'}, k2[] = {'a', 0, 'c'};
    int v1 = 1, v2 = 2, v3 = 3;
    ck_assert_int_eq(lru_insert(c, k1, 3, &v1, 1, NULL, UINT64_MAX), 1);
    ck_assert_int_eq(lru_insert(c, k2, 3, &v2, 1, NULL, UINT64_MAX), 1);
    ck_assert_int_eq(lru_insert(c, "", 0, &v3, 1, NULL, UINT64_MAX), 1);
    lru_handle *h = lru_get(c, k2, 3);
    ck_assert_ptr_eq(lru_value(h), &v2);
    lru_release(c, h);
    h = lru_get(c, k1, 3);
    ck_assert_ptr_eq(lru_value(h), &v1);
    lru_release(c, h);
    h = lru_get(c, "", 0);
    ck_assert_ptr_eq(lru_value(h), &v3);
    lru_release(c, h);
    ck_assert_ptr_null(lru_get(c, "a", 1));
    lru_destroy(c);
}
END_TEST

START_TEST(lru_evicts_least_recently_used_first)
{
    lru_t *c = new_cache(300, 1);
    tval *a = tval_new("a", 100), *b = tval_new("b", 100), *cc = tval_new("c", 100), *d = tval_new("d", 100),
         *e = tval_new("e", 150);
    ck_assert_int_eq(insert(c, a, UINT64_MAX), 1);
    ck_assert_int_eq(insert(c, b, UINT64_MAX), 1);
    ck_assert_int_eq(insert(c, cc, UINT64_MAX), 1);
    ck_assert(cached(c, "a")); /* a is now the most recent; b is the least */
    ck_assert_int_eq(insert(c, d, UINT64_MAX), 1);
    ck_assert_int_eq(b->freed, 1);
    ck_assert(!cached(c, "b"));
    ck_assert_int_eq(a->freed + cc->freed + d->freed, 0);
    /* Order now (old to new): c, a, d. 150 bytes needs two evictions: c then a. */
    ck_assert_int_eq(insert(c, e, UINT64_MAX), 1);
    ck_assert_int_eq(cc->freed, 1);
    ck_assert_int_eq(a->freed, 1);
    ck_assert(cached(c, "d"));
    ck_assert(cached(c, "e"));
    lru_stats st;
    lru_get_stats(c, &st);
    ck_assert_uint_eq(st.evictions, 3);
    ck_assert_uint_eq(st.entries, 2);
    ck_assert_uint_eq(st.bytes, 250);
    lru_destroy(c);
    tval *all[] = {a, b, cc, d, e};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(all[i]->freed, 1);
        free(all[i]);
    }
}
END_TEST

START_TEST(lru_byte_budget_is_never_exceeded)
{
    const uint64_t capacity = 10000;
    lru_t *c = new_cache(capacity, 4);
    enum { N = 5000 };
    tval **vals = calloc(N, sizeof *vals);
    ck_assert_ptr_nonnull(vals);
    uint64_t rng = 7;
    for (int i = 0; i < N; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        char key[16];
        snprintf(key, sizeof key, "k%d", (int)((rng >> 33) % 400));
        vals[i] = tval_new(key, 1 + (rng >> 20) % 900);
        insert(c, vals[i], UINT64_MAX);
        /* What the cache holds is exactly what it has not freed; add that up independently. */
        uint64_t live = 0;
        for (int j = 0; j <= i; j++)
            if (!vals[j]->freed)
                live += vals[j]->charge;
        lru_stats st;
        lru_get_stats(c, &st);
        ck_assert_uint_eq(st.bytes, live);
        ck_assert_uint_le(live, capacity);
    }
    lru_destroy(c);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(vals[i]->freed, 1);
        free(vals[i]);
    }
    free(vals);
}
END_TEST

START_TEST(lru_pinned_entry_survives_eviction_until_released)
{
    lru_t *c = new_cache(200, 1);
    tval *a = tval_new("a", 100), *b = tval_new("b", 100), *cc = tval_new("c", 100);
    insert(c, a, UINT64_MAX);
    lru_handle *h = lru_get(c, "a", 1);
    ck_assert_ptr_nonnull(h);
    insert(c, b, UINT64_MAX);
    cached(c, "b");            /* a is least recent */
    insert(c, cc, UINT64_MAX); /* evicts a although it is pinned */
    ck_assert(!cached(c, "a"));
    ck_assert_int_eq(a->freed, 0); /* the handle keeps it alive */
    tval *v = lru_value(h);
    ck_assert_str_eq(v->key, "a");
    lru_stats st;
    lru_get_stats(c, &st);
    ck_assert_uint_eq(st.bytes, 200); /* an evicted pinned entry no longer counts */
    lru_release(c, h);
    ck_assert_int_eq(a->freed, 1);
    lru_destroy(c);
    free(a);
    free(b);
    free(cc);
}
END_TEST

START_TEST(lru_replacing_a_key_keeps_old_value_alive_for_its_holders)
{
    lru_t *c = new_cache(1000, 1);
    tval *v1 = tval_new("k", 100), *v2 = tval_new("k", 300);
    insert(c, v1, UINT64_MAX);
    lru_handle *h1 = lru_get(c, "k", 1);
    ck_assert_int_eq(insert(c, v2, UINT64_MAX), 1);
    ck_assert_int_eq(v1->freed, 0);
    lru_handle *h2 = lru_get(c, "k", 1);
    ck_assert_ptr_eq(lru_value(h2), v2);
    ck_assert_ptr_eq(lru_value(h1), v1);
    lru_stats st;
    lru_get_stats(c, &st);
    ck_assert_uint_eq(st.entries, 1);
    ck_assert_uint_eq(st.bytes, 300);
    lru_release(c, h1);
    ck_assert_int_eq(v1->freed, 1);
    lru_release(c, h2);
    ck_assert_int_eq(v2->freed, 0);
    lru_destroy(c);
    ck_assert_int_eq(v2->freed, 1);
    free(v1);
    free(v2);
}
END_TEST

START_TEST(lru_invalidate_makes_a_stale_insert_be_refused)
{
    lru_t *c = new_cache(1000, 4);
    /* A reader captures the generation, then reads an old value from a slower tier... */
    uint64_t gen = lru_generation(c, "obj", 3);
    /* ...meanwhile a writer replaces the object and invalidates the cache... */
    lru_invalidate(c, "obj", 3);
    ck_assert_uint_ne(lru_generation(c, "obj", 3), gen);
    /* ...so the reader's stale value must not be cached. */
    tval *stale = tval_new("obj", 10);
    ck_assert_int_eq(insert(c, stale, gen), 0);
    ck_assert_int_eq(stale->freed, 1); /* ownership was taken and the value freed at once */
    ck_assert(!cached(c, "obj"));

    /* A read that starts after the write caches normally. */
    tval *fresh = tval_new("obj", 10);
    ck_assert_int_eq(insert(c, fresh, lru_generation(c, "obj", 3)), 1);
    ck_assert(cached(c, "obj"));
    /* Invalidation also drops what is cached. */
    lru_invalidate(c, "obj", 3);
    ck_assert_int_eq(fresh->freed, 1);
    ck_assert(!cached(c, "obj"));
    /* UINT64_MAX skips the check. */
    tval *forced = tval_new("obj", 10);
    ck_assert_int_eq(insert(c, forced, UINT64_MAX), 1);
    lru_stats st;
    lru_get_stats(c, &st);
    ck_assert_uint_eq(st.entries, 1);
    lru_destroy(c);
    free(stale);
    free(fresh);
    free(forced);
}
END_TEST

START_TEST(lru_insert_larger_than_shard_budget_is_refused)
{
    lru_t *c = new_cache(1000, 4); /* 250 bytes per shard */
    tval *big = tval_new("big", 251), *fits = tval_new("fits", 250);
    ck_assert_int_eq(insert(c, big, UINT64_MAX), 0);
    ck_assert_int_eq(big->freed, 1);
    ck_assert_int_eq(insert(c, fits, UINT64_MAX), 1);
    ck_assert_int_eq(fits->freed, 0);
    ck_assert(!cached(c, "big"));
    ck_assert(cached(c, "fits"));
    lru_destroy(c);
    free(big);
    free(fits);
}
END_TEST

START_TEST(lru_capacity_zero_admits_nothing)
{
    lru_t *c = new_cache(0, 0);
    tval *v = tval_new("k", 0);
    ck_assert_int_eq(insert(c, v, UINT64_MAX), 0);
    ck_assert_int_eq(v->freed, 1);
    ck_assert(!cached(c, "k"));
    lru_stats st;
    lru_get_stats(c, &st);
    ck_assert_uint_eq(st.entries, 0);
    ck_assert_uint_eq(st.misses, 1);
    lru_destroy(c);
    free(v);
}
END_TEST

START_TEST(lru_handle_outlives_destroyed_cache)
{
    lru_t *c = new_cache(1000, 1);
    tval *v = tval_new("k", 1);
    insert(c, v, UINT64_MAX);
    lru_handle *h = lru_get(c, "k", 1);
    lru_destroy(c);
    ck_assert_int_eq(v->freed, 0);
    ck_assert_str_eq(((tval *)lru_value(h))->key, "k");
    lru_release(NULL, h);
    ck_assert_int_eq(v->freed, 1);
    free(v);
}
END_TEST

START_TEST(lru_create_rejects_absurd_shard_count)
{
    lru_t *c = NULL;
    ck_assert_int_eq(lru_create(100, 1u << 20, &c), FLOE_EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "shards"));
    ck_assert_int_eq(lru_create(100, 5, &c), 0); /* rounded up to 8 */
    lru_destroy(c);
}
END_TEST

/* Threads hammer a small cache. Each key has a "slow tier" version; writers bump it and invalidate,
 * readers read through the cache and fill it with the generation guard. At the end every cached value
 * must be the current version, no value may be freed twice or leak, and the budget must hold. */
#define MT_KEYS 64
#define MT_THREADS 4
#define MT_OPS (tu_long_tests() ? 400000 : 40000)

typedef struct mt_state {
    lru_t *c;
    atomic_uint_fast64_t versions[MT_KEYS];
    /* the newest version whose invalidation has completed: no hit after that may be older */
    atomic_uint_fast64_t invalidated[MT_KEYS];
    atomic_int bad;
    atomic_long gets;
} mt_state;

static void *mt_worker(void *arg)
{
    mt_state *st = arg;
    uint64_t rng = (uint64_t)(uintptr_t)&rng;
    for (int i = 0; i < MT_OPS; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        unsigned k = (unsigned)((rng >> 33) % MT_KEYS);
        char key[16];
        snprintf(key, sizeof key, "key-%u", k);
        size_t key_len = strlen(key);
        if ((rng >> 20) % 10 == 0) { /* write: new version in the slow tier, then invalidate */
            uint64_t version = atomic_fetch_add(&st->versions[k], 1) + 1;
            lru_invalidate(st->c, key, key_len);
            uint64_t old = atomic_load(&st->invalidated[k]);
            while (old < version && !atomic_compare_exchange_weak(&st->invalidated[k], &old, version))
                ;
            continue;
        }
        uint64_t floor_version = atomic_load(&st->invalidated[k]);
        lru_handle *h = lru_get(st->c, key, key_len);
        atomic_fetch_add(&st->gets, 1);
        if (h) {
            tval *v = lru_value(h);
            if (v->magic != VALUE_MAGIC || strcmp(v->key, key) != 0 || v->version < floor_version)
                atomic_fetch_add(&st->bad, 1);
            lru_release(st->c, h);
            continue;
        }
        uint64_t gen = lru_generation(st->c, key, key_len);
        tval *v = tval_new(key, 50 + (rng >> 40) % 200);
        v->version = atomic_load(&st->versions[k]);
        if ((rng >> 50) % 4 == 0)
            sched_yield(); /* a slow tier: give writers a chance to get in between */
        lru_insert(st->c, key, key_len, v, v->charge, tval_free, gen);
    }
    return NULL;
}

START_TEST(lru_concurrent_use_keeps_budget_and_never_caches_stale_values)
{
    atomic_store(&g_allocs, 0);
    atomic_store(&g_frees, 0);
    mt_state st = {0};
    const uint64_t capacity = 4000;
    st.c = new_cache(capacity, 4);
    pthread_t th[MT_THREADS];
    for (int i = 0; i < MT_THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, mt_worker, &st), 0);
    for (int i = 0; i < MT_THREADS; i++)
        pthread_join(th[i], NULL);
    int bad = atomic_load(&st.bad);
    ck_assert_msg(bad == 0,
                  "%d cache hits returned a damaged value or one older than a finished invalidation", bad);

    lru_stats s;
    lru_get_stats(st.c, &s);
    ck_assert_uint_le(s.bytes, capacity);
    ck_assert_uint_eq(s.hits + s.misses, (uint64_t)atomic_load(&st.gets));
    ck_assert_uint_gt(s.hits, 0);
    ck_assert_uint_gt(s.evictions, 0);
    ck_assert_uint_eq(atomic_load(&g_allocs) - atomic_load(&g_frees), s.entries);
    for (unsigned k = 0; k < MT_KEYS; k++) {
        char key[16];
        snprintf(key, sizeof key, "key-%u", k);
        lru_handle *h = lru_get(st.c, key, strlen(key));
        if (!h)
            continue;
        tval *v = lru_value(h);
        ck_assert_msg(v->version == atomic_load(&st.versions[k]),
                      "%s cached at version %llu but the slow tier has %llu", key,
                      (unsigned long long)v->version, (unsigned long long)atomic_load(&st.versions[k]));
        lru_release(st.c, h);
    }
    lru_destroy(st.c);
    ck_assert_int_eq(atomic_load(&g_allocs), atomic_load(&g_frees));
}
END_TEST

static Suite *lru_suite(void)
{
    Suite *s = suite_create("lru");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, lru_get_hits_inserted_keys_and_misses_others);
    tcase_add_test(tc, lru_binary_and_empty_keys_are_distinct);
    tcase_add_test(tc, lru_evicts_least_recently_used_first);
    tcase_add_test(tc, lru_byte_budget_is_never_exceeded);
    tcase_add_test(tc, lru_pinned_entry_survives_eviction_until_released);
    tcase_add_test(tc, lru_replacing_a_key_keeps_old_value_alive_for_its_holders);
    tcase_add_test(tc, lru_invalidate_makes_a_stale_insert_be_refused);
    tcase_add_test(tc, lru_insert_larger_than_shard_budget_is_refused);
    tcase_add_test(tc, lru_capacity_zero_admits_nothing);
    tcase_add_test(tc, lru_handle_outlives_destroyed_cache);
    tcase_add_test(tc, lru_create_rejects_absurd_shard_count);
    tcase_add_test(tc, lru_concurrent_use_keeps_budget_and_never_caches_stale_values);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(lru_suite());
}
