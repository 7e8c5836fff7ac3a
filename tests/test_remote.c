/* The manifest in the cold tier and the operator tools built on it: versions are published in order
 * and never overwritten, a retry after a lost answer succeeds, a newer writer epoch fences an older
 * writer, a writer never claims another writer's data, restore rebuilds a data directory from the
 * bucket alone, fsck names every missing or damaged object and lists orphans, gc deletes only what
 * no kept manifest names and only after the grace period. Every behaviour runs against the fs
 * backend (loop index 0) and the real S3 server of scripts/test.sh (loop index 1: a Ceph RGW at
 * $FLOE_TEST_S3_ENDPOINT, one new bucket per test). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "blockcache.h"
#include "cold.h"
#include "cold_fault.h"
#include "gc.h"
#include "error.h"
#include "manifest.h"
#include "remote.h"
#include "s3.h"
#include "segment.h"
#include "testutil.h"
#include "tools.h"

enum { BACKEND_FS = 0, BACKEND_S3 = 1 };

/* One test's world: a temp directory and a cold store (a directory under it, or a fresh bucket). */
typedef struct env {
    int backend;
    char *tmp;
    char *cold_dir; /* fs backend: the store's root */
    cold_t *c;
} env;

static void env_open(env *e, int backend)
{
    memset(e, 0, sizeof *e);
    e->backend = backend;
    e->tmp = tu_tmpdir("remote");
    if (backend == BACKEND_FS) {
        ck_assert_int_ge(asprintf(&e->cold_dir, "%s/cold", e->tmp), 0);
        ck_assert_int_eq(cold_open_fs(e->cold_dir, &e->c), 0);
        return;
    }
    char bucket[TU_BUCKET_MAX];
    s3_config cfg = tu_s3_fresh_bucket(bucket, "node-a");
    ck_assert_msg(cold_open_s3(&cfg, &e->c) == 0, "cold_open_s3: %s", floe_last_error());
}

static void env_close(env *e)
{
    cold_close(e->c);
    tu_rmrf(e->tmp);
    free(e->tmp);
    free(e->cold_dir);
}

/* Makes the object at key look age_s seconds old. Only the fs backend can (S3 sets mtime itself);
 * returns 1 if it did. */
static int backdate(env *e, const char *key, int64_t age_s)
{
    if (e->backend != BACKEND_FS)
        return 0;
    char *path = NULL;
    ck_assert_int_ge(asprintf(&path, "%s/%s", e->cold_dir, key), 0);
    struct timeval tv[2];
    tv[0].tv_sec = tv[1].tv_sec = time(NULL) - age_s;
    tv[0].tv_usec = tv[1].tv_usec = 0;
    ck_assert_int_eq(utimes(path, tv), 0);
    free(path);
    return 1;
}

static char *fsck_report(env *e, int *rc_out, uint64_t *orphans)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    *rc_out = tools_fsck_remote(e->c, f, orphans);
    fclose(f);
    return buf;
}

static uint64_t count_objects(env *e, const char *prefix);

/* ---- publishing and the newest version ---- */

START_TEST(remote_latest_finds_the_newest_published_version)
{
    env e;
    env_open(&e, _i);
    uint64_t v = 0;
    manifest *got = NULL;
    ck_assert_int_eq(remote_latest(e.c, &v, &got), FLOE_ENOTFOUND);

    manifest *m = tu_manifest_new(1);
    tu_segment_add(e.c, e.tmp, m, 1, 1, SEG_LOCAL_REMOTE, 1);
    tu_remote_publish(e.c, m, 1);
    tu_segment_add(e.c, e.tmp, m, 2, 1, SEG_REMOTE, 1);
    tu_remote_publish(e.c, m, 2);
    tu_segment_add(e.c, e.tmp, m, 3, 1, SEG_LOCAL, 0); /* not uploaded: not named */
    tu_remote_publish(e.c, m, 3);
    /* Keys under manifest/ that are not manifest keys are ignored. */
    ck_assert_int_eq(cold_put(e.c, "manifest/README.txt", "x", 1, 0), 0);

    ck_assert_int_eq(remote_latest(e.c, &v, &got), 0);
    ck_assert_uint_eq(v, 3);
    ck_assert_uint_eq(got->version, 3);
    ck_assert_uint_eq(got->writer_epoch, 1);
    ck_assert_uint_eq(got->count, 2);
    for (size_t i = 0; i < got->count; i++) {
        char key[COLD_LAYOUT_KEY_MAX];
        cold_segment_key(got->segments[i].id, 1, key);
        ck_assert_int_eq(got->segments[i].state, SEG_REMOTE);
        ck_assert_str_eq(got->segments[i].object_key, key);
        ck_assert_uint_eq(got->segments[i].size, m->segments[i].size);
        ck_assert_uint_eq(got->segments[i].crc32c, m->segments[i].crc32c);
    }
    manifest_free(got);

    /* Version order is numeric: 12 comes after 3. */
    tu_remote_publish(e.c, m, 12);
    ck_assert_int_eq(remote_latest(e.c, &v, &got), 0);
    ck_assert_uint_eq(v, 12);
    manifest_free(got);
    manifest_free(m);
    env_close(&e);
}
END_TEST

