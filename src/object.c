/* Objects of any size (docs/architecture.md, "Large objects"): floe_writer_* stores one as a single
 * object record or as chunks under reserved keys plus a head record; floe_reader_* and
 * object_read_chunks read them back; object_sweep deletes the chunks nothing refers to.
 *
 * Invariants:
 *  1. A head is written only after every chunk it names was written, each write returning once
 *     durable per wal.sync and visible (visible_seq passes sequence numbers in order), so a reader
 *     that sees a head can read every chunk it names. Nothing of an object is reachable from a
 *     user key before its head.
 *  2. References. Before its first chunk a writer registers its object id as active (obj_mu) and
 *     writes the object's reference key, state "pending"; floe_writer_commit rewrites it as
 *     "committed" and then writes the head. So a pending reference names an object that was never
 *     visible. The sweep, for each reference whose object is not active and whose user key's head
 *     does not name it: pending, deletes the chunks (one prefix delete) and the reference at once;
 *     committed (the object was visible, was replaced or deleted since, and a floe_reader may still
 *     read it), stamps the reference with the time it first saw it dead, and deletes once gc.grace_s
 *     has passed since. The sweep of floe_open, which runs before the store serves its first read,
 *     deletes committed ones at once too: readers die with the process that served them, so no
 *     reader can hold a version that was already gone when the store opened. A reference the sweep
 *     cannot check (a read error) is left alone: nothing is deleted that is not proven unreferenced.
 *  3. A reader pins one version: a chunked object by its object id (its chunks do not change), a
 *     value of at most one chunk by copying it at open, a larger plain value (floe_put, up to 1 GiB)
 *     by its sequence number, each range read checked against it.
 *  4. Chunk i of an object of size S holds bytes [i * chunk_bytes, min(S, (i + 1) * chunk_bytes)):
 *     a chunk of another length is corruption, reported as such.
 *  5. An object's keys are one contiguous range (its reference, then its chunks in order), and a
 *     writer seals the pending segment before its first chunk and before its head: so the segments
 *     that hold a lone large PUT's chunks hold nothing else and do not overlap each other or any
 *     other object's, compaction moves them down the levels without rewriting them, and a read's
 *     key-range pruning skips them for every other key.
 */
#include "object.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "clock.h"
#include "coding.h"
#include "store.h"

#define REF_PENDING 0
#define REF_COMMITTED 1
#define REF_VALUE_FIXED_BYTES 9 /* state u8, dead_since_ms u64 */

static const uint8_t reserved_prefix[FLOE_RESERVED_PREFIX_BYTES] = {0xff, 0xff, 0xff, 0xff,
                                                                    0xff, 0xff, 0xff, 0xff};

/* ---- object records and reserved keys ---------------------------------------------------------- */

int objrec_parse(const uint8_t *p, size_t len, objrec *out)
{
    if (len < OBJREC_FIXED_BYTES)
        return err_set(FLOE_ECORRUPT, "object record of %zu bytes is shorter than its %d-byte header", len,
                       OBJREC_FIXED_BYTES);
    if (p[0] != OBJREC_FORMAT && p[0] != OBJREC_FORMAT_LARGE_META)
        return err_set(FLOE_ECORRUPT, "object record format %u is not %d or %d", p[0], OBJREC_FORMAT,
                       OBJREC_FORMAT_LARGE_META);
    memset(out, 0, sizeof *out);
    out->flags = p[1];
    if (out->flags & ~OBJREC_CHUNKED)
        return err_set(FLOE_ECORRUPT, "object record has unknown flags 0x%02x", out->flags);
    out->user_meta_len = get_le16(p + 2);
    out->size = get_le64(p + 4);
    memcpy(out->md5, p + 12, 16);
    size_t h = OBJREC_FIXED_BYTES;
    if (out->flags & OBJREC_CHUNKED) {
        if (len < h + OBJREC_CHUNK_FIELDS_BYTES)
            return err_set(FLOE_ECORRUPT, "chunked object record of %zu bytes is cut short", len);
        out->chunk_bytes = get_le32(p + h);
        memcpy(out->objid, p + h + 4, OBJID_BYTES);
        h += OBJREC_CHUNK_FIELDS_BYTES;
        if (out->chunk_bytes == 0 || out->size <= out->chunk_bytes)
            return err_set(FLOE_ECORRUPT, "chunked object record: %" PRIu64 " bytes in chunks of %" PRIu32,
                           out->size, out->chunk_bytes);
    }
    unsigned meta_cap = p[0] == OBJREC_FORMAT ? OBJREC_FORMAT1_MAX_META_BYTES : FLOE_MAX_USER_META_BYTES;
    if (out->user_meta_len > meta_cap || len < h + out->user_meta_len)
        return err_set(FLOE_ECORRUPT, "object record: %u bytes of user metadata do not fit",
                       out->user_meta_len);
    out->user_meta = p + h;
    h += out->user_meta_len;
    out->header_len = (uint32_t)h;
    return 0;
}

