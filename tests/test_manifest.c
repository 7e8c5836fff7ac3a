/* Tests for the manifest (src/manifest.c): JSON round trips, strict parsing with messages that name
 * the field, the checksum, and atomic replacement of manifest.json. */
#include "crc32c.h"
#include "floe.h"
#include "manifest.h"
#include "remote.h"
#include "testutil.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static manifest *new_manifest(void)
{
    manifest *m = NULL;
    ck_assert_int_eq(manifest_create(&m), 0);
    ck_assert_ptr_nonnull(m);
    return m;
}

/* Adds a segment; the keys are copied by manifest_add. */
static void add_segment(manifest *m, uint64_t id, const void *min_key, uint32_t min_len, const void *max_key,
                        uint32_t max_len, manifest_seg_state state)
{
    manifest_segment s = {
        .id = id,
        .object_key = "segments/ab/1-1.seg",
        .size = 1000 + id,
        .crc32c = (uint32_t)(0xdeadbeefu * id),
        .min_key = (uint8_t *)min_key,
        .min_key_len = min_len,
        .max_key = (uint8_t *)max_key,
        .max_key_len = max_len,
        .min_seq = 10 * id,
        .max_seq = 10 * id + 5,
        .count = 3 * id,
        .epoch = 2,
        .created_unix_s = 1700000000 + (int64_t)id,
        .state = state,
    };
    ck_assert_int_eq(manifest_add(m, &s), 0);
    if (m->next_segment_id <= id)
        m->next_segment_id = id + 1;
    if (m->last_seq < s.max_seq)
        m->last_seq = s.max_seq;
}

/* A manifest with every field set to something other than its default. */
static manifest *full_manifest(void)
{
    manifest *m = new_manifest();
    m->version = 41;
    m->writer_epoch = 7;
    m->wal_first_file = 12;
    m->remote_version = 39;
    static const uint8_t k0[] = {0x00}, k1[] = {0x00, 0xff, 0x10}, k2[] = {'a', 0x00, 'b'},
                         k3[] = {0xff, 0xff};
    add_segment(m, 3, k0, 1, k1, 3, SEG_LOCAL);
    add_segment(m, 5, k2, 3, k3, 2, SEG_UPLOADING);
    add_segment(m, 8, k1, 3, k1, 3, SEG_REMOTE);
    add_segment(m, 9, "", 0, k3, 2, SEG_LOCAL_REMOTE);
    manifest_segment *s = manifest_find(m, 9);
    free(s->object_key);
    s->object_key = strdup("");
    s->created_unix_s = -5;
    s->crc32c = 0xffffffffu;
    s->size = (uint64_t)INT64_MAX;
    s->count = 0;
    manifest_find(m, 5)->level = 2;
    manifest_find(m, 8)->level = MANIFEST_MAX_LEVEL;
    manifest_find(m, 8)->retired = 1;
    ck_assert_int_eq(manifest_add_prefix_del(m, "logs/", 5, 77), 0);
    ck_assert_int_eq(manifest_add_prefix_del(m, "\x00\xff", 2, 78), 0);
    m->next_segment_id = 100;
    m->last_seq = (uint64_t)INT64_MAX;
    return m;
}

static void assert_same_segment(const manifest_segment *a, const manifest_segment *b)
{
    ck_assert_uint_eq(a->id, b->id);
    ck_assert_str_eq(a->object_key, b->object_key);
    ck_assert_uint_eq(a->size, b->size);
    ck_assert_uint_eq(a->crc32c, b->crc32c);
    ck_assert_uint_eq(a->min_key_len, b->min_key_len);
    ck_assert_uint_eq(a->max_key_len, b->max_key_len);
    if (a->min_key_len)
        ck_assert_mem_eq(a->min_key, b->min_key, a->min_key_len);
    if (a->max_key_len)
        ck_assert_mem_eq(a->max_key, b->max_key, a->max_key_len);
    ck_assert_uint_eq(a->min_seq, b->min_seq);
    ck_assert_uint_eq(a->max_seq, b->max_seq);
    ck_assert_uint_eq(a->count, b->count);
    ck_assert_uint_eq(a->epoch, b->epoch);
    ck_assert_int_eq(a->created_unix_s, b->created_unix_s);
    ck_assert_int_eq(a->state, b->state);
    ck_assert_uint_eq(a->level, b->level);
    ck_assert_int_eq(a->retired, b->retired);
}

