/* Compaction (see compact.h; the design and its amplification in docs/architecture.md,
 * "Compaction").
 *
 * The store is leveled: level 0 holds segments as they were sealed (their key ranges overlap, read
 * newest first); each deeper level is one sorted run of segments whose ranges do not overlap, each
 * level's target size `compaction.level_ratio` times the one above it, starting at
 * `compaction.level_base_bytes` for level 1.
 *
 * Invariants:
 *  1. For any key, every version in a level is newer than every version in a deeper level, and in
 *     level 0 a higher id is newer. A job therefore takes either the oldest level-0 segments (a
 *     prefix in id order) with every level-1 segment overlapping their combined range, or one
 *     segment of level n with every level n+1 segment overlapping its range, and writes level 1 or
 *     n+1. A segment that overlaps nothing below it moves down a level without being rewritten.
 *  2. A merge keeps the newest version of each key and drops a tombstone only when no deeper
 *     level has a segment whose range holds its key (nothing older is left for it to hide). A
 *     version that retention has expired is handled as a tombstone: its bytes go at once, and only
 *     a tombstone stays where an older version below could otherwise come back.
 *  3. Outputs are whole before anything names them: temp file, fsync, rename, directory fsync; with
 *     a cold tier also uploaded. Then one manifest save swaps them for the inputs. With a cold tier
 *     the inputs are only published segments, they stay named remotely (retired) until a
 *     publication names every output instead (remote.c invariant 7), and gc is paused from the
 *     first upload until that publication, so an output is never taken for an orphan.
 *  4. An input's local file is deleted only with its last reader (the view's obsolete flag), and a
 *     cold input is downloaded whole (ranged GETs of COMPACT_DOWNLOAD_BYTES) into
 *     <data_dir>/compaction/, which holds nothing else and is emptied at open.
 *  5. One job at a time (compact_job_mu, before every other store lock). Nothing is planned while
 *     a retired segment waits for its publication, or while the store is read-only or fenced.
 *  6. A failed or cancelled job leaves the manifest as it was and removes its output files (any
 *     uploaded object is an orphan for gc).
 *  8. Publications stay a prefix of the segment ids (uploader.c note 3), outputs included: from
 *     its first output id on (compact_inflight_id) no seal with a higher id is published before the
 *     outputs are, and the outputs wait for every lower id. So every object in flight has an id
 *     above every published one, which is what gc (its invariant 4) relies on to spare it, even
 *     `floe gc --grace-s 0`.
 *  9. A prefix delete (prefixdel.h) in the manifest hides older versions under its prefix: a merge
 *     drops them, and a segment whose whole key range lies under it and whose versions are all
 *     older is dropped without being read. The delete itself is forgotten once no live segment
 *     may hold a version it hides (and no retired one exists, so the bucket holds none either).
 * 10. With retention rules each segment records when its first version expires (expires_ms, under
 *     the rules it was written with); once that time passes, the thread (which sleeps until then,
 *     no longer) rewrites it in its level, or runs a level-0 job for a level-0 one, and the
 *     expired versions leave. A store whose data never expires wakes for nothing.
 *  7. floe_compact goes further than the background's targets: it merges level 0 and then every
 *     level into the one below until all data is in the deepest level, where no tombstone is kept,
 *     so every overwritten or deleted byte is given back; segments whose recorded expiry has come
 *     are rewritten (note 10), and so, once, is each segment of that level that records none but
 *     lies under a rule that expires entries (it may predate the rule). (The background thread removes
 *     expired entries only in the merges it does anyway.)
 */
#include "compact.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

#include "array.h"
#include "clock.h"
#include "crc32c.h"
#include "entry.h"
#include "file.h"
#include "flusher.h"
#include "gcthread.h"
#include "prefixdel.h"
#include "retention.h"
#include "segment.h"
#include "uploader.h"
#include "view.h"

/* A level-0 job takes at most this many level-0 segments (the rest wait for the next); what they
 * overlap in level 1 comes too, however many. */
#define COMPACT_MAX_INPUTS 64
/* floe_compact's level-0 jobs take up to this many: a backlog merges in one pass instead of
 * rewriting level 1 once per 64 segments. */
#define COMPACT_MAX_INPUTS_FORCED 1024
/* Ranged GETs that download a cold input. */
#define COMPACT_DOWNLOAD_BYTES (8u << 20)
/* Bytes of output between two checks of the rate limit and of a stop request. */
#define COMPACT_CHECK_BYTES (1u << 20)
#define COMPACT_DIR "compaction"

/* What a job reads: a copy of its manifest entry and, while it runs, a reader. */
typedef struct job_input {
    manifest_segment ms; /* deep copy */
    segref *ref;         /* the view's, held for the job (keeps a local file alive) */
    segment_t *own;      /* a downloaded cold input's reader */
    char *download;      /* its file */
    segment_iter *it;
    int valid;
    entry cur;
} job_input;

/* A job that compaction_plan chose. */
typedef struct job {
    int move;            /* 1: the inputs only change level */
    int drop;            /* 1: the inputs go without outputs (wholly under a prefix delete) */
    pdel_set *pdels;     /* the manifest's prefix deletes: what they hide is dropped */
    uint32_t from_level; /* 0 for a level-0 job */
    uint32_t out_level;
    size_t n_in;
    size_t cap_in;
    job_input *in; /* the level-0 (or level n) inputs first, then what they overlap below */
    size_t n_deeper;
    manifest_segment *deeper; /* copies of the segments below out_level, for note 2 */
} job;

/* One output segment being written. */
typedef struct job_output {
    uint64_t id;
    uint64_t expires_ms; /* the earliest expiry among its versions, 0 if none */
    char *tmp, *path;
    segment_writer *w;
    segment_info info;
    char key[COLD_LAYOUT_KEY_MAX];
} job_output;

static uint64_t level_target_bytes(const floe_options *o, uint32_t level)
{
    uint64_t t = o->compaction.level_base_bytes;
    for (uint32_t l = 1; l < level && t < UINT64_MAX / 16; l++)
        t *= o->compaction.level_ratio;
    return t;
}

static int published(const manifest_segment *ms)
{
    return ms->state == SEG_REMOTE || ms->state == SEG_LOCAL_REMOTE;
}

/* May ms be an input now? With a cold tier only once it is published (note 3). */
static int eligible(const floe_t *db, const manifest_segment *ms)
{
    return !ms->retired && (!db->cold || published(ms));
}

static int overlaps(const manifest_segment *a, const uint8_t *min, size_t min_len, const uint8_t *max,
                    size_t max_len)
{
    return key_cmp(a->max_key, a->max_key_len, min, min_len) >= 0 &&
           key_cmp(a->min_key, a->min_key_len, max, max_len) <= 0;
}

/* The level-0 segments that a level-0 job would take: the oldest, in id order, up to the first
 * that is not eligible. Fills idx (manifest indexes) and returns how many. Needs manifest_mu. */
