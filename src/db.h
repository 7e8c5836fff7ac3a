/* Internal entry points of the store for tests and tools that need more than floe.h. */
#ifndef FLOE_DB_H
#define FLOE_DB_H

#include "cold.h"
#include "floe.h"

/* floe_open with a cold store the caller built (e.g. a fault-injecting wrapper); the store takes
 * ownership of cold whatever the result. opts->cold.backend is ignored. */
int db_open_with_cold(const char *dir, const floe_options *opts, cold_t *cold, floe_t **out);

#endif
