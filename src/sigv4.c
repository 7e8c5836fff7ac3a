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

#include "buf.h"
#include "error.h"

#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

/* Every string built here is a buf_t of at most SIGV4_STRING_MAX_BYTES bytes (plus its NUL). */
#define SIGV4_STRING_MAX_BYTES (SIGV4_MAX_CANONICAL_BYTES - 1)

/* The error a failed string reports: FLOE_ENOMEM, or FLOE_EINVAL for a request too big to sign
 * (the code sigv4_sign has always given it); 0 if sb has not failed. */
static int string_error(const buf_t *sb)
{
    if (!sb->failed)
        return 0;
    return sb->failed == FLOE_ENOMEM ? FLOE_ENOMEM : FLOE_EINVAL;
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void put_uri_encoded(buf_t *sb, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (is_unreserved(*p) || (keep_slash && *p == '/')) {
            buf_putc(sb, (char)*p);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            buf_append(sb, esc, 3);
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
static void put_header_value(buf_t *sb, const char *value)
{
    const char *p = value ? value : "";
    while (*p == ' ' || *p == '\t')
        p++;
    const char *end = p + strlen(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    while (p < end) {
        if (*p == ' ' || *p == '\t') {
            buf_putc(sb, ' ');
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        } else {
            buf_putc(sb, (char)*p);
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

/* Checks every header name (an HTTP token, under 128 bytes) and value (no line break), lowercases
 * the names into headers (req->header_count entries) and sorts them by name, equal names keeping
 * their order. FLOE_EINVAL names the bad header, or says host or x-amz-date is missing. */
static int normalise_headers(const sigv4_request *req, header_entry *headers)
{
    int rc = 0;
    int have_host = 0, have_date = 0;
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
out:
    return rc;
}

/* Encodes every query name and value into query (req->query_count entries, each string malloc'd)
 * and sorts them. *nquery says how many entries hold strings to free, also on failure. */
static int encode_query(const sigv4_request *req, query_entry *query, size_t *nquery)
{
    int rc = 0;
    for (size_t i = 0; i < req->query_count; i++) {
        const char *name = req->query[i].name ? req->query[i].name : "";
        const char *value = req->query[i].value ? req->query[i].value : "";
        if ((rc = encode_alloc(name, &query[i].name)) != 0)
            goto out;
        (*nquery)++;
        if ((rc = encode_alloc(value, &query[i].value)) != 0)
            goto out;
    }
    qsort(query, req->query_count, sizeof *query, query_cmp);
out:
    return rc;
}

/* Writes the canonical request (method, path, query, headers, signed headers, payload hash, one
 * per line) into creq and the signed-headers list into signed_headers, from headers and query
 * already normalised and sorted. FLOE_ENOMEM, or FLOE_EINVAL when a string would pass its cap. */
static int write_canonical(const sigv4_request *req, const header_entry *headers, const query_entry *query,
                           buf_t *creq, buf_t *signed_headers)
{
    int rc = 0;
    buf_puts(creq, req->method);
    buf_puts(creq, "\n");
    put_uri_encoded(creq, req->path, 1);
    buf_puts(creq, "\n");
    for (size_t i = 0; i < req->query_count; i++) {
        if (i)
            buf_puts(creq, "&");
        buf_puts(creq, query[i].name);
        buf_puts(creq, "=");
        buf_puts(creq, query[i].value);
    }
    buf_puts(creq, "\n");
    for (size_t i = 0; i < req->header_count; i++) {
        int continues = i > 0 && strcmp(headers[i].name, headers[i - 1].name) == 0;
        if (continues) {
            buf_puts(creq, ",");
        } else {
            if (i > 0) {
                buf_puts(creq, "\n");
                buf_puts(signed_headers, ";");
            }
            buf_puts(creq, headers[i].name);
            buf_puts(creq, ":");
            buf_puts(signed_headers, headers[i].name);
        }
        put_header_value(creq, headers[i].value);
    }
    buf_puts(creq, "\n\n");
    buf_append(creq, signed_headers->data, signed_headers->len);
    buf_puts(creq, "\n");
    buf_puts(creq, req->payload_hash);
    if (creq->failed || signed_headers->failed) {
        rc = creq->failed ? string_error(creq) : string_error(signed_headers);
        rc = err_set(
            rc, rc == FLOE_ENOMEM ? "sigv4: out of memory" : "sigv4: canonical request longer than %d bytes",
            SIGV4_MAX_CANONICAL_BYTES);
    }
    return rc;
}

/* Builds the canonical request and the signed-headers list into creq and signed_headers: checks
 * and sorts the headers, encodes and sorts the query, writes both strings. */
static int build_canonical(const sigv4_request *req, buf_t *creq, buf_t *signed_headers)
{
    int rc = 0;
    header_entry *headers = NULL;
    query_entry *query = NULL;
    size_t nquery = 0;

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
    if ((rc = normalise_headers(req, headers)) == 0 && (rc = encode_query(req, query, &nquery)) == 0)
        rc = write_canonical(req, headers, query, creq, signed_headers);
out:
    for (size_t i = 0; i < nquery; i++) {
        free(query[i].name);
        free(query[i].value);
    }
    free(query);
    free(headers);
    return rc;
}

/* FLOE_EINVAL unless req, cred and amz_date have everything sigv4_sign needs. */
static int check_sign_inputs(const sigv4_request *req, const sigv4_credentials *cred, const char *amz_date,
                             const sigv4_signature *out)
{
    if (!req || !cred || !out || !req->method || !req->method[0] || !req->path || req->path[0] != '/' ||
        !req->payload_hash || !req->payload_hash[0] || (req->header_count && !req->headers) ||
        (req->query_count && !req->query))
        return err_set(FLOE_EINVAL, "sigv4: request needs a method, a path starting with '/' and a "
                                    "payload hash");
    if (!cred->access_key || !cred->access_key[0] || !cred->secret_key || !cred->region || !cred->region[0] ||
        !cred->service || !cred->service[0])
        return err_set(FLOE_EINVAL, "sigv4: credentials need an access key, a secret key, a region and "
                                    "a service");
    if (!valid_amz_date(amz_date))
        return err_set(FLOE_EINVAL, "sigv4: date '%s' is not YYYYMMDDTHHMMSSZ", amz_date ? amz_date : "");
    return 0;
}

/* Writes the string to sign for the canonical request creq into sts; [*scope_start, *scope_end)
 * is where the credential scope (day/region/service/aws4_request) sits in it. */
static int write_string_to_sign(const buf_t *creq, const char *amz_date, const char *day,
                                const sigv4_credentials *cred, buf_t *sts, size_t *scope_start,
                                size_t *scope_end)
{
    char creq_hash[65];
    sigv4_sha256_hex(creq->data, creq->len, creq_hash);
    buf_puts(sts, "AWS4-HMAC-SHA256\n");
    buf_puts(sts, amz_date);
    buf_puts(sts, "\n");
    *scope_start = sts->len;
    buf_puts(sts, day);
    buf_puts(sts, "/");
    buf_puts(sts, cred->region);
    buf_puts(sts, "/");
    buf_puts(sts, cred->service);
    buf_puts(sts, "/aws4_request");
    *scope_end = sts->len;
    buf_puts(sts, "\n");
    buf_puts(sts, creq_hash);
    if (sts->failed)
        return err_set(string_error(sts), "sigv4: string to sign too long or out of memory");
    return 0;
}

int sigv4_signing_key(const char *secret_key, const char *day, const char *region, const char *service,
                      unsigned char key[32])
{
    int rc = 0;
    size_t secret_len = strlen(secret_key);
    unsigned char k_date[32], k_region[32], k_service[32];
    char *prefixed = malloc(secret_len + 5);
    if (!prefixed) {
        rc = err_set(FLOE_ENOMEM, "sigv4: out of memory");
        goto out;
    }
    memcpy(prefixed, "AWS4", 4);
    memcpy(prefixed + 4, secret_key, secret_len + 1);
    if ((rc = hmac_sha256(prefixed, secret_len + 4, day, strlen(day), k_date)) != 0 ||
        (rc = hmac_sha256(k_date, 32, region, strlen(region), k_region)) != 0 ||
        (rc = hmac_sha256(k_region, 32, service, strlen(service), k_service)) != 0 ||
        (rc = hmac_sha256(k_service, 32, "aws4_request", 12, key)) != 0)
        goto out;
out:
    if (prefixed) {
        OPENSSL_cleanse(prefixed, secret_len + 4);
        free(prefixed);
    }
    OPENSSL_cleanse(k_date, sizeof k_date);
    OPENSSL_cleanse(k_region, sizeof k_region);
    OPENSSL_cleanse(k_service, sizeof k_service);
    return rc;
}

int sigv4_hmac_hex(const unsigned char key[32], const void *msg, size_t len, char out[65])
{
    unsigned char sig[32];
    int rc = hmac_sha256(key, 32, msg, len, sig);
    if (rc == 0)
        hex_encode(sig, sizeof sig, out);
    return rc;
}

/* The signature of sts as lowercase hex, under the signing key of cred and day. */
static int sign_string(const sigv4_credentials *cred, const char *day, const buf_t *sts, char sig_hex[65])
{
    unsigned char k_signing[32];
    int rc = sigv4_signing_key(cred->secret_key, day, cred->region, cred->service, k_signing);
    if (rc == 0)
        rc = sigv4_hmac_hex(k_signing, sts->data, sts->len, sig_hex);
    OPENSSL_cleanse(k_signing, sizeof k_signing);
    return rc;
}

/* Writes the Authorization header's value into authz: credential (access key and scope), signed
 * headers, signature. */
static int write_authorization(const sigv4_credentials *cred, const char *scope, size_t scope_len,
                               const buf_t *signed_headers, const char *sig_hex, buf_t *authz)
{
    buf_puts(authz, "AWS4-HMAC-SHA256 Credential=");
    buf_puts(authz, cred->access_key);
    buf_puts(authz, "/");
    buf_append(authz, scope, scope_len);
    buf_puts(authz, ", SignedHeaders=");
    buf_append(authz, signed_headers->data, signed_headers->len);
    buf_puts(authz, ", Signature=");
    buf_puts(authz, sig_hex);
    if (authz->failed)
        return err_set(string_error(authz), "sigv4: Authorization header too long or out of memory");
    return 0;
}

int sigv4_sign(const sigv4_request *req, const sigv4_credentials *cred, const char *amz_date,
               sigv4_signature *out)
{
    int rc = 0;
    buf_t creq, signed_headers, sts, authz;
    size_t scope_start = 0, scope_end = 0;
    char day[9], sig_hex[65];

    buf_init(&creq, SIGV4_STRING_MAX_BYTES);
    buf_init(&signed_headers, SIGV4_STRING_MAX_BYTES);
    buf_init(&sts, SIGV4_STRING_MAX_BYTES);
    buf_init(&authz, SIGV4_STRING_MAX_BYTES);

    if ((rc = check_sign_inputs(req, cred, amz_date, out)) != 0 ||
        (rc = build_canonical(req, &creq, &signed_headers)) != 0)
        goto out;
    memcpy(day, amz_date, 8);
    day[8] = '\0';
    if ((rc = write_string_to_sign(&creq, amz_date, day, cred, &sts, &scope_start, &scope_end)) != 0 ||
        (rc = sign_string(cred, day, &sts, sig_hex)) != 0 ||
        (rc = write_authorization(cred, sts.data + scope_start, scope_end - scope_start, &signed_headers,
                                  sig_hex, &authz)) != 0)
        goto out;
    out->canonical_request = buf_take(&creq, NULL);
    out->string_to_sign = buf_take(&sts, NULL);
    out->authorization = buf_take(&authz, NULL);
out:
    buf_free(&creq);
    buf_free(&signed_headers);
    buf_free(&sts);
    buf_free(&authz);
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
