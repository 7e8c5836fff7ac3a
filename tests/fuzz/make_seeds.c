/* Writes the fuzz targets' seed corpora from real files the library makes: a WAL directory's file
 * (wal_append), segment files (segment_writer, raw and zstd, one block and many) and manifests
 * (manifest_to_json, local and remote forms). Usage: fuzz_make_seeds CORPUS_DIR, which gets wal/,
 * segment/ and manifest/ subdirectories with seed-*.bin / seed-*.json files; scripts/fuzz.sh
 * --seeds runs it. Hand-written seeds for config, XML and HTTP are committed as they are. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "floe.h"
#include "manifest.h"
#include "remote.h"
#include "object.h"
#include "segment.h"
#include "wal.h"

static void die(const char *what)
{
    fprintf(stderr, "fuzz_make_seeds: %s: %s\n", what, floe_last_error());
    exit(1);
}

static void copy_file(const char *from, const char *to)
{
    static char data[1u << 20];
    FILE *in = fopen(from, "rb");
    size_t len = in ? fread(data, 1, sizeof data, in) : 0;
    FILE *f = in ? fopen(to, "wb") : NULL;
    if (!in || !f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "fuzz_make_seeds: copy %s to %s: %s\n", from, to, strerror(errno));
        exit(1);
    }
    fclose(in);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "fuzz_make_seeds: write %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static void make_wal(const char *tmp, const char *out)
{
    char dir[4096], path[4200], to[4200];
    snprintf(dir, sizeof dir, "%s/wal", tmp);
    wal_options o = {.sync = FLOE_SYNC_NEVER, .file_bytes = 1u << 20, .max_record_bytes = 1u << 16};
    wal_t *w = NULL;
    if (wal_open(dir, &o, NULL, NULL, &w) != 0)
        die("wal_open");
    static const char *keys[] = {"photos/cat.jpg", "photos/dog.jpg", "a", "photos/cat.jpg"};
    uint8_t value[300];
    for (size_t i = 0; i < sizeof value; i++)
        value[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 4; i++) {
        wal_record r = {.type = i == 3 ? WAL_REC_DELETE : WAL_REC_PUT,
                        .seq = 42 + (uint64_t)i,
                        .write_ms = 1795320208123ull + (uint64_t)i,
                        .key = (const uint8_t *)keys[i],
                        .key_len = (uint32_t)strlen(keys[i])};
        if (r.type == WAL_REC_PUT) {
            r.value = value;
            r.value_len = i == 1 ? sizeof value : 4;
            r.content_type = i == 0 ? "image/jpeg" : NULL;
            r.content_type_len = i == 0 ? 10 : 0;
        }
        uint64_t lsn = 0;
        if (wal_append(w, &r, &lsn) != 0 || wal_sync(w, lsn) != 0)
            die("wal_append");
    }
    if (wal_close(w) != 0)
        die("wal_close");
    snprintf(path, sizeof path, "%s/00000000000000000001.log", dir);
    snprintf(to, sizeof to, "%s/wal/seed-four-records.bin", out);
    copy_file(path, to);
}

static void make_segment(const char *tmp, const char *out, const char *name, floe_compression comp,
                         uint32_t block_bytes, int n)
{
    char path[4200], to[4200];
    snprintf(path, sizeof path, "%s/%s.seg", tmp, name);
    segment_write_options o = {.id = 1, .epoch = 1, .block_bytes = block_bytes, .compression = comp};
    segment_writer *w = NULL;
    if (segment_writer_open(path, &o, &w) != 0)
        die("segment_writer_open");
    for (int i = 0; i < n; i++) {
        char key[32], val[64];
        snprintf(key, sizeof key, "fruit/%04d", i);
        int vlen = snprintf(val, sizeof val, "value of %d, value of %d", i, i);
        entry e = {.key = (const uint8_t *)key,
                   .key_len = (uint32_t)strlen(key),
                   .seq = 5 + (uint64_t)i,
                   .type = i % 5 == 2 ? ENTRY_DELETE : ENTRY_PUT};
        if (e.type == ENTRY_PUT) {
            e.value = (const uint8_t *)val;
            e.value_len = (uint32_t)vlen;
            e.content_type = i % 3 == 0 ? "text/plain" : NULL;
            e.content_type_len = i % 3 == 0 ? 10 : 0;
        }
        /* Every fifth an object record (object.h): inline, or a chunked one's head. */
        uint8_t rec[OBJREC_MAX_HEADER_BYTES + 64];
        if (i % 5 == 4) {
            objrec r = {.flags = i % 10 == 9 ? OBJREC_CHUNKED : 0,
                        .size = i % 10 == 9 ? 300000 : (uint64_t)vlen,
                        .chunk_bytes = 65536,
                        .user_meta = (const uint8_t *)"k\0v",
                        .user_meta_len = 3};
            memset(r.md5, i, sizeof r.md5);
            memset(r.objid, 7, sizeof r.objid);
            size_t h = objrec_encode_header(&r, rec);
            if (!(r.flags & OBJREC_CHUNKED)) {
                memcpy(rec + h, val, (size_t)vlen);
                h += (size_t)vlen;
            }
            e.type = ENTRY_OBJECT;
            e.value = rec;
            e.value_len = (uint32_t)h;
        }
        if (segment_writer_add(w, &e) != 0)
            die("segment_writer_add");
    }
    if (segment_writer_finish(w, NULL) != 0)
        die("segment_writer_finish");
    snprintf(to, sizeof to, "%s/segment/seed-%s.bin", out, name);
    copy_file(path, to);
}

