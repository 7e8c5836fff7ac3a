/* Tests for error reporting (src/error.c): err_set, err_wrap and err_clear, the per-thread message
 * behind floe_last_error, floe_strerror for every code, and how long messages are cut. */
#include "error.h"
#include "floe.h"
#include "testutil.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The message buffer holds this many bytes with its NUL (ERR_MSG_BYTES in error.c). */
#define MSG_MAX_CHARS 1023

/* A string of n copies of c, malloc'd. */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

START_TEST(err_set_records_the_formatted_message_and_returns_the_code)
{
    ck_assert_int_eq(err_set(FLOE_EIO, "write %s at offset %d: %s", "/data/000001.log", 4096, "No space"),
                     FLOE_EIO);
    ck_assert_str_eq(floe_last_error(), "write /data/000001.log at offset 4096: No space");
    ck_assert_int_eq(err_set(FLOE_ECORRUPT, "second"), FLOE_ECORRUPT);
    ck_assert_str_eq(floe_last_error(), "second"); /* replaced, not appended */
    ck_assert_int_eq(err_set(0, "a code of 0 is passed through too"), 0);
}
END_TEST

START_TEST(err_wrap_puts_the_context_in_front_of_the_current_message)
{
    err_set(FLOE_EIO, "fsync directory /tmp/x: Input/output error");
    ck_assert_int_eq(err_wrap(FLOE_EREADONLY, "manifest"), FLOE_EREADONLY);
    ck_assert_str_eq(floe_last_error(), "manifest: fsync directory /tmp/x: Input/output error");
    ck_assert_int_eq(err_wrap(FLOE_ECOLD, "segment %d", 7), FLOE_ECOLD);
    ck_assert_str_eq(floe_last_error(), "segment 7: manifest: fsync directory /tmp/x: Input/output error");
}
END_TEST

START_TEST(err_wrap_without_a_message_gives_the_context_alone)
{
    err_clear();
    ck_assert_int_eq(err_wrap(FLOE_EIO, "s3 %s", "list"), FLOE_EIO);
    ck_assert_str_eq(floe_last_error(), "s3 list");
}
END_TEST

START_TEST(err_wrap_may_quote_the_current_message_in_its_context)
{
    err_set(FLOE_EIO, "inner");
    err_wrap(FLOE_EIO, "[%s]", floe_last_error());
    ck_assert_str_eq(floe_last_error(), "[inner]: inner");
}
END_TEST

START_TEST(err_set_may_quote_the_current_message)
{
    err_set(FLOE_EIO, "previous message");
    ck_assert_int_eq(err_set(FLOE_ECOLD, "x: %s", floe_last_error()), FLOE_ECOLD);
    ck_assert_str_eq(floe_last_error(), "x: previous message");
    /* A long previous message is cut with the new one, not read after it was overwritten. */
    char *longs = repeat('p', 2000);
    err_set(FLOE_EIO, "%s", longs);
    err_set(FLOE_EIO, "x: %s", floe_last_error());
    ck_assert_uint_eq(strlen(floe_last_error()), MSG_MAX_CHARS);
    ck_assert_int_eq(strncmp(floe_last_error(), "x: ", 3), 0);
    ck_assert_int_eq(strncmp(floe_last_error() + 3, longs, MSG_MAX_CHARS - 3), 0);
    free(longs);
}
END_TEST

START_TEST(err_clear_empties_the_message)
{
    err_set(FLOE_EIO, "something failed");
    ck_assert_str_ne(floe_last_error(), "");
    err_clear();
    ck_assert_str_eq(floe_last_error(), "");
}
END_TEST

START_TEST(err_set_cuts_a_long_message_at_the_buffer_size)
{
    char *longs = repeat('m', 5000);
    err_set(FLOE_EIO, "%s", longs);
    ck_assert_uint_eq(strlen(floe_last_error()), MSG_MAX_CHARS);
    ck_assert_int_eq(strncmp(floe_last_error(), longs, MSG_MAX_CHARS), 0);
    free(longs);
}
END_TEST

