/* Tests for src/wal.c: round trips, the documented byte format, torn tails, corruption anywhere
 * else, rotation and release, group commit across threads, the three sync modes and sticky write
 * failures. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "error.h"
#include "testutil.h"
#include "wal.h"

#define HDR 28     /* file header bytes, docs/formats.md */
#define REC_HDR 24 /* record header bytes */
#define MARK 32    /* the sync mark that starts every batch (version 2 on) */
#define WTIME 8    /* the write time that starts a put's or delete's payload (version 3) */
/* The write time the hand-written records of the current version carry. */
#define DOC_WRITE_MS 1795320208123ull

/* ---- a disk simulated around fdatasync ----
 * libfloe is linked statically, so this definition replaces libc's fdatasync for src/wal.c: tests
 * can give it the latency of a real disk (group commit only groups while a sync is in flight, and
 * on tmpfs a sync takes no time at all) or make it fail. */
static atomic_int fdatasync_calls;
static atomic_int fdatasync_delay_us;
static atomic_int fdatasync_fail_errno;

int fdatasync(int fd)
{
    atomic_fetch_add(&fdatasync_calls, 1);
    int delay = atomic_load(&fdatasync_delay_us);
    if (delay)
        usleep((useconds_t)delay);
    int e = atomic_load(&fdatasync_fail_errno);
    if (e) {
        errno = e;
        return -1;
    }
    return (int)syscall(SYS_fdatasync, fd);
}

/* ---- deterministic records: everything about a record follows from its sequence number ---- */

typedef struct rec_buf {
    char key[32];
    uint8_t value[4096];
    wal_record rec;
} rec_buf;

static const char *ct_for(uint64_t seq)
{
    return seq % 3 == 0 ? "text/plain; charset=utf-8" : NULL;
}

static uint32_t value_len_for(uint64_t seq)
{
    return (uint32_t)((seq * 37) % 300);
}

/* Write times follow the sequence number too, one second apart, so a replay that swapped or lost
 * them shows. */
static uint64_t write_ms_for(uint64_t seq)
{
    return 1790000000000ull + seq * 1000 + seq % 7;
}

static const wal_record *make_rec(rec_buf *b, uint64_t seq)
{
    memset(&b->rec, 0, sizeof b->rec);
    b->rec.seq = seq;
    b->rec.write_ms = write_ms_for(seq);
    snprintf(b->key, sizeof b->key, "key-%llu", (unsigned long long)seq);
    b->rec.key = (const uint8_t *)b->key;
    b->rec.key_len = (uint32_t)strlen(b->key);
    if (seq % 5 == 0) {
        b->rec.type = WAL_REC_DELETE;
        return &b->rec;
    }
    b->rec.type = WAL_REC_PUT;
    b->rec.value_len = value_len_for(seq);
    for (uint32_t i = 0; i < b->rec.value_len; i++)
        b->value[i] = (uint8_t)(seq * 7 + i);
    b->rec.value = b->value;
    const char *ct = ct_for(seq);
    if (ct) {
        b->rec.content_type = ct;
        b->rec.content_type_len = (uint32_t)strlen(ct);
    }
    return &b->rec;
}

/* ---- collecting what replay hands back ---- */

typedef struct got_rec {
    uint8_t type;
    uint64_t seq;
    uint64_t write_ms;
    char *key;
    uint32_t key_len;
    uint8_t *value;
    uint32_t value_len;
    char *ct; /* NULL if none */
    uint32_t ct_len;
} got_rec;

typedef struct collector {
    got_rec *recs;
    size_t n, cap;
    size_t fail_at; /* 1-based record number at which to return fail_code; 0: never */
    int fail_code;
} collector;

static void *dup_bytes(const void *p, size_t n)
{
    void *q = malloc(n + 1);
    ck_assert_ptr_nonnull(q);
    if (n)
        memcpy(q, p, n);
    ((char *)q)[n] = 0;
    return q;
}

static int collect(void *ctx, const wal_record *r)
{
    collector *c = ctx;
    if (c->fail_at && c->n + 1 == c->fail_at)
        return c->fail_code;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->recs = realloc(c->recs, c->cap * sizeof *c->recs);
        ck_assert_ptr_nonnull(c->recs);
    }
    got_rec *g = &c->recs[c->n++];
    g->type = r->type;
    g->seq = r->seq;
    g->write_ms = r->write_ms;
    g->key = dup_bytes(r->key, r->key_len);
    g->key_len = r->key_len;
    g->value = dup_bytes(r->value, r->value_len);
    g->value_len = r->value_len;
    g->ct = r->content_type ? dup_bytes(r->content_type, r->content_type_len) : NULL;
    g->ct_len = r->content_type_len;
    return 0;
}

static void collector_free(collector *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->recs[i].key);
        free(c->recs[i].value);
        free(c->recs[i].ct);
    }
    free(c->recs);
    memset(c, 0, sizeof *c);
}

/* Asserts that g is exactly the record make_rec builds for seq. */
static void check_rec(const got_rec *g, uint64_t seq)
{
    rec_buf b;
    const wal_record *want = make_rec(&b, seq);
    ck_assert_uint_eq(g->seq, seq);
    ck_assert_uint_eq(g->write_ms, want->write_ms);
    ck_assert_uint_eq(g->type, want->type);
    ck_assert_uint_eq(g->key_len, want->key_len);
    ck_assert_mem_eq(g->key, want->key, want->key_len);
    ck_assert_uint_eq(g->value_len, want->value_len);
    if (want->value_len)
        ck_assert_mem_eq(g->value, want->value, want->value_len);
    ck_assert_uint_eq(g->ct_len, want->content_type_len);
    if (want->content_type) {
        ck_assert_ptr_nonnull(g->ct);
        ck_assert_str_eq(g->ct, want->content_type);
    } else {
        ck_assert_ptr_null(g->ct);
    }
}

/* Asserts c holds exactly the records first..last in order. */
static void check_range(const collector *c, uint64_t first, uint64_t last)
{
    ck_assert_uint_eq(c->n, last - first + 1);
    for (size_t i = 0; i < c->n; i++)
        check_rec(&c->recs[i], first + i);
}

/* ---- WAL helpers ---- */

static wal_options opts_for(floe_sync_mode mode)
{
    wal_options o;
    memset(&o, 0, sizeof o);
    o.sync = mode;
    o.interval_ms = 2;
    o.file_bytes = 64ull << 20;
    o.max_record_bytes = 8u << 20;
    return o;
}

/* Asserts that the open WAL file at path holds exactly n bytes of records and header: either its
 * size is n, or (ALWAYS and INTERVAL reserve the file's space up front) its size is the reserved
 * file_bytes and everything after byte n is still zero. */
static void assert_file_holds(const char *path, long long n, const wal_options *o)
{
    size_t len = 0;
    uint8_t *data = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(data);
    ck_assert_int_ge((long long)len, n);
    if ((long long)len != n) {
        ck_assert_int_ne(o->sync, FLOE_SYNC_NEVER);
        ck_assert_int_eq((long long)len, (long long)o->file_bytes);
        size_t i = (size_t)n;
        while (i < len && data[i] == 0)
            i++;
        ck_assert_msg(i == len, "%s: byte %zu after the last record is not zero", path, i);
    }
    free(data);
}

static char *wal_file(const char *dir, uint64_t no)
{
    char *p = malloc(strlen(dir) + 32);
    ck_assert_ptr_nonnull(p);
    sprintf(p, "%s/%020llu.log", dir, (unsigned long long)no);
    return p;
}

static int count_log_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".log") == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* Opens dir, asserting success. */
static wal_t *open_ok(const char *dir, const wal_options *o, collector *c)
{
    wal_t *w = NULL;
    int r = wal_open(dir, o, c ? collect : NULL, c, &w);
    ck_assert_msg(r == 0, "wal_open(%s): %s: %s", dir, floe_strerror(r), floe_last_error());
    ck_assert_ptr_nonnull(w);
    return w;
}

/* Appends records first..last, each followed by wal_sync; lsns[seq] (if given) gets each LSN. */
static void append_range(wal_t *w, uint64_t first, uint64_t last, uint64_t *lsns)
{
    rec_buf b;
    for (uint64_t s = first; s <= last; s++) {
        uint64_t lsn = 0;
        int r = wal_append(w, make_rec(&b, s), &lsn);
        ck_assert_msg(r == 0, "append %llu: %s", (unsigned long long)s, floe_last_error());
        ck_assert_int_eq(wal_sync(w, lsn), 0);
        if (lsns)
            lsns[s] = lsn;
    }
}

/* Replays dir and returns what came back (asserting the open succeeds). */
static void replay_ok(const char *dir, const wal_options *o, collector *c, wal_stats *st)
{
    wal_t *w = open_ok(dir, o, c);
    if (st)
        wal_get_stats(w, st);
    ck_assert_int_eq(wal_close(w), 0);
}

/* Opens dir expecting failure with code; checks that *out is left alone and returns the message. */
static const char *open_fails(const char *dir, const wal_options *o, int code)
{
    wal_t *sentinel = (wal_t *)(uintptr_t)0x1234;
    wal_t *w = sentinel;
    collector c = {0};
    int r = wal_open(dir, o, collect, &c, &w);
    ck_assert_msg(r == code, "wal_open returned %d (%s), wanted %d; message: %s", r, floe_strerror(r), code,
                  floe_last_error());
    ck_assert_ptr_eq(w, sentinel);
    collector_free(&c);
    return floe_last_error();
}

static void write_le32_at(const char *path, long long off, uint32_t v)
{
    size_t len;
    uint8_t *data = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(data);
    ck_assert((size_t)off + 4 <= len);
    for (int i = 0; i < 4; i++)
        data[off + i] = (uint8_t)(v >> (8 * i));
    tu_write_file(path, data, len);
    free(data);
}

static void copy_file(const char *from, const char *to)
{
    size_t len;
    void *data = tu_read_file(from, &len);
    ck_assert_ptr_nonnull(data);
    tu_write_file(to, data, len);
    free(data);
}

static void msg_contains(const char *msg, const char *want)
{
    ck_assert_msg(strstr(msg, want) != NULL, "message \"%s\" does not contain \"%s\"", msg, want);
}

/* ---- a hand-written encoder that follows docs/formats.md, independent of src/wal.c ---- */

static size_t doc_file_header_version(uint8_t *p, uint64_t file_no, uint8_t version)
{
    memcpy(p, "FLOEWAL\0", 8);
    p[8] = version, p[9] = 0, p[10] = 0, p[11] = 0;
    memset(p + 12, 0, 4);
    for (int i = 0; i < 8; i++)
        p[16 + i] = (uint8_t)(file_no >> (8 * i));
    uint32_t c = crc32c(p, 24);
    for (int i = 0; i < 4; i++)
        p[24 + i] = (uint8_t)(c >> (8 * i));
    return 28;
}

/* The current version's file header. */
static size_t doc_file_header(uint8_t *p, uint64_t file_no)
{
    return doc_file_header_version(p, file_no, 5);
}

/* A sync mark saying that the first synced bytes of its file were durable when its batch was written. */
static size_t doc_mark(uint8_t *p, uint64_t synced)
{
    memset(p, 0, MARK);
    p[4] = MARK;
    p[8] = 3;
    p[12] = 8;
    for (int i = 0; i < 8; i++)
        p[24 + i] = (uint8_t)(synced >> (8 * i));
    uint32_t c = crc32c(p + 4, MARK - 4);
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(c >> (8 * i));
    return MARK;
}

/* A put or delete record of a file of format version: from version 3 on its payload starts with
 * write_ms, before that it has none. */
static size_t doc_record_version(uint8_t *p, uint8_t version, uint64_t write_ms, uint8_t type, uint64_t seq,
                                 const char *key, const char *ct, const char *value)
{
    size_t kl = strlen(key), cl = ct ? strlen(ct) : 0, vl = value ? strlen(value) : 0;
    size_t tl = version >= 3 ? WTIME : 0;
    uint32_t len = (uint32_t)(24 + tl + kl + cl + vl);
    for (int i = 0; i < 4; i++)
        p[4 + i] = (uint8_t)(len >> (8 * i));
    p[8] = type;
    p[9] = (uint8_t)cl;
    p[10] = (uint8_t)kl;
    p[11] = (uint8_t)(kl >> 8);
    for (int i = 0; i < 4; i++)
        p[12 + i] = (uint8_t)(vl >> (8 * i));
    for (int i = 0; i < 8; i++)
        p[16 + i] = (uint8_t)(seq >> (8 * i));
    for (size_t i = 0; i < tl; i++)
        p[24 + i] = (uint8_t)(write_ms >> (8 * i));
    uint8_t *k = p + 24 + tl;
    memcpy(k, key, kl);
    if (cl)
        memcpy(k + kl, ct, cl);
    if (vl)
        memcpy(k + kl + cl, value, vl);
    uint32_t c = crc32c(p + 4, len - 4);
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(c >> (8 * i));
    return len;
}

/* A record of the current version, written at DOC_WRITE_MS. */
static size_t doc_record(uint8_t *p, uint8_t type, uint64_t seq, const char *key, const char *ct,
                         const char *value)
{
    return doc_record_version(p, 4, DOC_WRITE_MS, type, seq, key, ct, value);
}

/* A record of a version 1 or 2 file, which carries no write time. */
static size_t doc_record_old(uint8_t *p, uint8_t type, uint64_t seq, const char *key, const char *ct,
                             const char *value)
{
    return doc_record_version(p, 2, 0, type, seq, key, ct, value);
}

/* ---- tests ---- */

