/* floe's HTTP endpoint on libmicrohttpd (docs/http-api.md is the user-facing contract): the
 * server, its connections and request state, limits, auth, routing, the write pool, and the JSON
 * and error answers every endpoint uses. What each endpoint does is in routes.c; the two share
 * http_internal.h.
 *
 * Threads: libmicrohttpd runs cfg->http.threads threads, each with its own epoll loop, which parse
 * requests and answer reads (GET, HEAD, list, stats) inline. Writes (PUT, DELETE, flush) wait for a
 * WAL sync or an upload, so they go to a pool of cfg->http.write_threads threads: the connection is
 * suspended, a pool thread makes the floe_* call and resumes it, and many writers share one group
 * commit. A GET whose object does not fit the response budget (budget.c) is suspended the same
 * way until the budget's thread grants it room or its wait runs out. The http_server is shared by
 * all threads: its counters are atomics, the write queue is guarded by work_mu, the budget by its
 * own mutex, everything else is read-only after http_server_start.
 *
 * Request life cycle: the access handler's first call for a request (headers parsed) routes it,
 * enforces the header limits, checks the token and, for everything but PUT, answers at once. A PUT
 * with an acceptable Content-Length begins a floe_writer; later calls stream body bytes into it
 * (put.c), and the last call (no more data) commits the object. MHD's completion callback frees the
 * request state whatever happened and aborts a writer not committed, so an upload cut short stores
 * nothing.
 *
 * Invariants:
 * 1. Every size a client controls is capped before memory is committed to it: header bytes and
 *    count (cfg http.max_header_bytes, http.max_headers, and MHD's per-connection memory limit as a
 *    backstop), key length (FLOE_MAX_KEY_BYTES), body length (http.max_object_bytes, checked from
 *    Content-Length before any body byte is read), PUT bytes buffered at once across all connections
 *    (http.max_body_bytes_in_flight: about one chunk per PUT, except one PUT alone), bytes held for
 *    GET answers across all connections (http.max_response_bytes_in_flight: each answer's buffers,
 *    except one answer alone), open connections (total and per client address), user metadata
 *    (FLOE_MAX_USER_META_BYTES), JSON answers (a capped buf_t).
 * 2. A PUT makes its object visible only after exactly Content-Length bytes arrived and its digests
 *    matched; a body that ends early (client gone, idle timeout, too slow) aborts its writer.
 * 3. Token checks compare SHA-256 digests with CRYPTO_memcmp against every configured token, so the
 *    time taken does not depend on how much of a token matched.
 * 4. Every response to a request the handler saw is counted once, in the completion callback, by
 *    route, method and status.
 * 5. A conditional PUT or DELETE checks its preconditions and writes as one step with respect to
 *    every other HTTP write of the same key: each PUT and DELETE holds the key's stripe of
 *    key_locks across its check (if any) and its floe_writer_commit or floe_delete, exclusively when it has
 *    a precondition and shared when not; a conditional one also holds prefix_lock shared, which a
 *    prefix delete holds exclusively. So of two create-only PUTs (If-None-Match: *) of one key
 *    exactly one writes, no write or prefix delete lands between a check and its write, and
 *    unconditional writes still share WAL group commits. (Every write of floe serve's store comes
 *    through here; the library's writers and floe_delete know nothing of this.)
 *
 * Lock order: prefix_lock, then a key_locks stripe (pool threads only, one at a time), then every
 * lock of the store, which floe_* calls take inside; work_mu and the budget's mutex are leaves,
 * never held across a floe_* call or libmicrohttpd call.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "coding.h"
#include "crc32c.h"
#include "error.h"
#include "http_internal.h"
#include "metrics.h"
#include "s3api.h"

/* A body sent with a request that takes none is read and dropped up to this size. */
#define HTTP_MAX_IGNORED_BODY_BYTES (64u * 1024)
/* MHD's per-connection memory holds the request line and headers plus room to read the body. */
#define HTTP_CONNECTION_MEMORY_EXTRA (4u * 1024)
/* What each route accepts, for 405 answers. */
static const char *const route_allow[R_COUNT] = {"GET, HEAD, PUT, DELETE",
                                                 "GET, HEAD, DELETE",
                                                 "POST",
                                                 "POST",
                                                 "GET, HEAD",
                                                 "GET, HEAD",
                                                 "GET, HEAD",
                                                 "GET, HEAD",
                                                 "GET, HEAD, PUT, POST, DELETE",
                                                 ""};

void http_log(const http_server *s, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->cfg->options.log_fn)
        s->cfg->options.log_fn(s->cfg->options.log_ctx, level, msg);
    else
        fprintf(stderr, "floe: %s%s\n", level == 0 ? "error: " : level == 1 ? "warning: " : "", msg);
}

static int status_slot(int status)
{
    for (int i = 0; i < STATUS_SLOTS - 1; i++)
        if (status_codes[i] == status)
            return i;
    return STATUS_SLOTS - 1;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if it is not valid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

int http_utf8_valid(const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len(s + i, n - i);
        if (l == 0)
            return 0;
        i += l;
    }
    return 1;
}