int objrec_parse_whole(const uint8_t *p, size_t len, objrec *out)
{
    int rc = objrec_parse(p, len, out);
    if (rc < 0)
        return rc;
    /* A chunked object's record is its header alone; an inline one's holds exactly its bytes. */
    uint64_t data = len - out->header_len;
    if ((out->flags & OBJREC_CHUNKED) ? data != 0 : data != out->size)
        return err_set(FLOE_ECORRUPT, "object record holds %" PRIu64 " bytes after its header, for %s object of %" PRIu64,
                       data, (out->flags & OBJREC_CHUNKED) ? "a chunked" : "an", out->size);
    return 0;
}

size_t objrec_encode_header(const objrec *rec, uint8_t *out)
{
    /* format 1 where it will do, so a floe before format 2 reads what it can */
    out[0] = rec->user_meta_len > OBJREC_FORMAT1_MAX_META_BYTES ? OBJREC_FORMAT_LARGE_META : OBJREC_FORMAT;
    out[1] = rec->flags;
    put_le16(out + 2, rec->user_meta_len);
    put_le64(out + 4, rec->size);
    memcpy(out + 12, rec->md5, 16);
    size_t h = OBJREC_FIXED_BYTES;
    if (rec->flags & OBJREC_CHUNKED) {
        put_le32(out + h, rec->chunk_bytes);
        memcpy(out + h + 4, rec->objid, OBJID_BYTES);
        h += OBJREC_CHUNK_FIELDS_BYTES;
    }
    if (rec->user_meta_len)
        memcpy(out + h, rec->user_meta, rec->user_meta_len);
    return h + rec->user_meta_len;
}

void chunk_key(uint8_t out[CHUNK_KEY_BYTES], const uint8_t objid[OBJID_BYTES], uint64_t index)
{
    memcpy(out, reserved_prefix, FLOE_RESERVED_PREFIX_BYTES);
    out[FLOE_RESERVED_PREFIX_BYTES] = RESERVED_KIND_CHUNK;
    memcpy(out + FLOE_RESERVED_PREFIX_BYTES + 1, objid, OBJID_BYTES);
    for (int i = 0; i < 8; i++)
        out[CHUNK_PREFIX_BYTES + i] = (uint8_t)(index >> (56 - 8 * i));
}

void ref_key(uint8_t out[REF_KEY_BYTES], const uint8_t objid[OBJID_BYTES])
{
    memcpy(out, reserved_prefix, FLOE_RESERVED_PREFIX_BYTES);
    out[FLOE_RESERVED_PREFIX_BYTES] = RESERVED_KIND_CHUNK;
    memcpy(out + FLOE_RESERVED_PREFIX_BYTES + 1, objid, OBJID_BYTES);
}

/* ---- the active set (note 2) ------------------------------------------------------------------- */

static int active_add(floe_t *db, const uint8_t objid[OBJID_BYTES])
{
    pthread_mutex_lock(&db->obj_mu);
    if (db->n_obj_active == db->cap_obj_active) {
        size_t ncap = db->cap_obj_active ? db->cap_obj_active * 2 : 16;
        void *n = realloc(db->obj_active, ncap * sizeof *db->obj_active);
        if (!n) {
            pthread_mutex_unlock(&db->obj_mu);
            return err_set(FLOE_ENOMEM, "floe_writer: out of memory");
        }
        db->obj_active = n;
        db->cap_obj_active = ncap;
    }
    memcpy(db->obj_active[db->n_obj_active++], objid, OBJID_BYTES);
    pthread_mutex_unlock(&db->obj_mu);
    return 0;
}

static void active_remove(floe_t *db, const uint8_t objid[OBJID_BYTES])
{
    pthread_mutex_lock(&db->obj_mu);
    for (size_t i = 0; i < db->n_obj_active; i++) {
        if (memcmp(db->obj_active[i], objid, OBJID_BYTES) == 0) {
            memmove(db->obj_active[i], db->obj_active[db->n_obj_active - 1], OBJID_BYTES);
            db->n_obj_active--;
            break;
        }
    }
    pthread_mutex_unlock(&db->obj_mu);
}

