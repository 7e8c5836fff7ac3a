/* The floe config file: one JSON document (see docs/configuration.md) parsed into a floe_config that
 * holds the HTTP server's settings and the floe_options handed to floe_open. */
#ifndef FLOE_CONFIG_H
#define FLOE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "floe.h"
#include "retention.h"

/* At most this many bearer tokens (the file's plus FLOE_TOKEN). */
#define CONFIG_MAX_TOKENS 64
/* A token is 1..CONFIG_MAX_TOKEN_BYTES printable ASCII bytes without spaces. */
#define CONFIG_MAX_TOKEN_BYTES 256
/* A config file larger than this is refused. */
#define CONFIG_MAX_FILE_BYTES (1024 * 1024)

typedef enum config_access {
    CONFIG_ACCESS_READ = 1,  /* GET/HEAD objects, list, stats, metrics */
    CONFIG_ACCESS_WRITE = 2, /* everything, including PUT, DELETE and flush */
} config_access;

typedef struct config_token {
    char token[CONFIG_MAX_TOKEN_BYTES + 1];
    config_access access;
} config_token;

/* Caps on the config's strings; a longer value is an error naming the field. */
#define CONFIG_MAX_PATH_BYTES 4095
#define CONFIG_MAX_LISTEN_BYTES 300
#define CONFIG_MAX_URL_BYTES 1024
#define CONFIG_MAX_NAME_BYTES 255
#define CONFIG_MAX_SECRET_BYTES 255

/* A loaded configuration. It holds every string in its own arrays, and the string pointers inside
 * `options` point into them, so `options` is valid exactly as long as the floe_config is (do not
 * copy the struct by value and use the copy's options). Read-only once loaded: any thread may read
 * it. Relative paths are kept as written and resolve against the process's current directory. */
typedef struct floe_config {
    char source[CONFIG_MAX_PATH_BYTES + 1];   /* the file it was loaded from, or "(defaults)" */
    char data_dir[CONFIG_MAX_PATH_BYTES + 1]; /* default "./data" */
    struct {
        char listen[CONFIG_MAX_LISTEN_BYTES + 1];      /* "host:port" as written, e.g. "[::1]:8080" */
        char listen_host[CONFIG_MAX_LISTEN_BYTES + 1]; /* the host part, without brackets */
        uint16_t listen_port;                          /* 0: any free port (the server logs the one it got) */
        uint32_t threads;                              /* request-parsing threads; 0 means one per core */
        uint32_t write_threads;                        /* threads running PUT/DELETE/flush; default 16 */
        config_token tokens[CONFIG_MAX_TOKENS];
        size_t token_count;
        int allow_unauthenticated_remote;  /* serve a non-loopback address without tokens */
        uint32_t max_header_bytes;         /* request line plus headers; default 16 KiB */
        uint32_t max_headers;              /* number of request headers; default 64 */
        uint32_t max_connections;          /* open connections in total; default 1024 */
        uint32_t max_connections_per_ip;   /* open connections from one address; default 256 */
        uint32_t idle_timeout_s;           /* a connection silent this long is closed; default 30 */
        uint32_t min_body_bytes_per_s;     /* an upload slower than this on average is closed... */
        uint32_t body_grace_s;             /* ...once it has run this long; defaults 1024 and 10 */
        uint32_t shutdown_grace_s;         /* on SIGTERM, requests in flight may finish; default 10 */
        uint32_t list_max_keys;            /* ceiling for GET /v1/objects?limit=; default 10000 */
        uint64_t max_body_bytes_in_flight; /* PUT bodies buffered at once; default 1 GiB */
        /* GET bodies held for responses at once, across connections; default 256 MiB */
        uint64_t max_response_bytes_in_flight;
        uint32_t response_wait_ms; /* a GET over it waits this long for room, then 503; default 1000 */
    } http;
    /* The store's options; options.max_object_bytes is http.max_object_bytes in the file. */
    floe_options options;
    /* storage that options' string fields point into */
    char cold_fs_path[CONFIG_MAX_PATH_BYTES + 1];
    char s3_endpoint[CONFIG_MAX_URL_BYTES + 1];
    char s3_bucket[CONFIG_MAX_NAME_BYTES + 1];
    char s3_prefix[CONFIG_MAX_URL_BYTES + 1];
    char s3_region[CONFIG_MAX_NAME_BYTES + 1];
    char s3_ca_file[CONFIG_MAX_PATH_BYTES + 1]; /* "" means null: options.cold.s3.ca_file is NULL */
    char s3_access_key[CONFIG_MAX_SECRET_BYTES + 1];
    char s3_secret_key[CONFIG_MAX_SECRET_BYTES + 1];
    /* the rules options.retention points at (options.retention_count of them), and their prefixes */
    floe_retention_rule retention[RETENTION_MAX_RULES];
    char retention_prefixes[RETENTION_MAX_RULES][FLOE_MAX_KEY_BYTES + 1];
} floe_config;

/* Fills *c with the defaults, which equal config/floe.json: data in ./data, an fs cold tier in
 * ./data/cold, HTTP on 127.0.0.1:8080. Applies no environment variable. Cannot fail. */
void config_init_defaults(floe_config *c);

/* Loads the JSON file at path over the defaults, then applies the environment: AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY (S3 credentials), AWS_REGION (the S3 region unless the file names one) and
 * FLOE_TOKEN (one more token, with write access). path NULL means the defaults plus the environment.
 * *out is self-contained (see floe_config) and released with config_free. Errors: FLOE_EINVAL for
 * an unknown, mistyped or out-of-range field or bad JSON (floe_last_error names file and field, e.g.
 * "floe.json: field wal.sync must be one of always, interval, never"), FLOE_EIO if the file cannot
 * be read. *out is untouched on failure. */
int config_load(const char *path, floe_config *out);

/* Wipes the secrets in *c and zeroes it. */
void config_free(floe_config *c);

/* 1 if host (as in http.listen_host) is a loopback address: 127.0.0.0/8, ::1 or "localhost". */
int config_host_is_loopback(const char *host);

#endif
