/* What the HTTP server's two files share: http.c (the server: connections, request state, limits,
 * auth, routing, the write pool, JSON text and error answers) and routes.c (what each endpoint
 * does). Nothing else includes this; the rest of floe uses http.h.
 *
 * Threads: as in http.c's header comment. An http_req belongs to the MHD thread handling its
 * connection, or to the write-pool thread running its write while the connection is suspended. */
#ifndef FLOE_HTTP_INTERNAL_H
#define FLOE_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "budget.h"
#include "buf.h"
#include "config.h"
#include "error.h"
#include "floe.h"
#include "http.h"
#include "http_parse.h"
#include "metrics.h"

/* Room for an ETag with its quotes: 32 hex digits, or the S3 multipart form "<hex>-<parts>". */
#define HTTP_ETAG_BYTES 80

/* Ceiling for any JSON or text answer the server builds (a list of list_max_keys long keys). */
#define HTTP_MAX_ANSWER_BYTES (256u * 1024 * 1024)
/* A PUT over max_object_bytes sent without Expect: 100-continue is read and dropped up to this
 * size before its 413, so the client reads the answer instead of a reset (closing a socket with
 * unread data resets it). A larger one is answered at once and the connection closed. */
#define HTTP_MAX_DISCARDED_BODY_BYTES (16u * 1024 * 1024)

enum route {
    R_OBJECT,
    R_LIST,
    R_FLUSH,
    R_COMPACT,
    R_STATS,
    R_METRICS,
    R_HEALTHZ,
    R_READYZ,
    R_S3, /* every request of the S3 API's listener */
    R_UNKNOWN,
    R_COUNT
};
static const char *const route_label[R_COUNT] = {"/v1/objects/{key}", "/v1/objects", "/v1/flush", "/v1/compact",
                                                 "/v1/stats",         "/metrics",    "/healthz",  "/readyz",
                                                 "s3",                "other"};

enum method { M_GET, M_HEAD, M_PUT, M_DELETE, M_POST, M_OTHER, M_COUNT };
static const char *const method_label[M_COUNT] = {"GET", "HEAD", "PUT", "DELETE", "POST", "other"};

/* The statuses the server answers with; anything else is counted under "other". */
static const int status_codes[] = {200, 201, 204, 206, 304, 400, 401, 403, 404, 405, 409,
                                   411, 412, 413, 414, 416, 431, 500, 501, 503, 0};

/* PUT and DELETE of a key take the key's stripe of these locks around their floe_writer_commit or
 * floe_delete: shared when unconditional, exclusive when their preconditions must be checked
 * first, so no other HTTP write of the key lands between a check and its write (http.c
 * invariant 5). */
#define HTTP_KEY_LOCK_STRIPES 64
#define STATUS_SLOTS ((int)(sizeof status_codes / sizeof status_codes[0]))

struct s3_api; /* s3api.h */

struct http_server {
    floe_t *db;             /* borrowed */
    const floe_config *cfg; /* borrowed */
    struct MHD_Daemon *daemon;
    uint16_t port;
    /* the S3 API's listener (s3.listen; NULL when off) and its state */
    struct MHD_Daemon *s3_daemon;
    uint16_t s3_port;
    struct s3_api *s3;
    size_t token_count;
    unsigned char token_digest[CONFIG_MAX_TOKENS][SHA256_DIGEST_LENGTH];
    config_access token_access[CONFIG_MAX_TOKENS];
    atomic_int stopping;               /* set by http_server_stop: /readyz answers 503 */
    atomic_long in_flight;             /* requests between their first handler call and completion */
    atomic_ullong body_bytes_reserved; /* PUT bytes buffered now, about a chunk each (cap
                                          http.max_body_bytes_in_flight) */
    budget responses;                  /* GET buffers held now (cap http.max_response_bytes_in_flight) */
    atomic_ullong responses_over_budget, response_budget_waits;
    atomic_ullong responses_cut; /* GET answers ended early because the store failed a read */
    /* counters */
    atomic_ullong connections_open, connections_total;
    atomic_ullong bytes_in, bytes_out;
    atomic_ullong uploads_too_slow, uploads_aborted, requests_aborted;
    atomic_ullong requests[R_COUNT][M_COUNT][STATUS_SLOTS];
    atomic_ullong writes_queued; /* writes waiting for a pool thread now */
    metrics_hist latency[R_COUNT][M_COUNT][STATUS_SLOTS];
    /* the write pool: requests whose write (a PUT's chunks and commit, a delete, a flush) may wait for a WAL
     * sync or an upload */
    pthread_mutex_t work_mu; /* guards the queue and work_stop */
    pthread_cond_t work_cv;
    struct http_req *work_head, *work_tail;
    int work_stop;
    pthread_t *workers;
    unsigned worker_count;
    /* writes of one key against each other (see HTTP_KEY_LOCK_STRIPES), and conditional writes
     * (shared) against prefix deletes (exclusive); taken by pool threads only, prefix_lock first,
     * before any lock of the store */
    pthread_rwlock_t prefix_lock;
    pthread_rwlock_t key_locks[HTTP_KEY_LOCK_STRIPES];
    int key_locks_ready;
};

