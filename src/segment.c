/* Segment files: the writer that seals a sorted run to disk, the reader that serves point lookups and
 * ordered scans from a mapped file or the cold tier, and the inspection of a possibly damaged file
 * that `floe segment dump` prints (src/tools/segment_dump.c). The byte layout is in
 * docs/formats.md ("Segment files"); keep the two in step.
 *
 * Life of a segment file:
 *
 *   segment_writer_open ──add──► … ──► segment_writer_finish ──► sealed file (fsynced, immutable)
 *          │                                   │ failure                  │
 *          └────────── segment_writer_abort ───┴──► file removed          ▼
 *                                                       segment_open / segment_open_file
 *                                                       (footer, metadata, index, bloom checked)
 *                                                                         │ segment_get / iter
 *                                                                         ▼
 *                                                       data block checked on first use
 *
 * Invariants:
 * 1. A finished file is data blocks, bloom, index, metadata and footer back to back with no gap:
 *    block 0 starts at offset 0, each block starts where the previous one ends, and the footer is
 *    the last SEGMENT_FOOTER_BYTES bytes. The reader refuses any file that does not tile this way.
 * 2. Keys are strictly increasing across the whole file; a block's index entry holds its last key,
 *    and the last block's last key is the metadata's max key.
 * 3. Every stored byte is covered by a CRC32C: each data block by its trailer, bloom, index and
 *    metadata by CRCs in the footer, the footer by its own last four bytes.
 * 4. The reader bounds-checks every length and offset against the region that holds it before using
 *    it: a damaged file yields FLOE_ECORRUPT naming the source and offset, never an out-of-bounds read.
 * 5. A reader is immutable after segment_open except the verified-block bitmap (atomic; bits only go
 *    from 0 to 1) and the shared block cache (which has its own locks).
 * 6. A block of a mapped file is checksummed at most once per reader; bytes from read_at are
 *    checksummed on every read, because each read fetches them afresh.
 * 7. A decoded block is immutable and reference counted: the cache holds one reference while the
 *    block is cached, and a reader holds either an lru handle or a reference of its own while it
 *    reads, so eviction never frees a block under a reader.
 * 8. The writer removes its file on every failure; a file that exists under its final name was
 *    finished and fsynced by segment_writer_finish.
 * 9. The footer's version decides how every entry is decoded: version 2 and 3 entries carry a
 *    varint64 write time after seq, version 1 entries none (read as write time 0); and how a block
 *    ends: version 3 blocks add a CRC32C per restart interval and one over the restart array
 *    (note 10). The writer writes version 3 only; every reader path (get, iterator, verify,
 *    inspection) takes the version from the footer.
 * 10. A point lookup in an uncompressed version 3 block of a mapped file that has not passed its
 *    whole-block CRC checks only what it reads: the restart array's CRC, then the interval the
 *    binary search lands in and the one after it (whose first key bounds the search from above).
 *    A binary search always ends between two keys it compared, so with both intervals checked the
 *    bracket is the writer's and only checked bytes decide the answer, whatever an unchecked
 *    restart key said; a CRC that fails sends the lookup to the whole-block CRC, which reports the
 *    damage. Checked intervals are remembered per block in
 *    groups (at most 63 groups and the restart array: one u64 per block), so a process checks each
 *    byte once, as with whole blocks; a block whose groups are all checked counts as verified.
 *    The first reads after an open then checksum about two intervals instead of a whole block.
 */
#include "segment.h"
#include "coding.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "array.h"
#include "bloom.h"
#include "crc32c.h"
#include "error.h"
#include "file.h"
#include "lru.h"
#include "object.h"

#define SEG_MAGIC "FLOE-SEG"
#define SEG_MAGIC_BYTES 8
#define SEG_FORMAT_VERSION 4
/* Segments before object entries (ENTRY_OBJECT, version 4): still read, never written. */
#define SEG_FORMAT_VERSION_NO_OBJECTS 3
/* Segments before per-interval CRCs (version 2): still read, never written. */
#define SEG_FORMAT_VERSION_NO_INTERVAL_CRC 2
/* Segments written before entries carried write times: still read (write time 0), never written. */
#define SEG_FORMAT_VERSION_NO_WRITE_TIME 1
#define SEG_RESTART_INTERVAL 16
/* Version 3 also starts a restart interval at the first entry that begins this many bytes or more
 * after the last restart, so a point lookup checks and scans little of a block of large entries. */
#define SEG_RESTART_BYTES 1024u
/* Bytes after a block's entries: restart offsets and count, and in version 3 one interval CRC per
 * restart and the restart array's CRC. */
#define SEG_TAIL_BYTES(version, n) ((version) >= 3 ? 8 * (size_t)(n) + 8 : 4 * (size_t)(n) + 4)
/* Bit 63 of a block's interval mask: its restart array passed its CRC (note 10). */
#define SEG_IVMASK_TAIL (1ull << 63)
#define SEG_IVMASK_GROUPS 63u
/* A data block ends with a compression flag byte and the CRC32C of everything before it. */
#define SEG_TRAILER_BYTES 5
#define SEG_BLOCK_NONE 0
#define SEG_BLOCK_ZSTD 1
#define SEG_ZSTD_LEVEL 3
#define SEG_DEFAULT_BLOCK_BYTES 65536u
#define SEG_MIN_BLOCK_BYTES 64u
#define SEG_MAX_BLOCK_BYTES (64u * 1024 * 1024)
/* Largest value a segment stores; the public API's hard ceiling. */
#define SEG_MAX_VALUE_BYTES (FLOE_MAX_PUT_BYTES + OBJREC_MAX_HEADER_BYTES)
/* Worst-case entry header: three varint32, type, content-type length, varint64 seq, varint64 write
 * time (version 2). */
#define SEG_ENTRY_HEADER_MAX (5 + 5 + 5 + 1 + 1 + 10 + 10)
/* Largest uncompressed block: a block of one largest entry plus its restart array (version 3: with
 * its interval CRC and the array's CRC). */
#define SEG_MAX_BLOCK_RAW                                                                                    \
    (SEG_MAX_VALUE_BYTES + FLOE_MAX_KEY_BYTES + FLOE_MAX_CONTENT_TYPE_BYTES + SEG_ENTRY_HEADER_MAX + 16)
/* A block of several entries is at most block_bytes (the writer cuts before an entry that could pass
 * it), so at most SEG_MAX_BLOCK_BYTES; a larger block is one entry standing alone. */
#define SEG_MAX_SHARED_BLOCK_RAW SEG_MAX_BLOCK_BYTES
/* A zstd block decodes to at most 128 KiB (Block_Maximum_Size, RFC 8878 section 3.1.1.2.4) and takes
 * at least 4 bytes (3 of header, 1 of an RLE byte), so a frame of n bytes decodes to at most
 * n * 32768 bytes. */
#define SEG_ZSTD_MAX_RATIO (131072 / 4)
/* Window the reader accepts when it decodes only the start of a frame (the single-entry check in
 * block_inflate needs a streaming decoder, which buffers a window). Level 3 uses 2^21; the writer
 * stores raw any frame whose window is larger than this. */
#define SEG_ZSTD_WINDOW_LOG_MAX 24
/* Cap on entries per segment: keeps the bloom region's u32 length and the hash buffer bounded. */
#define SEG_MAX_ENTRIES (1ull << 28)
#define SEG_META_FIXED_BYTES 64
/* An index entry: u16 key length, key, u64 offset, u32 length. */
#define SEG_INDEX_ENTRY_FIXED 14
/* Smallest stored block: one 7-byte entry (version 1; 8 in version 2), one restart, the restart count
 * and the trailer. */
#define SEG_MIN_STORED_BLOCK (7 + 4 + 4 + SEG_TRAILER_BYTES)

/* The footer as it lies on disk (every field little-endian); encoded and decoded field by field at
 * these offsets, never by copying the struct. */
struct seg_footer_disk {
    uint8_t magic[SEG_MAGIC_BYTES];
    uint32_t version;
    uint32_t bloom_crc32c;
    uint64_t bloom_offset;
    uint32_t bloom_length;
    uint32_t index_crc32c;
    uint64_t index_offset;
    uint32_t index_length;
    uint32_t meta_crc32c;
    uint64_t meta_offset;
    uint32_t meta_length;
    uint32_t footer_crc32c;
};
_Static_assert(sizeof(struct seg_footer_disk) == SEGMENT_FOOTER_BYTES, "segment footer must be 64 bytes");
_Static_assert(offsetof(struct seg_footer_disk, footer_crc32c) == SEGMENT_FOOTER_BYTES - 4,
               "the footer CRC must be the footer's last four bytes");

#define FOOTER_AT(field) offsetof(struct seg_footer_disk, field)

typedef struct seg_footer {
    uint32_t version; /* 1 (SEG_FORMAT_VERSION_NO_WRITE_TIME) to 4 (SEG_FORMAT_VERSION) */
    uint64_t bloom_offset, index_offset, meta_offset;
    uint32_t bloom_length, index_length, meta_length;
    uint32_t bloom_crc32c, index_crc32c, meta_crc32c;
} seg_footer;

/* One index entry, parsed. last_key points into the reader's tail bytes. */
typedef struct seg_block_ref {
    const uint8_t *last_key;
    uint32_t last_key_len;
    uint32_t length; /* stored bytes including the trailer */
    uint64_t offset;
} seg_block_ref;

/* A verified, decompressed block shared through the block cache (invariant 7). */
typedef struct decoded_block {
    atomic_uint refs;
    size_t len;
    uint8_t data[];
} decoded_block;

struct segment {
    char *name;          /* owned copy of src->name */
    segment_source src;  /* src.name points at name */
    const uint8_t *base; /* the whole file if mapped, else NULL */
    void *map;           /* owned mapping (segment_open_file), or NULL */
    size_t map_len;
    lru_t *cache;      /* borrowed, may be NULL */
    uint64_t cache_id; /* unique per reader: the first half of block cache keys */
    uint32_t version;  /* the file's format version: whether entries carry a write time */
    segment_info info; /* min_key and max_key owned */
    uint32_t max_block_raw;
    const uint8_t *tail; /* bloom, index and metadata regions (into base or tail_buf) */
    uint8_t *tail_buf;   /* owned copy of the tail when not mapped */
    uint64_t tail_len;
    bloom_filter bloom;         /* points into tail */
    seg_block_ref *index;       /* info.block_count entries, owned */
    _Atomic uint64_t *verified; /* bit b set once block b passed its CRC (mapped files only) */
    _Atomic uint64_t *ivmask;   /* version 3 mapped files: per block, the checked interval groups (note 10) */
};

struct segment_writer {
    file_appender out; /* the file, written around the page cache (file.h) */
    char *path;
    uint32_t block_bytes;
    unsigned bloom_bits_per_key;
    floe_compression compression;
    uint64_t id, epoch;
    ZSTD_CCtx *cctx;
    uint8_t *block; /* the block being built: entries, then restarts and trailer at flush */
    size_t block_len, block_cap;
    uint32_t *restarts;
    size_t restarts_len, restarts_cap;
    uint32_t entries_in_block;
    uint32_t since_restart; /* entries since the last restart */
    uint8_t *zbuf; /* compressed block and its trailer */
    size_t zbuf_cap;
    uint8_t *index;
    size_t index_len, index_cap;
    uint64_t *hashes;
    size_t hashes_len, hashes_cap;
    uint8_t first_key[FLOE_MAX_KEY_BYTES];
    uint32_t first_key_len;
    uint8_t last_key[FLOE_MAX_KEY_BYTES];
    uint32_t last_key_len;
    uint64_t count, block_count, min_seq, max_seq;
    uint32_t max_block_raw;
    uint64_t offset; /* bytes written so far */
    uint32_t file_crc;
    int failed; /* a write failed: the file is unusable and finish fails */
};

void segment_escape_bytes(const uint8_t *p, size_t len, size_t max_bytes, char *out)
{
    size_t n = len < max_bytes ? len : max_bytes;
    char *o = out;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            *o++ = (char)c;
        } else {
            static const char hex[] = "0123456789abcdef";
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    if (n < len) {
        memcpy(o, "...", 3);
        o += 3;
    }
    *o = '\0';
}

void segment_info_clear(segment_info *info)
{
    if (!info)
        return;
    free(info->min_key);
    free(info->max_key);
    memset(info, 0, sizeof *info);
}