static size_t level0_prefix(const floe_t *db, size_t *idx, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < db->man->count && n < cap; i++) {
        const manifest_segment *ms = &db->man->segments[i];
        if (ms->level != 0 || ms->retired)
            continue;
        if (!eligible(db, ms))
            break;
        idx[n++] = i;
    }
    return n;
}

static uint64_t level_bytes(const manifest *m, uint32_t level)
{
    uint64_t b = 0;
    for (size_t i = 0; i < m->count; i++)
        if (m->segments[i].level == level && !m->segments[i].retired)
            b += m->segments[i].size;
    return b;
}

static size_t level_count(const manifest *m, uint32_t level)
{
    size_t n = 0;
    for (size_t i = 0; i < m->count; i++)
        n += m->segments[i].level == level && !m->segments[i].retired;
    return n;
}

static int has_retired(const manifest *m)
{
    for (size_t i = 0; i < m->count; i++)
        if (m->segments[i].retired)
            return 1;
    return 0;
}

void compact_update_backlog(floe_t *db)
{
    uint32_t stop = db->opts.compaction.l0_stop;
    size_t n = 0;
    for (size_t i = 0; stop && db->opts.compaction.l0_trigger && i < db->man->count; i++)
        n += db->man->segments[i].level == 0 && eligible(db, &db->man->segments[i]);
    int behind = stop && db->opts.compaction.l0_trigger && n >= stop;
    if (atomic_exchange(&db->compaction_behind, behind) && !behind) {
        pthread_mutex_lock(&db->state_mu);
        pthread_cond_broadcast(&db->state_cv);
        pthread_mutex_unlock(&db->state_mu);
    }
}

uint64_t compact_queue_depth(floe_t *db)
{
    const floe_options *o = &db->opts;
    uint64_t depth = 0, n0 = 0;
    for (size_t i = 0; i < db->man->count; i++)
        n0 += db->man->segments[i].level == 0 && !db->man->segments[i].retired;
    if (o->compaction.l0_trigger && n0 >= o->compaction.l0_trigger)
        depth++;
    for (uint32_t l = 1; l < MANIFEST_MAX_LEVEL; l++)
        depth += level_bytes(db->man, l) > level_target_bytes(o, l);
    return depth;
}

static void job_clear(job *j)
{
    for (size_t i = 0; i < j->n_in; i++) {
        job_input *in = &j->in[i];
        segment_iter_destroy(in->it);
        segment_close(in->own);
        if (in->download) {
            file_unlink(in->download);
            free(in->download);
        }
        segref_unref(in->ref);
        manifest_segment_clear(&in->ms);
    }
    for (size_t i = 0; i < j->n_deeper; i++)
        manifest_segment_clear(&j->deeper[i]);
    pdel_set_unref(j->pdels);
    free(j->deeper);
    free(j->in);
    memset(j, 0, sizeof *j);
}

/* Adds a deep copy of manifest segment ms to j's inputs. */
static int add_input(job *j, const manifest_segment *ms)
{
    if (array_grow(&j->in, &j->cap_in, j->n_in + 1, sizeof *j->in, 8, SIZE_MAX) != 0)
        return err_set(FLOE_ENOMEM, "compaction: out of memory");
    job_input *in = &j->in[j->n_in];
    memset(in, 0, sizeof *in);
    int rc = manifest_segment_copy(&in->ms, ms);
    if (rc == 0)
        j->n_in++;
    return rc < 0 ? err_set(FLOE_ENOMEM, "compaction: out of memory") : 0;
}

