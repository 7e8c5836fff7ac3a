/* One key-value entry as the store moves it between the pending segment, segment files and reads,
 * and the one bytewise key order every sorted structure of floe uses. */
#ifndef FLOE_ENTRY_H
#define FLOE_ENTRY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum entry_type {
    ENTRY_PUT = 1,
    ENTRY_DELETE = 2,
    /* A put whose value is an object record (object.h): metadata, then the bytes or the chunk
     * list's description. Everything that treats puts alike treats it as a put. */
    ENTRY_OBJECT = 3,
};

/* An entry. Its pointers are borrowed: whoever fills one says how long they live (a memtable's live
 * as long as the memtable; a segment reader's as long as the block it came from). */
typedef struct entry {
    const uint8_t *key;
    uint32_t key_len;
    const uint8_t *value;
    uint32_t value_len;
    const char *content_type; /* NULL if none */
    uint32_t content_type_len;
    uint64_t seq;
    /* When the write happened, unix milliseconds (clock_unix_ms); 0 for entries written before
     * write times existed (WAL version 1 and 2, segment version 1): unknown, never expires. */
    uint64_t write_ms;
    uint8_t type; /* enum entry_type */
} entry;

/* Bytewise order of two keys, the shorter first on a common prefix: <0, 0 or >0. */
static inline int key_cmp(const void *a, size_t a_len, const void *b, size_t b_len)
{
    size_t n = a_len < b_len ? a_len : b_len;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return a_len < b_len ? -1 : a_len > b_len;
}

/* 1 if some key starting with prefix lies in [min, max]: max is not below the prefix, and min, cut
 * to the prefix's length, is not above it. */
static inline int key_range_meets_prefix(const void *min, size_t min_len, const void *max, size_t max_len,
                                         const void *prefix, size_t prefix_len)
{
    return key_cmp(max, max_len, prefix, prefix_len) >= 0 &&
           key_cmp(min, min_len < prefix_len ? min_len : prefix_len, prefix, prefix_len) <= 0;
}

#endif
