/* floe: a tiered hot/cold object store.
 *
 * This is the one public header of libfloe. A store is a data directory opened by one process at a
 * time; the handle it gives back is thread-safe: any number of threads may call any function on the
 * same floe_t at once, except floe_close, which must be the last call on it.
 *
 * Every function that can fail returns 0 or a negative FLOE_E* code. On failure out-parameters are
 * left untouched and floe_last_error() returns a message naming what failed (file, offset, key...).
 * Each function's comment lists every code it can return.
 *
 * Compatibility: the two structs that grow as floe grows, floe_options and floe_stats, carry their
 * size. floe_options_init and floe_stats_get are macros that pass sizeof the struct the program was
 * compiled with, so a program built against an older floe.h keeps working with a newer library:
 * fields it does not know keep their defaults (options) or are not written (stats). New fields are
 * only ever added at the end. A program built against a newer header than the library is refused by
 * floe_open with FLOE_EINVAL, naming both sizes. The other structs (floe_value, floe_list,
 * floe_list_entry, floe_retention_rule) have no size field: a field added to one of them changes the
 * library's soname (libfloe.so.1 added floe_value.write_ms, libfloe.so.2 floe_list_entry.write_ms, libfloe.so.3 the MD5 and
 * user metadata of floe_value and floe_list_entry),
 * so a program built against an older
 * floe.h keeps loading the library it was built for and is never handed a larger struct.
 */
#ifndef FLOE_H
#define FLOE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define FLOE_API __attribute__((visibility("default")))
#else
#define FLOE_API
#endif

#define FLOE_VERSION_STRING "0.1.0"

/* Keys are 1..FLOE_MAX_KEY_BYTES bytes, compared bytewise. Keys that begin with
 * FLOE_RESERVED_PREFIX_BYTES bytes 0xff are floe's own (the chunks of large objects): writes refuse
 * them with FLOE_EKEY and lists never return them, except the system namespace below. */
#define FLOE_MAX_KEY_BYTES 1024
#define FLOE_RESERVED_PREFIX_BYTES 8
/* The system namespace: keys that begin with FLOE_SYSTEM_PREFIX (the reserved bytes, then 's'),
 * for the records of services built on the store (floe serve keeps its S3 buckets and multipart
 * uploads there). Every call takes them like other keys, but a list or prefix delete whose prefix
 * does not itself begin with FLOE_SYSTEM_PREFIX never reaches them, and retention rules never
 * expire them. */
#define FLOE_SYSTEM_PREFIX "\xff\xff\xff\xff\xff\xff\xff\xffs"
#define FLOE_SYSTEM_PREFIX_BYTES 9
/* Content types are at most this many bytes (printable ASCII). */
#define FLOE_MAX_CONTENT_TYPE_BYTES 255
/* Hard ceiling for options.max_object_bytes. */
/* The largest max_object_bytes: 5 TiB, S3's limit. One floe_put value is at most
 * FLOE_MAX_PUT_BYTES; larger objects are written with floe_writer_* (stored as chunks). */
#define FLOE_MAX_OBJECT_BYTES_LIMIT (5ull << 40)
#define FLOE_MAX_PUT_BYTES (1024ull * 1024 * 1024)
/* An object's user metadata (floe_object_meta.user_meta) is at most this many bytes. */
#define FLOE_MAX_USER_META_BYTES 8192

enum floe_error {
    FLOE_OK = 0,
    FLOE_EINVAL = -1,    /* a bad argument or option */
    FLOE_ENOTFOUND = -2, /* no such key (or it was deleted) */
    FLOE_EIO = -3,       /* an operating-system I/O call failed */
    FLOE_ECORRUPT = -4,  /* a file failed its checksum or does not parse */
    FLOE_ENOMEM = -5,    /* out of memory */
    FLOE_ELOCKED = -6,   /* the data directory is open in another process */
    FLOE_EKEY = -7,      /* key empty or longer than FLOE_MAX_KEY_BYTES */
    FLOE_ETOOBIG = -8,   /* value larger than options.max_object_bytes */
    FLOE_EREADONLY = -9, /* the store is read-only after a failed write or fsync */
    FLOE_EBEHIND = -10,  /* too much sealed data waits for upload (or, with compaction.l0_stop, for compaction) */
    FLOE_EFENCED = -11,  /* a newer writer took over the bucket prefix */
    FLOE_ECOLD = -12,    /* the cold tier failed (S3 error, credentials, missing bucket) */
    FLOE_ETIMEDOUT = -13,
    FLOE_ECLOSED = -14,  /* the store is closing */
    FLOE_ERANGE = -15,   /* a byte range outside the object */
};

