/* Power loss at random instants (issue 9, part 11).
 *
 * A child process runs a workload against a store whose cold tier is a local directory: puts,
 * overwrites, deletes and chunked objects (floe_writer_*) in a known order, with the WAL in each sync mode, small WAL files (rotation),
 * the chunks' WAL batches written around the page cache after a pad,
 * a small pending segment (seals and segment writes), uploads and manifest publishes, a small local
 * budget (eviction) and a gc of the cold tier. The file environment of tests/file_fault.h turns the
 * Nth file mutation into a power loss: what was not synced is dropped, zeroed or kept page by page,
 * directory changes not followed by a directory fsync are undone, and the child dies. The parent
 * then opens the store as a restart would and checks:
 *   - it opens (and opens again);
 *   - sync "always": every acknowledged write reads back (the one write in flight may or may not);
 *   - "interval" and "never": what survives is exactly the first S writes for some S, never a
 *     newer write without an older one;
 *   - a chunked object is whole or absent, and no chunk of one the power loss cut off is left.
 * Half the cut points fall on any of the workload's mutations (counted by a run without a crash),
 * half on the nth call of one kind (WAL, segment write, manifest save, upload, publish, eviction,
 * gc) in turn; each crash notes what it interrupted and the test reports the spread and requires
 * every kind. 200 runs by default; FLOE_LONG_TESTS=1 runs 3000; FLOE_POWER_LOSS_SEED picks others;
 * FLOE_POWER_LOSS_RUN=N runs only run N, keeps its directory and names the keys that differ. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cold.h"
#include "file_fault.h"
#include "floe.h"
#include "store.h"
#include "testutil.h"
#include "tools/tools.h"

#define EVENTS 240
#define KEYS (EVENTS + 1) /* one key per event, and the counter */
#define COUNTER KEYS - 1
#define ACK_DONE 0xffffffffu

typedef enum kind { EV_PUT, EV_COUNTER, EV_DELETE, EV_DELETE_PREFIX, EV_OBJECT } kind;

/* Every 20th event (13, 33, ...) writes a chunked object through floe_writer_* (issue 11): three
 * chunks of the smallest size, the last one short. No event deletes those keys. */
#define OBJECT_CHUNK 4096
#define OBJECT_CHUNKS 3

/* Event PREFIX_EVENT deletes the prefix "k0010": keys 100 to 109, all written before it. */
#define PREFIX_EVENT 170
#define PREFIX_FIRST 100
#define PREFIX_KEYS 10

/* Event e of the workload: what it writes. Every 8th bumps one shared counter key (a newer write of
 * an old key), every 16th deletes the key event e - 3 wrote, PREFIX_EVENT deletes a prefix, the
 * others put key e. */
static kind event_kind(int e)
{
    if (e == PREFIX_EVENT)
        return EV_DELETE_PREFIX;
    if (e % 20 == 13)
        return EV_OBJECT;
    if (e % 8 == 7)
        return EV_COUNTER;
    if (e % 16 == 3 && e >= 3)
        return EV_DELETE;
    return EV_PUT;
}

static int event_key(int e)
{
    switch (event_kind(e)) {
    case EV_COUNTER:
        return COUNTER;
    case EV_DELETE:
        return e - 3;
    default:
        return e;
    }
}

static void key_name(int k, char *out, size_t cap)
{
    if (k == COUNTER)
        snprintf(out, cap, "counter");
    else
        snprintf(out, cap, "k%05d", k);
}

/* The value event e writes: its number, padded to a size that varies with e (40..1040 bytes). */
static size_t event_value(int e, char *out, size_t cap)
{
    size_t len = 40 + (size_t)(e * 7919 % 1000);
    if (len > cap)
        len = cap;
    memset(out, 'a' + e % 26, len);
    snprintf(out, 16, "e%06d", e);
    out[7] = '|';
    return len;
}

/* The object event e writes: its length, and byte i of it (the first 8 name the event, as a put's). */
static size_t object_len(int e)
{
    return 2 * OBJECT_CHUNK + 1000 + (size_t)e;
}

