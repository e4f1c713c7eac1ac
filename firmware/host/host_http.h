/* host_http: a small HTTP/1.1 server on libev for mepmod's web endpoints.
 *
 * Owns: listening, connections, keep-alive, deadlines and error answers
 * (400 malformed, 404 unknown path via the handler, 405 non-GET, 408 a
 * request not complete in time, 414 request line too long, 431 header line
 * or head too large, 505 version); host_httpreq parses the request heads.
 * What a path serves is the handler's business (mepmod_main.c).
 *
 * Bounded against slow and greedy clients (module-behaviour S34: the web
 * server never blocks or swells the MEP loop), see firmware/README.md
 * "HTTP server limits":
 * - every request has an absolute deadline from its first byte
 *   (HOST_HTTP_REQUEST_S); bytes arriving do not extend it, so a client
 *   dripping a byte every few seconds is answered 408 and closed;
 * - an idle keep-alive connection is closed after HOST_HTTP_IDLE_S;
 * - one answer at a time per connection: while an answer is not yet taken
 *   by the client, nothing more is read or parsed from it (pipelined
 *   requests wait in the socket, not in our memory), and an answer not
 *   taken within HOST_HTTP_WRITE_S closes the connection;
 * - at most HOST_HTTP_MAX_CLIENTS connections: a new one evicts the
 *   connection that has been idle or slow the longest, so held slots never
 *   lock a new client out;
 * - after a final answer the write side is shut and what the client still
 *   sends is read and dropped for up to HOST_HTTP_LINGER_S before closing
 *   (closing with unread bytes would reset the connection and could destroy
 *   the answer in flight).
 * Per connection the memory is the struct (one request head) plus one answer.
 */
#ifndef HOST_HTTP_H
#define HOST_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "host_httpreq.h"
#include "host_log.h"

#define HOST_HTTP_MAX_CLIENTS 32
#define HOST_HTTP_IDLE_S 10.0     /* keep-alive: no request in progress */
#define HOST_HTTP_REQUEST_S 10.0  /* first byte of a request to the end of its head */
#define HOST_HTTP_WRITE_S 10.0    /* an answer queued to the client taking all of it */
#define HOST_HTTP_LINGER_S 1.0    /* after the final answer: drain, then close */

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

/* What a connection is doing; each phase has its own deadline. */
typedef enum {
    HOST_HTTP_IDLE,     /* waiting for a request's first byte */
    HOST_HTTP_READING,  /* a request head is coming in */
    HOST_HTTP_WRITING,  /* an answer waits for the client to take it */
    HOST_HTTP_LINGER,   /* final answer sent: dropping input until EOF */
} host_http_phase;

struct host_http_conn {
    host_http *srv;
    int fd;
    ev_io rio, wio;
    ev_timer deadline;
    host_http_phase phase;
    ev_tstamp since;         /* when the phase began: eviction takes the oldest */
    char in[HOST_HTTPREQ_MAX_HEAD];
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
    uint32_t evicted, timeouts; /* connections closed to make room / at a deadline */
};

/* Listen on bind_addr:port (IPv4 or IPv6 literal). err names the problem. */
bool host_http_start(host_http *h, struct ev_loop *loop, const char *bind_addr, uint16_t port,
                     host_http_handler handler, void *ctx, const host_log *log,
                     char *err, size_t errlen);
void host_http_stop(host_http *h);

#endif
