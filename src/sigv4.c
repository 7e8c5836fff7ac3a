/* AWS Signature Version 4, as S3 expects it (see sigv4.h).
 *
 * Invariants:
 * 1. The path and every query name and value are percent-encoded by one function
 *    (sigv4_uri_encode), which the S3 client also uses to build the URL it sends: what is signed is
 *    byte for byte what goes on the wire.
 * 2. Paths are never normalised: S3 keys are opaque bytes.
 * 3. Every string built here is bounded by SIGV4_MAX_CANONICAL_BYTES; a bigger request is refused,
 *    not truncated.
 */
#include "sigv4.h"

#include "error.h"

#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

/* A growable string with a hard cap. The first failure sticks; later appends do nothing. */
typedef struct strbuf {
    char *data;
    size_t len;
    size_t cap;
    int err; /* 0, FLOE_EINVAL (over SIGV4_MAX_CANONICAL_BYTES) or FLOE_ENOMEM */
} strbuf;

static void sb_put(strbuf *sb, const void *data, size_t len)
{
    if (sb->err)
        return;
    if (sb->len + len + 1 > SIGV4_MAX_CANONICAL_BYTES) {
        sb->err = FLOE_EINVAL;
        return;
    }
    if (sb->len + len + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + len + 1)
            cap *= 2;
        if (cap > SIGV4_MAX_CANONICAL_BYTES)
            cap = SIGV4_MAX_CANONICAL_BYTES;
        char *p = realloc(sb->data, cap);
        if (!p) {
            sb->err = FLOE_ENOMEM;
            return;
        }
        sb->data = p;
        sb->cap = cap;
    }
    memcpy(sb->data + sb->len, data, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

static void sb_puts(strbuf *sb, const char *s)
{
    sb_put(sb, s, strlen(s));
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void sb_put_encoded(strbuf *sb, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (is_unreserved(*p) || (keep_slash && *p == '/')) {
            sb_put(sb, p, 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            sb_put(sb, esc, 3);
        }
    }
}

long sigv4_uri_encode(const void *in, size_t len, int keep_slash, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = in;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (is_unreserved(p[i]) || (keep_slash && p[i] == '/')) {
            if (n + 2 > cap)
                return -1;
            out[n++] = (char)p[i];
        } else {
            if (n + 4 > cap)
                return -1;
            out[n++] = '%';
            out[n++] = hex[p[i] >> 4];
            out[n++] = hex[p[i] & 15];
        }
    }
    if (n + 1 > cap)
        return -1;
    out[n] = '\0';
    return (long)n;
}

static void hex_encode(const unsigned char *in, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * len] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    hex_encode(md, sizeof md, out);
}

void sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static int hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                       unsigned char out[32])
{
    unsigned int out_len = 0;
    if (!HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &out_len) || out_len != 32)
        return err_set(FLOE_EIO, "sigv4: HMAC-SHA256 failed in OpenSSL");
    return 0;
}

/* HTTP token characters (RFC 9110), the only ones a header name may hold. */
static int is_token_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int valid_amz_date(const char *d)
{
    if (!d || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
        return 0;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (d[i] < '0' || d[i] > '9'))
            return 0;
    return 1;
}

typedef struct header_entry {
    char name[128]; /* lowercased */
    const char *value;
    size_t order; /* position in the request, so equal names keep their order */
} header_entry;