static uint8_t object_byte(int e, size_t i)
{
    char head[16];
    snprintf(head, sizeof head, "e%06d|", e);
    return i < 8 ? (uint8_t)head[i] : (uint8_t)(i * 31 + (size_t)e + i / 4093);
}

static void quiet(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)level;
    (void)msg;
}

static void store_options(floe_options *o, const char *cold_dir, floe_sync_mode sync)
{
    floe_options_init(o);
    o->wal.sync = sync;
    o->wal.interval_ms = 2;
    o->wal.file_bytes = 64 * 1024;
    o->segment.max_bytes = 12 * 1024;
    o->segment.block_bytes = 2048;
    o->local.max_bytes = 24 * 1024;
    o->cold.backend = FLOE_COLD_FS;
    o->cold.fs_path = cold_dir;
    o->upload.concurrency = 2;
    o->object.chunk_bytes = OBJECT_CHUNK;
    /* An object's chunk (4 KiB and its record header) is a WAL batch written around the page cache
     * after a pad (wal.c invariant 12), so cut points fall inside those writes too. */
    o->wal_io.direct_batch_bytes = OBJECT_CHUNK;
    o->log_fn = quiet;
}

static void write_u32(int fd, uint32_t v)
{
    if (write(fd, &v, sizeof v) != (ssize_t)sizeof v)
        _exit(3);
}

/* Deletes orphans and old manifests of the cold tier, as `floe gc --grace-s 0` would. */
static void gc_cold(const char *cold_dir)
{
    cold_t *c = NULL;
    if (cold_open_fs(cold_dir, &c) != 0)
        return;
    FILE *devnull = fopen("/dev/null", "w");
    (void)tools_gc(c, 0, 2, 0, devnull, NULL);
    if (devnull)
        fclose(devnull);
    cold_close(c);
}

/* The child: runs the workload, acknowledging each event on ack_fd, then reports the mutations it
 * made. Any unexpected failure exits 3 with a message on stderr. */
static void workload(const char *data_dir, const char *cold_dir, floe_sync_mode sync, int ack_fd)
{
    floe_options o;
    store_options(&o, cold_dir, sync);
    floe_t *db = NULL;
    int rc = floe_open(data_dir, &o, &db);
    if (rc != 0) {
        fprintf(stderr, "workload: floe_open: %s\n", floe_last_error());
        _exit(3);
    }
    char key[32], value[1100];
    for (int e = 0; e < EVENTS; e++) {
        key_name(event_key(e), key, sizeof key);
        if (event_kind(e) == EV_DELETE_PREFIX) {
            rc = floe_delete_prefix(db, "k0010", 5, NULL);
        } else if (event_kind(e) == EV_OBJECT) {
            floe_writer *w = NULL;
            static uint8_t buf[OBJECT_CHUNK];
            rc = floe_writer_begin(db, key, strlen(key), NULL, &w);
            for (size_t at = 0, n; rc == 0 && at < object_len(e); at += n) {
                n = object_len(e) - at < 3000 ? object_len(e) - at : 3000;
                for (size_t i = 0; i < n; i++)
                    buf[i] = object_byte(e, at + i);
                rc = floe_writer_write(w, buf, n);
            }
            if (rc == 0)
                rc = floe_writer_commit(w, NULL);
            else
                floe_writer_abort(w);
        } else if (event_kind(e) == EV_DELETE) {
            rc = floe_delete(db, key, strlen(key), NULL);
        } else {
            size_t len = event_value(e, value, sizeof value);
            rc = floe_put(db, key, strlen(key), value, len, NULL, NULL);
        }
        if (rc == FLOE_EBEHIND) {
            e--; /* the cold tier is behind: nothing was written, try again */
            continue;
        }
        if (rc != 0) {
            fprintf(stderr, "workload: event %d: %s\n", e, floe_last_error());
            _exit(3);
        }
        write_u32(ack_fd, (uint32_t)e);
        if (e % 60 == 59 && (rc = floe_flush(db, e % 120 == 119 ? FLOE_DURABLE_REMOTE : FLOE_DURABLE_LOCAL))) {
            fprintf(stderr, "workload: flush after event %d: %s\n", e, floe_last_error());
            _exit(3);
        }
        if (e == 180)
            gc_cold(cold_dir);
        if ((e == 100 || e == 200) && (rc = floe_compact(db)) != 0) {
            fprintf(stderr, "workload: compact after event %d: %s\n", e, floe_last_error());
            _exit(3);
        }
    }
    if (floe_close(db) != 0) {
        fprintf(stderr, "workload: floe_close: %s\n", floe_last_error());
        _exit(3);
    }
    write_u32(ack_fd, ACK_DONE);
    uint64_t n = file_fault_mutations();
    if (write(ack_fd, &n, sizeof n) != (ssize_t)sizeof n)
        _exit(3);
}

