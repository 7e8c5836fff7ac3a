/* The cold store's directory backend: each object is a file at <dir>/<key>, directories made as
 * keys need them. It is the embedded default (no server) and a real choice for a mounted disk.
 *
 * Invariants:
 * 1. An object file is only ever created by rename() or link() of a fully written and fsynced
 *    temporary file in the same directory, followed by an fsync of that directory: a reader or a
 *    crash sees the old object or the new one, never part of one.
 * 2. Creating with if_none_match uses link(), which fails if the name exists: of racing creators
 *    exactly one wins, with no window where two believe they did.
 * 3. Temporary files are named ".floe-tmp.<random>"; keys may not have a segment starting with
 *    ".floe-tmp." and listing skips such names, so they are never visible as objects.
 * 4. cold_list walks each directory's entries sorted as if directories had a trailing '/', which
 *    is exactly bytewise key order, holding one directory's names at a time (at most
 *    FS_MAX_DIR_ENTRIES).
 *
 * Threads: the handle is read-only after open apart from the counters, which are atomics.
 */
#include "cold_backend.h"

#include "array.h"
#include "error.h"
#include "file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define FS_TMP_PREFIX ".floe-tmp."
#define FS_MAX_DIR_ENTRIES 1000000
#define FS_COPY_BUF_BYTES (1024 * 1024)
#define FS_PATH_MAX (PATH_MAX + FLOE_MAX_KEY_BYTES + 64)

typedef struct cold_fs {
    cold_t base; /* first: a cold_t * is a cold_fs * */
    char *root;  /* no trailing '/' */
    _Atomic uint64_t requests[FLOE_COLD_OP_COUNT];
    _Atomic uint64_t errors[FLOE_COLD_OP_COUNT];
} cold_fs;

static cold_fs *fs_of(cold_t *c)
{
    return (cold_fs *)c;
}

/* Counts a call and, if rc is a failure (not a "not found" or "exists" answer), an error. */
static int counted(cold_fs *fs, floe_cold_op op, int rc)
{
    atomic_fetch_add_explicit(&fs->requests[op], 1, memory_order_relaxed);
    if (rc < 0 && !(rc == FLOE_ENOTFOUND && (op == FLOE_COLD_GET || op == FLOE_COLD_HEAD)))
        atomic_fetch_add_explicit(&fs->errors[op], 1, memory_order_relaxed);
    return rc;
}

static int object_path(cold_fs *fs, const char *key, char *out, size_t cap)
{
    for (const char *seg = key; seg; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL) {
        /* Temporary names are ours alone (invariant 3). */
        if (strncmp(seg, FS_TMP_PREFIX, strlen(FS_TMP_PREFIX)) == 0)
            return err_set(FLOE_EINVAL, "cold fs: key '%s' uses the reserved name " FS_TMP_PREFIX "*", key);
        if (strcspn(seg, "/") > NAME_MAX)
            return err_set(
                FLOE_EINVAL,
                "cold fs: key '%.64s...' has a segment longer than %d bytes, the longest file name", key,
                NAME_MAX);
    }
    int n = snprintf(out, cap, "%s/%s", fs->root, key);
    if (n < 0 || (size_t)n >= cap)
        return err_set(FLOE_EINVAL, "cold fs: path for key '%.64s...' is too long", key);
    return 0;
}

/* file_fsync_dir, its message led by this module's name. */
static int fsync_dir(const char *dir)
{
    int rc = file_fsync_dir(dir);
    return rc ? err_wrap(rc, "cold fs") : 0;
}

/* Makes every directory on the way to the file at path (whose root exists), fsyncing the parent of
 * each directory it creates. */
static int make_parents(const char *root, char *path)
{
    size_t root_len = strlen(root);
    for (char *p = path + root_len + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        int rc = file_mkdir_durable(path, NULL);
        *p = '/';
        if (rc)
            return err_wrap(rc, "cold fs");
    }
    return 0;
}

