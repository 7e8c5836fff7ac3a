/* The disk block cache for cold reads (blockcache.h): byte ranges of cold objects kept as files in
 * one directory, an in-memory index over them (hash table plus LRU list), and a trim thread that
 * keeps the directory inside its byte and count budgets.
 *
 * A cache file is named "<16 hex digits>.blk" after a 64-bit hash of (key, offset, length) and holds
 * (little-endian):
 *
 *   magic "FLOEBC01" | offset u64 | length u64 | key_len u32 | payload_crc32c u32 |
 *   header_crc32c u32 | reserved u32 = 0 | key (key_len bytes) | payload (length bytes)
 *
 * header_crc32c is the CRC32C of the header's first 32 bytes followed by the key bytes. The header's key,
 * offset and length must match the name's hash and the range asked for, so a hash collision is a miss, never
 * wrong bytes.
 *
 * Invariants:
 * 1. Under mu, the index and the directory agree: every indexed entry's file exists with exactly
 *    entry->charge bytes (unless something outside floe removed it, which a read sees as a miss),
 *    and every file the index does not name is a temp file being written. Renames into place and
 *    unlinks of evicted entries happen with mu held; payload writes and reads happen without it.
 * 2. bytes <= capacity and entries <= max_count at all times (an insert that would exceed either
 *    evicts least-recently-used entries first, or is skipped).
 * 3. A file is only trusted after its header (magic, header CRC, key, offset, length, size) and
 *    payload CRC check; anything else is deleted and read again from the cold tier. The cache is
 *    never fsynced: after a crash, damaged files are found by these checks.
 * 4. A miss costs exactly one cold_get_range, of exactly the requested range; a cache failure
 *    (ENOSPC, a bad file) never fails a read.
 * 5. Creating a cache file costs an inode allocation (~0.4 ms here), so a miss does not write it:
 *    it queues a copy of the bytes (at most BC_PENDING_MAX_BYTES in all; beyond that the range is
 *    simply not cached) and the background thread writes it. Until then reads of the range are
 *    served from the queued copy, so a range fetched once is not fetched again.
 *
 * Threads: mu guards the index, LRU list, pending queue and counters; the background thread takes
 * only mu.
 */
#include "blockcache.h"

#include "array.h"
#include "clock.h"
#include "crc32c.h"
#include "error.h"
#include "file.h"
#include "lru_list.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BC_MAGIC "FLOEBC01"
#define BC_HEADER_BYTES 40
#define BC_NAME_SUFFIX ".blk"
#define BC_NAME_LEN (16 + 4)
#define BC_TMP_PREFIX ".tmp."
/* One entry for every this many bytes of budget, within [BC_MIN_COUNT, BC_MAX_COUNT]. */
#define BC_BYTES_PER_ENTRY 4096
#define BC_MIN_COUNT 16
#define BC_MAX_COUNT (4u << 20)
/* An entry larger than capacity / BC_ADMIT_DIVISOR is not cached (one huge value would flush it). */
#define BC_ADMIT_DIVISOR 8
/* The trim thread starts above HIGH percent of either budget and stops at LOW percent. */
#define BC_TRIM_HIGH_PERCENT 95
#define BC_TRIM_LOW_PERCENT 90
#define BC_TRIM_BATCH 64
#define BC_TRIM_POLL_MS 1000
/* Bytes of fetched ranges waiting to be written as cache files. */
#define BC_PENDING_MAX_BYTES (64u << 20)

_Static_assert(sizeof(BC_MAGIC) - 1 == 8, "magic is 8 bytes");
_Static_assert(BC_HEADER_BYTES == 8 + 8 + 8 + 4 + 4 + 4 + 4, "header layout");

typedef struct bc_entry {
    uint64_t hash;
    uint64_t offset, len;
    uint64_t charge;  /* file bytes: header + key + payload */
    uint64_t gen;     /* unique per insert: tells a re-inserted entry from the one a reader saw */
    int64_t mtime_ns; /* only used while indexing at open */
    char *key;
    uint32_t key_len;
    struct bc_entry *hnext;
    lru_link link; /* the LRU order (lru_list.h) */
} bc_entry;

