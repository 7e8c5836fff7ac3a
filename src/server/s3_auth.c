/* Server-side AWS Signature Version 4 for the S3-compatible API (see s3_auth.h): parses the
 * Authorization header or the presigned query parameters, checks them in the order S3 does, then
 * rebuilds the canonical request from the bytes received and compares signatures.
 *
 * Invariants:
 * 1. Everything the client sends is read within a cap of s3_auth.h; past one the request is a 400
 *    naming the cap. A call allocates one verify_state (fixed-size arrays) and the canonical request
 *    and string to sign, each a buf_t with a cap; nothing else.
 * 2. A refusal fills http_status, error_code and message. Acceptance comes only after the
 *    computed signature equals the one sent, compared with CRYPTO_memcmp.
 * 3. The checks run in one order (check_request): the auth form, its syntax, the credential scope,
 *    the request time, the payload header, the key, the signed headers, the signature; so the
 *    first thing wrong is the one reported, as S3 reports it.
 * 4. The path and every query name and value are percent-decoded, then re-encoded by
 *    sigv4_uri_encode, the client signer's encoder: what the client meant is what is compared, and
 *    the encoding of "%2f" versus "%2F" does not matter. The path is never normalised.
 * 5. Secret material (the signing key) lives in the verify_state and in out->signing_key only; the
 *    state's copy is wiped before it is freed.
 */
#include "s3_auth.h"

#include "buf.h"
#include "coding.h"
#include "http_parse.h"
#include "sigv4.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define SERVICE "s3"
#define TERMINAL "aws4_request"
#define UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define CREDENTIAL_FORM "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\""

/* Caps on the parts of a credential, which the scope of s3_auth_result must hold. */
#define ACCESS_KEY_MAX_BYTES 128
#define REGION_MAX_BYTES 64
#define SCOPE_PART_MAX_BYTES 32

typedef struct query_param {
    const char *name, *value; /* decoded; NUL-terminated, but a %00 may put a NUL inside */
    size_t name_len, value_len;
    const char *enc_name, *enc_value; /* re-encoded, as the canonical query holds them */
} query_param;

/* What the Authorization header or the presigned parameters say. */
typedef struct auth_fields {
    char access_key[ACCESS_KEY_MAX_BYTES + 1];
    char day[9];
    char region[REGION_MAX_BYTES + 1];
    char service[SCOPE_PART_MAX_BYTES + 1];
    char terminal[SCOPE_PART_MAX_BYTES + 1];
    char signature[65];      /* lowercased */
    int signature_is_hex;    /* the signature sent was exactly 64 hex digits */
    char amz_date[17];       /* the request time, "YYYYMMDDTHHMMSSZ" */
    const char *date_header; /* header mode: the header that dated the request */
    time_t time;
    long expires_s; /* presigned */
} auth_fields;

typedef struct verify_state {
    query_param query[S3_AUTH_MAX_QUERY_PARAMS]; /* sorted by enc_name, then enc_value */
    size_t query_count;
    /* Decoded and re-encoded query strings: at most 4 bytes per raw byte plus 4 NULs a parameter. */
    char query_text[4 * S3_AUTH_MAX_QUERY_BYTES + 4 * S3_AUTH_MAX_QUERY_PARAMS];
    size_t query_text_used;
    const char *signed_names[S3_AUTH_MAX_SIGNED_HEADERS]; /* into signed_split */
    size_t signed_count;
    char signed_list[S3_AUTH_MAX_AUTHORIZATION_BYTES];  /* the SignedHeaders list as sent */
    char signed_split[S3_AUTH_MAX_AUTHORIZATION_BYTES]; /* the same, its ';' made NULs */
    char path_decoded[S3_AUTH_MAX_PATH_BYTES + 1];
    char path_encoded[3 * S3_AUTH_MAX_PATH_BYTES + 1];
    auth_fields f;
    int presigned;
    const char *payload_line; /* the canonical request's last line */
    unsigned char signing_key[32];
    buf_t canonical;
    buf_t sts;
} verify_state;

static int refuse(s3_auth_result *out, int status, const char *code, const char *fmt, ...) FLOE_PRINTF(4, 5);

/* Fills out's refusal and returns -1. */
static int refuse(s3_auth_result *out, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
    out->http_status = status;
    out->error_code = code;
    return -1;
}

/* A refusal of the signature's syntax or scope, in S3's words: AuthorizationHeaderMalformed with
 * its prefix for header signing, AuthorizationQueryParametersError for a presigned URL. */
static int malformed(s3_auth_result *out, int presigned, const char *fmt, ...) FLOE_PRINTF(3, 4);

static int malformed(s3_auth_result *out, int presigned, const char *fmt, ...)
{
    char detail[224];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (presigned)
        return refuse(out, 400, "AuthorizationQueryParametersError", "%s", detail);
    return refuse(out, 400, "AuthorizationHeaderMalformed", "The authorization header is malformed; %s",
                  detail);
}

/* Percent-decodes n bytes of src into dst (room for n + 1 bytes), NUL-terminated. Returns the
 * decoded length, or -1 for a '%' not followed by two hex digits. ('+' stays '+': SigV4 encodes
 * query strings with %20 for a space.) */
