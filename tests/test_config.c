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
    unsetenv("FLOE_S3_ACCESS_KEY");
    unsetenv("FLOE_S3_SECRET_KEY");
    unsetenv("FLOE_TEST_S3_SECRET");
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

/* Loads text expecting the error code with a message containing needle1 and needle2 (unless NULL)
 * and naming the file. */
static void expect_error_code(int code, const char *text, const char *needle1, const char *needle2)
{
    floe_config *c = malloc(sizeof *c);
    memset(c, 0xab, sizeof *c);
    int rc = load_text(text, c);
    ck_assert_msg(rc == code, "config %s: rc %d, expected %d (%s)", text, rc, code, floe_last_error());
    const char *msg = floe_last_error();
    ck_assert_msg(strstr(msg, needle1) != NULL, "message '%s' does not contain '%s'", msg, needle1);
    if (needle2)
        ck_assert_msg(strstr(msg, needle2) != NULL, "message '%s' does not contain '%s'", msg, needle2);
    ck_assert_msg(strstr(msg, cfg_path) != NULL, "message '%s' does not name the file", msg);
    /* out is untouched on failure */
    ck_assert_int_eq(((unsigned char *)c)[0], 0xab);
    free(c);
}

/* Loads text expecting FLOE_EINVAL with a message containing needle1 and needle2 (unless NULL). */
static void expect_error(const char *text, const char *needle1, const char *needle2)
{
    expect_error_code(FLOE_EINVAL, text, needle1, needle2);
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
    ck_assert_int_eq(c->http.tls.enabled, 0);
    ck_assert_ptr_null(c->http.tls.cert_pem);
    ck_assert_ptr_null(c->http.tls.key_pem);
    /* the S3 API is off, and these apply once it is on */
    ck_assert_int_eq(c->s3.enabled, 0);
    ck_assert_str_eq(c->s3.listen, "");
    ck_assert_str_eq(c->s3.domain, "");
    ck_assert_str_eq(c->s3.region, "us-east-1");
    ck_assert_uint_eq(c->s3.credential_count, 0);
    ck_assert_uint_eq(c->s3.multipart_max_age_s, 604800);
    ck_assert_uint_eq(c->s3.list_max_keys, 1000);
    ck_assert_int_eq(c->s3.tls.enabled, 0);
    ck_assert_ptr_null(c->s3.tls.cert_pem);
    ck_assert_ptr_null(c->s3.tls.key_pem);
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
    ck_assert_int_eq(memcmp(&c->s3, &d->s3, sizeof c->s3), 0);
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

/* A PEM certificate and key as far as the config can tell (it does not parse them). */
static const char test_cert_pem[] =
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n";
static const char test_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n";

/* Writes text to tmp_dir/name and puts its path in out. */
static void write_tmp(const char *name, const char *text, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", tmp_dir, name);
    tu_write_file(out, text, strlen(text));
}

START_TEST(config_s3_api_every_field_is_parsed)
{
    setenv("FLOE_TEST_S3_SECRET", "env-secret/With+Signs", 1);
    floe_config *c = malloc(sizeof *c);
    ck_assert_int_eq(
        load_text("{\"s3\": {\"listen\": \"[::1]:9000\", \"domain\": \"s3.example.com\", \"region\": "
                  "\"eu-west-3\",\n"
                  "  \"credentials\": [{\"access_key\": \"AKIAREADER\", \"secret_key\": \"reader-secret\", "
                  "\"access\": \"read\"},\n"
                  "                  {\"access_key\": \"writer.key-2_x\", \"secret_key_env\": "
                  "\"FLOE_TEST_S3_SECRET\", \"access\": \"write\"}],\n"
                  "  \"multipart_max_age_s\": 3600, \"list_max_keys\": 250}}",
                  c),
        0);
    ck_assert_int_eq(c->s3.enabled, 1);
    ck_assert_str_eq(c->s3.listen, "[::1]:9000");
    ck_assert_str_eq(c->s3.listen_host, "::1");
    ck_assert_uint_eq(c->s3.listen_port, 9000);
    ck_assert_str_eq(c->s3.domain, "s3.example.com");
    ck_assert_str_eq(c->s3.region, "eu-west-3");
    ck_assert_uint_eq(c->s3.credential_count, 2);
    ck_assert_str_eq(c->s3.credentials[0].access_key, "AKIAREADER");
    ck_assert_str_eq(c->s3.credentials[0].secret_key, "reader-secret");
    ck_assert_int_eq(c->s3.credentials[0].access, CONFIG_ACCESS_READ);
    ck_assert_str_eq(c->s3.credentials[1].access_key, "writer.key-2_x");
    ck_assert_str_eq(c->s3.credentials[1].secret_key, "env-secret/With+Signs");
    ck_assert_int_eq(c->s3.credentials[1].access, CONFIG_ACCESS_WRITE);
    ck_assert_uint_eq(c->s3.multipart_max_age_s, 3600);
    ck_assert_uint_eq(c->s3.list_max_keys, 250);
    ck_assert_int_eq(c->s3.tls.enabled, 0);
    /* the cold tier's S3 settings are a different section */
    ck_assert_str_eq(c->options.cold.s3.region, "us-east-1");
    ck_assert_int_eq(c->options.cold.backend, FLOE_COLD_FS);
    config_free(c);

    /* both ends of the ranges, a single-label domain, the longest keys */
    char ak[CONFIG_MAX_S3_ACCESS_KEY_BYTES + 1], sk[CONFIG_MAX_S3_SECRET_KEY_BYTES + 1], text[1024];
    memset(ak, 'A', sizeof ak - 1);
    ak[sizeof ak - 1] = '\0';
    memset(sk, '~', sizeof sk - 1);
    sk[sizeof sk - 1] = '\0';
    snprintf(
        text, sizeof text,
        "{\"s3\": {\"listen\": \"0.0.0.0:0\", \"domain\": \"localhost\", \"multipart_max_age_s\": 60,"
        " \"list_max_keys\": 1, \"credentials\": [{\"access_key\": \"abc\", \"secret_key\": \"12345678\","
        " \"access\": \"read\"}, {\"access_key\": \"%s\", \"secret_key\": \"%s\", \"access\": \"write\"}]}}",
        ak, sk);
    ck_assert_msg(load_text(text, c) == 0, "%s", floe_last_error());
    ck_assert_uint_eq(c->s3.listen_port, 0);
    ck_assert_str_eq(c->s3.domain, "localhost");
    ck_assert_uint_eq(c->s3.multipart_max_age_s, 60);
    ck_assert_uint_eq(c->s3.list_max_keys, 1);
    ck_assert_str_eq(c->s3.credentials[1].access_key, ak);
    ck_assert_str_eq(c->s3.credentials[1].secret_key, sk);
    config_free(c);
    ck_assert_int_eq(
        load_text("{\"s3\": {\"multipart_max_age_s\": 315360000, \"list_max_keys\": 100000}}", c), 0);
    ck_assert_uint_eq(c->s3.multipart_max_age_s, 315360000);
    ck_assert_uint_eq(c->s3.list_max_keys, 100000);
    config_free(c);
    free(c);
}
END_TEST

START_TEST(config_s3_api_is_off_unless_listen_is_set)
{
    floe_config *c = malloc(sizeof *c);
    ck_assert_int_eq(load_text("{\"s3\": {\"listen\": \"\"}}", c), 0);
    ck_assert_int_eq(c->s3.enabled, 0);
    ck_assert_str_eq(c->s3.listen, "");
    config_free(c);
    ck_assert_int_eq(load_text("{\"s3\": {}}", c), 0);
    ck_assert_int_eq(c->s3.enabled, 0);
    config_free(c);
    /* credentials without a listener are kept, and need nothing else */
    ck_assert_int_eq(load_text("{\"s3\": {\"credentials\": [{\"access_key\": \"abc\", \"secret_key\": "
                               "\"12345678\", \"access\": \"read\"}]}}",
                               c),
                     0);
    ck_assert_int_eq(c->s3.enabled, 0);
    ck_assert_uint_eq(c->s3.credential_count, 1);
    config_free(c);
    free(c);
}
END_TEST

START_TEST(config_s3_api_bad_fields_are_named)
{
    expect_error("{\"s3\": 1}", "field s3 must be an object", NULL);
    expect_error("{\"s3\": {\"lisen\": \"127.0.0.1:9000\"}}", "unknown field s3.lisen",
                 "known fields here: listen");
    expect_error("{\"s3\": {\"bucket\": \"b\"}}", "unknown field s3.bucket", NULL);
    expect_error("{\"s3\": {\"listen\": 9000}}", "field s3.listen must be a string", NULL);
    const char *bad_listen[] = {"9000", "host:", ":80", "host:70000", "::1:80", "[::1]80", "a b:1"};
    for (size_t i = 0; i < sizeof bad_listen / sizeof bad_listen[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"s3\": {\"listen\": \"%s\"}}", bad_listen[i]);
        expect_error(text, "field s3.listen must be host:port", NULL);
    }
    const char *bad_domain[] = {
        "S3.example.com",  "s3.example.com.",  ".example.com",        "s3..example.com",
        "-s3.example.com", "s3-.example.com",  "s3.example.com:9000", "http://s3.example.com",
        "10.0.0.1",        "s3_x.example.com", "bucket.1.2",          "a/b"};
    for (size_t i = 0; i < sizeof bad_domain / sizeof bad_domain[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"s3\": {\"domain\": \"%s\"}}", bad_domain[i]);
        expect_error(text, "field s3.domain must be \"\" or a lowercase DNS name", NULL);
    }
    char label[200];
    snprintf(label, sizeof label, "{\"s3\": {\"domain\": \"%064d.example.com\"}}", 0);
    expect_error(label, "field s3.domain", NULL);
    expect_error("{\"s3\": {\"domain\": 5}}", "field s3.domain must be a string", NULL);
    expect_error("{\"s3\": {\"region\": \"\"}}", "field s3.region must not be empty", NULL);
    expect_error("{\"s3\": {\"region\": \"us/east\"}}", "field s3.region must be 1..64 letters", NULL);
    expect_error("{\"s3\": {\"region\": \"us east\"}}", "field s3.region", NULL);
    expect_error("{\"s3\": {\"multipart_max_age_s\": 0}}",
                 "field s3.multipart_max_age_s must be an integer between 1 and 315360000", NULL);
    expect_error("{\"s3\": {\"multipart_max_age_s\": 315360001}}", "field s3.multipart_max_age_s", NULL);
    expect_error("{\"s3\": {\"list_max_keys\": 0}}",
                 "field s3.list_max_keys must be an integer between 1 and 100000", NULL);
    expect_error("{\"s3\": {\"list_max_keys\": 100001}}", "field s3.list_max_keys", NULL);
    expect_error("{\"s3\": {\"list_max_keys\": 10.0}}", "field s3.list_max_keys", NULL);
}
END_TEST

START_TEST(config_s3_bad_credentials_are_named)
{
#define CRED(x) "{\"s3\": {\"credentials\": [" x "]}}"
#define OK0 "{\"access_key\": \"first\", \"secret_key\": \"12345678\", \"access\": \"read\"}"
    expect_error("{\"s3\": {\"credentials\": {}}}", "field s3.credentials must be an array", NULL);
    expect_error(CRED("\"AKID:secret\""), "field s3.credentials[0] must be an object", NULL);
    expect_error(
        CRED("{\"access_key\": \"abc\", \"secret_key\": \"12345678\", \"access\": \"read\", \"role\": 1}"),
        "unknown field s3.credentials[0].role", "known fields here: access_key, secret_key");
    expect_error(CRED(OK0 ", {\"secret_key\": \"12345678\", \"access\": \"read\"}"),
                 "field s3.credentials[1].access_key is required", NULL);
    const char *bad_keys[] = {"ab", "has/slash", "has space", "a=b", "a,b", "k\\u00e9y"};
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 CRED("{\"access_key\": \"%s\", \"secret_key\": \"12345678\", \"access\": \"read\"}"),
                 bad_keys[i]);
        expect_error(text, "field s3.credentials[0].access_key must be 3..128 bytes of letters, digits",
                     NULL);
    }
    char text[1024], longkey[CONFIG_MAX_S3_ACCESS_KEY_BYTES + 2];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    snprintf(text, sizeof text,
             CRED("{\"access_key\": \"%s\", \"secret_key\": \"12345678\", \"access\": \"read\"}"), longkey);
    expect_error(text, "field s3.credentials[0].access_key is longer than 128 bytes", NULL);
    expect_error(CRED(OK0
                      ", {\"access_key\": \"other\", \"secret_key\": \"12345678\", \"access\": \"read\"},"
                      " {\"access_key\": \"first\", \"secret_key\": \"abcdefgh\", \"access\": \"write\"}"),
                 "field s3.credentials[2].access_key repeats s3.credentials[0].access_key", NULL);
    /* access keys are case-sensitive, as in SigV4 */
    floe_config *c = malloc(sizeof *c);
    ck_assert_int_eq(load_text(CRED(OK0 ", {\"access_key\": \"FIRST\", \"secret_key\": \"12345678\", "
                                        "\"access\": \"read\"}"),
                               c),
                     0);
    config_free(c);
    free(c);
    expect_error(CRED("{\"access_key\": \"abc\", \"access\": \"read\"}"),
                 "field s3.credentials[0].secret_key is required (or secret_key_env", NULL);
    expect_error(CRED("{\"access_key\": \"abc\", \"secret_key\": \"short77\", \"access\": \"read\"}"),
                 "field s3.credentials[0].secret_key must be 8..128 printable ASCII bytes without spaces",
                 NULL);
    expect_error(CRED("{\"access_key\": \"abc\", \"secret_key\": \"with a space\", \"access\": \"read\"}"),
                 "field s3.credentials[0].secret_key must be 8..128", NULL);
    char longsecret[CONFIG_MAX_S3_SECRET_KEY_BYTES + 2];
    memset(longsecret, 's', sizeof longsecret - 1);
    longsecret[sizeof longsecret - 1] = '\0';
    snprintf(text, sizeof text,
             CRED("{\"access_key\": \"abc\", \"secret_key\": \"%s\", \"access\": \"read\"}"), longsecret);
    expect_error(text, "field s3.credentials[0].secret_key is longer than 128 bytes", NULL);
    expect_error(CRED("{\"access_key\": \"abc\", \"secret_key\": 12345678, \"access\": \"read\"}"),
                 "field s3.credentials[0].secret_key must be a string", NULL);
    expect_error(CRED("{\"access_key\": \"abc\", \"secret_key\": \"12345678\", \"secret_key_env\": \"X\", "
                      "\"access\": \"read\"}"),
                 "field s3.credentials[0].secret_key_env cannot be given with secret_key", NULL);
    expect_error(CRED("{\"access_key\": \"abc\", \"secret_key_env\": \"1ABC\", \"access\": \"read\"}"),
                 "field s3.credentials[0].secret_key_env must be an environment variable name", NULL);
    expect_error(CRED("{\"access_key\": \"abc\", \"secret_key_env\": \"A-B\", \"access\": \"read\"}"),
                 "field s3.credentials[0].secret_key_env must be an environment variable name", NULL);
    expect_error(CRED("{\"access_key\": \"abc\", \"secret_key\": \"12345678\"}"),
                 "field s3.credentials[0].access is required (read or write)", NULL);
    expect_error(CRED("{\"access_key\": \"abc\", \"secret_key\": \"12345678\", \"access\": \"admin\"}"),
                 "field s3.credentials[0].access must be one of read, write", NULL);
    /* a secret the message would show is never quoted */
    expect_error(
        CRED("{\"access_key\": \"abc\", \"secret_key\": \"hunter2 is-my-secret\", \"access\": \"read\"}"),
        "secret_key must be", NULL);
    ck_assert_ptr_null(strstr(floe_last_error(), "hunter2"));
    char *many = malloc(80 * (CONFIG_MAX_S3_CREDENTIALS + 1) + 64);
    size_t n = (size_t)sprintf(many, "{\"s3\": {\"credentials\": [");
    for (int i = 0; i <= CONFIG_MAX_S3_CREDENTIALS; i++)
        n += (size_t)sprintf(
            many + n, "%s{\"access_key\": \"key%d\", \"secret_key\": \"12345678\", \"access\": \"read\"}",
            i ? "," : "", i);
    sprintf(many + n, "]}}");
    expect_error(many, "field s3.credentials has more than 64 entries", NULL);
    free(many);
