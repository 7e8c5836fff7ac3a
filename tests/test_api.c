/* The public contract of include/floe.h that is not about data: versioned structs (struct_size),
 * the limits floe_open checks, the errors floe_flush can return, and where log_fn is called from. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floe.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir("api");
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

START_TEST(options_init_records_the_callers_struct_size)
{
    floe_options o;
    memset(&o, 0xab, sizeof o);
    floe_options_init(&o);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    ck_assert_uint_eq(o.upload.flush_timeout_ms, 100000);
    ck_assert_ptr_null(o.log_fn);
}
END_TEST

START_TEST(options_from_a_newer_header_are_refused_naming_both_sizes)
{
    /* A program built against a floe.h whose floe_options has 64 more bytes than this library's. */
    unsigned char *big = calloc(1, sizeof(floe_options) + 64);
    memset(big, 0xab, sizeof(floe_options) + 64);
    floe_options_init_sized((floe_options *)big, sizeof(floe_options) + 64);
    for (size_t i = sizeof(floe_options); i < sizeof(floe_options) + 64; i++)
        ck_assert_uint_eq(big[i], 0); /* the fields it does not know are zeroed, not left as garbage */
    floe_t *db = NULL;
    ck_assert_int_eq(floe_open(dir, (floe_options *)big, &db), FLOE_EINVAL);
    ck_assert_ptr_null(db);
    char want[64];
    snprintf(want, sizeof want, "%zu bytes", sizeof(floe_options) + 64);
    ck_assert_msg(strstr(floe_last_error(), want) != NULL, "message '%s' lacks '%s'", floe_last_error(), want);
    ck_assert_msg(strstr(floe_last_error(), "floe_options_init") != NULL, "%s", floe_last_error());
    free(big);
}
END_TEST

START_TEST(options_not_made_by_options_init_are_refused)
{
    floe_options o;
    memset(&o, 0, sizeof o);
    floe_t *db = NULL;
    ck_assert_int_eq(floe_open(dir, &o, &db), FLOE_EINVAL);
    ck_assert_ptr_null(db);
}
END_TEST

START_TEST(an_option_out_of_range_is_refused_naming_it)
{
    floe_options o;
    floe_options_init(&o);
    o.wal.file_bytes = 32ull << 30; /* above the 16 GiB ceiling the config file has too */
    floe_t *db = NULL;
    ck_assert_int_eq(floe_open(dir, &o, &db), FLOE_EINVAL);
    ck_assert_msg(strstr(floe_last_error(), "wal.file_bytes") != NULL, "%s", floe_last_error());
    floe_options_init(&o);
    o.segment.max_age_s = 8 * 86400;
    ck_assert_int_eq(floe_open(dir, &o, &db), FLOE_EINVAL);
    ck_assert_msg(strstr(floe_last_error(), "segment.max_age_s") != NULL, "%s", floe_last_error());
}
END_TEST

START_TEST(stats_fill_only_the_callers_struct)
{
    floe_options o;
    floe_options_init(&o);
    o.wal.sync = FLOE_SYNC_NEVER;
    floe_t *db = NULL;
    ck_assert_int_eq(floe_open(dir, &o, &db), 0);
    ck_assert_int_eq(floe_put(db, "k", 1, "v", 1, NULL, NULL), 0);

    /* A newer header's bigger floe_stats: the library fills what it knows and no byte beyond. */
    size_t big_size = sizeof(floe_stats) + 32;
    unsigned char *big = malloc(big_size);
    memset(big, 0xab, big_size);
    ck_assert_int_eq(floe_stats_get_sized(db, (floe_stats *)big, big_size), 0);
    floe_stats *st = (floe_stats *)big;
    ck_assert_uint_eq(st->struct_size, sizeof(floe_stats));
    ck_assert_uint_eq(st->puts, 1);
    for (size_t i = sizeof(floe_stats); i < big_size; i++)
        ck_assert_uint_eq(big[i], 0xab);
    free(big);

    /* A struct too small to be any floe.h's is refused and left untouched. */
    floe_stats small;
    memset(&small, 0xcd, sizeof small);
    ck_assert_int_eq(floe_stats_get_sized(db, &small, 16), FLOE_EINVAL);
    ck_assert_uint_eq(((unsigned char *)&small)[0], 0xcd);

    /* The floe.h before the WAL group-commit counters: filled up to its last field, levels. */
    size_t old_size = offsetof(floe_stats, wal_synced_writes);
    ck_assert_uint_eq(old_size, offsetof(floe_stats, levels) + sizeof(uint64_t));
    floe_stats older;
    memset(&older, 0xab, sizeof older);
    ck_assert_int_eq(floe_stats_get_sized(db, &older, old_size), 0);
    ck_assert_uint_eq(older.struct_size, old_size);
    ck_assert_uint_eq(older.puts, 1);
    for (size_t i = old_size; i < sizeof older; i++)
        ck_assert_uint_eq(((unsigned char *)&older)[i], 0xab);

    floe_stats s;
    ck_assert_int_eq(floe_stats_get(db, &s), 0);
    ck_assert_uint_eq(s.struct_size, sizeof s);
    ck_assert_uint_eq(s.wal_synced_writes, 1);
    ck_assert_uint_eq(s.wal_batch_hist[0], 1);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

START_TEST(flush_remote_without_a_cold_tier_is_einval)
{
    floe_t *db = NULL;
    ck_assert_int_eq(floe_open(dir, NULL, &db), 0);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), FLOE_EINVAL);
    ck_assert_int_eq(floe_flush(db, (floe_durability)7), FLOE_EINVAL);
    ck_assert_int_eq(floe_flush(NULL, FLOE_DURABLE_LOCAL), FLOE_EINVAL);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

