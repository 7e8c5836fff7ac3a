/* gc of the cold tier: deletes old manifest versions and orphaned segment objects, keeping what a
 * restore or a running writer may still need (the invariants are at the top of gc.c). `floe gc`
 * runs it on demand, the store's gc thread (gcthread.c) in the background.
 *
 * Threads: gc_run keeps its state on the caller's stack; the cold_t it is given may be shared. */
#ifndef FLOE_GC_H
#define FLOE_GC_H

#include <stdint.h>
#include <stdio.h>

#include "cold.h"

/* How many manifest versions gc keeps however old they are (`floe gc` and the gc thread). */
#define GC_KEEP_MANIFESTS 10

/* What one gc run did (or, in a dry run, would do). */
typedef struct gc_result {
    uint64_t manifests_deleted;
    uint64_t orphans_deleted;      /* segment objects */
    uint64_t orphan_bytes_deleted; /* their sizes, summed */
    uint64_t young_orphans_kept;   /* orphans younger than the grace period */
    uint64_t pending_orphans_kept; /* above every named id: uploads the writer may still publish */
    uint64_t newest_manifest_version;
    uint64_t max_named_id;
} gc_result;

/* Progress of the deletions, for a meter: begin once with the number of objects to delete, step
 * after each one, end once when the loop stops (also after an error). Any pointer may be NULL;
 * ctx is passed to each. */
typedef struct gc_progress {
    void (*begin)(void *ctx, int dry_run, uint64_t total);
    void (*step)(void *ctx);
    void (*end)(void *ctx);
    void *ctx;
} gc_progress;

/* Deletes from c the manifest versions older than the newest keep_manifests (at least 1) and older
 * than grace_s, then the segment objects that no kept manifest names and that are older than
 * grace_s and not above the newest id named. dry_run deletes nothing and reports what it would.
 * out (NULL: print nothing) gets one line per object and a summary; progress (NULL: none) follows
 * the deletions. *res (may be NULL) gets the counts, also when a delete failed part way (what was
 * deleted before it is counted). Errors: FLOE_EINVAL (NULL c, a
 * negative grace_s), FLOE_ENOTFOUND (no manifest in the bucket: nothing is deleted),
 * FLOE_ECORRUPT (a manifest that stays does not parse: nothing is deleted), the cold store's
 * errors (a delete that fails stops the run; what was deleted before stays deleted), FLOE_ENOMEM. */
int gc_run(cold_t *c, int64_t grace_s, unsigned keep_manifests, int dry_run, FILE *out,
           const gc_progress *progress, gc_result *res);

#endif
