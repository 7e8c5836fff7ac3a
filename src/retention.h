/* Retention rules: which entries have outlived the age their key's rule allows. Reads call
 * retention_expired to hide an expired newest version at once (404, absent from lists); compaction
 * calls it to drop the bytes. The rules are floe_options.retention (docs/configuration.md,
 * "retention").
 *
 * Threads: every function here only reads the options it is given; any thread may call them. */
#ifndef FLOE_RETENTION_H
#define FLOE_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "floe.h"

/* At most this many rules (the config file's and floe_options' limit alike). */
#define RETENTION_MAX_RULES 64
/* The largest max_age_s a rule takes: 100 years, so that max_age_s * 1000 never overflows. */
#define RETENTION_MAX_AGE_S (100ull * 366 * 86400)

/* 1 if an entry of key written at write_ms (unix ms, as entries carry it) has expired at now_ms
 * under opts' rules, else 0. The rule whose prefix is the longest one key starts with decides;
 * no matching rule, a rule with max_age_s 0 ("keep forever"), and write_ms 0 (written before write
 * times existed) never expire. Expired means at least max_age_s seconds have passed since the
 * write: now_ms - write_ms >= max_age_s * 1000. A write time after now_ms (a clock stepped back) is
 * age 0. With no rules it returns at once without looking at the key. */
int retention_expired(const floe_options *opts, const void *key, size_t key_len, uint64_t write_ms,
                      uint64_t now_ms);

/* When an entry of key written at write_ms expires under opts' rules (unix ms), or 0 if never: the
 * same rule retention_expired applies. Compaction records the earliest of a segment's. */
uint64_t retention_expiry_ms(const floe_options *opts, const void *key, size_t key_len, uint64_t write_ms);

/* 1 if opts has any retention rule: a caller that must read the clock for retention_expired can
 * skip it when this is 0 (the common case, on every point read). */
static inline int retention_enabled(const floe_options *opts)
{
    return opts->retention_count != 0;
}

/* Checks the rules in opts: at most RETENTION_MAX_RULES, each with a prefix (not NULL, at most
 * FLOE_MAX_KEY_BYTES bytes; "" is allowed and matches every key), max_age_s at most
 * RETENTION_MAX_AGE_S, no prefix twice. Returns 0 or FLOE_EINVAL naming the rule
 * ("option retention[2].prefix ..."). */
int retention_check(const floe_options *opts);

/* Replaces opts->retention with a copy that *owned_out holds (rules and prefixes in one malloc'd
 * block; NULL when there are no rules), so the store keeps its rules after the caller's memory is
 * gone. The caller frees *owned_out with free() once opts is no longer used. Errors: FLOE_ENOMEM
 * (opts unchanged). */
int retention_copy(floe_options *opts, void **owned_out);

#endif
