/* GET and HEAD of /v1/objects/{key} (docs/http-api.md, "GET and HEAD"): a GET streams the object
 * from a floe_reader into libmicrohttpd's buffer as the socket takes it, so an answer of any size
 * holds about one chunk; Range reads only the bytes it covers; HEAD reads the metadata alone. What
 * an answer holds is charged to the response budget (budget.c, http.max_response_bytes_in_flight)
 * from the open until MHD frees the response; a GET without room waits a moment, suspended, then
 * opens the object again or gets 503.
 *
 * Invariants:
 * 1. Every byte sent is of the version whose headers (ETag, Last-Modified, Content-Length) went
 *    first: the reader reads the version that was newest when it was opened, whatever is written
 *    afterwards.
 * 2. An answer whose read fails (or comes up short) part way ends with
 *    MHD_CONTENT_READER_END_WITH_ERROR: the connection is closed short of Content-Length, which a
 *    client sees as a cut transfer, never as wrong or missing bytes in a complete one.
 * 3. An answer's budget room is released exactly once, by the response's free callback (or, before
 *    a response exists, by drop_reservation), and its reader closed there too.
 */
#include "http_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "s3api.h"

/* The size of the buffer MHD keeps for each streamed answer, and so of the reads it asks for. */
#define HTTP_STREAM_BLOCK_BYTES (256u * 1024)

/* A header that is not a single well-formed bytes range is ignored (RANGE_NONE), and that includes
 * multiple ranges. */
enum range_result http_parse_range(const char *h, uint64_t len, uint64_t *first, uint64_t *last)
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

/* A streamed answer: bytes first..first+len-1 of the object reader reads. Owned by its response,
 * freed (reader closed, budget room given back) by free_stream when MHD is done with it. */
struct body_stream {
    http_server *srv;
    floe_reader *reader;
    uint64_t first, len;
    uint64_t held; /* bytes of the response budget this answer holds */
    char key[128]; /* the key's first bytes, for the log line of a failed read */
};

/* MHD's reader callback: copies the next bytes of the object into MHD's buffer (on the thread of
 * the connection). A failed or short read ends the answer with an error (invariant 2). */
