/* Monotonic clocks, deadlines and sleeps, and the one wall clock (see clock.h).
 *
 * Invariants:
 *  1. Every duration is measured on CLOCK_MONOTONIC, and condition variables that time out are
 *     made by clock_cond_init with the same clock, so a change of the wall clock never shortens or
 *     stretches a timeout.
 *  2. A sleep resumes after a signal until its whole time has passed.
 *  3. Wall time is read only through clock_unix_ms, so a test that installs a source controls every
 *     write time and every retention decision at once. */
#include "clock.h"

#include <errno.h>
#include <stdatomic.h>

int64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct timespec clock_deadline_after_ms(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

int clock_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}

int64_t clock_elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

void clock_sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static _Atomic(clock_unix_ms_source) unix_ms_source;

uint64_t clock_unix_ms(void)
{
    clock_unix_ms_source source = atomic_load_explicit(&unix_ms_source, memory_order_acquire);
    if (source)
        return source();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    return ms ? ms : 1;
}

void clock_set_unix_ms_source(clock_unix_ms_source source)
{
    atomic_store_explicit(&unix_ms_source, source, memory_order_release);
}
