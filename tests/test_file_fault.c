/* Tests for the fault-injecting file environment (tests/file_fault.c), driven through the file_*
 * calls of src/file.h: armed faults fail exactly the calls they name, and a power loss leaves
 * exactly what was synced. A power-loss scenario runs in a forked child that installs the
 * environment, changes files and loses power (or crashes); the parent then reads the disk with
 * plain calls. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "file.h"
#include "file_fault.h"
#include "testutil.h"

#define PAGE 4096

/* In a child a failed step cannot fail the test through check: it exits with status 3 and says
 * which step, and the parent's status check fails the test. */
#define CHILD_CHECK(cond)                                                                                    \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: in the child: %s failed (errno: %s)\n", __FILE__, __LINE__, #cond,       \
                    strerror(errno));                                                                        \
            _exit(3);                                                                                        \
        }                                                                                                    \
    } while (0)

/* dir/name in one of a few rotating static buffers: valid until eight more calls. */
static const char *at(const char *dir, const char *name)
{
    static char bufs[8][PATH_MAX];
    static unsigned next;
    char *b = bufs[next++ % 8];
    snprintf(b, PATH_MAX, "%s/%s", dir, name);
    return b;
}

/* The names in dir, sorted, joined by single spaces (malloc'd). */
static char *names_in(const char *dir)
{
    struct dirent **list = NULL;
    int n = scandir(dir, &list, NULL, alphasort);
    ck_assert_int_ge(n, 0);
    char *out = calloc(1, 1);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            size_t add = strlen(name) + 1;
            out = realloc(out, len + add + 1);
            ck_assert_ptr_nonnull(out);
            snprintf(out + len, add + 1, "%s%s", len ? " " : "", name);
            len += strlen(out + len);
        }
        free(list[i]);
    }
    free(list);
    return out;
}

static void assert_names(const char *dir, const char *want)
{
    char *got = names_in(dir);
    ck_assert_msg(strcmp(got, want) == 0, "%s holds \"%s\", want \"%s\"", dir, got, want);
    free(got);
}

static void assert_content(const char *path, const void *want, size_t want_len)
{
    size_t len = 0;
    char *got = tu_read_file(path, &len);
    ck_assert_msg(got != NULL, "%s is missing", path);
    ck_assert_msg(len == want_len, "%s has %zu bytes, want %zu", path, len, want_len);
    ck_assert_msg(memcmp(got, want, len) == 0, "%s does not hold the bytes it should", path);
    free(got);
}

static void assert_text(const char *path, const char *want)
{
    assert_content(path, want, strlen(want));
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Fails the test if the child pid left a stash directory in /tmp, where the environment puts
 * them for directories under /tmp. */
static void assert_no_stash_of(pid_t pid)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, ".file-fault-stash-%ld-", (long)pid);
    DIR *d = opendir("/tmp");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(strncmp(e->d_name, prefix, strlen(prefix)) != 0, "stash /tmp/%s left behind",
                      e->d_name);
    closedir(d);
}

typedef struct scenario {
    const char *dir;
    file_fault_loss mode;
    uint64_t seed;
    uint64_t cut; /* crash_at's n, 0 for none */
    file_fault_match match; /* what crash_at counts; NULL: every mutating call */
    int sync_dir; /* whether the scenario ends with the directory fsync it is about */
} scenario;

/* Runs fn in a child with the environment installed, then a power loss in sc->mode if fn
 * returns (a crash point it reaches exits first). Returns the child's exit status. */
static int run_child(void (*fn)(const scenario *), const scenario *sc)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        file_fault_install();
        if (sc->cut)
            file_fault_crash_at_match(sc->cut, sc->match, sc->mode, sc->seed);
        fn(sc);
        file_fault_power_loss(sc->mode, sc->seed);
        _exit(0);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status), "the child died of signal %d", WTERMSIG(status));
    assert_no_stash_of(pid);
    return WEXITSTATUS(status);
}

static void run_child_ok(void (*fn)(const scenario *), const scenario *sc)
{
    ck_assert_int_eq(run_child(fn, sc), 0);
}

static int c_open(const char *path, int flags)
{
    int fd = file_open(path, flags | O_CLOEXEC, 0644);
    CHILD_CHECK(fd >= 0);
    return fd;
}

static void c_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    CHILD_CHECK(file_pwrite(fd, buf, len, off) == (ssize_t)len);
}

static void c_write(int fd, const char *text)
{
    CHILD_CHECK(file_write_all(fd, text, strlen(text)) == 0);
}

/* Writes text to a new (or emptied) file at path, fsyncing the file when sync. */
static void c_write_file(const char *path, const char *text, int sync)
{
    int fd = c_open(path, O_WRONLY | O_CREAT | O_TRUNC);
    c_write(fd, text);
    if (sync)
        CHILD_CHECK(file_fsync(fd) == 0);
    CHILD_CHECK(file_close(fd) == 0);
}

static void c_sync_dir(const char *dir)
{
    CHILD_CHECK(file_fsync_dir(dir) == 0);
}

static void fill_page(char *buf, char byte)
{
    memset(buf, byte, PAGE);
}

static void overwrite_and_append_unsynced(const scenario *sc)
{
    int fd = c_open(at(sc->dir, "old"), O_RDWR);
    c_pwrite(fd, "NEW", 3, 0);
    c_pwrite(fd, "tail", 4, 7);
    CHILD_CHECK(file_close(fd) == 0);
    c_write_file(at(sc->dir, "new"), "never synced", 0);
    c_sync_dir(sc->dir);
}

