/* A sharded LRU cache with a byte budget: the object cache (user keys -> values) and the in-memory
 * block cache (segment blocks) are both instances. Values are reference counted so a reader can keep
 * using one after it is evicted.
 *
 * Threads: every function is safe from any thread; each shard has its own mutex. */
#ifndef FLOE_LRU_H
#define FLOE_LRU_H

#include <stddef.h>
#include <stdint.h>

typedef struct lru lru_t;
typedef struct lru_handle lru_handle;

/* capacity_bytes 0 makes a cache that admits nothing but lru_insert_pinned's newest entry. shards
 * is rounded up to a power of two (0 means 16). *out is freed with lru_destroy. */
int lru_create(uint64_t capacity_bytes, unsigned shards, lru_t **out);
/* Frees every entry (calling its free_fn) once its last handle is released. */
void lru_destroy(lru_t *c);

/* Looks key up. On a hit returns a pinned handle (release with lru_release), NULL on a miss. */
lru_handle *lru_get(lru_t *c, const void *key, size_t key_len);
void *lru_value(const lru_handle *h);
void lru_release(lru_t *c, lru_handle *h);

/* The current generation of key's shard. Capture it before reading the value from a slower tier and
 * pass it to lru_insert, which then refuses the insert if lru_invalidate touched the shard since:
 * so a value read before a newer write can never be cached after it. */
uint64_t lru_generation(lru_t *c, const void *key, size_t key_len);

/* Inserts key -> value charging `charge` bytes, replacing any entry for key, evicting least recently
 * used entries to stay in budget. If generation != UINT64_MAX and the shard's generation differs,
 * or charge exceeds the shard's budget, the value is not cached: free_fn(value) is called at once and
 * 0 is returned. Takes ownership of value either way. Returns 1 if cached. */
int lru_insert(lru_t *c, const void *key, size_t key_len, void *value, uint64_t charge,
               void (*free_fn)(void *value), uint64_t generation);

/* Inserts key -> value like lru_insert, except that it always goes in: an entry larger than the
 * budget evicts every other entry of its shard and stays as the only one until the next insert, so
 * the entry most recently inserted is always cached. Returns a pinned handle (release with
 * lru_release) and takes ownership of value; returns NULL only if out of memory, and then the
 * caller keeps value. */
lru_handle *lru_insert_pinned(lru_t *c, const void *key, size_t key_len, void *value, uint64_t charge,
                              void (*free_fn)(void *value));

/* Removes key (if present) and bumps its shard's generation. */
void lru_invalidate(lru_t *c, const void *key, size_t key_len);

typedef struct lru_stats {
    uint64_t bytes, entries, hits, misses, evictions;
} lru_stats;
void lru_get_stats(lru_t *c, lru_stats *out);

#endif
