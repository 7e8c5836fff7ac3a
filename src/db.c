/* The store: ties the WAL, the pending segment, sealed segments, segment files, the manifest and the
 * object cache together behind the public API in floe.h.
 *
 * Invariants:
 *  1. Sequence numbers are assigned under write_mu in the same order records enter the WAL, so a
 *     WAL sync that covers seq S covers every seq below it.
 *  2. A read sees only versions with seq <= visible_seq, and visible_seq only passes a seq once its
 *     WAL record is durable per wal.sync: a reader never sees a write that a crash could lose.
 *  3. A sealed memtable stays readable (in the view) until its segment file is fsynced, renamed,
 *     opened and named by the saved manifest; only then is it dropped from the view and are the WAL
 *     files below its wal_next_file deleted.
 *  4. Segment files are written in seal order, so the manifest's segments are in id order and
 *     wal_first_file only grows.
 *  5. The object cache never holds a value older than the newest visible version of its key: writes
 *     invalidate after visible_seq passes them, and an insert is refused if an invalidation touched
 *     the key's shard since the reader started (lru_generation).
 *  6. Once a WAL write, fsync or segment write fails the store is read-only for good (sticky): it is
 *     never retried and reported as success.
 *
 * Lock order: write_mu, then manifest_mu, then state_mu. view_acquire takes state_mu alone.
 */
#include "db.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blockcache.h"
#include "cold.h"
#include "error.h"
#include "lru.h"
#include "manifest.h"
#include "memtable.h"
#include "remote.h"
#include "segment.h"
#include "wal.h"

#define OBJECT_CACHE_MAX_VALUE_BYTES (256u * 1024)
#define LIST_DEFAULT_LIMIT 1000
#define LIST_MAX_LIMIT 100000
/* Remote segments whose metadata may be open at once, whatever their size. */
#define META_MAX_OPEN 100000
/* How long floe_open waits for the cold tier to confirm this writer's epoch. */
#define CLAIM_WAIT_MS 5000

/* A segment the store reads from, shared by views: a local file (opened at once) or an object in
 * the cold tier (opened on first use, its index and bloom then kept in memory). */
typedef struct segref {
    atomic_int refs;
    uint64_t id;
    _Atomic(segment_t *) seg;
    char *path;       /* local file; NULL for a remote segment */
    char *object_key; /* remote: the cold object */
    uint64_t object_bytes;
    void *src_ctx; /* remote: the block cache source behind seg */
    /* Remote only: readers hold use_lock shared while they use seg; the metadata cache takes it
     * exclusively to open seg, or to close it when the cache is over budget. */
    pthread_rwlock_t use_lock;
    struct segref *meta_prev, *meta_next; /* metadata LRU (db->meta_mu), most recent first */
    int in_meta_lru;
    uint64_t meta_bytes;
    uint8_t *min_key, *max_key; /* remote: key range from the manifest, for pruning before open */
    uint32_t min_key_len, max_key_len;
    atomic_int_fast64_t last_read_ms; /* for evicting local files least recently read first */
    atomic_int obsolete;              /* 1: delete the local file when the last reference goes */
} segref;

/* A sealed memtable waiting for its segment file. */
typedef struct sealed {
    memtable_t *mem;
    uint64_t id;
    uint64_t wal_next_file; /* WAL files below this hold only this and older memtables */
    uint64_t bytes;
    uint64_t seal_no; /* 1-based count of seals */
} sealed;

/* What a reader sees: immutable once published, reference counted. */
typedef struct view {
    atomic_int refs;
    memtable_t *mem;
    size_t n_imm;
    memtable_t **imm; /* newest first */
    size_t n_segs;
    segref **segs; /* newest first */
} view;

struct floe {
    char *dir;
    char *wal_dir;
    char *seg_dir;
    floe_options opts;
    char *fs_path_copy;
    int lock_fd;

    wal_t *wal;
    lru_t *object_cache;
    lru_t *decoded_blocks; /* decompressed segment blocks, shared by every reader */

    /* write_mu: seq assignment, WAL append, memtable insert, seal. */
    pthread_mutex_t write_mu;
    uint64_t last_seq;
    memtable_t *mem;
    int64_t mem_first_write_ms;
    uint64_t next_segment_id;
    atomic_uint_fast64_t visible_seq;

    /* manifest_mu: the manifest and saving it. */
    pthread_mutex_t manifest_mu;
    manifest *man;

    /* state_mu: the view, the sealed queue, counters below, the condition variable. */
    pthread_mutex_t state_mu;
    pthread_cond_t state_cv;
    view *cur;
    sealed *queue; /* oldest first */
    size_t n_queue, cap_queue;
    _Atomic uint64_t unwritten_bytes; /* written under state_mu; read without it by writers */
    uint64_t seals_issued;
    uint64_t seals_written;
    int stopping;
    atomic_int read_only; /* written under state_mu, read anywhere */
    char read_only_msg[256];

    pthread_t flusher;
    int flusher_started;

    atomic_uint_fast64_t n_puts, n_deletes, n_gets, hits_memory, hits_local, hits_cold, misses;

    /* The cold tier (NULL without one). Lock order adds publish_mu between write_mu and
     * manifest_mu: write_mu, publish_mu, manifest_mu, state_mu. */
    cold_t *cold;
    blockcache *bcache;
    char *cold_strings[8];      /* copies of the s3 option strings */
    pthread_mutex_t publish_mu; /* one remote manifest publication at a time */
    int claimed;                /* the writer epoch is claimed in the bucket (publish_mu) */
    /* manifest_mu: segments uploaded but not yet named by a published manifest. */
    uint64_t *unpublished;
    size_t n_unpublished, cap_unpublished;
    /* state_mu: */
    _Atomic uint64_t bytes_pending_upload; /* in segment files but not yet named remotely */
    uint64_t published_through_id;         /* every segment up to this id is named remotely */
    int cold_unhealthy;
    char cold_msg[256];
    int fenced;
    pthread_t *uploaders;
    unsigned n_uploaders;
    /* The writer-epoch claim started by floe_open (state_mu for claim_done/claim_rc/claim_msg). */
    pthread_t claimer;
    int claimer_started, claim_done, claim_rc;
    char claim_msg[512];

    /* The metadata cache: remote segments whose footer, index and bloom are in memory, bounded
     * by cache.meta_bytes and META_MAX_OPEN. Each segref in it holds a reference. */
    pthread_mutex_t meta_mu;
    segref *meta_head, *meta_tail;
    uint64_t meta_bytes, meta_open;
    atomic_uint_fast64_t n_uploads, n_upload_bytes;
};

/* ------------------------------------------------------------------ small helpers -- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait on state_cv (which uses that
 * clock). */
static struct timespec deadline_after_ms(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

static void db_log(floe_t *db, int level, const char *fmt, ...) FLOE_PRINTF(3, 4);
static void db_log(floe_t *db, int level, const char *fmt, ...)
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

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return err_set(FLOE_EIO, "open directory %s: %s", dir, strerror(errno));
    int rc = 0;
    if (fsync(fd) != 0)
        rc = err_set(FLOE_EIO, "fsync directory %s: %s", dir, strerror(errno));
    close(fd);
    return rc;
}

static int mkdir_p(const char *dir)
{
    if (mkdir(dir, 0755) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        return err_set(FLOE_EIO, "%s exists and is not a directory", dir);
    }
    if (errno == ENOENT) {
        char *parent = strdup(dir);
        if (!parent)
            return FLOE_ENOMEM;
        char *slash = strrchr(parent, '/');
        int rc = 0;
        if (slash && slash != parent) {
            *slash = '\0';
            rc = mkdir_p(parent);
        }
        free(parent);
        if (rc == 0 && mkdir(dir, 0755) != 0 && errno != EEXIST)
            rc = err_set(FLOE_EIO, "create directory %s: %s", dir, strerror(errno));
        return rc;
    }
    return err_set(FLOE_EIO, "create directory %s: %s", dir, strerror(errno));
}

static int check_key(const void *key, size_t key_len)
{
    if (!key || key_len == 0)
        return err_set(FLOE_EKEY, "key is empty: keys are 1..%d bytes", FLOE_MAX_KEY_BYTES);
    if (key_len > FLOE_MAX_KEY_BYTES)
        return err_set(FLOE_EKEY, "key is %zu bytes: keys are at most %d bytes", key_len, FLOE_MAX_KEY_BYTES);
    return 0;
}

static int check_content_type(const char *ct, size_t *len_out)
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