static long pct_decode(const char *src, size_t n, char *dst)
{
    size_t w = 0;
    for (size_t r = 0; r < n; r++) {
        if (src[r] != '%') {
            dst[w++] = src[r];
            continue;
        }
        if (r + 2 >= n)
            return -1;
        int hi = hex_digit_value((unsigned char)src[r + 1]), lo = hex_digit_value((unsigned char)src[r + 2]);
        if (hi < 0 || lo < 0)
            return -1;
        dst[w++] = (char)(hi * 16 + lo);
        r += 2;
    }
    dst[w] = '\0';
    return (long)w;
}

/* Takes room for n bytes in st->query_text; the caps make it always fit. */
static char *query_room(verify_state *st, size_t n)
{
    char *p = st->query_text + st->query_text_used;
    st->query_text_used += n;
    return p;
}

/* Decodes and re-encodes one parameter (name and value as raw bytes) into st. */
static int add_query_param(verify_state *st, const char *name, size_t name_len, const char *value,
                           size_t value_len, s3_auth_result *out)
{
    query_param *q = &st->query[st->query_count];
    char *dn = query_room(st, name_len + 1), *dv = query_room(st, value_len + 1);
    long dn_len = pct_decode(name, name_len, dn), dv_len = pct_decode(value, value_len, dv);
    if (dn_len < 0 || dv_len < 0)
        return refuse(out, 400, "InvalidArgument",
                      "The query parameter '%.*s' has a '%%' not followed by two hex digits; "
                      "percent-encode it as %%25",
                      (int)(name_len < 64 ? name_len : 64), name);
    char *en = query_room(st, 3 * (size_t)dn_len + 1), *ev = query_room(st, 3 * (size_t)dv_len + 1);
    sigv4_uri_encode(dn, (size_t)dn_len, 0, en, 3 * (size_t)dn_len + 1);
    sigv4_uri_encode(dv, (size_t)dv_len, 0, ev, 3 * (size_t)dv_len + 1);
    *q = (query_param){dn, dv, (size_t)dn_len, (size_t)dv_len, en, ev};
    st->query_count++;
    return 0;
}

static int query_cmp(const void *a, const void *b)
{
    const query_param *x = a, *y = b;
    int c = strcmp(x->enc_name, y->enc_name);
    return c ? c : strcmp(x->enc_value, y->enc_value);
}

/* Splits in->raw_query at '&' into st->query, each parameter at its first '=' (none: an empty
 * value), and sorts them. Empty pieces ("a=1&&b=2", a trailing '&') are not parameters. */
static int parse_query(const s3_auth_input *in, verify_state *st, s3_auth_result *out)
{
    const char *q = in->raw_query;
    if (!q)
        return 0;
    size_t len = strnlen(q, S3_AUTH_MAX_QUERY_BYTES + 1);
    if (len > S3_AUTH_MAX_QUERY_BYTES)
        return refuse(out, 400, "InvalidArgument", "The query string is longer than the %d bytes accepted",
                      S3_AUTH_MAX_QUERY_BYTES);
    const char *p = q, *end = q + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *piece_end = amp ? amp : end;
        if (piece_end > p) {
            if (st->query_count == S3_AUTH_MAX_QUERY_PARAMS)
                return refuse(out, 400, "InvalidArgument",
                              "The query string has more than the %d parameters "
                              "accepted",
                              S3_AUTH_MAX_QUERY_PARAMS);
            const char *eq = memchr(p, '=', (size_t)(piece_end - p));
            const char *name_end = eq ? eq : piece_end, *value = eq ? eq + 1 : piece_end;
            if (add_query_param(st, p, (size_t)(name_end - p), value, (size_t)(piece_end - value), out) != 0)
                return -1;
        }
        p = amp ? amp + 1 : end;
    }
    qsort(st->query, st->query_count, sizeof st->query[0], query_cmp);
    return 0;
}

/* The parameter whose decoded name is name, or NULL; *count says how many have it. */
static const query_param *find_param(const verify_state *st, const char *name, int *count)
{
    const query_param *found = NULL;
    size_t len = strlen(name);
    *count = 0;
    for (size_t i = 0; i < st->query_count; i++) {
        if (st->query[i].name_len == len && memcmp(st->query[i].name, name, len) == 0) {
            if (!found)
                found = &st->query[i];
            (*count)++;
        }
    }
    return found;
}

static int is_lower_token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Keeps the SignedHeaders list (len bytes at list) in st and splits it into st->signed_names;
 * every name must be a lowercase HTTP token. */
