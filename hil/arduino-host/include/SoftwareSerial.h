/* SoftwareSerial.h: the EspSoftwareSerial library's API (EspSoftwareSerial::UART, also
 * named SoftwareSerial), as an ESP32-C3 module uses it for its meter line: begin(baud,
 * SWSERIAL_8N1, rxPin, txPin). The first instance begun is the line --serial
 * SoftwareSerial=PATH names; its bytes are paced like a wire at the begin() rate. */
#ifndef AHK_SOFTWARESERIAL_H
#define AHK_SOFTWARESERIAL_H

#include <stdint.h>

#include "Stream.h"

namespace ahk {
class Uart;
}

namespace EspSoftwareSerial {

enum Parity : uint8_t { PARITY_NONE = 0, PARITY_EVEN, PARITY_ODD, PARITY_MARK, PARITY_SPACE };

/* value = data bits - 5 | parity << 3 | (stop bits - 1) << 6 */
#define AHK_SWCFG(bits, par, stop) (((bits)-5) | ((par) << 3) | (((stop)-1) << 6))
enum Config : uint8_t {
    SWSERIAL_5N1 = AHK_SWCFG(5, 0, 1), SWSERIAL_6N1 = AHK_SWCFG(6, 0, 1), SWSERIAL_7N1 = AHK_SWCFG(7, 0, 1),
    SWSERIAL_8N1 = AHK_SWCFG(8, 0, 1), SWSERIAL_5E1 = AHK_SWCFG(5, 1, 1), SWSERIAL_6E1 = AHK_SWCFG(6, 1, 1),
    SWSERIAL_7E1 = AHK_SWCFG(7, 1, 1), SWSERIAL_8E1 = AHK_SWCFG(8, 1, 1), SWSERIAL_5O1 = AHK_SWCFG(5, 2, 1),
    SWSERIAL_6O1 = AHK_SWCFG(6, 2, 1), SWSERIAL_7O1 = AHK_SWCFG(7, 2, 1), SWSERIAL_8O1 = AHK_SWCFG(8, 2, 1),
    SWSERIAL_5M1 = AHK_SWCFG(5, 3, 1), SWSERIAL_6M1 = AHK_SWCFG(6, 3, 1), SWSERIAL_7M1 = AHK_SWCFG(7, 3, 1),
    SWSERIAL_8M1 = AHK_SWCFG(8, 3, 1), SWSERIAL_5S1 = AHK_SWCFG(5, 4, 1), SWSERIAL_6S1 = AHK_SWCFG(6, 4, 1),
    SWSERIAL_7S1 = AHK_SWCFG(7, 4, 1), SWSERIAL_8S1 = AHK_SWCFG(8, 4, 1), SWSERIAL_5N2 = AHK_SWCFG(5, 0, 2),
    SWSERIAL_6N2 = AHK_SWCFG(6, 0, 2), SWSERIAL_7N2 = AHK_SWCFG(7, 0, 2), SWSERIAL_8N2 = AHK_SWCFG(8, 0, 2),
    SWSERIAL_5E2 = AHK_SWCFG(5, 1, 2), SWSERIAL_6E2 = AHK_SWCFG(6, 1, 2), SWSERIAL_7E2 = AHK_SWCFG(7, 1, 2),
    SWSERIAL_8E2 = AHK_SWCFG(8, 1, 2), SWSERIAL_5O2 = AHK_SWCFG(5, 2, 2), SWSERIAL_6O2 = AHK_SWCFG(6, 2, 2),
    SWSERIAL_7O2 = AHK_SWCFG(7, 2, 2), SWSERIAL_8O2 = AHK_SWCFG(8, 2, 2), SWSERIAL_5M2 = AHK_SWCFG(5, 3, 2),
    SWSERIAL_6M2 = AHK_SWCFG(6, 3, 2), SWSERIAL_7M2 = AHK_SWCFG(7, 3, 2), SWSERIAL_8M2 = AHK_SWCFG(8, 3, 2),
    SWSERIAL_5S2 = AHK_SWCFG(5, 4, 2), SWSERIAL_6S2 = AHK_SWCFG(6, 4, 2), SWSERIAL_7S2 = AHK_SWCFG(7, 4, 2),
    SWSERIAL_8S2 = AHK_SWCFG(8, 4, 2),
};
#undef AHK_SWCFG

class UART : public Stream {
public:
    UART();
    UART(int8_t rxPin, int8_t txPin = -1, bool invert = false);
    ~UART();
    UART(const UART &) = delete;
    UART &operator=(const UART &) = delete;