/* A static, human-readable name for an error code. Never NULL. */
FLOE_API const char *floe_strerror(int err);

/* The detailed message of the last failed floe call on the calling thread (file, offset, key...),
 * or "" if none. Owned by the library; valid until the next floe call on this thread. */
FLOE_API const char *floe_last_error(void);

typedef enum floe_sync_mode {
    FLOE_SYNC_ALWAYS = 0,   /* a write returns after its WAL record is fdatasynced */
    FLOE_SYNC_INTERVAL = 1, /* the WAL is fdatasynced every wal.interval_ms */
    FLOE_SYNC_NEVER = 2,    /* written to the OS at once; records are fdatasynced only when their
                             * WAL file is rotated: power loss keeps a prefix of the writes */
} floe_sync_mode;

typedef enum floe_compression {
    FLOE_COMPRESSION_ZSTD = 0,
    FLOE_COMPRESSION_NONE = 1,
} floe_compression;

typedef enum floe_cold_backend {
    FLOE_COLD_NONE = 0, /* no cold tier: segments stay local */
    FLOE_COLD_FS = 1,   /* a directory, e.g. a mounted disk */
    FLOE_COLD_S3 = 2,   /* S3-compatible object storage */
} floe_cold_backend;

/* A retention rule (docs/configuration.md, "retention"): an object whose key starts with prefix
 * expires max_age_s seconds after its write, when no rule with a longer prefix matches the key.
 * An expired object reads as FLOE_ENOTFOUND and is absent from lists at once. */
typedef struct floe_retention_rule {
    const char *prefix; /* NUL-terminated, at most FLOE_MAX_KEY_BYTES bytes; "" matches every key */
    uint64_t max_age_s; /* 0: keep forever (exempts the prefix from a shorter rule); at most 100 years */
} floe_retention_rule;

/* Options for floe_open. floe_options_init fills every field with its default; the fields mirror
 * the config file's sections of the same names, with the same ranges (docs/configuration.md). String
 * fields are borrowed: floe_open copies what it keeps. */
