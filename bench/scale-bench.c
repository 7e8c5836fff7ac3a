/* scale-bench: whether floe stays as fast and as small at 10M keys as at 1M once compaction runs
 * (issue 10). Every store uses 20-byte keys and 400-byte values shaped like floe-bench's, small seals
 * (--seal-mib, 8 MiB by default), the object cache off (cache.object_bytes = 0, so reads take the
 * segment path) and wal.sync never. Commands, each run as a process of its own:
 *
 *   load --dir DIR --keys N [--l0-trigger T] [--compact] [--reads-before R]
 *       writes keys 0..N-1 once each in a random order into an empty store (the put loop is what
 *       ops_per_s and the put percentiles time), flushes it to segment files, reports the store's
 *       shape (segments_per_read_max, level-0 segments, levels); --reads-before times R random reads
 *       of existing keys on that shape; --compact then runs floe_compact and reports its time, bytes
 *       and the shape after. T = 0 (the default here) keeps background compaction off.
 *   read --dir DIR --keys N --reads R [--missing]
 *       opens the store and does R random gets of existing keys (or, with --missing, of keys one
 *       byte longer than the stored ones, as db_bench's readmissing makes them), checking that each
 *       is found (or not).
 *   open --dir DIR
 *       times floe_open of the store and closes it.
 *   overwrite --dir DIR --keys N --rounds R
 *       writes N keys R times over (background compaction on), floe_compact, and compares the
 *       bytes of the files under DIR/segments/ with the live bytes; then deletes every other key,
 *       floe_compact again, and reports the fraction of those files' bytes that was freed. Spot
 *       checks that the newest values and the deletes read back.
 *   cold --dir DIR --keys N (--cold-fs PATH | --endpoint URL) [--idle-s S] [--gc-interval-s G]
 *       writes N keys into a store with a cold tier (background compaction at --l0-trigger, 4 by
 *       default), floe_flush(FLOE_DURABLE_REMOTE), floe_compact: cold-tier requests and uploaded
 *       bytes per GB ingested; then the store sits idle for S seconds (gc every G seconds) and the
 *       requests it sent meanwhile are counted. With --endpoint a fresh bucket is made (access key
 *       floeacc / floesecret123 unless --access-key / --secret-key).
 *
 * Each command prints one JSON object on one line (--json is accepted, as by the other bench
 * programs). The commands leave DIR in place (`read` and `open` need what `load` left); the caller
 * removes it. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "floe.h"
#include "s3.h"

typedef struct settings {
    const char *command;
    const char *dir;
    uint64_t keys;
    uint64_t reads;
    uint64_t reads_before;
    int key_bytes;
    int value_bytes;
    uint64_t seal_bytes;
    uint32_t l0_trigger;
    int have_l0_trigger;
    int compact;
    int missing;
    int rounds;
    const char *cold_fs;
    const char *endpoint;
    const char *access_key;
    const char *secret_key;
    uint32_t idle_s;
    uint32_t gc_interval_s;
    uint64_t compaction_segment_bytes; /* 0: the library's default */
    int json;
} settings;

static void die(const char *what, int rc)
{
    fprintf(stderr, "scale-bench: %s: %s: %s\n", what, floe_strerror(rc), floe_last_error());
    exit(1);
}

/* Warnings and errors only: the info lines (one per seal, upload and compaction) would swamp the
 * log of a 10M-key load. */
static void quiet_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level < 2)
        fprintf(stderr, "floe: %s\n", msg);
}

static char bucket_name[64];

static floe_options store_options(const settings *s)
{
    floe_options o;
    floe_options_init(&o);
    o.wal.sync = FLOE_SYNC_NEVER;
    o.segment.max_bytes = s->seal_bytes;
    o.cache.object_bytes = 0;
    o.log_fn = quiet_log;
    if (s->have_l0_trigger)
        o.compaction.l0_trigger = s->l0_trigger;
    if (s->cold_fs) {
        o.cold.backend = FLOE_COLD_FS;
        o.cold.fs_path = s->cold_fs;
    } else if (s->endpoint) {
        o.cold.backend = FLOE_COLD_S3;
        o.cold.s3.endpoint = s->endpoint;
        o.cold.s3.bucket = bucket_name;
        o.cold.s3.prefix = "scale";
        o.cold.s3.path_style = 1;
        o.cold.s3.access_key = s->access_key;
        o.cold.s3.secret_key = s->secret_key;
    }
    if (s->gc_interval_s)
        o.gc.interval_s = s->gc_interval_s;
    if (s->compaction_segment_bytes)
        o.compaction.segment_bytes = s->compaction_segment_bytes;
    return o;
}