START_TEST(remote_publish_retry_after_a_lost_answer_succeeds)
{
    env e;
    env_open(&e, _i);
    cold_t *f = NULL;
    ck_assert_int_eq(cold_open_fault(e.c, 7, &f), 0);
    e.c = f;
    manifest *m = tu_manifest_new(4), *r = NULL, *got = NULL, *earlier = NULL;
    tu_segment_add(e.c, e.tmp, m, 1, 4, SEG_LOCAL_REMOTE, 1);
    ck_assert_int_eq(remote_manifest_build(m, NULL, 0, 1, &r), 0);

    ck_assert_int_eq(cold_fault_lose_next_puts(f, 1), 0);
    ck_assert_int_eq(remote_publish(e.c, r, &earlier), FLOE_ECOLD); /* stored, but the answer was lost */
    ck_assert_int_eq(remote_publish(e.c, r, &earlier), 0);          /* the retry finds its own bytes */
    uint64_t v = 0;
    ck_assert_int_eq(remote_latest(e.c, &v, &got), 0);
    ck_assert_uint_eq(v, 1);
    ck_assert_uint_eq(got->count, 1);
    manifest_free(got);
    manifest_free(r);
    manifest_free(m);
    env_close(&e);
}
END_TEST

/* Issue 9, bug 4: an earlier attempt of this epoch whose answer was lost, retried with more
 * segments, is this writer's own publication, not another writer's. */
START_TEST(remote_publish_of_a_version_taken_by_the_same_epoch_returns_the_earlier_manifest)
{
    env e;
    env_open(&e, _i);
    manifest *m = tu_manifest_new(2), *r = NULL, *got = NULL, *earlier = NULL;
    tu_segment_add(e.c, e.tmp, m, 1, 2, SEG_REMOTE, 1);
    tu_remote_publish(e.c, m, 1);
    tu_segment_add(e.c, e.tmp, m, 2, 2, SEG_REMOTE, 1);
    ck_assert_int_eq(remote_manifest_build(m, NULL, 0, 1, &r), 0);
    ck_assert_int_eq(remote_publish(e.c, r, &earlier), REMOTE_PUBLISHED_BEFORE);
    ck_assert_ptr_nonnull(earlier);
    ck_assert_uint_eq(earlier->count, 1);
    ck_assert_uint_eq(earlier->segments[0].id, 1);
    ck_assert_uint_eq(earlier->writer_epoch, 2);
    manifest_free(earlier);
    earlier = NULL;
    /* Nothing was overwritten: version 1 still names one segment. */
    uint64_t v = 0;
    ck_assert_int_eq(remote_latest(e.c, &v, &got), 0);
    ck_assert_uint_eq(got->count, 1);
    manifest_free(got);
    manifest_free(r);
    /* Version 2 held by epoch 3: epoch 4 publishing other bytes as version 2 is a conflict naming
     * both epochs, not a publication of its own. */
    m->writer_epoch = 3;
    tu_remote_publish(e.c, m, 2);
    m->writer_epoch = 4;
    ck_assert_int_eq(remote_manifest_build(m, NULL, 0, 2, &r), 0);
    ck_assert_int_eq(remote_publish(e.c, r, &earlier), FLOE_ECOLD);
    ck_assert_ptr_null(earlier);
    ck_assert_msg(strstr(floe_last_error(), "epoch 3") && strstr(floe_last_error(), "epoch 4"), "%s",
                  floe_last_error());
    manifest_free(r);
    manifest_free(m);
    env_close(&e);
}
END_TEST

START_TEST(remote_publish_refuses_a_manifest_not_built_for_the_cold_tier)
{
    env e;
    env_open(&e, _i);
    manifest *m = tu_manifest_new(1);
    tu_segment_add(e.c, e.tmp, m, 1, 1, SEG_LOCAL, 0);
    m->version = 1;
    manifest *earlier = NULL;
    ck_assert_int_eq(remote_publish(e.c, m, &earlier), FLOE_EINVAL);
    ck_assert_uint_eq(count_objects(&e, "manifest/"), 0);
    manifest_free(m);
    env_close(&e);
}
END_TEST

/* ---- fencing and claims ---- */

START_TEST(remote_newer_epoch_fences_the_older_writer)
{
    env e;
    env_open(&e, _i);
    /* Writer A claims the empty prefix, uploads a segment and publishes. */
    manifest *a = tu_manifest_new(1), *b = NULL, *got = NULL;
    ck_assert_msg(remote_claim(e.c, a) == 0, "%s", floe_last_error());
    ck_assert_uint_eq(a->writer_epoch, 2);
    ck_assert_uint_eq(a->remote_version, 1);
    tu_segment_add(e.c, e.tmp, a, 1, a->writer_epoch, SEG_LOCAL_REMOTE, 1);
    tu_remote_publish(e.c, a, 2);
    a->remote_version = 2;

    /* Writer B starts from A's state (as after a restore) and claims: epoch 3, version 3. */
    ck_assert_int_eq(manifest_clone(a, &b), 0);
    ck_assert_msg(remote_claim(e.c, b) == 0, "%s", floe_last_error());
    ck_assert_uint_eq(b->writer_epoch, 3);
    ck_assert_uint_eq(b->remote_version, 3);

    /* A, still running, uploads another segment and publishes its next version: fenced. */
    tu_segment_add(e.c, e.tmp, a, 2, a->writer_epoch, SEG_LOCAL_REMOTE, 1);
    manifest *r = NULL, *earlier = NULL;
    ck_assert_int_eq(remote_manifest_build(a, NULL, 0, a->remote_version + 1, &r), 0);
    ck_assert_int_eq(remote_publish(e.c, r, &earlier), FLOE_EFENCED);
    ck_assert_msg(strstr(floe_last_error(), "fenced") != NULL, "%s", floe_last_error());
    ck_assert_msg(strstr(floe_last_error(), "epoch 3") != NULL, "%s", floe_last_error());
    ck_assert_msg(strstr(floe_last_error(), "epoch 2") != NULL, "%s", floe_last_error());

    /* B's version stands. */
    uint64_t v = 0;
    ck_assert_int_eq(remote_latest(e.c, &v, &got), 0);
    ck_assert_uint_eq(v, 3);
    ck_assert_uint_eq(got->writer_epoch, 3);
    ck_assert_uint_eq(got->count, 1);
    manifest_free(got);
    manifest_free(r);
    manifest_free(a);
    manifest_free(b);
    env_close(&e);
}
END_TEST

