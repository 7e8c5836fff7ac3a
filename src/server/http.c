/* floe's HTTP endpoint on libmicrohttpd (docs/http-api.md is the user-facing contract).
 *
 * Threads: libmicrohttpd runs cfg->http.threads threads, each with its own epoll loop, which parse
 * requests and answer reads (GET, HEAD, list, stats) inline. Writes (PUT, DELETE, flush) wait for a
 * WAL sync or an upload, so they go to a pool of cfg->http.write_threads threads: the connection is
 * suspended, a pool thread makes the floe_* call and resumes it, and many writers share one group
 * commit. The http_server is shared by all threads: its counters are atomics, the write queue is
 * guarded by work_mu, everything else is read-only after http_server_start.
 *
 * Request life cycle: the access handler's first call for a request (headers parsed) routes it,
 * enforces the header limits, checks the token and, for everything but PUT, answers at once. A PUT
 * with an acceptable Content-Length gets a body buffer of exactly that size; later calls copy body
 * bytes into it, and the last call (no more data) stores the object. MHD's completion callback
 * frees the request state whatever happened, so an upload cut short stores nothing.
 *
 * Invariants:
 * 1. Every size a client controls is capped before memory is committed to it: header bytes and
 *    count (cfg http.max_header_bytes, http.max_headers, and MHD's per-connection memory limit as a
 *    backstop), key length (FLOE_MAX_KEY_BYTES), body length (http.max_object_bytes, checked from
 *    Content-Length before any body byte is read), bodies buffered at once across all connections
 *    (http.max_body_bytes_in_flight), open connections (total and per client address), JSON answers
 *    (a capped buf_t).
 * 2. A PUT stores its object only after exactly Content-Length bytes arrived; a body that ends early
 *    (client gone, idle timeout, too slow) is dropped with its connection.
 * 3. Token checks compare SHA-256 digests with CRYPTO_memcmp against every configured token, so the
 *    time taken does not depend on how much of a token matched.
 * 4. Every response to a request the handler saw is counted once, in the completion callback, by
 *    route, method and status.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
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
#include "error.h"
#include "metrics.h"

/* Ceiling for any JSON or text answer the server builds (a list of list_max_keys long keys). */
#define HTTP_MAX_ANSWER_BYTES (256u * 1024 * 1024)
/* A body sent with a request that takes none is read and dropped up to this size. */
#define HTTP_MAX_IGNORED_BODY_BYTES (64u * 1024)
/* A PUT over max_object_bytes sent without Expect: 100-continue is read and dropped up to this
 * size before its 413, so the client reads the answer instead of a reset (closing a socket with
 * unread data resets it). A larger one is answered at once and the connection closed. */
#define HTTP_MAX_DISCARDED_BODY_BYTES (16u * 1024 * 1024)
/* MHD's per-connection memory holds the request line and headers plus room to read the body. */
#define HTTP_CONNECTION_MEMORY_EXTRA (4u * 1024)

enum route { R_OBJECT, R_LIST, R_FLUSH, R_STATS, R_METRICS, R_HEALTHZ, R_READYZ, R_UNKNOWN, R_COUNT };
static const char *const route_label[R_COUNT] = {"/v1/objects/{key}", "/v1/objects", "/v1/flush", "/v1/stats",
                                                 "/metrics",          "/healthz",    "/readyz",   "other"};
/* What each route accepts, for 405 answers. */
static const char *const route_allow[R_COUNT] = {
    "GET, HEAD, PUT, DELETE", "GET, HEAD", "POST", "GET, HEAD", "GET, HEAD", "GET, HEAD", "GET, HEAD", ""};

enum method { M_GET, M_HEAD, M_PUT, M_DELETE, M_POST, M_OTHER, M_COUNT };
static const char *const method_label[M_COUNT] = {"GET", "HEAD", "PUT", "DELETE", "POST", "other"};

/* The statuses the server answers with; anything else is counted under "other". */
static const int status_codes[] = {200, 201, 204, 206, 304, 400, 401, 403, 404,
                                   405, 411, 413, 416, 431, 500, 503, 0};
#define STATUS_SLOTS ((int)(sizeof status_codes / sizeof status_codes[0]))

struct http_server {
    floe_t *db;             /* borrowed */
    const floe_config *cfg; /* borrowed */
    struct MHD_Daemon *daemon;
    uint16_t port;
    size_t token_count;
    unsigned char token_digest[CONFIG_MAX_TOKENS][SHA256_DIGEST_LENGTH];
    config_access token_access[CONFIG_MAX_TOKENS];
    atomic_int stopping;               /* set by http_server_stop: /readyz answers 503 */
    atomic_long in_flight;             /* requests between their first handler call and completion */
    atomic_ullong body_bytes_reserved; /* PUT buffers allocated now (cap http.max_body_bytes_in_flight) */
    /* counters */
    atomic_ullong connections_open, connections_total;
    atomic_ullong bytes_in, bytes_out;
    atomic_ullong uploads_too_slow, uploads_aborted, requests_aborted;
    atomic_ullong requests[R_COUNT][M_COUNT][STATUS_SLOTS];
    atomic_ullong writes_queued; /* writes waiting for a pool thread now */
    metrics_hist latency[R_COUNT][M_COUNT][STATUS_SLOTS];
    /* the write pool: requests whose floe_put/delete/flush may wait for a WAL sync or an upload */
    pthread_mutex_t work_mu; /* guards the queue and work_stop */
    pthread_cond_t work_cv;
    struct http_req *work_head, *work_tail;
    int work_stop;
    pthread_t *workers;
    unsigned worker_count;
};

enum work_op { WORK_PUT, WORK_DELETE, WORK_FLUSH };
enum { WORK_NONE, WORK_QUEUED, WORK_DONE };

/* One request's state, from the handler's first call to the completion callback. */
typedef struct http_req {
    http_server *srv;
    uint64_t start_ns;
    enum route route;
    enum method method;
    int status;                  /* of the queued response; 0 until one is queued */
    int begun;                   /* begin_request ran */
    uint64_t ignored_body_bytes; /* body bytes of a request that takes no body */
    int discarding;              /* an oversized PUT body being dropped before its 413 */
    /* a write handed to the write pool; the connection is suspended meanwhile */
    struct MHD_Connection *conn;
    enum work_op op;
    atomic_int work_state; /* WORK_NONE, WORK_QUEUED, WORK_DONE (release: the results below are set) */
    int work_rc;
    uint64_t work_seq;
    floe_durability flush_level;
    struct http_req *next; /* in the pool's queue */
    /* PUT */
    char *body; /* exactly body_expected bytes, owned here until the request completes */
    uint64_t body_len, body_expected, body_reserved;
    uint64_t body_start_ns;
    int has_content_type;
    size_t key_len;
    /* The arrays stay last: req_create zeroes only the fields above them, and each array is
     * written before it is read (key by parse_key, content_type with has_content_type,
     * work_error with work_rc). */
    char key[FLOE_MAX_KEY_BYTES + 1];
    char content_type[FLOE_MAX_CONTENT_TYPE_BYTES + 1];
    char work_error[512];
} http_req;

