/* Growing a heap array: the one copy of the doubling realloc that queues and lists share. */
#ifndef FLOE_ARRAY_H
#define FLOE_ARRAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "floe.h"

/* Makes *arr (of *cap elements of elem_bytes each) hold at least need elements, doubling its
 * capacity (starting at 8). On success *arr and *cap may have changed; on failure (FLOE_ENOMEM,
 * without a message: the caller names what it was growing) both are untouched. */
static inline int array_grow(void **arr, size_t *cap, size_t need, size_t elem_bytes)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 8;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return FLOE_ENOMEM;
        n *= 2;
    }
    if (n > SIZE_MAX / elem_bytes)
        return FLOE_ENOMEM;
    void *p = realloc(*arr, n * elem_bytes);
    if (!p)
        return FLOE_ENOMEM;
    *arr = p;
    *cap = n;
    return 0;
}

#endif
