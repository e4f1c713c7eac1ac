/* sim_port: the MEP line of one emulated meter on a device (sim_serial)
 * driving one sim_line (mep/sim_line.h) on a shared libev loop; see
 * sim_port.h. Many ports run on one loop; no global state. */
#include "sim_port.h"
#include "sim_ev.h"
#include "sim_serial.h"

#include <stdlib.h>
#include <string.h>

#include <ev.h>

/* Least time between two writes of one burst (see port_run). */
#define SIM_PORT_COALESCE_US 250

struct sim_port {
    struct ev_loop *loop;
    sim_meter *meter;
    sim_line line;
    sim_serial *dev;
    char name[64];
    FILE *log;
    ev_timer timer;               /* without a pacer (or when it could not take the entry) */
    sim_pacer *pacer;             /* the loop's, not owned; NULL: the timer paces */
    sim_pacer_entry pace;
    sim_port_tap tap;     /* shared-UART optical switch (sim_optical_port), or empty */
};

static void port_log(void *ctx, int level, const char *msg)
{
    sim_port *p = ctx;
    (void)level;
    sim_serial_log_line(p->log, p->name, msg);
}

static void port_write(sim_port *p, const uint8_t *b, size_t n)
{
    /* Nobody reading (PTY buffer full, no client on the socket) or device
     * gone: the bytes are lost, like on a wire with nobody listening. */
    size_t lost = sim_serial_write(p->dev, b, n);
    p->line.c.tx_lost += lost;
    p->line.c.bytes_tx -= lost;
}

static void port_run(sim_port *p)
{
    uint8_t out[256];
    uint64_t now = sim_now_us();
    size_t n, n_written = 0;
    while ((n = sim_line_poll(&p->line, now, out, sizeof out)) > 0) {
        n_written += n;
        if (p->tap.tx_blocked && p->tap.tx_blocked(p->tap.ctx, now))
            p->line.c.tx_lost += n; /* optical session holds the shared UART (docs/optical.md 6) */
        else
            port_write(p, out, n);
    }
    if (p->line.baud_dirty) {
        p->line.baud_dirty = false;
        sim_serial_set_baud(p->dev, p->line.baud);
    }
    uint64_t wake = sim_line_next_wake(&p->line, now);
    /* Coalesced writes: after a write, the next one waits at least
     * SIM_PORT_COALESCE_US, so the bytes that fell due meanwhile leave in
     * one write() (a reply at 115200 baud: ~5 writes instead of ~30). A
     * byte is never written before its due time, so the rate stays exact;
     * it is at most that late. The first byte after a quiet line goes at
     * once. */
    if (n_written && wake != UINT64_MAX && wake < now + SIM_PORT_COALESCE_US)
        wake = now + SIM_PORT_COALESCE_US;
    if (!p->pacer)
        sim_ev_timer_wake(p->loop, &p->timer, wake, now, 1e6, 0.0);
    else if (sim_pacer_at(p->pacer, &p->pace, wake) != 0)
        sim_ev_timer_wake(p->loop, &p->timer, wake, now, 1e6, 0.0); /* the heap could not grow */
}

/* The pacer's wake-up: the bytes due now, to the microsecond. */
static void on_pace(void *ctx, uint64_t now_us)
{
    (void)now_us;
    port_run(ctx);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    port_run(w->data);
}

static void on_rx(void *ctx, const uint8_t *buf, size_t n, uint64_t now)
{
    sim_port *p = ctx;
    if (p->tap.rx) { /* shared UART: the optical side takes its bytes first */
        uint8_t mep[512];
        while (n > 0) {
            size_t chunk = n < sizeof mep ? n : sizeof mep;
            size_t m = p->tap.rx(p->tap.ctx, buf, chunk, now, mep);
            if (m)
                sim_line_rx(&p->line, mep, m, now);
            buf += chunk;
            n -= chunk;
        }
    } else {
        sim_line_rx(&p->line, buf, n, now);
    }
}

static void on_idle(void *ctx) { port_run(ctx); }