static floe_t *open_store(const settings *s, double *open_seconds)
{
    floe_options o = store_options(s);
    floe_t *db = NULL;
    uint64_t t0 = now_ns();
    int rc = floe_open(s->dir, &o, &db);
    if (rc != 0)
        die(s->dir, rc);
    if (open_seconds)
        *open_seconds = (double)(now_ns() - t0) / 1e9;
    return db;
}

static floe_stats stats_of(floe_t *db)
{
    floe_stats st;
    memset(&st, 0, sizeof st);
    int rc = floe_stats_get(db, &st);
    if (rc != 0)
        die("floe_stats_get", rc);
    return st;
}

static void remove_tree(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) {
        fprintf(stderr, "scale-bench: could not remove %s\n", path);
        exit(1);
    }
}

/* The bytes of the regular files under dir (recursively); 0 if it does not exist. */
static uint64_t tree_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    uint64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(path, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode))
            sum += tree_bytes(path);
        else if (S_ISREG(sb.st_mode))
            sum += (uint64_t)sb.st_size;
    }
    closedir(d);
    return sum;
}

static uint64_t segment_dir_bytes(const settings *s)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/segments", s->dir);
    return tree_bytes(path);
}

/* Printable bytes that values are cut from, made once: generating 400 random bytes per put would
 * cost more than the put. */
#define VALUE_POOL_BYTES (1u << 20)
static char value_pool[VALUE_POOL_BYTES + (1u << 20)];

static void make_value_pool(void)
{
    uint64_t seed = 7;
    for (size_t i = 0; i < sizeof value_pool; i++)
        value_pool[i] = (char)(' ' + xorshift(&seed) % 95);
}

/* The value of key n in round r: a slice of the pool that depends on both, with the round in its
 * first eight bytes so a read can tell which write it sees. value_bytes is at most 1 MiB. */
static void make_value(uint64_t n, int round, int value_bytes, char *buf)
{
    char head[16];
    size_t off = (size_t)((n * 7919 + (uint64_t)round * 104729) % VALUE_POOL_BYTES);
    memcpy(buf, value_pool + off, (size_t)value_bytes);
    snprintf(head, sizeof head, "%08d", round % 100000000);
    memcpy(buf, head, 8);
}

static uint64_t *random_order(uint64_t n, uint64_t seed)
{
    uint64_t *order = malloc(n * sizeof *order);
    if (!order)
        die("random order", FLOE_ENOMEM);
    for (uint64_t i = 0; i < n; i++)
        order[i] = i;
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = xorshift(&seed) % i;
        uint64_t tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
    return order;
}

typedef struct timing {
    double seconds;
    double ops_per_s;
    double p50_us, p99_us, p999_us;
    uint64_t found;
} timing;

static timing timing_of(const histogram *h, uint64_t ops, uint64_t elapsed_ns)
{
    timing t = {0};
    t.seconds = (double)elapsed_ns / 1e9;
    t.ops_per_s = (double)ops / t.seconds;
    t.p50_us = hist_quantile_us(h, 0.50);
    t.p99_us = hist_quantile_us(h, 0.99);
    t.p999_us = hist_quantile_us(h, 0.999);
    return t;
}

/* Writes keys 0..keys-1 once each, in a random order, as round `round`. */
static timing fill(floe_t *db, const settings *s, int round)
{
    uint64_t *order = random_order(s->keys, 42 + (uint64_t)round);
    histogram *h = calloc(1, sizeof *h);
    char key[FLOE_MAX_KEY_BYTES], *value = malloc((size_t)s->value_bytes + 9);
    if (!h || !value)
        die("fill", FLOE_ENOMEM);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < s->keys; i++) {
        make_key(order[i], s->key_bytes, key);
        make_value(order[i], round, s->value_bytes, value);
        uint64_t a = now_ns();
        int rc = floe_put(db, key, (size_t)s->key_bytes, value, (size_t)s->value_bytes, NULL, NULL);
        if (rc != 0)
            die("floe_put", rc);
        hist_add(h, now_ns() - a);
    }
    timing t = timing_of(h, s->keys, now_ns() - t0);
    free(h);
    free(value);
    free(order);
    return t;
}

