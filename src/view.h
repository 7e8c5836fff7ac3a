/* What a reader sees: views of the pending memtable, the sealed memtables and the segments, and the
 * segment references they hold (a local file, or an object in the cold tier whose footer, index and
 * bloom the cold metadata cache keeps open).
 *
 * Threads: a view is immutable once installed and reference counted; any thread may read one it
 * holds. view_build and view_install need state_mu; the rest take no store lock. */
#ifndef FLOE_VIEW_H
#define FLOE_VIEW_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lru.h"
#include "manifest.h"
#include "prefixdel.h"
#include "segment.h"
#include "store.h"

/* A segment the store reads from, shared by views. */
typedef struct segref {
    atomic_int refs;
    uint64_t id;
    uint32_t level;   /* the manifest's level of the segment (set by whoever makes the segref) */
    segment_t *seg;   /* local: the open file; NULL for a remote segment (see segref_reader) */
    char *path;       /* local file; NULL for a remote segment */
    char *object_key; /* remote: the cold object, also its key in the metadata cache */
    uint64_t object_bytes;
    uint8_t *min_key, *max_key; /* remote: key range from the manifest, for pruning before open */
    uint32_t min_key_len, max_key_len;
    atomic_int_fast64_t last_read_ms; /* for evicting local files least recently read first */
    atomic_int obsolete;              /* 1: delete the local file when the last reference goes */
} segref;

/* One level above 0 in a view: segs[start, end) in key order, their ranges disjoint. */
typedef struct view_run {
    size_t start, end;
} view_run;

struct view {
    atomic_int refs;
    memtable_t *mem;
    size_t n_imm;
    memtable_t **imm; /* newest first */
    size_t n_segs;
    segref **segs; /* newest first: level 0 by id descending, then each deeper level in key order */
    size_t n_l0;   /* segs[0, n_l0) are level 0 */
    size_t n_runs;
    view_run runs[MANIFEST_MAX_LEVEL]; /* the levels above 0 that hold segments, shallowest first */
    pdel_set *pdels; /* the prefix deletes readers apply (db->pdels when built); may be NULL */
};

/* A segref for the local file of segment id, opened at once. Errors: the segment reader's. */
int segref_open_local(floe_t *db, uint64_t id, segref **out);
/* A segref for a segment that lives only in the cold tier; it is opened on first use. Errors:
 * FLOE_EINVAL without a cold tier, FLOE_ECORRUPT if ms has no object key, FLOE_ENOMEM. */
int segref_open_remote(floe_t *db, const manifest_segment *ms, segref **out);
void segref_ref(segref *r);
/* Drops a reference; the last closes the reader (and deletes the file if obsolete). NULL is a no-op. */
void segref_unref(segref *r);

/* 1 if key may be in r: for a local file its key range and bloom; for a remote segment only the key
 * range from the manifest (its bloom is checked once the reader is held). */
int segref_may_contain(const segref *r, const void *key, size_t key_len);

/* r's smallest and largest key (its file's metadata, or the manifest's for a remote segment). */
void segref_range(const segref *r, const uint8_t **min, size_t *min_len, const uint8_t **max, size_t *max_len);

/* In run of v, the one segment whose key range may hold key; NULL if none. */
segref *view_run_find(const view *v, const view_run *run, const void *key, size_t key_len);

/* 0 if r's key range (its file's metadata, or the manifest's for a remote segment) holds no key
 * that is >= from and starts with prefix (either may be empty); 1 if it may. Opens nothing. */
int segref_overlaps(const segref *r, const void *from, size_t from_len, const void *prefix, size_t prefix_len);

/* A use of a segment's reader: segref_reader fills it, segref_release ends it. */
typedef struct segref_use {
    segment_t *seg;
    lru_handle *pin; /* remote: the metadata-cache entry that keeps seg open */
} segref_use;

/* The reader of r in use->seg, valid until segref_release(db, use). A remote segment is opened on
 * first use (footer, index and bloom through the block cache) and kept in the metadata cache.
 * Errors: the cold tier's or the segment reader's, naming the segment. */
int segref_reader(floe_t *db, segref *r, segref_use *use);
/* Ends a use begun by a successful segref_reader. Safe on a zeroed use. */
void segref_release(floe_t *db, segref_use *use);

/* The cold metadata cache (one lru of cache.meta_bytes, whose newest entry always stays). */
int meta_cache_create(floe_t *db);
void meta_cache_destroy(floe_t *db);

/* Builds a view of mem, the seal queue (newest first) and segs[0..n_segs) (in any order: the view
 * sorts them, newest first), taking a reference on each. NULL if out of memory. Needs state_mu. */
view *view_build(floe_t *db, memtable_t *mem, segref **segs, size_t n_segs);
/* Replaces the current view with v, taking over v's reference. Needs state_mu. */
void view_install(floe_t *db, view *v);
/* The current view, with a reference for the caller (view_unref). Takes state_mu. */
view *view_acquire(floe_t *db);
void view_unref(view *v);

#endif
