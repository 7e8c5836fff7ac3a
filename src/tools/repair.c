/* floe repair: cuts a data directory's WAL at its first damage, the place where opening the store
 * refuses, and keeps the cut bytes in data_dir/quarantine/ (docs/operations.md, "Repairing a damaged
 * WAL"). The WAL side is wal_repair in src/wal.c; this file is the command around it.
 *
 * Invariants:
 * 1. It runs only while it holds the data directory's LOCK (the flock floe_open takes), so no store
 *    has the WAL open meanwhile.
 * 2. Nothing is deleted: every byte cut from the WAL is in a quarantine file first.
 * 3. --dry-run prints the same plan and changes nothing (it does not even create the LOCK file). */
#include "tools.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command.h"
#include "error.h"
#include "file.h"
#include "floe.h"
#include "wal.h"

/* Takes data_dir/LOCK as floe_open does, into *fd_out. A dry run does not create a missing LOCK
 * file: it then has nothing to take. */
static int lock_data_dir(const char *data_dir, int dry_run, int *fd_out)
{
    int rc = file_lock_dir(data_dir, !dry_run, fd_out);
    if (rc == FLOE_ELOCKED)
        rc = err_set(rc, "%s: stop floe serve before repairing", floe_last_error());
    return rc;
}

typedef struct repair_print {
    FILE *out;
    int dry_run;
    const char *data_dir;
} repair_print;

/* A path under data_dir, shown relative to it. Points into path. */
static const char *relative(const char *path, const char *data_dir)
{
    size_t n = strlen(data_dir);
    return strncmp(path, data_dir, n) == 0 && path[n] == '/' ? path + n + 1 : path;
}

static void print_piece(void *ctx, const char *from, uint64_t offset, uint64_t bytes, uint64_t records,
                        const char *to)
{
    const repair_print *p = ctx;
    if (offset == 0)
        fprintf(p->out, "  %s %s whole: %" PRIu64 " bytes, %" PRIu64 " valid records -> %s\n",
                p->dry_run ? "would move" : "moved", relative(from, p->data_dir), bytes, records,
                relative(to, p->data_dir));
    else
        fprintf(p->out, "  %s %s from byte %" PRIu64 ": %" PRIu64 " bytes, %" PRIu64 " valid records -> %s\n",
                p->dry_run ? "would cut" : "cut", relative(from, p->data_dir), offset, bytes, records,
                relative(to, p->data_dir));
}

int tools_repair(const char *data_dir, int dry_run, FILE *out, int *damaged_out)
{
    char *wal_dir = NULL, *quarantine = NULL;
    char *pieces = NULL; /* one line per piece, printed after the summary */
    size_t pieces_len = 0;
    wal_repair_report rep;
    repair_print pr = {.dry_run = dry_run, .data_dir = data_dir};
    struct stat sb;
    int lock_fd = -1;
    int rc = 0;

    memset(&rep, 0, sizeof rep);
    if (stat(data_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        rc = err_set(FLOE_ENOTFOUND, "data_dir %s does not exist or is not a directory", data_dir);
        goto out;
    }
    wal_dir = file_path_join(data_dir, "wal");
    quarantine = file_path_join(data_dir, "quarantine");
    if (!wal_dir || !quarantine) {
        rc = err_set(FLOE_ENOMEM, "repair: out of memory");
        goto out;
    }
    pr.out = open_memstream(&pieces, &pieces_len);
    if (!pr.out) {
        rc = err_set(FLOE_ENOMEM, "repair: out of memory");
        goto out;
    }
    if ((rc = lock_data_dir(data_dir, dry_run, &lock_fd)) < 0)
        goto out;
    rc = wal_repair(wal_dir, quarantine, dry_run, print_piece, &pr, &rep);
    fclose(pr.out);
    pr.out = NULL;
    if (rc < 0)
        goto out;
    if (!rep.damaged) {
        fprintf(out, "repair: %s: the WAL is not damaged: nothing to repair\n", wal_dir);
        goto out;
    }
    fprintf(out, "repair: damage: %s\n", rep.what);
    fprintf(out,
            "repair: %s %" PRIu64 " bytes (%" PRIu64 " files from %0"
            "20" PRIu64 ".log on, holding %" PRIu64 " valid records) into %s; the %" PRIu64
            " records before the damage %s\n",
            dry_run ? "would cut" : "cut", rep.bytes_cut, rep.files_cut, rep.file_no, rep.records_lost,
            relative(quarantine, data_dir), rep.records_kept, dry_run ? "would stay" : "stay");
    fputs(pieces, out);
    if (dry_run)
        fprintf(out, "repair: dry run: nothing was changed\n");
    else
        fprintf(out, "repair: done: the store opens with the records before the damage\n");
out:
    if (damaged_out && rc == 0)
        *damaged_out = rep.damaged;
    if (pr.out)
        fclose(pr.out);
    if (lock_fd >= 0)
        file_close(lock_fd);
    free(pieces);
    free(wal_dir);
    free(quarantine);
    return rc;
}

static void repair_usage(FILE *f)
{
    fprintf(f, "usage: floe repair [-c FILE] [--dry-run]\n"
               "  Cuts the WAL of the data directory at its first damage (where opening the store refuses):\n"
               "  the bytes from there, and every later WAL file, are moved into data_dir/quarantine/.\n"
               "  --dry-run prints what would be cut and changes nothing. Stop floe serve first.\n");
}

int tools_cmd_repair(int argc, char **argv)
{
    command_args a;
    int st = command_parse_args("repair", argc, argv, 1, COMMAND_OPT_DRY_RUN, &a);
    if (st) {
        repair_usage(st == 1 ? stdout : stderr);
        return st == 1 ? 0 : 2;
    }
    floe_config *cfg = command_load_config("repair", a.config_path);
    int status = 1, rc;
    if (!cfg)
        return 1;
    if ((rc = tools_repair(cfg->data_dir, a.dry_run, stdout, NULL)) < 0) {
        status = command_fail("repair", rc);
        goto out;
    }
    status = 0;
out:
    command_free_config(cfg);
    return status;
}
