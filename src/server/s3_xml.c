/* The S3 API's request bodies and the escaping of answers' text (see s3_xml.h).
 *
 * Invariants:
 * 1. A parser reads only through xml_parse, so its limits (no DOCTYPE, depth, path and text caps)
 *    hold for every body; a parser's element callback sees an element's children before it.
 * 2. A callback that finds the body wrong records code and message once, in its parse_state, and
 *    returns PARSE_STOP; nothing runs after that, and the parser frees what it built.
 * 3. An output parameter is written only after the whole body has parsed: a failed parse leaves
 *    the caller's variables as they were.
 * 4. Every stored text is bounded before it is copied: an ETag below S3_XML_ETAG_MAX, a checksum
 *    below S3_CHECKSUM_B64_MAX, a key at most S3_XML_MAX_KEY_BYTES, a location below its cap; the
 *    numbers of parts and objects stop at S3_XML_MAX_PARTS and S3_XML_MAX_DELETE_OBJECTS. */
#include "s3_xml.h"

#include "array.h"
#include "error.h"
#include "xml.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PARSE_STOP 1 /* a callback's "the body is wrong, the state says why" */

/* S3's codes and the first words of its messages for them. */
#define MALFORMED "MalformedXML"
#define MALFORMED_MSG                                                                                        \
    "The XML you provided was not well-formed or did not validate against our published schema"
#define INTERNAL "InternalError"
#define INTERNAL_MSG "We encountered an internal error. Please try again."

/* What every parser shares: the root element's name and where a failure goes. */
typedef struct parse_state {
    const char *root;
    int root_seen;
    const char *code;
    char *msg;
    size_t msg_cap;
} parse_state;

/* Records the failure (code, and a message formatted from fmt) and returns PARSE_STOP. */
static int fail(parse_state *ps, const char *code, const char *fmt, ...) FLOE_PRINTF(3, 4);
static int fail(parse_state *ps, const char *code, const char *fmt, ...)
{
    ps->code = code;
    if (ps->msg_cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->msg, ps->msg_cap, fmt, ap);
        va_end(ap);
    }
    return PARSE_STOP;
}

/* The path below the root ("" for the root itself), or NULL with a failure recorded if path is
 * not inside the expected root. */
static const char *below_root(parse_state *ps, const char *path)
{
    size_t n = strlen(ps->root);
    if (strncmp(path, ps->root, n) == 0 && (path[n] == '\0' || path[n] == '/'))
        return path[n] ? path + n + 1 : path + n;
    size_t root_len = strcspn(path, "/");
    fail(ps, MALFORMED, MALFORMED_MSG ": the root element is <%.*s>, not <%s>",
         (int)(root_len > 64 ? 64 : root_len), path, ps->root);
    return NULL;
}

/* Runs xml_parse with fn over the body and turns what went wrong into an S3 error: 0, or -1 with
 * ps's code and message set. */
static int parse_body(parse_state *ps, const void *body, size_t len, xml_element_fn fn, void *ctx)
{
    char what[64];
    snprintf(what, sizeof what, "%s body", ps->root);
    int rc = len == 0 ? -1 : xml_parse(body, len, what, fn, ctx);
    if (len == 0)
        fail(ps, MALFORMED, MALFORMED_MSG ": the body is empty, and must be a <%s>", ps->root);
    else if (rc == FLOE_ENOMEM)
        fail(ps, INTERNAL, INTERNAL_MSG " (out of memory parsing the %s body)", ps->root);
    else if (rc < 0)
        fail(ps, MALFORMED, MALFORMED_MSG ": %s", floe_last_error());
    else if (rc == 0 && !ps->root_seen) /* cannot happen: a well-formed document has a root */
        rc = fail(ps, MALFORMED, MALFORMED_MSG ": no <%s> element", ps->root);
    return rc == 0 ? 0 : -1;
}

