/* The S3 API's requests (see s3api.h): addressing, authentication, routing, the bodies it reads
 * (aws-chunked decoding, checksums, XML bodies), S3's error documents, and the answers of the
 * work it hands to the write pool.
 *
 * The life of an S3 request: PUT and POST begin on the handler's first call (their bodies are
 * streamed into a writer or read whole), everything else on its last (http.c). Beginning parses
 * the bucket and key (path style, or virtual-hosted style under s3.domain), verifies the SigV4
 * signature (header or presigned query) against the configured credentials before anything else,
 * picks the operation from the method and the query's subresources, and checks that the bucket
 * exists. Reads (GET, HEAD, lists) are answered on the MHD thread; writes go to the pool.
 *
 * Invariants:
 * 1. Nothing is read from or written to the store for a request whose signature was not verified:
 *    authentication comes first, and an unknown subresource is 501 NotImplemented, never a 200 that
 *    did something else.
 * 2. A body whose signature (aws-chunked), payload hash, Content-MD5 or checksum does not match
 *    stores nothing: a failed chunk aborts the writer at once; the digests are checked before the
 *    commit (s3_check_digests).
 * 3. Object writes hold the API's bucket lock shared across their commit, and bucket deletion holds
 *    it exclusively across its emptiness check and its delete, so no object lands in a bucket as it
 *    is deleted.
 */
#include "s3api.h"

#include <ctype.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "coding.h"
#include "s3_xml.h"
#include "sigv4.h"

/* The query parameters the API reads (s3_req.q holds their decoded values in this order). */
static const char *const query_names[] = {"uploads",
                                          "uploadId",
                                          "partNumber",
                                          "list-type",
                                          "prefix",
                                          "delimiter",
                                          "max-keys",
                                          "continuation-token",
                                          "start-after",
                                          "marker",
                                          "encoding-type",
                                          "location",
                                          "delete",
                                          "key-marker",
                                          "upload-id-marker",
                                          "max-uploads",
                                          "part-number-marker",
                                          "max-parts",
                                          "response-content-type",
                                          "response-content-language",
                                          "response-expires",
                                          "response-cache-control",
                                          "response-content-disposition",
                                          "response-content-encoding",
                                          "versionId",
                                          "fetch-owner",
                                          NULL};

/* Subresources of S3 this API does not implement: a request naming one is 501 (invariant 1). */
static const char *const unsupported[] = {
    "acl",           "policy",       "versioning",  "versions",       "lifecycle",    "cors",
    "tagging",       "website",      "logging",     "notification",   "replication",  "encryption",
    "object-lock",   "legal-hold",   "retention",   "torrent",        "restore",      "select",
    "analytics",     "metrics",      "inventory",   "intelligent-tiering", "ownershipControls",
    "publicAccessBlock", "accelerate", "requestPayment", "attributes", "policyStatus", "session",
    NULL};

/* ---- errors ------------------------------------------------------------------------------------- */

struct code_map {
    const char *floe, *s3;
    int status;
};

/* floe's error codes (http.c, put.c, get.c) as S3's. */
static const struct code_map code_map[] = {
    {"not_found", "NoSuchKey", 404},
    {"precondition_failed", "PreconditionFailed", 412},
    {"range_not_satisfiable", "InvalidRange", 416},
    {"too_large", "EntityTooLarge", 400},
    {"bad_digest", "BadDigest", 400},
    {"invalid_digest", "InvalidDigest", 400},
    {"invalid_key", "InvalidArgument", 400},
    {"key_too_long", "KeyTooLongError", 400},
    {"busy", "SlowDown", 503},
    {"cold_tier_behind", "SlowDown", 503},
    {"cold_tier_unavailable", "ServiceUnavailable", 503},
    {"read_only", "ServiceUnavailable", 503},
    {"shutting_down", "ServiceUnavailable", 503},
    {"fenced", "ServiceUnavailable", 503},
    {"out_of_memory", "SlowDown", 503},
    {"timed_out", "ServiceUnavailable", 503},
    {"internal", "InternalError", 500},
    {"corrupt", "InternalError", 500},
    {"length_required", "MissingContentLength", 411},
    {"bad_request", "InvalidRequest", 400},
    {"invalid_argument", "InvalidArgument", 400},
    {"invalid_metadata", "InvalidArgument", 400},
    {"metadata_too_large", "MetadataTooLarge", 400},
    {"invalid_content_type", "InvalidArgument", 400},
    {"forbidden", "AccessDenied", 403},
    {"unauthorized", "AccessDenied", 403},
    {"headers_too_large", "RequestHeaderSectionTooLarge", 400},
    {"method_not_allowed", "MethodNotAllowed", 405},
    {NULL, NULL, 0},
};

struct MHD_Response *s3_error_response(http_req *r, const char *code, const char *msg, size_t *len)
{
    s3_req *q = r->s3;
    const char *s3code = code;
    if (!isupper((unsigned char)code[0])) {
        s3code = "InternalError";
        q->status_override = 500;
        for (const struct code_map *m = code_map; m->floe; m++)
            if (strcmp(m->floe, code) == 0) {
                s3code = m->s3;
                q->status_override = m->status;
                break;
            }
    }
    buf_t b;
    buf_init(&b, 16384);
    buf_puts(&b, S3_XML_HEAD "<Error><Code>");
    buf_puts(&b, s3code);
    buf_puts(&b, "</Code><Message>");
    s3_xml_escape(&b, msg, strlen(msg));
    buf_puts(&b, "</Message>");
    if (q->resource) {
        buf_puts(&b, "<Resource>");
        s3_xml_escape(&b, q->resource, strlen(q->resource));
        buf_puts(&b, "</Resource>");
    }
    if (q->bucket_len) {
        buf_puts(&b, "<BucketName>");
        s3_xml_escape(&b, q->bucket, q->bucket_len);
        buf_puts(&b, "</BucketName>");
    }
    buf_printf(&b, "<RequestId>%s</RequestId></Error>\n", q->request_id);
    return http_text_response(&b, "application/xml", len);
}

