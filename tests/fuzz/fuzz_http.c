/* Fuzzes the HTTP server's readers of client bytes (src/server/http_parse.h, defined in http.c,
 * routes.c and precondition.c). Outside bytes: a request's URL path and query string and its
 * Authorization, Range, conditional (If-Match, If-None-Match, If-Modified-Since,
 * If-Unmodified-Since, If-Range), Content-Length, Transfer-Encoding, Expect and Content-Type
 * headers. The input is split at '\n' into those fields, in this order:
 *   key (raw, escapes intact) | Range | object length (decimal) | a conditional header's value |
 *   Authorization | Content-Length | Transfer-Encoding ("" = absent) | Expect ("" = absent) |
 *   Content-Type | query string (name=value pairs joined by '&', as MHD splits them)
 * and each piece goes through the function the server calls, the query through http_query_arg
 * for the list and flush routes, then as http_handle_list decodes prefix, start_after and limit.
 * The conditional value is read as an entity-tag list, an HTTP-date and an If-Range value, and
 * evaluated as each of the four preconditions, for a read and for a write.
 *
 * Asserts: no memory error or undefined behaviour; a decoded key is 1..FLOE_MAX_KEY_BYTES bytes,
 * NUL-terminated, with no NUL inside and no '.' or '..' segment, and equals the raw key when that
 * has no '%'; a satisfiable range has first <= last < length; a date read lies in years 0..9999; a
 * precondition that does not pass names its header, and If-None-Match alone never makes a read
 * 412; a bearer token lies inside its header; token access is none, read or write, and write
 * exactly for the write token; a body the server would read fits max_object_bytes, and one it
 * drops is over it, under the discard cap and sent without Expect; a valid Content-Type is 1..255
 * printable bytes; no query parameter is taken twice. */
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "floe.h"
#include "fuzz_common.h"
#include "http_internal.h"
#include "http_parse.h"

#define FIELDS 10
#define MAX_OBJECT_BYTES (1u << 20)

static const char WRITE_TOKEN[] = "write-token-0123";
static const char READ_TOKEN[] = "read-token";

static http_server *server(void)
{
    static http_server *s;
    if (!s) {
        s = calloc(1, sizeof *s);
        FUZZ_CHECK(s != NULL);
        SHA256((const unsigned char *)WRITE_TOKEN, strlen(WRITE_TOKEN), s->token_digest[0]);
        s->token_access[0] = CONFIG_ACCESS_WRITE;
        SHA256((const unsigned char *)READ_TOKEN, strlen(READ_TOKEN), s->token_digest[1]);
        s->token_access[1] = CONFIG_ACCESS_READ;
        s->token_count = 2;
    }
    return s;
}

static void check_key(const char *raw)
{
    char key[FLOE_MAX_KEY_BYTES + 1];
    size_t len = 0;
    if (http_key_decode(raw, key, &len) != HTTP_KEY_OK)
        return;
    FUZZ_CHECK(len >= 1 && len <= FLOE_MAX_KEY_BYTES && key[len] == '\0' && strlen(key) == len);
    FUZZ_CHECK(strcmp(key, ".") != 0 && strcmp(key, "..") != 0 && !strstr(key, "/./") &&
               !strstr(key, "/../"));
    if (!strchr(raw, '%'))
        FUZZ_CHECK(strcmp(raw, key) == 0);
}

static void check_range(const char *range, const char *len_text)
{
    uint64_t len = 0, first = 0, last = 0;
    if (http_parse_u64(len_text, &len) != 0)
        len = strlen(len_text);
    const char *h = range[0] ? range : NULL;
    if (http_parse_range(h, len, &first, &last) == RANGE_OK)
        FUZZ_CHECK(first <= last && last < len);
}

static void check_conditions(const char *value)
{
    const char *etag = "\"2a\"";
    (void)http_etag_list_match(value, etag, 0);
    (void)http_etag_list_match(value, NULL, 1);
    (void)http_if_range_allows(value, etag);
    int64_t t = 0;
    if (http_parse_date(value, 1796083200, &t) == 0)
        FUZZ_CHECK(t >= -62167219200 && t <= 253402300860);
    for (int slot = 0; slot < 4; slot++)
        for (int read = 0; read < 2; read++) {
            struct http_conditions h = {0};
            const char **slots[4] = {&h.if_match, &h.if_none_match, &h.if_modified_since,
                                     &h.if_unmodified_since};
            *slots[slot] = value;
            const char *by = NULL;
            enum http_precondition pc =
                http_preconditions_evaluate(&h, slot & 1 ? etag : NULL, 784111777, read, 1796083200, &by);
            FUZZ_CHECK(pc == HTTP_PRECONDITION_PASS || by != NULL);
            if (slot == 1 && read)
                FUZZ_CHECK(pc != HTTP_PRECONDITION_FAILED);
        }
}