/* What a cut point interrupts, from the call it replaced (see file_fault_trace). */
enum { C_WAL, C_SEGMENT, C_MANIFEST, C_UPLOAD, C_PUBLISH, C_EVICT, C_GC, C_COMPACT, C_OTHER, C_KINDS };
static const char *const category_names[C_KINDS] = {
    "WAL (put)", "segment write", "manifest save", "upload", "publish", "eviction", "gc", "compaction", "other"};

static int category_of(const char *op, const char *path)
{
    int unlink = strcmp(op, "unlink") == 0;
    if (strstr(path, "/data/wal/"))
        return C_WAL;
    if (strstr(path, "/data/segments/"))
        return unlink ? C_EVICT : C_SEGMENT;
    if (strstr(path, "/data/manifest.json"))
        return C_MANIFEST;
    if (strstr(path, "/data/compaction/"))
        return C_COMPACT; /* a cold input's download (outputs are written like any segment) */
    if (strstr(path, "/cold/"))
        return unlink && !strstr(path, ".tmp") && !strstr(path, "/.") ? C_GC
               : strstr(path, "manifest")                           ? C_PUBLISH
                                                                     : C_UPLOAD;
    return C_OTHER;
}

/* The category a child's cut is aimed at (-1: any call), and the matcher that counts only its calls. */
static int aim_category = -1;

static int matches_aim(const char *op, const char *path)
{
    return category_of(op, path) == aim_category;
}

/* The mutations of a workload run, by category, read from its trace. */
typedef struct cut_map {
    uint64_t *at[C_KINDS];
    size_t n[C_KINDS];
} cut_map;

static void read_trace(const char *path, cut_map *m)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[1200], op[32], file[1100];
    unsigned long long n;
    memset(m, 0, sizeof *m);
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%llu %31s %1099s", &n, op, file) == 3) {
            int c = category_of(op, file);
            m->at[c] = realloc(m->at[c], (m->n[c] + 1) * sizeof *m->at[c]);
            ck_assert_ptr_nonnull(m->at[c]);
            m->at[c][m->n[c]++] = n;
        }
    fclose(f);
}

typedef struct outcome {
    int acked;          /* events acknowledged: 0..acked-1 */
    int finished;       /* the workload ran to the end */
    uint64_t mutations; /* when finished */
    int status;         /* the child's wait status */
} outcome;

