/* The manifest in the cold tier (numbered objects manifest/<20-digit version>.json that are never
 * overwritten), the writer-epoch fencing built on them, and the operator tools that work from the
 * bucket alone: restore, fsck and gc. The bucket layout is in docs/formats.md, "Bucket layout".
 *
 * Invariants:
 * 1. A manifest object is only ever created with If-None-Match (cold_put's if_none_match): a
 *    version, once published, keeps its bytes. A second writer of the same version either wrote
 *    the same bytes (a retry after a lost answer: success) or learns whose version it is.
 * 2. The newest manifest is the one with the highest version among keys that parse as manifest
 *    keys; other keys under manifest/ are ignored, never deleted.
 * 3. A writer claims a prefix only if every segment object the newest manifest names is one its
 *    own manifest has (same id, same object key): it never publishes a manifest that drops another
 *    writer's data. Its claim names those segments again, so nothing the bucket already had
 *    becomes an orphan through a claim.
 * 4. gc deletes manifests first, then segment objects, and a segment object only if no manifest
 *    left in the bucket after gc names it and its mtime is at least grace_s old. The newest
 *    manifest is never deleted, and gc deletes nothing if any manifest it keeps does not parse.
 * 5. Objects under segments/ whose keys are not floe segment keys are reported, never deleted.
 * 6. Every buffer grown from the bucket has a cap: a manifest REMOTE_MANIFEST_MAX_BYTES, a listing
 *    REMOTE_MAX_LISTED_OBJECTS keys, object bytes are streamed in REMOTE_READ_CHUNK_BYTES pieces.
 */
#include "remote.h"

#include "crc32c.h"
#include "error.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REMOTE_MAX_LISTED_OBJECTS (16u * 1024 * 1024)
#define REMOTE_READ_CHUNK_BYTES (8u << 20)
/* remote_claim retries when another writer publishes the version it wanted at the same moment. */
#define REMOTE_CLAIM_ATTEMPTS 8
/* publish_version's answer when the version exists with other bytes and is not from a newer epoch. */
#define PUBLISH_CONFLICT 2

/* ---- progress lines ---- */

/* Progress of a loop over objects: "\rchecked 12/340 objects" redrawn at most every 100 ms on a
 * TTY; on anything else (when allowed) a plain line every 5 s and one at the end. */
typedef struct progress_meter {
    FILE *f; /* NULL: silent */
    int tty;
    const char *verb;
    uint64_t total, done;
    struct timespec last;
} progress_meter;

static int64_t elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* tty_only: print nothing unless f is a terminal. */
static void progress_begin(progress_meter *p, FILE *f, int tty_only, const char *verb, uint64_t total)
{
    memset(p, 0, sizeof *p);
    if (!f)
        return;
    int fd = fileno(f);
    p->tty = fd >= 0 && isatty(fd);
    if (tty_only && !p->tty)
        return;
    p->f = f;
    p->verb = verb;
    p->total = total;
    clock_gettime(CLOCK_MONOTONIC, &p->last);
}

static void progress_step(progress_meter *p)
{
    p->done++;
    if (!p->f || p->done == p->total)
        return;
    if (elapsed_ms(&p->last) < (p->tty ? 100 : 5000))
        return;
    clock_gettime(CLOCK_MONOTONIC, &p->last);
    fprintf(p->f, p->tty ? "\r%s %" PRIu64 "/%" PRIu64 " objects" : "%s %" PRIu64 "/%" PRIu64 " objects\n",
            p->verb, p->done, p->total);
    fflush(p->f);
}

static void progress_end(progress_meter *p)
{
    if (!p->f)
        return;
    fprintf(p->f, p->tty ? "\r%s %" PRIu64 "/%" PRIu64 " objects\n" : "%s %" PRIu64 "/%" PRIu64 " objects\n",
            p->verb, p->done, p->total);
    fflush(p->f);
    p->f = NULL;
}

/* ---- listings ---- */

typedef struct listed {
    char *key;
    uint64_t size;
    int64_t mtime_unix_s;
    int named; /* named by a manifest that is kept */
} listed;

typedef struct listing {
    listed *v;
    size_t n, cap;
} listing;

