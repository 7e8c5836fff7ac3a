/* The write-ahead log: a directory of numbered files (wal/<20-digit number>.log) holding records
 * `crc32c | length | type | seq | write_ms | key | value` (exact bytes in docs/formats.md). Writers are
 * batched by group commit: one fdatasync acknowledges every record appended before it started.
 *
 * Threads: wal_append and wal_rotate must be serialised by the caller (the store's write mutex, which
 * also assigns sequence numbers, so file order is sequence order). wal_sync may be called by any
 * number of threads at once, without the caller's mutex. wal_stats is safe from any thread. */
#ifndef FLOE_WAL_H
#define FLOE_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "floe.h"

enum wal_record_type {
    WAL_REC_PUT = 1,
    WAL_REC_DELETE = 2,
    WAL_REC_DELETE_PREFIX = 4, /* version 3 on: every key starting with key, written before seq */
    WAL_REC_OBJECT = 5,        /* version 4 on: a put whose value is an object record (object.h) */
};

/* One logical record. Pointers are borrowed for the duration of the call that takes or passes it. */
typedef struct wal_record {
    uint8_t type; /* enum wal_record_type */
    uint64_t seq;
    /* The write time, unix milliseconds: written with every record; replay gives 0 for records of
     * files written before write times existed (format versions 1 and 2). */
    uint64_t write_ms;
    const uint8_t *key;
    uint32_t key_len; /* 1..FLOE_MAX_KEY_BYTES */
    const uint8_t *value;
    uint32_t value_len;
    const char *content_type;  /* may be NULL */
    uint32_t content_type_len; /* 0..FLOE_MAX_CONTENT_TYPE_BYTES */
} wal_record;

typedef struct wal_options {
    floe_sync_mode sync;
    uint32_t interval_ms;      /* FLOE_SYNC_INTERVAL: a background thread syncs this often */
    uint64_t file_bytes;       /* rotate to a new file once the current one passes this */
    uint32_t max_record_bytes; /* records longer than this are refused on append and treated as
                                  corruption on replay */
    uint32_t direct_batch_bytes; /* a batch of at least this many bytes is written around the page
                                    cache (O_DIRECT), after a pad record up to a 4 KiB boundary
                                    (invariant 12); 0: never */
} wal_options;

typedef struct wal wal_t;

/* Called once per valid record during wal_open, in file order. Returning non-zero stops replay and
 * wal_open fails with that code. */
typedef int (*wal_replay_fn)(void *ctx, const wal_record *rec);

/* Opens the WAL in directory `dir` (created if missing) and replays every file numbered >= 0 in order
 * through fn. A torn or bad record at the tail of the LAST file is truncated away (it was never
 * acknowledged) and the truncation is logged through the returned message; a bad record anywhere
 * else makes wal_open fail with FLOE_ECORRUPT and err_set naming the file and byte offset. After
 * replay, appends go to a fresh file numbered one past the highest existing one.
 * *out is owned by the caller and freed with wal_close. */
int wal_open(const char *dir, const wal_options *opts, wal_replay_fn fn, void *ctx, wal_t **out);

/* Appends rec to the current file's in-memory batch and returns its LSN (a global, increasing byte
 * position: the end of this record) in *lsn_out. Cheap: no syscall unless the batch it finds has
 * grown large (1 MiB; 8 MiB with ALWAYS), which it writes out first. A batch this record makes
 * large waits for wal_sync or the next wal_append, so a caller that holds a lock around wal_append
 * should call wal_sync after letting go of it.
 * Errors: FLOE_EREADONLY after an earlier write/fsync failure, FLOE_EIO, FLOE_ETOOBIG. */
int wal_append(wal_t *w, const wal_record *rec, uint64_t *lsn_out);

/* Makes every record up to lsn durable per the sync mode and returns when it is: ALWAYS writes and
 * fdatasyncs (group commit: concurrent callers share one write+fdatasync, a caller whose lsn is
 * covered by a sync in flight just waits for it); INTERVAL and NEVER only write() the batch to the
 * OS (so a process crash loses nothing). A failed write or fdatasync is sticky: this and every later
 * call return FLOE_EREADONLY with the cause in err_set. */
int wal_sync(wal_t *w, uint64_t lsn);

