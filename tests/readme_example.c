/* The C example from README.md, built and run by the test suite so the README stays true.
 * Keep the two in step: the README shows the body of main() below. */
#include <stdio.h>
#include <string.h>

#include "floe.h"

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "./example-data";
    floe_options opts;
    floe_options_init(&opts);
    opts.wal.sync = FLOE_SYNC_ALWAYS; /* acknowledge after fdatasync */

    floe_t *db;
    int rc = floe_open(dir, &opts, &db);
    if (rc != 0) {
        fprintf(stderr, "open %s: %s: %s\n", dir, floe_strerror(rc), floe_last_error());
        return 1;
    }
    uint64_t seq;
    rc = floe_put(db, "logs/2026-11-22", 15, "hello", 5, "text/plain", &seq);
    if (rc != 0) {
        fprintf(stderr, "put: %s\n", floe_last_error());
        floe_close(db);
        return 1;
    }
    floe_value v;
    rc = floe_get(db, "logs/2026-11-22", 15, &v);
    if (rc == 0) {
        printf("%.*s (%s, seq %llu, from %s)\n", (int)v.len, (char *)v.data, v.content_type,
               (unsigned long long)v.seq, floe_tier_name(v.tier));
        floe_value_free(&v);
    }
    floe_list *list;
    if (floe_list_keys(db, "logs/", 5, NULL, 0, 100, &list) == 0) {
        for (size_t i = 0; i < list->count; i++)
            printf("%s\t%llu bytes\n", list->entries[i].key, (unsigned long long)list->entries[i].value_len);
        floe_list_free(list);
    }
    rc = floe_flush(db, FLOE_DURABLE_LOCAL); /* seal into a segment file now */
    floe_close(db);
    return rc == 0 ? 0 : 1;
}
