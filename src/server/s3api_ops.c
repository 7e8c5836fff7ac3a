/* The S3 API's bucket, list and object operations (see s3api.h): ListBuckets, CreateBucket,
 * HeadBucket, DeleteBucket, GetBucketLocation, ListObjects (v1 and v2), PutObject's headers,
 * GetObject's and HeadObject's headers, CopyObject (and UploadPartCopy), DeleteObject and
 * DeleteObjects.
 *
 * Invariants:
 * 1. A list never returns a key outside its bucket's prefix "bucket/", and its continuation token
 *    is the (base64) position it stopped at, so pages neither repeat nor skip a key.
 * 2. A copy reads one version of its source (a floe_reader) and writes the destination with a
 *    writer committed like a PUT (key lock, bucket lock shared): it is whole or absent.
 */
#include "s3api.h"

#include <ctype.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "s3_xml.h"
#include "sigv4.h"

/* A copy moves the bytes through a buffer of this size. */
#define S3_COPY_BUFFER_BYTES (1u << 20)

static const char *const owner_xml = "<Owner><ID>floe</ID><DisplayName>floe</DisplayName></Owner>";

/* Queues the XML in b (taken over) as a 200 answer. */
static enum MHD_Result respond_xml(http_req *r, struct MHD_Connection *c, buf_t *b)
{
    size_t len = 0;
    struct MHD_Response *resp = http_text_response(b, "application/xml", &len);
    if (!resp)
        return s3_respond_error(r, c, 500, "InternalError", "the answer is too large or memory ran out");
    return http_queue(r, c, 200, resp, len);
}

/* Appends n bytes of s as XML text, URL-encoded first when url. */
static void put_text(buf_t *b, const char *s, size_t n, int url)
{
    if (!url) {
        s3_xml_escape(b, s, n);
        return;
    }
    size_t cap = 3 * n + 1;
    char *enc = malloc(cap);
    if (!enc) {
        b->failed = 1;
        return;
    }
    long el = sigv4_uri_encode(s, n, 1, enc, cap);
    if (el >= 0)
        s3_xml_escape(b, enc, (size_t)el);
    free(enc);
}

static void put_elem(buf_t *b, const char *name, const char *s, size_t n, int url)
{
    buf_printf(b, "<%s>", name);
    put_text(b, s, n, url);
    buf_printf(b, "</%s>", name);
}

/* ---- buckets ------------------------------------------------------------------------------------ */

enum MHD_Result s3_list_buckets(http_req *r, struct MHD_Connection *c)
{
    s3_api *a = r->srv->s3;
    buf_t b;
    buf_init(&b, HTTP_MAX_ANSWER_BYTES);
    buf_puts(&b, S3_XML_HEAD "<ListAllMyBucketsResult xmlns=\"" S3_XMLNS "\">");
    buf_puts(&b, owner_xml);
    buf_puts(&b, "<Buckets>");
    pthread_rwlock_rdlock(&a->lock);
    for (size_t i = 0; i < a->n_buckets; i++) {
        buf_puts(&b, "<Bucket>");
        put_elem(&b, "Name", a->buckets[i], strlen(a->buckets[i]), 0);
        buf_puts(&b, "<CreationDate>");
        s3_iso8601(&b, a->bucket_created_ms[i]);
        buf_puts(&b, "</CreationDate></Bucket>");
    }
    pthread_rwlock_unlock(&a->lock);
    buf_puts(&b, "</Buckets></ListAllMyBucketsResult>\n");
    return respond_xml(r, c, &b);
}

enum MHD_Result s3_head_bucket(http_req *r, struct MHD_Connection *c)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "x-amz-bucket-region", r->srv->cfg->s3.region);
    return http_queue(r, c, 200, resp, 0);
}

enum MHD_Result s3_get_bucket_location(http_req *r, struct MHD_Connection *c)
{
    buf_t b;
    buf_init(&b, 4096);
    const char *region = r->srv->cfg->s3.region;
    buf_puts(&b, S3_XML_HEAD "<LocationConstraint xmlns=\"" S3_XMLNS "\">");
    if (strcmp(region, "us-east-1") != 0) /* S3 names us-east-1 by an empty constraint */
        s3_xml_escape(&b, region, strlen(region));
    buf_puts(&b, "</LocationConstraint>\n");
    return respond_xml(r, c, &b);
}

/* The system key of bucket name into out (cap at least FLOE_SYSTEM_PREFIX_BYTES + 2 +
 * S3_BUCKET_MAX_BYTES); returns its length. */
static size_t bucket_record_key(const char *name, char *out)
{
    size_t n = strlen(name);
    memcpy(out, FLOE_SYSTEM_PREFIX, FLOE_SYSTEM_PREFIX_BYTES);
    memcpy(out + FLOE_SYSTEM_PREFIX_BYTES, "b/", 2);
    memcpy(out + FLOE_SYSTEM_PREFIX_BYTES + 2, name, n);
    return FLOE_SYSTEM_PREFIX_BYTES + 2 + n;
}