/* Adds every live segment of level that overlaps [min, max]. */
static int add_overlapping(job *j, const manifest *m, uint32_t level, const uint8_t *min, size_t min_len,
                           const uint8_t *max, size_t max_len)
{
    for (size_t i = 0; i < m->count; i++) {
        const manifest_segment *ms = &m->segments[i];
        if (ms->level != level || ms->retired || !overlaps(ms, min, min_len, max, max_len))
            continue;
        int rc = add_input(j, ms);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Records the ranges of live segments below out_level (note 2). */
static int add_deeper(job *j, const manifest *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->count; i++)
        n += m->segments[i].level > j->out_level && !m->segments[i].retired;
    if (!n)
        return 0;
    if (!(j->deeper = calloc(n, sizeof *j->deeper)))
        return err_set(FLOE_ENOMEM, "compaction: out of memory");
    for (size_t i = 0; i < m->count; i++) {
        const manifest_segment *ms = &m->segments[i];
        if (ms->level <= j->out_level || ms->retired)
            continue;
        if (manifest_segment_copy(&j->deeper[j->n_deeper], ms) < 0)
            return err_set(FLOE_ENOMEM, "compaction: out of memory");
        j->n_deeper++;
    }
    return 0;
}

/* 1 if a level-0 job's inputs (all in level 0, nothing below) do not overlap each other. */
/* 1 if a prefix delete of m hides versions in some input of j: such inputs are merged, not moved,
 * so the bytes the delete hides go (the chunks of deleted objects, object.c note 2, among them). */
static int inputs_hold_deleted(const job *j, const manifest *m)
{
    for (size_t i = 0; i < j->n_in; i++) {
        const manifest_segment *ms = &j->in[i].ms;
        for (size_t d = 0; d < m->n_prefix_dels; d++) {
            const prefix_del *pd = &m->prefix_dels[d];
            if (ms->min_seq < pd->seq &&
                key_range_meets_prefix(ms->min_key, ms->min_key_len, ms->max_key, ms->max_key_len, pd->prefix,
                                       pd->len))
                return 1;
        }
    }
    return 0;
}

static int disjoint_inputs(const job *j)
{
    for (size_t a = 0; a < j->n_in; a++)
        for (size_t b = a + 1; b < j->n_in; b++)
            if (overlaps(&j->in[a].ms, j->in[b].ms.min_key, j->in[b].ms.min_key_len, j->in[b].ms.max_key,
                         j->in[b].ms.max_key_len))
                return 0;
    return 1;
}

/* A level-0 job over the oldest eligible level-0 segments. */
static int plan_level0(floe_t *db, const size_t *idx, size_t n, job *j)
{
    const manifest *m = db->man;
    const uint8_t *min = NULL, *max = NULL;
    size_t min_len = 0, max_len = 0;
    j->from_level = 0;
    j->out_level = 1;
    for (size_t k = 0; k < n; k++) {
        const manifest_segment *ms = &m->segments[idx[k]];
        int rc = add_input(j, ms);
        if (rc < 0)
            return rc;
        if (!min || key_cmp(ms->min_key, ms->min_key_len, min, min_len) < 0) {
            min = ms->min_key;
            min_len = ms->min_key_len;
        }
        if (!max || key_cmp(ms->max_key, ms->max_key_len, max, max_len) > 0) {
            max = ms->max_key;
            max_len = ms->max_key_len;
        }
    }
    size_t n0 = j->n_in;
    int rc = add_overlapping(j, m, 1, min, min_len, max, max_len);
    if (rc < 0)
        return rc;
    j->move = j->n_in == n0 && disjoint_inputs(j) && !inputs_hold_deleted(j, m);
    return 0;
}

/* A job for level l: its next segment after the level's cursor, with what it overlaps below. */
static int plan_level(floe_t *db, uint32_t l, job *j)
{
    const manifest *m = db->man;
    const manifest_segment *pick = NULL, *first = NULL;
    const uint8_t *cur = db->compact_cursor[l];
    uint32_t cur_len = db->compact_cursor_len[l];
    for (size_t i = 0; i < m->count; i++) {
        const manifest_segment *ms = &m->segments[i];
        if (ms->level != l || !eligible(db, ms))
            continue;
        if (!first || key_cmp(ms->min_key, ms->min_key_len, first->min_key, first->min_key_len) < 0)
            first = ms;
        if (key_cmp(ms->min_key, ms->min_key_len, cur, cur_len) > 0 &&
            (!pick || key_cmp(ms->min_key, ms->min_key_len, pick->min_key, pick->min_key_len) < 0))
            pick = ms;
    }
    if (!pick)
        pick = first; /* wrap around */
    if (!pick)
        return 0;
    memcpy(db->compact_cursor[l], pick->min_key, pick->min_key_len);
    db->compact_cursor_len[l] = pick->min_key_len;
    j->from_level = l;
    j->out_level = l + 1;
    int rc = add_input(j, pick);
    if (rc == 0)
        rc = add_overlapping(j, m, l + 1, pick->min_key, pick->min_key_len, pick->max_key, pick->max_key_len);
    if (rc < 0)
        return rc;
    j->move = j->n_in == 1 && !inputs_hold_deleted(j, m);
    return 1;
}

/* The manifest's prefix deletes, for the merge to drop what they hide (note 9). */
static int snapshot_prefix_dels(floe_t *db, job *j)
{
    for (size_t i = 0; i < db->man->n_prefix_dels; i++) {
        const prefix_del *d = &db->man->prefix_dels[i];
        pdel_set *n = pdel_set_with(j->pdels, d->prefix, d->len, d->seq);
        if (!n)
            return err_set(FLOE_ENOMEM, "compaction: out of memory");
        pdel_set_unref(j->pdels);
        j->pdels = n;
    }
    return 0;
}

/* 1 if every key of ms lies under a prefix delete newer than all of ms's versions. */
static int wholly_deleted(const manifest *m, const manifest_segment *ms)
{
    for (size_t i = 0; i < m->n_prefix_dels; i++) {
        const prefix_del *d = &m->prefix_dels[i];
        if (ms->max_seq < d->seq && pdel_matches(d, ms->min_key, ms->min_key_len) &&
            pdel_matches(d, ms->max_key, ms->max_key_len))
            return 1;
    }
    return 0;
}

/* A drop job (note 9): the first live, eligible segment a prefix delete wholly hides. Returns 1
 * with *j filled, 0 for none. */
static int plan_drop(floe_t *db, job *j)
{
    for (size_t i = 0; i < db->man->count; i++) {
        const manifest_segment *ms = &db->man->segments[i];
        if (!eligible(db, ms) || !wholly_deleted(db->man, ms))
            continue;
        j->drop = 1;
        j->from_level = j->out_level = ms->level;
        return add_input(j, ms) < 0 ? FLOE_ENOMEM : 1;
    }
    return 0;
}

/* A retention job (note 10): the first live, eligible segment of a level above 0 whose earliest
 * version has expired is rewritten in its level, with what the rewrite needs for note 2; a level-0
 * one instead sets *l0_expired, for a level-0 job. Returns 1 with *j filled, 0 for none. */
static int plan_expired(floe_t *db, job *j, int *l0_expired)
{
    if (!retention_enabled(&db->opts))
        return 0;
    uint64_t now = clock_unix_ms();
    for (size_t i = 0; i < db->man->count; i++) {
        const manifest_segment *ms = &db->man->segments[i];
        if (!ms->expires_ms || ms->expires_ms > now || !eligible(db, ms))
            continue;
        if (ms->level == 0) {
            *l0_expired = 1;
            continue;
        }
        j->from_level = j->out_level = ms->level;
        int rc = add_input(j, ms);
        if (rc == 0)
            rc = add_deeper(j, db->man);
        if (rc == 0)
            rc = snapshot_prefix_dels(db, j);
        return rc < 0 ? rc : 1;
    }
    return 0;
}

/* The earliest expiry among live segments (unix ms), 0 if none: when the thread must look again. */
static uint64_t next_expiry_ms(floe_t *db)
{
    uint64_t t = 0;
    pthread_mutex_lock(&db->manifest_mu);
    for (size_t i = 0; i < db->man->count; i++) {
        const manifest_segment *ms = &db->man->segments[i];
        if (!ms->retired && ms->expires_ms && (!t || ms->expires_ms < t))
            t = ms->expires_ms;
    }
    pthread_mutex_unlock(&db->manifest_mu);
    return t;
}

/* Chooses the next job (note 1): level 0 at its trigger (any level-0 segment when forced), else
 * (forced) the shallowest level above the deepest one (note 7), else the level most over its target. Returns 1 with *j filled, 0 for none. Needs manifest_mu. */
static int plan(floe_t *db, int force, job *j)
{
    const floe_options *o = &db->opts;
    size_t idx[COMPACT_MAX_INPUTS_FORCED];
    int rc = 0;
    memset(j, 0, sizeof *j);
    if (has_retired(db->man))
        return 0; /* note 5 */
    if ((rc = plan_drop(db, j)) != 0)
        return rc < 0 ? (job_clear(j), rc) : 1;
    int l0_expired = 0;
    if ((rc = plan_expired(db, j, &l0_expired)) != 0) {
        if (rc < 0)
            job_clear(j);
        return rc < 0 ? rc : 1;
    }
    size_t n0 = level0_prefix(db, idx, force ? COMPACT_MAX_INPUTS_FORCED : COMPACT_MAX_INPUTS);
    uint32_t shallow = 0, deepest = 0;
    for (uint32_t l = 1; l <= MANIFEST_MAX_LEVEL; l++) {
        if (level_count(db->man, l)) {
            shallow = shallow ? shallow : l;
            deepest = l;
        }
    }
    if (n0 > 0 && (force || l0_expired || (o->compaction.l0_trigger && n0 >= o->compaction.l0_trigger))) {
        rc = plan_level0(db, idx, n0, j);
        rc = rc < 0 ? rc : 1;
    } else if (force && shallow && shallow < deepest) {
        rc = plan_level(db, shallow, j); /* note 7: everything down to the deepest level */
    } else {
        double best = 1.0;
        uint32_t best_level = 0;
        for (uint32_t l = 1; l < MANIFEST_MAX_LEVEL; l++) {
            double score = (double)level_bytes(db->man, l) / (double)level_target_bytes(o, l);
            if (score > best) {
                best = score;
                best_level = l;
            }
        }
        if (best_level)
            rc = plan_level(db, best_level, j);
    }
    for (size_t i = 0; rc > 0 && i < j->n_in; i++)
        if (!eligible(db, &j->in[i].ms))
            rc = 0; /* an input waits for its upload: after its publication */
    if (rc > 0 && !j->move && (rc = add_deeper(j, db->man)) == 0 && (rc = snapshot_prefix_dels(db, j)) == 0)
        rc = 1;
    if (rc <= 0) {
        int e = rc;
        job_clear(j);
        return e;
    }
    return 1;
}

/* Takes references on the view's segrefs of the inputs (a local input's file stays while held).
 * Returns 0, or 1 if one is not in the view yet (the job waits). */
static int hold_inputs(floe_t *db, job *j)
{
    view *v = view_acquire(db);
    int rc = 0;
    for (size_t i = 0; i < j->n_in; i++) {
        for (size_t k = 0; k < v->n_segs && !j->in[i].ref; k++) {
            if (v->segs[k]->id == j->in[i].ms.id) {
                j->in[i].ref = v->segs[k];
                segref_ref(j->in[i].ref);
            }
        }
        if (!j->in[i].ref)
            rc = 1; /* named by the manifest, not yet in the view: the flusher's notify comes later */
    }
    view_unref(v);
    return rc;
}

static int stopping(floe_t *db)
{
    pthread_mutex_lock(&db->compact_mu);
    int s = db->compact_stopping;
    pthread_mutex_unlock(&db->compact_mu);
    return s || atomic_load(&db->read_only);
}

/* Downloads cold input in (note 4) and opens it. */
static int download_input(floe_t *db, job_input *in)
{
    char name[64], *dir = file_path_join(db->dir, COMPACT_DIR);
    uint8_t *buf = NULL;
    int fd = -1, rc = 0;
    snprintf(name, sizeof name, "%020" PRIu64 ".download", in->ms.id);
    in->download = dir ? file_path_join(dir, name) : NULL;
    if (!dir || !in->download || !(buf = malloc(COMPACT_DOWNLOAD_BYTES))) {
        rc = err_set(FLOE_ENOMEM, "compaction: out of memory");
        goto out;
    }
    fd = file_open(in->download, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = err_set(FLOE_EIO, "compaction: create %s: %s", in->download, strerror(errno));
        goto out;
    }
    uint32_t crc = 0;
    for (uint64_t off = 0; off < in->ms.size && rc == 0;) {
        size_t n = in->ms.size - off < COMPACT_DOWNLOAD_BYTES ? (size_t)(in->ms.size - off) : COMPACT_DOWNLOAD_BYTES;
        if ((rc = cold_get_range(db->cold, in->ms.object_key, off, buf, n)) < 0) {
            rc = err_wrap(rc, "compaction: download %s", in->ms.object_key);
            break;
        }
        int e = file_write_all(fd, buf, n);
        if (e) {
            rc = err_set(FLOE_EIO, "compaction: write %s: %s", in->download, strerror(e));
            break;
        }
        crc = crc32c_extend(crc, buf, n);
        off += n;
        atomic_fetch_add(&db->n_compact_bytes_read, n);
        if (stopping(db))
            rc = err_set(FLOE_ECLOSED, "compaction: the store is closing");
    }
    if (rc == 0 && crc != in->ms.crc32c)
        rc = err_set(FLOE_ECORRUPT,
                     "compaction: cold object %s has CRC32C 0x%08x, the manifest says 0x%08x: the object is damaged",
                     in->ms.object_key, crc, in->ms.crc32c);
    if (fd >= 0)
        file_close(fd);
    fd = -1;
    if (rc == 0 && (rc = segment_open_file(in->download, &in->own)) < 0)
        rc = err_wrap(rc, "compaction: open the download of %s", in->ms.object_key);
out:
    if (fd >= 0)
        file_close(fd);
    free(buf);
    free(dir);
    return rc;
}

/* Opens an iterator on each input at its first entry. */
static int open_inputs(floe_t *db, job *j)
{
    for (size_t i = 0; i < j->n_in; i++) {
        job_input *in = &j->in[i];
        segment_t *seg = NULL;
        int rc = 0;
        if (in->ref->path) {
            seg = in->ref->seg;
            atomic_fetch_add(&db->n_compact_bytes_read, in->ms.size);
        } else if ((rc = download_input(db, in)) == 0) {
            seg = in->own;
        }
        if (rc < 0 || (rc = segment_iter_create(seg, &in->it)) < 0 || (rc = segment_iter_seek(in->it, NULL, 0)) < 0)
            return rc;
        in->valid = segment_iter_valid(in->it);
        if (in->valid)
            segment_iter_entry(in->it, &in->cur);
    }
    return 0;
}

/* 1 if a segment below the job's output level may hold key (note 2). */
static int deeper_may_hold(const job *j, const uint8_t *key, size_t len)
{
    for (size_t i = 0; i < j->n_deeper; i++)
        if (key_cmp(key, len, j->deeper[i].min_key, j->deeper[i].min_key_len) >= 0 &&
            key_cmp(key, len, j->deeper[i].max_key, j->deeper[i].max_key_len) <= 0)
            return 1;
    return 0;
}

static void output_free(job_output *o)
{
    segment_writer_abort(o->w);
    if (o->tmp)
        file_unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    segment_info_clear(&o->info);
}

/* Starts an output under a fresh segment id, from the seals' counter (note 8); direct: write it
 * around the page cache (segment_write_direct). */
static int output_open(floe_t *db, uint64_t epoch, int direct, job_output *o)
{
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&db->write_mu);
    o->id = db->next_segment_id++;
    pthread_mutex_lock(&db->manifest_mu);
    if (db->compact_inflight_id == 0)
        db->compact_inflight_id = o->id; /* no seal above it is published before it */
    pthread_mutex_unlock(&db->manifest_mu);
    pthread_mutex_unlock(&db->write_mu);
    o->tmp = store_segment_path(db, o->id, ".tmp");
    o->path = store_segment_path(db, o->id, "");
    if (!o->tmp || !o->path)
        return err_set(FLOE_ENOMEM, "compaction: out of memory");
    file_unlink(o->tmp);
    segment_write_options so = {
        .id = o->id,
        .epoch = epoch,
        .block_bytes = db->opts.segment.block_bytes,
        .compression = db->opts.segment.compression,
        .bloom_bits_per_key = 10,
        .direct = direct,
    };
    return segment_writer_open(o->tmp, &so, &o->w);
}

