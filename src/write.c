/* The write path: floe_put and floe_delete append a record to the WAL and the pending memtable
 * under write_mu, then wait for the WAL sync outside it (group commit), then make the write visible.
 *
 * Invariants:
 *  1. Sequence numbers are assigned under write_mu in the same order records enter the WAL, so a
 *     WAL sync that covers seq S covers every seq below it.
 *  2. visible_seq only passes a seq once its WAL record is durable per wal.sync.
 *  3. A write is refused, never silently dropped: backpressure waits and then fails with
 *     FLOE_EBEHIND; a failed WAL write or sync makes the store read-only (sticky) and the write
 *     fails.
 */
#include <inttypes.h>
#include <string.h>

#include "clock.h"
#include "flusher.h"
#include "store.h"

int store_check_content_type(const char *ct, size_t *len_out)
{
    size_t n = ct ? strlen(ct) : 0;
    if (n > FLOE_MAX_CONTENT_TYPE_BYTES)
        return err_set(FLOE_EINVAL, "content type is %zu bytes: at most %d allowed", n,
                       FLOE_MAX_CONTENT_TYPE_BYTES);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)ct[i];
        if (c < 0x20 || c > 0x7e)
            return err_set(FLOE_EINVAL, "content type has a non-printable byte 0x%02x at %zu", c, i);
    }
    *len_out = n;
    return 0;
}

/* 1 while sealed data not yet named remotely is over upload.max_pending_bytes. */
static int over_upload_cap(floe_t *db)
{
    return db->cold && atomic_load(&db->bytes_pending_upload) + atomic_load(&db->unwritten_bytes) >
                           db->opts.upload.max_pending_bytes;
}

/* Backpressure before a write. Waits while sealed-but-unwritten data is over its bound (segment
 * files are written in the background, so this clears on its own). With a cold tier, waits up to
 * upload.wait_ms while sealed-but-not-uploaded data is over upload.max_pending_bytes, then fails
 * with FLOE_EBEHIND: the disk is never filled silently. The same while compaction.l0_stop level-0
 * segments wait for compaction, so a read's segments stay bounded however fast writes come. Also FLOE_EREADONLY, FLOE_ECLOSED. */
static int wait_for_room(floe_t *db)
{
    if (atomic_load_explicit(&db->unwritten_bytes, memory_order_relaxed) <=
            db->opts.segment.max_unwritten_bytes &&
        !over_upload_cap(db) && !atomic_load_explicit(&db->compaction_behind, memory_order_relaxed))
        return 0;
    struct timespec deadline = clock_deadline_after_ms(db->opts.upload.wait_ms);
    pthread_mutex_lock(&db->state_mu);
    while (db->unwritten_bytes > db->opts.segment.max_unwritten_bytes && !db->read_only && !db->stopping)
        pthread_cond_wait(&db->state_cv, &db->state_mu);
    int timed_out = 0;
    while ((over_upload_cap(db) || atomic_load(&db->compaction_behind)) && !db->read_only && !db->stopping &&
           !timed_out)
        timed_out = pthread_cond_timedwait(&db->state_cv, &db->state_mu, &deadline) != 0;
    int compaction_behind = atomic_load(&db->compaction_behind);
    int ro = db->read_only;
    int stopping = db->stopping;
    int behind = !ro && !stopping && over_upload_cap(db);
    uint64_t pending = db->bytes_pending_upload + db->unwritten_bytes;
    char cold_msg[256];
    store_copy_cut(cold_msg, sizeof cold_msg, db->cold_unhealthy ? db->cold_msg : "none");
    pthread_mutex_unlock(&db->state_mu);
    if (ro)
        return store_read_only_error(db);
    if (stopping)
        return err_set(FLOE_ECLOSED, "%s: store is closing", db->dir);
    if (behind)
        return err_set(FLOE_EBEHIND,
                       "cold tier behind: %" PRIu64
                       " bytes sealed but not uploaded (upload.max_pending_bytes is %" PRIu64
                       "); waited %u ms; last cold-tier error: %s; retry later",
                       pending, db->opts.upload.max_pending_bytes, db->opts.upload.wait_ms, cold_msg);
    if (compaction_behind)
        return err_set(FLOE_EBEHIND,
                       "compaction behind: %u level-0 segments wait to be merged (compaction.l0_stop); waited %u ms; "
                       "retry later",
                       db->opts.compaction.l0_stop, db->opts.upload.wait_ms);
    return 0;
}

