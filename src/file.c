/* The local file layer's shared operations (see file.h).
 *
 * Invariants:
 *  1. A short write or read is continued, and EINTR retried, until every byte is done or a real
 *     error comes back: callers never see a partial success reported as success.
 *  2. Errors come back as errno values (or FLOE_E* codes for the path helpers) so that each
 *     caller's message names its own file and purpose.
 *  3. Every call reaches the system through the installed environment, never around it, so a test
 *     environment sees (and can fail or undo) every change the library makes to local files. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

static int sys_open(const char *path, int flags, mode_t mode)
{
    return open(path, flags, mode);
}

static int sys_dup(int fd)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

static int sys_fallocate(int fd, off_t offset, off_t len)
{
    return posix_fallocate(fd, offset, len);
}

static void *sys_mmap(size_t len, int prot, int flags, int fd)
{
    return mmap(NULL, len, prot, flags, fd, 0);
}

static const struct file_env sys_env = {
    .open = sys_open,
    .close = close,
    .dup = sys_dup,
    .write = write,
    .pwrite = pwrite,
    .read = read,
    .pread = pread,
    .fsync = fsync,
    .fdatasync = fdatasync,
    .fallocate = sys_fallocate,
    .ftruncate = ftruncate,
    .rename = rename,
    .link = link,
    .unlink = unlink,
    .mkdir = mkdir,
    .rmdir = rmdir,
    .mmap = sys_mmap,
    .munmap = munmap,
};

static _Atomic(const struct file_env *) installed = &sys_env;

const struct file_env *file_env_default(void)
{
    return &sys_env;
}

void file_env_set(const struct file_env *env)
{
    atomic_store(&installed, env ? env : &sys_env);
}

static const struct file_env *env(void)
{
    return atomic_load_explicit(&installed, memory_order_acquire);
}

int file_open(const char *path, int flags, mode_t mode)
{
    return env()->open(path, flags, mode);
}

int file_close(int fd)
{
    return env()->close(fd);
}

int file_dup(int fd)
{
    return env()->dup(fd);
}

ssize_t file_write(int fd, const void *buf, size_t len)
{
    return env()->write(fd, buf, len);
}

ssize_t file_pwrite(int fd, const void *buf, size_t len, off_t offset)
{
    return env()->pwrite(fd, buf, len, offset);
}

ssize_t file_read(int fd, void *buf, size_t len)
{
    return env()->read(fd, buf, len);
}

ssize_t file_pread(int fd, void *buf, size_t len, off_t offset)
{
    return env()->pread(fd, buf, len, offset);
}

int file_fsync(int fd)
{
    return env()->fsync(fd);
}

int file_fdatasync(int fd)
{
    return env()->fdatasync(fd);
}

int file_fallocate(int fd, off_t offset, off_t len)
{
    return env()->fallocate(fd, offset, len);
}

int file_ftruncate(int fd, off_t len)
{
    return env()->ftruncate(fd, len);
}

int file_rename(const char *from, const char *to)
{
    return env()->rename(from, to);
}

int file_link(const char *from, const char *to)
{
    return env()->link(from, to);
}

int file_unlink(const char *path)
{
    return env()->unlink(path);
}

int file_mkdir(const char *path, mode_t mode)
{
    return env()->mkdir(path, mode);
}

int file_rmdir(const char *path)
{
    return env()->rmdir(path);
}

void *file_mmap(size_t len, int prot, int flags, int fd)
{
    return env()->mmap(len, prot, flags, fd);
}

int file_munmap(void *addr, size_t len)
{
    return env()->munmap(addr, len);
}

int file_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = file_write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int file_pread_all(int fd, void *buf, size_t len, uint64_t offset, size_t *done)
{
    char *p = buf;
    size_t got = 0;
    int rc = 0;
    while (got < len) {
        ssize_t n = file_pread(fd, p + got, len - got, (off_t)(offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? errno : -1;
            break;
        }
        got += (size_t)n;
    }
    if (done)
        *done = got;
    return rc;
}

int file_fsync_dir(const char *dir)
{
    int fd = file_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return err_set(FLOE_EIO, "open directory %s: %s", dir, strerror(errno));
    int rc = 0;
    if (file_fsync(fd) != 0)
        rc = err_set(FLOE_EIO, "fsync directory %s: %s", dir, strerror(errno));
    file_close(fd);
    return rc;
}

int file_mkdir_durable(const char *dir, int *made_out)
{
    int made = file_mkdir(dir, 0755) == 0;
    if (made_out)
        *made_out = made;
    if (!made)
        return errno == EEXIST ? 0 : err_set(FLOE_EIO, "create directory %s: %s", dir, strerror(errno));
    char parent[PATH_MAX];
    const char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == dir)
        snprintf(parent, sizeof parent, "/");
    else
        snprintf(parent, sizeof parent, "%.*s", (int)(slash - dir), dir);
    return file_fsync_dir(parent);
}

int file_mkdir_p(const char *dir)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s", dir);
    if (n <= 0 || (size_t)n >= sizeof path)
        return err_set(FLOE_EINVAL, "directory path '%.64s...' is too long", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        int rc = file_mkdir_durable(path, NULL);
        if (rc)
            return rc;
        *p = saved;
        if (!saved)
            break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(FLOE_EIO, "%s exists and is not a directory", dir);
    return 0;
}

int file_lock_dir(const char *dir, int create, int *fd_out)
{
    char *path = file_path_join(dir, "LOCK");
    int fd = -1, rc = 0;
    if (!path)
        return err_set(FLOE_ENOMEM, "lock %s: out of memory", dir);
    fd = file_open(path, (create ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (create || errno != ENOENT)
            rc = err_set(FLOE_EIO, "open %s: %s", path, strerror(errno));
    } else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        file_close(fd);
        fd = -1;
        rc = e == EWOULDBLOCK ? err_set(FLOE_ELOCKED,
                                        "%s: data directory is already open in another process (lock %s held)",
                                        dir, path)
                              : err_set(FLOE_EIO, "lock %s: %s", path, strerror(e));
    }
    free(path);
    *fd_out = fd;
    return rc;
}

char *file_path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

int file_set_direct(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_DIRECT : fl & ~O_DIRECT) != 0)
        return errno;
    return 0;
}

/* Clears O_DIRECT on fd: for the tail of a file and where a direct write or read is refused. */
static int clear_direct(int fd)
{
    return file_set_direct(fd, 0);
}

