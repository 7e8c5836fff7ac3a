/* floe fsck: checks the data directory (the manifest loads; every local segment file it names
 * exists, has its size and checksum, and every block passes its CRC) and, with --remote, every
 * object the newest remote manifest names, and lists orphans (docs/operations.md, "fsck").
 *
 * Invariants:
 * 1. fsck only reads: it never changes a local file or a cold-tier object.
 * 2. Orphans and keys under segments/ that are not floe segment keys are reported, never counted as
 *    damage: damage is a named object that is missing, has the wrong size, or fails its CRC32C.
 * 3. Object bytes are streamed in FSCK_READ_CHUNK_BYTES pieces, and a listing holds at most
 *    LISTING_MAX_OBJECTS keys: no buffer grows with the bucket.
 */
#include "tools.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "config.h"
#include "crc32c.h"
#include "error.h"
#include "floe.h"
#include "listing.h"
#include "manifest.h"
#include "progress.h"
#include "remote.h"
#include "segment.h"

#define FSCK_READ_CHUNK_BYTES (8u << 20)

/* The CRC32C of the whole object, read in chunks. */
static int object_crc(cold_t *c, const char *key, uint64_t size, uint32_t *crc_out)
{
    size_t chunk = size < FSCK_READ_CHUNK_BYTES ? (size_t)size : FSCK_READ_CHUNK_BYTES;
    uint8_t *buf = malloc(chunk ? chunk : 1);
    uint32_t crc = 0;
    int rc = 0;
    if (!buf)
        return err_set(FLOE_ENOMEM, "fsck: out of memory reading %s", key);
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
        if ((rc = cold_get_range(c, key, off, buf, n)) < 0)
            goto out;
        crc = crc32c_extend(crc, buf, n);
        off += n;
    }
    *crc_out = crc;
out:
    free(buf);
    return rc;
}

static void format_time(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%" PRId64, t);
}

/* What a remote check found, by kind. */
typedef struct fsck_counts {
    uint64_t missing, size_bad, crc_bad, orphans, unknown, orphan_bytes;
} fsck_counts;

/* Checks one segment object the manifest names: that it exists (in the listing l, which it marks,
 * else by a HEAD), its size, and the CRC32C of its bytes. Prints a line per problem, counts it in
 * n and sets *damaged. Returns 0, or a negative error when the check itself could not be made. */
static int check_named_object(cold_t *c, const manifest_segment *s, listing *l, FILE *out, fsck_counts *n,
                              int *damaged)
{
    const char *key = s->object_key;
    listed *e = listing_find(l, key);
    uint64_t size = 0;
    uint32_t crc = 0;
    const char *problem = NULL;
    int rc = 0;
    if (e) {
        e->named = 1;
        size = e->size;
    } else {
        rc = cold_head(c, key, &size, NULL);
        if (rc == FLOE_ENOTFOUND)
            problem = "missing";
        else if (rc < 0)
            goto out;
    }
    if (!problem && size != s->size) {
        fprintf(out,
                "size mismatch: %s (segment %" PRIu64 "): the manifest says %" PRIu64
                " bytes, the object has %" PRIu64 "\n",
                key, s->id, s->size, size);
        problem = "size";
        n->size_bad++;
    }
    if (!problem) {
        rc = object_crc(c, key, size, &crc);
        if (rc == FLOE_ENOTFOUND) {
            problem = "missing"; /* deleted while we looked */
        } else if (rc == FLOE_ERANGE) {
            fprintf(out, "size mismatch: %s (segment %" PRIu64 "): the object shrank while being read: %s\n",
                    key, s->id, floe_last_error());
            problem = "size";
            n->size_bad++;
        } else if (rc < 0) {
            goto out;
        } else if (crc != s->crc32c) {
            fprintf(out,
                    "checksum mismatch: %s (segment %" PRIu64
                    "): the manifest says crc32c 0x%08x, the object's "
                    "bytes give 0x%08x\n",
                    key, s->id, s->crc32c, crc);
            problem = "checksum";
            n->crc_bad++;
        }
    }
    if (problem && strcmp(problem, "missing") == 0) {
        fprintf(out,
                "missing: %s (segment %" PRIu64 ", %" PRIu64 " bytes) is named by the manifest but is not in "
                "the cold tier\n",
                key, s->id, s->size);
        n->missing++;
    }
    *damaged = problem != NULL;
    rc = 0;
out:
    return rc;
}

/* Prints and counts every listed key the manifest does not name: orphans (segment keys, which gc
 * removes later) and unknown keys (left alone). Neither is damage (invariant 2). */
