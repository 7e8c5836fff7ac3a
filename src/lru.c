/* A sharded LRU cache with a byte budget and reference-counted entries, used for the object cache
 * and the in-memory block cache.
 *
 * Notes on the design:
 *  1. A key hashes to one shard (top bits of the hash) and to a bucket of that shard's chained hash
 *     table (low bits). Each shard has its own mutex (`mu`), guarding its table, its LRU list, its
 *     byte count, its generation and its statistics. No function holds two shard mutexes at once.
 *  2. An entry is either in its shard's table and LRU list (most recent at the head) at once, or in
 *     neither (detached). The shard's `bytes` is the sum of the charges of the entries in it and
 *     never exceeds its `capacity`, with one exception: an entry inserted by lru_insert_pinned that
 *     alone is larger than the budget stays, as the shard's only entry, until the next insert.
 *  3. `refs` counts the table's reference (while in it) plus one per handle given out. It is
 *     atomic so lru_release needs no lock: whoever drops it to zero frees the entry, and that can only
 *     happen after the entry left the table. Eviction therefore ignores pins: an evicted entry that a
 *     handle still holds lives on outside the cache and is freed on the last release.
 *  4. free_fn runs outside the shard mutex, so a slow or re-entrant destructor blocks nobody.
 *  5. `generation` only grows; lru_invalidate bumps it under the mutex, and lru_insert compares under
 *     the same mutex, so an insert based on a read that started before an invalidation is refused.
 *  6. Each shard's budget is capacity / shards, the remainder spread one byte each over the first
 *     shards, so the budgets add up to exactly the capacity.
 */
#include "lru.h"
#include "lru_list.h"

#include "error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define LRU_DEFAULT_SHARDS 16
#define LRU_MAX_SHARDS 1024
#define LRU_INITIAL_BUCKETS 16
/* A table never grows past this many buckets; chains just get longer. */
#define LRU_MAX_BUCKETS (1u << 26)

struct lru_handle {
    struct lru_handle *hash_next;
    lru_link link; /* the shard's LRU order (lru_list.h) */
    void *value;
    void (*free_fn)(void *value);
    uint64_t charge;
    uint64_t hash;
    atomic_uint_fast32_t refs;
    size_t key_len;
    unsigned char key[];
};

typedef struct lru_shard {
    pthread_mutex_t mu;
    lru_handle **buckets;
    size_t nbuckets; /* a power of two */
    size_t entries;
    lru_link lru; /* most recently used first */
    uint64_t capacity;
    uint64_t bytes;
    uint64_t generation;
    uint64_t hits, misses, evictions;
} lru_shard;

struct lru {
    unsigned shard_bits;
    unsigned nshards;
    uint64_t capacity;
    lru_shard *shards;
};

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* A 64-bit multiply-rotate hash over 8-byte words with a murmur3-style finaliser: fast, and every
 * input bit reaches both the shard bits (top) and the bucket bits (bottom). */
static uint64_t hash_key(const void *key, size_t len)
{
    const uint64_t k1 = 0x9E3779B185EBCA87ull, k2 = 0xC2B2AE3D27D4EB4Full;
    const unsigned char *p = key;
    uint64_t h = 0x27D4EB2F165667C5ull ^ (len * k1);
    while (len >= 8) {
        h ^= rotl64(load64(p) * k2, 31) * k1;
        h = rotl64(h, 27) * k1 + 0x52DCE729;
        p += 8;
        len -= 8;
    }
    if (len) {
        uint64_t w = 0;
        memcpy(&w, p, len);
        h ^= rotl64(w * k2, 31) * k1;
        h = rotl64(h, 27) * k1 + 0x52DCE729;
    }
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 33;
    return h;
}

static inline lru_shard *shard_for(lru_t *c, uint64_t hash)
{
    return &c->shards[c->shard_bits ? hash >> (64 - c->shard_bits) : 0];
}

static void entry_free(lru_handle *e)
{
    if (e->free_fn)
        e->free_fn(e->value);
    free(e);
}

/* Drops one reference; frees the entry if it was the last (note 3). */
static void entry_unref(lru_handle *e)
{
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        entry_free(e);
}

/* Returns the slot that points at key's entry, or at the NULL ending its chain. Needs s->mu. */
static lru_handle **table_find(lru_shard *s, const void *key, size_t key_len, uint64_t hash)
{
    lru_handle **slot = &s->buckets[hash & (s->nbuckets - 1)];
    while (*slot) {
        lru_handle *e = *slot;
        if (e->hash == hash && e->key_len == key_len && (key_len == 0 || memcmp(e->key, key, key_len) == 0))
            break;
        slot = &e->hash_next;
    }
    return slot;
}

