/* Error codes, their names and the per-thread detailed message.
 *
 * Invariants:
 *  1. The message is thread-local: a failure on one thread never changes what floe_last_error()
 *     says on another.
 *  2. A message is replaced whole: err_set and err_wrap format into a local buffer first, so their
 *     arguments may quote the current message, and a message longer than the buffer is cut, never
 *     overrun. (A format with no conversion is copied as it is, cut the same way; memmove, since it
 *     may be the current message itself.)
 *  3. floe_strerror never returns NULL, whatever the code. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERR_MSG_BYTES 1024

static _Thread_local char err_msg[ERR_MSG_BYTES];

/* Formats into a local buffer and only then replaces the message, so the arguments may include
 * floe_last_error() itself (err_set(rc, "x: %s", floe_last_error()) gives "x: <previous>"). */
static void set_message_v(const char *fmt, va_list ap)
{
    char msg[ERR_MSG_BYTES];
    vsnprintf(msg, sizeof msg, fmt, ap);
    memcpy(err_msg, msg, strlen(msg) + 1);
}

int err_set(int code, const char *fmt, ...)
{
    if (!strchr(fmt, '%')) {
        /* Nothing to format (e.g. "key not found", set by every missing-key get): copy it, cut at
         * the buffer's end like vsnprintf would. vsnprintf costs a missing-key get about a tenth
         * of its time. */
        size_t n = strlen(fmt);
        if (n > sizeof err_msg - 1)
            n = sizeof err_msg - 1;
        memmove(err_msg, fmt, n);
        err_msg[n] = '\0';
        return code;
    }
    va_list ap;
    va_start(ap, fmt);
    set_message_v(fmt, ap);
    va_end(ap);
    return code;
}

int err_wrap(int code, const char *fmt, ...)
{
    char old[ERR_MSG_BYTES];
    /* Keep the current message before the prefix, which may quote it, replaces it. */
    memcpy(old, err_msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    set_message_v(fmt, ap);
    va_end(ap);
    /* Build "prefix: old" by hand: the result is cut at the buffer's end on purpose. */
    size_t n = strlen(err_msg);
    if (old[0] && n + 2 < sizeof err_msg) {
        memcpy(err_msg + n, ": ", 3);
        n += 2;
        size_t rest = strlen(old);
        if (rest > sizeof err_msg - 1 - n)
            rest = sizeof err_msg - 1 - n;
        memcpy(err_msg + n, old, rest);
        err_msg[n + rest] = '\0';
    }
    return code;
}

void err_clear(void)
{
    err_msg[0] = '\0';
}

const char *floe_last_error(void)
{
    return err_msg;
}

const char *floe_strerror(int err)
{
    switch (err) {
    case FLOE_OK:
        return "success";
    case FLOE_EINVAL:
        return "invalid argument";
    case FLOE_ENOTFOUND:
        return "not found";
    case FLOE_EIO:
        return "I/O error";
    case FLOE_ECORRUPT:
        return "data corruption detected";
    case FLOE_ENOMEM:
        return "out of memory";
    case FLOE_ELOCKED:
        return "data directory is locked by another process";
    case FLOE_EKEY:
        return "key is empty or too long";
    case FLOE_ETOOBIG:
        return "value is too large";
    case FLOE_EREADONLY:
        return "store is read-only after a write error";
    case FLOE_EBEHIND:
        return "behind: too much data waits for upload or compaction";
    case FLOE_EFENCED:
        return "fenced: a newer writer owns this bucket prefix";
    case FLOE_ECOLD:
        return "cold tier error";
    case FLOE_ETIMEDOUT:
        return "timed out";
    case FLOE_ECLOSED:
        return "store is closing";
    case FLOE_ERANGE:
        return "range not satisfiable";
    default:
        return "unknown error";
    }
}