static int header_cmp(const void *a, const void *b)
{
    const header_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

typedef struct query_entry {
    char *name;  /* encoded, malloc'd */
    char *value; /* encoded, malloc'd */
} query_entry;

static int query_cmp(const void *a, const void *b)
{
    const query_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

/* Appends value trimmed, with each run of spaces or tabs inside it collapsed to one space. */
static void sb_put_header_value(strbuf *sb, const char *value)
{
    const char *p = value ? value : "";
    while (*p == ' ' || *p == '\t')
        p++;
    const char *end = p + strlen(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    while (p < end) {
        if (*p == ' ' || *p == '\t') {
            sb_put(sb, " ", 1);
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        } else {
            sb_put(sb, p, 1);
            p++;
        }
    }
}

/* Encodes one raw string into a malloc'd buffer. */
static int encode_alloc(const char *raw, char **out)
{
    size_t len = strlen(raw);
    if (len > SIGV4_MAX_CANONICAL_BYTES)
        return err_set(FLOE_EINVAL, "sigv4: query parameter of %zu bytes is too long", len);
    char *enc = malloc(3 * len + 1);
    if (!enc)
        return err_set(FLOE_ENOMEM, "sigv4: out of memory encoding a query parameter");
    sigv4_uri_encode(raw, len, 0, enc, 3 * len + 1);
    *out = enc;
    return 0;
}

/* Builds the canonical request and the signed-headers list into creq and signed_headers. */
static int build_canonical(const sigv4_request *req, strbuf *creq, strbuf *signed_headers)
{
    int rc = 0;
    header_entry *headers = NULL;
    query_entry *query = NULL;
    size_t nquery = 0;
    int have_host = 0, have_date = 0;

    if (req->header_count > SIGV4_MAX_HEADERS || req->query_count > SIGV4_MAX_QUERY) {
        rc = err_set(FLOE_EINVAL, "sigv4: %zu headers and %zu query parameters; at most %d and %d",
                     req->header_count, req->query_count, SIGV4_MAX_HEADERS, SIGV4_MAX_QUERY);
        goto out;
    }
    headers = calloc(req->header_count ? req->header_count : 1, sizeof *headers);
    query = calloc(req->query_count ? req->query_count : 1, sizeof *query);
    if (!headers || !query) {
        rc = err_set(FLOE_ENOMEM, "sigv4: out of memory");
        goto out;
    }
    for (size_t i = 0; i < req->header_count; i++) {
        const char *name = req->headers[i].name;
        const char *value = req->headers[i].value ? req->headers[i].value : "";
        size_t len = name ? strlen(name) : 0;
        if (len == 0 || len >= sizeof headers[i].name) {
            rc = err_set(FLOE_EINVAL, "sigv4: header name of %zu bytes (1..%zu allowed)", len,
                         sizeof headers[i].name - 1);
            goto out;
        }
        for (size_t j = 0; j < len; j++) {
            unsigned char c = (unsigned char)name[j];
            if (!is_token_char(c)) {
                rc =
                    err_set(FLOE_EINVAL, "sigv4: header name '%s' has a character HTTP does not allow", name);
                goto out;
            }
            headers[i].name[j] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        }
        headers[i].name[len] = '\0';
        if (strpbrk(value, "\r\n")) {
            rc = err_set(FLOE_EINVAL, "sigv4: header '%s' has a line break in its value", name);
            goto out;
        }
        headers[i].value = value;
        headers[i].order = i;
        have_host |= strcmp(headers[i].name, "host") == 0;
        have_date |= strcmp(headers[i].name, "x-amz-date") == 0;
    }
    if (!have_host || !have_date) {
        rc = err_set(FLOE_EINVAL, "sigv4: the request must sign the host and x-amz-date headers");
        goto out;
    }
    qsort(headers, req->header_count, sizeof *headers, header_cmp);

    for (size_t i = 0; i < req->query_count; i++) {
        const char *name = req->query[i].name ? req->query[i].name : "";
        const char *value = req->query[i].value ? req->query[i].value : "";
        if ((rc = encode_alloc(name, &query[i].name)) != 0)
            goto out;
        nquery++;
        if ((rc = encode_alloc(value, &query[i].value)) != 0)
            goto out;
    }
    qsort(query, req->query_count, sizeof *query, query_cmp);

    sb_puts(creq, req->method);
    sb_puts(creq, "\n");
    sb_put_encoded(creq, req->path, 1);
    sb_puts(creq, "\n");
    for (size_t i = 0; i < req->query_count; i++) {
        if (i)
            sb_puts(creq, "&");
        sb_puts(creq, query[i].name);
        sb_puts(creq, "=");
        sb_puts(creq, query[i].value);
    }
    sb_puts(creq, "\n");
    for (size_t i = 0; i < req->header_count; i++) {
        int continues = i > 0 && strcmp(headers[i].name, headers[i - 1].name) == 0;
        if (continues) {
            sb_puts(creq, ",");
        } else {
            if (i > 0) {
                sb_puts(creq, "\n");
                sb_puts(signed_headers, ";");
            }
            sb_puts(creq, headers[i].name);
            sb_puts(creq, ":");
            sb_puts(signed_headers, headers[i].name);
        }
        sb_put_header_value(creq, headers[i].value);
    }
    sb_puts(creq, "\n\n");
    sb_put(creq, signed_headers->data, signed_headers->len);
    sb_puts(creq, "\n");
    sb_puts(creq, req->payload_hash);
    if (creq->err || signed_headers->err) {
        rc = creq->err ? creq->err : signed_headers->err;
        rc = err_set(
            rc, rc == FLOE_ENOMEM ? "sigv4: out of memory" : "sigv4: canonical request longer than %d bytes",
            SIGV4_MAX_CANONICAL_BYTES);
        goto out;
    }
out:
    for (size_t i = 0; i < nquery; i++) {
        free(query[i].name);
        free(query[i].value);
    }
    free(query);
    free(headers);
    return rc;
}

int sigv4_sign(const sigv4_request *req, const sigv4_credentials *cred, const char *amz_date,
               sigv4_signature *out)
{
    int rc = 0;
    strbuf creq = {0}, signed_headers = {0}, sts = {0}, authz = {0};
    char *secret_key = NULL;

    if (!req || !cred || !out || !req->method || !req->method[0] || !req->path || req->path[0] != '/' ||
        !req->payload_hash || !req->payload_hash[0] || (req->header_count && !req->headers) ||
        (req->query_count && !req->query)) {
        rc = err_set(FLOE_EINVAL, "sigv4: request needs a method, a path starting with '/' and a "
                                  "payload hash");
        goto out;
    }
    if (!cred->access_key || !cred->access_key[0] || !cred->secret_key || !cred->region || !cred->region[0] ||
        !cred->service || !cred->service[0]) {
        rc = err_set(FLOE_EINVAL, "sigv4: credentials need an access key, a secret key, a region and "
                                  "a service");
        goto out;
    }
    if (!valid_amz_date(amz_date)) {
        rc = err_set(FLOE_EINVAL, "sigv4: date '%s' is not YYYYMMDDTHHMMSSZ", amz_date ? amz_date : "");
        goto out;
    }
    if ((rc = build_canonical(req, &creq, &signed_headers)) != 0)
        goto out;

    char creq_hash[65];
    sigv4_sha256_hex(creq.data, creq.len, creq_hash);
    char day[9];
    memcpy(day, amz_date, 8);
    day[8] = '\0';

    sb_puts(&sts, "AWS4-HMAC-SHA256\n");
    sb_puts(&sts, amz_date);
    sb_puts(&sts, "\n");
    size_t scope_start = sts.len;
    sb_puts(&sts, day);
    sb_puts(&sts, "/");
    sb_puts(&sts, cred->region);
    sb_puts(&sts, "/");
    sb_puts(&sts, cred->service);
    sb_puts(&sts, "/aws4_request");
    size_t scope_end = sts.len;
    sb_puts(&sts, "\n");
    sb_puts(&sts, creq_hash);
    if (sts.err) {
        rc = err_set(sts.err, "sigv4: string to sign too long or out of memory");
        goto out;
    }

    size_t secret_len = strlen(cred->secret_key);
    secret_key = malloc(secret_len + 5);
    if (!secret_key) {
        rc = err_set(FLOE_ENOMEM, "sigv4: out of memory");
        goto out;
    }
    memcpy(secret_key, "AWS4", 4);
    memcpy(secret_key + 4, cred->secret_key, secret_len + 1);
    /* The signing key: HMAC chain over date, region, service and "aws4_request". */
    unsigned char k_date[32], k_region[32], k_service[32], k_signing[32], sig[32];
    if ((rc = hmac_sha256(secret_key, secret_len + 4, day, 8, k_date)) != 0 ||
        (rc = hmac_sha256(k_date, 32, cred->region, strlen(cred->region), k_region)) != 0 ||
        (rc = hmac_sha256(k_region, 32, cred->service, strlen(cred->service), k_service)) != 0 ||
        (rc = hmac_sha256(k_service, 32, "aws4_request", 12, k_signing)) != 0 ||
        (rc = hmac_sha256(k_signing, 32, sts.data, sts.len, sig)) != 0)
        goto out;
    char sig_hex[65];
    hex_encode(sig, sizeof sig, sig_hex);

    sb_puts(&authz, "AWS4-HMAC-SHA256 Credential=");
    sb_puts(&authz, cred->access_key);
    sb_puts(&authz, "/");
    sb_put(&authz, sts.data + scope_start, scope_end - scope_start);
    sb_puts(&authz, ", SignedHeaders=");
    sb_put(&authz, signed_headers.data, signed_headers.len);
    sb_puts(&authz, ", Signature=");
    sb_puts(&authz, sig_hex);
    if (authz.err) {
        rc = err_set(authz.err, "sigv4: Authorization header too long or out of memory");
        goto out;
    }
    out->canonical_request = creq.data;
    out->string_to_sign = sts.data;
    out->authorization = authz.data;
    creq.data = sts.data = authz.data = NULL;
out:
    if (secret_key) {
        OPENSSL_cleanse(secret_key, strlen(secret_key));
        free(secret_key);
    }
    free(creq.data);
    free(signed_headers.data);
    free(sts.data);
    free(authz.data);
    return rc;
}

void sigv4_signature_clear(sigv4_signature *sig)
{
    if (!sig)
        return;
    free(sig->canonical_request);
    free(sig->string_to_sign);
    free(sig->authorization);
    memset(sig, 0, sizeof *sig);
}