START_TEST(power_loss_drops_unsynced_writes)
{
    char *dir = tu_tmpdir("ff");
    tu_write_file(at(dir, "old"), "durable", 7);
    scenario sc = {.dir = dir, .mode = FILE_LOSS_DROP};
    run_child_ok(overwrite_and_append_unsynced, &sc);
    assert_text(at(dir, "old"), "durable");
    assert_names(dir, "new old");
    assert_text(at(dir, "new"), "");
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static void write_sync_write(const scenario *sc)
{
    int fd = c_open(at(sc->dir, "f"), O_WRONLY | O_CREAT);
    c_sync_dir(sc->dir);
    c_write(fd, "one");
    CHILD_CHECK(file_fsync(fd) == 0);
    c_write(fd, "two");
    CHILD_CHECK(file_fdatasync(fd) == 0);
    c_write(fd, "three");
    CHILD_CHECK(file_close(fd) == 0);
}

START_TEST(power_loss_keeps_what_fsync_and_fdatasync_made_durable)
{
    char *dir = tu_tmpdir("ff");
    scenario sc = {.dir = dir, .mode = FILE_LOSS_DROP};
    run_child_ok(write_sync_write, &sc);
    assert_text(at(dir, "f"), "onetwo");
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static void create_synced_file(const scenario *sc)
{
    c_write_file(at(sc->dir, "new"), "content", 1);
    if (sc->sync_dir)
        c_sync_dir(sc->dir);
}

START_TEST(power_loss_removes_a_synced_new_file_whose_directory_was_not_synced)
{
    char *dir = tu_tmpdir("ff");
    scenario sc = {.dir = dir, .mode = FILE_LOSS_DROP, .sync_dir = 0};
    run_child_ok(create_synced_file, &sc);
    assert_names(dir, "");
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(power_loss_keeps_a_new_file_after_file_and_directory_fsync)
{
    char *dir = tu_tmpdir("ff");
    scenario sc = {.dir = dir, .mode = FILE_LOSS_DROP, .sync_dir = 1};
    run_child_ok(create_synced_file, &sc);
    assert_names(dir, "new");
    assert_text(at(dir, "new"), "content");
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static void replace_by_rename(const scenario *sc)
{
    c_write_file(at(sc->dir, "cur.tmp"), "new", 1);
    CHILD_CHECK(file_rename(at(sc->dir, "cur.tmp"), at(sc->dir, "cur")) == 0);
    CHILD_CHECK(file_rename(at(sc->dir, "other"), at(sc->dir, "moved")) == 0);
    char *names = names_in(sc->dir);
    CHILD_CHECK(strcmp(names, "cur moved") == 0); /* no stash in sight while the process runs */
    free(names);
    if (sc->sync_dir)
        c_sync_dir(sc->dir);
}

START_TEST(power_loss_undoes_an_unsynced_rename_and_restores_the_file_it_replaced)
{
    char *dir = tu_tmpdir("ff");
    tu_write_file(at(dir, "cur"), "old", 3);
    tu_write_file(at(dir, "other"), "other", 5);
    scenario sc = {.dir = dir, .mode = FILE_LOSS_DROP, .sync_dir = 0};
    run_child_ok(replace_by_rename, &sc);
    assert_names(dir, "cur other");
    assert_text(at(dir, "cur"), "old");
    assert_text(at(dir, "other"), "other");
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(power_loss_keeps_a_rename_after_the_directory_fsync)
{
    char *dir = tu_tmpdir("ff");
    tu_write_file(at(dir, "cur"), "old", 3);
    tu_write_file(at(dir, "other"), "other", 5);
    scenario sc = {.dir = dir, .mode = FILE_LOSS_DROP, .sync_dir = 1};
    run_child_ok(replace_by_rename, &sc);
    assert_names(dir, "cur moved");
    assert_text(at(dir, "cur"), "new");
    assert_text(at(dir, "moved"), "other");
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static void write_then_rename(const scenario *sc)
{
    int fd = c_open(at(sc->dir, "a"), O_RDWR | O_CREAT);
    c_write(fd, "synced");
    CHILD_CHECK(file_fsync(fd) == 0);
    c_sync_dir(sc->dir);
    c_write(fd, " and not");
    CHILD_CHECK(file_close(fd) == 0);
    CHILD_CHECK(file_rename(at(sc->dir, "a"), at(sc->dir, "b")) == 0);
    c_sync_dir(sc->dir);
}

START_TEST(power_loss_follows_a_file_s_data_through_a_rename)
{
    char *dir = tu_tmpdir("ff");
    scenario sc = {.dir = dir, .mode = FILE_LOSS_DROP};
    run_child_ok(write_then_rename, &sc);
    assert_names(dir, "b");
    assert_text(at(dir, "b"), "synced");
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static void rename_across_directories(const scenario *sc)
{
    CHILD_CHECK(file_rename(at(sc->dir, "d1/f"), at(sc->dir, "d2/f")) == 0);
    c_sync_dir(at(sc->dir, "d2"));
    if (sc->sync_dir)
        c_sync_dir(at(sc->dir, "d1"));
}

START_TEST(power_loss_undoes_a_rename_across_directories_unless_both_were_synced)
{
    char *dir = tu_tmpdir("ff");
    ck_assert_int_eq(mkdir(at(dir, "d1"), 0755), 0);
    ck_assert_int_eq(mkdir(at(dir, "d2"), 0755), 0);
    tu_write_file(at(dir, "d1/f"), "f", 1);
    scenario sc = {.dir = dir, .mode = FILE_LOSS_DROP, .sync_dir = 0};
    run_child_ok(rename_across_directories, &sc);
    assert_names(at(dir, "d1"), "f");
    assert_names(at(dir, "d2"), "");
    sc.sync_dir = 1;
    run_child_ok(rename_across_directories, &sc);
    assert_names(at(dir, "d1"), "");
    assert_names(at(dir, "d2"), "f");
    assert_text(at(dir, "d2/f"), "f");
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static void unlink_two(const scenario *sc)
{
    CHILD_CHECK(file_unlink(at(sc->dir, "a")) == 0);
    c_sync_dir(sc->dir);
    CHILD_CHECK(file_unlink(at(sc->dir, "b")) == 0);
    char *names = names_in(sc->dir);
    CHILD_CHECK(strcmp(names, "") == 0);
    free(names);
}

START_TEST(power_loss_undoes_an_unsynced_unlink)
{
    char *dir = tu_tmpdir("ff");
    tu_write_file(at(dir, "a"), "synced away", 11);
    tu_write_file(at(dir, "b"), "comes back", 10);
    scenario sc = {.dir = dir, .mode = FILE_LOSS_DROP};
    run_child_ok(unlink_two, &sc);
    assert_names(dir, "b");
    assert_text(at(dir, "b"), "comes back");
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static void link_two(const scenario *sc)
{
    CHILD_CHECK(file_link(at(sc->dir, "a"), at(sc->dir, "kept")) == 0);
    c_sync_dir(sc->dir);
    CHILD_CHECK(file_link(at(sc->dir, "a"), at(sc->dir, "lost")) == 0);
}

START_TEST(power_loss_undoes_an_unsynced_link)
{
    char *dir = tu_tmpdir("ff");
    tu_write_file(at(dir, "a"), "data", 4);
    scenario sc = {.dir = dir, .mode = FILE_LOSS_DROP};
    run_child_ok(link_two, &sc);
    assert_names(dir, "a kept");
    assert_text(at(dir, "kept"), "data");
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static void make_and_remove_directories(const scenario *sc)
{
    CHILD_CHECK(file_mkdir(at(sc->dir, "kept"), 0755) == 0);
    c_sync_dir(sc->dir);
    CHILD_CHECK(file_mkdir(at(sc->dir, "lost"), 0755) == 0);
    c_write_file(at(sc->dir, "lost/x"), "x", 1);
    c_sync_dir(at(sc->dir, "lost"));
    CHILD_CHECK(file_rmdir(at(sc->dir, "empty")) == 0);
}

START_TEST(power_loss_undoes_unsynced_mkdir_with_its_contents_and_rmdir)
{
    char *dir = tu_tmpdir("ff");
    ck_assert_int_eq(mkdir(at(dir, "empty"), 0700), 0);
    scenario sc = {.dir = dir, .mode = FILE_LOSS_DROP};
    run_child_ok(make_and_remove_directories, &sc);
    assert_names(dir, "empty kept");
    ck_assert(is_dir(at(dir, "empty")));
    ck_assert(is_dir(at(dir, "kept")));
    struct stat st;
    ck_assert_int_eq(stat(at(dir, "empty"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static void shrink_unsynced(const scenario *sc)
{
    int fd = c_open(at(sc->dir, "cut"), O_RDWR);
    CHILD_CHECK(file_ftruncate(fd, 100) == 0);
    CHILD_CHECK(file_close(fd) == 0);
    c_write_file(at(sc->dir, "emptied"), "short", 0); /* O_TRUNC */
    fd = c_open(at(sc->dir, "synced"), O_RDWR);
    CHILD_CHECK(file_ftruncate(fd, 10) == 0);
    CHILD_CHECK(file_fsync(fd) == 0);
    CHILD_CHECK(file_close(fd) == 0);
}

START_TEST(power_loss_undoes_unsynced_shrinks)
{
    char *dir = tu_tmpdir("ff");
    char cut[3 * PAGE + 100], emptied[2 * PAGE], synced[2 * PAGE];
    tu_fill_random(cut, sizeof cut, 1);
    tu_fill_random(emptied, sizeof emptied, 2);
    tu_fill_random(synced, sizeof synced, 3);
    tu_write_file(at(dir, "cut"), cut, sizeof cut);
    tu_write_file(at(dir, "emptied"), emptied, sizeof emptied);
    tu_write_file(at(dir, "synced"), synced, sizeof synced);
    scenario sc = {.dir = dir, .mode = FILE_LOSS_DROP};
    run_child_ok(shrink_unsynced, &sc);
    assert_content(at(dir, "cut"), cut, sizeof cut);
    assert_content(at(dir, "emptied"), emptied, sizeof emptied);
    assert_content(at(dir, "synced"), synced, 10);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static void scatter_writes(const scenario *sc)
{
    char page[PAGE];
    int fd = c_open(at(sc->dir, "f"), O_RDWR);
    fill_page(page, 'B');
    c_pwrite(fd, page, PAGE, PAGE);
    c_pwrite(fd, "CCCCCCCCCC", 10, 2 * PAGE);
    fill_page(page, 'D');
    c_pwrite(fd, page, PAGE, 3 * PAGE);
    CHILD_CHECK(file_close(fd) == 0);
}

START_TEST(zero_mode_zeroes_the_bytes_written_since_the_sync)
{
    char *dir = tu_tmpdir("ff");
    char durable[3 * PAGE], want[3 * PAGE];
    memset(durable, 'A', sizeof durable);
    tu_write_file(at(dir, "f"), durable, sizeof durable);
    scenario sc = {.dir = dir, .mode = FILE_LOSS_ZERO};
    run_child_ok(scatter_writes, &sc);
    memset(want, 'A', sizeof want);
    memset(want + PAGE, 0, PAGE);                    /* overwritten whole */
    memset(want + 2 * PAGE, 0, 10);                  /* its other bytes were not written: they stay */
    assert_content(at(dir, "f"), want, sizeof want); /* the appended page is cut */
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* The WAL's pattern: preallocate, sync, then append records, syncing each batch. */
static void append_to_preallocated(const scenario *sc)
{
    int fd = c_open(at(sc->dir, "wal"), O_RDWR | O_CREAT);
    CHILD_CHECK(file_fallocate(fd, 0, 4 * PAGE) == 0);
    CHILD_CHECK(file_fsync(fd) == 0);
    c_sync_dir(sc->dir);
    char record[100];
    memset(record, 'R', sizeof record);
    c_pwrite(fd, record, sizeof record, 0);
    CHILD_CHECK(file_fdatasync(fd) == 0);
    memset(record, 'S', sizeof record);
    c_pwrite(fd, record, sizeof record, 100);
    c_pwrite(fd, record, sizeof record, PAGE - 50); /* across a page boundary */
    CHILD_CHECK(file_ftruncate(fd, 2 * PAGE) == 0); /* cut unsynced: comes back as zeros */
    CHILD_CHECK(file_close(fd) == 0);
}

START_TEST(zero_mode_keeps_synced_bytes_that_share_a_page_with_unsynced_ones)
{
    char *dir = tu_tmpdir("ff");
    scenario sc = {.dir = dir, .mode = FILE_LOSS_ZERO};
    run_child_ok(append_to_preallocated, &sc);
    char want[4 * PAGE] = {0};
    memset(want, 'R', 100);
    assert_content(at(dir, "wal"), want, sizeof want);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static void overwrite_and_append_pages(const scenario *sc)
{
    char pages[16 * PAGE];
    memset(pages, 'B', sizeof pages);
    int fd = c_open(at(sc->dir, "f"), O_RDWR);
    c_pwrite(fd, pages, sizeof pages, 0);
    CHILD_CHECK(file_close(fd) == 0);
    fd = c_open(at(sc->dir, "g"), O_RDWR);
    c_pwrite(fd, pages, 7 * PAGE, PAGE);
    CHILD_CHECK(file_close(fd) == 0);
}

/* Runs the RANDOM scenario with seed in a fresh directory; returns f's bytes then g's (malloc'd,
 * *len set), after checking every page is one a RANDOM loss may leave. *kinds gets a bit per
 * page fate seen in f: 1 dropped, 2 kept, 4 zeroed. */
static char *random_loss(uint64_t seed, size_t *len, unsigned *kinds)
{
    char *dir = tu_tmpdir("ff");
    char durable[16 * PAGE];
    memset(durable, 'A', sizeof durable);
    tu_write_file(at(dir, "f"), durable, sizeof durable);
    tu_write_file(at(dir, "g"), durable, PAGE);
    scenario sc = {.dir = dir, .mode = FILE_LOSS_RANDOM, .seed = seed};
    run_child_ok(overwrite_and_append_pages, &sc);
    size_t f_len = 0, g_len = 0;
    char *f = tu_read_file(at(dir, "f"), &f_len);
    char *g = tu_read_file(at(dir, "g"), &g_len);
    ck_assert(f && g);
    ck_assert_uint_eq(f_len, sizeof durable);
    ck_assert(g_len % PAGE == 0 && g_len >= PAGE && g_len <= 8 * PAGE);
    ck_assert(memcmp(g, durable, PAGE) == 0);
    for (size_t p = 0; p < 16; p++) {
        char first = f[p * PAGE];
        ck_assert(first == 'A' || first == 'B' || first == 0);
        for (size_t b = 1; b < PAGE; b++)
            ck_assert_int_eq(f[p * PAGE + b], first);
        *kinds |= first == 'A' ? 1u : first == 'B' ? 2u : 4u;
    }
    for (size_t p = 1; p < g_len / PAGE; p++)
        for (size_t b = 0; b < PAGE; b++)
            ck_assert(g[p * PAGE + b] == g[p * PAGE] && (g[p * PAGE] == 'B' || g[p * PAGE] == 0));
    char *both = malloc(f_len + g_len);
    ck_assert_ptr_nonnull(both);
    memcpy(both, f, f_len);
    memcpy(both + f_len, g, g_len);
    *len = f_len + g_len;
    free(f);
    free(g);
    tu_rmrf(dir);
    free(dir);
    return both;
}

START_TEST(random_mode_keeps_drops_or_zeroes_each_page_the_same_way_for_a_seed)
{
    unsigned kinds = 0, first_kinds = 0;
    size_t len1 = 0, len2 = 0;
    char *one = random_loss(1, &len1, &first_kinds);
    char *again = random_loss(1, &len2, &kinds);
    ck_assert_msg(len1 == len2 && memcmp(one, again, len1) == 0, "seed 1 gave two different disks");
    ck_assert_msg(first_kinds != 1 && first_kinds != 2 && first_kinds != 4,
                  "seed 1 did the same to every page");
    int differs = 0;
    for (uint64_t seed = 2; seed < 8; seed++) {
        size_t len = 0;
        char *other = random_loss(seed, &len, &kinds);
        differs |= len != len1 || memcmp(one, other, len) != 0;
        free(other);
    }
    ck_assert_msg(differs, "seeds 2 to 7 all gave seed 1's disk");
    ck_assert_uint_eq(kinds, 7);
    free(one);
    free(again);
}
END_TEST

/* Six mutating calls: create, directory fsync, pwrite, fsync, pwrite, fsync. */
static void six_mutations(const scenario *sc)
{
    int fd = c_open(at(sc->dir, "f"), O_RDWR | O_CREAT);
    c_sync_dir(sc->dir);
    c_pwrite(fd, "one", 3, 0);
    CHILD_CHECK(file_fsync(fd) == 0);
    c_pwrite(fd, "two", 3, 3);
    CHILD_CHECK(file_fsync(fd) == 0);
    char buf[8];
    CHILD_CHECK(file_pread(fd, buf, sizeof buf, 0) == 6); /* reads change nothing and do not count */
    CHILD_CHECK(file_close(fd) == 0);
}

START_TEST(mutations_count_only_calls_that_change_files)
{
    char *dir = tu_tmpdir("ff");
    tu_write_file(at(dir, "old"), "old", 3);
    file_fault_install();
    int fd = file_open(at(dir, "old"), O_RDWR | O_CREAT, 0644); /* exists: creates nothing */
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(file_close(fd), 0);
    ck_assert_uint_eq(file_fault_mutations(), 0);
    scenario sc = {.dir = dir};
    six_mutations(&sc);
    ck_assert_uint_eq(file_fault_mutations(), 6);
    fd = file_open(at(dir, "old"), O_WRONLY | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(file_close(fd), 0);
    ck_assert_int_eq(file_unlink(at(dir, "old")), 0);
    ck_assert_uint_eq(file_fault_mutations(), 8);
    file_fault_uninstall();
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(crash_at_exits_before_the_nth_mutating_call)
{
    /* What the disk holds when the crash replaces call n (n = 7: no crash, then a power loss). */
    static const char *const want[] = {NULL, NULL, NULL, "", "", "one", "one", "onetwo"};
    for (uint64_t n = 1; n <= 7; n++) {
        char *dir = tu_tmpdir("ff");
        scenario sc = {.dir = dir, .mode = FILE_LOSS_DROP, .cut = n};
        int status = run_child(six_mutations, &sc);
        ck_assert_msg(status == (n <= 6 ? FILE_FAULT_CRASH_EXIT : 0), "cut %d: exit status %d", (int)n,
                      status);
        if (want[n])
            assert_text(at(dir, "f"), want[n]);
        else
            assert_names(dir, "");
        tu_rmrf(dir);
        free(dir);
    }
}
END_TEST

static int is_fsync(const char *op, const char *path)
{
    (void)path;
    return strcmp(op, "fsync") == 0;
}

START_TEST(crash_at_match_counts_only_the_calls_it_accepts)
{
    /* six_mutations fsyncs three times (calls 2, 4 and 6): the 2nd fsync is call 4, the 3rd call 6. */
    static const char *const want[] = {NULL, NULL, "", "one"};
    for (uint64_t n = 2; n <= 3; n++) {
        char *dir = tu_tmpdir("ff");
        scenario sc = {.dir = dir, .mode = FILE_LOSS_DROP, .cut = n, .match = is_fsync};
        ck_assert_int_eq(run_child(six_mutations, &sc), FILE_FAULT_CRASH_EXIT);
        assert_text(at(dir, "f"), want[n]);
        tu_rmrf(dir);
        free(dir);
    }
}
END_TEST

START_TEST(fault_fails_the_nth_matching_call_once)
{
    char *dir = tu_tmpdir("ff");
    file_fault_install();
    int fd = file_open(at(dir, "f"), O_RDWR | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    file_fault_fail(FILE_OP_WRITE, 2, EIO, NULL, 0);
    ck_assert_int_eq(file_write(fd, "a", 1), 1);
    errno = 0;
    ck_assert_int_eq(file_write(fd, "b", 1), -1);
    ck_assert_int_eq(errno, EIO);
    ck_assert_int_eq(file_pwrite(fd, "c", 1, 1), 1);
    ck_assert_int_eq(file_pwrite(fd, "d", 1, 2), 1);
    ck_assert_uint_eq(file_fault_failures(FILE_OP_WRITE), 1);
    ck_assert_uint_eq(file_fault_failures(FILE_OP_OPEN), 0);
    ck_assert_int_eq(file_close(fd), 0);
    file_fault_uninstall();
    assert_text(at(dir, "f"), "acd"); /* the failed write did not happen */
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(sticky_fault_fails_every_matching_call_until_cleared)
{
    char *dir = tu_tmpdir("ff");
    file_fault_install();
    int fd = file_open(at(dir, "f"), O_RDWR | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    file_fault_fail(FILE_OP_FSYNC, 2, ENOSPC, NULL, 1);
    ck_assert_int_eq(file_fsync(fd), 0);
    for (int i = 0; i < 3; i++) {
        errno = 0;
        ck_assert_int_eq(i == 2 ? file_fdatasync(fd) : file_fsync(fd), -1);
        ck_assert_int_eq(errno, ENOSPC);
    }
    ck_assert_int_eq(file_fsync_dir(dir), FLOE_EIO);
    ck_assert_uint_eq(file_fault_failures(FILE_OP_FSYNC), 4);
    file_fault_clear();
    ck_assert_int_eq(file_fsync(fd), 0);
    ck_assert_int_eq(file_fsync_dir(dir), 0);
    ck_assert_uint_eq(file_fault_failures(FILE_OP_FSYNC), 4);
    ck_assert_int_eq(file_close(fd), 0);
    file_fault_uninstall();
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(fault_matches_calls_by_the_path_they_name_or_were_opened_with)
{
    char *dir = tu_tmpdir("ff");
    file_fault_install();
    file_fault_fail(FILE_OP_OPEN, 1, EIO, "wal-", 0);
    int seg = file_open(at(dir, "seg-1"), O_RDWR | O_CREAT, 0644);
    ck_assert_int_ge(seg, 0);
    ck_assert_int_eq(file_open(at(dir, "wal-1"), O_RDWR | O_CREAT, 0644), -1);
    ck_assert_int_eq(errno, EIO);
    ck_assert_int_ne(access(at(dir, "wal-1"), F_OK), 0); /* the failed open created nothing */
    int wal = file_open(at(dir, "wal-2"), O_RDWR | O_CREAT, 0644);
    ck_assert_int_ge(wal, 0);

    file_fault_fail(FILE_OP_WRITE, 1, ENOSPC, "wal-", 1);
    ck_assert_int_eq(file_write(seg, "x", 1), 1);
    ck_assert_int_eq(file_write(wal, "x", 1), -1);
    ck_assert_int_eq(errno, ENOSPC);
    ck_assert_int_eq(file_pwrite(wal, "x", 1, 0), -1);

    file_fault_fail(FILE_OP_RENAME, 1, EIO, "seg-1", 0);
    ck_assert_int_eq(file_rename(at(dir, "wal-2"), at(dir, "seg-1.b")), 0); /* only the source counts */
    ck_assert_int_eq(file_rename(at(dir, "seg-1"), at(dir, "x")), -1);
    ck_assert_int_eq(errno, EIO);
    file_fault_fail(FILE_OP_UNLINK, 1, EIO, "seg-1.b", 0);
    ck_assert_int_eq(file_unlink(at(dir, "seg-1.b")), -1);
    ck_assert_int_eq(access(at(dir, "seg-1.b"), F_OK), 0); /* the failed unlink removed nothing */
    file_fault_fail(FILE_OP_MKDIR, 1, EIO, NULL, 1);
    ck_assert_int_eq(file_mkdir(at(dir, "d"), 0755), -1);
    ck_assert_int_eq(file_rmdir(dir), -1);
    ck_assert_int_eq(errno, EIO);

    ck_assert_uint_eq(file_fault_failures(FILE_OP_OPEN), 1);
    ck_assert_uint_eq(file_fault_failures(FILE_OP_WRITE), 2);
    ck_assert_uint_eq(file_fault_failures(FILE_OP_RENAME), 1);
    ck_assert_uint_eq(file_fault_failures(FILE_OP_UNLINK), 1);
    ck_assert_uint_eq(file_fault_failures(FILE_OP_MKDIR), 2);
    file_close(seg);
    file_close(wal);
    file_fault_uninstall();
    assert_names(dir, "seg-1 seg-1.b");
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(faults_report_the_way_each_call_reports_errors)
{
    char *dir = tu_tmpdir("ff");
    tu_write_file(at(dir, "f"), "0123456789", 10);
    file_fault_install();
    int fd = file_open(at(dir, "f"), O_RDWR, 0);
    ck_assert_int_ge(fd, 0);
    file_fault_fail(FILE_OP_FALLOCATE, 1, ENOSPC, NULL, 0);
    ck_assert_int_eq(file_fallocate(fd, 0, 1 << 20), ENOSPC); /* like posix_fallocate */
    ck_assert_int_eq(tu_file_size(at(dir, "f")), 10);
    file_fault_fail(FILE_OP_FTRUNCATE, 1, EIO, NULL, 0);
    ck_assert_int_eq(file_ftruncate(fd, 0), -1);
    ck_assert_int_eq(errno, EIO);
    ck_assert_int_eq(tu_file_size(at(dir, "f")), 10);
    char buf[4];
    file_fault_fail(FILE_OP_READ, 1, EIO, NULL, 0);
    file_fault_fail(FILE_OP_READ, 2, ENOSPC, NULL, 0);
    ck_assert_int_eq(file_read(fd, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, EIO);
    ck_assert_int_eq(file_pread(fd, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, ENOSPC);
    ck_assert_int_eq(file_pread(fd, buf, sizeof buf, 0), 4);
    file_fault_fail(FILE_OP_MMAP, 1, EIO, NULL, 0);
    ck_assert_ptr_eq(file_mmap(10, PROT_READ, MAP_SHARED, fd), MAP_FAILED);
    ck_assert_int_eq(errno, EIO);
    void *map = file_mmap(10, PROT_READ, MAP_SHARED, fd);
    ck_assert_ptr_ne(map, MAP_FAILED);
    ck_assert_int_eq(memcmp(map, "0123", 4), 0);
    ck_assert_int_eq(file_munmap(map, 10), 0);
    ck_assert_uint_eq(file_fault_failures(FILE_OP_READ), 2);
    ck_assert_uint_eq(file_fault_failures(FILE_OP_MMAP), 1);
    ck_assert_int_eq(file_fallocate(fd, 0, 20), 0);
    ck_assert_int_eq(tu_file_size(at(dir, "f")), 20);
    file_close(fd);
    file_fault_uninstall();
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(descriptors_opened_outside_the_environment_and_uninstall_pass_through)
{
    char *dir = tu_tmpdir("ff");
    int plain = open(at(dir, "plain"), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(plain, 0);
    file_fault_install();
    file_fault_fail(FILE_OP_WRITE, 1, EIO, NULL, 1);
    file_fault_fail(FILE_OP_FSYNC, 1, EIO, NULL, 1);
    ck_assert_int_eq(file_write(plain, "x", 1), 1);
    ck_assert_int_eq(file_fsync(plain), 0);
    ck_assert_uint_eq(file_fault_failures(FILE_OP_WRITE), 0);
    ck_assert_uint_eq(file_fault_mutations(), 0);
    file_fault_fail(FILE_OP_OPEN, 1, EIO, NULL, 1);
    file_fault_uninstall();
    int fd = file_open(at(dir, "f"), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(file_write(fd, "y", 1), 1);
    ck_assert_int_eq(file_fsync(fd), 0);
    close(fd);
    close(plain);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

#define WRITERS 4
#define CRASH_CUT 201

typedef struct writer {
    int fd;
    int id;
} writer;

static char page_byte(int writer_id, int page)
{
    return (char)(1 + (writer_id * 31 + page) % 250);
}

/* Appends pages, fsyncing each, until the crash ends the process. */
static void *writer_main(void *arg)
{
    const writer *w = arg;
    char page[PAGE];
    for (int i = 0; i < 1000; i++) {
        fill_page(page, page_byte(w->id, i));
        c_pwrite(w->fd, page, PAGE, (off_t)i * PAGE);
        CHILD_CHECK(file_fsync(w->fd) == 0);
    }
    return NULL;
}

static void concurrent_writers(const scenario *sc)
{
    writer w[WRITERS];
    pthread_t t[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        w[i] = (writer){.fd = c_open(at(sc->dir, name), O_RDWR | O_CREAT), .id = i};
    }
    c_sync_dir(sc->dir);
    file_fault_crash_at(CRASH_CUT, FILE_LOSS_DROP, 0);
    for (int i = 0; i < WRITERS; i++)
        CHILD_CHECK(pthread_create(&t[i], NULL, writer_main, &w[i]) == 0);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);
}

START_TEST(concurrent_writers_crash_at_one_consistent_point)
{
    char *dir = tu_tmpdir("ff");
    scenario sc = {.dir = dir, .mode = FILE_LOSS_DROP};
    ck_assert_int_eq(run_child(concurrent_writers, &sc), FILE_FAULT_CRASH_EXIT);
    long durable_pages = 0;
    for (int i = 0; i < WRITERS; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        size_t len = 0;
        char *data = tu_read_file(at(dir, name), &len);
        ck_assert_ptr_nonnull(data);
        ck_assert_uint_eq(len % PAGE, 0);
        for (size_t b = 0; b < len; b++)
            ck_assert_int_eq(data[b], page_byte(i, (int)(b / PAGE)));
        durable_pages += (long)(len / PAGE);
        free(data);
    }
    /* The CRASH_CUT - 1 calls before the crash are a write and an fsync per durable page, plus at
     * most one write per writer whose fsync had not run. */
    long unsynced_writes = CRASH_CUT - 1 - 2 * durable_pages;
    ck_assert_msg(unsynced_writes >= 0 && unsynced_writes <= WRITERS, "%ld durable pages after %d calls",
                  durable_pages, CRASH_CUT - 1);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* Byte i of the appender tests' stream: not a repeating pattern a misplaced block would match. */
static unsigned char stream_byte(size_t i)
{
    return (unsigned char)(i * 2654435761u >> 13);
}

/* Writes len bytes of the stream to path through an appender, in pieces of step bytes, and
 * finishes, fsyncs and closes it; *direct gets whether the file took O_DIRECT. */
static void append_stream(const char *path, size_t len, size_t step, int *direct)
{
    file_appender a;
    ck_assert_int_eq(file_appender_open(&a, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644, 1), 0);
    *direct = a.direct;
    unsigned char *piece = malloc(step);
    ck_assert_ptr_nonnull(piece);
    for (size_t done = 0; done < len;) {
        size_t n = len - done < step ? len - done : step;
        for (size_t j = 0; j < n; j++)
            piece[j] = stream_byte(done + j);
        ck_assert_int_eq(file_appender_write(&a, piece, n), 0);
        done += n;
    }
    ck_assert_int_eq(file_appender_finish(&a), 0);
    ck_assert_uint_eq(a.written, len);
    ck_assert_int_eq(file_fsync(a.fd), 0);
    ck_assert_int_eq(file_appender_close(&a), 0);
    free(piece);
}

/* Reads path back with file_open_direct_read and file_read_block and checks it is the stream. */
static void assert_stream(const char *path, size_t len)
{
    int fd = file_open_direct_read(path);
    ck_assert_int_ge(fd, 0);
    void *mem = NULL;
    ck_assert_int_eq(posix_memalign(&mem, FILE_DIRECT_ALIGN, FILE_DIRECT_BYTES), 0);
    unsigned char *buf = mem;
    size_t at_byte = 0;
    for (;;) {
        ssize_t n = file_read_block(fd, buf, FILE_DIRECT_BYTES, at_byte);
        ck_assert_int_ge(n, 0);
        ssize_t bad = -1;
        for (ssize_t j = 0; j < n && bad < 0; j++)
            bad = buf[j] == stream_byte(at_byte + (size_t)j) ? -1 : j;
        ck_assert_msg(bad < 0, "%s: byte %zu differs", path, at_byte + (size_t)bad);
        at_byte += (size_t)n;
        if (n < (ssize_t)FILE_DIRECT_BYTES)
            break;
    }
    ck_assert_uint_eq(at_byte, len);
    free(mem);
    ck_assert_int_eq(file_close(fd), 0);
}

START_TEST(appender_writes_every_length_exactly)
{
    /* Around the block and buffer sizes, in pieces that straddle them. */
    static const size_t lens[] = {0, 1, 4095, 4096, 4097, (1u << 20) - 1, 1u << 20, (1u << 20) + 1,
                                  (3u << 20) + 4093};
    static const size_t steps[] = {1000, 4096, 65537, 3u << 20};
    char *dir = tu_tmpdir("ff");
    char name[64];
    int direct = 0, any_direct = 0;
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
            if (lens[i] < 8192 && steps[k] == 1000)
                continue;
            snprintf(name, sizeof name, "f-%zu-%zu", i, k);
            append_stream(at(dir, name), lens[i], steps[k], &direct);
            any_direct |= direct;
            ck_assert_int_eq(tu_file_size(at(dir, name)), (long)lens[i]);
            assert_stream(at(dir, name), lens[i]);
        }
    }
    /* The test directory's file system (ext4 here) takes O_DIRECT: the path under test is the
     * direct one, not only the fallback. */
    ck_assert_msg(any_direct, "no appender in %s took O_DIRECT", dir);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(appender_falls_back_to_the_page_cache_where_o_direct_is_refused)
{
    /* A file system that refuses O_DIRECT at open (EINVAL, as tmpfs did before Linux 6.6), and one
     * that takes the flag but refuses the first direct write or read: the same calls still write
     * and read every byte, through the page cache. */
    char *dir = tu_tmpdir("ff");
    int direct = 1;
    file_fault_install();
    file_fault_fail(FILE_OP_OPEN, 1, EINVAL, "refused-open", 0);
    append_stream(at(dir, "refused-open"), (2u << 20) + 5, 65536, &direct);
    ck_assert_int_eq(direct, 0);
    file_fault_fail(FILE_OP_WRITE, 1, EINVAL, "refused-write", 0);
    file_fault_fail(FILE_OP_READ, 1, EINVAL, "refused-write", 0);
    append_stream(at(dir, "refused-write"), (2u << 20) + 5, 65536, &direct);
    ck_assert_uint_eq(file_fault_failures(FILE_OP_WRITE), 1);
    assert_stream(at(dir, "refused-write"), (2u << 20) + 5);
    ck_assert_uint_eq(file_fault_failures(FILE_OP_READ), 1);
    ck_assert_uint_eq(file_fault_failures(FILE_OP_OPEN), 1);
    file_fault_uninstall();
    assert_stream(at(dir, "refused-open"), (2u << 20) + 5);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(appender_leaves_the_page_cache_alone_when_direct)
{
    char *dir = tu_tmpdir("ff");
    size_t len = 8u << 20;
    int direct = 0;
    append_stream(at(dir, "f"), len, 1u << 20, &direct);
    if (direct) {
        int fd = open(at(dir, "f"), O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(map, MAP_FAILED);
        unsigned char vec[(8u << 20) / PAGE];
        ck_assert_int_eq(mincore(map, len, vec), 0);
        size_t resident = 0;
        for (size_t i = 0; i < sizeof vec; i++)
            resident += vec[i] & 1;
        /* Only the buffered tail may be cached: this stream ends on a block, so nothing is. */
        ck_assert_msg(resident == 0, "%zu of %zu pages in the page cache", resident, sizeof vec);
        munmap(map, len);
        close(fd);
    }
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static void append_unsynced(const scenario *sc)
{
    int direct = 0;
    append_stream(at(sc->dir, "synced"), (1u << 20) + 100, 4096, &direct);
    c_sync_dir(sc->dir);
    file_appender a;
    CHILD_CHECK(file_appender_open(&a, at(sc->dir, "synced"), O_WRONLY | O_CLOEXEC, 0, 1) == 0);
    /* Overwrites through a second appender, never synced: a power loss must undo them. */
    unsigned char zeros[8192] = {0};
    CHILD_CHECK(file_appender_write(&a, zeros, sizeof zeros) == 0);
    CHILD_CHECK(file_appender_finish(&a) == 0);
    CHILD_CHECK(file_appender_close(&a) == 0);
}

START_TEST(power_loss_keeps_what_an_appender_synced_and_drops_the_rest)
{
    char *dir = tu_tmpdir("ff");
    scenario sc = {.dir = dir, .mode = FILE_LOSS_DROP};
    run_child_ok(append_unsynced, &sc);
    assert_stream(at(dir, "synced"), (1u << 20) + 100);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static Suite *file_fault_suite(void)
{
    Suite *s = suite_create("file_fault");
    TCase *loss = tcase_create("power_loss");
    tcase_add_test(loss, power_loss_drops_unsynced_writes);
    tcase_add_test(loss, power_loss_keeps_what_fsync_and_fdatasync_made_durable);
    tcase_add_test(loss, power_loss_removes_a_synced_new_file_whose_directory_was_not_synced);
    tcase_add_test(loss, power_loss_keeps_a_new_file_after_file_and_directory_fsync);
    tcase_add_test(loss, power_loss_undoes_an_unsynced_rename_and_restores_the_file_it_replaced);
    tcase_add_test(loss, power_loss_keeps_a_rename_after_the_directory_fsync);
    tcase_add_test(loss, power_loss_follows_a_file_s_data_through_a_rename);
    tcase_add_test(loss, power_loss_undoes_a_rename_across_directories_unless_both_were_synced);
    tcase_add_test(loss, power_loss_undoes_an_unsynced_unlink);
    tcase_add_test(loss, power_loss_undoes_an_unsynced_link);
    tcase_add_test(loss, power_loss_undoes_unsynced_mkdir_with_its_contents_and_rmdir);
    tcase_add_test(loss, power_loss_undoes_unsynced_shrinks);
    tcase_add_test(loss, zero_mode_zeroes_the_bytes_written_since_the_sync);
    tcase_add_test(loss, zero_mode_keeps_synced_bytes_that_share_a_page_with_unsynced_ones);
    tcase_add_test(loss, random_mode_keeps_drops_or_zeroes_each_page_the_same_way_for_a_seed);
    suite_add_tcase(s, loss);
    TCase *crash = tcase_create("crash_at");
    tcase_add_test(crash, mutations_count_only_calls_that_change_files);
    tcase_add_test(crash, crash_at_exits_before_the_nth_mutating_call);
    tcase_add_test(crash, crash_at_match_counts_only_the_calls_it_accepts);
    tcase_add_test(crash, concurrent_writers_crash_at_one_consistent_point);
    suite_add_tcase(s, crash);
    TCase *appender = tcase_create("appender");
    tcase_set_timeout(appender, 30);
    tcase_add_test(appender, appender_writes_every_length_exactly);
    tcase_add_test(appender, appender_falls_back_to_the_page_cache_where_o_direct_is_refused);
    tcase_add_test(appender, appender_leaves_the_page_cache_alone_when_direct);
    tcase_add_test(appender, power_loss_keeps_what_an_appender_synced_and_drops_the_rest);
    suite_add_tcase(s, appender);

    TCase *faults = tcase_create("faults");
    tcase_add_test(faults, fault_fails_the_nth_matching_call_once);
    tcase_add_test(faults, sticky_fault_fails_every_matching_call_until_cleared);
    tcase_add_test(faults, fault_matches_calls_by_the_path_they_name_or_were_opened_with);
    tcase_add_test(faults, faults_report_the_way_each_call_reports_errors);
    tcase_add_test(faults, descriptors_opened_outside_the_environment_and_uninstall_pass_through);
    suite_add_tcase(s, faults);
    return s;
}

int main(void)
{
    return tu_run_suite(file_fault_suite());
}
