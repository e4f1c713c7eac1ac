/* sim_serial: one serial line's device (PTY, UART or a one-client socket),
 * its read watcher, its paced transmit queue and the log formatter; see
 * sim_serial.h. */
#define _GNU_SOURCE 1 /* cfmakeraw */
#include "sim_serial.h"
#include "cap_line.h"
#include "sim_ev.h"
#include "sim_line.h"
#include "sim_pty.h"
#include "sim_sock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <libserialport.h>

/* Room of the paced queue: the longest optical reply packet with its ACK
 * (docs/optical.md 3: packets up to 8 KiB are negotiable) several times over. */
#define SERIAL_QUEUE 32768u
/* Paced bytes may leave up to this long before their stop bit ends, and a
 * running transmission wakes at most this often (as the MEP line core,
 * mep/sim_line.h SIM_LINE_EARLY_US / SIM_LINE_MIN_WAKE_US). */
#define SERIAL_EARLY_US SIM_LINE_EARLY_US
#define SERIAL_MIN_WAKE_US SIM_LINE_MIN_WAKE_US
#define SERIAL_NO_SWITCH UINT64_MAX
/* After accept failed for want of fds, listen again this much later
 * (a readable listener would otherwise wake the loop without end). */
#define SERIAL_ACCEPT_RETRY_S 1.0

struct sim_serial {
    struct ev_loop *loop;
    sim_serial_cfg cfg;
    char who[96];
    char path[512];      /* symlink or UART path */
    char device[256];    /* /dev/pts/N or UART path */
    sim_serial_kind kind;
    bool is_termios;
    int fd;              /* PTY master, UART, or the socket's client (-1: none) */
    int slave_fd;        /* PTY without a hang-up set: a slave kept open so the
                            master never reads EIO (sim_pty.h) */
    sim_pty_waiter hup;  /* PTY with a hang-up set: parked while nobody has it open */
    sim_sock *sock;      /* TCP or Unix socket */
    ev_io lio;           /* the socket's listener */
    ev_timer retry;      /* listen again after accept ran out of fds */
    struct sp_port *sp;
    FILE *log;
    uint32_t baud;       /* device rate and pacing rate of new transmissions */
    uint32_t pace_baud;  /* pacing rate of the bytes now queued */
    unsigned bits;
    ev_io rio;
    ev_timer timer;
    /* paced queue: a ring, allocated on first use */
    uint8_t *q;
    size_t q_head, q_len;
    uint64_t base_us;    /* start of the first byte counted in base_n */
    uint64_t base_n;     /* bytes sent since base_us */
    uint64_t switch_n;   /* at this base_n the pacing rate becomes baud (SERIAL_NO_SWITCH: none) */
    uint64_t last_emit_us;
    cap_line *cap;       /* --capture: this line's interface in the pcapng file, or NULL */
};

/* ---- capture (capture/README.md) ------------------------------------------
 * --capture FILE (sim_serial_cfg.capture): every line of the process joins
 * that one pcapng file as an interface, and the bytes of both directions are
 * recorded where they cross the device. */
static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* This process, for the capture's shb_userappl: the lines of one run join
 * one file, a file from an earlier run is started again. The pid alone
 * repeats (a container's mepsim is often pid 1); its start time (field 22 of
 * /proc/self/stat, clock ticks since boot) tells the runs apart. */
static void process_tag(char *out, size_t cap)
{
    unsigned long long start = 0;
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        char line[1024];
        if (fgets(line, sizeof line, f)) {
            const char *p = strrchr(line, ')'); /* the command name may hold spaces */
            for (int field = 2; p && field < 22; field++)
                p = strchr(p + 1, ' ');
            if (p)
                start = strtoull(p + 1, NULL, 10);
        }
        fclose(f);
    }
    snprintf(out, cap, "mepsim (pid %ld, started at tick %llu)", (long)getpid(), start);
}