int s3_before_queue(http_req *r, struct MHD_Response *resp, int status)
{
    s3_req *q = r->s3;
    MHD_add_response_header(resp, "x-amz-request-id", q->request_id);
    MHD_add_response_header(resp, "Server", "floe");
    if (q->status_override) {
        status = q->status_override;
        q->status_override = 0;
    }
    return status;
}

enum MHD_Result s3_respond_error(http_req *r, struct MHD_Connection *c, int status, const char *code, const char *fmt,
                                 ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = 0;
    struct MHD_Response *resp = s3_error_response(r, code, msg, &len);
    if (resp && strcmp(code, "SlowDown") == 0)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    return http_queue(r, c, status, resp, len);
}

int s3_fail(http_req *r, int status, const char *code, const char *fmt, ...)
{
    s3_req *q = r->s3;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->err_msg, sizeof q->err_msg, fmt, ap);
    va_end(ap);
    q->err_code = code;
    q->err_status = status;
    return -1;
}

int s3_fail_floe(http_req *r, int rc, const char *what)
{
    s3_req *q = r->s3;
    r->work_rc = rc;
    snprintf(r->work_error, sizeof r->work_error, "%s: %s", what, floe_last_error());
    q->err_code = NULL;
    return -1;
}

/* ---- small helpers ------------------------------------------------------------------------------ */

const char *s3_query(const http_req *r, const char *name)
{
    for (size_t i = 0; query_names[i]; i++)
        if (strcmp(query_names[i], name) == 0)
            return r->s3->q[i];
    return NULL;
}

/* Percent-decodes n bytes of src (and '+' as a space when plus) into a malloc'd NUL-terminated
 * string; *len its length. NULL for a malformed escape, a NUL byte, or out of memory. */
