/* The store's public entry points for its lifetime: floe_open (named steps with one unwind path),
 * floe_close, floe_flush and floe_stats_get, plus the helpers every store module shares. The write
 * path is write.c, point reads read.c, listings list.c, views and segment references view.c, seals
 * and segment files flusher.c, and the cold tier's uploads uploader.c.
 *
 * Invariants:
 *  1. Open never deletes a file it cannot prove is garbage: only temp segment files, files of
 *     segments the manifest says are only remote, and segment files newer than every segment the
 *     manifest knows (written before a crash stopped the manifest save; their data is still in the
 *     WAL). A directory without manifest.json that holds data a manifest must have described is
 *     refused, not reset. A new store saves its manifest before its first write.
 *  2. WAL records at or below the manifest's last_seq are already in segments and are not replayed.
 *  3. Once a WAL write, fsync or segment write fails the store is read-only for good (sticky): it is
 *     never retried and reported as success.
 *  4. Close stops the threads before it frees what they use: the gc thread first, then the flusher
 *     (it finishes the seal queue), then the uploaders, then the WAL, views and caches, and the
 *     cold store last.
 */
#include "store.h"

#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "file.h"
#include "flusher.h"
#include "compact.h"
#include "gcthread.h"
#include "options.h"
#include "retention.h"
#include "uploader.h"
#include "view.h"

void store_log(floe_t *db, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (db->opts.log_fn) {
        db->opts.log_fn(db->opts.log_ctx, level, msg);
        return;
    }
    static const char *names[] = {"error", "warning", "info"};
    fprintf(stderr, "floe %s: %s\n", names[level < 0 || level > 2 ? 2 : level], msg);
}

