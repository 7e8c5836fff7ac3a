/* Fuzzes the segment reader (src/segment.c, docs/formats.md "Segment files"). Outside bytes: a
 * segment file on local disk or an object fetched from the bucket. The input is copied into a
 * malloc'd buffer of exactly its size, so a read one byte past the end is an ASan report, and
 * opened twice: through base (as an mmapped local file is) and through a read_at callback (as the
 * cold tier is) that fails the run if the reader asks for bytes outside the file. On an open that
 * succeeds: segment_may_contain and segment_get of keys taken from the input and of the segment's
 * own min and max keys, a full iterator scan, seeks, every block's range, and segment_verify. Then
 * all of it again with every CRC recomputed (fuzz_segment_fix_crcs), so the parsing behind the
 * checksums is reached too. The same bytes also go through segment_inspect_* (`floe segment
 * dump`), which walks a damaged file on purpose.
 *
 * Asserts: no memory error or undefined behaviour; errors are negative FLOE_E* codes; the scan
 * yields keys of 1..FLOE_MAX_KEY_BYTES bytes; a point read of an object entry returns its parsed
 * record header (object.h) and the object's bytes; in a segment that passes segment_verify, the
 * scan goes without error, its entries are puts, objects or deletes, a delete has no value or content type, and its
 * keys strictly increase across every block; block ranges lie inside the file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"
#include "floe.h"
#include "fuzz_common.h"
#include "object.h"
#include "segment.h"

typedef struct exact_source {
    const uint8_t *buf;
    size_t len;
} exact_source;

static int read_exact(void *ctx, uint64_t offset, void *out, size_t len)
{
    const exact_source *s = ctx;
    /* The reader knows the size: asking past it is a reader bug, not a short file. */
    FUZZ_CHECK(offset <= s->len && len <= s->len - offset);
    memcpy(out, s->buf + offset, len);
    return 0;
}

static void get_key(segment_t *s, const uint8_t *key, size_t key_len)
{
    if (key_len == 0 || key_len > FLOE_MAX_KEY_BYTES)
        return;
    (void)segment_may_contain(s, key, key_len);
    segment_hit hit = {0};
    int rc = segment_get(s, key, key_len, &hit);
    FUZZ_CHECK(rc == 0 || rc == 1 || rc < 0);
    if (rc == 1) {
        FUZZ_CHECK(hit.type == ENTRY_PUT || hit.type == ENTRY_DELETE || hit.type == ENTRY_OBJECT);
        FUZZ_CHECK(hit.value_len == 0 || hit.value != NULL);
        /* An object entry's record header parsed (segment_get returns it only then). */
        FUZZ_CHECK((hit.type == ENTRY_OBJECT) == (hit.objhead != NULL));
        if (hit.objhead) {
            objrec rec;
            FUZZ_CHECK(objrec_parse(hit.objhead, hit.objhead_len, &rec) == 0);
            FUZZ_CHECK(rec.header_len == hit.objhead_len);
            FUZZ_CHECK((rec.flags & OBJREC_CHUNKED) ? hit.value_len == 0 : hit.total_len == rec.size);
        }
        volatile uint8_t sink = 0;
        for (uint32_t i = 0; i < hit.value_len; i++)
            sink ^= hit.value[i];
        if (hit.content_type)
            FUZZ_CHECK(strlen(hit.content_type) <= FLOE_MAX_CONTENT_TYPE_BYTES);
        (void)sink;
        segment_hit_clear(&hit);
    }
}

/* Scans every entry; returns 1 if the whole scan went without an error. Looks up the first few keys
 * it finds with segment_get. */
