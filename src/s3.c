/* The S3 client (see s3.h): its lifetime, one request (building, signing, the retry loop, turning
 * answers into errors and health) and the operations that are one request each. Listing is in
 * s3_list.c and file uploads in s3_multipart.c; s3_internal.h is what the three share.
 *
 * Invariants:
 * 1. What is signed is what is sent: the URL's path and query are encoded by sigv4_uri_encode, and
 *    every header that goes into the signature is sent with exactly the value signed (including
 *    Host, which is set explicitly rather than left to curl).
 * 2. Every byte a response can make us hold is capped: headers per field, error bodies at
 *    S3_MAX_ERROR_BODY_BYTES (the rest is discarded), success bodies at the caller's limit (a
 *    fixed buffer for ranged GETs, max_len for GET, S3_MAX_LIST_PAGE_BYTES for list pages).
 * 3. One attempt = one HTTP request = one curl handle taken from the pool and returned after it,
 *    so a handle (not thread-safe) is only ever used by one thread at a time, and its live
 *    connection is reused by the next request.
 * 4. Each attempt is re-signed with the current time; the body and its hashes are computed once.
 * 5. A retried call never leaves a half-done multipart upload behind: once created, the upload is
 *    either completed or aborted (s3_multipart.c).
 *
 * Lock order: pool_mu and health_mu are never held together; counters are atomics.
 */
#include "s3.h"
#include "s3_internal.h"

#include "buf.h"
#include "clock.h"
#include "error.h"
#include "sigv4.h"
#include "xml.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define S3_DEFAULT_TIMEOUT_MS 30000
#define S3_CONNECT_TIMEOUT_CAP_MS 10000

static const char EMPTY_SHA256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static const char *const op_methods[FLOE_COLD_OP_COUNT] = {
    [FLOE_COLD_PUT] = "PUT",       [FLOE_COLD_GET] = "GET",           [FLOE_COLD_HEAD] = "HEAD",
    [FLOE_COLD_DELETE] = "DELETE", [FLOE_COLD_LIST] = "GET",          [FLOE_COLD_MPU_CREATE] = "POST",
    [FLOE_COLD_MPU_PART] = "PUT",  [FLOE_COLD_MPU_COMPLETE] = "POST", [FLOE_COLD_MPU_ABORT] = "DELETE",
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t rng_next(void)
{
    static _Thread_local uint64_t state;
    if (state == 0) {
        if (getrandom(&state, sizeof state, 0) != (ssize_t)sizeof state)
            state = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&state;
        state |= 1;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
}

uint32_t s3_backoff_ms(unsigned retry, uint32_t base_ms, uint32_t cap_ms)
{
    uint64_t window = retry >= 32 ? cap_ms : (uint64_t)base_ms << retry;
    if (window > cap_ms)
        window = cap_ms;
    if (window == 0)
        return 0;
    return (uint32_t)(rng_next() % window);
}

/* A backoff that ends early once the client is cancelled. */
static void backoff_sleep(s3_client *c, uint32_t ms)
{
    while (ms > 0 && !atomic_load(&c->cancelled)) {
        uint32_t step = ms < 50 ? ms : 50;
        clock_sleep_ms(step);
        ms -= step;
    }
}

/* libcurl's progress callback: non-zero aborts the transfer (CURLE_ABORTED_BY_CALLBACK). */
static int on_progress(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(&((s3_client *)p)->cancelled) != 0;
}

void s3_client_cancel(s3_client *c)
{
    if (c)
        atomic_store(&c->cancelled, 1);
}

void s3_random_hex(char *out, size_t bytes)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < bytes; i++) {
        unsigned v = (unsigned)(rng_next() >> 24) & 0xff;
        out[2 * i] = hex[v >> 4];
        out[2 * i + 1] = hex[v & 15];
    }
    out[2 * bytes] = '\0';
}

/* Content-MD5 (base64) and the x-amz-content-sha256 value of an object or part body. The body is
 * sent as UNSIGNED-PAYLOAD: the signed Content-MD5 header already makes the store check every byte
 * it receives, and hashing it a second time with SHA-256 (here, and again on the server) cost a
 * third of the upload's CPU. */
int s3_body_digests(const void *data, size_t len, char md5_b64[25], char sha256_hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!EVP_Digest(data, len, md, &md_len, EVP_md5(), NULL) || md_len != 16)
        return err_set(FLOE_ECOLD, "s3: MD5 failed in OpenSSL");
    EVP_EncodeBlock((unsigned char *)md5_b64, md, 16);
    memcpy(sha256_hex, "UNSIGNED-PAYLOAD", sizeof "UNSIGNED-PAYLOAD");
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* n decimal digits at s as *out: -1 if any is not a digit. */
static int fixed_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Index of the three letters at s in names (n of them), or -1. */
static int name_index(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strncmp(s, names[i], 3) == 0)
            return i;
    return -1;
}

/* Parses exactly an HTTP date, IMF-fixdate ("Tue, 15 Nov 1994 08:12:31 GMT", RFC 9110 section 5.6.7),
 * or an ISO 8601 UTC time as S3's listings give it ("2009-10-12T17:50:30.000Z", fraction optional);
 * 0 if s is neither, has anything before or after, names no real date, or is not after 1970. A time
 * that does not parse must never pass for an old one: gc deletes unnamed objects by their age. */
