/* The conditional-request readers of the HTTP server (src/server/precondition.c, declared in
 * http_parse.h): HTTP-dates in their three forms, entity-tag lists with strong and weak comparison,
 * the order RFC 9110 section 13.2.2 evaluates preconditions in, and If-Range. The same behaviour
 * over real requests is in test_http.c. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http_parse.h"
#include "testutil.h"

#define RFC_EXAMPLE_S 784111777 /* Sun, 06 Nov 1994 08:49:37 GMT, the RFC's example */
#define NOW_S 1796083200        /* 2026-12-01 00:00:00 UTC */

static int64_t date_or(const char *s, int64_t fallback)
{
    int64_t t = fallback;
    if (http_parse_date(s, NOW_S, &t) != 0)
        return fallback;
    return t;
}

START_TEST(precondition_date_reads_the_three_forms_of_one_instant)
{
    ck_assert_int_eq(date_or("Sun, 06 Nov 1994 08:49:37 GMT", -1), RFC_EXAMPLE_S);
    ck_assert_int_eq(date_or("Sunday, 06-Nov-94 08:49:37 GMT", -1), RFC_EXAMPLE_S);
    ck_assert_int_eq(date_or("Sun Nov  6 08:49:37 1994", -1), RFC_EXAMPLE_S);
    /* names without regard to case, and spaces around the value */
    ck_assert_int_eq(date_or("  sun, 06 nov 1994 08:49:37 gmt ", -1), RFC_EXAMPLE_S);
    ck_assert_int_eq(date_or("Thu, 01 Jan 1970 00:00:00 GMT", -1), 0);
    ck_assert_int_eq(date_or("Tue, 01 Dec 2026 00:00:00 GMT", -1), NOW_S);
    ck_assert_int_eq(date_or("Fri, 31 Dec 9999 23:59:59 GMT", -1), 253402300799);
    ck_assert_int_eq(date_or("Wed, 31 Dec 1969 23:59:59 GMT", 1), -1);
    ck_assert_int_eq(date_or("Thu, 29 Feb 2024 12:00:00 GMT", -1), 1709208000);
    ck_assert_int_eq(date_or("Sun Nov 16 08:49:37 1994", -1), RFC_EXAMPLE_S + 10 * 86400);
    /* the day name is not checked against the date */
    ck_assert_int_eq(date_or("Mon, 06 Nov 1994 08:49:37 GMT", -1), RFC_EXAMPLE_S);
}
END_TEST

START_TEST(precondition_date_takes_a_two_digit_year_at_most_50_years_ahead)
{
    /* now is 2026: 76 is 2076 (50 years on), 77 would be 2077, more than 50 years on: 1977 */
    ck_assert_int_eq(date_or("Wednesday, 01-Jan-76 00:00:00 GMT", -1), 3345062400);
    ck_assert_int_eq(date_or("Saturday, 01-Jan-77 00:00:00 GMT", -1), 220924800);
    ck_assert_int_eq(date_or("Tuesday, 01-Dec-26 00:00:00 GMT", -1), NOW_S);
    ck_assert_int_eq(date_or("Saturday, 01-Jan-00 00:00:00 GMT", -1), 946684800);
}
END_TEST

START_TEST(precondition_date_refuses_what_is_not_one_date)
{
    const char *bad[] = {
        "",
        "yesterday",
        "Sun, 06 Nov 1994 08:49:37",                                    /* no GMT */
        "Sun, 06 Nov 1994 08:49:37 UTC",                                /* another zone name */
        "Sun, 06 Nov 1994 08:49:37 GMT x",                              /* text after it */
        "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", /* a list of dates */
        "Sun, 6 Nov 1994 08:49:37 GMT",                                 /* one-digit day in IMF-fixdate */
        "Sun, 06 Nov 94 08:49:37 GMT",                                  /* two-digit year in IMF-fixdate */
        "Sun, 06 Nvm 1994 08:49:37 GMT",                                /* no such month */
        "Xyz, 06 Nov 1994 08:49:37 GMT",                                /* no such day */
        "Sun, 31 Nov 1994 08:49:37 GMT",                                /* November has 30 days */
        "Fri, 29 Feb 2023 08:49:37 GMT",                                /* 2023 is not a leap year */
        "Sat, 29 Feb 2100 08:49:37 GMT",                                /* nor is 2100 */
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT\x01",
        "Sunday, 06-Nov-1994 08:49:37 GMT", /* four-digit year in RFC 850 */
        "Sun, 06-Nov-94 08:49:37 GMT",      /* RFC 850 with a short day name */
        "Sun Nov 6 08:49:37 1994",          /* asctime's day is two characters */
        "Sun Nov  6 08:49:37 94",
        "Sun, 06 Nov 1994 08:49:3", /* cut short at every point */
        "Sun, 06 Nov 19",
        "Sun,",
        "Su",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t t = 12345;
        ck_assert_msg(http_parse_date(bad[i], NOW_S, &t) == -1, "'%s' was read as %lld", bad[i],
                      (long long)t);
        ck_assert_int_eq(t, 12345);
    }
}
END_TEST