void store_copy_cut(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int store_check_key(const void *key, size_t key_len)
{
    if (!key || key_len == 0)
        return err_set(FLOE_EKEY, "key is empty: keys are 1..%d bytes", FLOE_MAX_KEY_BYTES);
    if (key_len > FLOE_MAX_KEY_BYTES)
        return err_set(FLOE_EKEY, "key is %zu bytes: keys are at most %d bytes", key_len, FLOE_MAX_KEY_BYTES);
    if (key_is_reserved(key, key_len) && !key_is_system(key, key_len))
        return err_set(FLOE_EKEY,
                       "key begins with %d bytes 0xff: such keys are reserved for floe's own records (only "
                       "FLOE_SYSTEM_PREFIX's namespace is open to callers)",
                       FLOE_RESERVED_PREFIX_BYTES);
    return 0;
}

/* Makes the store read-only (and fenced, if fenced) in one step under state_mu, so no waiter sees
 * one without the other. */
static void set_read_only(floe_t *db, const char *what, int fenced)
{
    pthread_mutex_lock(&db->state_mu);
    int first = !db->read_only;
    if (fenced)
        db->fenced = 1;
    if (first) {
        db->read_only = 1;
        store_copy_cut(db->read_only_msg, sizeof db->read_only_msg, what);
    }
    pthread_cond_broadcast(&db->state_cv);
    pthread_mutex_unlock(&db->state_mu);
    if (first)
        store_log(db, 0, "store is now read-only: %s", what);
}

void store_mark_read_only(floe_t *db, const char *what)
{
    set_read_only(db, what, 0);
}

void store_mark_fenced(floe_t *db, const char *what)
{
    set_read_only(db, what, 1);
}

int store_read_only_error(floe_t *db)
{
    char msg[256];
    pthread_mutex_lock(&db->state_mu);
    snprintf(msg, sizeof msg, "%s", db->read_only_msg);
    pthread_mutex_unlock(&db->state_mu);
    return err_set(FLOE_EREADONLY, "%s: store is read-only after: %s; restart it once the cause is fixed",
                   db->dir, msg);
}

/* What floe_flush returns on a read-only store: FLOE_EFENCED when a newer writer fenced it, however
 * the fencing was found (a background publish may find it before the flush's own does). */
static int flush_refused(floe_t *db)
{
    pthread_mutex_lock(&db->state_mu);
    int fenced = db->fenced;
    pthread_mutex_unlock(&db->state_mu);
    int rc = store_read_only_error(db);
    if (!fenced)
        return rc;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", floe_last_error());
    return err_set(FLOE_EFENCED, "%s", msg);
}

char *store_segment_path(floe_t *db, uint64_t id, const char *suffix)
{
    char name[64];
    snprintf(name, sizeof name, "%020" PRIu64 ".seg%s", id, suffix);
    return file_path_join(db->seg_dir, name);
}

/* Allocates the handle with its locks, paths and a private copy of the options, with copies of the
 * strings and retention rules the caller's options borrow. */
static int open_handle(const char *dir, const floe_options *opts, floe_t **out)
{
    floe_t *db = calloc(1, sizeof *db);
    if (!db)
        return err_set(FLOE_ENOMEM, "floe_open: out of memory");
    if (clock_cond_init(&db->state_cv) != 0) {
        free(db);
        return err_set(FLOE_ENOMEM, "floe_open: cannot create a condition variable");
    }
    if (clock_cond_init(&db->compact_cv) != 0) {
        pthread_cond_destroy(&db->state_cv);
        free(db);
        return err_set(FLOE_ENOMEM, "floe_open: cannot create a condition variable");
    }
    pthread_mutex_init(&db->compact_job_mu, NULL);
    pthread_mutex_init(&db->compact_mu, NULL);
    db->lock_fd = -1;
    db->opts = *opts;
    options_resolve(&db->opts);
    pthread_mutex_init(&db->write_mu, NULL);
    pthread_mutex_init(&db->publish_mu, NULL);
    pthread_mutex_init(&db->manifest_mu, NULL);
    pthread_mutex_init(&db->state_mu, NULL);
    pthread_mutex_init(&db->obj_mu, NULL);
    pthread_mutex_init(&db->sweep_mu, NULL);
    *out = db;

    db->dir = strdup(dir);
    db->wal_dir = file_path_join(dir, "wal");
    db->seg_dir = file_path_join(dir, "segments");
    if (!db->dir || !db->wal_dir || !db->seg_dir)
        return err_set(FLOE_ENOMEM, "floe_open: out of memory");
    const char **strings[] = {&db->opts.cold.fs_path,   &db->opts.cold.s3.endpoint, &db->opts.cold.s3.bucket,
                              &db->opts.cold.s3.prefix, &db->opts.cold.s3.region,   &db->opts.cold.s3.ca_file,
                              &db->opts.cold.s3.access_key, &db->opts.cold.s3.secret_key};
    _Static_assert(sizeof strings / sizeof strings[0] == sizeof db->option_strings / sizeof db->option_strings[0],
                   "one copy per string option");
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        if (!*strings[i])
            continue;
        if (!(db->option_strings[i] = strdup(*strings[i])))
            return err_set(FLOE_ENOMEM, "floe_open: out of memory");
        *strings[i] = db->option_strings[i];
    }
    /* The rules too: the caller's array may go away once floe_open returns. */
    return retention_copy(&db->opts, &db->retention_rules);
}

/* Opens the configured cold store (or takes the caller's). */
static int open_cold(floe_t *db, cold_t **given)
{
    int rc = 0;
    if (*given) {
        db->cold = *given;
        *given = NULL;
    } else if (db->opts.cold.backend != FLOE_COLD_NONE &&
               (rc = cold_open_options(&db->opts, 1, &db->cold)) < 0 && db->opts.cold.backend == FLOE_COLD_S3) {
        err_wrap(rc, "floe_open: cold tier");
    }
    return rc;
}

/* Takes the data directory's LOCK file (flock), writing our pid into it for operators. */
static int lock_dir(floe_t *db)
{
    int rc = file_lock_dir(db->dir, 1, &db->lock_fd);
    if (rc == 0) {
        char pid[32];
        int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        /* The pid is informational; the flock is the lock. */
        if (file_ftruncate(db->lock_fd, 0) == 0)
            (void)file_pwrite(db->lock_fd, pid, (size_t)n, 0);
    }
    return rc;
}