typedef struct floe_options {
    size_t struct_size;        /* set by floe_options_init; do not change it */
    uint64_t max_object_bytes; /* largest object accepted; default 5 GiB (S3's single PUT), at most 5 TiB */
    struct {
        floe_sync_mode sync; /* default FLOE_SYNC_ALWAYS */
        uint32_t interval_ms; /* default 5 */
        uint64_t file_bytes;  /* a WAL file is rotated past this size; default 64 MiB */
    } wal;
    struct {
        uint64_t max_bytes;   /* the pending segment seals at this size; default 64 MiB */
        uint32_t max_age_s;   /* ... or when its oldest write is this old; default 600 */
        uint32_t block_bytes; /* target data block size; default 64 KiB */
        floe_compression compression; /* default FLOE_COMPRESSION_NONE: point reads search blocks in place */
        /* writers wait once this many bytes are sealed but not yet in segment files; default
         * 2 * max_bytes */
        uint64_t max_unwritten_bytes;
    } segment;
    struct {
        uint64_t object_bytes; /* RAM object cache budget; default 256 MiB; 0 disables */
        uint64_t block_bytes;  /* disk block cache budget for cold reads; default 1 GiB */
        uint64_t decoded_block_bytes; /* RAM cache of decompressed segment blocks; default 64 MiB */
        uint64_t meta_bytes; /* RAM for the index and bloom of cold segments; default 128 MiB */
    } cache;
    struct {
        uint64_t max_bytes; /* local segment files budget; default 10 GiB */
    } local;
    struct {
        floe_cold_backend backend; /* default FLOE_COLD_NONE in the library, fs in config/floe.json */
        const char *fs_path;       /* directory for FLOE_COLD_FS */
        struct {
            const char *endpoint; /* e.g. "http://127.0.0.1:9000" */
            const char *bucket;
            const char *prefix; /* key prefix inside the bucket, may be "" */
            const char *region; /* default "us-east-1" */
            int path_style;     /* 1: http://host/bucket/key, 0: http://bucket.host/key */
            const char *ca_file; /* NULL: system CAs */
            const char *access_key; /* NULL: AWS_ACCESS_KEY_ID */
            const char *secret_key; /* NULL: AWS_SECRET_ACCESS_KEY */
            uint32_t timeout_ms;    /* per request; default 30000 */
            uint32_t max_retries;   /* default 8 */
        } s3;
    } cold;
    struct {
        uint32_t concurrency;       /* uploader threads; default 4 */
        uint64_t part_bytes;        /* multipart above this size; default 16 MiB */
        uint64_t max_pending_bytes; /* sealed but not uploaded cap; default 4 GiB */
        uint32_t wait_ms;           /* how long a writer waits at the cap before FLOE_EBEHIND; default 10000 */
        uint32_t flush_timeout_ms;  /* how long floe_flush(FLOE_DURABLE_REMOTE) waits; default 100000 */
    } upload;
    /* Called for log lines; NULL logs to stderr. level: 0 error, 1 warning, 2 info; msg is valid
     * only during the call. It is called from any of the store's threads (the caller's own during
     * floe_open and writes, the segment writer, the uploaders, the writer-epoch claim), possibly
     * from several at once and while the store holds internal locks: it must be thread-safe and
     * must not call back into the store. log_ctx (passed as ctx) must stay valid until floe_close
     * returns. */
    void (*log_fn)(void *ctx, int level, const char *msg);
    void *log_ctx;
    /* Background gc of the cold tier (docs/operations.md, "gc"): with a cold tier, every interval_s
     * the store deletes manifest versions past the newest 10 and orphaned segment objects, each
     * older than grace_s, if it published a manifest since its last gc (an idle store sends no
     * requests). */
    struct {
        uint32_t interval_s; /* default 3600; 0 turns background gc off */
        uint32_t grace_s;    /* default 3600 */
    } gc;
    /* Compaction (docs/architecture.md, "Compaction"): level 0 holds segments as sealed; at
     * l0_trigger of them they are merged into level 1, and a level above its target size
     * (level_base_bytes for level 1, level_ratio times more for each deeper one) is merged into the
     * next. Writes of compaction output are capped at max_bytes_per_s. */
    struct {
        uint32_t l0_trigger;       /* default 4; 0 turns background compaction off (floe_compact still works) */
        /* writers wait (up to upload.wait_ms, then FLOE_EBEHIND) while this many level-0 segments
         * that compaction could merge are waiting for it, which bounds a read's segments when
         * writes outrun compaction; default 0: never (writes go at full speed and level 0 grows
         * until compaction catches up) */
        uint32_t l0_stop;
        uint64_t level_base_bytes; /* default 0: l0_trigger * segment.max_bytes (256 MiB by default) */
        uint32_t level_ratio;      /* default 10 */
        uint64_t segment_bytes;    /* output segments are cut at about this size; default 64 MiB */
        uint64_t max_bytes_per_s;  /* default 256 MiB/s; 0 unlimited */
    } compaction;
    /* Retention rules, at most 64, no prefix twice (default none: nothing expires). floe_open copies
     * the rules and their prefixes, so the array may go away once it returns. Entries written
     * before write times existed (write time 0) never expire. */
    const floe_retention_rule *retention;
    size_t retention_count;
    struct {
        /* floe_writer_* store an object larger than this as chunks of this size; default 8 MiB,
         * 4 KiB to 256 MiB */
        uint64_t chunk_bytes;
    } object;
    /* The config's wal.direct_batch_bytes (added after the wal section, so it sits here): a WAL
     * batch of at least this many bytes, such as a large value or an object's chunk, is written
     * around the page cache (O_DIRECT) after a pad record up to a 4 KiB boundary, instead of being
     * copied into it; default 1 MiB, 0 never, else 4 KiB to 1 GiB */
    struct {
        uint32_t direct_batch_bytes;
    } wal_io;
} floe_options;