START_TEST(remote_claim_of_an_empty_prefix_publishes_version_1)
{
    env e;
    env_open(&e, _i);
    manifest *m = tu_manifest_new(5), *got = NULL;
    tu_segment_add(e.c, e.tmp, m, 1, 5, SEG_LOCAL_REMOTE, 1);
    tu_segment_add(e.c, e.tmp, m, 2, 5, SEG_LOCAL, 0);
    ck_assert_msg(remote_claim(e.c, m) == 0, "%s", floe_last_error());
    ck_assert_uint_eq(m->writer_epoch, 6);
    ck_assert_uint_eq(m->remote_version, 1);
    uint64_t v = 0;
    ck_assert_int_eq(remote_latest(e.c, &v, &got), 0);
    ck_assert_uint_eq(v, 1);
    ck_assert_uint_eq(got->writer_epoch, 6);
    ck_assert_uint_eq(got->count, 1);
    ck_assert_uint_eq(got->segments[0].id, 1);
    manifest_free(got);
    manifest_free(m);
    env_close(&e);
}
END_TEST

START_TEST(remote_claim_refuses_a_prefix_holding_segments_the_local_manifest_lacks)
{
    env e;
    env_open(&e, _i);
    manifest *a = tu_manifest_new(1), *fresh = tu_manifest_new(1), *other = tu_manifest_new(1), *got = NULL;
    ck_assert_int_eq(remote_claim(e.c, a), 0);
    tu_segment_add(e.c, e.tmp, a, 1, a->writer_epoch, SEG_LOCAL_REMOTE, 1);
    tu_remote_publish(e.c, a, 2);

    /* An empty data directory pointed at A's prefix. */
    ck_assert_int_eq(remote_claim(e.c, fresh), FLOE_EFENCED);
    ck_assert_msg(strstr(floe_last_error(), "floe restore") != NULL, "%s", floe_last_error());
    ck_assert_msg(strstr(floe_last_error(), a->segments[0].object_key) != NULL, "%s", floe_last_error());
    ck_assert_uint_eq(fresh->writer_epoch, 1); /* untouched on failure */
    ck_assert_uint_eq(fresh->remote_version, 0);

    /* Another node's segment 1 (same id, its own epoch, so another object) is not A's either. */
    tu_segment_add(e.c, e.tmp, other, 1, 9, SEG_LOCAL_REMOTE, 1);
    ck_assert_int_eq(remote_claim(e.c, other), FLOE_EFENCED);

    uint64_t v = 0;
    ck_assert_int_eq(remote_latest(e.c, &v, &got), 0);
    ck_assert_uint_eq(v, 2); /* nothing was published by the refused claims */
    manifest_free(got);
    manifest_free(a);
    manifest_free(fresh);
    manifest_free(other);
    env_close(&e);
}
END_TEST

/* Issue 9, bug 3: a segment sealed in epoch 1, uploaded under epoch 2's key and published by
 * epoch 2, with the local manifest stopped before it learned the key: the claim at the next open
 * recognises its own upload instead of calling the prefix another writer's. */
START_TEST(remote_claim_takes_over_its_own_upload_the_local_manifest_missed)
{
    env e;
    env_open(&e, _i);
    manifest *m = tu_manifest_new(1), *pub = NULL, *r = NULL, *earlier = NULL;
    ck_assert_int_eq(remote_claim(e.c, m), 0);
    ck_assert_uint_eq(m->writer_epoch, 2);
    tu_segment_add(e.c, e.tmp, m, 1, 1, SEG_LOCAL, 0);
    /* What the uploader did in epoch 2, on a copy the local manifest never saw. */
    ck_assert_int_eq(manifest_clone(m, &pub), 0);
    char key[COLD_LAYOUT_KEY_MAX], path[600];
    cold_segment_key(1, 2, key);
    snprintf(path, sizeof path, "%s/seg-1-1", e.tmp);
    ck_assert_int_eq(cold_put_file(e.c, key, path, 5u << 20), 0);
    free(pub->segments[0].object_key);
    pub->segments[0].object_key = strdup(key);
    pub->segments[0].state = SEG_UPLOADING;
    ck_assert_int_eq(remote_manifest_build(pub, (uint64_t[]){1}, 1, 2, &r), 0);
    ck_assert_int_eq(remote_publish(e.c, r, &earlier), 0);

    ck_assert_msg(remote_claim(e.c, m) == 0, "%s", floe_last_error());
    ck_assert_uint_eq(m->writer_epoch, 3);
    ck_assert_str_eq(m->segments[0].object_key, key);
    ck_assert_int_eq(m->segments[0].state, SEG_LOCAL_REMOTE);
    /* The claim's manifest still names the segment. */
    manifest *got = NULL;
    uint64_t v = 0;
    ck_assert_int_eq(remote_latest(e.c, &v, &got), 0);
    ck_assert_uint_eq(v, 3);
    ck_assert_ptr_nonnull(manifest_find(got, 1));
    manifest_free(got);
    manifest_free(r);
    manifest_free(pub);
    manifest_free(m);
    env_close(&e);
}
END_TEST

/* Issue 9, bug 2: gc deleted the versions between an old writer's last one and the newest, so the
 * old writer's If-None-Match create of its next version would succeed in the hole. It must learn
 * it is fenced first, and create nothing. */