static void http_log(const http_server *s, int level, const char *fmt, ...) FLOE_PRINTF(3, 4);
static void http_log(const http_server *s, int level, const char *fmt, ...)
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

/* ---- JSON text ---- */

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

static int http_utf8_valid(const void *p, size_t n)
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
static void http_json_str(buf_t *b, const void *p, size_t n)
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

static void http_json_cstr(buf_t *b, const char *s)
{
    http_json_str(b, s, strlen(s));
}

/* ---- responses ---- */

/* Queues resp (may be NULL: out of memory) with status and releases our reference. */
static enum MHD_Result http_queue(http_req *r, struct MHD_Connection *c, int status,
                                  struct MHD_Response *resp, size_t body_bytes)
{
    if (!resp)
        return MHD_NO;
    r->status = status;
    if (r->method != M_HEAD)
        atomic_fetch_add_explicit(&r->srv->bytes_out, body_bytes, memory_order_relaxed);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A response whose body is the text in b (taken over; b is reset). NULL if b overflowed. */
static struct MHD_Response *http_text_response(buf_t *b, const char *content_type, size_t *len)
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

static struct MHD_Response *error_response_v(const char *code, size_t *len, const char *fmt, va_list ap)
{
    char msg[1200];
    vsnprintf(msg, sizeof msg, fmt, ap);
    buf_t b;
    buf_init(&b, 8192);
    buf_puts(&b, "{\"error\":{\"code\":");
    http_json_cstr(&b, code);
    buf_puts(&b, ",\"message\":");
    http_json_cstr(&b, msg);
    buf_puts(&b, "}}\n");
    return http_text_response(&b, "application/json", len);
}

static struct MHD_Response *http_error_response(const char *code, size_t *len, const char *fmt, ...)
    FLOE_PRINTF(3, 4);
static struct MHD_Response *http_error_response(const char *code, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct MHD_Response *resp = error_response_v(code, len, fmt, ap);
    va_end(ap);
    return resp;
}

static enum MHD_Result http_respond_error(http_req *r, struct MHD_Connection *c, int status, const char *code,
                                          const char *fmt, ...) FLOE_PRINTF(5, 6);
static enum MHD_Result http_respond_error(http_req *r, struct MHD_Connection *c, int status, const char *code,
                                          const char *fmt, ...)
{
    size_t len = 0;
    va_list ap;
    va_start(ap, fmt);
    struct MHD_Response *resp = error_response_v(code, &len, fmt, ap);
    va_end(ap);
    return http_queue(r, c, status, resp, len);
}

/* Answers a failed floe_* call with the status its error code calls for; detail is the message
 * floe_last_error() gave on the thread that made the call. */
static enum MHD_Result http_respond_floe_error_msg(http_req *r, struct MHD_Connection *c, int err,
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
        http_error_response(code, &len, "%s", detail && detail[0] ? detail : floe_strerror(err));
    if (resp && retry_after)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    if (status >= 500)
        http_log(r->srv, 1, "http: %s %s answered %d: %s", method_label[r->method], route_label[r->route],
                 status, detail && detail[0] ? detail : floe_strerror(err));
    return http_queue(r, c, status, resp, len);
}

static enum MHD_Result http_respond_floe_error(http_req *r, struct MHD_Connection *c, int err)
{
    return http_respond_floe_error_msg(r, c, err, floe_last_error());
}

static enum MHD_Result http_respond_json(http_req *r, struct MHD_Connection *c, int status, buf_t *b)
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

/* ---- request parsing ---- */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes n bytes of src into dst (capacity cap). Returns the decoded length, -1 for a
 * malformed escape, -2 for a decoded NUL byte, -3 when the result does not fit. */
static long http_pct_decode(const char *src, size_t n, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch == '%') {
            if (n - i < 3)
                return -1;
            int hi = hexval((unsigned char)src[i + 1]);
            int lo = hexval((unsigned char)src[i + 2]);
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

/* Decodes and checks the key of /v1/objects/{key} into r->key. Answers 400/413 itself and returns
 * 0 in that case (with *ret set), 1 when the key is fine. */
static int parse_key(http_req *r, struct MHD_Connection *c, const char *raw, enum MHD_Result *ret)
{
    size_t n = strlen(raw);
    if (n == 0) {
        *ret = http_respond_error(r, c, 400, "invalid_key", "the key is empty: use /v1/objects/{key}");
        return 0;
    }
    long len = http_pct_decode(raw, n, r->key, FLOE_MAX_KEY_BYTES);
    if (len == -1) {
        *ret = http_respond_error(
            r, c, 400, "invalid_key",
            "the key has a malformed percent-escape: '%%' must be followed by two hex digits");
        return 0;
    }
    if (len == -2) {
        *ret = http_respond_error(r, c, 400, "invalid_key", "the key contains a NUL byte (%%00)");
        return 0;
    }
    if (len == -3) {
        *ret = http_respond_error(r, c, 413, "key_too_long", "the key is longer than %d bytes",
                                  FLOE_MAX_KEY_BYTES);
        return 0;
    }
    r->key_len = (size_t)len;
    r->key[len] = '\0';
    /* '.' and '..' segments would mean something else to every proxy and file-backed client. */
    const char *seg = r->key;
    const char *end = r->key + len;
    while (seg <= end) {
        const char *slash = memchr(seg, '/', (size_t)(end - seg));
        const char *stop = slash ? slash : end;
        size_t sl = (size_t)(stop - seg);
        if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.')) {
            *ret = http_respond_error(r, c, 400, "invalid_key", "the key has a '.' or '..' path segment");
            return 0;
        }
        if (!slash)
            break;
        seg = slash + 1;
    }
    return 1;
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
static int token_access(const http_server *s, const char *token, size_t len)
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

/* Checks the Authorization header against what the request needs. Answers 401/403 itself and
 * returns 0 then; 1 when the request may go on. */
static int check_auth(http_req *r, struct MHD_Connection *c, config_access need, enum MHD_Result *ret)
{
    const http_server *s = r->srv;
    if (s->token_count == 0)
        return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    size_t len = 0;
    struct MHD_Response *resp = NULL;
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        resp = http_error_response("unauthorized", &len,
                                   "this server needs an Authorization: Bearer <token> header");
        if (resp)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"floe\"");
        *ret = http_queue(r, c, 401, resp, len);
        return 0;
    }
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    int access = token_access(s, tok, strlen(tok));
    if (access == 0) {
        resp = http_error_response("unauthorized", &len, "the bearer token is not valid for this server");
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

/* Parses a decimal u64 (digits only, no sign or spaces). */
static int http_parse_u64(const char *s, uint64_t *out)
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

/* ---- objects ---- */

static void format_etag(char *buf, size_t cap, uint64_t seq)
{
    snprintf(buf, cap, "\"%" PRIx64 "\"", seq);
}

/* 1 if an If-None-Match header value matches etag (weak comparison, RFC 9110 13.1.2). */
static int etag_matches(const char *header, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        if (*p == '*')
            return 1;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        const char *start = p;
        if (*p == '"') {
            const char *close = strchr(p + 1, '"');
            if (!close)
                return 0;
            p = close + 1;
        } else {
            while (*p && *p != ',' && *p != ' ')
                p++;
        }
        if ((size_t)(p - start) == elen && memcmp(start, etag, elen) == 0)
            return 1;
    }
    return 0;
}

enum range_result { RANGE_NONE, RANGE_OK, RANGE_UNSATISFIABLE };

/* Interprets a Range header for an object of len bytes. A header that is not a single well-formed
 * bytes range is ignored (RANGE_NONE: serve the whole object), as RFC 9110 allows; that includes
 * multiple ranges. */
static enum range_result parse_range(const char *h, uint64_t len, uint64_t *first, uint64_t *last)
{
    if (!h || strncasecmp(h, "bytes=", 6) != 0)
        return RANGE_NONE;
    const char *spec = h + 6;
    while (*spec == ' ')
        spec++;
    if (strchr(spec, ','))
        return RANGE_NONE;
    const char *dash = strchr(spec, '-');
    if (!dash)
        return RANGE_NONE;
    char a[32], b[32];
    size_t al = (size_t)(dash - spec), bl = strlen(dash + 1);
    while (bl > 0 && (dash[bl] == ' ' || dash[bl] == '\t'))
        bl--;
    if (al >= sizeof a || bl >= sizeof b)
        return RANGE_NONE;
    memcpy(a, spec, al);
    a[al] = '\0';
    memcpy(b, dash + 1, bl);
    b[bl] = '\0';
    uint64_t x = 0, y = 0;
    if (al == 0) { /* suffix: the last y bytes */
        if (http_parse_u64(b, &y) != 0)
            return RANGE_NONE;
        if (y == 0 || len == 0)
            return RANGE_UNSATISFIABLE;
        *first = len > y ? len - y : 0;
        *last = len - 1;
        return RANGE_OK;
    }
    if (http_parse_u64(a, &x) != 0)
        return RANGE_NONE;
    if (bl == 0) {
        y = UINT64_MAX;
    } else if (http_parse_u64(b, &y) != 0 || y < x) {
        return RANGE_NONE;
    }
    if (x >= len)
        return RANGE_UNSATISFIABLE;
    *first = x;
    *last = y >= len ? len - 1 : y;
    return RANGE_OK;
}

static void free_value_data(void *cls)
{
    free(cls);
}

static enum MHD_Result http_handle_get(http_req *r, struct MHD_Connection *c)
{
    http_server *s = r->srv;
    floe_value v = {0};
    int rc = floe_get(s->db, r->key, r->key_len, &v);
    if (rc == FLOE_ENOTFOUND)
        return http_respond_error(r, c, 404, "not_found", "no object with this key");
    if (rc != 0)
        return http_respond_floe_error(r, c, rc);
    char etag[40];
    format_etag(etag, sizeof etag, v.seq);
    const char *tier = floe_tier_name(v.tier);
    struct MHD_Response *resp = NULL;
    int status = 200;
    size_t body = 0;

    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (inm && etag_matches(inm, etag)) {
        floe_value_free(&v);
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
        MHD_add_response_header(resp, "X-Floe-Tier", tier);
        return http_queue(r, c, 304, resp, 0);
    }
    uint64_t first = 0, last = 0;
    const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
    enum range_result rr = parse_range(range, v.len, &first, &last);
    if (rr == RANGE_UNSATISFIABLE) {
        char cr[48];
        snprintf(cr, sizeof cr, "bytes */%zu", v.len);
        resp = http_error_response("range_not_satisfiable", &body,
                                   "the range '%s' is outside the object's %zu bytes", range, v.len);
        floe_value_free(&v);
        if (resp)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        return http_queue(r, c, 416, resp, body);
    }
    char content_range[80] = "";
    if (rr == RANGE_OK) {
        status = 206;
        snprintf(content_range, sizeof content_range, "bytes %" PRIu64 "-%" PRIu64 "/%zu", first, last,
                 v.len);
    } else {
        first = 0;
        last = v.len ? v.len - 1 : 0;
    }
    body = v.len ? (size_t)(last - first + 1) : 0;
    resp = MHD_create_response_from_buffer_with_free_callback_cls(body, (char *)v.data + first,
                                                                  free_value_data, v.data);
    if (!resp) {
        floe_value_free(&v);
        return MHD_NO;
    }
    v.data = NULL; /* the response owns it now */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            v.content_type ? v.content_type : "application/octet-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, "X-Floe-Tier", tier);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    if (status == 206)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, content_range);
    floe_value_free(&v);
    return http_queue(r, c, status, resp, body);
}

static enum MHD_Result http_start_work(http_req *r, struct MHD_Connection *c, enum work_op op);

static enum MHD_Result http_handle_delete(http_req *r, struct MHD_Connection *c)
{
    return http_start_work(r, c, WORK_DELETE);
}

/* First call of a PUT: checks the headers and sets up the body buffer, or answers with an error. */
static enum MHD_Result http_begin_put(http_req *r, struct MHD_Connection *c)
{
    http_server *s = r->srv;
    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MATCH) ||
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH))
        return http_respond_error(r, c, 400, "unsupported",
                                  "conditional PUT (If-Match, If-None-Match) is not supported");
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct) {
        size_t n = strlen(ct);
        if (n == 0 || n > FLOE_MAX_CONTENT_TYPE_BYTES)
            return http_respond_error(r, c, 400, "invalid_content_type", "Content-Type must be 1..%d bytes",
                                      FLOE_MAX_CONTENT_TYPE_BYTES);
        for (size_t i = 0; i < n; i++) {
            if ((unsigned char)ct[i] < 0x20 || (unsigned char)ct[i] >= 0x7f)
                return http_respond_error(r, c, 400, "invalid_content_type",
                                          "Content-Type must be printable ASCII");
        }
        memcpy(r->content_type, ct, n + 1);
        r->has_content_type = 1;
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl || MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return http_respond_error(r, c, 411, "length_required",
                                  "PUT needs a Content-Length header (chunked uploads are not accepted)");
    uint64_t len = 0;
    if (http_parse_u64(cl, &len) != 0)
        return http_respond_error(r, c, 400, "bad_request", "Content-Length is not a decimal number");
    uint64_t max = s->cfg->options.max_object_bytes;
    if (len > max) {
        /* A client that asked first (Expect: 100-continue) gets the answer instead of a 100 and
         * sends no body; one that just sends gets its body read and dropped first, if it is not
         * huge, so it can read the 413 rather than a reset. */
        if (!MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT) &&
            len <= HTTP_MAX_DISCARDED_BODY_BYTES) {
            r->discarding = 1;
            r->body_expected = len;
            return MHD_YES;
        }
        return http_respond_error(r, c, 413, "too_large",
                                  "the body of %" PRIu64 " bytes exceeds max_object_bytes %" PRIu64, len,
                                  max);
    }
    /* Reserve the buffer against the server-wide cap before allocating it. */
    uint64_t cap = s->cfg->http.max_body_bytes_in_flight;
    uint64_t prev = atomic_fetch_add(&s->body_bytes_reserved, len);
    if (prev + len > cap && len > 0) {
        atomic_fetch_sub(&s->body_bytes_reserved, len);
        size_t elen = 0;
        struct MHD_Response *resp = http_error_response("busy", &elen,
                                                        "too many uploads in flight (%" PRIu64
                                                        " bytes buffered, cap %" PRIu64 "): retry soon",
                                                        prev, cap);
        if (resp)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
        return http_queue(r, c, 503, resp, elen);
    }
    r->body_reserved = len;
    r->body = malloc(len ? (size_t)len : 1);
    if (!r->body)
        return http_respond_error(r, c, 503, "out_of_memory",
                                  "cannot allocate %" PRIu64 " bytes for the body", len);
    r->body_expected = len;
    r->body_len = 0;
    r->body_start_ns = clock_now_ns();
    return MHD_YES; /* no response yet: MHD reads the body (sending 100 Continue if asked) */
}