/* Makes the data directory and takes its lock; creates the caches. */
static int open_dir_and_caches(floe_t *db)
{
    int rc;
    if ((rc = file_mkdir_p(db->dir)) < 0 || (rc = lock_dir(db)) < 0 || (rc = file_mkdir_p(db->seg_dir)) < 0)
        return rc;
    if (db->cold) {
        char *cache_dir = file_path_join(db->dir, "cache");
        rc = cache_dir ? blockcache_open(cache_dir, db->opts.cache.block_bytes, &db->bcache) : FLOE_ENOMEM;
        free(cache_dir);
        if (rc < 0)
            return rc;
    }
    if (db->opts.cache.object_bytes && (rc = lru_create(db->opts.cache.object_bytes, 16, &db->object_cache)) < 0)
        return rc;
    if (db->opts.cache.decoded_block_bytes &&
        (rc = lru_create(db->opts.cache.decoded_block_bytes, 16, &db->decoded_blocks)) < 0)
        return rc;
    return meta_cache_create(db);
}

/* 1 and the id if name is a segment file name, "<20 digits>.seg" (tmp 0) or "<20 digits>.seg.tmp"
 * (tmp 1). */
static int parse_segment_name(const char *name, uint64_t *id, int *tmp)
{
    int consumed = 0;
    if (strlen(name) < 24 || sscanf(name, "%20" SCNu64 ".seg%n", id, &consumed) != 1 || consumed != 24)
        return 0;
    *tmp = strcmp(name + consumed, ".tmp") == 0;
    return name[consumed] == '\0' || *tmp;
}

int store_install_pdels(floe_t *db, pdel_set *set)
{
    pdel_set_unref(db->pdels);
    db->pdels = set;
    atomic_store(&db->n_pdels, set->n);
    if (!db->cur)
        return 0; /* open: the first view is built later */
    view *v = view_build(db, db->cur->mem, db->cur->segs, db->cur->n_segs);
    if (!v)
        return err_set(FLOE_ENOMEM, "prefix deletes: out of memory installing a view");
    view_install(db, v);
    return 0;
}

int store_add_prefix_del(floe_t *db, const void *prefix, size_t len, uint64_t seq)
{
    pdel_set *n = pdel_set_with(db->pdels, prefix, len, seq);
    if (!n)
        return err_set(FLOE_ENOMEM, "delete prefix: out of memory");
    return store_install_pdels(db, n);
}

/* Removes leftovers of a crash (note 1): temp segment files, segment files of segments the manifest
 * says are only remote (their eviction was cut short), and segment files the manifest could not yet
 * know about (ids from next_segment_id on: written, but the manifest save did not happen, so their
 * data is still in the WAL). Anything else is kept: an unnamed segment file below next_segment_id
 * is reported, other files are not floe's. */
static int clean_segment_dir(floe_t *db)
{
    DIR *d = opendir(db->seg_dir);
    if (!d)
        return err_set(FLOE_EIO, "open directory %s: %s", db->seg_dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t id = 0;
        int tmp = 0;
        if (!parse_segment_name(de->d_name, &id, &tmp))
            continue;
        const manifest_segment *ms = manifest_find(db->man, id);
        const char *why = tmp ? "a temp file of an unfinished segment write"
                          : ms && ms->state == SEG_REMOTE ? "the segment is in the cold tier (eviction cut short)"
                          : !ms && id >= db->man->next_segment_id ? "not named by the manifest (left by a crash)"
                                                                   : NULL;
        char *p = why || !ms ? file_path_join(db->seg_dir, de->d_name) : NULL;
        if (p && why) {
            store_log(db, 1, "removing %s: %s", p, why);
            file_unlink(p);
        } else if (p) {
            store_log(db, 1, "keeping %s: the manifest does not name it, yet it is older than its newest segment",
                      p);
        }
        free(p);
    }
    closedir(d);
    return 0;
}

