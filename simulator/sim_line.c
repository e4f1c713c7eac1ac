/* sim_line: line timing of one emulated meter (pure core) and its I/O edge
 * (sim_port: PTY or UART on a libev loop). See sim_line.h for the split.
 *
 * Timing rules implemented here, all from mep.md 4:
 *  - a gap > 50 ms inside a request aborts it (checked on every byte and on
 *    a timer, so a half frame is discarded even when nothing else comes);
 *  - at most one request per 100 ms: a request that completes sooner is
 *    delayed (not dropped), policy [E];
 *  - responses leave at the baud rate, 117-byte segments counted from the
 *    first length byte, 25 ms pause after each full segment;
 *  - `00 00` alerts once per second while sim_meter_alert_pending(), never
 *    within 1 s of a received byte, never inside a response;
 *  - a baud change written to ET13 applies after the response is out (mep.md 2).
 */
#define _GNU_SOURCE 1 /* ptsname_r, cfmakeraw */
#include "sim_line.h"
#include "sim_pty.h"
#include "sim_portmodem.h"

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

/* ===================================================================== */
/* Pure core                                                             */
/* ===================================================================== */

uint64_t sim_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

unsigned sim_line_format_bits(const char *f)
{
    if (!f || strlen(f) != 3)
        return 0;
    if (f[0] < '5' || f[0] > '8')
        return 0;
    unsigned data = (unsigned)(f[0] - '0');
    unsigned parity;
    switch (f[1]) {
    case 'N': case 'n': parity = 0; break;
    case 'E': case 'e': case 'O': case 'o': case 'M': case 'm': case 'S': case 's': parity = 1; break;
    default: return 0;
    }
    if (f[2] != '1' && f[2] != '2')
        return 0;
    return 1u + data + parity + (unsigned)(f[2] - '0');
}