START_TEST(wal_round_trip_keeps_puts_deletes_and_content_types)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    ck_assert_str_eq(floe_last_error(), "");
    uint64_t lsns[61];
    append_range(w, 1, 60, lsns);
    for (int s = 2; s <= 60; s++)
        ck_assert_uint_gt(lsns[s], lsns[s - 1]);
    ck_assert_int_eq(wal_close(w), 0);

    for (int round = 0; round < 2; round++) {
        collector c = {0};
        wal_stats st;
        replay_ok(dir, &o, &c, &st);
        check_range(&c, 1, 60);
        ck_assert_uint_eq(st.records_replayed, 60);
        ck_assert_uint_eq(st.tail_bytes_truncated, 0);
        collector_free(&c);
    }
    /* Two reopens each left a fresh, header-only file behind. */
    ck_assert_int_eq(count_log_files(dir), 3);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_lsn_is_the_byte_position_after_the_record)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_NEVER);
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t lsns[11];
    append_range(w, 1, 10, lsns);
    ck_assert_int_eq(wal_close(w), 0);
    char *f = wal_file(dir, 1);
    ck_assert_int_eq(tu_file_size(f), HDR + (long long)lsns[10]);
    rec_buf b;
    const wal_record *r = make_rec(&b, 10);
    /* Each wal_sync wrote a batch of one record, led by its sync mark. */
    ck_assert_uint_eq(lsns[10] - lsns[9],
                      MARK + REC_HDR + WTIME + r->key_len + r->content_type_len + r->value_len);
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* Files of every version replay record for record: version 1 (written before sync marks), 2
 * (before write times: their records replay with write time 0, "unknown") and 3 (the current one,
 * each record with its own write time). */
START_TEST(wal_reads_records_built_from_the_documented_format)
{
    uint8_t version = (uint8_t)(_i + 1);
    char *dir = tu_tmpdir("wal");
    uint8_t buf[512];
    size_t n = doc_file_header_version(buf, 1, version);
    if (version >= 2)
        n += doc_mark(buf + n, HDR);
    n += doc_record_version(buf + n, version, DOC_WRITE_MS, 1, 41, "photos/cat.jpg", "image/jpeg", "meow");
    n += doc_record_version(buf + n, version, DOC_WRITE_MS + 1, 2, 42, "photos/dog.jpg", NULL, NULL);
    n += doc_record_version(buf + n, version, 0, 1, 43, "k", NULL, "");
    /* Version 4 adds object records (type 5); an older version's file that has one is damaged. */
    size_t before_object = n;
    n += doc_record_version(buf + n, version, DOC_WRITE_MS + 2, 5, 44, "big", "video/mp4", "obj");
    char *f = wal_file(dir, 1);
    tu_write_file(f, buf, n);

    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    collector c = {0};
    wal_stats st;
    replay_ok(dir, &o, &c, &st);
    if (version < 4) {
        /* The object record is the file's last: replay cuts it as a torn tail. */
        ck_assert_uint_eq(st.tail_bytes_truncated, n - before_object);
        n = before_object;
        st.tail_bytes_truncated = 0;
    }
    ck_assert_uint_eq(c.n, version < 4 ? 3 : 4);
    if (version >= 4) {
        ck_assert_uint_eq(c.recs[3].type, WAL_REC_OBJECT);
        ck_assert_str_eq(c.recs[3].ct, "video/mp4");
        ck_assert_str_eq((char *)c.recs[3].value, "obj");
    }
    ck_assert_uint_eq(c.recs[0].type, WAL_REC_PUT);
    ck_assert_uint_eq(c.recs[0].seq, 41);
    ck_assert_str_eq(c.recs[0].key, "photos/cat.jpg");
    ck_assert_str_eq(c.recs[0].ct, "image/jpeg");
    ck_assert_str_eq((char *)c.recs[0].value, "meow");
    ck_assert_uint_eq(c.recs[1].type, WAL_REC_DELETE);
    ck_assert_uint_eq(c.recs[1].seq, 42);
    ck_assert_uint_eq(c.recs[1].value_len, 0);
    ck_assert_ptr_null(c.recs[1].ct);
    ck_assert_uint_eq(c.recs[2].seq, 43);
    ck_assert_uint_eq(c.recs[2].value_len, 0);
    ck_assert_uint_eq(c.recs[0].write_ms, version >= 3 ? DOC_WRITE_MS : 0);
    ck_assert_uint_eq(c.recs[1].write_ms, version >= 3 ? DOC_WRITE_MS + 1 : 0);
    ck_assert_uint_eq(c.recs[2].write_ms, 0);
    ck_assert_uint_eq(st.tail_bytes_truncated, 0);
    ck_assert_int_eq(tu_file_size(f), (long long)n);
    collector_free(&c);
    /* And what wal.c writes is byte for byte what the document says. */
    char *f2 = wal_file(dir, 2);
    size_t len;
    uint8_t *written = tu_read_file(f2, &len);
    ck_assert_ptr_nonnull(written);
    ck_assert_uint_eq(len, HDR);
    ck_assert_uint_eq(doc_file_header(buf, 2), HDR);
    ck_assert_mem_eq(written, buf, HDR);
    free(written);
    free(f);
    free(f2);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_append_writes_the_documented_record_bytes)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    wal_record rec = {.type = WAL_REC_PUT,
                      .seq = 42,
                      .write_ms = DOC_WRITE_MS,
                      .key = (const uint8_t *)"photos/cat.jpg",
                      .key_len = 14,
                      .value = (const uint8_t *)"meow",
                      .value_len = 4,
                      .content_type = "image/jpeg",
                      .content_type_len = 10};
    uint64_t lsn;
    ck_assert_int_eq(wal_append(w, &rec, &lsn), 0);
    ck_assert_int_eq(wal_sync(w, lsn), 0);
    ck_assert_int_eq(wal_close(w), 0);
    uint8_t want[160];
    size_t n = doc_mark(want, HDR);
    n += doc_record(want + n, 1, 42, "photos/cat.jpg", "image/jpeg", "meow");
    ck_assert_uint_eq(lsn, n);
    /* With sync always, the next batch's mark follows at once: the record was synced. */
    n += doc_mark(want + n, HDR + n);
    char *f = wal_file(dir, 1);
    size_t len;
    uint8_t *got = tu_read_file(f, &len);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(len, HDR + n);
    ck_assert_mem_eq(got + HDR, want, n);
    free(got);
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* Reads the xxd dump of the worked example in docs/formats.md's WAL section into buf. */
static size_t read_doc_example(uint8_t *buf, size_t cap)
{
    size_t len;
    char *doc = tu_read_file(FLOE_SOURCE_DIR "/docs/formats.md", &len);
    ck_assert_msg(doc != NULL, "cannot read docs/formats.md");
    char *sec = strstr(doc, "<!-- section: wal ");
    ck_assert_ptr_nonnull(sec);
    char *ex = strstr(sec, "### Worked example");
    ck_assert_ptr_nonnull(ex);
    char *line = strstr(ex, "```\n");
    ck_assert_ptr_nonnull(line);
    line += 4;
    size_t n = 0;
    while (strncmp(line, "```", 3) != 0) {
        char *eol = strchr(line, '\n');
        ck_assert_ptr_nonnull(eol);
        /* "oooooooo: " then 16 columns of "hh " (48 characters), then the ASCII rendering. */
        ck_assert_msg(eol - line > 10 && line[8] == ':', "bad dump line in docs/formats.md");
        for (char *p = line + 10; p + 2 <= eol && p < line + 10 + 48; p += 3) {
            unsigned byte;
            if (p[0] == ' ')
                break;
            ck_assert_int_eq(sscanf(p, "%2x", &byte), 1);
            ck_assert_uint_lt(n, cap);
            buf[n++] = (uint8_t)byte;
        }
        line = eol + 1;
    }
    free(doc);
    return n;
}

START_TEST(wal_worked_example_in_formats_md_is_what_wal_writes)
{
    uint8_t doc[512];
    size_t n = read_doc_example(doc, sizeof doc);
    ck_assert_uint_eq(n, 166);

    /* The documented bytes replay as the records the text describes... */
    char *dir = tu_tmpdir("wal");
    char *f = wal_file(dir, 1);
    tu_write_file(f, doc, n);
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    collector c = {0};
    wal_stats st;
    replay_ok(dir, &o, &c, &st);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_uint_eq(st.tail_bytes_truncated, 0);
    ck_assert_uint_eq(c.recs[0].type, WAL_REC_PUT);
    ck_assert_uint_eq(c.recs[0].seq, 42);
    ck_assert_str_eq(c.recs[0].key, "photos/cat.jpg");
    ck_assert_str_eq(c.recs[0].ct, "image/jpeg");
    ck_assert_str_eq((char *)c.recs[0].value, "meow");
    ck_assert_uint_eq(c.recs[0].write_ms, DOC_WRITE_MS);
    ck_assert_uint_eq(c.recs[1].type, WAL_REC_DELETE);
    ck_assert_uint_eq(c.recs[1].seq, 43);
    ck_assert_str_eq(c.recs[1].key, "photos/cat.jpg");
    ck_assert_uint_eq(c.recs[1].write_ms, DOC_WRITE_MS + 877);
    collector_free(&c);

    /* ...and wal_append writes exactly those bytes, with the LSNs the text gives (sync never, as the
     * text says: with always a mark for the next batch would follow the fdatasync). */
    tu_rmrf(dir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    wal_options never = opts_for(FLOE_SYNC_NEVER);
    wal_t *w = open_ok(dir, &never, NULL);
    wal_record put = {.type = WAL_REC_PUT,
                      .seq = 42,
                      .write_ms = DOC_WRITE_MS,
                      .key = (const uint8_t *)"photos/cat.jpg",
                      .key_len = 14,
                      .value = (const uint8_t *)"meow",
                      .value_len = 4,
                      .content_type = "image/jpeg",
                      .content_type_len = 10};
    wal_record del = {.type = WAL_REC_DELETE,
                      .seq = 43,
                      .write_ms = DOC_WRITE_MS + 877,
                      .key = (const uint8_t *)"photos/cat.jpg",
                      .key_len = 14};
    uint64_t lsn1, lsn2;
    ck_assert_int_eq(wal_append(w, &put, &lsn1), 0);
    ck_assert_int_eq(wal_append(w, &del, &lsn2), 0);
    ck_assert_uint_eq(lsn1, 92);
    ck_assert_uint_eq(lsn2, 138);
    ck_assert_int_eq(wal_close(w), 0);
    size_t len;
    uint8_t *got = tu_read_file(f, &len);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(len, n);
    ck_assert_mem_eq(got, doc, n);
    free(got);
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_torn_tail_is_truncated_at_every_cut)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_NEVER);
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t lsns[13];
    append_range(w, 1, 12, lsns); /* record 12 carries a content type and a value */
    ck_assert_int_eq(wal_close(w), 0);
    char *f = wal_file(dir, 1);
    size_t len;
    uint8_t *pristine = tu_read_file(f, &len);
    ck_assert_ptr_nonnull(pristine);
    /* The last batch: its sync mark, then record 12. A cut inside the mark cuts the batch; a cut
     * inside the record leaves the whole mark (nothing to cut when the cut is right after it). */
    size_t batch_start = HDR + lsns[11];
    ck_assert_uint_eq(len, HDR + lsns[12]);

    char *work = tu_tmpdir("wal-cut");
    char *wf = wal_file(work, 1);
    for (size_t cut = batch_start + 1; cut < len; cut++) {
        size_t last_start = cut < batch_start + MARK ? batch_start : batch_start + MARK;
        tu_rmrf(work);
        ck_assert_int_eq(mkdir(work, 0755), 0);
        tu_write_file(wf, pristine, cut);
        collector c = {0};
        wal_stats st;
        wal_t *w2 = open_ok(work, &o, &c);
        if (cut != last_start)
            msg_contains(floe_last_error(), "truncated");
        wal_get_stats(w2, &st);
        ck_assert_int_eq(wal_close(w2), 0);
        check_range(&c, 1, 11);
        ck_assert_uint_eq(st.tail_bytes_truncated, cut - last_start);
        ck_assert_int_eq(tu_file_size(wf), (long long)last_start);
        collector_free(&c);
        /* The cut file is now clean: a second open replays the same and truncates nothing. */
        replay_ok(work, &o, &c, &st);
        check_range(&c, 1, 11);
        ck_assert_uint_eq(st.tail_bytes_truncated, 0);
        collector_free(&c);
    }
    tu_rmrf(work);
    free(work);
    free(wf);
    free(pristine);
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_garbage_after_the_last_record_is_truncated)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t lsns[9];
    append_range(w, 1, 8, lsns);
    ck_assert_int_eq(wal_close(w), 0);
    char *f = wal_file(dir, 1);
    size_t len;
    uint8_t *data = tu_read_file(f, &len);
    ck_assert_ptr_nonnull(data);
    /* Zeros (a file system that extended the file before the data reached it), then noise. */
    uint8_t *grown = calloc(1, len + 8192);
    ck_assert_ptr_nonnull(grown);
    memcpy(grown, data, len);
    for (size_t i = len + 4096; i < len + 8192; i++)
        grown[i] = (uint8_t)(i * 2654435761u >> 13);
    tu_write_file(f, grown, len + 8192);
    collector c = {0};
    wal_stats st;
    replay_ok(dir, &o, &c, &st);
    check_range(&c, 1, 8);
    ck_assert_uint_eq(st.tail_bytes_truncated, 8192);
    ck_assert_int_eq(tu_file_size(f), (long long)len);
    collector_free(&c);
    free(grown);
    free(data);
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* With sync never nothing after the header is known synced: damage in the last record is a torn
 * tail. */
