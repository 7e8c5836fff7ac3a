/* floe restore: rebuilds an empty data directory from the cold tier alone (docs/operations.md,
 * "Restore"). Nothing is downloaded: the new manifest names every segment in state remote, and
 * segments are read from the cold tier when first needed.
 *
 * Invariants:
 * 1. Restore writes only into a data directory that is missing or empty, so nothing local is ever
 *    overwritten.
 * 2. It writes the manifest only after checking that every segment object the newest remote
 *    manifest names exists with the size it records.
 */
#include "tools.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "command.h"
#include "error.h"
#include "file.h"
#include "floe.h"
#include "listing.h"
#include "manifest.h"
#include "progress.h"
#include "remote.h"

/* 1 if dir does not exist, 0 if it is an empty directory, else an error. */
static int check_empty_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            return 1;
        return err_set(FLOE_EIO, "restore: %s: %s", dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return err_set(FLOE_EINVAL, "restore: %s exists and is not a directory", dir);
    DIR *d = opendir(dir);
    if (!d)
        return err_set(FLOE_EIO, "restore: open %s: %s", dir, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = err_set(FLOE_EINVAL,
                     "restore: data directory %s is not empty (it holds %s); restore only into an empty or "
                     "missing directory, so nothing local is overwritten",
                     dir, de->d_name);
        break;
    }
    closedir(d);
    return rc;
}

/* Checks that every segment m names exists in the cold tier with its size, using one listing of
 * segments/ and a HEAD for any key outside it. */
static int check_objects_exist(cold_t *c, const manifest *m, uint64_t version, FILE *progress_to)
{
    listing l = {0};
    progress_meter p;
    int rc = listing_collect(c, "segments/", &l);
    if (rc < 0)
        return rc;
    progress_begin(&p, progress_to, 0, "checked", m->count);
    for (size_t i = 0; i < m->count; i++) {
        const manifest_segment *s = &m->segments[i];
        listed *e = listing_find(&l, s->object_key);
        uint64_t size = 0;
        if (e) {
            size = e->size;
        } else if ((rc = cold_head(c, s->object_key, &size, NULL)) < 0) {
            if (rc == FLOE_ENOTFOUND)
                rc = err_set(FLOE_ECORRUPT,
                             "restore: segment object %s (segment %" PRIu64
                             ") named by manifest version %" PRIu64
                             " is missing from the cold tier; run `floe fsck --remote` for the full picture",
                             s->object_key, s->id, version);
            goto out;
        }
        if (size != s->size) {
            rc = err_set(FLOE_ECORRUPT,
                         "restore: segment object %s (segment %" PRIu64 ") has %" PRIu64
                         " bytes but manifest version %" PRIu64 " says %" PRIu64 "; run `floe fsck --remote`",
                         s->object_key, s->id, size, version, s->size);
            goto out;
        }
        progress_step(&p);
    }
out:
    progress_end(&p);
    listing_free(&l);
    return rc;
}

int tools_restore(cold_t *c, const char *data_dir, FILE *progress)
{
    manifest *m = NULL;
    uint64_t version = 0, bytes = 0;
    int rc;
    if (!c || !data_dir || !data_dir[0])
        return err_set(FLOE_EINVAL, "restore: no store or data directory");
    if ((rc = check_empty_dir(data_dir)) < 0)
        return rc;
    if ((rc = remote_latest(c, &version, &m)) < 0) {
        if (rc == FLOE_ENOTFOUND)
            err_wrap(rc, "restore: nothing to restore");
        goto out;
    }
    for (size_t i = 0; i < m->count; i++)
        bytes += m->segments[i].size;
    if (progress)
        fprintf(progress,
                "restore: manifest version %" PRIu64 " (writer epoch %" PRIu64
                ") names %zu segments, %" PRIu64 " bytes\n",
                version, m->writer_epoch, m->count, bytes);
    if ((rc = check_objects_exist(c, m, version, progress)) < 0)
        goto out;
    if ((rc = file_mkdir_p(data_dir)) < 0) {
        rc = err_wrap(rc, "restore");
        goto out;
    }
    /* manifest_save bumps version: the restored directory starts its own local history at 1. */
    m->version = 0;
    m->remote_version = version;
    m->wal_first_file = 0;
    if ((rc = manifest_save(data_dir, m)) < 0) {
        rc = err_wrap(rc, "restore");
        goto out;
    }
    if (progress)
        fprintf(progress, "restore: wrote %s/manifest.json naming %zu segments in state remote\n", data_dir,
                m->count);
out:
    manifest_free(m);
    return rc;
}

static void restore_usage(FILE *f)
{
    fprintf(f, "usage: floe restore [-c FILE]\n"
               "  Rebuilds the config's data_dir (which must be empty or missing) from the cold tier alone:\n"
               "  writes a manifest naming every segment of the newest remote manifest. Segments are read\n"
               "  from the cold tier when first needed.\n");
}

int tools_cmd_restore(int argc, char **argv)
{
    command_args a;
    int st = command_parse_args("restore", argc, argv, 1, 0, &a);
    if (st) {
        restore_usage(st == 1 ? stdout : stderr);
        return st == 1 ? 0 : 2;
    }
    floe_config *cfg = command_load_config("restore", a.config_path);
    cold_t *c = NULL;
    int status = 1, rc;
    if (!cfg)
        return 1;
    if ((rc = command_open_cold(cfg, &c)) < 0 || (rc = tools_restore(c, cfg->data_dir, stderr)) < 0) {
        status = command_fail("restore", rc);
        goto out;
    }
    printf("floe restore: %s rebuilt from the %s cold tier; start the server to take over as writer\n",
           cfg->data_dir, cold_backend_name(c));
    status = 0;
out:
    cold_close(c);
    command_free_config(cfg);
    return status;
}
