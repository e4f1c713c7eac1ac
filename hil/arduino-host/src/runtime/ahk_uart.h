/* ahk_uart.h: one meter serial line of the board (HardwareSerial Serial1/Serial2 or a
 * SoftwareSerial), connected to the PTY or UART named by --serial NAME=PATH.
 *
 * Timing is that of a wire: every byte leaves when its last (stop) bit would, frame_bits/baud
 * after the previous one, so a 20-byte request at 9600 8N1 takes 20.8 ms to arrive at the
 * meter. write() blocks, like the board's UART driver without a TX ring, while more than the
 * 128-byte hardware FIFO is waiting; flush() returns when the last byte is out. Received
 * bytes go into the RX buffer (256 bytes unless setRxBufferSize said otherwise); on overflow
 * new bytes are dropped and counted, as on the board. While the board's transceiver supply
 * line is off, received bytes are dropped (ahk::rx_passes).
 *
 * A helper thread per line owns the descriptor: it paces TX and drains RX, so the bytes move
 * while the sketch is busy, as with the board's UART hardware. */
#ifndef AHK_UART_H
#define AHK_UART_H

#include <stddef.h>
#include <stdint.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace ahk {

class Uart {
public:
    explicit Uart(const char *name) : name_(name) {}
    ~Uart();
    Uart(const Uart &) = delete;
    Uart &operator=(const Uart &) = delete;

    /* start at baud with frame_bits per byte (10 for 8N1); spec_name picks the --serial entry */
    void begin(unsigned long baud, unsigned frame_bits, const char *spec_name);
    void end();
    bool running() const { return running_; }
    unsigned long baud() const { return baud_; }
    void set_baud(unsigned long baud);
    /* before begin(), as the board requires; returns the size in effect */
    size_t set_rx_capacity(size_t n);
    size_t set_tx_capacity(size_t n);

    int available();
    int peek();
    int read();
    size_t read(uint8_t *buf, size_t n);
    size_t write(const uint8_t *buf, size_t n);
    int available_for_write();
    void flush_tx();  /* wait until every byte is on the wire */
    void flush_rx();  /* drop what was received */
    uint64_t overflows() const { return rx_overflow_; }

private:
    void thread_main();
    bool open_device();
    void close_device();

    std::string name_;
    std::string path_;
    unsigned long baud_ = 0;
    unsigned long line_baud_ = 0;
    unsigned frame_bits_ = 10;
    size_t rx_cap_ = 256;
    size_t tx_cap_ = 128; /* the board's TX FIFO */
    bool running_ = false;

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<uint8_t> rx_;
    std::deque<uint8_t> tx_;
    bool in_flight_ = false; /* a byte taken from tx_ is still on the wire */
    uint64_t rx_overflow_ = 0;
    uint64_t rx_dropped_off_ = 0;
    bool stop_ = false;
    int fd_ = -1;
    int wake_[2] = {-1, -1};
    std::thread thread_;
};

} // namespace ahk

#endif
