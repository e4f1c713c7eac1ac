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

static void tls_drop_exchange(host_port *p);

static void hal_uart_flush_rx(void *ctx)
{
    host_port *hp = ctx;
    host_serial_flush_rx(&hp->serial);
    if (hp->tls)
        tls_drop_exchange(hp); /* recovery cycle / power-up: nothing in flight survives */
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

/* mepc_hal.store_load/save: the energy floor in --state-dir (host_state). */
static bool hal_store_load(void *ctx, void *blob, size_t len)
{
    host_port *hp = ctx;
    return host_state_load(hp->state, blob, len);
}

static bool hal_store_save(void *ctx, const void *blob, size_t len)
{
    host_port *hp = ctx;
    if (host_state_save(hp->state, blob, len))
        return true;
    host_logf(hp->log, HOST_LOG_WARN, "state: cannot save %s: %s", hp->state->path, hp->state->last_error);
    return false;
}

void host_port_flush_state(host_port *p)
{
    if (p->state)
        mepc_store_flush(&p->client, host_now_ms());
}

/* ---- driving the core ----------------------------------------------------- */
static void run_core(host_port *p);

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
    if (p->closing)
        return; /* host_port_tls_close: the last frame is ours */
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

/* ---- TLS mode: host_tls frames on the serial line, never blocking ---------- */

static void tls_arm(host_port *p, uint32_t ms)
{
    ev_timer_stop(p->loop, &p->tls_timer);
    ev_timer_set(&p->tls_timer, ms / 1000.0, 0.0);
    ev_timer_start(p->loop, &p->tls_timer);
}

static void tls_drop_exchange(host_port *p)
{
    host_tls_abort(p->tls);
    p->tls_wait = false;
    p->tls_report = false;
    p->tls_rx_have = 0;
    ev_timer_stop(p->loop, &p->tls_timer);
}

/* Write host_tls's pending frame; its reply is due within the frame's wire
 * time + the guide's 500 ms (docs/mep.md 4). */
static void tls_send_pending(host_port *p)
{
    size_t n = 0;
    const uint8_t *f = host_tls_frame(p->tls, &n);
    if (!f) {
        p->tls_wait = false;
        return;
    }
    p->tls_stray += (uint32_t)p->tls_rx_have; /* bytes before a request cannot be its reply */
    p->tls_rx_have = 0;
    host_serial_write(&p->serial, f, n);
    host_logf(p->log, HOST_LOG_DEBUG, "TLS: -> code 0x%02X, %zu bytes", f[2], n);
    p->tls_wait = true;
    p->tls_sent_at = host_now_ms();
    p->tls_limit_ms = (uint32_t)((n * 25u + 23u) / 24u) + p->client.cfg.reply_timeout_ms;
    tls_arm(p, p->tls_limit_ms);
}

static mepc_secure_error tls_error_kind(host_tls_result r)
{
    switch (r) {
    case HOST_TLS_ERR_TRANSPORT: return MEPC_SEC_NO_REPLY;
    case HOST_TLS_ERR_REPLY: return MEPC_SEC_BAD_REPLY;
    case HOST_TLS_ERR_IDENTITY: return MEPC_SEC_IDENTITY;
    case HOST_TLS_ERR_NO_SESSION: return MEPC_SEC_NO_SESSION;
    default: return MEPC_SEC_TLS_ERROR;
    }
}

/* host_port_tls_close: TLS_TERMINATE goes out once the line is free. */
static void tls_send_terminate(host_port *p)
{
    p->close_sent = true;
    p->tls_report = false;
    if (host_tls_start_terminate(p->tls) == HOST_TLS_PENDING)
        tls_send_pending(p);
}

/* Where an exchange step ended; called from the loop, never from the core. */
static void tls_outcome(host_port *p, host_tls_result r)
{
    if (p->closing && !p->close_sent) {
        /* the frame that was in flight at exit has its answer (or timed out):
         * its result no longer matters, a handshake in progress is abandoned */
        tls_send_terminate(p);
        return;
    }
    if (r == HOST_TLS_PENDING) {
        tls_send_pending(p);
        return;
    }
    p->tls_wait = false;
    ev_timer_stop(p->loop, &p->tls_timer);
    if (p->closing) {
        p->close_done = true;
        p->tls_result = r;
        ev_break(p->loop, EVBREAK_ONE);
        return;
    }
    uint32_t now = host_now_ms();
    if (r == HOST_TLS_OK) {
        size_t n = 0;
        const uint8_t *b = host_tls_response(p->tls, &n);
        mepc_rx_bare(&p->client, b, n, now);
    } else {
        host_logf(p->log, HOST_LOG_WARN, "TLS: %s", host_tls_strerror(r));
        mepc_secure_fail(&p->client, tls_error_kind(r), now);
    }
    run_core(p);
}

static bool hal_secure_request(void *ctx, const uint8_t *req, size_t n)
{
    host_port *p = ctx;
    p->tls_report = false;
    host_tls_result r = host_tls_start_request(p->tls, req, n);
    if (r == HOST_TLS_PENDING) {
        tls_send_pending(p);
        return true;
    }
    /* failed before anything went out: tell the core from the loop, not
     * from inside its own call */
    p->tls_wait = false;
    p->tls_report = true;
    p->tls_result = r;
    tls_arm(p, 0);
    return true;
}

static void on_tls_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    host_port *p = w->data;
    if (p->tls_report) {
        p->tls_report = false;
        tls_outcome(p, p->tls_result);
        return;
    }
    if (!p->tls_wait)
        return;
    uint32_t now = host_now_ms();
    uint32_t waited = now - p->tls_sent_at;
    if (p->tls_rx_have && now - p->tls_last_rx < 100u && waited < p->tls_limit_ms + 1000u) {
        tls_arm(p, 100); /* a reply is still coming in (25 ms segment pauses) */
        return;
    }
    p->tls_timeouts++;
    p->tls_wait = false;
    tls_outcome(p, host_tls_feed(p->tls, NULL, 0));
}

