/* floe manifest show: prints the data directory's manifest, or with --remote the newest manifest in
 * the cold tier, one field per line and one block per segment. It only reads. */
#include "tools.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "command.h"
#include "config.h"
#include "floe.h"
#include "manifest.h"
#include "remote.h"

/* Keys are shortened to this many bytes. */
#define SHOW_KEY_BYTES 24

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

int tools_cmd_manifest(int argc, char **argv)
{
    command_args a;
    if (argc < 2 || strcmp(argv[1], "show") != 0) {
        int help = argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
        manifest_usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    int st = command_parse_args("manifest show", argc, argv, 2, COMMAND_OPT_REMOTE, &a);
    if (st) {
        manifest_usage(st == 1 ? stdout : stderr);
        return st == 1 ? 0 : 2;
    }
    floe_config *cfg = command_load_config("manifest show", a.config_path);
    cold_t *c = NULL;
    manifest *m = NULL;
    int status = 1, rc;
    char where[PATH_MAX + 64];
    if (!cfg)
        return 1;
    if (a.remote) {
        uint64_t version = 0;
        char key[COLD_LAYOUT_KEY_MAX];
        if ((rc = command_open_cold(cfg, &c)) < 0 || (rc = remote_latest(c, &version, &m)) < 0) {
            status = command_fail("manifest show", rc);
            goto out;
        }
        cold_manifest_key(version, key);
        snprintf(where, sizeof where, "%s (%s cold tier)", key, cold_backend_name(c));
    } else {
        if ((rc = manifest_load(cfg->data_dir, &m)) < 0) {
            status = command_fail("manifest show", rc);
            goto out;
        }
        snprintf(where, sizeof where, "%s/manifest.json", cfg->data_dir);
    }
    show_manifest(stdout, where, m);
    status = 0;
out:
    manifest_free(m);
    cold_close(c);
    command_free_config(cfg);
    return status;
}
