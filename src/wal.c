/* The write-ahead log: numbered files of CRC32C-checked records, written by group commit and
 * replayed on open. The byte layout is in docs/formats.md, section "WAL".
 *
 * How a write travels:
 *
 *   wal_append ──copy──► active batch buffer ──swap (leader)──► write() ──► fdatasync (ALWAYS)
 *                         (under mu, no syscall)                 (outside mu, one leader at a time)
 *
 * Any thread that needs the log written (wal_sync, a large batch in wal_append, wal_rotate, the
 * interval thread, wal_close) runs flush_to(). If no I/O round is running it becomes the leader:
 * it swaps the active buffer with the empty spare, drops the mutex, writes (and fdatasyncs), takes
 * the mutex back and publishes the new written/synced LSNs. Threads whose LSN is covered by a round
 * in flight wait on io_done instead of issuing their own syscalls, so one fdatasync acknowledges
 * every record appended before its round started.
 *
 * Invariants:
 * 1. LSNs are byte positions in the stream of records since open (file headers are not counted):
 *    synced_lsn <= written_lsn <= appended_lsn, each only grows. Every record ending at or below
 *    written_lsn is in a file in the OS; at or below synced_lsn it has been fdatasynced (ALWAYS,
 *    INTERVAL), and so has the directory entry of its file.
 * 2. At most one I/O round runs at a time (io_busy). Only the round's leader touches fd, file_no
 *    and file_bytes; it changes them under mu so that the interval thread reads a consistent pair
 *    (fd, written_lsn). Records are written in append order, so file order is sequence order.
 * 3. Between rounds `spare` is an empty buffer; during a round the leader owns the buffer it
 *    took and `spare` is empty-handed (NULL). The active buffer holds whole records only.
 * 4. A record is only ever added to an active batch shorter than batch_write_bytes: wal_append
 *    writes a longer one out first (before it copies its record in), so a buffer never exceeds
 *    batch_write_bytes + max_record_bytes: the cap on the only input-grown memory here. The batch
 *    a record completes is left for the caller's wal_sync (or the next wal_append), which the
 *    store makes right after it lets go of its write mutex: a large record's write never holds
 *    that mutex, so other writers copy theirs in while it goes to the disk.
 * 5. A failed write, fdatasync or file creation sets `failed` for good: no later round starts and
 *    every call returns FLOE_EREADONLY with fail_msg. Nothing is retried.
 * 6. A file is rotated only between batches, so every file but the last ends on a record boundary.
 *    Before a new file takes records the old one is fdatasynced, the new one's header is
 *    fdatasynced and the directory is fsynced, in every sync mode; wal_open fsyncs the last file it
 *    replayed before it makes the next. So a damaged record in any file but the last is never a
 *    torn write, and a last file's header is never torn once records follow it.
 * 7. Sequence numbers strictly increase across the whole log; wal_append refuses anything else, so
 *    the log it writes always replays.
 * 8. In the LAST file, a record boundary whose 24 header bytes are all zero starts a torn batch, even
 *    when CRC-valid records follow, and recovery cuts the file there. The reasoning: a record is
 *    acknowledged only after an fdatasync that covers it has returned (ALWAYS: the round's own;
 *    INTERVAL: a later tick's), and an fdatasync makes every earlier page of the file durable too.
 *    A record header is never all zero (its length is at least 25), so zeros at a record boundary
 *    are space never written (reserved by posix_fallocate, or a file extended before its data
 *    landed): no fdatasync covering that boundary has completed, so nothing from there on was
 *    acknowledged. The valid records after it are the same unsynced batch, whose pages reached the
 *    disk out of order. Any other damage is refused with its file and byte offset: a bad record
 *    whose header is not all zero (a lost page that starts inside a record looks exactly like a
 *    damaged acknowledged record whose value holds zeros), and any damage in a file but the last
 *    (invariant 6) — unless invariant 9 shows the bytes were never synced.
 * 9. Every batch (one write) starts with a sync mark whose payload is file_synced when the batch was
 *    written: a lower bound on the bytes of its file that an fdatasync had made durable. So in the
 *    last file, a bad record at X that no later CRC-valid mark shows was synced (every later mark
 *    says <= X) lies in bytes that were not durable when anything after it was written: a power
 *    loss can have dropped or zeroed any of those pages, in any order, and nothing from X on was
 *    acknowledged through an fdatasync that replay can see. Recovery cuts it. A later mark above X
 *    proves X had been synced: that is damage, refused. In ALWAYS mode, when an fdatasync leaves no
 *    record waiting, the leader writes the next batch's mark at once (write_next_mark_locked), so
 *    the newest synced batch is covered too. (Version 1 files have no marks.)
 * 10. A file's header version decides the layout of every record in it: from version 3 on, a put or
 *    delete carries its 8-byte write time before the key (the header and the mark are the same in
 *    versions 2 and 3). This build writes version 3 only; records of version 1 and 2 files replay
 *    with write time 0 ("unknown"). A torn header cannot say which layout follows, so the search for
 *    valid records behind one tries both.
 * 11. Group commits are counted in stats.synced_writes and stats.batch_hist by the records (writes)
 *    each one acknowledged, once per record: with ALWAYS at the fdatasync that first covers it (an
 *    I/O round's, or the rotation's fsync of the old file after a round that only wrote), with
 *    INTERVAL and NEVER at the write() that hands it to the OS, which is what wal_sync waits for
 *    there. A failed round counts nothing. Syncs that cover no new record (a new file's header, a
 *    rotation after a synced round, the interval thread's) are in stats.syncs only. The counters
 *    are updated inside the critical sections that already publish the round's LSNs.
 *
 * 12. A batch of at least opts.direct_batch_bytes (not counting a mark already in the file) is
 *    written around the page cache (write_batch_direct): its mark if not yet written, then a pad
 *    record (type 6, version 5 on) up to the next WAL_DIRECT_ALIGN boundary, through the page
 *    cache; then its whole aligned blocks with O_DIRECT; then the short tail through the page cache.
 *    Nothing already in the file is rewritten (O_DIRECT needs aligned offsets, and rewriting the
 *    synced part of a block could tear an acknowledged record), so a batch is still a plain append
 *    and invariants 6, 8 and 9 hold as for any batch: its mark leads it, its one fdatasync covers
 *    the pad and the records alike. Pads are records in the file but not in the LSNs (file_bytes
 *    counts them; appended/written/synced_lsn do not); replay skips them like marks.
 *
 * Lock order: the caller's write mutex (serialising wal_append and wal_rotate) before mu. */
#include "wal.h"
#include "array.h"
#include "coding.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "crc32c.h"
#include "error.h"
#include "file.h"

#define WAL_FILE_HEADER_BYTES 28
#define WAL_RECORD_HEADER_BYTES 24
#define WAL_MAGIC "FLOEWAL" /* 7 characters and the terminating NUL: 8 bytes */
#define WAL_FORMAT_VERSION 5u
/* Files without pad records (type 6): still replayed, never written. */
#define WAL_FORMAT_VERSION_NO_PADS 4u
/* Files with write times but no object records (type 5): still replayed, never written. */
#define WAL_FORMAT_VERSION_NO_OBJECTS 3u
/* Files written before sync marks existed: still replayed, never written. */
#define WAL_FORMAT_VERSION_NO_MARKS 1u
/* Files with sync marks but no write times: still replayed (write time 0), never written. */
#define WAL_FORMAT_VERSION_NO_WRITE_TIME 2u
/* From version 3 on, a put or delete record's payload starts with its write time (u64 unix ms). */
#define WAL_WRITE_TIME_BYTES 8
/* A sync mark (version 2): a record header with type WAL_REC_MARK and an 8-byte payload. */
#define WAL_REC_MARK 3
#define WAL_MARK_BYTES (WAL_RECORD_HEADER_BYTES + 8)
/* A pad record (version 5): a record header with type WAL_REC_PAD and a payload of zeros that
 * brings the next record to a WAL_DIRECT_ALIGN boundary (invariant 12). Replay skips it. */
#define WAL_REC_PAD 6
#define WAL_PAD_MIN_BYTES (WAL_RECORD_HEADER_BYTES + 1)
#define WAL_DIRECT_ALIGN FILE_DIRECT_ALIGN
#define WAL_NAME_DIGITS 20
#define WAL_NAME_BYTES (WAL_NAME_DIGITS + 4) /* "<20 digits>.log" */
#define WAL_FIRST_FILE_NO 1
/* Room for a message that quotes a path and an OS error. */
#define WAL_MSG_BYTES (PATH_MAX + 512)
/* Ends the message of every refusal that wal_repair can mend. */
#define WAL_REPAIR_HINT " (floe repair cuts the WAL at the damage and keeps the cut bytes)"
/* A directory holding more WAL files than this is refused rather than listed into memory. */
#define WAL_MAX_FILES 1000000
#define WAL_BUF_INITIAL_BYTES (64u * 1024)
/* In NEVER and INTERVAL mode wal_append writes the batch out itself once it reaches this size. */
#define WAL_BATCH_WRITE_BYTES (1u * 1024 * 1024)
/* In ALWAYS mode leaders write the batch; wal_append only steps in when it gets this large. */
#define WAL_ALWAYS_BATCH_WRITE_BYTES (8u * 1024 * 1024)

_Static_assert(sizeof(WAL_MAGIC) == 8, "the magic is 8 bytes");
_Static_assert(WAL_FILE_HEADER_BYTES == 8 + 4 + 4 + 8 + 4, "file header layout");
_Static_assert(WAL_RECORD_HEADER_BYTES == 4 + 4 + 1 + 1 + 2 + 4 + 8, "record header layout");

typedef struct wal_buf {
    uint8_t *data; /* malloc'd */
    size_t len;
    size_t cap;
} wal_buf;

struct wal {
    /* Fixed after wal_open. */
    char *dir; /* owned */
    int dir_fd;
    wal_options opts;
    size_t batch_write_bytes;
    size_t buf_max_bytes;

    /* Used only by the caller-serialised wal_append / wal_rotate. */
    uint64_t last_seq;
    int have_last_seq;

    pthread_mutex_t mu;     /* guards every field below */
    pthread_cond_t io_done; /* broadcast whenever an I/O round ends or LSNs advance */
    wal_buf active;
    wal_buf spare;
    uint64_t appended_lsn, written_lsn, synced_lsn;
    /* Records (not marks) in the active buffer, written since open, and covered by an fdatasync
     * since open (ALWAYS only): what invariant 11 counts with. */
    uint64_t active_records, written_records, synced_records;
    int io_busy;
    int fd;
    uint64_t file_no;
    uint64_t file_bytes; /* size of the current file */
    uint64_t file_synced; /* bytes of the current file known fdatasynced: what the next mark says */
    int mark_written;     /* the active buffer's leading mark is already in the file (ALWAYS) */
    /* The leader's (invariant 2): a FILE_DIRECT_ALIGN-aligned FILE_DIRECT_BYTES staging buffer
     * for direct writes, made on first use, and whether the file system refused them. */
    uint8_t *direct_buf;
    int direct_refused;
    int failed;
    char fail_msg[WAL_MSG_BYTES];
    wal_stats stats;

