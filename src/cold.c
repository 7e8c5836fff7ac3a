/* The cold store's front: argument and key checks shared by every backend, the dispatch to the
 * backend's vtable, idempotent create (cold_put with if_none_match), and the bucket layout helpers
 * (docs/formats.md, "Bucket layout").
 *
 * Invariants:
 * 1. A backend function is only called with a key that passed cold_check_key: no traversal ("..",
 *    leading '/'), no empty segments, no control bytes, at most FLOE_MAX_KEY_BYTES.
 * 2. cold_put with if_none_match answers 0 only if the object at key now holds exactly the caller's
 *    bytes, whoever wrote them; COLD_EXISTS only if it holds other bytes.
 */
#include "cold_backend.h"

#include "error.h"
#include "file.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cold_check_key(const char *key, const char *what)
{
    if (!key || !key[0])
        return err_set(FLOE_EINVAL, "cold %s: empty key", what);
    size_t len = strlen(key);
    if (len > FLOE_MAX_KEY_BYTES)
        return err_set(FLOE_EINVAL, "cold %s: key '%.64s...' is %zu bytes, more than %d", what, key, len,
                       FLOE_MAX_KEY_BYTES);
    if (key[0] == '/')
        return err_set(FLOE_EINVAL, "cold %s: key '%s' starts with '/'", what, key);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)key[i];
        if (ch < 0x20 || ch == 0x7f)
            return err_set(FLOE_EINVAL, "cold %s: key '%s' has control byte 0x%02x at %zu", what, key, ch, i);
    }
    /* Segments between '/': none may be empty, "." or "..". */
    const char *seg = key;
    for (;;) {
        size_t n = strcspn(seg, "/");
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return err_set(FLOE_EINVAL, "cold %s: key '%s' has an empty, '.' or '..' segment", what, key);
        if (!seg[n])
            break;
        seg += n + 1;
    }
    return 0;
}

int cold_put(cold_t *c, const char *key, const void *data, size_t len, int if_none_match)
{
    int rc;
    if (!c)
        return err_set(FLOE_EINVAL, "cold put: no store");
    if ((rc = cold_check_key(key, "put")) != 0)
        return rc;
    if (len && !data)
        return err_set(FLOE_EINVAL, "cold put %s: no data", key);
    rc = c->ops->put(c, key, data ? data : "", len, if_none_match);
    if (rc != COLD_EXISTS)
        return rc;
    /* Someone created key first. If it holds our bytes, this call's goal is met: that is how a
     * retry after a lost answer, or a second writer of the same manifest, succeeds. */
    void *cur = NULL;
    size_t cur_len = 0;
    int grc = c->ops->get(c, key, &cur, &cur_len, len);
    if (grc == 0) {
        rc = (cur_len == len && memcmp(cur, data ? data : "", len) == 0) ? 0 : COLD_EXISTS;
        free(cur);
    } else if (grc == FLOE_ETOOBIG || grc == FLOE_ENOTFOUND) {
        rc = COLD_EXISTS; /* larger than ours, or deleted since: not ours either way */
    } else {
        rc = err_wrap(grc, "cold put %s: exists; comparing it with the new bytes failed", key);
    }
    if (rc == COLD_EXISTS)
        err_set(COLD_EXISTS, "cold put %s: the key exists with other content", key);
    return rc;
}

int cold_put_file(cold_t *c, const char *key, const char *path, uint64_t part_bytes)
{
    int rc;
    if (!c || !path)
        return err_set(FLOE_EINVAL, "cold put_file: no store or path");
    if ((rc = cold_check_key(key, "put_file")) != 0)
        return rc;
    return c->ops->put_file(c, key, path, part_bytes);
}

int cold_get_range(cold_t *c, const char *key, uint64_t offset, void *buf, size_t len)
{
    int rc;
    if (!c || (len && !buf))
        return err_set(FLOE_EINVAL, "cold get_range: no store or buffer");
    if ((rc = cold_check_key(key, "get_range")) != 0)
        return rc;
    if (offset > UINT64_MAX - len)
        return err_set(FLOE_ERANGE, "cold get_range %s: offset %" PRIu64 " + %zu overflows", key, offset,
                       len);
    return c->ops->get_range(c, key, offset, buf, len);
}

int cold_get(cold_t *c, const char *key, void **data, size_t *len, size_t max_len)
{
    int rc;
    if (!c || !data || !len)
        return err_set(FLOE_EINVAL, "cold get: no store or output");
    if ((rc = cold_check_key(key, "get")) != 0)
        return rc;
    if (max_len > SIZE_MAX - 1)
        max_len = SIZE_MAX - 1;
    return c->ops->get(c, key, data, len, max_len);
}

int cold_head(cold_t *c, const char *key, uint64_t *size, char etag[COLD_ETAG_MAX])
{
    int rc;
    if (!c)
        return err_set(FLOE_EINVAL, "cold head: no store");
    if ((rc = cold_check_key(key, "head")) != 0)
        return rc;
    return c->ops->head(c, key, size, etag);
}

int cold_delete(cold_t *c, const char *key)
{
    int rc;
    if (!c)
        return err_set(FLOE_EINVAL, "cold delete: no store");
    if ((rc = cold_check_key(key, "delete")) != 0)
        return rc;
    return c->ops->del(c, key);
}