static int capture_open(sim_serial *s, char *err, size_t errlen)
{
    const char *path = s->cfg.capture;
    if (!path || !*path)
        return 0;
    /* the optical port's options name it ("--optical-pty", "--optical-uart") */
    bool optical = strstr(s->cfg.pty_opt, "optical") != NULL;
    char name[100], desc[900], owner[96], sub[300];
    snprintf(name, sizeof name, "%.95s", s->who[0] ? s->who : s->path);
    size_t k = strlen(name);
    if (k && name[k - 1] == ':')
        name[k - 1] = 0;
    snprintf(desc, sizeof desc, "%s port on %s (%s)", optical ? "optical C12.18" : "MEP", s->path, s->device);
    process_tag(owner, sizeof owner);
    s->cap = cap_line_open(path, owner, name, desc, optical ? CAP_PORT_OPTICAL : CAP_PORT_MEP, sub, sizeof sub);
    if (!s->cap) {
        snprintf(err, errlen, "--capture: %s", sub);
        return -1;
    }
    return 0;
}

static void capture_check(sim_serial *s, cap_result rc)
{
    if (s->cap && rc != CAP_OK) {
        sim_serial_log(s, cap_line_error(s->cap));
        cap_line_close(s->cap, wall_us());
        s->cap = NULL;
    }
}

static void capture(sim_serial *s, unsigned dir, const uint8_t *b, size_t n)
{
    if (s->cap && n)
        capture_check(s, cap_line_bytes(s->cap, dir, b, n, wall_us()));
}

void sim_serial_capture_mark(sim_serial *s, bool to_meter, const char *text)
{
    if (s->cap)
        cap_line_mark(s->cap, to_meter ? CAP_DIR_TO_METER : CAP_DIR_FROM_METER, text);
}

uint64_t sim_serial_wire_us(size_t n, uint32_t baud, unsigned bits)
{
    return baud ? (uint64_t)n * bits * 1000000u / baud : 0;
}

void sim_serial_logf(FILE *f, const char *who, const char *fmt, ...)
{
    FILE *out = f ? f : stderr;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(out, "%02d:%02d:%02d.%03ld %s%s", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
            who ? who : "", who ? " " : "");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    fflush(out);
}

void sim_serial_log_line(FILE *f, const char *who, const char *msg) { sim_serial_logf(f, who, "%s", msg); }

void sim_serial_log(sim_serial *s, const char *msg) { sim_serial_log_line(s->log, s->who, msg); }

static speed_t speed_const(uint32_t baud)
{
    switch (baud) {
    case 300: return B300;
    case 600: return B600;
    case 1200: return B1200;
    case 2400: return B2400;
    case 4800: return B4800;
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    default: return 0;
    }
}

static void device_baud(sim_serial *s)
{
    if (s->kind == SIM_SERIAL_PTY || s->is_termios) {
        /* cosmetic on a PTY (pacing is what matters), but lets a client see
         * it; a master's termios requests act on its slave (sim_pty.h) */
        struct termios t;
        int fd = s->fd;
        speed_t c = speed_const(s->baud);
        if (c && tcgetattr(fd, &t) == 0 && cfgetospeed(&t) != c) {
            cfsetspeed(&t, c);
            tcsetattr(fd, TCSANOW, &t);
        }
    } else if (s->sp && sp_set_baudrate(s->sp, (int)s->baud) != SP_OK) {
        char msg[300];
        char *e = sp_last_error_message();
        snprintf(msg, sizeof msg, "cannot set %u baud on %s: %s", (unsigned)s->baud, s->device, e ? e : "error");
        if (e)
            sp_free_error_message(e);
        sim_serial_log(s, msg);
    }
}

static void client_gone(sim_serial *s, int err);

static ssize_t device_write(sim_serial *s, const uint8_t *b, size_t n)
{
    if (s->sock) /* a client that left must not raise SIGPIPE */
        return send(s->fd, b, n, MSG_NOSIGNAL);
    return write(s->fd, b, n);
}

