/* floe segment dump PATH: prints a segment file's footer, metadata, bloom filter, index and every
 * entry, and reports each CRC mismatch with its block and byte offset. The file is read through
 * segment.h's inspection API, which checks it with the reader's own parsers of the format
 * (docs/formats.md, "Segment files"); this file only prints what it reports. */
#include "tools.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "floe.h"
#include "object.h"
#include "segment.h"

/* Values are shortened to this many bytes. */
#define DUMP_VALUE_BYTES 64
/* Last keys in block lines are shortened to this many bytes. */
#define DUMP_BLOCK_KEY_BYTES 64

typedef struct dump {
    FILE *out;
    int damaged;
    char esc[4 * FLOE_MAX_KEY_BYTES + 4]; /* room for any key, content type or shortened value */
} dump;

/* Prints a problem the inspection found and remembers that the file is damaged. NULL is none. */
static void dump_problem(dump *d, const char *problem)
{
    if (!problem)
        return;
    fprintf(d->out, "error: %s\n", problem);
    d->damaged = 1;
}

static void dump_region_problems(dump *d, const segment_region_report *r)
{
    dump_problem(d, r->crc_problem);
    dump_problem(d, r->parse_problem);
}

/* The footer, metadata, bloom filter and index lines, each followed by what is wrong with it. */
static void dump_summary(dump *d, const segment_summary *sum)
{
    fprintf(d->out,
            "footer at offset %" PRIu64 ": version %" PRIu32 ", bloom %" PRIu64 "+%" PRIu32 ", index %" PRIu64
            "+%" PRIu32 ", metadata %" PRIu64 "+%" PRIu32 "\n",
            sum->footer_offset, sum->format_version, sum->bloom.offset, sum->bloom.length, sum->index.offset,
            sum->index.length, sum->meta.offset, sum->meta.length);
    dump_region_problems(d, &sum->meta);
    if (!sum->meta.parse_problem) {
        const segment_info *info = &sum->info;
        fprintf(d->out,
                "metadata: id %" PRIu64 ", epoch %" PRIu64 ", seq %" PRIu64 "..%" PRIu64 ", %" PRIu64
                " entries, %" PRIu64 " blocks, largest block %" PRIu32 " bytes, created %" PRId64 "\n",
                info->id, info->epoch, info->min_seq, info->max_seq, info->count, info->block_count,
                sum->largest_block_bytes, info->created_unix_s);
        segment_escape_bytes(info->min_key, info->min_key_len, FLOE_MAX_KEY_BYTES, d->esc);
        fprintf(d->out, "  min key \"%s\"\n", d->esc);
        segment_escape_bytes(info->max_key, info->max_key_len, FLOE_MAX_KEY_BYTES, d->esc);
        fprintf(d->out, "  max key \"%s\"\n", d->esc);
    }
    dump_region_problems(d, &sum->bloom);
    if (!sum->bloom.parse_problem)
        fprintf(d->out, "bloom filter: %" PRIu64 " bits, %u probes\n", sum->bloom_bits, sum->bloom_probes);
    dump_region_problems(d, &sum->index);
    fprintf(d->out, "index: %" PRIu64 " blocks\n", sum->index_blocks);
    dump_problem(d, sum->block_count_problem);
}

static void dump_block(void *ctx, const segment_block_report *r)
{
    dump *d = ctx;
    segment_escape_bytes(r->last_key, r->last_key_len, DUMP_BLOCK_KEY_BYTES, d->esc);
    fprintf(d->out, "block %" PRIu64 " at offset %" PRIu64 ": %" PRIu32 " bytes, last key \"%s\"\n", r->block,
            r->offset, r->length, d->esc);
    if (r->decoded)
        fprintf(d->out, "  compression %s, %zu bytes decoded, %" PRIu32 " restarts\n",
                r->compression == FLOE_COMPRESSION_ZSTD ? "zstd" : "none", r->decoded_bytes, r->restarts);
}