static void listing_free(listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].key);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int listing_add(void *ctx, const char *key, uint64_t size, int64_t mtime_unix_s)
{
    listing *l = ctx;
    if (l->n == l->cap) {
        if (l->cap >= REMOTE_MAX_LISTED_OBJECTS)
            return err_set(FLOE_ENOMEM, "listing the cold tier: more than %u objects under one prefix",
                           REMOTE_MAX_LISTED_OBJECTS);
        size_t cap = l->cap ? l->cap * 2 : 256;
        listed *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return err_set(FLOE_ENOMEM, "listing the cold tier: out of memory for %zu keys", cap);
        l->v = v;
        l->cap = cap;
    }
    char *k = strdup(key);
    if (!k)
        return err_set(FLOE_ENOMEM, "listing the cold tier: out of memory");
    l->v[l->n++] = (listed){.key = k, .size = size, .mtime_unix_s = mtime_unix_s};
    return 0;
}

static int listed_cmp(const void *a, const void *b)
{
    return strcmp(((const listed *)a)->key, ((const listed *)b)->key);
}

/* Lists every key under prefix into *out (sorted bytewise). */
static int listing_collect(cold_t *c, const char *prefix, listing *out)
{
    listing l = {0};
    int rc = cold_list(c, prefix, listing_add, &l);
    if (rc != 0) {
        listing_free(&l);
        return err_wrap(rc < 0 ? rc : FLOE_ECOLD, "list %s in the cold tier", prefix);
    }
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, listed_cmp);
    *out = l;
    return 0;
}

static listed *listing_find(const listing *l, const char *key)
{
    listed probe = {.key = (char *)key};
    return l->n ? bsearch(&probe, l->v, l->n, sizeof *l->v, listed_cmp) : NULL;
}

/* ---- manifests ---- */

/* The object key of s: its own, or the layout's default for its id and epoch. Points into s or buf. */
static const char *segment_object_key(const manifest_segment *s, char buf[COLD_LAYOUT_KEY_MAX])
{
    if (s->object_key && s->object_key[0])
        return s->object_key;
    cold_segment_key(s->id, s->epoch, buf);
    return buf;
}

/* Reads and parses the manifest object at key (of the given version). */
static int read_manifest(cold_t *c, const char *key, uint64_t version, manifest **out)
{
    void *data = NULL;
    size_t len = 0;
    manifest *m = NULL;
    int rc = cold_get(c, key, &data, &len, REMOTE_MANIFEST_MAX_BYTES);
    if (rc == FLOE_ETOOBIG) {
        rc = err_set(FLOE_ECORRUPT, "remote manifest %s is larger than %u bytes: it is not one floe wrote",
                     key, REMOTE_MANIFEST_MAX_BYTES);
        goto out;
    }
    if (rc < 0) {
        rc = err_wrap(rc, "read remote manifest %s", key);
        goto out;
    }
    if ((rc = manifest_from_json(data, len, key, &m)) < 0) {
        rc = err_wrap(rc, "remote manifest");
        goto out;
    }
    if (m->version != version) {
        rc = err_set(FLOE_ECORRUPT, "remote manifest %s: holds version %" PRIu64 ", not %" PRIu64, key,
                     m->version, version);
        goto out;
    }
    for (size_t i = 0; i < m->count; i++) {
        if (!m->segments[i].object_key[0]) {
            rc = err_set(FLOE_ECORRUPT,
                         "remote manifest %s: segments[%zu] (segment %" PRIu64 ") has no object_key", key, i,
                         m->segments[i].id);
            goto out;
        }
        m->segments[i].state = SEG_REMOTE;
    }
    *out = m;
    m = NULL;
out:
    manifest_free(m);
    free(data);
    return rc;
}

typedef struct newest_scan {
    uint64_t version;
    int found;
} newest_scan;

static int newest_cb(void *ctx, const char *key, uint64_t size, int64_t mtime_unix_s)
{
    newest_scan *s = ctx;
    uint64_t v;
    (void)size;
    (void)mtime_unix_s;
    if (cold_parse_manifest_key(key, &v) != 0)
        return 0; /* invariant 2 */
    if (!s->found || v > s->version)
        s->version = v;
    s->found = 1;
    return 0;
}