/* Writes (and, unless NEVER, fdatasyncs) everything appended so far, then starts a new file.
 * *file_no_out is the new file's number: every record appended before this call is in a file with
 * a smaller number. Used when sealing the pending segment. */
int wal_rotate(wal_t *w, uint64_t *file_no_out);

/* Deletes every WAL file numbered below file_no (their records are in a durable segment) and fsyncs
 * the directory. */
int wal_release_before(wal_t *w, uint64_t file_no);

typedef struct wal_stats {
    uint64_t syncs;         /* fdatasyncs of WAL files (and a rotation's fsync of the old one) */
    uint64_t bytes_written; /* bytes write()n since open */
    uint64_t files;         /* files currently in the directory */
    uint64_t records_replayed;
    uint64_t tail_bytes_truncated;
    /* Bytes wal_open checksummed while replaying: the records, and the search for valid records
     * after damage. At most a small multiple of the WAL's size, whatever its bytes. */
    uint64_t replay_crc_bytes;
    /* Group commit since open (wal.c, invariant 11): records acknowledged by wal_sync's rounds,
     * and those rounds by how many records each acknowledged, in floe_stats.wal_batch_hist's
     * buckets. With ALWAYS a round is an fdatasync that covered new records; with INTERVAL and
     * NEVER, a write() of a batch. */
    uint64_t synced_writes;
    uint64_t batch_hist[FLOE_WAL_BATCH_BUCKETS];
} wal_stats;

void wal_get_stats(wal_t *w, wal_stats *out);

/* What wal_repair found in a WAL and cut from it (or, in a dry run, would cut). */
typedef struct wal_repair_report {
    int damaged;           /* 0: wal_open opens this WAL as it is, and nothing is cut */
    uint64_t file_no;      /* the file holding the first damage */
    uint64_t offset;       /* the damage's byte offset in it; 0: the whole file (its header) */
    char what[1024];       /* wal_open's message about the damage */
    uint64_t records_kept; /* valid records before the damage: wal_open replays them */
    uint64_t records_lost; /* CRC-valid records from the damage on: cut with it */
    uint64_t files_cut;    /* the damaged file and every later one */
    uint64_t bytes_cut;    /* from the damage to the end of its file, plus every later file */
} wal_repair_report;

/* Called by wal_repair for each piece it cuts (or would cut), in file order: the bytes of WAL file
 * `from` from byte `offset` to its end (`bytes` of them, holding `records` CRC-valid records), kept as
 * the quarantine file `to`. The strings live for the call only. */
typedef void (*wal_repair_fn)(void *ctx, const char *from, uint64_t offset, uint64_t bytes, uint64_t records,
                              const char *to);

/* Cuts the WAL in dir at its first damage, the place where wal_open refuses with FLOE_ECORRUPT: the
 * bytes from there to the end of that file, and every later file, are moved into quarantine_dir
 * (created if missing) as files named <20-digit number>.log.from-byte-<offset> (".2", ".3"... if
 * taken), never deleted. The damaged file is truncated at the damage and fsynced; both directories
 * are fsynced. Then wal_open replays every record before the damage. Torn tails are left for
 * wal_open to cut as usual. With dry_run nothing changes. fn (may be NULL) hears of each piece.
 * The caller must hold the data directory's lock: nothing else may use dir meanwhile.
 * Returns 0 with *out filled (out->damaged 0: nothing to repair); FLOE_ECORRUPT if the WAL refuses
 * to open for a reason a cut does not mend (a format version this build does not know); FLOE_EIO
 * with the file named if a step fails (what was done is then consistent: later files are moved
 * first, highest number first, and the damaged file is cut last). */
int wal_repair(const char *dir, const char *quarantine_dir, int dry_run, wal_repair_fn fn, void *ctx,
               wal_repair_report *out);

/* Writes and syncs what is buffered (per the sync mode; ALWAYS and INTERVAL fdatasync), stops the
 * interval thread and frees w. Returns the sticky error if there was one. NULL is a no-op. */
int wal_close(wal_t *w);

/* How many WAL files dir holds and the lowest file number (0 and 0 when there are none or dir does
 * not exist), without opening them. Errors: FLOE_EIO, FLOE_ECORRUPT (a file number out of range). */
int wal_dir_files(const char *dir, uint64_t *first_no, size_t *count);

#endif
