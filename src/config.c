/* Parses floe's JSON config file (docs/configuration.md) into a floe_config.
 *
 * Invariants:
 * 1. Every field has a default (config_init_defaults); the file only overrides what it names.
 * 2. Every field the file names is checked for type and range; an unknown field, a wrong type or a
 *    value out of range is an error whose message names the file and the dotted field path.
 * 3. Strings are copied into the config's fixed arrays with their length checked, so a config never
 *    points into the parsed JSON and holds no heap memory.
 * 4. Secrets come from the environment; a config file cannot hold S3 credentials.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "options.h"

#define KIB (1024ull)
#define MIB (1024ull * 1024)
#define GIB (1024ull * 1024 * 1024)
#define TIB (1024ull * GIB)

/* What a parse needs to name things in its messages. */
typedef struct cfg_parser {
    const char *file; /* the config file's path, for messages */
    int region_set;   /* the file named cold.s3.region */
} cfg_parser;

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Points options' string fields at c's own arrays. Called whenever a config lands at its final
 * address, because the pointers are into the struct itself. */
static void fix_pointers(floe_config *c)
{
    c->options.cold.fs_path = c->cold_fs_path;
    c->options.cold.s3.endpoint = c->s3_endpoint;
    c->options.cold.s3.bucket = c->s3_bucket;
    c->options.cold.s3.prefix = c->s3_prefix;
    c->options.cold.s3.region = c->s3_region;
    c->options.cold.s3.ca_file = c->s3_ca_file[0] ? c->s3_ca_file : NULL;
    c->options.cold.s3.access_key = c->s3_access_key[0] ? c->s3_access_key : NULL;
    c->options.cold.s3.secret_key = c->s3_secret_key[0] ? c->s3_secret_key : NULL;
    for (size_t i = 0; i < RETENTION_MAX_RULES; i++)
        c->retention[i].prefix = c->retention_prefixes[i];
    c->options.retention = c->options.retention_count ? c->retention : NULL;
}

void config_init_defaults(floe_config *c)
{
    memset(c, 0, sizeof *c);
    copy_str(c->source, sizeof c->source, "(defaults)");
    copy_str(c->data_dir, sizeof c->data_dir, "./data");
    copy_str(c->http.listen, sizeof c->http.listen, "127.0.0.1:8080");
    copy_str(c->http.listen_host, sizeof c->http.listen_host, "127.0.0.1");
    c->http.listen_port = 8080;
    c->http.threads = 0;
    c->http.write_threads = 16;
    c->http.token_count = 0;
    c->http.allow_unauthenticated_remote = 0;
    c->http.max_header_bytes = 16 * 1024;
    c->http.max_headers = 64;
    c->http.max_connections = 1024;
    c->http.max_connections_per_ip = 256;
    c->http.idle_timeout_s = 30;
    c->http.min_body_bytes_per_s = 1024;
    c->http.body_grace_s = 10;
    c->http.shutdown_grace_s = 10;
    c->http.list_max_keys = 10000;
    c->http.max_body_bytes_in_flight = GIB;
    c->http.max_response_bytes_in_flight = 256 * MIB;
    c->http.response_wait_ms = 1000;

    floe_options_init(&c->options);
    /* The config file's default cold tier is a directory next to the data (the library's own
     * default is no cold tier). */
    c->options.cold.backend = FLOE_COLD_FS;
    copy_str(c->cold_fs_path, sizeof c->cold_fs_path, "./data/cold");
    copy_str(c->s3_endpoint, sizeof c->s3_endpoint, "http://127.0.0.1:9000");
    copy_str(c->s3_bucket, sizeof c->s3_bucket, "floe");
    copy_str(c->s3_prefix, sizeof c->s3_prefix, "");
    copy_str(c->s3_region, sizeof c->s3_region, "us-east-1");
    c->options.cold.s3.path_style = 1;
    fix_pointers(c);
}

void config_free(floe_config *c)
{
    if (!c)
        return;
    /* volatile stores so the wipe of the secrets is not optimised away */
    volatile unsigned char *p = (volatile unsigned char *)c;
    for (size_t i = 0; i < sizeof *c; i++)
        p[i] = 0;
}

/* The error of every field helper (get_*, check_known): it names the field by its dotted path. */
static int field_error(const cfg_parser *p, const char *path, const char *what)
{
    return err_set(FLOE_EINVAL, "%s: field %s %s", p->file, path, what);
}

