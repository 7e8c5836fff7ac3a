/* floe_list_keys: a merge of every sorted source in a view (the pending and sealed memtables and the
 * segments) into one ordered listing of live keys.
 *
 * Invariants:
 *  1. Among equal keys the highest seq is the newest version and the only one considered; a
 *     tombstone hides the key, and so does a newest version that retention has expired (read once,
 *     "now" is the same for the whole listing).
 *  5. A key whose newest version a prefix delete hides (prefixdel.h) is not listed.
 *  2. Memtable versions newer than the read's visible_seq are skipped, so a listing sees exactly the
 *     writes a floe_get started at the same moment would.
 *  3. Every segment reader used is held (segref_use) until the listing ends, and the view is held
 *     throughout, so nothing it reads is closed or deleted under it.
 *  4. A segment is opened only if its key range meets the prefix and the cursor, so a listing costs
 *     cold reads and metadata-cache room only for segments that can hold what it lists.
 *  6. floe_list_keys never returns a reserved key (object.h): they sort after every user key, so it
 *     stops at the first, unless its prefix lies in the system namespace (FLOE_SYSTEM_PREFIX), whose
 *     keys it lists. store_list_reserved lists them all for the object sweep.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "entry.h"
#include "object.h"
#include "retention.h"
#include "segment.h"
#include "store.h"
#include "view.h"

#define LIST_DEFAULT_LIMIT 1000
#define LIST_MAX_LIMIT 100000

/* One ordered source in a list merge: a memtable (many versions per key) or a segment. */
typedef struct list_src {
    memtable_iter *mit;
    segment_iter *sit;
    segref_use use; /* a segment's reader, released at the end of the listing */
    uint64_t vis;
    int valid;
    entry cur;
} list_src;

/* Loads the source's current entry, skipping memtable versions newer than the read's view. */
static void src_load(list_src *s)
{
    if (s->mit) {
        for (; memtable_iter_valid(s->mit); memtable_iter_next(s->mit)) {
            memtable_iter_entry(s->mit, &s->cur);
            if (s->cur.seq <= s->vis) {
                s->valid = 1;
                return;
            }
        }
        s->valid = 0;
        return;
    }
    s->valid = segment_iter_valid(s->sit);
    if (s->valid)
        segment_iter_entry(s->sit, &s->cur);
}

/* Moves the source past every version of key. */
static int src_skip(list_src *s, const uint8_t *key, uint32_t key_len)
{
    while (s->valid && key_cmp(s->cur.key, s->cur.key_len, key, key_len) == 0) {
        if (s->mit) {
            memtable_iter_next(s->mit);
        } else {
            int rc = segment_iter_next(s->sit);
            if (rc < 0)
                return rc;
        }
        src_load(s);
    }
    return 0;
}

/* Positions source i of view v at seek (NULL: the start). */
static int src_open(floe_t *db, view *v, size_t i, const void *seek, size_t seek_len, list_src *s)
{
    int rc;
    if (i < 1 + v->n_imm) {
        memtable_t *m = i == 0 ? v->mem : v->imm[i - 1];
        if ((rc = memtable_iter_create(m, &s->mit)) < 0)
            return rc;
        memtable_iter_seek(s->mit, seek, seek_len);
    } else {
        if ((rc = segref_reader(db, v->segs[i - 1 - v->n_imm], &s->use)) < 0 ||
            (rc = segment_iter_create(s->use.seg, &s->sit)) < 0 ||
            (rc = segment_iter_seek(s->sit, seek, seek_len)) < 0)
            return rc;
    }
    src_load(s);
    return 0;
}

/* The source holding the smallest key, the newest version among equals (note 1); NULL when all
 * are done. */
static list_src *src_min(list_src *src, size_t n)
{
    list_src *best = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!src[i].valid)
            continue;
        int c = best ? key_cmp(src[i].cur.key, src[i].cur.key_len, best->cur.key, best->cur.key_len) : -1;
        if (c < 0 || (c == 0 && src[i].cur.seq > best->cur.seq))
            best = &src[i];
    }
    return best;
}

/* Appends an entry (taking key) to res, growing its array up to limit entries. */
/* What a listing says of entry e (its key aside): an object's length and MD5 are in its record. */
static int describe(const entry *e, floe_list_entry *out)
{
    *out = (floe_list_entry){.value_len = e->value_len, .seq = e->seq, .write_ms = e->write_ms};
    if (e->type != ENTRY_OBJECT)
        return 0;
    objrec rec;
    int rc = objrec_parse_whole(e->value, e->value_len, &rec);
    if (rc < 0)
        return err_set(rc, "list: key %.*s: %s", (int)(e->key_len > 64 ? 64 : e->key_len), (const char *)e->key,
                       floe_last_error());
    out->value_len = rec.flags & OBJREC_CHUNKED ? rec.size : e->value_len - rec.header_len;
    out->md5_known = 1;
    memcpy(out->md5, rec.md5, 16);
    if (rec.user_meta_len) {
        if (!(out->user_meta = malloc(rec.user_meta_len)))
            return err_set(FLOE_ENOMEM, "list: out of memory");
        memcpy(out->user_meta, rec.user_meta, rec.user_meta_len);
        out->user_meta_len = rec.user_meta_len;
    }
    return 0;
}

static int list_append(floe_list *res, size_t *cap, size_t limit, char *key, uint32_t key_len,
                       const floe_list_entry *info)
{
    if (res->count == *cap) {
        size_t ncap = *cap * 2 > limit ? limit : *cap * 2;
        floe_list_entry *ne = realloc(res->entries, ncap * sizeof *ne);
        if (!ne)
            return err_set(FLOE_ENOMEM, "list: out of memory");
        res->entries = ne;
        *cap = ncap;
    }
    floe_list_entry *le = &res->entries[res->count++];
    *le = *info;
    le->key = key;
    le->key_len = key_len;
    return 0;
}

