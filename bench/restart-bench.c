/* restart-bench: what the pending segment costs. Two steps, run as separate commands so that each
 * measures a process of its own:
 *
 *   restart-bench fill --dir DIR [--mib N | --keys N]
 *       writes keys (20-byte keys, 400-byte values, as floe-bench makes them) in ascending order into
 *       an empty store whose pending segment never seals (segment.max_bytes and max_age_s out of
 *       reach, wal.sync never), reports the resident memory the writes added and the pending
 *       segment's own byte count, per million keys, then closes the store: every key stays in the
 *       WAL only.
 *   restart-bench open --dir DIR
 *       times floe_open on that directory, which replays the whole WAL into the pending segment,
 *       checks that every key came back, and reports the time and the memory the replay added. The
 *       store is closed without sealing, so `open` can be repeated on the same directory.
 *
 * --json prints one JSON object on one line. The WAL is read from the page cache when it was just
 * written; restart-bench does not drop caches (that would hit every other process on the machine). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "floe.h"

typedef struct settings {
    const char *dir;
    uint64_t keys;
    uint64_t mib;
    int key_bytes;
    int value_bytes;
    int json;
} settings;

static void die(const char *what, int rc)
{
    fprintf(stderr, "restart-bench: %s: %s: %s\n", what, floe_strerror(rc), floe_last_error());
    exit(1);
}

/* Resident set size of this process in bytes, from /proc/self/statm. */
static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (!f || fscanf(f, "%llu %llu", &size, &resident) != 2) {
        fprintf(stderr, "restart-bench: cannot read /proc/self/statm\n");
        exit(1);
    }
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Total size of the regular files directly in dir. */
static uint64_t dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    uint64_t total = 0;
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        int n = snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

static void quiet_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level < 2)
        fprintf(stderr, "restart-bench: floe %s: %s\n", level == 0 ? "error" : "warning", msg);
}

/* Options under which nothing seals: the pending segment holds everything until close. */
static floe_options never_seal_options(void)
{
    floe_options o;
    floe_options_init(&o);
    o.wal.sync = FLOE_SYNC_NEVER;
    o.segment.max_bytes = 16ull << 30; /* the largest allowed: this bench never seals by size */
    o.segment.max_age_s = 7 * 24 * 3600;
    o.log_fn = quiet_log;
    return o;
}

static int cmd_fill(const settings *s)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "restart-bench: could not remove %s\n", s->dir);
        return 1;
    }
    uint64_t keys = s->keys ? s->keys : (s->mib << 20) / (uint64_t)(s->key_bytes + s->value_bytes);
    size_t pool_len = (size_t)s->value_bytes + (1u << 20);
    char *pool = malloc(pool_len);
    if (!pool)
        die("value pool", FLOE_ENOMEM);
    uint64_t seed = 7;
    for (size_t i = 0; i < pool_len; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        pool[i] = (char)(' ' + seed % 95);
    }

    floe_options o = never_seal_options();
    floe_t *db = NULL;
    int rc = floe_open(s->dir, &o, &db);
    if (rc < 0)
        die("open", rc);
    uint64_t rss_before = rss_bytes();
    char key[FLOE_MAX_KEY_BYTES];
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < keys; i++) {
        make_key(i, s->key_bytes, key);
        const char *v = pool + (i * 7919) % (pool_len - (size_t)s->value_bytes);
        if ((rc = floe_put(db, key, (size_t)s->key_bytes, v, (size_t)s->value_bytes, NULL, NULL)) < 0)
            die("put", rc);
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    uint64_t rss_after = rss_bytes();
    floe_stats st;
    floe_stats_get(db, &st);
    if (st.seals != 0 || st.pending_entries != keys) {
        fprintf(stderr,
                "restart-bench: expected %" PRIu64 " pending entries and no seal, got %" PRIu64
                " and %" PRIu64 " seals\n",
                keys, st.pending_entries, st.seals);
        return 1;
    }
    if ((rc = floe_close(db)) < 0)
        die("close", rc);
    char wal_dir[4200];
    snprintf(wal_dir, sizeof wal_dir, "%s/wal", s->dir);
    uint64_t wal = dir_bytes(wal_dir);
    double millions = (double)keys / 1e6;
    double rss_per_m = (double)(rss_after > rss_before ? rss_after - rss_before : 0) / millions;
    double pending_per_m = (double)st.pending_bytes / millions;
    double raw_per_m = (double)(s->key_bytes + s->value_bytes) * 1e6;
    if (s->json)
        printf("{\"workload\":\"pending_memory\",\"keys\":%" PRIu64 ",\"key_bytes\":%d,\"value_bytes\":%d,"
               "\"rss_bytes_per_million_keys\":%.0f,\"pending_bytes_per_million_keys\":%.0f,"
               "\"raw_bytes_per_million_keys\":%.0f,\"wal_bytes\":%" PRIu64 ",\"fill_seconds\":%.3f}\n",
               keys, s->key_bytes, s->value_bytes, rss_per_m, pending_per_m, raw_per_m, wal, secs);
    else
        printf("fill        : %" PRIu64
               " keys in %.3f s; per million keys: RSS +%.1f MiB, pending segment %.1f MiB, "
               "keys+values %.1f MiB; WAL %.1f MiB\n",
               keys, secs, rss_per_m / 1048576.0, pending_per_m / 1048576.0, raw_per_m / 1048576.0,
               (double)wal / 1048576.0);
    free(pool);
    return 0;
}