/* Fills *opts with the defaults and its struct_size. Use the macro floe_options_init(opts); the
 * function behind it takes the caller's sizeof(floe_options) (see "Compatibility" above). */
FLOE_API void floe_options_init_sized(floe_options *opts, size_t struct_size);
#define floe_options_init(opts) floe_options_init_sized((opts), sizeof *(opts))

/* An open store. Thread-safe; see the top of this file. */
typedef struct floe floe_t;

/* Opens (creating if needed) the data directory `dir`, replays its WAL and takes an exclusive lock
 * on it. opts may be NULL for defaults; otherwise it must have been filled by floe_options_init.
 * With a cold tier it also claims the writer epoch in the bucket, waiting a few seconds at most (a
 * cold tier that does not answer does not stop the open). On success *out is a handle the caller
 * closes with floe_close. Errors: FLOE_EINVAL (a bad argument or option, or opts not made by
 * floe_options_init), FLOE_ELOCKED (another process has it open), FLOE_ECORRUPT (a damaged WAL
 * record before the tail, a damaged manifest or segment: floe_last_error names file and offset),
 * FLOE_EFENCED (the bucket prefix holds another writer's data: the message says how to take it
 * over), FLOE_EIO, FLOE_ENOMEM. */
FLOE_API int floe_open(const char *dir, const floe_options *opts, floe_t **out);

/* Seals nothing, waits for background work that is in flight, syncs the WAL and frees the handle.
 * Data in the pending segment stays in the WAL and is replayed on the next open. An upload in
 * flight is cancelled and done again after the next open. The handle is freed whatever the result.
 * Returns 0; FLOE_EREADONLY if the store had become read-only (a failed write, fsync or manifest
 * save, or fencing: floe_last_error said why when it happened); FLOE_EIO if the last WAL sync
 * failed. NULL is a no-op that returns 0. */
FLOE_API int floe_close(floe_t *db);

/* Writes key -> value. content_type may be NULL. On success *seq_out (if not NULL) is the write's
 * sequence number. Returns after the write is durable per wal.sync. Errors: FLOE_EINVAL (NULL
 * handle, NULL value with a length, a content type too long or not printable ASCII), FLOE_EKEY,
 * FLOE_ETOOBIG (over max_object_bytes), FLOE_EREADONLY, FLOE_EBEHIND (the cold tier, or with
 * compaction.l0_stop compaction, is behind: retry later), FLOE_ECLOSED (floe_close has begun), FLOE_EIO (the WAL write or sync failed: the
 * store is read-only from then on), FLOE_ENOMEM. */
FLOE_API int floe_put(floe_t *db, const void *key, size_t key_len, const void *value, size_t value_len,
                      const char *content_type, uint64_t *seq_out);

/* Deletes key (writes a tombstone; deleting a missing key succeeds). Errors as floe_put, except
 * FLOE_ETOOBIG. */
FLOE_API int floe_delete(floe_t *db, const void *key, size_t key_len, uint64_t *seq_out);

typedef enum floe_tier {
    FLOE_TIER_MEMORY = 0, /* object cache, pending or sealed-in-memory segment */
    FLOE_TIER_LOCAL = 1,  /* a local segment file */
    FLOE_TIER_COLD = 2,   /* the cold tier (through the block cache or a ranged GET) */
} floe_tier;

/* "memory", "local" or "cold". */
FLOE_API const char *floe_tier_name(floe_tier tier);

/* A value read by floe_get. data and content_type are malloc'd and owned by the caller, who frees
 * them with floe_value_free. data is NUL-terminated one byte past len for convenience. */
