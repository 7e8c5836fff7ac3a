/* The response budget (budget.h): bytes held for GET answers, and the requests waiting for room.
 *
 * Invariants:
 * 1. held is the sum of every reservation not yet released; it passes cap only by one reservation
 *    made while nothing else was held.
 * 2. A waiter is in the queue exactly while its state is WAITING, and leaves it only on the
 *    budget's thread (or in budget_wait, when the budget has stopped), which then publishes
 *    GRANTED or TIMED_OUT and calls wake without touching the waiter again: the caller may free
 *    it as soon as wake has been called.
 * 3. wake is never called with mu held, so it may take other locks (libmicrohttpd's, to resume a
 *    connection).
 * 4. The thread sleeps on cv until the earliest deadline in the queue, or without a deadline when
 *    the queue is empty: an idle budget costs nothing, a waiting one never spins.
 */
#include "budget.h"

#include <errno.h>
#include <string.h>

#include "clock.h"
#include "error.h"

static int fits(const budget *b, uint64_t bytes)
{
    return bytes == 0 || b->held == 0 || (b->held <= b->cap && bytes <= b->cap - b->held);
}

/* Takes every waiter whose room fits, or whose deadline has passed (all of them when stopping),
 * out of the queue, in queue order, into a list of its own; returns it, and sets *next_ns to the
 * earliest deadline left (UINT64_MAX when none). Called with mu held. */
static budget_waiter *take_ready(budget *b, uint64_t now_ns, uint64_t *next_ns)
{
    budget_waiter *ready = NULL, **ready_tail = &ready;
    budget_waiter **pp = &b->head;
    *next_ns = UINT64_MAX;
    while (*pp) {
        budget_waiter *w = *pp;
        w->result = BUDGET_WAITING;
        if (!b->stop && fits(b, w->bytes)) {
            b->held += w->bytes;
            w->result = BUDGET_GRANTED;
        } else if (b->stop || now_ns >= w->deadline_ns) {
            w->result = BUDGET_TIMED_OUT;
        }
        if (w->result == BUDGET_WAITING) {
            if (w->deadline_ns < *next_ns)
                *next_ns = w->deadline_ns;
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        w->next = NULL;
        *ready_tail = w;
        ready_tail = &w->next;
    }
    b->tail_next = pp;
    return ready;
}

/* Publishes each waiter's result and wakes it. Called without mu. */
static void wake_all(budget *b, budget_waiter *ready)
{
    while (ready) {
        budget_waiter *w = ready;
        ready = w->next; /* read before w is handed back: its owner may free it at once */
        atomic_store_explicit(&w->state, w->result, memory_order_release);
        b->wake(w, b->wake_ctx);
    }
}

static void *budget_main(void *arg)
{
    budget *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        uint64_t now_ns = clock_now_ns(), next_ns = UINT64_MAX;
        budget_waiter *ready = take_ready(b, now_ns, &next_ns);
        if (ready) {
            pthread_mutex_unlock(&b->mu);
            wake_all(b, ready);
            pthread_mutex_lock(&b->mu);
            continue;
        }
        if (b->stop)
            break;
        if (next_ns == UINT64_MAX) {
            pthread_cond_wait(&b->cv, &b->mu);
        } else {
            int64_t ms = (int64_t)((next_ns - now_ns + 999999) / 1000000);
            struct timespec ts = clock_deadline_after_ms(ms);
            pthread_cond_timedwait(&b->cv, &b->mu, &ts);
        }
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

int budget_start(budget *b, uint64_t cap, budget_wake_fn wake, void *ctx)
{
    memset(b, 0, sizeof *b);
    b->cap = cap;
    b->wake = wake;
    b->wake_ctx = ctx;
    b->tail_next = &b->head;
    int e = pthread_mutex_init(&b->mu, NULL);
    if (e != 0)
        return err_set(FLOE_ENOMEM, "cannot create the HTTP response budget's mutex: %s", strerror(e));
    if ((e = clock_cond_init(&b->cv)) != 0) {
        pthread_mutex_destroy(&b->mu);
        return err_set(FLOE_ENOMEM, "cannot create the HTTP response budget's condition: %s", strerror(e));
    }
    if ((e = pthread_create(&b->thread, NULL, budget_main, b)) != 0) {
        pthread_cond_destroy(&b->cv);
        pthread_mutex_destroy(&b->mu);
        return err_set(FLOE_EIO, "cannot start the HTTP response budget's thread: %s", strerror(e));
    }
    b->initialized = 1;
    b->started = 1;
    return 0;
}

int budget_try_reserve(budget *b, uint64_t bytes)
{
    pthread_mutex_lock(&b->mu);
    int ok = fits(b, bytes);
    if (ok)
        b->held += bytes;
    pthread_mutex_unlock(&b->mu);
    return ok;
}

void budget_release(budget *b, uint64_t bytes)
{
    if (bytes == 0)
        return;
    pthread_mutex_lock(&b->mu);
    b->held -= bytes;
    if (b->head)
        pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

void budget_wait(budget *b, budget_waiter *w)
{
    w->next = NULL;
    atomic_store_explicit(&w->state, BUDGET_WAITING, memory_order_relaxed);
    pthread_mutex_lock(&b->mu);
    int stopped = b->stop;
    if (!stopped) {
        *b->tail_next = w;
        b->tail_next = &w->next;
        pthread_cond_signal(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    if (stopped) {
        w->result = BUDGET_TIMED_OUT;
        wake_all(b, w);
    }
}

uint64_t budget_held(budget *b)
{
    pthread_mutex_lock(&b->mu);
    uint64_t held = b->held;
    pthread_mutex_unlock(&b->mu);
    return held;
}

void budget_stop(budget *b)
{
    if (!b->started)
        return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    b->started = 0;
}

void budget_destroy(budget *b)
{
    if (!b->initialized)
        return;
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    b->initialized = 0;
}
