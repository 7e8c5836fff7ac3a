/* What the fuzz targets in tests/fuzz/ share: a scratch directory per process, whole-file writes,
 * and the CRC fix-ups that let a mutated input get past the checksums (docs/formats.md) to the
 * parsing behind them. Test-only code, built only with -DFLOE_FUZZ=ON. */
#ifndef FLOE_FUZZ_COMMON_H
#define FLOE_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Stops the run with a message: an assertion of a harness failed (libFuzzer saves the input). */
#define FUZZ_CHECK(cond)                                                                                     \
    do {                                                                                                     \
        if (!(cond))                                                                                         \
            fuzz_fail(__FILE__, __LINE__, #cond);                                                            \
    } while (0)
void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

/* A directory made once per process under $TMPDIR and removed at exit; the path lives as long as
 * the process. tag names it (floe-fuzz-<tag>.XXXXXX). */
const char *fuzz_scratch_dir(const char *tag);

/* Removes everything inside dir (not dir itself), recursively. */
void fuzz_empty_dir(const char *dir);

/* Writes len bytes to path (created or truncated); aborts on failure, which is the harness's fault. */
void fuzz_write_file(const char *path, const void *data, size_t len);

/* Recomputes, in place, the CRC32C of the WAL file header (if len >= 28) and of every record that
 * can be walked by its length field from byte 28 on, per docs/formats.md "WAL". */
void fuzz_wal_fix_crcs(uint8_t *buf, size_t len);

/* Recomputes, in place, every CRC32C of a segment file per docs/formats.md "Segment files": each
 * data block named by an index entry that lies inside the file, then the bloom, index and metadata
 * regions the footer names (when inside the file), then the footer's own. */
void fuzz_segment_fix_crcs(uint8_t *buf, size_t len);

#endif
