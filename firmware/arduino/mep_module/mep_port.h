/* mep_port: the ESP32 (Arduino) port of the firmware/core MEP client.
 *
 * Owns: the mepc_hal of this board (firmware/README.md, "The HAL"): the meter
 * UART (9600 8N1 on a HardwareSerial), the two control lines (ENABLE through
 * an inverting stage, LOW = asserted; MAX3232 supply, HIGH = powered, absent
 * on the ESP32-C3 variant), the core's log on the console, the energy-floor
 * blob in NVS, and driving the core from loop(): bytes in -> mepc_rx, then
 * mepc_run when it asked to run again. Everything else (HTTP, MQTT) only
 * reads the snapshot from readings().
 */
#ifndef MEP_PORT_H
#define MEP_PORT_H

#include <Arduino.h>

extern "C" {
#include "src/firmware/core/mepc.h"
}

typedef struct {
    HardwareSerial *serial;
    int rx_pin, tx_pin;
    int enable_n_pin;        /* ENABLE, active low */
    int xcvr_pin;            /* transceiver supply, active high; < 0 = none (variant B) */
} MepPortPins;

class MepPort {
public:
    /* Pins to their safe levels (ENABLE released, transceiver off) and the
     * UART opened; the core is not started yet. */
    void begin(const MepPortPins &pins);
    /* (Re)start the core with cfg; a unique ID from the WiFi MAC goes into
     * the ET50 identification string (docs/mep.md 10.2). */
    void start(const mepc_config &cfg);
    bool running() const { return running_; }
    /* Save the core's energy floor now (before a restart or a re-start()). */
    void flush_store();
    /* Call from loop(): moves received bytes into the core and runs it. */
    void loop();
    /* The current snapshot; NULL until start(). Valid until the next loop(). */
    const mepc_readings *readings() const { return running_ ? mepc_get_readings(&client_) : NULL; }

    uint32_t rx_bytes = 0, tx_bytes = 0, tx_short = 0;
    bool xcvr_on = false, enable_on = false;

private:
    static size_t hal_uart_write(void *ctx, const uint8_t *p, size_t n);
    static void hal_uart_flush_rx(void *ctx);
    static void hal_transceiver_power(void *ctx, bool on);
    static void hal_meter_enable(void *ctx, bool on);
    static void hal_log(void *ctx, int level, const char *msg);
    static bool hal_store_load(void *ctx, void *blob, size_t len);
    static bool hal_store_save(void *ctx, const void *blob, size_t len);

    MepPortPins pins_ = {NULL, -1, -1, -1, -1};
    mepc_hal hal_ = {};
    mepc_client client_;     /* fixed size (mepc.h); this object is allocated statically */
    bool running_ = false;
    uint32_t next_run_ms_ = 0;
};

#endif
