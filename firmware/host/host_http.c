/* host_http: a small HTTP/1.1 server on libev (see host_http.h). */
#include "host_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static void conn_close(host_http_conn *c)
{
    host_http *h = c->srv;
    ev_io_stop(h->loop, &c->rio);
    ev_io_stop(h->loop, &c->wio);
    ev_timer_stop(h->loop, &c->idle);
    close(c->fd);
    for (int i = 0; i < HOST_HTTP_MAX_CLIENTS; i++)
        if (h->conns[i] == c)
            h->conns[i] = NULL;
    free(c->out);
    free(c);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static void try_write(host_http_conn *c);

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

static void respond_error(host_http_conn *c, int status, const char *msg)
{
    char body[256];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}", msg);
    c->close_after = true; /* after a framing error the stream cannot be trusted */
    respond(c, status, "application/json", body, (size_t)n, false);
}

/* Find header `name` (case-insensitive) in the raw header block; returns its
 * value (leading blanks skipped) and length, or NULL. */
static const char *header_value(const char *headers, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *p = headers; p && *p;) {
        const char *e = strstr(p, "\r\n");
        size_t ll = e ? (size_t)(e - p) : strlen(p);
        if (ll > nl && !strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < p + ll && (*v == ' ' || *v == '\t'))
                v++;
            *len = (size_t)(p + ll - v);
            return v;
        }
        p = e ? e + 2 : NULL;
    }
    return NULL;
}

/* Does header `name` contain `token` (case-insensitive)? */
static bool header_has(const char *headers, const char *name, const char *token)
{
    size_t vl, tl = strlen(token);
    const char *v = header_value(headers, name, &vl);
    for (size_t i = 0; v && i + tl <= vl; i++)
        if (!strncasecmp(v + i, token, tl))
            return true;
    return false;
}

/* A GET carries no body: only an absent or zero Content-Length is accepted
 * (anything else would leave body bytes to be misread as the next request). */
static bool has_body(const char *headers)
{
    size_t vl;
    if (header_value(headers, "Transfer-Encoding", &vl))
        return true;
    const char *v = header_value(headers, "Content-Length", &vl);
    if (!v)
        return false;
    for (size_t i = 0; i < vl; i++)
        if (v[i] != '0' && v[i] != ' ')
            return true;
    return vl == 0;
}

/* Handle one complete request head in c->in[0..head_len). */
static void handle_request(host_http_conn *c, size_t head_len)
{
    host_http *h = c->srv;
    char *req = c->in;
    req[head_len - 2] = '\0'; /* cut before the final CRLF */
    char *line_end = strstr(req, "\r\n");
    char *headers = line_end ? line_end + 2 : req + strlen(req);
    if (line_end)
        *line_end = '\0';

    char method[16], target[2048], version[16];
    char extra;
    if (sscanf(req, "%15s %2047s %15s %c", method, target, version, &extra) != 3) {
        respond_error(c, 400, "malformed request line");
        return;
    }
    if (strncmp(version, "HTTP/1.", 7) || (version[7] != '0' && version[7] != '1') || version[8]) {
        respond_error(c, strncmp(version, "HTTP/", 5) ? 400 : 505, "unsupported HTTP version");
        return;
    }
    bool http11 = version[7] == '1';
    if (has_body(headers)) {
        respond_error(c, 400, "request bodies are not accepted");
        return;
    }
    c->close_after = http11 ? header_has(headers, "Connection", "close")
                            : !header_has(headers, "Connection", "keep-alive");
    h->requests++;
    bool head = !strcmp(method, "HEAD");
    if (strcmp(method, "GET") && !head) {
        static const char body405[] = "{\"error\":\"only GET is supported\"}";
        respond(c, 405, "application/json", body405, sizeof body405 - 1, false);
        return;
    }
    if (target[0] != '/') {
        respond_error(c, 400, "request target must be a path");
        return;
    }
    char *q = strpbrk(target, "?#");
    if (q)
        *q = '\0';
    static const char body404[] = "{\"error\":\"not found\"}";
    host_http_response r = {404, "application/json", body404, sizeof body404 - 1, false};
    h->handler(h->handler_ctx, target, &r);
    respond(c, r.status, r.content_type, r.body, r.len, head);
    if (r.free_body)
        free((void *)r.body);
}

/* Parse as many complete requests as the buffer holds (pipelining). */
static void process_input(host_http_conn *c)
{
    while (!c->close_after) {
        c->in[c->in_len] = '\0';
        char *end = strstr(c->in, "\r\n\r\n");
        if (!end) {
            if (memchr(c->in, '\0', c->in_len))
                respond_error(c, 400, "NUL byte in request");
            else if (c->in_len >= HOST_HTTP_MAX_REQUEST)
                respond_error(c, 431, "request header too large");
            break;
        }
        size_t head_len = (size_t)(end - c->in) + 4;
        handle_request(c, head_len);
        memmove(c->in, c->in + head_len, c->in_len - head_len);
        c->in_len -= head_len;
    }
    if (c->close_after)
        ev_io_stop(c->srv->loop, &c->rio); /* answer, then close: read no more */
    try_write(c);
}

static void try_write(host_http_conn *c)
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
        if (n < 0 && errno == EAGAIN) {
            ev_io_start(h->loop, &c->wio);
            return;
        }
        conn_close(c);
        return;
    }
    ev_io_stop(h->loop, &c->wio);
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    if (c->close_after) {
        shutdown(c->fd, SHUT_WR);
        conn_close(c);
    }
}

static void on_conn_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    host_http_conn *c = w->data;
    if (c->close_after)
        return;
    ssize_t n = recv(c->fd, c->in + c->in_len, HOST_HTTP_MAX_REQUEST - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    c->in_len += (size_t)n;
    ev_timer_again(loop, &c->idle);
    process_input(c);
}

static void on_conn_write(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    try_write(w->data);
}

static void on_conn_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    host_http_conn *c = w->data;
    if (c->in_len && !c->out_len) {
        respond_error(c, 408, "request not completed in time");
        try_write(c);
        return;
    }
    conn_close(c);
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
        int slot = -1;
        for (int i = 0; i < HOST_HTTP_MAX_CLIENTS; i++)
            if (!h->conns[i]) {
                slot = i;
                break;
            }
        host_http_conn *c = slot >= 0 ? calloc(1, sizeof *c) : NULL;
        if (!c) {
            h->refused++;
            close(fd);
            continue;
        }
        c->srv = h;
        c->fd = fd;
        h->conns[slot] = c;
        ev_io_init(&c->rio, on_conn_read, fd, EV_READ);
        ev_io_init(&c->wio, on_conn_write, fd, EV_WRITE);
        ev_init(&c->idle, on_conn_idle);
        c->idle.repeat = HOST_HTTP_IDLE_S;
        c->rio.data = c->wio.data = c->idle.data = c;
        ev_io_start(loop, &c->rio);
        ev_timer_again(loop, &c->idle);
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
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 16) != 0) {
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