/* `reads` random gets of existing keys (missing = 0) or of keys one byte longer (missing = 1). Dies
 * if an existing key is not found or a missing one is. */
static timing read_random(floe_t *db, const settings *s, uint64_t reads, int missing, uint64_t seed)
{
    histogram *h = calloc(1, sizeof *h);
    if (!h)
        die("read", FLOE_ENOMEM);
    char key[FLOE_MAX_KEY_BYTES];
    int len = s->key_bytes + (missing ? 1 : 0);
    uint64_t found = 0;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < reads; i++) {
        uint64_t n = xorshift(&seed) % s->keys;
        make_key(n, len, key);
        floe_value v = {0};
        uint64_t a = now_ns();
        int rc = floe_get(db, key, (size_t)len, &v);
        hist_add(h, now_ns() - a);
        if (rc == 0)
            found++;
        else if (rc != FLOE_ENOTFOUND)
            die("floe_get", rc);
        floe_value_free(&v);
    }
    timing t = timing_of(h, reads, now_ns() - t0);
    t.found = found;
    free(h);
    if (found != (missing ? 0 : reads)) {
        fprintf(stderr, "scale-bench: %" PRIu64 " of %" PRIu64 " %s keys were found\n", found, reads,
                missing ? "missing" : "existing");
        exit(1);
    }
    return t;
}

static void print_timing(const char *prefix, const timing *t)
{
    printf(",\"%sops_per_s\":%.1f,\"%sseconds\":%.3f,\"%sp50_us\":%.2f,\"%sp99_us\":%.2f,\"%sp999_us\":%.2f",
           prefix, t->ops_per_s, prefix, t->seconds, prefix, t->p50_us, prefix, t->p99_us, prefix,
           t->p999_us);
}

static void print_shape(const char *prefix, const floe_stats *st)
{
    printf(",\"%ssegments_per_read_max\":%" PRIu64 ",\"%ssegments_level0\":%" PRIu64 ",\"%slevels\":%" PRIu64
           ",\"%ssegments_local\":%" PRIu64,
           prefix, st->segments_per_read_max, prefix, st->segments_level0, prefix, st->levels, prefix,
           st->segments_local);
}

static void print_compaction(const floe_stats *st)
{
    printf(",\"compactions\":%" PRIu64 ",\"compaction_moves\":%" PRIu64 ",\"compaction_bytes_read\":%" PRIu64
           ",\"compaction_bytes_written\":%" PRIu64 ",\"compaction_errors\":%" PRIu64,
           st->compactions, st->compaction_moves, st->compaction_bytes_read, st->compaction_bytes_written,
           st->compaction_errors);
}

static int cmd_load(const settings *s)
{
    remove_tree(s->dir);
    floe_t *db = open_store(s, NULL);
    timing put = fill(db, s, 0);
    uint64_t t0 = now_ns();
    int rc = floe_flush(db, FLOE_DURABLE_LOCAL);
    if (rc != 0)
        die("floe_flush", rc);
    double flush_s = (double)(now_ns() - t0) / 1e9;
    floe_stats before = stats_of(db);
    timing rb = {0};
    if (s->reads_before)
        rb = read_random(db, s, s->reads_before, 0, 7);
    floe_stats after = before;
    double compact_s = 0;
    if (s->compact) {
        t0 = now_ns();
        if ((rc = floe_compact(db)) != 0)
            die("floe_compact", rc);
        compact_s = (double)(now_ns() - t0) / 1e9;
        after = stats_of(db);
    }
    uint64_t disk = segment_dir_bytes(s);
    if ((rc = floe_close(db)) != 0)
        die("floe_close", rc);
    printf("{\"workload\":\"load\",\"keys\":%" PRIu64
           ",\"key_bytes\":%d,\"value_bytes\":%d,\"seal_bytes\":%" PRIu64 ",\"l0_trigger\":%u",
           s->keys, s->key_bytes, s->value_bytes, s->seal_bytes, s->have_l0_trigger ? s->l0_trigger : 4);
    print_timing("", &put);
    printf(",\"flush_seconds\":%.3f", flush_s);
    print_shape("before_", &before);
    if (s->reads_before) {
        printf(",\"reads_before\":%" PRIu64, s->reads_before);
        print_timing("read_before_", &rb);
    }
    if (s->compact) {
        printf(",\"compact_seconds\":%.3f", compact_s);
        print_shape("after_", &after);
    }
    print_compaction(&after);
    printf(",\"segment_dir_bytes\":%" PRIu64 ",\"seals\":%" PRIu64 "}\n", disk, after.seals);
    return 0;
}