    /* The interval thread (FLOE_SYNC_INTERVAL only). */
    pthread_cond_t stop_cv; /* signalled by wal_close; waits use CLOCK_MONOTONIC */
    int stopping;
    int interval_started;
    pthread_t interval_thread;
};

static void file_path(const wal_t *w, uint64_t no, char *out, size_t out_len)
{
    snprintf(out, out_len, "%s/%0*llu.log", w->dir, WAL_NAME_DIGITS, (unsigned long long)no);
}

/* Marks the WAL failed (invariant 5). Called with mu held; keeps the first cause. */
static void set_failed_locked(wal_t *w, const char *msg)
{
    if (!w->failed) {
        w->failed = 1;
        snprintf(w->fail_msg, sizeof w->fail_msg, "%s", msg);
    }
    pthread_cond_broadcast(&w->io_done);
}

/* The error every call returns once the WAL has failed. Called with mu held. */
static int readonly_error_locked(const wal_t *w)
{
    return err_set(FLOE_EREADONLY, "%s; the WAL is read-only", w->fail_msg);
}

static void encode_file_header(uint8_t *h, uint64_t file_no)
{
    memcpy(h, WAL_MAGIC, 8);
    put_le32(h + 8, WAL_FORMAT_VERSION);
    put_le32(h + 12, 0);
    put_le64(h + 16, file_no);
    put_le32(h + 24, crc32c(h, 24));
}

/* A header of a format this build does not know: newer, not damaged, so never cut by wal_repair. */
static const char wal_why_version[] = "unsupported WAL format version";
static const char wal_why_flags[] = "unknown flags in file header";

/* Checks a file header. Returns NULL if it is good, else a static description of what is wrong.
 * *torn_out is 1 when the header looks like one whose write a crash interrupted (cut short or
 * failing its CRC, but starting with our magic or with zeros), 0 when the file is not one we wrote
 * or was written whole and is wrong: only the former may ever be removed as a torn tail. */
static const char *check_file_header(const uint8_t *h, size_t avail, uint64_t file_no, int *torn_out,
                                     uint32_t *version_out)
{
    size_t head = avail < WAL_FILE_HEADER_BYTES ? avail : WAL_FILE_HEADER_BYTES;
    size_t magic_head = head < 8 ? head : 8;
    int zeros = 1;
    for (size_t i = 0; i < head; i++)
        zeros &= h[i] == 0;
    int ours = magic_head == 0 || memcmp(h, WAL_MAGIC, magic_head) == 0;
    *torn_out = 0;
    if (!ours && !zeros)
        return "not a floe WAL file: bad magic";
    if (avail < WAL_FILE_HEADER_BYTES || crc32c(h, 24) != get_le32(h + 24)) {
        *torn_out = 1;
        return avail < WAL_FILE_HEADER_BYTES ? "file is shorter than its header" : "file header crc mismatch";
    }
    if (memcmp(h, WAL_MAGIC, 8) != 0)
        return "not a floe WAL file: bad magic";
    *version_out = get_le32(h + 8);
    if (*version_out != WAL_FORMAT_VERSION && *version_out != WAL_FORMAT_VERSION_NO_PADS &&
        *version_out != WAL_FORMAT_VERSION_NO_OBJECTS &&
        *version_out != WAL_FORMAT_VERSION_NO_WRITE_TIME && *version_out != WAL_FORMAT_VERSION_NO_MARKS)
        return wal_why_version;
    if (get_le32(h + 12) != 0)
        return wal_why_flags;
    if (get_le64(h + 16) != file_no)
        return "file header names a different file number than the file name";
    return NULL;
}

/* Writes the header of a sync mark at p, whose payload seal_mark fills when its batch is written. */
static void reserve_mark(uint8_t *p)
{
    memset(p, 0, WAL_MARK_BYTES);
    put_le32(p + 4, WAL_MARK_BYTES);
    p[8] = WAL_REC_MARK;
    put_le32(p + 12, 8);
}

/* Fills the sync mark at the start of a batch (invariant 9): synced is how many bytes of the file
 * the batch lands in are known fdatasynced now. */
static void seal_mark(uint8_t *p, uint64_t synced)
{
    put_le64(p + WAL_RECORD_HEADER_BYTES, synced);
    put_le32(p, crc32c(p + 4, WAL_MARK_BYTES - 4));
}

/* Creates WAL file number no with its header. The header is fdatasynced and the directory fsynced
 * (in every mode), so the file survives a crash before any record is synced into it.
 * Returns 0 and the open fd in *fd_out, or an errno-style failure with a message in msg. Does not
 * take mu; *syncs_out counts the fdatasyncs done. */
static int create_file(wal_t *w, uint64_t no, int *fd_out, uint64_t *syncs_out, char *msg, size_t msg_len)
{
    char path[PATH_MAX];
    uint8_t h[WAL_FILE_HEADER_BYTES];
    int fd = -1;
    int e = 0;

    *syncs_out = 0;
    file_path(w, no, path, sizeof path);
    fd = file_open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        e = errno;
        snprintf(msg, msg_len, "create %s: %s", path, strerror(e));
        goto out;
    }
    encode_file_header(h, no);
    e = file_write_all(fd, h, sizeof h);
    if (e) {
        snprintf(msg, msg_len, "write header of %s: %s", path, strerror(e));
        goto out;
    }
    /* Reserve the file's space now: an fdatasync of a write inside the file's size does not have to
     * commit a size change, which makes each group commit ~30% cheaper here. The zeros this leaves
     * after the last record are cut at rotation and close, and recognised at recovery. Not every
     * file system can: then it is just not reserved. */
    if (w->opts.sync != FLOE_SYNC_NEVER)
        (void)file_fallocate(fd, 0, (off_t)w->opts.file_bytes);
    /* In every mode, even "never" (once per file): a header lost to a power loss while records
     * behind it landed would make the file unreadable, not merely short. */
    (*syncs_out)++;
    if (file_fdatasync(fd) != 0) {
        e = errno;
        snprintf(msg, msg_len, "fdatasync %s: %s", path, strerror(e));
        goto out;
    }
    if (file_fsync(w->dir_fd) != 0) {
        e = errno;
        snprintf(msg, msg_len, "fsync directory %s: %s", w->dir, strerror(e));
        goto out;
    }
out:
    if (e) {
        if (fd >= 0)
            file_close(fd);
        return e;
    }
    *fd_out = fd;
    return 0;
}

/* 1 if all len bytes at p are zero. */
static int all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Counts one group commit that acknowledged n records (invariant 11): bucket i of batch_hist holds
 * n in [2^i, 2^(i+1)), the last bucket everything from 2^(FLOE_WAL_BATCH_BUCKETS - 1) up. Called
 * with mu held. */
static void count_group_commit_locked(wal_t *w, uint64_t n)
{
    if (n == 0)
        return;
    unsigned i = 0;
    while (i + 1 < FLOE_WAL_BATCH_BUCKETS && (n >> (i + 1)) != 0)
        i++;
    w->stats.batch_hist[i]++;
    w->stats.synced_writes += n;
}

/* With ALWAYS, counts the records an fdatasync that covered every record written up to
 * written_records made durable for the first time (invariant 11). Called with mu held. */
static void count_synced_locked(wal_t *w, uint64_t written_records)
{
    if (w->opts.sync != FLOE_SYNC_ALWAYS || written_records <= w->synced_records)
        return;
    count_group_commit_locked(w, written_records - w->synced_records);
    w->synced_records = written_records;
}

/* Moves to file number file_no + 1 (invariant 6). Called by the round's leader with mu held;
 * drops it around the syscalls and returns with it held. */
static void rotate_locked(wal_t *w)
{
    char msg[WAL_MSG_BYTES];
    int old_fd = w->fd;
    uint64_t next_no = w->file_no + 1;
    uint64_t covered = w->written_lsn;
    uint64_t covered_records = w->written_records;
    int preallocated = w->opts.sync != FLOE_SYNC_NEVER;
    /* Whatever the mode, the old file is made durable before the next exists (invariant 6). */
    int sync_old = preallocated || w->file_synced < w->file_bytes;
    uint64_t old_len = w->file_bytes;
    uint64_t syncs = 0;
    int new_fd = -1;
    int e = 0;

    pthread_mutex_unlock(&w->mu);
    /* Cut the reserved zeros off before the next file exists: only the last file may end in
     * anything but a whole record (invariant of recovery). */
    if (preallocated && file_ftruncate(old_fd, (off_t)old_len) != 0) {
        char path[PATH_MAX];
        e = errno;
        file_path(w, next_no - 1, path, sizeof path);
        snprintf(msg, sizeof msg, "truncate %s to %llu bytes: %s", path, (unsigned long long)old_len,
                 strerror(e));
    }
    if (!e && sync_old) {
        syncs++;
        if ((preallocated ? file_fsync(old_fd) : file_fdatasync(old_fd)) != 0) {
            char path[PATH_MAX];
            e = errno;
            file_path(w, next_no - 1, path, sizeof path);
            snprintf(msg, sizeof msg, "fdatasync %s: %s", path, strerror(e));
        }
    }
    uint64_t create_syncs = 0;
    if (!e)
        e = create_file(w, next_no, &new_fd, &create_syncs, msg, sizeof msg);
    pthread_mutex_lock(&w->mu);
    w->stats.syncs += syncs + create_syncs;
    if (e) {
        set_failed_locked(w, msg);
        return;
    }
    if (sync_old)
        count_synced_locked(w, covered_records);
    if (sync_old && w->synced_lsn < covered) {
        w->synced_lsn = covered;
        pthread_cond_broadcast(&w->io_done);
    }
    w->fd = new_fd;
    w->file_no = next_no;
    w->file_bytes = WAL_FILE_HEADER_BYTES;
    w->file_synced = WAL_FILE_HEADER_BYTES;
    w->stats.bytes_written += WAL_FILE_HEADER_BYTES;
    w->stats.files++;
    /* The interval thread syncs through its own dup() of the fd, so closing ours is safe. */
    pthread_mutex_unlock(&w->mu);
    file_close(old_fd);
    pthread_mutex_lock(&w->mu);
}

/* Writes the next batch's sync mark at once, right after an fdatasync that left no record waiting
 * (ALWAYS; invariant 9): so that the last batch before the WAL goes quiet has a mark after it saying
 * it was synced, and damage to it is refused rather than cut as a torn write. (When records wait,
 * their batch follows at once with its own mark.) The mark leads the empty active buffer, and the
 * next round writes the buffer from after it. Called by the round's leader with mu held and the
 * active buffer empty; drops mu around the write. Without memory for the mark it writes none. */