/* Copies one piece of a PUT body. Returns MHD_NO (close the connection) for a body too slow. */
static enum MHD_Result http_receive_body(http_req *r, const char *data, size_t *size)
{
    http_server *s = r->srv;
    size_t n = *size;
    *size = 0;
    if (!r->body || n > r->body_expected - r->body_len)
        return MHD_NO; /* MHD enforces Content-Length, so this is a request we did not set up */
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    atomic_fetch_add_explicit(&s->bytes_in, n, memory_order_relaxed);
    uint32_t floor = s->cfg->http.min_body_bytes_per_s;
    if (floor > 0 && r->body_len < r->body_expected) {
        uint64_t elapsed = clock_now_ns() - r->body_start_ns;
        uint64_t grace = (uint64_t)s->cfg->http.body_grace_s * 1000000000ull;
        if (elapsed > grace && (double)r->body_len * 1e9 / (double)elapsed < (double)floor) {
            atomic_fetch_add(&s->uploads_too_slow, 1);
            http_log(s, 1,
                     "http: closing an upload that sends %.0f bytes/s, below http.min_body_bytes_per_s %u",
                     (double)r->body_len * 1e9 / (double)elapsed, floor);
            return MHD_NO;
        }
    }
    return MHD_YES;
}

static enum MHD_Result http_finish_put(http_req *r, struct MHD_Connection *c)
{
    if (r->discarding)
        return http_respond_error(r, c, 413, "too_large",
                                  "the body of %" PRIu64 " bytes exceeds max_object_bytes %" PRIu64,
                                  r->body_expected, r->srv->cfg->options.max_object_bytes);
    if (r->body_len != r->body_expected)
        return http_respond_error(r, c, 400, "bad_request",
                                  "the body has %" PRIu64 " bytes, Content-Length said %" PRIu64, r->body_len,
                                  r->body_expected);
    return http_start_work(r, c, WORK_PUT);
}

