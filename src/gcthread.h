/* The store's background gc: one thread that, every gc.interval_s, runs gc (gc.h) on the cold tier
 * if the store published a remote manifest since its last run, so the bucket stays bounded without
 * an operator running `floe gc`, and an idle store sends the cold tier nothing.
 *
 * Threads: gcthread_start and gcthread_stop are called by open and close only. */
#ifndef FLOE_GCTHREAD_H
#define FLOE_GCTHREAD_H

#include "store.h"

/* Starts the gc thread if the store has a cold tier and gc.interval_s is not 0 (else does
 * nothing). Errors: FLOE_ENOMEM (its condition variable), FLOE_EIO (the thread could not start). */
int gcthread_start(floe_t *db);

/* Wakes the gc thread and joins it; a gc run in progress has its cold calls cancelled (what it
 * did not delete waits for the next run). Safe if never started. Call before the cold store
 * closes. */
void gcthread_stop(floe_t *db);

/* Waits for a gc run in progress to end and keeps new ones from starting until gcthread_resume:
 * compaction holds it while objects it uploaded are not yet named by a published manifest, which a
 * run with a short gc.grace_s would take for orphans. No-op without the gc thread. */
void gcthread_pause(floe_t *db);
void gcthread_resume(floe_t *db);

#endif