static void check_auth(const char *authorization)
{
    const char *tok = NULL;
    size_t n = 0;
    if (!http_bearer_token(authorization, &tok, &n))
        return;
    FUZZ_CHECK(tok >= authorization && tok + n == authorization + strlen(authorization));
    int access = http_token_access(server(), tok, n);
    FUZZ_CHECK(access == 0 || access == CONFIG_ACCESS_READ || access == CONFIG_ACCESS_WRITE);
    FUZZ_CHECK((access == CONFIG_ACCESS_WRITE) ==
               (n == strlen(WRITE_TOKEN) && memcmp(tok, WRITE_TOKEN, n) == 0));
}

static void check_put(const char *cl, const char *te, const char *expect, const char *ct)
{
    uint64_t len = 0;
    const char *expect_or_null = expect[0] ? expect : NULL;
    enum http_put_length r =
        http_put_length_check(cl, te[0] ? te : NULL, expect_or_null, MAX_OBJECT_BYTES, &len);
    if (r == HTTP_PUT_LENGTH_OK)
        FUZZ_CHECK(len <= MAX_OBJECT_BYTES);
    if (r == HTTP_PUT_LENGTH_DISCARD)
        FUZZ_CHECK(len > MAX_OBJECT_BYTES && len <= HTTP_MAX_DISCARDED_BODY_BYTES && !expect_or_null);
    if (http_content_type_valid(ct)) {
        size_t n = strlen(ct);
        FUZZ_CHECK(n >= 1 && n <= FLOE_MAX_CONTENT_TYPE_BYTES);
    }
}

/* Splits query at '&' and '=' (in place) as MHD does and feeds the pairs to http_query_arg. */
static void collect(char *query, struct query_ctx *q)
{
    char *save = NULL;
    for (char *pair = strtok_r(query, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        if (eq)
            *eq = '\0';
        if (!http_query_arg(q, pair, eq ? eq + 1 : NULL))
            break;
    }
    for (int i = 0; i < 4; i++)
        FUZZ_CHECK(q->present[i] == 0 || q->present[i] == 1);
}

static void check_query(const char *query)
{
    static const char *const list_known[] = {"prefix", "start_after", "limit", NULL};
    static const char *const flush_known[] = {"wait", NULL};
    char *copy = strdup(query);
    FUZZ_CHECK(copy != NULL);
    struct query_ctx q = {.known = list_known};
    collect(copy, &q);
    if (!q.bad) {
        char buf[FLOE_MAX_KEY_BYTES + 1];
        for (int i = 0; i < 2; i++) {
            if (q.present[i]) {
                long n = http_pct_decode(q.values[i], strlen(q.values[i]), buf, FLOE_MAX_KEY_BYTES);
                FUZZ_CHECK(n >= -3 && n <= FLOE_MAX_KEY_BYTES);
            }
        }
        uint64_t limit = 0;
        if (q.present[2])
            (void)http_parse_u64(q.values[2], &limit);
    } else {
        /* what the 400 answer quotes */
        char name[64];
        long n = http_pct_decode(q.bad, strnlen(q.bad, 60), name, sizeof name - 1);
        name[n > 0 ? n : 0] = '\0';
    }
    free(copy);
    copy = strdup(query);
    FUZZ_CHECK(copy != NULL);
    struct query_ctx f = {.known = flush_known};
    collect(copy, &f);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (64u << 10))
        return 0;
    /* NUL-terminated fields: MHD hands the server NUL-terminated strings, so a NUL ends a field */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    const char *field[FIELDS];
    char *p = text;
    for (int i = 0; i < FIELDS; i++) {
        field[i] = p;
        char *nl = strchr(p, '\n');
        if (nl && i < FIELDS - 1) {
            *nl = '\0';
            p = nl + 1;
        } else {
            p += strlen(p);
        }
    }
    check_key(field[0]);
    check_range(field[1], field[2]);
    check_conditions(field[3]);
    check_auth(field[4]);
    check_put(field[5], field[6], field[7], field[8]);
    check_query(field[9]);
    free(text);
    return 0;
}
