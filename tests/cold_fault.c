/* A cold store that wraps another and injects faults, for tests (see cold_fault.h): failed calls,
 * slow calls, answers lost after the store did the work, and 503 storms retried the way the S3
 * client retries them. It is a cold-store backend (cold_backend.h) built into the tests' helper
 * library, so every module's tests can use it and libfloe does not carry it.
 *
 * Invariants:
 * 1. Every decision (which call fails, which storm attempt fails) is taken under mu from one
 *    generator seeded at open, so a single-threaded test sees the same faults on every run.
 * 2. Sleeps (delays, storm backoff) happen with mu released.
 * 3. Counters report the inner store's counters plus what the wrapper itself counted: injected
 *    failed calls and storm attempts are requests, retried storm attempts are retries, and calls
 *    that end in an injected failure are errors.
 */
#include "cold_fault.h"

#include "clock.h"
#include "cold_backend.h"
#include "error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct cold_fault {
    cold_t base; /* first: a cold_t * is a cold_fault * */
    cold_t *inner;
    pthread_mutex_t mu; /* guards everything below */
    uint64_t rng;
    unsigned fail_next[FLOE_COLD_OP_COUNT];
    unsigned fail_skip[FLOE_COLD_OP_COUNT]; /* calls that pass before fail_next starts */
    int fail_err[FLOE_COLD_OP_COUNT];
    uint32_t delay_ms[FLOE_COLD_OP_COUNT];
    char delay_key[128]; /* calls whose key contains this ... */
    uint32_t delay_key_ms; /* ... first sleep this long too */
    unsigned lose_puts;
    char lose_key[128]; /* only puts whose key contains this lose their answer ("" for any) */
    unsigned storm_per_mille;
    unsigned storm_retries;
    uint32_t storm_base_ms;
    uint64_t injected;
    uint64_t requests[FLOE_COLD_OP_COUNT];
    uint64_t errors[FLOE_COLD_OP_COUNT];
    uint64_t retries[FLOE_COLD_OP_COUNT];
} cold_fault;

static const cold_ops fault_ops;

static cold_fault *fault_of(cold_t *c)
{
    return (c && c->ops == &fault_ops) ? (cold_fault *)c : NULL;
}

