/* Tests for the S3 API's checksums (src/server/s3_checksum.c) and request bodies
 * (src/server/s3_xml.c). The checksum vectors were computed once with botocore 1.29.27's
 * httpchecksum (CRC32, SHA-1, SHA-256: what boto3 and the AWS CLI send) and with crcmod 1.7
 * (CRC32C, CRC64NVME, from their polynomials), and are kept here as data; the CRCs are also
 * checked against bit-at-a-time definitions written below and against crc32c.c. The bodies marked
 * "botocore" are what its rest-xml serializer wrote for boto3 calls; the others are written by
 * hand in the shapes other clients send. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "s3_checksum.h"
#include "s3_xml.h"
#include "testutil.h"
#include "xml.h"

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

/* s3_xml_escape of n bytes at s, as a malloc'd string (the test frees it). */
static char *escaped(const char *s, size_t n)
{
    buf_t b;
    buf_init(&b, 1 << 20);
    s3_xml_escape(&b, s, n);
    ck_assert_int_eq(b.failed, 0);
    char *out = buf_take(&b, NULL);
    ck_assert_ptr_nonnull(out);
    return out;
}

static void assert_escapes(const char *s, size_t n, const char *want)
{
    char *got = escaped(s, n);
    if (strcmp(got, want) != 0)
        ck_abort_msg("escape of \"%.*s\": \"%s\", want \"%s\"", (int)n, s, got, want);
    free(got);
}
#define ESCAPES(lit, want) assert_escapes(lit, sizeof lit - 1, want)

struct collected {
    char text[4096];
    size_t len;
};

static int collect_k(void *ctx, const char *path, const char *text, size_t len)
{
    struct collected *c = ctx;
    if (strcmp(path, "K") == 0 && len < sizeof c->text) {
        memcpy(c->text, text, len);
        c->len = len;
    }
    return 0;
}