static void assert_same_manifest(const manifest *a, const manifest *b)
{
    ck_assert_uint_eq(a->version, b->version);
    ck_assert_uint_eq(a->writer_epoch, b->writer_epoch);
    ck_assert_uint_eq(a->next_segment_id, b->next_segment_id);
    ck_assert_uint_eq(a->last_seq, b->last_seq);
    ck_assert_uint_eq(a->wal_first_file, b->wal_first_file);
    ck_assert_uint_eq(a->remote_version, b->remote_version);
    ck_assert_uint_eq(a->count, b->count);
    for (size_t i = 0; i < a->count; i++)
        assert_same_segment(&a->segments[i], &b->segments[i]);
    ck_assert_uint_eq(a->n_prefix_dels, b->n_prefix_dels);
    for (size_t i = 0; i < a->n_prefix_dels; i++) {
        ck_assert_uint_eq(a->prefix_dels[i].len, b->prefix_dels[i].len);
        ck_assert_mem_eq(a->prefix_dels[i].prefix, b->prefix_dels[i].prefix, a->prefix_dels[i].len);
        ck_assert_uint_eq(a->prefix_dels[i].seq, b->prefix_dels[i].seq);
    }
}

/* Parses text that must be refused; checks the code and that the message contains every needle. */
static void assert_refused(const char *text, const char *needle1, const char *needle2)
{
    manifest *m = NULL;
    ck_assert_int_eq(manifest_from_json(text, strlen(text), "manifest.json", &m), FLOE_ECORRUPT);
    ck_assert_ptr_null(m);
    const char *msg = floe_last_error();
    ck_assert_msg(strstr(msg, "manifest.json: ") == msg, "message does not start with the name: %s", msg);
    ck_assert_msg(strstr(msg, needle1) != NULL, "message lacks \"%s\": %s", needle1, msg);
    if (needle2)
        ck_assert_msg(strstr(msg, needle2) != NULL, "message lacks \"%s\": %s", needle2, msg);
}

/* The JSON of a valid manifest, parsed for editing. */
static json_t *full_manifest_object(void)
{
    manifest *m = full_manifest();
    char *text = NULL;
    ck_assert_int_eq(manifest_to_json(m, &text, NULL), 0);
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    ck_assert_ptr_nonnull(root);
    free(text);
    manifest_free(m);
    return root;
}

/* Recomputes the checksum the way docs/formats.md describes it, so edits reach field validation. */
static char *reseal(json_t *root)
{
    json_object_del(root, "checksum");
    char *canon = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_ptr_nonnull(canon);
    json_object_set_new(root, "checksum", json_integer(crc32c(canon, strlen(canon))));
    free(canon);
    char *text = json_dumps(root, JSON_INDENT(2));
    ck_assert_ptr_nonnull(text);
    json_decref(root);
    return text;
}

static json_t *segment_object(json_t *root, size_t i)
{
    json_t *seg = json_array_get(json_object_get(root, "segments"), i);
    ck_assert_ptr_nonnull(seg);
    return seg;
}

/* Applies one edit to a valid manifest, reseals it and checks it is refused with the given words. */
typedef void (*edit_fn)(json_t *root);

static void assert_edit_refused(edit_fn edit, const char *needle1, const char *needle2)
{
    json_t *root = full_manifest_object();
    edit(root);
    char *text = reseal(root);
    assert_refused(text, needle1, needle2);
    free(text);
}

