/* The floe tool's command line, run as a real process: segment dump on good and damaged files,
 * version, usage errors and exit codes; restore, fsck, gc and manifest show on a data directory with
 * an fs cold tier; put, get, ls, rm and stats against a running `floe serve`; an unreachable server
 * and a bad config. */
#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cold.h"
#include "floe.h"
#include "manifest.h"
#include "remote.h"
#include "segment.h"
#include "testutil.h"

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
    char *out = NULL;
    int rc = tu_floe_run(&out, NULL, "segment dump %s", seg);
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
    char *out = NULL, want[64];
    int rc = tu_floe_run(&out, NULL, "segment dump %s", seg);
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
    ck_assert_int_eq(tu_floe_run(&out, NULL, "version"), 0);
    ck_assert_ptr_nonnull(strstr(out, FLOE_VERSION_STRING));
    ck_assert_int_eq(tu_floe_run(&out, NULL, "frobnicate"), 2);
    ck_assert_ptr_nonnull(strstr(out, "unknown command"));
    ck_assert_int_eq(tu_floe_run(&out, NULL, "segment dump /nonexistent/x.seg"), 1);
    ck_assert_ptr_nonnull(strstr(out, "/nonexistent/x.seg"));
    ck_assert_int_eq(tu_floe_run(&out, NULL, "segment"), 2);
    free(out);
}
END_TEST

START_TEST(cli_serve_with_a_bad_config_exits_1_with_one_line)
{
    tu_server s = {0};
    tu_server_config(&s, "\"max_headers\": \"many\"", "");
    char *buf = NULL;
    ck_assert_int_eq(tu_floe_run(&buf, NULL, "serve -c %s", s.cfg), 1);
    ck_assert_msg(strstr(buf, "field http.max_headers must be an integer") != NULL, "printed: %s", buf);
    ck_assert_msg(strchr(buf, '\n') == buf + strlen(buf) - 1, "error is not one line: %s", buf);
    free(buf);
    tu_server_destroy(&s);
}
END_TEST

/* ---- the remote tools on a data directory ---- */

