/* The manifest: the store's list of live segments and its counters, kept as JSON (docs/formats.md,
 * section "Manifest") in data_dir/manifest.json and, per version, in the cold tier.
 *
 * Notes on the design:
 *  1. The JSON carries "format": 1 and a "checksum": the CRC32C of the document without the checksum
 *     field, serialised by jansson with JSON_COMPACT | JSON_SORT_KEYS. Re-serialising a parsed
 *     document gives the same bytes, so whitespace does not matter but every value does.
 *  2. Parsing is strict: every field is required, unknown fields are errors, types and ranges are
 *     checked, and every error names the file and the field (segments[2].size).
 *  3. Unsigned 64-bit counters are JSON integers, which jansson holds as long long: a value above
 *     INT64_MAX cannot be written (manifest_to_json refuses it with FLOE_EINVAL rather than write a
 *     manifest that would not load back). No counter comes near 2^63 in practice.
 *  4. manifest_to_json checks the same rules manifest_from_json does, so a saved manifest always
 *     loads: segment ids strictly increase and are below next_segment_id, keys are at most
 *     FLOE_MAX_KEY_BYTES with min_key <= max_key, min_seq <= max_seq <= last_seq.
 *  5. manifest_save never leaves a partial manifest.json: it writes manifest.json.tmp, fsyncs it,
 *     renames it over manifest.json and fsyncs the directory. On failure the temp file it created is
 *     removed and m->version is left as it was. (If only the directory fsync fails, manifest.json may
 *     already hold the new version; like any failed fsync, the caller must stop writing.)
 *  6. Format 2 gives each segment a level and a retired flag (compact.c). In every level above 0 the
 *     segments that are not retired have key ranges that do not overlap; both directions check it.
 *     Format 1 manifests still load, every segment in level 0, and are written back as format 2.
 *     Format 2 also lists the prefix deletes (floe_delete_prefix) that segments no longer record.
 */
#include "manifest.h"

#include "array.h"
#include "crc32c.h"
#include "entry.h"
#include "error.h"
#include "file.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Format 2 added level and retired; format 1 manifests load with every segment in level 0. */
#define MANIFEST_FORMAT 2
#define MANIFEST_FORMAT_OLDEST 1
#define MANIFEST_FILE "manifest.json"
#define MANIFEST_TMP_FILE "manifest.json.tmp"
#define MANIFEST_MAX_OBJECT_KEY_BYTES 1024
#define MANIFEST_MAX_SEGMENTS (16u * 1024 * 1024)

static const char *const state_names[] = {
    [SEG_LOCAL] = "local",
    [SEG_UPLOADING] = "uploading",
    [SEG_REMOTE] = "remote",
    [SEG_LOCAL_REMOTE] = "local+remote",
};

const char *manifest_state_name(manifest_seg_state s)
{
    if ((unsigned)s < sizeof state_names / sizeof state_names[0])
        return state_names[s];
    return "invalid";
}

int manifest_create(manifest **out)
{
    manifest *m = calloc(1, sizeof *m);
    if (!m)
        return err_set(FLOE_ENOMEM, "manifest: out of memory");
    m->next_segment_id = 1;
    *out = m;
    return 0;
}

void manifest_segment_clear(manifest_segment *seg)
{
    if (!seg)
        return;
    free(seg->object_key);
    free(seg->min_key);
    free(seg->max_key);
    memset(seg, 0, sizeof *seg);
}

void manifest_free(manifest *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->count; i++)
        manifest_segment_clear(&m->segments[i]);
    free(m->segments);
    for (size_t i = 0; i < m->n_prefix_dels; i++)
        free(m->prefix_dels[i].prefix);
    free(m->prefix_dels);
    free(m);
}

int manifest_add_prefix_del(manifest *m, const void *prefix, size_t len, uint64_t seq)
{
    prefix_del *n = realloc(m->prefix_dels, (m->n_prefix_dels + 1) * sizeof *n);
    if (!n)
        return err_set(FLOE_ENOMEM, "manifest: out of memory");
    m->prefix_dels = n;
    uint8_t *p = malloc(len ? len : 1);
    if (!p)
        return err_set(FLOE_ENOMEM, "manifest: out of memory");
    memcpy(p, prefix, len);
    n[m->n_prefix_dels++] = (prefix_del){.prefix = p, .len = (uint32_t)len, .seq = seq};
    return 0;
}

/* Copies len bytes into a fresh allocation (at least one byte, so NULL means out of memory). */
static uint8_t *dup_bytes(const uint8_t *p, size_t len)
{
    uint8_t *d = malloc(len ? len : 1);
    if (d && len)
        memcpy(d, p, len);
    return d;
}

