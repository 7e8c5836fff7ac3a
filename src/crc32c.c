/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum on every WAL record, segment
 * block and footer. On x86_64 CPUs with SSE4.2 it runs the crc32 instruction over three interleaved
 * streams; elsewhere it uses a portable slicing-by-8 table.
 *
 * Invariants:
 * 1. Every table is filled exactly once, by crc_init under pthread_once, before any CRC is computed;
 *    afterwards the tables are read-only, so any number of threads may compute CRCs at once.
 * 2. crc32c_extend(crc32c(a), b) == crc32c(a || b): callers see the finished CRC (pre- and
 *    post-inverted); the raw register exists only inside this file.
 * 3. The hardware and table paths return identical results for every input (tests/test_crc32c.c). */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC_HAVE_X86 1
#include <nmmintrin.h>
#else
#define CRC_HAVE_X86 0
#endif

#define CRC_POLY 0x82F63B78u

/* sw_table[k][b]: the register after byte b followed by k zero bytes, starting from 0. */
static uint32_t sw_table[8][256];

static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw_ok;

static void sw_init(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t r = b;
        for (int bit = 0; bit < 8; bit++)
            r = (r & 1) ? (r >> 1) ^ CRC_POLY : r >> 1;
        sw_table[0][b] = r;
    }
    for (uint32_t b = 0; b < 256; b++)
        for (int k = 1; k < 8; k++)
            sw_table[k][b] = (sw_table[k - 1][b] >> 8) ^ sw_table[0][sw_table[k - 1][b] & 0xff];
}

/* Runs the raw (un-inverted) register r over len bytes, eight at a time. */
static uint32_t sw_update(uint32_t r, const uint8_t *p, size_t len)
{
    while (len >= 8) {
        uint32_t lo =
            r ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        r = sw_table[7][lo & 0xff] ^ sw_table[6][(lo >> 8) & 0xff] ^ sw_table[5][(lo >> 16) & 0xff] ^
            sw_table[4][lo >> 24] ^ sw_table[3][hi & 0xff] ^ sw_table[2][(hi >> 8) & 0xff] ^
            sw_table[1][(hi >> 16) & 0xff] ^ sw_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        r = (r >> 8) ^ sw_table[0][(r ^ *p++) & 0xff];
    return r;
}

#if CRC_HAVE_X86
/* The hardware path splits long buffers into three streams that the CPU runs in parallel (the
 * crc32 instruction has a latency of three cycles and a throughput of one), then folds the second
 * and third register into the first. Folding needs "advance this register over N zero bytes",
 * a linear map kept as four byte-indexed tables for each of the two stream lengths. */
#define CRC_LONG_BYTES 8192
#define CRC_SHORT_BYTES 256

static uint32_t shift_long[4][256];
static uint32_t shift_short[4][256];

/* Multiplies the 32x32 GF(2) matrix mat (mat[i] is the image of bit i) by vec. */
static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
    uint32_t sum = 0;
    for (int i = 0; vec; i++, vec >>= 1)
        if (vec & 1)
            sum ^= mat[i];
    return sum;
}

static void gf2_square(uint32_t *out, const uint32_t *mat)
{
    for (int i = 0; i < 32; i++)
        out[i] = gf2_times(mat, mat[i]);
}

/* Fills tables so that shift_apply(tables, r) advances register r over zero_bytes zero bytes.
 * zero_bytes must be a power of two. */
static void shift_init(uint32_t tables[4][256], uint32_t zero_bytes)
{
    uint32_t op[32], sq[32];
    /* One zero bit: bit 0 feeds the polynomial back in, every other bit moves down one place. */
    op[0] = CRC_POLY;
    for (int i = 1; i < 32; i++)
        op[i] = 1u << (i - 1);
    /* Squaring doubles the number of zero bits: 3 squarings give one byte, then one per doubling. */
    uint32_t bits = 1;
    while (bits < zero_bytes * 8u) {
        gf2_square(sq, op);
        memcpy(op, sq, sizeof op);
        bits *= 2;
    }
    for (uint32_t b = 0; b < 256; b++)
        for (int k = 0; k < 4; k++)
            tables[k][b] = gf2_times(op, b << (8 * k));
}

static uint32_t shift_apply(uint32_t tables[4][256], uint32_t r)
{
    return tables[0][r & 0xff] ^ tables[1][(r >> 8) & 0xff] ^ tables[2][(r >> 16) & 0xff] ^
           tables[3][r >> 24];
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Runs `blocks` triples of stream_bytes each: three registers over three adjacent ranges, folded. */
__attribute__((target("sse4.2"))) static uint64_t hw_triple(uint64_t r0, const uint8_t **pp, size_t *lenp,
                                                            size_t stream_bytes, uint32_t tables[4][256])
{
    const uint8_t *p = *pp;
    size_t len = *lenp;
    while (len >= 3 * stream_bytes) {
        uint64_t r1 = 0, r2 = 0;
        const uint8_t *end = p + stream_bytes;
        do {
            r0 = _mm_crc32_u64(r0, load64(p));
            r1 = _mm_crc32_u64(r1, load64(p + stream_bytes));
            r2 = _mm_crc32_u64(r2, load64(p + 2 * stream_bytes));
            p += 8;
        } while (p < end);
        r0 = shift_apply(tables, (uint32_t)r0) ^ (uint32_t)r1;
        r0 = shift_apply(tables, (uint32_t)r0) ^ (uint32_t)r2;
        p += 2 * stream_bytes;
        len -= 3 * stream_bytes;
    }
    *pp = p;
    *lenp = len;
    return r0;
}

__attribute__((target("sse4.2"))) static uint32_t hw_update(uint32_t reg, const uint8_t *p, size_t len)
{
    uint64_t r = reg;
    while (len && ((uintptr_t)p & 7)) {
        r = _mm_crc32_u8((uint32_t)r, *p++);
        len--;
    }
    r = hw_triple(r, &p, &len, CRC_LONG_BYTES, shift_long);
    r = hw_triple(r, &p, &len, CRC_SHORT_BYTES, shift_short);
    while (len >= 8) {
        r = _mm_crc32_u64(r, load64(p));
        p += 8;
        len -= 8;
    }
    while (len--)
        r = _mm_crc32_u8((uint32_t)r, *p++);
    return (uint32_t)r;
}
#endif

static void crc_init(void)
{
    sw_init();
#if CRC_HAVE_X86
    shift_init(shift_long, CRC_LONG_BYTES);
    shift_init(shift_short, CRC_SHORT_BYTES);
    __builtin_cpu_init();
    crc_hw_ok = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
    return ~sw_update(~crc, buf, len);
}

int crc32c_hw_available(void)
{
    pthread_once(&crc_once, crc_init);
    return crc_hw_ok;
}

uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
#if CRC_HAVE_X86
    if (crc_hw_ok)
        return ~hw_update(~crc, buf, len);
#endif
    return ~sw_update(~crc, buf, len);
}