int remote_latest(cold_t *c, uint64_t *version_out, manifest **out)
{
    newest_scan scan = {0};
    char key[COLD_LAYOUT_KEY_MAX];
    manifest *m = NULL;
    int rc;
    if (!c || !version_out || !out)
        return err_set(FLOE_EINVAL, "remote_latest: no store or output");
    rc = cold_list(c, "manifest/", newest_cb, &scan);
    if (rc != 0)
        return err_wrap(rc < 0 ? rc : FLOE_ECOLD, "list manifest/ in the cold tier");
    err_clear();
    if (!scan.found)
        return err_set(FLOE_ENOTFOUND, "the cold tier (%s) has no manifest under manifest/",
                       cold_backend_name(c));
    cold_manifest_key(scan.version, key);
    if ((rc = read_manifest(c, key, scan.version, &m)) < 0)
        return rc;
    *version_out = scan.version;
    *out = m;
    return 0;
}

static int id_in(uint64_t id, const uint64_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

int remote_manifest_build(const manifest *m, const uint64_t *extra_ids, size_t n_extra, uint64_t version,
                          manifest **out)
{
    manifest *r = NULL;
    int rc;
    if (!m || !out || (n_extra && !extra_ids))
        return err_set(FLOE_EINVAL, "remote_manifest_build: no manifest or output");
    for (size_t i = 0; i < n_extra; i++) {
        int found = 0;
        for (size_t j = 0; j < m->count && !found; j++)
            found = m->segments[j].id == extra_ids[i];
        if (!found)
            return err_set(FLOE_EINVAL,
                           "remote_manifest_build: segment %" PRIu64
                           " was uploaded but the manifest does not list it",
                           extra_ids[i]);
    }
    if ((rc = manifest_create(&r)) < 0)
        return rc;
    r->version = version;
    r->remote_version = version;
    r->writer_epoch = m->writer_epoch;
    r->next_segment_id = m->next_segment_id;
    r->last_seq = m->last_seq;
    r->wal_first_file = m->wal_first_file;
    for (size_t i = 0; i < m->count; i++) {
        const manifest_segment *s = &m->segments[i];
        if (s->state != SEG_REMOTE && s->state != SEG_LOCAL_REMOTE && !id_in(s->id, extra_ids, n_extra))
            continue;
        char buf[COLD_LAYOUT_KEY_MAX];
        manifest_segment copy = *s;
        copy.object_key = (char *)segment_object_key(s, buf);
        copy.state = SEG_REMOTE;
        if ((rc = manifest_add(r, &copy)) < 0)
            goto out;
    }
    *out = r;
    r = NULL;
out:
    manifest_free(r);
    return rc;
}

/* Publishes remote (invariant 1). Returns 0, FLOE_EFENCED (a newer epoch holds the version),
 * PUBLISH_CONFLICT (the version holds other bytes from this or an older epoch; *their_epoch set), or
 * an error. */
static int publish_version(cold_t *c, const manifest *remote, uint64_t *their_epoch)
{
    char key[COLD_LAYOUT_KEY_MAX];
    char *json = NULL;
    size_t len = 0;
    manifest *theirs = NULL;
    int rc;
    if (remote->version == 0)
        return err_set(FLOE_EINVAL, "publish manifest: version 0 is not a valid remote version");
    for (size_t i = 0; i < remote->count; i++)
        if (remote->segments[i].state != SEG_REMOTE || !remote->segments[i].object_key ||
            !remote->segments[i].object_key[0])
            return err_set(FLOE_EINVAL,
                           "publish manifest: segment %" PRIu64
                           " is not in state remote with an object key (build "
                           "the manifest with remote_manifest_build)",
                           remote->segments[i].id);
    cold_manifest_key(remote->version, key);
    if ((rc = manifest_to_json(remote, &json, &len)) < 0)
        goto out;
    rc = cold_put(c, key, json, len, 1);
    if (rc != COLD_EXISTS) {
        if (rc < 0)
            rc = err_wrap(rc, "publish manifest %s", key);
        goto out;
    }
    /* Someone else published this version first. Whose is it? */
    if ((rc = read_manifest(c, key, remote->version, &theirs)) < 0) {
        rc = err_wrap(FLOE_ECOLD,
                      "publish manifest %s: the version exists with other bytes and cannot be read", key);
        goto out;
    }
    if (theirs->writer_epoch > remote->writer_epoch) {
        rc = err_set(FLOE_EFENCED,
                     "fenced: writer epoch %" PRIu64 " published version %" PRIu64
                     "; this writer (epoch %" PRIu64
                     ") stops. Another node has taken over this bucket prefix.",
                     theirs->writer_epoch, remote->version, remote->writer_epoch);
        goto out;
    }
    *their_epoch = theirs->writer_epoch;
    rc = PUBLISH_CONFLICT;
out:
    manifest_free(theirs);
    free(json);
    return rc;
}

int remote_publish(cold_t *c, const manifest *remote)
{
    uint64_t their_epoch = 0;
    if (!c || !remote)
        return err_set(FLOE_EINVAL, "remote_publish: no store or manifest");
    int rc = publish_version(c, remote, &their_epoch);
    if (rc == PUBLISH_CONFLICT) {
        char key[COLD_LAYOUT_KEY_MAX];
        cold_manifest_key(remote->version, key);
        rc = err_set(FLOE_ECOLD,
                     "publish manifest %s: version %" PRIu64
                     " was already published with other content by writer "
                     "epoch %" PRIu64 " (this writer is epoch %" PRIu64
                     "); two writers share this bucket prefix, or a retry changed the manifest",
                     key, remote->version, their_epoch, remote->writer_epoch);
    }
    return rc;
}

/* One claim attempt (invariant 3). Returns 0, PUBLISH_CONFLICT to try again, or an error. */
static int claim_once(cold_t *c, manifest *m)
{
    manifest *newest = NULL, *mine = NULL, *remote = NULL;
    uint64_t newest_version = 0, their_epoch = 0, *ids = NULL;
    int rc = remote_latest(c, &newest_version, &newest);
    if (rc == FLOE_ENOTFOUND) {
        newest = NULL;
        newest_version = 0;
    } else if (rc < 0) {
        goto out;
    }
    size_t n_ids = 0;
    if (newest && newest->count) {
        ids = malloc(newest->count * sizeof *ids);
        if (!ids) {
            rc = err_set(FLOE_ENOMEM, "claim: out of memory");
            goto out;
        }
    }
    for (size_t i = 0; newest && i < newest->count; i++) {
        const manifest_segment *rs = &newest->segments[i];
        manifest_segment *ls = manifest_find(m, rs->id);
        char buf[COLD_LAYOUT_KEY_MAX];
        if (!ls || strcmp(segment_object_key(ls, buf), rs->object_key) != 0) {
            rc = err_set(
                FLOE_EFENCED,
                "this bucket prefix holds another writer's data: manifest version %" PRIu64
                " (writer epoch %" PRIu64 ") names segment object %s (segment %" PRIu64
                ") that this data directory does not have. To take the prefix over, run `floe restore` "
                "into an empty data directory and start from there; to keep both, give this node its own "
                "prefix (cold.s3.prefix or cold.fs.path)",
                newest_version, newest->writer_epoch, rs->object_key, rs->id);
            goto out;
        }
        ids[n_ids++] = rs->id;
    }
    if ((rc = manifest_clone(m, &mine)) < 0)
        goto out;
    uint64_t epoch = m->writer_epoch;
    if (newest && newest->writer_epoch > epoch)
        epoch = newest->writer_epoch;
    mine->writer_epoch = epoch + 1;
    if ((rc = remote_manifest_build(mine, ids, n_ids, newest_version + 1, &remote)) < 0)
        goto out;
    rc = publish_version(c, remote, &their_epoch);
    if (rc == 0) {
        m->writer_epoch = epoch + 1;
        m->remote_version = newest_version + 1;
    }
out:
    free(ids);
    manifest_free(remote);
    manifest_free(mine);
    manifest_free(newest);
    return rc;
}

int remote_claim(cold_t *c, manifest *m)
{
    if (!c || !m)
        return err_set(FLOE_EINVAL, "remote_claim: no store or manifest");
    for (int attempt = 0; attempt < REMOTE_CLAIM_ATTEMPTS; attempt++) {
        int rc = claim_once(c, m);
        if (rc != PUBLISH_CONFLICT)
            return rc < 0 ? err_wrap(rc, "claim the cold tier") : rc;
    }
    return err_set(
        FLOE_ECOLD,
        "claim the cold tier: another writer published a new manifest version each of %d times this one "
        "tried; is a second node writing to the same bucket prefix?",
        REMOTE_CLAIM_ATTEMPTS);
}

/* ---- restore ---- */

/* 1 if dir does not exist, 0 if it is an empty directory, else an error. */
static int check_empty_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            return 1;
        return err_set(FLOE_EIO, "restore: %s: %s", dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return err_set(FLOE_EINVAL, "restore: %s exists and is not a directory", dir);
    DIR *d = opendir(dir);
    if (!d)
        return err_set(FLOE_EIO, "restore: open %s: %s", dir, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = err_set(FLOE_EINVAL,
                     "restore: data directory %s is not empty (it holds %s); restore only into an empty or "
                     "missing directory, so nothing local is overwritten",
                     dir, de->d_name);
        break;
    }
    closedir(d);
    return rc;
}

static int mkdir_parents(const char *dir)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s", dir);
    if (n < 0 || (size_t)n >= sizeof path)
        return err_set(FLOE_EINVAL, "restore: path %s is too long", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return err_set(FLOE_EIO, "restore: mkdir %s: %s", path, strerror(errno));
        *p = saved;
        if (!saved)
            break;
    }
    return 0;
}