static void join_path(char *dst, size_t cap, const char *parent, const char *name)
{
    if (parent && parent[0])
        snprintf(dst, cap, "%s.%s", parent, name);
    else
        snprintf(dst, cap, "%s", name);
}

/* Fails naming the first member of obj that is not in known (a NULL-terminated list). */
static int check_known(const cfg_parser *p, json_t *obj, const char *parent, const char *const *known)
{
    const char *name;
    json_t *v;
    json_object_foreach(obj, name, v)
    {
        int found = 0;
        for (size_t i = 0; known[i]; i++) {
            if (strcmp(known[i], name) == 0) {
                found = 1;
                break;
            }
        }
        if (!found) {
            char path[256];
            join_path(path, sizeof path, parent, name);
            char list[512] = "";
            size_t used = 0;
            for (size_t i = 0; known[i] && used < sizeof list; i++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", known[i]);
            return err_set(FLOE_EINVAL, "%s: unknown field %s (known fields here: %s)", p->file, path, list);
        }
    }
    return 0;
}

/* Returns the member name of obj as an object, NULL if absent; fails if it is not an object. */
static int get_section(const cfg_parser *p, json_t *obj, const char *parent, const char *name, json_t **out)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_object(v)) {
        char path[256];
        join_path(path, sizeof path, parent, name);
        return field_error(p, path, "must be an object");
    }
    *out = v;
    return 0;
}

static int get_u64(const cfg_parser *p, json_t *obj, const char *parent, const char *name, uint64_t min,
                   uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(obj, name);
    if (!v)
        return 0;
    char path[256];
    join_path(path, sizeof path, parent, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < min ||
        (uint64_t)json_integer_value(v) > max) {
        char what[128];
        snprintf(what, sizeof what, "must be an integer between %llu and %llu", (unsigned long long)min,
                 (unsigned long long)max);
        return field_error(p, path, what);
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_u32(const cfg_parser *p, json_t *obj, const char *parent, const char *name, uint32_t min,
                   uint32_t max, uint32_t *out)
{
    uint64_t v = *out;
    int rc = get_u64(p, obj, parent, name, min, max, &v);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

/* A numeric field of floe_options, checked against the table of limits floe_open also uses
 * (options.c). option is the field's name there. */
static int get_option(const cfg_parser *p, json_t *obj, const char *parent, const char *name, const char *option,
                      floe_options *o)
{
    const option_limit *l = options_limit(option);
    uint64_t v = options_get(o, l);
    int rc = get_u64(p, obj, parent, name, l->min, l->max, &v);
    if (rc == 0)
        options_set(o, l, v);
    return rc;
}

static int get_bool(const cfg_parser *p, json_t *obj, const char *parent, const char *name, int *out)
{
    json_t *v = json_object_get(obj, name);
    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        char path[256];
        join_path(path, sizeof path, parent, name);
        return field_error(p, path, "must be true or false");
    }
    *out = json_is_true(v);
    return 0;
}

/* Copies a string member into dst (capacity cap including the NUL). allow_null: JSON null stores "".
 * *present (if not NULL) is set to 1 when the member exists. */
static int get_str(const cfg_parser *p, json_t *obj, const char *parent, const char *name, int allow_empty,
                   int allow_null, char *dst, size_t cap, int *present)
{
    json_t *v = json_object_get(obj, name);
    if (!v)
        return 0;
    char path[256];
    join_path(path, sizeof path, parent, name);
    if (json_is_null(v) && allow_null) {
        dst[0] = '\0';
        if (present)
            *present = 1;
        return 0;
    }
    if (!json_is_string(v))
        return field_error(p, path, allow_null ? "must be a string or null" : "must be a string");
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len == 0 && !allow_empty)
        return field_error(p, path, "must not be empty");
    if (len >= cap) {
        char what[96];
        snprintf(what, sizeof what, "is longer than %zu bytes", cap - 1);
        return field_error(p, path, what);
    }
    if (memchr(s, '\0', len))
        return field_error(p, path, "must not contain a NUL character");
    memcpy(dst, s, len);
    dst[len] = '\0';
    if (present)
        *present = 1;
    return 0;
}

/* Maps a string member to its index in names (NULL-terminated). */
static int get_enum(const cfg_parser *p, json_t *obj, const char *parent, const char *name,
                    const char *const *names, int *out)
{
    json_t *v = json_object_get(obj, name);
    if (!v)
        return 0;
    char path[256];
    join_path(path, sizeof path, parent, name);
    if (json_is_string(v)) {
        for (int i = 0; names[i]; i++) {
            if (strcmp(names[i], json_string_value(v)) == 0) {
                *out = i;
                return 0;
            }
        }
    }
    char what[256] = "must be one of ";
    size_t used = strlen(what);
    for (int i = 0; names[i] && used < sizeof what; i++)
        used += (size_t)snprintf(what + used, sizeof what - used, "%s%s", i ? ", " : "", names[i]);
    return field_error(p, path, what);
}

/* Splits "host:port" or "[v6]:port". Returns 0 or FLOE_EINVAL (without a message). */
static int parse_listen(const char *s, char *host, size_t host_cap, uint16_t *port)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return FLOE_EINVAL;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return FLOE_EINVAL;
        hlen = (size_t)(colon - s);
        if (memchr(s, ':', hlen)) /* a bare IPv6 address needs brackets */
            return FLOE_EINVAL;
    }
    if (hlen == 0 || hlen >= host_cap)
        return FLOE_EINVAL;
    for (size_t i = 0; i < hlen; i++) {
        char ch = h[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '-' || ch == ':' || ch == '%' || ch == '_'))
            return FLOE_EINVAL;
    }
    const char *ps = colon + 1;
    if (*ps == '\0' || strlen(ps) > 5)
        return FLOE_EINVAL;
    unsigned long v = 0;
    for (const char *q = ps; *q; q++) {
        if (*q < '0' || *q > '9')
            return FLOE_EINVAL;
        v = v * 10 + (unsigned long)(*q - '0');
    }
    if (v > 65535)
        return FLOE_EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)v;
    return 0;
}

