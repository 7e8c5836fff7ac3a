/* Fuzzes the manifest's JSON form (src/manifest.c, docs/formats.md "Manifest") and the remote
 * manifest read (src/remote.c). Outside bytes: data_dir/manifest.json after a disk fault or an
 * edit, and a manifest object fetched from the bucket. Each input is tried as is and, when it is a
 * JSON object, with its "checksum" recomputed over the canonical form (so the checks behind the
 * CRC are reached): through manifest_from_json (the local form) and through remote_read_manifest
 * on an fs cold tier holding it as manifest/<its version>.json (the remote form).
 *
 * Asserts: no memory error or undefined behaviour; errors are negative codes with a message; a
 * manifest that parses keeps the documented rules (ids strictly increasing and below
 * next_segment_id, key lengths, min_key <= max_key, min_seq <= max_seq <= last_seq); it serialises
 * with manifest_to_json, that text parses again, and serialising the result gives the same bytes
 * (round trip); a remote manifest that reads has every segment remote with an object key. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cold.h"
#include "crc32c.h"
#include "entry.h"
#include "floe.h"
#include "fuzz_common.h"
#include "manifest.h"
#include "remote.h"

static void check_rules(const manifest *m)
{
    for (size_t i = 0; i < m->count; i++) {
        const manifest_segment *s = &m->segments[i];
        FUZZ_CHECK(i == 0 || s->id > m->segments[i - 1].id);
        FUZZ_CHECK(s->id < m->next_segment_id);
        FUZZ_CHECK(s->min_key_len <= FLOE_MAX_KEY_BYTES && s->max_key_len <= FLOE_MAX_KEY_BYTES);
        FUZZ_CHECK(key_cmp(s->min_key, s->min_key_len, s->max_key, s->max_key_len) <= 0);
        FUZZ_CHECK(s->min_seq <= s->max_seq && s->max_seq <= m->last_seq);
        FUZZ_CHECK(s->object_key != NULL && strlen(s->object_key) <= 1024);
    }
}

static void round_trip(const manifest *m)
{
    char *json = NULL, *json2 = NULL;
    size_t len = 0, len2 = 0;
    manifest *back = NULL;
    FUZZ_CHECK(manifest_to_json(m, &json, &len) == 0);
    FUZZ_CHECK(strlen(json) == len);
    FUZZ_CHECK(manifest_from_json(json, len, "round-trip", &back) == 0);
    FUZZ_CHECK(manifest_to_json(back, &json2, &len2) == 0);
    FUZZ_CHECK(len == len2 && memcmp(json, json2, len) == 0);
    manifest_free(back);
    free(json);
    free(json2);
}

static void try_local(const char *text, size_t len)
{
    manifest *m = NULL;
    int rc = manifest_from_json(text, len, "fuzz/manifest.json", &m);
    if (rc != 0) {
        FUZZ_CHECK(rc < 0 && m == NULL && floe_last_error()[0]);
        return;
    }
    check_rules(m);
    round_trip(m);
    manifest_free(m);
}

static cold_t *cold_tier(void)
{
    static cold_t *c;
    if (!c) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/cold", fuzz_scratch_dir("manifest"));
        FUZZ_CHECK(cold_open_fs(dir, &c) == 0);
    }
    return c;
}

static void try_remote(const char *text, size_t len, uint64_t version)
{
    cold_t *c = cold_tier();
    char key[COLD_LAYOUT_KEY_MAX];
    cold_manifest_key(version, key);
    FUZZ_CHECK(cold_put(c, key, text, len, 0) == 0);
    manifest *m = NULL;
    int rc = remote_read_manifest(c, key, version, &m);
    (void)cold_delete(c, key);
    if (rc != 0) {
        FUZZ_CHECK(rc < 0 && m == NULL);
        return;
    }
    check_rules(m);
    for (size_t i = 0; i < m->count; i++)
        FUZZ_CHECK(m->segments[i].state == SEG_REMOTE && m->segments[i].object_key[0]);
    round_trip(m);
    manifest_free(m);
}

/* The input with "checksum" set to the CRC32C of its canonical form (malloc'd, caller frees), or
 * NULL if it is not a JSON object. *version_out is its "version" if that is a u63 integer, else 1. */
static char *with_checksum(const char *text, size_t len, uint64_t *version_out)
{
    *version_out = 1;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!doc || !json_is_object(doc)) {
        json_decref(doc);
        return NULL;
    }
    json_t *v = json_object_get(doc, "version");
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        *version_out = (uint64_t)json_integer_value(v);
    json_object_del(doc, "checksum");
    char *canon = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    char *out = NULL;
    if (canon) {
        json_object_set_new(doc, "checksum", json_integer(crc32c(canon, strlen(canon))));
        out = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    }
    free(canon);
    json_decref(doc);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    const char *text = (const char *)data;
    try_local(text, size);
    try_remote(text, size, 1);
    uint64_t version = 1;
    char *fixed = with_checksum(text, size, &version);
    if (fixed) {
        try_local(fixed, strlen(fixed));
        try_remote(fixed, strlen(fixed), version);
        free(fixed);
    }
    return 0;
}
