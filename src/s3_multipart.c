/* Uploading a file (s3_put_file in s3.h): one PUT when it fits in a part, else a multipart upload:
 * create, one PUT per part read from the file, complete.
 *
 * Invariants:
 * 1. Once created, a multipart upload is either completed or aborted, also when a step fails or the
 *    client is cancelled (invariant 5 of s3.c).
 * 2. One part is in memory at a time; the completion body is capped by the part count.
 * 3. The upload carries a random x-amz-meta-floe-upload-id, so a completion whose answer was lost
 *    is recognised by the object it made, not guessed.
 */
#include "s3.h"
#include "s3_internal.h"

#include "error.h"
#include "file.h"
#include "xml.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct mpu_create_result {
    char upload_id[1024];
} mpu_create_result;

static int mpu_create_element(void *ctx, const char *path, const char *text, size_t len)
{
    mpu_create_result *m = ctx;
    if (strcmp(path, "InitiateMultipartUploadResult/UploadId") == 0) {
        if (len == 0 || len >= sizeof m->upload_id)
            return err_set(FLOE_ECOLD, "s3: UploadId of %zu bytes", len);
        memcpy(m->upload_id, text, len + 1);
    }
    return 0;
}

static int mpu_abort(s3_client *c, const char *key, const char *upload_id)
{
    s3_req req = {.op = FLOE_COLD_MPU_ABORT, .key = key};
    req.query[req.query_count++] = (sigv4_pair){"uploadId", upload_id};
    s3_resp r;
    int rc = s3_perform(c, &req, &r);
    if (rc != 0)
        s3_count_error(c, FLOE_COLD_MPU_ABORT, rc);
    else if (s3_status_ok(r.status) || r.status == 404)
        s3_note_success(c, &r);
    else
        rc = s3_status_error(c, FLOE_COLD_MPU_ABORT, &r);
    s3_resp_free(&r);
    return rc;
}

/* Appends s to the XML body with &, < and > escaped. */
static int xml_append_escaped(char *buf, size_t *len, size_t cap, const char *s)
{
    for (; *s; s++) {
        const char *rep = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : NULL;
        size_t n = rep ? strlen(rep) : 1;
        if (*len + n + 1 > cap)
            return -1;
        memcpy(buf + *len, rep ? rep : s, n);
        *len += n;
    }
    buf[*len] = '\0';
    return 0;
}

/* Starts a multipart upload of key, tagged with upload_tag (x-amz-meta-floe-upload-id, by which a
 * completion whose answer was lost is recognised), and fills created->upload_id. */
static int mpu_create(s3_client *c, const char *key, const char *upload_tag, mpu_create_result *created)
{
    int rc;
    s3_req req = {
        .op = FLOE_COLD_MPU_CREATE, .key = key, .sink = SINK_BUFFER, .max_body = S3_MAX_SMALL_BODY_BYTES};
    req.query[req.query_count++] = (sigv4_pair){"uploads", ""};
    req.headers[req.header_count++] = (sigv4_pair){"x-amz-meta-floe-upload-id", upload_tag};
    s3_resp r;
    if ((rc = s3_perform(c, &req, &r)) != 0) {
        s3_count_error(c, FLOE_COLD_MPU_CREATE, rc);
        goto out;
    }
    if (!s3_status_ok(r.status)) {
        rc = s3_status_error(c, FLOE_COLD_MPU_CREATE, &r);
        goto out;
    }
    s3_note_success(c, &r);
    if (r.too_big ||
        (rc = xml_parse(buf_str(&r.body), r.body.len, r.where, mpu_create_element, created)) != 0 ||
        !created->upload_id[0]) {
        rc = s3_count_error(c, FLOE_COLD_MPU_CREATE,
                            err_set(FLOE_ECOLD, "s3 POST %s: answer has no UploadId (%s)", r.where,
                                    rc ? floe_last_error() : "missing or too large"));
        goto out;
    }
out:
    s3_resp_free(&r);
    return rc;
}

/* Uploads the n bytes in buf as part part_number of upload_id and copies the ETag S3 gives it
 * into etag, for the completion. */
