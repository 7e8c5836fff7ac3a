/* The config file: defaults, every field, and errors that name the field. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "options.h"
#include "testutil.h"

static char *tmp_dir;
static char cfg_path[512];

static void clear_env(void)
{
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_REGION");
    unsetenv("FLOE_TOKEN");
}

static void setup(void)
{
    clear_env();
    tmp_dir = tu_tmpdir("config");
    snprintf(cfg_path, sizeof cfg_path, "%s/floe.json", tmp_dir);
}

static void teardown(void)
{
    tu_rmrf(tmp_dir);
    free(tmp_dir);
    clear_env();
}

/* Writes text as the config file and loads it; returns config_load's result. */
static int load_text(const char *text, floe_config *c)
{
    tu_write_file(cfg_path, text, strlen(text));
    return config_load(cfg_path, c);
}

/* Loads text expecting FLOE_EINVAL with a message containing each of the NULL-terminated needles. */
static void expect_error(const char *text, const char *needle1, const char *needle2)
{
    floe_config *c = malloc(sizeof *c);
    memset(c, 0xab, sizeof *c);
    int rc = load_text(text, c);
    ck_assert_msg(rc == FLOE_EINVAL, "config %s loaded (rc %d), expected an error", text, rc);
    const char *msg = floe_last_error();
    ck_assert_msg(strstr(msg, needle1) != NULL, "message '%s' does not contain '%s'", msg, needle1);
    if (needle2)
        ck_assert_msg(strstr(msg, needle2) != NULL, "message '%s' does not contain '%s'", msg, needle2);
    ck_assert_msg(strstr(msg, cfg_path) != NULL, "message '%s' does not name the file", msg);
    /* out is untouched on failure */
    ck_assert_int_eq(((unsigned char *)c)[0], 0xab);
    free(c);
}

/* The JSON text that sets the option named by l (a dotted floe_options path) to v; the store's
 * max_object_bytes is the file's http.max_object_bytes. */
