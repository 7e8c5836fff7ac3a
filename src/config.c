/* Parses floe's JSON config file (docs/configuration.md) into a floe_config.
 *
 * Invariants:
 * 1. Every field has a default (config_init_defaults); the file only overrides what it names.
 * 2. Every field the file names is checked for type and range; an unknown field, a wrong type or a
 *    value out of range is an error whose message names the file and the dotted field path.
 * 3. Strings are copied into the config's fixed arrays with their length checked, so a config never
 *    points into the parsed JSON. The one heap memory it holds is the TLS PEM text (config_tls),
 *    which config_free wipes and frees; a config copied into place hands it over (config_load).
 * 4. The cold tier's S3 credentials come from the environment only; a config file cannot hold them.
 *    The S3 API's credentials may be in the file (secret_key) or in the environment (secret_key_env,
 *    FLOE_S3_ACCESS_KEY/FLOE_S3_SECRET_KEY). No message quotes a secret.
 * 5. Everything the server needs from outside the file is read at load time: the environment's
 *    secrets and the TLS files. A variable or file that is missing fails the load, naming it.
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

    c->s3.enabled = 0;
    copy_str(c->s3.region, sizeof c->s3.region, "us-east-1");
    c->s3.multipart_max_age_s = 7 * 86400;
    c->s3.list_max_keys = 1000;

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

/* Zeroes n bytes at mem with volatile stores, so the wipe of a secret is not optimised away. */
static void wipe(void *mem, size_t n)
{
    volatile unsigned char *p = (volatile unsigned char *)mem;
    for (size_t i = 0; i < n; i++)
        p[i] = 0;
}

/* Frees a PEM text (a NUL-terminated malloc'd string), wiping it first. */
static void free_pem(char *pem)
{
    if (pem) {
        wipe(pem, strlen(pem));
        free(pem);
    }
}