/* ---- listing, flush, stats, health ---- */

struct query_ctx {
    const char *const *known; /* NULL-terminated names this route accepts */
    const char *values[4];    /* raw values by index in known */
    int present[4];
    const char *bad; /* first unknown or repeated name */
    int repeated;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct query_ctx *q = cls;
    for (int i = 0; q->known[i]; i++) {
        if (strcmp(q->known[i], key) == 0) {
            if (q->present[i]) {
                q->bad = key;
                q->repeated = 1;
                return MHD_NO;
            }
            q->present[i] = 1;
            q->values[i] = value ? value : "";
            return MHD_YES;
        }
    }
    q->bad = key;
    return MHD_NO;
}

/* Collects the query parameters in known; answers 400 for an unknown or repeated one (returns 0). */
static int parse_query(http_req *r, struct MHD_Connection *c, struct query_ctx *q, enum MHD_Result *ret)
{
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, q);
    if (q->bad) {
        char name[64];
        long n = http_pct_decode(q->bad, strnlen(q->bad, 60), name, sizeof name - 1);
        name[n > 0 ? n : 0] = '\0';
        *ret = http_respond_error(r, c, 400, "bad_request", "query parameter '%s' is %s", name,
                                  q->repeated ? "given twice" : "not known here");
        return 0;
    }
    return 1;
}

static void key_json(buf_t *b, const char *field, const char *key, size_t len)
{
    if (http_utf8_valid(key, len)) {
        buf_printf(b, "\"%s\":", field);
        http_json_str(b, key, len);
        return;
    }
    /* not UTF-8: JSON cannot carry it as a string, so give the bytes in base64 */
    size_t enc_cap = 4 * ((len + 2) / 3) + 1;
    unsigned char enc[4 * ((FLOE_MAX_KEY_BYTES + 2) / 3) + 1];
    if (enc_cap > sizeof enc)
        len = FLOE_MAX_KEY_BYTES;
    int n = EVP_EncodeBlock(enc, (const unsigned char *)key, (int)len);
    buf_printf(b, "\"%s_base64\":\"%.*s\"", field, n, enc);
}

