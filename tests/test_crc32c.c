/* Tests for src/crc32c.c: published vectors, chaining, and agreement of the hardware path, the
 * slicing-by-8 table path and a bit-at-a-time reference on random buffers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "testutil.h"

/* The definition of CRC32C, one bit at a time: independent of both implementations under test. */
static uint32_t crc_reference(const uint8_t *p, size_t len)
{
    uint32_t r = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        r ^= p[i];
        for (int bit = 0; bit < 8; bit++)
            r = (r & 1) ? (r >> 1) ^ 0x82F63B78u : r >> 1;
    }
    return ~r;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* Fills p with the next len bytes of one stream, so each call gets new data. */
static void fill_random(uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)tu_rand64(&rng_state);
}

START_TEST(crc32c_known_vectors_match)
{
    /* RFC 3720 (iSCSI) appendix B.4 and the customary check value. */
    uint8_t buf[32];
    ck_assert_uint_eq(crc32c("123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(crc32c_sw(0, "123456789", 9), 0xE3069283u);
    memset(buf, 0, sizeof buf);
    ck_assert_uint_eq(crc32c(buf, 32), 0x8A9136AAu);
    ck_assert_uint_eq(crc32c_sw(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, sizeof buf);
    ck_assert_uint_eq(crc32c(buf, 32), 0x62A8AB43u);
    ck_assert_uint_eq(crc32c_sw(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    ck_assert_uint_eq(crc32c(buf, 32), 0x46DD794Eu);
    ck_assert_uint_eq(crc32c_sw(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    ck_assert_uint_eq(crc32c(buf, 32), 0x113FDB5Cu);
    ck_assert_uint_eq(crc32c_sw(0, buf, 32), 0x113FDB5Cu);
    ck_assert_uint_eq(crc32c("", 0), 0);
    ck_assert_uint_eq(crc32c_extend(0x12345678u, "", 0), 0x12345678u);
}
END_TEST

START_TEST(crc32c_extend_equals_one_pass)
{
    size_t len = 3 * 8192 * 2 + 777;
    uint8_t *buf = malloc(len);
    ck_assert_ptr_nonnull(buf);
    fill_random(buf, len);
    uint32_t whole = crc32c(buf, len);
    ck_assert_uint_eq(whole, crc_reference(buf, len));
    size_t cuts[] = {0, 1, 7, 8, 255, 768, 769, 8192, 24576, 24577, len - 1, len};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        size_t c = cuts[i];
        ck_assert_uint_eq(crc32c_extend(crc32c(buf, c), buf + c, len - c), whole);
        ck_assert_uint_eq(crc32c_sw(crc32c_sw(0, buf, c), buf + c, len - c), whole);
    }
    free(buf);
}
END_TEST

START_TEST(crc32c_hw_and_sw_agree_on_random_buffers)
{
    /* Lengths cover every tail size, both interleaved block sizes (3 x 256 and 3 x 8192) and their
     * edges; offsets cover every alignment of the start. */
    size_t max_len = 3 * 8192 * 3 + 64;
    uint8_t *buf = malloc(max_len + 8);
    ck_assert_ptr_nonnull(buf);
    fill_random(buf, max_len + 8);
    size_t lens[200];
    size_t n = 0;
    for (size_t l = 0; l < 80; l++)
        lens[n++] = l;
    size_t edges[] = {767, 768, 769, 775, 776, 1536, 1543, 24575, 24576, 24577, 24583, 24584, 49152, 49160};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        lens[n++] = edges[i];
    while (n < sizeof lens / sizeof lens[0])
        lens[n++] = (size_t)(tu_rand64(&rng_state) % max_len);
    fprintf(stderr, "crc32c: hardware path %s\n", crc32c_hw_available() ? "available" : "NOT available");
    for (size_t i = 0; i < n; i++) {
        for (size_t off = 0; off < 8; off++) {
            const uint8_t *p = buf + off;
            uint32_t sw = crc32c_sw(0, p, lens[i]);
            ck_assert_msg(crc32c(p, lens[i]) == sw, "len %zu off %zu: hw %08x sw %08x", lens[i], off,
                          crc32c(p, lens[i]), sw);
            if (lens[i] < 4096 || off == 0)
                ck_assert_msg(crc_reference(p, lens[i]) == sw, "len %zu off %zu: sw disagrees with reference",
                              lens[i], off);
        }
    }
    free(buf);
}
END_TEST

START_TEST(crc32c_detects_every_single_bit_flip)
{
    uint8_t buf[300];
    fill_random(buf, sizeof buf);
    uint32_t good = crc32c(buf, sizeof buf);
    for (size_t i = 0; i < sizeof buf * 8; i++) {
        buf[i / 8] ^= (uint8_t)(1u << (i % 8));
        ck_assert_uint_ne(crc32c(buf, sizeof buf), good);
        buf[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    ck_assert_uint_eq(crc32c(buf, sizeof buf), good);
}
END_TEST

static Suite *crc32c_suite(void)
{
    Suite *s = suite_create("crc32c");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, crc32c_known_vectors_match);
    tcase_add_test(tc, crc32c_extend_equals_one_pass);
    tcase_add_test(tc, crc32c_hw_and_sw_agree_on_random_buffers);
    tcase_add_test(tc, crc32c_detects_every_single_bit_flip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(crc32c_suite());
}
