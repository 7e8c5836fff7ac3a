/* The S3 API of floe serve (docs/s3-api.md): a second listener (s3.listen) whose requests go
 * through the same connection handling, limits, write pool and streaming PUT and GET as the /v1
 * API (http.c, put.c, get.c), with S3's addressing, SigV4 authentication (s3_auth.c), aws-chunked
 * bodies (s3_chunked.c), checksums (s3_checksum.c), XML (s3_xml.c) and errors.
 *
 * The mapping onto the store: bucket B's object K is the key "B/K" (so the /v1 API and retention
 * rules see S3 objects under their bucket's prefix); a bucket is a record in the system namespace
 * (FLOE_SYSTEM_PREFIX "b/" B); a multipart upload is a record FLOE_SYSTEM_PREFIX "u/" B "/" id and
 * its parts objects FLOE_SYSTEM_PREFIX "p/" id "/" %05u. An object's S3 attributes beyond its
 * content type (Content-Encoding, the multipart ETag, checksums...) ride in its user metadata blob
 * after the x-amz-meta-* pairs, under names that begin with ':' (no HTTP header name can).
 *
 * Files: s3api.c (the listener's requests: routing, auth, bodies, errors), s3api_ops.c (buckets,
 * lists, objects, copies, deletes), s3api_multipart.c (multipart uploads and their reclaimer).
 *
 * Threads: as http.c: an http_req and its s3_req belong to the MHD thread of the connection, or to
 * the pool thread running its work while the connection is suspended. The s3_api is shared; its
 * bucket set is guarded by its rwlock. */
#ifndef FLOE_S3API_H
#define FLOE_S3API_H

#include <microhttpd.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "http_internal.h"
#include "s3_auth.h"
#include "s3_checksum.h"
#include "s3_chunked.h"

/* Bucket names: 3..63 bytes (S3's rules, s3api_bucket_name_valid). */
#define S3_BUCKET_MAX_BYTES 63
/* The most buckets a server keeps (S3's default quota is 100 per account). */
#define S3_MAX_BUCKETS 1000
/* The largest XML body a request may send: a CompleteMultipartUpload of 10000 parts. */
#define S3_MAX_XML_BODY_BYTES (4u << 20)
/* Multipart: part numbers 1..10000, and every part but the last at least 5 MiB, as S3. */
#define S3_MAX_PARTS 10000
#define S3_MIN_PART_BYTES (5u << 20)
/* Stripes of the locks that order an upload's parts against its completion and abort. */
#define S3_UPLOAD_LOCK_STRIPES 64
/* The user metadata S3 allows (x-amz-meta-* names and values). */
#define S3_MAX_USER_META_BYTES 2048

/* The S3 operations (the op field of s3_req). */
enum s3_op {
    S3_OP_NONE,
    S3_LIST_BUCKETS,
    S3_CREATE_BUCKET,
    S3_DELETE_BUCKET,
    S3_HEAD_BUCKET,
    S3_GET_BUCKET_LOCATION,
    S3_LIST_OBJECTS,    /* v1 */
    S3_LIST_OBJECTS_V2, /* list-type=2 */
    S3_LIST_UPLOADS,
    S3_DELETE_OBJECTS,
    S3_PUT_OBJECT,
    S3_COPY_OBJECT,
    S3_GET_OBJECT,
    S3_HEAD_OBJECT,
    S3_DELETE_OBJECT,
    S3_CREATE_UPLOAD,
    S3_UPLOAD_PART,
    S3_UPLOAD_PART_COPY,
    S3_COMPLETE_UPLOAD,
    S3_ABORT_UPLOAD,
    S3_LIST_PARTS,
    S3_GET_OBJECT_TAGGING, /* always the empty set: floe keeps no tags */
};

/* The state of the S3 API shared by its requests. */
typedef struct s3_api {
    http_server *srv;
    s3_auth_key keys[64];
    size_t n_keys;
    /* the buckets (sorted names), loaded at start; guarded by lock, which object writes hold shared
     * across their commit and bucket creation and deletion hold exclusively */
    pthread_rwlock_t lock;
    char (*buckets)[S3_BUCKET_MAX_BYTES + 1];
    uint64_t *bucket_created_ms;
    size_t n_buckets;
    /* UploadPart holds its upload's stripe shared across its check that the upload exists and its
     * commit; CompleteMultipartUpload and AbortMultipartUpload (and the reclaimer) hold it
     * exclusively from their lookup to the deletion of the parts, so no part lands after them and
     * outlives its upload. Taken before the bucket lock. */
    pthread_rwlock_t upload_locks[S3_UPLOAD_LOCK_STRIPES];
    atomic_ullong next_request_id;
    /* the reclaimer of abandoned multipart uploads */
    pthread_t reclaimer;
    int reclaimer_started;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    int stop;
} s3_api;

