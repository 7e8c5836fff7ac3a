/* Tests for the capped growable buffer (src/buf.c): growth, the cap reached exactly and passed,
 * printf, take and reset, NUL termination, sticky failure and running out of memory. */
#include "buf.h"
#include "floe.h"
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
/* The out-of-memory test asks for more memory than exists; under ASan malloc must then return NULL
 * as it does without ASan, instead of aborting the process. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
#endif

/* The buffer holds exactly want (len bytes), NUL-terminated, within its cap. */
static void assert_holds(const buf_t *b, const void *want, size_t len)
{
    ck_assert_uint_eq(b->len, len);
    ck_assert_ptr_nonnull(b->data);
    ck_assert_int_eq(memcmp(b->data, want, len), 0);
    ck_assert_int_eq(b->data[len], '\0');
    ck_assert_uint_gt(b->cap, len);
    ck_assert_uint_le(b->cap, b->max + 1);
}

START_TEST(buf_starts_empty_and_reads_as_an_empty_string)
{
    buf_t b;
    buf_init(&b, 100);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_int_eq(b.failed, 0);
    ck_assert_str_eq(buf_str(&b), "");
    ck_assert_int_eq(buf_puts(&b, "x"), 0);
    ck_assert_str_eq(buf_str(&b), "x");
    buf_free(&b);
}
END_TEST

START_TEST(buf_append_grows_and_keeps_every_byte_including_nuls)
{
    enum { TOTAL = 100000 };
    unsigned char *want = malloc(TOTAL);
    ck_assert_ptr_nonnull(want);
    for (size_t i = 0; i < TOTAL; i++)
        want[i] = (unsigned char)(i * 7 + i / 251); /* includes zero bytes */
    buf_t b;
    buf_init(&b, TOTAL);
    size_t off = 0, step = 1;
    while (off < TOTAL) {
        size_t n = step < TOTAL - off ? step : TOTAL - off;
        ck_assert_int_eq(buf_append(&b, want + off, n), 0);
        off += n;
        step = step * 3 % 997 + 1;
        assert_holds(&b, want, off);
    }
    buf_free(&b);
    free(want);
}
END_TEST

START_TEST(buf_reaching_the_cap_exactly_succeeds)
{
    buf_t b;
    buf_init(&b, 10);
    ck_assert_int_eq(buf_append(&b, "01234", 5), 0);
    ck_assert_int_eq(buf_append(&b, "56789", 5), 0);
    assert_holds(&b, "0123456789", 10);
    ck_assert_int_eq(buf_append(&b, "", 0), 0); /* nothing more still fits */
    ck_assert_int_eq(b.failed, 0);
    buf_free(&b);
}
END_TEST

START_TEST(buf_append_past_the_cap_fails_with_etoobig)
{
    buf_t b;
    buf_init(&b, 10);
    ck_assert_int_eq(buf_append(&b, "0123456", 7), 0);
    err_clear();
    ck_assert_int_eq(buf_append(&b, "7890", 4), FLOE_ETOOBIG);
    ck_assert_int_eq(b.failed, FLOE_ETOOBIG);
    ck_assert_msg(strstr(floe_last_error(), "cap of 10 bytes") != NULL, "message '%s' does not name the cap",
                  floe_last_error());
    assert_holds(&b, "0123456", 7); /* nothing of the refused append went in */
    buf_free(&b);
}
END_TEST

START_TEST(buf_failure_is_sticky_until_reset)
{
    buf_t b;
    buf_init(&b, 4);
    ck_assert_int_eq(buf_puts(&b, "abcde"), FLOE_ETOOBIG);
    err_clear();
    /* Later calls fail with the first code, change nothing and leave the message alone. */
    ck_assert_int_eq(buf_puts(&b, "a"), FLOE_ETOOBIG);
    ck_assert_int_eq(buf_putc(&b, 'a'), FLOE_ETOOBIG);
    ck_assert_int_eq(buf_printf(&b, "%d", 1), FLOE_ETOOBIG);
    ck_assert_int_eq(buf_reserve(&b, 0), FLOE_ETOOBIG);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_str_eq(buf_str(&b), "");
    ck_assert_str_eq(floe_last_error(), "");
    buf_reset(&b);
    ck_assert_int_eq(b.failed, 0);
    ck_assert_int_eq(buf_puts(&b, "abcd"), 0);
    assert_holds(&b, "abcd", 4);
    buf_free(&b);
}
END_TEST

START_TEST(buf_a_zero_cap_holds_only_the_empty_string)
{
    buf_t b;
    buf_init(&b, 0);
    ck_assert_int_eq(buf_append(&b, "", 0), 0);
    assert_holds(&b, "", 0);
    ck_assert_int_eq(buf_putc(&b, 'x'), FLOE_ETOOBIG);
    buf_free(&b);
}
END_TEST

