/* Clocks and sleeps, in one place: every timeout, backoff and age in floe is measured on
 * CLOCK_MONOTONIC (wall time only goes into files, as created_unix_s and an entry's write time, and
 * into retention's "now"). */
#ifndef FLOE_CLOCK_H
#define FLOE_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Monotonic time in milliseconds and nanoseconds since an arbitrary start. */
int64_t clock_now_ms(void);
uint64_t clock_now_ns(void);

/* The CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait on a condition variable whose
 * clock was set to CLOCK_MONOTONIC (clock_cond_init does that). */
struct timespec clock_deadline_after_ms(int64_t ms);

/* Initialises cv with CLOCK_MONOTONIC as the clock of its timed waits. Returns 0 or the errno value
 * pthread_cond_init (or setting up its attributes) failed with. */
int clock_cond_init(pthread_cond_t *cv);

/* Milliseconds from since (a CLOCK_MONOTONIC reading) to now. */
int64_t clock_elapsed_ms(const struct timespec *since);

/* Sleeps ms milliseconds, resuming after signals. */
void clock_sleep_ms(uint32_t ms);

/* Wall-clock time in milliseconds since 1970-01-01 UTC (CLOCK_REALTIME): the write time every entry
 * carries, and the "now" retention rules compare it with. Never 0 (0 means "unknown" in entries). */
uint64_t clock_unix_ms(void);

/* For tests only: from now on clock_unix_ms returns source() instead of reading CLOCK_REALTIME, so a
 * test can write an entry and then move time past a retention rule's age. NULL restores the real
 * clock. Safe from any thread (the pointer is atomic); source itself must be thread-safe. */
typedef uint64_t (*clock_unix_ms_source)(void);
void clock_set_unix_ms_source(clock_unix_ms_source source);

#endif