typedef struct floe_value {
    void *data;
    size_t len;
    char *content_type; /* NULL if none was stored */
    uint64_t seq;
    floe_tier tier;
    /* When the write was made: milliseconds since 1970-01-01 UTC, by the writer's real-time clock.
     * 0 means unknown: the value was written by a floe older than write times (a WAL of format
     * version 1 or 2, a segment of version 1); such a value never expires under a retention rule. */
    uint64_t write_ms;
    /* Objects written with floe_writer_* (the HTTP PUT's path) carry the MD5 of their bytes and
     * the user metadata given to floe_writer_begin; values written with floe_put carry neither
     * (md5_known 0, user_meta NULL). user_meta is malloc'd like data. */
    int md5_known;
    unsigned char md5[16];
    void *user_meta;
    size_t user_meta_len;
    int chunked; /* 1 if the object is stored as chunks (larger than object.chunk_bytes) */
} floe_value;

/* Reads the newest version of key. Errors: FLOE_EINVAL (NULL handle or out), FLOE_EKEY,
 * FLOE_ENOTFOUND (missing, deleted, or its newest version has expired under a retention rule: an
 * expired version hides the key, older versions are never returned instead), FLOE_ECORRUPT (the
 * block holding the key is damaged: the message names segment and block), FLOE_ECOLD (the cold tier
 * failed), FLOE_ERANGE (a cold object is shorter than the manifest says), FLOE_EIO, FLOE_ENOMEM. */
FLOE_API int floe_get(floe_t *db, const void *key, size_t key_len, floe_value *out);

/* floe_get without the bytes: the newest version's metadata, as floe_get gives it, with out->data
 * NULL and out->len the object's length. Reads no more than the lookup needs (no copy of the value,
 * which is not put in the object cache). Free with floe_value_free. Errors as floe_get. */
FLOE_API int floe_head(floe_t *db, const void *key, size_t key_len, floe_value *out);

/* Bytes [offset, offset + length) of the newest version of key, cut at the object's end (length
 * UINT64_MAX: to the end). out->data holds only them (NUL-terminated one past out->len) and the
 * rest of *out is as floe_get gives it; *total_out (may be NULL) gets the object's length. An offset
 * equal to the length gives 0 bytes; one past it is FLOE_ERANGE. Free with floe_value_free.
 * Errors: as floe_get, and FLOE_ERANGE. */
FLOE_API int floe_read_range(floe_t *db, const void *key, size_t key_len, uint64_t offset, uint64_t length,
                             floe_value *out, uint64_t *total_out);

/* Frees what floe_get, floe_head or floe_read_range put in *v and zeroes it. Safe on a zeroed value. */
FLOE_API void floe_value_free(floe_value *v);

/* An object's metadata for floe_writer_begin. Borrowed: floe copies it. */
typedef struct floe_object_meta {
    const char *content_type; /* NULL: none; at most FLOE_MAX_CONTENT_TYPE_BYTES printable ASCII */
    const void *user_meta;    /* opaque bytes floe stores and returns (floe_value.user_meta) */
    size_t user_meta_len;     /* at most FLOE_MAX_USER_META_BYTES */
} floe_object_meta;

/* A streaming write of one object of any size up to max_object_bytes (docs/architecture.md,
 * "Large objects"). Bytes given to floe_writer_write are buffered up to object.chunk_bytes; an
 * object that stays within one chunk is stored as one record at floe_writer_commit, a larger one
 * as chunks written (durable per wal.sync) as they fill, under floe's reserved keys, plus a head
 * record at the key written by floe_writer_commit. Nothing is visible before floe_writer_commit
 * returns 0: then the whole object is, at once. An aborted writer's chunks are deleted at once; a
 * writer cut off by a crash leaves chunks that the next floe_open's sweep deletes (they were never
 * visible). A writer is used by one thread at a time; several writers may run at once. */
typedef struct floe_writer floe_writer;

/* Starts a writer for key. meta may be NULL. Errors: FLOE_EINVAL (NULL handle or out, bad content
 * type, user metadata too long), FLOE_EKEY, FLOE_EREADONLY, FLOE_ECLOSED, FLOE_ENOMEM. */
FLOE_API int floe_writer_begin(floe_t *db, const void *key, size_t key_len, const floe_object_meta *meta,
                               floe_writer **out);
/* Appends len bytes. Errors: FLOE_ETOOBIG (the object would pass max_object_bytes), and those of
 * floe_put for a chunk written now. After an error the writer can only be aborted. */
