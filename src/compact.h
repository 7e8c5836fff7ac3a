/* Compaction: merges segments into sorted, non-overlapping levels so that a point read consults a
 * bounded number of segments, and drops what no reader can see any more (overwritten versions,
 * tombstones that hide nothing older). The design, its amplification and its protocol with the cold
 * tier are in docs/architecture.md, "Compaction"; the levels in docs/formats.md, "Manifest".
 *
 * Threads: one background compaction thread per store, and floe_compact in a caller's thread; one
 * job runs at a time (compact_job_mu, taken before any other store lock). */
#ifndef FLOE_COMPACT_H
#define FLOE_COMPACT_H

#include "store.h"

/* Prepares compaction (removes leftover downloads) and starts the thread unless
 * compaction.l0_trigger is 0. */
int compact_start(floe_t *db);
/* Stops the thread; a job in progress gives up at its next check and leaves no trace. */
void compact_stop(floe_t *db);
/* Tells the compaction thread the shape may have changed (a segment written or published). */
void compact_notify(floe_t *db);
/* Removes from the manifest (and the store's set) the prefix deletes that no live segment needs
 * any more (compact.c note 9). Needs manifest_mu, no retired segment; takes state_mu. */
int compact_forget_prefix_dels(floe_t *db);

/* Sets db->compaction_behind from the level-0 segments compaction could merge now against
 * compaction.l0_stop, and wakes waiting writers when it clears. Needs manifest_mu; takes state_mu. */
void compact_update_backlog(floe_t *db);

/* Jobs due now (level 0 at its trigger, each level over its target); needs manifest_mu. */
uint64_t compact_queue_depth(floe_t *db);

#endif