/* Appends len bytes to the file at path, open as out. */
static int write_all(file_appender *out, const void *data, size_t len, const char *path)
{
    int e = file_appender_write(out, data, len);
    return e ? err_set(FLOE_EIO, "cold fs: write %s: %s", path, strerror(e)) : 0;
}

/* Creates a temporary file next to final_path, written around the page cache (file.h: an object
 * here is read back rarely, and a restore reads it once): fills tmp_path and *out and returns 0, or
 * the error. */
static int open_temp(const char *root, char *final_path, char *tmp_path, size_t cap, file_appender *out)
{
    int rc;
    if ((rc = make_parents(root, final_path)) != 0)
        return rc;
    const char *slash = strrchr(final_path, '/');
    for (int tries = 0; tries < 16; tries++) {
        uint64_t r = 0;
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
            r = (uint64_t)getpid() * 2654435761u + (uint64_t)tries;
        int n = snprintf(tmp_path, cap, "%.*s/" FS_TMP_PREFIX "%016" PRIx64, (int)(slash - final_path),
                         final_path, r);
        if (n < 0 || (size_t)n >= cap)
            return err_set(FLOE_EINVAL, "cold fs: temporary path for %s too long", final_path);
        int e = file_appender_open(out, tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644, 1);
        if (e == 0)
            return 0;
        if (e != EEXIST)
            return err_set(e == ENOMEM ? FLOE_ENOMEM : FLOE_EIO, "cold fs: create %s: %s", tmp_path, strerror(e));
    }
    return err_set(FLOE_EIO, "cold fs: could not pick a temporary name next to %s", final_path);
}

/* Publishes the fsynced temp file at tmp as final (invariants 1 and 2) and removes tmp. */
static int publish(const char *tmp, const char *final, int if_none_match)
{
    int rc = 0;
    if (if_none_match) {
        if (file_link(tmp, final) != 0) {
            int err = errno;
            file_unlink(tmp);
            if (err == EEXIST)
                return COLD_EXISTS;
            return err_set(FLOE_EIO, "cold fs: link %s to %s: %s", tmp, final, strerror(err));
        }
        file_unlink(tmp);
    } else if (file_rename(tmp, final) != 0) {
        rc = err_set(FLOE_EIO, "cold fs: rename %s to %s: %s", tmp, final, strerror(errno));
        file_unlink(tmp);
        return rc;
    }
    char dir[FS_PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(final, '/') - final), final);
    return fsync_dir(dir);
}

/* Makes a fully written temp file durable and moves it to path (publish): the last write, fsync,
 * close, rename. out is closed once the close was attempted. On failure the caller removes tmp. */
static int finish_temp(file_appender *out, const char *tmp, const char *path, int if_none_match)
{
    int e = file_appender_finish(out);
    if (e)
        return err_set(FLOE_EIO, "cold fs: write %s: %s", tmp, strerror(e));
    if (file_fsync(out->fd) != 0)
        return err_set(FLOE_EIO, "cold fs: fsync %s: %s", tmp, strerror(errno));
    if ((e = file_appender_close(out)) != 0)
        return err_set(FLOE_EIO, "cold fs: close %s: %s", tmp, strerror(e));
    return publish(tmp, path, if_none_match);
}

/* Writes the bytes of a new object into out, the temporary file tmp (named in errors). */
typedef int (*fill_fn)(void *ctx, file_appender *out, const char *tmp);

/* Creates the object at path through a temporary file next to it (invariants 1 and 2): fill writes
 * its bytes, finish_temp makes them durable and publishes them. On failure the temporary file is
 * gone. Returns 0, COLD_EXISTS (if_none_match and path exists) or an error. */
