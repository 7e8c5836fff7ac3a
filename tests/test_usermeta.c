/* User metadata of the HTTP server (src/server/usermeta.c, declared in http_parse.h): x-floe-meta-*
 * headers into the blob the store keeps, its cap, and reading a blob back, including blobs that
 * another program wrote through the library. The same behaviour over real requests is in
 * test_http_objects.c. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http_parse.h"
#include "testutil.h"

#define CAP 2048

START_TEST(usermeta_headers_become_name_nul_value_nul_pairs_lower_cased)
{
    unsigned char blob[CAP];
    size_t len = 0;
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "Content-Type", "text/plain"), HTTP_META_NOT_META);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "X-Floe-Meta-Owner", "Ann B"), HTTP_META_ADDED);
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "x-floe-meta-a.b_c", "\xc3\xa9t\xc3\xa9\t!"),
                     HTTP_META_ADDED);
    static const char want[] = "owner\0Ann B\0a.b_c\0\xc3\xa9t\xc3\xa9\t!";
    ck_assert_uint_eq(len, sizeof want);
    ck_assert_int_eq(memcmp(blob, want, sizeof want), 0);
    size_t pos = 0;
    const char *name, *value;
    ck_assert_int_eq(http_meta_next(blob, len, &pos, &name, &value), 1);
    ck_assert_str_eq(name, "owner");
    ck_assert_str_eq(value, "Ann B");
    ck_assert_int_eq(http_meta_next(blob, len, &pos, &name, &value), 1);
    ck_assert_str_eq(name, "a.b_c");
    ck_assert_str_eq(value, "\xc3\xa9t\xc3\xa9\t!");
    ck_assert_int_eq(http_meta_next(blob, len, &pos, &name, &value), 0);
}
END_TEST

START_TEST(usermeta_refuses_bad_names_values_and_repeats_and_keeps_the_blob)
{
    unsigned char blob[CAP];
    size_t len = 0;
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "x-floe-meta-k", "v"), HTTP_META_ADDED);
    size_t before = len;
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "x-floe-meta-", "v"), HTTP_META_BAD_NAME);
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "x-floe-meta-a b", "v"), HTTP_META_BAD_NAME);
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "x-floe-meta-a:b", "v"), HTTP_META_BAD_NAME);
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "x-floe-meta-e", ""), HTTP_META_BAD_VALUE);
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "x-floe-meta-e", NULL), HTTP_META_BAD_VALUE);
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "x-floe-meta-e", "a\rb"), HTTP_META_BAD_VALUE);
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "x-floe-meta-e", "a\x7f"), HTTP_META_BAD_VALUE);
    /* the same name in another case is the same name */
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "X-FLOE-META-K", "w"), HTTP_META_REPEATED);
    ck_assert_uint_eq(len, before);
    ck_assert_int_eq(memcmp(blob, "k\0v", 4), 0);
}
END_TEST

/* The cap counts each name and value plus one byte: exactly cap fits, one byte more does not. */
START_TEST(usermeta_fills_to_exactly_its_cap)
{
    unsigned char blob[CAP];
    size_t len = 0;
    char value[CAP];
    memset(value, 'v', sizeof value);
    /* "x-floe-meta-a: <v>" takes 1 + 1 + |v| + 1 bytes: |v| = 2045 is exactly the cap */
    value[2046] = '\0';
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "x-floe-meta-a", value), HTTP_META_TOO_LARGE);
    ck_assert_uint_eq(len, 0);
    value[2045] = '\0';
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "x-floe-meta-a", value), HTTP_META_ADDED);
    ck_assert_uint_eq(len, CAP);
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "x-floe-meta-b", "x"), HTTP_META_TOO_LARGE);
    /* two bytes left are not enough for a one-byte name and value (four bytes) */
    len = 0;
    value[2043] = '\0';
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "x-floe-meta-a", value), HTTP_META_ADDED);
    ck_assert_uint_eq(len, CAP - 2);
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "x-floe-meta-b", "x"), HTTP_META_TOO_LARGE);
    ck_assert_uint_eq(len, CAP - 2);
    /* four are */
    len = 0;
    value[2041] = '\0';
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "x-floe-meta-a", value), HTTP_META_ADDED);
    ck_assert_int_eq(http_meta_add(blob, CAP, &len, "x-floe-meta-b", "x"), HTTP_META_ADDED);
    ck_assert_uint_eq(len, CAP);
}
END_TEST

/* A blob the library was given by another program is read up to its first pair that HTTP could not
 * carry, and never past its end. */
START_TEST(usermeta_reading_stops_at_a_pair_http_cannot_carry)
{
    static const struct {
        const char *blob;
        size_t len;
        int pairs;
    } cases[] = {
        {"a\0b\0", 4, 1},
        {"a\0b\0c\0", 6, 1},         /* a name without a value */
        {"a\0b", 3, 0},              /* a value without its NUL */
        {"a\0b\0C\0d\0", 8, 1},      /* upper case is not what the server writes */
        {"a\0b\0x y\0d\0", 10, 1},   /* not a token */
        {"a\0b\0c\0\0", 7, 1},       /* an empty value */
        {"a\0b\0c\0d\r\n\0", 10, 1}, /* a line break */
        {"\0b\0", 3, 0},             /* an empty name */
        {"", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t pos = 0;
        const char *name, *value;
        int pairs = 0;
        while (http_meta_next((const unsigned char *)cases[i].blob, cases[i].len, &pos, &name, &value))
            pairs++;
        ck_assert_msg(pairs == cases[i].pairs, "case %zu: %d pairs, expected %d", i, pairs, cases[i].pairs);
        ck_assert_uint_eq(pos, cases[i].len);
    }
    size_t pos = 0;
    const char *name, *value;
    ck_assert_int_eq(http_meta_next(NULL, 0, &pos, &name, &value), 0);
}
END_TEST

static Suite *usermeta_suite(void)
{
    Suite *s = suite_create("usermeta");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, usermeta_headers_become_name_nul_value_nul_pairs_lower_cased);
    tcase_add_test(tc, usermeta_refuses_bad_names_values_and_repeats_and_keeps_the_blob);
    tcase_add_test(tc, usermeta_fills_to_exactly_its_cap);
    tcase_add_test(tc, usermeta_reading_stops_at_a_pair_http_cannot_carry);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(usermeta_suite());
}
