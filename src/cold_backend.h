/* What a cold-store backend implements: the operations table behind the functions of cold.h and the
 * handle every backend's own struct starts with. Users of the cold tier include cold.h only; this
 * header is for cold.c (which checks arguments and keys, then dispatches here) and the backends:
 * cold_fs.c, cold_s3.c, and the wrappers the tests and benchmarks build (tests/cold_fault.c,
 * bench/cold-bench.c's request recorder).
 *
 * Threads: as cold.h says for the public functions; a backend's operations are called from any
 * number of threads at once, except close, which is the last call. */
#ifndef FLOE_COLD_BACKEND_H
#define FLOE_COLD_BACKEND_H

#include "cold.h"

/* The public functions of cold.h check arguments and keys, then call these; a backend may assume a
 * valid key and non-NULL required pointers. */
typedef struct cold_ops {
    const char *name;
    int (*put)(cold_t *c, const char *key, const void *data, size_t len, int if_none_match);
    int (*put_file)(cold_t *c, const char *key, const char *path, uint64_t part_bytes);
    int (*get_range)(cold_t *c, const char *key, uint64_t offset, void *buf, size_t len);
    int (*get)(cold_t *c, const char *key, void **data, size_t *len, size_t max_len);
    int (*head)(cold_t *c, const char *key, uint64_t *size, char etag[COLD_ETAG_MAX]);
    int (*del)(cold_t *c, const char *key);
    /* Keys after start_after (NULL: from the first), in bytewise order. */
    int (*list)(cold_t *c, const char *prefix, const char *start_after, cold_list_fn fn, void *ctx);
    void (*counters)(cold_t *c, uint64_t requests[FLOE_COLD_OP_COUNT], uint64_t errors[FLOE_COLD_OP_COUNT],
                     uint64_t retries[FLOE_COLD_OP_COUNT]);
    int (*health)(cold_t *c, char *msg, size_t cap);
    void (*close)(cold_t *c);
    void (*cancel)(cold_t *c); /* may be NULL */
} cold_ops;

/* 0 if key meets cold.h's key rules, else FLOE_EINVAL naming what (an operation) and why. cold.c
 * checks every key it is given; a backend checks with it the names it reads from its store. */
int cold_check_key(const char *key, const char *what);

/* Every backend's handle starts with this, so a cold_t * is also a pointer to the backend's struct. */
struct cold {
    const cold_ops *ops;
};

#endif