/* Finishes an output: footer, fsync, rename (the directory fsync comes once for all). */
static int output_finish(floe_t *db, job_output *o)
{
    int rc = segment_writer_finish(o->w, &o->info);
    o->w = NULL;
    if (rc < 0)
        return rc;
    if (file_rename(o->tmp, o->path) != 0)
        return err_set(FLOE_EIO, "compaction: rename %s to %s: %s", o->tmp, o->path, strerror(errno));
    free(o->tmp);
    o->tmp = NULL;
    atomic_fetch_add(&db->n_compact_bytes_written, o->info.file_bytes);
    return 0;
}

/* Sleeps as needed to keep the job's output at compaction.max_bytes_per_s. */
static void rate_limit(floe_t *db, int64_t start_ms, uint64_t bytes)
{
    uint64_t rate = db->opts.compaction.max_bytes_per_s;
    if (!rate)
        return;
    int64_t due_ms = start_ms + (int64_t)(bytes * 1000 / rate);
    int64_t now = clock_now_ms();
    if (due_ms > now)
        clock_sleep_ms(due_ms - now > 1000 ? 1000 : due_ms - now);
}

/* The input holding the smallest key, its newest version among equals; NULL when all are done. */
static job_input *newest_smallest(job *j)
{
    job_input *best = NULL;
    for (size_t i = 0; i < j->n_in; i++) {
        job_input *in = &j->in[i];
        if (!in->valid)
            continue;
        int c = best ? key_cmp(in->cur.key, in->cur.key_len, best->cur.key, best->cur.key_len) : -1;
        if (c < 0 || (c == 0 && in->cur.seq > best->cur.seq))
            best = in;
    }
    return best;
}