START_TEST(manifest_json_round_trips_every_field_and_binary_keys)
{
    manifest *m = full_manifest();
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(manifest_to_json(m, &text, &len), 0);
    ck_assert_uint_eq(len, strlen(text));
    ck_assert_ptr_nonnull(strstr(text, "\"min_key\": \"00ff10\""));
    ck_assert_ptr_nonnull(strstr(text, "\"state\": \"local+remote\""));
    ck_assert_ptr_nonnull(strstr(text, "\"format\": 2"));
    ck_assert_ptr_nonnull(strstr(text, "\"level\": 2"));
    ck_assert_ptr_nonnull(strstr(text, "\"retired\": true"));
    manifest *back = NULL;
    ck_assert_int_eq(manifest_from_json(text, len, "test", &back), 0);
    assert_same_manifest(m, back);
    /* Serialising what was parsed gives the same bytes. */
    char *again = NULL;
    ck_assert_int_eq(manifest_to_json(back, &again, NULL), 0);
    ck_assert_str_eq(text, again);
    free(again);
    free(text);
    manifest_free(back);
    manifest_free(m);
}
END_TEST

START_TEST(manifest_empty_manifest_round_trips)
{
    manifest *m = new_manifest();
    ck_assert_uint_eq(m->version, 0);
    ck_assert_uint_eq(m->next_segment_id, 1);
    ck_assert_uint_eq(m->count, 0);
    char *text = NULL;
    ck_assert_int_eq(manifest_to_json(m, &text, NULL), 0);
    manifest *back = NULL;
    ck_assert_int_eq(manifest_from_json(text, strlen(text), "test", &back), 0);
    assert_same_manifest(m, back);
    free(text);
    manifest_free(back);
    manifest_free(m);
}
END_TEST

START_TEST(manifest_save_then_load_returns_what_was_saved)
{
    char *dir = tu_tmpdir("manifest");
    manifest *m = full_manifest();
    ck_assert_int_eq(manifest_save(dir, m), 0);
    ck_assert_uint_eq(m->version, 42); /* bumped by the save */
    ck_assert_int_eq(manifest_save(dir, m), 0);
    ck_assert_uint_eq(m->version, 43);
    manifest *back = NULL;
    ck_assert_int_eq(manifest_load(dir, &back), 0);
    assert_same_manifest(m, back);
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s/manifest.json.tmp", dir);
    ck_assert_int_eq(access(tmp, F_OK), -1); /* no temp file left behind */
    manifest_free(back);
    manifest_free(m);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* A writer never makes a manifest its reader would refuse: past the readers' cap it refuses to
 * write one (FLOE_ETOOBIG naming the sizes) instead of leaving a store that no longer opens. The
 * real cap is 256 MiB; the same code runs here with a small one. */
START_TEST(manifest_larger_than_a_reader_accepts_is_never_written)
{
    _Static_assert(MANIFEST_MAX_BYTES == REMOTE_MANIFEST_MAX_BYTES, "one cap for writers and readers");
    manifest *m = full_manifest();
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(manifest_to_json(m, &text, &len), 0);
    free(text);
    text = NULL;
    size_t exact = len;
    ck_assert_int_eq(manifest_to_json_within(m, exact, &text, &len), 0);
    ck_assert_uint_eq(len, exact);
    free(text);
    text = NULL;
    ck_assert_int_eq(manifest_to_json_within(m, exact - 1, &text, &len), FLOE_ETOOBIG);
    ck_assert_ptr_null(text);
    char want[160];
    snprintf(want, sizeof want, "would be %zu bytes, above the %zu bytes a reader accepts", exact, exact - 1);
    ck_assert_msg(strstr(floe_last_error(), want), "%s", floe_last_error());
    manifest_free(m);
}
END_TEST

START_TEST(manifest_missing_file_is_not_found)
{
    char *dir = tu_tmpdir("manifest");
    manifest *m = NULL;
    ck_assert_int_eq(manifest_load(dir, &m), FLOE_ENOTFOUND);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "manifest.json"));
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(manifest_truncated_file_is_refused_naming_file_and_position)
{
    char *dir = tu_tmpdir("manifest");
    manifest *m = full_manifest();
    ck_assert_int_eq(manifest_save(dir, m), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    tu_truncate(path, tu_file_size(path) / 2);
    manifest *back = NULL;
    ck_assert_int_eq(manifest_load(dir, &back), FLOE_ECORRUPT);
    ck_assert_ptr_null(back);
    const char *msg = floe_last_error();
    ck_assert_msg(strstr(msg, path) == msg, "message does not start with the path: %s", msg);
    ck_assert_msg(strstr(msg, "truncated or invalid JSON at line ") != NULL, "unclear message: %s", msg);
    ck_assert_msg(strstr(msg, " column ") != NULL, "message lacks the column: %s", msg);

    tu_truncate(path, 0);
    ck_assert_int_eq(manifest_load(dir, &back), FLOE_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "truncated or invalid JSON"));
    manifest_free(m);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(manifest_changed_digit_is_caught_by_checksum)
{
    char *dir = tu_tmpdir("manifest");
    manifest *m = full_manifest();
    ck_assert_int_eq(manifest_save(dir, m), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    size_t len;
    char *text = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(text);
    char *size_field = strstr(text, "\"size\": 1003");
    ck_assert_ptr_nonnull(size_field);
    size_field[strlen("\"size\": 100")] = '7'; /* still valid JSON, a different size */
    tu_write_file(path, text, len);
    manifest *back = NULL;
    ck_assert_int_eq(manifest_load(dir, &back), FLOE_ECORRUPT);
    ck_assert_ptr_null(back);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), path));
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "checksum mismatch"));

    /* Whitespace is not covered: reindenting a manifest keeps it valid. */
    ck_assert_int_eq(manifest_save(dir, m), 0);
    free(text);
    text = tu_read_file(path, &len);
    json_t *root = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(root);
    char *compact = json_dumps(root, JSON_COMPACT);
    tu_write_file(path, compact, strlen(compact));
    ck_assert_int_eq(manifest_load(dir, &back), 0);
    assert_same_manifest(m, back);
    manifest_free(back);
    free(compact);
    json_decref(root);
    free(text);
    manifest_free(m);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static void edit_unknown_top(json_t *root)
{
    json_object_set_new(root, "colour", json_string("blue"));
}

