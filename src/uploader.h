/* The uploader: background threads that copy sealed segment files to the cold tier, publish remote
 * manifests naming them (claiming the writer epoch first), evict uploaded local files past
 * local.max_bytes, back off while the cold tier fails, and keep the cold tier's health for stats.
 * The remote manifest protocol itself (claim, publish, fencing) is remote.c's.
 *
 * Threads: uploader_start and uploader_stop are called by open and close; the rest from any
 * thread, with the locks each names. */
#ifndef FLOE_UPLOADER_H
#define FLOE_UPLOADER_H

#include "store.h"

/* Claims the writer epoch (waiting at most a few seconds for the cold tier) and starts the uploader
 * threads. A cold tier that is down or slow does not fail this: the claim goes on in the background.
 * Errors: FLOE_EFENCED if the cold tier answered that another writer owns the prefix, FLOE_ENOMEM,
 * FLOE_EIO (a thread could not start). */
int uploader_start(floe_t *db);

/* Cancels cold-tier calls in flight and joins the uploader and claim threads; db->stopping must be
 * set. What was not finished is uploaded again after the next open. Safe if never started. */
void uploader_stop(floe_t *db);

/* Recomputes which segments are named remotely and how many bytes wait for upload, and wakes
 * waiters. Needs manifest_mu; takes state_mu. */
void uploader_recompute_state(floe_t *db);

/* Waits until every segment up to target_id is named by a published remote manifest, at most
 * upload.flush_timeout_ms. Errors: FLOE_EFENCED, FLOE_EREADONLY, FLOE_ECLOSED (the store is
 * closing), FLOE_ETIMEDOUT (naming the last cold-tier error). */
int uploader_wait_published(floe_t *db, uint64_t target_id);

/* Publishes, now and in this thread, what can be published (claiming the epoch first if needed),
 * then evicts local files past local.max_bytes as an upload does. Returns 0 (also when nothing
 * waits), FLOE_EFENCED, or the cold tier's error. Takes publish_mu. */
int uploader_publish(floe_t *db);

#endif