static int split_signed_headers(const char *list, size_t len, verify_state *st, s3_auth_result *out)
{
    if (len == 0)
        return malformed(out, st->presigned, "SignedHeaders is empty; it must name host at least");
    if (len >= sizeof st->signed_split)
        return malformed(out, st->presigned, "SignedHeaders is longer than %zu bytes",
                         sizeof st->signed_split - 1);
    memcpy(st->signed_list, list, len);
    st->signed_list[len] = '\0';
    memcpy(st->signed_split, list, len);
    st->signed_split[len] = '\0';
    for (char *name = st->signed_split;;) {
        char *semi = strchr(name, ';');
        if (semi)
            *semi = '\0';
        size_t n = strlen(name);
        if (n == 0 || n > S3_AUTH_MAX_HEADER_NAME_BYTES)
            return malformed(out, st->presigned,
                             "SignedHeaders \"%.64s\" has an empty or overlong header name", st->signed_list);
        for (size_t i = 0; i < n; i++)
            if (!is_lower_token_char((unsigned char)name[i]))
                return malformed(out, st->presigned,
                                 "SignedHeaders names \"%.64s\", which is not a lowercase "
                                 "header name",
                                 name);
        if (st->signed_count == S3_AUTH_MAX_SIGNED_HEADERS)
            return malformed(out, st->presigned, "SignedHeaders names more than the %d headers accepted",
                             S3_AUTH_MAX_SIGNED_HEADERS);
        st->signed_names[st->signed_count++] = name;
        if (!semi)
            break;
        name = semi + 1;
    }
    return 0;
}

static int is_signed(const verify_state *st, const char *name)
{
    for (size_t i = 0; i < st->signed_count; i++)
        if (strcmp(st->signed_names[i], name) == 0)
            return 1;
    return 0;
}

/* Copies the n bytes at s into dst (cap bytes with the NUL) if they fit: 0, else -1. */
static int copy_part(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* Parses "AKID/YYYYMMDD/REGION/SERVICE/aws4_request" into st->f: exactly five parts, split at the
 * slashes (an access key never holds '/'), each within its field. */
static int parse_credential(const char *cred, size_t len, verify_state *st, s3_auth_result *out)
{
    const char *part[5];
    size_t part_len[5], n = 0;
    const char *p = cred, *end = cred + len;
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        if (n == 5) {
            n++; /* a sixth part */
            break;
        }
        part[n] = p;
        part_len[n] = (size_t)((slash ? slash : end) - p);
        n++;
        if (!slash)
            break;
        p = slash + 1;
    }
    auth_fields *f = &st->f;
    if (n != 5 || part_len[0] == 0 ||
        copy_part(f->access_key, sizeof f->access_key, part[0], part_len[0]) != 0 ||
        copy_part(f->day, sizeof f->day, part[1], part_len[1]) != 0 ||
        copy_part(f->region, sizeof f->region, part[2], part_len[2]) != 0 ||
        copy_part(f->service, sizeof f->service, part[3], part_len[3]) != 0 ||
        copy_part(f->terminal, sizeof f->terminal, part[4], part_len[4]) != 0)
        return malformed(out, st->presigned, "%sthe Credential is mal-formed; expecting " CREDENTIAL_FORM ".",
                         st->presigned ? "Error parsing the X-Amz-Credential parameter; " : "");
    return 0;
}

/* Lowercases the signature sent into st->f.signature and notes whether it is 64 hex digits. */
static void take_signature(const char *sig, size_t len, verify_state *st)
{
    auth_fields *f = &st->f;
    f->signature_is_hex = len == 64;
    for (size_t i = 0; i < 64; i++) {
        unsigned char c = i < len ? (unsigned char)sig[i] : '0';
        if (hex_digit_value(c) < 0) {
            f->signature_is_hex = 0;
            c = '0';
        }
        f->signature[i] = (char)(c >= 'A' && c <= 'F' ? c + 32 : c);
    }
    f->signature[64] = '\0';
}

/* Parses one "Name=value" component of the Authorization header (len bytes at comp, trimmed);
 * seen has a bit per component already parsed. */
static int parse_component(const char *comp, size_t len, verify_state *st, int *seen, s3_auth_result *out)
{
    static const char *const names[] = {"Credential", "SignedHeaders", "Signature"};
    const char *eq = memchr(comp, '=', len);
    size_t name_len = eq ? (size_t)(eq - comp) : len;
    while (name_len > 0 && (comp[name_len - 1] == ' ' || comp[name_len - 1] == '\t'))
        name_len--;
    int which = -1;
    for (int i = 0; i < 3; i++)
        if (strlen(names[i]) == name_len && memcmp(comp, names[i], name_len) == 0)
            which = i;
    if (which < 0 || !eq)
        return malformed(out, 0, "the authorization component \"%.*s\" is malformed.",
                         (int)(len < 64 ? len : 64), comp);
    if (*seen & (1 << which))
        return malformed(out, 0, "the authorization component \"%s\" is given twice.", names[which]);
    *seen |= 1 << which;
    const char *value = eq + 1, *end = comp + len;
    while (value < end && (*value == ' ' || *value == '\t'))
        value++;
    size_t value_len = (size_t)(end - value);
    if (which == 0)
        return parse_credential(value, value_len, st, out);
    if (which == 1)
        return split_signed_headers(value, value_len, st, out);
    take_signature(value, value_len, st);
    return 0;
}

/* Parses "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...": the three
 * components in any order, separated by ',' with spaces or tabs around them, as clients send. */