static void edit_unknown_segment(json_t *root)
{
    json_object_set_new(segment_object(root, 1), "shade", json_integer(1));
}

START_TEST(manifest_unknown_fields_are_refused)
{
    assert_edit_refused(edit_unknown_top, "unknown field colour", NULL);
    assert_edit_refused(edit_unknown_segment, "unknown field segments[1].shade", NULL);
}
END_TEST

static void edit_negative_size(json_t *root)
{
    json_object_set_new(segment_object(root, 2), "size", json_integer(-1));
}

static void edit_string_size(json_t *root)
{
    json_object_set_new(segment_object(root, 2), "size", json_string("12"));
}

static void edit_real_seq(json_t *root)
{
    json_object_set_new(root, "last_seq", json_real(1.5));
}

static void edit_big_crc(json_t *root)
{
    json_object_set_new(segment_object(root, 0), "crc32c", json_integer(0x100000000ll));
}

static void edit_missing_state(json_t *root)
{
    json_object_del(segment_object(root, 3), "state");
}

static void edit_bad_state(json_t *root)
{
    json_object_set_new(segment_object(root, 0), "state", json_string("flying"));
}

static void edit_upper_hex(json_t *root)
{
    json_object_set_new(segment_object(root, 0), "max_key", json_string("00FF10"));
}

static void edit_odd_hex(json_t *root)
{
    json_object_set_new(segment_object(root, 0), "max_key", json_string("00f"));
}

static void edit_long_key(json_t *root)
{
    char hex[2 * 1025 + 1];
    memset(hex, 'f', sizeof hex - 1);
    hex[sizeof hex - 1] = '\0';
    json_object_set_new(segment_object(root, 0), "max_key", json_string(hex));
}

static void edit_min_above_max(json_t *root)
{
    json_object_set_new(segment_object(root, 1), "min_key", json_string("ffff00"));
}

static void edit_ids_not_increasing(json_t *root)
{
    json_object_set_new(segment_object(root, 2), "id", json_integer(5));
}

static void edit_id_at_next(json_t *root)
{
    json_object_set_new(root, "next_segment_id", json_integer(9));
}

static void edit_segments_not_array(json_t *root)
{
    json_object_set_new(root, "segments", json_object());
}

static void edit_segment_not_object(json_t *root)
{
    json_array_set_new(json_object_get(root, "segments"), 1, json_integer(3));
}

static void edit_nul_in_object_key(json_t *root)
{
    json_object_set_new(segment_object(root, 0), "object_key", json_stringn("a\0b", 3));
}