/* Appends s as a quoted JSON string; bytes that are not valid UTF-8 become U+FFFD. */
void http_json_str(buf_t *b, const void *p, size_t n)
{
    const unsigned char *s = p;
    buf_append(b, "\"", 1);
    size_t run = 0; /* start of bytes copied verbatim */
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        size_t l = c >= 0x80 ? utf8_seq_len(s + i, n - i) : 0;
        if (l > 1) {
            i += l;
            continue;
        }
        buf_append(b, s + run, i - run);
        if (c == '"')
            buf_puts(b, "\\\"");
        else if (c == '\\')
            buf_puts(b, "\\\\");
        else if (c == '\n')
            buf_puts(b, "\\n");
        else if (c == '\t')
            buf_puts(b, "\\t");
        else if (c < 0x20)
            buf_printf(b, "\\u%04x", c);
        else
            buf_puts(b, "\\ufffd");
        i++;
        run = i;
    }
    buf_append(b, s + run, n - run);
    buf_append(b, "\"", 1);
}

void http_json_cstr(buf_t *b, const char *s)
{
    http_json_str(b, s, strlen(s));
}

/* Queues resp (may be NULL: out of memory) with status and releases our reference. */
enum MHD_Result http_queue(http_req *r, struct MHD_Connection *c, int status, struct MHD_Response *resp,
                           size_t body_bytes)
{
    if (!resp)
        return MHD_NO;
    if (r->s3)
        status = s3_before_queue(r, resp, status); /* S3's request id, and the status of its errors */
    r->status = status;
    if (r->method != M_HEAD)
        atomic_fetch_add_explicit(&r->srv->bytes_out, body_bytes, memory_order_relaxed);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A response whose body is the text in b (taken over; b is reset). NULL if b overflowed. */
struct MHD_Response *http_text_response(buf_t *b, const char *content_type, size_t *len)
{
    char *text = buf_take(b, len);
    if (!text)
        return NULL;
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(*len, text, free);
    if (!resp) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    return resp;
}

static struct MHD_Response *error_response_v(http_req *r, const char *code, size_t *len, const char *fmt,
                                             va_list ap)
{
    char msg[1200];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (r && r->s3)
        return s3_error_response(r, code, msg, len); /* S3's XML error, with S3's code */
    buf_t b;
    buf_init(&b, 8192);
    buf_puts(&b, "{\"error\":{\"code\":");
    http_json_cstr(&b, code);
    buf_puts(&b, ",\"message\":");
    http_json_cstr(&b, msg);
    buf_puts(&b, "}}\n");
    return http_text_response(&b, "application/json", len);
}

struct MHD_Response *http_error_response(http_req *r, const char *code, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct MHD_Response *resp = error_response_v(r, code, len, fmt, ap);
    va_end(ap);
    return resp;
}

enum MHD_Result http_respond_error(http_req *r, struct MHD_Connection *c, int status, const char *code,
                                   const char *fmt, ...)
{
    size_t len = 0;
    va_list ap;
    va_start(ap, fmt);
    struct MHD_Response *resp = error_response_v(r, code, &len, fmt, ap);
    va_end(ap);
    return http_queue(r, c, status, resp, len);
}

/* Answers a failed floe_* call with the status its error code calls for; detail is the message
 * floe_last_error() gave on the thread that made the call. */
enum MHD_Result http_respond_floe_error_msg(http_req *r, struct MHD_Connection *c, int err,
                                            const char *detail)
{
    int status = 500;
    const char *code = "internal";
    const char *retry_after = NULL;
    switch (err) {
    case FLOE_ENOTFOUND:
        status = 404, code = "not_found";
        break;
    case FLOE_EKEY:
        status = 400, code = "invalid_key";
        break;
    case FLOE_EINVAL:
        status = 400, code = "invalid_argument";
        break;
    case FLOE_ETOOBIG:
        status = 413, code = "too_large";
        break;
    case FLOE_ERANGE:
        status = 416, code = "range_not_satisfiable";
        break;
    case FLOE_EREADONLY:
        status = 503, code = "read_only", retry_after = "60";
        break;
    case FLOE_EBEHIND:
        status = 503, code = "cold_tier_behind", retry_after = "5";
        break;
    case FLOE_ECOLD:
        status = 503, code = "cold_tier_unavailable", retry_after = "10";
        break;
    case FLOE_ETIMEDOUT:
        status = 503, code = "timed_out", retry_after = "5";
        break;
    case FLOE_ECLOSED:
        status = 503, code = "shutting_down", retry_after = "5";
        break;
    case FLOE_EFENCED:
        status = 503, code = "fenced", retry_after = "60";
        break;
    case FLOE_ENOMEM:
        status = 503, code = "out_of_memory", retry_after = "1";
        break;
    case FLOE_ECORRUPT:
        status = 500, code = "corrupt";
        break;
    default:
        break;
    }
    size_t len = 0;
    struct MHD_Response *resp =
        http_error_response(r, code, &len, "%s", detail && detail[0] ? detail : floe_strerror(err));
    if (resp && retry_after)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    if (status >= 500)
        http_log(r->srv, 1, "http: %s %s answered %d: %s", method_label[r->method], route_label[r->route],
                 status, detail && detail[0] ? detail : floe_strerror(err));
    return http_queue(r, c, status, resp, len);
}

enum MHD_Result http_respond_floe_error(http_req *r, struct MHD_Connection *c, int err)
{
    return http_respond_floe_error_msg(r, c, err, floe_last_error());
}

enum MHD_Result http_respond_json(http_req *r, struct MHD_Connection *c, int status, buf_t *b)
{
    size_t len = 0;
    if (b->failed) {
        buf_free(b);
        return http_respond_error(r, c, 500, "internal",
                                  "the answer exceeded its %u byte cap or memory ran out",
                                  HTTP_MAX_ANSWER_BYTES);
    }
    struct MHD_Response *resp = http_text_response(b, "application/json", &len);
    return http_queue(r, c, status, resp, len);
}

long http_pct_decode(const char *src, size_t n, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch == '%') {
            if (n - i < 3)
                return -1;
            int hi = hex_digit_value((unsigned char)src[i + 1]);
            int lo = hex_digit_value((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (ch == 0)
            return -2;
        if (o >= cap)
            return -3;
        dst[o++] = (char)ch;
    }
    return (long)o;
}

int http_key_reserved(const void *p, size_t n)
{
    const unsigned char *b = p;
    if (n < FLOE_RESERVED_PREFIX_BYTES)
        return 0;
    for (size_t i = 0; i < FLOE_RESERVED_PREFIX_BYTES; i++)
        if (b[i] != 0xff)
            return 0;
    return 1;
}

enum http_key_result http_key_decode(const char *raw, char *key, size_t *len_out)
{
    size_t n = strlen(raw);
    if (n == 0)
        return HTTP_KEY_EMPTY;
    long len = http_pct_decode(raw, n, key, FLOE_MAX_KEY_BYTES);
    if (len == -1)
        return HTTP_KEY_BAD_ESCAPE;
    if (len == -2)
        return HTTP_KEY_NUL;
    if (len == -3)
        return HTTP_KEY_TOO_LONG;
    key[len] = '\0';
    if (http_key_reserved(key, (size_t)len))
        return HTTP_KEY_RESERVED;
    /* '.' and '..' segments would mean something else to every proxy and file-backed client. */
    const char *seg = key;
    const char *end = key + len;
    while (seg <= end) {
        const char *slash = memchr(seg, '/', (size_t)(end - seg));
        const char *stop = slash ? slash : end;
        size_t sl = (size_t)(stop - seg);
        if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
            return HTTP_KEY_DOT_SEGMENT;
        if (!slash)
            break;
        seg = slash + 1;
    }
    *len_out = (size_t)len;
    return HTTP_KEY_OK;
}

/* Decodes and checks the key of /v1/objects/{key} into r->key. Answers 400/414 itself and returns
 * 0 in that case (with *ret set), 1 when the key is fine. A key too long is 414 URI Too Long, not
 * 413, which would tell the client that its body was too large. */
static int parse_key(http_req *r, struct MHD_Connection *c, const char *raw, enum MHD_Result *ret)
{
    size_t len = 0;
    switch (http_key_decode(raw, r->key, &len)) {
    case HTTP_KEY_OK:
        r->key_len = len;
        return 1;
    case HTTP_KEY_EMPTY:
        *ret = http_respond_error(r, c, 400, "invalid_key", "the key is empty: use /v1/objects/{key}");
        return 0;
    case HTTP_KEY_BAD_ESCAPE:
        *ret = http_respond_error(
            r, c, 400, "invalid_key",
            "the key has a malformed percent-escape: '%%' must be followed by two hex digits");
        return 0;
    case HTTP_KEY_NUL:
        *ret = http_respond_error(r, c, 400, "invalid_key", "the key contains a NUL byte (%%00)");
        return 0;
    case HTTP_KEY_TOO_LONG:
        *ret = http_respond_error(r, c, 414, "key_too_long", "the key is longer than %d bytes",
                                  FLOE_MAX_KEY_BYTES);
        return 0;
    case HTTP_KEY_RESERVED:
        *ret = http_respond_error(r, c, 400, "invalid_key",
                                  "the key begins with %d bytes 0xff: such keys are floe's own",
                                  FLOE_RESERVED_PREFIX_BYTES);
        return 0;
    case HTTP_KEY_DOT_SEGMENT:
    default:
        *ret = http_respond_error(r, c, 400, "invalid_key", "the key has a '.' or '..' path segment");
        return 0;
    }
}

/* The unescape hook for MHD: leave URL and query text as sent, so the handler can refuse malformed
 * escapes and %00 instead of seeing a silently truncated string. */
static size_t raw_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

struct header_tally {
    size_t count;
    size_t bytes;
};

static enum MHD_Result tally_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct header_tally *t = cls;
    t->count++;
    t->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* Access a request's bearer token grants: 0 none (or an unknown token), else a config_access. */
int http_token_access(const http_server *s, const char *token, size_t len)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    int access = 0;
    SHA256((const unsigned char *)token, len, digest);
    for (size_t i = 0; i < s->token_count; i++) {
        /* every token is compared, so the time does not tell which one (or how much) matched */
        int match = CRYPTO_memcmp(digest, s->token_digest[i], sizeof digest) == 0;
        access |= match ? (int)s->token_access[i] : 0;
    }
    return access & CONFIG_ACCESS_WRITE ? CONFIG_ACCESS_WRITE : access;
}

int http_bearer_token(const char *header, const char **token, size_t *len)
{
    if (!header || strncasecmp(header, "Bearer ", 7) != 0)
        return 0;
    const char *tok = header + 7;
    while (*tok == ' ')
        tok++;
    *token = tok;
    *len = strlen(tok);
    return 1;
}

/* Checks the Authorization header against what the request needs. Answers 401/403 itself and
 * returns 0 then; 1 when the request may go on. */
static int check_auth(http_req *r, struct MHD_Connection *c, config_access need, enum MHD_Result *ret)
{
    const http_server *s = r->srv;
    if (s->token_count == 0)
        return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    size_t len = 0, tok_len = 0;
    const char *tok = NULL;
    struct MHD_Response *resp = NULL;
    if (!http_bearer_token(h, &tok, &tok_len)) {
        resp = http_error_response(r, "unauthorized", &len,
                                   "this server needs an Authorization: Bearer <token> header");
        if (resp)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"floe\"");
        *ret = http_queue(r, c, 401, resp, len);
        return 0;
    }
    int access = http_token_access(s, tok, tok_len);
    if (access == 0) {
        resp = http_error_response(r, "unauthorized", &len, "the bearer token is not valid for this server");
        if (resp)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                    "Bearer realm=\"floe\", error=\"invalid_token\"");
        *ret = http_queue(r, c, 401, resp, len);
        return 0;
    }
    if (need == CONFIG_ACCESS_WRITE && access != CONFIG_ACCESS_WRITE) {
        *ret = http_respond_error(r, c, 403, "forbidden",
                                  "this token has read access; %s %s needs a write token",
                                  method_label[r->method], route_label[r->route]);
        return 0;
    }
    return 1;
}

