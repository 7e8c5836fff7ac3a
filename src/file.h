/* The local file layer. Every local file operation of the library (open and create, write, pwrite,
 * read, fsync, fdatasync, fallocate, ftruncate, rename, link, unlink, mkdir, rmdir, directory fsync,
 * mmap of segment and WAL files) goes through the file_* calls below, which dispatch to one table of
 * operations, the file environment (leveldb's Env and SQLite's VFS are the models, kept small). The
 * default environment is the plain system calls; tests install one that fails chosen calls with EIO
 * or ENOSPC and simulates power loss (tests/file_fault.h). Listing a directory and stat stay plain
 * calls: they change nothing and what they see is what the environment left on disk.
 *
 * On top of the table are the helpers every module shares: whole reads and writes, directory fsync,
 * making directories, the directory lock, joining paths.
 *
 * Threads: every function is safe from any thread. */
#ifndef FLOE_FILE_H
#define FLOE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The operations, with the system calls' contracts: each returns what the call of the same name
 * returns (-1 with errno set on failure; fallocate returns 0 or an errno value, like
 * posix_fallocate; mmap maps a whole file from offset 0 and returns MAP_FAILED with errno set).
 * fsync works on directories opened with O_DIRECTORY too: that is a directory fsync. */
struct file_env {
    int (*open)(const char *path, int flags, mode_t mode);
    int (*close)(int fd);
    int (*dup)(int fd); /* a close-on-exec duplicate (F_DUPFD_CLOEXEC) */
    ssize_t (*write)(int fd, const void *buf, size_t len);
    ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t offset);
    ssize_t (*read)(int fd, void *buf, size_t len);
    ssize_t (*pread)(int fd, void *buf, size_t len, off_t offset);
    int (*fsync)(int fd);
    int (*fdatasync)(int fd);
    int (*fallocate)(int fd, off_t offset, off_t len);
    int (*ftruncate)(int fd, off_t len);
    int (*rename)(const char *from, const char *to);
    int (*link)(const char *from, const char *to);
    int (*unlink)(const char *path);
    int (*mkdir)(const char *path, mode_t mode);
    int (*rmdir)(const char *path);
    void *(*mmap)(size_t len, int prot, int flags, int fd);
    int (*munmap)(void *addr, size_t len);
};

/* The plain system calls. */
const struct file_env *file_env_default(void);

/* Installs env (NULL: the default) for every later call, from any thread. For tests: install it
 * while no store is open, and keep env alive until it is replaced. */
void file_env_set(const struct file_env *env);

/* The calls, through the installed environment. */
int file_open(const char *path, int flags, mode_t mode);
int file_close(int fd);
int file_dup(int fd);
ssize_t file_write(int fd, const void *buf, size_t len);
ssize_t file_pwrite(int fd, const void *buf, size_t len, off_t offset);
ssize_t file_read(int fd, void *buf, size_t len);
ssize_t file_pread(int fd, void *buf, size_t len, off_t offset);
int file_fsync(int fd);
int file_fdatasync(int fd);
int file_fallocate(int fd, off_t offset, off_t len);
int file_ftruncate(int fd, off_t len);
int file_rename(const char *from, const char *to);
int file_link(const char *from, const char *to);
int file_unlink(const char *path);
int file_mkdir(const char *path, mode_t mode);
int file_rmdir(const char *path);
void *file_mmap(size_t len, int prot, int flags, int fd);
int file_munmap(void *addr, size_t len);

/* Writes all len bytes at fd's offset, retrying short writes and EINTR. Returns 0 or the errno
 * value of the failed write (EIO if write returned 0): callers name the file in their message. */
int file_write_all(int fd, const void *buf, size_t len);

/* Reads len bytes at offset from fd, retrying short reads and EINTR. Returns 0, the errno value of
 * the failed read, or -1 when the file ended first; *done (may be NULL) gets the bytes read, so
 * callers can name the offset that failed in their message. */
int file_pread_all(int fd, void *buf, size_t len, uint64_t offset, size_t *done);

