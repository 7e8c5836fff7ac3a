/* The S3 API's multipart uploads (see s3api.h): CreateMultipartUpload, UploadPart (through the
 * streaming PUT of put.c, into the part's key), CompleteMultipartUpload, AbortMultipartUpload,
 * ListParts, ListMultipartUploads, and the reclaimer of abandoned uploads.
 *
 * An upload is a record in the system namespace, FLOE_SYSTEM_PREFIX "u/" bucket "/" id, whose value
 * is the key and the metadata the object will have (u32 key length, key, u16 content type length,
 * content type, u16 metadata length, metadata; big-endian), written when it was created (its write
 * time is the upload's initiation). Part n is an object at FLOE_SYSTEM_PREFIX "p/" id "/" %05u:
 * written by the same streaming writer as any PUT, so a part of any size holds about one chunk in
 * memory, and its ETag is its MD5.
 *
 * Invariants:
 * 1. CompleteMultipartUpload makes the object visible at once, whole, like a PUT: the parts' bytes
 *    are copied into one writer, committed under the key's lock, and only then are the upload record
 *    and its parts deleted (a crash in between leaves the upload, which a retry completes again or
 *    the reclaimer removes; never a partial object).
 * 2. The parts named must be the upload's, in ascending order, with the ETags the client was given;
 *    all but the last at least S3_MIN_PART_BYTES.
 * 3. Deleting parts is one prefix delete of FLOE_SYSTEM_PREFIX "p/" id "/": no part outlives its upload.
 */
#include "s3api.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "coding.h"
#include "crc32c.h"
#include "s3_xml.h"

static const char *const owner_xml = "<Owner><ID>floe</ID><DisplayName>floe</DisplayName></Owner>";

/* ---- keys and records --------------------------------------------------------------------------- */

static size_t upload_prefix(const char *bucket, char *out)
{
    memcpy(out, FLOE_SYSTEM_PREFIX, FLOE_SYSTEM_PREFIX_BYTES);
    return FLOE_SYSTEM_PREFIX_BYTES + (size_t)sprintf(out + FLOE_SYSTEM_PREFIX_BYTES, "u/%s/", bucket);
}

static size_t upload_key(const char *bucket, const char *id, char *out)
{
    size_t n = upload_prefix(bucket, out);
    return n + (size_t)sprintf(out + n, "%s", id);
}

static size_t parts_prefix(const char *id, char *out)
{
    memcpy(out, FLOE_SYSTEM_PREFIX, FLOE_SYSTEM_PREFIX_BYTES);
    return FLOE_SYSTEM_PREFIX_BYTES + (size_t)sprintf(out + FLOE_SYSTEM_PREFIX_BYTES, "p/%s/", id);
}

pthread_rwlock_t *s3_upload_lock(s3_api *a, const char *upload_id)
{
    return &a->upload_locks[crc32c(upload_id, strlen(upload_id)) % S3_UPLOAD_LOCK_STRIPES];
}

size_t s3_part_key(const char *upload_id, uint32_t n, char *out, size_t cap)
{
    char tmp[128];
    size_t l = parts_prefix(upload_id, tmp);
    l += (size_t)snprintf(tmp + l, sizeof tmp - l, "%05u", n);
    if (l + 1 > cap)
        return 0;
    memcpy(out, tmp, l);
    out[l] = '\0';
    return l;
}

/* An upload record, decoded: pointers into the value's bytes. */
struct upload_rec {
    const char *key, *ct, *meta;
    size_t key_len, ct_len, meta_len;
    uint64_t initiated_ms;
};

static int parse_record(const floe_value *v, struct upload_rec *u)
{
    const unsigned char *p = v->data, *end = p + v->len;
    if (v->len < 8)
        return -1;
    u->key_len = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
    p += 4;
    if (u->key_len > (size_t)(end - p))
        return -1;
    u->key = (const char *)p;
    p += u->key_len;
    if (end - p < 2)
        return -1;
    u->ct_len = (size_t)p[0] << 8 | p[1];
    p += 2;
    if (u->ct_len > (size_t)(end - p))
        return -1;
    u->ct = (const char *)p;
    p += u->ct_len;
    if (end - p < 2)
        return -1;
    u->meta_len = (size_t)p[0] << 8 | p[1];
    p += 2;
    if (u->meta_len != (size_t)(end - p))
        return -1;
    u->meta = (const char *)p;
    u->initiated_ms = v->write_ms;
    return 0;
}