int s3_create_bucket_work(http_req *r)
{
    s3_req *q = r->s3;
    s3_api *a = r->srv->s3;
    char loc[128] = "";
    const char *code = NULL;
    char msg[256];
    if (q->body.len && s3_xml_parse_create_bucket(q->body.data, q->body.len, loc, sizeof loc, &code, msg, sizeof msg) != 0)
        return s3_fail(r, 400, code ? code : "MalformedXML", "%s", msg);
    if (loc[0] && strcmp(loc, r->srv->cfg->s3.region) != 0)
        return s3_fail(r, 400, "IllegalLocationConstraintException",
                       "this server's region is %s; the request asked for %s", r->srv->cfg->s3.region, loc);
    char key[FLOE_SYSTEM_PREFIX_BYTES + 2 + S3_BUCKET_MAX_BYTES];
    size_t kl = bucket_record_key(q->bucket, key);
    pthread_rwlock_wrlock(&a->lock);
    int rc = 0;
    if (s3_bucket_exists(a, q->bucket, NULL)) {
        rc = s3_fail(r, 409, "BucketAlreadyOwnedByYou", "the bucket '%s' exists already, and is yours", q->bucket);
    } else if (a->n_buckets >= S3_MAX_BUCKETS) {
        rc = s3_fail(r, 400, "TooManyBuckets", "this server keeps at most %d buckets", S3_MAX_BUCKETS);
    } else if ((rc = floe_put(r->srv->db, key, kl, "1", 1, NULL, NULL)) < 0) {
        rc = s3_fail_floe(r, rc, "CreateBucket");
    } else {
        size_t at = 0;
        while (at < a->n_buckets && strcmp(a->buckets[at], q->bucket) < 0)
            at++;
        memmove(a->buckets[at + 1], a->buckets[at], (a->n_buckets - at) * sizeof *a->buckets);
        memmove(&a->bucket_created_ms[at + 1], &a->bucket_created_ms[at],
                (a->n_buckets - at) * sizeof *a->bucket_created_ms);
        snprintf(a->buckets[at], sizeof a->buckets[at], "%s", q->bucket);
        a->bucket_created_ms[at] = (uint64_t)time(NULL) * 1000;
        a->n_buckets++;
    }
    pthread_rwlock_unlock(&a->lock);
    return rc < 0 ? -1 : 0;
}

/* Aborts every multipart upload of bucket (DeleteBucket). */
int s3_abort_bucket_uploads(http_req *r);

int s3_delete_bucket_work(http_req *r)
{
    s3_req *q = r->s3;
    s3_api *a = r->srv->s3;
    char prefix[S3_BUCKET_MAX_BYTES + 2];
    size_t pl = (size_t)snprintf(prefix, sizeof prefix, "%s/", q->bucket);
    char key[FLOE_SYSTEM_PREFIX_BYTES + 2 + S3_BUCKET_MAX_BYTES];
    size_t kl = bucket_record_key(q->bucket, key);
    pthread_rwlock_wrlock(&a->lock); /* s3api.c invariant 3 */
    floe_list *l = NULL;
    int rc = floe_list_keys(r->srv->db, prefix, pl, NULL, 0, 1, &l);
    if (rc < 0) {
        rc = s3_fail_floe(r, rc, "DeleteBucket: listing the bucket");
    } else if (l->count > 0) {
        rc = s3_fail(r, 409, "BucketNotEmpty", "the bucket '%s' is not empty: delete its objects first", q->bucket);
    } else if ((rc = s3_abort_bucket_uploads(r)) < 0 || (rc = floe_delete(r->srv->db, key, kl, NULL)) < 0) {
        rc = s3_fail_floe(r, rc, "DeleteBucket");
    } else {
        for (size_t i = 0; i < a->n_buckets; i++) {
            if (strcmp(a->buckets[i], q->bucket) != 0)
                continue;
            memmove(a->buckets[i], a->buckets[i + 1], (a->n_buckets - i - 1) * sizeof *a->buckets);
            memmove(&a->bucket_created_ms[i], &a->bucket_created_ms[i + 1],
                    (a->n_buckets - i - 1) * sizeof *a->bucket_created_ms);
            a->n_buckets--;
            break;
        }
        q->out_status = 204;
    }
    floe_list_free(l);
    pthread_rwlock_unlock(&a->lock);
    return rc < 0 ? -1 : 0;
}

/* ---- lists -------------------------------------------------------------------------------------- */

/* Walks a bucket's keys under a prefix in order from a cursor, in pages of the store's lists. */
struct walker {
    floe_t *db;
    char prefix[FLOE_MAX_KEY_BYTES + 1];
    size_t prefix_len;
    char cursor[FLOE_MAX_KEY_BYTES + 1];
    size_t cursor_len;
    floe_list *page;
    size_t at;
    int exhausted;
};

/* The next entry (owned by the walker until the next call), NULL at the end; rc < 0 on an error. */
static const floe_list_entry *walk_next(struct walker *w, int *rc)
{
    *rc = 0;
    for (;;) {
        if (w->page && w->at < w->page->count) {
            const floe_list_entry *e = &w->page->entries[w->at++];
            memcpy(w->cursor, e->key, e->key_len);
            w->cursor_len = e->key_len;
            return e;
        }
        if (w->exhausted)
            return NULL;
        size_t had = w->page ? w->page->count : 0;
        floe_list_free(w->page);
        w->page = NULL;
        w->at = 0;
        if (had && had < 1000) {
            w->exhausted = 1;
            return NULL;
        }
        *rc = floe_list_keys(w->db, w->prefix, w->prefix_len, w->cursor_len ? w->cursor : NULL, w->cursor_len, 1000,
                             &w->page);
        if (*rc < 0)
            return NULL;
        if (w->page->count == 0) {
            w->exhausted = 1;
            return NULL;
        }
    }
}

/* Moves the cursor past every key that begins with the n bytes at p. */
static void walk_skip_prefix(struct walker *w, const char *p, size_t n)
{
    memcpy(w->cursor, p, n);
    memset(w->cursor + n, 0xff, FLOE_MAX_KEY_BYTES - n);
    w->cursor_len = FLOE_MAX_KEY_BYTES;
    floe_list_free(w->page);
    w->page = NULL;
    w->at = 0;
    w->exhausted = 0;
}

/* Continuation tokens: base64 of 'k' and the last key, or 'p' and the last common prefix. */
static void put_token(buf_t *b, char kind, const char *s, size_t n)
{
    unsigned char raw[FLOE_MAX_KEY_BYTES + 2];
    unsigned char enc[4 * ((FLOE_MAX_KEY_BYTES + 4) / 3) + 4];
    raw[0] = (unsigned char)kind;
    memcpy(raw + 1, s, n);
    int el = EVP_EncodeBlock(enc, raw, (int)(n + 1));
    buf_append(b, enc, (size_t)el);
}

