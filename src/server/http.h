/* floe's HTTP endpoint (docs/http-api.md) on libmicrohttpd: objects, listing, flush, stats, metrics
 * and health, with bearer-token auth and a cap on every size a client controls. */
#ifndef FLOE_HTTP_H
#define FLOE_HTTP_H

#include <stdint.h>

#include "config.h"
#include "floe.h"

/* A running server. Created and stopped by one thread; its worker threads are internal. */
typedef struct http_server http_server;

/* Binds cfg->http.listen and starts serving db with cfg->http.threads worker threads. db and cfg are
 * borrowed and must outlive the server. Refuses (FLOE_EINVAL) to listen on a non-loopback address
 * without tokens unless cfg->http.allow_unauthenticated_remote, and logs a warning whenever no token
 * is configured. Errors: FLOE_EINVAL (bad listen address, auth policy), FLOE_EIO (bind/listen
 * failed: the message names the address), FLOE_ENOMEM. On success *out is freed by
 * http_server_stop. */
int http_server_start(floe_t *db, const floe_config *cfg, http_server **out);

/* The TCP port the server listens on (the real one when the config asked for port 0). */
uint16_t http_server_port(const http_server *s);
/* The S3 API's port (s3.listen), 0 when it is off. */
uint16_t http_server_s3_port(const http_server *s);

/* Stops accepting connections, lets requests in flight finish for up to
 * cfg->http.shutdown_grace_s seconds, closes every connection, joins the worker threads and frees
 * s. The store is not closed. */
void http_server_stop(http_server *s);

#endif
