/* Crash test: a child process writes with wal.sync=always and reports every acknowledged key through
 * a pipe; the parent kills it with SIGKILL at random moments (segments seal constantly, so many kills
 * land while one is being written, and compaction merges, uploads to an fs cold tier, publications
 * and evictions run all the time); after reopening, every acknowledged key must read back its value.
 * (gc runs at most once a second, so kills rarely meet one: test_power_loss cuts gc on purpose.)
 * FLOE_LONG_TESTS=1 multiplies the number of kills. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "floe.h"
#include "testutil.h"

#define MAX_ACKS (1u << 20)
/* Sent (as an ack's index) just before the child starts an explicit seal. */
#define SEAL_MARKER UINT32_MAX

/* An acknowledged write: round and index name the key; the value is derived from both. */
typedef struct ack {
    uint32_t round, index;
} ack;

/* The first byte spreads keys over the key space, so every segment overlaps the others and
 * compaction merges (rather than moves) all the time. */
static void key_for(uint32_t round, uint32_t index, char *buf, size_t cap)
{
    uint32_t spread = (uint32_t)(((uint64_t)round << 32 | index) * 0x9E3779B97F4A7C15ull >> 56);
    snprintf(buf, cap, "%02x/r%05u/k%07u", spread, round, index);
}

/* A deterministic value of 0..2999 bytes. */
static size_t value_for(uint32_t round, uint32_t index, char *buf, size_t cap)
{
    uint64_t x = ((uint64_t)round << 32 | index) * 0x9E3779B97F4A7C15ull;
    size_t len = (size_t)(x >> 40) % 3000;
    if (len > cap)
        len = cap;
    for (size_t i = 0; i < len; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        buf[i] = (char)('a' + (x * 0x2545F4914F6CDD1Dull >> 59) % 26);
    }
    return len;
}

/* The fs cold tier every round shares: kills land in uploads, publications and gc runs too. */
static char *cold_dir;

static floe_options crash_opts(void)
{
    floe_options o;
    floe_options_init(&o);
    o.wal.sync = FLOE_SYNC_ALWAYS;
    o.wal.file_bytes = 128 * 1024;
    o.segment.max_bytes = 96 * 1024; /* seal every ~60 writes */
    o.segment.block_bytes = 8192;
    o.cache.object_bytes = 1 << 20;
    /* Small levels: kills land in compaction's merges, output writes and manifest edits too. */
    o.compaction.l0_trigger = 2;
    o.compaction.level_base_bytes = 512 * 1024;
    o.compaction.level_ratio = 4;
    o.compaction.segment_bytes = 128 * 1024;
    o.compaction.max_bytes_per_s = 0;
    o.cold.backend = FLOE_COLD_FS;
    o.cold.fs_path = cold_dir;
    o.upload.concurrency = 2;
    o.gc.interval_s = 1;
    o.gc.grace_s = 0;
    o.local.max_bytes = 256 * 1024; /* evictions, and compactions that download their inputs */
    return o;
}

/* The child: writes keys of this round until killed, acknowledging each on fd. Seals happen on size
 * every few dozen writes, and every 20 writes it announces and starts an explicit seal, so the parent
 * can aim kills at segment writes. */
static void child_main(const char *dir, uint32_t round, int fd)
{
    floe_options o = crash_opts();
    floe_t *db = NULL;
    if (floe_open(dir, &o, &db) != 0) {
        fprintf(stderr, "child: open: %s\n", floe_last_error());
        _exit(2);
    }
    char key[64], val[3000];
    for (uint32_t i = 0;; i++) {
        key_for(round, i, key, sizeof key);
        size_t len = value_for(round, i, val, sizeof val);
        if (floe_put(db, key, strlen(key), val, len, NULL, NULL) != 0) {
            fprintf(stderr, "child: put: %s\n", floe_last_error());
            _exit(3);
        }
        ack a = {round, i};
        if (write(fd, &a, sizeof a) != (ssize_t)sizeof a)
            _exit(4);
        if (i % 20 == 19) {
            ack m = {round, SEAL_MARKER};
            if (write(fd, &m, sizeof m) != (ssize_t)sizeof m)
                _exit(4);
            if (floe_flush(db, FLOE_DURABLE_LOCAL) != 0)
                _exit(5);
        }
    }
}

static uint64_t rng_state;
static uint32_t rnd(void)
{
    return (uint32_t)tu_rand64(&rng_state);
}

/* Reopens the store and checks acknowledged writes: all of them when full, else those from
 * first_new on (this round's) plus a random sample of 200 older ones. */
