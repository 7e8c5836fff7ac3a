/* The operator tools' shared command-line handling (see command.h). */
#include "command.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "floe.h"

int command_parse_args(const char *cmd, int argc, char **argv, int first, unsigned allowed, command_args *a)
{
    memset(a, 0, sizeof *a);
    a->grace_s = -1;
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if ((strcmp(arg, "-c") == 0 || strcmp(arg, "--config") == 0) && i + 1 < argc) {
            a->config_path = argv[++i];
        } else if (strncmp(arg, "--config=", 9) == 0) {
            a->config_path = arg + 9;
        } else if ((allowed & COMMAND_OPT_REMOTE) && strcmp(arg, "--remote") == 0) {
            a->remote = 1;
        } else if ((allowed & COMMAND_OPT_DRY_RUN) && strcmp(arg, "--dry-run") == 0) {
            a->dry_run = 1;
        } else if ((allowed & COMMAND_OPT_GRACE) &&
                   (strcmp(arg, "--grace-s") == 0 || strncmp(arg, "--grace-s=", 10) == 0)) {
            const char *v = arg[9] == '=' ? arg + 10 : (i + 1 < argc ? argv[++i] : NULL);
            char *end = NULL;
            errno = 0;
            long long n = v ? strtoll(v, &end, 10) : -1;
            if (!v || !*v || *end || errno || n < 0) {
                fprintf(stderr, "floe %s: --grace-s needs a number of seconds >= 0, not '%s'\n", cmd,
                        v ? v : "");
                return 2;
            }
            a->grace_s = n;
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            return 1;
        } else {
            fprintf(stderr, "floe %s: unexpected argument '%s'\n", cmd, arg);
            return 2;
        }
    }
    return 0;
}

floe_config *command_load_config(const char *cmd, const char *path)
{
    floe_config *cfg = malloc(sizeof *cfg);
    if (!cfg) {
        fprintf(stderr, "floe %s: out of memory\n", cmd);
        return NULL;
    }
    if (config_load(path, cfg) != 0) {
        fprintf(stderr, "floe %s: %s\n", cmd, floe_last_error());
        free(cfg);
        return NULL;
    }
    return cfg;
}

void command_free_config(floe_config *cfg)
{
    if (cfg) {
        config_free(cfg);
        free(cfg);
    }
}

int command_open_cold(const floe_config *cfg, cold_t **out)
{
    if (cfg->options.cold.backend == FLOE_COLD_NONE)
        return err_set(FLOE_EINVAL, "%s: cold.backend is \"none\": there is no cold tier to work with",
                       cfg->source);
    return cold_open_options(&cfg->options, 0, out);
}

const char *command_without_prefix(const char *msg, const char *cmd)
{
    const char *word = strrchr(cmd, ' ') ? strrchr(cmd, ' ') + 1 : cmd;
    size_t n = strlen(word);
    if (strncmp(msg, word, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
        msg += n + 2;
    return msg;
}

int command_fail(const char *cmd, int rc)
{
    const char *msg =
        command_without_prefix(floe_last_error()[0] ? floe_last_error() : floe_strerror(rc), cmd);
    fflush(stdout);
    fprintf(stderr, "floe %s: %s\n", cmd, msg);
    return 1;
}