/* Runs the workload in a child with a power loss at mutation cut (0: none) and collects its acks. */
static outcome run_child(const char *root, floe_sync_mode sync, int aim, uint64_t cut, file_fault_loss loss,
                         uint64_t seed)
{
    char data_dir[600], cold_dir[600];
    snprintf(data_dir, sizeof data_dir, "%s/data", root);
    snprintf(cold_dir, sizeof cold_dir, "%s/cold", root);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        char note[700];
        snprintf(note, sizeof note, "%s/%s", root, cut ? "crash-note" : "trace");
        file_fault_install();
        if (cut) {
            file_fault_crash_note(note);
            aim_category = aim;
            file_fault_crash_at_match(cut, aim >= 0 ? matches_aim : NULL, loss, seed);
        } else {
            file_fault_trace(note);
        }
        workload(data_dir, cold_dir, sync, fds[1]);
        file_fault_uninstall(); /* no power loss came: its stash directories go */
        _exit(0);
    }
    close(fds[1]);
    outcome out = {0};
    uint32_t v;
    while (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v) {
        if (v == ACK_DONE) {
            out.finished = read(fds[0], &out.mutations, sizeof out.mutations) == (ssize_t)sizeof out.mutations;
            break;
        }
        ck_assert_int_eq((int)v, out.acked);
        out.acked++;
    }
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &out.status, 0), pid);
    return out;
}

/* The value the store holds for key k: -1 absent, else the event number its value names (and the
 * value must be exactly what that event wrote). */
static int stored_event(floe_t *db, int k, const char *what)
{
    char key[32], want[1100];
    key_name(k, key, sizeof key);
    floe_value v = {0};
    int rc = floe_get(db, key, strlen(key), &v);
    if (rc == FLOE_ENOTFOUND)
        return -1;
    ck_assert_msg(rc == 0, "%s: get %s: %s", what, key, floe_last_error());
    int e = -1;
    ck_assert_msg(v.len >= 8 && sscanf(v.data, "e%06d|", &e) == 1, "%s: %s holds a value no event wrote", what, key);
    if (e >= 0 && e < EVENTS && event_kind(e) == EV_OBJECT) {
        /* A chunked object is whole or absent, never a part (object.c note 1). */
        ck_assert_msg(event_key(e) == k && v.len == object_len(e) && v.chunked, "%s: %s holds a cut object (%zu bytes)",
                      what, key, v.len);
        for (size_t i = 0; i < v.len; i++)
            ck_assert_msg(((uint8_t *)v.data)[i] == object_byte(e, i), "%s: %s: object byte %zu differs", what, key, i);
        floe_value_free(&v);
        return e;
    }
    size_t len = event_value(e, want, sizeof want);
    ck_assert_msg(e >= 0 && e < EVENTS && event_key(e) == k && v.len == len && memcmp(v.data, want, len) == 0,
                  "%s: %s holds a damaged or misplaced value (event %d)", what, key, e);
    floe_value_free(&v);
    return e;
}