static int read_token(const char *t, char *kind, char *out, size_t *n)
{
    size_t tl = strlen(t);
    if (tl == 0 || tl % 4 != 0 || tl > 4 * ((FLOE_MAX_KEY_BYTES + 4) / 3))
        return -1;
    unsigned char raw[4 * ((FLOE_MAX_KEY_BYTES + 4) / 3) + 4];
    int rl = EVP_DecodeBlock(raw, (const unsigned char *)t, (int)tl);
    if (rl < 1)
        return -1;
    if (t[tl - 1] == '=')
        rl--;
    if (tl > 1 && t[tl - 2] == '=')
        rl--;
    if (rl < 1 || (raw[0] != 'k' && raw[0] != 'p') || (size_t)rl - 1 > FLOE_MAX_KEY_BYTES)
        return -1;
    *kind = (char)raw[0];
    memcpy(out, raw + 1, (size_t)rl - 1);
    *n = (size_t)rl - 1;
    return 0;
}

static int parse_max(const char *s, uint32_t dflt, uint32_t cap, uint32_t *out)
{
    if (!s) {
        *out = dflt;
        return 0;
    }
    uint64_t v = 0;
    if (http_parse_u64(s, &v) != 0)
        return -1;
    *out = v > cap ? cap : (uint32_t)v;
    return 0;
}

/* Starts w (whose prefix is the bucket's, base bytes, then the list's) after a continuation token, or
 * else after start-after / marker. -1 for a token that is not one of this API's. */
static int set_cursor(struct walker *w, size_t base, const char *token, const char *after)
{
    if (token) {
        char kind;
        char tk[FLOE_MAX_KEY_BYTES + 1];
        size_t tn = 0;
        if (read_token(token, &kind, tk, &tn) != 0 || base + tn > FLOE_MAX_KEY_BYTES)
            return -1;
        memcpy(w->cursor, w->prefix, base);
        memcpy(w->cursor + base, tk, tn);
        w->cursor_len = base + tn;
        if (kind == 'p')
            walk_skip_prefix(w, w->cursor, w->cursor_len);
    } else if (after && after[0]) {
        size_t al = strlen(after);
        if (base + al <= FLOE_MAX_KEY_BYTES) {
            memcpy(w->cursor, w->prefix, base);
            memcpy(w->cursor + base, after, al);
            w->cursor_len = base + al;
        }
    }
    return 0;
}

/* Appends the <Contents> of entry e, whose key in its bucket is the kl bytes at k. */
static void put_contents(buf_t *b, const floe_list_entry *e, const char *k, size_t kl, int owner, int url)
{
    buf_puts(b, "<Contents>");
    put_elem(b, "Key", k, kl, url);
    buf_puts(b, "<LastModified>");
    s3_iso8601(b, e->write_ms);
    buf_puts(b, "</LastModified>");
    char etag[HTTP_ETAG_BYTES];
    floe_value as_value = {.user_meta = e->user_meta, .user_meta_len = e->user_meta_len};
    if (!s3_multipart_etag(&as_value, etag, sizeof etag)) /* the ETag HEAD gives, multipart too */
        http_format_etag(etag, sizeof etag, e->md5_known, e->md5, e->seq);
    put_elem(b, "ETag", etag, strlen(etag), 0);
    buf_printf(b, "<Size>%" PRIu64 "</Size>", e->value_len);
    if (owner)
        buf_puts(b, owner_xml);
    buf_puts(b, "<StorageClass>STANDARD</StorageClass></Contents>");
}

/* A list request's parameters (ListObjects v1 or v2). */
typedef struct list_req {
    const char *prefix, *delim, *token, *after; /* prefix "" if absent; the others may be NULL */
    size_t plen, dlen;
    int v2, url, owner; /* url: encoding-type=url; owner: <Owner> in each <Contents> */
    uint32_t max_keys;
} list_req;

/* What a list found: the answer's <Contents> and <CommonPrefixes>, and where it stopped. */
typedef struct list_out {
    buf_t items, cps;
    uint32_t count;
    int truncated;
    char last_kind; /* 'k' a key, 'p' a common prefix: the continuation token's kind */
    char *last;     /* FLOE_MAX_KEY_BYTES + 1; NULL if out of memory */
    size_t last_len;
} list_out;

/* Reads the query into *p. Returns 1, or 0 with the refusal in *ret. */
static int list_read_params(http_req *r, struct MHD_Connection *c, int v2, list_req *p, enum MHD_Result *ret)
{
    memset(p, 0, sizeof *p);
    p->v2 = v2;
    p->prefix = s3_query(r, "prefix");
    p->delim = s3_query(r, "delimiter");
    p->token = v2 ? s3_query(r, "continuation-token") : NULL;
    p->after = v2 ? s3_query(r, "start-after") : s3_query(r, "marker");
    const char *enc = s3_query(r, "encoding-type"), *fo = s3_query(r, "fetch-owner");
    if (enc && strcmp(enc, "url") != 0) {
        *ret = s3_respond_error(r, c, 400, "InvalidArgument", "encoding-type must be 'url'");
        return 0;
    }
    p->url = enc != NULL;
    p->owner = !v2 || (fo && strcmp(fo, "true") == 0);
    p->max_keys = 1000;
    if (parse_max(s3_query(r, "max-keys"), 1000, r->srv->cfg->s3.list_max_keys, &p->max_keys) != 0) {
        *ret = s3_respond_error(r, c, 400, "InvalidArgument", "max-keys must be a non-negative integer");
        return 0;
    }
    if (!p->prefix)
        p->prefix = "";
    p->plen = strlen(p->prefix);
    p->dlen = p->delim ? strlen(p->delim) : 0;
    return 1;
}