static void advance_visible(floe_t *db, uint64_t seq)
{
    uint_fast64_t cur = atomic_load(&db->visible_seq);
    while (cur < seq && !atomic_compare_exchange_weak(&db->visible_seq, &cur, seq)) {
    }
}

/* Assigns e's seq and write time and appends it to the WAL and the pending memtable (note 1); *lsn gets the
 * WAL position to sync. Takes write_mu. */
static int append_locked(floe_t *db, entry *e, int prefix_delete, uint64_t *lsn)
{
    pthread_mutex_lock(&db->write_mu);
    if (db->read_only) {
        pthread_mutex_unlock(&db->write_mu);
        return store_read_only_error(db);
    }
    e->seq = db->last_seq + 1;
    /* Read once per write, under the lock, so write times follow sequence order unless the wall
     * clock itself steps back. */
    e->write_ms = clock_unix_ms();
    wal_record rec = {
        .type = prefix_delete            ? WAL_REC_DELETE_PREFIX
                : e->type == ENTRY_DELETE ? WAL_REC_DELETE
                : e->type == ENTRY_OBJECT ? WAL_REC_OBJECT
                                          : WAL_REC_PUT,
        .seq = e->seq,
        .write_ms = e->write_ms,
        .key = e->key,
        .key_len = e->key_len,
        .value = e->value,
        .value_len = e->value_len,
        .content_type = e->content_type ? e->content_type : "",
        .content_type_len = e->content_type_len,
    };
    int rc = wal_append(db->wal, &rec, lsn);
    if (rc < 0) {
        pthread_mutex_unlock(&db->write_mu);
        if (rc == FLOE_EREADONLY || rc == FLOE_EIO)
            store_mark_read_only(db, floe_last_error());
        return rc;
    }
    if (prefix_delete) {
        /* Readers ignore it until visible_seq passes e->seq. */
        pthread_mutex_lock(&db->state_mu);
        rc = store_add_prefix_del(db, e->key, e->key_len, e->seq);
        pthread_mutex_unlock(&db->state_mu);
        if (rc < 0) {
            pthread_mutex_unlock(&db->write_mu);
            store_mark_read_only(db, "out of memory adding a prefix delete");
            return rc;
        }
    }
    if ((rc = memtable_add(db->mem, e)) < 0) {
        /* The record is in the WAL but not readable: stop, so a restart replays it. */
        pthread_mutex_unlock(&db->write_mu);
        store_mark_read_only(db, "out of memory adding to the pending segment");
        return rc;
    }
    db->last_seq = e->seq;
    if (db->mem_first_write_ms == 0)
        db->mem_first_write_ms = clock_now_ms();
    if (memtable_bytes(db->mem) >= db->opts.segment.max_bytes)
        flusher_seal_locked(db); /* errors are sticky and reported by the next write */
    pthread_mutex_unlock(&db->write_mu);
    return 0;
}

static int write_entry(floe_t *db, entry *e, int prefix_delete, uint64_t *seq_out)
{
    uint64_t lsn = 0;
    int rc = wait_for_room(db);
    if (rc < 0 || (rc = append_locked(db, e, prefix_delete, &lsn)) < 0)
        return rc;
    if ((rc = wal_sync(db->wal, lsn)) < 0) {
        store_mark_read_only(db, floe_last_error());
        return rc;
    }
    advance_visible(db, e->seq);
    if (db->object_cache)
        lru_invalidate(db->object_cache, e->key, e->key_len);
    if (seq_out)
        *seq_out = e->seq;
    return 0;
}

