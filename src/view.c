/* Views, segment references and the cold metadata cache.
 *
 * Invariants:
 *  1. A view is immutable once built; the store's current view is replaced (never changed) under
 *     state_mu, and a reader that acquired a view keeps every memtable and segref in it alive until
 *     it drops the view.
 *  2. A local segref's reader is opened when the segref is made and closed with its last
 *     reference; its file is deleted then too if the segref was marked obsolete (evicted), so a
 *     reader never loses a file it is reading.
 *  3. A remote segref holds no reader. Its reader lives in the metadata cache (an lru keyed by the
 *     object key, charged its index and bloom bytes, at least cache.meta_bytes / META_MAX_OPEN) and
 *     a read pins it with a handle for the duration of one use; eviction only drops the cache's
 *     reference, so a pinned reader stays valid. The entry inserted last always stays cached, so a
 *     budget smaller than one segment's metadata still keeps the segment being read.
 *  4. A view's segments are newest first: level 0 (whose ranges may overlap) by id descending, then
 *     each deeper level as one run in key order. Compaction keeps every version in a level newer
 *     than any version of the same key in a deeper level, so the first segment that has a key holds
 *     its newest version, and a read consults at most n_l0 + n_runs segments.
 */
#include "view.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockcache.h"
#include "entry.h"
#include "error.h"
#include "file.h"

/* Remote segments whose metadata may be open at once, whatever their size. */
#define META_MAX_OPEN 100000

/* What the metadata cache holds for one cold object: its open reader and the block-cache source
 * behind it. */
typedef struct meta_entry {
    segment_t *seg;
    void *src_ctx;
} meta_entry;

static void meta_entry_free(void *p)
{
    meta_entry *m = p;
    segment_close(m->seg);
    blockcache_source_free(m->src_ctx);
    free(m);
}

int meta_cache_create(floe_t *db)
{
    /* One shard: the budget is global, as the configured number says. */
    return lru_create(db->opts.cache.meta_bytes, 1, &db->meta_cache);
}

void meta_cache_destroy(floe_t *db)
{
    lru_destroy(db->meta_cache);
    db->meta_cache = NULL;
}

static segref *segref_alloc(uint64_t id)
{
    segref *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 1);
    atomic_init(&r->last_read_ms, 0);
    atomic_init(&r->obsolete, 0);
    r->id = id;
    return r;
}

void segref_ref(segref *r)
{
    atomic_fetch_add(&r->refs, 1);
}

void segref_unref(segref *r)
{
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    segment_close(r->seg);
    if (r->path && atomic_load(&r->obsolete))
        file_unlink(r->path);
    free(r->path);
    free(r->object_key);
    free(r->min_key);
    free(r->max_key);
    free(r);
}

int segref_open_local(floe_t *db, uint64_t id, segref **out)
{
    segref *r = segref_alloc(id);
    if (!r)
        return FLOE_ENOMEM;
    r->path = store_segment_path(db, id, "");
    if (!r->path) {
        segref_unref(r);
        return FLOE_ENOMEM;
    }
    int rc = segment_open_file_cached(r->path, db->decoded_blocks, &r->seg);
    if (rc < 0) {
        segref_unref(r);
        return rc;
    }
    *out = r;
    return 0;
}

int segref_open_remote(floe_t *db, const manifest_segment *ms, segref **out)
{
    if (!db->cold)
        return err_set(FLOE_EINVAL,
                       "segment %" PRIu64 " is only in the cold tier, and no cold tier is configured",
                       ms->id);
    if (!ms->object_key || !ms->object_key[0])
        return err_set(FLOE_ECORRUPT, "manifest: remote segment %" PRIu64 " has no object key", ms->id);
    segref *r = segref_alloc(ms->id);
    if (!r)
        return FLOE_ENOMEM;
    r->level = ms->level;
    r->object_key = strdup(ms->object_key);
    r->object_bytes = ms->size;
    r->min_key = malloc(ms->min_key_len + 1);
    r->max_key = malloc(ms->max_key_len + 1);
    if (!r->object_key || !r->min_key || !r->max_key) {
        segref_unref(r);
        return FLOE_ENOMEM;
    }
    memcpy(r->min_key, ms->min_key, ms->min_key_len);
    memcpy(r->max_key, ms->max_key, ms->max_key_len);
    r->min_key_len = ms->min_key_len;
    r->max_key_len = ms->max_key_len;
    *out = r;
    return 0;
}