int segment_info_copy(segment_info *dst, const segment_info *src)
{
    uint8_t *min_key = malloc(src->min_key_len ? src->min_key_len : 1);
    uint8_t *max_key = malloc(src->max_key_len ? src->max_key_len : 1);
    if (!min_key || !max_key) {
        free(min_key);
        free(max_key);
        return err_set(FLOE_ENOMEM, "segment info: out of memory copying keys");
    }
    if (src->min_key_len)
        memcpy(min_key, src->min_key, src->min_key_len);
    if (src->max_key_len)
        memcpy(max_key, src->max_key, src->max_key_len);
    *dst = *src;
    dst->min_key = min_key;
    dst->max_key = max_key;
    return 0;
}

/* Grows one of the writer's arrays, whose pointer is at arrayp, to hold need elements of elem bytes,
 * never past limit elements (array_grow); what names the array in the error. */
static int writer_reserve(void *arrayp, size_t *cap, size_t need, size_t elem, size_t limit, const char *what)
{
    if (need <= *cap)
        return 0;
    if (need > limit)
        return err_set(FLOE_ETOOBIG, "segment writer: %s would exceed its cap of %zu", what, limit);
    if (array_grow(arrayp, cap, need, elem, 256, limit) != 0)
        return err_set(FLOE_ENOMEM, "segment writer: out of memory growing %s to %zu bytes", what,
                       array_next_cap(*cap, need, 256, limit) * elem);
    return 0;
}

static int writer_write(segment_writer *w, const uint8_t *p, size_t len)
{
    int e = file_appender_write(&w->out, p, len);
    if (e) {
        w->failed = 1;
        return err_set(FLOE_EIO, "segment %s: write at offset %" PRIu64 ": %s", w->path, w->out.written,
                       strerror(e));
    }
    w->file_crc = crc32c_extend(w->file_crc, p, len);
    w->offset += len;
    return 0;
}