/* Opens the store as a restart would and checks what survived against the acks (see the top). */
static void verify(const char *root, floe_sync_mode sync, const outcome *out, const char *what)
{
    char data_dir[600], cold_dir[600];
    snprintf(data_dir, sizeof data_dir, "%s/data", root);
    snprintf(cold_dir, sizeof cold_dir, "%s/cold", root);
    floe_options o;
    store_options(&o, cold_dir, sync);
    for (int round = 0; round < 2; round++) {
        floe_t *db = NULL;
        int rc = floe_open(data_dir, &o, &db);
        ck_assert_msg(rc == 0, "%s: reopen %d after the power loss: %s: %s", what, round, floe_strerror(rc),
                      floe_last_error());
        static int have[KEYS];
        for (int k = 0; k < KEYS; k++)
            have[k] = stored_event(db, k, what);
        /* The state after the first s events, for each s in turn; mismatches counted as it moves. */
        static int model[KEYS];
        int mismatches = 0;
        for (int k = 0; k < KEYS; k++) {
            model[k] = -1;
            mismatches += have[k] != -1;
        }
        int lo = sync == FLOE_SYNC_ALWAYS ? out->acked : 0;
        int hi = out->acked < EVENTS ? out->acked + 1 : EVENTS;
        int match = -1;
        for (int s = 0; s <= hi; s++) {
            if (s >= lo && mismatches == 0) {
                match = s;
                break;
            }
            if (s == hi)
                break;
            int k = event_key(s), n = 1;
            if (event_kind(s) == EV_DELETE_PREFIX) {
                k = PREFIX_FIRST;
                n = PREFIX_KEYS;
            }
            for (int i = k; i < k + n; i++) {
                int next = event_kind(s) == EV_DELETE || event_kind(s) == EV_DELETE_PREFIX ? -1 : s;
                mismatches -= model[i] != have[i];
                model[i] = next;
                mismatches += model[i] != have[i];
            }
        }
        if (match < 0) {
            /* Say which keys differ from the state after all acks (the run's directory stays). */
            for (int k = 0; k < KEYS; k++)
                model[k] = -1;
            for (int s = 0; s < out->acked; s++) {
                if (event_kind(s) == EV_DELETE_PREFIX)
                    for (int i = PREFIX_FIRST; i < PREFIX_FIRST + PREFIX_KEYS; i++)
                        model[i] = -1;
                else
                    model[event_key(s)] = event_kind(s) == EV_DELETE ? -1 : s;
            }
            for (int k = 0; k < KEYS; k++)
                if (model[k] != have[k])
                    fprintf(stderr, "%s: key %d holds event %d, the acks say %d (%s)\n", what, k, have[k], model[k],
                            root);
        }
        ck_assert_msg(match >= 0,
                      "%s: after %d acknowledged writes the store holds no prefix of them in [%d, %d] (sync %d)",
                      what, out->acked, lo, hi, (int)sync);
        /* Chunks of an object the power loss cut off are gone once the store is open: only the
         * live objects' references and chunks remain (none is replaced or deleted). */
        size_t want_reserved = 0;
        for (int k = 0; k < COUNTER; k++)
            if (have[k] >= 0 && event_kind(have[k]) == EV_OBJECT)
                want_reserved += 1 + OBJECT_CHUNKS;
        uint8_t ff[FLOE_RESERVED_PREFIX_BYTES];
        memset(ff, 0xff, sizeof ff);
        floe_list *l = NULL;
        ck_assert_int_eq(store_list_reserved(db, ff, sizeof ff, NULL, 0, 100000, &l), 0);
        ck_assert_msg(l->count == want_reserved, "%s: %zu reserved keys after the open, %zu expected", what, l->count,
                      want_reserved);
        floe_list_free(l);
        ck_assert_int_eq(floe_list_keys(db, "k", 1, NULL, 0, 100000, &l), 0);
        size_t live = 0;
        for (int k = 0; k < COUNTER; k++)
            live += have[k] != -1;
        ck_assert_msg(l->count == live, "%s: list shows %zu keys, gets find %zu", what, l->count, live);
        floe_list_free(l);
        ck_assert_msg(floe_close(db) == 0, "%s: close: %s", what, floe_last_error());
    }
}

/* Runs the workload once without a power loss: its mutations, and which are which in *m. */
static uint64_t count_mutations(floe_sync_mode sync, cut_map *m)
{
    char *root = tu_tmpdir("powerloss-count");
    outcome out = run_child(root, sync, -1, 0, FILE_LOSS_DROP, 0);
    ck_assert_msg(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 0 && out.finished,
                  "the workload without a power loss failed (status %d)", out.status);
    ck_assert_int_eq(out.acked, EVENTS);
    verify(root, sync, &out, "no power loss");
    char trace[700];
    snprintf(trace, sizeof trace, "%s/trace", root);
    read_trace(trace, m);
    for (int c = 0; c < C_OTHER; c++)
        ck_assert_msg(m->n[c] > 0, "the workload (sync %d) never reaches %s", (int)sync, category_names[c]);
    tu_rmrf(root);
    free(root);
    return out.mutations;
}

/* The category of the call a crashed run's power loss replaced, from its note. */
static int crash_category(const char *root)
{
    char path[700], line[1200], op[32], file[1100];
    snprintf(path, sizeof path, "%s/crash-note", root);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "a crashed run left no note at %s", path);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    ck_assert_int_eq(sscanf(line, "%31s %1099s", op, file), 2);
    return category_of(op, file);
}