FLOE_API int floe_writer_write(floe_writer *w, const void *data, size_t len);
/* Replaces the metadata the commit will store (for a caller that learns it from the body, such as a
 * checksum sent after the bytes). Errors: as floe_writer_begin's for meta; the writer is unchanged
 * then. */
FLOE_API int floe_writer_set_meta(floe_writer *w, const floe_object_meta *meta);
/* Bytes written so far, and the MD5 of them (for a caller that checks a digest before committing). */
FLOE_API uint64_t floe_writer_bytes(const floe_writer *w);
FLOE_API void floe_writer_md5(const floe_writer *w, unsigned char md5[16]);
/* Makes the object visible at its key, replacing any older version, once every byte is durable per
 * wal.sync; *seq_out (may be NULL) gets its sequence number. Frees w whatever it returns; on an
 * error nothing became visible and the chunks are deleted. Errors: those of floe_put. */
FLOE_API int floe_writer_commit(floe_writer *w, uint64_t *seq_out);
/* Discards the object (its chunks are deleted) and frees w. Safe on NULL. */
FLOE_API void floe_writer_abort(floe_writer *w);

/* A streaming read of one version of one object: the version that was newest at floe_reader_open,
 * whatever is written afterwards. Reading a chunked object holds one chunk in memory. A version
 * replaced or deleted after the open stays readable for gc.grace_s (its chunks are reclaimed after
 * that); past it reads fail with FLOE_ENOTFOUND. A reader is used by one thread at a time. */
typedef struct floe_reader floe_reader;

/* Opens key; *info (may be NULL) gets its metadata as floe_head gives it (free with
 * floe_value_free). Errors: those of floe_head. */
FLOE_API int floe_reader_open(floe_t *db, const void *key, size_t key_len, floe_value *info, floe_reader **out);
/* Copies up to len bytes from offset into buf; *n_out gets how many (0 at or past the end: an
 * offset past the end is FLOE_ERANGE). Errors: those of floe_read_range. */
FLOE_API int floe_reader_read(floe_reader *r, uint64_t offset, void *buf, size_t len, size_t *n_out);
FLOE_API uint64_t floe_reader_size(const floe_reader *r);
FLOE_API void floe_reader_close(floe_reader *r);

typedef struct floe_list_entry {
    char *key; /* malloc'd, NUL-terminated past key_len, owned by the floe_list */
    size_t key_len;
    uint64_t value_len;
    uint64_t seq;
    uint64_t write_ms; /* as floe_value.write_ms: when the listed version was written, 0 if unknown */
    int md5_known;     /* as floe_value: 1 for objects written with floe_writer_* */
    unsigned char md5[16];
    void *user_meta; /* as floe_value: the object's user metadata (malloc'd, owned by the floe_list), or NULL */
    size_t user_meta_len;
} floe_list_entry;

typedef struct floe_list {
    floe_list_entry *entries;
    size_t count;
    int truncated; /* 1 if more keys follow: pass the last key as start_after to continue */
} floe_list;

/* Lists live keys that start with prefix (may be empty) and sort after start_after (may be NULL),
 * in key order (a key whose newest version is deleted or expired under a retention rule is not
 * live), at most limit (0 means 1000; capped at 100000). *out is owned by the caller and
 * freed with floe_list_free. Errors: FLOE_EINVAL (NULL handle or out, a NULL pointer with a
 * length), FLOE_EKEY (prefix or start_after longer than FLOE_MAX_KEY_BYTES), and as floe_get:
 * FLOE_ECORRUPT, FLOE_ECOLD, FLOE_ERANGE, FLOE_EIO, FLOE_ENOMEM. */
FLOE_API int floe_list_keys(floe_t *db, const void *prefix, size_t prefix_len, const void *start_after,
                            size_t start_after_len, size_t limit, floe_list **out);
FLOE_API void floe_list_free(floe_list *list);

typedef enum floe_durability {
    FLOE_DURABLE_LOCAL = 1,  /* sealed and in an fsynced local segment file named by the manifest */
    FLOE_DURABLE_REMOTE = 2, /* ... and uploaded and named by a published remote manifest */
} floe_durability;