int64_t s3_parse_time(const char *s)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int y, mo, d, h, mi, sec;
    size_t n = s ? strlen(s) : 0;
    if (n == 29 && s[3] == ',' && s[4] == ' ' && s[7] == ' ' && s[11] == ' ' && s[16] == ' ' &&
        s[19] == ':' && s[22] == ':' && strcmp(s + 25, " GMT") == 0) {
        if (name_index(s, days, 7) < 0 || (mo = name_index(s + 8, months, 12) + 1) == 0 ||
            fixed_digits(s + 5, 2, &d) || fixed_digits(s + 12, 4, &y) || fixed_digits(s + 17, 2, &h) ||
            fixed_digits(s + 20, 2, &mi) || fixed_digits(s + 23, 2, &sec))
            return 0;
    } else if (n >= 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':') {
        const char *p = s + 19;
        if (fixed_digits(s, 4, &y) || fixed_digits(s + 5, 2, &mo) || fixed_digits(s + 8, 2, &d) ||
            fixed_digits(s + 11, 2, &h) || fixed_digits(s + 14, 2, &mi) || fixed_digits(s + 17, 2, &sec))
            return 0;
        if (*p == '.') {
            if (p[1] < '0' || p[1] > '9')
                return 0;
            for (p++; *p >= '0' && *p <= '9'; p++)
                ;
        }
        if (strcmp(p, "Z") != 0)
            return 0;
    } else {
        return 0;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
        return 0;
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    time_t t = timegm(&tm);
    struct tm back;
    /* timegm carries 30 February into March: a date that does not come back whole is no date. */
    if (t <= 0 || !gmtime_r(&t, &back) || back.tm_mday != d || back.tm_mon != mo - 1)
        return 0;
    return (int64_t)t;
}

/* Parses the decimal digits at *p (at least one; no sign, space or base prefix) into *out and moves *p
 * past them. -1 if there are none or the number exceeds UINT64_MAX; *p and *out are then untouched. */
static int parse_digits(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return 0;
}

int s3_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v;
    if (!s || parse_digits(&s, &v) != 0 || *s)
        return -1;
    *out = v;
    return 0;
}

static void resp_reset_attempt(s3_resp *r)
{
    r->status = 0;
    r->curl_rc = CURLE_OK;
    r->curl_err[0] = '\0';
    r->too_big = 0;
    buf_free(&r->body);
    r->fixed_got = 0;
    free(r->err_body);
    r->err_body = NULL;
    r->err_len = 0;
    r->err_code[0] = r->err_message[0] = '\0';
    r->etag[0] = r->content_range[0] = r->last_modified[0] = r->upload_id[0] = r->request_id[0] = '\0';
    r->content_length = 0;
    r->have_content_length = 0;
    r->bad_header = NULL;
}

void s3_resp_free(s3_resp *r)
{
    buf_free(&r->body);
    free(r->err_body);
    r->err_body = NULL;
}

typedef struct transfer {
    const s3_req *req;
    s3_resp *resp;
    CURL *curl;
    size_t body_pos; /* upload read position */
} transfer;

static size_t on_read(char *dst, size_t size, size_t nmemb, void *userdata)
{
    transfer *t = userdata;
    size_t want = size * nmemb;
    size_t left = t->req->body_len - t->body_pos;
    size_t n = want < left ? want : left;
    if (n)
        memcpy(dst, (const char *)t->req->body + t->body_pos, n);
    t->body_pos += n;
    return n;
}

static int on_seek(void *userdata, curl_off_t offset, int origin)
{
    transfer *t = userdata;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > t->req->body_len)
        return CURL_SEEKFUNC_FAIL;
    t->body_pos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

int s3_status_ok(long status)
{
    return status >= 200 && status < 300;
}

static size_t on_write(char *src, size_t size, size_t nmemb, void *userdata)
{
    transfer *t = userdata;
    s3_resp *r = t->resp;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (!s3_status_ok(status)) {
        /* Keep the head of an error body, drop the rest so the connection stays usable. */
        size_t room = S3_MAX_ERROR_BODY_BYTES - r->err_len;
        size_t take = n < room ? n : room;
        if (take) {
            if (!r->err_body) {
                r->err_body = malloc(S3_MAX_ERROR_BODY_BYTES + 1);
                if (!r->err_body)
                    return n;
            }
            memcpy(r->err_body + r->err_len, src, take);
            r->err_len += take;
            r->err_body[r->err_len] = '\0';
        }
        return n;
    }
    switch (t->req->sink) {
    case SINK_DISCARD:
        return n;
    case SINK_FIXED:
        if (n > t->req->fixed_len - r->fixed_got) {
            r->too_big = 1;
            return 0;
        }
        memcpy((char *)t->req->fixed_buf + r->fixed_got, src, n);
        r->fixed_got += n;
        return n;
    case SINK_BUFFER: {
        int rc = buf_append(&r->body, src, n);
        if (rc == FLOE_ETOOBIG)
            r->too_big = 1;
        return rc == 0 ? n : 0;
    }
    }
    return 0;
}

/* When line is "name: value": copies the value (trimmed, at most cap-1 bytes) to out and returns 1,
 * or 2 if the value holds a control byte or was cut to fit, which on_header refuses for the headers
 * it compares or parses. 0 for another header. */
static int take_header(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
        return 0;
    const char *v = line + nlen + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t n = (size_t)(end - v);
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            bad = 1;
    if (n >= cap) {
        n = cap - 1;
        bad = 1;
    }
    memcpy(out, v, n);
    out[n] = '\0';
    return bad ? 2 : 1;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *userdata)
{
    transfer *t = userdata;
    s3_resp *r = t->resp;
    size_t len = size * nitems;
    char value[S3_HEADER_VALUE_MAX];
    int got;
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (the final one follows any 1xx): forget earlier headers. */
        r->etag[0] = r->content_range[0] = r->last_modified[0] = r->upload_id[0] = '\0';
        r->request_id[0] = '\0';
        r->bad_header = NULL;
        r->have_content_length = 0;
        return len;
    }
    if ((got = take_header(line, len, "ETag", r->etag, sizeof r->etag)) != 0) {
        size_t n = strlen(r->etag);
        if (n >= 2 && r->etag[0] == '"' && r->etag[n - 1] == '"') {
            memmove(r->etag, r->etag + 1, n - 2);
            r->etag[n - 2] = '\0';
        }
        if (got == 2)
            r->bad_header = "ETag";
    } else if ((got = take_header(line, len, "Content-Length", value, sizeof value)) != 0) {
        r->have_content_length = got == 1 && s3_parse_u64(value, &r->content_length) == 0;
        if (!r->have_content_length)
            r->bad_header = "Content-Length";
    } else if ((got = take_header(line, len, "Content-Range", r->content_range, sizeof r->content_range)) !=
               0) {
        if (got == 2)
            r->bad_header = "Content-Range";
    } else if ((got = take_header(line, len, "Last-Modified", r->last_modified, sizeof r->last_modified)) !=
               0) {
        if (got == 2)
            r->bad_header = "Last-Modified";
    } else if ((got = take_header(line, len, "x-amz-meta-floe-upload-id", r->upload_id,
                                  sizeof r->upload_id)) != 0) {
        if (got == 2)
            r->bad_header = "x-amz-meta-floe-upload-id";
    } else {
        take_header(line, len, "x-amz-request-id", r->request_id, sizeof r->request_id); /* for messages */
    }
    return len;
}