/* Copies src into dst (cap bytes), cutting it if needed; always NUL-terminates. */
static void copy_cut(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void mark_read_only(floe_t *db, const char *what)
{
    pthread_mutex_lock(&db->state_mu);
    if (!db->read_only) {
        db->read_only = 1;
        copy_cut(db->read_only_msg, sizeof db->read_only_msg, what);
        pthread_mutex_unlock(&db->state_mu);
        db_log(db, 0, "store is now read-only: %s", what);
        pthread_mutex_lock(&db->state_mu);
    }
    pthread_cond_broadcast(&db->state_cv);
    pthread_mutex_unlock(&db->state_mu);
}

static int read_only_error(floe_t *db)
{
    char msg[256];
    pthread_mutex_lock(&db->state_mu);
    snprintf(msg, sizeof msg, "%s", db->read_only_msg);
    pthread_mutex_unlock(&db->state_mu);
    return err_set(FLOE_EREADONLY, "%s: store is read-only after: %s; restart it once the cause is fixed",
                   db->dir, msg);
}

/* ------------------------------------------------------------------ segrefs and views -- */

static void segref_unref(segref *r)
{
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    segment_close(atomic_load(&r->seg));
    if (r->src_ctx)
        blockcache_source_free(r->src_ctx);
    if (r->path && atomic_load(&r->obsolete))
        unlink(r->path);
    pthread_rwlock_destroy(&r->use_lock);
    free(r->path);
    free(r->object_key);
    free(r->min_key);
    free(r->max_key);
    free(r);
}

static void view_unref(view *v)
{
    if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
        return;
    memtable_unref(v->mem);
    for (size_t i = 0; i < v->n_imm; i++)
        memtable_unref(v->imm[i]);
    for (size_t i = 0; i < v->n_segs; i++)
        segref_unref(v->segs[i]);
    free(v->imm);
    free(v->segs);
    free(v);
}

/* Builds a view of db->mem, the sealed queue (newest first) and the given segments (newest first),
 * taking a reference on each. Called with state_mu held. */
static view *view_build(floe_t *db, memtable_t *mem, segref **segs, size_t n_segs)
{
    view *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    atomic_init(&v->refs, 1);
    v->imm = calloc(db->n_queue ? db->n_queue : 1, sizeof *v->imm);
    v->segs = calloc(n_segs ? n_segs : 1, sizeof *v->segs);
    if (!v->imm || !v->segs) {
        free(v->imm);
        free(v->segs);
        free(v);
        return NULL;
    }
    v->mem = mem;
    memtable_ref(mem);
    for (size_t i = 0; i < db->n_queue; i++) {
        v->imm[i] = db->queue[db->n_queue - 1 - i].mem;
        memtable_ref(v->imm[i]);
    }
    v->n_imm = db->n_queue;
    for (size_t i = 0; i < n_segs; i++) {
        v->segs[i] = segs[i];
        atomic_fetch_add(&segs[i]->refs, 1);
    }
    v->n_segs = n_segs;
    return v;
}

/* Replaces the current view. Called with state_mu held; v's references are taken over. */
static void view_install(floe_t *db, view *v)
{
    view *old = db->cur;
    db->cur = v;
    view_unref(old);
}

static view *view_acquire(floe_t *db)
{
    pthread_mutex_lock(&db->state_mu);
    view *v = db->cur;
    atomic_fetch_add(&v->refs, 1);
    pthread_mutex_unlock(&db->state_mu);
    return v;
}

/* ------------------------------------------------------------------ options -- */

void floe_options_init(floe_options *o)
{
    memset(o, 0, sizeof *o);
    o->max_object_bytes = 64ull << 20;
    o->wal.sync = FLOE_SYNC_ALWAYS;
    o->wal.interval_ms = 5;
    o->wal.file_bytes = 64ull << 20;
    o->segment.max_bytes = 64ull << 20;
    o->segment.max_age_s = 600;
    o->segment.block_bytes = 64u << 10;
    o->segment.compression = FLOE_COMPRESSION_NONE;
    o->segment.max_unwritten_bytes = 0; /* 0: 2 * max_bytes */
    o->cache.object_bytes = 256ull << 20;
    o->cache.block_bytes = 1ull << 30;
    o->cache.decoded_block_bytes = 64ull << 20;
    o->cache.meta_bytes = 128ull << 20;
    o->local.max_bytes = 10ull << 30;
    o->cold.backend = FLOE_COLD_NONE;
    o->cold.s3.region = "us-east-1";
    o->cold.s3.path_style = 1;
    o->cold.s3.timeout_ms = 30000;
    o->cold.s3.max_retries = 8;
    o->upload.concurrency = 4;
    o->upload.part_bytes = 16ull << 20;
    o->upload.max_pending_bytes = 4ull << 30;
    o->upload.wait_ms = 10000;
}

static int validate_options(const floe_options *o)
{
    if (o->max_object_bytes == 0 || o->max_object_bytes > FLOE_MAX_OBJECT_BYTES_LIMIT)
        return err_set(FLOE_EINVAL, "option max_object_bytes must be 1..%llu, got %" PRIu64,
                       (unsigned long long)FLOE_MAX_OBJECT_BYTES_LIMIT, o->max_object_bytes);
    if (o->wal.sync != FLOE_SYNC_ALWAYS && o->wal.sync != FLOE_SYNC_INTERVAL &&
        o->wal.sync != FLOE_SYNC_NEVER)
        return err_set(FLOE_EINVAL, "option wal.sync has an unknown value %d", (int)o->wal.sync);
    if (o->wal.sync == FLOE_SYNC_INTERVAL && (o->wal.interval_ms == 0 || o->wal.interval_ms > 60000))
        return err_set(FLOE_EINVAL, "option wal.interval_ms must be 1..60000, got %u", o->wal.interval_ms);
    if (o->wal.file_bytes < (64u << 10))
        return err_set(FLOE_EINVAL, "option wal.file_bytes must be at least 65536, got %" PRIu64,
                       o->wal.file_bytes);
    if (o->segment.max_bytes < 4096)
        return err_set(FLOE_EINVAL, "option segment.max_bytes must be at least 4096, got %" PRIu64,
                       o->segment.max_bytes);
    if (o->segment.block_bytes < 1024 || o->segment.block_bytes > (16u << 20))
        return err_set(FLOE_EINVAL, "option segment.block_bytes must be 1024..16777216, got %u",
                       o->segment.block_bytes);
    if (o->segment.compression != FLOE_COMPRESSION_ZSTD && o->segment.compression != FLOE_COMPRESSION_NONE)
        return err_set(FLOE_EINVAL, "option segment.compression has an unknown value %d",
                       (int)o->segment.compression);
    if (o->segment.max_age_s == 0)
        return err_set(FLOE_EINVAL, "option segment.max_age_s must be at least 1");
    if (o->cold.backend != FLOE_COLD_NONE && o->cold.backend != FLOE_COLD_FS &&
        o->cold.backend != FLOE_COLD_S3)
        return err_set(FLOE_EINVAL, "option cold.backend has an unknown value %d", (int)o->cold.backend);
    if (o->cold.backend == FLOE_COLD_FS && (!o->cold.fs_path || !o->cold.fs_path[0]))
        return err_set(FLOE_EINVAL, "option cold.fs_path is required for the fs cold tier");
    return 0;
}

/* ------------------------------------------------------------------ open: lock, manifest, segments -- */

static int lock_dir(floe_t *db)
{
    char *path = path_join(db->dir, "LOCK");
    if (!path)
        return FLOE_ENOMEM;
    int rc = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = err_set(FLOE_EIO, "open %s: %s", path, strerror(errno));
        goto out;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            rc = err_set(FLOE_ELOCKED, "%s: data directory is already open in another process (lock %s held)",
                         db->dir, path);
        else
            rc = err_set(FLOE_EIO, "lock %s: %s", path, strerror(e));
        goto out;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        /* The pid is informational; the flock is the lock. */
    }
    db->lock_fd = fd;
out:
    free(path);
    return rc;
}

static char *segment_path(floe_t *db, uint64_t id, const char *suffix)
{
    char name[64];
    snprintf(name, sizeof name, "%020" PRIu64 ".seg%s", id, suffix);
    return path_join(db->seg_dir, name);
}

static segref *segref_alloc(uint64_t id)
{
    segref *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 1);
    atomic_init(&r->seg, NULL);
    atomic_init(&r->last_read_ms, 0);
    pthread_rwlock_init(&r->use_lock, NULL);
    r->id = id;
    return r;
}

static int open_segref(floe_t *db, uint64_t id, segref **out)
{
    segref *r = segref_alloc(id);
    if (!r)
        return FLOE_ENOMEM;
    r->path = segment_path(db, id, "");
    if (!r->path) {
        segref_unref(r);
        return FLOE_ENOMEM;
    }
    segment_t *seg = NULL;
    int rc = segment_open_file_cached(r->path, db->decoded_blocks, &seg);
    if (rc < 0) {
        segref_unref(r);
        return rc;
    }
    atomic_store(&r->seg, seg);
    *out = r;
    return 0;
}

/* A segref for a segment that lives only in the cold tier; it is opened on first use. */
static int remote_segref(floe_t *db, const manifest_segment *ms, segref **out)
{
    if (!db->cold)
        return err_set(FLOE_EINVAL,
                       "segment %" PRIu64 " is only in the cold tier, and no cold tier is configured",
                       ms->id);
    if (!ms->object_key || !ms->object_key[0])
        return err_set(FLOE_ECORRUPT, "manifest: remote segment %" PRIu64 " has no object key", ms->id);
    segref *r = segref_alloc(ms->id);
    if (!r)
        return FLOE_ENOMEM;
    r->object_key = strdup(ms->object_key);
    r->object_bytes = ms->size;
    r->min_key = malloc(ms->min_key_len + 1);
    r->max_key = malloc(ms->max_key_len + 1);
    if (!r->object_key || !r->min_key || !r->max_key) {
        segref_unref(r);
        return FLOE_ENOMEM;
    }
    memcpy(r->min_key, ms->min_key, ms->min_key_len);
    memcpy(r->max_key, ms->max_key, ms->max_key_len);
    r->min_key_len = ms->min_key_len;
    r->max_key_len = ms->max_key_len;
    *out = r;
    return 0;
}

static void meta_unlink(floe_t *db, segref *r)
{
    if (r->meta_prev)
        r->meta_prev->meta_next = r->meta_next;
    else
        db->meta_head = r->meta_next;
    if (r->meta_next)
        r->meta_next->meta_prev = r->meta_prev;
    else
        db->meta_tail = r->meta_prev;
    r->meta_prev = r->meta_next = NULL;
}

static void meta_push_front(floe_t *db, segref *r)
{
    r->meta_next = db->meta_head;
    r->meta_prev = NULL;
    if (db->meta_head)
        db->meta_head->meta_prev = r;
    db->meta_head = r;
    if (!db->meta_tail)
        db->meta_tail = r;
}

/* Closes least recently used remote readers until the metadata cache is within budget. A reader
 * in use is skipped (its lock is only tried), so this never waits. keep is not closed. */
static void meta_trim(floe_t *db, segref *keep)
{
    pthread_mutex_lock(&db->meta_mu);
    segref *r = db->meta_tail;
    while (r && (db->meta_bytes > db->opts.cache.meta_bytes || db->meta_open > META_MAX_OPEN)) {
        segref *prev = r->meta_prev;
        if (r != keep && pthread_rwlock_trywrlock(&r->use_lock) == 0) {
            meta_unlink(db, r);
            r->in_meta_lru = 0;
            db->meta_bytes -= r->meta_bytes;
            db->meta_open--;
            segment_close(atomic_load(&r->seg));
            atomic_store(&r->seg, NULL);
            blockcache_source_free(r->src_ctx);
            r->src_ctx = NULL;
            pthread_rwlock_unlock(&r->use_lock);
            /* Drop the cache's reference here: once meta_mu is released another reader may reopen
             * r and put it back. segref_unref takes no lock of the store's. */
            segref_unref(r);
        }
        r = prev;
    }
    pthread_mutex_unlock(&db->meta_mu);
}

/* The reader of r. For a remote segment it is opened on first use (footer, index and bloom through
 * the block cache) and kept in the metadata cache; the caller then holds it shared until
 * segref_release. */
static int segref_reader(floe_t *db, segref *r, segment_t **out)
{
    if (r->path) {
        *out = atomic_load(&r->seg);
        return 0;
    }
    int rc = 0, opened = 0;
    segment_t *seg = NULL;
    pthread_rwlock_rdlock(&r->use_lock);
    while (!(seg = atomic_load(&r->seg))) {
        pthread_rwlock_unlock(&r->use_lock);
        pthread_rwlock_wrlock(&r->use_lock);
        if (!atomic_load(&r->seg)) {
            segment_source src;
            void *ctx = NULL;
            rc = blockcache_source(db->bcache, db->cold, r->object_key, r->object_bytes, &src, &ctx);
            if (rc == 0) {
                src.block_cache = db->decoded_blocks;
                rc = segment_open(&src, &seg);
                if (rc < 0) {
                    blockcache_source_free(ctx);
                    err_wrap(rc, "cold segment %" PRIu64, r->id);
                } else {
                    r->src_ctx = ctx;
                    r->meta_bytes = segment_memory_bytes(seg);
                    atomic_store(&r->seg, seg);
                    opened = 1;
                }
            }
        }
        pthread_rwlock_unlock(&r->use_lock);
        if (rc < 0)
            return rc;
        pthread_rwlock_rdlock(&r->use_lock);
    }
    pthread_mutex_lock(&db->meta_mu);
    if (opened && !r->in_meta_lru) {
        atomic_fetch_add(&r->refs, 1);
        r->in_meta_lru = 1;
        db->meta_bytes += r->meta_bytes;
        db->meta_open++;
        meta_push_front(db, r);
    } else if (r->in_meta_lru && db->meta_head != r) {
        meta_unlink(db, r);
        meta_push_front(db, r);
    }
    int over = db->meta_bytes > db->opts.cache.meta_bytes || db->meta_open > META_MAX_OPEN;
    pthread_mutex_unlock(&db->meta_mu);
    if (over)
        meta_trim(db, r);
    *out = seg;
    return 0;
}