START_TEST(buf_putc_and_puts_append_in_order)
{
    buf_t b;
    buf_init(&b, 64);
    ck_assert_int_eq(buf_putc(&b, '['), 0);
    ck_assert_int_eq(buf_puts(&b, "one"), 0);
    ck_assert_int_eq(buf_putc(&b, ','), 0);
    ck_assert_int_eq(buf_puts(&b, ""), 0);
    ck_assert_int_eq(buf_puts(&b, "two"), 0);
    ck_assert_int_eq(buf_putc(&b, ']'), 0);
    assert_holds(&b, "[one,two]", 9);
    buf_free(&b);
}
END_TEST

START_TEST(buf_printf_formats_short_and_long_text)
{
    buf_t b;
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(buf_printf(&b, "%s=%d;", "a", 42), 0);
    assert_holds(&b, "a=42;", 5);
    /* Longer than everything allocated so far: the slow path. */
    char longs[5000];
    memset(longs, 'q', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    ck_assert_int_eq(buf_printf(&b, "<%s>", longs), 0);
    ck_assert_uint_eq(b.len, 5 + 1 + 4999 + 1);
    ck_assert_int_eq(memcmp(b.data, "a=42;<qqq", 9), 0);
    ck_assert_str_eq(b.data + b.len - 3, "qq>");
    ck_assert_int_eq(buf_printf(&b, "%05u|%x", 7u, 255u), 0);
    ck_assert_str_eq(b.data + b.len - 8, "00007|ff");
    ck_assert_int_eq(buf_printf(&b, "%s", ""), 0); /* empty output appends nothing */
    ck_assert_uint_eq(b.len, 5 + 1 + 4999 + 1 + 8);
    ck_assert_int_eq(b.data[b.len], '\0');
    buf_free(&b);
}
END_TEST

START_TEST(buf_printf_filling_the_cap_exactly_succeeds)
{
    buf_t b;
    buf_init(&b, 8);
    ck_assert_int_eq(buf_puts(&b, "abc"), 0);
    ck_assert_int_eq(buf_printf(&b, "%d", 12345), 0);
    assert_holds(&b, "abc12345", 8);
    buf_free(&b);
}
END_TEST

START_TEST(buf_printf_past_the_cap_fails_and_leaves_the_text_intact)
{
    buf_t b;
    buf_init(&b, 8);
    ck_assert_int_eq(buf_puts(&b, "abc"), 0);
    /* Six more bytes: this fills the room allocated after "abc" with a cut-off copy first. */
    ck_assert_int_eq(buf_printf(&b, "%s", "123456"), FLOE_ETOOBIG);
    assert_holds(&b, "abc", 3);
    ck_assert_str_eq(buf_str(&b), "abc");
    buf_free(&b);
}
END_TEST

START_TEST(buf_reserve_makes_room_without_moving_the_text_later)
{
    buf_t b;
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(buf_puts(&b, "head"), 0);
    ck_assert_int_eq(buf_reserve(&b, 10000), 0);
    assert_holds(&b, "head", 4);
    ck_assert_uint_ge(b.cap, 4 + 10000 + 1);
    const char *before = b.data;
    char chunk[1000];
    memset(chunk, 'z', sizeof chunk);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(buf_append(&b, chunk, sizeof chunk), 0);
    ck_assert_ptr_eq(b.data, before);
    ck_assert_uint_eq(b.len, 10004);
    ck_assert_int_eq(b.data[b.len], '\0');
    buf_free(&b);
}
END_TEST

START_TEST(buf_reserve_past_the_cap_fails_with_etoobig)
{
    buf_t b;
    buf_init(&b, 100);
    ck_assert_int_eq(buf_reserve(&b, 100), 0);
    ck_assert_int_eq(buf_reserve(&b, 101), FLOE_ETOOBIG);
    ck_assert_int_eq(b.failed, FLOE_ETOOBIG);
    buf_free(&b);
}
END_TEST

START_TEST(buf_take_hands_over_the_bytes_and_empties_the_buffer)
{
    buf_t b;
    buf_init(&b, 50);
    ck_assert_int_eq(buf_puts(&b, "payload"), 0);
    size_t len = 99;
    char *p = buf_take(&b, &len);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(len, 7);
    ck_assert_str_eq(p, "payload");
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.max, 50);
    /* The buffer is usable again, and independent of the taken bytes. */
    ck_assert_int_eq(buf_puts(&b, "again"), 0);
    ck_assert_str_eq(p, "payload");
    free(p);
    p = buf_take(&b, NULL);
    ck_assert_str_eq(p, "again");
    free(p);
    buf_free(&b);
}
END_TEST