/* Deep-copies src into *dst (which is overwritten). A NULL object_key becomes "". */
int manifest_segment_copy(manifest_segment *dst, const manifest_segment *src)
{
    manifest_segment s = *src;
    s.object_key = strdup(src->object_key ? src->object_key : "");
    s.min_key = dup_bytes(src->min_key, src->min_key_len);
    s.max_key = dup_bytes(src->max_key, src->max_key_len);
    if (!s.object_key || !s.min_key || !s.max_key) {
        manifest_segment_clear(&s);
        return err_set(FLOE_ENOMEM, "manifest: out of memory copying segment %llu",
                       (unsigned long long)src->id);
    }
    *dst = s;
    return 0;
}

/* Makes room for one more segment. */
static int reserve_one(manifest *m)
{
    if (m->count < m->cap)
        return 0;
    if (m->count >= MANIFEST_MAX_SEGMENTS)
        return err_set(FLOE_EINVAL, "manifest: more than %u segments", MANIFEST_MAX_SEGMENTS);
    if (array_grow(&m->segments, &m->cap, m->count + 1, sizeof *m->segments, 16, SIZE_MAX) != 0)
        return err_set(FLOE_ENOMEM, "manifest: out of memory for %zu segments",
                       array_next_cap(m->cap, m->count + 1, 16, SIZE_MAX));
    return 0;
}

int manifest_add(manifest *m, const manifest_segment *seg)
{
    if (m->count && seg->id <= m->segments[m->count - 1].id)
        return err_set(FLOE_EINVAL, "manifest: segment %llu added after segment %llu; ids must increase",
                       (unsigned long long)seg->id, (unsigned long long)m->segments[m->count - 1].id);
    int rc = reserve_one(m);
    if (rc)
        return rc;
    rc = manifest_segment_copy(&m->segments[m->count], seg);
    if (rc)
        return rc;
    m->count++;
    return 0;
}

int manifest_insert(manifest *m, const manifest_segment *seg)
{
    size_t lo = 0, hi = m->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->segments[mid].id < seg->id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < m->count && m->segments[lo].id == seg->id)
        return err_set(FLOE_EINVAL, "manifest: segment %llu is already listed", (unsigned long long)seg->id);
    int rc = reserve_one(m);
    if (rc)
        return rc;
    manifest_segment copy;
    if ((rc = manifest_segment_copy(&copy, seg)))
        return rc;
    memmove(&m->segments[lo + 1], &m->segments[lo], (m->count - lo) * sizeof *m->segments);
    m->segments[lo] = copy;
    m->count++;
    return 0;
}

int manifest_clone(const manifest *m, manifest **out)
{
    manifest *c = calloc(1, sizeof *c);
    int rc = 0;
    if (!c)
        return err_set(FLOE_ENOMEM, "manifest: out of memory");
    *c = *m;
    c->count = 0;
    c->cap = 0;
    c->segments = NULL;
    c->n_prefix_dels = 0;
    c->prefix_dels = NULL;
    for (size_t i = 0; i < m->n_prefix_dels && rc == 0; i++)
        rc = manifest_add_prefix_del(c, m->prefix_dels[i].prefix, m->prefix_dels[i].len, m->prefix_dels[i].seq);
    if (rc)
        goto out;
    if (m->count) {
        c->segments = calloc(m->count, sizeof *c->segments);
        if (!c->segments) {
            rc = err_set(FLOE_ENOMEM, "manifest: out of memory for %zu segments", m->count);
            goto out;
        }
        c->cap = m->count;
    }
    for (size_t i = 0; i < m->count; i++) {
        rc = manifest_segment_copy(&c->segments[i], &m->segments[i]);
        if (rc)
            goto out;
        c->count++;
    }
    *out = c;
    c = NULL;
out:
    manifest_free(c);
    return rc;
}

