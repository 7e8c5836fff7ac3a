/* Growing a malloc'd array by doubling, written once: the directory listings, the manifest's
 * segment table, the segment writer's buffers and the byte buffer in buf.c all grow this way.
 *
 * Threads: the functions touch only what they are given. */
#ifndef FLOE_ARRAY_H
#define FLOE_ARRAY_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "floe.h"

/* The capacity array_grow moves to: cap (first_cap if cap is 0) doubled until it holds need
 * elements, and never more than max_elems. */
static inline size_t array_next_cap(size_t cap, size_t need, size_t first_cap, size_t max_elems)
{
    size_t ncap = cap ? cap : first_cap ? first_cap : 1;
    while (ncap < need && ncap < max_elems)
        ncap = ncap > max_elems / 2 ? max_elems : ncap * 2;
    return ncap < max_elems ? ncap : max_elems;
}

/* Makes the array whose pointer is at arrayp (the address of any object pointer: &entries) hold
 * at least need elements of elem_size bytes, growing it to array_next_cap(...) elements. Returns 0
 * (also when it is already big enough), FLOE_ETOOBIG if need is more than max_elems or than fits
 * in memory, FLOE_ENOMEM if realloc fails; on failure the array and *cap are unchanged. Sets no
 * message: the caller knows what grew and says so.
 *
 * The pointer is read and written with memcpy, so one helper serves every element type without
 * accessing an int * or a struct * through a void * lvalue. */
static inline int array_grow(void *arrayp, size_t *cap, size_t need, size_t elem_size, size_t first_cap,
                             size_t max_elems)
{
    if (need <= *cap)
        return 0;
    if (max_elems > SIZE_MAX / elem_size)
        max_elems = SIZE_MAX / elem_size;
    if (need > max_elems)
        return FLOE_ETOOBIG;
    size_t ncap = array_next_cap(*cap, need, first_cap, max_elems);
    void *old;
    memcpy(&old, arrayp, sizeof old);
    void *grown = realloc(old, ncap * elem_size);
    if (!grown)
        return FLOE_ENOMEM;
    memcpy(arrayp, &grown, sizeof grown);
    *cap = ncap;
    return 0;
}

#endif
