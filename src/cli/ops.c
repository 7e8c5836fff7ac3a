/* The operator tools that work on a data directory and its cold tier without a running server:
 * floe restore, floe fsck, floe gc and floe manifest show. Each loads the config file, builds the
 * cold store it names, and leaves the real work to remote.c and segment.c.
 *
 * Exit status: 0 on success, 1 when the operation failed or found damage (one line on stderr says
 * what), 2 for a usage error. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cold.h"
#include "config.h"
#include "error.h"
#include "floe.h"
#include "manifest.h"
#include "remote.h"
#include "segment.h"

#define GC_DEFAULT_GRACE_S 3600
#define GC_KEEP_MANIFESTS 10
/* Keys in `manifest show` are shortened to this many bytes. */
#define SHOW_KEY_BYTES 24

/* Options shared by the tools. */
typedef struct ops_args {
    const char *config_path; /* NULL: the built-in defaults */
    int remote;
    int dry_run;
    int64_t grace_s;
} ops_args;

enum { OPT_REMOTE = 1, OPT_DRY_RUN = 2, OPT_GRACE = 4 };

/* Parses argv[first..] for -c FILE and the options in allowed. Returns 0, 1 for --help, or 2 after
 * printing the problem. */
static int parse_args(const char *cmd, int argc, char **argv, int first, unsigned allowed, ops_args *a)
{
    memset(a, 0, sizeof *a);
    a->grace_s = GC_DEFAULT_GRACE_S;
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if ((strcmp(arg, "-c") == 0 || strcmp(arg, "--config") == 0) && i + 1 < argc) {
            a->config_path = argv[++i];
        } else if (strncmp(arg, "--config=", 9) == 0) {
            a->config_path = arg + 9;
        } else if ((allowed & OPT_REMOTE) && strcmp(arg, "--remote") == 0) {
            a->remote = 1;
        } else if ((allowed & OPT_DRY_RUN) && strcmp(arg, "--dry-run") == 0) {
            a->dry_run = 1;
        } else if ((allowed & OPT_GRACE) &&
                   (strcmp(arg, "--grace-s") == 0 || strncmp(arg, "--grace-s=", 10) == 0)) {
            const char *v = arg[9] == '=' ? arg + 10 : (i + 1 < argc ? argv[++i] : NULL);
            char *end = NULL;
            errno = 0;
            long long n = v ? strtoll(v, &end, 10) : -1;
            if (!v || !*v || *end || errno || n < 0) {
                fprintf(stderr, "floe %s: --grace-s needs a number of seconds >= 0, not '%s'\n", cmd,
                        v ? v : "");
                return 2;
            }
            a->grace_s = n;
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            return 1;
        } else {
            fprintf(stderr, "floe %s: unexpected argument '%s'\n", cmd, arg);
            return 2;
        }
    }
    return 0;
}

/* Loads the config (malloc'd: it is large). Prints the error and returns NULL on failure. */
static floe_config *load_config(const char *cmd, const char *path)
{
    floe_config *cfg = malloc(sizeof *cfg);
    if (!cfg) {
        fprintf(stderr, "floe %s: out of memory\n", cmd);
        return NULL;
    }
    if (config_load(path, cfg) != 0) {
        fprintf(stderr, "floe %s: %s\n", cmd, floe_last_error());
        free(cfg);
        return NULL;
    }
    return cfg;
}

static void free_config(floe_config *cfg)
{
    if (cfg) {
        config_free(cfg);
        free(cfg);
    }
}

/* Builds the cold store the config names. */
static int open_cold(const floe_config *cfg, cold_t **out)
{
    const floe_options *o = &cfg->options;
    switch (o->cold.backend) {
    case FLOE_COLD_FS:
        return cold_open_fs(o->cold.fs_path, out);
    case FLOE_COLD_S3: {
        s3_config s3 = {
            .endpoint = o->cold.s3.endpoint,
            .bucket = o->cold.s3.bucket,
            .prefix = o->cold.s3.prefix,
            .region = o->cold.s3.region,
            .path_style = o->cold.s3.path_style,
            .ca_file = o->cold.s3.ca_file,
            .access_key = o->cold.s3.access_key,
            .secret_key = o->cold.s3.secret_key,
            .timeout_ms = o->cold.s3.timeout_ms,
            .max_retries = o->cold.s3.max_retries,
        };
        return cold_open_s3(&s3, out);
    }
    default:
        return err_set(FLOE_EINVAL, "%s: cold.backend is \"none\": there is no cold tier to work with",
                       cfg->source);
    }
}

