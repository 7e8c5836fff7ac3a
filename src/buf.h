/* A growable byte buffer with a hard cap, the one every module that builds text or collects a
 * response uses (JSON and metrics answers, the SigV4 strings, S3 response bodies, XML text).
 * Input can make it grow, so it has a cap, and reaching past the cap is an error, never a silent
 * truncation.
 *
 * Failure is sticky: the first append, reserve or printf that fails (cap or memory) records its
 * code in failed and sets the thread's error message; every later call returns that code and
 * changes nothing until buf_reset, buf_take or buf_free. So a caller may build a whole document
 * and check failed once at the end, knowing the text it has is a true prefix of what it wrote.
 *
 * Threads: a buf_t belongs to one thread at a time. */
#ifndef FLOE_BUF_H
#define FLOE_BUF_H

#include <stddef.h>

#include "error.h"

typedef struct buf {
    char *data; /* owned by the buf; NULL until something is stored, then always NUL-terminated */
    size_t len; /* bytes stored, without the NUL */
    size_t cap; /* bytes allocated, with room for the NUL; never more than max + 1 */
    size_t max; /* len never passes this */
    int failed; /* 0, or the FLOE_E* code of the first failure */
} buf_t;

/* Starts an empty buffer that may hold up to max_bytes bytes (plus its NUL). Allocates nothing, so
 * it cannot fail. A zeroed buf_t is an empty buffer whose cap is 0 bytes. */
void buf_init(buf_t *b, size_t max_bytes);

/* Makes room for extra more bytes, so that many can be appended without another allocation.
 * Returns 0, FLOE_ETOOBIG if len + extra would pass max (the message names the cap), FLOE_ENOMEM,
 * or the code of an earlier failure. The data is unchanged either way. */
int buf_reserve(buf_t *b, size_t extra);

/* Appends n bytes at p (which may hold NULs). Returns as buf_reserve; on failure nothing is
 * appended, not even part of the bytes. */
int buf_append(buf_t *b, const void *p, size_t n);
int buf_puts(buf_t *b, const char *s);
int buf_putc(buf_t *b, char c);

/* Appends the printf-formatted text. Returns as buf_reserve, or FLOE_EINVAL if the format cannot
 * be rendered. */
int buf_printf(buf_t *b, const char *fmt, ...) FLOE_PRINTF(2, 3);

/* The text: b->data, or "" while nothing is allocated. Valid until the next call that changes b. */
const char *buf_str(const buf_t *b);

/* Hands the malloc'd, NUL-terminated bytes to the caller, who frees them; *len (if len is not
 * NULL) gets their length. An empty buffer gives a malloc'd "". Returns NULL (and *len 0) if the
 * buffer had failed, or if allocating the empty string fails (FLOE_ENOMEM message). b is empty,
 * unfailed and keeps its max afterwards, whatever happened. */
char *buf_take(buf_t *b, size_t *len);

/* Empties b and clears a failure, keeping its memory for reuse. */
void buf_reset(buf_t *b);

/* Frees b's memory; b is empty and unfailed with the same max afterwards, ready for reuse. */
void buf_free(buf_t *b);

#endif
