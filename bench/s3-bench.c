/* s3-bench: an S3 load generator built on floe's own S3 client (src/s3.h), so that floe serve's S3
 * API and another S3 server (the Ceph RGW of scripts/s3-test-server.sh) get exactly the same
 * requests: SigV4-signed (UNSIGNED-PAYLOAD with Content-MD5 on PUTs), path style, one kept-alive
 * connection per thread.
 *
 *   put  --threads threads (32), each with an s3_client of its own, PUT objects of --size bytes to
 *        keys nobody wrote before, for --seconds or until --requests PUTs have been sent. Afterwards
 *        (not timed) the first and last key each thread wrote, --verify keys at most, are read
 *        back and compared byte for byte.
 *   get  --keys objects of --size bytes are PUT and each is read back once and compared (neither
 *        is timed); then the threads GET those keys round and round (a hot set) for --seconds or
 *        --requests, and every body is compared with what was PUT.
 *
 * Every thread first sends one HEAD of a missing key, so the timed part starts on open
 * connections. The client never retries: every request that does not end in a 2xx answer counts as
 * an error, and so does every body that is not byte for byte what was written (its size, or its
 * bytes). The bodies are slices of one shared buffer of random bytes, each key's at an offset of
 * its own, so a server that answers with another key's object is caught too.
 *
 * Prints one JSON object on one line: the settings, requests (those that succeeded, timed), errors,
 * seconds, req_per_s, mb_per_s (10^6 bytes of bodies per second), p50_us/p99_us/p999_us/max_us
 * (successful requests), verified and verify_errors (the untimed read-backs), client_cpu_s (this
 * process's CPU time in the timed part), server_cpu_s (that of the --server-pids processes, -1
 * without them), "ok" (no error of any kind) and the first error's message.
 * Exits 1 when it could not run, 2 when it ran with errors. Everything it writes is under --prefix
 * in --bucket (created if missing) and is deleted at the end with --cleanup. */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "floe.h"
#include "s3.h"

/* Each key's body starts at its own multiple of 8 bytes within the first PAYLOAD_SPAN bytes of the
 * shared buffer: 131072 distinct bodies. */
#define PAYLOAD_SPAN (1u << 20)
#define MAX_THREADS 1024
#define ERROR_MSG_BYTES 512

typedef enum workload { WORKLOAD_PUT, WORKLOAD_GET } workload;

typedef struct settings {
    const char *endpoint;
    const char *bucket;
    const char *prefix;
    const char *access_key;
    const char *secret_key;
    const char *region;
    const char *label; /* copied into the JSON as "server" */
    workload wl;
    size_t size;
    int threads;
    double seconds;    /* 0: run until requests are sent */
    uint64_t requests; /* 0: run for seconds */
    uint64_t keys;     /* get: the hot set */
    uint64_t verify;   /* put: most keys read back */
    uint32_t timeout_ms;
    int cleanup;
    const char *server_pids; /* "PID,PID...": their CPU time over the timed part is reported */
} settings;

typedef enum phase {
    PHASE_WARMUP,
    PHASE_SETUP,
    PHASE_FIRST_PASS,
    PHASE_TIMED,
    PHASE_VERIFY,
    PHASE_CLEANUP
} phase;

/* What every worker reads; written by main only between phases. */
typedef struct shared {
    const settings *cfg;
    const unsigned char *payload; /* size + PAYLOAD_SPAN bytes, read-only once made */
    phase ph;
    uint64_t deadline_ns; /* timed part with --seconds */
    atomic_uint_fast64_t next_op;
} shared;

typedef struct worker {
    pthread_t tid;
    int index;
    shared *sh;
    s3_client *client; /* owned; used only by this worker's thread */
    histogram *hist;   /* the timed part's successful requests */
    uint64_t ops, errors;
    uint64_t verified, verify_errors, setup_errors, cleanup_errors;
    int64_t first_put, last_put; /* put: indices of the first and last key written, -1 for none */
    char first_error[ERROR_MSG_BYTES];
} worker;

static uint64_t op_offset(uint64_t index)
{
    return (index * 8) % PAYLOAD_SPAN;
}

static void key_of(const settings *cfg, uint64_t index, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%" PRIu64, cfg->prefix, index);
}

/* Keeps the first error message this worker saw. */
static void note_error(worker *w, const char *msg)
{
    if (!w->first_error[0])
        snprintf(w->first_error, sizeof w->first_error, "%s", msg);
}