/* Binary search: segments are ordered by id. */
static size_t find_index(const manifest *m, uint64_t id)
{
    size_t lo = 0, hi = m->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->segments[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->count && m->segments[lo].id == id ? lo : SIZE_MAX;
}

manifest_segment *manifest_find(manifest *m, uint64_t id)
{
    size_t i = find_index(m, id);
    return i == SIZE_MAX ? NULL : &m->segments[i];
}

int manifest_remove(manifest *m, uint64_t id)
{
    size_t i = find_index(m, id);
    if (i == SIZE_MAX)
        return err_set(FLOE_ENOTFOUND, "manifest: no segment %llu", (unsigned long long)id);
    manifest_segment_clear(&m->segments[i]);
    memmove(&m->segments[i], &m->segments[i + 1], (m->count - i - 1) * sizeof *m->segments);
    m->count--;
    return 0;
}

static int by_level_then_min_key(const void *a, const void *b, void *ctx)
{
    const manifest *m = ctx;
    const manifest_segment *x = &m->segments[*(const size_t *)a];
    const manifest_segment *y = &m->segments[*(const size_t *)b];
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    return key_cmp(x->min_key, x->min_key_len, y->min_key, y->min_key_len);
}

/* Note 6: in each level above 0 the live segments' key ranges do not overlap. */
static int check_levels(const manifest *m, const char *name, int code)
{
    size_t n = 0, *idx = malloc((m->count ? m->count : 1) * sizeof *idx);
    int rc = 0;
    if (!idx)
        return err_set(FLOE_ENOMEM, "manifest: out of memory");
    for (size_t i = 0; i < m->count; i++)
        if (m->segments[i].level > 0 && !m->segments[i].retired)
            idx[n++] = i;
    qsort_r(idx, n, sizeof *idx, by_level_then_min_key, (void *)m);
    for (size_t k = 1; k < n && rc == 0; k++) {
        const manifest_segment *a = &m->segments[idx[k - 1]], *b = &m->segments[idx[k]];
        if (a->level == b->level && key_cmp(a->max_key, a->max_key_len, b->min_key, b->min_key_len) >= 0)
            rc = err_set(code, "%s: segments %llu and %llu of level %u overlap; a level's segments must not", name,
                         (unsigned long long)a->id, (unsigned long long)b->id, (unsigned)a->level);
    }
    free(idx);
    return rc;
}

/* Checks the cross-field rules of note 4. code is FLOE_EINVAL when writing, FLOE_ECORRUPT when
 * reading; name prefixes the message. */
static int check_rules(const manifest *m, const char *name, int code)
{
    for (size_t i = 0; i < m->count; i++) {
        const manifest_segment *s = &m->segments[i];
        if (i && s->id <= m->segments[i - 1].id)
            return err_set(code, "%s: segments[%zu].id %llu does not follow %llu; ids must strictly increase",
                           name, i, (unsigned long long)s->id, (unsigned long long)m->segments[i - 1].id);
        if (s->id >= m->next_segment_id)
            return err_set(code, "%s: segments[%zu].id %llu is not below next_segment_id %llu", name, i,
                           (unsigned long long)s->id, (unsigned long long)m->next_segment_id);
        if (s->min_key_len > FLOE_MAX_KEY_BYTES || s->max_key_len > FLOE_MAX_KEY_BYTES)
            return err_set(code, "%s: segments[%zu] has a key longer than %d bytes", name, i,
                           FLOE_MAX_KEY_BYTES);
        if (key_cmp(s->min_key, s->min_key_len, s->max_key, s->max_key_len) > 0)
            return err_set(code, "%s: segments[%zu].min_key sorts after its max_key", name, i);
        if (s->min_seq > s->max_seq)
            return err_set(code, "%s: segments[%zu].min_seq %llu is above its max_seq %llu", name, i,
                           (unsigned long long)s->min_seq, (unsigned long long)s->max_seq);
        if (s->max_seq > m->last_seq)
            return err_set(code, "%s: segments[%zu].max_seq %llu is above last_seq %llu", name, i,
                           (unsigned long long)s->max_seq, (unsigned long long)m->last_seq);
        if ((unsigned)s->state >= sizeof state_names / sizeof state_names[0])
            return err_set(code, "%s: segments[%zu].state %d is not a segment state", name, i, (int)s->state);
        if (s->level > MANIFEST_MAX_LEVEL)
            return err_set(code, "%s: segments[%zu].level %u is above %d", name, i, (unsigned)s->level,
                           MANIFEST_MAX_LEVEL);
        if (s->retired && s->state != SEG_REMOTE)
            return err_set(code, "%s: segments[%zu] is retired but its state is %s, not remote", name, i,
                           manifest_state_name(s->state));
    }
    for (size_t i = 0; i < m->n_prefix_dels; i++) {
        const prefix_del *d = &m->prefix_dels[i];
        if (d->len == 0 || d->len > FLOE_MAX_KEY_BYTES)
            return err_set(code, "%s: prefix_deletes[%zu].prefix must be 1 to %d bytes", name, i, FLOE_MAX_KEY_BYTES);
        if (d->seq > m->last_seq)
            return err_set(code, "%s: prefix_deletes[%zu].seq %llu is above last_seq %llu", name, i,
                           (unsigned long long)d->seq, (unsigned long long)m->last_seq);
    }
    return check_levels(m, name, code);
}

static json_t *hex_string(const uint8_t *p, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char *buf = malloc(2 * len + 1);
    if (!buf)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        buf[2 * i] = digits[p[i] >> 4];
        buf[2 * i + 1] = digits[p[i] & 15];
    }
    buf[2 * len] = '\0';
    json_t *s = json_stringn(buf, 2 * len);
    free(buf);
    return s;
}