static enum MHD_Result http_handle_list(http_req *r, struct MHD_Connection *c)
{
    http_server *s = r->srv;
    static const char *const known[] = {"prefix", "start_after", "limit", NULL};
    struct query_ctx q = {.known = known};
    enum MHD_Result ret = MHD_NO;
    if (!parse_query(r, c, &q, &ret))
        return ret;
    char prefix[FLOE_MAX_KEY_BYTES + 1], after[FLOE_MAX_KEY_BYTES + 1];
    long plen = 0, alen = 0;
    const char *names[2] = {"prefix", "start_after"};
    char *bufs[2] = {prefix, after};
    long *lens[2] = {&plen, &alen};
    for (int i = 0; i < 2; i++) {
        if (!q.present[i])
            continue;
        long n = http_pct_decode(q.values[i], strlen(q.values[i]), bufs[i], FLOE_MAX_KEY_BYTES);
        if (n == -3)
            return http_respond_error(r, c, 413, "key_too_long", "%s is longer than %d bytes", names[i],
                                      FLOE_MAX_KEY_BYTES);
        if (n < 0)
            return http_respond_error(r, c, 400, "bad_request",
                                      "%s has a malformed percent-escape or a NUL byte", names[i]);
        *lens[i] = n;
    }
    uint64_t limit = 1000;
    if (q.present[2] &&
        (http_parse_u64(q.values[2], &limit) != 0 || limit == 0 || limit > s->cfg->http.list_max_keys))
        return http_respond_error(r, c, 400, "bad_request", "limit must be an integer from 1 to %u",
                                  s->cfg->http.list_max_keys);
    floe_list *list = NULL;
    int rc = floe_list_keys(s->db, prefix, (size_t)plen, q.present[1] ? after : NULL, (size_t)alen,
                            (size_t)limit, &list);
    if (rc != 0)
        return http_respond_floe_error(r, c, rc);
    buf_t b;
    buf_init(&b, HTTP_MAX_ANSWER_BYTES);
    buf_puts(&b, "{\"keys\":[");
    for (size_t i = 0; i < list->count; i++) {
        const floe_list_entry *e = &list->entries[i];
        buf_puts(&b, i ? ",{" : "{");
        key_json(&b, "key", e->key, e->key_len);
        buf_printf(&b, ",\"size\":%" PRIu64 ",\"seq\":%" PRIu64 "}", e->value_len, e->seq);
    }
    buf_printf(&b, "],\"truncated\":%s", list->truncated ? "true" : "false");
    if (list->truncated && list->count > 0) {
        const floe_list_entry *e = &list->entries[list->count - 1];
        buf_puts(&b, ",");
        key_json(&b, "next_start_after", e->key, e->key_len);
    }
    buf_puts(&b, "}\n");
    floe_list_free(list);
    return http_respond_json(r, c, 200, &b);
}

static enum MHD_Result http_handle_flush(http_req *r, struct MHD_Connection *c)
{
    static const char *const known[] = {"wait", NULL};
    struct query_ctx q = {.known = known};
    enum MHD_Result ret = MHD_NO;
    if (!parse_query(r, c, &q, &ret))
        return ret;
    floe_durability level = FLOE_DURABLE_LOCAL;
    if (q.present[0]) {
        if (strcmp(q.values[0], "local") == 0)
            level = FLOE_DURABLE_LOCAL;
        else if (strcmp(q.values[0], "remote") == 0)
            level = FLOE_DURABLE_REMOTE;
        else
            return http_respond_error(r, c, 400, "bad_request", "wait must be local or remote");
    }
    r->flush_level = level;
    return http_start_work(r, c, WORK_FLUSH);
}

static uint64_t http_load(atomic_ullong *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void stats_json(http_server *s, const floe_stats *st, buf_t *b)
{
#define U(name) buf_printf(b, "\"" #name "\":%" PRIu64 ",", st->name)
    buf_puts(b, "{");
    U(puts), U(deletes), U(gets), U(get_hits_memory), U(get_hits_local), U(get_hits_cold), U(get_misses);
    U(last_seq), U(wal_syncs), U(wal_bytes_written), U(wal_files), U(pending_bytes), U(pending_entries);
    U(sealed_unwritten_bytes), U(seals), U(segments_local), U(segments_uploading), U(segments_remote);
    U(segments_local_remote), U(local_segment_bytes), U(bytes_pending_upload), U(object_cache_bytes);
    U(object_cache_entries), U(object_cache_hits), U(object_cache_misses), U(block_cache_bytes);
    U(block_cache_hits), U(block_cache_misses), U(decoded_cache_bytes), U(decoded_cache_hits);
    U(decoded_cache_misses), U(meta_cache_bytes), U(meta_cache_segments);
    U(uploads), U(upload_bytes), U(manifest_version);
    U(writer_epoch);
#undef U
    const char *arrays[3] = {"s3_requests", "s3_errors", "s3_retries"};
    const uint64_t *vals[3] = {st->cold_requests, st->cold_errors, st->cold_retries};
    for (int a = 0; a < 3; a++) {
        buf_printf(b, "\"%s\":{", arrays[a]);
        for (int op = 0; op < FLOE_COLD_OP_COUNT; op++)
            buf_printf(b, "%s\"%s\":%" PRIu64, op ? "," : "", floe_cold_op_name((floe_cold_op)op),
                       vals[a][op]);
        buf_puts(b, "},");
    }
    buf_printf(b, "\"read_only\":%s,\"cold_healthy\":%s,\"last_error\":", st->read_only ? "true" : "false",
               st->cold_healthy ? "true" : "false");
    http_json_str(b, st->last_error, strnlen(st->last_error, sizeof st->last_error));
    uint64_t total = 0;
    for (int ro = 0; ro < R_COUNT; ro++)
        for (int m = 0; m < M_COUNT; m++)
            for (int k = 0; k < STATUS_SLOTS; k++)
                total += http_load(&s->requests[ro][m][k]);
    buf_printf(b,
               ",\"http\":{\"requests\":%" PRIu64 ",\"requests_aborted\":%" PRIu64 ",\"bytes_in\":%" PRIu64
               ",\"bytes_out\":%" PRIu64 ",\"connections_open\":%" PRIu64 ",\"connections_total\":%" PRIu64
               ",\"uploads_too_slow\":%" PRIu64 ",\"uploads_aborted\":%" PRIu64
               ",\"body_bytes_in_flight\":%" PRIu64 "}}\n",
               total, http_load(&s->requests_aborted), http_load(&s->bytes_in), http_load(&s->bytes_out),
               http_load(&s->connections_open), http_load(&s->connections_total),
               http_load(&s->uploads_too_slow), http_load(&s->uploads_aborted),
               http_load(&s->body_bytes_reserved));
}

static enum MHD_Result http_handle_stats(http_req *r, struct MHD_Connection *c)
{
    floe_stats st;
    int rc = floe_stats_get(r->srv->db, &st);
    if (rc != 0)
        return http_respond_floe_error(r, c, rc);
    buf_t b;
    buf_init(&b, 64 * 1024);
    stats_json(r->srv, &st, &b);
    return http_respond_json(r, c, 200, &b);
}

static double ratio(uint64_t hits, uint64_t misses)
{
    return hits + misses ? (double)hits / (double)(hits + misses) : 0.0;
}

/* The code label of status slot k: the status, or "other" for the last slot. */
static void status_code_label(int k, char code[8])
{
    if (status_codes[k])
        snprintf(code, 8, "%d", status_codes[k]);
    else
        snprintf(code, 8, "other");
}

/* floe_http_requests_total: one line per route, method and status that has answered. */
static void metrics_requests(http_server *s, buf_t *b)
{
    buf_puts(b, "# HELP floe_http_requests_total HTTP requests answered, by route, method and status.\n"
                "# TYPE floe_http_requests_total counter\n");
    for (int ro = 0; ro < R_COUNT; ro++)
        for (int m = 0; m < M_COUNT; m++)
            for (int k = 0; k < STATUS_SLOTS; k++) {
                uint64_t n = http_load(&s->requests[ro][m][k]);
                if (n == 0)
                    continue;
                char code[8];
                status_code_label(k, code);
                buf_printf(b,
                           "floe_http_requests_total{route=\"%s\",method=\"%s\",code=\"%s\"} %" PRIu64 "\n",
                           route_label[ro], method_label[m], code, n);
            }
}

/* floe_http_request_duration_seconds: a histogram per route, method and status that has answered. */
static void metrics_latency(http_server *s, buf_t *b)
{
    buf_puts(b, "# HELP floe_http_request_duration_seconds Time from request headers to the last byte sent.\n"
                "# TYPE floe_http_request_duration_seconds histogram\n");
    for (int ro = 0; ro < R_COUNT; ro++)
        for (int m = 0; m < M_COUNT; m++)
            for (int k = 0; k < STATUS_SLOTS; k++) {
                if (http_load(&s->requests[ro][m][k]) == 0)
                    continue;
                char code[8], labels[128];
                status_code_label(k, code);
                snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\",code=\"%s\"", route_label[ro],
                         method_label[m], code);
                metrics_hist_write(&s->latency[ro][m][k], b, "floe_http_request_duration_seconds", labels);
            }
}