static int put_one(worker *w, uint64_t index)
{
    char key[256];
    key_of(w->sh->cfg, index, key, sizeof key);
    int rc = s3_put(w->client, key, w->sh->payload + op_offset(index), w->sh->cfg->size, 0);
    if (rc != 0)
        note_error(w, floe_last_error());
    return rc;
}

/* GETs key number index and compares the body with what was PUT there. 0, or -1 with the error
 * noted. */
static int get_one(worker *w, uint64_t index)
{
    const settings *cfg = w->sh->cfg;
    char key[256], msg[ERROR_MSG_BYTES];
    void *data = NULL;
    size_t len = 0;
    key_of(cfg, index, key, sizeof key);
    int rc = s3_get(w->client, key, &data, &len, cfg->size + 1);
    if (rc != 0) {
        note_error(w, floe_last_error());
        return -1;
    }
    const unsigned char *want = w->sh->payload + op_offset(index);
    if (len != cfg->size) {
        snprintf(msg, sizeof msg, "GET %s: body of %zu bytes, %zu were PUT", key, len, cfg->size);
        rc = -1;
    } else if (memcmp(data, want, len) != 0) {
        size_t at = 0;
        while (at < len && ((unsigned char *)data)[at] == want[at])
            at++;
        snprintf(msg, sizeof msg, "GET %s: body differs from what was PUT at byte %zu", key, at);
        rc = -1;
    }
    if (rc != 0)
        note_error(w, msg);
    free(data);
    return rc;
}

/* One request of the timed part; takes the next op number. 0 to go on, 1 when the run is over. */
static int timed_step(worker *w)
{
    const settings *cfg = w->sh->cfg;
    if (cfg->seconds > 0 && now_ns() >= w->sh->deadline_ns)
        return 1;
    uint64_t op = atomic_fetch_add(&w->sh->next_op, 1);
    if (cfg->requests && op >= cfg->requests)
        return 1;
    uint64_t t0 = now_ns();
    int rc;
    if (cfg->wl == WORKLOAD_PUT) {
        rc = put_one(w, op);
        if (rc == 0) {
            if (w->first_put < 0)
                w->first_put = (int64_t)op;
            w->last_put = (int64_t)op;
        }
    } else {
        rc = get_one(w, op % cfg->keys);
    }
    if (rc == 0) {
        hist_add(w->hist, now_ns() - t0);
        w->ops++;
    } else {
        w->errors++;
    }
    return 0;
}

static void verify_key(worker *w, int64_t index)
{
    if (index < 0)
        return;
    if (get_one(w, (uint64_t)index) == 0)
        w->verified++;
    else
        w->verify_errors++;
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    const settings *cfg = w->sh->cfg;
    uint64_t n = (uint64_t)cfg->threads;
    switch (w->sh->ph) {
    case PHASE_WARMUP: {
        s3_object_info info;
        char key[256];
        snprintf(key, sizeof key, "%s/warm-up-%d", cfg->prefix, w->index);
        int rc = s3_head(w->client, key, &info);
        if (rc != 0 && rc != FLOE_ENOTFOUND) {
            note_error(w, floe_last_error());
            w->setup_errors++;
        }
        break;
    }
    case PHASE_SETUP:
        for (uint64_t i = (uint64_t)w->index; i < cfg->keys; i += n)
            if (put_one(w, i) != 0)
                w->setup_errors++;
        break;
    case PHASE_FIRST_PASS:
        for (uint64_t i = (uint64_t)w->index; i < cfg->keys; i += n) {
            if (get_one(w, i) == 0)
                w->verified++;
            else
                w->verify_errors++;
        }
        break;
    case PHASE_TIMED:
        while (timed_step(w) == 0)
            ;
        break;
    case PHASE_VERIFY:
        verify_key(w, w->first_put);
        if (w->last_put != w->first_put)
            verify_key(w, w->last_put);
        break;
    case PHASE_CLEANUP: {
        uint64_t end = cfg->wl == WORKLOAD_GET ? cfg->keys : atomic_load(&w->sh->next_op);
        if (cfg->wl == WORKLOAD_PUT && cfg->requests && end > cfg->requests)
            end = cfg->requests;
        char key[256];
        for (uint64_t i = (uint64_t)w->index; i < end; i += n) {
            key_of(cfg, i, key, sizeof key);
            if (s3_delete(w->client, key) != 0 && w->cleanup_errors++ == 0)
                fprintf(stderr, "s3-bench: cleanup: %s\n", floe_last_error());
        }
        break;
    }
    }
    return NULL;
}

