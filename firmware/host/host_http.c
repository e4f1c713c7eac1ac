/* host_http: a small HTTP/1.1 server on libev (see host_http.h). */
#include "host_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void conn_close(host_http_conn *c)
{
    host_http *h = c->srv;
    ev_io_stop(h->loop, &c->rio);
    ev_io_stop(h->loop, &c->wio);
    ev_timer_stop(h->loop, &c->deadline);
    close(c->fd);
    for (int i = 0; i < HOST_HTTP_MAX_CLIENTS; i++)
        if (h->conns[i] == c)
            h->conns[i] = NULL;
    free(c->out);
    free(c);
}

/* Enter a phase: its deadline runs from now and is not moved by traffic. */
static void set_phase(host_http_conn *c, host_http_phase phase, double seconds)
{
    struct ev_loop *loop = c->srv->loop;
    c->phase = phase;
    c->since = ev_now(loop);
    ev_timer_stop(loop, &c->deadline);
    ev_timer_set(&c->deadline, seconds, 0.0);
    ev_timer_start(loop, &c->deadline);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* Queue one response (status line, headers, body unless HEAD). */
static void respond(host_http_conn *c, int status, const char *ctype, const char *body,
                    size_t len, bool head_only)
{
    char hdr[384];
    int hn = snprintf(hdr, sizeof hdr,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Cache-Control: no-store\r\n%s%s\r\n",
                      status, reason_phrase(status), ctype, len,
                      status == 405 ? "Allow: GET, HEAD\r\n" : "",
                      c->close_after ? "Connection: close\r\n" : "Connection: keep-alive\r\n");
    size_t blen = head_only ? 0 : len;
    char *out = realloc(c->out, c->out_len + (size_t)hn + blen);
    if (!out) {
        c->close_after = true;
        return;
    }
    c->out = out;
    memcpy(c->out + c->out_len, hdr, (size_t)hn);
    if (blen)
        memcpy(c->out + c->out_len + hn, body, blen);
    c->out_len += (size_t)hn + blen;
    if (status >= 400 && status < 500)
        c->srv->errors_4xx++;
}

static void respond_error(host_http_conn *c, int status, const char *msg, bool head_only)
{
    char body[256];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}", msg);
    respond(c, status, "application/json", body, (size_t)n, head_only);
}

/* Answer one whole request head. */
static void answer(host_http_conn *c, const host_httpreq *req)
{
    host_http *h = c->srv;
    h->requests++;
    c->close_after = req->close;
    if (req->status) {
        respond_error(c, req->status, req->why, false);
        return;
    }
    static const char body404[] = "{\"error\":\"not found\"}";
    host_http_response r = {404, "application/json", body404, sizeof body404 - 1, false};
    h->handler(h->handler_ctx, req->path, &r);
    respond(c, r.status, r.content_type, r.body, r.len, req->head_only);
    if (r.free_body)
        free((void *)r.body);
}

/* Send what is queued. false: the connection is gone (the client reset it). */
static bool flush_out(host_http_conn *c)
{
    host_http *h = c->srv;
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* the client is not taking it: read nothing more until it does */
            ev_io_stop(h->loop, &c->rio);
            ev_io_start(h->loop, &c->wio);
            if (c->phase != HOST_HTTP_WRITING)
                set_phase(c, HOST_HTTP_WRITING, HOST_HTTP_WRITE_S);
            return true;
        }
        conn_close(c);
        return false;
    }
    ev_io_stop(h->loop, &c->wio);
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    return true;
}

/* The final answer is out: no more writing; read and drop until EOF. */
static void start_linger(host_http_conn *c)
{
    shutdown(c->fd, SHUT_WR);
    c->in_len = 0;
    set_phase(c, HOST_HTTP_LINGER, HOST_HTTP_LINGER_S);
    ev_io_start(c->srv->loop, &c->rio);
}

/* Move the connection on as far as it can go without waiting: send what is
 * queued, then answer the next buffered request (pipelining), one at a
 * time; then wait for input with the deadline of what it is waiting for. */
static void step(host_http_conn *c)
{
    for (;;) {
        if (!flush_out(c))
            return;
        if (c->out_len)
            return; /* on_conn_write calls again once the client takes it */
        if (c->close_after) {
            start_linger(c);
            return;
        }
        if (!c->in_len)
            break;
        host_httpreq req;
        host_httpreq_result r = host_httpreq_parse(c->in, c->in_len, &req);
        if (r == HOST_HTTPREQ_INCOMPLETE)
            break;
        if (r == HOST_HTTPREQ_REFUSE) {
            /* the stream cannot be trusted after a framing error */
            c->close_after = true;
            c->in_len = 0;
            respond_error(c, req.status, req.why, false);
            continue;
        }
        answer(c, &req);
        memmove(c->in, c->in + req.head_len, c->in_len - req.head_len);
        c->in_len -= req.head_len;
        /* the next request's deadline runs from now, not from its first byte's arrival */
        set_phase(c, c->in_len ? HOST_HTTP_READING : HOST_HTTP_IDLE,
                  c->in_len ? HOST_HTTP_REQUEST_S : HOST_HTTP_IDLE_S);
    }
    if (!c->in_len && c->phase != HOST_HTTP_IDLE)
        set_phase(c, HOST_HTTP_IDLE, HOST_HTTP_IDLE_S);
    else if (c->in_len && c->phase != HOST_HTTP_READING)
        set_phase(c, HOST_HTTP_READING, HOST_HTTP_REQUEST_S);
    ev_io_start(c->srv->loop, &c->rio);
}

