/* floe-bench: the embedded store's throughput and latency, shaped like RocksDB's db_bench so the two
 * can be run on the same settings. Workloads:
 *   fillseq     write --num keys in ascending order into an empty store
 *   fillrandom  write --num keys in a random order (every key once) into an empty store
 *   readrandom  read --num random keys that exist (from the store the last fill left)
 *   readhot     read --num random keys from a hot set of 1% of the keys (at least 100)
 * --num is the total across --threads threads. With --json each workload prints one JSON object on
 * its own line: workload, ops, seconds, ops_per_s, p50_us, p99_us, p999_us, the settings, and the
 * WAL's group commit over the timed part (floe_stats deltas): wal_syncs (fdatasyncs),
 * wal_synced_writes (writes acknowledged), wal_group_commits (the rounds that acknowledged them:
 * fdatasyncs with sync=always, write()s of a batch otherwise; docs/operations.md) and
 * writes_per_sync, their mean (0 when there were none). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "floe.h"

typedef struct config {
    uint64_t num;
    int key_bytes;
    int value_bytes;
    int threads;
    floe_sync_mode sync;
    const char *sync_name;
    const char *dir;
    const char *benchmarks;
    int json;
    int compression_none;
    uint64_t cache_bytes;
    int have_cache_bytes;
    uint32_t block_bytes;
} config;

typedef struct thread_ctx {
    pthread_t tid;
    int index;
    const config *cfg;
    floe_t *db;
    const char *workload;
    const uint64_t *order; /* fillrandom: a permutation of 0..num-1 */
    uint64_t begin, end;   /* this thread's slice of the ops */
    uint64_t hot_keys;
    uint64_t seed;
    histogram hist;
    uint64_t found, errors;
    char *value_pool;
    size_t value_pool_len;
} thread_ctx;

/* A pool of values that compress to about half, like db_bench's --compression_ratio=0.5. */
static char *make_value_pool(size_t len, uint64_t seed)
{
    char *p = malloc(len);
    if (!p)
        return NULL;
    for (size_t i = 0; i < len; i += 100) {
        size_t n = len - i < 100 ? len - i : 100;
        for (size_t j = 0; j < n; j++)
            p[i + j] = j < 50 ? (char)(' ' + xorshift(&seed) % 95) : p[i + j - 50];
    }
    return p;
}

static void *run_thread(void *arg)
{
    thread_ctx *t = arg;
    const config *cfg = t->cfg;
    char key[FLOE_MAX_KEY_BYTES];
    int is_fill = strncmp(t->workload, "fill", 4) == 0;
    int is_hot = strcmp(t->workload, "readhot") == 0;
    for (uint64_t i = t->begin; i < t->end; i++) {
        uint64_t n;
        if (strcmp(t->workload, "fillseq") == 0)
            n = i;
        else if (strcmp(t->workload, "fillrandom") == 0)
            n = t->order[i];
        else if (is_hot)
            n = (xorshift(&t->seed) % t->hot_keys) * (cfg->num / t->hot_keys);
        else
            n = xorshift(&t->seed) % cfg->num;
        make_key(n, cfg->key_bytes, key);
        uint64_t t0 = now_ns();
        if (is_fill) {
            size_t off = (size_t)((n * 7919) % (t->value_pool_len - (size_t)cfg->value_bytes));
            int rc = floe_put(t->db, key, (size_t)cfg->key_bytes, t->value_pool + off,
                              (size_t)cfg->value_bytes, NULL, NULL);
            if (rc != 0 && t->errors++ == 0)
                fprintf(stderr, "floe-bench: put: %s\n", floe_last_error());
        } else {
            floe_value v = {0};
            int rc = floe_get(t->db, key, (size_t)cfg->key_bytes, &v);
            if (rc == 0)
                t->found++;
            else if (rc != FLOE_ENOTFOUND && t->errors++ == 0)
                fprintf(stderr, "floe-bench: get: %s\n", floe_last_error());
            floe_value_free(&v);
        }
        hist_add(&t->hist, now_ns() - t0);
    }
    return NULL;
}

/* The WAL group-commit counters of floe_stats (floe.h, wal_batch_hist). */
typedef struct wal_counters {
    uint64_t syncs, synced_writes, group_commits;
} wal_counters;

static wal_counters wal_counters_now(floe_t *db)
{
    wal_counters c = {0};
    floe_stats st;
    if (floe_stats_get(db, &st) != 0) {
        fprintf(stderr, "floe-bench: stats: %s\n", floe_last_error());
        exit(1);
    }
    c.syncs = st.wal_syncs;
    c.synced_writes = st.wal_synced_writes;
    for (int i = 0; i < FLOE_WAL_BATCH_BUCKETS; i++)
        c.group_commits += st.wal_batch_hist[i];
    return c;
}

