/* sim_portmodem: modem-line sensing and board reset/power pulses on a UART
 * sim_port, driven by an ev_timer on the port's loop; see sim_portmodem.h.
 * The sensing/debounce/pulse logic itself is sim_modem's; this file only
 * schedules it, forwards its events to the port and logs. Its owner (the
 * station) frees it before the port. */
#include "sim_portmodem.h"
#include "sim_ev.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <ev.h>

struct sim_portmodem {
    sim_port *port;
    struct ev_loop *loop;
    sim_modem m;
    ev_timer timer;
    int fd;                        /* termios adapter: the device fd */
    bool failing;                  /* last poll hit a port error (logged once) */
    bool pulsing[SIM_MODEM_OUTS];  /* as last seen, to log the release */
};

static const char *const OUT_WHAT[SIM_MODEM_OUTS] = {"board reset", "board power cut"};

static const char *pin_name(const sim_modem_output *o)
{
    return o->pin == SIM_MODEM_PIN_DTR ? "DTR" : o->pin == SIM_MODEM_PIN_RTS ? "RTS" : "-";
}

bool sim_portmodem_wanted(const sim_modem_cfg *cfg)
{
    if (!cfg)
        return false;
    for (int i = 0; i < SIM_MODEM_LINES; i++)
        if (cfg->in[i].signal)
            return true;
    for (int i = 0; i < SIM_MODEM_OUTS; i++)
        if (cfg->out[i].pin != SIM_MODEM_PIN_NONE)
            return true;
    return false;
}

/* ---- adapter for a device opened with plain termios (no libserialport) */
static int tio_get(void *ctx, unsigned *mask)
{
    int bits = 0;
    if (ioctl(*(int *)ctx, TIOCMGET, &bits) != 0)
        return -1;
    *mask = ((bits & TIOCM_CTS) ? SIM_MODEM_CTS : 0u) | ((bits & TIOCM_DSR) ? SIM_MODEM_DSR : 0u) |
            ((bits & TIOCM_CAR) ? SIM_MODEM_DCD : 0u) | ((bits & TIOCM_RNG) ? SIM_MODEM_RI : 0u);
    return 0;
}

static int tio_set(int fd, int bit, bool on) { return ioctl(fd, on ? TIOCMBIS : TIOCMBIC, &bit) == 0 ? 0 : -1; }
static int tio_dtr(void *ctx, bool on) { return tio_set(*(int *)ctx, TIOCM_DTR, on); }
static int tio_rts(void *ctx, bool on) { return tio_set(*(int *)ctx, TIOCM_RTS, on); }

/* ---- event delivery and scheduling ------------------------------------ */

/* A debounced level change: the same entry point as a control-socket line
 * event, stamped with the time the new level was first sampled (S09). */
static void on_modem_event(void *ctx, const char *line, bool on, uint64_t at_us)
{
    sim_portmodem *pm = ctx;
    char msg[160];
    snprintf(msg, sizeof msg, "modem: %s %s (sensed)", line, on ? "on" : "off");
    sim_port_log(pm->port, 1, msg);
    sim_meter_line which;
    if (sim_meter_line_parse(line, &which))
        sim_port_line_event_at(pm->port, which, on, at_us);
}

static void log_releases(sim_portmodem *pm)
{
    for (int i = 0; i < SIM_MODEM_OUTS; i++) {
        bool now = sim_modem_pulse_active(&pm->m, (sim_modem_out)i);
        if (pm->pulsing[i] && !now) {
            char msg[120];
            snprintf(msg, sizeof msg, "modem: %s released (%s)", OUT_WHAT[i], pin_name(&pm->m.cfg.out[i]));
            sim_port_log(pm->port, 0, msg);
        }
        pm->pulsing[i] = now;
    }
}

static void arm(sim_portmodem *pm)
{
    /* overdue (e.g. a pulse release the adapter keeps refusing, retried on
     * each poll): 1 ms, so a failing device cannot spin the loop */
    sim_ev_timer_wake(pm->loop, &pm->timer, sim_modem_next_wake(&pm->m), sim_now_us(), 1e6, 0.001);
}

static void run(sim_portmodem *pm)
{
    int rc = sim_modem_poll(&pm->m, sim_now_us());
    bool failing = rc == SIM_MODEM_ERR_PORT;
    if (failing != pm->failing) {
        char msg[200];
        snprintf(msg, sizeof msg, "modem: %s on %s", failing ? "reading/driving the modem lines failed (levels held)"
                                                             : "modem lines readable again",
                 sim_port_device(pm->port));
        sim_port_log(pm->port, 0, msg);
        pm->failing = failing;
    }
    log_releases(pm);
    arm(pm);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    run(w->data);
}