/* Checks that every segment m names exists in the cold tier with its size, using one listing of
 * segments/ and a HEAD for any key outside it. */
static int check_objects_exist(cold_t *c, const manifest *m, uint64_t version, FILE *progress_to)
{
    listing l = {0};
    progress_meter p;
    int rc = listing_collect(c, "segments/", &l);
    if (rc < 0)
        return rc;
    progress_begin(&p, progress_to, 0, "checked", m->count);
    for (size_t i = 0; i < m->count; i++) {
        const manifest_segment *s = &m->segments[i];
        listed *e = listing_find(&l, s->object_key);
        uint64_t size = 0;
        if (e) {
            size = e->size;
        } else if ((rc = cold_head(c, s->object_key, &size, NULL)) < 0) {
            if (rc == FLOE_ENOTFOUND)
                rc = err_set(FLOE_ECORRUPT,
                             "restore: segment object %s (segment %" PRIu64
                             ") named by manifest version %" PRIu64
                             " is missing from the cold tier; run `floe fsck --remote` for the full picture",
                             s->object_key, s->id, version);
            goto out;
        }
        if (size != s->size) {
            rc = err_set(FLOE_ECORRUPT,
                         "restore: segment object %s (segment %" PRIu64 ") has %" PRIu64
                         " bytes but manifest version %" PRIu64 " says %" PRIu64 "; run `floe fsck --remote`",
                         s->object_key, s->id, size, version, s->size);
            goto out;
        }
        progress_step(&p);
    }
out:
    progress_end(&p);
    listing_free(&l);
    return rc;
}

