/* Tests for src/retention.c: which rule decides, what never expires, the age boundary, and the
 * copy floe_open keeps. */
#include <stdlib.h>
#include <string.h>

#include "retention.h"
#include "testutil.h"

#define T 1795320208000ull /* a write time, unix ms */

static floe_options with_rules(const floe_retention_rule *rules, size_t n)
{
    floe_options o;
    floe_options_init(&o);
    o.retention = rules;
    o.retention_count = n;
    return o;
}

static int expired(const floe_options *o, const char *key, uint64_t write_ms, uint64_t now_ms)
{
    return retention_expired(o, key, strlen(key), write_ms, now_ms);
}

START_TEST(retention_without_rules_nothing_expires)
{
    floe_options o = with_rules(NULL, 0);
    ck_assert_int_eq(retention_enabled(&o), 0);
    ck_assert_int_eq(expired(&o, "logs/a", 1, UINT64_MAX), 0);
    ck_assert_int_eq(retention_check(&o), 0);
}
END_TEST

START_TEST(retention_the_longest_matching_prefix_decides)
{
    /* Listed in an order where the first match is not the most specific one. */
    floe_retention_rule rules[] = {
        {"", 3600}, {"logs/", 60}, {"logs/audit/", 0}, {"logs/audit/tmp/", 10}, {"logsx", 5},
    };
    floe_options o = with_rules(rules, 5);
    ck_assert_int_eq(retention_check(&o), 0);
    ck_assert_int_eq(retention_enabled(&o), 1);
    ck_assert_int_eq(expired(&o, "logs/a", T, T + 59999), 0);
    ck_assert_int_eq(expired(&o, "logs/a", T, T + 60000), 1);
    ck_assert_int_eq(expired(&o, "logs/audit/a", T, T + 100ull * 365 * 86400 * 1000), 0);
    ck_assert_int_eq(expired(&o, "logs/audit/tmp/a", T, T + 10000), 1);
    ck_assert_int_eq(expired(&o, "logs/audit/tmp/a", T, T + 9999), 0);
    ck_assert_int_eq(expired(&o, "logsx/a", T, T + 5000), 1);
    /* The default rule "" covers the rest, the prefix itself included. */
    ck_assert_int_eq(expired(&o, "other", T, T + 3599999), 0);
    ck_assert_int_eq(expired(&o, "other", T, T + 3600000), 1);
    ck_assert_int_eq(expired(&o, "logs/", T, T + 60000), 1);
    ck_assert_int_eq(expired(&o, "logs", T, T + 60000), 0); /* "" (3600 s), not "logs/" */
    /* Binary keys compare bytewise. */
    ck_assert_int_eq(retention_expired(&o, "logs/\0\xff", 7, T, T + 60000), 1);
}
END_TEST

START_TEST(retention_unknown_write_times_and_clocks_stepped_back_never_expire)
{
    floe_retention_rule rules[] = {{"", 1}};
    floe_options o = with_rules(rules, 1);
    ck_assert_int_eq(expired(&o, "k", 0, UINT64_MAX), 0); /* written before write times */
    ck_assert_int_eq(expired(&o, "k", T, T - 5000), 0);   /* the clock went back */
    ck_assert_int_eq(expired(&o, "k", T, T), 0);
    ck_assert_int_eq(expired(&o, "k", UINT64_MAX, UINT64_MAX), 0);
    floe_retention_rule longest[] = {{"", RETENTION_MAX_AGE_S}};
    o = with_rules(longest, 1);
    ck_assert_int_eq(retention_check(&o), 0);
    ck_assert_int_eq(expired(&o, "k", 1, UINT64_MAX), 1); /* no overflow in max_age_s * 1000 */
    ck_assert_int_eq(expired(&o, "k", T, T + RETENTION_MAX_AGE_S * 1000 - 1), 0);
}
END_TEST

START_TEST(retention_copy_owns_rules_and_prefixes)
{
    char *a = strdup("logs/"), *b = strdup("");
    floe_retention_rule *rules = malloc(2 * sizeof *rules);
    rules[0] = (floe_retention_rule){a, 60};
    rules[1] = (floe_retention_rule){b, 0};
    floe_options o = with_rules(rules, 2);
    void *owned = NULL;
    ck_assert_int_eq(retention_copy(&o, &owned), 0);
    ck_assert_ptr_nonnull(owned);
    ck_assert_ptr_ne(o.retention, rules);
    memset(a, 'x', 5);
    free(a);
    free(b);
    free(rules);
    ck_assert_str_eq(o.retention[0].prefix, "logs/");
    ck_assert_uint_eq(o.retention[0].max_age_s, 60);
    ck_assert_str_eq(o.retention[1].prefix, "");
    ck_assert_int_eq(expired(&o, "logs/a", T, T + 60000), 1);
    free(owned);
    o = with_rules(NULL, 0);
    ck_assert_int_eq(retention_copy(&o, &owned), 0);
    ck_assert_ptr_null(owned);
    ck_assert_ptr_null(o.retention);
}
END_TEST

static Suite *retention_suite(void)
{
    Suite *s = suite_create("retention");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, retention_without_rules_nothing_expires);
    tcase_add_test(tc, retention_the_longest_matching_prefix_decides);
    tcase_add_test(tc, retention_unknown_write_times_and_clocks_stepped_back_never_expire);
    tcase_add_test(tc, retention_copy_owns_rules_and_prefixes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(retention_suite());
}
