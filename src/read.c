/* floe_get, floe_head and floe_read_range: a point read through the object cache, the pending and
 * sealed memtables, then the segments newest first (local files, then the cold tier through the
 * metadata and block caches). The three differ only in what they copy of the value found: all of
 * it, none (its length), or a range (read_want).
 *
 * Invariants:
 *  1. A read sees only versions with seq <= visible_seq, read once at its start, so it never sees a
 *     write that a crash could lose.
 *  2. The object cache never holds a value older than the newest visible version of its key: writes
 *     invalidate after visible_seq passes them, and an insert is refused if an invalidation touched
 *     the key's shard since the read began (lru_generation).
 *  3. The first source (newest first) that has the key decides: a tombstone there is "not found",
 *     and so is a version that retention has expired (an older version is never returned instead:
 *     that would bring back data the newer write replaced).
 *     Level 0 segments are tried newest first, then the one segment of each deeper level whose key
 *     range holds the key (view.c note 4).
 *  5. A version that a prefix delete visible to the read hides is "not found" too, wherever it was
 *     found (object cache included); never an older one instead.
 *  4. The object cache keeps each value's write time and a hit is checked against retention like
 *     any other source, so a cached value stops being served the moment it expires.
 *  6. An object entry (ENTRY_OBJECT) reads as the object: offsets and lengths are of its bytes,
 *     after its record's header, whose MD5 and user metadata go to floe_value. A chunked object's
 *     bytes are not in the entry: store_read_raw stops at its header and object.c reads its chunks.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "retention.h"
#include "segment.h"
#include "store.h"
#include "view.h"

/* Values above this are not admitted to the object cache. */
#define OBJECT_CACHE_MAX_VALUE_BYTES (256u * 1024)

/* What the object cache holds for a key. */
typedef struct cached_value {
    uint64_t seq;
    uint64_t write_ms;
    size_t len;
    char *content_type;
    uint8_t *objhead; /* an object's record header, NULL for a plain value */
    uint32_t objhead_len;
    uint8_t data[];
} cached_value;

static void cached_value_free(void *p)
{
    cached_value *cv = p;
    free(cv->content_type);
    free(cv->objhead);
    free(cv);
}

/* What a read copies of the value it finds: bytes [offset, offset + length), cut at the value's
 * end; with head, none (out->data NULL, out->len the value's length). total gets the value's length. */
typedef struct read_want {
    uint64_t offset, length;
    int head;
    int no_cache;  /* neither use nor fill the object cache */
    int reserved;  /* reserved keys allowed (object.c's reads) */
    uint64_t total;
    store_found *found; /* may be NULL */
} read_want;

/* Note 6: fills out's object fields (and want->found) from an object record's header. */
static int object_fields(floe_value *out, read_want *want, const uint8_t *head, size_t head_len)
{
    objrec rec;
    int rc = objrec_parse(head, head_len, &rec);
    if (rc < 0)
        return rc;
    void *meta = NULL;
    if (rec.user_meta_len && !(meta = malloc(rec.user_meta_len)))
        return err_set(FLOE_ENOMEM, "get: out of memory");
    if (meta)
        memcpy(meta, rec.user_meta, rec.user_meta_len);
    out->md5_known = 1;
    memcpy(out->md5, rec.md5, 16);
    out->user_meta = meta;
    out->user_meta_len = rec.user_meta_len;
    out->chunked = (rec.flags & OBJREC_CHUNKED) != 0;
    if (want->found) {
        want->found->is_object = 1;
        want->found->head_len = rec.header_len;
        memcpy(want->found->head, head, rec.header_len);
    }
    return 0;
}

/* value_fill for a value found whole (object cache, memtables): data holds avail bytes of the
 * object's total (fewer only for a chunked object, which has none here). */
static int value_fill(floe_value *out, read_want *want, const void *data, size_t avail, uint64_t total,
                      const char *ct, size_t ct_len, uint64_t seq, uint64_t write_ms, floe_tier tier)
{
    uint64_t from = want->head || want->offset > avail ? avail : want->offset;
    size_t len = want->head ? 0 : (size_t)(avail - from < want->length ? avail - from : want->length);
    want->total = total;
    char *buf = want->head ? NULL : malloc(len + 1);
    char *ctc = NULL;
    if (!want->head && !buf)
        return err_set(FLOE_ENOMEM, "get: out of memory for a %zu-byte value", len);
    if (ct && ct_len) {
        ctc = malloc(ct_len + 1);
        if (!ctc) {
            free(buf);
            return err_set(FLOE_ENOMEM, "get: out of memory");
        }
        memcpy(ctc, ct, ct_len);
        ctc[ct_len] = '\0';
    }
    if (buf) {
        if (len)
            memcpy(buf, (const uint8_t *)data + from, len);
        buf[len] = '\0';
    }
    out->data = buf;
    out->len = want->head ? (size_t)total : len;
    out->content_type = ctc;
    out->seq = seq;
    out->tier = tier;
    out->write_ms = write_ms;
    return 0;
}

