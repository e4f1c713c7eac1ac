/* ahk_uart_vt.cpp: the board's serial lines in a --virtual-time build (ahk_uart.h's class,
 * ahk_vt.h's clock). The meter line is the UART named by --serial NAME=... or, by default,
 * the board's meter UART (Serial2 on an esp32, Serial1 on an esp32c3); its bytes come from
 * and go to the co-simulation with their virtual times, paced at frame_bits/baud per byte
 * as on a wire. Any other UART is not connected: output is discarded, nothing arrives. */
#include "ahk_uart.h"

#ifdef AHK_VIRTUAL_TIME

#include "ahk_internal.h"
#include "ahk_runtime.h"
#include "ahk_vt.h"

namespace ahk {
namespace {

bool is_meter_line(const char *spec_name)
{
    const Options &o = options();
    if (!o.serials.empty())
        return o.serials.front().name == spec_name;
    return std::string(spec_name) == (o.board == "esp32c3" ? "Serial1" : "Serial2");
}

} // namespace

Uart::~Uart() { end(); }

void Uart::begin(unsigned long baud, unsigned frame_bits, const char *spec_name)
{
    baud_ = baud ? baud : 9600;
    frame_bits_ = frame_bits ? frame_bits : 10;
    path_ = is_meter_line(spec_name) ? "co-simulation" : "";
    if (!path_.empty())
        vt::rx_open(rx_cap_);
    running_ = true;
    log("UART", "%s: %lu baud, %u bits per byte, %s", name_.c_str(), baud_, frame_bits_,
        path_.empty() ? "not connected" : "the co-simulation's meter line (virtual time)");
}

void Uart::end() { running_ = false; }

void Uart::set_baud(unsigned long baud)
{
    if (baud)
        baud_ = baud;
}

int Uart::available()
{
    if (running_ && !path_.empty())
        return vt::rx_available();
    vt::advance(vt::k_q_empty_rx_us);
    return 0;
}

int Uart::peek()
{
    if (running_ && !path_.empty())
        return vt::rx_peek();
    vt::advance(vt::k_q_empty_rx_us);
    return -1;
}

int Uart::read()
{
    if (running_ && !path_.empty())
        return vt::rx_read();
    vt::advance(vt::k_q_empty_rx_us);
    return -1;
}

size_t Uart::read(uint8_t *buf, size_t n)
{
    size_t k = 0;
    int c;
    while (k < n && (c = read()) >= 0)
        buf[k++] = (uint8_t)c;
    return k;
}

size_t Uart::write(const uint8_t *buf, size_t n)
{
    if (!running_)
        return 0;
    if (!path_.empty())
        vt::tx_write(buf, n, baud_, frame_bits_, tx_cap_);
    return n;
}

int Uart::available_for_write() { return running_ && !path_.empty() ? vt::tx_room(tx_cap_) : (int)tx_cap_; }

void Uart::flush_tx()
{
    if (running_ && !path_.empty())
        vt::tx_drain();
}

void Uart::flush_rx()
{
    if (running_ && !path_.empty())
        vt::rx_flush();
}

} // namespace ahk

#endif