static int parse_authorization_header(const char *h, verify_state *st, s3_auth_result *out)
{
    size_t len = strnlen(h, S3_AUTH_MAX_AUTHORIZATION_BYTES + 1);
    if (len > S3_AUTH_MAX_AUTHORIZATION_BYTES)
        return refuse(out, 400, "RequestHeaderSectionTooLarge",
                      "The Authorization header is longer than the %d bytes accepted",
                      S3_AUTH_MAX_AUTHORIZATION_BYTES);
    const char *p = h + strlen(ALGORITHM), *end = h + len;
    int seen = 0;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p == end)
            break;
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *comp_end = comma ? comma : end;
        size_t n = (size_t)(comp_end - p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (parse_component(p, n, st, &seen, out) != 0)
            return -1;
        p = comp_end;
    }
    static const char *const names[] = {"Credential", "SignedHeaders", "Signature"};
    for (int i = 0; i < 3; i++)
        if (!(seen & (1 << i)))
            return malformed(out, 0, "missing %s.", names[i]);
    return 0;
}

/* Reads exactly "YYYYMMDDTHHMMSSZ" (len bytes at s) into *t: 0, or -1 for anything else, a day
 * that does not exist (February 30) included. */
static int parse_amz_date(const char *s, size_t len, time_t *t)
{
    if (len != 16 || s[8] != 'T' || s[15] != 'Z')
        return -1;
    int v[14];
    for (int i = 0, j = 0; i < 15; i++) {
        if (i == 8)
            continue;
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v[j++] = s[i] - '0';
    }
    struct tm tm = {0};
    tm.tm_year = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3] - 1900;
    tm.tm_mon = v[4] * 10 + v[5] - 1;
    tm.tm_mday = v[6] * 10 + v[7];
    tm.tm_hour = v[8] * 10 + v[9];
    tm.tm_min = v[10] * 10 + v[11];
    tm.tm_sec = v[12] * 10 + v[13];
    time_t when = timegm(&tm);
    char back[17];
    sigv4_amz_date(when, back);
    if (memcmp(back, s, 16) != 0)
        return -1;
    *t = when;
    return 0;
}

/* A trimmed header value: *n bytes from the returned pointer. */
static const char *trimmed(const char *v, size_t *n)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t len = strlen(v);
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    *n = len;
    return v;
}

/* Reads a Date header into *t: an HTTP-date (http_parse_date), or the RFC 5322 form with a numeric
 * zone that botocore sends ("Fri, 14 Mar 2025 15:09:26 -0000"). 0, or -1. */
static int parse_date_header(const char *value, time_t now, time_t *t)
{
    char copy[64];
    size_t n;
    const char *v = trimmed(value, &n);
    if (n < 6 || n >= sizeof copy)
        return -1;
    memcpy(copy, v, n);
    copy[n] = '\0';
    long offset_s = 0;
    char *zone = copy + n - 5;
    if ((zone[0] == '+' || zone[0] == '-') && zone[-1] == ' ' && strspn(zone + 1, "0123456789") == 4) {
        int hours = (zone[1] - '0') * 10 + (zone[2] - '0'), minutes = (zone[3] - '0') * 10 + (zone[4] - '0');
        if (hours > 23 || minutes > 59)
            return -1;
        offset_s = (zone[0] == '-' ? -1 : 1) * (hours * 3600L + minutes * 60L);
        memcpy(zone, "GMT", 4);
    }
    int64_t when = 0;
    if (http_parse_date(copy, (int64_t)now, &when) != 0)
        return -1;
    *t = (time_t)(when - offset_s);
    return 0;
}

/* Header signing: the request time, from x-amz-date or else Date, into st->f. */
static int header_request_time(const s3_auth_input *in, verify_state *st, s3_auth_result *out)
{
    auth_fields *f = &st->f;
    const char *amz = in->header(in->header_ctx, "x-amz-date");
    const char *date = amz ? NULL : in->header(in->header_ctx, "date");
    if (amz) {
        size_t n;
        const char *v = trimmed(amz, &n);
        if (parse_amz_date(v, n, &f->time) != 0)
            return refuse(out, 403, "AccessDenied",
                          "AWS authentication requires a valid Date or x-amz-date "
                          "header: x-amz-date \"%.40s\" is not YYYYMMDDTHHMMSSZ",
                          amz);
        f->date_header = "x-amz-date";
    } else {
        if (!date || parse_date_header(date, in->now, &f->time) != 0)
            return refuse(out, 403, "AccessDenied",
                          "AWS authentication requires a valid Date or x-amz-date "
                          "header%s",
                          date ? ": Date is not an HTTP-date" : "");
        f->date_header = "date";
    }
    sigv4_amz_date(f->time, f->amz_date);
    return 0;
}