size_t sim_serial_write(sim_serial *s, const uint8_t *b, size_t n)
{
    while (n > 0) {
        if (s->fd < 0)
            return n; /* no client on the socket: lost, like a wire nobody listens to */
        ssize_t w = device_write(s, b, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (s->sock && errno != EAGAIN && errno != EWOULDBLOCK)
                client_gone(s, errno); /* reset by the client */
            return n; /* nobody reading (PTY or socket buffer full) or device gone */
        }
        capture(s, CAP_DIR_FROM_METER, b, (size_t)w);
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- paced queue --------------------------------------------------------- */

static uint64_t byte_done_us(const sim_serial *s, uint64_t k)
{
    return s->base_us + sim_serial_wire_us((size_t)(k + 1), s->pace_baud, s->bits);
}

static void pace_arm(sim_serial *s, uint64_t now)
{
    uint64_t t = UINT64_MAX;
    if (s->q_len) {
        t = byte_done_us(s, s->base_n) - SERIAL_EARLY_US;
        if (s->base_n > 0 && t < s->last_emit_us + SERIAL_MIN_WAKE_US)
            t = s->last_emit_us + SERIAL_MIN_WAKE_US;
    }
    sim_ev_timer_wake(s->loop, &s->timer, t, now, 1e6, 0.0);
}

/* The bytes queued before a rate change are out: what follows is paced at
 * the new rate, from the end of the last byte. */
static void pace_switch(sim_serial *s)
{
    if (s->switch_n == SERIAL_NO_SWITCH || s->base_n < s->switch_n)
        return;
    if (s->base_n)
        s->base_us = byte_done_us(s, s->base_n - 1);
    s->base_n = 0;
    s->pace_baud = s->baud;
    s->switch_n = SERIAL_NO_SWITCH;
}

static void pace_run(sim_serial *s, uint64_t now)
{
    uint8_t out[512];
    size_t n = 0;
    pace_switch(s);
    while (s->q_len && byte_done_us(s, s->base_n) <= now + SERIAL_EARLY_US) {
        out[n++] = s->q[s->q_head];
        s->q_head = (s->q_head + 1) % SERIAL_QUEUE;
        s->q_len--;
        s->base_n++;
        pace_switch(s);
        if (n == sizeof out) {
            sim_serial_write(s, out, n);
            n = 0;
        }
    }
    if (n)
        sim_serial_write(s, out, n);
    if (n || s->q_len)
        s->last_emit_us = now;
    pace_arm(s, now);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    pace_run(w->data, sim_now_us());
}

size_t sim_serial_send(sim_serial *s, const uint8_t *b, size_t n)
{
    if (!n)
        return 0;
    if (!s->q && !(s->q = malloc(SERIAL_QUEUE)))
        return n;
    uint64_t now = sim_now_us();
    if (!s->q_len) {
        /* idle: the first byte starts now, or when the last one is off the wire */
        uint64_t free_at = s->base_n ? byte_done_us(s, s->base_n - 1) : s->base_us;
        s->base_us = free_at > now ? free_at : now;
        s->base_n = 0;
        s->pace_baud = s->baud;
        s->switch_n = SERIAL_NO_SWITCH;
    }
    size_t room = SERIAL_QUEUE - s->q_len, take = n < room ? n : room;
    for (size_t i = 0; i < take; i++)
        s->q[(s->q_head + s->q_len + i) % SERIAL_QUEUE] = b[i];
    s->q_len += take;
    pace_run(s, now);
    return n - take;
}

size_t sim_serial_queued(const sim_serial *s) { return s->q_len; }

void sim_serial_set_baud(sim_serial *s, uint32_t baud)
{
    if (!baud || baud == s->baud)
        return;
    s->baud = baud;
    if (s->q_len)
        s->switch_n = s->base_n + s->q_len;
    else
        s->pace_baud = baud;
    device_baud(s);
}

uint32_t sim_serial_baud(const sim_serial *s) { return s->baud; }
unsigned sim_serial_bits_per_char(const sim_serial *s) { return s->bits; }

/* ---- reading ------------------------------------------------------------- */

static void verbose_log(sim_serial *s, const char *fmt, const char *a, const char *b)
{
    if (s->cfg.verbose >= 1)
        sim_serial_logf(s->log, s->who[0] ? s->who : NULL, fmt, a, b);
}

/* A PTY's client closed the slave: the master reads EIO until one opens it
 * again. Park it in the hang-up set (sim_pty.h) instead of spinning on its
 * POLLHUP; the set wakes us when a client writes. */
static bool pty_park(sim_serial *s)
{
    if (!s->cfg.pty_hub || s->kind != SIM_SERIAL_PTY)
        return false;
    if (s->hup.parked)
        return true;
    if (sim_pty_hub_park(s->cfg.pty_hub, &s->hup) != 0)
        return false;
    ev_io_stop(s->loop, &s->rio);
    verbose_log(s, "%s: client closed %s; waiting for the next", s->path, s->device);
    return true;
}

/* The device read EAGAIN: a PTY that was parked has a client again. */
static void pty_unpark(sim_serial *s)
{
    if (!s->hup.parked)
        return;
    sim_pty_hub_leave(s->cfg.pty_hub, &s->hup);
    ev_io_start(s->loop, &s->rio);
    verbose_log(s, "%s: a client has %s open again", s->path, s->device);
}

/* The socket's client left (end of file, reset) or the device failed. */
static void client_gone(sim_serial *s, int err)
{
    if (s->sock) {
        char why[160];
        snprintf(why, sizeof why, "%s", err ? strerror(err) : "disconnected");
        verbose_log(s, "client %s %s; listening for the next", sim_sock_peer(s->sock), why);
        ev_io_stop(s->loop, &s->rio);
        sim_sock_drop(s->sock);
        s->fd = -1;
        return;
    }
    if (err == EIO && pty_park(s))
        return;
    char msg[300];
    snprintf(msg, sizeof msg, "read from %s failed: %s; line stopped", s->device,
             err ? strerror(err) : "end of file");
    sim_serial_log(s, msg);
    ev_io_stop(s->loop, &s->rio);
}

static void read_device(sim_serial *s)
{
    uint8_t buf[512];
    int fd = s->fd;
    while (fd >= 0 && fd == s->fd) { /* a write in rx may drop the client */
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) {
            /* recorded as they arrived, held while the owner handles them: a
             * fault it injects into them still marks their frame */
            if (s->cap)
                cap_line_hold(s->cap, CAP_DIR_TO_METER);
            capture(s, CAP_DIR_TO_METER, buf, (size_t)r);
            s->cfg.rx(s->cfg.ctx, buf, (size_t)r, sim_now_us());
            if (s->cap)
                capture_check(s, cap_line_commit(s->cap));
            if ((size_t)r < sizeof buf && (s->kind == SIM_SERIAL_TCP || s->kind == SIM_SERIAL_UNIX)) {
                /* On a socket a short read drained it: the read that would
                 * only say EAGAIN is skipped (one syscall per request; the
                 * watcher is level-triggered, later bytes wake it again).
                 * Not on a PTY: its line discipline hands over what the
                 * writer sent in pieces, and waiting for the next wake-up
                 * instead of reading on cost 1,000 PTY meters a 40-140 ms
                 * p99 (bench_scale). */
                break;
            }
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pty_unpark(s);
            break;
        }
        client_gone(s, r == 0 ? 0 : errno);
        break;
    }
    if (s->cfg.idle)
        s->cfg.idle(s->cfg.ctx);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    read_device(w->data);
}

static void on_pty_wake(void *data) { read_device(data); }

/* ---- socket clients ------------------------------------------------------- */

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    sim_serial *s = w->data;
    for (;;) {
        switch (sim_sock_accept(s->sock)) {
        case SIM_SOCK_ACCEPT_NONE:
            return;
        case SIM_SOCK_ACCEPT_CLIENT:
            s->fd = sim_sock_client_fd(s->sock);
            ev_io_set(&s->rio, s->fd, EV_READ);
            ev_io_start(loop, &s->rio);
            verbose_log(s, "client %s connected to %s", sim_sock_peer(s->sock), s->path);
            break;
        case SIM_SOCK_ACCEPT_REFUSED:
            verbose_log(s, "%s: another client connected and was closed (one at a time; %s has the line)",
                        s->path, sim_sock_peer(s->sock));
            break;
        case SIM_SOCK_ACCEPT_FAILED: {
            sim_serial_logf(s->log, s->who, "%s: accept failed: %s; listening again in %.0f s", s->path,
                            strerror(errno), SERIAL_ACCEPT_RETRY_S);
            ev_io_stop(loop, &s->lio);
            ev_timer_set(&s->retry, SERIAL_ACCEPT_RETRY_S, 0.0);
            ev_timer_start(loop, &s->retry);
            return;
        }
        }
    }
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    sim_serial *s = w->data;
    ev_io_start(loop, &s->lio);
}