/* Notes k (kl bytes, of kind) as the last thing listed. */
static void list_note_last(list_out *o, const char *k, size_t kl, char kind)
{
    memcpy(o->last, k, kl);
    o->last_len = kl;
    o->last_kind = kind;
    o->count++;
}

/* Walks the bucket's keys (their "bucket/" is base bytes) into o: keys as <Contents>, and with a
 * delimiter the prefixes up to it as <CommonPrefixes>, max_keys of them in all. Returns 0 or the
 * store's error. */
static int list_collect(struct walker *w, size_t base, const list_req *p, list_out *o)
{
    int rc = 0;
    const floe_list_entry *e;
    size_t al = p->after ? strlen(p->after) : 0;
    while (o->last && (e = walk_next(w, &rc)) != NULL) {
        const char *k = e->key + base;
        size_t kl = e->key_len - base;
        const char *hit = NULL;
        for (size_t i = p->plen; p->dlen && i + p->dlen <= kl && !hit; i++)
            if (memcmp(k + i, p->delim, p->dlen) == 0)
                hit = k + i;
        if (hit) {
            size_t cpl = (size_t)(hit - k) + p->dlen;
            int cmp = al ? memcmp(k, p->after, cpl < al ? cpl : al) : 1;
            if (al && (cmp < 0 || (cmp == 0 && cpl <= al))) {
                /* the marker lies in this prefix (a NextMarker that was one): it was listed */
                walk_skip_prefix(w, e->key, base + cpl);
                continue;
            }
        }
        if (o->count == p->max_keys) {
            o->truncated = 1;
            break;
        }
        if (hit) {
            size_t cpl = (size_t)(hit - k) + p->dlen;
            buf_puts(&o->cps, "<CommonPrefixes>");
            put_elem(&o->cps, "Prefix", k, cpl, p->url);
            buf_puts(&o->cps, "</CommonPrefixes>");
            list_note_last(o, k, cpl, 'p');
            walk_skip_prefix(w, e->key, base + cpl);
            continue;
        }
        put_contents(&o->items, e, k, kl, p->owner, p->url);
        list_note_last(o, k, kl, 'k');
    }
    return rc;
}

/* The ListBucketResult of bucket q->bucket for p, with what o found, into b. */
static void list_result_xml(buf_t *b, const s3_req *q, const list_req *p, const list_out *o)
{
    buf_puts(b, S3_XML_HEAD "<ListBucketResult xmlns=\"" S3_XMLNS "\">");
    put_elem(b, "Name", q->bucket, q->bucket_len, 0);
    put_elem(b, "Prefix", p->prefix, p->plen, p->url);
    if (p->v2) {
        if (p->token)
            put_elem(b, "ContinuationToken", p->token, strlen(p->token), 0);
        if (p->after)
            put_elem(b, "StartAfter", p->after, strlen(p->after), p->url);
        buf_printf(b, "<KeyCount>%u</KeyCount>", o->count);
    } else {
        put_elem(b, "Marker", p->after ? p->after : "", p->after ? strlen(p->after) : 0, p->url);
    }
    buf_printf(b, "<MaxKeys>%u</MaxKeys>", p->max_keys);
    if (p->dlen)
        put_elem(b, "Delimiter", p->delim, p->dlen, p->url);
    if (p->url)
        buf_puts(b, "<EncodingType>url</EncodingType>");
    buf_printf(b, "<IsTruncated>%s</IsTruncated>", o->truncated ? "true" : "false");
    if (o->truncated && o->last_len) {
        if (p->v2) {
            buf_puts(b, "<NextContinuationToken>");
            put_token(b, o->last_kind, o->last, o->last_len);
            buf_puts(b, "</NextContinuationToken>");
        } else {
            put_elem(b, "NextMarker", o->last, o->last_len, p->url);
        }
    }
    if (o->items.len)
        buf_append(b, o->items.data, o->items.len);
    if (o->cps.len)
        buf_append(b, o->cps.data, o->cps.len);
    buf_puts(b, "</ListBucketResult>\n");
}

enum MHD_Result s3_list_objects(http_req *r, struct MHD_Connection *c, int v2)
{
    s3_req *q = r->s3;
    list_req p;
    enum MHD_Result ret = MHD_NO;
    if (!list_read_params(r, c, v2, &p, &ret))
        return ret;
    struct walker *w = calloc(1, sizeof *w);
    if (!w)
        return s3_respond_error(r, c, 503, "SlowDown", "out of memory");
    w->db = r->srv->db;
    w->prefix_len = (size_t)snprintf(w->prefix, sizeof w->prefix, "%s/", q->bucket);
    if (w->prefix_len + p.plen > FLOE_MAX_KEY_BYTES) {
        free(w);
        return s3_respond_error(r, c, 400, "KeyTooLongError", "the prefix is too long");
    }
    memcpy(w->prefix + w->prefix_len, p.prefix, p.plen);
    size_t base = w->prefix_len; /* bytes of "bucket/" */
    w->prefix_len += p.plen;
    if (set_cursor(w, base, p.token, p.after) != 0) {
        free(w);
        return s3_respond_error(r, c, 400, "InvalidArgument", "the continuation token provided is incorrect");
    }
    list_out o = {.last = malloc(FLOE_MAX_KEY_BYTES + 1)};
    buf_init(&o.items, HTTP_MAX_ANSWER_BYTES);
    buf_init(&o.cps, HTTP_MAX_ANSWER_BYTES);
    int rc = list_collect(w, base, &p, &o);
    floe_list_free(w->page);
    free(w);
    if (!o.last) {
        ret = s3_respond_error(r, c, 503, "SlowDown", "out of memory");
    } else if (rc < 0) {
        ret = http_respond_floe_error(r, c, rc);
    } else {
        buf_t b;
        buf_init(&b, HTTP_MAX_ANSWER_BYTES);
        list_result_xml(&b, q, &p, &o);
        ret = respond_xml(r, c, &b);
        buf_free(&b);
    }
    free(o.last);
    buf_free(&o.items);
    buf_free(&o.cps);
    return ret;
}

