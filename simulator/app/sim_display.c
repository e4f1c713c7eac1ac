/* sim_display: live view of all meters (see sim_display.h). */
#include "sim_display.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "sim_config.h"

#define DISPLAY_TTY_PERIOD_S 0.5
#define DISPLAY_PLAIN_PERIOD_S 5.0

struct sim_display {
    struct ev_loop *loop;
    sim_station *const *stations;
    size_t n;
    FILE *out;
    bool tty;
    ev_timer timer;
    char *buf;
    size_t cap;
};

typedef struct {
    char *buf;
    size_t cap, len;
} outbuf;

static void put(outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(outbuf *o, const char *fmt, ...)
{
    if (o->len + 1 >= o->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    o->len += (size_t)w;
    if (o->len >= o->cap)
        o->len = o->cap - 1;
}

static double kwh(const sim_model *md, enum sim_register r) { return (double)md->reg_m[r] / 1e6; }

static void render_meter(outbuf *o, sim_station *s, uint64_t now_ms, bool full)
{
    sim_port *p = sim_station_port(s);
    sim_meter *m = sim_station_meter(s);
    sim_line *l = sim_port_line(p);
    sim_meter_advance(m, now_ms);
    const sim_model *md = sim_meter_model(m);
    const sim_meter_counters *mc = sim_meter_counters_get(m);
    char iso[40];
    sim_config_format_time(sim_meter_sim_now(m, now_ms), iso, sizeof iso);
    double ptot = 0;
    for (int i = 0; i < md->cfg.phases && i < SIM_MAX_PHASES; i++)
        ptot += md->ph[i].p;
    if (!full) {
        put(o, "%s %s fwd=%.3fkWh rev=%.3fkWh P=%.0fW f=%.2fHz E=0x%08X %s alerts=0x%02X rx=%llu tx=%llu "
            "gap=%llu thr=%llu\n",
            sim_station_name(s), iso, kwh(md, SIM_REG_FWD_WH), kwh(md, SIM_REG_REV_WH), ptot, md->freq_hz,
            (unsigned)sim_meter_next_seq(m), sim_meter_registered(m) ? "registered" : "unregistered",
            sim_meter_alert_flags(m), (unsigned long long)l->c.frames_rx,
            (unsigned long long)l->c.responses, (unsigned long long)l->c.gap_aborts,
            (unsigned long long)l->c.throttled);
        return;
    }
    put(o, "\033[1m%s\033[0m  %s -> %s  %u baud  E=0x%08X\n", sim_station_name(s), sim_port_path(p),
        sim_port_device(p), (unsigned)l->baud, (unsigned)sim_meter_next_seq(m));
    put(o, "  clock  %s\n", iso);
    put(o, "  energy fwd %12.3f kWh   rev %12.3f kWh   imp %10.3f kvarh   exp %10.3f kvarh\n",
        kwh(md, SIM_REG_FWD_WH), kwh(md, SIM_REG_REV_WH), kwh(md, SIM_REG_IMP_VARH),
        kwh(md, SIM_REG_EXP_VARH));
    put(o, "  phase        V         I         P W       Q var     PF\n");
    for (int i = 0; i < md->cfg.phases && i < SIM_MAX_PHASES; i++)
        put(o, "  L%d     %8.2f  %8.3f  %10.1f  %10.1f  %5.3f\n", i + 1, md->ph[i].v, md->ph[i].i,
            md->ph[i].p, md->ph[i].q, md->ph[i].pf);
    put(o, "  total P %.1f W   frequency %.3f Hz\n", ptot, md->freq_hz);
    put(o, "  %s  handle %u  ET14 status %u  alert flags 0x%02X%s  lines: transceiver %s, enable %s\n",
        sim_meter_registered(m) ? "registered" : "not registered", (unsigned)sim_meter_handle(m),
        (unsigned)sim_meter_device_status(m), sim_meter_alert_flags(m),
        sim_meter_alert_pending(m) ? " (alerting)" : "",
        sim_meter_line_on(m, SIM_METER_TRANSCEIVER) ? "on" : "OFF", sim_meter_line_on(m, SIM_METER_ENABLE) ? "on" : "OFF");
    put(o, "  frames %llu  answered %llu  silent %llu  0x0B %llu  0x0C %llu  gap aborts %llu  throttled %llu"
        "  alerts %llu\n",
        (unsigned long long)l->c.frames_rx, (unsigned long long)l->c.responses,
        (unsigned long long)l->c.silent, (unsigned long long)mc->responses[MEP_RSP_AUTH],
        (unsigned long long)mc->responses[MEP_RSP_SEQ], (unsigned long long)l->c.gap_aborts,
        (unsigned long long)l->c.throttled, (unsigned long long)l->c.alerts);
    for (size_t i = 0; i < SIM_LINE_RECENT; i++) {
        const char *r = sim_line_recent(l, i);
        if (!r)
            break;
        put(o, "    %s\n", r);
    }
    put(o, "\n");
}

size_t sim_display_render(sim_station *const *stations, size_t n, uint64_t now_ms, bool full, char *buf, size_t cap)
{
    outbuf o = {buf, cap, 0};
    if (cap == 0)
        return 0;
    buf[0] = 0;
    if (full)
        put(&o, "mepsim: %zu meter%s   (Ctrl-C to stop)\n\n", n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++)
        render_meter(&o, stations[i], now_ms, full);
    return o.len;
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    sim_display *d = w->data;
    size_t len = sim_display_render(d->stations, d->n, sim_now_us() / 1000u, d->tty, d->buf, d->cap);
    if (d->tty)
        fputs("\033[H\033[J", d->out); /* home + clear: redraw in place */
    fwrite(d->buf, 1, len, d->out);
    fflush(d->out);
}

sim_display *sim_display_new(struct ev_loop *loop, sim_station *const *stations, size_t n, FILE *out, bool tty)
{
    sim_display *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->cap = 4096 + n * 3072;
    d->buf = malloc(d->cap);
    if (!d->buf) {
        free(d);
        return NULL;
    }
    d->loop = loop;
    d->stations = stations;
    for (size_t i = 0; i < n; i++) /* the display shows the last decoded requests */
        sim_line_keep_recent(sim_port_line(sim_station_port(stations[i])), true);
    d->n = n;
    d->out = out;
    d->tty = tty;
    double period = tty ? DISPLAY_TTY_PERIOD_S : DISPLAY_PLAIN_PERIOD_S;
    ev_timer_init(&d->timer, on_timer, tty ? 0.05 : period, period);
    d->timer.data = d;
    ev_timer_start(loop, &d->timer);
    return d;
}

void sim_display_free(sim_display *d)
{
    if (!d)
        return;
    ev_timer_stop(d->loop, &d->timer);
    free(d->buf);
    free(d);
}