int s3_upload_lookup(http_req *r, char **meta_out, size_t *meta_len)
{
    s3_req *q = r->s3;
    char key[FLOE_SYSTEM_PREFIX_BYTES + 4 + S3_BUCKET_MAX_BYTES + sizeof q->upload_id];
    size_t kl = upload_key(q->bucket, q->upload_id, key);
    floe_value v = {0};
    if (floe_get(r->srv->db, key, kl, &v) != 0)
        return 0;
    struct upload_rec u;
    int ok = parse_record(&v, &u) == 0 && u.key_len == q->object_key_len &&
             memcmp(u.key, q->object_key, u.key_len) == 0;
    if (ok && meta_out) {
        *meta_out = malloc(v.len);
        if (*meta_out) {
            memcpy(*meta_out, v.data, v.len);
            *meta_len = v.len;
        } else {
            ok = 0;
        }
    }
    floe_value_free(&v);
    return ok;
}

/* ---- create, abort ------------------------------------------------------------------------------ */

int s3_create_upload_work(http_req *r)
{
    s3_req *q = r->s3;
    unsigned char id[16];
    if (RAND_bytes(id, sizeof id) != 1)
        return s3_fail(r, 500, "InternalError", "cannot make an upload id: the random generator failed");
    for (int i = 0; i < 16; i++)
        sprintf(q->upload_id + 2 * i, "%02x", id[i]);
    size_t ct_len = r->has_content_type ? strlen(r->content_type) : 0;
    size_t len = 4 + q->object_key_len + 2 + ct_len + 2 + r->user_meta_len;
    unsigned char *val = malloc(len), *p = val;
    if (!val)
        return s3_fail(r, 503, "SlowDown", "out of memory");
    *p++ = (unsigned char)(q->object_key_len >> 24);
    *p++ = (unsigned char)(q->object_key_len >> 16);
    *p++ = (unsigned char)(q->object_key_len >> 8);
    *p++ = (unsigned char)q->object_key_len;
    memcpy(p, q->object_key, q->object_key_len);
    p += q->object_key_len;
    *p++ = (unsigned char)(ct_len >> 8);
    *p++ = (unsigned char)ct_len;
    memcpy(p, r->content_type, ct_len);
    p += ct_len;
    *p++ = (unsigned char)(r->user_meta_len >> 8);
    *p++ = (unsigned char)r->user_meta_len;
    memcpy(p, r->user_meta, r->user_meta_len);
    char key[FLOE_SYSTEM_PREFIX_BYTES + 4 + S3_BUCKET_MAX_BYTES + sizeof q->upload_id];
    size_t kl = upload_key(q->bucket, q->upload_id, key);
    int rc = floe_put(r->srv->db, key, kl, val, len, NULL, NULL);
    free(val);
    if (rc < 0)
        return s3_fail_floe(r, rc, "CreateMultipartUpload");
    buf_puts(&q->out, S3_XML_HEAD "<InitiateMultipartUploadResult xmlns=\"" S3_XMLNS "\"><Bucket>");
    s3_xml_escape(&q->out, q->bucket, q->bucket_len);
    buf_puts(&q->out, "</Bucket><Key>");
    s3_xml_escape(&q->out, q->object_key, q->object_key_len);
    buf_printf(&q->out, "</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>\n", q->upload_id);
    return 0;
}

/* Deletes upload id of bucket: its parts, then its record. */
static int delete_upload(floe_t *db, const char *bucket, const char *id)
{
    char pp[128], key[FLOE_SYSTEM_PREFIX_BYTES + 4 + S3_BUCKET_MAX_BYTES + 64];
    size_t pl = parts_prefix(id, pp), kl = upload_key(bucket, id, key);
    int rc = floe_delete_prefix(db, pp, pl, NULL);
    if (rc == 0)
        rc = floe_delete(db, key, kl, NULL);
    return rc;
}