/* Ends a use begun by a successful segref_reader. */
static void segref_release(segref *r)
{
    if (!r->path)
        pthread_rwlock_unlock(&r->use_lock);
}

/* 1 if key may be in r: for a local file its key range and bloom; for a remote segment only the key
 * range from the manifest (its reader may be closed by the metadata cache at any time, so the
 * bloom is checked once the reader is held). */
static int segref_may_contain(segref *r, const void *key, size_t key_len)
{
    if (r->path)
        return segment_may_contain(atomic_load(&r->seg), key, key_len);
    return key_cmp(key, key_len, r->min_key, r->min_key_len) >= 0 &&
           key_cmp(key, key_len, r->max_key, r->max_key_len) <= 0;
}

/* Removes leftovers of a crash: temp segment files and segment files the manifest does not name
 * (written but the manifest save did not happen, so their data is still in the WAL). */
static int clean_segment_dir(floe_t *db)
{
    DIR *d = opendir(db->seg_dir);
    if (!d)
        return err_set(FLOE_EIO, "open directory %s: %s", db->seg_dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        uint64_t id = 0;
        int consumed = 0;
        int named = 0;
        if (sscanf(de->d_name, "%20" SCNu64 ".seg%n", &id, &consumed) == 1 && de->d_name[consumed] == '\0') {
            const manifest_segment *ms = manifest_find(db->man, id);
            /* A file of a segment the manifest says is only remote was being evicted. */
            named = ms != NULL && ms->state != SEG_REMOTE;
        }
        if (named)
            continue;
        char *p = path_join(db->seg_dir, de->d_name);
        if (p) {
            db_log(db, 1, "removing %s: not named by the manifest (left by a crash)", p);
            unlink(p);
            free(p);
        }
    }
    closedir(d);
    return 0;
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
        return 0; /* already in a segment named by the manifest */
    entry e = {
        .key = rec->key,
        .key_len = rec->key_len,
        .value = rec->value,
        .value_len = rec->value_len,
        .content_type = rec->content_type_len ? rec->content_type : NULL,
        .content_type_len = rec->content_type_len,
        .seq = rec->seq,
        .type = rec->type == WAL_REC_DELETE ? ENTRY_DELETE : ENTRY_PUT,
    };
    int err = memtable_add(db->mem, &e);
    if (err < 0)
        return err;
    if (memtable_count(db->mem) == 1)
        db->mem_first_write_ms = now_ms();
    if (rec->seq > db->last_seq)
        db->last_seq = rec->seq;
    rc->replayed++;
    return 0;
}

static void *flusher_main(void *arg);
static void *uploader_main(void *arg);
static int seal_locked(floe_t *db);
static int ensure_claimed(floe_t *db);
static int claim_at_open(floe_t *db);
static void cold_trouble(floe_t *db, const char *what, const char *why);
static void recompute_upload_state(floe_t *db);
static void close_after_failed_open(floe_t *db, int rc);

int floe_open(const char *dir, const floe_options *opts_in, floe_t **out)
{
    return db_open_with_cold(dir, opts_in, NULL, out);
}

int db_open_with_cold(const char *dir, const floe_options *opts_in, cold_t *given_cold, floe_t **out)
{
    floe_options defaults;
    if (!opts_in) {
        floe_options_init(&defaults);
        opts_in = &defaults;
    }
    if (!dir || !dir[0] || !out) {
        cold_close(given_cold);
        return err_set(FLOE_EINVAL, "floe_open: a data directory and an out pointer are required");
    }
    floe_options checked = *opts_in;
    if (given_cold)
        checked.cold.backend = FLOE_COLD_NONE; /* the caller's store replaces the configured one */
    int rc = validate_options(&checked);
    if (rc < 0) {
        cold_close(given_cold);
        return rc;
    }

    floe_t *db = calloc(1, sizeof *db);
    if (!db) {
        cold_close(given_cold);
        return err_set(FLOE_ENOMEM, "floe_open: out of memory");
    }
    db->lock_fd = -1;
    db->opts = checked;
    if (db->opts.segment.max_unwritten_bytes == 0)
        db->opts.segment.max_unwritten_bytes = 2 * db->opts.segment.max_bytes;
    pthread_mutex_init(&db->write_mu, NULL);
    pthread_mutex_init(&db->manifest_mu, NULL);
    pthread_mutex_init(&db->state_mu, NULL);
    pthread_mutex_init(&db->publish_mu, NULL);
    pthread_mutex_init(&db->meta_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&db->state_cv, &ca);
    pthread_condattr_destroy(&ca);

    db->dir = strdup(dir);
    db->wal_dir = path_join(dir, "wal");
    db->seg_dir = path_join(dir, "segments");
    if (!db->dir || !db->wal_dir || !db->seg_dir) {
        rc = err_set(FLOE_ENOMEM, "floe_open: out of memory");
        goto fail;
    }
    /* Strings in the options are borrowed from the caller; the store does not keep them beyond
     * open except these, which it copies. */
    if (db->opts.cold.fs_path) {
        db->fs_path_copy = strdup(db->opts.cold.fs_path);
        db->opts.cold.fs_path = db->fs_path_copy;
    }
    const char **s3_strings[] = {&db->opts.cold.s3.endpoint,  &db->opts.cold.s3.bucket,
                                 &db->opts.cold.s3.prefix,    &db->opts.cold.s3.region,
                                 &db->opts.cold.s3.ca_file,   &db->opts.cold.s3.access_key,
                                 &db->opts.cold.s3.secret_key};
    for (size_t i = 0; i < sizeof s3_strings / sizeof s3_strings[0]; i++) {
        if (*s3_strings[i]) {
            db->cold_strings[i] = strdup(*s3_strings[i]);
            if (!db->cold_strings[i]) {
                rc = err_set(FLOE_ENOMEM, "floe_open: out of memory");
                goto fail;
            }
            *s3_strings[i] = db->cold_strings[i];
        }
    }
    if (given_cold) {
        db->cold = given_cold;
        given_cold = NULL;
    } else if (db->opts.cold.backend == FLOE_COLD_FS) {
        /* The default puts the fs cold tier inside the data directory: make the whole path. */
        if ((rc = mkdir_p(db->opts.cold.fs_path)) < 0 ||
            (rc = cold_open_fs(db->opts.cold.fs_path, &db->cold)) < 0)
            goto fail;
    } else if (db->opts.cold.backend == FLOE_COLD_S3) {
        s3_config sc = {
            .endpoint = db->opts.cold.s3.endpoint,
            .bucket = db->opts.cold.s3.bucket,
            .prefix = db->opts.cold.s3.prefix,
            .region = db->opts.cold.s3.region,
            .path_style = db->opts.cold.s3.path_style,
            .ca_file = db->opts.cold.s3.ca_file,
            .access_key = db->opts.cold.s3.access_key,
            .secret_key = db->opts.cold.s3.secret_key,
            .timeout_ms = db->opts.cold.s3.timeout_ms,
            .max_retries = db->opts.cold.s3.max_retries,
        };
        if ((rc = cold_open_s3(&sc, &db->cold)) < 0) {
            err_wrap(rc, "floe_open: cold tier");
            goto fail;
        }
    }

    if ((rc = mkdir_p(dir)) < 0 || (rc = lock_dir(db)) < 0 || (rc = mkdir_p(db->seg_dir)) < 0)
        goto fail;
    if (db->cold) {
        char *cache_dir = path_join(dir, "cache");
        rc = cache_dir ? blockcache_open(cache_dir, db->opts.cache.block_bytes, &db->bcache) : FLOE_ENOMEM;
        free(cache_dir);
        if (rc < 0)
            goto fail;
    }
    if (db->opts.cache.object_bytes &&
        (rc = lru_create(db->opts.cache.object_bytes, 16, &db->object_cache)) < 0)
        goto fail;
    if (db->opts.cache.decoded_block_bytes &&
        (rc = lru_create(db->opts.cache.decoded_block_bytes, 16, &db->decoded_blocks)) < 0)
        goto fail;

    rc = manifest_load(dir, &db->man);
    if (rc == FLOE_ENOTFOUND) {
        if ((rc = manifest_create(&db->man)) < 0)
            goto fail;
        db->man->writer_epoch = 1;
    } else if (rc < 0) {
        rc = err_wrap(rc, "floe_open %s", dir);
        goto fail;
    }
    db->next_segment_id = db->man->next_segment_id ? db->man->next_segment_id : 1;
    db->last_seq = db->man->last_seq;
    if ((rc = clean_segment_dir(db)) < 0)
        goto fail;

    segref **segs = calloc(db->man->count ? db->man->count : 1, sizeof *segs);
    size_t n_segs = 0;
    if (!segs) {
        rc = FLOE_ENOMEM;
        goto fail;
    }
    for (size_t i = db->man->count; i-- > 0;) {
        manifest_segment *ms = &db->man->segments[i];
        if (ms->state == SEG_UPLOADING)
            ms->state = SEG_LOCAL; /* the upload did not finish: start it again */
        segref *r = NULL;
        if (ms->state == SEG_REMOTE)
            rc = remote_segref(db, ms, &r);
        else
            rc = open_segref(db, ms->id, &r);
        if (rc < 0) {
            err_wrap(rc, "floe_open %s: segment %" PRIu64 " named by the manifest", dir, ms->id);
            for (size_t j = 0; j < n_segs; j++)
                segref_unref(segs[j]);
            free(segs);
            goto fail;
        }
        segs[n_segs++] = r;
    }

    if ((rc = memtable_create(&db->mem)) < 0)
        goto fail_segs;
    wal_options wo = {
        .sync = db->opts.wal.sync,
        .interval_ms = db->opts.wal.interval_ms,
        .file_bytes = db->opts.wal.file_bytes,
        .max_record_bytes =
            (uint32_t)(db->opts.max_object_bytes + FLOE_MAX_KEY_BYTES + FLOE_MAX_CONTENT_TYPE_BYTES + 64),
    };
    replay_ctx rctx = {.db = db, .skip_through_seq = db->man->last_seq};
    rc = wal_open(db->wal_dir, &wo, replay_record, &rctx, &db->wal);
    if (rc < 0) {
        err_wrap(rc, "floe_open %s", dir);
        goto fail_segs;
    }
    {
        wal_stats ws;
        wal_get_stats(db->wal, &ws);
        if (ws.tail_bytes_truncated)
            db_log(db, 1, "%s: %s (an unacknowledged write cut short by a crash)", dir, floe_last_error());
    }
    if (rctx.replayed)
        db_log(db, 2, "%s: replayed %" PRIu64 " WAL records into the pending segment", dir, rctx.replayed);
    atomic_store(&db->visible_seq, db->last_seq);

    db->cur = view_build(db, db->mem, segs, n_segs);
    for (size_t j = 0; j < n_segs; j++)
        segref_unref(segs[j]); /* the view holds them now */
    free(segs);
    segs = NULL;
    if (!db->cur) {
        rc = err_set(FLOE_ENOMEM, "floe_open: out of memory");
        goto fail;
    }

    if (pthread_create(&db->flusher, NULL, flusher_main, db) != 0) {
        rc = err_set(FLOE_EIO, "floe_open: cannot start the segment writer thread");
        goto fail;
    }
    db->flusher_started = 1;

    if (db->cold) {
        rc = claim_at_open(db);
        if (rc == FLOE_EFENCED) {
            err_wrap(rc, "floe_open %s", dir);
            goto fail;
        }
        rc = 0; /* a cold tier that is down or slow does not stop the store from opening */
        pthread_mutex_lock(&db->manifest_mu);
        recompute_upload_state(db);
        pthread_mutex_unlock(&db->manifest_mu);
        unsigned n = db->opts.upload.concurrency ? db->opts.upload.concurrency : 1;
        db->uploaders = calloc(n, sizeof *db->uploaders);
        if (!db->uploaders) {
            rc = err_set(FLOE_ENOMEM, "floe_open: out of memory");
            goto fail;
        }
        for (; db->n_uploaders < n; db->n_uploaders++) {
            if (pthread_create(&db->uploaders[db->n_uploaders], NULL, uploader_main, db) != 0) {
                rc = err_set(FLOE_EIO, "floe_open: cannot start uploader thread %u", db->n_uploaders);
                goto fail;
            }
        }
    }

    /* A large replay seals at once so memory returns to its budget. */
    if (memtable_bytes(db->mem) >= db->opts.segment.max_bytes) {
        pthread_mutex_lock(&db->write_mu);
        seal_locked(db);
        pthread_mutex_unlock(&db->write_mu);
    }
    *out = db;
    return 0;

fail_segs:
    if (segs) {
        for (size_t j = 0; j < n_segs; j++)
            segref_unref(segs[j]);
        free(segs);
    }
fail:
    cold_close(given_cold);
    close_after_failed_open(db, rc);
    return rc;
}