static int rm_rf(const char *path)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    return system(cmd);
}

static floe_t *open_store(const config *cfg)
{
    floe_options o;
    floe_options_init(&o);
    o.wal.sync = cfg->sync;
    if (cfg->compression_none)
        o.segment.compression = FLOE_COMPRESSION_NONE;
    if (cfg->have_cache_bytes)
        o.cache.object_bytes = cfg->cache_bytes;
    if (cfg->block_bytes)
        o.segment.block_bytes = cfg->block_bytes;
    floe_t *db = NULL;
    int rc = floe_open(cfg->dir, &o, &db);
    if (rc != 0) {
        fprintf(stderr, "floe-bench: open %s: %s\n", cfg->dir, floe_last_error());
        exit(1);
    }
    return db;
}

static int run_workload(const config *cfg, const char *workload, floe_t **dbp)
{
    int is_fill = strncmp(workload, "fill", 4) == 0;
    if (strcmp(workload, "fillseq") && strcmp(workload, "fillrandom") && strcmp(workload, "readrandom") &&
        strcmp(workload, "readhot")) {
        fprintf(stderr, "floe-bench: unknown workload '%s' (fillseq, fillrandom, readrandom, readhot)\n",
                workload);
        return 2;
    }
    if (is_fill) {
        if (*dbp)
            floe_close(*dbp);
        rm_rf(cfg->dir);
        *dbp = open_store(cfg);
    } else if (!*dbp) {
        *dbp = open_store(cfg);
    }
    uint64_t *order = NULL;
    if (strcmp(workload, "fillrandom") == 0) {
        order = malloc(cfg->num * sizeof *order);
        uint64_t s = 42;
        for (uint64_t i = 0; i < cfg->num; i++)
            order[i] = i;
        for (uint64_t i = cfg->num; i > 1; i--) {
            uint64_t j = xorshift(&s) % i;
            uint64_t tmp = order[i - 1];
            order[i - 1] = order[j];
            order[j] = tmp;
        }
    }
    size_t pool_len = (size_t)cfg->value_bytes + (1u << 20);
    char *pool = make_value_pool(pool_len, 7);
    thread_ctx *ts = calloc((size_t)cfg->threads, sizeof *ts);
    uint64_t hot = cfg->num / 100 < 100 ? 100 : cfg->num / 100;
    if (hot > cfg->num)
        hot = cfg->num;
    wal_counters wal0 = wal_counters_now(*dbp);
    uint64_t t0 = now_ns();
    for (int i = 0; i < cfg->threads; i++) {
        thread_ctx *t = &ts[i];
        t->index = i;
        t->cfg = cfg;
        t->db = *dbp;
        t->workload = workload;
        t->order = order;
        t->begin = cfg->num * (uint64_t)i / (uint64_t)cfg->threads;
        t->end = cfg->num * (uint64_t)(i + 1) / (uint64_t)cfg->threads;
        t->hot_keys = hot;
        t->seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1) + 1;
        t->value_pool = pool;
        t->value_pool_len = pool_len;
        pthread_create(&t->tid, NULL, run_thread, t);
    }
    histogram *all = calloc(1, sizeof *all);
    uint64_t found = 0, errors = 0;
    for (int i = 0; i < cfg->threads; i++) {
        pthread_join(ts[i].tid, NULL);
        hist_merge(all, &ts[i].hist);
        found += ts[i].found;
        errors += ts[i].errors;
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    wal_counters wal1 = wal_counters_now(*dbp);
    uint64_t wal_syncs = wal1.syncs - wal0.syncs, synced_writes = wal1.synced_writes - wal0.synced_writes;
    uint64_t group_commits = wal1.group_commits - wal0.group_commits;
    double writes_per_sync = group_commits ? (double)synced_writes / (double)group_commits : 0.0;
    double ops_s = (double)cfg->num / secs;
    double p50 = hist_quantile_us(all, 0.50), p99 = hist_quantile_us(all, 0.99),
           p999 = hist_quantile_us(all, 0.999);
    if (cfg->json) {
        printf("{\"workload\":\"%s\",\"ops\":%" PRIu64 ",\"seconds\":%.4f,\"ops_per_s\":%.1f,\"p50_us\":%.2f,"
               "\"p99_us\":%.2f,\"p999_us\":%.2f,\"threads\":%d,\"sync\":\"%s\",\"key_bytes\":%d,"
               "\"value_bytes\":%d,\"found\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"wal_syncs\":%" PRIu64
               ",\"wal_synced_writes\":%" PRIu64 ",\"wal_group_commits\":%" PRIu64
               ",\"writes_per_sync\":%.2f}\n",
               workload, cfg->num, secs, ops_s, p50, p99, p999, cfg->threads, cfg->sync_name, cfg->key_bytes,
               cfg->value_bytes, found, errors, wal_syncs, synced_writes, group_commits, writes_per_sync);
    } else {
        printf("%-11s : %10.0f ops/s  %8.3f s  p50 %8.2f us  p99 %8.2f us  p99.9 %8.2f us", workload, ops_s,
               secs, p50, p99, p999);
        if (!is_fill)
            printf("  (%" PRIu64 " of %" PRIu64 " found)", found, cfg->num);
        else
            printf("  WAL: %" PRIu64 " syncs, %" PRIu64 " writes in %" PRIu64
                   " group commits, %.2f writes/sync",
                   wal_syncs, synced_writes, group_commits, writes_per_sync);
        printf("\n");
    }
    fflush(stdout);
    free(all);
    free(ts);
    free(pool);
    free(order);
    return errors ? 1 : 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: floe-bench [--benchmarks fillseq,fillrandom,readrandom,readhot] [--num N]\n"
                    "                  [--key-bytes N] [--value-bytes N] [--threads N]\n"
                    "                  [--sync never|interval|always] [--dir DIR] [--compression zstd|none]\n"
                    "                  [--cache-bytes N] [--block-bytes N] [--json]\n");
}

