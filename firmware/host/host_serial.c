/* host_serial: the meter UART edge of mepmod (see host_serial.h).
 *
 * Why two ways to open: libserialport is the portable path for real UARTs,
 * but libserialport 0.1.1 refuses pseudo-terminals: sp_get_port_by_name()
 * returns SP_ERR_ARG for /dev/pts/N (it only knows devices it can find in
 * sysfs), and sp_open() would also query modem lines a PTY does not have.
 * The fallback is plain open() + termios raw 9600 8N1, which is all a PTY
 * needs; the log says which path was taken.
 */
#include "host_serial.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <libserialport.h>

static void on_readable(struct ev_loop *loop, ev_io *w, int revents);
static void on_writable(struct ev_loop *loop, ev_io *w, int revents);
static void on_check(struct ev_loop *loop, ev_timer *w, int revents);

static void close_fd(host_serial *s)
{
    if (s->fd < 0)
        return;
    ev_io_stop(s->loop, &s->rio);
    ev_io_stop(s->loop, &s->wio);
    if (s->sp) {
        sp_close((struct sp_port *)s->sp);
        sp_free_port((struct sp_port *)s->sp);
        s->sp = NULL;
    } else {
        close(s->fd);
    }
    s->fd = -1;
    s->txq_len = 0;
    s->closes++;
}

/* libserialport first (real UARTs), termios fallback (PTYs). */
static int open_device(host_serial *s, char *why, size_t whylen)
{
    struct sp_port *sp = NULL;
    const char *step = "sp_get_port_by_name";
    enum sp_return r = sp_get_port_by_name(s->path, &sp);
    if (r == SP_OK) {
        step = "sp_open";
        r = sp_open(sp, SP_MODE_READ_WRITE);
    }
    if (r == SP_OK) {
        step = "configuring 9600 8N1";
        bool cfg_ok = sp_set_baudrate(sp, 9600) == SP_OK && sp_set_bits(sp, 8) == SP_OK &&
                      sp_set_parity(sp, SP_PARITY_NONE) == SP_OK && sp_set_stopbits(sp, 1) == SP_OK &&
                      sp_set_flowcontrol(sp, SP_FLOWCONTROL_NONE) == SP_OK;
        int fd = -1;
        if (cfg_ok && sp_get_port_handle(sp, &fd) == SP_OK && fd >= 0) {
            s->sp = sp;
            s->via_termios = false;
            return fd;
        }
        sp_close(sp);
        r = SP_ERR_FAIL;
    }
    if (r == SP_ERR_FAIL) {
        char *msg = sp_last_error_message();
        snprintf(why, whylen, "libserialport %s: %s", step, msg ? msg : "failed");
        if (msg)
            sp_free_error_message(msg);
    } else {
        snprintf(why, whylen, "libserialport %s returned %d%s", step, (int)r,
                 r == SP_ERR_ARG ? " (not a device it knows, e.g. a PTY)" : "");
    }
    if (sp)
        sp_free_port(sp);

    int fd = open(s->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return -1;
    }
    struct termios t;
    if (tcgetattr(fd, &t) != 0) {
        snprintf(why, whylen, "not a serial device (%s)", strerror(errno));
        close(fd);
        return -1;
    }
    cfmakeraw(&t);
    t.c_cflag |= CLOCAL | CREAD;
    t.c_cflag &= ~(tcflag_t)(CSTOPB | PARENB | CRTSCTS);
    t.c_cc[VMIN] = 1; /* see set_vmin1() */
    t.c_cc[VTIME] = 0;
    cfsetispeed(&t, B9600);
    cfsetospeed(&t, B9600);
    if (tcsetattr(fd, TCSANOW, &t) != 0) {
        snprintf(why, whylen, "cannot set 9600 8N1 raw (%s)", strerror(errno));
        close(fd);
        return -1;
    }
    s->sp = NULL;
    s->via_termios = true;
    return fd;
}

/* With VMIN=0 a non-blocking tty read returns 0 when it is merely empty,
 * which is indistinguishable from the hangup of a PTY whose emulator exited.
 * VMIN=1 makes "empty" EAGAIN, so 0/EIO can mean "device gone". */
static void set_vmin1(int fd)
{
    struct termios t;
    if (tcgetattr(fd, &t) == 0 && (t.c_cc[VMIN] != 1 || t.c_cc[VTIME] != 0)) {
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        tcsetattr(fd, TCSANOW, &t);
    }
}

