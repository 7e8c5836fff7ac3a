/* The manifest: the list of live segments and the store's counters, as JSON (jansson). Locally it
 * is data_dir/manifest.json, replaced atomically; in the cold tier each version is a new object
 * manifest/<20-digit version>.json. Exact fields in docs/formats.md. A "checksum" field (CRC32C of
 * the compact, key-sorted JSON without it) catches damage that still parses.
 *
 * Threads: a manifest value is plain data; the store guards its copy with its own mutex. */
#ifndef FLOE_MANIFEST_H
#define FLOE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "prefixdel.h"

/* Segment states, a segment's life:
 *
 *   sealed in memory --write+fsync--> LOCAL --uploader picks--> UPLOADING --PUT ok + manifest
 *   published--> LOCAL_REMOTE --local file evicted--> REMOTE
 */
typedef enum manifest_seg_state {
    SEG_LOCAL = 0,
    SEG_UPLOADING = 1,
    SEG_REMOTE = 2,
    SEG_LOCAL_REMOTE = 3,
} manifest_seg_state;

const char *manifest_state_name(manifest_seg_state s); /* "local", "uploading", "remote", "local+remote" */

typedef struct manifest_segment {
    uint64_t id;
    char *object_key;   /* malloc'd; "" until known */
    uint64_t size;      /* bytes */
    uint32_t crc32c;    /* of the whole file */
    uint8_t *min_key;   /* malloc'd */
    uint32_t min_key_len;
    uint8_t *max_key;   /* malloc'd */
    uint32_t max_key_len;
    uint64_t min_seq, max_seq;
    uint64_t count;
    uint64_t epoch;
    int64_t created_unix_s;
    manifest_seg_state state;
    uint32_t level; /* 0: freshly sealed, ranges may overlap; 1..MANIFEST_MAX_LEVEL: compacted, one
                     * sorted run per level whose segments never overlap (compact.c) */
    uint64_t expires_ms; /* when its first version expires under the retention rules it was written
                          * with (unix ms), 0 if none does: compaction rewrites it then */
    int retired;    /* replaced by compaction outputs not yet published: no reader uses it, but the
                     * remote manifest names it until the outputs are published (state is remote) */
} manifest_segment;

/* The deepest level compaction writes. */
#define MANIFEST_MAX_LEVEL 15

typedef struct manifest {
    uint64_t version;         /* bumped on every save */
    uint64_t writer_epoch;
    uint64_t next_segment_id;
    uint64_t last_seq;        /* highest seq in any listed segment */
    uint64_t wal_first_file;  /* WAL files below this are covered by segments */
    uint64_t remote_version;  /* last manifest version published to the cold tier, 0 if none */
    size_t count;
    size_t cap;
    manifest_segment *segments; /* ordered by id ascending */
    size_t n_prefix_dels;
    prefix_del *prefix_dels; /* floe_delete_prefix records covered by segments (seq <= last_seq) */
} manifest;

/* Allocates an empty manifest (version 0, next_segment_id 1). Free with manifest_free. */
int manifest_create(manifest **out);
void manifest_free(manifest *m);
int manifest_clone(const manifest *m, manifest **out);

/* Appends a deep copy of seg (ids must increase). */
int manifest_add(manifest *m, const manifest_segment *seg);
/* Inserts a deep copy of seg at its place in id order; FLOE_EINVAL if its id is already there. */
int manifest_insert(manifest *m, const manifest_segment *seg);
/* Appends a copy of a prefix delete. */
int manifest_add_prefix_del(manifest *m, const void *prefix, size_t len, uint64_t seq);
/* Finds a segment by id; NULL if absent. The pointer is valid until m changes. */
manifest_segment *manifest_find(manifest *m, uint64_t id);
/* Removes the segment with id; returns FLOE_ENOTFOUND if absent. */
int manifest_remove(manifest *m, uint64_t id);
void manifest_segment_clear(manifest_segment *seg);
/* Deep-copies src into *dst (overwritten); a NULL object_key becomes "". */
int manifest_segment_copy(manifest_segment *dst, const manifest_segment *src);

/* The largest manifest a reader accepts, local (manifest_load) or remote (remote_read_manifest):
 * about half a million segments. */
#define MANIFEST_MAX_BYTES (256u * 1024 * 1024)

/* Serialises to JSON (malloc'd, NUL-terminated, caller frees). FLOE_ETOOBIG when the JSON would be
 * larger than MANIFEST_MAX_BYTES: a writer never makes a manifest its own reader refuses. */
int manifest_to_json(const manifest *m, char **json_out, size_t *len_out);

/* manifest_to_json with the cap max_bytes instead of MANIFEST_MAX_BYTES (tests use a small one). */
int manifest_to_json_within(const manifest *m, size_t max_bytes, char **json_out, size_t *len_out);
/* Parses JSON; `name` (a path or object key) goes into error messages. Errors: FLOE_ECORRUPT naming
 * name and what is wrong (truncated, bad field, checksum mismatch). */
int manifest_from_json(const char *json, size_t len, const char *name, manifest **out);

/* Loads dir/manifest.json. FLOE_ENOTFOUND if it does not exist; FLOE_ECORRUPT if damaged. */
int manifest_load(const char *dir, manifest **out);
/* Bumps m->version and replaces dir/manifest.json atomically: temp file, fsync, rename, fsync dir. */
int manifest_save(const char *dir, manifest *m);

#endif