static void dump_entry(void *ctx, const entry *e)
{
    dump *d = ctx;
    segment_escape_bytes(e->key, e->key_len, FLOE_MAX_KEY_BYTES, d->esc);
    /* write_ms 0: written before entries carried their write time (a version 1 segment). */
    fprintf(d->out, "  %s key=\"%s\" seq=%" PRIu64 " write_ms=%" PRIu64,
            e->type == ENTRY_PUT ? "put" : e->type == ENTRY_OBJECT ? "object" : "delete", d->esc, e->seq,
            e->write_ms);
    if (e->content_type_len) {
        segment_escape_bytes((const uint8_t *)e->content_type, e->content_type_len,
                             FLOE_MAX_CONTENT_TYPE_BYTES, d->esc);
        fprintf(d->out, " content_type=\"%s\"", d->esc);
    }
    if (e->type == ENTRY_PUT) {
        segment_escape_bytes(e->value, e->value_len, DUMP_VALUE_BYTES, d->esc);
        fprintf(d->out, " value[%" PRIu32 "]=\"%s\"", e->value_len, d->esc);
    }
    objrec rec;
    if (e->type == ENTRY_OBJECT && objrec_parse_whole(e->value, e->value_len, &rec) == 0) {
        char md5[33];
        for (int i = 0; i < 16; i++)
            snprintf(md5 + 2 * i, 3, "%02x", rec.md5[i]);
        fprintf(d->out, " size=%" PRIu64 " md5=%s user_meta[%u]", rec.size, md5, rec.user_meta_len);
        if (rec.flags & OBJREC_CHUNKED) {
            char id[33];
            for (int i = 0; i < OBJID_BYTES; i++)
                snprintf(id + 2 * i, 3, "%02x", rec.objid[i]);
            fprintf(d->out, " chunks of %" PRIu32 " id=%s", rec.chunk_bytes, id);
        }
    } else if (e->type == ENTRY_OBJECT) {
        fprintf(d->out, " (object record does not parse: %s)", floe_last_error());
    }
    fputc('\n', d->out);
}

/* Every block the index lists, each with its entries and then what is wrong with it. */
static int dump_blocks(dump *d, segment_inspector *ins, const segment_summary *sum)
{
    static const segment_block_fns fns = {.block = dump_block, .entry = dump_entry};
    segment_block_report r;
    int rc = 0;

    for (uint64_t b = 0; b < sum->index_blocks && rc == 0; b++) {
        rc = segment_inspect_block(ins, b, &fns, d, &r);
        if (rc == 0)
            dump_problem(d, r.problem);
    }
    return rc;
}

int tools_segment_dump(const char *path, FILE *out)
{
    segment_inspector *ins = NULL;
    const segment_summary *sum = NULL;
    uint64_t file_bytes = 0;
    dump d = {.out = out};
    int rc = 0;

    rc = segment_inspect_open(path, &ins, &file_bytes);
    if (rc < 0)
        goto out;
    fprintf(out, "segment %s: %" PRIu64 " bytes\n", path, file_bytes);
    rc = segment_inspect_read(ins, &sum);
    if (rc < 0)
        goto out;
    dump_problem(&d, sum->footer_problem);
    if (sum->footer_problem)
        goto out;
    dump_summary(&d, sum);
    rc = dump_blocks(&d, ins, sum);
out:
    segment_inspect_close(ins);
    if (rc == 0 && d.damaged) {
        fprintf(out, "segment %s is damaged\n", path);
        rc = err_set(FLOE_ECORRUPT, "segment %s is damaged; the dump above names each damaged part", path);
    }
    return rc;
}

int tools_cmd_segment(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "dump") != 0) {
        fprintf(stderr, "usage: floe segment dump PATH\n");
        return 2;
    }
    int rc = tools_segment_dump(argv[2], stdout);
    if (rc < 0) {
        fflush(stdout);
        fprintf(stderr, "floe segment dump: %s: %s\n", floe_strerror(rc), floe_last_error());
        return 1;
    }
    return 0;
}
