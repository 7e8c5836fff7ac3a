/* Failing disks (issue 9, part 12): a failed write or sync of the WAL, a segment file or the
 * manifest, with EIO and with ENOSPC, makes the store read-only: FLOE_EREADONLY for every later
 * write, stats and /readyz (503) naming the cause. It is never retried and pretended: the store
 * stays read-only after the fault clears, until a restart, and the restart recovers every
 * acknowledged write. The faults come from the file environment of tests/file_fault.h. */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "file_fault.h"
#include "floe.h"
#include "http.h"
#include "testutil.h"

#define ACKED 40

static void quiet(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)level;
    (void)msg;
}

static void put_key(floe_t *db, int i, int want)
{
    char key[32], value[200];
    snprintf(key, sizeof key, "key-%04d", i);
    memset(value, 'a' + i % 26, sizeof value);
    snprintf(value, sizeof value, "value of %d|", i);
    int rc = floe_put(db, key, strlen(key), value, sizeof value, NULL, NULL);
    ck_assert_msg(rc == want, "put %s: got %s, wanted %s: %s", key, floe_strerror(rc), floe_strerror(want),
                  floe_last_error());
}

static void check_key(floe_t *db, int i)
{
    char key[32], value[200];
    snprintf(key, sizeof key, "key-%04d", i);
    memset(value, 'a' + i % 26, sizeof value);
    snprintf(value, sizeof value, "value of %d|", i);
    floe_value v = {0};
    int rc = floe_get(db, key, strlen(key), &v);
    ck_assert_msg(rc == 0, "get %s: %s", key, floe_last_error());
    ck_assert_uint_eq(v.len, sizeof value);
    ck_assert_mem_eq(v.data, value, sizeof value);
    floe_value_free(&v);
}

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
    buf_append(ctx, p, size * n);
    return size * n;
}

/* GET /readyz from an HTTP server on db: its status, and its body in *body (malloc'd). */
static long readyz(floe_t *db, char **body)
{
    floe_config cfg;
    config_init_defaults(&cfg);
    snprintf(cfg.http.listen, sizeof cfg.http.listen, "127.0.0.1:0");
    snprintf(cfg.http.listen_host, sizeof cfg.http.listen_host, "127.0.0.1");
    cfg.http.listen_port = 0;
    cfg.http.shutdown_grace_s = 1;
    http_server *srv = NULL;
    ck_assert_msg(http_server_start(db, &cfg, &srv) == 0, "http_server_start: %s", floe_last_error());
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/readyz", (unsigned)http_server_port(srv));
    buf_t b;
    buf_init(&b, 1 << 16);
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    http_server_stop(srv);
    *body = strdup(buf_str(&b));
    buf_free(&b);
    return status;
}

typedef enum trigger { T_PUT, T_FLUSH } trigger;

typedef struct fault_case {
    const char *name;
    file_fault_op op;
    const char *path_part; /* which file's call fails */
    trigger how;           /* what makes the store reach it */
    const char *cause;     /* what the read-only reason names */
} fault_case;

static const fault_case cases[] = {
    {"WAL write", FILE_OP_WRITE, "/wal/", T_PUT, "/wal/"},
    {"WAL fdatasync", FILE_OP_FSYNC, "/wal/", T_PUT, "/wal/"},
    {"segment write", FILE_OP_WRITE, "/segments/", T_FLUSH, "segments/"},
    {"segment fsync", FILE_OP_FSYNC, ".seg", T_FLUSH, ".seg"},
    {"manifest write", FILE_OP_WRITE, "manifest.json", T_FLUSH, "manifest"},
    {"manifest fsync", FILE_OP_FSYNC, "manifest.json", T_FLUSH, "manifest"},
};

