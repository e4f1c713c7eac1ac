/* WiFiServer.h: a listening TCP socket (Arduino-ESP32 API: WiFiServer). The board's port 80 is
 * served on the rig's --http-port (127.0.0.1); any other port P >= 1024 is served on P itself;
 * ports below 1024 other than 80 are not reachable from the host (logged at begin()). */
#ifndef AHK_WIFISERVER_H
#define AHK_WIFISERVER_H

#include <stdint.h>
#include "Server.h"
#include "WiFiClient.h"
#include "IPAddress.h"

class WiFiServer : public Server {
public:
    WiFiServer(uint16_t port = 80, uint8_t max_clients = 4);
    WiFiServer(const IPAddress &addr, uint16_t port = 80, uint8_t max_clients = 4);
    ~WiFiServer();
    WiFiServer(const WiFiServer &) = delete;
    WiFiServer &operator=(const WiFiServer &) = delete;

    void begin();
    void begin(uint16_t port);
    void begin(uint16_t port, int reuse_enable);
    bool hasClient();
    WiFiClient available();        /* a pending connection, or an unconnected client */
    WiFiClient accept() { return available(); }
    void setNoDelay(bool nodelay) { nodelay_ = nodelay; }
    bool getNoDelay() { return nodelay_; }
    void end();
    void close() { end(); }
    void stop() { end(); }
    operator bool() { return fd_ >= 0; }

    using Print::write;
    size_t write(uint8_t) { return 0; }              /* no broadcast, as on ESP32 */
    size_t write(const uint8_t *, size_t) { return 0; }

    int fd() const { return fd_; }                   /* listening socket, -1 if not listening */
    uint16_t boardPort() const { return port_; }

private:
    int fd_ = -1;
    uint16_t port_;
    uint8_t max_clients_;
    bool nodelay_ = false;
};

#endif
