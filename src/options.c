/* Option defaults and limits (see options.h). The defaults are documented in include/floe.h and
 * docs/configuration.md; the limits in docs/configuration.md.
 *
 * Invariants:
 *  1. Every numeric option has exactly one entry in `limits`, which floe_open (options_check) and
 *     the config parser (config.c) both read: a value one accepts the other accepts.
 *  2. The defaults lie inside the limits (test_config walks the table).
 *  3. A caller's floe_options is read only up to its struct_size; fields it does not have keep
 *     their defaults.
 *  4. The retention rules, an array rather than a number, are checked by retention_check, which
 *     the config parser's limits (RETENTION_MAX_RULES, RETENTION_MAX_AGE_S) match. */
#include "options.h"

#include <inttypes.h>
#include <string.h>

#include "error.h"
#include "retention.h"

#define KIB (1024ull)
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define TIB (1024ull * GIB)

#define LIMIT(field, lo, hi)                                                                         \
    {                                                                                                \
        #field, offsetof(floe_options, field), sizeof(((floe_options *)0)->field), (lo), (hi)        \
    }

/* A field whose place in floe_options is not its config path (added after its section). */
#define LIMIT_AS(name, field, lo, hi)                                                                \
    {                                                                                                \
        name, offsetof(floe_options, field), sizeof(((floe_options *)0)->field), (lo), (hi)          \
    }

static const option_limit limits[] = {
    LIMIT(max_object_bytes, 1, FLOE_MAX_OBJECT_BYTES_LIMIT),
    LIMIT(wal.interval_ms, 1, 60000),
    LIMIT(wal.file_bytes, 64 * KIB, 16 * GIB),
    LIMIT_AS("wal.direct_batch_bytes", wal_io.direct_batch_bytes, 0, 1 * GIB),
    LIMIT(segment.max_bytes, 4 * KIB, 16 * GIB),
    LIMIT(segment.max_age_s, 1, 7 * 86400),
    LIMIT(segment.block_bytes, 1024, 16 * MIB),
    LIMIT(segment.max_unwritten_bytes, 0, 64 * GIB),
    LIMIT(cache.object_bytes, 0, TIB),
    LIMIT(cache.block_bytes, 0, 64 * TIB),
    LIMIT(cache.decoded_block_bytes, 0, TIB),
    LIMIT(cache.meta_bytes, 0, TIB),
    LIMIT(local.max_bytes, 0, 1024 * TIB),
    LIMIT(cold.s3.timeout_ms, 100, 600000),
    LIMIT(cold.s3.max_retries, 0, 100),
    LIMIT(upload.concurrency, 1, 256),
    LIMIT(upload.part_bytes, 5 * MIB, 5 * GIB),
    LIMIT(upload.max_pending_bytes, 64 * KIB, 1024 * TIB),
    LIMIT(upload.wait_ms, 0, 3600 * 1000),
    LIMIT(upload.flush_timeout_ms, 1, 24 * 3600 * 1000),
    LIMIT(gc.interval_s, 0, 7 * 86400),
    LIMIT(gc.grace_s, 0, 30 * 86400),
    LIMIT(compaction.l0_trigger, 0, 1000),
    LIMIT(compaction.l0_stop, 0, 100000),
    LIMIT(compaction.level_base_bytes, 0, 64 * TIB),
    LIMIT(compaction.level_ratio, 2, 100),
    LIMIT(compaction.segment_bytes, 64 * KIB, 16 * GIB),
    LIMIT(compaction.max_bytes_per_s, 0, 64 * GIB),
    LIMIT(object.chunk_bytes, 4 * KIB, 256 * MIB),
};

/* The smallest floe_options a program may pass: the layout of the first floe.h with struct_size. */
#define OPTIONS_MIN_BYTES (offsetof(floe_options, log_ctx) + sizeof(void *))

static void defaults(floe_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->max_object_bytes = 5ull << 30; /* streamed in chunks: bounds disk, not memory */
    o->wal.sync = FLOE_SYNC_ALWAYS;
    o->wal.interval_ms = 5;
    o->wal.file_bytes = 64ull << 20;
    o->wal_io.direct_batch_bytes = 1u << 20;
    o->segment.max_bytes = 64ull << 20;
    o->segment.max_age_s = 600;
    o->segment.block_bytes = 64u << 10;
    o->segment.compression = FLOE_COMPRESSION_NONE;
    o->segment.max_unwritten_bytes = 0; /* 0: 2 * max_bytes */
    o->cache.object_bytes = 256ull << 20;
    o->cache.block_bytes = 1ull << 30;
    o->cache.decoded_block_bytes = 64ull << 20;
    o->cache.meta_bytes = 128ull << 20;
    o->local.max_bytes = 10ull << 30;
    o->cold.backend = FLOE_COLD_NONE;
    o->cold.s3.region = "us-east-1";
    o->cold.s3.path_style = 1;
    o->cold.s3.timeout_ms = 30000;
    o->cold.s3.max_retries = 8;
    o->upload.concurrency = 4;
    o->upload.part_bytes = 16ull << 20;
    o->upload.max_pending_bytes = 4ull << 30;
    o->upload.wait_ms = 10000;
    o->upload.flush_timeout_ms = 100000;
    o->gc.interval_s = 3600;
    o->gc.grace_s = 3600;
    o->compaction.l0_trigger = 4;
    o->compaction.l0_stop = 0;
    o->compaction.level_base_bytes = 0; /* l0_trigger * segment.max_bytes (options_resolve) */
    o->compaction.level_ratio = 10;
    o->compaction.segment_bytes = 64ull << 20;
    o->compaction.max_bytes_per_s = 256ull << 20;
    o->object.chunk_bytes = 8ull << 20;
}