/* ---- opening ------------------------------------------------------------- */

static void sim_serial_close_device(sim_serial *s);

static int sp_fail(sim_serial *s, char *err, size_t errlen, const char *what, const char *dev)
{
    char *e = sp_last_error_message();
    snprintf(err, errlen, "%s %s: %s: %s", s->cfg.uart_opt, dev, what, e ? e : "error");
    if (e)
        sp_free_error_message(e);
    if (s->sp) {
        sp_close(s->sp);
        sp_free_port(s->sp);
        s->sp = NULL;
    }
    return -1;
}

/* Devices libserialport does not enumerate (a PTY slave, a tty without a
 * sysfs entry) are opened with plain termios so a UART option still works. */
static int open_termios(sim_serial *s, const char *dev, const char *format, char *err, size_t errlen)
{
    int fd = open(dev, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s %s: %s", s->cfg.uart_opt, dev, strerror(errno));
        return -1;
    }
    struct termios t;
    if (tcgetattr(fd, &t) != 0) {
        snprintf(err, errlen, "%s %s: not a serial device: %s", s->cfg.uart_opt, dev, strerror(errno));
        close(fd);
        return -1;
    }
    cfmakeraw(&t);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
    static const tcflag_t sizes[] = {CS5, CS6, CS7, CS8};
    t.c_cflag |= sizes[format[0] - '5'] | CLOCAL | CREAD;
    if (format[1] == 'E' || format[1] == 'e')
        t.c_cflag |= PARENB;
    else if (format[1] == 'O' || format[1] == 'o')
        t.c_cflag |= PARENB | PARODD;
    if (format[2] == '2')
        t.c_cflag |= CSTOPB;
    speed_t c = speed_const(s->baud);
    if (c)
        cfsetspeed(&t, c);
    if (tcsetattr(fd, TCSANOW, &t) != 0) {
        snprintf(err, errlen, "%s %s: cannot configure: %s", s->cfg.uart_opt, dev, strerror(errno));
        close(fd);
        return -1;
    }
    s->fd = fd;
    s->is_termios = true;
    return 0;
}