int file_appender_open(file_appender *a, const char *path, int flags, mode_t mode, int direct)
{
    memset(a, 0, sizeof *a);
    a->fd = -1;
    void *buf = NULL;
    if (posix_memalign(&buf, FILE_DIRECT_ALIGN, FILE_DIRECT_BYTES) != 0)
        return ENOMEM;
    int fd = -1;
    if (direct && (fd = file_open(path, flags | O_DIRECT, mode)) < 0 && errno != EINVAL) {
        int e = errno;
        free(buf);
        return e;
    }
    if (fd < 0) { /* not asked, or the file system refuses O_DIRECT (O_EXCL did not create it) */
        direct = 0;
        fd = file_open(path, flags, mode);
    }
    if (fd < 0) {
        int e = errno;
        free(buf);
        return e;
    }
    a->fd = fd;
    a->direct = direct;
    a->buf = buf;
    return 0;
}

/* Writes the first n bytes of the buffer (a multiple of FILE_DIRECT_ALIGN while direct) and moves
 * what follows them to its start. A direct write refused with EINVAL (a file system that accepted
 * the flag but not the I/O) is retried through the page cache, for this and every later write. */
static int appender_drain(file_appender *a, size_t n)
{
    int e = file_write_all(a->fd, a->buf, n);
    if (e == EINVAL && a->direct && a->written % FILE_DIRECT_ALIGN == 0) {
        a->direct = 0;
        if ((e = clear_direct(a->fd)) == 0)
            e = file_write_all(a->fd, a->buf, n);
    }
    if (e)
        return e;
    a->written += n;
    memmove(a->buf, a->buf + n, a->len - n);
    a->len -= n;
    return 0;
}

int file_appender_write(file_appender *a, const void *p, size_t len)
{
    const unsigned char *src = p;
    while (len > 0) {
        size_t take = FILE_DIRECT_BYTES - a->len < len ? FILE_DIRECT_BYTES - a->len : len;
        memcpy(a->buf + a->len, src, take);
        a->len += take;
        src += take;
        len -= take;
        if (a->len == FILE_DIRECT_BYTES) {
            int e = appender_drain(a, a->len);
            if (e)
                return e;
        }
    }
    return 0;
}

int file_appender_finish(file_appender *a)
{
    size_t whole = a->len - a->len % FILE_DIRECT_ALIGN;
    int e;
    if (a->direct && whole > 0 && (e = appender_drain(a, whole)) != 0)
        return e;
    if (a->len == 0)
        return 0;
    if (a->direct) { /* the tail is shorter than a block: O_DIRECT cannot write it */
        if ((e = clear_direct(a->fd)) != 0)
            return e;
        a->direct = 0;
    }
    return appender_drain(a, a->len);
}

int file_appender_close(file_appender *a)
{
    int e = 0;
    if (a->fd >= 0 && file_close(a->fd) != 0)
        e = errno;
    a->fd = -1;
    free(a->buf);
    a->buf = NULL;
    a->len = 0;
    return e;
}

int file_open_direct_read(const char *path)
{
    int fd = file_open(path, O_RDONLY | O_CLOEXEC | O_DIRECT, 0);
    if (fd < 0 && errno == EINVAL)
        fd = file_open(path, O_RDONLY | O_CLOEXEC, 0);
    return fd;
}

ssize_t file_read_block(int fd, void *buf, size_t len, uint64_t offset)
{
    size_t got = 0;
    int retried = 0;
    while (got < len) {
        ssize_t n = file_pread(fd, (char *)buf + got, len - got, (off_t)(offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EINVAL && !retried) { /* a direct read the file system refuses */
            retried = 1;
            if (clear_direct(fd) != 0)
                return -1;
            continue;
        }
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
        if (got % FILE_DIRECT_ALIGN != 0)
            break; /* a direct read stops short off a block boundary only at the end of the file */
    }
    return (ssize_t)got;
}
