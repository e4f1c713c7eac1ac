/* host_hal: the POSIX port of mepc (see host_hal.h). */
#include "host_hal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint32_t host_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

/* ---- mepc_hal callbacks --------------------------------------------------- */
static size_t hal_uart_write(void *ctx, const uint8_t *p, size_t n)
{
    host_port *hp = ctx;
    return host_serial_write(&hp->serial, p, n);
}

static void hal_uart_flush_rx(void *ctx)
{
    host_port *hp = ctx;
    host_serial_flush_rx(&hp->serial);
}

static void hal_transceiver_power(void *ctx, bool on)
{
    host_port *hp = ctx;
    if (hp->transceiver_on != on)
        host_logf(hp->log, HOST_LOG_INFO, "line: transceiver %s", on ? "on" : "off");
    hp->transceiver_on = on;
    hp->transceiver_known = true;
    if (hp->have_linectl)
        host_linectl_set(&hp->linectl, "transceiver", on);
}

static void hal_meter_enable(void *ctx, bool on)
{
    host_port *hp = ctx;
    if (hp->enable_on != on)
        host_logf(hp->log, HOST_LOG_INFO, "line: ENABLE %s", on ? "asserted" : "released");
    hp->enable_on = on;
    if (hp->have_linectl)
        host_linectl_set(&hp->linectl, "enable", on);
}

static void hal_log(void *ctx, int level, const char *msg)
{
    host_port *hp = ctx;
    host_logf(hp->log, level, "core: %s", msg);
}

/* ---- driving the core ----------------------------------------------------- */
static void notify(host_port *p)
{
    const mepc_readings *r = mepc_get_readings(&p->client);
    if (r->generation != p->last_generation) {
        p->last_generation = r->generation;
        if (p->on_update)
            p->on_update(p->update_ctx, r);
    }
}

static void run_core(host_port *p)
{
    uint32_t wait_ms = mepc_run(&p->client, host_now_ms());
    if (wait_ms > 1000)
        wait_ms = 1000;
    if (wait_ms == 0)
        wait_ms = 1;
    ev_timer_stop(p->loop, &p->run_timer);
    ev_timer_set(&p->run_timer, wait_ms / 1000.0, 0.0);
    ev_timer_start(p->loop, &p->run_timer);
    notify(p);
}

static void on_run_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    run_core(w->data);
}

static void on_serial_rx(void *ctx, const uint8_t *bytes, size_t n)
{
    host_port *p = ctx;
    if (p->transceiver_known && !p->transceiver_on) {
        /* an unpowered MAX3232 passes nothing: what arrives now is not meter data */
        p->rx_dropped_while_off += (uint32_t)n;
        return;
    }
    mepc_rx(&p->client, bytes, n, host_now_ms());
    run_core(p); /* the next request can go out as soon as a reply is accepted */
}

/* mep.md 10.2: the ET50 identification string ends in a unique ID. The core's
 * default has none; a host port derives a stable 6-byte one from the host
 * name and the port path (FNV-1a), so a restarted mepmod re-registers with
 * the same ID (and keeps its handle) while two modules on one host differ. */
static void set_unique_id(mepc_config *cfg, const char *port_path)
{
    uint8_t *id = cfg->ident;
    uint8_t prog_len = id[4];
    size_t at = 5u + prog_len; /* unique-ID length byte */
    if (prog_len > 8 || id[at] != 0 || at + 1 + 6 > sizeof cfg->ident)
        return; /* not the layout we expect: leave the core's choice alone */
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = host; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    h = (h ^ ':') * 0x100000001b3ull;
    for (const char *p = port_path; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    id[at] = 6;
    for (int i = 0; i < 6; i++)
        id[at + 1 + (size_t)i] = (uint8_t)(h >> (8 * i));
}

bool host_port_start(host_port *p, struct ev_loop *loop, const char *port_path,
                     const char *control_path, const mepc_config *cfg, const host_log *log,
                     host_port_update_fn on_update, void *update_ctx, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->loop = loop;
    p->log = log;
    p->on_update = on_update;
    p->update_ctx = update_ctx;
    if (control_path) {
        if (!host_linectl_init(&p->linectl, loop, control_path, log)) {
            snprintf(err, errlen, "--control: socket path too long: %s", control_path);
            return false;
        }
        p->have_linectl = true;
    }
    if (!host_serial_open(&p->serial, loop, port_path, on_serial_rx, p, log, err, errlen))
        return false;
    p->hal.ctx = p;
    p->hal.uart_write = hal_uart_write;
    p->hal.uart_flush_rx = hal_uart_flush_rx;
    p->hal.transceiver_power = hal_transceiver_power;
    p->hal.meter_enable = hal_meter_enable;
    p->hal.log = hal_log;
    p->hal.store_load = NULL; /* no persistent store on the host (yet) */
    p->hal.store_save = NULL;
    /* the core switches the transceiver on at boot; until then it is off */
    p->transceiver_on = false;
    mepc_config local = *cfg;
    set_unique_id(&local, port_path);
    mepc_init(&p->client, &p->hal, &local, host_now_ms());
    ev_init(&p->run_timer, on_run_timer);
    p->run_timer.data = p;
    run_core(p);
    return true;
}

const mepc_readings *host_port_readings(const host_port *p) { return mepc_get_readings(&p->client); }

void host_port_stop(host_port *p)
{
    ev_timer_stop(p->loop, &p->run_timer);
    host_serial_close(&p->serial);
    if (p->have_linectl)
        host_linectl_close(&p->linectl);
}