enum work_op { WORK_PUT, WORK_PUT_PIECE, WORK_DELETE, WORK_DELETE_PREFIX, WORK_FLUSH, WORK_COMPACT, WORK_S3 };
enum { WORK_NONE, WORK_QUEUED, WORK_DONE };

/* Why a PUT whose body is still arriving will be refused once it has (its body is read and dropped
 * meanwhile, within HTTP_MAX_DISCARDED_BODY_BYTES): an answer queued before the body ends would make
 * libmicrohttpd close the connection with the body unread, which a client sees as a reset. */
enum put_refusal {
    PUT_REFUSE_NONE,
    PUT_REFUSE_TOO_LARGE,    /* 413: Content-Length over max_object_bytes */
    PUT_REFUSE_PRECONDITION, /* 412: work_precondition, work_etag and work_modified say which */
    PUT_REFUSE_STORE,        /* the store failed a write of the body: work_rc and work_error */
};

/* One request's state, from the handler's first call to the completion callback. */
struct s3_req; /* s3api.h */

typedef struct http_req {
    http_server *srv;
    struct s3_req *s3; /* an S3 API request's state (s3api.c), NULL for /v1; freed in on_completed */
    uint64_t start_ns;
    enum route route;
    enum method method;
    int status;                  /* of the queued response; 0 until one is queued */
    int begun;                   /* begin_request ran */
    uint64_t ignored_body_bytes; /* body bytes of a request that takes no body, or of a refused PUT */
    /* a write handed to the write pool; the connection is suspended meanwhile */
    struct MHD_Connection *conn;
    enum work_op op;
    atomic_int work_state; /* WORK_NONE, WORK_QUEUED, WORK_DONE (release: the results below are set) */
    int work_rc;
    uint64_t work_seq;
    floe_durability flush_level;
    struct http_req *next; /* in the pool's queue */
    /* PUT: the body goes into writer as it arrives (put.c). writer is owned here from the first
     * call until its commit or abort; a piece that may fill one of the writer's chunks (and so wait
     * for a WAL sync) is copied into stage and written by a pool thread. */
    floe_writer *writer;
    uint64_t body_len, body_expected; /* bytes received so far, and Content-Length */
    uint64_t body_reserved;           /* this PUT's share of http.max_body_bytes_in_flight */
    uint64_t body_start_ns;
    char *stage;
    size_t stage_len, stage_cap;
    enum put_refusal refusal;
    int has_content_type;
    /* Content-MD5 and x-floe-checksum-sha256 of a PUT: the digests the client sent, checked before
     * the commit against the writer's MD5 and the SHA-256 of the body as it arrived (sha256_ctx,
     * NULL when the header was not sent). digest_failed: the write job found the body's MD5 (1)
     * or SHA-256 (2) wrong and stored nothing. */
    int has_want_md5;
    EVP_MD_CTX *sha256_ctx;
    unsigned char want_md5[16], want_sha256[32];
    int digest_failed;
    unsigned char work_md5[16]; /* the MD5 of the committed object, its ETag */
    size_t user_meta_len;       /* bytes of user_meta below (x-floe-meta-* headers, usermeta.c) */
    size_t key_len;
    /* conditional requests: the headers (pointing into MHD's copies, or into cond_joined for a
     * header sent on several lines, owned here) */
    struct http_conditions cond;
    char *cond_joined[5];
    int cond_failed;
    const char *work_precondition; /* the write job found this precondition false: answer 412 */
    /* GET: bytes of the response budget this request holds (not yet handed to a response), and
     * its wait for room: the connection is suspended while wait.state is BUDGET_WAITING */
    uint64_t resp_reserved;
    budget_waiter wait;
    uint64_t wait_deadline_ns; /* set by the first wait; a GET waits at most until then in all */
    /* The arrays stay last: req_create zeroes only the fields above them, and each array is
     * written before it is read (key by parse_key, content_type with has_content_type,
     * work_error with work_rc, work_etag and work_modified with work_precondition, user_meta
     * with user_meta_len). */
    char key[FLOE_MAX_KEY_BYTES + 1];
    char content_type[FLOE_MAX_CONTENT_TYPE_BYTES + 1];
    char work_error[512];
    char work_etag[HTTP_ETAG_BYTES]; /* the ETag the failed precondition was checked against; "" for none */
    char work_modified[40]; /* and the Last-Modified; "" when unknown */
    unsigned char user_meta[FLOE_MAX_USER_META_BYTES];
} http_req;

