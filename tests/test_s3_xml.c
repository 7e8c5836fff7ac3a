/* Tests for the S3 API's checksums (src/server/s3_checksum.c). The vectors were computed once
 * with botocore 1.29.27's httpchecksum (CRC32, SHA-1, SHA-256: what boto3 and the AWS CLI send)
 * and with crcmod 1.7 (CRC32C, CRC64NVME, from their polynomials), and are kept here as data; the
 * CRCs are also checked against bit-at-a-time definitions written below and against crc32c.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "s3_checksum.h"
#include "testutil.h"

/* The bytes every "pattern" vector was computed over. */
static void fill_pattern(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(((uint32_t)i * 2654435761u) >> 24);
}

struct vector {
    const char *text; /* NULL: the first len bytes of the pattern */
    size_t len;
    const char *b64[S3_CK_COUNT];
};

static const struct vector vectors[] = {
    {"",
     0,
     {"AAAAAA==", "AAAAAA==", "AAAAAAAAAAA=", "2jmj7l5rSw0yVb/vlWAYkK/YBwk=",
      "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}},
    {"a",
     1,
     {"6Le+Qw==", "wdBDMA==", "jC+ERbTL/Dw=", "hvfkN/qlp/zhXR3cuerq6jd2Z7g=",
      "ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs="}},
    {"abc",
     3,
     {"NSRBwg==", "Nks/tw==", "BeXKuz/B+us=", "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=",
      "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="}},
    {"123456789",
     9,
     {"y/Q5Jg==", "4waSgw==", "rosUhgp5mIg=", "98O8HYCOBHMq32eZZczDTKeuNEE=",
      "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU="}},
    {"The quick brown fox jumps over the lazy dog",
     43,
     {"QU+jOQ==", "ImIEBA==", "12xUBUlUwUM=", "L9ThxnotKPzthJ7hu3bnORuT6xI=",
      "16j7swfXgJRpypq8sAguT41WUeRtPNt2LQLQvzfJ5ZI="}},
    {NULL,
     63,
     {"a1NRjA==", "/ieiqA==", "8xM1/x6YHh4=", "qZwKmEscSDfZFzHId3sJHoX/EE0=",
      "e+kQ1SlDTdijEHjSVmdFe2BAyIjWSQSyXTypXx6uaxY="}},
    {NULL,
     64,
     {"BtKMPg==", "xzINpA==", "blD7Ym8gwhY=", "Lca70ZYFOKecT05V2eHAqpHF+g0=",
      "UelFRpo5SN6/b8FU6VT9ZiPrvCHaKj7l4+4CZOLO9vI="}},
    {NULL,
     65,
     {"gGzfNw==", "CrU0Tg==", "EJeRQpE8ZCA=", "pn3FReL26KxWZRnP/q3ykEBk2xU=",
      "PD4RPsFvVJJLLFY8cwTZ4Q7U2bVPJm/s+9xjl4oUybQ="}},
    {NULL,
     1000003,
     {"kNaPGQ==", "VSEcOA==", "A4CmkCDtt2c=", "HEJPJWdU7KcckH6YlNWMXOaIUFU=",
      "W9eVJDB48FYTC6VykzoHtNiI3JlImSPhzFwUq7Z4zRs="}},
};

/* The pattern's first 1000003 bytes as three parts of 400000, 400000 and 200003 bytes: each
 * part's digests, and the multipart checksum S3 defines ("checksum of checksums", -3). */
static const uint64_t part_lens[3] = {400000, 400000, 200003};
static const char *const part_b64[S3_CK_COUNT][3] = {
    {"PiF2pw==", "Y27CNA==", "zb8ldA=="},
    {"nh2mTA==", "UCNLtg==", "nd9jmQ=="},
    {"naQaAwmQz2g=", "7ax6oKzsVFU=", "WgRu+ninEYM="},
    {"rH3s8R7HQqqQUXUW8FRr02bsvPg=", "PD9Gsv3FB15sBejkZMuCkhOhUb4=", "mqPATC+3t5uvlD+F1lybECKhOxA="},
    {"EKmv5smw5PPZ07lGJ40/gCIc+bkgfXoUeMfGLZQVCAg=", "WU6FmPa4FwXR4QBndOYHyj71m2TjEXFbFMTO4UULxsw=",
     "FeWUm6si32KetodNn/gdmzudwSc6lcWtvKrZIyajFXo="},
};
static const char *const composite_b64[S3_CK_COUNT] = {
    "wp+ytQ==-3",
    "b1T1Vw==-3",
    "jNYC/Mmq2dQ=-3",
    "hWUNrIyGpbQVrHs3PN5+3Tgxavs=-3",
    "yiTPbXIfCF7eCu07EKdByKeYL29vj39FCuW2KsXlMN4=-3",
};

/* The definitions of the reflected CRCs, one bit at a time: independent of the code under test. */
static uint64_t crc_bitwise(uint64_t poly, int width, const uint8_t *p, size_t len)
{
    uint64_t mask = width == 64 ? ~0ull : (1ull << width) - 1, r = mask;
    for (size_t i = 0; i < len; i++) {
        r ^= p[i];
        for (int bit = 0; bit < 8; bit++)
            r = (r & 1) ? (r >> 1) ^ poly : r >> 1;
    }
    return ~r & mask;
}

static uint64_t reference_crc(enum s3_checksum_algo a, const uint8_t *p, size_t len)
{
    if (a == S3_CK_CRC32)
        return crc_bitwise(0xEDB88320u, 32, p, len);
    if (a == S3_CK_CRC32C)
        return crc_bitwise(0x82F63B78u, 32, p, len);
    return crc_bitwise(0x9A6C9329AC4BC9B5ull, 64, p, len);
}

static const enum s3_checksum_algo crcs[] = {S3_CK_CRC32, S3_CK_CRC32C, S3_CK_CRC64NVME};

/* The base64 digest of len bytes at p, fed to the checksum in pieces of piece bytes (0: one). */
static void digest_b64(enum s3_checksum_algo a, const uint8_t *p, size_t len, size_t piece,
                       char out[S3_CHECKSUM_B64_MAX])
{
    s3_checksum c;
    ck_assert_int_eq(s3_checksum_init(&c, a), 0);
    if (piece == 0)
        piece = len ? len : 1;
    for (size_t off = 0; off < len; off += piece)
        s3_checksum_update(&c, p + off, len - off < piece ? len - off : piece);
    s3_checksum_final_b64(&c, out);
    s3_checksum_free(&c);
}

START_TEST(checksum_names_and_headers_map_both_ways)
{
    const char *names[] = {"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"};
    const char *lower[] = {"crc32", "crc32c", "crc64nvme", "sha1", "sha256"};
    for (int a = 0; a < S3_CK_COUNT; a++) {
        enum s3_checksum_algo got = S3_CK_COUNT;
        char header[64], element[64];
        snprintf(header, sizeof header, "x-amz-checksum-%s", lower[a]);
        snprintf(element, sizeof element, "Checksum%s", names[a]);
        ck_assert_str_eq(s3_checksum_name((enum s3_checksum_algo)a), names[a]);
        ck_assert_str_eq(s3_checksum_header((enum s3_checksum_algo)a), header);
        ck_assert_str_eq(s3_checksum_element((enum s3_checksum_algo)a), element);
        ck_assert_int_eq(s3_checksum_from_name(names[a], &got), 0);
        ck_assert_int_eq(got, a);
        got = S3_CK_COUNT;
        ck_assert_int_eq(s3_checksum_from_name(lower[a], &got), 0);
        ck_assert_int_eq(got, a);
        got = S3_CK_COUNT;
        ck_assert_int_eq(s3_checksum_from_header(header, &got), 0);
        ck_assert_int_eq(got, a);
    }
    enum s3_checksum_algo untouched = S3_CK_SHA1;
    const char *unknown[] = {"", "CRC", "CRC32 ", "MD5", "crc64", "SHA-256", "x-amz-checksum-crc32"};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++)
        ck_assert_int_eq(s3_checksum_from_name(unknown[i], &untouched), -1);
    ck_assert_int_eq(s3_checksum_from_header("x-amz-checksum-md5", &untouched), -1);
    ck_assert_int_eq(s3_checksum_from_header("x-amz-checksum-algorithm", &untouched), -1);
    ck_assert_int_eq(s3_checksum_from_header("crc32", &untouched), -1);
    ck_assert_int_eq(s3_checksum_from_name(NULL, &untouched), -1);
    ck_assert_int_eq(untouched, S3_CK_SHA1);
    ck_assert_ptr_null(s3_checksum_name(S3_CK_COUNT));
    ck_assert_uint_eq(s3_checksum_digest_bytes(S3_CK_COUNT), 0);
    s3_checksum c;
    ck_assert_int_eq(s3_checksum_init(&c, S3_CK_COUNT), FLOE_EINVAL);
}
END_TEST

START_TEST(checksum_crcs_give_the_standard_check_values)
{
    /* the catalogue's check value of each CRC: the CRC of "123456789" */
    ck_assert_uint_eq(s3_crc_extend(S3_CK_CRC32, 0, "123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(s3_crc_extend(S3_CK_CRC32C, 0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(s3_crc_extend(S3_CK_CRC64NVME, 0, "123456789", 9), 0xAE8B14860A799888ull);
    ck_assert_uint_eq(s3_crc_extend(S3_CK_SHA256, 0, "123456789", 9), 0);
    /* and S3 sends them big-endian in base64 */
    s3_checksum c;
    uint8_t raw[S3_CHECKSUM_MAX_BYTES];
    ck_assert_int_eq(s3_checksum_init(&c, S3_CK_CRC64NVME), 0);
    s3_checksum_update(&c, "123456789", 9);
    s3_checksum_final(&c, raw);
    s3_checksum_free(&c);
    const uint8_t want[8] = {0xAE, 0x8B, 0x14, 0x86, 0x0A, 0x79, 0x98, 0x88};
    ck_assert_mem_eq(raw, want, 8);
}
END_TEST

START_TEST(checksum_matches_botocore_and_crcmod_vectors_in_any_pieces)
{
    uint8_t *pattern = malloc(1000003);
    ck_assert_ptr_nonnull(pattern);
    fill_pattern(pattern, 1000003);
    const size_t pieces[] = {0, 1, 7, 64, 4096, 65537};
    for (size_t v = 0; v < sizeof vectors / sizeof *vectors; v++) {
        const uint8_t *p = vectors[v].text ? (const uint8_t *)vectors[v].text : pattern;
        for (int a = 0; a < S3_CK_COUNT; a++)
            for (size_t k = 0; k < sizeof pieces / sizeof *pieces; k++) {
                if (pieces[k] == 1 && vectors[v].len > 100000)
                    continue; /* a million one-byte SHA updates prove nothing more */
                char got[S3_CHECKSUM_B64_MAX];
                digest_b64((enum s3_checksum_algo)a, p, vectors[v].len, pieces[k], got);
                if (strcmp(got, vectors[v].b64[a]) != 0)
                    ck_abort_msg("%s of vector %zu (%zu bytes, pieces of %zu): %s, want %s",
                                 s3_checksum_name((enum s3_checksum_algo)a), v, vectors[v].len, pieces[k],
                                 got, vectors[v].b64[a]);
            }
    }
    free(pattern);
}
END_TEST

START_TEST(checksum_crcs_agree_with_the_bitwise_definition_at_every_length_and_alignment)
{
    enum { MAX_LEN = 1100 };
    uint8_t *buf = malloc(MAX_LEN + 16);
    ck_assert_ptr_nonnull(buf);
    tu_fill_random(buf, MAX_LEN + 16, 42);
    /* every length up to 1100 at each of 16 alignments: the table path, the folding path (64
     * bytes and up) and the tails after it */
    for (size_t off = 0; off < 16; off++)
        for (size_t len = 0; len <= MAX_LEN; len += off < 2 ? 1 : 13)
            for (size_t i = 0; i < 3; i++) {
                uint64_t got = s3_crc_extend(crcs[i], 0, buf + off, len);
                uint64_t want = reference_crc(crcs[i], buf + off, len);
                if (got != want)
                    ck_abort_msg("%s of %zu bytes at offset %zu: %llx, want %llx", s3_checksum_name(crcs[i]),
                                 len, off, (unsigned long long)got, (unsigned long long)want);
            }
    /* CRC32C is crc32c.c's: the same as its table path */
    ck_assert_uint_eq(s3_crc_extend(S3_CK_CRC32C, 0, buf, MAX_LEN), crc32c_sw(0, buf, MAX_LEN));
    /* extending a CRC is computing it over the concatenation, at every split point */
    for (size_t i = 0; i < 3; i++) {
        uint64_t whole = s3_crc_extend(crcs[i], 0, buf, 300);
        for (size_t split = 0; split <= 300; split++)
            ck_assert_uint_eq(
                s3_crc_extend(crcs[i], s3_crc_extend(crcs[i], 0, buf, split), buf + split, 300 - split),
                whole);
    }
    free(buf);
}
END_TEST

START_TEST(checksum_crc_combine_equals_the_crc_of_the_concatenation)
{
    enum { LEN = 70000 };
    uint8_t *buf = malloc(LEN);
    ck_assert_ptr_nonnull(buf);
    tu_fill_random(buf, LEN, 7);
    const size_t splits[] = {0, 1, 15, 16, 17, 64, 1000, 65536, LEN - 1, LEN};
    for (size_t i = 0; i < 3; i++) {
        uint64_t whole = s3_crc_extend(crcs[i], 0, buf, LEN);
        for (size_t s = 0; s < sizeof splits / sizeof *splits; s++) {
            size_t a = splits[s];
            uint64_t crc_a = s3_crc_extend(crcs[i], 0, buf, a),
                     crc_b = s3_crc_extend(crcs[i], 0, buf + a, LEN - a);
            ck_assert_uint_eq(s3_crc_combine(crcs[i], crc_a, crc_b, LEN - a), whole);
        }
    }
    /* lengths past 4 GiB: moving a CRC on 5 GiB at once or in steps of 3 and 2 GiB agrees */
    for (size_t i = 0; i < 3; i++) {
        uint64_t x = s3_crc_extend(crcs[i], 0, "x", 1);
        uint64_t big = 5ull << 30;
        uint64_t one = s3_crc_combine(crcs[i], x, 0, big);
        uint64_t two = s3_crc_combine(crcs[i], s3_crc_combine(crcs[i], x, 0, 3ull << 30), 0, 2ull << 30);
        ck_assert_uint_eq(one, two);
    }
    ck_assert_uint_eq(s3_crc_combine(S3_CK_SHA1, 1, 2, 3), 0);
    free(buf);
}
END_TEST

START_TEST(checksum_multipart_values_match_s3s_definitions)
{
    char out[S3_CHECKSUM_COMPOSITE_MAX];
    for (int a = 0; a < S3_CK_COUNT; a++) {
        ck_assert_int_eq(s3_checksum_composite_b64((enum s3_checksum_algo)a, part_b64[a], 3, out), 0);
        ck_assert_str_eq(out, composite_b64[a]);
    }
    /* FULL_OBJECT: the CRC of the whole object, here the 1000003-byte vector */
    for (size_t i = 0; i < 3; i++) {
        char full[S3_CHECKSUM_B64_MAX];
        ck_assert_int_eq(s3_checksum_full_object_b64(crcs[i], part_b64[crcs[i]], part_lens, 3, full), 0);
        ck_assert_str_eq(full, vectors[8].b64[crcs[i]]);
    }
    /* one part is a composite of one */
    const char *one[] = {"AAAAAA=="};
    ck_assert_int_eq(s3_checksum_composite_b64(S3_CK_CRC32, one, 1, out), 0);
    ck_assert_str_eq(out, "IUTfHA==-1"); /* the CRC32 of four zero bytes, 0x2144DF1C */

    strcpy(out, "untouched");
    const char *bad[][2] = {
        {"PiF2pw==", "PiF2pw="},      /* not base64 */
        {"PiF2pw==", "PiF2pwAA"},     /* 6 bytes, not 4 */
        {"PiF2pw==", "naQaAwmQz2g="}, /* a CRC64 among CRC32s */
        {"PiF2pw==", "PiF2pw== "},    /* whitespace */
        {"PiF2pw==", "PiF2px=="},     /* not the canonical spelling */
        {"PiF2pw==", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(s3_checksum_composite_b64(S3_CK_CRC32, bad[i], 2, out), -1);
        ck_assert_int_eq(s3_checksum_full_object_b64(S3_CK_CRC32, bad[i], part_lens, 2, out), -1);
    }
    const char *with_null[] = {"PiF2pw==", NULL};
    ck_assert_int_eq(s3_checksum_composite_b64(S3_CK_CRC32, with_null, 2, out), -1);
    ck_assert_int_eq(s3_checksum_composite_b64(S3_CK_CRC32, part_b64[0], 0, out), -1);
    ck_assert_int_eq(s3_checksum_full_object_b64(S3_CK_SHA256, part_b64[S3_CK_SHA256], part_lens, 3, out),
                     -1);
    ck_assert_int_eq(s3_checksum_full_object_b64(S3_CK_CRC32, part_b64[0], part_lens, 0, out), -1);
    ck_assert_str_eq(out, "untouched");
}
END_TEST

START_TEST(base64_encodes_rfc4648_vectors_and_decodes_only_canonical_text)
{
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char enc[16];
        uint8_t dec[16];
        size_t n = strlen(plain[i]), got = 99;
        ck_assert_uint_eq(s3_base64_encode(plain[i], n, enc), strlen(coded[i]));
        ck_assert_str_eq(enc, coded[i]);
        ck_assert_int_eq(s3_base64_decode(coded[i], strlen(coded[i]), dec, sizeof dec, &got), 0);
        ck_assert_uint_eq(got, n);
        ck_assert_mem_eq(dec, plain[i], n);
    }
    /* every byte value survives, and '+' and '/' are the alphabet's last two */
    uint8_t all[256], back[256];
    char text[S3_BASE64_LEN(256) + 1];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)(255 - i);
    ck_assert_uint_eq(s3_base64_encode(all, 256, text), S3_BASE64_LEN(256));
    ck_assert_ptr_nonnull(strchr(text, '+'));
    ck_assert_ptr_nonnull(strchr(text, '/'));
    size_t got = 0;
    ck_assert_int_eq(s3_base64_decode(text, strlen(text), back, sizeof back, &got), 0);
    ck_assert_uint_eq(got, 256);
    ck_assert_mem_eq(back, all, 256);

    const char *malformed[] = {
        "Zg=",      /* length not a multiple of 4 */
        "Zg",       /* padding left off */
        "Zh==",     /* unused bits set: Zg== spelled another way */
        "Zm9=",     /* the same with one '=' */
        "Z===",     /* three '=' */
        "====",     /* nothing but padding */
        "=Zg=",     /* '=' first */
        "Zg==Zg==", /* padding in the middle */
        " Zg=",     /* whitespace */
        "Zg==\n",   /* a line end */
        "Zm9v!A==", /* outside the alphabet */
        "Zm9v-_==", /* the URL-safe alphabet */
        "Zm\0v",    /* a NUL */
    };
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
        uint8_t out[16];
        size_t len = i == sizeof malformed / sizeof *malformed - 1 ? 4 : strlen(malformed[i]);
        size_t untouched = 77;
        if (s3_base64_decode(malformed[i], len, out, sizeof out, &untouched) != -1)
            ck_abort_msg("\"%s\" decoded", malformed[i]);
        ck_assert_uint_eq(untouched, 77);
    }
    /* a result longer than the room for it */
    uint8_t small[2];
    size_t untouched = 77;
    ck_assert_int_eq(s3_base64_decode("Zm9v", 4, small, sizeof small, &untouched), -1);
    ck_assert_int_eq(s3_base64_decode("Zm8=", 4, small, sizeof small, &untouched), 0);
    ck_assert_uint_eq(untouched, 2);
}
END_TEST

static Suite *s3_xml_suite(void)
{
    Suite *s = suite_create("s3_xml");
    TCase *ck = tcase_create("checksum");
    tcase_add_test(ck, checksum_names_and_headers_map_both_ways);
    tcase_add_test(ck, checksum_crcs_give_the_standard_check_values);
    tcase_add_test(ck, checksum_matches_botocore_and_crcmod_vectors_in_any_pieces);
    tcase_add_test(ck, checksum_crcs_agree_with_the_bitwise_definition_at_every_length_and_alignment);
    tcase_add_test(ck, checksum_crc_combine_equals_the_crc_of_the_concatenation);
    tcase_add_test(ck, checksum_multipart_values_match_s3s_definitions);
    tcase_add_test(ck, base64_encodes_rfc4648_vectors_and_decodes_only_canonical_text);
    suite_add_tcase(s, ck);
    return s;
}

int main(void)
{
    return tu_run_suite(s3_xml_suite());
}
