/* The capped growable buffer (see buf.h).
 *
 * Invariants:
 * 1. len <= max and, once data is allocated, len < cap <= max + 1 and data[len] == '\0'.
 * 2. max < SIZE_MAX, so len + extra + 1 never overflows once extra <= max - len is checked.
 * 3. A failed buffer is never written to: what it holds is what the successful calls appended.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"

/* The first allocation: enough for most small documents without a second realloc. */
#define BUF_FIRST_BYTES 256

void buf_init(buf_t *b, size_t max_bytes)
{
    memset(b, 0, sizeof *b);
    b->max = max_bytes < SIZE_MAX ? max_bytes : SIZE_MAX - 1;
}

/* Records the first failure, whose message the caller has just set, and returns it. */
static int fail(buf_t *b, int code)
{
    b->failed = code;
    return code;
}

int buf_reserve(buf_t *b, size_t extra)
{
    if (b->failed)
        return b->failed;
    if (extra > b->max - b->len)
        return fail(b,
                    err_set(FLOE_ETOOBIG, "buffer: %zu more bytes after %zu would pass its cap of %zu bytes",
                            extra, b->len, b->max));
    size_t need = b->len + extra + 1;
    int rc = array_grow(&b->data, &b->cap, need, 1, BUF_FIRST_BYTES, b->max + 1);
    if (rc != 0)
        return fail(b, err_set(FLOE_ENOMEM, "buffer: out of memory growing to %zu bytes", need));
    b->data[b->len] = '\0';
    return 0;
}

int buf_append(buf_t *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc != 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_putc(buf_t *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_printf(buf_t *b, const char *fmt, ...)
{
    if (b->failed)
        return b->failed;
    /* Try the room already allocated first: most lines fit, and then one pass suffices. */
    size_t room = b->data ? b->cap - b->len : 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        if (b->data)
            b->data[b->len] = '\0';
        return fail(b, err_set(FLOE_EINVAL, "buffer: printf format '%.40s' cannot be rendered", fmt));
    }
    if ((size_t)n >= room) {
        if (b->data)
            b->data[b->len] = '\0'; /* vsnprintf wrote a cut-off copy there */
        int rc = buf_reserve(b, (size_t)n);
        if (rc != 0)
            return rc;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return 0;
}

const char *buf_str(const buf_t *b)
{
    return b->data ? b->data : "";
}

char *buf_take(buf_t *b, size_t *len)
{
    char *p = NULL;
    size_t n = 0;
    if (!b->failed) {
        p = b->data;
        n = b->len;
        b->data = NULL;
        if (!p && !(p = calloc(1, 1)))
            err_set(FLOE_ENOMEM, "buffer: out of memory for an empty string");
    }
    if (len)
        *len = p ? n : 0;
    buf_free(b);
    return p;
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data)
        b->data[0] = '\0';
}

void buf_free(buf_t *b)
{
    size_t max = b->max;
    free(b->data);
    memset(b, 0, sizeof *b);
    b->max = max;
}
