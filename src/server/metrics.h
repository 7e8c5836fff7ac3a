/* A lock-free latency histogram that renders in the Prometheus text format, for the HTTP server's
 * /metrics. The text goes into a capped buf_t (buf.h). */
#ifndef FLOE_METRICS_H
#define FLOE_METRICS_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

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
