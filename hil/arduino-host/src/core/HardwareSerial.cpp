/* HardwareSerial.cpp: the ESP32 core's UARTs (see HardwareSerial.h). */
#include "HardwareSerial.h"

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "ahk_runtime.h"
#include "ahk_uart.h"
#include "ahk_vt.h"

HardwareSerial Serial(0);
HardwareSerial Serial1(1);
#if SOC_UART_NUM > 2
HardwareSerial Serial2(2);
#endif

namespace {

/* bits on the wire per byte: start + data + parity + stop (ESP32 core config values) */
unsigned frame_bits(uint32_t config)
{
    unsigned data = ((config >> 2) & 3u) + 5u;
    unsigned parity = (config & 3u) ? 1u : 0u;
    unsigned stop = (config & 0x30u) == 0x30u ? 2u : 1u;
    return 1u + data + parity + stop;
}

const char *uart_name(int nr) { return nr == 1 ? "Serial1" : nr == 2 ? "Serial2" : "Serial"; }

} // namespace

HardwareSerial::HardwareSerial(int uart_nr) : uart_nr_(uart_nr) {}

HardwareSerial::~HardwareSerial() { delete uart_; }

void HardwareSerial::begin(unsigned long baud, uint32_t config, int8_t rxPin, int8_t txPin, bool invert,
                           unsigned long timeout_ms, uint8_t rxfifo_full_thrhd)
{
    (void)rxPin;
    (void)txPin;
    (void)timeout_ms;
    (void)rxfifo_full_thrhd;
    if (invert)
        ahk::log("UART", "%s: begin(invert=true): the line would be inverted; the kit passes bytes unchanged",
                 uart_name(uart_nr_));
    baud_ = baud ? baud : 115200;
    begun_ = true;
    if (uart_nr_ == 0)
        return;
    if (!uart_)
        uart_ = new ahk::Uart(uart_name(uart_nr_));
    uart_->begin(baud_, frame_bits(config), uart_name(uart_nr_));
}

void HardwareSerial::end(bool fullyTerminate)
{
    (void)fullyTerminate;
    if (uart_)
        uart_->end();
    begun_ = false;
}

void HardwareSerial::updateBaudRate(unsigned long baud)
{
    baud_ = baud;
    if (uart_)
        uart_->set_baud(baud);
}

uint32_t HardwareSerial::baudRate() { return begun_ ? (uint32_t)baud_ : 0; }

HardwareSerial::operator bool() const { return true; }

size_t HardwareSerial::setRxBufferSize(size_t new_size)
{
    if (uart_nr_ == 0)
        return new_size;
    if (!uart_)
        uart_ = new ahk::Uart(uart_name(uart_nr_));
    return uart_->set_rx_capacity(new_size);
}

size_t HardwareSerial::setTxBufferSize(size_t new_size)
{
    if (uart_nr_ == 0)
        return new_size;
    if (!uart_)
        uart_ = new ahk::Uart(uart_name(uart_nr_));
    return uart_->set_tx_capacity(new_size);
}

bool HardwareSerial::setPins(int8_t rxPin, int8_t txPin, int8_t ctsPin, int8_t rtsPin)
{
    (void)rxPin, (void)txPin, (void)ctsPin, (void)rtsPin;
    return true;
}

/* ---- the console (UART0): stdin in, the board log out ---------------------------- */
int HardwareSerial::console_fill()
{
    if (in_char_ >= 0)
        return 1;
    if (ahk::vt::enabled) /* a virtual board has no console input */
        return 0;
    struct pollfd p = {0, POLLIN, 0};
    unsigned char c;
    if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN) && ::read(0, &c, 1) == 1)
        in_char_ = c;
    return in_char_ >= 0;
}

void HardwareSerial::console_write(const uint8_t *p, size_t n)
{
    /* pacing: the console is a 115200 (or begin()) baud UART with a 128-byte FIFO, so a
     * sketch that prints a lot is slowed down as on the board */
    unsigned long baud = baud_ ? baud_ : 115200;
    uint64_t now = ahk::now_us();
    uint64_t start = busy_until_us_ > now ? busy_until_us_ : now;
    busy_until_us_ = start + (uint64_t)n * 10u * 1000000u / baud;
    uint64_t fifo_us = 128u * 10u * 1000000u / baud;
    if (ahk::vt::enabled) {
        ahk::vt::note_io();
        if (busy_until_us_ > now + fifo_us)
            ahk::vt::advance(busy_until_us_ - fifo_us - now);
    } else if (busy_until_us_ > now + fifo_us) {
        uint64_t wait = busy_until_us_ - fifo_us - now;
        struct timespec ts = {(time_t)(wait / 1000000u), (long)(wait % 1000000u) * 1000L};
        nanosleep(&ts, nullptr);
    }
    for (size_t i = 0; i < n; i++) {
        char c = (char)p[i];
        if (c == '\r')
            continue;
        if (c == '\n' || line_len_ == sizeof line_ - 1) {
            line_[line_len_] = '\0';
            ahk::log("Serial", "%s", line_);
            line_len_ = 0;
            if (c == '\n')
                continue;
        }
        line_[line_len_++] = c;
    }
}

int HardwareSerial::available(void)
{
    if (uart_nr_ == 0)
        return console_fill();
    return uart_ ? uart_->available() : 0;
}

int HardwareSerial::availableForWrite(void)
{
    if (uart_nr_ == 0)
        return 128;
    return uart_ && uart_->running() ? uart_->available_for_write() : 0;
}

int HardwareSerial::peek(void)
{
    if (uart_nr_ == 0)
        return console_fill() ? in_char_ : -1;
    return uart_ ? uart_->peek() : -1;
}

int HardwareSerial::read(void)
{
    if (uart_nr_ == 0) {
        if (!console_fill())
            return -1;
        int c = in_char_;
        in_char_ = -1;
        return c;
    }
    return uart_ ? uart_->read() : -1;
}

size_t HardwareSerial::read(uint8_t *buffer, size_t size)
{
    if (uart_nr_ != 0)
        return uart_ ? uart_->read(buffer, size) : 0;
    size_t n = 0;
    int c;
    while (n < size && (c = read()) >= 0)
        buffer[n++] = (uint8_t)c;
    return n;
}

void HardwareSerial::flush(void) { flush(true); }

/* ESP32 core: flush() waits until the last byte has left; flush(false) also drops the input */
void HardwareSerial::flush(bool txOnly)
{
    if (uart_nr_ == 0) {
        uint64_t now = ahk::now_us();
        if (ahk::vt::enabled) {
            if (busy_until_us_ > now)
                ahk::vt::advance(busy_until_us_ - now);
        } else if (busy_until_us_ > now) {
            uint64_t wait = busy_until_us_ - now;
            struct timespec ts = {(time_t)(wait / 1000000u), (long)(wait % 1000000u) * 1000L};
            nanosleep(&ts, nullptr);
        }
        return;
    }
    if (!uart_)
        return;
    uart_->flush_tx();
    if (!txOnly)
        uart_->flush_rx();
}

size_t HardwareSerial::write(uint8_t c) { return write(&c, 1); }

size_t HardwareSerial::write(const uint8_t *buffer, size_t size)
{
    if (uart_nr_ == 0) {
        console_write(buffer, size);
        return size;
    }
    return uart_ ? uart_->write(buffer, size) : 0;
}