static int active_has(floe_t *db, const uint8_t objid[OBJID_BYTES])
{
    int found = 0;
    pthread_mutex_lock(&db->obj_mu);
    for (size_t i = 0; i < db->n_obj_active && !found; i++)
        found = memcmp(db->obj_active[i], objid, OBJID_BYTES) == 0;
    pthread_mutex_unlock(&db->obj_mu);
    return found;
}

/* ---- small writes -------------------------------------------------------------------------------- */

static int put_raw(floe_t *db, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                   uint8_t type, const char *ct, size_t ct_len, uint64_t *seq_out)
{
    entry e = {.key = key,
               .key_len = (uint32_t)key_len,
               .value = value_len ? value : (const uint8_t *)"",
               .value_len = (uint32_t)value_len,
               .content_type = ct_len ? ct : NULL,
               .content_type_len = (uint32_t)ct_len,
               .type = type};
    return store_write(db, &e, 0, seq_out);
}

static int put_ref(floe_t *db, const uint8_t objid[OBJID_BYTES], uint8_t state, uint64_t dead_since_ms,
                   const uint8_t *user_key, size_t user_key_len)
{
    uint8_t key[REF_KEY_BYTES];
    uint8_t value[REF_VALUE_FIXED_BYTES + FLOE_MAX_KEY_BYTES];
    ref_key(key, objid);
    value[0] = state;
    put_le64(value + 1, dead_since_ms);
    memcpy(value + REF_VALUE_FIXED_BYTES, user_key, user_key_len);
    return put_raw(db, key, sizeof key, value, REF_VALUE_FIXED_BYTES + user_key_len, ENTRY_PUT, NULL, 0,
                   NULL);
}

/* Deletes objid's reference and every chunk with one prefix delete: the reference is their prefix. */
static int reclaim(floe_t *db, const uint8_t objid[OBJID_BYTES])
{
    uint8_t prefix[REF_KEY_BYTES];
    ref_key(prefix, objid);
    entry pd = {.key = prefix, .key_len = REF_KEY_BYTES, .value = (const uint8_t *)"", .type = ENTRY_DELETE};
    int rc = store_write(db, &pd, 1, NULL);
    if (rc == 0)
        atomic_fetch_add_explicit(&db->n_chunked_reclaimed, 1, memory_order_relaxed);
    return rc;
}

/* ---- writers ------------------------------------------------------------------------------------- */

struct floe_writer {
    floe_t *db;
    uint8_t *key;
    size_t key_len;
    char *ct;
    size_t ct_len;
    uint8_t *meta;
    size_t meta_len;
    EVP_MD_CTX *md5;
    /* OBJREC_MAX_HEADER_BYTES of room, then up to chunk_bytes of the object: an inline object's
     * header is written just before its bytes, so its record needs no copy. */
    uint8_t *buf;
    size_t buf_len, buf_cap; /* bytes of the object in buf, and room for them */
    uint64_t total, chunks;
    uint64_t chunk_bytes;
    uint8_t objid[OBJID_BYTES];
    int active; /* registered in db->obj_active (note 2) */
    int failed;
};

static void writer_free(floe_writer *w)
{
    if (w->active)
        active_remove(w->db, w->objid);
    EVP_MD_CTX_free(w->md5);
    free(w->key);
    free(w->ct);
    free(w->meta);
    free(w->buf);
    free(w);
}

int floe_writer_begin(floe_t *db, const void *key, size_t key_len, const floe_object_meta *meta,
                      floe_writer **out)
{
    int rc;
    size_t ct_len = 0;
    if (!db || !out)
        return err_set(FLOE_EINVAL, "floe_writer_begin: store handle and out are required");
    if ((rc = store_check_key(key, key_len)) < 0)
        return rc;
    const char *ct = meta ? meta->content_type : NULL;
    if ((rc = store_check_content_type(ct, &ct_len)) < 0)
        return rc;
    size_t meta_len = meta ? meta->user_meta_len : 0;
    if (meta_len > FLOE_MAX_USER_META_BYTES)
        return err_set(FLOE_EINVAL, "floe_writer_begin: %zu bytes of user metadata: at most %d", meta_len,
                       FLOE_MAX_USER_META_BYTES);
    if (meta_len && !meta->user_meta)
        return err_set(FLOE_EINVAL, "floe_writer_begin: user_meta is NULL with a length");
    if (atomic_load(&db->read_only))
        return store_read_only_error(db);
    floe_writer *w = calloc(1, sizeof *w);
    if (!w)
        return err_set(FLOE_ENOMEM, "floe_writer_begin: out of memory");
    w->db = db;
    w->key_len = key_len;
    w->ct_len = ct_len;
    w->meta_len = meta_len;
    w->chunk_bytes = db->opts.object.chunk_bytes;
    w->key = malloc(key_len);
    w->ct = ct_len ? malloc(ct_len) : NULL;
    w->meta = meta_len ? malloc(meta_len) : NULL;
    w->md5 = EVP_MD_CTX_new();
    if (!w->key || (ct_len && !w->ct) || (meta_len && !w->meta) || !w->md5 ||
        EVP_DigestInit_ex(w->md5, EVP_md5(), NULL) != 1) {
        writer_free(w);
        return err_set(FLOE_ENOMEM, "floe_writer_begin: out of memory");
    }
    memcpy(w->key, key, key_len);
    if (ct_len)
        memcpy(w->ct, ct, ct_len);
    if (meta_len)
        memcpy(w->meta, meta->user_meta, meta_len);
    *out = w;
    return 0;
}

