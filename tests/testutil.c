/* Helpers shared by the check suites. */
#include "testutil.h"

#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "remote.h"

char *tu_tmpdir(const char *tag)
{
    char tmpl[256];
    snprintf(tmpl, sizeof tmpl, "/tmp/floe-test-%s-XXXXXX", tag);
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        abort();
    }
    return strdup(tmpl);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void tu_rmrf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

void *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

long long tu_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

void tu_flip_byte(const char *path, long long offset)
{
    int fd = open(path, O_RDWR);
    unsigned char b;
    if (fd < 0 || pread(fd, &b, 1, offset) != 1) {
        perror(path);
        abort();
    }
    b ^= 0xff;
    if (pwrite(fd, &b, 1, offset) != 1) {
        perror(path);
        abort();
    }
    close(fd);
}

void tu_truncate(const char *path, long long len)
{
    if (truncate(path, len) != 0) {
        perror(path);
        abort();
    }
}

uint64_t tu_rand64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

void tu_fill_random(void *buf, size_t len, uint64_t seed)
{
    unsigned char *p = buf;
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)tu_rand64(&x);
}

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int tu_long_tests(void)
{
    const char *v = getenv("FLOE_LONG_TESTS");
    return v && strcmp(v, "1") == 0;
}

const char *tu_s3_endpoint(void)
{
    const char *e = getenv("FLOE_TEST_S3_ENDPOINT");
    ck_assert_msg(e && e[0],
                  "FLOE_TEST_S3_ENDPOINT is not set: run scripts/test.sh, which starts an S3 test server, or "
                  "start one with scripts/s3-test-server.sh start DIR PORT and export FLOE_TEST_S3_ENDPOINT, "
                  "FLOE_TEST_S3_ACCESS_KEY and FLOE_TEST_S3_SECRET_KEY");
    return e;
}

void tu_s3_unique_bucket(char bucket[TU_BUCKET_MAX])
{
    static atomic_uint counter;
    snprintf(bucket, TU_BUCKET_MAX, "floe-t-%d-%u-%" PRIx64, (int)getpid(), atomic_fetch_add(&counter, 1),
             (uint64_t)clock_now_ns() & 0xffffffffu);
}

s3_config tu_s3_config(const char *bucket)
{
    s3_config cfg = {
        .endpoint = tu_s3_endpoint(),
        .bucket = bucket,
        .region = "us-east-1",
        .path_style = 1,
        .access_key = getenv("FLOE_TEST_S3_ACCESS_KEY"),
        .secret_key = getenv("FLOE_TEST_S3_SECRET_KEY"),
        .timeout_ms = 30000,
        .max_retries = 3,
    };
    ck_assert_msg(
        cfg.access_key && cfg.secret_key,
        "FLOE_TEST_S3_ACCESS_KEY / FLOE_TEST_S3_SECRET_KEY are not set: export the keys the S3 test "
        "server was started with (scripts/s3-test-server.sh uses floeacc and floesecret123)");
    return cfg;
}

s3_config tu_s3_fresh_bucket(char bucket[TU_BUCKET_MAX], const char *prefix)
{
    tu_s3_unique_bucket(bucket);
    s3_config cfg = tu_s3_config(bucket);
    cfg.prefix = prefix;
    s3_client *admin = NULL;
    ck_assert_msg(s3_client_create(&cfg, &admin) == 0, "s3 client for %s: %s", cfg.endpoint,
                  floe_last_error());
    ck_assert_msg(s3_create_bucket(admin) == 0, "create bucket %s: %s", bucket, floe_last_error());
    s3_client_destroy(admin);
    return cfg;
}

void tu_segment_write(const char *path, uint64_t id, uint64_t epoch, int n, segment_info *info)
{
    segment_write_options o = {
        .id = id, .epoch = epoch, .block_bytes = 4096, .compression = FLOE_COMPRESSION_NONE};
    segment_writer *w = NULL;
    ck_assert_msg(segment_writer_open(path, &o, &w) == 0, "%s", floe_last_error());
    for (int i = 0; i < n; i++) {
        char key[64], value[256];
        int kl = snprintf(key, sizeof key, "s%03" PRIu64 "-%05d", id, i);
        int vl =
            snprintf(value, sizeof value, "value %d of segment %" PRIu64 " %0*d", i, id, 100 + i % 50, i);
        entry se = {.key = (const uint8_t *)key,
                    .key_len = (uint32_t)kl,
                    .value = (const uint8_t *)value,
                    .value_len = (uint32_t)vl,
                    .seq = id * 100000 + (uint64_t)i + 1,
                    .type = ENTRY_PUT};
        ck_assert_int_eq(segment_writer_add(w, &se), 0);
    }
    ck_assert_msg(segment_writer_finish(w, info) == 0, "%s", floe_last_error());
}