int remote_restore(cold_t *c, const char *data_dir, FILE *progress)
{
    manifest *m = NULL;
    uint64_t version = 0, bytes = 0;
    int rc;
    if (!c || !data_dir || !data_dir[0])
        return err_set(FLOE_EINVAL, "restore: no store or data directory");
    if ((rc = check_empty_dir(data_dir)) < 0)
        return rc;
    if ((rc = remote_latest(c, &version, &m)) < 0) {
        if (rc == FLOE_ENOTFOUND)
            err_wrap(rc, "restore: nothing to restore");
        goto out;
    }
    for (size_t i = 0; i < m->count; i++)
        bytes += m->segments[i].size;
    if (progress)
        fprintf(progress,
                "restore: manifest version %" PRIu64 " (writer epoch %" PRIu64
                ") names %zu segments, %" PRIu64 " bytes\n",
                version, m->writer_epoch, m->count, bytes);
    if ((rc = check_objects_exist(c, m, version, progress)) < 0)
        goto out;
    if ((rc = mkdir_parents(data_dir)) < 0)
        goto out;
    /* manifest_save bumps version: the restored directory starts its own local history at 1. */
    m->version = 0;
    m->remote_version = version;
    m->wal_first_file = 0;
    if ((rc = manifest_save(data_dir, m)) < 0) {
        rc = err_wrap(rc, "restore");
        goto out;
    }
    if (progress)
        fprintf(progress, "restore: wrote %s/manifest.json naming %zu segments in state remote\n", data_dir,
                m->count);
out:
    manifest_free(m);
    return rc;
}