static CURL *pool_take(s3_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->pool_mu);
    if (c->pool_count)
        h = c->pool[--c->pool_count];
    pthread_mutex_unlock(&c->pool_mu);
    if (h)
        curl_easy_reset(h); /* keeps the live connection, TLS session and DNS cache */
    else
        h = curl_easy_init();
    return h;
}

static void pool_give(s3_client *c, CURL *h)
{
    pthread_mutex_lock(&c->pool_mu);
    if (c->pool_count < S3_POOL_MAX) {
        c->pool[c->pool_count++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_mu);
    if (h)
        curl_easy_cleanup(h);
}

/* Appends s to the URL being built; fails if it would not fit. */
static int url_append(char *url, size_t *len, const char *s, size_t n)
{
    if (*len + n + 1 > S3_URL_MAX)
        return -1;
    memcpy(url + *len, s, n);
    *len += n;
    url[*len] = '\0';
    return 0;
}

static int url_append_encoded(char *url, size_t *len, const char *s, int keep_slash)
{
    long n = sigv4_uri_encode(s, strlen(s), keep_slash, url + *len, S3_URL_MAX - *len);
    if (n < 0)
        return -1;
    *len += (size_t)n;
    return 0;
}

/* The unencoded request path: "/bucket/<prefix><key>" or "/<prefix><key>" (virtual-hosted). */
static int build_path(const s3_client *c, const char *key, char *out, size_t cap)
{
    int n;
    if (key)
        n = snprintf(out, cap, "%s/%s%s", c->path_base, c->prefix, key);
    else
        n = snprintf(out, cap, "%s", c->path_base[0] ? c->path_base : "/");
    if (n < 0 || (size_t)n >= cap)
        return err_set(FLOE_EINVAL, "s3: object path too long for key '%.100s...'", key ? key : "");
    return 0;
}

/* Fills headers (room for 16) with what every request signs (Host, x-amz-date,
 * x-amz-content-sha256) and then the request's own, and signs them into *sig, which the caller
 * clears with sigv4_signature_clear whatever this returns. The header values borrow amz_date and
 * the request's strings. Returns 0 or sigv4_sign's error with the message set. */
static int sign_attempt(const s3_client *c, const s3_req *req, const char *path, const char *amz_date,
                        sigv4_pair *headers, size_t *nh_out, sigv4_signature *sig)
{
    const char *payload_hash = req->body_sha256 ? req->body_sha256 : EMPTY_SHA256;
    size_t nh = 0;
    headers[nh++] = (sigv4_pair){"Host", c->host_header};
    headers[nh++] = (sigv4_pair){"x-amz-date", amz_date};
    headers[nh++] = (sigv4_pair){"x-amz-content-sha256", payload_hash};
    for (size_t i = 0; i < req->header_count; i++)
        headers[nh++] = req->headers[i];
    *nh_out = nh;

    sigv4_request sreq = {
        .method = op_methods[req->op],
        .path = path,
        .query = req->query,
        .query_count = req->query_count,
        .headers = headers,
        .header_count = nh,
        .payload_hash = payload_hash,
    };
    sigv4_credentials cred = {c->access_key, c->secret_key, c->region, "s3"};
    return sigv4_sign(&sreq, &cred, amz_date, sig);
}

/* Appends one line to a curl header list; -1 when out of memory (the list is unchanged). */
static int slist_add(struct curl_slist **list, const char *line)
{
    struct curl_slist *nl = curl_slist_append(*list, line);
    if (!nl)
        return -1;
    *list = nl;
    return 0;
}

/* Builds the header list curl sends: every signed header with exactly its signed value
 * (invariant 1), Authorization, and the fixed ones (no Expect: 100-continue, no Accept, our
 * User-Agent). Returns 0, or -1 when out of memory; *list is the caller's to free with
 * curl_slist_free_all either way. */
static int header_list(const sigv4_pair *headers, size_t nh, const char *authorization,
                       struct curl_slist **list)
{
    static const char *const fixed[] = {"Expect:", "Accept:", ("User-Agent: floe/" FLOE_VERSION_STRING)};
    char line[S3_HEADER_VALUE_MAX + 2048];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nh; i++) {
        snprintf(line, sizeof line, "%s: %s", headers[i].name, headers[i].value);
        rc = slist_add(list, line);
    }
    if (rc == 0) {
        snprintf(line, sizeof line, "Authorization: %s", authorization);
        rc = slist_add(list, line);
    }
    for (size_t i = 0; rc == 0 && i < sizeof fixed / sizeof fixed[0]; i++)
        rc = slist_add(list, fixed[i]);
    return rc;
}

/* Points the pooled handle h at t->resp->url with headers hl, the client's limits, the callbacks
 * that fill t->resp (t and hl must outlive the transfer) and the method's body handling. */
