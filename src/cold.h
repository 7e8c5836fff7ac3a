/* The cold store: where sealed segments and published manifests live, behind one small interface
 * with two backends, a directory (`fs`: the embedded default, or a mounted disk) and S3 (`s3`). This
 * header is what users of the cold tier call; what a backend implements is in cold_backend.h. The
 * bucket layout (which keys floe writes) is in docs/formats.md, section "Bucket layout";
 * cold_segment_key and cold_manifest_key build them.
 *
 * Keys are relative to the backend's root (the directory, or the bucket and prefix): 1 to
 * FLOE_MAX_KEY_BYTES bytes, no NUL or control characters, no leading '/', and no empty, "." or ".."
 * segment. Any other bytes (spaces, '+', '=', '%', UTF-8) are fine. The s3 backend also needs the key
 * with its prefix to fit S3's 1024 bytes; the fs backend needs every segment to be at most 255 bytes
 * (a file name) and no key to be both an object and a directory of others ("a/b" and "a/b/c").
 * floe's own keys (cold_segment_key, cold_manifest_key) meet all of these.
 *
 * Threads: every function may be called from any number of threads at once on the same cold_t,
 * except cold_close, which must be the last call. */
#ifndef FLOE_COLD_H
#define FLOE_COLD_H

#include "floe.h"
#include "s3.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cold cold_t;

/* cold_put with if_none_match: the key already exists with other content. Distinct from every
 * FLOE_E* code. */
#define COLD_EXISTS 1
/* Size of an ETag buffer, NUL included. */
#define COLD_ETAG_MAX S3_ETAG_MAX
/* Longest key cold_segment_key or cold_manifest_key makes, NUL included. */
#define COLD_LAYOUT_KEY_MAX 64

/* Opens the directory dir as a cold store, creating it if missing. Objects are files under it.
 * *out is closed with cold_close. Errors: FLOE_EINVAL, FLOE_EIO (naming dir), FLOE_ENOMEM. */
int cold_open_fs(const char *dir, cold_t **out);

/* Opens an S3 bucket (cfg's prefix applies to every key). No request is sent; see s3_client_create
 * for the checks and errors. */
int cold_open_s3(const s3_config *cfg, cold_t **out);

/* Opens the cold store that o->cold describes (FLOE_COLD_FS or FLOE_COLD_S3). With make_dirs the
 * fs directory is created with its parents (a store's default cold tier lives inside its data
 * directory). Errors: FLOE_EINVAL for FLOE_COLD_NONE or an unknown backend, else those of
 * cold_open_fs, file_mkdir_p or cold_open_s3. */
int cold_open_options(const floe_options *o, int make_dirs, cold_t **out);

/* Stores len bytes at key, replacing any object there; readers see the old or the new object,
 * never a mix. With if_none_match it only creates: if key exists, returns 0 when the existing
 * object has exactly these bytes (so a retry after a lost answer succeeds) and COLD_EXISTS
 * otherwise; of racing creators with different bytes exactly one gets 0. Returns 0 or COLD_EXISTS;
 * errors: FLOE_EINVAL (bad key), FLOE_EIO, FLOE_ECOLD. */
int cold_put(cold_t *c, const char *key, const void *data, size_t len, int if_none_match);

/* Stores the file at path under key (the s3 backend uses a multipart upload above part_bytes,
 * which must then be at least S3_MIN_PART_BYTES). The file must not change during the call.
 * Errors as cold_put, and FLOE_ENOTFOUND if path does not exist. */
int cold_put_file(cold_t *c, const char *key, const char *path, uint64_t part_bytes);

/* Reads exactly len bytes of key at offset into buf. Errors: FLOE_ENOTFOUND, FLOE_ERANGE (the
 * object ends before offset + len; the message gives its size), FLOE_EIO, FLOE_ECOLD. */
int cold_get_range(cold_t *c, const char *key, uint64_t offset, void *buf, size_t len);