/* Logs through the store's log_fn, else to stderr; level 0 error, 1 warning, 2 info. */
void http_log(const http_server *s, int level, const char *fmt, ...) FLOE_PRINTF(3, 4);

/* 1 if the n bytes at p are valid UTF-8. */
int http_utf8_valid(const void *p, size_t n);
/* Appends the n bytes at p as a quoted JSON string; bytes that are not valid UTF-8 become U+FFFD. */
void http_json_str(buf_t *b, const void *p, size_t n);
void http_json_cstr(buf_t *b, const char *s);

/* Queues resp (may be NULL: out of memory, then MHD_NO) with status, counts body_bytes as sent
 * and releases our reference to resp. Every answer goes through here. */
enum MHD_Result http_queue(http_req *r, struct MHD_Connection *c, int status, struct MHD_Response *resp,
                           size_t body_bytes);
/* A response whose body is the text in b (taken over; b is reset), with its length in *len. NULL
 * if b overflowed or memory ran out. */
struct MHD_Response *http_text_response(buf_t *b, const char *content_type, size_t *len);
/* A JSON error answer {"error":{"code":code,"message":...}}, for callers that add headers before
 * queueing it; NULL when out of memory. */
struct MHD_Response *http_error_response(http_req *r, const char *code, size_t *len, const char *fmt, ...)
    FLOE_PRINTF(4, 5);
/* Queues a JSON error answer with status. */
enum MHD_Result http_respond_error(http_req *r, struct MHD_Connection *c, int status, const char *code,
                                   const char *fmt, ...) FLOE_PRINTF(5, 6);
/* Answers a failed floe_* call with the status and code its error calls for (and Retry-After for
 * the passing ones); detail is the message floe_last_error() gave on the thread that made the call. */
enum MHD_Result http_respond_floe_error_msg(http_req *r, struct MHD_Connection *c, int err,
                                            const char *detail);
/* The same with this thread's floe_last_error(). */
enum MHD_Result http_respond_floe_error(http_req *r, struct MHD_Connection *c, int err);
/* Queues b (taken over) as a JSON answer, or a 500 if b overflowed its cap. */
enum MHD_Result http_respond_json(http_req *r, struct MHD_Connection *c, int status, buf_t *b);

/* Suspends the connection and queues r's write (op) for the write pool; the pool resumes the
 * connection when it is done, and the handler's next call answers with http_respond_work. */
enum MHD_Result http_start_work(http_req *r, struct MHD_Connection *c, enum work_op op);

/* The endpoints. Each answers r itself, or (PUT, DELETE, flush) hands it to the write pool; they
 * return what the MHD access handler should return. r->key holds the decoded key of an object
 * route. GET and HEAD are in get.c, PUT in put.c, the rest in routes.c. */
enum MHD_Result http_handle_get(http_req *r, struct MHD_Connection *c);
enum MHD_Result http_handle_delete(http_req *r, struct MHD_Connection *c);
/* The PUT's first call: checks the headers and the preconditions, reserves the PUT's room under
 * http.max_body_bytes_in_flight and begins r->writer, or answers with an error. */
enum MHD_Result http_begin_put(http_req *r, struct MHD_Connection *c);
/* One piece of a PUT body (consumed: *size becomes 0), written to r->writer here or, when it may
 * fill a chunk, on a pool thread (the connection is suspended meanwhile). MHD_NO closes the
 * connection: a body too slow, or longer than Content-Length. */
enum MHD_Result http_receive_body(http_req *r, struct MHD_Connection *c, const char *data, size_t *size);
/* The PUT's last call: a body of exactly Content-Length bytes goes to the write pool, which
 * checks its digests and preconditions and commits it. */
