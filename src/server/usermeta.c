/* User metadata of an object over HTTP: x-floe-meta-<name> request headers into the blob the store
 * keeps (floe_object_meta.user_meta), and the blob back into headers (http_parse.h; the encoding is
 * in docs/http-api.md, "User metadata").
 *
 * Invariants:
 * 1. A blob made here is a sequence of pairs <name> NUL <value> NUL: name 1 or more lower-case token
 *    characters (RFC 9110 section 5.6.2), value 1 or more bytes without control characters (tab
 *    allowed), no name twice, the whole at most the caller's cap.
 * 2. Reading trusts nothing: a blob written through the library by another program is read pair by
 *    pair, and reading stops at the first pair that breaks invariant 1, so no byte that HTTP cannot
 *    carry in a header ever reaches one.
 */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "http_parse.h"

static int is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return 1;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* A value byte HTTP can carry in a field: visible ASCII, space, tab, or obs-text (0x80..0xff). */
static int is_value_byte(unsigned char ch)
{
    return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

static int valid_value(const char *v, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_value_byte((unsigned char)v[i]))
            return 0;
    return 1;
}

/* 1 if the blob already has a pair named name (lower case, n bytes). */
static int has_name(const unsigned char *buf, size_t len, const char *name, size_t n)
{
    size_t pos = 0;
    const char *k, *v;
    while (http_meta_next(buf, len, &pos, &k, &v))
        if (strlen(k) == n && memcmp(k, name, n) == 0)
            return 1;
    return 0;
}

enum http_meta_result http_meta_add(unsigned char *buf, size_t cap, size_t *len, const char *name,
                                    const char *value)
{
    size_t plen = sizeof HTTP_META_PREFIX - 1;
    if (strncasecmp(name, HTTP_META_PREFIX, plen) != 0)
        return HTTP_META_NOT_META;
    const char *n = name + plen;
    size_t nl = strlen(n), vl = value ? strlen(value) : 0;
    if (nl == 0)
        return HTTP_META_BAD_NAME;
    for (size_t i = 0; i < nl; i++)
        if (!is_tchar((unsigned char)n[i]))
            return HTTP_META_BAD_NAME;
    if (!value || !valid_value(value, vl))
        return HTTP_META_BAD_VALUE;
    if (*len > cap || nl + 1 + vl + 1 > cap - *len)
        return HTTP_META_TOO_LARGE;
    unsigned char *at = buf + *len;
    for (size_t i = 0; i < nl; i++) {
        unsigned char ch = (unsigned char)n[i];
        at[i] = ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch - 'A' + 'a') : ch;
    }
    if (has_name(buf, *len, (const char *)at, nl))
        return HTTP_META_REPEATED;
    at[nl] = '\0';
    memcpy(at + nl + 1, value, vl);
    at[nl + 1 + vl] = '\0';
    *len += nl + 1 + vl + 1;
    return HTTP_META_ADDED;
}

int http_meta_next(const unsigned char *blob, size_t len, size_t *pos, const char **name, const char **value)
{
    if (!blob || *pos >= len)
        return 0;
    const unsigned char *p = blob + *pos, *end = blob + len;
    const unsigned char *nul = memchr(p, '\0', (size_t)(end - p));
    if (!nul || nul == p)
        goto bad;
    for (const unsigned char *q = p; q < nul; q++)
        if (!is_tchar(*q) || (*q >= 'A' && *q <= 'Z'))
            goto bad;
    const unsigned char *v = nul + 1;
    const unsigned char *vnul = v < end ? memchr(v, '\0', (size_t)(end - v)) : NULL;
    if (!vnul || !valid_value((const char *)v, (size_t)(vnul - v)))
        goto bad;
    *name = (const char *)p;
    *value = (const char *)v;
    *pos = (size_t)(vnul + 1 - blob);
    return 1;
bad:
    *pos = len;
    return 0;
}