int config_host_is_loopback(const char *host)
{
    unsigned char a[16];
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, host, a) == 1) {
        static const unsigned char loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, loop6, 16) == 0)
            return 1;
        return memcmp(a, mapped, 12) == 0 && a[12] == 127;
    }
    return 0;
}

/* A bearer token: printable ASCII without spaces, so it survives an Authorization header. */
static int token_is_valid(const char *t, size_t len)
{
    if (len == 0 || len > CONFIG_MAX_TOKEN_BYTES)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)t[i];
        if (ch <= 0x20 || ch >= 0x7f)
            return 0;
    }
    return 1;
}

static int parse_tokens(const cfg_parser *p, json_t *arr, floe_config *c)
{
    static const char *const known[] = {"token", "access", NULL};
    static const char *const access_names[] = {"read", "write", NULL};
    if (!json_is_array(arr))
        return field_error(p, "http.tokens", "must be an array of {\"token\": ..., \"access\": ...}");
    if (json_array_size(arr) > CONFIG_MAX_TOKENS) {
        char what[64];
        snprintf(what, sizeof what, "has more than %d entries", CONFIG_MAX_TOKENS);
        return field_error(p, "http.tokens", what);
    }
    c->http.token_count = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *t = json_array_get(arr, i);
        char path[64];
        snprintf(path, sizeof path, "http.tokens[%zu]", i);
        if (!json_is_object(t))
            return field_error(p, path,
                               "must be an object {\"token\": ..., \"access\": \"read\" | \"write\"}");
        int rc = check_known(p, t, path, known);
        if (rc)
            return rc;
        config_token *ct = &c->http.tokens[c->http.token_count];
        int present = 0;
        rc = get_str(p, t, path, "token", 0, 0, ct->token, sizeof ct->token, &present);
        if (rc)
            return rc;
        char sub[96];
        snprintf(sub, sizeof sub, "%s.token", path);
        if (!present)
            return field_error(p, sub, "is required");
        if (!token_is_valid(ct->token, strlen(ct->token)))
            return field_error(p, sub, "must be printable ASCII without spaces");
        int access = -1;
        rc = get_enum(p, t, path, "access", access_names, &access);
        if (rc)
            return rc;
        if (access < 0) {
            snprintf(sub, sizeof sub, "%s.access", path);
            return field_error(p, sub, "is required (read or write)");
        }
        ct->access = access == 0 ? CONFIG_ACCESS_READ : CONFIG_ACCESS_WRITE;
        c->http.token_count++;
    }
    return 0;
}