static void set_transfer_options(const s3_client *c, CURL *h, struct curl_slist *hl, transfer *t)
{
    const s3_req *req = t->req;
    const char *method = op_methods[req->op];
    curl_easy_setopt(h, CURLOPT_URL, t->resp->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
    /* A stalled transfer (under 1 KiB/s) fails well before the whole-request timeout. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                     (long)(c->timeout_ms < 20000 ? (c->timeout_ms + 999) / 1000 : 10));
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->resp->curl_err);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    if (req->op == FLOE_COLD_HEAD) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, t);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, t);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
        if (strcmp(method, "POST") == 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "POST");
    } else if (strcmp(method, "DELETE") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
}

/* Runs the transfer set up on h and records curl's code, its message and the HTTP status in r.
 * Returns 0 when an HTTP response arrived, else curl's code (positive). */
static int run_transfer(CURL *h, s3_resp *r)
{
    r->curl_rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->curl_rc != CURLE_OK && r->curl_err[0] == '\0')
        snprintf(r->curl_err, sizeof r->curl_err, "%s", curl_easy_strerror(r->curl_rc));
    /* The error buffer must not outlive this call inside the pooled handle. */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    /* A capped body ends in a write error but the HTTP response itself was complete enough. */
    if (r->too_big)
        return 0;
    return r->curl_rc == CURLE_OK ? 0 : (int)r->curl_rc;
}

/* One attempt (invariants 3 and 4): signs the request with the current time, takes a handle from
 * the pool, runs it and gives the handle back. Returns 0 when an HTTP response arrived (whatever
 * its status) or the curl error code (positive) otherwise; fills r. */
static int attempt_once(s3_client *c, const s3_req *req, const char *path, s3_resp *r)
{
    char amz_date[17];
    sigv4_pair headers[16];
    size_t nh = 0;
    sigv4_signature sig = {0};
    struct curl_slist *hl = NULL;
    transfer t = {.req = req, .resp = r};
    CURL *h = NULL;
    int rc = 0;

    sigv4_amz_date(time(NULL), amz_date);
    if (sign_attempt(c, req, path, amz_date, headers, &nh, &sig) != 0) {
        snprintf(r->curl_err, sizeof r->curl_err, "signing failed: %s", floe_last_error());
        r->curl_rc = CURLE_ABORTED_BY_CALLBACK;
        rc = (int)CURLE_ABORTED_BY_CALLBACK;
        goto out;
    }
    if (header_list(headers, nh, sig.authorization, &hl) != 0 || !(h = pool_take(c))) {
        snprintf(r->curl_err, sizeof r->curl_err, "out of memory");
        r->curl_rc = CURLE_OUT_OF_MEMORY;
        rc = (int)CURLE_OUT_OF_MEMORY;
        goto out;
    }
    t.curl = h;
    set_transfer_options(c, h, hl, &t);
    rc = run_transfer(h, r);
out:
    if (h)
        pool_give(c, h);
    curl_slist_free_all(hl);
    sigv4_signature_clear(&sig);
    return rc;
}

static int error_xml_element(void *ctx, const char *path, const char *text, size_t len)
{
    s3_resp *r = ctx;
    (void)len;
    if (strcmp(path, "Error/Code") == 0)
        snprintf(r->err_code, sizeof r->err_code, "%s", text);
    else if (strcmp(path, "Error/Message") == 0)
        snprintf(r->err_message, sizeof r->err_message, "%s", text);
    return 0;
}

/* Fills err_code/err_message from an <Error> document in buf, if it is one. */
static void parse_error_xml(s3_resp *r, const char *buf, size_t len)
{
    if (buf && len)
        xml_parse(buf, len, r->where, error_xml_element, r);
    err_clear();
}

static int curl_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_READ_ERROR:
        return 1;
    default:
        return 0;
    }
}

static int status_retryable(const s3_resp *r)
{
    if (r->status == 500 || r->status == 502 || r->status == 503 || r->status == 504 || r->status == 408)
        return 1;
    if (r->status == 400 && strcmp(r->err_code, "RequestTimeout") == 0)
        return 1;
    /* CompleteMultipartUpload may answer 200 with an <Error> body. */
    if (r->status == 200 &&
        (strcmp(r->err_code, "InternalError") == 0 || strcmp(r->err_code, "SlowDown") == 0))
        return 1;
    return 0;
}

/* Runs req with retries. Returns 0 when a final HTTP response arrived (r->status says which; the
 * caller interprets it) or FLOE_ECOLD/FLOE_EINVAL with the message set when none did. */
int s3_perform(s3_client *c, const s3_req *req, s3_resp *r)
{
    char path[S3_URL_MAX];
    size_t ulen = 0;
    int rc;

    memset(r, 0, sizeof *r);
    buf_init(&r->body, req->sink == SINK_BUFFER ? req->max_body : 0);
    if ((rc = build_path(c, req->key, path, sizeof path)) != 0)
        return rc;
    int url_ok = url_append(r->url, &ulen, c->scheme_host, strlen(c->scheme_host)) == 0 &&
                 url_append_encoded(r->url, &ulen, path, 1) == 0;
    for (size_t i = 0; url_ok && i < req->query_count; i++) {
        url_ok = url_append(r->url, &ulen, i ? "&" : "?", 1) == 0 &&
                 url_append_encoded(r->url, &ulen, req->query[i].name, 0) == 0 &&
                 url_append(r->url, &ulen, "=", 1) == 0 &&
                 url_append_encoded(r->url, &ulen, req->query[i].value ? req->query[i].value : "", 0) == 0;
    }
    size_t url_len = strlen(r->url);
    if (url_len < sizeof r->where)
        memcpy(r->where, r->url, url_len + 1);
    else
        snprintf(r->where, sizeof r->where, "%.200s...%s", r->url, r->url + url_len - 100);
    if (!url_ok)
        return err_set(FLOE_EINVAL, "s3 %s %s%s: URL longer than %d bytes", op_methods[req->op],
                       c->scheme_host, path, S3_URL_MAX);

    for (unsigned attempt = 0;; attempt++) {
        if (attempt > 0) {
            atomic_fetch_add_explicit(&c->retries[req->op], 1, memory_order_relaxed);
            backoff_sleep(c, s3_backoff_ms(attempt - 1, S3_BACKOFF_BASE_MS, S3_BACKOFF_CAP_MS));
        }
        if (atomic_load(&c->cancelled))
            return err_set(FLOE_ECLOSED, "s3 %s %s: cancelled: the store is closing", op_methods[req->op],
                           r->where);
        resp_reset_attempt(r);
        r->attempts = attempt + 1;
        atomic_fetch_add_explicit(&c->requests[req->op], 1, memory_order_relaxed);
        int crc = attempt_once(c, req, path, r);
        if (crc == (int)CURLE_ABORTED_BY_CALLBACK && atomic_load(&c->cancelled))
            return err_set(FLOE_ECLOSED, "s3 %s %s: cancelled: the store is closing", op_methods[req->op],
                           r->where);
        if (crc == (int)CURLE_OUT_OF_MEMORY)
            return err_set(FLOE_ENOMEM, "s3 %s %s: out of memory", op_methods[req->op], r->where);
        if (crc == (int)CURLE_ABORTED_BY_CALLBACK && r->status == 0)
            return err_set(FLOE_EINVAL, "s3 %s %s: %s", op_methods[req->op], r->where, r->curl_err);
        int retry;
        if (crc != 0) {
            retry = curl_retryable((CURLcode)crc);
        } else {
            if (!s3_status_ok(r->status))
                parse_error_xml(r, r->err_body, r->err_len);
            else if (req->op == FLOE_COLD_MPU_COMPLETE && r->body.data)
                parse_error_xml(r, r->body.data, r->body.len);
            retry = status_retryable(r);
        }
        if (!retry || attempt >= c->max_retries) {
            if (crc != 0) {
                const char *hint = crc == CURLE_PEER_FAILED_VERIFICATION || crc == CURLE_SSL_CACERT_BADFILE
                                       ? "check the server certificate and cold.s3.ca_file"
                                       : "check that the endpoint is right and the server is up";
                return err_set(FLOE_ECOLD, "s3 %s %s: %s (%s) after %u attempt%s; %s", op_methods[req->op],
                               r->where, curl_easy_strerror((CURLcode)crc), r->curl_err, r->attempts,
                               r->attempts == 1 ? "" : "s", hint);
            }
            if (s3_status_ok(r->status) && r->bad_header)
                return err_set(
                    FLOE_ECOLD,
                    "s3 %s %s: %ld answer with a malformed %s header (a control byte, a bad number, or too "
                    "long to keep whole); check what is answering at this endpoint",
                    op_methods[req->op], r->where, r->status, r->bad_header);
            return 0;
        }
    }
}

