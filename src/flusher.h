/* The seal queue and the segment-file writer: sealing freezes the pending memtable into the queue,
 * and one background thread (the flusher) writes each sealed memtable as a segment file, names it in
 * the manifest, swaps it into the view and releases the WAL files it covered. It also seals the
 * pending memtable by age.
 *
 * Threads: flusher_seal_locked is called with write_mu held, from any thread; flusher_start and
 * flusher_stop by open and close. */
#ifndef FLOE_FLUSHER_H
#define FLOE_FLUSHER_H

#include "segment.h"
#include "store.h"

/* Freezes the pending memtable and queues it for the flusher; a new pending memtable takes writes
 * at once. A no-op when the pending memtable is empty. Needs write_mu. Errors: FLOE_ENOMEM, or the
 * WAL's (the store is then read-only). */
int flusher_seal_locked(floe_t *db);

/* Starts the flusher thread. Errors: FLOE_EIO if it cannot be started. */
int flusher_start(floe_t *db);

/* Stops the flusher: it first writes every sealed memtable still queued (unless the store is
 * read-only), then exits. Sets db->stopping. Safe if the flusher never started. */
void flusher_stop(floe_t *db);

/* The manifest entry of a segment file just written (pointers borrowed from info). */
manifest_segment flusher_segment_entry(const segment_info *info, manifest_seg_state state, uint32_t level);

#endif