static void verify_acks(const char *dir, const ack *acks, size_t n_acks, size_t first_new, int full)
{
    floe_options o = crash_opts();
    floe_t *db = NULL;
    int rc = floe_open(dir, &o, &db);
    ck_assert_msg(rc == 0, "reopen after kill: %s: %s", floe_strerror(rc), floe_last_error());
    char key[64], val[3000];
    size_t checks = full ? n_acks : n_acks - first_new + (first_new ? 200 : 0);
    for (size_t c = 0; c < checks; c++) {
        size_t i = full ? c : c < n_acks - first_new ? first_new + c : rnd() % first_new;
        key_for(acks[i].round, acks[i].index, key, sizeof key);
        size_t len = value_for(acks[i].round, acks[i].index, val, sizeof val);
        floe_value v = {0};
        rc = floe_get(db, key, strlen(key), &v);
        ck_assert_msg(rc == 0, "acknowledged key %s lost after kill: %s (%s)", key, floe_strerror(rc),
                      floe_last_error());
        ck_assert_msg(v.len == len && memcmp(v.data, val, len) == 0, "acknowledged key %s has a wrong value",
                      key);
        floe_value_free(&v);
    }
    ck_assert_int_eq(floe_close(db), 0);
}

START_TEST(crash_every_acknowledged_write_survives_sigkill)
{
    char *dir = tu_tmpdir("crash");
    cold_dir = tu_tmpdir("crash-cold");
    unsigned kills = tu_long_tests() ? 1000 : 100;
    rng_state = (uint64_t)time(NULL) * 2654435761u | 1;
    fprintf(stderr, "crash test: %u kills, seed %" PRIu64 "\n", kills, rng_state);
    ack *acks = malloc(MAX_ACKS * sizeof *acks);
    size_t n_acks = 0;
    unsigned seal_kills = 0;

    for (uint32_t round = 0; round < kills; round++) {
        size_t first_new = n_acks;
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(p[0]);
            child_main(dir, round, p[1]);
        }
        close(p[1]);
        /* Let it write for a random while (1..60 ms after its first ack), then kill it. Every other
         * round instead kills 0..1.5 ms after the child announces a seal: inside the segment write. */
        int64_t deadline_ms = -1;
        uint32_t run_ms = 1 + rnd() % 60;
        int aim_at_seal = round % 2 == 1;
        struct timespec t0;
        for (;;) {
            struct pollfd pfd = {.fd = p[0], .events = POLLIN};
            int timeout = 100;
            if (deadline_ms >= 0) {
                int64_t el = clock_elapsed_ms(&t0);
                if (el >= deadline_ms)
                    break;
                timeout = (int)(deadline_ms - el);
            }
            int pr = poll(&pfd, 1, timeout);
            if (pr > 0) {
                ack a;
                ssize_t r = read(p[0], &a, sizeof a);
                if (r == (ssize_t)sizeof a) {
                    if (a.index == SEAL_MARKER) {
                        if (aim_at_seal) {
                            usleep(rnd() % 1500);
                            break;
                        }
                        continue;
                    }
                    if (n_acks < MAX_ACKS)
                        acks[n_acks++] = a;
                    if (deadline_ms < 0) {
                        clock_gettime(CLOCK_MONOTONIC, &t0);
                        deadline_ms = run_ms;
                    }
                } else {
                    break; /* the child died on its own: reported below */
                }
            }
        }
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "child exited on its own (status %d)", status);
        /* Acks the child wrote before it died are acknowledged writes too. */
        ack a;
        while (read(p[0], &a, sizeof a) == (ssize_t)sizeof a)
            if (a.index != SEAL_MARKER && n_acks < MAX_ACKS)
                acks[n_acks++] = a;
        close(p[0]);
        char tmp_probe[512];
        snprintf(tmp_probe, sizeof tmp_probe, "%s/segments", dir);
        /* Count kills that left a half-written segment behind: those landed during a seal. */
        char cmd[600];
        snprintf(cmd, sizeof cmd, "ls %s 2>/dev/null | grep -q '\\.tmp$'", tmp_probe);
        if (system(cmd) == 0)
            seal_kills++;
        /* Verify after every kill, so a loss is caught where it happened: this round's writes and a
         * sample of older ones each time, every write every 10th kill and after the last. (Segments
         * pile up between compactions, and checking all of them every time made the long run
         * quadratic.) */
        verify_acks(dir, acks, n_acks, first_new, round % 10 == 9 || round + 1 == kills);
    }
    fprintf(stderr, "crash test: %zu acknowledged writes verified, %u kills during a segment write\n", n_acks,
            seal_kills);
    ck_assert_uint_gt(n_acks, kills);
    free(acks);
    tu_rmrf(dir);
    free(dir);
    tu_rmrf(cold_dir);
    free(cold_dir);
}
END_TEST

static Suite *crash_suite(void)
{
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("sigkill");
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, crash_every_acknowledged_write_survives_sigkill);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(crash_suite());
}