/* Cut MEP frames out of the stream: `00 00` at a frame boundary is the
 * alert sequence (docs/mep.md 10.3); a gap > 100 ms ends a torn frame (docs/mep.md 4). */
static void tls_rx(host_port *p, const uint8_t *b, size_t n)
{
    uint32_t now = host_now_ms();
    if (p->tls_rx_have && now - p->tls_last_rx >= 100u) {
        p->tls_stray += (uint32_t)p->tls_rx_have;
        p->tls_rx_have = 0;
    }
    p->tls_last_rx = now;
    while (n) {
        size_t k = sizeof p->tls_rx - p->tls_rx_have;
        if (k > n)
            k = n;
        memcpy(p->tls_rx + p->tls_rx_have, b, k);
        p->tls_rx_have += k;
        b += k;
        n -= k;
        while (p->tls_rx_have >= 2) {
            size_t len = mep_get_be16(p->tls_rx);
            if (len == 0) {
                memmove(p->tls_rx, p->tls_rx + 2, p->tls_rx_have - 2);
                p->tls_rx_have -= 2;
                p->tls_alerts++;
                mepc_secure_alert(&p->client, now);
                continue;
            }
            if (len > MEP_MAX_BODY) {
                memmove(p->tls_rx, p->tls_rx + 1, p->tls_rx_have - 1); /* not a length: resync */
                p->tls_rx_have--;
                p->tls_stray++;
                continue;
            }
            if (p->tls_rx_have < 2 + len)
                break;
            uint8_t frame[MEP_MAX_FRAME];
            memcpy(frame, p->tls_rx, 2 + len);
            memmove(p->tls_rx, p->tls_rx + 2 + len, p->tls_rx_have - 2 - len);
            p->tls_rx_have -= 2 + len;
            if (!p->tls_wait) {
                host_logf(p->log, HOST_LOG_INFO, "TLS: frame of %zu bytes with nothing outstanding: dropped",
                          2 + len);
                continue;
            }
            p->tls_wait = false;
            ev_timer_stop(p->loop, &p->tls_timer);
            tls_outcome(p, host_tls_feed(p->tls, frame, 2 + len));
        }
    }
    run_core(p);
}

static void tls_log(void *ctx, const char *line)
{
    host_port *p = ctx;
    host_logf(p->log, HOST_LOG_INFO, "%s", line);
}

static void on_serial_rx(void *ctx, const uint8_t *bytes, size_t n)
{
    host_port *p = ctx;
    if (p->transceiver_known && !p->transceiver_on) {
        /* an unpowered MAX3232 passes nothing: what arrives now is not meter data */
        p->rx_dropped_while_off += (uint32_t)n;
        return;
    }
    if (p->tls) {
        tls_rx(p, bytes, n);
        return;
    }
    mepc_rx(&p->client, bytes, n, host_now_ms());
    run_core(p); /* the next request can go out as soon as a reply is accepted */
}