static int put_through_temp(cold_fs *fs, char *path, int if_none_match, fill_fn fill, void *ctx)
{
    char tmp[FS_PATH_MAX];
    file_appender out;
    int rc = open_temp(fs->root, path, tmp, sizeof tmp, &out);

    if (rc < 0)
        return rc;
    rc = fill(ctx, &out, tmp);
    if (rc == 0)
        rc = finish_temp(&out, tmp, path, if_none_match);
    if (rc < 0) {
        file_appender_close(&out);
        file_unlink(tmp);
    }
    return rc;
}

typedef struct bytes_fill {
    const void *data;
    size_t len;
} bytes_fill;

static int fill_bytes(void *ctx, file_appender *out, const char *tmp)
{
    const bytes_fill *b = ctx;
    return write_all(out, b->data, b->len, tmp);
}

static int fs_put(cold_t *c, const char *key, const void *data, size_t len, int if_none_match)
{
    cold_fs *fs = fs_of(c);
    char path[FS_PATH_MAX];
    bytes_fill b = {.data = data, .len = len};
    int rc = 0;

    if ((rc = object_path(fs, key, path, sizeof path)) != 0)
        goto out;
    rc = put_through_temp(fs, path, if_none_match, fill_bytes, &b);
out:
    return counted(fs, FLOE_COLD_PUT, rc);
}

/* Copies the open file in (src, for object key; opened with file_open_direct_read) through buf
 * (FS_COPY_BUF_BYTES, FILE_DIRECT_ALIGN-aligned). */
typedef struct file_fill {
    int in;
    char *buf;
    const char *key;
    const char *src;
} file_fill;