enum MHD_Result http_finish_put(http_req *r, struct MHD_Connection *c);
/* On a pool thread: WORK_PUT_PIECE (writes r->stage; a failure aborts the writer and sets
 * r->refusal, which the MHD thread reads after the resume) and the digest check of WORK_PUT. 0 when
 * the write may go on; otherwise the writer has been aborted and r says why (work_rc, or
 * digest_failed). */
int http_put_write_piece(http_req *r);
/* The second half of http_begin_put, after the headers were read (r->body_expected, content type,
 * user metadata and digests set): the early preconditions, the body's room, and the writer of
 * r->key. For the S3 API's PutObject and UploadPart. */
enum MHD_Result http_put_start(http_req *r, struct MHD_Connection *c);
/* Decodes a digest header into n bytes: base64 (with padding), or for hex_too also 2n hex digits.
 * 0, or -1 if it is neither. */
int http_decode_digest(const char *h, unsigned char *out, size_t n, int hex_too);
int http_put_check_digests(http_req *r);
/* On a pool thread: the commit of r's PUT (or the delete of a DELETE) with its preconditions, under
 * the key's stripe lock (http.c invariant 5). Returns as the floe_* call; a failed precondition
 * returns 0 with r->work_precondition set and writes nothing. */
int http_write_object(http_req *r);
/* Frees what a PUT holds: aborts a writer not committed (an upload cut short), its stage and hash,
 * and gives back its room under http.max_body_bytes_in_flight. Returns 1 if a writer was aborted. */
int http_put_release(http_req *r);
enum MHD_Result http_handle_list(http_req *r, struct MHD_Connection *c);
enum MHD_Result http_handle_compact(http_req *r, struct MHD_Connection *c);
enum MHD_Result http_handle_delete_prefix(http_req *r, struct MHD_Connection *c);
enum MHD_Result http_handle_flush(http_req *r, struct MHD_Connection *c);
enum MHD_Result http_handle_stats(http_req *r, struct MHD_Connection *c);
enum MHD_Result http_handle_metrics(http_req *r, struct MHD_Connection *c);
/* /healthz (ready_check 0) or /readyz (1). */
enum MHD_Result http_handle_health(http_req *r, struct MHD_Connection *c, int ready_check);
/* Answers a request whose write the pool finished. */
enum MHD_Result http_respond_work(http_req *r, struct MHD_Connection *c);

/* Collects the conditional-request headers of r's request into r->cond (on the MHD thread, before
 * the request may be handed to the write pool). 0, or -1 when out of memory. */
int http_collect_conditions(http_req *r, struct MHD_Connection *c);
/* Frees what http_collect_conditions allocated. */
void http_conditions_free(http_req *r);
/* For a PUT or DELETE, on the pool thread under the key's exclusive stripe lock: reads the key's
 * current version and evaluates r->cond against it. 0 when the write may go on (also when r has
 * no precondition: nothing is read then), 1 when a precondition failed (r->work_precondition and
 * r->work_etag say which, for http_respond_precondition_failed), or the FLOE_E* code of a failed
 * read (floe_last_error on this thread has its message). */
int http_write_preconditions(http_req *r);
/* The 412 answer for a write whose precondition failed. */
enum MHD_Result http_respond_precondition_failed(http_req *r, struct MHD_Connection *c);
/* The 412 answer naming the precondition header that failed, and the object's etag (NULL: there is
 * none) and Last-Modified (modified, "" if unknown) it was checked against. */
enum MHD_Result http_respond_precondition_failed_as(http_req *r, struct MHD_Connection *c, const char *header,
                                                    const char *etag, const char *modified);

/* The ETag of an object version, quotes included, into buf (at least HTTP_ETAG_BYTES): the hex MD5 of
 * its bytes when the store knows it (objects written with floe_writer_*, S3's convention), else
 * the hex sequence number (values written with floe_put, or by a floe before MD5s). */
void http_format_etag(char *buf, size_t cap, int md5_known, const unsigned char md5[16], uint64_t seq);
/* The ETag r's API gives version v: http_format_etag's, or for the S3 API the multipart form of an
 * object a CompleteMultipartUpload made. */
void http_value_etag(const http_req *r, const floe_value *v, char *buf, size_t cap);
/* An IMF-fixdate of a write time in unix milliseconds, for Last-Modified; "" when the time is unknown
 * (0). cap must be at least 30. */
void http_format_date(char *buf, size_t cap, uint64_t unix_ms);
/* Last-Modified of a write time in whole seconds, -1 when unknown; and now, for the date headers. */
int64_t http_modified_s(uint64_t write_ms);
int64_t http_now_s(void);

#endif
