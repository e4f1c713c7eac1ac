/* host_linectl: control-line events to mepsim (see host_linectl.h). */
#include "host_linectl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void disconnect(host_linectl *lc)
{
    if (lc->fd < 0)
        return;
    ev_io_stop(lc->loop, &lc->rio);
    close(lc->fd);
    lc->fd = -1;
    host_ctlreply_init(&lc->replies);
}

/* One reply line: anything but {"ok":true,...} is worth a warning. */
static void on_reply_line(void *ctx, host_ctlreply_kind kind, const char *line, size_t len)
{
    host_linectl *lc = ctx;
    (void)len;
    if (kind == HOST_CTLREPLY_OK)
        return;
    lc->replies_not_ok++;
    host_logf(lc->log, HOST_LOG_WARN, "control: emulator reply %s: %s", host_ctlreply_kind_name(kind), line);
}

static void on_reply(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    host_linectl *lc = w->data;
    char buf[512];
    ssize_t n = read(lc->fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        host_logf(lc->log, HOST_LOG_WARN, "control: %s closed the connection", lc->path);
        disconnect(lc);
        return;
    }
    host_ctlreply_feed(&lc->replies, buf, (size_t)n, on_reply_line, lc);
}

static bool send_line(host_linectl *lc, const char *name, bool on)
{
    char msg[96];
    int len = snprintf(msg, sizeof msg, "{\"line\":\"%s\",\"on\":%s}\n", name, on ? "true" : "false");
    ssize_t n = send(lc->fd, msg, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n != len) {
        host_logf(lc->log, HOST_LOG_WARN, "control: cannot send line event to %s: %s", lc->path,
                  n < 0 ? strerror(errno) : "short write");
        lc->send_failures++;
        disconnect(lc);
        return false;
    }
    lc->events_sent++;
    host_logf(lc->log, HOST_LOG_DEBUG, "control: %s %s", name, on ? "on" : "off");
    return true;
}

static bool ensure_connected(host_linectl *lc)
{
    if (lc->fd >= 0)
        return true;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, lc->path, strlen(lc->path) + 1);
    /* a local stream socket connects at once or fails at once */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        host_logf(lc->log, HOST_LOG_WARN, "control: cannot connect to %s: %s (line change not reported)",
                  lc->path, strerror(errno));
        lc->send_failures++;
        close(fd);
        return false;
    }
    lc->fd = fd;
    host_ctlreply_init(&lc->replies);
    ev_io_init(&lc->rio, on_reply, fd, EV_READ);
    lc->rio.data = lc;
    ev_io_start(lc->loop, &lc->rio);
    host_logf(lc->log, HOST_LOG_INFO, "control: connected to %s", lc->path);
    return true;
}

bool host_linectl_init(host_linectl *lc, struct ev_loop *loop, const char *path, const host_log *log)
{
    memset(lc, 0, sizeof *lc);
    lc->fd = -1;
    lc->loop = loop;
    lc->log = log;
    if (strlen(path) >= sizeof lc->path)
        return false;
    memcpy(lc->path, path, strlen(path) + 1);
    return true;
}

void host_linectl_set(host_linectl *lc, const char *name, bool on)
{
    if (!strcmp(name, "transceiver"))
        lc->transceiver_on = on;
    else
        lc->enable_on = on;
    bool fresh = lc->fd < 0;
    if (!ensure_connected(lc))
        return;
    if (fresh) {
        /* (re)connected: tell the emulator both lines, not just this change */
        if (send_line(lc, "transceiver", lc->transceiver_on))
            send_line(lc, "enable", lc->enable_on);
        return;
    }
    send_line(lc, name, on);
}

void host_linectl_close(host_linectl *lc) { disconnect(lc); }
