/* Helpers shared by the fuzz targets (see fuzz_common.h). */
#include "fuzz_common.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coding.h"
#include "crc32c.h"

void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
    abort();
}

static char scratch[4096];

static void remove_scratch(void)
{
    if (scratch[0]) {
        fuzz_empty_dir(scratch);
        rmdir(scratch);
    }
}

const char *fuzz_scratch_dir(const char *tag)
{
    if (scratch[0])
        return scratch;
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/floe-fuzz-%s.XXXXXX", tmp && tmp[0] ? tmp : "/tmp", tag);
    if (!mkdtemp(scratch)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(remove_scratch);
    return scratch;
}

void fuzz_empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            fuzz_empty_dir(path);
            rmdir(path);
        } else {
            unlink(path);
        }
    }
    closedir(d);
}

void fuzz_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(path);
        abort();
    }
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n <= 0) {
            perror(path);
            abort();
        }
        p += n;
        len -= (size_t)n;
    }
    close(fd);
}

#define WAL_FILE_HEADER 28
#define WAL_RECORD_HEADER 24

void fuzz_wal_fix_crcs(uint8_t *buf, size_t len)
{
    if (len < WAL_FILE_HEADER)
        return;
    put_le32(buf + 24, crc32c(buf, 24));
    size_t off = WAL_FILE_HEADER;
    while (len - off >= WAL_RECORD_HEADER) {
        uint32_t rec_len = get_le32(buf + off + 4);
        if (rec_len < WAL_RECORD_HEADER || rec_len > len - off)
            break;
        put_le32(buf + off, crc32c(buf + off + 4, rec_len - 4));
        off += rec_len;
    }
}

/* 1 if [off, off + n) lies inside a file of len bytes. */
static int inside(uint64_t off, uint64_t n, size_t len)
{
    return off <= len && n <= len - off;
}

#define SEG_FOOTER 64

/* A version 3 uncompressed block's payload ends with restart_offset{n} interval_crc{n} n tail_crc
 * (docs/formats.md, "Data block"): recomputes the interval CRCs and tail_crc where the layout
 * holds together, so the interval checks of a point read are reached too. */
static void fix_interval_crcs(uint8_t *p, size_t len)
{
    if (len < 8)
        return;
    uint32_t n = get_le32(p + len - 8);
    if (n == 0 || n > (len - 8) / 8)
        return;
    size_t entries_end = len - 8 - 8 * (size_t)n;
    uint8_t *restarts = p + entries_end, *crcs = restarts + 4 * (size_t)n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t from = get_le32(restarts + 4 * (size_t)i);
        uint32_t to = i + 1 < n ? get_le32(restarts + 4 * (size_t)(i + 1)) : (uint32_t)entries_end;
        if (from <= to && to <= entries_end)
            put_le32(crcs + 4 * (size_t)i, crc32c(p + from, to - from));
    }
    put_le32(p + len - 4, crc32c(restarts, 8 * (size_t)n + 4));
}

void fuzz_segment_fix_crcs(uint8_t *buf, size_t len)
{
    if (len < SEG_FOOTER)
        return;
    uint8_t *f = buf + len - SEG_FOOTER;
    uint64_t bloom_off = get_le64(f + 16), index_off = get_le64(f + 32), meta_off = get_le64(f + 48);
    uint32_t bloom_len = get_le32(f + 24), index_len = get_le32(f + 40), meta_len = get_le32(f + 56);
    if (inside(index_off, index_len, len)) {
        /* index_entry := key_len:u16 last_key[key_len] offset:u64 length:u32 */
        const uint8_t *p = buf + index_off, *end = p + index_len;
        while (end - p >= 2) {
            size_t key_len = (size_t)p[0] | (size_t)p[1] << 8;
            if ((size_t)(end - p) < 2 + key_len + 12)
                break;
            p += 2 + key_len;
            uint64_t block_off = get_le64(p);
            uint32_t block_len = get_le32(p + 8);
            p += 12;
            if (block_len >= 5 && inside(block_off, block_len, len) &&
                block_off + block_len <= (uint64_t)(len - SEG_FOOTER)) {
                if (get_le32(f + 8) >= 3 && buf[block_off + block_len - 5] == 0)
                    fix_interval_crcs(buf + block_off, block_len - 5);
                put_le32(buf + block_off + block_len - 4, crc32c(buf + block_off, block_len - 4));
            }
        }
    }
    if (inside(bloom_off, bloom_len, len))
        put_le32(f + 12, crc32c(buf + bloom_off, bloom_len));
    if (inside(index_off, index_len, len))
        put_le32(f + 28, crc32c(buf + index_off, index_len));
    if (inside(meta_off, meta_len, len))
        put_le32(f + 44, crc32c(buf + meta_off, meta_len));
    put_le32(f + 60, crc32c(f, 60));
}
