/* The manifest in the cold tier (numbered objects manifest/<20-digit version>.json that are never
 * overwritten) and the writer-epoch fencing built on them. The bucket layout is in docs/formats.md,
 * "Bucket layout". The operator tools that work from the bucket alone (restore, fsck, gc) build on
 * these functions and live in src/tools/.
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
 *    becomes an orphan through a claim. When the newest manifest is its own (its epoch), a local
 *    segment it names under this epoch's key is one whose publication the local manifest did not
 *    record before a stop: the claim takes the key over (remote_claim's caller saves it).
 * 4. A manifest read back from the bucket is capped at REMOTE_MANIFEST_MAX_BYTES.
 * 5. A writer epoch belongs to exactly one writer: it is taken by publishing a claim with
 *    If-None-Match, and a racing claimer of the same version retries with a newer epoch. So a
 *    version that already holds this writer's epoch is its own earlier publication whose answer was
 *    lost, even if a retry would now write other bytes (more segments uploaded since).
 * 6. Before it creates version V a writer lists the versions after V - 1 and stops, fenced, if any
 *    is from a newer epoch. If-None-Match alone would not tell it: gc deletes old versions, so a
 *    writer cut off for a while may find V gone and create it, in a hole below the newest version,
 *    where no reader or restore ever looks.
 * 7. Compaction outputs (segments of a level above 0 not yet published) and the retired segments
 *    they replace are swapped in one publication: a manifest names every output and no retired
 *    segment, or no output and every retired one. Either is a state the store really had.
 */
#include "remote.h"

#include "error.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* remote_claim retries when another writer publishes the version it wanted at the same moment. */
#define REMOTE_CLAIM_ATTEMPTS 8
/* publish_version's answer when the version exists with other bytes and is not from a newer epoch. */
#define PUBLISH_CONFLICT 2

/* The object key of s: its own, or the layout's default for its id and epoch. Points into s or buf. */
static const char *segment_object_key(const manifest_segment *s, char buf[COLD_LAYOUT_KEY_MAX])
{
    if (s->object_key && s->object_key[0])
        return s->object_key;
    cold_segment_key(s->id, s->epoch, buf);
    return buf;
}

int remote_read_manifest(cold_t *c, const char *key, uint64_t version, manifest **out)
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
    return remote_latest_from(c, 0, version_out, out);
}