static int is_xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Narrows text/len to the text without XML whitespace around it. */
static void trim(const char **text, size_t *len)
{
    while (*len && is_xml_space(**text))
        (*text)++, (*len)--;
    while (*len && is_xml_space((*text)[*len - 1]))
        (*len)--;
}

/* CompleteMultipartUpload */

enum {
    SEEN_PART_NUMBER = 1u << S3_CK_COUNT, /* bits 0 to S3_CK_COUNT-1: Checksum<ALGO> */
    SEEN_ETAG = 2u << S3_CK_COUNT,
};

typedef struct complete_ctx {
    parse_state ps;
    s3_complete_part *parts;
    size_t n, cap;
    s3_complete_part cur; /* the Part whose children are being read */
    unsigned seen;        /* which of cur's children have been */
} complete_ctx;

/* Reads a PartNumber: MalformedXML unless an integer ([+-]digits), InvalidArgument outside 1 to
 * S3_XML_MAX_PARTS. */
static int complete_part_number(complete_ctx *c, const char *text, size_t len)
{
    trim(&text, &len);
    size_t i = len && (text[0] == '+' || text[0] == '-') ? 1 : 0;
    int negative = i && text[0] == '-';
    if (i == len)
        return fail(&c->ps, MALFORMED, MALFORMED_MSG ": part %zu's PartNumber is not an integer", c->n + 1);
    uint32_t v = 0;
    for (; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return fail(&c->ps, MALFORMED, MALFORMED_MSG ": part %zu's PartNumber \"%.*s\" is not an integer",
                        c->n + 1, (int)(len > 32 ? 32 : len), text);
        if (v <= S3_XML_MAX_PARTS)
            v = v * 10 + (uint32_t)(text[i] - '0');
    }
    if (negative || v < 1 || v > S3_XML_MAX_PARTS)
        return fail(&c->ps, "InvalidArgument",
                    "Part number must be an integer between 1 and %d, inclusive (part %zu's is %.*s)",
                    S3_XML_MAX_PARTS, c->n + 1, (int)(len > 32 ? 32 : len), text);
    c->cur.part_number = v;
    return 0;
}

static int complete_etag(complete_ctx *c, const char *text, size_t len)
{
    trim(&text, &len);
    if (len >= 2 && text[0] == '"' && text[len - 1] == '"')
        text++, len -= 2;
    if (len >= S3_XML_ETAG_MAX)
        return fail(
            &c->ps, "InvalidPart",
            "One or more of the specified parts could not be found. The part may not have been uploaded, "
            "or the specified entity tag may not match the part's entity tag (part %zu's ETag is %zu "
            "bytes long)",
            c->n + 1, len);
    memcpy(c->cur.etag, text, len);
    c->cur.etag[len] = '\0';
    return 0;
}

static int complete_checksum(complete_ctx *c, enum s3_checksum_algo a, const char *text, size_t len)
{
    uint8_t raw[S3_CHECKSUM_MAX_BYTES];
    size_t got = 0;
    trim(&text, &len);
    if (s3_base64_decode(text, len, raw, sizeof raw, &got) != 0 || got != s3_checksum_digest_bytes(a))
        return fail(&c->ps, "InvalidArgument", "Part %zu's %s is not the base64 of a %zu-byte %s checksum",
                    c->n + 1, s3_checksum_element(a), s3_checksum_digest_bytes(a), s3_checksum_name(a));
    memcpy(c->cur.checksum[a], text, len); /* len < S3_CHECKSUM_B64_MAX: it decoded to a digest */
    c->cur.checksum[a][len] = '\0';
    return 0;
}

