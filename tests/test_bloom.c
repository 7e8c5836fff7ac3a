/* Bloom filter: the hash is XXH64, there are no false negatives, and the false-positive rate matches
 * the bits spent per key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bloom.h"
#include "testutil.h"

static uint8_t *build_filter(unsigned bits_per_key, int first, int n, size_t *len)
{
    uint64_t *hashes = malloc(sizeof *hashes * (size_t)n);
    ck_assert_ptr_nonnull(hashes);
    for (int i = 0; i < n; i++) {
        char key[32];
        int klen = snprintf(key, sizeof key, "member-%d", first + i);
        hashes[i] = bloom_hash(key, (size_t)klen);
    }
    *len = bloom_region_bytes((uint64_t)n, bits_per_key);
    uint8_t *region = malloc(*len);
    ck_assert_ptr_nonnull(region);
    bloom_build(hashes, (size_t)n, bits_per_key, region, *len);
    free(hashes);
    return region;
}

/* Fraction of `probes` keys never added that the filter says may be present. */
static double false_positive_rate(const bloom_filter *f, int probes)
{
    int hits = 0;
    for (int i = 0; i < probes; i++) {
        char key[32];
        int klen = snprintf(key, sizeof key, "stranger-%d", i);
        hits += bloom_may_contain(f, bloom_hash(key, (size_t)klen));
    }
    return (double)hits / probes;
}

START_TEST(bloom_hash_matches_xxh64_reference_values)
{
    ck_assert_uint_eq(bloom_hash("", 0), 0xEF46DB3751D8E999ull);
    ck_assert_uint_eq(bloom_hash("abc", 3), 0x44BC2CF5AD770999ull);
    const char *long_input = "Nobody inspects the spammish repetition";
    ck_assert_uint_eq(bloom_hash(long_input, strlen(long_input)), 0xFBCEA83C8A378BF1ull);
}
END_TEST

START_TEST(bloom_has_no_false_negatives)
{
    size_t len;
    uint8_t *region = build_filter(10, 0, 5000, &len);
    bloom_filter f;
    ck_assert_int_eq(bloom_parse(region, len, &f), 0);
    for (int i = 0; i < 5000; i++) {
        char key[32];
        int klen = snprintf(key, sizeof key, "member-%d", i);
        ck_assert_msg(bloom_may_contain(&f, bloom_hash(key, (size_t)klen)), "member %d reported absent", i);
    }
    free(region);
}
END_TEST

START_TEST(bloom_false_positive_rate_is_near_one_percent_at_10_bits_per_key)
{
    size_t len;
    uint8_t *region = build_filter(10, 0, 20000, &len);
    bloom_filter f;
    ck_assert_int_eq(bloom_parse(region, len, &f), 0);
    /* 200000 bits, rounded up to whole 64-byte blocks, and the probe count. */
    ck_assert_uint_eq(len, (200000 / 512 + 1) * 64 + 1);
    ck_assert_uint_eq(f.probes, 7);
    double rate = false_positive_rate(&f, 200000);
    /* A classic filter gives 0.82% for 10 bits and 7 probes; keeping the probes in one 512-bit block
     * gives 0.96% in theory. */
    ck_assert_msg(rate > 0.007 && rate < 0.013, "false-positive rate %.4f is not near 1%%", rate);
    free(region);
}
END_TEST

START_TEST(bloom_more_bits_per_key_lower_the_false_positive_rate)
{
    size_t len;
    uint8_t *region = build_filter(20, 0, 20000, &len);
    bloom_filter f;
    ck_assert_int_eq(bloom_parse(region, len, &f), 0);
    double rate = false_positive_rate(&f, 200000);
    /* About 0.02%: far under the 1% of 10 bits per key. */
    ck_assert_msg(rate < 0.0006, "false-positive rate %.5f at 20 bits per key", rate);
    free(region);
}
END_TEST

START_TEST(bloom_tiny_filter_has_one_whole_block)
{
    size_t len;
    uint8_t *region = build_filter(10, 0, 1, &len);
    bloom_filter f;
    ck_assert_uint_eq(len, 65);
    ck_assert_int_eq(bloom_parse(region, len, &f), 0);
    ck_assert_uint_eq(f.bits_count, 512);
    ck_assert(bloom_may_contain(&f, bloom_hash("member-0", 8)));
    free(region);
}
END_TEST

START_TEST(bloom_parse_rejects_partial_blocks_and_bad_probe_counts)
{
    uint8_t region[129] = {0};
    bloom_filter f;
    ck_assert_int_eq(bloom_parse(region, 1, &f), -1);
    region[63] = 3;
    ck_assert_int_eq(bloom_parse(region, 64, &f), -1); /* 63 bytes of bits */
    region[64] = 3;
    ck_assert_int_eq(bloom_parse(region, 65, &f), 0);
    region[100] = 3;
    ck_assert_int_eq(bloom_parse(region, 101, &f), -1); /* 100 bytes of bits */
    region[128] = 0;
    ck_assert_int_eq(bloom_parse(region, sizeof region, &f), -1);
    region[128] = BLOOM_MAX_PROBES + 1;
    ck_assert_int_eq(bloom_parse(region, sizeof region, &f), -1);
    region[128] = 3;
    memset(region, 0, 128);
    ck_assert_int_eq(bloom_parse(region, sizeof region, &f), 0);
    ck_assert_uint_eq(f.probes, 3);
    ck_assert_uint_eq(f.bits_count, 1024);
    /* An all-zero bit array contains nothing. */
    ck_assert_int_eq(bloom_may_contain(&f, bloom_hash("x", 1)), 0);
}
END_TEST

START_TEST(bloom_probes_of_a_key_stay_in_one_64_byte_block)
{
    size_t len = bloom_region_bytes(1000, 10);
    uint8_t *region = calloc(1, len);
    ck_assert_ptr_nonnull(region);
    for (int i = 0; i < 200; i++) {
        char key[32];
        int klen = snprintf(key, sizeof key, "k%d", i);
        uint64_t h = bloom_hash(key, (size_t)klen);
        bloom_build(&h, 1, 10, region, len);
        int blocks_touched = 0, bits = 0;
        for (size_t b = 0; b + 1 < len; b += 64) {
            int in_block = 0;
            for (size_t j = b; j < b + 64; j++)
                in_block += __builtin_popcount(region[j]);
            blocks_touched += in_block > 0;
            bits += in_block;
        }
        ck_assert_int_eq(blocks_touched, 1);
        /* Seven probes; two may rarely land on the same bit. */
        ck_assert_int_ge(bits, 5);
        ck_assert_int_le(bits, 7);
    }
    free(region);
}
END_TEST

static Suite *bloom_suite(void)
{
    Suite *s = suite_create("bloom");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, bloom_hash_matches_xxh64_reference_values);
    tcase_add_test(tc, bloom_has_no_false_negatives);
    tcase_add_test(tc, bloom_false_positive_rate_is_near_one_percent_at_10_bits_per_key);
    tcase_add_test(tc, bloom_more_bits_per_key_lower_the_false_positive_rate);
    tcase_add_test(tc, bloom_tiny_filter_has_one_whole_block);
    tcase_add_test(tc, bloom_parse_rejects_partial_blocks_and_bad_probe_counts);
    tcase_add_test(tc, bloom_probes_of_a_key_stay_in_one_64_byte_block);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(bloom_suite());
}
