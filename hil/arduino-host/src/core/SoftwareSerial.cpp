/* SoftwareSerial.cpp: EspSoftwareSerial::UART on a kit meter line (see SoftwareSerial.h). */
#include "SoftwareSerial.h"

#include "ahk_runtime.h"
#include "ahk_uart.h"

namespace EspSoftwareSerial {

namespace {
/* --serial SoftwareSerial=PATH belongs to the first instance that begins */
const UART *&line_owner()
{
    static const UART *owner = nullptr;
    return owner;
}
} // namespace

UART::UART() {}

UART::UART(int8_t rxPin, int8_t txPin, bool invert) : rx_pin_(rxPin), tx_pin_(txPin), invert_(invert) {}

UART::~UART()
{
    if (line_owner() == this)
        line_owner() = nullptr;
    delete uart_;
}

void UART::begin(uint32_t baud, Config config, int8_t rxPin, int8_t txPin, bool invert, int bufCapacity,
                 int isrBufCapacity)
{
    (void)isrBufCapacity;
    if (rxPin >= 0)
        rx_pin_ = rxPin;
    if (txPin >= 0)
        tx_pin_ = txPin;
    invert_ = invert;
    if (rx_pin_ < 0 && tx_pin_ < 0) {
        ahk::log("UART", "SoftwareSerial: begin() without pins: the library refuses this configuration");
        return;
    }
    unsigned data = (config & 7u) + 5u;
    unsigned parity = ((config >> 3) & 7u) ? 1u : 0u;
    unsigned stop = ((config >> 6) & 1u) + 1u;
    if (!uart_)
        uart_ = new ahk::Uart("SoftwareSerial");
    if (!line_owner())
        line_owner() = this;
    uart_->end();
    uart_->set_rx_capacity(bufCapacity > 0 ? (size_t)bufCapacity : 64);
    uart_->begin(baud, 1u + data + parity + stop, line_owner() == this ? "SoftwareSerial" : "(none)");
}

void UART::end()
{
    if (uart_)
        uart_->end();
}

uint32_t UART::baudRate() { return uart_ && uart_->running() ? (uint32_t)uart_->baud() : 0; }
bool UART::listen() { return uart_ && uart_->running(); }
bool UART::isListening() { return uart_ && uart_->running(); }
bool UART::stopListening() { return true; }

bool UART::overflow()
{
    uint64_t n = uart_ ? uart_->overflows() : 0;
    bool more = n != overflow_seen_;
    overflow_seen_ = n;
    return more;
}

UART::operator bool() const { return uart_ && uart_->running(); }

int UART::available() { return uart_ && rx_enabled_ ? uart_->available() : 0; }
int UART::availableForWrite() { return uart_ && uart_->running() ? uart_->available_for_write() : 0; }
int UART::peek() { return uart_ && rx_enabled_ ? uart_->peek() : -1; }
int UART::read() { return uart_ && rx_enabled_ ? uart_->read() : -1; }
size_t UART::read(uint8_t *buffer, size_t size) { return uart_ && rx_enabled_ ? uart_->read(buffer, size) : 0; }
void UART::flush()
{
    if (uart_)
        uart_->flush_tx();
}
size_t UART::write(uint8_t byte) { return write(&byte, 1); }
/* the library bit-bangs TX: write() returns when the last stop bit has been sent */
size_t UART::write(const uint8_t *buffer, size_t size)
{
    if (!uart_)
        return 0;
    size_t n = uart_->write(buffer, size);
    uart_->flush_tx();
    return n;
}

} // namespace EspSoftwareSerial