static void on_conn_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    host_http_conn *c = w->data;
    if (c->phase == HOST_HTTP_LINGER) {
        char sink[4096];
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            conn_close(c);
        return;
    }
    if (c->in_len >= sizeof c->in || c->close_after || c->out_len) {
        ev_io_stop(loop, &c->rio); /* step() decides when to read again */
        return;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    if (c->phase == HOST_HTTP_IDLE)
        set_phase(c, HOST_HTTP_READING, HOST_HTTP_REQUEST_S); /* a request's first byte */
    c->in_len += (size_t)n;
    step(c);
}

static void on_conn_write(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    step(w->data);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    host_http_conn *c = w->data;
    if (c->phase == HOST_HTTP_READING) {
        c->srv->timeouts++;
        c->close_after = true;
        c->in_len = 0;
        respond_error(c, 408, "request not completed in time", false);
        step(c);
        return;
    }
    if (c->phase == HOST_HTTP_WRITING)
        c->srv->timeouts++;
    conn_close(c); /* idle keep-alive, an answer never taken, or lingering done */
}

/* All slots taken: the slot to free for a new client. The connection idle
 * or slow for the longest goes first (a client sending a request now is
 * newer than one holding a slot); one whose answer is queued only if every
 * slot is in that state. */
static int victim_slot(const host_http *h)
{
    int best = -1;
    bool best_writing = true;
    for (int i = 0; i < HOST_HTTP_MAX_CLIENTS; i++) {
        const host_http_conn *c = h->conns[i];
        if (!c)
            return i;
        bool writing = c->phase == HOST_HTTP_WRITING;
        if (best < 0 || (best_writing && !writing) ||
            (best_writing == writing && c->since < h->conns[best]->since)) {
            best = i;
            best_writing = writing;
        }
    }
    return best;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    host_http *h = w->data;
    for (int k = 0; k < 8; k++) {
        int fd = accept(h->lfd, NULL, NULL);
        if (fd < 0)
            return;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        host_http_conn *c = calloc(1, sizeof *c);
        if (!c) {
            h->refused++;
            close(fd);
            continue;
        }
        int slot = victim_slot(h);
        if (h->conns[slot]) {
            h->evicted++;
            conn_close(h->conns[slot]);
        }
        c->srv = h;
        c->fd = fd;
        h->conns[slot] = c;
        ev_io_init(&c->rio, on_conn_read, fd, EV_READ);
        ev_io_init(&c->wio, on_conn_write, fd, EV_WRITE);
        ev_init(&c->deadline, on_deadline);
        c->rio.data = c->wio.data = c->deadline.data = c;
        set_phase(c, HOST_HTTP_IDLE, HOST_HTTP_IDLE_S);
        ev_io_start(loop, &c->rio);
    }
}

bool host_http_start(host_http *h, struct ev_loop *loop, const char *bind_addr, uint16_t port,
                     host_http_handler handler, void *ctx, const host_log *log,
                     char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    h->loop = loop;
    h->handler = handler;
    h->handler_ctx = ctx;
    h->log = log;
    h->lfd = -1;

    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, bind_addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        sl = sizeof *s4;
    } else if (inet_pton(AF_INET6, bind_addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        sl = sizeof *s6;
    } else {
        snprintf(err, errlen, "--http-bind: '%s' is not an IPv4 or IPv6 address", bind_addr);
        return false;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "HTTP: socket: %s", strerror(errno));
        return false;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 64) != 0) {
        snprintf(err, errlen, "HTTP: cannot listen on %s port %u: %s", bind_addr, port, strerror(errno));
        close(fd);
        return false;
    }
    h->lfd = fd;
    ev_io_init(&h->accept_io, on_accept, fd, EV_READ);
    h->accept_io.data = h;
    ev_io_start(loop, &h->accept_io);
    return true;
}

void host_http_stop(host_http *h)
{
    if (h->lfd < 0)
        return;
    ev_io_stop(h->loop, &h->accept_io);
    close(h->lfd);
    h->lfd = -1;
    for (int i = 0; i < HOST_HTTP_MAX_CLIENTS; i++)
        if (h->conns[i])
            conn_close(h->conns[i]);
}