static int parse_http(const cfg_parser *p, json_t *h, floe_config *c)
{
    static const char *const known[] = {"listen",
                                        "threads",
                                        "write_threads",
                                        "max_object_bytes",
                                        "tokens",
                                        "allow_unauthenticated_remote",
                                        "max_header_bytes",
                                        "max_headers",
                                        "max_connections",
                                        "max_connections_per_ip",
                                        "idle_timeout_s",
                                        "min_body_bytes_per_s",
                                        "body_grace_s",
                                        "shutdown_grace_s",
                                        "list_max_keys",
                                        "max_body_bytes_in_flight",
                                        "max_response_bytes_in_flight",
                                        "response_wait_ms",
                                        NULL};
    int rc = check_known(p, h, "http", known);
    if (rc)
        return rc;
    int present = 0;
    char listen[CONFIG_MAX_LISTEN_BYTES + 1];
    rc = get_str(p, h, "http", "listen", 0, 0, listen, sizeof listen, &present);
    if (rc)
        return rc;
    if (present) {
        if (parse_listen(listen, c->http.listen_host, sizeof c->http.listen_host, &c->http.listen_port) != 0)
            return field_error(p, "http.listen", "must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080");
        copy_str(c->http.listen, sizeof c->http.listen, listen);
    }
    if ((rc = get_u32(p, h, "http", "threads", 0, 1024, &c->http.threads)) ||
        (rc = get_u32(p, h, "http", "write_threads", 1, 1024, &c->http.write_threads)) ||
        (rc = get_option(p, h, "http", "max_object_bytes", "max_object_bytes", &c->options)) ||
        (rc =
             get_bool(p, h, "http", "allow_unauthenticated_remote", &c->http.allow_unauthenticated_remote)) ||
        (rc = get_u32(p, h, "http", "max_header_bytes", 1024, 1024 * 1024, &c->http.max_header_bytes)) ||
        (rc = get_u32(p, h, "http", "max_headers", 1, 10000, &c->http.max_headers)) ||
        (rc = get_u32(p, h, "http", "max_connections", 1, 1000000, &c->http.max_connections)) ||
        (rc = get_u32(p, h, "http", "max_connections_per_ip", 0, 1000000, &c->http.max_connections_per_ip)) ||
        (rc = get_u32(p, h, "http", "idle_timeout_s", 1, 86400, &c->http.idle_timeout_s)) ||
        (rc = get_u32(p, h, "http", "min_body_bytes_per_s", 0, 1u << 30, &c->http.min_body_bytes_per_s)) ||
        (rc = get_u32(p, h, "http", "body_grace_s", 1, 3600, &c->http.body_grace_s)) ||
        (rc = get_u32(p, h, "http", "shutdown_grace_s", 0, 3600, &c->http.shutdown_grace_s)) ||
        (rc = get_u32(p, h, "http", "list_max_keys", 1, 100000, &c->http.list_max_keys)) ||
        (rc = get_u64(p, h, "http", "max_body_bytes_in_flight", 1, 1024 * GIB,
                      &c->http.max_body_bytes_in_flight)) ||
        (rc = get_u64(p, h, "http", "max_response_bytes_in_flight", 1, 1024 * GIB,
                      &c->http.max_response_bytes_in_flight)) ||
        (rc = get_u32(p, h, "http", "response_wait_ms", 0, 60000, &c->http.response_wait_ms)))
        return rc;
    json_t *tokens = json_object_get(h, "tokens");
    if (tokens && (rc = parse_tokens(p, tokens, c)))
        return rc;
    return 0;
}

static int parse_wal(const cfg_parser *p, json_t *w, floe_config *c)
{
    static const char *const known[] = {"sync", "interval_ms", "file_bytes", NULL};
    static const char *const sync_names[] = {"always", "interval", "never", NULL};
    int rc = check_known(p, w, "wal", known);
    if (rc)
        return rc;
    int sync = -1;
    if ((rc = get_enum(p, w, "wal", "sync", sync_names, &sync)))
        return rc;
    if (sync == 0)
        c->options.wal.sync = FLOE_SYNC_ALWAYS;
    else if (sync == 1)
        c->options.wal.sync = FLOE_SYNC_INTERVAL;
    else if (sync == 2)
        c->options.wal.sync = FLOE_SYNC_NEVER;
    if ((rc = get_option(p, w, "wal", "interval_ms", "wal.interval_ms", &c->options)) ||
        (rc = get_option(p, w, "wal", "file_bytes", "wal.file_bytes", &c->options)))
        return rc;
    return 0;
}

