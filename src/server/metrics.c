/* The latency histogram for the HTTP server's /metrics.
 *
 * Invariants:
 * 1. Histogram counters only grow; they are read without a lock, so a scrape may see a request in
 *    count a moment before it shows in sum_ns (Prometheus tolerates this skew).
 */
#include "metrics.h"

const double metrics_latency_bounds_s[METRICS_LATENCY_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

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

void metrics_hist_write(metrics_hist *h, buf_t *b, const char *name, const char *labels)
{
    const char *sep = labels[0] ? "," : "";
    uint64_t cumulative = 0;
    for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
        cumulative += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, metrics_latency_bounds_s[i],
                   (unsigned long long)cumulative);
    }
    cumulative += atomic_load_explicit(&h->bucket[METRICS_LATENCY_BUCKETS], memory_order_relaxed);
    buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cumulative);
    buf_printf(b, "%s_sum{%s} %.9f\n", name, labels,
               (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9);
    /* count equals the +Inf bucket so the scrape is self-consistent */
    buf_printf(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)cumulative);
}