static char *pct_decode(const char *src, size_t n, int plus, size_t *len)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch == '%') {
            if (i + 2 >= n) {
                free(out);
                return NULL;
            }
            int h = hex_digit_value((unsigned char)src[i + 1]), l = hex_digit_value((unsigned char)src[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else if (ch == '+' && plus) {
            out[o++] = ' ';
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
}

size_t s3_store_key(const char *bucket, const char *k, size_t k_len, char *out)
{
    size_t bl = strlen(bucket);
    if (bl + 1 + k_len > FLOE_MAX_KEY_BYTES)
        return 0;
    memcpy(out, bucket, bl);
    out[bl] = '/';
    memcpy(out + bl + 1, k, k_len);
    out[bl + 1 + k_len] = '\0';
    return bl + 1 + k_len;
}

void s3_iso8601(buf_t *b, uint64_t unix_ms)
{
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    buf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
               tm.tm_min, tm.tm_sec, (unsigned)(unix_ms % 1000));
}

int s3_meta_put(unsigned char *blob, size_t cap, size_t *len, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    if (*len > cap || nl + vl + 2 > cap - *len)
        return -1;
    memcpy(blob + *len, name, nl + 1);
    memcpy(blob + *len + nl + 1, value, vl + 1);
    *len += nl + vl + 2;
    return 0;
}

int s3_meta_next(const void *blob, size_t len, size_t *pos, const char **name, const char **value)
{
    const char *start = blob;
    if (!blob || *pos >= len)
        return 0;
    const char *p = start + *pos, *end = start + len;
    const char *nul = memchr(p, '\0', (size_t)(end - p));
    const char *v = nul ? nul + 1 : NULL;
    const char *vnul = v && v < end ? memchr(v, '\0', (size_t)(end - v)) : NULL;
    if (!vnul)
        return 0; /* a damaged blob ends the walk */
    *name = p;
    *value = v;
    *pos = (size_t)(vnul + 1 - start);
    return 1;
}

const char *s3_meta_get(const void *blob, size_t len, const char *name)
{
    size_t pos = 0;
    const char *k, *v;
    while (s3_meta_next(blob, len, &pos, &k, &v))
        if (strcmp(k, name) == 0)
            return v;
    return NULL;
}

int s3_multipart_etag(const floe_value *v, char *buf, size_t cap)
{
    const char *e = s3_meta_get(v->user_meta, v->user_meta_len, ":etag");
    if (!e)
        return 0;
    snprintf(buf, cap, "\"%s\"", e);
    return 1;
}

/* ---- the API's state ---------------------------------------------------------------------------- */

static int bucket_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

int s3_bucket_exists(s3_api *a, const char *name, uint64_t *created_ms)
{
    char(*hit)[S3_BUCKET_MAX_BYTES + 1] = bsearch(name, a->buckets, a->n_buckets, sizeof *a->buckets, bucket_cmp);
    if (hit && created_ms)
        *created_ms = a->bucket_created_ms[hit - a->buckets];
    return hit != NULL;
}

/* Loads the bucket records. */
static int load_buckets(s3_api *a)
{
    char prefix[FLOE_SYSTEM_PREFIX_BYTES + 2];
    memcpy(prefix, FLOE_SYSTEM_PREFIX, FLOE_SYSTEM_PREFIX_BYTES);
    memcpy(prefix + FLOE_SYSTEM_PREFIX_BYTES, "b/", 2);
    floe_list *l = NULL;
    int rc = floe_list_keys(a->srv->db, prefix, sizeof prefix, NULL, 0, S3_MAX_BUCKETS, &l);
    if (rc < 0)
        return rc;
    a->buckets = calloc(S3_MAX_BUCKETS, sizeof *a->buckets);
    a->bucket_created_ms = calloc(S3_MAX_BUCKETS, sizeof *a->bucket_created_ms);
    if (!a->buckets || !a->bucket_created_ms) {
        floe_list_free(l);
        return err_set(FLOE_ENOMEM, "s3: out of memory loading the buckets");
    }
    for (size_t i = 0; i < l->count; i++) {
        const floe_list_entry *e = &l->entries[i];
        size_t n = e->key_len - sizeof prefix;
        if (n == 0 || n > S3_BUCKET_MAX_BYTES)
            continue;
        memcpy(a->buckets[a->n_buckets], e->key + sizeof prefix, n);
        a->buckets[a->n_buckets][n] = '\0';
        a->bucket_created_ms[a->n_buckets] = e->write_ms;
        a->n_buckets++;
    }
    floe_list_free(l);
    return 0;
}

int s3_api_create(http_server *s, s3_api **out)
{
    const floe_config *cfg = s->cfg;
    s3_api *a = calloc(1, sizeof *a);
    if (!a)
        return err_set(FLOE_ENOMEM, "s3: out of memory");
    a->srv = s;
    pthread_rwlock_init(&a->lock, NULL);
    for (int i = 0; i < S3_UPLOAD_LOCK_STRIPES; i++)
        pthread_rwlock_init(&a->upload_locks[i], NULL);
    pthread_mutex_init(&a->stop_mu, NULL);
    pthread_cond_init(&a->stop_cv, NULL);
    for (size_t i = 0; i < cfg->s3.credential_count && a->n_keys < sizeof a->keys / sizeof a->keys[0]; i++) {
        a->keys[a->n_keys].access_key = cfg->s3.credentials[i].access_key;
        a->keys[a->n_keys].secret_key = cfg->s3.credentials[i].secret_key;
        a->keys[a->n_keys].can_write = cfg->s3.credentials[i].access == CONFIG_ACCESS_WRITE;
        a->n_keys++;
    }
    int rc = load_buckets(a);
    if (rc == 0) {
        if (pthread_create(&a->reclaimer, NULL, s3_reclaimer_main, a) == 0)
            a->reclaimer_started = 1;
        else
            rc = err_set(FLOE_EIO, "s3: cannot start the thread that reclaims abandoned multipart uploads");
    }
    if (rc < 0) {
        s3_api_stop(a);
        s3_api_destroy(a);
        return rc;
    }
    *out = a;
    return 0;
}

void s3_api_stop(s3_api *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->stop_mu);
    a->stop = 1;
    pthread_cond_broadcast(&a->stop_cv);
    pthread_mutex_unlock(&a->stop_mu);
    if (a->reclaimer_started)
        pthread_join(a->reclaimer, NULL);
    a->reclaimer_started = 0;
}

void s3_api_destroy(s3_api *a)
{
    if (!a)
        return;
    s3_api_stop(a);
    pthread_rwlock_destroy(&a->lock);
    for (int i = 0; i < S3_UPLOAD_LOCK_STRIPES; i++)
        pthread_rwlock_destroy(&a->upload_locks[i]);
    pthread_mutex_destroy(&a->stop_mu);
    pthread_cond_destroy(&a->stop_cv);
    free(a->buckets);
    free(a->bucket_created_ms);
    free(a);
}

/* ---- request state ------------------------------------------------------------------------------ */

int s3_req_create(http_req *r)
{
    s3_req *q = calloc(1, sizeof *q);
    if (!q)
        return -1;
    r->s3 = q;
    r->route = R_S3;
    unsigned long long id = atomic_fetch_add(&r->srv->s3->next_request_id, 1);
    snprintf(q->request_id, sizeof q->request_id, "%08llX%08llX", (unsigned long long)(r->start_ns & 0xffffffffu),
             id & 0xffffffffull);
    buf_init(&q->body, S3_MAX_XML_BODY_BYTES);
    buf_init(&q->out, HTTP_MAX_ANSWER_BYTES);
    return 0;
}

void s3_req_free(http_req *r)
{
    s3_req *q = r->s3;
    if (!q)
        return;
    for (size_t i = 0; i < sizeof q->q / sizeof q->q[0]; i++)
        free(q->q[i]);
    free(q->object_key);
    free(q->resource);
    free(q->copy_src);
    free(q->h_copy_source);
    free(q->h_directive);
    free(q->h_copy_if_match);
    free(q->h_copy_if_none_match);
    free(q->h_copy_range);
    free(q->h_host);
    free(q->decoded);
    buf_free(&q->body);
    buf_free(&q->out);
    s3_chunked_destroy(q->chunked);
    if (q->has_checksum)
        s3_checksum_free(&q->ck);
    free(q);
    r->s3 = NULL;
}

int s3_begins_early(const http_req *r)
{
    return r->method == M_PUT || r->method == M_POST;
}

/* ---- addressing, query, auth -------------------------------------------------------------------- */

static int bucket_name_valid(const char *b, size_t n)
{
    if (n < 3 || n > S3_BUCKET_MAX_BYTES)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)b[i];
        if (!(islower(ch) || isdigit(ch) || ch == '-' || ch == '.'))
            return 0;
    }
    if (!isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
        return 0;
    if (strstr(b, ".."))
        return 0;
    return 1;
}

struct query_walk {
    http_req *r;
    buf_t raw;
    int bad;
    const char *unsupported;
};

static enum MHD_Result walk_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct query_walk *w = cls;
    s3_req *q = w->r->s3;
    if (w->raw.len)
        buf_putc(&w->raw, '&');
    buf_puts(&w->raw, key);
    if (value) {
        buf_putc(&w->raw, '=');
        buf_puts(&w->raw, value);
    }
    size_t kl = 0;
    char *k = pct_decode(key, strlen(key), 0, &kl);
    if (!k) {
        w->bad = 1;
        return MHD_YES;
    }
    for (size_t i = 0; query_names[i]; i++) {
        if (strcmp(query_names[i], k) != 0)
            continue;
        size_t vl = 0;
        char *v = value ? pct_decode(value, strlen(value), 0, &vl) : strdup("");
        if (!v) {
            w->bad = 1;
        } else {
            free(q->q[i]);
            q->q[i] = v;
        }
    }
    for (size_t i = 0; unsupported[i] && !w->unsupported; i++)
        if (strcmp(unsupported[i], k) == 0)
            w->unsupported = unsupported[i];
    free(k);
    return MHD_YES;
}