static int parse_segment(const cfg_parser *p, json_t *s, floe_config *c)
{
    static const char *const known[] = {"max_bytes",   "max_age_s",           "block_bytes",
                                        "compression", "max_unwritten_bytes", NULL};
    static const char *const comp_names[] = {"zstd", "none", NULL};
    int rc = check_known(p, s, "segment", known);
    if (rc)
        return rc;
    if ((rc = get_option(p, s, "segment", "max_bytes", "segment.max_bytes", &c->options)) ||
        (rc = get_option(p, s, "segment", "max_age_s", "segment.max_age_s", &c->options)) ||
        (rc = get_option(p, s, "segment", "block_bytes", "segment.block_bytes", &c->options)))
        return rc;
    int comp = -1;
    if ((rc = get_enum(p, s, "segment", "compression", comp_names, &comp)))
        return rc;
    if (comp >= 0)
        c->options.segment.compression = comp == 0 ? FLOE_COMPRESSION_ZSTD : FLOE_COMPRESSION_NONE;
    /* 0 means 2 * max_bytes (the library's rule) */
    if ((rc = get_option(p, s, "segment", "max_unwritten_bytes", "segment.max_unwritten_bytes", &c->options)))
        return rc;
    if (c->options.segment.max_unwritten_bytes != 0 &&
        c->options.segment.max_unwritten_bytes < c->options.segment.max_bytes)
        return field_error(p, "segment.max_unwritten_bytes",
                           "must be 0 (twice segment.max_bytes) or at least segment.max_bytes");
    return 0;
}

static int parse_s3(cfg_parser *p, json_t *s, floe_config *c)
{
    static const char *const known[] = {"endpoint", "bucket",     "prefix",      "region", "path_style",
                                        "ca_file",  "timeout_ms", "max_retries", NULL};
    int rc = check_known(p, s, "cold.s3", known);
    if (rc)
        return rc;
    int present = 0;
    if ((rc = get_str(p, s, "cold.s3", "endpoint", 0, 0, c->s3_endpoint, sizeof c->s3_endpoint, &present)))
        return rc;
    if (present && strncmp(c->s3_endpoint, "http://", 7) != 0 && strncmp(c->s3_endpoint, "https://", 8) != 0)
        return field_error(p, "cold.s3.endpoint", "must start with http:// or https://");
    if ((rc = get_str(p, s, "cold.s3", "bucket", 0, 0, c->s3_bucket, sizeof c->s3_bucket, NULL)) ||
        (rc = get_str(p, s, "cold.s3", "prefix", 1, 0, c->s3_prefix, sizeof c->s3_prefix, NULL)) ||
        (rc = get_str(p, s, "cold.s3", "region", 0, 0, c->s3_region, sizeof c->s3_region, &p->region_set)) ||
        (rc = get_bool(p, s, "cold.s3", "path_style", &c->options.cold.s3.path_style)) ||
        (rc = get_str(p, s, "cold.s3", "ca_file", 0, 1, c->s3_ca_file, sizeof c->s3_ca_file, NULL)) ||
        (rc = get_option(p, s, "cold.s3", "timeout_ms", "cold.s3.timeout_ms", &c->options)) ||
        (rc = get_option(p, s, "cold.s3", "max_retries", "cold.s3.max_retries", &c->options)))
        return rc;
    return 0;
}

static int parse_cold(cfg_parser *p, json_t *cold, floe_config *c)
{
    static const char *const known[] = {"backend", "fs", "s3", NULL};
    static const char *const backend_names[] = {"none", "fs", "s3", NULL};
    int rc = check_known(p, cold, "cold", known);
    if (rc)
        return rc;
    int backend = -1;
    if ((rc = get_enum(p, cold, "cold", "backend", backend_names, &backend)))
        return rc;
    if (backend == 0)
        c->options.cold.backend = FLOE_COLD_NONE;
    else if (backend == 1)
        c->options.cold.backend = FLOE_COLD_FS;
    else if (backend == 2)
        c->options.cold.backend = FLOE_COLD_S3;
    json_t *fs = NULL, *s3 = NULL;
    if ((rc = get_section(p, cold, "cold", "fs", &fs)) || (rc = get_section(p, cold, "cold", "s3", &s3)))
        return rc;
    if (fs) {
        static const char *const fs_known[] = {"path", NULL};
        if ((rc = check_known(p, fs, "cold.fs", fs_known)) ||
            (rc = get_str(p, fs, "cold.fs", "path", 0, 0, c->cold_fs_path, sizeof c->cold_fs_path, NULL)))
            return rc;
    }
    if (s3 && (rc = parse_s3(p, s3, c)))
        return rc;
    return 0;
}