int segref_may_contain(const segref *r, const void *key, size_t key_len)
{
    if (r->path)
        return segment_may_contain(r->seg, key, key_len);
    return key_cmp(key, key_len, r->min_key, r->min_key_len) >= 0 &&
           key_cmp(key, key_len, r->max_key, r->max_key_len) <= 0;
}

void segref_range(const segref *r, const uint8_t **min, size_t *min_len, const uint8_t **max, size_t *max_len)
{
    if (r->path) {
        const segment_info *info = segment_get_info(r->seg);
        *min = info->min_key;
        *min_len = info->min_key_len;
        *max = info->max_key;
        *max_len = info->max_key_len;
        return;
    }
    *min = r->min_key;
    *min_len = r->min_key_len;
    *max = r->max_key;
    *max_len = r->max_key_len;
}

segref *view_run_find(const view *v, const view_run *run, const void *key, size_t key_len)
{
    size_t lo = run->start, hi = run->end;
    const uint8_t *min, *max;
    size_t min_len, max_len;
    while (lo < hi) { /* the first segment whose largest key is >= key */
        size_t mid = lo + (hi - lo) / 2;
        segref_range(v->segs[mid], &min, &min_len, &max, &max_len);
        if (key_cmp(max, max_len, key, key_len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == run->end)
        return NULL;
    segref_range(v->segs[lo], &min, &min_len, &max, &max_len);
    return key_cmp(key, key_len, min, min_len) >= 0 ? v->segs[lo] : NULL;
}

int segref_overlaps(const segref *r, const void *from, size_t from_len, const void *prefix, size_t prefix_len)
{
    const uint8_t *min, *max;
    size_t min_len, max_len;
    segref_range(r, &min, &min_len, &max, &max_len);
    if (from_len && key_cmp(max, max_len, from, from_len) < 0)
        return 0;
    if (!prefix_len)
        return 1;
    return key_range_meets_prefix(min, min_len, max, max_len, prefix, prefix_len);
}

/* Opens the reader of remote segment r through the block cache and puts it in the metadata cache;
 * *pin gets the pinned handle. */
static int open_remote_reader(floe_t *db, segref *r, lru_handle **pin)
{
    meta_entry *m = calloc(1, sizeof *m);
    if (!m)
        return err_set(FLOE_ENOMEM, "cold segment %" PRIu64 ": out of memory", r->id);
    segment_source src;
    int rc = blockcache_source(db->bcache, db->cold, r->object_key, r->object_bytes, &src, &m->src_ctx);
    if (rc < 0) {
        free(m);
        return rc;
    }
    src.block_cache = db->decoded_blocks;
    rc = segment_open(&src, &m->seg);
    if (rc < 0) {
        blockcache_source_free(m->src_ctx);
        free(m);
        return err_wrap(rc, "cold segment %" PRIu64, r->id);
    }
    uint64_t charge = segment_memory_bytes(m->seg);
    uint64_t min_charge = db->opts.cache.meta_bytes / META_MAX_OPEN;
    if (charge < min_charge)
        charge = min_charge;
    *pin = lru_insert_pinned(db->meta_cache, r->object_key, strlen(r->object_key), m, charge, meta_entry_free);
    if (!*pin) {
        meta_entry_free(m);
        return err_set(FLOE_ENOMEM, "cold segment %" PRIu64 ": out of memory", r->id);
    }
    return 0;
}

int segref_reader(floe_t *db, segref *r, segref_use *use)
{
    if (r->path) {
        *use = (segref_use){.seg = r->seg, .pin = NULL};
        return 0;
    }
    lru_handle *pin = lru_get(db->meta_cache, r->object_key, strlen(r->object_key));
    if (!pin) {
        int rc = open_remote_reader(db, r, &pin);
        if (rc < 0)
            return rc;
    }
    *use = (segref_use){.seg = ((meta_entry *)lru_value(pin))->seg, .pin = pin};
    return 0;
}

void segref_release(floe_t *db, segref_use *use)
{
    if (use->pin)
        lru_release(db->meta_cache, use->pin);
    use->pin = NULL;
    use->seg = NULL;
}

void view_unref(view *v)
{
    if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
        return;
    memtable_unref(v->mem);
    pdel_set_unref(v->pdels);
    for (size_t i = 0; i < v->n_imm; i++)
        memtable_unref(v->imm[i]);
    for (size_t i = 0; i < v->n_segs; i++)
        segref_unref(v->segs[i]);
    free(v->imm);
    free(v->segs);
    free(v);
}

/* Newest first (note 4): level 0 by id descending, then by level and smallest key. */
static int newest_first(const void *a, const void *b)
{
    const segref *x = *(segref *const *)a, *y = *(segref *const *)b;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    if (x->level == 0)
        return x->id > y->id ? -1 : x->id < y->id;
    const uint8_t *xmin, *xmax, *ymin, *ymax;
    size_t xmin_len, xmax_len, ymin_len, ymax_len;
    segref_range(x, &xmin, &xmin_len, &xmax, &xmax_len);
    segref_range(y, &ymin, &ymin_len, &ymax, &ymax_len);
    return key_cmp(xmin, xmin_len, ymin, ymin_len);
}

view *view_build(floe_t *db, memtable_t *mem, segref **segs, size_t n_segs)
{
    view *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    atomic_init(&v->refs, 1);
    v->imm = calloc(db->n_queue ? db->n_queue : 1, sizeof *v->imm);
    v->segs = calloc(n_segs ? n_segs : 1, sizeof *v->segs);
    if (!v->imm || !v->segs) {
        free(v->imm);
        free(v->segs);
        free(v);
        return NULL;
    }
    v->mem = mem;
    memtable_ref(mem);
    v->pdels = db->pdels;
    pdel_set_ref(v->pdels);
    for (size_t i = 0; i < db->n_queue; i++) {
        v->imm[i] = db->queue[db->n_queue - 1 - i].mem;
        memtable_ref(v->imm[i]);
    }
    v->n_imm = db->n_queue;
    for (size_t i = 0; i < n_segs; i++) {
        v->segs[i] = segs[i];
        segref_ref(segs[i]);
    }
    v->n_segs = n_segs;
    qsort(v->segs, n_segs, sizeof *v->segs, newest_first);
    while (v->n_l0 < n_segs && v->segs[v->n_l0]->level == 0)
        v->n_l0++;
    for (size_t i = v->n_l0; i < n_segs; i++) {
        if (v->n_runs && v->segs[v->runs[v->n_runs - 1].start]->level == v->segs[i]->level) {
            v->runs[v->n_runs - 1].end = i + 1;
        } else if (v->n_runs < MANIFEST_MAX_LEVEL) {
            v->runs[v->n_runs++] = (view_run){.start = i, .end = i + 1};
        }
    }
    return v;
}

void view_install(floe_t *db, view *v)
{
    view *old = db->cur;
    db->cur = v;
    view_unref(old);
}

view *view_acquire(floe_t *db)
{
    pthread_mutex_lock(&db->state_mu);
    view *v = db->cur;
    atomic_fetch_add(&v->refs, 1);
    pthread_mutex_unlock(&db->state_mu);
    return v;
}
