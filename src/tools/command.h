/* What the operator tools' commands share: their command line (-c FILE and a few options), loading
 * the config file, opening the cold store it names, and the one stderr line of a failure.
 *
 * Exit status of every command: 0 on success, 1 when the operation failed or found damage (one line
 * on stderr says what), 2 for a usage error. */
#ifndef FLOE_TOOLS_COMMAND_H
#define FLOE_TOOLS_COMMAND_H

#include <stdint.h>

#include "cold.h"
#include "config.h"

/* A tool's parsed command line. */
typedef struct command_args {
    const char *config_path; /* NULL: the built-in defaults */
    int remote;              /* --remote */
    int dry_run;             /* --dry-run */
    int64_t grace_s;         /* --grace-s N; -1 when not given */
} command_args;

/* The options a command accepts besides -c FILE and --help. */
enum { COMMAND_OPT_REMOTE = 1, COMMAND_OPT_DRY_RUN = 2, COMMAND_OPT_GRACE = 4 };

/* Parses argv[first..] for -c FILE and the options in allowed; cmd names the command in messages.
 * Returns 0, 1 for --help, or 2 after printing the problem. */
int command_parse_args(const char *cmd, int argc, char **argv, int first, unsigned allowed, command_args *a);

/* Loads the config at path (NULL: the built-in defaults). Returns a malloc'd config (it is large)
 * that the caller frees with command_free_config, or NULL after printing the error. */
floe_config *command_load_config(const char *cmd, const char *path);
void command_free_config(floe_config *cfg);

/* Opens the cold store cfg names into *out (closed with cold_close). FLOE_EINVAL if cfg has no cold
 * tier; otherwise cold_open_fs's or cold_open_s3's errors. */
int command_open_cold(const floe_config *cfg, cold_t **out);

/* msg without a leading "<last word of cmd>: " (the library's messages often start with the
 * operation's name, which the command's line already says). Points into msg. */
const char *command_without_prefix(const char *msg, const char *cmd);

/* Prints "floe <cmd>: <what failed>" on stderr (floe_last_error, else rc's name) and returns exit
 * status 1. */
int command_fail(const char *cmd, int rc);

#endif