/* ---- object headers ----------------------------------------------------------------------------- */

/* The S3 attributes stored beside the user metadata: request header, blob name, override. */
static const struct {
    const char *header, *name, *override;
} attrs[] = {
    {"Content-Encoding", ":content-encoding", "response-content-encoding"},
    {"Content-Disposition", ":content-disposition", "response-content-disposition"},
    {"Cache-Control", ":cache-control", "response-cache-control"},
    {"Expires", ":expires", "response-expires"},
    {"Content-Language", ":content-language", "response-content-language"},
    {NULL, NULL, NULL},
};

struct meta_walk {
    http_req *r;
    size_t user_bytes;
    const char *bad;
    char bad_name[96];
};

static enum MHD_Result collect_amz_meta(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct meta_walk *m = cls;
    static const char pfx[] = "x-amz-meta-";
    if (strncasecmp(key, pfx, sizeof pfx - 1) != 0)
        return MHD_YES;
    const char *name = key + sizeof pfx - 1;
    size_t nl = strlen(name), vl = value ? strlen(value) : 0;
    char lower[256];
    if (nl == 0 || nl >= sizeof lower) {
        m->bad = "InvalidArgument";
        snprintf(m->bad_name, sizeof m->bad_name, "%.80s", key);
        return MHD_NO;
    }
    for (size_t i = 0; i <= nl; i++)
        lower[i] = (char)tolower((unsigned char)name[i]);
    m->user_bytes += nl + vl;
    if (m->user_bytes > S3_MAX_USER_META_BYTES) {
        m->bad = "MetadataTooLarge";
        snprintf(m->bad_name, sizeof m->bad_name, "%.80s", key);
        return MHD_NO;
    }
    http_req *r = m->r;
    if (s3_meta_get(r->user_meta, r->user_meta_len, lower)) {
        /* sent twice: HTTP joins repeated fields with a comma; do the same */
        return MHD_YES;
    }
    if (s3_meta_put(r->user_meta, sizeof r->user_meta, &r->user_meta_len, lower, value ? value : "") != 0) {
        m->bad = "MetadataTooLarge";
        snprintf(m->bad_name, sizeof m->bad_name, "%.80s", key);
        return MHD_NO;
    }
    return MHD_YES;
}

/* Content-Encoding without the aws-chunked coding (which describes the request body only). */
static void strip_aws_chunked(const char *in, char *out, size_t cap)
{
    out[0] = '\0';
    size_t o = 0;
    const char *p = in;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t && p[t - 1] == ' ')
            t--;
        if (t && !(t == 11 && strncasecmp(p, "aws-chunked", 11) == 0) && o + t + 2 < cap) {
            if (o)
                out[o++] = ',';
            memcpy(out + o, p, t);
            o += t;
            out[o] = '\0';
        }
        p += n;
    }
}

int s3_read_object_headers(http_req *r, struct MHD_Connection *c, enum MHD_Result *ret)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    r->has_content_type = 0;
    if (ct && ct[0]) {
        if (!http_content_type_valid(ct)) {
            *ret = s3_respond_error(r, c, 400, "InvalidArgument", "Content-Type must be 1..%d bytes of printable ASCII",
                                    FLOE_MAX_CONTENT_TYPE_BYTES);
            return 0;
        }
        snprintf(r->content_type, sizeof r->content_type, "%s", ct);
        r->has_content_type = 1;
    }
    r->user_meta_len = 0;
    struct meta_walk m = {.r = r};
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_amz_meta, &m);
    if (m.bad) {
        if (strcmp(m.bad, "MetadataTooLarge") == 0)
            *ret = s3_respond_error(r, c, 400, m.bad, "the x-amz-meta-* headers take more than %d bytes, at %s",
                                    S3_MAX_USER_META_BYTES, m.bad_name);
        else
            *ret = s3_respond_error(r, c, 400, m.bad, "%s is not a metadata header floe can store", m.bad_name);
        return 0;
    }
    for (size_t i = 0; attrs[i].header; i++) {
        const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, attrs[i].header);
        if (!v || !v[0])
            continue;
        char clean[1024];
        if (i == 0) {
            strip_aws_chunked(v, clean, sizeof clean);
            if (!clean[0])
                continue;
            v = clean;
        }
        if (strlen(v) > 1024 || s3_meta_put(r->user_meta, sizeof r->user_meta, &r->user_meta_len, attrs[i].name, v) != 0) {
            *ret = s3_respond_error(r, c, 400, "InvalidArgument", "%s is longer than this server stores (1 KiB)",
                                    attrs[i].header);
            return 0;
        }
    }
    return 1;
}

int s3_part_range(const http_req *r, const floe_value *v, char *range, size_t cap)
{
    const char *pn = s3_query(r, "partNumber");
    uint64_t n = 0;
    if (!pn)
        return 0;
    if (http_parse_u64(pn, &n) != 0 || n < 1 || n > S3_MAX_PARTS)
        return -1;
    const char *parts = s3_meta_get(v->user_meta, v->user_meta_len, ":parts");
    const char *sizes = s3_meta_get(v->user_meta, v->user_meta_len, ":partsizes");
    uint64_t count = parts ? strtoull(parts, NULL, 10) : 1, first = 0, len = v->len;
    if (n > count)
        return -1;
    if (parts) {
        if (!sizes)
            return -1; /* made before part sizes were kept: no way to find the part */
        if (strncmp(sizes, "U,", 2) == 0) { /* every part but the last of one size */
            uint64_t ps = strtoull(sizes + 2, NULL, 10);
            first = (n - 1) * ps;
            len = n < count ? ps : v->len - first;
        } else {
            const char *p = sizes;
            for (uint64_t i = 1; i < n && p; i++) {
                first += strtoull(p, NULL, 10);
                p = strchr(p, ',');
                if (p)
                    p++;
            }
            if (!p)
                return -1;
            len = strtoull(p, NULL, 10);
        }
    }
    if (len == 0 || first + len > v->len)
        return -1;
    snprintf(range, cap, "bytes=%" PRIu64 "-%" PRIu64, first, first + len - 1);
    return 1;
}