/* What a permanent error code means for the operator. NULL if the code is not permanent. */
static const char *permanent_hint(const s3_resp *r)
{
    static const struct {
        const char *code;
        const char *hint;
    } hints[] = {
        {"SignatureDoesNotMatch", "check the secret key"},
        {"InvalidAccessKeyId", "check the access key"},
        {"AccessDenied", "check that the credentials may use this bucket"},
        {"NoSuchBucket", "create the bucket or fix cold.s3.bucket"},
        {"RequestTimeTooSkewed", "check the system clock"},
        {"AuthorizationHeaderMalformed", "check cold.s3.region"},
        {"PermanentRedirect",
         "the bucket is in another region or endpoint; check cold.s3.region and endpoint"},
        {"InvalidBucketName", "fix cold.s3.bucket"},
    };
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        if (strcmp(r->err_code, hints[i].code) == 0)
            return hints[i].hint;
    if (r->status == 403)
        return "check the access key, the secret key and the bucket's permissions";
    if (r->status == 301)
        return "the bucket is in another region or endpoint; check cold.s3.region and endpoint";
    return NULL;
}

static void health_set(s3_client *c, const char *msg)
{
    pthread_mutex_lock(&c->health_mu);
    snprintf(c->health_msg, sizeof c->health_msg, "%s", msg);
    pthread_mutex_unlock(&c->health_mu);
}

static void health_clear(s3_client *c)
{
    pthread_mutex_lock(&c->health_mu);
    c->health_msg[0] = '\0';
    pthread_mutex_unlock(&c->health_mu);
}

/* Records that an answer proves the credentials and bucket good. */
void s3_note_success(s3_client *c, const s3_resp *r)
{
    (void)r;
    health_clear(c);
}

/* Turns a final non-success HTTP response into an error with a full message, records permanent
 * errors for health and counts the failure. 404 on GET/HEAD of a key is FLOE_ENOTFOUND. */
int s3_status_error(s3_client *c, floe_cold_op op, const s3_resp *r)
{
    const char *hint = permanent_hint(r);
    char code_part[600] = "";
    if (r->err_code[0] && r->err_message[0])
        snprintf(code_part, sizeof code_part, " %s: %s", r->err_code, r->err_message);
    else if (r->err_code[0])
        snprintf(code_part, sizeof code_part, " %s", r->err_code);
    else if (r->status == 404)
        snprintf(code_part, sizeof code_part, " Not Found");
    else if (r->status == 403)
        snprintf(code_part, sizeof code_part, " Forbidden");
    char tail[160] = "";
    if (status_retryable(r) && r->attempts > 1)
        snprintf(tail, sizeof tail, " (after %u attempts)", r->attempts);
    if (r->status == 404 && (op == FLOE_COLD_GET || op == FLOE_COLD_HEAD) &&
        strcmp(r->err_code, "NoSuchBucket") != 0)
        return err_set(FLOE_ENOTFOUND, "s3 %s %s: 404%s", op_methods[op], r->where, code_part);

    int rc = err_set(FLOE_ECOLD, "s3 %s %s: %ld%s%s%s%s", op_methods[op], r->where, r->status, code_part,
                     tail, hint ? "; " : "", hint ? hint : "");
    if (hint)
        health_set(c, floe_last_error());
    atomic_fetch_add_explicit(&c->errors[op], 1, memory_order_relaxed);
    return rc;
}

/* Counts a failure that did not come from an HTTP status. */
int s3_count_error(s3_client *c, floe_cold_op op, int rc)
{
    atomic_fetch_add_explicit(&c->errors[op], 1, memory_order_relaxed);
    return rc;
}

/* S3 limits a key, prefix included, to 1024 bytes. */
int s3_valid_key(const s3_client *c, const char *key, const char *what)
{
    if (!key || !key[0])
        return err_set(FLOE_EINVAL, "s3 %s: empty key", what);
    size_t len = strlen(c->prefix) + strlen(key);
    if (len > FLOE_MAX_KEY_BYTES)
        return err_set(FLOE_EINVAL, "s3 %s: key '%s%.64s...' is %zu bytes with its prefix; S3 allows %d",
                       what, c->prefix, key, len, FLOE_MAX_KEY_BYTES);
    return 0;
}