/* "retention": [{"prefix": "logs/", "max_age_s": 2592000}, ...], the limits of retention.h. */
static int parse_retention(const cfg_parser *p, json_t *arr, floe_config *c)
{
    static const char *const known[] = {"prefix", "max_age_s", NULL};
    if (!json_is_array(arr))
        return field_error(p, "retention", "must be an array of {\"prefix\": ..., \"max_age_s\": ...}");
    if (json_array_size(arr) > RETENTION_MAX_RULES) {
        char what[64];
        snprintf(what, sizeof what, "has more than %d rules", RETENTION_MAX_RULES);
        return field_error(p, "retention", what);
    }
    c->options.retention_count = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *r = json_array_get(arr, i);
        char path[64], sub[96];
        snprintf(path, sizeof path, "retention[%zu]", i);
        if (!json_is_object(r))
            return field_error(p, path, "must be an object {\"prefix\": ..., \"max_age_s\": ...}");
        int rc = check_known(p, r, path, known);
        if (rc)
            return rc;
        int present = 0;
        rc = get_str(p, r, path, "prefix", 1, 0, c->retention_prefixes[i], sizeof c->retention_prefixes[i],
                     &present);
        if (rc)
            return rc;
        snprintf(sub, sizeof sub, "%s.prefix", path);
        if (!present)
            return field_error(p, sub, "is required (\"\" makes a rule for every key)");
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->retention_prefixes[j], c->retention_prefixes[i]) == 0) {
                char what[160];
                snprintf(what, sizeof what, "repeats retention[%zu].prefix: each prefix may have one rule",
                         j);
                return field_error(p, sub, what);
            }
        }
        if (!json_object_get(r, "max_age_s")) {
            snprintf(sub, sizeof sub, "%s.max_age_s", path);
            return field_error(p, sub, "is required (seconds; 0 keeps the prefix forever)");
        }
        c->retention[i].max_age_s = 0;
        if ((rc = get_u64(p, r, path, "max_age_s", 0, RETENTION_MAX_AGE_S, &c->retention[i].max_age_s)))
            return rc;
        c->options.retention_count++;
    }
    fix_pointers(c);
    return 0;
}

