/* Fuzzes the config file parser (src/config.c, docs/configuration.md). Outside bytes: the JSON
 * config file an operator writes (floe serve --config). The input is written to a scratch file and
 * loaded with config_load, with the environment variables it reads unset.
 *
 * Asserts: no memory error or undefined behaviour; config_load returns 0, FLOE_EINVAL or FLOE_EIO,
 * with a message on error; a loaded config's strings are NUL-terminated within their arrays, its
 * token count is within CONFIG_MAX_TOKENS and every token is 1..CONFIG_MAX_TOKEN_BYTES printable
 * bytes; the options point into the config; config_host_is_loopback accepts its listen host. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "floe.h"
#include "fuzz_common.h"

static void check_str(const char *s, size_t cap)
{
    FUZZ_CHECK(memchr(s, '\0', cap) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int env_cleared;
    if (!env_cleared) {
        unsetenv("AWS_ACCESS_KEY_ID");
        unsetenv("AWS_SECRET_ACCESS_KEY");
        unsetenv("AWS_REGION");
        unsetenv("FLOE_TOKEN");
        env_cleared = 1;
    }
    if (size > CONFIG_MAX_FILE_BYTES + 16)
        return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/floe.json", fuzz_scratch_dir("config"));
    fuzz_write_file(path, data, size);
    floe_config *c = malloc(sizeof *c);
    if (!c)
        return 0;
    memset(c, 0xa5, sizeof *c); /* untouched on failure: nothing below reads it then */
    int rc = config_load(path, c);
    if (rc != 0) {
        FUZZ_CHECK(rc == FLOE_EINVAL || rc == FLOE_EIO || rc == FLOE_ENOMEM);
        FUZZ_CHECK(floe_last_error()[0] != '\0');
        free(c);
        return 0;
    }
    check_str(c->data_dir, sizeof c->data_dir);
    check_str(c->http.listen, sizeof c->http.listen);
    check_str(c->http.listen_host, sizeof c->http.listen_host);
    check_str(c->cold_fs_path, sizeof c->cold_fs_path);
    check_str(c->s3_endpoint, sizeof c->s3_endpoint);
    check_str(c->s3_bucket, sizeof c->s3_bucket);
    check_str(c->s3_prefix, sizeof c->s3_prefix);
    check_str(c->s3_region, sizeof c->s3_region);
    check_str(c->s3_ca_file, sizeof c->s3_ca_file);
    FUZZ_CHECK(c->http.token_count <= CONFIG_MAX_TOKENS);
    for (size_t i = 0; i < c->http.token_count; i++) {
        const char *t = c->http.tokens[i].token;
        size_t n = strnlen(t, sizeof c->http.tokens[i].token);
        FUZZ_CHECK(n >= 1 && n <= CONFIG_MAX_TOKEN_BYTES);
        for (size_t j = 0; j < n; j++)
            FUZZ_CHECK(t[j] > 0x20 && t[j] < 0x7f);
        FUZZ_CHECK(c->http.tokens[i].access == CONFIG_ACCESS_READ ||
                   c->http.tokens[i].access == CONFIG_ACCESS_WRITE);
    }
    (void)config_host_is_loopback(c->http.listen_host);
    config_free(c);
    free(c);
    return 0;
}