static void edit_future_format(json_t *root)
{
    json_object_set_new(root, "format", json_integer(3));
}

static void edit_level_too_deep(json_t *root)
{
    json_object_set_new(segment_object(root, 1), "level", json_integer(MANIFEST_MAX_LEVEL + 1));
}

static void edit_retired_not_boolean(json_t *root)
{
    json_object_set_new(segment_object(root, 1), "retired", json_integer(1));
}

static void edit_retired_but_local(json_t *root)
{
    json_object_set_new(segment_object(root, 0), "retired", json_true());
}

/* Segment 3 (00..00ff10) joins segment 5 (6100 62..ffff) in level 2: their ranges overlap. */
static void edit_overlap_in_a_level(json_t *root)
{
    json_object_set_new(segment_object(root, 0), "max_key", json_string("ff"));
    json_object_set_new(segment_object(root, 0), "level", json_integer(2));
}

static void edit_empty_prefix_delete(json_t *root)
{
    json_t *d = json_array_get(json_object_get(root, "prefix_deletes"), 0);
    json_object_set_new(d, "prefix", json_string(""));
}

static void edit_prefix_delete_after_last_seq(json_t *root)
{
    json_t *d = json_array_get(json_object_get(root, "prefix_deletes"), 1);
    json_object_set_new(d, "seq", json_integer(INT64_MAX)); /* last_seq is INT64_MAX - 0: use the max */
    json_object_set_new(root, "last_seq", json_integer(INT64_MAX - 1));
}

static void edit_format1_with_level(json_t *root)
{
    json_object_set_new(root, "format", json_integer(1));
}

START_TEST(manifest_bad_fields_are_refused_naming_the_field)
{
    assert_edit_refused(edit_negative_size, "field segments[2].size must be an unsigned integer", NULL);
    assert_edit_refused(edit_string_size, "field segments[2].size must be an unsigned integer", NULL);
    assert_edit_refused(edit_real_seq, "field last_seq must be an unsigned integer", NULL);
    assert_edit_refused(edit_big_crc, "field segments[0].crc32c must be an unsigned 32-bit integer", NULL);
    assert_edit_refused(edit_missing_state, "missing field segments[3].state", NULL);
    assert_edit_refused(edit_bad_state, "field segments[0].state must be one of", NULL);
    assert_edit_refused(edit_upper_hex, "field segments[0].max_key must be a string of lowercase hex", NULL);
    assert_edit_refused(edit_odd_hex, "field segments[0].max_key has an odd number", NULL);
    assert_edit_refused(edit_long_key, "field segments[0].max_key is longer than the 1024-byte", NULL);
    assert_edit_refused(edit_min_above_max, "segments[1].min_key sorts after its max_key", NULL);
    assert_edit_refused(edit_ids_not_increasing, "segments[2].id 5 does not follow 5", NULL);
    assert_edit_refused(edit_id_at_next, "segments[3].id 9 is not below next_segment_id 9", NULL);
    assert_edit_refused(edit_segments_not_array, "field segments must be an array", NULL);
    assert_edit_refused(edit_segment_not_object, "segments[1] must be an object", NULL);
    assert_edit_refused(edit_nul_in_object_key, "invalid JSON", "\\u0000");
    assert_edit_refused(edit_future_format, "format 3 is not supported", NULL);
    assert_edit_refused(edit_level_too_deep, "field segments[1].level is out of range", NULL);
    assert_edit_refused(edit_retired_not_boolean, "field segments[1].retired must be true or false", NULL);
    assert_edit_refused(edit_retired_but_local, "segments[0] is retired but its state is local", NULL);
    assert_edit_refused(edit_overlap_in_a_level, "segments 3 and 5 of level 2 overlap", NULL);
    assert_edit_refused(edit_format1_with_level, "unknown field", NULL);
    assert_edit_refused(edit_empty_prefix_delete, "prefix_deletes[0].prefix must be 1 to 1024 bytes", NULL);
    assert_edit_refused(edit_prefix_delete_after_last_seq, "prefix_deletes[1].seq 9223372036854775807 is above last_seq 9223372036854775806", NULL);
}
END_TEST

/* A manifest written before levels (format 1) loads with every segment in level 0, live, and is
 * written back as format 2. */