/* The five presigned parameters besides X-Amz-Algorithm, into st->f and the signed headers. */
static int parse_presigned(verify_state *st, s3_auth_result *out)
{
    static const char *const names[] = {"X-Amz-Algorithm", "X-Amz-Credential",    "X-Amz-Date",
                                        "X-Amz-Expires",   "X-Amz-SignedHeaders", "X-Amz-Signature"};
    const query_param *v[6];
    for (int i = 0; i < 6; i++) {
        int count = 0;
        v[i] = find_param(st, names[i], &count);
        if (count == 0)
            return refuse(
                out, 400, "AuthorizationQueryParametersError",
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters "
                "(%s is missing).",
                names[i]);
        if (count > 1)
            return refuse(out, 400, "AuthorizationQueryParametersError",
                          "%s is given %d times; once is allowed.", names[i], count);
    }
    auth_fields *f = &st->f;
    if (parse_credential(v[1]->value, v[1]->value_len, st, out) != 0)
        return -1;
    if (parse_amz_date(v[2]->value, v[2]->value_len, &f->time) != 0)
        return refuse(out, 400, "AuthorizationQueryParametersError",
                      "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
    memcpy(f->amz_date, v[2]->value, 16);
    f->amz_date[16] = '\0';
    const query_param *e = v[3];
    long expires = 0;
    for (size_t i = 0; i < e->value_len; i++) {
        if (e->value[i] < '0' || e->value[i] > '9' || i >= 9)
            return refuse(out, 400, "AuthorizationQueryParametersError",
                          "X-Amz-Expires should be a number of seconds, 1 to %d", S3_AUTH_MAX_EXPIRES_S);
        expires = expires * 10 + (e->value[i] - '0');
    }
    if (e->value_len == 0 || expires < 1)
        return refuse(out, 400, "AuthorizationQueryParametersError",
                      "X-Amz-Expires must be at least 1 second");
    if (expires > S3_AUTH_MAX_EXPIRES_S)
        return refuse(out, 400, "AuthorizationQueryParametersError",
                      "X-Amz-Expires must be less than a week (in seconds) that is %d",
                      S3_AUTH_MAX_EXPIRES_S);
    f->expires_s = expires;
    if (split_signed_headers(v[4]->value, v[4]->value_len, st, out) != 0)
        return -1;
    take_signature(v[5]->value, v[5]->value_len, st);
    return 0;
}

/* Decides how the request is signed: st->presigned and, for header signing, *authorization. */
static int choose_form(const s3_auth_input *in, verify_state *st, const char **authorization,
                       s3_auth_result *out)
{
    static const char unsupported[] =
        "The authorization mechanism you have provided is not supported. Please "
        "use AWS4-HMAC-SHA256 (Signature Version 4).";
    const char *authz = in->header(in->header_ctx, "authorization");
    int n = 0;
    const query_param *alg = find_param(st, "X-Amz-Algorithm", &n);
    if (authz && alg)
        return refuse(
            out, 400, "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
            "parameter, Signature query string parameter or the Authorization header should be specified");
    if (authz) {
        size_t alg_len = strlen(ALGORITHM);
        if (strncmp(authz, ALGORITHM, alg_len) == 0) {
            if (authz[alg_len] != ' ' && authz[alg_len] != '\t')
                return malformed(out, 0,
                                 "AWS4-HMAC-SHA256 must be followed by a space, then "
                                 "Credential=..., SignedHeaders=..., Signature=...");
            *authorization = authz;
            return 0;
        }
        if (strncmp(authz, "AWS ", 4) == 0 || strncmp(authz, "AWS4-", 5) == 0)
            return refuse(out, 400, "InvalidRequest", "%s", unsupported);
        return refuse(out, 400, "InvalidArgument",
                      "Unsupported Authorization Type: floe accepts "
                      "\"AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...\"");
    }
    if (alg) {
        st->presigned = 1;
        if (alg->value_len != strlen(ALGORITHM) || memcmp(alg->value, ALGORITHM, alg->value_len) != 0)
            return refuse(out, 400, "AuthorizationQueryParametersError",
                          "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
        return 0;
    }
    int n_sig = 0, n_key = 0;
    find_param(st, "Signature", &n_sig);
    find_param(st, "AWSAccessKeyId", &n_key);
    if (n_sig && n_key)
        return refuse(out, 400, "InvalidRequest", "%s", unsupported);
    return refuse(out, 403, "AccessDenied",
                  "Access Denied: anonymous requests are not allowed; sign the "
                  "request with AWS Signature Version 4 (an Authorization header or a presigned URL)");
}

/* The credential scope: the configured region, service s3, aws4_request, the request's day. */
static int check_scope(const s3_auth_input *in, verify_state *st, s3_auth_result *out)
{
    const auth_fields *f = &st->f;
    const char *pre = st->presigned ? "Error parsing the X-Amz-Credential parameter; " : "";
    if (strcmp(f->region, in->region) != 0)
        return malformed(out, st->presigned, "%sthe region '%s' is wrong; expecting '%s'", pre, f->region,
                         in->region);
    if (strcmp(f->service, SERVICE) != 0)
        return malformed(out, st->presigned, "%sincorrect service \"%s\". This endpoint belongs to \"s3\".",
                         pre, f->service);
    if (strcmp(f->terminal, TERMINAL) != 0)
        return malformed(out, st->presigned,
                         "%sincorrect terminal \"%s\". This endpoint uses \"aws4_request\".", pre,
                         f->terminal);
    if (strlen(f->day) != 8 || memcmp(f->day, f->amz_date, 8) != 0)
        return malformed(out, st->presigned,
                         "%sInvalid credential date \"%s\". This date is not the same as "
                         "X-Amz-Date: \"%.8s\".",
                         pre, f->day, f->amz_date);
    return 0;
}

/* The request time against now: within the skew for header signing; for a presigned URL, not in
 * the future past the skew and not past its expiry. */
static int check_time_window(const s3_auth_input *in, const verify_state *st, s3_auth_result *out)
{
    const auth_fields *f = &st->f;
    char now[17];
    sigv4_amz_date(in->now, now);
    if (!st->presigned) {
        if (f->time > in->now + S3_AUTH_MAX_SKEW_S || f->time < in->now - S3_AUTH_MAX_SKEW_S)
            return refuse(
                out, 403, "RequestTimeTooSkewed",
                "The difference between the request time and the "
                "current time is too large: the request is dated %s, the server's clock says %s (at "
                "most 15 minutes apart)",
                f->amz_date, now);
        return 0;
    }
    if (f->time > in->now + S3_AUTH_MAX_SKEW_S)
        return refuse(out, 403, "AccessDenied",
                      "Request is not valid yet: X-Amz-Date %s is after the server's "
                      "clock, %s",
                      f->amz_date, now);
    if (in->now - f->time > f->expires_s)
        return refuse(out, 403, "AccessDenied",
                      "Request has expired: signed at %s for %ld seconds; the server's "
                      "clock says %s",
                      f->amz_date, f->expires_s, now);
    return 0;
}

/* x-amz-content-sha256: out->payload and the canonical request's payload line. */
static int check_payload(const s3_auth_input *in, verify_state *st, s3_auth_result *out)
{
    static const struct {
        const char *value;
        enum s3_payload mode;
    } literals[] = {
        {UNSIGNED_PAYLOAD, S3_PAYLOAD_UNSIGNED},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", S3_PAYLOAD_STREAMING_SIGNED},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", S3_PAYLOAD_STREAMING_SIGNED_TRAILER},
        {"STREAMING-UNSIGNED-PAYLOAD-TRAILER", S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER},
    };
    const char *v = in->header(in->header_ctx, "x-amz-content-sha256");
    if (!v) {
        if (!st->presigned)
            return refuse(out, 400, "InvalidRequest",
                          "Missing required header for this request: "
                          "x-amz-content-sha256");
        out->payload = S3_PAYLOAD_UNSIGNED;
        st->payload_line = UNSIGNED_PAYLOAD;
        return 0;
    }
    st->payload_line = v;
    for (size_t i = 0; i < sizeof literals / sizeof literals[0]; i++) {
        if (strcmp(v, literals[i].value) == 0) {
            out->payload = literals[i].mode;
            if (st->presigned && out->payload != S3_PAYLOAD_UNSIGNED)
                return refuse(out, 400, "InvalidRequest",
                              "x-amz-content-sha256 %s needs the Authorization "
                              "header: a presigned URL cannot send an aws-chunked body",
                              v);
            return 0;
        }
    }
    size_t n = strlen(v), i = 0;
    while (i < n && i < 64 && hex_digit_value((unsigned char)v[i]) >= 0)
        i++;
    if (n != 64 || i != 64)
        return refuse(out, 400, "InvalidArgument",
                      "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                      "STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                      "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or a valid sha256 value.");
    for (i = 0; i < 64; i++)
        out->payload_sha256[i] = (char)(v[i] >= 'A' && v[i] <= 'F' ? v[i] + 32 : v[i]);
    out->payload_sha256[64] = '\0';
    out->payload = S3_PAYLOAD_SHA256;
    return 0;
}

/* Which key the access key names: *index, or InvalidAccessKeyId. */
static int find_key(const verify_state *st, const s3_auth_key *keys, size_t n_keys, size_t *index,
                    s3_auth_result *out)
{
    for (size_t i = 0; i < n_keys; i++) {
        if (keys[i].access_key && keys[i].secret_key && strcmp(keys[i].access_key, st->f.access_key) == 0) {
            *index = i;
            return 0;
        }
    }
    return refuse(out, 403, "InvalidAccessKeyId",
                  "The AWS Access Key Id you provided does not exist in our "
                  "records: \"%.64s\"",
                  st->f.access_key);
}

/* What must be signed: host; with header signing, the date header and x-amz-content-sha256;
 * and every x-amz-* header the request has, when in->header_name_at can list them. */
static int check_signed_headers(const s3_auth_input *in, const verify_state *st, s3_auth_result *out)
{
    if (!is_signed(st, "host"))
        return malformed(out, st->presigned, "%s must include host",
                         st->presigned ? "X-Amz-SignedHeaders" : "SignedHeaders");
    if (!st->presigned) {
        if (!is_signed(st, st->f.date_header))
            return refuse(out, 403, "AccessDenied",
                          "There were headers present in the request which were not "
                          "signed: %s, which dates the request",
                          st->f.date_header);
        if (!is_signed(st, "x-amz-content-sha256"))
            return refuse(out, 400, "InvalidRequest",
                          "header 'x-amz-content-sha256' must be included in "
                          "signature");
    }
    if (!in->header_name_at)
        return 0;
    for (size_t i = 0;; i++) {
        const char *name = in->header_name_at(in->header_ctx, i);
        if (!name)
            break;
        if (i == S3_AUTH_MAX_HEADERS)
            return refuse(out, 400, "RequestHeaderSectionTooLarge",
                          "The request has more than the %d headers "
                          "accepted",
                          S3_AUTH_MAX_HEADERS);
        /* x-amz-content-sha256 is covered anyway: its value is the canonical request's last line. */
        if (strncmp(name, "x-amz-", 6) == 0 && strcmp(name, "x-amz-content-sha256") != 0 &&
            !is_signed(st, name))
            return refuse(out, 403, "AccessDenied",
                          "There were headers present in the request which were not "
                          "signed: %.64s",
                          name);
    }
    return 0;
}

/* The canonical URI: the raw path decoded, then encoded again, into st->path_encoded. */
static int canonical_uri(const s3_auth_input *in, verify_state *st, s3_auth_result *out)
{
    const char *raw = in->raw_path;
    if (!raw || raw[0] != '/')
        return refuse(out, 400, "InvalidURI",
                      "Couldn't parse the specified URI: the path must start with '/'");
    size_t len = strnlen(raw, S3_AUTH_MAX_PATH_BYTES + 1);
    if (len > S3_AUTH_MAX_PATH_BYTES)
        return refuse(out, 400, "InvalidURI",
                      "Couldn't parse the specified URI: the path is longer than the %d "
                      "bytes accepted",
                      S3_AUTH_MAX_PATH_BYTES);
    long n = pct_decode(raw, len, st->path_decoded);
    if (n < 0)
        return refuse(out, 400, "InvalidURI",
                      "Couldn't parse the specified URI: a '%%' in the path is not "
                      "followed by two hex digits");
    sigv4_uri_encode(st->path_decoded, (size_t)n, 1, st->path_encoded, sizeof st->path_encoded);
    return 0;
}

/* Appends value trimmed, each inner run of spaces and tabs collapsed to one space. */
static void put_header_value(buf_t *b, const char *value)
{
    size_t n;
    const char *p = trimmed(value, &n), *end = p + n;
    while (p < end) {
        if (*p == ' ' || *p == '\t') {
            buf_putc(b, ' ');
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        } else {
            buf_putc(b, *p++);
        }
    }
}

/* Builds the canonical request into st->canonical: method, URI, query, signed headers with their
 * values, the SignedHeaders list, the payload line. */
static int build_canonical(const s3_auth_input *in, verify_state *st, s3_auth_result *out)
{
    buf_t *b = &st->canonical;
    if (canonical_uri(in, st, out) != 0)
        return -1;
    buf_puts(b, in->method);
    buf_putc(b, '\n');
    buf_puts(b, st->path_encoded);
    buf_putc(b, '\n');
    int first = 1;
    for (size_t i = 0; i < st->query_count; i++) {
        const query_param *q = &st->query[i];
        if (st->presigned && q->name_len == 15 && memcmp(q->name, "X-Amz-Signature", 15) == 0)
            continue;
        if (!first)
            buf_putc(b, '&');
        first = 0;
        buf_puts(b, q->enc_name);
        buf_putc(b, '=');
        buf_puts(b, q->enc_value);
    }
    buf_putc(b, '\n');
    for (size_t i = 0; i < st->signed_count; i++) {
        const char *value = in->header(in->header_ctx, st->signed_names[i]);
        if (!value)
            return malformed(out, st->presigned,
                             "SignedHeaders names \"%s\", which the request does not have",
                             st->signed_names[i]);
        buf_puts(b, st->signed_names[i]);
        buf_putc(b, ':');
        put_header_value(b, value);
        buf_putc(b, '\n');
    }
    buf_putc(b, '\n');
    buf_puts(b, st->signed_list);
    buf_putc(b, '\n');
    buf_puts(b, st->payload_line);
    if (b->failed)
        return refuse(out, 400, "RequestHeaderSectionTooLarge",
                      "The canonical request of this request passes "
                      "the %d bytes accepted: its signed headers are too large",
                      S3_AUTH_MAX_CANONICAL_BYTES);
    return 0;
}

/* The string to sign for the canonical request, into st->sts, and its signature under key. */
static int sign_canonical(verify_state *st, const char *amz_date, const char *scope,
                          const unsigned char key[32], char signature[65], s3_auth_result *out)
{
    char hash[65];
    sigv4_sha256_hex(buf_str(&st->canonical), st->canonical.len, hash);
    buf_puts(&st->sts, ALGORITHM "\n");
    buf_puts(&st->sts, amz_date);
    buf_putc(&st->sts, '\n');
    buf_puts(&st->sts, scope);
    buf_putc(&st->sts, '\n');
    buf_puts(&st->sts, hash);
    if (st->sts.failed)
        return refuse(out, 400, "InvalidArgument",
                      "The string to sign passes its cap: the scope is too long");
    if (sigv4_hmac_hex(key, st->sts.data, st->sts.len, signature) != 0)
        return refuse(out, 500, "InternalError", "HMAC-SHA256 failed in OpenSSL: %s", floe_last_error());
    return 0;
}

/* Every check, in the order of invariant 3; on success fills out. */
static int check_request(const s3_auth_input *in, const s3_auth_key *keys, size_t n_keys, verify_state *st,
                         s3_auth_result *out)
{
    const char *authorization = NULL;
    size_t key = 0;
    char signature[65];
    if (parse_query(in, st, out) != 0 || choose_form(in, st, &authorization, out) != 0)
        return -1;
    if (st->presigned ? parse_presigned(st, out) : parse_authorization_header(authorization, st, out))
        return -1;
    if (!st->presigned && header_request_time(in, st, out) != 0)
        return -1;
    if (check_scope(in, st, out) != 0 || check_time_window(in, st, out) != 0 ||
        check_payload(in, st, out) != 0 || find_key(st, keys, n_keys, &key, out) != 0 ||
        check_signed_headers(in, st, out) != 0 || build_canonical(in, st, out) != 0)
        return -1;
    snprintf(out->scope, sizeof out->scope, "%s/%s/%s/%s", st->f.day, st->f.region, SERVICE, TERMINAL);
    if (sigv4_signing_key(keys[key].secret_key, st->f.day, st->f.region, SERVICE, st->signing_key) != 0)
        return refuse(out, 500, "InternalError", "Deriving the signing key failed: %s", floe_last_error());
    if (sign_canonical(st, st->f.amz_date, out->scope, st->signing_key, signature, out) != 0)
        return -1;
    if (CRYPTO_memcmp(signature, st->f.signature, 64) != 0 || !st->f.signature_is_hex)
        return refuse(out, 403, "SignatureDoesNotMatch",
                      "The request signature we calculated does not match the "
                      "signature you provided. Check your key and signing method.%s",
                      st->f.signature_is_hex ? "" : " (The signature sent is not 64 hex digits.)");
    out->key_index = key;
    out->presigned = st->presigned;
    memcpy(out->signing_key, st->signing_key, sizeof out->signing_key);
    memcpy(out->seed_signature, signature, sizeof out->seed_signature);
    memcpy(out->amz_date, st->f.amz_date, sizeof out->amz_date);
    return 0;
}

/* A zeroed verify_state with its strings' caps set; NULL (and out filled) without memory. */
static verify_state *state_new(s3_auth_result *out)
{
    verify_state *st = calloc(1, sizeof *st);
    if (!st) {
        refuse(out, 500, "InternalError", "Out of memory verifying the request's signature");
        return NULL;
    }
    buf_init(&st->canonical, S3_AUTH_MAX_CANONICAL_BYTES);
    buf_init(&st->sts, 512);
    return st;
}

static void state_free(verify_state *st)
{
    if (!st)
        return;
    OPENSSL_cleanse(st->signing_key, sizeof st->signing_key);
    buf_free(&st->canonical);
    buf_free(&st->sts);
    free(st);
}

int s3_auth_verify(const s3_auth_input *in, const s3_auth_key *keys, size_t n_keys, s3_auth_result *out)
{
    int rc = -1;
    verify_state *st = NULL;
    memset(out, 0, sizeof *out);
    if (!in || !in->header || !in->method || !in->region || (n_keys && !keys)) {
        refuse(out, 500, "InternalError",
               "s3_auth_verify: the request needs a method, a header function and "
               "a region");
        goto out;
    }
    if (!(st = state_new(out)))
        goto out;
    rc = check_request(in, keys, n_keys, st, out);
out:
    state_free(st);
    return rc;
}

/* Copies the text of b into dst (cap bytes) if dst is not NULL: 0, or -1 if it does not fit. */
static int copy_out(const buf_t *b, char *dst, size_t cap)
{
    if (!dst)
        return 0;
    if (b->len + 1 > cap)
        return -1;
    memcpy(dst, buf_str(b), b->len + 1);
    return 0;
}

int s3_auth_sign(const s3_auth_input *in, const char *signed_headers, const char *payload_hash, int presigned,
                 const char *amz_date, const char *scope, const unsigned char signing_key[32],
                 char *canonical, size_t canonical_cap, char *string_to_sign, size_t sts_cap,
                 char signature[65], s3_auth_result *err)
{
    int rc = -1;
    verify_state *st = NULL;
    memset(err, 0, sizeof *err);
    if (!(st = state_new(err)))
        goto out;
    st->presigned = presigned;
    st->payload_line = payload_hash;
    if (parse_query(in, st, err) != 0 ||
        split_signed_headers(signed_headers, strlen(signed_headers), st, err) != 0 ||
        build_canonical(in, st, err) != 0 ||
        sign_canonical(st, amz_date, scope, signing_key, signature, err) != 0)
        goto out;
    if (copy_out(&st->canonical, canonical, canonical_cap) != 0 ||
        copy_out(&st->sts, string_to_sign, sts_cap) != 0) {
        refuse(err, 400, "InvalidArgument", "s3_auth_sign: an output buffer is too small");
        goto out;
    }
    rc = 0;
out:
    state_free(st);
    return rc;
}