/* A fetched range waiting for the background thread to write it (invariant 5). */
typedef struct bc_pending {
    struct bc_pending *next;
    uint64_t hash, offset;
    size_t len;
    uint32_t key_len;
    int forgotten; /* blockcache_forget dropped its key: do not serve or keep it */
    char *key;     /* points into data, after the payload */
    uint8_t data[];
} bc_pending;

struct blockcache {
    char *dir;
    uint64_t capacity, max_count;
    pthread_mutex_t mu;        /* guards everything below */
    pthread_cond_t cv;         /* wakes the trim thread */
    pthread_cond_t settled_cv; /* broadcast when a queued range has been written */
    bc_entry **buckets;
    size_t nbuckets; /* a power of two */
    lru_link lru;    /* most recently used first */
    uint64_t bytes, entries, hits, misses, evictions, next_gen;
    int stopping;
    int trimmer_started;
    pthread_t trimmer;
    bc_pending *pending_head, *pending_tail;
    uint64_t pending_bytes;
};

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t range_hash(const char *key, size_t key_len, uint64_t offset, uint64_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over the key, then mixed with the range */
    for (size_t i = 0; i < key_len; i++) {
        h ^= (unsigned char)key[i];
        h *= 0x100000001b3ull;
    }
    h = mix64(h ^ mix64(offset + 0x9e3779b97f4a7c15ull));
    return mix64(h ^ mix64(len + 0x632be59bd9b4e019ull));
}