START_TEST(cli_restore_fsck_gc_and_manifest_show_work_on_a_data_directory)
{
    char *root = tu_tmpdir("cli"), *cold_dir = NULL;
    cold_t *cold = NULL;
    ck_assert_int_ge(asprintf(&cold_dir, "%s/cold", root), 0);
    ck_assert_int_eq(cold_open_fs(cold_dir, &cold), 0);
    char *cfg = NULL, *json = NULL, *data = NULL, *out = NULL, *err = NULL;
    ck_assert_int_ge(asprintf(&data, "%s/data", root), 0);
    ck_assert_int_ge(asprintf(&cfg, "%s/floe.json", root), 0);
    int n = asprintf(&json,
                     "{\"data_dir\": \"%s\", \"cold\": {\"backend\": \"fs\", \"fs\": {\"path\": \"%s\"}}}\n",
                     data, cold_dir);
    ck_assert_int_gt(n, 0);
    tu_write_file(cfg, json, (size_t)n);

    manifest *m = tu_manifest_new(1), *stray = tu_manifest_new(1);
    ck_assert_int_eq(remote_claim(cold, m), 0);
    tu_segment_add(cold, root, m, 1, m->writer_epoch, SEG_LOCAL_REMOTE, 1);
    tu_segment_add(cold, root, m, 2, m->writer_epoch, SEG_LOCAL_REMOTE, 1);
    tu_remote_publish(cold, m, 2);
    /* An orphan: segment 2 as an earlier epoch uploaded it (a redone upload's leftover). */
    tu_segment_add(cold, root, stray, 2, 1, SEG_REMOTE, 1);

#define FLOE(...) tu_floe_run(&out, &err, __VA_ARGS__)

    ck_assert_int_eq(FLOE("restore -c %s", cfg), 0);
    ck_assert_msg(strstr(out, "rebuilt") != NULL, "%s", out);
    ck_assert_int_eq(FLOE("restore -c %s", cfg), 1);
    ck_assert_msg(tu_lines(err) == 1 && strstr(err, "not empty") != NULL, "%s", err);

    ck_assert_int_eq(FLOE("manifest show -c %s", cfg), 0);
    ck_assert_msg(strstr(out, "segment 2") != NULL && strstr(out, "state:   remote") != NULL, "%s", out);
    ck_assert_msg(strstr(out, m->segments[1].object_key) != NULL, "%s", out);
    ck_assert_int_eq(FLOE("manifest show --remote -c %s", cfg), 0);
    ck_assert_msg(strstr(out, "manifest/00000000000000000002.json") != NULL, "%s", out);

    /* fsck: the restored directory and the bucket are whole; the orphan is listed, not damage. */
    ck_assert_int_eq(FLOE("fsck -c %s --remote", cfg), 0);
    ck_assert_msg(strstr(out, "orphan: ") != NULL && strstr(out, "no damage") != NULL, "%s", out);

    /* A local segment file with a flipped byte is found by the local check. */
    manifest *local = NULL;
    ck_assert_int_eq(manifest_load(data, &local), 0);
    char *segdir = NULL, *segpath = NULL;
    ck_assert_int_ge(asprintf(&segdir, "%s/segments", data), 0);
    ck_assert_int_ge(asprintf(&segpath, "%s/%020d.seg", segdir, 3), 0);
    ck_assert_int_eq(mkdir(segdir, 0755), 0);
    manifest *tmp = tu_manifest_new(1);
    tu_segment_add(cold, root, tmp, 3, 1, SEG_LOCAL, 0);
    char *src = NULL;
    ck_assert_int_ge(asprintf(&src, "%s/seg-3-1", root), 0);
    ck_assert_int_eq(rename(src, segpath), 0);
    ck_assert_int_eq(manifest_add(local, &tmp->segments[0]), 0);
    local->next_segment_id = 4;
    if (local->last_seq < tmp->last_seq)
        local->last_seq = tmp->last_seq;
    ck_assert_int_eq(manifest_save(data, local), 0);
    ck_assert_int_eq(FLOE("fsck -c %s", cfg), 0);
    tu_flip_byte(segpath, 100);
    ck_assert_int_eq(FLOE("fsck -c %s", cfg), 1);
    ck_assert_msg(strstr(out, "damaged: ") != NULL && strstr(out, segpath) != NULL, "%s", out);
    ck_assert_msg(tu_lines(err) == 1 && strstr(err, "damage found") != NULL, "%s", err);

    /* A damaged bucket object fails fsck --remote. */
    char *objpath = NULL;
    ck_assert_int_ge(asprintf(&objpath, "%s/%s", cold_dir, m->segments[0].object_key), 0);
    tu_flip_byte(objpath, 10);
    ck_assert_int_eq(FLOE("fsck --remote -c %s", cfg), 1);
    ck_assert_msg(strstr(out, "checksum mismatch: ") != NULL, "%s", out);

    /* gc: a dry run deletes nothing, the real one deletes the orphan. */
    ck_assert_int_eq(FLOE("gc -c %s --dry-run --grace-s 0", cfg), 0);
    ck_assert_msg(strstr(out, "would delete") != NULL, "%s", out);
    ck_assert(tu_cold_exists(cold, stray->segments[0].object_key));
    ck_assert_int_eq(FLOE("gc -c %s", cfg), 0); /* default grace: the orphan is too young */
    ck_assert(tu_cold_exists(cold, stray->segments[0].object_key));
    ck_assert_int_eq(FLOE("gc -c %s --grace-s=0", cfg), 0);
    ck_assert(!tu_cold_exists(cold, stray->segments[0].object_key));

    /* Usage errors exit 2. */
    ck_assert_int_eq(FLOE("gc -c %s --grace-s soon", cfg), 2);
    ck_assert_int_eq(FLOE("fsck -c %s --bogus", cfg), 2);
    ck_assert_int_eq(FLOE("manifest list -c %s", cfg), 2);
    /* A missing config file is a failure naming it. */
    ck_assert_int_eq(FLOE("fsck -c %s/nope.json", root), 1);
    ck_assert_msg(tu_lines(err) == 1 && strstr(err, "nope.json") != NULL, "%s", err);
#undef FLOE

    free(out);
    free(err);
    free(objpath);
    free(src);
    free(segdir);
    free(segpath);
    manifest_free(tmp);
    manifest_free(local);
    manifest_free(m);
    manifest_free(stray);
    free(cfg);
    free(json);
    free(data);
    cold_close(cold);
    tu_rmrf(root);
    free(root);
    free(cold_dir);
}
END_TEST