/* Sets obj[key] = u as a JSON integer; refuses values jansson cannot hold (note 3). */
static int put_u64(json_t *obj, const char *path, const char *key, uint64_t u)
{
    if (u > (uint64_t)INT64_MAX)
        return err_set(FLOE_EINVAL, "manifest: field %s%s = %llu is above %lld, the largest a manifest holds",
                       path, key, (unsigned long long)u, (long long)INT64_MAX);
    if (json_object_set_new(obj, key, json_integer((json_int_t)u)) != 0)
        return err_set(FLOE_ENOMEM, "manifest: out of memory");
    return 0;
}

static int put_new(json_t *obj, const char *key, json_t *value)
{
    if (!value || json_object_set_new(obj, key, value) != 0)
        return err_set(FLOE_ENOMEM, "manifest: out of memory");
    return 0;
}

static int segment_to_json(const manifest_segment *s, size_t i, json_t **out)
{
    char path[48];
    int rc = 0;
    snprintf(path, sizeof path, "segments[%zu].", i);
    json_t *o = json_object();
    if (!o)
        return err_set(FLOE_ENOMEM, "manifest: out of memory");
    const char *key = s->object_key ? s->object_key : "";
    if (strlen(key) > MANIFEST_MAX_OBJECT_KEY_BYTES) {
        rc = err_set(FLOE_EINVAL, "manifest: field %sobject_key is longer than %d bytes", path,
                     MANIFEST_MAX_OBJECT_KEY_BYTES);
        goto out;
    }
    json_t *key_json = json_string(key);
    if (!key_json) { /* jansson refuses text that is not UTF-8 */
        rc = err_set(FLOE_EINVAL, "manifest: field %sobject_key is not valid UTF-8", path);
        goto out;
    }
    if ((rc = put_new(o, "object_key", key_json)) || (rc = put_u64(o, path, "id", s->id)) ||
        (rc = put_u64(o, path, "size", s->size)) || (rc = put_u64(o, path, "crc32c", s->crc32c)) ||
        (rc = put_new(o, "min_key", hex_string(s->min_key, s->min_key_len))) ||
        (rc = put_new(o, "max_key", hex_string(s->max_key, s->max_key_len))) ||
        (rc = put_u64(o, path, "min_seq", s->min_seq)) || (rc = put_u64(o, path, "max_seq", s->max_seq)) ||
        (rc = put_u64(o, path, "count", s->count)) || (rc = put_u64(o, path, "epoch", s->epoch)) ||
        (rc = put_new(o, "created_unix_s", json_integer((json_int_t)s->created_unix_s))) ||
        (rc = put_new(o, "state", json_string(manifest_state_name(s->state)))) ||
        (rc = put_u64(o, path, "level", s->level)) || (rc = put_new(o, "retired", json_boolean(s->retired))) ||
        (s->expires_ms && (rc = put_u64(o, path, "expires_ms", s->expires_ms))))
        goto out;
    *out = o;
    o = NULL;
out:
    json_decref(o);
    return rc;
}

