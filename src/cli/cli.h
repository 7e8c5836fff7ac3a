/* Entry points of the floe tool's subcommands. Each takes the subcommand's own argv (argv[0] is the
 * subcommand name, e.g. "serve") and returns the process exit status: 0 on success, 1 when the
 * operation failed (one line on stderr says why), 2 for a usage error. */
#ifndef FLOE_CLI_H
#define FLOE_CLI_H

/* floe serve [-c FILE]: runs the HTTP server until SIGTERM or SIGINT (src/server/serve.c). */
int cli_serve(int argc, char **argv);

/* HTTP clients of a running server at $FLOE_URL (default http://127.0.0.1:8080) with $FLOE_TOKEN
 * as the bearer token (src/cli/client.c). */
int cli_put(int argc, char **argv);   /* floe put KEY [FILE|-] [--content-type T] */
int cli_get(int argc, char **argv);   /* floe get KEY [-o FILE] */
int cli_rm(int argc, char **argv);    /* floe rm KEY */
int cli_ls(int argc, char **argv);    /* floe ls [PREFIX] */
int cli_stats(int argc, char **argv); /* floe stats */

/* The operator tools (restore, fsck, gc, manifest show, segment dump) are in src/tools/tools.h. */

#endif