static int cmd_read(const settings *s)
{
    floe_t *db = open_store(s, NULL);
    floe_stats st = stats_of(db);
    timing t = read_random(db, s, s->reads, s->missing, 0x9E3779B97F4A7C15ull);
    int rc = floe_close(db);
    if (rc != 0)
        die("floe_close", rc);
    printf("{\"workload\":\"%s\",\"keys\":%" PRIu64 ",\"reads\":%" PRIu64 ",\"found\":%" PRIu64,
           s->missing ? "readmissing" : "readrandom", s->keys, s->reads, t.found);
    print_timing("", &t);
    print_shape("", &st);
    printf("}\n");
    return 0;
}

static int cmd_open(const settings *s)
{
    double open_s = 0;
    floe_t *db = open_store(s, &open_s);
    floe_stats st = stats_of(db);
    int rc = floe_close(db);
    if (rc != 0)
        die("floe_close", rc);
    printf("{\"workload\":\"open\",\"open_seconds\":%.4f", open_s);
    print_shape("", &st);
    printf(",\"segment_dir_bytes\":%" PRIu64 "}\n", segment_dir_bytes(s));
    return 0;
}

/* Checks `samples` random keys: odd keys (and all keys while deleted_even is 0) must read back with
 * round `round`, even keys must be absent once deleted_even is 1. */
static void spot_check(floe_t *db, const settings *s, int round, int deleted_even, uint64_t samples)
{
    uint64_t seed = 99;
    char key[FLOE_MAX_KEY_BYTES], want[16];
    snprintf(want, sizeof want, "%08d", round % 100000000);
    for (uint64_t i = 0; i < samples; i++) {
        uint64_t n = xorshift(&seed) % s->keys;
        make_key(n, s->key_bytes, key);
        floe_value v = {0};
        int rc = floe_get(db, key, (size_t)s->key_bytes, &v);
        int should_exist = !(deleted_even && n % 2 == 0);
        if (should_exist && (rc != 0 || v.len != (size_t)s->value_bytes || memcmp(v.data, want, 8) != 0)) {
            fprintf(stderr, "scale-bench: key %" PRIu64 " does not read back round %d (rc %d)\n", n, round,
                    rc);
            exit(1);
        }
        if (!should_exist && rc != FLOE_ENOTFOUND) {
            fprintf(stderr, "scale-bench: deleted key %" PRIu64 " reads back (rc %d)\n", n, rc);
            exit(1);
        }
        floe_value_free(&v);
    }
}

