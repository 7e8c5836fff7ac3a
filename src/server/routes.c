/* The HTTP endpoints (docs/http-api.md) other than GET/HEAD (get.c) and PUT (put.c) of objects:
 * DELETE, listing, flush, compaction, stats, the Prometheus metrics and the health checks, the
 * answers to writes the write pool finished, and what every object route shares: ETags,
 * Last-Modified and the conditional-request headers. http.c routes requests here after the limits
 * and auth; the invariants it lists (caps, a PUT stored only whole, counting) hold for every
 * handler here.
 */
#include "http_internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "s3api.h"

#include "clock.h"

void http_format_etag(char *buf, size_t cap, int md5_known, const unsigned char md5[16], uint64_t seq)
{
    if (!md5_known) {
        snprintf(buf, cap, "\"%" PRIx64 "\"", seq);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    char text[35];
    text[0] = '"';
    for (int i = 0; i < 16; i++) {
        text[1 + 2 * i] = hex[md5[i] >> 4];
        text[2 + 2 * i] = hex[md5[i] & 15];
    }
    text[33] = '"';
    text[34] = '\0';
    snprintf(buf, cap, "%s", text);
}

void http_value_etag(const http_req *r, const floe_value *v, char *buf, size_t cap)
{
    if (r->s3 && s3_multipart_etag(v, buf, cap))
        return;
    http_format_etag(buf, cap, v->md5_known, v->md5, v->seq);
}

/* An IMF-fixdate (RFC 9110 section 5.6.7, "Sun, 06 Nov 1994 08:49:37 GMT") of a write time in unix
 * milliseconds, for Last-Modified; "" when the time is unknown (0) or cannot be shown. Names of days
 * and months are spelled out here, not taken from the locale. cap must be at least 30. */
void http_format_date(char *buf, size_t cap, uint64_t unix_ms)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    time_t t = (time_t)(unix_ms / 1000);
    buf[0] = '\0';
    if (unix_ms == 0 || unix_ms / 1000 > (uint64_t)253402300799 /* 9999-12-31 */ || !gmtime_r(&t, &tm))
        return;
    snprintf(buf, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The conditional-request headers, in the order of struct http_conditions' fields. */
static const char *const condition_names[5] = {MHD_HTTP_HEADER_IF_MATCH, MHD_HTTP_HEADER_IF_NONE_MATCH,
                                               MHD_HTTP_HEADER_IF_MODIFIED_SINCE,
                                               MHD_HTTP_HEADER_IF_UNMODIFIED_SINCE, MHD_HTTP_HEADER_IF_RANGE};

static const char **condition_slot(struct http_conditions *h, int i)
{
    const char **slots[5] = {&h->if_match, &h->if_none_match, &h->if_modified_since, &h->if_unmodified_since,
                             &h->if_range};
    return slots[i];
}

static enum MHD_Result collect_condition(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    http_req *r = cls;
    for (int i = 0; i < 5; i++) {
        if (strcasecmp(key, condition_names[i]) != 0)
            continue;
        const char **slot = condition_slot(&r->cond, i);
        if (!value)
            value = "";
        if (!*slot) {
            *slot = value; /* MHD's copy, valid until the request completes */
            return MHD_YES;
        }
        /* a second line of the same header: the lines joined make one list (RFC 9110 section 5.3) */
        size_t n = strlen(*slot) + 2 + strlen(value) + 1;
        char *joined = malloc(n);
        if (!joined) {
            r->cond_failed = 1;
            return MHD_NO;
        }
        snprintf(joined, n, "%s, %s", *slot, value);
        free(r->cond_joined[i]);
        r->cond_joined[i] = joined;
        *slot = joined;
        return MHD_YES;
    }
    return MHD_YES;
}

int http_collect_conditions(http_req *r, struct MHD_Connection *c)
{
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_condition, r);
    return r->cond_failed ? -1 : 0;
}

void http_conditions_free(http_req *r)
{
    for (int i = 0; i < 5; i++) {
        free(r->cond_joined[i]);
        r->cond_joined[i] = NULL;
    }
}

int64_t http_modified_s(uint64_t write_ms)
{
    return write_ms ? (int64_t)(write_ms / 1000) : -1;
}

int64_t http_now_s(void)
{
    return (int64_t)(clock_unix_ms() / 1000);
}

/* The 412 answer: which precondition failed, and against what (etag NULL: no object; modified is
 * the object's Last-Modified, "" if unknown). */
enum MHD_Result http_respond_precondition_failed_as(http_req *r, struct MHD_Connection *c, const char *header,
                                                    const char *etag, const char *modified)
{
    if (!etag)
        return http_respond_error(r, c, 412, "precondition_failed",
                                  "%s failed: there is no object with this key", header);
    if (strcmp(header, "If-Unmodified-Since") == 0)
        return http_respond_error(r, c, 412, "precondition_failed",
                                  "If-Unmodified-Since failed: the object was last modified %s", modified);
    return http_respond_error(r, c, 412, "precondition_failed", "%s failed: the object's ETag is %s", header,
                              etag);
}

int http_write_preconditions(http_req *r)
{
    const struct http_conditions *h = &r->cond;
    if (!h->if_match && !h->if_none_match && !h->if_unmodified_since)
        return 0;
    floe_value v = {0};
    int rc = floe_head(r->srv->db, r->key, r->key_len, &v); /* the metadata is all the check needs */
    if (rc != 0 && rc != FLOE_ENOTFOUND)
        return rc;
    char etag[HTTP_ETAG_BYTES] = "";
    if (rc == 0)
        http_value_etag(r, &v, etag, sizeof etag);
    const char *decided_by = NULL;
    uint64_t v_write_ms = v.write_ms;
    enum http_precondition pc = http_preconditions_evaluate(
        h, rc == 0 ? etag : NULL, http_modified_s(v.write_ms), 0, http_now_s(), &decided_by);
    floe_value_free(&v);
    if (pc == HTTP_PRECONDITION_PASS)
        return 0;
    r->work_precondition = decided_by;
    snprintf(r->work_etag, sizeof r->work_etag, "%s", etag);
    http_format_date(r->work_modified, sizeof r->work_modified, rc == 0 ? v_write_ms : 0);
    return 1;
}

enum MHD_Result http_respond_precondition_failed(http_req *r, struct MHD_Connection *c)
{
    return http_respond_precondition_failed_as(r, c, r->work_precondition,
                                               r->work_etag[0] ? r->work_etag : NULL, r->work_modified);
}

enum MHD_Result http_handle_delete(http_req *r, struct MHD_Connection *c)
{
    return http_start_work(r, c, WORK_DELETE);
}

int http_query_arg(struct query_ctx *q, const char *key, const char *value)
{
    for (int i = 0; q->known[i]; i++) {
        if (strcmp(q->known[i], key) == 0) {
            if (q->present[i]) {
                q->bad = key;
                q->repeated = 1;
                return 0;
            }
            q->present[i] = 1;
            q->values[i] = value ? value : "";
            return 1;
        }
    }
    q->bad = key;
    return 0;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    return http_query_arg(cls, key, value) ? MHD_YES : MHD_NO;
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

enum MHD_Result http_handle_list(http_req *r, struct MHD_Connection *c)
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
            return http_respond_error(r, c, 414, "key_too_long", "%s is longer than %d bytes", names[i],
                                      FLOE_MAX_KEY_BYTES);
        if (n < 0)
            return http_respond_error(r, c, 400, "bad_request",
                                      "%s has a malformed percent-escape or a NUL byte", names[i]);
        if (http_key_reserved(bufs[i], (size_t)n))
            return http_respond_error(r, c, 400, "invalid_key", "%s begins with %d bytes 0xff: such keys are floe's own",
                                      names[i], FLOE_RESERVED_PREFIX_BYTES);
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
        char etag[HTTP_ETAG_BYTES], modified[40];
        http_format_etag(etag, sizeof etag, e->md5_known, e->md5, e->seq);
        http_format_date(modified, sizeof modified, e->write_ms);
        /* the ETag's quotes are part of it (as GET sends it), escaped for JSON */
        buf_printf(&b, ",\"size\":%" PRIu64 ",\"seq\":%" PRIu64 ",\"etag\":\"\\\"%.*s\\\"\"", e->value_len,
                   e->seq, (int)strlen(etag) - 2, etag + 1);
        if (modified[0])
            buf_printf(&b, ",\"last_modified\":\"%s\",\"write_ms\":%" PRIu64, modified, e->write_ms);
        buf_puts(&b, "}");
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

enum MHD_Result http_handle_flush(http_req *r, struct MHD_Connection *c)
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

enum MHD_Result http_handle_delete_prefix(http_req *r, struct MHD_Connection *c)
{
    static const char *const known[] = {"prefix", NULL};
    struct query_ctx q = {.known = known};
    enum MHD_Result ret = MHD_NO;
    if (!parse_query(r, c, &q, &ret))
        return ret;
    long n = q.present[0] ? http_pct_decode(q.values[0], strlen(q.values[0]), r->key, FLOE_MAX_KEY_BYTES) : 0;
    if (n == -3)
        return http_respond_error(r, c, 414, "key_too_long", "prefix is longer than %d bytes",
                                  FLOE_MAX_KEY_BYTES);
    if (n < 0)
        return http_respond_error(r, c, 400, "bad_request",
                                  "prefix has a malformed percent-escape or a NUL byte");
    if (n == 0)
        return http_respond_error(
            r, c, 400, "bad_request",
            "DELETE /v1/objects needs a non-empty prefix=P: it deletes every key under P");
    if (http_key_reserved(r->key, (size_t)n))
        return http_respond_error(r, c, 400, "invalid_key", "prefix begins with %d bytes 0xff: such keys are floe's own",
                                  FLOE_RESERVED_PREFIX_BYTES);
    r->key_len = (size_t)n;
    return http_start_work(r, c, WORK_DELETE_PREFIX);
}

enum MHD_Result http_handle_compact(http_req *r, struct MHD_Connection *c)
{
    static const char *const known[] = {"wait", NULL};
    struct query_ctx q = {.known = known};
    enum MHD_Result ret = MHD_NO;
    if (!parse_query(r, c, &q, &ret))
        return ret;
    if (!q.present[0] || strcmp(q.values[0], "1") != 0)
        return http_respond_error(r, c, 400, "bad_request",
                                  "POST /v1/compact needs wait=1: it compacts now and answers when done");
    return http_start_work(r, c, WORK_COMPACT);
}

static uint64_t http_load(atomic_ullong *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

/* The group commits floe_stats.wal_batch_hist counts: the sum of its buckets. */
static uint64_t wal_batches(const floe_stats *st)
{
    uint64_t n = 0;
    for (int i = 0; i < FLOE_WAL_BATCH_BUCKETS; i++)
        n += st->wal_batch_hist[i];
    return n;
}

/* The WAL batch histogram and the mean writes per group commit (0 before the first), as
 * "wal_synced_writes", "wal_writes_per_sync" and "wal_batch_hist": an object keyed by each
 * bucket's range of writes ("1", "2-3", ..., "32768+"), each followed by a comma. */
static void stats_json_wal_batches(const floe_stats *st, buf_t *b)
{
    uint64_t batches = wal_batches(st);
    buf_printf(b, "\"wal_synced_writes\":%" PRIu64 ",\"wal_writes_per_sync\":%.3f,\"wal_batch_hist\":{",
               st->wal_synced_writes, batches ? (double)st->wal_synced_writes / (double)batches : 0.0);
    for (int i = 0; i < FLOE_WAL_BATCH_BUCKETS; i++) {
        uint64_t lo = (uint64_t)1 << i, hi = ((uint64_t)2 << i) - 1;
        const char *sep = i ? "," : "";
        if (i == FLOE_WAL_BATCH_BUCKETS - 1)
            buf_printf(b, "%s\"%" PRIu64 "+\":%" PRIu64, sep, lo, st->wal_batch_hist[i]);
        else if (lo == hi)
            buf_printf(b, "%s\"%" PRIu64 "\":%" PRIu64, sep, lo, st->wal_batch_hist[i]);
        else
            buf_printf(b, "%s\"%" PRIu64 "-%" PRIu64 "\":%" PRIu64, sep, lo, hi, st->wal_batch_hist[i]);
    }
    buf_puts(b, "},");
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
    U(writer_epoch), U(gc_runs), U(gc_objects_deleted), U(gc_errors), U(segments_per_read_max),
        U(compactions), U(compaction_moves), U(compaction_bytes_read), U(compaction_bytes_written),
        U(compaction_queue_depth), U(compaction_errors), U(compaction_expired), U(compaction_drops),
        U(segments_level0), U(levels);
#undef U
    stats_json_wal_batches(st, b);
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
    buf_printf(
        b,
        ",\"http\":{\"requests\":%" PRIu64 ",\"requests_aborted\":%" PRIu64 ",\"bytes_in\":%" PRIu64
        ",\"bytes_out\":%" PRIu64 ",\"connections_open\":%" PRIu64 ",\"connections_total\":%" PRIu64
        ",\"uploads_too_slow\":%" PRIu64 ",\"uploads_aborted\":%" PRIu64 ",\"body_bytes_in_flight\":%" PRIu64
        ",\"response_bytes_in_flight\":%" PRIu64 ",\"response_budget_waits\":%" PRIu64
        ",\"responses_over_budget\":%" PRIu64 ",\"responses_cut\":%" PRIu64 "}}\n",
        total, http_load(&s->requests_aborted), http_load(&s->bytes_in), http_load(&s->bytes_out),
        http_load(&s->connections_open), http_load(&s->connections_total), http_load(&s->uploads_too_slow),
        http_load(&s->uploads_aborted), http_load(&s->body_bytes_reserved), budget_held(&s->responses),
        http_load(&s->response_budget_waits), http_load(&s->responses_over_budget),
        http_load(&s->responses_cut));
}

enum MHD_Result http_handle_stats(http_req *r, struct MHD_Connection *c)
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
        {"floe_http_body_bytes_in_flight", "gauge",
         "PUT body bytes buffered now, about a chunk per PUT (cap http.max_body_bytes_in_flight).",
         http_load(&s->body_bytes_reserved)},
        {"floe_http_response_bytes_in_flight", "gauge",
         "Bytes held in the buffers of GET answers now (cap http.max_response_bytes_in_flight).",
         budget_held(&s->responses)},
        {"floe_http_response_budget_waits_total", "counter",
         "GETs that waited for room under http.max_response_bytes_in_flight.",
         http_load(&s->response_budget_waits)},
        {"floe_http_responses_over_budget_total", "counter",
         "GETs answered 503 because http.max_response_bytes_in_flight had no room in time.",
         http_load(&s->responses_over_budget)},
        {"floe_http_responses_cut_total", "counter",
         "GET answers ended before their last byte because the store failed a read.",
         http_load(&s->responses_cut)},
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
        {"floe_gc_runs_total", "counter", "Background gc runs of the cold tier that finished.", st->gc_runs},
        {"floe_gc_objects_deleted_total", "counter", "Manifests and segment objects background gc deleted.",
         st->gc_objects_deleted},
        {"floe_gc_errors_total", "counter", "Background gc runs that failed.", st->gc_errors},
        {"floe_segments_per_read_max", "gauge", "Segments a point read may consult after the memtables.",
         st->segments_per_read_max},
        {"floe_compactions_total", "counter", "Compaction merge jobs finished.", st->compactions},
        {"floe_compaction_moves_total", "counter",
         "Compaction jobs that moved segments down a level as they were.", st->compaction_moves},
        {"floe_compaction_read_bytes_total", "counter",
         "Bytes compaction read (local files and cold downloads).", st->compaction_bytes_read},
        {"floe_compaction_written_bytes_total", "counter", "Segment bytes compaction wrote.",
         st->compaction_bytes_written},
        {"floe_compaction_queue_depth", "gauge", "Compaction jobs due now.", st->compaction_queue_depth},
        {"floe_compaction_errors_total", "counter", "Compaction jobs that failed.", st->compaction_errors},
        {"floe_compaction_expired_total", "counter", "Entries compaction removed as expired by retention.",
         st->compaction_expired},
        {"floe_compaction_drops_total", "counter",
         "Segments dropped unread because a prefix delete hid them.", st->compaction_drops},
        {"floe_segments_level0", "gauge", "Level-0 segments.", st->segments_level0},
        {"floe_levels", "gauge", "Levels below 0 that hold segments.", st->levels},
        {"floe_read_only", "gauge", "1 when a failed write made the store read-only.",
         (uint64_t)st->read_only},
        {"floe_cold_healthy", "gauge", "0 while the cold tier reports a permanent error.",
         (uint64_t)st->cold_healthy},
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", simple[i].name, simple[i].help,
                   simple[i].name, simple[i].type, simple[i].name, simple[i].value);
}

/* floe_wal_sync_batch_writes: the histogram of writes per WAL group commit (floe.h,
 * wal_batch_hist). Bucket i of the store holds 2^i .. 2^(i+1) - 1 writes, so the cumulative
 * buckets' bounds are 1, 3, 7, ..., 2^15 - 1 and +Inf. */
static void metrics_wal_batches(const floe_stats *st, buf_t *b)
{
    buf_puts(b, "# HELP floe_wal_sync_batch_writes Writes acknowledged per WAL group commit "
                "(sync=always: per fdatasync; interval and never: per write of a batch).\n"
                "# TYPE floe_wal_sync_batch_writes histogram\n");
    uint64_t cumulative = 0;
    for (int i = 0; i < FLOE_WAL_BATCH_BUCKETS - 1; i++) {
        cumulative += st->wal_batch_hist[i];
        buf_printf(b, "floe_wal_sync_batch_writes_bucket{le=\"%" PRIu64 "\"} %" PRIu64 "\n",
                   (uint64_t)((2ull << i) - 1), cumulative);
    }
    cumulative += st->wal_batch_hist[FLOE_WAL_BATCH_BUCKETS - 1];
    buf_printf(b,
               "floe_wal_sync_batch_writes_bucket{le=\"+Inf\"} %" PRIu64
               "\nfloe_wal_sync_batch_writes_sum %" PRIu64 "\nfloe_wal_sync_batch_writes_count %" PRIu64 "\n",
               cumulative, st->wal_synced_writes, cumulative);
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
    metrics_wal_batches(st, b);
    metrics_labelled(st, b);
}

enum MHD_Result http_handle_metrics(http_req *r, struct MHD_Connection *c)
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

enum MHD_Result http_handle_health(http_req *r, struct MHD_Connection *c, int ready_check)
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

/* Answers a request whose write the pool finished. */
enum MHD_Result http_respond_work(http_req *r, struct MHD_Connection *c)
{
    if (r->s3)
        return s3_respond_work(r, c);
    if (r->work_precondition)
        return http_respond_precondition_failed(r, c);
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
    if (r->op == WORK_DELETE_PREFIX) {
        buf_printf(&b, "{\"deleted_prefix\":");
        http_json_str(&b, r->key, r->key_len);
        buf_printf(&b, ",\"seq\":%" PRIu64 "}\n", r->work_seq);
        return http_respond_json(r, c, 200, &b);
    }
    if (r->op == WORK_COMPACT) {
        floe_stats st;
        floe_stats_get(r->srv->db, &st);
        buf_printf(&b,
                   "{\"compacted\":true,\"segments_per_read_max\":%" PRIu64 ",\"levels\":%" PRIu64
                   ",\"compaction_bytes_written\":%" PRIu64 "}\n",
                   st.segments_per_read_max, st.levels, st.compaction_bytes_written);
        return http_respond_json(r, c, 200, &b);
    }
    if (r->digest_failed)
        return http_respond_error(r, c, 400, "bad_digest",
                                  "the body's %s does not match the %s header: nothing was stored",
                                  r->digest_failed == 1 ? "MD5" : "SHA-256",
                                  r->digest_failed == 1 ? "Content-MD5" : "x-floe-checksum-sha256");
    char etag[HTTP_ETAG_BYTES];
    http_format_etag(etag, sizeof etag, 1, r->work_md5, r->work_seq);
    buf_printf(&b, "{\"seq\":%" PRIu64 ",\"size\":%" PRIu64 ",\"etag\":", r->work_seq, r->body_len);
    http_json_cstr(&b, etag);
    buf_puts(&b, "}\n");
    size_t len = 0;
    struct MHD_Response *resp = http_text_response(&b, "application/json", &len);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    return http_queue(r, c, 201, resp, len);
}