/* Doubles the bucket array; on allocation failure the table keeps working with longer chains. */
static void table_grow(lru_shard *s)
{
    size_t n = s->nbuckets * 2;
    if (n > LRU_MAX_BUCKETS)
        return;
    lru_handle **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        lru_handle *e = s->buckets[i];
        while (e) {
            lru_handle *next = e->hash_next;
            size_t j = e->hash & (n - 1);
            e->hash_next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

/* Takes the entry at slot out of the table and list and returns it; the table's reference now
 * belongs to the caller, who drops it after unlocking (note 4). Needs s->mu. */
static lru_handle *detach(lru_shard *s, lru_handle **slot)
{
    lru_handle *e = *slot;
    *slot = e->hash_next;
    e->hash_next = NULL;
    lru_list_remove(&e->link);
    s->entries--;
    s->bytes -= e->charge;
    return e;
}

int lru_create(uint64_t capacity_bytes, unsigned shards, lru_t **out)
{
    lru_t *c = NULL;
    unsigned n = 1, bits = 0;
    if (shards == 0)
        shards = LRU_DEFAULT_SHARDS;
    if (shards > LRU_MAX_SHARDS)
        return err_set(FLOE_EINVAL, "lru: %u shards requested, at most %d allowed", shards, LRU_MAX_SHARDS);
    while (n < shards) {
        n <<= 1;
        bits++;
    }
    c = calloc(1, sizeof *c);
    if (!c)
        goto nomem;
    c->shards = calloc(n, sizeof *c->shards);
    if (!c->shards)
        goto nomem;
    c->nshards = n;
    c->shard_bits = bits;
    c->capacity = capacity_bytes;
    for (unsigned i = 0; i < n; i++) {
        lru_shard *s = &c->shards[i];
        s->buckets = calloc(LRU_INITIAL_BUCKETS, sizeof *s->buckets);
        if (!s->buckets)
            goto nomem;
        s->nbuckets = LRU_INITIAL_BUCKETS;
        lru_list_init(&s->lru);
        s->capacity = capacity_bytes / n + (i < capacity_bytes % n ? 1 : 0);
        pthread_mutex_init(&s->mu, NULL);
    }
    *out = c;
    return 0;
nomem:
    if (c && c->shards) {
        for (unsigned i = 0; i < n; i++) {
            if (c->shards[i].buckets)
                pthread_mutex_destroy(&c->shards[i].mu);
            free(c->shards[i].buckets);
        }
    }
    if (c)
        free(c->shards);
    free(c);
    return err_set(FLOE_ENOMEM, "lru: out of memory creating a cache of %u shards", n);
}

/* Entries still pinned by handles are detached here and freed by their last lru_release, which does
 * not touch c; so handles may outlive the cache. */
void lru_destroy(lru_t *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->nshards; i++) {
        lru_shard *s = &c->shards[i];
        lru_link *l;
        while ((l = lru_list_newest(&s->lru)) != NULL) {
            lru_handle *e = LRU_LIST_ENTRY(l, lru_handle, link);
            detach(s, table_find(s, e->key, e->key_len, e->hash));
            entry_unref(e);
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    free(c->shards);
    free(c);
}

lru_handle *lru_get(lru_t *c, const void *key, size_t key_len)
{
    uint64_t hash = hash_key(key, key_len);
    lru_shard *s = shard_for(c, hash);
    pthread_mutex_lock(&s->mu);
    lru_handle *e = *table_find(s, key, key_len, hash);
    if (e) {
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
        lru_list_touch(&s->lru, &e->link);
        s->hits++;
    } else {
        s->misses++;
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

/* The value stays valid until h is released, even if the entry is evicted meanwhile. */
void *lru_value(const lru_handle *h)
{
    return h->value;
}

void lru_release(lru_t *c, lru_handle *h)
{
    (void)c;
    if (h)
        entry_unref(h);
}

uint64_t lru_generation(lru_t *c, const void *key, size_t key_len)
{
    lru_shard *s = shard_for(c, hash_key(key, key_len));
    pthread_mutex_lock(&s->mu);
    uint64_t g = s->generation;
    pthread_mutex_unlock(&s->mu);
    return g;
}

/* 1 while the shard cannot take charge more bytes without evicting. Needs s->mu. */
static int over_budget(const lru_shard *s, uint64_t charge)
{
    return charge > s->capacity || s->bytes > s->capacity - charge;
}

/* Inserts key -> value (see lru_insert). With pin, the entry goes in whatever its charge (evicting
 * every other entry if it must) and *pinned gets a handle to it; without, an entry larger than the
 * shard's budget is refused. Returns 1 if cached; on 0 the caller still owns value. */
static int insert_entry(lru_t *c, const void *key, size_t key_len, void *value, uint64_t charge,
                        void (*free_fn)(void *value), uint64_t generation, lru_handle **pinned)
{
    uint64_t hash = hash_key(key, key_len);
    lru_shard *s = shard_for(c, hash);
    lru_handle *to_free = NULL; /* detached entries, chained through hash_next */
    int cached = 0;

    if (key_len > SIZE_MAX - sizeof(lru_handle) || (!pinned && (c->capacity == 0 || charge > s->capacity)))
        goto out;
    lru_handle *e = malloc(sizeof *e + key_len);
    if (!e)
        goto out;
    if (key_len)
        memcpy(e->key, key, key_len);
    e->key_len = key_len;
    e->hash = hash;
    e->value = value;
    e->free_fn = free_fn;
    e->charge = charge;
    e->hash_next = NULL;
    atomic_init(&e->refs, pinned ? 2 : 1);

    pthread_mutex_lock(&s->mu);
    if (generation != UINT64_MAX && generation != s->generation) {
        pthread_mutex_unlock(&s->mu);
        free(e);
        goto out;
    }
    lru_handle **slot = table_find(s, key, key_len, hash);
    if (*slot) {
        lru_handle *old = detach(s, slot);
        old->hash_next = to_free;
        to_free = old;
    }
    lru_link *oldest;
    while ((oldest = lru_list_oldest(&s->lru)) != NULL && over_budget(s, charge)) {
        lru_handle *victim = LRU_LIST_ENTRY(oldest, lru_handle, link);
        lru_handle *gone = detach(s, table_find(s, victim->key, victim->key_len, victim->hash));
        gone->hash_next = to_free;
        to_free = gone;
        s->evictions++;
    }
    slot = &s->buckets[hash & (s->nbuckets - 1)];
    e->hash_next = *slot;
    *slot = e;
    lru_list_push_front(&s->lru, &e->link);
    s->entries++;
    s->bytes += charge;
    if (s->entries > s->nbuckets)
        table_grow(s);
    pthread_mutex_unlock(&s->mu);
    if (pinned)
        *pinned = e;
    cached = 1;
out:
    while (to_free) {
        lru_handle *next = to_free->hash_next;
        entry_unref(to_free);
        to_free = next;
    }
    return cached;
}

/* Returns 0 without caching (and frees value) also when the entry cannot be allocated: a cache that
 * cannot cache is not an error for its callers. */
int lru_insert(lru_t *c, const void *key, size_t key_len, void *value, uint64_t charge,
               void (*free_fn)(void *value), uint64_t generation)
{
    int cached = insert_entry(c, key, key_len, value, charge, free_fn, generation, NULL);
    if (!cached && free_fn)
        free_fn(value);
    return cached;
}

lru_handle *lru_insert_pinned(lru_t *c, const void *key, size_t key_len, void *value, uint64_t charge,
                              void (*free_fn)(void *value))
{
    lru_handle *h = NULL;
    insert_entry(c, key, key_len, value, charge, free_fn, UINT64_MAX, &h);
    return h;
}

void lru_invalidate(lru_t *c, const void *key, size_t key_len)
{
    uint64_t hash = hash_key(key, key_len);
    lru_shard *s = shard_for(c, hash);
    lru_handle *gone = NULL;
    pthread_mutex_lock(&s->mu);
    lru_handle **slot = table_find(s, key, key_len, hash);
    if (*slot)
        gone = detach(s, slot);
    s->generation++;
    pthread_mutex_unlock(&s->mu);
    if (gone)
        entry_unref(gone);
}

void lru_get_stats(lru_t *c, lru_stats *out)
{
    lru_stats st = {0};
    for (unsigned i = 0; i < c->nshards; i++) {
        lru_shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        st.bytes += s->bytes;
        st.entries += s->entries;
        st.hits += s->hits;
        st.misses += s->misses;
        st.evictions += s->evictions;
        pthread_mutex_unlock(&s->mu);
    }
    *out = st;
}