static int cmd_overwrite(const settings *s)
{
    remove_tree(s->dir);
    floe_t *db = open_store(s, NULL);
    uint64_t t0 = now_ns();
    for (int r = 0; r < s->rounds; r++)
        fill(db, s, r);
    double write_s = (double)(now_ns() - t0) / 1e9;
    int rc = floe_flush(db, FLOE_DURABLE_LOCAL);
    if (rc != 0)
        die("floe_flush", rc);
    uint64_t disk_before_compact = segment_dir_bytes(s);
    t0 = now_ns();
    if ((rc = floe_compact(db)) != 0)
        die("floe_compact", rc);
    double compact_s = (double)(now_ns() - t0) / 1e9;
    uint64_t disk_full = segment_dir_bytes(s);
    floe_stats full = stats_of(db);
    spot_check(db, s, s->rounds - 1, 0, 2000);

    char key[FLOE_MAX_KEY_BYTES];
    for (uint64_t n = 0; n < s->keys; n += 2) {
        make_key(n, s->key_bytes, key);
        if ((rc = floe_delete(db, key, (size_t)s->key_bytes, NULL)) != 0)
            die("floe_delete", rc);
    }
    if ((rc = floe_flush(db, FLOE_DURABLE_LOCAL)) != 0)
        die("floe_flush", rc);
    t0 = now_ns();
    if ((rc = floe_compact(db)) != 0)
        die("floe_compact", rc);
    double compact2_s = (double)(now_ns() - t0) / 1e9;
    uint64_t disk_half = segment_dir_bytes(s);
    floe_stats half = stats_of(db);
    spot_check(db, s, s->rounds - 1, 1, 2000);
    if ((rc = floe_close(db)) != 0)
        die("floe_close", rc);

    uint64_t live = s->keys * (uint64_t)(s->key_bytes + s->value_bytes);
    printf("{\"workload\":\"overwrite\",\"keys\":%" PRIu64
           ",\"rounds\":%d,\"write_seconds\":%.3f,\"live_bytes\":%" PRIu64
           ",\"disk_bytes_before_compact\":%" PRIu64 ",\"disk_bytes\":%" PRIu64 ",\"space_amp\":%.3f"
           ",\"compact_seconds\":%.3f,\"segments_per_read_max\":%" PRIu64,
           s->keys, s->rounds, write_s, live, disk_before_compact, disk_full,
           (double)disk_full / (double)live, compact_s, full.segments_per_read_max);
    printf(",\"disk_bytes_after_delete\":%" PRIu64 ",\"freed_fraction\":%.4f,\"delete_compact_seconds\":%.3f"
           ",\"segments_per_read_max_after_delete\":%" PRIu64,
           disk_half, disk_full ? 1.0 - (double)disk_half / (double)disk_full : 0.0, compact2_s,
           half.segments_per_read_max);
    print_compaction(&half);
    printf("}\n");
    return 0;
}

static s3_config bucket_config(const settings *s)
{
    s3_config c = {
        .endpoint = s->endpoint,
        .bucket = bucket_name,
        .prefix = "",
        .region = "us-east-1",
        .path_style = 1,
        .access_key = s->access_key,
        .secret_key = s->secret_key,
        .timeout_ms = 60000,
        .max_retries = 3,
    };
    return c;
}

static void create_bucket(const settings *s)
{
    s3_config cfg = bucket_config(s);
    s3_client *c = NULL;
    int rc = s3_client_create(&cfg, &c);
    if (rc < 0 || (rc = s3_create_bucket(c)) < 0)
        die("create bucket", rc);
    s3_client_destroy(c);
}

static uint64_t requests_total(const floe_stats *st)
{
    uint64_t sum = 0;
    for (int i = 0; i < FLOE_COLD_OP_COUNT; i++)
        sum += st->cold_requests[i];
    return sum;
}

/* ,"<prefix>put":N,... for every operation, as the difference b - a. */
static void print_requests(const char *prefix, const floe_stats *a, const floe_stats *b)
{
    for (int i = 0; i < FLOE_COLD_OP_COUNT; i++)
        printf(",\"%s%s\":%" PRIu64, prefix, floe_cold_op_name((floe_cold_op)i),
               b->cold_requests[i] - (a ? a->cold_requests[i] : 0));
}