/* How many segment files the segment directory holds. */
static size_t count_segment_files(floe_t *db)
{
    size_t n = 0;
    DIR *d = opendir(db->seg_dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        uint64_t id;
        int tmp;
        if (parse_segment_name(de->d_name, &id, &tmp) && !tmp)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* A directory without manifest.json is new only if nothing in it needs one (note 1): no segment
 * file, and no WAL file released by a seal (WAL files then start at number 1). A store made before
 * manifests were saved at creation that never sealed has exactly that. Errors: FLOE_ECORRUPT
 * naming the directory and what to do. */
static int check_new_directory(floe_t *db)
{
    size_t n_segments = count_segment_files(db), n_wal = 0;
    uint64_t first_wal = 0;
    int rc = wal_dir_files(db->wal_dir, &first_wal, &n_wal);
    if (rc < 0)
        return err_wrap(rc, "floe_open %s", db->dir);
    if (n_segments == 0 && (n_wal == 0 || first_wal == 1))
        return 0;
    return err_set(FLOE_ECORRUPT,
                   "floe_open %s: manifest.json is missing, but the directory holds %zu segment files and %zu WAL "
                   "files (the first numbered %" PRIu64 "), which cannot be read safely without it; nothing was "
                   "changed or deleted. Put manifest.json back (from a backup), or rebuild the store from the cold "
                   "tier with `floe restore` into an empty data directory",
                   db->dir, n_segments, n_wal, first_wal);
}

/* Loads the manifest, or creates and saves it for a new directory, and cleans the segment
 * directory by it. */
static int open_manifest(floe_t *db)
{
    int rc = manifest_load(db->dir, &db->man);
    if (rc == FLOE_ENOTFOUND) {
        if ((rc = check_new_directory(db)) < 0 || (rc = manifest_create(&db->man)) < 0)
            return rc;
        db->man->writer_epoch = 1;
        if ((rc = manifest_save(db->dir, db->man)) < 0)
            return err_wrap(rc, "floe_open %s: saving the new store's manifest", db->dir);
    } else if (rc < 0) {
        return err_wrap(rc, "floe_open %s", db->dir);
    }
    db->next_segment_id = db->man->next_segment_id ? db->man->next_segment_id : 1;
    db->last_seq = db->man->last_seq;
    for (size_t i = 0; i < db->man->n_prefix_dels; i++) {
        const prefix_del *d = &db->man->prefix_dels[i];
        if ((rc = store_add_prefix_del(db, d->prefix, d->len, d->seq)) < 0) /* no other thread yet */
            return err_wrap(rc, "floe_open");
    }
    return clean_segment_dir(db);
}

/* Opens a segref for every segment the manifest names, newest first, into *segs_out. */
static int open_segments(floe_t *db, segref ***segs_out, size_t *n_out)
{
    segref **segs = calloc(db->man->count ? db->man->count : 1, sizeof *segs);
    size_t n = 0;
    int rc = 0;
    if (!segs)
        return err_set(FLOE_ENOMEM, "floe_open: out of memory");
    for (size_t i = db->man->count; i-- > 0 && rc == 0;) {
        manifest_segment *ms = &db->man->segments[i];
        if (ms->state == SEG_UPLOADING)
            ms->state = SEG_LOCAL; /* the upload did not finish: start it again */
        if (ms->retired)
            continue; /* compaction outputs hold its entries; only the bucket still names it */
        segref *r = NULL;
        rc = ms->state == SEG_REMOTE ? segref_open_remote(db, ms, &r) : segref_open_local(db, ms->id, &r);
        if (rc < 0) {
            err_wrap(rc, "floe_open %s: segment %" PRIu64 " named by the manifest", db->dir, ms->id);
        } else {
            r->level = ms->level;
            segs[n++] = r;
        }
    }
    *segs_out = segs;
    *n_out = n;
    return rc;
}

typedef struct replay_ctx {
    floe_t *db;
    uint64_t skip_through_seq;
    uint64_t replayed;
} replay_ctx;

static int replay_record(void *ctx, const wal_record *rec)
{
    replay_ctx *rc = ctx;
    floe_t *db = rc->db;
    if (rec->seq <= rc->skip_through_seq)
        return 0; /* note 2 */
    entry e = {
        .key = rec->key,
        .key_len = rec->key_len,
        .value = rec->value,
        .value_len = rec->value_len,
        .content_type = rec->content_type_len ? rec->content_type : NULL,
        .content_type_len = rec->content_type_len,
        .seq = rec->seq,
        .write_ms = rec->write_ms,
        .type = rec->type == WAL_REC_DELETE ? ENTRY_DELETE : rec->type == WAL_REC_OBJECT ? ENTRY_OBJECT : ENTRY_PUT,
    };
    int err = 0;
    if (rec->type == WAL_REC_DELETE_PREFIX) {
        e.type = ENTRY_DELETE; /* the prefix itself is a key under it */
        pthread_mutex_lock(&db->state_mu);
        err = store_add_prefix_del(db, rec->key, rec->key_len, rec->seq);
        pthread_mutex_unlock(&db->state_mu);
    }
    if (err == 0)
        err = memtable_add(db->mem, &e);
    if (err < 0)
        return err;
    if (memtable_count(db->mem) == 1)
        db->mem_first_write_ms = clock_now_ms();
    if (rec->seq > db->last_seq)
        db->last_seq = rec->seq;
    rc->replayed++;
    return 0;
}

/* Opens the WAL, replaying what the segments do not hold into a fresh pending memtable. */
static int open_wal(floe_t *db)
{
    int rc = memtable_create(&db->mem);
    if (rc < 0)
        return rc;
    /* The largest value a record holds: a floe_put's, or a chunk or an inline object's (object.c). */
    uint64_t value_max = db->opts.max_object_bytes < FLOE_MAX_PUT_BYTES ? db->opts.max_object_bytes
                                                                         : FLOE_MAX_PUT_BYTES;
    if (value_max < db->opts.object.chunk_bytes + OBJREC_MAX_HEADER_BYTES)
        value_max = db->opts.object.chunk_bytes + OBJREC_MAX_HEADER_BYTES;
    wal_options wo = {
        .sync = db->opts.wal.sync,
        .interval_ms = db->opts.wal.interval_ms,
        .file_bytes = db->opts.wal.file_bytes,
        .direct_batch_bytes = db->opts.wal_io.direct_batch_bytes,
        .max_record_bytes = (uint32_t)(value_max + FLOE_MAX_KEY_BYTES + FLOE_MAX_CONTENT_TYPE_BYTES + 64),
    };
    replay_ctx rctx = {.db = db, .skip_through_seq = db->man->last_seq};
    if ((rc = wal_open(db->wal_dir, &wo, replay_record, &rctx, &db->wal)) < 0)
        return err_wrap(rc, "floe_open %s", db->dir);
    wal_stats ws;
    wal_get_stats(db->wal, &ws);
    if (ws.tail_bytes_truncated)
        store_log(db, 1, "%s: %s (an unacknowledged write cut short by a crash)", db->dir, floe_last_error());
    if (rctx.replayed)
        store_log(db, 2, "%s: replayed %" PRIu64 " WAL records into the pending segment", db->dir, rctx.replayed);
    atomic_store(&db->visible_seq, db->last_seq);
    return 0;
}

/* Opens the segments and the WAL and installs the first view. */
static int open_data(floe_t *db)
{
    segref **segs = NULL;
    size_t n_segs = 0;
    int rc = open_segments(db, &segs, &n_segs);
    if (rc == 0)
        rc = open_wal(db);
    if (rc == 0 && !(db->cur = view_build(db, db->mem, segs, n_segs)))
        rc = err_set(FLOE_ENOMEM, "floe_open: out of memory");
    for (size_t j = 0; j < n_segs; j++)
        segref_unref(segs[j]); /* the view holds them now */
    free(segs);
    return rc;
}

int store_open_with_cold(const char *dir, const floe_options *opts, cold_t *cold, floe_t **out)
{
    floe_options defaults, checked;
    floe_t *db = NULL;
    int rc;
    if (!opts) {
        floe_options_init(&defaults);
        opts = &defaults;
    }
    if (!dir || !dir[0] || !out) {
        rc = err_set(FLOE_EINVAL, "floe_open: a data directory and an out pointer are required");
        goto fail;
    }
    if ((rc = options_copy_in(&checked, opts)) < 0)
        goto fail;
    if (cold)
        checked.cold.backend = FLOE_COLD_NONE; /* the caller's store replaces the configured one */
    if ((rc = options_check(&checked)) < 0)
        goto fail;
    if ((rc = open_handle(dir, &checked, &db)) < 0 || (rc = open_cold(db, &cold)) < 0 ||
        (rc = open_dir_and_caches(db)) < 0 || (rc = open_manifest(db)) < 0 || (rc = open_data(db)) < 0 ||
        (rc = flusher_start(db)) < 0)
        goto fail;
    if (db->cold && (rc = uploader_start(db)) < 0) {
        if (rc == FLOE_EFENCED)
            err_wrap(rc, "floe_open %s", dir);
        goto fail;
    }
    if ((rc = gcthread_start(db)) < 0 || (rc = compact_start(db)) < 0)
        goto fail;
    /* A large replay seals at once so memory returns to its budget. */
    if (memtable_bytes(db->mem) >= db->opts.segment.max_bytes) {
        pthread_mutex_lock(&db->write_mu);
        flusher_seal_locked(db);
        pthread_mutex_unlock(&db->write_mu);
    }
    /* Chunks that nothing names were cut off by a crash, or replaced or deleted before it: no reader
     * can be reading them, so they go now (object.c note 2). */
    if (!atomic_load(&db->read_only) && object_sweep(db, SWEEP_AT_OPEN) < 0)
        store_log(db, 1, "floe_open %s: %s", dir, floe_last_error());
    *out = db;
    return 0;

fail:
    cold_close(cold);
    if (db) {
        /* Free the half-opened store, keeping this thread's error message for the caller. */
        char saved[1024];
        store_copy_cut(saved, sizeof saved, floe_last_error());
        floe_close(db);
        err_set(rc, "%s", saved);
    }
    return rc;
}

int floe_open(const char *dir, const floe_options *opts, floe_t **out)
{
    return store_open_with_cold(dir, opts, NULL, out);
}

int floe_close(floe_t *db)
{
    if (!db)
        return 0;
    int rc = 0;
    compact_stop(db); /* first: a job may pause gc */
    gcthread_stop(db);
    flusher_stop(db);
    uploader_stop(db);
    free(db->uploaders);
    if (db->wal) {
        int wrc = wal_close(db->wal);
        if (wrc < 0 && rc == 0)
            rc = wrc;
    }
    if (db->read_only && rc == 0)
        rc = FLOE_EREADONLY;
    view_unref(db->cur);
    pdel_set_unref(db->pdels);
    for (size_t i = 0; i < db->n_queue; i++)
        memtable_unref(db->queue[i].mem);
    free(db->queue);
    memtable_unref(db->mem);
    /* Readers (in views, freed above) are gone: the caches, then the cold store, can go. */
    meta_cache_destroy(db);
    lru_destroy(db->object_cache);
    lru_destroy(db->decoded_blocks);
    manifest_free(db->man);
    free(db->unpublished);
    blockcache_close(db->bcache);
    cold_close(db->cold);
    for (size_t i = 0; i < sizeof db->option_strings / sizeof db->option_strings[0]; i++)
        free(db->option_strings[i]);
    free(db->retention_rules);
    if (db->lock_fd >= 0)
        file_close(db->lock_fd);
    pthread_mutex_destroy(&db->write_mu);
    pthread_mutex_destroy(&db->publish_mu);
    pthread_mutex_destroy(&db->manifest_mu);
    pthread_mutex_destroy(&db->state_mu);
    pthread_mutex_destroy(&db->obj_mu);
    pthread_mutex_destroy(&db->sweep_mu);
    free(db->obj_active);
    pthread_cond_destroy(&db->state_cv);
    pthread_mutex_destroy(&db->compact_job_mu);
    pthread_mutex_destroy(&db->compact_mu);
    pthread_cond_destroy(&db->compact_cv);
    free(db->dir);
    free(db->wal_dir);
    free(db->seg_dir);
    free(db);
    return rc;
}

int floe_flush(floe_t *db, floe_durability level)
{
    if (!db)
        return err_set(FLOE_EINVAL, "floe_flush: store handle is NULL");
    if (level != FLOE_DURABLE_LOCAL && level != FLOE_DURABLE_REMOTE)
        return err_set(FLOE_EINVAL, "floe_flush: unknown durability level %d", (int)level);
    if (level == FLOE_DURABLE_REMOTE && !db->cold)
        return err_set(FLOE_EINVAL, "floe_flush: remote durability needs a cold tier; none is configured");

    pthread_mutex_lock(&db->write_mu);
    if (db->read_only) {
        pthread_mutex_unlock(&db->write_mu);
        return flush_refused(db);
    }
    int rc = flusher_seal_locked(db);
    pthread_mutex_lock(&db->state_mu);
    uint64_t target = db->seals_issued;
    pthread_mutex_unlock(&db->state_mu);
    pthread_mutex_unlock(&db->write_mu);
    if (rc < 0)
        return rc;

    pthread_mutex_lock(&db->state_mu);
    while (db->seals_written < target && !db->read_only)
        pthread_cond_wait(&db->state_cv, &db->state_mu);
    int ro = db->seals_written < target;
    pthread_mutex_unlock(&db->state_mu);
    if (ro)
        return flush_refused(db);
    if (level == FLOE_DURABLE_LOCAL)
        return 0;

    /* Remote: every segment up to the newest must be named by a published manifest. */
    pthread_mutex_lock(&db->manifest_mu);
    uint64_t target_id = db->man->count ? db->man->segments[db->man->count - 1].id : 0;
    pthread_mutex_unlock(&db->manifest_mu);
    return uploader_wait_published(db, target_id);
}

static void stats_segments(floe_t *db, floe_stats *s)
{
    pthread_mutex_lock(&db->manifest_mu);
    for (size_t i = 0; i < db->man->count; i++) {
        const manifest_segment *ms = &db->man->segments[i];
        switch (ms->state) {
        case SEG_LOCAL:
            s->segments_local++;
            break;
        case SEG_UPLOADING:
            s->segments_uploading++;
            break;
        case SEG_REMOTE:
            s->segments_remote++;
            break;
        case SEG_LOCAL_REMOTE:
            s->segments_local_remote++;
            break;
        }
        if (ms->state != SEG_REMOTE)
            s->local_segment_bytes += ms->size;
        if (ms->state == SEG_LOCAL || ms->state == SEG_UPLOADING)
            s->bytes_pending_upload += db->cold ? ms->size : 0;
    }
    s->manifest_version = db->man->remote_version;
    s->writer_epoch = db->man->writer_epoch;
    pthread_mutex_unlock(&db->manifest_mu);
}

static void stats_caches(floe_t *db, floe_stats *s)
{
    lru_stats ls;
    if (db->decoded_blocks) {
        lru_get_stats(db->decoded_blocks, &ls);
        s->decoded_cache_bytes = ls.bytes;
        s->decoded_cache_hits = ls.hits;
        s->decoded_cache_misses = ls.misses;
    }
    lru_get_stats(db->meta_cache, &ls);
    s->meta_cache_bytes = ls.bytes;
    s->meta_cache_segments = ls.entries;
    if (db->object_cache) {
        lru_get_stats(db->object_cache, &ls);
        s->object_cache_bytes = ls.bytes;
        s->object_cache_entries = ls.entries;
        s->object_cache_hits = ls.hits;
        s->object_cache_misses = ls.misses;
    }
    if (db->bcache) {
        blockcache_stats bs;
        blockcache_get_stats(db->bcache, &bs);
        s->block_cache_bytes = bs.bytes;
        s->block_cache_hits = bs.hits;
        s->block_cache_misses = bs.misses;
    }
}

/* The smallest floe_stats a program may pass: the layout of the first floe.h with struct_size. */
#define STATS_MIN_BYTES (offsetof(floe_stats, last_error) + sizeof(((floe_stats *)0)->last_error))

int floe_stats_get_sized(floe_t *db, floe_stats *out, size_t struct_size)
{
    if (!db || !out)
        return err_set(FLOE_EINVAL, "floe_stats_get: store handle and out are required");
    if (struct_size < STATS_MIN_BYTES)
        return err_set(FLOE_EINVAL, "floe_stats_get: a floe_stats of %zu bytes is smaller than any floe.h made",
                       struct_size);
    floe_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = struct_size < sizeof s ? struct_size : sizeof s;
    s.puts = atomic_load(&db->n_puts);
    s.deletes = atomic_load(&db->n_deletes);
    s.gets = atomic_load(&db->n_gets);
    s.get_hits_memory = atomic_load(&db->hits_memory);
    s.get_hits_local = atomic_load(&db->hits_local);
    s.get_hits_cold = atomic_load(&db->hits_cold);
    s.get_misses = atomic_load(&db->misses);

    wal_stats ws;
    wal_get_stats(db->wal, &ws);
    s.wal_syncs = ws.syncs;
    s.wal_bytes_written = ws.bytes_written;
    s.wal_files = ws.files;
    s.wal_synced_writes = ws.synced_writes;
    _Static_assert(sizeof s.wal_batch_hist == sizeof ws.batch_hist, "one bucket layout");
    memcpy(s.wal_batch_hist, ws.batch_hist, sizeof s.wal_batch_hist);

    pthread_mutex_lock(&db->write_mu);
    s.last_seq = db->last_seq;
    s.pending_bytes = memtable_bytes(db->mem);
    s.pending_entries = memtable_count(db->mem);
    pthread_mutex_unlock(&db->write_mu);

    stats_segments(db, &s);

    pthread_mutex_lock(&db->state_mu);
    s.sealed_unwritten_bytes = db->unwritten_bytes;
    s.seals = db->seals_issued;
    s.read_only = db->read_only;
    if (db->read_only)
        snprintf(s.last_error, sizeof s.last_error, "%s", db->read_only_msg);
    s.cold_healthy = !db->cold || !db->cold_unhealthy;
    if (db->cold && db->cold_unhealthy && !s.read_only)
        store_copy_cut(s.last_error, sizeof s.last_error, db->cold_msg);
    pthread_mutex_unlock(&db->state_mu);
    if (db->cold) {
        cold_get_counters(db->cold, s.cold_requests, s.cold_errors, s.cold_retries);
        s.uploads = atomic_load(&db->n_uploads);
        s.upload_bytes = atomic_load(&db->n_upload_bytes);
        s.gc_runs = atomic_load(&db->n_gc_runs);
        s.gc_objects_deleted = atomic_load(&db->n_gc_objects_deleted);
        s.gc_errors = atomic_load(&db->n_gc_errors);
    }
    stats_caches(db, &s);
    view *v = view_acquire(db);
    s.segments_per_read_max = v ? v->n_l0 + v->n_runs : 0;
    s.segments_level0 = v ? v->n_l0 : 0;
    s.levels = v ? v->n_runs : 0;
    s.compactions = atomic_load(&db->n_compactions);
    s.compaction_moves = atomic_load(&db->n_compaction_moves);
    s.compaction_bytes_read = atomic_load(&db->n_compact_bytes_read);
    s.compaction_bytes_written = atomic_load(&db->n_compact_bytes_written);
    s.compaction_errors = atomic_load(&db->n_compact_errors);
    s.compaction_expired = atomic_load(&db->n_compact_expired);
    s.compaction_drops = atomic_load(&db->n_compaction_drops);
    pthread_mutex_lock(&db->manifest_mu);
    s.compaction_queue_depth = compact_queue_depth(db);
    pthread_mutex_unlock(&db->manifest_mu);
    view_unref(v);
    memcpy(out, &s, s.struct_size);
    return 0;
}

const char *floe_cold_op_name(floe_cold_op op)
{
    static const char *names[FLOE_COLD_OP_COUNT] = {
        "put", "get", "head", "delete", "list", "mpu_create", "mpu_part", "mpu_complete", "mpu_abort",
    };
    return (unsigned)op < FLOE_COLD_OP_COUNT ? names[op] : "unknown";
}