/* ---- the HTTP client commands, against a running server ---- */

static tu_server srv; /* started by the "http" tcase's unchecked fixture */

static void server_up(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    tu_server_config(&srv, "", "");
    tu_server_start(&srv);
}

static void server_down(void)
{
    tu_server_destroy(&srv);
}

static size_t discard_body(char *data, size_t size, size_t n, void *ud)
{
    (void)data;
    (void)ud;
    return size * n;
}

/* PUTs len bytes of body to path (already percent-encoded) on srv, not through the floe tool;
 * returns the HTTP status. */
static long http_put_status(const char *path, const void *body, size_t len)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", srv.base, path);
    CURL *h = curl_easy_init();
    ck_assert_ptr_nonnull(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    CURLcode rc = curl_easy_perform(h);
    ck_assert_msg(rc == CURLE_OK, "PUT %s: %s", url, curl_easy_strerror(rc));
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    return status;
}

START_TEST(cli_put_get_ls_rm_and_stats_work_against_a_server)
{
    char in[700], outp[700], *buf = NULL;
    setenv("FLOE_URL", srv.base, 1);
    snprintf(in, sizeof in, "%s/cli-in", srv.dir);
    snprintf(outp, sizeof outp, "%s/cli-out", srv.dir);
    unsigned char data[3000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 13);
    tu_write_file(in, data, sizeof data);
    ck_assert_int_eq(tu_floe_run(&buf, NULL, "put 'cli/a b' %s --content-type application/x-test", in), 0);
    ck_assert_int_eq(tu_floe_run(&buf, NULL, "get 'cli/a b' -o %s", outp), 0);
    size_t len = 0;
    char *got = tu_read_file(outp, &len);
    ck_assert_uint_eq(len, sizeof data);
    ck_assert_int_eq(memcmp(got, data, len), 0);
    free(got);
    ck_assert_int_eq(tu_floe_run(&buf, NULL, "put cli/b - < /dev/null"), 0);
    ck_assert_int_eq(http_put_status("/v1/objects/cli/%FF", "z", 1), 201);
    ck_assert_int_eq(tu_floe_run(&buf, NULL, "ls cli/"), 0);
    /* a key that is not UTF-8 comes back as its raw bytes */
    ck_assert_str_eq(buf, "cli/a b\t3000\ncli/b\t0\ncli/\xff\t1\n");
    ck_assert_int_eq(tu_floe_run(&buf, NULL, "rm 'cli/a b'"), 0);
    ck_assert_int_eq(tu_floe_run(&buf, NULL, "get 'cli/a b'"), 1);
    ck_assert_msg(strstr(buf, "404") && strstr(buf, "not_found"), "get of a deleted key printed: %s", buf);
    ck_assert_msg(strchr(buf, '\n') == buf + strlen(buf) - 1, "error is not one line: %s", buf);
    ck_assert_int_eq(tu_floe_run(&buf, NULL, "stats"), 0);
    json_t *root = json_loads(buf, 0, NULL);
    ck_assert_msg(root != NULL, "floe stats printed: %s", buf);
    json_decref(root);
    ck_assert_int_eq(tu_floe_run(&buf, NULL, "get"), 2);
    free(buf);
}
END_TEST