static void write_next_mark_locked(wal_t *w)
{
    if (w->active.cap < WAL_MARK_BYTES &&
        array_grow(&w->active.data, &w->active.cap, WAL_MARK_BYTES, 1, WAL_BUF_INITIAL_BYTES,
                   w->buf_max_bytes) != 0)
        return;
    reserve_mark(w->active.data);
    w->active.len = WAL_MARK_BYTES;
    w->appended_lsn += WAL_MARK_BYTES;
    uint8_t mark[WAL_MARK_BYTES];
    seal_mark(w->active.data, w->file_synced);
    memcpy(mark, w->active.data, sizeof mark);
    int fd = w->fd;
    pthread_mutex_unlock(&w->mu);
    int e = file_write_all(fd, mark, sizeof mark);
    pthread_mutex_lock(&w->mu);
    if (e) {
        char msg[WAL_MSG_BYTES], path[PATH_MAX];
        file_path(w, w->file_no, path, sizeof path);
        snprintf(msg, sizeof msg, "write %s: %s", path, strerror(e));
        set_failed_locked(w, msg);
        return;
    }
    w->mark_written = 1;
    w->file_bytes += WAL_MARK_BYTES;
    w->stats.bytes_written += WAL_MARK_BYTES;
    /* A mark holds no write: when nothing was appended behind it yet, its LSN bytes count as written
     * and synced, so that waiting for everything appended (close, rotate) starts no round for it. */
    if (w->written_lsn + WAL_MARK_BYTES == w->appended_lsn) {
        w->written_lsn = w->appended_lsn;
        if (w->synced_lsn + WAL_MARK_BYTES == w->appended_lsn)
            w->synced_lsn = w->appended_lsn;
    }
}

/* Writes a batch of len bytes at p, landing at offset `at` of the file open as fd, around the page
 * cache (invariant 12): the first `lead` bytes (its sync mark, when not yet in the file) and a pad
 * record up to the next WAL_DIRECT_ALIGN boundary through the page cache, then the whole aligned
 * blocks of the rest with O_DIRECT through w->direct_buf, then the short tail through the page cache
 * again. Where the file system refuses O_DIRECT the rest is written plainly (and later batches skip
 * all this). *pad_out gets the pad's bytes, which the file holds beyond len. Returns 0 or errno. */
static int write_batch_direct(wal_t *w, int fd, uint64_t at, const uint8_t *p, size_t len, size_t lead,
                              size_t *pad_out)
{
    uint8_t head[WAL_MARK_BYTES + WAL_DIRECT_ALIGN + WAL_PAD_MIN_BYTES];
    size_t pad = WAL_DIRECT_ALIGN - (size_t)((at + lead) % WAL_DIRECT_ALIGN);
    if (pad < WAL_PAD_MIN_BYTES)
        pad += WAL_DIRECT_ALIGN;
    *pad_out = 0;
    if (!w->direct_buf) {
        void *buf = NULL;
        if (posix_memalign(&buf, FILE_DIRECT_ALIGN, FILE_DIRECT_BYTES) != 0)
            return file_write_all(fd, p, len); /* no memory for it: the plain way */
        w->direct_buf = buf;
    }
    memcpy(head, p, lead);
    uint8_t *r = head + lead;
    memset(r, 0, pad);
    put_le32(r + 4, (uint32_t)pad);
    r[8] = WAL_REC_PAD;
    put_le32(r + 12, (uint32_t)(pad - WAL_RECORD_HEADER_BYTES));
    put_le32(r, crc32c(r + 4, pad - 4));
    int e = file_write_all(fd, head, lead + pad);
    if (e)
        return e;
    *pad_out = pad;
    p += lead;
    len -= lead;
    size_t whole = len - len % WAL_DIRECT_ALIGN;
    int direct = whole > 0 && (e = file_set_direct(fd, 1)) == 0;
    if (!direct && whole > 0 && e != EINVAL)
        return e;
    while (direct && whole > 0) {
        size_t n = whole < FILE_DIRECT_BYTES ? whole : FILE_DIRECT_BYTES;
        memcpy(w->direct_buf, p, n);
        if ((e = file_write_all(fd, w->direct_buf, n)) == EINVAL)
            break; /* accepted the flag, refused the write: nothing of it was written */
        if (e) {
            (void)file_set_direct(fd, 0);
            return e;
        }
        p += n;
        len -= n;
        whole -= n;
    }
    if (direct && (e = file_set_direct(fd, 0)) != 0)
        return e;
    if (whole > 0)
        w->direct_refused = 1;
    return file_write_all(fd, p, len);
}

/* One I/O round. The caller holds mu and has just set io_busy; this returns with mu held, io_busy
 * cleared and waiters woken. want_sync adds an fdatasync after the write; force_rotate starts a new
 * file afterwards even if the current one is not full. */
static void io_round(wal_t *w, int want_sync, int force_rotate)
{
    wal_buf batch = w->active;
    uint64_t end = w->appended_lsn;
    uint64_t batch_records = w->active_records;
    int fd = w->fd;
    char msg[WAL_MSG_BYTES];
    int e = 0;
    int synced = 0;

    size_t skip = w->mark_written ? WAL_MARK_BYTES : 0;
    uint64_t at = w->file_bytes; /* where batch.data + skip lands */
    size_t pad = 0;
    int direct = w->opts.direct_batch_bytes && !w->direct_refused &&
                 batch.len - skip >= w->opts.direct_batch_bytes;
    w->mark_written = 0;
    w->active = w->spare;
    w->spare = (wal_buf){0};
    w->active_records = 0;
    if (batch.len > 0 && !skip)
        seal_mark(batch.data, w->file_synced);
    pthread_mutex_unlock(&w->mu);

    if (batch.len > skip) {
        e = direct ? write_batch_direct(w, fd, at, batch.data + skip, batch.len - skip, skip ? 0 : WAL_MARK_BYTES, &pad)
                   : file_write_all(fd, batch.data + skip, batch.len - skip);
        if (e) {
            char path[PATH_MAX];
            file_path(w, w->file_no, path, sizeof path);
            snprintf(msg, sizeof msg, "write %s: %s", path, strerror(e));
        }
    }
    if (!e && want_sync) {
        synced = 1;
        if (file_fdatasync(fd) != 0) {
            char path[PATH_MAX];
            e = errno;
            file_path(w, w->file_no, path, sizeof path);
            snprintf(msg, sizeof msg, "fdatasync %s: %s", path, strerror(e));
        }
    }
    size_t batch_bytes = batch.len - skip + pad; /* the pad is in the file, not in the LSNs */
    /* A rare huge batch should not pin its memory for the life of the WAL. */
    if (batch.cap > 2 * w->batch_write_bytes) {
        uint8_t *smaller = realloc(batch.data, WAL_BUF_INITIAL_BYTES);
        if (smaller) {
            batch.data = smaller;
            batch.cap = WAL_BUF_INITIAL_BYTES;
        }
    }

    pthread_mutex_lock(&w->mu);
    batch.len = 0;
    w->spare = batch;
    if (synced)
        w->stats.syncs++;
    if (e) {
        set_failed_locked(w, msg);
    } else {
        w->stats.bytes_written += batch_bytes;
        w->file_bytes += batch_bytes;
        w->written_lsn = end;
        w->written_records += batch_records;
        if (w->opts.sync != FLOE_SYNC_ALWAYS)
            count_group_commit_locked(w, batch_records);
        else if (synced)
            count_synced_locked(w, w->written_records);
        if (synced && w->synced_lsn < end)
            w->synced_lsn = end;
        if (synced)
            w->file_synced = w->file_bytes;
        /* Release followers before a possible rotation: their records are already covered. */
        pthread_cond_broadcast(&w->io_done);
        uint64_t file_no = w->file_no;
        if (force_rotate || w->file_bytes >= w->opts.file_bytes)
            rotate_locked(w);
        /* Records appended during the round start the next batch at once, with its own mark. */
        if (synced && !w->failed && w->opts.sync == FLOE_SYNC_ALWAYS && w->active.len == 0 &&
            (batch_bytes > 0 || w->file_no != file_no))
            write_next_mark_locked(w);
    }
    w->io_busy = 0;
    pthread_cond_broadcast(&w->io_done);
}

/* Returns once every record up to lsn is written (and fdatasynced if want_sync), running I/O
 * rounds as the leader when none is in flight. With force_rotate, runs one round of its own that
 * ends in a new file and reports its number in *file_no_out. Takes and releases mu. */