int remote_latest_from(cold_t *c, uint64_t known, uint64_t *version_out, manifest **out)
{
    newest_scan scan = {0};
    char key[COLD_LAYOUT_KEY_MAX];
    manifest *m = NULL;
    int rc = 0;
    if (!c || !version_out || !out)
        return err_set(FLOE_EINVAL, "remote_latest: no store or output");
    if (known > 0) {
        /* Keys sort by version (invariant 2's padding): any version from known on is newer than
         * every one before it. */
        char after[COLD_LAYOUT_KEY_MAX];
        cold_manifest_key(known - 1, after);
        rc = cold_list_after(c, "manifest/", after, newest_cb, &scan);
        if (rc != 0)
            return err_wrap(rc < 0 ? rc : FLOE_ECOLD, "list manifest/ after %s in the cold tier", after);
    }
    if (!scan.found && (rc = cold_list(c, "manifest/", newest_cb, &scan)) != 0)
        return err_wrap(rc < 0 ? rc : FLOE_ECOLD, "list manifest/ in the cold tier");
    err_clear();
    if (!scan.found)
        return err_set(FLOE_ENOTFOUND, "the cold tier (%s) has no manifest under manifest/",
                       cold_backend_name(c));
    cold_manifest_key(scan.version, key);
    if ((rc = remote_read_manifest(c, key, scan.version, &m)) < 0)
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
    /* Invariant 7: compaction outputs replace their retired inputs only all at once. */
    int outputs_named = 1;
    for (size_t i = 0; i < m->count; i++) {
        const manifest_segment *s = &m->segments[i];
        if (s->level > 0 && s->state != SEG_REMOTE && s->state != SEG_LOCAL_REMOTE &&
            !id_in(s->id, extra_ids, n_extra))
            outputs_named = 0;
    }
    for (size_t i = 0; i < m->count; i++) {
        const manifest_segment *s = &m->segments[i];
        int published = s->state == SEG_REMOTE || s->state == SEG_LOCAL_REMOTE;
        if (s->retired ? outputs_named
                       : !published && (!id_in(s->id, extra_ids, n_extra) || (s->level > 0 && !outputs_named)))
            continue;
        char buf[COLD_LAYOUT_KEY_MAX];
        manifest_segment copy = *s;
        copy.object_key = (char *)segment_object_key(s, buf);
        copy.state = SEG_REMOTE;
        copy.retired = 0;
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
 * PUBLISH_CONFLICT (the version holds other bytes from this or an older epoch; *theirs_out, which
 * the caller frees, is what it holds), or an error. */
static int publish_version(cold_t *c, const manifest *remote, manifest **theirs_out)
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
    if ((rc = remote_read_manifest(c, key, remote->version, &theirs)) < 0) {
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
    *theirs_out = theirs;
    theirs = NULL;
    rc = PUBLISH_CONFLICT;
out:
    manifest_free(theirs);
    free(json);
    return rc;
}

/* Fails with FLOE_EFENCED if a version after remote's predecessor is from a newer writer epoch
 * (invariant 6). One LIST that starts after the predecessor's key, and a GET only when it finds
 * something. */
static int check_not_fenced(cold_t *c, const manifest *remote)
{
    char after[COLD_LAYOUT_KEY_MAX], key[COLD_LAYOUT_KEY_MAX];
    newest_scan scan = {0};
    manifest *newest = NULL;
    cold_manifest_key(remote->version - 1, after);
    int rc = cold_list_after(c, "manifest/", after, newest_cb, &scan);
    if (rc != 0)
        return err_wrap(rc < 0 ? rc : FLOE_ECOLD, "publish manifest: list the versions after %s", after);
    err_clear();
    if (!scan.found)
        return 0;
    cold_manifest_key(scan.version, key);
    if ((rc = remote_read_manifest(c, key, scan.version, &newest)) < 0)
        return err_wrap(rc, "publish manifest: read the newest version");
    if (newest->writer_epoch > remote->writer_epoch)
        rc = err_set(FLOE_EFENCED,
                     "fenced: writer epoch %" PRIu64 " published version %" PRIu64 "; this writer (epoch %" PRIu64
                     ") stops. Another node has taken over this bucket prefix.",
                     newest->writer_epoch, scan.version, remote->writer_epoch);
    manifest_free(newest);
    return rc;
}

int remote_publish(cold_t *c, const manifest *remote, manifest **earlier)
{
    manifest *theirs = NULL;
    if (!c || !remote || !earlier)
        return err_set(FLOE_EINVAL, "remote_publish: no store, manifest or output");
    int rc = remote->version > 0 ? check_not_fenced(c, remote) : 0;
    if (rc < 0)
        return rc;
    rc = publish_version(c, remote, &theirs);
    if (rc != PUBLISH_CONFLICT)
        return rc;
    if (theirs->writer_epoch == remote->writer_epoch) {
        /* Invariant 5: an epoch has one writer, so this is our own earlier attempt. */
        *earlier = theirs;
        return REMOTE_PUBLISHED_BEFORE;
    }
    char key[COLD_LAYOUT_KEY_MAX];
    cold_manifest_key(remote->version, key);
    rc = err_set(FLOE_ECOLD,
                 "publish manifest %s: version %" PRIu64
                 " was already published with other content by writer epoch %" PRIu64
                 ", older than this writer's epoch %" PRIu64 "; two writers share this bucket prefix",
                 key, remote->version, theirs->writer_epoch, remote->writer_epoch);
    manifest_free(theirs);
    return rc;
}

/* The newest manifest is this writer's own (invariant 5) and names local segment ls under another
 * object key than ls has: ls was uploaded and published under this epoch's key and the process
 * stopped before its local manifest recorded that. Records the key and that it is published. */
static int adopt_own_upload(manifest_segment *ls, const manifest_segment *rs)
{
    uint64_t id = 0, epoch = 0;
    if (cold_parse_segment_key(rs->object_key, &id, &epoch) != 0 || id != ls->id)
        return 0; /* not a key this writer makes: left to the caller's refusal */
    char *k = strdup(rs->object_key);
    if (!k)
        return err_set(FLOE_ENOMEM, "claim: out of memory");
    free(ls->object_key);
    ls->object_key = k;
    if (ls->state == SEG_LOCAL || ls->state == SEG_UPLOADING)
        ls->state = SEG_LOCAL_REMOTE;
    return 0;
}

/* One claim attempt (invariant 3). Returns 0, PUBLISH_CONFLICT to try again, or an error. */
static int claim_once(cold_t *c, manifest *m)
{
    manifest *newest = NULL, *mine = NULL, *remote = NULL, *theirs = NULL;
    uint64_t newest_version = 0, *ids = NULL;
    int rc = remote_latest_from(c, m->remote_version, &newest_version, &newest);
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
        if (ls && strcmp(segment_object_key(ls, buf), rs->object_key) != 0 && newest->writer_epoch == m->writer_epoch &&
            (rc = adopt_own_upload(ls, rs)) < 0)
            goto out;
        if (ls && !ls->retired && (ls->state == SEG_LOCAL || ls->state == SEG_UPLOADING) &&
            strcmp(segment_object_key(ls, buf), rs->object_key) == 0)
            ls->state = SEG_LOCAL_REMOTE; /* its object is named: a publication the local manifest missed */
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
    rc = publish_version(c, remote, &theirs);
    if (rc == 0) {
        m->writer_epoch = epoch + 1;
        m->remote_version = newest_version + 1;
    }
out:
    free(ids);
    manifest_free(theirs);
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