int http_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* Suspends the connection and queues r for a pool thread, which runs the write and resumes the
 * connection; MHD then calls the handler again and http_respond_work answers. Writes run off the MHD
 * threads so that many of them can wait for the same WAL group commit. */
enum MHD_Result http_start_work(http_req *r, struct MHD_Connection *c, enum work_op op)
{
    http_server *s = r->srv;
    r->op = op;
    r->conn = c;
    atomic_store_explicit(&r->work_state, WORK_QUEUED, memory_order_relaxed);
    MHD_suspend_connection(c);
    pthread_mutex_lock(&s->work_mu);
    r->next = NULL;
    if (s->work_tail)
        s->work_tail->next = r;
    else
        s->work_head = r;
    s->work_tail = r;
    atomic_fetch_add(&s->writes_queued, 1);
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->work_mu);
    return MHD_YES;
}

/* The stripe of key_locks that guards writes of key (invariant 5). */
static pthread_rwlock_t *key_lock(http_server *s, const char *key, size_t len)
{
    return &s->key_locks[crc32c(key, len) % HTTP_KEY_LOCK_STRIPES];
}

/* A PUT or DELETE of r's key: the precondition check (if any) and the write, under the key's
 * stripe lock. Returns as the floe_* call; a failed precondition returns 0 with
 * r->work_precondition set and writes nothing. */