void tu_segment_add(cold_t *c, const char *dir, manifest *m, uint64_t id, uint64_t epoch,
                    manifest_seg_state state, int upload)
{
    char *path = NULL, key[COLD_LAYOUT_KEY_MAX];
    segment_info info = {0};
    ck_assert_int_ge(asprintf(&path, "%s/seg-%" PRIu64 "-%" PRIu64, dir, id, epoch), 0);
    unlink(path);
    tu_segment_write(path, id, epoch, 200, &info);
    cold_segment_key(id, epoch, key);
    if (upload)
        ck_assert_msg(cold_put_file(c, key, path, 5u << 20) == 0, "upload %s: %s", key, floe_last_error());
    manifest_segment ms = {
        .id = id,
        .object_key = (state == SEG_REMOTE || state == SEG_LOCAL_REMOTE) ? key : "",
        .size = info.file_bytes,
        .crc32c = info.file_crc32c,
        .min_key = info.min_key,
        .min_key_len = info.min_key_len,
        .max_key = info.max_key,
        .max_key_len = info.max_key_len,
        .min_seq = info.min_seq,
        .max_seq = info.max_seq,
        .count = info.count,
        .epoch = epoch,
        .created_unix_s = info.created_unix_s,
        .state = state,
    };
    ck_assert_int_eq(manifest_add(m, &ms), 0);
    if (m->next_segment_id <= id)
        m->next_segment_id = id + 1;
    if (m->last_seq < info.max_seq)
        m->last_seq = info.max_seq;
    segment_info_clear(&info);
    free(path);
}

manifest *tu_manifest_new(uint64_t epoch)
{
    manifest *m = NULL;
    ck_assert_int_eq(manifest_create(&m), 0);
    m->writer_epoch = epoch;
    return m;
}

void tu_remote_publish(cold_t *c, const manifest *m, uint64_t v)
{
    manifest *r = NULL;
    ck_assert_int_eq(remote_manifest_build(m, NULL, 0, v, &r), 0);
    manifest *earlier = NULL;
    ck_assert_msg(remote_publish(c, r, &earlier) == 0, "publish v%" PRIu64 ": %s", v, floe_last_error());
    manifest_free(r);
}

int tu_cold_exists(cold_t *c, const char *key)
{
    int rc = cold_head(c, key, NULL, NULL);
    ck_assert_msg(rc == 0 || rc == FLOE_ENOTFOUND, "head %s: %s", key, floe_last_error());
    return rc == 0;
}

const char *tu_floe_binary(void)
{
    const char *b = getenv("FLOE_TEST_BINARY");
    return b && b[0] ? b : FLOE_BINARY;
}

int tu_floe_run(char **out, char **err, const char *fmt, ...)
{
    char *args = NULL, *cmd = NULL, *out_path = NULL, *err_path = NULL;
    char *dir = tu_tmpdir("run");
    va_list ap;
    free(*out);
    *out = NULL;
    if (err) {
        free(*err);
        *err = NULL;
    }
    va_start(ap, fmt);
    ck_assert_int_ge(vasprintf(&args, fmt, ap), 0);
    va_end(ap);
    ck_assert_int_ge(asprintf(&out_path, "%s/out", dir), 0);
    ck_assert_int_ge(asprintf(&err_path, "%s/err", dir), 0);
    /* Our redirections come first, so that any in args win. */
    if (err)
        ck_assert_int_ge(
            asprintf(&cmd, "%s </dev/null >%s 2>%s %s", tu_floe_binary(), out_path, err_path, args), 0);
    else
        ck_assert_int_ge(asprintf(&cmd, "%s </dev/null >%s 2>&1 %s", tu_floe_binary(), out_path, args), 0);
    int st = system(cmd);
    ck_assert_msg(st != -1 && WIFEXITED(st), "%s did not exit normally (status %d)", cmd, st);
    size_t len;
    *out = tu_read_file(out_path, &len);
    ck_assert_ptr_nonnull(*out);
    if (err) {
        *err = tu_read_file(err_path, &len);
        ck_assert_ptr_nonnull(*err);
    }
    tu_rmrf(dir);
    free(dir);
    free(cmd);
    free(args);
    free(out_path);
    free(err_path);
    return WEXITSTATUS(st);
}

