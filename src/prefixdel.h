/* Prefix deletes: `floe_delete_prefix` hides every version of every key under a prefix written
 * before it, with one WAL record and one entry in the manifest (docs/formats.md). A set of them is
 * immutable and reference counted; a view holds the set its readers apply.
 *
 * Threads: a set is never changed once made; any thread may read one it holds. */
#ifndef FLOE_PREFIXDEL_H
#define FLOE_PREFIXDEL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct prefix_del {
    uint8_t *prefix; /* 1..FLOE_MAX_KEY_BYTES bytes */
    uint32_t len;
    uint64_t seq; /* hides versions with a lower seq */
} prefix_del;

typedef struct pdel_set {
    atomic_int refs;
    size_t n;
    prefix_del dels[];
} pdel_set;

/* A new set holding set's deletes (set may be NULL) plus one more; NULL if out of memory. */
pdel_set *pdel_set_with(const pdel_set *set, const void *prefix, size_t len, uint64_t seq);
/* A new set of the deletes of set for which keep(ctx, del) is 1; NULL if out of memory. */
pdel_set *pdel_set_filter(const pdel_set *set, int (*keep)(void *ctx, const prefix_del *d), void *ctx);
void pdel_set_ref(pdel_set *set);
void pdel_set_unref(pdel_set *set); /* NULL is a no-op */

/* 1 if key starts with d's prefix. */
int pdel_matches(const prefix_del *d, const void *key, size_t key_len);

/* 1 if a delete of set that a reader at visible_seq sees (seq <= visible_seq) hides the version of
 * key written at seq. */
int pdel_set_hides(const pdel_set *set, const void *key, size_t key_len, uint64_t seq, uint64_t visible_seq);

#endif
