/* The uploader (see uploader.h).
 *
 * Invariants:
 *  1. A segment is uploaded under the writer epoch that claimed the bucket prefix, to a key that
 *     names that epoch, so an upload never overwrites an object another writer (or an earlier
 *     epoch) made.
 *  2. A segment becomes local+remote only after a published manifest names it; a local file is
 *     evicted only when local+remote, and the manifest saying "remote" is saved before the view
 *     stops using the file (whose deletion waits for the last reader).
 *  3. One publication at a time (publish_mu), with version remote_version + 1: versions are
 *     gapless and each names what the last did, except that compaction outputs replace the
 *     segments they were made from, all in one publication (remote.c invariant 7). A manifest
 *     names only a gap-free prefix of the segment ids: an uploaded segment waits while an older
 *     one is still uploading, since a restore from a manifest that skipped a segment would bring back
 *     what that segment deleted or overwrote. Compaction outputs are in that order too
 *     (compact.c note 8), and go all in one publication.
 *  4. Once fenced, nothing more is uploaded, published or evicted, and the store is read-only.
 *  5. Failures are retried with backoff (0.2 s doubling to 30 s); the last one shows in health.
 */
#include "uploader.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "clock.h"
#include "compact.h"
#include "remote.h"
#include "view.h"

/* How long floe_open waits for the cold tier to confirm this writer's epoch. */
#define CLAIM_WAIT_MS 5000

/* Records a cold-tier problem for stats and health; logs it when it changes. */
static void cold_trouble(floe_t *db, const char *what, const char *why)
{
    char msg[1024]; /* the whole message for the log; cold_msg keeps what fits */
    snprintf(msg, sizeof msg, "%s: %s", what, why);
    pthread_mutex_lock(&db->state_mu);
    int changed = !db->cold_unhealthy || strcmp(db->cold_msg, msg) != 0;
    db->cold_unhealthy = 1;
    store_copy_cut(db->cold_msg, sizeof db->cold_msg, msg);
    pthread_mutex_unlock(&db->state_mu);
    if (changed)
        store_log(db, 1, "cold tier: %s; writes keep landing locally and uploads are retried", msg);
}

static void cold_recovered(floe_t *db)
{
    pthread_mutex_lock(&db->state_mu);
    int was = db->cold_unhealthy;
    db->cold_unhealthy = 0;
    pthread_mutex_unlock(&db->state_mu);
    if (was)
        store_log(db, 2, "cold tier: healthy again");
}

void uploader_recompute_state(floe_t *db)
{
    uint64_t through = 0, pending = 0;
    int gap = 0;
    for (size_t i = 0; i < db->man->count; i++) {
        const manifest_segment *ms = &db->man->segments[i];
        int published = ms->state == SEG_LOCAL_REMOTE || ms->state == SEG_REMOTE;
        if (!published) {
            pending += ms->size;
            gap = 1;
        } else if (!gap) {
            through = ms->id;
        }
    }
    pthread_mutex_lock(&db->state_mu);
    db->published_through_id = through;
    db->bytes_pending_upload = pending;
    pthread_cond_broadcast(&db->state_cv);
    pthread_mutex_unlock(&db->state_mu);
}

static void mark_fenced(floe_t *db)
{
    char msg[256];
    store_copy_cut(msg, sizeof msg, floe_last_error());
    store_mark_fenced(db, msg);
}

/* Removes the retired segments once no compaction output waits for publication (remote.c
 * invariant 7: the manifest just published named the outputs instead). Needs manifest_mu. */
static void drop_replaced(floe_t *db)
{
    for (size_t i = 0; i < db->man->count; i++) {
        const manifest_segment *ms = &db->man->segments[i];
        if (ms->level > 0 && !ms->retired && ms->state != SEG_REMOTE && ms->state != SEG_LOCAL_REMOTE)
            return;
    }
    for (size_t i = db->man->count; i-- > 0;)
        if (db->man->segments[i].retired)
            manifest_remove(db->man, db->man->segments[i].id);
    compact_forget_prefix_dels(db); /* out of memory: kept, tried again later */
}