int floe_writer_set_meta(floe_writer *w, const floe_object_meta *meta)
{
    int rc;
    size_t ct_len = 0;
    if (!w)
        return err_set(FLOE_EINVAL, "floe_writer_set_meta: writer is required");
    const char *ct = meta ? meta->content_type : NULL;
    if ((rc = store_check_content_type(ct, &ct_len)) < 0)
        return rc;
    size_t meta_len = meta ? meta->user_meta_len : 0;
    if (meta_len > FLOE_MAX_USER_META_BYTES)
        return err_set(FLOE_EINVAL, "floe_writer_set_meta: %zu bytes of user metadata: at most %d", meta_len,
                       FLOE_MAX_USER_META_BYTES);
    if (meta_len && !meta->user_meta)
        return err_set(FLOE_EINVAL, "floe_writer_set_meta: user_meta is NULL with a length");
    char *nct = ct_len ? malloc(ct_len) : NULL;
    uint8_t *nmeta = meta_len ? malloc(meta_len) : NULL;
    if ((ct_len && !nct) || (meta_len && !nmeta)) {
        free(nct);
        free(nmeta);
        return err_set(FLOE_ENOMEM, "floe_writer_set_meta: out of memory");
    }
    if (ct_len)
        memcpy(nct, ct, ct_len);
    if (meta_len)
        memcpy(nmeta, meta->user_meta, meta_len);
    free(w->ct);
    free(w->meta);
    w->ct = nct;
    w->ct_len = ct_len;
    w->meta = nmeta;
    w->meta_len = meta_len;
    return 0;
}

/* Room in buf for want bytes of the object, growing by doubling (a small object never takes a
 * whole chunk's memory). */
static int reserve(floe_writer *w, size_t want)
{
    if (want <= w->buf_cap)
        return 0;
    size_t cap = w->buf_cap ? w->buf_cap : 64 * 1024;
    while (cap < want)
        cap *= 2;
    if (cap > w->chunk_bytes)
        cap = (size_t)w->chunk_bytes;
    uint8_t *n = realloc(w->buf, OBJREC_MAX_HEADER_BYTES + cap);
    if (!n)
        return err_set(FLOE_ENOMEM, "floe_writer: out of memory for a %zu-byte chunk", cap);
    w->buf = n;
    w->buf_cap = cap;
    return 0;
}

/* Writes the buffered bytes as the next chunk; the first also starts the object's reference. */
static int flush_chunk(floe_writer *w)
{
    int rc;
    if (w->chunks == 0) {
        if (getrandom(w->objid, OBJID_BYTES, 0) != OBJID_BYTES)
            return err_set(FLOE_EIO, "floe_writer: getrandom failed for an object id");
        if ((rc = active_add(w->db, w->objid)) < 0)
            return rc;
        w->active = 1;
        store_seal_pending(w->db); /* note 5 */
        if ((rc = put_ref(w->db, w->objid, REF_PENDING, 0, w->key, w->key_len)) < 0)
            return rc;
    }
    uint8_t key[CHUNK_KEY_BYTES];
    chunk_key(key, w->objid, w->chunks);
    if ((rc = put_raw(w->db, key, sizeof key, w->buf + OBJREC_MAX_HEADER_BYTES, w->buf_len, ENTRY_PUT, NULL,
                      0, NULL)) < 0)
        return rc;
    w->chunks++;
    w->buf_len = 0;
    return 0;
}

