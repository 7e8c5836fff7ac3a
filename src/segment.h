/* Segment files: an immutable sorted run of entries, the same bytes on local disk and in the cold
 * tier. Layout (exact bytes in docs/formats.md): data blocks (sorted, prefix-compressed, with
 * restart points, optionally zstd, CRC32C trailer), bloom filter, index block, metadata block, and a
 * fixed-size footer with magic, version, offsets and CRC.
 *
 * Threads: a segment_writer is used by one thread. A segment_t reader is immutable after
 * segment_open and safe for any number of threads at once. */
#ifndef FLOE_SEGMENT_H
#define FLOE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "entry.h"
#include "floe.h"

#define SEGMENT_FOOTER_BYTES 64

/* What the metadata block and footer record about a finished segment. Keys are malloc'd and owned by
 * whoever holds the struct; free with segment_info_clear. */
typedef struct segment_info {
    uint64_t id;
    uint64_t epoch;        /* writer epoch */
    uint64_t file_bytes;   /* size of the whole file */
    uint32_t file_crc32c;  /* CRC32C of the whole file: the manifest's checksum. A reader does
                            * not know it (0 in segment_get_info); segment_verify computes it. */
    uint8_t *min_key;
    uint32_t min_key_len;
    uint8_t *max_key;
    uint32_t max_key_len;
    uint64_t min_seq, max_seq;
    uint64_t count;        /* entries, tombstones included */
    uint64_t block_count;
    int64_t created_unix_s;
} segment_info;

void segment_info_clear(segment_info *info);
/* Deep copy; dst is overwritten. */
int segment_info_copy(segment_info *dst, const segment_info *src);

typedef struct segment_write_options {
    uint64_t id;
    uint64_t epoch;
    uint32_t block_bytes;  /* target uncompressed data block size; a larger value gets a block alone */
    floe_compression compression;
    uint32_t bloom_bits_per_key; /* 0 means 10 */
    int direct; /* 1: write around the page cache (file_appender's O_DIRECT): segment_write_direct */
} segment_write_options;

/* Entries at least this large on average make a segment of large-object chunks, read back (if at
 * all) as whole chunks through the object cache: segment_write_direct says to write it around the
 * page cache. A segment of small records stays in it, where point reads find it. */
#define SEGMENT_DIRECT_MIN_AVG_ENTRY_BYTES (256u << 10)

/* 1 if a segment of count entries in about bytes bytes should be written with direct = 1. */
static inline int segment_write_direct(uint64_t bytes, uint64_t count)
{
    return count > 0 && bytes / count >= SEGMENT_DIRECT_MIN_AVG_ENTRY_BYTES;
}

typedef struct segment_writer segment_writer;

/* Creates path (O_EXCL; a temp name is the caller's business) for writing. *out is freed by
 * segment_writer_finish or segment_writer_abort. */
int segment_writer_open(const char *path, const segment_write_options *opts, segment_writer **out);

/* Adds an entry. Keys must be strictly increasing (one version per key; tombstones included).
 * Errors: FLOE_EINVAL (order), FLOE_EIO. */
int segment_writer_add(segment_writer *w, const entry *e);

/* Writes bloom, index, metadata and footer, fsyncs and closes the file and frees w. On success
 * *info_out (if not NULL) describes the segment. On failure the file is removed. */
int segment_writer_finish(segment_writer *w, segment_info *info_out);

/* Closes and removes the partial file and frees w. NULL is a no-op. */
void segment_writer_abort(segment_writer *w);

/* Where a reader's bytes come from: a local file or the cold tier through the block cache.
 * read_at must fill exactly len bytes at offset or return a negative FLOE_E* code (with err_set).
 * It may be called from many threads at once. */
typedef struct segment_source {
    int (*read_at)(void *ctx, uint64_t offset, void *buf, size_t len);
    void *ctx;
    uint64_t size; /* total bytes of the segment */
    const char *name; /* for error messages: a path or an object key; copied by segment_open */
    /* If the whole segment is available at once (an mmapped local file), base points at it and
     * read_at is not used; NULL otherwise. Must stay valid while the reader is open. */
    const uint8_t *base;
    /* Optional cache of verified, decompressed data blocks (lru_t from lru.h), shared by any number
     * of readers; NULL for none. Blocks are keyed by (a per-reader unique id, block number) and
     * charged their decoded size. Used for zstd blocks and for sources without base; uncompressed
     * blocks of a mapped file are searched in place instead. Must outlive the reader. */
    struct lru *block_cache;
} segment_source;