START_TEST(wal_flipped_byte_in_the_last_record_is_a_torn_tail)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_NEVER);
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t lsns[9];
    append_range(w, 1, 8, lsns);
    ck_assert_int_eq(wal_close(w), 0);
    char *f = wal_file(dir, 1);
    tu_flip_byte(f, HDR + (long long)lsns[7] + MARK + 20);
    collector c = {0};
    wal_stats st;
    replay_ok(dir, &o, &c, &st);
    check_range(&c, 1, 7);
    ck_assert_uint_eq(st.tail_bytes_truncated, lsns[8] - lsns[7] - MARK);
    collector_free(&c);
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* With sync always, the mark written right after each fdatasync says the last record was synced:
 * damage to it is damage to an acknowledged write, refused with its offset, not cut as a torn
 * tail. Only if the power failed before that mark landed (so the write was never acknowledged) is
 * it cut. */
START_TEST(wal_damage_in_the_last_synced_record_is_refused)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t lsns[9];
    append_range(w, 1, 8, lsns);
    ck_assert_int_eq(wal_close(w), 0);
    char *f = wal_file(dir, 1);
    long long start = HDR + (long long)lsns[7] + MARK;
    ck_assert_int_eq(tu_file_size(f), HDR + (long long)lsns[8] + MARK);
    tu_flip_byte(f, start + 20);
    const char *msg = open_fails(dir, &o, FLOE_ECORRUPT);
    char want[64];
    snprintf(want, sizeof want, "bad record at byte %lld ", start);
    msg_contains(msg, want);
    msg_contains(msg, "00000000000000000001.log");
    /* The same damage without the mark after it: the power failed during that fdatasync. */
    tu_truncate(f, HDR + (long long)lsns[8]);
    collector c = {0};
    wal_stats st;
    replay_ok(dir, &o, &c, &st);
    check_range(&c, 1, 7);
    collector_free(&c);
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_flipped_byte_in_a_non_last_file_is_refused_with_file_and_offset)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t lsns[21];
    append_range(w, 1, 10, lsns);
    uint64_t next;
    ck_assert_int_eq(wal_rotate(w, &next), 0);
    ck_assert_uint_eq(next, 2);
    append_range(w, 11, 20, lsns);
    ck_assert_int_eq(wal_close(w), 0);

    /* Every byte of a record in the middle of file 1, and the last record of file 1. */
    char *f = wal_file(dir, 1);
    uint64_t victims[] = {5, 10};
    for (size_t v = 0; v < 2; v++) {
        uint64_t s = victims[v];
        long long start = HDR + (long long)lsns[s - 1] + MARK;
        long long end = HDR + (long long)lsns[s];
        for (long long off = start; off < end; off++) {
            tu_flip_byte(f, off);
            const char *msg = open_fails(dir, &o, FLOE_ECORRUPT);
            msg_contains(msg, "00000000000000000001.log");
            char want[64];
            snprintf(want, sizeof want, "bad record at byte %lld ", start);
            msg_contains(msg, want);
            tu_flip_byte(f, off);
        }
    }
    /* Undamaged again, it opens. */
    collector c = {0};
    replay_ok(dir, &o, &c, NULL);
    check_range(&c, 1, 20);
    collector_free(&c);
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_flipped_byte_in_the_last_file_with_valid_records_after_is_refused)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t lsns[11];
    append_range(w, 1, 10, lsns);
    ck_assert_int_eq(wal_close(w), 0);
    char *f = wal_file(dir, 1);
    long long start = HDR + (long long)lsns[4] + MARK;
    long long end = HDR + (long long)lsns[5];
    for (long long off = start; off < end; off++) {
        tu_flip_byte(f, off);
        const char *msg = open_fails(dir, &o, FLOE_ECORRUPT);
        char want[64];
        snprintf(want, sizeof want, "bad record at byte %lld ", start);
        msg_contains(msg, "00000000000000000001.log");
        msg_contains(msg, want);
        msg_contains(msg, "refusing to open");
        tu_flip_byte(f, off);
    }
    /* Refusing to open changed nothing on disk (the records, and the mark after the last sync). */
    ck_assert_int_eq(tu_file_size(f), HDR + (long long)lsns[10] + MARK);
    ck_assert_int_eq(count_log_files(dir), 1);
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* Zeros bytes [from, to) of path. */
static void zero_range(const char *path, long long from, long long to)
{
    size_t len;
    uint8_t *data = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(data);
    ck_assert(from <= to && (size_t)to <= len);
    memset(data + from, 0, (size_t)(to - from));
    tu_write_file(path, data, len);
    free(data);
}

/* Pads path with zeros to len bytes, as the space posix_fallocate reserved reads after a crash. */
static void pad_with_zeros(const char *path, size_t len)
{
    size_t have;
    uint8_t *data = tu_read_file(path, &have);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_le(have, len);
    uint8_t *grown = calloc(1, len);
    ck_assert_ptr_nonnull(grown);
    memcpy(grown, data, have);
    tu_write_file(path, grown, len);
    free(grown);
    free(data);
}

#define PAGE 4096

/* Opens dir, which must replay records 1..last_kept and cut truncated bytes with a note containing
 * note_part (and also_part, unless NULL), then closes it and removes the empty file 2 the open left,
 * so the next case starts from file 1 alone again. */
static void reopen_expecting_a_cut(const char *dir, const wal_options *o, uint64_t last_kept, uint64_t truncated,
                                   const char *note_part, const char *also_part)
{
    collector c = {0};
    wal_stats st;
    wal_t *w = open_ok(dir, o, &c);
    msg_contains(floe_last_error(), note_part);
    if (also_part)
        msg_contains(floe_last_error(), also_part);
    wal_get_stats(w, &st);
    ck_assert_int_eq(wal_close(w), 0);
    check_range(&c, 1, last_kept);
    ck_assert_uint_eq(st.tail_bytes_truncated, truncated);
    collector_free(&c);
    char *f2 = wal_file(dir, 2);
    ck_assert_int_eq(unlink(f2), 0);
    free(f2);
}

START_TEST(wal_zeroed_pages_of_an_unsynced_batch_in_the_last_file_are_cut)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t lsns[61];
    append_range(w, 1, 60, lsns);
    ck_assert_int_eq(wal_close(w), 0);
    char *f = wal_file(dir, 1);
    size_t len;
    uint8_t *pristine = tu_read_file(f, &len);
    ck_assert_ptr_nonnull(pristine);
    const size_t reserved = 64 * 1024;

    /* Power lost during the fdatasync of a batch that starts with record k: the batch's first page
     * (or first two) never reached the disk and reads as the zeros reserved there, while later pages
     * of the same batch did. */
    uint64_t firsts[] = {2, 9, 14};
    for (size_t i = 0; i < sizeof firsts / sizeof firsts[0]; i++) {
        for (int pages = 1; pages <= 2; pages++) {
            uint64_t k = firsts[i];
            long long b = HDR + (long long)lsns[k - 1];
            long long zero_end = (b / PAGE + pages) * PAGE;
            ck_assert_int_lt(zero_end + 1000, HDR + (long long)lsns[60]); /* valid records follow */
            tu_write_file(f, pristine, len);
            pad_with_zeros(f, reserved);
            zero_range(f, b, zero_end);

            char want[64];
            snprintf(want, sizeof want, "at byte %lld ", b);
            reopen_expecting_a_cut(dir, &o, k - 1, reserved - (size_t)b, "00000000000000000001.log", want);
            ck_assert_int_eq(tu_file_size(f), b); /* file 1 was cut where the zeros began */
        }
    }
    free(pristine);
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_zeroed_pages_in_a_non_last_file_are_refused_with_file_and_offset)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t lsns[41];
    append_range(w, 1, 30, lsns);
    uint64_t next;
    ck_assert_int_eq(wal_rotate(w, &next), 0);
    append_range(w, 31, 40, NULL);
    ck_assert_int_eq(wal_close(w), 0);
    char *f = wal_file(dir, 1);
    long long b = HDR + (long long)lsns[9];
    zero_range(f, b, (b / PAGE + 1) * PAGE);
    const char *msg = open_fails(dir, &o, FLOE_ECORRUPT);
    msg_contains(msg, "00000000000000000001.log");
    char want[64];
    snprintf(want, sizeof want, "bad record at byte %lld ", b);
    msg_contains(msg, want);
    msg_contains(msg, "refusing to open");
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* Records first..last appended as one batch (one write, then one fdatasync with ALWAYS). */
static void append_batch(wal_t *w, uint64_t first, uint64_t last, uint64_t *lsns)
{
    rec_buf b;
    uint64_t lsn = 0;
    for (uint64_t s = first; s <= last; s++) {
        ck_assert_int_eq(wal_append(w, make_rec(&b, s), &lsn), 0);
        if (lsns)
            lsns[s] = lsn;
    }
    ck_assert_int_eq(wal_sync(w, lsn), 0);
}

/* Bug 7: power lost during the fdatasync of a multi-page batch, whose pages reached the disk out of
 * order. A lost page that begins inside a record (its header landed, so the zeros are not at a
 * record boundary), with later pages of the same batch intact, is the batch's unsynced tail: the
 * WAL opens with every acknowledged record and cuts the batch where the damage starts. */
START_TEST(wal_lost_page_inside_a_record_of_the_last_batch_is_cut)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t lsns[201];
    append_range(w, 1, 5, lsns); /* acknowledged, one fdatasync each */
    append_batch(w, 6, 200, lsns); /* the batch whose fdatasync the power loss interrupts */
    ck_assert_int_eq(wal_close(w), 0);
    char *f = wal_file(dir, 1);
    /* The power failed during that fdatasync, so the mark that follows a completed one never came. */
    tu_truncate(f, HDR + (long long)lsns[200]);
    size_t len;
    uint8_t *pristine = tu_read_file(f, &len);
    ck_assert_ptr_nonnull(pristine);
    ck_assert_uint_gt(len, HDR + lsns[5] + 3 * PAGE);

    /* Each page of the batch in turn: zeroed (reserved space never written) or holding old bytes. */
    for (long long page = (HDR + (long long)lsns[5]) / PAGE + 1; (page + 1) * PAGE < (long long)len; page++) {
        for (int noise = 0; noise < 2; noise++) {
            tu_write_file(f, pristine, len);
            if (noise)
                for (long long off = page * PAGE; off < (page + 1) * PAGE; off++)
                    tu_flip_byte(f, off);
            else
                zero_range(f, page * PAGE, (page + 1) * PAGE);
            /* The first record the lost page touches is where the batch is cut. */
            uint64_t k = 6;
            while (HDR + (long long)lsns[k] <= page * PAGE)
                k++;
            reopen_expecting_a_cut(dir, &o, k - 1, len - (HDR + lsns[k - 1]), "never synced", NULL);
        }
    }
    free(pristine);
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* With sync "never" no batch is ever known durable: a lost page in an early batch, with later
 * batches intact, is cut there, and what survives is a prefix of the writes in sequence order. */
START_TEST(wal_lost_page_of_an_early_unsynced_batch_is_cut_to_a_prefix)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_NEVER);
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t lsns[61];
    append_batch(w, 1, 20, lsns);
    append_batch(w, 21, 40, lsns);
    append_batch(w, 41, 60, lsns);
    ck_assert_int_eq(wal_close(w), 0);
    char *f = wal_file(dir, 1);
    long long at = HDR + (long long)lsns[10] + 40; /* inside record 11, in the first batch */
    zero_range(f, at, at + 100);
    collector c = {0};
    wal_stats st;
    replay_ok(dir, &o, &c, &st);
    check_range(&c, 1, 10);
    collector_free(&c);
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* A damaged sync mark is damage like any record's: refused with its offset when later batches say
 * it had been synced. */
START_TEST(wal_damaged_sync_mark_of_a_synced_batch_is_refused)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t lsns[11];
    append_range(w, 1, 10, lsns);
    ck_assert_int_eq(wal_close(w), 0);
    char *f = wal_file(dir, 1);
    long long mark = HDR + (long long)lsns[4];
    for (long long off = mark; off < mark + MARK; off++) {
        tu_flip_byte(f, off);
        const char *msg = open_fails(dir, &o, FLOE_ECORRUPT);
        char want[64];
        snprintf(want, sizeof want, "bad record at byte %lld ", mark);
        msg_contains(msg, want);
        tu_flip_byte(f, off);
    }
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* A record whose value is a run of zeros, damaged by one flipped byte, with valid records after it:
 * zeros inside a record are data, not a sign of an unsynced batch, so this is refused. */
START_TEST(wal_damaged_record_holding_zeros_with_valid_records_after_is_refused)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t lsns[12];
    append_range(w, 1, 5, lsns);
    static uint8_t zeros[3 * PAGE];
    wal_record z = {.type = WAL_REC_PUT,
                    .seq = 6,
                    .key = (const uint8_t *)"zeros",
                    .key_len = 5,
                    .value = zeros,
                    .value_len = sizeof zeros};
    ck_assert_int_eq(wal_append(w, &z, &lsns[6]), 0);
    ck_assert_int_eq(wal_sync(w, lsns[6]), 0);
    append_range(w, 7, 11, lsns);
    ck_assert_int_eq(wal_close(w), 0);
    char *f = wal_file(dir, 1);
    long long start = HDR + (long long)lsns[5] + MARK;
    long long flips[] = {start + REC_HDR + 1, start + REC_HDR + 5 + 2 * PAGE + 17};
    for (size_t i = 0; i < 2; i++) {
        tu_flip_byte(f, flips[i]);
        const char *msg = open_fails(dir, &o, FLOE_ECORRUPT);
        char want[64];
        snprintf(want, sizeof want, "bad record at byte %lld ", start);
        msg_contains(msg, "00000000000000000001.log");
        msg_contains(msg, want);
        tu_flip_byte(f, flips[i]);
    }
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* The hostile file: a valid header, then one 24-byte record header repeated to the end, whose
 * fields agree with each other, whose length is half the file and whose CRC is wrong. The search for
 * valid records after the damage must not checksum half the file once per candidate. */