START_TEST(manifest_format1_loads_every_segment_in_level0)
{
    manifest *m = full_manifest();
    for (size_t i = 0; i < m->count; i++) {
        m->segments[i].level = 0;
        m->segments[i].retired = 0;
    }
    for (size_t i = 0; i < m->n_prefix_dels; i++)
        free(m->prefix_dels[i].prefix);
    m->n_prefix_dels = 0;
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(manifest_to_json(m, &text, &len), 0);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    ck_assert_ptr_nonnull(root);
    json_object_set_new(root, "format", json_integer(1));
    json_object_del(root, "prefix_deletes");
    for (size_t i = 0; i < json_array_size(json_object_get(root, "segments")); i++) {
        json_object_del(segment_object(root, i), "level");
        json_object_del(segment_object(root, i), "retired");
    }
    char *v1 = reseal(root);
    manifest *back = NULL;
    ck_assert_int_eq(manifest_from_json(v1, strlen(v1), "v1", &back), 0);
    assert_same_manifest(m, back);
    char *again = NULL;
    ck_assert_int_eq(manifest_to_json(back, &again, &len), 0);
    ck_assert_ptr_nonnull(strstr(again, "\"format\": 2"));
    free(again);
    free(v1);
    free(text);
    manifest_free(back);
    manifest_free(m);
}
END_TEST

/* A writer refuses a level whose segments overlap, rather than save what its reader refuses. */
START_TEST(manifest_writer_refuses_overlap_in_a_level)
{
    manifest *m = full_manifest();
    manifest_find(m, 3)->level = 2; /* 00..00ff10 against segment 5's 610062..ffff: disjoint */
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(manifest_to_json(m, &text, &len), 0);
    free(text);
    manifest_find(m, 9)->level = 2; /* ""..ffff overlaps both */
    ck_assert_int_eq(manifest_to_json(m, &text, &len), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "of level 2 overlap"));
    manifest_find(m, 9)->retired = 1; /* a retired segment is not read: no rule */
    manifest_find(m, 9)->state = SEG_REMOTE;
    ck_assert_int_eq(manifest_to_json(m, &text, &len), 0);
    free(text);
    manifest_free(m);
}
END_TEST
END_TEST

START_TEST(manifest_malformed_documents_are_refused)
{
    assert_refused("", "truncated or invalid JSON at line", NULL);
    assert_refused("[1, 2]", "must be a JSON object", NULL);
    assert_refused("{\"format\": 1}", "missing field checksum", NULL);
    assert_refused("{\"checksum\": 1}", "missing field format", NULL);
    assert_refused("{\"format\": 1, \"format\": 1, \"checksum\": 0}", "truncated or invalid JSON",
                   "duplicate");
    assert_refused("{\"format\": 1, \"checksum\": 0} trailing", "truncated or invalid JSON", NULL);
    /* 2^64 does not fit any field; jansson refuses it while parsing. */
    assert_refused("{\"format\": 1, \"checksum\": 0, \"version\": 18446744073709551616}", "invalid JSON",
                   "too big");
    assert_refused("{\"format\": 1, \"checksum\": 1}", "checksum mismatch", NULL);
}
END_TEST

START_TEST(manifest_to_json_refuses_what_could_not_be_loaded)
{
    manifest *m = full_manifest();
    char *text = NULL;
    m->last_seq = (uint64_t)INT64_MAX + 1;
    ck_assert_int_eq(manifest_to_json(m, &text, NULL), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "last_seq"));
    m->last_seq = (uint64_t)INT64_MAX;

    m->next_segment_id = 9;
    ck_assert_int_eq(manifest_to_json(m, &text, NULL), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "next_segment_id"));
    m->next_segment_id = 100;

    manifest_segment *s = manifest_find(m, 5);
    free(s->max_key);
    s->max_key = calloc(1, 1025);
    s->max_key[0] = 0xff;
    s->max_key_len = 1025;
    ck_assert_int_eq(manifest_to_json(m, &text, NULL), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "longer than 1024"));
    s->max_key_len = 1024;
    ck_assert_int_eq(manifest_to_json(m, &text, NULL), 0);
    free(text);
    text = NULL;

    free(s->object_key);
    s->object_key = strdup("bad\xff utf8");
    ck_assert_int_eq(manifest_to_json(m, &text, NULL), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "segments[1].object_key"));
    ck_assert_ptr_null(text);

    /* A failed save leaves the version alone. */
    char *dir = tu_tmpdir("manifest");
    uint64_t version = m->version;
    ck_assert_int_eq(manifest_save(dir, m), FLOE_EINVAL);
    ck_assert_uint_eq(m->version, version);
    tu_rmrf(dir);
    free(dir);
    manifest_free(m);
}
END_TEST