static void option_json(const option_limit *l, uint64_t v, char *out, size_t cap)
{
    char path[128];
    snprintf(path, sizeof path, "%s", strcmp(l->name, "max_object_bytes") == 0 ? "http.max_object_bytes" : l->name);
    size_t used = 0;
    int depth = 0;
    char *save = NULL;
    for (char *part = strtok_r(path, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
        char *next = save && *save ? save : NULL;
        used += (size_t)snprintf(out + used, cap - used, next ? "{\"%s\": " : "{\"%s\": %llu", part,
                                 (unsigned long long)v);
        depth++;
    }
    while (depth--)
        used += (size_t)snprintf(out + used, cap - used, "}");
}

START_TEST(config_and_floe_open_accept_the_same_option_ranges)
{
    size_t checked = 0;
    floe_options defaults;
    floe_options_init(&defaults);
    for (size_t i = 0; options_limit_at(i); i++) {
        const option_limit *l = options_limit_at(i);
        uint64_t d = options_get(&defaults, l);
        ck_assert_msg(d >= l->min && d <= l->max, "%s: the default %llu is outside %llu..%llu", l->name,
                      (unsigned long long)d, (unsigned long long)l->min, (unsigned long long)l->max);
        char text[512];
        floe_config *c = malloc(sizeof *c);
        /* Both ends of the range load from the file and pass floe_open's checks. */
        uint64_t ends[2] = {l->min, l->max};
        for (int e = 0; e < 2; e++) {
            option_json(l, ends[e], text, sizeof text);
            ck_assert_msg(load_text(text, c) == 0, "%s: config refused %s: %s", l->name, text, floe_last_error());
            floe_options o = c->options;
            ck_assert_msg(options_check(&o) == 0, "%s = %llu: floe_open would refuse it: %s", l->name,
                          (unsigned long long)ends[e], floe_last_error());
            config_free(c);
        }
        /* One past either end is refused by both, each naming the field. */
        uint64_t outside[2] = {l->min - 1, l->max + 1};
        int has_outside[2] = {l->min > 0, l->max < (l->width == 4 ? UINT32_MAX : UINT64_MAX)};
        for (int e = 0; e < 2; e++) {
            if (!has_outside[e] || outside[e] > (uint64_t)INT64_MAX)
                continue;
            option_json(l, outside[e], text, sizeof text);
            ck_assert_msg(load_text(text, c) == FLOE_EINVAL, "%s: config accepted %s", l->name, text);
            floe_options o;
            floe_options_init(&o);
            options_set(&o, l, outside[e]);
            ck_assert_msg(options_check(&o) == FLOE_EINVAL, "%s = %llu: floe_open would accept it", l->name,
                          (unsigned long long)outside[e]);
            ck_assert_msg(strstr(floe_last_error(), l->name) != NULL, "message '%s' does not name %s",
                          floe_last_error(), l->name);
        }
        free(c);
        checked++;
    }
    ck_assert_uint_ge(checked, 21);
}
END_TEST

START_TEST(config_defaults_are_documented_values)
{
    floe_config *c = malloc(sizeof *c);
    config_init_defaults(c);
    ck_assert_str_eq(c->data_dir, "./data");
    ck_assert_str_eq(c->http.listen, "127.0.0.1:8080");
    ck_assert_str_eq(c->http.listen_host, "127.0.0.1");
    ck_assert_uint_eq(c->http.listen_port, 8080);
    ck_assert_uint_eq(c->http.threads, 0);
    ck_assert_uint_eq(c->http.write_threads, 16);
    ck_assert_uint_eq(c->http.token_count, 0);
    ck_assert_int_eq(c->http.allow_unauthenticated_remote, 0);
    ck_assert_uint_eq(c->http.max_header_bytes, 16384);
    ck_assert_uint_eq(c->http.max_headers, 64);
    ck_assert_uint_eq(c->http.idle_timeout_s, 30);
    ck_assert_uint_eq(c->http.max_body_bytes_in_flight, 1ull << 30);
    ck_assert_uint_eq(c->http.max_response_bytes_in_flight, 256ull << 20);
    ck_assert_uint_eq(c->http.response_wait_ms, 1000);
    ck_assert_uint_eq(c->options.max_object_bytes, 5ull << 30);
    ck_assert_int_eq(c->options.wal.sync, FLOE_SYNC_ALWAYS);
    ck_assert_uint_eq(c->options.wal.interval_ms, 5);
    ck_assert_uint_eq(c->options.segment.max_bytes, 64ull << 20);
    ck_assert_uint_eq(c->options.segment.max_age_s, 600);
    ck_assert_uint_eq(c->options.segment.block_bytes, 65536);
    ck_assert_int_eq(c->options.segment.compression, FLOE_COMPRESSION_NONE);
    ck_assert_uint_eq(c->options.cache.object_bytes, 256ull << 20);
    ck_assert_uint_eq(c->options.cache.decoded_block_bytes, 64ull << 20);
    ck_assert_uint_eq(c->options.cache.meta_bytes, 128ull << 20);
    ck_assert_uint_eq(c->options.cache.block_bytes, 1ull << 30);
    ck_assert_uint_eq(c->options.local.max_bytes, 10ull << 30);
    ck_assert_int_eq(c->options.cold.backend, FLOE_COLD_FS);
    ck_assert_str_eq(c->options.cold.fs_path, "./data/cold");
    ck_assert_str_eq(c->options.cold.s3.endpoint, "http://127.0.0.1:9000");
    ck_assert_str_eq(c->options.cold.s3.bucket, "floe");
    ck_assert_str_eq(c->options.cold.s3.prefix, "");
    ck_assert_str_eq(c->options.cold.s3.region, "us-east-1");
    ck_assert_int_eq(c->options.cold.s3.path_style, 1);
    ck_assert_ptr_null(c->options.cold.s3.ca_file);
    ck_assert_ptr_null(c->options.cold.s3.access_key);
    ck_assert_uint_eq(c->options.upload.concurrency, 4);
    ck_assert_uint_eq(c->options.upload.part_bytes, 16ull << 20);
    ck_assert_uint_eq(c->options.upload.max_pending_bytes, 4ull << 30);
    ck_assert_uint_eq(c->options.gc.interval_s, 3600);
    ck_assert_uint_eq(c->options.gc.grace_s, 3600);
    ck_assert_uint_eq(c->options.object.chunk_bytes, 8u << 20);
    config_free(c);
    free(c);
}
END_TEST

/* The shipped config/floe.json is the embedded default: loading it changes nothing. */
START_TEST(config_shipped_file_equals_defaults)
{
    floe_config *d = malloc(sizeof *d), *c = malloc(sizeof *c);
    config_init_defaults(d);
    ck_assert_int_eq(config_load(FLOE_SOURCE_DIR "/config/floe.json", c), 0);
    ck_assert_str_eq(c->data_dir, d->data_dir);
    ck_assert_str_eq(c->http.listen, d->http.listen);
    ck_assert_uint_eq(c->http.listen_port, d->http.listen_port);
    ck_assert_uint_eq(c->http.threads, d->http.threads);
    ck_assert_uint_eq(c->http.token_count, 0);
    ck_assert_str_eq(c->cold_fs_path, d->cold_fs_path);
    ck_assert_str_eq(c->s3_endpoint, d->s3_endpoint);
    ck_assert_str_eq(c->s3_bucket, d->s3_bucket);
    ck_assert_str_eq(c->s3_region, d->s3_region);
    /* every number and enum in options, with the string pointers compared above */
    floe_options a, b;
    memcpy(&a, &c->options, sizeof a);
    memcpy(&b, &d->options, sizeof b);
    a.cold.fs_path = b.cold.fs_path = NULL;
    a.cold.s3.endpoint = b.cold.s3.endpoint = NULL;
    a.cold.s3.bucket = b.cold.s3.bucket = NULL;
    a.cold.s3.prefix = b.cold.s3.prefix = NULL;
    a.cold.s3.region = b.cold.s3.region = NULL;
    ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
    ck_assert_int_eq(memcmp(&c->http, &d->http, sizeof c->http), 0);
    config_free(c);
    config_free(d);
    free(c);
    free(d);
}
END_TEST

START_TEST(config_minio_file_loads_with_s3_backend)
{
    floe_config *c = malloc(sizeof *c);
    ck_assert_int_eq(config_load(FLOE_SOURCE_DIR "/config/floe-minio.json", c), 0);
    ck_assert_int_eq(c->options.cold.backend, FLOE_COLD_S3);
    ck_assert_str_eq(c->options.cold.s3.endpoint, "http://minio:9000");
    ck_assert_str_eq(c->options.cold.s3.bucket, "floe");
    config_free(c);
    free(c);
}
END_TEST

START_TEST(config_every_field_is_parsed)
{
    const char *text =
        "{ \"data_dir\": \"/srv/floe\",\n"
        "  \"http\": { \"listen\": \"[::1]:9090\", \"threads\": 3, \"write_threads\": 5, "
        "\"max_object_bytes\": 1048576,\n"
        "    \"tokens\": [ {\"token\": \"r-tok\", \"access\": \"read\"}, {\"token\": \"w-tok\", \"access\": "
        "\"write\"} ],\n"
        "    \"allow_unauthenticated_remote\": true, \"max_header_bytes\": 8192, \"max_headers\": 20,\n"
        "    \"max_connections\": 99, \"max_connections_per_ip\": 7, \"idle_timeout_s\": 11,\n"
        "    \"min_body_bytes_per_s\": 12, \"body_grace_s\": 13, \"shutdown_grace_s\": 14, "
        "\"list_max_keys\": 15,\n"
        "    \"max_body_bytes_in_flight\": 2097152, \"max_response_bytes_in_flight\": 3145728,\n"
        "    \"response_wait_ms\": 16 },\n"
        "  \"wal\": { \"sync\": \"interval\", \"interval_ms\": 17, \"file_bytes\": 1048576 },\n"
        "  \"segment\": { \"max_bytes\": 2097152, \"max_age_s\": 19, \"block_bytes\": 4096, \"compression\": "
        "\"zstd\",\n"
        "    \"max_unwritten_bytes\": 8388608 },\n"
        "  \"cache\": { \"object_bytes\": 123, \"block_bytes\": 456, \"decoded_block_bytes\": 321, "
        "\"meta_bytes\": 654 },\n"
        "  \"local\": { \"max_bytes\": 789 },\n"
        "  \"cold\": { \"backend\": \"s3\", \"fs\": { \"path\": \"/mnt/cold\" },\n"
        "    \"s3\": { \"endpoint\": \"https://s3.example\", \"bucket\": \"bkt\", \"prefix\": \"p/q\",\n"
        "      \"region\": \"eu-west-3\", \"path_style\": false, \"ca_file\": \"/etc/ca.pem\",\n"
        "      \"timeout_ms\": 2500, \"max_retries\": 3 } },\n"
        "  \"upload\": { \"concurrency\": 9, \"part_bytes\": 8388608, \"max_pending_bytes\": 33554432,\n"
        "    \"wait_ms\": 77 },\n"
        "  \"gc\": { \"interval_s\": 120, \"grace_s\": 600 },\n"
        "  \"object\": { \"chunk_bytes\": 1048576 } }\n";
    floe_config *c = malloc(sizeof *c);
    ck_assert_int_eq(load_text(text, c), 0);
    ck_assert_str_eq(c->source, cfg_path);
    ck_assert_str_eq(c->data_dir, "/srv/floe");
    ck_assert_str_eq(c->http.listen, "[::1]:9090");
    ck_assert_str_eq(c->http.listen_host, "::1");
    ck_assert_uint_eq(c->http.listen_port, 9090);
    ck_assert_uint_eq(c->http.threads, 3);
    ck_assert_uint_eq(c->http.write_threads, 5);
    ck_assert_uint_eq(c->options.max_object_bytes, 1048576);
    ck_assert_uint_eq(c->http.token_count, 2);
    ck_assert_str_eq(c->http.tokens[0].token, "r-tok");
    ck_assert_int_eq(c->http.tokens[0].access, CONFIG_ACCESS_READ);
    ck_assert_str_eq(c->http.tokens[1].token, "w-tok");
    ck_assert_int_eq(c->http.tokens[1].access, CONFIG_ACCESS_WRITE);
    ck_assert_int_eq(c->http.allow_unauthenticated_remote, 1);
    ck_assert_uint_eq(c->http.max_header_bytes, 8192);
    ck_assert_uint_eq(c->http.max_headers, 20);
    ck_assert_uint_eq(c->http.max_connections, 99);
    ck_assert_uint_eq(c->http.max_connections_per_ip, 7);
    ck_assert_uint_eq(c->http.idle_timeout_s, 11);
    ck_assert_uint_eq(c->http.min_body_bytes_per_s, 12);
    ck_assert_uint_eq(c->http.body_grace_s, 13);
    ck_assert_uint_eq(c->http.shutdown_grace_s, 14);
    ck_assert_uint_eq(c->http.list_max_keys, 15);
    ck_assert_uint_eq(c->http.max_body_bytes_in_flight, 2097152);
    ck_assert_uint_eq(c->http.max_response_bytes_in_flight, 3145728);
    ck_assert_uint_eq(c->http.response_wait_ms, 16);
    ck_assert_int_eq(c->options.wal.sync, FLOE_SYNC_INTERVAL);
    ck_assert_uint_eq(c->options.wal.interval_ms, 17);
    ck_assert_uint_eq(c->options.wal.file_bytes, 1048576);
    ck_assert_uint_eq(c->options.segment.max_bytes, 2097152);
    ck_assert_uint_eq(c->options.segment.max_age_s, 19);
    ck_assert_uint_eq(c->options.segment.block_bytes, 4096);
    ck_assert_int_eq(c->options.segment.compression, FLOE_COMPRESSION_ZSTD);
    ck_assert_uint_eq(c->options.segment.max_unwritten_bytes, 8388608);
    ck_assert_uint_eq(c->options.cache.object_bytes, 123);
    ck_assert_uint_eq(c->options.cache.block_bytes, 456);
    ck_assert_uint_eq(c->options.cache.decoded_block_bytes, 321);
    ck_assert_uint_eq(c->options.cache.meta_bytes, 654);
    ck_assert_uint_eq(c->options.local.max_bytes, 789);
    ck_assert_int_eq(c->options.cold.backend, FLOE_COLD_S3);
    ck_assert_str_eq(c->options.cold.fs_path, "/mnt/cold");
    ck_assert_str_eq(c->options.cold.s3.endpoint, "https://s3.example");
    ck_assert_str_eq(c->options.cold.s3.bucket, "bkt");
    ck_assert_str_eq(c->options.cold.s3.prefix, "p/q");
    ck_assert_str_eq(c->options.cold.s3.region, "eu-west-3");
    ck_assert_int_eq(c->options.cold.s3.path_style, 0);
    ck_assert_str_eq(c->options.cold.s3.ca_file, "/etc/ca.pem");
    ck_assert_uint_eq(c->options.cold.s3.timeout_ms, 2500);
    ck_assert_uint_eq(c->options.cold.s3.max_retries, 3);
    ck_assert_uint_eq(c->options.upload.concurrency, 9);
    ck_assert_uint_eq(c->options.upload.part_bytes, 8388608);
    ck_assert_uint_eq(c->options.upload.max_pending_bytes, 33554432);
    ck_assert_uint_eq(c->options.upload.wait_ms, 77);
    ck_assert_uint_eq(c->options.gc.interval_s, 120);
    ck_assert_uint_eq(c->options.gc.grace_s, 600);
    ck_assert_uint_eq(c->options.object.chunk_bytes, 1048576);
    /* the options' strings live inside the config itself */
    ck_assert_ptr_eq(c->options.cold.fs_path, c->cold_fs_path);
    ck_assert_ptr_eq(c->options.cold.s3.bucket, c->s3_bucket);
    config_free(c);
    free(c);
}
END_TEST

START_TEST(config_unknown_field_is_named)
{
    expect_error("{\"dta_dir\": \"x\"}", "unknown field dta_dir", "data_dir");
    expect_error("{\"http\": {\"listne\": \"127.0.0.1:1\"}}", "unknown field http.listne", "listen");
    expect_error("{\"cold\": {\"s3\": {\"bucket\": \"b\", \"access_key\": \"k\"}}}",
                 "unknown field cold.s3.access_key", NULL);
    expect_error("{\"http\": {\"tokens\": [{\"token\": \"t\", \"access\": \"read\", \"role\": 1}]}}",
                 "unknown field http.tokens[0].role", NULL);
    expect_error("{\"cold\": {\"fs\": {\"dir\": \"/x\"}}}", "unknown field cold.fs.dir", NULL);
    expect_error("{\"gc\": {\"keep_manifests\": 3}}", "unknown field gc.keep_manifests", "interval_s");
}
END_TEST

START_TEST(config_wrong_type_is_named)
{
    expect_error("{\"data_dir\": 5}", "field data_dir must be a string", NULL);
    expect_error("{\"http\": {\"threads\": \"4\"}}", "field http.threads must be an integer", NULL);
    expect_error("{\"http\": {\"threads\": 4.0}}", "field http.threads must be an integer", NULL);
    expect_error("{\"wal\": []}", "field wal must be an object", NULL);
    expect_error("{\"cold\": {\"s3\": {\"path_style\": 1}}}",
                 "field cold.s3.path_style must be true or false", NULL);
    expect_error("{\"http\": {\"tokens\": {\"token\": \"t\"}}}", "field http.tokens must be an array", NULL);
    expect_error("{\"http\": {\"tokens\": [\"t\"]}}", "field http.tokens[0] must be an object", NULL);
    expect_error("{\"cold\": {\"s3\": {\"ca_file\": 3}}}", "field cold.s3.ca_file must be a string or null",
                 NULL);
    expect_error("[1, 2]", "must be a JSON object", NULL);
}
END_TEST

START_TEST(config_bad_enum_is_named)
{
    floe_config *c = malloc(sizeof *c);
    ck_assert_int_eq(load_text("{\"wal\": {\"sync\": \"sometimes\"}}", c), FLOE_EINVAL);
    char want[700];
    snprintf(want, sizeof want, "%s: field wal.sync must be one of always, interval, never", cfg_path);
    ck_assert_str_eq(floe_last_error(), want);
    free(c);
    expect_error("{\"segment\": {\"compression\": \"lz4\"}}",
                 "field segment.compression must be one of zstd, none", NULL);
    expect_error("{\"cold\": {\"backend\": \"gcs\"}}", "field cold.backend must be one of none, fs, s3",
                 NULL);
    expect_error("{\"http\": {\"tokens\": [{\"token\": \"t\", \"access\": \"admin\"}]}}",
                 "field http.tokens[0].access must be one of read, write", NULL);
}
END_TEST

START_TEST(config_out_of_range_is_named)
{
    expect_error("{\"http\": {\"threads\": -1}}", "field http.threads must be an integer between 0 and 1024",
                 NULL);
    expect_error("{\"http\": {\"max_object_bytes\": 0}}", "field http.max_object_bytes", "between 1 and");
    expect_error("{\"http\": {\"max_object_bytes\": 5497558138881}}", "field http.max_object_bytes", NULL);
    expect_error("{\"object\": {\"chunk_bytes\": 4095}}", "field object.chunk_bytes", NULL);
    expect_error("{\"object\": {\"chunk_bytes\": 268435457}}", "field object.chunk_bytes", NULL);
    expect_error("{\"object\": {\"chunk_bytes\": 1048576, \"x\": 1}}", "object.x", NULL);
    expect_error("{\"segment\": {\"block_bytes\": 100}}", "field segment.block_bytes", NULL);
    expect_error("{\"upload\": {\"part_bytes\": 1024}}", "field upload.part_bytes", NULL);
    expect_error("{\"gc\": {\"interval_s\": 604801}}", "field gc.interval_s", "between 0 and 604800");
    expect_error("{\"gc\": {\"grace_s\": 2592001}}", "field gc.grace_s", "between 0 and 2592000");
    expect_error("{\"gc\": {\"grace_s\": -1}}", "field gc.grace_s", NULL);
    expect_error("{\"gc\": 5}", "field gc must be an object", NULL);
    expect_error("{\"data_dir\": \"\"}", "field data_dir must not be empty", NULL);
    expect_error("{\"http\": {\"max_response_bytes_in_flight\": 0}}",
                 "field http.max_response_bytes_in_flight", "between 1 and");
    expect_error("{\"http\": {\"max_response_bytes_in_flight\": 1099511627777}}",
                 "field http.max_response_bytes_in_flight", NULL);
    expect_error("{\"http\": {\"response_wait_ms\": 60001}}",
                 "field http.response_wait_ms must be an integer between 0 and 60000", NULL);
    expect_error("{\"http\": {\"response_wait_ms\": -1}}", "field http.response_wait_ms", NULL);
    expect_error("{\"object\": {\"chunk_bytes\": 1048576}, \"http\": {\"max_body_bytes_in_flight\": 1048575}}",
                 "field http.max_body_bytes_in_flight must be at least object.chunk_bytes", NULL);
    expect_error("{\"cold\": {\"s3\": {\"endpoint\": \"s3.example.com\"}}}",
                 "field cold.s3.endpoint must start with http:// or https://", NULL);
    expect_error("{\"http\": {\"tokens\": [{\"token\": \"has space\", \"access\": \"read\"}]}}",
                 "field http.tokens[0].token must be printable ASCII", NULL);
    expect_error("{\"http\": {\"tokens\": [{\"access\": \"read\"}]}}",
                 "field http.tokens[0].token is required", NULL);
    expect_error("{\"http\": {\"tokens\": [{\"token\": \"abc\"}]}}",
                 "field http.tokens[0].access is required", NULL);
}
END_TEST

START_TEST(config_listen_forms)
{
    floe_config *c = malloc(sizeof *c);
    ck_assert_int_eq(load_text("{\"http\": {\"listen\": \"localhost:0\"}}", c), 0);
    ck_assert_str_eq(c->http.listen_host, "localhost");
    ck_assert_uint_eq(c->http.listen_port, 0);
    ck_assert_int_eq(load_text("{\"http\": {\"listen\": \"0.0.0.0:65535\"}}", c), 0);
    ck_assert_uint_eq(c->http.listen_port, 65535);
    free(c);
    const char *bad[] = {"8080", "host:", ":80", "host:70000", "::1:80", "[::1]80", "host:8o", "a b:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"http\": {\"listen\": \"%s\"}}", bad[i]);
        expect_error(text, "field http.listen must be host:port", NULL);
    }
}
END_TEST