START_TEST(flush_remote_times_out_after_flush_timeout_ms)
{
    /* A cold tier directory that cannot be written: uploads fail, the flush gives up in time. */
    char cold[512];
    snprintf(cold, sizeof cold, "%s/cold", dir);
    floe_options o;
    floe_options_init(&o);
    o.wal.sync = FLOE_SYNC_NEVER;
    o.cold.backend = FLOE_COLD_FS;
    o.cold.fs_path = cold;
    o.upload.flush_timeout_ms = 300;
    floe_t *db = NULL;
    char data[512];
    snprintf(data, sizeof data, "%s/data", dir);
    ck_assert_int_eq(floe_open(data, &o, &db), 0);
    tu_rmrf(cold);
    tu_write_file(cold, "not a directory", 15);
    ck_assert_int_eq(floe_put(db, "k", 1, "v", 1, NULL, NULL), 0);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), FLOE_ETIMEDOUT);
    ck_assert_msg(strstr(floe_last_error(), "upload.flush_timeout_ms") != NULL, "%s", floe_last_error());
    /* The write is still there and durable locally. */
    floe_value v = {0};
    ck_assert_int_eq(floe_get(db, "k", 1, &v), 0);
    floe_value_free(&v);
    ck_assert_int_eq(floe_close(db), 0);
}
END_TEST

typedef struct log_seen {
    pthread_mutex_t mu;
    int lines;
    int from_other_thread;
    pthread_t opener;
} log_seen;

static void count_log(void *ctx, int level, const char *msg)
{
    log_seen *s = ctx;
    (void)level;
    ck_assert_ptr_nonnull(msg);
    pthread_mutex_lock(&s->mu);
    s->lines++;
    if (!pthread_equal(pthread_self(), s->opener))
        s->from_other_thread = 1;
    pthread_mutex_unlock(&s->mu);
}

START_TEST(log_fn_gets_lines_from_background_threads_with_its_ctx)
{
    char cold[512], data[512];
    snprintf(cold, sizeof cold, "%s/cold", dir);
    snprintf(data, sizeof data, "%s/data", dir);
    log_seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER, .opener = pthread_self()};
    floe_options o;
    floe_options_init(&o);
    o.wal.sync = FLOE_SYNC_NEVER;
    o.cold.backend = FLOE_COLD_FS;
    o.cold.fs_path = cold;
    o.log_fn = count_log;
    o.log_ctx = &seen;
    floe_t *db = NULL;
    ck_assert_int_eq(floe_open(data, &o, &db), 0);
    ck_assert_int_eq(floe_put(db, "k", 1, "v", 1, NULL, NULL), 0);
    /* The uploader logs its epoch claim from its own thread. */
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_REMOTE), 0);
    ck_assert_int_eq(floe_close(db), 0);
    ck_assert_int_gt(seen.lines, 0);
    ck_assert_int_eq(seen.from_other_thread, 1);
}
END_TEST

static Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, options_init_records_the_callers_struct_size);
    tcase_add_test(tc, options_from_a_newer_header_are_refused_naming_both_sizes);
    tcase_add_test(tc, options_not_made_by_options_init_are_refused);
    tcase_add_test(tc, an_option_out_of_range_is_refused_naming_it);
    tcase_add_test(tc, stats_fill_only_the_callers_struct);
    tcase_add_test(tc, flush_remote_without_a_cold_tier_is_einval);
    tcase_add_test(tc, flush_remote_times_out_after_flush_timeout_ms);
    tcase_add_test(tc, log_fn_gets_lines_from_background_threads_with_its_ctx);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(api_suite());
}