START_TEST(wal_search_after_damage_is_linear_in_the_file_size)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_NEVER);
    const size_t size = 8u << 20;
    uint8_t *data = malloc(size);
    ck_assert_ptr_nonnull(data);
    /* Version 1: no sync marks, so a valid record after damage is refused whatever it says. */
    doc_file_header_version(data, 1, 1);
    uint32_t len = (uint32_t)(size / 2);
    uint8_t h[REC_HDR] = {0};
    for (int i = 0; i < 4; i++)
        h[4 + i] = (uint8_t)(len >> (8 * i));
    h[8] = 1;  /* put */
    h[10] = 1; /* key_len 1, ct_len 0, value_len len - 25 */
    for (int i = 0; i < 4; i++)
        h[12 + i] = (uint8_t)((len - 25) >> (8 * i));
    h[16] = 7; /* seq */
    memcpy(h, "\xde\xad\xbe\xef", 4);
    for (size_t off = HDR; off < size; off += REC_HDR)
        memcpy(data + off, h, size - off < REC_HDR ? size - off : REC_HDR);
    char *f = wal_file(dir, 1);
    tu_write_file(f, data, size);
    collector c = {0};
    wal_stats st;
    replay_ok(dir, &o, &c, &st);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_uint_eq(st.tail_bytes_truncated, size - HDR);
    fprintf(stderr, "search after damage: %llu bytes checksummed for a %zu-byte file\n",
            (unsigned long long)st.replay_crc_bytes, size);
    ck_assert_uint_gt(st.replay_crc_bytes, 0);
    ck_assert_uint_le(st.replay_crc_bytes, 4 * (uint64_t)size);
    collector_free(&c);

    /* One real record among the forged headers, ending at the last byte, is found at its offset:
     * the search still accepts exactly the records whose CRC matches. */
    uint8_t rec[64];
    size_t rec_len = doc_record_old(rec, 1, 9, "found", NULL, "me"); /* the file is version 1 */
    size_t at = size - rec_len;
    for (size_t off = HDR; off < size; off += REC_HDR)
        memcpy(data + off, h, size - off < REC_HDR ? size - off : REC_HDR);
    memcpy(data + at, rec, rec_len);
    tu_write_file(f, data, size);
    char *f2 = wal_file(dir, 2); /* the empty file the first open left */
    ck_assert_int_eq(unlink(f2), 0);
    free(f2);
    const char *msg = open_fails(dir, &o, FLOE_ECORRUPT);
    char want[96];
    snprintf(want, sizeof want,
             "bad record at byte %d (crc mismatch) with a valid record after it at byte %zu;", HDR, at);
    msg_contains(msg, want);
    free(f);
    free(data);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* A version 2 last file (written before write times) keeps the sync-mark rules: damage that a later
 * mark says was synced is refused; damage with valid records but no mark above it after it is an
 * unsynced tail and is cut. The search for records after the damage reads version 2's layout. */
START_TEST(wal_version_2_last_file_keeps_the_sync_mark_rules)
{
    char *dir = tu_tmpdir("wal");
    char *f = wal_file(dir, 1);
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    for (int synced_later = 0; synced_later < 2; synced_later++) {
        uint8_t buf[512];
        size_t n = doc_file_header_version(buf, 1, 2);
        n += doc_mark(buf + n, HDR);
        n += doc_record_old(buf + n, 1, 1, "a", NULL, "one");
        n += doc_mark(buf + n, n); /* the second batch knew the first was synced */
        size_t damaged = n;
        n += doc_record_old(buf + n, 1, 2, "b", NULL, "two");
        if (synced_later)
            n += doc_mark(buf + n, n); /* a third batch knew the second was synced */
        n += doc_record_old(buf + n, 1, 3, "c", NULL, "three");
        buf[damaged + REC_HDR + 1] ^= 0x40; /* in the value of record 2 */
        tu_rmrf(dir);
        ck_assert_int_eq(mkdir(dir, 0755), 0);
        tu_write_file(f, buf, n);
        if (synced_later) {
            const char *msg = open_fails(dir, &o, FLOE_ECORRUPT);
            char want[64];
            snprintf(want, sizeof want, "bad record at byte %zu ", damaged);
            msg_contains(msg, want);
        } else {
            collector c = {0};
            wal_stats st;
            wal_t *w = open_ok(dir, &o, &c);
            /* Record 3 was found behind the damage (read as version 2): a cut of unsynced bytes. */
            msg_contains(floe_last_error(), "the writes after it were never synced");
            wal_get_stats(w, &st);
            ck_assert_int_eq(wal_close(w), 0);
            ck_assert_uint_eq(c.n, 1);
            ck_assert_uint_eq(c.recs[0].seq, 1);
            ck_assert_uint_eq(c.recs[0].write_ms, 0);
            ck_assert_uint_eq(st.tail_bytes_truncated, n - damaged);
            ck_assert_int_eq(tu_file_size(f), (long long)damaged);
            collector_free(&c);
        }
    }
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_corrupted_length_field_mid_file_is_refused)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t lsns[11];
    append_range(w, 1, 10, lsns);
    ck_assert_int_eq(wal_close(w), 0);
    char *f = wal_file(dir, 1);
    long long start = HDR + (long long)lsns[3] + MARK;
    uint32_t real_len = (uint32_t)(lsns[4] - lsns[3] - MARK);
    /* Past the end of the file, zero, one short, a little long, and long enough to swallow the
     * next record exactly: none may hide the valid records behind it. */
    uint32_t lies[] = {0xfffffff0u, 0, real_len - 1, real_len + 7, (uint32_t)(lsns[5] - lsns[3] - MARK)};
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        write_le32_at(f, start + 4, lies[i]);
        const char *msg = open_fails(dir, &o, FLOE_ECORRUPT);
        char want[64];
        snprintf(want, sizeof want, "bad record at byte %lld ", start);
        msg_contains(msg, want);
        msg_contains(msg, "00000000000000000001.log");
        write_le32_at(f, start + 4, real_len);
    }
    collector c = {0};
    replay_ok(dir, &o, &c, NULL);
    check_range(&c, 1, 10);
    collector_free(&c);
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_bad_header_in_a_non_last_file_is_refused)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    append_range(w, 1, 3, NULL);
    ck_assert_int_eq(wal_close(w), 0);
    w = open_ok(dir, &o, NULL);
    append_range(w, 4, 6, NULL);
    ck_assert_int_eq(wal_close(w), 0);
    char *f1 = wal_file(dir, 1);
    for (long long off = 0; off < HDR; off++) {
        tu_flip_byte(f1, off);
        const char *msg = open_fails(dir, &o, FLOE_ECORRUPT);
        msg_contains(msg, "00000000000000000001.log: bad file header");
        tu_flip_byte(f1, off);
    }
    /* A stray copy of file 1 under file 2's name is recognised by the number in its header. */
    char *f2 = wal_file(dir, 2);
    copy_file(f1, f2);
    const char *msg = open_fails(dir, &o, FLOE_ECORRUPT);
    msg_contains(msg, "00000000000000000002.log");
    msg_contains(msg, "different file number");
    /* A foreign file in the last position is refused, never taken for a torn write and removed. */
    const char junk[] = "this is not a WAL file, it only has the name of one";
    tu_write_file(f2, junk, sizeof junk);
    msg = open_fails(dir, &o, FLOE_ECORRUPT);
    msg_contains(msg, "00000000000000000002.log: bad file header (not a floe WAL file");
    tu_write_file(f2, junk, 5);
    msg = open_fails(dir, &o, FLOE_ECORRUPT);
    msg_contains(msg, "not a floe WAL file");
    ck_assert_int_eq(tu_file_size(f2), 5);
    free(f1);
    free(f2);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_reserved_space_is_cut_at_rotation_and_is_a_clean_end_after_a_crash)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    o.file_bytes = 1 << 20;
    pid_t pid = fork();
    if (pid == 0) {
        /* The child writes, rotates once, writes more, and dies without closing. */
        wal_t *w = NULL;
        if (wal_open(dir, &o, NULL, NULL, &w) != 0)
            _exit(2);
        rec_buf b;
        uint64_t lsn = 0, next = 0;
        for (uint64_t s = 1; s <= 20; s++)
            if (wal_append(w, make_rec(&b, s), &lsn) != 0 || wal_sync(w, lsn) != 0)
                _exit(3);
        if (wal_rotate(w, &next) != 0)
            _exit(4);
        for (uint64_t s = 21; s <= 30; s++)
            if (wal_append(w, make_rec(&b, s), &lsn) != 0 || wal_sync(w, lsn) != 0)
                _exit(5);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The rotated file holds its records and the sync mark written after the last fdatasync, and
     * nothing else; the last one still has its reserve. */
    char *f1 = wal_file(dir, 1), *f2 = wal_file(dir, 2);
    size_t len = 0;
    uint8_t *data = tu_read_file(f1, &len);
    ck_assert_ptr_nonnull(data);
    uint8_t mark[MARK];
    doc_mark(mark, len - MARK);
    ck_assert_mem_eq(data + len - MARK, mark, MARK);
    ck_assert_int_lt((long long)len, (long long)o.file_bytes);
    free(data);
    ck_assert_int_eq(tu_file_size(f2), (long long)o.file_bytes);
    /* Reopening replays everything and does not call the reserved zeros a torn tail. */
    collector c = {0};
    wal_stats st;
    replay_ok(dir, &o, &c, &st);
    check_range(&c, 1, 30);
    ck_assert_uint_eq(st.tail_bytes_truncated, 0);
    collector_free(&c);
    free(f1);
    free(f2);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_short_or_header_only_last_file_is_fine)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    append_range(w, 1, 4, NULL);
    ck_assert_int_eq(wal_close(w), 0);
    /* The reopen leaves header-only file 2; cutting it inside its header makes it torn. */
    collector c = {0};
    replay_ok(dir, &o, &c, NULL);
    check_range(&c, 1, 4);
    collector_free(&c);
    char *f2 = wal_file(dir, 2);
    ck_assert_int_eq(tu_file_size(f2), HDR);
    for (long long cut = HDR - 1; cut >= 0; cut -= 9) {
        tu_truncate(f2, cut);
        wal_t *w2 = open_ok(dir, &o, &c);
        check_range(&c, 1, 4);
        collector_free(&c);
        /* File 2 was removed and its number reused for the fresh file. */
        assert_file_holds(f2, HDR, &o);
        ck_assert_int_eq(count_log_files(dir), 2);
        append_range(w2, 5, 5, NULL);
        ck_assert_int_eq(wal_close(w2), 0);
        replay_ok(dir, &o, &c, NULL);
        check_range(&c, 1, 5);
        collector_free(&c);
        /* Back to the state before this round: file 2 holds record 5, file 3 is header-only. */
        char *f3 = wal_file(dir, 3);
        ck_assert_int_eq(unlink(f3), 0);
        free(f3);
        tu_truncate(f2, HDR);
    }
    /* A last file of zeros where the header should be, nothing valid after it: also torn. */
    uint8_t zeros[HDR + 100];
    memset(zeros, 0, sizeof zeros);
    tu_write_file(f2, zeros, sizeof zeros);
    replay_ok(dir, &o, &c, NULL);
    check_range(&c, 1, 4);
    collector_free(&c);
    free(f2);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* Writes records 1..6 into dir as three WAL files of two records each (options o), and closes. */
static void write_three_files(const char *dir, const wal_options *o)
{
    wal_t *w = open_ok(dir, o, NULL);
    uint64_t no;
    append_range(w, 1, 2, NULL);
    ck_assert_int_eq(wal_rotate(w, &no), 0);
    append_range(w, 3, 4, NULL);
    ck_assert_int_eq(wal_rotate(w, &no), 0);
    append_range(w, 5, 6, NULL);
    ck_assert_int_eq(wal_close(w), 0);
}

START_TEST(wal_missing_middle_file_is_refused)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_NEVER);
    write_three_files(dir, &o);
    char *f2 = wal_file(dir, 2);
    ck_assert_int_eq(unlink(f2), 0);
    const char *msg = open_fails(dir, &o, FLOE_ECORRUPT);
    msg_contains(msg, "00000000000000000002.log is missing");
    free(f2);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

typedef struct repair_seen {
    int pieces;
    uint64_t offsets[8];
    uint64_t records[8];
} repair_seen;

static void note_piece(void *ctx, const char *from, uint64_t offset, uint64_t bytes, uint64_t records,
                       const char *to)
{
    repair_seen *s = ctx;
    (void)from;
    ck_assert_int_lt(s->pieces, 8);
    ck_assert_ptr_nonnull(strstr(to, ".log.from-byte-"));
    (void)bytes;
    s->offsets[s->pieces] = offset;
    s->records[s->pieces++] = records;
}

