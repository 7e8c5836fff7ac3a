/* Helpers shared by the check suites: temporary directories and file surgery for corruption tests. */
#ifndef FLOE_TESTUTIL_H
#define FLOE_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* Creates a fresh directory /tmp/floe-test-<tag>-XXXXXX; returns a malloc'd path. Aborts on failure. */
char *tu_tmpdir(const char *tag);
/* rm -rf path (no-op if missing). */
void tu_rmrf(const char *path);
/* Writes len bytes to path (replacing it); aborts on failure. */
void tu_write_file(const char *path, const void *data, size_t len);
/* Reads a whole file into a malloc'd buffer (NUL-terminated past *len); NULL if it cannot. */
void *tu_read_file(const char *path, size_t *len);
/* Size of path, or -1. */
long long tu_file_size(const char *path);
/* XORs the byte at offset with 0xff. */
void tu_flip_byte(const char *path, long long offset);
/* Truncates path to len bytes. */
void tu_truncate(const char *path, long long len);
/* Runs one suite built by make_suite and returns a process exit code; honours CK_RUN_CASE etc. */
int tu_run_suite(Suite *s);
/* 1 if FLOE_LONG_TESTS=1. */
int tu_long_tests(void);

#endif
