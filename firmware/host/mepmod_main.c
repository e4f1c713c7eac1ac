/* mepmod: the module firmware's POSIX host port - the main program.
 *
 * Wires the pieces on one libev loop: host_hal (serial + core), host_http
 * (dashboard, /getDashDataWS, /status), host_mqtt (its own network thread),
 * host_display. Owns start-up error handling (exit 2 with a message naming
 * the problem), signals, --exit-after, and the once-a-second tick.
 * TLS mode (--tls) plugs in between host_hal and the core's framing
 * (host_tls step API, see host_hal.h); the outputs are the same as in RC4
 * mode, /status adds the TLS counters.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>
#include <jansson.h>
#include <mosquitto.h>

#include "host_cli.h"
#include "host_dash.h"
#include "host_display.h"
#include "host_hal.h"
#include "host_http.h"
#include "host_log.h"
#include "host_mqtt.h"
#include "host_page.h"

typedef struct {
    host_options opt;
    host_log log;
    struct ev_loop *loop;
    host_port port;
    host_http http;
    host_mqtt mqtt;
    bool mqtt_on;
    host_display display;
    host_dash_cache dash;
    host_page_history history;   /* the dashboard's trend and status changes */
    host_state state;
    bool state_on;
    ev_timer tick, exit_timer;
    ev_signal sigint, sigterm;
    char url[96];
} mepmod;

static host_clock clock_now(const mepmod *m)
{
    return host_dash_clock(host_port_readings(&m->port), host_now_ms(), (int64_t)time(NULL));
}

/* Port-side counters shown next to the core's. */
static json_t *port_counters(const mepmod *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "serial_opens", json_integer(m->port.serial.opens));
    json_object_set_new(o, "serial_tx_dropped", json_integer(m->port.serial.tx_dropped));
    json_object_set_new(o, "serial_rx_bytes", json_integer(m->port.serial.rx_bytes));
    json_object_set_new(o, "serial_tx_bytes", json_integer(m->port.serial.tx_bytes));
    if (m->port.tls) {
        const host_tls_stats *ts = host_tls_get_stats(m->port.tls);
        json_t *t = json_object();
        json_object_set_new(t, "connected", json_boolean(host_tls_connected(m->port.tls)));
        json_object_set_new(t, "client_id", json_integer(m->opt.tls_client_id));
        json_object_set_new(t, "key", json_string(m->opt.tls_key_id ? "MAK" : "MBK"));
        json_object_set_new(t, "handshakes", json_integer(ts->handshakes));
        json_object_set_new(t, "handshake_failures", json_integer(ts->handshake_failures));
        json_object_set_new(t, "requests", json_integer(ts->requests));
        json_object_set_new(t, "reconnects", json_integer(ts->reconnects));
        json_object_set_new(t, "bytes_tx", json_integer((json_int_t)ts->bytes_tx));
        json_object_set_new(t, "bytes_rx", json_integer((json_int_t)ts->bytes_rx));
        json_object_set_new(t, "last_meter_code", json_integer(ts->last_meter_code));
        json_object_set_new(t, "last_mbedtls_error", json_integer(ts->last_mbedtls_error));
        json_object_set_new(t, "timeouts", json_integer(m->port.tls_timeouts));
        json_object_set_new(t, "alerts", json_integer(m->port.tls_alerts));
        json_object_set_new(o, "tls", t);
    }
    json_object_set_new(o, "http_requests", json_integer(m->http.requests));
    json_object_set_new(o, "http_timeouts", json_integer(m->http.timeouts));
    json_object_set_new(o, "http_evicted", json_integer(m->http.evicted));
    if (m->mqtt_on) {
        json_object_set_new(o, "mqtt_published", json_integer(m->mqtt.published));
        json_object_set_new(o, "mqtt_connects", json_integer(atomic_load(&m->mqtt.connects)));
    }
    return o;
}