START_TEST(wal_repair_cuts_at_the_first_damage_and_moves_later_files_whole)
{
    char *dir = tu_tmpdir("wal");
    char *q = tu_tmpdir("wal-quarantine");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t lsns[31], next;
    append_range(w, 1, 10, lsns);
    ck_assert_int_eq(wal_rotate(w, &next), 0);
    append_range(w, 11, 20, lsns);
    ck_assert_int_eq(wal_rotate(w, &next), 0);
    append_range(w, 21, 30, lsns);
    ck_assert_int_eq(wal_close(w), 0);
    char *f1 = wal_file(dir, 1), *f2 = wal_file(dir, 2), *f3 = wal_file(dir, 3);
    /* Damage in record 14 of file 2: records 11..13 stay, 15..20 and file 3 go. */
    /* File 1 ends with the mark written after record 10's fdatasync; file 2 begins with its own. */
    long long start = HDR + (long long)(lsns[13] - lsns[10] - MARK) + MARK;
    tu_flip_byte(f2, start + 9);
    long long f2_size = tu_file_size(f2), f3_size = tu_file_size(f3);
    size_t len;
    uint8_t *f2_bytes = tu_read_file(f2, &len);
    ck_assert_ptr_nonnull(f2_bytes);
    open_fails(dir, &o, FLOE_ECORRUPT);

    wal_repair_report rep;
    repair_seen seen = {0};
    ck_assert_int_eq(wal_repair(dir, q, 1, note_piece, &seen, &rep), 0);
    ck_assert_int_eq(rep.damaged, 1);
    ck_assert_uint_eq(rep.file_no, 2);
    ck_assert_uint_eq(rep.offset, (uint64_t)start);
    ck_assert_uint_eq(rep.records_kept, 13);
    ck_assert_uint_eq(rep.records_lost, 6 + 10); /* 15..20 in file 2, 21..30 in file 3 */
    ck_assert_uint_eq(rep.files_cut, 2);
    ck_assert_uint_eq(rep.bytes_cut, (uint64_t)(f2_size - start + f3_size));
    ck_assert_int_eq(seen.pieces, 2);
    ck_assert_uint_eq(seen.offsets[0], (uint64_t)start);
    ck_assert_uint_eq(seen.offsets[1], 0);
    ck_assert_uint_eq(seen.records[0], 6);
    ck_assert_uint_eq(seen.records[1], 10);
    /* The dry run changed nothing. */
    ck_assert_int_eq(tu_file_size(f2), f2_size);
    ck_assert_int_eq(tu_file_size(f3), f3_size);
    ck_assert_int_eq(count_log_files(dir), 3);

    memset(&seen, 0, sizeof seen);
    ck_assert_int_eq(wal_repair(dir, q, 0, note_piece, &seen, &rep), 0);
    ck_assert_int_eq(seen.pieces, 2);
    ck_assert_int_eq(tu_file_size(f2), start);
    ck_assert_int_eq(tu_file_size(f3), -1);
    char path[1024];
    snprintf(path, sizeof path, "%s/00000000000000000002.log.from-byte-%lld", q, start);
    size_t cut_len;
    uint8_t *cut = tu_read_file(path, &cut_len);
    ck_assert_ptr_nonnull(cut);
    ck_assert_uint_eq(cut_len, len - (size_t)start);
    ck_assert_mem_eq(cut, f2_bytes + start, cut_len);
    snprintf(path, sizeof path, "%s/00000000000000000003.log.from-byte-0", q);
    ck_assert_int_eq(tu_file_size(path), f3_size);
    collector c = {0};
    replay_ok(dir, &o, &c, NULL);
    check_range(&c, 1, 13);
    collector_free(&c);
    /* Undamaged now: nothing to repair, nothing touched. */
    ck_assert_int_eq(wal_repair(dir, q, 0, NULL, NULL, &rep), 0);
    ck_assert_int_eq(rep.damaged, 0);

    /* A later cut of a file number that was cut before never overwrites the first one. The opens
     * above left a header-only file 3; records 14..16 go to files 4 and 5. */
    w = open_ok(dir, &o, NULL);
    append_range(w, 14, 14, NULL);
    ck_assert_int_eq(wal_rotate(w, &next), 0);
    append_range(w, 15, 16, NULL);
    ck_assert_int_eq(wal_close(w), 0);
    ck_assert_int_eq(count_log_files(dir), 5);
    tu_flip_byte(f3, 3);
    ck_assert_int_eq(wal_repair(dir, q, 0, NULL, NULL, &rep), 0);
    ck_assert_uint_eq(rep.file_no, 3);
    ck_assert_uint_eq(rep.offset, 0);
    ck_assert_uint_eq(rep.files_cut, 3);
    ck_assert_uint_eq(rep.records_lost, 3);
    snprintf(path, sizeof path, "%s/00000000000000000003.log.from-byte-0", q);
    ck_assert_int_eq(tu_file_size(path), f3_size);
    snprintf(path, sizeof path, "%s/00000000000000000003.log.from-byte-0.2", q);
    ck_assert_int_eq(tu_file_size(path), HDR);
    replay_ok(dir, &o, &c, NULL);
    check_range(&c, 1, 13);
    collector_free(&c);

    free(cut);
    free(f2_bytes);
    free(f1);
    free(f2);
    free(f3);
    tu_rmrf(q);
    free(q);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_repair_moves_files_after_a_missing_one_and_leaves_a_newer_format_alone)
{
    char *dir = tu_tmpdir("wal");
    char *q = tu_tmpdir("wal-quarantine");
    wal_options o = opts_for(FLOE_SYNC_NEVER);
    write_three_files(dir, &o);
    char *f1 = wal_file(dir, 1), *f2 = wal_file(dir, 2);
    ck_assert_int_eq(unlink(f2), 0);
    wal_repair_report rep;
    ck_assert_int_eq(wal_repair(dir, q, 0, NULL, NULL, &rep), 0);
    ck_assert_uint_eq(rep.file_no, 3);
    ck_assert_uint_eq(rep.offset, 0);
    ck_assert_uint_eq(rep.records_kept, 2);
    ck_assert_uint_eq(rep.records_lost, 2);
    collector c = {0};
    replay_ok(dir, &o, &c, NULL);
    check_range(&c, 1, 2);
    collector_free(&c);

    /* A file of a format version this build does not know is not damage to cut. */
    uint8_t h[HDR];
    doc_file_header(h, 1);
    h[8] = 6;
    uint32_t crc = crc32c(h, 24);
    for (int i = 0; i < 4; i++)
        h[24 + i] = (uint8_t)(crc >> (8 * i));
    size_t len;
    uint8_t *data = tu_read_file(f1, &len);
    ck_assert_ptr_nonnull(data);
    memcpy(data, h, HDR);
    tu_write_file(f1, data, len);
    ck_assert_int_eq(wal_repair(dir, q, 0, NULL, NULL, &rep), FLOE_ECORRUPT);
    msg_contains(floe_last_error(), "unsupported WAL format version");
    ck_assert_int_eq(tu_file_size(f1), (long long)len);
    free(data);
    free(f1);
    free(f2);
    tu_rmrf(q);
    free(q);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_sequence_numbers_must_increase)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_NEVER);
    /* On disk: refused, naming the record. */
    uint8_t buf[256];
    size_t n = doc_file_header(buf, 1);
    n += doc_record(buf + n, 1, 7, "a", NULL, "x");
    size_t second = n;
    n += doc_record(buf + n, 1, 7, "b", NULL, "y");
    n += doc_record(buf + n, 1, 8, "c", NULL, "z");
    char *f = wal_file(dir, 1);
    tu_write_file(f, buf, n);
    const char *msg = open_fails(dir, &o, FLOE_ECORRUPT);
    char want[64];
    snprintf(want, sizeof want, "record at byte %zu has sequence number 7", second);
    msg_contains(msg, want);
    /* On append: refused, so the WAL never writes what it could not replay. */
    tu_rmrf(dir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    wal_t *w = open_ok(dir, &o, NULL);
    append_range(w, 10, 10, NULL);
    rec_buf b;
    uint64_t lsn;
    ck_assert_int_eq(wal_append(w, make_rec(&b, 10), &lsn), FLOE_EINVAL);
    ck_assert_int_eq(wal_append(w, make_rec(&b, 9), &lsn), FLOE_EINVAL);
    msg_contains(floe_last_error(), "sequence number 9");
    append_range(w, 11, 11, NULL);
    ck_assert_int_eq(wal_close(w), 0);
    /* Across a reopen, the last replayed sequence number still counts. */
    collector c = {0};
    w = open_ok(dir, &o, &c);
    check_range(&c, 10, 11);
    ck_assert_int_eq(wal_append(w, make_rec(&b, 11), &lsn), FLOE_EINVAL);
    append_range(w, 12, 12, NULL);
    ck_assert_int_eq(wal_close(w), 0);
    collector_free(&c);
    free(f);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_rotates_by_size_at_batch_boundaries)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    o.file_bytes = 4096;
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t lsns[301];
    append_range(w, 1, 300, lsns);
    wal_stats st;
    wal_get_stats(w, &st);
    ck_assert_int_eq(wal_close(w), 0);
    int files = count_log_files(dir);
    ck_assert_uint_eq(st.files, (uint64_t)files);
    /* About 300 * 190 bytes over 4 KiB files. */
    ck_assert_int_ge(files, 10);
    /* Each file but the last passed file_bytes with the record that ended its batch, no later. */
    for (int i = 1; i < files; i++) {
        char *f = wal_file(dir, (uint64_t)i);
        long long size = tu_file_size(f);
        ck_assert_int_ge(size, 4096);
        ck_assert_int_lt(size, 4096 + REC_HDR + WTIME + 16 + 300 + 32);
        free(f);
    }
    collector c = {0};
    replay_ok(dir, &o, &c, NULL);
    check_range(&c, 1, 300);
    collector_free(&c);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_rotate_and_release_before_delete_only_older_files)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    uint64_t n2, n3;
    append_range(w, 1, 5, NULL);
    ck_assert_int_eq(wal_rotate(w, &n2), 0);
    append_range(w, 6, 10, NULL);
    ck_assert_int_eq(wal_rotate(w, &n3), 0);
    ck_assert_uint_eq(n2, 2);
    ck_assert_uint_eq(n3, 3);
    append_range(w, 11, 15, NULL);
    wal_stats st;
    wal_get_stats(w, &st);
    ck_assert_uint_eq(st.files, 3);

    ck_assert_int_eq(wal_release_before(w, n2), 0);
    char *f1 = wal_file(dir, 1), *f2 = wal_file(dir, 2), *f3 = wal_file(dir, 3);
    ck_assert_int_eq(tu_file_size(f1), -1);
    ck_assert_int_gt(tu_file_size(f2), HDR);
    ck_assert_int_gt(tu_file_size(f3), HDR);
    wal_get_stats(w, &st);
    ck_assert_uint_eq(st.files, 2);
    /* Releasing again, or below what is left, deletes nothing. */
    ck_assert_int_eq(wal_release_before(w, n2), 0);
    ck_assert_int_eq(wal_release_before(w, 0), 0);
    ck_assert_int_eq(count_log_files(dir), 2);
    /* The current file can never be released. */
    ck_assert_int_eq(wal_release_before(w, n3 + 1), FLOE_EINVAL);
    ck_assert_int_gt(tu_file_size(f3), HDR);
    ck_assert_int_eq(wal_close(w), 0);

    collector c = {0};
    replay_ok(dir, &o, &c, &st);
    check_range(&c, 6, 15);
    collector_free(&c);
    free(f1);
    free(f2);
    free(f3);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_oversize_record_is_refused)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    o.max_record_bytes = 1000;
    wal_t *w = open_ok(dir, &o, NULL);
    static uint8_t big[2000];
    wal_record rec = {.type = WAL_REC_PUT, .seq = 1, .key = (const uint8_t *)"big", .key_len = 3};
    rec.value = big;
    rec.value_len = 1000 - REC_HDR - WTIME - 3 + 1;
    uint64_t lsn = 777;
    ck_assert_int_eq(wal_append(w, &rec, &lsn), FLOE_ETOOBIG);
    ck_assert_uint_eq(lsn, 777);
    msg_contains(floe_last_error(), "above the limit of 1000");
    rec.value_len = 1000 - REC_HDR - WTIME - 3; /* exactly at the limit */
    ck_assert_int_eq(wal_append(w, &rec, &lsn), 0);
    ck_assert_int_eq(wal_sync(w, lsn), 0);
    append_range(w, 2, 4, NULL);
    ck_assert_int_eq(wal_close(w), 0);
    collector c = {0};
    replay_ok(dir, &o, &c, NULL);
    ck_assert_uint_eq(c.n, 4);
    ck_assert_uint_eq(c.recs[0].value_len, 1000 - REC_HDR - WTIME - 3);
    collector_free(&c);
    /* Replayed under a lower limit, the complete record is refused, not silently dropped. */
    o.max_record_bytes = 500;
    const char *msg = open_fails(dir, &o, FLOE_ECORRUPT);
    msg_contains(msg, "above max_record_bytes 500");
    msg_contains(msg, "record at byte 60 is 1000 bytes");
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_invalid_records_and_arguments_are_refused)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_NEVER);
    wal_t *w = open_ok(dir, &o, NULL);
    static uint8_t key[FLOE_MAX_KEY_BYTES + 1];
    memset(key, 'k', sizeof key);
    uint64_t lsn = 0;
    wal_record r = {.type = WAL_REC_PUT, .seq = 1, .key = key, .key_len = 0};
    ck_assert_int_eq(wal_append(w, &r, &lsn), FLOE_EKEY);
    r.key_len = FLOE_MAX_KEY_BYTES + 1;
    ck_assert_int_eq(wal_append(w, &r, &lsn), FLOE_EKEY);
    r.key_len = FLOE_MAX_KEY_BYTES; /* the longest key is fine */
    ck_assert_int_eq(wal_append(w, &r, &lsn), 0);
    r.seq++;
    static char ct[FLOE_MAX_CONTENT_TYPE_BYTES + 1];
    memset(ct, 'c', sizeof ct);
    r.content_type = ct;
    r.content_type_len = FLOE_MAX_CONTENT_TYPE_BYTES + 1;
    ck_assert_int_eq(wal_append(w, &r, &lsn), FLOE_EINVAL);
    r.content_type_len = FLOE_MAX_CONTENT_TYPE_BYTES;
    ck_assert_int_eq(wal_append(w, &r, &lsn), 0);
    r.seq++;
    r.content_type = NULL;
    ck_assert_int_eq(wal_append(w, &r, &lsn), FLOE_EINVAL);
    r.content_type_len = 0;
    r.type = 9;
    ck_assert_int_eq(wal_append(w, &r, &lsn), FLOE_EINVAL);
    r.type = WAL_REC_DELETE;
    r.value = key;
    r.value_len = 3;
    ck_assert_int_eq(wal_append(w, &r, &lsn), FLOE_EINVAL);
    r.value = NULL;
    r.type = WAL_REC_PUT;
    ck_assert_int_eq(wal_append(w, &r, &lsn), FLOE_EINVAL);
    /* Syncing beyond what was appended is a caller bug, not a hang. */
    uint64_t appended = lsn;
    ck_assert_int_eq(wal_sync(w, appended + 1), FLOE_EINVAL);
    ck_assert_int_eq(wal_sync(w, appended), 0);
    ck_assert_int_eq(wal_close(w), 0);

    collector c = {0};
    replay_ok(dir, &o, &c, NULL);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_uint_eq(c.recs[0].key_len, FLOE_MAX_KEY_BYTES);
    ck_assert_uint_eq(c.recs[1].ct_len, FLOE_MAX_CONTENT_TYPE_BYTES);
    collector_free(&c);

    /* Options. */
    wal_t *sentinel = (wal_t *)(uintptr_t)0x99, *out = sentinel;
    wal_options bad = o;
    bad.sync = (floe_sync_mode)7;
    ck_assert_int_eq(wal_open(dir, &bad, NULL, NULL, &out), FLOE_EINVAL);
    bad = opts_for(FLOE_SYNC_INTERVAL);
    bad.interval_ms = 0;
    ck_assert_int_eq(wal_open(dir, &bad, NULL, NULL, &out), FLOE_EINVAL);
    msg_contains(floe_last_error(), "interval_ms");
    bad = o;
    bad.max_record_bytes = 10;
    ck_assert_int_eq(wal_open(dir, &bad, NULL, NULL, &out), FLOE_EINVAL);
    bad = o;
    bad.file_bytes = 0;
    ck_assert_int_eq(wal_open(dir, &bad, NULL, NULL, &out), FLOE_EINVAL);
    ck_assert_ptr_eq(out, sentinel);
    /* A directory that cannot be created names itself. */
    ck_assert_int_eq(wal_open("/proc/floe-no-such/wal", &o, NULL, NULL, &out), FLOE_EIO);
    msg_contains(floe_last_error(), "/proc/floe-no-such/wal");
    ck_assert_ptr_eq(out, sentinel);
    ck_assert_int_eq(wal_close(NULL), 0);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_replay_callback_error_stops_open)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_NEVER);
    wal_t *w = open_ok(dir, &o, NULL);
    append_range(w, 1, 10, NULL);
    ck_assert_int_eq(wal_close(w), 0);
    collector c = {.fail_at = 4, .fail_code = FLOE_ENOMEM};
    wal_t *sentinel = (wal_t *)(uintptr_t)0x77, *out = sentinel;
    ck_assert_int_eq(wal_open(dir, &o, collect, &c, &out), FLOE_ENOMEM);
    ck_assert_ptr_eq(out, sentinel);
    ck_assert_uint_eq(c.n, 3);
    collector_free(&c);
    /* Nothing was created or truncated by the failed open. */
    ck_assert_int_eq(count_log_files(dir), 1);
    replay_ok(dir, &o, &c, NULL);
    check_range(&c, 1, 10);
    collector_free(&c);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* ---- threads ---- */

