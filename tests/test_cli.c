/* The floe tool's local commands, run as a real process: segment dump on good and damaged files,
 * version, usage errors. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "floe.h"
#include "segment.h"
#include "testutil.h"

/* Runs the floe binary with args (a shell word list) and captures stdout+stderr; returns the exit
 * status. *out is malloc'd. */
static int run_floe(const char *args, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", FLOE_BINARY, args);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - 1 - len, p)) > 0)
        len += n;
    buf[len] = '\0';
    int status = pclose(p);
    *out = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *make_segment(const char *dir)
{
    floe_options o;
    floe_options_init(&o);
    o.wal.sync = FLOE_SYNC_NEVER;
    o.segment.block_bytes = 1024;
    floe_t *db = NULL;
    ck_assert_int_eq(floe_open(dir, &o, &db), 0);
    char k[32], v[200];
    memset(v, 'v', sizeof v);
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "key-%03d", i);
        ck_assert_int_eq(floe_put(db, k, strlen(k), v, sizeof v, "text/plain", NULL), 0);
    }
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    floe_close(db);
    char sd[512];
    snprintf(sd, sizeof sd, "%s/segments", dir);
    DIR *d = opendir(sd);
    struct dirent *de;
    char *path = NULL;
    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".seg")) {
            path = malloc(1024);
            snprintf(path, 1024, "%s/%s", sd, de->d_name);
        }
    }
    closedir(d);
    ck_assert_ptr_nonnull(path);
    return path;
}

START_TEST(cli_segment_dump_prints_entries_of_an_intact_file)
{
    char *dir = tu_tmpdir("cli");
    char *seg = make_segment(dir);
    char args[1200], *out = NULL;
    snprintf(args, sizeof args, "segment dump %s", seg);
    int rc = run_floe(args, &out);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "key-000"));
    ck_assert_ptr_nonnull(strstr(out, "key-049"));
    free(out);
    free(seg);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(cli_segment_dump_reports_a_damaged_block_with_its_offset)
{
    char *dir = tu_tmpdir("cli");
    char *seg = make_segment(dir);
    segment_t *s = NULL;
    ck_assert_int_eq(segment_open_file(seg, &s), 0);
    uint64_t off = 0, len = 0;
    ck_assert_int_eq(segment_block_range(s, 1, &off, &len), 0);
    segment_close(s);
    tu_flip_byte(seg, (long long)(off + 10));
    char args[1200], *out = NULL, want[64];
    snprintf(args, sizeof args, "segment dump %s", seg);
    int rc = run_floe(args, &out);
    ck_assert_msg(rc == 1, "exit %d: %s", rc, out);
    ck_assert_msg(strstr(out, "crc mismatch") != NULL, "%s", out);
    snprintf(want, sizeof want, "offset %llu", (unsigned long long)off);
    ck_assert_msg(strstr(out, want) != NULL, "no '%s' in: %s", want, out);
    ck_assert_ptr_nonnull(strstr(out, "key-049")); /* the other blocks are still listed */
    free(out);
    free(seg);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(cli_bad_usage_and_missing_files_give_one_clear_line)
{
    char *out = NULL;
    ck_assert_int_eq(run_floe("version", &out), 0);
    ck_assert_ptr_nonnull(strstr(out, FLOE_VERSION_STRING));
    free(out);
    ck_assert_int_eq(run_floe("frobnicate", &out), 2);
    ck_assert_ptr_nonnull(strstr(out, "unknown command"));
    free(out);
    ck_assert_int_eq(run_floe("segment dump /nonexistent/x.seg", &out), 1);
    ck_assert_ptr_nonnull(strstr(out, "/nonexistent/x.seg"));
    free(out);
    ck_assert_int_eq(run_floe("segment", &out), 2);
    free(out);
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("local");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cli_segment_dump_prints_entries_of_an_intact_file);
    tcase_add_test(tc, cli_segment_dump_reports_a_damaged_block_with_its_offset);
    tcase_add_test(tc, cli_bad_usage_and_missing_files_give_one_clear_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(cli_suite());
}