static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct body_stream *st = cls;
    if (pos >= st->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t want = st->len - pos < max ? (size_t)(st->len - pos) : max;
    size_t n = 0;
    int rc = floe_reader_read(st->reader, st->first + pos, buf, want, &n);
    if (rc == 0 && n > 0)
        return (ssize_t)n;
    atomic_fetch_add(&st->srv->responses_cut, 1);
    http_log(st->srv, 0, "http: GET of '%s' cut at byte %" PRIu64 " of %" PRIu64 ": %s", st->key,
             st->first + pos, st->first + st->len,
             rc == 0                ? "the object ended early"
             : floe_last_error()[0] ? floe_last_error()
                                    : floe_strerror(rc));
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void free_stream(void *cls)
{
    struct body_stream *st = cls;
    floe_reader_close(st->reader);
    budget_release(&st->srv->responses, st->held);
    free(st);
}

/* Gives back the room r holds in the response budget. */
static void drop_reservation(http_req *r)
{
    budget_release(&r->srv->responses, r->resp_reserved);
    r->resp_reserved = 0;
}

/* Makes r hold exactly bytes of the response budget, using first what a granted wait reserved
 * for it. 1 when it does; 0 when they do not fit now, and r then holds nothing. */
static int hold_budget(http_req *r, uint64_t bytes)
{
    if (r->resp_reserved >= bytes) {
        budget_release(&r->srv->responses, r->resp_reserved - bytes);
        r->resp_reserved = bytes;
        return 1;
    }
    drop_reservation(r); /* the object grew since the wait: ask for all of it again */
    if (!budget_try_reserve(&r->srv->responses, bytes))
        return 0;
    r->resp_reserved = bytes;
    return 1;
}

static enum MHD_Result respond_over_budget(http_req *r, struct MHD_Connection *c, uint64_t bytes)
{
    http_server *s = r->srv;
    atomic_fetch_add(&s->responses_over_budget, 1);
    size_t len = 0;
    struct MHD_Response *resp = http_error_response(
        r, "busy", &len,
        "GET answers in flight hold %" PRIu64 " bytes of http.max_response_bytes_in_flight (%" PRIu64
        "), too many to add this object's %" PRIu64 " within http.response_wait_ms (%u): retry soon",
        budget_held(&s->responses), s->cfg->http.max_response_bytes_in_flight, bytes,
        s->cfg->http.response_wait_ms);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    return http_queue(r, c, 503, resp, len);
}

/* There is no room for bytes now: suspends the connection until the budget grants them or the
 * request's wait (http.response_wait_ms from its first wait) runs out; the handler's next call
 * (http_handle_get again) reads the object anew. Answers 503 when no time is left. */
static enum MHD_Result wait_for_budget(http_req *r, struct MHD_Connection *c, uint64_t bytes)
{
    http_server *s = r->srv;
    uint64_t now_ns = clock_now_ns();
    if (!r->wait_deadline_ns) {
        r->wait_deadline_ns = now_ns + (uint64_t)s->cfg->http.response_wait_ms * 1000000ull;
        if (now_ns < r->wait_deadline_ns)
            atomic_fetch_add(&s->response_budget_waits, 1);
    }
    if (now_ns >= r->wait_deadline_ns)
        return respond_over_budget(r, c, bytes);
    r->conn = c;
    r->wait.bytes = bytes;
    r->wait.deadline_ns = r->wait_deadline_ns;
    MHD_suspend_connection(c);
    budget_wait(&s->responses, &r->wait);
    return MHD_YES;
}

/* HEAD answers carry no body, so MHD never reads one. */
static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* What an answer of body bytes of an object of object_len bytes holds while it is sent: MHD's buffer,
 * and the reader's, which holds at most one chunk (the whole object when it is not chunked). */
static uint64_t answer_hold_bytes(const http_server *s, uint64_t object_len, uint64_t body)
{
    if (body == 0)
        return 0;
    uint64_t chunk = s->cfg->options.object.chunk_bytes;
    uint64_t block = body < HTTP_STREAM_BLOCK_BYTES ? body : HTTP_STREAM_BLOCK_BYTES;
    return block + (object_len < chunk ? object_len : chunk);
}

/* The response of a GET: bytes first..first+body-1 streamed from *reader (taken over, *reader
 * becomes NULL) holding the room r holds in the response budget (taken over too); an empty body
 * needs neither. NULL when out of memory (then nothing was taken). A HEAD's has no body. */
static struct MHD_Response *body_response(http_req *r, floe_reader **reader, uint64_t first, uint64_t body)
{
    if (r->method == M_HEAD)
        return MHD_create_response_from_callback(body, 4096, no_body, NULL, NULL);
    if (body == 0)
        return MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    struct body_stream *st = malloc(sizeof *st);
    if (!st)
        return NULL;
    *st = (struct body_stream){
        .srv = r->srv, .reader = *reader, .first = first, .len = body, .held = r->resp_reserved};
    snprintf(st->key, sizeof st->key, "%.*s", (int)(r->key_len < 100 ? r->key_len : 100), r->key);
    size_t block = body < HTTP_STREAM_BLOCK_BYTES ? (size_t)body : HTTP_STREAM_BLOCK_BYTES;
    struct MHD_Response *resp = MHD_create_response_from_callback(body, block, read_stream, st, free_stream);
    if (!resp) {
        free(st);
        return NULL;
    }
    *reader = NULL;
    r->resp_reserved = 0;
    return resp;
}

/* 416 for a range that starts past the object's len bytes. */
static enum MHD_Result respond_unsatisfiable(http_req *r, struct MHD_Connection *c, const char *range,
                                             uint64_t len)
{
    char cr[48];
    size_t body = 0;
    snprintf(cr, sizeof cr, "bytes */%" PRIu64, len);
    struct MHD_Response *resp =
        http_error_response(r, "range_not_satisfiable", &body,
                            "the range '%s' is outside the object's %" PRIu64 " bytes", range, len);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    return http_queue(r, c, 416, resp, body);
}

/* The headers that say which version an answer is of. */
static void add_version_headers(struct MHD_Response *resp, const char *etag, const char *modified,
                                const char *tier)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    if (modified[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, modified);
    MHD_add_response_header(resp, "X-Floe-Tier", tier);
}

/* The object's user metadata as x-floe-meta-<name> headers, as its PUT sent them. */
static void add_user_meta_headers(struct MHD_Response *resp, const floe_value *v)
{
    size_t pos = 0;
    const char *name, *value;
    char header[sizeof HTTP_META_PREFIX + FLOE_MAX_USER_META_BYTES];
    while (http_meta_next(v->user_meta, v->user_meta_len, &pos, &name, &value)) {
        snprintf(header, sizeof header, "%s%s", HTTP_META_PREFIX, name);
        MHD_add_response_header(resp, header, value);
    }
}

/* What a GET or HEAD found, and what it answers with. */
struct get_answer {
    floe_value v;
    floe_reader *reader; /* GET only */
    char etag[HTTP_ETAG_BYTES], modified[40];
    const char *range;
    int status;
    uint64_t first, body;
    char content_range[80];
};

static void answer_free(struct get_answer *a)
{
    floe_reader_close(a->reader);
    a->reader = NULL;
    floe_value_free(&a->v);
}

/* Evaluates the preconditions, If-Range and Range against what a found. Answers (304, 412, 416) and
 * returns 0 with *ret set, or returns 1 with a's status, first, body and content_range set. */
static int decide_answer(http_req *r, struct MHD_Connection *c, struct get_answer *a, enum MHD_Result *ret)
{
    /* A missing key was answered 404 before this whatever the preconditions said: RFC 9110 section
     * 13.2.1 has them ignored when the answer without them would not be 2xx. */
    const char *decided_by = NULL;
    enum http_precondition pc = http_preconditions_evaluate(&r->cond, a->etag, http_modified_s(a->v.write_ms),
                                                            1, http_now_s(), &decided_by);
    if (pc == HTTP_PRECONDITION_FAILED) {
        *ret = http_respond_precondition_failed_as(r, c, decided_by, a->etag, a->modified);
        return 0;
    }
    if (pc == HTTP_PRECONDITION_NOT_MODIFIED) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (!resp) {
            *ret = MHD_NO;
            return 0;
        }
        add_version_headers(resp, a->etag, a->modified, floe_tier_name(a->v.tier));
        *ret = http_queue(r, c, 304, resp, 0);
        return 0;
    }
    if (a->range && r->cond.if_range && !http_if_range_allows(r->cond.if_range, a->etag))
        a->range = NULL; /* the client's copy is not this version: send the whole object */
    uint64_t len = a->v.len, last = 0;
    enum range_result rr = http_parse_range(a->range, len, &a->first, &last);
    if (rr == RANGE_UNSATISFIABLE) {
        *ret = respond_unsatisfiable(r, c, a->range, len);
        return 0;
    }
    a->status = 200;
    if (rr == RANGE_OK) {
        a->status = 206;
        snprintf(a->content_range, sizeof a->content_range, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
                 a->first, last, len);
    } else {
        a->first = 0;
        last = len ? len - 1 : 0;
    }
    a->body = len ? last - a->first + 1 : 0;
    return 1;
}