void floe_options_init_sized(floe_options *o, size_t struct_size)
{
    if (!o || struct_size < sizeof o->struct_size)
        return;
    floe_options d;
    defaults(&d);
    if (struct_size > sizeof d) {
        /* A newer header than this library: fill what we know; floe_open refuses it by size. */
        memset((char *)o + sizeof d, 0, struct_size - sizeof d);
        memcpy(o, &d, sizeof d);
    } else {
        memcpy(o, &d, struct_size);
    }
    o->struct_size = struct_size;
}

int options_copy_in(floe_options *dst, const floe_options *src)
{
    if (src->struct_size < OPTIONS_MIN_BYTES || src->struct_size > sizeof *dst)
        return err_set(FLOE_EINVAL,
                       "floe_open: options of %zu bytes: this library takes %zu..%zu (fill them with "
                       "floe_options_init, from a floe.h no newer than the library)",
                       src->struct_size, (size_t)OPTIONS_MIN_BYTES, sizeof *dst);
    defaults(dst);
    memcpy(dst, src, src->struct_size);
    dst->struct_size = sizeof *dst;
    return 0;
}

const option_limit *options_limit_at(size_t i)
{
    return i < sizeof limits / sizeof limits[0] ? &limits[i] : NULL;
}

const option_limit *options_limit(const char *name)
{
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        if (strcmp(limits[i].name, name) == 0)
            return &limits[i];
    return NULL;
}

uint64_t options_get(const floe_options *o, const option_limit *l)
{
    const char *p = (const char *)o + l->offset;
    if (l->width == 4) {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

void options_set(floe_options *o, const option_limit *l, uint64_t v)
{
    char *p = (char *)o + l->offset;
    if (l->width == 4) {
        uint32_t v32 = (uint32_t)v;
        memcpy(p, &v32, sizeof v32);
    } else {
        memcpy(p, &v, sizeof v);
    }
}

static int check_enums(const floe_options *o)
{
    if (o->wal.sync != FLOE_SYNC_ALWAYS && o->wal.sync != FLOE_SYNC_INTERVAL && o->wal.sync != FLOE_SYNC_NEVER)
        return err_set(FLOE_EINVAL, "option wal.sync has an unknown value %d", (int)o->wal.sync);
    if (o->segment.compression != FLOE_COMPRESSION_ZSTD && o->segment.compression != FLOE_COMPRESSION_NONE)
        return err_set(FLOE_EINVAL, "option segment.compression has an unknown value %d",
                       (int)o->segment.compression);
    if (o->cold.backend != FLOE_COLD_NONE && o->cold.backend != FLOE_COLD_FS && o->cold.backend != FLOE_COLD_S3)
        return err_set(FLOE_EINVAL, "option cold.backend has an unknown value %d", (int)o->cold.backend);
    return 0;
}

int options_check(const floe_options *o)
{
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        uint64_t v = options_get(o, &limits[i]);
        if (v < limits[i].min || v > limits[i].max)
            return err_set(FLOE_EINVAL, "option %s must be %" PRIu64 "..%" PRIu64 ", got %" PRIu64, limits[i].name,
                           limits[i].min, limits[i].max, v);
    }
    int rc = check_enums(o);
    if (rc < 0)
        return rc;
    if (o->segment.max_unwritten_bytes != 0 && o->segment.max_unwritten_bytes < o->segment.max_bytes)
        return err_set(FLOE_EINVAL,
                       "option segment.max_unwritten_bytes must be 0 (twice segment.max_bytes) or at least "
                       "segment.max_bytes");
    if (o->cold.backend == FLOE_COLD_FS && (!o->cold.fs_path || !o->cold.fs_path[0]))
        return err_set(FLOE_EINVAL, "option cold.fs_path is required for the fs cold tier");
    /* Rules are an array, not a number: their limits live with them (retention.h). */
    return retention_check(o);
}

void options_resolve(floe_options *o)
{
    if (o->segment.max_unwritten_bytes == 0)
        o->segment.max_unwritten_bytes = 2 * o->segment.max_bytes;
    if (o->compaction.level_base_bytes == 0) {
        /* Level 1 about the size of the level-0 batch that merges into it: each merge then
         * rewrites about as much of level 1 as it brings (RocksDB's advice, made the default). */
        uint64_t trigger = o->compaction.l0_trigger ? o->compaction.l0_trigger : 4;
        o->compaction.level_base_bytes = trigger * o->segment.max_bytes;
        if (o->compaction.level_base_bytes < (1ull << 20))
            o->compaction.level_base_bytes = 1ull << 20;
    }
}
