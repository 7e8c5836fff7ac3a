/* Sorted listings of the cold tier (see listing.h). */
#include "listing.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

void listing_free(listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].key);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int listing_add(void *ctx, const char *key, uint64_t size, int64_t mtime_unix_s)
{
    listing *l = ctx;
    if (l->n == l->cap) {
        if (l->cap >= LISTING_MAX_OBJECTS)
            return err_set(FLOE_ENOMEM, "listing the cold tier: more than %u objects under one prefix",
                           LISTING_MAX_OBJECTS);
        size_t cap = l->cap ? l->cap * 2 : 256;
        listed *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return err_set(FLOE_ENOMEM, "listing the cold tier: out of memory for %zu keys", cap);
        l->v = v;
        l->cap = cap;
    }
    char *k = strdup(key);
    if (!k)
        return err_set(FLOE_ENOMEM, "listing the cold tier: out of memory");
    l->v[l->n++] = (listed){.key = k, .size = size, .mtime_unix_s = mtime_unix_s};
    return 0;
}

static int listed_cmp(const void *a, const void *b)
{
    return strcmp(((const listed *)a)->key, ((const listed *)b)->key);
}

int listing_collect(cold_t *c, const char *prefix, listing *out)
{
    listing l = {0};
    int rc = cold_list(c, prefix, listing_add, &l);
    if (rc != 0) {
        listing_free(&l);
        return err_wrap(rc < 0 ? rc : FLOE_ECOLD, "list %s in the cold tier", prefix);
    }
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, listed_cmp);
    *out = l;
    return 0;
}

listed *listing_find(const listing *l, const char *key)
{
    listed probe = {.key = (char *)key};
    return l->n ? bsearch(&probe, l->v, l->n, sizeof *l->v, listed_cmp) : NULL;
}