static int valid_bucket_name(const char *b)
{
    size_t n = b ? strlen(b) : 0;
    if (n < 3 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = b[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_'))
            return 0;
    }
    return 1;
}

int s3_client_create(const s3_config *cfg, s3_client **out)
{
    int rc = 0;
    s3_client *c = NULL;

    if (!cfg || !out)
        return err_set(FLOE_EINVAL, "s3: no configuration");
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return err_set(FLOE_ECOLD, "s3: libcurl failed to initialise: %s", curl_easy_strerror(curl_init_rc));

    const char *endpoint = cfg->endpoint;
    const char *scheme_end = endpoint ? strstr(endpoint, "://") : NULL;
    if (!scheme_end || !((scheme_end - endpoint == 4 && strncmp(endpoint, "http", 4) == 0) ||
                         (scheme_end - endpoint == 5 && strncmp(endpoint, "https", 5) == 0))) {
        return err_set(FLOE_EINVAL, "s3: cold.s3.endpoint '%s' must start with http:// or https://",
                       endpoint ? endpoint : "");
    }
    const char *authority = scheme_end + 3;
    size_t auth_len = strcspn(authority, "/?#");
    if (auth_len == 0 || strcspn(authority, "@ ") < auth_len ||
        (authority[auth_len] && strcmp(authority + auth_len, "/") != 0))
        return err_set(FLOE_EINVAL, "s3: cold.s3.endpoint '%s' must be scheme://host[:port] with no path",
                       endpoint);
    if (!valid_bucket_name(cfg->bucket))
        return err_set(FLOE_EINVAL, "s3: cold.s3.bucket '%s' is not a bucket name (3-63 of a-z 0-9 . - _)",
                       cfg->bucket ? cfg->bucket : "");
    const char *access_key = cfg->access_key ? cfg->access_key : getenv("AWS_ACCESS_KEY_ID");
    const char *secret_key = cfg->secret_key ? cfg->secret_key : getenv("AWS_SECRET_ACCESS_KEY");
    if (!access_key || !access_key[0])
        return err_set(FLOE_EINVAL, "s3: no access key: set cold.s3.access_key or AWS_ACCESS_KEY_ID");
    if (!secret_key || !secret_key[0])
        return err_set(FLOE_EINVAL, "s3: no secret key: set cold.s3.secret_key or AWS_SECRET_ACCESS_KEY");
    const char *region = cfg->region ? cfg->region : getenv("AWS_REGION");
    if (!region || !region[0])
        region = "us-east-1";
    if (strpbrk(region, "/ \r\n"))
        return err_set(FLOE_EINVAL, "s3: cold.s3.region '%s' is not a region name", region);
    const char *prefix = cfg->prefix ? cfg->prefix : "";
    size_t prefix_len = strlen(prefix);
    if (prefix[0] == '/' || prefix_len > 512)
        return err_set(FLOE_EINVAL,
                       "s3: cold.s3.prefix '%.64s' must not start with '/' and has at most 512 bytes",
                       prefix);

    c = calloc(1, sizeof *c);
    if (!c)
        return err_set(FLOE_ENOMEM, "s3: out of memory");
    pthread_mutex_init(&c->pool_mu, NULL);
    pthread_mutex_init(&c->health_mu, NULL);
    size_t scheme_len = (size_t)(scheme_end - endpoint) + 3;
    size_t bucket_len = strlen(cfg->bucket);
    c->scheme_host = malloc(scheme_len + bucket_len + 1 + auth_len + 1);
    c->host_header = malloc(bucket_len + 1 + auth_len + 1);
    c->path_base = malloc(bucket_len + 2);
    c->prefix = malloc(prefix_len + 2);
    c->bucket = strdup(cfg->bucket);
    c->region = strdup(region);
    c->access_key = strdup(access_key);
    c->secret_key = strdup(secret_key);
    c->ca_file = dup_or_null(cfg->ca_file);
    if (!c->scheme_host || !c->host_header || !c->path_base || !c->prefix || !c->bucket || !c->region ||
        !c->access_key || !c->secret_key || (cfg->ca_file && !c->ca_file)) {
        rc = err_set(FLOE_ENOMEM, "s3: out of memory");
        goto out;
    }
    if (cfg->path_style) {
        snprintf(c->host_header, bucket_len + auth_len + 2, "%.*s", (int)auth_len, authority);
        snprintf(c->path_base, bucket_len + 2, "/%s", cfg->bucket);
    } else {
        snprintf(c->host_header, bucket_len + auth_len + 2, "%s.%.*s", cfg->bucket, (int)auth_len, authority);
        c->path_base[0] = '\0';
    }
    snprintf(c->scheme_host, scheme_len + bucket_len + auth_len + 2, "%.*s%s", (int)scheme_len, endpoint,
             c->host_header);
    memcpy(c->prefix, prefix, prefix_len + 1);
    if (prefix_len && prefix[prefix_len - 1] != '/')
        memcpy(c->prefix + prefix_len, "/", 2);
    c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : S3_DEFAULT_TIMEOUT_MS;
    c->connect_timeout_ms =
        c->timeout_ms < S3_CONNECT_TIMEOUT_CAP_MS ? c->timeout_ms : S3_CONNECT_TIMEOUT_CAP_MS;
    c->max_retries = cfg->max_retries;
    *out = c;
    c = NULL;
out:
    s3_client_destroy(c);
    return rc;
}

void s3_client_destroy(s3_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->pool_count; i++)
        curl_easy_cleanup(c->pool[i]);
    pthread_mutex_destroy(&c->pool_mu);
    pthread_mutex_destroy(&c->health_mu);
    if (c->secret_key)
        memset(c->secret_key, 0, strlen(c->secret_key));
    free(c->scheme_host);
    free(c->host_header);
    free(c->path_base);
    free(c->bucket);
    free(c->prefix);
    free(c->region);
    free(c->access_key);
    free(c->secret_key);
    free(c->ca_file);
    free(c);
}

