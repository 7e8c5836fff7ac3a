/* The file environment for tests that fails chosen calls and simulates power loss (file_fault.h).
 * It sits in front of the system calls as a struct file_env (src/file.h) and keeps, next to the
 * disk, what a power loss would leave of it. Its own tests are tests/test_file_fault.c.
 *
 * Invariants:
 *  1. One mutex, ff.mu, guards all state and is held across each tracked call, system call
 *     included, so the recorded state always matches the disk whatever the threads do. A crash
 *     applies the loss and calls _exit with mu held: no thread changes a file through the
 *     environment after it.
 *  2. A tracked inode's page that is not in its dirty list holds its durable bytes below the
 *     durable size and zeros (or nothing) past it. A call that changes bytes first saves the
 *     durable bytes of every page it dirties, and marks which bytes it changed, so a loss can put
 *     them back or zero exactly those bytes. Page lists are sorted by page index.
 *  3. Inodes are tracked by (st_dev, st_ino) through a private O_RDWR descriptor, so a loss
 *     reaches a file's data whatever it is called by then, and whether or not it has a name.
 *  4. ff.changes holds, in call order (seq), every directory change not yet made durable by an
 *     fsync of the directories it touched, with what undoing it needs: the directories as open
 *     descriptors (so a directory's own rename does not lose them), the names, and for a file it
 *     removed or replaced a hard link in a stash directory. A power loss undoes them newest first.
 *  5. Stash directories sit outside the directories the store uses: at the highest writable
 *     directory (not "/") on the same filesystem above the changed one. A stash entry lives as long
 *     as the change that made it; a power loss or uninstall leaves no stash directory behind.
 *  6. Descriptors not opened through the environment pass through untouched. read, pread and mmap
 *     only meet armed faults; munmap always passes through.
 */
#include "file_fault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array.h"
#include "file.h"
#include "testutil.h"

#define PAGE_BYTES 4096
#define MAX_FAULTS 16

typedef struct armed_fault {
    file_fault_op op;
    int remaining;   /* matching calls until it fires (1: the next); 0 once a sticky one fired */
    int err;         /* errno value of the failed call */
    char *path_part; /* matches paths containing it; NULL matches any */
    int sticky;
} armed_fault;

typedef struct dirty_page {
    uint64_t index;
    unsigned char *durable; /* PAGE_BYTES durable bytes; NULL when the page lies wholly past the
                             * durable size (its durable bytes are zeros) */
    unsigned char *written; /* with durable: a bit per byte changed since the sync */
} dirty_page;

typedef struct tracked_inode {
    dev_t dev;
    ino_t ino;
    int fd;    /* private O_RDWR descriptor */
    int users; /* environment descriptors open on it */
    off_t durable_size;
    dirty_page *pages; /* sorted by index */
    size_t n_pages, cap_pages;
} tracked_inode;

typedef struct open_file {
    char *path; /* as opened; NULL: the slot is not an environment descriptor */
    dev_t dev;
    ino_t ino;
    int is_dir;
    int append;
    int counted; /* counted in its inode's users */
} open_file;

typedef struct dir_rec {
    dev_t dev;
    ino_t ino;
    int fd;
    int refs;   /* changes (and calls in progress) that use it */
    char *path; /* as first seen, for messages */
} dir_rec;

typedef struct stash_dir {
    dev_t dev;
    int fd;
    char *path;
} stash_dir;

typedef enum change_kind {
    CHANGE_CREATE,
    CHANGE_MKDIR,
    CHANGE_RENAME,
    CHANGE_LINK,
    CHANGE_UNLINK,
    CHANGE_RMDIR
} change_kind;

static const char *const change_names[] = {"create", "mkdir", "rename", "link", "unlink", "rmdir"};

typedef struct dir_change {
    uint64_t seq;
    change_kind kind;
    dir_rec *dir; /* the entry made or removed, or a rename's source */
    char *name;
    dir_rec *to_dir; /* a rename's destination, else NULL */
    char *to_name;
    unsigned pending; /* bit 0: dir not synced since; bit 1: to_dir not synced since */
    stash_dir *stash; /* unlink: the removed file; rename: the replaced one; else NULL */
    char stash_name[24];
    dev_t stashed_dev; /* the stashed inode, to drop its tracking once the stash goes */
    ino_t stashed_ino;
    int replaced_dir;  /* a rename over an empty directory, remade by mode on undo */
    mode_t mode;       /* rmdir and replaced_dir: the removed directory's mode */
    dev_t removed_dev; /* rmdir: the removed directory, whose record follows it back */
    ino_t removed_ino;
} dir_change;

static struct {
    pthread_mutex_t mu;
    int installed;
    armed_fault faults[MAX_FAULTS];
    int n_faults;
    uint64_t failures[FILE_OP_KINDS];
    uint64_t mutations;
    uint64_t crash_at; /* the count of (matching) mutations that crashes; 0: none */
    uint64_t crash_seen; /* mutations counted towards crash_at since it was armed */
    file_fault_match crash_match; /* NULL: every mutation counts */
    file_fault_loss crash_mode;
    uint64_t crash_seed;
    char crash_note[PATH_MAX]; /* "" or where the crash writes which call it replaced */
    int trace_fd;              /* 0, or where every mutation is listed (file_fault_trace) */
    uint64_t next_seq;
    open_file *files; /* indexed by descriptor */
    size_t cap_files;
    tracked_inode **inodes;
    size_t n_inodes, cap_inodes;
    dir_rec **dirs;
    size_t n_dirs, cap_dirs;
    dir_change **changes;
    size_t n_changes, cap_changes;
    stash_dir **stashes;
    size_t n_stashes, cap_stashes;
} ff = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The environment cannot model what it cannot record: it stops the test rather than lie. */
static void die(const char *what, const char *path, int err)
{
    fprintf(stderr, "file_fault: %s %s: %s; the fault environment cannot go on\n", what, path ? path : "",
            strerror(err));
    abort();
}

static void grow(void *arrayp, size_t *cap, size_t need, size_t elem_size)
{
    if (array_grow(arrayp, cap, need, elem_size, 16, SIZE_MAX) != 0)
        die("out of memory", "", ENOMEM);
}