int http_write_object(http_req *r)
{
    http_server *s = r->srv;
    int conditional = r->cond.if_match || r->cond.if_none_match || r->cond.if_unmodified_since;
    pthread_rwlock_t *lock = key_lock(s, r->key, r->key_len);
    if (conditional) {
        pthread_rwlock_rdlock(&s->prefix_lock);
        pthread_rwlock_wrlock(lock);
    } else {
        pthread_rwlock_rdlock(lock);
    }
    int rc = conditional ? http_write_preconditions(r) : 0;
    if (r->op == WORK_PUT) {
        floe_writer *w = r->writer;
        r->writer = NULL; /* committed or aborted here, whatever happens (put.c invariant 2) */
        if (rc == 0)
            rc = floe_writer_commit(w, &r->work_seq);
        else
            floe_writer_abort(w);
    } else if (rc == 0) {
        rc = floe_delete(s->db, r->key, r->key_len, &r->work_seq);
    }
    pthread_rwlock_unlock(lock);
    if (conditional)
        pthread_rwlock_unlock(&s->prefix_lock);
    return rc > 0 ? 0 : rc;
}

static void run_work(http_server *s, http_req *r)
{
    int rc = 0;
    r->work_seq = 0;
    switch (r->op) {
    case WORK_PUT:
        rc = http_put_check_digests(r) ? 0 : r->s3 ? s3_commit_put(r) : http_write_object(r);
        http_put_release(r); /* the writer is gone: give its room back at once */
        break;
    case WORK_PUT_PIECE:
        rc = http_put_write_piece(r);
        break;
    case WORK_DELETE:
        rc = http_write_object(r);
        break;
    case WORK_FLUSH:
        rc = floe_flush(s->db, r->flush_level);
        break;
    case WORK_COMPACT:
        rc = floe_compact(s->db);
        break;
    case WORK_S3:
        rc = s3_run_work(r);
        break;
    case WORK_DELETE_PREFIX:
        pthread_rwlock_wrlock(&s->prefix_lock);
        rc = floe_delete_prefix(s->db, r->key, r->key_len, &r->work_seq);
        pthread_rwlock_unlock(&s->prefix_lock);
        break;
    }
    r->work_rc = rc;
    r->work_error[0] = '\0';
    if (rc != 0)
        snprintf(r->work_error, sizeof r->work_error, "%s", floe_last_error());
}