int s3_create_bucket(s3_client *c)
{
    /* AWS creates buckets in us-east-1 unless the body names another region. */
    char body[256], sha[65];
    size_t body_len = 0;
    if (strcmp(c->region, "us-east-1") != 0)
        body_len = (size_t)snprintf(body, sizeof body,
                                    "<CreateBucketConfiguration><LocationConstraint>%s</LocationConstraint>"
                                    "</CreateBucketConfiguration>",
                                    c->region);
    if (body_len >= sizeof body)
        return err_set(FLOE_EINVAL, "s3: region '%s' is too long", c->region);
    sigv4_sha256_hex(body, body_len, sha);
    s3_req req = {.op = FLOE_COLD_PUT, .key = NULL, .body = body, .body_len = body_len, .body_sha256 = sha};
    s3_resp r;
    int rc = s3_perform(c, &req, &r);
    if (rc == 0) {
        if (s3_status_ok(r.status) || strcmp(r.err_code, "BucketAlreadyOwnedByYou") == 0)
            s3_note_success(c, &r);
        else
            rc = s3_status_error(c, FLOE_COLD_PUT, &r);
    } else {
        s3_count_error(c, FLOE_COLD_PUT, rc);
    }
    s3_resp_free(&r);
    return rc;
}

int s3_head(s3_client *c, const char *key, s3_object_info *out)
{
    int rc;
    if ((rc = s3_valid_key(c, key, "HEAD")) != 0)
        return rc;
    s3_req req = {.op = FLOE_COLD_HEAD, .key = key};
    s3_resp r;
    if ((rc = s3_perform(c, &req, &r)) != 0) {
        s3_count_error(c, FLOE_COLD_HEAD, rc);
        goto out;
    }
    if (!s3_status_ok(r.status)) {
        rc = s3_status_error(c, FLOE_COLD_HEAD, &r);
        goto out;
    }
    if (!r.have_content_length) {
        rc = s3_count_error(c, FLOE_COLD_HEAD,
                            err_set(FLOE_ECOLD, "s3 HEAD %s: answer has no Content-Length", r.where));
        goto out;
    }
    s3_note_success(c, &r);
    if (out) {
        memset(out, 0, sizeof *out);
        out->size = r.content_length;
        out->mtime_unix_s = s3_parse_time(r.last_modified);
        snprintf(out->etag, sizeof out->etag, "%s", r.etag);
        snprintf(out->upload_id, sizeof out->upload_id, "%s", r.upload_id);
    }
out:
    s3_resp_free(&r);
    return rc;
}

int s3_put(s3_client *c, const char *key, const void *data, size_t len, int if_none_match)
{
    int rc;
    char md5[25], sha[65], upload_id[33];
    if ((rc = s3_valid_key(c, key, "PUT")) != 0)
        return rc;
    if (len && !data)
        return err_set(FLOE_EINVAL, "s3 PUT %s: no data", key);
    if ((rc = s3_body_digests(data ? data : "", len, md5, sha)) != 0)
        return rc;
    s3_random_hex(upload_id, 16);
    s3_req req = {.op = FLOE_COLD_PUT, .key = key, .body = data, .body_len = len, .body_sha256 = sha};
    req.headers[req.header_count++] = (sigv4_pair){"Content-MD5", md5};
    req.headers[req.header_count++] = (sigv4_pair){"x-amz-meta-floe-upload-id", upload_id};
    if (if_none_match)
        req.headers[req.header_count++] = (sigv4_pair){"If-None-Match", "*"};
    s3_resp r;
    if ((rc = s3_perform(c, &req, &r)) != 0) {
        s3_count_error(c, FLOE_COLD_PUT, rc);
        goto out;
    }
    if (s3_status_ok(r.status)) {
        s3_note_success(c, &r);
    } else if (r.status == 412 && if_none_match) {
        s3_note_success(c, &r);
        /* An earlier sending of this request may have created it before its answer was lost (after
         * a timeout, or when curl resent it on a fresh connection within one attempt): the upload
         * id on the object tells. */
        s3_object_info info;
        rc = S3_EXISTS;
        if (s3_head(c, key, &info) == 0 && strcmp(info.upload_id, upload_id) == 0)
            rc = 0;
        err_clear();
    } else {
        rc = s3_status_error(c, FLOE_COLD_PUT, &r);
    }
out:
    s3_resp_free(&r);
    return rc;
}

/* Checks a 206 answer's Content-Range against the request for len bytes at offset and the body that
 * came with it. The header must be exactly "bytes first-last/size" in digits (RFC 9110 section
 * 14.4; S3 always states the size, so "*" is refused), with first the offset asked for, last at most
 * the last byte asked for and below size, and the body exactly last - first + 1 bytes. A range cut
 * short is FLOE_ERANGE only where the object ends; anything else is FLOE_ECOLD naming the header. */
static int check_range(const s3_resp *r, const char *key, uint64_t offset, size_t len)
{
    const char *p = r->content_range;
    uint64_t first, last, total, want_last = offset + len - 1;
    if (strncmp(p, "bytes ", 6) != 0 || (p += 6, parse_digits(&p, &first) != 0) || *p != '-' ||
        (p++, parse_digits(&p, &last) != 0) || *p != '/' || (p++, parse_digits(&p, &total) != 0) || *p ||
        first > last || last >= total)
        return err_set(FLOE_ECOLD,
                       "s3 GET %s: 206 with bad Content-Range '%s' (asked for bytes %" PRIu64 "-%" PRIu64 ")",
                       r->where, r->content_range, offset, want_last);
    if (first != offset || last > want_last)
        return err_set(FLOE_ECOLD,
                       "s3 GET %s: asked for bytes %" PRIu64 "-%" PRIu64 ", got Content-Range '%s'", r->where,
                       offset, want_last, r->content_range);
    if (r->fixed_got != last - first + 1)
        return err_set(FLOE_ECOLD,
                       "s3 GET %s: Content-Range '%s' announces %" PRIu64 " bytes, the body has %zu",
                       r->where, r->content_range, last - first + 1, r->fixed_got);
    if (last < want_last && last + 1 != total)
        return err_set(FLOE_ECOLD,
                       "s3 GET %s: asked for bytes %" PRIu64 "-%" PRIu64
                       ", got Content-Range '%s', which stops "
                       "short of both",
                       r->where, offset, want_last, r->content_range);
    if (last < want_last)
        return err_set(FLOE_ERANGE,
                       "s3 GET %s: object %s has %" PRIu64 " bytes; bytes %" PRIu64 "..%" PRIu64
                       " are outside it",
                       r->where, key, total, offset, offset + len);
    return 0;
}