START_TEST(config_bad_json_names_line_and_column)
{
    expect_error("{\n  \"data_dir\": \"x\",\n  oops\n}", ":3:", "invalid JSON");
    expect_error("{\"data_dir\": \"a\", \"data_dir\": \"b\"}", "invalid JSON", "duplicate");
}
END_TEST

START_TEST(config_missing_file_is_named)
{
    floe_config *c = malloc(sizeof *c);
    ck_assert_int_eq(config_load("/nonexistent/floe.json", c), FLOE_EIO);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "/nonexistent/floe.json"));
    free(c);
}
END_TEST

START_TEST(config_env_secrets_apply)
{
    floe_config *c = malloc(sizeof *c);
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret/key+1", 1);
    setenv("AWS_REGION", "ap-south-1", 1);
    setenv("FLOE_TOKEN", "env-write-token", 1);
    ck_assert_int_eq(load_text("{\"http\": {\"tokens\": [{\"token\": \"r\", \"access\": \"read\"}]}}", c), 0);
    ck_assert_str_eq(c->options.cold.s3.access_key, "AKIDEXAMPLE");
    ck_assert_str_eq(c->options.cold.s3.secret_key, "secret/key+1");
    ck_assert_str_eq(c->options.cold.s3.region, "ap-south-1");
    ck_assert_uint_eq(c->http.token_count, 2);
    ck_assert_str_eq(c->http.tokens[1].token, "env-write-token");
    ck_assert_int_eq(c->http.tokens[1].access, CONFIG_ACCESS_WRITE);
    /* a region named in the file wins over AWS_REGION */
    ck_assert_int_eq(load_text("{\"cold\": {\"s3\": {\"region\": \"us-west-2\"}}}", c), 0);
    ck_assert_str_eq(c->options.cold.s3.region, "us-west-2");
    /* the environment applies without a file too */
    ck_assert_int_eq(config_load(NULL, c), 0);
    ck_assert_str_eq(c->options.cold.s3.access_key, "AKIDEXAMPLE");
    ck_assert_uint_eq(c->http.token_count, 1);
    /* a bad FLOE_TOKEN is named */
    setenv("FLOE_TOKEN", "two words", 1);
    ck_assert_int_eq(config_load(NULL, c), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "FLOE_TOKEN"));
    config_free(c);
    /* config_free wipes the secrets */
    ck_assert_int_eq(c->s3_secret_key[0], 0);
    free(c);
}
END_TEST

