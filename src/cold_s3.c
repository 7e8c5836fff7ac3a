/* The cold store's S3 backend: a thin adapter from the cold_ops vtable to the S3 client (s3.h),
 * which does the signing, retries, counting and health.
 *
 * Invariants:
 * 1. The adapter holds no state of its own besides the client, so it is exactly as thread-safe as
 *    the client is.
 */
#include "cold_backend.h"

#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cold_s3 {
    cold_t base; /* first: a cold_t * is a cold_s3 * */
    s3_client *s3;
} cold_s3;

static s3_client *client(cold_t *c)
{
    return ((cold_s3 *)c)->s3;
}

static int s3b_put(cold_t *c, const char *key, const void *data, size_t len, int if_none_match)
{
    int rc = s3_put(client(c), key, data, len, if_none_match);
    return rc == S3_EXISTS ? COLD_EXISTS : rc;
}

static int s3b_put_file(cold_t *c, const char *key, const char *path, uint64_t part_bytes)
{
    return s3_put_file(client(c), key, path, part_bytes);
}

static int s3b_get_range(cold_t *c, const char *key, uint64_t offset, void *buf, size_t len)
{
    return s3_get_range(client(c), key, offset, buf, len);
}

static int s3b_get(cold_t *c, const char *key, void **data, size_t *len, size_t max_len)
{
    return s3_get(client(c), key, data, len, max_len);
}

static int s3b_head(cold_t *c, const char *key, uint64_t *size, char etag[COLD_ETAG_MAX])
{
    s3_object_info info;
    int rc = s3_head(client(c), key, &info);
    if (rc == 0) {
        if (size)
            *size = info.size;
        if (etag)
            snprintf(etag, COLD_ETAG_MAX, "%s", info.etag);
    }
    return rc;
}

static int s3b_delete(cold_t *c, const char *key)
{
    return s3_delete(client(c), key);
}

typedef struct checked_list {
    cold_list_fn fn;
    void *ctx;
} checked_list;

/* A listed name goes on only if the cold interface can name it (cold.h's key rules). gc deletes and
 * fsck reports what a listing names; a name that every other cold call refuses, or that walks out of
 * its directory ("segments/../x"), is no object floe wrote, so the listing stops with an error that
 * names it rather than skipping it unseen. */
static int checked_list_fn(void *p, const char *key, uint64_t size, int64_t mtime_unix_s)
{
    checked_list *l = p;
    if (cold_check_key(key, "list") != 0) {
        char why[FLOE_MAX_KEY_BYTES + 128];
        snprintf(why, sizeof why, "%s", floe_last_error());
        return err_set(
            FLOE_ECOLD,
            "s3 list: a listed name is no cold key (%s); floe never writes such a key: remove that "
            "object or give floe a prefix of its own",
            why);
    }
    return l->fn(l->ctx, key, size, mtime_unix_s);
}

static int s3b_list(cold_t *c, const char *prefix, const char *start_after, cold_list_fn fn, void *ctx)
{
    checked_list l = {fn, ctx};
    return s3_list_after(client(c), prefix, start_after, 0, checked_list_fn, &l);
}

static void s3b_counters(cold_t *c, uint64_t requests[FLOE_COLD_OP_COUNT],
                         uint64_t errors[FLOE_COLD_OP_COUNT], uint64_t retries[FLOE_COLD_OP_COUNT])
{
    s3_get_counters(client(c), requests, errors, retries);
}

static int s3b_health(cold_t *c, char *msg, size_t cap)
{
    return s3_health(client(c), msg, cap);
}

static void s3b_close(cold_t *c)
{
    s3_client_destroy(client(c));
    free(c);
}

static void s3b_cancel(cold_t *c)
{
    s3_client_cancel(client(c));
}

static const cold_ops s3_ops = {
    .name = "s3",
    .put = s3b_put,
    .put_file = s3b_put_file,
    .get_range = s3b_get_range,
    .get = s3b_get,
    .head = s3b_head,
    .del = s3b_delete,
    .list = s3b_list,
    .counters = s3b_counters,
    .health = s3b_health,
    .close = s3b_close,
    .cancel = s3b_cancel,
};

int cold_open_s3(const s3_config *cfg, cold_t **out)
{
    int rc;
    s3_client *s3 = NULL;
    if (!out)
        return err_set(FLOE_EINVAL, "cold_open_s3: no output");
    if ((rc = s3_client_create(cfg, &s3)) != 0)
        return rc;
    cold_s3 *c = calloc(1, sizeof *c);
    if (!c) {
        s3_client_destroy(s3);
        return err_set(FLOE_ENOMEM, "cold_open_s3: out of memory");
    }
    c->base.ops = &s3_ops;
    c->s3 = s3;
    *out = &c->base;
    return 0;
}
