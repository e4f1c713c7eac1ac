/* sim_port: the I/O edge of one emulated meter's MEP line: a PTY
 * (posix_openpt, raw, symlinked) or a real UART (libserialport) whose fd
 * drives one sim_line (mep/sim_line.h) on a shared libev loop, with the
 * meter's fault set (faults/sim_fault_set.h) wired into the line and meter
 * hooks. Many ports run on one loop; no global state. */
#define _GNU_SOURCE 1 /* ptsname_r, cfmakeraw */
#include "sim_port.h"
#include "sim_pty.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <libserialport.h>

/* The tx buffer of the line must hold the largest frame a protocol fault
 * emits plus the alert prefix it may glue on (S26). */
_Static_assert(SIM_PFAULT_OUT_MAX + 64 <= SIM_LINE_TX_MAX, "sim_line tx buffer too small for protocol faults");

struct sim_port {
    struct ev_loop *loop;
    sim_meter *meter;
    sim_line line;
    char name[64];
    char path[512];      /* symlink or UART path */
    char device[256];    /* /dev/pts/N or UART path */
    bool is_pty;
    bool is_termios;     /* --uart device opened with plain termios */
    int fd;              /* PTY master or UART fd */
    int slave_fd;        /* kept open so the master never sees EIO */
    struct sp_port *sp;
    ev_io rio;
    ev_timer timer;
    struct sim_portmodem *modem; /* HIL modem lines on a --uart port (owned), or NULL */
    void (*modem_release)(struct sim_portmodem *); /* frees modem at close */
    FILE *log;
    sim_fault_set faults; /* line faults, transceiver models, protocol faults, glitches (sim_fault_set.h) */
    sim_port_tap tap;     /* shared-UART optical switch (sim_optical_port), or empty */
};

static void port_default_hooks(sim_port *p);