typedef struct mt_ctx {
    wal_t *w;
    pthread_mutex_t mu; /* the store's write mutex: serialises append and rotate, assigns seqs */
    uint64_t next_seq;
    int per_thread;
    int rotate_every; /* 0: never call wal_rotate */
    int failures;     /* guarded by mu */
    int stop_stats;   /* guarded by mu */
} mt_ctx;

static void *mt_writer(void *arg)
{
    mt_ctx *m = arg;
    rec_buf *b = malloc(sizeof *b);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < m->per_thread; i++) {
        uint64_t lsn = 0, no;
        int r, rr = 0;
        pthread_mutex_lock(&m->mu);
        uint64_t seq = ++m->next_seq;
        r = wal_append(m->w, make_rec(b, seq), &lsn);
        if (m->rotate_every && seq % (uint64_t)m->rotate_every == 0)
            rr = wal_rotate(m->w, &no);
        pthread_mutex_unlock(&m->mu);
        if (r == 0)
            r = wal_sync(m->w, lsn);
        if (r || rr) {
            pthread_mutex_lock(&m->mu);
            m->failures++;
            pthread_mutex_unlock(&m->mu);
        }
    }
    free(b);
    return NULL;
}

static void *mt_stats_reader(void *arg)
{
    mt_ctx *m = arg;
    uint64_t last_syncs = 0;
    for (;;) {
        pthread_mutex_lock(&m->mu);
        int stop = m->stop_stats;
        pthread_mutex_unlock(&m->mu);
        if (stop)
            break;
        wal_stats st;
        wal_get_stats(m->w, &st);
        ck_assert_uint_ge(st.syncs, last_syncs);
        last_syncs = st.syncs;
        usleep(200);
    }
    return NULL;
}

/* Runs threads writers concurrently (plus a stats reader) and returns the final stats. */
static void run_writers(mt_ctx *m, int threads, wal_stats *st)
{
    pthread_t tids[16], reader;
    ck_assert_int_le(threads, 16);
    pthread_mutex_init(&m->mu, NULL);
    ck_assert_int_eq(pthread_create(&reader, NULL, mt_stats_reader, m), 0);
    for (int t = 0; t < threads; t++)
        ck_assert_int_eq(pthread_create(&tids[t], NULL, mt_writer, m), 0);
    for (int t = 0; t < threads; t++)
        pthread_join(tids[t], NULL);
    pthread_mutex_lock(&m->mu);
    m->stop_stats = 1;
    pthread_mutex_unlock(&m->mu);
    pthread_join(reader, NULL);
    pthread_mutex_destroy(&m->mu);
    ck_assert_int_eq(m->failures, 0);
    wal_get_stats(m->w, st);
}

START_TEST(wal_group_commit_shares_fdatasyncs_across_threads)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    mt_ctx m = {.per_thread = 200};
    m.w = open_ok(dir, &o, NULL);
    wal_stats before, st;
    wal_get_stats(m.w, &before);
    int calls_before = atomic_load(&fdatasync_calls);
    atomic_store(&fdatasync_delay_us, 1000); /* a disk that takes 1 ms per fdatasync */
    run_writers(&m, 8, &st);
    atomic_store(&fdatasync_delay_us, 0);
    uint64_t appends = 8 * 200;
    uint64_t syncs = st.syncs - before.syncs;
    ck_assert_uint_eq(syncs, (uint64_t)(atomic_load(&fdatasync_calls) - calls_before));
    fprintf(stderr, "group commit: %llu appends acknowledged by %llu fdatasyncs\n",
            (unsigned long long)appends, (unsigned long long)syncs);
    ck_assert_uint_ge(syncs, 1);
    ck_assert_uint_le(syncs, appends / 2);
    /* Every record is counted once, by the fdatasync that acknowledged it, and every fdatasync
     * since the open (no rotation) acknowledged some. */
    ck_assert_uint_eq(st.synced_writes - before.synced_writes, appends);
    ck_assert_uint_eq(tu_wal_batches(st.batch_hist) - tu_wal_batches(before.batch_hist), syncs);
    tu_assert_wal_hist_fits(st.batch_hist, st.synced_writes);
    ck_assert_int_eq(wal_close(m.w), 0);
    collector c = {0};
    replay_ok(dir, &o, &c, NULL);
    check_range(&c, 1, appends);
    collector_free(&c);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_concurrent_appends_syncs_and_rotations_stay_in_order)
{
    floe_sync_mode modes[] = {FLOE_SYNC_ALWAYS, FLOE_SYNC_INTERVAL, FLOE_SYNC_NEVER};
    for (size_t i = 0; i < 3; i++) {
        char *dir = tu_tmpdir("wal");
        wal_options o = opts_for(modes[i]);
        o.interval_ms = 1;
        o.file_bytes = 16 * 1024; /* rotations by size while threads wait on syncs */
        mt_ctx m = {.per_thread = 150, .rotate_every = 97};
        m.w = open_ok(dir, &o, NULL);
        wal_stats st;
        run_writers(&m, 4, &st);
        ck_assert_uint_gt(st.files, 4);
        ck_assert_int_eq(wal_close(m.w), 0);
        collector c = {0};
        replay_ok(dir, &o, &c, NULL);
        check_range(&c, 1, 600);
        collector_free(&c);
        tu_rmrf(dir);
        free(dir);
    }
}
END_TEST

/* ---- sync modes ---- */

static uint64_t wait_for_syncs(wal_t *w, uint64_t at_least)
{
    wal_stats st;
    for (int i = 0; i < 2000; i++) {
        wal_get_stats(w, &st);
        if (st.syncs >= at_least)
            break;
        usleep(1000);
    }
    return st.syncs;
}

START_TEST(wal_each_sync_mode_round_trips)
{
    floe_sync_mode modes[] = {FLOE_SYNC_ALWAYS, FLOE_SYNC_INTERVAL, FLOE_SYNC_NEVER};
    for (size_t i = 0; i < 3; i++) {
        char *dir = tu_tmpdir("wal");
        wal_options o = opts_for(modes[i]);
        wal_t *w = open_ok(dir, &o, NULL);
        wal_stats st0, st;
        wal_get_stats(w, &st0);
        append_range(w, 1, 100, NULL);
        wal_get_stats(w, &st);
        if (modes[i] == FLOE_SYNC_ALWAYS) {
            /* One for the new file's header, then at least one per wal_sync round. */
            ck_assert_uint_eq(st0.syncs, 1);
            ck_assert_uint_ge(st.syncs, 2);
        } else if (modes[i] == FLOE_SYNC_INTERVAL) {
            ck_assert_uint_eq(st0.syncs, 1);
            ck_assert_uint_ge(wait_for_syncs(w, 2), 2);
        } else {
            /* Only the new file's header: records are left to the OS. */
            ck_assert_uint_eq(st.syncs, 1);
            ck_assert_int_eq(atomic_load(&fdatasync_calls), 1);
        }
        /* Every mode has handed everything to the OS once wal_sync returned. */
        char *f = wal_file(dir, 1);
        assert_file_holds(f, (long long)st.bytes_written, &o);
        free(f);
        ck_assert_int_eq(wal_close(w), 0);
        collector c = {0};
        replay_ok(dir, &o, &c, &st);
        check_range(&c, 1, 100);
        if (modes[i] == FLOE_SYNC_NEVER) {
            /* The fsync that makes file 1 durable before file 2 exists (invariant 6), and file 2's
             * header. */
            ck_assert_uint_eq(st.syncs, 2);
            ck_assert_int_eq(atomic_load(&fdatasync_calls), 2);
        }
        atomic_store(&fdatasync_calls, 0);
        collector_free(&c);
        tu_rmrf(dir);
        free(dir);
    }
}
END_TEST

/* stats.batch_hist[i] minus before's: the group commits of bucket i since before. */
static uint64_t hist_since(const wal_stats *st, const wal_stats *before, int i)
{
    return st->batch_hist[i] - before->batch_hist[i];
}