START_TEST(config_too_many_tokens_is_an_error)
{
    char *text = malloc(64 * 1024);
    size_t used = (size_t)sprintf(text, "{\"http\": {\"tokens\": [");
    for (int i = 0; i <= CONFIG_MAX_TOKENS; i++)
        used += (size_t)sprintf(text + used, "%s{\"token\": \"t%d\", \"access\": \"read\"}", i ? "," : "", i);
    sprintf(text + used, "]}}");
    expect_error(text, "field http.tokens has more than", NULL);
    free(text);
}
END_TEST

START_TEST(config_loopback_detection)
{
    ck_assert_int_eq(config_host_is_loopback("127.0.0.1"), 1);
    ck_assert_int_eq(config_host_is_loopback("127.1.2.3"), 1);
    ck_assert_int_eq(config_host_is_loopback("::1"), 1);
    ck_assert_int_eq(config_host_is_loopback("localhost"), 1);
    ck_assert_int_eq(config_host_is_loopback("0.0.0.0"), 0);
    ck_assert_int_eq(config_host_is_loopback("::"), 0);
    ck_assert_int_eq(config_host_is_loopback("10.0.0.1"), 0);
    ck_assert_int_eq(config_host_is_loopback("example.com"), 0);
}
END_TEST

START_TEST(config_retention_rules_are_parsed)
{
    floe_config *c = malloc(sizeof *c);
    ck_assert_int_eq(load_text("{\"retention\": [{\"prefix\": \"logs/\", \"max_age_s\": 2592000},"
                               " {\"prefix\": \"logs/audit/\", \"max_age_s\": 0},"
                               " {\"max_age_s\": 86400, \"prefix\": \"\"}]}",
                               c),
                     0);
    ck_assert_uint_eq(c->options.retention_count, 3);
    ck_assert_ptr_eq(c->options.retention, c->retention);
    ck_assert_str_eq(c->options.retention[0].prefix, "logs/");
    ck_assert_uint_eq(c->options.retention[0].max_age_s, 2592000);
    ck_assert_str_eq(c->options.retention[1].prefix, "logs/audit/");
    ck_assert_uint_eq(c->options.retention[1].max_age_s, 0);
    ck_assert_str_eq(c->options.retention[2].prefix, "");
    ck_assert_uint_eq(c->options.retention[2].max_age_s, 86400);
    /* floe_open takes exactly what the config parsed. */
    ck_assert_int_eq(options_check(&c->options), 0);
    config_free(c);
    /* Without the section there are no rules. */
    ck_assert_int_eq(load_text("{}", c), 0);
    ck_assert_uint_eq(c->options.retention_count, 0);
    ck_assert_ptr_null(c->options.retention);
    config_free(c);
    free(c);
}
END_TEST

