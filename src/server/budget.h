/* The response budget of the HTTP server: a cap on the bytes held for GET answers across every
 * connection (http.max_response_bytes_in_flight), and a queue of requests waiting a moment for
 * room, served by one thread that grants room as answers finish and gives up on a waiter at its
 * deadline. Nothing here knows about HTTP: a waiter is woken through the function given to
 * budget_start.
 *
 * Threads: every function may be called from any thread; the budget's own thread calls wake. */
#ifndef FLOE_BUDGET_H
#define FLOE_BUDGET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum budget_state {
    BUDGET_IDLE = 0,  /* not waiting */
    BUDGET_WAITING,   /* queued */
    BUDGET_GRANTED,   /* its bytes are reserved for it: it releases them with budget_release */
    BUDGET_TIMED_OUT, /* its deadline passed (or the budget stopped) without room */
};

/* One request waiting for room, owned by its caller, which must keep it alive from budget_wait
 * until wake has been called for it. */
typedef struct budget_waiter {
    uint64_t bytes;       /* the room it needs */
    uint64_t deadline_ns; /* clock_now_ns() at which it stops waiting */
    atomic_int state;     /* enum budget_state; set with release before wake is called */
    int result;           /* the state wake will publish (the budget's thread only) */
    struct budget_waiter *next;
} budget_waiter;

/* Called on the budget's thread (or, while it stops, in budget_wait's caller) once w->state is
 * GRANTED or TIMED_OUT; the budget does not touch w afterwards. */
typedef void (*budget_wake_fn)(budget_waiter *w, void *ctx);

typedef struct budget {
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;  /* signalled when room is released, a waiter is queued, or on stop */
    uint64_t cap;
    uint64_t held; /* bytes reserved now */
    budget_waiter *head;
    budget_waiter **tail_next; /* where the next waiter is linked: &head, or the last one's next */
    int stop;
    budget_wake_fn wake;
    void *wake_ctx;
    pthread_t thread;
    int initialized; /* mu and cv exist */
    int started;     /* the thread runs */
} budget;

/* Starts b with cap bytes and its thread. Returns 0, or FLOE_ENOMEM/FLOE_EIO (the message says
 * what could not be created). On failure nothing needs undoing. */
int budget_start(budget *b, uint64_t cap, budget_wake_fn wake, void *ctx);

/* Reserves bytes if they fit: held + bytes <= cap, or nothing is held at all (so one answer larger
 * than the whole cap can still be served alone). 1 when reserved, 0 when not. bytes 0 always fits. */
int budget_try_reserve(budget *b, uint64_t bytes);

/* Gives back bytes reserved by budget_try_reserve or granted to a waiter. */
void budget_release(budget *b, uint64_t bytes);

/* Queues w (bytes and deadline_ns set by the caller; state becomes WAITING). The budget's thread
 * later reserves w->bytes for it as soon as they fit (GRANTED) or gives up at its deadline
 * (TIMED_OUT), and calls wake. A waiter queued after budget_stop is TIMED_OUT and woken at once,
 * from this call. */
void budget_wait(budget *b, budget_waiter *w);

/* Bytes reserved now. */
uint64_t budget_held(budget *b);

/* Times out every waiter (waking it) and joins the thread. Reserving and releasing go on working
 * until budget_destroy. */
void budget_stop(budget *b);

/* Frees what budget_start made (nothing if it failed or never ran); b must be stopped, and nothing
 * may use it afterwards. */
void budget_destroy(budget *b);

#endif