static int mpu_upload_part(s3_client *c, const char *key, const char *upload_id, uint64_t part_number,
                           const void *buf, size_t n, char etag[S3_ETAG_MAX])
{
    int rc;
    char md5[25], sha[65], part_no[24];
    if ((rc = s3_body_digests(buf, n, md5, sha)) != 0)
        return rc;
    snprintf(part_no, sizeof part_no, "%" PRIu64, part_number);
    s3_req req = {.op = FLOE_COLD_MPU_PART, .key = key, .body = buf, .body_len = n, .body_sha256 = sha};
    req.query[req.query_count++] = (sigv4_pair){"partNumber", part_no};
    req.query[req.query_count++] = (sigv4_pair){"uploadId", upload_id};
    req.headers[req.header_count++] = (sigv4_pair){"Content-MD5", md5};
    s3_resp r;
    if ((rc = s3_perform(c, &req, &r)) != 0) {
        s3_count_error(c, FLOE_COLD_MPU_PART, rc);
        goto out;
    }
    if (!s3_status_ok(r.status)) {
        rc = s3_status_error(c, FLOE_COLD_MPU_PART, &r);
        goto out;
    }
    if (!r.etag[0]) {
        rc = s3_count_error(
            c, FLOE_COLD_MPU_PART,
            err_set(FLOE_ECOLD, "s3 PUT %s: part %" PRIu64 " answer has no ETag", r.where, part_number));
        goto out;
    }
    snprintf(etag, S3_ETAG_MAX, "%s", r.etag);
out:
    s3_resp_free(&r);
    return rc;
}

/* The CompleteMultipartUpload document naming the nparts parts by their ETags, in a malloc'd
 * string the caller frees; *len_out gets its length. */
static int mpu_complete_body(const char *key, char (*etags)[S3_ETAG_MAX], uint64_t nparts, char **body_out,
                             size_t *len_out)
{
    int rc = 0;
    size_t cap = 128 + nparts * (64 + S3_ETAG_MAX * 5), len = 0;
    char *body = malloc(cap);
    if (!body) {
        rc = err_set(FLOE_ENOMEM, "s3 PUT %s: out of memory", key);
        goto out;
    }
    len = (size_t)snprintf(body, cap, "<CompleteMultipartUpload>");
    for (uint64_t i = 0; i < nparts; i++) {
        len += (size_t)snprintf(body + len, cap - len, "<Part><PartNumber>%" PRIu64 "</PartNumber><ETag>\"",
                                i + 1);
        if (xml_append_escaped(body, &len, cap, etags[i]) != 0) {
            rc = err_set(FLOE_ECOLD, "s3 PUT %s: ETag too long", key);
            goto out;
        }
        len += (size_t)snprintf(body + len, cap - len, "\"</ETag></Part>");
    }
    len += (size_t)snprintf(body + len, cap - len, "</CompleteMultipartUpload>");
    *body_out = body;
    *len_out = len;
    body = NULL;
out:
    free(body);
    return rc;
}

/* Completes upload_id with body. Returns 0 once the object exists: completed now, or by an earlier
 * sending of this request whose answer was lost (the object then carries upload_tag). Any other
 * outcome is an error, and the caller aborts the upload (invariant 5). */
static int mpu_complete(s3_client *c, const char *key, const char *upload_id, const char *upload_tag,
                        const char *body, size_t len)
{
    int rc;
    char sha[65];
    sigv4_sha256_hex(body, len, sha);
    s3_req req = {.op = FLOE_COLD_MPU_COMPLETE,
                  .key = key,
                  .body = body,
                  .body_len = len,
                  .body_sha256 = sha,
                  .sink = SINK_BUFFER,
                  .max_body = S3_MAX_SMALL_BODY_BYTES};
    req.query[req.query_count++] = (sigv4_pair){"uploadId", upload_id};
    req.headers[req.header_count++] = (sigv4_pair){"Content-Type", "application/xml"};
    s3_resp r;
    if ((rc = s3_perform(c, &req, &r)) != 0) {
        s3_count_error(c, FLOE_COLD_MPU_COMPLETE, rc);
        goto out;
    }
    if (s3_status_ok(r.status) && !r.err_code[0]) {
        s3_note_success(c, &r);
    } else if (r.status == 404 && strcmp(r.err_code, "NoSuchUpload") == 0) {
        /* An earlier attempt completed it and its answer was lost (curl itself resends a request
         * whose reused connection died, so this can happen within one attempt too): the object
         * says whose it is. */
        s3_object_info info;
        if (s3_head(c, key, &info) == 0 && strcmp(info.upload_id, upload_tag) == 0)
            err_clear();
        else
            rc = s3_status_error(c, FLOE_COLD_MPU_COMPLETE, &r);
    } else {
        rc = s3_status_error(c, FLOE_COLD_MPU_COMPLETE, &r);
    }
out:
    s3_resp_free(&r);
    return rc;
}