typedef struct segment segment_t;

/* Opens a reader: reads and checks the footer, then metadata, index and bloom (CRC-checked) into
 * memory. The source is copied; its ctx must outlive the reader. Errors: FLOE_ECORRUPT naming the
 * source and offset (bad magic, version, CRC, lengths out of bounds), or the source's error. */
int segment_open(const segment_source *src, segment_t **out);

/* Convenience: mmap a local file and open it. The reader owns the mapping. */
int segment_open_file(const char *path, segment_t **out);

/* The same, with a decoded-block cache (see segment_source.block_cache; NULL for none). Give one for
 * zstd segments: without it every read of a compressed block decompresses it again. */
int segment_open_file_cached(const char *path, struct lru *block_cache, segment_t **out);

void segment_close(segment_t *s);

/* Describes the segment (pointers inside live as long as the reader; do not clear). */
const segment_info *segment_get_info(const segment_t *s);

/* Bytes the reader keeps in memory for index and bloom (the cold tier's metadata cache charges this). */
uint64_t segment_memory_bytes(const segment_t *s);

/* 1 if key is in [min_key, max_key] and the bloom filter says it may be present, else 0. */
int segment_may_contain(const segment_t *s, const void *key, size_t key_len);

/* A value found by segment_get: value and content_type are malloc'd and owned by the caller, freed
 * with segment_hit_clear. */
typedef struct segment_hit {
    uint8_t type; /* ENTRY_PUT or ENTRY_DELETE */
    uint64_t seq;
    uint64_t write_ms; /* unix ms of the write; 0 in version 1 segments (unknown) */
    uint8_t *value; /* malloc'd, value_len bytes and a NUL after them */
    uint32_t value_len; /* the bytes copied: all of the value, or the part segment_get_range asked for */
    uint64_t total_len; /* the whole value's length (an object's: its size) */
    char *content_type; /* NUL-terminated, NULL if none */
    /* ENTRY_OBJECT: a malloc'd copy of the object record's header (object.h; value and total_len
     * are then of the object's bytes, none for a chunked one); NULL otherwise */
    uint8_t *objhead;
    uint32_t objhead_len;
} segment_hit;

void segment_hit_clear(segment_hit *h);

/* Point lookup. Returns 1 and fills *out if key is in the segment (possibly as a tombstone), 0 if
 * not, or a negative code: FLOE_ECORRUPT if the block that would hold it fails its CRC or does not
 * parse (err_set names the segment, block number and offset); other blocks stay readable. */
int segment_get(segment_t *s, const void *key, size_t key_len, segment_hit *out);

/* segment_get copying only bytes [offset, offset + length) of the value, cut at its end (none when
 * offset is at or past it); total_len says how long the value is. */
int segment_get_range(segment_t *s, const void *key, size_t key_len, uint64_t offset, uint64_t length,
                      segment_hit *out);

/* Iterates entries in key order. Pointers in the entry are valid until the next call on the
 * iterator. Use from one thread. */
typedef struct segment_iter segment_iter;
int segment_iter_create(segment_t *s, segment_iter **out);
void segment_iter_destroy(segment_iter *it);
/* Positions at the first key >= key (NULL: first). Returns 0 or an error (a damaged block). */
int segment_iter_seek(segment_iter *it, const void *key, size_t key_len);
int segment_iter_valid(const segment_iter *it);
/* Advances; returns 0 or an error. */
int segment_iter_next(segment_iter *it);
void segment_iter_entry(const segment_iter *it, entry *out);

/* Byte range of one data block (for the cold tier's block cache): fills offset and length including
 * the CRC trailer. Returns FLOE_EINVAL if block is out of range. */
int segment_block_range(const segment_t *s, uint64_t block, uint64_t *offset, uint64_t *len);

/* Reads the whole segment: checks every data block's CRC and that its entries parse, and computes
 * the CRC32C of the whole file into *file_crc32c_out (compare with the manifest's checksum).
 * Returns 0, FLOE_ECORRUPT naming the first damaged block and its offset, or the source's error. */
int segment_verify(segment_t *s, uint32_t *file_crc32c_out);