static int fill_from_file(void *ctx, file_appender *out, const char *tmp)
{
    const file_fill *f = ctx;
    int rc = 0;

    for (uint64_t at = 0;; at += FS_COPY_BUF_BYTES) {
        ssize_t n = file_read_block(f->in, f->buf, FS_COPY_BUF_BYTES, at);
        if (n < 0) {
            rc = err_set(FLOE_EIO, "cold fs put %s: read %s: %s", f->key, f->src, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if ((rc = write_all(out, f->buf, (size_t)n, tmp)) != 0)
            break;
        if (n < (ssize_t)FS_COPY_BUF_BYTES)
            break;
    }
    return rc;
}

static int fs_put_file(cold_t *c, const char *key, const char *src, uint64_t part_bytes)
{
    cold_fs *fs = fs_of(c);
    char path[FS_PATH_MAX];
    file_fill f = {.in = -1, .key = key, .src = src};
    int rc = 0;
    (void)part_bytes;

    if ((rc = object_path(fs, key, path, sizeof path)) != 0)
        goto out;
    f.in = file_open_direct_read(src);
    if (f.in < 0) {
        rc = err_set(errno == ENOENT ? FLOE_ENOTFOUND : FLOE_EIO, "cold fs put %s: open %s: %s", key, src,
                     strerror(errno));
        goto out;
    }
    void *buf = NULL;
    f.buf = posix_memalign(&buf, FILE_DIRECT_ALIGN, FS_COPY_BUF_BYTES) == 0 ? buf : NULL;
    if (!f.buf) {
        rc = err_set(FLOE_ENOMEM, "cold fs put %s: out of memory", key);
        goto out;
    }
    rc = put_through_temp(fs, path, 0, fill_from_file, &f);
out:
    if (f.in >= 0)
        file_close(f.in);
    free(f.buf);
    return counted(fs, FLOE_COLD_PUT, rc);
}
/* Opens the object for reading; FLOE_ENOTFOUND if there is none. */
static int open_object(cold_fs *fs, const char *key, char *path, size_t cap, int *fd_out, struct stat *st)
{
    int rc;
    if ((rc = object_path(fs, key, path, cap)) != 0)
        return rc;
    int fd = file_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return err_set(FLOE_ENOTFOUND, "cold fs: no object %s (%s)", key, path);
        return err_set(FLOE_EIO, "cold fs: open %s: %s", path, strerror(errno));
    }
    if (fstat(fd, st) != 0) {
        rc = err_set(FLOE_EIO, "cold fs: stat %s: %s", path, strerror(errno));
        file_close(fd);
        return rc;
    }
    if (!S_ISREG(st->st_mode)) {
        rc = S_ISDIR(st->st_mode)
                 ? err_set(FLOE_ENOTFOUND, "cold fs: no object %s (%s is a directory)", key, path)
                 : err_set(FLOE_EIO, "cold fs: %s is not a regular file", path);
        file_close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

static int read_exact(int fd, void *buf, size_t len, uint64_t offset, const char *path)
{
    size_t done = 0;
    int e = file_pread_all(fd, buf, len, offset, &done);
    if (e < 0)
        return err_set(FLOE_ERANGE, "cold fs: %s ended at %" PRIu64 " while reading", path, offset + done);
    if (e > 0)
        return err_set(FLOE_EIO, "cold fs: read %s at %" PRIu64 ": %s", path, offset + done, strerror(e));
    return 0;
}

static int fs_get_range(cold_t *c, const char *key, uint64_t offset, void *buf, size_t len)
{
    cold_fs *fs = fs_of(c);
    char path[FS_PATH_MAX];
    struct stat st;
    int fd = -1, rc;
    if ((rc = open_object(fs, key, path, sizeof path, &fd, &st)) != 0)
        goto out;
    if (offset > (uint64_t)st.st_size || len > (uint64_t)st.st_size - offset) {
        rc = err_set(FLOE_ERANGE,
                     "cold fs: object %s has %lld bytes; bytes %" PRIu64 "..%" PRIu64 " are outside it", key,
                     (long long)st.st_size, offset, offset + len);
        goto out;
    }
    rc = read_exact(fd, buf, len, offset, path);
out:
    if (fd >= 0)
        file_close(fd);
    return counted(fs, FLOE_COLD_GET, rc);
}

static int fs_get(cold_t *c, const char *key, void **data, size_t *len, size_t max_len)
{
    cold_fs *fs = fs_of(c);
    char path[FS_PATH_MAX];
    struct stat st;
    int fd = -1, rc;
    char *buf = NULL;
    if ((rc = open_object(fs, key, path, sizeof path, &fd, &st)) != 0)
        goto out;
    if ((uint64_t)st.st_size > max_len) {
        rc = err_set(FLOE_ETOOBIG, "cold fs: object %s has %lld bytes, more than the %zu allowed", key,
                     (long long)st.st_size, max_len);
        goto out;
    }
    size_t size = (size_t)st.st_size;
    buf = malloc(size + 1);
    if (!buf) {
        rc = err_set(FLOE_ENOMEM, "cold fs: out of memory reading %s (%zu bytes)", key, size);
        goto out;
    }
    if ((rc = read_exact(fd, buf, size, 0, path)) != 0)
        goto out;
    buf[size] = '\0';
    *data = buf;
    *len = size;
    buf = NULL;
out:
    free(buf);
    if (fd >= 0)
        file_close(fd);
    return counted(fs, FLOE_COLD_GET, rc);
}

static int fs_head(cold_t *c, const char *key, uint64_t *size, char etag[COLD_ETAG_MAX])
{
    cold_fs *fs = fs_of(c);
    char path[FS_PATH_MAX];
    struct stat st;
    int fd = -1, rc;
    if ((rc = open_object(fs, key, path, sizeof path, &fd, &st)) != 0)
        goto out;
    if (size)
        *size = (uint64_t)st.st_size;
    /* Every publish makes a new inode, so inode, mtime and size tell versions apart. */
    if (etag)
        snprintf(etag, COLD_ETAG_MAX, "%llx-%llx%09lx-%llx", (unsigned long long)st.st_ino,
                 (unsigned long long)st.st_mtim.tv_sec, (unsigned long)st.st_mtim.tv_nsec,
                 (unsigned long long)st.st_size);
out:
    if (fd >= 0)
        file_close(fd);
    return counted(fs, FLOE_COLD_HEAD, rc);
}

static int fs_delete(cold_t *c, const char *key)
{
    cold_fs *fs = fs_of(c);
    char path[FS_PATH_MAX];
    int rc;
    if ((rc = object_path(fs, key, path, sizeof path)) != 0)
        goto out;
    if (file_unlink(path) != 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            rc = err_set(FLOE_EIO, "cold fs: unlink %s: %s", path, strerror(errno));
        goto out;
    }
    *strrchr(path, '/') = '\0';
    rc = fsync_dir(path);
out:
    return counted(fs, FLOE_COLD_DELETE, rc);
}

/* A name in a directory being listed, sorted as invariant 4 says. */
typedef struct dir_entry {
    char *sort_name; /* the name, plus '/' for a directory */
    int is_dir;
} dir_entry;

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const dir_entry *)a)->sort_name, ((const dir_entry *)b)->sort_name);
}