int floe_writer_write(floe_writer *w, const void *data, size_t len)
{
    int rc;
    if (!w)
        return err_set(FLOE_EINVAL, "floe_writer_write: writer is NULL");
    if (w->failed)
        return err_set(FLOE_EINVAL, "floe_writer_write: an earlier write failed; abort the writer");
    if (len && !data)
        return err_set(FLOE_EINVAL, "floe_writer_write: data is NULL with length %zu", len);
    if (w->total + len > w->db->opts.max_object_bytes || w->total + len < w->total) {
        w->failed = 1;
        return err_set(FLOE_ETOOBIG, "object for key of %zu bytes would pass max_object_bytes (%" PRIu64 ")",
                       w->key_len, w->db->opts.max_object_bytes);
    }
    if (len && EVP_DigestUpdate(w->md5, data, len) != 1) {
        w->failed = 1;
        return err_set(FLOE_ENOMEM, "floe_writer_write: MD5 update failed");
    }
    const uint8_t *p = data;
    w->total += len;
    while (len) {
        /* A full buffer becomes a chunk only when more bytes come: an object of exactly one chunk
         * is stored inline. */
        if (w->buf_len == w->chunk_bytes && (rc = flush_chunk(w)) < 0) {
            w->failed = 1;
            return rc;
        }
        size_t n = (size_t)(w->chunk_bytes - w->buf_len) < len ? (size_t)(w->chunk_bytes - w->buf_len) : len;
        if ((rc = reserve(w, w->buf_len + n)) < 0) {
            w->failed = 1;
            return rc;
        }
        memcpy(w->buf + OBJREC_MAX_HEADER_BYTES + w->buf_len, p, n);
        w->buf_len += n;
        p += n;
        len -= n;
    }
    return 0;
}

uint64_t floe_writer_bytes(const floe_writer *w)
{
    return w ? w->total : 0;
}

void floe_writer_md5(const floe_writer *w, unsigned char md5[16])
{
    memset(md5, 0, 16);
    if (!w)
        return;
    EVP_MD_CTX *copy = EVP_MD_CTX_new();
    unsigned int n = 0;
    if (copy && EVP_MD_CTX_copy_ex(copy, w->md5) == 1)
        EVP_DigestFinal_ex(copy, md5, &n);
    EVP_MD_CTX_free(copy);
}

int floe_writer_commit(floe_writer *w, uint64_t *seq_out)
{
    int rc;
    if (!w)
        return err_set(FLOE_EINVAL, "floe_writer_commit: writer is NULL");
    if (w->failed) {
        floe_writer_abort(w);
        return err_set(FLOE_EINVAL, "floe_writer_commit: an earlier write failed; nothing was stored");
    }
    objrec rec = {.size = w->total, .user_meta = w->meta, .user_meta_len = (uint16_t)w->meta_len};
    floe_writer_md5(w, rec.md5);
    if (w->chunks == 0) {
        /* One record: the header right before the bytes in buf. */
        uint8_t head[OBJREC_MAX_HEADER_BYTES];
        size_t h = objrec_encode_header(&rec, head);
        if (!w->buf && (rc = reserve(w, 1)) < 0) {
            floe_writer_abort(w);
            return rc;
        }
        uint8_t *value = w->buf + OBJREC_MAX_HEADER_BYTES - h;
        memcpy(value, head, h);
        rc = put_raw(w->db, w->key, w->key_len, value, h + w->buf_len, ENTRY_OBJECT, w->ct, w->ct_len,
                     seq_out);
        writer_free(w);
        return rc;
    }
    /* Note 2: the last chunk, the reference as committed, then the head. */
    rec.flags = OBJREC_CHUNKED;
    rec.chunk_bytes = (uint32_t)w->chunk_bytes;
    memcpy(rec.objid, w->objid, OBJID_BYTES);
    uint8_t head[OBJREC_MAX_HEADER_BYTES];
    size_t h = objrec_encode_header(&rec, head);
    if ((rc = flush_chunk(w)) == 0 &&
        (rc = put_ref(w->db, w->objid, REF_COMMITTED, 0, w->key, w->key_len)) == 0) {
        store_seal_pending(w->db); /* note 5 */
        rc = put_raw(w->db, w->key, w->key_len, head, h, ENTRY_OBJECT, w->ct, w->ct_len, seq_out);
    }
    if (rc < 0) {
        /* Not visible; the sweep reclaims the chunks (at once if the reference is still pending). */
        writer_free(w);
        return rc;
    }
    writer_free(w);
    return 0;
}