/* A message with no conversion takes a path of its own (copied, not formatted): cut the same way,
 * and "%%" still goes through the formatter. */
#define TEN_L "llllllllll"
#define HUNDRED_L TEN_L TEN_L TEN_L TEN_L TEN_L TEN_L TEN_L TEN_L TEN_L TEN_L
#define THOUSAND_L HUNDRED_L HUNDRED_L HUNDRED_L HUNDRED_L HUNDRED_L HUNDRED_L HUNDRED_L HUNDRED_L HUNDRED_L HUNDRED_L
START_TEST(err_set_copies_a_literal_message_and_cuts_it_at_the_buffer_size)
{
    ck_assert_int_eq(err_set(FLOE_ENOTFOUND, "key not found"), FLOE_ENOTFOUND);
    ck_assert_str_eq(floe_last_error(), "key not found");
    err_set(FLOE_EIO, THOUSAND_L THOUSAND_L);
    ck_assert_uint_eq(strlen(floe_last_error()), MSG_MAX_CHARS);
    for (size_t i = 0; i < MSG_MAX_CHARS; i++)
        ck_assert_int_eq(floe_last_error()[i], 'l');
    err_set(FLOE_EIO, "100%% done");
    ck_assert_str_eq(floe_last_error(), "100% done");
}
END_TEST

START_TEST(err_wrap_cuts_the_joined_message_at_the_buffer_size)
{
    char *inner = repeat('i', 900), *outer = repeat('o', 300);
    err_set(FLOE_EIO, "%s", inner);
    err_wrap(FLOE_EIO, "%s", outer);
    const char *m = floe_last_error();
    ck_assert_uint_eq(strlen(m), MSG_MAX_CHARS);
    ck_assert_int_eq(strncmp(m, outer, 300), 0);
    ck_assert_int_eq(strncmp(m + 300, ": ", 2), 0);
    ck_assert_int_eq(strncmp(m + 302, inner, MSG_MAX_CHARS - 302), 0); /* the inner message's head */
    free(inner);
    free(outer);
}
END_TEST

START_TEST(err_wrap_with_a_context_that_fills_the_buffer_keeps_only_the_context)
{
    char *outer = repeat('o', 2000);
    err_set(FLOE_EIO, "inner");
    err_wrap(FLOE_EIO, "%s", outer);
    ck_assert_uint_eq(strlen(floe_last_error()), MSG_MAX_CHARS);
    ck_assert_ptr_null(strchr(floe_last_error(), ':'));
    ck_assert_ptr_null(strstr(floe_last_error(), "inner"));
    free(outer);
}
END_TEST

/* Two threads set, check and re-check their own messages while the other does the same. */
typedef struct thread_arg {
    const char *mine;
    pthread_barrier_t *barrier;
    int seen_empty_at_start;
    int kept_own;
} thread_arg;

static void *message_thread(void *p)
{
    thread_arg *a = p;
    a->seen_empty_at_start = floe_last_error()[0] == '\0';
    pthread_barrier_wait(a->barrier);
    err_set(FLOE_EIO, "%s", a->mine);
    pthread_barrier_wait(a->barrier); /* both have set theirs */
    a->kept_own = strcmp(floe_last_error(), a->mine) == 0;
    pthread_barrier_wait(a->barrier);
    err_clear(); /* must not clear the other's */
    pthread_barrier_wait(a->barrier);
    return NULL;
}