/* Reads a whole object of at most max_len bytes. On success *data is malloc'd, NUL-terminated one
 * byte past *len and owned by the caller. Errors: FLOE_ENOTFOUND, FLOE_ETOOBIG, FLOE_ENOMEM,
 * FLOE_EIO, FLOE_ECOLD. */
int cold_get(cold_t *c, const char *key, void **data, size_t *len, size_t max_len);

/* Size and ETag (an opaque version tag: it changes when the object is replaced) of key; either
 * out-parameter may be NULL. Errors: FLOE_ENOTFOUND, FLOE_EIO, FLOE_ECOLD. */
int cold_head(cold_t *c, const char *key, uint64_t *size, char etag[COLD_ETAG_MAX]);

/* Deletes key; deleting a missing key succeeds. Errors: FLOE_EIO, FLOE_ECOLD. */
int cold_delete(cold_t *c, const char *key);

/* Called by cold_list for each key, in bytewise key order. key is valid only during the call.
 * Return 0 to go on; anything else stops the listing and cold_list returns it. */
typedef int (*cold_list_fn)(void *ctx, const char *key, uint64_t size, int64_t mtime_unix_s);

/* Lists every key that starts with prefix ("" for all), through every page. Errors: FLOE_EIO,
 * FLOE_ECOLD, or fn's non-zero value. */
int cold_list(cold_t *c, const char *prefix, cold_list_fn fn, void *ctx);

/* cold_list of only the keys that sort after start_after (NULL or "": every key): the s3 backend
 * asks the store to start there (ListObjectsV2 start-after), so finding what is newer than a known
 * key costs one request however many older keys there are. Errors as cold_list. */
int cold_list_after(cold_t *c, const char *prefix, const char *start_after, cold_list_fn fn, void *ctx);

/* Copies per-operation counters (floe_cold_op): requests sent (every attempt), calls that failed,
 * and attempts that were retries. The fs backend counts calls as requests and never retries. Any
 * array may be NULL. */
void cold_get_counters(cold_t *c, uint64_t requests[FLOE_COLD_OP_COUNT], uint64_t errors[FLOE_COLD_OP_COUNT],
                       uint64_t retries[FLOE_COLD_OP_COUNT]);

/* 0 if healthy; FLOE_ECOLD (s3: bad credentials, missing bucket...) or FLOE_EIO (fs: the directory
 * is gone or unwritable) with the reason copied into msg (cap bytes, NUL-terminated). */
int cold_health(cold_t *c, char *msg, size_t cap);

/* Makes calls in flight and later calls give up at once (FLOE_ECLOSED) instead of waiting out
 * timeouts and retries; for closing a store. A backend without slow calls (fs) ignores it. */
void cold_cancel(cold_t *c);

/* The backend's name: "fs", "s3", or a wrapper's own (the tests' fault wrapper is "fault"). */
const char *cold_backend_name(const cold_t *c);

/* Frees c (and, for a wrapper, the store it wraps). NULL is a no-op. */
void cold_close(cold_t *c);

/* Bucket layout (docs/formats.md, "Bucket layout"). */

/* Writes "segments/<hh>/<id>-<epoch>.seg" into out, hh being cold_segment_shard(id). */
void cold_segment_key(uint64_t id, uint64_t epoch, char out[COLD_LAYOUT_KEY_MAX]);
/* Writes "manifest/<version as 20 digits>.json" into out; key order is version order. */
void cold_manifest_key(uint64_t version, char out[COLD_LAYOUT_KEY_MAX]);
/* The 2-hex-digit shard of a segment id: the low byte of splitmix64(id). */
unsigned cold_segment_shard(uint64_t id);
/* Parse keys made by the two functions above (exactly: other keys are FLOE_EINVAL), e.g. to find
 * the newest manifest or orphaned segments. Out-parameters are untouched on failure. */
int cold_parse_segment_key(const char *key, uint64_t *id, uint64_t *epoch);
int cold_parse_manifest_key(const char *key, uint64_t *version);

#endif