sim_port *sim_port_open(struct ev_loop *loop, sim_meter *m, const sim_port_cfg *cfg, char *err, size_t errlen)
{
    int given = (cfg->pty_path != NULL) + (cfg->uart != NULL) + (cfg->tcp != NULL) + (cfg->unix_path != NULL);
    if (given != 1) {
        snprintf(err, errlen, "meter %s: give exactly one of --pty, --uart, --tcp or --unix", cfg->name);
        return NULL;
    }
    sim_port *p = sim_ev_new(sizeof *p, err, errlen);
    if (!p)
        return NULL;
    p->loop = loop;
    p->meter = m;
    p->log = cfg->log ? cfg->log : stderr;
    snprintf(p->name, sizeof p->name, "%s", cfg->name ? cfg->name : sim_meter_name(m));
    uint32_t baud = cfg->baud ? cfg->baud : sim_meter_baud(m);
    sim_serial_cfg sc = {
        .pty_path = cfg->pty_path,
        .uart = cfg->uart,
        .tcp = cfg->tcp,
        .unix_path = cfg->unix_path,
        .pty_hub = cfg->pty_hub,
        .verbose = cfg->verbose,
        .baud = baud ? baud : 9600,
        .format = cfg->format,
        .who = p->name,
        .log = p->log,
        .capture = cfg->capture,
        .rx = on_rx,
        .idle = on_idle,
        .ctx = p,
    };
    p->dev = sim_serial_open(loop, &sc, err, errlen);
    if (!p->dev) {
        free(p);
        return NULL;
    }
    sim_line_init(&p->line, m, baud, sim_serial_bits_per_char(p->dev));
    sim_line_set_log(&p->line, port_log, p, cfg->verbose);
    ev_init(&p->timer, on_timer);
    p->timer.data = p;
    p->pacer = cfg->pacer;
    sim_pacer_entry_init(&p->pace, on_pace, p);
    port_run(p);
    return p;
}

void sim_port_close(sim_port *p)
{
    if (!p)
        return;
    ev_timer_stop(p->loop, &p->timer);
    sim_pacer_cancel(p->pacer, &p->pace);
    sim_serial_close(p->dev);
    free(p);
}

void sim_port_set_line_hooks(sim_port *p, const sim_line_hooks *h)
{
    sim_line_set_hooks(&p->line, h);
    sim_port_kick(p);
}

void sim_port_set_tap(sim_port *p, const sim_port_tap *t)
{
    if (t)
        p->tap = *t;
    else
        memset(&p->tap, 0, sizeof p->tap);
}

void sim_port_send(sim_port *p, const uint8_t *b, size_t n)
{
    size_t lost = sim_serial_send(p->dev, b, n);
    p->line.c.bytes_tx += n - lost;
    p->line.c.tx_lost += lost;
}

void sim_port_capture_mark(sim_port *p, bool to_meter, const char *text)
{
    sim_serial_capture_mark(p->dev, to_meter, text);
}

void sim_port_kick(sim_port *p)
{
    p->line.meter_deadline_ms = 0;
    port_run(p);
}

void sim_port_line_event_at(sim_port *p, sim_meter_line which, bool on, uint64_t now)
{
    const char *name = sim_meter_line_name(which);
    sim_line_line_event(&p->line, which, on, now);
    if (p->line.verbose >= 1) {
        char msg[128];
        snprintf(msg, sizeof msg, "line event: %s %s", name, on ? "on" : "off");
        port_log(p, 1, msg);
    }
    sim_port_kick(p);
}

void sim_port_log(sim_port *p, int level, const char *msg)
{
    if (p->line.verbose >= level)
        port_log(p, level, msg);
}

int sim_port_verbose(const sim_port *p) { return p->line.verbose; }
sim_meter *sim_port_meter(sim_port *p) { return p->meter; }
sim_line *sim_port_line(sim_port *p) { return &p->line; }
const char *sim_port_name(const sim_port *p) { return p->name; }
const char *sim_port_device(const sim_port *p) { return sim_serial_device(p->dev); }
const char *sim_port_path(const sim_port *p) { return sim_serial_path(p->dev); }
bool sim_port_is_uart(const sim_port *p) { return sim_serial_get_kind(p->dev) == SIM_SERIAL_UART; }
void *sim_port_sp_handle(sim_port *p) { return sim_serial_sp_handle(p->dev); }
int sim_port_fd(const sim_port *p) { return sim_serial_fd(p->dev); }
struct ev_loop *sim_port_loop(sim_port *p) { return p->loop; }
