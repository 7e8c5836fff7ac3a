/* Small helpers the benchmark programs share: a monotonic clock, a cheap PRNG, keys shaped like
 * RocksDB db_bench's (so floe's figures and db_bench's describe the same key set) and a latency
 * histogram. */
#ifndef FLOE_BENCHUTIL_H
#define FLOE_BENCHUTIL_H

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* The key of number n: 16 decimal digits, padded with 'x' (or cut) to key_bytes, as db_bench does. */
static inline void make_key(uint64_t n, int key_bytes, char *buf)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%016" PRIu64, n);
    for (int i = 0; i < key_bytes; i++)
        buf[i] = i < 16 ? digits[i] : 'x';
}

/* Latency histogram: 64 powers of two of nanoseconds, 32 linear sub-buckets each. */
#define SUB_BUCKETS 32
typedef struct histogram {
    uint64_t counts[64][SUB_BUCKETS];
    uint64_t total;
} histogram;

static inline void hist_add(histogram *h, uint64_t ns)
{
    if (ns == 0)
        ns = 1;
    int p = 63 - __builtin_clzll(ns);
    uint64_t base = 1ull << p;
    int sub = p >= 5 ? (int)((ns - base) >> (p - 5)) : (int)(ns - base);
    if (sub >= SUB_BUCKETS)
        sub = SUB_BUCKETS - 1;
    h->counts[p][sub]++;
    h->total++;
}

static inline void hist_merge(histogram *into, const histogram *h)
{
    for (int p = 0; p < 64; p++)
        for (int s = 0; s < SUB_BUCKETS; s++)
            into->counts[p][s] += h->counts[p][s];
    into->total += h->total;
}

/* The upper edge of the bucket holding quantile q, in microseconds. */
static inline double hist_quantile_us(const histogram *h, double q)
{
    uint64_t want = (uint64_t)ceil(q * (double)h->total);
    if (want == 0)
        want = 1;
    uint64_t seen = 0;
    for (int p = 0; p < 64; p++)
        for (int s = 0; s < SUB_BUCKETS; s++) {
            seen += h->counts[p][s];
            if (seen >= want) {
                uint64_t base = 1ull << p;
                uint64_t width = p >= 5 ? (1ull << (p - 5)) : 1;
                return (double)(base + (uint64_t)(s + 1) * width) / 1000.0;
            }
        }
    return 0;
}

#endif