START_TEST(config_bad_retention_rules_are_named)
{
    expect_error("{\"retention\": {\"prefix\": \"a\"}}", "field retention must be an array", NULL);
    expect_error("{\"retention\": [\"logs/\"]}", "field retention[0] must be an object", NULL);
    expect_error("{\"retention\": [{\"prefix\": \"a\", \"max_age_s\": -1}]}", "field retention[0].max_age_s",
                 "must be an integer between 0 and");
    expect_error("{\"retention\": [{\"prefix\": \"a\", \"max_age_s\": 1.5}]}", "field retention[0].max_age_s",
                 "must be an integer");
    expect_error("{\"retention\": [{\"prefix\": \"a\", \"max_age_s\": \"60\"}]}",
                 "field retention[0].max_age_s", "must be an integer");
    expect_error("{\"retention\": [{\"prefix\": \"a\", \"max_age_s\": 4000000000000}]}",
                 "field retention[0].max_age_s", "must be an integer between 0 and");
    expect_error("{\"retention\": [{\"prefix\": \"a\", \"max_age_s\": 1}, {\"max_age_s\": 60}]}",
                 "field retention[1].prefix is required", NULL);
    expect_error("{\"retention\": [{\"prefix\": \"a\"}]}", "field retention[0].max_age_s is required", NULL);
    expect_error("{\"retention\": [{\"prefix\": 7, \"max_age_s\": 1}]}",
                 "field retention[0].prefix must be a string", NULL);
    expect_error("{\"retention\": [{\"prefix\": \"a\", \"max_age_s\": 1, \"max_age\": 2}]}",
                 "unknown field retention[0].max_age", "known fields here: prefix, max_age_s");
    expect_error(
        "{\"retention\": [{\"prefix\": \"a/\", \"max_age_s\": 1}, {\"prefix\": \"b/\", \"max_age_s\": 1},"
        " {\"prefix\": \"a/\", \"max_age_s\": 5}]}",
        "field retention[2].prefix repeats retention[0].prefix", NULL);
    char *many = malloc(65 * 40 + 64);
    size_t n = (size_t)sprintf(many, "{\"retention\": [");
    for (int i = 0; i < 65; i++)
        n += (size_t)sprintf(many + n, "%s{\"prefix\": \"p%d/\", \"max_age_s\": 1}", i ? ", " : "", i);
    sprintf(many + n, "]}");
    expect_error(many, "field retention has more than 64 rules", NULL);
    free(many);
}
END_TEST