/* Frees a half-opened store, keeping the calling thread's error message for the caller. */
static void close_after_failed_open(floe_t *db, int rc)
{
    char saved[1024];
    copy_cut(saved, sizeof saved, floe_last_error());
    floe_close(db);
    err_set(rc, "%s", saved);
}

/* ------------------------------------------------------------------ write path -- */

/* Waits while sealed-but-unwritten data is over its bound. Returns 0, or an error if the store is
 * read-only or closing. */
static int over_upload_cap(floe_t *db)
{
    return db->cold && atomic_load(&db->bytes_pending_upload) + atomic_load(&db->unwritten_bytes) >
                           db->opts.upload.max_pending_bytes;
}

/* Backpressure before a write. Waits while sealed-but-unwritten data is over its bound (segment
 * files are written in the background, so this clears on its own). With a cold tier, waits up to
 * upload.wait_ms while sealed-but-not-uploaded data is over upload.max_pending_bytes, then fails
 * with FLOE_EBEHIND: the disk is never filled silently. */
static int wait_for_room(floe_t *db)
{
    if (atomic_load_explicit(&db->unwritten_bytes, memory_order_relaxed) <=
            db->opts.segment.max_unwritten_bytes &&
        !over_upload_cap(db))
        return 0;
    int rc = 0;
    struct timespec deadline = deadline_after_ms(db->opts.upload.wait_ms);
    pthread_mutex_lock(&db->state_mu);
    while (db->unwritten_bytes > db->opts.segment.max_unwritten_bytes && !db->read_only && !db->stopping)
        pthread_cond_wait(&db->state_cv, &db->state_mu);
    int timed_out = 0;
    while (over_upload_cap(db) && !db->read_only && !db->stopping && !timed_out)
        timed_out = pthread_cond_timedwait(&db->state_cv, &db->state_mu, &deadline) != 0;
    int ro = db->read_only;
    int stopping = db->stopping;
    int behind = !ro && !stopping && over_upload_cap(db);
    uint64_t pending = db->bytes_pending_upload + db->unwritten_bytes;
    char cold_msg[256];
    copy_cut(cold_msg, sizeof cold_msg, db->cold_unhealthy ? db->cold_msg : "none");
    pthread_mutex_unlock(&db->state_mu);
    if (ro)
        rc = read_only_error(db);
    else if (stopping)
        rc = err_set(FLOE_ECLOSED, "%s: store is closing", db->dir);
    else if (behind)
        rc = err_set(FLOE_EBEHIND,
                     "cold tier behind: %" PRIu64
                     " bytes sealed but not uploaded (upload.max_pending_bytes is %" PRIu64
                     "); waited %u ms; last cold-tier error: %s; retry later",
                     pending, db->opts.upload.max_pending_bytes, db->opts.upload.wait_ms, cold_msg);
    return rc;
}

/* Freezes the pending segment and queues it for the segment writer; a new pending segment takes
 * writes at once. Called with write_mu held. */
static int seal_locked(floe_t *db)
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
        mark_read_only(db, floe_last_error());
        return rc;
    }
    /* wal_rotate made every record so far durable per the sync mode. */
    atomic_store(&db->visible_seq, db->last_seq);

    pthread_mutex_lock(&db->state_mu);
    if (db->n_queue == db->cap_queue) {
        size_t cap = db->cap_queue ? db->cap_queue * 2 : 8;
        sealed *q = realloc(db->queue, cap * sizeof *q);
        if (!q) {
            pthread_mutex_unlock(&db->state_mu);
            memtable_unref(fresh);
            return err_set(FLOE_ENOMEM, "seal: out of memory");
        }
        db->queue = q;
        db->cap_queue = cap;
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
        mark_read_only(db, "out of memory while sealing");
        return err_set(FLOE_ENOMEM, "seal: out of memory");
    }
    return 0;
}

static void advance_visible(floe_t *db, uint64_t seq)
{
    uint_fast64_t cur = atomic_load(&db->visible_seq);
    while (cur < seq && !atomic_compare_exchange_weak(&db->visible_seq, &cur, seq)) {
    }
}

static int write_record(floe_t *db, uint8_t type, const void *key, size_t key_len, const void *value,
                        size_t value_len, const char *ct, size_t ct_len, uint64_t *seq_out)
{
    int rc = wait_for_room(db);
    if (rc < 0)
        return rc;
    uint64_t lsn = 0;
    uint64_t seq;
    pthread_mutex_lock(&db->write_mu);
    if (db->read_only) {
        pthread_mutex_unlock(&db->write_mu);
        return read_only_error(db);
    }
    seq = db->last_seq + 1;
    wal_record rec = {
        .type = type,
        .seq = seq,
        .key = key,
        .key_len = (uint32_t)key_len,
        .value = value,
        .value_len = (uint32_t)value_len,
        .content_type = ct,
        .content_type_len = (uint32_t)ct_len,
    };
    rc = wal_append(db->wal, &rec, &lsn);
    if (rc < 0) {
        pthread_mutex_unlock(&db->write_mu);
        if (rc == FLOE_EREADONLY || rc == FLOE_EIO)
            mark_read_only(db, floe_last_error());
        return rc;
    }
    entry e = {
        .key = key,
        .key_len = (uint32_t)key_len,
        .value = value,
        .value_len = (uint32_t)value_len,
        .content_type = ct_len ? ct : NULL,
        .content_type_len = (uint32_t)ct_len,
        .seq = seq,
        .type = type == WAL_REC_DELETE ? ENTRY_DELETE : ENTRY_PUT,
    };
    rc = memtable_add(db->mem, &e);
    if (rc < 0) {
        /* The record is in the WAL but not readable: stop, so a restart replays it. */
        pthread_mutex_unlock(&db->write_mu);
        mark_read_only(db, "out of memory adding to the pending segment");
        return rc;
    }
    db->last_seq = seq;
    if (db->mem_first_write_ms == 0)
        db->mem_first_write_ms = now_ms();
    if (memtable_bytes(db->mem) >= db->opts.segment.max_bytes)
        seal_locked(db); /* errors are sticky and reported by the next write */
    pthread_mutex_unlock(&db->write_mu);

    rc = wal_sync(db->wal, lsn);
    if (rc < 0) {
        mark_read_only(db, floe_last_error());
        return rc;
    }
    advance_visible(db, seq);
    if (db->object_cache)
        lru_invalidate(db->object_cache, key, key_len);
    if (seq_out)
        *seq_out = seq;
    return 0;
}

int floe_put(floe_t *db, const void *key, size_t key_len, const void *value, size_t value_len,
             const char *content_type, uint64_t *seq_out)
{
    int rc;
    size_t ct_len = 0;
    if (!db)
        return err_set(FLOE_EINVAL, "floe_put: store handle is NULL");
    if ((rc = check_key(key, key_len)) < 0)
        return rc;
    if (value_len > db->opts.max_object_bytes)
        return err_set(FLOE_ETOOBIG,
                       "value for key of %zu bytes is %zu bytes: the limit (max_object_bytes) is %" PRIu64,
                       key_len, value_len, db->opts.max_object_bytes);
    if (!value && value_len)
        return err_set(FLOE_EINVAL, "floe_put: value is NULL with length %zu", value_len);
    if ((rc = check_content_type(content_type, &ct_len)) < 0)
        return rc;
    rc = write_record(db, WAL_REC_PUT, key, key_len, value ? value : "", value_len, content_type, ct_len,
                      seq_out);
    if (rc == 0)
        atomic_fetch_add_explicit(&db->n_puts, 1, memory_order_relaxed);
    return rc;
}

int floe_delete(floe_t *db, const void *key, size_t key_len, uint64_t *seq_out)
{
    int rc;
    if (!db)
        return err_set(FLOE_EINVAL, "floe_delete: store handle is NULL");
    if ((rc = check_key(key, key_len)) < 0)
        return rc;
    rc = write_record(db, WAL_REC_DELETE, key, key_len, "", 0, NULL, 0, seq_out);
    if (rc == 0)
        atomic_fetch_add_explicit(&db->n_deletes, 1, memory_order_relaxed);
    return rc;
}