static void http_handler(void *ctx, const char *path, host_http_response *out)
{
    mepmod *m = ctx;
    const mepc_readings *r = host_port_readings(&m->port);
    if (!strcmp(path, "/getDashDataWS")) {
        host_clock clk = clock_now(m);
        json_t *extra = port_counters(m);
        int status;
        size_t len;
        const char *body = host_dash_cached(&m->dash, r, &clk, extra, &status, &len);
        json_decref(extra);
        out->status = status;
        out->content_type = host_dash_content_type(status);
        out->body = body;
        out->len = len;
    } else if (!strcmp(path, "/status")) {
        json_t *extra = json_object();
        json_t *pc = port_counters(m);
        json_object_set_new(pc, "dash_builds", json_integer(m->dash.builds));
        json_object_set_new(pc, "serial_open", json_boolean(host_serial_is_open(&m->port.serial)));
        json_object_set_new(pc, "mqtt_connected",
                            json_boolean(m->mqtt_on && atomic_load(&m->mqtt.connected)));
        if (m->mqtt_on)
            json_object_set_new(pc, "mqtt", host_mqtt_status_json(&m->mqtt));
        json_object_set_new(extra, "port", pc);
        char *body = host_dash_status_json(r, host_now_ms(), extra);
        json_decref(extra);
        out->status = body ? 200 : 500;
        out->content_type = "application/json";
        out->body = body ? body : "{}";
        out->len = strlen(out->body);
        out->free_body = body != NULL;
    } else if (!strcmp(path, "/dashboard.json")) {
        char *body = host_page_json(&m->history, r, mepc_disc_phases(&m->port.client), host_now_ms());
        out->status = body ? 200 : 500;
        out->content_type = "application/json";
        out->body = body ? body : "{}";
        out->len = strlen(out->body);
        out->free_body = body != NULL;
    } else if (!strcmp(path, "/")) {
        out->status = 200;
        out->content_type = "text/html; charset=utf-8";
        out->body = host_page_html;
        out->len = strlen(host_page_html);
    }
    /* anything else: the server's default 404 */
}

static void on_update(void *ctx, const mepc_readings *r)
{
    mepmod *m = ctx;
    host_page_record(&m->history, r, host_now_ms(), (int64_t)time(NULL));
    if (m->opt.display && !m->display.tty) {
        host_clock clk = clock_now(m);
        host_display_update(&m->display, r, &clk);
    }
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    mepmod *m = w->data;
    const mepc_readings *r = host_port_readings(&m->port);
    if (m->mqtt_on)
        host_mqtt_update(&m->mqtt, r, mepc_disc_phases(&m->port.client), host_now_ms());
    if (m->opt.display && m->display.tty) {
        host_clock clk = clock_now(m);
        host_display_update(&m->display, r, &clk);
    }
}