typedef struct list_walk {
    cold_fs *fs;
    const char *prefix;
    size_t prefix_len;
    cold_list_fn fn;
    void *ctx;
    char key[FLOE_MAX_KEY_BYTES + 2]; /* the key being built, relative to the root */
} list_walk;

static int walk_dir(list_walk *w, size_t key_len);

static void free_entries(dir_entry *entries, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(entries[i].sort_name);
    free(entries);
}

/* What a listing makes of the directory entry de of d: 1 for a directory, 0 for a file, -1 for a
 * name to skip (".", "..", a temporary file of invariant 3, anything else, or one gone since readdir). */
static int entry_kind(DIR *d, const struct dirent *de)
{
    const char *name = de->d_name;
    struct stat st;
    int kind = -1;

    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
        strncmp(name, FS_TMP_PREFIX, strlen(FS_TMP_PREFIX)) == 0)
        goto out;
    if (de->d_type == DT_DIR || de->d_type == DT_REG) {
        kind = de->d_type == DT_DIR;
        goto out;
    }
    if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        goto out; /* removed since readdir */
    if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))
        kind = S_ISDIR(st.st_mode);
out:
    return kind;
}

/* Appends name to the count entries of *entries (capacity *cap), with the '/' of invariant 4 if it is
 * a directory. path names the directory in errors. */
static int add_entry(dir_entry **entries, size_t *count, size_t *cap, const char *name, int is_dir,
                     const char *path)
{
    size_t n = strlen(name);
    char *s = NULL;
    int rc = 0;

    if (*count == FS_MAX_DIR_ENTRIES) {
        rc = err_set(FLOE_EIO, "cold fs: list %s: more than %d entries in one directory", path,
                     FS_MAX_DIR_ENTRIES);
        goto out;
    }
    if (array_grow(entries, cap, *count + 1, sizeof **entries, 64, SIZE_MAX) != 0 || !(s = malloc(n + 2))) {
        rc = err_set(FLOE_ENOMEM, "cold fs: out of memory listing %s", path);
        goto out;
    }
    memcpy(s, name, n);
    s[n] = is_dir ? '/' : '\0';
    s[n + 1] = '\0';
    (*entries)[*count].sort_name = s;
    (*entries)[*count].is_dir = is_dir;
    (*count)++;
out:
    return rc;
}

/* Reads the directory at path into *entries_out (malloc'd, free_entries) sorted in key order
 * (invariant 4), *count_out of them. A missing directory has no entries: nothing is under its prefix. */
