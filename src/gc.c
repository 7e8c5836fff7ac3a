/* gc: deletes what no manifest needs any more from the cold tier: orphaned segment objects and old
 * manifest versions, each only once it is older than a grace period (docs/operations.md, "gc").
 * Both `floe gc` (src/tools/gc.c) and the store's background gc thread (gcthread.c) run it.
 *
 * Invariants:
 * 1. gc deletes manifests first, then segment objects, and a segment object only if no manifest
 *    left in the bucket after gc names it and its mtime is at least grace_s old. The newest
 *    manifest is never deleted, and gc deletes nothing if any manifest it keeps does not parse.
 * 2. Objects under segments/ whose keys are not floe segment keys are never deleted; nor are keys
 *    under manifest/ that are not manifest keys.
 * 3. A listing holds at most LISTING_MAX_OBJECTS keys.
 * 4. A segment object whose id is above every id the kept manifests name is never deleted: the
 *    writer publishes segments as a gap-free run, so such an object may be an upload it has yet to
 *    name (its answer lost, or an older segment still uploading), and deleting it would let that
 *    publication name a missing object. Objects at or below the newest named id that no manifest
 *    names are leftovers (an upload redone under a new epoch, a fenced writer's) and go after the
 *    grace period.
 */
#include "gc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "listing.h"
#include "manifest.h"
#include "remote.h"

typedef struct manifest_obj {
    uint64_t version;
    char key[COLD_LAYOUT_KEY_MAX];
    int64_t mtime_unix_s;
    int keep;
} manifest_obj;

static int manifest_obj_cmp(const void *a, const void *b)
{
    uint64_t x = ((const manifest_obj *)a)->version, y = ((const manifest_obj *)b)->version;
    return x < y ? 1 : x > y ? -1 : 0; /* newest first */
}

/* Marks every listed segment object that m names, and raises *max_id to the largest segment id m
 * names. */
static void mark_named(listing *segs, const manifest *m, uint64_t *max_id)
{
    for (size_t i = 0; i < m->count; i++) {
        listed *e = listing_find(segs, m->segments[i].object_key);
        if (e)
            e->named = 1;
        if (m->segments[i].id > *max_id)
            *max_id = m->segments[i].id;
    }
}

static void format_age(int64_t age_s, char out[32])
{
    if (age_s < 120)
        snprintf(out, 32, "%" PRId64 " s", age_s);
    else if (age_s < 7200)
        snprintf(out, 32, "%" PRId64 " min", age_s / 60);
    else if (age_s < 172800)
        snprintf(out, 32, "%" PRId64 " h", age_s / 3600);
    else
        snprintf(out, 32, "%" PRId64 " days", age_s / 86400);
}

/* Lists manifest/ into mlist and gives, in *mans_out (calloc'd; the caller frees it, also on
 * failure) and *n_out, the manifest keys among them, newest first; other keys there are skipped
 * (invariant 2). FLOE_ENOTFOUND when there is none: every segment object would look orphaned. */
static int list_manifests(cold_t *c, listing *mlist, manifest_obj **mans_out, size_t *n_out)
{
    manifest_obj *mans = NULL;
    size_t n_mans = 0;
    int rc;
    if ((rc = listing_collect(c, "manifest/", mlist)) < 0)
        goto out;
    if (mlist->n && !(mans = calloc(mlist->n, sizeof *mans))) {
        rc = err_set(FLOE_ENOMEM, "gc: out of memory");
        goto out;
    }
    for (size_t i = 0; i < mlist->n; i++) {
        uint64_t v;
        if (cold_parse_manifest_key(mlist->v[i].key, &v) != 0)
            continue; /* invariant 2 */
        mans[n_mans].version = v;
        snprintf(mans[n_mans].key, sizeof mans[n_mans].key, "%s", mlist->v[i].key);
        mans[n_mans].mtime_unix_s = mlist->v[i].mtime_unix_s;
        n_mans++;
    }
    err_clear();
    if (n_mans == 0) {
        rc = err_set(FLOE_ENOTFOUND,
                     "gc: the cold tier has no manifest; refusing to delete anything (every segment "
                     "object would look orphaned)");
        goto out;
    }
    qsort(mans, n_mans, sizeof *mans, manifest_obj_cmp);
out:
    *mans_out = mans;
    *n_out = n_mans;
    return rc;
}

