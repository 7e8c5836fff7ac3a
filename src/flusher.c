/* The seal queue and the segment-file writer (see flusher.h).
 *
 * Invariants:
 *  1. A sealed memtable stays readable (in the view) until its segment file is fsynced, renamed,
 *     opened and named by the saved manifest; only then is it dropped from the view and are the WAL
 *     files below its wal_next_file deleted.
 *  2. Segment files are written in seal order by the one flusher thread, so the manifest's segments
 *     are in id order and wal_first_file only grows.
 *  3. A seal makes every record so far durable (wal_rotate), so visible_seq may pass them all.
 *  4. A failure to write, fsync, rename or save makes the store read-only for good: a seal is never
 *     retried and reported as done.
 *  5. A segment enters the manifest and the view in one step under manifest_mu. The uploaders find
 *     segments in the manifest and eviction swaps a segment's local segref in the view for a remote
 *     one: a segment uploaded before the view held it was never evicted, and stayed local past
 *     local.max_bytes until the next upload.
 */
#include "flusher.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "clock.h"
#include "compact.h"
#include "file.h"
#include "retention.h"
#include "segment.h"
#include "uploader.h"
#include "view.h"

int flusher_seal_locked(floe_t *db)
{
    if (memtable_count(db->mem) == 0)
        return 0;
    memtable_t *fresh = NULL;
    int rc = memtable_create(&fresh);
    if (rc < 0)
        return rc;
    uint64_t next_file = 0;
    rc = wal_rotate(db->wal, &next_file);
    if (rc < 0) {
        memtable_unref(fresh);
        store_mark_read_only(db, floe_last_error());
        return rc;
    }
    atomic_store(&db->visible_seq, db->last_seq); /* note 3 */

    pthread_mutex_lock(&db->state_mu);
    if (array_grow(&db->queue, &db->cap_queue, db->n_queue + 1, sizeof *db->queue, 8, SIZE_MAX) < 0) {
        pthread_mutex_unlock(&db->state_mu);
        memtable_unref(fresh);
        return err_set(FLOE_ENOMEM, "seal: out of memory");
    }
    sealed *s = &db->queue[db->n_queue++];
    s->mem = db->mem;
    s->id = db->next_segment_id++;
    s->wal_next_file = next_file;
    s->bytes = memtable_bytes(db->mem);
    s->seal_no = ++db->seals_issued;
    db->unwritten_bytes += s->bytes;
    db->mem = fresh;
    db->mem_first_write_ms = 0;
    view *v = view_build(db, fresh, db->cur->segs, db->cur->n_segs);
    if (v)
        view_install(db, v);
    pthread_cond_broadcast(&db->state_cv);
    pthread_mutex_unlock(&db->state_mu);
    if (!v) {
        /* Keep the old view: it still has the sealed memtable as the pending one, so reads stay
         * right; writes would not be visible, so stop taking them. */
        store_mark_read_only(db, "out of memory while sealing");
        return err_set(FLOE_ENOMEM, "seal: out of memory");
    }
    return 0;
}

/* Copies the newest version of each key of mem into the segment writer w. */
static int add_memtable(segment_writer *w, memtable_t *mem, const floe_options *o, uint64_t *expires_ms)
{
    memtable_iter *it = NULL;
    int rc = memtable_iter_create(mem, &it);
    if (rc < 0)
        return rc;
    memtable_iter_seek(it, NULL, 0);
    const uint8_t *prev = NULL;
    uint32_t prev_len = 0;
    for (; memtable_iter_valid(it); memtable_iter_next(it)) {
        entry e;
        memtable_iter_entry(it, &e);
        /* Versions come newest first: keep only the first of each key. */
        if (prev && key_cmp(prev, prev_len, e.key, e.key_len) == 0)
            continue;
        prev = e.key;
        prev_len = e.key_len;
        if ((rc = segment_writer_add(w, &e)) < 0)
            break;
        uint64_t x = e.type != ENTRY_DELETE ? retention_expiry_ms(o, e.key, e.key_len, e.write_ms) : 0;
        if (x && (!*expires_ms || x < *expires_ms))
            *expires_ms = x;
    }
    memtable_iter_destroy(it);
    return rc;
}

/* Writes one sealed memtable as a segment file: temp name, fsync, rename, fsync directory. On
 * success *info holds its description. */