START_TEST(wal_always_counts_each_fdatasync_by_the_records_it_made_durable)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = open_ok(dir, &o, NULL);
    wal_stats st0, st1, st2, st3, st4;
    wal_get_stats(w, &st0);
    /* The new file's header sync acknowledged nothing. */
    ck_assert_uint_eq(st0.synced_writes, 0);
    ck_assert_uint_eq(tu_wal_batches(st0.batch_hist), 0);

    /* One record per wal_sync: ten fdatasyncs of one record each, all in bucket 0. */
    append_range(w, 1, 10, NULL);
    wal_get_stats(w, &st1);
    ck_assert_uint_eq(st1.syncs - st0.syncs, 10);
    ck_assert_uint_eq(st1.synced_writes, 10);
    ck_assert_uint_eq(st1.batch_hist[0], 10);
    ck_assert_uint_eq(tu_wal_batches(st1.batch_hist), 10);

    /* Five appended before one wal_sync: one fdatasync makes all five durable (bucket 2: 4-7). */
    rec_buf b;
    uint64_t lsn = 0;
    for (uint64_t s = 11; s <= 15; s++)
        ck_assert_int_eq(wal_append(w, make_rec(&b, s), &lsn), 0);
    ck_assert_int_eq(wal_sync(w, lsn), 0);
    wal_get_stats(w, &st2);
    ck_assert_uint_eq(st2.syncs - st1.syncs, 1);
    ck_assert_uint_eq(st2.synced_writes - st1.synced_writes, 5);
    ck_assert_uint_eq(hist_since(&st2, &st1, 2), 1);
    ck_assert_uint_eq(tu_wal_batches(st2.batch_hist) - tu_wal_batches(st1.batch_hist), 1);

    /* A rotation syncs the three waiting records once (bucket 1: 2-3); its other syncs (the old
     * file again, the new file's header) carry nothing and are in syncs only. */
    for (uint64_t s = 16; s <= 18; s++)
        ck_assert_int_eq(wal_append(w, make_rec(&b, s), &lsn), 0);
    uint64_t no = 0;
    ck_assert_int_eq(wal_rotate(w, &no), 0);
    wal_get_stats(w, &st3);
    ck_assert_uint_gt(st3.syncs - st2.syncs, 1);
    ck_assert_uint_eq(st3.synced_writes - st2.synced_writes, 3);
    ck_assert_uint_eq(hist_since(&st3, &st2, 1), 1);
    ck_assert_uint_eq(tu_wal_batches(st3.batch_hist) - tu_wal_batches(st2.batch_hist), 1);

    /* A rotation with nothing waiting syncs but acknowledges nothing. */
    ck_assert_int_eq(wal_rotate(w, &no), 0);
    wal_get_stats(w, &st4);
    ck_assert_uint_gt(st4.syncs, st3.syncs);
    ck_assert_uint_eq(st4.synced_writes, st3.synced_writes);
    ck_assert_uint_eq(tu_wal_batches(st4.batch_hist), tu_wal_batches(st3.batch_hist));
    ck_assert_uint_eq(st4.synced_writes, 18);
    tu_assert_wal_hist_fits(st4.batch_hist, st4.synced_writes);
    ck_assert_int_eq(wal_close(w), 0);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_always_counts_records_written_before_their_fdatasync_once)
{
    /* Records over the 8 MiB batch limit are written by the next wal_append without a sync: the fdatasync
     * that later covers them counts them, with the record it was started for, as one group commit.
     * With a file size below the batch, the fdatasync is the rotation's, right after that write. */
    for (int rotate = 0; rotate < 2; rotate++) {
        char *dir = tu_tmpdir("wal");
        wal_options o = opts_for(FLOE_SYNC_ALWAYS);
        if (rotate)
            o.file_bytes = 4u << 20;
        wal_t *w = open_ok(dir, &o, NULL);
        size_t value_bytes = 3u << 20;
        uint8_t *value = malloc(value_bytes);
        ck_assert_ptr_nonnull(value);
        memset(value, 0xcd, value_bytes);
        wal_record r = {.type = WAL_REC_PUT, .key = (const uint8_t *)"big", .key_len = 3, .value = value};
        r.value_len = (uint32_t)value_bytes;
        uint64_t lsn = 0, s = 1;
        for (; lsn < (8u << 20); s++) {
            r.seq = s;
            ck_assert_int_eq(wal_append(w, &r, &lsn), 0);
        }
        uint64_t written = s - 1, full = lsn;
        wal_stats st;
        wal_get_stats(w, &st);
        ck_assert_uint_eq(st.bytes_written, HDR); /* left for the next append or sync (invariant 4) */
        r.seq = s;
        r.value_len = 10;
        ck_assert_int_eq(wal_append(w, &r, &lsn), 0);
        wal_get_stats(w, &st);
        ck_assert_uint_eq(st.bytes_written, HDR + full + (rotate ? HDR : 0));
        ck_assert_uint_eq(st.synced_writes, rotate ? written : 0);
        ck_assert_uint_eq(tu_wal_batches(st.batch_hist), rotate ? 1 : 0);
        ck_assert_int_eq(wal_sync(w, lsn), 0);
        wal_get_stats(w, &st);
        ck_assert_uint_eq(st.synced_writes, written + 1);
        tu_assert_wal_hist_fits(st.batch_hist, st.synced_writes);
        if (rotate) {
            ck_assert_uint_eq(st.batch_hist[1], 1); /* the three big records */
            ck_assert_uint_eq(st.batch_hist[0], 1); /* the small one after them */
        } else {
            ck_assert_uint_eq(st.batch_hist[2], 1); /* all four in one fdatasync */
        }
        ck_assert_int_eq(wal_close(w), 0);
        free(value);
        tu_rmrf(dir);
        free(dir);
    }
}
END_TEST

START_TEST(wal_interval_and_never_count_each_write_of_a_batch)
{
    floe_sync_mode modes[] = {FLOE_SYNC_INTERVAL, FLOE_SYNC_NEVER};
    for (size_t i = 0; i < 2; i++) {
        char *dir = tu_tmpdir("wal");
        wal_options o = opts_for(modes[i]);
        o.interval_ms = 1;
        wal_t *w = open_ok(dir, &o, NULL);
        wal_stats st0, st;
        wal_get_stats(w, &st0);
        ck_assert_uint_eq(tu_wal_batches(st0.batch_hist), 0);
        append_range(w, 1, 6, NULL); /* one write() per wal_sync */
        rec_buf b;
        uint64_t lsn = 0;
        for (uint64_t s = 7; s <= 9; s++)
            ck_assert_int_eq(wal_append(w, make_rec(&b, s), &lsn), 0);
        ck_assert_int_eq(wal_sync(w, lsn), 0);
        /* INTERVAL: wait for the interval thread's fdatasyncs, which acknowledge nothing more. */
        if (modes[i] == FLOE_SYNC_INTERVAL)
            ck_assert_uint_ge(wait_for_syncs(w, st0.syncs + 1), st0.syncs + 1);
        wal_get_stats(w, &st);
        ck_assert_uint_eq(st.synced_writes, 9);
        tu_assert_wal_hist_fits(st.batch_hist, st.synced_writes);
        if (modes[i] == FLOE_SYNC_NEVER) {
            ck_assert_uint_eq(st.batch_hist[0], 6);
            ck_assert_uint_eq(st.batch_hist[1], 1); /* the three appended before one wal_sync */
            ck_assert_uint_eq(tu_wal_batches(st.batch_hist), 7);
        } else {
            /* The interval thread writes what is buffered at each tick too, so it may have
             * written some of the three on its own: a batch of 3, or of 1 and 2, or three of 1. */
            ck_assert_uint_ge(st.batch_hist[0], 6);
            ck_assert_uint_ge(tu_wal_batches(st.batch_hist), 7);
            ck_assert_uint_le(tu_wal_batches(st.batch_hist), 9);
        }
        /* A rotation's fdatasyncs count in syncs only. */
        uint64_t no = 0;
        ck_assert_int_eq(wal_rotate(w, &no), 0);
        wal_stats st2;
        wal_get_stats(w, &st2);
        ck_assert_uint_gt(st2.syncs, st.syncs);
        ck_assert_uint_eq(st2.synced_writes, 9);
        ck_assert_uint_eq(tu_wal_batches(st2.batch_hist), tu_wal_batches(st.batch_hist));
        ck_assert_int_eq(wal_close(w), 0);
        tu_rmrf(dir);
        free(dir);
    }
}
END_TEST