/* floe_open's own check of rules given through floe_options names the rule too. */
START_TEST(config_retention_options_are_checked_like_the_file)
{
    floe_options o;
    floe_options_init(&o);
    floe_retention_rule rules[3] = {{"logs/", 60}, {"", 0}, {"logs/", 5}};
    o.retention = rules;
    o.retention_count = 2;
    ck_assert_int_eq(options_check(&o), 0);
    o.retention_count = 3;
    ck_assert_int_eq(options_check(&o), FLOE_EINVAL);
    ck_assert_ptr_nonnull(
        strstr(floe_last_error(), "option retention[2].prefix \"logs/\" repeats retention[0]"));
    rules[2].prefix = NULL;
    ck_assert_int_eq(options_check(&o), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "option retention[2].prefix is NULL"));
    rules[2].prefix = "tmp/";
    rules[2].max_age_s = 100ull * 366 * 86400 + 1;
    ck_assert_int_eq(options_check(&o), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "option retention[2].max_age_s must be 0.."));
    o.retention = NULL;
    ck_assert_int_eq(options_check(&o), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "option retention is NULL"));
    o.retention_count = 65;
    ck_assert_int_eq(options_check(&o), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "at most 64"));
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, config_defaults_are_documented_values);
    tcase_add_test(tc, config_shipped_file_equals_defaults);
    tcase_add_test(tc, config_minio_file_loads_with_s3_backend);
    tcase_add_test(tc, config_every_field_is_parsed);
    tcase_add_test(tc, config_unknown_field_is_named);
    tcase_add_test(tc, config_wrong_type_is_named);
    tcase_add_test(tc, config_bad_enum_is_named);
    tcase_add_test(tc, config_out_of_range_is_named);
    tcase_add_test(tc, config_listen_forms);
    tcase_add_test(tc, config_bad_json_names_line_and_column);
    tcase_add_test(tc, config_missing_file_is_named);
    tcase_add_test(tc, config_env_secrets_apply);
    tcase_add_test(tc, config_too_many_tokens_is_an_error);
    tcase_add_test(tc, config_loopback_detection);
    tcase_add_test(tc, config_and_floe_open_accept_the_same_option_ranges);
    tcase_add_test(tc, config_retention_rules_are_parsed);
    tcase_add_test(tc, config_bad_retention_rules_are_named);
    tcase_add_test(tc, config_retention_options_are_checked_like_the_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(config_suite());
}