/* Moves every input past key (all its versions). */
static int skip_key(job *j, const uint8_t *key, size_t key_len)
{
    for (size_t i = 0; i < j->n_in; i++) {
        job_input *in = &j->in[i];
        if (!in->valid || key_cmp(in->cur.key, in->cur.key_len, key, key_len) != 0)
            continue;
        int rc = segment_iter_next(in->it);
        if (rc < 0)
            return rc;
        in->valid = segment_iter_valid(in->it);
        if (in->valid)
            segment_iter_entry(in->it, &in->cur);
    }
    return 0;
}

/* Whether the merge writes e, the newest version of its key (notes 2 and 9): 0 to drop it, 1 to
 * write it, which may have turned it into a tombstone (an expired version). */
static int keep_entry(floe_t *db, job *j, entry *e, uint64_t now_ms)
{
    if (pdel_set_hides(j->pdels, e->key, e->key_len, e->seq, UINT64_MAX))
        return 0;
    if (e->type != ENTRY_DELETE && retention_enabled(&db->opts) &&
        retention_expired(&db->opts, e->key, e->key_len, e->write_ms, now_ms)) {
        /* An expired version goes like a deleted one; a tombstone stays in its place while an
         * older version below could come back. */
        *e = (entry){.key = e->key, .key_len = e->key_len, .seq = e->seq, .write_ms = e->write_ms,
                     .type = ENTRY_DELETE};
        atomic_fetch_add(&db->n_compact_expired, 1);
    }
    return e->type != ENTRY_DELETE || deeper_may_hold(j, e->key, e->key_len);
}

/* The merge's outputs so far: the last one is open while its bytes are under segment_bytes. */
typedef struct output_list {
    job_output *outs;
    size_t n, cap;
    uint64_t open_bytes; /* estimated bytes in the open (last) output; 0 when none is open */
    int direct;          /* outputs are written around the page cache: the inputs' entries are large */
} output_list;

/* Writes e into the open output, finishing it first if full and opening the next as needed;
 * *added gets the bytes it counts for. */
static int output_add(floe_t *db, uint64_t epoch, output_list *o, const entry *e, uint64_t *added)
{
    int rc;
    if (o->n && o->open_bytes >= db->opts.compaction.segment_bytes) {
        if ((rc = output_finish(db, &o->outs[o->n - 1])) < 0)
            return rc;
        o->open_bytes = 0;
    }
    if (o->open_bytes == 0) {
        if (array_grow(&o->outs, &o->cap, o->n + 1, sizeof *o->outs, 4, SIZE_MAX) < 0)
            return err_set(FLOE_ENOMEM, "compaction: out of memory");
        o->n++;
        if ((rc = output_open(db, epoch, o->direct, &o->outs[o->n - 1])) < 0)
            return rc;
    }
    job_output *out = &o->outs[o->n - 1];
    if ((rc = segment_writer_add(out->w, e)) < 0)
        return rc;
    uint64_t x = e->type != ENTRY_DELETE ? retention_expiry_ms(&db->opts, e->key, e->key_len, e->write_ms) : 0;
    if (x && (!out->expires_ms || x < out->expires_ms))
        out->expires_ms = x; /* note 10 */
    *added = (uint64_t)e->key_len + e->value_len + e->content_type_len + 16;
    o->open_bytes += *added;
    return 0;
}

/* Merges the inputs into outputs of about compaction.segment_bytes each (notes 1 and 2). */
static int merge(floe_t *db, job *j, uint64_t epoch, job_output **outs_out, size_t *n_out)
{
    output_list o = {0};
    uint64_t in_bytes = 0, in_count = 0;
    for (size_t i = 0; i < j->n_in; i++) {
        in_bytes += j->in[i].ms.size;
        in_count += j->in[i].ms.count;
    }
    o.direct = segment_write_direct(in_bytes, in_count);
    uint64_t total = 0, since_check = 0;
    int64_t start_ms = clock_now_ms();
    uint64_t now_ms = clock_unix_ms();
    int rc = 0;
    job_input *best;
    while (rc == 0 && (best = newest_smallest(j)) != NULL) {
        entry e = best->cur;
        uint64_t added = 0;
        if (keep_entry(db, j, &e, now_ms) && (rc = output_add(db, epoch, &o, &e, &added)) < 0)
            break;
        total += added;
        since_check += added;
        /* Copy the key: advancing the chosen input invalidates e's pointers. */
        uint8_t key[FLOE_MAX_KEY_BYTES];
        size_t key_len = e.key_len;
        memcpy(key, e.key, key_len);
        if ((rc = skip_key(j, key, key_len)) < 0)
            break;
        if (since_check >= COMPACT_CHECK_BYTES) {
            since_check = 0;
            if (stopping(db))
                rc = err_set(FLOE_ECLOSED, "compaction: the store is closing");
            else
                rate_limit(db, start_ms, total);
        }
    }
    if (rc == 0 && o.n && o.open_bytes > 0)
        rc = output_finish(db, &o.outs[o.n - 1]);
    if (rc == 0 && o.n)
        rc = file_fsync_dir(db->seg_dir);
    if (rc < 0) {
        for (size_t i = 0; i < o.n; i++) {
            if (!o.outs[i].tmp && o.outs[i].path)
                file_unlink(o.outs[i].path);
            output_free(&o.outs[i]);
        }
        free(o.outs);
        return rc;
    }
    *outs_out = o.outs;
    *n_out = o.n;
    return 0;
}