static int read_dir_sorted(const char *path, dir_entry **entries_out, size_t *count_out)
{
    dir_entry *entries = NULL;
    size_t count = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    DIR *d = NULL;

    d = opendir(path);
    if (!d) {
        if (errno != ENOENT && errno != ENOTDIR) /* missing: nothing under this prefix */
            rc = err_set(FLOE_EIO, "cold fs: list %s: %s", path, strerror(errno));
        goto out;
    }
    /* errno is reset before every readdir: only its own failure may end the loop with errno set
     * (entry_kind's fstatat of a file removed meanwhile sets ENOENT, which is not one). */
    for (;;) {
        errno = 0;
        if (!(de = readdir(d)))
            break;
        int kind = entry_kind(d, de);
        if (kind < 0)
            continue;
        rc = add_entry(&entries, &count, &cap, de->d_name, kind, path);
        if (rc)
            goto out;
    }
    if (errno != 0) {
        rc = err_set(FLOE_EIO, "cold fs: list %s: %s", path, strerror(errno));
        goto out;
    }
    if (count)
        qsort(entries, count, sizeof *entries, entry_cmp);
out:
    if (d)
        closedir(d);
    if (rc) {
        free_entries(entries, count);
        return rc;
    }
    *entries_out = entries;
    *count_out = count;
    return 0;
}

/* Visits the sorted entries of the directory whose key prefix is w->key[0..key_len): descends into
 * directories and reports files, where the key can still start with the prefix. path is FS_PATH_MAX
 * bytes of scratch. Returns 0, an error, or the callback's nonzero value. */
static int walk_entries(list_walk *w, size_t key_len, const dir_entry *entries, size_t count, char *path)
{
    int rc = 0;

    for (size_t i = 0; i < count && rc == 0; i++) {
        size_t n = strlen(entries[i].sort_name);
        if (key_len + n > FLOE_MAX_KEY_BYTES) {
            rc = err_set(FLOE_EIO, "cold fs: %s/%.*s%s makes a key longer than %d bytes", w->fs->root,
                         (int)key_len, w->key, entries[i].sort_name, FLOE_MAX_KEY_BYTES);
            break;
        }
        memcpy(w->key + key_len, entries[i].sort_name, n + 1);
        size_t klen = key_len + n;
        /* Only descend or report where the key can still start with the prefix. */
        size_t cmp = klen < w->prefix_len ? klen : w->prefix_len;
        if (memcmp(w->key, w->prefix, cmp) != 0)
            continue;
        if (entries[i].is_dir) {
            rc = walk_dir(w, klen);
        } else if (klen >= w->prefix_len) {
            struct stat st;
            snprintf(path, FS_PATH_MAX, "%s/%s", w->fs->root, w->key);
            if (stat(path, &st) != 0)
                continue; /* deleted since readdir */
            rc = w->fn(w->ctx, w->key, (uint64_t)st.st_size, (int64_t)st.st_mtim.tv_sec);
        }
    }
    return rc;
}

/* Lists the directory whose key prefix (ending in '/', or "" for the root) is w->key[0..key_len),
 * holding only its own names while it recurses (invariant 4). */
static int walk_dir(list_walk *w, size_t key_len)
{
    char *path = NULL; /* on the heap: this recurses once per key segment */
    dir_entry *entries = NULL;
    size_t count = 0;
    int rc = 0;

    path = malloc(FS_PATH_MAX);
    if (!path) {
        rc = err_set(FLOE_ENOMEM, "cold fs: out of memory listing");
        goto out;
    }
    snprintf(path, FS_PATH_MAX, "%s/%.*s", w->fs->root, (int)key_len, w->key);
    rc = read_dir_sorted(path, &entries, &count);
    if (rc)
        goto out;
    rc = walk_entries(w, key_len, entries, count, path);
out:
    free_entries(entries, count);
    free(path);
    return rc;
}
/* fs_list's filter for start_after: passes on only keys that sort after it. */
typedef struct after_filter {
    const char *start_after;
    cold_list_fn fn;
    void *ctx;
} after_filter;

static int list_after_cb(void *ctx, const char *key, uint64_t size, int64_t mtime_unix_s)
{
    after_filter *a = ctx;
    return strcmp(key, a->start_after) > 0 ? a->fn(a->ctx, key, size, mtime_unix_s) : 0;
}

