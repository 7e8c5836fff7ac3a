/* The store's options: their defaults (floe_options_init) and one table of the numeric limits that
 * both floe_open's checks and the config file parser use, so a value the config accepts is one the
 * library accepts and the other way round. */
#ifndef FLOE_OPTIONS_H
#define FLOE_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "floe.h"

/* One numeric field of floe_options and its allowed range, inclusive. */
typedef struct option_limit {
    const char *name; /* the option's dotted config path, e.g. "wal.file_bytes": the field's path in
                         floe_options too, but for fields added after their section (LIMIT_AS) */
    size_t offset;    /* offsetof(floe_options, ...) */
    unsigned width;   /* 4 (uint32_t) or 8 (uint64_t) */
    uint64_t min, max;
} option_limit;

/* The i-th entry of the table (0-based), NULL past its end: for tests and documentation checks. */
const option_limit *options_limit_at(size_t i);

/* The limit of the field named name, or NULL if it has none in the table. */
const option_limit *options_limit(const char *name);

/* Reads and writes the field described by l in o. */
uint64_t options_get(const floe_options *o, const option_limit *l);
void options_set(floe_options *o, const option_limit *l, uint64_t v);

/* Copies the caller's options into *dst, giving fields the caller's (older) floe_options does not
 * have their defaults. Errors: FLOE_EINVAL if src->struct_size is not one this library knows. */
int options_copy_in(floe_options *dst, const floe_options *src);

/* Checks every option: each numeric field against the table, the enums, and the rules that join
 * fields. Returns 0 or FLOE_EINVAL with a message naming the option ("option wal.file_bytes must be
 * 65536..17179869184, got 10"). */
int options_check(const floe_options *o);

/* The effective options: o with what 0 means filled in (segment.max_unwritten_bytes 0 is
 * 2 * segment.max_bytes). */
void options_resolve(floe_options *o);

#endif