int s3_get_range(s3_client *c, const char *key, uint64_t offset, void *buf, size_t len)
{
    int rc;
    char range[64];
    if ((rc = s3_valid_key(c, key, "GET")) != 0)
        return rc;
    if (len == 0) {
        s3_object_info info;
        if ((rc = s3_head(c, key, &info)) != 0)
            return rc;
        if (offset > info.size)
            return err_set(FLOE_ERANGE,
                           "s3 GET %s: object has %" PRIu64 " bytes; offset %" PRIu64 " is past it", key,
                           info.size, offset);
        return 0;
    }
    if (!buf || offset > UINT64_MAX - len)
        return err_set(FLOE_EINVAL, "s3 GET %s: bad range", key);
    snprintf(range, sizeof range, "bytes=%" PRIu64 "-%" PRIu64, offset, offset + len - 1);
    s3_req req = {.op = FLOE_COLD_GET, .key = key, .sink = SINK_FIXED, .fixed_buf = buf, .fixed_len = len};
    req.headers[req.header_count++] = (sigv4_pair){"Range", range};
    s3_resp r;
    if ((rc = s3_perform(c, &req, &r)) != 0) {
        s3_count_error(c, FLOE_COLD_GET, rc);
        goto out;
    }
    if (r.status == 206) {
        s3_note_success(c, &r);
        if (r.too_big)
            rc =
                err_set(FLOE_ECOLD, "s3 GET %s: server sent more than the %zu bytes asked for", r.where, len);
        else
            rc = check_range(&r, key, offset, len);
        if (rc)
            s3_count_error(c, FLOE_COLD_GET, rc);
    } else if (r.status == 200) {
        /* The server ignored Range: fine only if the object is exactly the range. */
        s3_note_success(c, &r);
        if (offset != 0 || r.too_big || r.fixed_got != len)
            rc = s3_count_error(c, FLOE_COLD_GET,
                                err_set(r.too_big || offset ? FLOE_ECOLD : FLOE_ERANGE,
                                        "s3 GET %s: server ignored Range %s and sent %s bytes", r.where,
                                        range, r.too_big ? "more" : "fewer"));
    } else if (r.status == 416) {
        s3_note_success(c, &r);
        rc = err_set(FLOE_ERANGE, "s3 GET %s: 416 %s: %s is outside object %s", r.where,
                     r.err_code[0] ? r.err_code : "Range Not Satisfiable", range, key);
    } else {
        rc = s3_status_error(c, FLOE_COLD_GET, &r);
    }
out:
    s3_resp_free(&r);
    return rc;
}

int s3_get(s3_client *c, const char *key, void **data, size_t *len, size_t max_len)
{
    int rc;
    if ((rc = s3_valid_key(c, key, "GET")) != 0)
        return rc;
    if (!data || !len)
        return err_set(FLOE_EINVAL, "s3 GET %s: no output", key);
    s3_req req = {.op = FLOE_COLD_GET, .key = key, .sink = SINK_BUFFER, .max_body = max_len};
    s3_resp r;
    if ((rc = s3_perform(c, &req, &r)) != 0) {
        s3_count_error(c, FLOE_COLD_GET, rc);
        goto out;
    }
    if (!s3_status_ok(r.status)) {
        rc = s3_status_error(c, FLOE_COLD_GET, &r);
        goto out;
    }
    s3_note_success(c, &r);
    if (r.too_big) {
        rc =
            err_set(FLOE_ETOOBIG, "s3 GET %s: object is larger than the %zu bytes allowed", r.where, max_len);
        goto out;
    }
    size_t body_len = 0;
    char *body = buf_take(&r.body, &body_len);
    if (!body) {
        rc = err_set(FLOE_ENOMEM, "s3 GET %s: out of memory", r.where);
        goto out;
    }
    *data = body;
    *len = body_len;
out:
    s3_resp_free(&r);
    return rc;
}

int s3_delete(s3_client *c, const char *key)
{
    int rc;
    if ((rc = s3_valid_key(c, key, "DELETE")) != 0)
        return rc;
    s3_req req = {.op = FLOE_COLD_DELETE, .key = key};
    s3_resp r;
    if ((rc = s3_perform(c, &req, &r)) != 0) {
        s3_count_error(c, FLOE_COLD_DELETE, rc);
        goto out;
    }
    if (s3_status_ok(r.status) || (r.status == 404 && strcmp(r.err_code, "NoSuchBucket") != 0))
        s3_note_success(c, &r);
    else
        rc = s3_status_error(c, FLOE_COLD_DELETE, &r);
out:
    s3_resp_free(&r);
    return rc;
}

void s3_get_counters(s3_client *c, uint64_t requests[FLOE_COLD_OP_COUNT], uint64_t errors[FLOE_COLD_OP_COUNT],
                     uint64_t retries[FLOE_COLD_OP_COUNT])
{
    for (int i = 0; i < FLOE_COLD_OP_COUNT; i++) {
        if (requests)
            requests[i] = atomic_load_explicit(&c->requests[i], memory_order_relaxed);
        if (errors)
            errors[i] = atomic_load_explicit(&c->errors[i], memory_order_relaxed);
        if (retries)
            retries[i] = atomic_load_explicit(&c->retries[i], memory_order_relaxed);
    }
}

int s3_health(s3_client *c, char *msg, size_t cap)
{
    int rc = 0;
    pthread_mutex_lock(&c->health_mu);
    if (c->health_msg[0])
        rc = FLOE_ECOLD;
    if (msg && cap)
        snprintf(msg, cap, "%s", c->health_msg);
    pthread_mutex_unlock(&c->health_mu);
    return rc;
}