START_TEST(error_message_belongs_to_the_thread_that_set_it)
{
    err_set(FLOE_EIO, "main thread's message");
    pthread_barrier_t barrier;
    ck_assert_int_eq(pthread_barrier_init(&barrier, NULL, 2), 0);
    thread_arg a = {.mine = "from thread A", .barrier = &barrier};
    thread_arg b = {.mine = "from thread B", .barrier = &barrier};
    pthread_t ta, tb;
    ck_assert_int_eq(pthread_create(&ta, NULL, message_thread, &a), 0);
    ck_assert_int_eq(pthread_create(&tb, NULL, message_thread, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&barrier);
    ck_assert_msg(a.seen_empty_at_start && b.seen_empty_at_start, "a new thread saw a message it never set");
    ck_assert_msg(a.kept_own, "thread A's message was changed by thread B");
    ck_assert_msg(b.kept_own, "thread B's message was changed by thread A");
    ck_assert_str_eq(floe_last_error(), "main thread's message");
}
END_TEST

START_TEST(floe_strerror_names_every_code)
{
    static const struct {
        int code;
        const char *name;
    } want[] = {
        {FLOE_OK, "success"},
        {FLOE_EINVAL, "invalid argument"},
        {FLOE_ENOTFOUND, "not found"},
        {FLOE_EIO, "I/O error"},
        {FLOE_ECORRUPT, "data corruption detected"},
        {FLOE_ENOMEM, "out of memory"},
        {FLOE_ELOCKED, "data directory is locked by another process"},
        {FLOE_EKEY, "key is empty or too long"},
        {FLOE_ETOOBIG, "value is too large"},
        {FLOE_EREADONLY, "store is read-only after a write error"},
        {FLOE_EBEHIND, "behind: too much data waits for upload or compaction"},
        {FLOE_EFENCED, "fenced: a newer writer owns this bucket prefix"},
        {FLOE_ECOLD, "cold tier error"},
        {FLOE_ETIMEDOUT, "timed out"},
        {FLOE_ECLOSED, "store is closing"},
        {FLOE_ERANGE, "range not satisfiable"},
    };
    size_t n = sizeof want / sizeof want[0];
    /* The table covers every code from FLOE_OK down to the last one. */
    ck_assert_int_eq(want[n - 1].code, -(int)(n - 1));
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(want[i].code, -(int)i);
        ck_assert_str_eq(floe_strerror(want[i].code), want[i].name);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(floe_strerror(want[i].code), floe_strerror(want[j].code));
    }
}
END_TEST

START_TEST(floe_strerror_of_an_unknown_code_says_unknown)
{
    const int unknown[] = {1, 2, 42, FLOE_ERANGE - 1, -100, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = floe_strerror(unknown[i]);
        ck_assert_ptr_nonnull(s);
        ck_assert_str_eq(s, "unknown error");
    }
}
END_TEST

START_TEST(floe_strerror_does_not_touch_the_message)
{
    err_set(FLOE_EIO, "kept");
    floe_strerror(FLOE_EIO);
    floe_strerror(12345);
    ck_assert_str_eq(floe_last_error(), "kept");
}
END_TEST

static Suite *error_suite(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, err_set_records_the_formatted_message_and_returns_the_code);
    tcase_add_test(tc, err_set_copies_a_literal_message_and_cuts_it_at_the_buffer_size);
    tcase_add_test(tc, err_wrap_puts_the_context_in_front_of_the_current_message);
    tcase_add_test(tc, err_wrap_without_a_message_gives_the_context_alone);
    tcase_add_test(tc, err_wrap_may_quote_the_current_message_in_its_context);
    tcase_add_test(tc, err_set_may_quote_the_current_message);
    tcase_add_test(tc, err_clear_empties_the_message);
    tcase_add_test(tc, err_set_cuts_a_long_message_at_the_buffer_size);
    tcase_add_test(tc, err_wrap_cuts_the_joined_message_at_the_buffer_size);
    tcase_add_test(tc, err_wrap_with_a_context_that_fills_the_buffer_keeps_only_the_context);
    tcase_add_test(tc, error_message_belongs_to_the_thread_that_set_it);
    tcase_add_test(tc, floe_strerror_names_every_code);
    tcase_add_test(tc, floe_strerror_of_an_unknown_code_says_unknown);
    tcase_add_test(tc, floe_strerror_does_not_touch_the_message);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(error_suite());
}