int s3_abort_upload_work(http_req *r)
{
    s3_req *q = r->s3;
    const char *id = s3_query(r, "uploadId");
    if (!id || !id[0] || strlen(id) >= sizeof q->upload_id)
        return s3_fail(r, 404, "NoSuchUpload", "the upload id is missing or not one of this server's");
    snprintf(q->upload_id, sizeof q->upload_id, "%s", id);
    pthread_rwlock_t *ul = s3_upload_lock(r->srv->s3, q->upload_id);
    pthread_rwlock_wrlock(ul);
    int found = s3_upload_lookup(r, NULL, NULL);
    int rc = found ? delete_upload(r->srv->db, q->bucket, q->upload_id) : 0;
    pthread_rwlock_unlock(ul);
    if (!found)
        return s3_fail(r, 404, "NoSuchUpload", "no upload %s of this key (it was completed or aborted)", id);
    if (rc < 0)
        return s3_fail_floe(r, rc, "AbortMultipartUpload");
    q->out_status = 204;
    return 0;
}

/* Calls fn for every upload record under prefix (its key after the prefix, and the record). */
static int each_upload(floe_t *db, const char *prefix, size_t pl,
                       int (*fn)(void *ctx, const char *id, size_t id_len, const floe_value *v), void *ctx)
{
    char after[FLOE_MAX_KEY_BYTES + 1];
    size_t after_len = 0;
    for (;;) {
        floe_list *l = NULL;
        int rc = floe_list_keys(db, prefix, pl, after_len ? after : NULL, after_len, 1000, &l);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < l->count && rc == 0; i++) {
            const floe_list_entry *e = &l->entries[i];
            floe_value v = {0};
            if (floe_get(db, e->key, e->key_len, &v) == 0) {
                rc = fn(ctx, e->key + pl, e->key_len - pl, &v);
                floe_value_free(&v);
            }
            memcpy(after, e->key, e->key_len);
            after_len = e->key_len;
        }
        size_t n = l->count;
        floe_list_free(l);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        if (n < 1000)
            return 0;
    }
}

struct abort_ctx {
    s3_api *api;
    floe_t *db;
    const char *bucket;
    uint64_t before_ms; /* abort uploads initiated before this; UINT64_MAX for all */
    size_t aborted;
};

static int abort_one(void *ctx, const char *id, size_t id_len, const floe_value *v)
{
    struct abort_ctx *a = ctx;
    char idz[64];
    if (id_len >= sizeof idz || v->write_ms >= a->before_ms)
        return 0;
    memcpy(idz, id, id_len);
    idz[id_len] = '\0';
    pthread_rwlock_t *ul = s3_upload_lock(a->api, idz);
    pthread_rwlock_wrlock(ul);
    int rc = delete_upload(a->db, a->bucket, idz);
    pthread_rwlock_unlock(ul);
    if (rc == 0)
        a->aborted++;
    return rc;
}

int s3_abort_bucket_uploads(http_req *r);
int s3_abort_bucket_uploads(http_req *r)
{
    char prefix[FLOE_SYSTEM_PREFIX_BYTES + 4 + S3_BUCKET_MAX_BYTES];
    size_t pl = upload_prefix(r->s3->bucket, prefix);
    struct abort_ctx a = {.api = r->srv->s3, .db = r->srv->db, .bucket = r->s3->bucket, .before_ms = UINT64_MAX};
    return each_upload(r->srv->db, prefix, pl, abort_one, &a);
}

int s3_reclaim_once(s3_api *api, uint64_t now_ms, uint64_t max_age_ms)
{
    pthread_rwlock_rdlock(&api->lock);
    size_t n = api->n_buckets;
    char(*names)[S3_BUCKET_MAX_BYTES + 1] = n ? malloc(n * sizeof *names) : NULL;
    if (names)
        memcpy(names, api->buckets, n * sizeof *names);
    pthread_rwlock_unlock(&api->lock);
    if (n && !names)
        return err_set(FLOE_ENOMEM, "s3: out of memory reclaiming uploads");
    int rc = 0;
    size_t total = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char prefix[FLOE_SYSTEM_PREFIX_BYTES + 4 + S3_BUCKET_MAX_BYTES];
        size_t pl = upload_prefix(names[i], prefix);
        struct abort_ctx a = {.api = api,
                              .db = api->srv->db,
                              .bucket = names[i],
                              .before_ms = now_ms > max_age_ms ? now_ms - max_age_ms : 0};
        rc = each_upload(api->srv->db, prefix, pl, abort_one, &a);
        total += a.aborted;
    }
    free(names);
    if (total)
        http_log(api->srv, 2, "s3: aborted %zu multipart uploads older than s3.multipart_max_age_s (%" PRIu64 " s)",
                 total, max_age_ms / 1000);
    return rc;
}

