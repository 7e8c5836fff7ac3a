/* cold-bench: floe's cold tier against the same S3 server driven by the curl CLI, so the figures say
 * how much floe adds on top of the bare HTTP requests.
 *
 *   upload    N MiB of 20-byte keys / 400-byte values are written into a local-only store with small
 *             segments and closed; the store is then reopened with the S3 cold tier and
 *             floe_flush(FLOE_DURABLE_REMOTE) uploads every segment (and publishes a manifest after
 *             each). Timed from floe_open to the flush's return. Next to it the same segment files
 *             are PUT to the same server by one curl process, one after another and with curl's
 *             --parallel-max set to floe's upload.concurrency.
 *   cold_get  the bucket is restored into an empty data directory (floe restore), every segment's
 *             index and bloom are loaded by one warm-up read per data block group, then keys that lie
 *             in data blocks nobody has read yet are read in a random order: each read is a disk
 *             block cache miss and costs one ranged GET. Every GET floe sends is recorded (key,
 *             offset, length) by a pass-through cold store, and one curl process then fetches exactly
 *             those byte ranges over a kept-alive connection. With a disk block cache (the default,
 *             --block-cache-bytes), the pass is repeated on another restore without one
 *             (cold_get_no_block_cache), which shows what filling the cache costs a read.
 *   cold_range one object of --range-object-mib MiB (256) is written with floe_writer_* (in chunks
 *             of object.chunk_bytes, as an HTTP PUT is), uploaded and restored into an empty data
 *             directory (so only the bucket has it, in a bucket of its own), then --range-mib MiB (64)
 *             from a quarter of the way in are read with floe_read_range and compared; the GETs
 *             floe sent and the bytes they fetched are counted. Next to it curl fetches the same
 *             bytes with one ranged GET per chunk covered, from the segment objects that hold them.
 *
 * --json prints one JSON object per workload on its own line. Needs an S3 endpoint (the throwaway
 * Ceph RGW of scripts/s3-test-server.sh) and the curl CLI. Everything it creates lives in a fresh
 * bucket (emptied at the end) and under --dir (removed at the end). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "cold_backend.h"
#include "store.h"
#include "floe.h"
#include "s3.h"
#include "tools.h"

#define PREFIX "floe"
/* Caps: the recorded GETs, and curl's answer lines (one short line per ranged GET). */
#define MAX_RECORDED_GETS 200000
#define MAX_READS 100000
#define MAX_SEGMENT_FILES 100000

typedef struct settings {
    const char *endpoint;
    const char *access_key;
    const char *secret_key;
    const char *dir;
    uint64_t mib;
    uint64_t segment_mib;
    unsigned concurrency;
    unsigned reads;
    uint64_t block_cache_bytes; /* cache.block_bytes of the store that serves the cold reads */
    uint64_t range_mib;         /* cold_range: the range read; 0 skips the workload */
    uint64_t range_object_mib;  /* cold_range: the object it is read from */
    int key_bytes;
    int value_bytes;
    int json;
} settings;

static void die(const char *what, int rc)
{
    fprintf(stderr, "cold-bench: %s: %s: %s\n", what, floe_strerror(rc), floe_last_error());
    exit(1);
}

/* ---- A pass-through cold store that records every ranged GET while recording is on ---- */

typedef struct get_record {
    char key[COLD_LAYOUT_KEY_MAX];
    uint64_t offset;
    size_t len;
    uint64_t ns; /* how long the inner store took */
} get_record;

typedef struct rec_cold {
    cold_t base;
    cold_t *inner;      /* owned */
    pthread_mutex_t mu; /* guards recording, log, n */
    int recording;
    get_record *log; /* MAX_RECORDED_GETS entries */
    size_t n;
    uint64_t dropped; /* GETs not recorded: key too long or log full */
} rec_cold;

static cold_t *rec_inner(cold_t *c)
{
    return ((rec_cold *)c)->inner;
}

static int rec_put(cold_t *c, const char *key, const void *data, size_t len, int if_none_match)
{
    return cold_put(rec_inner(c), key, data, len, if_none_match);
}

static int rec_put_file(cold_t *c, const char *key, const char *path, uint64_t part_bytes)
{
    return cold_put_file(rec_inner(c), key, path, part_bytes);
}