START_TEST(manifest_save_failure_keeps_the_old_manifest)
{
    char *dir = tu_tmpdir("manifest");
    manifest *m = full_manifest();
    ck_assert_int_eq(manifest_save(dir, m), 0);
    uint64_t saved_version = m->version;
    /* The tests run as root, so a read-only directory would not stop the write: block the temp name. */
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s/manifest.json.tmp", dir);
    ck_assert_int_eq(mkdir(tmp, 0755), 0);
    m->wal_first_file = 99;
    ck_assert_int_eq(manifest_save(dir, m), FLOE_EIO);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), tmp));
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "Is a directory"));
    ck_assert_uint_eq(m->version, saved_version);
    manifest *back = NULL;
    ck_assert_int_eq(manifest_load(dir, &back), 0);
    ck_assert_uint_eq(back->version, saved_version);
    ck_assert_uint_eq(back->wal_first_file, 12);
    manifest_free(back);
    /* Once the obstacle is gone, saving works again. */
    ck_assert_int_eq(rmdir(tmp), 0);
    ck_assert_int_eq(manifest_save(dir, m), 0);
    ck_assert_int_eq(manifest_load(dir, &back), 0);
    ck_assert_uint_eq(back->wal_first_file, 99);
    manifest_free(back);
    manifest_free(m);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* A write that fails half way (the file size limit stands in for a full disk) removes the temp file
 * and leaves manifest.json as it was. */
START_TEST(manifest_failed_write_removes_temp_and_keeps_old_manifest)
{
    char *dir = tu_tmpdir("manifest");
    manifest *m = full_manifest();
    ck_assert_int_eq(manifest_save(dir, m), 0);
    uint64_t saved_version = m->version;
    char path[512], tmp[512];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    snprintf(tmp, sizeof tmp, "%s/manifest.json.tmp", dir);
    long long old_size = tu_file_size(path);
    for (uint64_t id = 200; id < 300; id++)
        add_segment(m, id, "a", 1, "b", 1, SEG_LOCAL);

    struct rlimit old_limit, limit;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    limit = old_limit;
    limit.rlim_cur = (rlim_t)old_size + 100;
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    int rc = manifest_save(dir, m);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
    ck_assert_int_eq(rc, FLOE_EIO);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "write"));
    ck_assert_ptr_nonnull(strstr(floe_last_error(), tmp));
    ck_assert_int_eq(access(tmp, F_OK), -1);
    ck_assert_int_eq(tu_file_size(path), old_size);
    manifest *back = NULL;
    ck_assert_int_eq(manifest_load(dir, &back), 0);
    ck_assert_uint_eq(back->version, saved_version);
    ck_assert_uint_eq(back->count, 4);
    manifest_free(back);
    manifest_free(m);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(manifest_add_find_remove_and_clone)
{
    manifest *m = new_manifest();
    add_segment(m, 3, "a", 1, "c", 1, SEG_LOCAL);
    add_segment(m, 5, "d", 1, "f", 1, SEG_LOCAL);
    add_segment(m, 9, "g", 1, "k", 1, SEG_REMOTE);
    manifest_segment dup = {.id = 9, .min_key = (uint8_t *)"z", .min_key_len = 1};
    ck_assert_int_eq(manifest_add(m, &dup), FLOE_EINVAL);
    dup.id = 4;
    ck_assert_int_eq(manifest_add(m, &dup), FLOE_EINVAL);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "ids must increase"));
    ck_assert_uint_eq(m->count, 3);

    ck_assert_ptr_null(manifest_find(m, 4));
    ck_assert_ptr_null(manifest_find(m, 10));
    manifest_segment *s = manifest_find(m, 5);
    ck_assert_ptr_nonnull(s);
    ck_assert_mem_eq(s->min_key, "d", 1);
    ck_assert_str_eq(s->object_key, "segments/ab/1-1.seg");

    /* A clone is deep: changing the original does not change it. */
    manifest *c = NULL;
    ck_assert_int_eq(manifest_clone(m, &c), 0);
    s->min_key[0] = 'X';
    s->object_key[0] = 'X';
    m->version = 1234;
    manifest_segment *cs = manifest_find(c, 5);
    ck_assert_mem_eq(cs->min_key, "d", 1);
    ck_assert_str_eq(cs->object_key, "segments/ab/1-1.seg");
    ck_assert_uint_eq(c->version, 0);

    ck_assert_int_eq(manifest_remove(m, 5), 0);
    ck_assert_int_eq(manifest_remove(m, 5), FLOE_ENOTFOUND);
    ck_assert_uint_eq(m->count, 2);
    ck_assert_uint_eq(m->segments[0].id, 3);
    ck_assert_uint_eq(m->segments[1].id, 9);
    ck_assert_ptr_nonnull(manifest_find(m, 9));
    ck_assert_ptr_nonnull(manifest_find(c, 5));
    ck_assert_uint_eq(c->count, 3);

    /* Growing past the initial capacity keeps everything. */
    for (uint64_t id = 10; id < 200; id++)
        add_segment(m, id, "a", 1, "b", 1, SEG_LOCAL);
    ck_assert_uint_eq(m->count, 192);
    ck_assert_uint_eq(manifest_find(m, 150)->id, 150);
    ck_assert_int_eq(manifest_remove(m, 3), 0);
    ck_assert_int_eq(manifest_remove(m, 199), 0);
    ck_assert_uint_eq(m->segments[0].id, 9);
    ck_assert_uint_eq(m->segments[m->count - 1].id, 198);

    manifest_segment zeroed = {0};
    manifest_segment_clear(&zeroed); /* clearing an empty segment is harmless */
    manifest_free(c);
    manifest_free(m);
    manifest_free(NULL);
}
END_TEST