void *s3_reclaimer_main(void *arg)
{
    s3_api *a = arg;
    uint64_t max_age_s = a->srv->cfg->s3.multipart_max_age_s;
    uint64_t every_s = max_age_s / 10;
    if (every_s < 1)
        every_s = 1;
    if (every_s > 600)
        every_s = 600;
    pthread_mutex_lock(&a->stop_mu);
    while (!a->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)every_s;
        pthread_cond_timedwait(&a->stop_cv, &a->stop_mu, &ts);
        if (a->stop)
            break;
        pthread_mutex_unlock(&a->stop_mu);
        if (s3_reclaim_once(a, (uint64_t)time(NULL) * 1000, max_age_s * 1000) < 0)
            http_log(a->srv, 1, "s3: reclaiming abandoned multipart uploads: %s", floe_last_error());
        pthread_mutex_lock(&a->stop_mu);
    }
    pthread_mutex_unlock(&a->stop_mu);
    return NULL;
}

/* ---- complete ------------------------------------------------------------------------------------- */

/* Parses 32 hex digits (an ETag as sent, quotes removed) into md5. 0 or -1. */
static int parse_md5_hex(const char *s, unsigned char md5[16])
{
    size_t n = strlen(s);
    while (n && s[n - 1] == '"')
        n--;
    while (*s == '"') {
        s++;
        n--;
    }
    if (n != 32)
        return -1;
    for (int i = 0; i < 16; i++) {
        int h = hex_digit_value(s[2 * i]), l = hex_digit_value(s[2 * i + 1]);
        if (h < 0 || l < 0)
            return -1;
        md5[i] = (unsigned char)(h * 16 + l);
    }
    return 0;
}

/* Invariant 2: the parts named are in ascending order, each uploaded with the ETag given, each but
 * the last at least S3_MIN_PART_BYTES; their MD5s go to md5s (16 bytes each) and sizes to sizes.
 * 0, or -1 with the work's error set. */
static int check_parts(http_req *r, const s3_complete_part *parts, size_t n, unsigned char *md5s, uint64_t *sizes)
{
    s3_req *q = r->s3;
    for (size_t i = 1; i < n; i++)
        if (parts[i].part_number <= parts[i - 1].part_number)
            return s3_fail(r, 400, "InvalidPartOrder",
                           "the parts must be listed in ascending order of part number: %u follows %u",
                           parts[i].part_number, parts[i - 1].part_number);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char pk[128];
        size_t pkl = s3_part_key(q->upload_id, parts[i].part_number, pk, sizeof pk);
        floe_value v = {0};
        unsigned char want[16];
        int got = floe_head(r->srv->db, pk, pkl, &v);
        if (got == FLOE_ENOTFOUND || (got == 0 && (parse_md5_hex(parts[i].etag, want) != 0 || !v.md5_known ||
                                                   memcmp(want, v.md5, 16) != 0))) {
            rc = s3_fail(r, 400, "InvalidPart",
                         "part %u was not uploaded, or its ETag is not %s: upload it again or name the ETag its "
                         "UploadPart answered with",
                         parts[i].part_number, parts[i].etag);
        } else if (got < 0) {
            rc = s3_fail_floe(r, got, "CompleteMultipartUpload: reading a part");
        } else if (i + 1 < n && v.len < S3_MIN_PART_BYTES) {
            rc = s3_fail(r, 400, "EntityTooSmall",
                         "part %u has %" PRIu64 " bytes: every part but the last must have at least %u",
                         parts[i].part_number, v.len, S3_MIN_PART_BYTES);
        } else {
            memcpy(md5s + 16 * i, v.md5, 16);
            sizes[i] = v.len;
        }
        floe_value_free(&v);
    }
    return rc;
}

/* The parts' sizes as the object keeps them for GetObject's partNumber: "U,<size>" when every part
 * but the last has one size (what clients send), else the list while it fits in cap ("" if not). */