START_TEST(buf_take_of_an_empty_buffer_gives_an_empty_string)
{
    buf_t b;
    buf_init(&b, 50);
    size_t len = 99;
    char *p = buf_take(&b, &len);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p, "");
    ck_assert_uint_eq(len, 0);
    free(p);
}
END_TEST

START_TEST(buf_take_of_a_failed_buffer_gives_null_and_clears_the_failure)
{
    buf_t b;
    buf_init(&b, 3);
    ck_assert_int_eq(buf_puts(&b, "ab"), 0);
    ck_assert_int_eq(buf_puts(&b, "cd"), FLOE_ETOOBIG);
    size_t len = 99;
    ck_assert_ptr_null(buf_take(&b, &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(b.failed, 0);
    ck_assert_ptr_null(b.data);
    ck_assert_int_eq(buf_puts(&b, "abc"), 0);
    assert_holds(&b, "abc", 3);
    buf_free(&b);
}
END_TEST

START_TEST(buf_reset_empties_but_keeps_the_memory)
{
    buf_t b;
    buf_init(&b, 1000);
    ck_assert_int_eq(buf_puts(&b, "some text"), 0);
    char *before = b.data;
    size_t cap = b.cap;
    buf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_ptr_eq(b.data, before);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_str_eq(buf_str(&b), "");
    ck_assert_int_eq(buf_puts(&b, "new"), 0);
    assert_holds(&b, "new", 3);
    buf_free(&b);
}
END_TEST

START_TEST(buf_free_releases_and_keeps_the_cap)
{
    buf_t b;
    buf_init(&b, 5);
    ck_assert_int_eq(buf_puts(&b, "abcdef"), FLOE_ETOOBIG);
    ck_assert_int_eq(buf_puts(&b, "abc"), FLOE_ETOOBIG);
    buf_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
    ck_assert_int_eq(b.failed, 0);
    ck_assert_uint_eq(b.max, 5);
    ck_assert_int_eq(buf_puts(&b, "abcde"), 0);
    ck_assert_int_eq(buf_putc(&b, 'f'), FLOE_ETOOBIG);
    buf_free(&b);
    buf_free(&b); /* twice is harmless */
}
END_TEST

START_TEST(buf_out_of_memory_fails_with_enomem_and_keeps_the_text)
{
    buf_t b;
    buf_init(&b, SIZE_MAX); /* no practical cap: the allocator is what says no */
    ck_assert_uint_lt(b.max, SIZE_MAX);
    ck_assert_int_eq(buf_puts(&b, "kept"), 0);
    err_clear();
    /* A quarter of the address space cannot be allocated. */
    ck_assert_int_eq(buf_reserve(&b, SIZE_MAX / 4), FLOE_ENOMEM);
    ck_assert_int_eq(b.failed, FLOE_ENOMEM);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "out of memory"));
    assert_holds(&b, "kept", 4);
    ck_assert_int_eq(buf_putc(&b, 'x'), FLOE_ENOMEM);
    ck_assert_ptr_null(buf_take(&b, NULL));
    buf_free(&b);
}
END_TEST

static Suite *buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, buf_starts_empty_and_reads_as_an_empty_string);
    tcase_add_test(tc, buf_append_grows_and_keeps_every_byte_including_nuls);
    tcase_add_test(tc, buf_reaching_the_cap_exactly_succeeds);
    tcase_add_test(tc, buf_append_past_the_cap_fails_with_etoobig);
    tcase_add_test(tc, buf_failure_is_sticky_until_reset);
    tcase_add_test(tc, buf_a_zero_cap_holds_only_the_empty_string);
    tcase_add_test(tc, buf_putc_and_puts_append_in_order);
    tcase_add_test(tc, buf_printf_formats_short_and_long_text);
    tcase_add_test(tc, buf_printf_filling_the_cap_exactly_succeeds);
    tcase_add_test(tc, buf_printf_past_the_cap_fails_and_leaves_the_text_intact);
    tcase_add_test(tc, buf_reserve_makes_room_without_moving_the_text_later);
    tcase_add_test(tc, buf_reserve_past_the_cap_fails_with_etoobig);
    tcase_add_test(tc, buf_take_hands_over_the_bytes_and_empties_the_buffer);
    tcase_add_test(tc, buf_take_of_an_empty_buffer_gives_an_empty_string);
    tcase_add_test(tc, buf_take_of_a_failed_buffer_gives_null_and_clears_the_failure);
    tcase_add_test(tc, buf_reset_empties_but_keeps_the_memory);
    tcase_add_test(tc, buf_free_releases_and_keeps_the_cap);
    tcase_add_test(tc, buf_out_of_memory_fails_with_enomem_and_keeps_the_text);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(buf_suite());
}
