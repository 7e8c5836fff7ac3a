/* floe serve: loads the config, opens the store and runs the HTTP endpoint until SIGTERM/SIGINT,
 * then stops accepting, lets requests in flight finish, and closes the store cleanly. */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "floe.h"
#include "http.h"

static void serve_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "floe: %s%s\n", level == 0 ? "error: " : level == 1 ? "warning: " : "", msg);
}

static void serve_usage(FILE *f)
{
    fprintf(f, "usage: floe serve [-c FILE]\n"
               "  Serves the store over HTTP as configured in FILE (default: the built-in config, which\n"
               "  equals config/floe.json). Stops cleanly on SIGTERM or SIGINT.\n");
}

int cli_serve(int argc, char **argv)
{
    const char *path = NULL;
    int status = 1;
    floe_config *cfg = NULL;
    floe_t *db = NULL;
    http_server *srv = NULL;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            serve_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "floe serve: unexpected argument '%s'\n", argv[i]);
            serve_usage(stderr);
            return 2;
        }
    }
    cfg = malloc(sizeof *cfg);
    if (!cfg) {
        fprintf(stderr, "floe serve: out of memory\n");
        return 1;
    }
    if (config_load(path, cfg) != 0) {
        fprintf(stderr, "floe serve: %s\n", floe_last_error());
        free(cfg);
        return 1;
    }
    cfg->options.log_fn = serve_log;

    /* Every thread started from here on (the store's and the HTTP server's) inherits this mask, so
     * the signals reach only the sigwait below. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = floe_open(cfg->data_dir, &cfg->options, &db);
    if (rc != 0) {
        fprintf(stderr, "floe serve: cannot open data_dir %s: %s\n", cfg->data_dir, floe_last_error());
        goto out;
    }
    rc = http_server_start(db, cfg, &srv);
    if (rc != 0) {
        fprintf(stderr, "floe serve: %s\n", floe_last_error());
        goto out;
    }
    char abs_dir[PATH_MAX];
    const char *shown = realpath(cfg->data_dir, abs_dir) ? abs_dir : cfg->data_dir;
    int v6 = strchr(cfg->http.listen_host, ':') != NULL;
    fprintf(stderr, "floe: serving data_dir=%s on %s://%s%s%s:%u\n", shown, cfg->http.tls.enabled ? "https" : "http",
            v6 ? "[" : "",
            cfg->http.listen_host, v6 ? "]" : "", http_server_port(srv));
    if (http_server_s3_port(srv)) {
        int s3_v6 = strchr(cfg->s3.listen_host, ':') != NULL;
        fprintf(stderr, "floe: S3 API on %s://%s%s%s:%u (region %s)\n", cfg->s3.tls.enabled ? "https" : "http",
                s3_v6 ? "[" : "", cfg->s3.listen_host,
                s3_v6 ? "]" : "", http_server_s3_port(srv), cfg->s3.region);
    }
    fflush(stderr);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    fprintf(stderr, "floe: %s received: finishing requests in flight and stopping\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    status = 0;
out:
    http_server_stop(srv);
    if (db) {
        rc = floe_close(db);
        if (rc != 0) {
            fprintf(stderr, "floe serve: closing the store: %s\n", floe_last_error());
            status = 1;
        }
    }
    config_free(cfg);
    free(cfg);
    if (status == 0)
        fprintf(stderr, "floe: stopped\n");
    return status;
}
