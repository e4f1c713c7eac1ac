/* host_hal: the POSIX port of the module firmware core (mepc) - the one file
 * an ESP-IDF port would replace (see firmware/README.md).
 *
 * Owns: the mepc_hal callbacks (UART write/flush via host_serial, transceiver
 * power and ENABLE reported to the emulator via host_linectl, log, no
 * persistent store), the monotonic millisecond clock, and driving the core
 * from libev: received bytes -> mepc_rx, then mepc_run on a timer at the
 * delay it returns. The MEP client lives inside this struct; nothing here
 * waits on the network.
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
#include "mepc.h"

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
};

/* Monotonic milliseconds (wrapping uint32, what mepc expects). */
uint32_t host_now_ms(void);

/* Open the port (errors name the port: main exits 2), set up the line
 * reporting if control_path is not NULL, and start the core. */
bool host_port_start(host_port *p, struct ev_loop *loop, const char *port_path,
                     const char *control_path, const mepc_config *cfg, const host_log *log,
                     host_port_update_fn on_update, void *update_ctx, char *err, size_t errlen);
const mepc_readings *host_port_readings(const host_port *p);
void host_port_stop(host_port *p);

#endif