int segment_writer_open(const char *path, const segment_write_options *opts, segment_writer **out)
{
    segment_writer *w = NULL;
    int rc = 0;

    if (!path || !opts || !out)
        return err_set(FLOE_EINVAL, "segment_writer_open: path, options and out are required");
    uint32_t block_bytes = opts->block_bytes ? opts->block_bytes : SEG_DEFAULT_BLOCK_BYTES;
    if (block_bytes < SEG_MIN_BLOCK_BYTES || block_bytes > SEG_MAX_BLOCK_BYTES)
        return err_set(FLOE_EINVAL, "segment %s: block_bytes %" PRIu32 " is outside %u..%u", path,
                       block_bytes, SEG_MIN_BLOCK_BYTES, SEG_MAX_BLOCK_BYTES);
    if (opts->compression != FLOE_COMPRESSION_ZSTD && opts->compression != FLOE_COMPRESSION_NONE)
        return err_set(FLOE_EINVAL, "segment %s: unknown compression %d", path, (int)opts->compression);

    w = calloc(1, sizeof *w);
    if (!w)
        return err_set(FLOE_ENOMEM, "segment %s: out of memory", path);
    w->out.fd = -1;
    w->block_bytes = block_bytes;
    w->bloom_bits_per_key = opts->bloom_bits_per_key;
    w->compression = opts->compression;
    w->id = opts->id;
    w->epoch = opts->epoch;
    w->path = strdup(path);
    if (!w->path) {
        rc = err_set(FLOE_ENOMEM, "segment %s: out of memory", path);
        goto out;
    }
    if (w->compression == FLOE_COMPRESSION_ZSTD) {
        w->cctx = ZSTD_createCCtx();
        if (!w->cctx) {
            rc = err_set(FLOE_ENOMEM, "segment %s: cannot create a zstd context", path);
            goto out;
        }
    }
    int e = file_appender_open(&w->out, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644, opts->direct);
    if (e) {
        rc = err_set(e == ENOMEM ? FLOE_ENOMEM : FLOE_EIO, "segment %s: create: %s", path, strerror(e));
        goto out;
    }
out:
    if (rc < 0) {
        /* The file was not created by us unless fd is open, so there is nothing to remove. */
        ZSTD_freeCCtx(w->cctx);
        free(w->path);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* 1 if the zstd frame at p (len bytes) needs a window of at most 2^SEG_ZSTD_WINDOW_LOG_MAX bytes, as
 * its Window_Descriptor says (RFC 8878 section 3.1.1.1.2): what a reader's streaming decode of a
 * large block accepts. Parsed here because libzstd's frame header API is not stable. */
static int zstd_window_ok(const uint8_t *p, size_t len)
{
    if (len < 6)
        return 0;
    uint8_t fhd = p[4];
    if (fhd & 0x20) { /* single segment: the window is the content size */
        unsigned long long size = ZSTD_getFrameContentSize(p, len);
        return size != ZSTD_CONTENTSIZE_ERROR && size != ZSTD_CONTENTSIZE_UNKNOWN &&
               size <= (1ull << SEG_ZSTD_WINDOW_LOG_MAX);
    }
    unsigned exponent = p[5] >> 3, mantissa = p[5] & 7;
    uint64_t base = 1ull << (10 + exponent);
    return base + base / 8 * mantissa <= (1ull << SEG_ZSTD_WINDOW_LOG_MAX);
}

static int writer_flush_block(segment_writer *w)
{
    int rc;
    if (w->entries_in_block == 0)
        return 0;

    size_t raw_len = w->block_len + SEG_TAIL_BYTES(SEG_FORMAT_VERSION, w->restarts_len);
    rc = writer_reserve(&w->block, &w->block_cap, raw_len + SEG_TRAILER_BYTES, 1,
                        SEG_MAX_BLOCK_RAW + SEG_TRAILER_BYTES, "data block");
    if (rc < 0)
        return rc;
    uint8_t *tail = w->block + w->block_len, *p = tail;
    for (size_t i = 0; i < w->restarts_len; i++, p += 4)
        put_le32(p, w->restarts[i]);
    for (size_t i = 0; i < w->restarts_len; i++, p += 4) {
        size_t end = i + 1 < w->restarts_len ? w->restarts[i + 1] : w->block_len;
        put_le32(p, crc32c(w->block + w->restarts[i], end - w->restarts[i]));
    }
    put_le32(p, (uint32_t)w->restarts_len);
    p += 4;
    put_le32(p, crc32c(tail, (size_t)(p - tail)));

    uint8_t *body = w->block;
    size_t body_len = raw_len;
    uint8_t flag = SEG_BLOCK_NONE;
    if (w->compression == FLOE_COMPRESSION_ZSTD) {
        size_t bound = ZSTD_compressBound(raw_len);
        rc = writer_reserve(&w->zbuf, &w->zbuf_cap, bound + SEG_TRAILER_BYTES, 1,
                            ZSTD_compressBound(SEG_MAX_BLOCK_RAW) + SEG_TRAILER_BYTES, "compressed block");
        if (rc < 0)
            return rc;
        size_t clen = ZSTD_compressCCtx(w->cctx, w->zbuf, bound, w->block, raw_len, SEG_ZSTD_LEVEL);
        /* Compression must pay for the decompression on every read: keep it only if it saves 1/8. */
        if (!ZSTD_isError(clen) && clen <= raw_len - raw_len / 8 && zstd_window_ok(w->zbuf, clen)) {
            body = w->zbuf;
            body_len = clen;
            flag = SEG_BLOCK_ZSTD;
        }
    }
    body[body_len] = flag;
    put_le32(body + body_len + 1, crc32c(body, body_len + 1));
    size_t stored_len = body_len + SEG_TRAILER_BYTES;
    if (stored_len > UINT32_MAX)
        return err_set(FLOE_ETOOBIG, "segment %s: block of %zu bytes does not fit the index", w->path,
                       stored_len);

    rc = writer_reserve(&w->index, &w->index_cap, w->index_len + SEG_INDEX_ENTRY_FIXED + w->last_key_len, 1,
                        UINT32_MAX, "index");
    if (rc < 0)
        return rc;
    uint8_t *ix = w->index + w->index_len;
    put_le16(ix, (uint16_t)w->last_key_len);
    memcpy(ix + 2, w->last_key, w->last_key_len);
    put_le64(ix + 2 + w->last_key_len, w->offset);
    put_le32(ix + 10 + w->last_key_len, (uint32_t)stored_len);

    rc = writer_write(w, body, stored_len);
    if (rc < 0)
        return rc;
    w->index_len += SEG_INDEX_ENTRY_FIXED + w->last_key_len;
    if (raw_len > w->max_block_raw)
        w->max_block_raw = (uint32_t)raw_len;
    w->block_count++;
    w->block_len = 0;
    w->restarts_len = 0;
    w->entries_in_block = 0;
    w->since_restart = 0;
    return 0;
}

static int validate_entry(const segment_writer *w, const entry *e)
{
    if (!e || (!e->key && e->key_len))
        return err_set(FLOE_EINVAL, "segment %s: entry without a key", w->path);
    if (e->key_len == 0 || e->key_len > FLOE_MAX_KEY_BYTES)
        return err_set(FLOE_EKEY, "segment %s: key of %" PRIu32 " bytes (must be 1..%d)", w->path, e->key_len,
                       FLOE_MAX_KEY_BYTES);
    if (e->type != ENTRY_PUT && e->type != ENTRY_DELETE && e->type != ENTRY_OBJECT)
        return err_set(FLOE_EINVAL, "segment %s: entry type %u is neither put, object nor delete", w->path,
                       e->type);
    if (e->type == ENTRY_DELETE && (e->value_len || e->content_type_len))
        return err_set(FLOE_EINVAL, "segment %s: a delete carries no value or content type", w->path);
    if (e->value_len > SEG_MAX_VALUE_BYTES)
        return err_set(FLOE_ETOOBIG, "segment %s: value of %" PRIu32 " bytes exceeds %llu", w->path,
                       e->value_len, (unsigned long long)SEG_MAX_VALUE_BYTES);
    if (e->value_len && !e->value)
        return err_set(FLOE_EINVAL, "segment %s: value_len %" PRIu32 " without a value", w->path,
                       e->value_len);
    if (e->content_type_len > FLOE_MAX_CONTENT_TYPE_BYTES || (e->content_type_len && !e->content_type))
        return err_set(FLOE_EINVAL, "segment %s: content type of %" PRIu32 " bytes (at most %d)", w->path,
                       e->content_type_len, FLOE_MAX_CONTENT_TYPE_BYTES);
    if (w->count > 0 && key_cmp(e->key, e->key_len, w->last_key, w->last_key_len) <= 0) {
        char cur[4 * 64 + 4], prev[4 * 64 + 4];
        segment_escape_bytes(e->key, e->key_len, 64, cur);
        segment_escape_bytes(w->last_key, w->last_key_len, 64, prev);
        return err_set(FLOE_EINVAL,
                       "segment %s: key \"%s\" added after \"%s\": keys must be strictly increasing", w->path,
                       cur, prev);
    }
    if (w->count >= SEG_MAX_ENTRIES)
        return err_set(FLOE_ETOOBIG, "segment %s: more than %llu entries", w->path, SEG_MAX_ENTRIES);
    return 0;
}

int segment_writer_add(segment_writer *w, const entry *e)
{
    int rc;
    if (!w)
        return err_set(FLOE_EINVAL, "segment_writer_add: no writer");
    if (w->failed)
        return err_set(FLOE_EIO, "segment %s: an earlier write failed; abort this writer", w->path);
    rc = validate_entry(w, e);
    if (rc < 0)
        return rc;

    size_t est = SEG_ENTRY_HEADER_MAX + e->key_len + e->content_type_len + e->value_len;
    size_t tail_est = SEG_TAIL_BYTES(SEG_FORMAT_VERSION, w->restarts_len + 1);
    if (w->entries_in_block > 0 && w->block_len + est + tail_est > w->block_bytes) {
        rc = writer_flush_block(w);
        if (rc < 0)
            return rc;
    }
    rc = writer_reserve(&w->block, &w->block_cap, w->block_len + est, 1, SEG_MAX_BLOCK_RAW, "data block");
    if (rc < 0)
        return rc;
    rc = writer_reserve(&w->hashes, &w->hashes_cap, w->hashes_len + 1, sizeof *w->hashes, SEG_MAX_ENTRIES,
                        "bloom key hashes");
    if (rc < 0)
        return rc;

    uint32_t shared = 0;
    if (w->entries_in_block == 0 || w->since_restart >= SEG_RESTART_INTERVAL ||
        w->block_len - w->restarts[w->restarts_len - 1] >= SEG_RESTART_BYTES) {
        rc = writer_reserve(&w->restarts, &w->restarts_cap, w->restarts_len + 1, sizeof *w->restarts,
                            SEG_MAX_BLOCK_RAW / 7 / SEG_RESTART_INTERVAL + SEG_MAX_BLOCK_RAW / SEG_RESTART_BYTES + 2,
                            "restart array");
        if (rc < 0)
            return rc;
        w->restarts[w->restarts_len++] = (uint32_t)w->block_len;
        w->since_restart = 0;
    } else {
        uint32_t n = e->key_len < w->last_key_len ? e->key_len : w->last_key_len;
        while (shared < n && e->key[shared] == w->last_key[shared])
            shared++;
    }
    uint8_t *p = w->block + w->block_len;
    p = put_varint64(p, shared);
    p = put_varint64(p, e->key_len - shared);
    p = put_varint64(p, e->value_len);
    *p++ = e->type;
    *p++ = (uint8_t)e->content_type_len;
    p = put_varint64(p, e->seq);
    p = put_varint64(p, e->write_ms);
    memcpy(p, e->key + shared, e->key_len - shared);
    p += e->key_len - shared;
    if (e->content_type_len) {
        memcpy(p, e->content_type, e->content_type_len);
        p += e->content_type_len;
    }
    if (e->value_len) {
        memcpy(p, e->value, e->value_len);
        p += e->value_len;
    }
    w->block_len = (size_t)(p - w->block);
    w->entries_in_block++;
    w->since_restart++;

    if (w->count == 0) {
        memcpy(w->first_key, e->key, e->key_len);
        w->first_key_len = e->key_len;
        w->min_seq = w->max_seq = e->seq;
    }
    if (e->seq < w->min_seq)
        w->min_seq = e->seq;
    if (e->seq > w->max_seq)
        w->max_seq = e->seq;
    memcpy(w->last_key, e->key, e->key_len);
    w->last_key_len = e->key_len;
    w->hashes[w->hashes_len++] = bloom_hash(e->key, e->key_len);
    w->count++;

    /* A block reaching its target (or one large entry on its own) is written at once. */
    if (w->block_len + SEG_TAIL_BYTES(SEG_FORMAT_VERSION, w->restarts_len) >= w->block_bytes)
        return writer_flush_block(w);
    return 0;
}

static void writer_free(segment_writer *w)
{
    ZSTD_freeCCtx(w->cctx);
    free(w->block);
    free(w->restarts);
    free(w->zbuf);
    free(w->index);
    free(w->hashes);
    free(w->path);
    free(w);
}

void segment_writer_abort(segment_writer *w)
{
    if (!w)
        return;
    if (w->out.fd >= 0) {
        file_appender_close(&w->out);
        file_unlink(w->path);
    }
    writer_free(w);
}

/* Writes the region and records where it went. */
static int writer_region(segment_writer *w, const uint8_t *p, size_t len, uint64_t *offset, uint32_t *crc)
{
    if (len > UINT32_MAX)
        return err_set(FLOE_ETOOBIG, "segment %s: a %zu-byte region does not fit the footer", w->path, len);
    *offset = w->offset;
    *crc = crc32c(p, len);
    return writer_write(w, p, len);
}

/* Fills *info from what the writer has seen (keys malloc'd; the caller clears it). The file's size
 * and CRC are left to segment_writer_finish, which knows them last. */
static int writer_info(const segment_writer *w, segment_info *info)
{
    int rc = 0;

    info->min_key = malloc(w->first_key_len);
    info->max_key = malloc(w->last_key_len);
    if (!info->min_key || !info->max_key) {
        rc = err_set(FLOE_ENOMEM, "segment %s: out of memory finishing", w->path);
        goto out;
    }
    info->id = w->id;
    info->epoch = w->epoch;
    info->min_seq = w->min_seq;
    info->max_seq = w->max_seq;
    info->count = w->count;
    info->block_count = w->block_count;
    info->created_unix_s = (int64_t)time(NULL);
    memcpy(info->min_key, w->first_key, w->first_key_len);
    info->min_key_len = w->first_key_len;
    memcpy(info->max_key, w->last_key, w->last_key_len);
    info->max_key_len = w->last_key_len;
out:
    return rc;
}

/* Builds the bloom filter over every key added and writes it, recording its place in f. */
static int writer_write_bloom(segment_writer *w, seg_footer *f)
{
    size_t bloom_len = bloom_region_bytes(w->hashes_len, w->bloom_bits_per_key);
    uint8_t *bloom = malloc(bloom_len);
    int rc = 0;

    if (!bloom) {
        rc = err_set(FLOE_ENOMEM, "segment %s: out of memory finishing", w->path);
        goto out;
    }
    bloom_build(w->hashes, w->hashes_len, w->bloom_bits_per_key, bloom, bloom_len);
    rc = writer_region(w, bloom, bloom_len, &f->bloom_offset, &f->bloom_crc32c);
    if (rc < 0)
        goto out;
    f->bloom_length = (uint32_t)bloom_len;
out:
    free(bloom);
    return rc;
}

/* Encodes the metadata region of info (meta_parse reads it back) and writes it, recording its place
 * in f. */
static int writer_write_meta(segment_writer *w, const segment_info *info, seg_footer *f)
{
    size_t meta_len = SEG_META_FIXED_BYTES + info->min_key_len + info->max_key_len;
    uint8_t *meta = malloc(meta_len);
    int rc = 0;

    if (!meta) {
        rc = err_set(FLOE_ENOMEM, "segment %s: out of memory finishing", w->path);
        goto out;
    }
    put_le64(meta + 0, info->id);
    put_le64(meta + 8, info->epoch);
    put_le64(meta + 16, info->min_seq);
    put_le64(meta + 24, info->max_seq);
    put_le64(meta + 32, info->count);
    put_le64(meta + 40, info->block_count);
    put_le64(meta + 48, (uint64_t)info->created_unix_s);
    put_le32(meta + 56, w->max_block_raw);
    put_le16(meta + 60, (uint16_t)info->min_key_len);
    put_le16(meta + 62, (uint16_t)info->max_key_len);
    memcpy(meta + SEG_META_FIXED_BYTES, info->min_key, info->min_key_len);
    memcpy(meta + SEG_META_FIXED_BYTES + info->min_key_len, info->max_key, info->max_key_len);
    rc = writer_region(w, meta, meta_len, &f->meta_offset, &f->meta_crc32c);
    if (rc < 0)
        goto out;
    f->meta_length = (uint32_t)meta_len;
out:
    free(meta);
    return rc;
}

/* Encodes the footer naming the regions in f (footer_parse reads it back) and writes it last. */
static int writer_write_footer(segment_writer *w, const seg_footer *f)
{
    uint8_t footer[SEGMENT_FOOTER_BYTES];

    memcpy(footer + FOOTER_AT(magic), SEG_MAGIC, SEG_MAGIC_BYTES);
    put_le32(footer + FOOTER_AT(version), SEG_FORMAT_VERSION);
    put_le32(footer + FOOTER_AT(bloom_crc32c), f->bloom_crc32c);
    put_le64(footer + FOOTER_AT(bloom_offset), f->bloom_offset);
    put_le32(footer + FOOTER_AT(bloom_length), f->bloom_length);
    put_le32(footer + FOOTER_AT(index_crc32c), f->index_crc32c);
    put_le64(footer + FOOTER_AT(index_offset), f->index_offset);
    put_le32(footer + FOOTER_AT(index_length), f->index_length);
    put_le32(footer + FOOTER_AT(meta_crc32c), f->meta_crc32c);
    put_le64(footer + FOOTER_AT(meta_offset), f->meta_offset);
    put_le32(footer + FOOTER_AT(meta_length), f->meta_length);
    put_le32(footer + FOOTER_AT(footer_crc32c), crc32c(footer, FOOTER_AT(footer_crc32c)));
    return writer_write(w, footer, sizeof footer);
}

/* Writes what is buffered, makes the file durable and closes it (w->out.fd is -1 afterwards). A
 * failed close removes the file here, as segment_writer_abort no longer can. */
static int writer_sync_close(segment_writer *w)
{
    int e = file_appender_finish(&w->out);
    if (e) {
        w->failed = 1;
        return err_set(FLOE_EIO, "segment %s: write at offset %" PRIu64 ": %s", w->path, w->out.written,
                       strerror(e));
    }
    if (file_fsync(w->out.fd) != 0)
        return err_set(FLOE_EIO, "segment %s: fsync: %s", w->path, strerror(errno));
    if ((e = file_appender_close(&w->out)) != 0) {
        file_unlink(w->path);
        return err_set(FLOE_EIO, "segment %s: close: %s", w->path, strerror(e));
    }
    return 0;
}

int segment_writer_finish(segment_writer *w, segment_info *info_out)
{
    segment_info info = {0};
    seg_footer f = {0};
    int rc = 0;

    if (!w)
        return err_set(FLOE_EINVAL, "segment_writer_finish: no writer");
    if (w->failed) {
        rc = err_set(FLOE_EIO, "segment %s: an earlier write failed", w->path);
        goto out;
    }
    if (w->count == 0) {
        rc = err_set(FLOE_EINVAL, "segment %s: a segment needs at least one entry", w->path);
        goto out;
    }
    rc = writer_flush_block(w);
    if (rc < 0)
        goto out;
    rc = writer_info(w, &info);
    if (rc < 0)
        goto out;
    /* Invariant 1: bloom, index, metadata and footer follow the data blocks with no gap. */
    rc = writer_write_bloom(w, &f);
    if (rc < 0)
        goto out;
    rc = writer_region(w, w->index, w->index_len, &f.index_offset, &f.index_crc32c);
    if (rc < 0)
        goto out;
    f.index_length = (uint32_t)w->index_len;
    rc = writer_write_meta(w, &info, &f);
    if (rc < 0)
        goto out;
    rc = writer_write_footer(w, &f);
    if (rc < 0)
        goto out;
    rc = writer_sync_close(w);
    if (rc < 0)
        goto out;
    info.file_bytes = w->offset;
    info.file_crc32c = w->file_crc;
out:
    if (rc < 0) {
        segment_info_clear(&info);
        segment_writer_abort(w);
        return rc;
    }
    writer_free(w);
    if (info_out)
        *info_out = info;
    else
        segment_info_clear(&info);
    return 0;
}
/* A decoded data block, as the reader, segment_verify and the inspection all see one. */
typedef struct block_view {
    const uint8_t *data; /* decoded block: entries, restart offsets, restart count */
    size_t len;
    const uint8_t *restarts;
    const uint8_t *interval_crcs; /* version 3: one CRC32C per restart interval; NULL before */
    uint32_t nrestarts;
    size_t entries_end;
    uint32_t version;   /* the segment's format version: whether entries carry a write time */
    lru_handle *handle; /* pins a cached decoded block, or NULL */
    decoded_block *ref; /* a reference of our own on a decoded block, or NULL */
} block_view;

typedef struct entry_view {
    uint64_t shared, unshared, value_len, seq, write_ms;
    uint8_t type, ct_len;
    const uint8_t *key_delta, *ct, *value;
} entry_view;

/* A position inside a block: the current entry, its full key, and where the next entry starts. */
typedef struct block_cursor {
    size_t next;
    uint32_t key_len;
    entry_view e;
    uint8_t key[FLOE_MAX_KEY_BYTES];
} block_cursor;

static void decoded_unref(void *p)
{
    decoded_block *d = p;
    if (d && atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) == 1)
        free(d);
}

static decoded_block *decoded_alloc(size_t len)
{
    decoded_block *d = malloc(sizeof *d + (len ? len : 1));
    if (d) {
        atomic_init(&d->refs, 1);
        d->len = len;
    }
    return d;
}

/* Checks the trailer of a stored block (CRC unless check_crc is 0, then the flag byte). Messages name
 * the block and its offset; callers prefix the segment's name. */
static int stored_block_check(uint64_t b, uint64_t off, const uint8_t *stored, size_t len, int check_crc,
                              uint8_t *flag_out)
{
    if (len < SEG_TRAILER_BYTES)
        return err_set(FLOE_ECORRUPT,
                       "block %" PRIu64 " at offset %" PRIu64 ": %zu bytes is shorter than its trailer", b,
                       off, len);
    if (check_crc) {
        uint32_t stored_crc = get_le32(stored + len - 4);
        uint32_t computed = crc32c(stored, len - 4);
        if (stored_crc != computed)
            return err_set(FLOE_ECORRUPT,
                           "block %" PRIu64 " at offset %" PRIu64 ": crc mismatch (stored 0x%08" PRIx32
                           ", computed 0x%08" PRIx32 ")",
                           b, off, stored_crc, computed);
    }
    uint8_t flag = stored[len - SEG_TRAILER_BYTES];
    if (flag != SEG_BLOCK_NONE && flag != SEG_BLOCK_ZSTD)
        return err_set(FLOE_ECORRUPT, "block %" PRIu64 " at offset %" PRIu64 ": unknown compression flag %u",
                       b, off, flag);
    *flag_out = flag;
    return 0;
}

static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static pthread_key_t dctx_key;
static int dctx_key_ok;

static void dctx_free(void *p)
{
    ZSTD_freeDCtx(p);
}

static void dctx_key_init(void)
{
    dctx_key_ok = pthread_key_create(&dctx_key, dctx_free) == 0;
}

/* The calling thread's decompression context, created on first use and freed at thread exit. NULL if
 * none can be made (the caller then uses a private one). */
static ZSTD_DCtx *thread_dctx(void)
{
    pthread_once(&dctx_once, dctx_key_init);
    if (!dctx_key_ok)
        return NULL;
    ZSTD_DCtx *d = pthread_getspecific(dctx_key);
    if (!d) {
        d = ZSTD_createDCtx();
        if (d && pthread_setspecific(dctx_key, d) != 0) {
            ZSTD_freeDCtx(d);
            d = NULL;
        }
    }
    return d;
}

/* For a block that declares raw decoded bytes, more than a block of several entries can hold: decodes
 * only the start of its frame and checks that it is one entry, the index's key for the block, whose
 * lengths add up to raw with the one restart. The writer makes every such block this way; anything
 * else is refused before a buffer of raw bytes is allocated. Uses at most a 2^SEG_ZSTD_WINDOW_LOG_MAX
 * window. */
static int block_single_entry_check(uint64_t b, const seg_block_ref *ix, uint32_t version,
                                    const uint8_t *body, size_t body_len, unsigned long long raw)
{
    uint8_t head[SEG_ENTRY_HEADER_MAX + FLOE_MAX_KEY_BYTES];
    ZSTD_inBuffer in = {body, body_len, 0};
    ZSTD_outBuffer out = {head, sizeof head, 0};
    const char *why = NULL;
    ZSTD_DCtx *z = ZSTD_createDCtx();
    if (!z)
        return err_set(FLOE_ENOMEM, "block %" PRIu64 " at offset %" PRIu64 ": cannot create a zstd context",
                       b, ix->offset);
    if (ZSTD_isError(ZSTD_DCtx_setParameter(z, ZSTD_d_windowLogMax, SEG_ZSTD_WINDOW_LOG_MAX)))
        why = "cannot limit the zstd window";
    while (!why && out.pos < out.size) {
        size_t in_before = in.pos, out_before = out.pos;
        size_t r = ZSTD_decompressStream(z, &out, &in);
        if (ZSTD_isError(r))
            why = ZSTD_getErrorName(r);
        else if (r == 0 || (in.pos == in_before && out.pos == out_before))
            break;
    }
    ZSTD_freeDCtx(z);

    entry_view e = {0};
    const uint8_t *p = head, *end = head + out.pos;
    if (!why && (!(p = get_varint(p, end, 32, &e.shared)) || !(p = get_varint(p, end, 32, &e.unshared)) ||
                 !(p = get_varint(p, end, 32, &e.value_len)) || end - p < 2))
        why = "its first entry does not parse";
    if (!why) {
        e.type = *p++;
        e.ct_len = *p++;
        if (!(p = get_varint(p, end, 64, &e.seq)) ||
            (version >= 2 && !(p = get_varint(p, end, 64, &e.write_ms))) || (uint64_t)(end - p) < e.unshared)
            why = "its first entry does not parse";
        else if (e.shared != 0 || e.unshared != ix->last_key_len || memcmp(p, ix->last_key, e.unshared) != 0)
            why = "its first entry is not the index's last key";
    }
    if (why)
        return err_set(FLOE_ECORRUPT,
                       "block %" PRIu64 " at offset %" PRIu64
                       ": zstd frame declares %llu decoded bytes, more "
                       "than a block of several entries holds (%u), but %s",
                       b, ix->offset, raw, (unsigned)SEG_MAX_SHARED_BLOCK_RAW, why);
    uint64_t single = (uint64_t)(p - head) + e.unshared + e.ct_len + e.value_len + SEG_TAIL_BYTES(version, 1);
    if (single != raw)
        return err_set(FLOE_ECORRUPT,
                       "block %" PRIu64 " at offset %" PRIu64
                       ": zstd frame declares %llu decoded bytes, more "
                       "than a block of several entries holds (%u), but its one entry makes %" PRIu64,
                       b, ix->offset, raw, (unsigned)SEG_MAX_SHARED_BLOCK_RAW, single);
    return 0;
}

/* Decompresses the zstd body of block b (index entry ix) into a new decoded_block (one reference,
 * owned by the caller). Before allocating, the size the frame declares must be one the writer could
 * have produced: at most max_raw (the metadata's largest block), at most what zstd can decode from
 * body_len bytes, and, past the largest block of several entries, exactly one entry's worth. */
static int block_inflate(uint64_t b, const seg_block_ref *ix, uint32_t version, const uint8_t *body,
                         size_t body_len, uint32_t max_raw, decoded_block **out)
{
    uint64_t off = ix->offset;
    unsigned long long raw = ZSTD_getFrameContentSize(body, body_len);
    if (raw == ZSTD_CONTENTSIZE_ERROR || raw == ZSTD_CONTENTSIZE_UNKNOWN)
        return err_set(FLOE_ECORRUPT, "block %" PRIu64 " at offset %" PRIu64 ": zstd frame states no size", b,
                       off);
    if (raw > max_raw)
        return err_set(FLOE_ECORRUPT,
                       "block %" PRIu64 " at offset %" PRIu64
                       ": zstd frame declares %llu decoded bytes, more "
                       "than the metadata's largest block (%" PRIu32 ")",
                       b, off, raw, max_raw);
    if (raw > (unsigned long long)body_len * SEG_ZSTD_MAX_RATIO)
        return err_set(FLOE_ECORRUPT,
                       "block %" PRIu64 " at offset %" PRIu64
                       ": zstd frame declares %llu decoded bytes, more "
                       "than %zu compressed bytes can hold (%llu)",
                       b, off, raw, body_len, (unsigned long long)body_len * SEG_ZSTD_MAX_RATIO);
    if (raw > SEG_MAX_SHARED_BLOCK_RAW) {
        int rc = block_single_entry_check(b, ix, version, body, body_len, raw);
        if (rc < 0)
            return rc;
    }
    decoded_block *d = decoded_alloc((size_t)raw);
    if (!d)
        return err_set(FLOE_ENOMEM, "block %" PRIu64 " at offset %" PRIu64 ": out of memory for %llu bytes",
                       b, off, raw);
    ZSTD_DCtx *dctx = thread_dctx();
    ZSTD_DCtx *own = NULL;
    if (!dctx && !(dctx = own = ZSTD_createDCtx())) {
        free(d);
        return err_set(FLOE_ENOMEM, "block %" PRIu64 " at offset %" PRIu64 ": cannot create a zstd context",
                       b, off);
    }
    size_t n = ZSTD_decompressDCtx(dctx, d->data, (size_t)raw, body, body_len);
    ZSTD_freeDCtx(own);
    if (ZSTD_isError(n) || n != raw) {
        free(d);
        return err_set(FLOE_ECORRUPT, "block %" PRIu64 " at offset %" PRIu64 ": zstd: %s", b, off,
                       ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short output");
    }
    *out = d;
    return 0;
}

/* Points v at a decoded block's restart array; version is the segment's format version. */
static int view_init(block_view *v, uint32_t version, uint64_t b, uint64_t off, const uint8_t *data,
                     size_t len)
{
    size_t fixed = SEG_TAIL_BYTES(version, 0), per = SEG_TAIL_BYTES(version, 1) - fixed;
    uint32_t n = len >= fixed ? get_le32(data + len - fixed) : 0;
    if (n == 0 || n > (len - fixed) / per)
        return err_set(FLOE_ECORRUPT,
                       "block %" PRIu64 " at offset %" PRIu64 ": restart count %" PRIu32
                       " does not fit %zu bytes",
                       b, off, n, len);
    v->data = data;
    v->len = len;
    v->version = version;
    v->nrestarts = n;
    v->entries_end = len - SEG_TAIL_BYTES(version, n);
    v->restarts = data + v->entries_end;
    v->interval_crcs = version >= 3 ? v->restarts + 4 * (size_t)n : NULL;
    return 0;
}

/* Decodes an entry header at p of a segment of format version; returns the end of the entry, or NULL
 * if it does not fit before end. */
static const uint8_t *entry_header(const uint8_t *p, const uint8_t *end, uint32_t version, entry_view *e)
{
    if (!(p = get_varint(p, end, 32, &e->shared)) || !(p = get_varint(p, end, 32, &e->unshared)) ||
        !(p = get_varint(p, end, 32, &e->value_len)))
        return NULL;
    if (end - p < 2)
        return NULL;
    e->type = *p++;
    e->ct_len = *p++;
    if (!(p = get_varint(p, end, 64, &e->seq)))
        return NULL;
    e->write_ms = 0;
    if (version >= 2 && !(p = get_varint(p, end, 64, &e->write_ms)))
        return NULL;
    if (e->type != ENTRY_PUT && e->type != ENTRY_DELETE && (e->type != ENTRY_OBJECT || version < 4))
        return NULL;
    if (e->type == ENTRY_DELETE && (e->value_len || e->ct_len))
        return NULL; /* a tombstone has no value and no content type (docs/formats.md) */
    if (e->shared + e->unshared == 0 || e->shared + e->unshared > FLOE_MAX_KEY_BYTES)
        return NULL;
    if (e->unshared + e->ct_len + e->value_len > (uint64_t)(end - p))
        return NULL;
    e->key_delta = p;
    e->ct = p + e->unshared;
    e->value = e->ct + e->ct_len;
    return e->value + e->value_len;
}

/* Steps c to the next entry. Returns 1 (entry in c), 0 at the end of the block, -1 if malformed. */
static int cursor_step(const block_view *v, block_cursor *c)
{
    if (c->next >= v->entries_end)
        return 0;
    const uint8_t *end = entry_header(v->data + c->next, v->data + v->entries_end, v->version, &c->e);
    if (!end || c->e.shared > c->key_len)
        return -1;
    memcpy(c->key + c->e.shared, c->e.key_delta, c->e.unshared);
    c->key_len = (uint32_t)(c->e.shared + c->e.unshared);
    c->next = (size_t)(end - v->data);
    return 1;
}

/* The entry c is at; its pointers are valid while c and its block are. */
static void cursor_entry(const block_cursor *c, entry *out)
{
    out->key = c->key;
    out->key_len = c->key_len;
    out->value = c->e.value;
    out->value_len = (uint32_t)c->e.value_len;
    out->content_type = c->e.ct_len ? (const char *)c->e.ct : NULL;
    out->content_type_len = c->e.ct_len;
    out->seq = c->e.seq;
    out->write_ms = c->e.write_ms;
    out->type = c->e.type;
}

/* The full key stored at restart i (restart entries share no prefix). -1 if malformed. */
static int restart_key(const block_view *v, uint32_t i, const uint8_t **key, size_t *key_len)
{
    entry_view e;
    uint32_t off = get_le32(v->restarts + 4 * (size_t)i);
    if (off >= v->entries_end || !entry_header(v->data + off, v->data + v->entries_end, v->version, &e) ||
        e.shared != 0)
        return -1;
    *key = e.key_delta;
    *key_len = (size_t)e.unshared;
    return 0;
}

/* Version 3: 1 if the restart array, its interval CRCs and the count match the array's CRC (the
 * last four bytes of the block); also checks that the offsets ascend inside the entries. */
static int tail_crc_ok(const block_view *v)
{
    size_t n = v->nrestarts;
    if (get_le32(v->data + v->len - 4) != crc32c(v->restarts, 8 * n + 4))
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t off = get_le32(v->restarts + 4 * i);
        if (off >= v->entries_end || (i > 0 && off <= get_le32(v->restarts + 4 * (i - 1))))
            return 0;
    }
    return get_le32(v->restarts) == 0;
}

/* Version 3: 1 if restart interval i matches its CRC. The offsets must have passed tail_crc_ok. */
static int interval_crc_ok(const block_view *v, uint32_t i)
{
    size_t from = get_le32(v->restarts + 4 * (size_t)i);
    size_t to = i + 1 < v->nrestarts ? get_le32(v->restarts + 4 * (size_t)(i + 1)) : v->entries_end;
    return get_le32(v->interval_crcs + 4 * (size_t)i) == crc32c(v->data + from, to - from);
}

/* Version 3: every interval and the restart array against their CRCs. -1 with a message if not. */
static int block_tail_check(uint64_t b, uint64_t off, const block_view *v)
{
    if (!tail_crc_ok(v))
        return err_set(FLOE_ECORRUPT, "block %" PRIu64 " at offset %" PRIu64 ": restart array crc mismatch", b, off);
    for (uint32_t i = 0; i < v->nrestarts; i++)
        if (!interval_crc_ok(v, i))
            return err_set(FLOE_ECORRUPT,
                           "block %" PRIu64 " at offset %" PRIu64 ": restart interval %" PRIu32 " crc mismatch", b,
                           off, i);
    return 0;
}

/* The last restart whose key is <= target (0 if none; the restart whose key equals it if any).
 * -1 if a restart does not parse. */
static int64_t restart_search(const block_view *v, const uint8_t *target, size_t target_len)
{
    uint32_t lo = 0, hi = v->nrestarts - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        const uint8_t *k;
        size_t klen;
        if (restart_key(v, mid, &k, &klen) < 0)
            return -1;
        int cmp = key_cmp(k, klen, target, target_len);
        if (cmp == 0)
            return mid;
        if (cmp < 0)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Positions c at the first entry at or after restart lo with key >= target (target NULL: the
 * first). Returns 1 if positioned, 0 if every key from there on is smaller, -1 if malformed. */
static int scan_from(const block_view *v, uint32_t lo, const uint8_t *target, size_t target_len, block_cursor *c)
{
    c->next = get_le32(v->restarts + 4 * (size_t)lo);
    c->key_len = 0;
    if (c->next >= v->entries_end)
        return -1;
    for (;;) {
        int r = cursor_step(v, c);
        if (r <= 0)
            return r;
        if (!target || key_cmp(c->key, c->key_len, target, target_len) >= 0)
            return 1;
    }
}

/* Positions c at the first entry with key >= target (target NULL: the first entry). Binary search
 * over the restart points, then a scan of at most one restart interval. Returns 1 if positioned, 0 if
 * every key in the block is smaller, -1 if the block is malformed. */
static int block_seek(const block_view *v, const uint8_t *target, size_t target_len, block_cursor *c)
{
    int64_t lo = target ? restart_search(v, target, target_len) : 0;
    return lo < 0 ? -1 : scan_from(v, (uint32_t)lo, target, target_len, c);
}

static _Atomic uint64_t next_reader_id = 1;

static int src_read(const segment_t *s, uint64_t off, void *buf, size_t len)
{
    if (s->base) {
        memcpy(buf, s->base + off, len);
        return 0;
    }
    int rc = s->src.read_at(s->src.ctx, off, buf, len);
    if (rc < 0)
        return err_wrap(rc, "segment %s: read %zu bytes at offset %" PRIu64, s->name, len, off);
    return 0;
}

static void cache_key(const segment_t *s, uint64_t b, uint8_t key[16])
{
    put_le64(key, s->cache_id);
    put_le64(key + 8, b);
}

static int bitmap_test(const segment_t *s, uint64_t b)
{
    return (atomic_load_explicit(&s->verified[b / 64], memory_order_relaxed) >> (b % 64)) & 1;
}

static void bitmap_set(segment_t *s, uint64_t b)
{
    atomic_fetch_or_explicit(&s->verified[b / 64], 1ull << (b % 64), memory_order_relaxed);
}

static void block_release(segment_t *s, block_view *v)
{
    if (v->handle)
        lru_release(s->cache, v->handle);
    decoded_unref(v->ref);
    memset(v, 0, sizeof *v);
}

/* Makes block b readable in *v: checked, decompressed, from the cache when it is there. Blocks decoded
 * here are added to the cache if fill_cache. Release v with block_release. */
static int block_load(segment_t *s, uint64_t b, int fill_cache, block_view *v)
{
    const seg_block_ref *ix = &s->index[b];
    decoded_block *d = NULL, *raw = NULL;
    uint8_t key[16];
    uint8_t flag = 0;
    int rc = 0;

    memset(v, 0, sizeof *v);
    cache_key(s, b, key);
    if (s->base) {
        const uint8_t *stored = s->base + ix->offset;
        int verified = bitmap_test(s, b);
        rc = stored_block_check(b, ix->offset, stored, ix->length, !verified, &flag);
        if (rc < 0)
            goto out;
        bitmap_set(s, b);
        if (flag == SEG_BLOCK_NONE) {
            rc = view_init(v, s->version, b, ix->offset, stored, ix->length - SEG_TRAILER_BYTES);
            goto out;
        }
    }
    if (s->cache) {
        lru_handle *h = lru_get(s->cache, key, sizeof key);
        if (h) {
            decoded_block *cached = lru_value(h);
            v->handle = h;
            rc = view_init(v, s->version, b, ix->offset, cached->data, cached->len);
            goto out;
        }
    }
    if (s->base) {
        rc = block_inflate(b, ix, s->version, s->base + ix->offset, ix->length - SEG_TRAILER_BYTES,
                           s->max_block_raw, &d);
        if (rc < 0)
            goto out;
    } else {
        raw = decoded_alloc(ix->length);
        if (!raw) {
            rc =
                err_set(FLOE_ENOMEM, "block %" PRIu64 ": out of memory for %" PRIu32 " bytes", b, ix->length);
            goto out;
        }
        rc = s->src.read_at(s->src.ctx, ix->offset, raw->data, ix->length);
        if (rc < 0) {
            err_wrap(rc, "block %" PRIu64 ": read %" PRIu32 " bytes at offset %" PRIu64, b, ix->length,
                     ix->offset);
            goto out;
        }
        rc = stored_block_check(b, ix->offset, raw->data, ix->length, 1, &flag);
        if (rc < 0)
            goto out;
        if (flag == SEG_BLOCK_ZSTD) {
            rc = block_inflate(b, ix, s->version, raw->data, ix->length - SEG_TRAILER_BYTES, s->max_block_raw,
                               &d);
            if (rc < 0)
                goto out;
        } else {
            raw->len = ix->length - SEG_TRAILER_BYTES;
            d = raw;
            raw = NULL;
        }
    }
    rc = view_init(v, s->version, b, ix->offset, d->data, d->len);
    if (rc < 0)
        goto out;
    v->ref = d;
    if (s->cache && fill_cache) {
        atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
        lru_insert(s->cache, key, sizeof key, d, sizeof *d + d->len, decoded_unref, UINT64_MAX);
    }
    d = NULL;
out:
    decoded_unref(raw);
    decoded_unref(d);
    if (rc < 0) {
        block_release(s, v);
        return err_wrap(rc, "segment %s", s->name);
    }
    return 0;
}

static int footer_parse(const char *name, uint64_t size, const uint8_t *p, seg_footer *f)
{
    uint64_t at = size - SEGMENT_FOOTER_BYTES;
    if (memcmp(p, SEG_MAGIC, SEG_MAGIC_BYTES) != 0)
        return err_set(FLOE_ECORRUPT,
                       "segment %s: footer at offset %" PRIu64
                       ": bad magic (not a floe segment, or truncated)",
                       name, at);
    uint32_t stored = get_le32(p + FOOTER_AT(footer_crc32c));
    uint32_t computed = crc32c(p, FOOTER_AT(footer_crc32c));
    if (stored != computed)
        return err_set(FLOE_ECORRUPT,
                       "segment %s: footer at offset %" PRIu64 ": crc mismatch (stored 0x%08" PRIx32
                       ", computed 0x%08" PRIx32 ")",
                       name, at, stored, computed);
    uint32_t version = get_le32(p + FOOTER_AT(version));
    if (version < SEG_FORMAT_VERSION_NO_WRITE_TIME || version > SEG_FORMAT_VERSION)
        return err_set(FLOE_ECORRUPT,
                       "segment %s: footer at offset %" PRIu64 ": format version %" PRIu32
                       " is not supported (this build reads versions %d and %d)",
                       name, at, version, SEG_FORMAT_VERSION_NO_WRITE_TIME, SEG_FORMAT_VERSION);
    f->version = version;
    f->bloom_crc32c = get_le32(p + FOOTER_AT(bloom_crc32c));
    f->bloom_offset = get_le64(p + FOOTER_AT(bloom_offset));
    f->bloom_length = get_le32(p + FOOTER_AT(bloom_length));
    f->index_crc32c = get_le32(p + FOOTER_AT(index_crc32c));
    f->index_offset = get_le64(p + FOOTER_AT(index_offset));
    f->index_length = get_le32(p + FOOTER_AT(index_length));
    f->meta_crc32c = get_le32(p + FOOTER_AT(meta_crc32c));
    f->meta_offset = get_le64(p + FOOTER_AT(meta_offset));
    f->meta_length = get_le32(p + FOOTER_AT(meta_length));
    /* Invariant 1: the regions tile [bloom_offset, footer) exactly, after at least one data block. */
    if (f->bloom_offset < SEG_MIN_STORED_BLOCK || f->bloom_offset > at || f->index_offset > at ||
        f->meta_offset > at || f->bloom_offset + f->bloom_length != f->index_offset ||
        f->index_offset + f->index_length != f->meta_offset || f->meta_offset + f->meta_length != at ||
        f->bloom_length < 2 || f->index_length < SEG_INDEX_ENTRY_FIXED + 1 ||
        f->meta_length < SEG_META_FIXED_BYTES + 2)
        return err_set(FLOE_ECORRUPT,
                       "segment %s: footer at offset %" PRIu64
                       ": regions do not tile the file (bloom %" PRIu64 "+%" PRIu32 ", index %" PRIu64
                       "+%" PRIu32 ", metadata %" PRIu64 "+%" PRIu32 ")",
                       name, at, f->bloom_offset, f->bloom_length, f->index_offset, f->index_length,
                       f->meta_offset, f->meta_length);
    return 0;
}

static int region_crc_check(const char *what, uint64_t off, const uint8_t *p, uint32_t len, uint32_t stored)
{
    uint32_t computed = crc32c(p, len);
    if (computed != stored)
        return err_set(FLOE_ECORRUPT,
                       "%s at offset %" PRIu64 " (%" PRIu32 " bytes): crc mismatch (stored 0x%08" PRIx32
                       ", computed 0x%08" PRIx32 ")",
                       what, off, len, stored, computed);
    return 0;
}

/* Parses the metadata region into *info (keys malloc'd) and *max_block_raw. */
static int meta_parse(uint64_t off, const uint8_t *p, uint32_t len, segment_info *info,
                      uint32_t *max_block_raw)
{
    segment_info m = {0};
    const char *why = NULL;
    m.id = get_le64(p + 0);
    m.epoch = get_le64(p + 8);
    m.min_seq = get_le64(p + 16);
    m.max_seq = get_le64(p + 24);
    m.count = get_le64(p + 32);
    m.block_count = get_le64(p + 40);
    m.created_unix_s = (int64_t)get_le64(p + 48);
    uint32_t raw = get_le32(p + 56);
    m.min_key_len = get_le16(p + 60);
    m.max_key_len = get_le16(p + 62);
    if (m.min_key_len == 0 || m.min_key_len > FLOE_MAX_KEY_BYTES || m.max_key_len == 0 ||
        m.max_key_len > FLOE_MAX_KEY_BYTES)
        why = "key length outside 1..1024";
    else if ((uint64_t)SEG_META_FIXED_BYTES + m.min_key_len + m.max_key_len != len)
        why = "key lengths do not match the region length";
    else if (key_cmp(p + 64, m.min_key_len, p + 64 + m.min_key_len, m.max_key_len) > 0)
        why = "min key is greater than max key";
    else if (m.min_seq > m.max_seq)
        why = "min seq is greater than max seq";
    else if (m.block_count == 0 || m.count < m.block_count || m.count > SEG_MAX_ENTRIES)
        why = "entry and block counts are inconsistent";
    else if (raw == 0 || raw > SEG_MAX_BLOCK_RAW)
        why = "largest block size is out of range";
    if (why)
        return err_set(FLOE_ECORRUPT, "metadata at offset %" PRIu64 ": %s", off, why);
    m.min_key = malloc(m.min_key_len);
    m.max_key = malloc(m.max_key_len);
    if (!m.min_key || !m.max_key) {
        segment_info_clear(&m);
        return err_set(FLOE_ENOMEM, "metadata: out of memory");
    }
    memcpy(m.min_key, p + 64, m.min_key_len);
    memcpy(m.max_key, p + 64 + m.min_key_len, m.max_key_len);
    *info = m;
    *max_block_raw = raw;
    return 0;
}

/* Parses the index region. Blocks must tile [0, data_end) in order with strictly increasing last keys.
 * On success and on ECORRUPT, *out (malloc'd, may be NULL) holds the *count entries that parsed, so
 * dump can show them; the caller frees it. */
static int index_parse(uint64_t off, const uint8_t *p, uint32_t len, uint64_t data_end, seg_block_ref **out,
                       uint64_t *count)
{
    seg_block_ref *ix = NULL;
    uint64_t n = 0, expect = 0;
    const uint8_t *prev = NULL;
    uint32_t prev_len = 0, pos = 0;
    int rc = 0;

    *out = NULL;
    *count = 0;
    ix = malloc(sizeof *ix * (len / SEG_INDEX_ENTRY_FIXED + 1));
    if (!ix)
        return err_set(FLOE_ENOMEM, "index at offset %" PRIu64 ": out of memory", off);
    while (pos < len) {
        uint64_t at = off + pos;
        if (len - pos < SEG_INDEX_ENTRY_FIXED) {
            rc = err_set(FLOE_ECORRUPT,
                         "index at offset %" PRIu64 ": entry %" PRIu64 " at offset %" PRIu64 " is truncated",
                         off, n, at);
            break;
        }
        uint32_t klen = get_le16(p + pos);
        if (klen == 0 || klen > FLOE_MAX_KEY_BYTES || len - pos - SEG_INDEX_ENTRY_FIXED < klen) {
            rc = err_set(FLOE_ECORRUPT,
                         "index at offset %" PRIu64 ": entry %" PRIu64 " at offset %" PRIu64
                         ": key length %" PRIu32 " is invalid",
                         off, n, at, klen);
            break;
        }
        seg_block_ref r = {.last_key = p + pos + 2, .last_key_len = klen};
        r.offset = get_le64(p + pos + 2 + klen);
        r.length = get_le32(p + pos + 10 + klen);
        if (r.offset != expect || r.length < SEG_MIN_STORED_BLOCK || r.length > data_end - expect) {
            rc =
                err_set(FLOE_ECORRUPT,
                        "index at offset %" PRIu64 ": entry %" PRIu64 " at offset %" PRIu64 ": block %" PRIu64
                        "+%" PRIu32 " does not follow the previous block (expected offset %" PRIu64
                        ", data ends at %" PRIu64 ")",
                        off, n, at, r.offset, r.length, expect, data_end);
            break;
        }
        if (prev && key_cmp(prev, prev_len, r.last_key, r.last_key_len) >= 0) {
            rc = err_set(FLOE_ECORRUPT,
                         "index at offset %" PRIu64 ": entry %" PRIu64 " at offset %" PRIu64
                         ": last keys are not increasing",
                         off, n, at);
            break;
        }
        prev = r.last_key;
        prev_len = r.last_key_len;
        expect += r.length;
        ix[n++] = r;
        pos += SEG_INDEX_ENTRY_FIXED + klen;
    }
    if (rc == 0 && expect != data_end)
        rc = err_set(FLOE_ECORRUPT,
                     "index at offset %" PRIu64 ": blocks end at %" PRIu64
                     " but the bloom filter starts at %" PRIu64,
                     off, expect, data_end);
    *out = ix;
    *count = n;
    return rc;
}

void segment_close(segment_t *s)
{
    if (!s)
        return;
    /* Drop our blocks now rather than leave them to age out: no reader can ask for them again. */
    if (s->cache && s->verified) {
        uint8_t key[16];
        for (uint64_t b = 0; b < s->info.block_count; b++) {
            cache_key(s, b, key);
            lru_invalidate(s->cache, key, sizeof key);
        }
    }
    free(s->index);
    free((void *)s->verified);
    free((void *)s->ivmask);
    free(s->tail_buf);
    segment_info_clear(&s->info);
    if (s->map)
        file_munmap(s->map, s->map_len);
    free(s->name);
    free(s);
}

int segment_open(const segment_source *src, segment_t **out)
{
    segment_t *s = NULL;
    uint8_t footer[SEGMENT_FOOTER_BYTES];
    seg_footer f;
    uint64_t nblocks = 0;
    int rc = 0;

    if (!src || !out || (!src->base && !src->read_at))
        return err_set(FLOE_EINVAL, "segment_open: a source with read_at or base is required");
    s = calloc(1, sizeof *s);
    if (!s || !(s->name = strdup(src->name ? src->name : "(unnamed)"))) {
        rc = err_set(FLOE_ENOMEM, "segment %s: out of memory", src->name ? src->name : "(unnamed)");
        goto out;
    }
    s->src = *src;
    s->src.name = s->name;
    s->base = src->base;
    s->cache = src->block_cache;
    s->cache_id = atomic_fetch_add(&next_reader_id, 1);
    if (src->size < SEGMENT_FOOTER_BYTES) {
        rc = err_set(FLOE_ECORRUPT, "segment %s: %" PRIu64 " bytes is too short to hold the %d-byte footer",
                     s->name, src->size, SEGMENT_FOOTER_BYTES);
        goto out;
    }
    rc = src_read(s, src->size - SEGMENT_FOOTER_BYTES, footer, sizeof footer);
    if (rc < 0)
        goto out;
    rc = footer_parse(s->name, src->size, footer, &f);
    if (rc < 0)
        goto out;
    s->version = f.version;

    s->tail_len = src->size - SEGMENT_FOOTER_BYTES - f.bloom_offset;
    if (s->base) {
        s->tail = s->base + f.bloom_offset;
    } else {
        s->tail_buf = malloc(s->tail_len);
        if (!s->tail_buf) {
            rc = err_set(FLOE_ENOMEM, "segment %s: out of memory for %" PRIu64 " bytes of index and bloom",
                         s->name, s->tail_len);
            goto out;
        }
        rc = src_read(s, f.bloom_offset, s->tail_buf, s->tail_len);
        if (rc < 0)
            goto out;
        s->tail = s->tail_buf;
    }
    const uint8_t *bloom = s->tail;
    const uint8_t *index = s->tail + (f.index_offset - f.bloom_offset);
    const uint8_t *meta = s->tail + (f.meta_offset - f.bloom_offset);
    if ((rc = region_crc_check("metadata", f.meta_offset, meta, f.meta_length, f.meta_crc32c)) < 0 ||
        (rc = region_crc_check("index", f.index_offset, index, f.index_length, f.index_crc32c)) < 0 ||
        (rc = region_crc_check("bloom filter", f.bloom_offset, bloom, f.bloom_length, f.bloom_crc32c)) < 0 ||
        (rc = meta_parse(f.meta_offset, meta, f.meta_length, &s->info, &s->max_block_raw)) < 0 ||
        (rc = index_parse(f.index_offset, index, f.index_length, f.bloom_offset, &s->index, &nblocks)) < 0) {
        err_wrap(rc, "segment %s", s->name);
        goto out;
    }
    if (nblocks != s->info.block_count ||
        key_cmp(s->index[nblocks - 1].last_key, s->index[nblocks - 1].last_key_len, s->info.max_key,
                s->info.max_key_len) != 0) {
        rc = err_set(FLOE_ECORRUPT,
                     "segment %s: index at offset %" PRIu64 " lists %" PRIu64
                     " blocks ending at a key other than the metadata's %" PRIu64 " blocks and max key",
                     s->name, f.index_offset, nblocks, s->info.block_count);
        goto out;
    }
    if (bloom_parse(bloom, f.bloom_length, &s->bloom) < 0) {
        rc = err_set(FLOE_ECORRUPT,
                     "segment %s: bloom filter at offset %" PRIu64 ": probe count %u is invalid", s->name,
                     f.bloom_offset, bloom[f.bloom_length - 1]);
        goto out;
    }
    s->verified = calloc((nblocks + 63) / 64, sizeof *s->verified);
    if (s->base && s->version >= 3)
        s->ivmask = calloc(nblocks, sizeof *s->ivmask);
    if (!s->verified || (s->base && s->version >= 3 && !s->ivmask)) {
        rc = err_set(FLOE_ENOMEM, "segment %s: out of memory", s->name);
        goto out;
    }
    s->info.file_bytes = src->size;
    s->info.file_crc32c = 0;
out:
    if (rc < 0) {
        segment_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int segment_open_file(const char *path, segment_t **out)
{
    return segment_open_file_cached(path, NULL, out);
}

int segment_open_file_cached(const char *path, struct lru *block_cache, segment_t **out)
{
    int fd = -1, rc = 0;
    void *map = NULL;
    struct stat st;
    segment_t *s = NULL;

    if (!path || !out)
        return err_set(FLOE_EINVAL, "segment_open_file: path and out are required");
    fd = file_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        rc = err_set(errno == ENOENT ? FLOE_ENOTFOUND : FLOE_EIO, "segment %s: open: %s", path,
                     strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        rc = err_set(FLOE_EIO, "segment %s: stat: %s", path, strerror(errno));
        goto out;
    }
    if ((uint64_t)st.st_size < SEGMENT_FOOTER_BYTES) {
        rc = err_set(FLOE_ECORRUPT, "segment %s: %lld bytes is too short to hold the %d-byte footer", path,
                     (long long)st.st_size, SEGMENT_FOOTER_BYTES);
        goto out;
    }
    map = file_mmap((size_t)st.st_size, PROT_READ, MAP_SHARED, fd);
    if (map == MAP_FAILED) {
        map = NULL;
        rc = err_set(FLOE_EIO, "segment %s: mmap: %s", path, strerror(errno));
        goto out;
    }
    segment_source src = {
        .size = (uint64_t)st.st_size, .name = path, .base = map, .block_cache = block_cache};
    rc = segment_open(&src, &s);
    if (rc < 0)
        goto out;
    s->map = map;
    s->map_len = (size_t)st.st_size;
    map = NULL;
out:
    if (map)
        file_munmap(map, (size_t)st.st_size);
    if (fd >= 0)
        file_close(fd);
    if (rc < 0)
        return rc;
    *out = s;
    return 0;
}

const segment_info *segment_get_info(const segment_t *s)
{
    return &s->info;
}

uint64_t segment_memory_bytes(const segment_t *s)
{
    return sizeof *s + strlen(s->name) + 1 + s->tail_len + s->info.block_count * sizeof *s->index +
           (s->info.block_count + 63) / 64 * sizeof *s->verified + (s->ivmask ? s->info.block_count * sizeof *s->ivmask : 0) +
           s->info.min_key_len + s->info.max_key_len;
}

static int in_range(const segment_t *s, const void *key, size_t key_len)
{
    return key_len > 0 && key_len <= FLOE_MAX_KEY_BYTES &&
           key_cmp(key, key_len, s->info.min_key, s->info.min_key_len) >= 0 &&
           key_cmp(key, key_len, s->info.max_key, s->info.max_key_len) <= 0;
}

int segment_may_contain(const segment_t *s, const void *key, size_t key_len)
{
    return in_range(s, key, key_len) && bloom_may_contain(&s->bloom, bloom_hash(key, key_len));
}

/* The first block whose last key is >= key; block_count if none. */
static uint64_t index_find(const segment_t *s, const void *key, size_t key_len)
{
    uint64_t lo = 0, hi = s->info.block_count;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (key_cmp(s->index[mid].last_key, s->index[mid].last_key_len, key, key_len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int block_malformed(const segment_t *s, uint64_t b, const char *what)
{
    return err_set(FLOE_ECORRUPT, "segment %s: block %" PRIu64 " at offset %" PRIu64 ": %s", s->name, b,
                   s->index[b].offset, what);
}

void segment_hit_clear(segment_hit *h)
{
    if (!h)
        return;
    free(h->value);
    free(h->content_type);
    free(h->objhead);
    memset(h, 0, sizeof *h);
}

/* Note 10: positions *c at the first entry >= key in uncompressed version 3 block b of a mapped
 * file that has not passed its whole-block CRC, having checked the CRCs of every byte that decides
 * the answer. Returns 1 (positioned) or 0 (every key is smaller), or 2 when the caller must check
 * the whole block instead: the block is compressed, or its restart array or an interval does not
 * match its CRC; the whole-block CRC then names the damage. */
static int seek_checking_intervals(segment_t *s, uint64_t b, const uint8_t *key, size_t key_len, block_view *v,
                                   block_cursor *c)
{
    const seg_block_ref *ix = &s->index[b];
    const uint8_t *stored = s->base + ix->offset;
    memset(v, 0, sizeof *v);
    if (ix->length < SEG_TRAILER_BYTES || stored[ix->length - SEG_TRAILER_BYTES] != SEG_BLOCK_NONE ||
        view_init(v, s->version, b, ix->offset, stored, ix->length - SEG_TRAILER_BYTES) < 0)
        return 2;
    _Atomic uint64_t *mask = &s->ivmask[b];
    uint64_t m = atomic_load_explicit(mask, memory_order_relaxed);
    if (!(m & SEG_IVMASK_TAIL)) {
        if (!tail_crc_ok(v))
            return 2;
        m = atomic_fetch_or_explicit(mask, SEG_IVMASK_TAIL, memory_order_relaxed) | SEG_IVMASK_TAIL;
    }
    int64_t found = restart_search(v, key, key_len);
    if (found < 0)
        return 2;
    uint32_t n = v->nrestarts, lo = (uint32_t)found;
    uint32_t per_group = (n + SEG_IVMASK_GROUPS - 1) / SEG_IVMASK_GROUPS;
    uint32_t upper = lo + 1 < n ? lo + 1 : lo;
    for (uint32_t g = lo / per_group; g <= upper / per_group; g++) {
        if (m & (1ull << g))
            continue;
        for (uint32_t i = g * per_group; i < (g + 1) * per_group && i < n; i++)
            if (!interval_crc_ok(v, i))
                return 2;
        m = atomic_fetch_or_explicit(mask, 1ull << g, memory_order_relaxed) | (1ull << g);
    }
    uint32_t groups = (n + per_group - 1) / per_group;
    uint64_t all = ((1ull << groups) - 1) | SEG_IVMASK_TAIL;
    if ((m & all) == all)
        bitmap_set(s, b);
    /* Whatever the unchecked keys said, the search ended between two keys it compared: restart lo's
     * is <= key (or lo is 0) and restart lo + 1's is > key (or lo is the last, bounded by the index's
     * checked last key). Both intervals are checked now, so that bracket is the writer's, and key,
     * if the writer stored it, lies in interval lo. */
    int r = scan_from(v, lo, key, key_len, c);
    return r < 0 ? 2 : r;
}

/* A value copied out of a mapped file that is at least this long gives its pages back at once: the
 * page cache keeps them, but they stop counting in the process's RSS, so streaming a 20 GiB object
 * through a reader does not make the server look 20 GiB large. */
#define SEG_DROP_PAGES_BYTES (1u << 20)

static void drop_pages(const segment_t *s, uint64_t b)
{
    if (!s->base)
        return;
    static long page;
    if (!page)
        page = sysconf(_SC_PAGESIZE);
    uint64_t from = s->index[b].offset / (uint64_t)page * (uint64_t)page;
    uint64_t to = s->index[b].offset + s->index[b].length;
    (void)madvise((void *)(uintptr_t)(s->base + from), (size_t)(to - from), MADV_DONTNEED);
}

int segment_get(segment_t *s, const void *key, size_t key_len, segment_hit *out)
{
    return segment_get_range(s, key, key_len, 0, UINT64_MAX, out);
}

int segment_get_range(segment_t *s, const void *key, size_t key_len, uint64_t offset, uint64_t length,
                      segment_hit *out)
{
    block_view v;
    block_cursor c;
    int rc = 2;

    if (!segment_may_contain(s, key, key_len))
        return 0;
    uint64_t b = index_find(s, key, key_len);
    if (b == s->info.block_count)
        return 0;
    if (s->ivmask && !bitmap_test(s, b))
        rc = seek_checking_intervals(s, b, key, key_len, &v, &c);
    if (rc == 2) {
        rc = block_load(s, b, 1, &v);
        if (rc < 0)
            return rc;
        rc = block_seek(&v, key, key_len, &c);
    }
    if (rc < 0) {
        rc = block_malformed(s, b, "entries do not parse");
    } else if (rc == 1 && c.key_len == key_len && memcmp(c.key, key, key_len) == 0) {
        /* An object entry: the range is of the object's bytes, after its record's header. */
        const uint8_t *data = c.e.value;
        uint64_t data_len = c.e.value_len, total = c.e.value_len;
        objrec rec = {0};
        uint8_t *objhead = NULL;
        if (c.e.type == ENTRY_OBJECT) {
            if (objrec_parse_whole(c.e.value, c.e.value_len, &rec) < 0) {
                rc = block_malformed(s, b, floe_last_error());
                goto out;
            }
            data += rec.header_len;
            data_len -= rec.header_len;
            total = rec.flags & OBJREC_CHUNKED ? rec.size : data_len;
            if (!(objhead = malloc(rec.header_len))) {
                rc = err_set(FLOE_ENOMEM, "segment %s: out of memory", s->name);
                goto out;
            }
            memcpy(objhead, c.e.value, rec.header_len);
        }
        uint64_t from = offset < data_len ? offset : data_len;
        uint64_t n = data_len - from < length ? data_len - from : length;
        /* One byte more for the NUL that floe_value promises (read.c hands this buffer over). */
        uint8_t *value = malloc(n + 1);
        char *ct = c.e.ct_len ? malloc(c.e.ct_len + 1u) : NULL;
        if (!value || (c.e.ct_len && !ct)) {
            free(value);
            free(ct);
            free(objhead);
            rc = err_set(FLOE_ENOMEM, "segment %s: out of memory for a %" PRIu64 "-byte value", s->name,
                         c.e.value_len);
        } else {
            if (n)
                memcpy(value, data + from, n);
            value[n] = '\0';
            if (ct) {
                memcpy(ct, c.e.ct, c.e.ct_len);
                ct[c.e.ct_len] = '\0';
            }
            out->type = c.e.type;
            out->seq = c.e.seq;
            out->write_ms = c.e.write_ms;
            out->value = value;
            out->value_len = (uint32_t)n;
            out->total_len = total;
            out->content_type = ct;
            out->objhead = objhead;
            out->objhead_len = objhead ? rec.header_len : 0;
            rc = 1;
            if (n >= SEG_DROP_PAGES_BYTES)
                drop_pages(s, b);
        }
    } else {
        rc = 0;
    }
out:
    block_release(s, &v);
    return rc;
}

int segment_block_range(const segment_t *s, uint64_t block, uint64_t *offset, uint64_t *len)
{
    if (block >= s->info.block_count)
        return err_set(FLOE_EINVAL, "segment %s: block %" PRIu64 " does not exist (it has %" PRIu64 ")",
                       s->name, block, s->info.block_count);
    *offset = s->index[block].offset;
    *len = s->index[block].length;
    return 0;
}

/* Scans never fill the block cache (they would push out the blocks point reads keep hot), but they
 * use blocks already there. */
struct segment_iter {
    segment_t *s;
    uint64_t block;
    int valid;
    block_view view; /* held while valid */
    block_cursor cur;
};

int segment_iter_create(segment_t *s, segment_iter **out)
{
    segment_iter *it = calloc(1, sizeof *it);
    if (!it)
        return err_set(FLOE_ENOMEM, "segment %s: out of memory for an iterator", s->name);
    it->s = s;
    *out = it;
    return 0;
}

static void iter_reset(segment_iter *it)
{
    if (it->valid) {
        block_release(it->s, &it->view);
        /* A scan (compaction's above all) leaves a large block's pages behind it (see
         * SEG_DROP_PAGES_BYTES): merging 256 MiB of chunks must not hold 256 MiB resident. */
        if (it->s->index[it->block].length >= SEG_DROP_PAGES_BYTES)
            drop_pages(it->s, it->block);
    }
    it->valid = 0;
}

void segment_iter_destroy(segment_iter *it)
{
    if (!it)
        return;
    iter_reset(it);
    free(it);
}

/* Positions at the first key >= key (NULL: first) in block b or, if it has none, a later block. */
static int iter_enter(segment_iter *it, uint64_t b, const uint8_t *key, size_t key_len)
{
    for (; b < it->s->info.block_count; b++, key = NULL) {
        int rc = block_load(it->s, b, 0, &it->view);
        if (rc < 0)
            return rc;
        rc = block_seek(&it->view, key, key_len, &it->cur);
        if (rc == 1) {
            it->block = b;
            it->valid = 1;
            return 0;
        }
        block_release(it->s, &it->view);
        if (rc < 0)
            return block_malformed(it->s, b, "entries do not parse");
    }
    return 0;
}

int segment_iter_seek(segment_iter *it, const void *key, size_t key_len)
{
    iter_reset(it);
    if (!key)
        return iter_enter(it, 0, NULL, 0);
    return iter_enter(it, index_find(it->s, key, key_len), key, key_len);
}

int segment_iter_valid(const segment_iter *it)
{
    return it->valid;
}

int segment_iter_next(segment_iter *it)
{
    if (!it->valid)
        return 0;
    int r = cursor_step(&it->view, &it->cur);
    if (r == 1)
        return 0;
    uint64_t b = it->block;
    iter_reset(it);
    if (r < 0)
        return block_malformed(it->s, b, "entries do not parse");
    return iter_enter(it, b + 1, NULL, 0);
}

void segment_iter_entry(const segment_iter *it, entry *out)
{
    cursor_entry(&it->cur, out);
}

/* Called by block_walk for entry n of a block, in key order, once it is known to follow entry n - 1. */
typedef void (*walk_entry_fn)(void *ctx, const block_cursor *c, uint64_t n);

/* Walks every entry of a decoded block, checking that keys increase, start after the previous
 * block's last key (prev_ix; NULL for the first block) and end at the index's last key, and hands
 * each to fn if it is not NULL. Messages name the block and its offset. */
static int block_walk(uint64_t b, const seg_block_ref *ix, const seg_block_ref *prev_ix, const block_view *v,
                      walk_entry_fn fn, void *ctx)
{
    block_cursor *c = malloc(sizeof *c);
    uint8_t *prev = malloc(FLOE_MAX_KEY_BYTES);
    uint32_t prev_len = 0;
    uint64_t n = 0;
    int rc = 0, r;

    if (!c || !prev) {
        rc = err_set(FLOE_ENOMEM, "block %" PRIu64 ": out of memory", b);
        goto out;
    }
    c->next = 0;
    c->key_len = 0;
    if (v->version >= 3 && (rc = block_tail_check(b, ix->offset, v)) < 0)
        goto out;
    for (uint32_t i = 0; i < v->nrestarts; i++) {
        const uint8_t *k;
        size_t klen;
        if (restart_key(v, i, &k, &klen) < 0) {
            rc = err_set(FLOE_ECORRUPT,
                         "block %" PRIu64 " at offset %" PRIu64 ": restart %" PRIu32 " is invalid", b,
                         ix->offset, i);
            goto out;
        }
    }
    while ((r = cursor_step(v, c)) == 1) {
        if (n == 0 && prev_ix && key_cmp(prev_ix->last_key, prev_ix->last_key_len, c->key, c->key_len) >= 0) {
            rc = err_set(FLOE_ECORRUPT,
                         "block %" PRIu64 " at offset %" PRIu64
                         ": its first key does not sort after the previous block's last key",
                         b, ix->offset);
            goto out;
        }
        if (n > 0 && key_cmp(prev, prev_len, c->key, c->key_len) >= 0) {
            rc = err_set(FLOE_ECORRUPT,
                         "block %" PRIu64 " at offset %" PRIu64 ": entry %" PRIu64 " is out of order", b,
                         ix->offset, n);
            goto out;
        }
        memcpy(prev, c->key, c->key_len);
        prev_len = c->key_len;
        if (fn)
            fn(ctx, c, n);
        n++;
    }
    if (r < 0)
        rc = err_set(FLOE_ECORRUPT,
                     "block %" PRIu64 " at offset %" PRIu64 ": entry %" PRIu64 " at byte %zu does not parse",
                     b, ix->offset, n, c->next);
    else if (n == 0 || key_cmp(prev, prev_len, ix->last_key, ix->last_key_len) != 0)
        rc =
            err_set(FLOE_ECORRUPT, "block %" PRIu64 " at offset %" PRIu64 ": last key differs from the index",
                    b, ix->offset);
out:
    free(c);
    free(prev);
    return rc;
}

/* Checks the stored bytes of block b (trailer and CRC), decompresses a zstd block (at most max_raw
 * bytes) and points *v at its entries. *d gets the decompressed copy (one reference, the caller's to
 * drop with decoded_unref, even on failure) or stays NULL for an uncompressed block, which *v then
 * points into stored. *crc_ok_out (may be NULL) is 1 if the trailer's CRC32C matches. */
static int block_decode(uint64_t b, const seg_block_ref *ix, uint32_t version, const uint8_t *stored,
                        uint32_t max_raw, uint8_t *flag, decoded_block **d, block_view *v, int *crc_ok_out)
{
    int crc_ok = ix->length >= SEG_TRAILER_BYTES &&
                 get_le32(stored + ix->length - 4) == crc32c(stored, ix->length - 4);
    /* The CRC is checked again only to describe a mismatch. */
    int rc = stored_block_check(b, ix->offset, stored, ix->length, !crc_ok, flag);

    if (rc == 0 && *flag == SEG_BLOCK_ZSTD)
        rc = block_inflate(b, ix, version, stored, ix->length - SEG_TRAILER_BYTES, max_raw, d);
    if (rc == 0)
        rc = *d ? view_init(v, version, b, ix->offset, (*d)->data, (*d)->len)
                : view_init(v, version, b, ix->offset, stored, ix->length - SEG_TRAILER_BYTES);
    if (crc_ok_out)
        *crc_ok_out = crc_ok;
    return rc;
}

int segment_verify(segment_t *s, uint32_t *file_crc32c_out)
{
    uint32_t crc = 0;
    uint8_t *buf = NULL;
    uint8_t footer[SEGMENT_FOOTER_BYTES];
    int rc = 0;

    for (uint64_t b = 0; b < s->info.block_count; b++) {
        const seg_block_ref *ix = &s->index[b];
        const uint8_t *stored;
        decoded_block *d = NULL;
        block_view v = {0};
        uint8_t flag = 0;
        if (s->base) {
            stored = s->base + ix->offset;
        } else {
            uint8_t *nbuf = realloc(buf, ix->length);
            if (!nbuf) {
                rc = err_set(FLOE_ENOMEM, "segment %s: out of memory", s->name);
                goto out;
            }
            buf = nbuf;
            if ((rc = src_read(s, ix->offset, buf, ix->length)) < 0)
                goto out;
            stored = buf;
        }
        crc = crc32c_extend(crc, stored, ix->length);
        rc = block_decode(b, ix, s->version, stored, s->max_block_raw, &flag, &d, &v, NULL);
        if (rc == 0)
            rc = block_walk(b, ix, b ? ix - 1 : NULL, &v, NULL, NULL);
        decoded_unref(d);
        if (rc < 0) {
            err_wrap(rc, "segment %s", s->name);
            goto out;
        }
    }
    crc = crc32c_extend(crc, s->tail, s->tail_len);
    if ((rc = src_read(s, s->info.file_bytes - SEGMENT_FOOTER_BYTES, footer, sizeof footer)) < 0)
        goto out;
    crc = crc32c_extend(crc, footer, sizeof footer);
    *file_crc32c_out = crc;
out:
    free(buf);
    return rc;
}

/* The inspector's problem messages, one slot per part that can be damaged. */
enum {
    PROBLEM_FOOTER,
    PROBLEM_META_CRC,
    PROBLEM_META,
    PROBLEM_BLOOM_CRC,
    PROBLEM_BLOOM,
    PROBLEM_INDEX_CRC,
    PROBLEM_INDEX,
    PROBLEM_BLOCK_COUNT,
    PROBLEM_BLOCK, /* the last block inspected */
    PROBLEM_SLOTS
};
#define SEG_PROBLEM_BYTES 1024

struct segment_inspector {
    char *path; /* owned */
    int fd;
    uint8_t *map; /* the whole file, once read */
    size_t size;
    seg_footer f;
    seg_block_ref *index; /* summary.index_blocks entries that parsed; keys point into map */
    uint32_t max_block_raw;
    segment_summary summary; /* info's keys owned */
    char problems[PROBLEM_SLOTS][SEG_PROBLEM_BYTES];
};

/* Keeps the message of the error just set as the problem in slot. */
static const char *inspect_problem(segment_inspector *ins, int slot)
{
    snprintf(ins->problems[slot], SEG_PROBLEM_BYTES, "%s", floe_last_error());
    return ins->problems[slot];
}

int segment_inspect_open(const char *path, segment_inspector **out, uint64_t *file_bytes_out)
{
    segment_inspector *ins = NULL;
    struct stat st;
    int rc = 0;

    ins = calloc(1, sizeof *ins);
    if (!ins) {
        rc = err_set(FLOE_ENOMEM, "segment %s: out of memory", path);
        goto out;
    }
    ins->fd = -1;
    ins->path = strdup(path);
    if (!ins->path) {
        rc = err_set(FLOE_ENOMEM, "segment %s: out of memory", path);
        goto out;
    }
    ins->fd = file_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (ins->fd < 0 || fstat(ins->fd, &st) != 0) {
        rc = err_set(errno == ENOENT ? FLOE_ENOTFOUND : FLOE_EIO, "segment %s: %s", path, strerror(errno));
        goto out;
    }
    ins->size = (size_t)st.st_size;
    ins->summary.file_bytes = ins->size;
    ins->max_block_raw = (uint32_t)SEG_MAX_BLOCK_RAW;
out:
    if (rc < 0) {
        segment_inspect_close(ins);
        return rc;
    }
    *out = ins;
    *file_bytes_out = ins->summary.file_bytes;
    return 0;
}

void segment_inspect_close(segment_inspector *ins)
{
    if (!ins)
        return;
    free(ins->index);
    segment_info_clear(&ins->summary.info);
    if (ins->map)
        file_munmap(ins->map, ins->size);
    if (ins->fd >= 0)
        file_close(ins->fd);
    free(ins->path);
    free(ins);
}

/* Checks the metadata region's CRC and parses it into the summary (info, largest block). */
static void inspect_meta(segment_inspector *ins)
{
    segment_summary *sum = &ins->summary;
    const uint8_t *meta = ins->map + ins->f.meta_offset;

    if (region_crc_check("metadata", ins->f.meta_offset, meta, ins->f.meta_length, ins->f.meta_crc32c) < 0)
        sum->meta.crc_problem = inspect_problem(ins, PROBLEM_META_CRC);
    if (meta_parse(ins->f.meta_offset, meta, ins->f.meta_length, &sum->info, &ins->max_block_raw) < 0)
        sum->meta.parse_problem = inspect_problem(ins, PROBLEM_META);
    else
        sum->largest_block_bytes = ins->max_block_raw;
}

/* Checks the bloom filter region's CRC and parses its shape into the summary. */
static void inspect_bloom(segment_inspector *ins)
{
    segment_summary *sum = &ins->summary;
    const uint8_t *bloom = ins->map + ins->f.bloom_offset;
    bloom_filter bf;

    if (region_crc_check("bloom filter", ins->f.bloom_offset, bloom, ins->f.bloom_length,
                         ins->f.bloom_crc32c) < 0)
        sum->bloom.crc_problem = inspect_problem(ins, PROBLEM_BLOOM_CRC);
    if (bloom_parse(bloom, ins->f.bloom_length, &bf) < 0) {
        err_set(FLOE_ECORRUPT, "bloom filter at offset %" PRIu64 ": probe count is invalid",
                ins->f.bloom_offset);
        sum->bloom.parse_problem = inspect_problem(ins, PROBLEM_BLOOM);
    } else {
        sum->bloom_bits = bf.bits_count;
        sum->bloom_probes = bf.probes;
    }
}

/* Checks the index region's CRC and parses as many entries as it can, then compares their count with
 * the metadata's. Fails only for FLOE_ENOMEM. */
static int inspect_index(segment_inspector *ins)
{
    segment_summary *sum = &ins->summary;
    const uint8_t *index = ins->map + ins->f.index_offset;
    int rc = 0;

    if (region_crc_check("index", ins->f.index_offset, index, ins->f.index_length, ins->f.index_crc32c) < 0)
        sum->index.crc_problem = inspect_problem(ins, PROBLEM_INDEX_CRC);
    rc = index_parse(ins->f.index_offset, index, ins->f.index_length, ins->f.bloom_offset, &ins->index,
                     &sum->index_blocks);
    if (rc == FLOE_ENOMEM)
        goto out;
    if (rc < 0)
        sum->index.parse_problem = inspect_problem(ins, PROBLEM_INDEX);
    rc = 0;
    if (sum->info.block_count && sum->index_blocks != sum->info.block_count) {
        err_set(FLOE_ECORRUPT, "index lists %" PRIu64 " blocks, metadata says %" PRIu64, sum->index_blocks,
                sum->info.block_count);
        sum->block_count_problem = inspect_problem(ins, PROBLEM_BLOCK_COUNT);
    }
out:
    return rc;
}

int segment_inspect_read(segment_inspector *ins, const segment_summary **out)
{
    segment_summary *sum = &ins->summary;
    int rc = 0;

    if (ins->size < SEGMENT_FOOTER_BYTES) {
        err_set(FLOE_ECORRUPT, "segment %s: %zu bytes is too short to hold the %d-byte footer", ins->path,
                ins->size, SEGMENT_FOOTER_BYTES);
        sum->footer_problem = inspect_problem(ins, PROBLEM_FOOTER);
        goto out;
    }
    void *map = file_mmap(ins->size, PROT_READ, MAP_SHARED, ins->fd);
    if (map == MAP_FAILED) {
        rc = err_set(FLOE_EIO, "segment %s: mmap: %s", ins->path, strerror(errno));
        goto out;
    }
    ins->map = map;
    if (footer_parse(ins->path, ins->size, ins->map + ins->size - SEGMENT_FOOTER_BYTES, &ins->f) < 0) {
        sum->footer_problem = inspect_problem(ins, PROBLEM_FOOTER);
        goto out;
    }
    sum->footer_offset = ins->size - SEGMENT_FOOTER_BYTES;
    sum->format_version = ins->f.version;
    sum->bloom = (segment_region_report){.offset = ins->f.bloom_offset, .length = ins->f.bloom_length};
    sum->index = (segment_region_report){.offset = ins->f.index_offset, .length = ins->f.index_length};
    sum->meta = (segment_region_report){.offset = ins->f.meta_offset, .length = ins->f.meta_length};
    /* In the order a reader needs them: metadata bounds the blocks, the index locates them. */
    inspect_meta(ins);
    inspect_bloom(ins);
    rc = inspect_index(ins);
out:
    if (rc < 0)
        return rc;
    *out = sum;
    return 0;
}

typedef struct inspect_walk {
    segment_block_report *report;
    const segment_block_fns *fns;
    void *ctx;
} inspect_walk;

static void inspect_entry(void *ctx, const block_cursor *c, uint64_t n)
{
    inspect_walk *walk = ctx;
    segment_block_report *r = walk->report;
    entry e;

    if (n == 0) {
        memcpy(r->first_key, c->key, c->key_len);
        r->first_key_len = c->key_len;
    }
    r->entries = n + 1;
    if (walk->fns && walk->fns->entry) {
        cursor_entry(c, &e);
        walk->fns->entry(walk->ctx, &e);
    }
}

int segment_inspect_block(segment_inspector *ins, uint64_t block, const segment_block_fns *fns, void *ctx,
                          segment_block_report *out)
{
    segment_block_report r = {0};
    decoded_block *d = NULL;
    block_view v = {0};
    uint8_t flag = 0;
    int rc = 0;

    if (!ins->map || block >= ins->summary.index_blocks) {
        rc =
            err_set(FLOE_EINVAL, "segment %s: block %" PRIu64 " is not among the %" PRIu64 " the index lists",
                    ins->path, block, ins->summary.index_blocks);
        goto out;
    }
    const seg_block_ref *ix = &ins->index[block];
    r.block = block;
    r.offset = ix->offset;
    r.length = ix->length;
    r.last_key = ix->last_key;
    r.last_key_len = ix->last_key_len;
    int problem = block_decode(block, ix, ins->f.version, ins->map + ix->offset, ins->max_block_raw, &flag,
                               &d, &v, &r.crc_ok);
    if (problem == 0) {
        r.decoded = 1;
        r.compression = flag == SEG_BLOCK_ZSTD ? FLOE_COMPRESSION_ZSTD : FLOE_COMPRESSION_NONE;
        r.decoded_bytes = v.len;
        r.restarts = v.nrestarts;
    }
    if (fns && fns->block)
        fns->block(ctx, &r);
    if (problem == 0) {
        inspect_walk walk = {.report = &r, .fns = fns, .ctx = ctx};
        problem = block_walk(block, ix, block ? ix - 1 : NULL, &v, inspect_entry, &walk);
    }
    if (problem < 0)
        r.problem = inspect_problem(ins, PROBLEM_BLOCK);
    *out = r;
out:
    decoded_unref(d);
    return rc;
}