static void *worker_main(void *arg)
{
    http_server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->work_mu);
        while (!s->work_head && !s->work_stop)
            pthread_cond_wait(&s->work_cv, &s->work_mu);
        http_req *r = s->work_head;
        if (!r) { /* stopping and drained */
            pthread_mutex_unlock(&s->work_mu);
            break;
        }
        s->work_head = r->next;
        if (!s->work_head)
            s->work_tail = NULL;
        pthread_mutex_unlock(&s->work_mu);
        atomic_fetch_sub(&s->writes_queued, 1);
        run_work(s, r);
        atomic_store_explicit(&r->work_state, WORK_DONE, memory_order_release);
        MHD_resume_connection(r->conn);
    }
    return NULL;
}

/* Stops the pool after it has run everything queued. */
static void pool_stop(http_server *s)
{
    pthread_mutex_lock(&s->work_mu);
    s->work_stop = 1;
    pthread_cond_broadcast(&s->work_cv);
    pthread_mutex_unlock(&s->work_mu);
    for (unsigned i = 0; i < s->worker_count; i++)
        pthread_join(s->workers[i], NULL);
    s->worker_count = 0;
    free(s->workers);
    s->workers = NULL;
}

static int pool_start(http_server *s, unsigned n)
{
    s->workers = calloc(n, sizeof *s->workers);
    if (!s->workers)
        return err_set(FLOE_ENOMEM, "out of memory starting %u HTTP write threads", n);
    for (unsigned i = 0; i < n; i++) {
        int e = pthread_create(&s->workers[i], NULL, worker_main, s);
        if (e != 0) {
            pool_stop(s);
            return err_set(FLOE_EIO, "cannot start HTTP write thread %u of %u: %s", i + 1, n, strerror(e));
        }
        s->worker_count++;
    }
    return 0;
}

static enum route match_route(const char *url, const char **key)
{
    static const char objects[] = "/v1/objects";
    *key = NULL;
    if (strncmp(url, objects, sizeof objects - 1) == 0) {
        const char *rest = url + sizeof objects - 1;
        if (*rest == '\0')
            return R_LIST;
        if (*rest == '/') {
            *key = rest + 1;
            return R_OBJECT;
        }
        return R_UNKNOWN;
    }
    if (strcmp(url, "/v1/flush") == 0)
        return R_FLUSH;
    if (strcmp(url, "/v1/compact") == 0)
        return R_COMPACT;
    if (strcmp(url, "/v1/stats") == 0)
        return R_STATS;
    if (strcmp(url, "/metrics") == 0)
        return R_METRICS;
    if (strcmp(url, "/healthz") == 0)
        return R_HEALTHZ;
    if (strcmp(url, "/readyz") == 0)
        return R_READYZ;
    return R_UNKNOWN;
}

static enum method match_method(const char *m)
{
    if (strcmp(m, "GET") == 0)
        return M_GET;
    if (strcmp(m, "HEAD") == 0)
        return M_HEAD;
    if (strcmp(m, "PUT") == 0)
        return M_PUT;
    if (strcmp(m, "DELETE") == 0)
        return M_DELETE;
    if (strcmp(m, "POST") == 0)
        return M_POST;
    return M_OTHER;
}

static int method_allowed(enum route route, enum method m)
{
    switch (route) {
    case R_OBJECT:
        return m == M_GET || m == M_HEAD || m == M_PUT || m == M_DELETE;
    case R_FLUSH:
    case R_COMPACT:
        return m == M_POST;
    case R_LIST:
        return m == M_GET || m == M_HEAD || m == M_DELETE;
    case R_UNKNOWN:
        return 1;
    default:
        return m == M_GET || m == M_HEAD;
    }
}