START_TEST(remote_publish_into_a_hole_gc_left_is_fenced)
{
    env e;
    env_open(&e, _i);
    manifest *a = tu_manifest_new(1), *b = NULL, *r = NULL, *earlier = NULL;
    ck_assert_int_eq(remote_claim(e.c, a), 0); /* A: epoch 2, version 1 */
    tu_segment_add(e.c, e.tmp, a, 1, a->writer_epoch, SEG_LOCAL_REMOTE, 1);
    tu_remote_publish(e.c, a, 2);
    a->remote_version = 2;
    /* B takes over (epoch 3, version 3) and publishes on. */
    ck_assert_int_eq(manifest_clone(a, &b), 0);
    ck_assert_int_eq(remote_claim(e.c, b), 0);
    for (uint64_t v = 4; v <= 6; v++)
        tu_remote_publish(e.c, b, v);
    /* gc keeps only the newest version. */
    for (uint64_t v = 1; v <= 5; v++) {
        char key[COLD_LAYOUT_KEY_MAX];
        cold_manifest_key(v, key);
        ck_assert_int_eq(cold_delete(e.c, key), 0);
    }
    /* A comes back and publishes version 3. */
    tu_segment_add(e.c, e.tmp, a, 2, a->writer_epoch, SEG_LOCAL_REMOTE, 1);
    ck_assert_int_eq(remote_manifest_build(a, NULL, 0, a->remote_version + 1, &r), 0);
    ck_assert_int_eq(remote_publish(e.c, r, &earlier), FLOE_EFENCED);
    ck_assert_msg(strstr(floe_last_error(), "epoch 3") != NULL, "%s", floe_last_error());
    char hole[COLD_LAYOUT_KEY_MAX];
    cold_manifest_key(3, hole);
    ck_assert_int_eq(tu_cold_exists(e.c, hole), 0);
    manifest_free(r);
    manifest_free(b);
    manifest_free(a);
    env_close(&e);
}
END_TEST

START_TEST(remote_claim_after_a_restart_keeps_every_published_segment)
{
    env e;
    env_open(&e, _i);
    manifest *a = tu_manifest_new(1), *got = NULL;
    ck_assert_int_eq(remote_claim(e.c, a), 0);
    tu_segment_add(e.c, e.tmp, a, 1, a->writer_epoch, SEG_LOCAL_REMOTE, 1);
    tu_segment_add(e.c, e.tmp, a, 2, a->writer_epoch, SEG_REMOTE, 1);
    tu_remote_publish(e.c, a, 2);
    /* A crash after publishing segment 3 but before the local state said so: the local manifest
     * still has it as uploading, and the claim must keep naming it. */
    tu_segment_add(e.c, e.tmp, a, 3, a->writer_epoch, SEG_UPLOADING, 1);
    manifest *r = NULL, *earlier = NULL;
    ck_assert_int_eq(remote_manifest_build(a, (uint64_t[]){3}, 1, 3, &r), 0);
    ck_assert_int_eq(remote_publish(e.c, r, &earlier), 0);
    manifest_free(r);

    ck_assert_msg(remote_claim(e.c, a) == 0, "%s", floe_last_error());
    ck_assert_uint_eq(a->writer_epoch, 3);
    ck_assert_uint_eq(a->remote_version, 4);
    uint64_t v = 0;
    ck_assert_int_eq(remote_latest(e.c, &v, &got), 0);
    ck_assert_uint_eq(v, 4);
    ck_assert_uint_eq(got->count, 3);
    ck_assert_uint_eq(got->segments[2].id, 3);
    manifest_free(got);
    manifest_free(a);
    env_close(&e);
}
END_TEST

START_TEST(remote_manifest_build_names_only_uploaded_segments)
{
    env e;
    env_open(&e, BACKEND_FS);
    manifest *m = tu_manifest_new(3), *r = NULL;
    tu_segment_add(e.c, e.tmp, m, 1, 3, SEG_LOCAL, 0);
    tu_segment_add(e.c, e.tmp, m, 2, 3, SEG_UPLOADING, 0);
    tu_segment_add(e.c, e.tmp, m, 3, 3, SEG_REMOTE, 0);
    tu_segment_add(e.c, e.tmp, m, 4, 3, SEG_LOCAL_REMOTE, 0);
    tu_segment_add(e.c, e.tmp, m, 5, 3, SEG_UPLOADING, 0);
    ck_assert_int_eq(remote_manifest_build(m, (uint64_t[]){5}, 1, 42, &r), 0);
    ck_assert_uint_eq(r->version, 42);
    ck_assert_uint_eq(r->writer_epoch, 3);
    ck_assert_uint_eq(r->next_segment_id, m->next_segment_id);
    ck_assert_uint_eq(r->count, 3);
    uint64_t want[] = {3, 4, 5};
    for (size_t i = 0; i < 3; i++) {
        char key[COLD_LAYOUT_KEY_MAX];
        cold_segment_key(want[i], 3, key);
        ck_assert_uint_eq(r->segments[i].id, want[i]);
        ck_assert_int_eq(r->segments[i].state, SEG_REMOTE);
        ck_assert_str_eq(r->segments[i].object_key, key);
    }
    manifest_free(r);
    r = NULL;
    /* An uploaded id the manifest does not list is a caller's mistake. */
    ck_assert_int_eq(remote_manifest_build(m, (uint64_t[]){99}, 1, 43, &r), FLOE_EINVAL);
    ck_assert_ptr_null(r);
    manifest_free(m);
    env_close(&e);
}
END_TEST

/* ---- restore ---- */

