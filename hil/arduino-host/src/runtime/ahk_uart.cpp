/* ahk_uart.cpp: a meter serial line (see ahk_uart.h).
 *
 * The device is opened with plain open() + termios raw mode, not libserialport:
 * libserialport refuses pseudo-terminals (sp_get_port_by_name() returns SP_ERR_ARG for
 * /dev/pts/N, it only knows devices it finds in sysfs), and the rig's meter is usually a PTY.
 * termios is all a PTY or a real UART needs for raw 8N1 at a standard rate. */
#include "ahk_uart.h"

#include "ahk_internal.h"
#include "ahk_runtime.h"

namespace ahk {

/* buffer sizes: the same rules in both variants */
size_t Uart::set_rx_capacity(size_t n)
{
    if (running_) {
        log("UART", "%s: setRxBufferSize(%zu) after begin() is ignored, as on the board", name_.c_str(), n);
        return 0;
    }
    rx_cap_ = n;
    return rx_cap_;
}

size_t Uart::set_tx_capacity(size_t n)
{
    if (running_)
        return 0;
    tx_cap_ = n > 128 ? n : 128;
    return n;
}

} // namespace ahk

#ifndef AHK_VIRTUAL_TIME /* the virtual-time line is ahk_uart_vt.cpp */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

namespace ahk {
namespace {

uint64_t mono_ns()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

speed_t termios_speed(unsigned long baud)
{
    switch (baud) {
    case 1200: return B1200;
    case 2400: return B2400;
    case 4800: return B4800;
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    case 230400: return B230400;
    case 460800: return B460800;
    case 921600: return B921600;
    default: return B0;
    }
}

constexpr uint64_t k_reopen_ns = 500000000ull; /* retry a vanished device twice a second */

} // namespace

Uart::~Uart() { end(); }

void Uart::begin(unsigned long baud, unsigned frame_bits, const char *spec_name)
{
    end();
    baud_ = baud ? baud : 9600;
    frame_bits_ = frame_bits ? frame_bits : 10;
    path_.clear();
    line_baud_ = 0;
    for (const SerialSpec &s : options().serials)
        if (s.name == spec_name) {
            path_ = s.path;
            line_baud_ = s.baud;
        }
    if (path_.empty())
        log("UART", "%s: begin(%lu) but no --serial %s=PATH was given: output is discarded, nothing is received",
            name_.c_str(), baud_, spec_name);
    else if (line_baud_ && line_baud_ != baud_)
        log("UART", "%s: begin(%lu) but the line on %s runs at %lu baud: the meter would see garbage", name_.c_str(),
            baud_, path_.c_str(), line_baud_);
    {
        std::lock_guard<std::mutex> lock(mu_);
        rx_.clear();
        tx_.clear();
        in_flight_ = false;
        stop_ = false;
    }
    if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
        log("UART", "%s: cannot create a pipe: %s", name_.c_str(), strerror(errno));
        return;
    }
    if (!path_.empty())
        open_device();
    running_ = true;
    thread_ = std::thread(&Uart::thread_main, this);
    log("UART", "%s: %lu baud, %u bits per byte, %s", name_.c_str(), baud_, frame_bits_,
        path_.empty() ? "not connected" : path_.c_str());
}

void Uart::end()
{
    if (!running_)
        return;
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    char c = 0;
    (void)!::write(wake_[1], &c, 1);
    thread_.join();
    close_device();
    close(wake_[0]);
    close(wake_[1]);
    wake_[0] = wake_[1] = -1;
    running_ = false;
    cv_.notify_all();
}

void Uart::set_baud(unsigned long baud)
{
    std::lock_guard<std::mutex> lock(mu_);
    if (baud)
        baud_ = baud;
}

bool Uart::open_device()
{
    int fd = open(path_.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct termios t;
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        t.c_cflag |= CLOCAL | CREAD;
        t.c_cc[VMIN] = 0;
        t.c_cc[VTIME] = 0;
        speed_t sp = termios_speed(baud_);
        if (sp != B0) {
            cfsetispeed(&t, sp);
            cfsetospeed(&t, sp);
        }
        tcsetattr(fd, TCSANOW, &t);
    }
    fd_ = fd;
    return true;
}

void Uart::close_device()
{
    if (fd_ >= 0)
        close(fd_);
    fd_ = -1;
}