static int fs_list(cold_t *c, const char *prefix, const char *start_after, cold_list_fn fn, void *ctx)
{
    after_filter filter = {.start_after = start_after, .fn = fn, .ctx = ctx};
    if (start_after) {
        fn = list_after_cb;
        ctx = &filter;
    }
    cold_fs *fs = fs_of(c);
    list_walk *w = malloc(sizeof *w);
    if (!w)
        return counted(fs, FLOE_COLD_LIST, err_set(FLOE_ENOMEM, "cold fs: out of memory"));
    w->fs = fs;
    w->prefix = prefix;
    w->prefix_len = strlen(prefix);
    w->fn = fn;
    w->ctx = ctx;
    /* Start in the deepest directory the prefix names. */
    const char *slash = strrchr(prefix, '/');
    size_t start = slash ? (size_t)(slash - prefix) + 1 : 0;
    memcpy(w->key, prefix, start);
    w->key[start] = '\0';
    int rc = walk_dir(w, start);
    free(w);
    if (rc > 0)
        return rc; /* the callback's own value: not a failure of the store */
    return counted(fs, FLOE_COLD_LIST, rc);
}

static void fs_counters(cold_t *c, uint64_t requests[FLOE_COLD_OP_COUNT], uint64_t errors[FLOE_COLD_OP_COUNT],
                        uint64_t retries[FLOE_COLD_OP_COUNT])
{
    cold_fs *fs = fs_of(c);
    for (int i = 0; i < FLOE_COLD_OP_COUNT; i++) {
        if (requests)
            requests[i] = atomic_load_explicit(&fs->requests[i], memory_order_relaxed);
        if (errors)
            errors[i] = atomic_load_explicit(&fs->errors[i], memory_order_relaxed);
        if (retries)
            retries[i] = 0;
    }
}

static int fs_health(cold_t *c, char *msg, size_t cap)
{
    cold_fs *fs = fs_of(c);
    struct stat st;
    int rc = 0;
    char reason[512] = "";
    if (stat(fs->root, &st) != 0)
        snprintf(reason, sizeof reason, "cold fs: %s: %s", fs->root, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        snprintf(reason, sizeof reason, "cold fs: %s is not a directory", fs->root);
    else if (access(fs->root, W_OK | X_OK) != 0)
        snprintf(reason, sizeof reason, "cold fs: %s is not writable: %s", fs->root, strerror(errno));
    if (reason[0])
        rc = FLOE_EIO;
    if (msg && cap)
        snprintf(msg, cap, "%s", reason);
    return rc;
}

static void fs_close(cold_t *c)
{
    cold_fs *fs = fs_of(c);
    free(fs->root);
    free(fs);
}

static const cold_ops fs_ops = {
    .name = "fs",
    .put = fs_put,
    .put_file = fs_put_file,
    .get_range = fs_get_range,
    .get = fs_get,
    .head = fs_head,
    .del = fs_delete,
    .list = fs_list,
    .counters = fs_counters,
    .health = fs_health,
    .close = fs_close,
};

int cold_open_fs(const char *dir, cold_t **out)
{
    int rc = 0;
    cold_fs *fs = NULL;
    struct stat st;

    if (!dir || !dir[0] || !out)
        return err_set(FLOE_EINVAL, "cold fs: no directory given (cold.fs.path)");
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len >= PATH_MAX)
        return err_set(FLOE_EINVAL, "cold fs: directory path of %zu bytes is too long", len);
    fs = calloc(1, sizeof *fs);
    if (!fs || !(fs->root = strndup(dir, len))) {
        rc = err_set(FLOE_ENOMEM, "cold fs: out of memory");
        goto out;
    }
    if ((rc = file_mkdir_durable(fs->root, NULL)) != 0) {
        rc = err_wrap(rc, "cold fs");
        goto out;
    }
    if (stat(fs->root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = err_set(FLOE_EIO, "cold fs: %s is not a directory", fs->root);
        goto out;
    }
    fs->base.ops = &fs_ops;
    *out = &fs->base;
    fs = NULL;
out:
    if (fs) {
        free(fs->root);
        free(fs);
    }
    return rc;
}