/* Prints the one stderr line of a failure and returns exit status 1. The library's messages often
 * start with the operation's name ("gc: ..."), which the line already says. */
static const char *without_prefix(const char *msg, const char *cmd)
{
    const char *word = strrchr(cmd, ' ') ? strrchr(cmd, ' ') + 1 : cmd;
    size_t n = strlen(word);
    if (strncmp(msg, word, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
        msg += n + 2;
    return msg;
}

static int fail(const char *cmd, int rc)
{
    const char *msg = without_prefix(floe_last_error()[0] ? floe_last_error() : floe_strerror(rc), cmd);
    fflush(stdout);
    fprintf(stderr, "floe %s: %s\n", cmd, msg);
    return 1;
}

/* ---- floe restore ---- */

static void restore_usage(FILE *f)
{
    fprintf(f, "usage: floe restore [-c FILE]\n"
               "  Rebuilds the config's data_dir (which must be empty or missing) from the cold tier alone:\n"
               "  writes a manifest naming every segment of the newest remote manifest. Segments are read\n"
               "  from the cold tier when first needed.\n");
}

int cli_restore(int argc, char **argv)
{
    ops_args a;
    int st = parse_args("restore", argc, argv, 1, 0, &a);
    if (st) {
        restore_usage(st == 1 ? stdout : stderr);
        return st == 1 ? 0 : 2;
    }
    floe_config *cfg = load_config("restore", a.config_path);
    cold_t *c = NULL;
    int status = 1, rc;
    if (!cfg)
        return 1;
    if ((rc = open_cold(cfg, &c)) < 0 || (rc = remote_restore(c, cfg->data_dir, stderr)) < 0) {
        status = fail("restore", rc);
        goto out;
    }
    printf("floe restore: %s rebuilt from the %s cold tier; start the server to take over as writer\n",
           cfg->data_dir, cold_backend_name(c));
    status = 0;
out:
    cold_close(c);
    free_config(cfg);
    return status;
}

/* ---- floe fsck ---- */

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

int cli_fsck(int argc, char **argv)
{
    ops_args a;
    int st = parse_args("fsck", argc, argv, 1, OPT_REMOTE, &a);
    if (st) {
        fsck_usage(st == 1 ? stdout : stderr);
        return st == 1 ? 0 : 2;
    }
    floe_config *cfg = load_config("fsck", a.config_path);
    cold_t *c = NULL;
    int status = 1, rc = 0;
    char local_msg[1024] = "";
    if (!cfg)
        return 1;
    long problems = fsck_local(cfg, a.remote, stdout);
    if (problems < 0) {
        status = fail("fsck", (int)problems);
        goto out;
    }
    if (problems)
        snprintf(local_msg, sizeof local_msg, "%s", floe_last_error());
    if (a.remote) {
        if ((rc = open_cold(cfg, &c)) < 0) {
            status = fail("fsck", rc);
            goto out;
        }
        rc = remote_fsck(c, stdout, NULL);
        if (rc < 0 && rc != FLOE_ECORRUPT) {
            status = fail("fsck", rc);
            goto out;
        }
    }
    if (problems || rc == FLOE_ECORRUPT) {
        fflush(stdout);
        fprintf(stderr, "floe fsck: damage found: %s%s%s\n", local_msg, local_msg[0] && rc ? "; " : "",
                rc ? without_prefix(floe_last_error(), "fsck") : "");
        goto out;
    }
    printf("floe fsck: no damage found\n");
    status = 0;
out:
    cold_close(c);
    free_config(cfg);
    return status;
}

/* ---- floe gc ---- */

static void gc_usage(FILE *f)
{
    fprintf(
        f,
        "usage: floe gc [-c FILE] [--dry-run] [--grace-s N]\n"
        "  Deletes orphaned segment objects (named by no manifest that stays) older than the grace period\n"
        "  (default %d s), and manifest versions older than the newest %d and than the grace period.\n"
        "  --dry-run prints what would be deleted and deletes nothing.\n",
        GC_DEFAULT_GRACE_S, GC_KEEP_MANIFESTS);
}

int cli_gc(int argc, char **argv)
{
    ops_args a;
    int st = parse_args("gc", argc, argv, 1, OPT_DRY_RUN | OPT_GRACE, &a);
    if (st) {
        gc_usage(st == 1 ? stdout : stderr);
        return st == 1 ? 0 : 2;
    }
    floe_config *cfg = load_config("gc", a.config_path);
    cold_t *c = NULL;
    int status = 1, rc;
    if (!cfg)
        return 1;
    if ((rc = open_cold(cfg, &c)) < 0 ||
        (rc = remote_gc(c, a.grace_s, GC_KEEP_MANIFESTS, a.dry_run, stdout, NULL)) < 0) {
        status = fail("gc", rc);
        goto out;
    }
    status = 0;
out:
    cold_close(c);
    free_config(cfg);
    return status;
}

/* ---- floe manifest show ---- */

static void manifest_usage(FILE *f)
{
    fprintf(
        f,
        "usage: floe manifest show [-c FILE] [--remote]\n"
        "  Prints the data directory's manifest, or with --remote the newest manifest in the cold tier.\n");
}

/* Writes key as printable text (others as \xHH), shortened to SHOW_KEY_BYTES bytes. */
static void print_key(FILE *out, const uint8_t *key, uint32_t len)
{
    fputc('"', out);
    for (uint32_t i = 0; i < len && i < SHOW_KEY_BYTES; i++) {
        if (key[i] >= 0x20 && key[i] < 0x7f && key[i] != '"' && key[i] != '\\')
            fputc(key[i], out);
        else
            fprintf(out, "\\x%02x", key[i]);
    }
    fputs(len > SHOW_KEY_BYTES ? "\"..." : "\"", out);
}

static void show_manifest(FILE *out, const char *where, const manifest *m)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < m->count; i++)
        bytes += m->segments[i].size;
    fprintf(out, "manifest:        %s\n", where);
    fprintf(out, "version:         %" PRIu64 "\n", m->version);
    fprintf(out, "writer_epoch:    %" PRIu64 "\n", m->writer_epoch);
    fprintf(out, "remote_version:  %" PRIu64 "\n", m->remote_version);
    fprintf(out, "next_segment_id: %" PRIu64 "\n", m->next_segment_id);
    fprintf(out, "last_seq:        %" PRIu64 "\n", m->last_seq);
    fprintf(out, "wal_first_file:  %" PRIu64 "\n", m->wal_first_file);
    fprintf(out, "segments:        %zu (%" PRIu64 " bytes)\n", m->count, bytes);
    for (size_t i = 0; i < m->count; i++) {
        const manifest_segment *s = &m->segments[i];
        char when[32] = "";
        struct tm tm;
        time_t t = (time_t)s->created_unix_s;
        if (gmtime_r(&t, &tm))
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(out,
                "\nsegment %" PRIu64 "\n  state:   %s\n  object:  %s\n  size:    %" PRIu64
                " bytes, crc32c 0x%08x\n  entries: %" PRIu64 ", seq %" PRIu64 "..%" PRIu64 "\n  keys:    ",
                s->id, manifest_state_name(s->state), s->object_key[0] ? s->object_key : "(not uploaded)",
                s->size, s->crc32c, s->count, s->min_seq, s->max_seq);
        print_key(out, s->min_key, s->min_key_len);
        fputs(" .. ", out);
        print_key(out, s->max_key, s->max_key_len);
        fprintf(out, "\n  epoch:   %" PRIu64 ", created %s\n", s->epoch, when);
    }
}