static int flush_to(wal_t *w, uint64_t lsn, int want_sync, int force_rotate, uint64_t *file_no_out)
{
    int r = 0;
    pthread_mutex_lock(&w->mu);
    if (lsn > w->appended_lsn) {
        /* Waiting for a record that was never appended would never end. */
        r = err_set(FLOE_EINVAL, "wal_sync: LSN %llu is beyond the last appended record (%llu)",
                    (unsigned long long)lsn, (unsigned long long)w->appended_lsn);
        pthread_mutex_unlock(&w->mu);
        return r;
    }
    for (;;) {
        if (w->failed) {
            r = readonly_error_locked(w);
            break;
        }
        if (!force_rotate && (want_sync ? w->synced_lsn : w->written_lsn) >= lsn)
            break;
        if (w->io_busy) {
            pthread_cond_wait(&w->io_done, &w->mu);
            continue;
        }
        w->io_busy = 1;
        io_round(w, want_sync, force_rotate);
        if (force_rotate && !w->failed) {
            *file_no_out = w->file_no;
            break;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return r;
}

/* Writes what is buffered, then fdatasyncs through a private dup() of the current fd so that
 * writers never wait for this fdatasync (invariant 2 makes the (fd, written_lsn) pair consistent). */
static void interval_tick(wal_t *w)
{
    uint64_t lsn, end;
    int fd;
    char msg[WAL_MSG_BYTES];

    pthread_mutex_lock(&w->mu);
    lsn = w->appended_lsn;
    pthread_mutex_unlock(&w->mu);
    if (flush_to(w, lsn, 0, 0, NULL) != 0)
        return;

    pthread_mutex_lock(&w->mu);
    if (w->failed || w->synced_lsn >= w->written_lsn) {
        pthread_mutex_unlock(&w->mu);
        return;
    }
    end = w->written_lsn;
    uint64_t file_no = w->file_no, file_bytes = w->file_bytes;
    fd = file_dup(w->fd);
    if (fd < 0) {
        snprintf(msg, sizeof msg, "interval sync of WAL in %s: dup: %s", w->dir, strerror(errno));
        set_failed_locked(w, msg);
        pthread_mutex_unlock(&w->mu);
        return;
    }
    pthread_mutex_unlock(&w->mu);

    int rc = file_fdatasync(fd);
    int e = errno;
    file_close(fd);

    pthread_mutex_lock(&w->mu);
    w->stats.syncs++;
    if (rc != 0) {
        snprintf(msg, sizeof msg, "interval fdatasync of WAL in %s: %s", w->dir, strerror(e));
        set_failed_locked(w, msg);
    } else {
        if (w->file_no == file_no && w->file_synced < file_bytes)
            w->file_synced = file_bytes;
        if (w->synced_lsn < end) {
            w->synced_lsn = end;
            pthread_cond_broadcast(&w->io_done);
        }
    }
    pthread_mutex_unlock(&w->mu);
}

static void *interval_main(void *arg)
{
    wal_t *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stopping) {
        struct timespec deadline = clock_deadline_after_ms(w->opts.interval_ms);
        int rc = 0;
        while (!w->stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&w->stop_cv, &w->mu, &deadline);
        if (w->stopping)
            break;
        if (w->failed)
            continue;
        pthread_mutex_unlock(&w->mu);
        interval_tick(w);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Bytes a put or delete record of a file of this format version holds before its key: the write
 * time from version 3 on, nothing before. Sync marks are the same in every version that has them. */
static uint32_t write_time_bytes(uint32_t version)
{
    return version >= 3 ? WAL_WRITE_TIME_BYTES : 0;
}

/* Checks the cheap header fields of a record at p with avail bytes available, in a file of format
 * version. Returns NULL if they are consistent (length, type, key/content/value lengths), else a
 * description. Sets *len_out. */
static const char *check_record_fields(const uint8_t *p, size_t avail, uint32_t version, uint32_t *len_out)
{
    if (avail < WAL_RECORD_HEADER_BYTES)
        return "record header runs past the end of the file";
    uint32_t len = get_le32(p + 4);
    uint8_t type = p[8];
    uint32_t ct_len = p[9];
    uint32_t key_len = get_le16(p + 10);
    uint32_t value_len = get_le32(p + 12);
    *len_out = len;
    if (len < WAL_RECORD_HEADER_BYTES + 1)
        return "bad length";
    if (len > avail)
        return "length runs past the end of the file";
    if (type == WAL_REC_MARK)
        return len == WAL_MARK_BYTES && ct_len == 0 && key_len == 0 && value_len == 8 ? NULL
                                                                                      : "bad sync mark";
    if (type == WAL_REC_PAD)
        return version >= 5 && ct_len == 0 && key_len == 0 && value_len == len - WAL_RECORD_HEADER_BYTES
                   ? NULL
                   : "bad pad record";
    if (type != WAL_REC_PUT && type != WAL_REC_DELETE && (type != WAL_REC_DELETE_PREFIX || version < 3) &&
        (type != WAL_REC_OBJECT || version < 4))
        return "bad record type";
    if (key_len < 1 || key_len > FLOE_MAX_KEY_BYTES)
        return "bad key length";
    if ((uint64_t)WAL_RECORD_HEADER_BYTES + write_time_bytes(version) + key_len + ct_len + value_len != len)
        return "field lengths do not add up to the record length";
    if ((type == WAL_REC_DELETE || type == WAL_REC_DELETE_PREFIX) && (value_len != 0 || ct_len != 0))
        return "delete record carries a value";
    return NULL;
}

/* Parses the record at p, in a file of format version. Returns NULL and fills *rec (pointers into p)
 * and *len_out if it is complete, consistent and CRC-valid; otherwise a description of the first
 * problem. Adds the bytes it checksums to *crc_bytes. */
static const char *parse_record(const uint8_t *p, size_t avail, uint32_t version, wal_record *rec,
                                uint32_t *len_out, uint64_t *crc_bytes)
{
    uint32_t len = 0;
    const char *why = check_record_fields(p, avail, version, &len);
    if (why)
        return why;
    *crc_bytes += len - 4;
    if (crc32c(p + 4, len - 4) != get_le32(p))
        return "crc mismatch";
    rec->type = p[8];
    rec->content_type_len = p[9];
    rec->key_len = get_le16(p + 10);
    rec->value_len = get_le32(p + 12);
    rec->seq = get_le64(p + 16);
    /* A sync mark's payload is its own (read through rec->value); only writes carry a time. */
    uint32_t time_bytes = rec->type == WAL_REC_MARK || rec->type == WAL_REC_PAD ? 0 : write_time_bytes(version);
    rec->write_ms = time_bytes ? get_le64(p + WAL_RECORD_HEADER_BYTES) : 0;
    rec->key = p + WAL_RECORD_HEADER_BYTES + time_bytes;
    rec->content_type = rec->content_type_len ? (const char *)rec->key + rec->key_len : NULL;
    rec->value = rec->key + rec->key_len + rec->content_type_len;
    *len_out = len;
    return NULL;
}

/* The search for valid records after damage.
 *
 * It tries every byte offset as a record start, so a damaged length field cannot hide the records
 * behind it. Checksumming each candidate over its own length would make it quadratic: a file of
 * repeated headers that claim half the file each costs half the file per offset. Instead the search
 * uses the CRC's linearity. With C(i) the CRC32C of the searched bytes from `from` up to i,
 *
 *     crc32c(bytes a..b) = C(b) XOR (C(a) * x^(8 (b - a)) mod P)
 *
 * (appending n bytes multiplies the CRC of what came before by x^(8n); the initial and final
 * inversions cancel). So a candidate at pos, whose checksum covers a = pos + 4 to b = pos + length,
 * costs one GF(2) multiplication plus two prefix CRCs, and those are cheap: C(a) comes from one
 * running CRC that only moves forward (every byte once over the whole search), and C(b) from a
 * table of C at every WAL_SEARCH_STRIDE bytes extended by fewer than WAL_SEARCH_STRIDE bytes. The
 * bytes checksummed are at most 2 * (size - from) + WAL_SEARCH_STRIDE per candidate: linear in the
 * file whatever its bytes. Cheap header checks (fields, sequence number) go first, and the table
 * costs 4 bytes per WAL_SEARCH_STRIDE bytes searched. */
#define WAL_SEARCH_STRIDE 64
#define CRC32C_POLY_REFLECTED 0x82f63b78u

/* a * b modulo the CRC32C polynomial, both polynomials in the bit-reflected form of a CRC register
 * (bit 31 holds the coefficient of x^0). */
static uint32_t gf2_multiply(uint32_t a, uint32_t b)
{
    uint32_t product = 0;
    for (uint32_t bit = 1u << 31; bit; bit >>= 1) {
        if (a & bit)
            product ^= b;
        b = (b & 1) ? (b >> 1) ^ CRC32C_POLY_REFLECTED : b >> 1;
    }
    return product;
}

typedef struct record_search {
    const uint8_t *map;
    size_t from, size;
    uint32_t version; /* the file's format version: where a record's key starts */
    uint32_t *prefix; /* prefix[i] = C(from + i * WAL_SEARCH_STRIDE); malloc'd */
    size_t run_pos;   /* C(run_pos) is run_crc; only moves forward */
    uint32_t run_crc;
    uint32_t x8_pow[64]; /* x^(8 * 2^k) mod P */
    uint64_t shift_len;  /* the last shift's length and x^(8 shift_len) mod P: candidates of one */
    uint32_t shift_pow;  /* forged header repeated share it */
    uint64_t *crc_bytes; /* bytes checksummed are added here */
} record_search;

/* Prepares a search of [from, size) of map, which must outlive it; release it with
 * record_search_end. FLOE_ENOMEM if the prefix table cannot be allocated. */
static int record_search_begin(record_search *s, const uint8_t *map, size_t from, size_t size,
                               uint32_t version, uint64_t *crc_bytes)
{
    size_t span = size > from ? size - from : 0;
    size_t count = span / WAL_SEARCH_STRIDE + 1;

    memset(s, 0, sizeof *s);
    s->map = map;
    s->from = from;
    s->size = size;
    s->version = version;
    s->run_pos = from;
    s->crc_bytes = crc_bytes;
    s->prefix = malloc(count * sizeof *s->prefix);
    if (!s->prefix)
        return err_set(FLOE_ENOMEM, "WAL recovery: no memory to search %zu bytes for valid records", span);
    s->prefix[0] = 0;
    for (size_t i = 1; i < count; i++)
        s->prefix[i] =
            crc32c_extend(s->prefix[i - 1], map + from + (i - 1) * WAL_SEARCH_STRIDE, WAL_SEARCH_STRIDE);
    *crc_bytes += (uint64_t)(count - 1) * WAL_SEARCH_STRIDE;
    s->x8_pow[0] = 1u << (31 - 8);
    for (int k = 1; k < 64; k++)
        s->x8_pow[k] = gf2_multiply(s->x8_pow[k - 1], s->x8_pow[k - 1]);
    return 0;
}

static void record_search_end(record_search *s)
{
    free(s->prefix);
    s->prefix = NULL;
}

/* c * x^(8 n) mod P: the CRC c of some bytes, moved past n more. */
static uint32_t record_search_shift(record_search *s, uint32_t c, uint64_t n)
{
    if (n != s->shift_len || s->shift_pow == 0) {
        uint32_t pow = 1u << 31; /* x^0 */
        for (int k = 0; k < 64 && (n >> k); k++)
            if ((n >> k) & 1)
                pow = gf2_multiply(pow, s->x8_pow[k]);
        s->shift_len = n;
        s->shift_pow = pow;
    }
    return gf2_multiply(s->shift_pow, c);
}

/* 1 if the candidate at pos, whose fields say it is len bytes, has the CRC its header claims. pos
 * must not be below an earlier call's. */
static int record_search_crc_matches(record_search *s, size_t pos, uint32_t len)
{
    size_t a = pos + 4, b = pos + len;
    s->run_crc = crc32c_extend(s->run_crc, s->map + s->run_pos, a - s->run_pos);
    *s->crc_bytes += a - s->run_pos;
    s->run_pos = a;
    size_t k = (b - s->from) / WAL_SEARCH_STRIDE;
    size_t saved_at = s->from + k * WAL_SEARCH_STRIDE;
    uint32_t crc_to_b = crc32c_extend(s->prefix[k], s->map + saved_at, b - saved_at);
    *s->crc_bytes += b - saved_at;
    uint32_t crc_a_to_b = crc_to_b ^ record_search_shift(s, s->run_crc, b - a);
    return crc_a_to_b == get_le32(s->map + pos);
}

/* Looks for the first complete, CRC-valid record starting at or after pos (and not below an earlier
 * call's pos) whose sequence number follows last_seq (any, if !have_seq). Returns 1 with its offset
 * and length in *found_out and *len_out, or 0. */
static int record_search_next(record_search *s, size_t pos, int have_seq, uint64_t last_seq,
                              size_t *found_out, uint32_t *len_out)
{
    for (; pos + WAL_RECORD_HEADER_BYTES < s->size; pos++) {
        uint32_t len;
        if (check_record_fields(s->map + pos, s->size - pos, s->version, &len) != NULL)
            continue;
        if (have_seq && s->map[pos + 8] != WAL_REC_MARK && s->map[pos + 8] != WAL_REC_PAD &&
            get_le64(s->map + pos + 16) <= last_seq)
            continue;
        if (!record_search_crc_matches(s, pos, len))
            continue;
        *found_out = pos;
        *len_out = len;
        return 1;
    }
    return 0;
}

/* Looks for a complete, CRC-valid record starting anywhere in [from, size) whose sequence number
 * follows the last one replayed (see record_search). Sets *found_out to its offset, or -1. Adds the
 * bytes checksummed to *crc_bytes. Returns 0 or FLOE_ENOMEM. */
static int find_valid_record(const uint8_t *map, size_t from, size_t size, uint32_t version, int have_seq,
                             uint64_t last_seq, uint64_t *crc_bytes, long long *found_out)
{
    record_search s;
    size_t found = 0;
    uint32_t len = 0;
    int r = record_search_begin(&s, map, from, size, version, crc_bytes);
    if (r)
        return r;
    *found_out = record_search_next(&s, from, have_seq, last_seq, &found, &len) ? (long long)found : -1;
    record_search_end(&s);
    return 0;
}

static int parse_file_name(const char *name, uint64_t *no_out)
{
    if (strlen(name) != WAL_NAME_BYTES || strcmp(name + WAL_NAME_DIGITS, ".log") != 0)
        return 0;
    uint64_t no = 0;
    for (int i = 0; i < WAL_NAME_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        unsigned d = (unsigned)(name[i] - '0');
        if (no > (UINT64_MAX - d) / 10)
            return -1;
        no = no * 10 + d;
    }
    *no_out = no;
    return 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists the WAL file numbers in dir in ascending order. *nums_out is malloc'd (NULL when there are
 * none) and owned by the caller. Other names are ignored. */
static int list_files(const char *dir, uint64_t **nums_out, size_t *count_out)
{
    DIR *d = NULL;
    uint64_t *nums = NULL;
    size_t count = 0, cap = 0;
    int r = 0;

    d = opendir(dir);
    if (!d) {
        r = err_set(FLOE_EIO, "open WAL directory %s: %s", dir, strerror(errno));
        goto out;
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) {
                r = err_set(FLOE_EIO, "read WAL directory %s: %s", dir, strerror(errno));
                goto out;
            }
            break;
        }
        uint64_t no;
        int kind = parse_file_name(de->d_name, &no);
        if (kind == 0)
            continue;
        if (kind < 0) {
            r = err_set(FLOE_ECORRUPT, "%s/%s: file number out of range", dir, de->d_name);
            goto out;
        }
        if (count == cap) {
            if (cap >= WAL_MAX_FILES) {
                r = err_set(FLOE_EIO, "WAL directory %s holds more than %d files: refusing to open", dir,
                            WAL_MAX_FILES);
                goto out;
            }
            if (array_grow(&nums, &cap, cap + 1, sizeof *nums, 16, SIZE_MAX) != 0) {
                r = err_set(FLOE_ENOMEM, "listing WAL directory %s: out of memory", dir);
                goto out;
            }
        }
        nums[count++] = no;
    }
    if (count)
        qsort(nums, count, sizeof *nums, cmp_u64);
out:
    if (d)
        closedir(d);
    if (r) {
        free(nums);
        return r;
    }
    *nums_out = nums;
    *count_out = count;
    return 0;
}

typedef struct replay_state {
    wal_replay_fn fn;
    void *ctx;
    uint64_t last_seq;
    int have_seq;
    uint64_t records;
    uint64_t truncated_bytes;
    uint64_t crc_bytes;       /* bytes checksummed, for wal_stats.replay_crc_bytes */
    char note[WAL_MSG_BYTES]; /* what was truncated, for the caller's log */
    /* A survey (wal_repair) changes no file: it only finds where wal_open would refuse. */
    int survey;
    uint64_t file_no; /* the file being replayed */
    int damaged;      /* set where wal_open refuses for damage, with its place */
    uint64_t damage_file;
    size_t damage_off;
} replay_state;

/* Remembers that the WAL is damaged from byte off of the file being replayed on (the first place
 * only), for wal_repair. */
static void mark_damage(replay_state *st, size_t off)
{
    if (!st->damaged) {
        st->damaged = 1;
        st->damage_file = st->file_no;
        st->damage_off = off;
    }
}

static void note_truncation(replay_state *st, const char *path, size_t off, size_t bytes, const char *why)
{
    st->truncated_bytes += bytes;
    snprintf(st->note, sizeof st->note,
             "%s: truncated %zu bytes of torn tail at byte %zu (%s); those writes were never acknowledged",
             path, bytes, off, why);
}

/* A WAL file opened and mapped for replay. fd is -1 and map NULL until map_file sets them; an empty
 * file is opened but not mapped. */
typedef struct mapped_file {
    char path[PATH_MAX];
    int fd;
    uint8_t *map;
    size_t size;
    uint32_t version; /* from the header, once checked */
} mapped_file;

/* Opens f->path (read-write if it is the last file, which replay may cut) and maps all of it. On
 * failure f holds whatever was opened: the caller releases it with unmap_file either way. */
static int map_file(mapped_file *f, int is_last)
{
    struct stat sb;
    int r = 0;

    f->fd = file_open(f->path, (is_last ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
    if (f->fd < 0) {
        r = err_set(FLOE_EIO, "open %s: %s", f->path, strerror(errno));
        goto out;
    }
    if (fstat(f->fd, &sb) != 0) {
        r = err_set(FLOE_EIO, "stat %s: %s", f->path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        r = err_set(FLOE_ECORRUPT, "%s: not a regular file", f->path);
        goto out;
    }
    f->size = (size_t)sb.st_size;
    if (f->size > 0) {
        void *map = file_mmap(f->size, PROT_READ, MAP_PRIVATE, f->fd);
        if (map == MAP_FAILED) {
            r = err_set(FLOE_EIO, "mmap %s: %s", f->path, strerror(errno));
            goto out;
        }
        f->map = map;
    }
out:
    return r;
}

static void unmap_file(mapped_file *f)
{
    if (f->map)
        file_munmap(f->map, f->size);
    if (f->fd >= 0)
        file_close(f->fd);
}

/* The header of file number no is bad (why). Only a torn header of the last file with no valid
 * record behind it is a file created just before a crash: that file is removed (*removed set, the
 * directory fsynced, the loss noted in st). Anything else is FLOE_ECORRUPT. */
static int replay_bad_header(wal_t *w, const mapped_file *f, int is_last, int torn, const char *why,
                             replay_state *st, int *removed)
{
    long long found = -1;
    int r = 0;

    /* The header cannot say which format the records behind it have: look for either layout. */
    if (is_last && torn)
        r = find_valid_record(f->map, 0, f->size, WAL_FORMAT_VERSION, st->have_seq, st->last_seq,
                              &st->crc_bytes, &found);
    if (!r && is_last && torn && found < 0)
        r = find_valid_record(f->map, 0, f->size, WAL_FORMAT_VERSION_NO_WRITE_TIME, st->have_seq,
                              st->last_seq, &st->crc_bytes, &found);
    if (r)
        goto out;
    if (!is_last || !torn || found >= 0) {
        int newer = why == wal_why_version || why == wal_why_flags;
        r = err_set(FLOE_ECORRUPT,
                    "%s: bad file header (%s); the WAL is damaged before its tail: refusing to open%s",
                    f->path, why, newer ? "" : WAL_REPAIR_HINT);
        if (!newer)
            mark_damage(st, 0);
        goto out;
    }
    if (st->survey)
        goto out;
    /* A file created just before a crash: nothing in it was ever acknowledged. */
    if (file_unlink(f->path) != 0) {
        r = err_set(FLOE_EIO, "remove torn WAL file %s: %s", f->path, strerror(errno));
        goto out;
    }
    if (file_fsync(w->dir_fd) != 0) {
        r = err_set(FLOE_EIO, "fsync directory %s: %s", w->dir, strerror(errno));
        goto out;
    }
    note_truncation(st, f->path, 0, f->size, why);
    *removed = 1;
out:
    return r;
}

/* Cuts the last file at byte off and makes the cut durable; -1 with errno on failure. */
static int ftruncate_sync(const mapped_file *f, size_t off)
{
    return file_ftruncate(f->fd, (off_t)off) != 0 || file_fsync(f->fd) != 0 ? -1 : 0;
}

/* The largest durable offset that a CRC-valid sync mark at or after byte from claims (0 if none):
 * how much of the file some batch written after from knew was synced. */
static int last_synced_mark(const mapped_file *f, size_t from, replay_state *st, uint64_t *synced_out)
{
    record_search s;
    size_t pos = from, found = 0;
    uint32_t len = 0;
    uint64_t synced = 0;
    int r = record_search_begin(&s, f->map, from, f->size, f->version, &st->crc_bytes);
    if (r)
        return r;
    while (record_search_next(&s, pos, 0, 0, &found, &len)) {
        if (f->map[found + 8] == WAL_REC_MARK) {
            uint64_t m = get_le64(f->map + found + WAL_RECORD_HEADER_BYTES);
            if (m <= found && m > synced)
                synced = m;
        }
        pos = found + len;
    }
    record_search_end(&s);
    *synced_out = synced;
    return 0;
}

/* Record replay stopped at byte off of the last file, where a record does not parse (why). Zeros from
 * there on are space reserved and never written; a zero record header is a torn batch (invariant 8);
 * a damaged record with no valid one after it is a torn tail. Each is cut off (the last two noted in
 * st) and replay of the file ends cleanly. Any other damage with a valid record after it means the
 * WAL is damaged before its tail: FLOE_ECORRUPT. */
static int cut_last_file(const mapped_file *f, size_t off, const char *why, replay_state *st)
{
    int r = 0;

    if (all_zero(f->map + off, f->size - off)) {
        /* Space reserved by posix_fallocate and never written: a clean end, not a tear. */
        if (!st->survey && ftruncate_sync(f, off) != 0)
            r = err_set(FLOE_EIO, "truncate reserved tail of %s at byte %zu: %s", f->path, off,
                        strerror(errno));
        goto out;
    }
    if (f->size - off >= WAL_RECORD_HEADER_BYTES && all_zero(f->map + off, WAL_RECORD_HEADER_BYTES)) {
        /* A batch whose first pages never landed (invariant 8): cut it, whatever follows. */
        if (st->survey)
            goto out;
        if (ftruncate_sync(f, off) != 0) {
            r = err_set(FLOE_EIO, "truncate torn batch of %s at byte %zu: %s", f->path, off, strerror(errno));
            goto out;
        }
        note_truncation(
            st, f->path, off, f->size - off,
            "zeros where a record should start: a batch whose pages reached the disk out of order");
        goto out;
    }
    long long found = -1;
    uint64_t synced = 0;
    r = find_valid_record(f->map, off + 1, f->size, f->version, st->have_seq, st->last_seq, &st->crc_bytes,
                          &found);
    if (r == 0 && found >= 0 && f->version != WAL_FORMAT_VERSION_NO_MARKS)
        r = last_synced_mark(f, (size_t)found, st, &synced);
    if (r)
        goto out;
    if (found >= 0 && f->version != WAL_FORMAT_VERSION_NO_MARKS && synced <= off) {
        /* Invariant 9: no batch after the damage knew it synced; it is the unsynced tail. */
        if (st->survey)
            goto out;
        if (ftruncate_sync(f, off) != 0) {
            r = err_set(FLOE_EIO, "truncate torn tail of %s at byte %zu: %s", f->path, off, strerror(errno));
            goto out;
        }
        note_truncation(st, f->path, off, f->size - off,
                        "the writes after it were never synced: their pages reached the disk out of order");
        goto out;
    }
    if (found >= 0) {
        r = err_set(FLOE_ECORRUPT,
                    "%s: bad record at byte %zu (%s) with a valid record after it at byte %lld; the WAL is "
                    "damaged before its tail: refusing to open" WAL_REPAIR_HINT,
                    f->path, off, why, found);
        mark_damage(st, off);
        goto out;
    }
    if (st->survey)
        goto out;
    if (ftruncate_sync(f, off) != 0) {
        r = err_set(FLOE_EIO, "truncate torn tail of %s at byte %zu: %s", f->path, off, strerror(errno));
        goto out;
    }
    note_truncation(st, f->path, off, f->size - off, why);
out:
    return r;
}

/* A bad record at byte off (why) that cannot be a torn write: FLOE_ECORRUPT naming it. */
static int damaged_record(const mapped_file *f, size_t off, const char *why, replay_state *st)
{
    mark_damage(st, off);
    return err_set(FLOE_ECORRUPT,
                   "%s: bad record at byte %zu (%s); the WAL is damaged before its tail: refusing to "
                   "open" WAL_REPAIR_HINT,
                   f->path, off, why);
}

/* Checks a parsed record of len bytes at byte off against the WAL's limits and order: at most
 * max_record_bytes, and a sequence number above the previous record's (invariant 7). */
static int check_replayed_record(const wal_t *w, const mapped_file *f, size_t off, const wal_record *rec,
                                 uint32_t len, replay_state *st)
{
    int r = 0;

    if (len > w->opts.max_record_bytes)
        r = err_set(
            FLOE_ECORRUPT,
            "%s: record at byte %zu is %u bytes, above max_record_bytes %u: raise the limit to open this "
            "WAL",
            f->path, off, len, w->opts.max_record_bytes);
    else if (st->have_seq && rec->seq <= st->last_seq)
        r = err_set(
            FLOE_ECORRUPT,
            "%s: record at byte %zu has sequence number %llu, not above the previous %llu: refusing to "
            "open" WAL_REPAIR_HINT,
            f->path, off, (unsigned long long)rec->seq, (unsigned long long)st->last_seq);
    if (r && len <= w->opts.max_record_bytes)
        mark_damage(st, off);
    return r;
}

/* Hands every record after the header of a mapped file to st->fn, in order. A record that does not
 * parse is damage in any file but the last; in the last one cut_last_file decides. Returns 0, an
 * error, or the callback's nonzero value. */
static int replay_records(wal_t *w, const mapped_file *f, int is_last, replay_state *st)
{
    size_t off = WAL_FILE_HEADER_BYTES;
    int r = 0;

    while (off < f->size) {
        wal_record rec;
        uint32_t len = 0;
        const char *why = parse_record(f->map + off, f->size - off, f->version, &rec, &len, &st->crc_bytes);
        if (why) {
            r = is_last ? cut_last_file(f, off, why, st) : damaged_record(f, off, why, st);
            break;
        }
        if (rec.type == WAL_REC_MARK) {
            if (get_le64(rec.value) > off) {
                why = "sync mark claims more bytes synced than precede it";
                r = is_last ? cut_last_file(f, off, why, st) : damaged_record(f, off, why, st);
                break;
            }
            off += len;
            continue;
        }
        if (rec.type == WAL_REC_PAD) {
            off += len;
            continue;
        }
        r = check_replayed_record(w, f, off, &rec, len, st);
        if (!r && st->fn)
            r = st->fn(st->ctx, &rec);
        if (r)
            break;
        st->last_seq = rec.seq;
        st->have_seq = 1;
        st->records++;
        off += len;
    }
    return r;
}

/* Replays WAL file number no. In the last file, a damaged record after which no valid record follows
 * is a torn tail: the file is cut there (or removed, if its header is torn). Sets *removed when the
 * file was removed. */
static int replay_file(wal_t *w, uint64_t no, int is_last, replay_state *st, int *removed)
{
    mapped_file f = {.fd = -1};
    int torn = 0;
    int r = 0;

    *removed = 0;
    st->file_no = no;
    file_path(w, no, f.path, sizeof f.path);
    r = map_file(&f, is_last && !st->survey);
    if (r)
        goto out;
    const char *why = check_file_header(f.map, f.size, no, &torn, &f.version);
    if (why)
        r = replay_bad_header(w, &f, is_last, torn, why, st, removed);
    else
        r = replay_records(w, &f, is_last, st);
out:
    unmap_file(&f);
    return r;
}

/* Refuses a gap in the ascending file numbers nums: a missing file would silently lose its records.
 * *gap_out is the index of the first file after the gap (count if there is none). */
int wal_dir_files(const char *dir, uint64_t *first_no, size_t *count)
{
    uint64_t *nums = NULL;
    size_t n = 0;
    *first_no = 0;
    *count = 0;
    struct stat st;
    if (stat(dir, &st) != 0 && errno == ENOENT)
        return 0;
    int r = list_files(dir, &nums, &n);
    if (r == 0 && n > 0) {
        *first_no = nums[0];
        *count = n;
    }
    free(nums);
    return r;
}

static int check_contiguous(const char *dir, const uint64_t *nums, size_t count, size_t *gap_out)
{
    int r = 0;

    *gap_out = count;
    for (size_t i = 1; i < count && !r; i++)
        if (nums[i] != nums[i - 1] + 1) {
            *gap_out = i;
            r = err_set(
                FLOE_ECORRUPT,
                "WAL directory %s: file %0*llu.log is missing between %0*llu.log and %0*llu.log: refusing "
                "to open" WAL_REPAIR_HINT,
                dir, WAL_NAME_DIGITS, (unsigned long long)nums[i - 1] + 1, WAL_NAME_DIGITS,
                (unsigned long long)nums[i - 1], WAL_NAME_DIGITS, (unsigned long long)nums[i]);
        }
    return r;
}

/* Replays every file in w->dir, oldest first, into st. On success *next_no_out is the number the new
 * file takes (after the last file left) and *files_left_out how many files replay left in place. */
static int replay_dir(wal_t *w, replay_state *st, uint64_t *next_no_out, uint64_t *files_left_out)
{
    uint64_t *nums = NULL;
    size_t count = 0;
    uint64_t next_no = WAL_FIRST_FILE_NO;
    uint64_t files_left = 0;
    size_t gap = 0;
    int r = 0;

    r = list_files(w->dir, &nums, &count);
    if (r)
        goto out;
    r = check_contiguous(w->dir, nums, count, &gap);
    if (r && !st->survey)
        goto out;
    /* A survey replays the files before a gap first: damage in them comes before the gap. */
    for (size_t i = 0; i < gap; i++) {
        int removed = 0;
        r = replay_file(w, nums[i], i + 1 == count, st, &removed);
        if (r)
            goto out;
        if (!removed) {
            files_left++;
            next_no = nums[i] + 1;
        } else {
            next_no = nums[i];
        }
    }
    if (gap < count) {
        st->file_no = nums[gap];
        mark_damage(st, 0);
        r = check_contiguous(w->dir, nums, count, &gap);
        goto out;
    }
    if (next_no == 0 || next_no == UINT64_MAX) {
        r = err_set(FLOE_ECORRUPT, "WAL directory %s: file numbers are exhausted", w->dir);
        goto out;
    }
    *next_no_out = next_no;
    *files_left_out = files_left;
out:
    free(nums);
    return r;
}

static int check_options(const wal_options *o)
{
    if (o->sync != FLOE_SYNC_ALWAYS && o->sync != FLOE_SYNC_INTERVAL && o->sync != FLOE_SYNC_NEVER)
        return err_set(FLOE_EINVAL, "wal.sync: unknown sync mode %d", (int)o->sync);
    if (o->sync == FLOE_SYNC_INTERVAL && o->interval_ms == 0)
        return err_set(FLOE_EINVAL, "wal.interval_ms must be at least 1 with sync \"interval\"");
    if (o->file_bytes == 0)
        return err_set(FLOE_EINVAL, "wal.file_bytes must be at least 1");
    if (o->max_record_bytes < WAL_RECORD_HEADER_BYTES + 1)
        return err_set(FLOE_EINVAL, "wal max_record_bytes %u is below the smallest record (%d bytes)",
                       o->max_record_bytes, WAL_RECORD_HEADER_BYTES + 1);
    return 0;
}

/* Frees the handle and closes its descriptors; the mutex and condition variables are the caller's
 * (destroy_sync). NULL is a no-op. */
static void wal_free(wal_t *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        file_close(w->fd);
    if (w->dir_fd >= 0)
        file_close(w->dir_fd);
    free(w->active.data);
    free(w->spare.data);
    free(w->direct_buf);
    free(w->dir);
    free(w);
}

/* Allocates the handle for dir with options opts (already checked), no descriptors open. *out is
 * freed with wal_free. */
static int wal_alloc(const char *dir, const wal_options *opts, wal_t **out)
{
    wal_t *w = NULL;
    int r = 0;

    w = calloc(1, sizeof *w);
    if (!w) {
        r = err_set(FLOE_ENOMEM, "opening WAL %s: out of memory", dir);
        goto out;
    }
    w->fd = -1;
    w->dir_fd = -1;
    w->opts = *opts;
    w->batch_write_bytes =
        opts->sync == FLOE_SYNC_ALWAYS ? WAL_ALWAYS_BATCH_WRITE_BYTES : WAL_BATCH_WRITE_BYTES;
    w->buf_max_bytes = w->batch_write_bytes + WAL_MARK_BYTES + opts->max_record_bytes;
    w->dir = strdup(dir);
    if (!w->dir)
        r = err_set(FLOE_ENOMEM, "opening WAL %s: out of memory", dir);
out:
    if (r) {
        wal_free(w);
        return r;
    }
    *out = w;
    return 0;
}

/* Creates w->dir if it is missing and opens it as w->dir_fd, for fsyncs of its entries. */
static int open_dir(wal_t *w)
{
    int r = 0;

    if ((r = file_mkdir_durable(w->dir, NULL)) != 0)
        goto out;
    w->dir_fd = file_open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (w->dir_fd < 0)
        r = err_set(FLOE_EIO, "open WAL directory %s: %s", w->dir, strerror(errno));
out:
    return r;
}

/* Creates mu, io_done and stop_cv (which waits on CLOCK_MONOTONIC): all three, or on failure none.
 * destroy_sync undoes it. */
static int init_sync(wal_t *w)
{
    int r = 0;

    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        r = err_set(FLOE_ENOMEM, "opening WAL %s: cannot create mutex", w->dir);
        goto out;
    }
    int io_rc = pthread_cond_init(&w->io_done, NULL);
    int stop_rc = clock_cond_init(&w->stop_cv);
    if (io_rc || stop_rc) {
        if (!io_rc)
            pthread_cond_destroy(&w->io_done);
        if (!stop_rc)
            pthread_cond_destroy(&w->stop_cv);
        pthread_mutex_destroy(&w->mu);
        r = err_set(FLOE_ENOMEM, "opening WAL %s: cannot create condition variables", w->dir);
    }
out:
    return r;
}

static void destroy_sync(wal_t *w)
{
    pthread_cond_destroy(&w->io_done);
    pthread_cond_destroy(&w->stop_cv);
    pthread_mutex_destroy(&w->mu);
}

/* fsyncs WAL file number no. */
static int sync_file(wal_t *w, uint64_t no)
{
    char path[PATH_MAX];
    file_path(w, no, path, sizeof path);
    int fd = file_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return err_set(FLOE_EIO, "open %s: %s", path, strerror(errno));
    int rc = file_fsync(fd) != 0 ? err_set(FLOE_EIO, "fsync %s: %s", path, strerror(errno)) : 0;
    file_close(fd);
    return rc;
}

/* Creates file number next_no for new records as w->fd, and starts the counters from what replay
 * found (st) and the files_left files it kept. */
static int start_file(wal_t *w, uint64_t next_no, uint64_t files_left, const replay_state *st)
{
    char msg[WAL_MSG_BYTES];
    uint64_t syncs = 0;
    int r = 0;

    /* The last file replayed stops being the last one: what it holds may be only in the page cache
     * (a kill -9, or sync "never"), and invariant 6 needs it durable before a later file exists. */
    if (files_left > 0 && (r = sync_file(w, next_no - 1)) != 0)
        goto out;
    int e = create_file(w, next_no, &w->fd, &syncs, msg, sizeof msg);
    syncs += files_left > 0;
    if (e) {
        r = err_set(FLOE_EIO, "%s", msg);
        goto out;
    }
    w->file_no = next_no;
    w->file_bytes = WAL_FILE_HEADER_BYTES;
    w->file_synced = WAL_FILE_HEADER_BYTES;
    w->last_seq = st->last_seq;
    w->have_last_seq = st->have_seq;
    w->stats.syncs = syncs;
    w->stats.bytes_written = WAL_FILE_HEADER_BYTES;
    w->stats.files = files_left + 1;
    w->stats.records_replayed = st->records;
    w->stats.tail_bytes_truncated = st->truncated_bytes;
    w->stats.replay_crc_bytes = st->crc_bytes;
out:
    return r;
}

/* Starts the interval thread when the sync mode is FLOE_SYNC_INTERVAL; wal_close stops it. */
static int start_interval_thread(wal_t *w)
{
    int r = 0;

    if (w->opts.sync != FLOE_SYNC_INTERVAL)
        goto out;
    int e = pthread_create(&w->interval_thread, NULL, interval_main, w);
    if (e) {
        r = err_set(FLOE_EIO, "opening WAL %s: cannot start the sync thread: %s", w->dir, strerror(e));
        goto out;
    }
    w->interval_started = 1;
out:
    return r;
}

int wal_open(const char *dir, const wal_options *opts, wal_replay_fn fn, void *ctx, wal_t **out)
{
    wal_t *w = NULL;
    replay_state st = {.fn = fn, .ctx = ctx};
    uint64_t next_no = WAL_FIRST_FILE_NO;
    uint64_t files_left = 0;
    int sync_ready = 0;
    int r = 0;

    if (!dir || !opts || !out)
        return err_set(FLOE_EINVAL, "wal_open: NULL argument");
    if (strlen(dir) + 1 + WAL_NAME_BYTES + 1 > PATH_MAX)
        return err_set(FLOE_EINVAL, "WAL directory path is too long: %s", dir);
    r = check_options(opts);
    if (r)
        return r;

    r = wal_alloc(dir, opts, &w);
    if (r)
        goto out;
    r = open_dir(w);
    if (r)
        goto out;
    r = replay_dir(w, &st, &next_no, &files_left);
    if (r)
        goto out;
    r = init_sync(w);
    if (r)
        goto out;
    sync_ready = 1;
    r = start_file(w, next_no, files_left, &st);
    if (r)
        goto out;
    r = start_interval_thread(w);
out:
    if (r) {
        if (sync_ready)
            destroy_sync(w);
        wal_free(w);
        return r;
    }
    if (st.truncated_bytes)
        err_set(FLOE_OK, "%s", st.note);
    else
        err_clear();
    *out = w;
    return 0;
}
static int check_record(const wal_t *w, const wal_record *rec, uint64_t *len_out)
{
    if (!rec)
        return err_set(FLOE_EINVAL, "wal_append: NULL record");
    if (rec->type != WAL_REC_PUT && rec->type != WAL_REC_DELETE && rec->type != WAL_REC_DELETE_PREFIX &&
        rec->type != WAL_REC_OBJECT)
        return err_set(FLOE_EINVAL, "WAL record type %u is neither put, object nor delete", rec->type);
    if (!rec->key || rec->key_len < 1 || rec->key_len > FLOE_MAX_KEY_BYTES)
        return err_set(FLOE_EKEY, "WAL record key is %u bytes: keys are 1..%d bytes", rec->key_len,
                       FLOE_MAX_KEY_BYTES);
    if (rec->content_type_len > FLOE_MAX_CONTENT_TYPE_BYTES || (rec->content_type_len && !rec->content_type))
        return err_set(FLOE_EINVAL, "WAL record content type is %u bytes: at most %d", rec->content_type_len,
                       FLOE_MAX_CONTENT_TYPE_BYTES);
    if (rec->value_len && !rec->value)
        return err_set(FLOE_EINVAL, "WAL record has a value length but no value");
    if (rec->type != WAL_REC_PUT && rec->type != WAL_REC_OBJECT && (rec->value_len || rec->content_type_len))
        return err_set(FLOE_EINVAL, "WAL delete record for seq %llu carries a value or content type",
                       (unsigned long long)rec->seq);
    if (w->have_last_seq && rec->seq <= w->last_seq)
        return err_set(FLOE_EINVAL, "WAL record sequence number %llu is not above the previous %llu",
                       (unsigned long long)rec->seq, (unsigned long long)w->last_seq);
    uint64_t len = (uint64_t)WAL_RECORD_HEADER_BYTES + WAL_WRITE_TIME_BYTES + rec->key_len +
                   rec->content_type_len + rec->value_len;
    if (len > w->opts.max_record_bytes)
        return err_set(FLOE_ETOOBIG, "WAL record for seq %llu is %llu bytes, above the limit of %u",
                       (unsigned long long)rec->seq, (unsigned long long)len, w->opts.max_record_bytes);
    *len_out = len;
    return 0;
}

/* Grows the active buffer to hold need bytes (invariant 4 bounds need). Called with mu held. */
static int grow_active_locked(wal_t *w, size_t need)
{
    if (need <= w->active.cap)
        return 0;
    if (need > w->buf_max_bytes)
        return err_set(FLOE_EIO, "WAL batch of %zu bytes exceeds its cap of %zu bytes", need,
                       w->buf_max_bytes);
    if (array_grow(&w->active.data, &w->active.cap, need, 1, WAL_BUF_INITIAL_BYTES, w->buf_max_bytes) != 0)
        return err_set(FLOE_ENOMEM, "WAL batch buffer of %zu bytes: out of memory",
                       array_next_cap(w->active.cap, need, WAL_BUF_INITIAL_BYTES, w->buf_max_bytes));
    return 0;
}

int wal_append(wal_t *w, const wal_record *rec, uint64_t *lsn_out)
{
    uint64_t len64 = 0;
    int r = check_record(w, rec, &len64);
    if (r)
        return r;
    size_t len = (size_t)len64;

    /* Encode and checksum outside the mutex; under it only copy. */
    uint8_t h[WAL_RECORD_HEADER_BYTES + WAL_WRITE_TIME_BYTES]; /* the header, then the write time */
    put_le32(h + 4, (uint32_t)len);
    h[8] = rec->type;
    h[9] = (uint8_t)rec->content_type_len;
    put_le16(h + 10, (uint16_t)rec->key_len);
    put_le32(h + 12, rec->value_len);
    put_le64(h + 16, rec->seq);
    put_le64(h + WAL_RECORD_HEADER_BYTES, rec->write_ms);
    uint32_t crc = crc32c_extend(0, h + 4, sizeof h - 4);
    crc = crc32c_extend(crc, rec->key, rec->key_len);
    if (rec->content_type_len)
        crc = crc32c_extend(crc, rec->content_type, rec->content_type_len);
    if (rec->value_len)
        crc = crc32c_extend(crc, rec->value, rec->value_len);
    put_le32(h, crc);

    pthread_mutex_lock(&w->mu);
    while (!w->failed && w->active.len >= w->batch_write_bytes) { /* invariant 4 */
        uint64_t through = w->appended_lsn;
        pthread_mutex_unlock(&w->mu);
        if ((r = flush_to(w, through, 0, 0, NULL)) != 0)
            return r;
        pthread_mutex_lock(&w->mu);
    }
    if (w->failed) {
        r = readonly_error_locked(w);
        pthread_mutex_unlock(&w->mu);
        return r;
    }
    size_t mark = w->active.len == 0 ? WAL_MARK_BYTES : 0;
    r = grow_active_locked(w, w->active.len + mark + len);
    if (r) {
        pthread_mutex_unlock(&w->mu);
        return r;
    }
    if (mark) {
        reserve_mark(w->active.data);
        w->active.len = mark;
        w->appended_lsn += mark;
    }
    uint8_t *p = w->active.data + w->active.len;
    memcpy(p, h, sizeof h);
    p += sizeof h;
    memcpy(p, rec->key, rec->key_len);
    p += rec->key_len;
    if (rec->content_type_len) {
        memcpy(p, rec->content_type, rec->content_type_len);
        p += rec->content_type_len;
    }
    if (rec->value_len)
        memcpy(p, rec->value, rec->value_len);
    w->active.len += len;
    w->appended_lsn += len;
    w->active_records++;
    uint64_t lsn = w->appended_lsn;
    pthread_mutex_unlock(&w->mu);

    w->last_seq = rec->seq;
    w->have_last_seq = 1;
    *lsn_out = lsn;
    return 0;
}

int wal_sync(wal_t *w, uint64_t lsn)
{
    return flush_to(w, lsn, w->opts.sync == FLOE_SYNC_ALWAYS, 0, NULL);
}

int wal_rotate(wal_t *w, uint64_t *file_no_out)
{
    uint64_t no = 0;
    int r = flush_to(w, 0, w->opts.sync != FLOE_SYNC_NEVER, 1, &no);
    if (r)
        return r;
    *file_no_out = no;
    return 0;
}

int wal_release_before(wal_t *w, uint64_t file_no)
{
    uint64_t *nums = NULL;
    size_t count = 0;
    uint64_t removed = 0;
    int r = 0;

    pthread_mutex_lock(&w->mu);
    uint64_t current = w->file_no;
    pthread_mutex_unlock(&w->mu);
    if (file_no > current) {
        r = err_set(FLOE_EINVAL, "wal_release_before(%llu) would delete the current WAL file %llu",
                    (unsigned long long)file_no, (unsigned long long)current);
        goto out;
    }
    r = list_files(w->dir, &nums, &count);
    if (r)
        goto out;
    /* Oldest first, so a crash part way leaves a contiguous run of files. */
    for (size_t i = 0; i < count && nums[i] < file_no; i++) {
        char path[PATH_MAX];
        file_path(w, nums[i], path, sizeof path);
        if (file_unlink(path) != 0) {
            if (errno == ENOENT)
                continue;
            r = err_set(FLOE_EIO, "delete WAL file %s: %s", path, strerror(errno));
            break;
        }
        removed++;
    }
    if (removed && file_fsync(w->dir_fd) != 0 && !r)
        r = err_set(FLOE_EIO, "fsync WAL directory %s: %s", w->dir, strerror(errno));
    pthread_mutex_lock(&w->mu);
    w->stats.files -= removed < w->stats.files ? removed : w->stats.files;
    pthread_mutex_unlock(&w->mu);
out:
    free(nums);
    return r;
}

void wal_get_stats(wal_t *w, wal_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
}

int wal_close(wal_t *w)
{
    if (!w)
        return 0;
    if (w->interval_started) {
        pthread_mutex_lock(&w->mu);
        w->stopping = 1;
        pthread_cond_signal(&w->stop_cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->interval_thread, NULL);
    }
    pthread_mutex_lock(&w->mu);
    uint64_t lsn = w->appended_lsn;
    pthread_mutex_unlock(&w->mu);
    int r = flush_to(w, lsn, w->opts.sync != FLOE_SYNC_NEVER, 0, NULL);
    /* Leave no reserved zeros behind a cleanly closed WAL. */
    if (r == 0 && w->fd >= 0 && w->opts.sync != FLOE_SYNC_NEVER &&
        (file_ftruncate(w->fd, (off_t)w->file_bytes) != 0 || file_fsync(w->fd) != 0))
        r = err_set(FLOE_EIO, "truncate WAL file %llu in %s at close: %s", (unsigned long long)w->file_no,
                    w->dir, strerror(errno));
    destroy_sync(w);
    wal_free(w);
    return r;
}

/* One piece wal_repair cuts: WAL file no from byte offset to its end, kept as quarantine file to. */
typedef struct repair_piece {
    uint64_t no;
    uint64_t offset;
    uint64_t bytes;
    uint64_t records;
    char from[PATH_MAX];
    char to[PATH_MAX];
} repair_piece;

/* Counts the CRC-valid records of a mapped file from byte from on, following each one found by the
 * search after damage (linear in the bytes, see record_search). */
static int count_valid_records(const mapped_file *f, size_t from, uint64_t *count_out)
{
    record_search s;
    uint64_t crc_bytes = 0, count = 0;
    size_t pos = from, found = 0;
    uint32_t len = 0;
    int r = record_search_begin(&s, f->map, from, f->size, f->version, &crc_bytes);
    if (r)
        return r;
    while (record_search_next(&s, pos, 0, 0, &found, &len)) {
        count += f->map[found + 8] != WAL_REC_MARK && f->map[found + 8] != WAL_REC_PAD;
        pos = found + len;
    }
    record_search_end(&s);
    *count_out = count;
    return 0;
}

/* Names the quarantine file for WAL file no cut from byte offset: the first of
 * <no>.log.from-byte-<offset>, then ".2", ".3"... that does not exist in qdir. */
static int quarantine_name(const char *qdir, uint64_t no, uint64_t offset, char *out, size_t out_len)
{
    struct stat sb;
    for (int n = 1; n < 1000; n++) {
        int len = n == 1 ? snprintf(out, out_len, "%s/%0*llu.log.from-byte-%llu", qdir, WAL_NAME_DIGITS,
                                    (unsigned long long)no, (unsigned long long)offset)
                         : snprintf(out, out_len, "%s/%0*llu.log.from-byte-%llu.%d", qdir, WAL_NAME_DIGITS,
                                    (unsigned long long)no, (unsigned long long)offset, n);
        if (len < 0 || (size_t)len >= out_len)
            return err_set(FLOE_EINVAL, "quarantine directory path is too long: %s", qdir);
        if (lstat(out, &sb) != 0 && errno == ENOENT)
            return 0;
    }
    return err_set(FLOE_EIO, "%s holds 999 cuts of WAL file %llu from byte %llu already: clean it up", qdir,
                   (unsigned long long)no, (unsigned long long)offset);
}

/* Describes the piece of WAL file no from byte offset on: its size, its records and its quarantine
 * name. */
static int plan_piece(wal_t *w, const char *qdir, uint64_t no, uint64_t offset, repair_piece *p)
{
    mapped_file f = {.fd = -1};
    int r = 0;

    p->no = no;
    p->offset = offset;
    file_path(w, no, p->from, sizeof p->from);
    snprintf(f.path, sizeof f.path, "%s", p->from);
    r = map_file(&f, 0);
    if (r)
        goto out;
    p->bytes = f.size > offset ? f.size - offset : 0;
    /* The record layout follows the header's version; a header too damaged to say is taken to be
     * of the version this build writes. */
    f.version = WAL_FORMAT_VERSION;
    if (f.size >= 12 && memcmp(f.map, WAL_MAGIC, 8) == 0 &&
        get_le32(f.map + 8) >= WAL_FORMAT_VERSION_NO_MARKS && get_le32(f.map + 8) <= WAL_FORMAT_VERSION)
        f.version = get_le32(f.map + 8);
    r = count_valid_records(&f, (size_t)offset, &p->records);
    if (r)
        goto out;
    r = quarantine_name(qdir, no, offset, p->to, sizeof p->to);
out:
    unmap_file(&f);
    return r;
}

/* Copies the piece's bytes into a new quarantine file (temporary name, fsync, rename, fsync qdir),
 * then truncates the WAL file at the piece's offset and fsyncs it: the cut bytes are durable before
 * they leave the WAL. */
static int cut_piece(const repair_piece *p, int qdir_fd)
{
    mapped_file f = {.fd = -1};
    char tmp[PATH_MAX + 8];
    int out_fd = -1;
    int r = 0;

    snprintf(f.path, sizeof f.path, "%s", p->from);
    snprintf(tmp, sizeof tmp, "%s.tmp", p->to);
    r = map_file(&f, 1);
    if (r)
        goto out;
    out_fd = file_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0) {
        r = err_set(FLOE_EIO, "create %s: %s", tmp, strerror(errno));
        goto out;
    }
    int e = file_write_all(out_fd, f.map + p->offset, (size_t)p->bytes);
    if (e || file_fsync(out_fd) != 0) {
        r = err_set(FLOE_EIO, "write %s: %s", tmp, strerror(e ? e : errno));
        goto out;
    }
    if (file_rename(tmp, p->to) != 0 || file_fsync(qdir_fd) != 0) {
        r = err_set(FLOE_EIO, "rename %s to %s: %s", tmp, p->to, strerror(errno));
        goto out;
    }
    if (ftruncate_sync(&f, (size_t)p->offset) != 0)
        r = err_set(FLOE_EIO, "truncate %s at byte %llu: %s (its cut bytes are safe in %s)", p->from,
                    (unsigned long long)p->offset, strerror(errno), p->to);
out:
    if (out_fd >= 0)
        file_close(out_fd);
    if (r)
        file_unlink(tmp);
    unmap_file(&f);
    return r;
}

/* Moves a whole WAL file into the quarantine directory and makes both entries durable. */
static int move_piece(const repair_piece *p, int wal_dir_fd, int qdir_fd)
{
    if (file_rename(p->from, p->to) != 0)
        return err_set(FLOE_EIO, "move %s to %s: %s", p->from, p->to, strerror(errno));
    if (file_fsync(qdir_fd) != 0 || file_fsync(wal_dir_fd) != 0)
        return err_set(FLOE_EIO, "fsync the directories of %s and %s: %s", p->from, p->to, strerror(errno));
    return 0;
}

/* Finds where wal_open would refuse the WAL of w for damage, without changing a file. Returns 0 with
 * rep->damaged 0 when it opens; 0 with rep filled when a cut mends it; an error otherwise. */
static int repair_survey(wal_t *w, wal_repair_report *rep)
{
    replay_state st = {.survey = 1};
    uint64_t next_no = 0, files_left = 0;
    int r = replay_dir(w, &st, &next_no, &files_left);

    if (r == 0 || r != FLOE_ECORRUPT || !st.damaged)
        return r;
    rep->damaged = 1;
    rep->file_no = st.damage_file;
    rep->offset = st.damage_off;
    rep->records_kept = st.records;
    snprintf(rep->what, sizeof rep->what, "%s", floe_last_error());
    return 0;
}

/* Plans the cut of rep: the damaged file's piece and every later file, in file order. *pieces_out is
 * malloc'd and owned by the caller. */
static int repair_plan(wal_t *w, const char *qdir, wal_repair_report *rep, repair_piece **pieces_out,
                       size_t *count_out)
{
    uint64_t *nums = NULL;
    size_t count = 0, n = 0;
    repair_piece *pieces = NULL;
    int r = list_files(w->dir, &nums, &count);
    if (r)
        goto out;
    pieces = calloc(count ? count : 1, sizeof *pieces);
    if (!pieces) {
        r = err_set(FLOE_ENOMEM, "repair of WAL %s: out of memory", w->dir);
        goto out;
    }
    for (size_t i = 0; i < count && !r; i++) {
        if (nums[i] < rep->file_no)
            continue;
        r = plan_piece(w, qdir, nums[i], nums[i] == rep->file_no ? rep->offset : 0, &pieces[n]);
        if (!r) {
            rep->files_cut++;
            rep->bytes_cut += pieces[n].bytes;
            rep->records_lost += pieces[n].records;
            n++;
        }
    }
out:
    free(nums);
    if (r) {
        free(pieces);
        return r;
    }
    *pieces_out = pieces;
    *count_out = n;
    return 0;
}

/* Cuts the planned pieces: later files first, highest number first, so that the WAL stays a
 * contiguous run of files at every step and a repair interrupted by a crash can simply be run again;
 * the damaged file last. */
static int repair_cut(wal_t *w, const char *qdir, const repair_piece *pieces, size_t count)
{
    int qdir_fd = -1;
    int r = file_mkdir_p(qdir);
    if (r)
        goto out;
    qdir_fd = file_open(qdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (qdir_fd < 0) {
        r = err_set(FLOE_EIO, "open quarantine directory %s: %s", qdir, strerror(errno));
        goto out;
    }
    for (size_t i = count; i-- > 0 && !r;)
        r = pieces[i].offset == 0 ? move_piece(&pieces[i], w->dir_fd, qdir_fd)
                                  : cut_piece(&pieces[i], qdir_fd);
out:
    if (qdir_fd >= 0)
        file_close(qdir_fd);
    return r;
}

int wal_repair(const char *dir, const char *quarantine_dir, int dry_run, wal_repair_fn fn, void *ctx,
               wal_repair_report *out)
{
    /* No record is too long to keep: wal_repair cuts damage, never records over a limit. */
    wal_options o = {.sync = FLOE_SYNC_NEVER, .file_bytes = UINT64_MAX, .max_record_bytes = UINT32_MAX};
    wal_repair_report rep;
    repair_piece *pieces = NULL;
    size_t count = 0;
    wal_t *w = NULL;
    struct stat sb;
    int r = 0;

    memset(&rep, 0, sizeof rep);
    if (!dir || !quarantine_dir || !out)
        return err_set(FLOE_EINVAL, "wal_repair: NULL argument");
    if (strlen(dir) + 1 + WAL_NAME_BYTES + 1 > PATH_MAX)
        return err_set(FLOE_EINVAL, "WAL directory path is too long: %s", dir);
    if (stat(dir, &sb) != 0 && errno == ENOENT)
        goto report; /* no WAL: nothing to repair */
    r = wal_alloc(dir, &o, &w);
    if (r)
        goto out;
    w->dir_fd = file_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (w->dir_fd < 0) {
        r = err_set(FLOE_EIO, "open WAL directory %s: %s", dir, strerror(errno));
        goto out;
    }
    r = repair_survey(w, &rep);
    if (r)
        goto out;
    if (!rep.damaged)
        goto report;
    r = repair_plan(w, quarantine_dir, &rep, &pieces, &count);
    if (r)
        goto out;
    if (!dry_run)
        r = repair_cut(w, quarantine_dir, pieces, count);
    if (r)
        goto out;
    for (size_t i = 0; fn && i < count; i++)
        fn(ctx, pieces[i].from, pieces[i].offset, pieces[i].bytes, pieces[i].records, pieces[i].to);
report:
    err_clear();
    *out = rep;
out:
    free(pieces);
    wal_free(w);
    return r;
}