START_TEST(xml_escape_writes_entities_and_character_references_as_s3_does)
{
    ESCAPES("plain/key-1.txt", "plain/key-1.txt");
    ESCAPES("a&b<c>\"d'e", "a&amp;b&lt;c&gt;&quot;d&apos;e");
    ESCAPES("&amp;", "&amp;amp;");
    ESCAPES("\x01x\x1b\x1f", "&#x1;x&#x1b;&#x1f;");
    ESCAPES("a\tb\nc\rd", "a&#x9;b&#xa;c&#xd;d");
    ESCAPES("nul\0in", "nul&#x0;in");
    ESCAPES("\x7f", "\x7f");
    /* UTF-8, up to U+10FFFF, is copied */
    ESCAPES("caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80/\xf4\x8f\xbf\xbf/\xef\xbf\xbd",
            "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80/\xf4\x8f\xbf\xbf/\xef\xbf\xbd");
    /* what is not UTF-8 becomes U+FFFD, one per bad byte */
    ESCAPES("a\xff"
            "b",
            "a\xef\xbf\xbd"
            "b");
    ESCAPES("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");                                 /* overlong '/' */
    ESCAPES("\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");                 /* overlong '/' */
    ESCAPES("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");                 /* U+D800 */
    ESCAPES("\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* past U+10FFFF */
    ESCAPES("\xe6\x97", "\xef\xbf\xbd\xef\xbf\xbd");                                 /* cut short */
    ESCAPES("\xe6\x97<", "\xef\xbf\xbd\xef\xbf\xbd&lt;");
    /* and so do the noncharacters XML cannot carry, one per character */
    ESCAPES("\xef\xbf\xbe|\xef\xbf\xbf", "\xef\xbf\xbd|\xef\xbf\xbd");

    /* for anything XML 1.0 can carry, a parser gives back exactly the bytes escaped */
    const char *keys[] = {
        "a&b<c>\"d'e", " lead and trail ", "line\r\nends\rand\ttabs\n", "caf\xc3\xa9 \xf0\x9f\x98\x80", "]]>",
        "&#x41;"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char *e = escaped(keys[i], strlen(keys[i]));
        char doc[512];
        snprintf(doc, sizeof doc, "<K attr=\"%s\">%s</K>", e, e);
        struct collected c = {.len = 0};
        ck_assert_int_eq(xml_parse(doc, strlen(doc), "escaped", collect_k, &c), 0);
        ck_assert_uint_eq(c.len, strlen(keys[i]));
        ck_assert_mem_eq(c.text, keys[i], c.len);
        free(e);
    }

    /* a full buffer fails as buf.h says, keeping a true prefix */
    buf_t b;
    buf_init(&b, 8);
    s3_xml_escape(&b, "ab&cd&ef", 8);
    ck_assert_int_eq(b.failed, FLOE_ETOOBIG);
    ck_assert_str_eq(buf_str(&b), "ab&amp;");
    buf_free(&b);
}
END_TEST

/* CompleteMultipartUpload */

static const char botocore_complete[] =
    "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Part><ETag>\""
    "7417ca8d45a71b692168f0419c17fe2f\"</ETag><PartNumber>1</PartNumber><ChecksumCRC32>PiF2pw==</"
    "ChecksumCRC32>"
    "<ChecksumCRC32C>nh2mTA==</ChecksumCRC32C></Part><Part><ETag>\"6f5902ac237024bdd0c176cb93063dc4\"</ETag>"
    "<PartNumber>2</PartNumber><ChecksumSHA1>PD9Gsv3FB15sBejkZMuCkhOhUb4=</ChecksumSHA1><ChecksumSHA256>"
    "WU6FmPa4FwXR4QBndOYHyj71m2TjEXFbFMTO4UULxsw=</ChecksumSHA256></Part><Part><ETag>\""
    "d41d8cd98f00b204e9800998ecf8427e\"</ETag><PartNumber>3</PartNumber></Part></CompleteMultipartUpload>";

/* The shape newer SDKs send with CRC64NVME, pretty-printed with an XML declaration and the quotes
 * of the ETags as entities, as some clients (and the S3 documentation's examples) write them. */
static const char pretty_complete[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\r\n"
    "  <Part>\r\n"
    "    <PartNumber> 1 </PartNumber>\r\n"
    "    <ETag>&quot;df38b7a75236d2b16ce24c6f770b2615&quot;</ETag>\r\n"
    "    <ChecksumCRC64NVME>\n      naQaAwmQz2g=\n    </ChecksumCRC64NVME>\r\n"
    "  </Part>\r\n"
    "  <Part><PartNumber>+2</PartNumber><ETag>df38b7a75236d2b16ce24c6f770b2615-3</ETag></Part>\r\n"
    "</CompleteMultipartUpload>\r\n";

/* Parses a complete body that must fail with code, and checks msg mentions what. */
static void assert_complete_fails(const char *body, size_t len, const char *code, const char *what)
{
    s3_complete_part *parts = (s3_complete_part *)&parts; /* must stay untouched */
    size_t n = 12345;
    const char *got = NULL;
    char msg[512] = "";
    int rc = s3_xml_parse_complete(body, len, &parts, &n, &got, msg, sizeof msg);
    if (rc != -1 || !got || strcmp(got, code) != 0)
        ck_abort_msg("body \"%.*s\": rc %d code %s (%s), want %s", (int)(len > 200 ? 200 : len), body, rc,
                     got ? got : "none", msg, code);
    ck_assert_ptr_eq(parts, (s3_complete_part *)&parts);
    ck_assert_uint_eq(n, 12345);
    if (what && !strstr(msg, what))
        ck_abort_msg("message \"%s\" does not say \"%s\"", msg, what);
}
#define COMPLETE_FAILS(lit, code, what) assert_complete_fails(lit, sizeof lit - 1, code, what)

static s3_complete_part *parse_complete_ok(const char *body, size_t len, size_t *n)
{
    s3_complete_part *parts = NULL;
    const char *code = NULL;
    char msg[512] = "";
    if (s3_xml_parse_complete(body, len, &parts, n, &code, msg, sizeof msg) != 0)
        ck_abort_msg("refused: %s: %s", code ? code : "none", msg);
    ck_assert_ptr_nonnull(parts);
    return parts;
}

START_TEST(complete_reads_the_parts_boto3_and_other_clients_send)
{
    size_t n = 0;
    s3_complete_part *p = parse_complete_ok(botocore_complete, sizeof botocore_complete - 1, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(p[0].part_number, 1);
    ck_assert_str_eq(p[0].etag, "7417ca8d45a71b692168f0419c17fe2f");
    ck_assert_str_eq(p[0].checksum[S3_CK_CRC32], "PiF2pw==");
    ck_assert_str_eq(p[0].checksum[S3_CK_CRC32C], "nh2mTA==");
    ck_assert_str_eq(p[0].checksum[S3_CK_SHA1], "");
    ck_assert_uint_eq(p[1].part_number, 2);
    ck_assert_str_eq(p[1].etag, "6f5902ac237024bdd0c176cb93063dc4");
    ck_assert_str_eq(p[1].checksum[S3_CK_SHA1], "PD9Gsv3FB15sBejkZMuCkhOhUb4=");
    ck_assert_str_eq(p[1].checksum[S3_CK_SHA256], "WU6FmPa4FwXR4QBndOYHyj71m2TjEXFbFMTO4UULxsw=");
    ck_assert_str_eq(p[1].checksum[S3_CK_CRC32], "");
    ck_assert_uint_eq(p[2].part_number, 3);
    ck_assert_str_eq(p[2].etag, "d41d8cd98f00b204e9800998ecf8427e");
    for (int a = 0; a < S3_CK_COUNT; a++)
        ck_assert_str_eq(p[2].checksum[a], "");
    free(p);

    p = parse_complete_ok(pretty_complete, sizeof pretty_complete - 1, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(p[0].part_number, 1);
    ck_assert_str_eq(p[0].etag, "df38b7a75236d2b16ce24c6f770b2615");
    ck_assert_str_eq(p[0].checksum[S3_CK_CRC64NVME], "naQaAwmQz2g=");
    ck_assert_uint_eq(p[1].part_number, 2);
    ck_assert_str_eq(p[1].etag, "df38b7a75236d2b16ce24c6f770b2615-3"); /* no quotes: kept as sent */
    free(p);

    /* no xmlns, parts out of order and repeated (the caller's InvalidPartOrder), elements this
     * parser does not know skipped wherever they are, an empty ETag kept */
    static const char loose[] =
        "<CompleteMultipartUpload><Extra>1</Extra><Part><Size>5</Size><PartNumber>9</PartNumber>"
        "<ETag>\"\"</ETag><Sub><PartNumber>x</PartNumber></Sub></Part>"
        "<Part><PartNumber>9</PartNumber><ETag>\"a\"b\"</ETag></Part>"
        "<Part><PartNumber>10000</PartNumber><ETag>\"</ETag></Part></CompleteMultipartUpload>";
    p = parse_complete_ok(loose, sizeof loose - 1, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(p[0].part_number, 9);
    ck_assert_str_eq(p[0].etag, "");
    ck_assert_uint_eq(p[1].part_number, 9);
    ck_assert_str_eq(p[1].etag, "a\"b");
    ck_assert_uint_eq(p[2].part_number, 10000);
    ck_assert_str_eq(p[2].etag, "\""); /* one quote is not a pair */
    free(p);
}
END_TEST

START_TEST(complete_refuses_part_numbers_outside_1_to_10000)
{
    COMPLETE_FAILS("<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>\"e\"</ETag></Part>"
                   "</CompleteMultipartUpload>",
                   "InvalidArgument", "between 1 and 10000");
    COMPLETE_FAILS("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>"
                   "<Part><PartNumber>10001</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
                   "InvalidArgument", "part 2's is 10001");
    COMPLETE_FAILS("<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber><ETag>e</ETag></Part>"
                   "</CompleteMultipartUpload>",
                   "InvalidArgument", NULL);
    COMPLETE_FAILS(
        "<CompleteMultipartUpload><Part><PartNumber>99999999999999999999999</PartNumber><ETag>e</ETag>"
        "</Part></CompleteMultipartUpload>",
        "InvalidArgument", NULL);
    COMPLETE_FAILS("<CompleteMultipartUpload><Part><PartNumber>4294967297</PartNumber><ETag>e</ETag>"
                   "</Part></CompleteMultipartUpload>",
                   "InvalidArgument", NULL); /* 2^32 + 1 must not wrap to 1 */
    const char *not_numbers[] = {"", " ", "abc", "1.5", "1 2", "0x10", "+", "-", "1e3", "\xd9\xa1"};
    for (size_t i = 0; i < sizeof not_numbers / sizeof *not_numbers; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "<CompleteMultipartUpload><Part><PartNumber>%s</PartNumber><ETag>e</ETag></Part>"
                 "</CompleteMultipartUpload>",
                 not_numbers[i]);
        assert_complete_fails(body, strlen(body), "MalformedXML", "not an integer");
    }
}
END_TEST

/* A CompleteMultipartUpload body of n parts numbered 1, 2, ... (from 1 again after 10000), as a
 * malloc'd string. */
static char *complete_with_parts(size_t n, size_t *len)
{
    buf_t b;
    buf_init(&b, 64u << 20);
    buf_puts(&b, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (size_t i = 1; i <= n; i++)
        buf_printf(&b, "<Part><PartNumber>%zu</PartNumber><ETag>\"%032zx\"</ETag></Part>",
                   (i - 1) % 10000 + 1, i);
    buf_puts(&b, "</CompleteMultipartUpload>");
    ck_assert_int_eq(b.failed, 0);
    return buf_take(&b, len);
}

START_TEST(complete_takes_10000_parts_and_refuses_10001)
{
    size_t len = 0, n = 0;
    char *body = complete_with_parts(10000, &len);
    s3_complete_part *p = parse_complete_ok(body, len, &n);
    ck_assert_uint_eq(n, 10000);
    ck_assert_uint_eq(p[9999].part_number, 10000);
    ck_assert_str_eq(p[9999].etag, "00000000000000000000000000002710");
    free(p);
    free(body);
    body = complete_with_parts(10001, &len);
    assert_complete_fails(body, len, "MalformedXML", "more than 10000 parts");
    free(body);
}
END_TEST

START_TEST(complete_refuses_bodies_that_are_not_a_list_of_parts)
{
    assert_complete_fails("", 0, "MalformedXML", "empty");
    COMPLETE_FAILS("not xml", "MalformedXML", "bad XML");
    COMPLETE_FAILS("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>", "MalformedXML", "bad XML");
    COMPLETE_FAILS("<CompleteMultipartUpload><Part></CompleteMultipartUpload>", "MalformedXML", NULL);
    COMPLETE_FAILS("<CompleteMultipartUpload/>", "MalformedXML", "at least one Part");
    COMPLETE_FAILS("<CompleteMultipartUpload "
                   "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n</CompleteMultipartUpload>",
                   "MalformedXML", "at least one Part");
    COMPLETE_FAILS("<Delete><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></Delete>", "MalformedXML",
                   "root element is <Delete>");
    COMPLETE_FAILS("<CompleteMultipartUploadX><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>"
                   "</CompleteMultipartUploadX>",
                   "MalformedXML", "root element");
    COMPLETE_FAILS(
        "<s3:CompleteMultipartUpload xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\"><s3:Part>"
        "<s3:PartNumber>1</s3:PartNumber><s3:ETag>e</s3:ETag></s3:Part></s3:CompleteMultipartUpload>",
        "MalformedXML", "root element");
    COMPLETE_FAILS("<CompleteMultipartUpload><Part><ETag>e</ETag></Part></CompleteMultipartUpload>",
                   "MalformedXML", "part 1 has no PartNumber");
    COMPLETE_FAILS("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part><Part>"
                   "<PartNumber>2</PartNumber></Part></CompleteMultipartUpload>",
                   "MalformedXML", "part 2 has no ETag");
    COMPLETE_FAILS(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber><ETag>e</ETag>"
        "</Part></CompleteMultipartUpload>",
        "MalformedXML", "two PartNumber");
    COMPLETE_FAILS(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><ETag>e</ETag></Part>"
        "</CompleteMultipartUpload>",
        "MalformedXML", "two ETag");
    COMPLETE_FAILS(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><ChecksumCRC32>AAAAAA=="
        "</ChecksumCRC32><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></CompleteMultipartUpload>",
        "MalformedXML", "two ChecksumCRC32");
    /* xml.c refuses a DOCTYPE, so no entity can expand */
    COMPLETE_FAILS(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]>"
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&lol2;</ETag></Part>"
        "</CompleteMultipartUpload>",
        "MalformedXML", "DOCTYPE");
    COMPLETE_FAILS("<!DOCTYPE x SYSTEM \"file:///etc/passwd\"><CompleteMultipartUpload/>", "MalformedXML",
                   "DOCTYPE");
    /* an entity that is not defined, invalid UTF-8, a control character reference */
    COMPLETE_FAILS("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&nbsp;</ETag></Part>"
                   "</CompleteMultipartUpload>",
                   "MalformedXML", "bad XML");
    COMPLETE_FAILS("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\xff</ETag></Part>"
                   "</CompleteMultipartUpload>",
                   "MalformedXML", "bad XML");
    COMPLETE_FAILS("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&#x1;</ETag></Part>"
                   "</CompleteMultipartUpload>",
                   "MalformedXML", "bad XML");
}
END_TEST

START_TEST(complete_refuses_checksums_and_etags_that_cannot_name_a_part)
{
    COMPLETE_FAILS(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><ChecksumCRC32>PiF2pw="
        "</ChecksumCRC32></Part></CompleteMultipartUpload>",
        "InvalidArgument", "Part 1's ChecksumCRC32 is not the base64 of a 4-byte CRC32 checksum");
    COMPLETE_FAILS("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><ChecksumSHA256>"
                   "PiF2pw==</ChecksumSHA256></Part></CompleteMultipartUpload>",
                   "InvalidArgument", "ChecksumSHA256");
    COMPLETE_FAILS(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><ChecksumCRC64NVME>"
        "</ChecksumCRC64NVME></Part></CompleteMultipartUpload>",
        "InvalidArgument", "ChecksumCRC64NVME");
    /* 71 bytes of ETag fit, 72 do not */
    char body[512], etag[80];
    memset(etag, 'e', 71);
    etag[71] = '\0';
    snprintf(body, sizeof body,
             "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"%s\"</ETag></Part>"
             "</CompleteMultipartUpload>",
             etag);
    size_t n = 0;
    s3_complete_part *p = parse_complete_ok(body, strlen(body), &n);
    ck_assert_str_eq(p[0].etag, etag);
    free(p);
    snprintf(body, sizeof body,
             "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"%se\"</ETag></Part>"
             "</CompleteMultipartUpload>",
             etag);
    assert_complete_fails(body, strlen(body), "InvalidPart", "72 bytes");
}
END_TEST

START_TEST(parsers_cut_the_message_to_its_room_and_write_none_without_room)
{
    const char *code = NULL;
    char msg[16];
    memset(msg, 'x', sizeof msg);
    s3_complete_part *parts = NULL;
    size_t n = 0;
    ck_assert_int_eq(s3_xml_parse_complete("<x/>", 4, &parts, &n, &code, msg, sizeof msg), -1);
    ck_assert_str_eq(code, "MalformedXML");
    ck_assert_uint_eq(strlen(msg), sizeof msg - 1);
    ck_assert(strncmp(msg, "The XML you pro", 15) == 0);
    memset(msg, 'x', sizeof msg);
    code = NULL;
    ck_assert_int_eq(s3_xml_parse_complete("<x/>", 4, &parts, &n, &code, msg, 0), -1);
    ck_assert_str_eq(code, "MalformedXML");
    ck_assert_int_eq(msg[0], 'x');
    ck_assert_ptr_null(parts);
}
END_TEST

/* DeleteObjects */

static const char botocore_delete[] =
    "<Delete "
    "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Object><Key>a&amp;b&lt;c&gt;\"d'e</Key></Object>"
    "<Object><Key>caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80</Key><VersionId>"
    "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY</VersionId></Object><Object><Key> "
    "</Key></Object><Quiet>true</Quiet></Delete>";

static void assert_delete_fails(const char *body, size_t len, const char *code, const char *what)
{
    s3_delete_request r = {.quiet = 7, .n = 12345};
    const char *got = NULL;
    char msg[512] = "";
    int rc = s3_xml_parse_delete(body, len, &r, &got, msg, sizeof msg);
    if (rc != -1 || !got || strcmp(got, code) != 0)
        ck_abort_msg("body \"%.*s\": rc %d code %s (%s), want %s", (int)(len > 200 ? 200 : len), body, rc,
                     got ? got : "none", msg, code);
    ck_assert_int_eq(r.quiet, 7);
    ck_assert_uint_eq(r.n, 12345);
    ck_assert_ptr_null(r.keys);
    if (what && !strstr(msg, what))
        ck_abort_msg("message \"%s\" does not say \"%s\"", msg, what);
}
#define DELETE_FAILS(lit, code, what) assert_delete_fails(lit, sizeof lit - 1, code, what)

static void parse_delete_ok(const char *body, size_t len, s3_delete_request *r)
{
    const char *code = NULL;
    char msg[512] = "";
    if (s3_xml_parse_delete(body, len, r, &code, msg, sizeof msg) != 0)
        ck_abort_msg("refused: %s: %s", code ? code : "none", msg);
}

START_TEST(delete_reads_the_keys_boto3_sends_exactly)
{
    s3_delete_request r;
    parse_delete_ok(botocore_delete, sizeof botocore_delete - 1, &r);
    ck_assert_int_eq(r.quiet, 1);
    ck_assert_uint_eq(r.n, 3);
    ck_assert_uint_eq(r.key_lens[0], 10);
    ck_assert_str_eq(r.keys[0], "a&b<c>\"d'e");
    ck_assert_ptr_null(r.version_ids[0]);
    ck_assert_str_eq(r.keys[1], "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80");
    ck_assert_uint_eq(r.key_lens[1], strlen(r.keys[1]));
    ck_assert_str_eq(r.version_ids[1], "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY");
    ck_assert_str_eq(r.keys[2], " "); /* a key of one space is a key */
    ck_assert_uint_eq(r.key_lens[2], 1);
    s3_delete_request_free(&r);
    ck_assert_uint_eq(r.n, 0);
    ck_assert_ptr_null(r.keys);
    s3_delete_request_free(&r); /* twice is harmless */

    /* whitespace and line ends inside a key are the key's; a CR survives only as a reference;
     * Quiet false, or left out; an empty key is the caller's to answer per key */
    static const char spaced[] =
        "<Delete>\n <Quiet> False </Quiet>\n <Object>\n  <Key>  two\n lines\t</Key>\n </Object>"
        "<Object><Key>cr&#13;lf&#10;&#x9;</Key><Unknown/></Object><Object><Key/></Object>"
        "<Object><VersionId></VersionId><Key>v</Key></Object></Delete>";
    parse_delete_ok(spaced, sizeof spaced - 1, &r);
    ck_assert_int_eq(r.quiet, 0);
    ck_assert_uint_eq(r.n, 4);
    ck_assert_str_eq(r.keys[0], "  two\n lines\t");
    ck_assert_str_eq(r.keys[1], "cr\rlf\n\t");
    ck_assert_uint_eq(r.key_lens[2], 0);
    ck_assert_str_eq(r.keys[2], "");
    ck_assert_str_eq(r.keys[3], "v");
    ck_assert_str_eq(r.version_ids[3], "");
    s3_delete_request_free(&r);

    static const char quiet_forms[][96] = {
        "<Delete><Object><Key>k</Key></Object></Delete>",
        "<Delete><Quiet>1</Quiet><Object><Key>k</Key></Object></Delete>",
        "<Delete><Object><Key>k</Key></Object><Quiet>0</Quiet></Delete>",
        "<Delete><Object><Key>k</Key></Object><Quiet>TRUE</Quiet></Delete>",
    };
    const int quiet_want[] = {0, 1, 0, 1};
    for (size_t i = 0; i < 4; i++) {
        parse_delete_ok(quiet_forms[i], strlen(quiet_forms[i]), &r);
        ck_assert_int_eq(r.quiet, quiet_want[i]);
        ck_assert_uint_eq(r.n, 1);
        s3_delete_request_free(&r);
    }
}
END_TEST

/* A Delete body of n objects with keys "key-<i>", as a malloc'd string. */
static char *delete_with_objects(size_t n, size_t *len)
{
    buf_t b;
    buf_init(&b, 8u << 20);
    buf_puts(&b, "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (size_t i = 0; i < n; i++)
        buf_printf(&b, "<Object><Key>key-%zu</Key></Object>", i);
    buf_puts(&b, "<Quiet>true</Quiet></Delete>");
    ck_assert_int_eq(b.failed, 0);
    return buf_take(&b, len);
}

START_TEST(delete_takes_1000_objects_and_refuses_1001)
{
    size_t len = 0;
    char *body = delete_with_objects(1000, &len);
    s3_delete_request r;
    parse_delete_ok(body, len, &r);
    ck_assert_uint_eq(r.n, 1000);
    ck_assert_str_eq(r.keys[999], "key-999");
    s3_delete_request_free(&r);
    free(body);
    body = delete_with_objects(1001, &len);
    assert_delete_fails(body, len, "MalformedXML", "more than 1000 objects");
    free(body);
}
END_TEST

START_TEST(delete_takes_keys_of_1024_bytes_and_refuses_longer)
{
    /* 1024 bytes of which most are a three-byte character, and the limit is in bytes */
    char key[1100];
    size_t k = 0;
    while (k + 3 <= 1023) {
        memcpy(key + k, "\xe6\x97\xa5", 3);
        k += 3;
    }
    while (k < 1024)
        key[k++] = 'x';
    key[k] = '\0';
    char body[1400];
    snprintf(body, sizeof body, "<Delete><Object><Key>%s</Key></Object></Delete>", key);
    s3_delete_request r;
    parse_delete_ok(body, strlen(body), &r);
    ck_assert_uint_eq(r.key_lens[0], 1024);
    ck_assert_str_eq(r.keys[0], key);
    s3_delete_request_free(&r);
    snprintf(body, sizeof body, "<Delete><Object><Key>%sx</Key></Object></Delete>", key);
    assert_delete_fails(body, strlen(body), "KeyTooLongError", "1025 bytes");
    /* an escaped character counts once: 1020 x and one &amp; are 1021 bytes */
    memset(key, 'x', 1020);
    key[1020] = '\0';
    snprintf(body, sizeof body, "<Delete><Object><Key>%s&amp;</Key></Object></Delete>", key);
    parse_delete_ok(body, strlen(body), &r);
    ck_assert_uint_eq(r.key_lens[0], 1021);
    s3_delete_request_free(&r);
}
END_TEST

START_TEST(delete_refuses_bodies_that_are_not_a_list_of_objects)
{
    assert_delete_fails("", 0, "MalformedXML", "empty");
    DELETE_FAILS("   ", "MalformedXML", "bad XML");
    DELETE_FAILS("<Delete>", "MalformedXML", "bad XML");
    DELETE_FAILS("<Delete/>", "MalformedXML", "at least one Object");
    DELETE_FAILS("<Delete><Quiet>true</Quiet></Delete>", "MalformedXML", "at least one Object");
    DELETE_FAILS("<Delete><Object><VersionId>v</VersionId></Object></Delete>", "MalformedXML",
                 "object 1 has no Key");
    DELETE_FAILS("<Delete><Object><Key>a</Key></Object><Object><Key>a</Key><Key>b</Key></Object></Delete>",
                 "MalformedXML", "object 2 has two Key");
    DELETE_FAILS(
        "<Delete><Object><Key>a</Key><VersionId>1</VersionId><VersionId>2</VersionId></Object></Delete>",
        "MalformedXML", "two VersionId");
    DELETE_FAILS("<Delete><Quiet>true</Quiet><Quiet>true</Quiet><Object><Key>a</Key></Object></Delete>",
                 "MalformedXML", "two Quiet");
    DELETE_FAILS("<Delete><Quiet>yes</Quiet><Object><Key>a</Key></Object></Delete>", "MalformedXML",
                 "\"yes\"");
    DELETE_FAILS("<Delete><Quiet></Quiet><Object><Key>a</Key></Object></Delete>", "MalformedXML", "Quiet");
    DELETE_FAILS("<DeleteObjects><Object><Key>a</Key></Object></DeleteObjects>", "MalformedXML",
                 "root element is <DeleteObjects>");
    DELETE_FAILS("<Delete><Object><Key>a</Key></Object></Delete><Delete/>", "MalformedXML", "bad XML");
    DELETE_FAILS("<!DOCTYPE Delete [<!ENTITY k \"key\">]><Delete><Object><Key>&k;</Key></Object></Delete>",
                 "MalformedXML", "DOCTYPE");
    /* a failure after keys were collected frees them (ASan checks) and leaves *out alone */
    DELETE_FAILS("<Delete><Object><Key>a</Key></Object><Object><Key>b</Key></Object><Object><Key>c</Key>"
                 "<VersionId>x</VersionId><Key>d</Key></Object></Delete>",
                 "MalformedXML", "object 3");
    DELETE_FAILS("<Delete><Object><Key>a</Key></Object><Object><Key>b</Key><VersionId>v</VersionId>",
                 "MalformedXML", "bad XML");
}
END_TEST

/* CreateBucket */

static void assert_create_bucket_is(const char *body, size_t len, const char *want)
{
    char location[S3_XML_LOCATION_MAX];
    memset(location, 'x', sizeof location);
    const char *code = NULL;
    char msg[512] = "";
    if (s3_xml_parse_create_bucket(body, len, location, sizeof location, &code, msg, sizeof msg) != 0)
        ck_abort_msg("refused \"%.*s\": %s: %s", (int)len, body, code ? code : "none", msg);
    ck_assert_str_eq(location, want);
}
#define CREATE_BUCKET_IS(lit, want) assert_create_bucket_is(lit, sizeof lit - 1, want)

static void assert_create_bucket_fails(const char *body, size_t len, size_t cap, const char *code,
                                       const char *what)
{
    char location[S3_XML_LOCATION_MAX + 8] = "untouched";
    const char *got = NULL;
    char msg[512] = "";
    int rc = s3_xml_parse_create_bucket(body, len, location, cap, &got, msg, sizeof msg);
    if (rc != -1 || !got || strcmp(got, code) != 0)
        ck_abort_msg("body \"%.*s\": rc %d code %s (%s), want %s", (int)len, body, rc, got ? got : "none",
                     msg, code);
    ck_assert_str_eq(location, "untouched");
    if (what && !strstr(msg, what))
        ck_abort_msg("message \"%s\" does not say \"%s\"", msg, what);
}
#define CREATE_BUCKET_FAILS(lit, code, what)                                                                 \
    assert_create_bucket_fails(lit, sizeof lit - 1, S3_XML_LOCATION_MAX, code, what)

START_TEST(create_bucket_reads_the_region_or_none)
{
    /* botocore sends no body for us-east-1, and this for any other region */
    CREATE_BUCKET_IS("", "");
    CREATE_BUCKET_IS(
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>"
        "eu-west-1</LocationConstraint></CreateBucketConfiguration>",
        "eu-west-1");
    CREATE_BUCKET_IS(" \r\n\t", "");
    CREATE_BUCKET_IS(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateBucketConfiguration>\n  <LocationConstraint>"
        " us-west-2 </LocationConstraint>\n</CreateBucketConfiguration>\n",
        "us-west-2");
    CREATE_BUCKET_IS("<CreateBucketConfiguration/>", "");
    CREATE_BUCKET_IS("<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>", "");
    CREATE_BUCKET_IS(
        "<CreateBucketConfiguration><LocationConstraint>EU</LocationConstraint></CreateBucketConfiguration>",
        "EU");
    /* the directory-bucket and tag elements of newer SDKs are skipped */
    CREATE_BUCKET_IS(
        "<CreateBucketConfiguration><Location><Name>usw2-az1</Name><Type>AvailabilityZone</Type>"
        "</Location><Bucket><DataRedundancy>SingleAvailabilityZone</DataRedundancy><Type>Directory</Type>"
        "</Bucket><Tags><Tag><Key>k</Key><Value>v</Value></Tag></Tags></CreateBucketConfiguration>",
        "");
    /* a region that just fits */
    char body[256], region[S3_XML_LOCATION_MAX];
    memset(region, 'r', sizeof region - 1);
    region[sizeof region - 1] = '\0';
    snprintf(body, sizeof body,
             "<CreateBucketConfiguration><LocationConstraint>%s</LocationConstraint>"
             "</CreateBucketConfiguration>",
             region);
    assert_create_bucket_is(body, strlen(body), region);
}
END_TEST

START_TEST(create_bucket_refuses_what_is_not_a_configuration)
{
    CREATE_BUCKET_FAILS("x", "MalformedXML", "bad XML");
    CREATE_BUCKET_FAILS("<CreateBucketConfiguration>", "MalformedXML", "bad XML");
    CREATE_BUCKET_FAILS("<CreateBucket><LocationConstraint>eu-west-1</LocationConstraint></CreateBucket>",
                        "MalformedXML", "root element is <CreateBucket>");
    CREATE_BUCKET_FAILS(
        "<CreateBucketConfiguration><LocationConstraint>a</LocationConstraint><LocationConstraint>b"
        "</LocationConstraint></CreateBucketConfiguration>",
        "MalformedXML", "two LocationConstraint");
    CREATE_BUCKET_FAILS(
        "<!DOCTYPE r [<!ENTITY r \"eu-west-1\">]><CreateBucketConfiguration><LocationConstraint>&r;"
        "</LocationConstraint></CreateBucketConfiguration>",
        "MalformedXML", "DOCTYPE");
    /* a region longer than the room for it, or than any region */
    static const char body[] = "<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint>"
                               "</CreateBucketConfiguration>";
    assert_create_bucket_fails(body, sizeof body - 1, 9, "InvalidLocationConstraint", "9 bytes");
    assert_create_bucket_fails(body, sizeof body - 1, 0, "InvalidLocationConstraint", NULL);
    char big[256], region[S3_XML_LOCATION_MAX + 1];
    memset(region, 'r', sizeof region - 1);
    region[sizeof region - 1] = '\0';
    snprintf(big, sizeof big,
             "<CreateBucketConfiguration><LocationConstraint>%s</LocationConstraint>"
             "</CreateBucketConfiguration>",
             region);
    assert_create_bucket_fails(big, strlen(big), S3_XML_LOCATION_MAX + 8, "InvalidLocationConstraint", NULL);
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
    TCase *xml = tcase_create("xml");
    tcase_add_test(xml, xml_escape_writes_entities_and_character_references_as_s3_does);
    tcase_add_test(xml, complete_reads_the_parts_boto3_and_other_clients_send);
    tcase_add_test(xml, complete_refuses_part_numbers_outside_1_to_10000);
    tcase_add_test(xml, complete_takes_10000_parts_and_refuses_10001);
    tcase_add_test(xml, complete_refuses_bodies_that_are_not_a_list_of_parts);
    tcase_add_test(xml, complete_refuses_checksums_and_etags_that_cannot_name_a_part);
    tcase_add_test(xml, parsers_cut_the_message_to_its_room_and_write_none_without_room);
    tcase_add_test(xml, delete_reads_the_keys_boto3_sends_exactly);
    tcase_add_test(xml, delete_takes_1000_objects_and_refuses_1001);
    tcase_add_test(xml, delete_takes_keys_of_1024_bytes_and_refuses_longer);
    tcase_add_test(xml, delete_refuses_bodies_that_are_not_a_list_of_objects);
    tcase_add_test(xml, create_bucket_reads_the_region_or_none);
    tcase_add_test(xml, create_bucket_refuses_what_is_not_a_configuration);
    suite_add_tcase(s, xml);
    return s;
}

int main(void)
{
    return tu_run_suite(s3_xml_suite());
}