struct header_ctx {
    struct MHD_Connection *c;
    const char *names[S3_AUTH_MAX_HEADERS]; /* lowercase copies in text */
    size_t n;
    char text[8192];
    size_t used;
};

static const char *auth_header(void *ctx, const char *lower_name)
{
    struct header_ctx *h = ctx;
    return MHD_lookup_connection_value(h->c, MHD_HEADER_KIND, lower_name);
}

static const char *auth_header_name_at(void *ctx, size_t index)
{
    struct header_ctx *h = ctx;
    return index < h->n ? h->names[index] : NULL;
}

static enum MHD_Result collect_header_name(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct header_ctx *h = cls;
    size_t n = strlen(key);
    if (h->n == S3_AUTH_MAX_HEADERS || n + 1 > sizeof h->text - h->used)
        return MHD_YES; /* over http.max_headers' worth: the rest go unchecked by name */
    char *lower = h->text + h->used;
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)tolower((unsigned char)key[i]);
    h->used += n + 1;
    h->names[h->n++] = lower;
    return MHD_YES;
}

static int op_writes(enum s3_op op)
{
    switch (op) {
    case S3_CREATE_BUCKET:
    case S3_DELETE_BUCKET:
    case S3_DELETE_OBJECTS:
    case S3_PUT_OBJECT:
    case S3_COPY_OBJECT:
    case S3_DELETE_OBJECT:
    case S3_CREATE_UPLOAD:
    case S3_UPLOAD_PART:
    case S3_UPLOAD_PART_COPY:
    case S3_COMPLETE_UPLOAD:
    case S3_ABORT_UPLOAD:
        return 1;
    default:
        return 0;
    }
}

/* The operation of a request: from its method, whether it names a bucket and a key, its
 * subresources and x-amz-copy-source. S3_OP_NONE: the method does not apply (405). */
static enum s3_op pick_op(http_req *r, struct MHD_Connection *c)
{
    s3_req *q = r->s3;
    int has_key = q->object_key != NULL;
    const char *copy = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-amz-copy-source");
    if (!q->bucket_len)
        return r->method == M_GET || r->method == M_HEAD ? S3_LIST_BUCKETS : S3_OP_NONE;
    if (!has_key) {
        switch (r->method) {
        case M_PUT:
            return S3_CREATE_BUCKET;
        case M_HEAD:
            return S3_HEAD_BUCKET;
        case M_DELETE:
            return S3_DELETE_BUCKET;
        case M_POST:
            return s3_query(r, "delete") ? S3_DELETE_OBJECTS : S3_OP_NONE;
        case M_GET:
            if (s3_query(r, "location"))
                return S3_GET_BUCKET_LOCATION;
            if (s3_query(r, "uploads"))
                return S3_LIST_UPLOADS;
            {
                const char *lt = s3_query(r, "list-type");
                return lt && strcmp(lt, "2") == 0 ? S3_LIST_OBJECTS_V2 : S3_LIST_OBJECTS;
            }
        default:
            return S3_OP_NONE;
        }
    }
    const char *upload = s3_query(r, "uploadId");
    switch (r->method) {
    case M_PUT:
        if (upload || s3_query(r, "partNumber"))
            return copy ? S3_UPLOAD_PART_COPY : S3_UPLOAD_PART;
        return copy ? S3_COPY_OBJECT : S3_PUT_OBJECT;
    case M_GET:
        return upload ? S3_LIST_PARTS : S3_GET_OBJECT;
    case M_HEAD:
        return S3_HEAD_OBJECT;
    case M_DELETE:
        return upload ? S3_ABORT_UPLOAD : S3_DELETE_OBJECT;
    case M_POST:
        if (s3_query(r, "uploads"))
            return S3_CREATE_UPLOAD;
        if (upload)
            return S3_COMPLETE_UPLOAD;
        return S3_OP_NONE;
    default:
        return S3_OP_NONE;
    }
}

/* Splits the request target into bucket and key: virtual-hosted style when the Host is a name under
 * s3.domain, else path style. Answers 400 itself (*ret) and returns 0 on a bad name. */
static int parse_target(http_req *r, struct MHD_Connection *c, const char *url, enum MHD_Result *ret)
{
    s3_req *q = r->s3;
    const floe_config *cfg = r->srv->cfg;
    const char *path = url;
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    size_t bl = 0;
    const char *b = NULL;
    if (cfg->s3.domain[0] && host) {
        size_t hl = strcspn(host, ":"), dl = strlen(cfg->s3.domain);
        if (hl > dl + 1 && host[hl - dl - 1] == '.' && strncasecmp(host + hl - dl, cfg->s3.domain, dl) == 0) {
            b = host;
            bl = hl - dl - 1;
        }
    }
    if (path[0] != '/') {
        *ret = s3_respond_error(r, c, 400, "InvalidURI", "the request target must begin with '/'");
        return 0;
    }
    path++;
    if (!b) {
        b = path;
        bl = strcspn(path, "/");
        path += bl;
        if (*path == '/')
            path++;
        else
            path = NULL;
    }
    if (bl) {
        if (bl > S3_BUCKET_MAX_BYTES) {
            *ret = s3_respond_error(r, c, 400, "InvalidBucketName", "a bucket name is 3 to 63 characters");
            return 0;
        }
        memcpy(q->bucket, b, bl);
        q->bucket[bl] = '\0';
        for (size_t i = 0; i < bl; i++)
            q->bucket[i] = (char)tolower((unsigned char)q->bucket[i]);
        if (!bucket_name_valid(q->bucket, bl)) {
            memcpy(q->bucket, b, bl); /* named as sent in the answer */
            *ret = s3_respond_error(r, c, 400, "InvalidBucketName",
                                    "the bucket name '%s' is not valid: 3 to 63 lowercase letters, digits, '.' and "
                                    "'-', beginning and ending with a letter or digit",
                                    q->bucket);
            q->bucket_len = 0;
            return 0;
        }
        q->bucket_len = bl;
    }
    if (path && *path) {
        size_t kl = 0;
        q->object_key = pct_decode(path, strlen(path), 0, &kl);
        if (!q->object_key) {
            *ret = s3_respond_error(r, c, 400, "InvalidURI",
                                    "the key has a malformed percent-escape or a NUL byte (%%00)");
            return 0;
        }
        q->object_key_len = kl;
        if (!s3_store_key(q->bucket, q->object_key, kl, r->key)) {
            *ret = s3_respond_error(r, c, 400, "KeyTooLongError",
                                    "the key is %zu bytes: with its bucket's name and a '/', a key may take at "
                                    "most %d bytes here",
                                    kl, FLOE_MAX_KEY_BYTES);
            return 0;
        }
        r->key_len = strlen(q->bucket) + 1 + kl;
    }
    size_t rl = 1 + q->bucket_len + (q->object_key ? 1 + q->object_key_len : 0);
    q->resource = malloc(rl + 1);
    if (q->resource)
        snprintf(q->resource, rl + 1, "/%s%s%s", q->bucket, q->object_key ? "/" : "",
                 q->object_key ? q->object_key : "");
    return 1;
}