static int cmd_open(const settings *s)
{
    floe_options o = never_seal_options();
    char wal_dir[4200];
    snprintf(wal_dir, sizeof wal_dir, "%s/wal", s->dir);
    uint64_t wal = dir_bytes(wal_dir);
    if (wal == 0) {
        fprintf(stderr, "restart-bench: %s has no WAL to replay; run `restart-bench fill` first\n", s->dir);
        return 1;
    }
    uint64_t rss_before = rss_bytes();
    floe_t *db = NULL;
    uint64_t t0 = now_ns();
    int rc = floe_open(s->dir, &o, &db);
    double secs = (double)(now_ns() - t0) / 1e9;
    if (rc < 0)
        die("open", rc);
    uint64_t rss_after = rss_bytes();
    floe_stats st;
    floe_stats_get(db, &st);
    if ((rc = floe_close(db)) < 0)
        die("close", rc);
    if (st.seals != 0) {
        fprintf(stderr, "restart-bench: the store sealed during replay; the WAL is no longer whole\n");
        return 1;
    }
    double mib_s = (double)wal / 1048576.0 / secs;
    if (s->json)
        printf("{\"workload\":\"restart\",\"open_seconds\":%.3f,\"wal_bytes\":%" PRIu64 ",\"keys\":%" PRIu64
               ",\"replay_mib_s\":%.1f,\"rss_bytes_added\":%" PRIu64 "}\n",
               secs, wal, st.pending_entries, mib_s, rss_after > rss_before ? rss_after - rss_before : 0);
    else
        printf("open        : %.3f s to replay %.1f MiB of WAL (%" PRIu64
               " keys, %.1f MiB/s), RSS +%.1f MiB\n",
               secs, (double)wal / 1048576.0, st.pending_entries, mib_s,
               (double)(rss_after > rss_before ? rss_after - rss_before : 0) / 1048576.0);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: restart-bench fill --dir DIR [--mib N | --keys N] [--key-bytes N] [--value-bytes N] "
            "[--json]\n"
            "       restart-bench open --dir DIR [--json]\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "fill") != 0 && strcmp(argv[1], "open") != 0)) {
        usage();
        return 2;
    }
    const char *cmd = argv[1];
    settings s = {.dir = "/tmp/floe-restart-bench", .mib = 1024, .key_bytes = 20, .value_bytes = 400};
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"mib", required_argument, NULL, 'm'},
        {"keys", required_argument, NULL, 'n'},
        {"key-bytes", required_argument, NULL, 'k'},
        {"value-bytes", required_argument, NULL, 'v'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 2;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            s.dir = optarg;
            break;
        case 'm':
            s.mib = strtoull(optarg, NULL, 10);
            break;
        case 'n':
            s.keys = strtoull(optarg, NULL, 10);
            break;
        case 'k':
            s.key_bytes = atoi(optarg);
            break;
        case 'v':
            s.value_bytes = atoi(optarg);
            break;
        case 'j':
            s.json = 1;
            break;
        default:
            usage();
            return opt == 'h' ? 0 : 2;
        }
    }
    if (strlen(s.dir) > 4000 || strchr(s.dir, '\'') || s.mib < 1 || s.mib > (1u << 20) || s.key_bytes < 16 ||
        s.key_bytes > FLOE_MAX_KEY_BYTES || s.value_bytes < 0 || s.value_bytes > (64 << 20)) {
        fprintf(stderr,
                "restart-bench: --dir at most 4000 bytes without a quote, --mib 1..1048576, --key-bytes "
                "16..1024, --value-bytes 0..64M\n");
        return 2;
    }
    return strcmp(cmd, "fill") == 0 ? cmd_fill(&s) : cmd_open(&s);
}