/* A Part ended: it needs its PartNumber and ETag, and joins the list. */
static int complete_part_end(complete_ctx *c)
{
    if (!(c->seen & SEEN_PART_NUMBER) || !(c->seen & SEEN_ETAG))
        return fail(&c->ps, MALFORMED, MALFORMED_MSG ": part %zu has no %s", c->n + 1,
                    c->seen & SEEN_PART_NUMBER ? "ETag" : "PartNumber");
    if (c->n == S3_XML_MAX_PARTS)
        return fail(&c->ps, MALFORMED, MALFORMED_MSG ": more than %d parts", S3_XML_MAX_PARTS);
    if (array_grow(&c->parts, &c->cap, c->n + 1, sizeof *c->parts, 16, S3_XML_MAX_PARTS) != 0)
        return fail(&c->ps, INTERNAL, INTERNAL_MSG " (out of memory for %zu parts)", c->n + 1);
    c->parts[c->n++] = c->cur;
    memset(&c->cur, 0, sizeof c->cur);
    c->seen = 0;
    return 0;
}

/* Marks child bit of the current Part seen; MalformedXML if it was already. */
static int complete_once(complete_ctx *c, unsigned bit, const char *name)
{
    if (c->seen & bit)
        return fail(&c->ps, MALFORMED, MALFORMED_MSG ": part %zu has two %s elements", c->n + 1, name);
    c->seen |= bit;
    return 0;
}

static int complete_element(void *ctx, const char *path, const char *text, size_t len)
{
    complete_ctx *c = ctx;
    const char *p = below_root(&c->ps, path);
    if (!p)
        return PARSE_STOP;
    if (*p == '\0') {
        c->ps.root_seen = 1;
        return 0;
    }
    if (strcmp(p, "Part") == 0)
        return complete_part_end(c);
    if (strncmp(p, "Part/", 5) != 0)
        return 0;
    p += 5;
    if (strcmp(p, "PartNumber") == 0)
        return complete_once(c, SEEN_PART_NUMBER, p) ? PARSE_STOP : complete_part_number(c, text, len);
    if (strcmp(p, "ETag") == 0)
        return complete_once(c, SEEN_ETAG, p) ? PARSE_STOP : complete_etag(c, text, len);
    for (int a = 0; a < S3_CK_COUNT; a++)
        if (strcmp(p, s3_checksum_element((enum s3_checksum_algo)a)) == 0)
            return complete_once(c, 1u << a, p) ? PARSE_STOP
                                                : complete_checksum(c, (enum s3_checksum_algo)a, text, len);
    return 0;
}

int s3_xml_parse_complete(const void *body, size_t len, s3_complete_part **parts, size_t *n_parts,
                          const char **code, char *msg, size_t msg_cap)
{
    complete_ctx c = {.ps = {.root = "CompleteMultipartUpload", .msg = msg, .msg_cap = msg_cap}};
    int rc = parse_body(&c.ps, body, len, complete_element, &c);
    if (rc == 0 && c.n == 0) {
        fail(&c.ps, MALFORMED, MALFORMED_MSG ": a CompleteMultipartUpload needs at least one Part");
        rc = -1;
    }
    if (rc != 0) {
        free(c.parts);
        *code = c.ps.code;
        return -1;
    }
    *parts = c.parts;
    *n_parts = c.n;
    return 0;
}

/* DeleteObjects */

typedef struct delete_ctx {
    parse_state ps;
    s3_delete_request req;
    size_t keys_cap, lens_cap, vids_cap;
    int quiet_seen;
    /* the Object whose children are being read */
    char *key, *version_id;
    size_t key_len;
    int key_seen;
} delete_ctx;

static char *copy_text(const char *text, size_t len)
{
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, text, len);
        s[len] = '\0';
    }
    return s;
}

static int delete_key(delete_ctx *d, const char *text, size_t len)
{
    if (d->key_seen)
        return fail(&d->ps, MALFORMED, MALFORMED_MSG ": object %zu has two Key elements", d->req.n + 1);
    if (len > S3_XML_MAX_KEY_BYTES)
        return fail(&d->ps, "KeyTooLongError",
                    "Your key is too long (object %zu's key is %zu bytes, at most %d)", d->req.n + 1, len,
                    S3_XML_MAX_KEY_BYTES);
    if (!(d->key = copy_text(text, len)))
        return fail(&d->ps, INTERNAL, INTERNAL_MSG " (out of memory for a key)");
    d->key_len = len;
    d->key_seen = 1;
    return 0;
}

