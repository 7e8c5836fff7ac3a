/* floe gc: the operator's command around the library's gc (src/gc.c, whose header lists what it
 * keeps): parses the arguments, opens the configured cold tier and shows progress on a terminal. */
#include "tools.h"

#include <inttypes.h>
#include <stdio.h>

#include "command.h"
#include "config.h"
#include "error.h"
#include "floe.h"
#include "gc.h"
#include "progress.h"

#define GC_DEFAULT_GRACE_S 3600

static void meter_begin(void *ctx, int dry_run, uint64_t total)
{
    progress_begin(ctx, stderr, 1, dry_run ? "listed" : "deleted", total);
}

static void meter_step(void *ctx)
{
    progress_step(ctx);
}

static void meter_end(void *ctx)
{
    progress_end(ctx);
}

int tools_gc(cold_t *c, int64_t grace_s, unsigned keep_manifests, int dry_run, FILE *out,
             uint64_t *deleted_out)
{
    progress_meter p = {0};
    gc_progress meter = {meter_begin, meter_step, meter_end, &p};
    gc_result r;
    if (!c || !out)
        return err_set(FLOE_EINVAL, "gc: no store or output");
    int rc = gc_run(c, grace_s, keep_manifests, dry_run, out, &meter, &r);
    if (rc == 0 && deleted_out)
        *deleted_out = r.manifests_deleted + r.orphans_deleted;
    return rc;
}

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

int tools_cmd_gc(int argc, char **argv)
{
    command_args a;
    int st = command_parse_args("gc", argc, argv, 1, COMMAND_OPT_DRY_RUN | COMMAND_OPT_GRACE, &a);
    if (st) {
        gc_usage(st == 1 ? stdout : stderr);
        return st == 1 ? 0 : 2;
    }
    if (a.grace_s < 0)
        a.grace_s = GC_DEFAULT_GRACE_S;
    floe_config *cfg = command_load_config("gc", a.config_path);
    cold_t *c = NULL;
    int status = 1, rc;
    if (!cfg)
        return 1;
    if ((rc = command_open_cold(cfg, &c)) < 0 ||
        (rc = tools_gc(c, a.grace_s, GC_KEEP_MANIFESTS, a.dry_run, stdout, NULL)) < 0) {
        status = command_fail("gc", rc);
        goto out;
    }
    status = 0;
out:
    cold_close(c);
    command_free_config(cfg);
    return status;
}