/* One S3 request's state beyond http_req's. */
typedef struct s3_req {
    enum s3_op op;
    char request_id[20];
    char bucket[S3_BUCKET_MAX_BYTES + 1];
    size_t bucket_len;
    char *object_key; /* the S3 key (decoded, malloc'd), without the bucket; NULL for bucket requests */
    size_t object_key_len;
    char *resource;   /* "/bucket/key" as the request named it, for error documents (malloc'd) */
    s3_auth_result auth;
    int status_override; /* the status of an S3 error answer queued now, if not the caller's */
    /* the query parameters that matter, decoded (malloc'd; NULL when absent) */
    char *q[32];
    /* a body the API reads whole (CreateBucket, DeleteObjects, CompleteMultipartUpload) */
    int collect;
    buf_t body;
    /* aws-chunked bodies (streaming payloads): the decoder, and what it decoded of one piece */
    s3_chunked *chunked;
    unsigned char *decoded;
    size_t decoded_len, decoded_cap;
    int chunked_done;
    /* a checksum the body must match: from an x-amz-checksum-* header, or (has_trailer) a trailer */
    int has_checksum, checksum_in_trailer;
    s3_checksum ck;
    char want_checksum[S3_CHECKSUM_B64_MAX];
    char got_checksum[S3_CHECKSUM_B64_MAX];
    int digest_failed; /* s3_check_digests' finding */
    /* multipart */
    char upload_id[40];
    uint32_t part_number;
    /* copies: the source key (bucket/key in the store), its range, and the metadata directive */
    char *copy_src;
    size_t copy_src_len;
    int copy_range;
    uint64_t copy_first, copy_last;
    int meta_replace;
    /* request headers a pool job needs, copied on the MHD thread (malloc'd; NULL when absent) */
    char *h_copy_source, *h_directive, *h_copy_if_match, *h_copy_if_none_match, *h_copy_range, *h_host;
    /* what a work job (s3_run_work) answers: status, body (XML), ETag, and an error */
    int out_status;
    buf_t out;
    char out_etag[HTTP_ETAG_BYTES];
    const char *err_code;
    int err_status;
    char err_msg[600];
} s3_req;

/* The API's lifetime, from http_server_start and http_server_stop. */
int s3_api_create(http_server *s, s3_api **out);
void s3_api_stop(s3_api *a);
void s3_api_destroy(s3_api *a);

/* The request hooks http.c calls for the S3 listener's requests. */
int s3_req_create(http_req *r);
void s3_req_free(http_req *r);
int s3_begins_early(const http_req *r);
enum MHD_Result s3_begin_request(http_req *r, struct MHD_Connection *c, const char *url, const char *method);
int s3_takes_body(const http_req *r);
enum MHD_Result s3_receive_body(http_req *r, struct MHD_Connection *c, const char *data, size_t *size);
enum MHD_Result s3_finish_request(http_req *r, struct MHD_Connection *c);
int s3_run_work(http_req *r);
enum MHD_Result s3_respond_work(http_req *r, struct MHD_Connection *c);
int s3_commit_put(http_req *r);
int s3_check_digests(http_req *r);
/* The request id header, and the status an S3 error answer carries instead of the caller's. */
int s3_before_queue(http_req *r, struct MHD_Response *resp, int status);
/* S3's XML error answer for floe's error code (or an S3 code, which starts with a capital). */
struct MHD_Response *s3_error_response(http_req *r, const char *code, const char *msg, size_t *len);
/* The headers of a GetObject or HeadObject answer from the version v (partial: of a range of it,
 * which carries no checksum of the whole). */
void s3_add_object_headers(http_req *r, struct MHD_Connection *c, struct MHD_Response *resp, const floe_value *v,
                           int partial);
/* GetObject's partNumber=N: the Range of part N of v into range (cap bytes). 0 when the request has no
 * partNumber, 1 when range is set, -1 when the object has no such part. */
int s3_part_range(const http_req *r, const floe_value *v, char *range, size_t cap);
/* 1 with buf the quoted "<hex>-<parts>" if v was made by CompleteMultipartUpload. */
int s3_multipart_etag(const floe_value *v, char *buf, size_t cap);

/* Shared between the S3 files. */
enum MHD_Result s3_respond_error(http_req *r, struct MHD_Connection *c, int status, const char *code, const char *fmt,
                                 ...) FLOE_PRINTF(5, 6);