static int write_segment_file(floe_t *db, const sealed *s, uint64_t epoch, segment_info *info, uint64_t *expires_ms)
{
    int rc = 0;
    char *tmp = store_segment_path(db, s->id, ".tmp");
    char *final = store_segment_path(db, s->id, "");
    segment_writer *w = NULL;
    if (!tmp || !final) {
        rc = err_set(FLOE_ENOMEM, "seal: out of memory");
        goto out;
    }
    file_unlink(tmp);
    segment_write_options so = {
        .id = s->id,
        .epoch = epoch,
        .block_bytes = db->opts.segment.block_bytes,
        .compression = db->opts.segment.compression,
        .bloom_bits_per_key = 10,
        .direct = segment_write_direct(memtable_bytes(s->mem), memtable_count(s->mem)),
    };
    if ((rc = segment_writer_open(tmp, &so, &w)) < 0 || (rc = add_memtable(w, s->mem, &db->opts, expires_ms)) < 0)
        goto out;
    rc = segment_writer_finish(w, info);
    w = NULL;
    if (rc < 0)
        goto out;
    if (file_rename(tmp, final) != 0) {
        rc = err_set(FLOE_EIO, "rename %s to %s: %s", tmp, final, strerror(errno));
        file_unlink(tmp);
        segment_info_clear(info);
        goto out;
    }
    if ((rc = file_fsync_dir(db->seg_dir)) < 0)
        segment_info_clear(info);
out:
    segment_writer_abort(w);
    free(tmp);
    free(final);
    return rc;
}

/* Names the new segment file in the manifest and saves it; on failure the manifest is as before. */
manifest_segment flusher_segment_entry(const segment_info *info, manifest_seg_state state, uint32_t level)
{
    return (manifest_segment){
        .id = info->id,
        .object_key = "",
        .size = info->file_bytes,
        .crc32c = info->file_crc32c,
        .min_key = info->min_key,
        .min_key_len = info->min_key_len,
        .max_key = info->max_key,
        .max_key_len = info->max_key_len,
        .min_seq = info->min_seq,
        .max_seq = info->max_seq,
        .count = info->count,
        .epoch = info->epoch,
        .created_unix_s = info->created_unix_s,
        .state = state,
        .level = level,
    };
}

/* Records in the manifest the prefix deletes with seqs in (after, through]: the segment being named
 * covers their records, whose WAL files may go once it is saved. Needs manifest_mu; takes
 * state_mu. */
static int add_prefix_dels(floe_t *db, uint64_t after, uint64_t through)
{
    int rc = 0;
    pthread_mutex_lock(&db->state_mu);
    for (size_t i = 0; db->pdels && i < db->pdels->n && rc == 0; i++) {
        const prefix_del *d = &db->pdels->dels[i];
        if (d->seq > after && d->seq <= through)
            rc = manifest_add_prefix_del(db->man, d->prefix, d->len, d->seq);
    }
    pthread_mutex_unlock(&db->state_mu);
    return rc;
}

/* Drops the oldest sealed memtable from the queue and puts segment r first in the view. On ENOMEM
 * the queue and view stay as they were. Takes state_mu. */
static int install_segment(floe_t *db, segref *r)
{
    pthread_mutex_lock(&db->state_mu);
    size_t n = db->cur->n_segs + 1;
    segref **segs = malloc(n * sizeof *segs);
    view *v = NULL;
    if (segs) {
        segs[0] = r;
        memcpy(segs + 1, db->cur->segs, db->cur->n_segs * sizeof *segs);
        sealed first = db->queue[0];
        memmove(&db->queue[0], &db->queue[1], (db->n_queue - 1) * sizeof *db->queue);
        db->n_queue--;
        v = view_build(db, db->cur->mem, segs, n);
        free(segs);
        if (v) {
            view_install(db, v);
        } else {
            memmove(&db->queue[1], &db->queue[0], db->n_queue * sizeof *db->queue);
            db->queue[0] = first;
            db->n_queue++;
        }
    }
    pthread_mutex_unlock(&db->state_mu);
    return v ? 0 : err_set(FLOE_ENOMEM, "seal: out of memory installing segment %" PRIu64, r->id);
}

/* Names segment r in the manifest, saves it and installs r in the view, all under manifest_mu (note 5).
 * Takes manifest_mu and state_mu. */
static int manifest_add_segment(floe_t *db, const sealed *s, segref *r, const segment_info *info,
                                uint64_t expires_ms)
{
    manifest_segment ms = flusher_segment_entry(info, SEG_LOCAL, 0);
    ms.id = s->id;
    ms.expires_ms = expires_ms;
    pthread_mutex_lock(&db->manifest_mu);
    size_t old_dels = db->man->n_prefix_dels;
    int rc = manifest_insert(db->man, &ms); /* a compaction may have named a higher id first */
    if (rc == 0) {
        uint64_t old_next = db->man->next_segment_id, old_last = db->man->last_seq,
                 old_wal = db->man->wal_first_file;
        if (db->man->next_segment_id <= s->id)
            db->man->next_segment_id = s->id + 1;
        if (info->max_seq > db->man->last_seq)
            db->man->last_seq = info->max_seq;
        db->man->wal_first_file = s->wal_next_file;
        rc = add_prefix_dels(db, old_last, db->man->last_seq);
        if (rc == 0)
            rc = manifest_save(db->dir, db->man);
        if (rc < 0) {
            for (size_t i = old_dels; i < db->man->n_prefix_dels; i++)
                free(db->man->prefix_dels[i].prefix);
            db->man->n_prefix_dels = old_dels;
            manifest_remove(db->man, s->id);
            db->man->next_segment_id = old_next;
            db->man->last_seq = old_last;
            db->man->wal_first_file = old_wal;
        }
    }
    if (rc == 0)
        rc = install_segment(db, r);
    if (rc == 0 && db->cold)
        uploader_recompute_state(db);
    if (rc == 0)
        compact_update_backlog(db);
    pthread_mutex_unlock(&db->manifest_mu);
    return rc;
}