void Uart::thread_main()
{
    const uint64_t byte_ns = (uint64_t)frame_bits_ * 1000000000ull / baud_;
    uint64_t last_end = 0, due = 0, next_open = 0;
    uint8_t cur = 0;
    bool chained = false; /* the next byte follows the previous one without a gap */
    bool was_off = false;
    bool warned_missing = false;
    for (;;) {
        uint64_t now = mono_ns();
        {
            std::unique_lock<std::mutex> lock(mu_);
            if (stop_)
                return;
            if (!in_flight_ && !tx_.empty()) {
                cur = tx_.front();
                tx_.pop_front();
                in_flight_ = true;
                /* back-to-back bytes keep the wire's schedule even when this thread wakes
                 * late (it then catches up), so the average rate is exactly the baud rate */
                due = (chained ? last_end : (last_end > now ? last_end : now)) + byte_ns;
                cv_.notify_all(); /* room in the FIFO */
            }
        }
        if (fd_ < 0 && !path_.empty() && now >= next_open) {
            if (open_device()) {
                log("UART", "%s: %s open", name_.c_str(), path_.c_str());
                warned_missing = false;
            } else {
                if (!warned_missing)
                    log("UART", "%s: cannot open %s: %s (retrying)", name_.c_str(), path_.c_str(), strerror(errno));
                warned_missing = true;
                next_open = now + k_reopen_ns;
            }
        }
        struct pollfd pfd[2] = {{wake_[0], POLLIN, 0}, {fd_, POLLIN, 0}};
        uint64_t wait_ns = UINT64_MAX;
        if (in_flight_)
            wait_ns = due > now ? due - now : 0;
        if (fd_ < 0 && !path_.empty()) {
            uint64_t w = next_open > now ? next_open - now : 0;
            wait_ns = w < wait_ns ? w : wait_ns;
        }
        struct timespec ts = {(time_t)(wait_ns / 1000000000ull), (long)(wait_ns % 1000000000ull)};
        int n = ppoll(pfd, fd_ >= 0 ? 2 : 1, wait_ns == UINT64_MAX ? nullptr : &ts, nullptr);
        if (n > 0 && (pfd[0].revents & POLLIN)) {
            char junk[64];
            while (::read(wake_[0], junk, sizeof junk) > 0) {
            }
        }
        if (n > 0 && fd_ >= 0 && pfd[1].revents) {
            uint8_t buf[512];
            ssize_t got = ::read(fd_, buf, sizeof buf);
            if (got > 0) {
                bool pass = rx_passes();
                std::lock_guard<std::mutex> lock(mu_);
                for (ssize_t i = 0; i < got; i++) {
                    if (!pass)
                        rx_dropped_off_++;
                    else if (rx_.size() < rx_cap_)
                        rx_.push_back(buf[i]);
                    else
                        rx_overflow_++;
                }
            } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                /* the PTY's other side went away (EIO/HUP): reopen when it is back */
                log("UART", "%s: %s closed (%s); reopening", name_.c_str(), path_.c_str(),
                    got == 0 ? "end of file" : strerror(errno));
                close_device();
                next_open = mono_ns() + k_reopen_ns;
            }
        }
        bool off = !rx_passes();
        if (was_off && !off && rx_dropped_off_) {
            log("UART", "%s: dropped %llu bytes received while the transceiver was off", name_.c_str(),
                (unsigned long long)rx_dropped_off_);
            rx_dropped_off_ = 0;
        }
        was_off = off;
        if (in_flight_ && mono_ns() >= due) {
            if (fd_ >= 0 && ::write(fd_, &cur, 1) != 1 && errno != EAGAIN)
                log("UART", "%s: write to %s failed: %s", name_.c_str(), path_.c_str(), strerror(errno));
            last_end = due;
            std::lock_guard<std::mutex> lock(mu_);
            in_flight_ = false;
            chained = !tx_.empty();
            cv_.notify_all();
        }
    }
}

int Uart::available()
{
    std::lock_guard<std::mutex> lock(mu_);
    return (int)rx_.size();
}

int Uart::peek()
{
    std::lock_guard<std::mutex> lock(mu_);
    return rx_.empty() ? -1 : rx_.front();
}

int Uart::read()
{
    std::lock_guard<std::mutex> lock(mu_);
    if (rx_.empty())
        return -1;
    int c = rx_.front();
    rx_.pop_front();
    return c;
}

size_t Uart::read(uint8_t *buf, size_t n)
{
    std::lock_guard<std::mutex> lock(mu_);
    size_t k = 0;
    while (k < n && !rx_.empty()) {
        buf[k++] = rx_.front();
        rx_.pop_front();
    }
    return k;
}

size_t Uart::write(const uint8_t *buf, size_t n)
{
    if (!running_)
        return 0;
    std::unique_lock<std::mutex> lock(mu_);
    for (size_t i = 0; i < n; i++) {
        cv_.wait(lock, [&] { return tx_.size() < tx_cap_ || stop_; });
        bool idle_line = tx_.empty() && !in_flight_;
        tx_.push_back(buf[i]);
        if (idle_line) {
            char c = 0;
            (void)!::write(wake_[1], &c, 1);
        }
    }
    return n;
}

int Uart::available_for_write()
{
    std::lock_guard<std::mutex> lock(mu_);
    return (int)(tx_cap_ - tx_.size());
}

void Uart::flush_tx()
{
    if (!running_)
        return;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return (tx_.empty() && !in_flight_) || stop_; });
}

void Uart::flush_rx()
{
    std::lock_guard<std::mutex> lock(mu_);
    rx_.clear();
}

} // namespace ahk

#endif