/* The handler's first call for a request: everything up to the body. */
static enum MHD_Result begin_request(http_req *r, struct MHD_Connection *c, const char *url,
                                     const char *method)
{
    http_server *s = r->srv;
    const char *raw_key = NULL;
    enum MHD_Result ret = MHD_NO;
    r->route = match_route(url, &raw_key);

    struct header_tally t = {0, strlen(url) + strlen(method) + 16};
    MHD_get_connection_values(c, MHD_HEADER_KIND, tally_header, &t);
    if (t.count > s->cfg->http.max_headers)
        return http_respond_error(r, c, 431, "headers_too_large",
                                  "the request has %zu headers; the limit is %u", t.count,
                                  s->cfg->http.max_headers);
    if (t.bytes > s->cfg->http.max_header_bytes)
        return http_respond_error(r, c, 431, "headers_too_large",
                                  "the request line and headers take %zu bytes; the limit is %u", t.bytes,
                                  s->cfg->http.max_header_bytes);
    if (r->route == R_UNKNOWN)
        return http_respond_error(r, c, 404, "not_found", "no such endpoint; see docs/http-api.md");
    if (!method_allowed(r->route, r->method)) {
        size_t len = 0;
        struct MHD_Response *resp = http_error_response(r, "method_not_allowed", &len, "%s accepts %s",
                                                        route_label[r->route], route_allow[r->route]);
        if (resp)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, route_allow[r->route]);
        return http_queue(r, c, 405, resp, len);
    }
    if (r->route != R_HEALTHZ && r->route != R_READYZ) {
        config_access need = (r->method == M_PUT || r->method == M_DELETE || r->method == M_POST)
                                 ? CONFIG_ACCESS_WRITE
                                 : CONFIG_ACCESS_READ;
        if (!check_auth(r, c, need, &ret))
            return ret;
    }
    switch (r->route) {
    case R_OBJECT:
        if (!parse_key(r, c, raw_key, &ret))
            return ret;
        if (http_collect_conditions(r, c) != 0)
            return http_respond_error(r, c, 503, "out_of_memory",
                                      "out of memory reading the request headers");
        if (r->method == M_PUT)
            return http_begin_put(r, c);
        if (r->method == M_DELETE)
            return http_handle_delete(r, c);
        return http_handle_get(r, c);
    case R_LIST:
        if (r->method == M_DELETE)
            return http_handle_delete_prefix(r, c);
        return http_handle_list(r, c);
    case R_FLUSH:
        return http_handle_flush(r, c);
    case R_COMPACT:
        return http_handle_compact(r, c);
    case R_STATS:
        return http_handle_stats(r, c);
    case R_METRICS:
        return http_handle_metrics(r, c);
    case R_HEALTHZ:
        return http_handle_health(r, c, 0);
    case R_READYZ:
        return http_handle_health(r, c, 1);
    default:
        return http_respond_error(r, c, 404, "not_found", "no such endpoint");
    }
}

/* libmicrohttpd calls this several times per request: once when the headers are parsed, once per
 * piece of body, and once more when the body is complete. A response queued on the first call makes
 * MHD close the connection afterwards (it will not read the body), so only a PUT that is refused
 * before its body answers there; everything else answers on the last call and keeps the connection
 * alive. */
static enum MHD_Result access_request(http_server *s, int s3, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *upload_data, size_t *upload_data_size,
                                      void **req_cls)
{
    http_req *r = *req_cls;
    if (!r) {
        /* not calloc: zeroing the ~2 KiB of key and message arrays per request shows in profiles */
        r = malloc(sizeof *r);
        if (!r)
            return MHD_NO;
        memset(r, 0, offsetof(http_req, key));
        atomic_init(&r->work_state, WORK_NONE);
        atomic_init(&r->wait.state, BUDGET_IDLE);
        r->key[0] = '\0';
        r->srv = s;
        r->start_ns = clock_now_ns();
        r->method = match_method(method);
        atomic_fetch_add(&s->in_flight, 1);
        *req_cls = r;
        if (s3 && s3_req_create(r) != 0)
            return MHD_NO;
        if (s3 && s3_begins_early(r)) { /* PUT and POST: their bodies are the S3 API's to read */
            r->begun = 1;
            return s3_begin_request(r, c, url, method);
        }
        if (!s3 && r->method == M_PUT) {
            r->begun = 1;
            return begin_request(r, c, url, method);
        }
        return MHD_YES;
    }
    int work = atomic_load_explicit(&r->work_state, memory_order_acquire);
    if (work == WORK_DONE && r->op == WORK_PUT_PIECE) /* a piece of body written: read on */
        atomic_store_explicit(&r->work_state, WORK_NONE, memory_order_relaxed);
    else if (work == WORK_DONE && !r->status)
        return http_respond_work(r, c);
    else if (work == WORK_QUEUED)
        return MHD_YES; /* suspended for the pool; MHD does not call until the resume */
    int waited = atomic_load_explicit(&r->wait.state, memory_order_acquire);
    if ((waited == BUDGET_GRANTED || waited == BUDGET_TIMED_OUT) && !r->status)
        return http_handle_get(r, c); /* resumed by the response budget: read and answer now */
    if (r->status) {                  /* answered already; MHD drops whatever body follows */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (r->s3 && s3_takes_body(r))
            return s3_receive_body(r, c, upload_data, upload_data_size);
        if (r->writer && r->refusal == PUT_REFUSE_NONE)
            return http_receive_body(r, c, upload_data, upload_data_size);
        /* a body nobody asked for (GET, DELETE, POST /v1/flush...) or the body of a PUT that will be
         * refused: skip it, within a cap */
        r->ignored_body_bytes += *upload_data_size;
        *upload_data_size = 0;
        return r->ignored_body_bytes <= (r->refusal != PUT_REFUSE_NONE ? HTTP_MAX_DISCARDED_BODY_BYTES
                                                                       : HTTP_MAX_IGNORED_BODY_BYTES)
                   ? MHD_YES
                   : MHD_NO;
    }
    if (!r->begun) {
        r->begun = 1;
        return r->s3 ? s3_begin_request(r, c, url, method) : begin_request(r, c, url, method);
    }
    return r->s3 ? s3_finish_request(r, c) : http_finish_put(r, c);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **req_cls)
{
    return access_request(cls, 0, c, url, method, upload_data, upload_data_size, req_cls);
}