void s3_add_object_headers(http_req *r, struct MHD_Connection *c, struct MHD_Response *resp, const floe_value *v,
                           int partial)
{
    const char *ct = s3_query(r, "response-content-type");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            ct ? ct : v->content_type ? v->content_type : "binary/octet-stream");
    size_t pos = 0;
    const char *key, *val;
    char header[300];
    while (s3_meta_next(v->user_meta, v->user_meta_len, &pos, &key, &val)) {
        if (key[0] != ':') { /* the user's pairs; the S3 attributes follow */
            snprintf(header, sizeof header, "x-amz-meta-%s", key);
            MHD_add_response_header(resp, header, val);
        }
    }
    for (size_t i = 0; attrs[i].header; i++) {
        const char *o = s3_query(r, attrs[i].override);
        const char *stored = s3_meta_get(v->user_meta, v->user_meta_len, attrs[i].name);
        if (o || stored)
            MHD_add_response_header(resp, attrs[i].header, o ? o : stored);
    }
    const char *parts = s3_meta_get(v->user_meta, v->user_meta_len, ":parts");
    if (parts)
        MHD_add_response_header(resp, "x-amz-mp-parts-count", parts);
    const char *mode = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-amz-checksum-mode");
    if (mode && strcasecmp(mode, "ENABLED") == 0 && !partial) {
        for (int a = 0; a < S3_CK_COUNT; a++) {
            char name[48];
            snprintf(name, sizeof name, ":%s", s3_checksum_header((enum s3_checksum_algo)a));
            const char *ck = s3_meta_get(v->user_meta, v->user_meta_len, name);
            if (ck)
                MHD_add_response_header(resp, s3_checksum_header((enum s3_checksum_algo)a), ck);
        }
    }
}

/* ---- PutObject, UploadPart ------------------------------------------------------------------------ */

int s3_read_part_target(http_req *r, struct MHD_Connection *c, enum MHD_Result *ret)
{
    s3_req *q = r->s3;
    const char *pn = s3_query(r, "partNumber"), *id = s3_query(r, "uploadId");
    uint64_t n = 0;
    if (!pn || http_parse_u64(pn, &n) != 0 || n < 1 || n > S3_MAX_PARTS) {
        *ret = s3_respond_error(r, c, 400, "InvalidArgument", "partNumber must be an integer from 1 to %d", S3_MAX_PARTS);
        return 0;
    }
    if (!id || !id[0] || strlen(id) >= sizeof q->upload_id) {
        *ret = s3_respond_error(r, c, 404, "NoSuchUpload", "the upload id is missing or not one of this server's");
        return 0;
    }
    snprintf(q->upload_id, sizeof q->upload_id, "%s", id);
    q->part_number = (uint32_t)n;
    if (!s3_upload_lookup(r, NULL, NULL)) {
        *ret = s3_respond_error(r, c, 404, "NoSuchUpload", "no upload %s of this key (it was completed or aborted)", id);
        return 0;
    }
    r->key_len = s3_part_key(q->upload_id, q->part_number, r->key, sizeof r->key);
    return 1;
}

enum MHD_Result s3_begin_put_object(http_req *r, struct MHD_Connection *c)
{
    s3_req *q = r->s3;
    enum MHD_Result ret = MHD_NO;
    if (q->op == S3_UPLOAD_PART) {
        if (!s3_read_part_target(r, c, &ret))
            return ret;
        r->has_content_type = 0;
        r->user_meta_len = 0;
    } else if (!s3_read_object_headers(r, c, &ret)) {
        return ret;
    }
    if (http_collect_conditions(r, c) != 0)
        return s3_respond_error(r, c, 503, "SlowDown", "out of memory reading the request headers");
    int streaming = q->auth.payload == S3_PAYLOAD_STREAMING_SIGNED ||
                    q->auth.payload == S3_PAYLOAD_STREAMING_SIGNED_TRAILER ||
                    q->auth.payload == S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
    const char *len_h = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, streaming ? "x-amz-decoded-content-length" : MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    uint64_t len = 0;
    if (!len_h || (te && !streaming))
        return s3_respond_error(r, c, 411, "MissingContentLength",
                                streaming ? "an aws-chunked upload needs x-amz-decoded-content-length"
                                          : "PUT needs a Content-Length header");
    if (http_parse_u64(len_h, &len) != 0)
        return s3_respond_error(r, c, 400, "InvalidArgument", "%s is not a decimal number",
                                streaming ? "x-amz-decoded-content-length" : "Content-Length");
    uint64_t max = r->srv->cfg->options.max_object_bytes;
    if (len > max)
        return s3_respond_error(r, c, 400, "EntityTooLarge",
                                "the body of %" PRIu64 " bytes exceeds max_object_bytes %" PRIu64, len, max);
    const char *md5 = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-MD5");
    if (md5) {
        if (http_decode_digest(md5, r->want_md5, sizeof r->want_md5, 0) < 0)
            return s3_respond_error(r, c, 400, "InvalidDigest", "Content-MD5 must be the base64 of a 16-byte digest");
        r->has_want_md5 = 1;
    }
    if (q->auth.payload == S3_PAYLOAD_SHA256) {
        if (http_decode_digest(q->auth.payload_sha256, r->want_sha256, sizeof r->want_sha256, 1) < 0)
            return s3_respond_error(r, c, 400, "InvalidArgument", "x-amz-content-sha256 is not a SHA-256");
        if (!(r->sha256_ctx = EVP_MD_CTX_new()) || EVP_DigestInit_ex(r->sha256_ctx, EVP_sha256(), NULL) != 1)
            return s3_respond_error(r, c, 503, "SlowDown", "out of memory starting the SHA-256 of the body");
    }
    if (!s3_setup_body(r, c, &ret))
        return ret;
    r->body_expected = len;
    return http_put_start(r, c);
}