/* Seals the pending segment now and waits until everything written before the call is durable at
 * the given level. FLOE_DURABLE_LOCAL waits for the segment writer, which does not time out.
 * FLOE_DURABLE_REMOTE then waits for the upload and publication, at most
 * options.upload.flush_timeout_ms. Errors: FLOE_EINVAL (NULL handle, unknown level, or
 * FLOE_DURABLE_REMOTE without a cold tier), FLOE_EREADONLY (the store is or became read-only),
 * FLOE_EFENCED (a newer writer took the bucket prefix over), FLOE_ETIMEDOUT (not uploaded in time:
 * the message names the last cold-tier error; the data is still safe locally and its upload goes
 * on), FLOE_ECLOSED (floe_close has begun), FLOE_EIO, FLOE_ENOMEM. */
FLOE_API int floe_flush(floe_t *db, floe_durability level);

/* Cold-tier operations counted in floe_stats, whatever the backend: the s3 backend counts each
 * request it sends (retries included), the fs backend each call. The MPU_* operations are the parts
 * of an S3 multipart upload; other backends never count them. (In /v1/stats and /metrics these
 * counters keep their first names, s3_requests and floe_s3_requests_total, for dashboards.) */
typedef enum floe_cold_op {
    FLOE_COLD_PUT = 0,
    FLOE_COLD_GET,
    FLOE_COLD_HEAD,
    FLOE_COLD_DELETE,
    FLOE_COLD_LIST,
    FLOE_COLD_MPU_CREATE,
    FLOE_COLD_MPU_PART,
    FLOE_COLD_MPU_COMPLETE,
    FLOE_COLD_MPU_ABORT,
    FLOE_COLD_OP_COUNT
} floe_cold_op;

/* "put", "get", "head", ... */
FLOE_API const char *floe_cold_op_name(floe_cold_op op);

/* The buckets of floe_stats.wal_batch_hist, powers of two: bucket i counts the WAL group commits
 * that made between 2^i and 2^(i+1) - 1 writes durable (bucket 0: 1 write, 1: 2-3, 2: 4-7, ...,
 * 14: 16384-32767), and the last, bucket 15, those of 2^15 = 32768 writes or more. */
#define FLOE_WAL_BATCH_BUCKETS 16