/* Builds the document without its checksum (note 1). */
static int manifest_to_object(const manifest *m, json_t **out)
{
    int rc = check_rules(m, "manifest", FLOE_EINVAL);
    if (rc)
        return rc;
    json_t *root = json_object();
    json_t *segs = json_array();
    if (!root || !segs) {
        rc = err_set(FLOE_ENOMEM, "manifest: out of memory");
        goto out;
    }
    if ((rc = put_u64(root, "", "format", MANIFEST_FORMAT)) ||
        (rc = put_u64(root, "", "version", m->version)) ||
        (rc = put_u64(root, "", "writer_epoch", m->writer_epoch)) ||
        (rc = put_u64(root, "", "next_segment_id", m->next_segment_id)) ||
        (rc = put_u64(root, "", "last_seq", m->last_seq)) ||
        (rc = put_u64(root, "", "wal_first_file", m->wal_first_file)) ||
        (rc = put_u64(root, "", "remote_version", m->remote_version)))
        goto out;
    for (size_t i = 0; i < m->count; i++) {
        json_t *seg = NULL;
        if ((rc = segment_to_json(&m->segments[i], i, &seg)))
            goto out;
        if (json_array_append_new(segs, seg) != 0) {
            rc = err_set(FLOE_ENOMEM, "manifest: out of memory");
            goto out;
        }
    }
    rc = put_new(root, "segments", segs);
    segs = NULL;
    if (rc)
        goto out;
    json_t *dels = json_array();
    if ((rc = put_new(root, "prefix_deletes", dels)))
        goto out;
    for (size_t i = 0; i < m->n_prefix_dels; i++) {
        char path[48];
        snprintf(path, sizeof path, "prefix_deletes[%zu].", i);
        json_t *o = json_object();
        if (!o || json_array_append_new(dels, o) != 0) {
            rc = err_set(FLOE_ENOMEM, "manifest: out of memory");
            goto out;
        }
        if ((rc = put_new(o, "prefix", hex_string(m->prefix_dels[i].prefix, m->prefix_dels[i].len))) ||
            (rc = put_u64(o, path, "seq", m->prefix_dels[i].seq)))
            goto out;
    }
    *out = root;
    root = NULL;
out:
    json_decref(segs);
    json_decref(root);
    return rc;
}

/* The CRC32C of the canonical form of obj (note 1). */
static int canonical_crc(const json_t *obj, uint32_t *crc_out)
{
    char *canon = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    if (!canon)
        return err_set(FLOE_ENOMEM, "manifest: out of memory");
    *crc_out = crc32c(canon, strlen(canon));
    free(canon);
    return 0;
}

int manifest_to_json(const manifest *m, char **json_out, size_t *len_out)
{
    return manifest_to_json_within(m, MANIFEST_MAX_BYTES, json_out, len_out);
}

int manifest_to_json_within(const manifest *m, size_t max_bytes, char **json_out, size_t *len_out)
{
    json_t *root = NULL;
    char *text = NULL;
    uint32_t crc = 0;
    int rc = manifest_to_object(m, &root);
    if (rc)
        goto out;
    if ((rc = canonical_crc(root, &crc)) || (rc = put_u64(root, "", "checksum", crc)))
        goto out;
    text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text) {
        rc = err_set(FLOE_ENOMEM, "manifest: out of memory");
        goto out;
    }
    size_t len = strlen(text);
    if (len + 1 > max_bytes) {
        rc = err_set(FLOE_ETOOBIG,
                     "manifest version %" PRIu64 " of %zu segments would be %zu bytes, above the %zu bytes a "
                     "reader accepts: refusing to write it (the store holds too many segments)",
                     m->version, m->count, len + 1, max_bytes);
        goto out;
    }
    char *with_newline = realloc(text, len + 2);
    if (!with_newline) {
        rc = err_set(FLOE_ENOMEM, "manifest: out of memory");
        goto out;
    }
    text = with_newline;
    text[len] = '\n';
    text[len + 1] = '\0';
    *json_out = text;
    if (len_out)
        *len_out = len + 1;
    text = NULL;
out:
    free(text);
    json_decref(root);
    return rc;
}

/* Context for reading fields: the name for messages and the path of the object being read. */
typedef struct reader {
    const char *name;
    char path[48]; /* "" or "segments[12]." */
} reader;

static int field_error(const reader *r, const char *field, const char *problem)
{
    return err_set(FLOE_ECORRUPT, "%s: field %s%s %s", r->name, r->path, field, problem);
}

/* Fails on any key of obj not in allowed (a NULL-terminated list). */
static int check_no_unknown(const reader *r, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        (void)value;
        const char *const *a = allowed;
        while (*a && strcmp(*a, key) != 0)
            a++;
        if (!*a)
            return err_set(FLOE_ECORRUPT, "%s: unknown field %s%.64s", r->name, r->path, key);
    }
    return 0;
}

static int get_field(const reader *r, json_t *obj, const char *field, json_t **out)
{
    *out = json_object_get(obj, field);
    if (!*out)
        return err_set(FLOE_ECORRUPT, "%s: missing field %s%s", r->name, r->path, field);
    return 0;
}

