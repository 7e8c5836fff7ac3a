/* The operator tools' progress lines (see progress.h). */
#include "progress.h"

#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

void progress_begin(progress_meter *p, FILE *f, int tty_only, const char *verb, uint64_t total)
{
    memset(p, 0, sizeof *p);
    if (!f)
        return;
    int fd = fileno(f);
    p->tty = fd >= 0 && isatty(fd);
    if (tty_only && !p->tty)
        return;
    p->f = f;
    p->verb = verb;
    p->total = total;
    clock_gettime(CLOCK_MONOTONIC, &p->last);
}

void progress_step(progress_meter *p)
{
    p->done++;
    if (!p->f || p->done == p->total)
        return;
    if (clock_elapsed_ms(&p->last) < (p->tty ? 100 : 5000))
        return;
    clock_gettime(CLOCK_MONOTONIC, &p->last);
    fprintf(p->f, p->tty ? "\r%s %" PRIu64 "/%" PRIu64 " objects" : "%s %" PRIu64 "/%" PRIu64 " objects\n",
            p->verb, p->done, p->total);
    fflush(p->f);
}

void progress_end(progress_meter *p)
{
    if (!p->f)
        return;
    fprintf(p->f, p->tty ? "\r%s %" PRIu64 "/%" PRIu64 " objects\n" : "%s %" PRIu64 "/%" PRIu64 " objects\n",
            p->verb, p->done, p->total);
    fflush(p->f);
    p->f = NULL;
}
