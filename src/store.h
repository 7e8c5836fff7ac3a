/* The store's internal header: `struct floe`, shared by the modules that make up a store (store.c:
 * open, close, flush and stats; write.c: the write path; read.c: point reads; list.c: the list
 * merge; view.c: views, segment references and the cold metadata cache; flusher.c: the seal queue
 * and the segment-file writer; uploader.c: the cold tier's uploads, publication and eviction;
 * gcthread.c: the background gc of the cold tier).
 * Nothing outside those files includes it, except tests and tools through store_open_with_cold.
 *
 * Lock order (a thread holding one may take only those after it):
 *
 *     compact_job_mu  ->  write_mu  ->  publish_mu  ->  manifest_mu  ->  state_mu
 *
 * Every other lock is a leaf that is never held while taking one of these: the mutexes inside the
 * WAL, the lru caches (object cache, decoded blocks, cold metadata), the block cache, the cold
 * store, gc_mu and compact_mu. view_acquire takes state_mu alone. A cold segment's reader is pinned by its metadata-cache
 * handle, not by a lock of the store's.
 */
#ifndef FLOE_STORE_H
#define FLOE_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "blockcache.h"
#include "cold.h"
#include "entry.h"
#include "error.h"
#include "floe.h"
#include "lru.h"
#include "manifest.h"
#include "memtable.h"
#include "object.h"
#include "prefixdel.h"
#include "wal.h"

typedef struct view view;

/* A sealed memtable waiting for its segment file (the seal queue, state_mu). */
typedef struct sealed {
    memtable_t *mem;
    uint64_t id;
    uint64_t wal_next_file; /* WAL files below this hold only this and older memtables */
    uint64_t bytes;
    uint64_t seal_no; /* 1-based count of seals */
} sealed;

struct floe {
    /* Set by open and read-only until close: any thread may read them without a lock. */
    char *dir;
    char *wal_dir;
    char *seg_dir;
    floe_options opts;
    char *option_strings[8]; /* the store's copies of the string options */
    void *retention_rules;   /* the store's copy of the retention rules (retention_copy), or NULL */
    int lock_fd;
    wal_t *wal;
    lru_t *object_cache;   /* NULL when cache.object_bytes is 0 */
    lru_t *decoded_blocks; /* decompressed segment blocks, shared by every reader; may be NULL */
    lru_t *meta_cache;     /* footer, index and bloom of cold segments (view.c) */
    cold_t *cold;          /* NULL without a cold tier */
    blockcache *bcache;    /* with a cold tier only */

    /* write_mu: sequence numbers, WAL appends, the pending memtable, seals. */
    pthread_mutex_t write_mu;
    uint64_t last_seq;
    memtable_t *mem;
    int64_t mem_first_write_ms;
    uint64_t next_segment_id;

    /* publish_mu: one remote manifest publication at a time, and the writer-epoch claim. */
    pthread_mutex_t publish_mu;
    int claimed; /* the writer epoch is claimed in the bucket */

    /* manifest_mu: the manifest, saving it, and segments uploaded but not yet published. */
    pthread_mutex_t manifest_mu;
    manifest *man;
    uint64_t compact_inflight_id; /* the first id of a compaction's outputs not yet named, or 0 */
    uint64_t *unpublished;
    size_t n_unpublished, cap_unpublished;

    /* state_mu and state_cv: the view, the seal queue, progress of seals and uploads, health. Every
     * change a waiter may care about broadcasts state_cv (a CLOCK_MONOTONIC condition variable). */
    pthread_mutex_t state_mu;
    pthread_cond_t state_cv;
    view *cur;
    pdel_set *pdels; /* every prefix delete in force: the manifest's and those still only in the WAL */
    sealed *queue; /* oldest first */
    size_t n_queue, cap_queue;
    uint64_t seals_issued;
    uint64_t seals_written;
    int stopping;
    char read_only_msg[256];
    uint64_t published_through_id; /* every segment up to this id is named remotely */
    int cold_unhealthy;
    char cold_msg[256];
    int fenced;
    int claim_done, claim_rc; /* the claim started by open */
    char claim_msg[512];