int tu_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

uint64_t tu_wal_batches(const uint64_t *hist)
{
    uint64_t n = 0;
    for (int i = 0; i < FLOE_WAL_BATCH_BUCKETS; i++)
        n += hist[i];
    return n;
}

void tu_assert_wal_hist_fits(const uint64_t *hist, uint64_t writes)
{
    uint64_t lower = 0, upper = 0;
    int unbounded = 0;
    for (int i = 0; i < FLOE_WAL_BATCH_BUCKETS; i++) {
        lower += hist[i] << i;
        if (i == FLOE_WAL_BATCH_BUCKETS - 1)
            unbounded |= hist[i] != 0;
        else
            upper += hist[i] * ((2ull << i) - 1);
    }
    ck_assert_msg(lower <= writes, "%llu writes, but the histogram's buckets hold at least %llu",
                  (unsigned long long)writes, (unsigned long long)lower);
    ck_assert_msg(unbounded || writes <= upper, "%llu writes, but the histogram's buckets hold at most %llu",
                  (unsigned long long)writes, (unsigned long long)upper);
}

int tu_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd); /* bound, never listened: connections to it are refused */
    return ntohs(a.sin_port);
}

void tu_server_config(tu_server *s, const char *http_extra, const char *top_extra)
{
    if (!s->dir)
        s->dir = tu_tmpdir("http");
    snprintf(s->cfg, sizeof s->cfg, "%s/floe.json", s->dir);
    char text[4096];
    snprintf(text, sizeof text,
             "{ \"data_dir\": \"%s/data\",\n"
             "  \"http\": { \"listen\": \"127.0.0.1:0\", \"threads\": 2, \"max_object_bytes\": %d%s%s },\n"
             "  \"cold\": { \"backend\": \"fs\", \"fs\": { \"path\": \"%s/cold\" } }%s%s }\n",
             s->dir, TU_SERVER_MAX_OBJECT_BYTES, http_extra[0] ? ", " : "", http_extra, s->dir,
             top_extra[0] ? ", " : "", top_extra);
    tu_write_file(s->cfg, text, strlen(text));
}

char *tu_server_log(const tu_server *s, int start)
{
    char path[700];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/serve-%d.log", s->dir, start);
    char *text = tu_read_file(path, &len);
    return text ? text : strdup("");
}

void tu_server_start(tu_server *s)
{
    s->starts++;
    char log_path[700];
    snprintf(log_path, sizeof log_path, "%s/serve-%d.log", s->dir, s->starts);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        unsetenv("FLOE_TOKEN");
        execl(tu_floe_binary(), "floe", "serve", "-c", s->cfg, (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    s->port = 0;
    int64_t deadline_ms = clock_now_ms() + 60000;
    while (clock_now_ms() < deadline_ms) {
        char *log = tu_server_log(s, s->starts);
        const char *at = strstr(log, "serving data_dir=");
        at = at ? strstr(at, "://127.0.0.1:") : NULL; /* http, or https with http.tls */
        if (at)
            s->port = atoi(at + strlen("://127.0.0.1:"));
        int status;
        if (!at && waitpid(pid, &status, WNOHANG) == pid) {
            s->pid = 0;
            ck_abort_msg("floe serve exited early (status %d): %s", status, log);
        }
        free(log);
        if (s->port)
            break;
        clock_sleep_ms(20);
    }
    ck_assert_msg(s->port > 0, "floe serve did not log its port within 60 s");
    char *log = tu_server_log(s, s->starts);
    int tls = strstr(log, " on https://127.0.0.1:") != NULL;
    free(log);
    snprintf(s->base, sizeof s->base, "%s://127.0.0.1:%d", tls ? "https" : "http", s->port);
}

int tu_server_stop(tu_server *s)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 3000; i++) {
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        clock_sleep_ms(10);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &status, 0);
    s->pid = 0;
    return -1;
}

void tu_server_kill9(tu_server *s)
{
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

void tu_server_destroy(tu_server *s)
{
    if (s->pid > 0) {
        int st = tu_server_stop(s);
        if (st != 0) {
            char *log = tu_server_log(s, s->starts);
            fprintf(stderr, "floe serve exited with %d; its log:\n%s\n", st, log);
            free(log);
        }
    }
    if (s->dir) {
        tu_rmrf(s->dir);
        free(s->dir);
    }
    memset(s, 0, sizeof *s);
}