/* Decides which manifests stay (the newest keep_manifests, and any younger than the grace period)
 * and marks in segs every object they name (invariant 1). A kept manifest that cannot be read
 * fails the whole run before anything is deleted. */
static int mark_kept(cold_t *c, manifest_obj *mans, size_t n_mans, unsigned keep_manifests, int64_t cutoff,
                     listing *segs, uint64_t *max_named_id)
{
    int rc = 0;
    for (size_t i = 0; i < n_mans; i++) {
        manifest *m = NULL;
        mans[i].keep = i < keep_manifests || mans[i].mtime_unix_s > cutoff;
        if (!mans[i].keep)
            continue;
        if ((rc = remote_read_manifest(c, mans[i].key, mans[i].version, &m)) < 0) {
            rc = err_wrap(rc,
                          "gc: a manifest that stays in the bucket cannot be read, so nothing was deleted");
            goto out;
        }
        mark_named(segs, m, max_named_id);
        manifest_free(m);
    }
out:
    return rc;
}

/* How many objects gc deletes: the manifests not kept and the orphans older than cutoff whose id is
 * at most max_named_id (invariant 4). The others are marked named (spared this time) and counted in
 * *young_orphans or *pending_orphans. */
static uint64_t count_deletions(const manifest_obj *mans, size_t n_mans, listing *segs, int64_t cutoff,
                                uint64_t max_named_id, uint64_t *young_orphans, uint64_t *pending_orphans)
{
    uint64_t to_delete = 0;
    for (size_t i = 0; i < n_mans; i++)
        to_delete += !mans[i].keep;
    for (size_t i = 0; i < segs->n; i++) {
        uint64_t id, epoch;
        listed *e = &segs->v[i];
        if (e->named || cold_parse_segment_key(e->key, &id, &epoch) != 0)
            continue;
        if (id > max_named_id) {
            (*pending_orphans)++;
            e->named = 1; /* may still be published */
            continue;
        }
        if (e->mtime_unix_s > cutoff) {
            (*young_orphans)++;
            e->named = 1; /* spared this time */
            continue;
        }
        to_delete++;
    }
    err_clear();
    return to_delete;
}

static void progress_step(const gc_progress *p)
{
    if (p && p->step)
        p->step(p->ctx);
}

/* Deletes (or, with dry_run, lists) the manifests not kept, oldest first, printing a line to out
 * (if any) and counting each in *deleted. */
static int delete_manifests(cold_t *c, const manifest_obj *mans, size_t n_mans, int dry_run, int64_t now,
                            FILE *out, const gc_progress *p, uint64_t *deleted)
{
    const char *verb = dry_run ? "would delete" : "deleted";
    int rc = 0;
    for (size_t i = n_mans; i-- > 0;) {
        char age[32];
        if (mans[i].keep)
            continue;
        if (!dry_run && (rc = cold_delete(c, mans[i].key)) < 0) {
            rc = err_wrap(rc, "gc: delete %s", mans[i].key);
            goto out;
        }
        format_age(now - mans[i].mtime_unix_s, age);
        if (out)
            fprintf(out, "%s %s (manifest version %" PRIu64 ", %s old)\n", verb, mans[i].key, mans[i].version,
                    age);
        (*deleted)++;
        progress_step(p);
    }
out:
    return rc;
}

/* Deletes (or lists) every segment object no kept manifest names and that was not spared, printing
 * a line to out (if any) and counting each in *deleted and its size in *deleted_bytes. */
