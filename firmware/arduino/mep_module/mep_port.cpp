/* mep_port: the ESP32 (Arduino) port of the MEP client (see mep_port.h). */
#include "mep_port.h"

#include <WiFi.h>

#include "config.h"
#include "mep_settings.h"

/* ---- mepc_hal callbacks (firmware/README.md, "The HAL") ------------------ */
size_t MepPort::hal_uart_write(void *ctx, const uint8_t *p, size_t n)
{
    MepPort *self = static_cast<MepPort *>(ctx);
    /* A request frame is at most ~60 bytes, well inside the UART's 128-byte
     * hardware FIFO, so it leaves without a gap (docs/mep.md 4: <= 50 ms). */
    size_t k = self->pins_.serial->write(p, n);
    self->tx_bytes += (uint32_t)k;
    if (k < n)
        self->tx_short++;
    return k;
}

void MepPort::hal_uart_flush_rx(void *ctx)
{
    MepPort *self = static_cast<MepPort *>(ctx);
    while (self->pins_.serial->available() > 0)
        self->pins_.serial->read();
}

void MepPort::hal_transceiver_power(void *ctx, bool on)
{
    MepPort *self = static_cast<MepPort *>(ctx);
    if (self->pins_.xcvr_pin >= 0)
        digitalWrite(self->pins_.xcvr_pin, on ? HIGH : LOW); /* active high */
    if (self->xcvr_on != on)
        Serial.printf("line: transceiver %s\n", on ? "on" : "off");
    self->xcvr_on = on;
}

void MepPort::hal_meter_enable(void *ctx, bool on)
{
    MepPort *self = static_cast<MepPort *>(ctx);
    digitalWrite(self->pins_.enable_n_pin, on ? LOW : HIGH); /* inverting stage: LOW = asserted */
    if (self->enable_on != on)
        Serial.printf("line: ENABLE %s\n", on ? "asserted" : "released");
    self->enable_on = on;
}

void MepPort::hal_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    if (level > MEP_LOG_LEVEL)
        return;
    Serial.printf("%s core: %s\n", names[(level < 0 || level > 3) ? 3 : level], msg);
}

bool MepPort::hal_store_load(void *ctx, void *blob, size_t len)
{
    (void)ctx;
    return mep_settings_blob_load(blob, len);
}

bool MepPort::hal_store_save(void *ctx, const void *blob, size_t len)
{
    (void)ctx;
    return mep_settings_blob_save(blob, len);
}

/* ---- the port ------------------------------------------------------------- */
void MepPort::begin(const MepPortPins &pins)
{
    pins_ = pins;
    /* safe levels before anything else: ENABLE released, transceiver off.
     * The level is latched before the pin becomes an output, so ENABLE never
     * glitches to asserted (an output starts LOW). */
    digitalWrite(pins_.enable_n_pin, HIGH);
    pinMode(pins_.enable_n_pin, OUTPUT);
    if (pins_.xcvr_pin >= 0) {
        digitalWrite(pins_.xcvr_pin, LOW);
        pinMode(pins_.xcvr_pin, OUTPUT);
    } else {
        xcvr_on = true; /* variant B: the transceiver is always powered */
    }
    pins_.serial->setRxBufferSize(MEP_RX_BUFFER); /* before begin() on ESP32 */
    pins_.serial->begin(MEP_BAUD, SERIAL_8N1, pins_.rx_pin, pins_.tx_pin);

    hal_.ctx = this;
    hal_.uart_write = hal_uart_write;
    hal_.uart_flush_rx = hal_uart_flush_rx;
    hal_.transceiver_power = pins_.xcvr_pin >= 0 ? hal_transceiver_power : NULL; /* variant B: none */
    hal_.meter_enable = hal_meter_enable;
    hal_.log = hal_log;
    hal_.store_load = hal_store_load;
    hal_.store_save = hal_store_save;
    hal_.secure_request = NULL; /* RC4 mode */
}

/* docs/mep.md 10.2: the ET50 identification string ends in a unique ID; the
 * core's default has none. The station MAC is unique per module and stable
 * across restarts, so the meter keeps this module's registration. */
static void set_unique_id(mepc_config *cfg)
{
    uint8_t *id = cfg->ident;
    uint8_t prog_len = id[4];
    size_t at = 5u + prog_len; /* unique-ID length byte */
    if (prog_len > 8 || id[at] != 0 || at + 1 + 6 > sizeof cfg->ident)
        return; /* not the layout expected: keep the core's choice */
    uint8_t mac[6];
    WiFi.macAddress(mac);
    id[at] = 6;
    for (int i = 0; i < 6; i++)
        id[at + 1 + (size_t)i] = mac[i];
}

void MepPort::flush_store()
{
    if (running_)
        mepc_store_flush(&client_, millis());
}

void MepPort::start(const mepc_config &cfg)
{
    flush_store(); /* a key change restarts the client: keep what it published */
    mepc_config local = cfg;
    set_unique_id(&local);
    hal_uart_flush_rx(this);
    mepc_init(&client_, &hal_, &local, millis());
    running_ = true;
    next_run_ms_ = millis();
}

void MepPort::loop()
{
    if (!running_)
        return;
    uint8_t buf[128];
    bool got = false;
    int avail;
    /* bytes are stamped with the time loop() saw them: the core's 500 ms
     * reply timeout (docs/mep.md 4) is far above one pass of this loop */
    while ((avail = pins_.serial->available()) > 0) {
        size_t n = (size_t)avail < sizeof buf ? (size_t)avail : sizeof buf;
        size_t k = 0;
        while (k < n) {
            int b = pins_.serial->read();
            if (b < 0)
                break;
            buf[k++] = (uint8_t)b;
        }
        if (k == 0)
            break;
        rx_bytes += (uint32_t)k;
        mepc_rx(&client_, buf, k, millis());
        got = true;
    }
    uint32_t now = millis();
    /* run right after a reply (the next request may go at once), else when due */
    if (got || (int32_t)(now - next_run_ms_) >= 0) {
        uint32_t wait = mepc_run(&client_, now);
        next_run_ms_ = now + (wait > 1000u ? 1000u : wait);
    }
}