static char *dup_str(const char *s)
{
    char *p = strdup(s);
    if (!p)
        die("out of memory", "", ENOMEM);
    return p;
}

static void *zalloc(size_t n)
{
    void *p = calloc(1, n);
    if (!p)
        die("out of memory", "", ENOMEM);
    return p;
}

static void remove_at(void *array, size_t *n, size_t i, size_t elem_size)
{
    char *a = array;
    memmove(a + i * elem_size, a + (i + 1) * elem_size, (*n - i - 1) * elem_size);
    (*n)--;
}

/* Reads or writes all len bytes at off with the plain calls (never through the environment,
 * whose mutex the caller holds). A read stops early at the end of the file; returns the bytes
 * done, or -1. */
static ssize_t pread_full(int fd, void *buf, size_t len, off_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static void pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("power loss: rewrite a page of a tracked file", "", n < 0 ? errno : EIO);
        done += (size_t)n;
    }
}

static off_t size_of(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        die("fstat a tracked file", "", errno);
    return st.st_size;
}

/* Splits path into its parent directory and last name (trailing slashes ignored), malloc'd for
 * the caller to free. Returns 0, or -1 when the path names no entry ("/", "", "a/.."). */
static int split_path(const char *path, char **parent, char **name)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/')
        start--;
    size_t name_len = len - start;
    if (name_len == 0 || (name_len == 1 && path[start] == '.') ||
        (name_len == 2 && path[start] == '.' && path[start + 1] == '.'))
        return -1;
    size_t parent_len = start == 0 ? 0 : start - 1;
    while (parent_len > 1 && path[parent_len - 1] == '/')
        parent_len--;
    *parent = start == 0 ? dup_str(".") : parent_len == 0 ? dup_str("/") : strndup(path, parent_len);
    *name = strndup(path + start, name_len);
    if (!*parent || !*name)
        die("out of memory", "", ENOMEM);
    return 0;
}

/* Counts a call of op on path against the armed faults. Returns 0 to run it, or the errno value
 * it fails with. Called with mu held. */
static int fault_due(file_fault_op op, const char *path)
{
    int err = 0;
    for (int i = 0; i < ff.n_faults; i++) {
        armed_fault *f = &ff.faults[i];
        if (f->op != op || (f->path_part && !strstr(path, f->path_part)))
            continue;
        if (f->remaining > 1) {
            f->remaining--;
            continue;
        }
        if (!err)
            err = f->err;
        if (f->sticky) {
            f->remaining = 0;
            continue;
        }
        free(f->path_part);
        memmove(f, f + 1, (size_t)(ff.n_faults - i - 1) * sizeof *f);
        ff.n_faults--;
        i--;
    }
    if (err)
        ff.failures[op]++;
    return err;
}

static void power_loss(file_fault_loss mode, uint64_t seed);

static const char *op_name(file_fault_op op)
{
    static const char *const names[FILE_OP_KINDS] = {
        [FILE_OP_OPEN] = "open",           [FILE_OP_WRITE] = "write",   [FILE_OP_READ] = "read",
        [FILE_OP_FSYNC] = "fsync",         [FILE_OP_FALLOCATE] = "fallocate", [FILE_OP_FTRUNCATE] = "ftruncate",
        [FILE_OP_RENAME] = "rename",       [FILE_OP_LINK] = "link",     [FILE_OP_UNLINK] = "unlink",
        [FILE_OP_MKDIR] = "mkdir",         [FILE_OP_MMAP] = "mmap",
    };
    return op >= 0 && op < FILE_OP_KINDS && names[op] ? names[op] : "?";
}

