/* Error codes, their names and the per-thread detailed message. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERR_MSG_BYTES 1024

static _Thread_local char err_msg[ERR_MSG_BYTES];

int err_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    return code;
}

int err_wrap(int code, const char *fmt, ...)
{
    char prefix[ERR_MSG_BYTES];
    char old[ERR_MSG_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err_msg, sizeof old);
    /* Build "prefix: old" by hand: the result is cut at the buffer's end on purpose. */
    size_t n = strlen(prefix);
    memcpy(err_msg, prefix, n + 1);
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
        return "cold tier behind: too much data waits for upload";
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