/* Copies into the store's manifest what remote_claim learned in claimed: segments uploaded and
 * published by this epoch before a stop that the local manifest had not recorded. Needs
 * manifest_mu. */
static int adopt_claimed_keys(floe_t *db, const manifest *claimed)
{
    for (size_t i = 0; i < claimed->count; i++) {
        const manifest_segment *cs = &claimed->segments[i];
        manifest_segment *ms = manifest_find(db->man, cs->id);
        if (!ms || cs->state != SEG_LOCAL_REMOTE || (ms->state != SEG_LOCAL && ms->state != SEG_UPLOADING))
            continue;
        char *k = strdup(cs->object_key);
        if (!k)
            return err_set(FLOE_ENOMEM, "claim: out of memory");
        free(ms->object_key);
        ms->object_key = k;
        ms->state = SEG_LOCAL_REMOTE;
        store_log(db, 2,
                  "cold tier: segment %" PRIu64 " was uploaded and published as %s before the last stop",
                  ms->id, k);
    }
    return 0;
}

/* Claims the writer epoch in the bucket once (remote_claim). Needs publish_mu. */
static int ensure_claimed(floe_t *db)
{
    if (db->claimed)
        return 0;
    manifest *copy = NULL;
    pthread_mutex_lock(&db->manifest_mu);
    int rc = manifest_clone(db->man, &copy);
    pthread_mutex_unlock(&db->manifest_mu);
    if (rc < 0)
        return rc;
    rc = remote_claim(db->cold, copy);
    if (rc == 0) {
        pthread_mutex_lock(&db->manifest_mu);
        db->man->writer_epoch = copy->writer_epoch;
        db->man->remote_version = copy->remote_version;
        rc = adopt_claimed_keys(db, copy);
        if (rc == 0) {
            drop_replaced(db);
            rc = manifest_save(db->dir, db->man);
        }
        uploader_recompute_state(db);
        pthread_mutex_unlock(&db->manifest_mu);
        if (rc == 0) {
            db->claimed = 1;
            store_log(db, 2, "cold tier: claimed writer epoch %" PRIu64 " (manifest version %" PRIu64 ")",
                      copy->writer_epoch, copy->remote_version);
        } else {
            store_mark_read_only(db, floe_last_error());
        }
    } else if (rc == FLOE_EFENCED) {
        mark_fenced(db);
    }
    manifest_free(copy);
    return rc;
}

static int claim_locked(floe_t *db)
{
    pthread_mutex_lock(&db->publish_mu);
    int rc = ensure_claimed(db);
    pthread_mutex_unlock(&db->publish_mu);
    return rc;
}

/* The claim floe_open starts: it may take as long as the cold tier's timeouts and retries. */
static void *claim_main(void *arg)
{
    floe_t *db = arg;
    char msg[512];
    int rc = claim_locked(db);
    store_copy_cut(msg, sizeof msg, floe_last_error());
    if (rc < 0 && rc != FLOE_EFENCED)
        cold_trouble(db, "claiming the bucket prefix", msg);
    pthread_mutex_lock(&db->state_mu);
    db->claim_done = 1;
    db->claim_rc = rc;
    store_copy_cut(db->claim_msg, sizeof db->claim_msg, msg);
    pthread_cond_broadcast(&db->state_cv);
    pthread_mutex_unlock(&db->state_mu);
    return NULL;
}

/* Claims the writer epoch for floe_open, waiting at most CLAIM_WAIT_MS: a cold tier that answers
 * refuses a stranger at open (FLOE_EFENCED); one that does not answer in time does not hold the
 * store up, and the claim finishes in the background (uploads wait for it; a late refusal fences
 * the store then). Returns the claim's result, or 0 if it is still running. */
