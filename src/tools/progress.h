/* Progress lines of the operator tools: a loop over cold-tier objects reports how far it got, on a
 * terminal or in a log. One meter is used by one thread. */
#ifndef FLOE_TOOLS_PROGRESS_H
#define FLOE_TOOLS_PROGRESS_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Progress of a loop over objects: "\rchecked 12/340 objects" redrawn at most every 100 ms on a
 * TTY; on anything else (when allowed) a plain line every 5 s and one at the end. */
typedef struct progress_meter {
    FILE *f; /* NULL: silent */
    int tty;
    const char *verb;
    uint64_t total, done;
    struct timespec last;
} progress_meter;

/* Starts a meter of total steps that prints to f (NULL: silent) as "<verb> done/total objects".
 * tty_only: print nothing unless f is a terminal. */
void progress_begin(progress_meter *p, FILE *f, int tty_only, const char *verb, uint64_t total);
/* One step done; redraws the line when it is due. */
void progress_step(progress_meter *p);
/* Prints the final line, once: later calls (and progress_step) print nothing. */
void progress_end(progress_meter *p);

#endif
