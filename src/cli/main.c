/* The floe tool: dispatches `floe <command>` to the server, the HTTP client commands and the
 * operator tools. Exit status 0 on success, non-zero with one clear line on stderr otherwise. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "floe.h"
#include "tools.h"

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("floe %s\n", FLOE_VERSION_STRING);
    return 0;
}

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
} command;

static const command commands[] = {
    {"serve", cli_serve, "serve -c FILE            run the store and its HTTP endpoint"},
    {"put", cli_put, "put KEY [FILE|-]         upload an object to a running server"},
    {"get", cli_get, "get KEY [-o FILE]        download an object"},
    {"rm", cli_rm, "rm KEY                   delete an object"},
    {"ls", cli_ls, "ls [PREFIX]              list keys"},
    {"stats", cli_stats, "stats                    print the server's statistics"},
    {"restore", tools_cmd_restore,
     "restore -c FILE          rebuild an empty data directory from the cold tier"},
    {"fsck", tools_cmd_fsck,
     "fsck -c FILE [--remote]  check local files (and every object the manifest names)"},
    {"gc", tools_cmd_gc, "gc -c FILE [--dry-run]   delete orphaned cold-tier objects past a grace period"},
    {"manifest", tools_cmd_manifest,
     "manifest show -c FILE    print the manifest (--remote: the newest in the bucket)"},
    {"segment", tools_cmd_segment, "segment dump PATH        print a segment file and check its CRCs"},
    {"repair", tools_cmd_repair,
     "repair -c FILE [--dry-run] cut a damaged WAL, keeping the cut in quarantine/"},
    {"version", cmd_version, "version                  print the version"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: floe COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  floe %s\n", commands[i].usage);
    fprintf(out, "\nThe client commands use FLOE_URL (default http://127.0.0.1:8080) and FLOE_TOKEN.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(0, NULL);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "floe: unknown command '%s' (try 'floe help')\n", argv[1]);
    return 2;
}
