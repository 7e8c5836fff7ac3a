/* The disk block cache for cold reads: byte ranges of segment objects fetched from the cold tier
 * (data blocks, and the footer/index/bloom tail), kept as files under data_dir/cache, bounded by
 * cache.block_bytes in bytes and by a count, least recently used first out, trimmed by a
 * background thread before it is full. Its entries are a cache: every byte read through it is
 * still checked by the segment reader's CRCs, and a damaged or missing entry is just a miss.
 *
 * Threads: every function is safe from any number of threads at once. */
#ifndef FLOE_BLOCKCACHE_H
#define FLOE_BLOCKCACHE_H

#include <stdint.h>

#include "cold.h"
#include "segment.h"

typedef struct blockcache blockcache;

/* Opens (creating) the cache directory dir with a budget of capacity_bytes (0: cache nothing on
 * disk) and indexes what is already there. Starts the trim thread. Freed with blockcache_close. */
int blockcache_open(const char *dir, uint64_t capacity_bytes, blockcache **out);
void blockcache_close(blockcache *bc);

/* Reads len bytes at offset of the cold object key: from the cache if present, else one ranged GET
 * (cold_get_range) whose bytes are then cached. Errors: the cold store's. */
int blockcache_read(blockcache *bc, cold_t *c, const char *key, uint64_t offset, void *buf, size_t len);

/* A miss returns as soon as the bytes are fetched; the cache file is written by a background
 * thread. This waits until every range fetched so far is written (or skipped): for tests and tools
 * that look at the directory. */
void blockcache_settle(blockcache *bc);

/* Drops every cached range of key (e.g. after the object is deleted). */
void blockcache_forget(blockcache *bc, const char *key);

typedef struct blockcache_stats {
    uint64_t bytes, entries, hits, misses, evictions;
} blockcache_stats;
void blockcache_get_stats(blockcache *bc, blockcache_stats *out);

/* A segment reader source over a cold object: fills *src so that segment_open reads key (of
 * object_bytes bytes) through bc and c. ctx_out is an allocation the source points at; free it
 * with blockcache_source_free after segment_close. */
int blockcache_source(blockcache *bc, cold_t *c, const char *key, uint64_t object_bytes, segment_source *src,
                      void **ctx_out);
void blockcache_source_free(void *ctx);

#endif
