/* Error reporting shared by every module: a negative FLOE_E* code plus a thread-local message that
 * names what failed. floe_last_error() in floe.h reads the message. */
#ifndef FLOE_ERROR_H
#define FLOE_ERROR_H

#include "floe.h"

#if defined(__GNUC__)
#define FLOE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FLOE_PRINTF(a, b)
#endif

/* Records a printf-style message for the calling thread and returns code, so callers can write
 * `return err_set(FLOE_EIO, "write %s: %s", path, strerror(errno));`. */
int err_set(int code, const char *fmt, ...) FLOE_PRINTF(2, 3);

/* Prepends "what: " to the calling thread's current message and returns code. */
int err_wrap(int code, const char *fmt, ...) FLOE_PRINTF(2, 3);

/* Clears the calling thread's message. */
void err_clear(void);

#endif