/* value_fill for a stored value of type type: an object record's bytes read as the object. */
static int stored_fill(floe_value *out, read_want *want, uint8_t type, const uint8_t *value, size_t value_len,
                       const char *ct, size_t ct_len, uint64_t seq, uint64_t write_ms, floe_tier tier)
{
    if (type != ENTRY_OBJECT)
        return value_fill(out, want, value, value_len, value_len, ct, ct_len, seq, write_ms, tier);
    objrec rec;
    int rc = objrec_parse_whole(value, value_len, &rec);
    if (rc < 0)
        return rc;
    size_t avail = value_len - rec.header_len;
    uint64_t total = rec.flags & OBJREC_CHUNKED ? rec.size : avail;
    if ((rc = value_fill(out, want, value + rec.header_len, avail, total, ct, ct_len, seq, write_ms, tier)) < 0)
        return rc;
    if ((rc = object_fields(out, want, value, rec.header_len)) < 0)
        floe_value_free(out);
    return rc;
}

/* 1 if the version of key written at write_ms has expired under the store's retention rules
 * (read.c note 3); reads the clock only when there are rules. */
static int expired(const floe_t *db, const void *key, size_t key_len, uint64_t write_ms)
{
    return retention_enabled(&db->opts) &&
           retention_expired(&db->opts, key, key_len, write_ms, clock_unix_ms());
}