static void port_log(void *ctx, int level, const char *msg)
{
    sim_port *p = ctx;
    (void)level;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(p->log, "%02d:%02d:%02d.%03ld %s %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000L, p->name, msg);
    fflush(p->log);
}

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

static void apply_baud(sim_port *p)
{
    sim_line *l = &p->line;
    l->baud_dirty = false;
    if (p->is_pty || p->is_termios) {
        /* cosmetic on a PTY (pacing is what matters), but lets a client see it */
        struct termios t;
        int fd = p->is_pty ? p->slave_fd : p->fd;
        speed_t s = speed_const(l->baud);
        if (s && tcgetattr(fd, &t) == 0) {
            cfsetspeed(&t, s);
            tcsetattr(fd, TCSANOW, &t);
        }
    } else if (p->sp) {
        enum sp_return r = sp_set_baudrate(p->sp, (int)l->baud);
        if (r != SP_OK) {
            char msg[300];
            char *e = sp_last_error_message();
            snprintf(msg, sizeof msg, "cannot set %u baud on %s: %s", (unsigned)l->baud, p->device,
                     e ? e : "error");
            if (e)
                sp_free_error_message(e);
            port_log(p, 0, msg);
        }
    }
}

static void port_write(sim_port *p, const uint8_t *b, size_t n)
{
    while (n > 0) {
        ssize_t w = write(p->fd, b, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            /* Nobody reading (PTY buffer full) or device gone: the bytes are
             * lost, like on a wire with nobody listening. */
            p->line.c.tx_lost += n;
            p->line.c.bytes_tx -= n;
            return;
        }
        b += w;
        n -= (size_t)w;
    }
}

static void port_run(sim_port *p)
{
    uint8_t out[256];
    uint64_t now = sim_now_us();
    size_t n;
    while ((n = sim_line_poll(&p->line, now, out, sizeof out)) > 0) {
        if (p->tap.tx_blocked && p->tap.tx_blocked(p->tap.ctx, now))
            p->line.c.tx_lost += n; /* optical session holds the shared UART (docs/optical.md 6) */
        else
            port_write(p, out, n);
    }
    if (p->line.baud_dirty)
        apply_baud(p);
    ev_timer_stop(p->loop, &p->timer);
    uint64_t w = sim_line_next_wake(&p->line, now);
    if (w == UINT64_MAX)
        return;
    double delay = w > now ? (double)(w - now) / 1e6 : 0.0;
    if (delay > 3600.0)
        delay = 3600.0;
    ev_now_update(p->loop);
    ev_timer_set(&p->timer, delay, 0.0);
    ev_timer_start(p->loop, &p->timer);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    port_run(w->data);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    sim_port *p = w->data;
    uint8_t buf[512];
    for (;;) {
        ssize_t r = read(p->fd, buf, sizeof buf);
        if (r > 0) {
            uint64_t now = sim_now_us();
            if (p->tap.rx) { /* shared UART: the optical side takes its bytes first */
                uint8_t mep[sizeof buf];
                size_t m = p->tap.rx(p->tap.ctx, buf, (size_t)r, now, mep);
                if (m)
                    sim_line_rx(&p->line, mep, m, now);
            } else {
                sim_line_rx(&p->line, buf, (size_t)r, now);
            }
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        char msg[300];
        snprintf(msg, sizeof msg, "read from %s failed: %s; line stopped", p->device,
                 r == 0 ? "end of file" : strerror(errno));
        port_log(p, 0, msg);
        ev_io_stop(loop, w);
        break;
    }
    port_run(p);
}

static int open_pty(sim_port *p, const char *path, char *err, size_t errlen)
{
    if (sim_pty_create("--pty", path, p->device, sizeof p->device, &p->fd, &p->slave_fd, err, errlen) != 0)
        return -1;
    p->is_pty = true;
    snprintf(p->path, sizeof p->path, "%s", path);
    return 0;
}

static int sp_fail(char *err, size_t errlen, const char *what, const char *dev)
{
    char *e = sp_last_error_message();
    snprintf(err, errlen, "--uart %s: %s: %s", dev, what, e ? e : "error");
    if (e)
        sp_free_error_message(e);
    return -1;
}

/* Devices libserialport does not enumerate (a PTY slave, a tty without a
 * sysfs entry) are opened with plain termios so --uart still works on them. */
static int open_termios(sim_port *p, const char *dev, uint32_t baud, const char *format, char *err,
                        size_t errlen)
{
    int fd = open(dev, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "--uart %s: %s", dev, strerror(errno));
        return -1;
    }
    struct termios t;
    if (tcgetattr(fd, &t) != 0) {
        snprintf(err, errlen, "--uart %s: not a serial device: %s", dev, strerror(errno));
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
    speed_t sp = speed_const(baud);
    if (sp)
        cfsetspeed(&t, sp);
    if (tcsetattr(fd, TCSANOW, &t) != 0) {
        snprintf(err, errlen, "--uart %s: cannot configure: %s", dev, strerror(errno));
        close(fd);
        return -1;
    }
    p->fd = fd;
    p->is_termios = true;
    snprintf(p->path, sizeof p->path, "%s", dev);
    snprintf(p->device, sizeof p->device, "%s", dev);
    return 0;
}

static int open_uart(sim_port *p, const char *dev, uint32_t baud, const char *format, char *err,
                     size_t errlen)
{
    if (sp_get_port_by_name(dev, &p->sp) != SP_OK) {
        p->sp = NULL;
        return open_termios(p, dev, baud, format, err, errlen);
    }
    if (sp_open(p->sp, SP_MODE_READ_WRITE) != SP_OK) {
        sp_fail(err, errlen, "cannot open", dev);
        sp_free_port(p->sp);
        p->sp = NULL;
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
    if (sp_set_baudrate(p->sp, (int)baud) != SP_OK || sp_set_bits(p->sp, format[0] - '0') != SP_OK ||
        sp_set_parity(p->sp, par) != SP_OK || sp_set_stopbits(p->sp, format[2] - '0') != SP_OK ||
        sp_set_flowcontrol(p->sp, SP_FLOWCONTROL_NONE) != SP_OK) {
        sp_fail(err, errlen, "cannot configure", dev);
        sp_close(p->sp);
        sp_free_port(p->sp);
        p->sp = NULL;
        return -1;
    }
    int fd = -1;
    if (sp_get_port_handle(p->sp, &fd) != SP_OK || fd < 0) {
        sp_fail(err, errlen, "no file descriptor", dev);
        sp_close(p->sp);
        sp_free_port(p->sp);
        p->sp = NULL;
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    p->fd = fd;
    snprintf(p->path, sizeof p->path, "%s", dev);
    snprintf(p->device, sizeof p->device, "%s", dev);
    return 0;
}

sim_port *sim_port_open(struct ev_loop *loop, sim_meter *m, const sim_port_cfg *cfg, char *err,
                        size_t errlen)
{
    const char *format = cfg->format ? cfg->format : "8N1";
    unsigned bits = sim_line_format_bits(format);
    if (!bits) {
        snprintf(err, errlen, "--format %s: expected data bits 5-8, parity N/E/O/M/S, stop 1/2 (e.g. 8N1)",
                 format);
        return NULL;
    }
    if ((cfg->pty_path != NULL) == (cfg->uart != NULL)) {
        snprintf(err, errlen, "meter %s: give exactly one of --pty or --uart", cfg->name);
        return NULL;
    }
    sim_port *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->loop = loop;
    p->meter = m;
    p->fd = -1;
    p->slave_fd = -1;
    p->log = cfg->log ? cfg->log : stderr;
    snprintf(p->name, sizeof p->name, "%s", cfg->name ? cfg->name : sim_meter_name(m));
    uint32_t baud = cfg->baud ? cfg->baud : sim_meter_baud(m);
    int rc = cfg->pty_path ? open_pty(p, cfg->pty_path, err, errlen)
                           : open_uart(p, cfg->uart, baud ? baud : 9600, format, err, errlen);
    if (rc != 0) {
        free(p);
        return NULL;
    }
    sim_line_init(&p->line, m, baud, bits);
    sim_line_set_log(&p->line, port_log, p, cfg->verbose);
    sim_fault_set_init(&p->faults, cfg->fault_seed ? cfg->fault_seed : 1);
    sim_meter_fault_hooks fh;
    sim_fault_set_meter_hooks(&p->faults, &fh);
    sim_meter_set_fault_hooks(m, &fh);
    port_default_hooks(p);
    if (p->is_pty && p->line.baud != 9600)
        apply_baud(p);
    ev_io_init(&p->rio, on_readable, p->fd, EV_READ);
    p->rio.data = p;
    ev_io_start(loop, &p->rio);
    ev_init(&p->timer, on_timer);
    p->timer.data = p;
    port_run(p);
    return p;
}

void sim_port_close(sim_port *p)
{
    if (!p)
        return;
    ev_io_stop(p->loop, &p->rio);
    ev_timer_stop(p->loop, &p->timer);
    if (p->meter)
        sim_meter_set_fault_hooks(p->meter, NULL); /* the fault set dies with the port */
    if (p->modem && p->modem_release)
        p->modem_release(p->modem); /* before the device it polls is closed */
    p->modem = NULL;
    if (p->is_pty) {
        char target[256];
        ssize_t n = readlink(p->path, target, sizeof target - 1);
        if (n >= 0) {
            target[n] = 0;
            if (strcmp(target, p->device) == 0)
                unlink(p->path);
        }
        if (p->slave_fd >= 0)
            close(p->slave_fd);
        if (p->fd >= 0)
            close(p->fd);
    } else if (p->sp) {
        sp_close(p->sp);
        sp_free_port(p->sp);
    } else if (p->fd >= 0) {
        close(p->fd);
    }
    free(p);
}

/* Segment pause of a response: kWh glitches that tear a reply (S18) edit
 * the rest of the frame. ctx = the port. */
static bool port_segment(void *ctx, uint8_t *frame, size_t len, size_t sent, uint64_t now_us)
{
    sim_port *p = ctx;
    sim_layout lay;
    sim_meter_layout(p->meter, &lay);
    return sim_glitch_between_segments(&p->faults.glitch, &lay, frame, len, sent,
                                       sim_meter_sim_now(p->meter, now_us / 1000u));
}

/* The port's fault set sits between protocol and line in both directions
 * (docs/module-behaviour.md 9); with nothing started it passes everything through.
 * Held and due bytes go out without the tx filter (sim_line_source). The
 * segment hook needs the meter, so it gets its own small adapter. */
static size_t port_fs_rx(void *ctx, uint8_t *buf, size_t n, size_t cap, uint64_t now_us)
{
    return sim_fault_set_rx_filter(&((sim_port *)ctx)->faults, buf, n, cap, now_us);
}
static size_t port_fs_tx(void *ctx, uint8_t *buf, size_t n, size_t cap, uint64_t now_us)
{
    return sim_fault_set_tx_filter(&((sim_port *)ctx)->faults, buf, n, cap, now_us);
}
static bool port_fs_pause(void *ctx, size_t *at, uint32_t *pause_us)
{
    return sim_fault_set_pause_hook(&((sim_port *)ctx)->faults, at, pause_us);
}
static size_t port_fs_due(void *ctx, unsigned dir, uint64_t now_us, uint8_t *out, size_t cap)
{
    return sim_fault_set_due_hook(&((sim_port *)ctx)->faults, dir, now_us, out, cap);
}
static uint64_t port_fs_wake(void *ctx, uint64_t now_us)
{
    return sim_fault_set_wake_hook(&((sim_port *)ctx)->faults, now_us);
}
static void port_fs_event(void *ctx, const char *line, bool on, uint64_t now_us)
{
    sim_fault_set_event_hook(&((sim_port *)ctx)->faults, line, on, now_us);
}

static void port_default_hooks(sim_port *p)
{
    sim_line_hooks h = {
        .rx = port_fs_rx,
        .tx = port_fs_tx,
        .tx_pause = port_fs_pause,
        .segment = port_segment,
        .due = port_fs_due,
        .next_wake = port_fs_wake,
        .line_event = port_fs_event,
        .ctx = p,
    };
    sim_line_set_hooks(&p->line, &h);
}

void sim_port_set_hooks(sim_port *p, const sim_line_hooks *h)
{
    if (h)
        sim_line_set_hooks(&p->line, h);
    else
        port_default_hooks(p);
    sim_port_kick(p);
}

sim_fault *sim_port_fault(sim_port *p) { return &p->faults.line; }
sim_fault_set *sim_port_faults(sim_port *p) { return &p->faults; }

void sim_port_set_tap(sim_port *p, const sim_port_tap *t)
{
    if (t)
        p->tap = *t;
    else
        memset(&p->tap, 0, sizeof p->tap);
}

void sim_port_write_raw(sim_port *p, const uint8_t *b, size_t n)
{
    p->line.c.bytes_tx += n; /* port_write takes lost bytes back out of bytes_tx */
    port_write(p, b, n);
}

void sim_port_kick(sim_port *p)
{
    p->line.meter_deadline_ms = 0;
    port_run(p);
}

void sim_port_line_event(sim_port *p, const char *line, bool on)
{
    sim_port_line_event_at(p, line, on, sim_now_us());
}

void sim_port_line_event_at(sim_port *p, const char *line, bool on, uint64_t now)
{
    sim_meter_line_event(p->meter, line, on, now / 1000u);
    if (p->line.hooks.line_event)
        p->line.hooks.line_event(p->line.hooks.ctx, line, on, now);
    if (p->line.verbose >= 1) {
        char msg[128];
        snprintf(msg, sizeof msg, "line event: %s %s", line, on ? "on" : "off");
        port_log(p, 1, msg);
    }
    sim_port_kick(p);
}

void sim_port_log(sim_port *p, int level, const char *msg)
{
    if (p->line.verbose >= level)
        port_log(p, level, msg);
}

sim_meter *sim_port_meter(sim_port *p) { return p->meter; }
sim_line *sim_port_line(sim_port *p) { return &p->line; }
const char *sim_port_name(const sim_port *p) { return p->name; }
const char *sim_port_device(const sim_port *p) { return p->device; }
const char *sim_port_path(const sim_port *p) { return p->path; }

/* HIL modem lines (sim_portmodem.h) */
bool sim_port_is_uart(const sim_port *p) { return !p->is_pty; }
void *sim_port_sp_handle(sim_port *p) { return p->sp; }
int sim_port_fd(const sim_port *p) { return p->fd; }
struct ev_loop *sim_port_loop(sim_port *p) { return p->loop; }
void sim_port_set_modem(sim_port *p, struct sim_portmodem *pm, void (*release)(struct sim_portmodem *))
{
    p->modem = pm;
    p->modem_release = release;
}
struct sim_portmodem *sim_port_get_modem(sim_port *p) { return p->modem; }