/* Writes "<op> <path>" to the crash note file (file_fault_crash_note). */
static void write_crash_note(file_fault_op op, const char *path)
{
    int fd = open(ff.crash_note, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    dprintf(fd, "%s %s\n", op_name(op), path ? path : "?");
    close(fd);
}

/* The thread carrying out a power loss. Others keep running meanwhile and may touch a mapping of
 * a file the power loss is cutting short; their SIGBUS is part of the same crash, so they wait for
 * the process to end instead of ending it before the power loss is complete. */
static pthread_t crashing_thread;

static void bus_during_crash(int sig)
{
    if (!pthread_equal(pthread_self(), crashing_thread)) {
        for (;;)
            pause();
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void begin_crash(void)
{
    crashing_thread = pthread_self();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = bus_during_crash;
    sigaction(SIGBUS, &sa, NULL);
}

/* Decides a call of op on path, an environment file: a mutating call counts first, and may be
 * the crash, which does not return. Returns 0 to run the call or the errno value of an armed
 * fault. Called with mu held. */
static int before_call(file_fault_op op, const char *path, int mutating)
{
    if (mutating && ff.trace_fd > 0)
        dprintf(ff.trace_fd, "%llu %s %s\n", (unsigned long long)ff.mutations + 1, op_name(op), path ? path : "?");
    if (mutating)
        ff.mutations++;
    if (mutating && ff.crash_at && (!ff.crash_match || ff.crash_match(op_name(op), path ? path : "?")) &&
        ++ff.crash_seen == ff.crash_at) {
        if (ff.crash_note[0])
            write_crash_note(op, path);
        begin_crash();
        power_loss(ff.crash_mode, ff.crash_seed);
        _exit(FILE_FAULT_CRASH_EXIT);
    }
    return fault_due(op, path);
}

static open_file *file_of(int fd)
{
    if (fd < 0 || (size_t)fd >= ff.cap_files || !ff.files[fd].path)
        return NULL;
    return &ff.files[fd];
}

static void file_remember(int fd, const char *path, const struct stat *st, int flags)
{
    if ((size_t)fd >= ff.cap_files) {
        size_t old = ff.cap_files;
        grow(&ff.files, &ff.cap_files, (size_t)fd + 1, sizeof *ff.files);
        memset(ff.files + old, 0, (ff.cap_files - old) * sizeof *ff.files);
    }
    open_file *f = &ff.files[fd];
    free(f->path);
    *f = (open_file){.path = dup_str(path),
                     .dev = st->st_dev,
                     .ino = st->st_ino,
                     .is_dir = S_ISDIR(st->st_mode),
                     .append = (flags & O_APPEND) != 0};
}

static tracked_inode *inode_find(dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < ff.n_inodes; i++)
        if (ff.inodes[i]->dev == dev && ff.inodes[i]->ino == ino)
            return ff.inodes[i];
    return NULL;
}

/* Starts tracking the inode open as private_fd (taking it) with the given durable size. */
static tracked_inode *inode_track(int private_fd, const struct stat *st, off_t durable_size)
{
    tracked_inode *in = zalloc(sizeof *in);
    in->dev = st->st_dev;
    in->ino = st->st_ino;
    in->fd = private_fd;
    in->durable_size = durable_size;
    grow(&ff.inodes, &ff.cap_inodes, ff.n_inodes + 1, sizeof *ff.inodes);
    ff.inodes[ff.n_inodes++] = in;
    return in;
}

/* A private read-write descriptor on the file open as fd (an environment descriptor of path). */
static int private_reopen(int fd, const char *path, const struct stat *st, int flags)
{
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    int pfd = open(self, O_RDWR | O_CLOEXEC);
    struct stat pst;
    if (pfd >= 0 && (fstat(pfd, &pst) != 0 || pst.st_dev != st->st_dev || pst.st_ino != st->st_ino)) {
        close(pfd);
        pfd = -1;
    }
    if (pfd < 0 && (flags & O_ACCMODE) == O_RDWR)
        pfd = fcntl(fd, F_DUPFD_CLOEXEC, 0); /* shares the offset, but only pread and pwrite use it */
    if (pfd < 0)
        die("reopen for the power-loss model", path, errno);
    return pfd;
}

static void pages_free(tracked_inode *in)
{
    for (size_t i = 0; i < in->n_pages; i++) {
        free(in->pages[i].durable);
        free(in->pages[i].written);
    }
    in->n_pages = 0;
}

static void inode_free(tracked_inode *in)
{
    pages_free(in);
    free(in->pages);
    close(in->fd);
    free(in);
}

/* Forgets in once nothing can change it that a loss would need to undo: no environment
 * descriptor is open on it and it is clean, or it has no name left. */
static void inode_release_if_idle(tracked_inode *in)
{
    struct stat st;
    if (in->users > 0 || fstat(in->fd, &st) != 0)
        return;
    if (st.st_nlink > 0 && (in->n_pages > 0 || st.st_size != in->durable_size))
        return;
    for (size_t i = 0; i < ff.n_inodes; i++) {
        if (ff.inodes[i] == in) {
            remove_at(ff.inodes, &ff.n_inodes, i, sizeof *ff.inodes);
            break;
        }
    }
    inode_free(in);
}

/* What an fsync or fdatasync of the inode made durable: all of it. */
static void inode_synced(tracked_inode *in)
{
    pages_free(in);
    in->durable_size = size_of(in->fd);
}

/* The dirty page index of in, saving its durable bytes if it was clean. */
static dirty_page *page_dirty(tracked_inode *in, uint64_t index)
{
    size_t lo = 0, hi = in->n_pages;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (in->pages[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < in->n_pages && in->pages[lo].index == index)
        return &in->pages[lo];
    dirty_page p = {.index = index};
    off_t start = (off_t)(index * PAGE_BYTES);
    if (start < in->durable_size) {
        p.durable = zalloc(PAGE_BYTES);
        p.written = zalloc(PAGE_BYTES / 8);
        off_t keep = in->durable_size - start < PAGE_BYTES ? in->durable_size - start : PAGE_BYTES;
        if (pread_full(in->fd, p.durable, (size_t)keep, start) < 0)
            die("save the durable bytes of a page", "", errno);
    }
    grow(&in->pages, &in->cap_pages, in->n_pages + 1, sizeof *in->pages);
    memmove(in->pages + lo + 1, in->pages + lo, (in->n_pages - lo) * sizeof *in->pages);
    in->pages[lo] = p;
    in->n_pages++;
    return &in->pages[lo];
}

/* Records that the bytes [lo, hi) of in are about to change (invariant 2). */
static void inode_touch(tracked_inode *in, off_t lo, off_t hi)
{
    if (lo < 0 || hi <= lo)
        return;
    for (uint64_t index = (uint64_t)lo / PAGE_BYTES; index <= (uint64_t)(hi - 1) / PAGE_BYTES; index++) {
        dirty_page *p = page_dirty(in, index);
        if (!p->written)
            continue;
        off_t start = (off_t)(index * PAGE_BYTES);
        size_t from = lo > start ? (size_t)(lo - start) : 0;
        size_t to = hi - start < PAGE_BYTES ? (size_t)(hi - start) : PAGE_BYTES;
        for (size_t b = from; b < to; b++)
            p->written[b / 8] |= (unsigned char)(1u << (b % 8));
    }
}

/* Records a change of in's size from size to new_size (ftruncate, or fallocate when it extends).
 * Only the durable bytes between the two sizes need saving, so that a shrink can be undone: past
 * the durable size, pages written since the sync are dirty already and the others read as zeros
 * before the call and after it (invariant 2). */
static void inode_touch_size(tracked_inode *in, off_t size, off_t new_size)
{
    off_t lo = size < new_size ? size : new_size;
    off_t hi = size < new_size ? new_size : size;
    inode_touch(in, lo, hi < in->durable_size ? hi : in->durable_size);
}

/* The tracked inode of an environment descriptor, or NULL. */
static tracked_inode *inode_of(const open_file *f)
{
    return f->is_dir ? NULL : inode_find(f->dev, f->ino);
}

/* The record of the directory holding path's entry, with a reference the caller drops with
 * dir_unref; *name gets the entry's name (malloc'd, the caller frees). NULL if the directory
 * cannot be opened: the call will then fail by itself, or changes nothing a loss could undo. */
static dir_rec *dir_of(const char *path, char **name)
{
    char *parent = NULL;
    dir_rec *d = NULL;
    *name = NULL;
    if (split_path(path, &parent, name) != 0)
        return NULL;
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        goto out;
    for (size_t i = 0; i < ff.n_dirs && !d; i++)
        if (ff.dirs[i]->dev == st.st_dev && ff.dirs[i]->ino == st.st_ino)
            d = ff.dirs[i];
    if (!d) {
        d = zalloc(sizeof *d);
        *d = (dir_rec){.dev = st.st_dev, .ino = st.st_ino, .fd = fd, .path = parent};
        fd = -1;
        parent = NULL;
        grow(&ff.dirs, &ff.cap_dirs, ff.n_dirs + 1, sizeof *ff.dirs);
        ff.dirs[ff.n_dirs++] = d;
    }
    d->refs++;
out:
    if (fd >= 0)
        close(fd);
    if (!d) {
        free(*name);
        *name = NULL;
    }
    free(parent);
    return d;
}

static void dir_unref(dir_rec *d)
{
    if (!d || --d->refs > 0)
        return;
    for (size_t i = 0; i < ff.n_dirs; i++) {
        if (ff.dirs[i] == d) {
            remove_at(ff.dirs, &ff.n_dirs, i, sizeof *ff.dirs);
            break;
        }
    }
    close(d->fd);
    free(d->path);
    free(d);
}

/* The highest writable directory on dev above the directory near (near itself at worst), never
 * "/": where a stash directory stays out of every directory the store lists. malloc'd. */
static char *stash_parent(dev_t dev, const dir_rec *near)
{
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", near->fd);
    char *best = realpath(self, NULL);
    if (!best)
        die("resolve the directory", near->path, errno);
    char *up = dup_str(best);
    for (;;) {
        char *slash = strrchr(up, '/');
        if (!slash || slash == up)
            break;
        *slash = '\0';
        struct stat st;
        if (stat(up, &st) != 0 || st.st_dev != dev)
            break;
        if (access(up, W_OK | X_OK) == 0) {
            free(best);
            best = dup_str(up);
        }
    }
    free(up);
    return best;
}

/* The stash directory for files on dev, made on first use (invariant 5). */
static stash_dir *stash_for(dev_t dev, const dir_rec *near)
{
    for (size_t i = 0; i < ff.n_stashes; i++)
        if (ff.stashes[i]->dev == dev)
            return ff.stashes[i];
    char *top = stash_parent(dev, near);
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/.file-fault-stash-%ld-XXXXXX", top, (long)getpid()) >=
        (int)sizeof path)
        die("stash path too long under", top, ENAMETOOLONG);
    free(top);
    if (!mkdtemp(path))
        die("make a stash directory", path, errno);
    stash_dir *s = zalloc(sizeof *s);
    s->dev = dev;
    s->path = dup_str(path);
    s->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->fd < 0)
        die("open the stash directory", path, errno);
    grow(&ff.stashes, &ff.cap_stashes, ff.n_stashes + 1, sizeof *ff.stashes);
    ff.stashes[ff.n_stashes++] = s;
    return s;
}

/* Empties and removes every stash directory (what is left in them is forgotten). */
static void stashes_remove(void)
{
    for (size_t i = 0; i < ff.n_stashes; i++) {
        stash_dir *s = ff.stashes[i];
        DIR *d = fdopendir(s->fd);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                unlinkat(s->fd, e->d_name, 0);
        if (d)
            closedir(d);
        else
            close(s->fd);
        if (rmdir(s->path) != 0)
            fprintf(stderr, "file_fault: remove the stash directory %s: %s\n", s->path, strerror(errno));
        free(s->path);
        free(s);
    }
    ff.n_stashes = 0;
}

/* A new change (not yet in the log) on dir/name, taking the references and the name. */
static dir_change *change_new(change_kind kind, dir_rec *dir, char *name)
{
    dir_change *c = zalloc(sizeof *c);
    c->seq = ++ff.next_seq;
    c->kind = kind;
    c->dir = dir;
    c->name = name;
    c->pending = 1;
    return c;
}

/* Hard-links path (st) into the stash before the call removes or replaces it. */
static void change_stash(dir_change *c, const char *path, const struct stat *st, const dir_rec *near)
{
    c->stash = stash_for(st->st_dev, near);
    snprintf(c->stash_name, sizeof c->stash_name, "%" PRIu64, c->seq);
    if (linkat(AT_FDCWD, path, c->stash->fd, c->stash_name, 0) != 0)
        die("hard-link into the stash directory", path, errno);
    c->stashed_dev = st->st_dev;
    c->stashed_ino = st->st_ino;
}

/* Frees a change that is done with: made durable, undone, or never made. With drop_stash its
 * stash entry goes too (the file it kept may then have no name left). */
static void change_free(dir_change *c, int drop_stash)
{
    if (!c)
        return;
    if (c->stash && drop_stash) {
        unlinkat(c->stash->fd, c->stash_name, 0);
        tracked_inode *in = inode_find(c->stashed_dev, c->stashed_ino);
        if (in)
            inode_release_if_idle(in);
    }
    dir_unref(c->dir);
    dir_unref(c->to_dir);
    free(c->name);
    free(c->to_name);
    free(c);
}

static void change_log(dir_change *c)
{
    grow(&ff.changes, &ff.cap_changes, ff.n_changes + 1, sizeof *ff.changes);
    ff.changes[ff.n_changes++] = c;
}

/* What an fsync of the directory (dev, ino) made durable: its part of every change. */
static void dir_synced(dev_t dev, ino_t ino)
{
    size_t kept = 0;
    for (size_t i = 0; i < ff.n_changes; i++) {
        dir_change *c = ff.changes[i];
        if (c->dir->dev == dev && c->dir->ino == ino)
            c->pending &= ~1u;
        if (c->to_dir && c->to_dir->dev == dev && c->to_dir->ino == ino)
            c->pending &= ~2u;
        if (c->pending)
            ff.changes[kept++] = c;
        else
            change_free(c, 1);
    }
    ff.n_changes = kept;
}

enum page_fate { PAGE_KEPT, PAGE_DROPPED, PAGE_ZEROED };

/* The end of dirty page i if the loss keeps it and it ends between the durable size and cur (a
 * size a RANDOM loss may leave), else -1. */
static off_t kept_page_end(const tracked_inode *in, const unsigned char *fate, size_t i, off_t cur)
{
    off_t end = (off_t)((in->pages[i].index + 1) * PAGE_BYTES);
    if (fate[i] != PAGE_KEPT || end <= in->durable_size || end >= cur)
        return -1;
    return end;
}

/* The size a RANDOM loss leaves of a file: its durable size, its current size, or the end of a
 * kept page in between, each as likely. */
static off_t random_size(const tracked_inode *in, off_t cur, const unsigned char *fate, uint64_t *rng)
{
    if (cur <= in->durable_size)
        return tu_rand64(rng) % 2 ? in->durable_size : cur;
    uint64_t ends = 0;
    for (size_t i = 0; i < in->n_pages; i++)
        ends += kept_page_end(in, fate, i, cur) >= 0;
    uint64_t pick = tu_rand64(rng) % (ends + 2);
    if (pick == 0)
        return in->durable_size;
    for (size_t i = 0; i < in->n_pages; i++)
        if (kept_page_end(in, fate, i, cur) >= 0 && --pick == 0)
            return kept_page_end(in, fate, i, cur);
    return cur;
}

/* Puts what the loss leaves of one dirty page in [start, end) (end within the page). */
static void page_lose(const tracked_inode *in, const dirty_page *p, enum page_fate fate, off_t start,
                      off_t end)
{
    if (fate == PAGE_KEPT)
        return;
    unsigned char buf[PAGE_BYTES];
    memset(buf, 0, sizeof buf);
    if (p->durable) {
        memcpy(buf, p->durable, sizeof buf);
        if (fate == PAGE_ZEROED)
            for (size_t b = 0; b < PAGE_BYTES; b++)
                if (p->written[b / 8] & (1u << (b % 8)))
                    buf[b] = 0;
    }
    pwrite_full(in->fd, buf, (size_t)(end - start), start);
}

/* Applies the loss to one file's data and makes what is left its durable state. */
static void inode_lose(tracked_inode *in, file_fault_loss mode, uint64_t *rng)
{
    off_t cur = size_of(in->fd);
    unsigned char *fate = zalloc(in->n_pages + 1);
    for (size_t i = 0; i < in->n_pages; i++)
        fate[i] = mode == FILE_LOSS_DROP   ? PAGE_DROPPED
                  : mode == FILE_LOSS_ZERO ? PAGE_ZEROED
                                           : (unsigned char)(tu_rand64(rng) % 3);
    off_t final = mode == FILE_LOSS_RANDOM ? random_size(in, cur, fate, rng) : in->durable_size;
    if (final != cur && ftruncate(in->fd, final) != 0)
        die("power loss: cut a tracked file", "", errno);
    for (size_t i = 0; i < in->n_pages; i++) {
        off_t start = (off_t)(in->pages[i].index * PAGE_BYTES);
        if (start >= final)
            break;
        off_t end = start + PAGE_BYTES < final ? start + PAGE_BYTES : final;
        page_lose(in, &in->pages[i], fate[i], start, end);
    }
    free(fate);
    inode_synced(in);
}

/* Removes name in dirfd and everything under it. Returns 0 or an errno value. */
static int remove_tree_at(int dirfd, const char *name)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dirfd, name, 0) == 0 ? 0 : errno;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return e;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 && !rc)
            rc = remove_tree_at(fd, e->d_name);
    closedir(d);
    if (!rc && unlinkat(dirfd, name, AT_REMOVEDIR) != 0)
        rc = errno;
    return rc;
}

