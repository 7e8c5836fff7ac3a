/* S3's flexible checksums (see s3_checksum.h). CRC32 (the IEEE/zlib polynomial) folds 64 bytes at
 * a time with carry-less multiplication (PCLMULQDQ) on x86_64 CPUs that have it, and otherwise,
 * like CRC64NVME, runs a slicing-by-8 table; CRC32C is crc32c.c's, which uses SSE4.2 when it can;
 * SHA-1 and SHA-256 are OpenSSL's EVP digests.
 *
 * Invariants:
 * 1. The tables are filled once, by tables_init under pthread_once, before any CRC is computed,
 *    and only read afterwards, so any number of threads may compute CRCs at once.
 * 2. Outside the table loops a CRC is always the finished value (pre- and post-inverted), so
 *    s3_crc_extend(a, s3_crc_extend(a, 0, A), B) == s3_crc_extend(a, 0, A || B); the raw register
 *    exists only inside crc32_ieee_update and crc64_nvme_update.
 * 3. Every digest S3 sees is big-endian: a CRC goes out (and comes back from base64) most
 *    significant byte first, whatever the CPU's order.
 * 4. Base64 is decoded only in its one canonical spelling, so two texts that decode alike are the
 *    same text.
 * 5. The folding and table paths of CRC32 return identical results for every input and alignment
 *    (tests/test_s3_xml.c compares them, and both with a bit-at-a-time reference). */
#include "s3_checksum.h"

#include "crc32c.h"
#include "error.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CK_HAVE_CLMUL 1
#include <immintrin.h>
#else
#define CK_HAVE_CLMUL 0
#endif

#define CRC32_IEEE_POLY 0xEDB88320u           /* 0x04C11DB7 reflected */
#define CRC32C_POLY 0x82F63B78u               /* 0x1EDC6F41 reflected, as in crc32c.c */
#define CRC64_NVME_POLY 0x9A6C9329AC4BC9B5ull /* 0xAD93D23594C93659 reflected */

/* table[k][b]: the raw register after byte b followed by k zero bytes, from a zero register. */
static uint32_t crc32_table[8][256];
static uint64_t crc64_table[8][256];

/* The reflected polynomial and width of each CRC algorithm, for combining. */
struct crc_poly {
    uint64_t poly;
    int width;
};
static const struct crc_poly crc_polys[S3_CK_CRC64NVME + 1] = {
    [S3_CK_CRC32] = {CRC32_IEEE_POLY, 32},
    [S3_CK_CRC32C] = {CRC32C_POLY, 32},
    [S3_CK_CRC64NVME] = {CRC64_NVME_POLY, 64},
};

/* x2n[a][k] = x^(2^k) modulo CRC algorithm a's polynomial, reflected; k up to 66 covers lengths
 * of 2^64 bytes (2^67 bits). */
#define X2N_POWERS 67
static uint64_t x2n[S3_CK_CRC64NVME + 1][X2N_POWERS];

/* The folding constants of CRC32 and CRC64NVME (see fold_bulk), each x^n modulo P with the
 * coefficient of x^i in bit 63 - i: a lane's low and high half moved on 64 and 16 bytes. */
struct fold_consts {
    uint64_t by64_low, by64_high, by16_low, by16_high;
};
static struct fold_consts fold_k[S3_CK_CRC64NVME + 1];

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
#if CK_HAVE_CLMUL
static int clmul_ok; /* the CPU has PCLMULQDQ (and SSE4.1); set once by tables_init */
#endif

struct algo_info {
    const char *name, *header, *element;
    size_t digest_bytes;
};

static const struct algo_info algos[S3_CK_COUNT] = {
    [S3_CK_CRC32] = {"CRC32", "x-amz-checksum-crc32", "ChecksumCRC32", 4},
    [S3_CK_CRC32C] = {"CRC32C", "x-amz-checksum-crc32c", "ChecksumCRC32C", 4},
    [S3_CK_CRC64NVME] = {"CRC64NVME", "x-amz-checksum-crc64nvme", "ChecksumCRC64NVME", 8},
    [S3_CK_SHA1] = {"SHA1", "x-amz-checksum-sha1", "ChecksumSHA1", 20},
    [S3_CK_SHA256] = {"SHA256", "x-amz-checksum-sha256", "ChecksumSHA256", 32},
};