static int delete_version_id(delete_ctx *d, const char *text, size_t len)
{
    if (d->version_id)
        return fail(&d->ps, MALFORMED, MALFORMED_MSG ": object %zu has two VersionId elements", d->req.n + 1);
    if (!(d->version_id = copy_text(text, len)))
        return fail(&d->ps, INTERNAL, INTERNAL_MSG " (out of memory for a version id)");
    return 0;
}

/* An Object ended: it needs its Key, and joins the request. */
static int delete_object_end(delete_ctx *d)
{
    s3_delete_request *r = &d->req;
    if (!d->key_seen)
        return fail(&d->ps, MALFORMED, MALFORMED_MSG ": object %zu has no Key", r->n + 1);
    if (r->n == S3_XML_MAX_DELETE_OBJECTS)
        return fail(&d->ps, MALFORMED, MALFORMED_MSG ": more than %d objects", S3_XML_MAX_DELETE_OBJECTS);
    size_t need = r->n + 1, max = S3_XML_MAX_DELETE_OBJECTS;
    if (array_grow(&r->keys, &d->keys_cap, need, sizeof *r->keys, 16, max) != 0 ||
        array_grow(&r->key_lens, &d->lens_cap, need, sizeof *r->key_lens, 16, max) != 0 ||
        array_grow(&r->version_ids, &d->vids_cap, need, sizeof *r->version_ids, 16, max) != 0)
        return fail(&d->ps, INTERNAL, INTERNAL_MSG " (out of memory for %zu objects)", need);
    r->keys[r->n] = d->key;
    r->key_lens[r->n] = d->key_len;
    r->version_ids[r->n] = d->version_id;
    r->n++;
    d->key = d->version_id = NULL;
    d->key_len = 0;
    d->key_seen = 0;
    return 0;
}

static int delete_quiet(delete_ctx *d, const char *text, size_t len)
{
    if (d->quiet_seen)
        return fail(&d->ps, MALFORMED, MALFORMED_MSG ": two Quiet elements");
    d->quiet_seen = 1;
    trim(&text, &len);
    if ((len == 4 && strncasecmp(text, "true", 4) == 0) || (len == 1 && text[0] == '1'))
        d->req.quiet = 1;
    else if ((len == 5 && strncasecmp(text, "false", 5) == 0) || (len == 1 && text[0] == '0'))
        d->req.quiet = 0;
    else
        return fail(&d->ps, MALFORMED, MALFORMED_MSG ": Quiet is \"%.*s\", not true or false",
                    (int)(len > 32 ? 32 : len), text);
    return 0;
}

static int delete_element(void *ctx, const char *path, const char *text, size_t len)
{
    delete_ctx *d = ctx;
    const char *p = below_root(&d->ps, path);
    if (!p)
        return PARSE_STOP;
    if (*p == '\0') {
        d->ps.root_seen = 1;
        return 0;
    }
    if (strcmp(p, "Object") == 0)
        return delete_object_end(d);
    if (strcmp(p, "Object/Key") == 0)
        return delete_key(d, text, len);
    if (strcmp(p, "Object/VersionId") == 0)
        return delete_version_id(d, text, len);
    if (strcmp(p, "Quiet") == 0)
        return delete_quiet(d, text, len);
    return 0;
}

void s3_delete_request_free(s3_delete_request *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->keys[i]);
        free(r->version_ids[i]);
    }
    free(r->keys);
    free(r->key_lens);
    free(r->version_ids);
    memset(r, 0, sizeof *r);
}