START_TEST(wal_interval_thread_writes_and_syncs_without_wal_sync)
{
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_INTERVAL);
    wal_t *w = open_ok(dir, &o, NULL);
    rec_buf b;
    uint64_t lsn = 0;
    for (uint64_t s = 1; s <= 10; s++)
        ck_assert_int_eq(wal_append(w, make_rec(&b, s), &lsn), 0);
    char *f = wal_file(dir, 1);
    ck_assert_uint_ge(wait_for_syncs(w, 2), 2);
    wal_stats ws;
    for (int i = 0; i < 2000; i++) {
        wal_get_stats(w, &ws);
        if (ws.bytes_written >= HDR + lsn)
            break;
        usleep(1000);
    }
    assert_file_holds(f, HDR + (long long)lsn, &o);
    free(f);
    ck_assert_int_eq(wal_close(w), 0);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_large_batches_are_written_from_append)
{
    char *dir = tu_tmpdir("wal");
    for (int mode = 0; mode < 2; mode++) {
        wal_options o = opts_for(mode == 0 ? FLOE_SYNC_NEVER : FLOE_SYNC_ALWAYS);
        tu_rmrf(dir);
        ck_assert_int_eq(mkdir(dir, 0755), 0);
        wal_t *w = open_ok(dir, &o, NULL);
        size_t value_bytes = mode == 0 ? 64 * 1024 : 3 * 1024 * 1024;
        uint8_t *value = malloc(value_bytes);
        ck_assert_ptr_nonnull(value);
        memset(value, 0xab, value_bytes);
        wal_record r = {.type = WAL_REC_PUT, .key = (const uint8_t *)"big", .key_len = 3, .value = value};
        r.value_len = (uint32_t)value_bytes;
        uint64_t lsn = 0;
        size_t limit = mode == 0 ? (1u << 20) : (8u << 20);
        /* Append without wal_sync until the batch passes its limit: the record that takes it past
         * stays in memory (for the caller's wal_sync, outside its locks), and the next wal_append
         * writes it all out before it adds its own (invariant 4). */
        uint64_t s = 1;
        for (; lsn < limit; s++) {
            r.seq = s;
            ck_assert_int_eq(wal_append(w, &r, &lsn), 0);
        }
        wal_stats st;
        wal_get_stats(w, &st);
        ck_assert_uint_eq(st.bytes_written, HDR);
        uint64_t full = lsn;
        r.seq = s;
        ck_assert_int_eq(wal_append(w, &r, &lsn), 0);
        wal_get_stats(w, &st);
        ck_assert_uint_eq(st.bytes_written, HDR + full);
        ck_assert_uint_eq(st.syncs, 1); /* the file header's: wal_append itself never syncs */
        ck_assert_int_eq(wal_close(w), 0);
        free(value);
        collector c = {0};
        replay_ok(dir, &o, &c, NULL);
        ck_assert_uint_ge(c.n, 3);
        ck_assert_uint_eq(c.recs[c.n - 1].value_len, value_bytes);
        collector_free(&c);
    }
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* ---- failures ---- */

/* In a child process with a small file size limit: appends until the OS refuses the write, then
 * checks that everything afterwards is FLOE_EREADONLY. Writes the number of records acknowledged
 * by wal_sync to ack_fd. Exit status: 0 if every check held, else the number of the failed check. */
static int write_failure_child(const char *dir, int ack_fd)
{
    struct rlimit rl = {.rlim_cur = 16 * 1024, .rlim_max = 16 * 1024};
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 1;
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    wal_t *w = NULL;
    if (wal_open(dir, &o, NULL, NULL, &w) != 0)
        return 2;
    rec_buf b;
    uint64_t acked = 0, lsn;
    int r = 0;
    for (uint64_t s = 1; s < 1000; s++) {
        r = wal_append(w, make_rec(&b, s), &lsn);
        if (r == 0)
            r = wal_sync(w, lsn);
        if (r)
            break;
        acked = s;
    }
    if (write(ack_fd, &acked, sizeof acked) != sizeof acked)
        return 3;
    if (r != FLOE_EREADONLY)
        return 4;
    if (!strstr(floe_last_error(), "File too large") ||
        !strstr(floe_last_error(), "00000000000000000001.log"))
        return 5;
    if (wal_append(w, make_rec(&b, 5000), &lsn) != FLOE_EREADONLY)
        return 6;
    if (!strstr(floe_last_error(), "read-only"))
        return 7;
    if (wal_sync(w, 0) != FLOE_EREADONLY)
        return 8;
    uint64_t no;
    if (wal_rotate(w, &no) != FLOE_EREADONLY)
        return 9;
    if (wal_close(w) != FLOE_EREADONLY)
        return 10;
    return 0;
}

/* Walks the records of the WAL file at path (a version 5 file) and counts its pad records,
 * asserting that each one ends on a 4 KiB boundary of the file and that the records tile the file
 * up to its reserved zeros. */
static int count_pads(const char *path)
{
    size_t len = 0;
    uint8_t *data = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_ge(len, HDR);
    ck_assert_uint_eq(data[8], 5);
    size_t off = HDR;
    int pads = 0;
    while (off + REC_HDR <= len) {
        uint32_t rlen = (uint32_t)data[off + 4] | (uint32_t)data[off + 5] << 8 | (uint32_t)data[off + 6] << 16 |
                        (uint32_t)data[off + 7] << 24;
        if (rlen == 0)
            break; /* the reserved zeros after the last record */
        ck_assert_uint_ge(rlen, REC_HDR + 1);
        ck_assert_uint_le(off + rlen, len);
        if (data[off + 8] == 6) {
            pads++;
            ck_assert_msg((off + rlen) % 4096 == 0, "%s: the pad at %zu ends at %zu, off a 4 KiB boundary", path,
                          off, off + rlen);
            ck_assert_uint_eq(data[off + 9], 0);
            ck_assert_uint_eq(data[off + 10] | data[off + 11] << 8, 0);
        }
        off += rlen;
    }
    for (; off < len; off++)
        ck_assert_msg(data[off] == 0, "%s: byte %zu after the last record is not zero", path, off);
    free(data);
    return pads;
}

START_TEST(wal_large_batches_are_written_around_the_page_cache_after_a_pad)
{
    /* Every mode; batches of at least 1 KiB go direct: with ALWAYS, the group commits of 20
     * records (their mark already in the file after each fdatasync); with NEVER, wal_append's own
     * 1 MiB writes. Each such batch gets a pad that brings its records to a 4 KiB boundary, replay
     * skips the pads and hands back every record, and LSNs do not count them. */
    floe_sync_mode modes[] = {FLOE_SYNC_ALWAYS, FLOE_SYNC_NEVER};
    for (size_t i = 0; i < 2; i++) {
        char *dir = tu_tmpdir("wal");
        wal_options o = opts_for(modes[i]);
        o.direct_batch_bytes = 1024;
        wal_t *w = open_ok(dir, &o, NULL);
        rec_buf b;
        uint64_t lsn = 0, prev = 0, record_bytes = 0;
        for (uint64_t s = 1; s <= 4000; s++) {
            const wal_record *r = make_rec(&b, s);
            ck_assert_int_eq(wal_append(w, r, &lsn), 0);
            record_bytes += lsn - prev;
            prev = lsn;
            if (modes[i] == FLOE_SYNC_ALWAYS && s % 20 == 0)
                ck_assert_int_eq(wal_sync(w, lsn), 0);
        }
        ck_assert_int_eq(wal_sync(w, lsn), 0);
        ck_assert_int_eq(wal_close(w), 0);
        char *f = wal_file(dir, 1);
        int pads = count_pads(f);
        ck_assert_msg(modes[i] == FLOE_SYNC_ALWAYS ? pads >= 150 : pads >= 1, "%d pads", pads);
        /* The file holds the header, the records (marks included: LSNs count them) and the pads. */
        ck_assert_int_gt(tu_file_size(f), (long long)(HDR + record_bytes));
        free(f);
        collector c = {0};
        replay_ok(dir, &o, &c, NULL);
        check_range(&c, 1, 4000);
        collector_free(&c);
        /* Off (0): no pads. */
        tu_rmrf(dir);
        o.direct_batch_bytes = 0;
        w = open_ok(dir, &o, NULL);
        append_range(w, 1, 200, NULL);
        ck_assert_int_eq(wal_close(w), 0);
        f = wal_file(dir, 1);
        ck_assert_int_eq(count_pads(f), 0);
        free(f);
        tu_rmrf(dir);
        free(dir);
    }
}
END_TEST

START_TEST(wal_pad_record_in_a_version_4_file_is_damage)
{
    /* A version 4 writer never wrote pads: in such a file a type 6 record is not skipped but
     * refused (in a file but the last) like any unknown type. */
    char *dir = tu_tmpdir("wal");
    wal_options o = opts_for(FLOE_SYNC_NEVER);
    uint8_t buf[HDR + 64];
    size_t n = doc_file_header_version(buf, 1, 4);
    memset(buf + n, 0, 40);
    buf[n + 4] = 40;
    buf[n + 8] = 6;
    buf[n + 12] = 40 - REC_HDR;
    uint32_t crc = crc32c(buf + n + 4, 40 - 4);
    for (int i = 0; i < 4; i++)
        buf[n + i] = (uint8_t)(crc >> (8 * i));
    char *f1 = wal_file(dir, 1), *f2 = wal_file(dir, 2);
    tu_write_file(f1, buf, n + 40);
    n = doc_file_header_version(buf, 2, 4);
    tu_write_file(f2, buf, n);
    msg_contains(open_fails(dir, &o, FLOE_ECORRUPT), "bad pad record");
    /* The same bytes in a version 5 file are a pad: skipped. */
    n = doc_file_header_version(buf, 1, 5);
    uint8_t *data = tu_read_file(f1, &(size_t){0});
    memcpy(data, buf, n);
    tu_write_file(f1, data, n + 40);
    free(data);
    collector c = {0};
    replay_ok(dir, &o, &c, NULL);
    ck_assert_uint_eq(c.n, 0);
    collector_free(&c);
    free(f1);
    free(f2);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(wal_write_failure_makes_the_wal_read_only_for_good)
{
    char *dir = tu_tmpdir("wal");
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        _exit(write_failure_child(dir, p[1]));
    }
    close(p[1]);
    uint64_t acked = 0;
    ck_assert_int_eq(read(p[0], &acked, sizeof acked), sizeof acked);
    close(p[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed check %d",
                  WEXITSTATUS(status));
    ck_assert_uint_gt(acked, 10);
    /* Every acknowledged record is there; the partial batch that hit the limit is a torn tail. */
    wal_options o = opts_for(FLOE_SYNC_ALWAYS);
    collector c = {0};
    wal_stats st;
    replay_ok(dir, &o, &c, &st);
    ck_assert_uint_ge(c.n, acked);
    check_range(&c, 1, c.n);
    ck_assert_uint_gt(st.tail_bytes_truncated, 0);
    collector_free(&c);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

typedef struct kill_ctx {
    wal_t *w;
    pthread_mutex_t mu;
    uint64_t next_seq;
    int ack_fd;
} kill_ctx;

static void *kill_writer(void *arg)
{
    kill_ctx *k = arg;
    rec_buf b;
    for (;;) {
        uint64_t lsn;
        pthread_mutex_lock(&k->mu);
        uint64_t seq = ++k->next_seq;
        int r = wal_append(k->w, make_rec(&b, seq), &lsn);
        pthread_mutex_unlock(&k->mu);
        if (r || wal_sync(k->w, lsn))
            _exit(3);
        /* Acknowledged: tell the parent (8-byte pipe writes are atomic). */
        if (write(k->ack_fd, &seq, sizeof seq) != sizeof seq)
            _exit(4);
    }
    return NULL;
}

START_TEST(wal_kill_9_loses_no_acknowledged_record)
{
    floe_sync_mode modes[] = {FLOE_SYNC_ALWAYS, FLOE_SYNC_NEVER};
    for (size_t i = 0; i < 2; i++) {
        char *dir = tu_tmpdir("wal");
        wal_options o = opts_for(modes[i]);
        o.file_bytes = 32 * 1024; /* kill it across rotations too */
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(p[0]);
            kill_ctx k = {.ack_fd = p[1]};
            pthread_mutex_init(&k.mu, NULL);
            if (wal_open(dir, &o, NULL, NULL, &k.w) != 0)
                _exit(2);
            pthread_t t[4];
            for (int j = 0; j < 4; j++)
                pthread_create(&t[j], NULL, kill_writer, &k);
            for (;;)
                pause();
        }
        close(p[1]);
        uint64_t max_acked = 0, seq;
        int acks = 0;
        while (acks < 3000 && read(p[0], &seq, sizeof seq) == sizeof seq) {
            max_acked = seq > max_acked ? seq : max_acked;
            acks++;
        }
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        while (read(p[0], &seq, sizeof seq) == sizeof seq)
            max_acked = seq > max_acked ? seq : max_acked;
        close(p[0]);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        ck_assert_int_eq(acks, 3000);

        collector c = {0};
        replay_ok(dir, &o, &c, NULL);
        ck_assert_uint_ge(c.n, max_acked);
        check_range(&c, 1, c.n);
        ck_assert_int_gt(count_log_files(dir), 3);
        collector_free(&c);
        tu_rmrf(dir);
        free(dir);
    }
}
END_TEST

START_TEST(wal_fdatasync_failure_is_sticky_and_never_retried)
{
    floe_sync_mode modes[] = {FLOE_SYNC_ALWAYS, FLOE_SYNC_INTERVAL};
    for (size_t i = 0; i < 2; i++) {
        char *dir = tu_tmpdir("wal");
        wal_options o = opts_for(modes[i]);
        wal_t *w = open_ok(dir, &o, NULL);
        append_range(w, 1, 5, NULL);
        atomic_store(&fdatasync_fail_errno, EIO);
        rec_buf b;
        uint64_t lsn;
        int r = wal_append(w, make_rec(&b, 6), &lsn);
        ck_assert_int_eq(r, 0);
        if (modes[i] == FLOE_SYNC_ALWAYS) {
            ck_assert_int_eq(wal_sync(w, lsn), FLOE_EREADONLY);
        } else {
            /* The interval thread hits the failure; wal_sync (write only) then reports it. */
            for (int k = 0; k < 2000 && (r = wal_sync(w, lsn)) == 0; k++)
                usleep(1000);
            ck_assert_int_eq(r, FLOE_EREADONLY);
        }
        msg_contains(floe_last_error(), "fdatasync");
        msg_contains(floe_last_error(), "Input/output error");
        msg_contains(floe_last_error(), "read-only");
        /* Even once the disk recovers nothing is retried: every call reports the first failure. */
        atomic_store(&fdatasync_fail_errno, 0);
        int calls = atomic_load(&fdatasync_calls);
        ck_assert_int_eq(wal_append(w, make_rec(&b, 7), &lsn), FLOE_EREADONLY);
        ck_assert_int_eq(wal_sync(w, 0), FLOE_EREADONLY);
        uint64_t no;
        ck_assert_int_eq(wal_rotate(w, &no), FLOE_EREADONLY);
        usleep(20 * 1000);
        ck_assert_int_eq(wal_close(w), FLOE_EREADONLY);
        msg_contains(floe_last_error(), "Input/output error");
        ck_assert_int_eq(atomic_load(&fdatasync_calls), calls);
        /* What reached the file replays; nothing acknowledged is missing. */
        collector c = {0};
        replay_ok(dir, &o, &c, NULL);
        ck_assert_uint_ge(c.n, 5);
        check_range(&c, 1, c.n);
        collector_free(&c);
        tu_rmrf(dir);
        free(dir);
    }
}
END_TEST

static Suite *wal_suite(void)
{
    Suite *s = suite_create("wal");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, wal_round_trip_keeps_puts_deletes_and_content_types);
    tcase_add_test(tc, wal_lsn_is_the_byte_position_after_the_record);
    tcase_add_loop_test(tc, wal_reads_records_built_from_the_documented_format, 0, 4);
    tcase_add_test(tc, wal_append_writes_the_documented_record_bytes);
    tcase_add_test(tc, wal_worked_example_in_formats_md_is_what_wal_writes);
    tcase_add_test(tc, wal_oversize_record_is_refused);
    tcase_add_test(tc, wal_invalid_records_and_arguments_are_refused);
    tcase_add_test(tc, wal_sequence_numbers_must_increase);
    tcase_add_test(tc, wal_replay_callback_error_stops_open);
    suite_add_tcase(s, tc);

    tc = tcase_create("recovery");
    tcase_add_test(tc, wal_torn_tail_is_truncated_at_every_cut);
    tcase_add_test(tc, wal_garbage_after_the_last_record_is_truncated);
    tcase_add_test(tc, wal_flipped_byte_in_the_last_record_is_a_torn_tail);
    tcase_add_test(tc, wal_damage_in_the_last_synced_record_is_refused);
    tcase_add_test(tc, wal_flipped_byte_in_a_non_last_file_is_refused_with_file_and_offset);
    tcase_add_test(tc, wal_flipped_byte_in_the_last_file_with_valid_records_after_is_refused);
    tcase_add_test(tc, wal_zeroed_pages_of_an_unsynced_batch_in_the_last_file_are_cut);
    tcase_add_test(tc, wal_zeroed_pages_in_a_non_last_file_are_refused_with_file_and_offset);
    tcase_add_test(tc, wal_damaged_record_holding_zeros_with_valid_records_after_is_refused);
    tcase_add_test(tc, wal_lost_page_inside_a_record_of_the_last_batch_is_cut);
    tcase_add_test(tc, wal_lost_page_of_an_early_unsynced_batch_is_cut_to_a_prefix);
    tcase_add_test(tc, wal_damaged_sync_mark_of_a_synced_batch_is_refused);
    tcase_add_test(tc, wal_version_2_last_file_keeps_the_sync_mark_rules);
    tcase_add_test(tc, wal_corrupted_length_field_mid_file_is_refused);
    tcase_add_test(tc, wal_search_after_damage_is_linear_in_the_file_size);
    tcase_add_test(tc, wal_bad_header_in_a_non_last_file_is_refused);
    tcase_add_test(tc, wal_short_or_header_only_last_file_is_fine);
    tcase_add_test(tc, wal_reserved_space_is_cut_at_rotation_and_is_a_clean_end_after_a_crash);
    tcase_add_test(tc, wal_missing_middle_file_is_refused);
    tcase_add_test(tc, wal_repair_cuts_at_the_first_damage_and_moves_later_files_whole);
    tcase_add_test(tc, wal_repair_moves_files_after_a_missing_one_and_leaves_a_newer_format_alone);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_test(tc, wal_rotates_by_size_at_batch_boundaries);
    tcase_add_test(tc, wal_rotate_and_release_before_delete_only_older_files);
    suite_add_tcase(s, tc);

    tc = tcase_create("sync");
    tcase_add_test(tc, wal_each_sync_mode_round_trips);
    tcase_add_test(tc, wal_interval_thread_writes_and_syncs_without_wal_sync);
    tcase_add_test(tc, wal_always_counts_each_fdatasync_by_the_records_it_made_durable);
    tcase_add_test(tc, wal_always_counts_records_written_before_their_fdatasync_once);
    tcase_add_test(tc, wal_interval_and_never_count_each_write_of_a_batch);
    tcase_add_test(tc, wal_large_batches_are_written_from_append);
    tcase_add_test(tc, wal_large_batches_are_written_around_the_page_cache_after_a_pad);
    tcase_add_test(tc, wal_pad_record_in_a_version_4_file_is_damage);
    tcase_add_test(tc, wal_write_failure_makes_the_wal_read_only_for_good);
    tcase_add_test(tc, wal_fdatasync_failure_is_sticky_and_never_retried);
    tcase_add_test(tc, wal_kill_9_loses_no_acknowledged_record);
    suite_add_tcase(s, tc);

    tc = tcase_create("concurrency");
    tcase_add_test(tc, wal_group_commit_shares_fdatasyncs_across_threads);
    tcase_add_test(tc, wal_concurrent_appends_syncs_and_rotations_stay_in_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(wal_suite());
}