/* Sets the work job's error (answered by s3_respond_work). Returns -1. */
int s3_fail(http_req *r, int status, const char *code, const char *fmt, ...) FLOE_PRINTF(4, 5);
/* The same for a failed floe_* call rc (its message from floe_last_error). Returns -1. */
int s3_fail_floe(http_req *r, int rc, const char *what);
/* A query parameter (decoded), or NULL. */
const char *s3_query(const http_req *r, const char *name);
/* 1 if the bucket exists (under the lock, shared or not, as the caller holds it); with created_ms. */
int s3_bucket_exists(s3_api *a, const char *name, uint64_t *created_ms);
/* The store key of bucket's key k into out (cap FLOE_MAX_KEY_BYTES + 1): "bucket/k". Returns its
 * length, or 0 when it is too long. */
size_t s3_store_key(const char *bucket, const char *k, size_t k_len, char *out);
/* Appends an ISO 8601 time of unix ms ("2026-12-01T21:00:00.000Z"). */
void s3_iso8601(buf_t *b, uint64_t unix_ms);
/* The XML declaration every answer starts with. */
#define S3_XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define S3_XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"
/* Appends a meta pair to blob (len in/out, cap bytes); -1 when it does not fit. */
int s3_meta_put(unsigned char *blob, size_t cap, size_t *len, const char *name, const char *value);
/* The next pair of blob from *pos (0 to start), moving *pos past it: 1 with *name and *value
 * pointing into blob, 0 at the end (or at bytes that are not a pair). */
int s3_meta_next(const void *blob, size_t len, size_t *pos, const char **name, const char **value);
/* The value of the pair named name in blob, or NULL. */
const char *s3_meta_get(const void *blob, size_t len, const char *name);
/* Reads the object headers of a write (Content-Type, x-amz-meta-*, Content-Encoding...) into r's
 * content type and user metadata. 0, or -1 answered (*ret). */
int s3_read_object_headers(http_req *r, struct MHD_Connection *c, enum MHD_Result *ret);
/* Sets up what the body of r needs: the aws-chunked decoder of a streaming payload, and the
 * checksum of an x-amz-checksum-* header or of a trailer. Answers itself (*ret) and returns 0 on a
 * bad header. */
int s3_setup_body(http_req *r, struct MHD_Connection *c, enum MHD_Result *ret);

/* Copies bytes [first, first + len) of the version reader rd reads into writer w (s3api_ops.c). */
int s3_copy_bytes(floe_reader *rd, floe_writer *w, uint64_t first, uint64_t len);
/* Commits writer w (taken over) at r->key like a PUT: s3_commit_put's locks and checks. */
int s3_commit_writer(http_req *r, floe_writer *w);

/* The operations (s3api_ops.c, s3api_multipart.c). Those called on the MHD thread answer r
 * themselves; the *_work ones run on a pool thread and leave their answer in r->s3. */
enum MHD_Result s3_list_buckets(http_req *r, struct MHD_Connection *c);
enum MHD_Result s3_head_bucket(http_req *r, struct MHD_Connection *c);
enum MHD_Result s3_get_bucket_location(http_req *r, struct MHD_Connection *c);
enum MHD_Result s3_list_objects(http_req *r, struct MHD_Connection *c, int v2);
enum MHD_Result s3_begin_put_object(http_req *r, struct MHD_Connection *c);
/* Parses partNumber and uploadId into r, checks the upload and points r->key at the part's key.
 * Answers itself (*ret) and returns 0 when refused. On the MHD thread. */
int s3_read_part_target(http_req *r, struct MHD_Connection *c, enum MHD_Result *ret);
int s3_create_bucket_work(http_req *r);
int s3_delete_bucket_work(http_req *r);
int s3_delete_objects_work(http_req *r);
int s3_delete_object_work(http_req *r);
int s3_copy_work(http_req *r);
enum MHD_Result s3_list_uploads(http_req *r, struct MHD_Connection *c);
enum MHD_Result s3_list_parts(http_req *r, struct MHD_Connection *c);
/* 1 if upload_id names an upload of bucket's key (its record read into *key_out, malloc'd). */
int s3_upload_lookup(http_req *r, char **meta_out, size_t *meta_len);
int s3_create_upload_work(http_req *r);
int s3_complete_upload_work(http_req *r);
int s3_abort_upload_work(http_req *r);
/* The lock stripe of upload id. */
pthread_rwlock_t *s3_upload_lock(s3_api *a, const char *upload_id);
/* The store key of part n of upload id. */
size_t s3_part_key(const char *upload_id, uint32_t n, char *out, size_t cap);
/* The reclaimer thread: aborts uploads older than s3.multipart_max_age_s. */
void *s3_reclaimer_main(void *arg);
int s3_reclaim_once(s3_api *a, uint64_t now_ms, uint64_t max_age_ms);

#endif