static int open_uart(sim_serial *s, const char *dev, const char *format, char *err, size_t errlen)
{
    snprintf(s->path, sizeof s->path, "%s", dev);
    snprintf(s->device, sizeof s->device, "%s", dev);
    if (sp_get_port_by_name(dev, &s->sp) != SP_OK) {
        s->sp = NULL;
        return open_termios(s, dev, format, err, errlen);
    }
    if (sp_open(s->sp, SP_MODE_READ_WRITE) != SP_OK) {
        char *e = sp_last_error_message();
        snprintf(err, errlen, "%s %s: cannot open: %s", s->cfg.uart_opt, dev, e ? e : "error");
        if (e)
            sp_free_error_message(e);
        sp_free_port(s->sp);
        s->sp = NULL;
        return -1;
    }
    enum sp_parity par = SP_PARITY_NONE;
    switch (format[1]) {
    case 'E': case 'e': par = SP_PARITY_EVEN; break;
    case 'O': case 'o': par = SP_PARITY_ODD; break;
    case 'M': case 'm': par = SP_PARITY_MARK; break;
    case 'S': case 's': par = SP_PARITY_SPACE; break;
    default: break;
    }
    if (sp_set_baudrate(s->sp, (int)s->baud) != SP_OK || sp_set_bits(s->sp, format[0] - '0') != SP_OK ||
        sp_set_parity(s->sp, par) != SP_OK || sp_set_stopbits(s->sp, format[2] - '0') != SP_OK ||
        sp_set_flowcontrol(s->sp, SP_FLOWCONTROL_NONE) != SP_OK)
        return sp_fail(s, err, errlen, "cannot configure", dev);
    int fd = -1;
    if (sp_get_port_handle(s->sp, &fd) != SP_OK || fd < 0)
        return sp_fail(s, err, errlen, "no file descriptor", dev);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    s->fd = fd;
    return 0;
}

