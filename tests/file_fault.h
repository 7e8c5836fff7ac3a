/* A file environment for tests (see src/file.h): it passes every call to the system, and on request
 * fails chosen calls with an errno value, or simulates a power loss.
 *
 * Faults. file_fault_fail(op, nth, err, path_part) makes the nth later call of op (1: the next one)
 * whose file's path contains path_part (NULL: any file) fail with err, and with sticky every matching
 * call after it too, as a full or broken disk does, until file_fault_clear(). Calls on a
 * descriptor are matched by the path it was opened with; descriptors not opened through the
 * environment are neither failed nor tracked.
 *
 * Power loss. The environment keeps, for every file written through it, what a power loss would
 * leave: the bytes made durable by the last fsync or fdatasync of that file, and, for every
 * directory, the entries changed (created, renamed, linked, unlinked, made) since the last fsync of
 * that directory. file_fault_power_loss() applies a power loss to the disk now: each page written
 * since its file's last sync is dropped (back to its durable bytes, or cut off past the durable
 * size), zeroed (the bytes written to it since the sync read as zeros; its other bytes keep their
 * durable value, since disks do not damage bytes nobody wrote), or kept, per the mode, and every
 * directory change not followed by an fsync of its directory is undone (newest first; a rename
 * between two directories unless both were fsynced). Files that existed when the environment was
 * installed count as durable; writes through mmap are not seen. To undo an unlink or a rename
 * over a file, the environment keeps a hard link in a stash directory .file-fault-stash-<pid>-*,
 * made at the highest writable directory (not /) above it on the same filesystem; a power loss or
 * uninstall removes it. The process then cannot go on honestly, so file_fault_crash_at(n) is the
 * usual use: the nth mutating call from now (write, pwrite, fsync, fdatasync, fallocate,
 * ftruncate, rename, link, unlink, mkdir, rmdir, or an open that creates a file or truncates an
 * existing one; every such call counts, also one that fails) applies the power loss instead of
 * running, and the process exits at once with status FILE_FAULT_CRASH_EXIT (kill -9 at that
 * instant). Run the code under test in a forked child and reopen the store in the parent.
 *
 * Threads: every call is safe from any thread; the environment serialises the calls it tracks. */
#ifndef FLOE_TEST_FILE_FAULT_H
#define FLOE_TEST_FILE_FAULT_H

#include <stdint.h>

/* The exit status of a process that file_fault_crash_at stopped. */
#define FILE_FAULT_CRASH_EXIT 77

typedef enum file_fault_op {
    FILE_OP_OPEN,      /* every open, of files and directories */
    FILE_OP_WRITE,     /* write and pwrite */
    FILE_OP_READ,      /* read and pread */
    FILE_OP_FSYNC,     /* fsync and fdatasync, of files and directories */
    FILE_OP_FALLOCATE,
    FILE_OP_FTRUNCATE,
    FILE_OP_RENAME,    /* matched by the source path */
    FILE_OP_LINK,      /* matched by the source path */
    FILE_OP_UNLINK,
    FILE_OP_MKDIR,     /* mkdir and rmdir */
    FILE_OP_MMAP,
    FILE_OP_KINDS
} file_fault_op;

typedef enum file_fault_loss {
    FILE_LOSS_DROP,   /* every unsynced page goes back to its durable bytes */
    FILE_LOSS_ZERO,   /* every byte written since the last sync reads as zeros (cut off past the
                       * durable size) */
    FILE_LOSS_RANDOM  /* each unsynced page, independently: kept, dropped or zeroed (seeded) */
} file_fault_loss;

/* Installs the environment with nothing armed and every existing file counted as durable. */
void file_fault_install(void);

/* Puts the system environment back and forgets all state. */
void file_fault_uninstall(void);

/* Arms a fault (see the top of the file). At most 16 are armed at once. */
void file_fault_fail(file_fault_op op, int nth, int err, const char *path_part, int sticky);

/* Disarms every fault and every pending crash; tracked durable state is kept. */
void file_fault_clear(void);

/* Calls of op that failed through an armed fault so far. */
uint64_t file_fault_failures(file_fault_op op);

/* Mutating calls (as listed above) since install: run a workload once to learn how many cut
 * points it has. */
uint64_t file_fault_mutations(void);

/* Makes the nth mutating call from now a power loss (mode, seed for FILE_LOSS_RANDOM) and exits;
 * 0 disarms. */
void file_fault_crash_at(uint64_t nth, file_fault_loss mode, uint64_t seed);

/* Lists every later mutating call, one line each, "<n> <op> <path>" (n counting from install, as
 * file_fault_crash_at counts from now), to the file at trace_path (outside the environment), so a
 * test can aim its cut points at chosen kinds of calls; NULL or "" stops. */
void file_fault_trace(const char *trace_path);

/* At the crash of file_fault_crash_at, first write "<op> <path>" (the call the power loss replaced:
 * op as in file_fault_op, lower case, e.g. "fsync /tmp/x/wal/00000000000000000001.log") to the
 * file at note_path, outside the environment; NULL or "" writes none. */
void file_fault_crash_note(const char *note_path);

/* Which mutating calls file_fault_crash_at_match counts: op is the call's name as in the trace
 * ("write", "fsync", "unlink", ...), path its file. Called with the environment's lock held: it
 * must not call into the environment. */
typedef int (*file_fault_match)(const char *op, const char *path);

/* As file_fault_crash_at, counting only the mutating calls match accepts (NULL: all), so a test can
 * cut at the nth call of one kind (the 3rd unlink in the cold tier, say) however other threads'
 * calls interleave. */
void file_fault_crash_at_match(uint64_t nth, file_fault_match match, file_fault_loss mode, uint64_t seed);

/* Applies a power loss to the disk now (the process may go on, but its open files no longer tell
 * the truth: the caller exits or stops using them). */
void file_fault_power_loss(file_fault_loss mode, uint64_t seed);

#endif