#undef OK0
#undef CRED
}
END_TEST

START_TEST(config_s3_secret_key_env_is_read_at_load)
{
    const char *text =
        "{\"s3\": {\"listen\": \"127.0.0.1:9000\", \"credentials\": [{\"access_key\": \"abc\", "
        "\"secret_key_env\": \"FLOE_TEST_S3_SECRET\", \"access\": \"write\"}]}}";
    expect_error(text,
                 "field s3.credentials[0].secret_key_env names environment variable FLOE_TEST_S3_SECRET",
                 "unset or empty");
    setenv("FLOE_TEST_S3_SECRET", "", 1);
    expect_error(text, "FLOE_TEST_S3_SECRET, which is unset or empty", NULL);
    setenv("FLOE_TEST_S3_SECRET", "too short", 1);
    expect_error(text, "names environment variable FLOE_TEST_S3_SECRET, whose value must be 8..128", NULL);
    ck_assert_ptr_null(strstr(floe_last_error(), "too short"));
    setenv("FLOE_TEST_S3_SECRET", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", 1);
    floe_config *c = malloc(sizeof *c);
    ck_assert_int_eq(load_text(text, c), 0);
    ck_assert_str_eq(c->s3.credentials[0].secret_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    /* read at load: a later change of the variable does not reach a loaded config */
    setenv("FLOE_TEST_S3_SECRET", "another-secret", 1);
    ck_assert_str_eq(c->s3.credentials[0].secret_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    config_free(c);
    /* config_free wipes the S3 API's secrets */
    ck_assert_int_eq(c->s3.credentials[0].secret_key[0], 0);
    free(c);
}
END_TEST

START_TEST(config_s3_env_pair_adds_a_write_credential)
{
    floe_config *c = malloc(sizeof *c);
    setenv("FLOE_S3_ACCESS_KEY", "ENVKEY", 1);
    setenv("FLOE_S3_SECRET_KEY", "env-secret-key", 1);
    /* with the pair, a listener needs no credential in the file */
    ck_assert_int_eq(load_text("{\"s3\": {\"listen\": \"127.0.0.1:9000\"}}", c), 0);
    ck_assert_int_eq(c->s3.enabled, 1);
    ck_assert_uint_eq(c->s3.credential_count, 1);
    ck_assert_str_eq(c->s3.credentials[0].access_key, "ENVKEY");
    ck_assert_str_eq(c->s3.credentials[0].secret_key, "env-secret-key");
    ck_assert_int_eq(c->s3.credentials[0].access, CONFIG_ACCESS_WRITE);
    config_free(c);
    /* it comes after the file's */
    ck_assert_int_eq(load_text("{\"s3\": {\"credentials\": [{\"access_key\": \"filekey\", \"secret_key\": "
                               "\"12345678\", \"access\": \"read\"}]}}",
                               c),
                     0);
    ck_assert_uint_eq(c->s3.credential_count, 2);
    ck_assert_str_eq(c->s3.credentials[1].access_key, "ENVKEY");
    config_free(c);
    /* and applies without a file */
    ck_assert_int_eq(config_load(NULL, c), 0);
    ck_assert_uint_eq(c->s3.credential_count, 1);
    config_free(c);
    /* the same access key twice is an error naming both */
    expect_error("{\"s3\": {\"credentials\": [{\"access_key\": \"ENVKEY\", \"secret_key\": \"12345678\", "
                 "\"access\": \"read\"}]}}",
                 "FLOE_S3_ACCESS_KEY repeats s3.credentials[0].access_key", NULL);
    /* one without the other is an error naming the missing one */
    unsetenv("FLOE_S3_SECRET_KEY");
    ck_assert_int_eq(config_load(NULL, c), FLOE_EINVAL);
    ck_assert_ptr_nonnull(
        strstr(floe_last_error(), "FLOE_S3_ACCESS_KEY is set but FLOE_S3_SECRET_KEY is not"));
    setenv("FLOE_S3_SECRET_KEY", "", 1);
    ck_assert_int_eq(config_load(NULL, c), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "FLOE_S3_SECRET_KEY is not"));
    unsetenv("FLOE_S3_ACCESS_KEY");
    setenv("FLOE_S3_SECRET_KEY", "env-secret-key", 1);
    ck_assert_int_eq(config_load(NULL, c), FLOE_EINVAL);
    ck_assert_ptr_nonnull(
        strstr(floe_last_error(), "FLOE_S3_SECRET_KEY is set but FLOE_S3_ACCESS_KEY is not"));
    /* each is checked like the file's */
    setenv("FLOE_S3_ACCESS_KEY", "a/b", 1);
    ck_assert_int_eq(config_load(NULL, c), FLOE_EINVAL);
    ck_assert_ptr_nonnull(
        strstr(floe_last_error(), "environment variable FLOE_S3_ACCESS_KEY must be 3..128"));
    setenv("FLOE_S3_ACCESS_KEY", "ENVKEY", 1);
    setenv("FLOE_S3_SECRET_KEY", "short", 1);
    ck_assert_int_eq(config_load(NULL, c), FLOE_EINVAL);
    ck_assert_ptr_nonnull(
        strstr(floe_last_error(), "environment variable FLOE_S3_SECRET_KEY must be 8..128"));
    ck_assert_ptr_null(strstr(floe_last_error(), "short "));
    free(c);
    /* a full list leaves no room for it */
    setenv("FLOE_S3_SECRET_KEY", "env-secret-key", 1);
    char *full = malloc(80 * CONFIG_MAX_S3_CREDENTIALS + 64);
    size_t n = (size_t)sprintf(full, "{\"s3\": {\"credentials\": [");
    for (int i = 0; i < CONFIG_MAX_S3_CREDENTIALS; i++)
        n += (size_t)sprintf(
            full + n, "%s{\"access_key\": \"key%d\", \"secret_key\": \"12345678\", \"access\": \"read\"}",
            i ? "," : "", i);
    sprintf(full + n, "]}}");
    expect_error(full, "FLOE_S3_ACCESS_KEY does not fit: s3.credentials already has 64 entries", NULL);
    free(full);
}
END_TEST

START_TEST(config_s3_listener_needs_a_credential)
{
    expect_error("{\"s3\": {\"listen\": \"127.0.0.1:9000\"}}",
                 "field s3.credentials must have an entry when s3.listen is set", "FLOE_S3_ACCESS_KEY");
    expect_error("{\"s3\": {\"listen\": \"127.0.0.1:9000\", \"credentials\": []}}",
                 "field s3.credentials must have", NULL);
}
END_TEST

START_TEST(config_s3_listener_needs_its_own_port)
{
#define S3_ON(listen)                                                                                        \
    "\"s3\": {\"listen\": \"" listen "\", \"credentials\": [{\"access_key\": \"abc\", "                      \
    "\"secret_key\": \"12345678\", \"access\": \"read\"}]}"
    expect_error("{\"http\": {\"listen\": \"127.0.0.1:8080\"}, " S3_ON("127.0.0.1:8080") "}",
                 "field s3.listen must not use the port of http.listen (127.0.0.1:8080)", NULL);
    /* the default http.listen is 127.0.0.1:8080 */
    expect_error("{" S3_ON("127.0.0.1:8080") "}", "field s3.listen must not use the port of http.listen",
                 NULL);
    /* a wildcard address takes the port on every address */
    expect_error("{" S3_ON("0.0.0.0:8080") "}", "field s3.listen must not use the port", NULL);
    expect_error("{\"http\": {\"listen\": \"[::]:9000\"}, " S3_ON("127.0.0.1:9000") "}", "field s3.listen",
                 NULL);
    expect_error("{" S3_ON("localhost:8080") "}", "field s3.listen", NULL);
    expect_error("{\"http\": {\"listen\": \"[::1]:9000\"}, " S3_ON("[0:0:0:0:0:0:0:1]:9000") "}",
                 "field s3.listen", NULL);
    floe_config *c = malloc(sizeof *c);
    const char *ok[] = {"{" S3_ON("127.0.0.1:9000") "}",
                        /* port 0: each gets a free port of its own */
                        "{\"http\": {\"listen\": \"127.0.0.1:0\"}, " S3_ON("127.0.0.1:0") "}",
                        /* the same port on different addresses */
                        "{" S3_ON("127.0.0.2:8080") "}", "{" S3_ON("[::1]:8080") "}"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_assert_msg(load_text(ok[i], c) == 0, "%s: %s", ok[i], floe_last_error());
        ck_assert_int_eq(c->s3.enabled, 1);
        config_free(c);
    }
    free(c);
#undef S3_ON
}
END_TEST

START_TEST(config_tls_files_are_read_into_the_config)
{
    char cert[600], key[600], text[4096];
    write_tmp("cert.pem", test_cert_pem, cert, sizeof cert);
    write_tmp("key.pem", test_key_pem, key, sizeof key);
    snprintf(
        text, sizeof text,
        "{\"http\": {\"tls\": {\"cert_file\": \"%s\", \"key_file\": \"%s\"}},"
        " \"s3\": {\"listen\": \"127.0.0.1:9443\", \"tls\": {\"key_file\": \"%s\", \"cert_file\": \"%s\"},"
        " \"credentials\": [{\"access_key\": \"abc\", \"secret_key\": \"12345678\", \"access\": \"read\"}]}}",
        cert, key, key, cert);
    floe_config *c = malloc(sizeof *c);
    ck_assert_msg(load_text(text, c) == 0, "%s", floe_last_error());
    ck_assert_int_eq(c->http.tls.enabled, 1);
    ck_assert_str_eq(c->http.tls.cert_file, cert);
    ck_assert_str_eq(c->http.tls.key_file, key);
    ck_assert_str_eq(c->http.tls.cert_pem, test_cert_pem);
    ck_assert_str_eq(c->http.tls.key_pem, test_key_pem);
    ck_assert_int_eq(c->s3.tls.enabled, 1);
    ck_assert_str_eq(c->s3.tls.cert_pem, test_cert_pem);
    ck_assert_str_eq(c->s3.tls.key_pem, test_key_pem);
    /* each listener has its own copy, which stays when the files go */
    ck_assert_ptr_ne(c->http.tls.key_pem, c->s3.tls.key_pem);
    tu_rmrf(key);
    ck_assert_str_eq(c->s3.tls.key_pem, test_key_pem);
    config_free(c);
    ck_assert_ptr_null(c->http.tls.key_pem);
    ck_assert_int_eq(c->s3.tls.enabled, 0);
    config_free(c); /* twice is harmless */
    /* an RSA or EC key, a chain of certificates, and an empty tls object (no TLS) */
    write_tmp("key.pem", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n-----END EC PRIVATE KEY-----\n", key,
              sizeof key);
    write_tmp("chain.pem",
              "subject=CN=floe\n-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n"
              "-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n",
              cert, sizeof cert);
    snprintf(text, sizeof text,
             "{\"http\": {\"tls\": {\"cert_file\": \"%s\", \"key_file\": \"%s\"}}, \"s3\": {\"tls\": {}}}",
             cert, key);
    ck_assert_msg(load_text(text, c) == 0, "%s", floe_last_error());
    ck_assert_ptr_nonnull(strstr(c->http.tls.cert_pem, "\nB\n"));
    ck_assert_int_eq(c->s3.tls.enabled, 0);
    ck_assert_ptr_null(c->s3.tls.cert_pem);
    config_free(c);
    free(c);
}
END_TEST

/* Loads a config whose http.tls (s3.tls when s3) names cert and key, expecting code and a message
 * with needle1 and needle2. */
static void expect_tls_error(int s3, const char *cert, const char *key, int code, const char *needle1,
                             const char *needle2)
{
    char text[4096];
    snprintf(text, sizeof text, "{\"%s\": {\"tls\": {\"cert_file\": \"%s\", \"key_file\": \"%s\"}}}",
             s3 ? "s3" : "http", cert, key);
    expect_error_code(code, text, needle1, needle2);
}

START_TEST(config_bad_tls_files_are_named)
{
    char cert[600], key[600], other[600], missing[600];
    write_tmp("cert.pem", test_cert_pem, cert, sizeof cert);
    write_tmp("key.pem", test_key_pem, key, sizeof key);
    snprintf(missing, sizeof missing, "%s/missing.pem", tmp_dir);
    expect_error("{\"http\": {\"tls\": true}}", "field http.tls must be an object", NULL);
    expect_error("{\"s3\": {\"tls\": {\"cert_file\": \"a\", \"key_file\": \"b\", \"ca_file\": \"c\"}}}",
                 "unknown field s3.tls.ca_file", "known fields here: cert_file, key_file");
    expect_error("{\"http\": {\"tls\": {\"cert_file\": \"/x/cert.pem\"}}}",
                 "field http.tls.key_file is required with cert_file", NULL);
    expect_error("{\"s3\": {\"tls\": {\"key_file\": \"/x/key.pem\"}}}",
                 "field s3.tls.cert_file is required with key_file", NULL);
    expect_error("{\"http\": {\"tls\": {\"cert_file\": \"\", \"key_file\": \"/x/key.pem\"}}}",
                 "field http.tls.cert_file must not be empty", NULL);
    expect_error("{\"http\": {\"tls\": {\"cert_file\": null, \"key_file\": \"/x/key.pem\"}}}",
                 "field http.tls.cert_file must be a string", NULL);
    /* a file that cannot be read: FLOE_EIO naming the field, the file and the reason */
    expect_tls_error(0, missing, key, FLOE_EIO, "field http.tls.cert_file names",
                     "missing.pem, which cannot be read: No such file");
    expect_tls_error(1, cert, missing, FLOE_EIO, "field s3.tls.key_file names", "missing.pem");
    expect_tls_error(0, cert, tmp_dir, FLOE_EIO, "field http.tls.key_file names", "cannot be read");
    /* files that are not what the field says */
    write_tmp("not.pem", "this is not a certificate\n", other, sizeof other);
    expect_tls_error(0, other, key, FLOE_EINVAL, "field http.tls.cert_file names",
                     "not.pem, which holds no PEM certificate");
    write_tmp("empty.pem", "", other, sizeof other);
    expect_tls_error(1, other, key, FLOE_EINVAL, "field s3.tls.cert_file", "holds no PEM certificate");
    /* the key where the certificate goes, and the other way round */
    expect_tls_error(0, key, cert, FLOE_EINVAL, "field http.tls.cert_file", "holds no PEM certificate");
    expect_tls_error(0, cert, cert, FLOE_EINVAL, "field http.tls.key_file", "holds no PEM private key");
    write_tmp("enc.pem", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n-----END ENCRYPTED PRIVATE KEY-----\n",
              other, sizeof other);
    expect_tls_error(1, cert, other, FLOE_EINVAL, "field s3.tls.key_file", "holds an encrypted private key");
    /* a NUL byte would cut the text libmicrohttpd sees */
    static const char with_nul[] = "-----BEGIN CERTIFICATE-----\nA\0B\n-----END CERTIFICATE-----\n";
    snprintf(other, sizeof other, "%s/nul.pem", tmp_dir);
    tu_write_file(other, with_nul, sizeof with_nul - 1);
    expect_tls_error(0, other, key, FLOE_EINVAL, "field http.tls.cert_file", "it holds a NUL byte");
    /* at most CONFIG_MAX_PEM_BYTES; exactly that much is accepted */
    size_t big_len = CONFIG_MAX_PEM_BYTES + 1;
    char *big = malloc(big_len);
    memset(big, 'A', big_len);
    memcpy(big, test_cert_pem, strlen(test_cert_pem));
    snprintf(other, sizeof other, "%s/big.pem", tmp_dir);
    tu_write_file(other, big, big_len);
    expect_tls_error(0, other, key, FLOE_EINVAL, "field http.tls.cert_file names",
                     "big.pem, which is larger than 1048576 bytes");
    tu_write_file(other, big, big_len - 1);
    char text[4096];
    snprintf(text, sizeof text, "{\"http\": {\"tls\": {\"cert_file\": \"%s\", \"key_file\": \"%s\"}}}", other,
             key);
    floe_config *c = malloc(sizeof *c);
    ck_assert_msg(load_text(text, c) == 0, "%s", floe_last_error());
    ck_assert_uint_eq(strlen(c->http.tls.cert_pem), CONFIG_MAX_PEM_BYTES);
    config_free(c);
    free(c);
    free(big);
    /* a later error frees what was read before it (the leak checkers see this) */
    snprintf(
        text, sizeof text,
        "{\"http\": {\"tls\": {\"cert_file\": \"%s\", \"key_file\": \"%s\"}}, \"s3\": {\"listen\": \"bad\"}}",
        cert, key);
    expect_error(text, "field s3.listen", NULL);
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
    tcase_add_test(tc, config_s3_api_every_field_is_parsed);
    tcase_add_test(tc, config_s3_api_is_off_unless_listen_is_set);
    tcase_add_test(tc, config_s3_api_bad_fields_are_named);
    tcase_add_test(tc, config_s3_bad_credentials_are_named);
    tcase_add_test(tc, config_s3_secret_key_env_is_read_at_load);
    tcase_add_test(tc, config_s3_env_pair_adds_a_write_credential);
    tcase_add_test(tc, config_s3_listener_needs_a_credential);
    tcase_add_test(tc, config_s3_listener_needs_its_own_port);
    tcase_add_test(tc, config_tls_files_are_read_into_the_config);
    tcase_add_test(tc, config_bad_tls_files_are_named);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(config_suite());
}