START_TEST(cli_reports_an_unreachable_server_and_exits_1)
{
    char url[64], *buf = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d", tu_closed_port());
    setenv("FLOE_URL", url, 1);
    ck_assert_int_eq(tu_floe_run(&buf, NULL, "get x"), 1);
    ck_assert_msg(strstr(buf, "cannot reach") != NULL, "printed: %s", buf);
    free(buf);
}
END_TEST

/* Writes n objects ("k-00".., 100-byte values) into the WAL of a store at data and closes it: they
 * stay in WAL file 1 after the 28-byte file header, one 136-byte record each (header, write time,
 * key, value), each put its own batch led by a 32-byte sync mark (docs/formats.md). */
#define REPAIR_RECORD_BYTES (24 + 8 + 4 + 100)
#define REPAIR_BATCH_BYTES (32 + REPAIR_RECORD_BYTES)
static void fill_wal(const char *data, int n)
{
    floe_options o;
    floe_options_init(&o);
    floe_t *db = NULL;
    ck_assert_int_eq(floe_open(data, &o, &db), 0);
    for (int i = 0; i < n; i++) {
        char k[16], v[100];
        snprintf(k, sizeof k, "k-%02d", i);
        memset(v, 'a' + i % 26, sizeof v);
        ck_assert_int_eq(floe_put(db, k, strlen(k), v, sizeof v, NULL, NULL), 0);
    }
    ck_assert_int_eq(floe_close(db), 0);
}