/* ---- copies ----------------------------------------------------------------------------------------- */

/* Metadata of a copied object without what described the source's bytes alone. */
static void copy_meta_of(const floe_value *v, unsigned char *out, size_t cap, size_t *len)
{
    *len = 0;
    size_t pos = 0;
    const char *p, *val;
    while (s3_meta_next(v->user_meta, v->user_meta_len, &pos, &p, &val))
        if (strcmp(p, ":etag") != 0 && strcmp(p, ":parts") != 0 && strcmp(p, ":partsizes") != 0 &&
            strncmp(p, ":x-amz-checksum-", 16) != 0)
            s3_meta_put(out, cap, len, p, val);
}

/* Parses x-amz-copy-source ("[/]bucket/key[?versionId=...]", percent-encoded) into r->s3->copy_src
 * (the store key). 0, or -1 with the work's error set. */
static int parse_copy_source(http_req *r, const char *src)
{
    s3_req *q = r->s3;
    size_t n = strcspn(src, "?");
    if (src[0] == '/') {
        src++;
        n--;
    }
    char *dec = malloc(n + 1);
    if (!dec)
        return s3_fail(r, 503, "SlowDown", "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '%' && i + 2 < n + 0 + 1 && isxdigit((unsigned char)src[i + 1]) && i + 2 < n &&
            isxdigit((unsigned char)src[i + 2])) {
            char hex[3] = {src[i + 1], src[i + 2], 0};
            dec[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            dec[o++] = src[i];
        }
    }
    dec[o] = '\0';
    char *slash = memchr(dec, '/', o);
    if (!slash || slash == dec || slash + 1 == dec + o || memchr(dec, '\0', o)) {
        free(dec);
        return s3_fail(r, 400, "InvalidArgument", "x-amz-copy-source must be bucket/key");
    }
    *slash = '\0';
    pthread_rwlock_rdlock(&r->srv->s3->lock);
    int exists = s3_bucket_exists(r->srv->s3, dec, NULL);
    pthread_rwlock_unlock(&r->srv->s3->lock);
    if (!exists) {
        s3_fail(r, 404, "NoSuchBucket", "the copy source's bucket '%s' does not exist", dec);
        free(dec);
        return -1;
    }
    q->copy_src = malloc(FLOE_MAX_KEY_BYTES + 1);
    size_t kl = q->copy_src ? s3_store_key(dec, slash + 1, strlen(slash + 1), q->copy_src) : 0;
    free(dec);
    if (!kl)
        return s3_fail(r, 400, "KeyTooLongError", "the copy source's key is too long");
    q->copy_src_len = kl;
    return 0;
}

int s3_copy_bytes(floe_reader *rd, floe_writer *w, uint64_t first, uint64_t len)
{
    unsigned char *buf = malloc(S3_COPY_BUFFER_BYTES);
    if (!buf)
        return err_set(FLOE_ENOMEM, "copy: out of memory");
    int rc = 0;
    for (uint64_t at = 0; at < len && rc == 0;) {
        size_t want = len - at < S3_COPY_BUFFER_BYTES ? (size_t)(len - at) : S3_COPY_BUFFER_BYTES, got = 0;
        rc = floe_reader_read(rd, first + at, buf, want, &got);
        if (rc == 0 && got == 0)
            rc = err_set(FLOE_ECORRUPT, "copy: the source ended at byte %" PRIu64 " of %" PRIu64, first + at,
                         first + len);
        if (rc == 0)
            rc = floe_writer_write(w, buf, got);
        at += got;
    }
    free(buf);
    return rc;
}

int s3_commit_writer(http_req *r, floe_writer *w)
{
    enum work_op op = r->op;
    r->writer = w;
    r->op = WORK_PUT;
    int rc = s3_commit_put(r);
    r->op = op;
    r->writer = NULL;
    return rc;
}