static void count_hit(floe_t *db, floe_tier tier)
{
    atomic_uint_fast64_t *c = tier == FLOE_TIER_MEMORY  ? &db->hits_memory
                              : tier == FLOE_TIER_LOCAL ? &db->hits_local
                                                        : &db->hits_cold;
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* 1 and *out filled on an object-cache hit (rc in *rc), 0 on a miss with *gen the shard's
 * generation for a later insert (note 2). */
static int get_cached(floe_t *db, const void *key, size_t key_len, read_want *want, floe_value *out, uint64_t *gen,
                      int *rc)
{
    *gen = UINT64_MAX;
    if (!db->object_cache || want->no_cache)
        return 0;
    lru_handle *h = lru_get(db->object_cache, key, key_len);
    if (!h) {
        *gen = lru_generation(db->object_cache, key, key_len);
        return 0;
    }
    cached_value *cv = lru_value(h);
    if (expired(db, key, key_len, cv->write_ms)) {
        lru_release(db->object_cache, h);
        *rc = err_set(FLOE_ENOTFOUND, "key not found (expired under its retention rule)");
        return 1;
    }
    *rc = value_fill(out, want, cv->data, cv->len, cv->len, cv->content_type,
                     cv->content_type ? strlen(cv->content_type) : 0, cv->seq, cv->write_ms, FLOE_TIER_MEMORY);
    if (*rc == 0 && cv->objhead && (*rc = object_fields(out, want, cv->objhead, cv->objhead_len)) < 0)
        floe_value_free(out);
    lru_release(db->object_cache, h);
    if (*rc == 0)
        count_hit(db, FLOE_TIER_MEMORY);
    return 1;
}

static void cache_value(floe_t *db, const void *key, size_t key_len, const segment_hit *hit, uint64_t gen,
                        const read_want *want)
{
    if (!db->object_cache || want->no_cache || hit->value_len > OBJECT_CACHE_MAX_VALUE_BYTES ||
        hit->value_len != hit->total_len)
        return; /* too large, or only part of it was read (always, for a chunked object) */
    cached_value *cv = malloc(sizeof *cv + hit->value_len);
    if (!cv)
        return;
    cv->seq = hit->seq;
    cv->write_ms = hit->write_ms;
    cv->len = hit->value_len;
    cv->content_type = hit->content_type ? strdup(hit->content_type) : NULL;
    cv->objhead = NULL;
    cv->objhead_len = 0;
    if (hit->objhead && (cv->objhead = malloc(hit->objhead_len)) != NULL) {
        memcpy(cv->objhead, hit->objhead, hit->objhead_len);
        cv->objhead_len = hit->objhead_len;
    }
    if ((hit->content_type && !cv->content_type) || (hit->objhead && !cv->objhead)) {
        cached_value_free(cv);
        return;
    }
    memcpy(cv->data, hit->value, hit->value_len);
    lru_insert(db->object_cache, key, key_len, cv, sizeof *cv + hit->value_len + key_len + 64, cached_value_free,
               gen);
}

/* Looks key up in the memtables of v: 1 if one has a version (rc says what it was), 0 if none. */
static int get_memory(floe_t *db, view *v, const void *key, size_t key_len, uint64_t vis, read_want *want,
                      floe_value *out, int *rc)
{
    entry me;
    int found = memtable_get(v->mem, key, key_len, vis, &me);
    for (size_t i = 0; !found && i < v->n_imm; i++)
        found = memtable_get(v->imm[i], key, key_len, vis, &me);
    if (!found)
        return 0;
    if (me.type == ENTRY_DELETE) {
        *rc = err_set(FLOE_ENOTFOUND, "key not found (deleted)");
    } else if (expired(db, key, key_len, me.write_ms)) {
        *rc = err_set(FLOE_ENOTFOUND, "key not found (expired under its retention rule)");
    } else {
        *rc = stored_fill(out, want, me.type, me.value, me.value_len, me.content_type, me.content_type_len, me.seq,
                          me.write_ms, FLOE_TIER_MEMORY);
        if (*rc == 0)
            count_hit(db, FLOE_TIER_MEMORY);
    }
    return 1;
}

/* Looks key up in segment r: 1 if it has a version (rc says what it was), 0 if not, <0 on error. */
static int get_segment(floe_t *db, segref *r, const void *key, size_t key_len, uint64_t gen, read_want *want,
                       floe_value *out)
{
    if (!segref_may_contain(r, key, key_len))
        return 0;
    segref_use use;
    int rc = segref_reader(db, r, &use);
    if (rc < 0)
        return rc;
    segment_hit hit = {0};
    int got = r->path || segment_may_contain(use.seg, key, key_len)
                  ? segment_get_range(use.seg, key, key_len, want->head ? UINT64_MAX : want->offset,
                                      want->head ? 0 : want->length, &hit)
                  : 0;
    segref_release(db, &use);
    if (got <= 0)
        return got;
    if (hit.type == ENTRY_DELETE || expired(db, key, key_len, hit.write_ms)) {
        int deleted = hit.type == ENTRY_DELETE;
        segment_hit_clear(&hit);
        return err_set(FLOE_ENOTFOUND, deleted ? "key not found (deleted)"
                                               : "key not found (expired under its retention rule)");
    }
    cache_value(db, key, key_len, &hit, gen, want);
    if (!hit.value && !(hit.value = malloc(1))) {
        segment_hit_clear(&hit);
        return err_set(FLOE_ENOMEM, "get: out of memory");
    }
    floe_value obj = {0};
    if (hit.objhead && (rc = object_fields(&obj, want, hit.objhead, hit.objhead_len)) < 0) {
        segment_hit_clear(&hit);
        return rc;
    }
    free(hit.objhead);
    /* Hand the segment's buffers over instead of copying them again. */
    want->total = hit.total_len;
    if (want->head) {
        free(hit.value);
        hit.value = NULL;
    }
    *out = obj;
    out->data = hit.value;
    out->len = want->head ? (size_t)hit.total_len : hit.value_len;
    out->content_type = hit.content_type;
    out->seq = hit.seq;
    out->write_ms = hit.write_ms;
    out->tier = r->path ? FLOE_TIER_LOCAL : FLOE_TIER_COLD;
    atomic_store_explicit(&r->last_read_ms, clock_now_ms(), memory_order_relaxed);
    count_hit(db, out->tier);
    return 1;
}

/* Note 5: FLOE_ENOTFOUND (and *out freed) if a prefix delete of v hides the version found. */
static int hidden_by_prefix_delete(const view *v, const void *key, size_t key_len, uint64_t vis, floe_value *out)
{
    if (!pdel_set_hides(v->pdels, key, key_len, out->seq, vis))
        return 0;
    floe_value_free(out);
    return err_set(FLOE_ENOTFOUND, "key not found (deleted with its prefix)");
}

static int store_read(floe_t *db, const char *what, const void *key, size_t key_len, read_want *want,
                      floe_value *out)
{
    int rc;
    if (!db || !out)
        return err_set(FLOE_EINVAL, "%s: store handle and out are required", what);
    if (want->reserved ? !key || key_len == 0 || key_len > FLOE_MAX_KEY_BYTES
                       : (rc = store_check_key(key, key_len)) < 0)
        return want->reserved ? err_set(FLOE_EKEY, "%s: bad key", what) : rc;
    if (want->found)
        want->found->is_object = 0;
    atomic_fetch_add_explicit(&db->n_gets, 1, memory_order_relaxed);
    uint64_t gen;
    if (get_cached(db, key, key_len, want, out, &gen, &rc)) {
        if (rc == 0 && atomic_load_explicit(&db->n_pdels, memory_order_acquire)) {
            uint64_t vis = atomic_load(&db->visible_seq);
            view *v = view_acquire(db);
            rc = hidden_by_prefix_delete(v, key, key_len, vis, out);
            view_unref(v);
        }
        return rc;
    }

    uint64_t vis = atomic_load(&db->visible_seq);
    view *v = view_acquire(db);
    if (!get_memory(db, v, key, key_len, vis, want, out, &rc)) {
        int got = 0;
        for (size_t i = 0; i < v->n_l0 && got == 0; i++)
            got = get_segment(db, v->segs[i], key, key_len, gen, want, out);
        for (size_t i = 0; i < v->n_runs && got == 0; i++) {
            segref *r = view_run_find(v, &v->runs[i], key, key_len);
            if (r)
                got = get_segment(db, r, key, key_len, gen, want, out);
        }
        rc = got < 0 ? got : got > 0 ? 0 : err_set(FLOE_ENOTFOUND, "key not found");
    }
    if (rc == 0)
        rc = hidden_by_prefix_delete(v, key, key_len, vis, out);
    if (rc == FLOE_ENOTFOUND)
        atomic_fetch_add_explicit(&db->misses, 1, memory_order_relaxed);
    view_unref(v);
    return rc;
}

int store_read_raw(floe_t *db, const void *key, size_t key_len, int head, uint64_t offset, uint64_t length,
                   int no_cache, floe_value *out, uint64_t *total_out, store_found *found)
{
    read_want want = {.offset = offset, .length = length, .head = head, .no_cache = no_cache, .reserved = 1,
                      .found = found};
    floe_value v = {0};
    int rc = store_read(db, "read", key, key_len, &want, &v);
    if (rc < 0)
        return rc;
    *out = v;
    if (total_out)
        *total_out = want.total;
    return 0;
}

/* A read of the bytes of key: a chunked object's come from its chunks (object.c). */
static int read_bytes(floe_t *db, const char *what, const void *key, size_t key_len, uint64_t offset,
                      uint64_t length, floe_value *out, uint64_t *total_out)
{
    store_found found;
    read_want want = {.offset = offset, .length = length, .found = &found};
    floe_value v = {0};
    int rc = store_read(db, what, key, key_len, &want, &v);
    if (rc < 0)
        return rc;
    if (offset > want.total) {
        floe_value_free(&v);
        return err_set(FLOE_ERANGE, "%s: offset %" PRIu64 " is past the object's %" PRIu64 " bytes", what, offset,
                       want.total);
    }
    if (v.chunked && (rc = object_read_chunks(db, &found, offset, length, &v)) < 0) {
        floe_value_free(&v);
        return rc;
    }
    *out = v;
    if (total_out)
        *total_out = want.total;
    return 0;
}

int floe_get(floe_t *db, const void *key, size_t key_len, floe_value *out)
{
    return read_bytes(db, "floe_get", key, key_len, 0, UINT64_MAX, out, NULL);
}

int floe_head(floe_t *db, const void *key, size_t key_len, floe_value *out)
{
    read_want want = {.head = 1};
    return store_read(db, "floe_head", key, key_len, &want, out);
}

int floe_read_range(floe_t *db, const void *key, size_t key_len, uint64_t offset, uint64_t length,
                    floe_value *out, uint64_t *total_out)
{
    return read_bytes(db, "floe_read_range", key, key_len, offset, length, out, total_out);
}

void floe_value_free(floe_value *v)
{
    if (!v)
        return;
    free(v->data);
    free(v->content_type);
    free(v->user_meta);
    memset(v, 0, sizeof *v);
}

const char *floe_tier_name(floe_tier tier)
{
    switch (tier) {
    case FLOE_TIER_MEMORY:
        return "memory";
    case FLOE_TIER_LOCAL:
        return "local";
    case FLOE_TIER_COLD:
        return "cold";
    }
    return "unknown";
}