static void make_manifests(const char *out)
{
    manifest *m = NULL, *remote = NULL;
    if (manifest_create(&m) != 0)
        die("manifest_create");
    m->version = 7;
    m->writer_epoch = 2;
    m->next_segment_id = 3;
    m->last_seq = 3398;
    m->wal_first_file = 4;
    m->remote_version = 6;
    uint8_t k1[] = "logs/2024-05-01", k2[] = "logs/2024-05-03", b1[] = {0, 1},
            b2[] = {'u', 's', 'e', 'r', 0xff};
    manifest_segment s1 = {.id = 1,
                           .object_key = "segments/c1/1-2.seg",
                           .size = 1048231,
                           .crc32c = 2317107943u,
                           .min_key = k1,
                           .min_key_len = 15,
                           .max_key = k2,
                           .max_key_len = 15,
                           .min_seq = 1,
                           .max_seq = 3120,
                           .count = 3120,
                           .epoch = 2,
                           .created_unix_s = 1714557600,
                           .state = SEG_LOCAL_REMOTE};
    manifest_segment s2 = {.id = 2,
                           .object_key = "",
                           .size = 65877,
                           .crc32c = 487535529,
                           .min_key = b1,
                           .min_key_len = 2,
                           .max_key = b2,
                           .max_key_len = 5,
                           .min_seq = 3121,
                           .max_seq = 3398,
                           .count = 270,
                           .epoch = 2,
                           .created_unix_s = 1714558200,
                           .state = SEG_LOCAL};
    if (manifest_add(m, &s1) != 0 || manifest_add(m, &s2) != 0)
        die("manifest_add");
    char *json = NULL;
    size_t len = 0;
    char to[4200];
    if (manifest_to_json(m, &json, &len) != 0)
        die("manifest_to_json");
    snprintf(to, sizeof to, "%s/manifest/seed-local.json", out);
    write_text(to, json);
    free(json);
    if (remote_manifest_build(m, NULL, 0, 1, &remote) != 0 || manifest_to_json(remote, &json, &len) != 0)
        die("remote_manifest_build");
    snprintf(to, sizeof to, "%s/manifest/seed-remote.json", out);
    write_text(to, json);
    free(json);
    manifest_free(remote);
    manifest *empty = NULL;
    if (manifest_create(&empty) != 0 || manifest_to_json(empty, &json, &len) != 0)
        die("empty manifest");
    snprintf(to, sizeof to, "%s/manifest/seed-empty.json", out);
    write_text(to, json);
    free(json);
    manifest_free(empty);
    manifest_free(m);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_make_seeds CORPUS_DIR\n");
        return 2;
    }
    const char *out = argv[1];
    char tmp[] = "/tmp/floe-fuzz-seeds.XXXXXX", sub[4200];
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    static const char *dirs[] = {"wal", "segment", "manifest"};
    for (int i = 0; i < 3; i++) {
        snprintf(sub, sizeof sub, "%s/%s", out, dirs[i]);
        if (file_mkdir_p(sub) != 0)
            die(sub);
    }
    make_wal(tmp, out);
    make_segment(tmp, out, "one-block", FLOE_COMPRESSION_NONE, 65536, 3);
    make_segment(tmp, out, "many-blocks", FLOE_COMPRESSION_NONE, 256, 40);
    make_segment(tmp, out, "zstd", FLOE_COMPRESSION_ZSTD, 1024, 60);
    make_manifests(out);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