sim_portmodem *sim_portmodem_attach(sim_port *p, const sim_modem_cfg *cfg, const sim_modem_port *iface,
                                    char *err, size_t errlen)
{
    if (!p || !cfg) {
        snprintf(err, errlen, "modem lines: no port or configuration");
        return NULL;
    }
    if (!sim_port_is_uart(p)) {
        snprintf(err, errlen, "meter %s: modem lines need --uart (a PTY has no CTS/DSR/DCD/RI or DTR/RTS)",
                 sim_port_name(p));
        return NULL;
    }
    sim_portmodem *pm = sim_ev_new(sizeof *pm, err, errlen);
    if (!pm)
        return NULL;
    pm->port = p;
    pm->loop = sim_port_loop(p);
    pm->fd = sim_port_fd(p);
    sim_modem_port io;
    if (iface) {
        io = *iface;
    } else if (sim_port_sp_handle(p)) {
        io = sim_modem_port_sp(sim_port_sp_handle(p));
    } else {
        io = (sim_modem_port){tio_get, tio_dtr, tio_rts, &pm->fd};
    }
    char sub[200];
    int rc = sim_modem_init(&pm->m, cfg, &io, on_modem_event, pm, sub, sizeof sub);
    if (rc != SIM_MODEM_OK) {
        snprintf(err, errlen, "meter %s: modem lines on %s: %s", sim_port_name(p), sim_port_device(p),
                 sub[0] ? sub : sim_modem_strerror(rc));
        free(pm);
        return NULL;
    }
    ev_init(&pm->timer, on_timer);
    pm->timer.data = pm;
    char msg[300];
    int n = snprintf(msg, sizeof msg, "modem: poll %u us, debounce %u", (unsigned)pm->m.cfg.poll_us,
                     pm->m.cfg.debounce);
    for (int i = 0; i < SIM_MODEM_LINES && n > 0 && (size_t)n < sizeof msg; i++) {
        const sim_modem_input *in = &pm->m.cfg.in[i];
        if (!in->signal)
            continue;
        const char *s = in->signal == SIM_MODEM_CTS ? "CTS" : in->signal == SIM_MODEM_DSR ? "DSR"
                      : in->signal == SIM_MODEM_DCD ? "DCD" : "RI";
        n += snprintf(msg + n, sizeof msg - (size_t)n, ", %s on %s%s", sim_modem_line_name((sim_modem_line)i),
                      s, in->inverted ? " (inverted)" : "");
    }
    for (int i = 0; i < SIM_MODEM_OUTS && n > 0 && (size_t)n < sizeof msg; i++) {
        const sim_modem_output *o = &pm->m.cfg.out[i];
        if (o->pin != SIM_MODEM_PIN_NONE)
            n += snprintf(msg + n, sizeof msg - (size_t)n, ", %s on %s%s", i == SIM_MODEM_OUT_RESET ? "reset" : "power",
                          pin_name(o), o->inverted ? " (inverted)" : "");
    }
    sim_port_log(p, 0, msg);
    run(pm); /* first sample now: reports the initial levels */
    return pm;
}

void sim_portmodem_free(sim_portmodem *pm)
{
    if (!pm)
        return;
    ev_timer_stop(pm->loop, &pm->timer);
    /* leave the board running: a pulse cut short by shutdown is released */
    for (int i = 0; i < SIM_MODEM_OUTS; i++)
        if (sim_modem_pulse_active(&pm->m, (sim_modem_out)i))
            sim_modem_set(&pm->m, (sim_modem_out)i, false);
    free(pm);
}

static int out_error(sim_portmodem *pm, sim_modem_out out, int rc, char *err, size_t errlen)
{
    static const char *const opt[SIM_MODEM_OUTS] = {"--reset-line", "--power-line"};
    if (rc == SIM_MODEM_ERR_UNWIRED)
        snprintf(err, errlen, "%s: no %s configured for meter %s", OUT_WHAT[out], opt[out], sim_port_name(pm->port));
    else if (rc == SIM_MODEM_ERR_BUSY)
        snprintf(err, errlen, "%s: a pulse is already running", OUT_WHAT[out]);
    else
        snprintf(err, errlen, "%s on %s: %s", OUT_WHAT[out], sim_port_device(pm->port), sim_modem_strerror(rc));
    return -1;
}

int sim_portmodem_pulse(sim_portmodem *pm, sim_modem_out out, uint32_t ms, char *err, size_t errlen)
{
    if (!pm || (unsigned)out >= SIM_MODEM_OUTS) {
        snprintf(err, errlen, "modem lines: bad output");
        return -1;
    }
    if (ms == 0 || ms > SIM_PORTMODEM_MAX_PULSE_MS) {
        snprintf(err, errlen, "%s: pulse length %u ms outside 1..%u", OUT_WHAT[out], (unsigned)ms,
                 SIM_PORTMODEM_MAX_PULSE_MS);
        return -1;
    }
    int rc = sim_modem_pulse(&pm->m, out, ms * 1000u, sim_now_us());
    if (rc != SIM_MODEM_OK)
        return out_error(pm, out, rc, err, errlen);
    char msg[120];
    snprintf(msg, sizeof msg, "modem: %s for %u ms (%s)", OUT_WHAT[out], (unsigned)ms, pin_name(&pm->m.cfg.out[out]));
    sim_port_log(pm->port, 0, msg);
    pm->pulsing[out] = true;
    arm(pm);
    return 0;
}

int sim_portmodem_set(sim_portmodem *pm, sim_modem_out out, bool asserted, char *err, size_t errlen)
{
    if (!pm || (unsigned)out >= SIM_MODEM_OUTS) {
        snprintf(err, errlen, "modem lines: bad output");
        return -1;
    }
    int rc = sim_modem_set(&pm->m, out, asserted);
    if (rc != SIM_MODEM_OK)
        return out_error(pm, out, rc, err, errlen);
    char msg[120];
    snprintf(msg, sizeof msg, "modem: %s %s (%s)", OUT_WHAT[out], asserted ? "held" : "released",
             pin_name(&pm->m.cfg.out[out]));
    sim_port_log(pm->port, 0, msg);
    pm->pulsing[out] = false;
    arm(pm);
    return 0;
}

const sim_modem *sim_portmodem_modem(const sim_portmodem *pm) { return pm ? &pm->m : NULL; }