static int claim_at_open(floe_t *db)
{
    if (pthread_create(&db->claimer, NULL, claim_main, db) != 0)
        return claim_locked(db);
    db->claimer_started = 1;
    struct timespec deadline = clock_deadline_after_ms(CLAIM_WAIT_MS);
    pthread_mutex_lock(&db->state_mu);
    while (!db->claim_done && pthread_cond_timedwait(&db->state_cv, &db->state_mu, &deadline) == 0) {
    }
    int rc = db->claim_done ? db->claim_rc : 0;
    if (db->claim_done && rc < 0)
        err_set(rc, "%s", db->claim_msg);
    pthread_mutex_unlock(&db->state_mu);
    return rc;
}

/* After a successful publication of version naming ids[0..n): marks them local+remote, drops them
 * from the unpublished list, drops what compaction replaced and saves the manifest. Takes
 * manifest_mu. */
static void mark_published(floe_t *db, const uint64_t *ids, size_t n, uint64_t version)
{
    pthread_mutex_lock(&db->manifest_mu);
    db->man->remote_version = version;
    for (size_t i = 0; i < n; i++) {
        manifest_segment *ms = manifest_find(db->man, ids[i]);
        if (ms && ms->state == SEG_UPLOADING)
            ms->state = SEG_LOCAL_REMOTE;
        for (size_t j = 0; j < db->n_unpublished; j++) {
            if (db->unpublished[j] == ids[i]) {
                db->unpublished[j] = db->unpublished[--db->n_unpublished];
                break;
            }
        }
    }
    drop_replaced(db);
    int rc = manifest_save(db->dir, db->man);
    uploader_recompute_state(db);
    compact_update_backlog(db); /* published segments can be merged now */
    pthread_mutex_unlock(&db->manifest_mu);
    if (rc < 0)
        store_mark_read_only(db, floe_last_error());
    compact_notify(db); /* published segments may be compacted now */
}

/* 1 if id is in the unpublished list. Needs manifest_mu. */
static int is_unpublished(const floe_t *db, uint64_t id)
{
    for (size_t i = 0; i < db->n_unpublished; i++)
        if (db->unpublished[i] == id)
            return 1;
    return 0;
}

/* Fills ids with the uploaded-but-unpublished segments that may be published now: those before
 * the first segment (in id order) that is neither published nor uploaded (note 3). Returns how
 * many. Needs manifest_mu. */
static size_t publishable_prefix(floe_t *db, uint64_t *ids)
{
    /* A sealed memtable has its id before its segment file is written and named in the manifest:
     * nothing at or above the lowest such id may go yet, or a compaction output with a higher id
     * would be published over the gap, and gc would take the sealed segment's upload, once made,
     * for an orphan (the power-loss test found it: gc --grace-s 0 deleted it, and the next
     * publication named a missing object). */
    uint64_t sealed_below = UINT64_MAX;
    pthread_mutex_lock(&db->state_mu);
    for (size_t i = 0; i < db->n_queue; i++)
        if (db->queue[i].id < sealed_below)
            sealed_below = db->queue[i].id;
    pthread_mutex_unlock(&db->state_mu);
    size_t n = 0;
    for (size_t i = 0; i < db->man->count; i++) {
        const manifest_segment *ms = &db->man->segments[i];
        if (ms->state == SEG_LOCAL_REMOTE || ms->state == SEG_REMOTE)
            continue;
        if (!is_unpublished(db, ms->id) || (db->compact_inflight_id && ms->id >= db->compact_inflight_id) ||
            ms->id >= sealed_below)
            break;
        ids[n++] = ms->id;
    }
    /* Compaction outputs go all together (remote.c invariant 7): if the prefix does not reach
     * every one, it stops before the first. */
    for (size_t i = 0; i < db->man->count; i++) {
        const manifest_segment *ms = &db->man->segments[i];
        if (ms->level == 0 || ms->state == SEG_LOCAL_REMOTE || ms->state == SEG_REMOTE)
            continue;
        int in = 0;
        for (size_t k = 0; k < n && !in; k++)
            in = ids[k] == ms->id;
        if (!in) {
            size_t cut = 0;
            while (cut < n && manifest_find((manifest *)db->man, ids[cut])->level == 0)
                cut++;
            return cut;
        }
    }
    return n;
}