/* Brings back a directory an undone rmdir removed, and points the records of the removed one
 * at it, so older changes inside it are undone there. */
static int rmdir_undo(const dir_change *c)
{
    if (mkdirat(c->dir->fd, c->name, c->mode) != 0)
        return errno;
    for (size_t i = 0; i < ff.n_dirs; i++) {
        dir_rec *d = ff.dirs[i];
        if (d->dev != c->removed_dev || d->ino != c->removed_ino)
            continue;
        int fd = openat(c->dir->fd, c->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return errno;
        close(d->fd);
        d->fd = fd;
    }
    return 0;
}

static int rename_undo(const dir_change *c)
{
    if (renameat(c->to_dir->fd, c->to_name, c->dir->fd, c->name) != 0)
        return errno;
    if (c->stash && renameat(c->stash->fd, c->stash_name, c->to_dir->fd, c->to_name) != 0)
        return errno;
    if (c->replaced_dir && mkdirat(c->to_dir->fd, c->to_name, c->mode) != 0)
        return errno;
    return 0;
}

static void change_undo(const dir_change *c)
{
    int rc = 0;
    switch (c->kind) {
    case CHANGE_CREATE:
    case CHANGE_LINK:
        rc = unlinkat(c->dir->fd, c->name, 0) == 0 ? 0 : errno;
        break;
    case CHANGE_MKDIR:
        rc = remove_tree_at(c->dir->fd, c->name);
        break;
    case CHANGE_RENAME:
        rc = rename_undo(c);
        break;
    case CHANGE_UNLINK:
        rc = renameat(c->stash->fd, c->stash_name, c->dir->fd, c->name) == 0 ? 0 : errno;
        break;
    case CHANGE_RMDIR:
        rc = rmdir_undo(c);
        break;
    }
    if (rc)
        fprintf(stderr, "file_fault: power loss: cannot undo the %s of %s/%s: %s\n", change_names[c->kind],
                c->dir->path, c->name, strerror(rc));
}

/* Applies a power loss to the disk and makes what is left the durable state. Called with mu held. */
static void power_loss(file_fault_loss mode, uint64_t seed)
{
    uint64_t rng = seed ^ 0x9e3779b97f4a7c15ull;
    if (rng == 0)
        rng = 1;
    for (size_t i = 0; i < ff.n_inodes; i++)
        inode_lose(ff.inodes[i], mode, &rng);
    for (size_t i = ff.n_changes; i-- > 0;)
        change_undo(ff.changes[i]);
    for (size_t i = 0; i < ff.n_changes; i++)
        change_free(ff.changes[i], 0);
    ff.n_changes = 0;
    stashes_remove();
    for (size_t i = ff.n_inodes; i-- > 0;)
        inode_release_if_idle(ff.inodes[i]);
}

/* Before an open that truncates the existing file at path: tracks it if need be and saves its
 * durable bytes, which the truncation is about to change. */
static void save_before_truncate(const char *path)
{
    int pfd = open(path, O_RDWR | O_CLOEXEC);
    struct stat st;
    if (pfd < 0 || fstat(pfd, &st) != 0)
        die("open before truncating", path, errno);
    tracked_inode *in = inode_find(st.st_dev, st.st_ino);
    if (in)
        close(pfd);
    else
        in = inode_track(pfd, &st, st.st_size);
    inode_touch(in, 0, size_of(in->fd));
}

/* Records a descriptor the environment just opened, and the file it created (with dir/name). */
static void after_open(int fd, const char *path, int flags, dir_rec *dir, char **name)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        die("fstat a new descriptor of", path, errno);
    file_remember(fd, path, &st, flags);
    tracked_inode *in = S_ISREG(st.st_mode) ? inode_find(st.st_dev, st.st_ino) : NULL;
    if (!in && S_ISREG(st.st_mode) && (flags & O_ACCMODE) != O_RDONLY)
        in = inode_track(private_reopen(fd, path, &st, flags), &st, st.st_size); /* 0 if it is new */
    if (in) {
        in->users++;
        ff.files[fd].counted = 1;
    }
    if (dir) {
        dir->refs++;
        change_log(change_new(CHANGE_CREATE, dir, *name));
        *name = NULL;
    }
}