static int cmd_cold(const settings *s)
{
    if (!s->cold_fs && !s->endpoint) {
        fprintf(stderr, "scale-bench: cold needs --cold-fs PATH or --endpoint URL\n");
        return 2;
    }
    remove_tree(s->dir);
    if (s->cold_fs)
        remove_tree(s->cold_fs);
    if (s->endpoint) {
        snprintf(bucket_name, sizeof bucket_name, "floe-scale-bench-%ld-%d", (long)time(NULL), (int)getpid());
        create_bucket(s);
    }
    floe_t *db = open_store(s, NULL);
    timing put = fill(db, s, 0);
    uint64_t t0 = now_ns();
    int rc = floe_flush(db, FLOE_DURABLE_REMOTE);
    if (rc != 0)
        die("floe_flush remote", rc);
    double flush_s = (double)(now_ns() - t0) / 1e9;
    floe_stats flushed = stats_of(db);
    t0 = now_ns();
    if ((rc = floe_compact(db)) != 0)
        die("floe_compact", rc);
    double compact_s = (double)(now_ns() - t0) / 1e9;
    floe_stats done = stats_of(db);

    /* Idle: nothing is written; background compaction and gc stay on. The first gc run after the
     * compaction's publication has work to do (the objects compaction replaced), so the requests
     * after it finished are counted apart: those are what a store that stays idle keeps sending. */
    floe_stats idle = done, after_gc = done;
    int gc_seen = 0;
    double gc_at_s = -1;
    uint64_t idle_start = now_ns();
    for (uint32_t waited = 0; waited < s->idle_s; waited++) {
        sleep(1);
        idle = stats_of(db);
        if (!gc_seen && idle.gc_runs + idle.gc_errors > done.gc_runs + done.gc_errors) {
            gc_seen = 1;
            after_gc = idle;
            gc_at_s = (double)(now_ns() - idle_start) / 1e9;
        }
    }
    if (!gc_seen)
        after_gc = done;
    if ((rc = floe_close(db)) != 0)
        die("floe_close", rc);

    double ingested = (double)s->keys * (double)(s->key_bytes + s->value_bytes);
    double gb = ingested / 1e9;
    printf("{\"workload\":\"cold\",\"backend\":\"%s\",\"keys\":%" PRIu64 ",\"ingested_bytes\":%.0f",
           s->endpoint ? "s3" : "fs", s->keys, ingested);
    print_timing("put_", &put);
    printf(",\"flush_seconds\":%.3f,\"compact_seconds\":%.3f", flush_s, compact_s);
    printf(",\"requests\":%" PRIu64 ",\"requests_per_gb\":%.1f,\"upload_bytes\":%" PRIu64
           ",\"upload_bytes_per_gb\":%.0f,\"upload_amp\":%.3f,\"uploads\":%" PRIu64,
           requests_total(&done), (double)requests_total(&done) / gb, done.upload_bytes,
           (double)done.upload_bytes / gb, (double)done.upload_bytes / ingested, done.uploads);
    printf(",\"requests_before_compact\":%" PRIu64 ",\"upload_bytes_before_compact\":%" PRIu64,
           requests_total(&flushed), flushed.upload_bytes);
    print_requests("req_", NULL, &done);
    printf(",\"idle_s\":%u,\"gc_interval_s\":%u,\"idle_requests\":%" PRIu64, s->idle_s,
           s->gc_interval_s ? s->gc_interval_s : 3600, requests_total(&idle) - requests_total(&done));
    print_requests("idle_", &done, &idle);
    printf(",\"gc_runs\":%" PRIu64 ",\"idle_gc_runs\":%" PRIu64 ",\"idle_gc_errors\":%" PRIu64
           ",\"idle_compactions\":%" PRIu64
           ",\"first_gc_at_s\":%.1f,\"idle_requests_after_first_gc\":%" PRIu64,
           idle.gc_runs, idle.gc_runs - done.gc_runs, idle.gc_errors - done.gc_errors,
           idle.compactions - done.compactions, gc_at_s, requests_total(&idle) - requests_total(&after_gc));
    print_shape("", &done);
    print_compaction(&done);
    printf("}\n");
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: scale-bench load --dir DIR --keys N [--l0-trigger T] [--compact] [--reads-before R]\n"
            "       scale-bench read --dir DIR --keys N --reads R [--missing]\n"
            "       scale-bench open --dir DIR\n"
            "       scale-bench overwrite --dir DIR --keys N --rounds R\n"
            "       scale-bench cold --dir DIR --keys N (--cold-fs PATH | --endpoint URL) [--idle-s S]\n"
            "                        [--gc-interval-s G] [--access-key K] [--secret-key S]\n"
            "   common: [--seal-mib M (8)] [--compaction-segment-mib M (the library's 64)] [--key-bytes 20]\n"
            "           [--value-bytes 400] [--json]\n");
}

