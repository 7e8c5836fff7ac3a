/* The manifest in the cold tier: numbered, never-overwritten objects manifest/<20-digit
 * version>.json (docs/formats.md, "Bucket layout"), and the writer-epoch fencing built on them.
 * The operator tools that work from the bucket alone (restore, fsck, gc) are in src/tools/tools.h.
 *
 * Order of every change (docs/architecture.md, "The life of a segment"): the segment object is PUT
 * first, then a manifest naming it; objects no longer named are deleted only by gc, after a grace
 * period.
 *
 * Threads: the functions are stateless over a cold_t (itself thread-safe); callers serialise
 * remote_publish calls for one writer. */
#ifndef FLOE_REMOTE_H
#define FLOE_REMOTE_H

#include <stdint.h>

#include "cold.h"
#include "manifest.h"

/* Largest manifest object read back (a cap, not a realloc): what manifest_to_json writes at most. */
#define REMOTE_MANIFEST_MAX_BYTES MANIFEST_MAX_BYTES

/* Reads and parses the manifest object at key, which must hold the given version. On success *out
 * (caller frees with manifest_free) has every segment in state SEG_REMOTE. FLOE_ECORRUPT naming key
 * if the object is larger than REMOTE_MANIFEST_MAX_BYTES, does not parse, holds another version or
 * names a segment without an object_key; otherwise the cold store's errors. */
int remote_read_manifest(cold_t *c, const char *key, uint64_t version, manifest **out);

/* Finds the newest manifest object. On success *version_out is its version and *out (caller
 * frees with manifest_free) its content, with every segment in state SEG_REMOTE. FLOE_ENOTFOUND if
 * the bucket prefix has no manifest; FLOE_ECORRUPT naming the object if it does not parse. */
int remote_latest(cold_t *c, uint64_t *version_out, manifest **out);

/* remote_latest for a writer that has published version known before (0: none): lists only the
 * versions from known on, so it costs one LIST page however many older versions the bucket holds,
 * and falls back to the whole listing when none is there any more. Same results and errors. */
int remote_latest_from(cold_t *c, uint64_t known, uint64_t *version_out, manifest **out);

/* Builds the remote form of m: only segments that are fully uploaded (state SEG_REMOTE or
 * SEG_LOCAL_REMOTE, plus any whose id is in extra_ids[0..n_extra) — uploaded but not yet published)
 * are named, all in state "remote", each with its object_key; version = version. Caller frees. */
int remote_manifest_build(const manifest *m, const uint64_t *extra_ids, size_t n_extra, uint64_t version,
                          manifest **out);

/* remote_publish's answer when the version already holds this writer's own earlier manifest. */
#define REMOTE_PUBLISHED_BEFORE 2

/* Publishes remote (built by remote_manifest_build) as manifest/<remote->version>.json with
 * If-None-Match: *, after checking that no version after remote->version - 1 is from a newer
 * writer epoch (FLOE_EFENCED: gc may have deleted the version this writer wants, so the create
 * alone would not tell). The check costs one LIST that starts after the previous version's key. A retry after a lost answer with the same bytes returns 0. If the version
 * already exists with other bytes, reads it: from a newer writer epoch, returns FLOE_EFENCED
 * ("fenced: writer epoch N published version V; this writer (epoch M) stops"); from this writer's
 * own epoch (an earlier attempt whose answer was lost, made before more segments were uploaded),
 * returns REMOTE_PUBLISHED_BEFORE with that manifest in *earlier (the caller frees it, records what
 * it names as published and publishes the rest at the next version); from an older epoch,
 * FLOE_ECOLD naming the conflict. Other errors: the cold store's. */
int remote_publish(cold_t *c, const manifest *remote, manifest **earlier);

/* Claims the bucket prefix for the writer whose local manifest is m, at open: reads the newest
 * remote manifest R. If R names a segment object that m does not have, the prefix belongs to
 * another writer's data: FLOE_EFENCED with a message that says to run `floe restore` into an empty
 * data directory to take it over. Otherwise sets m->writer_epoch = max(m, R) + 1 and publishes
 * version R.version + 1 (1 for an empty prefix) naming m's uploaded segments; on success
 * m->remote_version is that version. A running older writer is fenced by this. If the newest
 * manifest has m's own writer epoch and names one of m's segments under this epoch's object key
 * (uploaded and published before a stop cut off the local save), that segment's object_key and
 * state (SEG_LOCAL_REMOTE) in m are updated: the caller saves them. */
int remote_claim(cold_t *c, manifest *m);

#endif