static void report_unnamed(const listing *l, FILE *out, fsck_counts *n)
{
    for (size_t i = 0; i < l->n; i++) {
        const listed *e = &l->v[i];
        uint64_t id, epoch;
        char when[32];
        if (e->named)
            continue;
        format_time(e->mtime_unix_s, when);
        if (cold_parse_segment_key(e->key, &id, &epoch) != 0) {
            fprintf(out,
                    "unknown: %s (%" PRIu64 " bytes, modified %s) is not a floe segment key; left alone\n",
                    e->key, e->size, when);
            n->unknown++;
            continue;
        }
        fprintf(out,
                "orphan: %s (segment %" PRIu64 ", epoch %" PRIu64 ", %" PRIu64
                " bytes, modified %s) is not named "
                "by the newest manifest; `floe gc` removes it after the grace period\n",
                e->key, id, epoch, e->size, when);
        n->orphans++;
        n->orphan_bytes += e->size;
    }
}

int tools_fsck_remote(cold_t *c, FILE *out, uint64_t *orphans_out)
{
    manifest *m = NULL;
    listing l = {0};
    progress_meter p = {0};
    fsck_counts n = {0};
    uint64_t version = 0;
    char first_bad[FLOE_MAX_KEY_BYTES + 1] = "";
    int rc;
    if (!c || !out)
        return err_set(FLOE_EINVAL, "fsck: no store or output");
    rc = remote_latest(c, &version, &m);
    if (rc == FLOE_ECORRUPT) {
        fprintf(out, "damaged: %s\n", floe_last_error());
        return rc;
    }
    if (rc < 0 && rc != FLOE_ENOTFOUND)
        return rc;
    if (rc == FLOE_ENOTFOUND)
        fprintf(out, "fsck: the cold tier has no manifest; every segment object is an orphan\n");
    else
        fprintf(out, "fsck: manifest version %" PRIu64 " (writer epoch %" PRIu64 ") names %zu segments\n",
                version, m->writer_epoch, m->count);
    if ((rc = listing_collect(c, "segments/", &l)) < 0)
        goto out;

    progress_begin(&p, stderr, 1, "checked", m ? m->count : 0);
    for (size_t i = 0; m && i < m->count; i++) {
        int damaged = 0;
        if ((rc = check_named_object(c, &m->segments[i], &l, out, &n, &damaged)) < 0)
            goto out;
        if (damaged && !first_bad[0])
            snprintf(first_bad, sizeof first_bad, "%s", m->segments[i].object_key);
        progress_step(&p);
    }
    progress_end(&p);
    rc = 0;

    report_unnamed(&l, out, &n);
    err_clear();
    uint64_t damaged = n.missing + n.size_bad + n.crc_bad;
    fprintf(out,
            "fsck: %zu objects checked: %" PRIu64 " missing, %" PRIu64 " size mismatches, %" PRIu64
            " checksum mismatches; %" PRIu64 " orphans (%" PRIu64 " bytes), %" PRIu64 " unknown objects\n",
            m ? m->count : (size_t)0, n.missing, n.size_bad, n.crc_bad, n.orphans, n.orphan_bytes, n.unknown);
    if (orphans_out)
        *orphans_out = n.orphans;
    if (damaged)
        rc = err_set(FLOE_ECORRUPT,
                     "fsck: %" PRIu64 " of %zu segment objects named by manifest version %" PRIu64
                     " are missing or damaged (first: %s)",
                     damaged, m->count, version, first_bad);
out:
    progress_end(&p);
    listing_free(&l);
    manifest_free(m);
    return rc;
}

static void fsck_usage(FILE *f)
{
    fprintf(f,
            "usage: floe fsck [-c FILE] [--remote]\n"
            "  Checks the data directory: the manifest loads, and every local segment file it names exists,\n"
            "  has the right size and checksum, and every block passes its CRC. With --remote, also checks\n"
            "  every object the newest remote manifest names (exists, size, CRC32C) and lists orphans.\n");
}

/* Checks one local segment file against its manifest entry; prints a line per problem. Returns 1 if
 * damaged, 0 if intact. */