/* The metrics with one unlabelled value each: the server's counters and the store's stats. */
static void metrics_unlabelled(http_server *s, const floe_stats *st, buf_t *b)
{
    struct {
        const char *name, *type, *help;
        uint64_t value;
    } simple[] = {
        {"floe_http_requests_aborted_total", "counter", "Requests that ended before an answer was queued.",
         http_load(&s->requests_aborted)},
        {"floe_http_request_body_bytes_total", "counter", "PUT body bytes received.",
         http_load(&s->bytes_in)},
        {"floe_http_response_body_bytes_total", "counter", "Response body bytes queued.",
         http_load(&s->bytes_out)},
        {"floe_http_connections_open", "gauge", "Open client connections.", http_load(&s->connections_open)},
        {"floe_http_connections_total", "counter", "Client connections accepted.",
         http_load(&s->connections_total)},
        {"floe_http_uploads_too_slow_total", "counter", "Uploads closed below http.min_body_bytes_per_s.",
         http_load(&s->uploads_too_slow)},
        {"floe_http_uploads_aborted_total", "counter", "PUT bodies that ended before Content-Length bytes.",
         http_load(&s->uploads_aborted)},
        {"floe_http_body_bytes_in_flight", "gauge", "PUT body bytes buffered now.",
         http_load(&s->body_bytes_reserved)},
        {"floe_puts_total", "counter", "Objects written.", st->puts},
        {"floe_deletes_total", "counter", "Objects deleted.", st->deletes},
        {"floe_gets_total", "counter", "Object reads.", st->gets},
        {"floe_get_misses_total", "counter", "Reads of missing keys.", st->get_misses},
        {"floe_last_seq", "gauge", "Newest sequence number.", st->last_seq},
        {"floe_wal_syncs_total", "counter", "WAL fdatasync calls.", st->wal_syncs},
        {"floe_wal_bytes_written_total", "counter", "Bytes appended to the WAL.", st->wal_bytes_written},
        {"floe_wal_files", "gauge", "WAL files on disk.", st->wal_files},
        {"floe_pending_bytes", "gauge", "Bytes in the pending segment.", st->pending_bytes},
        {"floe_pending_entries", "gauge", "Entries in the pending segment.", st->pending_entries},
        {"floe_sealed_unwritten_bytes", "gauge", "Sealed bytes waiting for their segment file.",
         st->sealed_unwritten_bytes},
        {"floe_seals_total", "counter", "Pending segments sealed.", st->seals},
        {"floe_local_segment_bytes", "gauge", "Bytes in local segment files.", st->local_segment_bytes},
        {"floe_bytes_pending_upload", "gauge", "Sealed bytes waiting for upload to the cold tier.",
         st->bytes_pending_upload},
        {"floe_object_cache_bytes", "gauge", "Bytes in the RAM object cache.", st->object_cache_bytes},
        {"floe_object_cache_entries", "gauge", "Objects in the RAM object cache.", st->object_cache_entries},
        {"floe_object_cache_hits_total", "counter", "Object cache hits.", st->object_cache_hits},
        {"floe_object_cache_misses_total", "counter", "Object cache misses.", st->object_cache_misses},
        {"floe_block_cache_bytes", "gauge", "Bytes in the disk block cache.", st->block_cache_bytes},
        {"floe_block_cache_hits_total", "counter", "Block cache hits.", st->block_cache_hits},
        {"floe_block_cache_misses_total", "counter", "Block cache misses.", st->block_cache_misses},
        {"floe_decoded_cache_bytes", "gauge", "Bytes in the RAM cache of decoded segment blocks.",
         st->decoded_cache_bytes},
        {"floe_decoded_cache_hits_total", "counter", "Decoded-block cache hits.", st->decoded_cache_hits},
        {"floe_decoded_cache_misses_total", "counter", "Decoded-block cache misses.",
         st->decoded_cache_misses},
        {"floe_meta_cache_bytes", "gauge", "Bytes of cold segments' index and bloom held in RAM.",
         st->meta_cache_bytes},
        {"floe_meta_cache_segments", "gauge", "Cold segments whose index and bloom are in RAM.",
         st->meta_cache_segments},
        {"floe_uploads_total", "counter", "Segments uploaded to the cold tier.", st->uploads},
        {"floe_upload_bytes_total", "counter", "Bytes uploaded to the cold tier.", st->upload_bytes},
        {"floe_manifest_version", "gauge", "Newest published manifest version.", st->manifest_version},
        {"floe_writer_epoch", "gauge", "This writer's epoch.", st->writer_epoch},
        {"floe_read_only", "gauge", "1 when a failed write made the store read-only.",
         (uint64_t)st->read_only},
        {"floe_cold_healthy", "gauge", "0 while the cold tier reports a permanent error.",
         (uint64_t)st->cold_healthy},
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", simple[i].name, simple[i].help,
                   simple[i].name, simple[i].type, simple[i].name, simple[i].value);
}