    void begin(uint32_t baud, Config config = SWSERIAL_8N1, int8_t rxPin = -1, int8_t txPin = -1, bool invert = false,
               int bufCapacity = 64, int isrBufCapacity = 0);
    void end();
    uint32_t baudRate();
    bool listen();
    bool isListening();
    bool stopListening();
    bool overflow();
    void enableRx(bool on) { rx_enabled_ = on; }
    void enableTx(bool) {}
    explicit operator bool() const;

    int available() override;
    int availableForWrite() override;
    int peek() override;
    int read() override;
    size_t read(uint8_t *buffer, size_t size);
    size_t read(char *buffer, size_t size) { return read((uint8_t *)buffer, size); }
    void flush() override;
    size_t write(uint8_t byte) override;
    size_t write(const uint8_t *buffer, size_t size) override;
    size_t write(const char *buffer, size_t size) { return write((const uint8_t *)buffer, size); }
    size_t write(const char *s) { return s ? write((const uint8_t *)s, strlen(s)) : 0; }
    size_t write(unsigned long n) { return write((uint8_t)n); }
    size_t write(long n) { return write((uint8_t)n); }
    size_t write(unsigned int n) { return write((uint8_t)n); }
    size_t write(int n) { return write((uint8_t)n); }

private:
    int8_t rx_pin_ = -1, tx_pin_ = -1;
    bool invert_ = false;
    bool rx_enabled_ = true;
    uint64_t overflow_seen_ = 0;
    ahk::Uart *uart_ = nullptr;
};

} // namespace EspSoftwareSerial

using SoftwareSerial = EspSoftwareSerial::UART;
/* the library's configuration names are used unqualified: SWSERIAL_8N1 */
using EspSoftwareSerial::SWSERIAL_5N1;
using EspSoftwareSerial::SWSERIAL_6N1;
using EspSoftwareSerial::SWSERIAL_7N1;
using EspSoftwareSerial::SWSERIAL_8N1;
using EspSoftwareSerial::SWSERIAL_5E1;
using EspSoftwareSerial::SWSERIAL_6E1;
using EspSoftwareSerial::SWSERIAL_7E1;
using EspSoftwareSerial::SWSERIAL_8E1;
using EspSoftwareSerial::SWSERIAL_5O1;
using EspSoftwareSerial::SWSERIAL_6O1;
using EspSoftwareSerial::SWSERIAL_7O1;
using EspSoftwareSerial::SWSERIAL_8O1;
using EspSoftwareSerial::SWSERIAL_5M1;
using EspSoftwareSerial::SWSERIAL_6M1;
using EspSoftwareSerial::SWSERIAL_7M1;
using EspSoftwareSerial::SWSERIAL_8M1;
using EspSoftwareSerial::SWSERIAL_5S1;
using EspSoftwareSerial::SWSERIAL_6S1;
using EspSoftwareSerial::SWSERIAL_7S1;
using EspSoftwareSerial::SWSERIAL_8S1;
using EspSoftwareSerial::SWSERIAL_5N2;
using EspSoftwareSerial::SWSERIAL_6N2;
using EspSoftwareSerial::SWSERIAL_7N2;
using EspSoftwareSerial::SWSERIAL_8N2;
using EspSoftwareSerial::SWSERIAL_5E2;
using EspSoftwareSerial::SWSERIAL_6E2;
using EspSoftwareSerial::SWSERIAL_7E2;
using EspSoftwareSerial::SWSERIAL_8E2;
using EspSoftwareSerial::SWSERIAL_5O2;
using EspSoftwareSerial::SWSERIAL_6O2;
using EspSoftwareSerial::SWSERIAL_7O2;
using EspSoftwareSerial::SWSERIAL_8O2;
using EspSoftwareSerial::SWSERIAL_5M2;
using EspSoftwareSerial::SWSERIAL_6M2;
using EspSoftwareSerial::SWSERIAL_7M2;
using EspSoftwareSerial::SWSERIAL_8M2;
using EspSoftwareSerial::SWSERIAL_5S2;
using EspSoftwareSerial::SWSERIAL_6S2;
using EspSoftwareSerial::SWSERIAL_7S2;
using EspSoftwareSerial::SWSERIAL_8S2;

#endif