int s3_xml_parse_delete(const void *body, size_t len, s3_delete_request *out, const char **code, char *msg,
                        size_t msg_cap)
{
    delete_ctx d = {.ps = {.root = "Delete", .msg = msg, .msg_cap = msg_cap}};
    int rc = parse_body(&d.ps, body, len, delete_element, &d);
    if (rc == 0 && d.req.n == 0) {
        fail(&d.ps, MALFORMED, MALFORMED_MSG ": a Delete needs at least one Object");
        rc = -1;
    }
    if (rc != 0) {
        free(d.key);
        free(d.version_id);
        s3_delete_request_free(&d.req);
        *code = d.ps.code;
        return -1;
    }
    *out = d.req;
    return 0;
}

/* CreateBucket */

typedef struct create_bucket_ctx {
    parse_state ps;
    char *location;
    size_t cap;
    int location_seen;
} create_bucket_ctx;

static int create_bucket_element(void *ctx, const char *path, const char *text, size_t len)
{
    create_bucket_ctx *cb = ctx;
    const char *p = below_root(&cb->ps, path);
    if (!p)
        return PARSE_STOP;
    if (*p == '\0') {
        cb->ps.root_seen = 1;
        return 0;
    }
    if (strcmp(p, "LocationConstraint") != 0)
        return 0;
    if (cb->location_seen)
        return fail(&cb->ps, MALFORMED, MALFORMED_MSG ": two LocationConstraint elements");
    cb->location_seen = 1;
    trim(&text, &len);
    if (len >= cb->cap)
        return fail(&cb->ps, "InvalidLocationConstraint",
                    "The specified location-constraint is not valid (it is %zu bytes long)", len);
    memcpy(cb->location, text, len);
    cb->location[len] = '\0';
    return 0;
}

int s3_xml_parse_create_bucket(const void *body, size_t len, char *location, size_t cap, const char **code,
                               char *msg, size_t msg_cap)
{
    char found[S3_XML_LOCATION_MAX] = ""; /* so location stays untouched on failure */
    create_bucket_ctx cb = {
        .ps = {.root = "CreateBucketConfiguration", .msg = msg, .msg_cap = msg_cap},
        .location = found,
        .cap = cap < sizeof found ? cap : sizeof found,
    };
    const char *text = body;
    size_t n = len;
    trim(&text, &n);
    if (n > 0 && parse_body(&cb.ps, body, len, create_bucket_element, &cb) != 0) {
        *code = cb.ps.code;
        return -1;
    }
    if (cap == 0) /* nowhere to write even "": only an empty region could have fitted */
        return 0;
    memcpy(location, found, strlen(found) + 1);
    return 0;
}

/* Escaping */

/* The length of the well-formed UTF-8 sequence at s (n bytes available), or 0 if the bytes there
 * are not one: a bad lead or continuation byte, an overlong form, a surrogate, past U+10FFFF. */
static size_t utf8_char_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* the range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong below */
        if (c == 0xed)
            hi = 0x9f; /* surrogates above */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f; /* past U+10FFFF above */
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* 1 if the len-byte character at s is U+FFFE or U+FFFF, which XML 1.0's Char excludes. */
static int xml_noncharacter(const unsigned char *s, size_t len)
{
    return len == 3 && s[0] == 0xef && s[1] == 0xbf && (s[2] == 0xbe || s[2] == 0xbf);
}

void s3_xml_escape(buf_t *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0; /* bytes before i to copy as they are */
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        const char *rep = NULL;
        char ref[8];
        size_t step = 1;
        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        default:
            if (c < 0x20) {
                snprintf(ref, sizeof ref, "&#x%x;", c);
                rep = ref;
            } else if (c >= 0x80) {
                step = utf8_char_len(p + i, n - i);
                if (step == 0 || xml_noncharacter(p + i, step)) {
                    rep = "\xef\xbf\xbd"; /* U+FFFD */
                    step = step ? step : 1;
                }
            }
        }
        if (!rep) {
            run += step;
            i += step;
            continue;
        }
        buf_append(b, p + i - run, run);
        buf_puts(b, rep);
        run = 0;
        i += step;
    }
    buf_append(b, p + n - run, run);
}
