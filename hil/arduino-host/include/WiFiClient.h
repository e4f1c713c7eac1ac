/* WiFiClient.h: a TCP client on a POSIX socket (Arduino-ESP32 API: WiFiClient). Copies share
 * one connection, as on the board; reads never block (read() returns -1 when nothing is
 * buffered), writes wait for the socket at most about 10 s. Only loopback peers are reachable
 * from the host board: any other address fails to connect with a log line, and so does any
 * connect while the WiFi station is not connected (as on the board). */
#ifndef AHK_WIFICLIENT_H
#define AHK_WIFICLIENT_H

#include <stdint.h>
#include <stddef.h>
#include <memory>
#include "Arduino.h"
#include "Client.h"
#include "IPAddress.h"

namespace ahk_net { struct Socket; }

class WiFiClient : public Client {
public:
    WiFiClient();
    explicit WiFiClient(int fd);   /* adopts a connected socket (as accepted by WiFiServer) */
    ~WiFiClient();

    int connect(IPAddress ip, uint16_t port);
    int connect(IPAddress ip, uint16_t port, int32_t timeout_ms);
    int connect(const char *host, uint16_t port);
    int connect(const char *host, uint16_t port, int32_t timeout_ms);

    using Print::write;
    size_t write(uint8_t b);
    size_t write(const uint8_t *buf, size_t size);
    size_t write_P(const char *buf, size_t size) { return write((const uint8_t *)buf, size); }
    size_t write(Stream &stream);  /* copies everything stream has available */

    int available();
    int read();
    int read(uint8_t *buf, size_t size);
    int peek();
    void flush();                  /* as on ESP32: discards unread input */
    void stop();
    uint8_t connected();
    operator bool() { return connected() != 0; }
    bool operator==(const WiFiClient &o) const { return sock_ == o.sock_; }
    bool operator!=(const WiFiClient &o) const { return !(*this == o); }

    int fd() const;
    int setNoDelay(bool nodelay);
    bool getNoDelay();
    IPAddress remoteIP() const;
    uint16_t remotePort() const;
    IPAddress localIP() const;
    uint16_t localPort() const;

private:
    std::shared_ptr<ahk_net::Socket> sock_;
};

#endif