/* The S3 API's listener (s3api.c routes its requests). */
static enum MHD_Result on_access_s3(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                    const char *version, const char *upload_data, size_t *upload_data_size,
                                    void **req_cls)
{
    return access_request(cls, 1, c, url, method, upload_data, upload_data_size, req_cls);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    http_req *r = *req_cls;
    if (!r)
        return;
    *req_cls = NULL;
    if (http_put_release(r)) /* a PUT whose body never all came: its writer stores nothing */
        atomic_fetch_add(&s->uploads_aborted, 1);
    budget_release(&s->responses, r->resp_reserved);
    http_conditions_free(r);
    s3_req_free(r);
    if (r->status) {
        int k = status_slot(r->status);
        atomic_fetch_add_explicit(&s->requests[r->route][r->method][k], 1, memory_order_relaxed);
        metrics_hist_observe(&s->latency[r->route][r->method][k], clock_now_ns() - r->start_ns);
    } else {
        atomic_fetch_add(&s->requests_aborted, 1);
    }
    atomic_fetch_sub(&s->in_flight, 1);
    free(r);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    http_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&s->connections_open, 1);
        atomic_fetch_add(&s->connections_total, 1);
    } else {
        atomic_fetch_sub(&s->connections_open, 1);
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_server *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    http_log(s, 1, "http: %s", msg);
}

/* Creates, binds and listens on host:port_num (the setting named what, whose text is listen). On
 * success *fd_out is the socket, *port_out the port it got and *v6 says whether it is IPv6. */
static int open_listener(const floe_config *cfg, const char *what, const char *listen_text, const char *host,
                         unsigned port_num, int *fd_out, uint16_t *port_out, int *v6)
{
    struct addrinfo hints = {0}, *res = NULL;
    int fd = -1;
    int rc = 0;
    char port[8];
    snprintf(port, sizeof port, "%u", port_num);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        rc = err_set(FLOE_EINVAL, "%s: %s %s: cannot resolve %s: %s", cfg->source, what, listen_text, host,
                     gai_strerror(gai));
        goto out;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        rc = err_set(FLOE_EIO, "%s %s: socket: %s", what, listen_text, strerror(errno));
        goto out;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (res->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
        rc = err_set(FLOE_EIO, "%s %s: bind: %s", what, listen_text, strerror(errno));
        goto out;
    }
    if (listen(fd, 1024) != 0) {
        rc = err_set(FLOE_EIO, "%s %s: listen: %s", what, listen_text, strerror(errno));
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        rc = err_set(FLOE_EIO, "%s %s: getsockname: %s", what, listen_text, strerror(errno));
        goto out;
    }
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    *v6 = res->ai_family == AF_INET6;
    *fd_out = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    if (res)
        freeaddrinfo(res);
    return rc;
}

/* The response budget's wake: the GET waiting in w may go on (granted room, or out of time). */
static void resume_budget_waiter(budget_waiter *w, void *ctx)
{
    http_req *r = (http_req *)((char *)w - offsetof(http_req, wait));
    MHD_resume_connection(r->conn);
}

/* Writer-preferring, so a conditional write (exclusive on its stripe) is not starved by a stream
 * of unconditional ones (shared) to keys of its stripe, nor a prefix delete by conditional writes. */
static int key_locks_init(http_server *s)
{
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int e = pthread_rwlock_init(&s->prefix_lock, &attr);
    int i = 0;
    for (; i < HTTP_KEY_LOCK_STRIPES && e == 0; i++)
        e = pthread_rwlock_init(&s->key_locks[i], &attr);
    pthread_rwlockattr_destroy(&attr);
    if (e != 0) {
        for (int j = 0; j < i - 1; j++)
            pthread_rwlock_destroy(&s->key_locks[j]);
        if (i > 0)
            pthread_rwlock_destroy(&s->prefix_lock);
        return err_set(FLOE_ENOMEM, "cannot create the HTTP server's key locks: %s", strerror(e));
    }
    s->key_locks_ready = 1;
    return 0;
}

static void key_locks_destroy(http_server *s)
{
    if (!s->key_locks_ready)
        return;
    for (int i = 0; i < HTTP_KEY_LOCK_STRIPES; i++)
        pthread_rwlock_destroy(&s->key_locks[i]);
    pthread_rwlock_destroy(&s->prefix_lock);
    s->key_locks_ready = 0;
}

/* Starts a libmicrohttpd daemon on the listening socket fd (taken over on success) with handler
 * access: the /v1 API's or the S3 API's. Both share the server's limits, threads and pool. */