static int ff_open(const char *path, int flags, mode_t mode)
{
    pthread_mutex_lock(&ff.mu);
    if (!ff.installed) {
        pthread_mutex_unlock(&ff.mu);
        return open(path, flags, mode);
    }
    struct stat st;
    int existed = stat(path, &st) == 0;
    int creating = (flags & O_CREAT) && !existed;
    int truncating = (flags & O_TRUNC) && existed && S_ISREG(st.st_mode) && (flags & O_ACCMODE) != O_RDONLY;
    int fd = -1, err = before_call(FILE_OP_OPEN, path, creating || truncating);
    if (!err) {
        char *name = NULL;
        dir_rec *dir = creating ? dir_of(path, &name) : NULL;
        if (truncating)
            save_before_truncate(path);
        fd = open(path, flags, mode);
        err = fd < 0 ? errno : 0;
        if (fd >= 0)
            after_open(fd, path, flags, dir, &name);
        dir_unref(dir);
        free(name);
    }
    pthread_mutex_unlock(&ff.mu);
    errno = err;
    return fd;
}

static int ff_close(int fd)
{
    pthread_mutex_lock(&ff.mu);
    open_file *f = file_of(fd);
    tracked_inode *in = NULL;
    if (f) {
        in = f->counted ? inode_of(f) : NULL;
        if (in)
            in->users--;
        free(f->path);
        *f = (open_file){0};
    }
    int rc = close(fd);
    int err = errno;
    if (in)
        inode_release_if_idle(in);
    pthread_mutex_unlock(&ff.mu);
    errno = err;
    return rc;
}