typedef struct floe_stats {
    size_t struct_size; /* set by floe_stats_get to the bytes it filled */
    /* puts and deletes count records written: a floe_put, an object's record and, for a chunked
     * object, each chunk and its reference (deletes: floe_delete, prefix deletes, and the prefix
     * delete and reference delete that reclaim a chunked object) */
    uint64_t puts, deletes, gets;
    uint64_t get_hits_memory, get_hits_local, get_hits_cold, get_misses;
    uint64_t last_seq;
    /* WAL: wal_syncs counts fdatasyncs of WAL files (writes per sync: wal_synced_writes below) */
    uint64_t wal_syncs, wal_bytes_written, wal_files;
    /* segments */
    uint64_t pending_bytes, pending_entries;
    uint64_t sealed_unwritten_bytes; /* sealed, waiting for its segment file */
    uint64_t seals;
    uint64_t segments_local, segments_uploading, segments_remote, segments_local_remote;
    uint64_t local_segment_bytes;
    uint64_t bytes_pending_upload;
    /* caches */
    uint64_t object_cache_bytes, object_cache_entries, object_cache_hits, object_cache_misses;
    uint64_t block_cache_bytes, block_cache_hits, block_cache_misses; /* disk, cold reads */
    uint64_t decoded_cache_bytes, decoded_cache_hits, decoded_cache_misses; /* RAM, decoded blocks */
    uint64_t meta_cache_bytes, meta_cache_segments; /* RAM, index and bloom of cold segments */
    /* cold tier */
    uint64_t uploads, upload_bytes, manifest_version, writer_epoch;
    uint64_t cold_requests[FLOE_COLD_OP_COUNT]; /* requests sent, per floe_cold_op */
    uint64_t cold_errors[FLOE_COLD_OP_COUNT];   /* calls that failed */
    uint64_t cold_retries[FLOE_COLD_OP_COUNT];  /* attempts that were retries */
    int read_only;       /* 1 after a failed write/fsync */
    int cold_healthy;    /* 0 while the cold tier reports a permanent error */
    char last_error[256]; /* the error that made the store read-only or the cold tier unhealthy */
    /* background gc of the cold tier */
    uint64_t gc_runs;            /* gc runs that finished */
    uint64_t gc_objects_deleted; /* manifests and segment objects they deleted */
    uint64_t gc_errors;          /* gc runs that failed (retried at the next interval) */
    /* read amplification: the segments (local and cold) a point read may have to consult after the
     * memtables: every level-0 segment and one per deeper level */
    uint64_t segments_per_read_max;
    /* compaction */
    uint64_t compactions;            /* merge jobs finished */
    uint64_t compaction_moves;       /* jobs that moved segments down a level without rewriting them */
    uint64_t compaction_bytes_read;  /* input bytes read (local files and cold downloads) */
    uint64_t compaction_bytes_written; /* output segment bytes written */
    uint64_t compaction_queue_depth; /* jobs due now */
    uint64_t compaction_errors;      /* jobs that failed (retried with backoff) */
    uint64_t compaction_expired;     /* entries compaction removed because retention expired them */
    uint64_t compaction_drops;       /* segments dropped unread: a prefix delete hid all of them */
    uint64_t segments_level0;        /* level-0 segments */
    uint64_t levels;                 /* levels below 0 that hold segments */
    /* WAL group commit, since floe_open (docs/operations.md, "WAL group commit"). A group commit
     * is one WAL round that acknowledges waiting writes: with FLOE_SYNC_ALWAYS, an fdatasync that
     * makes writes durable that no earlier one covered (file-header and rotation syncs that cover
     * none are counted in wal_syncs only); with FLOE_SYNC_INTERVAL and FLOE_SYNC_NEVER, where a write
     * is acknowledged once the OS has it, one write() of a batch of records (the fdatasyncs
     * behind them count in wal_syncs only). Each write (put, delete, prefix delete) is counted once,
     * by the group commit that acknowledged it. Mean writes per group commit: wal_synced_writes
     * divided by the sum of wal_batch_hist. */
    uint64_t wal_synced_writes;                      /* writes acknowledged by group commits */
    uint64_t wal_batch_hist[FLOE_WAL_BATCH_BUCKETS]; /* group commits by writes acknowledged */
} floe_stats;

/* Deletes every key that starts with prefix (1..FLOE_MAX_KEY_BYTES bytes) as of now, with one
 * record: gets answer FLOE_ENOTFOUND and lists skip them at once; keys written under the prefix
 * afterwards are visible as usual. Compaction removes their bytes, and drops segments whose whole
 * key range lies under the prefix without rewriting them. Durable like floe_delete; *seq_out (may
 * be NULL) gets the delete's sequence number. Errors: those of floe_delete, and FLOE_EKEY for an
 * empty prefix. */
FLOE_API int floe_delete_prefix(floe_t *db, const void *prefix, size_t prefix_len, uint64_t *seq_out);

/* Compacts now: writes the pending segment (with a cold tier, waits until it is published), then
 * merges until level 0 is empty and no level is over its target size, and (with a cold tier)
 * publishes a manifest naming the result. Returns when the store has that shape, or an error:
 * FLOE_EINVAL (NULL handle), FLOE_EREADONLY, FLOE_EFENCED, FLOE_ECOLD / FLOE_ETIMEDOUT (the cold tier
 * failed; the store stays correct and compaction is retried), FLOE_ECORRUPT (an input is damaged:
 * it is left as it is), FLOE_EIO, FLOE_ENOMEM. Safe to call from any thread, alongside writes. */
FLOE_API int floe_compact(floe_t *db);

/* Fills *out with a snapshot of the counters. Use the macro floe_stats_get(db, out); the function
 * behind it fills at most struct_size bytes of *out (see "Compatibility" above). Errors:
 * FLOE_EINVAL (NULL handle or out, or a struct_size smaller than the oldest floe_stats). */
FLOE_API int floe_stats_get_sized(floe_t *db, floe_stats *out, size_t struct_size);
#define floe_stats_get(db, out) floe_stats_get_sized((db), (out), sizeof *(out))

#ifdef __cplusplus
}
#endif
#endif