static int valid_algo(enum s3_checksum_algo a)
{
    return (unsigned)a < S3_CK_COUNT;
}

static int is_crc(enum s3_checksum_algo a)
{
    return a == S3_CK_CRC32 || a == S3_CK_CRC32C || a == S3_CK_CRC64NVME;
}

/* The product of a and b modulo the reflected polynomial poly of width bits: bit width-1 stands
 * for x^0 and bit 0 for x^(width-1). */
static uint64_t gf2_multmod(uint64_t a, uint64_t b, uint64_t poly, int width)
{
    uint64_t p = 0;
    for (uint64_t m = 1ull << (width - 1); m; m >>= 1) {
        if (a & m)
            p ^= b;
        b = (b & 1) ? (b >> 1) ^ poly : b >> 1;
    }
    return p;
}

/* x^(n 2^k0) modulo CRC algorithm a's polynomial: the product of the powers x^(2^k) in x2n for
 * the bits of n shifted up k0 places (k0 = 3 makes n a number of bytes without overflowing it). */
static uint64_t xpow_mod(enum s3_checksum_algo a, uint64_t n, int k0)
{
    const struct crc_poly *cp = &crc_polys[a];
    uint64_t xn = 1ull << (cp->width - 1); /* x^0 */
    for (int k = k0; n; n >>= 1, k++)
        if (n & 1)
            xn = gf2_multmod(x2n[a][k], xn, cp->poly, cp->width);
    return xn;
}

static void tables_init(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t r32 = b;
        uint64_t r64 = b;
        for (int bit = 0; bit < 8; bit++) {
            r32 = (r32 & 1) ? (r32 >> 1) ^ CRC32_IEEE_POLY : r32 >> 1;
            r64 = (r64 & 1) ? (r64 >> 1) ^ CRC64_NVME_POLY : r64 >> 1;
        }
        crc32_table[0][b] = r32;
        crc64_table[0][b] = r64;
    }
    for (int k = 1; k < 8; k++)
        for (uint32_t b = 0; b < 256; b++) {
            crc32_table[k][b] = (crc32_table[k - 1][b] >> 8) ^ crc32_table[0][crc32_table[k - 1][b] & 0xff];
            crc64_table[k][b] = (crc64_table[k - 1][b] >> 8) ^ crc64_table[0][crc64_table[k - 1][b] & 0xff];
        }
    /* x^1 is the bit after x^0; each next power of two is the square of the one before. */
    for (int a = 0; a <= S3_CK_CRC64NVME; a++) {
        const struct crc_poly *cp = &crc_polys[a];
        x2n[a][0] = 1ull << (cp->width - 2);
        for (int k = 1; k < X2N_POWERS; k++)
            x2n[a][k] = gf2_multmod(x2n[a][k - 1], x2n[a][k - 1], cp->poly, cp->width);
    }
    for (int a = 0; a <= S3_CK_CRC64NVME; a++) {
        int shift = 64 - crc_polys[a].width;
        fold_k[a].by64_low = xpow_mod((enum s3_checksum_algo)a, 64 + 8 * 64 - 1, 0) << shift;
        fold_k[a].by64_high = xpow_mod((enum s3_checksum_algo)a, 8 * 64 - 1, 0) << shift;
        fold_k[a].by16_low = xpow_mod((enum s3_checksum_algo)a, 64 + 8 * 16 - 1, 0) << shift;
        fold_k[a].by16_high = xpow_mod((enum s3_checksum_algo)a, 8 * 16 - 1, 0) << shift;
    }
#if CK_HAVE_CLMUL
    __builtin_cpu_init();
    clmul_ok = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
}

