/* The local file layer: the file operations the store's modules share (whole reads and writes, directory
 * fsync, making directories, joining paths). Every module that writes local files goes through
 * these, so there is one place for each and, later, one seam for fault injection.
 *
 * Threads: every function is safe from any thread. */
#ifndef FLOE_FILE_H
#define FLOE_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Writes all len bytes at fd's offset, retrying short writes and EINTR. Returns 0 or the errno
 * value of the failed write (EIO if write returned 0): callers name the file in their message. */
int file_write_all(int fd, const void *buf, size_t len);

/* Reads len bytes at offset from fd, retrying short reads and EINTR. Returns 0, the errno value of
 * the failed read, or -1 when the file ended first; *done (may be NULL) gets the bytes read, so
 * callers can name the offset that failed in their message. */
int file_pread_all(int fd, void *buf, size_t len, uint64_t offset, size_t *done);

/* fsyncs the directory dir, so entries created or renamed in it survive power loss. Returns 0 or
 * FLOE_EIO with a message naming dir. */
int file_fsync_dir(const char *dir);

/* Creates dir and any missing parents (mode 0755). Returns 0 (also if it exists as a directory),
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