static int scan(segment_t *s, int verified)
{
    segment_iter *it = NULL;
    if (segment_iter_create(s, &it) != 0)
        return 0;
    int clean = segment_iter_seek(it, NULL, 0) == 0;
    uint8_t prev[FLOE_MAX_KEY_BYTES];
    size_t prev_len = 0;
    uint64_t n = 0;
    while (clean && segment_iter_valid(it)) {
        entry e;
        segment_iter_entry(it, &e);
        FUZZ_CHECK(e.key_len >= 1 && e.key_len <= FLOE_MAX_KEY_BYTES);
        FUZZ_CHECK(e.content_type_len <= FLOE_MAX_CONTENT_TYPE_BYTES);
        /* The iterator trusts a block whose CRC matches (a CRC recomputed over damage passes);
         * segment_verify checks that every entry parses and that keys increase, so a segment it
         * accepts must hold only entries the format allows. */
        if (verified) {
            FUZZ_CHECK(e.type == ENTRY_PUT || e.type == ENTRY_DELETE || e.type == ENTRY_OBJECT);
            FUZZ_CHECK(e.type != ENTRY_DELETE || (e.value_len == 0 && e.content_type_len == 0));
            if (n > 0)
                FUZZ_CHECK(key_cmp(prev, prev_len, e.key, e.key_len) < 0);
        }
        volatile uint8_t sink = 0;
        for (uint32_t i = 0; i < e.value_len; i++)
            sink ^= e.value[i];
        (void)sink;
        memcpy(prev, e.key, e.key_len);
        prev_len = e.key_len;
        n++;
        if (n <= 4) {
            segment_hit hit = {0};
            int rc = segment_get(s, prev, prev_len, &hit);
            /* 0 is possible: a bloom filter or index changed with its CRC recomputed may send the
             * lookup elsewhere, which is damage the CRCs were made to hide, not a reader bug */
            FUZZ_CHECK(rc <= 1);
            if (rc == 1)
                segment_hit_clear(&hit);
        }
        clean = segment_iter_next(it) == 0;
    }
    segment_iter_destroy(it);
    return clean;
}

static void exercise(segment_t *s, const uint8_t *data, size_t size)
{
    const segment_info *info = segment_get_info(s);
    get_key(s, info->min_key, info->min_key_len);
    get_key(s, info->max_key, info->max_key_len);
    /* keys from the input: its first bytes, and a run from its middle */
    get_key(s, data, size < 16 ? size : 16);
    if (size > 8)
        get_key(s, data + size / 2, size - size / 2 < 12 ? size - size / 2 : 12);
    for (uint64_t b = 0; b < info->block_count && b < 64; b++) {
        uint64_t off = 0, len = 0;
        if (segment_block_range(s, b, &off, &len) == 0)
            FUZZ_CHECK(off <= info->file_bytes && len <= info->file_bytes - off);
    }
    uint32_t crc = 0;
    int rc = segment_verify(s, &crc);
    FUZZ_CHECK(rc <= 0);
    int clean = scan(s, rc == 0);
    FUZZ_CHECK(clean || rc != 0);
    segment_iter *it = NULL;
    if (segment_iter_create(s, &it) == 0) {
        if (segment_iter_seek(it, info->max_key, info->max_key_len) == 0 && segment_iter_valid(it)) {
            entry e;
            segment_iter_entry(it, &e);
            FUZZ_CHECK(key_cmp(e.key, e.key_len, info->max_key, info->max_key_len) >= 0);
        }
        (void)segment_iter_seek(it, data, size < 8 ? size : 8);
        segment_iter_destroy(it);
    }
}

/* The inspection behind `floe segment dump`, which reads a damaged file on purpose. */
static void inspect(const uint8_t *data, size_t size)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/inspect.seg", fuzz_scratch_dir("segment"));
    fuzz_write_file(path, data, size);
    segment_inspector *ins = NULL;
    uint64_t file_bytes = 0;
    if (segment_inspect_open(path, &ins, &file_bytes) != 0)
        return;
    FUZZ_CHECK(file_bytes == size);
    const segment_summary *sum = NULL;
    if (segment_inspect_read(ins, &sum) == 0 && !sum->footer_problem) {
        for (uint64_t b = 0; b < sum->index_blocks && b < 64; b++) {
            segment_block_report r;
            FUZZ_CHECK(segment_inspect_block(ins, b, NULL, NULL, &r) == 0);
        }
    }
    segment_inspect_close(ins);
}

static void open_both_ways(const uint8_t *data, size_t size)
{
    inspect(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return;
    memcpy(copy, data, size);
    exact_source es = {copy, size};
    for (int via_read_at = 0; via_read_at < 2; via_read_at++) {
        segment_source src = {.read_at = read_exact, .ctx = &es, .size = size, .name = "fuzz.seg"};
        if (!via_read_at)
            src.base = copy;
        segment_t *s = NULL;
        int rc = segment_open(&src, &s);
        if (rc != 0) {
            FUZZ_CHECK(rc < 0 && s == NULL);
            continue;
        }
        exercise(s, data, size);
        segment_close(s);
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (4u << 20))
        return 0;
    open_both_ways(data, size);
    uint8_t *fixed = malloc(size ? size : 1);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    fuzz_segment_fix_crcs(fixed, size);
    if (size < 64 || memcmp(fixed, data, size) != 0)
        open_both_ways(fixed, size);
    free(fixed);
    return 0;
}
