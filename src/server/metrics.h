/* Small pieces for exposing metrics: a text buffer with a hard size cap, and a lock-free latency
 * histogram that renders in the Prometheus text format. Used by the HTTP server. */
#ifndef FLOE_METRICS_H
#define FLOE_METRICS_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* A growable text buffer that never grows past max bytes. Once an append fails (cap reached or out
 * of memory) the buffer is marked failed and later appends do nothing; check mbuf_failed at the end.
 * One thread at a time. */
typedef struct mbuf {
    char *data; /* NUL-terminated, owned by the mbuf until mbuf_take */
    size_t len;
    size_t cap;
    size_t max;
    int failed;
} mbuf;

/* Starts an empty buffer that may grow to max bytes. Allocates lazily; cannot fail. */
void mbuf_init(mbuf *b, size_t max);
void mbuf_append(mbuf *b, const void *data, size_t len);
void mbuf_puts(mbuf *b, const char *s);
void mbuf_printf(mbuf *b, const char *fmt, ...) FLOE_PRINTF(2, 3);
/* 1 if an append was dropped because of the cap or memory. */
int mbuf_failed(const mbuf *b);
/* Hands the malloc'd text to the caller (who frees it) and resets b; *len gets its length. Returns
 * NULL if the buffer failed or is empty and never allocated (then *len is 0). */
char *mbuf_take(mbuf *b, size_t *len);
void mbuf_free(mbuf *b);

/* Upper bounds of the latency buckets, in seconds (100 us .. 10 s); +Inf is implicit. */
#define METRICS_LATENCY_BUCKETS 16
extern const double metrics_latency_bounds_s[METRICS_LATENCY_BUCKETS];

/* A latency histogram. Zero-initialised memory is an empty histogram. Any thread may observe. */
typedef struct metrics_hist {
    _Atomic uint64_t bucket[METRICS_LATENCY_BUCKETS + 1]; /* non-cumulative; last is +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_ns;
} metrics_hist;

void metrics_hist_observe(metrics_hist *h, uint64_t ns);
/* Appends name_bucket{labels,le=...}, name_sum{labels} and name_count{labels} lines. labels is the
 * inside of the braces without a trailing comma ("" for none). */
void metrics_hist_write(metrics_hist *h, mbuf *b, const char *name, const char *labels);

#endif