static int fsck_segment_file(const char *path, const manifest_segment *ms, FILE *out)
{
    struct stat st;
    segment_t *s = NULL;
    uint32_t crc = 0;
    int damaged = 1;
    if (stat(path, &st) != 0) {
        fprintf(out, "missing: %s (segment %" PRIu64 ", state %s): %s\n", path, ms->id,
                manifest_state_name(ms->state), strerror(errno));
        return 1;
    }
    if ((uint64_t)st.st_size != ms->size) {
        fprintf(out,
                "size mismatch: %s (segment %" PRIu64 "): the manifest says %" PRIu64
                " bytes, the file has %lld\n",
                path, ms->id, ms->size, (long long)st.st_size);
        return 1;
    }
    if (segment_open_file(path, &s) < 0) {
        fprintf(out, "damaged: %s\n", floe_last_error());
        return 1;
    }
    if (segment_get_info(s)->id != ms->id) {
        fprintf(out,
                "damaged: %s holds segment %" PRIu64 ", but the manifest names it as segment %" PRIu64 "\n",
                path, segment_get_info(s)->id, ms->id);
    } else if (segment_verify(s, &crc) < 0) {
        fprintf(out, "damaged: %s\n", floe_last_error());
    } else if (crc != ms->crc32c) {
        fprintf(out,
                "checksum mismatch: %s (segment %" PRIu64
                "): the manifest says crc32c 0x%08x, the file gives 0x%08x\n",
                path, ms->id, ms->crc32c, crc);
    } else {
        damaged = 0;
    }
    segment_close(s);
    return damaged;
}

/* Checks the local data directory. Returns the number of problems, or a negative error when it
 * could not check at all. */
static long fsck_local(const floe_config *cfg, int remote_too, FILE *out)
{
    manifest *m = NULL;
    struct stat st;
    long problems = 0;
    size_t checked = 0, local = 0;
    if (stat(cfg->data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        if (!remote_too)
            return err_set(FLOE_ENOTFOUND, "data_dir %s does not exist or is not a directory", cfg->data_dir);
        fprintf(out, "fsck: data_dir %s does not exist; checking the cold tier only\n", cfg->data_dir);
        return 0;
    }
    int rc = manifest_load(cfg->data_dir, &m);
    if (rc == FLOE_ENOTFOUND) {
        fprintf(out, "fsck: %s has no manifest.json: nothing has been sealed yet\n", cfg->data_dir);
        return 0;
    }
    if (rc == FLOE_ECORRUPT) {
        fprintf(out, "damaged: %s\n", floe_last_error());
        return 1;
    }
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < m->count; i++)
        local += m->segments[i].state != SEG_REMOTE;
    fprintf(out, "fsck: %s/manifest.json: version %" PRIu64 ", %zu segments, %zu with local files\n",
            cfg->data_dir, m->version, m->count, local);
    int tty = isatty(STDERR_FILENO);
    for (size_t i = 0; i < m->count; i++) {
        const manifest_segment *ms = &m->segments[i];
        char path[CONFIG_MAX_PATH_BYTES + 64];
        if (ms->state == SEG_REMOTE)
            continue;
        snprintf(path, sizeof path, "%s/segments/%020" PRIu64 ".seg", cfg->data_dir, ms->id);
        problems += fsck_segment_file(path, ms, out);
        checked++;
        if (tty) {
            fprintf(stderr, "\rchecked %zu/%zu segment files", checked, local);
            fflush(stderr);
        }
    }
    if (tty && local)
        fputc('\n', stderr);
    fprintf(out, "fsck: local: %zu segment files checked, %ld damaged\n", checked, problems);
    manifest_free(m);
    if (problems)
        err_set(FLOE_ECORRUPT,
                "%ld of %zu local segment files in %s/segments are missing or damaged (see above)", problems,
                checked, cfg->data_dir);
    return problems;
}

int tools_cmd_fsck(int argc, char **argv)
{
    command_args a;
    int st = command_parse_args("fsck", argc, argv, 1, COMMAND_OPT_REMOTE, &a);
    if (st) {
        fsck_usage(st == 1 ? stdout : stderr);
        return st == 1 ? 0 : 2;
    }
    floe_config *cfg = command_load_config("fsck", a.config_path);
    cold_t *c = NULL;
    int status = 1, rc = 0;
    char local_msg[1024] = "";
    if (!cfg)
        return 1;
    long problems = fsck_local(cfg, a.remote, stdout);
    if (problems < 0) {
        status = command_fail("fsck", (int)problems);
        goto out;
    }
    if (problems)
        snprintf(local_msg, sizeof local_msg, "%s", floe_last_error());
    if (a.remote) {
        if ((rc = command_open_cold(cfg, &c)) < 0) {
            status = command_fail("fsck", rc);
            goto out;
        }
        rc = tools_fsck_remote(c, stdout, NULL);
        if (rc < 0 && rc != FLOE_ECORRUPT) {
            status = command_fail("fsck", rc);
            goto out;
        }
    }
    if (problems || rc == FLOE_ECORRUPT) {
        fflush(stdout);
        fprintf(stderr, "floe fsck: damage found: %s%s%s\n", local_msg, local_msg[0] && rc ? "; " : "",
                rc ? command_without_prefix(floe_last_error(), "fsck") : "");
        goto out;
    }
    printf("floe fsck: no damage found\n");
    status = 0;
out:
    cold_close(c);
    command_free_config(cfg);
    return status;
}