static int open_pty(sim_serial *s, char *err, size_t errlen)
{
    /* with a hang-up set no slave is kept: one fd per PTY (sim_pty.h) */
    int rc = sim_pty_create(s->cfg.pty_opt, s->cfg.pty_path, s->device, sizeof s->device, &s->fd,
                            s->cfg.pty_hub ? NULL : &s->slave_fd, err, errlen);
    if (rc != 0)
        return -1;
    s->kind = SIM_SERIAL_PTY;
    snprintf(s->path, sizeof s->path, "%s", s->cfg.pty_path);
    if (s->baud != 9600)
        device_baud(s); /* sim_pty_create leaves 9600 8N1 */
    return 0;
}

static int open_sock(sim_serial *s, char *err, size_t errlen)
{
    sim_sock_result rc = s->cfg.tcp ? sim_sock_open_tcp(s->cfg.tcp_opt, s->cfg.tcp, &s->sock, err, errlen)
                                    : sim_sock_open_unix(s->cfg.unix_opt, s->cfg.unix_path, &s->sock, err, errlen);
    if (rc != SIM_SOCK_OK)
        return -1;
    s->kind = s->cfg.tcp ? SIM_SERIAL_TCP : SIM_SERIAL_UNIX;
    snprintf(s->path, sizeof s->path, "%s", sim_sock_name(s->sock));
    snprintf(s->device, sizeof s->device, "%s:%s", s->cfg.tcp ? "tcp" : "unix", sim_sock_name(s->sock));
    s->fd = -1;
    return 0;
}

/* Exactly one device of the four. */
static int open_device(sim_serial *s, const char *format, char *err, size_t errlen)
{
    const sim_serial_cfg *c = &s->cfg;
    int given = (c->pty_path != NULL) + (c->uart != NULL) + (c->tcp != NULL) + (c->unix_path != NULL);
    if (given != 1) {
        snprintf(err, errlen, "%s: give exactly one of %s, %s, %s or %s", given ? "more than one device" : "no device",
                 c->pty_opt, c->uart_opt, c->tcp_opt, c->unix_opt);
        return -1;
    }
    if (c->pty_path)
        return open_pty(s, err, errlen);
    if (c->uart) {
        s->kind = SIM_SERIAL_UART;
        return open_uart(s, c->uart, format, err, errlen);
    }
    return open_sock(s, err, errlen);
}