START_TEST(manifest_state_names_match_the_format)
{
    ck_assert_str_eq(manifest_state_name(SEG_LOCAL), "local");
    ck_assert_str_eq(manifest_state_name(SEG_UPLOADING), "uploading");
    ck_assert_str_eq(manifest_state_name(SEG_REMOTE), "remote");
    ck_assert_str_eq(manifest_state_name(SEG_LOCAL_REMOTE), "local+remote");
    ck_assert_str_eq(manifest_state_name((manifest_seg_state)17), "invalid");
}
END_TEST

static Suite *manifest_suite(void)
{
    Suite *s = suite_create("manifest");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, manifest_json_round_trips_every_field_and_binary_keys);
    tcase_add_test(tc, manifest_empty_manifest_round_trips);
    tcase_add_test(tc, manifest_larger_than_a_reader_accepts_is_never_written);
    tcase_add_test(tc, manifest_save_then_load_returns_what_was_saved);
    tcase_add_test(tc, manifest_missing_file_is_not_found);
    tcase_add_test(tc, manifest_truncated_file_is_refused_naming_file_and_position);
    tcase_add_test(tc, manifest_changed_digit_is_caught_by_checksum);
    tcase_add_test(tc, manifest_unknown_fields_are_refused);
    tcase_add_test(tc, manifest_bad_fields_are_refused_naming_the_field);
    tcase_add_test(tc, manifest_malformed_documents_are_refused);
    tcase_add_test(tc, manifest_to_json_refuses_what_could_not_be_loaded);
    tcase_add_test(tc, manifest_save_failure_keeps_the_old_manifest);
    tcase_add_test(tc, manifest_failed_write_removes_temp_and_keeps_old_manifest);
    tcase_add_test(tc, manifest_add_find_remove_and_clone);
    tcase_add_test(tc, manifest_state_names_match_the_format);
    tcase_add_test(tc, manifest_format1_loads_every_segment_in_level0);
    tcase_add_test(tc, manifest_writer_refuses_overlap_in_a_level);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(manifest_suite());
}