/* The store's metrics with labels: reads by tier, segments by state, cache hit ratios and the cold
 * tier's counters by operation. */
static void metrics_labelled(const floe_stats *st, buf_t *b)
{
    buf_printf(b,
               "# HELP floe_get_hits_total Reads served, by the tier that had the object.\n"
               "# TYPE floe_get_hits_total counter\n"
               "floe_get_hits_total{tier=\"memory\"} %" PRIu64
               "\nfloe_get_hits_total{tier=\"local\"} %" PRIu64
               "\nfloe_get_hits_total{tier=\"cold\"} %" PRIu64 "\n",
               st->get_hits_memory, st->get_hits_local, st->get_hits_cold);
    buf_printf(b,
               "# HELP floe_segments Segments by state.\n# TYPE floe_segments gauge\n"
               "floe_segments{state=\"local\"} %" PRIu64 "\nfloe_segments{state=\"uploading\"} %" PRIu64
               "\nfloe_segments{state=\"remote\"} %" PRIu64 "\nfloe_segments{state=\"local+remote\"} %" PRIu64
               "\n",
               st->segments_local, st->segments_uploading, st->segments_remote, st->segments_local_remote);
    buf_printf(b,
               "# HELP floe_cache_hit_ratio Hits over lookups since start, per cache.\n"
               "# TYPE floe_cache_hit_ratio gauge\nfloe_cache_hit_ratio{cache=\"object\"} %.6f\n"
               "floe_cache_hit_ratio{cache=\"block\"} %.6f\n",
               ratio(st->object_cache_hits, st->object_cache_misses),
               ratio(st->block_cache_hits, st->block_cache_misses));
    const char *names[3] = {"floe_s3_requests_total", "floe_s3_errors_total", "floe_s3_retries_total"};
    const char *helps[3] = {"S3 requests sent, by operation.",
                            "S3 requests that failed for good, by operation.",
                            "S3 requests retried, by operation."};
    const uint64_t *vals[3] = {st->cold_requests, st->cold_errors, st->cold_retries};
    for (int a = 0; a < 3; a++) {
        buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", names[a], helps[a], names[a]);
        for (int op = 0; op < FLOE_COLD_OP_COUNT; op++)
            buf_printf(b, "%s{op=\"%s\"} %" PRIu64 "\n", names[a], floe_cold_op_name((floe_cold_op)op),
                       vals[a][op]);
    }
}

/* The Prometheus text for /metrics (text format 0.0.4) into b, which caps it. */
static void metrics_text(http_server *s, const floe_stats *st, buf_t *b)
{
    metrics_requests(s, b);
    metrics_latency(s, b);
    metrics_unlabelled(s, st, b);
    metrics_labelled(st, b);
}

static enum MHD_Result http_handle_metrics(http_req *r, struct MHD_Connection *c)
{
    floe_stats st;
    int rc = floe_stats_get(r->srv->db, &st);
    if (rc != 0)
        return http_respond_floe_error(r, c, rc);
    buf_t b;
    buf_init(&b, HTTP_MAX_ANSWER_BYTES);
    metrics_text(r->srv, &st, &b);
    if (b.failed) {
        buf_free(&b);
        return http_respond_error(r, c, 500, "internal",
                                  "the metrics text exceeded its cap or memory ran out");
    }
    size_t len = 0;
    struct MHD_Response *resp = http_text_response(&b, "text/plain; version=0.0.4; charset=utf-8", &len);
    return http_queue(r, c, 200, resp, len);
}

static enum MHD_Result http_handle_health(http_req *r, struct MHD_Connection *c, int ready_check)
{
    buf_t b;
    buf_init(&b, 2048);
    if (!ready_check) {
        buf_puts(&b, "{\"status\":\"ok\"}\n");
        return http_respond_json(r, c, 200, &b);
    }
    floe_stats st;
    int rc = floe_stats_get(r->srv->db, &st);
    const char *reason = NULL;
    if (rc != 0)
        reason = floe_last_error();
    else if (atomic_load(&r->srv->stopping))
        reason = "shutting down";
    else if (st.read_only)
        reason = st.last_error[0] ? st.last_error : "the store is read-only after a write error";
    else if (!st.cold_healthy)
        reason = st.last_error[0] ? st.last_error : "the cold tier reports a permanent error";
    if (!reason) {
        buf_puts(&b, "{\"status\":\"ready\"}\n");
        return http_respond_json(r, c, 200, &b);
    }
    buf_puts(&b, "{\"status\":\"not_ready\",\"reason\":");
    http_json_str(&b, reason, strnlen(reason, 1024));
    buf_puts(&b, "}\n");
    size_t len = 0;
    struct MHD_Response *resp = http_text_response(&b, "application/json", &len);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
    return http_queue(r, c, 503, resp, len);
}

/* ---- the write pool ---- */

/* Suspends the connection and queues r for a pool thread, which runs the write and resumes the
 * connection; MHD then calls the handler again and respond_work answers. Writes run off the MHD
 * threads so that many of them can wait for the same WAL group commit. */
static enum MHD_Result http_start_work(http_req *r, struct MHD_Connection *c, enum work_op op)
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