/* docs/mep.md 10.2: the ET50 identification string ends in a unique ID. The core's
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
    return host_port_start_tls(p, loop, port_path, control_path, cfg, NULL, NULL, log, on_update, update_ctx,
                               err, errlen);
}

bool host_port_start_tls(host_port *p, struct ev_loop *loop, const char *port_path,
                         const char *control_path, const mepc_config *cfg, const host_port_tls *tls,
                         host_state *state, const host_log *log, host_port_update_fn on_update,
                         void *update_ctx, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->state = state;
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
    if (tls && tls->on) {
        host_tls_cfg tc;
        memset(&tc, 0, sizeof tc);
        tc.client_id = tls->client_id;
        tc.key_id = tls->key_id;
        memcpy(tc.psk, tls->psk, sizeof tc.psk);
        tc.log = tls_log;
        tc.log_ctx = p;
        host_tls_result r = host_tls_new(&tc, &p->tls);
        if (r != HOST_TLS_OK) {
            snprintf(err, errlen, "--tls: cannot set up the TLS client: %s", host_tls_strerror(r));
            if (p->have_linectl)
                host_linectl_close(&p->linectl);
            return false;
        }
        ev_init(&p->tls_timer, on_tls_timer);
        p->tls_timer.data = p;
    }
    if (!host_serial_open(&p->serial, loop, port_path, on_serial_rx, p, log, err, errlen)) {
        host_tls_free(p->tls);
        p->tls = NULL;
        return false;
    }
    p->hal.ctx = p;
    p->hal.uart_write = hal_uart_write;
    p->hal.uart_flush_rx = hal_uart_flush_rx;
    p->hal.transceiver_power = hal_transceiver_power;
    p->hal.meter_enable = hal_meter_enable;
    p->hal.log = hal_log;
    p->hal.store_load = state ? hal_store_load : NULL;
    p->hal.store_save = state ? hal_store_save : NULL;
    p->hal.secure_request = p->tls ? hal_secure_request : NULL;
    /* the core switches the transceiver on at boot; until then it is off */
    p->transceiver_on = false;
    mepc_config local = *cfg;
    set_unique_id(&local, port_path);
    if (state) {
        local.store_period_ms = HOST_STATE_PERIOD_MS;
        local.publish_saved_only = true;
    }
    mepc_init(&p->client, &p->hal, &local, host_now_ms());
    ev_init(&p->run_timer, on_run_timer);
    p->run_timer.data = p;
    run_core(p);
    return true;
}

static void on_close_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ONE);
}

host_tls_result host_port_tls_close(host_port *p, uint32_t wait_ms)
{
    if (!p->tls || !(host_tls_connected(p->tls) || host_tls_busy(p->tls)) ||
        (p->transceiver_known && !p->transceiver_on))
        return HOST_TLS_ERR_ARG;
    ev_timer_stop(p->loop, &p->run_timer);
    p->closing = true;
    p->close_sent = p->close_done = false;
    /* a frame in flight keeps the line until its reply or its timeout
     * (tls_outcome then sends the terminate): a reply arriving after our
     * TLS_TERMINATE would be taken for the meter's answer to it */
    if (!p->tls_wait)
        tls_send_terminate(p);
    ev_timer guard;
    ev_timer_init(&guard, on_close_guard, wait_ms / 1000.0, 0.0);
    ev_timer_start(p->loop, &guard);
    ev_run(p->loop, 0); /* until the reply, the guard, or a second signal */
    ev_timer_stop(p->loop, &guard);
    if (!p->close_done) {
        tls_drop_exchange(p);
        return HOST_TLS_ERR_TRANSPORT;
    }
    return p->tls_result;
}

const mepc_readings *host_port_readings(const host_port *p) { return mepc_get_readings(&p->client); }

void host_port_stop(host_port *p)
{
    ev_timer_stop(p->loop, &p->run_timer);
    if (p->tls) {
        ev_timer_stop(p->loop, &p->tls_timer);
        host_tls_free(p->tls);
        p->tls = NULL;
    }
    host_serial_close(&p->serial);
    if (p->have_linectl)
        host_linectl_close(&p->linectl);
}