    /* Atomics: written under state_mu (or by their owner), read anywhere without a lock. */
    atomic_uint_fast64_t visible_seq; /* readers see seq <= this; it passes a seq once durable */
    _Atomic uint64_t unwritten_bytes;      /* sealed, not yet in segment files */
    atomic_size_t n_pdels;                 /* db->pdels->n: 0 lets a cached read skip the check */
    atomic_int compaction_behind;          /* compact_update_backlog: writers wait while it is 1 */
    _Atomic uint64_t bytes_pending_upload; /* in segment files, not yet named remotely */
    atomic_int read_only;                  /* sticky after a failed write, fsync or save */
    atomic_uint_fast64_t n_puts, n_deletes, n_gets, hits_memory, hits_local, hits_cold, misses;
    atomic_uint_fast64_t n_uploads, n_upload_bytes;
    atomic_uint_fast64_t n_gc_runs, n_gc_objects_deleted, n_gc_errors;

    /* gc_mu and gc_cv (CLOCK_MONOTONIC), a leaf: the gc thread's sleep and whether it is in a run
     * (gcthread.c). Initialised only when the gc thread starts. */
    pthread_mutex_t gc_mu;
    pthread_cond_t gc_cv;
    int gc_stopping;
    int gc_running;

    /* compact_job_mu: one compaction job at a time (compact.c), held for the whole job. compact_mu
     * and compact_cv (CLOCK_MONOTONIC), a leaf: the compaction thread's wakeups. The cursors say
     * where in each level the next job starts (round robin over the key space). */
    pthread_mutex_t compact_job_mu;
    pthread_mutex_t compact_mu;
    pthread_cond_t compact_cv;
    int compact_stopping, compact_pending;
    uint8_t compact_cursor[MANIFEST_MAX_LEVEL + 1][FLOE_MAX_KEY_BYTES];
    uint32_t compact_cursor_len[MANIFEST_MAX_LEVEL + 1];
    atomic_uint_fast64_t n_compactions, n_compaction_moves, n_compact_bytes_read, n_compact_bytes_written,
        n_compact_errors, n_compact_expired, n_compaction_drops;
    int gc_paused; /* gc_mu: compaction has uploaded outputs that no manifest names yet */

    /* obj_mu, a leaf: the chunked objects being written (object.c note 2), whose chunks the sweep
     * must not touch; and the sweep's own state. */
    pthread_mutex_t obj_mu;
    uint8_t (*obj_active)[16];
    size_t n_obj_active, cap_obj_active;
    pthread_mutex_t sweep_mu; /* one sweep at a time */
    uint64_t sweep_seq;       /* sweep_mu: db->last_seq when the last sweep began */
    int64_t sweep_ms;         /* sweep_mu: when it began (clock_now_ms), 0 before the first */
    int sweep_waiting;        /* sweep_mu: it left dead objects waiting out gc.grace_s (or failed) */
    atomic_uint_fast64_t n_chunked_reclaimed; /* chunked objects whose chunks a sweep deleted */

    /* Threads: started by open, joined by close (which sets stopping first). */
    pthread_t flusher;
    int flusher_started;
    pthread_t *uploaders;
    unsigned n_uploaders;
    pthread_t claimer;
    int claimer_started;
    pthread_t gc_thread;
    int gc_started;
    pthread_t compactor;
    int compactor_started;
};

/* floe_open with a cold store the caller built (e.g. a fault-injecting wrapper); the store takes
 * ownership of cold whatever the result. opts->cold.backend is ignored. */
int store_open_with_cold(const char *dir, const floe_options *opts, cold_t *cold, floe_t **out);

/* A log line through opts.log_fn (or stderr); level 0 error, 1 warning, 2 info. */
void store_log(floe_t *db, int level, const char *fmt, ...) FLOE_PRINTF(3, 4);