static int get_u64(const reader *r, json_t *obj, const char *field, uint64_t max, uint64_t *out)
{
    json_t *v;
    int rc = get_field(r, obj, field, &v);
    if (rc)
        return rc;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return field_error(r, field, "must be an unsigned integer");
    if ((uint64_t)json_integer_value(v) > max)
        return field_error(r, field,
                           max == UINT32_MAX ? "must be an unsigned 32-bit integer" : "is out of range");
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Reads a lowercase hex key into a malloc'd buffer (at least one byte). */
static int get_hex_key(const reader *r, json_t *obj, const char *field, uint8_t **out, uint32_t *len_out)
{
    json_t *v;
    int rc = get_field(r, obj, field, &v);
    if (rc)
        return rc;
    if (!json_is_string(v))
        return field_error(r, field, "must be a string of lowercase hex digits");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n % 2)
        return field_error(r, field, "has an odd number of hex digits");
    if (n / 2 > FLOE_MAX_KEY_BYTES)
        return field_error(r, field, "is longer than the 1024-byte key limit");
    uint8_t *buf = malloc(n / 2 ? n / 2 : 1);
    if (!buf)
        return err_set(FLOE_ENOMEM, "manifest: out of memory");
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(buf);
            return field_error(r, field, "must be a string of lowercase hex digits");
        }
        buf[i] = (uint8_t)(hi << 4 | lo);
    }
    *out = buf;
    *len_out = (uint32_t)(n / 2);
    return 0;
}

static const char *const segment_fields[] = {
    "id",      "object_key", "size",  "crc32c",         "min_key", "max_key", "min_seq",
    "max_seq", "count",      "epoch", "created_unix_s", "state",   "level",   "retired", "expires_ms", NULL,
};

/* Format 1 had neither level nor retired. */
static const char *const segment_fields_v1[] = {
    "id",      "object_key", "size",  "crc32c",         "min_key", "max_key", "min_seq",
    "max_seq", "count",      "epoch", "created_unix_s", "state",   NULL,
};

static int segment_from_json(const reader *r, json_t *o, uint64_t format, manifest_segment *out)
{
    manifest_segment s = {0};
    uint64_t u32;
    json_t *v;
    int rc;
    if (!json_is_object(o))
        return err_set(FLOE_ECORRUPT, "%s: %.*s must be an object", r->name, (int)strlen(r->path) - 1,
                       r->path);
    if ((rc = check_no_unknown(r, o, format == 1 ? segment_fields_v1 : segment_fields)) ||
        (rc = get_u64(r, o, "id", UINT64_MAX, &s.id)) ||
        (rc = get_u64(r, o, "size", UINT64_MAX, &s.size)) || (rc = get_u64(r, o, "crc32c", UINT32_MAX, &u32)))
        goto out;
    s.crc32c = (uint32_t)u32;
    if ((rc = get_field(r, o, "object_key", &v)))
        goto out;
    if (!json_is_string(v)) {
        rc = field_error(r, "object_key", "must be a string");
        goto out;
    }
    if (json_string_length(v) > MANIFEST_MAX_OBJECT_KEY_BYTES ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        rc = field_error(r, "object_key", "must be at most 1024 bytes with no NUL characters");
        goto out;
    }
    if (!(s.object_key = strdup(json_string_value(v)))) {
        rc = err_set(FLOE_ENOMEM, "manifest: out of memory");
        goto out;
    }
    if ((rc = get_hex_key(r, o, "min_key", &s.min_key, &s.min_key_len)) ||
        (rc = get_hex_key(r, o, "max_key", &s.max_key, &s.max_key_len)) ||
        (rc = get_u64(r, o, "min_seq", UINT64_MAX, &s.min_seq)) ||
        (rc = get_u64(r, o, "max_seq", UINT64_MAX, &s.max_seq)) ||
        (rc = get_u64(r, o, "count", UINT64_MAX, &s.count)) ||
        (rc = get_u64(r, o, "epoch", UINT64_MAX, &s.epoch)))
        goto out;
    if ((rc = get_field(r, o, "created_unix_s", &v)))
        goto out;
    if (!json_is_integer(v)) {
        rc = field_error(r, "created_unix_s", "must be an integer");
        goto out;
    }
    s.created_unix_s = (int64_t)json_integer_value(v);
    if ((rc = get_field(r, o, "state", &v)))
        goto out;
    rc = field_error(r, "state", "must be one of \"local\", \"uploading\", \"remote\", \"local+remote\"");
    if (json_is_string(v)) {
        for (size_t i = 0; i < sizeof state_names / sizeof state_names[0]; i++) {
            if (strcmp(json_string_value(v), state_names[i]) == 0) {
                s.state = (manifest_seg_state)i;
                rc = 0;
                break;
            }
        }
    }
    if (rc)
        goto out;
    if (format >= 2) {
        uint64_t level;
        if ((rc = get_u64(r, o, "level", MANIFEST_MAX_LEVEL, &level)) || (rc = get_field(r, o, "retired", &v)))
            goto out;
        if (!json_is_boolean(v)) {
            rc = field_error(r, "retired", "must be true or false");
            goto out;
        }
        s.level = (uint32_t)level;
        s.retired = json_is_true(v);
        if (json_object_get(o, "expires_ms") && (rc = get_u64(r, o, "expires_ms", INT64_MAX, &s.expires_ms)))
            goto out; /* optional: absent is 0, nothing expires */
    }
    *out = s;
    return 0;
out:
    manifest_segment_clear(&s);
    return rc;
}

