/* Fuzzes WAL replay (src/wal.c, docs/formats.md "WAL"). Outside bytes: a WAL file as found on disk
 * after a crash or a disk fault. The input becomes the last (only) file of a scratch WAL directory,
 * 00000000000000000001.log; an input that does not start with the magic is written after a valid
 * file header (version 3, 2 or 1 by the input's size modulo 3, so every record layout is reached:
 * version 3 records carry a write time before the key), so mutations reach the records. Each input is replayed three times with wal_open: as
 * is, with the header and every record CRC recomputed (fuzz_wal_fix_crcs), so the checks behind
 * the CRCs are reached too; and that last form once more followed by an empty file 2, so it is
 * replayed as a file that is not the last.
 *
 * Asserts: no memory error or undefined behaviour; wal_open returns 0 or a negative FLOE_E* code
 * with a message; every replayed record is what the format allows (type put, object, delete or
 * prefix delete, key 1..FLOE_MAX_KEY_BYTES bytes, a delete with no value or content type, content type at most
 * FLOE_MAX_CONTENT_TYPE_BYTES, seq strictly increasing, the record within max_record_bytes); and
 * a WAL that opened once opens again with the same records (the torn tail was cut, not kept). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coding.h"
#include "crc32c.h"
#include "floe.h"
#include "fuzz_common.h"
#include "wal.h"

#define HEADER_BYTES 28
#define MAX_RECORD_BYTES (64u * 1024)

typedef struct replay_check {
    uint64_t records;
    uint64_t last_seq;
    uint64_t sum; /* of every record's seq and lengths, to compare two replays */
} replay_check;

static const uint8_t magic[8] = {'F', 'L', 'O', 'E', 'W', 'A', 'L', 0};

/* version 2 and 3 files start every batch with a sync mark; version 1 files (older stores) have
 * none; version 3 records carry an 8-byte write time. */
static void write_header(uint8_t *h, uint64_t file_no, uint32_t version)
{
    memcpy(h, magic, sizeof magic);
    put_le32(h + 8, version);
    put_le32(h + 12, 0);
    put_le64(h + 16, file_no);
    put_le32(h + 24, crc32c(h, 24));
}

static int on_record(void *ctx, const wal_record *rec)
{
    replay_check *c = ctx;
    FUZZ_CHECK(rec->type == WAL_REC_PUT || rec->type == WAL_REC_DELETE || rec->type == WAL_REC_DELETE_PREFIX ||
               rec->type == WAL_REC_OBJECT);
    FUZZ_CHECK(rec->key && rec->key_len >= 1 && rec->key_len <= FLOE_MAX_KEY_BYTES);
    FUZZ_CHECK(rec->content_type_len <= FLOE_MAX_CONTENT_TYPE_BYTES);
    if (rec->type == WAL_REC_DELETE || rec->type == WAL_REC_DELETE_PREFIX)
        FUZZ_CHECK(rec->value_len == 0 && rec->content_type_len == 0);
    /* (a version 3 record is 8 bytes longer still: its write time) */
    FUZZ_CHECK(24u + rec->key_len + rec->content_type_len + (uint64_t)rec->value_len <= MAX_RECORD_BYTES);
    FUZZ_CHECK(c->records == 0 || rec->seq > c->last_seq);
    /* touch every byte, so a pointer into freed or foreign memory shows under ASan */
    volatile uint8_t sink = 0;
    for (uint32_t i = 0; i < rec->key_len; i++)
        sink ^= rec->key[i];
    for (uint32_t i = 0; i < rec->value_len; i++)
        sink ^= rec->value[i];
    for (uint32_t i = 0; i < rec->content_type_len; i++)
        sink ^= (uint8_t)rec->content_type[i];
    (void)sink;
    c->records++;
    c->last_seq = rec->seq;
    c->sum += rec->seq * 31 + rec->key_len * 7 + rec->value_len + rec->content_type_len + rec->write_ms;
    return 0;
}

static void replay(const char *dir, const uint8_t *file, size_t len, int then_empty_file)
{
    char wal_dir[4200], path[4300];
    snprintf(wal_dir, sizeof wal_dir, "%s/wal", dir);
    fuzz_empty_dir(dir);
    if (mkdir(wal_dir, 0755) != 0) {
        perror(wal_dir);
        abort();
    }
    snprintf(path, sizeof path, "%s/00000000000000000001.log", wal_dir);
    fuzz_write_file(path, file, len);
    if (then_empty_file) {
        uint8_t h[HEADER_BYTES];
        write_header(h, 2, 3);
        snprintf(path, sizeof path, "%s/00000000000000000002.log", wal_dir);
        fuzz_write_file(path, h, sizeof h);
    }

    wal_options o = {.sync = FLOE_SYNC_NEVER, .file_bytes = 1u << 20, .max_record_bytes = MAX_RECORD_BYTES};
    replay_check first = {0};
    wal_t *w = NULL;
    int rc = wal_open(wal_dir, &o, on_record, &first, &w);
    if (rc != 0) {
        FUZZ_CHECK(rc < 0 && w == NULL);
        FUZZ_CHECK(floe_last_error()[0] != '\0');
        return;
    }
    FUZZ_CHECK(wal_close(w) == 0);
    /* What replay kept (after cutting a torn tail) must replay the same way again. */
    replay_check second = {0};
    w = NULL;
    rc = wal_open(wal_dir, &o, on_record, &second, &w);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(second.records == first.records && second.sum == first.sum);
    FUZZ_CHECK(wal_close(w) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fuzz_scratch_dir("wal");
    if (size > (1u << 20))
        return 0;
    size_t len = size;
    int has_header = size >= sizeof magic && memcmp(data, magic, sizeof magic) == 0;
    if (!has_header)
        len += HEADER_BYTES;
    uint8_t *file = malloc(len ? len : 1);
    if (!file)
        return 0;
    if (!has_header) {
        write_header(file, 1, (uint32_t)(3 - size % 3)); /* every version replays */
        memcpy(file + HEADER_BYTES, data, size);
    } else {
        memcpy(file, data, size);
    }
    replay(dir, file, len, 0);
    fuzz_wal_fix_crcs(file, len);
    replay(dir, file, len, 0);
    /* the same file when it is not the last: damage there is refused, never cut */
    replay(dir, file, len, 1);
    free(file);
    return 0;
}