START_TEST(remote_restore_writes_a_manifest_naming_every_remote_segment)
{
    env e;
    env_open(&e, _i);
    char *dir = NULL, *junk = NULL;
    ck_assert_int_ge(asprintf(&dir, "%s/restored/data", e.tmp), 0);
    ck_assert_int_eq(tools_restore(e.c, dir, NULL), FLOE_ENOTFOUND); /* nothing published yet */

    manifest *m = tu_manifest_new(1), *got = NULL;
    ck_assert_int_eq(remote_claim(e.c, m), 0);
    for (uint64_t id = 1; id <= 3; id++)
        tu_segment_add(e.c, e.tmp, m, id, m->writer_epoch, SEG_LOCAL_REMOTE, 1);
    tu_remote_publish(e.c, m, 2);

    char *progress = NULL;
    size_t plen = 0;
    FILE *pf = open_memstream(&progress, &plen);
    ck_assert_msg(tools_restore(e.c, dir, pf) == 0, "%s", floe_last_error());
    fclose(pf);
    ck_assert_msg(strstr(progress, "3 segments") != NULL, "%s", progress);
    ck_assert_msg(strstr(progress, "checked 3/3 objects") != NULL, "%s", progress);
    free(progress);

    ck_assert_int_eq(manifest_load(dir, &got), 0);
    ck_assert_uint_eq(got->count, 3);
    ck_assert_uint_eq(got->remote_version, 2);
    ck_assert_uint_eq(got->writer_epoch, m->writer_epoch);
    ck_assert_uint_ge(got->next_segment_id, 4);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(got->segments[i].state, SEG_REMOTE);
        ck_assert_str_eq(got->segments[i].object_key, m->segments[i].object_key);
        ck_assert_uint_eq(got->segments[i].size, m->segments[i].size);
        ck_assert_uint_eq(got->segments[i].crc32c, m->segments[i].crc32c);
    }

    /* What it names is readable from the bucket alone. */
    segment_source src;
    void *ctx = NULL;
    segment_t *s = NULL;
    segment_hit hit = {0};
    ck_assert_int_eq(
        blockcache_source(NULL, e.c, got->segments[1].object_key, got->segments[1].size, &src, &ctx), 0);
    ck_assert_msg(segment_open(&src, &s) == 0, "%s", floe_last_error());
    ck_assert_int_eq(segment_get(s, "s002-00150", 10, &hit), 1);
    ck_assert_msg(hit.value_len > 10 && memcmp(hit.value, "value 150 ", 10) == 0, "wrong value");
    segment_hit_clear(&hit);
    segment_close(s);
    blockcache_source_free(ctx);

    /* A directory with anything in it is refused, and left as it was. */
    ck_assert_int_eq(tools_restore(e.c, dir, NULL), FLOE_EINVAL);
    ck_assert_msg(strstr(floe_last_error(), "not empty") != NULL, "%s", floe_last_error());
    ck_assert_int_ge(asprintf(&junk, "%s/restored/other", e.tmp), 0);
    ck_assert_int_eq(mkdir(junk, 0755), 0);
    ck_assert_int_eq(tools_restore(e.c, junk, NULL), 0); /* an empty directory is fine */
    manifest_free(got);
    manifest_free(m);
    free(dir);
    free(junk);
    env_close(&e);
}
END_TEST

START_TEST(remote_restore_refuses_when_a_named_object_is_missing)
{
    env e;
    env_open(&e, _i);
    char *dir = NULL;
    ck_assert_int_ge(asprintf(&dir, "%s/restored", e.tmp), 0);
    manifest *m = tu_manifest_new(1);
    tu_segment_add(e.c, e.tmp, m, 1, 1, SEG_REMOTE, 1);
    tu_segment_add(e.c, e.tmp, m, 2, 1, SEG_REMOTE, 1);
    tu_remote_publish(e.c, m, 1);
    ck_assert_int_eq(cold_delete(e.c, m->segments[1].object_key), 0);
    ck_assert_int_eq(tools_restore(e.c, dir, NULL), FLOE_ECORRUPT);
    ck_assert_msg(strstr(floe_last_error(), m->segments[1].object_key) != NULL, "%s", floe_last_error());
    ck_assert_msg(strstr(floe_last_error(), "fsck") != NULL, "%s", floe_last_error());
    struct stat st;
    char *mpath = NULL;
    ck_assert_int_ge(asprintf(&mpath, "%s/manifest.json", dir), 0);
    ck_assert_int_ne(stat(mpath, &st), 0);
    free(mpath);
    manifest_free(m);
    free(dir);
    env_close(&e);
}
END_TEST

/* ---- fsck ---- */