static const char *const manifest_fields[] = {
    "format",   "checksum",       "version",        "writer_epoch", "next_segment_id",
    "last_seq", "wal_first_file", "remote_version", "segments",     "prefix_deletes", NULL,
};
static const char *const manifest_fields_v1[] = {
    "format",   "checksum",       "version",        "writer_epoch", "next_segment_id",
    "last_seq", "wal_first_file", "remote_version", "segments",     NULL,
};

static int prefix_dels_from_json(const reader *r, json_t *root, manifest *m)
{
    json_t *arr = json_object_get(root, "prefix_deletes");
    int rc;
    if (!arr)
        return 0; /* written before prefix deletes: none */
    if (!json_is_array(arr))
        return field_error(r, "prefix_deletes", "must be an array");
    if (json_array_size(arr) > MANIFEST_MAX_SEGMENTS)
        return err_set(FLOE_ECORRUPT, "%s: more than %u prefix deletes", r->name, MANIFEST_MAX_SEGMENTS);
    static const char *const fields[] = {"prefix", "seq", NULL};
    for (size_t i = 0; i < json_array_size(arr); i++) {
        reader dr = {.name = r->name};
        snprintf(dr.path, sizeof dr.path, "prefix_deletes[%zu].", i);
        json_t *o = json_array_get(arr, i);
        uint8_t *prefix = NULL;
        uint32_t len = 0;
        uint64_t seq = 0;
        if (!json_is_object(o))
            return err_set(FLOE_ECORRUPT, "%s: prefix_deletes[%zu] must be an object", r->name, i);
        if ((rc = check_no_unknown(&dr, o, fields)) || (rc = get_hex_key(&dr, o, "prefix", &prefix, &len)) ||
            (rc = get_u64(&dr, o, "seq", INT64_MAX, &seq)) || (rc = manifest_add_prefix_del(m, prefix, len, seq))) {
            free(prefix);
            return rc;
        }
        free(prefix);
    }
    return 0;
}

int manifest_from_json(const char *json, size_t len, const char *name, manifest **out)
{
    reader r = {.name = name ? name : "manifest", .path = ""};
    manifest *m = NULL;
    json_error_t jerr;
    uint64_t format, checksum;
    uint32_t crc = 0;
    json_t *segs;
    int rc;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return err_set(FLOE_ECORRUPT, "%s: truncated or invalid JSON at line %d column %d: %s", r.name,
                       jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root)) {
        rc = err_set(FLOE_ECORRUPT, "%s: the manifest must be a JSON object", r.name);
        goto out;
    }
    if ((rc = get_u64(&r, root, "format", UINT64_MAX, &format)))
        goto out;
    if (format < MANIFEST_FORMAT_OLDEST || format > MANIFEST_FORMAT) {
        rc = err_set(FLOE_ECORRUPT,
                     "%s: format %llu is not supported (this floe reads formats %d to %d); use a newer floe",
                     r.name, (unsigned long long)format, MANIFEST_FORMAT_OLDEST, MANIFEST_FORMAT);
        goto out;
    }
    if ((rc = get_u64(&r, root, "checksum", UINT32_MAX, &checksum)))
        goto out;
    json_object_del(root, "checksum");
    if ((rc = canonical_crc(root, &crc)))
        goto out;
    if (crc != checksum) {
        rc = err_set(FLOE_ECORRUPT, "%s: checksum mismatch (stored %llu, computed %lu): the file is damaged",
                     r.name, (unsigned long long)checksum, (unsigned long)crc);
        goto out;
    }
    if ((rc = manifest_create(&m)))
        goto out;
    if ((rc = check_no_unknown(&r, root, format == 1 ? manifest_fields_v1 : manifest_fields)) ||
        (format >= 2 && (rc = prefix_dels_from_json(&r, root, m))) ||
        (rc = get_u64(&r, root, "version", INT64_MAX, &m->version)) ||
        (rc = get_u64(&r, root, "writer_epoch", INT64_MAX, &m->writer_epoch)) ||
        (rc = get_u64(&r, root, "next_segment_id", INT64_MAX, &m->next_segment_id)) ||
        (rc = get_u64(&r, root, "last_seq", INT64_MAX, &m->last_seq)) ||
        (rc = get_u64(&r, root, "wal_first_file", INT64_MAX, &m->wal_first_file)) ||
        (rc = get_u64(&r, root, "remote_version", INT64_MAX, &m->remote_version)) ||
        (rc = get_field(&r, root, "segments", &segs)))
        goto out;
    if (!json_is_array(segs)) {
        rc = field_error(&r, "segments", "must be an array");
        goto out;
    }
    if (json_array_size(segs) > MANIFEST_MAX_SEGMENTS) {
        rc = err_set(FLOE_ECORRUPT, "%s: more than %u segments", r.name, MANIFEST_MAX_SEGMENTS);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(segs); i++) {
        reader sr = {.name = r.name};
        snprintf(sr.path, sizeof sr.path, "segments[%zu].", i);
        if ((rc = reserve_one(m)) ||
            (rc = segment_from_json(&sr, json_array_get(segs, i), format, &m->segments[m->count])))
            goto out;
        m->count++;
    }
    if ((rc = check_rules(m, r.name, FLOE_ECORRUPT)))
        goto out;
    *out = m;
    m = NULL;