void floe_writer_abort(floe_writer *w)
{
    if (!w)
        return;
    if (w->chunks > 0 && reclaim(w->db, w->objid) < 0)
        store_log(w->db, 1, "floe_writer_abort: %s; the next sweep deletes the chunks", floe_last_error());
    writer_free(w);
}

/* ---- reads -------------------------------------------------------------------------------------- */

/* Copies bytes [offset, offset + len) of the chunked object rec into dst, chunk by chunk, each read
 * only over the range it covers. */
static int read_chunk_range(floe_t *db, const objrec *rec, uint64_t offset, size_t len, uint8_t *dst)
{
    while (len) {
        uint64_t index = offset / rec->chunk_bytes, in = offset % rec->chunk_bytes;
        uint64_t clen = rec->size - index * rec->chunk_bytes < rec->chunk_bytes
                            ? rec->size - index * rec->chunk_bytes
                            : rec->chunk_bytes;
        size_t n = clen - in < len ? (size_t)(clen - in) : len;
        uint8_t key[CHUNK_KEY_BYTES];
        chunk_key(key, rec->objid, index);
        floe_value v = {0};
        uint64_t total = 0;
        int rc = store_read_raw(db, key, sizeof key, 0, in, n, 1, &v, &total, NULL);
        if (rc == FLOE_ENOTFOUND)
            return err_set(FLOE_ENOTFOUND,
                           "chunk %" PRIu64
                           " of the object is gone: the version was replaced or deleted and its "
                           "chunks reclaimed (gc.grace_s)",
                           index);
        if (rc < 0)
            return rc;
        if (total != clen || v.len != n) {
            floe_value_free(&v);
            return err_set(FLOE_ECORRUPT,
                           "chunk %" PRIu64 " of the object is %" PRIu64 " bytes, not %" PRIu64, index, total,
                           clen);
        }
        memcpy(dst, v.data, n);
        floe_value_free(&v);
        dst += n;
        offset += n;
        len -= n;
    }
    return 0;
}

int object_read_chunks(floe_t *db, const store_found *found, uint64_t offset, uint64_t length,
                       floe_value *out)
{
    objrec rec;
    int rc = objrec_parse(found->head, found->head_len, &rec);
    if (rc < 0)
        return rc;
    uint64_t from = offset < rec.size ? offset : rec.size;
    uint64_t n = rec.size - from < length ? rec.size - from : length;
    if (n >= SIZE_MAX)
        return err_set(FLOE_ENOMEM, "read: %" PRIu64 " bytes do not fit in memory: use floe_reader_*", n);
    uint8_t *buf = malloc((size_t)n + 1);
    if (!buf)
        return err_set(FLOE_ENOMEM, "read: out of memory for %" PRIu64 " bytes: use floe_reader_*", n);
    if ((rc = read_chunk_range(db, &rec, from, (size_t)n, buf)) < 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    free(out->data);
    out->data = buf;
    out->len = (size_t)n;
    return 0;
}

struct floe_reader {
    floe_t *db;
    uint8_t *key;
    size_t key_len;
    uint64_t size, seq;
    int chunked;
    objrec rec; /* chunked: its header, in found */
    store_found found;
    /* The bytes held: a chunk of a chunked object, the whole of a small value, or a window of a
     * large plain value; [held_off, held_off + held_len) of the object. */
    uint8_t *held;
    uint64_t held_off;
    size_t held_len;
};

int floe_reader_open(floe_t *db, const void *key, size_t key_len, floe_value *info, floe_reader **out)
{
    if (!db || !out)
        return err_set(FLOE_EINVAL, "floe_reader_open: store handle and out are required");
    int rc = store_check_key(key, key_len);
    if (rc < 0)
        return rc;
    floe_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->key = malloc(key_len))) {
        free(r);
        return err_set(FLOE_ENOMEM, "floe_reader_open: out of memory");
    }
    memcpy(r->key, key, key_len);
    r->db = db;
    r->key_len = key_len;
    /* Note 3: one read pins the version: a chunked object's header, or up to a chunk of a value. */
    floe_value v = {0};
    uint64_t total = 0;
    rc = store_read_raw(db, key, key_len, 0, 0, db->opts.object.chunk_bytes, 0, &v, &total, &r->found);
    if (rc < 0) {
        floe_reader_close(r);
        return rc;
    }
    r->size = total;
    r->seq = v.seq;
    r->chunked = v.chunked;
    if (r->chunked && (rc = objrec_parse(r->found.head, r->found.head_len, &r->rec)) < 0) {
        floe_value_free(&v);
        floe_reader_close(r);
        return rc;
    }
    if (!r->chunked) {
        r->held = v.data;
        r->held_len = v.len;
        v.data = NULL;
    }
    if (info) {
        free(v.data);
        v.data = NULL;
        v.len = (size_t)total;
        *info = v;
    } else {
        floe_value_free(&v);
    }
    *out = r;
    return 0;
}