START_TEST(remote_fsck_names_missing_resized_and_damaged_objects_and_lists_orphans)
{
    env e;
    env_open(&e, _i);
    manifest *m = tu_manifest_new(1), *stray = tu_manifest_new(1);
    for (uint64_t id = 1; id <= 4; id++)
        tu_segment_add(e.c, e.tmp, m, id, 1, SEG_REMOTE, 1);
    tu_remote_publish(e.c, m, 1);
    int rc;
    uint64_t orphans = 99;
    char *report = fsck_report(&e, &rc, &orphans);
    ck_assert_msg(rc == 0, "intact store: %s\n%s", floe_last_error(), report);
    ck_assert_uint_eq(orphans, 0);
    free(report);

    /* Damage three named objects in three ways, and leave an orphan. */
    const char *k_missing = m->segments[0].object_key, *k_short = m->segments[1].object_key,
               *k_flipped = m->segments[2].object_key, *k_fine = m->segments[3].object_key;
    void *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(cold_delete(e.c, k_missing), 0);
    ck_assert_int_eq(cold_get(e.c, k_short, &data, &len, 1u << 30), 0);
    ck_assert_int_eq(cold_put(e.c, k_short, data, len - 100, 0), 0);
    free(data);
    ck_assert_int_eq(cold_get(e.c, k_flipped, &data, &len, 1u << 30), 0);
    ((uint8_t *)data)[len / 3] ^= 0x01;
    ck_assert_int_eq(cold_put(e.c, k_flipped, data, len, 0), 0);
    free(data);
    tu_segment_add(e.c, e.tmp, stray, 9, 1, SEG_REMOTE, 1);
    ck_assert_int_eq(cold_put(e.c, "segments/zz/notes.txt", "hi", 2, 0), 0);

    report = fsck_report(&e, &rc, &orphans);
    ck_assert_int_eq(rc, FLOE_ECORRUPT);
    ck_assert_msg(strstr(floe_last_error(), "3 of 4") != NULL, "%s", floe_last_error());
    char line[256];
    snprintf(line, sizeof line, "missing: %s", k_missing);
    ck_assert_msg(strstr(report, line) != NULL, "%s", report);
    snprintf(line, sizeof line, "size mismatch: %s", k_short);
    ck_assert_msg(strstr(report, line) != NULL, "%s", report);
    snprintf(line, sizeof line, "checksum mismatch: %s", k_flipped);
    ck_assert_msg(strstr(report, line) != NULL, "%s", report);
    snprintf(line, sizeof line, "orphan: %s", stray->segments[0].object_key);
    ck_assert_msg(strstr(report, line) != NULL, "%s", report);
    ck_assert_msg(strstr(report, "unknown: segments/zz/notes.txt") != NULL, "%s", report);
    ck_assert_msg(strstr(report, k_fine) == NULL, "the intact object is reported:\n%s", report);
    ck_assert_uint_eq(orphans, 1);
    free(report);
    manifest_free(m);
    manifest_free(stray);
    env_close(&e);
}
END_TEST

START_TEST(remote_damaged_manifest_is_corrupt_naming_the_object)
{
    env e;
    env_open(&e, _i);
    manifest *m = tu_manifest_new(1), *got = NULL, *stray = tu_manifest_new(1);
    tu_segment_add(e.c, e.tmp, m, 1, 1, SEG_REMOTE, 1);
    tu_remote_publish(e.c, m, 1);
    tu_remote_publish(e.c, m, 2);
    tu_segment_add(e.c, e.tmp, stray, 7, 1, SEG_REMOTE, 1); /* an orphan gc would delete */
    const char *key = "manifest/00000000000000000002.json";
    void *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(cold_get(e.c, key, &data, &len, 1u << 20), 0);
    char *p = strstr(data, "\"size\": ");
    ck_assert_ptr_nonnull(p);
    p[8] = p[8] == '9' ? '8' : '9'; /* still valid JSON: only the checksum catches it */
    ck_assert_int_eq(cold_put(e.c, key, data, len, 0), 0);

    uint64_t v = 0;
    ck_assert_int_eq(remote_latest(e.c, &v, &got), FLOE_ECORRUPT);
    ck_assert_msg(strstr(floe_last_error(), key) != NULL, "%s", floe_last_error());
    ck_assert_msg(strstr(floe_last_error(), "checksum") != NULL, "%s", floe_last_error());
    ck_assert_ptr_null(got);

    /* Truncated: also corrupt, also named. */
    ck_assert_int_eq(cold_put(e.c, key, data, len / 2, 0), 0);
    ck_assert_int_eq(remote_latest(e.c, &v, &got), FLOE_ECORRUPT);
    ck_assert_msg(strstr(floe_last_error(), key) != NULL, "%s", floe_last_error());
    free(data);

    /* The tools stop rather than act on it. */
    int rc;
    char *report = fsck_report(&e, &rc, NULL);
    ck_assert_int_eq(rc, FLOE_ECORRUPT);
    ck_assert_msg(strstr(report, key) != NULL, "%s", report);
    free(report);
    char *dir = NULL;
    ck_assert_int_ge(asprintf(&dir, "%s/restored", e.tmp), 0);
    ck_assert_int_eq(tools_restore(e.c, dir, NULL), FLOE_ECORRUPT);
    FILE *devnull = fopen("/dev/null", "w");
    ck_assert_int_eq(tools_gc(e.c, 0, 10, 0, devnull, NULL), FLOE_ECORRUPT);
    fclose(devnull);
    ck_assert(tu_cold_exists(e.c, stray->segments[0].object_key));
    free(dir);
    manifest_free(m);
    manifest_free(stray);
    env_close(&e);
}
END_TEST

/* ---- gc ---- */

static int count_cb(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    (void)key;
    (void)size;
    (void)mtime;
    ++*(uint64_t *)ctx;
    return 0;
}

static uint64_t count_objects(env *e, const char *prefix)
{
    uint64_t n = 0;
    ck_assert_int_eq(cold_list(e->c, prefix, count_cb, &n), 0);
    return n;
}

/* Twelve manifest versions: versions 1-2 name segments 1 and 3, versions 3-12 name segments 1
 * and 2 (3 was dropped, as compaction would). Objects 8 and 9 were uploaded and never named. */
static void gc_world(env *e, manifest **keep)
{
    manifest *m = tu_manifest_new(1), *stray = tu_manifest_new(1);
    tu_segment_add(e->c, e->tmp, m, 1, 1, SEG_REMOTE, 1);
    tu_segment_add(e->c, e->tmp, m, 3, 1, SEG_REMOTE, 1);
    tu_remote_publish(e->c, m, 1);
    tu_remote_publish(e->c, m, 2);
    ck_assert_int_eq(manifest_remove(m, 3), 0);
    tu_segment_add(e->c, e->tmp, m, 2, 1, SEG_REMOTE, 1);
    tu_segment_add(e->c, e->tmp, m, 10, 1, SEG_REMOTE, 1); /* the strays below are older than this */
    for (uint64_t v = 3; v <= 12; v++)
        tu_remote_publish(e->c, m, v);
    tu_segment_add(e->c, e->tmp, stray, 8, 1, SEG_REMOTE, 1);
    tu_segment_add(e->c, e->tmp, stray, 9, 1, SEG_REMOTE, 1);
    manifest_free(stray);
    *keep = m;
}