/* splitmix64: small, seedable, good enough to pick faults. Called with mu held. */
static uint64_t next_random(cold_fault *f)
{
    uint64_t z = (f->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Applies the faults due before a call of op reaches the inner store: a delay, an injected
 * failure, or a storm. Returns 0 to go on to the store, or the injected error. */
static int before_call(cold_fault *f, floe_cold_op op, const char *key)
{
    pthread_mutex_lock(&f->mu);
    uint32_t delay = f->delay_ms[op];
    if (f->delay_key[0] && key && strstr(key, f->delay_key))
        delay += f->delay_key_ms;
    if (f->fail_next[op] > 0 && f->fail_skip[op] > 0) {
        f->fail_skip[op]--;
    } else if (f->fail_next[op] > 0) {
        f->fail_next[op]--;
        int err = f->fail_err[op];
        f->injected++;
        f->requests[op]++;
        f->errors[op]++;
        pthread_mutex_unlock(&f->mu);
        clock_sleep_ms(delay);
        return err_set(err, "cold %s %s: injected failure (%s)", floe_cold_op_name(op), key,
                       floe_strerror(err));
    }
    for (unsigned attempt = 0;; attempt++) {
        if (f->storm_per_mille == 0 || next_random(f) % 1000 >= f->storm_per_mille)
            break;
        f->injected++;
        f->requests[op]++;
        if (attempt >= f->storm_retries) {
            f->errors[op]++;
            pthread_mutex_unlock(&f->mu);
            return err_set(FLOE_ECOLD, "cold %s %s: 503 SlowDown (injected) after %u attempts",
                           floe_cold_op_name(op), key, attempt + 1);
        }
        f->retries[op]++;
        uint32_t base = f->storm_base_ms;
        pthread_mutex_unlock(&f->mu);
        clock_sleep_ms(s3_backoff_ms(attempt, base, base * 20));
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    clock_sleep_ms(delay);
    return 0;
}

/* After a put succeeded in the store: maybe pretend its answer was lost. */
static int after_put(cold_fault *f, const char *key, int rc)
{
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&f->mu);
    int lose = f->lose_puts > 0 && (!f->lose_key[0] || strstr(key, f->lose_key));
    if (lose) {
        f->lose_puts--;
        f->injected++;
        f->errors[FLOE_COLD_PUT]++;
    }
    pthread_mutex_unlock(&f->mu);
    if (lose)
        return err_set(FLOE_ECOLD,
                       "cold put %s: the store's answer was lost (injected; the object was written)", key);
    return 0;
}

static int fault_put(cold_t *c, const char *key, const void *data, size_t len, int if_none_match)
{
    cold_fault *f = fault_of(c);
    int rc = before_call(f, FLOE_COLD_PUT, key);
    if (rc)
        return rc;
    return after_put(f, key, f->inner->ops->put(f->inner, key, data, len, if_none_match));
}

static int fault_put_file(cold_t *c, const char *key, const char *path, uint64_t part_bytes)
{
    cold_fault *f = fault_of(c);
    int rc = before_call(f, FLOE_COLD_PUT, key);
    if (rc)
        return rc;
    return after_put(f, key, f->inner->ops->put_file(f->inner, key, path, part_bytes));
}

static int fault_get_range(cold_t *c, const char *key, uint64_t offset, void *buf, size_t len)
{
    cold_fault *f = fault_of(c);
    int rc = before_call(f, FLOE_COLD_GET, key);
    return rc ? rc : f->inner->ops->get_range(f->inner, key, offset, buf, len);
}

static int fault_get(cold_t *c, const char *key, void **data, size_t *len, size_t max_len)
{
    cold_fault *f = fault_of(c);
    int rc = before_call(f, FLOE_COLD_GET, key);
    return rc ? rc : f->inner->ops->get(f->inner, key, data, len, max_len);
}

static int fault_head(cold_t *c, const char *key, uint64_t *size, char etag[COLD_ETAG_MAX])
{
    cold_fault *f = fault_of(c);
    int rc = before_call(f, FLOE_COLD_HEAD, key);
    return rc ? rc : f->inner->ops->head(f->inner, key, size, etag);
}

static int fault_delete(cold_t *c, const char *key)
{
    cold_fault *f = fault_of(c);
    int rc = before_call(f, FLOE_COLD_DELETE, key);
    return rc ? rc : f->inner->ops->del(f->inner, key);
}

static int fault_list(cold_t *c, const char *prefix, const char *start_after, cold_list_fn fn, void *ctx)
{
    cold_fault *f = fault_of(c);
    int rc = before_call(f, FLOE_COLD_LIST, prefix);
    return rc ? rc : f->inner->ops->list(f->inner, prefix, start_after, fn, ctx);
}

static void fault_counters(cold_t *c, uint64_t requests[FLOE_COLD_OP_COUNT], uint64_t errors[FLOE_COLD_OP_COUNT],
                           uint64_t retries[FLOE_COLD_OP_COUNT])
{
    cold_fault *f = fault_of(c);
    f->inner->ops->counters(f->inner, requests, errors, retries);
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < FLOE_COLD_OP_COUNT; i++) {
        if (requests)
            requests[i] += f->requests[i];
        if (errors)
            errors[i] += f->errors[i];
        if (retries)
            retries[i] += f->retries[i];
    }
    pthread_mutex_unlock(&f->mu);
}

static int fault_health(cold_t *c, char *msg, size_t cap)
{
    cold_fault *f = fault_of(c);
    return f->inner->ops->health(f->inner, msg, cap);
}

static void fault_close(cold_t *c)
{
    cold_fault *f = fault_of(c);
    cold_close(f->inner);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static void fault_cancel(cold_t *c)
{
    cold_cancel(fault_of(c)->inner);
}

static const cold_ops fault_ops = {
    .name = "fault",
    .put = fault_put,
    .put_file = fault_put_file,
    .get_range = fault_get_range,
    .get = fault_get,
    .head = fault_head,
    .del = fault_delete,
    .list = fault_list,
    .counters = fault_counters,
    .health = fault_health,
    .close = fault_close,
    .cancel = fault_cancel,
};

int cold_open_fault(cold_t *inner, uint64_t seed, cold_t **out)
{
    if (!inner || !out)
        return err_set(FLOE_EINVAL, "cold_open_fault: no store to wrap");
    cold_fault *f = calloc(1, sizeof *f);
    if (!f)
        return err_set(FLOE_ENOMEM, "cold_open_fault: out of memory");
    f->base.ops = &fault_ops;
    f->inner = inner;
    f->rng = seed;
    pthread_mutex_init(&f->mu, NULL);
    *out = &f->base;
    return 0;
}

int cold_fault_fail_next(cold_t *c, floe_cold_op op, unsigned n, int err)
{
    return cold_fault_fail_after(c, op, 0, n, err);
}

int cold_fault_fail_after(cold_t *c, floe_cold_op op, unsigned skip, unsigned n, int err)
{
    cold_fault *f = fault_of(c);
    if (!f || (unsigned)op >= FLOE_COLD_OP_COUNT || err >= 0)
        return err_set(FLOE_EINVAL, "cold_fault_fail_next: not a fault wrapper, or bad op or error code");
    pthread_mutex_lock(&f->mu);
    f->fail_skip[op] = skip;
    f->fail_next[op] = n;
    f->fail_err[op] = err;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

int cold_fault_set_delay(cold_t *c, floe_cold_op op, uint32_t delay_ms)
{
    cold_fault *f = fault_of(c);
    if (!f || (unsigned)op >= FLOE_COLD_OP_COUNT)
        return err_set(FLOE_EINVAL, "cold_fault_set_delay: not a fault wrapper, or bad op");
    pthread_mutex_lock(&f->mu);
    f->delay_ms[op] = delay_ms;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

int cold_fault_set_key_delay(cold_t *c, const char *key_contains, uint32_t delay_ms)
{
    cold_fault *f = fault_of(c);
    if (!f || !key_contains || strlen(key_contains) >= sizeof f->delay_key)
        return err_set(FLOE_EINVAL, "cold_fault_set_key_delay: not a fault wrapper, or a bad key");
    pthread_mutex_lock(&f->mu);
    memcpy(f->delay_key, key_contains, strlen(key_contains) + 1);
    f->delay_key_ms = delay_ms;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

int cold_fault_lose_next_puts(cold_t *c, unsigned n)
{
    cold_fault *f = fault_of(c);
    if (!f)
        return err_set(FLOE_EINVAL, "cold_fault_lose_next_puts: not a fault wrapper");
    pthread_mutex_lock(&f->mu);
    f->lose_key[0] = '\0';
    f->lose_puts = n;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

int cold_fault_lose_next_puts_of(cold_t *c, const char *key_contains, unsigned n)
{
    cold_fault *f = fault_of(c);
    if (!f || !key_contains || strlen(key_contains) >= sizeof f->lose_key)
        return err_set(FLOE_EINVAL, "cold_fault_lose_next_puts_of: not a fault wrapper, or a bad key");
    pthread_mutex_lock(&f->mu);
    memcpy(f->lose_key, key_contains, strlen(key_contains) + 1);
    f->lose_puts = n;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

int cold_fault_set_storm(cold_t *c, unsigned probability_per_mille, unsigned max_retries, uint32_t base_ms)
{
    cold_fault *f = fault_of(c);
    if (!f || probability_per_mille > 1000 || base_ms > 10000)
        return err_set(FLOE_EINVAL,
                       "cold_fault_set_storm: not a fault wrapper, or probability over 1000 per mille "
                       "or base over 10 s");
    pthread_mutex_lock(&f->mu);
    f->storm_per_mille = probability_per_mille;
    f->storm_retries = max_retries;
    f->storm_base_ms = base_ms;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

uint64_t cold_fault_injected(cold_t *c)
{
    cold_fault *f = fault_of(c);
    if (!f)
        return 0;
    pthread_mutex_lock(&f->mu);
    uint64_t n = f->injected;
    pthread_mutex_unlock(&f->mu);
    return n;
}