/* Merges src into res until limit keys, the end of the prefix, or the end of every source. */
static int merge(const floe_options *opts, uint64_t now_ms, const pdel_set *pdels, uint64_t vis, list_src *src,
                 size_t n_src,
                 const uint8_t *prefix, size_t prefix_len, const uint8_t *start_after, size_t start_after_len,
                 size_t limit, int reserved, floe_list *res, size_t *cap)
{
    list_src *best;
    while ((best = src_min(src, n_src)) != NULL) {
        if (prefix_len && (best->cur.key_len < prefix_len || memcmp(best->cur.key, prefix, prefix_len) != 0))
            break;
        if (!reserved && key_is_reserved(best->cur.key, best->cur.key_len))
            break; /* note 6: reserved keys sort after every user key */
        uint32_t klen = best->cur.key_len;
        char *kcopy = malloc(klen + 1);
        if (!kcopy)
            return err_set(FLOE_ENOMEM, "list: out of memory");
        memcpy(kcopy, best->cur.key, klen);
        kcopy[klen] = '\0';
        int skip = best->cur.type == ENTRY_DELETE ||
                   (start_after_len && key_cmp(kcopy, klen, start_after, start_after_len) <= 0) ||
                   retention_expired(opts, kcopy, klen, best->cur.write_ms, now_ms) ||
                   pdel_set_hides(pdels, kcopy, klen, best->cur.seq, vis);
        floe_list_entry info;
        int rc = skip ? 0 : describe(&best->cur, &info); /* before src_skip moves off its block */
        for (size_t i = 0; i < n_src && rc == 0; i++)
            rc = src_skip(&src[i], (const uint8_t *)kcopy, klen);
        if (rc == 0 && !skip && res->count == limit) {
            res->truncated = 1;
            free(kcopy);
            free(info.user_meta);
            return 0;
        }
        if (rc == 0 && !skip)
            rc = list_append(res, cap, limit, kcopy, klen, &info);
        if (rc < 0 && !skip)
            free(info.user_meta);
        if (rc < 0 || skip)
            free(kcopy);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void floe_list_free(floe_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++) {
        free(list->entries[i].key);
        free(list->entries[i].user_meta);
    }
    free(list->entries);
    free(list);
}

static int list_keys(floe_t *db, const void *prefix, size_t prefix_len, const void *start_after,
                     size_t start_after_len, size_t limit, int reserved, floe_list **out)
{
    if (!db || !out || (prefix_len && !prefix) || (start_after_len && !start_after))
        return err_set(FLOE_EINVAL, "floe_list_keys: bad arguments");
    if (prefix_len > FLOE_MAX_KEY_BYTES || start_after_len > FLOE_MAX_KEY_BYTES)
        return err_set(FLOE_EKEY, "list: prefix or start_after longer than %d bytes", FLOE_MAX_KEY_BYTES);
    if (limit == 0)
        limit = LIST_DEFAULT_LIMIT;
    if (limit > LIST_MAX_LIMIT)
        limit = LIST_MAX_LIMIT;

    int rc = 0;
    uint64_t vis = atomic_load(&db->visible_seq);
    view *v = view_acquire(db);
    size_t n_src = 1 + v->n_imm + v->n_segs;
    list_src *src = calloc(n_src, sizeof *src);
    floe_list *res = calloc(1, sizeof *res);
    size_t cap = limit < 64 ? limit : 64;
    if (res)
        res->entries = calloc(cap, sizeof *res->entries);
    if (!src || !res || !res->entries) {
        rc = err_set(FLOE_ENOMEM, "list: out of memory");
        goto out;
    }
    /* Seek to the later of prefix and start_after. */
    const void *seek = prefix;
    size_t seek_len = prefix_len;
    if (start_after_len && key_cmp(start_after, start_after_len, prefix, prefix_len) >= 0) {
        seek = start_after;
        seek_len = start_after_len;
    }
    for (size_t i = 0; i < n_src && rc == 0; i++) {
        src[i].vis = vis;
        /* A segment whose key range misses the prefix or lies before the cursor is never opened. */
        if (i >= 1 + v->n_imm && !segref_overlaps(v->segs[i - 1 - v->n_imm], seek, seek_len, prefix, prefix_len))
            continue;
        rc = src_open(db, v, i, seek_len ? seek : NULL, seek_len, &src[i]);
    }
    if (rc == 0)
        rc = merge(&db->opts, retention_enabled(&db->opts) ? clock_unix_ms() : 0, v->pdels, vis, src, n_src, prefix,
                   prefix_len, start_after, start_after_len, limit, reserved, res, &cap);
out:
    for (size_t i = 0; src && i < n_src; i++) {
        if (src[i].mit)
            memtable_iter_destroy(src[i].mit);
        if (src[i].sit)
            segment_iter_destroy(src[i].sit);
        segref_release(db, &src[i].use);
    }
    free(src);
    view_unref(v);
    if (rc < 0) {
        floe_list_free(res);
        return rc;
    }
    *out = res;
    return 0;
}

int floe_list_keys(floe_t *db, const void *prefix, size_t prefix_len, const void *start_after,
                   size_t start_after_len, size_t limit, floe_list **out)
{
    /* A list of the system namespace passes the reserved keys it stays among (note 6). */
    return list_keys(db, prefix, prefix_len, start_after, start_after_len, limit, key_is_system(prefix, prefix_len),
                     out);
}

int store_list_reserved(floe_t *db, const void *prefix, size_t prefix_len, const void *start_after,
                        size_t start_after_len, size_t limit, floe_list **out)
{
    return list_keys(db, prefix, prefix_len, start_after, start_after_len, limit, 1, out);
}