/* 1 if retired segments wait and no compaction output does: a drop job's. Needs manifest_mu. */
static int retired_without_outputs(const floe_t *db)
{
    int retired = 0;
    for (size_t i = 0; i < db->man->count; i++) {
        const manifest_segment *ms = &db->man->segments[i];
        if (ms->level > 0 && !ms->retired && ms->state != SEG_REMOTE && ms->state != SEG_LOCAL_REMOTE)
            return 0;
        retired |= ms->retired;
    }
    return retired;
}

/* Publishes one manifest at version remote_version + 1 naming every uploaded segment up to the
 * first one not yet uploaded, then marks them local+remote. Returns 0 (also when there was nothing
 * to publish), REMOTE_PUBLISHED_BEFORE when the version turned out to hold this writer's own
 * earlier attempt (now recorded: the caller publishes again), or an error. Needs publish_mu. */
static int publish_once(floe_t *db)
{
    uint64_t *ids = NULL;
    manifest *rm = NULL, *earlier = NULL;
    int rc = 0;
    pthread_mutex_lock(&db->manifest_mu);
    size_t n = 0;
    uint64_t version = db->man->remote_version + 1;
    if (db->n_unpublished > 0 && !(ids = malloc(db->n_unpublished * sizeof *ids)))
        rc = err_set(FLOE_ENOMEM, "publish: out of memory");
    if (ids)
        n = publishable_prefix(db, ids);
    /* Segments compaction dropped outright leave the bucket's manifest with no upload at all. */
    int dropped = rc == 0 && n == 0 && retired_without_outputs(db);
    if (rc == 0 && (n > 0 || dropped))
        rc = remote_manifest_build(db->man, ids, n, version, &rm);
    pthread_mutex_unlock(&db->manifest_mu);
    if (rc < 0 || (n == 0 && !dropped))
        goto out;
    rc = remote_publish(db->cold, rm, &earlier);
    if (rc == 0 || rc == REMOTE_PUBLISHED_BEFORE)
        cold_recovered(db); /* before waiters learn of the publication */
    if (rc == FLOE_EFENCED) {
        mark_fenced(db);
    } else if (rc == 0) {
        mark_published(db, ids, n, version);
    } else if (rc == REMOTE_PUBLISHED_BEFORE) {
        /* Our attempt at this version whose answer was lost: what it named is published. */
        uint64_t *named = malloc((earlier->count ? earlier->count : 1) * sizeof *named);
        if (!named) {
            rc = err_set(FLOE_ENOMEM, "publish: out of memory");
            goto out;
        }
        for (size_t i = 0; i < earlier->count; i++)
            named[i] = earlier->segments[i].id;
        store_log(db, 2,
                  "cold tier: manifest version %" PRIu64
                  " was published by an earlier attempt whose answer was lost",
                  version);
        mark_published(db, named, earlier->count, version);
        free(named);
    }
out:
    manifest_free(earlier);
    manifest_free(rm);
    free(ids);
    return rc;
}

/* Publishes what can be published (note 3), recognising this writer's own earlier publications.
 * The outcome goes into the cold tier's health under publish_mu, so health follows the order of
 * publications: a failure another uploader reports late cannot hide a later success. */
static int publish_pending(floe_t *db)
{
    pthread_mutex_lock(&db->publish_mu);
    int rc = ensure_claimed(db);
    while (rc == 0 && (rc = publish_once(db)) == REMOTE_PUBLISHED_BEFORE) {
    }
    if (rc < 0 && rc != FLOE_EFENCED)
        cold_trouble(db, "publishing the manifest", floe_last_error());
    pthread_mutex_unlock(&db->publish_mu);
    return rc;
}

static void evict_local(floe_t *db);

int uploader_publish(floe_t *db)
{
    int rc = publish_pending(db);
    /* Compaction publishes its outputs this way: they are evicted like uploads (note 2), or they
     * would stay local past local.max_bytes until the next upload. */
    if (rc == 0)
        evict_local(db);
    return rc;
}