/* ---- fsck ---- */

/* The CRC32C of the whole object, read in chunks. */
static int object_crc(cold_t *c, const char *key, uint64_t size, uint32_t *crc_out)
{
    size_t chunk = size < REMOTE_READ_CHUNK_BYTES ? (size_t)size : REMOTE_READ_CHUNK_BYTES;
    uint8_t *buf = malloc(chunk ? chunk : 1);
    uint32_t crc = 0;
    int rc = 0;
    if (!buf)
        return err_set(FLOE_ENOMEM, "fsck: out of memory reading %s", key);
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
        if ((rc = cold_get_range(c, key, off, buf, n)) < 0)
            goto out;
        crc = crc32c_extend(crc, buf, n);
        off += n;
    }
    *crc_out = crc;
out:
    free(buf);
    return rc;
}

static void format_time(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%" PRId64, t);
}

int remote_fsck(cold_t *c, FILE *out, uint64_t *orphans_out)
{
    manifest *m = NULL;
    listing l = {0};
    progress_meter p = {0};
    uint64_t version = 0, missing = 0, size_bad = 0, crc_bad = 0, orphans = 0, unknown = 0, orphan_bytes = 0;
    char first_bad[FLOE_MAX_KEY_BYTES + 1] = "";
    int rc;
    if (!c || !out)
        return err_set(FLOE_EINVAL, "fsck: no store or output");
    rc = remote_latest(c, &version, &m);
    if (rc == FLOE_ECORRUPT) {
        fprintf(out, "damaged: %s\n", floe_last_error());
        return rc;
    }
    if (rc < 0 && rc != FLOE_ENOTFOUND)
        return rc;
    if (rc == FLOE_ENOTFOUND)
        fprintf(out, "fsck: the cold tier has no manifest; every segment object is an orphan\n");
    else
        fprintf(out, "fsck: manifest version %" PRIu64 " (writer epoch %" PRIu64 ") names %zu segments\n",
                version, m->writer_epoch, m->count);
    if ((rc = listing_collect(c, "segments/", &l)) < 0)
        goto out;

    progress_begin(&p, stderr, 1, "checked", m ? m->count : 0);
    for (size_t i = 0; m && i < m->count; i++) {
        const manifest_segment *s = &m->segments[i];
        const char *key = s->object_key;
        listed *e = listing_find(&l, key);
        uint64_t size = 0;
        uint32_t crc = 0;
        const char *problem = NULL;
        if (e) {
            e->named = 1;
            size = e->size;
        } else {
            rc = cold_head(c, key, &size, NULL);
            if (rc == FLOE_ENOTFOUND)
                problem = "missing";
            else if (rc < 0)
                goto out;
        }
        if (!problem && size != s->size) {
            fprintf(out,
                    "size mismatch: %s (segment %" PRIu64 "): the manifest says %" PRIu64
                    " bytes, the object has %" PRIu64 "\n",
                    key, s->id, s->size, size);
            problem = "size";
            size_bad++;
        }
        if (!problem) {
            rc = object_crc(c, key, size, &crc);
            if (rc == FLOE_ENOTFOUND) {
                problem = "missing"; /* deleted while we looked */
            } else if (rc == FLOE_ERANGE) {
                fprintf(out,
                        "size mismatch: %s (segment %" PRIu64 "): the object shrank while being read: %s\n",
                        key, s->id, floe_last_error());
                problem = "size";
                size_bad++;
            } else if (rc < 0) {
                goto out;
            } else if (crc != s->crc32c) {
                fprintf(out,
                        "checksum mismatch: %s (segment %" PRIu64
                        "): the manifest says crc32c 0x%08x, the object's "
                        "bytes give 0x%08x\n",
                        key, s->id, s->crc32c, crc);
                problem = "checksum";
                crc_bad++;
            }
        }
        if (problem && strcmp(problem, "missing") == 0) {
            fprintf(out,
                    "missing: %s (segment %" PRIu64 ", %" PRIu64
                    " bytes) is named by the manifest but is not in "
                    "the cold tier\n",
                    key, s->id, s->size);
            missing++;
        }
        if (problem && !first_bad[0])
            snprintf(first_bad, sizeof first_bad, "%s", key);
        progress_step(&p);
    }
    progress_end(&p);
    rc = 0;

    for (size_t i = 0; i < l.n; i++) {
        const listed *e = &l.v[i];
        uint64_t id, epoch;
        char when[32];
        if (e->named)
            continue;
        format_time(e->mtime_unix_s, when);
        if (cold_parse_segment_key(e->key, &id, &epoch) != 0) {
            fprintf(out,
                    "unknown: %s (%" PRIu64 " bytes, modified %s) is not a floe segment key; left alone\n",
                    e->key, e->size, when);
            unknown++;
            continue;
        }
        fprintf(out,
                "orphan: %s (segment %" PRIu64 ", epoch %" PRIu64 ", %" PRIu64
                " bytes, modified %s) is not named "
                "by the newest manifest; `floe gc` removes it after the grace period\n",
                e->key, id, epoch, e->size, when);
        orphans++;
        orphan_bytes += e->size;
    }
    err_clear();
    uint64_t damaged = missing + size_bad + crc_bad;
    fprintf(out,
            "fsck: %zu objects checked: %" PRIu64 " missing, %" PRIu64 " size mismatches, %" PRIu64
            " checksum mismatches; %" PRIu64 " orphans (%" PRIu64 " bytes), %" PRIu64 " unknown objects\n",
            m ? m->count : (size_t)0, missing, size_bad, crc_bad, orphans, orphan_bytes, unknown);
    if (orphans_out)
        *orphans_out = orphans;
    if (damaged)
        rc = err_set(FLOE_ECORRUPT,
                     "fsck: %" PRIu64 " of %zu segment objects named by manifest version %" PRIu64
                     " are missing or damaged (first: %s)",
                     damaged, m->count, version, first_bad);
out:
    progress_end(&p);
    listing_free(&l);
    manifest_free(m);
    return rc;
}