static uint64_t number(const char *flag, const char *arg, uint64_t max)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || !end || *end || v > max) {
        fprintf(stderr, "scale-bench: %s wants a number up to %" PRIu64 ", not '%s'\n", flag, max, arg);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    settings s = {
        .dir = "/tmp/floe-scale-bench",
        .keys = 1000000,
        .reads = 1000000,
        .key_bytes = 20,
        .value_bytes = 400,
        .seal_bytes = 8ull << 20,
        .rounds = 20,
        .access_key = "floeacc",
        .secret_key = "floesecret123",
        .idle_s = 60,
        .gc_interval_s = 30,
    };
    if (argc < 2 || argv[1][0] == '-') {
        usage();
        return 2;
    }
    s.command = argv[1];
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"keys", required_argument, NULL, 'n'},
        {"reads", required_argument, NULL, 'r'},
        {"reads-before", required_argument, NULL, 'R'},
        {"key-bytes", required_argument, NULL, 'k'},
        {"value-bytes", required_argument, NULL, 'v'},
        {"seal-mib", required_argument, NULL, 'S'},
        {"l0-trigger", required_argument, NULL, 'T'},
        {"compact", no_argument, NULL, 'c'},
        {"missing", no_argument, NULL, 'm'},
        {"rounds", required_argument, NULL, 'o'},
        {"cold-fs", required_argument, NULL, 'f'},
        {"endpoint", required_argument, NULL, 'e'},
        {"access-key", required_argument, NULL, 'a'},
        {"secret-key", required_argument, NULL, 's'},
        {"idle-s", required_argument, NULL, 'i'},
        {"gc-interval-s", required_argument, NULL, 'g'},
        {"compaction-segment-mib", required_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            s.dir = optarg;
            break;
        case 'n':
            s.keys = number("--keys", optarg, 1ull << 36);
            break;
        case 'r':
            s.reads = number("--reads", optarg, 1ull << 36);
            break;
        case 'R':
            s.reads_before = number("--reads-before", optarg, 1ull << 36);
            break;
        case 'k':
            s.key_bytes = (int)number("--key-bytes", optarg, FLOE_MAX_KEY_BYTES - 1);
            break;
        case 'v':
            s.value_bytes = (int)number("--value-bytes", optarg, 1 << 20);
            break;
        case 'S':
            s.seal_bytes = number("--seal-mib", optarg, 16384) << 20;
            break;
        case 'T':
            s.l0_trigger = (uint32_t)number("--l0-trigger", optarg, 1000);
            s.have_l0_trigger = 1;
            break;
        case 'c':
            s.compact = 1;
            break;
        case 'm':
            s.missing = 1;
            break;
        case 'o':
            s.rounds = (int)number("--rounds", optarg, 10000);
            break;
        case 'f':
            s.cold_fs = optarg;
            break;
        case 'e':
            s.endpoint = optarg;
            break;
        case 'a':
            s.access_key = optarg;
            break;
        case 's':
            s.secret_key = optarg;
            break;
        case 'i':
            s.idle_s = (uint32_t)number("--idle-s", optarg, 86400);
            break;
        case 'g':
            s.gc_interval_s = (uint32_t)number("--gc-interval-s", optarg, 604800);
            break;
        case 'C':
            s.compaction_segment_bytes = number("--compaction-segment-mib", optarg, 16384) << 20;
            break;
        case 'j':
            s.json = 1;
            break;
        default:
            usage();
            return c == 'h' ? 0 : 2;
        }
    }
    if (s.keys < 2 || s.key_bytes < 16 || s.value_bytes < 8 || s.rounds < 1 || s.seal_bytes == 0) {
        fprintf(stderr, "scale-bench: --keys >= 2, --key-bytes >= 16, --value-bytes >= 8, --rounds >= 1, "
                        "--seal-mib >= 1\n");
        return 2;
    }
    /* The load and overwrite stores keep background compaction off unless asked: the load measures
     * the shape before compaction; cold runs with the library's default. */
    if (!s.have_l0_trigger && (strcmp(s.command, "load") == 0)) {
        s.l0_trigger = 0;
        s.have_l0_trigger = 1;
    }
    make_value_pool();
    if (strcmp(s.command, "load") == 0)
        return cmd_load(&s);
    if (strcmp(s.command, "read") == 0)
        return cmd_read(&s);
    if (strcmp(s.command, "open") == 0)
        return cmd_open(&s);
    if (strcmp(s.command, "overwrite") == 0)
        return cmd_overwrite(&s);
    if (strcmp(s.command, "cold") == 0)
        return cmd_cold(&s);
    fprintf(stderr, "scale-bench: unknown command '%s'\n", s.command);
    usage();
    return 2;
}