out:
    manifest_free(m);
    json_decref(root);
    return rc;
}

int manifest_load(const char *dir, manifest **out)
{
    char *path = file_path_join(dir, MANIFEST_FILE);
    char *buf = NULL;
    int fd = -1, rc = 0;
    struct stat st;
    if (!path)
        return err_set(FLOE_ENOMEM, "manifest: out of memory");
    fd = file_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            rc = err_set(FLOE_ENOTFOUND, "%s does not exist", path);
        else
            rc = err_set(FLOE_EIO, "open %s: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        rc = err_set(FLOE_EIO, "stat %s: %s", path, strerror(errno));
        goto out;
    }
    if ((uint64_t)st.st_size > MANIFEST_MAX_BYTES) {
        rc = err_set(FLOE_ECORRUPT, "%s is %lld bytes, more than the %llu-byte limit for a manifest", path,
                     (long long)st.st_size, (unsigned long long)MANIFEST_MAX_BYTES);
        goto out;
    }
    size_t size = (size_t)st.st_size, got = 0;
    buf = malloc(size + 1);
    if (!buf) {
        rc = err_set(FLOE_ENOMEM, "manifest: out of memory reading %s", path);
        goto out;
    }
    while (got < size) {
        ssize_t n = file_read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = err_set(FLOE_EIO, "read %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break; /* shrank under us: parse what is there, the checksum decides */
        got += (size_t)n;
    }
    rc = manifest_from_json(buf, got, path, out);
out:
    if (fd >= 0)
        file_close(fd);
    free(buf);
    free(path);
    return rc;
}

int manifest_save(const char *dir, manifest *m)
{
    char *tmp = file_path_join(dir, MANIFEST_TMP_FILE);
    char *path = file_path_join(dir, MANIFEST_FILE);
    char *text = NULL;
    size_t len = 0;
    int fd = -1, rc = 0, tmp_created = 0, e;
    uint64_t old_version = m->version;
    if (!tmp || !path) {
        rc = err_set(FLOE_ENOMEM, "manifest: out of memory");
        goto out;
    }
    m->version++;
    if ((rc = manifest_to_json(m, &text, &len)))
        goto out;
    fd = file_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = err_set(FLOE_EIO, "manifest: create %s: %s", tmp, strerror(errno));
        goto out;
    }
    tmp_created = 1;
    if ((e = file_write_all(fd, text, len)) != 0) {
        rc = err_set(FLOE_EIO, "manifest: write %s: %s", tmp, strerror(e));
        goto out;
    }
    if (file_fsync(fd) != 0) {
        rc = err_set(FLOE_EIO, "manifest: fsync %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (file_close(fd) != 0) {
        fd = -1;
        rc = err_set(FLOE_EIO, "manifest: close %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (file_rename(tmp, path) != 0) {
        rc = err_set(FLOE_EIO, "manifest: rename %s to %s: %s", tmp, path, strerror(errno));
        goto out;
    }
    tmp_created = 0;
    if ((rc = file_fsync_dir(dir)) != 0) {
        rc = err_wrap(rc, "manifest");
        goto out;
    }
out:
    if (fd >= 0)
        file_close(fd);
    if (tmp_created)
        file_unlink(tmp);
    if (rc)
        m->version = old_version;
    free(text);
    free(tmp);
    free(path);
    return rc;
}
