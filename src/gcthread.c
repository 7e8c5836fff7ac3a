/* The background gc thread (see gcthread.h).
 *
 * Invariants:
 *  1. A run happens only when the manifest's remote_version differs from the one the last
 *     successful run started with: a store that published nothing since sends no cold request.
 *     A failed run leaves that mark alone, so the next interval tries again.
 *  2. No run starts while the store is read-only, fenced or closing.
 *  3. gc_mu is a leaf: the thread holds it only to wait and to flag a run, never while it takes
 *     manifest_mu or state_mu (which it takes one at a time, each alone).
 *  5. No run starts while compaction holds it paused (gcthread_pause), and a pause waits for the
 *     run in progress: objects uploaded but not yet published are never seen as orphans.
 *  4. The thread deletes only what gc_run would delete for `floe gc --grace-s gc.grace_s`
 *     (gc.c's invariants), keeping the newest GC_KEEP_MANIFESTS manifests.
 */
#include "gcthread.h"

#include <inttypes.h>

#include "clock.h"
#include "gc.h"

/* Waits up to interval_s on gc_cv; returns 1 once the store is closing. */
static int gc_sleep(floe_t *db, int64_t interval_s)
{
    struct timespec deadline = clock_deadline_after_ms(interval_s * 1000);
    pthread_mutex_lock(&db->gc_mu);
    while (!db->gc_stopping && pthread_cond_timedwait(&db->gc_cv, &db->gc_mu, &deadline) == 0)
        ; /* a broadcast for a pause is not for this thread: sleep on */
    int stop = db->gc_stopping;
    pthread_mutex_unlock(&db->gc_mu);
    return stop;
}

/* The remote manifest version to gc for, or 0 when no run is due: nothing published since
 * last_version (invariant 1), or the store is read-only or fenced (invariant 2). */
static uint64_t due_version(floe_t *db, uint64_t last_version)
{
    pthread_mutex_lock(&db->state_mu);
    int blocked = db->fenced || db->stopping || atomic_load(&db->read_only);
    pthread_mutex_unlock(&db->state_mu);
    if (blocked)
        return 0;
    pthread_mutex_lock(&db->manifest_mu);
    uint64_t v = db->man->remote_version;
    pthread_mutex_unlock(&db->manifest_mu);
    return v != last_version ? v : 0;
}

/* One gc run, with its counters and log lines. Returns 0, 1 if compaction paused gc, or gc_run's
 * error. */
static int run_once(floe_t *db)
{
    gc_result r = {0};
    pthread_mutex_lock(&db->gc_mu);
    int stop = db->gc_stopping, paused = db->gc_paused;
    db->gc_running = !stop && !paused;
    pthread_mutex_unlock(&db->gc_mu);
    if (stop)
        return FLOE_ECLOSED;
    if (paused)
        return 1; /* invariant 5: not a failure; the next interval tries again */
    int rc = gc_run(db->cold, db->opts.gc.grace_s, GC_KEEP_MANIFESTS, 0, NULL, NULL, &r);
    pthread_mutex_lock(&db->gc_mu);
    db->gc_running = 0;
    pthread_cond_broadcast(&db->gc_cv);
    stop = db->gc_stopping;
    pthread_mutex_unlock(&db->gc_mu);
    uint64_t deleted = r.manifests_deleted + r.orphans_deleted; /* a failed run's too */
    atomic_fetch_add(&db->n_gc_objects_deleted, deleted);
    if (rc < 0) {
        if (!stop) {
            atomic_fetch_add(&db->n_gc_errors, 1);
            store_log(db, 1, "gc: %s; trying again in %" PRIu32 " s (gc.interval_s)", floe_last_error(),
                      db->opts.gc.interval_s);
        }
        return rc;
    }
    atomic_fetch_add(&db->n_gc_runs, 1);
    if (deleted)
        store_log(db, 2,
                  "gc: deleted %" PRIu64 " old manifest versions and %" PRIu64
                  " orphaned segment objects (%" PRIu64
                  " bytes) from the cold tier; newest manifest version %" PRIu64,
                  r.manifests_deleted, r.orphans_deleted, r.orphan_bytes_deleted, r.newest_manifest_version);
    return 0;
}

static void *gc_main(void *arg)
{
    floe_t *db = arg;
    uint64_t last_version = 0;
    while (!gc_sleep(db, db->opts.gc.interval_s)) {
        uint64_t v = due_version(db, last_version);
        if (v && run_once(db) == 0)
            last_version = v;
    }
    return NULL;
}

int gcthread_start(floe_t *db)
{
    if (!db->cold || db->opts.gc.interval_s == 0)
        return 0;
    if (clock_cond_init(&db->gc_cv) != 0)
        return err_set(FLOE_ENOMEM, "floe_open: cannot create the gc thread's condition variable");
    pthread_mutex_init(&db->gc_mu, NULL);
    if (pthread_create(&db->gc_thread, NULL, gc_main, db) != 0) {
        pthread_mutex_destroy(&db->gc_mu);
        pthread_cond_destroy(&db->gc_cv);
        return err_set(FLOE_EIO, "floe_open: cannot start the gc thread");
    }
    db->gc_started = 1;
    return 0;
}

void gcthread_stop(floe_t *db)
{
    if (!db->gc_started)
        return;
    pthread_mutex_lock(&db->gc_mu);
    db->gc_stopping = 1;
    int running = db->gc_running;
    pthread_cond_broadcast(&db->gc_cv);
    pthread_mutex_unlock(&db->gc_mu);
    /* A run against a slow or unreachable cold tier would otherwise hold close up for its
     * timeouts and retries; the uploaders' calls are cancelled a moment later by close anyway. */
    if (running)
        cold_cancel(db->cold);
    pthread_join(db->gc_thread, NULL);
    pthread_mutex_destroy(&db->gc_mu);
    pthread_cond_destroy(&db->gc_cv);
    db->gc_started = 0;
}

void gcthread_pause(floe_t *db)
{
    if (!db->gc_started)
        return;
    pthread_mutex_lock(&db->gc_mu);
    db->gc_paused++;
    while (db->gc_running)
        pthread_cond_wait(&db->gc_cv, &db->gc_mu);
    pthread_mutex_unlock(&db->gc_mu);
}

void gcthread_resume(floe_t *db)
{
    if (!db->gc_started)
        return;
    pthread_mutex_lock(&db->gc_mu);
    if (db->gc_paused)
        db->gc_paused--;
    pthread_mutex_unlock(&db->gc_mu);
}
