/* Listings of the cold tier for gc and the operator tools: every key under a prefix, with size and
 * modification time, sorted and searchable, so that one listing of segments/ answers "is this object
 * there, and how big is it" for every segment a manifest names. */
#ifndef FLOE_LISTING_H
#define FLOE_LISTING_H

#include <stddef.h>
#include <stdint.h>

#include "cold.h"

/* Most keys one listing holds (a cap, not a realloc): more is FLOE_ENOMEM naming the cap. */
#define LISTING_MAX_OBJECTS (16u * 1024 * 1024)

typedef struct listed {
    char *key;
    uint64_t size;
    int64_t mtime_unix_s;
    int named; /* for the caller to mark: e.g. named by a manifest that stays */
} listed;

typedef struct listing {
    listed *v;
    size_t n, cap;
} listing;

/* Lists every key under prefix into *out, sorted bytewise; *out is freed with listing_free (its
 * keys are owned by it). Errors: the cold store's, wrapped to name the prefix; FLOE_ENOMEM. */
int listing_collect(cold_t *c, const char *prefix, listing *out);
/* The entry for key, or NULL; it points into l and lives as long as l. */
listed *listing_find(const listing *l, const char *key);
void listing_free(listing *l);

#endif