static int rec_get_range(cold_t *c, const char *key, uint64_t offset, void *buf, size_t len)
{
    rec_cold *r = (rec_cold *)c;
    uint64_t t0 = now_ns();
    int rc = cold_get_range(r->inner, key, offset, buf, len);
    uint64_t ns = now_ns() - t0;
    pthread_mutex_lock(&r->mu);
    if (r->recording && rc == 0) {
        if (r->n < MAX_RECORDED_GETS && strlen(key) < sizeof r->log[0].key) {
            get_record *g = &r->log[r->n++];
            memcpy(g->key, key, strlen(key) + 1);
            g->offset = offset;
            g->len = len;
            g->ns = ns;
        } else {
            r->dropped++;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int rec_get(cold_t *c, const char *key, void **data, size_t *len, size_t max_len)
{
    return cold_get(rec_inner(c), key, data, len, max_len);
}

static int rec_head(cold_t *c, const char *key, uint64_t *size, char etag[COLD_ETAG_MAX])
{
    return cold_head(rec_inner(c), key, size, etag);
}

static int rec_del(cold_t *c, const char *key)
{
    return cold_delete(rec_inner(c), key);
}

static int rec_list(cold_t *c, const char *prefix, const char *start_after, cold_list_fn fn, void *ctx)
{
    return cold_list_after(rec_inner(c), prefix, start_after, fn, ctx);
}

static void rec_counters(cold_t *c, uint64_t requests[FLOE_COLD_OP_COUNT], uint64_t errors[FLOE_COLD_OP_COUNT],
                         uint64_t retries[FLOE_COLD_OP_COUNT])
{
    cold_get_counters(rec_inner(c), requests, errors, retries);
}

static int rec_health(cold_t *c, char *msg, size_t cap)
{
    return cold_health(rec_inner(c), msg, cap);
}

static void rec_close(cold_t *c)
{
    rec_cold *r = (rec_cold *)c;
    cold_close(r->inner);
    pthread_mutex_destroy(&r->mu);
    free(r->log);
    free(r);
}

static const cold_ops rec_ops = {
    .name = "recording",
    .put = rec_put,
    .put_file = rec_put_file,
    .get_range = rec_get_range,
    .get = rec_get,
    .head = rec_head,
    .del = rec_del,
    .list = rec_list,
    .counters = rec_counters,
    .health = rec_health,
    .close = rec_close,
};

static s3_config s3_settings(const settings *s, const char *bucket, const char *prefix)
{
    s3_config c = {
        .endpoint = s->endpoint,
        .bucket = bucket,
        .prefix = prefix,
        .region = "us-east-1",
        .path_style = 1,
        .access_key = s->access_key,
        .secret_key = s->secret_key,
        .timeout_ms = 60000,
        .max_retries = 3,
    };
    return c;
}

/* A recording store over a new S3 client for bucket/PREFIX; the caller (or the store it is handed
 * to) closes it. */
static rec_cold *rec_open(const settings *s, const char *bucket)
{
    s3_config cfg = s3_settings(s, bucket, PREFIX);
    rec_cold *r = calloc(1, sizeof *r);
    if (!r || !(r->log = calloc(MAX_RECORDED_GETS, sizeof *r->log)))
        die("recording store", FLOE_ENOMEM);
    int rc = cold_open_s3(&cfg, &r->inner);
    if (rc < 0)
        die("cold_open_s3", rc);
    r->base.ops = &rec_ops;
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

/* ---- Keys and values, as floe-bench makes them ---- */

typedef struct value_pool {
    char *bytes;
    size_t len;
} value_pool;

static value_pool make_value_pool(int value_bytes)
{
    value_pool p = {.len = (size_t)value_bytes + (1u << 20)};
    p.bytes = malloc(p.len);
    if (!p.bytes)
        die("value pool", FLOE_ENOMEM);
    uint64_t seed = 7;
    for (size_t i = 0; i < p.len; i++)
        p.bytes[i] = (char)(' ' + xorshift(&seed) % 95);
    return p;
}

static const char *value_for(const value_pool *p, uint64_t n, int value_bytes)
{
    return p->bytes + (n * 7919) % (p->len - (size_t)value_bytes);
}

/* ---- Helpers: processes, files, percentiles ---- */

/* Runs argv (argv[0] looked up in PATH). If out is not NULL, the child's stdout is read into it (at
 * most cap - 1 bytes, NUL-terminated; more is an error). Returns the exit status, or -1. */
static int run_process(char *const argv[], char *out, size_t cap)
{
    int fds[2] = {-1, -1};
    if (out && pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        if (out) {
            close(fds[0]);
            close(fds[1]);
        }
        return -1;
    }
    if (pid == 0) {
        if (out) {
            dup2(fds[1], 1);
            close(fds[0]);
            close(fds[1]);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "cold-bench: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int too_big = 0;
    if (out) {
        close(fds[1]);
        size_t got = 0;
        for (;;) {
            char sink[4096];
            char *dst = got + 1 < cap ? out + got : sink;
            size_t room = got + 1 < cap ? cap - 1 - got : sizeof sink;
            ssize_t r = read(fds[0], dst, room);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            if (dst == sink)
                too_big = 1;
            else
                got += (size_t)r;
        }
        out[got] = '\0';
        close(fds[0]);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (too_big)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void rm_rf(const char *path)
{
    char *argv[] = {"rm", "-rf", (char *)path, NULL};
    run_process(argv, NULL, 0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile of v[0..n) (sorted in place), nearest rank. */
static double quantile(double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

typedef struct seg_file {
    char path[1024];
    char name[256];
    uint64_t bytes;
} seg_file;

/* The *.seg files in dir, in name order. */
static size_t list_segment_files(const char *dir, seg_file **out)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cold-bench: open %s: %s\n", dir, strerror(errno));
        exit(1);
    }
    seg_file *v = calloc(MAX_SEGMENT_FILES, sizeof *v);
    if (!v)
        die("segment list", FLOE_ENOMEM);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < MAX_SEGMENT_FILES) {
        size_t len = strlen(de->d_name);
        if (len < 5 || len >= sizeof v[n].name || strcmp(de->d_name + len - 4, ".seg") != 0)
            continue;
        snprintf(v[n].name, sizeof v[n].name, "%s", de->d_name);
        int plen = snprintf(v[n].path, sizeof v[n].path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (plen < 0 || (size_t)plen >= sizeof v[n].path || stat(v[n].path, &st) != 0)
            continue;
        v[n].bytes = (uint64_t)st.st_size;
        n++;
    }
    closedir(d);
    for (size_t i = 1; i < n; i++) /* insertion sort: a few hundred names at most */
        for (size_t j = i; j > 0 && strcmp(v[j - 1].name, v[j].name) > 0; j--) {
            seg_file t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *out = v;
    return n;
}

/* The curl options every request shares: SigV4 over the body-less canonical request. */
static void curl_auth_lines(FILE *f, const settings *s)
{
    fprintf(f, "aws-sigv4 = \"aws:amz:us-east-1:s3\"\n");
    fprintf(f, "user = \"%s:%s\"\n", s->access_key, s->secret_key);
    fprintf(f, "header = \"x-amz-content-sha256: UNSIGNED-PAYLOAD\"\n");
}

/* PUTs every file to bucket/raw-<tag>/<name> with one curl process, `parallel` transfers at a time
 * (1: one after another over one connection). Returns the wall-clock seconds. */
static double curl_upload(const settings *s, const char *bucket, const seg_file *files, size_t n,
                          unsigned parallel, const char *tag)
{
    char cfg[1200];
    snprintf(cfg, sizeof cfg, "%s/curl-upload-%s.cfg", s->dir, tag);
    FILE *f = fopen(cfg, "w");
    if (!f) {
        fprintf(stderr, "cold-bench: write %s: %s\n", cfg, strerror(errno));
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        if (i)
            fprintf(f, "next\n");
        fprintf(f, "url = \"%s/%s/raw-%s/%s\"\n", s->endpoint, bucket, tag, files[i].name);
        fprintf(f, "upload-file = \"%s\"\n", files[i].path);
        curl_auth_lines(f, s);
        fprintf(f, "output = \"/dev/null\"\nfail\n");
    }
    fclose(f);
    char par[16];
    snprintf(par, sizeof par, "%u", parallel);
    char *seq_argv[] = {"curl", "-sS", "--no-progress-meter", "-K", cfg, NULL};
    char *par_argv[] = {"curl", "-sS", "--no-progress-meter", "--parallel", "--parallel-max", par, "-K",
                        cfg,    NULL};
    uint64_t t0 = now_ns();
    int rc = run_process(parallel > 1 ? par_argv : seq_argv, NULL, 0);
    double secs = (double)(now_ns() - t0) / 1e9;
    if (rc != 0) {
        fprintf(stderr, "cold-bench: curl upload (%s) failed with status %d\n", tag, rc);
        exit(1);
    }
    unlink(cfg);
    return secs;
}

/* Fetches every recorded range with one curl process over a kept-alive connection; fills
 * ms_out[0..n) with each request's time_total in microseconds. */
static void curl_ranged_gets(const settings *s, const char *bucket, const get_record *g, size_t n,
                             double *us_out)
{
    char cfg[1200];
    snprintf(cfg, sizeof cfg, "%s/curl-get.cfg", s->dir);
    FILE *f = fopen(cfg, "w");
    if (!f) {
        fprintf(stderr, "cold-bench: write %s: %s\n", cfg, strerror(errno));
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        if (i)
            fprintf(f, "next\n");
        fprintf(f, "url = \"%s/%s/%s/%s\"\n", s->endpoint, bucket, PREFIX, g[i].key);
        curl_auth_lines(f, s);
        fprintf(f, "header = \"Range: bytes=%" PRIu64 "-%" PRIu64 "\"\n", g[i].offset,
                g[i].offset + g[i].len - 1);
        fprintf(f, "output = \"/dev/null\"\n");
        fprintf(f, "write-out = \"%%{http_code} %%{size_download} %%{time_total}\\n\"\n");
    }
    fclose(f);
    size_t cap = n * 64 + 1;
    char *out = malloc(cap);
    if (!out)
        die("curl output", FLOE_ENOMEM);
    char *argv[] = {"curl", "-sS", "-K", cfg, NULL};
    int rc = run_process(argv, out, cap);
    if (rc != 0) {
        fprintf(stderr, "cold-bench: curl ranged GETs failed with status %d\n", rc);
        exit(1);
    }
    char *p = out;
    for (size_t i = 0; i < n; i++) {
        int code = 0;
        unsigned long long size = 0;
        double secs = 0;
        int used = 0;
        if (sscanf(p, "%d %llu %lf\n%n", &code, &size, &secs, &used) != 3 || code != 206 ||
            size != g[i].len) {
            fprintf(stderr, "cold-bench: curl ranged GET %zu of %s: unexpected answer '%.60s'\n", i, g[i].key,
                    p);
            exit(1);
        }
        us_out[i] = secs * 1e6;
        p += used;
    }
    free(out);
    unlink(cfg);
}

/* ---- The bucket ---- */

static void create_bucket(const settings *s, const char *bucket)
{
    s3_config cfg = s3_settings(s, bucket, "");
    s3_client *c = NULL;
    int rc = s3_client_create(&cfg, &c);
    if (rc < 0 || (rc = s3_create_bucket(c)) < 0)
        die("create bucket", rc);
    s3_client_destroy(c);
}

typedef struct key_list {
    char **keys;
    size_t n, cap;
} key_list;

static int collect_key(void *ctx, const char *key, uint64_t size, int64_t mtime_unix_s)
{
    key_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        if (cap > MAX_SEGMENT_FILES * 4)
            return FLOE_ETOOBIG;
        char **k = realloc(l->keys, cap * sizeof *k);
        if (!k)
            return FLOE_ENOMEM;
        l->keys = k;
        l->cap = cap;
    }
    if (!(l->keys[l->n] = strdup(key)))
        return FLOE_ENOMEM;
    l->n++;
    return 0;
}

/* Deletes every object in the bucket so the memory-backed test server gets its RAM back. */
static void empty_bucket(const settings *s, const char *bucket)
{
    s3_config cfg = s3_settings(s, bucket, "");
    s3_client *c = NULL;
    int rc = s3_client_create(&cfg, &c);
    if (rc < 0)
        die("s3 client", rc);
    key_list l = {0};
    rc = s3_list(c, "", 1000, collect_key, &l);
    if (rc < 0)
        die("list bucket", rc);
    for (size_t i = 0; i < l.n; i++) {
        if ((rc = s3_delete(c, l.keys[i])) < 0)
            die("delete object", rc);
        free(l.keys[i]);
    }
    free(l.keys);
    s3_client_destroy(c);
}

/* ---- The workloads ---- */

/* The store's log, less its info lines (one per upload, claim and eviction). */
static void log_warnings(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level < 2)
        fprintf(stderr, "cold-bench: floe %s: %s\n", level == 0 ? "error" : "warning", msg);
}

static floe_options bench_options(const settings *s)
{
    floe_options o;
    floe_options_init(&o);
    o.wal.sync = FLOE_SYNC_NEVER;
    o.segment.max_bytes = s->segment_mib << 20;
    o.upload.concurrency = s->concurrency;
    o.log_fn = log_warnings;
    return o;
}

static uint64_t key_count(const settings *s)
{
    return (s->mib << 20) / (uint64_t)(s->key_bytes + s->value_bytes);
}

/* Writes the keys into a local-only store at data_dir and closes it with every segment sealed. */
static void fill_local(const settings *s, const char *data_dir, const value_pool *pool)
{
    floe_options o = bench_options(s);
    floe_t *db = NULL;
    int rc = floe_open(data_dir, &o, &db);
    if (rc < 0)
        die("open (fill)", rc);
    char key[FLOE_MAX_KEY_BYTES];
    uint64_t n = key_count(s);
    for (uint64_t i = 0; i < n; i++) {
        make_key(i, s->key_bytes, key);
        rc = floe_put(db, key, (size_t)s->key_bytes, value_for(pool, i, s->value_bytes),
                      (size_t)s->value_bytes, NULL, NULL);
        if (rc < 0)
            die("put", rc);
    }
    if ((rc = floe_flush(db, FLOE_DURABLE_LOCAL)) < 0)
        die("flush local", rc);
    if ((rc = floe_close(db)) < 0)
        die("close (fill)", rc);
}

typedef struct upload_result {
    uint64_t segments, bytes, put_requests;
    double floe_s, curl_seq_s, curl_par_s;
} upload_result;

static upload_result bench_upload(const settings *s, const char *bucket, const char *data_dir)
{
    upload_result res = {0};
    char seg_dir[1200];
    snprintf(seg_dir, sizeof seg_dir, "%s/segments", data_dir);
    seg_file *files = NULL;
    size_t n = list_segment_files(seg_dir, &files);
    uint64_t file_bytes = 0;
    for (size_t i = 0; i < n; i++)
        file_bytes += files[i].bytes;

    floe_options o = bench_options(s);
    rec_cold *rc_store = rec_open(s, bucket);
    floe_t *db = NULL;
    uint64_t t0 = now_ns();
    int rc = store_open_with_cold(data_dir, &o, &rc_store->base, &db);
    if (rc < 0)
        die("open with the S3 cold tier", rc);
    if ((rc = floe_flush(db, FLOE_DURABLE_REMOTE)) < 0)
        die("flush remote", rc);
    res.floe_s = (double)(now_ns() - t0) / 1e9;
    floe_stats st;
    floe_stats_get(db, &st);
    res.segments = st.uploads;
    res.bytes = st.upload_bytes;
    res.put_requests = st.cold_requests[FLOE_COLD_PUT] + st.cold_requests[FLOE_COLD_MPU_PART];
    if ((rc = floe_close(db)) < 0)
        die("close (upload)", rc);
    if (res.segments != n || res.bytes != file_bytes) {
        fprintf(stderr,
                "cold-bench: floe uploaded %" PRIu64 " segments (%" PRIu64
                " bytes); the directory has %zu (%" PRIu64 " bytes)\n",
                res.segments, res.bytes, n, file_bytes);
        exit(1);
    }
    res.curl_seq_s = curl_upload(s, bucket, files, n, 1, "seq");
    res.curl_par_s = curl_upload(s, bucket, files, n, s->concurrency, "par");
    free(files);
    return res;
}

typedef struct get_result {
    size_t reads;
    double gets_per_read;
    double floe_p50, floe_p99, floe_p999, floe_inner_p50, curl_p50, curl_p99, curl_p999;
    double range_bytes_mean;
} get_result;

/* One cold-read pass on a fresh restore into restored_dir, with a disk block cache of
 * block_cache_bytes; seed picks which never-read blocks are read. */
static get_result bench_cold_get(const settings *s, const char *bucket, const char *restored_dir,
                                 uint64_t block_cache_bytes, uint64_t seed, const value_pool *pool)
{
    get_result res = {0};
    /* floe restore: a data directory that knows the segments only from the bucket. */
    s3_config cfg = s3_settings(s, bucket, PREFIX);
    cold_t *c = NULL;
    int rc = cold_open_s3(&cfg, &c);
    if (rc < 0 || (rc = tools_restore(c, restored_dir, NULL)) < 0)
        die("restore", rc);
    cold_close(c);

    floe_options o = bench_options(s);
    o.cache.block_bytes = block_cache_bytes;
    rec_cold *store = rec_open(s, bucket);
    floe_t *db = NULL;
    if ((rc = store_open_with_cold(restored_dir, &o, &store->base, &db)) < 0)
        die("open restored", rc);

    /* Reads land in distinct data blocks: the stride is three blocks' worth of keys, and the warm-up
     * keys sit half a stride away from the measured ones. */
    uint64_t n_keys = key_count(s);
    uint64_t per_block = o.segment.block_bytes / (uint64_t)(s->key_bytes + s->value_bytes) + 1;
    uint64_t stride = 3 * per_block;
    uint64_t slots = n_keys / stride;
    char key[FLOE_MAX_KEY_BYTES];
    for (uint64_t j = 0; j < slots; j++) {
        make_key(j * stride + stride / 2, s->key_bytes, key);
        floe_value v = {0};
        if ((rc = floe_get(db, key, (size_t)s->key_bytes, &v)) < 0)
            die("warm-up get", rc);
        floe_value_free(&v);
    }

    size_t reads = s->reads < slots ? s->reads : (size_t)slots;
    uint64_t *order = malloc(slots * sizeof *order);
    double *lat = malloc(reads * sizeof *lat);
    double *inner = malloc(reads * sizeof *inner);
    if (!order || !lat || !inner)
        die("read buffers", FLOE_ENOMEM);
    for (uint64_t j = 0; j < slots; j++)
        order[j] = j;
    for (uint64_t j = slots; j > 1; j--) {
        uint64_t k = xorshift(&seed) % j, t = order[j - 1];
        order[j - 1] = order[k];
        order[k] = t;
    }

    floe_stats before, after;
    floe_stats_get(db, &before);
    pthread_mutex_lock(&store->mu);
    store->recording = 1;
    pthread_mutex_unlock(&store->mu);
    size_t inner_n = 0;
    for (size_t i = 0; i < reads; i++) {
        uint64_t kn = order[i] * stride;
        make_key(kn, s->key_bytes, key);
        pthread_mutex_lock(&store->mu);
        size_t first = store->n;
        pthread_mutex_unlock(&store->mu);
        floe_value v = {0};
        uint64_t t0 = now_ns();
        rc = floe_get(db, key, (size_t)s->key_bytes, &v);
        lat[i] = (double)(now_ns() - t0) / 1e3;
        if (rc < 0)
            die("cold get", rc);
        if (v.len != (size_t)s->value_bytes ||
            memcmp(v.data, value_for(pool, kn, s->value_bytes), v.len) != 0 || v.tier != FLOE_TIER_COLD) {
            fprintf(stderr, "cold-bench: key %" PRIu64 " came back wrong (len %zu, tier %s)\n", kn, v.len,
                    floe_tier_name(v.tier));
            exit(1);
        }
        floe_value_free(&v);
        pthread_mutex_lock(&store->mu);
        uint64_t ns = 0;
        for (size_t g = first; g < store->n; g++)
            ns += store->log[g].ns;
        pthread_mutex_unlock(&store->mu);
        inner[inner_n++] = (double)ns / 1e3;
    }
    pthread_mutex_lock(&store->mu);
    store->recording = 0;
    size_t n_gets = store->n;
    uint64_t dropped = store->dropped;
    pthread_mutex_unlock(&store->mu);
    floe_stats_get(db, &after);
    if (dropped) {
        fprintf(stderr, "cold-bench: %" PRIu64 " GETs were not recorded\n", dropped);
        exit(1);
    }

    res.reads = reads;
    res.gets_per_read =
        (double)(after.cold_requests[FLOE_COLD_GET] - before.cold_requests[FLOE_COLD_GET]) / (double)reads;
    uint64_t range_bytes = 0;
    for (size_t g = 0; g < n_gets; g++)
        range_bytes += store->log[g].len;
    res.range_bytes_mean = n_gets ? (double)range_bytes / (double)n_gets : 0;
    res.floe_p50 = quantile(lat, reads, 0.50);
    res.floe_p99 = quantile(lat, reads, 0.99);
    res.floe_p999 = quantile(lat, reads, 0.999);
    res.floe_inner_p50 = quantile(inner, inner_n, 0.50);

    /* The same byte ranges, fetched by curl. The log is only read now: recording is off. */
    double *curl_us = malloc((n_gets ? n_gets : 1) * sizeof *curl_us);
    if (!curl_us)
        die("curl timings", FLOE_ENOMEM);
    curl_ranged_gets(s, bucket, store->log, n_gets, curl_us);
    res.curl_p50 = quantile(curl_us, n_gets, 0.50);
    res.curl_p99 = quantile(curl_us, n_gets, 0.99);
    res.curl_p999 = quantile(curl_us, n_gets, 0.999);
    free(curl_us);
    if ((rc = floe_close(db)) < 0)
        die("close (cold reads)", rc);
    free(order);
    free(lat);
    free(inner);
    return res;
}

typedef struct range_result {
    double floe_s, curl_s;
    uint64_t gets, get_bytes;
    uint64_t curl_gets; /* the ranged GETs curl made: one per chunk covered */
} range_result;

/* cold_range: one object of range_object_mib MiB written with floe_writer_* as an HTTP PUT writes it
 * (chunks of object.chunk_bytes, 8 MiB), uploaded and restored (so only the bucket has it), then
 * range_mib MiB from a quarter of the way in read with floe_read_range, against curl ranged GETs of
 * the same bytes of the segment objects that hold them, one per chunk the range covers (the bytes
 * of one chunk are contiguous in one object; chunks may lie in different ones). */
static range_result bench_cold_range(const settings *s, const char *bucket)
{
    range_result res = {0};
    char data_dir[700], restored[700];
    snprintf(data_dir, sizeof data_dir, "%s/range-data", s->dir);
    snprintf(restored, sizeof restored, "%s/range-restored", s->dir);
    size_t object = (size_t)(s->range_object_mib << 20), len = (size_t)(s->range_mib << 20), off = object / 4;
    uint8_t *value = malloc(object);
    if (!value)
        die("range object", FLOE_ENOMEM);
    uint64_t seed = 0x2A76E;
    for (size_t i = 0; i + 8 <= object; i += 8) {
        uint64_t x = xorshift(&seed);
        memcpy(value + i, &x, 8);
    }
    const char *key = "range/big";
    floe_options o = bench_options(s);
    o.max_object_bytes = FLOE_MAX_OBJECT_BYTES_LIMIT;
    floe_t *db = NULL;
    int rc = floe_open(data_dir, &o, &db);
    floe_writer *w = NULL;
    if (rc < 0 || (rc = floe_writer_begin(db, key, strlen(key), NULL, &w)) < 0)
        die("write the range object", rc);
    for (size_t at = 0; at < object; at += 1u << 20)
        if ((rc = floe_writer_write(w, value + at, object - at < (1u << 20) ? object - at : 1u << 20)) < 0)
            die("write the range object", rc);
    floe_stats st;
    if ((rc = floe_writer_commit(w, NULL)) < 0 || (rc = floe_flush(db, FLOE_DURABLE_LOCAL)) < 0 ||
        (rc = floe_close(db)) < 0)
        die("write the range object", rc);

    rec_cold *up = rec_open(s, bucket);
    if ((rc = store_open_with_cold(data_dir, &o, &up->base, &db)) < 0 ||
        (rc = floe_flush(db, FLOE_DURABLE_REMOTE)) < 0 || (rc = floe_stats_get(db, &st)) < 0 ||
        (rc = floe_close(db)) < 0)
        die("upload the range object", rc);

    /* Where each chunk the range covers lies in the uploaded segment files: the same offset in the
     * segment object of the same id (bucket layout: segments/<hh>/<id>-<epoch>.seg). */
    const uint64_t chunk = o.object.chunk_bytes;
    get_record pieces[64];
    size_t n_pieces = 0;
    char seg_dir[800];
    snprintf(seg_dir, sizeof seg_dir, "%s/segments", data_dir);
    seg_file *files = NULL;
    size_t n = list_segment_files(seg_dir, &files);
    for (uint64_t c = off / chunk; c * chunk < off + len && n_pieces < 64; c++) {
        uint64_t from = c * chunk > off ? c * chunk : off;
        uint64_t to = (c + 1) * chunk < off + len ? (c + 1) * chunk : off + len;
        for (size_t i = 0; i < n; i++) {
            FILE *f = fopen(files[i].path, "rb");
            uint8_t *buf = f ? malloc(files[i].bytes) : NULL;
            uint8_t *hit = NULL;
            if (f && buf && fread(buf, 1, files[i].bytes, f) == files[i].bytes)
                hit = memmem(buf, files[i].bytes, value + c * chunk, 4096);
            if (hit) {
                get_record *g = &pieces[n_pieces++];
                memset(g, 0, sizeof *g);
                cold_segment_key(strtoull(files[i].name, NULL, 10), st.writer_epoch, g->key);
                g->offset = (uint64_t)(hit - buf) + (from - c * chunk);
                g->len = (size_t)(to - from);
            }
            free(buf);
            if (f)
                fclose(f);
            if (hit)
                break;
        }
    }
    free(files);
    if (n_pieces == 0 || n_pieces > 63) {
        fprintf(stderr, "cold-bench: the range's chunks are in no segment file\n");
        exit(1);
    }

    s3_config cfg = s3_settings(s, bucket, PREFIX);
    cold_t *c = NULL;
    if ((rc = cold_open_s3(&cfg, &c)) < 0 || (rc = tools_restore(c, restored, NULL)) < 0)
        die("restore (range)", rc);
    cold_close(c);
    rec_cold *store = rec_open(s, bucket);
    o.compaction.l0_trigger = 0; /* the GETs counted are the read's, not a merge's */
    if ((rc = store_open_with_cold(restored, &o, &store->base, &db)) < 0)
        die("open restored (range)", rc);
    pthread_mutex_lock(&store->mu);
    store->recording = 1;
    pthread_mutex_unlock(&store->mu);
    floe_value v = {0};
    uint64_t t0 = now_ns();
    rc = floe_read_range(db, key, strlen(key), off, len, &v, NULL);
    res.floe_s = (double)(now_ns() - t0) / 1e9;
    if (rc < 0)
        die("cold floe_read_range", rc);
    if (v.len != len || memcmp(v.data, value + off, len) != 0 || v.tier != FLOE_TIER_COLD) {
        fprintf(stderr, "cold-bench: the cold range came back wrong (len %zu, tier %s)\n", v.len,
                floe_tier_name(v.tier));
        exit(1);
    }
    floe_value_free(&v);
    pthread_mutex_lock(&store->mu);
    store->recording = 0;
    res.gets = store->n;
    for (size_t g = 0; g < store->n; g++)
        res.get_bytes += store->log[g].len;
    pthread_mutex_unlock(&store->mu);
    if ((rc = floe_close(db)) < 0)
        die("close (range)", rc);
    if (!res.gets) {
        fprintf(stderr, "cold-bench: the cold range read sent no GET\n");
        exit(1);
    }
    double us[64] = {0};
    curl_ranged_gets(s, bucket, pieces, n_pieces, us); /* one after another, over one connection */
    for (size_t i = 0; i < n_pieces; i++)
        res.curl_s += us[i] / 1e6;
    res.curl_gets = n_pieces;
    free(value);
    return res;
}

static void usage(void)
{
    fprintf(stderr, "usage: cold-bench --endpoint http://127.0.0.1:PORT [--access-key K] [--secret-key S]\n"
                    "                  [--mib N] [--segment-mib N] [--concurrency N] [--reads N]\n"
                    "                  [--block-cache-bytes N (default 1 GiB; 0: no disk block cache)]\n"
                    "                  [--range-mib N (default 64; 0: no cold_range)] [--range-object-mib N (256)]\n"
                    "                  [--dir DIR] [--json]\n"
                    "  (--endpoint defaults to $FLOE_BENCH_S3_ENDPOINT)\n");
}

int main(int argc, char **argv)
{
    settings s = {
        .endpoint = getenv("FLOE_BENCH_S3_ENDPOINT"),
        .access_key = "floeacc",
        .secret_key = "floesecret123",
        .dir = "/tmp/floe-cold-bench",
        .mib = 128,
        .segment_mib = 8,
        .concurrency = 4,
        .reads = 500,
        .block_cache_bytes = 1ull << 30,
        .range_mib = 64,
        .range_object_mib = 256,
        .key_bytes = 20,
        .value_bytes = 400,
    };
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"access-key", required_argument, NULL, 'a'},
        {"secret-key", required_argument, NULL, 's'},
        {"mib", required_argument, NULL, 'm'},
        {"segment-mib", required_argument, NULL, 'g'},
        {"concurrency", required_argument, NULL, 'c'},
        {"reads", required_argument, NULL, 'r'},
        {"dir", required_argument, NULL, 'd'},
        {"block-cache-bytes", required_argument, NULL, 'b'},
        {"range-mib", required_argument, NULL, 'R'},
        {"range-object-mib", required_argument, NULL, 'O'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'e':
            s.endpoint = optarg;
            break;
        case 'a':
            s.access_key = optarg;
            break;
        case 's':
            s.secret_key = optarg;
            break;
        case 'm':
            s.mib = strtoull(optarg, NULL, 10);
            break;
        case 'g':
            s.segment_mib = strtoull(optarg, NULL, 10);
            break;
        case 'c':
            s.concurrency = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'r':
            s.reads = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'd':
            s.dir = optarg;
            break;
        case 'b':
            s.block_cache_bytes = strtoull(optarg, NULL, 10);
            break;
        case 'R':
            s.range_mib = strtoull(optarg, NULL, 10);
            break;
        case 'O':
            s.range_object_mib = strtoull(optarg, NULL, 10);
            break;
        case 'j':
            s.json = 1;
            break;
        default:
            usage();
            return opt == 'h' ? 0 : 2;
        }
    }
    if (!s.endpoint || strncmp(s.endpoint, "http", 4) != 0) {
        fprintf(stderr, "cold-bench: --endpoint (or FLOE_BENCH_S3_ENDPOINT) must be an http(s) URL\n");
        usage();
        return 2;
    }
    if (s.mib < 1 || s.mib > 65536 || s.segment_mib < 1 || s.segment_mib > 4096 || s.concurrency < 1 ||
        s.concurrency > 64 || s.reads < 1 || s.reads > MAX_READS || strchr(s.dir, '"') ||
        s.range_object_mib > 1024 || s.range_mib * 4 > s.range_object_mib * 3 ||
        strlen(s.dir) > 512) {
        fprintf(stderr, "cold-bench: --mib 1..65536, --segment-mib 1..4096, --concurrency 1..64, --reads "
                        "1..100000, --range-object-mib at most 1024 with --range-mib at most 3/4 of it,\n"
                        "--dir at most 512 bytes without '\"'\n");
        return 2;
    }

    char bucket[64], data_dir[600], restored_dir[600], restored_nc_dir[600];
    snprintf(bucket, sizeof bucket, "floe-cold-bench-%ld-%d", (long)time(NULL), (int)getpid());
    snprintf(data_dir, sizeof data_dir, "%s/data", s.dir);
    snprintf(restored_dir, sizeof restored_dir, "%s/restored", s.dir);
    snprintf(restored_nc_dir, sizeof restored_nc_dir, "%s/restored-no-block-cache", s.dir);
    rm_rf(s.dir);
    if (mkdir(s.dir, 0755) != 0) {
        fprintf(stderr, "cold-bench: mkdir %s: %s\n", s.dir, strerror(errno));
        return 1;
    }
    create_bucket(&s, bucket);
    value_pool pool = make_value_pool(s.value_bytes);

    fill_local(&s, data_dir, &pool);
    upload_result up = bench_upload(&s, bucket, data_dir);
    get_result runs[2];
    const char *names[2] = {"cold_get", "cold_get_no_block_cache"};
    runs[0] = bench_cold_get(&s, bucket, restored_dir, s.block_cache_bytes, 0x5EED, &pool);
    /* The same reads without the disk block cache show what filling it costs a cold read. */
    int n_runs = 1;
    if (s.block_cache_bytes)
        runs[n_runs++] = bench_cold_get(&s, bucket, restored_nc_dir, 0, 0xC01D, &pool);
    range_result rr = {0};
    if (s.range_mib) { /* a store of its own, so a bucket of its own */
        char range_bucket[80];
        snprintf(range_bucket, sizeof range_bucket, "%s-range", bucket);
        create_bucket(&s, range_bucket);
        rr = bench_cold_range(&s, range_bucket);
        empty_bucket(&s, range_bucket);
    }
    empty_bucket(&s, bucket);
    rm_rf(s.dir);
    free(pool.bytes);

    double mib = (double)up.bytes / (1024.0 * 1024.0);
    double floe_mib_s = mib / up.floe_s, seq_mib_s = mib / up.curl_seq_s, par_mib_s = mib / up.curl_par_s;
    if (s.json) {
        printf("{\"workload\":\"cold_upload\",\"mib\":%.1f,\"segments\":%" PRIu64 ",\"segment_mib\":%" PRIu64
               ",\"concurrency\":%u,\"floe_mib_s\":%.1f,\"curl_seq_mib_s\":%.1f,\"curl_par_mib_s\":%.1f,"
               "\"floe_seconds\":%.3f,\"curl_seq_seconds\":%.3f,\"curl_par_seconds\":%.3f,"
               "\"floe_put_requests\":%" PRIu64 ",\"ratio\":%.3f}\n",
               mib, up.segments, s.segment_mib, s.concurrency, floe_mib_s, seq_mib_s, par_mib_s, up.floe_s,
               up.curl_seq_s, up.curl_par_s, up.put_requests, floe_mib_s / par_mib_s);
        for (int i = 0; i < n_runs; i++) {
            const get_result *gr = &runs[i];
            printf("{\"workload\":\"%s\",\"reads\":%zu,\"gets_per_read\":%.3f,\"range_bytes_mean\":%.0f,"
                   "\"block_cache_bytes\":%" PRIu64 ",\"floe_p50_us\":%.1f,\"floe_p99_us\":%.1f,\"floe_p999_"
                   "us\":%.1f,\"floe_s3_get_p50_us\":%.1f,"
                   "\"curl_p50_us\":%.1f,\"curl_p99_us\":%.1f,\"curl_p999_us\":%.1f,\"ratio\":%.3f}\n",
                   names[i], gr->reads, gr->gets_per_read, gr->range_bytes_mean, i ? 0 : s.block_cache_bytes,
                   gr->floe_p50, gr->floe_p99, gr->floe_p999, gr->floe_inner_p50, gr->curl_p50, gr->curl_p99,
                   gr->curl_p999, gr->floe_p50 / gr->curl_p50);
        }
        if (s.range_mib)
            printf("{\"workload\":\"cold_range\",\"range_mib\":%" PRIu64 ",\"object_mib\":%" PRIu64
                   ",\"floe_seconds\":%.4f,\"floe_mb_s\":%.1f,\"floe_gets\":%" PRIu64 ",\"floe_get_bytes\":%" PRIu64
                   ",\"curl_seconds\":%.4f,\"curl_mb_s\":%.1f,\"curl_gets\":%" PRIu64 ",\"ratio\":%.3f}\n",
                   s.range_mib, s.range_object_mib, rr.floe_s, (double)(s.range_mib << 20) / rr.floe_s / 1e6,
                   rr.gets, rr.get_bytes, rr.curl_s, (double)(s.range_mib << 20) / rr.curl_s / 1e6, rr.curl_gets,
                   rr.floe_s / rr.curl_s);
    } else {
        if (s.range_mib)
            printf("cold_range: %" PRIu64 " MiB of a %" PRIu64 " MiB object: floe %.3f s (%" PRIu64 " GETs, %" PRIu64
                   " bytes), curl %.3f s (%" PRIu64 " GETs)\n",
                   s.range_mib, s.range_object_mib, rr.floe_s, rr.gets, rr.get_bytes, rr.curl_s, rr.curl_gets);
        printf("cold_upload : %.1f MiB in %" PRIu64 " segments of %" PRIu64 " MiB, %u at a time\n", mib,
               up.segments, s.segment_mib, s.concurrency);
        printf("  floe        %8.1f MiB/s  (%.3f s, %" PRIu64 " PUT requests incl. manifests)\n", floe_mib_s,
               up.floe_s, up.put_requests);
        printf("  curl seq    %8.1f MiB/s  (%.3f s)\n", seq_mib_s, up.curl_seq_s);
        printf("  curl par %-2u %8.1f MiB/s  (%.3f s)   floe/curl-par %.2f\n", s.concurrency, par_mib_s,
               up.curl_par_s, floe_mib_s / par_mib_s);
        for (int i = 0; i < n_runs; i++) {
            const get_result *gr = &runs[i];
            printf("%s: %zu reads, disk block cache %" PRIu64
                   " bytes, %.3f S3 GETs per read, %.0f bytes per GET\n",
                   names[i], gr->reads, i ? 0 : s.block_cache_bytes, gr->gets_per_read, gr->range_bytes_mean);
            printf("  floe_get    p50 %8.1f us  p99 %8.1f us  p99.9 %8.1f us  (its S3 GET p50 %.1f us)\n",
                   gr->floe_p50, gr->floe_p99, gr->floe_p999, gr->floe_inner_p50);
            printf("  curl range  p50 %8.1f us  p99 %8.1f us  p99.9 %8.1f us   floe/curl p50 %.2f\n",
                   gr->curl_p50, gr->curl_p99, gr->curl_p999, gr->floe_p50 / gr->curl_p50);
        }
    }
    return 0;
}