/* Uploads path in parts of part_bytes (more when S3_MAX_PARTS would not hold the file): create,
 * read and send each part, complete; a failure after the create aborts the upload. Called with the
 * file open and its size known. */
static int put_multipart(s3_client *c, const char *key, int fd, const char *path, uint64_t size,
                         uint64_t part_bytes)
{
    int rc = 0;
    char upload_tag[33];
    mpu_create_result created = {{0}};
    char(*etags)[S3_ETAG_MAX] = NULL;
    unsigned char *buf = NULL;
    char *complete_body = NULL;
    size_t complete_len = 0;
    int created_ok = 0;

    uint64_t nparts = (size + part_bytes - 1) / part_bytes;
    if (nparts > S3_MAX_PARTS) {
        part_bytes = (size + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
        nparts = (size + part_bytes - 1) / part_bytes;
    }
    if (part_bytes > SIZE_MAX / 2) {
        rc = err_set(FLOE_EINVAL, "s3 PUT %s: part size %" PRIu64 " too large", key, part_bytes);
        goto out;
    }
    etags = calloc(nparts, sizeof *etags);
    buf = malloc(part_bytes);
    if (!etags || !buf) {
        rc = err_set(FLOE_ENOMEM, "s3 PUT %s: out of memory for a %" PRIu64 "-byte part", key, part_bytes);
        goto out;
    }
    s3_random_hex(upload_tag, 16);
    if ((rc = mpu_create(c, key, upload_tag, &created)) != 0)
        goto out;
    created_ok = 1;
    for (uint64_t i = 0; i < nparts; i++) {
        uint64_t off = i * part_bytes;
        size_t n = (size_t)(size - off < part_bytes ? size - off : part_bytes), got = 0;
        int e = file_pread_all(fd, buf, n, off, &got);
        if (e != 0) {
            rc = err_set(FLOE_EIO, "s3 PUT %s: read %s at offset %" PRIu64 ": %s", key, path, off + got,
                         e > 0 ? strerror(e) : "file shrank during upload");
            goto out;
        }
        if ((rc = mpu_upload_part(c, key, created.upload_id, i + 1, buf, n, etags[i])) != 0)
            goto out;
    }
    if ((rc = mpu_complete_body(key, etags, nparts, &complete_body, &complete_len)) != 0)
        goto out;
    rc = mpu_complete(c, key, created.upload_id, upload_tag, complete_body, complete_len);
out:
    if (rc != 0 && created_ok) {
        /* Keep the first error's message: abort's outcome only matters for the counters. */
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", floe_last_error());
        mpu_abort(c, key, created.upload_id);
        err_set(rc, "%s", saved);
    }
    free(complete_body);
    free(buf);
    free(etags);
    return rc;
}

int s3_put_file(s3_client *c, const char *key, const char *path, uint64_t part_bytes)
{
    int rc = 0, fd = -1;
    void *data = NULL;
    struct stat st;

    if ((rc = s3_valid_key(c, key, "PUT")) != 0)
        return rc;
    if (part_bytes < S3_MIN_PART_BYTES)
        return err_set(FLOE_EINVAL, "s3 PUT %s: part size %" PRIu64 " is below S3's minimum of %llu bytes",
                       key, part_bytes, S3_MIN_PART_BYTES);
    fd = file_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        rc = err_set(errno == ENOENT ? FLOE_ENOTFOUND : FLOE_EIO, "s3 PUT %s: open %s: %s", key, path,
                     strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = err_set(FLOE_EIO, "s3 PUT %s: %s is not a readable regular file", key, path);
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size > part_bytes) {
        rc = put_multipart(c, key, fd, path, size, part_bytes);
        goto out;
    }
    data = malloc(size ? size : 1);
    if (!data) {
        rc = err_set(FLOE_ENOMEM, "s3 PUT %s: out of memory reading %s", key, path);
        goto out;
    }
    int e = file_pread_all(fd, data, (size_t)size, 0, NULL);
    if (e != 0) {
        rc = err_set(FLOE_EIO, "s3 PUT %s: read %s: %s", key, path, e > 0 ? strerror(e) : "file shrank");
        goto out;
    }
    rc = s3_put(c, key, data, size, 0);
out:
    free(data);
    if (fd >= 0)
        file_close(fd);
    return rc;
}