START_TEST(precondition_etag_lists_compare_strongly_or_weakly)
{
    const char *e = "\"2a\"";
    /* strong comparison (If-Match): a weak tag never matches */
    ck_assert_int_eq(http_etag_list_match("\"2a\"", e, 0), 1);
    ck_assert_int_eq(http_etag_list_match("W/\"2a\"", e, 0), 0);
    ck_assert_int_eq(http_etag_list_match("\"2b\", W/\"2a\"", e, 0), 0);
    ck_assert_int_eq(http_etag_list_match("\"2b\",\"2a\"", e, 0), 1);
    /* weak comparison (If-None-Match): W/ is ignored */
    ck_assert_int_eq(http_etag_list_match("W/\"2a\"", e, 1), 1);
    ck_assert_int_eq(http_etag_list_match(" \"x\" ,\t W/\"2a\" ", e, 1), 1);
    /* the tag is compared whole, quotes included */
    ck_assert_int_eq(http_etag_list_match("\"2\"", e, 1), 0);
    ck_assert_int_eq(http_etag_list_match("\"2a", e, 1), 0);
    ck_assert_int_eq(http_etag_list_match("2a", e, 1), 0);
    ck_assert_int_eq(http_etag_list_match("\"2A\"", e, 1), 0);
    ck_assert_int_eq(http_etag_list_match("", e, 1), 0);
    /* a member that is not an entity-tag is skipped, not the end of the list */
    ck_assert_int_eq(http_etag_list_match("junk, \"2a\"", e, 0), 1);
    /* "*" names any current representation, and there is none without one */
    ck_assert_int_eq(http_etag_list_match("*", e, 0), 1);
    ck_assert_int_eq(http_etag_list_match("*", NULL, 0), 0);
    ck_assert_int_eq(http_etag_list_match("\"2a\"", NULL, 1), 0);
    /* a quoted ETag of another format compares the same way */
    const char *md5 = "\"9e107d9d372bb6826bd81d3542a419d6\"";
    ck_assert_int_eq(http_etag_list_match("\"a\", \"9e107d9d372bb6826bd81d3542a419d6\"", md5, 0), 1);
    ck_assert_int_eq(http_etag_list_match("\"9e107d9d372bb6826bd81d3542a419d6-2\"", md5, 1), 0);
}
END_TEST

static enum http_precondition eval(const char *im, const char *inm, const char *ims, const char *ius,
                                   const char *etag, int64_t modified_s, int read, const char **by)
{
    struct http_conditions h = {im, inm, ims, ius, NULL};
    const char *decided = "(unset)";
    enum http_precondition pc = http_preconditions_evaluate(&h, etag, modified_s, read, NOW_S, &decided);
    if (by)
        *by = decided;
    return pc;
}

#define PASS HTTP_PRECONDITION_PASS
#define NOT_MODIFIED HTTP_PRECONDITION_NOT_MODIFIED
#define FAILED HTTP_PRECONDITION_FAILED