/* ------------------------------------------------------------------ read path -- */

/* What the object cache holds for a key. */
typedef struct cached_value {
    uint64_t seq;
    size_t len;
    char *content_type;
    uint8_t data[];
} cached_value;

static void cached_value_free(void *p)
{
    cached_value *cv = p;
    free(cv->content_type);
    free(cv);
}

static int value_fill(floe_value *out, const void *data, size_t len, const char *ct, size_t ct_len,
                      uint64_t seq, floe_tier tier)
{
    char *buf = malloc(len + 1);
    char *ctc = NULL;
    if (!buf)
        return err_set(FLOE_ENOMEM, "get: out of memory for a %zu-byte value", len);
    if (ct && ct_len) {
        ctc = malloc(ct_len + 1);
        if (!ctc) {
            free(buf);
            return err_set(FLOE_ENOMEM, "get: out of memory");
        }
        memcpy(ctc, ct, ct_len);
        ctc[ct_len] = '\0';
    }
    if (len)
        memcpy(buf, data, len);
    buf[len] = '\0';
    out->data = buf;
    out->len = len;
    out->content_type = ctc;
    out->seq = seq;
    out->tier = tier;
    return 0;
}

static void count_hit(floe_t *db, floe_tier tier)
{
    atomic_uint_fast64_t *c = tier == FLOE_TIER_MEMORY  ? &db->hits_memory
                              : tier == FLOE_TIER_LOCAL ? &db->hits_local
                                                        : &db->hits_cold;
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

int floe_get(floe_t *db, const void *key, size_t key_len, floe_value *out)
{
    int rc;
    if (!db || !out)
        return err_set(FLOE_EINVAL, "floe_get: store handle and out are required");
    if ((rc = check_key(key, key_len)) < 0)
        return rc;
    atomic_fetch_add_explicit(&db->n_gets, 1, memory_order_relaxed);

    uint64_t gen = UINT64_MAX;
    if (db->object_cache) {
        lru_handle *h = lru_get(db->object_cache, key, key_len);
        if (h) {
            cached_value *cv = lru_value(h);
            rc = value_fill(out, cv->data, cv->len, cv->content_type,
                            cv->content_type ? strlen(cv->content_type) : 0, cv->seq, FLOE_TIER_MEMORY);
            lru_release(db->object_cache, h);
            if (rc == 0)
                count_hit(db, FLOE_TIER_MEMORY);
            return rc;
        }
        gen = lru_generation(db->object_cache, key, key_len);
    }

    uint64_t vis = atomic_load(&db->visible_seq);
    view *v = view_acquire(db);
    entry me;
    int found = memtable_get(v->mem, key, key_len, vis, &me);
    for (size_t i = 0; !found && i < v->n_imm; i++)
        found = memtable_get(v->imm[i], key, key_len, vis, &me);
    if (found) {
        if (me.type == ENTRY_DELETE) {
            rc = err_set(FLOE_ENOTFOUND, "key not found (deleted)");
        } else {
            rc = value_fill(out, me.value, me.value_len, me.content_type, me.content_type_len, me.seq,
                            FLOE_TIER_MEMORY);
            if (rc == 0)
                count_hit(db, FLOE_TIER_MEMORY);
        }
        goto out;
    }
    for (size_t i = 0; i < v->n_segs; i++) {
        segref *r = v->segs[i];
        if (!segref_may_contain(r, key, key_len))
            continue;
        segment_t *seg = NULL;
        if ((rc = segref_reader(db, r, &seg)) < 0)
            goto out;
        segment_hit hit = {0};
        int got =
            r->path || segment_may_contain(seg, key, key_len) ? segment_get(seg, key, key_len, &hit) : 0;
        segref_release(r);
        if (got < 0) {
            rc = got;
            goto out;
        }
        if (got == 0)
            continue;
        if (hit.type == ENTRY_DELETE) {
            rc = err_set(FLOE_ENOTFOUND, "key not found (deleted)");
            segment_hit_clear(&hit);
            goto out;
        }
        if (db->object_cache && hit.value_len <= OBJECT_CACHE_MAX_VALUE_BYTES) {
            cached_value *cv = malloc(sizeof *cv + hit.value_len);
            if (cv) {
                cv->seq = hit.seq;
                cv->len = hit.value_len;
                cv->content_type = hit.content_type ? strdup(hit.content_type) : NULL;
                memcpy(cv->data, hit.value, hit.value_len);
                lru_insert(db->object_cache, key, key_len, cv, sizeof *cv + hit.value_len + key_len + 64,
                           cached_value_free, gen);
            }
        }
        /* Hand the segment's buffers over instead of copying them again. */
        out->data = hit.value;
        out->len = hit.value_len;
        out->content_type = hit.content_type;
        out->seq = hit.seq;
        out->tier = r->path ? FLOE_TIER_LOCAL : FLOE_TIER_COLD;
        atomic_store_explicit(&r->last_read_ms, now_ms(), memory_order_relaxed);
        if (!out->data) {
            out->data = malloc(1);
            if (!out->data) {
                free(hit.content_type);
                rc = err_set(FLOE_ENOMEM, "get: out of memory");
                goto out;
            }
        }
        count_hit(db, out->tier);
        rc = 0;
        goto out;
    }
    rc = err_set(FLOE_ENOTFOUND, "key not found");
out:
    if (rc == FLOE_ENOTFOUND)
        atomic_fetch_add_explicit(&db->misses, 1, memory_order_relaxed);
    view_unref(v);
    return rc;
}

void floe_value_free(floe_value *v)
{
    if (!v)
        return;
    free(v->data);
    free(v->content_type);
    memset(v, 0, sizeof *v);
}

const char *floe_tier_name(floe_tier tier)
{
    switch (tier) {
    case FLOE_TIER_MEMORY:
        return "memory";
    case FLOE_TIER_LOCAL:
        return "local";
    case FLOE_TIER_COLD:
        return "cold";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ list -- */

/* One ordered source in a list merge: a memtable (many versions per key) or a segment. */
typedef struct list_src {
    memtable_iter *mit;
    segment_iter *sit;
    segref *held; /* released at the end of the listing */
    uint64_t vis;
    int valid;
    const uint8_t *key;
    uint32_t key_len;
    uint64_t value_len;
    uint64_t seq;
    int is_delete;
} list_src;

/* Loads the source's current entry, skipping memtable versions newer than the read's view. */
static void list_src_load(list_src *s)
{
    if (s->mit) {
        while (memtable_iter_valid(s->mit)) {
            entry e;
            memtable_iter_entry(s->mit, &e);
            if (e.seq <= s->vis) {
                s->valid = 1;
                s->key = e.key;
                s->key_len = e.key_len;
                s->value_len = e.value_len;
                s->seq = e.seq;
                s->is_delete = e.type == ENTRY_DELETE;
                return;
            }
            memtable_iter_next(s->mit);
        }
        s->valid = 0;
        return;
    }
    s->valid = segment_iter_valid(s->sit);
    if (s->valid) {
        entry e;
        segment_iter_entry(s->sit, &e);
        s->key = e.key;
        s->key_len = e.key_len;
        s->value_len = e.value_len;
        s->seq = e.seq;
        s->is_delete = e.type == ENTRY_DELETE;
    }
}

/* Moves the source past every version of key. */
static int list_src_skip(list_src *s, const uint8_t *key, uint32_t key_len)
{
    while (s->valid && key_cmp(s->key, s->key_len, key, key_len) == 0) {
        if (s->mit) {
            memtable_iter_next(s->mit);
        } else {
            int rc = segment_iter_next(s->sit);
            if (rc < 0)
                return rc;
        }
        list_src_load(s);
    }
    return 0;
}

void floe_list_free(floe_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        free(list->entries[i].key);
    free(list->entries);
    free(list);
}

int floe_list_keys(floe_t *db, const void *prefix, size_t prefix_len, const void *start_after,
                   size_t start_after_len, size_t limit, floe_list **out)
{
    if (!db || !out || (prefix_len && !prefix) || (start_after_len && !start_after))
        return err_set(FLOE_EINVAL, "floe_list_keys: bad arguments");
    if (prefix_len > FLOE_MAX_KEY_BYTES || start_after_len > FLOE_MAX_KEY_BYTES)
        return err_set(FLOE_EKEY, "list: prefix or start_after longer than %d bytes", FLOE_MAX_KEY_BYTES);
    if (limit == 0)
        limit = LIST_DEFAULT_LIMIT;
    if (limit > LIST_MAX_LIMIT)
        limit = LIST_MAX_LIMIT;

    int rc = 0;
    uint64_t vis = atomic_load(&db->visible_seq);
    view *v = view_acquire(db);
    size_t n_src = 1 + v->n_imm + v->n_segs;
    list_src *src = calloc(n_src, sizeof *src);
    floe_list *res = calloc(1, sizeof *res);
    size_t cap = limit < 64 ? limit : 64;
    if (res)
        res->entries = calloc(cap, sizeof *res->entries);
    if (!src || !res || !res->entries) {
        rc = err_set(FLOE_ENOMEM, "list: out of memory");
        goto out;
    }

    /* Seek to the later of prefix and start_after. */
    const uint8_t *seek = prefix;
    size_t seek_len = prefix_len;
    if (start_after_len && key_cmp(start_after, start_after_len, prefix, prefix_len) >= 0) {
        seek = start_after;
        seek_len = start_after_len;
    }
    for (size_t i = 0; i < n_src; i++) {
        src[i].vis = vis;
        if (i < 1 + v->n_imm) {
            memtable_t *m = i == 0 ? v->mem : v->imm[i - 1];
            if ((rc = memtable_iter_create(m, &src[i].mit)) < 0)
                goto out;
            memtable_iter_seek(src[i].mit, seek_len ? seek : NULL, seek_len);
        } else {
            segment_t *seg = NULL;
            if ((rc = segref_reader(db, v->segs[i - 1 - v->n_imm], &seg)) < 0)
                goto out;
            src[i].held = v->segs[i - 1 - v->n_imm];
            if ((rc = segment_iter_create(seg, &src[i].sit)) < 0)
                goto out;
            if ((rc = segment_iter_seek(src[i].sit, seek_len ? seek : NULL, seek_len)) < 0)
                goto out;
        }
        list_src_load(&src[i]);
    }

    for (;;) {
        /* The smallest key; among equal keys the highest seq is the newest version. */
        list_src *best = NULL;
        for (size_t i = 0; i < n_src; i++) {
            if (!src[i].valid)
                continue;
            if (!best) {
                best = &src[i];
                continue;
            }
            int c = key_cmp(src[i].key, src[i].key_len, best->key, best->key_len);
            if (c < 0 || (c == 0 && src[i].seq > best->seq))
                best = &src[i];
        }
        if (!best)
            break;
        if (prefix_len && (best->key_len < prefix_len || memcmp(best->key, prefix, prefix_len) != 0))
            break;
        uint32_t klen = best->key_len;
        uint8_t *kcopy = malloc(klen + 1);
        if (!kcopy) {
            rc = err_set(FLOE_ENOMEM, "list: out of memory");
            goto out;
        }
        memcpy(kcopy, best->key, klen);
        kcopy[klen] = '\0';
        int skip =
            best->is_delete || (start_after_len && key_cmp(kcopy, klen, start_after, start_after_len) <= 0);
        uint64_t value_len = best->value_len;
        uint64_t seq = best->seq;
        for (size_t i = 0; i < n_src; i++) {
            if ((rc = list_src_skip(&src[i], kcopy, klen)) < 0) {
                free(kcopy);
                goto out;
            }
        }
        if (skip) {
            free(kcopy);
            continue;
        }
        if (res->count == limit) {
            free(kcopy);
            res->truncated = 1;
            break;
        }
        if (res->count == cap) {
            size_t ncap = cap * 2 > limit ? limit : cap * 2;
            floe_list_entry *ne = realloc(res->entries, ncap * sizeof *ne);
            if (!ne) {
                free(kcopy);
                rc = err_set(FLOE_ENOMEM, "list: out of memory");
                goto out;
            }
            res->entries = ne;
            cap = ncap;
        }
        res->entries[res->count++] =
            (floe_list_entry){.key = (char *)kcopy, .key_len = klen, .value_len = value_len, .seq = seq};
    }
out:
    if (src) {
        for (size_t i = 0; i < n_src; i++) {
            if (src[i].mit)
                memtable_iter_destroy(src[i].mit);
            if (src[i].sit)
                segment_iter_destroy(src[i].sit);
            if (src[i].held)
                segref_release(src[i].held);
        }
        free(src);
    }
    view_unref(v);
    if (rc < 0) {
        floe_list_free(res);
        return rc;
    }
    *out = res;
    return 0;
}

/* ------------------------------------------------------------------ segment writer thread -- */

/* Writes one sealed memtable as a segment file: temp name, fsync, rename, fsync directory. On
 * success *info holds its description. */
static int write_segment_file(floe_t *db, const sealed *s, uint64_t epoch, segment_info *info)
{
    int rc = 0;
    char *tmp = segment_path(db, s->id, ".tmp");
    char *final = segment_path(db, s->id, "");
    segment_writer *w = NULL;
    memtable_iter *it = NULL;
    if (!tmp || !final) {
        rc = err_set(FLOE_ENOMEM, "seal: out of memory");
        goto out;
    }
    unlink(tmp);
    segment_write_options so = {
        .id = s->id,
        .epoch = epoch,
        .block_bytes = db->opts.segment.block_bytes,
        .compression = db->opts.segment.compression,
        .bloom_bits_per_key = 10,
    };
    if ((rc = segment_writer_open(tmp, &so, &w)) < 0)
        goto out;
    if ((rc = memtable_iter_create(s->mem, &it)) < 0)
        goto out;
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
        entry se = {
            .key = e.key,
            .key_len = e.key_len,
            .value = e.value,
            .value_len = e.value_len,
            .content_type = e.content_type,
            .content_type_len = e.content_type_len,
            .seq = e.seq,
            .type = e.type == ENTRY_DELETE ? ENTRY_DELETE : ENTRY_PUT,
        };
        if ((rc = segment_writer_add(w, &se)) < 0)
            goto out;
    }
    rc = segment_writer_finish(w, info);
    w = NULL;
    if (rc < 0)
        goto out;
    if (rename(tmp, final) != 0) {
        rc = err_set(FLOE_EIO, "rename %s to %s: %s", tmp, final, strerror(errno));
        unlink(tmp);
        segment_info_clear(info);
        goto out;
    }
    if ((rc = fsync_dir(db->seg_dir)) < 0) {
        segment_info_clear(info);
        goto out;
    }
out:
    if (it)
        memtable_iter_destroy(it);
    segment_writer_abort(w);
    free(tmp);
    free(final);
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
    int rc = write_segment_file(db, &s, epoch, &info);
    if (rc < 0)
        goto fail;
    if ((rc = open_segref(db, s.id, &r)) < 0)
        goto fail;

    manifest_segment ms = {
        .id = s.id,
        .object_key = "",
        .size = info.file_bytes,
        .crc32c = info.file_crc32c,
        .min_key = info.min_key,
        .min_key_len = info.min_key_len,
        .max_key = info.max_key,
        .max_key_len = info.max_key_len,
        .min_seq = info.min_seq,
        .max_seq = info.max_seq,
        .count = info.count,
        .epoch = info.epoch,
        .created_unix_s = info.created_unix_s,
        .state = SEG_LOCAL,
    };
    pthread_mutex_lock(&db->manifest_mu);
    rc = manifest_add(db->man, &ms);
    if (rc == 0) {
        uint64_t old_next = db->man->next_segment_id, old_last = db->man->last_seq,
                 old_wal = db->man->wal_first_file;
        if (db->man->next_segment_id <= s.id)
            db->man->next_segment_id = s.id + 1;
        if (info.max_seq > db->man->last_seq)
            db->man->last_seq = info.max_seq;
        db->man->wal_first_file = s.wal_next_file;
        rc = manifest_save(db->dir, db->man);
        if (rc < 0) {
            manifest_remove(db->man, s.id);
            db->man->next_segment_id = old_next;
            db->man->last_seq = old_last;
            db->man->wal_first_file = old_wal;
        }
    }
    if (rc == 0 && db->cold)
        recompute_upload_state(db);
    pthread_mutex_unlock(&db->manifest_mu);
    if (rc < 0)
        goto fail;

    pthread_mutex_lock(&db->state_mu);
    /* Drop the sealed memtable from the queue and put the segment first in the view. */
    memmove(&db->queue[0], &db->queue[1], (db->n_queue - 1) * sizeof *db->queue);
    db->n_queue--;
    size_t n = db->cur->n_segs + 1;
    segref **segs = malloc(n * sizeof *segs);
    view *v = NULL;
    if (segs) {
        segs[0] = r;
        memcpy(segs + 1, db->cur->segs, db->cur->n_segs * sizeof *segs);
        v = view_build(db, db->cur->mem, segs, n);
        free(segs);
    }
    if (v) {
        view_install(db, v);
    } else {
        /* Keep reading the memtable: put it back at the head of the queue and report. */
        memmove(&db->queue[1], &db->queue[0], db->n_queue * sizeof *db->queue);
        db->queue[0] = s;
        db->n_queue++;
        pthread_mutex_unlock(&db->state_mu);
        rc = err_set(FLOE_ENOMEM, "seal: out of memory installing segment %" PRIu64, s.id);
        goto fail;
    }
    pthread_mutex_unlock(&db->state_mu);
    segref_unref(r); /* the view holds it */
    memtable_unref(s.mem);
    segment_info_clear(&info);

    pthread_mutex_lock(&db->write_mu);
    rc = wal_release_before(db->wal, s.wal_next_file);
    pthread_mutex_unlock(&db->write_mu);
    if (rc < 0)
        db_log(db, 1, "could not delete old WAL files: %s", floe_last_error());

    /* Only now is the seal complete for floe_flush: segment durable, WAL released. */
    pthread_mutex_lock(&db->state_mu);
    db->unwritten_bytes -= s.bytes;
    db->seals_written = s.seal_no;
    pthread_cond_broadcast(&db->state_cv);
    pthread_mutex_unlock(&db->state_mu);
    return 0;

fail:
    segref_unref(r);
    segment_info_clear(&info);
    {
        char msg[512];
        snprintf(msg, sizeof msg, "writing segment %" PRIu64 ": %s", s.id, floe_last_error());
        mark_read_only(db, msg);
    }
    return rc;
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
        /* Seal by age: needs write_mu, which comes before state_mu. */
        pthread_mutex_unlock(&db->state_mu);
        pthread_mutex_lock(&db->write_mu);
        int64_t first = db->mem_first_write_ms;
        int64_t age_limit_ms = (int64_t)db->opts.segment.max_age_s * 1000;
        int64_t wait_ms = 1000;
        if (first) {
            int64_t age = now_ms() - first;
            if (age >= age_limit_ms && !db->read_only)
                seal_locked(db);
            else if (age_limit_ms - age < wait_ms)
                wait_ms = age_limit_ms - age;
        }
        pthread_mutex_unlock(&db->write_mu);
        pthread_mutex_lock(&db->state_mu);
        if (db->n_queue > 0 || db->stopping)
            continue;
        struct timespec ts = deadline_after_ms(wait_ms);
        pthread_cond_timedwait(&db->state_cv, &db->state_mu, &ts);
    }
    pthread_mutex_unlock(&db->state_mu);
    return NULL;
}

/* ------------------------------------------------------------------ cold tier: uploads -- */

/* Records a cold-tier problem for stats and health; logs it when it changes. */
static void cold_trouble(floe_t *db, const char *what, const char *why)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", what, why);
    pthread_mutex_lock(&db->state_mu);
    int changed = !db->cold_unhealthy || strcmp(db->cold_msg, msg) != 0;
    db->cold_unhealthy = 1;
    copy_cut(db->cold_msg, sizeof db->cold_msg, msg);
    pthread_mutex_unlock(&db->state_mu);
    if (changed)
        db_log(db, 1, "cold tier: %s; writes keep landing locally and uploads are retried", msg);
}