int cold_list_after(cold_t *c, const char *prefix, const char *start_after, cold_list_fn fn, void *ctx)
{
    if (!c || !fn)
        return err_set(FLOE_EINVAL, "cold list: no store or callback");
    if (!prefix)
        prefix = "";
    if (strlen(prefix) > FLOE_MAX_KEY_BYTES || (start_after && strlen(start_after) > FLOE_MAX_KEY_BYTES))
        return err_set(FLOE_EINVAL, "cold list: prefix or start key longer than %d bytes",
                       FLOE_MAX_KEY_BYTES);
    return c->ops->list(c, prefix, start_after && start_after[0] ? start_after : NULL, fn, ctx);
}

int cold_list(cold_t *c, const char *prefix, cold_list_fn fn, void *ctx)
{
    return cold_list_after(c, prefix, NULL, fn, ctx);
}

void cold_get_counters(cold_t *c, uint64_t requests[FLOE_COLD_OP_COUNT], uint64_t errors[FLOE_COLD_OP_COUNT],
                       uint64_t retries[FLOE_COLD_OP_COUNT])
{
    c->ops->counters(c, requests, errors, retries);
}

int cold_health(cold_t *c, char *msg, size_t cap)
{
    return c->ops->health(c, msg, cap);
}

const char *cold_backend_name(const cold_t *c)
{
    return c->ops->name;
}

void cold_cancel(cold_t *c)
{
    if (c && c->ops->cancel)
        c->ops->cancel(c);
}

void cold_close(cold_t *c)
{
    if (c)
        c->ops->close(c);
}

unsigned cold_segment_shard(uint64_t id)
{
    /* splitmix64's finaliser: consecutive ids land in unrelated shards. */
    uint64_t z = id + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (unsigned)(z & 0xff);
}

int cold_open_options(const floe_options *o, int make_dirs, cold_t **out)
{
    int rc;
    switch (o->cold.backend) {
    case FLOE_COLD_FS:
        if (make_dirs && (rc = file_mkdir_p(o->cold.fs_path)) < 0)
            return rc;
        return cold_open_fs(o->cold.fs_path, out);
    case FLOE_COLD_S3: {
        s3_config sc = {
            .endpoint = o->cold.s3.endpoint,
            .bucket = o->cold.s3.bucket,
            .prefix = o->cold.s3.prefix,
            .region = o->cold.s3.region,
            .path_style = o->cold.s3.path_style,
            .ca_file = o->cold.s3.ca_file,
            .access_key = o->cold.s3.access_key,
            .secret_key = o->cold.s3.secret_key,
            .timeout_ms = o->cold.s3.timeout_ms,
            .max_retries = o->cold.s3.max_retries,
        };
        return cold_open_s3(&sc, out);
    }
    default:
        return err_set(FLOE_EINVAL, "cold.backend is \"none\": there is no cold tier");
    }
}

void cold_segment_key(uint64_t id, uint64_t epoch, char out[COLD_LAYOUT_KEY_MAX])
{
    snprintf(out, COLD_LAYOUT_KEY_MAX, "segments/%02x/%" PRIu64 "-%" PRIu64 ".seg", cold_segment_shard(id),
             id, epoch);
}

void cold_manifest_key(uint64_t version, char out[COLD_LAYOUT_KEY_MAX])
{
    snprintf(out, COLD_LAYOUT_KEY_MAX, "manifest/%020" PRIu64 ".json", version);
}

/* Parses a run of decimal digits without a sign or leading zeros (unless it is "0"). */
static const char *parse_decimal(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return NULL;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return NULL;
        v = v * 10 + d;
    }
    *out = v;
    return s;
}

int cold_parse_segment_key(const char *key, uint64_t *id, uint64_t *epoch)
{
    uint64_t i, e;
    const char *p;
    char again[COLD_LAYOUT_KEY_MAX];
    if (!key || strncmp(key, "segments/", 9) != 0 || strlen(key) < 13 || !(p = parse_decimal(key + 12, &i)) ||
        *p != '-' || !(p = parse_decimal(p + 1, &e)) || strcmp(p, ".seg") != 0)
        return err_set(FLOE_EINVAL, "'%s' is not a segment key (segments/<hh>/<id>-<epoch>.seg)",
                       key ? key : "");
    cold_segment_key(i, e, again);
    if (strcmp(again, key) != 0)
        return err_set(FLOE_EINVAL, "'%s' is not a segment key: segment %" PRIu64 " belongs in shard %02x",
                       key, i, cold_segment_shard(i));
    *id = i;
    *epoch = e;
    return 0;
}

int cold_parse_manifest_key(const char *key, uint64_t *version)
{
    uint64_t v = 0;
    if (!key || strncmp(key, "manifest/", 9) != 0 || strlen(key) != 9 + 20 + 5 ||
        strcmp(key + 29, ".json") != 0)
        return err_set(FLOE_EINVAL, "'%s' is not a manifest key (manifest/<20 digits>.json)", key ? key : "");
    for (int i = 9; i < 29; i++) {
        unsigned d = (unsigned)(key[i] - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return err_set(FLOE_EINVAL, "'%s' is not a manifest key (manifest/<20 digits>.json)", key);
        v = v * 10 + d;
    }
    *version = v;
    return 0;
}