sim_serial *sim_serial_open(struct ev_loop *loop, const sim_serial_cfg *cfg, char *err, size_t errlen)
{
    const char *format = cfg->format ? cfg->format : "8N1";
    unsigned bits = sim_line_format_bits(format);
    if (!bits) {
        snprintf(err, errlen, "--format %s: expected data bits 5-8, parity N/E/O/M/S, stop 1/2 (e.g. 8N1)",
                 format);
        return NULL;
    }
    sim_serial *s = sim_ev_new(sizeof *s, err, errlen);
    if (!s)
        return NULL;
    s->loop = loop;
    s->cfg = *cfg;
    s->cfg.pty_opt = cfg->pty_opt ? cfg->pty_opt : "--pty";
    s->cfg.uart_opt = cfg->uart_opt ? cfg->uart_opt : "--uart";
    s->cfg.tcp_opt = cfg->tcp_opt ? cfg->tcp_opt : "--tcp";
    s->cfg.unix_opt = cfg->unix_opt ? cfg->unix_opt : "--unix";
    snprintf(s->who, sizeof s->who, "%s", cfg->who ? cfg->who : "");
    s->cfg.who = s->who;
    s->log = cfg->log ? cfg->log : stderr;
    s->fd = s->slave_fd = -1;
    s->baud = s->pace_baud = cfg->baud ? cfg->baud : 9600;
    s->switch_n = SERIAL_NO_SWITCH;
    s->bits = bits;
    int rc = open_device(s, format, err, errlen);
    if (rc == 0 && capture_open(s, err, errlen) != 0) {
        sim_serial_close_device(s);
        rc = -1;
    }
    if (rc != 0) {
        free(s);
        return NULL;
    }
    /* a socket reads from its client, none yet: the watcher starts on accept */
    sim_ev_io(s->sock ? NULL : loop, &s->rio, on_readable, s->fd, EV_READ, s);
    if (s->sock) {
        sim_ev_io(loop, &s->lio, on_accept, sim_sock_listen_fd(s->sock), EV_READ, s);
        ev_init(&s->retry, on_retry);
        s->retry.data = s;
    }
    s->hup = (sim_pty_waiter){.fd = s->fd, .wake = on_pty_wake, .data = s};
    ev_init(&s->timer, on_timer);
    s->timer.data = s;
    return s;
}

/* Close the device; remove the PTY symlink if it still points at our PTY. */
static void sim_serial_close_device(sim_serial *s)
{
    if (s->sock) {
        sim_sock_close(s->sock); /* the client, the listener, our socket file */
        s->sock = NULL;
        s->fd = -1;
    } else if (s->kind == SIM_SERIAL_PTY) {
        char target[256];
        ssize_t n = readlink(s->path, target, sizeof target - 1);
        if (n >= 0) {
            target[n] = 0;
            if (strcmp(target, s->device) == 0)
                unlink(s->path);
        }
        if (s->slave_fd >= 0)
            close(s->slave_fd);
        if (s->fd >= 0)
            close(s->fd);
    } else if (s->sp) {
        sp_close(s->sp);
        sp_free_port(s->sp);
    } else if (s->fd >= 0) {
        close(s->fd);
    }
}

void sim_serial_close(sim_serial *s)
{
    if (!s)
        return;
    ev_io_stop(s->loop, &s->rio);
    ev_timer_stop(s->loop, &s->timer);
    if (s->sock) {
        ev_io_stop(s->loop, &s->lio);
        ev_timer_stop(s->loop, &s->retry);
    }
    if (s->cfg.pty_hub)
        sim_pty_hub_leave(s->cfg.pty_hub, &s->hup);
    cap_line_close(s->cap, wall_us());
    sim_serial_close_device(s);
    free(s->q);
    free(s);
}

sim_serial_kind sim_serial_get_kind(const sim_serial *s) { return s->kind; }
bool sim_serial_is_pty(const sim_serial *s) { return s->kind == SIM_SERIAL_PTY; }
bool sim_serial_has_client(const sim_serial *s)
{
    if (s->sock)
        return s->fd >= 0;
    return !s->hup.parked;
}
void *sim_serial_sp_handle(sim_serial *s) { return s->sp; }
int sim_serial_fd(const sim_serial *s) { return s->fd; }
struct ev_loop *sim_serial_loop(sim_serial *s) { return s->loop; }
const char *sim_serial_device(const sim_serial *s) { return s->device; }
const char *sim_serial_path(const sim_serial *s) { return s->path; }