static inline uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Runs the raw register r over len bytes, eight at a time. */
static uint32_t crc32_ieee_update(uint32_t r, const uint8_t *p, size_t len)
{
    while (len >= 8) {
        uint32_t lo = r ^ load_le32(p), hi = load_le32(p + 4);
        r = crc32_table[7][lo & 0xff] ^ crc32_table[6][(lo >> 8) & 0xff] ^ crc32_table[5][(lo >> 16) & 0xff] ^
            crc32_table[4][lo >> 24] ^ crc32_table[3][hi & 0xff] ^ crc32_table[2][(hi >> 8) & 0xff] ^
            crc32_table[1][(hi >> 16) & 0xff] ^ crc32_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        r = (r >> 8) ^ crc32_table[0][(r ^ *p++) & 0xff];
    return r;
}

static uint64_t crc64_nvme_update(uint64_t r, const uint8_t *p, size_t len)
{
    while (len >= 8) {
        uint64_t v = r ^ ((uint64_t)load_le32(p) | (uint64_t)load_le32(p + 4) << 32);
        r = crc64_table[7][v & 0xff] ^ crc64_table[6][(v >> 8) & 0xff] ^ crc64_table[5][(v >> 16) & 0xff] ^
            crc64_table[4][(v >> 24) & 0xff] ^ crc64_table[3][(v >> 32) & 0xff] ^
            crc64_table[2][(v >> 40) & 0xff] ^ crc64_table[1][(v >> 48) & 0xff] ^ crc64_table[0][v >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        r = (r >> 8) ^ crc64_table[0][(r ^ *p++) & 0xff];
    return r;
}

#if CK_HAVE_CLMUL
/* Folding, after Gopal, Ozturk et al., "Fast CRC Computation for Generic Polynomials Using
 * PCLMULQDQ Instruction" (Intel, 2009), in its bit-reflected form, for CRC32 and CRC64NVME alike.
 *
 * A 128-bit lane loaded from the stream is a polynomial whose bit k (little-endian) is the
 * coefficient of x^(127-k), times x^(8t) for the t bytes after it. Moving a lane d bytes on
 * multiplies it by x^(8d): its low half (the earlier bytes) by x^(64+8d) and its high half by
 * x^(8d), each modulo P, which keeps the CRC. A carry-less product of two such 64-bit halves comes
 * out multiplied by x once more, so the constants are x^(64+8d-1) and x^(8d-1) modulo P. Four
 * lanes take the next 16 of every 64 bytes (d = 64), then fold into one (d = 16). The last lane is
 * then worth exactly its 16 bytes run from a zero register, which the table does: no Barrett
 * reduction, and one routine for both widths. */
#define CLMUL_ATTR __attribute__((target("pclmul,sse4.1")))

CLMUL_ATTR static inline __m128i fold16(__m128i lane, __m128i k, __m128i next)
{
    __m128i lo = _mm_clmulepi64_si128(lane, k, 0x00);
    __m128i hi = _mm_clmulepi64_si128(lane, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

/* Folds len bytes (at least 64, a multiple of 16) with the raw register r XORed into the first
 * ones, and leaves in out the 16 bytes that have the same CRC from a zero register. */
CLMUL_ATTR static void fold_bulk(const struct fold_consts *k, uint64_t r, const uint8_t *p, size_t len,
                                 uint8_t out[16])
{
    const __m128i k64 = _mm_set_epi64x((long long)k->by64_high, (long long)k->by64_low);
    const __m128i k16 = _mm_set_epi64x((long long)k->by16_high, (long long)k->by16_low);
    __m128i l0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi64_si128((long long)r));
    __m128i l1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i l2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i l3 = _mm_loadu_si128((const __m128i *)(p + 48));
    for (p += 64, len -= 64; len >= 64; p += 64, len -= 64) {
        l0 = fold16(l0, k64, _mm_loadu_si128((const __m128i *)p));
        l1 = fold16(l1, k64, _mm_loadu_si128((const __m128i *)(p + 16)));
        l2 = fold16(l2, k64, _mm_loadu_si128((const __m128i *)(p + 32)));
        l3 = fold16(l3, k64, _mm_loadu_si128((const __m128i *)(p + 48)));
    }
    l0 = fold16(l0, k16, l1);
    l0 = fold16(l0, k16, l2);
    l0 = fold16(l0, k16, l3);
    for (; len >= 16; p += 16, len -= 16)
        l0 = fold16(l0, k16, _mm_loadu_si128((const __m128i *)p));
    _mm_storeu_si128((__m128i *)out, l0);
}
#endif

/* The raw registers over len bytes: by folding where the CPU can, the table for the rest. */
static uint32_t crc32_ieee_raw(uint32_t r, const uint8_t *p, size_t len)
{
#if CK_HAVE_CLMUL
    if (clmul_ok && len >= 64) {
        uint8_t lane[16];
        size_t bulk = len & ~(size_t)15;
        fold_bulk(&fold_k[S3_CK_CRC32], r, p, bulk, lane);
        r = crc32_ieee_update(0, lane, 16);
        p += bulk;
        len -= bulk;
    }
#endif
    return crc32_ieee_update(r, p, len);
}

static uint64_t crc64_nvme_raw(uint64_t r, const uint8_t *p, size_t len)
{
#if CK_HAVE_CLMUL
    if (clmul_ok && len >= 64) {
        uint8_t lane[16];
        size_t bulk = len & ~(size_t)15;
        fold_bulk(&fold_k[S3_CK_CRC64NVME], r, p, bulk, lane);
        r = crc64_nvme_update(0, lane, 16);
        p += bulk;
        len -= bulk;
    }
#endif
    return crc64_nvme_update(r, p, len);
}

uint64_t s3_crc_extend(enum s3_checksum_algo a, uint64_t crc, const void *p, size_t n)
{
    pthread_once(&tables_once, tables_init);
    switch (a) {
    case S3_CK_CRC32:
        return ~crc32_ieee_raw(~(uint32_t)crc, p, n);
    case S3_CK_CRC32C:
        return crc32c_extend((uint32_t)crc, p, n);
    case S3_CK_CRC64NVME:
        return ~crc64_nvme_raw(~crc, p, n);
    default:
        return 0;
    }
}

uint64_t s3_crc_combine(enum s3_checksum_algo a, uint64_t crc_a, uint64_t crc_b, uint64_t len_b)
{
    if (!is_crc(a))
        return 0;
    pthread_once(&tables_once, tables_init);
    /* Appending len_b bytes multiplies A's register by x^(8 len_b); B's CRC adds on, the pre- and
     * post-inversions of the three CRCs cancelling. */
    const struct crc_poly *cp = &crc_polys[a];
    return gf2_multmod(xpow_mod(a, len_b, 3), crc_a, cp->poly, cp->width) ^ crc_b;
}

const char *s3_checksum_name(enum s3_checksum_algo a)
{
    return valid_algo(a) ? algos[a].name : NULL;
}

const char *s3_checksum_header(enum s3_checksum_algo a)
{
    return valid_algo(a) ? algos[a].header : NULL;
}

const char *s3_checksum_element(enum s3_checksum_algo a)
{
    return valid_algo(a) ? algos[a].element : NULL;
}

size_t s3_checksum_digest_bytes(enum s3_checksum_algo a)
{
    return valid_algo(a) ? algos[a].digest_bytes : 0;
}

int s3_checksum_from_name(const char *name, enum s3_checksum_algo *out)
{
    for (int a = 0; name && a < S3_CK_COUNT; a++)
        if (strcasecmp(name, algos[a].name) == 0) {
            *out = (enum s3_checksum_algo)a;
            return 0;
        }
    return -1;
}

int s3_checksum_from_header(const char *lower_header, enum s3_checksum_algo *out)
{
    for (int a = 0; lower_header && a < S3_CK_COUNT; a++)
        if (strcasecmp(lower_header, algos[a].header) == 0) {
            *out = (enum s3_checksum_algo)a;
            return 0;
        }
    return -1;
}

int s3_checksum_init(s3_checksum *c, enum s3_checksum_algo a)
{
    if (!valid_algo(a))
        return err_set(FLOE_EINVAL, "checksum algorithm %d is not one S3 defines", (int)a);
    EVP_MD_CTX *md = NULL;
    if (!is_crc(a)) {
        md = EVP_MD_CTX_new();
        if (!md || EVP_DigestInit_ex(md, a == S3_CK_SHA1 ? EVP_sha1() : EVP_sha256(), NULL) != 1) {
            EVP_MD_CTX_free(md);
            return err_set(FLOE_ENOMEM, "cannot start an OpenSSL %s digest (out of memory?)", algos[a].name);
        }
    }
    c->algo = a;
    c->crc = 0;
    c->md = md;
    return 0;
}

void s3_checksum_update(s3_checksum *c, const void *p, size_t n)
{
    if (c->md)
        EVP_DigestUpdate(c->md, p, n);
    else
        c->crc = s3_crc_extend(c->algo, c->crc, p, n);
}

void s3_checksum_final(s3_checksum *c, uint8_t out[S3_CHECKSUM_MAX_BYTES])
{
    size_t n = s3_checksum_digest_bytes(c->algo);
    if (c->md) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        if (EVP_DigestFinal_ex(c->md, md, &md_len) != 1 || md_len != n)
            memset(md, 0, n); /* unreachable for SHA-1/SHA-256 over memory */
        memcpy(out, md, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(c->crc >> (8 * (n - 1 - i)));
}

void s3_checksum_final_b64(s3_checksum *c, char out[S3_CHECKSUM_B64_MAX])
{
    uint8_t raw[S3_CHECKSUM_MAX_BYTES];
    s3_checksum_final(c, raw);
    s3_base64_encode(raw, s3_checksum_digest_bytes(c->algo), out);
}

void s3_checksum_free(s3_checksum *c)
{
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
}

/* Decodes one part's base64 digest into raw (digest_bytes of a long): 0, or -1. */
static int part_digest(enum s3_checksum_algo a, const char *b64, uint8_t raw[S3_CHECKSUM_MAX_BYTES])
{
    size_t got = 0;
    if (!b64 || s3_base64_decode(b64, strlen(b64), raw, S3_CHECKSUM_MAX_BYTES, &got) != 0 ||
        got != s3_checksum_digest_bytes(a))
        return -1;
    return 0;
}

int s3_checksum_composite_b64(enum s3_checksum_algo a, const char *const *part_b64, size_t n,
                              char out[S3_CHECKSUM_COMPOSITE_MAX])
{
    if (!valid_algo(a) || n == 0 || n > S3_CHECKSUM_MAX_PARTS)
        return -1;
    s3_checksum c;
    if (s3_checksum_init(&c, a) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint8_t raw[S3_CHECKSUM_MAX_BYTES];
        rc = part_digest(a, part_b64[i], raw);
        if (rc == 0)
            s3_checksum_update(&c, raw, s3_checksum_digest_bytes(a));
    }
    if (rc == 0) {
        char b64[S3_CHECKSUM_B64_MAX];
        s3_checksum_final_b64(&c, b64);
        snprintf(out, S3_CHECKSUM_COMPOSITE_MAX, "%s-%zu", b64, n);
    }
    s3_checksum_free(&c);
    return rc;
}

int s3_checksum_full_object_b64(enum s3_checksum_algo a, const char *const *part_b64,
                                const uint64_t *part_len, size_t n, char out[S3_CHECKSUM_B64_MAX])
{
    if (!is_crc(a) || n == 0 || n > S3_CHECKSUM_MAX_PARTS)
        return -1;
    size_t bytes = s3_checksum_digest_bytes(a);
    uint64_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t raw[S3_CHECKSUM_MAX_BYTES];
        if (part_digest(a, part_b64[i], raw) != 0)
            return -1;
        uint64_t part = 0;
        for (size_t j = 0; j < bytes; j++)
            part = part << 8 | raw[j];
        crc = i == 0 ? part : s3_crc_combine(a, crc, part, part_len[i]);
    }
    s3_checksum c = {.algo = a, .crc = crc};
    s3_checksum_final_b64(&c, out);
    return 0;
}

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t s3_base64_encode(const void *p, size_t n, char *out)
{
    const uint8_t *in = p;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

/* The 6-bit value of a base64 character, or -1. */
static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

int s3_base64_decode(const char *s, size_t n, void *out, size_t out_cap, size_t *out_len)
{
    uint8_t *o = out;
    if (n % 4 != 0)
        return -1;
    size_t pad = 0;
    if (n >= 4 && s[n - 1] == '=')
        pad = s[n - 2] == '=' ? 2 : 1;
    size_t len = n / 4 * 3 - pad;
    if (len > out_cap)
        return -1;
    size_t w = 0;
    for (size_t i = 0; i < n; i += 4) {
        int last = i + 4 == n;
        int v[4];
        for (int j = 0; j < 4; j++) {
            v[j] = last && j >= 4 - (int)pad ? 0 : b64_value((unsigned char)s[i + j]);
            if (v[j] < 0)
                return -1;
        }
        uint32_t bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* the bits a padded group does not use must be zero: one spelling per value */
        if (last && ((pad == 1 && (bits & 0xff)) || (pad == 2 && (bits & 0xffff))))
            return -1;
        o[w++] = (uint8_t)(bits >> 16);
        if (!last || pad < 2)
            o[w++] = (uint8_t)(bits >> 8);
        if (!last || pad < 1)
            o[w++] = (uint8_t)bits;
    }
    *out_len = len;
    return 0;
}
