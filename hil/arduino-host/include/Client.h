/* Client.h: the Arduino network client interface (Arduino API: Client), a Stream with
 * connect/connected/stop, implemented by WiFiClient; PubSubClient's constructor takes one. */
#ifndef AHK_CLIENT_H
#define AHK_CLIENT_H

#include <stdint.h>
#include <stddef.h>
#include "Stream.h"
#include "IPAddress.h"

class Client : public Stream {
public:
    virtual int connect(IPAddress ip, uint16_t port) = 0;
    virtual int connect(const char *host, uint16_t port) = 0;
    virtual size_t write(uint8_t b) = 0;
    virtual size_t write(const uint8_t *buf, size_t size) = 0;
    virtual int available() = 0;
    virtual int read() = 0;
    virtual int read(uint8_t *buf, size_t size) = 0;
    virtual int peek() = 0;
    virtual void flush() = 0;
    virtual void stop() = 0;
    virtual uint8_t connected() = 0;
    virtual operator bool() = 0;
};

#endif