/* A duplicate shares the original's file: its syncs count for the same inode. */
static int ff_dup(int fd)
{
    pthread_mutex_lock(&ff.mu);
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    int err = errno;
    open_file *f = nfd >= 0 ? file_of(fd) : NULL;
    if (f) {
        struct stat st;
        char *path = dup_str(f->path);
        int counted = f->counted, append = f->append;
        if (fstat(nfd, &st) != 0)
            die("fstat a duplicate descriptor of", path, errno);
        file_remember(nfd, path, &st, append ? O_APPEND : 0);
        tracked_inode *in = counted ? inode_of(&ff.files[nfd]) : NULL;
        if (in) {
            in->users++;
            ff.files[nfd].counted = 1;
        }
        free(path);
    }
    pthread_mutex_unlock(&ff.mu);
    errno = err;
    return nfd;
}

/* write and pwrite: offset -1 writes at the descriptor's offset. */
static ssize_t write_call(int fd, const void *buf, size_t len, off_t offset)
{
    pthread_mutex_lock(&ff.mu);
    open_file *f = file_of(fd);
    ssize_t n = -1;
    int err = f ? before_call(FILE_OP_WRITE, f->path, 1) : 0;
    if (!err) {
        tracked_inode *in = f ? inode_of(f) : NULL;
        if (in && len > 0) {
            off_t at = offset >= 0 ? offset : f->append ? size_of(fd) : lseek(fd, 0, SEEK_CUR);
            inode_touch(in, at, at + (off_t)len);
        }
        n = offset >= 0 ? pwrite(fd, buf, len, offset) : write(fd, buf, len);
        err = n < 0 ? errno : 0;
    }
    pthread_mutex_unlock(&ff.mu);
    errno = err;
    return n;
}

static ssize_t ff_write(int fd, const void *buf, size_t len)
{
    return write_call(fd, buf, len, -1);
}

static ssize_t ff_pwrite(int fd, const void *buf, size_t len, off_t offset)
{
    if (offset < 0) {
        errno = EINVAL;
        return -1;
    }
    return write_call(fd, buf, len, offset);
}

/* The faults due for a call that changes nothing (read, pread, mmap): 0 or an errno value. */
static int fault_only(file_fault_op op, int fd)
{
    pthread_mutex_lock(&ff.mu);
    open_file *f = file_of(fd);
    int err = f ? fault_due(op, f->path) : 0;
    pthread_mutex_unlock(&ff.mu);
    return err;
}

static ssize_t ff_read(int fd, void *buf, size_t len)
{
    int err = fault_only(FILE_OP_READ, fd);
    if (err) {
        errno = err;
        return -1;
    }
    return read(fd, buf, len);
}

static ssize_t ff_pread(int fd, void *buf, size_t len, off_t offset)
{
    int err = fault_only(FILE_OP_READ, fd);
    if (err) {
        errno = err;
        return -1;
    }
    return pread(fd, buf, len, offset);
}

static int sync_call(int fd, int data_only)
{
    pthread_mutex_lock(&ff.mu);
    open_file *f = file_of(fd);
    int rc = -1, err = f ? before_call(FILE_OP_FSYNC, f->path, 1) : 0;
    if (!err) {
        rc = data_only ? fdatasync(fd) : fsync(fd);
        err = rc != 0 ? errno : 0;
    }
    if (f && rc == 0) {
        tracked_inode *in = inode_of(f);
        if (f->is_dir)
            dir_synced(f->dev, f->ino);
        else if (in) {
            inode_synced(in);
            inode_release_if_idle(in);
        }
    }
    pthread_mutex_unlock(&ff.mu);
    errno = err;
    return rc;
}