void config_free(floe_config *c)
{
    if (!c)
        return;
    free_pem(c->http.tls.cert_pem);
    free_pem(c->http.tls.key_pem);
    free_pem(c->s3.tls.cert_pem);
    free_pem(c->s3.tls.key_pem);
    wipe(c, sizeof *c);
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

/* Reads the whole file at path into *out, a malloc'd NUL-terminated copy (caller frees), and its
 * length into *len. Returns 0, EFBIG if the file is longer than cap bytes, ENOMEM, or the errno
 * value of the failed open or read: callers name the file in their message. The file may hold a
 * secret (a TLS key, an S3 secret key), so the read buffer is wiped before it is freed. */
static int read_capped_file(const char *path, size_t cap, char **out, size_t *len)
{
    int err = 0;
    char *buf = NULL, *text = NULL;
    size_t used = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        err = errno;
        goto out;
    }
    buf = malloc(cap + 1);
    if (!buf) {
        err = ENOMEM;
        goto out;
    }
    errno = 0;
    used = fread(buf, 1, cap + 1, f);
    if (ferror(f)) {
        err = errno ? errno : EIO;
        goto out;
    }
    if (used > cap) {
        err = EFBIG;
        goto out;
    }
    text = malloc(used + 1);
    if (!text) {
        err = ENOMEM;
        goto out;
    }
    memcpy(text, buf, used);
    text[used] = '\0';
    *out = text;
    *len = used;
out:
    if (buf) {
        wipe(buf, used);
        free(buf);
    }
    if (f)
        fclose(f);
    return err;
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

/* 1 if host is the wildcard address of IPv4 or IPv6 (0.0.0.0, ::): a listener there takes the port
 * on every address. */
static int host_is_wildcard(const char *host)
{
    static const unsigned char zero[16];
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        return memcmp(a, zero, 4) == 0;
    return inet_pton(AF_INET6, host, a) == 1 && memcmp(a, zero, 16) == 0;
}

/* 1 if listeners on hosts a and b with the same port would fight over it: the same address (however
 * written; "localhost" is 127.0.0.1 and ::1), or either is a wildcard. */
static int listen_hosts_overlap(const char *a, const char *b)
{
    unsigned char x[16], y[16];
    if (strcasecmp(a, b) == 0 || host_is_wildcard(a) || host_is_wildcard(b))
        return 1;
    if (inet_pton(AF_INET, a, x) == 1 && inet_pton(AF_INET, b, y) == 1)
        return memcmp(x, y, 4) == 0;
    if (inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1)
        return memcmp(x, y, 16) == 0;
    if (strcasecmp(a, "localhost") == 0 || strcasecmp(b, "localhost") == 0) {
        const char *other = strcasecmp(a, "localhost") == 0 ? b : a;
        return strcmp(other, "127.0.0.1") == 0 || strcmp(other, "::1") == 0;
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

/* An S3 access key: it appears in the SigV4 credential scope ("AKID/date/region/s3/aws4_request")
 * and in query strings, so it holds no '/', '=', ',' or space. */
static int s3_access_key_is_valid(const char *k)
{
    size_t len = strlen(k);
    if (len < CONFIG_MIN_S3_ACCESS_KEY_BYTES || len > CONFIG_MAX_S3_ACCESS_KEY_BYTES)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = k[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static int s3_secret_key_is_valid(const char *k)
{
    size_t len = strlen(k);
    return len >= CONFIG_MIN_S3_SECRET_KEY_BYTES && len <= CONFIG_MAX_S3_SECRET_KEY_BYTES &&
           token_is_valid(k, len);
}

#define S3_ACCESS_KEY_RULE "3..128 bytes of letters, digits, '.', '_' and '-'"
#define S3_SECRET_KEY_RULE "8..128 printable ASCII bytes without spaces"

/* A name for getenv: a letter or '_', then letters, digits and '_'. */
static int env_name_is_valid(const char *name)
{
    if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
        return 0;
    for (const char *q = name; *q; q++) {
        if (!((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_'))
            return 0;
    }
    return 1;
}

/* s3.domain: a lowercase DNS name (labels of 1..63 of a-z, 0-9 and '-', not starting or ending with
 * '-'), not an IPv4 address, since buckets are addressed as its subdomains. */
static int domain_is_valid(const char *d)
{
    size_t n = strlen(d), label = 0;
    int last_all_digits = 1;
    if (n == 0 || n > CONFIG_MAX_DOMAIN_BYTES)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        char ch = d[i];
        if (ch == '.' || ch == '\0') {
            if (label == 0 || label > 63 || d[i - 1] == '-')
                return 0;
            label = 0;
            if (ch == '.')
                last_all_digits = 1;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return 0;
        if (ch == '-' && label == 0)
            return 0;
        if (ch < '0' || ch > '9')
            last_all_digits = 0;
        label++;
    }
    return !last_all_digits;
}

/* s3.region: it is part of the SigV4 credential scope, so no '/' or space. */
static int region_is_valid(const char *r)
{
    if (r[0] == '\0' || strlen(r) > 64)
        return 0;
    for (const char *q = r; *q; q++) {
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '-' ||
              *q == '_'))
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

/* Reads the PEM file that field (e.g. "http.tls.key_file") names into *out (malloc'd, owned by the
 * config). A certificate file must hold a "-----BEGIN CERTIFICATE-----" line; a key file a
 * "-----BEGIN ... PRIVATE KEY-----" line and no encryption, as floe has no passphrase to give. */
static int read_pem(const cfg_parser *p, const char *field, const char *file, int is_key, char **out)
{
    char *text = NULL;
    size_t len = 0;
    char what[CONFIG_MAX_PATH_BYTES + 160];
    int rc = 0;
    int err = read_capped_file(file, CONFIG_MAX_PEM_BYTES, &text, &len);
    if (err == ENOMEM) {
        rc = err_set(FLOE_ENOMEM, "%s: out of memory reading %s (field %s)", p->file, file, field);
    } else if (err == EFBIG) {
        snprintf(what, sizeof what, "names %s, which is larger than %d bytes: is it a PEM file?", file,
                 CONFIG_MAX_PEM_BYTES);
        rc = field_error(p, field, what);
    } else if (err) {
        rc = err_set(FLOE_EIO, "%s: field %s names %s, which cannot be read: %s", p->file, field, file,
                     strerror(err));
    } else if (memchr(text, '\0', len)) {
        snprintf(what, sizeof what, "names %s, which is not PEM text (it holds a NUL byte)", file);
        rc = field_error(p, field, what);
    } else if (!is_key && !strstr(text, "-----BEGIN CERTIFICATE-----")) {
        snprintf(what, sizeof what,
                 "names %s, which holds no PEM certificate (no -----BEGIN CERTIFICATE----- line)", file);
        rc = field_error(p, field, what);
    } else if (is_key && (!strstr(text, "-----BEGIN ") || !strstr(text, "PRIVATE KEY-----"))) {
        snprintf(what, sizeof what,
                 "names %s, which holds no PEM private key (no -----BEGIN ... PRIVATE KEY----- line)", file);
        rc = field_error(p, field, what);
    } else if (is_key && strstr(text, "ENCRYPTED")) {
        snprintf(what, sizeof what,
                 "names %s, which holds an encrypted private key: floe needs it unencrypted "
                 "(openssl pkey -in KEY -out PLAIN_KEY)",
                 file);
        rc = field_error(p, field, what);
    }
    if (rc) {
        if (text) {
            wipe(text, len);
            free(text);
        }
        return rc;
    }
    *out = text;
    return 0;
}

/* "<parent>.tls": {"cert_file": PATH, "key_file": PATH}, both or neither; reads both files. */
static int parse_tls(const cfg_parser *p, json_t *obj, const char *parent, config_tls *t)
{
    static const char *const known[] = {"cert_file", "key_file", NULL};
    json_t *tls = NULL;
    char path[64], cert_field[96], key_field[96];
    int has_cert = 0, has_key = 0;
    int rc = get_section(p, obj, parent, "tls", &tls);
    if (rc || !tls)
        return rc;
    snprintf(path, sizeof path, "%s.tls", parent);
    snprintf(cert_field, sizeof cert_field, "%s.cert_file", path);
    snprintf(key_field, sizeof key_field, "%s.key_file", path);
    if ((rc = check_known(p, tls, path, known)) ||
        (rc = get_str(p, tls, path, "cert_file", 0, 0, t->cert_file, sizeof t->cert_file, &has_cert)) ||
        (rc = get_str(p, tls, path, "key_file", 0, 0, t->key_file, sizeof t->key_file, &has_key)))
        return rc;
    if (has_cert != has_key)
        return field_error(p, has_cert ? key_field : cert_field,
                           has_cert ? "is required with cert_file (give both, or neither for plain HTTP)"
                                    : "is required with key_file (give both, or neither for plain HTTP)");
    if (!has_cert)
        return 0;
    if ((rc = read_pem(p, cert_field, t->cert_file, 0, &t->cert_pem)) ||
        (rc = read_pem(p, key_field, t->key_file, 1, &t->key_pem)))
        return rc;
    t->enabled = 1;
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
                                        "tls",
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
    return parse_tls(p, h, "http", &c->http.tls);
}

static int parse_wal(const cfg_parser *p, json_t *w, floe_config *c)
{
    static const char *const known[] = {"sync", "interval_ms", "file_bytes", "direct_batch_bytes", NULL};
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
        (rc = get_option(p, w, "wal", "file_bytes", "wal.file_bytes", &c->options)) ||
        (rc = get_option(p, w, "wal", "direct_batch_bytes", "wal.direct_batch_bytes", &c->options)))
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

/* The secret of s3.credentials[i] (path): "secret_key" in the file, or "secret_key_env", the name
 * of an environment variable that holds it, read now. Exactly one of them. */
static int parse_s3_secret(const cfg_parser *p, json_t *cr, const char *path, config_s3_credential *out)
{
    char key_field[96], env_field[96], what[CONFIG_MAX_NAME_BYTES + 160];
    char name[CONFIG_MAX_NAME_BYTES + 1];
    int has_key = 0, has_env = 0;
    snprintf(key_field, sizeof key_field, "%s.secret_key", path);
    snprintf(env_field, sizeof env_field, "%s.secret_key_env", path);
    int rc = get_str(p, cr, path, "secret_key", 0, 0, out->secret_key, sizeof out->secret_key, &has_key);
    if (rc || (rc = get_str(p, cr, path, "secret_key_env", 0, 0, name, sizeof name, &has_env)))
        return rc;
    if (has_key && has_env)
        return field_error(p, env_field, "cannot be given with secret_key: give one of them");
    if (!has_key && !has_env)
        return field_error(p, key_field,
                           "is required (or secret_key_env, the name of an environment variable holding it)");
    if (has_key) {
        if (!s3_secret_key_is_valid(out->secret_key))
            return field_error(p, key_field, "must be " S3_SECRET_KEY_RULE);
        return 0;
    }
    if (!env_name_is_valid(name))
        return field_error(p, env_field,
                           "must be an environment variable name (letters, digits and '_', not starting "
                           "with a digit)");
    const char *v = getenv(name);
    if (!v || !v[0]) {
        snprintf(what, sizeof what, "names environment variable %s, which is unset or empty", name);
        return field_error(p, env_field, what);
    }
    if (!s3_secret_key_is_valid(v)) {
        snprintf(what, sizeof what, "names environment variable %s, whose value must be " S3_SECRET_KEY_RULE,
                 name);
        return field_error(p, env_field, what);
    }
    copy_str(out->secret_key, sizeof out->secret_key, v);
    return 0;
}

/* "s3.credentials": [{"access_key": ..., "secret_key" | "secret_key_env": ..., "access": ...}]. */
static int parse_s3_credentials(const cfg_parser *p, json_t *arr, floe_config *c)
{
    static const char *const known[] = {"access_key", "secret_key", "secret_key_env", "access", NULL};
    static const char *const access_names[] = {"read", "write", NULL};
    if (!json_is_array(arr))
        return field_error(p, "s3.credentials",
                           "must be an array of {\"access_key\": ..., \"secret_key\": ..., \"access\": ...}");
    if (json_array_size(arr) > CONFIG_MAX_S3_CREDENTIALS) {
        char what[64];
        snprintf(what, sizeof what, "has more than %d entries", CONFIG_MAX_S3_CREDENTIALS);
        return field_error(p, "s3.credentials", what);
    }
    c->s3.credential_count = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *cr = json_array_get(arr, i);
        char path[64], sub[96];
        snprintf(path, sizeof path, "s3.credentials[%zu]", i);
        if (!json_is_object(cr))
            return field_error(p, path,
                               "must be an object {\"access_key\": ..., \"secret_key\": ..., \"access\": "
                               "\"read\" | \"write\"}");
        int rc = check_known(p, cr, path, known);
        if (rc)
            return rc;
        config_s3_credential *out = &c->s3.credentials[i];
        int present = 0;
        snprintf(sub, sizeof sub, "%s.access_key", path);
        if ((rc =
                 get_str(p, cr, path, "access_key", 0, 0, out->access_key, sizeof out->access_key, &present)))
            return rc;
        if (!present)
            return field_error(p, sub, "is required");
        if (!s3_access_key_is_valid(out->access_key))
            return field_error(p, sub, "must be " S3_ACCESS_KEY_RULE);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->s3.credentials[j].access_key, out->access_key) == 0) {
                char what[128];
                snprintf(what, sizeof what,
                         "repeats s3.credentials[%zu].access_key: each access key may appear once", j);
                return field_error(p, sub, what);
            }
        }
        if ((rc = parse_s3_secret(p, cr, path, out)))
            return rc;
        int access = -1;
        if ((rc = get_enum(p, cr, path, "access", access_names, &access)))
            return rc;
        if (access < 0) {
            snprintf(sub, sizeof sub, "%s.access", path);
            return field_error(p, sub, "is required (read or write)");
        }
        out->access = access == 0 ? CONFIG_ACCESS_READ : CONFIG_ACCESS_WRITE;
        c->s3.credential_count++;
    }
    return 0;
}

/* The top-level "s3": the S3 API listener (not cold.s3, the cold tier's client). */
static int parse_s3_api(const cfg_parser *p, json_t *s, floe_config *c)
{
    static const char *const known[] = {
        "listen", "domain", "region", "credentials", "multipart_max_age_s", "list_max_keys", "tls", NULL};
    int rc = check_known(p, s, "s3", known);
    if (rc)
        return rc;
    int present = 0;
    char listen[CONFIG_MAX_LISTEN_BYTES + 1];
    if ((rc = get_str(p, s, "s3", "listen", 1, 0, listen, sizeof listen, &present)))
        return rc;
    if (present) {
        c->s3.listen[0] = c->s3.listen_host[0] = '\0';
        c->s3.listen_port = 0;
        if (listen[0] &&
            parse_listen(listen, c->s3.listen_host, sizeof c->s3.listen_host, &c->s3.listen_port))
            return field_error(p, "s3.listen",
                               "must be host:port, e.g. 127.0.0.1:9000 or [::1]:9000, or \"\" for no S3 API");
        copy_str(c->s3.listen, sizeof c->s3.listen, listen);
        c->s3.enabled = listen[0] != '\0';
    }
    present = 0;
    if ((rc = get_str(p, s, "s3", "domain", 1, 0, c->s3.domain, sizeof c->s3.domain, &present)))
        return rc;
    if (present && c->s3.domain[0] && !domain_is_valid(c->s3.domain))
        return field_error(p, "s3.domain",
                           "must be \"\" or a lowercase DNS name such as s3.example.com (a-z, 0-9, '-' and "
                           "'.'; no scheme, port or trailing dot; not an IP address)");
    present = 0;
    if ((rc = get_str(p, s, "s3", "region", 0, 0, c->s3.region, sizeof c->s3.region, &present)))
        return rc;
    if (present && !region_is_valid(c->s3.region))
        return field_error(p, "s3.region", "must be 1..64 letters, digits, '-' and '_', e.g. us-east-1");
    if ((rc =
             get_u32(p, s, "s3", "multipart_max_age_s", 1, 10u * 365 * 86400, &c->s3.multipart_max_age_s)) ||
        (rc = get_u32(p, s, "s3", "list_max_keys", 1, 100000, &c->s3.list_max_keys)))
        return rc;
    json_t *credentials = json_object_get(s, "credentials");
    if (credentials && (rc = parse_s3_credentials(p, credentials, c)))
        return rc;
    return parse_tls(p, s, "s3", &c->s3.tls);
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
    static const char *const known[] = {"data_dir",   "http",   "wal",    "segment", "cache",
                                        "local",      "cold",   "upload", "gc",      "retention",
                                        "compaction", "object", "s3",     NULL};
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
    if ((rc = get_section(p, root, "", "s3", &sec)) || (sec && (rc = parse_s3_api(p, sec, c))))
        return rc;
    return 0;
}

/* FLOE_S3_ACCESS_KEY with FLOE_S3_SECRET_KEY: one more S3 API credential, with write access. */
static int apply_env_s3(const cfg_parser *p, floe_config *c)
{
    const char *ak = getenv("FLOE_S3_ACCESS_KEY"), *sk = getenv("FLOE_S3_SECRET_KEY");
    int has_ak = ak && ak[0], has_sk = sk && sk[0];
    if (has_ak != has_sk)
        return err_set(FLOE_EINVAL,
                       "environment variable %s is set but %s is not: set both to add an S3 API credential, "
                       "or neither",
                       has_ak ? "FLOE_S3_ACCESS_KEY" : "FLOE_S3_SECRET_KEY",
                       has_ak ? "FLOE_S3_SECRET_KEY" : "FLOE_S3_ACCESS_KEY");
    if (!has_ak)
        return 0;
    if (!s3_access_key_is_valid(ak))
        return err_set(FLOE_EINVAL, "environment variable FLOE_S3_ACCESS_KEY must be " S3_ACCESS_KEY_RULE);
    if (!s3_secret_key_is_valid(sk))
        return err_set(FLOE_EINVAL, "environment variable FLOE_S3_SECRET_KEY must be " S3_SECRET_KEY_RULE);
    for (size_t i = 0; i < c->s3.credential_count; i++) {
        if (strcmp(c->s3.credentials[i].access_key, ak) == 0)
            return err_set(
                FLOE_EINVAL,
                "%s: environment variable FLOE_S3_ACCESS_KEY repeats s3.credentials[%zu].access_key: "
                "each access key may appear once",
                p->file, i);
    }
    if (c->s3.credential_count >= CONFIG_MAX_S3_CREDENTIALS)
        return err_set(FLOE_EINVAL,
                       "%s: FLOE_S3_ACCESS_KEY does not fit: s3.credentials already has %d entries", p->file,
                       CONFIG_MAX_S3_CREDENTIALS);
    config_s3_credential *cr = &c->s3.credentials[c->s3.credential_count++];
    copy_str(cr->access_key, sizeof cr->access_key, ak);
    copy_str(cr->secret_key, sizeof cr->secret_key, sk);
    cr->access = CONFIG_ACCESS_WRITE;
    return 0;
}

/* The rules between the listeners that no single field shows: the S3 API has its own port, and
 * has a credential once the environment is applied, since every S3 request is signed. */
static int check_listeners(const cfg_parser *p, const floe_config *c)
{
    if (!c->s3.enabled)
        return 0;
    if (c->s3.listen_port != 0 && c->s3.listen_port == c->http.listen_port &&
        listen_hosts_overlap(c->s3.listen_host, c->http.listen_host)) {
        char what[CONFIG_MAX_LISTEN_BYTES + 96];
        snprintf(what, sizeof what,
                 "must not use the port of http.listen (%s): give the S3 API a port of its own",
                 c->http.listen);
        return field_error(p, "s3.listen", what);
    }
    if (c->s3.credential_count == 0)
        return field_error(p, "s3.credentials",
                           "must have an entry when s3.listen is set: every S3 request is signed (or set "
                           "FLOE_S3_ACCESS_KEY and FLOE_S3_SECRET_KEY)");
    return 0;
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
    return apply_env_s3(p, c);
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
        int err = read_capped_file(path, CONFIG_MAX_FILE_BYTES, &text, &len);
        if (err == EFBIG)
            rc = err_set(FLOE_EINVAL, "%s: config file is larger than %d bytes", path, CONFIG_MAX_FILE_BYTES);
        else if (err == ENOMEM)
            rc = err_set(FLOE_ENOMEM, "%s: out of memory reading the config file", path);
        else if (err)
            rc = err_set(FLOE_EIO, "%s: cannot read config file: %s", path, strerror(err));
        if (rc)
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
    if ((rc = apply_env(&p, c)) || (rc = check_listeners(&p, c)))
        goto out;
    memcpy(out, c, sizeof *c);
    fix_pointers(out);
    /* out owns the PEM text now */
    memset(&c->http.tls, 0, sizeof c->http.tls);
    memset(&c->s3.tls, 0, sizeof c->s3.tls);
out:
    json_decref(root);
    if (text) {
        wipe(text, len);
        free(text);
    }
    config_free(c);
    free(c);
    return rc;
}
