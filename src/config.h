/* The floe config file: one JSON document (see docs/configuration.md) parsed into a floe_config that
 * holds the HTTP and S3 API listeners' settings and the floe_options handed to floe_open. */
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

/* What a bearer token or an S3 credential may do. */
typedef enum config_access {
    CONFIG_ACCESS_READ = 1,  /* GET/HEAD objects, list, stats, metrics (S3: GET, HEAD and list requests) */
    CONFIG_ACCESS_WRITE = 2, /* everything, including PUT, DELETE and flush (S3: multipart uploads too) */
} config_access;

typedef struct config_token {
    char token[CONFIG_MAX_TOKEN_BYTES + 1];
    config_access access;
} config_token;

/* At most this many S3 API credentials (the file's plus FLOE_S3_ACCESS_KEY/FLOE_S3_SECRET_KEY). */
#define CONFIG_MAX_S3_CREDENTIALS 64
/* An access key is 3..128 bytes of [A-Za-z0-9._-], so it survives a SigV4 credential scope. */
#define CONFIG_MIN_S3_ACCESS_KEY_BYTES 3
#define CONFIG_MAX_S3_ACCESS_KEY_BYTES 128
/* A secret key is 8..128 printable ASCII bytes without spaces. */
#define CONFIG_MIN_S3_SECRET_KEY_BYTES 8
#define CONFIG_MAX_S3_SECRET_KEY_BYTES 128
/* s3.domain is a DNS name of at most this many bytes. */
#define CONFIG_MAX_DOMAIN_BYTES 253
/* A TLS certificate or key file larger than this is refused. */
#define CONFIG_MAX_PEM_BYTES (1024 * 1024)

/* One key pair S3 clients sign requests with (SigV4). */
typedef struct config_s3_credential {
    char access_key[CONFIG_MAX_S3_ACCESS_KEY_BYTES + 1]; /* unique among the credentials */
    char secret_key[CONFIG_MAX_S3_SECRET_KEY_BYTES + 1]; /* from the file or the environment */
    config_access access;
} config_s3_credential;

/* Caps on the config's strings; a longer value is an error naming the field. */
#define CONFIG_MAX_PATH_BYTES 4095
#define CONFIG_MAX_LISTEN_BYTES 300
#define CONFIG_MAX_URL_BYTES 1024
#define CONFIG_MAX_NAME_BYTES 255
#define CONFIG_MAX_SECRET_BYTES 255

/* TLS for one listener (http.tls, s3.tls). config_load reads both files and keeps their text, so
 * the server hands it to libmicrohttpd (MHD_OPTION_HTTPS_MEM_CERT / _KEY) without opening a file.
 * The PEM text is malloc'd, owned by the floe_config and freed (the key wiped first) by config_free. */
typedef struct config_tls {
    int enabled;                               /* 1: the listener speaks HTTPS only; 0: plain HTTP */
    char cert_file[CONFIG_MAX_PATH_BYTES + 1]; /* as written, for messages; "" when disabled */
    char key_file[CONFIG_MAX_PATH_BYTES + 1];  /* likewise */
    /* NUL-terminated PEM text, at most CONFIG_MAX_PEM_BYTES each; NULL when disabled. key_pem is an
     * unencrypted private key: a secret. */
    char *cert_pem; /* the certificate chain, the server's own certificate first */
    char *key_pem;
} config_tls;

/* A loaded configuration. It holds every string in its own arrays, and the string pointers inside
 * `options` point into them, so `options` is valid exactly as long as the floe_config is (do not
 * copy the struct by value and use the copy's options). The one heap memory it owns is the TLS PEM
 * text (config_tls), released by config_free. Read-only once loaded: any thread may read it.
 * Relative paths are kept as written and resolve against the process's current directory. */
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
        config_tls tls;            /* default off */
    } http;
    /* The S3-compatible API listener (the file's top-level "s3"; the cold tier's S3 client is
     * configured by cold.s3, whose strings are the s3_* arrays below). Off by default. */
    struct {
        int enabled;                                   /* listen is not "": the listener runs */
        char listen[CONFIG_MAX_LISTEN_BYTES + 1];      /* "host:port" as written; "" (default) = off */
        char listen_host[CONFIG_MAX_LISTEN_BYTES + 1]; /* the host part, without brackets */
        uint16_t listen_port;                          /* 0: any free port */
        /* "" (default): path-style requests only (host/bucket/key); else a lowercase DNS name such
         * that bucket.<domain> addresses a bucket too (virtual-hosted style) */
        char domain[CONFIG_MAX_DOMAIN_BYTES + 1];
        char region[CONFIG_MAX_NAME_BYTES + 1]; /* the region clients sign for; default "us-east-1" */
        /* every request is signed with one of these; at least one when enabled */
        config_s3_credential credentials[CONFIG_MAX_S3_CREDENTIALS];
        size_t credential_count;
        uint32_t multipart_max_age_s; /* older multipart uploads are aborted; default 604800 (7 days) */
        uint32_t list_max_keys;       /* ceiling for max-keys in list requests; default 1000 */
        config_tls tls;               /* default off */
    } s3;
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
 * AWS_SECRET_ACCESS_KEY (the cold tier's S3 credentials), AWS_REGION (its region unless the file
 * names one), FLOE_TOKEN (one more token, with write access), FLOE_S3_ACCESS_KEY with
 * FLOE_S3_SECRET_KEY (one more S3 API credential, with write access), and the variables that
 * s3.credentials[].secret_key_env name. It reads the TLS certificate and key files that http.tls
 * and s3.tls name. path NULL means the defaults plus the environment. *out is self-contained (see
 * floe_config) and released with config_free; loading over a loaded config without config_free
 * leaks its PEM text. Errors: FLOE_EINVAL for an unknown, mistyped or out-of-range field, bad JSON,
 * a bad environment variable or a TLS file that is not PEM (floe_last_error names file and field,
 * e.g. "floe.json: field wal.sync must be one of always, interval, never"), FLOE_EIO if the config
 * file or a TLS file cannot be read, FLOE_ENOMEM. *out is untouched on failure.
 *
 * It does not check that libmicrohttpd was built with TLS: the library does not link it, so the
 * server checks MHD_is_feature_supported(MHD_FEATURE_TLS) when http.tls or s3.tls is enabled. */
int config_load(const char *path, floe_config *out);

/* Wipes the secrets in *c (S3 credentials, TLS keys), frees the PEM text it owns and zeroes it.
 * c may be NULL; a zeroed config, one from config_init_defaults, or one already freed is fine. */
void config_free(floe_config *c);

/* 1 if host (as in http.listen_host) is a loopback address: 127.0.0.0/8, ::1 or "localhost". */
int config_host_is_loopback(const char *host);

#endif