START_TEST(precondition_evaluation_follows_rfc9110_order)
{
    const char *e = "\"7\"";
    int64_t lm = RFC_EXAMPLE_S; /* Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT */
    const char *same = "Sun, 06 Nov 1994 08:49:37 GMT";
    const char *before = "Sun, 06 Nov 1994 08:49:36 GMT";
    const char *after = "Sun, 06 Nov 1994 08:49:38 GMT";
    const char *by = NULL;
    for (int read = 0; read < 2; read++) {
        ck_assert_int_eq(eval(NULL, NULL, NULL, NULL, e, lm, read, NULL), PASS);
        ck_assert_int_eq(eval(NULL, NULL, NULL, NULL, NULL, -1, read, NULL), PASS);
        /* If-Match */
        ck_assert_int_eq(eval("\"7\"", NULL, NULL, NULL, e, lm, read, NULL), PASS);
        ck_assert_int_eq(eval("*", NULL, NULL, NULL, e, lm, read, NULL), PASS);
        ck_assert_int_eq(eval("\"6\"", NULL, NULL, NULL, e, lm, read, &by), FAILED);
        ck_assert_str_eq(by, "If-Match");
        ck_assert_int_eq(eval("W/\"7\"", NULL, NULL, NULL, e, lm, read, NULL), FAILED);
        ck_assert_int_eq(eval("*", NULL, NULL, NULL, NULL, -1, read, NULL), FAILED);
        /* If-Unmodified-Since, at one-second resolution */
        ck_assert_int_eq(eval(NULL, NULL, NULL, same, e, lm, read, NULL), PASS);
        ck_assert_int_eq(eval(NULL, NULL, NULL, after, e, lm, read, NULL), PASS);
        ck_assert_int_eq(eval(NULL, NULL, NULL, before, e, lm, read, &by), FAILED);
        ck_assert_str_eq(by, "If-Unmodified-Since");
        /* ...ignored when If-Match is there, when it is not a date, without an object or time */
        ck_assert_int_eq(eval("\"7\"", NULL, NULL, before, e, lm, read, NULL), PASS);
        ck_assert_int_eq(eval(NULL, NULL, NULL, "not a date", e, lm, read, NULL), PASS);
        ck_assert_int_eq(eval(NULL, NULL, NULL, before, NULL, -1, read, NULL), PASS);
        ck_assert_int_eq(eval(NULL, NULL, NULL, before, e, -1, read, NULL), PASS);
        /* If-None-Match: 304 for reads, 412 for writes */
        enum http_precondition none_failed = read ? NOT_MODIFIED : FAILED;
        ck_assert_int_eq(eval(NULL, "\"7\"", NULL, NULL, e, lm, read, &by), none_failed);
        ck_assert_str_eq(by, "If-None-Match");
        ck_assert_int_eq(eval(NULL, "W/\"7\"", NULL, NULL, e, lm, read, NULL), none_failed);
        ck_assert_int_eq(eval(NULL, "*", NULL, NULL, e, lm, read, NULL), none_failed);
        ck_assert_int_eq(eval(NULL, "\"6\", \"5\"", NULL, NULL, e, lm, read, NULL), PASS);
        ck_assert_int_eq(eval(NULL, "*", NULL, NULL, NULL, -1, read, NULL), PASS);
        /* If-Match is decided before If-None-Match */
        ck_assert_int_eq(eval("\"6\"", "\"7\"", NULL, NULL, e, lm, read, &by), FAILED);
        ck_assert_str_eq(by, "If-Match");
        ck_assert_int_eq(eval("\"7\"", "\"7\"", NULL, NULL, e, lm, read, &by), none_failed);
        /* If-Unmodified-Since is decided before If-None-Match */
        ck_assert_int_eq(eval(NULL, "\"7\"", NULL, before, e, lm, read, &by), FAILED);
        ck_assert_str_eq(by, "If-Unmodified-Since");
    }
    /* If-Modified-Since: only for reads, false (304) when not modified after the date */
    ck_assert_int_eq(eval(NULL, NULL, same, NULL, e, lm, 1, &by), NOT_MODIFIED);
    ck_assert_str_eq(by, "If-Modified-Since");
    ck_assert_int_eq(eval(NULL, NULL, after, NULL, e, lm, 1, NULL), NOT_MODIFIED);
    ck_assert_int_eq(eval(NULL, NULL, before, NULL, e, lm, 1, NULL), PASS);
    ck_assert_int_eq(eval(NULL, NULL, same, NULL, e, lm, 0, NULL), PASS);
    /* ...ignored when If-None-Match is there, when it is not a date, or the time is unknown */
    ck_assert_int_eq(eval(NULL, "\"6\"", same, NULL, e, lm, 1, NULL), PASS);
    ck_assert_int_eq(eval(NULL, NULL, "Sun, 06 Nov 1994", NULL, e, lm, 1, NULL), PASS);
    ck_assert_int_eq(eval(NULL, NULL, same, NULL, e, -1, 1, NULL), PASS);
    /* the obsolete forms count as dates */
    ck_assert_int_eq(eval(NULL, NULL, "Sun Nov  6 08:49:37 1994", NULL, e, lm, 1, NULL), NOT_MODIFIED);
    ck_assert_int_eq(eval(NULL, NULL, NULL, "Sunday, 06-Nov-94 08:49:36 GMT", e, lm, 0, NULL), FAILED);
}
END_TEST

START_TEST(precondition_if_range_needs_the_same_strong_etag)
{
    const char *e = "\"7\"";
    ck_assert_int_eq(http_if_range_allows("\"7\"", e), 1);
    ck_assert_int_eq(http_if_range_allows(" \"7\" ", e), 1);
    ck_assert_int_eq(http_if_range_allows("\"8\"", e), 0);
    ck_assert_int_eq(http_if_range_allows("W/\"7\"", e), 0);
    ck_assert_int_eq(http_if_range_allows("\"7\", \"8\"", e), 0);
    ck_assert_int_eq(http_if_range_allows("\"7", e), 0);
    ck_assert_int_eq(http_if_range_allows("\"7\"", NULL), 0);
    /* a date is a weak validator at one-second resolution: the Range is ignored */
    ck_assert_int_eq(http_if_range_allows("Sun, 06 Nov 1994 08:49:37 GMT", e), 0);
}
END_TEST

static Suite *precondition_suite(void)
{
    Suite *s = suite_create("precondition");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, precondition_date_reads_the_three_forms_of_one_instant);
    tcase_add_test(tc, precondition_date_takes_a_two_digit_year_at_most_50_years_ahead);
    tcase_add_test(tc, precondition_date_refuses_what_is_not_one_date);
    tcase_add_test(tc, precondition_etag_lists_compare_strongly_or_weakly);
    tcase_add_test(tc, precondition_evaluation_follows_rfc9110_order);
    tcase_add_test(tc, precondition_if_range_needs_the_same_strong_etag);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(precondition_suite());
}