static void run_phase(shared *sh, worker *ws, phase ph)
{
    sh->ph = ph;
    for (int i = 0; i < sh->cfg->threads; i++)
        if (pthread_create(&ws[i].tid, NULL, run_worker, &ws[i]) != 0) {
            fprintf(stderr, "s3-bench: cannot start thread %d\n", i);
            exit(1);
        }
    for (int i = 0; i < sh->cfg->threads; i++)
        pthread_join(ws[i].tid, NULL);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* The CPU time (user + system, every thread) of the processes in the comma-separated pids, from
 * /proc/PID/stat; -1 if one cannot be read (it exited, or this is not Linux). */
static double pids_cpu_seconds(const char *pids)
{
    double total = 0;
    long ticks = sysconf(_SC_CLK_TCK);
    for (const char *p = pids; p && *p;) {
        char path[64], line[1024];
        unsigned long pid = strtoul(p, NULL, 10);
        snprintf(path, sizeof path, "/proc/%lu/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            return -1;
        size_t n = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        line[n] = '\0';
        /* Fields after the command (which may hold spaces) in parentheses: state is field 3,
         * utime and stime are 14 and 15. */
        const char *q = strrchr(line, ')');
        unsigned long long utime, stime;
        if (!q ||
            sscanf(q + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
            return -1;
        total += (double)(utime + stime) / (double)ticks;
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return total;
}

/* Writes s as the body of a JSON string (without the quotes). */
static void json_string(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

static unsigned char *make_payload(size_t len)
{
    unsigned char *p = malloc(len);
    if (!p)
        return NULL;
    uint64_t s = 0x9E3779B97F4A7C15ull;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = xorshift(&s);
        memcpy(p + i, &v, 8);
    }
    for (; i < len; i++)
        p[i] = (unsigned char)xorshift(&s);
    return p;
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: s3-bench --endpoint http://127.0.0.1:PORT --workload put|get [--size BYTES]\n"
        "                [--threads 32] (--seconds S | --requests N) [--keys N (get)] [--verify N (put)]\n"
        "                [--bucket s3-bench] [--prefix P] [--access-key K] [--secret-key S]\n"
        "                [--region us-east-1] [--timeout-ms 120000] [--label NAME] [--cleanup]\n"
        "                [--server-pids PID,PID...]\n");
    exit(1);
}

static uint64_t parse_u64(const char *s, const char *what)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end) {
        fprintf(stderr, "s3-bench: %s must be a number, got '%s'\n", what, s);
        exit(1);
    }
    return (uint64_t)v;
}

static void parse_args(int argc, char **argv, settings *cfg)
{
    static const struct option opts[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"bucket", required_argument, NULL, 'b'},
        {"prefix", required_argument, NULL, 'p'},
        {"access-key", required_argument, NULL, 'a'},
        {"secret-key", required_argument, NULL, 's'},
        {"region", required_argument, NULL, 'r'},
        {"workload", required_argument, NULL, 'w'},
        {"size", required_argument, NULL, 'z'},
        {"threads", required_argument, NULL, 't'},
        {"seconds", required_argument, NULL, 'd'},
        {"requests", required_argument, NULL, 'n'},
        {"keys", required_argument, NULL, 'k'},
        {"verify", required_argument, NULL, 'v'},
        {"timeout-ms", required_argument, NULL, 'o'},
        {"label", required_argument, NULL, 'l'},
        {"cleanup", no_argument, NULL, 'c'},
        {"server-pids", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *wl = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            cfg->endpoint = optarg;
            break;
        case 'b':
            cfg->bucket = optarg;
            break;
        case 'p':
            cfg->prefix = optarg;
            break;
        case 'a':
            cfg->access_key = optarg;
            break;
        case 's':
            cfg->secret_key = optarg;
            break;
        case 'r':
            cfg->region = optarg;
            break;
        case 'w':
            wl = optarg;
            break;
        case 'z':
            cfg->size = (size_t)parse_u64(optarg, "--size");
            break;
        case 't':
            cfg->threads = (int)parse_u64(optarg, "--threads");
            break;
        case 'd':
            cfg->seconds = strtod(optarg, NULL);
            break;
        case 'n':
            cfg->requests = parse_u64(optarg, "--requests");
            break;
        case 'k':
            cfg->keys = parse_u64(optarg, "--keys");
            break;
        case 'v':
            cfg->verify = parse_u64(optarg, "--verify");
            break;
        case 'o':
            cfg->timeout_ms = (uint32_t)parse_u64(optarg, "--timeout-ms");
            break;
        case 'l':
            cfg->label = optarg;
            break;
        case 'c':
            cfg->cleanup = 1;
            break;
        case 'P':
            cfg->server_pids = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind != argc || !cfg->endpoint || !wl)
        usage();
    if (strcmp(wl, "put") == 0)
        cfg->wl = WORKLOAD_PUT;
    else if (strcmp(wl, "get") == 0)
        cfg->wl = WORKLOAD_GET;
    else
        usage();
    if (cfg->threads < 1 || cfg->threads > MAX_THREADS || cfg->size == 0 ||
        (cfg->seconds > 0) == (cfg->requests > 0) || (cfg->wl == WORKLOAD_GET && cfg->keys == 0)) {
        fprintf(stderr,
                "s3-bench: need 1..%d threads, a size, exactly one of --seconds and --requests, and "
                "--keys for get\n",
                MAX_THREADS);
        exit(1);
    }
}

/* The outcome of a run, summed over the workers. */
typedef struct result {
    double seconds, client_cpu, server_cpu;
    uint64_t ops, errors, verified, verify_errors, setup_errors, cleanup_errors;
    const char *first_error; /* borrowed from a worker */
    int ok;
} result;

static void sum_workers(const settings *cfg, const worker *ws, histogram *all, result *res)
{
    res->first_error = "";
    for (int i = 0; i < cfg->threads; i++) {
        hist_merge(all, ws[i].hist);
        res->ops += ws[i].ops;
        res->errors += ws[i].errors;
        res->verified += ws[i].verified;
        res->verify_errors += ws[i].verify_errors;
        res->setup_errors += ws[i].setup_errors;
        res->cleanup_errors += ws[i].cleanup_errors;
        if (!res->first_error[0] && ws[i].first_error[0])
            res->first_error = ws[i].first_error;
    }
    res->ok = res->errors == 0 && res->verify_errors == 0 && res->setup_errors == 0;
}

static void print_result(const settings *cfg, const histogram *all, const result *res)
{
    printf("{\"workload\":\"%s\",\"server\":\"", cfg->wl == WORKLOAD_PUT ? "put" : "get");
    json_string(stdout, cfg->label);
    printf("\",\"object_bytes\":%zu,\"threads\":%d,\"keys\":%" PRIu64 ",\"requests\":%" PRIu64
           ",\"errors\":%" PRIu64 ",\"seconds\":%.4f,\"req_per_s\":%.1f,\"mb_per_s\":%.2f,\"p50_us\":%.1f,"
           "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"verified\":%" PRIu64
           ",\"verify_errors\":%" PRIu64 ",\"setup_errors\":%" PRIu64 ",\"cleanup_errors\":%" PRIu64
           ",\"client_cpu_s\":%.3f,\"server_cpu_s\":%.3f,\"ok\":%s,\"first_error\":\"",
           cfg->size, cfg->threads, cfg->wl == WORKLOAD_GET ? cfg->keys : res->ops, res->ops, res->errors,
           res->seconds, (double)res->ops / res->seconds,
           (double)res->ops * (double)cfg->size / res->seconds / 1e6, hist_quantile_us(all, 0.50),
           hist_quantile_us(all, 0.99), hist_quantile_us(all, 0.999), hist_quantile_us(all, 1.0),
           res->verified, res->verify_errors, res->setup_errors, res->cleanup_errors, res->client_cpu,
           res->server_cpu, res->ok ? "true" : "false");
    json_string(stdout, res->first_error);
    printf("\"}\n");
    fflush(stdout);
    if (!res->ok)
        fprintf(stderr,
                "s3-bench: %" PRIu64 " errors, %" PRIu64 " verify errors, %" PRIu64
                " setup errors; first: %s\n",
                res->errors, res->verify_errors, res->setup_errors, res->first_error);
}

/* The timed part, with the CPU time of this process and of the --server-pids around it. */
static void run_timed(shared *sh, worker *ws, result *res)
{
    const settings *cfg = sh->cfg;
    double cpu0 = cpu_seconds();
    double server_cpu0 = cfg->server_pids ? pids_cpu_seconds(cfg->server_pids) : -1;
    uint64_t t0 = now_ns();
    sh->deadline_ns = t0 + (uint64_t)(cfg->seconds * 1e9);
    run_phase(sh, ws, PHASE_TIMED);
    res->seconds = (double)(now_ns() - t0) / 1e9;
    res->client_cpu = cpu_seconds() - cpu0;
    res->server_cpu = -1;
    if (server_cpu0 >= 0) {
        double server_cpu1 = pids_cpu_seconds(cfg->server_pids);
        if (server_cpu1 >= 0)
            res->server_cpu = server_cpu1 - server_cpu0;
    }
}

/* One worker per thread, each with its own client. 0, or -1 with the message printed. */
static int create_workers(const settings *cfg, shared *sh, worker *ws)
{
    s3_config s3c = {.endpoint = cfg->endpoint,
                     .bucket = cfg->bucket,
                     .region = cfg->region,
                     .path_style = 1,
                     .access_key = cfg->access_key,
                     .secret_key = cfg->secret_key,
                     .timeout_ms = cfg->timeout_ms,
                     .max_retries = 0};
    for (int i = 0; i < cfg->threads; i++) {
        worker *w = &ws[i];
        w->index = i;
        w->sh = sh;
        w->first_put = w->last_put = -1;
        w->hist = calloc(1, sizeof *w->hist);
        if (!w->hist || s3_client_create(&s3c, &w->client) != 0) {
            fprintf(stderr, "s3-bench: client for %s: %s\n", cfg->endpoint,
                    w->hist ? floe_last_error() : "out of memory");
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    settings cfg = {.bucket = "s3-bench",
                    .prefix = "s3-bench",
                    .access_key = "floeacc",
                    .secret_key = "floesecret123",
                    .region = "us-east-1",
                    .label = "",
                    .size = 4096,
                    .threads = 32,
                    .verify = 64,
                    .timeout_ms = 120000};
    parse_args(argc, argv, &cfg);

    int rc = 1;
    shared sh = {.cfg = &cfg};
    atomic_init(&sh.next_op, 0);
    result res = {0};
    sh.payload = make_payload(cfg.size + PAYLOAD_SPAN);
    worker *ws = calloc((size_t)cfg.threads, sizeof *ws);
    histogram *all = calloc(1, sizeof *all);
    if (!sh.payload || !ws || !all) {
        fprintf(stderr, "s3-bench: out of memory for a %zu-byte payload\n", cfg.size);
        goto out;
    }
    if (create_workers(&cfg, &sh, ws) != 0)
        goto out;
    if (s3_create_bucket(ws[0].client) != 0) {
        fprintf(stderr, "s3-bench: creating bucket %s at %s: %s\n", cfg.bucket, cfg.endpoint,
                floe_last_error());
        goto out;
    }
    run_phase(&sh, ws, PHASE_WARMUP);
    if (cfg.wl == WORKLOAD_GET) {
        run_phase(&sh, ws, PHASE_SETUP);
        run_phase(&sh, ws, PHASE_FIRST_PASS);
    }
    run_timed(&sh, ws, &res);
    if (cfg.wl == WORKLOAD_PUT && cfg.verify > 0) {
        /* Read back the first and last key of as many threads as --verify allows. */
        int keep = (int)(cfg.verify / 2 < (uint64_t)cfg.threads ? cfg.verify / 2 : (uint64_t)cfg.threads);
        for (int i = keep; i < cfg.threads; i++)
            ws[i].first_put = ws[i].last_put = -1;
        run_phase(&sh, ws, PHASE_VERIFY);
    }
    if (cfg.cleanup)
        run_phase(&sh, ws, PHASE_CLEANUP);
    sum_workers(&cfg, ws, all, &res);
    print_result(&cfg, all, &res);
    rc = res.ok ? 0 : 2;
out:
    for (int i = 0; ws && i < cfg.threads; i++) {
        s3_client_destroy(ws[i].client);
        free(ws[i].hist);
    }
    free(all);
    free(ws);
    free((void *)sh.payload);
    return rc;
}