static int file_path(const blockcache *bc, uint64_t hash, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%016" PRIx64 BC_NAME_SUFFIX, bc->dir, hash);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* The path of the directory entry name; -1 if it does not fit in cap. */
static int entry_path(const blockcache *bc, const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", bc->dir, name);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static void header_encode(uint8_t hdr[BC_HEADER_BYTES], const char *key, uint32_t key_len, uint64_t offset,
                          uint64_t len, uint32_t payload_crc)
{
    memcpy(hdr, BC_MAGIC, 8);
    put_u64(hdr + 8, offset);
    put_u64(hdr + 16, len);
    put_u32(hdr + 24, key_len);
    put_u32(hdr + 28, payload_crc);
    put_u32(hdr + 32, crc32c_extend(crc32c(hdr, 32), key, key_len));
    put_u32(hdr + 36, 0);
}

/* Checks a header and the key after it; fills the decoded fields. Returns 0 or -1. */
static int header_decode(const uint8_t *hdr, const uint8_t *key, uint32_t key_len_avail, uint64_t *offset,
                         uint64_t *len, uint32_t *key_len, uint32_t *payload_crc)
{
    if (memcmp(hdr, BC_MAGIC, 8) != 0)
        return -1;
    uint32_t kl = get_u32(hdr + 24);
    if (kl == 0 || kl > FLOE_MAX_KEY_BYTES || kl > key_len_avail)
        return -1;
    if (get_u32(hdr + 32) != crc32c_extend(crc32c(hdr, 32), key, kl) || get_u32(hdr + 36) != 0)
        return -1;
    *offset = get_u64(hdr + 8);
    *len = get_u64(hdr + 16);
    *key_len = kl;
    *payload_crc = get_u32(hdr + 28);
    return 0;
}

/* The entry for hash in the index, or NULL. Called with mu held, or while no other thread can see
 * the cache (open, close). */
static bc_entry *find_hash(blockcache *bc, uint64_t hash)
{
    for (bc_entry *e = bc->buckets[hash & (bc->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == hash)
            return e;
    return NULL;
}

static int entry_is(const bc_entry *e, const char *key, size_t key_len, uint64_t offset, uint64_t len)
{
    return e->offset == offset && e->len == len && e->key_len == key_len && memcmp(e->key, key, key_len) == 0;
}

/* The entry least and most recently used; NULL if the cache is empty. Called with mu held, or
 * while no other thread can see the cache (open, close). */
static bc_entry *oldest_entry(const blockcache *bc)
{
    lru_link *l = lru_list_oldest(&bc->lru);
    return l ? LRU_LIST_ENTRY(l, bc_entry, link) : NULL;
}

static bc_entry *newest_entry(const blockcache *bc)
{
    lru_link *l = lru_list_newest(&bc->lru);
    return l ? LRU_LIST_ENTRY(l, bc_entry, link) : NULL;
}

/* Called with mu held, or while no other thread can see the cache (open, close). */
static void index_add(blockcache *bc, bc_entry *e)
{
    size_t b = e->hash & (bc->nbuckets - 1);
    e->hnext = bc->buckets[b];
    bc->buckets[b] = e;
    lru_list_push_front(&bc->lru, &e->link);
    bc->bytes += e->charge;
    bc->entries++;
}

static void entry_free(bc_entry *e)
{
    if (e) {
        free(e->key);
        free(e);
    }
}

/* Removes e from the index; with unlink_file also deletes its file (invariant 1). Frees e. Called
 * with mu held, or while no other thread can see the cache (open, close). */
static void index_remove(blockcache *bc, bc_entry *e, int unlink_file)
{
    bc_entry **pp = &bc->buckets[e->hash & (bc->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_list_remove(&e->link);
    bc->bytes -= e->charge;
    bc->entries--;
    if (unlink_file) {
        char path[PATH_MAX];
        if (file_path(bc, e->hash, path, sizeof path) == 0)
            file_unlink(path);
    }
    entry_free(e);
}

/* Called with mu held, or while no other thread can see the cache (open, close). */
static void evict_tail(blockcache *bc)
{
    index_remove(bc, oldest_entry(bc), 1);
    bc->evictions++;
}

/* percent of x, without overflow for any x */
static uint64_t percent_of(uint64_t x, unsigned percent)
{
    return x / 100 * percent + x % 100 * percent / 100;
}

/* Whether the cache should be trimmed, and until when. Called with mu held. */
static int above_high_water(const blockcache *bc)
{
    return bc->bytes > percent_of(bc->capacity, BC_TRIM_HIGH_PERCENT) ||
           bc->entries > percent_of(bc->max_count, BC_TRIM_HIGH_PERCENT);
}

/* Called with mu held. */
static int above_low_water(const blockcache *bc)
{
    return bc->bytes > percent_of(bc->capacity, BC_TRIM_LOW_PERCENT) ||
           bc->entries > percent_of(bc->max_count, BC_TRIM_LOW_PERCENT);
}

static void cache_insert(blockcache *bc, const char *key, uint32_t key_len, uint64_t hash, uint64_t offset,
                         const void *data, size_t len);

/* The background thread: writes queued ranges to cache files and trims the cache below its budget. */
static void *trim_main(void *arg)
{
    blockcache *bc = arg;
    pthread_mutex_lock(&bc->mu);
    while (!bc->stopping) {
        if (bc->pending_head) {
            /* The head stays queued (and readable) while it is written: only this thread removes
             * queue entries, and readers only read them. */
            bc_pending *p = bc->pending_head;
            int skip = p->forgotten;
            pthread_mutex_unlock(&bc->mu);
            if (!skip)
                cache_insert(bc, p->key, p->key_len, p->hash, p->offset, p->data, p->len);
            pthread_mutex_lock(&bc->mu);
            if (p->forgotten) { /* forgotten while it was being written */
                bc_entry *e = find_hash(bc, p->hash);
                if (e && entry_is(e, p->key, p->key_len, p->offset, p->len))
                    index_remove(bc, e, 1);
            }
            bc->pending_head = p->next;
            if (!bc->pending_head)
                bc->pending_tail = NULL;
            bc->pending_bytes -= p->len;
            free(p);
            pthread_cond_broadcast(&bc->settled_cv);
            continue;
        }
        if (above_high_water(bc)) {
            /* Evict in batches, letting readers in between. */
            while (!bc->stopping && oldest_entry(bc) && above_low_water(bc)) {
                for (int i = 0; i < BC_TRIM_BATCH && oldest_entry(bc) && above_low_water(bc); i++)
                    evict_tail(bc);
                pthread_mutex_unlock(&bc->mu);
                pthread_mutex_lock(&bc->mu);
            }
            continue;
        }
        struct timespec deadline = clock_deadline_after_ms(BC_TRIM_POLL_MS);
        pthread_cond_timedwait(&bc->cv, &bc->mu, &deadline);
    }
    pthread_mutex_unlock(&bc->mu);
    return NULL;
}

/* 1 and the hash if name is "<16 lowercase hex>.blk". */
static int parse_name(const char *name, uint64_t *hash)
{
    if (strlen(name) != BC_NAME_LEN || strcmp(name + 16, BC_NAME_SUFFIX) != 0)
        return 0;
    uint64_t h = 0;
    for (int i = 0; i < 16; i++) {
        char ch = name[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0)
            return 0;
        h = h << 4 | (uint64_t)d;
    }
    *hash = h;
    return 1;
}

/* Reads the header of the cache file at path and builds its entry; NULL if the file is not a whole,
 * valid cache file (the payload CRC is checked on each read instead, invariant 3). */
static bc_entry *entry_from_file(const char *path, uint64_t hash)
{
    uint8_t buf[BC_HEADER_BYTES + FLOE_MAX_KEY_BYTES];
    bc_entry *e = NULL;
    struct stat st;
    int fd = file_open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        goto out;
    ssize_t got = file_pread(fd, buf, sizeof buf, 0);
    if (got < BC_HEADER_BYTES)
        goto out;
    uint64_t offset, len;
    uint32_t key_len, payload_crc;
    if (header_decode(buf, buf + BC_HEADER_BYTES, (uint32_t)(got - BC_HEADER_BYTES), &offset, &len, &key_len,
                      &payload_crc) != 0)
        goto out;
    if (len > UINT64_MAX - BC_HEADER_BYTES - key_len ||
        (uint64_t)st.st_size != BC_HEADER_BYTES + key_len + len ||
        range_hash((const char *)buf + BC_HEADER_BYTES, key_len, offset, len) != hash)
        goto out;
    e = calloc(1, sizeof *e);
    if (!e || !(e->key = malloc(key_len + 1))) {
        free(e);
        e = NULL;
        goto out;
    }
    memcpy(e->key, buf + BC_HEADER_BYTES, key_len);
    e->key[key_len] = '\0';
    e->key_len = key_len;
    e->hash = hash;
    e->offset = offset;
    e->len = len;
    e->charge = (uint64_t)st.st_size;
    e->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
out:
    file_close(fd);
    return e;
}

static int entry_mtime_cmp(const void *a, const void *b)
{
    int64_t x = (*(bc_entry *const *)a)->mtime_ns, y = (*(bc_entry *const *)b)->mtime_ns;
    return x < y ? -1 : x > y;
}

/* Indexes the directory: deletes temp files and files that are not whole cache files, orders the
 * rest oldest-modified last in the LRU list, then evicts down to the budgets. */
static int index_directory(blockcache *bc)
{
    DIR *d = opendir(bc->dir);
    bc_entry **found = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    if (!d)
        return err_set(FLOE_EIO, "block cache: open %s: %s", bc->dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[PATH_MAX];
        uint64_t hash;
        if (entry_path(bc, de->d_name, path, sizeof path) != 0)
            continue; /* too long to name, so never a file of this cache */
        if (strncmp(de->d_name, BC_TMP_PREFIX, strlen(BC_TMP_PREFIX)) == 0) {
            file_unlink(path); /* a write cut short */
            continue;
        }
        if (!parse_name(de->d_name, &hash))
            continue; /* not ours: left alone */
        bc_entry *e = entry_from_file(path, hash);
        if (!e) {
            file_unlink(path);
            continue;
        }
        if (array_grow(&found, &cap, n + 1, sizeof *found, 256, SIZE_MAX) != 0) {
            entry_free(e);
            rc = err_set(FLOE_ENOMEM, "block cache: out of memory indexing %s", bc->dir);
            goto out;
        }
        found[n++] = e;
    }
    if (n)
        qsort(found, n, sizeof *found, entry_mtime_cmp);
    for (size_t i = 0; i < n; i++) {
        if (find_hash(bc, found[i]->hash)) { /* cannot happen: one file per name */
            entry_free(found[i]);
            continue;
        }
        found[i]->gen = ++bc->next_gen;
        index_add(bc, found[i]); /* newest ends up at the head */
    }
    n = 0;
    while (oldest_entry(bc) && (bc->bytes > bc->capacity || bc->entries > bc->max_count))
        evict_tail(bc);
out:
    for (size_t i = 0; i < n; i++)
        entry_free(found[i]);
    free(found);
    closedir(d);
    return rc;
}

int blockcache_open(const char *dir, uint64_t capacity_bytes, blockcache **out)
{
    blockcache *bc = NULL;
    int rc = 0, mu_init = 0, cv_init = 0;
    if (!dir || !dir[0] || !out)
        return err_set(FLOE_EINVAL, "block cache: no directory given");
    if ((rc = file_mkdir_p(dir)) < 0)
        return err_wrap(rc, "block cache");
    bc = calloc(1, sizeof *bc);
    if (bc)
        lru_list_init(&bc->lru);
    if (!bc || !(bc->dir = strdup(dir))) {
        rc = err_set(FLOE_ENOMEM, "block cache: out of memory");
        goto fail;
    }
    bc->capacity = capacity_bytes;
    bc->max_count = capacity_bytes / BC_BYTES_PER_ENTRY;
    if (bc->max_count < BC_MIN_COUNT)
        bc->max_count = BC_MIN_COUNT;
    if (bc->max_count > BC_MAX_COUNT)
        bc->max_count = BC_MAX_COUNT;
    if (capacity_bytes == 0)
        bc->max_count = 0;
    bc->nbuckets = 64;
    while (bc->nbuckets < bc->max_count)
        bc->nbuckets <<= 1;
    if (!(bc->buckets = calloc(bc->nbuckets, sizeof *bc->buckets))) {
        rc = err_set(FLOE_ENOMEM, "block cache: out of memory for %zu buckets", bc->nbuckets);
        goto fail;
    }
    if (pthread_mutex_init(&bc->mu, NULL) != 0) {
        rc = err_set(FLOE_ENOMEM, "block cache: cannot create a mutex");
        goto fail;
    }
    mu_init = 1;
    int cv_rc = clock_cond_init(&bc->cv);
    if (cv_rc == 0 && pthread_cond_init(&bc->settled_cv, NULL) != 0) {
        pthread_cond_destroy(&bc->cv);
        cv_rc = -1;
    }
    if (cv_rc != 0) {
        rc = err_set(FLOE_ENOMEM, "block cache: cannot create a condition variable");
        goto fail;
    }
    cv_init = 1;
    if ((rc = index_directory(bc)) < 0)
        goto fail;
    if (pthread_create(&bc->trimmer, NULL, trim_main, bc) != 0) {
        rc = err_set(FLOE_ENOMEM, "block cache: cannot start the trim thread");
        goto fail;
    }
    bc->trimmer_started = 1;
    *out = bc;
    return 0;
fail:
    if (bc) {
        while (bc->buckets && newest_entry(bc))
            index_remove(bc, newest_entry(bc), 0);
        if (cv_init) {
            pthread_cond_destroy(&bc->cv);
            pthread_cond_destroy(&bc->settled_cv);
        }
        if (mu_init)
            pthread_mutex_destroy(&bc->mu);
        free(bc->buckets);
        free(bc->dir);
        free(bc);
    }
    return rc;
}

void blockcache_close(blockcache *bc)
{
    if (!bc)
        return;
    if (bc->trimmer_started) {
        pthread_mutex_lock(&bc->mu);
        bc->stopping = 1;
        pthread_cond_signal(&bc->cv);
        pthread_mutex_unlock(&bc->mu);
        pthread_join(bc->trimmer, NULL);
    }
    while (newest_entry(bc))
        index_remove(bc, newest_entry(bc), 0); /* the files stay: the cache outlives the process */
    while (bc->pending_head) {                 /* not written yet: it is only a cache */
        bc_pending *p = bc->pending_head;
        bc->pending_head = p->next;
        free(p);
    }
    pthread_cond_destroy(&bc->cv);
    pthread_cond_destroy(&bc->settled_cv);
    pthread_mutex_destroy(&bc->mu);
    free(bc->buckets);
    free(bc->dir);
    free(bc);
}

/* Reads a cached range from the open file fd into buf and checks it (invariant 3). 0 or -1. */
static int read_cached(int fd, const char *key, uint32_t key_len, uint64_t offset, void *buf, size_t len)
{
    uint8_t hdr[BC_HEADER_BYTES + FLOE_MAX_KEY_BYTES];
    size_t hdr_len = BC_HEADER_BYTES + key_len;
    uint64_t f_off, f_len;
    uint32_t f_key_len, payload_crc;
    /* Header and key, then the payload straight into buf: file.h has no vectored read. */
    if (file_pread_all(fd, hdr, hdr_len, 0, NULL) != 0 || file_pread_all(fd, buf, len, hdr_len, NULL) != 0)
        return -1;
    if (header_decode(hdr, hdr + BC_HEADER_BYTES, key_len, &f_off, &f_len, &f_key_len, &payload_crc) != 0 ||
        f_off != offset || f_len != len || f_key_len != key_len ||
        memcmp(hdr + BC_HEADER_BYTES, key, key_len) != 0)
        return -1;
    return crc32c(buf, len) == payload_crc ? 0 : -1;
}

/* Writes the range as a temp file and moves it into place under mu, evicting what it must. Any
 * failure just leaves the range uncached (invariant 4). */
static void cache_insert(blockcache *bc, const char *key, uint32_t key_len, uint64_t hash, uint64_t offset,
                         const void *data, size_t len)
{
    uint64_t charge = BC_HEADER_BYTES + key_len + (uint64_t)len;
    char tmp[PATH_MAX], final[PATH_MAX];
    uint8_t hdr[BC_HEADER_BYTES + FLOE_MAX_KEY_BYTES];
    bc_entry *e = NULL;
    int fd = -1, tmp_exists = 0;
    if (bc->capacity == 0 || charge > bc->capacity / BC_ADMIT_DIVISOR || key_len > FLOE_MAX_KEY_BYTES)
        return;
    if (file_path(bc, hash, final, sizeof final) != 0)
        return;
    pthread_mutex_lock(&bc->mu);
    uint64_t gen = ++bc->next_gen;
    pthread_mutex_unlock(&bc->mu);
    int n = snprintf(tmp, sizeof tmp, "%s/" BC_TMP_PREFIX "%016" PRIx64 ".%" PRIu64 ".%ld", bc->dir, hash,
                     gen, (long)getpid());
    if (n <= 0 || (size_t)n >= sizeof tmp)
        return;
    e = calloc(1, sizeof *e);
    if (!e || !(e->key = malloc(key_len + 1)))
        goto out;
    memcpy(e->key, key, key_len);
    e->key[key_len] = '\0';
    e->key_len = key_len;
    e->hash = hash;
    e->offset = offset;
    e->len = len;
    e->charge = charge;
    e->gen = gen;

    header_encode(hdr, key, key_len, offset, len, crc32c(data, len));
    memcpy(hdr + BC_HEADER_BYTES, key, key_len);
    fd = file_open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        goto out;
    tmp_exists = 1;
    /* Header and key in one write, then the payload: file.h has no vectored write. */
    if (file_write_all(fd, hdr, BC_HEADER_BYTES + key_len) != 0 || file_write_all(fd, data, len) != 0)
        goto out;
    int close_rc = file_close(fd);
    fd = -1;
    if (close_rc != 0)
        goto out;

    pthread_mutex_lock(&bc->mu);
    if (bc->stopping) {
        pthread_mutex_unlock(&bc->mu);
        goto out;
    }
    bc_entry *old = find_hash(bc, hash);
    if (old)
        index_remove(bc, old, 0); /* its file is replaced by the rename below */
    while (oldest_entry(bc) && (bc->bytes + charge > bc->capacity || bc->entries + 1 > bc->max_count))
        evict_tail(bc);
    if (bc->bytes + charge > bc->capacity || bc->entries + 1 > bc->max_count ||
        file_rename(tmp, final) != 0) {
        if (old)
            file_unlink(final); /* its entry is gone: keep invariant 1 */
        pthread_mutex_unlock(&bc->mu);
        goto out;
    }
    tmp_exists = 0;
    index_add(bc, e);
    e = NULL;
    if (above_high_water(bc))
        pthread_cond_signal(&bc->cv);
    pthread_mutex_unlock(&bc->mu);
out:
    if (fd >= 0)
        file_close(fd);
    if (tmp_exists)
        file_unlink(tmp);
    entry_free(e);
}

int blockcache_read(blockcache *bc, cold_t *c, const char *key, uint64_t offset, void *buf, size_t len)
{
    char path[PATH_MAX];
    int fd = -1;
    uint64_t gen = 0;
    if (!key || (len && !buf))
        return err_set(FLOE_EINVAL, "block cache: no key or buffer");
    size_t key_len = strlen(key);
    if (!bc || len == 0 || key_len == 0 || key_len > FLOE_MAX_KEY_BYTES)
        return cold_get_range(c, key, offset, buf, len); /* nothing to cache; the store checks the key */
    uint64_t hash = range_hash(key, key_len, offset, len);
    if (file_path(bc, hash, path, sizeof path) != 0)
        return cold_get_range(c, key, offset, buf, len);

    pthread_mutex_lock(&bc->mu);
    bc_entry *e = find_hash(bc, hash);
    if (e && entry_is(e, key, key_len, offset, len)) {
        lru_list_touch(&bc->lru, &e->link);
        gen = e->gen;
        /* Opened under mu, so the file is the entry's (invariant 1); read after unlocking. */
        fd = file_open(path, O_RDONLY | O_CLOEXEC, 0);
    }
    pthread_mutex_unlock(&bc->mu);

    if (gen) {
        int ok = fd >= 0 && read_cached(fd, key, (uint32_t)key_len, offset, buf, len) == 0;
        if (fd >= 0)
            file_close(fd);
        pthread_mutex_lock(&bc->mu);
        if (ok) {
            bc->hits++;
            pthread_mutex_unlock(&bc->mu);
            return 0;
        }
        /* Damaged or gone: drop it (if it is still the entry we read) and read it again. */
        e = find_hash(bc, hash);
        if (e && e->gen == gen)
            index_remove(bc, e, 1);
        pthread_mutex_unlock(&bc->mu);
    }

    pthread_mutex_lock(&bc->mu);
    /* Fetched recently and still waiting to be written: serve the queued copy. The queue holds
     * the ranges fetched in the last moments, so it is short. */
    for (bc_pending *p = bc->pending_head; p; p = p->next) {
        if (!p->forgotten && p->hash == hash && p->offset == offset && p->len == len &&
            p->key_len == key_len && memcmp(p->key, key, key_len) == 0) {
            memcpy(buf, p->data, len);
            bc->hits++;
            pthread_mutex_unlock(&bc->mu);
            return 0;
        }
    }
    bc->misses++;
    int queue = bc->capacity != 0 && bc->trimmer_started &&
                BC_HEADER_BYTES + key_len + (uint64_t)len <= bc->capacity / BC_ADMIT_DIVISOR &&
                bc->pending_bytes + len <= BC_PENDING_MAX_BYTES;
    pthread_mutex_unlock(&bc->mu);
    int rc = cold_get_range(c, key, offset, buf, len);
    if (rc < 0 || !queue)
        return rc;
    bc_pending *p = malloc(sizeof *p + len + key_len + 1);
    if (!p)
        return 0; /* uncached: invariant 4 */
    p->next = NULL;
    p->forgotten = 0;
    p->hash = hash;
    p->offset = offset;
    p->len = len;
    p->key_len = (uint32_t)key_len;
    memcpy(p->data, buf, len);
    p->key = (char *)p->data + len;
    memcpy(p->key, key, key_len + 1);
    pthread_mutex_lock(&bc->mu);
    if (bc->stopping || bc->pending_bytes + len > BC_PENDING_MAX_BYTES) {
        pthread_mutex_unlock(&bc->mu);
        free(p);
        return 0;
    }
    if (bc->pending_tail)
        bc->pending_tail->next = p;
    else
        bc->pending_head = p;
    bc->pending_tail = p;
    bc->pending_bytes += len;
    pthread_cond_signal(&bc->cv);
    pthread_mutex_unlock(&bc->mu);
    return 0;
}

void blockcache_settle(blockcache *bc)
{
    if (!bc)
        return;
    pthread_mutex_lock(&bc->mu);
    while (bc->pending_head && !bc->stopping)
        pthread_cond_wait(&bc->settled_cv, &bc->mu);
    pthread_mutex_unlock(&bc->mu);
}

void blockcache_forget(blockcache *bc, const char *key)
{
    if (!bc || !key)
        return;
    size_t key_len = strlen(key);
    pthread_mutex_lock(&bc->mu);
    for (lru_link *l = bc->lru.next, *next; l != &bc->lru; l = next) {
        next = l->next;
        bc_entry *e = LRU_LIST_ENTRY(l, bc_entry, link);
        if (e->key_len == key_len && memcmp(e->key, key, key_len) == 0)
            index_remove(bc, e, 1);
    }
    for (bc_pending *p = bc->pending_head; p; p = p->next)
        if (p->key_len == key_len && memcmp(p->key, key, key_len) == 0)
            p->forgotten = 1;
    pthread_mutex_unlock(&bc->mu);
}

void blockcache_get_stats(blockcache *bc, blockcache_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!bc)
        return;
    pthread_mutex_lock(&bc->mu);
    out->bytes = bc->bytes;
    out->entries = bc->entries;
    out->hits = bc->hits;
    out->misses = bc->misses;
    out->evictions = bc->evictions;
    pthread_mutex_unlock(&bc->mu);
}

/* The segment_source blockcache_source makes: a cold object read through the cache. */
typedef struct bc_source {
    blockcache *bc;
    cold_t *c;
    char *key;
    uint64_t size;
} bc_source;

static int source_read_at(void *ctx, uint64_t offset, void *buf, size_t len)
{
    bc_source *s = ctx;
    if (offset > s->size || len > s->size - offset)
        return err_set(FLOE_ERANGE,
                       "cold object %s: bytes %" PRIu64 "..%" PRIu64 " are outside its %" PRIu64 " bytes",
                       s->key, offset, offset + len, s->size);
    int rc = blockcache_read(s->bc, s->c, s->key, offset, buf, len);
    /* The manifest names this object: its absence is damage to report, never a key "not found". */
    if (rc == FLOE_ENOTFOUND)
        rc = err_set(FLOE_ECORRUPT,
                     "cold object %s, which the manifest names, is missing from the cold tier: %s", s->key,
                     floe_last_error());
    return rc;
}

int blockcache_source(blockcache *bc, cold_t *c, const char *key, uint64_t object_bytes, segment_source *src,
                      void **ctx_out)
{
    if (!c || !key || !key[0] || !src || !ctx_out)
        return err_set(FLOE_EINVAL, "block cache source: no store, key or output");
    bc_source *s = calloc(1, sizeof *s);
    if (!s || !(s->key = strdup(key))) {
        free(s);
        return err_set(FLOE_ENOMEM, "block cache source %s: out of memory", key);
    }
    s->bc = bc;
    s->c = c;
    s->size = object_bytes;
    memset(src, 0, sizeof *src);
    src->read_at = source_read_at;
    src->ctx = s;
    src->size = object_bytes;
    src->name = s->key;
    src->base = NULL;
    src->block_cache = NULL;
    *ctx_out = s;
    return 0;
}

void blockcache_source_free(void *ctx)
{
    bc_source *s = ctx;
    if (!s)
        return;
    free(s->key);
    free(s);
}
