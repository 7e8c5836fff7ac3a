/* A capped text buffer and a latency histogram for the HTTP server's /metrics and JSON answers.
 *
 * Invariants:
 * 1. An mbuf never holds more than its max bytes (plus the NUL); a refused append fails the whole
 *    buffer, so a truncated document is never served as if it were whole.
 * 2. Histogram counters only grow; they are read without a lock, so a scrape may see a request in
 *    count a moment before it shows in sum_ns (Prometheus tolerates this skew).
 */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double metrics_latency_bounds_s[METRICS_LATENCY_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

void mbuf_init(mbuf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

/* Makes room for extra more bytes plus the NUL; 0 or -1 (and the buffer failed). */
static int mbuf_reserve(mbuf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (extra > b->max || b->len > b->max - extra) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void mbuf_append(mbuf *b, const void *data, size_t len)
{
    if (mbuf_reserve(b, len) != 0)
        return;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void mbuf_puts(mbuf *b, const char *s)
{
    mbuf_append(b, s, strlen(s));
}

void mbuf_printf(mbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        mbuf_append(b, small, (size_t)n);
        return;
    }
    if (mbuf_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

int mbuf_failed(const mbuf *b)
{
    return b->failed;
}

char *mbuf_take(mbuf *b, size_t *len)
{
    char *p = NULL;
    *len = 0;
    if (!b->failed) {
        p = b->data;
        *len = b->len;
        b->data = NULL;
    }
    mbuf_free(b);
    return p;
}

void mbuf_free(mbuf *b)
{
    size_t max = b->max;
    free(b->data);
    memset(b, 0, sizeof *b);
    b->max = max;
}

void metrics_hist_observe(metrics_hist *h, uint64_t ns)
{
    int i = 0;
    double s = (double)ns / 1e9;
    while (i < METRICS_LATENCY_BUCKETS && s > metrics_latency_bounds_s[i])
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void metrics_hist_write(metrics_hist *h, mbuf *b, const char *name, const char *labels)
{
    const char *sep = labels[0] ? "," : "";
    uint64_t cumulative = 0;
    for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
        cumulative += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        mbuf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, metrics_latency_bounds_s[i],
                    (unsigned long long)cumulative);
    }
    cumulative += atomic_load_explicit(&h->bucket[METRICS_LATENCY_BUCKETS], memory_order_relaxed);
    mbuf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cumulative);
    mbuf_printf(b, "%s_sum{%s} %.9f\n", name, labels,
                (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9);
    /* count equals the +Inf bucket so the scrape is self-consistent */
    mbuf_printf(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)cumulative);
}