START_TEST(power_loss_at_random_instants_keeps_acknowledged_writes)
{
    static const floe_sync_mode modes[] = {FLOE_SYNC_ALWAYS, FLOE_SYNC_INTERVAL, FLOE_SYNC_NEVER};
    uint64_t mutations[3];
    cut_map maps[3];
    for (int m = 0; m < 3; m++)
        mutations[m] = count_mutations(modes[m], &maps[m]);
    fprintf(stderr, "power loss: the workload makes %llu, %llu, %llu file mutations (always, interval, never)\n",
            (unsigned long long)mutations[0], (unsigned long long)mutations[1], (unsigned long long)mutations[2]);

    int runs = tu_long_tests() ? 3000 : 200;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    const char *seed_env = getenv("FLOE_POWER_LOSS_SEED");
    if (seed_env)
        rng = strtoull(seed_env, NULL, 0);
    int crashed = 0;
    int hits[3][C_KINDS] = {{0}};
    for (int i = 0; i < runs; i++) {
        /* Half the cuts fall on any call; half on the nth call of one kind, each kind in turn, so
         * the rare ones (a publish, a gc delete) are cut too, however threads interleave. The
         * note says what was really cut. */
        int m = i % 3;
        uint64_t cut = 1 + tu_rand64(&rng) % mutations[m];
        int aim = i % 2 ? (i / 2) % C_OTHER : -1;
        if (aim >= 0)
            cut = 1 + tu_rand64(&rng) % maps[m].n[aim];
        file_fault_loss loss = (file_fault_loss)(tu_rand64(&rng) % 3);
        uint64_t seed = tu_rand64(&rng);
        char what[256];
        snprintf(what, sizeof what,
                 "run %d (sync %d, power loss at mutation %llu of %llu (%s), loss mode %d, seed %llu)", i,
                 (int)modes[m], (unsigned long long)cut,
                 (unsigned long long)(aim >= 0 ? maps[m].n[aim] : mutations[m]),
                 aim >= 0 ? category_names[aim] : "any kind", (int)loss, (unsigned long long)seed);
        const char *only = getenv("FLOE_POWER_LOSS_RUN"); /* reproduce one run; its directory stays */
        if (only && atoi(only) != i)
            continue;
        char *root = tu_tmpdir("powerloss");
        outcome out = run_child(root, modes[m], aim, cut, loss, seed);
        int stopped = WIFEXITED(out.status) && WEXITSTATUS(out.status) == FILE_FAULT_CRASH_EXIT;
        ck_assert_msg(stopped || (WIFEXITED(out.status) && WEXITSTATUS(out.status) == 0),
                      "%s: the workload failed (status %d)", what, out.status);
        crashed += stopped;
        if (stopped)
            hits[m][crash_category(root)]++;
        verify(root, modes[m], &out, what);
        if (only)
            return;
        tu_rmrf(root);
        free(root);
    }
    fprintf(stderr, "power loss: %d runs, %d cut by a power loss; cuts by what they interrupted "
                    "(always / interval / never):\n", runs, crashed);
    for (int c = 0; c < C_KINDS; c++) {
        fprintf(stderr, "  %-14s %4d %4d %4d\n", category_names[c], hits[0][c], hits[1][c], hits[2][c]);
        if (c != C_OTHER)
            ck_assert_msg(hits[0][c] + hits[1][c] + hits[2][c] > 0, "no power loss cut a %s", category_names[c]);
    }
    for (int m = 0; m < 3; m++)
        ck_assert_msg(hits[m][C_WAL] > 0, "no power loss cut a put with sync %d", (int)modes[m]);
    ck_assert_int_ge(crashed, runs * 9 / 10);
    for (int m = 0; m < 3; m++)
        for (int c = 0; c < C_KINDS; c++)
            free(maps[m].at[c]);
}
END_TEST

static Suite *power_loss_suite(void)
{
    Suite *s = suite_create("power_loss");
    TCase *tc = tcase_create("power_loss");
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, power_loss_at_random_instants_keeps_acknowledged_writes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(power_loss_suite());
}