static void cold_recovered(floe_t *db)
{
    pthread_mutex_lock(&db->state_mu);
    int was = db->cold_unhealthy;
    db->cold_unhealthy = 0;
    pthread_mutex_unlock(&db->state_mu);
    if (was)
        db_log(db, 2, "cold tier: healthy again");
}

/* Recomputes which segments are named remotely and how many bytes wait for upload. Called with
 * manifest_mu held; takes state_mu. */
static void recompute_upload_state(floe_t *db)
{
    uint64_t through = 0, pending = 0;
    int gap = 0;
    for (size_t i = 0; i < db->man->count; i++) {
        const manifest_segment *ms = &db->man->segments[i];
        int published = ms->state == SEG_LOCAL_REMOTE || ms->state == SEG_REMOTE;
        if (!published) {
            pending += ms->size;
            gap = 1;
        } else if (!gap) {
            through = ms->id;
        }
    }
    pthread_mutex_lock(&db->state_mu);
    db->published_through_id = through;
    db->bytes_pending_upload = pending;
    pthread_cond_broadcast(&db->state_cv);
    pthread_mutex_unlock(&db->state_mu);
}

static void mark_fenced(floe_t *db)
{
    char msg[256];
    copy_cut(msg, sizeof msg, floe_last_error());
    pthread_mutex_lock(&db->state_mu);
    db->fenced = 1;
    pthread_mutex_unlock(&db->state_mu);
    mark_read_only(db, msg);
}