static int start_daemon(http_server *s, int fd, int v6, MHD_AccessHandlerCallback access, const char *what,
                        const char *listen_text, const config_tls *tls, struct MHD_Daemon **out)
{
    const floe_config *cfg = s->cfg;
    unsigned threads = cfg->http.threads;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (v6)
        flags |= MHD_USE_IPv6;
    if (tls->enabled) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            return err_set(FLOE_EINVAL, "%s %s: tls is configured, but this libmicrohttpd was built without TLS",
                           what, listen_text);
        flags |= MHD_USE_TLS;
    }
    size_t memory = (size_t)cfg->http.max_header_bytes + HTTP_CONNECTION_MEMORY_EXTRA;
    /* The logger comes first so that MHD reports problems with the later options through it; the
     * certificate and key last, only with TLS (an END item ends the list early otherwise). */
    struct MHD_OptionItem options[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, s},
        {MHD_OPTION_LISTEN_SOCKET, fd, NULL},
        {MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? (intptr_t)threads : 0, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)cfg->http.max_connections, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)cfg->http.max_connections_per_ip, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)cfg->http.idle_timeout_s, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)memory, NULL},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)raw_unescape, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s},
        {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
        {tls->enabled ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, tls->cert_pem},
        {tls->enabled ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, tls->key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    *out = MHD_start_daemon(flags, 0, NULL, NULL, access, s, MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (!*out)
        return err_set(FLOE_EIO, "%s %s: libmicrohttpd could not start (see the messages above)", what,
                       listen_text);
    return 0;
}

int http_server_start(floe_t *db, const floe_config *cfg, http_server **out)
{
    int rc = 0;
    int fd = -1;
    int v6 = 0;
    http_server *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(FLOE_ENOMEM, "out of memory starting the HTTP server");
    s->db = db;
    s->cfg = cfg;
    pthread_mutex_init(&s->work_mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    if ((rc = key_locks_init(s)))
        goto out;
    if ((rc = budget_start(&s->responses, cfg->http.max_response_bytes_in_flight, resume_budget_waiter, s)))
        goto out;
    s->token_count = cfg->http.token_count;
    for (size_t i = 0; i < s->token_count; i++) {
        SHA256((const unsigned char *)cfg->http.tokens[i].token, strlen(cfg->http.tokens[i].token),
               s->token_digest[i]);
        s->token_access[i] = cfg->http.tokens[i].access;
    }
    if (s->token_count == 0) {
        if (!config_host_is_loopback(cfg->http.listen_host) && !cfg->http.allow_unauthenticated_remote) {
            rc = err_set(FLOE_EINVAL,
                         "%s: http.listen %s is not a loopback address and no token is configured: add "
                         "http.tokens (or set FLOE_TOKEN), or set http.allow_unauthenticated_remote to true",
                         cfg->source, cfg->http.listen);
            goto out;
        }
    }
    if ((rc = open_listener(cfg, "http.listen", cfg->http.listen, cfg->http.listen_host, cfg->http.listen_port, &fd,
                            &s->port, &v6)))
        goto out;
    if ((rc = pool_start(s, cfg->http.write_threads)))
        goto out;

    if ((rc = start_daemon(s, fd, v6, on_access, "http.listen", cfg->http.listen, &cfg->http.tls, &s->daemon)))
        goto out;
    fd = -1; /* the daemon owns the listening socket now */
    if (cfg->s3.enabled) {
        int s3_v6 = 0;
        if ((rc = s3_api_create(s, &s->s3)) ||
            (rc = open_listener(cfg, "s3.listen", cfg->s3.listen, cfg->s3.listen_host, cfg->s3.listen_port, &fd,
                                &s->s3_port, &s3_v6)) ||
            (rc = start_daemon(s, fd, s3_v6, on_access_s3, "s3.listen", cfg->s3.listen, &cfg->s3.tls, &s->s3_daemon)))
            goto out;
        fd = -1;
    }
    if (s->token_count == 0)
        http_log(s, 1, "http: no tokens configured: every client that can connect to %s may read and write",
                 cfg->http.listen);
    *out = s;
    s = NULL;
out:
    if (fd >= 0)
        close(fd);
    if (s) {
        if (s->daemon)
            MHD_stop_daemon(s->daemon);
        pool_stop(s);
        s3_api_destroy(s->s3);
        budget_stop(&s->responses);
        budget_destroy(&s->responses);
        key_locks_destroy(s);
        pthread_cond_destroy(&s->work_cv);
        pthread_mutex_destroy(&s->work_mu);
        free(s);
    }
    return rc;
}

uint16_t http_server_port(const http_server *s)
{
    return s->port;
}

uint16_t http_server_s3_port(const http_server *s)
{
    return s->s3_daemon ? s->s3_port : 0;
}

void http_server_stop(http_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, 1);
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    if (s->s3_daemon && (fd = MHD_quiesce_daemon(s->s3_daemon)) != MHD_INVALID_SOCKET)
        close(fd);
    s3_api_stop(s->s3); /* its reclaimer of abandoned uploads */
    /* GETs waiting for room in the response budget get their 503 now rather than at the end of
     * the grace period (as does any GET that would wait from now on). */
    budget_stop(&s->responses);
    uint64_t deadline = clock_now_ns() + (uint64_t)s->cfg->http.shutdown_grace_s * 1000000000ull;
    while (atomic_load(&s->in_flight) > 0 && clock_now_ns() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    long left = atomic_load(&s->in_flight);
    if (left > 0)
        http_log(s, 1, "http: %ld requests still in flight after %us; closing their connections", left,
                 s->cfg->http.shutdown_grace_s);
    /* Writes already queued run to completion and resume their connections before MHD stops.
     * Responses MHD frees while it stops give their room back to the budget, destroyed last. */
    pool_stop(s);
    MHD_stop_daemon(s->daemon);
    if (s->s3_daemon)
        MHD_stop_daemon(s->s3_daemon);
    s3_api_destroy(s->s3);
    budget_destroy(&s->responses);
    key_locks_destroy(s);
    pthread_cond_destroy(&s->work_cv);
    pthread_mutex_destroy(&s->work_mu);
    free(s);
}