/* Uploads one segment file. After a failed attempt of the same segment the object may be there
 * already (the answer was lost): a HEAD that finds it whole saves uploading it again. */
static int upload_file(floe_t *db, const char *key, const char *path, uint64_t size, int retry)
{
    if (retry) {
        uint64_t have = 0;
        if (cold_head(db->cold, key, &have, NULL) == 0 && have == size)
            return 0;
    }
    return cold_put_file(db->cold, key, path, db->opts.upload.part_bytes);
}

/* The local+remote segment to evict if local files are over local.max_bytes: the one read least
 * recently (never read: the oldest id). NULL if none must or can go. Needs manifest_mu. */
static manifest_segment *eviction_victim(floe_t *db)
{
    uint64_t local_bytes = 0;
    for (size_t i = 0; i < db->man->count; i++)
        if (db->man->segments[i].state != SEG_REMOTE)
            local_bytes += db->man->segments[i].size;
    if (local_bytes <= db->opts.local.max_bytes)
        return NULL;
    manifest_segment *victim = NULL;
    int64_t victim_read = INT64_MAX;
    pthread_mutex_lock(&db->state_mu);
    for (size_t i = 0; i < db->cur->n_segs; i++) {
        segref *r = db->cur->segs[i];
        if (!r->path)
            continue;
        manifest_segment *ms = manifest_find(db->man, r->id);
        if (!ms || ms->state != SEG_LOCAL_REMOTE)
            continue;
        int64_t t = atomic_load(&r->last_read_ms);
        if (!victim || t < victim_read || (t == victim_read && ms->id < victim->id)) {
            victim = ms;
            victim_read = t;
        }
    }
    pthread_mutex_unlock(&db->state_mu);
    return victim;
}

/* Swaps the local segref of segment id in the view for remote; the local file goes with its last
 * reader. Takes state_mu. Returns 1 if the view changed. */
static int view_swap_to_remote(floe_t *db, uint64_t id, segref *remote)
{
    pthread_mutex_lock(&db->state_mu);
    segref **segs = malloc(db->cur->n_segs * sizeof *segs);
    view *v = NULL;
    if (segs) {
        memcpy(segs, db->cur->segs, db->cur->n_segs * sizeof *segs);
        for (size_t i = 0; i < db->cur->n_segs; i++) {
            if (segs[i]->id == id && segs[i]->path) {
                atomic_store(&segs[i]->obsolete, 1);
                segs[i] = remote;
            }
        }
        v = view_build(db, db->cur->mem, segs, db->cur->n_segs);
        free(segs);
    }
    if (v)
        view_install(db, v);
    pthread_mutex_unlock(&db->state_mu);
    return v != NULL;
}

/* Moves local+remote segments out of local disk while local segment files are over local.max_bytes
 * (note 2). Their reads then go to the cold tier. */
static void evict_local(floe_t *db)
{
    for (;;) {
        pthread_mutex_lock(&db->manifest_mu);
        manifest_segment *victim = eviction_victim(db);
        if (!victim) {
            pthread_mutex_unlock(&db->manifest_mu);
            return;
        }
        segref *nr = NULL;
        int rc = segref_open_remote(db, victim, &nr);
        if (rc == 0) {
            victim->state = SEG_REMOTE;
            rc = manifest_save(db->dir, db->man);
            if (rc < 0) {
                victim->state = SEG_LOCAL_REMOTE;
                segref_unref(nr);
                nr = NULL;
                store_mark_read_only(db, floe_last_error());
            }
        }
        uint64_t id = victim->id;
        if (nr && view_swap_to_remote(db, id, nr))
            store_log(db, 2, "evicted local segment %" PRIu64 " (uploaded; local.max_bytes exceeded)", id);
        segref_unref(nr);
        pthread_mutex_unlock(&db->manifest_mu);
        if (rc < 0)
            return;
    }
}