static void on_stop(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    mepmod *m = w->data;
    host_logf(&m->log, HOST_LOG_INFO, "signal %d: shutting down", w->signum);
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    mepmod app; /* the whole program state; passed explicitly from here on */
    memset(&app, 0, sizeof app);
    mepmod *m = &app;
    char err[512];

    switch (host_cli_parse(argc, argv, &m->opt, err, sizeof err)) {
    case HOST_CLI_HELP:
        fputs(host_cli_usage(), stdout);
        return 0;
    case HOST_CLI_VERSION:
        printf("mepmod %s\n", HOST_SW_VERSION);
        return 0;
    case HOST_CLI_ERROR:
        fprintf(stderr, "mepmod: %s\n", err);
        return 2;
    case HOST_CLI_OK:
        break;
    }
    host_log_init(&m->log, "mepmod", m->opt.verbose ? HOST_LOG_DEBUG : HOST_LOG_INFO);
    signal(SIGPIPE, SIG_IGN);
    m->loop = ev_default_loop(EVFLAG_AUTO);
    if (!m->loop) {
        fprintf(stderr, "mepmod: cannot initialise the event loop\n");
        return 2;
    }

    /* the state file first: a corrupt one is a start-up error (host_state.h) */
    if (m->opt.state_dir) {
        if (!host_state_open(&m->state, m->opt.state_dir, err, sizeof err)) {
            fprintf(stderr, "mepmod: %s\n", err);
            return 2;
        }
        m->state_on = true;
        host_logf(&m->log, HOST_LOG_INFO, "state: %s (%s)", m->state.path,
                  m->state.have_blob ? "energy floor loaded" : "no floor yet");
    }

    /* HTTP first: a busy port is a start-up error and should not touch the meter */
    if (!host_http_start(&m->http, m->loop, m->opt.http_bind, m->opt.http_port, http_handler, m,
                         &m->log, err, sizeof err)) {
        fprintf(stderr, "mepmod: %s\n", err);
        return 2;
    }
    bool v6 = strchr(m->opt.http_bind, ':') != NULL;
    snprintf(m->url, sizeof m->url, "http://%s%s%s:%u/", v6 ? "[" : "", m->opt.http_bind,
             v6 ? "]" : "", m->opt.http_port);

    host_port_tls tls;
    memset(&tls, 0, sizeof tls);
    tls.on = m->opt.tls;
    tls.client_id = m->opt.tls_client_id;
    tls.key_id = m->opt.tls_key_id;
    /* docs/mep.md 7.1: PSK = first 16 bytes of the key the Key ID names */
    memcpy(tls.psk, m->opt.tls_key_id ? m->opt.core.mak : m->opt.core.mbk, sizeof tls.psk);
    if (!host_port_start_tls(&m->port, m->loop, m->opt.port, m->opt.control_path, &m->opt.core, &tls,
                             m->state_on ? &m->state : NULL, &m->log, on_update, m, err, sizeof err)) {
        fprintf(stderr, "mepmod: %s\n", err);
        host_http_stop(&m->http);
        return 2;
    }

    if (m->opt.mqtt_host) {
        mosquitto_lib_init();
        m->opt.mqtt.config_url = m->url;
        if (!host_mqtt_open(&m->mqtt, &m->opt.mqtt, &m->log, err, sizeof err)) {
            fprintf(stderr, "mepmod: %s\n", err);
            host_port_stop(&m->port);
            host_http_stop(&m->http);
            mosquitto_lib_cleanup();
            return 2;
        }
        m->mqtt_on = true;
    }
    if (m->opt.display)
        host_display_init(&m->display, stdout, m->url);

    host_logf(&m->log, HOST_LOG_INFO, "serving %s (getDashDataWS, status) for meter port %s%s%s",
              m->url, m->opt.port, m->opt.core.has_mak ? ", MAK access" : ", MBK access",
              m->opt.tls ? (m->opt.tls_key_id ? ", TLS mode (PSK = MAK)" : ", TLS mode (PSK = MBK)")
              : m->opt.core.encrypt ? ", RC4-encrypted" : "");

    ev_timer_init(&m->tick, on_tick, 1.0, 1.0);
    m->tick.data = m;
    ev_timer_start(m->loop, &m->tick);
    if (m->opt.exit_after_s > 0) {
        ev_timer_init(&m->exit_timer, on_stop, m->opt.exit_after_s, 0.0);
        ev_timer_start(m->loop, &m->exit_timer);
    }
    ev_signal_init(&m->sigint, on_signal, SIGINT);
    ev_signal_init(&m->sigterm, on_signal, SIGTERM);
    m->sigint.data = m->sigterm.data = m;
    ev_signal_start(m->loop, &m->sigint);
    ev_signal_start(m->loop, &m->sigterm);

    ev_run(m->loop, 0);

    host_port_flush_state(&m->port);  /* the floor as published at exit */
    if (m->opt.tls) {
        /* end the meter's session: a module started next must not get 0x0A (docs/mep.md 3.5) */
        host_tls_result tr = host_port_tls_close(&m->port, HOST_PORT_CLOSE_WAIT_MS);
        if (tr != HOST_TLS_OK && tr != HOST_TLS_ERR_ARG)
            host_logf(&m->log, HOST_LOG_WARN, "TLS: session not terminated at exit: %s", host_tls_strerror(tr));
    }

    if (m->mqtt_on) {
        host_mqtt_stop(&m->mqtt);
        mosquitto_lib_cleanup();
    }
    host_port_stop(&m->port);
    host_http_stop(&m->http);
    host_dash_cache_free(&m->dash);
    ev_loop_destroy(m->loop);
    return 0;
}