/* Claims the writer epoch in the bucket once (remote_claim). Called with publish_mu held. */
static int ensure_claimed(floe_t *db)
{
    if (db->claimed)
        return 0;
    manifest *copy = NULL;
    pthread_mutex_lock(&db->manifest_mu);
    int rc = manifest_clone(db->man, &copy);
    pthread_mutex_unlock(&db->manifest_mu);
    if (rc < 0)
        return rc;
    rc = remote_claim(db->cold, copy);
    if (rc == 0) {
        pthread_mutex_lock(&db->manifest_mu);
        db->man->writer_epoch = copy->writer_epoch;
        db->man->remote_version = copy->remote_version;
        rc = manifest_save(db->dir, db->man);
        pthread_mutex_unlock(&db->manifest_mu);
        if (rc == 0) {
            db->claimed = 1;
            db_log(db, 2, "cold tier: claimed writer epoch %" PRIu64 " (manifest version %" PRIu64 ")",
                   copy->writer_epoch, copy->remote_version);
        } else {
            mark_read_only(db, floe_last_error());
        }
    } else if (rc == FLOE_EFENCED) {
        mark_fenced(db);
    }
    manifest_free(copy);
    return rc;
}

/* The claim floe_open starts: it may take as long as the cold tier's timeouts and retries. */
static void *claim_main(void *arg)
{
    floe_t *db = arg;
    char msg[512];
    pthread_mutex_lock(&db->publish_mu);
    int rc = ensure_claimed(db);
    copy_cut(msg, sizeof msg, floe_last_error());
    pthread_mutex_unlock(&db->publish_mu);
    if (rc < 0 && rc != FLOE_EFENCED)
        cold_trouble(db, "claiming the bucket prefix", msg);
    pthread_mutex_lock(&db->state_mu);
    db->claim_done = 1;
    db->claim_rc = rc;
    copy_cut(db->claim_msg, sizeof db->claim_msg, msg);
    pthread_cond_broadcast(&db->state_cv);
    pthread_mutex_unlock(&db->state_mu);
    return NULL;
}

/* Claims the writer epoch for floe_open, waiting at most CLAIM_WAIT_MS: a cold tier that answers
 * refuses a stranger at open (FLOE_EFENCED); one that does not answer in time does not hold the
 * store up, and the claim finishes in the background (uploads wait for it; a late refusal fences
 * the store then). Returns the claim's result, or 0 if it is still running. */
static int claim_at_open(floe_t *db)
{
    if (pthread_create(&db->claimer, NULL, claim_main, db) != 0) {
        pthread_mutex_lock(&db->publish_mu);
        int rc = ensure_claimed(db);
        pthread_mutex_unlock(&db->publish_mu);
        return rc;
    }
    db->claimer_started = 1;
    struct timespec deadline = deadline_after_ms(CLAIM_WAIT_MS);
    pthread_mutex_lock(&db->state_mu);
    while (!db->claim_done && pthread_cond_timedwait(&db->state_cv, &db->state_mu, &deadline) == 0) {
    }
    int rc = db->claim_done ? db->claim_rc : 0;
    if (db->claim_done && rc < 0)
        err_set(rc, "%s", db->claim_msg);
    pthread_mutex_unlock(&db->state_mu);
    return rc;
}

/* Publishes a manifest naming every uploaded segment, then marks them local+remote. */
static int publish_pending(floe_t *db)
{
    pthread_mutex_lock(&db->publish_mu);
    int rc = ensure_claimed(db);
    if (rc < 0)
        goto out_unlocked;
    pthread_mutex_lock(&db->manifest_mu);
    size_t n = db->n_unpublished;
    if (n == 0) {
        pthread_mutex_unlock(&db->manifest_mu);
        goto out_unlocked;
    }
    uint64_t *ids = malloc(n * sizeof *ids);
    manifest *rm = NULL;
    uint64_t version = db->man->remote_version + 1;
    if (!ids) {
        pthread_mutex_unlock(&db->manifest_mu);
        rc = err_set(FLOE_ENOMEM, "publish: out of memory");
        goto out_unlocked;
    }
    memcpy(ids, db->unpublished, n * sizeof *ids);
    rc = remote_manifest_build(db->man, ids, n, version, &rm);
    pthread_mutex_unlock(&db->manifest_mu);
    if (rc == 0)
        rc = remote_publish(db->cold, rm);
    manifest_free(rm);
    if (rc == FLOE_EFENCED) {
        mark_fenced(db);
    } else if (rc == 0) {
        pthread_mutex_lock(&db->manifest_mu);
        db->man->remote_version = version;
        for (size_t i = 0; i < n; i++) {
            manifest_segment *ms = manifest_find(db->man, ids[i]);
            if (ms && ms->state == SEG_UPLOADING)
                ms->state = SEG_LOCAL_REMOTE;
            for (size_t j = 0; j < db->n_unpublished; j++) {
                if (db->unpublished[j] == ids[i]) {
                    db->unpublished[j] = db->unpublished[--db->n_unpublished];
                    break;
                }
            }
        }
        rc = manifest_save(db->dir, db->man);
        recompute_upload_state(db);
        pthread_mutex_unlock(&db->manifest_mu);
        if (rc < 0)
            mark_read_only(db, floe_last_error());
    }
    free(ids);
out_unlocked:
    pthread_mutex_unlock(&db->publish_mu);
    return rc;
}

/* Uploads one segment file. After a failed attempt of the same segment the object may be there
 * already (the answer was lost): a HEAD that finds it whole saves uploading it again. */
static int upload_file(floe_t *db, const char *key, const char *path, uint64_t size, int retry)
{
    if (retry) {
        uint64_t have = 0;
        if (cold_head(db->cold, key, &have, NULL) == 0 && have == size)
            return 0;
    }
    return cold_put_file(db->cold, key, path, db->opts.upload.part_bytes);
}

/* Moves local+remote segments out of local disk, least recently read first, while local segment
 * files are over local.max_bytes. Their reads then go to the cold tier. */
static void evict_local(floe_t *db)
{
    for (;;) {
        pthread_mutex_lock(&db->manifest_mu);
        uint64_t local_bytes = 0;
        for (size_t i = 0; i < db->man->count; i++)
            if (db->man->segments[i].state != SEG_REMOTE)
                local_bytes += db->man->segments[i].size;
        if (local_bytes <= db->opts.local.max_bytes) {
            pthread_mutex_unlock(&db->manifest_mu);
            return;
        }
        /* The victim: a local+remote segment with the oldest last read (never read: oldest id). */
        manifest_segment *victim = NULL;
        int64_t victim_read = INT64_MAX;
        pthread_mutex_lock(&db->state_mu);
        for (size_t i = 0; i < db->cur->n_segs; i++) {
            segref *r = db->cur->segs[i];
            if (!r->path)
                continue;
            manifest_segment *ms = manifest_find(db->man, r->id);
            if (!ms || ms->state != SEG_LOCAL_REMOTE)
                continue;
            int64_t t = atomic_load(&r->last_read_ms);
            if (!victim || t < victim_read || (t == victim_read && ms->id < victim->id)) {
                victim = ms;
                victim_read = t;
            }
        }
        pthread_mutex_unlock(&db->state_mu);
        if (!victim) {
            pthread_mutex_unlock(&db->manifest_mu);
            return;
        }
        segref *nr = NULL;
        int rc = remote_segref(db, victim, &nr);
        if (rc == 0) {
            victim->state = SEG_REMOTE;
            rc = manifest_save(db->dir, db->man);
            if (rc < 0) {
                victim->state = SEG_LOCAL_REMOTE;
                segref_unref(nr);
                nr = NULL;
                mark_read_only(db, floe_last_error());
            }
        }
        uint64_t id = victim->id;
        if (nr) {
            pthread_mutex_lock(&db->state_mu);
            segref **segs = malloc(db->cur->n_segs * sizeof *segs);
            view *v = NULL;
            if (segs) {
                memcpy(segs, db->cur->segs, db->cur->n_segs * sizeof *segs);
                for (size_t i = 0; i < db->cur->n_segs; i++) {
                    if (segs[i]->id == id && segs[i]->path) {
                        atomic_store(&segs[i]->obsolete, 1); /* the file goes with the last reader */
                        segs[i] = nr;
                    }
                }
                v = view_build(db, db->cur->mem, segs, db->cur->n_segs);
                free(segs);
            }
            if (v)
                view_install(db, v);
            pthread_mutex_unlock(&db->state_mu);
            segref_unref(nr);
            if (v)
                db_log(db, 2, "evicted local segment %" PRIu64 " (uploaded; local.max_bytes exceeded)", id);
        }
        pthread_mutex_unlock(&db->manifest_mu);
        if (rc < 0)
            return;
    }
}

/* Waits on state_cv for up to ms, or until the store stops. Returns 1 if stopping. */
static int uploader_sleep(floe_t *db, int64_t ms)
{
    struct timespec ts = deadline_after_ms(ms);
    pthread_mutex_lock(&db->state_mu);
    if (!db->stopping)
        pthread_cond_timedwait(&db->state_cv, &db->state_mu, &ts);
    int stop = db->stopping;
    pthread_mutex_unlock(&db->state_mu);
    return stop;
}

/* An uploader's next wait after a failure: 0.2 s, doubling to 30 s. */
static int64_t next_backoff_ms(int64_t ms)
{
    return ms ? (ms * 2 > 30000 ? 30000 : ms * 2) : 200;
}

/* An uploader thread: takes the oldest local segment, uploads it, publishes a manifest naming it,
 * and trims local disk. Failures back off exponentially (0.2 s .. 30 s) and are retried. */