static void run_case(const fault_case *fc, int err)
{
    char *dir = tu_tmpdir("faults");
    floe_options o;
    floe_options_init(&o);
    o.log_fn = quiet;
    file_fault_install();
    floe_t *db = NULL;
    ck_assert_int_eq(floe_open(dir, &o, &db), 0);
    for (int i = 0; i < ACKED; i++)
        put_key(db, i, 0);

    /* The disk fails (and stays failed, as a full or broken disk does). */
    file_fault_fail(fc->op, 1, err, fc->path_part, 1);
    int rc;
    if (fc->how == T_PUT) {
        char v[200] = {0};
        rc = floe_put(db, "doomed", 6, v, sizeof v, NULL, NULL);
    } else {
        rc = floe_flush(db, FLOE_DURABLE_LOCAL);
    }
    ck_assert_msg(rc == FLOE_EIO || rc == FLOE_EREADONLY, "%s (%s): the failing call returned %s: %s", fc->name,
                  strerror(err), floe_strerror(rc), floe_last_error());
    ck_assert_msg(file_fault_failures(fc->op) >= 1, "%s: the fault was never reached", fc->name);

    /* Read-only, with the cause named everywhere an operator looks. */
    put_key(db, ACKED, FLOE_EREADONLY);
    ck_assert_msg(strstr(floe_last_error(), strerror(err)) && strstr(floe_last_error(), fc->cause),
                  "%s: the write error does not name the cause: %s", fc->name, floe_last_error());
    floe_stats st;
    ck_assert_int_eq(floe_stats_get(db, &st), 0);
    ck_assert_int_eq(st.read_only, 1);
    ck_assert_msg(strstr(st.last_error, strerror(err)) && strstr(st.last_error, fc->cause), "%s: stats say: %s",
                  fc->name, st.last_error);
    char *body = NULL;
    long status = readyz(db, &body);
    ck_assert_msg(status == 503 && strstr(body, strerror(err)) && strstr(body, fc->cause),
                  "%s: /readyz answered %ld %s", fc->name, status, body);
    free(body);
    /* Acknowledged writes still read. */
    for (int i = 0; i < ACKED; i++)
        check_key(db, i);

    /* Space returns: the store does not quietly start again; only a restart does. */
    file_fault_clear();
    put_key(db, ACKED, FLOE_EREADONLY);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), FLOE_EREADONLY);
    (void)floe_close(db);
    db = NULL;
    file_fault_uninstall();
    ck_assert_msg(floe_open(dir, &o, &db) == 0, "%s: restart: %s", fc->name, floe_last_error());
    for (int i = 0; i < ACKED; i++)
        check_key(db, i);
    put_key(db, ACKED, 0);
    ck_assert_int_eq(floe_flush(db, FLOE_DURABLE_LOCAL), 0);
    check_key(db, ACKED);
    ck_assert_int_eq(floe_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}

START_TEST(fault_makes_the_store_read_only_and_a_restart_recovers)
{
    run_case(&cases[_i / 2], _i % 2 ? ENOSPC : EIO);
}
END_TEST

/* A WAL file that cannot be created (the disk is full when the WAL rotates) is the same. */
START_TEST(fault_enospc_creating_a_wal_file_makes_the_store_read_only)
{
    char *dir = tu_tmpdir("faults");
    floe_options o;
    floe_options_init(&o);
    o.log_fn = quiet;
    o.wal.file_bytes = 64 * 1024;
    file_fault_install();
    floe_t *db = NULL;
    ck_assert_int_eq(floe_open(dir, &o, &db), 0);
    file_fault_fail(FILE_OP_OPEN, 1, ENOSPC, ".log", 1);
    int i = 0, rc = 0;
    for (; i < 1000 && rc == 0; i++) {
        char key[32], value[200];
        snprintf(key, sizeof key, "key-%04d", i);
        memset(value, 'a' + i % 26, sizeof value);
        snprintf(value, sizeof value, "value of %d|", i);
        rc = floe_put(db, key, strlen(key), value, sizeof value, NULL, NULL);
    }
    ck_assert_msg(rc == FLOE_EIO || rc == FLOE_EREADONLY, "put %d: %s", i - 1, floe_last_error());
    int acked = i - 1;
    ck_assert_int_gt(acked, 0);
    ck_assert_msg(strstr(floe_last_error(), strerror(ENOSPC)), "%s", floe_last_error());
    put_key(db, 1000, FLOE_EREADONLY);
    (void)floe_close(db);
    file_fault_uninstall();
    rc = floe_open(dir, &o, &db);
    ck_assert_msg(rc == 0, "restart: %s: %s", floe_strerror(rc), floe_last_error());
    for (int k = 0; k < acked; k++)
        check_key(db, k);
    ck_assert_int_eq(floe_close(db), 0);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static Suite *faults_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, fault_makes_the_store_read_only_and_a_restart_recovers, 0,
                        (int)(2 * sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, fault_enospc_creating_a_wal_file_makes_the_store_read_only);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return tu_run_suite(faults_suite());
}
