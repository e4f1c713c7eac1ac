/* host_http: a small HTTP/1.1 server on libev for mepmod's web endpoints.
 *
 * Owns: listening, per-connection buffers, request-line/header parsing,
 * keep-alive, limits and error answers (400 malformed, 404 unknown path via
 * the handler, 405 non-GET, 408 idle, 431 oversized header, 505 version).
 * What a path serves is the handler's business (mepmod_main.c). Non-blocking
 * throughout: a slow or hostile client can cost memory bounded by the limits
 * below, never block the MEP loop (module-behaviour S34).
 */
#ifndef HOST_HTTP_H
#define HOST_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "host_log.h"

#define HOST_HTTP_MAX_REQUEST 8192u  /* request line + headers; more -> 431 */
#define HOST_HTTP_MAX_CLIENTS 32
#define HOST_HTTP_IDLE_S 10.0        /* close a connection idle this long */

typedef struct {
    int status;              /* 200, 404, 503 ... */
    const char *content_type;
    const char *body;        /* not owned unless free_body */
    size_t len;
    bool free_body;          /* body was malloc'ed by the handler */
} host_http_response;

/* path excludes the query string. */
typedef void (*host_http_handler)(void *ctx, const char *path, host_http_response *out);

typedef struct host_http host_http;
typedef struct host_http_conn host_http_conn;

struct host_http_conn {
    host_http *srv;
    int fd;
    ev_io rio, wio;
    ev_timer idle;
    char in[HOST_HTTP_MAX_REQUEST + 1];
    size_t in_len;
    char *out;
    size_t out_len, out_off;
    bool close_after;
};

struct host_http {
    struct ev_loop *loop;
    int lfd;
    ev_io accept_io;
    host_http_handler handler;
    void *handler_ctx;
    const host_log *log;
    host_http_conn *conns[HOST_HTTP_MAX_CLIENTS];
    uint32_t requests, errors_4xx, refused;
};

/* Listen on bind_addr:port (IPv4 or IPv6 literal). err names the problem. */
bool host_http_start(host_http *h, struct ev_loop *loop, const char *bind_addr, uint16_t port,
                     host_http_handler handler, void *ctx, const host_log *log,
                     char *err, size_t errlen);
void host_http_stop(host_http *h);

#endif