/* Uploads the outputs under this epoch's keys (note 3). */
static int upload_outputs(floe_t *db, uint64_t epoch, job_output *outs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cold_segment_key(outs[i].id, epoch, outs[i].key);
        int rc = cold_put_file(db->cold, outs[i].key, outs[i].path, db->opts.upload.part_bytes);
        if (rc < 0)
            return err_wrap(rc, "compaction: upload %s", outs[i].key);
        atomic_fetch_add(&db->n_uploads, 1);
        atomic_fetch_add(&db->n_upload_bytes, outs[i].info.file_bytes);
        if (stopping(db))
            return err_set(FLOE_ECLOSED, "compaction: the store is closing");
    }
    return 0;
}

/* Replaces the inputs with outs[0..n) (or, for a move, lowers their level) in the view. Takes
 * state_mu. */
static int swap_view(floe_t *db, job *j, segref **refs, size_t n)
{
    pthread_mutex_lock(&db->state_mu);
    size_t cap = db->cur->n_segs + n;
    segref **segs = malloc((cap ? cap : 1) * sizeof *segs);
    view *v = NULL;
    if (segs) {
        size_t k = 0;
        for (size_t i = 0; i < db->cur->n_segs; i++) {
            segref *r = db->cur->segs[i];
            int input = 0;
            for (size_t m = 0; m < j->n_in && !input; m++)
                input = j->in[m].ms.id == r->id;
            if (input && j->move) {
                r->level = j->out_level; /* read only under state_mu, by view_build */
            } else if (input) {
                if (r->path)
                    atomic_store(&r->obsolete, 1); /* note 4 */
                continue;
            }
            segs[k++] = r;
        }
        for (size_t i = 0; i < n; i++)
            segs[k++] = refs[i];
        v = view_build(db, db->cur->mem, segs, k);
        free(segs);
    }
    if (v)
        view_install(db, v);
    pthread_mutex_unlock(&db->state_mu);
    return v ? 0 : err_set(FLOE_ENOMEM, "compaction: out of memory installing the new segments");
}

/* 1 if a live segment of m may still hold a version that d hides. */
static int prefix_del_needed(const manifest *m, const prefix_del *d)
{
    for (size_t i = 0; i < m->count; i++) {
        const manifest_segment *ms = &m->segments[i];
        if (ms->retired || ms->min_seq >= d->seq)
            continue;
        if (key_range_meets_prefix(ms->min_key, ms->min_key_len, ms->max_key, ms->max_key_len, d->prefix, d->len))
            return 1;
    }
    return 0;
}

static int keep_prefix_del(void *ctx, const prefix_del *d)
{
    const manifest *m = ctx;
    if (d->seq > m->last_seq)
        return 1; /* still only in the WAL and the pending segments */
    for (size_t i = 0; i < m->n_prefix_dels; i++)
        if (m->prefix_dels[i].seq == d->seq)
            return 1;
    return 0;
}

int compact_forget_prefix_dels(floe_t *db)
{
    size_t k = 0;
    for (size_t i = 0; i < db->man->n_prefix_dels; i++) {
        prefix_del d = db->man->prefix_dels[i];
        if (prefix_del_needed(db->man, &d))
            db->man->prefix_dels[k++] = d;
        else
            free(d.prefix);
    }
    if (k == db->man->n_prefix_dels)
        return 0;
    db->man->n_prefix_dels = k;
    pthread_mutex_lock(&db->state_mu);
    pdel_set *n = pdel_set_filter(db->pdels, keep_prefix_del, db->man);
    int rc = n ? store_install_pdels(db, n) : err_set(FLOE_ENOMEM, "compaction: out of memory");
    pthread_mutex_unlock(&db->state_mu);
    return rc;
}

/* The manifest edit of a job (note 3): outputs in, inputs out (or retired), saved. On failure the
 * manifest is as it was. Takes manifest_mu. */
static int commit_manifest(floe_t *db, job *j, job_output *outs, size_t n)
{
    manifest *before = NULL;
    pthread_mutex_lock(&db->manifest_mu);
    int rc = manifest_clone(db->man, &before);
    for (size_t i = 0; i < j->n_in && rc == 0; i++) {
        manifest_segment *ms = manifest_find(db->man, j->in[i].ms.id);
        if (!ms) {
            rc = err_set(FLOE_EINVAL, "compaction: input segment %" PRIu64 " left the manifest", j->in[i].ms.id);
        } else if (j->move) {
            ms->level = j->out_level;
        } else if (db->cold) {
            ms->retired = 1;
            ms->state = SEG_REMOTE;
        } else {
            manifest_remove(db->man, ms->id);
        }
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        manifest_segment ms = flusher_segment_entry(&outs[i].info, db->cold ? SEG_UPLOADING : SEG_LOCAL, j->out_level);
        ms.object_key = db->cold ? outs[i].key : "";
        ms.expires_ms = outs[i].expires_ms;
        if ((rc = manifest_insert(db->man, &ms)) == 0 && db->man->next_segment_id <= ms.id)
            db->man->next_segment_id = ms.id + 1;
        if (rc == 0 && db->cold) {
            if (array_grow(&db->unpublished, &db->cap_unpublished, db->n_unpublished + 1, sizeof *db->unpublished,
                           16, SIZE_MAX) != 0)
                rc = err_set(FLOE_ENOMEM, "compaction: out of memory");
            else
                db->unpublished[db->n_unpublished++] = ms.id;
        }
    }
    if (rc == 0 && !has_retired(db->man))
        rc = compact_forget_prefix_dels(db);
    if (rc == 0 && (rc = manifest_save(db->dir, db->man)) < 0)
        store_mark_read_only(db, floe_last_error());
    if (rc < 0 && before) {
        /* Put the manifest back as it was, and forget the outputs as unpublished. */
        manifest *now = db->man;
        before->version = now->version;
        db->man = before;
        before = now;
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < db->n_unpublished; k++)
                if (db->unpublished[k] == outs[i].id)
                    db->unpublished[k] = db->unpublished[--db->n_unpublished];
    }
    if (rc == 0 && db->cold)
        uploader_recompute_state(db);
    db->compact_inflight_id = 0; /* named now (or given up): the manifest orders them */
    compact_update_backlog(db);
    pthread_mutex_unlock(&db->manifest_mu);
    manifest_free(before);
    return rc;
}

