/* A lock-free latency histogram that renders in the Prometheus text format, for the HTTP server's
 * /metrics. The text goes into a capped buf_t (buf.h). */
#ifndef FLOE_METRICS_H
#define FLOE_METRICS_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* mbuf is the older name for buf_t, kept for src/cli/client.c until that file moves to buf.h (it
 * is being changed by its owner). It behaves as mbuf always did: appends report failure only
 * through mbuf_failed, and mbuf_take gives NULL for a buffer that failed or never allocated. */
typedef buf_t mbuf;

static inline void mbuf_init(mbuf *b, size_t max)
{
    buf_init(b, max);
}

static inline void mbuf_append(mbuf *b, const void *data, size_t len)
{
    (void)buf_append(b, data, len);
}

static inline int mbuf_failed(const mbuf *b)
{
    return b->failed != 0;
}

static inline char *mbuf_take(mbuf *b, size_t *len)
{
    if (!b->data) {
        *len = 0;
        buf_free(b);
        return NULL;
    }
    return buf_take(b, len);
}

static inline void mbuf_free(mbuf *b)
{
    buf_free(b);
}

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
void metrics_hist_write(metrics_hist *h, buf_t *b, const char *name, const char *labels);

#endif