int cli_manifest(int argc, char **argv)
{
    ops_args a;
    if (argc < 2 || strcmp(argv[1], "show") != 0) {
        int help = argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
        manifest_usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    int st = parse_args("manifest show", argc, argv, 2, OPT_REMOTE, &a);
    if (st) {
        manifest_usage(st == 1 ? stdout : stderr);
        return st == 1 ? 0 : 2;
    }
    floe_config *cfg = load_config("manifest show", a.config_path);
    cold_t *c = NULL;
    manifest *m = NULL;
    int status = 1, rc;
    char where[PATH_MAX + 64];
    if (!cfg)
        return 1;
    if (a.remote) {
        uint64_t version = 0;
        char key[COLD_LAYOUT_KEY_MAX];
        if ((rc = open_cold(cfg, &c)) < 0 || (rc = remote_latest(c, &version, &m)) < 0) {
            status = fail("manifest show", rc);
            goto out;
        }
        cold_manifest_key(version, key);
        snprintf(where, sizeof where, "%s (%s cold tier)", key, cold_backend_name(c));
    } else {
        if ((rc = manifest_load(cfg->data_dir, &m)) < 0) {
            status = fail("manifest show", rc);
            goto out;
        }
        snprintf(where, sizeof where, "%s/manifest.json", cfg->data_dir);
    }
    show_manifest(stdout, where, m);
    status = 0;
out:
    manifest_free(m);
    cold_close(c);
    free_config(cfg);
    return status;
}