/* GET and HEAD. A GET opens a reader of the key's newest version, holds what its answer will hold
 * against the response budget (or waits for room, with the reader closed, and opens the key anew
 * when woken), and streams; a HEAD reads only the metadata (floe_head) and holds nothing. */
enum MHD_Result http_handle_get(http_req *r, struct MHD_Connection *c)
{
    http_server *s = r->srv;
    int waited = atomic_exchange_explicit(&r->wait.state, BUDGET_IDLE, memory_order_acquire);
    if (waited == BUDGET_GRANTED)
        r->resp_reserved = r->wait.bytes;
    else if (waited == BUDGET_TIMED_OUT)
        return respond_over_budget(r, c, r->wait.bytes);
    struct get_answer a = {.range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE)};
    int rc = r->method == M_HEAD ? floe_head(s->db, r->key, r->key_len, &a.v)
                                 : floe_reader_open(s->db, r->key, r->key_len, &a.v, &a.reader);
    if (rc != 0) {
        a.reader = NULL;
        drop_reservation(r);
        if (rc == FLOE_ENOTFOUND)
            return http_respond_error(r, c, 404, r->s3 ? "NoSuchKey" : "not_found", "no object with this key");
        return http_respond_floe_error(r, c, rc);
    }
    http_value_etag(r, &a.v, a.etag, sizeof a.etag);
    http_format_date(a.modified, sizeof a.modified, a.v.write_ms);
    char part_range[64];
    int part = r->s3 ? s3_part_range(r, &a.v, part_range, sizeof part_range) : 0;
    if (part < 0) {
        drop_reservation(r);
        answer_free(&a);
        return http_respond_error(r, c, 416, "InvalidPartNumber", "the object has no such part");
    }
    if (part > 0)
        a.range = part_range; /* S3's partNumber=N reads part N as a range */
    enum MHD_Result ret = MHD_NO;
    if (!decide_answer(r, c, &a, &ret)) {
        drop_reservation(r);
        answer_free(&a);
        return ret;
    }
    if (r->method != M_HEAD) {
        uint64_t hold = answer_hold_bytes(s, a.v.len, a.body);
        if (!hold_budget(r, hold)) {
            answer_free(&a);
            return wait_for_budget(r, c, hold);
        }
    }
    struct MHD_Response *resp = body_response(r, &a.reader, a.first, a.body);
    if (!resp) {
        drop_reservation(r);
        answer_free(&a);
        return MHD_NO;
    }
    if (r->s3) /* Content-Type (or its response-content-type override), x-amz-meta-*, ... */
        s3_add_object_headers(r, c, resp, &a.v, a.status == 206);
    else
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                a.v.content_type ? a.v.content_type : "application/octet-stream");
    add_version_headers(resp, a.etag, a.modified, floe_tier_name(a.v.tier));
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    if (a.status == 206)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, a.content_range);
    if (!r->s3)
        add_user_meta_headers(resp, &a.v);
    uint64_t body = a.body;
    int status = a.status;
    answer_free(&a);
    return http_queue(r, c, status, resp, (size_t)body);
}
