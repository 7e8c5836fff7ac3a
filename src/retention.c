/* Retention rules (see retention.h): the most specific matching prefix decides whether an entry has
 * expired.
 *
 * Invariants:
 *  1. With no rules nothing expires and retention_expired reads nothing but the rule count.
 *  2. An entry with write time 0 (written before write times existed) never expires, whatever the
 *     rules: its age is unknown, and guessing one could delete live data.
 *  3. Of the rules whose prefix the key starts with, the longest prefix decides, so a more specific
 *     rule with max_age_s 0 exempts a sub-prefix from a broader rule. Prefixes are unique
 *     (retention_check), so there is never a tie.
 *  4. Ages are computed without overflow: max_age_s <= RETENTION_MAX_AGE_S, and a write time after
 *     now (a clock stepped back) is taken as age 0. */
#include "retention.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "object.h"

uint64_t retention_expiry_ms(const floe_options *opts, const void *key, size_t key_len, uint64_t write_ms)
{
    if (opts->retention_count == 0 || write_ms == 0 || key_is_reserved(key, key_len))
        return 0; /* chunks live as long as their object's head says (object.c note 2) */
    const floe_retention_rule *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < opts->retention_count; i++) {
        const floe_retention_rule *r = &opts->retention[i];
        size_t len = strlen(r->prefix);
        if (len > key_len || (best && len <= best_len) || (len && memcmp(key, r->prefix, len) != 0))
            continue;
        best = r;
        best_len = len;
    }
    if (!best || best->max_age_s == 0 || write_ms > UINT64_MAX - best->max_age_s * 1000u)
        return 0; /* kept forever, or a write time so far ahead that it never comes */
    return write_ms + best->max_age_s * 1000u;
}

int retention_expired(const floe_options *opts, const void *key, size_t key_len, uint64_t write_ms,
                      uint64_t now_ms)
{
    uint64_t expiry = retention_expiry_ms(opts, key, key_len, write_ms);
    return expiry && now_ms >= expiry; /* max_age_s > 0, so now_ms is past write_ms too */
}

int retention_check(const floe_options *opts)
{
    if (opts->retention_count > RETENTION_MAX_RULES)
        return err_set(FLOE_EINVAL, "option retention has %zu rules: at most %d are allowed",
                       opts->retention_count, RETENTION_MAX_RULES);
    if (opts->retention_count && !opts->retention)
        return err_set(FLOE_EINVAL, "option retention is NULL with retention_count %zu",
                       opts->retention_count);
    for (size_t i = 0; i < opts->retention_count; i++) {
        const floe_retention_rule *r = &opts->retention[i];
        if (!r->prefix)
            return err_set(FLOE_EINVAL, "option retention[%zu].prefix is NULL (use \"\" for every key)", i);
        if (strlen(r->prefix) > FLOE_MAX_KEY_BYTES)
            return err_set(FLOE_EINVAL, "option retention[%zu].prefix is %zu bytes: at most %d", i,
                           strlen(r->prefix), FLOE_MAX_KEY_BYTES);
        if (r->max_age_s > RETENTION_MAX_AGE_S)
            return err_set(FLOE_EINVAL, "option retention[%zu].max_age_s must be 0..%llu, got %" PRIu64, i,
                           (unsigned long long)RETENTION_MAX_AGE_S, r->max_age_s);
        for (size_t j = 0; j < i; j++)
            if (strcmp(opts->retention[j].prefix, r->prefix) == 0)
                return err_set(
                    FLOE_EINVAL,
                    "option retention[%zu].prefix \"%s\" repeats retention[%zu].prefix: one rule per prefix",
                    i, r->prefix, j);
    }
    return 0;
}

int retention_copy(floe_options *opts, void **owned_out)
{
    size_t n = opts->retention_count;
    size_t bytes = n * sizeof(floe_retention_rule);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(opts->retention[i].prefix) + 1;
    if (n == 0) {
        opts->retention = NULL;
        *owned_out = NULL;
        return 0;
    }
    floe_retention_rule *rules = malloc(bytes);
    if (!rules)
        return err_set(FLOE_ENOMEM, "floe_open: out of memory copying %zu retention rules", n);
    char *text = (char *)(rules + n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(opts->retention[i].prefix) + 1;
        memcpy(text, opts->retention[i].prefix, len);
        rules[i].prefix = text;
        rules[i].max_age_s = opts->retention[i].max_age_s;
        text += len;
    }
    opts->retention = rules;
    *owned_out = rules;
    return 0;
}