void store_seal_pending(floe_t *db)
{
    pthread_mutex_lock(&db->write_mu);
    if (!db->read_only && memtable_count(db->mem) > 0)
        flusher_seal_locked(db); /* errors are sticky and reported by the next write */
    pthread_mutex_unlock(&db->write_mu);
}

int store_write(floe_t *db, entry *e, int prefix_delete, uint64_t *seq_out)
{
    int rc = write_entry(db, e, prefix_delete, seq_out);
    if (rc == 0)
        atomic_fetch_add_explicit(e->type == ENTRY_DELETE ? &db->n_deletes : &db->n_puts, 1, memory_order_relaxed);
    return rc;
}

int floe_put(floe_t *db, const void *key, size_t key_len, const void *value, size_t value_len,
             const char *content_type, uint64_t *seq_out)
{
    int rc;
    size_t ct_len = 0;
    if (!db)
        return err_set(FLOE_EINVAL, "floe_put: store handle is NULL");
    if ((rc = store_check_key(key, key_len)) < 0)
        return rc;
    if (value_len > db->opts.max_object_bytes)
        return err_set(FLOE_ETOOBIG,
                       "value for key of %zu bytes is %zu bytes: the limit (max_object_bytes) is %" PRIu64,
                       key_len, value_len, db->opts.max_object_bytes);
    if (value_len > FLOE_MAX_PUT_BYTES)
        return err_set(FLOE_ETOOBIG,
                       "value for key of %zu bytes is %zu bytes: floe_put takes at most %llu (1 GiB); write larger "
                       "objects with floe_writer_*",
                       key_len, value_len, (unsigned long long)FLOE_MAX_PUT_BYTES);
    if (!value && value_len)
        return err_set(FLOE_EINVAL, "floe_put: value is NULL with length %zu", value_len);
    if ((rc = store_check_content_type(content_type, &ct_len)) < 0)
        return rc;
    entry e = {
        .key = key,
        .key_len = (uint32_t)key_len,
        .value = value ? value : (const void *)"",
        .value_len = (uint32_t)value_len,
        .content_type = ct_len ? content_type : NULL,
        .content_type_len = (uint32_t)ct_len,
        .type = ENTRY_PUT,
    };
    rc = write_entry(db, &e, 0, seq_out);
    if (rc == 0)
        atomic_fetch_add_explicit(&db->n_puts, 1, memory_order_relaxed);
    return rc;
}

int floe_delete(floe_t *db, const void *key, size_t key_len, uint64_t *seq_out)
{
    int rc;
    if (!db)
        return err_set(FLOE_EINVAL, "floe_delete: store handle is NULL");
    if ((rc = store_check_key(key, key_len)) < 0)
        return rc;
    entry e = {.key = key, .key_len = (uint32_t)key_len, .value = (const void *)"", .type = ENTRY_DELETE};
    rc = write_entry(db, &e, 0, seq_out);
    if (rc == 0)
        atomic_fetch_add_explicit(&db->n_deletes, 1, memory_order_relaxed);
    return rc;
}

int floe_delete_prefix(floe_t *db, const void *prefix, size_t prefix_len, uint64_t *seq_out)
{
    int rc;
    if (!db)
        return err_set(FLOE_EINVAL, "floe_delete_prefix: store handle is NULL");
    if (prefix_len == 0)
        return err_set(FLOE_EKEY, "floe_delete_prefix: the prefix is empty (it would delete every key)");
    if ((rc = store_check_key(prefix, prefix_len)) < 0)
        return rc;
    /* One record; the prefix itself is also deleted as a key, which keeps the record in the
     * pending segment and so in the segment that covers it. */
    entry e = {.key = prefix, .key_len = (uint32_t)prefix_len, .value = (const void *)"", .type = ENTRY_DELETE};
    rc = write_entry(db, &e, 1, seq_out);
    if (rc == 0)
        atomic_fetch_add_explicit(&db->n_deletes, 1, memory_order_relaxed);
    return rc;
}