/* Verifies the request's signature. Answers it itself (*ret) and returns 0 when refused. */
static int authenticate(http_req *r, struct MHD_Connection *c, const char *url, const char *method, const char *raw_query,
                        enum MHD_Result *ret)
{
    s3_req *q = r->s3;
    s3_api *a = r->srv->s3;
    struct header_ctx h = {.c = c};
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header_name, &h);
    s3_auth_input in = {.method = method,
                        .raw_path = url,
                        .raw_query = raw_query,
                        .header = auth_header,
                        .header_ctx = &h,
                        .header_name_at = auth_header_name_at,
                        .region = r->srv->cfg->s3.region,
                        .now = time(NULL)};
    if (s3_auth_verify(&in, a->keys, a->n_keys, &q->auth) == 0)
        return 1;
    *ret = s3_respond_error(r, c, q->auth.http_status ? q->auth.http_status : 403,
                            q->auth.error_code ? q->auth.error_code : "AccessDenied", "%s", q->auth.message);
    return 0;
}

/* ---- bodies --------------------------------------------------------------------------------------- */

int s3_setup_body(http_req *r, struct MHD_Connection *c, enum MHD_Result *ret)
{
    s3_req *q = r->s3;
    enum s3_payload p = q->auth.payload;
    if (p == S3_PAYLOAD_STREAMING_SIGNED || p == S3_PAYLOAD_STREAMING_SIGNED_TRAILER ||
        p == S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER) {
        const char *trailer = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-amz-trailer");
        if (s3_chunked_create(&q->auth, trailer, &q->chunked) != 0) {
            *ret = s3_respond_error(r, c, 400, "InvalidRequest", "cannot decode this aws-chunked body (x-amz-trailer %s)",
                                    trailer ? trailer : "absent");
            return 0;
        }
        if (trailer) {
            enum s3_checksum_algo algo;
            char lower[64];
            size_t tl = strlen(trailer);
            while (tl && trailer[tl - 1] == ' ')
                tl--;
            if (tl >= sizeof lower || (snprintf(lower, sizeof lower, "%.*s", (int)tl, trailer),
                                       s3_checksum_from_header(lower, &algo) != 0)) {
                *ret = s3_respond_error(r, c, 400, "InvalidRequest",
                                        "x-amz-trailer '%s' is not a checksum this server knows", trailer);
                return 0;
            }
            if (s3_checksum_init(&q->ck, algo) != 0) {
                *ret = s3_respond_error(r, c, 503, "SlowDown", "out of memory starting the checksum");
                return 0;
            }
            q->has_checksum = 1;
            q->checksum_in_trailer = 1;
        }
    }
    for (int a = 0; a < S3_CK_COUNT && !q->has_checksum; a++) {
        const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, s3_checksum_header((enum s3_checksum_algo)a));
        if (!v)
            continue;
        if (strlen(v) >= sizeof q->want_checksum) {
            *ret = s3_respond_error(r, c, 400, "InvalidDigest", "%s is not a valid digest",
                                    s3_checksum_header((enum s3_checksum_algo)a));
            return 0;
        }
        if (s3_checksum_init(&q->ck, (enum s3_checksum_algo)a) != 0) {
            *ret = s3_respond_error(r, c, 503, "SlowDown", "out of memory starting the checksum");
            return 0;
        }
        snprintf(q->want_checksum, sizeof q->want_checksum, "%s", v);
        q->has_checksum = 1;
    }
    return 1;
}

int s3_takes_body(const http_req *r)
{
    const s3_req *q = r->s3;
    return q->collect || q->chunked || q->has_checksum || q->err_code;
}

static int emit_decoded(void *ctx, const void *p, size_t n)
{
    s3_req *q = ctx;
    if (q->decoded_len + n > q->decoded_cap)
        return -1; /* cannot happen: decoded bytes never outnumber the wire bytes of a piece */
    memcpy(q->decoded + q->decoded_len, p, n);
    q->decoded_len += n;
    return 0;
}

/* The body of r is refused (its writer aborted); the rest is read and dropped and the request
 * answered with the error at its end. */
static void refuse_body(http_req *r, int status, const char *code, const char *fmt, const char *detail)
{
    s3_req *q = r->s3;
    floe_writer_abort(r->writer);
    r->writer = NULL;
    q->err_code = code;
    q->err_status = status;
    snprintf(q->err_msg, sizeof q->err_msg, fmt, detail);
}