static void part_sizes_text(const uint64_t *sizes, size_t n, char *out, size_t cap)
{
    int uniform = 1;
    for (size_t i = 1; i + 1 < n; i++)
        uniform &= sizes[i] == sizes[0];
    if (uniform || n == 1) {
        snprintf(out, cap, "U,%" PRIu64, sizes[0]);
        return;
    }
    size_t at = 0;
    for (size_t i = 0; i < n && at < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%" PRIu64, i ? "," : "", sizes[i]);
    if (at >= cap)
        out[0] = '\0';
}

/* S3's ETag of a multipart object: the hex MD5 of the parts' n binary MD5s, "-", n. */
static void composite_etag(const unsigned char *md5s, size_t n, char *out, size_t cap)
{
    unsigned char comp[16];
    unsigned int cl = 0;
    EVP_Digest(md5s, 16 * n, comp, &cl, EVP_md5(), NULL);
    size_t at = 0;
    for (int i = 0; i < 16; i++)
        at += (size_t)snprintf(out + at, cap - at, "%02x", comp[i]);
    snprintf(out + at, cap - at, "-%zu", n);
}

/* The completed object's content type and metadata (*ct and *meta malloc'd): the upload record's,
 * with the ETag, the part count and the part sizes. 0, or -1 with the work's error set. */
static int object_meta_of(http_req *r, const char *rec, size_t rec_len, const char *etag, size_t n,
                          const char *sizes_text, char **ct, unsigned char **meta, size_t *meta_len)
{
    floe_value recv = {.data = (void *)rec, .len = rec_len};
    struct upload_rec u;
    if (parse_record(&recv, &u) != 0)
        return s3_fail(r, 500, "InternalError", "the record of upload %s is damaged", r->s3->upload_id);
    *meta = malloc(FLOE_MAX_USER_META_BYTES);
    *ct = u.ct_len ? strndup(u.ct, u.ct_len) : NULL;
    if (!*meta || (u.ct_len && !*ct))
        return s3_fail(r, 503, "SlowDown", "out of memory");
    *meta_len = u.meta_len < FLOE_MAX_USER_META_BYTES ? u.meta_len : 0;
    memcpy(*meta, u.meta, *meta_len);
    char count[16];
    snprintf(count, sizeof count, "%zu", n);
    if (s3_meta_put(*meta, FLOE_MAX_USER_META_BYTES, meta_len, ":etag", etag) != 0 ||
        s3_meta_put(*meta, FLOE_MAX_USER_META_BYTES, meta_len, ":parts", count) != 0 ||
        (sizes_text[0] && s3_meta_put(*meta, FLOE_MAX_USER_META_BYTES, meta_len, ":partsizes", sizes_text) != 0))
        return s3_fail(r, 400, "MetadataTooLarge", "the upload's metadata leaves no room for its ETag");
    return 0;
}

int s3_complete_upload_work(http_req *r)
{
    s3_req *q = r->s3;
    http_server *s = r->srv;
    const char *id = s3_query(r, "uploadId");
    if (!id || !id[0] || strlen(id) >= sizeof q->upload_id)
        return s3_fail(r, 404, "NoSuchUpload", "the upload id is missing or not one of this server's");
    snprintf(q->upload_id, sizeof q->upload_id, "%s", id);
    char *rec = NULL;
    size_t rec_len = 0;
    pthread_rwlock_t *ul = s3_upload_lock(s->s3, q->upload_id); /* held to the end (s3api.h) */
    pthread_rwlock_wrlock(ul);
    if (!s3_upload_lookup(r, &rec, &rec_len)) {
        pthread_rwlock_unlock(ul);
        return s3_fail(r, 404, "NoSuchUpload", "no upload %s of this key (it was completed or aborted)", id);
    }
    s3_complete_part *parts = NULL;
    size_t n = 0;
    const char *code = NULL;
    char msg[256];
    floe_writer *w = NULL;
    unsigned char *md5s = NULL, *meta = NULL;
    char *ct = NULL;
    int rc = 0;
    if (s3_xml_parse_complete(q->body.data ? q->body.data : "", q->body.len, &parts, &n, &code, msg, sizeof msg) != 0) {
        rc = s3_fail(r, 400, code ? code : "MalformedXML", "%s", msg);
        goto out;
    }
    if (n == 0) {
        rc = s3_fail(r, 400, "MalformedXML", "CompleteMultipartUpload names no part");
        goto out;
    }
    md5s = malloc(16 * n);
    uint64_t *sizes = calloc(n, sizeof *sizes);
    char sizes_text[2048] = "";
    if (!md5s || !sizes)
        rc = s3_fail(r, 503, "SlowDown", "out of memory");
    else if ((rc = check_parts(r, parts, n, md5s, sizes)) == 0)
        part_sizes_text(sizes, n, sizes_text, sizeof sizes_text);
    free(sizes);
    if (rc < 0)
        goto out;
    char etag[48];
    size_t meta_len = 0;
    composite_etag(md5s, n, etag, sizeof etag);
    if ((rc = object_meta_of(r, rec, rec_len, etag, n, sizes_text, &ct, &meta, &meta_len)) < 0)
        goto out;
    floe_object_meta om = {.content_type = ct, .user_meta = meta, .user_meta_len = meta_len};
    if ((rc = floe_writer_begin(s->db, r->key, r->key_len, &om, &w)) < 0) {
        rc = s3_fail_floe(r, rc, "CompleteMultipartUpload");
        goto out;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        char pk[128];
        size_t pkl = s3_part_key(q->upload_id, parts[i].part_number, pk, sizeof pk);
        floe_reader *rd = NULL;
        if ((rc = floe_reader_open(s->db, pk, pkl, NULL, &rd)) == 0)
            rc = s3_copy_bytes(rd, w, 0, floe_reader_size(rd));
        floe_reader_close(rd);
    }
    if (rc < 0) {
        rc = s3_fail_floe(r, rc, "CompleteMultipartUpload: copying the parts");
        goto out;
    }
    /* Commit like a PUT (invariant 1), then forget the upload. */
    rc = s3_commit_writer(r, w);
    w = NULL;
    if (rc < 0 || q->err_code) {
        if (!q->err_code)
            s3_fail_floe(r, rc, "CompleteMultipartUpload: committing");
        rc = -1;
        goto out;
    }
    if (r->work_precondition)
        goto out;
    if ((rc = delete_upload(s->db, q->bucket, q->upload_id)) < 0)
        http_log(s, 1, "s3: upload %s completed, but deleting its parts failed (the reclaimer retries): %s",
                 q->upload_id, floe_last_error());
    rc = 0;
    buf_puts(&q->out, S3_XML_HEAD "<CompleteMultipartUploadResult xmlns=\"" S3_XMLNS "\"><Location>");
    buf_printf(&q->out, "http://%s/", q->h_host ? q->h_host : "localhost");
    s3_xml_escape(&q->out, q->bucket, q->bucket_len);
    buf_puts(&q->out, "/");
    s3_xml_escape(&q->out, q->object_key, q->object_key_len);
    buf_puts(&q->out, "</Location><Bucket>");
    s3_xml_escape(&q->out, q->bucket, q->bucket_len);
    buf_puts(&q->out, "</Bucket><Key>");
    s3_xml_escape(&q->out, q->object_key, q->object_key_len);
    buf_printf(&q->out, "</Key><ETag>&quot;%s&quot;</ETag></CompleteMultipartUploadResult>\n", etag);
out:
    pthread_rwlock_unlock(ul);
    floe_writer_abort(w);
    free(parts);
    free(md5s);
    free(meta);
    free(ct);
    free(rec);
    return rc < 0 ? -1 : 0;
}

/* ---- lists ---------------------------------------------------------------------------------------- */

enum MHD_Result s3_list_parts(http_req *r, struct MHD_Connection *c)
{
    s3_req *q = r->s3;
    const char *id = s3_query(r, "uploadId");
    if (!id || !id[0] || strlen(id) >= sizeof q->upload_id)
        return s3_respond_error(r, c, 404, "NoSuchUpload", "the upload id is missing or not one of this server's");
    snprintf(q->upload_id, sizeof q->upload_id, "%s", id);
    if (!s3_upload_lookup(r, NULL, NULL))
        return s3_respond_error(r, c, 404, "NoSuchUpload", "no upload %s of this key", id);
    uint64_t marker = 0, max = 1000;
    const char *m = s3_query(r, "part-number-marker"), *mp = s3_query(r, "max-parts");
    if ((m && http_parse_u64(m, &marker) != 0) || (mp && http_parse_u64(mp, &max) != 0))
        return s3_respond_error(r, c, 400, "InvalidArgument", "part-number-marker and max-parts are integers");
    if (max > 1000)
        max = 1000;
    char pp[128], after[128];
    size_t pl = parts_prefix(q->upload_id, pp);
    size_t al = marker ? s3_part_key(q->upload_id, (uint32_t)(marker > S3_MAX_PARTS ? S3_MAX_PARTS : marker), after,
                                     sizeof after)
                       : 0;
    floe_list *l = NULL;
    int rc = floe_list_keys(r->srv->db, pp, pl, al ? after : NULL, al, (size_t)max + 1, &l);
    if (rc < 0)
        return http_respond_floe_error(r, c, rc);
    buf_t b;
    buf_init(&b, HTTP_MAX_ANSWER_BYTES);
    buf_puts(&b, S3_XML_HEAD "<ListPartsResult xmlns=\"" S3_XMLNS "\"><Bucket>");
    s3_xml_escape(&b, q->bucket, q->bucket_len);
    buf_puts(&b, "</Bucket><Key>");
    s3_xml_escape(&b, q->object_key, q->object_key_len);
    buf_printf(&b, "</Key><UploadId>%s</UploadId>", q->upload_id);
    buf_puts(&b, "<Initiator><ID>floe</ID><DisplayName>floe</DisplayName></Initiator>");
    buf_puts(&b, owner_xml);
    buf_puts(&b, "<StorageClass>STANDARD</StorageClass>");
    buf_printf(&b, "<PartNumberMarker>%" PRIu64 "</PartNumberMarker>", marker);
    size_t shown = l->count > max ? (size_t)max : l->count;
    uint32_t last = 0;
    buf_t items;
    buf_init(&items, HTTP_MAX_ANSWER_BYTES);
    for (size_t i = 0; i < shown; i++) {
        const floe_list_entry *e = &l->entries[i];
        uint32_t pn = (uint32_t)strtoul(e->key + pl, NULL, 10);
        char etag[HTTP_ETAG_BYTES];
        http_format_etag(etag, sizeof etag, e->md5_known, e->md5, e->seq);
        buf_printf(&items, "<Part><PartNumber>%u</PartNumber><LastModified>", pn);
        s3_iso8601(&items, e->write_ms);
        buf_puts(&items, "</LastModified><ETag>");
        s3_xml_escape(&items, etag, strlen(etag));
        buf_printf(&items, "</ETag><Size>%" PRIu64 "</Size></Part>", e->value_len);
        last = pn;
    }
    buf_printf(&b, "<NextPartNumberMarker>%u</NextPartNumberMarker><MaxParts>%" PRIu64
                   "</MaxParts><IsTruncated>%s</IsTruncated>",
               last, max, l->count > max ? "true" : "false");
    if (items.len)
        buf_append(&b, items.data, items.len);
    buf_puts(&b, "</ListPartsResult>\n");
    buf_free(&items);
    floe_list_free(l);
    size_t len = 0;
    struct MHD_Response *resp = http_text_response(&b, "application/xml", &len);
    buf_free(&b);
    if (!resp)
        return s3_respond_error(r, c, 500, "InternalError", "the answer is too large or memory ran out");
    return http_queue(r, c, 200, resp, len);
}

struct upload_item {
    char *key;
    size_t key_len;
    char id[40];
    uint64_t initiated_ms;
};

struct collect_ctx {
    struct upload_item *items;
    size_t n, cap;
    const char *prefix;
    size_t prefix_len;
};

static int collect_upload(void *ctx, const char *id, size_t id_len, const floe_value *v)
{
    struct collect_ctx *cc = ctx;
    struct upload_rec u;
    if (id_len >= 40 || parse_record(v, &u) != 0)
        return 0;
    if (u.key_len < cc->prefix_len || memcmp(u.key, cc->prefix, cc->prefix_len) != 0)
        return 0;
    if (cc->n == cc->cap) {
        size_t nc = cc->cap ? cc->cap * 2 : 64;
        if (nc > 100000)
            return 1; /* enough for any page */
        struct upload_item *ni = realloc(cc->items, nc * sizeof *ni);
        if (!ni)
            return err_set(FLOE_ENOMEM, "s3: out of memory listing uploads");
        cc->items = ni;
        cc->cap = nc;
    }
    struct upload_item *it = &cc->items[cc->n];
    it->key = malloc(u.key_len + 1);
    if (!it->key)
        return err_set(FLOE_ENOMEM, "s3: out of memory listing uploads");
    memcpy(it->key, u.key, u.key_len);
    it->key[u.key_len] = '\0';
    it->key_len = u.key_len;
    memcpy(it->id, id, id_len);
    it->id[id_len] = '\0';
    it->initiated_ms = u.initiated_ms;
    cc->n++;
    return 0;
}

static int item_cmp(const void *a, const void *b)
{
    const struct upload_item *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    return x->initiated_ms < y->initiated_ms ? -1 : x->initiated_ms > y->initiated_ms ? 1 : strcmp(x->id, y->id);
}

enum MHD_Result s3_list_uploads(http_req *r, struct MHD_Connection *c)
{
    s3_req *q = r->s3;
    const char *prefix = s3_query(r, "prefix"), *km = s3_query(r, "key-marker"), *im = s3_query(r, "upload-id-marker");
    uint64_t max = 1000;
    const char *mu = s3_query(r, "max-uploads");
    if (mu && http_parse_u64(mu, &max) != 0)
        return s3_respond_error(r, c, 400, "InvalidArgument", "max-uploads must be an integer");
    if (max > 1000)
        max = 1000;
    char up[FLOE_SYSTEM_PREFIX_BYTES + 4 + S3_BUCKET_MAX_BYTES];
    size_t upl = upload_prefix(q->bucket, up);
    struct collect_ctx cc = {.prefix = prefix ? prefix : "", .prefix_len = prefix ? strlen(prefix) : 0};
    int rc = each_upload(r->srv->db, up, upl, collect_upload, &cc);
    enum MHD_Result ret;
    if (rc < 0) {
        ret = http_respond_floe_error(r, c, rc);
        goto out;
    }
    if (cc.n)
        qsort(cc.items, cc.n, sizeof *cc.items, item_cmp);
    buf_t b;
    buf_init(&b, HTTP_MAX_ANSWER_BYTES);
    buf_puts(&b, S3_XML_HEAD "<ListMultipartUploadsResult xmlns=\"" S3_XMLNS "\"><Bucket>");
    s3_xml_escape(&b, q->bucket, q->bucket_len);
    buf_puts(&b, "</Bucket><KeyMarker>");
    if (km)
        s3_xml_escape(&b, km, strlen(km));
    buf_puts(&b, "</KeyMarker><UploadIdMarker>");
    if (im)
        s3_xml_escape(&b, im, strlen(im));
    buf_puts(&b, "</UploadIdMarker>");
    if (prefix) {
        buf_puts(&b, "<Prefix>");
        s3_xml_escape(&b, prefix, strlen(prefix));
        buf_puts(&b, "</Prefix>");
    }
    buf_t items;
    buf_init(&items, HTTP_MAX_ANSWER_BYTES);
    size_t shown = 0, i = 0;
    const struct upload_item *last = NULL;
    for (; i < cc.n; i++) {
        const struct upload_item *it = &cc.items[i];
        if (km) {
            int kc = strcmp(it->key, km);
            if (kc < 0 || (kc == 0 && (!im || strcmp(it->id, im) <= 0)))
                continue;
        }
        if (shown == max)
            break;
        buf_puts(&items, "<Upload><Key>");
        s3_xml_escape(&items, it->key, it->key_len);
        buf_printf(&items, "</Key><UploadId>%s</UploadId>", it->id);
        buf_puts(&items, "<Initiator><ID>floe</ID><DisplayName>floe</DisplayName></Initiator>");
        buf_puts(&items, owner_xml);
        buf_puts(&items, "<StorageClass>STANDARD</StorageClass><Initiated>");
        s3_iso8601(&items, it->initiated_ms);
        buf_puts(&items, "</Initiated></Upload>");
        shown++;
        last = it;
    }
    int truncated = i < cc.n;
    if (truncated && last) {
        buf_puts(&b, "<NextKeyMarker>");
        s3_xml_escape(&b, last->key, last->key_len);
        buf_printf(&b, "</NextKeyMarker><NextUploadIdMarker>%s</NextUploadIdMarker>", last->id);
    }
    buf_printf(&b, "<MaxUploads>%" PRIu64 "</MaxUploads><IsTruncated>%s</IsTruncated>", max,
               truncated ? "true" : "false");
    if (items.len)
        buf_append(&b, items.data, items.len);
    buf_puts(&b, "</ListMultipartUploadsResult>\n");
    buf_free(&items);
    size_t len = 0;
    struct MHD_Response *resp = http_text_response(&b, "application/xml", &len);
    buf_free(&b);
    ret = resp ? http_queue(r, c, 200, resp, len)
               : s3_respond_error(r, c, 500, "InternalError", "the answer is too large or memory ran out");
out:
    for (size_t k = 0; k < cc.n; k++)
        free(cc.items[k].key);
    free(cc.items);
    return ret;
}
