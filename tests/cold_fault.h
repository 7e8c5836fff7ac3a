/* A fault-injecting cold store for tests (tests/cold_fault.c): wraps any cold store and makes calls
 * fail, slow down, lose their answers or meet a 503 storm, on demand and reproducibly. Built into
 * the tests' helper library (floe_testutil), not into libfloe.
 *
 * Threads: the wrapper is a cold store like any other (cold.h); the setters may be called at any
 * time from any thread. */
#ifndef FLOE_TESTS_COLD_FAULT_H
#define FLOE_TESTS_COLD_FAULT_H

#include <stdint.h>

#include "cold.h"
#include "floe.h"

/* Wraps inner (taking ownership: cold_close closes both) in a store that passes every call through,
 * except as its settings say. Faults are decided by a generator seeded by seed, so a test that makes
 * the same calls in the same order sees the same faults. cold_backend_name gives "fault". The
 * setters below return FLOE_EINVAL if c is not a fault wrapper. */
int cold_open_fault(cold_t *inner, uint64_t seed, cold_t **out);

/* The next n calls of op fail with err (a negative FLOE_E* code) without reaching the store. */
int cold_fault_fail_next(cold_t *c, floe_cold_op op, unsigned n, int err);
/* As cold_fault_fail_next, after the next skip calls of op have passed. */
int cold_fault_fail_after(cold_t *c, floe_cold_op op, unsigned skip, unsigned n, int err);
/* Every call of op first sleeps delay_ms (0 to stop). */
int cold_fault_set_delay(cold_t *c, floe_cold_op op, uint32_t delay_ms);
/* Every call whose key contains key_contains (any op) first sleeps delay_ms more ("" or 0 to
 * stop): to hold one object's upload back while others go ahead. */
int cold_fault_set_key_delay(cold_t *c, const char *key_contains, uint32_t delay_ms);
/* The next n puts (cold_put and cold_put_file) reach the store and succeed there, then report
 * FLOE_ECOLD as if the answer was lost on the way back. */
int cold_fault_lose_next_puts(cold_t *c, unsigned n);
/* The same, only for puts whose key contains key_contains (others pass through untouched). */
int cold_fault_lose_next_puts_of(cold_t *c, const char *key_contains, unsigned n);
/* A 503 SlowDown storm: every attempt of every call fails with probability
 * `probability_per_mille`/1000 before reaching the store, and is retried as the S3 client would
 * (up to max_retries times, backoff base_ms, cap 20 * base_ms), counted as requests and retries; a
 * call whose attempts all fail returns FLOE_ECOLD. 0 ends the storm. */
int cold_fault_set_storm(cold_t *c, unsigned probability_per_mille, unsigned max_retries, uint32_t base_ms);
/* How many faults (failed calls, lost answers, storm attempts) were injected so far. */
uint64_t cold_fault_injected(cold_t *c);

#endif