uint64_t floe_reader_size(const floe_reader *r)
{
    return r ? r->size : 0;
}

/* Makes r hold the bytes at offset: its chunk, or a window of a large plain value (note 3). */
static int hold(floe_reader *r, uint64_t offset)
{
    uint64_t span = r->chunked ? r->rec.chunk_bytes : r->db->opts.object.chunk_bytes;
    uint64_t start = offset / span * span;
    uint64_t len = r->size - start < span ? r->size - start : span;
    free(r->held); /* one chunk at a time, never two */
    r->held = NULL;
    r->held_len = 0;
    uint8_t *buf = malloc((size_t)len + 1);
    if (!buf)
        return err_set(FLOE_ENOMEM, "floe_reader_read: out of memory for %" PRIu64 " bytes", len);
    int rc;
    if (r->chunked) {
        rc = read_chunk_range(r->db, &r->rec, start, (size_t)len, buf);
    } else {
        floe_value v = {0};
        uint64_t total = 0;
        rc = store_read_raw(r->db, r->key, r->key_len, 0, start, len, 0, &v, &total, NULL);
        if (rc == 0 && (v.seq != r->seq || total != r->size || v.len != len)) {
            rc = err_set(FLOE_ENOTFOUND,
                         "the value was replaced while being read (seq %" PRIu64 ", now %" PRIu64 ")", r->seq,
                         v.seq);
        }
        if (rc == FLOE_ENOTFOUND && v.seq == 0)
            rc = err_set(FLOE_ENOTFOUND, "the value was deleted while being read");
        if (rc == 0)
            memcpy(buf, v.data, (size_t)len);
        floe_value_free(&v);
    }
    if (rc < 0) {
        free(buf);
        return rc;
    }
    r->held = buf;
    r->held_off = start;
    r->held_len = (size_t)len;
    return 0;
}

int floe_reader_read(floe_reader *r, uint64_t offset, void *buf, size_t len, size_t *n_out)
{
    if (!r || (len && !buf))
        return err_set(FLOE_EINVAL, "floe_reader_read: bad arguments");
    if (offset > r->size)
        return err_set(FLOE_ERANGE,
                       "floe_reader_read: offset %" PRIu64 " is past the object's %" PRIu64 " bytes", offset,
                       r->size);
    size_t done = 0;
    uint8_t *dst = buf;
    while (done < len && offset < r->size) {
        if (!r->held || offset < r->held_off || offset >= r->held_off + r->held_len) {
            int rc = hold(r, offset);
            if (rc < 0)
                return rc;
        }
        size_t in = (size_t)(offset - r->held_off);
        size_t n = r->held_len - in < len - done ? r->held_len - in : len - done;
        memcpy(dst + done, r->held + in, n);
        done += n;
        offset += n;
    }
    if (n_out)
        *n_out = done;
    return 0;
}

void floe_reader_close(floe_reader *r)
{
    if (!r)
        return;
    free(r->key);
    free(r->held);
    free(r);
}

/* ---- the sweep (note 2) --------------------------------------------------------------------------- */

/* Looks at one reference; deletes what note 2 says is garbage. Returns 0, 1 when the object is dead
 * but waits out gc.grace_s (so the sweep must run again, written to or not), or an error. */