/* Waits on state_cv for up to ms, or until the store stops. Returns 1 if stopping. */
static int uploader_sleep(floe_t *db, int64_t ms)
{
    struct timespec ts = clock_deadline_after_ms(ms);
    pthread_mutex_lock(&db->state_mu);
    if (!db->stopping)
        pthread_cond_timedwait(&db->state_cv, &db->state_mu, &ts);
    int stop = db->stopping;
    pthread_mutex_unlock(&db->state_mu);
    return stop;
}

/* An uploader's next wait after a failure: 0.2 s, doubling to 30 s. */
static int64_t next_backoff_ms(int64_t ms)
{
    return ms ? (ms * 2 > 30000 ? 30000 : ms * 2) : 200;
}

/* One segment an uploader took: its id, size, object key and local path (malloc'd). */
typedef struct upload_job {
    uint64_t id, size;
    char key[COLD_LAYOUT_KEY_MAX];
    char *path;
} upload_job;

/* Takes the oldest local segment for upload, marking it uploading under this epoch's object key
 * (note 1). Returns 1 with *job filled, 0 if there is none. *have_unpublished says whether uploaded
 * segments wait for a publication. */
static int take_job(floe_t *db, upload_job *job, int *have_unpublished)
{
    int got = 0;
    pthread_mutex_lock(&db->manifest_mu);
    for (size_t i = 0; i < db->man->count && !got; i++) {
        manifest_segment *ms = &db->man->segments[i];
        if (ms->state != SEG_LOCAL)
            continue;
        cold_segment_key(ms->id, db->man->writer_epoch, job->key);
        char *k = strdup(job->key);
        job->path = store_segment_path(db, ms->id, "");
        if (!k || !job->path) {
            free(k);
            free(job->path);
            job->path = NULL;
            break;
        }
        free(ms->object_key);
        ms->object_key = k;
        ms->state = SEG_UPLOADING;
        job->id = ms->id;
        job->size = ms->size;
        got = 1;
    }
    *have_unpublished = db->n_unpublished > 0;
    pthread_mutex_unlock(&db->manifest_mu);
    return got;
}

/* After a failed upload: the segment goes back to local, to be taken again. */
static void return_job(floe_t *db, const upload_job *job)
{
    char why[512];
    snprintf(why, sizeof why, "uploading segment %" PRIu64 " to %s", job->id, job->key);
    cold_trouble(db, why, floe_last_error());
    pthread_mutex_lock(&db->manifest_mu);
    manifest_segment *ms = manifest_find(db->man, job->id);
    if (ms && ms->state == SEG_UPLOADING)
        ms->state = SEG_LOCAL;
    pthread_mutex_unlock(&db->manifest_mu);
}

/* Notes an uploaded segment as waiting for publication. */
static void add_unpublished(floe_t *db, uint64_t id)
{
    pthread_mutex_lock(&db->manifest_mu);
    /* Without room it stays uploading: the next open uploads it again. */
    if (array_grow(&db->unpublished, &db->cap_unpublished, db->n_unpublished + 1, sizeof *db->unpublished, 16,
                   SIZE_MAX) == 0)
        db->unpublished[db->n_unpublished++] = id;
    pthread_mutex_unlock(&db->manifest_mu);
}

/* An uploader thread: takes the oldest local segment, uploads it, publishes a manifest naming it,
 * and trims local disk (note 5). */