/* Writes bytes as a C-like string, as messages and `floe segment dump` show keys and values:
 * printable ASCII as is, '"', '\\' and the rest as escapes; at most max_bytes of input, then "...".
 * out must hold 4 * max_bytes + 4 bytes. */
void segment_escape_bytes(const uint8_t *p, size_t len, size_t max_bytes, char *out);

/* Inspection of a segment file that may be damaged, for `floe segment dump`: unlike segment_open it
 * goes on past each damaged part and reports it, parsing the file with the reader's own checks
 * (docs/formats.md, "Segment files"). Read-only; a segment_inspector is used by one thread.
 *
 * Each problem below is NULL when that part is intact, else the message saying what is wrong and
 * where (as floe_last_error would), owned by the inspector. */
typedef struct segment_inspector segment_inspector;

/* Where a region named by the footer lies, and whether it checks out. */
typedef struct segment_region_report {
    uint64_t offset;
    uint32_t length;
    const char *crc_problem;   /* its CRC32C does not match the footer's */
    const char *parse_problem; /* its contents do not parse */
} segment_region_report;

/* What the footer, metadata, bloom filter and index say, as far as they could be read. Owned by the
 * inspector, valid until segment_inspect_close. */
typedef struct segment_summary {
    uint64_t file_bytes;
    const char *footer_problem; /* no usable footer: nothing below is set */
    uint64_t footer_offset;
    uint32_t format_version;
    segment_region_report meta, bloom, index;
    segment_info info;            /* set unless meta.parse_problem; file_crc32c is 0 */
    uint32_t largest_block_bytes; /* decoded, from the metadata */
    uint64_t bloom_bits;          /* bloom_bits and bloom_probes: set unless bloom.parse_problem */
    unsigned bloom_probes;
    uint64_t index_blocks;           /* index entries that parsed: the blocks segment_inspect_block reports */
    const char *block_count_problem; /* the index and the metadata disagree on the block count */
} segment_summary;

/* One data block, checked and walked by segment_inspect_block. */
typedef struct segment_block_report {
    uint64_t block;
    uint64_t offset;
    uint32_t length;         /* stored bytes, trailer included */
    const uint8_t *last_key; /* the index's last key for the block: valid until segment_inspect_close */
    uint32_t last_key_len;
    int crc_ok;  /* the trailer's CRC32C matches */
    int decoded; /* trailer, compression and restart array are good; then: */
    floe_compression compression;
    size_t decoded_bytes;
    uint32_t restarts;
    uint64_t entries;                      /* entries that parsed, in key order */
    uint8_t first_key[FLOE_MAX_KEY_BYTES]; /* the first of them, if entries > 0 */
    uint32_t first_key_len;
    const char *problem; /* the block is damaged (or could not be checked): valid until the next
                          * segment_inspect_block or segment_inspect_close */
} segment_block_report;

/* What segment_inspect_block calls while it walks a block; either may be NULL. */
typedef struct segment_block_fns {
    /* Once, when the block's trailer and restarts have been checked and before its entries: the
     * report's entries, first_key and problem are not final yet. */
    void (*block)(void *ctx, const segment_block_report *r);
    /* For each entry in key order, until one is out of order or does not parse; e's pointers are
     * valid during the call. */
    void (*entry)(void *ctx, const entry *e);
} segment_block_fns;

/* Opens and sizes path for inspection. *out is freed with segment_inspect_close. Errors:
 * FLOE_ENOTFOUND, FLOE_EIO, FLOE_ENOMEM. */
int segment_inspect_open(const char *path, segment_inspector **out, uint64_t *file_bytes_out);

/* Maps the file and checks its footer, metadata, bloom filter and index, recording each problem in
 * *out rather than stopping at it. Returns 0 even for a damaged file; FLOE_EIO if it cannot be
 * mapped, FLOE_ENOMEM. Call once. */
int segment_inspect_read(segment_inspector *ins, const segment_summary **out);

/* Checks block (below summary->index_blocks, after segment_inspect_read) and walks its entries,
 * calling fns (may be NULL) with ctx, and fills *out; a damaged block is reported in out->problem,
 * not as an error. Returns 0, or FLOE_EINVAL for a block the index does not list. */
int segment_inspect_block(segment_inspector *ins, uint64_t block, const segment_block_fns *fns, void *ctx,
                          segment_block_report *out);

/* NULL is a no-op. */
void segment_inspect_close(segment_inspector *ins);

#endif