/* A sequential writer of a new file that bypasses the page cache where it can (O_DIRECT), for the
 * large files written once and read later, if at all: segments and compaction outputs, and the fs
 * cold tier's objects. Filling the page cache with them costs a copy and a page allocation per 4 KiB
 * (on a VM whose host reclaims free guest pages, far more: measured here, buffered writes of a new
 * file ran at 115 MB/s against 920 MB/s direct) and evicts what readers use. Bytes are gathered in
 * an aligned buffer and written in whole FILE_DIRECT_BYTES units; file_appender_finish writes the
 * tail through the page cache. Where the file system refuses O_DIRECT (tmpfs, some FUSE), the same
 * calls write through the page cache. Durability is unchanged: the caller still fsyncs after
 * file_appender_finish, and nothing written before that is durable. */
#define FILE_DIRECT_ALIGN 4096u
#define FILE_DIRECT_BYTES (1u << 20)

typedef struct file_appender {
    int fd;           /* -1 once closed */
    int direct;       /* fd has O_DIRECT set */
    unsigned char *buf; /* FILE_DIRECT_ALIGN-aligned, FILE_DIRECT_BYTES */
    size_t len;       /* bytes in buf not yet written */
    uint64_t written; /* bytes written to fd so far */
} file_appender;

/* Creates path with flags (O_WRONLY | O_CREAT and the caller's others; with direct, O_DIRECT is
 * added) and mode. Without direct the appender still gathers writes into FILE_DIRECT_BYTES, through
 * the page cache. Returns 0 or an errno value (the open's, or ENOMEM); on failure nothing is left to
 * release, and a file the open created stays for the caller to remove as it would have. */
int file_appender_open(file_appender *a, const char *path, int flags, mode_t mode, int direct);

/* Appends len bytes. Returns 0 or the errno value of a failed write (the file's state past
 * a->written is then unknown). */
int file_appender_write(file_appender *a, const void *p, size_t len);

/* Writes everything still buffered. The fd stays open for the caller's fsync. Returns 0 or errno. */
int file_appender_finish(file_appender *a);

/* Frees the buffer and closes the fd if open (its close's result: 0 or errno). */
int file_appender_close(file_appender *a);

/* Sets (on) or clears O_DIRECT on fd, for a file written both ways (the WAL). Returns 0 or errno
 * (EINVAL where the file system refuses the flag). */
int file_set_direct(int fd, int on);

/* Opens path read-only, bypassing the page cache where the file system allows it (a file read once
 * in full, such as a segment copied to the fs cold tier). Reads of such an fd must use buffers,
 * lengths and offsets that are multiples of FILE_DIRECT_ALIGN (the last read may come back short);
 * file_read_block does. Returns the fd or -1 with errno. */
int file_open_direct_read(const char *path);

/* Reads up to len bytes (a multiple of FILE_DIRECT_ALIGN, into an aligned buf) at offset (aligned)
 * from fd, retrying EINTR and short reads until len bytes or the end of the file. Returns the bytes
 * read (less than len only at the end), or -1 with errno. */
ssize_t file_read_block(int fd, void *buf, size_t len, uint64_t offset);

/* fsyncs the directory dir, so entries created or renamed in it survive power loss. Returns 0 or
 * FLOE_EIO with a message naming dir. */
int file_fsync_dir(const char *dir);

/* Creates the directory dir (mode 0755) and fsyncs its parent, so the new entry survives power
 * loss. Returns 0 (also if dir already exists; *made_out, if not NULL, says whether it was made) or
 * FLOE_EIO naming dir or its parent. */
int file_mkdir_durable(const char *dir, int *made_out);

/* Creates dir and any missing parents (mode 0755), each made durably (file_mkdir_durable). Returns 0 (also if it exists as a directory),
 * FLOE_EIO naming the path that could not be made or that exists and is not a directory,
 * FLOE_EINVAL if the path is too long, FLOE_ENOMEM. */
int file_mkdir_p(const char *dir);

/* Takes dir/LOCK with an exclusive, non-blocking flock: the lock floe_open holds while a store is
 * open. On success *fd_out is the open LOCK file (closing it releases the lock); without create a
 * missing LOCK file is not made and *fd_out is -1 (nothing holds the directory). Errors:
 * FLOE_ELOCKED (another process holds it: the message names dir and the LOCK file), FLOE_EIO,
 * FLOE_ENOMEM. */
int file_lock_dir(const char *dir, int create, int *fd_out);

/* "a/b" in a malloc'd string the caller frees; NULL if out of memory. */
char *file_path_join(const char *a, const char *b);

#endif