static int sweep_ref(floe_t *db, const uint8_t *rkey, size_t rkey_len, int64_t now_ms, int at_open)
{
    if (rkey_len != REF_KEY_BYTES)
        return 0; /* not a key floe writes: leave it */
    const uint8_t *objid = rkey + FLOE_RESERVED_PREFIX_BYTES + 1;
    if (active_has(db, objid))
        return 0;
    floe_value rv = {0};
    int rc = store_read_raw(db, rkey, rkey_len, 0, 0, UINT64_MAX, 1, &rv, NULL, NULL);
    if (rc == FLOE_ENOTFOUND)
        return 0; /* reclaimed since it was listed */
    if (rc < 0)
        return rc;
    if (rv.len < REF_VALUE_FIXED_BYTES + 1 || rv.len > REF_VALUE_FIXED_BYTES + FLOE_MAX_KEY_BYTES) {
        floe_value_free(&rv);
        return err_set(FLOE_ECORRUPT, "object reference of %zu bytes does not parse", rv.len);
    }
    const uint8_t *p = rv.data;
    uint8_t state = p[0];
    uint64_t dead_since = get_le64(p + 1);
    floe_value hv = {0};
    store_found found;
    rc = store_read_raw(db, p + REF_VALUE_FIXED_BYTES, rv.len - REF_VALUE_FIXED_BYTES, 1, 0, 0, 1, &hv, NULL,
                        &found);
    int live = 0;
    if (rc == 0) {
        objrec rec;
        live = found.is_object && objrec_parse(found.head, found.head_len, &rec) == 0 &&
               (rec.flags & OBJREC_CHUNKED) && memcmp(rec.objid, objid, OBJID_BYTES) == 0;
        floe_value_free(&hv);
    } else if (rc != FLOE_ENOTFOUND) {
        floe_value_free(&rv);
        return rc; /* cannot tell: keep everything */
    }
    rc = 0;
    if (!live && (state == REF_PENDING || at_open ||
                  (dead_since && now_ms - (int64_t)dead_since >= (int64_t)db->opts.gc.grace_s * 1000)))
        rc = reclaim(db, objid);
    else if (!live && !dead_since) { /* stamped dead now: it waits out its grace period */
        rc = put_ref(db, objid, state, (uint64_t)now_ms, p + REF_VALUE_FIXED_BYTES, rv.len - REF_VALUE_FIXED_BYTES);
        if (rc == 0)
            rc = 1;
    }
    else if (!live)
        rc = 1; /* dead since before, still within its grace period */
    floe_value_free(&rv);
    return rc;
}

int object_sweep(floe_t *db, int mode)
{
    int force = mode != SWEEP_IF_DUE;
    if (force)
        pthread_mutex_lock(&db->sweep_mu);
    else if (pthread_mutex_trylock(&db->sweep_mu) != 0)
        return 0; /* one is running */
    uint64_t seq = atomic_load(&db->visible_seq);
    if (!force && db->sweep_ms &&
        ((seq == db->sweep_seq && !db->sweep_waiting) ||
         clock_now_ms() - db->sweep_ms < (int64_t)db->opts.gc.interval_s * 1000)) {
        pthread_mutex_unlock(&db->sweep_mu);
        return 0; /* nothing written since and no dead object waits (nothing can die), or not due yet */
    }
    db->sweep_seq = seq;
    db->sweep_ms = clock_now_ms();
    int64_t now_ms = (int64_t)clock_unix_ms();
    uint8_t prefix[FLOE_RESERVED_PREFIX_BYTES + 1];
    memcpy(prefix, reserved_prefix, FLOE_RESERVED_PREFIX_BYTES);
    prefix[FLOE_RESERVED_PREFIX_BYTES] = RESERVED_KIND_CHUNK;
    /* Note 5: each step lists the next key past the last object's chunks, which is the next
     * object's reference: one listing per object, however many chunks each has. */
    uint8_t after[CHUNK_KEY_BYTES];
    size_t after_len = 0;
    int rc = 0, first_error = 0, waiting = 0;
    for (;;) {
        floe_list *l = NULL;
        if ((rc = store_list_reserved(db, prefix, sizeof prefix, after_len ? after : NULL, after_len, 1,
                                      &l)) < 0)
            break;
        if (l->count == 0) {
            floe_list_free(l);
            break;
        }
        const uint8_t *k = (const uint8_t *)l->entries[0].key;
        size_t klen = l->entries[0].key_len;
        if (klen == REF_KEY_BYTES) {
            int r = sweep_ref(db, k, klen, now_ms, mode == SWEEP_AT_OPEN);
            waiting |= r > 0;
            if (r < 0 && !first_error) {
                first_error = r;
                store_log(db, 1, "object sweep: %s; that object's chunks are kept", floe_last_error());
            }
        } else if (!first_error) {
            /* Chunks without a reference: floe never writes them; they are left as they are. */
            first_error =
                err_set(FLOE_ECORRUPT, "object sweep: reserved key of %zu bytes without its reference", klen);
            store_log(db, 1, "%s; it is kept", floe_last_error());
        }
        size_t keep = klen < REF_KEY_BYTES ? klen : REF_KEY_BYTES;
        memcpy(after, k, keep);
        memset(after + keep, 0xff, sizeof after - keep); /* past every chunk index of that object */
        after_len = sizeof after;
        floe_list_free(l);
    }
    db->sweep_waiting = waiting || rc < 0; /* sweep again when due, written to or not */
    pthread_mutex_unlock(&db->sweep_mu);
    return rc < 0 ? rc : first_error;
}
