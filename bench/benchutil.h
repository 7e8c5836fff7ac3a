/* Small helpers the benchmark programs share: a monotonic clock, a cheap PRNG and keys shaped like
 * RocksDB db_bench's, so floe's figures and db_bench's describe the same key set. */
#ifndef FLOE_BENCHUTIL_H
#define FLOE_BENCHUTIL_H

#include <inttypes.h>
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

#endif
