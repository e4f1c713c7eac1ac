/* test_core_uart.cpp: Serial2 on a PTY as on the board: at 9600 8N1 a byte takes 10 bit times
 * (1.042 ms), so 96 bytes written at once reach the meter's side over ~100 ms, not in one
 * burst; flush() returns when the last one is out. Bounds are generous (90-250 ms for the
 * whole burst; at least 80 ms between the first and the last byte) because the host, and
 * qemu-i386 for a 32-bit build, add scheduling delay but never speed the line up.
 * Also: the 256-byte RX buffer drops what overflows it, and bytes received while the
 * transceiver supply (GPIO32) is off are dropped, as an unpowered MAX3232 passes nothing. */
#include "Arduino.h"
#include "test_core_util.h"

#include <fcntl.h>
#include <thread>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

namespace {

int open_master(std::string &slave)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0)
        return -1;
    slave = ptsname(m);
    struct termios t;
    tcgetattr(m, &t);
    cfmakeraw(&t);
    tcsetattr(m, TCSANOW, &t);
    return m;
}

void pacing(int m)
{
    uint8_t out[96];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (uint8_t)i;
    size_t got = 0;
    uint64_t first = 0, last = 0;
    uint8_t in[128];
    /* the meter's side reads while the board writes */
    std::thread reader([&] {
        uint64_t start = test_mono_us();
        while (got < sizeof out && test_mono_us() - start < 2000000u) {
            struct pollfd p = {m, POLLIN, 0};
            if (poll(&p, 1, 50) == 1) {
                ssize_t n = read(m, in + got, sizeof in - got);
                if (n > 0) {
                    if (!got)
                        first = test_mono_us();
                    got += (size_t)n;
                    last = test_mono_us();
                }
            }
        }
    });
    uint64_t t0 = test_mono_us();
    CHECK(Serial2.write(out, sizeof out) == sizeof out, "write");
    uint64_t t_written = test_mono_us();
    Serial2.flush();
    uint64_t t_flushed = test_mono_us();
    reader.join();
    CHECK(got == sizeof out && !memcmp(in, out, sizeof out), "all 96 bytes arrive in order (%zu)", got);
    double total_ms = (double)(last - t0) / 1000.0, spread_ms = (double)(last - first) / 1000.0;
    printf("uart pacing: 96 bytes at 9600 baud: write() returned after %.1f ms, flush() after %.1f ms, "
           "last byte at %.1f ms, first-to-last %.1f ms (ideal 100.0 / 99.0)\n",
           (double)(t_written - t0) / 1000.0, (double)(t_flushed - t0) / 1000.0, total_ms, spread_ms);
    CHECK(total_ms >= 90.0 && total_ms <= 250.0, "the burst took %.1f ms", total_ms);
    CHECK(spread_ms >= 80.0, "bytes were spread over %.1f ms", spread_ms);
    CHECK((t_flushed - t0) >= 90000u, "flush() waited for the wire (%.1f ms)", (double)(t_flushed - t0) / 1000.0);
    CHECK((t_written - t0) < 50000u, "write() returned once the 128-byte FIFO took the bytes");
}

void wait_ms(unsigned ms) { delay(ms); }

void receive(int m)
{
    uint8_t big[300];
    memset(big, 'x', sizeof big);
    CHECK(write(m, big, sizeof big) == (ssize_t)sizeof big, "meter side write");
    wait_ms(100);
    CHECK(Serial2.available() == 256, "the RX buffer holds 256 bytes, the rest is dropped (%d)", Serial2.available());
    while (Serial2.read() >= 0) {
    }
    pinMode(32, OUTPUT); /* LOW: transceiver unpowered */
    CHECK(write(m, "abc", 3) == 3, "write");
    wait_ms(60);
    CHECK(Serial2.available() == 0, "nothing passes an unpowered transceiver (%d)", Serial2.available());
    digitalWrite(32, HIGH);
    wait_ms(20);
    CHECK(write(m, "xyz", 3) == 3, "write");
    wait_ms(60);
    CHECK(Serial2.available() == 3 && Serial2.peek() == 'x' && Serial2.read() == 'x', "powered: bytes arrive");
    uint8_t two[2];
    CHECK(Serial2.read(two, 2) == 2 && two[0] == 'y' && two[1] == 'z', "read(buf, n)");
    CHECK(Serial2.read() == -1, "empty");
}

} // namespace

int main()
{
    std::string slave;
    int m = open_master(slave);
    if (m < 0) {
        perror("posix_openpt");
        return 2;
    }
    ahk::Options o;
    o.state_dir = fresh_state_dir("uart");
    ahk::SerialSpec s;
    s.name = "Serial2";
    s.path = slave;
    s.baud = 9600;
    o.serials.push_back(s);
    ahk::init_for_test(o);
    Serial2.begin(9600, SERIAL_8N1, 16, 17);
    CHECK(Serial2.baudRate() == 9600, "baudRate");
    wait_ms(20);
    pacing(m);
    receive(m);
    Serial1.begin(115200); /* no --serial Serial1: output goes nowhere, at the wire's pace */
    CHECK(Serial1.write((const uint8_t *)"hello", 5) == 5 && Serial1.available() == 0, "unconnected Serial1");
    Serial2.end();
    CHECK(Serial2.write((uint8_t)1) == 0, "write after end() does nothing");
    return finish_tests("test_core_uart");
}