/* ---- gc ---- */

typedef struct manifest_obj {
    uint64_t version;
    char key[COLD_LAYOUT_KEY_MAX];
    int64_t mtime_unix_s;
    int keep;
} manifest_obj;

static int manifest_obj_cmp(const void *a, const void *b)
{
    uint64_t x = ((const manifest_obj *)a)->version, y = ((const manifest_obj *)b)->version;
    return x < y ? 1 : x > y ? -1 : 0; /* newest first */
}

/* Marks every listed segment object that m names. */
static void mark_named(listing *segs, const manifest *m)
{
    for (size_t i = 0; i < m->count; i++) {
        listed *e = listing_find(segs, m->segments[i].object_key);
        if (e)
            e->named = 1;
    }
}

static void format_age(int64_t age_s, char out[32])
{
    if (age_s < 120)
        snprintf(out, 32, "%" PRId64 " s", age_s);
    else if (age_s < 7200)
        snprintf(out, 32, "%" PRId64 " min", age_s / 60);
    else if (age_s < 172800)
        snprintf(out, 32, "%" PRId64 " h", age_s / 3600);
    else
        snprintf(out, 32, "%" PRId64 " days", age_s / 86400);
}

int remote_gc(cold_t *c, int64_t grace_s, unsigned keep_manifests, int dry_run, FILE *out,
              uint64_t *deleted_out)
{
    listing mlist = {0}, segs = {0};
    manifest_obj *mans = NULL;
    size_t n_mans = 0;
    manifest *m = NULL;
    progress_meter p = {0};
    uint64_t deleted = 0, deleted_bytes = 0, young_orphans = 0;
    const char *verb = dry_run ? "would delete" : "deleted";
    int64_t now = (int64_t)time(NULL);
    int rc;
    if (!c || !out)
        return err_set(FLOE_EINVAL, "gc: no store or output");
    if (grace_s < 0)
        return err_set(FLOE_EINVAL, "gc: grace period %" PRId64 " s is negative", grace_s);
    if (keep_manifests < 1)
        keep_manifests = 1; /* invariant 4: the newest always stays */

    if ((rc = listing_collect(c, "manifest/", &mlist)) < 0)
        goto out;
    if (mlist.n && !(mans = calloc(mlist.n, sizeof *mans))) {
        rc = err_set(FLOE_ENOMEM, "gc: out of memory");
        goto out;
    }
    for (size_t i = 0; i < mlist.n; i++) {
        uint64_t v;
        if (cold_parse_manifest_key(mlist.v[i].key, &v) != 0)
            continue; /* invariant 2 */
        mans[n_mans].version = v;
        snprintf(mans[n_mans].key, sizeof mans[n_mans].key, "%s", mlist.v[i].key);
        mans[n_mans].mtime_unix_s = mlist.v[i].mtime_unix_s;
        n_mans++;
    }
    err_clear();
    if (n_mans == 0) {
        rc = err_set(FLOE_ENOTFOUND,
                     "gc: the cold tier has no manifest; refusing to delete anything (every segment "
                     "object would look orphaned)");
        goto out;
    }
    qsort(mans, n_mans, sizeof *mans, manifest_obj_cmp);
    if ((rc = listing_collect(c, "segments/", &segs)) < 0)
        goto out;

    /* Which manifests stay, and what they name (invariant 4). */
    for (size_t i = 0; i < n_mans; i++) {
        mans[i].keep = i < keep_manifests || mans[i].mtime_unix_s > now - grace_s;
        if (!mans[i].keep)
            continue;
        if ((rc = read_manifest(c, mans[i].key, mans[i].version, &m)) < 0) {
            rc = err_wrap(rc,
                          "gc: a manifest that stays in the bucket cannot be read, so nothing was deleted");
            goto out;
        }
        mark_named(&segs, m);
        manifest_free(m);
        m = NULL;
    }
    fprintf(out,
            "gc: newest manifest version %" PRIu64 "; grace period %" PRId64
            " s; keeping the newest %u manifests%s\n",
            mans[0].version, grace_s, keep_manifests, dry_run ? " (dry run: nothing is deleted)" : "");

    uint64_t to_delete = 0;
    for (size_t i = 0; i < n_mans; i++)
        to_delete += !mans[i].keep;
    for (size_t i = 0; i < segs.n; i++) {
        uint64_t id, epoch;
        listed *e = &segs.v[i];
        if (e->named || cold_parse_segment_key(e->key, &id, &epoch) != 0)
            continue;
        if (e->mtime_unix_s > now - grace_s) {
            young_orphans++;
            e->named = 1; /* spared this time */
            continue;
        }
        to_delete++;
    }
    err_clear();

    /* Manifests first: a name is removed before the object it names (invariant 4). */
    progress_begin(&p, stderr, 1, dry_run ? "listed" : "deleted", to_delete);
    for (size_t i = n_mans; i-- > 0;) {
        char age[32];
        if (mans[i].keep)
            continue;
        if (!dry_run && (rc = cold_delete(c, mans[i].key)) < 0) {
            rc = err_wrap(rc, "gc: delete %s", mans[i].key);
            goto out;
        }
        format_age(now - mans[i].mtime_unix_s, age);
        fprintf(out, "%s %s (manifest version %" PRIu64 ", %s old)\n", verb, mans[i].key, mans[i].version,
                age);
        deleted++;
        progress_step(&p);
    }
    for (size_t i = 0; i < segs.n; i++) {
        uint64_t id, epoch;
        char age[32];
        listed *e = &segs.v[i];
        if (e->named || cold_parse_segment_key(e->key, &id, &epoch) != 0)
            continue;
        if (!dry_run && (rc = cold_delete(c, e->key)) < 0) {
            rc = err_wrap(rc, "gc: delete %s", e->key);
            goto out;
        }
        format_age(now - e->mtime_unix_s, age);
        fprintf(out, "%s %s (orphan segment %" PRIu64 ", %" PRIu64 " bytes, %s old)\n", verb, e->key, id,
                e->size, age);
        deleted++;
        deleted_bytes += e->size;
        progress_step(&p);
    }
    progress_end(&p);
    err_clear();
    fprintf(out,
            "gc: %s %" PRIu64 " objects (%" PRIu64 " bytes of segments); %" PRIu64
            " orphans younger than the grace period kept\n",
            verb, deleted, deleted_bytes, young_orphans);
out:
    progress_end(&p);
    if (deleted_out && rc == 0)
        *deleted_out = deleted;
    manifest_free(m);
    free(mans);
    listing_free(&segs);
    listing_free(&mlist);
    return rc;
}