/* Open, lock, and start watching. */
static bool try_open(host_serial *s, char *err, size_t errlen)
{
    char why[256] = "";
    struct stat st;
    if (stat(s->path, &st) != 0) {
        snprintf(err, errlen, "cannot open port %s: %s", s->path, strerror(errno));
        return false;
    }
    int fd = open_device(s, why, sizeof why);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open port %s: %s", s->path, why);
        return false;
    }
    /* Exclusive: a second client on the same meter port would interleave
     * requests and break the sequence numbers of both. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        snprintf(err, errlen, "port %s is busy: %s", s->path,
                 e == EWOULDBLOCK ? "locked by another process (another mepmod?)" : strerror(e));
        if (s->sp) {
            sp_close((struct sp_port *)s->sp);
            sp_free_port((struct sp_port *)s->sp);
            s->sp = NULL;
        } else {
            close(fd);
        }
        return false;
    }
    set_vmin1(fd);
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    struct stat fst;
    s->rdev = fstat(fd, &fst) == 0 ? fst.st_rdev : 0;
    s->fd = fd;
    s->txq_len = 0;
    s->opens++;
    tcflush(fd, TCIFLUSH);
    ev_io_init(&s->rio, on_readable, fd, EV_READ);
    ev_io_init(&s->wio, on_writable, fd, EV_WRITE);
    s->rio.data = s;
    s->wio.data = s;
    ev_io_start(s->loop, &s->rio);
    host_logf(s->log, HOST_LOG_INFO, "serial: opened %s at 9600 8N1%s", s->path,
              s->via_termios ? " as a plain terminal device (a pseudo-terminal such as mepsim's, which "
                               "libserialport does not handle: normal, nothing is wrong)" : "");
    if (s->via_termios)
        host_logf(s->log, HOST_LOG_DEBUG, "serial: libserialport said: %s", why);
    return true;
}

static void lost(host_serial *s, const char *why)
{
    host_logf(s->log, HOST_LOG_WARN, "serial: %s lost (%s); reopening every %u ms", s->path, why,
              HOST_SERIAL_REOPEN_MS);
    close_fd(s);
}

bool host_serial_open(host_serial *s, struct ev_loop *loop, const char *path,
                      host_serial_rx_fn on_rx, void *rx_ctx, const host_log *log,
                      char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->loop = loop;
    s->on_rx = on_rx;
    s->rx_ctx = rx_ctx;
    s->log = log;
    if (strlen(path) >= sizeof s->path) {
        snprintf(err, errlen, "cannot open port: path too long");
        return false;
    }
    snprintf(s->path, sizeof s->path, "%s", path);
    if (!try_open(s, err, errlen))
        return false;
    ev_timer_init(&s->check, on_check, HOST_SERIAL_REOPEN_MS / 1000.0, HOST_SERIAL_REOPEN_MS / 1000.0);
    s->check.data = s;
    ev_timer_start(loop, &s->check);
    return true;
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    host_serial *s = w->data;
    uint8_t buf[512];
    for (int rounds = 0; rounds < 16 && s->fd >= 0; rounds++) {
        ssize_t n = read(s->fd, buf, sizeof buf);
        if (n > 0) {
            s->rx_bytes += (uint32_t)n;
            s->on_rx(s->rx_ctx, buf, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        /* 0 or EIO: the other end of the PTY went away (mepsim exited) */
        lost(s, n == 0 ? "end of file" : strerror(errno));
        return;
    }
}

static void flush_txq(host_serial *s)
{
    while (s->fd >= 0 && s->txq_len) {
        ssize_t n = write(s->fd, s->txq, s->txq_len);
        if (n > 0) {
            s->tx_bytes += (uint32_t)n;
            memmove(s->txq, s->txq + n, s->txq_len - (size_t)n);
            s->txq_len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        lost(s, n < 0 ? strerror(errno) : "write returned 0");
        return;
    }
    if (s->fd < 0)
        return;
    if (s->txq_len)
        ev_io_start(s->loop, &s->wio);
    else
        ev_io_stop(s->loop, &s->wio);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    flush_txq(w->data);
}

size_t host_serial_write(host_serial *s, const uint8_t *p, size_t n)
{
    if (s->fd < 0) {
        s->tx_dropped += (uint32_t)n;
        return n;
    }
    size_t room = HOST_SERIAL_TXQ - s->txq_len;
    size_t take = n < room ? n : room;
    memcpy(s->txq + s->txq_len, p, take);
    s->txq_len += take;
    /* write now: a frame must leave without >50 ms gaps (docs/mep.md 4) */
    flush_txq(s);
    return take;
}

void host_serial_flush_rx(host_serial *s)
{
    if (s->fd >= 0)
        tcflush(s->fd, TCIFLUSH);
}

bool host_serial_is_open(const host_serial *s) { return s->fd >= 0; }

/* Every 500 ms: reopen a lost device; notice when the path now names a
 * different device (mepsim restarted and re-pointed its PTY symlink before
 * we saw the hangup). */
static void on_check(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    host_serial *s = w->data;
    if (s->fd >= 0) {
        struct stat st;
        if (stat(s->path, &st) != 0)
            lost(s, "path disappeared");
        else if (s->rdev && st.st_rdev != s->rdev)
            lost(s, "path now names a different device");
        else
            return;
    }
    char err[512];
    if (try_open(s, err, sizeof err))
        host_logf(s->log, HOST_LOG_INFO, "serial: %s is back", s->path);
    else
        host_logf(s->log, HOST_LOG_DEBUG, "serial: reopen failed: %s", err);
}

void host_serial_close(host_serial *s)
{
    ev_timer_stop(s->loop, &s->check);
    close_fd(s);
}
