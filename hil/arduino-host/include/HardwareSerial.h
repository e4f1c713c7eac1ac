/* HardwareSerial.h: the ESP32 core's UARTs (Arduino-ESP32 API, "Serial"/HardwareSerial).
 * Serial (UART0) is the board's console: what the sketch prints becomes timestamped lines of
 * the board log, paced at the console's baud rate; what arrives on stdin can be read.
 * Serial1 (and Serial2 on an ESP32) are meter lines: connected by --serial NAME=PATH to a
 * PTY or UART, paced like a wire at the begin() baud rate. An ESP32-C3 has no Serial2. */
#ifndef AHK_HARDWARESERIAL_H
#define AHK_HARDWARESERIAL_H

#include <stdint.h>

#include "Stream.h"

#define SERIAL_5N1 0x8000010
#define SERIAL_6N1 0x8000014
#define SERIAL_7N1 0x8000018
#define SERIAL_8N1 0x800001c
#define SERIAL_5N2 0x8000030
#define SERIAL_6N2 0x8000034
#define SERIAL_7N2 0x8000038
#define SERIAL_8N2 0x800003c
#define SERIAL_5E1 0x8000012
#define SERIAL_6E1 0x8000016
#define SERIAL_7E1 0x800001a
#define SERIAL_8E1 0x800001e
#define SERIAL_5E2 0x8000032
#define SERIAL_6E2 0x8000036
#define SERIAL_7E2 0x800003a
#define SERIAL_8E2 0x800003e
#define SERIAL_5O1 0x8000013
#define SERIAL_6O1 0x8000017
#define SERIAL_7O1 0x800001b
#define SERIAL_8O1 0x800001f
#define SERIAL_5O2 0x8000033
#define SERIAL_6O2 0x8000037
#define SERIAL_7O2 0x800003b
#define SERIAL_8O2 0x800003f

#if defined(CONFIG_IDF_TARGET_ESP32C3)
#define SOC_UART_NUM 2
#else
#define SOC_UART_NUM 3
#endif

namespace ahk {
class Uart;
}

class HardwareSerial : public Stream {
public:
    explicit HardwareSerial(int uart_nr);
    ~HardwareSerial();

    void begin(unsigned long baud, uint32_t config = SERIAL_8N1, int8_t rxPin = -1, int8_t txPin = -1,
               bool invert = false, unsigned long timeout_ms = 20000UL, uint8_t rxfifo_full_thrhd = 112);
    void end(bool fullyTerminate = true);
    void updateBaudRate(unsigned long baud);
    uint32_t baudRate();
    operator bool() const;

    int available(void) override;
    int availableForWrite(void) override;
    int peek(void) override;
    int read(void) override;
    size_t read(uint8_t *buffer, size_t size);
    size_t read(char *buffer, size_t size) { return read((uint8_t *)buffer, size); }
    void flush(void) override;
    void flush(bool txOnly);

    size_t write(uint8_t) override;
    size_t write(const uint8_t *buffer, size_t size) override;
    size_t write(const char *buffer, size_t size) { return write((const uint8_t *)buffer, size); }
    size_t write(const char *s) { return s ? write((const uint8_t *)s, strlen(s)) : 0; }
    size_t write(unsigned long n) { return write((uint8_t)n); }
    size_t write(long n) { return write((uint8_t)n); }
    size_t write(unsigned int n) { return write((uint8_t)n); }
    size_t write(int n) { return write((uint8_t)n); }

    size_t setRxBufferSize(size_t new_size);
    size_t setTxBufferSize(size_t new_size);
    bool setPins(int8_t rxPin, int8_t txPin, int8_t ctsPin = -1, int8_t rtsPin = -1);
    void setDebugOutput(bool) {}

private:
    void console_write(const uint8_t *p, size_t n);
    int console_fill();
    int uart_nr_;
    bool begun_ = false;
    unsigned long baud_ = 0;
    ahk::Uart *uart_ = nullptr;
    /* console (UART0): the unfinished line and the wire pacing */
    char line_[1024];
    size_t line_len_ = 0;
    uint64_t busy_until_us_ = 0;
    int in_char_ = -1;
};

extern HardwareSerial Serial;
extern HardwareSerial Serial1;
#if SOC_UART_NUM > 2
extern HardwareSerial Serial2;
#endif

#endif