/* Writes the oldest sealed memtable, names it in the manifest and swaps it for the segment in the
 * view. Called by the flusher without locks held. */
static int flush_one(floe_t *db)
{
    pthread_mutex_lock(&db->state_mu);
    sealed s = db->queue[0];
    pthread_mutex_unlock(&db->state_mu);

    segment_info info = {0};
    segref *r = NULL;
    pthread_mutex_lock(&db->manifest_mu);
    uint64_t epoch = db->man->writer_epoch;
    pthread_mutex_unlock(&db->manifest_mu);
    uint64_t expires_ms = 0;
    int rc = write_segment_file(db, &s, epoch, &info, &expires_ms);
    if (rc < 0 || (rc = segref_open_local(db, s.id, &r)) < 0 ||
        (rc = manifest_add_segment(db, &s, r, &info, expires_ms)) < 0) {
        segref_unref(r);
        segment_info_clear(&info);
        char msg[512];
        snprintf(msg, sizeof msg, "writing segment %" PRIu64 ": %s", s.id, floe_last_error());
        store_mark_read_only(db, msg);
        return rc;
    }
    segref_unref(r); /* the view holds it */
    memtable_unref(s.mem);
    segment_info_clear(&info);

    pthread_mutex_lock(&db->write_mu);
    rc = wal_release_before(db->wal, s.wal_next_file);
    pthread_mutex_unlock(&db->write_mu);
    if (rc < 0)
        store_log(db, 1, "could not delete old WAL files: %s", floe_last_error());

    /* Only now is the seal complete for floe_flush: segment durable, WAL released. */
    pthread_mutex_lock(&db->state_mu);
    db->unwritten_bytes -= s.bytes;
    db->seals_written = s.seal_no;
    pthread_cond_broadcast(&db->state_cv);
    pthread_mutex_unlock(&db->state_mu);
    if (!db->cold)
        compact_notify(db); /* with a cold tier, the publication of the segment notifies */
    return 0;
}

/* Seals the pending memtable if its oldest write is older than segment.max_age_s. Returns how long
 * to wait before the next check, in ms (at most 1000). Takes write_mu. */
static int64_t seal_by_age(floe_t *db)
{
    pthread_mutex_lock(&db->write_mu);
    int64_t first = db->mem_first_write_ms;
    int64_t age_limit_ms = (int64_t)db->opts.segment.max_age_s * 1000;
    int64_t wait_ms = 1000;
    if (first) {
        int64_t age = clock_now_ms() - first;
        if (age >= age_limit_ms && !db->read_only)
            flusher_seal_locked(db);
        else if (age_limit_ms - age < wait_ms)
            wait_ms = age_limit_ms - age;
    }
    pthread_mutex_unlock(&db->write_mu);
    return wait_ms;
}

static void *flusher_main(void *arg)
{
    floe_t *db = arg;
    pthread_mutex_lock(&db->state_mu);
    for (;;) {
        if (db->n_queue > 0 && !db->read_only) {
            pthread_mutex_unlock(&db->state_mu);
            flush_one(db);
            pthread_mutex_lock(&db->state_mu);
            continue;
        }
        if (db->stopping)
            break;
        /* Sealing needs write_mu, which comes before state_mu. */
        pthread_mutex_unlock(&db->state_mu);
        int64_t wait_ms = seal_by_age(db);
        pthread_mutex_lock(&db->state_mu);
        if (db->n_queue > 0 || db->stopping)
            continue;
        struct timespec ts = clock_deadline_after_ms(wait_ms);
        pthread_cond_timedwait(&db->state_cv, &db->state_mu, &ts);
    }
    pthread_mutex_unlock(&db->state_mu);
    return NULL;
}

int flusher_start(floe_t *db)
{
    if (pthread_create(&db->flusher, NULL, flusher_main, db) != 0)
        return err_set(FLOE_EIO, "floe_open: cannot start the segment writer thread");
    db->flusher_started = 1;
    return 0;
}

void flusher_stop(floe_t *db)
{
    pthread_mutex_lock(&db->state_mu);
    db->stopping = 1;
    pthread_cond_broadcast(&db->state_cv);
    pthread_mutex_unlock(&db->state_mu);
    if (db->flusher_started)
        pthread_join(db->flusher, NULL);
    db->flusher_started = 0;
}