/* Runs one planned job to its end. */
static int run_job(floe_t *db, job *j)
{
    job_output *outs = NULL;
    segref **refs = NULL;
    size_t n = 0;
    int rc, gc_paused = 0;
    pthread_mutex_lock(&db->manifest_mu);
    uint64_t epoch = db->man->writer_epoch;
    pthread_mutex_unlock(&db->manifest_mu);
    if (j->drop) {
        if ((rc = commit_manifest(db, j, NULL, 0)) == 0 && (rc = swap_view(db, j, NULL, 0)) == 0) {
            atomic_fetch_add(&db->n_compaction_drops, 1);
            store_log(db, 2, "compaction: dropped segment %" PRIu64 " without reading it: a prefix delete hides all of it",
                      j->in[0].ms.id);
            if (db->cold && (rc = uploader_publish(db)) < 0)
                rc = err_wrap(rc, "compaction: publishing the manifest without the dropped segment (the uploaders retry)");
        }
        return rc;
    }
    if (j->move) {
        if ((rc = commit_manifest(db, j, NULL, 0)) == 0 && (rc = swap_view(db, j, NULL, 0)) == 0) {
            atomic_fetch_add(&db->n_compaction_moves, 1);
            store_log(db, 2, "compaction: moved %zu segments from level %u to level %u without rewriting them",
                      j->n_in, (unsigned)j->from_level, (unsigned)j->out_level);
        }
        return rc;
    }
    if ((rc = hold_inputs(db, j)) != 0 || (rc = open_inputs(db, j)) < 0 || (rc = merge(db, j, epoch, &outs, &n)) < 0)
        goto out;
    if (db->cold && n) {
        gcthread_pause(db);
        gc_paused = 1;
        if ((rc = upload_outputs(db, epoch, outs, n)) < 0)
            goto out;
    }
    if (n && !(refs = calloc(n, sizeof *refs))) {
        rc = err_set(FLOE_ENOMEM, "compaction: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        if ((rc = segref_open_local(db, outs[i].id, &refs[i])) == 0)
            refs[i]->level = j->out_level;
    if (rc < 0 || (rc = commit_manifest(db, j, outs, n)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        free(outs[i].path), outs[i].path = NULL; /* named now: kept */
    if ((rc = swap_view(db, j, refs, n)) < 0) {
        store_mark_read_only(db, floe_last_error());
        goto out;
    }
    uint64_t in_bytes = 0, out_bytes = 0;
    for (size_t i = 0; i < j->n_in; i++)
        in_bytes += j->in[i].ms.size;
    for (size_t i = 0; i < n; i++)
        out_bytes += outs[i].info.file_bytes;
    atomic_fetch_add(&db->n_compactions, 1);
    store_log(db, 2,
              "compaction: merged %zu segments (%" PRIu64 " bytes) of levels %u and %u into %zu segments (%" PRIu64
              " bytes) of level %u",
              j->n_in, in_bytes, (unsigned)j->from_level, (unsigned)j->out_level, n, out_bytes,
              (unsigned)j->out_level);
    if (db->cold) {
        int prc = uploader_publish(db);
        if (prc < 0)
            rc = err_wrap(prc, "compaction: publishing the manifest that names its outputs (the uploaders retry)");
    }
out:
    pthread_mutex_lock(&db->manifest_mu);
    db->compact_inflight_id = 0;
    pthread_mutex_unlock(&db->manifest_mu);
    if (gc_paused)
        gcthread_resume(db);
    for (size_t i = 0; i < n; i++) {
        if (outs[i].path && !outs[i].tmp)
            file_unlink(outs[i].path); /* note 6: never named */
        output_free(&outs[i]);
        if (refs && refs[i])
            segref_unref(refs[i]);
    }
    free(outs);
    free(refs);
    return rc;
}

/* Plans and runs one job. Returns 1 if it ran one, 0 if none is due, or an error. Needs
 * compact_job_mu. */
static int run_one(floe_t *db, int force)
{
    pthread_mutex_lock(&db->state_mu);
    int blocked = db->fenced || db->stopping || atomic_load(&db->read_only);
    pthread_mutex_unlock(&db->state_mu);
    if (blocked)
        return 0;
    job *j = calloc(1, sizeof *j);
    if (!j)
        return err_set(FLOE_ENOMEM, "compaction: out of memory");
    pthread_mutex_lock(&db->manifest_mu);
    int rc = plan(db, force, j);
    pthread_mutex_unlock(&db->manifest_mu);
    if (rc > 0) {
        rc = run_job(db, j);
        rc = rc < 0 ? rc : rc == 0; /* 1 from run_job: the job waits */
    }
    job_clear(j);
    free(j);
    if (rc < 0 && rc != FLOE_ECLOSED)
        atomic_fetch_add(&db->n_compact_errors, 1);
    return rc;
}

static void *compact_main(void *arg)
{
    floe_t *db = arg;
    int64_t backoff_ms = 0;
    uint64_t due_tried = 0; /* an expiry a run found no job for: only a notify makes it worth a new look */
    uint64_t woke_for = 0;  /* the expiry that woke this round, 0 if a notify did */
    pthread_mutex_lock(&db->compact_mu);
    for (;;) {
        while (!db->compact_stopping && !db->compact_pending) {
            /* Note 10: with retention rules, wake when the first version expires. */
            pthread_mutex_unlock(&db->compact_mu);
            uint64_t due = retention_enabled(&db->opts) ? next_expiry_ms(db) : 0;
            uint64_t now = clock_unix_ms();
            pthread_mutex_lock(&db->compact_mu);
            if (db->compact_stopping || db->compact_pending)
                break;
            if (due && due <= now && due != due_tried) {
                woke_for = due;
                db->compact_pending = 1;
                break;
            }
            /* Sleep until the expiry (none, or one whose segment cannot be compacted yet: until a
             * notify), but at most gc.interval_s: the object sweep's period (object.c). */
            uint64_t wait_ms = due && due > now ? due - now + 10 : UINT64_MAX;
            if (db->opts.gc.interval_s && wait_ms > (uint64_t)db->opts.gc.interval_s * 1000)
                wait_ms = (uint64_t)db->opts.gc.interval_s * 1000;
            if (wait_ms > 3600000 && wait_ms != UINT64_MAX)
                wait_ms = 3600000;
            if (wait_ms == UINT64_MAX) {
                pthread_cond_wait(&db->compact_cv, &db->compact_mu);
            } else {
                struct timespec ts = clock_deadline_after_ms((int64_t)wait_ms);
                pthread_cond_timedwait(&db->compact_cv, &db->compact_mu, &ts);
            }
            if (db->compact_stopping)
                break;
            pthread_mutex_unlock(&db->compact_mu);
            if (db->opts.gc.interval_s && !atomic_load(&db->read_only) && object_sweep(db, SWEEP_IF_DUE) < 0)
                store_log(db, 1, "%s", floe_last_error());
            pthread_mutex_lock(&db->compact_mu);
        }
        if (db->compact_stopping)
            break;
        db->compact_pending = 0;
        pthread_mutex_unlock(&db->compact_mu);
        int rc, jobs = 0;
        pthread_mutex_lock(&db->compact_job_mu);
        while ((rc = run_one(db, 0)) > 0)
            jobs++;
        pthread_mutex_unlock(&db->compact_job_mu);
        due_tried = jobs == 0 ? woke_for : 0;
        woke_for = 0;
        if (rc < 0 && rc != FLOE_ECLOSED) {
            backoff_ms = backoff_ms ? (backoff_ms * 2 > 60000 ? 60000 : backoff_ms * 2) : 1000;
            store_log(db, 1, "%s; compaction tries again in %lld ms", floe_last_error(), (long long)backoff_ms);
            pthread_mutex_lock(&db->compact_mu);
            struct timespec ts = clock_deadline_after_ms(backoff_ms);
            while (!db->compact_stopping && pthread_cond_timedwait(&db->compact_cv, &db->compact_mu, &ts) == 0)
                ;
            db->compact_pending = 1;
            continue;
        }
        backoff_ms = 0;
        pthread_mutex_lock(&db->compact_mu);
    }
    pthread_mutex_unlock(&db->compact_mu);
    return NULL;
}

void compact_notify(floe_t *db)
{
    /* compact_mu exists from open to close; without the thread the flag is simply never read. */
    pthread_mutex_lock(&db->compact_mu);
    db->compact_pending = 1;
    pthread_cond_signal(&db->compact_cv);
    pthread_mutex_unlock(&db->compact_mu);
}

/* Empties <data_dir>/compaction/ of downloads a crash left (note 4), creating it if missing. */
static int clean_compact_dir(floe_t *db)
{
    char *dir = file_path_join(db->dir, COMPACT_DIR);
    if (!dir)
        return err_set(FLOE_ENOMEM, "floe_open: out of memory");
    int rc = file_mkdir_p(dir);
    DIR *d = rc == 0 ? opendir(dir) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len != 20 + strlen(".download") || strcmp(de->d_name + 20, ".download") != 0)
            continue;
        char *p = file_path_join(dir, de->d_name);
        if (p)
            file_unlink(p);
        free(p);
    }
    if (d)
        closedir(d);
    free(dir);
    return rc < 0 ? err_wrap(rc, "floe_open %s: the compaction directory", db->dir) : 0;
}

int compact_start(floe_t *db)
{
    int rc = clean_compact_dir(db);
    if (rc < 0 || db->opts.compaction.l0_trigger == 0)
        return rc;
    if (pthread_create(&db->compactor, NULL, compact_main, db) != 0)
        return err_set(FLOE_EIO, "floe_open: cannot start the compaction thread");
    db->compactor_started = 1;
    compact_notify(db); /* the shape at open may already be due */
    return 0;
}

void compact_stop(floe_t *db)
{
    pthread_mutex_lock(&db->compact_mu);
    db->compact_stopping = 1;
    pthread_cond_broadcast(&db->compact_cv);
    pthread_mutex_unlock(&db->compact_mu);
    /* A job's download or upload would otherwise wait out its timeouts; close cancels the
     * uploaders' cold calls a moment later anyway. */
    if (db->compactor_started && db->cold)
        cold_cancel(db->cold);
    if (db->compactor_started)
        pthread_join(db->compactor, NULL);
    db->compactor_started = 0;
}

/* Rewrites segment id in its own level, so that what retention expired leaves it (note 7). Needs
 * compact_job_mu. Returns 0 or an error; a segment no longer there is skipped. */
static int rewrite_in_place(floe_t *db, uint64_t id)
{
    job *j = calloc(1, sizeof *j);
    if (!j)
        return err_set(FLOE_ENOMEM, "compaction: out of memory");
    pthread_mutex_lock(&db->manifest_mu);
    manifest_segment *ms = manifest_find(db->man, id);
    int rc = 0, planned = 0;
    if (ms && !ms->retired && ms->level > 0 && eligible(db, ms) && !has_retired(db->man)) {
        j->from_level = j->out_level = ms->level;
        planned = (rc = add_input(j, ms)) == 0 && (rc = add_deeper(j, db->man)) == 0;
    }
    pthread_mutex_unlock(&db->manifest_mu);
    if (planned)
        rc = run_job(db, j);
    job_clear(j);
    free(j);
    return rc < 0 ? rc : 0;
}

/* 1 if ms's key range meets the prefix of a rule that expires entries. */
static int under_expiring_rule(const floe_options *o, const manifest_segment *ms)
{
    for (size_t i = 0; i < o->retention_count; i++) {
        const char *p = o->retention[i].prefix;
        if (o->retention[i].max_age_s &&
            key_range_meets_prefix(ms->min_key, ms->min_key_len, ms->max_key, ms->max_key_len, p, strlen(p)))
            return 1;
    }
    return 0;
}

/* With retention rules, each segment of the deepest level that has no recorded expiry but lies
 * under a rule that expires entries is rewritten once (note 7): it may predate the rules. */
static int rewrite_deepest(floe_t *db)
{
    uint64_t *ids = NULL;
    size_t n = 0;
    int rc = 0;
    pthread_mutex_lock(&db->manifest_mu);
    uint32_t deepest = 0;
    for (size_t i = 0; i < db->man->count; i++)
        if (!db->man->segments[i].retired && db->man->segments[i].level > deepest)
            deepest = db->man->segments[i].level;
    if (deepest && !(ids = malloc(db->man->count * sizeof *ids)))
        rc = err_set(FLOE_ENOMEM, "compaction: out of memory");
    for (size_t i = 0; ids && i < db->man->count; i++) {
        const manifest_segment *ms = &db->man->segments[i];
        /* A known expiry is handled when it comes (note 10); one without may predate the rules. */
        if (!ms->retired && ms->level == deepest && ms->expires_ms == 0 && under_expiring_rule(&db->opts, ms))
            ids[n++] = ms->id;
    }
    pthread_mutex_unlock(&db->manifest_mu);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = rewrite_in_place(db, ids[i]);
    free(ids);
    return rc;
}

int floe_compact(floe_t *db)
{
    if (!db)
        return err_set(FLOE_EINVAL, "floe_compact: store handle is NULL");
    /* The sweep first, so compaction removes the chunks it deletes (object.c note 2). */
    int rc = object_sweep(db, SWEEP_NOW);
    if (rc == 0)
        rc = floe_flush(db, db->cold ? FLOE_DURABLE_REMOTE : FLOE_DURABLE_LOCAL);
    if (rc < 0)
        return err_wrap(rc, "floe_compact");
    pthread_mutex_lock(&db->compact_job_mu);
    for (int retried = 0;;) {
        while ((rc = run_one(db, 1)) > 0) {
        }
        if (rc < 0)
            break;
        pthread_mutex_lock(&db->manifest_mu);
        int waiting = has_retired(db->man);
        pthread_mutex_unlock(&db->manifest_mu);
        if (!waiting)
            break;
        if (retried++ || (rc = uploader_publish(db)) < 0) {
            rc = rc < 0 ? rc : err_set(FLOE_ECOLD, "compaction outputs are not published yet");
            break;
        }
    }
    if (rc == 0 && retention_enabled(&db->opts))
        rc = rewrite_deepest(db);
    pthread_mutex_unlock(&db->compact_job_mu);
    if (rc == 0 && atomic_load(&db->read_only))
        rc = store_read_only_error(db);
    return rc < 0 ? err_wrap(rc, "floe_compact %s", db->dir) : 0;
}