static void *uploader_main(void *arg)
{
    floe_t *db = arg;
    int64_t backoff_ms = 0;
    uint64_t failed_id = 0;
    for (;;) {
        pthread_mutex_lock(&db->state_mu);
        int stop = db->stopping, fenced = db->fenced;
        pthread_mutex_unlock(&db->state_mu);
        if (stop || fenced)
            break;
        if (backoff_ms && uploader_sleep(db, backoff_ms))
            break;

        pthread_mutex_lock(&db->publish_mu);
        int rc = ensure_claimed(db);
        pthread_mutex_unlock(&db->publish_mu);
        if (rc < 0) {
            if (rc != FLOE_EFENCED)
                cold_trouble(db, "claiming the bucket prefix", floe_last_error());
            backoff_ms = next_backoff_ms(backoff_ms);
            continue;
        }

        char key[COLD_LAYOUT_KEY_MAX];
        char *path = NULL;
        uint64_t id = 0, size = 0;
        int have_unpublished = 0;
        pthread_mutex_lock(&db->manifest_mu);
        for (size_t i = 0; i < db->man->count; i++) {
            manifest_segment *ms = &db->man->segments[i];
            if (ms->state != SEG_LOCAL)
                continue;
            cold_segment_key(ms->id, db->man->writer_epoch, key);
            char *k = strdup(key);
            path = segment_path(db, ms->id, "");
            if (!k || !path) {
                free(k);
                free(path);
                path = NULL;
                break;
            }
            free(ms->object_key);
            ms->object_key = k;
            ms->state = SEG_UPLOADING;
            id = ms->id;
            size = ms->size;
            break;
        }
        have_unpublished = db->n_unpublished > 0;
        pthread_mutex_unlock(&db->manifest_mu);

        if (!path) {
            if (have_unpublished) {
                rc = publish_pending(db);
                if (rc < 0 && rc != FLOE_EFENCED) {
                    cold_trouble(db, "publishing the manifest", floe_last_error());
                    backoff_ms = next_backoff_ms(backoff_ms);
                    continue;
                }
            }
            backoff_ms = 0;
            if (uploader_sleep(db, 1000))
                break;
            continue;
        }

        rc = upload_file(db, key, path, size, failed_id == id);
        free(path);
        if (rc < 0) {
            char why[512];
            snprintf(why, sizeof why, "uploading segment %" PRIu64 " to %s", id, key);
            cold_trouble(db, why, floe_last_error());
            pthread_mutex_lock(&db->manifest_mu);
            manifest_segment *ms = manifest_find(db->man, id);
            if (ms && ms->state == SEG_UPLOADING)
                ms->state = SEG_LOCAL;
            pthread_mutex_unlock(&db->manifest_mu);
            failed_id = id;
            backoff_ms = next_backoff_ms(backoff_ms);
            continue;
        }
        atomic_fetch_add(&db->n_uploads, 1);
        atomic_fetch_add(&db->n_upload_bytes, size);
        pthread_mutex_lock(&db->manifest_mu);
        if (db->n_unpublished == db->cap_unpublished) {
            size_t cap = db->cap_unpublished ? db->cap_unpublished * 2 : 16;
            uint64_t *u = realloc(db->unpublished, cap * sizeof *u);
            if (u) {
                db->unpublished = u;
                db->cap_unpublished = cap;
            }
        }
        if (db->n_unpublished < db->cap_unpublished)
            db->unpublished[db->n_unpublished++] = id;
        pthread_mutex_unlock(&db->manifest_mu);

        rc = publish_pending(db);
        if (rc == FLOE_EFENCED)
            break;
        if (rc < 0) {
            cold_trouble(db, "publishing the manifest", floe_last_error());
            backoff_ms = next_backoff_ms(backoff_ms);
            continue;
        }
        cold_recovered(db);
        backoff_ms = 0;
        evict_local(db);
    }
    return NULL;
}

/* ------------------------------------------------------------------ flush, stats, close -- */

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
        return read_only_error(db);
    }
    int rc = seal_locked(db);
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
        return read_only_error(db);
    if (level == FLOE_DURABLE_LOCAL)
        return 0;

    /* Remote: every segment up to the newest must be named by a published manifest. */
    pthread_mutex_lock(&db->manifest_mu);
    uint64_t target_id = db->man->count ? db->man->segments[db->man->count - 1].id : 0;
    pthread_mutex_unlock(&db->manifest_mu);
    int64_t limit_ms = (int64_t)db->opts.upload.wait_ms * 10;
    if (limit_ms < 60000)
        limit_ms = 60000;
    struct timespec deadline = deadline_after_ms(limit_ms);
    pthread_mutex_lock(&db->state_mu);
    pthread_cond_broadcast(&db->state_cv); /* wake idle uploaders */
    int timed_out = 0;
    while (db->published_through_id < target_id && !db->fenced && !db->read_only && !db->stopping &&
           !timed_out)
        timed_out = pthread_cond_timedwait(&db->state_cv, &db->state_mu, &deadline) != 0;
    int done = db->published_through_id >= target_id;
    int fenced = db->fenced;
    char cold_msg[256];
    copy_cut(cold_msg, sizeof cold_msg, db->cold_unhealthy ? db->cold_msg : "none");
    pthread_mutex_unlock(&db->state_mu);
    if (done)
        return 0;
    if (fenced)
        return err_set(FLOE_EFENCED, "floe_flush: this writer was fenced: %s", cold_msg);
    if (db->read_only)
        return read_only_error(db);
    return err_set(FLOE_ETIMEDOUT,
                   "floe_flush: segments up to %" PRIu64
                   " not yet uploaded after %lld s; last cold-tier error: %s",
                   target_id, (long long)(limit_ms / 1000), cold_msg);
}

int floe_stats_get(floe_t *db, floe_stats *out)
{
    if (!db || !out)
        return err_set(FLOE_EINVAL, "floe_stats_get: bad arguments");
    floe_stats s;
    memset(&s, 0, sizeof s);
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

    pthread_mutex_lock(&db->write_mu);
    s.last_seq = db->last_seq;
    s.pending_bytes = memtable_bytes(db->mem);
    s.pending_entries = memtable_count(db->mem);
    pthread_mutex_unlock(&db->write_mu);

    pthread_mutex_lock(&db->manifest_mu);
    for (size_t i = 0; i < db->man->count; i++) {
        const manifest_segment *ms = &db->man->segments[i];
        switch (ms->state) {
        case SEG_LOCAL:
            s.segments_local++;
            break;
        case SEG_UPLOADING:
            s.segments_uploading++;
            break;
        case SEG_REMOTE:
            s.segments_remote++;
            break;
        case SEG_LOCAL_REMOTE:
            s.segments_local_remote++;
            break;
        }
        if (ms->state != SEG_REMOTE)
            s.local_segment_bytes += ms->size;
        if (ms->state == SEG_LOCAL || ms->state == SEG_UPLOADING)
            s.bytes_pending_upload += db->cold ? ms->size : 0;
    }
    s.manifest_version = db->man->remote_version;
    s.writer_epoch = db->man->writer_epoch;
    pthread_mutex_unlock(&db->manifest_mu);

    pthread_mutex_lock(&db->state_mu);
    s.sealed_unwritten_bytes = db->unwritten_bytes;
    s.seals = db->seals_issued;
    s.read_only = db->read_only;
    if (db->read_only)
        snprintf(s.last_error, sizeof s.last_error, "%s", db->read_only_msg);
    pthread_mutex_unlock(&db->state_mu);
    s.cold_healthy = 1;
    if (db->cold) {
        pthread_mutex_lock(&db->state_mu);
        s.cold_healthy = !db->cold_unhealthy;
        if (db->cold_unhealthy && !s.read_only)
            copy_cut(s.last_error, sizeof s.last_error, db->cold_msg);
        pthread_mutex_unlock(&db->state_mu);
        cold_get_counters(db->cold, s.s3_requests, s.s3_errors, s.s3_retries);
        s.uploads = atomic_load(&db->n_uploads);
        s.upload_bytes = atomic_load(&db->n_upload_bytes);
        blockcache_stats bs;
        blockcache_get_stats(db->bcache, &bs);
        s.block_cache_bytes = bs.bytes;
        s.block_cache_hits = bs.hits;
        s.block_cache_misses = bs.misses;
    }

    if (db->decoded_blocks) {
        lru_stats ds;
        lru_get_stats(db->decoded_blocks, &ds);
        s.decoded_cache_bytes = ds.bytes;
        s.decoded_cache_hits = ds.hits;
        s.decoded_cache_misses = ds.misses;
    }
    pthread_mutex_lock(&db->meta_mu);
    s.meta_cache_bytes = db->meta_bytes;
    s.meta_cache_segments = db->meta_open;
    pthread_mutex_unlock(&db->meta_mu);
    if (db->object_cache) {
        lru_stats ls;
        lru_get_stats(db->object_cache, &ls);
        s.object_cache_bytes = ls.bytes;
        s.object_cache_entries = ls.entries;
        s.object_cache_hits = ls.hits;
        s.object_cache_misses = ls.misses;
    }
    *out = s;
    return 0;
}

const char *floe_s3_op_name(floe_s3_op op)
{
    static const char *names[FLOE_S3_OP_COUNT] = {
        "put", "get", "head", "delete", "list", "mpu_create", "mpu_part", "mpu_complete", "mpu_abort",
    };
    return (unsigned)op < FLOE_S3_OP_COUNT ? names[op] : "unknown";
}

int floe_close(floe_t *db)
{
    if (!db)
        return 0;
    int rc = 0;
    if (db->flusher_started) {
        pthread_mutex_lock(&db->state_mu);
        db->stopping = 1;
        pthread_cond_broadcast(&db->state_cv);
        pthread_mutex_unlock(&db->state_mu);
        pthread_join(db->flusher, NULL);
    }
    if (db->n_uploaders || db->claimer_started) {
        pthread_mutex_lock(&db->state_mu);
        db->stopping = 1;
        pthread_cond_broadcast(&db->state_cv);
        pthread_mutex_unlock(&db->state_mu);
        /* An upload to an unreachable store would otherwise wait out its timeouts and retries;
         * what it did not finish is uploaded again after the next open (under a new epoch, so
         * nothing is overwritten). */
        cold_cancel(db->cold);
        if (db->claimer_started)
            pthread_join(db->claimer, NULL);
        for (unsigned i = 0; i < db->n_uploaders; i++)
            pthread_join(db->uploaders[i], NULL);
    }
    free(db->uploaders);
    if (db->wal) {
        int wrc = wal_close(db->wal);
        if (wrc < 0 && rc == 0)
            rc = wrc;
    }
    if (db->read_only && rc == 0)
        rc = FLOE_EREADONLY;
    view_unref(db->cur);
    /* The metadata cache's references. */
    while (db->meta_head) {
        segref *r = db->meta_head;
        meta_unlink(db, r);
        r->in_meta_lru = 0;
        segref_unref(r);
    }
    pthread_mutex_destroy(&db->meta_mu);
    for (size_t i = 0; i < db->n_queue; i++)
        memtable_unref(db->queue[i].mem);
    free(db->queue);
    memtable_unref(db->mem);
    if (db->object_cache)
        lru_destroy(db->object_cache);
    if (db->decoded_blocks)
        lru_destroy(db->decoded_blocks);
    manifest_free(db->man);
    free(db->unpublished);
    /* Readers (in views, freed above) are gone: the cold store and its cache can go. */
    blockcache_close(db->bcache);
    cold_close(db->cold);
    for (size_t i = 0; i < sizeof db->cold_strings / sizeof db->cold_strings[0]; i++)
        free(db->cold_strings[i]);
    pthread_mutex_destroy(&db->publish_mu);
    if (db->lock_fd >= 0)
        close(db->lock_fd);
    pthread_mutex_destroy(&db->write_mu);
    pthread_mutex_destroy(&db->manifest_mu);
    pthread_mutex_destroy(&db->state_mu);
    pthread_cond_destroy(&db->state_cv);
    free(db->fs_path_copy);
    free(db->dir);
    free(db->wal_dir);
    free(db->seg_dir);
    free(db);
    return rc;
}