static void *uploader_main(void *arg)
{
    floe_t *db = arg;
    int64_t backoff_ms = 0;
    uint64_t failed_id = 0;
    for (;;) {
        pthread_mutex_lock(&db->state_mu);
        int stop = db->stopping || db->fenced;
        pthread_mutex_unlock(&db->state_mu);
        if (stop || (backoff_ms && uploader_sleep(db, backoff_ms)))
            break;
        int rc = claim_locked(db);
        if (rc < 0) {
            if (rc != FLOE_EFENCED)
                cold_trouble(db, "claiming the bucket prefix", floe_last_error());
            backoff_ms = next_backoff_ms(backoff_ms);
            continue;
        }
        upload_job job = {0};
        int have_unpublished = 0;
        if (!take_job(db, &job, &have_unpublished)) {
            if (have_unpublished && (rc = publish_pending(db)) < 0 && rc != FLOE_EFENCED) {
                backoff_ms = next_backoff_ms(backoff_ms);
                continue;
            }
            backoff_ms = 0;
            if (uploader_sleep(db, 1000))
                break;
            continue;
        }
        rc = upload_file(db, job.key, job.path, job.size, failed_id == job.id);
        free(job.path);
        if (rc < 0) {
            return_job(db, &job);
            failed_id = job.id;
            backoff_ms = next_backoff_ms(backoff_ms);
            continue;
        }
        atomic_fetch_add(&db->n_uploads, 1);
        atomic_fetch_add(&db->n_upload_bytes, job.size);
        add_unpublished(db, job.id);
        rc = publish_pending(db);
        if (rc == FLOE_EFENCED)
            break;
        if (rc < 0) {
            backoff_ms = next_backoff_ms(backoff_ms);
            continue;
        }
        backoff_ms = 0;
        evict_local(db);
    }
    return NULL;
}

int uploader_start(floe_t *db)
{
    int rc = claim_at_open(db);
    if (rc == FLOE_EFENCED)
        return rc;
    pthread_mutex_lock(&db->manifest_mu);
    uploader_recompute_state(db);
    pthread_mutex_unlock(&db->manifest_mu);
    unsigned n = db->opts.upload.concurrency ? db->opts.upload.concurrency : 1;
    db->uploaders = calloc(n, sizeof *db->uploaders);
    if (!db->uploaders)
        return err_set(FLOE_ENOMEM, "floe_open: out of memory");
    for (; db->n_uploaders < n; db->n_uploaders++) {
        if (pthread_create(&db->uploaders[db->n_uploaders], NULL, uploader_main, db) != 0)
            return err_set(FLOE_EIO, "floe_open: cannot start uploader thread %u", db->n_uploaders);
    }
    return 0;
}

void uploader_stop(floe_t *db)
{
    if (!db->n_uploaders && !db->claimer_started)
        return;
    /* An upload to an unreachable store would otherwise wait out its timeouts and retries. */
    cold_cancel(db->cold);
    if (db->claimer_started)
        pthread_join(db->claimer, NULL);
    for (unsigned i = 0; i < db->n_uploaders; i++)
        pthread_join(db->uploaders[i], NULL);
    db->claimer_started = 0;
    db->n_uploaders = 0;
}

int uploader_wait_published(floe_t *db, uint64_t target_id)
{
    int64_t limit_ms = db->opts.upload.flush_timeout_ms;
    struct timespec deadline = clock_deadline_after_ms(limit_ms);
    pthread_mutex_lock(&db->state_mu);
    pthread_cond_broadcast(&db->state_cv); /* wake idle uploaders */
    int timed_out = 0;
    while (db->published_through_id < target_id && !db->fenced && !db->read_only && !db->stopping &&
           !timed_out)
        timed_out = pthread_cond_timedwait(&db->state_cv, &db->state_mu, &deadline) != 0;
    int done = db->published_through_id >= target_id;
    int fenced = db->fenced, stopping = db->stopping;
    char cold_msg[256];
    store_copy_cut(cold_msg, sizeof cold_msg, db->cold_unhealthy ? db->cold_msg : "none");
    pthread_mutex_unlock(&db->state_mu);
    if (done)
        return 0;
    if (fenced)
        return err_set(FLOE_EFENCED, "floe_flush: this writer was fenced: %s", cold_msg);
    if (db->read_only)
        return store_read_only_error(db);
    if (stopping)
        return err_set(FLOE_ECLOSED, "floe_flush: %s: store is closing", db->dir);
    return err_set(FLOE_ETIMEDOUT,
                   "floe_flush: segments up to %" PRIu64
                   " not yet uploaded after %lld ms (upload.flush_timeout_ms); last cold-tier error: %s",
                   target_id, (long long)limit_ms, cold_msg);
}
