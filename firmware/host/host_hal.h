/* host_hal: the POSIX port of the module firmware core (mepc) - the one file
 * an ESP-IDF port would replace (see firmware/README.md).
 *
 * Owns: the mepc_hal callbacks (UART write/flush via host_serial, transceiver
 * power and ENABLE reported to the emulator via host_linectl, log, the
 * energy floor store through host_state when --state-dir is given), the monotonic millisecond clock, and driving the core
 * from libev: received bytes -> mepc_rx, then mepc_run on a timer at the
 * delay it returns. The MEP client lives inside this struct; nothing here
 * waits on the network.
 *
 * TLS mode (docs/mep.md 3.5/7): the core hands bare C12.18 requests to
 * hal.secure_request; host_tls (step API) turns each into MEP frames
 * (handshake on demand, re-handshake after 0x0A), this file writes them,
 * cuts the meter's reply frames out of the serial stream, applies the
 * 500 ms reply timeout on a libev timer and reports the bare response (or
 * the failure) back to the core. Never blocks the loop.
 */
#ifndef HOST_HAL_H
#define HOST_HAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "host_linectl.h"
#include "host_log.h"
#include "host_serial.h"
#include "host_state.h"
#include "host_tls.h"
#include "mepc.h"

/* TLS mode settings (mepmod --tls; docs/mep.md 7.1). */
typedef struct {
    bool on;
    uint16_t client_id;            /* PSK identity bytes 0-1, LSB first */
    uint8_t key_id;                /* 0 = MBK, 1 = MAK */
    uint8_t psk[16];               /* first 16 bytes of that key */
} host_port_tls;

typedef struct host_port host_port;
/* Called on the event loop whenever the readings generation changed. */
typedef void (*host_port_update_fn)(void *ctx, const mepc_readings *r);

struct host_port {
    mepc_client client;
    mepc_hal hal;
    host_serial serial;
    host_linectl linectl;
    bool have_linectl;
    bool transceiver_on, enable_on;
    bool transceiver_known;        /* the core has switched the transceiver at least once */
    struct ev_loop *loop;
    ev_timer run_timer;
    const host_log *log;
    host_port_update_fn on_update;
    void *update_ctx;
    uint32_t last_generation;
    uint32_t rx_dropped_while_off; /* bytes received while our transceiver was off */
    /* TLS mode (NULL: RC4 mode) */
    host_tls *tls;
    ev_timer tls_timer;            /* reply timeout, or a deferred report */
    bool tls_wait;                 /* a frame is out, its reply not yet in */
    bool tls_report;               /* tls_result must reach the core from the loop */
    host_tls_result tls_result;
    uint8_t tls_rx[MEP_MAX_FRAME]; /* reply frame being reassembled */
    size_t tls_rx_have;
    uint32_t tls_last_rx, tls_sent_at, tls_limit_ms;
    uint32_t tls_alerts, tls_stray, tls_timeouts;
    host_state *state;             /* --state-dir (NULL: no persistent store) */
    bool closing;                  /* host_port_tls_close: the core runs no more */
    bool close_sent;               /* TLS_TERMINATE is out (after the frame in flight, if any) */
    bool close_done;
};

/* Monotonic milliseconds (wrapping uint32, what mepc expects). */
uint32_t host_now_ms(void);

/* Open the port (errors name the port: main exits 2), set up the line
 * reporting if control_path is not NULL, and start the core. */
bool host_port_start(host_port *p, struct ev_loop *loop, const char *port_path,
                     const char *control_path, const mepc_config *cfg, const host_log *log,
                     host_port_update_fn on_update, void *update_ctx, char *err, size_t errlen);
/* The same with TLS mode settings (tls NULL or !tls->on: RC4 mode) and
 * the energy floor store (state NULL: none; else opened, and the core saves
 * through it: at most every HOST_STATE_PERIOD_MS, publishing only saved
 * values, so a kill -9 never loses a floor below what was published). */
#define HOST_STATE_PERIOD_MS 5000u
bool host_port_start_tls(host_port *p, struct ev_loop *loop, const char *port_path,
                         const char *control_path, const mepc_config *cfg, const host_port_tls *tls,
                         host_state *state, const host_log *log, host_port_update_fn on_update,
                         void *update_ctx, char *err, size_t errlen);
/* Save the energy floor now (clean exit). */
void host_port_flush_state(host_port *p);
/* Clean exit in TLS mode: send TLS_TERMINATE (docs/mep.md 3.5) so the meter
 * ends the session and a module that talks to it next (RC4 or TLS) is not
 * refused with 0x0A. Runs the loop (the core no longer) until the meter
 * answers, the reply timeout passes, or wait_ms is over. Nothing to do in
 * RC4 mode, without a session, or with the transceiver off.
 * @return HOST_TLS_OK (terminated), the failure, or HOST_TLS_ERR_ARG if
 *         nothing was sent. */
#define HOST_PORT_CLOSE_WAIT_MS 1500u
host_tls_result host_port_tls_close(host_port *p, uint32_t wait_ms);
const mepc_readings *host_port_readings(const host_port *p);
void host_port_stop(host_port *p);

#endif