static int parse_root(cfg_parser *p, json_t *root, floe_config *c)
{
    static const char *const known[] = {"data_dir", "http",   "wal", "segment",   "cache",      "local",
                                        "cold",     "upload", "gc",  "retention", "compaction", "object",
                                        NULL};
    int rc = check_known(p, root, "", known);
    if (rc)
        return rc;
    if ((rc = get_str(p, root, "", "data_dir", 0, 0, c->data_dir, sizeof c->data_dir, NULL)))
        return rc;
    json_t *sec = NULL;
    if ((rc = get_section(p, root, "", "http", &sec)) || (sec && (rc = parse_http(p, sec, c))))
        return rc;
    if ((rc = get_section(p, root, "", "wal", &sec)) || (sec && (rc = parse_wal(p, sec, c))))
        return rc;
    if ((rc = get_section(p, root, "", "segment", &sec)) || (sec && (rc = parse_segment(p, sec, c))))
        return rc;
    if ((rc = get_section(p, root, "", "cache", &sec)))
        return rc;
    if (sec) {
        static const char *const cache_known[] = {"object_bytes", "block_bytes", "decoded_block_bytes",
                                                  "meta_bytes", NULL};
        if ((rc = check_known(p, sec, "cache", cache_known)) ||
            (rc = get_option(p, sec, "cache", "object_bytes", "cache.object_bytes", &c->options)) ||
            (rc = get_option(p, sec, "cache", "block_bytes", "cache.block_bytes", &c->options)) ||
            (rc = get_option(p, sec, "cache", "decoded_block_bytes", "cache.decoded_block_bytes", &c->options)) ||
            (rc = get_option(p, sec, "cache", "meta_bytes", "cache.meta_bytes", &c->options)))
            return rc;
    }
    if ((rc = get_section(p, root, "", "local", &sec)))
        return rc;
    if (sec) {
        static const char *const local_known[] = {"max_bytes", NULL};
        if ((rc = check_known(p, sec, "local", local_known)) ||
            (rc = get_option(p, sec, "local", "max_bytes", "local.max_bytes", &c->options)))
            return rc;
    }
    if ((rc = get_section(p, root, "", "cold", &sec)) || (sec && (rc = parse_cold(p, sec, c))))
        return rc;
    if ((rc = get_section(p, root, "", "upload", &sec)))
        return rc;
    if (sec) {
        static const char *const upload_known[] = {"concurrency", "part_bytes", "max_pending_bytes",
                                                   "wait_ms", "flush_timeout_ms", NULL};
        if ((rc = check_known(p, sec, "upload", upload_known)) ||
            (rc = get_option(p, sec, "upload", "concurrency", "upload.concurrency", &c->options)) ||
            (rc = get_option(p, sec, "upload", "part_bytes", "upload.part_bytes", &c->options)) ||
            (rc = get_option(p, sec, "upload", "max_pending_bytes", "upload.max_pending_bytes", &c->options)) ||
            (rc = get_option(p, sec, "upload", "wait_ms", "upload.wait_ms", &c->options)) ||
            (rc = get_option(p, sec, "upload", "flush_timeout_ms", "upload.flush_timeout_ms", &c->options)))
            return rc;
    }
    if ((rc = get_section(p, root, "", "gc", &sec)))
        return rc;
    if (sec) {
        static const char *const gc_known[] = {"interval_s", "grace_s", NULL};
        if ((rc = check_known(p, sec, "gc", gc_known)) ||
            (rc = get_option(p, sec, "gc", "interval_s", "gc.interval_s", &c->options)) ||
            (rc = get_option(p, sec, "gc", "grace_s", "gc.grace_s", &c->options)))
            return rc;
    }
    if ((rc = get_section(p, root, "", "compaction", &sec)))
        return rc;
    if (sec) {
        static const char *const compaction_known[] = {"l0_trigger",    "l0_stop",         "level_base_bytes",
                                                       "level_ratio",   "segment_bytes",   "max_bytes_per_s",
                                                       NULL};
        if ((rc = check_known(p, sec, "compaction", compaction_known)) ||
            (rc = get_option(p, sec, "compaction", "l0_trigger", "compaction.l0_trigger", &c->options)) ||
            (rc = get_option(p, sec, "compaction", "l0_stop", "compaction.l0_stop", &c->options)) ||
            (rc = get_option(p, sec, "compaction", "level_base_bytes", "compaction.level_base_bytes", &c->options)) ||
            (rc = get_option(p, sec, "compaction", "level_ratio", "compaction.level_ratio", &c->options)) ||
            (rc = get_option(p, sec, "compaction", "segment_bytes", "compaction.segment_bytes", &c->options)) ||
            (rc = get_option(p, sec, "compaction", "max_bytes_per_s", "compaction.max_bytes_per_s", &c->options)))
            return rc;
    }
    if ((rc = get_section(p, root, "", "object", &sec)))
        return rc;
    if (sec) {
        static const char *const object_known[] = {"chunk_bytes", NULL};
        if ((rc = check_known(p, sec, "object", object_known)) ||
            (rc = get_option(p, sec, "object", "chunk_bytes", "object.chunk_bytes", &c->options)))
            return rc;
    }
    json_t *retention = json_object_get(root, "retention");
    if (retention && (rc = parse_retention(p, retention, c)))
        return rc;
    return 0;
}

/* Reads the whole file at path, refusing one larger than CONFIG_MAX_FILE_BYTES. On success *out is
 * malloc'd (caller frees) and *len its length. */
static int read_config_file(const char *path, char **out, size_t *len)
{
    int rc = 0;
    char *buf = NULL;
    size_t used = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        rc = err_set(FLOE_EIO, "%s: cannot open config file: %s", path, strerror(errno));
        goto out;
    }
    buf = malloc(CONFIG_MAX_FILE_BYTES + 1);
    if (!buf) {
        rc = err_set(FLOE_ENOMEM, "%s: out of memory reading the config file", path);
        goto out;
    }
    used = fread(buf, 1, CONFIG_MAX_FILE_BYTES + 1, f);
    if (ferror(f)) {
        rc = err_set(FLOE_EIO, "%s: cannot read config file: %s", path, strerror(errno));
        goto out;
    }
    if (used > CONFIG_MAX_FILE_BYTES) {
        rc = err_set(FLOE_EINVAL, "%s: config file is larger than %d bytes", path, CONFIG_MAX_FILE_BYTES);
        goto out;
    }
    *out = buf;
    *len = used;
    buf = NULL;