static char *key_of(uint64_t id)
{
    static char keys[16][COLD_LAYOUT_KEY_MAX];
    cold_segment_key(id, 1, keys[id]);
    return keys[id];
}

START_TEST(remote_gc_dry_run_deletes_nothing)
{
    env e;
    env_open(&e, _i);
    manifest *m = NULL;
    gc_world(&e, &m);
    uint64_t segs = count_objects(&e, "segments/"), mans = count_objects(&e, "manifest/"), deleted = 0;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    ck_assert_msg(tools_gc(e.c, 0, 10, 1, f, &deleted) == 0, "%s", floe_last_error());
    fclose(f);
    ck_assert_uint_eq(deleted, 5); /* manifests 1 and 2, segments 3, 8 and 9 */
    ck_assert_msg(strstr(out, "would delete manifest/00000000000000000001.json") != NULL, "%s", out);
    ck_assert_msg(strstr(out, key_of(8)) != NULL, "%s", out);
    ck_assert_uint_eq(count_objects(&e, "segments/"), segs);
    ck_assert_uint_eq(count_objects(&e, "manifest/"), mans);
    free(out);
    manifest_free(m);
    env_close(&e);
}
END_TEST

/* Issue 9, bug 6: an object newer than every segment the newest manifest names may be an upload
 * the writer has yet to publish (its answer was lost, or an older segment is still uploading); gc
 * keeps it however old it is, so a delayed publication never names a deleted object. */
START_TEST(remote_gc_keeps_orphans_newer_than_every_named_segment)
{
    env e;
    env_open(&e, _i);
    manifest *m = NULL;
    gc_world(&e, &m);
    manifest *pending = tu_manifest_new(1);
    tu_segment_add(e.c, e.tmp, pending, 12, 1, SEG_REMOTE, 1); /* uploaded, not yet published */
    manifest_free(pending);
    FILE *devnull = fopen("/dev/null", "w");
    uint64_t deleted = 0;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    ck_assert_msg(tools_gc(e.c, 0, 10, 0, f, &deleted) == 0, "%s", floe_last_error());
    fclose(f);
    ck_assert(tu_cold_exists(e.c, key_of(12)));
    ck_assert(!tu_cold_exists(e.c, key_of(9))); /* older than segment 10, which is named */
    ck_assert_msg(strstr(out, "newer than every named segment") != NULL, "%s", out);
    /* Once the writer publishes it, it is named like any other. */
    tu_segment_add(e.c, e.tmp, m, 12, 1, SEG_REMOTE, 1);
    tu_remote_publish(e.c, m, 13);
    ck_assert_int_eq(tools_gc(e.c, 0, 10, 0, devnull, &deleted), 0);
    ck_assert(tu_cold_exists(e.c, key_of(12)));
    fclose(devnull);
    free(out);
    manifest_free(m);
    env_close(&e);
}
END_TEST

/* A delete that fails part way stops the run with the cold tier's error, and what was deleted
 * before it is still counted (the store's gc counters add it up). */
START_TEST(remote_gc_counts_what_it_deleted_before_a_failed_delete)
{
    env e;
    env_open(&e, _i);
    manifest *m = NULL;
    gc_world(&e, &m);
    cold_t *f = NULL;
    ck_assert_int_eq(cold_open_fault(e.c, 3, &f), 0);
    e.c = f;
    /* gc_world leaves 2 manifests and 3 orphans to delete: the 4th delete fails. */
    ck_assert_int_eq(cold_fault_fail_after(f, FLOE_COLD_DELETE, 3, 1, FLOE_ECOLD), 0);
    gc_result r;
    memset(&r, 0xff, sizeof r);
    ck_assert_int_eq(gc_run(e.c, 0, 10, 0, NULL, NULL, &r), FLOE_ECOLD);
    ck_assert_uint_eq(r.manifests_deleted, 2);
    ck_assert_uint_eq(r.orphans_deleted, 1);
    /* The next run deletes the rest. */
    ck_assert_int_eq(gc_run(e.c, 0, 10, 0, NULL, NULL, &r), 0);
    ck_assert_uint_eq(r.manifests_deleted + r.orphans_deleted, 2);
    manifest_free(m);
    env_close(&e);
}
END_TEST