int s3_copy_work(http_req *r)
{
    s3_req *q = r->s3;
    http_server *s = r->srv;
    const char *src = q->h_copy_source;
    if (!src || parse_copy_source(r, src) != 0)
        return q->err_code ? -1 : s3_fail(r, 400, "InvalidArgument", "x-amz-copy-source is missing");
    const char *directive = q->h_directive;
    q->meta_replace = directive && strcasecmp(directive, "REPLACE") == 0;
    if (directive && !q->meta_replace && strcasecmp(directive, "COPY") != 0)
        return s3_fail(r, 400, "InvalidArgument", "x-amz-metadata-directive must be COPY or REPLACE");
    if (q->op == S3_COPY_OBJECT && !q->meta_replace && q->copy_src_len == r->key_len &&
        memcmp(q->copy_src, r->key, r->key_len) == 0)
        return s3_fail(r, 400, "InvalidRequest",
                       "this copy request is illegal because it is trying to copy an object to itself without "
                       "changing the object's metadata");
    floe_value v = {0};
    floe_reader *rd = NULL;
    int rc = floe_reader_open(s->db, q->copy_src, q->copy_src_len, &v, &rd);
    if (rc == FLOE_ENOTFOUND)
        return s3_fail(r, 404, "NoSuchKey", "the copy source does not exist");
    if (rc < 0)
        return s3_fail_floe(r, rc, "copy: opening the source");
    char etag[HTTP_ETAG_BYTES];
    http_value_etag(r, &v, etag, sizeof etag);
    const char *im = q->h_copy_if_match, *inm = q->h_copy_if_none_match;
    uint64_t first = 0, len = v.len;
    if ((im && !strstr(im, etag + 1 /* the hex inside the quotes */)) || (inm && strstr(inm, etag + 1))) {
        rc = s3_fail(r, 412, "PreconditionFailed", "the copy source's ETag is %s", etag);
        goto out;
    }
    const char *range = q->h_copy_range;
    if (q->op == S3_UPLOAD_PART_COPY && range) {
        uint64_t last = 0;
        if (http_parse_range(range, v.len, &first, &last) != RANGE_OK) {
            rc = s3_fail(r, 400, "InvalidArgument", "x-amz-copy-source-range '%s' is not a range of the %" PRIu64
                                                    "-byte source", range, v.len);
            goto out;
        }
        len = last - first + 1;
    }
    unsigned char *meta = malloc(FLOE_MAX_USER_META_BYTES);
    size_t meta_len = 0;
    if (!meta) {
        rc = s3_fail(r, 503, "SlowDown", "out of memory");
        goto out;
    }
    floe_object_meta om = {0};
    if (q->op == S3_UPLOAD_PART_COPY) {
        om.content_type = NULL;
    } else if (q->meta_replace) {
        om.content_type = r->has_content_type ? r->content_type : NULL;
        om.user_meta = r->user_meta;
        om.user_meta_len = r->user_meta_len;
    } else {
        copy_meta_of(&v, meta, FLOE_MAX_USER_META_BYTES, &meta_len);
        om.content_type = v.content_type;
        om.user_meta = meta;
        om.user_meta_len = meta_len;
    }
    floe_writer *w = NULL;
    rc = floe_writer_begin(s->db, r->key, r->key_len, &om, &w);
    free(meta);
    if (rc == 0)
        rc = s3_copy_bytes(rd, w, first, len);
    if (rc < 0) {
        floe_writer_abort(w);
        rc = s3_fail_floe(r, rc, "copy");
        goto out;
    }
    unsigned char md5[16];
    floe_writer_md5(w, md5);
    rc = s3_commit_writer(r, w);
    if (rc < 0) {
        if (!q->err_code)
            s3_fail_floe(r, rc, "copy: committing");
        goto out;
    }
    if (r->work_precondition)
        goto out;
    http_format_etag(etag, sizeof etag, 1, md5, 0);
    buf_printf(&q->out, S3_XML_HEAD "<%s xmlns=\"" S3_XMLNS "\"><LastModified>",
               q->op == S3_UPLOAD_PART_COPY ? "CopyPartResult" : "CopyObjectResult");
    s3_iso8601(&q->out, (uint64_t)time(NULL) * 1000);
    buf_puts(&q->out, "</LastModified>");
    put_elem(&q->out, "ETag", etag, strlen(etag), 0);
    buf_printf(&q->out, "</%s>\n", q->op == S3_UPLOAD_PART_COPY ? "CopyPartResult" : "CopyObjectResult");
    rc = 0;
out:
    floe_reader_close(rd);
    floe_value_free(&v);
    return rc < 0 ? -1 : 0;
}

/* ---- deletes ---------------------------------------------------------------------------------------- */

int s3_delete_object_work(http_req *r)
{
    int rc = http_write_object(r); /* the delete, with If-Match if sent */
    if (rc < 0)
        return s3_fail_floe(r, rc, "DeleteObject");
    r->s3->out_status = 204;
    return 0;
}

int s3_delete_objects_work(http_req *r)
{
    s3_req *q = r->s3;
    s3_delete_request d = {0};
    const char *code = NULL;
    char msg[256];
    if (s3_xml_parse_delete(q->body.data ? q->body.data : "", q->body.len, &d, &code, msg, sizeof msg) != 0)
        return s3_fail(r, 400, code ? code : "MalformedXML", "%s", msg);
    buf_puts(&q->out, S3_XML_HEAD "<DeleteResult xmlns=\"" S3_XMLNS "\">");
    memset(&r->cond, 0, sizeof r->cond); /* no precondition applies to a batch */
    for (size_t i = 0; i < d.n; i++) {
        size_t kl = s3_store_key(q->bucket, d.keys[i], d.key_lens[i], r->key);
        int rc = kl ? 0 : FLOE_EKEY;
        if (rc == 0 && d.version_ids && d.version_ids[i] && strcmp(d.version_ids[i], "null") != 0) {
            buf_puts(&q->out, "<Error>");
            put_elem(&q->out, "Key", d.keys[i], d.key_lens[i], 0);
            buf_puts(&q->out, "<Code>NotImplemented</Code><Message>floe keeps one version of each object</Message>"
                              "</Error>");
            continue;
        }
        if (rc == 0) {
            r->key_len = kl;
            rc = http_write_object(r);
        }
        if (rc == 0) {
            if (!d.quiet) {
                buf_puts(&q->out, "<Deleted>");
                put_elem(&q->out, "Key", d.keys[i], d.key_lens[i], 0);
                buf_puts(&q->out, "</Deleted>");
            }
            continue;
        }
        buf_puts(&q->out, "<Error>");
        put_elem(&q->out, "Key", d.keys[i], d.key_lens[i], 0);
        buf_printf(&q->out, "<Code>%s</Code>", rc == FLOE_EKEY ? "KeyTooLongError" : "InternalError");
        put_elem(&q->out, "Message", floe_strerror(rc), strlen(floe_strerror(rc)), 0);
        buf_puts(&q->out, "</Error>");
    }
    buf_puts(&q->out, "</DeleteResult>\n");
    s3_delete_request_free(&d);
    return 0;
}