enum MHD_Result s3_receive_body(http_req *r, struct MHD_Connection *c, const char *data, size_t *size)
{
    s3_req *q = r->s3;
    size_t n = *size;
    if (q->err_code || r->refusal != PUT_REFUSE_NONE || (!r->writer && !q->collect)) {
        *size = 0;
        r->ignored_body_bytes += n;
        return r->ignored_body_bytes <= HTTP_MAX_DISCARDED_BODY_BYTES ? MHD_YES : MHD_NO;
    }
    const char *bytes = data;
    if (q->chunked) {
        if (q->chunked_done) {
            *size = 0;
            refuse_body(r, 400, "InvalidRequest", "%s", "bytes follow the final chunk of the aws-chunked body");
            return MHD_YES;
        }
        if (q->decoded_cap < n) {
            unsigned char *p = realloc(q->decoded, n);
            if (!p)
                return MHD_NO;
            q->decoded = p;
            q->decoded_cap = n;
        }
        q->decoded_len = 0;
        int rc = s3_chunked_feed(q->chunked, data, n, emit_decoded, q);
        if (rc < 0) {
            *size = 0;
            int status = 400;
            const char *msg = NULL;
            const char *code = s3_chunked_error(q->chunked, &status, &msg);
            refuse_body(r, status, code ? code : "InvalidRequest", "aws-chunked body: %s", msg ? msg : "malformed");
            return MHD_YES;
        }
        q->chunked_done = rc == 1;
        bytes = (const char *)q->decoded;
        n = q->decoded_len;
    }
    *size = 0;
    if (n == 0)
        return MHD_YES;
    if (q->has_checksum)
        s3_checksum_update(&q->ck, bytes, n);
    if (q->collect) {
        if (buf_append(&q->body, bytes, n) != 0) {
            refuse_body(r, 400, "MalformedXML", "the request body is larger than %s", "4 MiB");
            return MHD_YES;
        }
        return MHD_YES;
    }
    size_t left = n;
    return http_receive_body(r, c, bytes, &left);
}

int s3_check_digests(http_req *r)
{
    s3_req *q = r->s3;
    if (q->err_code)
        return 4;
    if (!q->has_checksum)
        return 0;
    s3_checksum_final_b64(&q->ck, q->got_checksum);
    if (q->checksum_in_trailer) {
        const char *t = q->chunked ? s3_chunked_trailer(q->chunked, s3_checksum_header(q->ck.algo)) : NULL;
        snprintf(q->want_checksum, sizeof q->want_checksum, "%s", t ? t : "");
    }
    if (strcmp(q->want_checksum, q->got_checksum) != 0)
        return 3;
    /* Stored with the object, for GetObject with x-amz-checksum-mode: ENABLED. */
    char name[48];
    snprintf(name, sizeof name, ":%s", s3_checksum_header(q->ck.algo));
    if (r->writer && s3_meta_put(r->user_meta, sizeof r->user_meta, &r->user_meta_len, name, q->got_checksum) == 0) {
        floe_object_meta meta = {.content_type = r->has_content_type ? r->content_type : NULL,
                                 .user_meta = r->user_meta,
                                 .user_meta_len = r->user_meta_len};
        floe_writer_set_meta(r->writer, &meta);
    }
    return 0;
}

/* ---- beginning, finishing ----------------------------------------------------------------------- */

static int dup_header(struct MHD_Connection *c, const char *name, char **out)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    *out = v ? strdup(v) : NULL;
    return !v || *out;
}

/* Copies the headers the pool job of a copy or an upload's creation reads. 0 when out of memory. */
static int copy_headers(http_req *r, struct MHD_Connection *c)
{
    s3_req *q = r->s3;
    return dup_header(c, "x-amz-copy-source", &q->h_copy_source) &&
           dup_header(c, "x-amz-metadata-directive", &q->h_directive) &&
           dup_header(c, "x-amz-copy-source-if-match", &q->h_copy_if_match) &&
           dup_header(c, "x-amz-copy-source-if-none-match", &q->h_copy_if_none_match) &&
           dup_header(c, "x-amz-copy-source-range", &q->h_copy_range) && dup_header(c, "Host", &q->h_host);
}

/* Reads the query, parses the target and checks the signature, then decides the operation: refuses
 * a malformed query, an unsupported subresource or version, a method the target does not take, a
 * write by a read-only key and a missing bucket. Returns 1 with q->op set, or 0 with the refusal in
 * *ret. */
static int route_request(http_req *r, struct MHD_Connection *c, const char *url, const char *method,
                         enum MHD_Result *ret)
{
    http_server *s = r->srv;
    s3_req *q = r->s3;
    struct query_walk w = {.r = r};
    buf_init(&w.raw, 64 * 1024);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, walk_query, &w);
    const char *raw_query = buf_str(&w.raw);
    if (!raw_query) {
        buf_free(&w.raw);
        *ret = s3_respond_error(r, c, 400, "InvalidArgument", "the query string is longer than 64 KiB");
        return 0;
    }
    int ok = parse_target(r, c, url, ret) && authenticate(r, c, url, method, raw_query, ret);
    buf_free(&w.raw);
    if (!ok)
        return 0;
    if (w.bad) {
        *ret = s3_respond_error(r, c, 400, "InvalidArgument", "the query string has a malformed percent-escape");
        return 0;
    }
    if (w.unsupported && strcmp(w.unsupported, "tagging") == 0 && r->method == M_GET && q->object_key) {
        w.unsupported = NULL; /* GetObjectTagging: floe keeps no tags, so the set is empty */
        q->op = S3_GET_OBJECT_TAGGING;
    }
    if (w.unsupported) {
        *ret = s3_respond_error(r, c, 501, "NotImplemented", "floe does not implement the '%s' subresource",
                                w.unsupported);
        return 0;
    }
    const char *version = s3_query(r, "versionId");
    if (version && strcmp(version, "null") != 0) { /* the only version of an unversioned object */
        *ret = s3_respond_error(r, c, 501, "NotImplemented",
                                "floe keeps one version of each object: versionId '%s' is not one it has", version);
        return 0;
    }
    if (q->op == S3_OP_NONE)
        q->op = pick_op(r, c);
    if (q->op == S3_OP_NONE) {
        *ret = s3_respond_error(r, c, 405, "MethodNotAllowed", "%s is not allowed on %s", method,
                                q->resource ? q->resource : "/");
        return 0;
    }
    if (op_writes(q->op) && !s->s3->keys[q->auth.key_index].can_write) {
        *ret = s3_respond_error(r, c, 403, "AccessDenied", "the access key %s may only read",
                                s->s3->keys[q->auth.key_index].access_key);
        return 0;
    }
    if (q->op != S3_LIST_BUCKETS && q->op != S3_CREATE_BUCKET) {
        pthread_rwlock_rdlock(&s->s3->lock);
        int exists = s3_bucket_exists(s->s3, q->bucket, NULL);
        pthread_rwlock_unlock(&s->s3->lock);
        if (!exists) {
            *ret = s3_respond_error(r, c, 404, "NoSuchBucket", "the bucket '%s' does not exist", q->bucket);
            return 0;
        }
    }
    return 1;
}