static int ff_fsync(int fd)
{
    return sync_call(fd, 0);
}

static int ff_fdatasync(int fd)
{
    return sync_call(fd, 1);
}

static int ff_fallocate(int fd, off_t offset, off_t len)
{
    pthread_mutex_lock(&ff.mu);
    open_file *f = file_of(fd);
    int rc = f ? before_call(FILE_OP_FALLOCATE, f->path, 1) : 0;
    if (!rc) {
        tracked_inode *in = f ? inode_of(f) : NULL;
        off_t size = in ? size_of(fd) : 0;
        if (in && offset >= 0 && len > 0 && offset + len > size)
            inode_touch_size(in, size, offset + len);
        rc = posix_fallocate(fd, offset, len);
    }
    pthread_mutex_unlock(&ff.mu);
    return rc;
}

static int ff_ftruncate(int fd, off_t len)
{
    pthread_mutex_lock(&ff.mu);
    open_file *f = file_of(fd);
    int rc = -1, err = f ? before_call(FILE_OP_FTRUNCATE, f->path, 1) : 0;
    if (!err) {
        tracked_inode *in = f ? inode_of(f) : NULL;
        if (in && len >= 0)
            inode_touch_size(in, size_of(fd), len);
        rc = ftruncate(fd, len);
        err = rc != 0 ? errno : 0;
    }
    pthread_mutex_unlock(&ff.mu);
    errno = err;
    return rc;
}

/* The change a rename of from to to is about to make, with the replaced file stashed; NULL when it
 * changes nothing a loss could undo (from is missing, or both name one inode). */
static dir_change *rename_prepare(const char *from, const char *to)
{
    struct stat sf, st;
    if (lstat(from, &sf) != 0)
        return NULL;
    int to_exists = lstat(to, &st) == 0;
    if (to_exists && st.st_dev == sf.st_dev && st.st_ino == sf.st_ino)
        return NULL;
    char *from_name = NULL, *to_name = NULL;
    dir_rec *from_dir = dir_of(from, &from_name);
    dir_rec *to_dir = from_dir ? dir_of(to, &to_name) : NULL;
    if (!to_dir) {
        dir_unref(from_dir);
        free(from_name);
        return NULL;
    }
    dir_change *c = change_new(CHANGE_RENAME, from_dir, from_name);
    c->to_dir = to_dir;
    c->to_name = to_name;
    c->pending = 3;
    if (to_exists && S_ISDIR(st.st_mode)) {
        c->replaced_dir = 1;
        c->mode = st.st_mode & 07777;
    } else if (to_exists) {
        change_stash(c, to, &st, to_dir);
    }
    return c;
}

static int ff_rename(const char *from, const char *to)
{
    pthread_mutex_lock(&ff.mu);
    int rc = -1, err = ff.installed ? before_call(FILE_OP_RENAME, from, 1) : 0;
    if (!err) {
        dir_change *c = ff.installed ? rename_prepare(from, to) : NULL;
        rc = rename(from, to);
        err = rc != 0 ? errno : 0;
        if (c && rc == 0)
            change_log(c);
        else
            change_free(c, 1);
    }
    pthread_mutex_unlock(&ff.mu);
    errno = err;
    return rc;
}

/* After a call that may have made the entry name in dir (ok: it did): logs the change, or lets go
 * of dir and name. dir may be NULL (nothing tracked). */
static void log_new_entry(change_kind kind, dir_rec *dir, char *name, int ok)
{
    if (dir && ok) {
        change_log(change_new(kind, dir, name));
        return;
    }
    dir_unref(dir);
    free(name);
}

static int ff_link(const char *from, const char *to)
{
    pthread_mutex_lock(&ff.mu);
    int rc = -1, err = ff.installed ? before_call(FILE_OP_LINK, from, 1) : 0;
    if (!err) {
        char *name = NULL;
        dir_rec *dir = ff.installed ? dir_of(to, &name) : NULL;
        rc = link(from, to);
        err = rc != 0 ? errno : 0;
        log_new_entry(CHANGE_LINK, dir, name, rc == 0);
    }
    pthread_mutex_unlock(&ff.mu);
    errno = err;
    return rc;
}

static int ff_unlink(const char *path)
{
    pthread_mutex_lock(&ff.mu);
    int rc = -1, err = ff.installed ? before_call(FILE_OP_UNLINK, path, 1) : 0;
    if (!err) {
        struct stat st;
        dir_change *c = NULL;
        if (ff.installed && lstat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
            char *name = NULL;
            dir_rec *dir = dir_of(path, &name);
            if (dir) {
                c = change_new(CHANGE_UNLINK, dir, name);
                change_stash(c, path, &st, dir);
            }
        }
        rc = unlink(path);
        err = rc != 0 ? errno : 0;
        if (c && rc == 0)
            change_log(c);
        else
            change_free(c, 1);
    }
    pthread_mutex_unlock(&ff.mu);
    errno = err;
    return rc;
}

static int ff_mkdir(const char *path, mode_t mode)
{
    pthread_mutex_lock(&ff.mu);
    int rc = -1, err = ff.installed ? before_call(FILE_OP_MKDIR, path, 1) : 0;
    if (!err) {
        char *name = NULL;
        dir_rec *dir = ff.installed ? dir_of(path, &name) : NULL;
        rc = mkdir(path, mode);
        err = rc != 0 ? errno : 0;
        log_new_entry(CHANGE_MKDIR, dir, name, rc == 0);
    }
    pthread_mutex_unlock(&ff.mu);
    errno = err;
    return rc;
}

