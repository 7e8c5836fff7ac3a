/* Prefix deletes (see prefixdel.h).
 *
 * Invariants:
 *  1. A set is immutable once made: adding or dropping a delete makes a new set.
 *  2. A delete hides only versions older than itself (lower seq), so a key written again under the
 *     prefix after the delete is visible.
 */
#include "prefixdel.h"
#include "object.h"

#include <stdlib.h>
#include <string.h>

static pdel_set *alloc_set(size_t n)
{
    pdel_set *s = calloc(1, sizeof *s + (n ? n : 1) * sizeof s->dels[0]);
    if (s)
        atomic_init(&s->refs, 1);
    return s;
}

static int copy_del(prefix_del *dst, const void *prefix, size_t len, uint64_t seq)
{
    dst->prefix = malloc(len ? len : 1);
    if (!dst->prefix)
        return -1;
    memcpy(dst->prefix, prefix, len);
    dst->len = (uint32_t)len;
    dst->seq = seq;
    return 0;
}

pdel_set *pdel_set_with(const pdel_set *set, const void *prefix, size_t len, uint64_t seq)
{
    size_t n = set ? set->n : 0;
    pdel_set *s = alloc_set(n + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i <= n; i++) {
        const prefix_del *from = i < n ? &set->dels[i] : NULL;
        if (copy_del(&s->dels[i], from ? from->prefix : prefix, from ? from->len : len, from ? from->seq : seq) < 0) {
            pdel_set_unref(s);
            return NULL;
        }
        s->n++;
    }
    return s;
}

pdel_set *pdel_set_filter(const pdel_set *set, int (*keep)(void *ctx, const prefix_del *d), void *ctx)
{
    size_t n = set ? set->n : 0;
    pdel_set *s = alloc_set(n);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!keep(ctx, &set->dels[i]))
            continue;
        if (copy_del(&s->dels[s->n], set->dels[i].prefix, set->dels[i].len, set->dels[i].seq) < 0) {
            pdel_set_unref(s);
            return NULL;
        }
        s->n++;
    }
    return s;
}

void pdel_set_ref(pdel_set *set)
{
    if (set)
        atomic_fetch_add(&set->refs, 1);
}

void pdel_set_unref(pdel_set *set)
{
    if (!set || atomic_fetch_sub(&set->refs, 1) != 1)
        return;
    for (size_t i = 0; i < set->n; i++)
        free(set->dels[i].prefix);
    free(set);
}

int pdel_matches(const prefix_del *d, const void *key, size_t key_len)
{
    return key_len >= d->len && memcmp(key, d->prefix, d->len) == 0 &&
           prefix_may_apply(d->prefix, d->len, key, key_len);
}

int pdel_set_hides(const pdel_set *set, const void *key, size_t key_len, uint64_t seq, uint64_t visible_seq)
{
    for (size_t i = 0; set && i < set->n; i++) {
        const prefix_del *d = &set->dels[i];
        if (d->seq > seq && d->seq <= visible_seq && pdel_matches(d, key, key_len))
            return 1;
    }
    return 0;
}