/* GetObjectTagging: the empty tag set of an object that exists. */
static enum MHD_Result get_object_tagging(http_req *r, struct MHD_Connection *c)
{
    floe_value v = {0};
    int rc = floe_head(r->srv->db, r->key, r->key_len, &v);
    floe_value_free(&v);
    if (rc == FLOE_ENOTFOUND)
        return s3_respond_error(r, c, 404, "NoSuchKey", "no object with this key");
    if (rc < 0)
        return http_respond_floe_error(r, c, rc);
    buf_t b;
    buf_init(&b, 4096);
    buf_puts(&b, S3_XML_HEAD "<Tagging xmlns=\"" S3_XMLNS "\"><TagSet></TagSet></Tagging>\n");
    size_t len = 0;
    struct MHD_Response *resp = http_text_response(&b, "application/xml", &len);
    return resp ? http_queue(r, c, 200, resp, len) : MHD_NO;
}

enum MHD_Result s3_begin_request(http_req *r, struct MHD_Connection *c, const char *url, const char *method)
{
    s3_req *q = r->s3;
    enum MHD_Result ret = MHD_NO;
    if (!route_request(r, c, url, method, &ret))
        return ret;
    switch (q->op) {
    case S3_LIST_BUCKETS:
        return s3_list_buckets(r, c);
    case S3_HEAD_BUCKET:
        return s3_head_bucket(r, c);
    case S3_GET_BUCKET_LOCATION:
        return s3_get_bucket_location(r, c);
    case S3_LIST_OBJECTS:
        return s3_list_objects(r, c, 0);
    case S3_LIST_OBJECTS_V2:
        return s3_list_objects(r, c, 1);
    case S3_LIST_UPLOADS:
        return s3_list_uploads(r, c);
    case S3_LIST_PARTS:
        return s3_list_parts(r, c);
    case S3_GET_OBJECT_TAGGING:
        return get_object_tagging(r, c);
    case S3_GET_OBJECT:
    case S3_HEAD_OBJECT:
        if (http_collect_conditions(r, c) != 0)
            return s3_respond_error(r, c, 503, "SlowDown", "out of memory reading the request headers");
        return http_handle_get(r, c);
    case S3_PUT_OBJECT:
    case S3_UPLOAD_PART:
        return s3_begin_put_object(r, c);
    case S3_CREATE_BUCKET:
    case S3_DELETE_OBJECTS:
    case S3_COMPLETE_UPLOAD:
        if (!s3_setup_body(r, c, &ret))
            return ret;
        if (!copy_headers(r, c))
            return s3_respond_error(r, c, 503, "SlowDown", "out of memory reading the request headers");
        q->collect = 1; /* read whole, then s3_finish_request */
        return MHD_YES;
    case S3_DELETE_OBJECT:
    case S3_DELETE_BUCKET:
    case S3_ABORT_UPLOAD:
        if (http_collect_conditions(r, c) != 0)
            return s3_respond_error(r, c, 503, "SlowDown", "out of memory reading the request headers");
        return http_start_work(r, c, WORK_S3);
    case S3_COPY_OBJECT:
    case S3_UPLOAD_PART_COPY:
    case S3_CREATE_UPLOAD:
        if (q->op == S3_UPLOAD_PART_COPY ? !s3_read_part_target(r, c, &ret) : !s3_read_object_headers(r, c, &ret))
            return ret;
        if (!copy_headers(r, c))
            return s3_respond_error(r, c, 503, "SlowDown", "out of memory reading the request headers");
        if (http_collect_conditions(r, c) != 0)
            return s3_respond_error(r, c, 503, "SlowDown", "out of memory reading the request headers");
        return MHD_YES; /* started by s3_finish_request once the (empty) body has been read */
    default:
        return s3_respond_error(r, c, 501, "NotImplemented", "this operation is not implemented");
    }
}