static void line_log(sim_line *l, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void line_log(sim_line *l, int level, const char *fmt, ...)
{
    if (!l->log || l->verbose < level)
        return;
    char msg[1700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    l->log(l->log_ctx, level, msg);
}

static void line_hex(sim_line *l, const char *dir, const uint8_t *b, size_t n)
{
    if (!l->log || l->verbose < 2)
        return;
    char msg[1700];
    size_t o = (size_t)snprintf(msg, sizeof msg, "%s %zu bytes:", dir, n);
    for (size_t i = 0; i < n && o + 4 < sizeof msg; i++)
        o += (size_t)snprintf(msg + o, sizeof msg - o, " %02X", b[i]);
    l->log(l->log_ctx, 2, msg);
}

static void remember(sim_line *l, const char *text)
{
    size_t slot = (l->recent_head + l->recent_n) % SIM_LINE_RECENT;
    if (l->recent_n == SIM_LINE_RECENT) {
        slot = l->recent_head;
        l->recent_head = (l->recent_head + 1) % SIM_LINE_RECENT;
    } else {
        l->recent_n++;
    }
    size_t n = strnlen(text, SIM_LINE_RECENT_LEN - 1);
    memcpy(l->recent[slot], text, n);
    l->recent[slot][n] = 0;
}

const char *sim_line_recent(const sim_line *l, size_t i)
{
    if (i >= l->recent_n)
        return NULL;
    size_t slot = (l->recent_head + l->recent_n - 1 - i) % SIM_LINE_RECENT;
    return l->recent[slot];
}

void sim_line_init(sim_line *l, sim_meter *m, uint32_t baud, unsigned bits_per_char)
{
    memset(l, 0, sizeof *l);
    l->meter = m;
    l->meter_baud = sim_meter_baud(m);
    l->baud = baud ? baud : l->meter_baud;
    if (!l->baud)
        l->baud = 9600;
    l->bits_per_char = bits_per_char ? bits_per_char : 10;
    mep_asm_init(&l->rx, MEP_MAX_BODY, MEP_GAP_ABORT_MS);
}

void sim_line_set_log(sim_line *l, sim_line_log_fn fn, void *ctx, int verbose)
{
    l->log = fn;
    l->log_ctx = ctx;
    l->verbose = verbose;
}

void sim_line_set_hooks(sim_line *l, const sim_line_hooks *h)
{
    if (h)
        l->hooks = *h;
    else
        memset(&l->hooks, 0, sizeof l->hooks);
}

/* End of byte k's last bit, relative to the start of the transmission. */
static uint64_t byte_done_us(const sim_line *l, size_t k)
{
    uint64_t bits = (uint64_t)(k + 1) * l->bits_per_char;
    uint64_t extra = (l->tx_pause_us && k > l->tx_pause_at) ? l->tx_pause_us : 0;
    return bits * 1000000u / l->baud + (uint64_t)(k / MEP_SEGMENT_BYTES) * MEP_SEGMENT_PAUSE_MS * 1000u +
           extra;
}

uint64_t sim_line_tx_duration_us(const sim_line *l, size_t n)
{
    return n ? byte_done_us(l, n - 1) : 0;
}

static bool output_on(const sim_line *l)
{
    return sim_meter_line_state(l->meter, "transceiver") && sim_meter_line_state(l->meter, "enable");
}

static void start_tx(sim_line *l, const uint8_t *b, size_t n, bool alert, bool filter, uint64_t now_us)
{
    uint8_t buf[sizeof l->tx];
    if (n > sizeof buf)
        n = sizeof buf;
    memcpy(buf, b, n);
    if (filter && l->hooks.tx)
        n = l->hooks.tx(l->hooks.ctx, buf, n, sizeof buf, now_us);
    if (n == 0) {
        line_log(l, 1, "fault layer dropped the %s", alert ? "alert" : "response");
        if (!alert)
            sim_meter_on_sent(l->meter, now_us / 1000u);
        return;
    }
    l->tx_pause_us = 0;
    if (filter && l->hooks.tx_pause) {
        size_t at = 0;
        uint32_t us = 0;
        if (l->hooks.tx_pause(l->hooks.ctx, &at, &us) && us > 0 && at < n) {
            l->tx_pause_at = at;
            l->tx_pause_us = us;
        }
    }
    memcpy(l->tx, buf, n);
    l->tx_len = n;
    l->tx_pos = 0;
    l->tx_start_us = now_us;
    l->tx_active = true;
    l->tx_is_alert = alert;
    if (!alert && !sim_meter_line_state(l->meter, "enable")) {
        l->c.muted++;
        line_log(l, 1, "ENABLE off: response of %zu bytes not driven onto the line (module-behaviour 2)", n);
    }
}

static void process_frame(sim_line *l, const sim_line_frame *f, uint64_t now_us)
{
    uint64_t now_ms = now_us / 1000u;
    uint8_t out[sizeof l->tx]; /* protocol faults may exceed MEP_MAX_FRAME (S27) */
    char desc[256] = "";
    l->accepted_any = true;
    l->last_accept_us = now_us;
    line_hex(l, "rx", f->b, f->len);
    size_t n = sim_meter_on_frame(l->meter, f->b, f->len, now_ms, out, sizeof out, desc, sizeof desc);
    l->meter_deadline_ms = 0; /* the frame may have moved the meter's timers */
    if (!desc[0])
        snprintf(desc, sizeof desc, "frame of %u bytes", (unsigned)f->len);
    if (n == 0) {
        l->c.silent++;
        char text[sizeof desc + 16]; /* room for the whole desc (remember() truncates) */
        snprintf(text, sizeof text, "%s (no answer)", desc);
        remember(l, text);
        line_log(l, 1, "%s", text);
        return;
    }
    remember(l, desc);
    line_log(l, 1, "%s", desc);
    line_hex(l, "tx", out, n);
    l->c.responses++;
    start_tx(l, out, n, false, true, now_us);
}

static uint64_t frame_due_us(const sim_line *l, const sim_line_frame *f)
{
    uint64_t due = f->done_us;
    if (l->accepted_any && l->last_accept_us + MEP_THROTTLE_MS * 1000u > due)
        due = l->last_accept_us + MEP_THROTTLE_MS * 1000u;
    return due;
}

static void enqueue(sim_line *l, const uint8_t *b, uint16_t len, uint64_t now_us)
{
    if (l->q_n == SIM_LINE_QUEUE) {
        l->c.queue_overflow++;
        line_log(l, 1, "request of %u bytes dropped: %d requests already waiting", (unsigned)len,
                 SIM_LINE_QUEUE);
        return;
    }
    sim_line_frame *f = &l->queue[(l->q_head + l->q_n) % SIM_LINE_QUEUE];
    memcpy(f->b, b, len);
    f->len = len;
    f->done_us = now_us;
    bool behind = l->q_n > 0;
    l->q_n++;
    uint64_t due = frame_due_us(l, f);
    if (behind || due > now_us) {
        l->c.throttled++;
        line_log(l, 1, "request throttled: %.1f ms after the previous one, held %.1f ms (mep.md 4)",
                 (double)(now_us - l->last_accept_us) / 1000.0, (double)(due - now_us) / 1000.0);
    }
}

static void rx_bytes(sim_line *l, const uint8_t *buf, size_t got, uint64_t now_us);

void sim_line_rx(sim_line *l, const uint8_t *in, size_t n, uint64_t now_us)
{
    uint8_t buf[2048];
    while (n > 0) {
        size_t chunk = n > 1024 ? 1024 : n;
        memcpy(buf, in, chunk);
        in += chunk;
        n -= chunk;
        size_t got = chunk;
        if (l->hooks.rx)
            got = l->hooks.rx(l->hooks.ctx, buf, chunk, sizeof buf, now_us);
        rx_bytes(l, buf, got, now_us);
    }
}

static void rx_bytes(sim_line *l, const uint8_t *buf, size_t got, uint64_t now_us)
{
    if (!sim_meter_line_state(l->meter, "transceiver")) {
        l->c.deaf_bytes += got;
        return;
    }
    uint64_t now_ms = now_us / 1000u;
    l->c.bytes_rx += got;
    if (got) {
        l->heard_any = true;
        l->last_rx_us = now_us;
    }
    for (size_t i = 0; i < got; i++) {
        switch (mep_asm_push(&l->rx, buf[i], now_ms)) {
        case MEP_ASM_NONE:
            break;
        case MEP_ASM_GAP_ABORT:
            l->c.gap_aborts++;
            line_log(l, 1, "partial request discarded: gap > %u ms inside the frame (mep.md 4)",
                     MEP_GAP_ABORT_MS);
            break;
        case MEP_ASM_ZERO:
            l->c.zero_rx++;
            line_log(l, 1, "client sent 00 00 (alert sequence is server->client only): ignored");
            mep_asm_reset(&l->rx);
            break;
        case MEP_ASM_OVERSIZE:
            l->c.oversize++;
            line_log(l, 1, "length field above %u: discarding bytes until a %u ms gap (mep.md 3.1)",
                     MEP_MAX_BODY, MEP_GAP_ABORT_MS);
            break;
        case MEP_ASM_FRAME:
            l->c.frames_rx++;
            enqueue(l, mep_asm_frame(&l->rx), mep_asm_frame_len(&l->rx), now_us);
            mep_asm_reset(&l->rx);
            break;
        }
    }
}

static bool alert_due(const sim_line *l, uint64_t now_us, uint64_t *when)
{
    if (l->tx_active || l->q_n > 0 || mep_asm_busy(&l->rx) || !sim_meter_alert_pending(l->meter))
        return false;
    uint64_t t = now_us;
    if (l->alerted_any && l->last_alert_us + SIM_ALERT_PERIOD_MS * 1000u > t)
        t = l->last_alert_us + SIM_ALERT_PERIOD_MS * 1000u;
    if (l->heard_any && l->last_rx_us + SIM_ALERT_HOLDOFF_MS * 1000u > t)
        t = l->last_rx_us + SIM_ALERT_HOLDOFF_MS * 1000u;
    *when = t;
    return true;
}

static void finish_tx(sim_line *l, uint64_t now_us)
{
    l->tx_active = false;
    if (l->tx_is_alert)
        return;
    sim_meter_on_sent(l->meter, now_us / 1000u);
    l->meter_deadline_ms = 0;
    uint32_t mb = sim_meter_baud(l->meter);
    if (mb && mb != l->meter_baud) {
        line_log(l, 1, "baud %u -> %u after the response (ET13, mep.md 2)", (unsigned)l->baud,
                 (unsigned)mb);
        l->meter_baud = mb;
        l->baud = mb;
        l->baud_dirty = true;
        l->c.baud_changes++;
    }
}

size_t sim_line_poll(sim_line *l, uint64_t now_us, uint8_t *out, size_t cap)
{
    uint64_t now_ms = now_us / 1000u;
    size_t n = 0;

    if (now_ms >= l->meter_deadline_ms) {
        uint64_t d = sim_meter_tick(l->meter, now_ms);
        l->meter_deadline_ms = d > now_ms ? d : now_ms + 1;
    }

    if (mep_asm_busy(&l->rx) && mep_asm_expired(&l->rx, now_ms)) {
        if (!l->rx.discarding && l->rx.have > 0) {
            l->c.gap_aborts++;
            line_log(l, 1, "partial request of %u bytes discarded: no byte for %u ms (mep.md 4)",
                     (unsigned)l->rx.have, MEP_GAP_ABORT_MS);
        } else {
            line_log(l, 1, "end of oversize frame: %u bytes discarded", (unsigned)l->rx.dropped);
            l->rx.dropped = 0;
        }
        mep_asm_reset(&l->rx);
    }

    if (l->hooks.due) {
        uint8_t chunk[sizeof l->tx];
        size_t k;
        for (int guard = 0; guard < 64 &&
             (k = l->hooks.due(l->hooks.ctx, SIM_LINE_TO_METER, now_us, chunk, sizeof chunk)) > 0;
             guard++)
            rx_bytes(l, chunk, k, now_us);
    }

    for (int round = 0; round < 4; round++) {
        if (l->tx_active) {
            bool on = output_on(l);
            while (l->tx_pos < l->tx_len && n < cap &&
                   l->tx_start_us + byte_done_us(l, l->tx_pos) <= now_us + SIM_LINE_EARLY_US) {
                uint8_t b = l->tx[l->tx_pos++];
                if (on) {
                    out[n++] = b;
                    l->c.bytes_tx++;
                } else {
                    l->c.tx_lost++;
                }
                /* mep.md 4: a 25 ms pause after each 117-byte segment; the
                 * fault layer may change the rest meanwhile (torn snapshot). */
                if (l->hooks.segment && !l->tx_is_alert && l->tx_pos < l->tx_len &&
                    l->tx_pos % MEP_SEGMENT_BYTES == 0 &&
                    l->hooks.segment(l->hooks.ctx, l->tx, l->tx_len, l->tx_pos, now_us))
                    line_log(l, 1, "fault layer rewrote the reply after byte %zu (segment pause)", l->tx_pos);
            }
            if (n > 0)
                l->last_emit_us = now_us;
            if (l->tx_pos == l->tx_len &&
                l->tx_start_us + sim_line_tx_duration_us(l, l->tx_len) <= now_us)
                finish_tx(l, now_us);
        }
        if (l->tx_active)
            break;
        if (l->hooks.due) {
            uint8_t chunk[sizeof l->tx];
            size_t k = l->hooks.due(l->hooks.ctx, SIM_LINE_TO_MODULE, now_us, chunk, sizeof chunk);
            if (k > 0) {
                line_log(l, 1, "fault layer sends %zu bytes", k);
                start_tx(l, chunk, k, true /* not a response: no on_sent */, false, now_us);
                continue;
            }
        }
        if (l->q_n > 0) {
            sim_line_frame *f = &l->queue[l->q_head];
            if (frame_due_us(l, f) <= now_us) {
                sim_line_frame copy = *f;
                l->q_head = (l->q_head + 1) % SIM_LINE_QUEUE;
                l->q_n--;
                process_frame(l, &copy, now_us);
                continue;
            }
            break;
        }
        uint64_t when;
        if (alert_due(l, now_us, &when) && when <= now_us) {
            static const uint8_t alert[2] = {0x00, 0x00};
            l->alerted_any = true;
            l->last_alert_us = now_us;
            l->c.alerts++;
            sim_meter_alert_sent(l->meter, now_ms);
            line_log(l, 1, "alert sequence 00 00 sent (ET13 flags 0x%02X, mep.md 10.3)",
                     sim_meter_alert_flags(l->meter));
            start_tx(l, alert, 2, true, true, now_us);
            continue;
        }
        break;
    }
    return n;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

uint64_t sim_line_next_wake(const sim_line *l, uint64_t now_us)
{
    uint64_t w = UINT64_MAX;
    if (l->meter_deadline_ms < UINT64_MAX / 1000u)
        w = l->meter_deadline_ms * 1000u;
    if (mep_asm_busy(&l->rx))
        w = min_u64(w, (l->rx.last_ms + MEP_GAP_ABORT_MS + 1u) * 1000u);
    if (l->hooks.next_wake) {
        uint64_t t = l->hooks.next_wake(l->hooks.ctx, now_us);
        if (t <= now_us)
            t = now_us + SIM_LINE_MIN_WAKE_US;
        w = min_u64(w, t);
    }
    if (l->tx_active) {
        uint64_t t = l->tx_pos < l->tx_len ? l->tx_start_us + byte_done_us(l, l->tx_pos) - SIM_LINE_EARLY_US
                                           : l->tx_start_us + sim_line_tx_duration_us(l, l->tx_len);
        /* Batch writes at high rates: once bytes of this transmission went
         * out, the next batch waits SIM_LINE_MIN_WAKE_US; the first byte goes
         * out exactly when it is due (no added latency, bench_scale). */
        if (l->tx_pos > 0 && l->tx_pos < l->tx_len && t < l->last_emit_us + SIM_LINE_MIN_WAKE_US)
            t = l->last_emit_us + SIM_LINE_MIN_WAKE_US;
        w = min_u64(w, t);
    } else if (l->q_n > 0) {
        w = min_u64(w, frame_due_us(l, &l->queue[l->q_head]));
    } else {
        uint64_t when;
        if (alert_due(l, now_us, &when))
            w = min_u64(w, when);
    }
    return w;
}

/* ===================================================================== */
/* sim_port: PTY / UART edge on libev                                    */
/* ===================================================================== */

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
    FILE *log;
    sim_fault_set faults; /* line faults, transceiver models, protocol faults, glitches (sim_scenario.h) */
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
            p->line.c.tx_lost += n; /* optical session holds the shared UART (optical.md 6) */
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
    sim_meter_set_faults(m, &p->faults.proto, &p->faults.glitch);
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
        sim_meter_set_faults(p->meter, NULL, NULL); /* the fault set dies with the port */
    sim_portmodem_free(p->modem); /* before the device it polls is closed */
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
 * the rest of the frame (h8 wiring list 4). ctx = the port. */
static bool port_segment(void *ctx, uint8_t *frame, size_t len, size_t sent, uint64_t now_us)
{
    sim_port *p = ctx;
    sim_layout lay;
    sim_meter_layout(p->meter, &lay);
    return sim_glitch_between_segments(&p->faults.glitch, &lay, frame, len, sent,
                                       sim_meter_sim_now(p->meter, now_us / 1000u));
}

/* The port's fault set sits between protocol and line in both directions
 * (module-behaviour 9); with nothing started it passes everything through.
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
void sim_port_set_modem(sim_port *p, struct sim_portmodem *pm) { p->modem = pm; }
struct sim_portmodem *sim_port_get_modem(sim_port *p) { return p->modem; }