out:
    free(buf);
    if (f)
        fclose(f);
    return rc;
}

/* Applies the environment's secrets to c. */
static int apply_env(const cfg_parser *p, floe_config *c)
{
    const char *v;
    if ((v = getenv("AWS_ACCESS_KEY_ID")) && v[0]) {
        if (strlen(v) >= sizeof c->s3_access_key)
            return err_set(FLOE_EINVAL, "environment variable AWS_ACCESS_KEY_ID is longer than %zu bytes",
                           sizeof c->s3_access_key - 1);
        copy_str(c->s3_access_key, sizeof c->s3_access_key, v);
    }
    if ((v = getenv("AWS_SECRET_ACCESS_KEY")) && v[0]) {
        if (strlen(v) >= sizeof c->s3_secret_key)
            return err_set(FLOE_EINVAL, "environment variable AWS_SECRET_ACCESS_KEY is longer than %zu bytes",
                           sizeof c->s3_secret_key - 1);
        copy_str(c->s3_secret_key, sizeof c->s3_secret_key, v);
    }
    if ((v = getenv("AWS_REGION")) && v[0] && !p->region_set) {
        if (strlen(v) >= sizeof c->s3_region)
            return err_set(FLOE_EINVAL, "environment variable AWS_REGION is longer than %zu bytes",
                           sizeof c->s3_region - 1);
        copy_str(c->s3_region, sizeof c->s3_region, v);
    }
    if ((v = getenv("FLOE_TOKEN")) && v[0]) {
        if (!token_is_valid(v, strlen(v)))
            return err_set(
                FLOE_EINVAL,
                "environment variable FLOE_TOKEN must be 1..%d printable ASCII bytes without spaces",
                CONFIG_MAX_TOKEN_BYTES);
        if (c->http.token_count >= CONFIG_MAX_TOKENS)
            return err_set(FLOE_EINVAL, "%s: FLOE_TOKEN does not fit: http.tokens already has %d entries",
                           p->file, CONFIG_MAX_TOKENS);
        config_token *t = &c->http.tokens[c->http.token_count++];
        copy_str(t->token, sizeof t->token, v);
        t->access = CONFIG_ACCESS_WRITE;
    }
    return 0;
}

int config_load(const char *path, floe_config *out)
{
    int rc = 0;
    char *text = NULL;
    size_t len = 0;
    json_t *root = NULL;
    floe_config *c = malloc(sizeof *c);
    cfg_parser p = {.file = path ? path : "(defaults)"};
    if (!c)
        return err_set(FLOE_ENOMEM, "out of memory loading the config");
    config_init_defaults(c);
    if (path) {
        if (strlen(path) > CONFIG_MAX_PATH_BYTES) {
            rc = err_set(FLOE_EINVAL, "config file path is longer than %d bytes", CONFIG_MAX_PATH_BYTES);
            goto out;
        }
        copy_str(c->source, sizeof c->source, path);
        if ((rc = read_config_file(path, &text, &len)))
            goto out;
        json_error_t jerr;
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
            rc = err_set(FLOE_EINVAL, "%s:%d:%d: invalid JSON: %s", path, jerr.line, jerr.column, jerr.text);
            goto out;
        }
        if (!json_is_object(root)) {
            rc = err_set(FLOE_EINVAL, "%s: the config must be a JSON object", path);
            goto out;
        }
        if ((rc = parse_root(&p, root, c)))
            goto out;
    }
    /* A PUT holds at most one chunk of its body (floe_writer_*), so one request must fit. */
    if (c->http.max_body_bytes_in_flight < c->options.object.chunk_bytes) {
        rc = field_error(&p, "http.max_body_bytes_in_flight", "must be at least object.chunk_bytes");
        goto out;
    }
    if ((rc = apply_env(&p, c)))
        goto out;
    memcpy(out, c, sizeof *c);
    fix_pointers(out);
out:
    json_decref(root);
    free(text);
    config_free(c);
    free(c);
    return rc;
}