START_TEST(remote_gc_deletes_only_orphans_older_than_the_grace_period)
{
    env e;
    env_open(&e, _i);
    manifest *m = NULL;
    gc_world(&e, &m);
    FILE *devnull = fopen("/dev/null", "w");
    uint64_t deleted = 99;

    /* Backdating works on the fs backend only: there, orphan 8, segment 3 and manifests 1-2 are
     * two hours old, orphan 9 is new. On S3 everything is new. */
    int aged = backdate(&e, key_of(8), 7200);
    if (aged) {
        backdate(&e, key_of(3), 7200);
        backdate(&e, "manifest/00000000000000000001.json", 7200);
        backdate(&e, "manifest/00000000000000000002.json", 7200);
    }
    ck_assert_msg(tools_gc(e.c, 3600, 10, 0, devnull, &deleted) == 0, "%s", floe_last_error());
    if (aged) {
        ck_assert_uint_eq(deleted, 4);
        ck_assert(!tu_cold_exists(e.c, key_of(8)));
        ck_assert(!tu_cold_exists(e.c, key_of(3))); /* named only by the deleted manifests 1 and 2 */
        ck_assert(!tu_cold_exists(e.c, "manifest/00000000000000000001.json"));
        ck_assert(!tu_cold_exists(e.c, "manifest/00000000000000000002.json"));
    } else {
        ck_assert_uint_eq(deleted, 0);
        ck_assert(tu_cold_exists(e.c, key_of(8)));
        ck_assert(tu_cold_exists(e.c, key_of(3)));
        ck_assert(tu_cold_exists(e.c, "manifest/00000000000000000001.json"));
    }
    ck_assert(tu_cold_exists(e.c, key_of(9))); /* younger than the grace period */
    ck_assert(tu_cold_exists(e.c, key_of(1)));
    ck_assert(tu_cold_exists(e.c, key_of(2)));

    /* With no grace period every orphan goes; named objects and the newest 10 manifests stay. */
    ck_assert_msg(tools_gc(e.c, 0, 10, 0, devnull, &deleted) == 0, "%s", floe_last_error());
    ck_assert_uint_eq(deleted, aged ? 1 : 5);
    ck_assert(!tu_cold_exists(e.c, key_of(9)));
    ck_assert(!tu_cold_exists(e.c, key_of(3)));
    ck_assert(tu_cold_exists(e.c, key_of(1)));
    ck_assert(tu_cold_exists(e.c, key_of(2)));
    ck_assert_uint_eq(count_objects(&e, "segments/"), 3);
    ck_assert_uint_eq(count_objects(&e, "manifest/"), 10);
    ck_assert(tu_cold_exists(e.c, "manifest/00000000000000000003.json"));
    ck_assert(tu_cold_exists(e.c, "manifest/00000000000000000012.json"));

    /* Nothing more to do, and fsck agrees the store is whole. */
    ck_assert_int_eq(tools_gc(e.c, 0, 10, 0, devnull, &deleted), 0);
    ck_assert_uint_eq(deleted, 0);
    int rc;
    uint64_t orphans = 9;
    char *report = fsck_report(&e, &rc, &orphans);
    ck_assert_msg(rc == 0, "%s", report);
    ck_assert_uint_eq(orphans, 0);
    free(report);
    fclose(devnull);
    manifest_free(m);
    env_close(&e);
}
END_TEST

START_TEST(remote_gc_refuses_a_prefix_without_a_manifest)
{
    env e;
    env_open(&e, _i);
    manifest *stray = tu_manifest_new(1);
    tu_segment_add(e.c, e.tmp, stray, 1, 1, SEG_REMOTE, 1);
    FILE *devnull = fopen("/dev/null", "w");
    ck_assert_int_eq(tools_gc(e.c, 0, 10, 0, devnull, NULL), FLOE_ENOTFOUND);
    fclose(devnull);
    ck_assert(tu_cold_exists(e.c, stray->segments[0].object_key));
    manifest_free(stray);
    env_close(&e);
}
END_TEST

static Suite *remote_suite(void)
{
    Suite *s = suite_create("remote");
    TCase *tc = tcase_create("manifest");
    tcase_set_timeout(tc, 120);
    /* Loop index 0: fs backend; 1: S3. */
    tcase_add_loop_test(tc, remote_latest_finds_the_newest_published_version, 0, 2);
    tcase_add_loop_test(tc, remote_publish_retry_after_a_lost_answer_succeeds, 0, 2);
    tcase_add_loop_test(tc, remote_publish_of_a_version_taken_by_the_same_epoch_returns_the_earlier_manifest, 0, 2);
    tcase_add_loop_test(tc, remote_publish_refuses_a_manifest_not_built_for_the_cold_tier, 0, 2);
    tcase_add_test(tc, remote_manifest_build_names_only_uploaded_segments);
    suite_add_tcase(s, tc);

    tc = tcase_create("fencing");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, remote_newer_epoch_fences_the_older_writer, 0, 2);
    tcase_add_loop_test(tc, remote_claim_of_an_empty_prefix_publishes_version_1, 0, 2);
    tcase_add_loop_test(tc, remote_claim_refuses_a_prefix_holding_segments_the_local_manifest_lacks, 0, 2);
    tcase_add_loop_test(tc, remote_claim_after_a_restart_keeps_every_published_segment, 0, 2);
    tcase_add_loop_test(tc, remote_claim_takes_over_its_own_upload_the_local_manifest_missed, 0, 2);
    tcase_add_loop_test(tc, remote_publish_into_a_hole_gc_left_is_fenced, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("tools");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, remote_restore_writes_a_manifest_naming_every_remote_segment, 0, 2);
    tcase_add_loop_test(tc, remote_restore_refuses_when_a_named_object_is_missing, 0, 2);
    tcase_add_loop_test(tc, remote_fsck_names_missing_resized_and_damaged_objects_and_lists_orphans, 0, 2);
    tcase_add_loop_test(tc, remote_damaged_manifest_is_corrupt_naming_the_object, 0, 2);
    tcase_add_loop_test(tc, remote_gc_dry_run_deletes_nothing, 0, 2);
    tcase_add_loop_test(tc, remote_gc_deletes_only_orphans_older_than_the_grace_period, 0, 2);
    tcase_add_loop_test(tc, remote_gc_counts_what_it_deleted_before_a_failed_delete, 0, 2);
    tcase_add_loop_test(tc, remote_gc_keeps_orphans_newer_than_every_named_segment, 0, 2);
    tcase_add_loop_test(tc, remote_gc_refuses_a_prefix_without_a_manifest, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(remote_suite());
}