enum MHD_Result s3_finish_request(http_req *r, struct MHD_Connection *c)
{
    s3_req *q = r->s3;
    if (q->err_code)
        return s3_respond_error(r, c, q->err_status, q->err_code, "%s", q->err_msg);
    if (q->chunked && !q->chunked_done && (r->writer || q->collect))
        return s3_respond_error(r, c, 400, "IncompleteBody",
                                "the aws-chunked body ended before its final chunk");
    if (q->op == S3_PUT_OBJECT || q->op == S3_UPLOAD_PART) {
        if (r->writer && q->chunked && r->body_len != r->body_expected)
            return s3_respond_error(r, c, 400, "IncompleteBody",
                                    "the body decodes to %" PRIu64 " bytes, x-amz-decoded-content-length said %" PRIu64,
                                    r->body_len, r->body_expected);
        return http_finish_put(r, c);
    }
    if (q->collect) {
        if (q->has_checksum) {
            if (s3_check_digests(r) != 0)
                return s3_respond_error(r, c, 400, "BadDigest",
                                        "the body's %s is %s, the request said %s: nothing was done",
                                        s3_checksum_name(q->ck.algo), q->got_checksum, q->want_checksum);
        }
        if (q->auth.payload == S3_PAYLOAD_SHA256) {
            char hex[65];
            sigv4_sha256_hex(q->body.data ? q->body.data : "", q->body.len, hex);
            if (strcmp(hex, q->auth.payload_sha256) != 0)
                return s3_respond_error(r, c, 400, "XAmzContentSHA256Mismatch",
                                        "the body's SHA-256 is %s, x-amz-content-sha256 said %s", hex,
                                        q->auth.payload_sha256);
        }
        const char *md5h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-MD5");
        if (md5h) {
            unsigned char want[16], got[16];
            unsigned int gl = 0;
            if (http_decode_digest(md5h, want, 16, 0) != 0)
                return s3_respond_error(r, c, 400, "InvalidDigest", "Content-MD5 is not the base64 of 16 bytes");
            EVP_Digest(q->body.data ? q->body.data : "", q->body.len, got, &gl, EVP_md5(), NULL);
            if (memcmp(want, got, 16) != 0)
                return s3_respond_error(r, c, 400, "BadDigest", "the body does not match its Content-MD5");
        }
    }
    return http_start_work(r, c, WORK_S3);
}

int s3_run_work(http_req *r)
{
    switch (r->s3->op) {
    case S3_CREATE_BUCKET:
        return s3_create_bucket_work(r);
    case S3_DELETE_BUCKET:
        return s3_delete_bucket_work(r);
    case S3_DELETE_OBJECTS:
        return s3_delete_objects_work(r);
    case S3_DELETE_OBJECT:
        return s3_delete_object_work(r);
    case S3_COPY_OBJECT:
    case S3_UPLOAD_PART_COPY:
        return s3_copy_work(r);
    case S3_CREATE_UPLOAD:
        return s3_create_upload_work(r);
    case S3_COMPLETE_UPLOAD:
        return s3_complete_upload_work(r);
    case S3_ABORT_UPLOAD:
        return s3_abort_upload_work(r);
    default:
        return s3_fail(r, 501, "NotImplemented", "this operation is not implemented");
    }
}

enum MHD_Result s3_respond_work(http_req *r, struct MHD_Connection *c)
{
    s3_req *q = r->s3;
    if (r->work_precondition)
        return http_respond_precondition_failed(r, c);
    if (q->err_code)
        return s3_respond_error(r, c, q->err_status, q->err_code, "%s", q->err_msg);
    if (r->work_rc != 0)
        return http_respond_floe_error_msg(r, c, r->work_rc, r->work_error);
    if (r->op == WORK_PUT) {
        if (r->digest_failed == 1)
            return s3_respond_error(r, c, 400, "BadDigest", "the body does not match its Content-MD5: nothing was stored");
        if (r->digest_failed == 2)
            return s3_respond_error(r, c, 400, "XAmzContentSHA256Mismatch",
                                    "the body's SHA-256 does not match x-amz-content-sha256: nothing was stored");
        if (r->digest_failed == 3)
            return s3_respond_error(r, c, 400, "BadDigest",
                                    "the body's %s is %s, the request said %s: nothing was stored",
                                    s3_checksum_name(q->ck.algo), q->got_checksum,
                                    q->want_checksum[0] ? q->want_checksum : "nothing");
        if (r->digest_failed)
            return s3_respond_error(r, c, q->err_status ? q->err_status : 400,
                                    q->err_code ? q->err_code : "InvalidRequest", "%s", q->err_msg);
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        char etag[HTTP_ETAG_BYTES];
        http_format_etag(etag, sizeof etag, 1, r->work_md5, r->work_seq);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
        if (q->has_checksum)
            MHD_add_response_header(resp, s3_checksum_header(q->ck.algo), q->got_checksum);
        return http_queue(r, c, 200, resp, 0);
    }
    size_t len = 0;
    struct MHD_Response *resp = NULL;
    if (q->out.len) {
        resp = http_text_response(&q->out, "application/xml", &len);
    } else {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    }
    if (!resp)
        return MHD_NO;
    if (q->out_etag[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, q->out_etag);
    if (q->op == S3_CREATE_BUCKET) {
        char loc[S3_BUCKET_MAX_BYTES + 2];
        snprintf(loc, sizeof loc, "/%s", q->bucket);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, loc);
    }
    return http_queue(r, c, q->out_status ? q->out_status : 200, resp, len);
}

int s3_commit_put(http_req *r)
{
    s3_req *q = r->s3;
    s3_api *a = r->srv->s3;
    int part = q->op == S3_UPLOAD_PART || q->op == S3_UPLOAD_PART_COPY;
    pthread_rwlock_t *ul = part ? s3_upload_lock(a, q->upload_id) : NULL;
    if (ul)
        pthread_rwlock_rdlock(ul); /* s3api.h: against the upload's completion and abort */
    pthread_rwlock_rdlock(&a->lock); /* invariant 3 */
    int rc = 0;
    if (!s3_bucket_exists(a, q->bucket, NULL)) {
        floe_writer_abort(r->writer);
        r->writer = NULL;
        rc = s3_fail(r, 404, "NoSuchBucket", "the bucket '%s' was deleted during the upload", q->bucket);
        r->digest_failed = 4;
    } else if (part && !s3_upload_lookup(r, NULL, NULL)) {
        floe_writer_abort(r->writer);
        r->writer = NULL;
        rc = s3_fail(r, 404, "NoSuchUpload", "no upload %s of this key (it was completed or aborted)", q->upload_id);
        r->digest_failed = 4;
    } else {
        rc = http_write_object(r);
    }
    pthread_rwlock_unlock(&a->lock);
    if (ul)
        pthread_rwlock_unlock(ul);
    return rc < 0 && q->err_code ? 0 : rc;
}