START_TEST(cli_repair_cuts_a_damaged_wal_into_quarantine_and_the_store_opens)
{
    char *root = tu_tmpdir("cli"), *data = NULL, *cfg = NULL, *wal = NULL, *quarantined = NULL;
    char *out = NULL, *err = NULL;
    ck_assert_int_ge(asprintf(&data, "%s/data", root), 0);
    ck_assert_int_ge(asprintf(&cfg, "%s/floe.json", root), 0);
    ck_assert_int_ge(asprintf(&wal, "%s/wal/00000000000000000001.log", data), 0);
    char json[1200];
    int n = snprintf(json, sizeof json, "{\"data_dir\": \"%s\"}\n", data);
    tu_write_file(cfg, json, (size_t)n);
    fill_wal(data, 40);

    /* One flipped byte in the value of record 20, with 19 valid records after it. */
    size_t len = 0;
    uint8_t *pristine = tu_read_file(wal, &len);
    ck_assert_ptr_nonnull(pristine);
    ck_assert_uint_eq(len, 28 + 40 * REPAIR_BATCH_BYTES + 32); /* and the mark after the last sync */
    long long damage = 28 + 20 * REPAIR_BATCH_BYTES + 32;
    ck_assert_mem_eq(pristine + damage + 24 + 8, "k-20", 4);
    tu_flip_byte(wal, damage + 50);
    uint8_t *damaged = tu_read_file(wal, &len);
    ck_assert_ptr_nonnull(damaged);
    floe_options o;
    floe_options_init(&o);
    floe_t *db = NULL;
    ck_assert_int_eq(floe_open(data, &o, &db), FLOE_ECORRUPT);
    char want[96];
    snprintf(want, sizeof want, "00000000000000000001.log: bad record at byte %lld ", damage);
    ck_assert_msg(strstr(floe_last_error(), want), "%s", floe_last_error());
    ck_assert_int_eq(tu_floe_run(&out, &err, "serve -c %s", cfg), 1);
    ck_assert_msg(strstr(err, want) && tu_lines(err) == 1, "%s", err);

    /* The dry run says what it would cut and changes nothing. */
    int rc = tu_floe_run(&out, &err, "repair -c %s --dry-run", cfg);
    ck_assert_msg(rc == 0, "exit %d: %s%s", rc, out, err);
    snprintf(want, sizeof want, "would cut wal/00000000000000000001.log from byte %lld: %lld bytes, 19 valid",
             damage, (long long)len - damage);
    ck_assert_msg(strstr(out, want), "%s", out);
    ck_assert_msg(strstr(out, "dry run: nothing was changed"), "%s", out);
    ck_assert_int_eq(tu_file_size(wal), (long long)len);
    ck_assert_int_eq(floe_open(data, &o, &db), FLOE_ECORRUPT);
    char qdir[1100];
    snprintf(qdir, sizeof qdir, "%s/quarantine", data);
    struct stat sb;
    ck_assert_int_ne(stat(qdir, &sb), 0);

    /* Not while the store is open in another process: here, this one. */
    tu_write_file(wal, pristine, damage); /* an openable WAL, for the moment */
    ck_assert_int_eq(floe_open(data, &o, &db), 0);
    rc = tu_floe_run(&out, &err, "repair -c %s", cfg);
    ck_assert_msg(rc == 1 && strstr(err, "open in another process") && tu_lines(err) == 1, "exit %d: %s", rc,
                  err);
    floe_close(db);
    char *wal2 = NULL;
    ck_assert_int_ge(asprintf(&wal2, "%s/wal/00000000000000000002.log", data), 0);
    ck_assert_int_eq(unlink(wal2), 0);
    free(wal2);
    tu_write_file(wal, damaged, len);

    /* The repair cuts at the damage and keeps exactly the cut bytes. */
    rc = tu_floe_run(&out, &err, "repair -c %s", cfg);
    ck_assert_msg(rc == 0, "exit %d: %s%s", rc, out, err);
    snprintf(want, sizeof want, "cut wal/00000000000000000001.log from byte %lld: ", damage);
    ck_assert_msg(strstr(out, want), "%s", out);
    ck_assert_msg(strstr(out, "the 20 records before the damage stay"), "%s", out);
    ck_assert_int_eq(tu_file_size(wal), damage);
    ck_assert_int_ge(asprintf(&quarantined, "%s/00000000000000000001.log.from-byte-%lld", qdir, damage), 0);
    size_t qlen = 0;
    uint8_t *cut = tu_read_file(quarantined, &qlen);
    ck_assert_ptr_nonnull(cut);
    ck_assert_uint_eq(qlen, len - (size_t)damage);
    ck_assert_mem_eq(cut, damaged + damage, qlen);

    /* The store opens, with every record before the damage. */
    ck_assert_int_eq(floe_open(data, &o, &db), 0);
    for (int i = 0; i < 40; i++) {
        char k[16], v[100];
        snprintf(k, sizeof k, "k-%02d", i);
        memset(v, 'a' + i % 26, sizeof v);
        floe_value got = {0};
        rc = floe_get(db, k, strlen(k), &got);
        if (i < 20) {
            ck_assert_msg(rc == 0, "%s: %s", k, floe_last_error());
            ck_assert_uint_eq(got.len, sizeof v);
            ck_assert_mem_eq(got.data, v, sizeof v);
        } else {
            ck_assert_int_eq(rc, FLOE_ENOTFOUND);
        }
        floe_value_free(&got);
    }
    ck_assert_int_eq(floe_close(db), 0);
    rc = tu_floe_run(&out, &err, "repair -c %s", cfg);
    ck_assert_msg(rc == 0 && strstr(out, "nothing to repair"), "exit %d: %s%s", rc, out, err);

    free(cut);
    free(quarantined);
    free(damaged);
    free(pristine);
    free(out);
    free(err);
    free(wal);
    free(cfg);
    free(data);
    tu_rmrf(root);
    free(root);
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
    tcase_add_test(tc, cli_serve_with_a_bad_config_exits_1_with_one_line);
    suite_add_tcase(s, tc);

    tc = tcase_create("tools");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, cli_restore_fsck_gc_and_manifest_show_work_on_a_data_directory);
    tcase_add_test(tc, cli_repair_cuts_a_damaged_wal_into_quarantine_and_the_store_opens);
    suite_add_tcase(s, tc);

    tc = tcase_create("http");
    tcase_add_unchecked_fixture(tc, server_up, server_down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, cli_put_get_ls_rm_and_stats_work_against_a_server);
    tcase_add_test(tc, cli_reports_an_unreachable_server_and_exits_1);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(cli_suite());
}