static int ff_rmdir(const char *path)
{
    pthread_mutex_lock(&ff.mu);
    int rc = -1, err = ff.installed ? before_call(FILE_OP_MKDIR, path, 1) : 0;
    if (!err) {
        struct stat st;
        char *name = NULL;
        dir_rec *dir =
            ff.installed && lstat(path, &st) == 0 && S_ISDIR(st.st_mode) ? dir_of(path, &name) : NULL;
        rc = rmdir(path);
        err = rc != 0 ? errno : 0;
        if (dir && rc == 0) {
            dir_change *c = change_new(CHANGE_RMDIR, dir, name);
            c->mode = st.st_mode & 07777;
            c->removed_dev = st.st_dev;
            c->removed_ino = st.st_ino;
            change_log(c);
        } else {
            dir_unref(dir);
            free(name);
        }
    }
    pthread_mutex_unlock(&ff.mu);
    errno = err;
    return rc;
}

static void *ff_mmap(size_t len, int prot, int flags, int fd)
{
    int err = fault_only(FILE_OP_MMAP, fd);
    if (err) {
        errno = err;
        return MAP_FAILED;
    }
    return mmap(NULL, len, prot, flags, fd, 0);
}

static const struct file_env fault_env = {
    .open = ff_open,
    .close = ff_close,
    .dup = ff_dup,
    .write = ff_write,
    .pwrite = ff_pwrite,
    .read = ff_read,
    .pread = ff_pread,
    .fsync = ff_fsync,
    .fdatasync = ff_fdatasync,
    .fallocate = ff_fallocate,
    .ftruncate = ff_ftruncate,
    .rename = ff_rename,
    .link = ff_link,
    .unlink = ff_unlink,
    .mkdir = ff_mkdir,
    .rmdir = ff_rmdir,
    .mmap = ff_mmap,
    .munmap = munmap,
};

static void faults_clear(void)
{
    for (int i = 0; i < ff.n_faults; i++)
        free(ff.faults[i].path_part);
    ff.n_faults = 0;
    ff.crash_at = 0;
}

/* Forgets all state: stash entries go (their changes become real), private descriptors close.
 * Called with mu held. */
static void state_reset(void)
{
    faults_clear();
    for (size_t i = 0; i < ff.n_changes; i++)
        change_free(ff.changes[i], 1);
    ff.n_changes = 0;
    stashes_remove();
    for (size_t i = 0; i < ff.n_inodes; i++)
        inode_free(ff.inodes[i]);
    ff.n_inodes = 0;
    for (size_t i = 0; i < ff.cap_files; i++)
        free(ff.files[i].path);
    free(ff.files);
    ff.files = NULL;
    ff.cap_files = 0;
    free(ff.inodes);
    free(ff.dirs);
    free(ff.changes);
    free(ff.stashes);
    ff.inodes = NULL;
    ff.dirs = NULL;
    ff.changes = NULL;
    ff.stashes = NULL;
    ff.cap_inodes = ff.cap_dirs = ff.cap_changes = ff.cap_stashes = 0;
    ff.n_dirs = 0;
    memset(ff.failures, 0, sizeof ff.failures);
    ff.mutations = 0;
    ff.next_seq = 0;
}

void file_fault_install(void)
{
    pthread_mutex_lock(&ff.mu);
    state_reset();
    ff.installed = 1;
    pthread_mutex_unlock(&ff.mu);
    file_env_set(&fault_env);
}

void file_fault_uninstall(void)
{
    file_env_set(NULL);
    pthread_mutex_lock(&ff.mu);
    state_reset();
    ff.installed = 0;
    pthread_mutex_unlock(&ff.mu);
}

void file_fault_fail(file_fault_op op, int nth, int err, const char *path_part, int sticky)
{
    if ((unsigned)op >= FILE_OP_KINDS || err <= 0)
        die("arm a fault with a bad op or errno value", "", EINVAL);
    pthread_mutex_lock(&ff.mu);
    if (ff.n_faults == MAX_FAULTS)
        die("arm more than 16 faults at once", "", E2BIG);
    ff.faults[ff.n_faults++] = (armed_fault){.op = op,
                                             .remaining = nth < 1 ? 1 : nth,
                                             .err = err,
                                             .path_part = path_part ? dup_str(path_part) : NULL,
                                             .sticky = sticky != 0};
    pthread_mutex_unlock(&ff.mu);
}

void file_fault_clear(void)
{
    pthread_mutex_lock(&ff.mu);
    faults_clear();
    pthread_mutex_unlock(&ff.mu);
}

uint64_t file_fault_failures(file_fault_op op)
{
    pthread_mutex_lock(&ff.mu);
    uint64_t n = (unsigned)op < FILE_OP_KINDS ? ff.failures[op] : 0;
    pthread_mutex_unlock(&ff.mu);
    return n;
}

uint64_t file_fault_mutations(void)
{
    pthread_mutex_lock(&ff.mu);
    uint64_t n = ff.mutations;
    pthread_mutex_unlock(&ff.mu);
    return n;
}

void file_fault_trace(const char *trace_path)
{
    pthread_mutex_lock(&ff.mu);
    if (ff.trace_fd > 0)
        close(ff.trace_fd);
    ff.trace_fd = trace_path && trace_path[0] ? open(trace_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : 0;
    if (ff.trace_fd < 0)
        die("open the mutation trace", trace_path, errno);
    pthread_mutex_unlock(&ff.mu);
}

void file_fault_crash_note(const char *note_path)
{
    pthread_mutex_lock(&ff.mu);
    snprintf(ff.crash_note, sizeof ff.crash_note, "%s", note_path ? note_path : "");
    pthread_mutex_unlock(&ff.mu);
}

void file_fault_crash_at(uint64_t nth, file_fault_loss mode, uint64_t seed)
{
    file_fault_crash_at_match(nth, NULL, mode, seed);
}

void file_fault_crash_at_match(uint64_t nth, file_fault_match match, file_fault_loss mode, uint64_t seed)
{
    pthread_mutex_lock(&ff.mu);
    ff.crash_at = nth;
    ff.crash_seen = 0;
    ff.crash_match = match;
    ff.crash_mode = mode;
    ff.crash_seed = seed;
    pthread_mutex_unlock(&ff.mu);
}

void file_fault_power_loss(file_fault_loss mode, uint64_t seed)
{
    pthread_mutex_lock(&ff.mu);
    power_loss(mode, seed);
    pthread_mutex_unlock(&ff.mu);
}