static int delete_orphans(cold_t *c, const listing *segs, int dry_run, int64_t now, FILE *out,
                          const gc_progress *p, uint64_t *deleted, uint64_t *deleted_bytes)
{
    const char *verb = dry_run ? "would delete" : "deleted";
    int rc = 0;
    for (size_t i = 0; i < segs->n; i++) {
        uint64_t id, epoch;
        char age[32];
        const listed *e = &segs->v[i];
        if (e->named || cold_parse_segment_key(e->key, &id, &epoch) != 0)
            continue;
        if (!dry_run && (rc = cold_delete(c, e->key)) < 0) {
            rc = err_wrap(rc, "gc: delete %s", e->key);
            goto out;
        }
        format_age(now - e->mtime_unix_s, age);
        if (out)
            fprintf(out, "%s %s (orphan segment %" PRIu64 ", %" PRIu64 " bytes, %s old)\n", verb, e->key, id,
                    e->size, age);
        (*deleted)++;
        *deleted_bytes += e->size;
        progress_step(p);
    }
out:
    return rc;
}

static void print_summary(FILE *out, int dry_run, const gc_result *r)
{
    if (!out)
        return;
    fprintf(out,
            "gc: %s %" PRIu64 " objects (%" PRIu64 " bytes of segments); %" PRIu64
            " orphans younger than the grace period kept\n",
            dry_run ? "would delete" : "deleted", r->manifests_deleted + r->orphans_deleted,
            r->orphan_bytes_deleted, r->young_orphans_kept);
    if (r->pending_orphans_kept)
        fprintf(out,
                "gc: kept %" PRIu64 " segment objects newer than every named segment (above id %" PRIu64
                "): uploads the writer may still publish\n",
                r->pending_orphans_kept, r->max_named_id);
}

int gc_run(cold_t *c, int64_t grace_s, unsigned keep_manifests, int dry_run, FILE *out,
           const gc_progress *progress, gc_result *res)
{
    listing mlist = {0}, segs = {0};
    manifest_obj *mans = NULL;
    size_t n_mans = 0;
    gc_result r = {0};
    int64_t now = (int64_t)time(NULL);
    int rc, begun = 0;
    if (!c)
        return err_set(FLOE_EINVAL, "gc: no cold store");
    if (grace_s < 0)
        return err_set(FLOE_EINVAL, "gc: grace period %" PRId64 " s is negative", grace_s);
    if (keep_manifests < 1)
        keep_manifests = 1; /* invariant 1: the newest always stays */

    if ((rc = list_manifests(c, &mlist, &mans, &n_mans)) < 0 ||
        (rc = listing_collect(c, "segments/", &segs)) < 0 ||
        (rc = mark_kept(c, mans, n_mans, keep_manifests, now - grace_s, &segs, &r.max_named_id)) < 0)
        goto out;
    r.newest_manifest_version = mans[0].version;
    if (out)
        fprintf(out,
                "gc: newest manifest version %" PRIu64 "; grace period %" PRId64
                " s; keeping the newest %u manifests%s\n",
                mans[0].version, grace_s, keep_manifests, dry_run ? " (dry run: nothing is deleted)" : "");
    uint64_t to_delete = count_deletions(mans, n_mans, &segs, now - grace_s, r.max_named_id,
                                         &r.young_orphans_kept, &r.pending_orphans_kept);

    /* Manifests first: a name is removed before the object it names (invariant 1). */
    if (progress && progress->begin)
        progress->begin(progress->ctx, dry_run, to_delete);
    begun = 1;
    if ((rc = delete_manifests(c, mans, n_mans, dry_run, now, out, progress, &r.manifests_deleted)) < 0 ||
        (rc = delete_orphans(c, &segs, dry_run, now, out, progress, &r.orphans_deleted,
                             &r.orphan_bytes_deleted)) < 0)
        goto out;
    begun = 0;
    if (progress && progress->end)
        progress->end(progress->ctx);
    err_clear();
    print_summary(out, dry_run, &r);
out:
    if (res)
        *res = r;
    if (begun && progress && progress->end)
        progress->end(progress->ctx);
    free(mans);
    listing_free(&segs);
    listing_free(&mlist);
    return rc;
}