/* Makes the store read-only for good, recording what as the reason, and wakes every waiter. */
void store_mark_read_only(floe_t *db, const char *what);

/* store_mark_read_only for a writer a newer epoch fenced: sets fenced and read_only at once. */
void store_mark_fenced(floe_t *db, const char *what);

/* Sets and returns FLOE_EREADONLY with a message naming the directory and the reason. */
int store_read_only_error(floe_t *db);

/* The path of segment id's file in the segment directory, with suffix ("" or ".tmp"); malloc'd,
 * NULL if out of memory. */
char *store_segment_path(floe_t *db, uint64_t id, const char *suffix);

/* 0 if key is 1..FLOE_MAX_KEY_BYTES bytes and not reserved (object.h), else FLOE_EKEY with a
 * message. */
int store_check_key(const void *key, size_t key_len);

/* 0 if ct (may be NULL) is a valid content type, with *len_out its length; else FLOE_EINVAL. */
int store_check_content_type(const char *ct, size_t *len_out);

/* Writes e (key, value, content type and type set; reserved keys allowed) as floe_put and
 * floe_delete do, or as floe_delete_prefix with prefix_delete; counts it in puts or deletes. */
int store_write(floe_t *db, entry *e, int prefix_delete, uint64_t *seq_out);

/* Seals the pending memtable now if it holds anything (object.c note 5). */
void store_seal_pending(floe_t *db);

/* floe_list_keys over reserved keys too (the object sweep's listing). */
int store_list_reserved(floe_t *db, const void *prefix, size_t prefix_len, const void *start_after,
                        size_t start_after_len, size_t limit, floe_list **out);

/* What a read found besides floe_value: an object's record header (object.h), when it is one. */
typedef struct store_found {
    int is_object;
    uint8_t head[OBJREC_MAX_HEADER_BYTES];
    uint32_t head_len;
} store_found;

/* A point read as floe_get (head: as floe_head; else bytes [offset, offset + length)) that
 * allows reserved keys, bypasses the object cache with no_cache, and fills *found (may be NULL).
 * For a chunked object it copies no bytes (out->data is an empty string): object.c reads them. */
int store_read_raw(floe_t *db, const void *key, size_t key_len, int head, uint64_t offset, uint64_t length,
                   int no_cache, floe_value *out, uint64_t *total_out, store_found *found);

/* object.c: replaces out->data (empty for a chunked object) with its bytes [offset, offset +
 * length), cut at its end, read from the chunks that found's header names. */
int object_read_chunks(floe_t *db, const store_found *found, uint64_t offset, uint64_t length, floe_value *out);

/* object.c: the sweep that deletes the chunks of objects nothing refers to (object.c note 2).
 * SWEEP_IF_DUE runs only if gc.interval_s has passed and something was written since the last one,
 * and not while one runs; SWEEP_NOW runs now; SWEEP_AT_OPEN (floe_open, before any read) also
 * deletes at once what was replaced or deleted before the open, which no reader can be reading.
 * Returns 0 or an error. */
enum { SWEEP_IF_DUE = 0, SWEEP_NOW = 1, SWEEP_AT_OPEN = 2 };
int object_sweep(floe_t *db, int mode);

/* Makes set (whose reference it takes over) db->pdels and installs a view with it (none before the
 * first view exists). Needs state_mu. Returns 0 or FLOE_ENOMEM (db->pdels is set regardless). */
int store_install_pdels(floe_t *db, pdel_set *set);

/* Adds a prefix delete to db->pdels and installs a view with it. Needs state_mu. Returns 0 or
 * FLOE_ENOMEM. */
int store_add_prefix_del(floe_t *db, const void *prefix, size_t len, uint64_t seq);

/* Copies src into dst (cap bytes), cutting it if needed; always NUL-terminates. */
void store_copy_cut(char *dst, size_t cap, const char *src);

#endif