static void run_work(http_server *s, http_req *r)
{
    int rc = 0;
    r->work_seq = 0;
    switch (r->op) {
    case WORK_PUT:
        rc = floe_put(s->db, r->key, r->key_len, r->body, (size_t)r->body_len,
                      r->has_content_type ? r->content_type : NULL, &r->work_seq);
        free(r->body);
        r->body = NULL;
        atomic_fetch_sub(&s->body_bytes_reserved, r->body_reserved);
        r->body_reserved = 0;
        break;
    case WORK_DELETE:
        rc = floe_delete(s->db, r->key, r->key_len, &r->work_seq);
        break;
    case WORK_FLUSH:
        rc = floe_flush(s->db, r->flush_level);
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

/* Answers a request whose write the pool finished. */
static enum MHD_Result http_respond_work(http_req *r, struct MHD_Connection *c)
{
    if (r->work_rc != 0)
        return http_respond_floe_error_msg(r, c, r->work_rc, r->work_error);
    buf_t b;
    buf_init(&b, 256);
    if (r->op == WORK_DELETE) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        return http_queue(r, c, 204, resp, 0);
    }
    if (r->op == WORK_FLUSH) {
        buf_printf(&b, "{\"durable\":\"%s\"}\n", r->flush_level == FLOE_DURABLE_LOCAL ? "local" : "remote");
        return http_respond_json(r, c, 200, &b);
    }
    char etag[40];
    format_etag(etag, sizeof etag, r->work_seq);
    buf_printf(&b, "{\"seq\":%" PRIu64 ",\"size\":%" PRIu64 ",\"etag\":", r->work_seq, r->body_len);
    http_json_cstr(&b, etag);
    buf_puts(&b, "}\n");
    size_t len = 0;
    struct MHD_Response *resp = http_text_response(&b, "application/json", &len);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    return http_queue(r, c, 201, resp, len);
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

/* ---- dispatch ---- */

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
        return m == M_POST;
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
        struct MHD_Response *resp = http_error_response("method_not_allowed", &len, "%s accepts %s",
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
        if (r->method == M_PUT)
            return http_begin_put(r, c);
        if (r->method == M_DELETE)
            return http_handle_delete(r, c);
        return http_handle_get(r, c);
    case R_LIST:
        return http_handle_list(r, c);
    case R_FLUSH:
        return http_handle_flush(r, c);
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
static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **req_cls)
{
    http_server *s = cls;
    http_req *r = *req_cls;
    if (!r) {
        /* not calloc: zeroing the ~2 KiB of key and message arrays per request shows in profiles */
        r = malloc(sizeof *r);
        if (!r)
            return MHD_NO;
        memset(r, 0, offsetof(http_req, key));
        atomic_init(&r->work_state, WORK_NONE);
        r->key[0] = '\0';
        r->srv = s;
        r->start_ns = clock_now_ns();
        r->method = match_method(method);
        atomic_fetch_add(&s->in_flight, 1);
        *req_cls = r;
        if (r->method == M_PUT) {
            r->begun = 1;
            return begin_request(r, c, url, method);
        }
        return MHD_YES;
    }
    if (atomic_load_explicit(&r->work_state, memory_order_acquire) == WORK_DONE && !r->status)
        return http_respond_work(r, c);
    if (r->status) { /* answered already; MHD drops whatever body follows */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (r->body)
            return http_receive_body(r, upload_data, upload_data_size);
        /* a body nobody asked for (GET, DELETE, POST /v1/flush...) or an oversized PUT body being
         * dropped: skip it, within a cap */
        r->ignored_body_bytes += *upload_data_size;
        *upload_data_size = 0;
        return r->ignored_body_bytes <=
                       (r->discarding ? HTTP_MAX_DISCARDED_BODY_BYTES : HTTP_MAX_IGNORED_BODY_BYTES)
                   ? MHD_YES
                   : MHD_NO;
    }
    if (!r->begun) {
        r->begun = 1;
        return begin_request(r, c, url, method);
    }
    return http_finish_put(r, c);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    http_req *r = *req_cls;
    if (!r)
        return;
    *req_cls = NULL;
    if (r->body) {
        atomic_fetch_add(&s->uploads_aborted, 1);
        free(r->body);
    }
    if (r->body_reserved)
        atomic_fetch_sub(&s->body_bytes_reserved, r->body_reserved);
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

/* Creates, binds and listens on the configured address. On success *fd_out is the socket and
 * *v6 says whether it is IPv6. */
static int open_listener(http_server *s, int *fd_out, int *v6)
{
    const floe_config *cfg = s->cfg;
    struct addrinfo hints = {0}, *res = NULL;
    int fd = -1;
    int rc = 0;
    char port[8];
    snprintf(port, sizeof port, "%u", cfg->http.listen_port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(cfg->http.listen_host, port, &hints, &res);
    if (gai != 0) {
        rc = err_set(FLOE_EINVAL, "%s: http.listen %s: cannot resolve %s: %s", cfg->source, cfg->http.listen,
                     cfg->http.listen_host, gai_strerror(gai));
        goto out;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        rc = err_set(FLOE_EIO, "http.listen %s: socket: %s", cfg->http.listen, strerror(errno));
        goto out;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (res->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
        rc = err_set(FLOE_EIO, "http.listen %s: bind: %s", cfg->http.listen, strerror(errno));
        goto out;
    }
    if (listen(fd, 1024) != 0) {
        rc = err_set(FLOE_EIO, "http.listen %s: listen: %s", cfg->http.listen, strerror(errno));
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        rc = err_set(FLOE_EIO, "http.listen %s: getsockname: %s", cfg->http.listen, strerror(errno));
        goto out;
    }
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
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
    if ((rc = open_listener(s, &fd, &v6)))
        goto out;
    if ((rc = pool_start(s, cfg->http.write_threads)))
        goto out;

    unsigned threads = cfg->http.threads;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (v6)
        flags |= MHD_USE_IPv6;
    size_t memory = (size_t)cfg->http.max_header_bytes + HTTP_CONNECTION_MEMORY_EXTRA;
    /* The logger comes first so that MHD reports problems with the later options through it. */
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
        {MHD_OPTION_END, 0, NULL},
    };
    s->daemon =
        MHD_start_daemon(flags, 0, NULL, NULL, on_access, s, MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (!s->daemon) {
        rc = err_set(FLOE_EIO, "http.listen %s: libmicrohttpd could not start (see the messages above)",
                     cfg->http.listen);
        goto out;
    }
    fd = -1; /* the daemon owns the listening socket now */
    if (s->token_count == 0)
        http_log(s, 1, "http: no tokens configured: every client that can connect to %s may read and write",
                 cfg->http.listen);
    *out = s;
    s = NULL;
out:
    if (fd >= 0)
        close(fd);
    if (s) {
        pool_stop(s);
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

void http_server_stop(http_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, 1);
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    uint64_t deadline = clock_now_ns() + (uint64_t)s->cfg->http.shutdown_grace_s * 1000000000ull;
    while (atomic_load(&s->in_flight) > 0 && clock_now_ns() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    long left = atomic_load(&s->in_flight);
    if (left > 0)
        http_log(s, 1, "http: %ld requests still in flight after %us; closing their connections", left,
                 s->cfg->http.shutdown_grace_s);
    /* Writes already queued run to completion and resume their connections before MHD stops. */
    pool_stop(s);
    MHD_stop_daemon(s->daemon);
    pthread_cond_destroy(&s->work_cv);
    pthread_mutex_destroy(&s->work_mu);
    free(s);
}