int main(int argc, char **argv)
{
    config cfg = {
        .num = 1000000,
        .key_bytes = 20,
        .value_bytes = 400,
        .threads = 1,
        .sync = FLOE_SYNC_NEVER,
        .sync_name = "never",
        .dir = "/tmp/floe-bench",
        .benchmarks = "fillseq,fillrandom,readrandom,readhot",
    };
    static const struct option longopts[] = {
        {"num", required_argument, NULL, 'n'},
        {"key-bytes", required_argument, NULL, 'k'},
        {"value-bytes", required_argument, NULL, 'v'},
        {"threads", required_argument, NULL, 't'},
        {"sync", required_argument, NULL, 's'},
        {"dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"benchmarks", required_argument, NULL, 'b'},
        {"compression", required_argument, NULL, 'c'},
        {"cache-bytes", required_argument, NULL, 'C'},
        {"block-bytes", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            cfg.num = strtoull(optarg, NULL, 10);
            break;
        case 'k':
            cfg.key_bytes = atoi(optarg);
            break;
        case 'v':
            cfg.value_bytes = atoi(optarg);
            break;
        case 't':
            cfg.threads = atoi(optarg);
            break;
        case 'd':
            cfg.dir = optarg;
            break;
        case 'j':
            cfg.json = 1;
            break;
        case 'b':
            cfg.benchmarks = optarg;
            break;
        case 'B':
            cfg.block_bytes = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'C':
            cfg.cache_bytes = strtoull(optarg, NULL, 10);
            cfg.have_cache_bytes = 1;
            break;
        case 'c':
            if (strcmp(optarg, "none") == 0)
                cfg.compression_none = 1;
            else if (strcmp(optarg, "zstd") != 0) {
                fprintf(stderr, "floe-bench: --compression must be zstd or none\n");
                return 2;
            }
            break;
        case 's':
            cfg.sync_name = optarg;
            if (strcmp(optarg, "never") == 0)
                cfg.sync = FLOE_SYNC_NEVER;
            else if (strcmp(optarg, "interval") == 0)
                cfg.sync = FLOE_SYNC_INTERVAL;
            else if (strcmp(optarg, "always") == 0)
                cfg.sync = FLOE_SYNC_ALWAYS;
            else {
                fprintf(stderr, "floe-bench: --sync must be never, interval or always\n");
                return 2;
            }
            break;
        default:
            usage();
            return c == 'h' ? 0 : 2;
        }
    }
    if (cfg.num < 1 || cfg.threads < 1 || cfg.threads > 1024 || cfg.key_bytes < 16 ||
        cfg.key_bytes > FLOE_MAX_KEY_BYTES || cfg.value_bytes < 0 || cfg.value_bytes > (64 << 20)) {
        fprintf(stderr,
                "floe-bench: --num >= 1, --threads 1..1024, --key-bytes 16..1024, --value-bytes 0..64M\n");
        return 2;
    }
    floe_t *db = NULL;
    int rc = 0;
    char *list = strdup(cfg.benchmarks);
    for (char *save = NULL, *w = strtok_r(list, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        rc = run_workload(&cfg, w, &db);
        if (rc)
            break;
    }
    free(list);
    if (db)
        floe_close(db);
    return rc;
}
